//! The faultline binary: parses arguments and hands over to `faultline_cli`.

fn main() -> std::process::ExitCode {
    faultline_cli::main()
}

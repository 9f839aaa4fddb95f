//! The faultline binary: parses arguments and hands over to `faultline_cli`.

/// jemalloc, configured in `.cargo/config.toml` to give freed memory back within a second: the
/// server's resident memory then follows its memory budget (glibc's per-thread arenas kept each
/// thread's high-water mark, some 2-3 times the budget under load).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    faultline_cli::main()
}

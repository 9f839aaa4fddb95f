//! `faultline.toml`: any text parses and checks, or is refused with an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = faultline_cli::config::ConfigFile::parse(std::path::Path::new("fuzz.toml"), text.to_string());
});

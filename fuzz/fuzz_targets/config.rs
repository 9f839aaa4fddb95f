//! The config file of `faultline serve`: any text is read or refused with an error naming the
//! line, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = faultline_cli::config::ConfigFile::parse(std::path::Path::new("fuzz.toml"), text.to_string()) {
            let _ = format!("{e:#}");
        }
    }
});

//! Scenario files of `faultline sim`: any text parses or gets an error naming what is wrong, never
//! a panic; a scenario that parses runs a short while without one.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(sc) = faultline_sim::parse("fuzz.toml", text) {
            let opts = faultline_sim::RunOptions { seed: Some(1), duration_ns: Some(2_000_000_000), rps: Some(5.0) };
            faultline_sim::run(&sc, &opts, &mut |_| {});
        }
    }
});

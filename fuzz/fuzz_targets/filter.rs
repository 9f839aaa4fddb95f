//! The filter language: any text parses or gets an error pointing into it, never a panic.
#![no_main]
use faultline_model::schema::Table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for t in Table::ALL {
            if let Err(e) = faultline_query::parse(t, text) {
                let _ = e.to_string();
            }
        }
    }
});

//! `faultline import`'s format detection and every file decoder (JSON, Zipkin, Jaeger, logfmt,
//! plain text, protobuf, gzip): any bytes are read or refused, never a panic.
#![no_main]
use faultline_ingest::{read, Items, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ReadOptions { batch: 16, ..ReadOptions::default() };
    let _ = read(data, &opts, &mut |_: Items| -> Result<(), String> { Ok(()) });
});

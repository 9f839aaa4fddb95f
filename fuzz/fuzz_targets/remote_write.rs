//! Prometheus remote-write bodies (snappy block format, protobuf `WriteRequest`): decompression,
//! decoding and conversion to metric points never panic.
#![no_main]
use faultline_ingest::prometheus::{decode, points};
use libfuzzer_sys::fuzz_target;

/// A small limit, so that the size check is reached by small inputs.
const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode(data, LIMIT) {
        // Every point's time is a whole number of milliseconds, as remote write sends them.
        assert!(points(&req).items.iter().all(|p| p.time_unix_nano % 1_000_000 == 0));
    }
});

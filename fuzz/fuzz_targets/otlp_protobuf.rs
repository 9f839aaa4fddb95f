//! OTLP protobuf requests of every signal: decoding and conversion never panic.
#![no_main]
use faultline_otlp::{decode_protobuf, Limits, Request, Signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    for s in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        match decode_protobuf(s, data) {
            Ok(Request::Traces(r)) => drop(faultline_otlp::spans_from_request(&r, &limits)),
            Ok(Request::Logs(r)) => drop(faultline_otlp::logs_from_request(&r, &limits)),
            Ok(Request::Metrics(r)) => drop(faultline_otlp::metrics_from_request(&r, &limits)),
            Err(_) => {}
        }
    }
});

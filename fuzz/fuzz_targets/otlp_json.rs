//! OTLP/JSON requests of every signal: decoding, conversion and re-encoding never panic.
#![no_main]
use faultline_otlp::{json, Limits, Request, Signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    for s in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        if let Ok(req) = json::decode(s, data) {
            let _ = json::encode(&req);
            match req {
                Request::Traces(r) => drop(faultline_otlp::spans_from_request(&r, &limits)),
                Request::Logs(r) => drop(faultline_otlp::logs_from_request(&r, &limits)),
                Request::Metrics(r) => drop(faultline_otlp::metrics_from_request(&r, &limits)),
            }
        }
    }
});

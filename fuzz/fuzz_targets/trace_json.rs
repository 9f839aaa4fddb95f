//! Jaeger JSON and Zipkin v2 JSON, the two trace formats `faultline import` reads besides OTLP: any
//! JSON value converts or is refused span by span, never a panic; Jaeger's text reader and tree
//! reader agree.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if faultline_ingest::jaeger::looks_like_jaeger(&v) {
        let (spans, errors) = faultline_ingest::jaeger::spans_from_json(&v);
        if let Some(first) = spans.first() {
            let _ = faultline_ingest::jaeger::trace_to_json(first.trace_id, &spans);
        }
        // The typed text reader (the import's fast path) reads what the tree reader reads.
        let text = std::str::from_utf8(data).expect("parsed JSON is UTF-8");
        if let Ok((typed, typed_errors)) = faultline_ingest::jaeger::spans_from_str(text) {
            assert_eq!(typed.len(), spans.len());
            assert_eq!(typed_errors.len(), errors.len());
        }
    }
    let items: Vec<&serde_json::Value> = match &v {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for item in items {
        let _ = faultline_ingest::zipkin::looks_like_zipkin(item);
        let _ = faultline_ingest::zipkin::span_from_json(item);
    }
});

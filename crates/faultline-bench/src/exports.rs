//! Spans through the formats other tracers export, and back through faultline's importers: what a
//! team that imports Jaeger or Zipkin JSON gives the investigation.

use faultline_ingest::jaeger::JaegerTrace;
use faultline_model::{Span, SpanKind, StatusCode, TraceId};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Spans written as Jaeger JSON traces (as Jaeger's query API gives them), as text, and read back
/// as `faultline import` reads a Jaeger export.
pub fn through_jaeger(spans: &[Span]) -> Vec<Span> {
    let text = jaeger_text(spans);
    let (out, errors) = faultline_ingest::jaeger::spans_from_str(&text).expect("the text just written reads");
    assert!(errors.is_empty(), "Jaeger import: {errors:?}");
    out
}

/// Spans as one Jaeger JSON export (`{"data": [trace...]}`) on one line.
pub fn jaeger_text(spans: &[Span]) -> String {
    let mut by_trace: BTreeMap<TraceId, Vec<&Span>> = BTreeMap::new();
    for s in spans {
        by_trace.entry(s.trace_id).or_default().push(s);
    }
    let data: Vec<JaegerTrace<'_>> =
        by_trace.iter().map(|(id, spans)| JaegerTrace::new(*id, spans.iter().copied())).collect();
    let mut text = br#"{"data":"#.to_vec();
    serde_json::to_writer(&mut text, &data).expect("traces serialise");
    text.push(b'}');
    String::from_utf8(text).expect("JSON is UTF-8")
}

/// Spans written as Zipkin v2 JSON and read back.
pub fn through_zipkin(spans: &[Span]) -> Vec<Span> {
    spans
        .iter()
        .map(|s| faultline_ingest::zipkin::span_from_json(&zipkin_json(s)).expect("a Zipkin span"))
        .collect()
}

/// One span as Zipkin v2 JSON, as a Zipkin-instrumented service reports it: microseconds, the
/// local endpoint's name and address, string tags, an `error` tag instead of a status, no scope.
pub fn zipkin_json(s: &Span) -> Value {
    let mut tags = Map::new();
    for (k, v) in &s.attributes {
        let text = match v {
            Value::String(x) => x.clone(),
            other => other.to_string(),
        };
        tags.insert(k.clone(), Value::String(text));
    }
    if s.status_code == StatusCode::Error {
        let msg = if s.status_message.is_empty() { "true".to_string() } else { s.status_message.clone() };
        tags.insert("error".into(), Value::String(msg));
    }
    let res = &s.resource.attributes;
    let mut local = json!({ "serviceName": s.resource.service_name });
    if let Some(ip) = res.get("host.ip").and_then(Value::as_str) {
        local["ipv4"] = ip.into();
    }
    let mut v = json!({
        "traceId": s.trace_id.to_hex(),
        "id": s.span_id.to_hex(),
        "name": s.name,
        "timestamp": s.start_unix_nano / 1000,
        "duration": ((s.end_unix_nano - s.start_unix_nano) / 1000).max(1),
        "localEndpoint": local,
        "tags": tags,
    });
    if let Some(p) = s.parent_span_id {
        v["parentId"] = p.to_hex().into();
    }
    let kind = match s.kind {
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        _ => None,
    };
    if let Some(k) = kind {
        v["kind"] = k.into();
    }
    if let Some(peer) = s.attributes.get("peer.service").and_then(Value::as_str) {
        v["remoteEndpoint"] = json!({ "serviceName": peer });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_client_span_keeps_its_service_kind_error_and_timing_through_both_formats() {
        let mut a = Map::new();
        a.insert("service.name".into(), "orders".into());
        a.insert("host.ip".into(), "10.1.0.7".into());
        let resource = std::sync::Arc::new(faultline_model::ResourceInfo::from_attributes(a));
        let span = Span {
            trace_id: TraceId::from_bytes(&[7; 16]).unwrap(),
            span_id: faultline_model::SpanId::from_bytes(&[3; 8]).unwrap(),
            parent_span_id: Some(faultline_model::SpanId::from_bytes(&[2; 8]).unwrap()),
            trace_state: String::new(),
            flags: 0,
            name: "GET /stock".into(),
            kind: SpanKind::Client,
            start_unix_nano: 1_800_000_000_000_000_000,
            end_unix_nano: 1_800_000_000_250_000_000,
            status_code: StatusCode::Error,
            status_message: "timeout".into(),
            attributes: Default::default(),
            events: vec![],
            links: vec![],
            resource,
        };
        for back in [through_jaeger(std::slice::from_ref(&span)), through_zipkin(std::slice::from_ref(&span))]
        {
            let b = &back[0];
            assert_eq!(b.resource.service_name, "orders");
            assert_eq!(b.kind, SpanKind::Client);
            assert_eq!(b.status_code, StatusCode::Error);
            assert_eq!(b.end_unix_nano - b.start_unix_nano, 250_000_000);
            assert_eq!(b.parent_span_id, span.parent_span_id);
        }
    }
}

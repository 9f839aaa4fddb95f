//! Jaeger's JSON trace format, both ways: reading what the Jaeger UI exports (`{"data": [trace...]}`)
//! and writing what the Jaeger query API returns (which the Jaeger UI and Grafana's Jaeger data
//! source read).
//!
//! A Jaeger trace is `{traceID, spans: [...], processes: {"p1": {serviceName, tags}}}`; a span has
//! `traceID, spanID, operationName, references: [{refType: CHILD_OF|FOLLOWS_FROM, traceID, spanID}],
//! startTime` and `duration` in microseconds, `tags: [{key, type, value}]`, `logs: [{timestamp,
//! fields}]`, `processID`. Span kind and status travel as the tags `span.kind`, `error`,
//! `otel.status_code` and `otel.status_description`, as Jaeger's own OTLP translation does; the
//! scope as `otel.scope.name` and `otel.scope.version`, the W3C trace state as `w3c.tracestate`, and
//! links as references whose type is their `opentracing.ref_type` attribute.

mod read;
mod write;

pub use read::spans_from_json;
pub use write::{trace_to_json, JaegerTrace};

use serde_json::Value;

/// The link attribute that carries an OpenTracing reference type.
const REF_TYPE_KEY: &str = "opentracing.ref_type";
/// The tags that carry what OTLP has fields for, as Jaeger's own OTLP translation names them.
const KIND_TAG: &str = "span.kind";
const STATUS_TAG: &str = "otel.status_code";
const STATUS_MESSAGE_TAG: &str = "otel.status_description";
const SCOPE_NAME_TAG: &str = "otel.scope.name";
const SCOPE_VERSION_TAG: &str = "otel.scope.version";
const TRACE_STATE_TAG: &str = "w3c.tracestate";

/// Whether a JSON value looks like Jaeger traces.
pub fn looks_like_jaeger(v: &Value) -> bool {
    let first = match v {
        Value::Object(o) if o.contains_key("data") => {
            o.get("data").and_then(|d| d.as_array()).and_then(|a| a.first())
        }
        Value::Array(a) => a.first(),
        o @ Value::Object(_) => Some(o),
        _ => None,
    };
    first.and_then(Value::as_object).is_some_and(|o| o.contains_key("traceID") && o.contains_key("spans"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::{Attributes, ResourceInfo, Span, SpanId, SpanKind, SpanLink, StatusCode, TraceId};
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn round_trips_through_jaeger_json() {
        let v = json!({"data": [{"traceID": "5b8efff798038103d269b633813fc60c", "spans": [
            {"traceID": "5b8efff798038103d269b633813fc60c", "spanID": "eee19b7ec3c1b174", "operationName": "GET /",
             "references": [], "startTime": 1700000000000000i64, "duration": 2000,
             "tags": [{"key": "span.kind", "type": "string", "value": "server"}, {"key": "http.status_code", "type": "int64", "value": 500},
                      {"key": "error", "type": "bool", "value": true}],
             "logs": [{"timestamp": 1700000000000100i64, "fields": [{"key": "event", "type": "string", "value": "exception"}]}],
             "processID": "p1"},
            {"traceID": "5b8efff798038103d269b633813fc60c", "spanID": "eee19b7ec3c1b175", "operationName": "SELECT",
             "references": [{"refType": "CHILD_OF", "traceID": "5b8efff798038103d269b633813fc60c", "spanID": "eee19b7ec3c1b174"}],
             "startTime": 1700000000000500i64, "duration": 1000, "tags": [], "processID": "p2"}],
            "processes": {"p1": {"serviceName": "web", "tags": [{"key": "hostname", "type": "string", "value": "h1"}]},
                          "p2": {"serviceName": "db", "tags": []}}}]});
        assert!(looks_like_jaeger(&v));
        let (spans, errors) = spans_from_json(&v);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].kind, SpanKind::Server);
        assert_eq!(spans[0].status_code, StatusCode::Error);
        assert_eq!(spans[0].attributes["http.status_code"], 500);
        assert_eq!(spans[1].parent_span_id, Some(spans[0].span_id));
        assert_eq!(spans[1].resource.service_name, "db");
        let back = trace_to_json(spans[0].trace_id, &spans);
        let (again, _) = spans_from_json(&back);
        assert_eq!(again, spans);
    }

    #[test]
    fn links_trace_state_and_scope_version_survive_the_jaeger_shape() {
        let mut a = Attributes::new();
        a.insert("service.name".into(), "web".into());
        let mut r = ResourceInfo::from_attributes(a);
        r.scope_name = "io.opentelemetry.okhttp".into();
        r.scope_version = "1.42.0".into();
        let id = |h: &str| SpanId::from_hex(h).unwrap();
        let tid = TraceId::from_hex_lenient("5b8efff798038103d269b633813fc60c").unwrap();
        let other = TraceId::from_hex_lenient("00000000000000000000000000000abc").unwrap();
        let link = |t, s: &str, kv: &[(&str, &str)]| SpanLink {
            trace_id: t,
            span_id: id(s),
            trace_state: String::new(),
            attributes: kv.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect(),
        };
        let span = Span {
            trace_id: tid,
            span_id: id("00000000000000a1"),
            parent_span_id: None,
            trace_state: "vendor=abc".into(),
            flags: 1,
            name: "consume".into(),
            kind: SpanKind::Consumer,
            start_unix_nano: 1_700_000_000_000_000_000,
            end_unix_nano: 1_700_000_000_002_000_000,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            attributes: Attributes::new(),
            events: vec![],
            links: vec![
                link(
                    other,
                    "00000000000000b1",
                    &[("opentracing.ref_type", "child_of"), ("batch.index", "3")],
                ),
                link(other, "00000000000000b2", &[("opentracing.ref_type", "follows_from")]),
            ],
            resource: Arc::new(r),
        };
        let json = trace_to_json(tid, std::slice::from_ref(&span));
        let s = &json["spans"][0];
        let tags: BTreeMap<&str, &Value> =
            s["tags"].as_array().unwrap().iter().map(|t| (t["key"].as_str().unwrap(), &t["value"])).collect();
        assert_eq!(tags["otel.scope.version"], "1.42.0");
        assert_eq!(tags["w3c.tracestate"], "vendor=abc");
        let refs = s["references"].as_array().unwrap();
        assert_eq!(refs[0]["refType"], "CHILD_OF");
        assert_eq!(refs[0]["tags"], json!([{"key": "batch.index", "type": "string", "value": "3"}]));
        assert_eq!(refs[1]["refType"], "FOLLOWS_FROM");
        let (back, errors) = spans_from_json(&json!({"data": [json]}));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(back[0].trace_state, "vendor=abc");
        assert_eq!(back[0].links, span.links);
        assert_eq!(back[0].parent_span_id, None);
        // The scope comes back as the resource's, not as span attributes.
        assert_eq!(back[0].resource.scope_name, "io.opentelemetry.okhttp");
        assert_eq!(back[0].resource.scope_version, "1.42.0");
        assert!(back[0].attributes.is_empty(), "{:?}", back[0].attributes);
    }

    #[test]
    fn equal_processes_of_many_traces_share_one_resource() {
        let trace = |t: &str| {
            json!({"traceID": t, "processes": {"p1": {"serviceName": "web", "tags": []}},
                   "spans": [{"traceID": t, "spanID": "00000000000000a1", "startTime": 1, "processID": "p1"}]})
        };
        let (spans, errors) = spans_from_json(&json!({"data": [trace("01"), trace("02")]}));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
    }
}

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
mod shape;
mod write;

pub use read::{spans_from_json, spans_from_str, spans_of};
pub use shape::Export;
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

/// How far into a document [`text_looks_like_jaeger`] looks: a trace's first span is near its start.
const SNIFF_BYTES: usize = 4096;

/// Whether JSON text looks like Jaeger traces, before it is parsed: Jaeger alone spells
/// `"traceID"` (OTLP and Zipkin write `traceId`). A wrong guess costs only the fast path: the
/// document is then read as any other.
pub fn text_looks_like_jaeger(text: &str) -> bool {
    let head = &text.as_bytes()[..text.len().min(SNIFF_BYTES)];
    head.windows(9).any(|w| w == b"\"traceID\"")
}

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

    /// A document with what real exports hold besides the plain case: escapes, nulls, numbers
    /// as text, a process in the span, a FOLLOWS_FROM reference, a span without its trace id.
    const MESSY: &str = r#"{"data": [{"traceID": "00000000000000000000000000000abc", "warnings": null,
        "processes": {"p1": {"serviceName": "web\/api", "tags": [{"key": "host.name", "type": "string", "value": "h\u00e9"}]}},
        "spans": [
          {"traceID": "0000000000000abc", "spanID": "00000000000000a1", "operationName": "GET \"/\"", "startTime": "1700000000000000",
           "duration": 12.0, "references": null, "tags": [{"key": "span.kind", "value": "server"},
           {"key": "http.status_code", "type": "int64", "value": "503"}, {"key": "error", "type": "bool", "value": true}],
           "logs": [{"timestamp": 1700000000000005, "fields": [{"key": "event", "value": "exception"}]}], "processID": "p1"},
          {"traceID": "0000000000000abc", "spanID": "00000000000000a2", "operationName": 7, "startTime": 1700000000000001,
           "references": [{"refType": "FOLLOWS_FROM", "traceID": "0000000000000abc", "spanID": "00000000000000a1"}],
           "process": {"serviceName": "db", "tags": null}, "flags": 1},
          {"spanID": "00000000000000a3", "startTime": 1}
        ]}]}"#;

    #[test]
    fn the_text_reader_and_the_document_reader_agree() {
        let (from_text, text_errors) = spans_from_str(MESSY).unwrap();
        let (from_value, value_errors) = spans_from_json(&serde_json::from_str(MESSY).unwrap());
        assert_eq!(format!("{from_text:?}"), format!("{from_value:?}"));
        assert_eq!(text_errors, value_errors);
        assert_eq!(text_errors, vec!["traceID is required".to_string()]);
        let (web, db) = (&from_text[0], &from_text[1]);
        assert_eq!(web.resource.service_name, "web/api");
        assert_eq!(web.name, r#"GET "/""#);
        assert_eq!((web.kind, web.status_code), (SpanKind::Server, StatusCode::Error));
        assert_eq!(web.attributes["http.status_code"], json!(503));
        assert_eq!(web.end_unix_nano - web.start_unix_nano, 12_000);
        assert_eq!(web.events[0].name, "exception");
        assert_eq!(db.resource.service_name, "db");
        assert_eq!(db.name, "7", "a number where text belongs is read as its text");
        assert_eq!(db.parent_span_id, None, "FOLLOWS_FROM is a link");
        assert_eq!(db.links.len(), 1);
    }

    #[test]
    fn json_that_merely_names_a_trace_id_is_not_jaeger() {
        for text in [
            r#"{"traceID": "abc", "level": "info", "msg": "hi"}"#,
            r#"[{"traceID": "abc"}]"#,
            r#"{"data": []}"#,
        ] {
            assert!(spans_from_str(text).is_err(), "{text}");
        }
    }
}

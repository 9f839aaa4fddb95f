//! Writing spans in the Jaeger query API's JSON shape. The shape is built of borrowed, typed parts
//! and serialised straight to text: the server answers with it, and a `Value` tree per span would
//! cost more than the query that found the spans.

use super::{
    KIND_TAG, REF_TYPE_KEY, SCOPE_NAME_TAG, SCOPE_VERSION_TAG, STATUS_MESSAGE_TAG, STATUS_TAG,
    TRACE_STATE_TAG,
};
use faultline_model::{Attributes, ResourceInfo, Span, SpanKind, SpanLink, StatusCode, TraceId};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// One trace as the Jaeger query API returns it (`data[i]` of `/api/traces`).
#[derive(Serialize)]
pub struct JaegerTrace<'a> {
    #[serde(rename = "traceID")]
    trace_id: String,
    spans: Vec<JaegerSpan<'a>>,
    processes: Processes<'a>,
    warnings: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan<'a> {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    flags: u32,
    operation_name: &'a str,
    references: Vec<Reference<'a>>,
    start_time: i64,
    duration: i64,
    tags: Vec<Tag<'a>>,
    logs: Vec<Log<'a>>,
    #[serde(rename = "processID")]
    process_id: String,
    warnings: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reference<'a> {
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    /// The link's attributes: Jaeger's references have none, Jaeger clients ignore the field and
    /// faultline's import reads it back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Tag<'a>>,
}

#[derive(Serialize)]
struct Tag<'a> {
    key: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    value: Cow<'a, Value>,
}

#[derive(Serialize)]
struct Log<'a> {
    timestamp: i64,
    fields: Vec<Tag<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Process<'a> {
    service_name: &'a str,
    tags: Vec<Tag<'a>>,
}

/// A trace's processes, `p1`, `p2`, ... in the order their first span came.
struct Processes<'a>(Vec<Process<'a>>);

impl Serialize for Processes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (i, p) in self.0.iter().enumerate() {
            m.serialize_entry(&process_id(i), p)?;
        }
        m.end()
    }
}

fn process_id(i: usize) -> String {
    format!("p{}", i + 1)
}

/// A tag of an attribute, typed as Jaeger types them; lists and maps as their JSON text.
fn tag<'a>(key: &'a str, v: &'a Value) -> Tag<'a> {
    let (ty, value) = match v {
        Value::Bool(_) => ("bool", Cow::Borrowed(v)),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("int64", Cow::Borrowed(v)),
        Value::Number(_) => ("float64", Cow::Borrowed(v)),
        Value::String(_) => ("string", Cow::Borrowed(v)),
        other => ("string", Cow::Owned(Value::String(other.to_string()))),
    };
    Tag { key, ty, value }
}

fn text_tag<'a>(key: &'a str, text: &str) -> Tag<'a> {
    Tag { key, ty: "string", value: Cow::Owned(Value::String(text.to_string())) }
}

fn tags<'a>(attrs: &'a Attributes, skip: &str) -> Vec<Tag<'a>> {
    attrs.iter().filter(|(k, _)| *k != skip).map(|(k, v)| tag(k, v)).collect()
}

/// A span link as a Jaeger reference: `CHILD_OF` when the link says so in `opentracing.ref_type`
/// (as OpenTracing shims and Jaeger's own translator mark them), else `FOLLOWS_FROM`.
fn link_reference(l: &SpanLink) -> Reference<'_> {
    let child_of = l.attributes.get(REF_TYPE_KEY).and_then(Value::as_str) == Some("child_of");
    Reference {
        ref_type: if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" },
        trace_id: l.trace_id.to_hex(),
        span_id: l.span_id.to_hex(),
        tags: tags(&l.attributes, REF_TYPE_KEY),
    }
}

/// The tags of a span: its attributes, then kind, status, scope and trace state as Jaeger's own
/// OTLP translation writes them.
fn span_tags(s: &Span) -> Vec<Tag<'_>> {
    let mut t = tags(&s.attributes, "");
    if s.kind != SpanKind::Unspecified {
        t.push(Tag { key: KIND_TAG, ty: "string", value: Cow::Owned(s.kind.as_str().into()) });
    }
    match s.status_code {
        StatusCode::Error => {
            t.push(Tag { key: "error", ty: "bool", value: Cow::Owned(Value::Bool(true)) });
            t.push(text_tag(STATUS_TAG, "ERROR"));
        }
        StatusCode::Ok => t.push(text_tag(STATUS_TAG, "OK")),
        StatusCode::Unset => {}
    }
    for (key, text) in [
        (STATUS_MESSAGE_TAG, &s.status_message),
        (SCOPE_NAME_TAG, &s.resource.scope_name),
        (SCOPE_VERSION_TAG, &s.resource.scope_version),
        (TRACE_STATE_TAG, &s.trace_state),
    ] {
        if !text.is_empty() {
            t.push(text_tag(key, text));
        }
    }
    t
}

/// The index of a span's process among a trace's: the same resource (by pointer, the common case,
/// else by its attributes) is one process. The scope is not part of it: it travels as span tags.
fn process_of<'a>(seen: &mut Vec<&'a ResourceInfo>, r: &'a ResourceInfo) -> usize {
    if let Some(i) = seen.iter().position(|p| std::ptr::eq(*p, r) || p.attributes == r.attributes) {
        return i;
    }
    seen.push(r);
    seen.len() - 1
}

impl<'a> JaegerTrace<'a> {
    /// One trace's spans in the Jaeger query API's shape.
    pub fn new(trace_id: TraceId, spans: impl IntoIterator<Item = &'a Span>) -> Self {
        let hex = trace_id.to_hex();
        let mut seen: Vec<&ResourceInfo> = Vec::new();
        let spans = spans
            .into_iter()
            .map(|s| {
                let pid = process_of(&mut seen, &s.resource);
                let mut references: Vec<Reference<'_>> = s
                    .parent_span_id
                    .iter()
                    .map(|p| Reference {
                        ref_type: "CHILD_OF",
                        trace_id: hex.clone(),
                        span_id: p.to_hex(),
                        tags: Vec::new(),
                    })
                    .collect();
                references.extend(s.links.iter().map(link_reference));
                let logs = s
                    .events
                    .iter()
                    .map(|e| {
                        let mut fields = vec![text_tag("event", &e.name)];
                        fields.extend(tags(&e.attributes, ""));
                        Log { timestamp: e.time_unix_nano / 1000, fields }
                    })
                    .collect();
                JaegerSpan {
                    trace_id: hex.clone(),
                    span_id: s.span_id.to_hex(),
                    flags: s.flags,
                    operation_name: &s.name,
                    references,
                    start_time: s.start_unix_nano / 1000,
                    duration: s.duration_ns() / 1000,
                    tags: span_tags(s),
                    logs,
                    process_id: process_id(pid),
                    warnings: None,
                }
            })
            .collect();
        let processes = seen
            .into_iter()
            .map(|r| Process { service_name: &r.service_name, tags: tags(&r.attributes, "service.name") })
            .collect();
        JaegerTrace { trace_id: hex, spans, processes: Processes(processes), warnings: None }
    }
}

/// Writes one trace in the Jaeger query API's JSON shape, as a JSON value.
pub fn trace_to_json(trace_id: TraceId, spans: &[Span]) -> Value {
    serde_json::to_value(JaegerTrace::new(trace_id, spans)).expect("a Jaeger trace serialises")
}

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

use faultline_model::{
    Attributes, ResourceInfo, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, TraceId,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

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

fn tag_value(t: &Value) -> Value {
    let v = t.get("value").cloned().unwrap_or(Value::Null);
    match t.get("type").and_then(Value::as_str).unwrap_or("string") {
        "int64" => v
            .as_i64()
            .map(Value::from)
            .or_else(|| v.as_str().and_then(|s| s.parse::<i64>().ok()).map(Value::from))
            .unwrap_or(v),
        "float64" => v.as_f64().map(|f| json!(f)).unwrap_or(v),
        "bool" => {
            v.as_bool().map(Value::Bool).or_else(|| v.as_str().map(|s| Value::Bool(s == "true"))).unwrap_or(v)
        }
        _ => v,
    }
}

fn tags(v: Option<&Value>) -> Attributes {
    let mut m = Attributes::new();
    if let Some(Value::Array(a)) = v {
        for t in a {
            if let Some(k) = t.get("key").and_then(Value::as_str) {
                m.insert(k.to_string(), tag_value(t));
            }
        }
    }
    m
}

/// Converts Jaeger JSON (`{"data": [...]}`, an array of traces, or one trace) into spans. Returns the
/// spans and the errors of the spans that could not be read.
pub fn spans_from_json(v: &Value) -> (Vec<Span>, Vec<String>) {
    let traces: Vec<&Value> = match v {
        Value::Object(o) if o.contains_key("data") => {
            o.get("data").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for t in traces {
        let processes: BTreeMap<String, Arc<ResourceInfo>> = t
            .get("processes")
            .and_then(Value::as_object)
            .map(|ps| {
                ps.iter()
                    .map(|(id, p)| {
                        let mut attrs = tags(p.get("tags"));
                        let svc = p.get("serviceName").and_then(Value::as_str).unwrap_or("unknown_service");
                        attrs.insert("service.name".into(), svc.into());
                        (id.clone(), Arc::new(ResourceInfo::from_attributes(attrs)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for s in t.get("spans").and_then(Value::as_array).into_iter().flatten() {
            match span_from_json(s, &processes) {
                Ok(sp) => out.push(sp),
                Err(e) => errors.push(e),
            }
        }
    }
    (out, errors)
}

fn span_from_json(s: &Value, processes: &BTreeMap<String, Arc<ResourceInfo>>) -> Result<Span, String> {
    let str_of = |k: &str| s.get(k).and_then(Value::as_str);
    let trace_id = TraceId::from_hex_lenient(str_of("traceID").ok_or("traceID is required")?)
        .map_err(|e| e.to_string())?;
    let span_id =
        SpanId::from_hex(str_of("spanID").ok_or("spanID is required")?).map_err(|e| e.to_string())?;
    let start_us =
        s.get("startTime").and_then(Value::as_i64).ok_or("startTime is required (microseconds)")?;
    let dur_us = s.get("duration").and_then(Value::as_i64).unwrap_or(0);
    let mut parent = None;
    let mut links = Vec::new();
    for r in s.get("references").and_then(Value::as_array).into_iter().flatten() {
        let (Some(t), Some(sid)) =
            (r.get("traceID").and_then(Value::as_str), r.get("spanID").and_then(Value::as_str))
        else {
            continue;
        };
        let (Ok(t), Ok(sid)) = (TraceId::from_hex_lenient(t), SpanId::from_hex(sid)) else {
            continue;
        };
        if parent.is_none()
            && t == trace_id
            && r.get("refType").and_then(Value::as_str) != Some("FOLLOWS_FROM")
        {
            parent = Some(sid);
        } else {
            let mut attributes = tags(r.get("tags"));
            let ref_type = match r.get("refType").and_then(Value::as_str) {
                Some("FOLLOWS_FROM") => "follows_from",
                _ => "child_of",
            };
            attributes.insert(REF_TYPE_KEY.into(), ref_type.into());
            links.push(SpanLink { trace_id: t, span_id: sid, trace_state: String::new(), attributes });
        }
    }
    let mut attrs = tags(s.get("tags"));
    let kind = match attrs.remove("span.kind").as_ref().and_then(Value::as_str) {
        Some(k) => SpanKind::parse(k).unwrap_or_default(),
        None => SpanKind::Unspecified,
    };
    let mut status = StatusCode::Unset;
    if let Some(c) = attrs.remove("otel.status_code") {
        status = StatusCode::parse(c.as_str().unwrap_or("")).unwrap_or_default();
    }
    if attrs.get("error").is_some_and(|e| e == &Value::Bool(true) || e == "true") {
        status = StatusCode::Error;
        attrs.remove("error");
    }
    let trace_state = attrs.remove("w3c.tracestate").and_then(|v| v.as_str().map(str::to_string));
    let message = attrs
        .remove("otel.status_description")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let resource = s
        .get("processID")
        .and_then(Value::as_str)
        .and_then(|p| processes.get(p))
        .cloned()
        .or_else(|| {
            s.get("process").map(|p| {
                let mut a = tags(p.get("tags"));
                a.insert(
                    "service.name".into(),
                    p.get("serviceName").cloned().unwrap_or_else(|| "unknown_service".into()),
                );
                Arc::new(ResourceInfo::from_attributes(a))
            })
        })
        .unwrap_or_else(|| Arc::new(ResourceInfo::from_attributes(Attributes::new())));
    let events = s
        .get("logs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|l| {
            let mut fields = tags(l.get("fields"));
            let name = fields
                .remove("event")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "log".into());
            SpanEvent {
                time_unix_nano: l.get("timestamp").and_then(Value::as_i64).unwrap_or(start_us) * 1000,
                name,
                attributes: fields,
            }
        })
        .collect();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id: parent,
        trace_state: trace_state.unwrap_or_default(),
        flags: s.get("flags").and_then(Value::as_u64).unwrap_or(0) as u32,
        name: str_of("operationName").unwrap_or("").to_string(),
        kind,
        start_unix_nano: start_us.saturating_mul(1000),
        end_unix_nano: start_us.saturating_add(dur_us).saturating_mul(1000),
        status_code: status,
        status_message: message,
        attributes: attrs,
        events,
        links,
        resource,
    })
}

fn to_tags(attrs: &Attributes) -> Vec<Value> {
    attrs
        .iter()
        .map(|(k, v)| match v {
            Value::Bool(b) => json!({"key": k, "type": "bool", "value": b}),
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                json!({"key": k, "type": "int64", "value": n})
            }
            Value::Number(n) => json!({"key": k, "type": "float64", "value": n}),
            Value::String(s) => json!({"key": k, "type": "string", "value": s}),
            other => json!({"key": k, "type": "string", "value": other.to_string()}),
        })
        .collect()
}

/// Writes one trace in the Jaeger query API's JSON shape.
/// A span link as a Jaeger reference: `CHILD_OF` when the link says so in
/// `opentracing.ref_type` (as OpenTracing shims and Jaeger's own translator mark them), else
/// `FOLLOWS_FROM`. Jaeger's references have no attributes; the link's are kept under `tags`, a
/// field Jaeger clients ignore and faultline's import reads back.
fn link_reference(l: &SpanLink) -> Value {
    let child_of = l.attributes.get(REF_TYPE_KEY).and_then(Value::as_str) == Some("child_of");
    let mut r = json!({
        "refType": if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" },
        "traceID": l.trace_id.to_hex(),
        "spanID": l.span_id.to_hex(),
    });
    let attrs: Map<String, Value> = l
        .attributes
        .iter()
        .filter(|(k, _)| *k != REF_TYPE_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !attrs.is_empty() {
        r["tags"] = Value::Array(to_tags(&attrs));
    }
    r
}

/// The link attribute that carries an OpenTracing reference type.
const REF_TYPE_KEY: &str = "opentracing.ref_type";

pub fn trace_to_json(trace_id: TraceId, spans: &[Span]) -> Value {
    let mut processes: Vec<(String, &ResourceInfo)> = Vec::new();
    let mut out_spans = Vec::with_capacity(spans.len());
    for s in spans {
        let key = faultline_model::value::attributes_to_json(&s.resource.attributes);
        let pid = match processes.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                processes.push((key, &s.resource));
                processes.len() - 1
            }
        };
        let mut t = to_tags(&s.attributes);
        if s.kind != SpanKind::Unspecified {
            t.push(json!({"key": "span.kind", "type": "string", "value": s.kind.as_str()}));
        }
        match s.status_code {
            StatusCode::Error => {
                t.push(json!({"key": "error", "type": "bool", "value": true}));
                t.push(json!({"key": "otel.status_code", "type": "string", "value": "ERROR"}));
            }
            StatusCode::Ok => t.push(json!({"key": "otel.status_code", "type": "string", "value": "OK"})),
            StatusCode::Unset => {}
        }
        if !s.status_message.is_empty() {
            t.push(json!({"key": "otel.status_description", "type": "string", "value": s.status_message}));
        }
        if !s.resource.scope_name.is_empty() {
            t.push(json!({"key": "otel.scope.name", "type": "string", "value": s.resource.scope_name}));
        }
        if !s.resource.scope_version.is_empty() {
            t.push(json!({"key": "otel.scope.version", "type": "string", "value": s.resource.scope_version}));
        }
        if !s.trace_state.is_empty() {
            t.push(json!({"key": "w3c.tracestate", "type": "string", "value": s.trace_state}));
        }
        let mut refs: Vec<Value> = s
            .parent_span_id
            .iter()
            .map(|p| json!({"refType": "CHILD_OF", "traceID": trace_id.to_hex(), "spanID": p.to_hex()}))
            .collect();
        refs.extend(s.links.iter().map(link_reference));
        let logs: Vec<Value> = s
            .events
            .iter()
            .map(|e| {
                let mut f = to_tags(&e.attributes);
                f.insert(0, json!({"key": "event", "type": "string", "value": e.name}));
                json!({"timestamp": e.time_unix_nano / 1000, "fields": f})
            })
            .collect();
        out_spans.push(json!({
            "traceID": trace_id.to_hex(),
            "spanID": s.span_id.to_hex(),
            "flags": s.flags,
            "operationName": s.name,
            "references": refs,
            "startTime": s.start_unix_nano / 1000,
            "duration": s.duration_ns() / 1000,
            "tags": t,
            "logs": logs,
            "processID": format!("p{}", pid + 1),
            "warnings": Value::Null,
        }));
    }
    let procs: Map<String, Value> = processes
        .iter()
        .enumerate()
        .map(|(i, (_, r))| {
            let mut attrs = r.attributes.clone();
            attrs.remove("service.name");
            (format!("p{}", i + 1), json!({"serviceName": r.service_name, "tags": to_tags(&attrs)}))
        })
        .collect();
    json!({"traceID": trace_id.to_hex(), "spans": out_spans, "processes": procs, "warnings": Value::Null})
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}

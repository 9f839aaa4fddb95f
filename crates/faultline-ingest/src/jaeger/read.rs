//! Reading Jaeger JSON: what the Jaeger UI exports and its query API returns.

use super::{
    KIND_TAG, REF_TYPE_KEY, SCOPE_NAME_TAG, SCOPE_VERSION_TAG, STATUS_MESSAGE_TAG, STATUS_TAG,
    TRACE_STATE_TAG,
};
use faultline_model::{
    Attributes, ResourceInfo, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, TraceId,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    let mut resources = Resources::default();
    for t in traces {
        let processes: BTreeMap<&str, &Value> = t
            .get("processes")
            .and_then(Value::as_object)
            .map(|ps| ps.iter().map(|(id, p)| (id.as_str(), p)).collect())
            .unwrap_or_default();
        for s in t.get("spans").and_then(Value::as_array).into_iter().flatten() {
            match span_from_json(s, &processes, &mut resources) {
                Ok(sp) => out.push(sp),
                Err(e) => errors.push(e),
            }
        }
    }
    (out, errors)
}

/// The resources of an import. Every trace repeats its processes: equal ones (and the same scope)
/// share one resource, so that an export of many traces holds each process once.
#[derive(Default)]
struct Resources {
    /// By the process object's address in the document (it outlives the import): a span finds its
    /// resource without writing its process out as text.
    by_address: HashMap<(usize, String, String), Arc<ResourceInfo>>,
    /// By the process's text: equal processes of different traces.
    seen: HashMap<(String, String, String), Arc<ResourceInfo>>,
}

impl Resources {
    /// The resource of a Jaeger process (`{serviceName, tags}`; none: an empty one) with the
    /// span's scope.
    fn get(&mut self, process: Option<&Value>, scope: (String, String)) -> Arc<ResourceInfo> {
        static NO_PROCESS: Value = Value::Null;
        let process = process.unwrap_or(&NO_PROCESS);
        let address = (process as *const Value as usize, scope.0, scope.1);
        if let Some(r) = self.by_address.get(&address) {
            return r.clone();
        }
        let key = (process.to_string(), address.1.clone(), address.2.clone());
        let r = match self.seen.get(&key) {
            Some(r) => r.clone(),
            None => {
                let mut attrs = tags(process.get("tags"));
                let svc = process.get("serviceName").cloned().unwrap_or_else(|| "unknown_service".into());
                attrs.insert("service.name".into(), svc);
                let mut r = ResourceInfo::from_attributes(attrs);
                r.scope_name.clone_from(&key.1);
                r.scope_version.clone_from(&key.2);
                self.seen.entry(key).or_insert(Arc::new(r)).clone()
            }
        };
        self.by_address.insert(address, r.clone());
        r
    }
}

fn span_from_json(
    s: &Value,
    processes: &BTreeMap<&str, &Value>,
    resources: &mut Resources,
) -> Result<Span, String> {
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
    let kind = match attrs.remove(KIND_TAG).as_ref().and_then(Value::as_str) {
        Some(k) => SpanKind::parse(k).unwrap_or_default(),
        None => SpanKind::Unspecified,
    };
    let mut status = StatusCode::Unset;
    if let Some(c) = attrs.remove(STATUS_TAG) {
        status = StatusCode::parse(c.as_str().unwrap_or("")).unwrap_or_default();
    }
    if attrs.get("error").is_some_and(|e| e == &Value::Bool(true) || e == "true") {
        status = StatusCode::Error;
        attrs.remove("error");
    }
    let trace_state = attrs.remove(TRACE_STATE_TAG).and_then(|v| v.as_str().map(str::to_string));
    let message =
        attrs.remove(STATUS_MESSAGE_TAG).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let mut text_of = |key: &str| attrs.remove(key).and_then(|v| v.as_str().map(str::to_string));
    let scope = (text_of(SCOPE_NAME_TAG).unwrap_or_default(), text_of(SCOPE_VERSION_TAG).unwrap_or_default());
    let process = s
        .get("processID")
        .and_then(Value::as_str)
        .and_then(|p| processes.get(p).copied())
        .or_else(|| s.get("process"));
    let resource = resources.get(process, scope);
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

//! Reading Jaeger JSON: what the Jaeger UI exports and its query API returns.
//!
//! The document is read into typed, borrowed parts (`shape`): strings stay in the text unless they
//! hold escapes, and the unknown is skipped without being built. The same parts read a document
//! already parsed as a `serde_json::Value`.

use super::shape::{Export, JaegerSpan, Process, Tag};
use super::{
    KIND_TAG, REF_TYPE_KEY, SCOPE_NAME_TAG, SCOPE_VERSION_TAG, STATUS_MESSAGE_TAG, STATUS_TAG,
    TRACE_STATE_TAG,
};
use faultline_model::{
    Attributes, ResourceInfo, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, TraceId,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Converts Jaeger JSON (`{"data": [...]}`, an array of traces, or one trace) into spans. Returns the
/// spans and the errors of the spans that could not be read.
pub fn spans_from_json(v: &Value) -> (Vec<Span>, Vec<String>) {
    match Export::deserialize(v) {
        Ok(export) => spans_of(export),
        Err(e) => (Vec::new(), vec![e.to_string()]),
    }
}

/// Reads Jaeger JSON text as [`spans_from_json`] reads a parsed document, without building the
/// document first.
pub fn spans_from_str(text: &str) -> Result<(Vec<Span>, Vec<String>), serde_json::Error> {
    serde_json::from_str::<Export<'_>>(text).map(spans_of)
}

/// The spans of a read document, and the errors of those that could not be converted.
pub fn spans_of(export: Export<'_>) -> (Vec<Span>, Vec<String>) {
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    let mut resources = Resources::default();
    for (t, trace) in export.0.iter().enumerate() {
        for s in trace.spans.iter().flatten() {
            let process = s.process_id.as_ref().map(|p| (t, p.0.as_ref(), trace.processes.get(p.0.as_ref())));
            match span_of(s, process, &mut resources) {
                Ok(sp) => out.push(sp),
                Err(e) => errors.push(e),
            }
        }
    }
    (out, errors)
}

/// A tag's value as its declared type says (Jaeger writes some numbers and booleans as text).
fn tag_value(t: &Tag<'_>) -> Value {
    let v = t.value.clone().unwrap_or(Value::Null);
    match t.kind.as_ref().map_or("string", |k| k.0.as_ref()) {
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

fn attributes(tags: &[Tag<'_>]) -> Attributes {
    tags.iter().map(|t| (t.key.0.to_string(), tag_value(t))).collect()
}

/// The resources of an import. Every trace repeats its processes: equal ones (and the same scope)
/// share one resource, so that an export of many traces holds each process once.
#[derive(Default)]
struct Resources<'a> {
    /// The trace being read and the resources its spans found, by process id and scope: a span
    /// finds its resource without writing its process out as text.
    trace: usize,
    local: Vec<(&'a str, String, String, Arc<ResourceInfo>)>,
    /// By the process's text and scope: equal processes of different traces.
    seen: HashMap<(String, String, String), Arc<ResourceInfo>>,
}

impl<'a> Resources<'a> {
    /// The resource of a Jaeger process (none: an empty one) with the span's scope; `id` is the
    /// trace's index and the process's id there, when the span names one.
    fn get(
        &mut self,
        id: Option<(usize, &'a str)>,
        process: Option<&Process<'_>>,
        scope: (String, String),
    ) -> Arc<ResourceInfo> {
        if let Some((t, p)) = id {
            if t != self.trace {
                self.trace = t;
                self.local.clear();
            }
            if let Some(l) = self.local.iter().find(|l| l.0 == p && l.1 == scope.0 && l.2 == scope.1) {
                return l.3.clone();
            }
        }
        let text = process.map(Process::text).unwrap_or_default();
        let key = (text, scope.0, scope.1);
        let r = match self.seen.get(&key) {
            Some(r) => r.clone(),
            None => {
                let mut attrs = process.map(|p| attributes(&p.tags)).unwrap_or_default();
                let svc =
                    process.and_then(|p| p.service_name.as_ref()).map_or("unknown_service", |s| s.0.as_ref());
                attrs.insert("service.name".into(), svc.into());
                let mut r = ResourceInfo::from_attributes(attrs);
                r.scope_name.clone_from(&key.1);
                r.scope_version.clone_from(&key.2);
                self.seen.entry(key.clone()).or_insert(Arc::new(r)).clone()
            }
        };
        if let Some((_, p)) = id {
            self.local.push((p, key.1, key.2, r.clone()));
        }
        r
    }
}

/// A span's parent (its first CHILD_OF reference in its own trace) and links (every other reference).
fn parent_and_links(s: &JaegerSpan<'_>, trace_id: TraceId) -> (Option<SpanId>, Vec<SpanLink>) {
    let mut parent = None;
    let mut links = Vec::new();
    for r in &s.references {
        let (Some(t), Some(sid)) = (&r.trace_id, &r.span_id) else { continue };
        let (Ok(t), Ok(sid)) = (TraceId::from_hex_lenient(&t.0), SpanId::from_hex(&sid.0)) else {
            continue;
        };
        let follows = r.ref_type.as_ref().is_some_and(|k| k.0 == "FOLLOWS_FROM");
        if parent.is_none() && t == trace_id && !follows {
            parent = Some(sid);
        } else {
            let mut attributes = attributes(&r.tags);
            let ref_type = if follows { "follows_from" } else { "child_of" };
            attributes.insert(REF_TYPE_KEY.into(), ref_type.into());
            links.push(SpanLink { trace_id: t, span_id: sid, trace_state: String::new(), attributes });
        }
    }
    (parent, links)
}

fn span_of<'a>(
    s: &JaegerSpan<'_>,
    process: Option<(usize, &'a str, Option<&Process<'_>>)>,
    resources: &mut Resources<'a>,
) -> Result<Span, String> {
    let trace_id = TraceId::from_hex_lenient(&s.trace_id.as_ref().ok_or("traceID is required")?.0)
        .map_err(|e| e.to_string())?;
    let span_id =
        SpanId::from_hex(&s.span_id.as_ref().ok_or("spanID is required")?.0).map_err(|e| e.to_string())?;
    let start_us = s.start_time.and_then(|t| t.0).ok_or("startTime is required (microseconds)")?;
    let dur_us = s.duration.and_then(|d| d.0).unwrap_or(0);
    let (parent, links) = parent_and_links(s, trace_id);
    let mut attrs = attributes(&s.tags);
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
    let mut text_of = |key: &str| attrs.remove(key).and_then(|v| v.as_str().map(str::to_string));
    let trace_state = text_of(TRACE_STATE_TAG).unwrap_or_default();
    let message = text_of(STATUS_MESSAGE_TAG).unwrap_or_default();
    let scope = (text_of(SCOPE_NAME_TAG).unwrap_or_default(), text_of(SCOPE_VERSION_TAG).unwrap_or_default());
    let resource = match (process, &s.process) {
        (Some((t, id, Some(p))), _) => resources.get(Some((t, id)), Some(p), scope),
        (_, Some(p)) => resources.get(None, Some(p), scope),
        (Some((t, id, None)), None) => resources.get(Some((t, id)), None, scope),
        (None, None) => resources.get(None, None, scope),
    };
    let events = s
        .logs
        .iter()
        .map(|l| {
            let mut fields = attributes(&l.fields);
            let name = fields.remove("event").and_then(|v| v.as_str().map(str::to_string));
            SpanEvent {
                time_unix_nano: l.timestamp.and_then(|t| t.0).unwrap_or(start_us).saturating_mul(1000),
                name: name.unwrap_or_else(|| "log".into()),
                attributes: fields,
            }
        })
        .collect();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id: parent,
        trace_state,
        flags: s.flags.and_then(|f| f.0).unwrap_or(0) as u32,
        name: s.operation_name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
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

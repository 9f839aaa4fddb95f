//! Joining logs to traces by correlation ids.
//!
//! Many log lines carry no trace id: services log before tracing was added, proxies and batch jobs
//! log on their own, and structured loggers write a request id instead. When a span of a trace
//! carries the same request or correlation id (as an attribute), the log line belongs to that
//! trace. The ids are read from the log's attributes, from the fields of a JSON body, from
//! `key=value` pairs in a text body whose key names a correlation id, and from UUIDs in the body.

use crate::inputs::LogTable;
use crate::spans::SpanTable;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Whether an attribute key names a request's correlation id.
pub fn is_correlation_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '.'], "_");
    const ENDINGS: &[&str] = &[
        "request_id",
        "requestid",
        "req_id",
        "reqid",
        "correlation_id",
        "correlationid",
        "transaction_id",
        "transactionid",
        "txn_id",
        "trace_key",
        "http_req_id",
    ];
    ENDINGS.iter().any(|e| k.ends_with(e)) || k.contains("correlation")
}

/// Correlation-id values of an attribute map (strings and integers of correlation keys).
pub fn ids_in_attributes(attrs: &Map<String, Value>, out: &mut Vec<String>) {
    for (k, v) in attrs {
        if !is_correlation_key(k) {
            continue;
        }
        match v {
            Value::String(s) if s.len() >= 4 => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            _ => {}
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Correlation ids in a log body: the fields of a JSON body, `key=value` (or `key: value`) pairs
/// whose key names a correlation id, and UUIDs.
pub fn ids_in_body(body: &str, out: &mut Vec<String>) {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(trimmed) {
            ids_in_attributes(&m, out);
            return;
        }
    }
    let tokens: Vec<&str> = body
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '[' | ']' | '(' | ')'))
        .filter(|t| !t.is_empty())
        .collect();
    for (i, tok) in tokens.iter().enumerate() {
        if let Some((k, v)) = tok.split_once(['=', ':']) {
            if is_correlation_key(k) {
                let v = if v.is_empty() { tokens.get(i + 1).copied().unwrap_or("") } else { v };
                if v.len() >= 4 {
                    out.push(v.to_string());
                }
                continue;
            }
        }
        if is_uuid(tok) {
            out.push(tok.to_string());
        }
    }
}

/// The trace of every log record: its own trace id, or the trace whose spans carry one of its
/// correlation ids. Returns the traces (parallel to the records) and how many were joined by id.
pub fn log_traces(logs: &LogTable, spans: &SpanTable) -> (Vec<Option<[u8; 16]>>, usize) {
    let mut out = logs.trace_id.clone();
    if logs.corr.iter().all(|c| c.is_empty()) {
        return (out, 0);
    }
    let mut by_id: HashMap<&str, [u8; 16]> = HashMap::new();
    for i in 0..spans.len() {
        for &v in &spans.attr_info(i).corr {
            by_id.entry(spans.names.name(v)).or_insert(spans.trace_id[i]);
        }
    }
    let mut joined = 0;
    for (k, ids) in logs.corr.iter().enumerate() {
        if out[k].is_some() {
            continue;
        }
        if let Some(t) = ids.iter().find_map(|id| by_id.get(id.as_str())) {
            out[k] = Some(*t);
            joined += 1;
        }
    }
    (out, joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::schema::{logs_to_batch, spans_to_batch};
    use faultline_model::{LogRecord, ResourceInfo, Span, SpanId, SpanKind, StatusCode, TraceId};
    use serde_json::json;
    use std::sync::Arc;

    fn attrs(v: Value) -> faultline_model::Attributes {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_and_bodies() {
        for k in
            ["request_id", "http.request.id", "X-Request-ID", "correlationId", "app.txn_id", "http.req.id"]
        {
            assert!(is_correlation_key(k), "{k}");
        }
        for k in ["service.name", "http.route", "user_id", "trace_id_ratio"] {
            assert!(!is_correlation_key(k), "{k}");
        }
        let mut v = Vec::new();
        ids_in_body("payment failed req_id=r-7781 amount=12", &mut v);
        ids_in_body(r#"{"message":"done","x-request-id":"abc-123"}"#, &mut v);
        ids_in_body("job 1b4e28ba-2fa1-11d2-883f-0016d3cca427 timed out; requestId: q-99", &mut v);
        assert_eq!(v, ["r-7781", "abc-123", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "q-99"]);
    }

    #[test]
    fn joins_logs_without_trace_ids() {
        let res = Arc::new(ResourceInfo::from_attributes(attrs(json!({"service.name": "checkout"}))));
        let span = |t: u8, rid: &str| Span {
            trace_id: TraceId([t; 16]),
            span_id: SpanId([t; 8]),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: "POST /checkout".into(),
            kind: SpanKind::Server,
            start_unix_nano: 1_000,
            end_unix_nano: 2_000,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            attributes: attrs(json!({"http.request_id": rid})),
            events: vec![],
            links: vec![],
            resource: res.clone(),
        };
        let spans = SpanTable::from_batches(&[spans_to_batch(&[span(1, "req-1"), span(2, "req-2")])]);
        let log = |body: &str, a: Value, trace: Option<u8>| LogRecord {
            time_unix_nano: 1_500,
            observed_time_unix_nano: 1_500,
            severity_number: 0,
            severity_text: String::new(),
            body: body.into(),
            attributes: attrs(a),
            trace_id: trace.map(|t| TraceId([t; 16])),
            span_id: None,
            flags: 0,
            event_name: String::new(),
            resource: res.clone(),
        };
        let logs = LogTable::from_batches(&[logs_to_batch(&[
            log("card declined request_id=req-2", json!({}), None),
            log("retrying", json!({"request.id": "req-1"}), None),
            log("has its own", json!({}), Some(9)),
            log("nothing to go by", json!({}), None),
        ])]);
        let (traces, joined) = log_traces(&logs, &spans);
        assert_eq!(joined, 2);
        assert_eq!(traces, vec![Some([2; 16]), Some([1; 16]), Some([9; 16]), None]);
    }
}

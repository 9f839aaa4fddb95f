//! Logs joined to their traces: by their own trace id, or, for logs without one, by the request
//! ids (`correlate.rs`) they share with the trace's spans.

use crate::hash::HashMap;
use crate::inputs::LogTable;
use crate::spans::SpanTable;

/// The trace of every log record: its own trace id, or the trace whose spans carry one of its
/// correlation ids. Returns the traces (parallel to the records) and how many were joined by id.
pub fn log_traces(logs: &LogTable, spans: &SpanTable) -> (Vec<Option<[u8; 16]>>, usize) {
    let mut out = logs.trace_id.clone();
    if logs.corr.iter().all(|c| c.is_empty()) {
        return (out, 0);
    }
    let mut by_id: HashMap<&str, [u8; 16]> = HashMap::default();
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
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn attrs(v: Value) -> faultline_model::Attributes {
        v.as_object().unwrap().clone()
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

//! A window's spans as columns, with interned service, instance and operation names, and an error
//! flag that does not rely on span status alone.

use crate::Interner;
use arrow::array::RecordBatch;
use faultline_model::schema::Columns;
use faultline_model::{SpanKind, StatusCode};

/// The columns the analysis reads from the spans table.
pub const COLUMNS: &[&str] = &[
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time",
    "duration_ns",
    "status_code",
    "status_message",
    "attributes",
    "events",
    "service_name",
    "service_instance",
];

/// Spans of a window, one entry per span in each column.
#[derive(Debug, Default)]
pub struct SpanTable {
    pub names: Interner,
    pub trace_id: Vec<[u8; 16]>,
    pub span_id: Vec<[u8; 8]>,
    pub parent: Vec<Option<[u8; 8]>>,
    pub service: Vec<u32>,
    pub instance: Vec<u32>,
    pub operation: Vec<u32>,
    pub kind: Vec<SpanKind>,
    pub start: Vec<i64>,
    pub duration: Vec<i64>,
    pub error: Vec<bool>,
    /// For client and producer spans: the peer they called (`peer.service`, else `server.address`,
    /// else `network.peer.address`, else `db.system`), interned; `NO_PEER` otherwise.
    pub peer: Vec<u32>,
}

/// No peer named.
pub const NO_PEER: u32 = u32::MAX;

fn peer_of(attrs: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    ["peer.service", "server.address", "network.peer.address", "net.peer.name", "db.system"]
        .iter()
        .find_map(|k| attrs.get(*k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()))
}

/// Whether a span failed, from its status, or, where real telemetry has none, from its HTTP or gRPC
/// status code attributes, an exception event, or an error message.
pub fn span_failed(
    status: StatusCode,
    kind: SpanKind,
    attrs: &serde_json::Map<String, serde_json::Value>,
    events: Option<&str>,
) -> bool {
    match status {
        StatusCode::Error => return true,
        StatusCode::Ok => return false,
        StatusCode::Unset => {}
    }
    let int =
        |k: &str| attrs.get(k).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    if let Some(code) = int("http.response.status_code").or_else(|| int("http.status_code")) {
        // Servers fail on 5xx; clients also on 4xx (OpenTelemetry semantic conventions).
        return code >= 500 || (kind == SpanKind::Client && code >= 400);
    }
    if let Some(code) = int("rpc.grpc.status_code") {
        return code != 0;
    }
    if attrs.get("error").is_some_and(|v| v == &serde_json::Value::Bool(true) || v == "true") {
        return true;
    }
    events.is_some_and(|e| e.contains("\"exception\""))
}

impl SpanTable {
    /// Builds the table from record batches of the spans table (projected to at least [`COLUMNS`]).
    pub fn from_batches(batches: &[RecordBatch]) -> SpanTable {
        let mut t = SpanTable::default();
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        t.reserve(n);
        for b in batches {
            let c = Columns::new(b);
            // Attribute JSON parses only when the status does not settle the question.
            for row in 0..b.num_rows() {
                let kind = SpanKind::from_i32(c.i8("kind", row).unwrap_or(0) as i32);
                let status = StatusCode::from_i32(c.i8("status_code", row).unwrap_or(0) as i32);
                let calls_out = matches!(kind, SpanKind::Client | SpanKind::Producer);
                let attrs = if status == StatusCode::Unset || calls_out {
                    faultline_model::value::attributes_from_json(c.str("attributes", row).unwrap_or(""))
                } else {
                    Default::default()
                };
                let error = match status {
                    StatusCode::Unset => span_failed(status, kind, &attrs, c.str("events", row)),
                    s => s == StatusCode::Error,
                };
                let peer = match (calls_out, peer_of(&attrs)) {
                    (true, Some(p)) => t.names.intern(p),
                    _ => NO_PEER,
                };
                t.peer.push(peer);
                t.trace_id.push(c.fsb("trace_id", row).and_then(|x| x.try_into().ok()).unwrap_or_default());
                t.span_id.push(c.fsb("span_id", row).and_then(|x| x.try_into().ok()).unwrap_or_default());
                t.parent.push(c.fsb("parent_span_id", row).and_then(|x| x.try_into().ok()));
                let svc = t.names.intern(c.str("service_name", row).unwrap_or("unknown_service"));
                t.service.push(svc);
                let inst = t.names.intern(c.str("service_instance", row).unwrap_or(""));
                t.instance.push(inst);
                let op = t.names.intern(c.str("name", row).unwrap_or(""));
                t.operation.push(op);
                t.kind.push(kind);
                t.start.push(c.i64("start_time", row).unwrap_or(0));
                t.duration.push(c.i64("duration_ns", row).unwrap_or(0));
                t.error.push(error);
            }
        }
        t
    }

    fn reserve(&mut self, n: usize) {
        self.trace_id.reserve(n);
        self.span_id.reserve(n);
        self.parent.reserve(n);
        self.service.reserve(n);
        self.instance.reserve(n);
        self.operation.reserve(n);
        self.kind.reserve(n);
        self.start.reserve(n);
        self.duration.reserve(n);
        self.error.reserve(n);
        self.peer.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_without_status() {
        let attrs = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert!(span_failed(
            StatusCode::Unset,
            SpanKind::Server,
            &attrs(json!({"http.response.status_code": 503})),
            None
        ));
        assert!(!span_failed(
            StatusCode::Unset,
            SpanKind::Server,
            &attrs(json!({"http.response.status_code": 404})),
            None
        ));
        assert!(span_failed(
            StatusCode::Unset,
            SpanKind::Client,
            &attrs(json!({"http.status_code": "404"})),
            None
        ));
        assert!(span_failed(
            StatusCode::Unset,
            SpanKind::Unspecified,
            &attrs(json!({"rpc.grpc.status_code": 14})),
            None
        ));
        assert!(span_failed(
            StatusCode::Unset,
            SpanKind::Unspecified,
            &attrs(json!({})),
            Some(r#"[{"name":"exception"}]"#)
        ));
        assert!(!span_failed(StatusCode::Unset, SpanKind::Unspecified, &attrs(json!({})), None));
        assert!(!span_failed(
            StatusCode::Ok,
            SpanKind::Server,
            &attrs(json!({"http.response.status_code": 500})),
            None
        ));
    }
}

//! A window's spans as columns, with interned service, instance and operation names, an error flag
//! that does not rely on span status alone, and the few attributes the analysis reads, parsed once
//! per distinct attribute set (spans of one call site share theirs).

use crate::hash::HashMap;
use crate::Interner;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, Int8Type, TimestampNanosecondType};
use faultline_model::{SpanKind, StatusCode};
use serde_json::{Map, Value};

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
    "resource_attributes",
];

/// No name (an interned id that stands for "absent").
pub const NONE: u32 = u32::MAX;
/// No peer named.
pub const NO_PEER: u32 = NONE;

/// What the analysis takes from one distinct span attribute set.
#[derive(Debug, Clone, Default)]
pub struct AttrInfo {
    /// For calls: the peer named by `peer.service`, else `server.address`, else ... (interned).
    pub peer: u32,
    /// The peer's address (`network.peer.address`, else `server.address:server.port`).
    pub peer_addr: u32,
    /// `db.query.text` / `db.statement`, interned.
    pub query: u32,
    /// `cache.hit`, when given.
    pub cache_hit: Option<bool>,
    /// `http.request.resend_count`: this call is a retry.
    pub resend: u32,
    /// HTTP or gRPC status as text (`404`, `grpc 14`), interned, for evidence.
    pub status: u32,
    /// The call is to a database or cache (`db.system` is set).
    pub db: bool,
    /// Low-cardinality attributes as interned `key=value` pairs, for differential analysis.
    pub dims: Vec<u32>,
    /// Request and correlation ids (interned values), to join logs that carry no trace id.
    pub corr: Vec<u32>,
}

/// What the analysis takes from one distinct resource.
#[derive(Debug, Clone, Default)]
pub struct ResInfo {
    pub zone: u32,
    pub version: u32,
    /// `host.ip`, to place a peer address in a zone.
    pub ip: u32,
    pub dims: Vec<u32>,
}

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
    /// For client and producer spans: the peer they called, interned; `NO_PEER` otherwise.
    pub peer: Vec<u32>,
    /// Status message (or the exception message), interned; `NONE` when empty.
    pub message: Vec<u32>,
    /// Index into `attrs`.
    pub attr: Vec<u32>,
    /// Index into `resources`.
    pub res: Vec<u32>,
    pub attrs: Vec<AttrInfo>,
    pub resources: Vec<ResInfo>,
}

fn str_attr<'a>(attrs: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| attrs.get(*k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()))
}

fn int_attr(attrs: &Map<String, Value>, k: &str) -> Option<i64> {
    attrs.get(k).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
}

/// A boolean attribute, typed or as text (Zipkin tags and many SDKs' string attributes carry
/// `"true"` and `"false"`).
fn bool_attr(attrs: &Map<String, Value>, k: &str) -> Option<bool> {
    attrs.get(k).and_then(|v| {
        v.as_bool().or_else(|| match v.as_str()?.trim() {
            s if s.eq_ignore_ascii_case("true") => Some(true),
            s if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        })
    })
}

/// Whether a span failed, from its status, or, where real telemetry has none, from its HTTP or gRPC
/// status code attributes, an `error` flag or `error.type`, or an exception event.
pub fn span_failed(
    status: StatusCode,
    kind: SpanKind,
    attrs: &Map<String, Value>,
    events: Option<&str>,
) -> bool {
    match status {
        StatusCode::Error => return true,
        StatusCode::Ok => return false,
        StatusCode::Unset => {}
    }
    if let Some(code) =
        int_attr(attrs, "http.response.status_code").or_else(|| int_attr(attrs, "http.status_code"))
    {
        // Servers fail on 5xx; clients also on 4xx (OpenTelemetry semantic conventions). A span
        // without kind that names the peer it called is a client, as it is a call everywhere else.
        let client = kind == SpanKind::Client
            || (kind == SpanKind::Unspecified
                && str_attr(attrs, &["peer.service", "net.peer.name"]).is_some());
        return code >= 500 || (client && code >= 400);
    }
    if let Some(code) = int_attr(attrs, "rpc.grpc.status_code") {
        return code != 0;
    }
    if attrs.get("error").is_some_and(|v| v == &Value::Bool(true) || v == "true") {
        return true;
    }
    // The semantic conventions set `error.type` on a failed operation only (an exception's type, or
    // a code), and on a call that never got an answer it is the only mark left.
    if attrs.get("error.type").and_then(Value::as_str).is_some_and(|v| !v.trim().is_empty()) {
        return true;
    }
    events.is_some_and(|e| e.contains("\"exception\""))
}

/// Attribute keys whose values identify one request, not a population: left out of the
/// differential analysis.
fn high_cardinality(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    (k.ends_with(".id") || k.ends_with("_id") || k.ends_with("id") && k.contains("request"))
        && !k.contains("customer")
        && !k.contains("tenant")
        && !k.contains("instance")
        || crate::correlate::is_correlation_key(&k)
        || k.contains("trace")
        || k.contains("span")
        || k.contains("query")
        || k.contains("statement")
        || k.contains("url")
        || k.contains("target")
        || k.contains("user_agent")
        || k.contains("user-agent")
        || k.contains("time")
        || k.contains("duration")
        || k == "http.route"
        || k.starts_with("telemetry.")
        || k.starts_with("process.")
}

fn dims(names: &mut Interner, attrs: &Map<String, Value>) -> Vec<u32> {
    let mut out = Vec::new();
    for (k, v) in attrs {
        if high_cardinality(k) {
            continue;
        }
        let v = match v {
            Value::String(s) if s.len() <= 64 => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        out.push(names.intern(&format!("{k}={v}")));
    }
    out
}

impl SpanTable {
    /// Builds the table from record batches of the spans table (projected to at least [`COLUMNS`]).
    pub fn from_batches(batches: &[RecordBatch]) -> SpanTable {
        let mut b = SpanTableBuilder::default();
        b.table.reserve(batches.iter().map(|b| b.num_rows()).sum());
        for batch in batches {
            b.push(batch);
        }
        b.finish()
    }
}

/// Builds a [`SpanTable`] one batch at a time, so that the batches need not all be held at once.
#[derive(Default)]
pub struct SpanTableBuilder {
    table: SpanTable,
    /// Distinct attribute sets (with the facts that depend on status and kind) and resources.
    attr_ids: HashMap<String, Vec<(i8, i8, u32, bool)>>,
    res_ids: HashMap<String, u32>,
}

impl SpanTableBuilder {
    pub fn finish(self) -> SpanTable {
        self.table
    }

    pub fn push(&mut self, b: &RecordBatch) {
        let t = &mut self.table;
        let (attr_ids, res_ids) = (&mut self.attr_ids, &mut self.res_ids);
        {
            let fsb = |name: &str| b.column_by_name(name).and_then(|c| c.as_fixed_size_binary_opt().cloned());
            let strs = |name: &str| b.column_by_name(name).and_then(|c| c.as_string_opt::<i32>().cloned());
            let i8s =
                |name: &str| b.column_by_name(name).and_then(|c| c.as_primitive_opt::<Int8Type>().cloned());
            let (trace, span, parent) = (fsb("trace_id"), fsb("span_id"), fsb("parent_span_id"));
            let (name, smsg, attrs_c, events) =
                (strs("name"), strs("status_message"), strs("attributes"), strs("events"));
            let (svc, inst, res_c) =
                (strs("service_name"), strs("service_instance"), strs("resource_attributes"));
            let (kind_c, status_c) = (i8s("kind"), i8s("status_code"));
            let start_c = b.column_by_name("start_time").and_then(|c| {
                c.as_primitive_opt::<TimestampNanosecondType>()
                    .map(|a| a.values().to_vec())
                    .or_else(|| c.as_primitive_opt::<Int64Type>().map(|a| a.values().to_vec()))
            });
            let dur_c =
                b.column_by_name("duration_ns").and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
            fn get_str(c: &Option<arrow::array::StringArray>, row: usize) -> &str {
                match c {
                    Some(a) if a.is_valid(row) => a.value(row),
                    _ => "",
                }
            }
            for row in 0..b.num_rows() {
                let kind_raw = kind_c.as_ref().map_or(0, |a| a.value(row));
                let status_raw = status_c.as_ref().map_or(0, |a| a.value(row));
                let kind = SpanKind::from_i32(kind_raw as i32);
                let status = StatusCode::from_i32(status_raw as i32);
                let attr_json = get_str(&attrs_c, row);
                let ev = get_str(&events, row);
                let has_exception = ev.contains("\"exception\"");
                let known = attr_ids
                    .get(attr_json)
                    .and_then(|v| v.iter().find(|x| x.0 == kind_raw && x.1 == status_raw))
                    .map(|x| (x.2, x.3));
                let (attr_id, failed_by_attrs) = match known {
                    Some(v) => v,
                    None => {
                        let attrs = faultline_model::value::attributes_from_json(attr_json);
                        let failed = span_failed(status, kind, &attrs, None);
                        let info = t.parse_attrs(&attrs, kind);
                        let id = t.attrs.len() as u32;
                        t.attrs.push(info);
                        attr_ids
                            .entry(attr_json.to_string())
                            .or_default()
                            .push((kind_raw, status_raw, id, failed));
                        (id, failed)
                    }
                };
                let error = match status {
                    StatusCode::Unset => failed_by_attrs || has_exception,
                    s => s == StatusCode::Error,
                };
                let res_json = get_str(&res_c, row);
                let res_id = match res_ids.get(res_json) {
                    Some(&id) => id,
                    None => {
                        let attrs = faultline_model::value::attributes_from_json(res_json);
                        let info = ResInfo {
                            zone: str_attr(&attrs, &["cloud.availability_zone", "k8s.zone", "zone"])
                                .map_or(NONE, |z| t.names.intern(z)),
                            version: str_attr(&attrs, &["service.version"])
                                .map_or(NONE, |v| t.names.intern(v)),
                            ip: str_attr(&attrs, &["host.ip", "k8s.pod.ip"])
                                .map_or(NONE, |v| t.names.intern(v)),
                            dims: dims(&mut t.names, &attrs),
                        };
                        let id = t.resources.len() as u32;
                        t.resources.push(info);
                        res_ids.insert(res_json.to_string(), id);
                        id
                    }
                };
                let mut msg = get_str(&smsg, row);
                if msg.is_empty() && has_exception {
                    msg = exception_message(ev).unwrap_or("");
                }
                t.message.push(if msg.is_empty() { NONE } else { t.names.intern(msg) });
                t.peer.push(t.attrs[attr_id as usize].peer);
                t.attr.push(attr_id);
                t.res.push(res_id);
                fn id16(c: &Option<arrow::array::FixedSizeBinaryArray>, row: usize) -> Option<&[u8]> {
                    c.as_ref().filter(|a| a.is_valid(row)).map(|a| a.value(row))
                }
                t.trace_id.push(id16(&trace, row).and_then(|x| x.try_into().ok()).unwrap_or_default());
                t.span_id.push(id16(&span, row).and_then(|x| x.try_into().ok()).unwrap_or_default());
                t.parent.push(
                    id16(&parent, row).and_then(|x| x.try_into().ok()).filter(|p: &[u8; 8]| p != &[0; 8]),
                );
                let s = get_str(&svc, row);
                let s = t.names.intern(if s.is_empty() { "unknown_service" } else { s });
                t.service.push(s);
                let i = t.names.intern(get_str(&inst, row));
                t.instance.push(i);
                let op = t.names.intern(get_str(&name, row));
                t.operation.push(op);
                t.kind.push(kind);
                t.start.push(start_c.as_ref().map_or(0, |v| v[row]));
                t.duration.push(dur_c.as_ref().map_or(0, |a| a.value(row)).max(0));
                t.error.push(error);
            }
        }
    }
}

impl SpanTable {
    fn parse_attrs(&mut self, attrs: &Map<String, Value>, kind: SpanKind) -> AttrInfo {
        // A span without kind that names whom it called (real data often sets no kind) is a call
        // too; `server.address` alone is not enough there, as servers name themselves with it.
        let calls_out = matches!(kind, SpanKind::Client | SpanKind::Producer)
            || (kind == SpanKind::Unspecified
                && str_attr(attrs, &["peer.service", "db.system", "net.peer.name"]).is_some());
        let names = &mut self.names;
        let peer = match str_attr(
            attrs,
            &["peer.service", "server.address", "net.peer.name", "network.peer.address", "db.system"],
        ) {
            Some(p) if calls_out => names.intern(p),
            _ => NO_PEER,
        };
        let peer_addr = match (str_attr(attrs, &["network.peer.address", "net.peer.ip"]), calls_out) {
            (Some(a), true) => names.intern(a),
            (None, true) => match (str_attr(attrs, &["server.address"]), int_attr(attrs, "server.port")) {
                (Some(h), Some(p)) => names.intern(&format!("{h}:{p}")),
                _ => NONE,
            },
            _ => NONE,
        };
        let status = match (
            int_attr(attrs, "http.response.status_code").or_else(|| int_attr(attrs, "http.status_code")),
            int_attr(attrs, "rpc.grpc.status_code"),
        ) {
            (Some(c), _) => names.intern(&format!("HTTP {c}")),
            (None, Some(c)) if c != 0 => names.intern(&format!("gRPC status {c}")),
            _ => NONE,
        };
        AttrInfo {
            peer,
            peer_addr,
            query: str_attr(attrs, &["db.query.text", "db.statement"]).map_or(NONE, |q| names.intern(q)),
            cache_hit: bool_attr(attrs, "cache.hit"),
            resend: int_attr(attrs, "http.request.resend_count").unwrap_or(0).max(0) as u32,
            status,
            db: attrs.contains_key("db.system"),
            dims: dims(names, attrs),
            corr: {
                let mut ids = Vec::new();
                crate::correlate::ids_in_attributes(attrs, &mut ids);
                ids.iter().map(|v| names.intern(v)).collect()
            },
        }
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
        self.message.reserve(n);
        self.attr.reserve(n);
        self.res.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    pub fn end(&self, i: usize) -> i64 {
        self.start[i] + self.duration[i]
    }

    /// Whether span i is a call to another service: a client or producer span, or a span without
    /// kind that names the peer it called.
    pub fn is_call(&self, i: usize) -> bool {
        matches!(self.kind[i], SpanKind::Client | SpanKind::Producer)
            || (self.kind[i] == SpanKind::Unspecified && self.peer[i] != NO_PEER)
    }

    /// A call that waits for its answer (not a message sent to a queue).
    pub fn is_client_call(&self, i: usize) -> bool {
        self.kind[i] != SpanKind::Producer && self.is_call(i)
    }

    pub fn attr_info(&self, i: usize) -> &AttrInfo {
        &self.attrs[self.attr[i] as usize]
    }

    pub fn res_info(&self, i: usize) -> &ResInfo {
        &self.resources[self.res[i] as usize]
    }

    /// The first and last start time, or `None` when empty.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.start.iter().copied().min()?;
        let max = self.start.iter().copied().max()?;
        Some((min, max))
    }
}

/// The message of the first exception event in an events JSON array.
fn exception_message(events: &str) -> Option<&str> {
    let at = events.find("\"exception.message\"")?;
    let rest = &events[at + "\"exception.message\"".len()..];
    let start = rest.find('"')? + 1;
    let rest = &rest[start..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_without_status() {
        let attrs = |v: serde_json::Value| v.as_object().unwrap().clone();
        let unset = StatusCode::Unset;
        assert!(span_failed(
            unset,
            SpanKind::Server,
            &attrs(json!({"http.response.status_code": 503})),
            None
        ));
        assert!(!span_failed(
            unset,
            SpanKind::Server,
            &attrs(json!({"http.response.status_code": 404})),
            None
        ));
        assert!(span_failed(unset, SpanKind::Client, &attrs(json!({"http.status_code": "404"})), None));
        // Without kind, a span that names its peer called it: a 404 fails it; a server's does not.
        let call = attrs(json!({"http.response.status_code": 404, "peer.service": "stock"}));
        assert!(span_failed(unset, SpanKind::Unspecified, &call, None));
        let answer = attrs(json!({"http.response.status_code": 404}));
        assert!(!span_failed(unset, SpanKind::Unspecified, &answer, None));
        assert!(span_failed(unset, SpanKind::Unspecified, &attrs(json!({"rpc.grpc.status_code": 14})), None));
        assert!(span_failed(
            unset,
            SpanKind::Unspecified,
            &attrs(json!({})),
            Some(r#"[{"name":"exception"}]"#)
        ));
        assert!(!span_failed(unset, SpanKind::Unspecified, &attrs(json!({})), None));
        // A call that never got an answer: no code, only the error's type.
        let dns = attrs(json!({"error.type": "java.net.UnknownHostException", "peer.service": "pay"}));
        assert!(span_failed(unset, SpanKind::Client, &dns, None));
        assert!(!span_failed(unset, SpanKind::Client, &attrs(json!({"error.type": ""})), None));
        let ok = StatusCode::Ok;
        assert!(!span_failed(ok, SpanKind::Server, &attrs(json!({"http.response.status_code": 500})), None));
    }

    #[test]
    fn exception_messages() {
        let ev = r#"[{"name":"exception","attributes":{"exception.type":"IOError","exception.message":"disk full"}}]"#;
        assert_eq!(exception_message(ev), Some("disk full"));
        assert_eq!(exception_message("[]"), None);
    }
}

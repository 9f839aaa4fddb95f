//! Zipkin v2 JSON spans (`POST /api/v2/spans`, and files of them).
//!
//! Mapping: `localEndpoint.serviceName` is `service.name`; its address and port are the instance
//! (`service.instance.id`); `remoteEndpoint` becomes `peer.service`, `network.peer.address` and
//! `network.peer.port`; timestamps and durations are microseconds; tags are string attributes; the
//! `error` tag sets the error status with its value as message; annotations become events.

use faultline_model::{Attributes, ResourceInfo, Span, SpanEvent, SpanId, SpanKind, StatusCode, TraceId};
use serde_json::Value;

/// Whether a JSON value looks like Zipkin v2 spans.
pub fn looks_like_zipkin(v: &Value) -> bool {
    let first = match v {
        Value::Array(a) => a.first(),
        o @ Value::Object(_) => Some(o),
        _ => None,
    };
    first
        .and_then(Value::as_object)
        .is_some_and(|o| o.contains_key("traceId") && o.contains_key("id") && !o.contains_key("spanId"))
}

fn endpoint(v: Option<&Value>) -> (Option<String>, Option<String>, Option<i64>) {
    let Some(e) = v else {
        return (None, None, None);
    };
    let name = e.get("serviceName").and_then(Value::as_str).map(str::to_string);
    let ip = e.get("ipv4").or_else(|| e.get("ipv6")).and_then(Value::as_str).map(str::to_string);
    let port = e.get("port").and_then(Value::as_i64);
    (name, ip, port)
}

/// Converts one Zipkin v2 span.
pub fn span_from_json(v: &Value) -> Result<Span, String> {
    let o = v.as_object().ok_or("expected a JSON object")?;
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let trace_id =
        TraceId::from_hex_lenient(s("traceId").ok_or("traceId is required")?).map_err(|e| e.to_string())?;
    let span_id = SpanId::from_hex(s("id").ok_or("id is required")?).map_err(|e| e.to_string())?;
    let parent_span_id =
        s("parentId").map(SpanId::from_hex).transpose().map_err(|e| format!("parentId: {e}"))?;
    let ts = o.get("timestamp").and_then(Value::as_i64).ok_or("timestamp is required (microseconds)")?;
    let dur = o.get("duration").and_then(Value::as_i64).unwrap_or(0);
    let kind = match s("kind").unwrap_or("") {
        "SERVER" => SpanKind::Server,
        "CLIENT" => SpanKind::Client,
        "PRODUCER" => SpanKind::Producer,
        "CONSUMER" => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    };
    let (svc, ip, port) = endpoint(o.get("localEndpoint"));
    let mut res = Attributes::new();
    res.insert("service.name".into(), svc.unwrap_or_else(|| "unknown_service".into()).into());
    if let Some(ip) = &ip {
        let inst = match port {
            Some(p) => format!("{ip}:{p}"),
            None => ip.clone(),
        };
        res.insert("service.instance.id".into(), inst.into());
    }
    let mut attrs = Attributes::new();
    let (rsvc, rip, rport) = endpoint(o.get("remoteEndpoint"));
    if let Some(x) = rsvc {
        attrs.insert("peer.service".into(), x.into());
    }
    if let Some(x) = rip {
        attrs.insert("network.peer.address".into(), x.into());
    }
    if let Some(x) = rport {
        attrs.insert("network.peer.port".into(), x.into());
    }
    let mut status = (StatusCode::Unset, String::new());
    if let Some(Value::Object(tags)) = o.get("tags") {
        for (k, v) in tags {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if k == "error" {
                status = (StatusCode::Error, text.clone());
            }
            attrs.insert(k.clone(), text.into());
        }
    }
    let events = match o.get("annotations") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|an| SpanEvent {
                time_unix_nano: an.get("timestamp").and_then(Value::as_i64).unwrap_or(ts) * 1000,
                name: an.get("value").and_then(Value::as_str).unwrap_or("").to_string(),
                attributes: Attributes::new(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: String::new(),
        flags: 0,
        name: s("name").unwrap_or("").to_string(),
        kind,
        start_unix_nano: ts.saturating_mul(1000),
        end_unix_nano: ts.saturating_add(dur).saturating_mul(1000),
        status_code: status.0,
        status_message: status.1,
        attributes: attrs,
        events,
        links: vec![],
        resource: std::sync::Arc::new(ResourceInfo::from_attributes(res)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_a_zipkin_span() {
        let v = json!([{"traceId": "86154a4ba6e91385", "id": "4d1e00c0db9010db", "parentId": "86154a4ba6e91385",
            "kind": "CLIENT", "name": "get /api", "timestamp": 1700000000000000i64, "duration": 1500,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080},
            "remoteEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000},
            "tags": {"http.status_code": "500", "error": "boom"}, "annotations": [{"timestamp": 1700000000000100i64, "value": "retry"}]}]);
        assert!(looks_like_zipkin(&v));
        let s = span_from_json(&v[0]).unwrap();
        assert_eq!(s.trace_id.to_hex(), "000000000000000086154a4ba6e91385");
        assert_eq!(s.kind, SpanKind::Client);
        assert_eq!(s.duration_ns(), 1_500_000);
        assert_eq!(s.status_code, StatusCode::Error);
        assert_eq!(s.resource.instance.as_deref(), Some("10.0.0.1:8080"));
        assert_eq!(s.attributes["peer.service"], "backend");
        assert_eq!(s.events[0].name, "retry");
        assert!(span_from_json(&json!({"traceId": "zz", "id": "1"})).is_err());
    }
}

//! Joining logs to traces by correlation ids.
//!
//! Many log lines carry no trace id: services log before tracing was added, proxies and batch jobs
//! log on their own, and structured loggers write a request id instead. When a span of a trace
//! carries the same request or correlation id (as an attribute), the log line belongs to that
//! trace. The ids are read from the log's attributes, from the fields of a JSON body, from
//! `key=value` pairs in a text body whose key names a correlation id, and from UUIDs in the body.

use serde_json::{Map, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Change events from JSON, in the shape `POST /api/v1/changes` and `faultline import` take:
//!
//! ```json
//! {"id": "lb-config-v2.3.5", "time": "2026-11-13T08:00:00Z", "service": "inventory",
//!  "instance": "192.168.1.45:8080", "kind": "config", "version_before": "v2.3.4",
//!  "version_after": "v2.3.5", "description": "load balancer config v2.3.5",
//!  "author": "ops", "link": "https://...", "attributes": {"pool": "inventory"}}
//! ```
//!
//! `time` is RFC 3339, unix seconds, or unix nanoseconds (`time_unix_nano`); `at` and `timestamp` are
//! accepted for it. Only `service` is required; `id` defaults to `<service>-<kind>-<unix seconds>`,
//! `time` to now, `kind` to `other`.

use faultline_model::{Attributes, ChangeEvent, ChangeKind};
use serde_json::Value;

fn text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Reads the time of a record from the usual keys; `Ok(None)` when absent.
pub fn time_of(v: &Value, keys: &[&str]) -> Result<Option<i64>, String> {
    for k in keys {
        let Some(t) = v.get(*k) else { continue };
        return match t {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(0.0);
                // Seconds, milliseconds, microseconds or nanoseconds, by magnitude.
                Ok(Some(if f > 1e17 {
                    f as i64
                } else if f > 1e14 {
                    (f * 1e3) as i64
                } else if f > 1e11 {
                    (f * 1e6) as i64
                } else {
                    (f * 1e9) as i64
                }))
            }
            Value::String(s) => {
                faultline_model::time::parse_time_ns(s, faultline_model::time::now_ns()).map(Some).or_else(
                    |_| parse_loose_time(s).map(Some).ok_or_else(|| format!("{k}: cannot read time {s:?}")),
                )
            }
            _ => Err(format!("{k}: expected a time, got {t}")),
        };
    }
    Ok(None)
}

/// Times as logs write them: `2026-11-13 08:00:00,123`, `2026-11-13T08:00:00.123` (no zone: UTC).
pub fn parse_loose_time(s: &str) -> Option<i64> {
    let s = s.trim().replace(',', ".");
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(&s, fmt) {
            return dt.timestamp_nanos_opt();
        }
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(&s, fmt) {
            return dt.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

/// Reads one change event.
pub fn from_json(v: &Value, now_ns: i64) -> Result<ChangeEvent, String> {
    if !v.is_object() {
        return Err("expected a JSON object".into());
    }
    let service = text(v, &["service", "service.name", "service_name"]).ok_or("service is required")?;
    let time = match v.get("time_unix_nano").and_then(|t| t.as_i64().or_else(|| t.as_str()?.parse().ok())) {
        Some(t) => t,
        None => time_of(v, &["time", "at", "timestamp"])?.unwrap_or(now_ns),
    };
    let kind = match text(v, &["kind", "type"]) {
        None => ChangeKind::Other,
        Some(k) => ChangeKind::parse(&k).ok_or_else(|| {
            format!("kind {k:?} is not one of deploy, config, infra, feature_flag, dependency, scale, other")
        })?,
    };
    let attributes: Attributes = match v.get("attributes") {
        None | Some(Value::Null) => Attributes::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Err(format!("attributes: expected an object, got {other}")),
    };
    Ok(ChangeEvent {
        id: text(v, &["id", "change_id"])
            .unwrap_or_else(|| format!("{service}-{}-{}", kind.as_str(), time / 1_000_000_000)),
        time_unix_nano: time,
        service,
        instance: text(v, &["instance", "host", "host.name"]),
        kind,
        version_before: text(v, &["version_before", "from_version", "previous_version"]),
        version_after: text(v, &["version_after", "to_version", "version"]),
        description: text(v, &["description", "message", "summary"]).unwrap_or_default(),
        author: text(v, &["author", "user"]),
        link: text(v, &["link", "url"]),
        attributes,
    })
}

/// Whether a JSON object looks like a change event rather than a log line.
pub fn looks_like_change(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    (o.contains_key("service") || o.contains_key("service_name"))
        && o.get("kind").and_then(Value::as_str).is_some_and(|k| ChangeKind::parse(k).is_some())
        && !o.contains_key("message")
        && !o.contains_key("msg")
        && !o.contains_key("level")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_change_events() {
        let c = from_json(
            &json!({"id": "lb-config-v2.3.5", "time": "2026-11-13T08:00:00Z", "service": "inventory", "kind": "config", "version_after": "v2.3.5"}),
            0,
        )
        .unwrap();
        assert_eq!(c.kind, ChangeKind::Config);
        assert_eq!(faultline_model::time::format_rfc3339(c.time_unix_nano), "2026-11-13T08:00:00Z");
        assert!(from_json(&json!({"kind": "config"}), 0).unwrap_err().contains("service"));
        assert!(from_json(&json!({"service": "a", "kind": "reboot"}), 0).unwrap_err().contains("kind"));
        assert_eq!(
            from_json(&json!({"service": "a", "time": 1700000000}), 0).unwrap().time_unix_nano,
            1_700_000_000_000_000_000
        );
    }
}

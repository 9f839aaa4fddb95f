//! Log lines that are not OTLP: JSON lines with the usual keys, and plain text (with its timestamp
//! and level detected).

use crate::changes::{parse_loose_time, time_of};
use faultline_model::log::{severity_from_text, severity_text_of};
use faultline_model::{Attributes, LogRecord, ResourceInfo, SpanId, TraceId};
use serde_json::Value;

const TIME_KEYS: &[&str] = &["time", "timestamp", "ts", "@timestamp", "date", "datetime", "t"];
const LEVEL_KEYS: &[&str] =
    &["level", "severity", "lvl", "loglevel", "log.level", "levelname", "severity_text"];
const MESSAGE_KEYS: &[&str] = &["message", "msg", "log", "body", "text", "event"];
const TRACE_KEYS: &[&str] =
    &["trace_id", "traceId", "traceid", "trace.id", "dd.trace_id", "logging.googleapis.com/trace"];
const SPAN_KEYS: &[&str] = &["span_id", "spanId", "spanid", "span.id", "dd.span_id"];
const SERVICE_KEYS: &[&str] =
    &["service", "service.name", "service_name", "app", "application", "logger_service"];

fn take_str(o: &mut serde_json::Map<String, Value>, keys: &[&str]) -> Option<String> {
    for k in keys {
        if let Some(v) = o.remove(*k) {
            return Some(match v {
                Value::String(s) => s,
                other => other.to_string(),
            });
        }
    }
    None
}

fn resource(service: &str, host: Option<String>) -> std::sync::Arc<ResourceInfo> {
    let mut attrs = Attributes::new();
    attrs.insert("service.name".into(), Value::String(service.to_string()));
    if let Some(h) = host {
        attrs.insert("host.name".into(), Value::String(h));
    }
    std::sync::Arc::new(ResourceInfo::from_attributes(attrs))
}

/// One JSON log line (`{"time": ..., "level": "error", "msg": ..., "trace_id": ...}`).
pub fn from_json_line(v: Value, default_service: &str, now_ns: i64) -> Result<LogRecord, String> {
    let Value::Object(mut o) = v else {
        return Err("expected a JSON object".into());
    };
    let time = time_of(&Value::Object(o.clone()), TIME_KEYS)?.unwrap_or(0);
    for k in TIME_KEYS {
        o.remove(*k);
    }
    let level = take_str(&mut o, LEVEL_KEYS).unwrap_or_default();
    let body = take_str(&mut o, MESSAGE_KEYS).unwrap_or_default();
    let trace_id = take_str(&mut o, TRACE_KEYS).and_then(|t| TraceId::from_hex_lenient(&t).ok());
    let span_id = take_str(&mut o, SPAN_KEYS).and_then(|s| SpanId::from_hex(&s).ok());
    let service = take_str(&mut o, SERVICE_KEYS).unwrap_or_else(|| default_service.to_string());
    let host = take_str(&mut o, &["host", "hostname", "host.name", "instance", "pod"]);
    let severity_number = severity_from_text(&level);
    Ok(LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: now_ns,
        severity_number,
        severity_text: level,
        body,
        attributes: o,
        trace_id,
        span_id,
        flags: 0,
        event_name: String::new(),
        resource: resource(&service, host),
    })
}

/// Finds a timestamp at the start of a plain-text line; returns it and the rest of the line.
fn leading_time(line: &str) -> Option<(i64, &str)> {
    // Try the longest prefixes that form a time: "2026-11-13 08:00:00,123", "2026-11-13T08:00:00Z", ...
    let trimmed = line.trim_start_matches('[');
    let bytes = trimmed.as_bytes();
    if bytes.len() >= 10 && bytes[4] == b'-' && bytes[7] == b'-' {
        let mut best = None;
        for end in (10..=trimmed.len().min(35)).rev() {
            if !trimmed.is_char_boundary(end) {
                continue;
            }
            let cand = &trimmed[..end];
            if let Ok(t) = faultline_model::time::parse_time_ns(cand, 0) {
                best = Some((t, end));
                break;
            }
            if let Some(t) = parse_loose_time(cand) {
                best = Some((t, end));
                break;
            }
        }
        if let Some((t, end)) = best {
            return Some((t, trimmed[end..].trim_start_matches(']').trim_start()));
        }
    }
    None
}

/// The level written inside a plain-text line (`faultline_model::log::severity_in_text`): its
/// severity number and canonical text, `(0, "")` when it names none.
pub fn detect_level(line: &str) -> (i32, String) {
    let n = faultline_model::log::severity_in_text(line);
    (n, severity_text_of(n).to_string())
}

/// Most bytes one record joined from several lines holds: a stack trace of hundreds of frames fits;
/// past it a line starts a record of its own, so a file of untimed lines after one timed line never
/// becomes one unbounded record.
const MAX_JOINED_BYTES: usize = 64 * 1024;

/// Joins a record written over several lines (a stack trace: `\tat ...`, `Caused by: ...`,
/// `Traceback ...`, `  File ...`, a Go panic's goroutines) to its first line, as log shippers'
/// multiline rules do: a line without a leading time continues the record before it when that one
/// had a time, or when it is indented or a `Caused by:` / `...` line. The record keeps its first
/// line's time, level and ids; the error words of its continuation still read as an error.
#[derive(Debug, Default)]
pub struct Joiner {
    pending: Option<LogRecord>,
}

impl Joiner {
    /// Takes one plain-text line; returns the record before it once this line starts a new one.
    pub fn push(&mut self, line: &str, service: &str, now_ns: i64) -> Option<LogRecord> {
        if let Some(p) = self.pending.as_mut() {
            let untimed = leading_time(line).is_none();
            let indented =
                line.starts_with([' ', '\t']) || line.starts_with("Caused by:") || line.starts_with("...");
            if untimed && (p.time_unix_nano != 0 || indented) && p.body.len() + line.len() < MAX_JOINED_BYTES
            {
                p.body.push('\n');
                p.body.push_str(line);
                return None;
            }
        }
        self.pending.replace(from_text_line(line, service, now_ns))
    }

    /// The last record, once the input ends (or before a record of another kind).
    pub fn finish(&mut self) -> Option<LogRecord> {
        self.pending.take()
    }
}

/// One plain-text log line.
pub fn from_text_line(line: &str, service: &str, now_ns: i64) -> LogRecord {
    let (time, rest) = leading_time(line).unwrap_or((0, line));
    let (severity_number, severity_text) = detect_level(line);
    let (trace_id, span_id) = faultline_model::ids::ids_in_text(rest);
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: now_ns,
        severity_number,
        severity_text,
        body: line.to_string(),
        attributes: Attributes::new(),
        trace_id,
        span_id,
        flags: 0,
        event_name: String::new(),
        resource: resource(service, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_lines() {
        let l = from_json_line(
            json!({"ts": "2026-11-13T08:00:00.5Z", "level": "ERROR", "msg": "invalid response from server", "trace_id": "5b8efff798038103d269b633813fc60c", "peer": "10.0.0.1"}),
            "app",
            1,
        )
        .unwrap();
        assert_eq!(l.severity_number, 17);
        assert_eq!(l.body, "invalid response from server");
        assert!(l.trace_id.is_some());
        assert_eq!(l.attributes["peer"], "10.0.0.1");
        assert_eq!(l.resource.service_name, "app");
    }

    #[test]
    fn a_stack_trace_joins_its_first_line() {
        let text = "2026-12-07 10:00:00,001 ERROR [main] c.e.Svc - order failed
java.lang.IllegalStateException: no stock
\tat c.e.Svc.order(Svc.java:42)
\tat c.e.Api.handle(Api.java:7)
Caused by: java.io.IOException: reset
\t... 12 more
2026-12-07 10:00:01,000 INFO [main] c.e.Svc - next request
Traceback (most recent call last):
  File \"app.py\", line 3, in <module>
ValueError: bad";
        let mut j = Joiner::default();
        let mut out: Vec<LogRecord> = text.lines().filter_map(|l| j.push(l, "svc", 1)).collect();
        out.extend(j.finish());
        assert_eq!(out.len(), 2, "{out:#?}");
        assert!(out[0].body.ends_with("\t... 12 more") && out[0].severity_number == 17);
        assert!(
            out[1].body.starts_with("2026-12-07 10:00:01,000 INFO")
                && out[1].body.ends_with("ValueError: bad")
        );
        // Untimed lines are records of their own when nothing timed came before them.
        let mut j = Joiner::default();
        let out: Vec<LogRecord> = ["first", "second"].iter().filter_map(|l| j.push(l, "svc", 1)).collect();
        assert_eq!((out.len(), j.finish().map(|l| l.body)), (1, Some("second".to_string())));
    }

    #[test]
    fn a_joined_record_is_bounded() {
        let mut j = Joiner::default();
        let mut n = 0;
        n += j.push("2026-12-07 10:00:00 ERROR boom", "svc", 1).is_some() as usize;
        for _ in 0..10_000 {
            n += j.push("\tat c.e.Svc.order(Svc.java:42)", "svc", 1).is_some() as usize;
        }
        assert!(n >= 4, "{n} records");
    }

    #[test]
    fn text_lines() {
        let l = from_text_line("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop: started", "hadoop", 1);
        assert_eq!(l.severity_number, 9);
        assert_eq!(faultline_model::time::format_rfc3339(l.time_unix_nano), "2015-10-18T18:01:47.978Z");
        let l = from_text_line("connection timeout talking to db", "x", 1);
        assert_eq!(l.time_unix_nano, 0);
        assert_eq!(l.severity_number, 0);
        assert_eq!(l.trace_id, None);
        let java = "2022-08-23 05:18:42.995 ERROR c.e.OrderServiceImpl#451 TraceID: 4bf92f3577b34da6a3ce929d0e0e4736 SpanID: 00f067aa0ba902b7 [create][fail]";
        let l = from_text_line(java, "order", 1);
        assert_eq!(l.severity_number, 17);
        assert_eq!(l.trace_id.map(|t| t.to_hex()).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(l.span_id.map(|s| s.to_hex()).as_deref(), Some("00f067aa0ba902b7"));
    }
}

/// Parses a logfmt line (`time=... level=error msg="connection timeout" peer=10.0.0.1`) into
/// key-value pairs; `None` when the line is not logfmt (fewer than two pairs, or text between them).
pub fn parse_logfmt(line: &str) -> Option<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' || i == ks {
            return None;
        }
        let key = &line[ks..i];
        i += 1;
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            while i < b.len() {
                let c = line[i..].chars().next()?;
                if c == '\\' && i + 1 < b.len() {
                    let n = line[i + 1..].chars().next()?;
                    v.push(match n {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                    i += 1 + n.len_utf8();
                    continue;
                }
                if c == '"' {
                    closed = true;
                    i += 1;
                    break;
                }
                v.push(c);
                i += c.len_utf8();
            }
            if !closed {
                return None;
            }
            v
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            line[vs..i].to_string()
        };
        out.insert(key.to_string(), Value::String(value));
    }
    (out.len() >= 2).then_some(out)
}

#[cfg(test)]
mod logfmt_tests {
    use super::*;

    #[test]
    fn logfmt_lines() {
        let m = parse_logfmt(
            r#"ts=2026-11-13T08:00:00Z level=error msg="connection timeout" peer=10.0.0.1:5432"#,
        )
        .unwrap();
        assert_eq!(m["msg"], "connection timeout");
        let l = from_json_line(Value::Object(m), "db", 0).unwrap();
        assert_eq!(l.severity_number, 17);
        assert_eq!(l.body, "connection timeout");
        assert_eq!(l.attributes["peer"], "10.0.0.1:5432");
        assert!(parse_logfmt("just some words here").is_none());
        assert!(parse_logfmt("2026-11-13 08:00:00 ERROR a=b").is_none());
    }
}

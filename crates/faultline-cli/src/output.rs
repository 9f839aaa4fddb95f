//! Text renderings of API answers for the terminal.

use faultline_model::time::{format_duration, format_rfc3339};
use serde_json::Value;
use std::fmt::Write;

fn i(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A trace as an indented tree with a waterfall bar per span.
pub fn trace_tree(v: &Value) -> String {
    let spans = v
        .get("spans")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = String::new();
    if spans.is_empty() {
        return "no spans\n".into();
    }
    let start = spans
        .iter()
        .map(|sp| i(sp, "start_unix_nano"))
        .min()
        .unwrap_or(0);
    let end = spans
        .iter()
        .map(|sp| i(sp, "end_unix_nano"))
        .max()
        .unwrap_or(start);
    let total = (end - start).max(1);
    let _ = writeln!(
        out,
        "trace {}  {}  {}  {} spans",
        s(v, "trace_id"),
        format_rfc3339(start),
        format_duration(total),
        spans.len()
    );
    const W: i64 = 30;
    let label_w = spans
        .iter()
        .map(|sp| {
            i(sp, "depth") as usize * 2 + s(sp, "service_name").len() + s(sp, "name").len() + 1
        })
        .max()
        .unwrap_or(0)
        .min(70);
    for sp in &spans {
        let depth = i(sp, "depth") as usize;
        let label = format!(
            "{}{} {}",
            "  ".repeat(depth),
            s(sp, "service_name"),
            s(sp, "name")
        );
        let label: String = label.chars().take(70).collect();
        let (a, b) = (
            i(sp, "start_unix_nano") - start,
            i(sp, "end_unix_nano") - start,
        );
        let from = (a * W / total).clamp(0, W - 1);
        let to = ((b * W + total - 1) / total).clamp(from + 1, W);
        let bar: String = (0..W)
            .map(|x| if x >= from && x < to { '█' } else { '·' })
            .collect();
        let status = match s(sp, "status_code") {
            "error" => " ERROR",
            _ => "",
        };
        let orphan = if sp.get("orphan").and_then(Value::as_bool) == Some(true) {
            " (parent missing)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{label:<label_w$}  {bar}  {:>9}{status}{orphan}",
            format_duration(b - a),
        );
    }
    out
}

/// Trace search results as a table.
pub fn trace_list(v: &Value) -> String {
    let traces = v
        .get("traces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if traces.is_empty() {
        return "no matching traces\n".into();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32}  {:<24}  {:>9}  {:>5}  {:>6}  ROOT",
        "TRACE", "START", "DURATION", "SPANS", "ERRORS"
    );
    for t in traces {
        let _ = writeln!(
            out,
            "{:<32}  {:<24}  {:>9}  {:>5}  {:>6}  {} {}",
            s(&t, "trace_id"),
            format_rfc3339(i(&t, "start_unix_nano")),
            format_duration(i(&t, "duration_ns")),
            i(&t, "span_count"),
            i(&t, "error_count"),
            s(&t, "root_service"),
            s(&t, "root_name"),
        );
    }
    out
}

/// Log records, one line each.
pub fn log_list(v: &Value) -> String {
    let logs = v
        .get("logs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = String::new();
    for l in &logs {
        let sev = match s(l, "severity_text") {
            "" => faultline_model::log::severity_text_of(i(l, "severity_number") as i32),
            t => t,
        };
        let trace = l
            .get("trace_id")
            .and_then(Value::as_str)
            .map(|t| format!(" trace={t}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {:<5} {}: {}{}",
            format_rfc3339(i(l, "time_unix_nano")),
            sev,
            s(l, "service_name"),
            s(l, "body").replace('\n', "\\n"),
            trace
        );
    }
    let total = i(v, "total") as usize;
    if total > logs.len() {
        let _ = writeln!(
            out,
            "({} of {total} shown; use --limit for more)",
            logs.len()
        );
    } else if logs.is_empty() {
        out.push_str("no matching log records\n");
    }
    out
}

pub fn change_list(v: &Value) -> String {
    let changes = v
        .get("changes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if changes.is_empty() {
        return "no change events\n".into();
    }
    let mut out = String::new();
    for c in changes {
        let versions = match (
            c.get("version_before").and_then(Value::as_str),
            c.get("version_after").and_then(Value::as_str),
        ) {
            (Some(a), Some(b)) => format!(" {a} -> {b}"),
            (None, Some(b)) => format!(" -> {b}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{}  {:<12} {:<20} {}{}  {}",
            format_rfc3339(i(&c, "time_unix_nano")),
            s(&c, "kind"),
            s(&c, "service"),
            s(&c, "id"),
            versions,
            s(&c, "description")
        );
    }
    out
}

pub fn status(v: &Value) -> String {
    let mut out = String::new();
    if let Some(tables) = v.get("tables").and_then(Value::as_object) {
        for (name, t) in tables {
            let range = match (
                t.get("min_time").and_then(Value::as_i64),
                t.get("max_time").and_then(Value::as_i64),
            ) {
                (Some(a), Some(b)) => format!("{} .. {}", format_rfc3339(a), format_rfc3339(b)),
                _ => "-".into(),
            };
            let _ = writeln!(out, "{name:<8} {:>12} rows  {range}", i(t, "rows"));
        }
    }
    let _ = writeln!(
        out,
        "segments: {} ({:.1} MiB), in memory: {} rows",
        i(v, "segments"),
        i(v, "segment_bytes") as f64 / 1048576.0,
        i(v, "head_rows")
    );
    out
}

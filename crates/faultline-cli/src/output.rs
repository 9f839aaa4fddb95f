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
    let spans = v.get("spans").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = String::new();
    if spans.is_empty() {
        return "no spans\n".into();
    }
    let start = spans.iter().map(|sp| i(sp, "start_unix_nano")).min().unwrap_or(0);
    let end = spans.iter().map(|sp| i(sp, "end_unix_nano")).max().unwrap_or(start);
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
        .map(|sp| i(sp, "depth") as usize * 2 + s(sp, "service_name").len() + s(sp, "name").len() + 1)
        .max()
        .unwrap_or(0)
        .min(70);
    for sp in &spans {
        let depth = i(sp, "depth") as usize;
        let label = format!("{}{} {}", "  ".repeat(depth), s(sp, "service_name"), s(sp, "name"));
        let label: String = label.chars().take(70).collect();
        let (a, b) = (i(sp, "start_unix_nano") - start, i(sp, "end_unix_nano") - start);
        let from = (a * W / total).clamp(0, W - 1);
        let to = ((b * W + total - 1) / total).clamp(from + 1, W);
        let bar: String = (0..W).map(|x| if x >= from && x < to { '█' } else { '·' }).collect();
        let status = match s(sp, "status_code") {
            "error" => " ERROR",
            _ => "",
        };
        let orphan =
            if sp.get("orphan").and_then(Value::as_bool) == Some(true) { " (parent missing)" } else { "" };
        let _ = writeln!(out, "{label:<label_w$}  {bar}  {:>9}{status}{orphan}", format_duration(b - a),);
    }
    for c in v.get("clock_corrections").and_then(Value::as_array).into_iter().flatten() {
        let off = i(c, "offset_ns");
        let _ = writeln!(
            out,
            "clock of {} ({}) corrected: its spans moved {} {} (+/- {}, from {} span pairs)",
            s(c, "instance"),
            s(c, "service"),
            format_duration(off.abs()),
            if off > 0 { "earlier" } else { "later" },
            format_duration(i(c, "ci_ns").max(1)),
            i(c, "pairs")
        );
    }
    out
}

/// Trace search results as a table.
pub fn trace_list(v: &Value) -> String {
    let traces = v.get("traces").and_then(Value::as_array).cloned().unwrap_or_default();
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
    let logs = v.get("logs").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = String::new();
    for l in &logs {
        let sev = match s(l, "severity_text") {
            "" => faultline_model::log::severity_text_of(i(l, "severity_number") as i32),
            t => t,
        };
        let trace =
            l.get("trace_id").and_then(Value::as_str).map(|t| format!(" trace={t}")).unwrap_or_default();
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
        let _ = writeln!(out, "({} of {total} shown; use --limit for more)", logs.len());
    } else if logs.is_empty() {
        out.push_str("no matching log records\n");
    }
    out
}

pub fn change_list(v: &Value) -> String {
    let changes = v.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
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
    if let Some(q) = v.get("quarantined").and_then(Value::as_array).filter(|q| !q.is_empty()) {
        let _ = writeln!(
            out,
            "quarantined: {} unreadable segment(s), moved aside and no longer read (the rest is queryable):",
            q.len()
        );
        for p in q {
            let _ = writeln!(out, "  {}", p.as_str().unwrap_or("?"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trace() -> Value {
        json!({"trace_id": "5b8efff798038103d269b633813fc60c", "spans": [
            {"depth": 0, "orphan": false, "service_name": "frontend", "name": "GET /api/cart", "status_code": "unset",
             "start_unix_nano": 1_763_020_800_000_000_000i64, "end_unix_nano": 1_763_020_800_120_000_000i64},
            {"depth": 1, "orphan": false, "service_name": "cart", "name": "GetCart", "status_code": "unset",
             "start_unix_nano": 1_763_020_800_010_000_000i64, "end_unix_nano": 1_763_020_800_100_000_000i64},
            {"depth": 2, "orphan": false, "service_name": "redis", "name": "HGET", "status_code": "error",
             "start_unix_nano": 1_763_020_800_020_000_000i64, "end_unix_nano": 1_763_020_800_095_000_000i64},
            {"depth": 0, "orphan": true, "service_name": "audit", "name": "record", "status_code": "ok",
             "start_unix_nano": 1_763_020_800_100_000_000i64, "end_unix_nano": 1_763_020_800_110_000_000i64}
        ]})
    }

    #[test]
    fn trace_tree_text() {
        insta::assert_snapshot!(trace_tree(&trace()));
    }

    #[test]
    fn trace_list_text() {
        let v = json!({"traces": [{"trace_id": "5b8efff798038103d269b633813fc60c", "start_unix_nano": 1_763_020_800_000_000_000i64,
            "duration_ns": 120_000_000, "span_count": 4, "error_count": 1, "root_service": "frontend", "root_name": "GET /api/cart"}]});
        insta::assert_snapshot!(trace_list(&v));
        assert_eq!(trace_list(&json!({"traces": []})), "no matching traces\n");
    }

    #[test]
    fn log_and_change_lists() {
        let logs = json!({"total": 3, "logs": [
            {"time_unix_nano": 1_763_020_800_000_000_000i64, "severity_number": 17, "severity_text": "", "service_name": "cart",
             "body": "invalid response from server\nretrying", "trace_id": "5b8efff798038103d269b633813fc60c"},
            {"time_unix_nano": 1_763_020_801_000_000_000i64, "severity_number": 0, "severity_text": "", "service_name": "cart", "body": "ok"}]});
        insta::assert_snapshot!(log_list(&logs));
        let changes = json!({"changes": [{"time_unix_nano": 1_763_020_800_000_000_000i64, "kind": "config", "service": "inventory",
            "id": "lb-config-v2.3.5", "version_before": "v2.3.4", "version_after": "v2.3.5", "description": "load balancer config"}]});
        insta::assert_snapshot!(change_list(&changes));
    }

    #[test]
    fn help_text() {
        use clap::CommandFactory;
        let mut cmd = crate::Cli::command();
        insta::assert_snapshot!(cmd.render_help().to_string());
        let serve = cmd.find_subcommand_mut("serve").expect("serve exists");
        insta::assert_snapshot!(serve.render_help().to_string());
    }
}

//! The report as a blameless post-mortem draft in Markdown, with SVG charts of the key series that
//! mark the onset and the changes.

use crate::report::{Report, Series};
use faultline_model::time::parse_time_ns;
use std::fmt::Write;

/// A chart of one series as a standalone SVG document. `marks` are (time, label, colour).
pub fn svg_chart(s: &Series, title: &str, unit: &str, marks: &[(i64, String, &str)]) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 220.0, 56.0, 16.0, 28.0, 34.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let start = parse_time_ns(&s.start, 0).unwrap_or(0);
    let step = (s.step_seconds * 1e9) as i64;
    let end = start + step * s.values.len().max(1) as i64;
    let max = s.values.iter().copied().fold(0.0f64, f64::max);
    let max = if max <= 0.0 { 1.0 } else { max * 1.1 };
    let x = |t: i64| left + pw * (t - start) as f64 / (end - start).max(1) as f64;
    let y = |v: f64| top + ph * (1.0 - v / max);
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"##
    );
    let _ = write!(o, r##"<rect width="{w}" height="{h}" fill="#fff"/>"##);
    let _ = write!(o, r##"<text x="{left}" y="16" font-size="13" font-weight="bold">{}</text>"##, esc(title));
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let yy = y(v);
        let _ = write!(
            o,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0,
            fmt_val(v, unit)
        );
    }
    let label = |t: i64| faultline_model::time::format_rfc3339_secs(t).get(11..16).unwrap_or("").to_string();
    for k in 0..=6 {
        let t = start + (end - start) * k / 6;
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            x(t),
            h - 12.0,
            label(t)
        );
    }
    let pts: Vec<String> = s
        .values
        .iter()
        .enumerate()
        .map(|(k, v)| format!("{:.1},{:.1}", x(start + step * k as i64 + step / 2), y(*v)))
        .collect();
    let _ = write!(
        o,
        r##"<polyline fill="none" stroke="#1f6feb" stroke-width="1.8" points="{}"/>"##,
        pts.join(" ")
    );
    for (k, (t, text, colour)) in marks.iter().enumerate() {
        if *t < start || *t > end {
            continue;
        }
        let xx = x(*t);
        let _ = write!(
            o,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{}" stroke="{colour}" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"##,
            top + ph,
            xx + 3.0,
            top + 10.0 + 12.0 * (k % 3) as f64,
            esc(text)
        );
    }
    o.push_str("</svg>\n");
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn fmt_val(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{:.0}%", v * 100.0),
        "ms" if v >= 1000.0 => format!("{:.1} s", v / 1000.0),
        "ms" => format!("{v:.0} ms"),
        _ => format!("{v:.1}"),
    }
}

/// The charts of a report: (file name, title, SVG).
pub fn charts(r: &Report) -> Vec<(String, String, String)> {
    let mut marks: Vec<(i64, String, &str)> = Vec::new();
    if let Some(on) = r.symptom.onset.as_deref().and_then(|s| parse_time_ns(s, 0).ok()) {
        marks.push((on, "onset".into(), "#d1242f"));
    }
    for t in r.timeline.iter().filter(|t| t.signal == "changes") {
        if let Ok(at) = parse_time_ns(&t.at, 0) {
            let id = t.text.split_whitespace().next().unwrap_or("change").to_string();
            marks.push((at, id, "#bc4c00"));
        }
    }
    let mut out = Vec::new();
    for (s, file, unit) in r.series.iter().filter_map(|s| {
        if s.name.starts_with("error rate") {
            Some((s, "error-rate.svg", "%"))
        } else if s.name.starts_with("p99") {
            Some((s, "latency-p99.svg", "ms"))
        } else {
            None
        }
    }) {
        let title = s.name.replace("p99 ms", "p99 latency");
        out.push((file.to_string(), title.clone(), svg_chart(s, &title, unit, &marks)));
    }
    out
}

/// The post-mortem draft. `chart_ref(file, svg)` gives the image link for a chart (a file next to
/// the Markdown, or a data URI).
pub fn render_markdown(r: &Report, chart_ref: &dyn Fn(&str, &str) -> String) -> String {
    let mut o = String::new();
    let top = r.root_causes.first();
    let title = match top {
        Some(c) if r.incident => format!("Post-mortem: {}", c.summary),
        _ => "Investigation: no incident found".to_string(),
    };
    let _ = writeln!(o, "# {title}\n");
    let _ = writeln!(o, "*Draft written by faultline from the telemetry; blameless. Edit before sharing.*\n");
    let _ = writeln!(o, "## Summary\n\n{}\n", r.symptom.summary);
    if let Some(c) = top.filter(|_| r.incident) {
        let _ = writeln!(
            o,
            "Most likely root cause: **{}** ({}; confidence {:.2}).\n",
            who(c),
            crate::pattern::joined(&c.patterns),
            c.confidence
        );
    }
    let _ = writeln!(o, "## Impact\n");
    let _ = writeln!(
        o,
        "Window {} to {} (baseline {} to {}).\n",
        r.window.from, r.window.to, r.baseline.from, r.baseline.to
    );
    if !r.symptom.affected.is_empty() {
        let _ = writeln!(
            o,
            "| Endpoint | Error rate before | during | p99 before | during | Requests/s before | during |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
        for a in &r.symptom.affected {
            let _ = writeln!(
                o,
                "| {} {} | {:.2}% | {:.2}% | {:.0} ms | {:.0} ms | {:.1} | {:.1} |",
                a.service,
                a.operation,
                a.error_rate.baseline * 100.0,
                a.error_rate.incident * 100.0,
                a.latency_p99_ms.baseline,
                a.latency_p99_ms.incident,
                a.requests.baseline,
                a.requests.incident
            );
        }
        o.push('\n');
    }
    for (file, title, svg) in charts(r) {
        let _ = writeln!(o, "![{title}]({})\n", chart_ref(&file, &svg));
    }
    let _ = writeln!(o, "## Timeline (UTC)\n");
    for t in &r.timeline {
        let _ = writeln!(o, "- **{}** ({}) {}", t.at, t.signal, t.text);
    }
    let _ = writeln!(o, "\n## Root cause\n");
    if r.root_causes.is_empty() {
        let _ = writeln!(o, "None found.");
    }
    for c in &r.root_causes {
        let _ = writeln!(
            o,
            "### {}. {} — {} (confidence {:.2})\n",
            c.rank,
            who(c),
            crate::pattern::joined(&c.patterns),
            c.confidence
        );
        let _ = writeln!(o, "{}\n", c.summary);
        if let Some(ch) = &c.change {
            let _ = writeln!(o, "Change: `{}` ({}, {}): {}\n", ch.id, ch.kind, ch.at, ch.description);
        }
        let _ = writeln!(o, "Evidence:\n");
        for e in &c.evidence {
            let refs: Vec<String> = e
                .refs
                .iter()
                .filter(|r| !crate::evidence::is_metric_ref(r))
                .take(3)
                .map(|r| format!("`{r}`"))
                .collect();
            let refs = if refs.is_empty() { String::new() } else { format!(" (e.g. {})", refs.join(", ")) };
            let _ = writeln!(o, "- *{}*: {}{refs}", e.signal, e.text);
        }
        o.push('\n');
    }
    if !r.propagation.is_empty() {
        let _ = writeln!(o, "## How it spread\n");
        for p in &r.propagation {
            let _ = writeln!(o, "- {}", p.join(" → "));
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Contributing factors\n");
    if r.findings.is_empty() && r.correlated_metrics.is_empty() {
        let _ = writeln!(o, "None found in the telemetry.");
    }
    for f in &r.findings {
        let _ = writeln!(o, "- {} ({})", f.text, f.pattern);
    }
    for m in r.correlated_metrics.iter().take(5) {
        let lead = m.lead_seconds.map(|s| format!(", {s:+.0} s from the onset")).unwrap_or_default();
        let _ = writeln!(
            o,
            "- {} of {} moved from {:.3} to {:.3}{lead}",
            m.metric,
            m.instance.as_deref().unwrap_or(&m.service),
            m.baseline,
            m.incident
        );
    }
    let _ = writeln!(o, "\n## Action items\n");
    if r.suggested_actions.is_empty() {
        let _ = writeln!(o, "- [ ] None suggested.");
    }
    for a in &r.suggested_actions {
        let _ = writeln!(o, "- [ ] {a}");
    }
    let _ = writeln!(o, "- [ ] Add an alert on the symptom that would have caught this sooner");
    o
}

fn who(c: &crate::report::RootCause) -> String {
    let mut s = c.service.clone();
    if let Some(i) = &c.instance {
        s.push_str(&format!(" ({i})"));
    }
    if let Some(op) = &c.operation {
        s.push_str(&format!(", operation {op}"));
    }
    s
}

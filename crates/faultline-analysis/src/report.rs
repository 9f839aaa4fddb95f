//! The investigation report: the JSON shape of ../shared/contracts/investigation.md (fields may be
//! added, never removed or renamed), and its renderings for the terminal and as Markdown.

use crate::fmt::{fmt_ms, fmt_rate};
pub use crate::pattern::{EvidenceKind, Pattern};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "faultline.investigation/v1";

fn time_comparison() -> String {
    "time".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    pub baseline: f64,
    pub incident: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    pub service: String,
    pub operation: String,
    pub error_rate: BeforeAfter,
    pub latency_p99_ms: BeforeAfter,
    #[serde(default)]
    pub requests: BeforeAfter,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Symptom {
    pub summary: String,
    pub onset: Option<String>,
    pub affected: Vec<Affected>,
    /// `worsening`, `steady`, `recovering` or `recovered`.
    #[serde(default)]
    pub trend: Option<String>,
    /// When the symptom ended, if it did within the window.
    #[serde(default)]
    pub end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRef {
    pub id: String,
    pub kind: String,
    pub at: String,
    pub description: String,
    #[serde(default)]
    pub service: Option<String>,
}

impl ChangeRef {
    /// The report's reference to a change event.
    pub fn of(ch: &faultline_model::ChangeEvent) -> ChangeRef {
        ChangeRef {
            id: ch.id.clone(),
            kind: ch.kind.as_str().into(),
            at: faultline_model::time::format_rfc3339_secs(ch.time_unix_nano),
            description: ch.description.clone(),
            service: Some(ch.service.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub signal: EvidenceKind,
    pub text: String,
    /// Trace ids, log template ids, metric series or change ids the claim rests on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    pub rank: usize,
    pub service: String,
    pub instance: Option<String>,
    pub operation: Option<String>,
    pub change: Option<ChangeRef>,
    pub patterns: Vec<Pattern>,
    pub confidence: f64,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub pattern: Pattern,
    pub service: Option<String>,
    pub instance: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: String,
    pub signal: EvidenceKind,
    pub text: String,
}

/// A series for the charts: one value per bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub start: String,
    pub step_seconds: f64,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub window: Window,
    pub baseline: Window,
    /// What the incident was compared with: `time` (the baseline window) or `requests` (the
    /// window's other requests, when no healthy stretch of time was there; `baseline` is then the
    /// time those requests span).
    #[serde(default = "time_comparison")]
    pub comparison: String,
    pub incident: bool,
    pub symptom: Symptom,
    pub root_causes: Vec<RootCause>,
    pub findings: Vec<Finding>,
    pub propagation: Vec<Vec<String>>,
    pub suggested_actions: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
    /// The service dependency map, with each edge's rate, errors and p99 in the baseline and the
    /// incident.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<EdgeRed>,
    /// Log templates new or surging in the incident, per service (and instance), error ones first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_templates: Vec<crate::logs::TemplateChange>,
    /// What the failing (or slow) requests of the incident have in common that the others lack,
    /// strongest first (`faultline diff` over the incident window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<crate::diff::FeatureDiff>,
    /// Key series of the symptom (error rate, p99 latency of the most affected endpoint).
    #[serde(default)]
    pub series: Vec<Series>,
    /// Metrics that moved with the symptom, first movers first.
    #[serde(default)]
    pub correlated_metrics: Vec<MetricMove>,
    #[serde(default)]
    pub stats: RunStats,
    /// What the investigation had to assume or could not do (an empty baseline replaced, a window
    /// with metrics but no spans, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Rate, errors and duration of the calls on one edge in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Red {
    pub calls_per_s: f64,
    pub error_rate: f64,
    /// As the caller saw it.
    pub p99_ms: f64,
}

/// One edge of the service dependency map, in the baseline and in the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeRed {
    pub caller: String,
    pub callee: String,
    /// The callee is not instrumented: known only from its callers' spans.
    pub uninstrumented: bool,
    pub baseline: Red,
    pub incident: Red,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricMove {
    pub metric: String,
    pub service: String,
    pub instance: Option<String>,
    pub baseline: f64,
    pub incident: f64,
    /// When it moved, if it moved before or with the symptom.
    pub moved_at: Option<String>,
    /// Seconds between the metric's move and the symptom's onset (negative: it moved first).
    pub lead_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub spans: usize,
    pub logs: usize,
    pub metric_points: usize,
    pub changes: usize,
    pub elapsed_ms: f64,
    /// Log records without a trace id that joined their trace by a request or correlation id.
    #[serde(default)]
    pub logs_joined_by_id: usize,
}

/// Eight-level sparkline of a series.
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min).min(0.0);
    values
        .iter()
        .map(|v| {
            if max <= min {
                BARS[0]
            } else {
                BARS[(((v - min) / (max - min)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// Shortens RFC 3339 to the time of day when the report's window stays within one day.
fn hms(at: &str) -> &str {
    at.get(11..19).unwrap_or(at)
}

/// The report for a terminal. `color` adds ANSI colours.
pub fn render_text(r: &Report, color: bool) -> String {
    use std::fmt::Write;
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    let bold = |s: &str| paint("1", s);
    let mut o = String::new();
    let _ = writeln!(o, "{}  {} .. {}", bold("Investigation"), r.window.from, r.window.to);
    if r.comparison == "requests" {
        let _ = writeln!(
            o,
            "baseline       the window's other requests (neither failing nor slow; {} .. {})",
            r.baseline.from, r.baseline.to
        );
    } else {
        let _ = writeln!(o, "baseline       {} .. {}", r.baseline.from, r.baseline.to);
    }
    for n in &r.notes {
        let _ = writeln!(o, "{}", paint("33", &format!("note: {n}")));
    }
    if !r.incident {
        let _ = writeln!(o, "\n{}  {}", paint("32;1", "No incident"), r.symptom.summary);
    } else {
        let _ = writeln!(o, "\n{}  {}", paint("31;1", "Symptom"), r.symptom.summary);
    }
    if !r.symptom.affected.is_empty() {
        let w = r.symptom.affected.iter().map(|a| a.service.len() + a.operation.len() + 1).max().unwrap_or(0);
        let _ = writeln!(o, "  {:w$}  {:>17}  {:>21}", "endpoint", "errors", "p99");
        for a in &r.symptom.affected {
            let ep = format!("{} {}", a.service, a.operation);
            let _ = writeln!(
                o,
                "  {ep:w$}  {:>7} -> {:>6}  {:>9} -> {:>8}",
                fmt_rate(a.error_rate.baseline),
                fmt_rate(a.error_rate.incident),
                fmt_ms(a.latency_p99_ms.baseline),
                fmt_ms(a.latency_p99_ms.incident)
            );
        }
    }
    for s in &r.series {
        let _ = writeln!(o, "  {:<24} {}", s.name, sparkline(&s.values));
    }
    if !r.root_causes.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Root causes"));
    }
    for c in &r.root_causes {
        let mut who = c.service.clone();
        if let Some(i) = &c.instance {
            who.push_str(&format!(" instance {i}"));
        }
        if let Some(op) = &c.operation {
            who.push_str(&format!(" operation {op}"));
        }
        let head = format!("{}. {who}", c.rank);
        let _ = writeln!(
            o,
            "{}  [{}]  confidence {:.2}",
            paint(if c.rank == 1 { "31;1" } else { "33" }, &head),
            crate::pattern::joined(&c.patterns),
            c.confidence
        );
        let _ = writeln!(o, "   {}", c.summary);
        if let Some(ch) = &c.change {
            let _ = writeln!(o, "   change: {} ({}) at {}: {}", ch.id, ch.kind, hms(&ch.at), ch.description);
        }
        for e in &c.evidence {
            let _ = writeln!(o, "   - {:<8} {}", e.signal, e.text);
            let refs: Vec<&str> = e
                .refs
                .iter()
                .filter(|r| !crate::evidence::is_metric_ref(r))
                .take(3)
                .map(|s| s.as_str())
                .collect();
            if !refs.is_empty() {
                let _ = writeln!(o, "     {:<8} {}", "", paint("2", &format!("e.g. {}", refs.join(" "))));
            }
        }
    }
    if !r.propagation.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Propagation"));
        for p in &r.propagation {
            let _ = writeln!(o, "  {}", p.join(" -> "));
        }
    }
    let changed: Vec<&EdgeRed> = {
        let mut v: Vec<(f64, &EdgeRed)> = r
            .dependencies
            .iter()
            .map(|e| {
                let err = (e.incident.error_rate - e.baseline.error_rate).abs() * 10.0;
                let lat = (e.incident.p99_ms / e.baseline.p99_ms.max(0.1)).ln().abs();
                (err.max(lat), e)
            })
            .filter(|(s, _)| *s >= 0.4)
            .collect();
        v.sort_by(|a, b| {
            b.0.total_cmp(&a.0).then_with(|| (&a.1.caller, &a.1.callee).cmp(&(&b.1.caller, &b.1.callee)))
        });
        v.into_iter().take(8).map(|x| x.1).collect()
    };
    if !changed.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Calls that changed"));
        let w = changed.iter().map(|e| e.caller.len() + e.callee.len() + 4).max().unwrap_or(0);
        let _ = writeln!(o, "  {:w$}  {:>17}  {:>21}  {:>15}", "edge", "errors", "p99", "calls/s");
        for e in changed {
            let _ = writeln!(
                o,
                "  {:w$}  {:>7} -> {:>6}  {:>9} -> {:>8}  {:>6.1} -> {:>5.1}",
                format!("{} -> {}", e.caller, e.callee),
                fmt_rate(e.baseline.error_rate),
                fmt_rate(e.incident.error_rate),
                fmt_ms(e.baseline.p99_ms),
                fmt_ms(e.incident.p99_ms),
                e.baseline.calls_per_s,
                e.incident.calls_per_s
            );
        }
    }
    for (title, more) in [("What the affected requests have in common", true), ("What they lack", false)] {
        let fs: Vec<&crate::diff::FeatureDiff> =
            r.differences.iter().filter(|f| (f.z > 0.0) == more).take(if more { 5 } else { 3 }).collect();
        if fs.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n{}", bold(title));
        for f in fs {
            let _ = writeln!(
                o,
                "  {} {}: {} of them, {} of the others (z = {:.0})",
                f.service,
                f.feature,
                fmt_rate(f.a_share),
                fmt_rate(f.b_share),
                f.z
            );
        }
    }
    if !r.log_templates.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Logs new or surging in the incident"));
        for l in r.log_templates.iter().take(5) {
            let who = l.instance.as_deref().unwrap_or(&l.service);
            let what: String = l.template.chars().take(90).collect();
            let _ = writeln!(
                o,
                "  {:>6} (was {:>5})  {:<5} {who}{}: {what}",
                l.incident,
                l.baseline,
                l.template_id,
                if l.error { " [error]" } else { "" }
            );
        }
    }
    if !r.findings.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Findings"));
        for f in &r.findings {
            let _ = writeln!(o, "  [{}] {}", f.pattern, f.text);
        }
    }
    if !r.correlated_metrics.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Metrics that moved"));
        for m in r.correlated_metrics.iter().take(6) {
            let lead = m.lead_seconds.map(|s| format!("  ({s:+.0} s vs onset)")).unwrap_or_default();
            let _ = writeln!(
                o,
                "  {} {} {}: {:.3} -> {:.3}{lead}",
                m.metric,
                m.service,
                m.instance.as_deref().unwrap_or(""),
                m.baseline,
                m.incident
            );
        }
    }
    if !r.timeline.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Timeline"));
        for t in &r.timeline {
            let _ = writeln!(o, "  {}  {:<8} {}", hms(&t.at), t.signal, t.text);
        }
    }
    if !r.suggested_actions.is_empty() {
        let _ = writeln!(o, "\n{}", bold("Suggested actions"));
        for a in &r.suggested_actions {
            let _ = writeln!(o, "  - {a}");
        }
    }
    let _ = writeln!(
        o,
        "\n{}",
        paint(
            "2",
            &format!(
                "{} spans, {} logs, {} metric points, {} changes in {:.0} ms",
                r.stats.spans, r.stats.logs, r.stats.metric_points, r.stats.changes, r.stats.elapsed_ms
            )
        )
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines() {
        assert_eq!(sparkline(&[0.0, 1.0, 0.5]), "▁█▅");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}

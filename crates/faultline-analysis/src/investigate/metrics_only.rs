//! A window with metrics but no spans (traces lost, or never collected): the services are ranked
//! by how far their own metrics moved the bad way.

use super::assemble::window;
use super::rank::{root_cause, DEFAULT_TOP};
use super::{InvestigateError, Options};
use crate::detectors::{metric_finding, metric_suspects};
use crate::inputs::Inputs;
use crate::plan::{TimeRange, HOUR};
use crate::report::*;
use faultline_model::time::format_rfc3339_secs;

/// The report of a window with no spans; `NoData` when it has no metric points either.
pub fn report(
    inp: &Inputs,
    o: &Options,
    w: TimeRange,
    elapsed_ms: impl Fn() -> f64,
) -> Result<Report, InvestigateError> {
    let has_points = inp.metrics.series.values().any(|s| s.iter().any(|p| p.0 >= w.from && p.0 < w.to));
    if !has_points {
        return Err(InvestigateError::NoData);
    }
    let baseline = o.baseline.map_or(TimeRange::new(w.from - HOUR, w.from), |b| TimeRange::new(b.0, b.1));
    let suspects = metric_suspects(&inp.metrics, baseline.pair(), w.pair());
    let top_n = if o.top == 0 { DEFAULT_TOP } else { o.top };
    let root_causes: Vec<RootCause> = suspects
        .iter()
        .take(top_n)
        .enumerate()
        .map(|(k, m)| root_cause(k + 1, metric_finding(m, m.strength)))
        .collect();
    let incident = root_causes.first().is_some_and(|c| c.confidence >= 0.5);
    let correlated_metrics = crate::evidence::metric_moves(&inp.metrics, baseline.pair(), w.pair())
        .into_iter()
        .take(10)
        .map(|m| super::assemble::metric_move(&m, None))
        .collect();
    let summary = match root_causes.first() {
        Some(c) => format!("no spans in the window; from the metrics alone: {}", c.summary),
        None => "no spans in the window, and no metric moved".to_string(),
    };
    let suggested_actions = super::assemble::actions(&root_causes, &[], &[]);
    Ok(Report {
        schema: SCHEMA.into(),
        window: window(w),
        baseline: window(baseline),
        comparison: "time".into(),
        incident,
        symptom: Symptom { summary, onset: None, affected: vec![], trend: None, end: None },
        root_causes,
        findings: vec![],
        propagation: vec![],
        suggested_actions,
        timeline: vec![],
        dependencies: vec![],
        log_templates: vec![],
        differences: vec![],
        series: vec![],
        correlated_metrics,
        stats: RunStats {
            spans: inp.spans.len(),
            logs: inp.logs.len(),
            metric_points: inp.metrics.points,
            changes: inp.changes.len(),
            elapsed_ms: elapsed_ms(),
            logs_joined_by_id: 0,
        },
        notes: vec![format!(
            "no spans between {} and {}: the services are ranked from their metrics alone",
            format_rfc3339_secs(w.from),
            format_rfc3339_secs(w.to)
        )],
    })
}

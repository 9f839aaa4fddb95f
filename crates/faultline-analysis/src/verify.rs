//! Verifying a fix: the window after a fix or rollback against the healthy baseline before the
//! incident. Every user-facing endpoint must be back: its error rate not significantly above the
//! baseline's, its p99 latency within 30% of it.

use crate::graph::Graph;
use crate::report::{BeforeAfter, Window};
use crate::stats::two_proportion_z;
use crate::symptom;
use crate::Inputs;
use faultline_model::time::format_rfc3339_secs;
use serde::{Deserialize, Serialize};

const MINUTE: i64 = 60_000_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointCheck {
    pub service: String,
    pub operation: String,
    pub error_rate: BeforeAfter,
    pub latency_p99_ms: BeforeAfter,
    pub recovered: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub schema: String,
    pub recovered: bool,
    pub summary: String,
    /// The window after the fix.
    pub window: Window,
    pub baseline: Window,
    pub endpoints: Vec<EndpointCheck>,
}

/// Compares `[since, to)` with `baseline`, or with the hour before the incident that `since`
/// ends (found in the data before `since`).
pub fn verify(
    inp: &Inputs,
    since: i64,
    to: Option<i64>,
    baseline: Option<(i64, i64)>,
) -> Option<Verification> {
    let t = &inp.spans;
    let (lo, max) = t.time_range()?;
    let to = to.unwrap_or(max + 1);
    if since >= to {
        return None;
    }
    let g = Graph::build(t);
    let eps = symptom::endpoints(t, &g);
    let baseline = baseline.unwrap_or_else(|| {
        // The incident's onset before the fix; the baseline ends there.
        let step = ((since - lo) / 60).max(1_000_000_000);
        let reference = symptom::Reference::Guessed(lo, lo + (since - lo) / 3);
        let onset = symptom::find_rises(&eps, lo, since, step, reference).iter().map(|r| r.onset).min();
        let end = onset.unwrap_or(since);
        ((end - 60 * MINUTE).max(lo), end)
    });
    let mut checks = Vec::new();
    for ep in &eps {
        let (eb, nb) = ep.error_rate(baseline.0, baseline.1);
        let (ea, na) = ep.error_rate(since, to);
        if nb < 20 || na < 20 {
            continue;
        }
        let (pb, pa) = (
            ep.duration_quantile(baseline.0, baseline.1, 0.99) as f64 / 1e6,
            ep.duration_quantile(since, to, 0.99) as f64 / 1e6,
        );
        let z = two_proportion_z(
            (eb * nb as f64).round() as u64,
            nb as u64,
            (ea * na as f64).round() as u64,
            na as u64,
        );
        let errors_back = !(z >= 3.0 && ea > eb * 1.5 && ea - eb >= 0.002);
        let latency_back = pa <= pb * 1.3 + 1.0;
        let reason = match (errors_back, latency_back) {
            (true, true) => "back to the baseline".to_string(),
            (false, _) => format!("error rate {:.2}% vs {:.2}% before the incident", ea * 100.0, eb * 100.0),
            (true, false) => format!("p99 {pa:.0} ms vs {pb:.0} ms before the incident"),
        };
        checks.push(EndpointCheck {
            service: t.names.name(ep.service).into(),
            operation: t.names.name(ep.operation).into(),
            error_rate: BeforeAfter { baseline: eb, incident: ea },
            latency_p99_ms: BeforeAfter { baseline: pb, incident: pa },
            recovered: errors_back && latency_back,
            reason,
        });
    }
    let bad: Vec<&EndpointCheck> = checks.iter().filter(|c| !c.recovered).collect();
    let recovered = bad.is_empty() && !checks.is_empty();
    let summary = if checks.is_empty() {
        "not enough requests before the incident or after the fix to compare".to_string()
    } else if recovered {
        format!("recovered: all {} endpoints are back to the baseline", checks.len())
    } else {
        format!(
            "not recovered: {} of {} endpoints still differ ({} {}: {})",
            bad.len(),
            checks.len(),
            bad[0].service,
            bad[0].operation,
            bad[0].reason
        )
    };
    Some(Verification {
        schema: "faultline.verification/v1".into(),
        recovered,
        summary,
        window: Window { from: format_rfc3339_secs(since), to: format_rfc3339_secs(to) },
        baseline: Window { from: format_rfc3339_secs(baseline.0), to: format_rfc3339_secs(baseline.1) },
        endpoints: checks,
    })
}

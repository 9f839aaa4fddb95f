//! Retry storm: a caller retrying its calls much more than it did.

use super::text::pct;
use super::{Detector, Finding};
use crate::hash::HashMap;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::spans::SpanTable;

/// A caller retrying much more than it did.
#[derive(Debug, Clone)]
pub struct Retries {
    pub service: u32,
    pub callee: u32,
    /// Retries per call before and during.
    pub before: f64,
    pub after: f64,
    pub retries: u64,
    /// Most attempts of one call.
    pub max_attempts: u32,
}

pub fn retry_storm(t: &SpanTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<Retries> {
    // (retries, calls, most attempts) per (caller, callee), baseline and incident.
    type Counts = [(u64, u64, u32); 2];
    let mut by: HashMap<(u32, u32), Counts> = HashMap::default();
    for i in 0..t.len() {
        if !t.is_call(i) {
            continue;
        }
        let w = match crate::localise::side_at(t.start[i], baseline, incident) {
            crate::localise::NO_SIDE => continue,
            w => w as usize,
        };
        let r = t.attr_info(i).resend;
        let e = &mut by.entry((t.service[i], t.peer[i])).or_default()[w];
        e.0 += (r > 0) as u64;
        e.1 += 1;
        e.2 = e.2.max(r + 1);
    }
    let mut out: Vec<Retries> = by
        .into_iter()
        .filter_map(|((svc, callee), [b, i])| {
            let (rb, ri) = (b.0 as f64 / b.1.max(1) as f64, i.0 as f64 / i.1.max(1) as f64);
            (i.0 >= 50 && ri >= 0.1 && ri >= 5.0 * rb.max(0.002) && i.2 >= 4).then_some(Retries {
                service: svc,
                callee,
                before: rb,
                after: ri,
                retries: i.0,
                max_attempts: i.2,
            })
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.retries));
    out
}

pub struct RetryStorm;

impl Detector for RetryStorm {
    fn name(&self) -> &'static str {
        "retry_storm"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline.filter(|_| s.symptom_found()) else { return vec![] };
        retry_storm(s.spans, baseline.pair(), s.incident.pair())
            .into_iter()
            .map(|r| {
                let (svc, callee) = (s.name(r.service), s.name(r.callee));
                let mut f = Finding::cause(&svc, 1.1);
                f.pattern(Pattern::RetryStorm);
                f.summary = format!(
                    "{svc} retries its calls to {callee} up to {} times: a retry storm",
                    r.max_attempts - 1
                );
                f.evidence(
                    EvidenceKind::Traces,
                    format!(
                        "{} of {svc}'s calls to {callee} are retries (baseline {}), {} retries, up to {} attempts per call",
                        pct(r.after),
                        pct(r.before),
                        r.retries,
                        r.max_attempts
                    ),
                    vec![],
                );
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&RetryStorm, "retry-storm");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert!(found.iter().any(|f| f.service == testkit::truth("retry-storm")), "{found:?}");
    }
}

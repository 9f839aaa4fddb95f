//! Traffic spike: requests at the entry points rose beyond what the system serves.

use super::{Detector, Finding, Role};
use crate::graph::Graph;
use crate::hash::HashMap;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::spans::SpanTable;

/// Requests per second at the entry points, before and during.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub service: u32,
    pub rate_before: f64,
    pub rate_after: f64,
    /// Peak one-minute rate during the incident.
    pub peak: f64,
}

pub fn traffic(t: &SpanTable, g: &Graph, baseline: (i64, i64), incident: (i64, i64)) -> Option<Traffic> {
    let mut count: HashMap<u32, [u64; 2]> = HashMap::default();
    let mut minutes: HashMap<i64, u64> = HashMap::default();
    // Rates are over the seconds that hold requests: telemetry with gaps is not a traffic drop.
    let mut active: [crate::hash::HashSet<i64>; 2] = Default::default();
    for i in 0..t.len() {
        if !g.is_entry(t, i) {
            continue;
        }
        let s = t.start[i];
        if s >= incident.0 && s < incident.1 {
            count.entry(t.service[i]).or_default()[1] += 1;
            *minutes.entry((s - incident.0) / 60_000_000_000).or_default() += 1;
            active[1].insert(s / 1_000_000_000);
        } else if s >= baseline.0 && s < baseline.1 {
            count.entry(t.service[i]).or_default()[0] += 1;
            active[0].insert(s / 1_000_000_000);
        }
    }
    let (svc, c) = count.into_iter().max_by_key(|(k, c)| (c[0] + c[1], std::cmp::Reverse(*k)))?;
    // Seconds covered: from the first to the last active second of each stretch without a gap of
    // more than a minute.
    let covered = |w: usize| -> f64 {
        let mut v: Vec<i64> = active[w].iter().copied().collect();
        v.sort_unstable();
        let mut total = 0i64;
        for p in v.windows(2) {
            if p[1] - p[0] <= 60 {
                total += p[1] - p[0];
            }
        }
        (total + 1) as f64
    };
    let (cov_b, cov_i) = (covered(0), covered(1));
    let secs = |w: (i64, i64)| {
        let full = ((w.1 - w.0) as f64 / 1e9).max(1.0);
        if w == baseline {
            full.min(cov_b)
        } else {
            full.min(cov_i)
        }
    };
    let full_minutes = ((incident.1 - incident.0) / 60_000_000_000).max(1);
    let peak =
        minutes.iter().filter(|(m, _)| **m < full_minutes).map(|(_, &c)| c).max().unwrap_or(0) as f64 / 60.0;
    Some(Traffic {
        service: svc,
        rate_before: c[0] as f64 / secs(baseline),
        rate_after: c[1] as f64 / secs(incident),
        peak,
    })
}

/// A rise of entry traffic worth noting among the findings (and as evidence for the leader).
const NOTED_RATIO: f64 = 1.8;
/// A rise that is a cause of its own: five times the traffic overwhelms a system sized for it.
const CAUSE_RATIO: f64 = 5.0;

pub struct TrafficSpike;

impl Detector for TrafficSpike {
    fn name(&self) -> &'static str {
        "traffic_spike"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline.filter(|_| s.symptom_found()) else { return vec![] };
        let Some(tr) = traffic(s.spans, &s.graph, baseline.pair(), s.incident.pair()) else { return vec![] };
        let ratio = tr.rate_after / tr.rate_before.max(1e-9);
        if ratio < NOTED_RATIO {
            return vec![];
        }
        let svc = s.name(tr.service);
        let text = format!(
            "requests to {svc} rose from {:.1}/s to {:.1}/s ({ratio:.1}x, peak {:.1}/s)",
            tr.rate_before, tr.rate_after, tr.peak
        );
        let mut f = Finding::cause(&svc, 1.0 + ratio / 20.0);
        f.listed = true;
        f.pattern(Pattern::TrafficSpike);
        f.evidence(EvidenceKind::Traces, text, vec![]);
        if ratio >= CAUSE_RATIO {
            f.summary = format!("a traffic spike ({ratio:.0}x) beyond what the system can serve");
        } else {
            f.role = Role::Contributing;
        }
        vec![f]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&TrafficSpike, "traffic-spike");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].role, Role::Cause, "five times the traffic or more is a cause");
    }
}

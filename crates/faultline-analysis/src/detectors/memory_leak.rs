//! Memory leak: an instance whose memory grows steadily, whether or not users notice yet.

use super::{Detector, Finding};
use crate::evidence::resource_patterns;
use crate::inputs::MetricTable;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;

/// Instances whose memory grows steadily (with drops back that mean restarts) over the range:
/// a leak shows whether or not users notice it yet.
pub fn memory_leaks(m: &MetricTable, range: (i64, i64)) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for key in m.series.keys() {
        if !(key.name.contains("memory.usage")
            || key.name.contains("memory.rss")
            || key.name.contains("heap"))
        {
            continue;
        }
        let inst = (!key.instance.is_empty()).then_some(key.instance.as_str());
        for (p, text) in resource_patterns(m, &key.service, inst, range) {
            if p == Pattern::MemoryLeak && !out.iter().any(|o: &(String, String, String)| o.2 == text) {
                out.push((key.service.clone(), key.instance.clone(), text));
            }
        }
    }
    out
}

/// Weight of a leak as a cause: support beside a symptom the traces explain, a cause of its own
/// when users notice nothing yet.
const WEIGHT_BESIDE_SYMPTOM: f64 = 0.2;
const WEIGHT_ALONE: f64 = 0.6;

/// The findings of leaks, (service, instance, text) each: listed whatever ranks first.
pub(super) fn leak_findings(
    s: &Signals<'_>,
    leaks: Vec<(String, String, String)>,
    pattern: Pattern,
) -> Vec<Finding> {
    let weight = if s.symptom_found() { WEIGHT_BESIDE_SYMPTOM } else { WEIGHT_ALONE };
    leaks
        .into_iter()
        .map(|(svc, inst, text)| {
            let mut f = Finding::cause(&svc, weight);
            f.listed = true;
            f.instance = (!inst.is_empty()).then_some(inst);
            f.pattern(pattern);
            f.summary = text.clone();
            f.evidence(EvidenceKind::Metrics, text, vec![]);
            f
        })
        .collect()
}

pub struct MemoryLeak;

impl Detector for MemoryLeak {
    fn name(&self) -> &'static str {
        "memory_leak"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        leak_findings(s, memory_leaks(&s.inputs.metrics, s.plan.range.pair()), Pattern::MemoryLeak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&MemoryLeak, "memory-leak");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert!(!found.is_empty());
        assert!(found.iter().all(|f| f.service == testkit::truth("memory-leak")), "{found:?}");
    }
}

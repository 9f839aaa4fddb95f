//! Metric suspects: services whose own metrics moved the bad way during the incident. Support for
//! the trace hypotheses, and weak hypotheses of their own where the traces name none.

use super::{Detector, Finding, Role};
use crate::evidence::{baseline_values, window_values};
use crate::inputs::MetricTable;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::stats::{mean, std_dev};
use std::collections::HashMap;

/// What a metric measures, judged from the words of its name: how much a move of it says about
/// the node that reports it, and which way is bad.
struct MetricRole {
    what: &'static str,
    weight: f64,
    /// +1: a rise is bad; -1: a fall is bad; 0: either.
    bad: i8,
}

fn metric_role(name: &str) -> MetricRole {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |ws: &[&str]| words.iter().any(|w| ws.contains(w));
    if has(&["latency", "duration", "rtt"]) {
        if has(&["client", "outbound", "downstream"]) {
            MetricRole { what: "latency of its calls", weight: 0.3, bad: 1 }
        } else {
            MetricRole { what: "latency", weight: 1.0, bad: 1 }
        }
    } else if has(&["cpu"]) {
        if has(&["node", "host", "system", "machine"]) {
            MetricRole { what: "CPU of its host", weight: 0.3, bad: 1 }
        } else {
            MetricRole { what: "CPU", weight: 0.8, bad: 1 }
        }
    } else if has(&["error", "errors", "failed", "failures", "failure"]) {
        MetricRole { what: "errors", weight: 0.8, bad: 1 }
    } else if has(&["success"]) {
        MetricRole { what: "success rate", weight: 0.8, bad: -1 }
    } else if has(&["memory", "mem", "heap", "rss"]) {
        MetricRole { what: "memory", weight: 0.4, bad: 1 }
    } else {
        MetricRole { what: "other", weight: 0.15, bad: 0 }
    }
}

/// A node whose own metrics moved the bad way during the incident.
#[derive(Debug, Clone)]
pub struct MetricSuspect {
    pub service: String,
    pub instance: String,
    /// 0..1: how far the metric moved (in baseline deviations, saturating at 100) times what a
    /// move of that metric says about the node itself.
    pub strength: f64,
    /// `latency`, `CPU`, `errors`, ...
    pub what: &'static str,
    pub text: String,
}

/// The strongest bad move of each service's metrics, strongest first.
/// The share of the new level that stands in for the deviation of a baseline flat at zero: a move
/// from nothing is at most 1 / FLAT_ZERO_SHARE = 10 deviations, big but not certain.
const FLAT_ZERO_SHARE: f64 = 0.1;

pub fn metric_suspects(m: &MetricTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<MetricSuspect> {
    // Instances of a service on which a metric moved, to pin an instance only when it stands alone.
    let mut moved_on: HashMap<(&str, &str), usize> = HashMap::new();
    let mut moves = Vec::new();
    for (key, s) in &m.series {
        let (b, i) = (baseline_values(s, baseline, incident), window_values(s, incident));
        if b.len() < 3 || i.is_empty() || key.service.is_empty() {
            continue;
        }
        let role = metric_role(&key.name);
        let (mb, sb, mi) = (mean(&b), std_dev(&b), mean(&i));
        // A flat baseline has no deviation to measure in: a hundredth of the new level stands in;
        // for a baseline flat at zero, a tenth (a rate of rare errors that was zero in a short
        // baseline is not 100 deviations away at its first error).
        let share = if sb == 0.0 && mb == 0.0 { FLAT_ZERO_SHARE } else { 0.01 };
        let z = (mi - mb) / sb.max(0.02 * mb.abs()).max(share * mi.abs()).max(1e-9);
        let z = if role.bad == 0 { z.abs() } else { z * role.bad as f64 };
        if z < 5.0 {
            continue;
        }
        *moved_on.entry((&key.service, &key.name)).or_default() += 1;
        moves.push((key, role, mb, mi, z));
    }
    let mut best: HashMap<&str, MetricSuspect> = HashMap::new();
    for (key, role, mb, mi, z) in moves {
        let strength = role.weight * (z / 100.0).min(1.0);
        if best.get(key.service.as_str()).is_some_and(|x| x.strength >= strength) {
            continue;
        }
        let who = if key.instance.is_empty() { key.service.clone() } else { key.instance.clone() };
        let alone = moved_on.get(&(key.service.as_str(), key.name.as_str())).is_some_and(|&n| n == 1);
        best.insert(
            &key.service,
            MetricSuspect {
                service: key.service.clone(),
                instance: if alone { key.instance.clone() } else { String::new() },
                strength,
                what: role.what,
                text: format!(
                    "{} of {who}: {} -> {} ({} baseline deviations)",
                    key.name,
                    fmt_value(mb),
                    fmt_value(mi),
                    if z >= 1000.0 { "over 1000".to_string() } else { format!("{z:.0}") }
                ),
            },
        );
    }
    let mut out: Vec<MetricSuspect> = best.into_values().collect();
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength).then_with(|| a.service.cmp(&b.service)));
    out
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// What a metric suspect adds to a hypothesis about its service, per unit of strength.
const SUPPORT_WEIGHT: f64 = 0.3;
/// A metric suspect stands alone (where the traces explain nothing) from this strength on, scored
/// ALONE_WEIGHT per unit: metrics alone say that a node changed, seldom that it is the cause.
const MIN_ALONE_STRENGTH: f64 = 0.3;
const ALONE_WEIGHT: f64 = 0.25;

pub struct MetricSuspects;

impl Detector for MetricSuspects {
    fn name(&self) -> &'static str {
        "metric_suspects"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline else { return vec![] };
        metric_suspects(&s.inputs.metrics, baseline.pair(), s.incident.pair())
            .iter()
            .map(|m| {
                let mut f = metric_finding(m, SUPPORT_WEIGHT * m.strength);
                f.role = Role::Support {
                    alone: (m.strength >= MIN_ALONE_STRENGTH).then_some(ALONE_WEIGHT * m.strength),
                };
                f
            })
            .collect()
    }
}

/// A hypothesis from a node's metrics alone.
pub fn metric_finding(m: &MetricSuspect, weight: f64) -> Finding {
    let mut f = Finding::cause(&m.service, weight);
    f.instance = (!m.instance.is_empty()).then(|| m.instance.clone());
    f.pattern(match m.what {
        "CPU" | "CPU of its host" => Pattern::CpuSaturation,
        "memory" => Pattern::ResourceExhaustion,
        "errors" | "success rate" => Pattern::CodeException,
        _ => Pattern::LatencyInjection,
    });
    f.summary = format!("{}'s own {} moved: {}", m.service, m.what, m.text);
    f.evidence(EvidenceKind::Metrics, m.text.clone(), vec![]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&MetricSuspects, "cpu-cap");
        assert!(found.iter().all(|f| matches!(f.role, Role::Support { .. })));
        assert!(found.iter().any(|f| f.service == testkit::truth("cpu-cap")), "{found:?}");
        assert!(healthy.iter().all(|f| f.weight < 0.1), "{healthy:?}");
    }
}

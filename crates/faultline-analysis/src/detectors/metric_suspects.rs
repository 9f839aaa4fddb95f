//! Metric suspects: services whose own metrics moved the bad way during the incident. Support for
//! the trace hypotheses, and weak hypotheses of their own where the traces name none.

use super::{Detector, Finding, Role};
use crate::evidence::{baseline_values, window_values};
use crate::hash::HashMap;
use crate::inputs::MetricTable;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::stats::{mean, std_dev};

/// What a metric measures, judged from the words of its name: how much a move of it says about
/// the node that reports it, and which way is bad.
pub(crate) struct MetricRole {
    pub(crate) what: &'static str,
    pub(crate) weight: f64,
    /// +1: a rise is bad; -1: a fall is bad; 0: either.
    pub(crate) bad: i8,
}

pub(crate) fn metric_role(name: &str) -> MetricRole {
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
    } else if has(&["connection", "connections", "pool", "pending", "queue", "queued", "waiting", "backlog"])
    {
        // Saturation (the USE method): connections held, requests waiting; a leak shows here
        // before anything fails.
        MetricRole { what: "connections or queues", weight: 0.6, bad: 1 }
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
    /// The series that moved (`crate::evidence::metric_ref`).
    pub series: String,
}

/// The strongest bad move of each service's metrics, strongest first.
/// The share of the new level that stands in for the deviation of a baseline flat at zero: a move
/// from nothing is at most 1 / FLAT_ZERO_SHARE = 10 deviations, big but not certain.
const FLAT_ZERO_SHARE: f64 = 0.1;

/// Per metric name, the deviation of its baseline values over all its series: the noise it shows
/// across the system.
fn peer_deviations(m: &MetricTable, baseline: (i64, i64), incident: (i64, i64)) -> HashMap<&str, f64> {
    let mut values: HashMap<&str, Vec<f64>> = HashMap::default();
    for (key, s) in &m.series {
        values.entry(key.name.as_str()).or_default().extend(baseline_values(s, baseline, incident));
    }
    values.into_iter().map(|(k, v)| (k, std_dev(&v))).collect()
}

pub fn metric_suspects(m: &MetricTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<MetricSuspect> {
    // Instances of a service on which a metric moved, to pin an instance only when it stands alone.
    let mut moved_on: HashMap<(&str, &str), usize> = HashMap::default();
    let mut moves = Vec::new();
    let peer_sd = peer_deviations(m, baseline, incident);
    for (key, s) in &m.series {
        let (b, i) = (baseline_values(s, baseline, incident), window_values(s, incident));
        if b.len() < 3 || i.is_empty() || key.service.is_empty() {
            continue;
        }
        let role = metric_role(&key.name);
        let (mb, sb, mi) = (mean(&b), std_dev(&b), mean(&i));
        // A flat baseline has no deviation to measure in: a hundredth of the new level stands in;
        // for a baseline flat at zero, a tenth (a rate of rare errors that was zero in a short
        // baseline is not 100 deviations away at its first error), or the deviation the metric
        // shows on the other series of its name, when larger (a first noise error on one instance
        // is what the others show all along).
        let flat_zero = sb == 0.0 && mb == 0.0;
        let share = if flat_zero { FLAT_ZERO_SHARE } else { 0.01 };
        let borrowed = if flat_zero { peer_sd.get(key.name.as_str()).copied().unwrap_or(0.0) } else { 0.0 };
        let z = (mi - mb) / sb.max(0.02 * mb.abs()).max(share * mi.abs()).max(borrowed).max(1e-9);
        let z = if role.bad == 0 { z.abs() } else { z * role.bad as f64 };
        if z < 5.0 {
            continue;
        }
        *moved_on.entry((&key.service, &key.name)).or_default() += 1;
        moves.push((key, role, mb, mi, z, flat_zero));
    }
    // Moves from nothing all read as ten deviations: among those of one metric, the larger new
    // level is the stronger (one instance holding four times the connections the others took).
    let mut top_from_zero: HashMap<&str, f64> = HashMap::default();
    for (key, _, _, mi, _, flat_zero) in &moves {
        if *flat_zero {
            let t = top_from_zero.entry(key.name.as_str()).or_default();
            *t = t.max(mi.abs());
        }
    }
    let mut best: HashMap<&str, MetricSuspect> = HashMap::default();
    for (key, role, mb, mi, z, flat_zero) in moves {
        let size = if flat_zero { mi.abs() / top_from_zero[key.name.as_str()].max(1e-12) } else { 1.0 };
        let strength = role.weight * (z / 100.0).min(1.0) * size;
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
                series: crate::evidence::metric_ref(&key.name, &key.service, &key.instance),
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
                f.role = if m.strength >= MIN_ALONE_STRENGTH {
                    Role::Support { alone: Some(ALONE_WEIGHT * m.strength) }
                } else if s.plan.named {
                    // In a window the user named as bad where the traces name nothing, whatever
                    // changed is ranked, with the low confidence a weak move deserves.
                    Role::Fallback { alone: ALONE_WEIGHT * m.strength }
                } else {
                    Role::Support { alone: None }
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
        "connections or queues" => Pattern::ConnectionPoolExhaustion,
        "errors" | "success rate" => Pattern::CodeException,
        _ => Pattern::LatencyInjection,
    });
    f.summary = format!("{}'s own {} moved: {}", m.service, m.what, m.text);
    f.evidence(EvidenceKind::Metrics, m.text.clone(), vec![m.series.clone()]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;
    use crate::inputs::MetricKey;

    fn table(name: &str, values: &[f64]) -> MetricTable {
        let key = MetricKey {
            name: name.into(),
            service: "billing".into(),
            instance: String::new(),
            attributes: "{}".into(),
        };
        let series = values.iter().enumerate().map(|(k, &v)| (k as i64 * 60, v)).collect();
        MetricTable { series: [(key, series)].into_iter().collect(), ..Default::default() }
    }

    #[test]
    fn a_move_from_a_baseline_flat_at_zero_reads_as_ten_deviations() {
        // FLAT_ZERO_SHARE: the first errors after a baseline of none are a move, not a certainty.
        let m = table("http.server.errors", &[0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.4, 0.4]);
        let s = metric_suspects(&m, (0, 300), (300, 480));
        assert_eq!(s.len(), 1);
        assert!(s[0].text.contains("(10 baseline deviations)"), "{}", s[0].text);
        assert!((s[0].strength - 0.8 * 0.1).abs() < 1e-9, "{}", s[0].strength);
        // A first error on one instance, where the others show such errors all along, is noise.
        let mut noisy = table("http.server.errors", &[0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.01, 0.01]);
        let peer = MetricKey { instance: "billing-2".into(), ..noisy.series.keys().next().unwrap().clone() };
        noisy.series.insert(
            peer,
            [0.0, 0.02, 0.0, 0.01, 0.03, 0.0, 0.02, 0.0]
                .iter()
                .enumerate()
                .map(|(k, &v)| (k as i64 * 60, v))
                .collect(),
        );
        assert!(metric_suspects(&noisy, (0, 300), (300, 480)).is_empty());
        // A flat baseline elsewhere than zero: a hundredth of the new level stands in.
        let m = table("http.server.errors", &[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert!(metric_suspects(&m, (0, 300), (300, 480))[0].text.contains("(50 baseline deviations)"));
    }

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&MetricSuspects, "cpu-cap");
        assert!(found.iter().all(|f| matches!(f.role, Role::Support { .. })));
        assert!(found.iter().any(|f| f.service == testkit::truth("cpu-cap")), "{found:?}");
        assert!(healthy.iter().all(|f| f.weight < 0.1), "{healthy:?}");
    }
}

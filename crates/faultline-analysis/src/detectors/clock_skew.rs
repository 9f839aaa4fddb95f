//! Clock skew: an instance whose clock is off, from parent/child pairs across services.

use super::text::{ms, pct};
use super::{Detector, Finding};
use crate::graph::Graph;
use crate::hash::HashMap;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::spans::{SpanTable, NONE};
use crate::stats::median_ci;

const MS: f64 = 1e6;

/// A host whose clock is off.
#[derive(Debug, Clone)]
pub struct Skew {
    pub service: u32,
    pub instance: u32,
    /// Offset of its clock against its peers', ns (negative: behind).
    pub offset_ns: f64,
    pub ci_ns: f64,
    pub pairs: usize,
    /// Share of its spans that start before their parents.
    pub before_parent: f64,
    /// Share of its span pairs (as child or parent) with the child outside the parent's interval,
    /// as recorded and once its clock is corrected by the offset: the corrected view.
    pub outside_before: f64,
    pub outside_after: f64,
}

/// Estimates each instance's clock offset from parent/child pairs across services: with a
/// symmetric network, the child's midpoint should sit at the parent's midpoint, so the difference
/// of midpoints is the clock difference. Each pair votes for both its instances (with opposite
/// signs); an instance whose median vote is far from zero, with a tight interval, is skewed.
pub fn clock_skew(t: &SpanTable, g: &Graph) -> Vec<Skew> {
    // (child instance, parent instance, midpoint difference) of each cross-service pair, and how
    // far the child starts after its parent and ends before it.
    let mut pairs: Vec<(u32, u32, f64)> = Vec::new();
    let mut margins: Vec<(i64, i64)> = Vec::new();
    let mut before: HashMap<u32, (u64, u64)> = HashMap::default();
    let mut outside: HashMap<u32, (u64, u64)> = HashMap::default();
    let mut service_of: HashMap<u32, u32> = HashMap::default();
    for c in 0..t.len() {
        let p = g.parent[c];
        if p == NONE {
            continue;
        }
        let p = p as usize;
        if t.service[p] == t.service[c] || t.instance[p] == t.instance[c] {
            continue;
        }
        let mid = |i: usize| t.start[i] as f64 + t.duration[i] as f64 / 2.0;
        pairs.push((t.instance[c], t.instance[p], mid(c) - mid(p)));
        margins.push((t.start[c] - t.start[p], t.end(p) - t.end(c)));
        service_of.insert(t.instance[c], t.service[c]);
        service_of.insert(t.instance[p], t.service[p]);
        let b = before.entry(t.instance[c]).or_default();
        b.0 += (t.start[c] < t.start[p]) as u64;
        b.1 += 1;
        // A child outside its parent's interval: only a clock can do that.
        let v = outside.entry(t.instance[c]).or_default();
        v.0 += (t.start[c] < t.start[p] || t.end(c) > t.end(p)) as u64;
        v.1 += 1;
    }
    // Greedy: the most skewed host first; its pairs then say nothing more about its peers.
    let mut out: Vec<Skew> = Vec::new();
    let mut found: Vec<u32> = Vec::new();
    loop {
        let mut votes: HashMap<u32, Vec<f64>> = HashMap::default();
        for &(c, p, d) in &pairs {
            if found.contains(&c) || found.contains(&p) {
                continue;
            }
            votes.entry(c).or_default().push(d);
            votes.entry(p).or_default().push(-d);
        }
        let mut best: Option<(f64, Skew)> = None;
        for (inst, mut v) in votes {
            let n = v.len();
            if n < 20 {
                continue;
            }
            let Some((med, ci)) = median_ci(&mut v) else { continue };
            // A skewed host's pairs all agree; a peer of one agrees only on the pairs they share.
            let consistent =
                v.iter().filter(|d| d.signum() == med.signum() && d.abs() >= 0.5 * med.abs()).count();
            // The more pairs agree, the likelier this host is the one: a peer that talks only to
            // a skewed host agrees on as large an offset, but on fewer pairs.
            let weight = med.abs() * consistent as f64;
            let better = best
                .as_ref()
                .is_none_or(|b: &(f64, Skew)| weight > b.0 || (weight == b.0 && inst < b.1.instance));
            // Asymmetric network delay shifts midpoints too, but keeps children inside their
            // parents; a skewed clock puts them outside, on its own spans or its peers'.
            let out_of_parent = |i: u32| outside.get(&i).map_or(0.0, |&(o, n)| o as f64 / n.max(1) as f64);
            let violates = out_of_parent(inst) >= 0.1
                || pairs.iter().any(|&(c, p, _)| p == inst && out_of_parent(c) >= 0.1);
            if med.abs() >= 20.0 * MS && med.abs() >= 4.0 * ci && better && violates {
                let b = before.get(&inst).copied().unwrap_or_default();
                // The corrected view: its clock set back by the offset.
                let (mut out0, mut out1, mut total) = (0u64, 0u64, 0u64);
                let off = med as i64;
                for (&(c, p, _), &(a, z)) in pairs.iter().zip(&margins) {
                    let (a1, z1) = if c == inst {
                        (a - off, z + off)
                    } else if p == inst {
                        (a + off, z - off)
                    } else {
                        continue;
                    };
                    total += 1;
                    out0 += (a < 0 || z < 0) as u64;
                    out1 += (a1 < 0 || z1 < 0) as u64;
                }
                let skew = Skew {
                    service: service_of[&inst],
                    instance: inst,
                    offset_ns: med,
                    ci_ns: ci,
                    pairs: n,
                    before_parent: b.0 as f64 / b.1.max(1) as f64,
                    outside_before: out0 as f64 / total.max(1) as f64,
                    outside_after: out1 as f64 / total.max(1) as f64,
                };
                best = Some((weight, skew));
            }
        }
        match best {
            Some((_, s)) if out.len() < 10 => {
                found.push(s.instance);
                out.push(s);
            }
            _ => break,
        }
    }
    out
}

/// Weight of a skewed clock as a cause: low beside a symptom the traces explain (a skewed clock
/// garbles timings, it rarely fails requests), high when it is all there is to see.
const WEIGHT_BESIDE_SYMPTOM: f64 = 0.15;
const WEIGHT_ALONE: f64 = 0.6;

pub struct ClockSkew;

impl Detector for ClockSkew {
    fn name(&self) -> &'static str {
        "clock_skew"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let weight = if s.symptom_found() { WEIGHT_BESIDE_SYMPTOM } else { WEIGHT_ALONE };
        clock_skew(s.spans, &s.graph)
            .into_iter()
            .map(|sk| {
                let inst = s.name(sk.instance);
                let dir = if sk.offset_ns < 0.0 { "behind" } else { "ahead" };
                let text = format!(
                    "{inst}'s clock runs {} {dir} (+/- {}, {} span pairs); {} of its spans start before their parents; corrected by the offset, {} of its span pairs fall outside their parents instead of {} (faultline traces get ID --correct-skew)",
                    ms(sk.offset_ns.abs()),
                    ms(sk.ci_ns.max(0.1e6)),
                    sk.pairs,
                    pct(sk.before_parent),
                    pct(sk.outside_after),
                    pct(sk.outside_before)
                );
                let mut f = Finding::cause(&s.name(sk.service), weight);
                f.listed = true;
                f.pattern(Pattern::ClockSkew);
                f.summary = format!(
                    "{inst}'s clock runs {} {dir}: its spans and their parents disagree",
                    ms(sk.offset_ns.abs())
                );
                f.evidence(EvidenceKind::Traces, text, vec![]);
                f.instance = Some(inst);
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
        let (found, healthy) = testkit::on(&ClockSkew, "clock-skew");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].service, testkit::truth("clock-skew"));
        assert!(found[0].instance.is_some() && found[0].listed);
    }
}

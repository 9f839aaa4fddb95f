//! Network partition: calls that fail only across one pair of zones.

use super::text::pct;
use super::{Detector, Finding};
use crate::graph::Graph;
use crate::hash::HashMap;
use crate::localise::Attribution;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::spans::{SpanTable, NONE};

/// Calls that fail only across one pair of zones.
#[derive(Debug, Clone)]
pub struct Partition {
    pub zones: (u32, u32),
    pub failed: u64,
    pub calls: u64,
    /// Failure rate of calls within a zone or across other pairs, to the same callees.
    pub elsewhere: f64,
    /// The calling service with most failed calls across the cut.
    pub caller: u32,
    pub callees: Vec<u32>,
}

pub fn network_partition(
    t: &SpanTable,
    g: &Graph,
    a: &Attribution,
    incident: (i64, i64),
) -> Option<Partition> {
    // Zone of each address: resources name their host's ip and zone.
    let mut zone_of_ip: HashMap<&str, u32> = HashMap::default();
    for r in &t.resources {
        if r.ip != NONE && r.zone != NONE {
            zone_of_ip.insert(t.names.name(r.ip), r.zone);
        }
    }
    // Calls no one answered, by (caller zone, callee zone).
    let mut pairs: HashMap<(u32, u32), (u64, u64)> = HashMap::default();
    // Failed calls per calling service, and whether it made them while answering users directly.
    let mut callers: HashMap<(u32, u32, u32), (u64, bool)> = HashMap::default();
    let mut callees: HashMap<(u32, u32), Vec<u32>> = HashMap::default();
    for i in 0..t.len() {
        if t.start[i] < incident.0 || t.start[i] >= incident.1 {
            continue;
        }
        if !t.is_client_call(i) {
            continue;
        }
        let addr = t.attr_info(i).peer_addr;
        if addr == NONE {
            continue;
        }
        let ip = t.names.name(addr).rsplit_once(':').map_or(t.names.name(addr), |(h, _)| h);
        let (Some(&to), from) = (zone_of_ip.get(ip), t.res_info(i).zone) else { continue };
        if from == NONE {
            continue;
        }
        let failed = a.node[i] != NONE && a.own_error[i];
        let key = if from <= to { (from, to) } else { (to, from) };
        let e = pairs.entry(key).or_default();
        e.0 += failed as u64;
        e.1 += 1;
        if failed {
            let c = callers.entry((key.0, key.1, t.service[i])).or_default();
            c.0 += 1;
            c.1 |= serves_users(t, g, i);
            let v = callees.entry(key).or_default();
            if !v.contains(&t.peer[i]) {
                v.push(t.peer[i]);
            }
        }
    }
    let (&zones, &(failed, calls)) =
        pairs.iter().filter(|(k, _)| k.0 != k.1).max_by_key(|(k, v)| (v.0, std::cmp::Reverse(**k)))?;
    let (of, oc) =
        pairs.iter().filter(|(k, _)| **k != zones).fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
    let rate = failed as f64 / calls.max(1) as f64;
    let elsewhere = of as f64 / oc.max(1) as f64;
    if failed < 20 || rate < 0.3 || elsewhere > 0.2 * rate {
        return None;
    }
    // Every caller across the cut fails at once; name the one nearest the users (where their
    // requests first cross it, and where zone-aware routing would route around it) when it has a
    // real share of the failures, else the one with most.
    let across: Vec<(u32, u64, bool)> =
        callers.iter().filter(|(k, _)| (k.0, k.1) == zones).map(|(k, c)| (k.2, c.0, c.1)).collect();
    let most = |front: bool| {
        across
            .iter()
            .filter(|c| !front || (c.2 && c.1 * 10 >= failed))
            .max_by_key(|c| (c.1, std::cmp::Reverse(c.0)))
            .map(|c| c.0)
    };
    let caller = most(true).or_else(|| most(false))?;
    Some(Partition {
        zones,
        failed,
        calls,
        elsewhere,
        caller,
        callees: callees.remove(&zones).unwrap_or_default(),
    })
}

/// Whether call span i was made while answering a user's request: the spans above it in its own
/// service lead up to the trace's entry.
fn serves_users(t: &SpanTable, g: &Graph, i: usize) -> bool {
    let mut k = i;
    loop {
        let p = g.parent[k];
        if p == NONE {
            return g.is_entry(t, k);
        }
        if t.service[p as usize] != t.service[i] {
            return false;
        }
        k = p as usize;
    }
}

pub struct NetworkPartition;

impl Detector for NetworkPartition {
    fn name(&self) -> &'static str {
        "network_partition"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        if !s.symptom_found() || s.by_requests() {
            return vec![];
        }
        let Some(p) = network_partition(s.spans, &s.graph, &s.attribution, s.incident.pair()) else {
            return vec![];
        };
        let (za, zb) = (s.name(p.zones.0), s.name(p.zones.1));
        let caller = s.name(p.caller);
        let mut f = Finding::cause(&caller, 1.2);
        f.pattern(Pattern::NetworkPartition);
        let callees: Vec<String> = p.callees.iter().map(|&x| s.name(x)).collect();
        f.summary = format!("the network between {za} and {zb} is cut: {caller}'s calls across it fail");
        f.evidence(
            EvidenceKind::Traces,
            format!(
                "{} of {} calls between {za} and {zb} failed unanswered (to {}); {} elsewhere",
                p.failed,
                p.calls,
                callees.join(", "),
                pct(p.elsewhere)
            ),
            vec![],
        );
        vec![f]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&NetworkPartition, "network-partition");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].patterns.contains(&Pattern::NetworkPartition));
    }
}

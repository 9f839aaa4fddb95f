//! Network partition: calls that fail only across one pair of zones; or, where the telemetry
//! names no zones (Zipkin and many SDKs send none), calls that fail only between some caller
//! instances and some hosts while the callers reach other hosts or the hosts answer other callers
//! (both somewhere on the cut).

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

/// Fewest calls between a caller instance and a host, and elsewhere on either side, to judge the
/// pair: a handful of calls has no rate.
const MIN_PAIR_CALLS: u64 = 5;
/// A pair is cut when at least this share of its calls fail unanswered (the zone test's rate).
const CUT_RATE: f64 = 0.3;
/// ...while its caller reaches some other host, and its host answers some other caller, failing at
/// most this fraction as often: a faulty host fails for every caller, a faulty caller to every host.
const CUT_ELSEWHERE: f64 = 0.2;
/// A cut must carry this share of all unanswered calls: a partition is the incident, not a detail.
const CUT_SHARE: f64 = 0.5;

/// A cut between caller instances and hosts, found without zones.
#[derive(Debug, Clone)]
pub struct Cut {
    /// Caller instances and hosts on the two sides, interned and as text.
    pub instances: Vec<u32>,
    pub hosts: Vec<String>,
    pub failed: u64,
    pub calls: u64,
    pub elsewhere: f64,
    pub caller: u32,
    pub callees: Vec<u32>,
}

/// Calls that fail unanswered only between some caller instances and some hosts (at least two of
/// each, so that one pool or one host's fault is not a partition).
pub fn cut_without_zones(t: &SpanTable, a: &Attribution, incident: (i64, i64)) -> Option<Cut> {
    // (failed, calls) per caller instance and host; the calls' spans, for the callers' services.
    let mut pair: HashMap<(u32, &str), (u64, u64)> = HashMap::default();
    let mut spans: HashMap<(u32, &str), Vec<usize>> = HashMap::default();
    for i in 0..t.len() {
        if t.start[i] < incident.0 || t.start[i] >= incident.1 || !t.is_client_call(i) {
            continue;
        }
        let addr = t.attr_info(i).peer_addr;
        if addr == NONE || t.instance[i] == NONE {
            continue;
        }
        let host = t.names.name(addr).rsplit_once(':').map_or(t.names.name(addr), |(h, _)| h);
        let failed = a.node[i] != NONE && a.own_error[i];
        let e = pair.entry((t.instance[i], host)).or_default();
        e.0 += failed as u64;
        e.1 += 1;
        if failed {
            spans.entry((t.instance[i], host)).or_default().push(i);
        }
    }
    let sum = |keep: &dyn Fn(&(u32, &str)) -> bool| {
        pair.iter().filter(|(k, _)| keep(k)).fold((0u64, 0u64), |s, (_, v)| (s.0 + v.0, s.1 + v.1))
    };
    let rate = |(f, n): (u64, u64)| f as f64 / n.max(1) as f64;
    // A pair's caller is alive when it reaches some other host, its host when it answers some
    // other caller (each on enough calls, failing at most CUT_ELSEWHERE as often).
    let fine = |r: f64, keep: &dyn Fn(&(u32, &str)) -> bool| {
        let calls: u64 = pair
            .iter()
            .filter(|(k, v)| keep(k) && v.1 >= MIN_PAIR_CALLS && rate(**v) <= CUT_ELSEWHERE * r)
            .map(|(_, v)| v.1)
            .sum();
        calls >= MIN_PAIR_CALLS
    };
    // A pair is cut when its calls fail and one of its ends is alive: in a partition between
    // zones a caller may have nothing else to call (its first call fails the request), and a host
    // may have no caller on its own side.
    let cut: Vec<((u32, &str), bool, bool)> = pair
        .iter()
        .filter(|(_, &v)| v.1 >= MIN_PAIR_CALLS && rate(v) >= CUT_RATE)
        .map(|(&(c, h), &v)| {
            let r = rate(v);
            ((c, h), fine(r, &|k| k.0 == c && k.1 != h), fine(r, &|k| k.1 == h && k.0 != c))
        })
        .filter(|(_, caller_alive, host_alive)| *caller_alive || *host_alive)
        .collect();
    // Both sides must show they are alive somewhere: hosts no caller reaches are down (a service
    // refusing every connection), callers that reach no host are broken themselves.
    if !cut.iter().any(|c| c.1) || !cut.iter().any(|c| c.2) {
        return None;
    }
    let cut: Vec<(u32, &str)> = cut.into_iter().map(|c| c.0).collect();
    let on_cut = |k: &(u32, &str)| cut.contains(k);
    let (failed, calls) = sum(&on_cut);
    let all_failed = sum(&|_| true).0;
    let mut instances: Vec<u32> = cut.iter().map(|k| k.0).collect();
    let mut hosts: Vec<String> = cut.iter().map(|k| k.1.to_string()).collect();
    instances.sort_unstable();
    instances.dedup();
    hosts.sort_unstable();
    hosts.dedup();
    if failed < 20
        || (failed as f64) < CUT_SHARE * all_failed as f64
        || instances.len() < 2
        || hosts.len() < 2
    {
        return None;
    }
    // The calling service with most failed calls across the cut, and the services it called.
    let mut by_service: HashMap<u32, u64> = HashMap::default();
    let mut callees: Vec<u32> = Vec::new();
    for i in cut.iter().flat_map(|k| spans.get(k)).flatten().copied() {
        *by_service.entry(t.service[i]).or_default() += 1;
        if !callees.contains(&t.peer[i]) {
            callees.push(t.peer[i]);
        }
    }
    let caller = by_service.into_iter().max_by_key(|&(s, n)| (n, std::cmp::Reverse(s)))?.0;
    let elsewhere = rate(sum(&|k| !on_cut(k)));
    Some(Cut { instances, hosts, failed, calls, elsewhere, caller, callees })
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
            let zones_known = s.spans.resources.iter().any(|r| r.zone != NONE);
            return match cut_without_zones(s.spans, &s.attribution, s.incident.pair()) {
                Some(c) if !zones_known => vec![cut_finding(s, &c)],
                _ => vec![],
            };
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

/// The finding of a cut found without zones.
fn cut_finding(s: &Signals<'_>, c: &Cut) -> Finding {
    let caller = s.name(c.caller);
    let mut instances: Vec<String> = c.instances.iter().map(|&x| s.name(x)).collect();
    let mut callees: Vec<String> = c.callees.iter().map(|&x| s.name(x)).collect();
    instances.sort_unstable();
    callees.sort_unstable();
    let mut f = Finding::cause(&caller, 1.2);
    f.pattern(Pattern::NetworkPartition);
    f.summary = format!(
        "the network between {} and {} is cut: {caller}'s calls across it fail",
        instances.join(", "),
        c.hosts.join(", ")
    );
    f.evidence(
        EvidenceKind::Traces,
        format!(
            "{} of {} calls from {} to {} failed unanswered (to {}), while those callers reached other hosts or \
             those hosts answered other callers; {} elsewhere",
            c.failed,
            c.calls,
            instances.join(", "),
            c.hosts.join(", "),
            callees.join(", "),
            pct(c.elsewhere)
        ),
        vec![],
    );
    f
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

    /// Requests to `web` instances, each calling an `api` host; `fails(caller, host)` says which
    /// calls fail unanswered.
    fn calls(fails: impl Fn(usize, usize) -> bool) -> Option<Cut> {
        calls_from(fails, |_, _| true)
    }

    /// As `calls`, with only the calls `made(caller, host)`.
    fn calls_from(fails: impl Fn(usize, usize) -> bool, made: impl Fn(usize, usize) -> bool) -> Option<Cut> {
        use faultline_model::{ResourceInfo, SpanKind, StatusCode};
        let mut spans = Vec::new();
        let mut trace = 0u128;
        for round in 0..20i64 {
            for c in 0..4 {
                for h in (0..4).filter(|&h| made(c, h)) {
                    trace += 1;
                    let start = round * 1_000_000_000 + (c * 4 + h) as i64 * 1_000_000;
                    let mut entry = testkit::span(trace, 1, None, "web", start, 5_000_000);
                    let mut call = testkit::span(trace, 2, Some(1), "web", start + 100_000, 1_000_000);
                    let mut res = entry.resource.attributes.clone();
                    res.insert("service.instance.id".into(), format!("web-{c}").into());
                    let res = std::sync::Arc::new(ResourceInfo::from_attributes(res));
                    entry.resource = res.clone();
                    call.resource = res;
                    call.kind = SpanKind::Client;
                    call.name = "GET /api".into();
                    call.attributes.insert("network.peer.address".into(), format!("10.0.0.{h}:80").into());
                    call.attributes.insert("peer.service".into(), "api".into());
                    if fails(c, h) {
                        call.status_code = StatusCode::Error;
                        entry.status_code = StatusCode::Error;
                    }
                    spans.extend([entry, call]);
                }
            }
        }
        let s = testkit::signals_of(&spans, Default::default());
        cut_without_zones(s.spans, &s.attribution, (i64::MIN, i64::MAX))
    }

    #[test]
    fn a_cut_without_zones_is_calls_failing_only_between_some_callers_and_some_hosts() {
        let cut = calls(|c, h| c < 2 && h >= 2).expect("a cut");
        assert_eq!(cut.hosts, vec!["10.0.0.2", "10.0.0.3"]);
        assert_eq!(cut.instances.len(), 2);
        assert_eq!(cut.failed, 2 * 2 * 20);
        // A host failing for every caller, a caller failing to every host, one caller's one pool:
        // none is a partition.
        assert!(calls(|_, h| h == 3).is_none());
        assert!(calls(|c, _| c == 0).is_none());
        assert!(calls(|c, h| c == 0 && h == 3).is_none());
        assert!(calls(|_, _| false).is_none());
        // Two hosts no caller reaches (a service down on both its instances): not a partition.
        assert!(calls(|_, h| h >= 2).is_none());
    }

    #[test]
    fn a_cut_holds_callers_with_nothing_else_to_call_when_their_hosts_answer_others() {
        // Callers 0 and 1 fail to hosts 2 and 3 and reach 0 and 1; callers 2 and 3 call host 0
        // alone and fail (their first call fails the request): the cut runs both ways.
        let cut = calls_from(|c, h| (c < 2 && h >= 2) || (c >= 2 && h == 0), |c, h| c < 2 || h == 0)
            .expect("a cut");
        assert_eq!(cut.instances.len(), 4);
        assert_eq!(cut.hosts, vec!["10.0.0.0", "10.0.0.2", "10.0.0.3"]);
    }
}

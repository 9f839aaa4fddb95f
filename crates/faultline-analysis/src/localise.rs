//! Localisation: what each service (and each uninstrumented peer) did itself, as opposed to what it
//! inherited from its dependencies, in the baseline and in the incident; which of them changed, and
//! how much of the symptom each change explains.
//!
//! A service's own errors are failed spans answering a request none of whose children failed; its
//! own time is a span's duration less its children's. A call nobody instrumented answered (a
//! database, a cache, an external API, a backend that never saw the request) is the callee's: its
//! failures and its whole duration belong to the callee, with the address called as the instance.
//!
//! A call that an instrumented callee answered leaves a gap: the call's time outside the callee's
//! own span (network, queues, connection set-up). The gap belongs to the edge. When an edge's gaps
//! grow, the endpoint to blame is the one whose other edges grew too: a slow network on one host
//! delays all its calls, in and out, and only those.

use crate::graph::Graph;
use crate::hash::HashMap;
use crate::spans::{SpanTable, NONE};
use crate::stats::{quantile, two_proportion_z};
use crate::symptom::MIN_BUCKETED_REQUESTS;

/// Counts of one window.
#[derive(Debug, Default, Clone)]
pub struct Stat {
    pub n: u64,
    pub errors: u64,
    /// Own time of each span.
    pub self_ns: Vec<i64>,
    /// Own time summed per request (trace), node totals only: the unit a test of growth counts. A
    /// service called ten times in one slow request is one slow request, not ten samples.
    pub per_request_ns: Vec<i64>,
}

impl Stat {
    /// Own time per request, over the `requests` of its side (ns).
    pub fn own_per_request(&self, requests: usize) -> f64 {
        self.self_ns.iter().sum::<i64>() as f64 / requests.max(1) as f64
    }

    pub fn rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.errors as f64 / self.n as f64
        }
    }
}

/// Baseline (0) and incident (1).
pub type Pair = [Stat; 2];

#[derive(Debug, Default)]
pub struct Node {
    pub total: Pair,
    pub by_instance: HashMap<u32, Pair>,
    pub by_operation: HashMap<u32, Pair>,
    /// Calls that reached this node unanswered, by calling instance (for callee-side nodes).
    pub by_caller_instance: HashMap<u32, Pair>,
    /// Known only from its callers' client spans.
    pub uninstrumented: bool,
    /// Called as a database or cache.
    pub datastore: bool,
    /// Own-error messages in the incident, with counts.
    pub messages: HashMap<u32, u64>,
    /// Own errors in the incident that are calls to it it never answered, with no error recorded
    /// on them (`unanswered_call`).
    pub unanswered: u64,
    /// Slow threshold: the baseline's p95 of own time.
    pub slow_ns: i64,
    pub anomaly: Anomaly,
    /// The edges whose grown gaps were blamed on this node (indices into `Attribution::edges`).
    pub network: Vec<u32>,
    /// When the node's latency anomaly is that of one of its operations (drowned among the others
    /// at the node's level): the operation and its slow threshold.
    pub slow_op: Option<(u32, i64)>,
}

/// The gaps of calls on one edge: the callers' time outside the callee's span.
#[derive(Debug, Default)]
pub struct EdgeGaps {
    pub caller: u32,
    pub callee: u32,
    pub total: Pair,
    pub slow_ns: i64,
    pub anomaly: Anomaly,
    /// The node the edge's anomaly is blamed on (`NONE` when the gaps did not change).
    pub blamed: u32,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Anomaly {
    pub error_z: f64,
    pub errors: bool,
    pub slow_before: f64,
    pub slow_after: f64,
    pub latency_z: f64,
    pub latency: bool,
    pub p50_ratio: f64,
    pub p95_ratio: f64,
    /// Share of failing requests whose trace holds an own error of this node.
    pub error_coverage: f64,
    /// Share of slow requests whose trace holds a slow own time of this node.
    pub latency_coverage: f64,
    /// The latency anomaly is that of calls to or from the node (their gaps), not its own time.
    pub network: bool,
}

/// Per span: the node it is accounted to (`NONE` if none), with its own error and own time; or,
/// for answered calls, the edge whose gap it holds.
pub struct Attribution {
    pub node: Vec<u32>,
    pub instance: Vec<u32>,
    pub own_error: Vec<bool>,
    /// Own time, or for answered calls the gap.
    pub self_ns: Vec<i64>,
    /// For answered calls: index into `edges`; `NONE` otherwise.
    pub edge: Vec<u32>,
    pub nodes: HashMap<u32, Node>,
    pub edges: Vec<EdgeGaps>,
}

/// Smallest growth of an edge's typical gap that counts, so that jitter of a fast network does not.
const MIN_GAP_GROWTH_NS: f64 = 2e6;

/// A span's side in a comparison: the baseline (0), the incident (1), or neither.
pub const NO_SIDE: u8 = u8::MAX;

/// The side of time `at`: the incident window wins where the two overlap.
pub fn side_at(at: i64, baseline: (i64, i64), incident: (i64, i64)) -> u8 {
    if at >= incident.0 && at < incident.1 {
        1
    } else if at >= baseline.0 && at < baseline.1 {
        0
    } else {
        NO_SIDE
    }
}

/// Sides by start time.
pub fn sides_by_time(t: &SpanTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<u8> {
    t.start.iter().map(|&s| side_at(s, baseline, incident)).collect()
}

/// Sides by what happened to the request: the spans of traces whose entry failed or was slow (the
/// slow group of its endpoint's durations, `stats::slow_split`) are the incident side, those of the
/// other traces in `window` the baseline. Returns the sides and each endpoint's slow threshold.
pub fn sides_by_outcome(t: &SpanTable, g: &Graph, window: (i64, i64)) -> (Vec<u8>, HashMap<(u32, u32), i64>) {
    let entries = trace_entries(t, g);
    let thresholds = slow_thresholds(t, &entries, window, usize::MAX);
    let mut sides = vec![NO_SIDE; t.len()];
    for (spans, entry) in g.traces().zip(&entries) {
        let Some(e) = *entry else { continue };
        if t.start[e] < window.0 || t.start[e] >= window.1 {
            continue;
        }
        let slow = thresholds.get(&(t.service[e], t.operation[e])).is_some_and(|&th| t.duration[e] > th);
        let side = (t.error[e] || slow) as u8;
        for &i in spans {
            sides[i as usize] = side;
        }
    }
    (sides, thresholds)
}

/// Each trace's entry span (the request it answers), in the order of `Graph::traces`.
pub fn trace_entries(t: &SpanTable, g: &Graph) -> Vec<Option<usize>> {
    g.traces().map(|spans| spans.iter().map(|&i| i as usize).find(|&i| g.is_entry(t, i))).collect()
}

/// The slow threshold (`stats::slow_split`) of each endpoint's answered requests in `window`, for
/// endpoints with fewer than `fewer_than` of them. Answered only: how fast a request failed is not
/// how slow the others were.
///
/// The endpoints with too few requests for the onset search (under `MIN_BUCKETED_REQUESTS`) are
/// also split as one, whatever their endpoint, and a request slow in either split is slow: a delay
/// that reached every request of an endpoint from its first on leaves that endpoint no fast group
/// of its own, and its requests sat among "the others" (the slow-trace rule of fault-injection
/// studies splits all the traces as one). Few-traces seed 4: the slow requests' leads 0.907 ->
/// 0.979 over all the spans; requests compared among themselves 0.979 -> 0.990 (a service called
/// three times by an endpoint slow in every request had its 955 ms on the "normal" side), healthy
/// twins' false alarms unchanged. With many requests and no onset, an endpoint's slow requests
/// are its usual, and heavier endpoints than others are the usual too.
pub fn slow_thresholds(
    t: &SpanTable,
    entries: &[Option<usize>],
    window: (i64, i64),
    fewer_than: usize,
) -> HashMap<(u32, u32), i64> {
    let mut durations: HashMap<(u32, u32), Vec<i64>> = HashMap::default();
    for &e in entries.iter().flatten() {
        if t.start[e] >= window.0 && t.start[e] < window.1 && !t.error[e] {
            durations.entry((t.service[e], t.operation[e])).or_default().push(t.duration[e]);
        }
    }
    let mut out: HashMap<(u32, u32), i64> = durations
        .iter()
        .filter(|(_, d)| d.len() < fewer_than)
        .filter_map(|(&k, d)| Some((k, crate::stats::slow_split(d)?)))
        .collect();
    // The endpoints with too few requests for the onset search, split as one as well.
    let few = |d: &Vec<i64>| d.len() < MIN_BUCKETED_REQUESTS;
    let all: Vec<i64> = durations.values().filter(|d| few(d)).flatten().copied().collect();
    if let Some(th) = crate::stats::slow_split(&all) {
        for (&k, _) in durations.iter().filter(|(_, d)| few(d)) {
            let own = out.entry(k).or_insert(i64::MAX);
            *own = (*own).min(th);
        }
    }
    out
}

pub fn attribute(t: &SpanTable, g: &Graph, baseline: (i64, i64), incident: (i64, i64)) -> Attribution {
    attribute_sides(t, g, &sides_by_time(t, baseline, incident))
}

/// Attribution over any two groups of spans: two windows, or the spans of failing (slow) requests
/// against those of the others when no healthy stretch of time is there to compare with.
pub fn attribute_sides(t: &SpanTable, g: &Graph, sides: &[u8]) -> Attribution {
    let n = t.len();
    let mut a = Attribution {
        node: vec![NONE; n],
        instance: vec![NONE; n],
        own_error: vec![false; n],
        self_ns: vec![0; n],
        edge: vec![NONE; n],
        nodes: HashMap::default(),
        edges: Vec::new(),
    };
    let mut edge_index: HashMap<(u32, u32), u32> = HashMap::default();
    let services: crate::hash::HashSet<u32> = t.service.iter().copied().collect();
    let unanswered = |c: usize| unanswered_call(t, g, &services, c);
    for (i, &side) in sides.iter().enumerate().take(n) {
        let w = side as usize;
        if w > 1 {
            continue;
        }
        let call = t.is_call(i);
        // A call answered by another service (spans without kind too: a span that does not answer
        // a request itself but has a child in another service made a call).
        let callee = if call || !g.answers_request(t, i) {
            g.children(i).iter().map(|&c| t.service[c as usize]).find(|&s| s != t.service[i])
        } else {
            None
        };
        if let Some(callee) = callee {
            let k = *edge_index.entry((t.service[i], callee)).or_insert_with(|| {
                a.edges.push(EdgeGaps { caller: t.service[i], callee, blamed: NONE, ..Default::default() });
                (a.edges.len() - 1) as u32
            });
            let gap = g.self_time(t, i);
            a.edge[i] = k;
            a.self_ns[i] = gap;
            let s = &mut a.edges[k as usize].total[w];
            s.n += 1;
            s.self_ns.push(gap);
            continue;
        }
        let (node, inst, own_err, self_ns, caller) = if call {
            if t.peer[i] == NONE {
                continue;
            }
            // A call its instrumented callee never answered, whose caller then failed: the caller
            // failed because of it (its status was not recorded, or not exported).
            let p = g.parent[i];
            let caller_failed = p != NONE && t.error[p as usize];
            let own = t.error[i] || (caller_failed && unanswered(i));
            (t.peer[i], t.attr_info(i).peer_addr, own, t.duration[i], Some(t.instance[i]))
        } else {
            // A callee that answered what its caller counts as a failure (a 404, or too late for the
            // caller's timeout) failed on its own too.
            let p = g.parent[i];
            let caller_failed = p != NONE && t.service[p as usize] != t.service[i] && t.error[p as usize];
            let child_failed = |c: u32| t.error[c as usize] || unanswered(c as usize);
            let own = (t.error[i] || caller_failed) && !g.children(i).iter().any(|&c| child_failed(c));
            (t.service[i], t.instance[i], own, g.self_time(t, i), None)
        };
        a.node[i] = node;
        a.instance[i] = inst;
        a.own_error[i] = own_err;
        a.self_ns[i] = self_ns;
        let nd = a.nodes.entry(node).or_default();
        if call {
            nd.datastore |= t.attr_info(i).db;
        }
        let counts_request = call || g.answers_request(t, i);
        let add = |s: &mut Stat| {
            s.n += counts_request as u64;
            s.errors += own_err as u64;
            s.self_ns.push(self_ns);
        };
        add(&mut nd.total[w]);
        if inst != NONE {
            add(&mut nd.by_instance.entry(inst).or_default()[w]);
        }
        add(&mut nd.by_operation.entry(t.operation[i]).or_default()[w]);
        if let Some(c) = caller {
            add(&mut nd.by_caller_instance.entry(c).or_default()[w]);
        }
        if own_err && w == 1 && call && !t.error[i] {
            nd.unanswered += 1;
        }
        if own_err && w == 1 {
            // What it said: its message, else the status it answered with.
            let detail =
                if t.error[i] && t.message[i] != NONE { t.message[i] } else { t.attr_info(i).status };
            if detail != NONE {
                *nd.messages.entry(detail).or_default() += 1;
            }
        }
    }
    per_request_sums(g, sides, &mut a);
    for (&id, nd) in a.nodes.iter_mut() {
        nd.uninstrumented = !services.contains(&id);
        for s in &mut nd.total {
            s.self_ns.sort_unstable();
        }
        nd.slow_ns = quantile(&nd.total[0].self_ns, 0.95).max(100_000);
        nd.anomaly = anomaly(&nd.total, nd.slow_ns);
        operation_anomaly(nd);
    }
    blame_edges(&mut a);
    a
}

/// A call without a failure mark to a service that is instrumented (its spans are in the data),
/// which no span of that service answered: the request never reached it (its name did not resolve,
/// the connection was refused, it was down). With the caller's failure recorded and the call's
/// own not (telemetry with no span status, or a client that records none), the call is what failed.
fn unanswered_call(t: &SpanTable, g: &Graph, services: &crate::hash::HashSet<u32>, c: usize) -> bool {
    let peer = t.peer[c];
    t.is_call(c)
        && !t.error[c]
        && peer != NONE
        && peer != t.service[c]
        && services.contains(&peer)
        && !g.children(c).iter().any(|&k| t.service[k as usize] != t.service[c])
}

/// Fills each node's `per_request_ns`: its own time summed over the spans of each trace, per side.
fn per_request_sums(g: &Graph, sides: &[u8], a: &mut Attribution) {
    let mut sums: HashMap<(u32, u8), i64> = HashMap::default();
    for spans in g.traces() {
        sums.clear();
        for &i in spans {
            let (node, side) = (a.node[i as usize], sides[i as usize]);
            if node != NONE && side <= 1 {
                *sums.entry((node, side)).or_default() += a.self_ns[i as usize];
            }
        }
        for (&(node, side), &ns) in &sums {
            if let Some(nd) = a.nodes.get_mut(&node) {
                nd.total[side as usize].per_request_ns.push(ns);
            }
        }
    }
    for nd in a.nodes.values_mut() {
        for s in &mut nd.total {
            s.per_request_ns.sort_unstable();
        }
    }
}

/// Finds the edges whose gaps grew and blames each on the endpoint whose other edges grew too (the
/// callee on a tie: calls to it are what got slow); the blamed node takes the edge's anomaly when
/// its own is weaker.
fn blame_edges(a: &mut Attribution) {
    let mut grown: HashMap<u32, (u32, u32)> = HashMap::default();
    for e in a.edges.iter_mut() {
        for s in &mut e.total {
            s.self_ns.sort_unstable();
        }
        e.slow_ns = quantile(&e.total[0].self_ns, 0.95).max(100_000);
        e.anomaly = anomaly(&e.total, e.slow_ns);
        let (b, i) = (&e.total[0], &e.total[1]);
        if b.self_ns.len() < 10 || i.self_ns.len() < 10 {
            continue;
        }
        let growth = |p: f64| (quantile(&i.self_ns, p) - quantile(&b.self_ns, p)) as f64;
        e.anomaly.latency &= growth(0.5).max(growth(0.95)) >= MIN_GAP_GROWTH_NS;
        for node in [e.caller, e.callee] {
            let c = grown.entry(node).or_default();
            c.0 += e.anomaly.latency as u32;
            c.1 += 1;
        }
    }
    // The share of a node's other edges that grew too, with a neutral prior of one half for a node
    // with no other edges (a leaf with one caller says nothing about itself).
    let others = |n: u32| {
        let (g, k) = grown.get(&n).copied().unwrap_or_default();
        (g.saturating_sub(1) as f64 + 0.5) / (k.saturating_sub(1) as f64 + 1.0)
    };
    // On a tie, the endpoint whose own time grew too (a starved CPU delays its calls as well).
    let own_slow: crate::hash::HashSet<u32> =
        a.nodes.iter().filter(|(_, nd)| nd.anomaly.latency).map(|(&id, _)| id).collect();
    for k in 0..a.edges.len() {
        let e = &a.edges[k];
        if !e.anomaly.latency {
            continue;
        }
        let (oc, ot) = (others(e.caller), others(e.callee));
        let (sc, st) = (own_slow.contains(&e.caller), own_slow.contains(&e.callee));
        let blamed = if (oc - ot).abs() < 0.1 && sc != st {
            if sc {
                e.caller
            } else {
                e.callee
            }
        } else if oc > ot {
            e.caller
        } else {
            e.callee
        };
        let an = e.anomaly;
        a.edges[k].blamed = blamed;
        let nd = a.nodes.entry(blamed).or_default();
        nd.network.push(k as u32);
        if !nd.anomaly.latency || nd.anomaly.latency_z < an.latency_z {
            nd.anomaly.latency = true;
            nd.anomaly.latency_z = an.latency_z;
            nd.anomaly.slow_before = an.slow_before;
            nd.anomaly.slow_after = an.slow_after;
            nd.anomaly.p50_ratio = an.p50_ratio;
            nd.anomaly.p95_ratio = an.p95_ratio;
            nd.anomaly.network = true;
        }
    }
}

/// The time each node added per request in the incident against the baseline (ns; negative when
/// it got faster): its own time plus the gaps of the edges blamed on it, over `requests`
/// (baseline, incident) entry requests.
pub fn excess_per_request(a: &Attribution, requests: [usize; 2]) -> HashMap<u32, f64> {
    let per = |s: &Stat, w: usize| s.own_per_request(requests[w]);
    a.nodes
        .iter()
        .map(|(&id, nd)| {
            let mut x = per(&nd.total[1], 1) - per(&nd.total[0], 0);
            for &k in &nd.network {
                let e = &a.edges[k as usize];
                x += per(&e.total[1], 1) - per(&e.total[0], 0);
            }
            (id, x)
        })
        .collect()
}

/// One operation's errors or slowness can drown among the node's other operations: the node takes
/// the strongest anomaly of an operation where its own shows none.
fn operation_anomaly(nd: &mut Node) {
    if nd.anomaly.errors && nd.anomaly.latency {
        return;
    }
    let mut best: Option<(u32, i64, Anomaly, f64)> = None;
    for (&op, p) in nd.by_operation.iter_mut() {
        if p[0].self_ns.len() < 10 || p[1].self_ns.len() < 10 {
            continue;
        }
        for s in p.iter_mut() {
            s.self_ns.sort_unstable();
        }
        let slow = quantile(&p[0].self_ns, 0.95).max(100_000);
        let an = anomaly(p, slow);
        let new_errors = an.errors && !nd.anomaly.errors;
        let new_latency = an.latency && !nd.anomaly.latency;
        let strength =
            if new_errors { an.error_z } else { 0.0 } + if new_latency { an.latency_z } else { 0.0 };
        if strength > 0.0 && best.as_ref().is_none_or(|b| strength > b.3 || (strength == b.3 && op < b.0)) {
            best = Some((op, slow, an, strength));
        }
    }
    let Some((op, slow, an, _)) = best else { return };
    let n = &mut nd.anomaly;
    if an.errors && !n.errors {
        n.errors = true;
        n.error_z = an.error_z;
    }
    if an.latency && !n.latency {
        n.latency = true;
        n.latency_z = an.latency_z;
        n.slow_before = an.slow_before;
        n.slow_after = an.slow_after;
        n.p50_ratio = an.p50_ratio;
        n.p95_ratio = an.p95_ratio;
        nd.slow_op = Some((op, slow));
    }
}

/// How the incident differs from the baseline for one node (or one of its instances). The own
/// times of `p` must be sorted.
pub fn anomaly(p: &Pair, slow_ns: i64) -> Anomaly {
    let (b, i) = (&p[0], &p[1]);
    let mut an = Anomaly::default();
    an.error_z = two_proportion_z(b.errors, b.n, i.errors, i.n);
    an.errors = an.error_z >= 4.0
        && i.rate() - b.rate() >= 0.005
        && i.rate() >= 2.0 * b.rate()
        && i.errors >= crate::rules::MIN_OWN_ERRORS;
    let slow = |s: &Stat| s.self_ns.iter().filter(|&&d| d > slow_ns).count() as u64;
    let (sb, si) = (slow(b), slow(i));
    let (nb, ni) = (b.self_ns.len() as u64, i.self_ns.len() as u64);
    if nb > 0 && ni > 0 {
        an.slow_before = sb as f64 / nb as f64;
        an.slow_after = si as f64 / ni as f64;
        an.latency_z = two_proportion_z(sb, nb, si, ni);
        let q = |s: &Stat, p: f64| quantile(&s.self_ns, p).max(1) as f64;
        an.p50_ratio = q(i, 0.5) / q(b, 0.5);
        an.p95_ratio = q(i, 0.95) / q(b, 0.95);
        an.latency = an.latency_z >= 4.0 && an.slow_after >= 0.15 && an.p95_ratio >= 1.3;
    }
    an
}

/// Requests (entry spans) on each side.
pub fn entries_per_side(t: &SpanTable, g: &Graph, sides: &[u8]) -> [usize; 2] {
    let mut n = [0usize; 2];
    for i in 0..t.len() {
        if sides[i] <= 1 && g.is_entry(t, i) {
            n[sides[i] as usize] += 1;
        }
    }
    n
}

/// For each node, the share of failing (and of slow) incident requests whose traces hold one of its
/// own errors (a slow own time). `slow_entry` says which entry spans were slow.
pub fn coverage(
    t: &SpanTable,
    g: &Graph,
    a: &mut Attribution,
    sides: &[u8],
    slow_entry: &dyn Fn(usize) -> bool,
) -> (u64, u64) {
    let (mut failing, mut slow) = (0u64, 0u64);
    let mut err_cov: HashMap<u32, u64> = HashMap::default();
    let mut lat_cov: HashMap<u32, u64> = HashMap::default();
    let mut seen: Vec<u32> = Vec::new();
    for spans in g.traces() {
        let Some(&entry) = spans.iter().find(|&&i| g.is_entry(t, i as usize)) else { continue };
        let e = entry as usize;
        if sides[e] != 1 {
            continue;
        }
        if t.error[e] {
            failing += 1;
            seen.clear();
            for &i in spans {
                let i = i as usize;
                if a.own_error[i] && a.node[i] != NONE && !seen.contains(&a.node[i]) {
                    seen.push(a.node[i]);
                    *err_cov.entry(a.node[i]).or_default() += 1;
                }
            }
        }
        if slow_entry(e) {
            slow += 1;
            seen.clear();
            for &i in spans {
                let i = i as usize;
                let (node, slow) = match a.edge[i] {
                    NONE => {
                        let node = a.node[i];
                        let slow = a.nodes.get(&node).is_some_and(|nd| match nd.slow_op {
                            Some((op, th)) if op == t.operation[i] => a.self_ns[i] > th,
                            _ => a.self_ns[i] > nd.slow_ns,
                        });
                        (node, slow)
                    }
                    k => {
                        let e = &a.edges[k as usize];
                        (e.blamed, a.self_ns[i] > e.slow_ns)
                    }
                };
                if node == NONE || !slow || seen.contains(&node) {
                    continue;
                }
                seen.push(node);
                *lat_cov.entry(node).or_default() += 1;
            }
        }
    }
    for (id, nd) in a.nodes.iter_mut() {
        nd.anomaly.error_coverage = err_cov.get(id).map_or(0.0, |&c| c as f64 / failing.max(1) as f64);
        nd.anomaly.latency_coverage = lat_cov.get(id).map_or(0.0, |&c| c as f64 / slow.max(1) as f64);
    }
    (failing, slow)
}

/// One member of a group (an instance among its peers, an operation among the node's) that holds
/// most of the group's excess errors or slow requests while serving a minority of its traffic.
pub struct Outlier {
    pub key: u32,
    /// Its share of the group's excess.
    pub share: f64,
    pub rate_after: f64,
    pub others_after: f64,
    pub latency: bool,
}

pub fn outlier(group: &HashMap<u32, Pair>, slow_ns: i64, by_latency: bool) -> Option<Outlier> {
    if group.len() < 2 {
        return None;
    }
    let event = |s: &Stat| {
        if by_latency {
            s.self_ns.iter().filter(|&&d| d > slow_ns).count() as u64
        } else {
            s.errors
        }
    };
    let events = |s: &Stat| (event(s), if by_latency { s.self_ns.len() as u64 } else { s.n });
    let (tot_e, tot_n): (u64, u64) =
        group.values().map(|p| events(&p[1])).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if tot_e < 10 || tot_n == 0 {
        return None;
    }
    let (key, p) = group.iter().max_by_key(|(k, p)| (event(&p[1]), std::cmp::Reverse(**k)))?;
    let (e, n) = events(&p[1]);
    let share = e as f64 / tot_e as f64;
    let traffic = n as f64 / tot_n as f64;
    let rate = e as f64 / n.max(1) as f64;
    let others = (tot_e - e) as f64 / (tot_n - n).max(1) as f64;
    let z = two_proportion_z(tot_e - e, tot_n - n, e, n);
    (share >= 0.6 && traffic <= 0.75 && rate >= 3.0 * others && z >= 4.0).then_some(Outlier {
        key: *key,
        share,
        rate_after: rate,
        others_after: others,
        latency: by_latency,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_time_per_request_sums_each_trace_once() {
        // Per request: every span's own time counted once, in as many values as traces reached it.
        let s = crate::detectors::testkit::signals("lb-bad-backend");
        let traces = s.graph.traces().count();
        for nd in s.attribution.nodes.values() {
            for side in &nd.total {
                assert_eq!(side.per_request_ns.iter().sum::<i64>(), side.self_ns.iter().sum::<i64>());
                assert!(side.per_request_ns.len() <= traces.min(side.self_ns.len()));
            }
        }
        assert!(s
            .attribution
            .nodes
            .values()
            .any(|nd| nd.total[1].per_request_ns.len() < nd.total[1].self_ns.len()));
    }

    #[test]
    fn a_failure_after_a_call_nobody_answered_is_the_callee_s() {
        // `front` calls `pay` (instrumented) through a client span with no status. From 200 s on
        // `pay` never answers and `front` fails: with an answered call or a call to a service with
        // no spans of its own, the failure stays `front`'s.
        use crate::detectors::testkit::{signals_of, span};
        use faultline_model::{SpanKind, StatusCode};
        const SECOND: i64 = 1_000_000_000;
        const MS: i64 = 1_000_000;
        let t0 = 1_800_000_000 * SECOND;
        let spans = |callee: &str, answered_after: bool| {
            let mut out = Vec::new();
            for k in 0..400u64 {
                let start = t0 + k as i64 * SECOND;
                let tr = 30_000 + k as u128;
                let mut entry = span(tr, 1, None, "front", start, 40 * MS);
                if k >= 200 {
                    entry.status_code = StatusCode::Error;
                }
                out.push(entry);
                let mut call = span(tr, 2, Some(1), "front", start + MS, 30 * MS);
                call.kind = SpanKind::Client;
                call.attributes.insert("peer.service".into(), callee.into());
                out.push(call);
                if k < 200 || answered_after {
                    out.push(span(tr, 3, Some(2), callee, start + 2 * MS, 25 * MS));
                }
            }
            out
        };
        let split = t0 + 200 * SECOND;
        let ask = crate::plan::Ask {
            from: Some(split),
            to: Some(split + 200 * SECOND),
            baseline: Some((t0, split)),
        };
        let node = |spans: &[faultline_model::Span], name: &str| {
            let s = signals_of(spans, ask);
            let id = s.attribution.nodes.keys().copied().find(|&id| s.name(id) == name);
            id.map(|id| (s.attribution.nodes[&id].total[1].errors, s.attribution.nodes[&id].unanswered))
        };
        let own_errors = |spans: &[faultline_model::Span], name: &str| node(spans, name).map_or(0, |n| n.0);
        let unanswered = spans("pay", false);
        assert_eq!(own_errors(&unanswered, "front"), 0);
        assert_eq!(node(&unanswered, "pay"), Some((200, 200)));
        // Answered, then `front` failed: its own.
        let answered = spans("pay", true);
        assert_eq!(own_errors(&answered, "front"), 200);
        // A call to a database nobody instruments has no answering span in the baseline either.
        let mut db: Vec<_> = spans("pay", false).into_iter().filter(|s| s.span_id.0[7] != 3).collect();
        for s in db.iter_mut().filter(|s| s.kind == SpanKind::Client) {
            s.attributes.insert("peer.service".into(), "ledger-db".into());
        }
        assert_eq!(own_errors(&db, "front"), 200);
        assert_eq!(own_errors(&db, "ledger-db"), 0);
    }

    fn stat(n: u64, errors: u64) -> super::Stat {
        super::Stat { n, errors, self_ns: vec![1_000_000; n as usize], ..Default::default() }
    }

    #[test]
    fn one_own_error_is_no_error_anomaly() {
        // One failure in two spans against none in a thousand is a z far above 4, and an accident:
        // a request holding one background failure is on the incident side by construction.
        assert!(!super::anomaly(&[stat(1000, 0), stat(2, 1)], 0).errors);
        assert!(super::anomaly(&[stat(1000, 0), stat(3, 2)], 0).errors);
    }
}

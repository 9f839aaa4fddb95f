//! Trace shape: the calls a span usually makes, and spans that quietly stopped making them.
//!
//! Code that returns a wrong value, or swallows an exception, fails without a status: the caller
//! carries on with what it got, skips the calls that should follow, and answers early. Real
//! telemetry often has no span status at all. The shape of the traces still shows it: spans of an
//! operation make fewer calls than they used to, and now end right after one particular callee
//! answered (that callee's answer is what stopped them), or with no calls at all (the service
//! itself stopped). Or a call most spans made is no longer made: the service's code took another
//! path. Only spans with no failed child and no failure of their own count, so that an error
//! elsewhere, which localisation explains, is not counted twice.

use crate::graph::Graph;
use crate::hash::HashMap;
use crate::spans::{SpanTable, NONE};
use crate::stats::two_proportion_z;

/// An operation whose spans stopped making their usual calls.
#[derive(Debug, Clone)]
pub struct Truncation {
    pub service: u32,
    pub operation: u32,
    /// The node blamed: the callee after whose answer the work now ends, or the service itself.
    pub blamed: u32,
    /// That callee; `None` when the spans now end with no call at all or after internal work.
    pub after: Option<u32>,
    /// Calls per span, baseline and incident.
    pub calls_before: f64,
    pub calls_after: f64,
    /// Share of spans that end this way, baseline and incident.
    pub share_before: f64,
    pub share_after: f64,
    /// Spans of the operation in the incident.
    pub spans: u64,
    /// Calls no longer made as often: (callee, child operation or `NONE` for all calls to the
    /// callee, calls per span or share of spans making it before, after).
    pub missing: Vec<(u32, u32, f64, f64)>,
    /// No new way of ending: a call the spans used to make vanished (`share_*` are the shares of
    /// spans making it).
    pub vanished: bool,
    pub z: f64,
    /// Traces with a span that ends this way.
    pub examples: Vec<[u8; 16]>,
    /// The spans are calls to the blamed peer that its answer (its server span) no longer
    /// follows: it is down, unreachable or cannot be resolved, and the caller records no error.
    pub unanswered: bool,
}

#[derive(Default)]
struct OpStats {
    spans: u64,
    calls: f64,
    calls_sq: f64,
    /// Spans by how they end (the last callee, the service itself, or `NONE` for no call).
    ends: HashMap<u32, u64>,
    /// Calls per callee.
    callees: HashMap<u32, u64>,
    /// Spans making at least one call to (callee, child operation).
    has: HashMap<(u32, u32), u64>,
    examples: HashMap<u32, Vec<[u8; 16]>>,
    /// The peer the operation's spans call, when they are calls (client spans naming a peer).
    peer: Option<u32>,
}

/// The node a child span stands for, seen from its parent in service `s`: its own service when it
/// is another's, the callee of a call it makes, the peer of an unanswered call, else `s` itself.
fn callee_of(t: &SpanTable, g: &Graph, c: usize, s: u32) -> u32 {
    if t.service[c] != s {
        return t.service[c];
    }
    if let Some(x) = g.children(c).iter().map(|&k| t.service[k as usize]).find(|&x| x != s) {
        return x;
    }
    if t.peer[c] != NONE {
        return t.peer[c];
    }
    s
}

pub fn missing_calls(
    t: &SpanTable,
    g: &Graph,
    baseline: (i64, i64),
    incident: (i64, i64),
) -> Vec<Truncation> {
    let mut ops: HashMap<(u32, u32), [OpStats; 2]> = HashMap::default();
    for i in 0..t.len() {
        let w = match crate::localise::side_at(t.start[i], baseline, incident) {
            crate::localise::NO_SIDE => continue,
            w => w as usize,
        };
        let kids = g.children(i);
        if t.error[i] || kids.iter().any(|&c| t.error[c as usize]) {
            continue;
        }
        let s = t.service[i];
        let st = &mut ops.entry((s, t.operation[i])).or_default()[w];
        st.spans += 1;
        if t.is_client_call(i) && t.peer[i] != NONE {
            st.peer = Some(t.peer[i]);
        }
        st.calls += kids.len() as f64;
        st.calls_sq += (kids.len() * kids.len()) as f64;
        let mut last: Option<usize> = None;
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for &c in kids {
            let c = c as usize;
            let callee = callee_of(t, g, c, s);
            *st.callees.entry(callee).or_default() += 1;
            if !seen.contains(&(callee, t.operation[c])) {
                seen.push((callee, t.operation[c]));
                *st.has.entry((callee, t.operation[c])).or_default() += 1;
            }
            if last.is_none_or(|l| t.end(c) > t.end(l)) {
                last = Some(c);
            }
        }
        let end = last.map_or(NONE, |c| callee_of(t, g, c, s));
        *st.ends.entry(end).or_default() += 1;
        if w == 1 {
            let ex = st.examples.entry(end).or_default();
            if ex.len() < 3 && !ex.contains(&t.trace_id[i]) {
                ex.push(t.trace_id[i]);
            }
        }
    }
    let mut out = Vec::new();
    for ((service, operation), [b, i]) in ops {
        if b.spans < 20 || i.spans < 20 {
            continue;
        }
        let (mb, mi) = (b.calls / b.spans as f64, i.calls / i.spans as f64);
        let var = |s: &OpStats, m: f64| (s.calls_sq / s.spans as f64 - m * m).max(0.0) / s.spans as f64;
        let z_calls = (mb - mi) / (var(&b, mb) + var(&i, mi)).sqrt().max(1e-9);
        // Fewer calls, and a new way of ending.
        let fewer = mb >= 1.0 && mi <= 0.85 * mb && z_calls >= 4.0;
        let share = |s: &OpStats, e: u32| s.ends.get(&e).copied().unwrap_or(0) as f64 / s.spans as f64;
        let end = i
            .ends
            .iter()
            .filter(|_| fewer)
            .map(|(&e, &n)| (e, two_proportion_z(b.ends.get(&e).copied().unwrap_or(0), b.spans, n, i.spans)))
            .filter(|&(e, z)| z >= 5.0 && share(&i, e) - share(&b, e) >= 0.1)
            .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)));
        if let Some((end, z)) = end {
            let mut missing: Vec<(u32, u32, f64, f64)> = b
                .callees
                .iter()
                .map(|(&c, &n)| {
                    let after = i.callees.get(&c).copied().unwrap_or(0) as f64 / i.spans as f64;
                    (c, NONE, n as f64 / b.spans as f64, after)
                })
                .filter(|&(_, _, before, after)| before >= 0.1 && after <= 0.5 * before)
                .collect();
            missing.sort_by(|x, y| (y.2 - y.3).total_cmp(&(x.2 - x.3)).then(x.0.cmp(&y.0)));
            let after = (end != NONE && end != service).then_some(end);
            // A call that now ends with no child at all: its callee no longer answers.
            let unanswered = if end == NONE { b.peer.or(i.peer) } else { None };
            out.push(Truncation {
                service,
                operation,
                blamed: after.or(unanswered).unwrap_or(service),
                after,
                unanswered: unanswered.is_some(),
                calls_before: mb,
                calls_after: mi,
                share_before: share(&b, end),
                share_after: share(&i, end),
                spans: i.spans,
                missing,
                vanished: false,
                z,
                examples: i.examples.get(&end).cloned().unwrap_or_default(),
            });
            continue;
        }
        // A call most spans made, no longer made.
        let has = |s: &OpStats, k: (u32, u32)| s.has.get(&k).copied().unwrap_or(0);
        let mut vanished: Vec<(u32, u32, f64, f64, f64)> = b
            .has
            .keys()
            .map(|&k| {
                let (nb, ni) = (has(&b, k), has(&i, k));
                let z = two_proportion_z(ni, i.spans, nb, b.spans);
                (k.0, k.1, nb as f64 / b.spans as f64, ni as f64 / i.spans as f64, z)
            })
            .filter(|&(_, _, before, after, z)| before >= 0.15 && after <= 0.25 * before && z >= 5.0)
            .collect();
        vanished.sort_by(|x, y| y.4.total_cmp(&x.4).then((x.0, x.1).cmp(&(y.0, y.1))));
        let Some(&(callee, _, before, after, z)) = vanished.first() else { continue };
        // A call whose callee's answer vanished: the callee no longer answers.
        let unanswered = b.peer.or(i.peer).filter(|&p| p == callee);
        out.push(Truncation {
            service,
            operation,
            blamed: unanswered.unwrap_or(service),
            after: None,
            unanswered: unanswered.is_some(),
            calls_before: mb,
            calls_after: mi,
            share_before: before,
            share_after: after,
            spans: i.spans,
            missing: vanished.iter().map(|v| (v.0, v.1, v.2, v.3)).collect(),
            vanished: true,
            z,
            examples: Vec::new(),
        });
    }
    out.sort_by(|x, y| {
        let w = |t: &Truncation| (t.share_after - t.share_before).abs() * t.spans as f64;
        w(y).total_cmp(&w(x)).then((x.service, x.operation).cmp(&(y.service, y.operation)))
    });
    out
}

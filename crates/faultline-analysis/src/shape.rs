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
use crate::stats::{fewer_exact_p, more_exact_p};

/// Spans of an operation the baseline needs before its shape is a norm: below eight, one unusual
/// request moves a share by more than a tenth.
pub const MIN_BASELINE_SPANS: u64 = 8;
/// Spans of an operation the incident side needs: with three, even all of them ending a new way
/// against twelve in the baseline that never did is p = 1/455, above `MAX_SHAPE_P`; four can
/// reach it (1/1820). Faults on rarely used operations (a checkout, an order) leave only a few.
pub const MIN_INCIDENT_SPANS: u64 = 4;
/// How unlikely a change of shape must be, by Fisher's exact test, when nothing changed: one in
/// a thousand. The test holds at any count, where a z needed dozens of spans on each side; the
/// effect-size guards beside it (a new ending on a tenth more of the spans, 15% fewer calls, a
/// call made by 15% of spans now made by a quarter as many) keep large counts from turning small
/// drifts into findings.
pub const MAX_SHAPE_P: f64 = 1e-3;
/// Fewer calls per span, relative to the baseline, before spans count as cut short (counted on
/// the spans that end the new way).
const FEWER_CALLS_RATIO: f64 = 0.85;
/// Calls fewer per span, in absolute terms, that also count as cut short: a caller that gives up
/// before the last of seven calls makes 14% fewer (above `FEWER_CALLS_RATIO`), yet skips a whole
/// call. Three quarters of a call on average: a reordering (a slower callee now answering last)
/// skips none, and an optional call left out by chance moves the mean by a fraction.
const MIN_CALLS_CUT: f64 = 0.75;
/// Growth of a way of ending, in share of spans, before it counts as new: one span in twenty
/// more. A wrong value from one instance of three, in a third of its answers, cuts short about
/// one caller's span in ten, spread over the callers' operations; the exact test and the
/// spans' fewer calls keep chance and reordering out.
const MIN_NEW_ENDING_SHARE: f64 = 0.05;
/// How many times its baseline share a way of ending must reach to be new: an ending two spans
/// in five already took is not new when it grows to one in two. Leaving out the spans with a
/// failed call (as the reading of shapes does) shifts the mix of the rest that way, towards
/// those that never made the failing call, without any span ending differently.
const NEW_ENDING_RATIO: f64 = 2.0;
/// Share of the spans cut short after a callee's answer that one of its instances answered, for
/// that instance to be named: a wrong value from one instance of two or three makes nearly all of
/// them (the rest are the chance cuts the baseline also has).
const ONE_INSTANCE_SHARE: f64 = 0.75;
/// A call counts as vanished when at least this share of baseline spans made it...
const MIN_VANISHED_BEFORE: f64 = 0.15;
/// ...and at most this fraction of that share still does.
const MAX_VANISHED_REMAINING: f64 = 0.25;

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
    /// Fisher's exact p of the change (see `MAX_SHAPE_P`).
    pub p: f64,
    /// Traces with a span that ends this way.
    pub examples: Vec<[u8; 16]>,
    /// The spans are calls to the blamed peer that its answer (its server span) no longer
    /// follows: it is down, unreachable or cannot be resolved, and the caller records no error.
    pub unanswered: bool,
    /// The one instance of `after` whose answers the spans now stop after, when one stands out.
    pub after_instance: Option<u32>,
}

#[derive(Default)]
struct OpStats {
    spans: u64,
    calls: f64,
    /// Spans by how they end (the last callee, the service itself, or `NONE` for no call).
    ends: HashMap<u32, u64>,
    /// Calls made by the spans of each way of ending.
    end_calls: HashMap<u32, f64>,
    /// Calls per callee.
    callees: HashMap<u32, u64>,
    /// Spans making at least one call to (callee, child operation).
    has: HashMap<(u32, u32), u64>,
    examples: HashMap<u32, Vec<[u8; 16]>>,
    /// The peer the operation's spans call, when they are calls (client spans naming a peer).
    peer: Option<u32>,
    /// Answers by (callee, the callee's instance that answered): of every call, and of the last
    /// call of the spans that end after that callee.
    answers: HashMap<(u32, u32), u64>,
    last_answers: HashMap<(u32, u32), u64>,
}

/// The instance whose server span answered a child span seen from its parent in service `s`:
/// the child itself when it is another service's, else the other service's span under it.
pub(crate) fn answering_instance(t: &SpanTable, g: &Graph, c: usize, s: u32) -> Option<u32> {
    if t.service[c] != s {
        return Some(t.instance[c]);
    }
    g.children(c).iter().map(|&k| k as usize).find(|&k| t.service[k] != s).map(|k| t.instance[k])
}

/// The node a child span stands for, seen from its parent in service `s`: its own service when it
/// is another's, the callee of a call it makes, the peer of an unanswered call, else `s` itself.
pub(crate) fn callee_of(t: &SpanTable, g: &Graph, c: usize, s: u32) -> u32 {
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
        let mut last: Option<usize> = None;
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for &c in kids {
            let c = c as usize;
            let callee = callee_of(t, g, c, s);
            *st.callees.entry(callee).or_default() += 1;
            if let Some(x) = answering_instance(t, g, c, s) {
                *st.answers.entry((callee, x)).or_default() += 1;
            }
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
        if let Some(x) = last.and_then(|c| answering_instance(t, g, c, s)) {
            *st.last_answers.entry((end, x)).or_default() += 1;
        }
        *st.end_calls.entry(end).or_default() += kids.len() as f64;
        if w == 1 {
            let ex = st.examples.entry(end).or_default();
            if ex.len() < 3 && !ex.contains(&t.trace_id[i]) {
                ex.push(t.trace_id[i]);
            }
        }
    }
    let mut out: Vec<Truncation> = ops
        .into_iter()
        .filter(|(_, [b, i])| b.spans >= MIN_BASELINE_SPANS && i.spans >= MIN_INCIDENT_SPANS)
        .filter_map(|((service, operation), [b, i])| {
            new_ending(service, operation, &b, &i).or_else(|| vanished_call(service, operation, &b, &i))
        })
        .collect();
    out.sort_by(|x, y| {
        let w = |t: &Truncation| (t.share_after - t.share_before).abs() * t.spans as f64;
        w(y).total_cmp(&w(x)).then((x.service, x.operation).cmp(&(y.service, y.operation)))
    });
    out
}

/// A way of ending that is new, on spans cut short: they now stop after one callee's answer, or
/// with no call at all, making fewer calls than the operation's spans used to. The calls are
/// counted on the spans that end the new way, not on all: a fault that cuts one answer in ten
/// short (a wrong value from one instance of three) barely moves the mean of all spans, and a
/// callee that only got slower changes which call ends last without cutting any.
fn new_ending(service: u32, operation: u32, b: &OpStats, i: &OpStats) -> Option<Truncation> {
    let (mb, mi) = (b.calls / b.spans as f64, i.calls / i.spans as f64);
    if mb < 1.0 {
        return None;
    }
    let ends = |s: &OpStats, e: u32| s.ends.get(&e).copied().unwrap_or(0);
    let share = |s: &OpStats, e: u32| ends(s, e) as f64 / s.spans as f64;
    let cut_short = |e: u32| {
        let n = ends(i, e).max(1) as f64;
        let calls = i.end_calls.get(&e).copied().unwrap_or(0.0) / n;
        calls <= FEWER_CALLS_RATIO * mb || calls <= mb - MIN_CALLS_CUT
    };
    let (end, p) = i
        .ends
        .iter()
        .map(|(&e, &n)| (e, more_exact_p(ends(b, e), b.spans, n, i.spans)))
        .filter(|&(e, p)| {
            p <= MAX_SHAPE_P
                && share(i, e) - share(b, e) >= MIN_NEW_ENDING_SHARE
                && share(i, e) >= NEW_ENDING_RATIO * share(b, e)
                && cut_short(e)
        })
        // The least likely by chance; where large counts take both p to 0, the larger growth.
        .min_by(|x, y| {
            let growth = |e: u32| share(i, e) - share(b, e);
            x.1.total_cmp(&y.1).then(growth(y.0).total_cmp(&growth(x.0))).then(x.0.cmp(&y.0))
        })?;
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
    let after_instance = after.and_then(|y| one_instance_answering(y, i));
    // A call that now ends with no child at all: its callee no longer answers.
    let unanswered = if end == NONE { b.peer.or(i.peer) } else { None };
    Some(Truncation {
        service,
        operation,
        blamed: after.or(unanswered).unwrap_or(service),
        after,
        unanswered: unanswered.is_some(),
        calls_before: mb,
        calls_after: mi,
        share_before: share(b, end),
        share_after: share(i, end),
        spans: i.spans,
        missing,
        vanished: false,
        p,
        examples: i.examples.get(&end).cloned().unwrap_or_default(),
        after_instance,
    })
}

/// The instance of callee `y` that answered last in most of the incident's spans that end after
/// `y`, far more often than it answers the operation's calls to `y` at all: a wrong value from one
/// instance (a canary, one pod's bad config). `None` when the answers are spread as the calls are.
fn one_instance_answering(y: u32, i: &OpStats) -> Option<u32> {
    let last: Vec<(u32, u64)> =
        i.last_answers.iter().filter(|((e, _), _)| *e == y).map(|(&(_, x), &n)| (x, n)).collect();
    let ended: u64 = last.iter().map(|l| l.1).sum();
    let calls: u64 = i.answers.iter().filter(|((c, _), _)| *c == y).map(|(_, &n)| n).sum();
    let (x, n) = last.into_iter().max_by_key(|&(x, n)| (n, std::cmp::Reverse(x)))?;
    let x_calls = i.answers.get(&(y, x)).copied().unwrap_or(0);
    // Its share of the other calls to `y`: those whose span did not end right after them.
    let (other_x, other) = (x_calls.saturating_sub(n), calls.saturating_sub(ended));
    let share = n as f64 / ended.max(1) as f64;
    (share >= ONE_INSTANCE_SHARE && more_exact_p(other_x, other, n, ended) <= MAX_SHAPE_P).then_some(x)
}

/// A call most spans made, no longer made: the code took another path, or the callee no longer
/// answers.
fn vanished_call(service: u32, operation: u32, b: &OpStats, i: &OpStats) -> Option<Truncation> {
    let has = |s: &OpStats, k: (u32, u32)| s.has.get(&k).copied().unwrap_or(0);
    let mut vanished: Vec<(u32, u32, f64, f64, f64)> = b
        .has
        .keys()
        .map(|&k| {
            let (nb, ni) = (has(b, k), has(i, k));
            let p = fewer_exact_p(nb, b.spans, ni, i.spans);
            (k.0, k.1, nb as f64 / b.spans as f64, ni as f64 / i.spans as f64, p)
        })
        .filter(|&(_, _, before, after, p)| {
            before >= MIN_VANISHED_BEFORE && after <= MAX_VANISHED_REMAINING * before && p <= MAX_SHAPE_P
        })
        .collect();
    vanished.sort_by(|x, y| {
        let drop = |v: &(u32, u32, f64, f64, f64)| v.2 - v.3;
        x.4.total_cmp(&y.4).then(drop(y).total_cmp(&drop(x))).then((x.0, x.1).cmp(&(y.0, y.1)))
    });
    let &(callee, _, before, after, p) = vanished.first()?;
    // A call whose callee's answer vanished: the callee no longer answers.
    let unanswered = b.peer.or(i.peer).filter(|&peer| peer == callee);
    Some(Truncation {
        service,
        operation,
        blamed: unanswered.unwrap_or(service),
        after: None,
        unanswered: unanswered.is_some(),
        calls_before: b.calls / b.spans as f64,
        calls_after: i.calls / i.spans as f64,
        share_before: before,
        share_after: after,
        spans: i.spans,
        missing: vanished.iter().map(|v| (v.0, v.1, v.2, v.3)).collect(),
        vanished: true,
        p,
        examples: Vec::new(),
        after_instance: None,
    })
}

//! Leads where nothing changed clearly: nodes that grew slower with no change users see, and
//! where the slowest requests spend their time.
//!
//! Where no window was named and two stretches of time are compared, a node whose own time per
//! request grew past the simple rule's bars is a lead: a delay off the users' critical path is
//! still a change in the node (`growth_leads`).
//!
//! Each endpoint's answered requests in the analysed range are split into a fast and a slow group;
//! where the two lie at least [`MIN_SLOW_GROUP_RATIO`] apart, the traces of the slow group are
//! compared with every other trace of the range, across endpoints: each node's own time per
//! request on either side (the slow-trace rule of fault-injection studies). It needs no healthy
//! stretch of time, so it still points somewhere when a delay began with the data (one request
//! before it or none, so no onset can be found).
//!
//! It runs only when no symptom was found, and its leads stand alone only where no other detector
//! named anything, each below one half of confidence: the report still says "no incident" (a
//! healthy endpoint's slowest requests spend their time somewhere too), and names where to look
//! when the user knows something is wrong. One exception: where the first lead's own time per
//! request stepped up inside the range, request by request (`own_time_step`: a pooled t test on
//! log own time at the best split, times the splits tried, p <= 0.01, the median at least doubled
//! and 5 ms up), the delay began in the data and the report calls an incident. On the few-traces
//! benchmark's tuning seeds 1-6, 161 of 164 faulty cases with such a step passed and no healthy
//! twin came within 6x of the bar (smallest p 0.064).

use super::text::{ms, own_time_per_request, pct};
use super::{Detector, Finding, Role};
use crate::graph::Graph;
use crate::localise::{
    attribute_sides, entries_per_side, excess_per_request, slow_thresholds, trace_entries, NO_SIDE,
};
use crate::pattern::EvidenceKind;
use crate::rules::MIN_OWN_TIME_GROWTH_NS;
use crate::signals::Signals;
use crate::spans::SpanTable;
use crate::symptom::MIN_BUCKETED_REQUESTS;

/// Least separation of an endpoint's slow requests from its others (the ratio of their geometric
/// means) for them to be a slow group: the fast/slow split used everywhere (`stats::slow_split`).
/// A lead never makes an incident, so it need not be stricter: 3x (a healthy spread's halves lie
/// about 2x apart) missed delays of 100 ms on requests of 50 ms (few-traces tuning seeds, all the
/// spans: 0.904/0.901/0.885 at 3x, 0.936/0.912/0.896 at 1.5x; healthy twins unchanged).
pub const MIN_SLOW_GROUP_RATIO: f64 = crate::stats::MIN_SLOW_SPLIT_RATIO;
/// Score of the lead that explains all the time the slow requests add: a confidence of 0.31, well
/// below the one half at which a report calls an incident, and below any detector's own finding.
const LEAD_WEIGHT: f64 = 0.15;
/// Score of the growth lead that holds all the time added between the stretches: a confidence of
/// 0.39, what a named window's quiet growth gets; above the slow requests' leads, as it passed a
/// significance test they do not take.
const GROWTH_LEAD_WEIGHT: f64 = super::localised::QUIET_RULE_WEIGHT;
/// Fewest requests on each side of a growth lead. With two, one slow request is half the side,
/// and a t test's few degrees of freedom rest on nothing (few-traces seed 4 case 14: 11 ms more in
/// two requests outranked a 217 ms delay in the slow ones).
const MIN_GROWTH_LEAD_REQUESTS: usize = 3;
/// Leads named: the first few places the slow requests' time goes.
const MAX_LEADS: usize = 3;

pub struct SlowRequests;

impl Detector for SlowRequests {
    fn name(&self) -> &'static str {
        "slow_requests"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        if s.symptom_found() {
            return Vec::new();
        }
        let mut out = growth_leads(s);
        let range = s.plan.range.pair();
        let leads = leads(s.spans, &s.graph, range);
        let total: f64 = leads.iter().map(|l| l.added_ns).sum();
        // Only the first lead is tested for a step, so that one test bounds the false alarms.
        let step = leads.first().and_then(|l| own_time_step(s.spans, &s.graph, l.node, range));
        out.extend(leads.into_iter().enumerate()
            .map(|(k, l)| {
                let share = l.added_ns / total.max(1.0);
                let mut f = Finding::cause(&s.name(l.node), 0.0);
                f.role = Role::Fallback { alone: LEAD_WEIGHT * share };
                f.summary = format!(
                    "the slowest requests spend {} more in it than the others ({} of the time they add); nothing changed clearly in time",
                    ms(l.added_ns),
                    pct(share)
                );
                f.evidence(
                    EvidenceKind::Traces,
                    format!(
                        "own time per request: {} in the {} requests of their endpoints' slow groups ({MIN_SLOW_GROUP_RATIO}x and more apart from the fast), {} in the {} others",
                        ms(l.own_ns[1]),
                        l.requests[1],
                        ms(l.own_ns[0]),
                        l.requests[0]
                    ),
                    vec![],
                );
                if let Some(step) = step.as_ref().filter(|_| k == 0) {
                    f.role = Role::Fallback { alone: STEP_LEAD_WEIGHT };
                    f.patterns.push(crate::pattern::Pattern::LatencyInjection);
                    f.summary = format!(
                        "{} got slower on its own at {}: median own time {} -> {} per request",
                        s.name(l.node),
                        super::text::hms(step.at),
                        ms(step.median[0] as f64),
                        ms(step.median[1] as f64)
                    );
                    f.evidence(EvidenceKind::Traces, step.text(), vec![]);
                }
                f
            }));
        out
    }
}

/// Leads from two stretches of time where users saw no change and no window was named: the nodes
/// whose own time per request grew past the simple rule's bars (`rules::own_time_growth`: a
/// millisecond, a fifth, p under `MAX_GROWTH_P`). A delay off the users' critical path, or one
/// their latency hides, is still a change in the node. A named window ranks the same growth as a
/// cause (`localised`); requests compared among themselves have no stretches of time.
fn growth_leads(s: &Signals<'_>) -> Vec<Finding> {
    let (att, requests) = (&s.attribution, s.requests);
    if s.plan.named || s.by_requests() || requests.iter().any(|&n| n < MIN_GROWTH_LEAD_REQUESTS) {
        return Vec::new();
    }
    let growth = crate::rules::own_time_growth(att, requests, crate::rules::GrowthTest::Detect);
    let total: f64 = growth.iter().map(|x| x.1).sum();
    let per = |id: u32, w: usize| att.nodes[&id].total[w].own_per_request(requests[w]);
    growth
        .into_iter()
        .take(MAX_LEADS)
        .map(|(id, x)| {
            let share = x / total.max(1.0);
            let svc = s.name(id);
            let mut f = Finding::cause(&svc, 0.0);
            f.role = Role::Fallback { alone: GROWTH_LEAD_WEIGHT * share };
            f.summary = format!(
                "own time per request of {svc} grew by {} ({} of all the time added), with no change users see",
                ms(x),
                pct(share)
            );
            f.evidence(EvidenceKind::Traces, own_time_per_request([per(id, 0), per(id, 1)], requests), vec![]);
            f
        })
        .collect()
}

/// Most a step in the first lead's own time may owe to chance (one-sided rank-sum p, times the
/// splits tried) for it to call an incident: a healthy node's own time has no step but by chance,
/// so at most one healthy window in a hundred is called one.
const MAX_STEP_P: f64 = 0.01;
/// Fewest of the lead's requests on each side of a step: one request is an accident.
const STEP_MIN_SIDE: usize = 2;
/// Least growth of the lead's median own time across the step, absolute and relative: the plan's
/// bars for a step in a service's own time (`plan::OWN_STEP_MIN_NS`, `OWN_STEP_MIN_RATIO`).
const STEP_MIN_NS: i64 = 5_000_000;
const STEP_MIN_RATIO: f64 = 2.0;
/// Most requests of the lead tested request by request (each split's exact test is quadratic in
/// them); with more, the plan's bucketed search for a step in own time has had its chance.
const STEP_MAX_REQUESTS: usize = 200;
/// Own time below which values are one (a tenth of a millisecond: timer resolution), so the
/// logarithm of a span that spent nothing itself stays finite.
const STEP_LOG_FLOOR_NS: i64 = 100_000;
/// Least standard error of the difference of log own times: a fifth (identical values are not
/// infinitely certain).
const STEP_MIN_SE: f64 = 0.2;
/// Score of a lead whose own time stepped up inside the range: the simple rule's weight
/// (`localised::RULE_WEIGHT`), a confidence of 0.53, so the report calls an incident. The slow
/// requests' time goes to it, and it changed in time: the delay began in the data.
const STEP_LEAD_WEIGHT: f64 = 0.3;

/// A step up in one service's own time per request, request by request.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnTimeStep {
    pub at: i64,
    /// Median own time before and after, in ns.
    pub median: [i64; 2],
    pub requests: [usize; 2],
    pub p: f64,
}

impl OwnTimeStep {
    fn text(&self) -> String {
        format!(
            "its own time per request stepped up at {}: median {} over {} requests before, {} over {} after (p = {:.1e})",
            super::text::hms(self.at),
            ms(self.median[0] as f64),
            self.requests[0],
            ms(self.median[1] as f64),
            self.requests[1],
            self.p
        )
    }
}

/// The step up in the own time of service `svc`'s requests in `range` that chance explains least
/// (`None` unless it passes [`MAX_STEP_P`], [`STEP_MIN_NS`] and [`STEP_MIN_RATIO`]): a delay that
/// began inside the data, seen in the service itself, where too few requests crossed it for the
/// endpoints' onset search.
pub fn own_time_step(t: &SpanTable, g: &Graph, svc: u32, range: (i64, i64)) -> Option<OwnTimeStep> {
    let mut stack = Vec::new();
    let mut own: Vec<(i64, i64)> = (0..t.len())
        .filter(|&i| t.service[i] == svc && t.start[i] >= range.0 && t.start[i] < range.1)
        .filter(|&i| g.answers_request(t, i))
        .map(|i| (t.start[i], crate::symptom::request_own_time(t, g, i, &mut stack)))
        .collect();
    let n = own.len();
    if !(2 * STEP_MIN_SIDE..=STEP_MAX_REQUESTS).contains(&n) {
        return None;
    }
    own.sort_unstable();
    let times: Vec<i64> = own.iter().map(|x| x.1).collect();
    let splits = n - 2 * STEP_MIN_SIDE + 1;
    let logs: Vec<f64> = times.iter().map(|&x| (x.max(STEP_LOG_FLOOR_NS) as f64).ln()).collect();
    let (k, p) = (STEP_MIN_SIDE..=n - STEP_MIN_SIDE)
        .map(|k| (k, crate::stats::t_upper_p(&logs[..k], &logs[k..], STEP_MIN_SE)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let median = |v: &[i64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (before, after) = (median(&times[..k]), median(&times[k..]));
    let p = (p * splits as f64).min(1.0);
    let large = after - before >= STEP_MIN_NS && after as f64 >= STEP_MIN_RATIO * before as f64;
    (p <= MAX_STEP_P && large).then_some(OwnTimeStep {
        at: own[k].0,
        median: [before, after],
        requests: [k, n - k],
        p,
    })
}

/// Where the slow requests' time goes: a node and its own time per request on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub node: u32,
    pub added_ns: f64,
    /// Own time per request: (other requests, slow requests).
    pub own_ns: [f64; 2],
    pub requests: [usize; 2],
}

/// The nodes whose own time per request is larger in the slow requests of `range` than in the
/// others, largest first (at most [`MAX_LEADS`]); none when no endpoint has a slow group.
pub fn leads(t: &SpanTable, g: &Graph, range: (i64, i64)) -> Vec<Lead> {
    let Some(sides) = slow_group_sides(t, g, range) else { return Vec::new() };
    let att = attribute_sides(t, g, &sides);
    let requests = entries_per_side(t, g, &sides);
    if requests.contains(&0) {
        return Vec::new();
    }
    let per = |id: u32, w: usize| att.nodes[&id].total[w].own_per_request(requests[w]);
    let mut out: Vec<Lead> = excess_per_request(&att, requests)
        .into_iter()
        // Growth in absolute time, not relative to the others' (`MIN_OWN_TIME_GROWTH_RATIO`): a
        // delay that began with the data slows the fast group's requests too, and the node that
        // added 28 ms to 143 ms is where the slow requests' time goes (few-traces seed 3 case 63).
        .filter(|&(_, x)| x >= MIN_OWN_TIME_GROWTH_NS)
        .map(|(id, x)| Lead { node: id, added_ns: x, own_ns: [per(id, 0), per(id, 1)], requests })
        .collect();
    out.sort_by(|a, b| b.added_ns.total_cmp(&a.added_ns).then(a.node.cmp(&b.node)));
    out.truncate(MAX_LEADS);
    out
}

/// Each span's side: 1 for the traces whose entry is in the slow group of its endpoint (split at
/// least [`MIN_SLOW_GROUP_RATIO`] apart), or of all the endpoints' requests split as one
/// (`localise::slow_thresholds`), 0 for every other answered trace of `range`. `None` when there
/// is no such group. Only an endpoint with too few requests for the onset search to be sure
/// (under [`MIN_BUCKETED_REQUESTS`]) can have one: with many requests and no onset, its slow
/// requests are its usual (cache misses, heavier paths). A lead never calls an incident, so the
/// split of all the requests left the healthy twins' false alarms unchanged.
fn slow_group_sides(t: &SpanTable, g: &Graph, range: (i64, i64)) -> Option<Vec<u8>> {
    let entries = trace_entries(t, g);
    let thresholds = slow_thresholds(t, &entries, range, MIN_BUCKETED_REQUESTS);
    if thresholds.is_empty() {
        return None;
    }
    let answered = |e: usize| t.start[e] >= range.0 && t.start[e] < range.1 && !t.error[e];
    let mut sides = vec![NO_SIDE; t.len()];
    for (spans, entry) in g.traces().zip(&entries) {
        let Some(e) = entry.filter(|&e| answered(e)) else { continue };
        let slow = thresholds.get(&(t.service[e], t.operation[e])).is_some_and(|&th| t.duration[e] > th);
        for &i in spans {
            sides[i as usize] = slow as u8;
        }
    }
    Some(sides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit::span;
    use crate::spans::SpanTableBuilder;
    use faultline_model::schema::spans_to_batch;

    const MS: i64 = 1_000_000;
    const SECOND: i64 = 1_000_000_000;

    /// Ten requests a second apart: web calls quotes then orders; orders takes `orders(k)` ms.
    fn table(orders: impl Fn(i64) -> i64) -> SpanTable {
        let mut spans = Vec::new();
        for k in 0..10i64 {
            let (t0, o) = (k * SECOND, orders(k) * MS);
            let trace = k as u128 + 1;
            spans.push(span(trace, 1, None, "web", t0, 2 * MS + 3 * MS + o));
            spans.push(span(trace, 2, Some(1), "quotes", t0 + MS, 3 * MS));
            spans.push(span(trace, 3, Some(1), "orders", t0 + 4 * MS, o));
        }
        let mut b = SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        b.finish()
    }

    /// The own-time step of orders over the ten requests of [`table`].
    fn step(orders: impl Fn(i64) -> i64) -> Option<OwnTimeStep> {
        let t = table(orders);
        let g = Graph::build(&t);
        let id = (0..t.len()).map(|i| t.service[i]).find(|&s| t.names.name(s) == "orders").expect("orders");
        own_time_step(&t, &g, id, (0, 10 * SECOND))
    }

    #[test]
    fn a_step_in_a_leads_own_time_is_told_from_its_usual_spread() {
        // MAX_STEP_P: three requests of 2-4 ms, then seven of about 150 ms: p about 1e-6.
        let s = step(|k| if k < 3 { 2 + k } else { 150 + k % 3 }).expect("a step");
        assert_eq!((s.requests, s.at), ([3, 7], 3 * SECOND + 4 * MS));
        assert!(s.p < MAX_STEP_P / 100.0, "{s:?}");
        // Two fast requests among slow ones at random places: no step (a cache's hits and misses).
        assert_eq!(step(|k| if k == 2 || k == 7 { 3 } else { 150 + k }), None);
        // A delay from the first request on: no step in time to see.
        assert_eq!(step(|k| 400 + k % 4), None);
        // STEP_MIN_NS: a step of 2 ms to 4 ms is significant and too small to chase.
        assert_eq!(step(|k| if k < 5 { 2 } else { 4 }), None);
    }

    #[test]
    fn a_delay_from_the_second_request_on_leads_to_its_service() {
        // One request before a 150 ms delay in orders: no onset can be found from it.
        let t = table(|k| if k == 0 { 2 } else { 150 + k % 3 });
        let g = Graph::build(&t);
        let l = leads(&t, &g, (0, 10 * SECOND));
        assert_eq!(t.names.name(l[0].node), "orders", "{l:?}");
        assert_eq!(l[0].requests, [1, 9]);
        assert!(l.iter().all(|x| t.names.name(x.node) != "quotes"));
    }

    #[test]
    fn a_delay_in_every_request_of_one_endpoint_leads_to_its_service() {
        // GET /tokens calls stock, 400 ms slower from the data's first request on: no fast group
        // of its own. POST /search calls wallet, two of its five requests slow by chance.
        let mut spans = Vec::new();
        for k in 0..10i64 {
            let (t0, tr) = (k * SECOND, k as u128 + 1);
            let (callee, own, op) = if k % 2 == 0 {
                ("stock", 400 * MS + k * MS, "GET /tokens")
            } else {
                ("wallet", if k % 5 == 1 { 25 * MS } else { 3 * MS }, "POST /search")
            };
            let mut root = span(tr, 1, None, "web", t0, 2 * MS + own);
            root.name = op.into();
            spans.push(root);
            spans.push(span(tr, 2, Some(1), callee, t0 + MS, own));
        }
        let mut b = SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        let t = b.finish();
        let l = leads(&t, &Graph::build(&t), (0, 10 * SECOND));
        assert_eq!(t.names.name(l[0].node), "stock", "{l:?}");
    }

    #[test]
    fn a_node_slow_in_every_request_leads_by_what_it_adds() {
        // A 150 ms delay in orders from the first request: the fast requests carry it too, so the
        // slow ones add only 25 ms to it (a sixth, under MIN_OWN_TIME_GROWTH_RATIO); it still
        // leads, after media, which made them slow.
        let mut spans = Vec::new();
        for k in 0..6i64 {
            let (o, m) = if k % 2 == 0 { (150 * MS, MS) } else { (175 * MS, 100 * MS) };
            let tr = k as u128 + 1;
            spans.push(span(tr, 1, None, "web", k * SECOND, 2 * MS + o + m));
            spans.push(span(tr, 2, Some(1), "orders", k * SECOND + MS, o));
            spans.push(span(tr, 3, Some(1), "media", k * SECOND + MS + o, m));
        }
        let mut b = SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        let t = b.finish();
        let l = leads(&t, &Graph::build(&t), (0, 6 * SECOND));
        let names: Vec<&str> = l.iter().map(|x| t.names.name(x.node)).collect();
        assert_eq!(names[..2], ["media", "orders"], "{l:?}");
    }

    /// `n` requests a second apart: web (100-109 ms of its own) calls quotes, which takes 2 ms in
    /// the first half and `later_ms` in the second: off nothing users would notice on their own.
    fn quotes_slower_later(n: i64, later_ms: i64) -> Vec<faultline_model::Span> {
        let mut spans = Vec::new();
        for k in 0..n {
            let q = if k < n / 2 { 2 * MS } else { later_ms * MS + (k % 3) * MS };
            let tr = k as u128 + 1;
            spans.push(span(tr, 1, None, "web", k * SECOND, (100 + k % 10) * MS + q));
            spans.push(span(tr, 2, Some(1), "quotes", k * SECOND + MS, q));
        }
        spans
    }

    #[test]
    fn a_node_slower_in_the_second_half_with_no_symptom_is_a_lead() {
        let s = crate::detectors::testkit::signals_of(&quotes_slower_later(20, 30), Default::default());
        assert!(!s.symptom_found());
        let found = SlowRequests.detect(&s);
        assert_eq!(found.first().map(|f| f.service.as_str()), Some("quotes"), "{found:?}");
        assert!(matches!(found[0].role, Role::Fallback { alone } if alone < 0.5));
    }

    #[test]
    fn two_requests_on_a_side_make_no_growth_lead() {
        // MIN_GROWTH_LEAD_REQUESTS: the second half of five requests holds two.
        let s = crate::detectors::testkit::signals_of(&quotes_slower_later(5, 30), Default::default());
        assert!(growth_leads(&s).is_empty(), "{:?}", s.requests);
    }

    #[test]
    fn a_slow_group_among_many_requests_is_the_usual() {
        // MIN_BUCKETED_REQUESTS: every third of 90 requests slow, with no onset, is a cache miss.
        let mut spans = Vec::new();
        for k in 0..90i64 {
            let o = if k % 3 == 0 { 150 * MS } else { 2 * MS };
            spans.push(span(k as u128 + 1, 1, None, "web", k * SECOND, 5 * MS + o));
            spans.push(span(k as u128 + 1, 3, Some(1), "orders", k * SECOND + MS, o));
        }
        let mut b = SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        let t = b.finish();
        assert!(leads(&t, &Graph::build(&t), (0, 90 * SECOND)).is_empty());
    }

    #[test]
    fn one_group_of_durations_gives_no_lead() {
        // MIN_SLOW_GROUP_RATIO: requests of 10-13 ms are one group.
        let t = table(|k| [5, 6, 5, 8, 6, 5, 7, 5, 7, 6][k as usize]);
        let g = Graph::build(&t);
        assert!(leads(&t, &g, (0, 10 * SECOND)).is_empty());
    }
}

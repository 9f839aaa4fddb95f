//! Localised anomalies: the services (and uninstrumented peers) whose own errors or own time
//! changed, scored by how much of the symptom they explain, a node whose callees changed too
//! discounted (it inherited their trouble). In a window the user named, where requests are
//! compared among themselves, or where a symptom was found that no node's anomaly explains, the
//! simple rules' leaders (growth of own time, of own errors) join where nothing passed the
//! significance bars.

use super::text::{ms, own_time_per_request, pct, trace_hex};
use super::{Detector, Finding};
use crate::evidence::message_pattern;
use crate::hash::{HashMap, HashSet};
use crate::localise::{self, outlier, Node};
use crate::pattern::{EvidenceKind, Pattern};
use crate::rules::GrowthTest;
use crate::signals::Signals;
use crate::spans::NONE;
use crate::stats::quantile;
use std::collections::VecDeque;

/// A node whose callee (transitively) scores at least this share of its own score inherited its
/// trouble from it...
const INHERITED_SHARE: f64 = 0.25;
/// ... and keeps this share of its score: still a suspect, below the callee.
const INHERITED_DISCOUNT: f64 = 0.4;
/// ... unless only its own time grew, and by many times what the callee added: a callee that added
/// 39 ms per request and never failed did not make its caller spend 290 ms more on its own (own
/// time leaves the callee's spans out; a few-traces case ranked the callee first). Waits a slow
/// callee causes its caller (a connection pool it drains) end in time-outs, which are errors.
const INHERITED_TIME_SHARE: f64 = 0.2;
/// Where no symptom was found (user-facing requests did not change), a rule's growth of own time
/// must at least double the node's own time for its hypothesis to carry [`RULE_WEIGHT`]; a smaller
/// one carries [`QUIET_RULE_WEIGHT`]. On the few-traces benchmark's healthy twins, halves of a
/// quiet window differ by 20-40% in some node's own time (queueing, the mix of requests), a delay
/// by many times it.
const QUIET_MIN_GROWTH_RATIO: f64 = 1.0;
/// ... and it must add at least this share of the usual user-facing request's time (the median
/// of the baseline's requests): users saw no change, and a node that adds a few milliseconds to
/// requests of a hundred is no incident on its own. The few-traces healthy twins asked over all
/// their spans compare two halves of a quiet window; a node there grew by 5.7 ms (of requests of
/// 75 ms), 3.8 ms (of 85) and 11 ms (of 109): 4-10%, each passing the t test on a handful of
/// requests, each "100% of the time added", each called an incident. The quiet delays of the same
/// seed added 14-24% (21 of 149 ms, 64 of 377, 72 of 293); a quarter sent those to "no incident".
const QUIET_MIN_REQUEST_SHARE: f64 = 0.12;
/// ... a confidence of 0.39: ranked, below the one half at which the report calls an incident.
pub(crate) const QUIET_RULE_WEIGHT: f64 = 0.2;
/// Weight of a hypothesis from the simple rules alone (`rules.rs`): the node that added most of
/// the time (or errors) scores this much, a confidence near one half; a node that passed the
/// significance bars with strong evidence still ranks above it.
const RULE_WEIGHT: f64 = 0.3;
/// Example traces kept per node, where it failed on its own.
const EXAMPLES: usize = 3;

pub struct Localised;

impl Detector for Localised {
    fn name(&self) -> &'static str {
        "localised"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        // Each node's own time added per request, shared by the scores and the discount.
        let excess = localise::excess_per_request(&s.attribution, s.requests);
        let mut score = node_scores(s, &excess);
        discount_inherited(s, &excess, &mut score);
        // The user named the window, or requests are compared among themselves (too few before
        // the onset to compare times), or a symptom was found and no node passed: the significance
        // bars are out of reach of a few requests.
        let by_rule = if s.plan.named || s.by_requests() || (s.symptom_found() && score.is_empty()) {
            rule_scores(s, !s.symptom_found(), &mut score)
        } else {
            HashMap::default()
        };
        let mut examples = example_traces(s, &score);
        score
            .iter()
            .map(|(&id, &sc)| {
                let mut f = node_finding(s, id, sc, examples.remove(&id).unwrap_or_default());
                if let Some((summary, text)) = by_rule.get(&id) {
                    f.summary = summary.clone();
                    f.evidence(EvidenceKind::Traces, text.clone(), vec![]);
                }
                f
            })
            .collect()
    }
}

/// Each changed node's score. Latency weighs by how much of the slow requests a node is in and how
/// much of the time added per request is its own: a node that added half a millisecond to every
/// request is in all the slow ones too, but did not make them slow.
fn node_scores(s: &Signals<'_>, excess: &HashMap<u32, f64>) -> HashMap<u32, f64> {
    let att = &s.attribution;
    let total_excess: f64 = excess.values().filter(|x| **x > 0.0).sum();
    let mut score = HashMap::default();
    for (&id, nd) in &att.nodes {
        let an = &nd.anomaly;
        let err = if an.errors { an.error_coverage.max(0.05) * (an.error_z / 10.0).min(1.0) } else { 0.0 };
        let share = excess.get(&id).map_or(0.0, |x| x.max(0.0) / total_excess.max(1.0));
        let lat = if an.latency {
            (0.25 * an.latency_coverage + 0.75 * share).max(0.05) * (an.latency_z / 10.0).min(1.0)
        } else {
            0.0
        };
        let sc = match (s.errors_matter, s.latency_matters) {
            (true, false) => err.max(0.5 * lat),
            (false, true) => lat.max(0.5 * err),
            _ => err.max(lat),
        };
        if sc > 0.0 {
            score.insert(id, sc);
        }
    }
    score
}

/// Deepest first: a node whose callees (transitively) changed too inherits its trouble.
fn discount_inherited(s: &Signals<'_>, excess: &HashMap<u32, f64>, score: &mut HashMap<u32, f64>) {
    let change = |n: u32| {
        let errors = s.attribution.nodes.get(&n).is_some_and(|nd| nd.anomaly.errors);
        (errors, excess.get(&n).copied().unwrap_or(0.0))
    };
    let mut inherited: HashSet<u32> = HashSet::default();
    for (&a, &sa) in score.iter() {
        // Its calls' gaps grew on all its edges: no callee explains that.
        if s.attribution.nodes.get(&a).is_some_and(|nd| nd.anomaly.network && !nd.anomaly.errors) {
            continue;
        }
        let mut seen = HashSet::from_iter([a]);
        let mut queue: VecDeque<u32> = s.callees.get(&a).into_iter().flatten().copied().collect();
        while let Some(d) = queue.pop_front() {
            if !seen.insert(d) {
                continue;
            }
            if score.get(&d).is_some_and(|&sd| sd >= INHERITED_SHARE * sa)
                && can_explain(change(d), change(a))
            {
                inherited.insert(a);
                break;
            }
            queue.extend(s.callees.get(&d).into_iter().flatten().copied());
        }
    }
    for a in inherited {
        if let Some(x) = score.get_mut(&a) {
            *x *= INHERITED_DISCOUNT;
        }
    }
}

/// Whether a callee's change can have caused its caller's: a failure can (time-outs, retries and
/// error handling are the caller's own time and errors); added time only when it is not a sliver
/// of the caller's own (`INHERITED_TIME_SHARE`).
/// Each side is (its own errors grew, the own time it added per request in ns).
fn can_explain(callee: (bool, f64), caller: (bool, f64)) -> bool {
    callee.0 || caller.0 || callee.1.max(0.0) >= INHERITED_TIME_SHARE * caller.1
}

/// Scores, from the simple rules, the nodes whose own time or own errors grew without passing the
/// significance bars (a few requests, a mild fault); returns their summary and evidence.
fn rule_scores(
    s: &Signals<'_>,
    quiet: bool,
    score: &mut HashMap<u32, f64>,
) -> HashMap<u32, (String, String)> {
    let (att, requests) = (&s.attribution, s.requests);
    let mut out = HashMap::default();
    let side = |nd: &Node, w: usize| nd.total[w].own_per_request(requests[w]);
    let test = if s.by_requests() {
        GrowthTest::None
    } else if s.symptom_found() {
        GrowthTest::Explain
    } else {
        GrowthTest::Detect
    };
    let times = crate::rules::own_time_growth(att, requests, test);
    let total: f64 = times.iter().map(|x| x.1).sum();
    // Only a quiet window's growth is held to the usual request's time.
    let usual = if quiet { usual_request_ns(s) } else { 0.0 };
    for &(id, x) in &times {
        if score.contains_key(&id) {
            continue;
        }
        let nd = &att.nodes[&id];
        let small = x < QUIET_MIN_GROWTH_RATIO * side(nd, 0) || x < QUIET_MIN_REQUEST_SHARE * usual;
        let weight = if quiet && small { QUIET_RULE_WEIGHT } else { RULE_WEIGHT };
        score.insert(id, weight * x / total.max(1.0));
        let summary = format!(
            "its own time per request grew by {} ({} of all the time added)",
            ms(x),
            pct(x / total.max(1.0))
        );
        let text = own_time_per_request([side(nd, 0), side(nd, 1)], requests);
        out.insert(id, (summary, text));
    }
    let errors = crate::rules::own_error_growth(att);
    let top = errors.first().map_or(1.0, |x| x.1);
    for &(id, d) in &errors {
        let nd = &att.nodes[&id];
        let sc = RULE_WEIGHT * d / top;
        if score.get(&id).is_some_and(|&x| x >= sc) {
            continue;
        }
        score.insert(id, sc);
        let (b, i) = (&nd.total[0], &nd.total[1]);
        let summary = format!("its own error rate grew from {} to {}", pct(b.rate()), pct(i.rate()));
        let text = format!(
            "own errors: {} of {} on the baseline side, {} of {} on the incident side",
            b.errors, b.n, i.errors, i.n
        );
        out.insert(id, (summary, text));
    }
    out
}

/// The median duration of the user-facing requests of the baseline (of the window where it holds
/// none), in ns.
fn usual_request_ns(s: &Signals<'_>) -> f64 {
    let durations = |w: crate::plan::TimeRange| -> Vec<i64> {
        let requests = s.endpoints.iter().flat_map(|e| e.requests.iter());
        requests.filter(|r| r.0 >= w.from && r.0 < w.to).map(|r| r.1).collect()
    };
    let mut d = durations(s.baseline_shown);
    if d.is_empty() {
        d = durations(s.incident);
    }
    d.sort_unstable();
    quantile(&d, 0.5) as f64
}

/// Up to three example traces per scored node where it failed on its own, in one pass.
fn example_traces(s: &Signals<'_>, score: &HashMap<u32, f64>) -> HashMap<u32, Vec<String>> {
    let (t, att) = (s.spans, &s.attribution);
    let mut out: HashMap<u32, Vec<String>> = HashMap::default();
    for k in 0..t.len() {
        let node = att.node[k];
        if node == NONE || !att.own_error[k] || !score.contains_key(&node) {
            continue;
        }
        if t.start[k] < s.incident.from || t.start[k] >= s.incident.to {
            continue;
        }
        let refs = out.entry(node).or_default();
        let h = trace_hex(&t.trace_id[k]);
        if refs.len() < EXAMPLES && !refs.contains(&h) {
            refs.push(h);
        }
    }
    out
}

/// The hypothesis about one node: its instance and operation when one stands out, the evidence of
/// its own errors and time, its patterns and its summary.
fn node_finding(s: &Signals<'_>, id: u32, score: f64, refs: Vec<String>) -> Finding {
    let nd = &s.attribution.nodes[&id];
    let svc = s.name(id);
    let mut f = Finding::cause(&svc, score);
    pin_instance_and_operation(s, nd, &mut f);
    let top_msg = nd
        .messages
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
        .map(|(k, _)| s.spans.names.name(*k));
    let who = if nd.uninstrumented {
        format!("{svc} (not instrumented; seen from its callers)")
    } else {
        svc.clone()
    };
    let an = nd.anomaly;
    // Its own errors are mostly calls it never answered, with no error recorded on them.
    let unanswered = 2 * nd.unanswered > nd.total[1].errors;
    if an.errors {
        let msg = match top_msg {
            Some(m) => format!(": \"{m}\""),
            None if unanswered => format!(": {} calls to it got no answer", nd.unanswered),
            None => String::new(),
        };
        f.evidence(
            EvidenceKind::Traces,
            format!(
                "{who} fails on its own: error rate {} in the baseline, {} in the incident{msg}; in {} of {} failing requests",
                pct(nd.total[0].rate()),
                pct(nd.total[1].rate()),
                pct(an.error_coverage),
                s.failing
            ),
            refs,
        );
    }
    if an.latency && an.network {
        network_evidence(s, id, nd, &mut f);
    } else if an.latency {
        own_time_evidence(s, nd, who, &mut f);
    }
    if let Some(p) = top_msg.and_then(message_pattern).filter(|_| an.errors) {
        f.pattern(p);
    }
    node_patterns(s, id, nd, &mut f);
    let place = f.instance.as_ref().map(|i| format!("{svc} instance {i}")).unwrap_or_else(|| svc.clone());
    let (b, i) = (&nd.total[0], &nd.total[1]);
    f.summary = if an.errors && unanswered {
        format!(
            "{place} no longer answers: {} of the calls to it ended with no answer and a failed caller (baseline {})",
            pct(i.rate()),
            pct(b.rate())
        )
    } else if an.errors {
        format!("{place} fails on its own ({} of its requests, baseline {})", pct(i.rate()), pct(b.rate()))
    } else if an.network {
        format!("calls to and from {place} got slower outside the services (gap p95 {:.1}x the baseline): its network or its queues", an.p95_ratio)
    } else {
        format!("{place} got slower on its own (own-time p95 {:.1}x the baseline)", an.p95_ratio)
    };
    f
}

/// The instance whose errors or slow requests stand out among its peers', and the operation.
fn pin_instance_and_operation(s: &Signals<'_>, nd: &Node, f: &mut Finding) {
    let by_latency = !nd.anomaly.errors;
    if let Some(out) = outlier(&nd.by_instance, nd.slow_ns, by_latency) {
        let inst = s.name(out.key);
        let what = if out.latency { "slow requests" } else { "errors" };
        f.evidence(
            EvidenceKind::Traces,
            format!(
                "{} of {}'s {what} come from {inst} ({} there, {} on its peers)",
                pct(out.share),
                f.service,
                pct(out.rate_after),
                pct(out.others_after)
            ),
            vec![],
        );
        f.instance = Some(inst);
        f.pattern(Pattern::FaultyInstance);
    }
    if nd.by_operation.len() > 1 {
        if let Some(out) = outlier(&nd.by_operation, nd.slow_ns, by_latency) {
            f.operation = Some(s.name(out.key));
        }
    }
}

fn own_q(st: &localise::Stat, p: f64) -> f64 {
    quantile(&st.self_ns, p) as f64
}

/// Calls to and from the node that take longer outside both services.
fn network_evidence(s: &Signals<'_>, id: u32, nd: &Node, f: &mut Finding) {
    let att = &s.attribution;
    let grown: Vec<&localise::EdgeGaps> = nd.network.iter().map(|&k| &att.edges[k as usize]).collect();
    let incident_edges =
        att.edges.iter().filter(|e| e.caller == id || e.callee == id).filter(|e| e.total[1].n > 0).count();
    let Some(e) = grown.iter().max_by(|a, b| a.anomaly.latency_z.total_cmp(&b.anomaly.latency_z)) else {
        return;
    };
    let svc = &f.service;
    let (b, i) = (&e.total[0], &e.total[1]);
    let (dir, other) = if e.callee == id {
        ("to", format!("{svc} from {}", s.name(e.caller)))
    } else {
        ("from", format!("{svc} to {}", s.name(e.callee)))
    };
    let text = format!(
        "calls {dir} {other} take longer outside both services (network or queueing): p50 {} -> {}, p95 {} -> {}; {} of {svc}'s {incident_edges} call edges grew, slow in {} of {} slow requests",
        ms(own_q(b, 0.5)),
        ms(own_q(i, 0.5)),
        ms(own_q(b, 0.95)),
        ms(own_q(i, 0.95)),
        grown.len(),
        pct(nd.anomaly.latency_coverage),
        s.slow
    );
    f.evidence(EvidenceKind::Traces, text, vec![]);
}

/// The node's own time (of its slow operation when one stands out), baseline against incident.
fn own_time_evidence(s: &Signals<'_>, nd: &Node, who: String, f: &mut Finding) {
    let (who, [b, i]) = match nd.slow_op.and_then(|(op, _)| Some((op, nd.by_operation.get(&op)?))) {
        Some((op, pair)) => {
            f.operation.get_or_insert_with(|| s.name(op));
            (format!("{who} {}", s.name(op)), pair)
        }
        None => (who, &nd.total),
    };
    f.evidence(
        EvidenceKind::Traces,
        format!(
            "{who}'s own time: p50 {} -> {}, p95 {} -> {}; slow in {} of {} slow requests",
            ms(own_q(b, 0.5)),
            ms(own_q(i, 0.5)),
            ms(own_q(b, 0.95)),
            ms(own_q(i, 0.95)),
            pct(nd.anomaly.latency_coverage),
            s.slow
        ),
        vec![],
    );
}

/// The patterns the node's anomaly names.
fn node_patterns(s: &Signals<'_>, id: u32, nd: &Node, f: &mut Finding) {
    let an = nd.anomaly;
    if nd.uninstrumented && !nd.datastore {
        f.pattern(Pattern::ExternalDependency);
    } else if nd.uninstrumented || s.edges.keys().any(|&(_, callee)| callee == id) {
        f.pattern(Pattern::DependencyFailure);
    }
    if an.latency && an.network && !an.errors {
        f.pattern(Pattern::NetworkDelay);
    } else if an.latency && !an.errors && !nd.uninstrumented {
        f.pattern(Pattern::LatencyInjection);
    }
    if f.patterns.is_empty() || f.patterns == [Pattern::FaultyInstance] {
        if an.errors {
            f.pattern(Pattern::CodeException);
        } else if an.latency {
            f.pattern(Pattern::LatencyInjection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&Localised, "lb-bad-backend");
        assert!(healthy.iter().all(|f| f.weight < 0.3), "{healthy:?}");
        let top = found.iter().max_by(|a, b| a.weight.total_cmp(&b.weight)).expect("a finding");
        assert_eq!(top.service, testkit::truth("lb-bad-backend"));
        assert!(top.patterns.contains(&Pattern::FaultyInstance), "{top:?}");
    }

    /// Eight requests a second apart (too few for a node's anomaly test): web (`web_ms` of its
    /// own, give or take a tenth) calls quotes, which takes 0.4 ms in the first four and
    /// `later_ms` in the others.
    fn quotes_grows(web_ms: i64, later_ms: f64) -> Vec<faultline_model::Span> {
        const MS: i64 = 1_000_000;
        let mut spans = Vec::new();
        for k in 0..8i64 {
            let q = if k < 4 { 400_000 } else { (later_ms * 1e6) as i64 + (k % 3) * 100_000 };
            let own = web_ms * MS * (9 + k % 3) / 10;
            let (t0, tr) = (k * 1_000_000_000, k as u128 + 1);
            spans.push(testkit::span(tr, 1, None, "web", t0, own + q));
            spans.push(testkit::span(tr, 2, Some(1), "quotes", t0 + MS, q));
        }
        spans
    }

    #[test]
    fn a_quiet_growth_users_would_not_notice_is_no_incident() {
        // QUIET_MIN_REQUEST_SHARE: in a named window where users saw no change, quotes adding
        // 6 ms to requests of 75 ms stays below one half; adding 30 ms to them does not.
        const SECOND: i64 = 1_000_000_000;
        let ask = crate::plan::Ask {
            from: Some(4 * SECOND),
            to: Some(8 * SECOND),
            baseline: Some((0, 4 * SECOND)),
        };
        for (later_ms, weight) in [(6.0, QUIET_RULE_WEIGHT), (30.0, RULE_WEIGHT)] {
            let s = testkit::signals_of(&quotes_grows(75, later_ms), ask);
            assert!(!s.symptom_found() && s.plan.named);
            let found = Localised.detect(&s);
            let quotes = found.iter().find(|f| f.service == "quotes").expect("quotes ranked");
            assert!((quotes.weight - weight).abs() < 1e-9, "{later_ms} ms: {quotes:?}");
        }
    }

    #[test]
    fn a_sliver_of_added_time_explains_no_caller() {
        const MS: f64 = 1e6;
        // INHERITED_TIME_SHARE: a callee 39 ms slower did not make its caller spend 290 ms more ...
        assert!(!can_explain((false, 39.0 * MS), (false, 290.0 * MS)));
        assert!(!can_explain((false, -5.0 * MS), (false, 10.0 * MS)));
        // ... a callee 80 ms slower may have (its caller waited for connections it held) ...
        assert!(can_explain((false, 80.0 * MS), (false, 300.0 * MS)));
        // ... and failures explain what they cost the caller whatever its time.
        assert!(can_explain((true, 0.0), (false, 300.0 * MS)));
        assert!(can_explain((false, 0.0), (true, 300.0 * MS)));
    }
}

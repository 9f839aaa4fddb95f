//! Missing calls: spans that quietly stopped making their usual calls (a wrong value returned, an
//! exception swallowed). The reading of the trace shapes is `crate::shape::missing_calls`; this
//! detector turns its strongest truncations into hypotheses.

use super::text::{pct, trace_hex};
use super::{Detector, Finding};
use crate::pattern::{EvidenceKind, Pattern};
use crate::shape::Truncation;
use crate::signals::Signals;
use crate::spans::NONE;

/// Truncations turned into hypotheses: the strongest few; more would be one fault seen again
/// from the operations around it.
const MAX_TRUNCATIONS: usize = 3;
/// What a node blamed for truncated requests keeps of its weight when its own calls went
/// unanswered by a deeper node (as localisation discounts a node whose callees changed).
const INHERITED_DISCOUNT: f64 = 0.4;

pub struct MissingCalls;

impl Detector for MissingCalls {
    fn name(&self) -> &'static str {
        "missing_calls"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline else { return vec![] };
        let truncations = crate::shape::missing_calls(s.spans, &s.graph, baseline.pair(), s.incident.pair());
        truncations
            .iter()
            .take(MAX_TRUNCATIONS)
            .map(|tr| {
                let mut f = truncation_finding(s, tr);
                // Deepest first: the node blamed has calls of its own that stopped being
                // answered by another; its wrong answers are inherited.
                if truncations.iter().any(|o| o.service == tr.blamed && o.unanswered && o.blamed != tr.blamed)
                {
                    f.weight *= INHERITED_DISCOUNT;
                }
                f
            })
            .collect()
    }
}

/// A hypothesis from spans that stopped making their usual calls, scored by the share of the
/// incident's requests it touched.
fn truncation_finding(s: &Signals<'_>, tr: &Truncation) -> Finding {
    let name = |id: u32| s.name(id);
    let svc = name(tr.blamed);
    let op = format!("{} {}", name(tr.service), name(tr.operation));
    let change = (tr.share_after - tr.share_before).abs();
    let touched = (change * tr.spans as f64 / s.requests[1].max(1) as f64).min(1.0);
    let mut f = Finding::cause(&svc, 0.3 + 0.7 * touched);
    let missing: Vec<String> = tr
        .missing
        .iter()
        .take(4)
        .map(|&(callee, child, b, a)| match child {
            NONE => format!("{} ({b:.2} -> {a:.2} per span)", name(callee)),
            _ => format!("{} {} ({} -> {} of spans)", name(callee), name(child), pct(b), pct(a)),
        })
        .collect();
    let text = if tr.unanswered {
        f.pattern(Pattern::DependencyFailure);
        f.summary = format!(
            "{svc} no longer answers {op}'s calls: its side of them vanished, with no error recorded by the caller (down, unreachable, or its name does not resolve)"
        );
        format!(
            "{} of {op} calls now end with no answer from {svc} (baseline {})",
            pct(if tr.vanished { 1.0 - tr.share_after } else { tr.share_after }),
            pct(if tr.vanished { 1.0 - tr.share_before } else { tr.share_before })
        )
    } else if tr.vanished {
        f.pattern(Pattern::CodeException);
        f.operation = Some(name(tr.operation));
        f.summary = format!(
            "{op} no longer makes calls it used to make, without an error status: its code takes another path (an exception caught, a wrong value)"
        );
        format!("{op} spans no longer call {}", missing.join(", "))
    } else {
        let missing = if missing.is_empty() {
            String::new()
        } else {
            format!("; calls no longer made: {}", missing.join(", "))
        };
        let how = if tr.after.is_some() {
            f.pattern(Pattern::BadResponse);
            f.instance = tr.after_instance.map(name);
            f.summary = format!(
                "{svc} answers without an error, but {op} stops right after its answer and skips its usual calls: {svc} likely returns something wrong"
            );
            match tr.after_instance {
                Some(x) => format!("right after {svc} answers (nearly always {}'s answer)", name(x)),
                None => format!("right after {svc} answers"),
            }
        } else {
            f.pattern(Pattern::CodeException);
            f.operation = Some(name(tr.operation));
            f.summary = format!(
                "{op} ends early without its usual calls and without an error status: it likely fails silently (an exception caught, a wrong value returned)"
            );
            "without calling on".to_string()
        };
        format!(
            "{} of {op} spans now end {how} (baseline {}); calls per span {:.1} -> {:.1}{missing}",
            pct(tr.share_after),
            pct(tr.share_before),
            tr.calls_before,
            tr.calls_after
        )
    };
    f.evidence(EvidenceKind::Traces, text, tr.examples.iter().map(trace_hex).collect());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit::{self, signals_of, span};
    use crate::plan::Ask;

    const MS: i64 = 1_000_000;
    const SECOND: i64 = 1_000_000_000;

    /// `front` asks `check`, then `store`; in the second half, `checked_bad` of the requests stop
    /// right after `check` answers (a wrong answer, no error anywhere).
    fn traces(stopped_share: f64) -> Vec<faultline_model::Span> {
        let t0 = 1_800_000_000 * SECOND;
        let mut out = Vec::new();
        for k in 0..400u64 {
            let start = t0 + k as i64 * SECOND;
            let late = k >= 200;
            let stops = late && ((k - 200) as f64) < stopped_share * 200.0;
            let tr = 10_000 + k as u128;
            out.push(span(tr, 1, None, "front", start, 40 * MS));
            out.push(span(tr, 2, Some(1), "check", start + MS, 10 * MS));
            if !stops {
                out.push(span(tr, 3, Some(1), "store", start + 12 * MS, 20 * MS));
            }
        }
        out
    }

    /// A baseline of the first `baseline_s` seconds and an incident of the next `incident_s`.
    fn ask(baseline_s: i64, incident_s: i64) -> Ask {
        let t0 = 1_800_000_000 * SECOND;
        let split = t0 + baseline_s * SECOND;
        Ask { from: Some(split), to: Some(split + incident_s * SECOND), baseline: Some((t0, split)) }
    }

    fn named_second_half() -> Ask {
        ask(200, 200)
    }

    #[test]
    fn blames_the_callee_after_whose_answer_requests_stop() {
        let found = MissingCalls.detect(&signals_of(&traces(0.6), named_second_half()));
        let f = found.first().expect("a truncation");
        assert_eq!(f.service, "check", "{found:?}");
        assert!(f.patterns.contains(&Pattern::BadResponse));
        assert!(f.weight > 0.5, "{}", f.weight);
    }

    /// `front` calls `pay` through a client span, which `pay` answers with a server span; in the
    /// second half the answers vanish and the caller records no error.
    fn unanswered_calls() -> Vec<faultline_model::Span> {
        let t0 = 1_800_000_000 * SECOND;
        let mut out = Vec::new();
        for k in 0..400u64 {
            let start = t0 + k as i64 * SECOND;
            let tr = 20_000 + k as u128;
            out.push(span(tr, 1, None, "front", start, 40 * MS));
            let mut call = span(tr, 2, Some(1), "front", start + MS, 30 * MS);
            call.kind = faultline_model::SpanKind::Client;
            call.name = "POST /pay".into();
            call.attributes.insert("peer.service".into(), "pay".into());
            out.push(call);
            if k < 200 {
                out.push(span(tr, 3, Some(2), "pay", start + 2 * MS, 25 * MS));
            }
        }
        out
    }

    #[test]
    fn blames_the_callee_whose_answers_vanished() {
        let found = MissingCalls.detect(&signals_of(&unanswered_calls(), named_second_half()));
        let f = found.first().expect("a truncation");
        assert_eq!(f.service, "pay", "{found:?}");
        assert!(f.patterns.contains(&Pattern::DependencyFailure));
    }

    /// `front` calls `mid`, then `store`; `mid` calls `leaf`. In the second half `leaf` no longer
    /// answers, `mid` answers without an error, and `front` stops right after `mid` answers.
    fn chain() -> Vec<faultline_model::Span> {
        let t0 = 1_800_000_000 * SECOND;
        let call = |tr, id, parent, from: &str, to: &str, start| {
            let mut c = span(tr, id, Some(parent), from, start, 10 * MS);
            c.kind = faultline_model::SpanKind::Client;
            c.name = format!("call {to}");
            c.attributes.insert("peer.service".into(), to.into());
            c
        };
        let mut out = Vec::new();
        for k in 0..400u64 {
            let (start, tr, late) = (t0 + k as i64 * SECOND, 30_000 + k as u128, k >= 200);
            out.push(span(tr, 1, None, "front", start, 40 * MS));
            out.push(call(tr, 2, 1, "front", "mid", start + MS));
            out.push(span(tr, 3, Some(2), "mid", start + 2 * MS, 8 * MS));
            out.push(call(tr, 4, 3, "mid", "leaf", start + 3 * MS));
            if !late {
                out.push(span(tr, 5, Some(4), "leaf", start + 4 * MS, 5 * MS));
                out.push(call(tr, 6, 1, "front", "store", start + 20 * MS));
                out.push(span(tr, 7, Some(6), "store", start + 21 * MS, 5 * MS));
            }
        }
        out
    }

    #[test]
    fn a_node_whose_own_calls_went_unanswered_inherits_the_blame() {
        let found = MissingCalls.detect(&signals_of(&chain(), named_second_half()));
        let weight =
            |svc: &str| found.iter().filter(|f| f.service == svc).map(|f| f.weight).fold(0.0, f64::max);
        assert!(weight("leaf") > 0.0, "{found:?}");
        assert!(weight("leaf") > weight("mid"), "{found:?}");
    }

    /// Twelve baseline requests of `front`, then four. Each calls `a`, then `b` (when `calls_b`
    /// says so for the request's index and side), then `c` (when `calls_c` does).
    fn few(
        calls_b: impl Fn(u64, bool) -> bool,
        calls_c: impl Fn(u64, bool) -> bool,
    ) -> Vec<faultline_model::Span> {
        let t0 = 1_800_000_000 * SECOND;
        let mut out = Vec::new();
        for k in 0..16u64 {
            let (start, tr, late) = (t0 + k as i64 * SECOND, 40_000 + k as u128, k >= 12);
            out.push(span(tr, 1, None, "front", start, 40 * MS));
            out.push(span(tr, 2, Some(1), "a", start + MS, 5 * MS));
            if calls_b(k, late) {
                out.push(span(tr, 3, Some(1), "b", start + 10 * MS, 5 * MS));
            }
            if calls_c(k, late) {
                out.push(span(tr, 4, Some(1), "c", start + 20 * MS, 5 * MS));
            }
        }
        out
    }

    #[test]
    fn four_requests_cut_short_against_twelve_whole_ones_are_found() {
        // MIN_INCIDENT_SPANS and MAX_SHAPE_P: every one of four requests now stops after `a`,
        // where all twelve before went on to `b` and `c` (p = 1/1820).
        let found = MissingCalls.detect(&signals_of(&few(|_, late| !late, |_, late| !late), ask(12, 4)));
        assert_eq!(found.first().map(|f| f.service.as_str()), Some("a"), "{found:?}");
    }

    #[test]
    fn a_branch_a_third_of_requests_take_is_not_missed_in_four() {
        // `c` is called by every third request; none of the four late ones happen to (p > 0.2).
        let found =
            MissingCalls.detect(&signals_of(&few(|_, _| true, |k, late| !late && k % 3 == 0), ask(12, 4)));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn three_incident_requests_are_too_few() {
        // MIN_INCIDENT_SPANS: with three, even a complete change cannot reach MAX_SHAPE_P.
        let three = ask(12, 3);
        let spans: Vec<_> = few(|_, late| !late, |_, late| !late)
            .into_iter()
            .filter(|s| Some(s.start_unix_nano) < three.to)
            .collect();
        assert!(MissingCalls.detect(&signals_of(&spans, three)).is_empty());
    }

    #[test]
    fn a_few_requests_cut_short_are_found_though_the_mean_barely_moves() {
        // FEWER_CALLS_RATIO on the spans that end the new way: 15% of requests stop after
        // `check` (one instance of a few answering wrong); calls per span fall only 2 -> 1.85.
        let found = MissingCalls.detect(&signals_of(&traces(0.15), named_second_half()));
        assert_eq!(found.first().map(|f| f.service.as_str()), Some("check"), "{found:?}");
    }

    /// `front` calls seven services in turn; in the second half, a third of its requests give up
    /// after the sixth answer (`skip_last`) or make all seven with the sixth now answering last
    /// (a reordering: it got slower).
    fn seven_calls(skip_last: bool) -> Vec<faultline_model::Span> {
        let t0 = 1_800_000_000 * SECOND;
        let mut out = Vec::new();
        for k in 0..1200u64 {
            let (start, tr, late) = (t0 + k as i64 * SECOND, 80_000 + k as u128, k >= 600);
            let odd = late && k % 3 == 0;
            out.push(span(tr, 1, None, "front", start, 90 * MS));
            for c in 0..7u64 {
                let (at, took) = match c {
                    5 if odd && !skip_last => (start + 51 * MS, 30 * MS),
                    6 if odd && skip_last => continue,
                    _ => (start + (1 + 10 * c as i64) * MS, 5 * MS),
                };
                out.push(span(tr, 2 + c, Some(1), &format!("svc{c}"), at, took));
            }
        }
        out
    }

    #[test]
    fn one_call_of_seven_skipped_is_cut_short_and_a_reordering_is_not() {
        // MIN_CALLS_CUT: the spans that stop after svc5 make 6 calls where 7 were usual (14%
        // fewer, above FEWER_CALLS_RATIO's 15%, but a whole call); reordered spans make all 7.
        let found = MissingCalls.detect(&signals_of(&seven_calls(true), ask(600, 600)));
        assert_eq!(found.first().map(|f| f.service.as_str()), Some("svc5"), "{found:?}");
        let found = MissingCalls.detect(&signals_of(&seven_calls(false), ask(600, 600)));
        assert!(found.is_empty(), "{found:?}");
    }

    /// `front` asks `check` (three instances in turn), then `store`; in the second half a third
    /// of `check-2`'s answers are wrong and those requests stop right after them. `spread` puts
    /// the wrong answers on every instance instead.
    fn one_instance_wrong(spread: bool) -> Vec<faultline_model::Span> {
        let t0 = 1_800_000_000 * SECOND;
        let mut out = Vec::new();
        for k in 0..1200u64 {
            let (start, tr, late) = (t0 + k as i64 * SECOND, 60_000 + k as u128, k >= 600);
            let inst = k % 3;
            let wrong = late && (if spread { k % 9 < 3 } else { inst == 2 && k % 9 < 3 });
            out.push(span(tr, 1, None, "front", start, 40 * MS));
            out.push(testkit::span_on(
                &format!("check-{inst}"),
                tr,
                2,
                Some(1),
                "check",
                start + MS,
                10 * MS,
            ));
            if !wrong {
                out.push(span(tr, 3, Some(1), "store", start + 12 * MS, 20 * MS));
            }
        }
        out
    }

    #[test]
    fn names_the_instance_whose_answers_requests_stop_after() {
        // ONE_INSTANCE_SHARE: every cut follows an answer of check-2, which answers a third of
        // the calls.
        let ask = ask(600, 600);
        let found = MissingCalls.detect(&signals_of(&one_instance_wrong(false), ask));
        let f = found.first().expect("a truncation");
        assert_eq!((f.service.as_str(), f.instance.as_deref()), ("check", Some("check-2")), "{found:?}");
        // Cuts after every instance's answers name the service alone.
        let found = MissingCalls.detect(&signals_of(&one_instance_wrong(true), ask));
        let f = found.first().expect("a truncation");
        assert_eq!((f.service.as_str(), f.instance.as_deref()), ("check", None), "{found:?}");
    }

    #[test]
    fn an_ending_two_in_five_took_is_not_new_at_one_in_two() {
        // NEW_ENDING_RATIO: `front` calls `check`, then `store` in 60% of requests (an optional
        // call); in the second half, failed `store` calls leave out spans that called it, and
        // the rest end after `check` in 50%, not 40%: no span ends differently.
        let t0 = 1_800_000_000 * SECOND;
        let mut spans = Vec::new();
        for k in 0..4000u64 {
            let (start, tr, late) = (t0 + k as i64 * SECOND / 10, 70_000 + k as u128, k >= 2000);
            let stops = if late { k % 10 < 5 } else { k % 5 < 2 };
            spans.push(span(tr, 1, None, "front", start, 40 * MS));
            spans.push(span(tr, 2, Some(1), "check", start + MS, 10 * MS));
            if !stops {
                spans.push(span(tr, 3, Some(1), "store", start + 12 * MS, 20 * MS));
            }
        }
        let found = MissingCalls.detect(&signals_of(&spans, ask(200, 200)));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_callee_that_now_answers_last_is_not_a_cut() {
        // `front` calls `a` and `b` at once; in the second half `a` got slower and answers after
        // `b` in every request: a new way of ending, with every call still made.
        let t0 = 1_800_000_000 * SECOND;
        let mut spans = Vec::new();
        for k in 0..400u64 {
            let (start, tr, late) = (t0 + k as i64 * SECOND, 50_000 + k as u128, k >= 200);
            spans.push(span(tr, 1, None, "front", start, 60 * MS));
            spans.push(span(tr, 2, Some(1), "a", start + MS, if late { 40 } else { 5 } * MS));
            spans.push(span(tr, 3, Some(1), "b", start + MS, 20 * MS));
        }
        let found = MissingCalls.detect(&signals_of(&spans, named_second_half()));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn unchanged_shapes_say_nothing() {
        assert!(MissingCalls.detect(&signals_of(&traces(0.0), named_second_half())).is_empty());
    }
}

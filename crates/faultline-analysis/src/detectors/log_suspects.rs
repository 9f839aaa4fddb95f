//! Log suspects: services accused by their own logs (error lines of their own, events of their
//! requests that stopped or appeared), for faults that leave the spans clean. The reading of the
//! logs is `crate::request_logs`; this detector weighs it.

use super::{Detector, Finding, Role};
use crate::graph::Graph;
use crate::hash::HashMap;
use crate::hash::HashSet;
use crate::pattern::{EvidenceKind, Pattern};
use crate::plan::TimeRange;
use crate::request_logs::{Answer, AnswersBefore, FromTraces, LogSign};
use crate::signals::Signals;
use crate::spans::SpanTable;

/// Weight of a log suspect added to a hypothesis about the same service, and of one that stands
/// alone where the traces explain nothing (a code fault in a service whose spans carry no error
/// status): strong own error logs then lead, near the confidence of a trace anomaly.
const LOG_SUPPORT_WEIGHT: f64 = 0.3;
const LOG_ALONE_WEIGHT: f64 = 0.6;

/// How far a short baseline is extended, away from the incident, to learn a service's usual rate
/// of error lines: the longest baseline the plan picks by itself.
const LOG_HISTORY_NS: i64 = crate::plan::HOUR;

/// The baseline extended away from the incident to `LOG_HISTORY_NS`, within the data.
fn history(baseline: TimeRange, incident: TimeRange, data: (i64, i64)) -> (i64, i64) {
    if baseline.to - baseline.from >= LOG_HISTORY_NS {
        return baseline.pair();
    }
    if baseline.to <= incident.from {
        ((baseline.to - LOG_HISTORY_NS).max(data.0).min(baseline.from), baseline.to)
    } else {
        (baseline.from, (baseline.from + LOG_HISTORY_NS).min(data.1 + 1).max(baseline.to))
    }
}

/// The traces' answers to the logs' questions (`request_logs::AnswersBefore`).
struct TraceAnswers<'a> {
    spans: &'a SpanTable,
    graph: &'a Graph,
}

impl AnswersBefore for TraceAnswers<'_> {
    fn last_answers(&self, asked: &[([u8; 16], String, i64)]) -> Vec<Option<Answer>> {
        let (t, g) = (self.spans, self.graph);
        let wanted: HashSet<[u8; 16]> = asked.iter().map(|a| a.0).collect();
        let mut rows: HashMap<[u8; 16], Vec<usize>> = HashMap::default();
        for i in (0..t.len()).filter(|&i| wanted.contains(&t.trace_id[i])) {
            rows.entry(t.trace_id[i]).or_default().push(i);
        }
        asked
            .iter()
            .map(|(trace, service, time)| {
                let s = t.names.get(service)?;
                let last = rows
                    .get(trace)?
                    .iter()
                    .filter(|&&i| t.service[i] == s)
                    .flat_map(|&i| g.children(i).iter().map(|&c| c as usize))
                    .filter(|&c| t.end(c) <= *time && crate::shape::callee_of(t, g, c, s) != s)
                    .max_by_key(|&c| t.end(c))?;
                Some(Answer {
                    service: t.names.name(crate::shape::callee_of(t, g, last, s)).to_string(),
                    instance: crate::shape::answering_instance(t, g, last, s)
                        .map_or_else(String::new, |x| t.names.name(x).to_string()),
                })
            })
            .collect()
    }

    fn answers_by_instance(&self, caller: &str, callee: &str, window: (i64, i64)) -> HashMap<String, u64> {
        let (t, g) = (self.spans, self.graph);
        let (Some(s), Some(y)) = (t.names.get(caller), t.names.get(callee)) else {
            return HashMap::default();
        };
        let mut by: HashMap<String, u64> = HashMap::default();
        for i in
            (0..t.len()).filter(|&i| t.service[i] == s && t.start[i] >= window.0 && t.start[i] < window.1)
        {
            for c in g.children(i).iter().map(|&c| c as usize) {
                if crate::shape::callee_of(t, g, c, s) == y {
                    if let Some(x) = crate::shape::answering_instance(t, g, c, s) {
                        *by.entry(t.names.name(x).to_string()).or_default() += 1;
                    }
                }
            }
        }
        by
    }

    fn served(&self, baseline: (i64, i64), incident: (i64, i64)) -> HashMap<(String, String), [u64; 2]> {
        let t = self.spans;
        let mut by: HashMap<(u32, u32), [u64; 2]> = HashMap::default();
        let mut here: Vec<(u32, i64, usize)> = Vec::new();
        for spans in self.graph.traces() {
            here.clear();
            here.extend(spans.iter().map(|&i| (t.service[i as usize], t.start[i as usize], i as usize)));
            // Each service's first span in the request: the endpoint it served.
            here.sort_unstable();
            here.dedup_by_key(|x| x.0);
            for &(s, start, i) in &here {
                match crate::localise::side_at(start, baseline, incident) {
                    crate::localise::NO_SIDE => {}
                    side => by.entry((s, t.operation[i])).or_default()[side as usize] += 1,
                }
            }
        }
        by.into_iter()
            .map(|((s, op), n)| ((t.names.name(s).to_string(), t.names.name(op).to_string()), n))
            .collect()
    }

    fn served_operation(&self, asked: &[([u8; 16], String)]) -> Vec<Option<String>> {
        let t = self.spans;
        let wanted: HashSet<[u8; 16]> = asked.iter().map(|a| a.0).collect();
        let mut first: HashMap<([u8; 16], u32), (i64, u32)> = HashMap::default();
        for i in (0..t.len()).filter(|&i| wanted.contains(&t.trace_id[i])) {
            let e = first.entry((t.trace_id[i], t.service[i])).or_insert((t.start[i], t.operation[i]));
            if t.start[i] < e.0 {
                *e = (t.start[i], t.operation[i]);
            }
        }
        asked
            .iter()
            .map(|(trace, service)| {
                let s = t.names.get(service)?;
                first.get(&(*trace, s)).map(|e| t.names.name(e.1).to_string())
            })
            .collect()
    }
}

pub struct LogSuspects;

impl Detector for LogSuspects {
    fn name(&self) -> &'static str {
        "log_suspects"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline.filter(|_| s.look()) else { return vec![] };
        let callee_names = s.callee_names();
        let accused = crate::request_logs::log_suspects(
            &s.inputs.logs,
            &s.log_traces,
            &s.log_templates,
            &FromTraces {
                callees: &callee_names,
                answers: &TraceAnswers { spans: s.spans, graph: &s.graph },
            },
            baseline.pair(),
            s.incident.pair(),
            history(baseline, s.incident, s.spans.time_range().unwrap_or_default()),
        );
        accused
            .into_iter()
            .map(|ls| {
                let mut f = Finding::cause(&ls.service, LOG_SUPPORT_WEIGHT * ls.strength);
                // Where the traces explain the incident, a service accused by its logs alone is
                // most often a caller logging its callee's failure (an uninstrumented one's):
                // support only.
                f.role = Role::Support { alone: Some(LOG_ALONE_WEIGHT * ls.strength) };
                f.instance = ls.instance.clone();
                f.pattern(if ls.sign == LogSign::Errors {
                    Pattern::CodeException
                } else {
                    Pattern::BadResponse
                });
                f.summary = match ls.sign {
                    LogSign::Errors => format!("{} logs errors of its own", ls.service),
                    LogSign::Stopped => {
                        format!(
                            "{}'s requests stopped part-way: events it always logged are missing",
                            ls.service
                        )
                    }
                    LogSign::Appeared => {
                        format!(
                            "{}'s requests took another path: it logs events it did not log before",
                            ls.service
                        )
                    }
                    LogSign::AfterAnswer => {
                        format!(
                            "{} answers without an error, but its callers now log events they did not log before right after its answer: it likely returns something wrong",
                            ls.service
                        )
                    }
                };
                f.evidence(EvidenceKind::Logs, ls.text, ls.refs);
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
    fn a_short_baseline_is_extended_away_from_the_incident() {
        const MIN: i64 = 60_000_000_000;
        let w = |a: i64, b: i64| TimeRange::new(a * MIN, b * MIN);
        let data = (0, 200 * MIN);
        // Before the incident: back an hour, or to the data's start.
        assert_eq!(history(w(100, 103), w(105, 108), data), (43 * MIN, 103 * MIN));
        assert_eq!(history(w(10, 13), w(15, 18), data), (0, 13 * MIN));
        // After it: forward an hour, or to the data's end.
        assert_eq!(history(w(120, 123), w(105, 108), data), (120 * MIN, 180 * MIN));
        assert_eq!(history(w(190, 193), w(105, 108), data), (190 * MIN, 200 * MIN + 1));
        // An hour or more already: as it is.
        assert_eq!(history(w(0, 90), w(95, 98), data), (0, 90 * MIN));
    }

    #[test]
    fn accuses_by_own_error_lines_and_stays_quiet_on_a_healthy_run() {
        for name in ["bad-deploy", "disk-full"] {
            let (found, healthy) = testkit::on(&LogSuspects, name);
            assert!(healthy.is_empty(), "{healthy:?}");
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert_eq!(found[0].service, testkit::truth(name));
            assert!(matches!(found[0].role, Role::Support { alone: Some(_) }));
            assert!(found[0].patterns.contains(&Pattern::CodeException));
        }
    }
}

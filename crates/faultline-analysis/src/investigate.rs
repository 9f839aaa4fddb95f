//! The investigation: define the problem, localise it, test hypotheses with the detectors, and
//! write the report with its evidence.

use crate::detect::{self, message_pattern};
use crate::graph::Graph;
use crate::inputs::{LogTable, MetricTable};
use crate::localise::{self, outlier, Attribution};
use crate::report::*;
use crate::spans::{SpanTable, NONE};
use crate::stats::quantile;
use crate::symptom::{self, Endpoint, Signal};
use faultline_model::time::{format_duration, format_rfc3339_secs};
use faultline_model::ChangeEvent;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// Everything an investigation reads.
#[derive(Debug, Default)]
pub struct Inputs {
    pub spans: SpanTable,
    pub logs: LogTable,
    pub metrics: MetricTable,
    pub changes: Vec<ChangeEvent>,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The incident window; found in the data when not given.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub baseline: Option<(i64, i64)>,
    /// Root causes to report (default 5).
    pub top: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvestigateError {
    #[error("no spans in the window to investigate")]
    NoData,
    #[error("the window is empty or inverted: {0}")]
    BadWindow(String),
}

/// A hypothesis: a service (or peer) that went wrong, with what pins it down and the evidence.
#[derive(Debug, Clone)]
struct Candidate {
    service: String,
    instance: Option<String>,
    operation: Option<String>,
    change: Option<ChangeRef>,
    patterns: Vec<String>,
    score: f64,
    summary: String,
    evidence: Vec<Evidence>,
}

impl Candidate {
    fn new(service: &str, score: f64) -> Candidate {
        Candidate {
            service: service.to_string(),
            instance: None,
            operation: None,
            change: None,
            patterns: Vec::new(),
            score,
            summary: String::new(),
            evidence: Vec::new(),
        }
    }

    fn pattern(&mut self, p: &str) {
        if !self.patterns.iter().any(|x| x == p) {
            self.patterns.push(p.to_string());
        }
    }

    fn evidence(&mut self, signal: &str, text: String, refs: Vec<String>) {
        self.evidence.push(Evidence { signal: signal.into(), text, refs });
    }
}

use crate::report::fmt_rate as pct;

/// A duration in nanoseconds, as the report writes durations.
fn ms(ns: f64) -> String {
    crate::report::fmt_ms(ns / 1e6)
}

fn hms(ns: i64) -> String {
    let s = format_rfc3339_secs(ns);
    s.get(11..19).unwrap_or(&s).to_string()
}

fn trace_hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn investigate(inp: &Inputs, o: &Options) -> Result<Report, InvestigateError> {
    let started = std::time::Instant::now();
    let t = &inp.spans;
    if let (Some(f), Some(to)) = (o.from, o.to) {
        if f >= to {
            return Err(InvestigateError::BadWindow(format!("from {} is not before to {}", f, to)));
        }
    }
    let in_window = |w: (i64, i64)| t.start.iter().any(|&s| s >= w.0 && s < w.1);
    if let (Some(f), Some(to)) = (o.from, o.to) {
        if !in_window((f, to)) {
            return metrics_only(inp, o, (f, to), started);
        }
    }
    let data = t.time_range().ok_or(InvestigateError::NoData)?;
    let g = Graph::build(t);
    let eps = symptom::endpoints(t, &g);
    if eps.is_empty() {
        return Err(InvestigateError::NoData);
    }
    let ask = crate::plan::Ask { from: o.from, to: o.to, baseline: o.baseline };
    let p = crate::plan::plan(&ask, data, &eps).ok_or(InvestigateError::NoData)?;
    let notes = p.notes.clone();
    let (lo, hi) = p.range.pair();
    let step = p.step;
    let (rises, main, onset) = (&p.rises, &p.main, p.onset);
    let symptom_found = main.is_some();
    // Evidence is gathered where there is something to explain: a symptom, or a window the user
    // named as bad.
    let look = symptom_found || p.named;
    let incident_w = p.incident.pair();
    // Without a healthy stretch of time, the window's failing or slow requests are the incident
    // side and its other requests the baseline; time-based steps then have no baseline window.
    let by_requests = p.baseline_time().is_none();
    let baseline_w = p.baseline_time().map_or((incident_w.0, incident_w.0), |b| b.pair());
    let (sides, outcome_slow) = sides_of(t, &g, &p);
    // The baseline as the report shows it: its window, or the time the other requests span.
    let baseline_shown = if by_requests {
        (0..t.len())
            .filter(|&i| sides[i] == 0)
            .fold(None, |a: Option<(i64, i64)>, i| {
                Some(a.map_or((t.start[i], t.end(i)), |a| (a.0.min(t.start[i]), a.1.max(t.end(i)))))
            })
            .unwrap_or(baseline_w)
    } else {
        baseline_w
    };

    // Localisation.
    let mut att = localise::attribute_sides(t, &g, &sides);
    let slow_entry_threshold: HashMap<(u32, u32), i64> = if by_requests {
        outcome_slow
    } else {
        eps.iter()
            .map(|e| ((e.service, e.operation), e.duration_quantile(baseline_w.0, baseline_w.1, 0.99).max(1)))
            .collect()
    };
    let slow_entry = |i: usize| {
        slow_entry_threshold.get(&(t.service[i], t.operation[i])).is_some_and(|&th| t.duration[i] > th)
    };
    let (failing, slow) = localise::coverage(t, &g, &mut att, &sides, &slow_entry);
    let (sym_err, sym_lat) = if by_requests && rises.is_empty() {
        (failing > 0 && failing >= slow, slow > failing)
    } else {
        (rises.iter().any(|r| r.signal == Signal::Errors), rises.iter().any(|r| r.signal == Signal::Latency))
    };
    let edges = crate::deps::dependency_map_in(t, &g, incident_w.0, incident_w.1);
    let mut callees: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(a, b) in edges.keys() {
        callees.entry(a).or_default().push(b);
    }
    // Latency weighs by how much of the slow requests a node is in and how much of the time added
    // per request is its own: a node that added half a millisecond to every request is in all the
    // slow ones too, but did not make them slow.
    let requests = localise::entries_per_side(t, &g, &sides);
    let excess = localise::excess_per_request(&att, requests);
    let total_excess: f64 = excess.values().filter(|x| **x > 0.0).sum();
    let mut score: HashMap<u32, f64> = HashMap::new();
    for (&id, nd) in &att.nodes {
        let an = &nd.anomaly;
        let err = if an.errors { an.error_coverage.max(0.05) * (an.error_z / 10.0).min(1.0) } else { 0.0 };
        let share = excess.get(&id).map_or(0.0, |x| x.max(0.0) / total_excess.max(1.0));
        let lat = if an.latency {
            (0.25 * an.latency_coverage + 0.75 * share).max(0.05) * (an.latency_z / 10.0).min(1.0)
        } else {
            0.0
        };
        let s = match (sym_err, sym_lat) {
            (true, false) => err.max(0.5 * lat),
            (false, true) => lat.max(0.5 * err),
            _ => err.max(lat),
        };
        if s > 0.0 {
            score.insert(id, s);
        }
    }
    // Deepest first: a node whose callees (transitively) changed too inherits its trouble.
    let mut inherited: HashMap<u32, u32> = HashMap::new();
    let ids: Vec<u32> = score.keys().copied().collect();
    for &a in &ids {
        // Its calls' gaps grew on all its edges: no callee explains that.
        if att.nodes.get(&a).is_some_and(|nd| nd.anomaly.network && !nd.anomaly.errors) {
            continue;
        }
        let sa = score[&a];
        let mut seen = HashSet::from([a]);
        let mut queue: VecDeque<u32> = callees.get(&a).into_iter().flatten().copied().collect();
        while let Some(d) = queue.pop_front() {
            if !seen.insert(d) {
                continue;
            }
            if score.get(&d).is_some_and(|&sd| sd >= 0.25 * sa) {
                inherited.insert(a, d);
                break;
            }
            queue.extend(callees.get(&d).into_iter().flatten().copied());
        }
    }
    for a in inherited.keys() {
        if let Some(s) = score.get_mut(a) {
            *s *= 0.4;
        }
    }

    let by_rule = if p.named { rule_scores(&att, requests, &mut score) } else { HashMap::new() };

    let name = |id: u32| t.names.name(id).to_string();
    // Up to three example traces per node where it failed on its own, in one pass.
    let mut example_traces: HashMap<u32, Vec<String>> = HashMap::new();
    for k in 0..t.len() {
        let node = att.node[k];
        if node == NONE || !att.own_error[k] || !score.contains_key(&node) {
            continue;
        }
        if t.start[k] < incident_w.0 || t.start[k] >= incident_w.1 {
            continue;
        }
        let refs = example_traces.entry(node).or_default();
        let h = trace_hex(&t.trace_id[k]);
        if refs.len() < 3 && !refs.contains(&h) {
            refs.push(h);
        }
    }
    let mut cands: Vec<Candidate> = Vec::new();
    for (&id, &s) in &score {
        let mut c = node_candidate(
            t,
            &att,
            id,
            s,
            example_traces.remove(&id).unwrap_or_default(),
            &edges,
            failing,
            slow,
        );
        if let Some((summary, text)) = by_rule.get(&id) {
            c.summary = summary.clone();
            c.evidence("traces", text.clone(), vec![]);
        }
        cands.push(c);
    }
    // Spans that quietly stopped making their usual calls.
    let shapes =
        if by_requests { Vec::new() } else { crate::shape::missing_calls(t, &g, baseline_w, incident_w) };
    for tr in shapes.into_iter().take(3) {
        cands.push(truncation_candidate(t, &tr, requests[1]));
    }
    // The nodes' own metrics: evidence and weight for the hypotheses, and weak hypotheses of their
    // own where the traces name none.
    let suspects =
        if by_requests { Vec::new() } else { detect::metric_suspects(&inp.metrics, baseline_w, incident_w) };
    let traces_explain = cands.iter().any(|c| c.score >= 0.5);
    for m in &suspects {
        let mut matched = false;
        for c in cands.iter_mut().filter(|c| c.service == m.service) {
            c.score += 0.3 * m.strength;
            matched = true;
        }
        if let Some(c) = cands.iter_mut().find(|c| c.service == m.service) {
            c.evidence("metrics", m.text.clone(), vec![]);
        }
        if !matched && !traces_explain && m.strength >= 0.3 {
            cands.push(metric_candidate(m, 0.25 * m.strength));
        }
    }

    // Logs with no trace id join their trace by the request ids they share with its spans.
    let (log_traces, logs_joined) =
        if look { crate::correlate::log_traces(&inp.logs, t) } else { (Vec::new(), 0) };
    let log_templates = crate::logs::template_changes(
        &inp.logs,
        &log_traces,
        if look && !by_requests { baseline_w } else { (0, 0) },
        if look && !by_requests { incident_w } else { (0, 0) },
    );
    // The services' own logs: errors of their own, events of their requests that stopped.
    if look && !by_requests {
        let callee_names: HashMap<String, Vec<String>> = callees
            .iter()
            .map(|(&a, bs)| {
                (t.names.name(a).to_string(), bs.iter().map(|&b| t.names.name(b).to_string()).collect())
            })
            .collect();
        let accused = crate::logs::log_suspects(
            &inp.logs,
            &log_traces,
            &log_templates,
            &callee_names,
            baseline_w,
            incident_w,
        );
        add_log_suspects(&mut cands, &accused, traces_explain);
    }

    // Detectors.
    let mut findings: Vec<Finding> = Vec::new();
    let mut contributing: Vec<(String, Evidence)> = Vec::new();
    for sk in detect::clock_skew(t, &g) {
        let (svc, inst) = (name(sk.service), name(sk.instance));
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
        findings.push(Finding {
            pattern: "clock_skew".into(),
            service: Some(svc.clone()),
            instance: Some(inst.clone()),
            text: text.clone(),
        });
        let mut c = Candidate::new(&svc, if symptom_found { 0.15 } else { 0.6 });
        c.instance = Some(inst.clone());
        c.pattern("clock_skew");
        c.summary = format!(
            "{inst}'s clock runs {} {dir}: its spans and their parents disagree",
            ms(sk.offset_ns.abs())
        );
        c.evidence("traces", text, vec![]);
        cands.push(c);
    }
    for (svc, inst, text) in detect::memory_leaks(&inp.metrics, (lo, hi)) {
        findings.push(Finding {
            pattern: "memory_leak".into(),
            service: Some(svc.clone()),
            instance: (!inst.is_empty()).then(|| inst.clone()),
            text: text.clone(),
        });
        let mut c = Candidate::new(&svc, if symptom_found { 0.2 } else { 0.6 });
        c.instance = (!inst.is_empty()).then_some(inst);
        c.pattern("memory_leak");
        c.summary = text.clone();
        c.evidence("metrics", text, vec![]);
        cands.push(c);
    }
    if symptom_found && !by_requests {
        for h in detect::thundering_herd(t, baseline_w, incident_w) {
            let cache = name(h.cache);
            let mut c = Candidate::new(&cache, 1.0 + (h.hit_before - h.hit_after));
            c.pattern("thundering_herd");
            c.summary = format!(
                "{cache} stopped serving hits ({} -> {}); the misses went to {} all at once",
                pct(h.hit_before),
                pct(h.hit_after),
                h.store.map(&name).unwrap_or_else(|| "the database".into())
            );
            c.evidence(
                "traces",
                format!(
                    "cache hit ratio of calls to {cache}: {} in the baseline, {} in the incident",
                    pct(h.hit_before),
                    pct(h.hit_after)
                ),
                vec![],
            );
            if let (Some((q, n, nb)), Some(store)) = (h.query, h.store) {
                c.evidence(
                    "traces",
                    format!(
                        "{n} identical queries to {} in one second (baseline at most {nb}): {}",
                        name(store),
                        t.names.name(q)
                    ),
                    vec![],
                );
            }
            cands.push(c);
        }
        let traffic = detect::traffic(t, &g, baseline_w, incident_w);
        if let Some(tr) = traffic {
            let ratio = tr.rate_after / tr.rate_before.max(1e-9);
            let svc = name(tr.service);
            let text = format!(
                "requests to {svc} rose from {:.1}/s to {:.1}/s ({ratio:.1}x, peak {:.1}/s)",
                tr.rate_before, tr.rate_after, tr.peak
            );
            if ratio >= 1.8 {
                findings.push(Finding {
                    pattern: "traffic_spike".into(),
                    service: Some(svc.clone()),
                    instance: None,
                    text: text.clone(),
                });
                if ratio >= 5.0 {
                    let mut c = Candidate::new(&svc, 1.0 + ratio / 20.0);
                    c.pattern("traffic_spike");
                    c.summary = format!("a traffic spike ({ratio:.0}x) beyond what the system can serve");
                    c.evidence("traces", text, vec![]);
                    cands.push(c);
                } else {
                    contributing.push((
                        "traffic_spike".into(),
                        Evidence { signal: "traces".into(), text, refs: vec![] },
                    ));
                }
            }
        }
        for r in detect::retry_storm(t, baseline_w, incident_w) {
            let (svc, callee) = (name(r.service), name(r.callee));
            let mut c = Candidate::new(&svc, 1.1);
            c.pattern("retry_storm");
            c.summary = format!(
                "{svc} retries its calls to {callee} up to {} times: a retry storm",
                r.max_attempts - 1
            );
            c.evidence(
                "traces",
                format!(
                    "{} of {svc}'s calls to {callee} are retries (baseline {}), {} retries, up to {} attempts per call",
                    pct(r.after),
                    pct(r.before),
                    r.retries,
                    r.max_attempts
                ),
                vec![],
            );
            cands.push(c);
        }
        if let Some(p) = detect::network_partition(t, &g, &att, incident_w) {
            let (za, zb) = (name(p.zones.0), name(p.zones.1));
            let caller = name(p.caller);
            let mut c = Candidate::new(&caller, 1.2);
            c.pattern("network_partition");
            let callees: Vec<String> = p.callees.iter().map(|&x| name(x)).collect();
            c.summary = format!("the network between {za} and {zb} is cut: {caller}'s calls across it fail");
            c.evidence(
                "traces",
                format!(
                    "{} of {} calls between {za} and {zb} failed unanswered (to {}); {} elsewhere",
                    p.failed,
                    p.calls,
                    callees.join(", "),
                    pct(p.elsewhere)
                ),
                vec![],
            );
            cands.push(c);
        }
    }

    // Merge hypotheses about one service, best first.
    cands.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.service.cmp(&b.service)));
    let mut merged: Vec<Candidate> = Vec::new();
    for c in cands {
        if let Some(m) = merged.iter_mut().find(|m| m.service == c.service) {
            for p in &c.patterns {
                m.pattern(p);
            }
            m.instance = m.instance.clone().or(c.instance);
            m.operation = m.operation.clone().or(c.operation);
            m.change = m.change.clone().or(c.change);
            m.evidence.extend(c.evidence);
            m.score += 0.1 * c.score;
        } else {
            merged.push(c);
        }
    }
    // What pins a change, an instance, a pattern on the leaders.
    let neighbours = |svc: &str| -> Vec<String> {
        let Some(id) = t.names.get(svc) else { return vec![] };
        edges
            .keys()
            .filter_map(|&(a, b)| {
                if a == id {
                    Some(name(b))
                } else if b == id {
                    Some(name(a))
                } else {
                    None
                }
            })
            .collect()
    };
    let reference_time = onset.unwrap_or(incident_w.0);
    for c in merged.iter_mut().take(5) {
        if c.change.is_none() {
            if let Some((ch, why)) =
                pin_change(&inp.changes, c, &neighbours(&c.service), reference_time, step)
            {
                c.evidence("changes", why, vec![ch.id.clone()]);
                let kind = ch.kind.as_str();
                c.change = Some(ChangeRef {
                    id: ch.id.clone(),
                    kind: kind.into(),
                    at: format_rfc3339_secs(ch.time_unix_nano),
                    description: ch.description.clone(),
                    service: Some(ch.service.clone()),
                });
                c.score += 0.1;
                match kind {
                    "deploy" | "dependency" => c.pattern("bad_deploy"),
                    "config" | "feature_flag" => c.pattern("bad_config_change"),
                    _ => {}
                }
            }
        }
        for (p, text) in
            detect::resource_patterns(&inp.metrics, &c.service, c.instance.as_deref(), incident_w)
        {
            if !c.patterns.iter().any(|x| x == p) {
                c.pattern(p);
                c.evidence("metrics", text, vec![]);
            }
        }
        if look {
            log_evidence(inp, &att, &log_traces, &log_templates, c, incident_w);
        }
    }
    if let Some(top) = merged.first_mut() {
        for (p, e) in contributing {
            top.pattern(&p);
            top.evidence.push(e);
        }
    }
    // What the failing (or slow) requests of the incident have in common that the others lack.
    let differences = if look {
        let side: Box<crate::diff::Grouping<'_>> = if sym_err {
            Box::new(crate::diff::failing(t, incident_w))
        } else {
            Box::new(crate::diff::slow(t, &g, incident_w))
        };
        let labels = if sym_err {
            ("failing requests", "succeeding requests")
        } else {
            ("slow requests", "other requests")
        };
        Some(crate::diff::diff(t, &g, labels, 40, sym_err, side.as_ref()))
    } else {
        None
    };
    if let Some(d) = &differences {
        for c in merged.iter_mut().take(3) {
            if let Some(f) = d.features.iter().find(|f| f.z > 0.0 && about(f, c)) {
                c.evidence(
                    "traces",
                    format!(
                        "{} of {} had {} {}; {} of {} (z = {:.0})",
                        pct(f.a_share),
                        d.a.label,
                        f.service,
                        f.feature,
                        pct(f.b_share),
                        d.b.label,
                        f.z
                    ),
                    vec![],
                );
            }
        }
    }
    merged.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.service.cmp(&b.service)));
    let top_n = if o.top == 0 { 5 } else { o.top };
    merged.truncate(top_n);
    let root_causes: Vec<RootCause> = merged
        .iter()
        .enumerate()
        .map(|(k, c)| RootCause {
            rank: k + 1,
            service: c.service.clone(),
            instance: c.instance.clone(),
            operation: c.operation.clone(),
            change: c.change.clone(),
            patterns: if c.patterns.is_empty() {
                vec!["dependency_failure".into()]
            } else {
                c.patterns.clone()
            },
            confidence: ((1.0 - (-2.5 * c.score).exp()) * 100.0).round() / 100.0,
            summary: c.summary.clone(),
            evidence: c.evidence.clone(),
        })
        .collect();
    let incident = symptom_found || root_causes.first().is_some_and(|c| c.confidence >= 0.5);

    // Symptom.
    let mut affected: Vec<(f64, Affected)> = Vec::new();
    let mut seen_ep = HashSet::new();
    for r in rises.iter().filter(|_| !by_requests) {
        if !seen_ep.insert(r.endpoint) {
            continue;
        }
        let ep = &eps[r.endpoint];
        affected.push((r.shift.z.abs(), affected_of(t, ep, baseline_w, incident_w)));
    }
    if by_requests {
        for ep in &eps {
            let th = slow_entry_threshold.get(&(ep.service, ep.operation)).copied().unwrap_or(i64::MAX);
            if let Some((weight, a)) = affected_by_outcome(t, ep, th, incident_w) {
                affected.push((weight, a));
            }
        }
    }
    affected.sort_by(|a, b| b.0.total_cmp(&a.0));
    let affected: Vec<Affected> = affected.into_iter().map(|a| a.1).collect();
    let trend = main.as_ref().map(|m| {
        if incident_w.1 < hi {
            "recovered"
        } else {
            symptom::trend(&eps[m.endpoint], m, incident_w.0, incident_w.1)
        }
    });
    let summary = match (&main, affected.first()) {
        (_, Some(a)) if by_requests => format!(
            "{} of the window's requests to {} {} failed or were slow (p99 {} against {} for the others){}",
            pct(a.requests.incident / (a.requests.incident + a.requests.baseline).max(1e-9)),
            a.service,
            a.operation,
            ms(a.latency_p99_ms.incident * 1e6),
            ms(a.latency_p99_ms.baseline * 1e6),
            if a.error_rate.incident > 0.0 {
                format!(", {} failed", pct(a.error_rate.incident))
            } else {
                String::new()
            }
        ),
        (Some(m), Some(a)) => {
            let what = match m.signal {
                Signal::Errors => format!(
                    "{} of {} {} fail (baseline {})",
                    pct(a.error_rate.incident),
                    a.service,
                    a.operation,
                    pct(a.error_rate.baseline)
                ),
                Signal::Latency => format!(
                    "p99 of {} {} is {} (baseline {})",
                    a.service,
                    a.operation,
                    ms(a.latency_p99_ms.incident * 1e6),
                    ms(a.latency_p99_ms.baseline * 1e6)
                ),
            };
            let more = if affected.len() > 1 {
                format!(" and {} more endpoints", affected.len() - 1)
            } else {
                String::new()
            };
            format!(
                "{what}{more} since {}, {}",
                hms(onset.unwrap_or(incident_w.0)),
                trend.unwrap_or("steady")
            )
        }
        _ if incident => format!(
            "no change in user-facing errors or latency; {}",
            root_causes.first().map(|c| c.summary.clone()).unwrap_or_default()
        ),
        _ => "no change in user-facing errors or latency".to_string(),
    };
    let symptom = Symptom {
        summary,
        onset: onset.map(format_rfc3339_secs),
        affected,
        trend: trend.map(String::from),
        end: (symptom_found && incident_w.1 < hi).then(|| format_rfc3339_secs(incident_w.1)),
    };

    // Propagation: from the leading cause up to the endpoints it hurt.
    let mut propagation = Vec::new();
    if let (Some(top), true) = (root_causes.first(), symptom_found || by_requests) {
        for a in symptom.affected.iter().take(3) {
            if let Some(path) = path_up(t, &edges, &top.service, &a.service) {
                if path.len() > 1 && !propagation.contains(&path) {
                    propagation.push(path);
                }
            }
        }
    }
    let mut root_causes = root_causes;
    if let Some(top) = root_causes.first_mut() {
        if propagation.iter().any(|p| p.len() >= 3) {
            top.patterns.push("cascading_failure".into());
        }
    }

    // Correlated metrics, first movers first.
    let moves = if look && !by_requests {
        detect::metric_moves(&inp.metrics, baseline_w, incident_w)
    } else {
        vec![]
    };
    let mut correlated: Vec<MetricMove> = moves
        .iter()
        .take(40)
        .map(|m| MetricMove {
            metric: m.key.name.clone(),
            service: m.key.service.clone(),
            instance: (!m.key.instance.is_empty()).then(|| m.key.instance.clone()),
            baseline: m.before,
            incident: m.after,
            moved_at: m.moved_at.map(format_rfc3339_secs),
            lead_seconds: m.moved_at.zip(onset).map(|(a, b)| (a - b) as f64 / 1e9),
        })
        .collect();
    correlated
        .sort_by(|a, b| a.lead_seconds.unwrap_or(f64::MAX).total_cmp(&b.lead_seconds.unwrap_or(f64::MAX)));
    correlated.truncate(10);

    // Timeline.
    let mut timeline: Vec<(i64, TimelineEntry)> = Vec::new();
    for ch in &inp.changes {
        if ch.time_unix_nano >= baseline_shown.0.min(incident_w.0) && ch.time_unix_nano < incident_w.1.max(hi)
        {
            timeline.push((
                ch.time_unix_nano,
                TimelineEntry {
                    at: format_rfc3339_secs(ch.time_unix_nano),
                    signal: "changes".into(),
                    text: format!("{} ({} of {}): {}", ch.id, ch.kind.as_str(), ch.service, ch.description),
                },
            ));
        }
    }
    if let Some(on) = onset {
        timeline.push((
            on,
            TimelineEntry {
                at: format_rfc3339_secs(on),
                signal: "traces".into(),
                text: format!("symptom starts: {}", symptom.summary),
            },
        ));
    }
    for m in correlated.iter().filter(|m| m.lead_seconds.is_some_and(|l| l <= 0.0)).take(3) {
        if let Some(at) = &m.moved_at {
            let ns = faultline_model::time::parse_time_ns(at, 0).unwrap_or(0);
            timeline.push((
                ns,
                TimelineEntry {
                    at: at.clone(),
                    signal: "metrics".into(),
                    text: format!(
                        "{} of {} moves: {:.3} -> {:.3}",
                        m.metric,
                        m.instance.as_deref().unwrap_or(&m.service),
                        m.baseline,
                        m.incident
                    ),
                },
            ));
        }
    }
    if symptom.end.is_some() {
        timeline.push((
            incident_w.1,
            TimelineEntry {
                at: format_rfc3339_secs(incident_w.1),
                signal: "traces".into(),
                text: "symptom ends".into(),
            },
        ));
    }
    timeline.sort_by_key(|e| e.0);

    let suggested_actions = actions(&root_causes, &propagation, &findings);
    let series = main.as_ref().map(|m| key_series(&eps[m.endpoint], t, lo, hi, step)).unwrap_or_default();
    Ok(Report {
        schema: SCHEMA.into(),
        window: Window { from: format_rfc3339_secs(incident_w.0), to: format_rfc3339_secs(incident_w.1) },
        baseline: Window {
            from: format_rfc3339_secs(baseline_shown.0),
            to: format_rfc3339_secs(baseline_shown.1),
        },
        comparison: if by_requests { "requests" } else { "time" }.into(),
        incident,
        symptom,
        root_causes,
        findings,
        propagation,
        suggested_actions,
        timeline: timeline.into_iter().map(|e| e.1).collect(),
        dependencies: if by_requests { Vec::new() } else { edge_red(t, &g, &edges, baseline_w, incident_w) },
        log_templates: log_templates.changes.into_iter().take(10).collect(),
        // What the affected requests share (up to ten), then what they lack (up to five).
        differences: differences
            .filter(|_| incident)
            .map(|d| {
                let (more, less): (Vec<_>, Vec<_>) = d.features.into_iter().partition(|f| f.z > 0.0);
                more.into_iter().take(10).chain(less.into_iter().take(5)).collect()
            })
            .unwrap_or_default(),
        series,
        correlated_metrics: correlated,
        stats: RunStats {
            spans: t.len(),
            logs: inp.logs.len(),
            metric_points: inp.metrics.points,
            changes: inp.changes.len(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            logs_joined_by_id: logs_joined,
        },
        notes,
    })
}

/// Weight of a log suspect added to a hypothesis about the same service, and of one that stands
/// alone where the traces explain nothing (a code fault in a service whose spans carry no error
/// status): strong own error logs then lead, near the confidence of a trace anomaly.
const LOG_SUPPORT_WEIGHT: f64 = 0.3;
const LOG_ALONE_WEIGHT: f64 = 0.6;

fn add_log_suspects(cands: &mut Vec<Candidate>, accused: &[crate::logs::LogSuspect], traces_explain: bool) {
    for ls in accused {
        let mut matched = false;
        for c in cands.iter_mut().filter(|c| c.service == ls.service) {
            c.score += LOG_SUPPORT_WEIGHT * ls.strength;
            matched = true;
        }
        if let Some(c) = cands.iter_mut().find(|c| c.service == ls.service) {
            c.evidence("logs", ls.text.clone(), ls.refs.clone());
        }
        // Where the traces explain the incident, a service accused by its logs alone is most often
        // a caller logging its callee's failure (an uninstrumented one's): support only.
        if matched || traces_explain {
            continue;
        }
        let mut c = Candidate::new(&ls.service, LOG_ALONE_WEIGHT * ls.strength);
        c.pattern(if ls.errors { "code_exception" } else { "bad_response" });
        c.summary = if ls.errors {
            format!("{} logs errors of its own", ls.service)
        } else {
            format!("{}'s requests stopped part-way: events it always logged are missing", ls.service)
        };
        c.evidence("logs", ls.text.clone(), ls.refs.clone());
        cands.push(c);
    }
}

/// Each span's side (baseline, incident) in the plan's comparison, with the endpoints' slow
/// thresholds when requests are compared.
fn sides_of(t: &SpanTable, g: &Graph, p: &crate::plan::Plan) -> (Vec<u8>, HashMap<(u32, u32), i64>) {
    match p.baseline_time() {
        Some(b) => (localise::sides_by_time(t, b.pair(), p.incident.pair()), HashMap::new()),
        None => localise::sides_by_outcome(t, g, p.incident.pair()),
    }
}

/// The simple rules' leading services on the windows the investigation would compare: by growth
/// of own time per request, and by growth of own error rate (the accuracy benchmarks' yardstick).
pub fn simple_rule_leaders(inp: &Inputs, o: &Options) -> (Option<String>, Option<String>) {
    let t = &inp.spans;
    let Some(data) = t.time_range() else { return (None, None) };
    let g = Graph::build(t);
    let eps = symptom::endpoints(t, &g);
    let ask = crate::plan::Ask { from: o.from, to: o.to, baseline: o.baseline };
    let Some(p) = crate::plan::plan(&ask, data, &eps) else { return (None, None) };
    let (sides, _) = sides_of(t, &g, &p);
    let att = localise::attribute_sides(t, &g, &sides);
    let requests = localise::entries_per_side(t, &g, &sides);
    let name = |x: Option<&(u32, f64)>| x.map(|x| t.names.name(x.0).to_string());
    (
        name(crate::rules::own_time_growth(&att, requests).first()),
        name(crate::rules::own_error_growth(&att).first()),
    )
}

/// Weight of a hypothesis from the simple rules alone (`rules.rs`): the node that added most of the
/// time (or errors) scores this much, a confidence near one half; a node that passed the
/// significance bars with strong evidence still ranks above it.
const RULE_WEIGHT: f64 = 0.3;

/// Scores, from the simple rules, the nodes whose own time or own errors grew without passing the
/// significance bars (a few requests, a mild fault); returns their summary and evidence.
fn rule_scores(
    att: &Attribution,
    requests: [usize; 2],
    score: &mut HashMap<u32, f64>,
) -> HashMap<u32, (String, String)> {
    let mut out = HashMap::new();
    let side = |nd: &localise::Node, w: usize| {
        nd.total[w].self_ns.iter().sum::<i64>() as f64 / requests[w].max(1) as f64
    };
    let times = crate::rules::own_time_growth(att, requests);
    let total: f64 = times.iter().map(|x| x.1).sum();
    for &(id, x) in &times {
        if score.contains_key(&id) {
            continue;
        }
        let nd = &att.nodes[&id];
        score.insert(id, RULE_WEIGHT * x / total.max(1.0));
        out.insert(
            id,
            (
                format!("its own time per request grew by {} ({} of all the time added)", ms(x), pct(x / total.max(1.0))),
                format!(
                    "own time per request: {} on the baseline side, {} on the incident side ({} and {} requests)",
                    ms(side(nd, 0)),
                    ms(side(nd, 1)),
                    requests[0],
                    requests[1]
                ),
            ),
        );
    }
    let errors = crate::rules::own_error_growth(att);
    let top = errors.first().map_or(1.0, |x| x.1);
    for &(id, d) in &errors {
        let nd = &att.nodes[&id];
        let s = RULE_WEIGHT * d / top;
        if score.get(&id).is_some_and(|&x| x >= s) {
            continue;
        }
        score.insert(id, s);
        out.insert(
            id,
            (
                format!(
                    "its own error rate grew from {} to {}",
                    pct(nd.total[0].rate()),
                    pct(nd.total[1].rate())
                ),
                format!(
                    "own errors: {} of {} on the baseline side, {} of {} on the incident side",
                    nd.total[0].errors, nd.total[0].n, nd.total[1].errors, nd.total[1].n
                ),
            ),
        );
    }
    out
}

/// The dependency map with each edge's RED in the baseline and the incident.
fn edge_red(
    t: &SpanTable,
    g: &Graph,
    incident_edges: &BTreeMap<(u32, u32), crate::deps::Edge>,
    baseline: (i64, i64),
    incident: (i64, i64),
) -> Vec<EdgeRed> {
    let baseline_edges = crate::deps::dependency_map_in(t, g, baseline.0, baseline.1);
    let red = |e: Option<&crate::deps::Edge>, w: (i64, i64)| match e {
        None => Red::default(),
        Some(e) => Red {
            calls_per_s: round1(e.calls as f64 / ((w.1 - w.0) as f64 / 1e9).max(1.0)),
            error_rate: round4(e.errors as f64 / e.calls.max(1) as f64),
            p99_ms: round1(e.p99_ns() as f64 / 1e6),
        },
    };
    let keys: std::collections::BTreeSet<(u32, u32)> =
        baseline_edges.keys().chain(incident_edges.keys()).copied().collect();
    keys.into_iter()
        .map(|k| {
            let (b, i) = (baseline_edges.get(&k), incident_edges.get(&k));
            EdgeRed {
                caller: t.names.name(k.0).to_string(),
                callee: t.names.name(k.1).to_string(),
                uninstrumented: b.or(i).is_some_and(|e| e.virtual_callee),
                baseline: red(b, baseline),
                incident: red(i, incident),
            }
        })
        .collect()
}

/// Whether a difference between failing and succeeding requests speaks of the candidate: an
/// attribute of its spans, a call to it, or a value naming its instance.
fn about(f: &crate::diff::FeatureDiff, c: &Candidate) -> bool {
    let names_instance = c.instance.as_deref().is_some_and(|i| f.feature.contains(i));
    match f.kind.as_str() {
        "attribute" => names_instance || (f.service == c.service && c.instance.is_none()),
        "edge" | "retry" | "fanout" => f.feature.starts_with(&format!("-> {}", c.service)) || names_instance,
        "critical_path" | "error" => f.service == c.service,
        _ => false,
    }
}

/// A window with metrics but no spans (traces lost, or never collected): the services are ranked
/// by how far their own metrics moved the bad way.
fn metrics_only(
    inp: &Inputs,
    o: &Options,
    window: (i64, i64),
    started: std::time::Instant,
) -> Result<Report, InvestigateError> {
    let has_points = inp.metrics.series.values().any(|s| s.iter().any(|p| p.0 >= window.0 && p.0 < window.1));
    if !has_points {
        return Err(InvestigateError::NoData);
    }
    let baseline = o.baseline.unwrap_or((window.0 - HOUR, window.0));
    let suspects = detect::metric_suspects(&inp.metrics, baseline, window);
    let top_n = if o.top == 0 { 5 } else { o.top };
    let root_causes: Vec<RootCause> = suspects
        .iter()
        .take(top_n)
        .enumerate()
        .map(|(k, m)| {
            let c = metric_candidate(m, m.strength);
            RootCause {
                rank: k + 1,
                service: c.service,
                instance: c.instance,
                operation: None,
                change: None,
                patterns: c.patterns,
                confidence: ((1.0 - (-2.5 * c.score).exp()) * 100.0).round() / 100.0,
                summary: c.summary,
                evidence: c.evidence,
            }
        })
        .collect();
    let incident = root_causes.first().is_some_and(|c| c.confidence >= 0.5);
    let correlated_metrics = detect::metric_moves(&inp.metrics, baseline, window)
        .into_iter()
        .take(10)
        .map(|m| MetricMove {
            metric: m.key.name.clone(),
            service: m.key.service.clone(),
            instance: (!m.key.instance.is_empty()).then(|| m.key.instance.clone()),
            baseline: m.before,
            incident: m.after,
            moved_at: m.moved_at.map(format_rfc3339_secs),
            lead_seconds: None,
        })
        .collect();
    let summary = match root_causes.first() {
        Some(c) => format!("no spans in the window; from the metrics alone: {}", c.summary),
        None => "no spans in the window, and no metric moved".to_string(),
    };
    let suggested_actions = actions(&root_causes, &[], &[]);
    Ok(Report {
        schema: SCHEMA.into(),
        window: Window { from: format_rfc3339_secs(window.0), to: format_rfc3339_secs(window.1) },
        baseline: Window { from: format_rfc3339_secs(baseline.0), to: format_rfc3339_secs(baseline.1) },
        comparison: "time".into(),
        incident,
        symptom: Symptom { summary, onset: None, affected: vec![], trend: None, end: None },
        root_causes,
        findings: vec![],
        propagation: vec![],
        suggested_actions,
        timeline: vec![],
        dependencies: vec![],
        log_templates: vec![],
        differences: vec![],
        series: vec![],
        correlated_metrics,
        stats: RunStats {
            spans: inp.spans.len(),
            logs: inp.logs.len(),
            metric_points: inp.metrics.points,
            changes: inp.changes.len(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            logs_joined_by_id: 0,
        },
        notes: vec![format!(
            "no spans between {} and {}: the services are ranked from their metrics alone",
            format_rfc3339_secs(window.0),
            format_rfc3339_secs(window.1)
        )],
    })
}

/// A hypothesis from a node's metrics alone.
fn metric_candidate(m: &detect::MetricSuspect, score: f64) -> Candidate {
    let mut c = Candidate::new(&m.service, score);
    c.instance = (!m.instance.is_empty()).then(|| m.instance.clone());
    c.pattern(match m.what {
        "CPU" | "CPU of its host" => "cpu_saturation",
        "memory" => "resource_exhaustion",
        "errors" | "success rate" => "code_exception",
        _ => "latency_injection",
    });
    c.summary = format!("{}'s own {} moved: {}", m.service, m.what, m.text);
    c.evidence("metrics", m.text.clone(), vec![]);
    c
}

/// A hypothesis from spans that stopped making their usual calls.
/// Its score is the share of the incident's requests it touched.
fn truncation_candidate(t: &SpanTable, tr: &crate::shape::Truncation, requests: usize) -> Candidate {
    let name = |id: u32| t.names.name(id).to_string();
    let svc = name(tr.blamed);
    let op = format!("{} {}", name(tr.service), name(tr.operation));
    let change = (tr.share_after - tr.share_before).abs();
    let touched = (change * tr.spans as f64 / requests.max(1) as f64).min(1.0);
    let mut c = Candidate::new(&svc, 0.3 + 0.7 * touched);
    let missing: Vec<String> = tr
        .missing
        .iter()
        .take(4)
        .map(|&(callee, child, b, a)| match child {
            NONE => format!("{} ({b:.2} -> {a:.2} per span)", name(callee)),
            _ => format!("{} {} ({} -> {} of spans)", name(callee), name(child), pct(b), pct(a)),
        })
        .collect();
    let text = if tr.vanished {
        c.pattern("code_exception");
        c.operation = Some(name(tr.operation));
        c.summary = format!(
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
            c.pattern("bad_response");
            c.summary = format!(
                "{svc} answers without an error, but {op} stops right after its answer and skips its usual calls: {svc} likely returns something wrong"
            );
            format!("right after {svc} answers")
        } else {
            c.pattern("code_exception");
            c.operation = Some(name(tr.operation));
            c.summary = format!(
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
    c.evidence("traces", text, tr.examples.iter().map(trace_hex).collect());
    c
}

#[allow(clippy::too_many_arguments)]
fn node_candidate(
    t: &SpanTable,
    att: &Attribution,
    id: u32,
    score: f64,
    refs: Vec<String>,
    edges: &BTreeMap<(u32, u32), crate::deps::Edge>,
    failing: u64,
    slow: u64,
) -> Candidate {
    let nd = &att.nodes[&id];
    let svc = t.names.name(id);
    let an = nd.anomaly;
    let mut c = Candidate::new(svc, score);
    let by_latency = !an.errors;
    let (b, i) = (&nd.total[0], &nd.total[1]);
    // Instance and operation.
    if let Some(out) = outlier(&nd.by_instance, nd.slow_ns, by_latency) {
        let inst = t.names.name(out.key).to_string();
        let what = if out.latency { "slow requests" } else { "errors" };
        c.evidence(
            "traces",
            format!(
                "{} of {svc}'s {what} come from {inst} ({} there, {} on its peers)",
                pct(out.share),
                pct(out.rate_after),
                pct(out.others_after)
            ),
            vec![],
        );
        c.instance = Some(inst);
        c.pattern("faulty_instance");
    }
    if nd.by_operation.len() > 1 {
        if let Some(out) = outlier(&nd.by_operation, nd.slow_ns, by_latency) {
            c.operation = Some(t.names.name(out.key).to_string());
        }
    }
    // Errors and latency of its own.
    let top_msg =
        nd.messages.iter().max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k))).map(|(k, _)| t.names.name(*k));
    let who = if nd.uninstrumented {
        format!("{svc} (not instrumented; seen from its callers)")
    } else {
        svc.to_string()
    };
    if an.errors {
        let msg = top_msg.map(|m| format!(": \"{m}\"")).unwrap_or_default();
        c.evidence(
            "traces",
            format!(
                "{who} fails on its own: error rate {} in the baseline, {} in the incident{msg}; in {} of {failing} failing requests",
                pct(b.rate()),
                pct(i.rate()),
                pct(an.error_coverage)
            ),
            refs,
        );
    }
    if an.latency && an.network {
        let q = |s: &localise::Stat, p| quantile(&s.self_ns, p) as f64;
        let grown: Vec<&localise::EdgeGaps> = nd.network.iter().map(|&k| &att.edges[k as usize]).collect();
        let incident_edges = att
            .edges
            .iter()
            .filter(|e| e.caller == id || e.callee == id)
            .filter(|e| e.total[1].n > 0)
            .count();
        if let Some(e) = grown.iter().max_by(|a, b| a.anomaly.latency_z.total_cmp(&b.anomaly.latency_z)) {
            let (b, i) = (&e.total[0], &e.total[1]);
            c.evidence(
                "traces",
                format!(
                    "calls {} {} take longer outside both services (network or queueing): p50 {} -> {}, p95 {} -> {}; {} of {svc}'s {incident_edges} call edges grew, slow in {} of {slow} slow requests",
                    if e.callee == id { "to" } else { "from" },
                    if e.callee == id {
                        format!("{svc} from {}", t.names.name(e.caller))
                    } else {
                        format!("{svc} to {}", t.names.name(e.callee))
                    },
                    ms(q(b, 0.5)),
                    ms(q(i, 0.5)),
                    ms(q(b, 0.95)),
                    ms(q(i, 0.95)),
                    grown.len(),
                    pct(an.latency_coverage)
                ),
                vec![],
            );
        }
    } else if an.latency {
        let q = |s: &localise::Stat, p| quantile(&s.self_ns, p) as f64;
        let (who, [b, i]) = match nd.slow_op.and_then(|(op, _)| Some((op, nd.by_operation.get(&op)?))) {
            Some((op, pair)) => {
                c.operation.get_or_insert_with(|| t.names.name(op).to_string());
                (format!("{who} {}", t.names.name(op)), pair)
            }
            None => (who.clone(), &nd.total),
        };
        c.evidence(
            "traces",
            format!(
                "{who}'s own time: p50 {} -> {}, p95 {} -> {}; slow in {} of {slow} slow requests",
                ms(q(b, 0.5)),
                ms(q(i, 0.5)),
                ms(q(b, 0.95)),
                ms(q(i, 0.95)),
                pct(an.latency_coverage)
            ),
            vec![],
        );
    }
    if let Some(p) = top_msg.and_then(message_pattern).filter(|_| an.errors) {
        c.pattern(p);
    }
    if nd.uninstrumented && !nd.datastore {
        c.pattern("external_dependency");
    } else if nd.uninstrumented || edges.keys().any(|&(_, callee)| callee == id) {
        c.pattern("dependency_failure");
    }
    if an.latency && an.network && !an.errors {
        c.pattern("network_delay");
    } else if an.latency && !an.errors && !nd.uninstrumented {
        c.pattern("latency_injection");
    }
    if c.patterns.is_empty() || c.patterns == ["faulty_instance"] {
        if an.errors {
            c.pattern("code_exception");
        } else if an.latency {
            c.pattern("latency_injection");
        }
    }
    let place = c.instance.as_ref().map(|i| format!("{svc} instance {i}")).unwrap_or_else(|| svc.to_string());
    c.summary = if an.errors {
        format!("{place} fails on its own ({} of its requests, baseline {})", pct(i.rate()), pct(b.rate()))
    } else if an.network {
        format!("calls to and from {place} got slower outside the services (gap p95 {:.1}x the baseline): its network or its queues", an.p95_ratio)
    } else {
        format!("{place} got slower on its own (own-time p95 {:.1}x the baseline)", an.p95_ratio)
    };
    c
}

/// The change most likely behind a suspect: recent before the onset, on the suspect (its service
/// or instance) or, weaker, on a neighbour; the closer to the onset, the likelier.
fn pin_change<'a>(
    changes: &'a [ChangeEvent],
    c: &Candidate,
    neighbours: &[String],
    onset: i64,
    step: i64,
) -> Option<(&'a ChangeEvent, String)> {
    let mut best: Option<(f64, &ChangeEvent)> = None;
    for ch in changes {
        let dt = onset - ch.time_unix_nano;
        if dt < -step || dt > 30 * MINUTE {
            continue;
        }
        let on_instance = ch.instance.is_some() && ch.instance == c.instance;
        let touch = if on_instance || ch.service == c.service {
            1.0
        } else if neighbours.contains(&ch.service) {
            0.4
        } else {
            0.0
        };
        let s =
            touch * (-(dt.max(0) as f64) / (10 * MINUTE) as f64).exp() * if on_instance { 1.2 } else { 1.0 };
        if s >= 0.3 && best.is_none_or(|b| s > b.0) {
            best = Some((s, ch));
        }
    }
    let (_, ch) = best?;
    let dt = onset - ch.time_unix_nano;
    let when = if dt.abs() < SECOND {
        "at the onset".to_string()
    } else if dt >= 0 {
        format!("{} before the onset", format_duration(dt))
    } else {
        format!("{} after the onset", format_duration(-dt))
    };
    Some((
        ch,
        format!("{} ({} of {}) at {}, {when}", ch.id, ch.kind.as_str(), ch.service, hms(ch.time_unix_nano)),
    ))
}

/// Error logs about the suspect: new or surging messages on it, and the vague messages its callers
/// logged in the traces where it failed.
fn log_evidence(
    inp: &Inputs,
    att: &Attribution,
    log_traces: &[Option<[u8; 16]>],
    tpl: &crate::logs::LogTemplates,
    c: &mut Candidate,
    incident: (i64, i64),
) {
    let logs = &inp.logs;
    if logs.is_empty() {
        return;
    }
    let t = &inp.spans;
    let svc = logs.names.get(&c.service);
    // Its own new or surging error templates (on its instance, when one is pinned).
    if let Some(ch) = tpl.changes.iter().find(|ch| {
        ch.error
            && ch.service == c.service
            && (c.instance.is_none() || ch.instance.is_none() || ch.instance == c.instance)
    }) {
        let place = ch.instance.clone().or_else(|| c.instance.clone()).unwrap_or_else(|| c.service.clone());
        let mut refs = vec![ch.template_id.clone()];
        refs.extend(ch.traces.iter().cloned());
        c.evidence(
            "logs",
            format!(
                "\"{}\" ({}) logged {} times on {place} in the incident, {} in the baseline",
                ch.template, ch.template_id, ch.incident, ch.baseline
            ),
            refs,
        );
        if let Some(p) = message_pattern(&ch.template) {
            c.pattern(p);
        }
    }
    // Vague messages elsewhere, explained by the traces they belong to.
    let Some(id) = t.names.get(&c.service) else { return };
    let mut failed_at: HashMap<[u8; 16], u32> = HashMap::new();
    for k in 0..t.len() {
        if att.node[k] == id && att.own_error[k] && t.start[k] >= incident.0 && t.start[k] < incident.1 {
            let a = t.attr_info(k);
            let detail = if a.status != NONE { a.status } else { t.message[k] };
            failed_at.entry(t.trace_id[k]).or_insert(detail);
        }
    }
    if failed_at.is_empty() {
        return;
    }
    // (service, message) -> (count, failure details with counts, example traces)
    type Vague = (u64, HashMap<u32, u64>, Vec<String>);
    let mut vague: HashMap<(u32, String), Vague> = HashMap::new();
    for (k, tid) in log_traces.iter().enumerate() {
        if !logs.error[k] || Some(logs.service[k]) == svc {
            continue;
        }
        let Some(tid) = *tid else { continue };
        if let Some(&detail) = failed_at.get(&tid) {
            let Some(text) = tpl.text_of(k) else { continue };
            let e = vague.entry((logs.service[k], text.to_string())).or_default();
            e.0 += 1;
            *e.1.entry(detail).or_default() += 1;
            let h = trace_hex(&tid);
            if e.2.len() < 3 && !e.2.contains(&h) {
                e.2.push(h);
            }
        }
    }
    if let Some(((s, msg), (n, details, refs))) =
        vague.into_iter().max_by_key(|(k, v)| (v.0, std::cmp::Reverse(k.1.clone())))
    {
        if n >= 5 {
            let detail = details
                .into_iter()
                .max_by_key(|(k, n)| (*n, std::cmp::Reverse(*k)))
                .map(|(d, _)| if d == NONE { String::new() } else { format!(" (\"{}\")", t.names.name(d)) })
                .unwrap_or_default();
            let where_ = c
                .instance
                .as_ref()
                .map(|i| format!("{} {i}", c.service))
                .unwrap_or_else(|| c.service.clone());
            c.evidence(
                "logs",
                format!(
                    "{} logged \"{msg}\" {n} times in traces where {where_} failed{detail}",
                    logs.names.name(s)
                ),
                refs,
            );
        }
    }
}

fn affected_of(t: &SpanTable, ep: &Endpoint, b: (i64, i64), i: (i64, i64)) -> Affected {
    let (eb, nb) = ep.error_rate(b.0, b.1);
    let (ei, ni) = ep.error_rate(i.0, i.1);
    let secs = |w: (i64, i64)| ((w.1 - w.0) as f64 / 1e9).max(1.0);
    Affected {
        service: t.names.name(ep.service).into(),
        operation: t.names.name(ep.operation).into(),
        error_rate: BeforeAfter { baseline: round4(eb), incident: round4(ei) },
        latency_p99_ms: BeforeAfter {
            baseline: round1(ep.duration_quantile(b.0, b.1, 0.99) as f64 / 1e6),
            incident: round1(ep.duration_quantile(i.0, i.1, 0.99) as f64 / 1e6),
        },
        requests: BeforeAfter {
            baseline: round1(nb as f64 / secs(b)),
            incident: round1(ni as f64 / secs(i)),
        },
    }
}

/// An endpoint's failing or slow requests (durations above `slow_ns`) in `w` against its others,
/// with the share of its requests they are (the weight for ordering); `None` when all were fine.
fn affected_by_outcome(t: &SpanTable, ep: &Endpoint, slow_ns: i64, w: (i64, i64)) -> Option<(f64, Affected)> {
    // (duration, failed) of each request.
    type Requests = Vec<(i64, bool)>;
    let (mut bad, mut good): (Requests, Requests) = (Vec::new(), Vec::new());
    for &(_, d, failed) in ep.requests.iter().filter(|r| r.0 >= w.0 && r.0 < w.1) {
        if failed || d > slow_ns {
            bad.push((d, failed));
        } else {
            good.push((d, failed));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let n = (bad.len() + good.len()) as f64;
    let secs = ((w.1 - w.0) as f64 / 1e9).max(1.0);
    let p99 = |v: &[(i64, bool)]| {
        let mut d: Vec<i64> = v.iter().map(|x| x.0).collect();
        d.sort_unstable();
        round1(quantile(&d, 0.99) as f64 / 1e6)
    };
    let failed = bad.iter().filter(|x| x.1).count() as f64;
    Some((
        bad.len() as f64 / n,
        Affected {
            service: t.names.name(ep.service).into(),
            operation: t.names.name(ep.operation).into(),
            error_rate: BeforeAfter { baseline: 0.0, incident: round4(failed / n) },
            latency_p99_ms: BeforeAfter { baseline: p99(&good), incident: p99(&bad) },
            requests: BeforeAfter {
                baseline: round1(good.len() as f64 / secs),
                incident: round1(bad.len() as f64 / secs),
            },
        },
    ))
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Shortest path from `from` up the call graph to `to` (callee to caller), as names.
fn path_up(
    t: &SpanTable,
    edges: &BTreeMap<(u32, u32), crate::deps::Edge>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let (f, g) = (t.names.get(from)?, t.names.get(to)?);
    let mut prev: HashMap<u32, u32> = HashMap::new();
    let mut queue = VecDeque::from([f]);
    let mut seen = HashSet::from([f]);
    while let Some(x) = queue.pop_front() {
        if x == g {
            let mut path = vec![t.names.name(g).to_string()];
            let mut cur = g;
            while let Some(&p) = prev.get(&cur) {
                path.push(t.names.name(p).to_string());
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        for &(caller, callee) in edges.keys() {
            if callee == x && seen.insert(caller) {
                prev.insert(caller, x);
                queue.push_back(caller);
            }
        }
    }
    None
}

fn key_series(ep: &Endpoint, t: &SpanTable, lo: i64, hi: i64, step: i64) -> Vec<Series> {
    let n = ((hi - lo + step - 1) / step).max(1) as usize;
    let mut per: Vec<Vec<i64>> = vec![Vec::new(); n];
    let mut errs = vec![0u64; n];
    for &(s, d, f) in &ep.requests {
        if s < lo || s >= hi {
            continue;
        }
        let k = ((s - lo) / step) as usize;
        per[k].push(d);
        errs[k] += f as u64;
    }
    let label = format!("{} {}", t.names.name(ep.service), t.names.name(ep.operation));
    let start = format_rfc3339_secs(lo);
    let rate: Vec<f64> = per
        .iter()
        .zip(&errs)
        .map(|(v, &e)| if v.is_empty() { 0.0 } else { round4(e as f64 / v.len() as f64) })
        .collect();
    let p99: Vec<f64> = per
        .iter_mut()
        .map(|v| {
            v.sort_unstable();
            round1(quantile(v, 0.99) as f64 / 1e6)
        })
        .collect();
    let rps: Vec<f64> = per.iter().map(|v| round1(v.len() as f64 / (step as f64 / 1e9))).collect();
    let step_seconds = step as f64 / 1e9;
    vec![
        Series { name: format!("error rate {label}"), start: start.clone(), step_seconds, values: rate },
        Series { name: format!("p99 ms {label}"), start: start.clone(), step_seconds, values: p99 },
        Series { name: format!("requests/s {label}"), start, step_seconds, values: rps },
    ]
}

fn actions(causes: &[RootCause], propagation: &[Vec<String>], findings: &[Finding]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for c in causes.iter().take(2) {
        if c.rank > 1 && c.confidence < 0.5 {
            break;
        }
        let svc = &c.service;
        let inst = c.instance.as_deref().unwrap_or(svc);
        if let Some(ch) = &c.change {
            push(format!("Roll back {}", ch.id));
        }
        for p in &c.patterns {
            match p.as_str() {
                "faulty_instance" => push(format!("Remove {inst} from the {svc} pool")),
                "external_dependency" | "dependency_failure" => {
                    if let Some(caller) = propagation.first().and_then(|p| p.get(1)) {
                        push(format!("Add a timeout and a circuit breaker on {caller} -> {svc}"));
                    }
                    if p == "external_dependency" {
                        push(format!("Rate-limit calls to {svc} and check its status page"));
                    }
                }
                "retry_storm" => {
                    push(format!("Cap {svc}'s retries: exponential backoff with jitter and a retry budget"))
                }
                "traffic_spike" => {
                    let at = findings
                        .iter()
                        .find(|f| f.pattern == "traffic_spike")
                        .and_then(|f| f.service.as_deref());
                    push(format!(
                        "Shed or rate-limit load at {}, and scale the saturated services",
                        at.unwrap_or(svc)
                    ))
                }
                "thundering_herd" => {
                    push(format!("Warm {svc} back up and coalesce identical misses (request collapsing)"))
                }
                "clock_skew" => push(format!("Resynchronise {inst}'s clock (NTP/chrony)")),
                "disk_full" => push(format!("Free disk space on {inst}, then add disk-usage alerts")),
                "dns_failure" => push(format!("Restore the DNS record for {svc}; check resolvers")),
                "connection_pool_exhaustion" => {
                    push(format!("Restart {inst} to release its connections; fix the leak"))
                }
                "memory_leak" => push(format!(
                    "Restart {inst} and profile its heap; roll back if a change introduced the leak"
                )),
                "cpu_saturation" => push(format!("Raise {svc}'s CPU limit or scale it out")),
                "network_partition" => {
                    push(format!("Restore connectivity between the zones; route {svc} to same-zone peers"))
                }
                _ => {}
            }
        }
    }
    out
}

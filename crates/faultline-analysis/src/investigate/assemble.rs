//! The assemble stage: the report around the ranked causes: the symptom, the propagation path,
//! the metrics that moved, the timeline, the suggested actions, the charts.

use crate::detectors::text::{hms, ms, pct};
use crate::diff::DiffReport;
use crate::graph::Graph;
use crate::hash::{HashMap, HashSet};
use crate::pattern::{EvidenceKind, Pattern};
use crate::plan::TimeRange;
use crate::report::*;
use crate::signals::Signals;
use crate::spans::SpanTable;
use crate::stats::quantile;
use crate::symptom::{self, Endpoint, Signal};
use faultline_model::time::format_rfc3339_secs;
use std::collections::{BTreeMap, VecDeque};

/// Metrics moved, first movers first, kept in the report.
const CORRELATED_KEPT: usize = 10;
/// Metric moves considered before ordering by lead.
const CORRELATED_CONSIDERED: usize = 40;
/// What the affected requests share (listed), and what they lack.
const DIFFERENCES_SHARED: usize = 10;
const DIFFERENCES_LACKED: usize = 5;
/// Log template changes listed.
const LOG_TEMPLATES_LISTED: usize = 10;
/// Differences the comparison of failing (or slow) requests keeps.
const DIFFERENCES_COMPUTED: usize = 40;

/// What the failing (or slow) requests of the incident have in common that the others lack.
pub fn differences(s: &Signals<'_>) -> Option<DiffReport> {
    if !s.look() {
        return None;
    }
    let (t, g, w) = (s.spans, &s.graph, s.incident.pair());
    let errors = s.errors_matter;
    let side: Box<crate::diff::Grouping<'_>> =
        if errors { Box::new(crate::diff::failing(t, w)) } else { Box::new(crate::diff::slow(t, g, w)) };
    let labels = if errors {
        ("failing requests", "succeeding requests")
    } else {
        ("slow requests", "other requests")
    };
    Some(crate::diff::diff(t, g, labels, DIFFERENCES_COMPUTED, errors, side.as_ref()))
}

/// The report.
pub fn report(
    s: &Signals<'_>,
    mut root_causes: Vec<RootCause>,
    findings: Vec<Finding>,
    differences: Option<DiffReport>,
    elapsed_ms: impl Fn() -> f64,
) -> Report {
    // A rise of requests with warnings or errors in their logs is a symptom too, one users may not
    // see (a wrong answer served without an error).
    let incident = s.symptom_found()
        || (s.plan.log_rise.is_some() && !root_causes.is_empty())
        || root_causes.first().is_some_and(|c| c.confidence >= 0.5);
    let symptom = symptom(s, incident, &root_causes);
    let propagation = propagation(s, &symptom, &root_causes);
    if let Some(top) = root_causes.first_mut() {
        if propagation.iter().any(|p| p.len() >= 3) {
            top.patterns.push(Pattern::CascadingFailure);
        }
    }
    let correlated = correlated_metrics(s);
    let timeline = timeline(s, &symptom, &correlated);
    let suggested_actions = actions(&root_causes, &propagation, &findings);
    let (lo, hi) = s.plan.range.pair();
    let series = s
        .plan
        .main
        .as_ref()
        .map(|m| key_series(&s.endpoints[m.endpoint], s.spans, lo, hi, s.plan.step))
        .unwrap_or_default();
    Report {
        schema: SCHEMA.into(),
        window: window(s.incident),
        baseline: window(s.baseline_shown),
        comparison: if s.by_requests() { "requests" } else { "time" }.into(),
        incident,
        symptom,
        root_causes,
        findings,
        propagation,
        suggested_actions,
        timeline,
        dependencies: s
            .baseline
            .map(|b| edge_red(s.spans, &s.graph, &s.edges, b, s.incident))
            .unwrap_or_default(),
        log_templates: s.log_templates.changes.iter().take(LOG_TEMPLATES_LISTED).cloned().collect(),
        differences: differences
            .filter(|_| incident)
            .map(|d| {
                let (more, less): (Vec<_>, Vec<_>) = d.features.into_iter().partition(|f| f.z > 0.0);
                more.into_iter()
                    .take(DIFFERENCES_SHARED)
                    .chain(less.into_iter().take(DIFFERENCES_LACKED))
                    .collect()
            })
            .unwrap_or_default(),
        series,
        correlated_metrics: correlated,
        stats: RunStats {
            spans: s.spans.len(),
            logs: s.inputs.logs.len(),
            metric_points: s.inputs.metrics.points,
            changes: s.inputs.changes.len(),
            elapsed_ms: elapsed_ms(),
            logs_joined_by_id: s.logs_joined,
        },
        notes: s.plan.notes.clone(),
    }
}

pub fn window(r: TimeRange) -> Window {
    Window { from: format_rfc3339_secs(r.from), to: format_rfc3339_secs(r.to) }
}

/// The endpoints hurt, most first: by the strength of their rise, or (requests compared among
/// themselves) by the share of their requests that failed or were slow.
fn affected(s: &Signals<'_>) -> Vec<Affected> {
    let mut affected: Vec<(f64, Affected)> = Vec::new();
    match s.baseline {
        Some(b) => {
            let mut seen = HashSet::default();
            for r in &s.plan.rises {
                if seen.insert(r.endpoint) {
                    let a = affected_of(s.spans, &s.endpoints[r.endpoint], b.pair(), s.incident.pair());
                    affected.push((r.shift.z.abs(), a));
                }
            }
        }
        None => {
            for ep in &s.endpoints {
                let th = s.slow_entry.get(&(ep.service, ep.operation)).copied().unwrap_or(i64::MAX);
                affected.extend(affected_by_outcome(s.spans, ep, th, s.incident.pair()));
            }
        }
    }
    affected.sort_by(|a, b| b.0.total_cmp(&a.0));
    affected.into_iter().map(|a| a.1).collect()
}

fn symptom(s: &Signals<'_>, incident: bool, root_causes: &[RootCause]) -> Symptom {
    let affected = affected(s);
    let (w, hi) = (s.incident, s.plan.range.to);
    let onset = s.plan.onset;
    let trend = s.plan.main.as_ref().map(|m| {
        if w.to < hi {
            "recovered"
        } else {
            symptom::trend(&s.endpoints[m.endpoint], m, w.from, w.to)
        }
    });
    let summary = match (&s.plan.main, affected.first()) {
        (_, Some(a)) if s.by_requests() => format!(
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
            format!("{what}{more} since {}, {}", hms(onset.unwrap_or(w.from)), trend.unwrap_or("steady"))
        }
        _ if incident => format!(
            "no change in user-facing errors or latency{}; {}",
            logged_rise(s).map(|r| format!(", but {r}")).unwrap_or_default(),
            root_causes.first().map(|c| c.summary.clone()).unwrap_or_default()
        ),
        _ => match root_causes.first() {
            Some(c) => {
                format!("no change in user-facing errors or latency; only weak signs (below): {}", c.summary)
            }
            None => "no change in user-facing errors or latency".to_string(),
        },
    };
    Symptom {
        summary,
        onset: onset.map(format_rfc3339_secs),
        affected,
        trend: trend.map(String::from),
        end: ((s.symptom_found() || s.plan.log_rise.is_some()) && w.to < hi)
            .then(|| format_rfc3339_secs(w.to)),
    }
}

/// `requests with warnings or errors in their logs rose from X to Y since T`, when that placed the
/// incident.
fn logged_rise(s: &Signals<'_>) -> Option<String> {
    let r = s.plan.log_rise.as_ref()?;
    Some(format!(
        "requests with warnings or errors in their logs rose from {} to {} since {}",
        pct(r.shift.before),
        pct(r.shift.after),
        hms(s.plan.onset.unwrap_or(r.onset))
    ))
}

/// Paths from the leading cause up to the endpoints it hurt.
fn propagation(s: &Signals<'_>, symptom: &Symptom, root_causes: &[RootCause]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let Some(top) = root_causes.first().filter(|_| s.symptom_found() || s.by_requests()) else { return out };
    for a in symptom.affected.iter().take(3) {
        if let Some(path) = path_up(s.spans, &s.edges, &top.service, &a.service) {
            if path.len() > 1 && !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// Metrics that moved with the incident, first movers first.
fn correlated_metrics(s: &Signals<'_>) -> Vec<MetricMove> {
    let Some(b) = s.baseline.filter(|_| s.look()) else { return vec![] };
    let onset = s.plan.onset;
    let mut out: Vec<MetricMove> =
        crate::evidence::metric_moves(&s.inputs.metrics, b.pair(), s.incident.pair())
            .iter()
            .take(CORRELATED_CONSIDERED)
            .map(|m| metric_move(m, onset))
            .collect();
    out.sort_by(|a, b| a.lead_seconds.unwrap_or(f64::MAX).total_cmp(&b.lead_seconds.unwrap_or(f64::MAX)));
    out.truncate(CORRELATED_KEPT);
    out
}

/// A metric's move as the report lists it, with its lead over the onset when there is one.
pub fn metric_move(m: &crate::evidence::Move, onset: Option<i64>) -> MetricMove {
    MetricMove {
        metric: m.key.name.clone(),
        service: m.key.service.clone(),
        instance: (!m.key.instance.is_empty()).then(|| m.key.instance.clone()),
        baseline: m.before,
        incident: m.after,
        moved_at: m.moved_at.map(format_rfc3339_secs),
        lead_seconds: m.moved_at.zip(onset).map(|(a, b)| (a - b) as f64 / 1e9),
    }
}

/// Changes, the onset, the first metrics that moved and the end, in time order.
fn timeline(s: &Signals<'_>, symptom: &Symptom, correlated: &[MetricMove]) -> Vec<TimelineEntry> {
    let w = s.incident;
    let entry = |at: i64, signal: EvidenceKind, text: String| {
        (at, TimelineEntry { at: format_rfc3339_secs(at), signal, text })
    };
    let mut out: Vec<(i64, TimelineEntry)> = Vec::new();
    let (from, to) = (s.baseline_shown.from.min(w.from), w.to.max(s.plan.range.to));
    for ch in s.inputs.changes.iter().filter(|ch| ch.time_unix_nano >= from && ch.time_unix_nano < to) {
        let text = format!("{} ({} of {}): {}", ch.id, ch.kind.as_str(), ch.service, ch.description);
        out.push(entry(ch.time_unix_nano, EvidenceKind::Changes, text));
    }
    match (s.plan.onset, s.plan.main.is_some()) {
        (Some(on), true) => {
            out.push(entry(on, EvidenceKind::Traces, format!("symptom starts: {}", symptom.summary)))
        }
        (Some(on), false) => out.push(entry(
            on,
            EvidenceKind::Logs,
            format!("symptom starts in the logs: {}", logged_rise(s).unwrap_or_default()),
        )),
        (None, _) => {}
    }
    for m in correlated.iter().filter(|m| m.lead_seconds.is_some_and(|l| l <= 0.0)).take(3) {
        if let Some(at) = &m.moved_at {
            let ns = faultline_model::time::parse_time_ns(at, 0).unwrap_or(0);
            let who = m.instance.as_deref().unwrap_or(&m.service);
            let text = format!("{} of {who} moves: {:.3} -> {:.3}", m.metric, m.baseline, m.incident);
            out.push(entry(ns, EvidenceKind::Metrics, text));
        }
    }
    if symptom.end.is_some() {
        out.push(entry(w.to, EvidenceKind::Traces, "symptom ends".into()));
    }
    out.sort_by_key(|e| e.0);
    out.into_iter().map(|e| e.1).collect()
}

/// The dependency map with each edge's RED in the baseline and the incident.
fn edge_red(
    t: &SpanTable,
    g: &Graph,
    incident_edges: &BTreeMap<(u32, u32), crate::deps::Edge>,
    baseline: TimeRange,
    incident: TimeRange,
) -> Vec<EdgeRed> {
    let (baseline, incident) = (baseline.pair(), incident.pair());
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
    let mut prev: HashMap<u32, u32> = HashMap::default();
    let mut queue = VecDeque::from([f]);
    let mut seen = HashSet::from_iter([f]);
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

pub(super) fn actions(
    causes: &[RootCause],
    propagation: &[Vec<String>],
    findings: &[Finding],
) -> Vec<String> {
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
            match p {
                Pattern::FaultyInstance => push(format!("Remove {inst} from the {svc} pool")),
                Pattern::ExternalDependency | Pattern::DependencyFailure => {
                    if let Some(caller) = propagation.first().and_then(|p| p.get(1)) {
                        push(format!("Add a timeout and a circuit breaker on {caller} -> {svc}"));
                    }
                    if *p == Pattern::ExternalDependency {
                        push(format!("Rate-limit calls to {svc} and check its status page"));
                    }
                }
                Pattern::RetryStorm => {
                    push(format!("Cap {svc}'s retries: exponential backoff with jitter and a retry budget"))
                }
                Pattern::TrafficSpike => {
                    let at = findings
                        .iter()
                        .find(|f| f.pattern == Pattern::TrafficSpike)
                        .and_then(|f| f.service.as_deref());
                    push(format!(
                        "Shed or rate-limit load at {}, and scale the saturated services",
                        at.unwrap_or(svc)
                    ))
                }
                Pattern::ThunderingHerd => {
                    push(format!("Warm {svc} back up and coalesce identical misses (request collapsing)"))
                }
                Pattern::ClockSkew => push(format!("Resynchronise {inst}'s clock (NTP/chrony)")),
                Pattern::DiskFull => push(format!("Free disk space on {inst}, then add disk-usage alerts")),
                Pattern::DnsFailure => push(format!("Restore the DNS record for {svc}; check resolvers")),
                Pattern::ConnectionPoolExhaustion => {
                    push(format!("Restart {inst} to release its connections; fix the leak"))
                }
                Pattern::MemoryLeak => push(format!(
                    "Restart {inst} and profile its heap; roll back if a change introduced the leak"
                )),
                Pattern::CpuSaturation => push(format!("Raise {svc}'s CPU limit or scale it out")),
                Pattern::NetworkPartition => {
                    push(format!("Restore connectivity between the zones; route {svc} to same-zone peers"))
                }
                _ => {}
            }
        }
    }
    out
}

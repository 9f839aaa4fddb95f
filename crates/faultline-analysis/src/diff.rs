//! Differential analysis: what sets one group of requests apart from another.
//!
//! The groups are traces: failing against succeeding requests, slow against the rest, the incident
//! window against the baseline, or the traces two filters select. Every trace is described by a set
//! of features: each span's attributes and resource attributes (instance, version, zone, peer
//! address, customer, feature flag, ...) under its service, the operations it ran, its call edges,
//! retries, how many calls each edge made (fan-out), the services that failed, and the service that
//! spent most of its time (the critical path's owner). Each feature is then tested for a difference
//! in prevalence between the groups with a two-proportion z test, and the significant ones are
//! ranked by it: the statistic, not the raw difference of shares, decides, so that a feature seen in
//! five traces does not outrank one seen in five thousand.
//!
//! Two single traces are compared span by span instead ([`compare_traces`]): matching spans by
//! their path from the root, what only one of them did, and their critical paths.

use crate::graph::Graph;
use crate::hash::HashMap;
use crate::spans::{SpanTable, NONE};
use crate::stats::{quantile, two_proportion_z};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "faultline.diff/v1";

/// The smallest |z| a feature needs to be reported (p < 1e-4 two-sided, before any correction; a
/// few hundred features are tested).
pub const MIN_Z: f64 = 4.0;

/// Which group a trace belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
    Neither,
}

/// Puts a trace (its spans, and its entry span when it has one) in a group.
pub type Grouping<'a> = dyn Fn(&[u32], Option<usize>) -> Side + 'a;

/// A group's size and health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub label: String,
    pub traces: u64,
    /// Share of its requests that failed.
    pub error_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

/// One feature whose prevalence differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDiff {
    /// `attribute`, `operation`, `edge`, `retry`, `fanout`, `error` or `critical_path`.
    pub kind: String,
    pub service: String,
    /// What it is, e.g. `server.address=192.168.1.45`, `-> inventory`, `GET /api/cart`.
    pub feature: String,
    /// Share of the group's traces that have it.
    pub a_share: f64,
    pub b_share: f64,
    pub a_traces: u64,
    pub b_traces: u64,
    /// Two-proportion z statistic: positive when the feature is more common in group A.
    pub z: f64,
}

/// Where the time went: a service's own time per trace in each group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeDiff {
    pub service: String,
    pub a_ms_per_trace: f64,
    pub b_ms_per_trace: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    pub schema: String,
    pub a: Group,
    pub b: Group,
    /// Significant differences, the strongest first.
    pub features: Vec<FeatureDiff>,
    /// Services whose own time per trace differs most.
    pub time: Vec<TimeDiff>,
    /// Features tested.
    pub tested: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Attribute,
    Operation,
    Edge,
    Retry,
    Fanout(u8),
    Error,
    CriticalPath,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Attribute => "attribute",
            Kind::Operation => "operation",
            Kind::Edge => "edge",
            Kind::Retry => "retry",
            Kind::Fanout(_) => "fanout",
            Kind::Error => "error",
            Kind::CriticalPath => "critical_path",
        }
    }
}

/// (kind, service, other): `other` is an interned dimension, operation or callee.
type Key = (Kind, u32, u32);

fn fanout_bucket(n: u32) -> u8 {
    match n {
        0 | 1 => 1,
        2 => 2,
        3..=5 => 3,
        _ => 4,
    }
}

/// The callee a span calls: the service of a child in another service, or its peer.
fn callee(t: &SpanTable, g: &Graph, i: usize) -> u32 {
    g.children(i).iter().map(|&c| t.service[c as usize]).find(|&s| s != t.service[i]).unwrap_or(t.peer[i])
}

/// The features of one trace, each once.
fn trace_features(t: &SpanTable, g: &Graph, spans: &[u32], own: &mut HashMap<u32, i64>, out: &mut Vec<Key>) {
    out.clear();
    own.clear();
    let mut calls: HashMap<(u32, u32), u32> = HashMap::default();
    for &i in spans {
        let i = i as usize;
        let s = t.service[i];
        for &d in t.attr_info(i).dims.iter().chain(&t.res_info(i).dims) {
            out.push((Kind::Attribute, s, d));
        }
        out.push((Kind::Operation, s, t.operation[i]));
        if t.error[i] {
            out.push((Kind::Error, s, NONE));
        }
        let p = g.parent[i];
        let is_call = p != NONE && t.service[p as usize] != s;
        if is_call {
            *calls.entry((t.service[p as usize], s)).or_default() += 1;
        } else if t.peer[i] != NONE && !g.answered(t, i) {
            *calls.entry((s, t.peer[i])).or_default() += 1;
        }
        if t.peer[i] != NONE && t.attr_info(i).resend > 0 {
            out.push((Kind::Retry, s, callee(t, g, i)));
        }
        *own.entry(s).or_default() += g.self_time(t, i);
    }
    for (&(a, b), &n) in &calls {
        out.push((Kind::Edge, a, b));
        out.push((Kind::Fanout(fanout_bucket(n)), a, b));
    }
    if let Some((&s, _)) = own.iter().max_by_key(|(s, ns)| (**ns, std::cmp::Reverse(**s))) {
        out.push((Kind::CriticalPath, s, NONE));
    }
    out.sort_unstable();
    out.dedup();
}

/// Compares the traces `side` puts in group A with those it puts in group B. `side` sees each
/// trace's spans and its entry span (the root that answers the request), when it has one.
/// Whether a feature is a span's status (its failure, or a status code attribute).
fn is_status(kind: Kind, x: u32, t: &SpanTable) -> bool {
    const STATUS_KEYS: &[&str] = &[
        "http.response.status_code=",
        "http.status_code=",
        "rpc.grpc.status_code=",
        "otel.status_code=",
        "error=",
    ];
    match kind {
        Kind::Error => true,
        Kind::Attribute => STATUS_KEYS.iter().any(|k| t.names.name(x).starts_with(k)),
        _ => false,
    }
}

/// Compares the traces `side` puts in group A with those it puts in group B. `side` sees each
/// trace's spans and its entry span (the root that answers the request), when it has one. With
/// `restates_status`, the entry services' status features are left out: when the groups are
/// failing and succeeding requests, they only restate the grouping.
pub fn diff(
    t: &SpanTable,
    g: &Graph,
    labels: (&str, &str),
    top: usize,
    restates_status: bool,
    side: &dyn Fn(&[u32], Option<usize>) -> Side,
) -> DiffReport {
    let mut entry_services: crate::hash::HashSet<u32> = crate::hash::HashSet::default();
    let mut counts: HashMap<Key, [u64; 2]> = HashMap::default();
    let mut n = [0u64; 2];
    let mut errors = [0u64; 2];
    let mut durations: [Vec<i64>; 2] = Default::default();
    let mut own_total: [HashMap<u32, i64>; 2] = Default::default();
    let (mut feats, mut own) = (Vec::new(), HashMap::default());
    for spans in g.traces() {
        let entry = spans.iter().map(|&i| i as usize).find(|&i| g.is_entry(t, i));
        let w = match side(spans, entry) {
            Side::A => 0,
            Side::B => 1,
            Side::Neither => continue,
        };
        n[w] += 1;
        if let Some(e) = entry {
            entry_services.insert(t.service[e]);
            errors[w] += t.error[e] as u64;
            durations[w].push(t.duration[e]);
        }
        trace_features(t, g, spans, &mut own, &mut feats);
        for &k in &feats {
            counts.entry(k).or_default()[w] += 1;
        }
        for (&s, &ns) in &own {
            *own_total[w].entry(s).or_default() += ns;
        }
    }
    let name = |id: u32| if id == NONE { String::new() } else { t.names.name(id).to_string() };
    let tested = counts.len();
    let mut features: Vec<FeatureDiff> = counts
        .into_iter()
        .filter(|&((kind, s, x), _)| {
            !(restates_status && entry_services.contains(&s) && is_status(kind, x, t))
        })
        .filter_map(|((kind, s, x), [a, b])| {
            let z = two_proportion_z(b, n[1], a, n[0]);
            let (sa, sb) = (a as f64 / n[0].max(1) as f64, b as f64 / n[1].max(1) as f64);
            if z.abs() < MIN_Z || (sa - sb).abs() < 0.02 {
                return None;
            }
            let feature = match kind {
                Kind::Attribute => name(x),
                Kind::Operation => name(x),
                Kind::Edge => format!("-> {}", name(x)),
                Kind::Retry => format!("retries -> {}", name(x)),
                Kind::Fanout(k) => format!(
                    "-> {} {}",
                    name(x),
                    ["", "called once", "called twice", "called 3-5 times", "called 6+ times"][k as usize]
                ),
                Kind::Error => "failed".to_string(),
                Kind::CriticalPath => "spent the most time".to_string(),
            };
            Some(FeatureDiff {
                kind: kind.name().to_string(),
                service: name(s),
                feature,
                a_share: round4(sa),
                b_share: round4(sb),
                a_traces: a,
                b_traces: b,
                z: (z * 100.0).round() / 100.0,
            })
        })
        .collect();
    features.sort_by(|x, y| {
        y.z.abs()
            .total_cmp(&x.z.abs())
            .then_with(|| (&x.kind, &x.service, &x.feature).cmp(&(&y.kind, &y.service, &y.feature)))
    });
    features.truncate(top.max(1));
    let mut time: Vec<TimeDiff> = own_total[0]
        .keys()
        .chain(own_total[1].keys())
        .copied()
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .map(|s| {
            let per = |w: usize| own_total[w].get(&s).copied().unwrap_or(0) as f64 / 1e6 / n[w].max(1) as f64;
            TimeDiff { service: name(s), a_ms_per_trace: round2(per(0)), b_ms_per_trace: round2(per(1)) }
        })
        .collect();
    time.sort_by(|x, y| {
        let d = |t: &TimeDiff| (t.a_ms_per_trace - t.b_ms_per_trace).abs();
        d(y).total_cmp(&d(x)).then_with(|| x.service.cmp(&y.service))
    });
    time.truncate(8);
    let mut group = |w: usize, label: &str| {
        durations[w].sort_unstable();
        Group {
            label: label.to_string(),
            traces: n[w],
            error_rate: round4(errors[w] as f64 / durations[w].len().max(1) as f64),
            latency_p50_ms: round2(quantile(&durations[w], 0.5) as f64 / 1e6),
            latency_p95_ms: round2(quantile(&durations[w], 0.95) as f64 / 1e6),
        }
    };
    let a = group(0, labels.0);
    let b = group(1, labels.1);
    DiffReport { schema: SCHEMA.into(), a, b, features, time, tested }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Start time of a trace: its entry's, else its earliest span's.
pub fn trace_start(t: &SpanTable, spans: &[u32], entry: Option<usize>) -> i64 {
    entry.map_or_else(|| spans.iter().map(|&i| t.start[i as usize]).min().unwrap_or(0), |e| t.start[e])
}

/// Traces started in window `a` against those started in window `b`.
pub fn by_window(t: &SpanTable, a: (i64, i64), b: (i64, i64)) -> impl Fn(&[u32], Option<usize>) -> Side + '_ {
    move |spans, entry| {
        let s = trace_start(t, spans, entry);
        if s >= a.0 && s < a.1 {
            Side::A
        } else if s >= b.0 && s < b.1 {
            Side::B
        } else {
            Side::Neither
        }
    }
}

/// Failing requests (A) against succeeding ones (B), started in `w`.
pub fn failing(t: &SpanTable, w: (i64, i64)) -> impl Fn(&[u32], Option<usize>) -> Side + '_ {
    move |_, entry| match entry {
        Some(e) if t.start[e] >= w.0 && t.start[e] < w.1 => {
            if t.error[e] {
                Side::A
            } else {
                Side::B
            }
        }
        _ => Side::Neither,
    }
}

/// Requests slower than their endpoint's 95th percentile in `w` (A) against the rest (B).
pub fn slow<'a>(t: &'a SpanTable, g: &Graph, w: (i64, i64)) -> impl Fn(&[u32], Option<usize>) -> Side + 'a {
    let mut by_ep: HashMap<(u32, u32), Vec<i64>> = HashMap::default();
    for i in 0..t.len() {
        if t.start[i] >= w.0 && t.start[i] < w.1 && g.is_entry(t, i) {
            by_ep.entry((t.service[i], t.operation[i])).or_default().push(t.duration[i]);
        }
    }
    let threshold: HashMap<(u32, u32), i64> = by_ep
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            (k, quantile(&v, 0.95))
        })
        .collect();
    move |_, entry| match entry {
        Some(e) if t.start[e] >= w.0 && t.start[e] < w.1 => {
            match threshold.get(&(t.service[e], t.operation[e])) {
                Some(&th) if t.duration[e] > th => Side::A,
                _ => Side::B,
            }
        }
        _ => Side::Neither,
    }
}

/// Traces whose ids are in `a` (A) against those in `b` (B); with `b` empty, against all others.
pub fn by_trace_ids<'a>(
    t: &'a SpanTable,
    a: &'a crate::hash::HashSet<[u8; 16]>,
    b: &'a crate::hash::HashSet<[u8; 16]>,
) -> impl Fn(&[u32], Option<usize>) -> Side + 'a {
    move |spans, _| {
        let Some(&i) = spans.first() else { return Side::Neither };
        let id = &t.trace_id[i as usize];
        if a.contains(id) {
            Side::A
        } else if b.is_empty() || b.contains(id) {
            Side::B
        } else {
            Side::Neither
        }
    }
}

/// One span of a trace comparison, matched by its path from the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanPair {
    /// `service operation` from the root down, joined by ` > `.
    pub path: String,
    pub depth: usize,
    pub a_ms: Option<f64>,
    pub b_ms: Option<f64>,
    pub a_error: bool,
    pub b_error: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSide {
    pub trace_id: String,
    pub spans: usize,
    pub duration_ms: f64,
    pub error: bool,
    /// The chain of spans that ended last at each level: what the request waited for.
    pub critical_path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceComparison {
    pub schema: String,
    pub a: TraceSide,
    pub b: TraceSide,
    /// Every span of either trace, in A's order then B's extra ones.
    pub spans: Vec<SpanPair>,
    pub only_in_a: usize,
    pub only_in_b: usize,
}

/// Compares two traces of the table, span by span.
pub fn compare_traces(t: &SpanTable, g: &Graph, a: &[u8; 16], b: &[u8; 16]) -> Option<TraceComparison> {
    let spans_of = |id: &[u8; 16]| -> Option<&[u32]> {
        g.traces().find(|s| s.first().is_some_and(|&i| &t.trace_id[i as usize] == id))
    };
    let (sa, sb) = (spans_of(a)?, spans_of(b)?);
    // Path of every span, with an occurrence index among same-path siblings.
    let paths = |spans: &[u32]| -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::default();
        let mut stack: Vec<(usize, String, usize)> = spans
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| g.parent[i] == NONE)
            .map(|i| (i, String::new(), 0))
            .collect();
        stack.sort_by_key(|x| std::cmp::Reverse(t.start[x.0]));
        while let Some((i, prefix, depth)) = stack.pop() {
            let me = format!("{} {}", t.names.name(t.service[i]), t.names.name(t.operation[i]));
            let path = if prefix.is_empty() { me } else { format!("{prefix} > {me}") };
            let k = seen.entry(path.clone()).or_default();
            *k += 1;
            let key = if *k > 1 { format!("{path} #{k}") } else { path.clone() };
            out.push((key, depth, i));
            let mut kids: Vec<usize> = g.children(i).iter().map(|&c| c as usize).collect();
            kids.sort_by_key(|&c| std::cmp::Reverse(t.start[c]));
            for c in kids {
                stack.push((c, path.clone(), depth + 1));
            }
        }
        out
    };
    let (pa, pb) = (paths(sa), paths(sb));
    let index_b: HashMap<&str, usize> = pb.iter().map(|(k, _, i)| (k.as_str(), *i)).collect();
    let ms = |i: usize| round2(t.duration[i] as f64 / 1e6);
    let mut rows: Vec<SpanPair> = Vec::new();
    let mut matched_b = crate::hash::HashSet::default();
    for (k, depth, i) in &pa {
        let j = index_b.get(k.as_str()).copied();
        if let Some(j) = j {
            matched_b.insert(j);
        }
        rows.push(SpanPair {
            path: k.clone(),
            depth: *depth,
            a_ms: Some(ms(*i)),
            b_ms: j.map(ms),
            a_error: t.error[*i],
            b_error: j.is_some_and(|j| t.error[j]),
        });
    }
    for (k, depth, j) in &pb {
        if !matched_b.contains(j) {
            rows.push(SpanPair {
                path: k.clone(),
                depth: *depth,
                a_ms: None,
                b_ms: Some(ms(*j)),
                a_error: false,
                b_error: t.error[*j],
            });
        }
    }
    let side = |id: &[u8; 16], spans: &[u32]| -> TraceSide {
        let root = spans
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| g.parent[i] == NONE)
            .min_by_key(|&i| (t.start[i], std::cmp::Reverse(t.duration[i])));
        let mut critical = Vec::new();
        let mut cur = root;
        while let Some(i) = cur {
            critical.push(format!("{} {}", t.names.name(t.service[i]), t.names.name(t.operation[i])));
            cur = g.children(i).iter().map(|&c| c as usize).max_by_key(|&c| (t.end(c), c));
        }
        TraceSide {
            trace_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            spans: spans.len(),
            duration_ms: root.map_or(0.0, ms),
            error: root.is_some_and(|r| t.error[r]),
            critical_path: critical,
        }
    };
    let only_in_a = rows.iter().filter(|r| r.b_ms.is_none()).count();
    let only_in_b = rows.iter().filter(|r| r.a_ms.is_none()).count();
    Some(TraceComparison {
        schema: "faultline.trace-diff/v1".into(),
        a: side(a, sa),
        b: side(b, sb),
        spans: rows,
        only_in_a,
        only_in_b,
    })
}

/// A difference report for a terminal.
pub fn render_text(r: &DiffReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for (name, g) in [("A", &r.a), ("B", &r.b)] {
        let _ = writeln!(
            o,
            "{name}  {:<32} {:>7} traces  errors {:>6}  p50 {:>9}  p95 {:>9}",
            g.label,
            g.traces,
            crate::fmt::fmt_rate(g.error_rate),
            crate::fmt::fmt_ms(g.latency_p50_ms),
            crate::fmt::fmt_ms(g.latency_p95_ms)
        );
    }
    if r.features.is_empty() {
        let _ = writeln!(o, "\nno feature differs significantly (|z| >= {MIN_Z}) among {} tested", r.tested);
    } else {
        let _ = writeln!(
            o,
            "\nWhat differs ({} of {} features significant, strongest first)",
            r.features.len(),
            r.tested
        );
        let w = r.features.iter().map(|f| f.service.len() + f.feature.len() + 1).max().unwrap_or(0).min(70);
        let _ = writeln!(o, "  {:w$}  {:>7}  {:>7}  {:>7}  kind", "feature", "in A", "in B", "z");
        for f in &r.features {
            let label = format!("{} {}", f.service, f.feature);
            let _ = writeln!(
                o,
                "  {label:w$}  {:>7}  {:>7}  {:>7.1}  {}",
                crate::fmt::fmt_rate(f.a_share),
                crate::fmt::fmt_rate(f.b_share),
                f.z,
                f.kind
            );
        }
    }
    if !r.time.is_empty() {
        let _ = writeln!(o, "\nWhere the time went (own time per trace)");
        for t in &r.time {
            let _ = writeln!(
                o,
                "  {:<28} A {:>9}  B {:>9}",
                t.service,
                crate::fmt::fmt_ms(t.a_ms_per_trace),
                crate::fmt::fmt_ms(t.b_ms_per_trace)
            );
        }
    }
    o
}

/// A trace comparison for a terminal.
pub fn render_trace_comparison(c: &TraceComparison) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for (name, s) in [("A", &c.a), ("B", &c.b)] {
        let _ = writeln!(
            o,
            "{name}  {}  {} spans  {}{}",
            s.trace_id,
            s.spans,
            crate::fmt::fmt_ms(s.duration_ms),
            if s.error { "  failed" } else { "" }
        );
    }
    let _ = writeln!(o, "\n  {:<60} {:>10} {:>10}", "span", "A", "B");
    let cell = |ms: Option<f64>, err: bool| match ms {
        None => "-".to_string(),
        Some(v) => format!("{}{}", crate::fmt::fmt_ms(v), if err { " !" } else { "" }),
    };
    for r in &c.spans {
        let label = format!("{}{}", "  ".repeat(r.depth), r.path.rsplit(" > ").next().unwrap_or(&r.path));
        let label: String = label.chars().take(60).collect();
        let _ = writeln!(o, "  {label:<60} {:>10} {:>10}", cell(r.a_ms, r.a_error), cell(r.b_ms, r.b_error));
    }
    let _ = writeln!(o, "\n{} spans only in A, {} only in B", c.only_in_a, c.only_in_b);
    for (name, s) in [("A", &c.a), ("B", &c.b)] {
        let _ = writeln!(o, "critical path {name}: {}", s.critical_path.join(" > "));
    }
    o
}

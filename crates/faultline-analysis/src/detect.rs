//! Detectors for the failure patterns of DESIGN.md that localisation alone does not name: clock
//! skew, thundering herds, traffic spikes, retry storms, network partitions, and the resource
//! patterns that metrics and error messages reveal.

use crate::graph::Graph;
use crate::inputs::{MetricKey, MetricTable};
use crate::localise::Attribution;
use crate::spans::{SpanTable, NONE};
use crate::stats::{mean, median_ci, std_dev};
use std::collections::HashMap;

const MS: f64 = 1e6;

/// A host whose clock is off.
#[derive(Debug, Clone)]
pub struct Skew {
    pub service: u32,
    pub instance: u32,
    /// Offset of its clock against its peers', ns (negative: behind).
    pub offset_ns: f64,
    pub ci_ns: f64,
    pub pairs: usize,
    /// Share of its spans that start before their parents.
    pub before_parent: f64,
    /// Share of its span pairs (as child or parent) with the child outside the parent's interval,
    /// as recorded and once its clock is corrected by the offset: the corrected view.
    pub outside_before: f64,
    pub outside_after: f64,
}

/// Estimates each instance's clock offset from parent/child pairs across services: with a
/// symmetric network, the child's midpoint should sit at the parent's midpoint, so the difference
/// of midpoints is the clock difference. Each pair votes for both its instances (with opposite
/// signs); an instance whose median vote is far from zero, with a tight interval, is skewed.
pub fn clock_skew(t: &SpanTable, g: &Graph) -> Vec<Skew> {
    // (child instance, parent instance, midpoint difference) of each cross-service pair, and how
    // far the child starts after its parent and ends before it.
    let mut pairs: Vec<(u32, u32, f64)> = Vec::new();
    let mut margins: Vec<(i64, i64)> = Vec::new();
    let mut before: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut outside: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut service_of: HashMap<u32, u32> = HashMap::new();
    for c in 0..t.len() {
        let p = g.parent[c];
        if p == NONE {
            continue;
        }
        let p = p as usize;
        if t.service[p] == t.service[c] || t.instance[p] == t.instance[c] {
            continue;
        }
        let mid = |i: usize| t.start[i] as f64 + t.duration[i] as f64 / 2.0;
        pairs.push((t.instance[c], t.instance[p], mid(c) - mid(p)));
        margins.push((t.start[c] - t.start[p], t.end(p) - t.end(c)));
        service_of.insert(t.instance[c], t.service[c]);
        service_of.insert(t.instance[p], t.service[p]);
        let b = before.entry(t.instance[c]).or_default();
        b.0 += (t.start[c] < t.start[p]) as u64;
        b.1 += 1;
        // A child outside its parent's interval: only a clock can do that.
        let v = outside.entry(t.instance[c]).or_default();
        v.0 += (t.start[c] < t.start[p] || t.end(c) > t.end(p)) as u64;
        v.1 += 1;
    }
    // Greedy: the most skewed host first; its pairs then say nothing more about its peers.
    let mut out: Vec<Skew> = Vec::new();
    let mut found: Vec<u32> = Vec::new();
    loop {
        let mut votes: HashMap<u32, Vec<f64>> = HashMap::new();
        for &(c, p, d) in &pairs {
            if found.contains(&c) || found.contains(&p) {
                continue;
            }
            votes.entry(c).or_default().push(d);
            votes.entry(p).or_default().push(-d);
        }
        let mut best: Option<(f64, Skew)> = None;
        for (inst, mut v) in votes {
            let n = v.len();
            if n < 20 {
                continue;
            }
            let Some((med, ci)) = median_ci(&mut v) else { continue };
            // A skewed host's pairs all agree; a peer of one agrees only on the pairs they share.
            let consistent =
                v.iter().filter(|d| d.signum() == med.signum() && d.abs() >= 0.5 * med.abs()).count();
            // The more pairs agree, the likelier this host is the one: a peer that talks only to
            // a skewed host agrees on as large an offset, but on fewer pairs.
            let weight = med.abs() * consistent as f64;
            let better = best
                .as_ref()
                .is_none_or(|b: &(f64, Skew)| weight > b.0 || (weight == b.0 && inst < b.1.instance));
            // Asymmetric network delay shifts midpoints too, but keeps children inside their
            // parents; a skewed clock puts them outside, on its own spans or its peers'.
            let out_of_parent = |i: u32| outside.get(&i).map_or(0.0, |&(o, n)| o as f64 / n.max(1) as f64);
            let violates = out_of_parent(inst) >= 0.1
                || pairs.iter().any(|&(c, p, _)| p == inst && out_of_parent(c) >= 0.1);
            if med.abs() >= 20.0 * MS && med.abs() >= 4.0 * ci && better && violates {
                let b = before.get(&inst).copied().unwrap_or_default();
                // The corrected view: its clock set back by the offset.
                let (mut out0, mut out1, mut total) = (0u64, 0u64, 0u64);
                let off = med as i64;
                for (&(c, p, _), &(a, z)) in pairs.iter().zip(&margins) {
                    let (a1, z1) = if c == inst {
                        (a - off, z + off)
                    } else if p == inst {
                        (a + off, z - off)
                    } else {
                        continue;
                    };
                    total += 1;
                    out0 += (a < 0 || z < 0) as u64;
                    out1 += (a1 < 0 || z1 < 0) as u64;
                }
                let skew = Skew {
                    service: service_of[&inst],
                    instance: inst,
                    offset_ns: med,
                    ci_ns: ci,
                    pairs: n,
                    before_parent: b.0 as f64 / b.1.max(1) as f64,
                    outside_before: out0 as f64 / total.max(1) as f64,
                    outside_after: out1 as f64 / total.max(1) as f64,
                };
                best = Some((weight, skew));
            }
        }
        match best {
            Some((_, s)) if out.len() < 10 => {
                found.push(s.instance);
                out.push(s);
            }
            _ => break,
        }
    }
    out
}

/// A cache that stopped answering, and what the misses did to the database behind it.
#[derive(Debug, Clone)]
pub struct Herd {
    pub cache: u32,
    pub hit_before: f64,
    pub hit_after: f64,
    /// The query repeated most in one second during the incident, with that count and the
    /// baseline's most in one second.
    pub query: Option<(u32, u64, u64)>,
    pub store: Option<u32>,
}

pub fn thundering_herd(t: &SpanTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<Herd> {
    let mut hits: HashMap<u32, [(u64, u64); 2]> = HashMap::new();
    let mut per_second: HashMap<(u32, u32, i64), [u64; 2]> = HashMap::new();
    for i in 0..t.len() {
        if !t.is_client_call(i) {
            continue;
        }
        let w = if t.start[i] >= incident.0 && t.start[i] < incident.1 {
            1
        } else if t.start[i] >= baseline.0 && t.start[i] < baseline.1 {
            0
        } else {
            continue;
        };
        let a = t.attr_info(i);
        // A lookup that failed (timed out, refused, cut off) is not a miss: the cache did not
        // lose its entries, the way to it broke (that is another detector's finding).
        if let Some(h) = a.cache_hit.filter(|_| !t.error[i]) {
            let e = &mut hits.entry(t.peer[i]).or_default()[w];
            e.0 += h as u64;
            e.1 += 1;
        }
        if a.query != NONE {
            per_second.entry((t.peer[i], a.query, t.start[i] / 1_000_000_000)).or_default()[w] += 1;
        }
    }
    let mut max_q: HashMap<(u32, u32), [u64; 2]> = HashMap::new();
    for ((store, q, _), c) in per_second {
        let m = max_q.entry((store, q)).or_default();
        m[0] = m[0].max(c[0]);
        m[1] = m[1].max(c[1]);
    }
    let burst = max_q
        .into_iter()
        .filter(|(_, m)| m[1] >= 10 && m[1] as f64 >= 3.0 * m[0].max(1) as f64)
        .max_by_key(|(_, m)| m[1] * 1000 / m[0].max(1));
    let mut out = Vec::new();
    for (cache, [b, i]) in hits {
        if b.1 < 50 || i.1 < 50 {
            continue;
        }
        let (hb, hi) = (b.0 as f64 / b.1 as f64, i.0 as f64 / i.1 as f64);
        if hb - hi >= 0.2 && hi < 0.8 * hb {
            out.push(Herd {
                cache,
                hit_before: hb,
                hit_after: hi,
                query: burst.map(|((_, q), m)| (q, m[1], m[0])),
                store: burst.map(|((s, _), _)| s),
            });
        }
    }
    out
}

/// Requests per second at the entry points, before and during.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub service: u32,
    pub rate_before: f64,
    pub rate_after: f64,
    /// Peak one-minute rate during the incident.
    pub peak: f64,
}

pub fn traffic(t: &SpanTable, g: &Graph, baseline: (i64, i64), incident: (i64, i64)) -> Option<Traffic> {
    let mut count: HashMap<u32, [u64; 2]> = HashMap::new();
    let mut minutes: HashMap<i64, u64> = HashMap::new();
    // Rates are over the seconds that hold requests: telemetry with gaps is not a traffic drop.
    let mut active: [std::collections::HashSet<i64>; 2] = Default::default();
    for i in 0..t.len() {
        if !g.is_entry(t, i) {
            continue;
        }
        let s = t.start[i];
        if s >= incident.0 && s < incident.1 {
            count.entry(t.service[i]).or_default()[1] += 1;
            *minutes.entry((s - incident.0) / 60_000_000_000).or_default() += 1;
            active[1].insert(s / 1_000_000_000);
        } else if s >= baseline.0 && s < baseline.1 {
            count.entry(t.service[i]).or_default()[0] += 1;
            active[0].insert(s / 1_000_000_000);
        }
    }
    let (svc, c) = count.into_iter().max_by_key(|(k, c)| (c[0] + c[1], std::cmp::Reverse(*k)))?;
    // Seconds covered: from the first to the last active second of each stretch without a gap of
    // more than a minute.
    let covered = |w: usize| -> f64 {
        let mut v: Vec<i64> = active[w].iter().copied().collect();
        v.sort_unstable();
        let mut total = 0i64;
        for p in v.windows(2) {
            if p[1] - p[0] <= 60 {
                total += p[1] - p[0];
            }
        }
        (total + 1) as f64
    };
    let (cov_b, cov_i) = (covered(0), covered(1));
    let secs = |w: (i64, i64)| {
        let full = ((w.1 - w.0) as f64 / 1e9).max(1.0);
        if w == baseline {
            full.min(cov_b)
        } else {
            full.min(cov_i)
        }
    };
    let full_minutes = ((incident.1 - incident.0) / 60_000_000_000).max(1);
    let peak =
        minutes.iter().filter(|(m, _)| **m < full_minutes).map(|(_, &c)| c).max().unwrap_or(0) as f64 / 60.0;
    Some(Traffic {
        service: svc,
        rate_before: c[0] as f64 / secs(baseline),
        rate_after: c[1] as f64 / secs(incident),
        peak,
    })
}

/// A caller retrying much more than it did.
#[derive(Debug, Clone)]
pub struct Retries {
    pub service: u32,
    pub callee: u32,
    /// Retries per call before and during.
    pub before: f64,
    pub after: f64,
    pub retries: u64,
    /// Most attempts of one call.
    pub max_attempts: u32,
}

pub fn retry_storm(t: &SpanTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<Retries> {
    // (retries, calls, most attempts) per (caller, callee), baseline and incident.
    type Counts = [(u64, u64, u32); 2];
    let mut by: HashMap<(u32, u32), Counts> = HashMap::new();
    for i in 0..t.len() {
        if !t.is_call(i) {
            continue;
        }
        let w = if t.start[i] >= incident.0 && t.start[i] < incident.1 {
            1
        } else if t.start[i] >= baseline.0 && t.start[i] < baseline.1 {
            0
        } else {
            continue;
        };
        let r = t.attr_info(i).resend;
        let e = &mut by.entry((t.service[i], t.peer[i])).or_default()[w];
        e.0 += (r > 0) as u64;
        e.1 += 1;
        e.2 = e.2.max(r + 1);
    }
    let mut out: Vec<Retries> = by
        .into_iter()
        .filter_map(|((svc, callee), [b, i])| {
            let (rb, ri) = (b.0 as f64 / b.1.max(1) as f64, i.0 as f64 / i.1.max(1) as f64);
            (i.0 >= 50 && ri >= 0.1 && ri >= 5.0 * rb.max(0.002) && i.2 >= 4).then_some(Retries {
                service: svc,
                callee,
                before: rb,
                after: ri,
                retries: i.0,
                max_attempts: i.2,
            })
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.retries));
    out
}

/// Calls that fail only across one pair of zones.
#[derive(Debug, Clone)]
pub struct Partition {
    pub zones: (u32, u32),
    pub failed: u64,
    pub calls: u64,
    /// Failure rate of calls within a zone or across other pairs, to the same callees.
    pub elsewhere: f64,
    /// The calling service with most failed calls across the cut.
    pub caller: u32,
    pub callees: Vec<u32>,
}

pub fn network_partition(
    t: &SpanTable,
    g: &Graph,
    a: &Attribution,
    incident: (i64, i64),
) -> Option<Partition> {
    // Zone of each address: resources name their host's ip and zone.
    let mut zone_of_ip: HashMap<&str, u32> = HashMap::new();
    for r in &t.resources {
        if r.ip != NONE && r.zone != NONE {
            zone_of_ip.insert(t.names.name(r.ip), r.zone);
        }
    }
    // Calls no one answered, by (caller zone, callee zone).
    let mut pairs: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
    // Failed calls per calling service, and whether it made them while answering users directly.
    let mut callers: HashMap<(u32, u32, u32), (u64, bool)> = HashMap::new();
    let mut callees: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    for i in 0..t.len() {
        if t.start[i] < incident.0 || t.start[i] >= incident.1 {
            continue;
        }
        if !t.is_client_call(i) {
            continue;
        }
        let addr = t.attr_info(i).peer_addr;
        if addr == NONE {
            continue;
        }
        let ip = t.names.name(addr).rsplit_once(':').map_or(t.names.name(addr), |(h, _)| h);
        let (Some(&to), from) = (zone_of_ip.get(ip), t.res_info(i).zone) else { continue };
        if from == NONE {
            continue;
        }
        let failed = a.node[i] != NONE && a.own_error[i];
        let key = if from <= to { (from, to) } else { (to, from) };
        let e = pairs.entry(key).or_default();
        e.0 += failed as u64;
        e.1 += 1;
        if failed {
            let c = callers.entry((key.0, key.1, t.service[i])).or_default();
            c.0 += 1;
            c.1 |= serves_users(t, g, i);
            let v = callees.entry(key).or_default();
            if !v.contains(&t.peer[i]) {
                v.push(t.peer[i]);
            }
        }
    }
    let (&zones, &(failed, calls)) =
        pairs.iter().filter(|(k, _)| k.0 != k.1).max_by_key(|(k, v)| (v.0, std::cmp::Reverse(**k)))?;
    let (of, oc) =
        pairs.iter().filter(|(k, _)| **k != zones).fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
    let rate = failed as f64 / calls.max(1) as f64;
    let elsewhere = of as f64 / oc.max(1) as f64;
    if failed < 20 || rate < 0.3 || elsewhere > 0.2 * rate {
        return None;
    }
    // Every caller across the cut fails at once; name the one nearest the users (where their
    // requests first cross it, and where zone-aware routing would route around it) when it has a
    // real share of the failures, else the one with most.
    let across: Vec<(u32, u64, bool)> =
        callers.iter().filter(|(k, _)| (k.0, k.1) == zones).map(|(k, c)| (k.2, c.0, c.1)).collect();
    let most = |front: bool| {
        across
            .iter()
            .filter(|c| !front || (c.2 && c.1 * 10 >= failed))
            .max_by_key(|c| (c.1, std::cmp::Reverse(c.0)))
            .map(|c| c.0)
    };
    let caller = most(true).or_else(|| most(false))?;
    Some(Partition {
        zones,
        failed,
        calls,
        elsewhere,
        caller,
        callees: callees.remove(&zones).unwrap_or_default(),
    })
}

/// Whether call span i was made while answering a user's request: the spans above it in its own
/// service lead up to the trace's entry.
fn serves_users(t: &SpanTable, g: &Graph, i: usize) -> bool {
    let mut k = i;
    loop {
        let p = g.parent[k];
        if p == NONE {
            return g.is_entry(t, k);
        }
        if t.service[p as usize] != t.service[i] {
            return false;
        }
        k = p as usize;
    }
}

/// Failure words and the patterns they name.
pub fn message_pattern(msg: &str) -> Option<&'static str> {
    let m = msg.to_ascii_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| m.contains(w));
    if has(&["no such host", "nxdomain", "name resolution", "could not resolve", "unknownhost", "dns"]) {
        Some("dns_failure")
    } else if has(&["no space left", "enospc", "disk full", "disk quota"]) {
        Some("disk_full")
    } else if has(&["pool exhausted", "acquiring connection", "acquire connection", "too many connections"]) {
        Some("connection_pool_exhaustion")
    } else if has(&["out of memory", "outofmemory", "oomkilled", "oom-kill", "heap space"]) {
        Some("memory_leak")
    } else if has(&["exception", "panic", "internal error", "nullpointer", "stack trace", "traceback"]) {
        Some("code_exception")
    } else {
        None
    }
}

/// How one metric series moved between two windows.
#[derive(Debug, Clone)]
pub struct Move {
    pub key: MetricKey,
    pub before: f64,
    pub after: f64,
    /// First time, from the baseline's end on, that the series left its baseline band and stayed
    /// out for two points.
    pub moved_at: Option<i64>,
    pub score: f64,
}

fn window_values(s: &[(i64, f64)], w: (i64, i64)) -> Vec<f64> {
    s.iter().filter(|p| p.0 >= w.0 && p.0 < w.1).map(|p| p.1).collect()
}

pub fn metric_moves(m: &MetricTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<Move> {
    let mut out = Vec::new();
    for (key, s) in &m.series {
        let (b, i) = (baseline_values(s, baseline, incident), window_values(s, incident));
        if b.len() < 3 || i.len() < 2 {
            continue;
        }
        let (mb, sb, mi) = (mean(&b), std_dev(&b), mean(&i));
        let band = (3.0 * sb).max(0.05 * mb.abs()).max(1e-9);
        let score = (mi - mb).abs() / band;
        if score < 2.0 {
            continue;
        }
        let out_of_band = |v: f64| (v - mb).abs() > band;
        let pts: Vec<&(i64, f64)> =
            s.iter().filter(|p| p.0 >= baseline.1 - (baseline.1 - baseline.0) / 4).collect();
        let moved_at = pts
            .windows(2)
            .find(|w| out_of_band(w[0].1) && out_of_band(w[1].1) && w[0].0 < incident.1)
            .map(|w| w[0].0);
        out.push(Move { key: key.clone(), before: mb, after: mi, moved_at, score });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Resource patterns an instance's metrics show during the incident.
pub fn resource_patterns(
    m: &MetricTable,
    service: &str,
    instance: Option<&str>,
    incident: (i64, i64),
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (key, s) in &m.series {
        if key.service != service || instance.is_some_and(|i| i != key.instance) {
            continue;
        }
        let v = window_values(s, incident);
        if v.len() < 4 {
            continue;
        }
        let name = key.name.as_str();
        let who = if key.instance.is_empty() { service.to_string() } else { key.instance.clone() };
        let max = v.iter().copied().fold(f64::MIN, f64::max);
        if name.contains("filesystem.utilization") || name.contains("disk.utilization") {
            if max >= 0.97 {
                out.push(("disk_full", format!("{name} on {who} reached {:.0}%", max * 100.0)));
            }
        } else if name.contains("memory.usage") || name.contains("memory.rss") || name.contains("heap") {
            // Growth from where it left its starting level on, and drops back that mean restarts.
            let mut first: Vec<f64> = v[..(v.len() / 5).max(1)].to_vec();
            first.sort_by(f64::total_cmp);
            let base = first[first.len() / 2];
            let Some(start) = v.iter().position(|&x| x > 1.2 * base) else { continue };
            let grow = &v[start.saturating_sub(1)..];
            let drops = grow.windows(2).filter(|w| w[1] < 0.7 * w[0]).count();
            let rises = grow.windows(2).filter(|w| w[1] > w[0]).count();
            if grow.len() >= 5 && rises as f64 >= 0.6 * (grow.len() - 1) as f64 && base * 1.5 < max {
                let text = format!(
                    "{name} on {who} grows steadily to {:.0} MiB{}",
                    max / 1048576.0,
                    if drops > 0 {
                        format!(", falling back {drops} times (restarts)")
                    } else {
                        String::new()
                    }
                );
                out.push(("memory_leak", text));
            }
        } else if name.contains("cpu.utilization") {
            let (m, sd) = (mean(&v), std_dev(&v));
            let high = v.iter().filter(|&&x| x >= 0.95 * max).count();
            if m > 0.5 && sd < 0.05 * m.max(1e-9) && high as f64 >= 0.5 * v.len() as f64 {
                out.push((
                    "cpu_saturation",
                    format!("{name} on {who} flat at {:.0}% (a ceiling)", max * 100.0),
                ));
            }
        } else if name.contains("connection.pending_requests") && mean(&v) >= 1.0 {
            out.push((
                "connection_pool_exhaustion",
                format!("{name} on {who}: {:.0} requests waiting for a connection on average", mean(&v)),
            ));
        }
    }
    out
}

/// Instances whose memory grows steadily (with drops back that mean restarts) over the range:
/// a leak shows whether or not users notice it yet.
pub fn memory_leaks(m: &MetricTable, range: (i64, i64)) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for key in m.series.keys() {
        if !(key.name.contains("memory.usage")
            || key.name.contains("memory.rss")
            || key.name.contains("heap"))
        {
            continue;
        }
        let inst = (!key.instance.is_empty()).then_some(key.instance.as_str());
        for (p, text) in resource_patterns(m, &key.service, inst, range) {
            if p == "memory_leak" && !out.iter().any(|o: &(String, String, String)| o.2 == text) {
                out.push((key.service.clone(), key.instance.clone(), text));
            }
        }
    }
    out
}

/// What a metric measures, judged from the words of its name: how much a move of it says about
/// the node that reports it, and which way is bad.
struct Role {
    what: &'static str,
    weight: f64,
    /// +1: a rise is bad; -1: a fall is bad; 0: either.
    bad: i8,
}

fn metric_role(name: &str) -> Role {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |ws: &[&str]| words.iter().any(|w| ws.contains(w));
    if has(&["latency", "duration", "rtt"]) {
        if has(&["client", "outbound", "downstream"]) {
            Role { what: "latency of its calls", weight: 0.3, bad: 1 }
        } else {
            Role { what: "latency", weight: 1.0, bad: 1 }
        }
    } else if has(&["cpu"]) {
        if has(&["node", "host", "system", "machine"]) {
            Role { what: "CPU of its host", weight: 0.3, bad: 1 }
        } else {
            Role { what: "CPU", weight: 0.8, bad: 1 }
        }
    } else if has(&["error", "errors", "failed", "failures", "failure"]) {
        Role { what: "errors", weight: 0.8, bad: 1 }
    } else if has(&["success"]) {
        Role { what: "success rate", weight: 0.8, bad: -1 }
    } else if has(&["memory", "mem", "heap", "rss"]) {
        Role { what: "memory", weight: 0.4, bad: 1 }
    } else {
        Role { what: "other", weight: 0.15, bad: 0 }
    }
}

/// A node whose own metrics moved the bad way during the incident.
#[derive(Debug, Clone)]
pub struct MetricSuspect {
    pub service: String,
    pub instance: String,
    /// 0..1: how far the metric moved (in baseline deviations, saturating at 100) times what a
    /// move of that metric says about the node itself.
    pub strength: f64,
    /// `latency`, `CPU`, `errors`, ...
    pub what: &'static str,
    pub text: String,
}

/// A series' baseline values: those in the baseline window, or, when it holds fewer than three
/// (metrics are sparse: one point a minute), the last ten points before the incident.
fn baseline_values(s: &[(i64, f64)], baseline: (i64, i64), incident: (i64, i64)) -> Vec<f64> {
    let b = window_values(s, baseline);
    if b.len() >= 3 {
        return b;
    }
    let before: Vec<f64> = s.iter().filter(|p| p.0 < incident.0).map(|p| p.1).collect();
    before[before.len().saturating_sub(10)..].to_vec()
}

/// The strongest bad move of each service's metrics, strongest first.
/// The share of the new level that stands in for the deviation of a baseline flat at zero: a move
/// from nothing is at most 1 / FLAT_ZERO_SHARE = 10 deviations, big but not certain.
const FLAT_ZERO_SHARE: f64 = 0.1;

pub fn metric_suspects(m: &MetricTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<MetricSuspect> {
    // Instances of a service on which a metric moved, to pin an instance only when it stands alone.
    let mut moved_on: HashMap<(&str, &str), usize> = HashMap::new();
    let mut moves = Vec::new();
    for (key, s) in &m.series {
        let (b, i) = (baseline_values(s, baseline, incident), window_values(s, incident));
        if b.len() < 3 || i.is_empty() || key.service.is_empty() {
            continue;
        }
        let role = metric_role(&key.name);
        let (mb, sb, mi) = (mean(&b), std_dev(&b), mean(&i));
        // A flat baseline has no deviation to measure in: a hundredth of the new level stands in;
        // for a baseline flat at zero, a tenth (a rate of rare errors that was zero in a short
        // baseline is not 100 deviations away at its first error).
        let share = if sb == 0.0 && mb == 0.0 { FLAT_ZERO_SHARE } else { 0.01 };
        let z = (mi - mb) / sb.max(0.02 * mb.abs()).max(share * mi.abs()).max(1e-9);
        let z = if role.bad == 0 { z.abs() } else { z * role.bad as f64 };
        if z < 5.0 {
            continue;
        }
        *moved_on.entry((&key.service, &key.name)).or_default() += 1;
        moves.push((key, role, mb, mi, z));
    }
    let mut best: HashMap<&str, MetricSuspect> = HashMap::new();
    for (key, role, mb, mi, z) in moves {
        let strength = role.weight * (z / 100.0).min(1.0);
        if best.get(key.service.as_str()).is_some_and(|x| x.strength >= strength) {
            continue;
        }
        let who = if key.instance.is_empty() { key.service.clone() } else { key.instance.clone() };
        let alone = moved_on.get(&(key.service.as_str(), key.name.as_str())).is_some_and(|&n| n == 1);
        best.insert(
            &key.service,
            MetricSuspect {
                service: key.service.clone(),
                instance: if alone { key.instance.clone() } else { String::new() },
                strength,
                what: role.what,
                text: format!(
                    "{} of {who}: {} -> {} ({} baseline deviations)",
                    key.name,
                    fmt_value(mb),
                    fmt_value(mi),
                    if z >= 1000.0 { "over 1000".to_string() } else { format!("{z:.0}") }
                ),
            },
        );
    }
    let mut out: Vec<MetricSuspect> = best.into_values().collect();
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength).then_with(|| a.service.cmp(&b.service)));
    out
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

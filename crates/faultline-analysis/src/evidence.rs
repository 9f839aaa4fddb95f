//! Evidence about a suspect beyond localisation: the failure words in its messages, the resource
//! patterns its metrics show, and the metrics that moved with the incident.

use crate::inputs::{MetricKey, MetricTable};
use crate::pattern::Pattern;
use crate::stats::{mean, std_dev};

/// Failure words and the patterns they name.
pub fn message_pattern(msg: &str) -> Option<Pattern> {
    let m = msg.to_ascii_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| m.contains(w));
    if has(&["no such host", "nxdomain", "name resolution", "could not resolve", "unknownhost", "dns"]) {
        Some(Pattern::DnsFailure)
    } else if has(&["no space left", "enospc", "disk full", "disk quota"]) {
        Some(Pattern::DiskFull)
    } else if has(&["pool exhausted", "acquiring connection", "acquire connection", "too many connections"]) {
        Some(Pattern::ConnectionPoolExhaustion)
    } else if has(&["out of memory", "outofmemory", "oomkilled", "oom-kill", "heap space"]) {
        Some(Pattern::MemoryLeak)
    } else if has(&["exception", "panic", "internal error", "nullpointer", "stack trace", "traceback"]) {
        Some(Pattern::CodeException)
    } else {
        None
    }
}

/// A reference to a metric series, as evidence carries it beside trace and change ids: the query
/// string of `/api/v1/metrics` that reads it (`metric?name=...&service=...&instance=...`).
pub fn metric_ref(name: &str, service: &str, instance: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut r = format!("metric?name={}&service={}", enc(name), enc(service));
    if !instance.is_empty() {
        r.push_str(&format!("&instance={}", enc(instance)));
    }
    r
}

/// Whether an evidence ref names a metric series: a link for the UI and the API, which the text
/// reports leave out (their text names the series already).
pub fn is_metric_ref(r: &str) -> bool {
    r.starts_with("metric?")
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

#[cfg(test)]
#[test]
fn metric_refs_are_query_strings() {
    assert_eq!(
        metric_ref("cpu usage", "cart", "cart-1"),
        "metric?name=cpu%20usage&service=cart&instance=cart-1"
    );
    assert_eq!(metric_ref("a&b=c", "s", ""), "metric?name=a%26b%3Dc&service=s");
}

pub(crate) fn window_values(s: &[(i64, f64)], w: (i64, i64)) -> Vec<f64> {
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
) -> Vec<(Pattern, String)> {
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
                out.push((Pattern::DiskFull, format!("{name} on {who} reached {:.0}%", max * 100.0)));
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
                out.push((Pattern::MemoryLeak, text));
            }
        } else if name.contains("cpu.utilization") {
            let (m, sd) = (mean(&v), std_dev(&v));
            let high = v.iter().filter(|&&x| x >= 0.95 * max).count();
            if m > 0.5 && sd < 0.05 * m.max(1e-9) && high as f64 >= 0.5 * v.len() as f64 {
                out.push((
                    Pattern::CpuSaturation,
                    format!("{name} on {who} flat at {:.0}% (a ceiling)", max * 100.0),
                ));
            }
        } else if name.contains("connection.pending_requests") && mean(&v) >= 1.0 {
            out.push((
                Pattern::ConnectionPoolExhaustion,
                format!("{name} on {who}: {:.0} requests waiting for a connection on average", mean(&v)),
            ));
        }
    }
    out
}

/// A series' baseline values: those in the baseline window, or, when it holds fewer than three
/// (metrics are sparse: one point a minute), the last ten points before the incident.
pub(crate) fn baseline_values(s: &[(i64, f64)], baseline: (i64, i64), incident: (i64, i64)) -> Vec<f64> {
    let b = window_values(s, baseline);
    if b.len() >= 3 {
        return b;
    }
    let before: Vec<f64> = s.iter().filter(|p| p.0 < incident.0).map(|p| p.1).collect();
    before[before.len().saturating_sub(10)..].to_vec()
}

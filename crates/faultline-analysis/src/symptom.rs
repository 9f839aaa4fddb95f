//! Defining the problem: per user-facing endpoint, RED series; the change point where errors or slow
//! requests rose, to the second; the incident and baseline windows; the trend.

use crate::change::{dispersion, error_rate_segment, error_rate_shift, Shift};
use crate::graph::Graph;
use crate::red::Bucket;
use crate::spans::SpanTable;
use crate::stats::quantile;
use std::collections::BTreeMap;

/// One user-facing endpoint's requests over the analysed range.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub service: u32,
    pub operation: u32,
    /// (start, duration, failed) of each entry span, by start time.
    pub requests: Vec<(i64, i64, bool)>,
}

pub fn endpoints(t: &SpanTable, g: &Graph) -> Vec<Endpoint> {
    type Requests = Vec<(i64, i64, bool)>;
    let mut by: BTreeMap<(u32, u32), Requests> = BTreeMap::new();
    for i in 0..t.len() {
        if g.is_entry(t, i) {
            by.entry((t.service[i], t.operation[i])).or_default().push((
                t.start[i],
                t.duration[i],
                t.error[i],
            ));
        }
    }
    by.into_iter()
        .map(|((service, operation), mut requests)| {
            requests.sort_unstable_by_key(|r| r.0);
            Endpoint { service, operation, requests }
        })
        .collect()
}

/// Each service's own time, as series the onset search reads like endpoints' (one per service,
/// `operation` [`OWN_TIME`]): a point for each request it answered, the time it spent itself in
/// that request's spans of its own (the answering span and the spans below it in the same service,
/// client spans included, so a delay on its outgoing calls counts as its own). A delay in a
/// service few user-facing requests cross shows here while no endpoint's latency moves.
pub fn own_time_series(t: &SpanTable, g: &Graph) -> Vec<Endpoint> {
    let mut by: BTreeMap<u32, Vec<(i64, i64, bool)>> = BTreeMap::new();
    let mut stack = Vec::new();
    for i in 0..t.len() {
        if !g.answers_request(t, i) {
            continue;
        }
        by.entry(t.service[i]).or_default().push((t.start[i], request_own_time(t, g, i, &mut stack), false));
    }
    by.into_iter()
        .map(|(service, mut requests)| {
            requests.sort_unstable_by_key(|r| r.0);
            Endpoint { service, operation: OWN_TIME, requests }
        })
        .collect()
}

/// The own time of the request span `i` answers: its self time and that of its descendants in the
/// same service. `stack` is scratch space.
pub fn request_own_time(t: &SpanTable, g: &Graph, i: usize, stack: &mut Vec<u32>) -> i64 {
    let (mut own, svc) = (0, t.service[i]);
    stack.push(i as u32);
    while let Some(j) = stack.pop() {
        own += g.self_time(t, j as usize);
        stack.extend(g.children(j as usize).iter().filter(|&&c| t.service[c as usize] == svc));
    }
    own
}

/// The `operation` of an own-time series ([`own_time_series`]): no operation's name.
pub const OWN_TIME: u32 = u32::MAX;

/// The user-facing endpoints, their requests' failures read from the logs where the spans carry
/// none: an endpoint none of whose spans ever failed (no status, no HTTP or gRPC code, no
/// exception event: errors only in the logs) counts a request as failed when its service logged an
/// error in the request's trace. `log_traces` is each log record's trace.
pub fn endpoints_with_logs(
    t: &SpanTable,
    g: &Graph,
    logs: &crate::inputs::LogTable,
    log_traces: &[Option<[u8; 16]>],
) -> Vec<Endpoint> {
    let mut eps = endpoints(t, g);
    if eps.iter().all(|e| e.requests.iter().any(|r| r.2)) {
        return eps;
    }
    // (trace, service name) pairs where the service logged an error.
    let mut logged: crate::hash::HashSet<([u8; 16], &str)> = crate::hash::HashSet::default();
    for (k, tr) in log_traces.iter().enumerate() {
        if let (Some(tr), true) = (tr, logs.error[k]) {
            logged.insert((*tr, logs.names.name(logs.service[k])));
        }
    }
    if logged.is_empty() {
        return eps;
    }
    let silent: crate::hash::HashSet<(u32, u32)> =
        eps.iter().filter(|e| !e.requests.iter().any(|r| r.2)).map(|e| (e.service, e.operation)).collect();
    flag_requests(&mut eps, t, g, |i| {
        silent.contains(&(t.service[i], t.operation[i]))
            && logged.contains(&(t.trace_id[i], t.names.name(t.service[i])))
    });
    eps
}

/// The endpoints' requests flagged when a warning or an error was logged in their trace (by any
/// service), in the same order as `eps`; empty when no such record is joined to a trace. The
/// flag stands where `failed` stands, so a rise of it is found as a rise of errors is.
pub fn endpoints_with_warnings(
    eps: &[Endpoint],
    t: &SpanTable,
    g: &Graph,
    logs: &crate::inputs::LogTable,
    log_traces: &[Option<[u8; 16]>],
) -> Vec<Endpoint> {
    let warned: crate::hash::HashSet<[u8; 16]> = log_traces
        .iter()
        .enumerate()
        .filter_map(|(k, tr)| tr.filter(|_| logs.warn[k] || logs.error[k]))
        .collect();
    if warned.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Endpoint> = eps
        .iter()
        .map(|e| Endpoint {
            service: e.service,
            operation: e.operation,
            requests: e.requests.iter().map(|r| (r.0, r.1, false)).collect(),
        })
        .collect();
    flag_requests(&mut out, t, g, |i| warned.contains(&t.trace_id[i]));
    out
}

/// Flags (as failed) the requests whose entry span `flag` picks.
fn flag_requests(eps: &mut [Endpoint], t: &SpanTable, g: &Graph, flag: impl Fn(usize) -> bool) {
    let mut flagged: BTreeMap<(u32, u32), Vec<i64>> = BTreeMap::new();
    for i in 0..t.len() {
        if g.is_entry(t, i) && flag(i) {
            flagged.entry((t.service[i], t.operation[i])).or_default().push(t.start[i]);
        }
    }
    for e in eps.iter_mut() {
        let Some(starts) = flagged.get_mut(&(e.service, e.operation)) else { continue };
        starts.sort_unstable();
        for r in e.requests.iter_mut() {
            if starts.binary_search(&r.0).is_ok() {
                r.2 = true;
            }
        }
    }
}

/// Requests of all endpoints that started in `[w.0, w.1)`.
pub fn requests_in(eps: &[Endpoint], w: (i64, i64)) -> usize {
    eps.iter()
        .map(|e| e.requests.partition_point(|r| r.0 < w.1) - e.requests.partition_point(|r| r.0 < w.0))
        .sum()
}

/// Start of the earliest of the last `n` requests before `end` over all endpoints (of all of them
/// when there are fewer), `None` when there are none.
pub fn start_of_last(eps: &[Endpoint], end: i64, n: usize) -> Option<i64> {
    let mut starts: Vec<i64> = eps
        .iter()
        .flat_map(|e| {
            let k = e.requests.partition_point(|r| r.0 < end);
            e.requests[k.saturating_sub(n)..k].iter().map(|r| r.0)
        })
        .collect();
    if starts.is_empty() {
        return None;
    }
    starts.sort_unstable_by(|a, b| b.cmp(a));
    Some(starts[starts.len().min(n) - 1])
}

/// What rose: errors or slow requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Errors,
    Latency,
}

/// A significant rise at one endpoint.
#[derive(Debug, Clone)]
pub struct Rise {
    pub endpoint: usize,
    pub signal: Signal,
    /// Onset, unix ns (to the second where the data allows).
    pub onset: i64,
    pub shift: Shift,
    /// Slow threshold used for latency (ns).
    pub slow_ns: i64,
    /// Where it ended, for a rise that came and went within the range.
    pub end: Option<i64>,
}

impl Endpoint {
    /// Counts per bucket of `[from, to)`: (events, requests), where an event is a failure or, for
    /// latency, a request slower than `slow_ns`.
    pub fn buckets(&self, signal: Signal, slow_ns: i64, from: i64, to: i64, step: i64) -> Vec<Bucket> {
        let n = ((to - from + step - 1) / step).max(1) as usize;
        let mut out: Vec<Bucket> =
            (0..n).map(|k| Bucket { start: from + k as i64 * step, ..Bucket::default() }).collect();
        let lo = self.requests.partition_point(|r| r.0 < from);
        for &(s, d, failed) in &self.requests[lo..] {
            if s >= to {
                break;
            }
            let b = &mut out[((s - from) / step) as usize];
            b.count += 1;
            b.errors += match signal {
                Signal::Errors => failed as u64,
                Signal::Latency => (d > slow_ns) as u64,
            };
        }
        out
    }

    /// The durations of the requests in `[from, to)` that did not fail: a failed request's time says
    /// how fast it failed (a refused connection fails in microseconds), not how slow the system was,
    /// and one such outlier would split the rest off as "slow".
    pub fn answered_durations(&self, from: i64, to: i64) -> Vec<i64> {
        self.requests.iter().filter(|r| r.0 >= from && r.0 < to && !r.2).map(|r| r.1).collect()
    }

    /// The p-quantile of durations of requests in `[from, to)`.
    pub fn duration_quantile(&self, from: i64, to: i64, p: f64) -> i64 {
        let mut d: Vec<i64> = self.requests.iter().filter(|r| r.0 >= from && r.0 < to).map(|r| r.1).collect();
        d.sort_unstable();
        quantile(&d, p)
    }

    pub fn error_rate(&self, from: i64, to: i64) -> (f64, usize) {
        let (mut e, mut n) = (0usize, 0usize);
        for r in self.requests.iter().filter(|r| r.0 >= from && r.0 < to) {
            n += 1;
            e += r.2 as usize;
        }
        (if n == 0 { 0.0 } else { e as f64 / n as f64 }, n)
    }
}

/// Where the slow thresholds of [`find_rises`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// A stretch known to be healthy (a baseline given or found before the window).
    Healthy(i64, i64),
    /// A stretch only guessed to be healthy (the start of a window with nothing before it): the
    /// incident may already be in it, so its percentiles may be the incident's own.
    Guessed(i64, i64),
}

/// Finds significant rises of errors or slow requests over `[from, to)` in buckets of `step`;
/// the slow thresholds of each endpoint are its p99 and p90 over the reference and, when the
/// reference is only guessed, the split of its durations in the range into a fast and a slow group
/// (a delay that began before the guessed reference ended makes its percentiles slow already).
pub fn find_rises(eps: &[Endpoint], from: i64, to: i64, step: i64, reference: Reference) -> Vec<Rise> {
    let (Reference::Healthy(r0, r1) | Reference::Guessed(r0, r1)) = reference;
    let mut out = Vec::new();
    for (k, ep) in eps.iter().enumerate() {
        let total = ep.requests.iter().filter(|r| r.0 >= from && r.0 < to).count();
        if total < MIN_BUCKETED_REQUESTS {
            out.extend(small_rise(k, ep, from, to));
            continue;
        }
        let p99 = ep.duration_quantile(r0, r1, 0.99).max(1);
        let p90 = ep.duration_quantile(r0, r1, 0.90).max(1);
        let split_ns = match reference {
            Reference::Guessed(..) => crate::stats::slow_split(&ep.answered_durations(from, to)),
            Reference::Healthy(..) => None,
        };
        // Errors; requests slower than the reference's p99 (a tail that grew); and slower than its
        // p90 (the bulk of the requests got slower), each with how big a rise must be; slower
        // than the split, as the p90 is.
        let mut best_latency: Option<Rise> = None;
        let stretch_min_buckets = ((STRETCH_MIN_NS + step - 1) / step).max(1) as usize;
        let signals = [
            (Signal::Errors, 0, 0.01, 2.0),
            (Signal::Latency, p99, 0.04, 3.0),
            (Signal::Latency, p90, 0.2, 2.5),
        ];
        let split = split_ns.map(|th| (Signal::Latency, th, 0.2, 2.5));
        for (signal, slow_ns, min_abs, min_ratio) in signals.into_iter().chain(split) {
            let buckets = ep.buckets(signal, slow_ns, from, to, step);
            let big = |before: f64, after: f64| after - before >= min_abs && after >= before * min_ratio;
            // A step (it started and goes on), or a stretch (it started, then ended) when that
            // describes the series clearly better.
            let events = |a: usize, b: usize| buckets[a..b].iter().map(|b| b.errors).sum::<u64>();
            // Both must pass their bar on a z corrected for the series' own burstiness (their
            // raw z still ranks them: it is the size of the change, not only its certainty).
            let calm = |z: f64, cuts: &[usize]| z.abs() / dispersion(&buckets, cuts).sqrt();
            let step_shift = error_rate_shift(&buckets, STEP_MIN_SIDE, STEP_MIN_Z)
                .filter(|s| calm(s.z, &[s.index]) >= STEP_MIN_Z)
                .filter(|s| big(s.before, s.after) && events(s.index, buckets.len()) >= MIN_RISE_EVENTS);
            let stretch = error_rate_segment(&buckets, stretch_min_buckets, STRETCH_MIN_Z)
                .filter(|g| calm(g.z, &[g.start, g.end]) >= STRETCH_MIN_Z)
                .filter(|g| g.end < buckets.len() && big(g.outside, g.inside))
                .filter(|g| events(g.start, g.end) >= MIN_RISE_EVENTS)
                .filter(|g| elevated_ns(&buckets[g.start..g.end], g, step) >= STRETCH_MIN_NS)
                .filter(|g| step_shift.is_none_or(|s| g.z > 1.15 * s.z.abs()));
            let (shift, end) = match (stretch, step_shift) {
                (Some(g), _) => (
                    Shift { index: g.start, before: g.outside, after: g.inside, z: g.z },
                    Some(from + g.end as i64 * step),
                ),
                (None, Some(s)) => (s, None),
                (None, None) => continue,
            };
            let coarse = from + shift.index as i64 * step;
            let onset = refine_onset(ep, signal, slow_ns, coarse, step).unwrap_or(coarse);
            let rise = Rise { endpoint: k, signal, onset, shift, slow_ns, end };
            match signal {
                Signal::Errors => out.push(rise),
                Signal::Latency => {
                    if best_latency.as_ref().is_none_or(|b| rise.shift.z > b.shift.z) {
                        best_latency = Some(rise);
                    }
                }
            }
        }
        out.extend(best_latency);
    }
    out
}

/// Least z of a step in bucketed rates: one of about sixty splits of each of a few signals of
/// every endpoint, so far beyond the usual 2-3 (a healthy system of hundreds of endpoints makes
/// thousands of tries an investigation).
const STEP_MIN_Z: f64 = 5.0;
/// Buckets a step needs on each side: a change in the last two buckets is not yet a change.
const STEP_MIN_SIDE: usize = 3;
/// Least z of a stretch (a rise that came and went): one of n^2/2 candidates against a step's n,
/// so a stricter bar (a lone noisy bucket of a quiet endpoint must not pass for an incident).
const STRETCH_MIN_Z: f64 = 6.5;

/// Shortest rise that came and went for an incident: a burst of failures or slow requests within
/// half a minute is a hiccup (a pause, a reconnect, a queue that filled and drained), which
/// burn-rate alerting deliberately does not page for; a run of such hiccups is a step.
const STRETCH_MIN_NS: i64 = 30_000_000_000;

/// How long a stretch's rate was actually up: its buckets above the midpoint of its rate and the
/// rest's (a lone burst makes a stretch of any length look high on average).
fn elevated_ns(stretch: &[Bucket], g: &crate::change::Segment, step: i64) -> i64 {
    let mid = (g.inside + g.outside) / 2.0;
    stretch.iter().filter(|b| b.count > 0 && b.errors as f64 > mid * b.count as f64).count() as i64 * step
}

/// Fewest failing (or slow) requests a rise must hold: on a quiet endpoint one noise error among
/// nine requests in a bucket has a z of 17 against a clean hour, but a single error is not an
/// incident; noise at 0.2% gives one or two in a stretch, a fault gives dozens.
pub const MIN_RISE_EVENTS: u64 = 5;

/// Requests an endpoint needs in the range for its onset to be found from bucketed rates (sixty
/// buckets, one request each on average); below it, requests are taken one by one.
pub const MIN_BUCKETED_REQUESTS: usize = 60;
/// Fewest requests on each side of a change taken request by request: one is an accident.
const SMALL_MIN_SIDE: usize = 2;
/// Least z of a change taken request by request. A handful of requests never reaches the bucketed
/// bar (5): two normal requests then seven slow ones give z = 3.0.
const SMALL_MIN_Z: f64 = 2.8;
/// Fewest failing or slow requests after such a change: one failure or two slow requests at the
/// end of a quiet healthy window are accidents (a healthy system's background errors, its tail),
/// not an onset.
const SMALL_MIN_EVENTS: u64 = 3;
/// Least rise of the share of failing or slow requests across such a change: on a few requests only
/// a change of most of them is one (a random run of slow requests in a healthy endpoint shifts the
/// share by far less).
const SMALL_MIN_SHIFT: f64 = 0.5;

/// Slow requests before a change taken request by request that make the slow path a known one:
/// one, as a healthy endpoint with two kinds of requests (a cache miss, a heavier path) shows its
/// slow kind now and then, and three of it at the end of a quiet window are chance (few-traces
/// tuning seed 4 case 55's healthy twin: one request of 52 ms among thirteen, then 36, 37 and 56
/// ms among the last three, called an incident in all three protocols).
const SMALL_USUAL_SLOW: usize = 1;
/// How much slower than the known slow path (the medians of the slow requests on each side) the
/// slow requests after such a change must be to be a new one: a delay added to the requests, not
/// their usual slow kind; the same 1.3 a node's own p95 must grow by to count as slower
/// (`localise::anomaly`).
const SMALL_MIN_SLOWDOWN: f64 = 1.3;

/// The rise of an endpoint with few requests (a quiet system, a short window), request by request:
/// the best split of its sequence of outcomes (failed; slower than its slow group's threshold).
fn small_rise(k: usize, ep: &Endpoint, from: i64, to: i64) -> Vec<Rise> {
    let reqs: Vec<&(i64, i64, bool)> = ep.requests.iter().filter(|r| r.0 >= from && r.0 < to).collect();
    if reqs.len() < 2 * SMALL_MIN_SIDE {
        return Vec::new();
    }
    let slow_ns = crate::stats::slow_split(&ep.answered_durations(from, to));
    let mut out = Vec::new();
    for signal in [Signal::Errors, Signal::Latency] {
        let th = match (signal, slow_ns) {
            (Signal::Errors, _) => 0,
            (Signal::Latency, Some(th)) => th,
            (Signal::Latency, None) => continue,
        };
        let buckets: Vec<Bucket> = reqs
            .iter()
            .map(|r| Bucket {
                start: r.0,
                count: 1,
                errors: match signal {
                    Signal::Errors => r.2 as u64,
                    Signal::Latency => (r.1 > th) as u64,
                },
                ..Bucket::default()
            })
            .collect();
        let Some(shift) = error_rate_shift(&buckets, SMALL_MIN_SIDE, SMALL_MIN_Z) else { continue };
        let events: u64 = buckets[shift.index..].iter().map(|b| b.errors).sum();
        if shift.after - shift.before < SMALL_MIN_SHIFT || events < SMALL_MIN_EVENTS {
            continue;
        }
        if signal == Signal::Latency && usual_slow_path(&reqs, shift.index, th) {
            continue;
        }
        out.push(Rise {
            endpoint: k,
            signal,
            onset: buckets[shift.index].start,
            shift,
            slow_ns: th,
            end: None,
        });
    }
    out
}

/// Whether the slow requests after `split` are the endpoint's usual slow path, met again by chance:
/// the requests before it had slow ones too (`SMALL_USUAL_SLOW`), and those after are not
/// `SMALL_MIN_SLOWDOWN` times slower (medians of the answered requests above `th`, each side).
fn usual_slow_path(reqs: &[&(i64, i64, bool)], split: usize, th: i64) -> bool {
    let slow = |side: &[&(i64, i64, bool)]| {
        let mut d: Vec<i64> = side.iter().filter(|r| !r.2 && r.1 > th).map(|r| r.1).collect();
        d.sort_unstable();
        d
    };
    let (before, after) = (slow(&reqs[..split]), slow(&reqs[split..]));
    if before.len() < SMALL_USUAL_SLOW || after.is_empty() {
        return false;
    }
    (quantile(&after, 0.5) as f64) < SMALL_MIN_SLOWDOWN * quantile(&before, 0.5) as f64
}

/// The onset to the second: the best split of one-second buckets around the coarse onset.
fn refine_onset(ep: &Endpoint, signal: Signal, slow_ns: i64, coarse: i64, step: i64) -> Option<i64> {
    const SECOND: i64 = 1_000_000_000;
    if step <= SECOND {
        return None;
    }
    let (from, to) = (coarse - 2 * step, coarse + 2 * step);
    let b = ep.buckets(signal, slow_ns, from, to, SECOND);
    let s = error_rate_shift(&b, 5, 3.0)?;
    (s.after > s.before).then(|| from + s.index as i64 * SECOND)
}

/// Where a rise ends: the start of the run of buckets, at the end of the range, that are back
/// below the midpoint of before and after (at least three of them), or `None` if it goes on.
pub fn recovery(ep: &Endpoint, rise: &Rise, to: i64, step: i64) -> Option<i64> {
    let b = ep.buckets(rise.signal, rise.slow_ns, rise.onset, to, step);
    let mid = (rise.shift.before + rise.shift.after) / 2.0;
    let mut last_high = None;
    for (k, x) in b.iter().enumerate() {
        if x.count > 0 && x.error_rate() > mid {
            last_high = Some(k);
        }
    }
    let k = last_high? + 1;
    (b.len() - k >= 3).then(|| rise.onset + k as i64 * step)
}

/// `worsening`, `steady` or `recovering`, from the first and last third of the incident.
pub fn trend(ep: &Endpoint, rise: &Rise, from: i64, to: i64) -> &'static str {
    let third = (to - from) / 3;
    if third <= 0 {
        return "steady";
    }
    let b = ep.buckets(rise.signal, rise.slow_ns, from, to, third);
    let (a, c) = (&b[0], &b[b.len().min(3) - 1]);
    if a.count == 0 || c.count == 0 {
        return "steady";
    }
    let (ra, rc) = (a.error_rate(), c.error_rate());
    let se = ((ra * (1.0 - ra) / a.count as f64) + (rc * (1.0 - rc) / c.count as f64)).sqrt().max(1e-9);
    let z = (rc - ra) / se;
    if z > 4.0 && rc > ra * 1.25 {
        "worsening"
    } else if z < -4.0 && rc < ra * 0.8 {
        "recovering"
    } else {
        "steady"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn endpoint(durations: &[i64]) -> Endpoint {
        let requests =
            durations.iter().enumerate().map(|(k, &d)| (k as i64 * 1_000_000_000, d * MS, false)).collect();
        Endpoint { service: 0, operation: 0, requests }
    }

    #[test]
    fn an_onset_from_a_handful_of_requests() {
        let ep = endpoint(&[20, 22, 21, 260, 250, 270, 255, 262, 248]);
        let r = find_rises(&[ep], 0, 10_000_000_000, 1_000_000_000, Reference::Healthy(0, 3_000_000_000));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].signal, Signal::Latency);
        assert_eq!(r[0].onset, 3_000_000_000);
    }

    #[test]
    fn one_failure_at_the_end_of_a_quiet_window_is_no_onset() {
        // SMALL_MIN_EVENTS: forty clean requests, then one of the last two fails (a healthy
        // system's background error) ...
        let mut ep = endpoint(&[20; 42]);
        ep.requests[40].2 = true;
        let w = (0, 43_000_000_000);
        assert!(find_rises(&[ep.clone()], w.0, w.1, 1_000_000_000, Reference::Guessed(0, 14_000_000_000))
            .is_empty());
        // ... three of the last four failing is one.
        for k in [38, 39, 41] {
            ep.requests[k].2 = true;
        }
        let r = find_rises(&[ep], w.0, w.1, 1_000_000_000, Reference::Guessed(0, 14_000_000_000));
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].signal, Signal::Errors);
    }

    #[test]
    fn a_known_slow_path_met_again_is_no_onset_and_a_slower_one_is() {
        // SMALL_USUAL_SLOW and SMALL_MIN_SLOWDOWN: one 52 ms request among thirteen of 8-10 ms,
        // then three slow ones at the end, no slower than it, is the endpoint's slow kind ...
        let mut d: Vec<i64> = (0..13).map(|k| 8 + k % 3).collect();
        d[6] = 52;
        let w = (0, 20_000_000_000);
        let known: Vec<i64> = d.iter().copied().chain([36, 37, 56]).collect();
        assert!(
            find_rises(&[endpoint(&known)], w.0, w.1, 1_000_000_000, Reference::Guessed(0, w.1)).is_empty()
        );
        // ... three of 160 ms after it are a delay.
        let slower: Vec<i64> = d.iter().copied().chain([160, 158, 165]).collect();
        let r = find_rises(&[endpoint(&slower)], w.0, w.1, 1_000_000_000, Reference::Guessed(0, w.1));
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].signal, Signal::Latency);
    }

    #[test]
    fn no_onset_in_a_healthy_bimodal_endpoint() {
        // Cache hits and misses, mixed all along: two groups of durations, no change.
        let d: Vec<i64> = (0..50).map(|k| if (k * 7) % 3 == 0 { 80 } else { 8 }).collect();
        let ep = endpoint(&d);
        assert!(find_rises(&[ep], 0, 60_000_000_000, 1_000_000_000, Reference::Healthy(0, 20_000_000_000))
            .is_empty());
    }

    /// An hour at one request a second with `errors` failing requests from the 40th minute on,
    /// one a bucket-width apart.
    fn quiet_endpoint(errors: usize) -> Endpoint {
        let requests = (0..3600)
            .map(|k| {
                let failed = k >= 2400 && k < 2400 + errors * 7 && (k - 2400) % 7 == 0;
                (k as i64 * 1_000_000_000, 20 * MS, failed)
            })
            .collect();
        Endpoint { service: 0, operation: 0, requests }
    }

    /// An endpoint whose bucket `k` of `step` ns holds `series[k]` = (failed, requests), spread
    /// evenly over the bucket.
    fn endpoint_of(series: &[(u64, u64)], step: i64) -> Endpoint {
        let mut requests = Vec::new();
        for (k, &(failed, n)) in series.iter().enumerate() {
            for j in 0..n {
                let t = k as i64 * step + j as i64 * step / n as i64;
                requests.push((t, 20 * MS, j < failed));
            }
        }
        Endpoint { service: 0, operation: 0, requests }
    }

    #[test]
    fn a_burst_shorter_than_half_a_minute_is_not_a_rise() {
        // STRETCH_MIN_NS: eight minutes in 8-second buckets, 0.5% failing; one bucket at 30% is
        // a hiccup, five in a row (40 s) an incident that came and went.
        const STEP: i64 = 8_000_000_000;
        let series = |burst: std::ops::Range<usize>| -> Vec<(u64, u64)> {
            (0..60).map(|k| (if burst.contains(&k) { 120 } else { 2 }, 400)).collect()
        };
        let find = |s: &[(u64, u64)]| {
            find_rises(&[endpoint_of(s, STEP)], 0, 60 * STEP, STEP, Reference::Healthy(0, 20 * STEP))
        };
        let errors = |r: &[Rise]| r.iter().filter(|r| r.signal == Signal::Errors).count();
        assert_eq!(errors(&find(&series(45..46))), 0);
        let rises = find(&series(45..50));
        assert_eq!(errors(&rises), 1);
        assert!(rises[0].end.is_some());
    }

    #[test]
    fn a_step_in_bursty_failures_needs_more_than_in_independent_ones() {
        // The same step from 1.1% to 2.5% failing: from independent failures (9 then 20 a
        // bucket) it is a rise; from bursts (38 in every sixth bucket, 3 in the others, then 80
        // and 8) the dispersion of the series makes it an ordinary swing.
        const STEP: i64 = 8_000_000_000;
        let series = |quiet: u64, burst: u64, after: (u64, u64)| -> Vec<(u64, u64)> {
            (0..60)
                .map(|k| {
                    let (q, b) = if k < 40 { (quiet, burst) } else { after };
                    (if k % 6 == 0 { b } else { q }, 800)
                })
                .collect()
        };
        let find = |s: &[(u64, u64)]| {
            find_rises(&[endpoint_of(s, STEP)], 0, 60 * STEP, STEP, Reference::Healthy(0, 20 * STEP))
                .into_iter()
                .filter(|r| r.signal == Signal::Errors)
                .count()
        };
        assert_eq!(find(&series(9, 9, (20, 20))), 1);
        assert_eq!(find(&series(3, 38, (8, 80))), 0);
    }

    #[test]
    fn a_rise_needs_five_failing_requests() {
        let hour = 3_600_000_000_000;
        let find = |errors| {
            find_rises(&[quiet_endpoint(errors)], 0, hour, hour / 60, Reference::Healthy(0, hour / 2))
        };
        // MIN_RISE_EVENTS: one error, or four, on a clean quiet endpoint is noise however large
        // its z; five close together are a rise.
        assert!(find(1).is_empty());
        assert!(find(4).is_empty());
        assert_eq!(find(5).len(), 1);
    }

    #[test]
    fn failures_come_from_the_logs_only_where_the_spans_never_fail() {
        use crate::detectors::testkit::span;
        use faultline_model::schema::{logs_to_batch, spans_to_batch};
        const SECOND: i64 = 1_000_000_000;
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        for k in 0..20u64 {
            let tr = 500 + k as u128;
            let s = span(tr, 1, None, "shop", 1_800_000_000 * SECOND + k as i64 * SECOND, 10 * MS);
            if k % 4 == 0 {
                logs.push(faultline_model::LogRecord {
                    time_unix_nano: s.start_unix_nano + MS,
                    observed_time_unix_nano: 0,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: "payment declined by upstream".into(),
                    attributes: Default::default(),
                    trace_id: Some(s.trace_id),
                    span_id: None,
                    flags: 0,
                    event_name: String::new(),
                    resource: s.resource.clone(),
                });
            }
            spans.push(s);
        }
        let mut b = crate::spans::SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        let t = b.finish();
        let logs = crate::inputs::LogTable::from_batches(&[logs_to_batch(&logs)]);
        let g = Graph::build(&t);
        let (traces, _) = crate::join::log_traces(&logs, &t);
        let failed = |eps: &[Endpoint]| eps[0].requests.iter().filter(|r| r.2).count();
        assert_eq!(failed(&endpoints_with_logs(&t, &g, &logs, &traces)), 5);
        // Where a span of the endpoint carries a failure, the spans are trusted alone.
        spans[1].status_code = faultline_model::StatusCode::Error;
        let mut b = crate::spans::SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        let t = b.finish();
        assert_eq!(failed(&endpoints_with_logs(&t, &Graph::build(&t), &logs, &traces)), 1);
    }
}

//! Which stretch of the data is the incident, and what it is compared with.
//!
//! One pure function decides it from the request (a window or none, a baseline or none) and the
//! data there is. Three ways of asking are first-class:
//! - no window: the incident is found (the onset of errors or slow requests at the user-facing
//!   endpoints) and compared with a healthy stretch before it;
//! - a window covering all the data: nothing precedes it, so the baseline is the healthy stretch
//!   inside it before the onset;
//! - a narrow window with a baseline elsewhere, before or after it.
//!
//! When an onset has too few requests before it to compare with, the window's failing or slow
//! requests are compared with its other requests. With no onset and nothing before the window, its
//! second half is compared with its first (and the `slow_requests` detector names, as leads, where
//! the slowest requests spend their time). The baseline is never the incident window itself.

use crate::symptom::{self, Endpoint, Rise};
use faultline_model::time::format_rfc3339_secs;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
/// Fewest requests a baseline must hold to be compared with: below it, rates and percentiles of
/// the baseline are noise (one request more or less moves an error rate by 10%).
pub const MIN_BASELINE_REQUESTS: usize = 10;
/// Fewest requests a baseline the user names must hold to be used: the user says it is healthy, and
/// even one or two requests tell each service's usual time well enough to see a delay of many
/// times it (a fault-injection case can hold a few seconds of normal traffic). With none it is
/// found in the data instead. At three, the few-traces cases whose normal traffic held two
/// requests fell back to comparing the slow stretch's requests among themselves, where an endpoint
/// slow in every request has no fast group and its delay sat on the "normal" side (seed 4: slow
/// stretch 0.91 at three, 0.94 at one, healthy twins 0/97 both). The tests that follow are what
/// guards a tiny baseline against chance: each node's growth must pass them.
pub const MIN_GIVEN_BASELINE_REQUESTS: usize = 1;
/// Requests a baseline found in the data should hold: it is stretched back until it does, so a
/// p99 of the baseline rests on a couple of requests above it, not on one.
pub const GOOD_BASELINE_REQUESTS: usize = 200;
/// Buckets the analysed range is cut into for change points: a minute's resolution over an hour.
const BUCKETS: i64 = 60;

/// A half-open stretch of time `[from, to)`, unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
}

impl TimeRange {
    pub fn new(from: i64, to: i64) -> TimeRange {
        TimeRange { from, to }
    }

    pub fn pair(self) -> (i64, i64) {
        (self.from, self.to)
    }

    pub fn is_empty(self) -> bool {
        self.to <= self.from
    }

    /// `from .. to` in RFC 3339 seconds, as notes write ranges.
    pub fn display(self) -> String {
        format!("{} .. {}", format_rfc3339_secs(self.from), format_rfc3339_secs(self.to))
    }
}

/// What the incident is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// A stretch of time: the one given, one before the window, or the healthy stretch inside the
    /// window before the onset.
    Time(TimeRange),
    /// No healthy stretch of time: the window's failing or slow requests against its others.
    Requests,
}

/// What the user asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ask {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub baseline: Option<(i64, i64)>,
}

/// The windows an investigation works on.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The range searched for the symptom and charted.
    pub range: TimeRange,
    /// Bucket width of the symptom's series.
    pub step: i64,
    /// The incident: from the onset (or the window's start) to its end.
    pub incident: TimeRange,
    pub baseline: Baseline,
    /// With no rise at the endpoints, the rise of requests with warnings or errors in their logs
    /// that placed the onset.
    pub log_rise: Option<Rise>,
    /// The user named the window: something is wrong in it.
    pub named: bool,
    /// Significant rises of errors or slow requests at the endpoints, and the strongest.
    pub rises: Vec<Rise>,
    pub main: Option<Rise>,
    pub onset: Option<i64>,
    /// What had to be assumed, for the report's notes.
    pub notes: Vec<String>,
}

impl Plan {
    /// The baseline as a time range for the steps that need one; `None` when requests are compared.
    pub fn baseline_time(&self) -> Option<TimeRange> {
        match self.baseline {
            Baseline::Time(b) => Some(b),
            Baseline::Requests => None,
        }
    }
}

/// The strongest rise.
fn strongest(rises: &[Rise]) -> Option<Rise> {
    rises.iter().max_by(|a, b| a.shift.z.abs().total_cmp(&b.shift.z.abs())).cloned()
}

/// The rises that can place the incident: those whose start was seen, when there are any. A rise
/// found from the range's first bucket on began before the data, or is no rise at all but the fall
/// of its signal where another rose: requests that fail answer fast, so the share of slow requests
/// "was high" from the start until the errors began, an ended stretch as strong as the errors'
/// step. Its onset would put the incident at the start of the data, and leave nothing to compare
/// with. Only when no rise was seen starting does one from the first bucket place the incident.
fn seen_starting(rises: &[Rise]) -> Vec<Rise> {
    let seen: Vec<Rise> = rises.iter().filter(|r| r.shift.index > 0).cloned().collect();
    if seen.is_empty() {
        rises.to_vec()
    } else {
        seen
    }
}

/// The onset: the earliest rise of comparable strength to the strongest (a cascade reaches some
/// endpoints first).
fn earliest_comparable(rises: &[Rise], main: &Rise) -> i64 {
    rises
        .iter()
        .filter(|r| r.shift.z.abs() >= COMPARABLE_RISE * main.shift.z.abs())
        .map(|r| r.onset)
        .min()
        .unwrap_or(main.onset)
}

/// How strong a rise must be, against the strongest, for its earlier onset to be the incident's: a
/// third of the z is the same incident reaching another endpoint first, far less is noise.
const COMPARABLE_RISE: f64 = 0.3;

/// Least growth of a service's median own time for a step in it to place the incident, and least
/// ratio: a few milliseconds more of a service's own time is scheduling, a cache or a collector
/// pause, which nobody on call would chase (a healthy control's service went 1.1 -> 2.6 ms), while
/// the delays that matter add tens of milliseconds or more (a latency injection: 2.9 -> 35 ms).
const OWN_STEP_MIN_NS: i64 = 5_000_000;
const OWN_STEP_MIN_RATIO: f64 = 2.0;

/// Whether rise `r` of an own-time series moved its median by [`OWN_STEP_MIN_NS`] and
/// [`OWN_STEP_MIN_RATIO`]: before the onset against the stretch it lasted.
fn own_step_is_large(series: &Endpoint, r: &Rise, lo: i64, hi: i64) -> bool {
    let before = series.duration_quantile(lo, r.onset, 0.5);
    let after = series.duration_quantile(r.onset, r.end.unwrap_or(hi), 0.5);
    after - before >= OWN_STEP_MIN_NS && after as f64 >= OWN_STEP_MIN_RATIO * before as f64
}

/// Decides the windows. `data` is the first and last span start; `eps` the user-facing endpoints;
/// `warned` the same endpoints with requests flagged by warnings or errors in their logs
/// ([`symptom::endpoints_with_warnings`], may be empty).
pub fn plan(
    ask: &Ask,
    data: (i64, i64),
    eps: &[Endpoint],
    warned: &[Endpoint],
    own: &[Endpoint],
) -> Option<Plan> {
    let (dlo, max_start) = data;
    let hi = ask.to.unwrap_or(max_start + 1);
    // The range the symptom is searched for and drawn over: a given baseline before the window is
    // part of it; else as much again as the window before it.
    let lo = match (ask.from, ask.baseline) {
        (f, Some(b)) if b.1 <= f.unwrap_or(hi) => b.0.max(dlo),
        (Some(f), _) => dlo.max(f - (hi - f)),
        (None, _) => dlo,
    };
    if hi <= lo {
        return None;
    }
    let step = (((hi - lo) / BUCKETS).max(SECOND) / SECOND) * SECOND;
    let mut notes = Vec::new();
    let enough = |w: (i64, i64)| symptom::requests_in(eps, w) >= MIN_BASELINE_REQUESTS;
    let given = match ask.baseline.map(|b| (b, symptom::requests_in(eps, b))) {
        Some((b, n)) if n >= MIN_BASELINE_REQUESTS => Some(b),
        Some((b, n)) if n >= MIN_GIVEN_BASELINE_REQUESTS => {
            notes.push(format!(
                "the baseline {} holds only {n} request{}: its figures are rough",
                TimeRange::new(b.0, b.1).display(),
                if n == 1 { "" } else { "s" }
            ));
            Some(b)
        }
        Some((b, _)) => {
            notes.push(format!(
                "the baseline {} holds fewer than {MIN_GIVEN_BASELINE_REQUESTS} requests: compared with a baseline found in the data instead",
                TimeRange::new(b.0, b.1).display()
            ));
            None
        }
        None => None,
    };
    // The window before `end` of length `len`, stretched back until it holds enough requests to
    // compare with (telemetry with gaps, or little traffic).
    let before = |end: i64, len: i64| -> Option<(i64, i64)> {
        let w = ((end - len).max(dlo), end);
        if symptom::requests_in(eps, w) >= GOOD_BASELINE_REQUESTS {
            return Some(w);
        }
        let start = symptom::start_of_last(eps, end, GOOD_BASELINE_REQUESTS)?;
        let w = (start.min(w.0), end);
        enough(w).then_some(w)
    };
    let outside = ask.from.and_then(|f| given.or_else(|| before(f, (hi - f).min(HOUR))));
    // The slow thresholds come from the baseline; with none outside the window, from its first
    // third (the onset search then tells where it actually ends).
    let reference = match given.or(outside) {
        Some(b) => symptom::Reference::Healthy(b.0, b.1),
        None => match ask.from {
            Some(f) if f > lo => symptom::Reference::Guessed(lo, f),
            _ => symptom::Reference::Guessed(lo, lo + (hi - lo) / 3),
        },
    };
    let rises_in = |eps: &[Endpoint]| {
        let mut rises = symptom::find_rises(eps, lo, hi, step, reference);
        if let Some(f) = ask.from {
            rises.retain(|r| r.onset >= f - 2 * step);
        }
        rises
    };
    let rises = rises_in(eps);
    let main = strongest(&seen_starting(&rises));
    // Nothing rose at the endpoints: a rise of requests with warnings or errors in their logs (a
    // wrong answer the caller gave up on, an exception handled and logged) places the incident.
    let log_rises: Vec<Rise> = match main {
        Some(_) => Vec::new(),
        None => rises_in(warned).into_iter().filter(|r| r.signal == symptom::Signal::Errors).collect(),
    };
    let log_rise = strongest(&seen_starting(&log_rises));
    // Nor in the logs: a step in one service's own time (a delay few requests cross, too small
    // for any endpoint's latency) places the incident, if a healthy stretch precedes it to compare
    // with: without one, a step in a few spans' own time is as likely the data's first minutes.
    // Only series with the requests for bucketed rates: a few dozen spans' own time, tried for
    // every service, gives some step by chance (a healthy control's, z 3.5 from 0.32 to 1.0).
    let own: Vec<Endpoint> = match (&main, &log_rise) {
        (None, None) => own
            .iter()
            .filter(|e| {
                symptom::requests_in(std::slice::from_ref(*e), (lo, hi)) >= symptom::MIN_BUCKETED_REQUESTS
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let own_rises: Vec<Rise> = rises_in(&own)
        .into_iter()
        .filter(|r| r.signal == symptom::Signal::Latency && enough((lo, r.onset)))
        .filter(|r| own_step_is_large(&own[r.endpoint], r, lo, hi))
        .collect();
    let own_rise = strongest(&seen_starting(&own_rises));
    // The rise that places the incident, the series it was found on, and its fellow rises.
    let (lead, lead_eps, lead_rises) = match (&main, &log_rise, &own_rise) {
        (Some(m), _, _) => (Some(m), eps, &rises),
        (None, Some(r), _) => (Some(r), warned, &log_rises),
        (None, None, r) => (r.as_ref(), own.as_slice(), &own_rises),
    };
    let onset = lead.map(|m| earliest_comparable(&seen_starting(lead_rises), m));
    for r in lead_rises {
        tracing::debug!(
            endpoint = r.endpoint,
            signal = ?r.signal,
            onset = %format_rfc3339_secs(r.onset),
            z = r.shift.z,
            before = r.shift.before,
            after = r.shift.after,
            end = ?r.end.map(format_rfc3339_secs),
            "rise"
        );
    }
    if let (Some(r), Some(on)) = (&log_rise, onset) {
        notes.push(format!(
            "no change in user-facing errors or latency; requests with warnings or errors in their logs rose from {:.1}% to {:.1}% at {}: the incident starts there",
            100.0 * r.shift.before,
            100.0 * r.shift.after,
            format_rfc3339_secs(on)
        ));
    }
    if let (Some(r), Some(on)) = (&own_rise, onset) {
        notes.push(format!(
            "no change in user-facing errors or latency; one service's own time stepped up at {} (requests slower than {:.1} ms: {:.1}% -> {:.1}%): the incident starts there",
            format_rfc3339_secs(on),
            r.slow_ns as f64 / 1e6,
            100.0 * r.shift.before,
            100.0 * r.shift.after,
        ));
    }
    let end_of = |on: i64| {
        lead.and_then(|m| m.end.or_else(|| symptom::recovery(&lead_eps[m.endpoint], m, hi, step)))
            .unwrap_or(hi)
            .max(on + 1)
    };
    let (incident, baseline) = match (ask.from, outside, onset) {
        (Some(f), Some(b), _) => ((f, hi), Baseline::Time(TimeRange::new(b.0, b.1))),
        (Some(f), None, Some(on)) if on > f && enough((f, on)) => {
            notes.push(format!(
                "nothing healthy before the window: its stretch before the onset ({}) is the baseline",
                TimeRange::new(f, on).display()
            ));
            ((on, end_of(on)), Baseline::Time(TimeRange::new(f, on)))
        }
        (Some(f), None, Some(on)) => {
            notes.push(format!(
                "fewer than {MIN_BASELINE_REQUESTS} requests before the onset and nothing before the window: the window's failing or slow requests are compared with its other requests"
            ));
            ((f.min(on), hi), Baseline::Requests)
        }
        (Some(f), None, None) => {
            let mid = f + (hi - f) / 2;
            notes.push("nothing before the window and no onset at its endpoints: its second half is compared with its first".to_string());
            ((mid, hi), Baseline::Time(TimeRange::new(f, mid)))
        }
        (None, _, Some(on)) => match given.or_else(|| before(on, HOUR)) {
            Some(b) => ((on, end_of(on)), Baseline::Time(TimeRange::new(b.0, b.1))),
            // As in a window over all the data: the requests before the onset are too few to
            // compare with, so the failing or slow requests are compared with all the others.
            None => {
                notes.push(format!(
                    "fewer than {MIN_BASELINE_REQUESTS} requests before the onset: the failing or slow requests are compared with the other requests"
                ));
                ((lo, end_of(on)), Baseline::Requests)
            }
        },
        (None, _, None) => {
            match given {
                Some(b) => ((lo, hi), Baseline::Time(TimeRange::new(b.0, b.1))),
                // Nothing rose: the later half is compared with the earlier, so that a component
                // that changed without hurting users still shows.
                None => {
                    let mid = lo + (hi - lo) / 2;
                    ((mid, hi), Baseline::Time(TimeRange::new(lo, mid)))
                }
            }
        }
    };
    Some(Plan {
        log_rise,
        range: TimeRange::new(lo, hi),
        step,
        incident: TimeRange::new(incident.0, incident.1),
        baseline,
        named: ask.from.is_some() || ask.to.is_some(),
        rises,
        main,
        onset,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One endpoint with a request every second over `[0, n)` s; those from `bad_from` on fail.
    fn endpoint(n: i64, bad_from: i64) -> Vec<Endpoint> {
        let requests = (0..n).map(|k| (k * SECOND, 10_000_000, k >= bad_from)).collect();
        vec![Endpoint { service: 0, operation: 0, requests }]
    }

    #[test]
    fn a_window_over_all_the_data_compares_with_its_stretch_before_the_onset() {
        let eps = endpoint(2400, 1500);
        let ask = Ask { from: Some(0), to: Some(2400 * SECOND), baseline: None };
        let p = plan(&ask, (0, 2399 * SECOND), &eps, &[], &[]).unwrap();
        let on = p.onset.unwrap();
        assert!((on - 1500 * SECOND).abs() <= 60 * SECOND, "onset {on}");
        assert_eq!(p.incident.from, on);
        assert_eq!(p.baseline, Baseline::Time(TimeRange::new(0, on)));
    }

    #[test]
    fn with_nothing_rising_at_the_endpoints_warnings_in_the_logs_place_the_incident() {
        // No error and no delay; from 900 s to 1320 s a third of the requests log a warning (a
        // wrong answer the caller gave up on), and the window covers all the data.
        let eps = endpoint(2700, i64::MAX);
        let mut warned = eps.clone();
        for (k, r) in warned[0].requests.iter_mut().enumerate() {
            r.2 = (900..1320).contains(&k) && k % 3 == 0;
        }
        let ask = Ask { from: Some(0), to: Some(2700 * SECOND), baseline: None };
        let p = plan(&ask, (0, 2699 * SECOND), &eps, &warned, &[]).unwrap();
        assert!(p.main.is_none() && p.log_rise.is_some());
        let on = p.onset.unwrap();
        assert!((on - 900 * SECOND).abs() <= 60 * SECOND, "onset {on}");
        assert!((p.incident.to - 1320 * SECOND).abs() <= 60 * SECOND, "end {}", p.incident.to);
        assert_eq!(p.baseline, Baseline::Time(TimeRange::new(0, on)));
        // The halves (the first 1350 s against the rest) would have compared the fault with
        // healthy time. With a rise at the endpoints, the logs are not consulted.
        let failing = endpoint(2700, 1500);
        let p = plan(&ask, (0, 2699 * SECOND), &failing, &warned, &[]).unwrap();
        assert!(p.main.is_some() && p.log_rise.is_none());
        // A steady share of warnings is no rise.
        for (k, r) in warned[0].requests.iter_mut().enumerate() {
            r.2 = k % 7 == 0;
        }
        let p = plan(&ask, (0, 2699 * SECOND), &eps, &warned, &[]).unwrap();
        assert!(p.onset.is_none() && p.log_rise.is_none());
    }

    #[test]
    fn with_nothing_rising_at_the_endpoints_or_in_the_logs_a_services_own_time_places_the_incident() {
        // A service called by one request in three (a 0.3/s series) spends 3 ms of its own, then
        // from 1020 s to 1320 s 35 ms: the endpoint's latency hardly moves (its 10 ms are the
        // caller's, the delay a small share of requests), and the window covers all the data.
        let eps = endpoint(2700, i64::MAX);
        let jitter = |k: i64| (k * 7919 % 13) * 100_000;
        let own_ms = |k: i64| if (1020..1320).contains(&k) { 35_000_000 } else { 3_000_000 };
        let requests = (0..2700).filter(|k| k % 3 == 0).map(|k| (k * SECOND, own_ms(k) + jitter(k), false));
        let own = vec![Endpoint { service: 1, operation: symptom::OWN_TIME, requests: requests.collect() }];
        let ask = Ask { from: Some(0), to: Some(2700 * SECOND), baseline: None };
        let p = plan(&ask, (0, 2699 * SECOND), &eps, &[], &own).unwrap();
        assert!(p.main.is_none() && p.log_rise.is_none());
        let on = p.onset.expect("the own-time step places the incident");
        assert!((on - 1020 * SECOND).abs() <= 60 * SECOND, "onset {on}");
        assert!((p.incident.to - 1320 * SECOND).abs() <= 60 * SECOND, "end {}", p.incident.to);
        assert_eq!(p.baseline, Baseline::Time(TimeRange::new(0, on)));
        // The same service with the same jitter and no step: no onset (the halves are compared).
        let calm = (0..2700).filter(|k| k % 3 == 0).map(|k| (k * SECOND, 3_000_000 + jitter(k), false));
        let own = vec![Endpoint { service: 1, operation: symptom::OWN_TIME, requests: calm.collect() }];
        let p = plan(&ask, (0, 2699 * SECOND), &eps, &[], &own).unwrap();
        assert!(p.onset.is_none(), "{:?}", p.onset);
        // A step of a millisecond and a half (1.1 -> 2.6 ms) is no incident, however clear.
        let small = |k: i64| if k >= 1020 { 2_600_000 } else { 1_100_000 };
        let requests =
            (0..2700).filter(|k| k % 3 == 0).map(|k| (k * SECOND, small(k) + jitter(k) / 10, false));
        let own = vec![Endpoint { service: 1, operation: symptom::OWN_TIME, requests: requests.collect() }];
        let p = plan(&ask, (0, 2699 * SECOND), &eps, &[], &own).unwrap();
        assert!(p.onset.is_none(), "{:?}", p.onset);
        // Forty spans in all, however clear their step: too few to tell a step from chance.
        let few = (0..2700).filter(|k| k % 67 == 0).map(|k| (k * SECOND, own_ms(k) * 3 + jitter(k), false));
        let own = vec![Endpoint { service: 1, operation: symptom::OWN_TIME, requests: few.collect() }];
        assert!(own[0].requests.len() < symptom::MIN_BUCKETED_REQUESTS);
        let p = plan(&ask, (0, 2699 * SECOND), &eps, &[], &own).unwrap();
        assert!(p.onset.is_none(), "{:?}", p.onset);
        // A rise at the endpoints leads: own time is not consulted.
        let p = plan(&ask, (0, 2699 * SECOND), &endpoint(2700, 1500), &[], &own).unwrap();
        assert!(p.main.is_some());
    }

    #[test]
    fn the_baseline_is_never_the_incident_window() {
        // A named window over all the data with nothing wrong in it.
        let eps = endpoint(600, i64::MAX);
        let ask = Ask { from: Some(0), to: Some(600 * SECOND), baseline: None };
        let p = plan(&ask, (0, 599 * SECOND), &eps, &[], &[]).unwrap();
        let b = p.baseline_time().unwrap();
        assert!(b.to <= p.incident.from && !b.is_empty());
        // No window, nothing wrong: halves.
        let p = plan(&Ask::default(), (0, 599 * SECOND), &eps, &[], &[]).unwrap();
        let b = p.baseline_time().unwrap();
        assert!(b.to <= p.incident.from && !b.is_empty());
    }

    #[test]
    fn a_few_requests_then_a_slow_stretch_compares_requests() {
        let requests =
            (0..12).map(|k| (k * SECOND, if k < 3 { 20_000_000 } else { 250_000_000 }, false)).collect();
        let eps = vec![Endpoint { service: 0, operation: 0, requests }];
        let ask = Ask { from: Some(0), to: Some(12 * SECOND), baseline: None };
        let p = plan(&ask, (0, 11 * SECOND), &eps, &[], &[]).unwrap();
        assert_eq!(p.onset, Some(3 * SECOND));
        assert_eq!(p.baseline, Baseline::Requests);
    }

    #[test]
    fn a_narrow_window_uses_the_given_baseline_after_it() {
        let eps = endpoint(3600, i64::MAX);
        let ask = Ask {
            from: Some(600 * SECOND),
            to: Some(780 * SECOND),
            baseline: Some((1800 * SECOND, 1860 * SECOND)),
        };
        let p = plan(&ask, (0, 3599 * SECOND), &eps, &[], &[]).unwrap();
        assert_eq!(p.incident, TimeRange::new(600 * SECOND, 780 * SECOND));
        assert_eq!(p.baseline, Baseline::Time(TimeRange::new(1800 * SECOND, 1860 * SECOND)));
    }

    #[test]
    fn a_baseline_too_small_is_replaced_with_a_note() {
        let eps = endpoint(3600, i64::MAX);
        // No request between the first two seconds' requests.
        let empty = (SECOND / 10, SECOND * 9 / 10);
        let ask = Ask { from: Some(1800 * SECOND), to: Some(1900 * SECOND), baseline: Some(empty) };
        let p = plan(&ask, (0, 3599 * SECOND), &eps, &[], &[]).unwrap();
        assert!(p.notes[0].contains("fewer than"), "{:?}", p.notes);
        let b = p.baseline_time().unwrap();
        assert_eq!(b.to, 1800 * SECOND);
        assert!(symptom::requests_in(&eps, b.pair()) >= MIN_BASELINE_REQUESTS);
    }

    #[test]
    fn a_small_baseline_the_user_names_is_used_with_a_note() {
        // MIN_GIVEN_BASELINE_REQUESTS: five requests of a named baseline are kept, and two.
        let eps = endpoint(3600, i64::MAX);
        for n in [5, 2] {
            let ask =
                Ask { from: Some(1800 * SECOND), to: Some(1900 * SECOND), baseline: Some((0, n * SECOND)) };
            let p = plan(&ask, (0, 3599 * SECOND), &eps, &[], &[]).unwrap();
            assert!(p.notes[0].contains(&format!("only {n} requests")), "{:?}", p.notes);
            assert_eq!(p.baseline_time(), Some(TimeRange::new(0, n * SECOND)));
        }
    }

    /// Requests one a second, 10 ms each, `slow(k)` of them 300 ms.
    fn timed(n: i64, slow: impl Fn(i64) -> bool) -> Vec<Endpoint> {
        let requests =
            (0..n).map(|k| (k * SECOND, if slow(k) { 300_000_000 } else { 10_000_000 }, false)).collect();
        vec![Endpoint { service: 0, operation: 0, requests }]
    }

    #[test]
    fn a_delay_that_starts_early_in_a_window_with_nothing_before_is_found() {
        // The guessed reference (the window's first third) is mostly slow already: its split into
        // a fast and a slow group still shows the step at 20 s.
        let eps = timed(300, |k| k >= 20);
        let ask = Ask { from: Some(0), to: Some(300 * SECOND), baseline: None };
        let p = plan(&ask, (0, 299 * SECOND), &eps, &[], &[]).unwrap();
        let on = p.onset.expect("an onset");
        assert!((on - 20 * SECOND).abs() <= 5 * SECOND, "onset {on}");
    }

    #[test]
    fn requests_that_fail_fast_do_not_move_the_onset_to_the_start_of_the_data() {
        // A third of the requests take a slow path (300 ms); from 1500 s on that path fails at
        // once. The share of slow requests "was high" until then: a stretch from the first bucket,
        // as strong as the errors' step, which must not place the incident at 0 s.
        let requests = (0..2400)
            .map(|k| match (k % 3 == 0, k >= 1500) {
                (true, false) => (k * SECOND, 300_000_000, false),
                (true, true) => (k * SECOND, 2_000_000, true),
                _ => (k * SECOND, 10_000_000, false),
            })
            .collect();
        let eps = vec![Endpoint { service: 0, operation: 0, requests }];
        let (seen, unseen): (Vec<_>, Vec<_>) = {
            let ask = Ask { from: Some(0), to: Some(2400 * SECOND), baseline: None };
            let p = plan(&ask, (0, 2399 * SECOND), &eps, &[], &[]).unwrap();
            p.rises.into_iter().partition(|r| r.shift.index > 0)
        };
        assert!(!unseen.is_empty() && !seen.is_empty(), "the case holds both kinds of rise");
        for ask in [Ask { from: Some(0), to: Some(2400 * SECOND), baseline: None }, Ask::default()] {
            let p = plan(&ask, (0, 2399 * SECOND), &eps, &[], &[]).unwrap();
            let on = p.onset.unwrap();
            assert!((on - 1500 * SECOND).abs() <= 60 * SECOND, "onset {on}");
            assert_eq!(p.main.unwrap().signal, symptom::Signal::Errors);
            assert!(
                matches!(p.baseline, Baseline::Time(b) if b.to <= on && b.from < 1000 * SECOND),
                "{:?}",
                p.baseline
            );
        }
    }

    #[test]
    fn with_no_onset_and_nothing_before_the_halves_are_compared() {
        // Every third request slow all along (a path through a slow service, no onset in time):
        // not an incident by itself; the halves are compared.
        let eps = timed(40, |k| k % 3 == 0);
        let ask = Ask { from: Some(0), to: Some(40 * SECOND), baseline: None };
        let p = plan(&ask, (0, 39 * SECOND), &eps, &[], &[]).unwrap();
        assert_eq!(p.onset, None);
        assert_eq!(p.baseline, Baseline::Time(TimeRange::new(0, 20 * SECOND)), "{:?}", p.notes);
    }
}

//! Connection leak: an instance whose connections in use never all come back. Their floor (the
//! fewest in use in a stretch of time) climbs and never falls: each leaked connection stays taken.
//! At little traffic the pool fills slowly and no request fails for a long time; the floor shows
//! the leak from its first connections.

use super::{Detector, Finding};
use crate::inputs::{MetricKey, MetricTable};
use crate::pattern::Pattern;
use crate::signals::Signals;
use crate::spans::SpanTable;

/// Stretches the range is cut into; the floor of each is its fewest connections in use. Six give
/// a climb room to show as several steps when the leak starts half-way through the range.
const STRETCHES: usize = 6;
/// Fewest metric points a stretch needs for its floor to mean anything (a scrape a minute over
/// a 45-minute range gives seven).
const MIN_POINTS_PER_STRETCH: usize = 2;
/// Fewest connections the floor must climb: a pool that opens one or two more connections as
/// traffic grows is not leaking.
const MIN_LEAKED: f64 = 3.0;
/// The climb must also be this share of the floor it started from: a busy pool's floor moves by
/// a few connections with its traffic.
const MIN_GROWTH: f64 = 0.5;
/// Fewest rises of the floor from one stretch to the next, the last included: a leak keeps
/// taking connections, a pool that warmed up once then stays level.
const MIN_RISING_STEPS: usize = 2;

/// Whether a metric counts connections held (in use, active), as OpenTelemetry's
/// `db.client.connection.count` and the pools' own metrics name them; idle ones, waits,
/// timeouts and limits are not held connections.
fn counts_held_connections(key: &MetricKey) -> bool {
    let name = key.name.to_ascii_lowercase();
    let attrs = key.attributes.to_ascii_lowercase();
    name.contains("connection")
        && ["count", "active", "usage", "used", "in_use"].iter().any(|w| name.contains(w))
        && !["pending", "wait", "timeout", "max", "min", "idle", "create", "time", "duration"]
            .iter()
            .any(|w| name.contains(w))
        && !attrs.contains("idle")
}

/// The floors of a series' stretches, or `None` when a stretch holds too few points.
fn floors(series: &[(i64, f64)], range: (i64, i64)) -> Option<Vec<f64>> {
    let len = (range.1 - range.0) / STRETCHES as i64;
    if len <= 0 {
        return None;
    }
    (0..STRETCHES as i64)
        .map(|k| {
            let (from, to) = (range.0 + k * len, range.0 + (k + 1) * len);
            let v: Vec<f64> = series.iter().filter(|p| p.0 >= from && p.0 < to).map(|p| p.1).collect();
            (v.len() >= MIN_POINTS_PER_STRETCH).then(|| v.into_iter().fold(f64::MAX, f64::min))
        })
        .collect()
}

/// Whether floors climb as a leak's do: never falling, rising in several steps and at the end,
/// by enough connections.
fn leaks(floors: &[f64]) -> bool {
    let (Some(&first), Some(&last)) = (floors.first(), floors.last()) else { return false };
    let steps: Vec<(f64, f64)> = floors.windows(2).map(|w| (w[0], w[1])).collect();
    let never_falls = steps.iter().all(|(a, b)| b >= a);
    let rising = steps.iter().filter(|(a, b)| b > a).count();
    let still_rising = steps.last().is_some_and(|(a, b)| b > a);
    never_falls
        && still_rising
        && rising >= MIN_RISING_STEPS
        && last - first >= MIN_LEAKED.max(MIN_GROWTH * first)
}

/// The instance's own work per stretch: its database calls when it makes some in every stretch,
/// else the spans it wrote (its traffic). Counted, not timed: a call's time includes its wait for
/// a connection where instrumentation starts the span before the pool hands one out, and that
/// wait is what a leak itself makes grow. `None` when its spans are not there to tell.
fn work(t: &SpanTable, instance: &str, range: (i64, i64)) -> Option<Vec<f64>> {
    let inst = t.names.get(instance)?;
    let len = (range.1 - range.0) / STRETCHES as i64;
    let (mut db, mut spans) = (vec![0.0; STRETCHES], vec![0.0; STRETCHES]);
    for i in (0..t.len()).filter(|&i| t.instance[i] == inst && t.start[i] >= range.0) {
        let k = ((t.start[i] - range.0) / len) as usize;
        if k >= STRETCHES {
            continue;
        }
        spans[k] += 1.0;
        if t.is_client_call(i) && t.attr_info(i).db {
            db[k] += 1.0;
        }
    }
    let w = if db.iter().all(|&d| d > 0.0) { db } else { spans };
    (w[0] > 0.0).then_some(w)
}

/// Floors less what the instance's own work explains: connections in use grow with the work in
/// flight (Little's law: with the calls made, at a given time a call), so a pool's floor climbs on
/// a morning's traffic ramp without a leak. The first stretch's mean use, scaled by how much the
/// work grew since, is what traffic explains; a ratio, so that sampled traces tell it as well as
/// complete ones. Whole connections only: a fraction of one explained would make a level floor
/// look as if it fell.
fn beyond_work(floors: &[f64], series: &[(i64, f64)], work: &[f64], range: (i64, i64)) -> Vec<f64> {
    let first_to = range.0 + (range.1 - range.0) / STRETCHES as i64;
    let first: Vec<f64> = series.iter().filter(|p| p.0 >= range.0 && p.0 < first_to).map(|p| p.1).collect();
    let mean_use = first.iter().sum::<f64>() / first.len().max(1) as f64;
    floors.iter().zip(work).map(|(f, w)| f - (mean_use * (w / work[0] - 1.0).max(0.0)).floor()).collect()
}

/// Instances whose held connections leak over the range: (service, instance, text).
pub fn connection_leaks(m: &MetricTable, t: &SpanTable, range: (i64, i64)) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (key, series) in m.series.iter().filter(|(k, _)| counts_held_connections(k)) {
        let Some(f) = floors(series, range).filter(|f| leaks(f)) else { continue };
        let explained = work(t, &key.instance, range).map(|w| beyond_work(&f, series, &w, range));
        if explained.is_some_and(|a| !leaks(&a)) {
            continue;
        }
        let who = if key.instance.is_empty() { &key.service } else { &key.instance };
        let text = format!(
            "{} on {who} never falls back: at least {:.0} connections held at all times, up from {:.0} (leaked connections)",
            key.name,
            f[f.len() - 1],
            f[0]
        );
        out.push((key.service.clone(), key.instance.clone(), text));
    }
    out
}

pub struct ConnectionLeak;

impl Detector for ConnectionLeak {
    fn name(&self) -> &'static str {
        "connection_leak"
    }

    /// Weighed as a memory leak is: a cause of its own when users notice nothing yet.
    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let leaks = connection_leaks(&s.inputs.metrics, s.spans, s.plan.range.pair());
        super::memory_leak::leak_findings(s, leaks, Pattern::ConnectionPoolExhaustion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    fn key(name: &str, attributes: &str) -> MetricKey {
        MetricKey {
            name: name.into(),
            service: "shop".into(),
            instance: "shop-1".into(),
            attributes: attributes.into(),
        }
    }

    #[test]
    fn held_connections_are_told_from_waits_limits_and_idle_ones() {
        assert!(counts_held_connections(&key("db.client.connection.count", "{}")));
        assert!(counts_held_connections(&key("hikaricp.connections.active", "{}")));
        assert!(counts_held_connections(&key("db.client.connections.usage", r#"{"state":"used"}"#)));
        assert!(!counts_held_connections(&key("db.client.connections.usage", r#"{"state":"idle"}"#)));
        assert!(!counts_held_connections(&key("db.client.connection.pending_requests", "{}")));
        assert!(!counts_held_connections(&key("db.client.connection.max", "{}")));
        assert!(!counts_held_connections(&key("db.client.connection.wait_time", "{}")));
    }

    #[test]
    fn a_leak_climbs_in_steps_to_the_end_and_never_falls() {
        // A leak from half-way: three rises, the last at the end, seven connections.
        assert!(leaks(&[0.0, 0.0, 0.0, 2.0, 4.0, 7.0]));
        // MIN_RISING_STEPS: a pool that warmed up once and stays level.
        assert!(!leaks(&[0.0, 4.0, 4.0, 4.0, 4.0, 4.0]));
        // Still rising at the end: a climb that stopped is not a leak going on.
        assert!(!leaks(&[0.0, 2.0, 4.0, 7.0, 7.0, 7.0]));
        // Never falls: a busy pool whose floor swings with traffic.
        assert!(!leaks(&[5.0, 8.0, 6.0, 9.0, 10.0, 12.0]));
        // MIN_LEAKED: one or two more connections.
        assert!(!leaks(&[0.0, 0.0, 0.0, 1.0, 1.0, 2.0]));
        // MIN_GROWTH: three more on a floor of twenty.
        assert!(!leaks(&[20.0, 20.0, 21.0, 21.0, 22.0, 23.0]));
        assert!(leaks(&[20.0, 20.0, 24.0, 26.0, 28.0, 30.0]));
    }

    #[test]
    fn floors_need_points_in_every_stretch() {
        let series: Vec<(i64, f64)> = (0..60).map(|k| (k * 10, (k / 10) as f64)).collect();
        assert_eq!(floors(&series, (0, 600)), Some(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(floors(&series[..30], (0, 600)), None);
    }

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&ConnectionLeak, "connection-leak");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert!(!found.is_empty());
        assert!(found.iter().all(|f| f.service == testkit::truth("connection-leak")), "{found:?}");
    }

    /// A pool's floor on a traffic ramp: in use about twice the work, scattered as a Poisson count
    /// is (by 1.5 standard deviations either side).
    fn ramp(work: &[f64]) -> Vec<(i64, f64)> {
        // Six stretches of 100 s, a scrape every 10 s.
        (0..60)
            .map(|k| {
                let mean = 2.0 * work[k as usize / 10];
                let dev = [-1.5, 0.0, 1.5][k as usize % 3] * mean.sqrt();
                (k * 10, (mean + dev).round().max(0.0))
            })
            .collect()
    }

    #[test]
    fn a_floor_that_climbs_with_the_work_is_no_leak() {
        let work = [1.0, 1.5, 2.0, 3.0, 4.0, 5.0];
        let series = ramp(&work);
        let f = floors(&series, (0, 600)).unwrap();
        assert!(leaks(&f), "the floor alone looks like a leak: {f:?}");
        let a = beyond_work(&f, &series, &work, (0, 600));
        assert!(!leaks(&a), "the work explains it: {a:?}");
    }

    #[test]
    fn a_leak_holds_against_flat_or_gently_growing_work() {
        // In use about 2, leaked connections from half-way: 0, 0, 0, 2, 4, 7 of them.
        let leaked = [0.0, 0.0, 0.0, 2.0, 4.0, 7.0];
        for growth in [[1.0; 6], [1.0, 1.0, 1.05, 1.1, 1.15, 1.2]] {
            let series: Vec<(i64, f64)> = (0..60)
                .map(|k| (k * 10, leaked[k as usize / 10] + if k % 2 == 0 { 0.0 } else { 3.0 }))
                .collect();
            let f = floors(&series, (0, 600)).unwrap();
            assert!(leaks(&beyond_work(&f, &series, &growth, (0, 600))), "{growth:?}");
        }
    }
}

//! RED series: per service and operation (server and consumer spans, or spans with no kind), per
//! time bucket, the request count, the error count and duration percentiles.

use crate::spans::SpanTable;
use faultline_model::SpanKind;
use std::collections::BTreeMap;

/// (service, operation), interned.
pub type SeriesKey = (u32, u32);

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Bucket {
    /// Start of the bucket, unix ns.
    pub start: i64,
    pub count: u64,
    pub errors: u64,
    pub p50_ns: i64,
    pub p95_ns: i64,
    pub p99_ns: i64,
}

impl Bucket {
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Counts spans that answer requests: server and consumer spans, and spans of unknown kind (real
/// data often has no kind) that are roots or whose parent belongs to another service.
pub fn answers_requests(t: &SpanTable, i: usize, parent_service: Option<u32>) -> bool {
    match t.kind[i] {
        SpanKind::Server | SpanKind::Consumer => true,
        SpanKind::Unspecified => parent_service.is_none_or(|p| p != t.service[i]),
        _ => false,
    }
}

/// RED series over `[from, to)` in buckets of `bucket_ns`, every bucket present (empty ones with
/// zero counts) so that series line up.
pub fn red_series(t: &SpanTable, from: i64, to: i64, bucket_ns: i64) -> BTreeMap<SeriesKey, Vec<Bucket>> {
    red_series_by(t, from, to, bucket_ns, |i| (t.service[i], t.operation[i]))
}

/// RED series per service (all its operations together), as [`red_series`].
pub fn red_by_service(t: &SpanTable, from: i64, to: i64, bucket_ns: i64) -> BTreeMap<u32, Vec<Bucket>> {
    red_series_by(t, from, to, bucket_ns, |i| t.service[i])
}

/// RED series keyed by `key_of(span index)`: per (service, operation), per service, or one for
/// the whole system.
pub fn red_series_by<K: Ord + Copy>(
    t: &SpanTable,
    from: i64,
    to: i64,
    bucket_ns: i64,
    key_of: impl Fn(usize) -> K,
) -> BTreeMap<K, Vec<Bucket>> {
    let n_buckets = ((to - from + bucket_ns - 1) / bucket_ns).max(1) as usize;
    let span_service: crate::hash::HashMap<([u8; 16], [u8; 8]), u32> =
        (0..t.len()).map(|i| ((t.trace_id[i], t.span_id[i]), t.service[i])).collect();
    let mut durations: BTreeMap<K, Vec<Vec<i64>>> = BTreeMap::new();
    let mut out: BTreeMap<K, Vec<Bucket>> = BTreeMap::new();
    for i in 0..t.len() {
        if t.start[i] < from || t.start[i] >= to {
            continue;
        }
        let parent_service = t.parent[i].and_then(|p| span_service.get(&(t.trace_id[i], p)).copied());
        if !answers_requests(t, i, parent_service) {
            continue;
        }
        let key = key_of(i);
        let b = ((t.start[i] - from) / bucket_ns) as usize;
        let buckets = out.entry(key).or_insert_with(|| {
            (0..n_buckets)
                .map(|k| Bucket { start: from + k as i64 * bucket_ns, ..Bucket::default() })
                .collect()
        });
        buckets[b].count += 1;
        buckets[b].errors += t.error[i] as u64;
        durations.entry(key).or_insert_with(|| vec![Vec::new(); n_buckets])[b].push(t.duration[i]);
    }
    for (key, mut per_bucket) in durations {
        let buckets = out.get_mut(&key).expect("created together");
        for (b, d) in per_bucket.iter_mut().enumerate() {
            d.sort_unstable();
            buckets[b].p50_ns = percentile(d, 0.5);
            buckets[b].p95_ns = percentile(d, 0.95);
            buckets[b].p99_ns = percentile(d, 0.99);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::schema::spans_to_batch;
    use faultline_sim::{Chunk, RunOptions};

    #[test]
    fn red_series_of_a_simulated_incident_show_its_onset() {
        let sc = faultline_sim::load("lb-bad-backend").unwrap();
        let mut batches = Vec::new();
        faultline_sim::run(&sc, &RunOptions { rps: Some(10.0), ..Default::default() }, &mut |c| {
            if let Chunk::Spans(s) = c {
                batches.push(spans_to_batch(&s));
            }
        });
        let t = SpanTable::from_batches(&batches);
        let from = faultline_model::time::parse_time_ns("2026-11-13T07:30:00Z", 0).unwrap();
        let minute = 60_000_000_000;
        let series = red_series(&t, from, from + 60 * minute, minute);
        let fe = t.names.get("frontend").unwrap();
        let op = t.names.get("GET /api/products").unwrap();
        let s = &series[&(fe, op)];
        assert_eq!(s.len(), 60);
        let rate = |a: usize, b: usize| {
            let (e, n) = s[a..b].iter().fold((0, 0), |(e, n), x| (e + x.errors, n + x.count));
            e as f64 / n as f64
        };
        assert!(rate(0, 30) < 0.02, "{}", rate(0, 30));
        assert!(rate(30, 60) > 0.15, "{}", rate(30, 60));
        assert!(s.iter().all(|b| b.count > 0 && b.p50_ns > 0 && b.p99_ns >= b.p50_ns));
        // The onset, found from the series alone, is the minute of the config change.
        let shift = crate::error_rate_shift(s, 3, 5.0).expect("a shift");
        assert_eq!(shift.index, 30, "{shift:?}");
        // Client spans do not count as requests of the caller.
        let inv = t.names.get("inventory").unwrap();
        assert!(series.keys().any(|k| k.0 == inv));
        assert!(!series.keys().any(|k| t.names.name(k.1).starts_with("send ")));
        // Per service, the operations add up.
        let by_service = red_by_service(&t, from, from + 60 * minute, minute);
        let count = |b: &[Bucket]| b.iter().map(|x| x.count).sum::<u64>();
        let ops: u64 = series.iter().filter(|(k, _)| k.0 == fe).map(|(_, b)| count(b)).sum();
        assert_eq!(count(&by_service[&fe]), ops);
    }
}

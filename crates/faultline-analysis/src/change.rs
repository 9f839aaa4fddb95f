//! Change points: where a series shifts, and how sure we are.

use crate::red::Bucket;

/// A shift in a series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Shift {
    /// Index of the first bucket after the shift.
    pub index: usize,
    /// Error rate before and after.
    pub before: f64,
    pub after: f64,
    /// Two-proportion z statistic of the difference.
    pub z: f64,
}

/// Finds the split of an error-count series that best separates two error rates (the largest
/// two-proportion z statistic over all splits with at least `min_side` buckets on each side).
/// Returns `None` when no split reaches `min_z`.
pub fn error_rate_shift(buckets: &[Bucket], min_side: usize, min_z: f64) -> Option<Shift> {
    let n = buckets.len();
    if n < 2 * min_side.max(1) {
        return None;
    }
    let total_e: u64 = buckets.iter().map(|b| b.errors).sum();
    let total_n: u64 = buckets.iter().map(|b| b.count).sum();
    let (mut e1, mut n1) = (0u64, 0u64);
    let mut best: Option<Shift> = None;
    for k in 1..n {
        e1 += buckets[k - 1].errors;
        n1 += buckets[k - 1].count;
        if k < min_side || n - k < min_side {
            continue;
        }
        let (e2, n2) = (total_e - e1, total_n - n1);
        if n1 == 0 || n2 == 0 {
            continue;
        }
        let (p1, p2) = (e1 as f64 / n1 as f64, e2 as f64 / n2 as f64);
        let p = total_e as f64 / total_n as f64;
        let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
        if se <= 0.0 {
            continue;
        }
        let z = (p2 - p1) / se;
        if best.is_none_or(|b| z.abs() > b.z.abs()) {
            best = Some(Shift { index: k, before: p1, after: p2, z });
        }
    }
    best.filter(|b| b.z.abs() >= min_z)
}

/// A stretch of a series whose event rate rose above the rest's: a transient incident (it started,
/// then it ended) that no single split describes well.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Segment {
    /// First bucket of the stretch, and the first after it.
    pub start: usize,
    pub end: usize,
    pub inside: f64,
    pub outside: f64,
    pub z: f64,
}

/// Finds the stretch of at least `min_len` buckets (with at least `min_len` outside it) whose event
/// rate is the most significantly above the rest's (two-proportion z); `None` below `min_z`.
pub fn error_rate_segment(buckets: &[Bucket], min_len: usize, min_z: f64) -> Option<Segment> {
    let n = buckets.len();
    let min_len = min_len.max(1);
    if n < 2 * min_len {
        return None;
    }
    let mut pe = vec![0u64; n + 1];
    let mut pn = vec![0u64; n + 1];
    for (k, b) in buckets.iter().enumerate() {
        pe[k + 1] = pe[k] + b.errors;
        pn[k + 1] = pn[k] + b.count;
    }
    let (te, tn) = (pe[n], pn[n]);
    if tn == 0 {
        return None;
    }
    let p = te as f64 / tn as f64;
    let mut best: Option<Segment> = None;
    for start in 0..n {
        for end in (start + min_len)..=n {
            if n - (end - start) < min_len {
                continue;
            }
            let (e1, n1) = (pe[end] - pe[start], pn[end] - pn[start]);
            let (e2, n2) = (te - e1, tn - n1);
            if n1 == 0 || n2 == 0 {
                continue;
            }
            let (inside, outside) = (e1 as f64 / n1 as f64, e2 as f64 / n2 as f64);
            let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
            if se <= 0.0 || inside <= outside {
                continue;
            }
            let z = (inside - outside) / se;
            if best.is_none_or(|b| z > b.z) {
                best = Some(Segment { start, end, inside, outside, z });
            }
        }
    }
    best.filter(|b| b.z >= min_z)
}

/// Expected events a group of buckets needs for its Pearson term to behave (the usual rule for a
/// chi-square: below about five expected, a single chance event swings the sum).
const MIN_EXPECTED_EVENTS: f64 = 5.0;
/// Fewest degrees of freedom for a dispersion estimate: with fewer groups the estimate is mostly
/// noise, and the series is taken as binomial.
const MIN_DISPERSION_DF: usize = 5;

/// How much more a series' events vary from bucket to bucket than independent requests would,
/// once the rates of its segments (cut at `cuts`) are taken out: the Pearson chi-square per degree
/// of freedom, over groups of adjacent buckets holding enough expected events. At least 1.
///
/// Real error rates are bursty (a retry storm of one client, a cache refill, a flapping
/// instance): the two-proportion z assumes independent failures and overstates a step in such a
/// series by the square root of this (the quasi-binomial correction).
pub fn dispersion(buckets: &[Bucket], cuts: &[usize]) -> f64 {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < buckets.len()));
    bounds.push(buckets.len());
    let (mut chi2, mut groups, mut segments) = (0.0, 0usize, 0usize);
    for seg in bounds.windows(2) {
        let part = &buckets[seg[0]..seg[1]];
        let (e, n) = part.iter().fold((0u64, 0u64), |a, b| (a.0 + b.errors, a.1 + b.count));
        if e == 0 || e == n {
            continue;
        }
        let p = e as f64 / n as f64;
        segments += 1;
        let (mut ge, mut gn) = (0u64, 0u64);
        let mut terms: Vec<(u64, u64)> = Vec::new();
        for b in part {
            ge += b.errors;
            gn += b.count;
            if gn as f64 * p >= MIN_EXPECTED_EVENTS {
                terms.push((ge, gn));
                (ge, gn) = (0, 0);
            }
        }
        // The remainder joins the last group.
        match terms.last_mut() {
            Some(last) => *last = (last.0 + ge, last.1 + gn),
            None => terms.push((ge, gn)),
        }
        groups += terms.len();
        chi2 += terms
            .iter()
            .map(|&(ge, gn)| {
                let expected = gn as f64 * p;
                (ge as f64 - expected).powi(2) / (expected * (1.0 - p))
            })
            .sum::<f64>();
    }
    let df = groups.saturating_sub(segments);
    if df < MIN_DISPERSION_DF {
        return 1.0;
    }
    (chi2 / df as f64).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rates: &[(u64, u64)]) -> Vec<Bucket> {
        rates
            .iter()
            .enumerate()
            .map(|(i, (e, n))| Bucket { start: i as i64, count: *n, errors: *e, ..Bucket::default() })
            .collect()
    }

    #[test]
    fn finds_the_onset_and_ignores_noise() {
        let mut r = vec![(1, 1000); 30];
        r.extend(vec![(200, 1000); 30]);
        let s = error_rate_shift(&series(&r), 3, 5.0).unwrap();
        assert_eq!(s.index, 30);
        assert!((s.after - 0.2).abs() < 1e-9 && s.z > 20.0);
        let flat: Vec<(u64, u64)> = (0..60).map(|i| (if i % 7 == 0 { 2 } else { 1 }, 1000)).collect();
        assert!(error_rate_shift(&series(&flat), 3, 5.0).is_none());
        assert!(error_rate_shift(&series(&r[..4]), 3, 5.0).is_none());
    }

    #[test]
    fn finds_a_transient_rise() {
        let mut r = vec![(1, 1000); 20];
        r.extend(vec![(150, 1000); 10]);
        r.extend(vec![(1, 1000); 30]);
        let seg = error_rate_segment(&series(&r), 1, 5.0).unwrap();
        assert_eq!((seg.start, seg.end), (20, 30));
        assert!(seg.z > error_rate_shift(&series(&r), 3, 5.0).map_or(0.0, |s| s.z.abs()));
        let flat = vec![(1, 1000); 60];
        assert!(error_rate_segment(&series(&flat), 1, 5.0).is_none());
    }

    #[test]
    fn dispersion_separates_bursty_failures_from_independent_ones() {
        // Independent failures at 1%: the Pearson statistic per degree of freedom stays near 1.
        let steady: Vec<(u64, u64)> = (0..60).map(|i| ([8, 10, 12, 9, 11][i % 5], 1000)).collect();
        assert!(dispersion(&series(&steady), &[]) < 1.2);
        // The same mean rate in bursts (a quiet bucket, then a burst of 40): far more spread.
        let bursty: Vec<(u64, u64)> = (0..60).map(|i| (if i % 6 == 0 { 40 } else { 4 }, 1000)).collect();
        assert!(dispersion(&series(&bursty), &[]) > 5.0);
        // A clean step is explained by its two rates: cutting at it leaves no extra spread.
        let mut step = vec![(10, 1000); 30];
        step.extend(vec![(100, 1000); 30]);
        assert!(dispersion(&series(&step), &[30]) < 1.2);
        assert!(dispersion(&series(&step), &[]) > 20.0);
        // Too few expected events to group: taken as binomial.
        assert_eq!(dispersion(&series(&[(1, 100); 10]), &[]), 1.0);
    }
}

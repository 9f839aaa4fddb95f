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
}

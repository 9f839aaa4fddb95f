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
}

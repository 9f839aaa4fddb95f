//! Small statistics the detectors share.

/// The p-quantile of sorted values (nearest rank), 0 when empty.
pub fn quantile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Two-proportion z statistic of `e2/n2` against `e1/n1` (positive when the second is larger).
pub fn two_proportion_z(e1: u64, n1: u64, e2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 0.0;
    }
    let (p1, p2) = (e1 as f64 / n1 as f64, e2 as f64 / n2 as f64);
    let p = (e1 + e2) as f64 / (n1 + n2) as f64;
    // A floor on the pooled rate keeps a jump from zero errors finite but large.
    let p = p.max(0.5 / (n1 + n2) as f64);
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se <= 0.0 {
        0.0
    } else {
        (p2 - p1) / se
    }
}

/// Median and a 95% confidence half-width for it (from the median absolute deviation).
pub fn median_ci(values: &mut [f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let med = values[values.len() / 2];
    let mut dev: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    dev.sort_unstable_by(f64::total_cmp);
    let mad = dev[dev.len() / 2] * 1.4826;
    // The median's standard error is about 1.2533 sigma / sqrt(n).
    let half = 1.96 * 1.2533 * mad / (values.len() as f64).sqrt();
    Some((med, half))
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub fn std_dev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_and_medians() {
        assert!(two_proportion_z(10, 1000, 200, 1000) > 10.0);
        assert!(two_proportion_z(10, 1000, 11, 1000).abs() < 1.0);
        assert!(two_proportion_z(0, 1000, 50, 1000) > 5.0);
        let mut v: Vec<f64> = (0..101).map(|i| 100.0 + (i % 5) as f64).collect();
        let (m, h) = median_ci(&mut v).unwrap();
        assert_eq!(m, 102.0);
        assert!(h > 0.0 && h < 1.0);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), 3);
    }
}

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
/// Probability that a binomial(n, p) count is at least k: exact (in log space) up to a few
/// hundred trials, the normal approximation with continuity correction beyond.
pub fn binomial_upper_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    if n > 400 {
        let (m, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        return 0.5 * erfc((k as f64 - 0.5 - m) / (sd * std::f64::consts::SQRT_2));
    }
    // ln C(n, j) p^j (1-p)^(n-j), summed from j = k.
    let ln_choose = |j: u64| (1..=j).map(|i| ((n - j + i) as f64 / i as f64).ln()).sum::<f64>();
    (k..=n)
        .map(|j| (ln_choose(j) + j as f64 * p.ln() + (n - j) as f64 * (1.0 - p).ln()).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Fisher's exact test, one-sided: the chance that the incident side has at most `ki` of `ni`
/// with a property when the baseline had `kb` of `nb` and both sides are one population (the
/// hypergeometric lower tail). Holds at any count, where a z needs dozens on each side: 12 of 12
/// baseline requests making a call and 0 of 4 now is p = 1/1820.
pub fn fewer_exact_p(kb: u64, nb: u64, ki: u64, ni: u64) -> f64 {
    use statrs::distribution::{DiscreteCDF, Hypergeometric};
    if ni == 0 || nb == 0 {
        return 1.0;
    }
    match Hypergeometric::new(nb + ni, kb + ki, ni) {
        Ok(h) => h.cdf(ki).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// The same test the other way: the chance of at least `ki` of `ni` on the incident side.
pub fn more_exact_p(kb: u64, nb: u64, ki: u64, ni: u64) -> f64 {
    fewer_exact_p(nb - kb, nb, ni - ki, ni)
}

/// The complementary error function (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly =
        t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let r = poly * (-z * z).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

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

/// Least separation of two groups of durations, as the ratio of their geometric means, for the
/// split between them to count as "slow" against "normal": below it the split is one group's
/// spread, not two groups (a healthy endpoint's durations vary by well under 1.5x around their
/// centre on the log scale).
pub const MIN_SLOW_SPLIT_RATIO: f64 = 1.5;

/// The threshold that best splits durations into a fast and a slow group (Otsu's method on their
/// logarithms: the split with the largest variance between the groups), or `None` when the two
/// groups are not `MIN_SLOW_SPLIT_RATIO` apart. Works on a handful of values as on millions, and
/// for a slow group of any size (a slow stretch can be most of a window).
pub fn slow_split(durations: &[i64]) -> Option<i64> {
    split_with_ratio(durations).filter(|s| s.1 >= MIN_SLOW_SPLIT_RATIO).map(|s| s.0)
}

/// The threshold of [`slow_split`] and how far apart its two groups are (the ratio of their
/// geometric means), however close; `None` for fewer than two distinct values.
pub fn split_with_ratio(durations: &[i64]) -> Option<(i64, f64)> {
    let mut v: Vec<f64> = durations.iter().map(|&d| (d.max(1) as f64).ln()).collect();
    if v.len() < 2 {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    let total: f64 = v.iter().sum();
    let (mut left, mut best) = (0.0, None::<(f64, usize)>);
    for k in 1..n {
        left += v[k - 1];
        if v[k] == v[k - 1] {
            continue;
        }
        let (m1, m2) = (left / k as f64, (total - left) / (n - k) as f64);
        let between = k as f64 * (n - k) as f64 * (m2 - m1).powi(2);
        if best.is_none_or(|b| between > b.0) {
            best = Some((between, k));
        }
    }
    let (_, k) = best?;
    let (m1, m2) = (v[..k].iter().sum::<f64>() / k as f64, v[k..].iter().sum::<f64>() / (n - k) as f64);
    Some((v[k - 1].exp().ceil() as i64, (m2 - m1).exp()))
}

/// One-sided p of Student's t test (pooled variance) that `i` has a larger mean than `b`. Pooled,
/// not Welch's: under "nothing changed" both sides share one spread, and two values that happen to
/// lie close must not pass for a tight baseline (a heavy-tailed healthy node's two fast spans
/// against its usual spread made Welch's p 0.0004). On a handful of values it is far stricter than
/// the normal tail of the same t. `floor` bounds the standard error from below (identical values
/// are not infinitely certain). 1 when the sides hold fewer than three values in all.
pub fn t_upper_p(b: &[f64], i: &[f64], floor: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if b.is_empty() || i.is_empty() || b.len() + i.len() < 3 {
        return 1.0;
    }
    let (nb, ni) = (b.len() as f64, i.len() as f64);
    let mean = |v: &[f64], n: f64| v.iter().sum::<f64>() / n;
    let (mb, mi) = (mean(b, nb), mean(i, ni));
    let squares = |v: &[f64], m: f64| v.iter().map(|&x| (x - m).powi(2)).sum::<f64>();
    let dof = nb + ni - 2.0;
    let pooled = (squares(b, mb) + squares(i, mi)) / dof;
    let se = (pooled * (1.0 / nb + 1.0 / ni)).sqrt().max(floor);
    StudentsT::new(0.0, 1.0, dof).map_or(1.0, |d| 1.0 - d.cdf((mi - mb) / se))
}

/// Largest product of the two sides' sizes for which the rank-sum test counts its null
/// distribution exactly; above it the normal approximation is within a few per cent of it.
const EXACT_RANK_SUM_PAIRS: usize = 400;

/// One-sided p of the Mann-Whitney rank-sum test that `i`'s values tend to be larger than `b`'s:
/// the chance, under exchangeable sides, of a U at least the one seen (a tie counts one half). It
/// reads ranks only, so one value that waited out a time-out weighs as one more slow value, where
/// it inflates a t test's variance until a delay seen in every request does not pass. Exact on
/// small sides (three normal requests against ten slow ones: 1/286), the normal approximation with
/// continuity correction above. 1 when a side is empty.
pub fn rank_sum_upper_p(b: &[i64], i: &[i64]) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    let (m, n) = (i.len(), b.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    // Twice U, to count ties as halves in integers.
    let u2: usize =
        i.iter().map(|x| b.iter().map(|y| 2 * (x > y) as usize + (x == y) as usize).sum::<usize>()).sum();
    if m * n <= EXACT_RANK_SUM_PAIRS {
        // ways[u]: orderings of m and n values with U = u, built one value at a time.
        let ways = rank_sum_ways(m, n);
        let total: f64 = ways.iter().sum();
        let from = u2.div_ceil(2);
        return (ways[from.min(ways.len())..].iter().sum::<f64>() / total).clamp(0.0, 1.0);
    }
    let (mf, nf) = (m as f64, n as f64);
    let mu = mf * nf / 2.0;
    let sd = (mf * nf * (mf + nf + 1.0) / 12.0).sqrt();
    let z = (u2 as f64 / 2.0 - mu - 0.5) / sd;
    Normal::new(0.0, 1.0).map_or(1.0, |d| 1.0 - d.cdf(z))
}

/// The null distribution of the rank-sum U for sides of `m` and `n` values: how many of the
/// orderings give each U from 0 to m n (f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u)).
fn rank_sum_ways(m: usize, n: usize) -> Vec<f64> {
    // prev[j][u] for m - 1 values of the first side and j of the second, rolled over m.
    let width = m * n + 1;
    let mut prev: Vec<Vec<f64>> = (0..=n)
        .map(|_| {
            let mut v = vec![0.0; width];
            v[0] = 1.0;
            v
        })
        .collect();
    for a in 1..=m {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; width]; n + 1];
        cur[0][0] = 1.0;
        for j in 1..=n {
            for u in 0..=a * j {
                let with_first_largest = if u >= j { prev[j][u - j] } else { 0.0 };
                cur[j][u] = with_first_largest + cur[j - 1][u];
            }
        }
        prev = cur;
    }
    prev.swap_remove(n)
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

    #[test]
    fn the_rank_sum_test_is_exact_on_small_sides_and_shrugs_off_one_outlier() {
        // Three normal values below ten slow ones: one ordering in C(13, 3) = 286.
        let b = [3, 4, 5];
        let mut i: Vec<i64> = (0..9).map(|k| 400 + k).collect();
        i.push(4000);
        assert!((rank_sum_upper_p(&b, &i) - 1.0 / 286.0).abs() < 1e-12);
        // The same sides under the pooled t test: the outlier's variance hides the delay.
        let f = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        assert!(t_upper_p(&f(&b), &f(&i), 0.05) > 0.05);
        // Interleaved sides: no sign; the other way round: none either.
        assert!(rank_sum_upper_p(&[1, 3, 5, 7], &[2, 4, 6, 8]) > 0.2);
        assert!(rank_sum_upper_p(&i, &b) > 0.99);
        // Ties count one half: identical sides sit in the middle.
        let p = rank_sum_upper_p(&[5, 5, 5], &[5, 5, 5]);
        assert!(p > 0.4 && p < 0.7, "{p}");
        // The normal approximation above the exact range agrees with the exact count near it.
        let b: Vec<i64> = (0..25).map(|k| 2 * k).collect();
        let i: Vec<i64> = (0..25).map(|k| 2 * k + 7).collect();
        let p = rank_sum_upper_p(&b, &i);
        assert!(p > 0.01 && p < 0.2, "{p}");
        assert_eq!(rank_sum_ways(2, 2), vec![1.0, 1.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn exact_tests_hold_on_small_counts() {
        let p = fewer_exact_p(12, 12, 0, 4);
        assert!((p - 1.0 / 1820.0).abs() < 1e-9, "{p}");
        // A call made in a third of the requests, missing from four: no sign at all.
        assert!(fewer_exact_p(4, 12, 0, 4) > 0.2);
        assert!((more_exact_p(0, 12, 4, 4) - p).abs() < 1e-9);
        assert_eq!(fewer_exact_p(3, 10, 0, 0), 1.0);
    }

    #[test]
    fn slow_split_separates_two_groups_and_not_one() {
        // Two normal requests, then seven slow ones (a delay injected after a few seconds).
        let d = [20, 22, 260, 250, 270, 255, 262, 248, 251];
        let th = slow_split(&d).unwrap();
        assert!((22..248).contains(&th), "{th}");
        // One group with a healthy spread: no split.
        let one: Vec<i64> = (0..200).map(|k| 100 + (k * 7) % 40).collect();
        assert_eq!(slow_split(&one), None);
        assert_eq!(slow_split(&[5]), None);
    }

    #[test]
    fn t_p_is_strict_on_few_values_and_near_normal_on_many() {
        let f = |v: &[i32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        // t of about 3 on two and three values: far from the normal tail's 0.00135.
        let p = t_upper_p(&f(&[10, 12, 14]), &f(&[14, 16]), 0.0);
        assert!(p > 0.01, "{p}");
        // Thousands of values: close to the normal tail.
        let b: Vec<f64> = (0..4000).map(|k| f64::from(100 + k % 11)).collect();
        let i: Vec<f64> = (0..4000).map(|k| f64::from(100 + k % 11 + i32::from(k % 5 == 0))).collect();
        let p = t_upper_p(&b, &i, 0.0);
        assert!(p > 0.0 && p < 0.01, "{p}");
        assert_eq!(t_upper_p(&[], &i, 0.0), 1.0);
        // One value a side, however far apart, is no evidence; one against a tight many is.
        assert_eq!(t_upper_p(&[23.0], &[112.0], 0.2), 1.0);
        assert!(t_upper_p(&[23.0], &f(&[112, 113, 111, 112, 114]), 0.2) < 0.001);
        assert!(t_upper_p(&[23.0], &f(&[12, 113, 51, 212, 14]), 0.2) > 0.01);
        // Two close values of a heavy-tailed node against its usual spread: chance.
        let wide = [17, 18, 23, 28, 30, 31, 33, 40, 45, 48, 48, 50, 51, 54, 56, 57, 66, 75, 100, 114, 163];
        assert!(t_upper_p(&[13.0, 21.0], &f(&wide), 0.2) > 0.01);
        // Identical sides with a floor on the spread: a shift of many floors is certain.
        assert!(t_upper_p(&[100.0; 5], &[200.0; 5], 1.0) < 1e-6);
    }

    #[test]
    fn binomial_tail_exact_and_approximate() {
        assert!((binomial_upper_tail(12, 12, 0.5) - 0.5f64.powi(12)).abs() < 1e-12);
        assert!((binomial_upper_tail(15, 12, 0.5) - 576.0 / 32768.0).abs() < 1e-9);
        assert_eq!(binomial_upper_tail(10, 0, 0.3), 1.0);
        // The normal approximation agrees with the exact sum near the switch.
        let (a, b) = (binomial_upper_tail(400, 220, 0.5), binomial_upper_tail(401, 220, 0.5));
        assert!((a - b).abs() < 0.05, "{a} {b}");
    }
}

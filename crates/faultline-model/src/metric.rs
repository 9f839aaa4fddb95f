//! Metric points: one row per data point, with the metric's name, type and unit.

use crate::{Attributes, ResourceInfo};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Sum => "sum",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "gauge" => MetricKind::Gauge,
            "sum" => MetricKind::Sum,
            "histogram" => MetricKind::Histogram,
            "exponential_histogram" => MetricKind::ExponentialHistogram,
            "summary" => MetricKind::Summary,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    #[default]
    Unspecified = 0,
    Delta = 1,
    Cumulative = 2,
}

impl Temporality {
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }
}

/// The value of one point, by metric type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetricData {
    /// Gauge or sum; `is_int` keeps whether the source value was an integer.
    Number {
        value: f64,
        is_int: bool,
    },
    Histogram {
        count: u64,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        bucket_counts: Vec<u64>,
        explicit_bounds: Vec<f64>,
    },
    ExponentialHistogram {
        count: u64,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        scale: i32,
        zero_count: u64,
        positive_offset: i32,
        positive_bucket_counts: Vec<u64>,
        negative_offset: i32,
        negative_bucket_counts: Vec<u64>,
    },
    Summary {
        count: u64,
        sum: f64,
        quantiles: Vec<f64>,
        quantile_values: Vec<f64>,
    },
}

/// One data point of one metric, flattened with its metric's description and resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub unit: String,
    pub kind: MetricKind,
    #[serde(default)]
    pub temporality: Temporality,
    #[serde(default)]
    pub is_monotonic: bool,
    pub time_unix_nano: i64,
    #[serde(default)]
    pub start_time_unix_nano: i64,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub flags: u32,
    pub data: MetricData,
    #[serde(flatten)]
    pub resource: std::sync::Arc<ResourceInfo>,
}

impl MetricPoint {
    /// A single number for the point: the value of a gauge or sum, the mean of a histogram or summary.
    pub fn scalar(&self) -> Option<f64> {
        match &self.data {
            MetricData::Number { value, .. } => Some(*value),
            MetricData::Histogram { count, sum, .. }
            | MetricData::ExponentialHistogram { count, sum, .. } => {
                sum.filter(|_| *count > 0).map(|s| s / *count as f64)
            }
            MetricData::Summary { count, sum, .. } => (*count > 0).then(|| sum / *count as f64),
        }
    }
}

impl MetricData {
    /// The `q`-quantile (0 to 1) of the values a histogram or summary describes, or `None` for
    /// numbers, empty histograms and quantiles a summary does not bracket.
    ///
    /// Within a bucket values are taken as spread evenly, as Prometheus's `histogram_quantile`
    /// takes them; the recorded minimum and maximum bound the open-ended buckets (and every
    /// answer), and without them the first bucket starts at 0 when its bound is positive, and the
    /// last ends at the highest finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&q) {
            return None;
        }
        let (buckets, min, max) = match self {
            MetricData::Number { .. } => return None,
            MetricData::Summary { quantiles, quantile_values, .. } => {
                return summary_quantile(quantiles, quantile_values, q)
            }
            MetricData::Histogram { bucket_counts, explicit_bounds, min, max, .. } => {
                (explicit_buckets(bucket_counts, explicit_bounds, *min, *max), *min, *max)
            }
            MetricData::ExponentialHistogram { .. } => (self.exponential_buckets()?, self.min(), self.max()),
        };
        let total: u64 = buckets.iter().map(|b| b.2).sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for &(lo, hi, n) in &buckets {
            if n > 0 && (below + n) as f64 >= rank {
                let at = lo + (hi - lo) * ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some(at.clamp(min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX)));
            }
            below += n;
        }
        buckets.iter().rev().find(|b| b.2 > 0).map(|b| b.1)
    }

    fn min(&self) -> Option<f64> {
        match self {
            MetricData::Histogram { min, .. } | MetricData::ExponentialHistogram { min, .. } => *min,
            _ => None,
        }
    }

    fn max(&self) -> Option<f64> {
        match self {
            MetricData::Histogram { max, .. } | MetricData::ExponentialHistogram { max, .. } => *max,
            _ => None,
        }
    }

    /// An exponential histogram's buckets in ascending order as `(lower, upper, count)`: the
    /// negative ones (largest magnitude first), the zero bucket, the positive ones. Bucket `i`
    /// holds values in `(base^i, base^(i+1)]`, `base = 2^(2^-scale)`.
    fn exponential_buckets(&self) -> Option<Vec<(f64, f64, u64)>> {
        let MetricData::ExponentialHistogram {
            scale,
            zero_count,
            positive_offset,
            positive_bucket_counts,
            negative_offset,
            negative_bucket_counts,
            ..
        } = self
        else {
            return None;
        };
        let base = 2f64.powf(2f64.powi(-scale));
        let edge = |i: i64| base.powf(i as f64);
        let mut out = Vec::with_capacity(positive_bucket_counts.len() + negative_bucket_counts.len() + 1);
        for (k, &n) in negative_bucket_counts.iter().enumerate().rev() {
            let i = *negative_offset as i64 + k as i64;
            out.push((-edge(i + 1), -edge(i), n));
        }
        out.push((0.0, 0.0, *zero_count));
        for (k, &n) in positive_bucket_counts.iter().enumerate() {
            let i = *positive_offset as i64 + k as i64;
            out.push((edge(i), edge(i + 1), n));
        }
        Some(out)
    }
}

/// Explicit-bound buckets as `(lower, upper, count)`: bucket 0 is `(-inf, b0]`, bucket i
/// `(b[i-1], b[i]]`, the last `(b[n-1], +inf)`; the open ends take the recorded min and max.
fn explicit_buckets(
    counts: &[u64],
    bounds: &[f64],
    min: Option<f64>,
    max: Option<f64>,
) -> Vec<(f64, f64, u64)> {
    let Some((&first, &last)) = bounds.first().zip(bounds.last()) else {
        // One bucket holding everything: only the min and max say where.
        let n = counts.first().copied().unwrap_or(0);
        return min.zip(max).map(|(lo, hi)| vec![(lo, hi, n)]).unwrap_or_default();
    };
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let lo = match i {
                0 => min.unwrap_or(if first > 0.0 { 0.0 } else { first }).min(first),
                _ => bounds[i - 1],
            };
            let hi = match bounds.get(i) {
                Some(&b) => b,
                None => max.unwrap_or(last).max(last),
            };
            (lo, hi, n)
        })
        .collect()
}

/// A summary's quantile: one it carries, or linear between the two that bracket it.
fn summary_quantile(qs: &[f64], vs: &[f64], q: f64) -> Option<f64> {
    let mut pairs: Vec<(f64, f64)> = qs.iter().copied().zip(vs.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let hi = pairs.iter().position(|p| p.0 >= q)?;
    if pairs[hi].0 == q || hi == 0 {
        return (pairs[hi].0 == q).then_some(pairs[hi].1);
    }
    let (a, b) = (pairs[hi - 1], pairs[hi]);
    Some(a.1 + (b.1 - a.1) * (q - a.0) / (b.0 - a.0))
}

#[cfg(test)]
mod quantile_tests {
    use super::*;
    use proptest::prelude::*;

    fn hist(counts: &[u64], bounds: &[f64], min: Option<f64>, max: Option<f64>) -> MetricData {
        MetricData::Histogram {
            count: counts.iter().sum(),
            sum: None,
            min,
            max,
            bucket_counts: counts.to_vec(),
            explicit_bounds: bounds.to_vec(),
        }
    }

    #[test]
    fn explicit_buckets_interpolate_within_the_bucket_that_holds_the_rank() {
        // 10 values in (0, 10], 10 in (10, 100]: the median is the first bucket's top, p75 halfway
        // up the second.
        let h = hist(&[10, 10, 0], &[10.0, 100.0], None, None);
        assert_eq!(h.quantile(0.5), Some(10.0));
        assert_eq!(h.quantile(0.75), Some(55.0));
        assert_eq!(h.quantile(0.25), Some(5.0));
        // The recorded extremes bound the answer and the open last bucket.
        let h = hist(&[0, 4, 4], &[10.0, 100.0], Some(20.0), Some(300.0));
        assert_eq!(h.quantile(0.0), Some(20.0));
        assert_eq!(h.quantile(1.0), Some(300.0));
        assert_eq!(h.quantile(0.75), Some(200.0));
        assert_eq!(hist(&[0, 0, 0], &[1.0, 2.0], None, None).quantile(0.5), None);
        assert_eq!(MetricData::Number { value: 3.0, is_int: true }.quantile(0.5), None);
    }

    #[test]
    fn exponential_buckets_are_powers_of_the_base() {
        // scale 0: base 2; bucket i = (2^i, 2^(i+1)]. Offsets 1: buckets (2,4], (4,8].
        let h = MetricData::ExponentialHistogram {
            count: 4,
            sum: None,
            min: None,
            max: None,
            scale: 0,
            zero_count: 0,
            positive_offset: 1,
            positive_bucket_counts: vec![2, 2],
            negative_offset: 0,
            negative_bucket_counts: vec![],
        };
        assert_eq!(h.quantile(0.5), Some(4.0));
        assert_eq!(h.quantile(0.75), Some(6.0));
        assert_eq!(h.quantile(1.0), Some(8.0));
    }

    #[test]
    fn summaries_answer_their_own_quantiles_and_between_them() {
        let s = MetricData::Summary {
            count: 9,
            sum: 1.0,
            quantiles: vec![0.5, 0.9],
            quantile_values: vec![10.0, 50.0],
        };
        assert_eq!(s.quantile(0.5), Some(10.0));
        assert!((s.quantile(0.7).unwrap() - 30.0).abs() < 1e-9);
        assert_eq!(s.quantile(0.99), None);
        assert_eq!(s.quantile(0.1), None);
    }

    proptest! {
        /// Higher quantiles never come out lower, and every answer lies within min and max.
        #[test]
        fn quantiles_rise_and_stay_within_the_extremes(
            counts in proptest::collection::vec(0u64..50, 1..8),
            step in 0.1f64..100.0,
            q in 0.0f64..1.0,
            dq in 0.0f64..0.5,
        ) {
            let bounds: Vec<f64> = (1..counts.len()).map(|i| i as f64 * step).collect();
            let (min, max) = (Some(0.05), Some(counts.len() as f64 * step + 1.0));
            let h = hist(&counts, &bounds, min, max);
            let (a, b) = (h.quantile(q), h.quantile((q + dq).min(1.0)));
            if counts.iter().sum::<u64>() == 0 {
                prop_assert!(a.is_none());
            } else {
                let (a, b) = (a.unwrap(), b.unwrap());
                prop_assert!(a <= b + 1e-9, "{a} > {b}");
                prop_assert!(a >= 0.05 && b <= max.unwrap());
            }
        }
    }
}

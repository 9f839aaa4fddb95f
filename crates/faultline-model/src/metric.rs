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

//! Logs and metrics of a window in the compact forms the investigation reads.

use crate::Interner;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, Int8Type, TimestampNanosecondType};
use std::collections::BTreeMap;

/// Columns the analysis reads from the logs table.
pub const LOG_COLUMNS: &[&str] = &[
    "time",
    "severity_number",
    "severity_text",
    "body",
    "attributes",
    "trace_id",
    "service_name",
    "service_instance",
];

/// Columns the analysis reads from the metrics table.
pub const METRIC_COLUMNS: &[&str] =
    &["time", "name", "attributes", "value", "sum", "count", "service_name", "service_instance"];

fn times(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name)
        .and_then(|c| {
            c.as_primitive_opt::<TimestampNanosecondType>()
                .map(|a| a.values().to_vec())
                .or_else(|| c.as_primitive_opt::<Int64Type>().map(|a| a.values().to_vec()))
        })
        .unwrap_or_else(|| vec![0; b.num_rows()])
}

fn str_at<'a>(b: &'a RecordBatch, name: &str, row: usize) -> &'a str {
    match b.column_by_name(name).and_then(|c| c.as_string_opt::<i32>()) {
        Some(a) if a.is_valid(row) => a.value(row),
        _ => "",
    }
}

/// Log records: time, service, instance, whether it reports an error, the message, the trace.
#[derive(Debug, Default)]
pub struct LogTable {
    pub names: Interner,
    pub time: Vec<i64>,
    pub service: Vec<u32>,
    pub instance: Vec<u32>,
    pub error: Vec<bool>,
    pub body: Vec<String>,
    pub trace_id: Vec<Option<[u8; 16]>>,
    /// For records without a trace id: the correlation ids they carry (see `correlate`).
    pub corr: Vec<Vec<String>>,
}

/// Words that mark a log line as an error report when it has no severity.
pub fn looks_like_error(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    [
        "error",
        "exception",
        "fail",
        "fatal",
        "panic",
        "timeout",
        "timed out",
        "refused",
        "invalid",
        "denied",
        "unavailable",
        "no such host",
        "no space left",
        "exhausted",
    ]
    .iter()
    .any(|w| b.contains(w))
}

impl LogTable {
    pub fn from_batches(batches: &[RecordBatch]) -> LogTable {
        let mut t = LogTable::default();
        for b in batches {
            let time = times(b, "time");
            let sev =
                b.column_by_name("severity_number").and_then(|c| c.as_primitive_opt::<Int8Type>().cloned());
            let trace = b.column_by_name("trace_id").and_then(|c| c.as_fixed_size_binary_opt().cloned());
            for (row, &tm) in time.iter().enumerate() {
                let body = str_at(b, "body", row);
                let sev = sev.as_ref().filter(|a| a.is_valid(row)).map_or(0, |a| a.value(row));
                let text = str_at(b, "severity_text", row).to_ascii_lowercase();
                let error = if sev > 0 {
                    sev >= 17
                } else if !text.is_empty() {
                    text.starts_with("err") || text.starts_with("fatal") || text.starts_with("crit")
                } else {
                    looks_like_error(body)
                };
                t.time.push(tm);
                let s = str_at(b, "service_name", row);
                let s = t.names.intern(if s.is_empty() { "unknown_service" } else { s });
                t.service.push(s);
                let i = t.names.intern(str_at(b, "service_instance", row));
                t.instance.push(i);
                t.error.push(error);
                t.body.push(body.to_string());
                let tid: Option<[u8; 16]> =
                    trace.as_ref().filter(|a| a.is_valid(row)).and_then(|a| a.value(row).try_into().ok());
                let mut ids = Vec::new();
                if tid.is_none() {
                    let attrs = str_at(b, "attributes", row);
                    if attrs.len() > 2 {
                        crate::correlate::ids_in_attributes(
                            &faultline_model::value::attributes_from_json(attrs),
                            &mut ids,
                        );
                    }
                    crate::correlate::ids_in_body(body, &mut ids);
                }
                t.trace_id.push(tid);
                t.corr.push(ids);
            }
        }
        t
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
}

/// A metric series: one metric of one instance with one attribute set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub name: String,
    pub service: String,
    pub instance: String,
    /// The point attributes as JSON (`{}` when none).
    pub attributes: String,
}

/// Metric points grouped into series, each sorted by time.
#[derive(Debug, Default)]
pub struct MetricTable {
    pub series: BTreeMap<MetricKey, Vec<(i64, f64)>>,
    pub points: usize,
}

impl MetricTable {
    pub fn from_batches(batches: &[RecordBatch]) -> MetricTable {
        let mut m = MetricTable::default();
        for b in batches {
            let time = times(b, "time");
            let f = |n: &str| b.column_by_name(n).and_then(|c| c.as_primitive_opt::<Float64Type>().cloned());
            let (value, sum) = (f("value"), f("sum"));
            let count = b
                .column_by_name("count")
                .and_then(|c| c.as_primitive_opt::<arrow::datatypes::UInt64Type>().cloned());
            for (row, &tm) in time.iter().enumerate() {
                let v = match (&value, &sum, &count) {
                    (Some(v), _, _) if v.is_valid(row) => v.value(row),
                    // Histograms and summaries: their mean.
                    (_, Some(s), Some(c)) if s.is_valid(row) && c.is_valid(row) && c.value(row) > 0 => {
                        s.value(row) / c.value(row) as f64
                    }
                    _ => continue,
                };
                if !v.is_finite() {
                    continue;
                }
                let key = MetricKey {
                    name: str_at(b, "name", row).to_string(),
                    service: str_at(b, "service_name", row).to_string(),
                    instance: str_at(b, "service_instance", row).to_string(),
                    attributes: str_at(b, "attributes", row).to_string(),
                };
                m.series.entry(key).or_default().push((tm, v));
                m.points += 1;
            }
        }
        for s in m.series.values_mut() {
            s.sort_by_key(|p| p.0);
        }
        m
    }
}

//! Prometheus remote write 1.0: a `WriteRequest` in protobuf, compressed with snappy's block format
//! (`Content-Encoding: snappy`), as Prometheus, Grafana Agent and the OpenTelemetry Collector's
//! `prometheusremotewrite` exporter send it.
//!
//! Each sample becomes one metric point. The series' `__name__` is the metric's name; `job` and
//! `instance` become the resource's `service.name` and `service.instance.id` (the mapping of the
//! OpenTelemetry specification's Prometheus compatibility); every other label is a point attribute.
//! A series declared a counter by metadata in the same request, or named as counters and histogram
//! parts are (`_total`, `_count`, `_sum`, `_bucket`), is a cumulative monotonic sum; the rest are
//! gauges. (Prometheus sends metadata in requests of its own, once a minute: the names decide
//! there.)
//! Staleness markers (Prometheus's special NaN) carry no value and are skipped; a series without a
//! name, or a sample whose time cannot be a nanosecond timestamp, is rejected alone.

use faultline_model::{Attributes, MetricData, MetricKind, MetricPoint, ResourceInfo, Temporality};
use faultline_otlp::Decoded;
use std::collections::HashMap;
use std::sync::Arc;

/// Prometheus's staleness marker: a NaN with this exact bit pattern ends a series.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Nanoseconds in a millisecond: remote write's timestamps are milliseconds.
const MS: i64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("body is not snappy-compressed (block format, as remote write sends it): {0}")]
    Snappy(String),
    #[error("decompressed body of {0} bytes is larger than the limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("body is not a remote-write WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// `prometheus.WriteRequest` (remote write 1.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// UNKNOWN 0, COUNTER 1, GAUGE 2, HISTOGRAM 3, GAUGEHISTOGRAM 4, SUMMARY 5, INFO 6, STATESET 7.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The metadata type of a counter.
const COUNTER: i32 = 1;
/// Suffixes of series that only ever grow: counters, and the parts of histograms and summaries.
const CUMULATIVE_SUFFIXES: [&str; 4] = ["_total", "_count", "_sum", "_bucket"];

/// Decompresses (snappy block format, at most `limit` bytes) and decodes a remote-write body.
pub fn decode(body: &[u8], limit: usize) -> Result<WriteRequest, RemoteWriteError> {
    let len = snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if len > limit {
        return Err(RemoteWriteError::TooLarge(len, limit));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    Ok(prost::Message::decode(raw.as_slice())?)
}

/// The metric points of a write request; series and samples that cannot be stored are rejected
/// alone, with what was wrong.
pub fn points(req: &WriteRequest) -> Decoded<MetricPoint> {
    let meta: HashMap<&str, &MetricMetadata> =
        req.metadata.iter().map(|m| (m.metric_family_name.as_str(), m)).collect();
    let mut out = Decoded::default();
    for (k, ts) in req.timeseries.iter().enumerate() {
        let Some(name) = ts.labels.iter().find(|l| l.name == "__name__").map(|l| l.value.as_str()) else {
            reject(&mut out, format!("series [{k}]: no __name__ label"), ts.samples.len());
            continue;
        };
        let (resource, attributes) = split_labels(&ts.labels);
        let m = meta.get(family(name, &meta));
        let counter =
            m.is_some_and(|m| m.r#type == COUNTER) || CUMULATIVE_SUFFIXES.iter().any(|s| name.ends_with(s));
        for s in &ts.samples {
            if s.value.to_bits() == STALE_NAN {
                continue;
            }
            let Some(time) = s.timestamp.checked_mul(MS) else {
                reject(&mut out, format!("{name}: timestamp {} ms is out of range", s.timestamp), 1);
                continue;
            };
            out.items.push(MetricPoint {
                name: name.to_string(),
                description: m.map(|m| m.help.clone()).unwrap_or_default(),
                unit: m.map(|m| m.unit.clone()).unwrap_or_default(),
                kind: if counter { MetricKind::Sum } else { MetricKind::Gauge },
                temporality: if counter { Temporality::Cumulative } else { Temporality::Unspecified },
                is_monotonic: counter,
                time_unix_nano: time,
                start_time_unix_nano: 0,
                attributes: attributes.clone(),
                flags: 0,
                data: MetricData::Number { value: s.value, is_int: false },
                resource: resource.clone(),
            });
        }
    }
    out
}

/// The metadata's family of a series name: the name itself, or the name without the suffix a
/// histogram's or summary's series adds.
fn family<'a>(name: &'a str, meta: &HashMap<&str, &MetricMetadata>) -> &'a str {
    if meta.contains_key(name) {
        return name;
    }
    CUMULATIVE_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|f| meta.contains_key(f))
        .unwrap_or(name)
}

fn reject(out: &mut Decoded<MetricPoint>, what: String, samples: usize) {
    out.rejected += samples.max(1) as u64;
    if out.errors.len() < 5 {
        out.errors.push(what);
    }
}

/// The resource (`job` as `service.name`, `instance` as `service.instance.id`) and the point's
/// attributes (every other label but the name).
fn split_labels(labels: &[Label]) -> (Arc<ResourceInfo>, Attributes) {
    let (mut res, mut attrs) = (Attributes::new(), Attributes::new());
    for l in labels {
        match l.name.as_str() {
            "__name__" => {}
            "job" => {
                res.insert("service.name".into(), l.value.clone().into());
            }
            "instance" => {
                res.insert("service.instance.id".into(), l.value.clone().into());
            }
            _ => {
                attrs.insert(l.name.clone(), l.value.clone().into());
            }
        }
    }
    (Arc::new(ResourceInfo::from_attributes(res)), attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn label(name: &str, value: &str) -> Label {
        Label { name: name.into(), value: value.into() }
    }

    fn body(req: &WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap()
    }

    #[test]
    fn samples_become_points_with_job_and_instance_as_the_resource() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        label("__name__", "http_requests_total"),
                        label("job", "checkout"),
                        label("instance", "10.0.0.7:9090"),
                        label("code", "500"),
                    ],
                    samples: vec![Sample { value: 3.0, timestamp: 1_700_000_000_000 }],
                },
                TimeSeries {
                    labels: vec![label("__name__", "queue_depth"), label("job", "worker")],
                    samples: vec![
                        Sample { value: 7.0, timestamp: 1_700_000_000_000 },
                        Sample { value: f64::from_bits(STALE_NAN), timestamp: 1_700_000_015_000 },
                    ],
                },
            ],
            metadata: vec![],
        };
        let d = points(&decode(&body(&req), 1 << 20).unwrap());
        assert_eq!((d.items.len(), d.rejected), (2, 0));
        let c = &d.items[0];
        assert_eq!((c.name.as_str(), c.kind, c.is_monotonic), ("http_requests_total", MetricKind::Sum, true));
        assert_eq!(c.resource.service_name, "checkout");
        assert_eq!(c.resource.instance.as_deref(), Some("10.0.0.7:9090"));
        assert_eq!(c.attributes["code"], "500");
        assert!(!c.attributes.contains_key("job"));
        assert_eq!(c.time_unix_nano, 1_700_000_000_000 * MS);
        let g = &d.items[1];
        assert_eq!((g.kind, g.scalar()), (MetricKind::Gauge, Some(7.0)));
    }

    #[test]
    fn a_body_encoded_by_another_encoder_decodes() {
        // The fuzz corpus's seed, written by hand in Python (snappy literals, protobuf fields).
        let body = include_bytes!("../../../fuzz/corpus/remote_write/write_request");
        let d = points(&decode(body, 1 << 20).unwrap());
        assert_eq!((d.items.len(), d.rejected), (3, 0));
        assert_eq!(d.items[1].scalar(), Some(4.0));
        assert_eq!(d.items[0].description, "Requests.");
        assert_eq!((d.items[2].name.as_str(), d.items[2].kind), ("up", MetricKind::Gauge));
    }

    #[test]
    fn metadata_names_a_counter_and_its_help() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("__name__", "jobs_done"), label("job", "batch")],
                samples: vec![Sample { value: 1.0, timestamp: 1 }],
            }],
            metadata: vec![MetricMetadata {
                r#type: COUNTER,
                metric_family_name: "jobs_done".into(),
                help: "Jobs finished.".into(),
                unit: String::new(),
            }],
        };
        let d = points(&req);
        assert_eq!((d.items[0].kind, d.items[0].description.as_str()), (MetricKind::Sum, "Jobs finished."));
    }

    #[test]
    fn a_bad_series_is_rejected_alone_and_a_bad_body_says_what_it_is_not() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![label("job", "x")],
                    samples: vec![Sample { value: 1.0, timestamp: 1 }],
                },
                TimeSeries {
                    labels: vec![label("__name__", "up")],
                    samples: vec![
                        Sample { value: 1.0, timestamp: i64::MAX },
                        Sample { value: 1.0, timestamp: 5 },
                    ],
                },
            ],
            metadata: vec![],
        };
        let d = points(&req);
        assert_eq!((d.items.len(), d.rejected), (1, 2));
        assert!(d.errors[0].contains("__name__") && d.errors[1].contains("out of range"), "{:?}", d.errors);
        let e = decode(b"not snappy at all", 1 << 20).unwrap_err();
        assert!(e.to_string().contains("snappy"), "{e}");
        let e =
            decode(&snap::raw::Encoder::new().compress_vec(b"\xff\xff\xff").unwrap(), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("WriteRequest"), "{e}");
        let big = body(&WriteRequest { timeseries: vec![], metadata: vec![] });
        assert!(decode(&big, 1 << 20).is_ok());
        let e = decode(&snap::raw::Encoder::new().compress_vec(&[0u8; 4096]).unwrap(), 1024).unwrap_err();
        assert!(matches!(e, RemoteWriteError::TooLarge(4096, 1024)), "{e}");
    }
}

//! OTLP/JSON: decoding into the protobuf types, and encoding from them.
//!
//! Decoding goes through `serde_json::Value` so that every field can be read leniently where the
//! specification asks for it (ids in hex, 64-bit integers as strings or numbers, enums as integers
//! or names, camelCase or snake_case keys) while errors name the exact path of the offending field.

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::{
    exponential_histogram_data_point, metric, number_data_point, summary_data_point, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use crate::{DecodeError, Request, Signal};
use base64::Engine;
use serde_json::{json, Map, Value};

type R<T> = Result<T, DecodeError>;

/// A cursor into a JSON object that remembers its path for error messages.
#[derive(Clone, Copy)]
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

fn field_err(path: &str, key: &str, message: impl Into<String>) -> DecodeError {
    DecodeError::JsonField { path: format!("{path}.{key}"), message: message.into() }
}

fn snake(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            Some(Value::Null) | None => match self.map.get(&snake(key)) {
                Some(Value::Null) | None => None,
                v => v,
            },
            v => v,
        }
    }

    fn str(&self, key: &str) -> R<String> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(field_err(self.path, key, format!("expected a string, got {v}"))),
        }
    }

    fn u64(&self, key: &str) -> R<u64> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => as_u64(v)
                .ok_or_else(|| field_err(self.path, key, format!("expected an unsigned integer, got {v}"))),
        }
    }

    /// A timestamp: an unsigned integer, where a negative or too large one (a broken clock, a
    /// writer's bug) becomes `TIME_OUT_OF_RANGE`, so that conversion rejects that record alone
    /// instead of the whole document.
    fn time(&self, key: &str) -> R<u64> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => as_u64(v)
                .or_else(|| is_integer(v).then_some(crate::TIME_OUT_OF_RANGE))
                .ok_or_else(|| field_err(self.path, key, format!("expected an unsigned integer, got {v}"))),
        }
    }

    fn i64(&self, key: &str) -> R<i64> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => {
                as_i64(v).ok_or_else(|| field_err(self.path, key, format!("expected an integer, got {v}")))
            }
        }
    }

    fn u32(&self, key: &str) -> R<u32> {
        let v = self.u64(key)?;
        u32::try_from(v).map_err(|_| field_err(self.path, key, format!("{v} does not fit 32 bits")))
    }

    fn i32(&self, key: &str) -> R<i32> {
        let v = self.i64(key)?;
        i32::try_from(v).map_err(|_| field_err(self.path, key, format!("{v} does not fit 32 bits")))
    }

    fn f64(&self, key: &str) -> R<f64> {
        self.opt_f64(key).map(|v| v.unwrap_or(0.0))
    }

    fn opt_f64(&self, key: &str) -> R<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_f64(v)
                .map(Some)
                .ok_or_else(|| field_err(self.path, key, format!("expected a number, got {v}"))),
        }
    }

    fn bool(&self, key: &str) -> R<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(field_err(self.path, key, format!("expected true or false, got {v}"))),
        }
    }

    /// An enum: an integer, or its name (`SPAN_KIND_SERVER`) looked up in `names`.
    fn enumeration(&self, key: &str, names: &[(&str, i32)]) -> R<i32> {
        match self.get(key) {
            None => Ok(0),
            Some(Value::String(s)) => {
                if let Ok(n) = s.parse::<i32>() {
                    return Ok(n);
                }
                names
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(s))
                    .map(|(_, v)| *v)
                    .ok_or_else(|| field_err(self.path, key, format!("unknown enum value {s:?}")))
            }
            Some(v) => as_i64(v)
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| field_err(self.path, key, format!("expected an enum, got {v}"))),
        }
    }

    /// An id in hex (OTLP/JSON), of any length: validation of lengths happens in conversion, which
    /// can reject one record and keep the rest.
    fn hex_id(&self, key: &str) -> R<Vec<u8>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
            Some(Value::String(s)) => {
                hex::decode(s).map_err(|_| field_err(self.path, key, format!("expected a hex id, got {s:?}")))
            }
            Some(v) => Err(field_err(self.path, key, format!("expected a hex string, got {v}"))),
        }
    }

    fn array(&self, key: &str) -> R<&'a [Value]> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(field_err(self.path, key, format!("expected an array, got {}", kind(v)))),
        }
    }

    fn objects<T>(&self, key: &str, mut f: impl FnMut(Obj<'_>) -> R<T>) -> R<Vec<T>> {
        let arr = self.array(key)?;
        let mut out = Vec::with_capacity(arr.len());
        for (i, v) in arr.iter().enumerate() {
            let path = format!("{}.{key}[{i}]", self.path);
            let map = v.as_object().ok_or_else(|| DecodeError::JsonField {
                path: path.clone(),
                message: format!("expected an object, got {}", kind(v)),
            })?;
            out.push(f(Obj { map, path: &path })?);
        }
        Ok(out)
    }

    fn object<T>(&self, key: &str, f: impl FnOnce(Obj<'_>) -> R<T>) -> R<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                let path = format!("{}.{key}", self.path);
                f(Obj { map, path: &path }).map(Some)
            }
            Some(v) => Err(field_err(self.path, key, format!("expected an object, got {}", kind(v)))),
        }
    }

    fn numbers<T>(&self, key: &str, f: impl Fn(&Value) -> Option<T>) -> R<Vec<T>> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                f(v).ok_or_else(|| field_err(self.path, &format!("{key}[{i}]"), format!("bad number {v}")))
            })
            .collect()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON number or numeric string that is an integer of any sign or size.
fn is_integer(v: &Value) -> bool {
    let digits = |s: &str| {
        let s = s.trim().strip_prefix('-').unwrap_or(s.trim());
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    };
    match v {
        Value::Number(n) => digits(&n.to_string()),
        Value::String(s) => digits(s),
        _ => false,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            s => s.trim().parse().ok(),
        },
        _ => None,
    }
}

fn any_value(o: Obj<'_>) -> R<AnyValue> {
    use any_value::Value as V;
    let value = if let Some(v) = o.get("stringValue") {
        Some(V::StringValue(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
    } else if o.get("boolValue").is_some() {
        Some(V::BoolValue(o.bool("boolValue")?))
    } else if o.get("intValue").is_some() {
        Some(V::IntValue(o.i64("intValue")?))
    } else if o.get("doubleValue").is_some() {
        Some(V::DoubleValue(o.f64("doubleValue")?))
    } else if o.get("arrayValue").is_some() {
        o.object("arrayValue", |a| Ok(V::ArrayValue(ArrayValue { values: a.objects("values", any_value)? })))?
    } else if o.get("kvlistValue").is_some() {
        o.object("kvlistValue", |a| {
            Ok(V::KvlistValue(KeyValueList { values: a.objects("values", key_value)? }))
        })?
    } else if let Some(v) = o.get("bytesValue") {
        let s = v.as_str().ok_or_else(|| field_err(o.path, "bytesValue", "expected base64 text"))?;
        let b = base64::engine::general_purpose::STANDARD
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
            .map_err(|e| field_err(o.path, "bytesValue", format!("invalid base64: {e}")))?;
        Some(V::BytesValue(b))
    } else {
        None
    };
    Ok(AnyValue { value })
}

fn key_value(o: Obj<'_>) -> R<KeyValue> {
    Ok(KeyValue { key: o.str("key")?, value: o.object("value", any_value)?, ..Default::default() })
}

fn attributes(o: Obj<'_>) -> R<Vec<KeyValue>> {
    o.objects("attributes", key_value)
}

fn resource(o: Obj<'_>) -> R<Option<Resource>> {
    o.object("resource", |r| {
        Ok(Resource {
            attributes: attributes(r)?,
            dropped_attributes_count: r.u32("droppedAttributesCount")?,
            ..Default::default()
        })
    })
}

fn scope(o: Obj<'_>) -> R<Option<InstrumentationScope>> {
    o.object("scope", |s| {
        Ok(InstrumentationScope {
            name: s.str("name")?,
            version: s.str("version")?,
            attributes: attributes(s)?,
            dropped_attributes_count: s.u32("droppedAttributesCount")?,
        })
    })
}

const SPAN_KINDS: &[(&str, i32)] = &[
    ("SPAN_KIND_UNSPECIFIED", 0),
    ("SPAN_KIND_INTERNAL", 1),
    ("SPAN_KIND_SERVER", 2),
    ("SPAN_KIND_CLIENT", 3),
    ("SPAN_KIND_PRODUCER", 4),
    ("SPAN_KIND_CONSUMER", 5),
];
const STATUS_CODES: &[(&str, i32)] =
    &[("STATUS_CODE_UNSET", 0), ("STATUS_CODE_OK", 1), ("STATUS_CODE_ERROR", 2)];
const TEMPORALITIES: &[(&str, i32)] = &[
    ("AGGREGATION_TEMPORALITY_UNSPECIFIED", 0),
    ("AGGREGATION_TEMPORALITY_DELTA", 1),
    ("AGGREGATION_TEMPORALITY_CUMULATIVE", 2),
];

fn severity_names() -> Vec<(String, i32)> {
    let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let mut v = vec![("SEVERITY_NUMBER_UNSPECIFIED".to_string(), 0)];
    for (i, l) in levels.iter().enumerate() {
        for k in 0..4 {
            let suffix = if k == 0 { String::new() } else { (k + 1).to_string() };
            v.push((format!("SEVERITY_NUMBER_{l}{suffix}"), (i * 4 + k + 1) as i32));
        }
    }
    v
}

fn span(o: Obj<'_>) -> R<Span> {
    Ok(Span {
        trace_id: o.hex_id("traceId")?,
        span_id: o.hex_id("spanId")?,
        trace_state: o.str("traceState")?,
        parent_span_id: o.hex_id("parentSpanId")?,
        flags: o.u32("flags")?,
        name: o.str("name")?,
        kind: o.enumeration("kind", SPAN_KINDS)?,
        start_time_unix_nano: o.time("startTimeUnixNano")?,
        end_time_unix_nano: o.time("endTimeUnixNano")?,
        attributes: attributes(o)?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
        events: o.objects("events", |e| {
            Ok(span::Event {
                time_unix_nano: e.time("timeUnixNano")?,
                name: e.str("name")?,
                attributes: attributes(e)?,
                dropped_attributes_count: e.u32("droppedAttributesCount")?,
            })
        })?,
        dropped_events_count: o.u32("droppedEventsCount")?,
        links: o.objects("links", |l| {
            Ok(span::Link {
                trace_id: l.hex_id("traceId")?,
                span_id: l.hex_id("spanId")?,
                trace_state: l.str("traceState")?,
                attributes: attributes(l)?,
                dropped_attributes_count: l.u32("droppedAttributesCount")?,
                flags: l.u32("flags")?,
            })
        })?,
        dropped_links_count: o.u32("droppedLinksCount")?,
        status: o.object("status", |s| {
            Ok(Status { message: s.str("message")?, code: s.enumeration("code", STATUS_CODES)? })
        })?,
    })
}

fn log_record(o: Obj<'_>, severities: &[(&str, i32)]) -> R<LogRecord> {
    Ok(LogRecord {
        time_unix_nano: o.time("timeUnixNano")?,
        observed_time_unix_nano: o.time("observedTimeUnixNano")?,
        severity_number: o.enumeration("severityNumber", severities)?,
        severity_text: o.str("severityText")?,
        body: o.object("body", any_value)?,
        attributes: attributes(o)?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
        flags: o.u32("flags")?,
        trace_id: o.hex_id("traceId")?,
        span_id: o.hex_id("spanId")?,
        event_name: o.str("eventName")?,
    })
}

fn number_point(o: Obj<'_>) -> R<NumberDataPoint> {
    let value = if o.get("asInt").is_some() {
        Some(number_data_point::Value::AsInt(o.i64("asInt")?))
    } else if o.get("asDouble").is_some() {
        Some(number_data_point::Value::AsDouble(o.f64("asDouble")?))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: attributes(o)?,
        start_time_unix_nano: o.time("startTimeUnixNano")?,
        time_unix_nano: o.time("timeUnixNano")?,
        exemplars: Vec::new(),
        flags: o.u32("flags")?,
        value,
    })
}

fn buckets(o: Obj<'_>, key: &str) -> R<Option<exponential_histogram_data_point::Buckets>> {
    o.object(key, |b| {
        Ok(exponential_histogram_data_point::Buckets {
            offset: b.i32("offset")?,
            bucket_counts: b.numbers("bucketCounts", as_u64)?,
        })
    })
}

fn metric(o: Obj<'_>) -> R<Metric> {
    let data = if o.get("gauge").is_some() {
        o.object("gauge", |g| {
            Ok(metric::Data::Gauge(Gauge { data_points: g.objects("dataPoints", number_point)? }))
        })?
    } else if o.get("sum").is_some() {
        o.object("sum", |s| {
            Ok(metric::Data::Sum(Sum {
                data_points: s.objects("dataPoints", number_point)?,
                aggregation_temporality: s.enumeration("aggregationTemporality", TEMPORALITIES)?,
                is_monotonic: s.bool("isMonotonic")?,
            }))
        })?
    } else if o.get("histogram").is_some() {
        o.object("histogram", |h| {
            Ok(metric::Data::Histogram(Histogram {
                data_points: h.objects("dataPoints", |p| {
                    Ok(HistogramDataPoint {
                        attributes: attributes(p)?,
                        start_time_unix_nano: p.time("startTimeUnixNano")?,
                        time_unix_nano: p.time("timeUnixNano")?,
                        count: p.u64("count")?,
                        sum: p.opt_f64("sum")?,
                        bucket_counts: p.numbers("bucketCounts", as_u64)?,
                        explicit_bounds: p.numbers("explicitBounds", as_f64)?,
                        exemplars: Vec::new(),
                        flags: p.u32("flags")?,
                        min: p.opt_f64("min")?,
                        max: p.opt_f64("max")?,
                    })
                })?,
                aggregation_temporality: h.enumeration("aggregationTemporality", TEMPORALITIES)?,
            }))
        })?
    } else if o.get("exponentialHistogram").is_some() {
        o.object("exponentialHistogram", |h| {
            Ok(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: h.objects("dataPoints", |p| {
                    Ok(ExponentialHistogramDataPoint {
                        attributes: attributes(p)?,
                        start_time_unix_nano: p.time("startTimeUnixNano")?,
                        time_unix_nano: p.time("timeUnixNano")?,
                        count: p.u64("count")?,
                        sum: p.opt_f64("sum")?,
                        scale: p.i32("scale")?,
                        zero_count: p.u64("zeroCount")?,
                        positive: buckets(p, "positive")?,
                        negative: buckets(p, "negative")?,
                        flags: p.u32("flags")?,
                        exemplars: Vec::new(),
                        min: p.opt_f64("min")?,
                        max: p.opt_f64("max")?,
                        zero_threshold: p.f64("zeroThreshold")?,
                    })
                })?,
                aggregation_temporality: h.enumeration("aggregationTemporality", TEMPORALITIES)?,
            }))
        })?
    } else if o.get("summary").is_some() {
        o.object("summary", |s| {
            Ok(metric::Data::Summary(Summary {
                data_points: s.objects("dataPoints", |p| {
                    Ok(SummaryDataPoint {
                        attributes: attributes(p)?,
                        start_time_unix_nano: p.time("startTimeUnixNano")?,
                        time_unix_nano: p.time("timeUnixNano")?,
                        count: p.u64("count")?,
                        sum: p.f64("sum")?,
                        quantile_values: p.objects("quantileValues", |q| {
                            Ok(summary_data_point::ValueAtQuantile {
                                quantile: q.f64("quantile")?,
                                value: q.f64("value")?,
                            })
                        })?,
                        flags: p.u32("flags")?,
                    })
                })?,
            }))
        })?
    } else {
        None
    };
    Ok(Metric {
        name: o.str("name")?,
        description: o.str("description")?,
        unit: o.str("unit")?,
        metadata: o.objects("metadata", key_value)?,
        data,
    })
}

/// Decodes one OTLP/JSON export request of the given signal.
pub fn decode(signal: Signal, bytes: &[u8]) -> R<Request> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    decode_value(signal, &v)
}

/// Which signal a parsed OTLP/JSON object carries, from its top-level key.
pub fn detect_signal(v: &Value) -> Option<Signal> {
    let o = v.as_object()?;
    if o.contains_key("resourceSpans") || o.contains_key("resource_spans") {
        Some(Signal::Traces)
    } else if o.contains_key("resourceLogs") || o.contains_key("resource_logs") {
        Some(Signal::Logs)
    } else if o.contains_key("resourceMetrics") || o.contains_key("resource_metrics") {
        Some(Signal::Metrics)
    } else {
        None
    }
}

/// Decodes an already parsed OTLP/JSON export request.
pub fn decode_value(signal: Signal, v: &Value) -> R<Request> {
    let map =
        v.as_object().ok_or_else(|| DecodeError::Json(format!("expected a JSON object, got {}", kind(v))))?;
    let root = Obj { map, path: "$" };
    Ok(match signal {
        Signal::Traces => Request::Traces(ExportTraceServiceRequest {
            resource_spans: root.objects("resourceSpans", |rs| {
                Ok(ResourceSpans {
                    resource: resource(rs)?,
                    scope_spans: rs.objects("scopeSpans", |ss| {
                        Ok(ScopeSpans {
                            scope: scope(ss)?,
                            spans: ss.objects("spans", span)?,
                            schema_url: ss.str("schemaUrl")?,
                        })
                    })?,
                    schema_url: rs.str("schemaUrl")?,
                })
            })?,
        }),
        Signal::Logs => {
            let names = severity_names();
            let names: Vec<(&str, i32)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            Request::Logs(ExportLogsServiceRequest {
                resource_logs: root.objects("resourceLogs", |rl| {
                    Ok(ResourceLogs {
                        resource: resource(rl)?,
                        scope_logs: rl.objects("scopeLogs", |sl| {
                            Ok(ScopeLogs {
                                scope: scope(sl)?,
                                log_records: sl.objects("logRecords", |l| log_record(l, &names))?,
                                schema_url: sl.str("schemaUrl")?,
                            })
                        })?,
                        schema_url: rl.str("schemaUrl")?,
                    })
                })?,
            })
        }
        Signal::Metrics => Request::Metrics(ExportMetricsServiceRequest {
            resource_metrics: root.objects("resourceMetrics", |rm| {
                Ok(ResourceMetrics {
                    resource: resource(rm)?,
                    scope_metrics: rm.objects("scopeMetrics", |sm| {
                        Ok(ScopeMetrics {
                            scope: scope(sm)?,
                            metrics: sm.objects("metrics", metric)?,
                            schema_url: sm.str("schemaUrl")?,
                        })
                    })?,
                    schema_url: rm.str("schemaUrl")?,
                })
            })?,
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn enc_any(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        None => json!({}),
        Some(V::StringValue(s)) => json!({"stringValue": s}),
        Some(V::BoolValue(b)) => json!({"boolValue": b}),
        Some(V::IntValue(i)) => json!({"intValue": i.to_string()}),
        Some(V::DoubleValue(d)) => json!({"doubleValue": enc_f64(*d)}),
        Some(V::ArrayValue(a)) => {
            json!({"arrayValue": {"values": a.values.iter().map(enc_any).collect::<Vec<_>>()}})
        }
        Some(V::KvlistValue(kv)) => json!({"kvlistValue": {"values": enc_attrs(&kv.values)}}),
        Some(V::BytesValue(b)) => {
            json!({"bytesValue": base64::engine::general_purpose::STANDARD.encode(b)})
        }
        Some(V::StringValueStrindex(_)) => json!({}),
    }
}

fn enc_f64(d: f64) -> Value {
    if d.is_nan() {
        json!("NaN")
    } else if d.is_infinite() {
        json!(if d > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(d)
    }
}

fn enc_attrs(kvs: &[KeyValue]) -> Vec<Value> {
    kvs.iter()
        .map(|kv| match &kv.value {
            Some(v) => json!({"key": kv.key, "value": enc_any(v)}),
            None => json!({"key": kv.key}),
        })
        .collect()
}

fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    let empty = match &v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        Value::Number(n) => n.as_u64() == Some(0),
        Value::Bool(b) => !b,
        Value::Object(_) => false,
    };
    if !empty {
        m.insert(k.to_string(), v);
    }
}

fn enc_resource(r: &Option<Resource>) -> Value {
    let mut m = Map::new();
    if let Some(r) = r {
        put(&mut m, "attributes", Value::Array(enc_attrs(&r.attributes)));
        put(&mut m, "droppedAttributesCount", json!(r.dropped_attributes_count));
    }
    Value::Object(m)
}

fn enc_scope(s: &Option<InstrumentationScope>) -> Value {
    let mut m = Map::new();
    if let Some(s) = s {
        put(&mut m, "name", json!(s.name));
        put(&mut m, "version", json!(s.version));
        put(&mut m, "attributes", Value::Array(enc_attrs(&s.attributes)));
    }
    Value::Object(m)
}

fn enc_span(s: &Span) -> Value {
    let mut m = Map::new();
    put(&mut m, "traceId", json!(hex::encode(&s.trace_id)));
    put(&mut m, "spanId", json!(hex::encode(&s.span_id)));
    put(&mut m, "traceState", json!(s.trace_state));
    put(&mut m, "parentSpanId", json!(hex::encode(&s.parent_span_id)));
    put(&mut m, "flags", json!(s.flags));
    m.insert("name".into(), json!(s.name));
    put(&mut m, "kind", json!(s.kind));
    m.insert("startTimeUnixNano".into(), json!(s.start_time_unix_nano.to_string()));
    m.insert("endTimeUnixNano".into(), json!(s.end_time_unix_nano.to_string()));
    put(&mut m, "attributes", Value::Array(enc_attrs(&s.attributes)));
    put(&mut m, "droppedAttributesCount", json!(s.dropped_attributes_count));
    let events: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            let mut em = Map::new();
            em.insert("timeUnixNano".into(), json!(e.time_unix_nano.to_string()));
            em.insert("name".into(), json!(e.name));
            put(&mut em, "attributes", Value::Array(enc_attrs(&e.attributes)));
            Value::Object(em)
        })
        .collect();
    put(&mut m, "events", Value::Array(events));
    let links: Vec<Value> = s
        .links
        .iter()
        .map(|l| {
            let mut lm = Map::new();
            lm.insert("traceId".into(), json!(hex::encode(&l.trace_id)));
            lm.insert("spanId".into(), json!(hex::encode(&l.span_id)));
            put(&mut lm, "traceState", json!(l.trace_state));
            put(&mut lm, "attributes", Value::Array(enc_attrs(&l.attributes)));
            put(&mut lm, "flags", json!(l.flags));
            Value::Object(lm)
        })
        .collect();
    put(&mut m, "links", Value::Array(links));
    if let Some(st) = &s.status {
        let mut sm = Map::new();
        put(&mut sm, "message", json!(st.message));
        put(&mut sm, "code", json!(st.code));
        m.insert("status".into(), Value::Object(sm));
    } else {
        m.insert("status".into(), json!({}));
    }
    Value::Object(m)
}

fn enc_log(l: &LogRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "timeUnixNano", json!(l.time_unix_nano.to_string()));
    put(&mut m, "observedTimeUnixNano", json!(l.observed_time_unix_nano.to_string()));
    put(&mut m, "severityNumber", json!(l.severity_number));
    put(&mut m, "severityText", json!(l.severity_text));
    if let Some(b) = &l.body {
        m.insert("body".into(), enc_any(b));
    }
    put(&mut m, "attributes", Value::Array(enc_attrs(&l.attributes)));
    put(&mut m, "flags", json!(l.flags));
    put(&mut m, "traceId", json!(hex::encode(&l.trace_id)));
    put(&mut m, "spanId", json!(hex::encode(&l.span_id)));
    put(&mut m, "eventName", json!(l.event_name));
    m.retain(|k, v| !(k.ends_with("UnixNano") && v == "0"));
    Value::Object(m)
}

fn enc_point_common(m: &mut Map<String, Value>, attrs: &[KeyValue], start: u64, time: u64, flags: u32) {
    put(m, "attributes", Value::Array(enc_attrs(attrs)));
    if start != 0 {
        m.insert("startTimeUnixNano".into(), json!(start.to_string()));
    }
    m.insert("timeUnixNano".into(), json!(time.to_string()));
    put(m, "flags", json!(flags));
}

fn enc_metric(me: &Metric) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(me.name));
    put(&mut m, "description", json!(me.description));
    put(&mut m, "unit", json!(me.unit));
    let num = |p: &NumberDataPoint| {
        let mut pm = Map::new();
        enc_point_common(&mut pm, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.flags);
        match p.value {
            Some(number_data_point::Value::AsInt(i)) => {
                pm.insert("asInt".into(), json!(i.to_string()));
            }
            Some(number_data_point::Value::AsDouble(d)) => {
                pm.insert("asDouble".into(), enc_f64(d));
            }
            None => {}
        }
        Value::Object(pm)
    };
    let opt_f = |pm: &mut Map<String, Value>, k: &str, v: Option<f64>| {
        if let Some(v) = v {
            pm.insert(k.into(), enc_f64(v));
        }
    };
    match &me.data {
        Some(metric::Data::Gauge(g)) => {
            m.insert(
                "gauge".into(),
                json!({"dataPoints": g.data_points.iter().map(num).collect::<Vec<_>>()}),
            );
        }
        Some(metric::Data::Sum(s)) => {
            let mut sm = Map::new();
            sm.insert("dataPoints".into(), Value::Array(s.data_points.iter().map(num).collect()));
            put(&mut sm, "aggregationTemporality", json!(s.aggregation_temporality));
            put(&mut sm, "isMonotonic", json!(s.is_monotonic));
            m.insert("sum".into(), Value::Object(sm));
        }
        Some(metric::Data::Histogram(h)) => {
            let pts: Vec<Value> = h
                .data_points
                .iter()
                .map(|p| {
                    let mut pm = Map::new();
                    enc_point_common(
                        &mut pm,
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                    );
                    pm.insert("count".into(), json!(p.count.to_string()));
                    opt_f(&mut pm, "sum", p.sum);
                    pm.insert(
                        "bucketCounts".into(),
                        json!(p.bucket_counts.iter().map(|c| c.to_string()).collect::<Vec<_>>()),
                    );
                    pm.insert("explicitBounds".into(), json!(p.explicit_bounds));
                    opt_f(&mut pm, "min", p.min);
                    opt_f(&mut pm, "max", p.max);
                    Value::Object(pm)
                })
                .collect();
            m.insert(
                "histogram".into(),
                json!({"dataPoints": pts, "aggregationTemporality": h.aggregation_temporality}),
            );
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            let enc_b = |b: &Option<exponential_histogram_data_point::Buckets>| {
                b.as_ref().map(|b| json!({"offset": b.offset, "bucketCounts": b.bucket_counts.iter().map(|c| c.to_string()).collect::<Vec<_>>()}))
            };
            let pts: Vec<Value> = h
                .data_points
                .iter()
                .map(|p| {
                    let mut pm = Map::new();
                    enc_point_common(
                        &mut pm,
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                    );
                    pm.insert("count".into(), json!(p.count.to_string()));
                    opt_f(&mut pm, "sum", p.sum);
                    pm.insert("scale".into(), json!(p.scale));
                    pm.insert("zeroCount".into(), json!(p.zero_count.to_string()));
                    if let Some(b) = enc_b(&p.positive) {
                        pm.insert("positive".into(), b);
                    }
                    if let Some(b) = enc_b(&p.negative) {
                        pm.insert("negative".into(), b);
                    }
                    opt_f(&mut pm, "min", p.min);
                    opt_f(&mut pm, "max", p.max);
                    Value::Object(pm)
                })
                .collect();
            m.insert(
                "exponentialHistogram".into(),
                json!({"dataPoints": pts, "aggregationTemporality": h.aggregation_temporality}),
            );
        }
        Some(metric::Data::Summary(s)) => {
            let pts: Vec<Value> = s
                .data_points
                .iter()
                .map(|p| {
                    let mut pm = Map::new();
                    enc_point_common(
                        &mut pm,
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                    );
                    pm.insert("count".into(), json!(p.count.to_string()));
                    pm.insert("sum".into(), enc_f64(p.sum));
                    pm.insert(
                        "quantileValues".into(),
                        Value::Array(
                            p.quantile_values
                                .iter()
                                .map(|q| json!({"quantile": enc_f64(q.quantile), "value": enc_f64(q.value)}))
                                .collect(),
                        ),
                    );
                    Value::Object(pm)
                })
                .collect();
            m.insert("summary".into(), json!({"dataPoints": pts}));
        }
        None => {}
    }
    Value::Object(m)
}

/// Encodes a request as OTLP/JSON, as the OpenTelemetry Collector's file exporter writes it.
pub fn encode(req: &Request) -> Value {
    match req {
        Request::Traces(r) => json!({"resourceSpans": r.resource_spans.iter().map(|rs| {
            let mut m = Map::new();
            m.insert("resource".into(), enc_resource(&rs.resource));
            m.insert("scopeSpans".into(), Value::Array(rs.scope_spans.iter().map(|ss| {
                let mut sm = Map::new();
                sm.insert("scope".into(), enc_scope(&ss.scope));
                sm.insert("spans".into(), Value::Array(ss.spans.iter().map(enc_span).collect()));
                put(&mut sm, "schemaUrl", json!(ss.schema_url));
                Value::Object(sm)
            }).collect()));
            put(&mut m, "schemaUrl", json!(rs.schema_url));
            Value::Object(m)
        }).collect::<Vec<_>>()}),
        Request::Logs(r) => json!({"resourceLogs": r.resource_logs.iter().map(|rl| {
            let mut m = Map::new();
            m.insert("resource".into(), enc_resource(&rl.resource));
            m.insert("scopeLogs".into(), Value::Array(rl.scope_logs.iter().map(|sl| {
                let mut sm = Map::new();
                sm.insert("scope".into(), enc_scope(&sl.scope));
                sm.insert("logRecords".into(), Value::Array(sl.log_records.iter().map(enc_log).collect()));
                put(&mut sm, "schemaUrl", json!(sl.schema_url));
                Value::Object(sm)
            }).collect()));
            put(&mut m, "schemaUrl", json!(rl.schema_url));
            Value::Object(m)
        }).collect::<Vec<_>>()}),
        Request::Metrics(r) => json!({"resourceMetrics": r.resource_metrics.iter().map(|rm| {
            let mut m = Map::new();
            m.insert("resource".into(), enc_resource(&rm.resource));
            m.insert("scopeMetrics".into(), Value::Array(rm.scope_metrics.iter().map(|sm_| {
                let mut sm = Map::new();
                sm.insert("scope".into(), enc_scope(&sm_.scope));
                sm.insert("metrics".into(), Value::Array(sm_.metrics.iter().map(enc_metric).collect()));
                put(&mut sm, "schemaUrl", json!(sm_.schema_url));
                Value::Object(sm)
            }).collect()));
            put(&mut m, "schemaUrl", json!(rm.schema_url));
            Value::Object(m)
        }).collect::<Vec<_>>()}),
    }
}

// ---------------------------------------------------------------------------------------------
// Fast path: spans straight from the model to OTLP/JSON text, for bulk writers (the simulator).

fn w_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

fn w_any(out: &mut Vec<u8>, v: &Value) {
    use std::io::Write;
    match v {
        Value::Null => out.extend_from_slice(b"{}"),
        Value::Bool(b) => {
            let _ = write!(out, "{{\"boolValue\":{b}}}");
        }
        Value::Number(n) if n.is_f64() => {
            out.extend_from_slice(b"{\"doubleValue\":");
            serde_json::to_writer(&mut *out, &enc_f64(n.as_f64().unwrap_or(f64::NAN))).expect("vec");
            out.push(b'}');
        }
        Value::Number(n) => {
            let _ = write!(out, "{{\"intValue\":\"{n}\"}}");
        }
        Value::String(s) => {
            out.extend_from_slice(b"{\"stringValue\":");
            w_str(out, s);
            out.push(b'}');
        }
        Value::Array(a) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                w_any(out, x);
            }
            out.extend_from_slice(b"]}}");
        }
        Value::Object(m) => {
            if let (1, Some(Value::String(b))) = (m.len(), m.get("bytesValue")) {
                out.extend_from_slice(b"{\"bytesValue\":");
                w_str(out, b);
                out.push(b'}');
                return;
            }
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":");
            w_attrs(out, m);
            out.extend_from_slice(b"}}");
        }
    }
}

fn w_attrs(out: &mut Vec<u8>, attrs: &Map<String, Value>) {
    out.push(b'[');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        w_str(out, k);
        out.extend_from_slice(b",\"value\":");
        w_any(out, v);
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes spans as one OTLP/JSON `ExportTraceServiceRequest` (no trailing newline), grouped by
/// resource and scope; decodes to the same spans as [`encode`] of `spans_to_request`.
pub fn write_traces(spans: &[faultline_model::Span], out: &mut Vec<u8>) {
    use std::io::Write;
    // Group by resource (records of one resource share its allocation).
    let mut groups: Vec<(*const faultline_model::ResourceInfo, Vec<usize>)> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let p = std::sync::Arc::as_ptr(&s.resource);
        match groups.iter_mut().find(|(q, _)| *q == p) {
            Some((_, v)) => v.push(i),
            None => groups.push((p, vec![i])),
        }
    }
    out.extend_from_slice(b"{\"resourceSpans\":[");
    for (gi, (_, idx)) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(b',');
        }
        let r = &spans[idx[0]].resource;
        out.extend_from_slice(b"{\"resource\":{\"attributes\":");
        w_attrs(out, &r.attributes);
        out.extend_from_slice(b"},\"scopeSpans\":[{\"scope\":{\"name\":");
        w_str(out, &r.scope_name);
        out.extend_from_slice(b",\"version\":");
        w_str(out, &r.scope_version);
        out.extend_from_slice(b"},\"spans\":[");
        for (k, &i) in idx.iter().enumerate() {
            let s = &spans[i];
            if k > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{{\"traceId\":\"{}\",\"spanId\":\"{}\"", s.trace_id, s.span_id);
            if let Some(p) = s.parent_span_id {
                let _ = write!(out, ",\"parentSpanId\":\"{p}\"");
            }
            if !s.trace_state.is_empty() {
                out.extend_from_slice(b",\"traceState\":");
                w_str(out, &s.trace_state);
            }
            if s.flags != 0 {
                let _ = write!(out, ",\"flags\":{}", s.flags);
            }
            out.extend_from_slice(b",\"name\":");
            w_str(out, &s.name);
            let _ = write!(
                out,
                ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
                s.kind as i32, s.start_unix_nano, s.end_unix_nano
            );
            if !s.attributes.is_empty() {
                out.extend_from_slice(b",\"attributes\":");
                w_attrs(out, &s.attributes);
            }
            if !s.events.is_empty() {
                out.extend_from_slice(b",\"events\":[");
                for (j, e) in s.events.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    let _ = write!(out, "{{\"timeUnixNano\":\"{}\",\"name\":", e.time_unix_nano);
                    w_str(out, &e.name);
                    if !e.attributes.is_empty() {
                        out.extend_from_slice(b",\"attributes\":");
                        w_attrs(out, &e.attributes);
                    }
                    out.push(b'}');
                }
                out.push(b']');
            }
            if !s.links.is_empty() {
                out.extend_from_slice(b",\"links\":[");
                for (j, l) in s.links.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    let _ = write!(out, "{{\"traceId\":\"{}\",\"spanId\":\"{}\"", l.trace_id, l.span_id);
                    if !l.attributes.is_empty() {
                        out.extend_from_slice(b",\"attributes\":");
                        w_attrs(out, &l.attributes);
                    }
                    out.push(b'}');
                }
                out.push(b']');
            }
            let _ = write!(out, ",\"status\":{{\"code\":{}", s.status_code as i32);
            if !s.status_message.is_empty() {
                out.extend_from_slice(b",\"message\":");
                w_str(out, &s.status_message);
            }
            out.extend_from_slice(b"}}");
        }
        out.extend_from_slice(b"]}]}");
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod fast_tests {
    use super::*;
    use crate::convert::{spans_from_request, Limits};

    #[test]
    fn fast_writer_decodes_to_the_same_spans() {
        let v: Value = serde_json::from_slice(
            &std::fs::read(format!(
                "{}/../../../shared/data/otlp-examples/trace.json",
                std::env::var("CARGO_MANIFEST_DIR").unwrap()
            ))
            .unwrap(),
        )
        .unwrap();
        let Request::Traces(req) = decode_value(Signal::Traces, &v).unwrap() else { panic!() };
        let limits = Limits { min_time_ns: 0, ..Limits::default() };
        let mut spans = spans_from_request(&req, &limits).items;
        spans[0].attributes.insert("f".into(), serde_json::json!(1.5));
        spans[0].attributes.insert("nested".into(), serde_json::json!({"a": [1, "x", true]}));
        let mut out = Vec::new();
        write_traces(&spans, &mut out);
        let Request::Traces(back) = decode(Signal::Traces, &out).unwrap() else { panic!() };
        assert_eq!(spans_from_request(&back, &limits).items, spans);
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    /// Regression: one log record with a negative timestamp rejected its whole document.
    #[test]
    fn a_negative_timestamp_rejects_its_record_alone() {
        let now = faultline_model::time::now_ns();
        let doc = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[
                {{"timeUnixNano":"{now}","body":{{"stringValue":"good"}}}},
                {{"timeUnixNano":-5,"body":{{"stringValue":"bad"}}}},
                {{"timeUnixNano":"-1700000000000000000","body":{{"stringValue":"bad too"}}}}
            ]}}]}}]}}"#
        );
        let Ok(Request::Logs(req)) = decode(Signal::Logs, doc.as_bytes()) else {
            panic!("document rejected")
        };
        let d = crate::convert::logs_from_request(&req, &crate::convert::Limits::default());
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.rejected, 2);
        assert!(d.errors[0].contains("negative or out of range"), "{:?}", d.errors);
        // Not a number at all is still a malformed document.
        assert!(decode(
            Signal::Logs,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#
        )
        .is_err());
    }
}

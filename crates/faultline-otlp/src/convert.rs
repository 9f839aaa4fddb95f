//! Conversions between OTLP export requests and faultline's model, with validation.
//!
//! A record that cannot be stored (ids of the wrong length, no start time, a timestamp far in the
//! future, an absurd number of attributes) is rejected alone: the rest of the request is kept, and
//! the rejection is counted and described, as OTLP's partial success reports it.

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::logs::v1::{LogRecord as PLog, ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::{
    exponential_histogram_data_point, metric, number_data_point, summary_data_point, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span as PSpan, Status};
use base64::Engine;
use faultline_model::metric::{MetricData, MetricKind, MetricPoint, Temporality};
use faultline_model::{
    Attributes, LogRecord, ResourceInfo, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, TraceId,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Limits applied to incoming records.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Records with more attributes than this are rejected.
    pub max_attributes: usize,
    /// Records stamped later than now plus this are rejected (nanoseconds).
    pub max_future_ns: i64,
    /// Records stamped earlier than this are rejected (unix nanoseconds; 2000-01-01 by default).
    pub min_time_ns: i64,
    /// The current time, unix nanoseconds.
    pub now_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attributes: 1024,
            max_future_ns: 24 * 3600 * 1_000_000_000,
            min_time_ns: 946_684_800_000_000_000,
            now_ns: faultline_model::time::now_ns(),
        }
    }
}

/// The result of converting a request: the records kept, how many were rejected, and why (the
/// first few reasons).
#[derive(Debug, Clone)]
pub struct Decoded<T> {
    pub items: Vec<T>,
    pub rejected: u64,
    pub errors: Vec<String>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded { items: Vec::new(), rejected: 0, errors: Vec::new() }
    }
}

impl<T> Decoded<T> {
    fn reject(&mut self, what: String) {
        self.rejected += 1;
        if self.errors.len() < 5 {
            self.errors.push(what);
        }
    }

    /// A one-line summary of the rejections for OTLP's `error_message`.
    pub fn error_message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        let more = self.rejected as usize - self.errors.len().min(self.rejected as usize);
        let mut s = format!("rejected {}: {}", self.rejected, self.errors.join("; "));
        if more > 0 {
            s.push_str(&format!("; and {more} more"));
        }
        s
    }
}

/// Converts an OTLP `AnyValue` to JSON (see `faultline_model::value`).
pub fn any_to_json(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(any_to_json).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(kvs_to_attrs(&kv.values)),
        Some(V::BytesValue(b)) => serde_json::json!({
            "bytesValue": base64::engine::general_purpose::STANDARD.encode(b)
        }),
        // Only profiles use string-table indices; they mean nothing outside one.
        Some(V::StringValueStrindex(_)) => Value::Null,
    }
}

/// Converts JSON back to an OTLP `AnyValue`.
pub fn json_to_any(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) if !n.is_f64() => V::IntValue(i),
            _ => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(V::StringValue(s.clone())),
        Value::Array(a) => Some(V::ArrayValue(ArrayValue { values: a.iter().map(json_to_any).collect() })),
        Value::Object(m) => {
            if let (1, Some(Value::String(b))) = (m.len(), m.get("bytesValue")) {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b) {
                    return AnyValue { value: Some(V::BytesValue(bytes)) };
                }
            }
            Some(V::KvlistValue(KeyValueList { values: attrs_to_kvs(m) }))
        }
    };
    AnyValue { value }
}

fn kvs_to_attrs(kvs: &[KeyValue]) -> Attributes {
    let mut m = Attributes::new();
    for kv in kvs {
        m.insert(kv.key.clone(), kv.value.as_ref().map(any_to_json).unwrap_or(Value::Null));
    }
    m
}

/// Converts attributes back to OTLP key-values.
pub fn attrs_to_kvs(attrs: &Attributes) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| KeyValue { key: k.clone(), value: Some(json_to_any(v)), ..Default::default() })
        .collect()
}

fn resource_info(resource: &Option<Resource>, scope: &Option<InstrumentationScope>) -> ResourceInfo {
    let attrs = resource.as_ref().map(|r| kvs_to_attrs(&r.attributes)).unwrap_or_default();
    let mut info = ResourceInfo::from_attributes(attrs);
    if let Some(s) = scope {
        info.scope_name = s.name.clone();
        info.scope_version = s.version.clone();
    }
    info
}

fn check_time(what: &str, t: u64, limits: &Limits) -> Result<i64, String> {
    if t == 0 {
        return Err(format!("{what} is zero"));
    }
    if t == crate::TIME_OUT_OF_RANGE {
        return Err(format!("{what} is negative or out of range"));
    }
    let t = i64::try_from(t).map_err(|_| format!("{what} {t} is out of range"))?;
    if t < limits.min_time_ns {
        return Err(format!("{what} {t} is before the year 2000 (is it in nanoseconds?)"));
    }
    if t > limits.now_ns.saturating_add(limits.max_future_ns) {
        return Err(format!("{what} {} is in the future", faultline_model::time::format_rfc3339(t)));
    }
    Ok(t)
}

fn convert_span(s: &PSpan, res: &Arc<ResourceInfo>, limits: &Limits) -> Result<Span, String> {
    let trace_id = TraceId::from_bytes(&s.trace_id).map_err(|e| e.to_string())?;
    let span_id = SpanId::from_bytes(&s.span_id).map_err(|e| e.to_string())?;
    let parent_span_id = match s.parent_span_id.len() {
        0 => None,
        _ if s.parent_span_id.iter().all(|b| *b == 0) => None,
        _ => Some(SpanId::from_bytes(&s.parent_span_id).map_err(|e| format!("parent {e}"))?),
    };
    if s.attributes.len() > limits.max_attributes {
        return Err(format!(
            "span has {} attributes, more than the limit of {}",
            s.attributes.len(),
            limits.max_attributes
        ));
    }
    let start = check_time("start time", s.start_time_unix_nano, limits)?;
    let end =
        if s.end_time_unix_nano == 0 { start } else { check_time("end time", s.end_time_unix_nano, limits)? };
    if end < start {
        return Err(format!("end time is {} ns before the start time", start - end));
    }
    let status = s.status.clone().unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state.clone(),
        flags: s.flags,
        name: s.name.clone(),
        kind: SpanKind::from_i32(s.kind),
        start_unix_nano: start,
        end_unix_nano: end,
        status_code: StatusCode::from_i32(status.code),
        status_message: status.message,
        attributes: kvs_to_attrs(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| SpanEvent {
                time_unix_nano: i64::try_from(e.time_unix_nano).unwrap_or(i64::MAX),
                name: e.name.clone(),
                attributes: kvs_to_attrs(&e.attributes),
            })
            .collect(),
        links: s
            .links
            .iter()
            .filter_map(|l| {
                Some(SpanLink {
                    trace_id: TraceId::from_bytes(&l.trace_id).ok()?,
                    span_id: SpanId::from_bytes(&l.span_id).ok()?,
                    trace_state: l.trace_state.clone(),
                    attributes: kvs_to_attrs(&l.attributes),
                })
            })
            .collect(),
        resource: res.clone(),
    })
}

/// Converts an OTLP trace export request into spans, rejecting invalid ones.
pub fn spans_from_request(req: &ExportTraceServiceRequest, limits: &Limits) -> Decoded<Span> {
    let mut out = Decoded::default();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            let res = Arc::new(resource_info(&rs.resource, &ss.scope));
            out.items.reserve(ss.spans.len());
            for s in &ss.spans {
                match convert_span(s, &res, limits) {
                    Ok(span) => out.items.push(span),
                    Err(e) => out.reject(format!("span {:?}: {e}", hex::encode(&s.span_id))),
                }
            }
        }
    }
    out
}

fn body_text(body: &Option<AnyValue>) -> String {
    match body.as_ref().and_then(|b| b.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(_) => any_to_json(body.as_ref().expect("checked")).to_string(),
    }
}

fn convert_log(l: &PLog, res: &Arc<ResourceInfo>, limits: &Limits) -> Result<LogRecord, String> {
    if l.attributes.len() > limits.max_attributes {
        return Err(format!(
            "log record has {} attributes, more than the limit of {}",
            l.attributes.len(),
            limits.max_attributes
        ));
    }
    let time = if l.time_unix_nano != 0 { check_time("time", l.time_unix_nano, limits)? } else { 0 };
    // The receiver sets the observed time when the record has none (OpenTelemetry logs data model).
    let observed = if l.observed_time_unix_nano != 0 {
        check_time("observed time", l.observed_time_unix_nano, limits)?
    } else {
        limits.now_ns
    };
    let trace_id = match l.trace_id.len() {
        0 => None,
        _ => Some(TraceId::from_bytes(&l.trace_id).map_err(|e| e.to_string())?),
    };
    let span_id = match l.span_id.len() {
        0 => None,
        _ => Some(SpanId::from_bytes(&l.span_id).map_err(|e| e.to_string())?),
    };
    Ok(LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity_number: l.severity_number.clamp(0, 24),
        severity_text: l.severity_text.clone(),
        body: body_text(&l.body),
        attributes: kvs_to_attrs(&l.attributes),
        trace_id,
        span_id,
        flags: l.flags,
        event_name: l.event_name.clone(),
        resource: res.clone(),
    })
}

/// Converts an OTLP logs export request into log records, rejecting invalid ones.
pub fn logs_from_request(req: &ExportLogsServiceRequest, limits: &Limits) -> Decoded<LogRecord> {
    let mut out = Decoded::default();
    for rl in &req.resource_logs {
        for sl in &rl.scope_logs {
            let res = Arc::new(resource_info(&rl.resource, &sl.scope));
            for l in &sl.log_records {
                match convert_log(l, &res, limits) {
                    Ok(r) => out.items.push(r),
                    Err(e) => out.reject(format!("log record: {e}")),
                }
            }
        }
    }
    out
}

struct PointHead<'a> {
    m: &'a Metric,
    kind: MetricKind,
    temporality: i32,
    monotonic: bool,
    res: &'a Arc<ResourceInfo>,
}

impl PointHead<'_> {
    fn point(
        &self,
        attrs: &[KeyValue],
        start: u64,
        time: u64,
        flags: u32,
        data: MetricData,
        limits: &Limits,
    ) -> Result<MetricPoint, String> {
        if attrs.len() > limits.max_attributes {
            return Err(format!(
                "point has {} attributes, more than the limit of {}",
                attrs.len(),
                limits.max_attributes
            ));
        }
        Ok(MetricPoint {
            name: self.m.name.clone(),
            description: self.m.description.clone(),
            unit: self.m.unit.clone(),
            kind: self.kind,
            temporality: Temporality::from_i32(self.temporality),
            is_monotonic: self.monotonic,
            time_unix_nano: check_time("time", time, limits)?,
            start_time_unix_nano: i64::try_from(start).unwrap_or(0),
            attributes: kvs_to_attrs(attrs),
            flags,
            data,
            resource: self.res.clone(),
        })
    }
}

/// Converts an OTLP metrics export request into metric points, rejecting invalid ones.
pub fn metrics_from_request(req: &ExportMetricsServiceRequest, limits: &Limits) -> Decoded<MetricPoint> {
    let mut out = Decoded::default();
    let number = |p: &NumberDataPoint| match p.value {
        Some(number_data_point::Value::AsInt(i)) => MetricData::Number { value: i as f64, is_int: true },
        Some(number_data_point::Value::AsDouble(d)) => MetricData::Number { value: d, is_int: false },
        None => MetricData::Number { value: f64::NAN, is_int: false },
    };
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            let res = Arc::new(resource_info(&rm.resource, &sm.scope));
            for m in &sm.metrics {
                let mut push = |r: Result<MetricPoint, String>| match r {
                    Ok(p) => out.items.push(p),
                    Err(e) => out.reject(format!("metric {:?}: {e}", m.name)),
                };
                let head =
                    |kind, temporality, monotonic| PointHead { m, kind, temporality, monotonic, res: &res };
                match &m.data {
                    Some(d @ (metric::Data::Gauge(_) | metric::Data::Sum(_))) => {
                        let (h, points) = match d {
                            metric::Data::Sum(s) => (
                                head(MetricKind::Sum, s.aggregation_temporality, s.is_monotonic),
                                &s.data_points,
                            ),
                            metric::Data::Gauge(g) => (head(MetricKind::Gauge, 0, false), &g.data_points),
                            _ => unreachable!("matched above"),
                        };
                        for p in points {
                            push(h.point(
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                p.flags,
                                number(p),
                                limits,
                            ));
                        }
                    }
                    Some(metric::Data::Histogram(hg)) => {
                        let h = head(MetricKind::Histogram, hg.aggregation_temporality, false);
                        for p in &hg.data_points {
                            let data = MetricData::Histogram {
                                count: p.count,
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                bucket_counts: p.bucket_counts.clone(),
                                explicit_bounds: p.explicit_bounds.clone(),
                            };
                            push(h.point(
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                p.flags,
                                data,
                                limits,
                            ));
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(eh)) => {
                        let h = head(MetricKind::ExponentialHistogram, eh.aggregation_temporality, false);
                        for p in &eh.data_points {
                            let (po, pc) = p
                                .positive
                                .as_ref()
                                .map(|b| (b.offset, b.bucket_counts.clone()))
                                .unwrap_or_default();
                            let (no, nc) = p
                                .negative
                                .as_ref()
                                .map(|b| (b.offset, b.bucket_counts.clone()))
                                .unwrap_or_default();
                            let data = MetricData::ExponentialHistogram {
                                count: p.count,
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                scale: p.scale,
                                zero_count: p.zero_count,
                                positive_offset: po,
                                positive_bucket_counts: pc,
                                negative_offset: no,
                                negative_bucket_counts: nc,
                            };
                            push(h.point(
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                p.flags,
                                data,
                                limits,
                            ));
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        let h = head(MetricKind::Summary, 0, false);
                        for p in &s.data_points {
                            let data = MetricData::Summary {
                                count: p.count,
                                sum: p.sum,
                                quantiles: p.quantile_values.iter().map(|q| q.quantile).collect(),
                                quantile_values: p.quantile_values.iter().map(|q| q.value).collect(),
                            };
                            push(h.point(
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                p.flags,
                                data,
                                limits,
                            ));
                        }
                    }
                    None => {}
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Model to OTLP

fn resource_key(r: &ResourceInfo) -> (String, String, String) {
    (faultline_model::value::attributes_to_json(&r.attributes), r.scope_name.clone(), r.scope_version.clone())
}

/// Records of one scope, with the resource info of the first.
type ScopeGroup<'a, T> = (&'a ResourceInfo, Vec<&'a T>);
/// Records of one resource, by scope.
type ResourceGroup<'a, T> = (&'a ResourceInfo, Vec<ScopeGroup<'a, T>>);

fn group_by_resource<T>(items: &[T], res: impl Fn(&T) -> &ResourceInfo) -> Vec<ResourceGroup<'_, T>> {
    // Resource attributes -> scope -> records, in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, ResourceGroup<'_, T>> = BTreeMap::new();
    let mut scope_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for it in items {
        let r = res(it);
        let (rk, sn, sv) = resource_key(r);
        let scope_key = format!("{sn}\u{0}{sv}");
        let entry = groups.entry(rk.clone()).or_insert_with(|| {
            order.push(rk.clone());
            (r, Vec::new())
        });
        let keys = scope_keys.entry(rk).or_default();
        match keys.iter().position(|k| *k == scope_key) {
            Some(i) => entry.1[i].1.push(it),
            None => {
                keys.push(scope_key);
                entry.1.push((r, vec![it]));
            }
        }
    }
    order.into_iter().filter_map(|k| groups.remove(&k)).collect()
}

fn p_resource(r: &ResourceInfo) -> Option<Resource> {
    Some(Resource { attributes: attrs_to_kvs(&r.attributes), ..Default::default() })
}

fn p_scope(r: &ResourceInfo) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: r.scope_name.clone(),
        version: r.scope_version.clone(),
        ..Default::default()
    })
}

/// Converts spans to an OTLP trace export request, grouping them by resource and scope.
pub fn spans_to_request(spans: &[Span]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group_by_resource(spans, |s| &s.resource)
            .into_iter()
            .map(|(r, scopes)| ResourceSpans {
                resource: p_resource(r),
                scope_spans: scopes
                    .into_iter()
                    .map(|(sr, spans)| ScopeSpans {
                        scope: p_scope(sr),
                        spans: spans.into_iter().map(span_to_proto).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn span_to_proto(s: &Span) -> PSpan {
    PSpan {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_unix_nano as u64,
        end_time_unix_nano: s.end_unix_nano as u64,
        attributes: attrs_to_kvs(&s.attributes),
        dropped_attributes_count: 0,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_unix_nano as u64,
                name: e.name.clone(),
                attributes: attrs_to_kvs(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: s
            .links
            .iter()
            .map(|l| span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attrs_to_kvs(&l.attributes),
                dropped_attributes_count: 0,
                flags: 0,
            })
            .collect(),
        dropped_links_count: 0,
        status: Some(Status { message: s.status_message.clone(), code: s.status_code as i32 }),
    }
}

/// Converts log records to an OTLP logs export request.
pub fn logs_to_request(logs: &[LogRecord]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: group_by_resource(logs, |l| &l.resource)
            .into_iter()
            .map(|(r, scopes)| ResourceLogs {
                resource: p_resource(r),
                scope_logs: scopes
                    .into_iter()
                    .map(|(sr, logs)| ScopeLogs {
                        scope: p_scope(sr),
                        log_records: logs
                            .into_iter()
                            .map(|l| PLog {
                                time_unix_nano: l.time_unix_nano as u64,
                                observed_time_unix_nano: l.observed_time_unix_nano as u64,
                                severity_number: l.severity_number,
                                severity_text: l.severity_text.clone(),
                                body: Some(AnyValue {
                                    value: Some(any_value::Value::StringValue(l.body.clone())),
                                }),
                                attributes: attrs_to_kvs(&l.attributes),
                                dropped_attributes_count: 0,
                                flags: l.flags,
                                trace_id: l.trace_id.map(|t| t.0.to_vec()).unwrap_or_default(),
                                span_id: l.span_id.map(|t| t.0.to_vec()).unwrap_or_default(),
                                event_name: l.event_name.clone(),
                            })
                            .collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// Converts metric points to an OTLP metrics export request: one `Metric` per run of points with
/// the same name and type.
pub fn metrics_to_request(points: &[MetricPoint]) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: group_by_resource(points, |p| &p.resource)
            .into_iter()
            .map(|(r, scopes)| ResourceMetrics {
                resource: p_resource(r),
                scope_metrics: scopes
                    .into_iter()
                    .map(|(sr, pts)| ScopeMetrics {
                        scope: p_scope(sr),
                        metrics: metrics_of(&pts),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn metrics_of(points: &[&MetricPoint]) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    let mut last: Option<(String, MetricKind)> = None;
    for p in points {
        let key = (p.name.clone(), p.kind);
        if last.as_ref() != Some(&key) {
            let data = match p.kind {
                MetricKind::Gauge => metric::Data::Gauge(Gauge::default()),
                MetricKind::Sum => metric::Data::Sum(Sum {
                    data_points: vec![],
                    aggregation_temporality: p.temporality as i32,
                    is_monotonic: p.is_monotonic,
                }),
                MetricKind::Histogram => metric::Data::Histogram(Histogram {
                    data_points: vec![],
                    aggregation_temporality: p.temporality as i32,
                }),
                MetricKind::ExponentialHistogram => {
                    metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![],
                        aggregation_temporality: p.temporality as i32,
                    })
                }
                MetricKind::Summary => metric::Data::Summary(Summary::default()),
            };
            out.push(Metric {
                name: p.name.clone(),
                description: p.description.clone(),
                unit: p.unit.clone(),
                metadata: vec![],
                data: Some(data),
            });
            last = Some(key);
        }
        let m = out.last_mut().expect("pushed above");
        let attrs = attrs_to_kvs(&p.attributes);
        let (start, time) = (p.start_time_unix_nano as u64, p.time_unix_nano as u64);
        match (m.data.as_mut().expect("set above"), &p.data) {
            (metric::Data::Gauge(Gauge { data_points }), MetricData::Number { value, is_int })
            | (metric::Data::Sum(Sum { data_points, .. }), MetricData::Number { value, is_int }) => {
                data_points.push(NumberDataPoint {
                    attributes: attrs,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    exemplars: vec![],
                    flags: p.flags,
                    value: Some(if *is_int {
                        number_data_point::Value::AsInt(*value as i64)
                    } else {
                        number_data_point::Value::AsDouble(*value)
                    }),
                })
            }
            (
                metric::Data::Histogram(h),
                MetricData::Histogram { count, sum, min, max, bucket_counts, explicit_bounds },
            ) => h.data_points.push(HistogramDataPoint {
                attributes: attrs,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: *count,
                sum: *sum,
                bucket_counts: bucket_counts.clone(),
                explicit_bounds: explicit_bounds.clone(),
                exemplars: vec![],
                flags: p.flags,
                min: *min,
                max: *max,
            }),
            (
                metric::Data::ExponentialHistogram(h),
                MetricData::ExponentialHistogram {
                    count,
                    sum,
                    min,
                    max,
                    scale,
                    zero_count,
                    positive_offset,
                    positive_bucket_counts,
                    negative_offset,
                    negative_bucket_counts,
                },
            ) => h.data_points.push(ExponentialHistogramDataPoint {
                attributes: attrs,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: *count,
                sum: *sum,
                scale: *scale,
                zero_count: *zero_count,
                positive: Some(exponential_histogram_data_point::Buckets {
                    offset: *positive_offset,
                    bucket_counts: positive_bucket_counts.clone(),
                }),
                negative: Some(exponential_histogram_data_point::Buckets {
                    offset: *negative_offset,
                    bucket_counts: negative_bucket_counts.clone(),
                }),
                flags: p.flags,
                exemplars: vec![],
                min: *min,
                max: *max,
                zero_threshold: 0.0,
            }),
            (metric::Data::Summary(s), MetricData::Summary { count, sum, quantiles, quantile_values }) => {
                s.data_points.push(SummaryDataPoint {
                    attributes: attrs,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: *count,
                    sum: *sum,
                    quantile_values: quantiles
                        .iter()
                        .zip(quantile_values)
                        .map(|(q, v)| summary_data_point::ValueAtQuantile { quantile: *q, value: *v })
                        .collect(),
                    flags: p.flags,
                })
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::{Request, Signal};

    fn example(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../../shared/data/otlp-examples/{name}",
            std::env::var("CARGO_MANIFEST_DIR").unwrap()
        );
        std::fs::read(path).expect("shared/data beside the checkout")
    }

    fn old_limits() -> Limits {
        Limits { min_time_ns: 0, ..Limits::default() }
    }

    #[test]
    fn example_trace_decodes() {
        let Request::Traces(req) = json::decode(Signal::Traces, &example("trace.json")).unwrap() else {
            panic!()
        };
        let d = spans_from_request(&req, &old_limits());
        assert_eq!(d.rejected, 0, "{:?}", d.errors);
        assert!(!d.items.is_empty());
        let s = &d.items[0];
        assert_eq!(s.resource.service_name, "my.service");
        // Through the model and back to OTLP/JSON and again: nothing lost.
        let again = spans_to_request(&d.items);
        let enc = json::encode(&Request::Traces(again));
        let Request::Traces(req2) = json::decode_value(Signal::Traces, &enc).unwrap() else { panic!() };
        assert_eq!(spans_from_request(&req2, &old_limits()).items, d.items);
    }

    #[test]
    fn example_logs_and_metrics_decode() {
        let Request::Logs(req) = json::decode(Signal::Logs, &example("logs.json")).unwrap() else { panic!() };
        let d = logs_from_request(&req, &old_limits());
        assert_eq!(d.rejected, 0, "{:?}", d.errors);
        assert!(!d.items.is_empty());
        let Request::Metrics(req) = json::decode(Signal::Metrics, &example("metrics.json")).unwrap() else {
            panic!()
        };
        let d = metrics_from_request(&req, &old_limits());
        assert_eq!(d.rejected, 0, "{:?}", d.errors);
        assert!(d.items.len() >= 4);
        let again = metrics_to_request(&d.items);
        assert_eq!(metrics_from_request(&again, &old_limits()).items, d.items);
    }

    #[test]
    fn bad_spans_are_rejected_alone() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"},
            {"traceId":"5b8efff7","spanId":"eee19b7ec3c1b174","name":"short id","startTimeUnixNano":"1700000000000000000"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"no time"}
        ]}]}]}"#;
        let Request::Traces(req) = json::decode(Signal::Traces, body).unwrap() else { panic!() };
        let d = spans_from_request(&req, &Limits::default());
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.rejected, 2);
        assert!(d.error_message().contains("trace id must be 16 bytes"), "{}", d.error_message());
        assert!(d.error_message().contains("start time is zero"), "{}", d.error_message());
    }

    #[test]
    fn json_errors_name_the_path() {
        let err = json::decode(
            Signal::Traces,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("$.resourceSpans[0].scopeSpans[0].spans[0].traceId"), "{err}");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::{json, Signal};
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        /// Arbitrary bytes never make the decoders panic: they decode or say why not.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for s in [Signal::Traces, Signal::Logs, Signal::Metrics] {
                if let Ok(crate::Request::Traces(r)) = crate::decode_protobuf(s, &bytes) {
                    let _ = spans_from_request(&r, &Limits::default());
                }
                let _ = json::decode(s, &bytes);
            }
        }

        /// Spans survive model -> OTLP protobuf -> model unchanged.
        #[test]
        fn spans_round_trip_through_protobuf(
            name in "[a-zA-Z /_-]{0,20}",
            kind in 0i32..6,
            start in 1_600_000_000_000_000_000i64..1_700_000_000_000_000_000,
            dur in 0i64..10_000_000_000,
            attr_int in any::<i64>(),
            attr_f in -1e9f64..1e9,
            attr_s in ".{0,10}",
        ) {
            let mut attrs = faultline_model::Attributes::new();
            attrs.insert("i".into(), attr_int.into());
            attrs.insert("f".into(), serde_json::Number::from_f64(attr_f).map(Value::Number).unwrap_or(Value::Null));
            attrs.insert("s".into(), attr_s.into());
            let span = Span {
                trace_id: TraceId([3; 16]),
                span_id: SpanId([4; 8]),
                parent_span_id: Some(SpanId([5; 8])),
                trace_state: String::new(),
                flags: 0,
                name,
                kind: SpanKind::from_i32(kind),
                start_unix_nano: start,
                end_unix_nano: start + dur,
                status_code: StatusCode::Error,
                status_message: "x".into(),
                attributes: attrs,
                events: vec![],
                links: vec![],
                resource: Arc::new(ResourceInfo::from_attributes(serde_json::json!({"service.name": "s"}).as_object().unwrap().clone())),
            };
            let bytes = spans_to_request(std::slice::from_ref(&span)).encode_to_vec();
            let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
            let d = spans_from_request(&back, &Limits { min_time_ns: 0, ..Limits::default() });
            prop_assert_eq!(d.items, vec![span]);
        }
    }
}

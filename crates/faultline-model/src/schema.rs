//! Arrow schemas of faultline's tables and conversions between records and record batches.
//!
//! These schemas are also the Parquet layout on disk (docs/storage.md). Column names are stable:
//! other engines (DuckDB, ClickHouse, Spark, Trino) read the segments by these names.
//!
//! Conversions from batches accept projected batches: a column that is absent reads as its default.

use crate::log::LogRecord;
use crate::metric::{MetricData, MetricKind, MetricPoint, Temporality};
use crate::span::{Span, SpanEvent, SpanKind, SpanLink, StatusCode};
use crate::value::{attributes_from_json, attributes_to_json};
use crate::{ChangeEvent, ChangeKind, ResourceInfo, SpanId, TraceId};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, FixedSizeBinaryArray, FixedSizeBinaryBuilder, Float64Builder,
    Int64Builder, Int8Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Int8Type, Schema, SchemaRef, TimeUnit,
    TimestampNanosecondType, UInt32Type, UInt64Type,
};
use std::sync::{Arc, LazyLock};

/// The tables of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Spans,
    Logs,
    Metrics,
    Changes,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Spans, Table::Logs, Table::Metrics, Table::Changes];

    pub fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::Logs => "logs",
            Table::Metrics => "metrics",
            Table::Changes => "changes",
        }
    }

    pub fn from_name(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == s)
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Spans => SPANS.clone(),
            Table::Logs => LOGS.clone(),
            Table::Metrics => METRICS.clone(),
            Table::Changes => CHANGES.clone(),
        }
    }

    /// The column that places a row in time: segments are pruned and retained by it.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Spans => "start_time",
            _ => "time",
        }
    }

    /// Columns segments are sorted by, for locality and compression.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Spans => &["trace_id", "start_time"],
            Table::Logs => &["service_name", "time"],
            Table::Metrics => &["name", "service_name", "service_instance", "time"],
            Table::Changes => &["time"],
        }
    }

    /// Column with a bloom filter for point lookups.
    pub fn bloom_columns(self) -> &'static [&'static str] {
        match self {
            Table::Spans | Table::Logs => &["trace_id"],
            _ => &[],
        }
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn resource_fields() -> Vec<Field> {
    vec![
        Field::new("service_name", DataType::Utf8, false),
        Field::new("service_instance", DataType::Utf8, true),
        Field::new("resource_attributes", DataType::Utf8, false),
        Field::new("scope_name", DataType::Utf8, true),
        Field::new("scope_version", DataType::Utf8, true),
    ]
}

static SPANS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent_span_id", DataType::FixedSizeBinary(8), true),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("flags", DataType::UInt32, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Int8, false),
        Field::new("start_time", ts(), false),
        Field::new("duration_ns", DataType::Int64, false),
        Field::new("status_code", DataType::Int8, false),
        Field::new("status_message", DataType::Utf8, true),
        Field::new("attributes", DataType::Utf8, false),
        Field::new("events", DataType::Utf8, true),
        Field::new("links", DataType::Utf8, true),
    ];
    f.extend(resource_fields());
    Arc::new(Schema::new(f))
});

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = vec![
        Field::new("time", ts(), false),
        Field::new("observed_time", ts(), true),
        Field::new("severity_number", DataType::Int8, false),
        Field::new("severity_text", DataType::Utf8, true),
        Field::new("body", DataType::Utf8, false),
        Field::new("attributes", DataType::Utf8, false),
        Field::new("trace_id", DataType::FixedSizeBinary(16), true),
        Field::new("span_id", DataType::FixedSizeBinary(8), true),
        Field::new("flags", DataType::UInt32, false),
        Field::new("event_name", DataType::Utf8, true),
    ];
    f.extend(resource_fields());
    Arc::new(Schema::new(f))
});

static METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = vec![
        Field::new("time", ts(), false),
        Field::new("start_time", ts(), true),
        Field::new("name", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("unit", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("temporality", DataType::Int8, false),
        Field::new("is_monotonic", DataType::Boolean, false),
        Field::new("attributes", DataType::Utf8, false),
        Field::new("flags", DataType::UInt32, false),
        Field::new("value", DataType::Float64, true),
        Field::new("value_is_int", DataType::Boolean, true),
        Field::new("count", DataType::UInt64, true),
        Field::new("sum", DataType::Float64, true),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        Field::new("buckets", DataType::Utf8, true),
    ];
    f.extend(resource_fields());
    Arc::new(Schema::new(f))
});

static CHANGES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("time", ts(), false),
        Field::new("service", DataType::Utf8, false),
        Field::new("instance", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("version_before", DataType::Utf8, true),
        Field::new("version_after", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, false),
        Field::new("author", DataType::Utf8, true),
        Field::new("link", DataType::Utf8, true),
        Field::new("attributes", DataType::Utf8, false),
    ]))
});

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("column {column} has type {found}, expected {expected}")]
    WrongType { column: String, found: DataType, expected: &'static str },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn ts_builder(cap: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(cap).with_timezone("UTC")
}

struct ResourceBuilders {
    service: StringBuilder,
    instance: StringBuilder,
    attrs: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    // Records of one batch mostly share a resource: serialise its attributes once.
    last: Option<(*const ResourceInfo, String)>,
}

impl ResourceBuilders {
    fn new(cap: usize) -> Self {
        ResourceBuilders {
            service: StringBuilder::with_capacity(cap, cap * 8),
            instance: StringBuilder::with_capacity(cap, cap * 8),
            attrs: StringBuilder::with_capacity(cap, cap * 32),
            scope_name: StringBuilder::with_capacity(cap, cap * 8),
            scope_version: StringBuilder::with_capacity(cap, cap * 4),
            last: None,
        }
    }

    fn append(&mut self, r: &ResourceInfo) {
        self.service.append_value(&r.service_name);
        self.instance.append_option(r.instance.as_deref());
        let ptr = r as *const ResourceInfo;
        match &self.last {
            Some((p, json)) if *p == ptr => self.attrs.append_value(json),
            _ => {
                let json = attributes_to_json(&r.attributes);
                self.attrs.append_value(&json);
                self.last = Some((ptr, json));
            }
        }
        self.scope_name.append_option(opt(&r.scope_name));
        self.scope_version.append_option(opt(&r.scope_version));
    }

    fn finish(mut self, cols: &mut Vec<ArrayRef>) {
        cols.push(Arc::new(self.service.finish()));
        cols.push(Arc::new(self.instance.finish()));
        cols.push(Arc::new(self.attrs.finish()));
        cols.push(Arc::new(self.scope_name.finish()));
        cols.push(Arc::new(self.scope_version.finish()));
    }
}

/// Converts spans to a record batch of the spans table.
pub fn spans_to_batch(spans: &[Span]) -> RecordBatch {
    let n = spans.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut trace_state = StringBuilder::new();
    let mut flags = UInt32Builder::with_capacity(n);
    let mut name = StringBuilder::with_capacity(n, n * 16);
    let mut kind = Int8Builder::with_capacity(n);
    let mut start = ts_builder(n);
    let mut dur = Int64Builder::with_capacity(n);
    let mut status = Int8Builder::with_capacity(n);
    let mut status_msg = StringBuilder::new();
    let mut attrs = StringBuilder::with_capacity(n, n * 64);
    let mut events = StringBuilder::new();
    let mut links = StringBuilder::new();
    let mut res = ResourceBuilders::new(n);
    for s in spans {
        trace_id.append_value(s.trace_id.0).expect("16 bytes");
        span_id.append_value(s.span_id.0).expect("8 bytes");
        match s.parent_span_id {
            Some(p) => parent.append_value(p.0).expect("8 bytes"),
            None => parent.append_null(),
        }
        trace_state.append_option(opt(&s.trace_state));
        flags.append_value(s.flags);
        name.append_value(&s.name);
        kind.append_value(s.kind as i8);
        start.append_value(s.start_unix_nano);
        dur.append_value(s.duration_ns());
        status.append_value(s.status_code as i8);
        status_msg.append_option(opt(&s.status_message));
        attrs.append_value(attributes_to_json(&s.attributes));
        if s.events.is_empty() {
            events.append_null();
        } else {
            events.append_value(serde_json::to_string(&s.events).expect("events serialise"));
        }
        if s.links.is_empty() {
            links.append_null();
        } else {
            links.append_value(serde_json::to_string(&s.links).expect("links serialise"));
        }
        res.append(&s.resource);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(flags.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(start.finish()),
        Arc::new(dur.finish()),
        Arc::new(status.finish()),
        Arc::new(status_msg.finish()),
        Arc::new(attrs.finish()),
        Arc::new(events.finish()),
        Arc::new(links.finish()),
    ];
    res.finish(&mut cols);
    RecordBatch::try_new(SPANS.clone(), cols).expect("spans batch matches its schema")
}

/// Typed, optional access to the columns of a (possibly projected) batch.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }

    fn col(&self, name: &str) -> Option<&'a ArrayRef> {
        self.batch.column_by_name(name)
    }

    pub fn str(&self, name: &str, row: usize) -> Option<&'a str> {
        let c = self.col(name)?;
        let a = c.as_string_opt::<i32>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn string(&self, name: &str, row: usize) -> String {
        self.str(name, row).unwrap_or_default().to_string()
    }

    pub fn fsb(&self, name: &str, row: usize) -> Option<&'a [u8]> {
        let c = self.col(name)?;
        let a: &FixedSizeBinaryArray = c.as_fixed_size_binary_opt()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn i64(&self, name: &str, row: usize) -> Option<i64> {
        let c = self.col(name)?;
        if let Some(a) = c.as_primitive_opt::<Int64Type>() {
            return a.is_valid(row).then(|| a.value(row));
        }
        let a = c.as_primitive_opt::<TimestampNanosecondType>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn i8(&self, name: &str, row: usize) -> Option<i8> {
        let a = self.col(name)?.as_primitive_opt::<Int8Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn i32(&self, name: &str, row: usize) -> Option<i32> {
        let a = self.col(name)?.as_primitive_opt::<Int32Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn u32(&self, name: &str, row: usize) -> Option<u32> {
        let a = self.col(name)?.as_primitive_opt::<UInt32Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn u64(&self, name: &str, row: usize) -> Option<u64> {
        let a = self.col(name)?.as_primitive_opt::<UInt64Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn f64(&self, name: &str, row: usize) -> Option<f64> {
        let a = self.col(name)?.as_primitive_opt::<Float64Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }

    pub fn bool(&self, name: &str, row: usize) -> Option<bool> {
        let a = self.col(name)?.as_boolean_opt()?;
        a.is_valid(row).then(|| a.value(row))
    }

    /// The resource of a row; consecutive rows with the same resource share one allocation.
    fn resource(&self, row: usize, last: &mut Option<Arc<ResourceInfo>>) -> Arc<ResourceInfo> {
        let service = self.str("service_name", row).unwrap_or("");
        let instance = self.str("service_instance", row);
        let attrs = self.str("resource_attributes", row).unwrap_or("");
        let scope = self.str("scope_name", row).unwrap_or("");
        let version = self.str("scope_version", row).unwrap_or("");
        if let Some(r) = last {
            if r.service_name == service
                && r.instance.as_deref() == instance
                && r.scope_name == scope
                && r.scope_version == version
                && attributes_from_json(attrs) == r.attributes
            {
                return r.clone();
            }
        }
        let r = Arc::new(ResourceInfo {
            service_name: service.to_string(),
            instance: instance.map(str::to_string),
            attributes: attributes_from_json(attrs),
            scope_name: scope.to_string(),
            scope_version: version.to_string(),
        });
        *last = Some(r.clone());
        r
    }
}

fn trace_id_at(c: &Columns<'_>, name: &str, row: usize) -> Option<TraceId> {
    c.fsb(name, row).and_then(|b| b.try_into().ok()).map(TraceId)
}

fn span_id_at(c: &Columns<'_>, name: &str, row: usize) -> Option<SpanId> {
    c.fsb(name, row).and_then(|b| b.try_into().ok()).map(SpanId)
}

/// Reads spans back from a (possibly projected) batch of the spans table.
pub fn spans_from_batch(batch: &RecordBatch) -> Vec<Span> {
    let c = Columns::new(batch);
    let mut last = None;
    (0..batch.num_rows())
        .map(|row| {
            let start = c.i64("start_time", row).unwrap_or(0);
            Span {
                trace_id: trace_id_at(&c, "trace_id", row).unwrap_or_default(),
                span_id: span_id_at(&c, "span_id", row).unwrap_or_default(),
                parent_span_id: span_id_at(&c, "parent_span_id", row),
                trace_state: c.string("trace_state", row),
                flags: c.u32("flags", row).unwrap_or(0),
                name: c.string("name", row),
                kind: SpanKind::from_i32(c.i8("kind", row).unwrap_or(0) as i32),
                start_unix_nano: start,
                end_unix_nano: start + c.i64("duration_ns", row).unwrap_or(0),
                status_code: StatusCode::from_i32(c.i8("status_code", row).unwrap_or(0) as i32),
                status_message: c.string("status_message", row),
                attributes: attributes_from_json(c.str("attributes", row).unwrap_or("")),
                events: c
                    .str("events", row)
                    .and_then(|s| serde_json::from_str::<Vec<SpanEvent>>(s).ok())
                    .unwrap_or_default(),
                links: c
                    .str("links", row)
                    .and_then(|s| serde_json::from_str::<Vec<SpanLink>>(s).ok())
                    .unwrap_or_default(),
                resource: c.resource(row, &mut last),
            }
        })
        .collect()
}

/// Converts log records to a record batch of the logs table.
pub fn logs_to_batch(logs: &[LogRecord]) -> RecordBatch {
    let n = logs.len();
    let mut time = ts_builder(n);
    let mut observed = ts_builder(n);
    let mut sev = Int8Builder::with_capacity(n);
    let mut sev_text = StringBuilder::new();
    let mut body = StringBuilder::with_capacity(n, n * 64);
    let mut attrs = StringBuilder::new();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut flags = UInt32Builder::with_capacity(n);
    let mut event_name = StringBuilder::new();
    let mut res = ResourceBuilders::new(n);
    for l in logs {
        time.append_value(l.effective_time());
        if l.observed_time_unix_nano != 0 {
            observed.append_value(l.observed_time_unix_nano);
        } else {
            observed.append_null();
        }
        sev.append_value(l.severity_number.clamp(0, 24) as i8);
        sev_text.append_option(opt(&l.severity_text));
        body.append_value(&l.body);
        attrs.append_value(attributes_to_json(&l.attributes));
        match l.trace_id {
            Some(t) => trace_id.append_value(t.0).expect("16 bytes"),
            None => trace_id.append_null(),
        }
        match l.span_id {
            Some(s) => span_id.append_value(s.0).expect("8 bytes"),
            None => span_id.append_null(),
        }
        flags.append_value(l.flags);
        event_name.append_option(opt(&l.event_name));
        res.append(&l.resource);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(observed.finish()),
        Arc::new(sev.finish()),
        Arc::new(sev_text.finish()),
        Arc::new(body.finish()),
        Arc::new(attrs.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(flags.finish()),
        Arc::new(event_name.finish()),
    ];
    res.finish(&mut cols);
    RecordBatch::try_new(LOGS.clone(), cols).expect("logs batch matches its schema")
}

/// Reads log records back from a (possibly projected) batch of the logs table.
pub fn logs_from_batch(batch: &RecordBatch) -> Vec<LogRecord> {
    let c = Columns::new(batch);
    let mut last = None;
    (0..batch.num_rows())
        .map(|row| LogRecord {
            time_unix_nano: c.i64("time", row).unwrap_or(0),
            observed_time_unix_nano: c.i64("observed_time", row).unwrap_or(0),
            severity_number: c.i8("severity_number", row).unwrap_or(0) as i32,
            severity_text: c.string("severity_text", row),
            body: c.string("body", row),
            attributes: attributes_from_json(c.str("attributes", row).unwrap_or("")),
            trace_id: trace_id_at(&c, "trace_id", row),
            span_id: span_id_at(&c, "span_id", row),
            flags: c.u32("flags", row).unwrap_or(0),
            event_name: c.string("event_name", row),
            resource: c.resource(row, &mut last),
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Buckets {
    Histogram {
        bucket_counts: Vec<u64>,
        explicit_bounds: Vec<f64>,
    },
    ExponentialHistogram {
        scale: i32,
        zero_count: u64,
        positive_offset: i32,
        positive_bucket_counts: Vec<u64>,
        negative_offset: i32,
        negative_bucket_counts: Vec<u64>,
    },
    Summary {
        quantiles: Vec<f64>,
        quantile_values: Vec<f64>,
    },
}

/// Converts metric points to a record batch of the metrics table.
pub fn metrics_to_batch(points: &[MetricPoint]) -> RecordBatch {
    let n = points.len();
    let mut time = ts_builder(n);
    let mut start = ts_builder(n);
    let mut name = StringBuilder::new();
    let mut desc = StringBuilder::new();
    let mut unit = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut temporality = Int8Builder::with_capacity(n);
    let mut mono = BooleanBuilder::with_capacity(n);
    let mut attrs = StringBuilder::new();
    let mut flags = UInt32Builder::with_capacity(n);
    let mut value = Float64Builder::with_capacity(n);
    let mut is_int = BooleanBuilder::with_capacity(n);
    let mut count = UInt64Builder::with_capacity(n);
    let mut sum = Float64Builder::with_capacity(n);
    let mut min = Float64Builder::with_capacity(n);
    let mut max = Float64Builder::with_capacity(n);
    let mut buckets = StringBuilder::new();
    let mut res = ResourceBuilders::new(n);
    for p in points {
        time.append_value(p.time_unix_nano);
        if p.start_time_unix_nano != 0 {
            start.append_value(p.start_time_unix_nano);
        } else {
            start.append_null();
        }
        name.append_value(&p.name);
        desc.append_option(opt(&p.description));
        unit.append_option(opt(&p.unit));
        kind.append_value(p.kind.as_str());
        temporality.append_value(p.temporality as i8);
        mono.append_value(p.is_monotonic);
        attrs.append_value(attributes_to_json(&p.attributes));
        flags.append_value(p.flags);
        let (v, vi, c, s, mn, mx, b) = match &p.data {
            MetricData::Number { value, is_int } => {
                (Some(*value), Some(*is_int), None, None, None, None, None)
            }
            MetricData::Histogram { count, sum, min, max, bucket_counts, explicit_bounds } => (
                None,
                None,
                Some(*count),
                *sum,
                *min,
                *max,
                Some(Buckets::Histogram {
                    bucket_counts: bucket_counts.clone(),
                    explicit_bounds: explicit_bounds.clone(),
                }),
            ),
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
            } => (
                None,
                None,
                Some(*count),
                *sum,
                *min,
                *max,
                Some(Buckets::ExponentialHistogram {
                    scale: *scale,
                    zero_count: *zero_count,
                    positive_offset: *positive_offset,
                    positive_bucket_counts: positive_bucket_counts.clone(),
                    negative_offset: *negative_offset,
                    negative_bucket_counts: negative_bucket_counts.clone(),
                }),
            ),
            MetricData::Summary { count, sum, quantiles, quantile_values } => (
                None,
                None,
                Some(*count),
                Some(*sum),
                None,
                None,
                Some(Buckets::Summary {
                    quantiles: quantiles.clone(),
                    quantile_values: quantile_values.clone(),
                }),
            ),
        };
        value.append_option(v);
        is_int.append_option(vi);
        count.append_option(c);
        sum.append_option(s);
        min.append_option(mn);
        max.append_option(mx);
        buckets.append_option(b.map(|b| serde_json::to_string(&b).expect("buckets serialise")));
        res.append(&p.resource);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(start.finish()),
        Arc::new(name.finish()),
        Arc::new(desc.finish()),
        Arc::new(unit.finish()),
        Arc::new(kind.finish()),
        Arc::new(temporality.finish()),
        Arc::new(mono.finish()),
        Arc::new(attrs.finish()),
        Arc::new(flags.finish()),
        Arc::new(value.finish()),
        Arc::new(is_int.finish()),
        Arc::new(count.finish()),
        Arc::new(sum.finish()),
        Arc::new(min.finish()),
        Arc::new(max.finish()),
        Arc::new(buckets.finish()),
    ];
    res.finish(&mut cols);
    RecordBatch::try_new(METRICS.clone(), cols).expect("metrics batch matches its schema")
}

/// Reads metric points back from a (possibly projected) batch of the metrics table.
pub fn metrics_from_batch(batch: &RecordBatch) -> Vec<MetricPoint> {
    let c = Columns::new(batch);
    let mut last = None;
    (0..batch.num_rows())
        .map(|row| {
            let kind = c.str("kind", row).and_then(MetricKind::parse).unwrap_or(MetricKind::Gauge);
            let count = c.u64("count", row).unwrap_or(0);
            let sum = c.f64("sum", row);
            let min = c.f64("min", row);
            let max = c.f64("max", row);
            let buckets = c.str("buckets", row).and_then(|s| serde_json::from_str(s).ok());
            let data = match buckets {
                Some(Buckets::Histogram { bucket_counts, explicit_bounds }) => {
                    MetricData::Histogram { count, sum, min, max, bucket_counts, explicit_bounds }
                }
                Some(Buckets::ExponentialHistogram {
                    scale,
                    zero_count,
                    positive_offset,
                    positive_bucket_counts,
                    negative_offset,
                    negative_bucket_counts,
                }) => MetricData::ExponentialHistogram {
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
                Some(Buckets::Summary { quantiles, quantile_values }) => {
                    MetricData::Summary { count, sum: sum.unwrap_or(0.0), quantiles, quantile_values }
                }
                None => MetricData::Number {
                    value: c.f64("value", row).unwrap_or(f64::NAN),
                    is_int: c.bool("value_is_int", row).unwrap_or(false),
                },
            };
            MetricPoint {
                name: c.string("name", row),
                description: c.string("description", row),
                unit: c.string("unit", row),
                kind,
                temporality: Temporality::from_i32(c.i8("temporality", row).unwrap_or(0) as i32),
                is_monotonic: c.bool("is_monotonic", row).unwrap_or(false),
                time_unix_nano: c.i64("time", row).unwrap_or(0),
                start_time_unix_nano: c.i64("start_time", row).unwrap_or(0),
                attributes: attributes_from_json(c.str("attributes", row).unwrap_or("")),
                flags: c.u32("flags", row).unwrap_or(0),
                data,
                resource: c.resource(row, &mut last),
            }
        })
        .collect()
}

/// Converts change events to a record batch of the changes table.
pub fn changes_to_batch(changes: &[ChangeEvent]) -> RecordBatch {
    let n = changes.len();
    let mut id = StringBuilder::new();
    let mut time = ts_builder(n);
    let mut service = StringBuilder::new();
    let mut instance = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut before = StringBuilder::new();
    let mut after = StringBuilder::new();
    let mut desc = StringBuilder::new();
    let mut author = StringBuilder::new();
    let mut link = StringBuilder::new();
    let mut attrs = StringBuilder::new();
    for ch in changes {
        id.append_value(&ch.id);
        time.append_value(ch.time_unix_nano);
        service.append_value(&ch.service);
        instance.append_option(ch.instance.as_deref());
        kind.append_value(ch.kind.as_str());
        before.append_option(ch.version_before.as_deref());
        after.append_option(ch.version_after.as_deref());
        desc.append_value(&ch.description);
        author.append_option(ch.author.as_deref());
        link.append_option(ch.link.as_deref());
        attrs.append_value(attributes_to_json(&ch.attributes));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(time.finish()),
        Arc::new(service.finish()),
        Arc::new(instance.finish()),
        Arc::new(kind.finish()),
        Arc::new(before.finish()),
        Arc::new(after.finish()),
        Arc::new(desc.finish()),
        Arc::new(author.finish()),
        Arc::new(link.finish()),
        Arc::new(attrs.finish()),
    ];
    RecordBatch::try_new(CHANGES.clone(), cols).expect("changes batch matches its schema")
}

/// Reads change events back from a batch of the changes table.
pub fn changes_from_batch(batch: &RecordBatch) -> Vec<ChangeEvent> {
    let c = Columns::new(batch);
    let s = |name: &str, row: usize| c.str(name, row).map(str::to_string);
    (0..batch.num_rows())
        .map(|row| ChangeEvent {
            id: c.string("id", row),
            time_unix_nano: c.i64("time", row).unwrap_or(0),
            service: c.string("service", row),
            instance: s("instance", row),
            kind: c.str("kind", row).and_then(ChangeKind::parse).unwrap_or_default(),
            version_before: s("version_before", row),
            version_after: s("version_after", row),
            description: c.string("description", row),
            author: s("author", row),
            link: s("link", row),
            attributes: attributes_from_json(c.str("attributes", row).unwrap_or("")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource() -> ResourceInfo {
        let mut r = ResourceInfo::from_attributes(
            json!({"service.name": "checkout", "host.name": "h1"}).as_object().unwrap().clone(),
        );
        r.scope_name = "lib".into();
        r
    }

    #[test]
    fn spans_round_trip() {
        let span = Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: Some(SpanId([2; 8])),
            trace_state: String::new(),
            flags: 1,
            name: "GET /x".into(),
            kind: SpanKind::Server,
            start_unix_nano: 1_000,
            end_unix_nano: 5_000,
            status_code: StatusCode::Error,
            status_message: "boom".into(),
            attributes: json!({"a": 1, "b": 2.5, "c": "x", "d": [1, 2]}).as_object().unwrap().clone(),
            events: vec![SpanEvent {
                time_unix_nano: 2_000,
                name: "exception".into(),
                attributes: Default::default(),
            }],
            links: vec![],
            resource: Arc::new(resource()),
        };
        let batch = spans_to_batch(std::slice::from_ref(&span));
        assert_eq!(spans_from_batch(&batch), vec![span]);
    }

    #[test]
    fn metrics_round_trip() {
        let p = MetricPoint {
            name: "latency".into(),
            description: String::new(),
            unit: "ms".into(),
            kind: MetricKind::Histogram,
            temporality: Temporality::Cumulative,
            is_monotonic: false,
            time_unix_nano: 10,
            start_time_unix_nano: 5,
            attributes: Default::default(),
            flags: 0,
            data: MetricData::Histogram {
                count: 3,
                sum: Some(6.0),
                min: None,
                max: Some(3.0),
                bucket_counts: vec![1, 2],
                explicit_bounds: vec![2.0],
            },
            resource: Arc::new(resource()),
        };
        let batch = metrics_to_batch(std::slice::from_ref(&p));
        assert_eq!(metrics_from_batch(&batch), vec![p]);
    }
}

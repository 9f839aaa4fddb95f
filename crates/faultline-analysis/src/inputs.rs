//! Logs and metrics of a window in the compact forms the investigation reads.

use crate::Interner;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, Int8Type, TimestampNanosecondType};
use std::collections::BTreeMap;

/// Everything an investigation reads: a window's spans, logs, metrics and changes.
#[derive(Debug, Default)]
pub struct Inputs {
    pub spans: crate::SpanTable,
    pub logs: LogTable,
    pub metrics: MetricTable,
    pub changes: Vec<faultline_model::ChangeEvent>,
}

/// Columns the analysis reads from the logs table.
pub const LOG_COLUMNS: &[&str] = &[
    "time",
    "severity_number",
    "severity_text",
    "body",
    "attributes",
    "trace_id",
    "span_id",
    "service_name",
    "service_instance",
];

impl Inputs {
    /// The inputs of an investigation. Where no span carries a failure of its own at all (no
    /// status, code or exception anywhere: errors only in the logs), a span takes its failure from
    /// the error log records attached to it (its trace and span id), as the OpenTelemetry logs
    /// bridge attaches them: a client span whose call timed out is failed when its caller logged
    /// the time-out on it.
    pub fn new(
        spans: crate::SpanTable,
        logs: LogTable,
        metrics: MetricTable,
        changes: Vec<faultline_model::ChangeEvent>,
    ) -> Inputs {
        let mut i = Inputs { spans, logs, metrics, changes };
        i.failures_from_logs();
        i
    }

    fn failures_from_logs(&mut self) {
        let t = &mut self.spans;
        if t.error.iter().any(|&e| e) {
            return;
        }
        let l = &self.logs;
        let mut failed: crate::hash::HashMap<([u8; 16], [u8; 8]), usize> = crate::hash::HashMap::default();
        for k in (0..l.len()).filter(|&k| l.error[k]) {
            if let (Some(Some(tr)), Some(Some(sp))) = (l.trace_id.get(k), l.span_id.get(k)) {
                failed.entry((*tr, *sp)).or_insert(k);
            }
        }
        if failed.is_empty() {
            return;
        }
        for i in 0..t.len() {
            if let Some(&k) = failed.get(&(t.trace_id[i], t.span_id[i])) {
                t.error[i] = true;
                if t.message[i] == crate::spans::NONE {
                    t.message[i] = t.names.intern(&l.body[k]);
                }
            }
        }
    }
}

/// Columns the analysis reads from the metrics table.
pub const METRIC_COLUMNS: &[&str] = &[
    "time",
    "start_time",
    "name",
    "kind",
    "temporality",
    "is_monotonic",
    "attributes",
    "value",
    "sum",
    "count",
    "service_name",
    "service_instance",
];

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
    /// A warning: not an error, but something went wrong that the code handled.
    pub warn: Vec<bool>,
    pub body: Vec<String>,
    pub trace_id: Vec<Option<[u8; 16]>>,
    /// The span each record was logged in, when it says.
    pub span_id: Vec<Option<[u8; 8]>>,
    /// For records without a trace id: the correlation ids they carry (see `correlate`).
    pub corr: Vec<Vec<String>>,
}

/// A log record's level, as far as the analysis tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// ERROR and worse.
    Error,
    /// WARN: something went wrong that the code handled (a bad answer it gave up on, a retry).
    Warn,
    /// INFO, DEBUG and the like.
    Other,
}

/// The level written inside a line without severity, `None` when it names none
/// (`faultline_model::log::severity_in_text`). An INFO line that mentions an error is not an error
/// report.
pub fn level_in_text(body: &str) -> Option<Level> {
    match faultline_model::log::severity_in_text(body) {
        0 => None,
        s if s >= 17 => Some(Level::Error),
        13..=16 => Some(Level::Warn),
        _ => Some(Level::Other),
    }
}

/// A record's level from its severity number (OTLP: 13-16 WARN, 17 and up ERROR and FATAL), else
/// its severity text, else the level inside its text, else words that mark an error report.
fn level_of(severity: i8, text: &str, body: &str) -> Level {
    let by_number = match severity {
        s if s >= 17 => Level::Error,
        13..=16 => Level::Warn,
        _ => Level::Other,
    };
    if severity > 0 {
        by_number
    } else if !text.is_empty() {
        match text {
            t if t.starts_with("err") || t.starts_with("fatal") || t.starts_with("crit") => Level::Error,
            t if t.starts_with("warn") => Level::Warn,
            _ => Level::Other,
        }
    } else {
        match level_in_text(body) {
            Some(level) => level,
            None if looks_like_error(body) => Level::Error,
            None => Level::Other,
        }
    }
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
            let span = b.column_by_name("span_id").and_then(|c| c.as_fixed_size_binary_opt().cloned());
            for (row, &tm) in time.iter().enumerate() {
                let body = str_at(b, "body", row);
                let sev = sev.as_ref().filter(|a| a.is_valid(row)).map_or(0, |a| a.value(row));
                let text = str_at(b, "severity_text", row).to_ascii_lowercase();
                let level = level_of(sev, &text, body);
                t.time.push(tm);
                let s = str_at(b, "service_name", row);
                let s = t.names.intern(if s.is_empty() { "unknown_service" } else { s });
                t.service.push(s);
                let i = t.names.intern(str_at(b, "service_instance", row));
                t.instance.push(i);
                t.error.push(level == Level::Error);
                t.warn.push(level == Level::Warn);
                t.body.push(body.to_string());
                let mut tid: Option<[u8; 16]> =
                    trace.as_ref().filter(|a| a.is_valid(row)).and_then(|a| a.value(row).try_into().ok());
                let mut sid: Option<[u8; 8]> =
                    span.as_ref().filter(|a| a.is_valid(row)).and_then(|a| a.value(row).try_into().ok());
                if tid.is_none() {
                    // A line that carries its ids in its text (a Java MDC pattern, logfmt).
                    let (t, s) = faultline_model::ids::ids_in_text(body);
                    tid = t.map(|t| t.0);
                    sid = sid.or(s.map(|s| s.0));
                }
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
                t.span_id.push(sid);
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
    /// Series from metric batches. Cumulative counters and histograms become what happened in each
    /// interval (a counter's increase per second, a histogram's mean over the interval's
    /// observations), so that every series reads as a level that can be compared across windows: a
    /// cumulative counter always grows, and its level says nothing about now.
    pub fn from_batches(batches: &[RecordBatch]) -> MetricTable {
        let mut m = MetricTable::default();
        let mut cumulative: BTreeMap<MetricKey, Vec<Cumulative>> = BTreeMap::new();
        for b in batches {
            let time = times(b, "time");
            let start = times(b, "start_time");
            let f = |n: &str| b.column_by_name(n).and_then(|c| c.as_primitive_opt::<Float64Type>().cloned());
            let (value, sum) = (f("value"), f("sum"));
            let count = b
                .column_by_name("count")
                .and_then(|c| c.as_primitive_opt::<arrow::datatypes::UInt64Type>().cloned());
            let temporality =
                b.column_by_name("temporality").and_then(|c| c.as_primitive_opt::<Int8Type>().cloned());
            let monotonic = b.column_by_name("is_monotonic").and_then(|c| c.as_boolean_opt().cloned());
            for (row, &tm) in time.iter().enumerate() {
                let key = MetricKey {
                    name: str_at(b, "name", row).to_string(),
                    service: str_at(b, "service_name", row).to_string(),
                    instance: str_at(b, "service_instance", row).to_string(),
                    attributes: str_at(b, "attributes", row).to_string(),
                };
                let is_cumulative =
                    temporality.as_ref().is_some_and(|t| t.is_valid(row) && t.value(row) == 2);
                let kind = str_at(b, "kind", row);
                let counter =
                    kind == "sum" && monotonic.as_ref().is_some_and(|c| c.is_valid(row) && c.value(row));
                let v = match (&value, &sum, &count) {
                    (Some(v), _, _) if v.is_valid(row) => {
                        if is_cumulative && counter {
                            cumulative.entry(key).or_default().push(Cumulative {
                                time: tm,
                                start: start[row],
                                sum: v.value(row),
                                count: None,
                            });
                            continue;
                        }
                        v.value(row)
                    }
                    // Histograms and summaries: their mean.
                    (_, Some(s), Some(c)) if s.is_valid(row) && c.is_valid(row) && c.value(row) > 0 => {
                        if is_cumulative && kind == "histogram" {
                            let count = Some(c.value(row) as f64);
                            cumulative.entry(key).or_default().push(Cumulative {
                                time: tm,
                                start: start[row],
                                sum: s.value(row),
                                count,
                            });
                            continue;
                        }
                        s.value(row) / c.value(row) as f64
                    }
                    _ => continue,
                };
                if !v.is_finite() {
                    continue;
                }
                m.series.entry(key).or_default().push((tm, v));
                m.points += 1;
            }
        }
        for (key, mut points) in cumulative {
            points.sort_by_key(|p| p.time);
            let series = per_interval(&points);
            m.points += series.len();
            if !series.is_empty() {
                m.series.entry(key).or_default().extend(series);
            }
        }
        for s in m.series.values_mut() {
            s.sort_by_key(|p| p.0);
        }
        m
    }
}

/// A point of a cumulative counter (`count` is `None`) or histogram.
struct Cumulative {
    time: i64,
    start: i64,
    sum: f64,
    count: Option<f64>,
}

/// What each interval between consecutive cumulative points held: a counter's increase per second,
/// a histogram's mean of the interval's observations. A reset (the start time moved, or the total
/// fell) starts over; the first point counts from its start time when it has one.
fn per_interval(points: &[Cumulative]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut prev: Option<&Cumulative> = None;
    for p in points {
        let base = match prev {
            Some(q)
                if q.start == p.start
                    && p.sum >= q.sum
                    && p.count.unwrap_or(0.0) >= q.count.unwrap_or(0.0) =>
            {
                Some((q.time, q.sum, q.count.unwrap_or(0.0)))
            }
            // The first point, or a restart that says when it started.
            _ if p.start > 0 && p.start < p.time && prev.is_none_or(|q| q.start != p.start) => {
                Some((p.start, 0.0, 0.0))
            }
            _ => None,
        };
        prev = Some(p);
        let Some((t0, s0, c0)) = base else { continue };
        let v = match p.count {
            None if p.time > t0 => (p.sum - s0) / ((p.time - t0) as f64 / 1e9),
            Some(c) if c > c0 => (p.sum - s0) / (c - c0),
            _ => continue,
        };
        if v.is_finite() {
            out.push((p.time, v));
        }
    }
    out
}

#[cfg(test)]
mod cumulative_tests {
    use super::*;

    fn point(time: i64, sum: f64, count: Option<f64>) -> Cumulative {
        Cumulative { time: time * 1_000_000_000, start: 1_000_000_000, sum, count }
    }

    #[test]
    fn cumulative_counters_become_rates_and_restart_on_reset() {
        // 10 per second, then a restart (the total falls), then 20 per second.
        let pts =
            [point(11, 100.0, None), point(21, 200.0, None), point(31, 5.0, None), point(41, 205.0, None)];
        let r = per_interval(&pts);
        let values: Vec<f64> = r.iter().map(|p| p.1).collect();
        assert_eq!(values, vec![10.0, 10.0, 20.0]);
    }

    #[test]
    fn cumulative_histograms_become_interval_means() {
        // 10 observations averaging 5, then 10 more averaging 50.
        let pts = [point(11, 50.0, Some(10.0)), point(21, 550.0, Some(20.0))];
        assert_eq!(per_interval(&pts).iter().map(|p| p.1).collect::<Vec<_>>(), vec![5.0, 50.0]);
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;

    #[test]
    fn the_level_inside_plain_text() {
        let java = "05:18:42.995 ERROR c.e.OrderServiceImpl#451 TraceID: 04c8 SpanID: 274f [create][fail]";
        assert_eq!(level_in_text(java), Some(Level::Error));
        assert_eq!(level_in_text("05:18:42.995 INFO  - retrying after error 42"), Some(Level::Other));
        assert_eq!(level_in_text("2026-11-13 08:00:01 [main] WARN  pool nearly full"), Some(Level::Warn));
        assert_eq!(level_in_text("connection refused"), None);
        // A level word deep inside the message is not the line's level.
        assert_eq!(level_in_text("user alice asked for the page about the word ERROR"), None);
    }

    #[test]
    fn the_level_in_the_formats_people_log_in() {
        let e = Some(Level::Error);
        let w = Some(Level::Warn);
        let o = Some(Level::Other);
        let cases = [
            ("2026-12-07 10:00:00,123 ERROR [main] c.e.Svc - db down", e),
            ("time=2026-12-07T10:00:00Z level=warn msg=\"pool nearly full\"", w),
            ("ts=1 level=info msg=\"retried after an error\"", o),
            (r#"{"time":"2026-12-07T10:00:00Z","level":"error","msg":"db down"}"#, e),
            (r#"{"level": "WARNING", "message": "slow"}"#, w),
            (r#"{"level":50,"time":1,"msg":"db down"}"#, e),
            (r#"{"level":30,"msg":"no error here"}"#, o),
            ("E1207 10:00:00.123456    1 main.go:42] db down", e),
            ("W1207 10:00:00.123456    1 main.go:42] slow", w),
            ("I1207 10:00:00.123456    1 main.go:42] failed over as planned", o),
            ("ERROR:root:db down", e),
            ("WARNING:urllib3.connectionpool:Retrying", w),
            ("[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708] AH00037: failed", e),
            ("2026/12/07 10:00:00 [error] 1234#0: *1 connect() failed", e),
            ("fail: Microsoft.AspNetCore.Server[0] request failed", e),
            ("t=2026-12-07T10:00:00 lvl=eror msg=\"db down\"", e),
            ("2026-12-07T10:00:00.000Z\tERROR\tpkg/file.go:12\tdb down", e),
            ("[10:00:00 ERR] db down", e),
            ("User alert set for bob", None),
            ("critical section entered by worker", None),
        ];
        for (line, want) in cases {
            assert_eq!(level_in_text(line), want, "{line}");
        }
    }

    #[test]
    fn the_level_from_number_text_or_line() {
        assert_eq!(level_of(13, "", "fine"), Level::Warn);
        assert_eq!(level_of(17, "", "fine"), Level::Error);
        assert_eq!(level_of(9, "", "connection refused"), Level::Other);
        assert_eq!(level_of(0, "warning", "x"), Level::Warn);
        assert_eq!(level_of(0, "", "10:00:01 WARN [get][check] unexpected value"), Level::Warn);
        assert_eq!(level_of(0, "", "connection refused"), Level::Error);
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use crate::detectors::testkit::span;
    use faultline_model::schema::{logs_to_batch, spans_to_batch};

    fn log(s: &faultline_model::Span, error: bool, body: &str) -> faultline_model::LogRecord {
        faultline_model::LogRecord {
            time_unix_nano: s.start_unix_nano,
            observed_time_unix_nano: 0,
            severity_number: if error { 17 } else { 9 },
            severity_text: String::new(),
            body: body.into(),
            attributes: Default::default(),
            trace_id: Some(s.trace_id),
            span_id: Some(s.span_id),
            flags: 0,
            event_name: String::new(),
            resource: s.resource.clone(),
        }
    }

    /// Four calls, one of which its caller logged an error on, one an info line. Where no span
    /// carries a failure, the error log fails its span (and names it); where one span has an error
    /// status, the spans are trusted alone.
    #[test]
    fn spans_take_failures_from_their_error_logs_only_where_spans_carry_none() {
        let build = |status_on_one: bool| {
            let mut spans: Vec<_> =
                (0..4u64).map(|k| span(7, k + 1, None, "shop", 1_000 + k as i64, 10)).collect();
            if status_on_one {
                spans[3].status_code = faultline_model::StatusCode::Error;
            }
            let logs = vec![log(&spans[1], true, "connection timeout"), log(&spans[2], false, "cart loaded")];
            Inputs::new(
                crate::SpanTable::from_batches(&[spans_to_batch(&spans)]),
                LogTable::from_batches(&[logs_to_batch(&logs)]),
                MetricTable::default(),
                vec![],
            )
        };
        let i = build(false);
        assert_eq!(i.spans.error, vec![false, true, false, false]);
        assert_eq!(i.spans.names.name(i.spans.message[1]), "connection timeout");
        assert_eq!(build(true).spans.error, vec![false, false, false, true]);
    }
}

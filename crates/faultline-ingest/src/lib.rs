//! Reading telemetry from files, with the format detected: OTLP/JSON lines (as the OpenTelemetry
//! Collector's file exporter writes them, one export request per line, or pretty-printed), OTLP
//! protobuf, change events as JSON, JSON-lines logs and plain-text logs; any of them gzip-compressed.
//!
//! Records go to a sink in batches, so that a file of any size is read in bounded memory.
//!
//! Invariant: this crate does no I/O but reading the input it is handed.

pub mod changes;
pub mod jaeger;
pub mod logs;
pub mod otlp_stream;
pub mod prometheus;
pub mod zipkin;

use faultline_model::{ChangeEvent, LogRecord, MetricPoint, Span};
use faultline_otlp::{Limits, Request, Signal};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};

/// Records read from a file, in a batch.
#[derive(Debug, Default)]
pub struct Items {
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<MetricPoint>,
    pub changes: Vec<ChangeEvent>,
    pub rejected: u64,
    pub errors: Vec<String>,
}

impl Items {
    pub fn len(&self) -> usize {
        self.spans.len() + self.logs.len() + self.metrics.len() + self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn reject(&mut self, e: String) {
        self.rejected += 1;
        if self.errors.len() < 5 {
            self.errors.push(e);
        }
    }
}

/// What the reader found, for the summary line.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReadSummary {
    pub format: String,
    pub spans: u64,
    pub logs: u64,
    pub metric_points: u64,
    pub changes: u64,
    pub rejected: u64,
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("reading input: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Format(String),
    #[error("{0}")]
    Sink(String),
}

/// Options of a read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Service name for logs that do not carry one (plain text).
    pub service: String,
    /// Records per batch handed to the sink.
    pub batch: usize,
    /// Which signal an OTLP protobuf file holds, when known (from the file name, or said).
    pub signal_hint: Option<Signal>,
    pub limits: Limits,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            service: "unknown_service".into(),
            batch: 8192,
            signal_hint: None,
            limits: Limits::default(),
        }
    }
}

/// Guesses the OTLP signal from a file name (`traces.pb`, `logs.jsonl.gz`, ...).
pub fn signal_from_name(name: &str) -> Option<Signal> {
    let n = name.to_ascii_lowercase();
    if n.contains("trace") || n.contains("span") {
        Some(Signal::Traces)
    } else if n.contains("metric") {
        Some(Signal::Metrics)
    } else if n.contains("log") {
        Some(Signal::Logs)
    } else {
        None
    }
}

/// Counts bytes read, for progress bars.
pub struct Counting<R> {
    inner: R,
    pub count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl<R> Counting<R> {
    pub fn new(inner: R) -> (Self, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        (Counting { inner, count: count.clone() }, count)
    }
}

struct Batcher<'a, E> {
    items: Items,
    summary: ReadSummary,
    batch: usize,
    sink: &'a mut dyn FnMut(Items) -> Result<(), E>,
}

impl<E: std::fmt::Display> Batcher<'_, E> {
    fn maybe_flush(&mut self) -> Result<(), IngestError> {
        if self.items.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IngestError> {
        let items = std::mem::take(&mut self.items);
        let s = &mut self.summary;
        s.spans += items.spans.len() as u64;
        s.logs += items.logs.len() as u64;
        s.metric_points += items.metrics.len() as u64;
        s.changes += items.changes.len() as u64;
        s.rejected += items.rejected;
        for e in &items.errors {
            if s.errors.len() < 10 {
                s.errors.push(e.clone());
            }
        }
        if items.is_empty() && items.rejected == 0 {
            return Ok(());
        }
        (self.sink)(items).map_err(|e| IngestError::Sink(e.to_string()))
    }

    fn otlp(&mut self, req: &Request, limits: &Limits) {
        match req {
            Request::Traces(r) => {
                let d = faultline_otlp::spans_from_request(r, limits);
                self.items.spans.extend(d.items);
                self.merge(d.rejected, d.errors);
            }
            Request::Logs(r) => {
                let d = faultline_otlp::logs_from_request(r, limits);
                self.items.logs.extend(d.items);
                self.merge(d.rejected, d.errors);
            }
            Request::Metrics(r) => {
                let d = faultline_otlp::metrics_from_request(r, limits);
                self.items.metrics.extend(d.items);
                self.merge(d.rejected, d.errors);
            }
        }
    }

    fn merge(&mut self, rejected: u64, errors: Vec<String>) {
        self.items.rejected += rejected;
        for e in errors {
            if self.items.errors.len() < 5 {
                self.items.errors.push(e);
            }
        }
    }
}

/// Bytes read ahead to tell the format; an OTLP/JSON document longer than this on one line is
/// streamed (`otlp_stream`).
const READ_BUFFER: usize = 1 << 20;

/// Reads an OTLP/JSON document too large to hold, a chunk of records at a time.
fn read_otlp_stream<E: std::fmt::Display>(
    r: impl Read,
    opts: &ReadOptions,
    b: &mut Batcher<'_, E>,
) -> Result<(), IngestError> {
    let mut stopped = None;
    let read = otlp_stream::read(r, &mut |c| {
        match faultline_otlp::json::decode_value(c.signal, &c.request) {
            Ok(req) => b.otlp(&req, &opts.limits),
            Err(e) => b.items.reject(e.to_string()),
        }
        b.maybe_flush().map_err(|e| {
            let shown = otlp_stream::StreamError(format!("stopped: {e}"));
            stopped = Some(e);
            shown
        })
    });
    if let Some(e) = stopped {
        return Err(e);
    }
    if let Err(e) = read {
        // Nothing after a syntax error can be read; what came before is kept.
        b.items.reject(e.to_string());
    }
    b.summary.format = "OTLP/JSON".into();
    Ok(())
}

/// Reads a whole input, detecting its format, handing records to `sink` in batches.
pub fn read<E: std::fmt::Display>(
    input: impl Read,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Items) -> Result<(), E>,
) -> Result<ReadSummary, IngestError> {
    read_dyn(Box::new(input), opts, sink)
}

fn read_dyn<E: std::fmt::Display>(
    input: Box<dyn Read + '_>,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Items) -> Result<(), E>,
) -> Result<ReadSummary, IngestError> {
    let mut r = BufReader::with_capacity(READ_BUFFER, input);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(r);
        let mut s = read_dyn(Box::new(gz), opts, sink)?;
        s.format = format!("{} (gzip)", s.format);
        return Ok(s);
    }
    let mut b =
        Batcher { items: Items::default(), summary: ReadSummary::default(), batch: opts.batch.max(1), sink };
    let first = head.iter().copied().find(|c| !c.is_ascii_whitespace());
    let is_text = std::str::from_utf8(&head[..head.len().min(4096)]).is_ok()
        || head.len() > 4 && std::str::from_utf8(&head[..head.len().min(4096) - 4]).is_ok();
    match first {
        None => {
            b.summary.format = "empty".into();
        }
        Some(b'{') if otlp_stream::wants_stream(head, READ_BUFFER) => read_otlp_stream(r, opts, &mut b)?,
        Some(b'{') | Some(b'[') => read_json(&mut r, opts, &mut b)?,
        Some(_) if is_text => read_text(r, opts, &mut b)?,
        Some(_) => read_protobuf(r, opts, &mut b)?,
    }
    b.flush()?;
    Ok(b.summary)
}

/// Rewrites the bare `NaN`, `Infinity` and `-Infinity` that some JSON writers (Python's `json`)
/// emit into strings, which the OTLP/JSON number readers accept; text inside strings is untouched.
/// JSON strings cannot span lines, so a line is a safe unit.
pub fn quote_non_finite(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains("NaN") && !line.contains("Infinity") {
        return std::borrow::Cow::Borrowed(line);
    }
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let (mut in_str, mut esc, mut last) = (false, false, 0);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_str = true;
            i += 1;
            continue;
        }
        match ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| line.as_bytes()[i..].starts_with(t.as_bytes()))
        {
            Some(tok) => {
                out.push_str(&line[last..i]);
                out.push('"');
                out.push_str(tok);
                out.push('"');
                i += tok.len();
                last = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&line[last..]);
    std::borrow::Cow::Owned(out)
}

fn handle_json<E: std::fmt::Display>(
    v: Value,
    doc: usize,
    opts: &ReadOptions,
    b: &mut Batcher<'_, E>,
    kinds: &mut Vec<&'static str>,
) -> Result<(), IngestError> {
    let now = opts.limits.now_ns;
    let mut note = |k: &'static str| note_kind(kinds, k);
    if let Some(signal) = faultline_otlp::json::detect_signal(&v) {
        note("OTLP/JSON");
        match faultline_otlp::json::decode_value(signal, &v) {
            Ok(req) => b.otlp(&req, &opts.limits),
            Err(e) => b.items.reject(format!("document {doc}: {e}")),
        }
    } else if jaeger::looks_like_jaeger(&v) {
        note("Jaeger JSON");
        add_jaeger(b, jaeger::spans_from_json(&v));
    } else if zipkin::looks_like_zipkin(&v) {
        note("Zipkin v2 JSON");
        let items = match v {
            Value::Array(a) => a,
            o => vec![o],
        };
        for item in items {
            match zipkin::span_from_json(&item) {
                Ok(sp) => b.items.spans.push(sp),
                Err(e) => b.items.reject(format!("zipkin span: {e}")),
            }
            b.maybe_flush()?;
        }
    } else if let Value::Array(arr) = v {
        for item in arr {
            if changes::looks_like_change(&item) {
                note("change events");
                match changes::from_json(&item, now) {
                    Ok(c) => b.items.changes.push(c),
                    Err(e) => b.items.reject(format!("change event: {e}")),
                }
            } else {
                note("JSON logs");
                match logs::from_json_line(item, &opts.service, now) {
                    Ok(l) => b.items.logs.push(l),
                    Err(e) => b.items.reject(format!("log line: {e}")),
                }
            }
            b.maybe_flush()?;
        }
    } else if changes::looks_like_change(&v) {
        note("change events");
        match changes::from_json(&v, now) {
            Ok(c) => b.items.changes.push(c),
            Err(e) => b.items.reject(format!("change event {doc}: {e}")),
        }
    } else {
        note("JSON logs");
        match logs::from_json_line(v, &opts.service, now) {
            Ok(l) => b.items.logs.push(l),
            Err(e) => b.items.reject(format!("log line {doc}: {e}")),
        }
    }
    b.maybe_flush()
}

/// Largest JSON document read (a pretty-printed document accumulates lines up to this).
const MAX_DOCUMENT: usize = 512 << 20;

/// How far a document's text was read.
enum Parsed {
    /// Every document in it, ending at this byte.
    Done(usize),
    /// The documents up to this byte; the rest is the start of one the next lines complete.
    Pending(usize),
    /// The documents up to this byte, then text that is not one.
    Failed(usize, serde_json::Error),
}

/// Reads the JSON documents in `text` as `T`, handing each (with its number) to `handle`. `more`:
/// whether more text may come to complete a document cut short.
fn parse_documents<'d, T: serde::Deserialize<'d>>(
    text: &'d str,
    more: bool,
    docs: &mut usize,
    mut handle: impl FnMut(T, usize) -> Result<(), IngestError>,
) -> Result<Parsed, IngestError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    let mut consumed = 0;
    loop {
        match stream.next() {
            None => return Ok(Parsed::Done(consumed)),
            Some(Ok(v)) => {
                consumed = stream.byte_offset();
                *docs += 1;
                handle(v, *docs)?;
            }
            Some(Err(e)) if e.is_eof() && more => return Ok(Parsed::Pending(consumed)),
            Some(Err(e)) => return Ok(Parsed::Failed(consumed, e)),
        }
    }
}

/// Adds what a Jaeger document gave: its spans, and a rejection per span it could not read.
fn add_jaeger<E: std::fmt::Display>(b: &mut Batcher<'_, E>, (spans, errors): (Vec<Span>, Vec<String>)) {
    b.items.spans.extend(spans);
    for e in errors {
        b.items.reject(format!("jaeger span: {e}"));
    }
}

/// Notes a kind of document read, once.
fn note_kind(kinds: &mut Vec<&'static str>, k: &'static str) {
    if !kinds.contains(&k) {
        kinds.push(k)
    }
}

fn read_json<E: std::fmt::Display>(
    mut r: impl BufRead,
    opts: &ReadOptions,
    b: &mut Batcher<'_, E>,
) -> Result<(), IngestError> {
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut doc = String::new();
    let mut raw = Vec::new();
    let (mut line_no, mut doc_start, mut docs) = (0usize, 1usize, 0usize);
    loop {
        raw.clear();
        let n = r.read_until(b'\n', &mut raw)?;
        let eof = n == 0;
        if !eof {
            line_no += 1;
            let line = match std::str::from_utf8(&raw) {
                Ok(l) => l,
                Err(_) => {
                    b.items.reject(format!("line {line_no} is not valid UTF-8"));
                    continue;
                }
            };
            if doc.is_empty() {
                if line.trim().is_empty() {
                    continue;
                }
                doc_start = line_no;
            }
            doc.push_str(&quote_non_finite(line));
            // A JSON-lines document is one line; a pretty-printed one ends with an unindented line.
            let complete_candidate = doc_start == line_no || !line.starts_with([' ', '\t']);
            if !complete_candidate && doc.len() < MAX_DOCUMENT {
                continue;
            }
        } else if doc.trim().is_empty() {
            break;
        }
        let more = !eof && doc.len() < MAX_DOCUMENT;
        // Jaeger exports are read typed, without a document tree first; what that reader cannot
        // take is read as any other document.
        let mut from = 0;
        if jaeger::text_looks_like_jaeger(&doc) {
            let fast = parse_documents(&doc, more, &mut docs, |e: jaeger::Export<'_>, _| {
                note_kind(&mut kinds, "Jaeger JSON");
                add_jaeger(b, jaeger::spans_of(e));
                Ok(())
            })?;
            match fast {
                Parsed::Done(n) | Parsed::Failed(n, _) => from = n,
                Parsed::Pending(n) => {
                    doc.drain(..n);
                    continue;
                }
            }
        }
        let parsed = parse_documents(&doc[from..], more, &mut docs, |v: Value, docs| {
            handle_json(v, docs, opts, b, &mut kinds)
        })?;
        let (consumed, pending) = match parsed {
            Parsed::Done(n) => (from + n, false),
            Parsed::Pending(n) => (from + n, true),
            Parsed::Failed(_, e) => {
                b.items
                    .reject(format!("invalid JSON at line {}: {e}", doc_start + e.line().saturating_sub(1)));
                (doc.len(), false)
            }
        };
        if pending {
            doc.drain(..consumed);
        } else {
            doc.clear();
        }
        if eof {
            break;
        }
    }
    b.summary.format = kinds.join(", ");
    if b.summary.format.is_empty() {
        b.summary.format = "JSON".into();
    }
    Ok(())
}

fn read_text<E: std::fmt::Display>(
    r: impl BufRead,
    opts: &ReadOptions,
    b: &mut Batcher<'_, E>,
) -> Result<(), IngestError> {
    let now = opts.limits.now_ns;
    let (mut logfmt, mut plain) = (0u64, 0u64);
    let mut joiner = logs::Joiner::default();
    for line in r.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                b.items.reject("a line is not valid UTF-8".into());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if line.trim().is_empty() {
            continue;
        }
        match logs::parse_logfmt(&line) {
            Some(m) => {
                logfmt += 1;
                b.items.logs.extend(joiner.finish());
                match logs::from_json_line(Value::Object(m), &opts.service, now) {
                    Ok(l) => b.items.logs.push(l),
                    Err(e) => b.items.reject(format!("logfmt line: {e}")),
                }
            }
            None => {
                plain += 1;
                b.items.logs.extend(joiner.push(&line, &opts.service, now));
            }
        }
        b.maybe_flush()?;
    }
    b.items.logs.extend(joiner.finish());
    b.summary.format = match (logfmt > 0, plain > 0) {
        (true, false) => "logfmt logs",
        (true, true) => "logfmt and plain-text logs",
        _ => "plain-text logs",
    }
    .into();
    Ok(())
}

fn read_protobuf<E: std::fmt::Display>(
    mut r: impl Read,
    opts: &ReadOptions,
    b: &mut Batcher<'_, E>,
) -> Result<(), IngestError> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    let signals = match opts.signal_hint {
        Some(s) => vec![s],
        None => vec![Signal::Traces, Signal::Logs, Signal::Metrics],
    };
    // Without a hint, the signal whose decoding keeps the most records wins.
    let mut best: Option<(usize, Request, Signal)> = None;
    let mut last_err = None;
    for s in signals {
        match faultline_otlp::decode_protobuf(s, &bytes) {
            Ok(req) => {
                let n = match &req {
                    Request::Traces(t) => faultline_otlp::spans_from_request(t, &opts.limits).items.len(),
                    Request::Logs(l) => faultline_otlp::logs_from_request(l, &opts.limits).items.len(),
                    Request::Metrics(m) => faultline_otlp::metrics_from_request(m, &opts.limits).items.len(),
                };
                if best.as_ref().is_none_or(|(bn, _, _)| n > *bn) {
                    best = Some((n, req, s));
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    match best {
        Some((_, req, s)) => {
            b.summary.format = format!("OTLP protobuf ({})", s.as_str());
            b.otlp(&req, &opts.limits);
            Ok(())
        }
        None => Err(IngestError::Format(format!(
            "not a format faultline reads (not JSON, not text, not OTLP protobuf: {})",
            last_err.map(|e| e.to_string()).unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_quoted_outside_strings() {
        assert_eq!(
            quote_non_finite(r#"{"a": NaN, "b": "NaN", "c": -Infinity}"#),
            r#"{"a": "NaN", "b": "NaN", "c": "-Infinity"}"#
        );
        assert_eq!(quote_non_finite(r#"{"s": "say \"NaN\" Infinity"}"#), r#"{"s": "say \"NaN\" Infinity"}"#);
    }

    fn collect(input: &[u8]) -> (ReadSummary, Items) {
        let mut all = Items::default();
        let opts =
            ReadOptions { limits: Limits { min_time_ns: 0, ..Limits::default() }, ..ReadOptions::default() };
        let s = read(input, &opts, &mut |i: Items| -> Result<(), String> {
            all.spans.extend(i.spans);
            all.logs.extend(i.logs);
            all.metrics.extend(i.metrics);
            all.changes.extend(i.changes);
            Ok(())
        })
        .unwrap();
        (s, all)
    }

    fn example(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../../shared/data/otlp-examples/{name}",
            std::env::var("CARGO_MANIFEST_DIR").unwrap()
        ))
        .unwrap()
    }

    #[test]
    fn reads_jaeger_exports_typed_and_json_logs_that_name_a_trace_id_as_logs() {
        let trace = |t: u8| {
            format!(
                r#"{{"traceID": "{t:032x}", "processes": {{"p1": {{"serviceName": "web"}}}}, "spans": [{{"traceID": "{t:032x}", "spanID": "{t:016x}", "operationName": "GET", "startTime": 1700000000000000, "duration": 5, "processID": "p1"}}]}}"#
            )
        };
        // Pretty-printed (the UI's download), then as JSON lines.
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<Value>(&format!(r#"{{"data": [{}, {}]}}"#, trace(1), trace(2))).unwrap(),
        )
        .unwrap();
        let lines = format!("{}\n{}\n", trace(3), trace(4));
        for text in [pretty, lines] {
            let (s, items) = collect(text.as_bytes());
            assert_eq!(s.format, "Jaeger JSON", "{text}");
            assert_eq!(items.spans.len(), 2);
            assert_eq!(s.rejected, 0);
        }
        let (s, items) = collect(b"{\"traceID\": \"abc\", \"body\": \"hello\", \"severity\": \"INFO\"}\n");
        assert_eq!(s.format, "JSON logs");
        assert_eq!((items.spans.len(), items.logs.len()), (0, 1));
    }

    #[test]
    fn reads_pretty_and_line_otlp_json_and_gzip() {
        let (s, items) = collect(&example("trace.json"));
        assert_eq!(s.format, "OTLP/JSON");
        assert!(!items.spans.is_empty());
        let mut lines = Vec::new();
        for f in ["trace.json", "logs.json", "metrics.json"] {
            let v: Value = serde_json::from_slice(&example(f)).unwrap();
            lines.extend(serde_json::to_vec(&v).unwrap());
            lines.push(b'\n');
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &lines).unwrap();
        let (s, items) = collect(&gz.finish().unwrap());
        assert_eq!(s.format, "OTLP/JSON (gzip)");
        assert!(!items.spans.is_empty() && !items.logs.is_empty() && !items.metrics.is_empty());
    }

    #[test]
    fn reads_protobuf_changes_and_text() {
        use prost::Message;
        let v: Value = serde_json::from_slice(&example("trace.json")).unwrap();
        let Request::Traces(req) = faultline_otlp::json::decode_value(Signal::Traces, &v).unwrap() else {
            panic!()
        };
        let (s, items) = collect(&req.encode_to_vec());
        assert_eq!(s.format, "OTLP protobuf (traces)");
        assert!(!items.spans.is_empty());
        let (_, items) =
            collect(br#"{"service":"inventory","kind":"config","id":"c1","time":"2026-11-13T08:00:00Z"}"#);
        assert_eq!(items.changes.len(), 1);
        let (s, items) = collect(b"2026-11-13 08:00:00,001 ERROR db: connection timeout\nsecond line\n");
        assert_eq!(s.format, "plain-text logs");
        // An untimed line after a timed one continues its record (a stack trace's lines).
        assert_eq!(items.logs.len(), 1);
        assert_eq!(items.logs[0].severity_number, 17);
        assert!(items.logs[0].body.ends_with("timeout\nsecond line"));
    }
}

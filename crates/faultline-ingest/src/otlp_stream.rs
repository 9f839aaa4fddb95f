//! OTLP/JSON documents too large to hold, read as a stream: one export of a gigabyte on a single
//! line (what `otelcol`'s file exporter and many dump scripts write) would otherwise sit in memory
//! three times over (its text, its parsed tree, its records). Here the records of each
//! resource and scope are decoded [`CHUNK`] at a time and handed on, so memory stays at a chunk
//! whatever the file's size.
//!
//! Used for a document that does not end within the first buffer of input ([`wants_stream`]);
//! smaller documents take the ordinary path, which also accepts the bare `NaN` some writers emit.

use faultline_otlp::Signal;
use serde_json::{Map, Value};
use std::io::Read;
use struson::reader::{JsonReader, JsonStreamReader, ReaderSettings};

/// Records decoded and handed on at a time: large enough that per-chunk overhead is small, small
/// enough that a chunk of large spans stays a few megabytes.
pub const CHUNK: usize = 5_000;

/// The key of each level, by signal: resource list, scope list, records.
fn keys(signal: Signal) -> [&'static str; 3] {
    match signal {
        Signal::Traces => ["resourceSpans", "scopeSpans", "spans"],
        Signal::Logs => ["resourceLogs", "scopeLogs", "logRecords"],
        Signal::Metrics => ["resourceMetrics", "scopeMetrics", "metrics"],
    }
}

fn signal_of_key(key: &str) -> Option<Signal> {
    [Signal::Traces, Signal::Logs, Signal::Metrics].into_iter().find(|s| keys(*s)[0] == key)
}

/// Whether input beginning with `head` (a full read buffer) is one OTLP/JSON document too long for
/// the buffer: it opens with an OTLP resource list and holds no line break.
pub fn wants_stream(head: &[u8], buffer: usize) -> bool {
    if head.len() < buffer || head.contains(&b'\n') {
        return false;
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(256)]);
    let t = text.trim_start();
    let Some(rest) = t.strip_prefix('{') else { return false };
    let key = rest.trim_start().trim_start_matches('"');
    ["resourceSpans\"", "resourceLogs\"", "resourceMetrics\""].iter().any(|k| key.starts_with(k))
}

/// Errors of the stream: the JSON is malformed (nothing after the error can be read).
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON: {0}")]
pub struct StreamError(pub String);

fn err(e: impl std::fmt::Display) -> StreamError {
    StreamError(e.to_string())
}

/// One export request's worth of records, ready to decode.
pub struct Chunk {
    pub signal: Signal,
    pub request: Value,
}

/// Reads every document of `input`, handing chunks to `emit`.
pub fn read(
    input: impl Read,
    emit: &mut dyn FnMut(Chunk) -> Result<(), StreamError>,
) -> Result<(), StreamError> {
    let settings = ReaderSettings { allow_multiple_top_level: true, track_path: false, ..Default::default() };
    let mut r = JsonStreamReader::new_custom(input, settings);
    // The first document is read unconditionally (the reader can only ask for a next top-level
    // value after one).
    loop {
        r.begin_object().map_err(err)?;
        while r.has_next().map_err(err)? {
            let key = r.next_name_owned().map_err(err)?;
            match signal_of_key(&key) {
                Some(signal) => {
                    r.begin_array().map_err(err)?;
                    while r.has_next().map_err(err)? {
                        read_resource(&mut r, signal, emit)?;
                    }
                    r.end_array().map_err(err)?;
                }
                None => r.skip_value().map_err(err)?,
            }
        }
        r.end_object().map_err(err)?;
        if !r.has_next().map_err(err)? {
            return Ok(());
        }
    }
}

/// The parts of one resource entry read so far.
#[derive(Default)]
struct Resource {
    /// `resource`, `schemaUrl`, ...: everything but the scope list.
    fields: Map<String, Value>,
    /// Scopes whose records came before the resource itself (JSON keys have no order).
    early: Vec<Value>,
}

fn read_resource<R: Read>(
    r: &mut JsonStreamReader<R>,
    signal: Signal,
    emit: &mut dyn FnMut(Chunk) -> Result<(), StreamError>,
) -> Result<(), StreamError> {
    let [_, scopes_key, _] = keys(signal);
    let mut res = Resource::default();
    r.begin_object().map_err(err)?;
    while r.has_next().map_err(err)? {
        let key = r.next_name_owned().map_err(err)?;
        if key == scopes_key {
            r.begin_array().map_err(err)?;
            while r.has_next().map_err(err)? {
                read_scope(r, signal, &mut res, emit)?;
            }
            r.end_array().map_err(err)?;
        } else {
            let v: Value = r.deserialize_next().map_err(err)?;
            res.fields.insert(key, v);
        }
    }
    r.end_object().map_err(err)?;
    for scope in std::mem::take(&mut res.early) {
        emit(chunk(signal, &res.fields, scope))?;
    }
    Ok(())
}

fn read_scope<R: Read>(
    r: &mut JsonStreamReader<R>,
    signal: Signal,
    res: &mut Resource,
    emit: &mut dyn FnMut(Chunk) -> Result<(), StreamError>,
) -> Result<(), StreamError> {
    let [_, _, records_key] = keys(signal);
    let mut scope = Map::new();
    let mut records: Vec<Value> = Vec::new();
    // Records can go out as they come once the resource is known and the scope's other fields
    // (usually before the records) have been read.
    let resource_known = |res: &Resource| res.fields.contains_key("resource");
    let mut flush = |scope: &Map<String, Value>, records: &mut Vec<Value>, res: &mut Resource| {
        let mut s = scope.clone();
        s.insert(records_key.into(), Value::Array(std::mem::take(records)));
        if resource_known(res) {
            emit(chunk(signal, &res.fields, Value::Object(s)))
        } else {
            res.early.push(Value::Object(s));
            Ok(())
        }
    };
    r.begin_object().map_err(err)?;
    while r.has_next().map_err(err)? {
        let key = r.next_name_owned().map_err(err)?;
        if key == records_key {
            r.begin_array().map_err(err)?;
            while r.has_next().map_err(err)? {
                records.push(r.deserialize_next().map_err(err)?);
                if records.len() >= CHUNK && resource_known(res) {
                    flush(&scope, &mut records, res)?;
                }
            }
            r.end_array().map_err(err)?;
        } else {
            let v: Value = r.deserialize_next().map_err(err)?;
            scope.insert(key, v);
        }
    }
    r.end_object().map_err(err)?;
    if !records.is_empty() || scope.is_empty() {
        flush(&scope, &mut records, res)?;
    }
    Ok(())
}

/// An export request of one resource and one scope.
fn chunk(signal: Signal, resource: &Map<String, Value>, scope: Value) -> Chunk {
    let [resource_key, scopes_key, _] = keys(signal);
    let mut res = resource.clone();
    res.insert(scopes_key.into(), Value::Array(vec![scope]));
    let mut top = Map::new();
    top.insert(resource_key.into(), Value::Array(vec![Value::Object(res)]));
    Chunk { signal, request: Value::Object(top) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Vec<Chunk> {
        let mut out = Vec::new();
        read(text.as_bytes(), &mut |c| {
            out.push(c);
            Ok(())
        })
        .unwrap();
        out
    }

    fn spans(n: usize) -> String {
        (0..n).map(|i| format!("{{\"name\":\"s{i}\"}}")).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn records_come_out_in_chunks_with_their_resource_and_scope() {
        let text = format!(
            "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":[]}},\"scopeSpans\":[{{\"scope\":{{\"name\":\"lib\"}},\"spans\":[{}]}}]}}]}}",
            spans(CHUNK * 2 + 3)
        );
        let chunks = collect(&text);
        assert_eq!(chunks.len(), 3);
        let n: usize = chunks
            .iter()
            .map(|c| c.request["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, CHUNK * 2 + 3);
        for c in &chunks {
            assert_eq!(c.request["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"], "lib");
            assert!(c.request["resourceSpans"][0]["resource"].is_object());
        }
    }

    #[test]
    fn a_resource_after_its_scopes_still_reaches_every_record() {
        let text = format!(
            "{{\"resourceLogs\":[{{\"scopeLogs\":[{{\"logRecords\":[{}]}}],\"resource\":{{\"attributes\":[]}}}}]}} {{\"resourceLogs\":[]}}",
            spans(7)
        );
        let chunks = collect(&text);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].request["resourceLogs"][0]["resource"].is_object());
        assert_eq!(
            chunks[0].request["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().unwrap().len(),
            7
        );
    }

    #[test]
    fn only_a_long_single_line_otlp_document_is_streamed() {
        let long = format!("{{\"resourceSpans\":[{}", " ".repeat(100));
        assert!(wants_stream(long.as_bytes(), long.len()));
        assert!(!wants_stream(long.as_bytes(), long.len() + 1), "the whole input fitted the buffer");
        assert!(!wants_stream(format!("{long}\n").as_bytes(), long.len() + 1));
        let other = format!("{{\"data\":[{}", " ".repeat(100));
        assert!(!wants_stream(other.as_bytes(), other.len()));
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        for bad in ["{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{]}]}]}", "{\"resourceSpans\":", "[1,2"]
        {
            assert!(read(bad.as_bytes(), &mut |_| Ok(())).is_err(), "{bad}");
        }
    }
}

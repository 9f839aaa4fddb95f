//! Import speed by trace format: the same simulated spans written as OTLP/JSON, Jaeger JSON and
//! Zipkin v2 JSON, each read by `faultline_ingest::read` as `faultline import` reads a file. The
//! yardstick is the raw cost of parsing the same text into `serde_json::Value` trees, which a
//! reader cannot beat by much if it builds one; and, for Jaeger, the reader this one replaced (the
//! text parsed into a tree, then the tree walked).

use faultline_model::Span;
use faultline_sim::{Chunk, RunOptions};
use std::time::Instant;

/// Spans per Jaeger document and per Zipkin line: an export of a page of traces, as the Jaeger UI
/// downloads them, and a batch as Zipkin reporters send them.
const SPANS_PER_DOCUMENT: usize = 5_000;

pub fn run(rps: f64, duration: &str) -> anyhow::Result<()> {
    let sc = faultline_sim::load("bad-deploy")?;
    let opts = RunOptions {
        rps: Some(rps),
        duration_ns: Some(faultline_model::time::parse_duration_ns(duration)?),
        ..Default::default()
    };
    let mut spans: Vec<Span> = Vec::new();
    faultline_sim::run(&sc, &opts, &mut |c| {
        if let Chunk::Spans(s) = c {
            spans.extend(s);
        }
    });
    let n = spans.len();
    println!(
        "faultline import speed by format: {n} simulated spans ({rps} requests/s for {duration}), one core"
    );
    println!(
        "{:<14} {:>10} {:>14} {:>22} {:>8}",
        "format", "MiB", "import spans/s", "yardstick: Value parse", "ratio"
    );
    for (name, text) in [
        ("OTLP/JSON", otlp_json(&spans)),
        ("Jaeger JSON", jaeger_json(&spans)),
        ("Zipkin JSON", zipkin_json(&spans)),
    ] {
        let read = time(|| import(&text, n));
        let parse = time(|| parse_values(&text));
        println!(
            "{name:<14} {:>10.1} {:>14.0} {:>22.0} {:>7.2}x",
            text.len() as f64 / 1048576.0,
            n as f64 / read,
            n as f64 / parse,
            parse / read
        );
        if name == "Jaeger JSON" {
            let tree = time(|| {
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
                    assert!(!faultline_ingest::jaeger::spans_from_json(&v).0.is_empty());
                }
            });
            println!("{:<14} {:>10} {:>14.0}   (the tree reader it replaced)", "", "", n as f64 / tree);
        }
    }
    Ok(())
}

/// Seconds `f` takes.
fn time(f: impl FnOnce()) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_secs_f64()
}

/// Reads `text` as `faultline import` does and checks that every span arrived.
fn import(text: &str, spans: usize) {
    let opts = faultline_ingest::ReadOptions {
        limits: faultline_otlp::Limits { min_time_ns: 0, ..Default::default() },
        ..Default::default()
    };
    let mut got = 0;
    let summary = faultline_ingest::read(text.as_bytes(), &opts, &mut |items: faultline_ingest::Items| {
        got += items.spans.len();
        Ok::<(), String>(())
    })
    .expect("the text reads");
    assert_eq!(got, spans, "{summary:?}");
}

fn parse_values(text: &str) {
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        assert!(!v.is_null());
    }
}

fn otlp_json(spans: &[Span]) -> String {
    let mut out = Vec::new();
    for chunk in spans.chunks(SPANS_PER_DOCUMENT) {
        faultline_otlp::json::write_traces(chunk, &mut out);
        out.push(b'\n');
    }
    String::from_utf8(out).expect("UTF-8")
}

fn jaeger_json(spans: &[Span]) -> String {
    let mut out = String::new();
    for chunk in spans.chunks(SPANS_PER_DOCUMENT) {
        out.push_str(&crate::exports::jaeger_text(chunk));
        out.push('\n');
    }
    out
}

fn zipkin_json(spans: &[Span]) -> String {
    let mut out = String::new();
    for chunk in spans.chunks(SPANS_PER_DOCUMENT) {
        let v: Vec<serde_json::Value> = chunk.iter().map(crate::exports::zipkin_json).collect();
        out.push_str(&serde_json::to_string(&v).expect("JSON"));
        out.push('\n');
    }
    out
}

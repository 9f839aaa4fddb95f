//! `faultline-bench ingest`: measures, in one run,
//! - OTLP/HTTP protobuf ingest throughput (spans/s, acknowledged = durable) into a real
//!   `faultline serve`, from a separate load-generating process, beside the rate at which the same
//!   payloads merely decode and convert (the yardstick);
//! - bytes on disk per span after flush and compaction, beside the OTLP protobuf size of the spans;
//! - trace-by-id latency (p50/p99) through the HTTP API with the whole data set stored.
//!
//! Run: `cargo run --release -p faultline-bench -- ingest --spans 10000000`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

mod accuracy;
mod exports;
mod few_traces;
mod imports;
mod investigate;
mod jobs;
mod log_types;
mod memory;
mod nezha;
mod templates;
mod topology;
use faultline_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use faultline_otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use faultline_otlp::proto::resource::v1::Resource;
use faultline_otlp::proto::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Counts what the program holds, so that benchmarks can say how much memory work takes (the
/// figure the server's memory budget must charge for it).
#[global_allocator]
pub static ALLOC: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole ingest benchmark (starts a server and a load generator).
    Ingest {
        /// Spans to ingest in total.
        #[arg(long, default_value_t = 2_000_000)]
        spans: u64,
        /// The faultline binary (default: next to this one).
        #[arg(long)]
        faultline: Option<PathBuf>,
        /// Concurrent connections of the load generator.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Trace-by-id lookups to time.
        #[arg(long, default_value_t = 1000)]
        lookups: usize,
        /// Also run the whole benchmark with the segments in this bucket (s3://bucket/prefix; the
        /// endpoint and credentials from the AWS_* environment), after the local-directory run.
        #[arg(long)]
        storage: Option<String>,
    },
    /// Memory an ingest request takes while decoded and stored, per byte of its body.
    IngestMemory {
        #[arg(long, default_value_t = 200_000)]
        spans: u64,
    },
    /// Simulator speed: one simulated hour of the 12-service e-commerce system.
    Sim {
        #[arg(long, default_value = "healthy")]
        scenario: String,
        #[arg(long, default_value_t = 200.0)]
        rps: f64,
        #[arg(long, default_value = "1h")]
        duration: String,
    },
    /// Root-cause accuracy over randomised simulated incidents and healthy controls.
    Accuracy {
        #[arg(long, default_value_t = 200)]
        runs: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print each miss as it happens.
        #[arg(long)]
        verbose: bool,
        /// Runs simulated and investigated at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Only write the scenario files to this directory (to rerun one by hand).
        #[arg(long)]
        dump: Option<PathBuf>,
        /// Only the healthy controls (every fifth run): the false-alarm rate alone.
        #[arg(long)]
        healthy_only: bool,
        /// Only these runs (by number), each report printed in full.
        #[arg(long, value_delimiter = ',')]
        only: Vec<usize>,
        /// Every run under one convention: otel, no-kind, no-status, logs-only, plain-text,
        /// jaeger, zipkin (default: drawn per run).
        #[arg(long)]
        convention: Option<String>,
        /// Seconds of healthy baseline the narrow protocol names, ending two minutes before the
        /// fault (default: as long as its three-minute window).
        #[arg(long, default_value_t = 180)]
        narrow_baseline: u32,
    },
    /// Delay injections in small trace-only cases (9-200 traces, Jaeger/Zipkin/OTLP spans), asked
    /// over all the spans, with no window, and as the slow stretch with a baseline; the reserved
    /// test split is --seed 90417263.
    FewTraces {
        #[arg(long, default_value_t = 60)]
        cases: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Only these cases (by number).
        #[arg(long, value_delimiter = ',')]
        only: Vec<usize>,
    },
    /// Import speed by trace format (OTLP/JSON, Jaeger, Zipkin) beside the raw JSON parse.
    Imports {
        #[arg(long, default_value_t = 100.0)]
        rps: f64,
        #[arg(long, default_value = "10m")]
        duration: String,
    },
    /// Investigation speed on a stored window of about N spans.
    Investigate {
        #[arg(long, default_value_t = 1_000_000)]
        spans: u64,
        #[arg(long, default_value = "lb-bad-backend")]
        scenario: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Log template mining on Loghub: grouping accuracy and lines per second, beside Python drain3
    /// on the same lines.
    Templates {
        /// The Loghub samples (one directory per dataset with `*_2k.log_structured.csv`).
        #[arg(long, default_value = "../shared/data/loghub")]
        data: PathBuf,
        /// Python with drain3 installed (skipped when it has none).
        #[arg(long, default_value = "~/.cache/faultline-venv/bin/python")]
        python: String,
        /// Times to repeat the lines for the speed figure.
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
    /// Writes eight log types the miner was not developed on (in the style of the Loghub sets not in
    /// ../shared/data/loghub), each line's template known, for `templates --data`.
    LogTypes {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Root-cause accuracy on the Nezha Online Boutique fault injections (real telemetry), beside
    /// the published numbers.
    Nezha {
        #[arg(long, default_value = "../shared/data/nezha-online-boutique")]
        data: PathBuf,
        /// Print every case.
        #[arg(long)]
        verbose: bool,
        /// Only the cases whose id starts with this.
        #[arg(long)]
        only: Option<String>,
    },
    /// The load generator (run by `ingest` as a separate process).
    Load {
        #[arg(long)]
        url: String,
        #[arg(long)]
        spans: u64,
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        seed: u64,
    },
}

const SERVICES: [&str; 12] = [
    "frontend",
    "checkout",
    "cart",
    "inventory",
    "payment",
    "fraud",
    "auth",
    "billing",
    "shipping",
    "email",
    "recommendation",
    "ad",
];
const SPANS_PER_REQUEST: usize = 512;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: k.to_string(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_string())
}

/// One request of realistic traces: 8-span traces across services, HTTP/DB attributes, a few
/// errors, per-service resources with instance ids.
fn request(rng: &mut StdRng, start_ns: u64) -> (ExportTraceServiceRequest, u64) {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut n = 0u64;
    let mut t = start_ns;
    while (n as usize) < SPANS_PER_REQUEST {
        let trace_id: [u8; 16] = rng.random();
        let root: [u8; 8] = rng.random();
        let mut parent = root;
        let trace_start = t;
        for depth in 0..8u64 {
            let svc = if depth == 0 { 0 } else { rng.random_range(1..SERVICES.len()) };
            let id: [u8; 8] = if depth == 0 { root } else { rng.random() };
            let dur = rng.random_range(200_000..50_000_000u64);
            let err = rng.random_bool(0.02);
            let route = ["/api/cart", "/api/checkout", "/api/products", "/api/login"][rng.random_range(0..4)];
            let mut attrs = vec![
                kv("http.request.method", s(if depth % 3 == 0 { "GET" } else { "POST" })),
                kv("http.route", s(route)),
                kv("http.response.status_code", any_value::Value::IntValue(if err { 500 } else { 200 })),
                kv("server.address", s(SERVICES[svc])),
            ];
            if depth % 4 == 3 {
                attrs.push(kv("db.system", s("postgresql")));
                attrs.push(kv("db.operation.name", s("SELECT")));
            }
            by_service[svc].push(Span {
                trace_id: trace_id.to_vec(),
                span_id: id.to_vec(),
                parent_span_id: if depth == 0 { vec![] } else { parent.to_vec() },
                name: format!("{} {route}", if depth % 3 == 0 { "GET" } else { "POST" }),
                kind: if depth == 0 { 2 } else { 3 - (depth % 2) as i32 },
                start_time_unix_nano: trace_start + depth * 100_000,
                end_time_unix_nano: trace_start + depth * 100_000 + dur,
                attributes: attrs,
                status: Some(Status {
                    code: if err { status::StatusCode::Error as i32 } else { 0 },
                    message: if err { "internal error".into() } else { String::new() },
                }),
                ..Default::default()
            });
            parent = id;
            n += 1;
        }
        t += 1_000_000;
    }
    let resource_spans = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(i, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(SERVICES[i])),
                    kv("service.instance.id", s(&format!("{}-{}", SERVICES[i], rng.random_range(0..4)))),
                    kv("host.name", s(&format!("node-{}", i % 5))),
                    kv("telemetry.sdk.language", s("go")),
                    kv("deployment.environment", s("prod")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        })
        .collect();
    (ExportTraceServiceRequest { resource_spans }, n)
}

fn payloads(seed: u64, spans: u64) -> Vec<(Vec<u8>, u64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut total = 0;
    let mut t = 1_763_000_000_000_000_000u64 + seed * 1_000_000_000;
    while total < spans {
        let (req, n) = request(&mut rng, t);
        t += 64_000_000;
        total += n;
        out.push((req.encode_to_vec(), n));
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn load(url: String, spans: u64, connections: usize, seed: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
    let work = std::sync::Arc::new(payloads(seed, spans));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, work, next, url) = (client.clone(), work.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((body, n)) = work.get(i) else { break };
                loop {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await?;
                    if r.status().is_success() {
                        acked += n;
                        break;
                    }
                    if r.status().as_u16() == 503 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    anyhow::bail!("ingest failed: {}", r.status());
                }
            }
            anyhow::Ok(acked)
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{{\"acked\": {acked}, \"seconds\": {secs}}}");
    Ok(())
}

fn yardstick(seed: u64, spans: u64) -> (f64, f64, f64) {
    let work = payloads(seed, spans);
    let bytes: usize = work.iter().map(|(b, _)| b.len()).sum();
    let total: u64 = work.iter().map(|(_, n)| n).sum();
    let t0 = Instant::now();
    let mut kept = 0;
    for (b, _) in &work {
        let req = ExportTraceServiceRequest::decode(b.as_slice()).expect("valid");
        kept += req.resource_spans.len();
    }
    let decode = total as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let limits = faultline_otlp::Limits { min_time_ns: 0, ..Default::default() };
    for (b, _) in &work {
        let req = ExportTraceServiceRequest::decode(b.as_slice()).expect("valid");
        kept += faultline_otlp::spans_from_request(&req, &limits).items.len();
    }
    let convert = total as f64 / t0.elapsed().as_secs_f64();
    assert!(kept > 0);
    (decode, convert, bytes as f64 / total as f64)
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().map(|m| m.len()).unwrap_or(0);
            n += if e.path().is_dir() { dir_size(&e.path()) } else { m };
        }
    }
    n
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18080)
}

async fn ingest(
    spans: u64,
    faultline: Option<PathBuf>,
    connections: usize,
    lookups: usize,
    storage: Option<String>,
) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let bin = faultline.unwrap_or_else(|| me.with_file_name("faultline"));
    if !bin.exists() {
        bail!(
            "no faultline binary at {}; build it (cargo build --release -p faultline) or pass --faultline",
            bin.display()
        );
    }
    println!(
        "faultline ingest benchmark: {spans} spans, {connections} connections, {} cores",
        std::thread::available_parallelism()?.get()
    );
    let (decode, convert, pb_bytes) = yardstick(99, 200_000);
    println!("yardstick: protobuf decode {:.0} spans/s; decode + convert to faultline's model {:.0} spans/s (one core)", decode, convert);
    let run = Run { bin: &bin, me: &me, spans, connections, lookups, convert, pb_bytes };
    println!("\n== segments in a local directory ==");
    ingest_into(&run, None).await?;
    if let Some(url) = storage {
        println!("\n== segments in {url} ==");
        ingest_into(&run, Some(&url)).await?;
    }
    Ok(())
}

/// What every run of the ingest benchmark shares.
struct Run<'a> {
    bin: &'a std::path::Path,
    me: &'a std::path::Path,
    spans: u64,
    connections: usize,
    lookups: usize,
    convert: f64,
    pb_bytes: f64,
}

/// Seconds the server gets to compact a bucket's segments by itself (there is no offline
/// `faultline compact` for a bucket): until its segment count holds still.
const S3_COMPACT_WAIT_SECS: u64 = 120;

/// One run: ingest, compaction, trace lookups, with the segments in `storage` (a local directory
/// when `None`).
async fn ingest_into(run: &Run<'_>, storage: Option<&str>) -> anyhow::Result<()> {
    let Run { bin, me, spans, connections, lookups, convert, pb_bytes } = *run;
    let with_storage: Vec<&str> = storage.map(|s| vec!["--storage", s]).unwrap_or_default();
    let data = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (api, otlp) = (free_port(), free_port());
    let mut server = start_server(
        bin,
        &data,
        &[&["--otlp-http-addr", &format!("127.0.0.1:{otlp}"), "--flush-interval", "30s"][..], &with_storage]
            .concat(),
        api,
    )?;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api}");
    wait_healthy(&client, &base).await;
    // Load from two processes, so the generator's own work is spread like real clients'.
    let procs = 2;
    let t0 = Instant::now();
    let mut children = Vec::new();
    for k in 0..procs {
        children.push(
            Command::new(me)
                .args(["load", "--url", &format!("http://127.0.0.1:{otlp}/v1/traces")])
                .args([
                    "--spans",
                    &(spans / procs).to_string(),
                    "--connections",
                    &(connections / procs as usize).max(1).to_string(),
                ])
                .args(["--seed", &k.to_string()])
                .stdout(Stdio::piped())
                .spawn()?,
        );
    }
    let mut acked = 0u64;
    // Each generator times its own sending (after building its payloads); the slowest one bounds
    // the run.
    let mut secs: f64 = 0.0;
    for c in children {
        let out = c.wait_with_output()?;
        if !out.status.success() {
            bail!("load generator failed");
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        acked += v["acked"].as_u64().unwrap_or(0);
        secs = secs.max(v["seconds"].as_f64().unwrap_or(0.0));
    }
    let _wall = t0.elapsed();
    println!(
        "ingest: {acked} spans acknowledged (durable) in {secs:.1} s = {:.0} spans/s ({:.2}x the one-core decode+convert yardstick)",
        acked as f64 / secs,
        acked as f64 / secs / convert
    );

    // Trace-by-id latency with everything stored: pick trace ids from the generated payloads.
    let mut rng = StdRng::seed_from_u64(7);
    let sample = payloads(rng.random_range(0..procs), 20_000);
    let mut ids = Vec::new();
    for (b, _) in &sample {
        let req = ExportTraceServiceRequest::decode(b.as_slice())?;
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for sp in ss.spans.iter().filter(|s| s.parent_span_id.is_empty()) {
                    ids.push(hex(&sp.trace_id));
                }
            }
        }
    }
    let stop = Command::new("kill").args(["-TERM", &server.id().to_string()]).status()?;
    assert!(stop.success());
    server.wait()?;
    // Compact (as the server does in the background), then restart so lookups read segments.
    let mut server = if storage.is_none() {
        let out = Command::new(bin).args(["compact", "--data-dir"]).arg(&data).output()?;
        if !out.status.success() {
            bail!("faultline compact failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        println!("compaction: {}", String::from_utf8_lossy(&out.stdout).trim());
        let server = start_server(bin, &data, &["--otlp-http-addr", "off"], api)?;
        wait_healthy(&client, &base).await;
        server
    } else {
        let extra = [&["--otlp-http-addr", "off", "--compact-interval", "2s"][..], &with_storage].concat();
        let server = start_server(bin, &data, &extra, api)?;
        wait_healthy(&client, &base).await;
        let segments = compacted_segments(&client, &base).await?;
        println!("compaction by the server: {segments} segments after it");
        server
    };
    let status: serde_json::Value = client.get(format!("{base}/api/v1/status")).send().await?.json().await?;
    let seg_bytes = status["segment_bytes"].as_f64().unwrap_or(0.0);
    let rows = status["segment_rows"].as_f64().unwrap_or(1.0);
    println!(
        "disk: {} segments, {:.1} bytes/span in Parquet (OTLP protobuf: {:.1} bytes/span, {:.1}x smaller); data directory {:.1} MiB",
        status["segments"],
        seg_bytes / rows,
        pb_bytes,
        pb_bytes / (seg_bytes / rows),
        dir_size(&data) as f64 / 1048576.0
    );
    let mut lat = Vec::new();
    for i in 0..lookups {
        let id = &ids[(i * 7919) % ids.len()];
        let t = Instant::now();
        let r = client.get(format!("{base}/api/v1/traces/{id}")).send().await?;
        let ok = r.status().is_success();
        let body: serde_json::Value = r.json().await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if !ok || body["spans"].as_array().map_or(0, |a| a.len()) != 8 {
            bail!("trace {id} came back wrong: {body}");
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    println!(
        "trace by id over HTTP with {rows} spans stored: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({lookups} lookups)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// Waits until the server's segment count has held still for a few seconds (its own compaction
/// of a bucket has done what it will), at most `S3_COMPACT_WAIT_SECS`; the count.
async fn compacted_segments(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let (mut last, mut still) = (u64::MAX, 0);
    for _ in 0..S3_COMPACT_WAIT_SECS {
        let status: serde_json::Value =
            client.get(format!("{base}/api/v1/status")).send().await?.json().await?;
        let n = status["segments"].as_u64().unwrap_or(0);
        still = if n == last { still + 1 } else { 0 };
        if still >= 6 {
            return Ok(n);
        }
        last = n;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Ok(last)
}

/// Starts `faultline serve` on a data directory (no gRPC, no retention) with extra flags.
fn start_server(
    bin: &std::path::Path,
    data: &std::path::Path,
    extra: &[&str],
    api: u16,
) -> anyhow::Result<std::process::Child> {
    Command::new(bin)
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--grpc-addr", "off", "--retention", "off", "--api-addr", &format!("127.0.0.1:{api}")])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .context("starting faultline serve")
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Silent unless asked: `FAULTLINE_LOG=faultline_analysis=debug` shows the analysis' steps.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Ingest { spans, faultline, connections, lookups, storage } => {
                ingest(spans, faultline, connections, lookups, storage).await
            }
            Cmd::Load { url, spans, connections, seed } => load(url, spans, connections, seed).await,
            Cmd::Sim { scenario, rps, duration } => sim(&scenario, rps, &duration),
            Cmd::Imports { rps, duration } => imports::run(rps, &duration),
            Cmd::FewTraces { cases, seed, jobs, only } => few_traces::run(cases, seed, jobs, &only),
            Cmd::Templates { data, python, repeat } => templates::run(&data, &python, repeat),
            Cmd::LogTypes { out, seed } => log_types::write(&out, seed),
            Cmd::IngestMemory { spans } => memory::ingest(spans).await,
            Cmd::Investigate { spans, scenario, runs } => investigate::bench(spans, &scenario, runs).await,
            Cmd::Accuracy {
                runs,
                seed,
                verbose,
                jobs,
                dump,
                healthy_only,
                only,
                convention,
                narrow_baseline,
            } => {
                let convention = match convention.as_deref().map(|c| (c, accuracy::Convention::parse(c))) {
                    Some((c, None)) => anyhow::bail!("no convention named {c:?} (see --help)"),
                    Some((_, found)) => found,
                    None => None,
                };
                let narrow_baseline_ns = i64::from(narrow_baseline) * 1_000_000_000;
                let select = accuracy::Select { healthy_only, only, convention, narrow_baseline_ns };
                accuracy::run(runs, seed, verbose, jobs, dump.as_deref(), &select)
            }
            Cmd::Nezha { data, verbose, only } => nezha::run(&data, verbose, only).await,
        }
    })
}

/// Simulator throughput: the model alone, the model writing OTLP/JSON files, and beside them the
/// generic OTLP/JSON encoder on the same spans (the yardstick the fast writer replaces).
fn sim(scenario: &str, rps: f64, duration: &str) -> anyhow::Result<()> {
    use faultline_sim::{Chunk, RunOptions};
    let sc = faultline_sim::load(scenario)?;
    let opts = RunOptions {
        rps: Some(rps),
        duration_ns: Some(faultline_model::time::parse_duration_ns(duration)?),
        ..Default::default()
    };
    let services = sc.services.len();
    println!("faultline sim benchmark: scenario {scenario}, {services} services, {rps} requests/s, {duration} simulated");
    let t0 = Instant::now();
    let mut sample = Vec::new();
    let r = faultline_sim::run(&sc, &opts, &mut |c| {
        if let Chunk::Spans(s) = c {
            if sample.len() < 50 {
                sample.push(s);
            }
        }
    });
    let model = t0.elapsed().as_secs_f64();
    println!("model only: {} spans in {model:.1} s = {:.0} spans/s", r.spans, r.spans as f64 / model);
    let dir = std::env::temp_dir().join(format!("faultline-sim-bench-{}", std::process::id()));
    let t0 = Instant::now();
    let r = faultline_sim::write_dir(&sc, &opts, &dir)?;
    let full = t0.elapsed().as_secs_f64();
    let bytes = dir_size(&dir);
    println!(
        "model + OTLP/JSON files: {} spans in {full:.1} s = {:.0} spans/s, {:.0} MiB written",
        r.spans,
        r.spans as f64 / full,
        bytes as f64 / 1048576.0
    );
    let n: usize = sample.iter().map(|s| s.len()).sum();
    let t0 = Instant::now();
    let mut out = 0usize;
    for s in &sample {
        let req = faultline_otlp::Request::Traces(faultline_otlp::spans_to_request(s));
        out += serde_json::to_vec(&faultline_otlp::json::encode(&req))?.len();
    }
    let generic = n as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    for s in &sample {
        buf.clear();
        faultline_otlp::json::write_traces(s, &mut buf);
        out += buf.len();
    }
    let fast = n as f64 / t0.elapsed().as_secs_f64();
    assert!(out > 0);
    println!("yardstick: generic OTLP/JSON encoder {generic:.0} spans/s; the direct writer {fast:.0} spans/s ({:.1}x)", fast / generic);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

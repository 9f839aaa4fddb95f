//! Root-cause accuracy over randomised simulated incidents: topologies (the built-in e-commerce
//! system, or a generated one), fault kinds, targets, onsets, load, background noise, seeds and
//! benign changes drawn at random (with healthy controls), each simulated, investigated
//! and scored against its truth: AC@1, AC@3 and Avg@5 for the service, instance and change
//! attribution, pattern recall, false alarms on healthy runs, time per investigation.

use faultline_analysis::spans::SpanTableBuilder;
use faultline_analysis::{investigate, Inputs, LogTable, MetricTable, Options};
use faultline_model::schema::{logs_to_batch, metrics_to_batch, spans_to_batch};
use faultline_sim::{Chunk, RunOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::Instant;

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// A random scenario (TOML): on the built-in e-commerce topology or on a generated one (half each),
/// with its topology's label; no fault for a healthy control.
fn scenario(rng: &mut StdRng, k: usize, healthy: bool) -> (String, &'static str) {
    if rng.random_bool(0.5) {
        (ecommerce(rng, k, healthy), "ecommerce")
    } else {
        (generated(rng, k, healthy), "generated")
    }
}

/// A random scenario on a generated topology (`topology.rs`).
fn generated(rng: &mut StdRng, k: usize, healthy: bool) -> String {
    let at = rng.random_range(15..=30);
    let rps = crate::topology::draw_rps(rng);
    let sys = crate::topology::random_system(rng, rps);
    let mut s = format!(
        "name = \"random-{k}\"\ndescription = \"randomised, generated topology\"\nstart = \"2026-11-01T09:00:00Z\"\nduration = \"45m\"\nseed = {}\nnoise_error_rate = {:.4}\nrequest_logs = {}\n\n{}\n",
        rng.random_range(1..1_000_000),
        rng.random_range(0.0..0.002),
        crate::topology::draw_request_logs(rng, sys.rps),
        sys.toml
    );
    if rng.random_bool(0.6) {
        let mids: Vec<&crate::topology::Svc> =
            sys.services.iter().filter(|s| matches!(s.kind, "http" | "grpc")).collect();
        let svc = &mids[rng.random_range(0..mids.len())].name;
        s += &format!(
            "[[changes]]\nid = \"{svc}-benign-{k}\"\nat = \"{}m\"\nservice = \"{svc}\"\nkind = \"deploy\"\nversion = \"9.{k}.0\"\ndescription = \"{svc} routine deploy\"\n\n",
            rng.random_range(5..40)
        );
    }
    if healthy {
        return s;
    }
    let until = if rng.random_bool(0.3) {
        format!("until = \"{}m\"\n", at + rng.random_range(5..12))
    } else {
        String::new()
    };
    let fault = (0..20)
        .find_map(|_| crate::topology::random_fault(rng, &sys, k, at, &until, (45 - at) as f64 * 60.0));
    match fault {
        Some(f) => s + "[[faults]]\n" + &f,
        None => s,
    }
}

/// The frontend's `sessions` pool in the built-in e-commerce topology, and its instances.
const ECOMMERCE_SESSIONS_POOL: f64 = 10.0;
const ECOMMERCE_FRONTEND_INSTANCES: f64 = 4.0;

/// A leak per connection taken that runs one frontend instance's `sessions` pool dry about a
/// third of the way into what is left of the run, as the generated topologies draw theirs. A fixed
/// rate left the pool far from dry at a few requests a second: a fault that shows nothing.
fn ecommerce_leak_rate(rps: u32, at_min: u32) -> f64 {
    let takes_per_sec = f64::from(rps) / ECOMMERCE_FRONTEND_INSTANCES;
    let drain_secs = f64::from(45 - at_min) * 60.0 * 0.375;
    (ECOMMERCE_SESSIONS_POOL / (takes_per_sec * drain_secs).max(1.0)).clamp(0.002, 0.5)
}

/// A random scenario on the built-in e-commerce topology.
fn ecommerce(rng: &mut StdRng, k: usize, healthy: bool) -> String {
    let at = rng.random_range(15..=30);
    let rps = crate::topology::draw_rps(rng);
    let mut s = format!(
        "name = \"random-{k}\"\ndescription = \"randomised\"\nstart = \"2026-11-01T09:00:00Z\"\nduration = \"45m\"\nseed = {}\nnoise_error_rate = {:.4}\nrequest_logs = {}\ntopology = \"ecommerce\"\n\n[traffic]\nrps = {rps}\nmix = [\n  {{ endpoint = \"frontend:GET /api/products\", weight = 6 }},\n  {{ endpoint = \"frontend:GET /api/cart\", weight = 3 }},\n  {{ endpoint = \"frontend:POST /api/checkout\", weight = 1 }},\n]\n\n",
        rng.random_range(1..1_000_000),
        rng.random_range(0.0..0.002),
        crate::topology::draw_request_logs(rng, rps)
    );
    // A benign change, as real systems have, somewhere.
    if rng.random_bool(0.6) {
        let svc = pick(rng, &["auth", "billing", "shipping", "payment", "inventory"]);
        s += &format!(
            "[[changes]]\nid = \"{svc}-benign-{k}\"\nat = \"{}m\"\nservice = \"{svc}\"\nkind = \"deploy\"\nversion = \"9.{k}.0\"\ndescription = \"{svc} routine deploy\"\n\n",
            rng.random_range(5..40)
        );
    }
    if healthy {
        return s;
    }
    let until = |rng: &mut StdRng| {
        if rng.random_bool(0.3) {
            format!("until = \"{}m\"\n", at + rng.random_range(5..12))
        } else {
            String::new()
        }
    };
    let fault = match rng.random_range(0..13) {
        0 => {
            let (svc, insts) = *[
                ("payment", &["payment-1", "payment-2"][..]),
                ("billing", &["billing-1", "billing-2"][..]),
                ("auth", &["auth-1", "auth-2"][..]),
                ("fraud-detection", &["fraud-1", "fraud-2"][..]),
                ("shipping", &["shipping-1", "shipping-2"][..]),
            ]
            .get(rng.random_range(0..5))
            .unwrap();
            let inst = insts[rng.random_range(0..insts.len())];
            format!(
                "kind = \"bad_deploy\"\nservice = \"{svc}\"\ninstances = [\"{inst}\"]\nerror_rate = {:.2}\nversion = \"9.9.{k}\"\nchange_id = \"{svc}-9.9.{k}\"\n",
                rng.random_range(0.15..0.6)
            )
        }
        1 => {
            let svc = pick(rng, &["fraud-api", "inventory-db", "billing-db", "payment", "auth", "shipping"]);
            let pattern = match svc {
                "fraud-api" => "external_dependency",
                "inventory-db" | "billing-db" => "dependency_failure",
                _ => "latency_injection",
            };
            format!("kind = \"slow_dependency\"\nservice = \"{svc}\"\nfactor = {:.1}\npattern = \"{pattern}\"\n{}", rng.random_range(5.0..20.0), until(rng))
        }
        2 => {
            let inst = pick(rng, &["billing-1", "billing-2", "payment-1", "payment-2"]);
            let svc = if inst.starts_with("billing") { "billing" } else { "payment" };
            format!("kind = \"disk_full\"\nservice = \"{svc}\"\ninstance = \"{inst}\"\n")
        }
        3 => {
            let (svc, inst) = *[("payment", "payment-1"), ("auth", "auth-2"), ("billing", "billing-1"), ("shipping", "shipping-2"), ("fraud-detection", "fraud-1")]
                .get(rng.random_range(0..5))
                .unwrap();
            let sign = if rng.random_bool(0.5) { "-" } else { "" };
            return s + &format!(
                "[[faults]]\nkind = \"clock_skew\"\nservice = \"{svc}\"\ninstance = \"{inst}\"\nat = \"0m\"\noffset = \"{sign}{}ms\"\n",
                rng.random_range(80..400)
            );
        }
        4 => {
            let inst = pick(rng, &["fe-1", "fe-2", "fe-3", "fe-4"]);
            format!("kind = \"memory_leak\"\nservice = \"frontend\"\ninstance = \"{inst}\"\n")
        }
        5 => {
            let svc = pick(rng, &["billing", "auth", "payment", "shipping"]);
            format!("kind = \"dns_failure\"\nservice = \"{svc}\"\n{}", until(rng))
        }
        6 => {
            let svc = pick(rng, &["inventory", "auth", "payment"]);
            format!("kind = \"cpu_cap\"\nservice = \"{svc}\"\nfactor = {:.2}\nchange_id = \"{svc}-cpu-limit-{k}\"\n", rng.random_range(0.03..0.08))
        }
        7 => {
            let inst = pick(rng, &["fe-1", "fe-2", "fe-3", "fe-4"]);
            let leak = ecommerce_leak_rate(rps, at);
            format!("kind = \"connection_leak\"\nservice = \"frontend\"\ninstance = \"{inst}\"\npool = \"sessions\"\nerror_rate = {leak:.4}\n")
        }
        8 => format!(
            "kind = \"lb_bad_backend\"\nservice = \"inventory\"\ninstance = \"192.168.1.45:8080\"\nstatus = {}\nchange_id = \"lb-config-{k}\"\n",
            pick(rng, &["404", "503", "500"])
        ),
        9 => format!("kind = \"network_partition\"\nservice = \"frontend\"\nzone = \"us-east-1a\"\nother_zone = \"us-east-1b\"\n{}", until(rng)),
        11 | 12 => {
            let (svc, insts) = *[
                ("inventory", &["192.168.1.41:8080", "192.168.1.42:8080", "192.168.1.43:8080"][..]),
                ("billing", &["billing-1", "billing-2"][..]),
                ("auth", &["auth-1", "auth-2"][..]),
                ("payment", &["payment-1", "payment-2"][..]),
                ("shipping", &["shipping-1", "shipping-2"][..]),
            ]
            .get(rng.random_range(0..5))
            .unwrap();
            let insts: Vec<String> = insts.iter().map(|i| i.to_string()).collect();
            let kind = if rng.random_bool(0.5) { "code_exception" } else { "bad_response" };
            let until = until(rng);
            crate::topology::code_fault(rng, kind, svc, &insts, &until)
        }
        _ => format!("kind = \"cache_flush\"\nservice = \"inventory-cache\"\nttl = \"{}m\"\n", rng.random_range(5..15)),
    };
    s + &format!("[[faults]]\nat = \"{at}m\"\n{fault}")
}

/// How the user asks (../shared/contracts/investigation.md): no window; a window covering all the
/// data; a narrow window after the fault's start with a healthy baseline elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    NoWindow,
    WholeData,
    Narrow,
}

pub const PROTOCOLS: [Protocol; 3] = [Protocol::NoWindow, Protocol::WholeData, Protocol::Narrow];

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::NoWindow => "no window",
            Protocol::WholeData => "window = all the data",
            Protocol::Narrow => "narrow window + baseline",
        }
    }
}

/// Length of the narrow window after the fault starts (the fault-injection protocol's three
/// minutes), and where its baseline lies: by default a healthy stretch of the same length before the
/// fault (`--narrow-baseline` shortens it: the fault-injection protocol names one healthy minute).
pub const NARROW_WINDOW_NS: i64 = 3 * 60 * 1_000_000_000;
const NARROW_BASELINE_GAP_NS: i64 = 2 * 60 * 1_000_000_000;

/// Telemetry conventions real systems differ in, applied to the simulator's output before the
/// investigation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Convention {
    /// As the OpenTelemetry semantic conventions say: kinds, status, codes, severities.
    Otel,
    /// No span kind anywhere.
    NoKind,
    /// No span status: errors only from HTTP or gRPC codes and exception events.
    NoStatus,
    /// Spans carry no sign of failure at all: errors show only in the logs.
    ErrorsOnlyInLogs,
    /// Logs without severity: the level is inside the plain text.
    PlainTextLogs,
    /// Traces exported as Jaeger JSON and imported (tags, process tags, `error` tag, `span.kind`).
    JaegerImport,
    /// Traces exported as Zipkin v2 JSON and imported: microseconds, string tags, no status but the
    /// `error` tag, instances as `ip:port`.
    ZipkinImport,
    /// An older Java system's telemetry all at once: spans with neither kind nor status, logs as
    /// plain text with the level and the trace and span ids inside the line (`05:18:42.995 INFO
    /// TraceID: ... SpanID: ... msg`) and none in the record. Not in the random rotation (that
    /// would reassign every seed's conventions): asked for with `--convention bare`.
    Bare,
}

pub const CONVENTIONS: [Convention; 7] = [
    Convention::Otel,
    Convention::NoKind,
    Convention::NoStatus,
    Convention::ErrorsOnlyInLogs,
    Convention::PlainTextLogs,
    Convention::JaegerImport,
    Convention::ZipkinImport,
];

impl Convention {
    /// The convention a short name (`otel`, `no-kind`, `no-status`, `logs-only`, `plain-text`,
    /// `jaeger`, `zipkin`) names.
    pub fn parse(name: &str) -> Option<Convention> {
        const NAMES: [&str; 7] =
            ["otel", "no-kind", "no-status", "logs-only", "plain-text", "jaeger", "zipkin"];
        if name == "bare" {
            return Some(Convention::Bare);
        }
        NAMES.iter().position(|n| *n == name).map(|i| CONVENTIONS[i])
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Convention::Otel => "otel",
            Convention::NoKind => "no span kind",
            Convention::NoStatus => "no span status",
            Convention::ErrorsOnlyInLogs => "errors only in logs",
            Convention::PlainTextLogs => "level inside plain-text logs",
            Convention::JaegerImport => "Jaeger JSON import",
            Convention::ZipkinImport => "Zipkin JSON import",
            Convention::Bare => "no kind, no status, ids and level inside plain text",
        }
    }

    /// Whether the instance names of the truth survive the convention (Zipkin names instances by
    /// address).
    fn keeps_instances(self) -> bool {
        self != Convention::ZipkinImport
    }

    pub(crate) fn spans(self, spans: &mut Vec<faultline_model::Span>) {
        use faultline_model::{SpanKind, StatusCode};
        match self {
            Convention::JaegerImport => return *spans = crate::exports::through_jaeger(spans),
            Convention::ZipkinImport => return *spans = crate::exports::through_zipkin(spans),
            _ => {}
        }
        for s in spans {
            match self {
                Convention::NoKind => s.kind = SpanKind::Unspecified,
                Convention::Bare => {
                    s.kind = SpanKind::Unspecified;
                    s.status_code = StatusCode::Unset;
                    s.status_message.clear();
                }
                Convention::NoStatus => {
                    s.status_code = StatusCode::Unset;
                    s.status_message.clear();
                }
                Convention::ErrorsOnlyInLogs => {
                    s.status_code = StatusCode::Unset;
                    s.status_message.clear();
                    for k in [
                        "http.response.status_code",
                        "http.status_code",
                        "rpc.grpc.status_code",
                        "error",
                        "error.type",
                    ] {
                        s.attributes.remove(k);
                    }
                    s.events.retain(|e| e.name != "exception");
                }
                _ => {}
            }
        }
    }

    fn logs(self, logs: &mut [faultline_model::LogRecord]) {
        if !matches!(self, Convention::PlainTextLogs | Convention::Bare) {
            return;
        }
        for l in logs {
            let level = match l.severity_number {
                17.. => "ERROR",
                13..=16 => "WARN ",
                1..=8 => "DEBUG",
                _ => "INFO ",
            };
            let t = faultline_model::time::format_rfc3339(l.time_unix_nano);
            let clock = t.get(11..23).unwrap_or("00:00:00.000");
            l.body = match (self, l.trace_id) {
                (Convention::Bare, Some(t)) => {
                    let s = l.span_id.map(|s| s.to_hex()).unwrap_or_default();
                    (l.trace_id, l.span_id) = (None, None);
                    format!("{clock} {level} TraceID: {t} SpanID: {s} {}", l.body)
                }
                _ => format!("{clock} {level} {}", l.body),
            };
            l.severity_number = 0;
            l.severity_text.clear();
        }
    }
}

#[derive(Default)]
struct Tally {
    runs: usize,
    ac1: usize,
    ac3: usize,
    avg5: f64,
    inst_total: usize,
    inst_ok: usize,
    change_total: usize,
    change_ok: usize,
    pattern_ok: usize,
    controls: usize,
    false_alarms: usize,
    /// The simple rules on the same cases: services ranked by own-time growth, by own-error growth.
    rule_time_ac1: usize,
    rule_error_ac1: usize,
    misses: Vec<String>,
}

/// One simulated run, investigated in each protocol.
struct Outcome {
    truth: serde_json::Value,
    convention: Convention,
    reports: Vec<(Protocol, faultline_analysis::Report, Option<String>, Option<String>)>,
    secs: f64,
}

fn ns(v: &serde_json::Value) -> Option<i64> {
    faultline_model::time::parse_time_ns(v.as_str()?, 0).ok()
}

fn evaluate(
    dir: &std::path::Path,
    k: usize,
    text: &str,
    convention: Convention,
    narrow_baseline_ns: i64,
) -> anyhow::Result<Outcome> {
    let path = dir.join(format!("random-{k}.toml"));
    std::fs::write(&path, text)?;
    let sc = faultline_sim::load(path.to_str().unwrap_or_default())?;
    let (mut spans, mut logs, mut metrics) = (SpanTableBuilder::default(), Vec::new(), Vec::new());
    let res = faultline_sim::run(&sc, &RunOptions::default(), &mut |c| match c {
        Chunk::Spans(mut s) => {
            convention.spans(&mut s);
            spans.push(&spans_to_batch(&s))
        }
        Chunk::Logs(mut l) => {
            convention.logs(&mut l);
            logs.push(logs_to_batch(&l))
        }
        Chunk::Metrics(m) => metrics.push(metrics_to_batch(&m)),
    });
    let inputs = Inputs::new(
        spans.finish(),
        LogTable::from_batches(&logs),
        MetricTable::from_batches(&metrics),
        res.changes.clone(),
    );
    let (lo, hi) = inputs.spans.time_range().unwrap_or((0, 0));
    // The fault's start, or for a healthy control the same place a fault would be (mid-run).
    let at = res.truth["faults"].get(0).and_then(|f| ns(&f["start"])).unwrap_or(lo + (hi - lo) / 2);
    let start = Instant::now();
    let mut reports = Vec::new();
    for protocol in PROTOCOLS {
        let o = match protocol {
            Protocol::NoWindow => Options::default(),
            Protocol::WholeData => Options { from: Some(lo), to: Some(hi + 1), ..Options::default() },
            Protocol::Narrow => {
                let b_end = at - NARROW_BASELINE_GAP_NS;
                Options {
                    from: Some(at),
                    to: Some(at + NARROW_WINDOW_NS),
                    baseline: Some((b_end - narrow_baseline_ns, b_end)),
                    ..Options::default()
                }
            }
        };
        let report = investigate(&inputs, &o)?;
        let (time_rule, error_rule) = faultline_analysis::investigate::simple_rule_leaders(&inputs, &o);
        reports.push((protocol, report, time_rule, error_rule));
    }
    Ok(Outcome {
        truth: res.truth,
        convention,
        reports,
        secs: start.elapsed().as_secs_f64() / PROTOCOLS.len() as f64,
    })
}

/// Which runs to evaluate.
#[derive(Debug, Default)]
pub struct Select {
    /// Only the healthy controls (every fifth run).
    pub healthy_only: bool,
    /// Only these runs, their reports printed in full.
    pub only: Vec<usize>,
    /// Every run under this convention (tuning one convention on the tuning split).
    pub convention: Option<Convention>,
    /// Length of the narrow protocol's baseline.
    pub narrow_baseline_ns: i64,
}

impl Select {
    fn includes(&self, k: usize) -> bool {
        (!self.healthy_only || k % 5 == 4) && (self.only.is_empty() || self.only.contains(&k))
    }
}

/// Seeds of the reserved test split: reported, never tuned on. The tuning split is `--seed`.
pub const TEST_SPLIT_SEED: u64 = 7_310_541;

pub fn run(
    runs: usize,
    seed: u64,
    verbose: bool,
    jobs: usize,
    dump: Option<&std::path::Path>,
    select: &Select,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir()?;
    let (texts, labels): (Vec<String>, Vec<&str>) =
        (0..runs).map(|k| scenario(&mut rng, k, k % 5 == 4)).unzip();
    // Conventions are drawn from their own stream, so that the scenarios of a seed stay the same.
    let mut crng = StdRng::seed_from_u64(seed ^ 0x5eed_c0de);
    let conventions: Vec<Convention> = (0..runs)
        .map(|_| CONVENTIONS[crng.random_range(0..CONVENTIONS.len())])
        .map(|c| select.convention.unwrap_or(c))
        .collect();
    if let Some(d) = dump {
        // The scenario files, to rerun one with `faultline sim --scenario FILE`.
        std::fs::create_dir_all(d)?;
        for (k, text) in texts.iter().enumerate() {
            std::fs::write(d.join(format!("random-{k}.toml")), text)?;
        }
        println!("wrote {runs} scenario files to {}", d.display());
        return Ok(());
    }
    // Runs are independent: simulate and investigate them on `jobs` threads, tally in order.
    let results = crate::jobs::in_order(
        runs,
        jobs,
        |k| select.includes(k),
        |k| evaluate(dir.path(), k, &texts[k], conventions[k], select.narrow_baseline_ns),
    );
    let mut by_protocol: BTreeMap<Protocol, Tally> = BTreeMap::new();
    let mut by_convention: BTreeMap<(Convention, Protocol), (usize, usize)> = BTreeMap::new();
    let mut by_kind: BTreeMap<(String, Protocol), (usize, usize)> = BTreeMap::new();
    let mut by_topology: BTreeMap<(&str, Protocol), (usize, usize)> = BTreeMap::new();
    let mut secs = Vec::new();
    for (k, slot) in results.into_iter().enumerate() {
        let Some(out) = slot else { continue };
        let out = out?;
        secs.push((out.secs, k));
        if !select.only.is_empty() {
            for (protocol, r, _, _) in &out.reports {
                println!(
                    "=== run {k}, {} [{}]\n{}",
                    protocol.name(),
                    out.convention.name(),
                    faultline_analysis::report::render_text(r, false)
                );
            }
        }
        let faults = out.truth["faults"].as_array().cloned().unwrap_or_default();
        for (protocol, r, time_rule, error_rule) in &out.reports {
            let t = by_protocol.entry(*protocol).or_default();
            if faults.is_empty() {
                t.controls += 1;
                t.false_alarms += r.incident as usize;
                if r.incident && verbose {
                    println!("run {k} ({}): false alarm: {}", protocol.name(), r.symptom.summary);
                }
                continue;
            }
            t.runs += 1;
            let f = &faults[0];
            let truth_svc = f["service"].as_str().unwrap_or("");
            let pattern = f["pattern"].as_str().unwrap_or("");
            let rank = r.root_causes.iter().position(|c| c.service == truth_svc);
            let hit = rank == Some(0);
            t.ac1 += hit as usize;
            t.ac3 += rank.is_some_and(|r| r < 3) as usize;
            t.avg5 += (1..=5).map(|k| rank.is_some_and(|r| r < k) as usize as f64).sum::<f64>() / 5.0;
            t.rule_time_ac1 += (time_rule.as_deref() == Some(truth_svc)) as usize;
            t.rule_error_ac1 += (error_rule.as_deref() == Some(truth_svc)) as usize;
            let e = by_convention.entry((out.convention, *protocol)).or_default();
            e.0 += 1;
            e.1 += hit as usize;
            let e = by_kind.entry((pattern.to_string(), *protocol)).or_default();
            e.0 += 1;
            e.1 += hit as usize;
            let e = by_topology.entry((labels[k], *protocol)).or_default();
            e.0 += 1;
            e.1 += hit as usize;
            if let Some(top) = r.root_causes.first().filter(|_| hit) {
                t.pattern_ok += top.patterns.iter().any(|p| p == pattern) as usize;
            }
            // Instances named by address survive every convention; names only some.
            if let Some(i) =
                f["instance"].as_str().filter(|i| out.convention.keeps_instances() || i.contains(':'))
            {
                t.inst_total += 1;
                t.inst_ok += r
                    .root_causes
                    .first()
                    .is_some_and(|c| c.service == truth_svc && c.instance.as_deref() == Some(i))
                    as usize;
            }
            if let Some(c) = f["change_id"].as_str() {
                t.change_total += 1;
                t.change_ok +=
                    r.root_causes.first().and_then(|x| x.change.as_ref()).is_some_and(|x| x.id == c) as usize;
            }
            if !hit {
                let got = r
                    .root_causes
                    .first()
                    .map(|c| format!("{} {:?}", c.service, c.patterns))
                    .unwrap_or("nothing".into());
                t.misses.push(format!(
                    "run {k} [{}]: {pattern} {truth_svc} -> {got} (rank {rank:?})",
                    out.convention.name()
                ));
                if verbose {
                    println!("{} ({})", t.misses.last().expect("pushed"), protocol.name());
                }
            }
        }
    }
    secs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let split = if seed == TEST_SPLIT_SEED { "reserved test split" } else { "tuning split" };
    println!(
        "{runs} randomised runs, seed {seed} ({split}), each investigated in {} protocols",
        PROTOCOLS.len()
    );
    if select.narrow_baseline_ns != NARROW_WINDOW_NS {
        println!("narrow protocol: a baseline of {} s", select.narrow_baseline_ns / 1_000_000_000);
    }
    for (protocol, t) in &by_protocol {
        let n = t.runs.max(1) as f64;
        println!("\n{} ({} incidents, {} healthy controls)", protocol.name(), t.runs, t.controls);
        println!(
            "  service  AC@1 {:.3}  AC@3 {:.3}  Avg@5 {:.3}   simple rules: own time AC@1 {:.3}, own errors AC@1 {:.3}",
            t.ac1 as f64 / n,
            t.ac3 as f64 / n,
            t.avg5 / n,
            t.rule_time_ac1 as f64 / n,
            t.rule_error_ac1 as f64 / n
        );
        println!(
            "  instance {}/{}, change {}/{}, pattern named {}/{}, false alarms {}/{} = {:.3}",
            t.inst_ok,
            t.inst_total,
            t.change_ok,
            t.change_total,
            t.pattern_ok,
            t.ac1,
            t.false_alarms,
            t.controls,
            t.false_alarms as f64 / t.controls.max(1) as f64
        );
    }
    let table = |title: &str, rows: Vec<(String, Protocol, (usize, usize))>| {
        println!("\nAC@1 by {title}:");
        let mut names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        names.dedup();
        for name in names {
            let cells: Vec<String> = PROTOCOLS
                .iter()
                .map(|p| {
                    rows.iter()
                        .find(|r| r.0 == name && r.1 == *p)
                        .map_or("-".into(), |r| format!("{}/{}", r.2 .1, r.2 .0))
                })
                .collect();
            println!("  {name:<30} {}", cells.iter().map(|c| format!("{c:>9}")).collect::<String>());
        }
    };
    println!("\ncolumns: {}", PROTOCOLS.map(|p| p.name()).join(" | "));
    table("convention", by_convention.iter().map(|((c, p), v)| (c.name().to_string(), *p, *v)).collect());
    table("topology", by_topology.iter().map(|((c, p), v)| (c.to_string(), *p, *v)).collect());
    table("fault pattern", by_kind.iter().map(|((c, p), v)| (c.clone(), *p, *v)).collect());
    println!(
        "\ntime per investigation: median {:.2} s, max {:.2} s (run {})",
        secs.get(secs.len() / 2).map_or(0.0, |s| s.0),
        secs.last().map_or(0.0, |s| s.0),
        secs.last().map_or(0, |s| s.1)
    );
    for (protocol, t) in &by_protocol {
        for m in t.misses.iter().take(12) {
            println!("  miss ({}): {m}", protocol.name());
        }
    }
    Ok(())
}

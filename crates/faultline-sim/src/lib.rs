//! `faultline sim`: a discrete-event simulation of a distributed system that emits OpenTelemetry
//! traces, logs and metrics plus change events, injects faults on a schedule, and writes down what
//! it injected (the ground truth). Contract: shared/contracts/simulation.md; scenario reference:
//! docs/sim.md.
//!
//! Invariant: the same scenario and seed give byte-identical output.

pub mod engine;
pub mod scenario;
pub mod telemetry;

use faultline_model::time::format_rfc3339_secs;
use faultline_model::{ChangeEvent, ChangeKind};
pub use scenario::{Scenario, ScenarioError};
use serde_json::{json, Value};
pub use telemetry::Chunk;

/// Built-in topologies, by name.
pub const TOPOLOGIES: &[(&str, &str)] = &[("ecommerce", include_str!("builtin/ecommerce.toml"))];

/// Built-in scenarios: name and file text.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("healthy", include_str!("builtin/healthy.toml")),
    ("lb-bad-backend", include_str!("builtin/lb-bad-backend.toml")),
    ("connection-leak", include_str!("builtin/connection-leak.toml")),
    ("slow-external-spike", include_str!("builtin/slow-external-spike.toml")),
    ("cache-flush-herd", include_str!("builtin/cache-flush-herd.toml")),
    ("clock-skew", include_str!("builtin/clock-skew.toml")),
    ("network-partition", include_str!("builtin/network-partition.toml")),
    ("bad-deploy", include_str!("builtin/bad-deploy.toml")),
    ("dns-failure", include_str!("builtin/dns-failure.toml")),
    ("disk-full", include_str!("builtin/disk-full.toml")),
    ("memory-leak", include_str!("builtin/memory-leak.toml")),
    ("retry-storm", include_str!("builtin/retry-storm.toml")),
    ("traffic-spike", include_str!("builtin/traffic-spike.toml")),
    ("cpu-cap", include_str!("builtin/cpu-cap.toml")),
    ("code-exception", include_str!("builtin/code-exception.toml")),
    ("bad-response", include_str!("builtin/bad-response.toml")),
];

fn topology(name: &str) -> Option<String> {
    TOPOLOGIES.iter().find(|(n, _)| *n == name).map(|(_, t)| t.to_string())
}

/// The built-in scenarios with their one-line descriptions.
pub fn list() -> Vec<(String, String)> {
    SCENARIOS
        .iter()
        .map(|(n, t)| {
            let d = Scenario::parse(n, t, &topology)
                .map(|s| s.description)
                .unwrap_or_else(|e| format!("(broken: {e})"));
            (n.to_string(), d)
        })
        .collect()
}

/// Loads a built-in scenario by name, or a scenario file by path.
pub fn load(name_or_file: &str) -> Result<Scenario, ScenarioError> {
    if let Some((n, t)) = SCENARIOS.iter().find(|(n, _)| *n == name_or_file) {
        return Scenario::parse(n, t, &topology);
    }
    let path = std::path::Path::new(name_or_file);
    if !path.exists() {
        return Err(ScenarioError::NotFound(name_or_file.to_string()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::Io { path: name_or_file.to_string(), source: e })?;
    Scenario::parse(name_or_file, &text, &topology)
}

/// Parses a scenario file's text (its topology may name a built-in one).
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(file, text, &topology)
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub seed: Option<u64>,
    pub duration_ns: Option<i64>,
    pub rps: Option<f64>,
}

/// What a run produced besides the telemetry chunks.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub truth: Value,
    pub changes: Vec<ChangeEvent>,
    pub spans: u64,
}

fn default_pattern(k: scenario::FaultKind) -> &'static str {
    use scenario::FaultKind::*;
    match k {
        LbBadBackend => "bad_config_change",
        ConnectionLeak => "connection_pool_exhaustion",
        SlowDependency => "external_dependency",
        CacheFlush => "thundering_herd",
        ClockSkew => "clock_skew",
        NetworkPartition => "network_partition",
        CpuCap => "cpu_saturation",
        BadDeploy => "bad_deploy",
        RetryStorm => "retry_storm",
        MemoryLeak => "memory_leak",
        DnsFailure => "dns_failure",
        DiskFull => "disk_full",
        TrafficSpike => "traffic_spike",
        CodeException => "code_exception",
        BadResponse => "bad_response",
    }
}

/// Runs a scenario, handing telemetry to `sink` in chunks (in time order within each signal).
pub fn run(sc: &Scenario, opts: &RunOptions, sink: &mut dyn FnMut(Chunk)) -> RunResult {
    let seed = opts.seed.unwrap_or(sc.seed);
    let start = sc.start_ns();
    let mut sim = engine::Sim::new(sc, seed, opts.duration_ns, opts.rps);
    let end = sim.end;
    let mut rec = telemetry::Recorder::new(sink);
    sim.run(&mut rec);
    let spans = rec.spans_emitted;
    let mut changes = Vec::new();
    let mut faults = Vec::new();
    for f in &sc.faults {
        let at = start + engine::dur(&f.at);
        let until = f.until.as_deref().map(|u| start + engine::dur(u));
        let instance =
            f.instance.clone().or_else(|| (f.instances.len() == 1).then(|| f.instances[0].clone()));
        if let Some(id) = &f.change_id {
            let kind = match f.kind {
                scenario::FaultKind::BadDeploy => ChangeKind::Deploy,
                scenario::FaultKind::RetryStorm => ChangeKind::Config,
                scenario::FaultKind::CpuCap => ChangeKind::Infra,
                _ => ChangeKind::Config,
            };
            changes.push(ChangeEvent {
                id: id.clone(),
                time_unix_nano: at,
                service: f.service.clone(),
                instance: instance.clone(),
                kind,
                version_before: None,
                version_after: f.version.clone(),
                description: format!("{} {}", id, f.kind_text()),
                author: Some("ci-bot".into()),
                link: None,
                attributes: Default::default(),
            });
        }
        faults.push(json!({
            "service": f.service,
            "instance": instance,
            "change_id": f.change_id,
            "pattern": f.pattern.clone().unwrap_or_else(|| default_pattern(f.kind).to_string()),
            "start": format_rfc3339_secs(at),
            "end": until.map(format_rfc3339_secs),
        }));
    }
    for c in &sc.changes {
        changes.push(ChangeEvent {
            id: c.id.clone(),
            time_unix_nano: start + engine::dur(&c.at),
            service: c.service.clone(),
            instance: c.instance.clone(),
            kind: ChangeKind::parse(&c.kind).unwrap_or_default(),
            version_before: None,
            version_after: c.version.clone(),
            description: c.description.clone(),
            author: Some("ci-bot".into()),
            link: None,
            attributes: Default::default(),
        });
    }
    changes.sort_by(|a, b| a.time_unix_nano.cmp(&b.time_unix_nano).then(a.id.cmp(&b.id)));
    let truth = json!({
        "scenario": sc.name,
        "seed": seed,
        "window": {"from": format_rfc3339_secs(start), "to": format_rfc3339_secs(end)},
        "faults": faults,
    });
    RunResult { truth, changes, spans }
}

impl scenario::Fault {
    fn kind_text(&self) -> &'static str {
        use scenario::FaultKind::*;
        match self.kind {
            LbBadBackend => "load balancer pool change",
            BadDeploy => "deploy",
            RetryStorm => "retry policy change",
            CpuCap => "CPU limit change",
            _ => "change",
        }
    }
}

/// Writes a run to a directory as the contract names: `traces.jsonl`, `logs.jsonl`,
/// `metrics.jsonl` (OTLP/JSON lines), `changes.jsonl` and `truth.json`.
pub fn write_dir(sc: &Scenario, opts: &RunOptions, dir: &std::path::Path) -> std::io::Result<RunResult> {
    use faultline_otlp::{json::encode, Request};
    use std::io::{BufWriter, Write};
    std::fs::create_dir_all(dir)?;
    let open = |name: &str| -> std::io::Result<BufWriter<std::fs::File>> {
        Ok(BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(name))?))
    };
    let (mut traces, mut logs, mut metrics) =
        (open("traces.jsonl")?, open("logs.jsonl")?, open("metrics.jsonl")?);
    let mut err: Option<std::io::Error> = None;
    let mut buf = Vec::with_capacity(4 << 20);
    let result = run(sc, opts, &mut |chunk| {
        if err.is_some() {
            return;
        }
        let (w, req) = match chunk {
            Chunk::Spans(s) => {
                // The bulk of the output: written straight from the model, not through a JSON tree.
                buf.clear();
                faultline_otlp::json::write_traces(&s, &mut buf);
                buf.push(b'\n');
                if let Err(e) = traces.write_all(&buf) {
                    err = Some(e);
                }
                return;
            }
            Chunk::Logs(l) => (&mut logs, Request::Logs(faultline_otlp::logs_to_request(&l))),
            Chunk::Metrics(m) => (&mut metrics, Request::Metrics(faultline_otlp::metrics_to_request(&m))),
        };
        let r = serde_json::to_writer(&mut *w, &encode(&req))
            .map_err(std::io::Error::other)
            .and_then(|_| w.write_all(b"\n"));
        if let Err(e) = r {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    traces.flush()?;
    logs.flush()?;
    metrics.flush()?;
    let mut ch = open("changes.jsonl")?;
    for c in &result.changes {
        serde_json::to_writer(&mut ch, &change_json(c))?;
        ch.write_all(b"\n")?;
    }
    ch.flush()?;
    std::fs::write(dir.join("truth.json"), serde_json::to_string_pretty(&result.truth)? + "\n")?;
    Ok(result)
}

/// A change event in the shape `faultline import` and `POST /api/v1/changes` take.
pub fn change_json(c: &ChangeEvent) -> Value {
    json!({
        "id": c.id,
        "time": faultline_model::time::format_rfc3339(c.time_unix_nano),
        "service": c.service,
        "instance": c.instance,
        "kind": c.kind.as_str(),
        "version_before": c.version_before,
        "version_after": c.version_after,
        "description": c.description,
        "author": c.author,
    })
}

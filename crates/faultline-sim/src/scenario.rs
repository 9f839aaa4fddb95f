//! Scenario files: the topology of a simulated system, its traffic, and the faults injected into it.
//! TOML; the reference is docs/sim.md. Errors name the file, the line and the field.

use faultline_model::time::{parse_duration_ns, parse_time_ns};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}{}: {field}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid { file: String, line: Option<usize>, field: String, message: String },
    #[error(
        "no built-in scenario named {0:?} and no such file; `faultline sim --list` shows the built-in ones"
    )]
    NotFound(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// A latency distribution: log-normal through its median and 99th percentile.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub median: String,
    pub p99: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// An instrumented service speaking HTTP.
    #[default]
    Http,
    /// An instrumented service speaking gRPC.
    Grpc,
    /// A database: not instrumented; its callers' client spans show it.
    Database,
    /// A cache: not instrumented; answers hit or miss.
    Cache,
    /// An API outside the system: not instrumented.
    External,
    /// A message queue: producers get an acknowledgement at once; its `consumer` endpoint
    /// processes each message later, as fast as the consumer's workers allow.
    Queue,
}

impl ServiceKind {
    pub fn instrumented(self) -> bool {
        matches!(self, ServiceKind::Http | ServiceKind::Grpc)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `service.instance.id`; for uninstrumented services, the peer address callers see.
    pub id: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// How far this host's clock is off (e.g. "180ms", "-2s").
    #[serde(default)]
    pub clock_offset: Option<String>,
    /// Whether the load balancer sends it traffic from the start.
    #[serde(default = "yes")]
    pub in_pool: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// `service:endpoint`.
    pub to: String,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub backoff: Option<String>,
    /// Chance the call is made at all.
    #[serde(default = "one")]
    pub probability: f64,
    /// For calls to a cache: what to call on a miss.
    #[serde(default)]
    pub on_miss: Option<Box<Call>>,
    /// Use the caller's connection pool of this name.
    #[serde(default)]
    pub pool: Option<String>,
    /// Stop calling for a while after consecutive failures.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreaker>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long it stays open before letting a call through again.
    pub open_for: String,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub name: String,
    pub latency: Latency,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub calls: Vec<Call>,
    /// The query text of a database endpoint (`db.query.text`).
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub size: u32,
    #[serde(default)]
    pub acquire_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default)]
    pub kind: ServiceKind,
    /// Requests one instance works on at once.
    #[serde(default = "workers")]
    pub workers: u32,
    /// Requests that may wait for a worker; more are refused (503).
    #[serde(default = "queue")]
    pub queue: u32,
    /// Cache hit rate (caches only).
    #[serde(default)]
    pub hit_rate: Option<f64>,
    pub instances: Vec<Instance>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Client-side connection pools by name.
    #[serde(default)]
    pub pools: BTreeMap<String, Pool>,
    /// Queues only: the `service:endpoint` that consumes the messages.
    #[serde(default)]
    pub consumer: Option<String>,
}

fn workers() -> u32 {
    64
}

fn queue() -> u32 {
    512
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// `service:endpoint` of an entry point.
    pub endpoint: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    /// Offset from the scenario start.
    pub at: String,
    pub duration: String,
    pub multiplier: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Open-loop arrivals per second (Poisson).
    #[serde(default)]
    pub rps: f64,
    /// Closed-loop users: each sends a request, waits for the answer, thinks, and sends the next;
    /// throughput then levels off at a bottleneck instead of queueing without bound.
    #[serde(default)]
    pub users: u32,
    /// Mean think time of closed-loop users.
    #[serde(default)]
    pub think: Option<String>,
    pub mix: Vec<Mix>,
    #[serde(default)]
    pub spikes: Vec<Spike>,
}

/// The kinds of fault the simulator injects.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A load balancer config change adds `instance` (answering `status`) to the pool of `service`.
    LbBadBackend,
    /// `instance` leaks connections of `pool` until the pool is exhausted.
    ConnectionLeak,
    /// `service` gets slower by `factor`, or by a fixed `delay` on each operation (what a fault
    /// injector's "delay 200ms" does), or both.
    SlowDependency,
    /// The cache `service` is flushed: no hits, then refilling over `ttl`.
    CacheFlush,
    /// `instance`'s clock is off by `offset`.
    ClockSkew,
    /// Calls between `zone` and `other_zone` fail.
    NetworkPartition,
    /// `service` (or `instance`) is capped to `factor` of its workers: flat throughput, no errors.
    CpuCap,
    /// A new `version` on `instances` of `service` throws with `error_rate`.
    BadDeploy,
    /// `service` retries `retries` times without backoff.
    RetryStorm,
    /// `instance` leaks memory and restarts every `period`.
    MemoryLeak,
    /// Calls to `service` fail name resolution.
    DnsFailure,
    /// `instance`'s disk fills: its writes fail.
    DiskFull,
    /// Traffic at the entry `service` is multiplied by `factor`.
    TrafficSpike,
    /// A share `error_rate` of the requests of `service` (or `instance`) throw part-way through
    /// their work: the calls after the throw are never made, the request answers 500 and its
    /// service logs the exception with its stack trace (a code fault injected in a method).
    CodeException,
    /// A share `error_rate` of the answers of `service` (or `instance`) carry a wrong value with
    /// no error: the caller notices, logs a warning and gives up on the rest of its work.
    BadResponse,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    pub service: String,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub instances: Vec<String>,
    /// Offset from the scenario start.
    pub at: String,
    #[serde(default)]
    pub until: Option<String>,
    /// The change event that carries the fault in (deploy, config change), if any.
    #[serde(default)]
    pub change_id: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub offset: Option<String>,
    /// A fixed delay added to each operation of the service (slow_dependency).
    #[serde(default)]
    pub delay: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub other_zone: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
    /// The pattern name the truth reports (defaults by kind).
    #[serde(default)]
    pub pattern: Option<String>,
}

/// A change that is not a fault (the noise of real systems: deploys that are fine).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub id: String,
    pub at: String,
    pub service: String,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default = "deploy")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub version: Option<String>,
}

fn deploy() -> String {
    "deploy".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// RFC 3339 start of the simulated window; empty when the scenario places none (the built-ins):
    /// `faultline sim` then ends the run now, and the library starts it at `UNPLACED_START`.
    #[serde(default)]
    pub start: String,
    pub duration: String,
    #[serde(default)]
    pub seed: u64,
    /// Name of a built-in topology; its services come before the file's own.
    #[serde(default)]
    pub topology: Option<String>,
    #[serde(default)]
    pub services: Vec<Service>,
    pub traffic: Traffic,
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Background error rate added to every endpoint (real systems are never clean).
    #[serde(default = "noise")]
    pub noise_error_rate: f64,
    /// Every instrumented service logs each request's steps (received, each call answered,
    /// done), joined to its span, as application logs do; off, services log errors only.
    #[serde(default)]
    pub request_logs: bool,
}

fn noise() -> f64 {
    0.0005
}

/// A topology file: services only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub services: Vec<Service>,
}

fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.to_string(),
        line: None,
        field: field.into(),
        message: message.into(),
    }
}

/// Where a run of a scenario that places no start begins when the library runs it (tests and
/// benchmarks): a fixed time, so that a seed gives the same bytes on every run.
pub const UNPLACED_START: &str = "2026-11-13T07:30:00Z";

impl Scenario {
    /// The run's start, unix nanoseconds.
    pub fn start_ns(&self) -> i64 {
        let s = if self.start.is_empty() { UNPLACED_START } else { &self.start };
        parse_time_ns(s, 0).unwrap_or(0)
    }

    /// Places the run: at `start` when given, else (when the scenario places none) so that it ends
    /// at `now`.
    pub fn place(&mut self, start: Option<i64>, length_ns: i64, now: i64) {
        if let Some(s) = start {
            self.start = faultline_model::time::format_rfc3339(s);
        } else if self.start.is_empty() {
            let s = now - length_ns;
            self.start = faultline_model::time::format_rfc3339(s - s.rem_euclid(1_000_000_000));
        }
    }

    /// Parses a scenario file's text; `file` names it in errors.
    pub fn parse(
        file: &str,
        text: &str,
        topologies: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text)
            .map_err(|e| ScenarioError::Parse { file: file.into(), message: e.to_string() })?;
        if let Some(t) = &s.topology {
            let text = topologies(t)
                .ok_or_else(|| invalid(file, "topology", format!("no built-in topology named {t:?}")))?;
            let topo: Topology = toml::from_str(&text).map_err(|e| ScenarioError::Parse {
                file: format!("topology {t}"),
                message: e.to_string(),
            })?;
            let mut services = topo.services;
            services.append(&mut s.services);
            s.services = services;
        }
        s.validate(file).map_err(|e| locate(e, text))?;
        Ok(s)
    }

    /// Checks names and values; errors name the field.
    pub fn validate(&self, file: &str) -> Result<(), ScenarioError> {
        let dur =
            |field: &str, v: &str| parse_duration_ns(v).map_err(|e| invalid(file, field, e.to_string()));
        if !self.start.is_empty() {
            parse_time_ns(&self.start, 0).map_err(|e| invalid(file, "start", e.to_string()))?;
        }
        dur("duration", &self.duration)?;
        let mut names = BTreeSet::new();
        let mut endpoints = BTreeSet::new();
        let mut instances = BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let f = format!("services[{i}] ({})", s.name);
            if !names.insert(s.name.clone()) {
                return Err(invalid(file, f, "service defined twice"));
            }
            if s.instances.is_empty() {
                return Err(invalid(file, format!("{f}.instances"), "a service needs at least one instance"));
            }
            if s.workers == 0 {
                return Err(invalid(file, format!("{f}.workers"), "must be at least 1"));
            }
            for inst in &s.instances {
                if !instances.insert(inst.id.clone()) {
                    return Err(invalid(
                        file,
                        format!("{f}.instances"),
                        format!("instance id {:?} used twice", inst.id),
                    ));
                }
                if let Some(o) = &inst.clock_offset {
                    let o = o.trim_start_matches('-');
                    dur(&format!("{f}.instances.clock_offset"), o)?;
                }
            }
            for (j, e) in s.endpoints.iter().enumerate() {
                let ef = format!("{f}.endpoints[{j}] ({})", e.name);
                endpoints.insert(format!("{}:{}", s.name, e.name));
                dur(&format!("{ef}.latency.median"), &e.latency.median)?;
                dur(&format!("{ef}.latency.p99"), &e.latency.p99)?;
                if !(0.0..=1.0).contains(&e.error_rate) {
                    return Err(invalid(file, format!("{ef}.error_rate"), "must be between 0 and 1"));
                }
            }
        }
        let check_call = |field: &str, c: &Call, owner: &Service| -> Result<(), ScenarioError> {
            if !endpoints.contains(&c.to) {
                return Err(invalid(
                    file,
                    format!("{field}.to"),
                    format!("no endpoint {:?} (write service:endpoint)", c.to),
                ));
            }
            if let Some(t) = &c.timeout {
                dur(&format!("{field}.timeout"), t)?;
            }
            if let Some(b) = &c.backoff {
                dur(&format!("{field}.backoff"), b)?;
            }
            if let Some(cb) = &c.circuit_breaker {
                dur(&format!("{field}.circuit_breaker.open_for"), &cb.open_for)?;
                if cb.failures == 0 {
                    return Err(invalid(
                        file,
                        format!("{field}.circuit_breaker.failures"),
                        "must be at least 1",
                    ));
                }
            }
            if let Some(p) = &c.pool {
                if !owner.pools.contains_key(p) {
                    return Err(invalid(
                        file,
                        format!("{field}.pool"),
                        format!("service {} has no pool {p:?}", owner.name),
                    ));
                }
            }
            Ok(())
        };
        for (i, s) in self.services.iter().enumerate() {
            match (&s.consumer, s.kind) {
                (Some(c), ServiceKind::Queue) if !endpoints.contains(c) => {
                    return Err(invalid(
                        file,
                        format!("services[{i}] ({}).consumer", s.name),
                        format!("no endpoint {c:?}"),
                    ));
                }
                (None, ServiceKind::Queue) => {
                    return Err(invalid(
                        file,
                        format!("services[{i}] ({}).consumer", s.name),
                        "a queue needs a consumer",
                    ));
                }
                _ => {}
            }
            for (j, e) in s.endpoints.iter().enumerate() {
                for (k, c) in e.calls.iter().enumerate() {
                    let field = format!("services[{i}] ({}).endpoints[{j}] ({}).calls[{k}]", s.name, e.name);
                    check_call(&field, c, s)?;
                    if let Some(m) = &c.on_miss {
                        check_call(&format!("{field}.on_miss"), m, s)?;
                    }
                }
            }
        }
        if self.traffic.rps < 0.0 || (self.traffic.rps == 0.0 && self.traffic.users == 0) {
            return Err(invalid(file, "traffic.rps", "set a positive rps, or users"));
        }
        if let Some(t) = &self.traffic.think {
            dur("traffic.think", t)?;
        }
        if self.traffic.mix.is_empty() {
            return Err(invalid(file, "traffic.mix", "needs at least one entry point"));
        }
        for (i, m) in self.traffic.mix.iter().enumerate() {
            if !endpoints.contains(&m.endpoint) {
                return Err(invalid(
                    file,
                    format!("traffic.mix[{i}].endpoint"),
                    format!("no endpoint {:?}", m.endpoint),
                ));
            }
        }
        for (i, sp) in self.traffic.spikes.iter().enumerate() {
            dur(&format!("traffic.spikes[{i}].at"), &sp.at)?;
            dur(&format!("traffic.spikes[{i}].duration"), &sp.duration)?;
        }
        for (i, fa) in self.faults.iter().enumerate() {
            let f = format!("faults[{i}] ({:?})", fa.kind);
            if !names.contains(&fa.service) {
                return Err(invalid(file, format!("{f}.service"), format!("no service {:?}", fa.service)));
            }
            dur(&format!("{f}.at"), &fa.at)?;
            if let Some(d) = &fa.delay {
                dur(&format!("{f}.delay"), d)?;
            }
            if let Some(u) = &fa.until {
                dur(&format!("{f}.until"), u)?;
            }
            for inst in fa.instance.iter().chain(&fa.instances) {
                if !instances.contains(inst) {
                    return Err(invalid(file, format!("{f}.instance"), format!("no instance {inst:?}")));
                }
            }
        }
        for (i, c) in self.changes.iter().enumerate() {
            dur(&format!("changes[{i}].at"), &c.at)?;
            if faultline_model::ChangeKind::parse(&c.kind).is_none() {
                return Err(invalid(
                    file,
                    format!("changes[{i}].kind"),
                    format!("unknown kind {:?}", c.kind),
                ));
            }
        }
        Ok(())
    }
}

/// Finds the line a validation error is about: where the offending value (the first quoted text
/// of the message) or, failing that, the field's own key is written.
fn locate(e: ScenarioError, text: &str) -> ScenarioError {
    let ScenarioError::Invalid { file, line: None, field, message } = e else { return e };
    let quoted = message.split('"').nth(1).filter(|q| !q.is_empty()).map(|q| format!("\"{q}\""));
    let key = field.rsplit('.').next().unwrap_or(&field).split(['[', ' ']).next().unwrap_or("").to_string();
    let find = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1);
    let line = quoted.as_deref().and_then(find).or_else(|| {
        (!key.is_empty())
            .then(|| {
                text.lines()
                    .position(|l| {
                        l.trim_start().starts_with(&format!("{key} "))
                            || l.trim_start().starts_with(&format!("{key}="))
                    })
                    .map(|i| i + 1)
            })
            .flatten()
    });
    ScenarioError::Invalid { file, line, field, message }
}

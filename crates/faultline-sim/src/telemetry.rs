//! What the simulated system emits: server and client spans, logs (with the vague messages real
//! systems write, joined to traces by ids), per-instance metrics every scrape, as faultline's model.

use crate::engine::{Outcome, Sim, SCRAPE_NS};
use crate::scenario::{FaultKind, ServiceKind};
use faultline_model::metric::{MetricData, MetricKind, MetricPoint, Temporality};
use faultline_model::{Attributes, LogRecord, ResourceInfo, Span, SpanId, SpanKind, StatusCode, TraceId};
use serde_json::Value;
use std::sync::Arc;

/// A chunk of telemetry handed to the output.
pub enum Chunk {
    Spans(Vec<Span>),
    Logs(Vec<LogRecord>),
    Metrics(Vec<MetricPoint>),
}

/// Buffers telemetry and hands it to a sink in chunks.
pub struct Recorder<'a> {
    sink: &'a mut dyn FnMut(Chunk),
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    metrics: Vec<MetricPoint>,
    resources: Vec<Option<(String, Arc<ResourceInfo>)>>,
    last_busy: Vec<i64>,
    pub spans_emitted: u64,
}

const CHUNK: usize = 2048;

/// A step of a request that its service logs (`Scenario::request_logs`), as application code
/// logs its progress: `[handler][step] values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The request's own work is done; its calls come next.
    Received,
    /// The call it is on answered without error.
    Answered,
    /// It answers without error.
    Done,
    /// The call it is on answered with a value it cannot use: it gives up (logged even without
    /// `request_logs`, as a warning).
    Unexpected,
}

/// Source lines of the stack frames a thrown exception's trace shows.
const FRAME_LINES: [u32; 3] = [88, 142, 451];

fn attrs(pairs: &[(&str, Value)]) -> Attributes {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

impl<'a> Recorder<'a> {
    pub fn new(sink: &'a mut dyn FnMut(Chunk)) -> Self {
        Recorder {
            sink,
            spans: Vec::new(),
            logs: Vec::new(),
            metrics: Vec::new(),
            resources: Vec::new(),
            last_busy: Vec::new(),
            spans_emitted: 0,
        }
    }

    /// The resource of an instance (rebuilt when its version changes).
    fn resource(&mut self, sim: &Sim, inst: usize) -> Arc<ResourceInfo> {
        if self.resources.len() < sim.insts.len() {
            self.resources.resize(sim.insts.len(), None);
        }
        let i = &sim.insts[inst];
        let version = self.version_of(sim, inst);
        if let Some((v, r)) = &self.resources[inst] {
            if *v == version {
                return r.clone();
            }
        }
        let svc = &sim.svcs[i.svc];
        let mut a = attrs(&[
            ("service.name", svc.name.clone().into()),
            ("service.instance.id", i.id.clone().into()),
            ("service.version", version.clone().into()),
            ("host.name", i.host.clone().into()),
            ("telemetry.sdk.language", "go".into()),
        ]);
        if let Some(ip) = &i.ip {
            a.insert("host.ip".into(), ip.clone().into());
        }
        if let Some(z) = &i.zone {
            a.insert("cloud.availability_zone".into(), z.clone().into());
        }
        if let Some(r) = &i.region {
            a.insert("cloud.region".into(), r.clone().into());
        }
        let r = Arc::new(ResourceInfo {
            scope_name: "faultline-sim".into(),
            scope_version: "1".into(),
            ..ResourceInfo::from_attributes(a)
        });
        self.resources[inst] = Some((version, r.clone()));
        r
    }

    fn version_of(&self, sim: &Sim, inst: usize) -> String {
        let now = sim.now;
        for f in &sim.faults {
            if f.kind == FaultKind::BadDeploy
                && f.active(now)
                && f.svc == sim.insts[inst].svc
                && (f.insts.is_empty() || f.insts.contains(&inst))
            {
                return f.version.clone().unwrap_or_else(|| format!("{}-next", sim.insts[inst].version));
            }
        }
        sim.insts[inst].version.clone()
    }

    fn push_span(&mut self, s: Span) {
        self.spans.push(s);
        self.spans_emitted += 1;
        if self.spans.len() >= CHUNK {
            (self.sink)(Chunk::Spans(std::mem::take(&mut self.spans)));
        }
    }

    fn log(
        &mut self,
        sim: &Sim,
        inst: usize,
        severity: i32,
        body: String,
        trace: Option<([u8; 16], [u8; 8])>,
        extra: Attributes,
    ) {
        let resource = self.resource(sim, inst);
        let t = sim.now + sim.insts[inst].clock_offset;
        self.logs.push(LogRecord {
            time_unix_nano: t,
            observed_time_unix_nano: t,
            severity_number: severity,
            severity_text: faultline_model::log::severity_text_of(severity).to_string(),
            body,
            attributes: extra,
            trace_id: trace.map(|t| TraceId(t.0)),
            span_id: trace.map(|t| SpanId(t.1)),
            flags: 0,
            event_name: String::new(),
            resource,
        });
        if self.logs.len() >= CHUNK {
            (self.sink)(Chunk::Logs(std::mem::take(&mut self.logs)));
        }
    }

    /// Logs a step of request `r` in its server span (instrumented services only).
    pub(crate) fn request_step(&mut self, sim: &Sim, r: usize, step: Step) {
        let q = &sim.reqs[r];
        let svc = &sim.svcs[q.svc];
        if !svc.kind.instrumented() {
            return;
        }
        let ep = &svc.endpoints[q.ep].name;
        let ms = |from: i64| (sim.now - from) as f64 / 1e6;
        let callee = || {
            let c = &svc.endpoints[q.ep].calls[q.call_idx];
            let c = match (&c.on_miss, q.miss_pending) {
                (Some(m), true) => m.as_ref(),
                _ => c,
            };
            (sim.svcs[c.svc].name.clone(), sim.svcs[c.svc].endpoints[c.ep].name.clone())
        };
        let id = u32::from_be_bytes([q.trace_id[0], q.trace_id[1], q.trace_id[2], q.trace_id[3]]);
        let (severity, body) = match step {
            Step::Received => (9, format!("[{ep}][received] request {id:08x} accepted")),
            Step::Answered => {
                let (to, op) = callee();
                (9, format!("[{ep}][{to}] {op} answered in {:.1} ms", ms(q.call_start)))
            }
            Step::Done => (9, format!("[{ep}][done] answered after {:.1} ms", ms(q.arrive))),
            Step::Unexpected => {
                (13, format!("[{ep}][check] unexpected value {id}, request {id:08x} abandoned"))
            }
        };
        let span = (q.trace_id, q.span_id);
        self.log(sim, q.inst, severity, body, Some(span), Attributes::new());
    }

    /// The message a thrown exception is logged with: its first line and a stack trace.
    fn stack_trace(sim: &Sim, r: usize, message: &str) -> String {
        let q = &sim.reqs[r];
        let class: String = sim.svcs[q.svc]
            .name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
            .collect();
        let mut out = format!("Unhandled exception: java.lang.{message}");
        for (frame, line) in ["handle", "process", "dispatch"].iter().zip(FRAME_LINES) {
            out += &format!("\n\tat com.example.{class}Controller.{frame}({class}Controller.java:{line})");
        }
        out
    }

    /// The server span of a request that has answered (instrumented services only).
    pub(crate) fn server_span(&mut self, sim: &Sim, r: usize) {
        let q = &sim.reqs[r];
        let svc = &sim.svcs[q.svc];
        if !svc.kind.instrumented() {
            return;
        }
        let ep = &svc.endpoints[q.ep];
        let off = sim.insts[q.inst].clock_offset;
        let o = &q.outcome;
        let mut a = Attributes::new();
        if svc.kind == ServiceKind::Grpc {
            a.insert("rpc.system".into(), "grpc".into());
            a.insert("rpc.method".into(), ep.name.clone().into());
            a.insert(
                "rpc.grpc.status_code".into(),
                (if o.ok {
                    0
                } else if o.status == 504 {
                    4
                } else {
                    13
                })
                .into(),
            );
        } else {
            let (method, route) = ep.name.split_once(' ').unwrap_or(("GET", ep.name.as_str()));
            a.insert("http.request.method".into(), method.into());
            a.insert("http.route".into(), route.into());
            a.insert("http.response.status_code".into(), o.status.into());
        }
        let error = !o.ok && (o.status >= 500 || svc.kind == ServiceKind::Grpc);
        let resource = self.resource(sim, q.inst);
        let span = Span {
            trace_id: TraceId(q.trace_id),
            span_id: SpanId(q.span_id),
            parent_span_id: q.parent_span.map(SpanId),
            trace_state: String::new(),
            flags: 1,
            name: ep.name.clone(),
            kind: if q.consumer { SpanKind::Consumer } else { SpanKind::Server },
            start_unix_nano: q.arrive + off,
            end_unix_nano: sim.now + off,
            status_code: if error { StatusCode::Error } else { StatusCode::Unset },
            status_message: if error { o.message.clone() } else { String::new() },
            attributes: a,
            events: vec![],
            links: vec![],
            resource,
        };
        self.push_span(span);
        if error {
            let (trace, span) = (q.trace_id, q.span_id);
            let msg = if o.message == "internal error" {
                format!("unhandled exception while serving {}", ep.name)
            } else if o.thrown {
                Self::stack_trace(sim, r, &o.message)
            } else {
                o.message.clone()
            };
            self.log(
                sim,
                q.inst,
                17,
                msg,
                Some((trace, span)),
                attrs(&[("http.route", ep.name.clone().into())]),
            );
        }
    }

    /// The client span of a call attempt that got its answer (or gave up).
    pub(crate) fn client_span(&mut self, sim: &Sim, r: usize, o: &Outcome) {
        let q = &sim.reqs[r];
        let c = &sim.svcs[q.svc].endpoints[q.ep].calls[q.call_idx];
        let c = match (&c.on_miss, q.miss_pending) {
            (Some(m), true) => m.as_ref(),
            _ => c,
        };
        let target = &sim.svcs[c.svc];
        let tep = &target.endpoints[c.ep];
        let off = sim.insts[q.inst].clock_offset;
        let mut a = attrs(&[
            ("server.address", target.name.clone().into()),
            ("peer.service", target.name.clone().into()),
        ]);
        if let Some(ti) = q.target_inst {
            let t = &sim.insts[ti];
            let addr = match (&t.ip, t.port) {
                (Some(ip), Some(p)) => format!("{ip}:{p}"),
                (Some(ip), None) => ip.clone(),
                _ => t.id.clone(),
            };
            a.insert("network.peer.address".into(), addr.into());
        }
        let name = match target.kind {
            ServiceKind::Database => {
                a.insert("db.system".into(), "postgresql".into());
                if let Some(qt) = &tep.query {
                    a.insert("db.query.text".into(), qt.clone().into());
                }
                tep.name.clone()
            }
            ServiceKind::Cache => {
                a.insert("db.system".into(), "redis".into());
                a.insert("cache.hit".into(), o.hit.into());
                tep.name.clone()
            }
            ServiceKind::Grpc => {
                a.insert("rpc.system".into(), "grpc".into());
                a.insert("rpc.method".into(), tep.name.clone().into());
                tep.name.clone()
            }
            ServiceKind::Queue => {
                a.insert("messaging.system".into(), "kafka".into());
                a.insert("messaging.destination.name".into(), target.name.clone().into());
                a.insert("messaging.operation.type".into(), "send".into());
                format!("send {}", target.name)
            }
            _ => {
                let (method, _) = tep.name.split_once(' ').unwrap_or(("GET", ""));
                a.insert("http.request.method".into(), method.into());
                if o.status != 0 {
                    a.insert("http.response.status_code".into(), o.status.into());
                }
                tep.name.clone()
            }
        };
        if q.attempt > 0 {
            a.insert("http.request.resend_count".into(), q.attempt.into());
        }
        let resource = self.resource(sim, q.inst);
        let span = Span {
            trace_id: TraceId(q.trace_id),
            span_id: SpanId(q.client_span),
            parent_span_id: Some(SpanId(q.span_id)),
            trace_state: String::new(),
            flags: 1,
            name,
            kind: if target.kind == ServiceKind::Queue { SpanKind::Producer } else { SpanKind::Client },
            start_unix_nano: q.call_start + off,
            end_unix_nano: sim.now + off,
            status_code: if o.ok { StatusCode::Unset } else { StatusCode::Error },
            status_message: if o.ok { String::new() } else { o.message.clone() },
            attributes: a,
            events: vec![],
            links: vec![],
            resource,
        };
        self.push_span(span);
        if !o.ok {
            // The vague messages real clients log, with the trace ids that explain them.
            let body = match o.status {
                504 => "connection timeout".to_string(),
                503 if o.message.contains("dns") => {
                    format!("dial tcp: lookup {}: no such host", target.name)
                }
                503 => "connection refused".to_string(),
                _ => "invalid response from server".to_string(),
            };
            let (trace, span) = (q.trace_id, q.client_span);
            self.log(
                sim,
                q.inst,
                17,
                body,
                Some((trace, span)),
                attrs(&[("peer.service", target.name.clone().into())]),
            );
        }
    }

    pub(crate) fn pool_timeout(&mut self, sim: &Sim, r: usize) {
        let q = &sim.reqs[r];
        let (trace, span) = (q.trace_id, q.span_id);
        self.log(
            sim,
            q.inst,
            17,
            "timeout acquiring connection from pool".into(),
            Some((trace, span)),
            Attributes::new(),
        );
    }

    fn gauge(&mut self, sim: &Sim, inst: usize, name: &str, unit: &str, value: f64, extra: Attributes) {
        let resource = self.resource(sim, inst);
        self.metrics.push(MetricPoint {
            name: name.into(),
            description: String::new(),
            unit: unit.into(),
            kind: MetricKind::Gauge,
            temporality: Temporality::Unspecified,
            is_monotonic: false,
            time_unix_nano: sim.now + sim.insts[inst].clock_offset,
            start_time_unix_nano: 0,
            attributes: extra,
            flags: 0,
            data: MetricData::Number { value, is_int: false },
            resource,
        });
    }

    fn counter(&mut self, sim: &Sim, inst: usize, name: &str, value: u64) {
        let resource = self.resource(sim, inst);
        self.metrics.push(MetricPoint {
            name: name.into(),
            description: String::new(),
            unit: "1".into(),
            kind: MetricKind::Sum,
            temporality: Temporality::Cumulative,
            is_monotonic: true,
            time_unix_nano: sim.now + sim.insts[inst].clock_offset,
            start_time_unix_nano: sim.start,
            attributes: Attributes::new(),
            flags: 0,
            data: MetricData::Number { value: value as f64, is_int: true },
            resource,
        });
    }

    /// Per-instance resource metrics, derived from the model's state.
    pub(crate) fn scrape(&mut self, sim: &mut Sim) {
        if self.last_busy.len() < sim.insts.len() {
            self.last_busy.resize(sim.insts.len(), 0);
        }
        for inst in 0..sim.insts.len() {
            let svc = sim.insts[inst].svc;
            // Busy time since the last scrape, as a share of the workers' capacity.
            let i = &mut sim.insts[inst];
            i.busy_integral += i.busy as i64 * (sim.now - i.last_change);
            i.last_change = sim.now;
            let busy = i.busy_integral - self.last_busy[inst];
            self.last_busy[inst] = i.busy_integral;
            // Utilisation of the CPU the instance may use: a capped one saturates its limit and
            // shows a flat line there.
            let workers = sim.effective_workers(inst) as f64;
            let cpu = 0.05 + 0.75 * (busy as f64 / (workers * SCRAPE_NS as f64)).min(1.0);
            let now = sim.now;
            // Memory: steady, or growing under a leak until the process is killed and restarts.
            let leaking = sim
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::MemoryLeak && f.active(now) && f.insts.contains(&inst));
            let i = &mut sim.insts[inst];
            let mut restarted = false;
            if leaking {
                i.memory_mb += 40.0;
                if i.memory_mb > 2048.0 {
                    i.memory_mb = 256.0;
                    i.down_until = now + 20_000_000_000;
                    restarted = true;
                }
            }
            let (mem, requests, errors, queue) = (i.memory_mb, i.requests, i.errors, i.queue.len());
            let pools: Vec<(u32, u32, usize)> =
                i.pools.iter().map(|p| (p.in_use, p.leaked, p.waiters.len())).collect();
            let (hits, lookups) = (i.cache_hits, i.cache_lookups);
            let disk_full = sim
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::DiskFull && f.active(now) && f.insts.contains(&inst));
            let instrumented =
                sim.svcs[svc].kind.instrumented() || sim.svcs[svc].kind == ServiceKind::Database;
            if !instrumented && sim.svcs[svc].kind != ServiceKind::Cache {
                continue;
            }
            self.gauge(sim, inst, "process.cpu.utilization", "1", cpu, Attributes::new());
            self.gauge(sim, inst, "process.memory.usage", "By", mem * 1048576.0, Attributes::new());
            self.gauge(
                sim,
                inst,
                "system.filesystem.utilization",
                "1",
                if disk_full { 1.0 } else { 0.42 },
                Attributes::new(),
            );
            self.gauge(sim, inst, "server.queue.depth", "{request}", queue as f64, Attributes::new());
            let mut fds = 64.0 + queue as f64;
            for (p, (used, leaked, waiting)) in pools.iter().enumerate() {
                let name = sim.svcs[svc].pools[p].0.clone();
                let pool_attr = attrs(&[("db.client.connection.pool.name", name.into())]);
                self.gauge(
                    sim,
                    inst,
                    "db.client.connection.count",
                    "{connection}",
                    (used + leaked) as f64,
                    pool_attr.clone(),
                );
                self.gauge(
                    sim,
                    inst,
                    "db.client.connection.pending_requests",
                    "{request}",
                    *waiting as f64,
                    pool_attr,
                );
                fds += (used + leaked) as f64;
            }
            self.gauge(sim, inst, "process.open_file_descriptor.count", "{fd}", fds, Attributes::new());
            self.counter(sim, inst, "server.request.count", requests);
            self.counter(sim, inst, "server.error.count", errors);
            if lookups > 0 {
                self.gauge(
                    sim,
                    inst,
                    "cache.hit_ratio",
                    "1",
                    hits as f64 / lookups as f64,
                    Attributes::new(),
                );
            }
            if restarted {
                self.log(
                    sim,
                    inst,
                    21,
                    "OOMKilled: container exceeded its memory limit, restarting".into(),
                    None,
                    Attributes::new(),
                );
            }
            if disk_full {
                self.log(
                    sim,
                    inst,
                    17,
                    "write failed: no space left on device".into(),
                    None,
                    Attributes::new(),
                );
            }
        }
        (self.sink)(Chunk::Metrics(std::mem::take(&mut self.metrics)));
    }

    pub(crate) fn finish(&mut self, _sim: &Sim) {
        if !self.spans.is_empty() {
            (self.sink)(Chunk::Spans(std::mem::take(&mut self.spans)));
        }
        if !self.logs.is_empty() {
            (self.sink)(Chunk::Logs(std::mem::take(&mut self.logs)));
        }
        if !self.metrics.is_empty() {
            (self.sink)(Chunk::Metrics(std::mem::take(&mut self.metrics)));
        }
    }
}

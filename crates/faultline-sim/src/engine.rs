//! The discrete-event simulation. Requests arrive, wait for a worker of an instance, spend their own
//! time, call other services (through connection pools, with timeouts and retries), and answer.
//! Nothing is painted on: a slow dependency makes callers hold workers and connections longer,
//! queues grow, timeouts fire upstream and retries add load, because that is what the model does.

use crate::scenario::{Call, FaultKind, Scenario, ServiceKind};
use crate::telemetry::{Recorder, Step};
use faultline_model::time::parse_duration_ns;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

const MS: i64 = 1_000_000;
/// One-way network latency between instances.
const NET_NS: i64 = 300_000;
/// Metric scrape interval.
pub const SCRAPE_NS: i64 = 15_000 * MS;

pub(crate) fn dur(s: &str) -> i64 {
    parse_duration_ns(s).unwrap_or(0)
}

fn signed_dur(s: &str) -> i64 {
    match s.strip_prefix('-') {
        Some(rest) => -dur(rest),
        None => dur(s),
    }
}

pub(crate) struct CallR {
    pub svc: usize,
    pub ep: usize,
    pub timeout: i64,
    pub retries: u32,
    pub backoff: i64,
    pub probability: f64,
    pub on_miss: Option<Box<CallR>>,
    pub pool: Option<usize>,
    /// Consecutive failures that open the breaker, and for how long.
    pub breaker: Option<(u32, i64)>,
}

pub(crate) struct Ep {
    pub name: String,
    mu: f64,
    sigma: f64,
    pub error_rate: f64,
    pub calls: Vec<CallR>,
    pub query: Option<String>,
}

pub(crate) struct Svc {
    pub name: String,
    pub kind: ServiceKind,
    pub workers: u32,
    pub queue: u32,
    pub hit_rate: f64,
    pub instances: Vec<usize>,
    pub endpoints: Vec<Ep>,
    pub pools: Vec<(String, u32, i64)>,
    /// Queues: the consumer (service, endpoint).
    pub consumer: Option<(usize, usize)>,
    rr: usize,
}

pub(crate) struct PoolState {
    pub in_use: u32,
    pub leaked: u32,
    pub waiters: VecDeque<(usize, u64)>,
}

pub(crate) struct Inst {
    pub svc: usize,
    pub id: String,
    pub host: String,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub zone: Option<String>,
    pub region: Option<String>,
    pub version: String,
    pub clock_offset: i64,
    pub in_pool: bool,
    pub busy: u32,
    pub queue: VecDeque<usize>,
    pub pools: Vec<PoolState>,
    // Counters since start, and the busy-time integral, for metrics.
    pub requests: u64,
    pub errors: u64,
    pub busy_integral: i64,
    pub last_change: i64,
    pub cache_hits: u64,
    pub cache_lookups: u64,
    pub memory_mb: f64,
    pub down_until: i64,
    /// Circuit breakers by target (service, endpoint): consecutive failures, open until.
    pub breakers: HashMap<(usize, usize), (u32, i64)>,
}

/// What an answer carried.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub ok: bool,
    /// HTTP status (or the nearest one) of the answer.
    pub status: u16,
    pub message: String,
    /// A cache answered: was it a hit?
    pub hit: bool,
    /// The code threw part-way (a code exception fault): logged with its stack trace.
    pub thrown: bool,
    /// An answer without error that carries a wrong value (a bad response fault).
    pub wrong: bool,
}

impl Outcome {
    fn ok() -> Self {
        Outcome { ok: true, status: 200, message: String::new(), hit: true, thrown: false, wrong: false }
    }

    fn err(status: u16, message: impl Into<String>) -> Self {
        Outcome { ok: false, status, message: message.into(), hit: false, thrown: false, wrong: false }
    }
}

pub(crate) struct Req {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The client span of the caller that this server span is a child of.
    pub parent_span: Option<[u8; 8]>,
    pub parent: Option<(usize, u64)>,
    pub svc: usize,
    pub ep: usize,
    pub inst: usize,
    pub arrive: i64,
    pub started: bool,
    pub call_idx: usize,
    /// A cache miss: the fallback call of the current call is due.
    pub miss_pending: bool,
    pub attempt: u32,
    /// Globally unique per call attempt: a late answer for a reused slot never matches.
    pub call_seq: u64,
    pub waiting: bool,
    pub call_start: i64,
    pub client_span: [u8; 8],
    pub held_pool: Option<usize>,
    pub outcome: Outcome,
    pub target_inst: Option<usize>,
    /// Processing a message from a queue (a consumer span, nobody waits for the answer).
    pub consumer: bool,
    /// The index of the call before which the code throws (a code exception fault); past the
    /// last call, it throws once its calls are done.
    pub throw_at: Option<usize>,
}

impl Req {
    /// A request arriving at `(service, endpoint, instance)`; `caller` is the client span, the
    /// calling request and its call attempt, for requests made by another request.
    fn new(
        trace_id: [u8; 16],
        span_id: [u8; 8],
        caller: Option<([u8; 8], usize, u64)>,
        (svc, ep, inst): (usize, usize, usize),
        arrive: i64,
    ) -> Req {
        Req {
            trace_id,
            span_id,
            parent_span: caller.map(|c| c.0),
            parent: caller.map(|c| (c.1, c.2)),
            svc,
            ep,
            inst,
            arrive,
            started: false,
            call_idx: 0,
            miss_pending: false,
            attempt: 0,
            call_seq: 0,
            waiting: false,
            call_start: 0,
            client_span: [0; 8],
            held_pool: None,
            outcome: Outcome::ok(),
            target_inst: None,
            consumer: false,
            throw_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    NextArrival,
    UserArrival,
    /// A queue acknowledged a message.
    Acked {
        req: usize,
        seq: u64,
    },
    Arrive(usize),
    Work(usize),
    ChildDone {
        req: usize,
        seq: u64,
        key: u64,
    },
    Failed {
        req: usize,
        seq: u64,
        kind: u8,
    },
    Timeout {
        req: usize,
        seq: u64,
    },
    PoolTimeout {
        req: usize,
        seq: u64,
    },
    Retry(usize),
    Scrape,
    FaultStart(usize),
}

pub(crate) struct FaultR {
    pub kind: FaultKind,
    pub svc: usize,
    pub insts: Vec<usize>,
    pub start: i64,
    pub end: i64,
    pub factor: f64,
    pub status: u16,
    pub error_rate: f64,
    pub zones: (String, String),
    pub pool: Option<usize>,
    pub retries: u32,
    pub ttl: i64,
    #[allow(dead_code)]
    // memory-leak restarts use the memory limit; period is for the next fault kinds
    pub period: i64,
    pub offset: i64,
    /// Added to each operation of a slow dependency.
    pub delay: i64,
    pub version: Option<String>,
}

impl FaultR {
    pub(crate) fn active(&self, t: i64) -> bool {
        t >= self.start && t < self.end
    }
}

/// Child outcomes waiting to be delivered (kept apart so events stay small and ordered).
pub struct Sim {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) rng: StdRng,
    pub(crate) svcs: Vec<Svc>,
    pub(crate) insts: Vec<Inst>,
    pub(crate) faults: Vec<FaultR>,
    events: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    seq: u64,
    pub(crate) reqs: Vec<Req>,
    free: Vec<usize>,
    results: HashMap<u64, Outcome>,
    keys: u64,
    rps: f64,
    spikes: Vec<(i64, i64, f64)>,
    mix: Vec<(usize, usize, f64)>,
    mix_total: f64,
    noise: f64,
    think: i64,
    closed_loop: bool,
    /// Services log each request's steps (`Scenario::request_logs`).
    pub(crate) request_logs: bool,
    pub(crate) now: i64,
}

fn lognormal_params(median_ns: i64, p99_ns: i64) -> (f64, f64) {
    let m = (median_ns.max(1000)) as f64;
    let p = (p99_ns.max(median_ns + 1)) as f64;
    (m.ln(), ((p / m).ln() / 2.326).max(0.01))
}

impl Sim {
    pub fn new(sc: &Scenario, seed: u64, duration_ns: Option<i64>, rps: Option<f64>) -> Sim {
        let start = sc.start_ns();
        let end = start + duration_ns.unwrap_or_else(|| dur(&sc.duration));
        let mut svc_index = HashMap::new();
        for (i, s) in sc.services.iter().enumerate() {
            svc_index.insert(s.name.clone(), i);
        }
        let ep_of = |to: &str| -> (usize, usize) {
            let (s, e) = to.split_once(':').expect("validated service:endpoint");
            let si = svc_index[s];
            let ei = sc.services[si].endpoints.iter().position(|x| x.name == e).expect("validated endpoint");
            (si, ei)
        };
        fn resolve(c: &Call, ep_of: &dyn Fn(&str) -> (usize, usize), pools: &[(String, u32, i64)]) -> CallR {
            let (svc, ep) = ep_of(&c.to);
            CallR {
                svc,
                ep,
                timeout: c.timeout.as_deref().map(dur).unwrap_or(30_000 * MS),
                retries: c.retries,
                backoff: c.backoff.as_deref().map(dur).unwrap_or(0),
                probability: c.probability,
                on_miss: c.on_miss.as_ref().map(|m| Box::new(resolve(m, ep_of, pools))),
                pool: c.pool.as_ref().and_then(|p| pools.iter().position(|(n, _, _)| n == p)),
                breaker: c.circuit_breaker.as_ref().map(|b| (b.failures, dur(&b.open_for))),
            }
        }
        let mut svcs = Vec::new();
        let mut insts = Vec::new();
        for (si, s) in sc.services.iter().enumerate() {
            let pools: Vec<(String, u32, i64)> = s
                .pools
                .iter()
                .map(|(n, p)| (n.clone(), p.size, p.acquire_timeout.as_deref().map(dur).unwrap_or(1000 * MS)))
                .collect();
            let endpoints = s
                .endpoints
                .iter()
                .map(|e| {
                    let (mu, sigma) = lognormal_params(dur(&e.latency.median), dur(&e.latency.p99));
                    Ep {
                        name: e.name.clone(),
                        mu,
                        sigma,
                        error_rate: e.error_rate,
                        calls: e.calls.iter().map(|c| resolve(c, &ep_of, &pools)).collect(),
                        query: e.query.clone(),
                    }
                })
                .collect();
            let mut ids = Vec::new();
            for inst in &s.instances {
                ids.push(insts.len());
                insts.push(Inst {
                    svc: si,
                    id: inst.id.clone(),
                    host: inst.host.clone().unwrap_or_else(|| inst.id.clone()),
                    ip: inst.ip.clone(),
                    port: inst.port,
                    zone: inst.zone.clone(),
                    region: inst.region.clone(),
                    version: inst.version.clone().unwrap_or_else(|| "1.0.0".into()),
                    clock_offset: inst.clock_offset.as_deref().map(signed_dur).unwrap_or(0),
                    in_pool: inst.in_pool,
                    busy: 0,
                    queue: VecDeque::new(),
                    pools: pools
                        .iter()
                        .map(|_| PoolState { in_use: 0, leaked: 0, waiters: VecDeque::new() })
                        .collect(),
                    requests: 0,
                    errors: 0,
                    busy_integral: 0,
                    last_change: start,
                    cache_hits: 0,
                    cache_lookups: 0,
                    memory_mb: 256.0,
                    down_until: 0,
                    breakers: HashMap::new(),
                });
            }
            svcs.push(Svc {
                name: s.name.clone(),
                kind: s.kind,
                workers: s.workers,
                queue: s.queue,
                hit_rate: s.hit_rate.unwrap_or(0.9),
                instances: ids,
                endpoints,
                pools,
                consumer: s.consumer.as_deref().map(ep_of),
                rr: 0,
            });
        }
        let inst_index: HashMap<String, usize> =
            insts.iter().enumerate().map(|(i, x)| (x.id.clone(), i)).collect();
        let faults = sc
            .faults
            .iter()
            .map(|f| {
                let svc = svc_index[&f.service];
                let mut ids: Vec<usize> =
                    f.instance.iter().chain(&f.instances).map(|i| inst_index[i]).collect();
                if ids.is_empty()
                    && matches!(
                        f.kind,
                        FaultKind::ClockSkew
                            | FaultKind::MemoryLeak
                            | FaultKind::DiskFull
                            | FaultKind::ConnectionLeak
                    )
                {
                    ids.push(svcs[svc].instances[0]);
                }
                FaultR {
                    kind: f.kind,
                    svc,
                    insts: ids,
                    start: start + dur(&f.at),
                    end: f.until.as_deref().map(|u| start + dur(u)).unwrap_or(i64::MAX),
                    factor: f.factor.unwrap_or(match f.kind {
                        FaultKind::SlowDependency if f.delay.is_some() => 1.0,
                        FaultKind::SlowDependency => 20.0,
                        FaultKind::CpuCap => 0.25,
                        _ => 1.0,
                    }),
                    status: f.status.unwrap_or(404),
                    error_rate: f.error_rate.unwrap_or(0.5),
                    zones: (f.zone.clone().unwrap_or_default(), f.other_zone.clone().unwrap_or_default()),
                    pool: f
                        .pool
                        .as_ref()
                        .and_then(|p| svcs[svc].pools.iter().position(|(n, _, _)| n == p))
                        .or(Some(0)),
                    retries: f.retries.unwrap_or(5),
                    ttl: f.ttl.as_deref().map(dur).unwrap_or(300_000 * MS),
                    period: f.period.as_deref().map(dur).unwrap_or(600_000 * MS),
                    offset: f.offset.as_deref().map(signed_dur).unwrap_or(0),
                    delay: f.delay.as_deref().map(dur).unwrap_or(0),
                    version: f.version.clone(),
                }
            })
            .collect::<Vec<_>>();
        let mix: Vec<(usize, usize, f64)> = sc
            .traffic
            .mix
            .iter()
            .map(|m| {
                let (s, e) = ep_of(&m.endpoint);
                (s, e, m.weight)
            })
            .collect();
        let mix_total = mix.iter().map(|m| m.2).sum::<f64>().max(1e-9);
        let mut sim = Sim {
            start,
            end,
            rng: StdRng::seed_from_u64(seed),
            svcs,
            insts,
            faults,
            events: BinaryHeap::new(),
            seq: 0,
            reqs: Vec::new(),
            free: Vec::new(),
            results: HashMap::new(),
            keys: 0,
            rps: rps.unwrap_or(sc.traffic.rps),
            spikes: sc
                .traffic
                .spikes
                .iter()
                .map(|s| (start + dur(&s.at), dur(&s.duration), s.multiplier))
                .collect(),
            mix,
            mix_total,
            noise: sc.noise_error_rate,
            think: sc.traffic.think.as_deref().map(dur).unwrap_or(1_000 * MS),
            closed_loop: sc.traffic.users > 0,
            request_logs: sc.request_logs,
            now: start,
        };
        if sim.rps > 0.0 {
            sim.push(start, Ev::NextArrival);
        }
        // Closed-loop users start spread over one think time.
        for _ in 0..sc.traffic.users {
            let t = start + (sim.rng.random::<f64>() * sim.think as f64) as i64;
            sim.push(t, Ev::UserArrival);
        }
        sim.push(start + SCRAPE_NS, Ev::Scrape);
        for i in 0..sim.faults.len() {
            let t = sim.faults[i].start;
            sim.push(t, Ev::FaultStart(i));
        }
        sim
    }

    fn push(&mut self, t: i64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((t, self.seq, ev)));
    }

    fn fault(&self, kind: FaultKind, pred: impl Fn(&FaultR) -> bool) -> Option<&FaultR> {
        let now = self.now;
        self.faults.iter().find(|f| f.kind == kind && f.active(now) && pred(f))
    }

    fn rate_at(&self, t: i64) -> f64 {
        let mut r = self.rps;
        for (at, d, m) in &self.spikes {
            if t >= *at && t < at + d {
                r *= m;
            }
        }
        for f in &self.faults {
            if f.kind == FaultKind::TrafficSpike && f.active(t) {
                r *= f.factor;
            }
        }
        r
    }

    fn alloc(&mut self, r: Req) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.reqs[i] = r;
                i
            }
            None => {
                self.reqs.push(r);
                self.reqs.len() - 1
            }
        }
    }

    fn sample_latency(&mut self, svc: usize, ep: usize, inst: usize) -> i64 {
        let e = &self.svcs[svc].endpoints[ep];
        let (mu, sigma) = (e.mu, e.sigma);
        // Box-Muller.
        let u1: f64 = self.rng.random::<f64>().max(1e-12);
        let u2: f64 = self.rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let mut ns = (mu + sigma * z).exp();
        let now = self.now;
        for f in &self.faults {
            if f.kind == FaultKind::SlowDependency && f.svc == svc && f.active(now) {
                ns = ns * f.factor + f.delay as f64;
            }
            if f.kind == FaultKind::CpuCap
                && f.svc == svc
                && f.active(now)
                && (f.insts.is_empty() || f.insts.contains(&inst))
            {
                ns /= f.factor.max(0.05);
            }
            if f.kind == FaultKind::MemoryLeak && f.insts.contains(&inst) && f.active(now) {
                // Garbage collection pressure grows with the heap.
                ns *= 1.0 + (self.insts[inst].memory_mb / 2048.0).powi(2);
            }
        }
        // Rare slow outliers, as real systems have.
        if self.rng.random_bool(0.001) {
            ns *= 10.0;
        }
        ns as i64
    }

    fn pick_instance(&mut self, svc: usize) -> Option<usize> {
        let now = self.now;
        let cands: Vec<usize> = self.svcs[svc]
            .instances
            .iter()
            .copied()
            // The load balancer's health check notices a dead instance only after a few seconds.
            .filter(|&i| self.insts[i].in_pool && self.insts[i].down_until - now <= 15_000 * MS)
            .collect();
        if cands.is_empty() {
            return None;
        }
        let s = &mut self.svcs[svc];
        s.rr = s.rr.wrapping_add(1);
        Some(cands[s.rr % cands.len()])
    }

    /// Runs the simulation to its end, recording telemetry.
    pub fn run(&mut self, rec: &mut Recorder<'_>) {
        while let Some(Reverse((t, _, ev))) = self.events.pop() {
            if t > self.end
                && !matches!(
                    ev,
                    Ev::ChildDone { .. }
                        | Ev::Work(_)
                        | Ev::Failed { .. }
                        | Ev::Timeout { .. }
                        | Ev::PoolTimeout { .. }
                        | Ev::Retry(_)
                        | Ev::Arrive(_)
                )
            {
                continue;
            }
            if t > self.end + 120_000 * MS {
                break;
            }
            self.now = t;
            match ev {
                Ev::NextArrival => self.next_arrival(),
                Ev::UserArrival => {
                    if self.now < self.end {
                        self.spawn_root();
                    }
                }
                Ev::Arrive(r) => self.arrive(r, rec),
                Ev::Work(r) => self.work_done(r, rec),
                Ev::ChildDone { req, seq, key } => {
                    let o = self.results.remove(&key).unwrap_or_else(|| Outcome::err(500, "lost answer"));
                    self.call_done(req, seq, o, rec);
                }
                Ev::Failed { req, seq, kind } => {
                    let o = match kind {
                        0 => Outcome::err(503, "connection refused"),
                        1 => Outcome::err(503, "dns lookup failed: no such host"),
                        3 => Outcome::err(503, "circuit breaker open"),
                        _ => Outcome::err(503, "connection timeout"),
                    };
                    self.call_done(req, seq, o, rec);
                }
                Ev::Acked { req, seq } => self.call_done(req, seq, Outcome::ok(), rec),
                Ev::Timeout { req, seq } => {
                    if self.reqs[req].waiting && self.reqs[req].call_seq == seq {
                        self.call_done(req, seq, Outcome::err(504, "timeout waiting for response"), rec);
                    }
                }
                Ev::PoolTimeout { req, seq } => self.pool_timeout(req, seq, rec),
                Ev::Retry(r) => self.start_call(r, rec),
                Ev::Scrape => {
                    rec.scrape(self);
                    let next = self.now + SCRAPE_NS;
                    if next <= self.end {
                        self.push(next, Ev::Scrape);
                    }
                }
                Ev::FaultStart(i) => self.fault_start(i, rec),
            }
        }
        rec.finish(self);
    }

    fn fault_start(&mut self, i: usize, _rec: &mut Recorder<'_>) {
        let f = &self.faults[i];
        match f.kind {
            FaultKind::LbBadBackend => {
                for &x in &f.insts.clone() {
                    self.insts[x].in_pool = true;
                }
            }
            FaultKind::ClockSkew => {
                let (insts, offset) = (f.insts.clone(), f.offset);
                for x in insts {
                    self.insts[x].clock_offset = offset;
                }
            }
            _ => {}
        }
    }

    fn next_arrival(&mut self) {
        let rate = self.rate_at(self.now).max(1e-6);
        let u: f64 = self.rng.random::<f64>().max(1e-12);
        let gap = (-u.ln() / rate * 1e9) as i64;
        let next = self.now + gap.max(1);
        if next < self.end {
            self.push(next, Ev::NextArrival);
        }
        self.spawn_root();
    }

    /// A request from a user at an entry point.
    fn spawn_root(&mut self) {
        let mut pick = self.rng.random::<f64>() * self.mix_total;
        let mut choice = self.mix[0];
        for m in &self.mix {
            if pick < m.2 {
                choice = *m;
                break;
            }
            pick -= m.2;
        }
        let (svc, ep, _) = choice;
        let Some(inst) = self.pick_instance(svc) else {
            return;
        };
        let trace_id: [u8; 16] = self.rng.random();
        let span_id: [u8; 8] = self.rng.random();
        let r = self.alloc(Req::new(trace_id, span_id, None, (svc, ep, inst), self.now));
        let now = self.now;
        self.push(now, Ev::Arrive(r));
    }

    pub(crate) fn effective_workers(&self, inst: usize) -> u32 {
        let svc = self.insts[inst].svc;
        let mut w = self.svcs[svc].workers;
        if let Some(f) =
            self.fault(FaultKind::CpuCap, |f| f.svc == svc && (f.insts.is_empty() || f.insts.contains(&inst)))
        {
            w = ((w as f64) * f.factor).max(1.0) as u32;
        }
        w
    }

    fn account(&mut self, inst: usize) {
        let i = &mut self.insts[inst];
        i.busy_integral += i.busy as i64 * (self.now - i.last_change);
        i.last_change = self.now;
    }

    fn arrive(&mut self, r: usize, rec: &mut Recorder<'_>) {
        let inst = self.reqs[r].inst;
        let svc = self.insts[inst].svc;
        self.insts[inst].requests += 1;
        // A backend added by a bad load balancer config answers at once with its status.
        if let Some(f) = self.fault(FaultKind::LbBadBackend, |f| f.insts.contains(&inst)) {
            let status = f.status;
            self.reqs[r].outcome = Outcome::err(
                status,
                format!("{} {}", status, if status == 404 { "Not Found" } else { "error" }),
            );
            self.reqs[r].started = false;
            self.finish(r, rec);
            return;
        }
        if self.insts[inst].down_until > self.now {
            self.reqs[r].outcome = Outcome::err(503, "connection refused");
            self.finish(r, rec);
            return;
        }
        if self.insts[inst].busy < self.effective_workers(inst) {
            self.begin(r);
        } else if (self.insts[inst].queue.len() as u32) < self.svcs[svc].queue {
            self.insts[inst].queue.push_back(r);
        } else {
            self.reqs[r].outcome = Outcome::err(503, "server overloaded: queue full");
            self.finish(r, rec);
        }
    }

    fn begin(&mut self, r: usize) {
        let inst = self.reqs[r].inst;
        self.account(inst);
        self.insts[inst].busy += 1;
        self.reqs[r].started = true;
        let (svc, ep) = (self.reqs[r].svc, self.reqs[r].ep);
        let lat = self.sample_latency(svc, ep, inst);
        let now = self.now;
        self.push(now + lat, Ev::Work(r));
    }

    /// The request's own work is done: it logs its arrival, learns whether its code will throw
    /// (a code exception fault), and makes its calls.
    fn work_done(&mut self, r: usize, rec: &mut Recorder<'_>) {
        if self.request_logs {
            rec.request_step(self, r, Step::Received);
        }
        let (svc, ep, inst) = (self.reqs[r].svc, self.reqs[r].ep, self.reqs[r].inst);
        let rate = self
            .fault(FaultKind::CodeException, |f| {
                f.svc == svc && (f.insts.is_empty() || f.insts.contains(&inst))
            })
            .map(|f| f.error_rate);
        if let Some(rate) = rate {
            if self.rng.random_bool(rate.clamp(0.0, 1.0)) {
                let calls = self.svcs[svc].endpoints[ep].calls.len();
                self.reqs[r].throw_at = Some(self.rng.random_range(0..=calls));
            }
        }
        self.next_call(r, rec);
    }

    fn next_call(&mut self, r: usize, rec: &mut Recorder<'_>) {
        if !self.reqs[r].outcome.ok {
            self.finish(r, rec);
            return;
        }
        let (svc, ep) = (self.reqs[r].svc, self.reqs[r].ep);
        loop {
            let idx = self.reqs[r].call_idx;
            if self.reqs[r].throw_at.is_some_and(|t| idx >= t) {
                let name = &self.svcs[svc].endpoints[ep].name;
                self.reqs[r].outcome = Outcome {
                    thrown: true,
                    ..Outcome::err(500, format!("NullPointerException in {name}: value is null"))
                };
                self.finish(r, rec);
                return;
            }
            let Some(c) = self.svcs[svc].endpoints[ep].calls.get(idx) else {
                self.finish(r, rec);
                return;
            };
            let p = c.probability;
            if self.reqs[r].miss_pending || p >= 1.0 || self.rng.random_bool(p.clamp(0.0, 1.0)) {
                break;
            }
            self.reqs[r].call_idx += 1;
        }
        self.reqs[r].attempt = 0;
        self.start_call(r, rec);
    }

    /// The call the request is on (the cache-miss fallback when one is due).
    fn current_call(&self, r: usize) -> &CallR {
        let q = &self.reqs[r];
        let c = &self.svcs[q.svc].endpoints[q.ep].calls[q.call_idx];
        match (&c.on_miss, q.miss_pending) {
            (Some(m), true) => m,
            _ => c,
        }
    }

    fn start_call(&mut self, r: usize, rec: &mut Recorder<'_>) {
        let inst = self.reqs[r].inst;
        let pool = self.current_call(r).pool;
        if let Some(p) = pool {
            if self.reqs[r].held_pool.is_none() {
                let size = self.svcs[self.insts[inst].svc].pools[p].1;
                let ps = &mut self.insts[inst].pools[p];
                if ps.in_use + ps.leaked >= size {
                    self.keys += 1;
                    let seq = self.keys;
                    self.reqs[r].call_seq = seq;
                    let ps = &mut self.insts[inst].pools[p];
                    ps.waiters.push_back((r, seq));
                    self.reqs[r].waiting = true;
                    self.reqs[r].call_start = self.now;
                    let t = self.now + self.svcs[self.insts[inst].svc].pools[p].2;
                    self.push(t, Ev::PoolTimeout { req: r, seq });
                    return;
                }
                ps.in_use += 1;
                self.reqs[r].held_pool = Some(p);
            }
        }
        self.send(r, rec);
    }

    fn pool_timeout(&mut self, r: usize, seq: u64, rec: &mut Recorder<'_>) {
        if !(self.reqs[r].waiting && self.reqs[r].call_seq == seq && self.reqs[r].held_pool.is_none()) {
            return;
        }
        let inst = self.reqs[r].inst;
        for ps in &mut self.insts[inst].pools {
            ps.waiters.retain(|w| w.0 != r);
        }
        self.reqs[r].waiting = false;
        rec.pool_timeout(self, r);
        self.reqs[r].outcome = Outcome::err(500, "timeout acquiring database connection: pool exhausted");
        self.finish(r, rec);
    }

    fn send(&mut self, r: usize, rec: &mut Recorder<'_>) {
        let _ = rec;
        let (tsvc, tep, timeout, breaker) = {
            let c = self.current_call(r);
            (c.svc, c.ep, c.timeout, c.breaker)
        };
        let seq = self.next_call_seq();
        self.reqs[r].call_seq = seq;
        self.reqs[r].waiting = true;
        self.reqs[r].call_start = self.now;
        self.reqs[r].client_span = self.rng.random();
        self.reqs[r].target_inst = None;
        let now = self.now;
        self.push(now + timeout, Ev::Timeout { req: r, seq });
        if breaker.is_some() {
            let open_until = self.insts[self.reqs[r].inst].breakers.get(&(tsvc, tep)).map_or(0, |b| b.1);
            if open_until > now {
                self.push(now, Ev::Failed { req: r, seq, kind: 3 });
                return;
            }
        }
        if self.fault(FaultKind::DnsFailure, |f| f.svc == tsvc).is_some() {
            self.push(now + 5 * MS, Ev::Failed { req: r, seq, kind: 1 });
            return;
        }
        let Some(target) = self.pick_instance(tsvc) else {
            self.push(now + NET_NS, Ev::Failed { req: r, seq, kind: 0 });
            return;
        };
        self.reqs[r].target_inst = Some(target);
        if let Some((csvc, cep)) = self.svcs[tsvc].consumer {
            // A queue: acknowledged at once; the message is consumed later by whoever is free.
            self.push(now + 2 * NET_NS, Ev::Acked { req: r, seq });
            if let Some(cinst) = self.pick_instance(csvc) {
                let trace_id = self.reqs[r].trace_id;
                let span_id: [u8; 8] = self.rng.random();
                let mut m = Req::new(trace_id, span_id, None, (csvc, cep, cinst), now + 5 * NET_NS);
                m.parent_span = Some(self.reqs[r].client_span);
                m.consumer = true;
                let c = self.alloc(m);
                self.push(now + 5 * NET_NS, Ev::Arrive(c));
            }
            return;
        }
        let from_zone = self.insts[self.reqs[r].inst].zone.clone().unwrap_or_default();
        let to_zone = self.insts[target].zone.clone().unwrap_or_default();
        if self
            .fault(FaultKind::NetworkPartition, |f| {
                (f.zones.0 == from_zone && f.zones.1 == to_zone)
                    || (f.zones.1 == from_zone && f.zones.0 == to_zone)
            })
            .is_some()
        {
            let t = (1000 * MS).min(timeout - 1);
            self.push(now + t, Ev::Failed { req: r, seq, kind: 2 });
            return;
        }
        let trace_id = self.reqs[r].trace_id;
        let span_id: [u8; 8] = self.rng.random();
        let child = self.alloc(Req::new(
            trace_id,
            span_id,
            Some((self.reqs[r].client_span, r, seq)),
            (tsvc, tep, target),
            now + NET_NS,
        ));
        self.push(now + NET_NS, Ev::Arrive(child));
    }

    fn release_pool(&mut self, r: usize) {
        let Some(p) = self.reqs[r].held_pool.take() else {
            return;
        };
        let inst = self.reqs[r].inst;
        let leak = self
            .fault(FaultKind::ConnectionLeak, |f| f.insts.contains(&inst) && f.pool == Some(p))
            .map(|f| f.error_rate.min(0.2))
            .unwrap_or(0.0);
        let leaked = leak > 0.0 && self.rng.random_bool(leak);
        let ps = &mut self.insts[inst].pools[p];
        ps.in_use -= 1;
        if leaked {
            ps.leaked += 1;
            return;
        }
        // Hand the connection to the next waiter.
        if let Some((w, seq)) = ps.waiters.pop_front() {
            ps.in_use += 1;
            if self.reqs[w].waiting && self.reqs[w].call_seq == seq {
                self.reqs[w].held_pool = Some(p);
                self.reqs[w].waiting = false;
                let now = self.now;
                // Continue the waiter's call now (its send bumps its call sequence).
                self.push(now, Ev::Retry(w));
            } else {
                ps.in_use -= 1;
            }
        }
    }

    fn call_done(&mut self, r: usize, seq: u64, o: Outcome, rec: &mut Recorder<'_>) {
        if !(self.reqs[r].waiting && self.reqs[r].call_seq == seq) {
            return;
        }
        self.reqs[r].waiting = false;
        rec.client_span(self, r, &o);
        self.release_pool(r);
        let (tsvc, tep, breaker) = {
            let c = self.current_call(r);
            (c.svc, c.ep, c.breaker)
        };
        if let Some((failures, open_for)) = breaker {
            if o.message != "circuit breaker open" {
                let now = self.now;
                let b = self.insts[self.reqs[r].inst].breakers.entry((tsvc, tep)).or_insert((0, 0));
                if o.ok {
                    *b = (0, 0);
                } else {
                    b.0 += 1;
                    if b.0 >= failures {
                        // Open; once the time is up it is half-open: one more failure reopens it.
                        *b = (failures - 1, now + open_for);
                    }
                }
            }
        }
        let (retries, backoff, is_cache, has_miss) = {
            let c = self.current_call(r);
            let svc = self.svcs[c.svc].kind;
            (c.retries, c.backoff, svc == ServiceKind::Cache, c.on_miss.is_some())
        };
        let storm = self.fault(FaultKind::RetryStorm, |f| f.svc == self.reqs[r].svc).map(|f| f.retries);
        let (retries, backoff) = match storm {
            Some(n) => (n, 0),
            None => (retries, backoff),
        };
        if !o.ok && self.reqs[r].attempt < retries {
            self.reqs[r].attempt += 1;
            let now = self.now;
            self.push(now + backoff.max(1), Ev::Retry(r));
            return;
        }
        if !o.ok {
            let status = if o.status == 504 { 504 } else { 500 };
            let msg = if o.status == 504 {
                "upstream request timeout".to_string()
            } else {
                "invalid response from server".to_string()
            };
            self.reqs[r].outcome = Outcome::err(status, msg);
            self.finish(r, rec);
            return;
        }
        if o.wrong {
            // The caller cannot use the answer: it says so and gives up on the rest of its work.
            rec.request_step(self, r, Step::Unexpected);
            self.reqs[r].outcome = Outcome::ok();
            self.finish(r, rec);
            return;
        }
        if self.request_logs {
            rec.request_step(self, r, Step::Answered);
        }
        if is_cache && has_miss && !o.hit && !self.reqs[r].miss_pending {
            self.reqs[r].miss_pending = true;
            self.reqs[r].attempt = 0;
            self.start_call(r, rec);
            return;
        }
        self.reqs[r].miss_pending = false;
        self.reqs[r].call_idx += 1;
        self.next_call(r, rec);
    }

    fn finish(&mut self, r: usize, rec: &mut Recorder<'_>) {
        let inst = self.reqs[r].inst;
        let svc = self.reqs[r].svc;
        // Own errors: the endpoint's rate, background noise, and faults that make code throw.
        if self.reqs[r].outcome.ok && self.reqs[r].started {
            let mut rate = self.svcs[svc].endpoints[self.reqs[r].ep].error_rate + self.noise;
            if let Some(f) = self.fault(FaultKind::BadDeploy, |f| {
                f.svc == svc && (f.insts.is_empty() || f.insts.contains(&inst))
            }) {
                rate += f.error_rate;
            }
            if self.fault(FaultKind::DiskFull, |f| f.insts.contains(&inst)).is_some()
                && self.svcs[svc].endpoints[self.reqs[r].ep].name.starts_with("POST")
            {
                self.reqs[r].outcome = Outcome::err(500, "write failed: no space left on device");
            } else if self.rng.random_bool(rate.clamp(0.0, 1.0)) {
                self.reqs[r].outcome = Outcome::err(500, "internal error");
            }
        }
        if self.reqs[r].outcome.ok && self.reqs[r].started && self.reqs[r].parent.is_some() {
            let rate = self
                .fault(FaultKind::BadResponse, |f| {
                    f.svc == svc && (f.insts.is_empty() || f.insts.contains(&inst))
                })
                .map(|f| f.error_rate);
            if rate.is_some_and(|p| self.rng.random_bool(p.clamp(0.0, 1.0))) {
                self.reqs[r].outcome.wrong = true;
            }
        }
        if self.request_logs && self.reqs[r].started && self.reqs[r].outcome.ok {
            rec.request_step(self, r, Step::Done);
        }
        if self.svcs[svc].kind == ServiceKind::Cache && self.reqs[r].outcome.ok {
            let mut hit_rate = self.svcs[svc].hit_rate;
            if let Some(f) = self.fault(FaultKind::CacheFlush, |f| f.svc == svc) {
                let since = (self.now - f.start) as f64 / f.ttl.max(1) as f64;
                hit_rate *= since.clamp(0.0, 1.0);
            }
            let hit = self.rng.random_bool(hit_rate.clamp(0.0, 1.0));
            self.reqs[r].outcome.hit = hit;
            self.insts[inst].cache_lookups += 1;
            if hit {
                self.insts[inst].cache_hits += 1;
            }
        }
        if !self.reqs[r].outcome.ok {
            self.insts[inst].errors += 1;
        }
        if self.reqs[r].started {
            self.account(inst);
            self.insts[inst].busy -= 1;
            while self.insts[inst].busy < self.effective_workers(inst) {
                let Some(next) = self.insts[inst].queue.pop_front() else {
                    break;
                };
                self.begin(next);
            }
        }
        rec.server_span(self, r);
        if let Some((parent, seq)) = self.reqs[r].parent {
            self.keys += 1;
            let key = self.keys;
            self.results.insert(key, self.reqs[r].outcome.clone());
            let now = self.now;
            self.push(now + NET_NS, Ev::ChildDone { req: parent, seq, key });
        }
        // A closed-loop user thinks, then sends the next request.
        if self.reqs[r].parent.is_none() && !self.reqs[r].consumer && self.closed_loop {
            let u: f64 = self.rng.random::<f64>().max(1e-12);
            let think = (-u.ln() * self.think as f64) as i64;
            let now = self.now;
            self.push(now + think.max(1), Ev::UserArrival);
        }
        // The answer travels in `results`: the slot is free for the next request.
        self.free.push(r);
    }

    fn next_call_seq(&mut self) -> u64 {
        self.keys += 1;
        self.keys
    }
}

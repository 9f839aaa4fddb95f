//! Random systems for the accuracy benchmark: a layered graph of services (an entry service, tiers
//! of HTTP and gRPC services calling deeper ones, databases behind connection pools, a cache in
//! front of a small database, an external API with retries), spread over two zones, with names drawn
//! from a word list; and a fault of a random kind placed on a target that suits it.
//!
//! Capacity is sized with room to spare, so that a healthy run stays healthy: a false alarm must be
//! the engine's, not a system that was about to fall over anyway.

use rand::rngs::StdRng;
use rand::Rng;
use std::fmt::Write;

const WORDS: &[&str] = &[
    "accounts", "orders", "catalog", "pricing", "search", "users", "ledger", "notify", "profile", "reviews",
    "stock", "quotes", "routing", "media", "tokens", "audit", "rates", "offers", "geo", "wallet",
];
const ENTRIES: &[&str] = &["gateway", "web", "edge", "portal", "bff"];
const EXTERNALS: &[&str] = &["maps-api", "sms-api", "tax-api", "kyc-api"];
const ZONES: &[(&str, &str, &str)] = &[
    ("eu-west-1a", "eu-west-1b", "eu-west-1"),
    ("us-central1-a", "us-central1-b", "us-central1"),
    ("ap-south-1a", "ap-south-1b", "ap-south-1"),
];

/// What a generated service offers to faults.
#[derive(Debug, Clone)]
pub struct Svc {
    pub name: String,
    /// `http`, `grpc`, `database`, `cache`, `external`.
    pub kind: &'static str,
    pub instances: Vec<String>,
    /// A connection pool it holds (to its database).
    pub pool: Option<String>,
    /// The pool's size, and how many connections one instance takes from it per second at the
    /// scenario's load (so that a leak can be sized to drain the pool within the window).
    pub pool_size: u32,
    pub pool_takes_per_sec: f64,
    /// It has `POST` endpoints (disk-full faults fail those).
    pub posts: bool,
    /// Other services call it.
    pub called: bool,
    /// An instance kept out of its load-balancer pool (for bad-backend faults).
    pub spare: Option<String>,
}

impl Svc {
    /// An uninstrumented dependency (database, cache, external API): called, nothing of its own.
    fn dependency(name: impl Into<String>, kind: &'static str) -> Svc {
        Svc {
            name: name.into(),
            kind,
            instances: vec![],
            pool: None,
            pool_size: 0,
            pool_takes_per_sec: 0.0,
            posts: false,
            called: true,
            spare: None,
        }
    }
}

pub struct System {
    /// The `[[services]]` and `[traffic]` of a scenario file.
    pub toml: String,
    /// The entry's requests a second (`[traffic]`): the one drawn, or less (`held_rps`).
    pub rps: u32,
    pub entry: String,
    pub zones: (&'static str, &'static str),
    pub services: Vec<Svc>,
}

fn instance_line(
    id: &str,
    ip: &str,
    port: u16,
    zone: &str,
    region: &str,
    version: Option<&str>,
    extra: &str,
) -> String {
    let version = version.map(|v| format!(", version = \"{v}\"")).unwrap_or_default();
    format!("  {{ id = \"{id}\", ip = \"{ip}\", port = {port}, zone = \"{zone}\", region = \"{region}\"{version}{extra} }},\n")
}

/// Services between the entry and the stores: most systems drawn are small (4 to 9), a third are
/// large (10 to 45), so that with entries, databases, caches and external APIs a system has 5 to
/// about 60 components.
fn mid_services(rng: &mut StdRng) -> usize {
    if rng.random_bool(0.33) {
        rng.random_range(10..=45)
    } else {
        rng.random_range(4..=9)
    }
}

/// `n` distinct service names in random order, so that no name means anything: the words, then
/// pairs of them.
fn service_names(rng: &mut StdRng, n: usize) -> Vec<String> {
    let mut names: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    for a in WORDS {
        for b in WORDS.iter().filter(|b| *b != a) {
            if names.len() >= (n + 3).max(WORDS.len()) {
                break;
            }
            names.push(format!("{a}-{b}"));
        }
    }
    for i in (1..names.len()).rev() {
        names.swap(i, rng.random_range(0..=i));
    }
    names
}

/// Requests per second: log-uniform from 1 to 200, as real systems range from a quiet internal
/// tool to a busy shop (half the draws under 14/s).
/// Most a small database's workers are busy, on average, in a healthy run: queueing stays short
/// at half load, while a cache flush (every read a miss, twenty times the load) still swamps it.
const SMALL_DB_MAX_LOAD: f64 = 0.5;
/// A database query's mean over its median: the simulator's latencies are log-normal with the
/// p99 four times the median (sigma = ln 4 / 2.326), so the mean is exp(sigma^2 / 2) = 1.2 times
/// the median.
const DB_MEAN_OVER_MEDIAN: f64 = 1.2;

/// Workers a small database needs for `misses_per_sec` queries of `median_ms`.
fn small_db_workers(misses_per_sec: f64, median_ms: f64) -> u32 {
    let busy = misses_per_sec * median_ms * DB_MEAN_OVER_MEDIAN / 1000.0;
    (busy / SMALL_DB_MAX_LOAD).ceil() as u32
}

pub fn draw_rps(rng: &mut StdRng) -> u32 {
    (rng.random_range(0.0..(200f64).ln())).exp().round().max(1.0) as u32
}

/// Most requests a second all the services behind the entry serve together. A generated system
/// can call one service from many others (a thousand requests a second behind a hundred at the
/// entry: tuning seed 8 run 55): 45 minutes of that is tens of millions of spans, more than two
/// runs side by side hold in 24 GiB (seed 6 was OOM-killed with 1,500 here: three of its runs
/// made 10 million spans each). Each such request makes about three spans (its server span, its
/// caller's client span, a database or cache call): 500 a second is about 4 million spans a run.
const MAX_SERVICE_REQUESTS_PER_SEC: f64 = 500.0;

/// The entry's requests a second, lowered where the services behind it would serve more than
/// `MAX_SERVICE_REQUESTS_PER_SEC` together (`behind`, at the drawn `rps`).
fn held_rps(rps: u32, behind: f64) -> u32 {
    if behind <= MAX_SERVICE_REQUESTS_PER_SEC {
        return rps;
    }
    ((f64::from(rps) * MAX_SERVICE_REQUESTS_PER_SEC / behind).floor() as u32).max(1)
}

pub fn random_system(rng: &mut StdRng, rps: u32) -> System {
    let drawn_rps = rps;
    let (za, zb, region) = ZONES[rng.random_range(0..ZONES.len())];
    let n_mid = mid_services(rng);
    let words = service_names(rng, n_mid);
    let entry = ENTRIES[rng.random_range(0..ENTRIES.len())].to_string();
    let mids: Vec<String> = words[..n_mid].iter().map(|w| w.to_string()).collect();
    let grpc: Vec<bool> = (0..n_mid).map(|_| rng.random_bool(0.35)).collect();
    let endpoint_names = |i: usize, grpc: bool| -> Vec<String> {
        let w = &mids[i];
        if grpc {
            let cap = w[..1].to_uppercase() + &w[1..];
            vec![format!("{cap}Service/Get"), format!("{cap}Service/Update")]
        } else {
            vec![format!("GET /v1/{w}"), format!("POST /v1/{w}")]
        }
    };
    // Databases: some services own one (behind a pool); one of them sits behind a cache.
    let has_db: Vec<bool> = (0..n_mid).map(|_| rng.random_bool(0.45)).collect();
    let cached = (0..n_mid).rfind(|&i| has_db[i]).filter(|_| rng.random_bool(0.7));
    let external_caller = if rng.random_bool(0.6) { Some(rng.random_range(0..n_mid)) } else { None };
    let external = EXTERNALS[rng.random_range(0..EXTERNALS.len())];
    // Calls: each mid service calls up to two deeper ones.
    let mut callees: Vec<Vec<usize>> = vec![Vec::new(); n_mid];
    let mut called = vec![false; n_mid];
    for (i, out) in callees.iter_mut().enumerate() {
        let deeper: Vec<usize> = (i + 1..n_mid).collect();
        for _ in 0..rng.random_range(0..=2usize).min(deeper.len()) {
            let j = deeper[rng.random_range(0..deeper.len())];
            if !out.contains(&j) {
                out.push(j);
                called[j] = true;
            }
        }
    }
    // The entry's endpoints call the services nobody else calls (so every one gets traffic), and a
    // few more.
    let n_entry_eps = rng.random_range(2..=3);
    let mut entry_calls: Vec<Vec<usize>> = vec![Vec::new(); n_entry_eps];
    for (i, &is_called) in called.iter().enumerate() {
        if !is_called || rng.random_bool(0.25) {
            let e = rng.random_range(0..n_entry_eps);
            entry_calls[e].push(i);
        }
    }
    for calls in entry_calls.iter_mut() {
        if calls.is_empty() {
            calls.push(rng.random_range(0..n_mid));
        }
        calls.sort_unstable();
        calls.dedup();
    }
    // Every entry endpoint reaches the cached service, so that a flush overwhelms its database.
    if let Some(c) = cached {
        for calls in entry_calls.iter_mut() {
            if !calls.contains(&c) {
                calls.push(c);
            }
        }
    }
    let mut t = String::new();
    let mut services = Vec::new();
    // The entry service.
    let n_entry = rng.random_range(3..=4);
    let _ = writeln!(t, "[[services]]\nname = \"{entry}\"\nworkers = 256\ninstances = [");
    let mut entry_instances = Vec::new();
    for k in 1..=n_entry {
        let id = format!("{entry}-{k}");
        let zone = if k % 2 == 1 { za } else { zb };
        t += &instance_line(&id, &format!("10.{}.0.{k}", k % 2 + 1), 8080, zone, region, Some("2.4.0"), "");
        entry_instances.push(id);
    }
    t += "]\n";
    let mut mix = Vec::new();
    // Which services get writes: those the entry's POST endpoint calls, and what they call.
    let mut posted = vec![false; n_mid];
    for (e, calls) in entry_calls.iter().enumerate() {
        // The second endpoint writes (POST, calling the services' write endpoints).
        let write = e == 1;
        let name = format!("{} /api/{}", if write { "POST" } else { "GET" }, words[n_mid + e]);
        let _ = writeln!(t, "[[services.endpoints]]\nname = \"{name}\"\nlatency = {{ median = \"{}ms\", p99 = \"{}ms\" }}\ncalls = [", rng.random_range(2..6), rng.random_range(12..25));
        for &c in calls {
            let eps = endpoint_names(c, grpc[c]);
            posted[c] |= write;
            let _ = writeln!(
                t,
                "  {{ to = \"{}:{}\", timeout = \"{}s\" }},",
                mids[c],
                eps[write as usize],
                rng.random_range(2..=4)
            );
        }
        t += "]\n";
        mix.push((name, rng.random_range(1..=6)));
    }
    // Requests per second each service gets: the entry's endpoints by their weights, then down the
    // calls (every endpoint of a service calls all its callees, and callees are deeper).
    let total_weight: u32 = mix.iter().map(|(_, w)| *w).sum();
    let mut rate = vec![0.0f64; n_mid];
    for (e, calls) in entry_calls.iter().enumerate() {
        for &c in calls {
            rate[c] += rps as f64 * mix[e].1 as f64 / total_weight as f64;
        }
    }
    for i in 0..n_mid {
        for &j in &callees[i] {
            rate[j] += rate[i];
        }
    }
    // Deep fan-out multiplies the entry's traffic: held to what one run's spans may hold in memory.
    let rps = held_rps(rps, rate.iter().sum());
    let held = f64::from(rps) / f64::from(drawn_rps.max(1));
    rate.iter_mut().for_each(|r| *r *= held);
    services.push(Svc {
        name: entry.clone(),
        kind: "http",
        instances: entry_instances,
        pool: None,
        pool_size: 0,
        pool_takes_per_sec: 0.0,
        posts: mix.iter().any(|(n, _)| n.starts_with("POST")),
        called: false,
        spare: None,
    });
    for i in 0..n_mid {
        if posted[i] {
            for &j in &callees[i] {
                posted[j] = true;
            }
        }
    }
    for i in 0..n_mid {
        let name = &mids[i];
        let kind = if grpc[i] { "grpc" } else { "http" };
        let n_inst = rng.random_range(2..=3);
        let port = if grpc[i] { 50051 } else { 8080 };
        let _ =
            writeln!(t, "\n[[services]]\nname = \"{name}\"\nkind = \"{kind}\"\nworkers = 128\ninstances = [");
        let version =
            format!("{}.{}.{}", rng.random_range(1..9), rng.random_range(0..20), rng.random_range(0..9));
        let mut ids = Vec::new();
        for k in 1..=n_inst {
            let id = format!("{name}-{k}");
            let zone = if k % 2 == 1 { za } else { zb };
            t += &instance_line(
                &id,
                &format!("10.{}.{}.{k}", k % 2 + 1, i + 10),
                port,
                zone,
                region,
                Some(&version),
                "",
            );
            ids.push(id);
        }
        // A spare instance, out of the pool, for bad-backend faults.
        let spare = (!grpc[i] && rng.random_bool(0.3)).then(|| {
            let id = format!("10.9.{}.99:{port}", i + 10);
            t += &instance_line(
                &id,
                &format!("10.9.{}.99", i + 10),
                port,
                zb,
                region,
                Some(&version),
                ", in_pool = false",
            );
            id
        });
        t += "]\n";
        let pool = has_db[i].then(|| format!("{name}-db"));
        let pool_size = rng.random_range(8..=14u32);
        if let Some(p) = &pool {
            let _ = writeln!(t, "pools = {{ {p} = {{ size = {pool_size}, acquire_timeout = \"1s\" }} }}");
        }
        // Reads behind the cache take a connection only on a miss.
        let hit_rate = rng.random_range(0.94..0.97);
        for (e, ep) in endpoint_names(i, grpc[i]).iter().enumerate() {
            let _ = writeln!(t, "[[services.endpoints]]\nname = \"{ep}\"\nlatency = {{ median = \"{}ms\", p99 = \"{}ms\" }}\ncalls = [", rng.random_range(1..6), rng.random_range(10..30));
            for &c in &callees[i] {
                let ceps = endpoint_names(c, grpc[c]);
                let _ = writeln!(
                    t,
                    "  {{ to = \"{}:{}\", timeout = \"{}s\" }},",
                    mids[c],
                    ceps[e.min(1)],
                    rng.random_range(1..=3)
                );
            }
            if let Some(p) = &pool {
                if Some(i) == cached {
                    let _ = writeln!(t, "  {{ to = \"{name}-cache:GET\", timeout = \"200ms\", on_miss = {{ to = \"{p}:SELECT {name}\", pool = \"{p}\", timeout = \"1s\" }} }},");
                } else {
                    let op = if e == 0 { "SELECT" } else { "UPDATE" };
                    let _ =
                        writeln!(t, "  {{ to = \"{p}:{op} {name}\", pool = \"{p}\", timeout = \"1s\" }},");
                }
            }
            if external_caller == Some(i) {
                let _ = writeln!(t, "  {{ to = \"{external}:POST /v2/check\", timeout = \"1s\", retries = 1, backoff = \"100ms\" }},");
            }
            t += "]\n";
        }
        services.push(Svc {
            name: name.clone(),
            kind,
            instances: ids,
            pool: pool.clone(),
            pool_size,
            pool_takes_per_sec: rate[i] / n_inst as f64
                * if Some(i) == cached { 1.0 - hit_rate } else { 1.0 },
            posts: !grpc[i] && posted[i],
            called: called[i] || entry_calls.iter().any(|c| c.contains(&i)),
            spare,
        });
        if let Some(p) = pool {
            // The database; a small one behind a cache (the cache takes most reads).
            let small = Some(i) == cached;
            let (workers, median) =
                if small { (rng.random_range(2..=3), 40) } else { (64, rng.random_range(1..5)) };
            // Enough for the misses, however many services call this one: drawn alone, a small
            // database behind a service called a thousand times a second ran saturated from the
            // start (tuning seed 8 run 55: 37% of requests failing before any fault).
            let workers = if small {
                workers.max(small_db_workers(rate[i] * (1.0 - hit_rate), median as f64))
            } else {
                workers
            };
            let _ = writeln!(t, "\n[[services]]\nname = \"{p}\"\nkind = \"database\"\nworkers = {workers}\nqueue = 2048\ninstances = [");
            t += &instance_line(
                &format!("10.3.{}.10:5432", i + 10),
                &format!("10.3.{}.10", i + 10),
                5432,
                za,
                region,
                None,
                "",
            );
            t += "]\n";
            for op in ["SELECT", "UPDATE"] {
                let _ = writeln!(t, "[[services.endpoints]]\nname = \"{op} {name}\"\nlatency = {{ median = \"{median}ms\", p99 = \"{}ms\" }}\nquery = \"{op} * FROM {name} WHERE id = $1\"", median * 4);
            }
            services.push(Svc::dependency(p.clone(), "database"));
            if small {
                let c = format!("{name}-cache");
                let _ = writeln!(t, "\n[[services]]\nname = \"{c}\"\nkind = \"cache\"\nworkers = 256\nhit_rate = {hit_rate:.2}\ninstances = [");
                t += &instance_line(
                    &format!("10.3.{}.5:6379", i + 10),
                    &format!("10.3.{}.5", i + 10),
                    6379,
                    za,
                    region,
                    None,
                    "",
                );
                t += "]\n[[services.endpoints]]\nname = \"GET\"\nlatency = { median = \"300us\", p99 = \"1ms\" }\n";
                services.push(Svc::dependency(c, "cache"));
            }
        }
    }
    if external_caller.is_some() {
        let _ = writeln!(t, "\n[[services]]\nname = \"{external}\"\nkind = \"external\"\nworkers = 64\nqueue = 128\ninstances = [");
        let _ = writeln!(t, "  {{ id = \"{external}.example:443\", ip = \"203.0.113.20\", port = 443 }},");
        t += "]\n[[services.endpoints]]\nname = \"POST /v2/check\"\nlatency = { median = \"30ms\", p99 = \"120ms\" }\n";
        services.push(Svc::dependency(external.to_string(), "external"));
    }
    let _ = writeln!(t, "\n[traffic]\nrps = {rps}\nmix = [");
    for (name, w) in &mix {
        let _ = writeln!(t, "  {{ endpoint = \"{entry}:{name}\", weight = {w} }},");
    }
    t += "]\n";
    System { toml: t, rps, entry, zones: (za, zb), services }
}

/// A fault of a random kind on a target that suits it: the `[[faults]]` fields, with `at` (the
/// given onset, or its own) and `until` when given. `None` when the kind drawn has no target here.
/// `left_secs` is the time from the onset to the end of the window (leaks are sized to show in it).
/// A fault in a service's code (`code_exception`, `bad_response`): in a share of its requests,
/// on all its instances or on one (a canary, one pod with a bad config).
pub fn code_fault(rng: &mut StdRng, kind: &str, service: &str, instances: &[String], until: &str) -> String {
    let one = if rng.random_bool(0.3) && instances.len() >= 2 {
        format!("instance = \"{}\"\n", instances[rng.random_range(0..instances.len())])
    } else {
        String::new()
    };
    format!(
        "kind = \"{kind}\"\nservice = \"{service}\"\n{one}error_rate = {:.2}\n{until}",
        rng.random_range(0.1..0.5)
    )
}

/// Whether a run's services log each request's steps: only at modest traffic, where a day of
/// such logs is what real services keep (and the benchmark's memory holds).
pub fn draw_request_logs(rng: &mut StdRng, rps: u32) -> bool {
    rng.random_bool(0.5) && rps <= MAX_REQUEST_LOGS_RPS
}

/// The most requests per second at which a run may log each request's steps.
const MAX_REQUEST_LOGS_RPS: u32 = 50;

pub fn random_fault(
    rng: &mut StdRng,
    sys: &System,
    k: usize,
    at: u32,
    until: &str,
    left_secs: f64,
) -> Option<String> {
    let fields = fault_fields(rng, sys, k, until, left_secs)?;
    Some(if fields.contains("\nat = ") { fields } else { format!("at = \"{at}m\"\n{fields}") })
}

fn fault_fields(rng: &mut StdRng, sys: &System, k: usize, until: &str, left_secs: f64) -> Option<String> {
    let svcs = &sys.services;
    let pick_svc = |rng: &mut StdRng, f: &dyn Fn(&Svc) -> bool| -> Option<Svc> {
        let c: Vec<&Svc> = svcs.iter().filter(|s| f(s)).collect();
        (!c.is_empty()).then(|| c[rng.random_range(0..c.len())].clone())
    };
    let inst = |rng: &mut StdRng, s: &Svc| s.instances[rng.random_range(0..s.instances.len())].clone();
    let mid = |s: &Svc| matches!(s.kind, "http" | "grpc") && s.name != sys.entry;
    Some(match rng.random_range(0..13) {
        0 => {
            let s = pick_svc(rng, &|s| mid(s) && s.instances.len() >= 2)?;
            let i = inst(rng, &s);
            format!(
                "kind = \"bad_deploy\"\nservice = \"{}\"\ninstances = [\"{i}\"]\nerror_rate = {:.2}\nversion = \"9.9.{k}\"\nchange_id = \"{}-9.9.{k}\"\n",
                s.name,
                rng.random_range(0.15..0.6),
                s.name
            )
        }
        1 => {
            let s = pick_svc(rng, &|s| s.called && s.kind != "cache")?;
            let pattern = match s.kind {
                "external" => "external_dependency",
                "database" => "dependency_failure",
                _ => "latency_injection",
            };
            format!(
                "kind = \"slow_dependency\"\nservice = \"{}\"\nfactor = {:.1}\npattern = \"{pattern}\"\n{until}",
                s.name,
                rng.random_range(5.0..20.0)
            )
        }
        2 => {
            let s = pick_svc(rng, &|s| mid(s) && s.posts)?;
            let i = inst(rng, &s);
            format!("kind = \"disk_full\"\nservice = \"{}\"\ninstance = \"{i}\"\n", s.name)
        }
        3 => {
            let s = pick_svc(rng, &|s| matches!(s.kind, "http" | "grpc"))?;
            let i = inst(rng, &s);
            let sign = if rng.random_bool(0.5) { "-" } else { "" };
            return Some(format!(
                "kind = \"clock_skew\"\nservice = \"{}\"\ninstance = \"{i}\"\nat = \"0m\"\noffset = \"{sign}{}ms\"\n",
                s.name,
                rng.random_range(80..400)
            ));
        }
        4 => {
            let s = pick_svc(rng, &|s| matches!(s.kind, "http" | "grpc"))?;
            let i = inst(rng, &s);
            format!("kind = \"memory_leak\"\nservice = \"{}\"\ninstance = \"{i}\"\n", s.name)
        }
        5 => {
            let s = pick_svc(rng, &|s| mid(s) && s.called)?;
            format!("kind = \"dns_failure\"\nservice = \"{}\"\n{until}", s.name)
        }
        6 => {
            let s = pick_svc(rng, &|s| mid(s) && s.called)?;
            format!(
                "kind = \"cpu_cap\"\nservice = \"{}\"\nfactor = {:.2}\nchange_id = \"{}-cpu-limit-{k}\"\n",
                s.name,
                rng.random_range(0.03..0.08),
                s.name
            )
        }
        7 => {
            let s = pick_svc(rng, &|s| s.pool.is_some() && s.instances.len() >= 2)?;
            let i = inst(rng, &s);
            // A leak per connection taken that runs the pool dry somewhere in the first half of
            // what is left of the window: a leak too slow to exhaust the pool shows nothing.
            let drain_secs = left_secs * rng.random_range(0.25..0.5);
            let leak = (s.pool_size as f64 / (s.pool_takes_per_sec * drain_secs).max(1.0)).clamp(0.002, 0.5);
            format!(
                "kind = \"connection_leak\"\nservice = \"{}\"\ninstance = \"{i}\"\npool = \"{}\"\nerror_rate = {leak:.4}\n",
                s.name,
                s.pool.as_deref().unwrap_or_default()
            )
        }
        8 => {
            let s = pick_svc(rng, &|s| s.spare.is_some() && s.called)?;
            format!(
                "kind = \"lb_bad_backend\"\nservice = \"{}\"\ninstance = \"{}\"\nstatus = {}\nchange_id = \"lb-config-{k}\"\n",
                s.name,
                s.spare.as_deref().unwrap_or_default(),
                ["404", "503", "500"][rng.random_range(0..3)]
            )
        }
        9 => format!(
            "kind = \"network_partition\"\nservice = \"{}\"\nzone = \"{}\"\nother_zone = \"{}\"\n{until}",
            sys.entry, sys.zones.0, sys.zones.1
        ),
        11 => {
            let s = pick_svc(rng, &|s| matches!(s.kind, "http" | "grpc"))?;
            code_fault(rng, "code_exception", &s.name, &s.instances, until)
        }
        12 => {
            let s = pick_svc(rng, &|s| mid(s) && s.called)?;
            code_fault(rng, "bad_response", &s.name, &s.instances, until)
        }
        _ => {
            let s = pick_svc(rng, &|s| s.kind == "cache")?;
            format!(
                "kind = \"cache_flush\"\nservice = \"{}\"\nttl = \"{}m\"\n",
                s.name,
                rng.random_range(5..15)
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_fan_out_holds_the_entry_traffic() {
        assert_eq!(held_rps(100, 400.0), 100);
        // Ten requests behind each at the entry: 50 a second at most.
        assert_eq!(held_rps(200, 2_000.0), 50);
        assert_eq!(held_rps(1, 5_000.0), 1);
    }

    #[test]
    fn a_small_database_is_sized_for_half_load() {
        // 50 misses a second of 40 ms (48 ms on average) keep 2.4 workers busy: 5 at half load.
        assert_eq!(small_db_workers(50.0, 40.0), 5);
        // A quiet one needs one; the drawn two or three then stand.
        assert_eq!(small_db_workers(1.0, 40.0), 1);
        // A cache flush (every read a miss: twenty times the misses) swamps what half load sized.
        let flushed_busy = 20.0 * 50.0 * 40.0 * DB_MEAN_OVER_MEDIAN / 1000.0;
        assert!(flushed_busy > 4.0 * f64::from(small_db_workers(50.0, 40.0)));
    }
}

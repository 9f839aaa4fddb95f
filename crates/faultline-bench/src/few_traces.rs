//! Delay injections in small, trace-only cases, as one case of a fault-injection dataset gives
//! them: a few seconds of normal traffic, then a stretch in which one service is slower; 9 to 200
//! traces; no logs, no metrics, no changes; the spans as a tracer exports them (Jaeger or Zipkin
//! JSON, or OTLP with or without span kind and status). Each case is asked three ways: a window
//! over all its spans (the dataset's own protocol), no window, and the slow stretch with the
//! normal traffic before it as the baseline. Beside faultline, the simple own-time rule on the
//! same windows and the slow-trace rule over all the spans. Every case has a healthy twin (the same
//! system and traffic without the delay) asked the same three ways: an incident called there is a
//! false alarm. Topologies, names, sizes, traffic and delays are drawn at random; nothing here is
//! tuned to one dataset.

use crate::accuracy::Convention;
use faultline_analysis::spans::SpanTableBuilder;
use faultline_analysis::{investigate, Inputs, LogTable, MetricTable, Options};
use faultline_model::schema::spans_to_batch;
use faultline_sim::{Chunk, RunOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// Seed of the reserved test split: reported, never tuned on.
pub const TEST_SPLIT_SEED: u64 = 90_417_263;

/// Traces a case holds, drawn log-uniformly: the fewest and most of the dataset this imitates.
const TRACES: (f64, f64) = (9.0, 200.0);
/// Seconds of normal traffic before the delay, and of the slow stretch.
const NORMAL_SECS: (u32, u32) = (3, 30);
const SLOW_SECS: (u32, u32) = (15, 90);
/// The delay injected into each operation of the faulty service, in milliseconds (uniform): what
/// fault-injection studies inject.
const DELAY_MS: (u32, u32) = (100, 500);

/// Fewest traces through the slow service in the slow stretch for a case to be scored: with fewer,
/// no method can tell the delay from chance (the traffic drawn rarely reaches that service). Such
/// cases are counted and listed, not scored.
const MIN_SLOW_TRACES: usize = 3;

/// The conventions a tracer's export comes in, without logs or metrics.
const CONVENTIONS: [Convention; 5] = [
    Convention::JaegerImport,
    Convention::ZipkinImport,
    Convention::Otel,
    Convention::NoKind,
    Convention::NoStatus,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ask {
    AllSpans,
    NoWindow,
    SlowStretch,
    /// Not a way of asking faultline: the slow-trace rule alone over all the spans (its column).
    SlowTraceRule,
    /// The same rule with one split of all the requests' durations, whatever their endpoint.
    SlowTraceRuleAll,
}

impl Ask {
    fn name(self) -> &'static str {
        match self {
            Ask::AllSpans => "window = all the spans",
            Ask::NoWindow => "no window",
            Ask::SlowStretch => "slow stretch + baseline before it",
            Ask::SlowTraceRule => "(slow-trace rule, all the spans)",
            Ask::SlowTraceRuleAll => "(same, one split for all endpoints)",
        }
    }
}

/// One drawn case: its scenario text, the same system without the fault (its healthy twin, asked
/// the same three ways to count false alarms), the faulty service, the seconds of normal traffic
/// before the delay, the request rate, its convention.
struct Case {
    text: String,
    healthy: String,
    truth: String,
    normal_secs: u32,
    rps: f64,
    convention: Convention,
}

/// Where every drawn scenario starts.
const START: &str = "2026-11-01T09:00:00Z";

fn log_uniform(rng: &mut StdRng, (lo, hi): (f64, f64)) -> f64 {
    rng.random_range(lo.ln()..hi.ln()).exp()
}

fn draw(rng: &mut StdRng, k: usize) -> Case {
    let sys = crate::topology::random_system(rng, 1);
    let normal = rng.random_range(NORMAL_SECS.0..=NORMAL_SECS.1);
    let slow = rng.random_range(SLOW_SECS.0..=SLOW_SECS.1);
    let rps = log_uniform(rng, TRACES) / f64::from(normal + slow);
    let targets: Vec<&crate::topology::Svc> = sys
        .services
        .iter()
        .filter(|s| matches!(s.kind, "http" | "grpc") && s.called && s.name != sys.entry)
        .collect();
    let truth = targets[rng.random_range(0..targets.len())].name.clone();
    let healthy = format!(
        "name = \"few-{k}\"\ndescription = \"delay injection, few traces\"\nstart = \"{START}\"\nduration = \"{}s\"\nseed = {}\n\n{}\n",
        normal + slow,
        rng.random_range(1..1_000_000),
        sys.toml,
    );
    let text = format!(
        "{healthy}[[faults]]\nkind = \"slow_dependency\"\nservice = \"{truth}\"\nat = \"{normal}s\"\ndelay = \"{}ms\"\npattern = \"latency_injection\"\n",
        rng.random_range(DELAY_MS.0..=DELAY_MS.1)
    );
    let convention = CONVENTIONS[rng.random_range(0..CONVENTIONS.len())];
    Case { text, healthy, truth, normal_secs: normal, rps, convention }
}

/// A case's outcome: per way of asking, the truth's rank (None: not ranked), whether an incident
/// was found at all, and the own-time rule's leader; and per way of asking whether the healthy
/// twin was called an incident.
struct Outcome {
    traces: usize,
    /// Traces through the slow service after the delay started.
    slow_traces: usize,
    asks: Vec<(Ask, Option<usize>, bool, Option<String>)>,
    false_alarms: Vec<(Ask, bool)>,
}

/// The case's scenario text simulated, its spans as its convention exports them.
fn simulate(dir: &std::path::Path, name: &str, text: &str, case: &Case) -> anyhow::Result<Inputs> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text)?;
    let sc = faultline_sim::load(path.to_str().unwrap_or_default())?;
    let mut spans = SpanTableBuilder::default();
    let opts = RunOptions { rps: Some(case.rps), ..Default::default() };
    faultline_sim::run(&sc, &opts, &mut |c| {
        if let Chunk::Spans(mut s) = c {
            case.convention.spans(&mut s);
            spans.push(&spans_to_batch(&s));
        }
    });
    Ok(Inputs::new(spans.finish(), LogTable::default(), MetricTable::default(), Vec::new()))
}

/// The three ways of asking about spans from `lo` to `hi` whose delay (if any) began at `at`.
fn asks(lo: i64, hi: i64, at: i64) -> [(Ask, Options); 3] {
    [
        (Ask::AllSpans, Options { from: Some(lo), to: Some(hi + 1), ..Options::default() }),
        (Ask::NoWindow, Options::default()),
        (
            Ask::SlowStretch,
            Options { from: Some(at), to: Some(hi + 1), baseline: Some((lo, at)), ..Options::default() },
        ),
    ]
}

fn evaluate(dir: &std::path::Path, k: usize, case: &Case, verbose: bool) -> anyhow::Result<Outcome> {
    if verbose {
        for (name, text) in [(format!("few-{k}"), &case.text), (format!("few-{k}-healthy"), &case.healthy)] {
            let keep = std::env::temp_dir().join(format!("{name}.toml"));
            std::fs::write(&keep, text)?;
            println!(
                "case {k}: {} (faultline sim --scenario {} --rps {})",
                case.truth,
                keep.display(),
                case.rps
            );
        }
    }
    let inputs = simulate(dir, &format!("few-{k}"), &case.text, case)?;
    let (lo, hi) = inputs.spans.time_range().unwrap_or((0, 0));
    let start = faultline_model::time::parse_time_ns(START, 0)?;
    let at = start + i64::from(case.normal_secs) * 1_000_000_000;
    let t = &inputs.spans;
    let slow: std::collections::HashSet<_> = (0..t.len())
        .filter(|&i| t.start[i] >= at && t.names.name(t.service[i]) == case.truth)
        .map(|i| t.trace_id[i])
        .collect();
    let (slow_traces, traces) =
        (slow.len(), t.trace_id.iter().collect::<std::collections::HashSet<_>>().len());
    let mut out = Outcome { traces, slow_traces, asks: Vec::new(), false_alarms: Vec::new() };
    if slow_traces < MIN_SLOW_TRACES {
        // Not scored (and the slow stretch may hold no span at all to ask about).
        return Ok(out);
    }
    for (ask, o) in asks(lo, hi, at) {
        let r = investigate(&inputs, &o)?;
        if verbose {
            println!(
                "=== case {k}, {} [{}], truth {}\n{}",
                ask.name(),
                case.convention.name(),
                case.truth,
                faultline_analysis::report::render_text(&r, false)
            );
        }
        let rank = r.root_causes.iter().position(|c| c.service == case.truth);
        let (time_rule, _) = faultline_analysis::investigate::simple_rule_leaders(&inputs, &o);
        out.asks.push((ask, rank, r.incident, time_rule));
        if ask == Ask::AllSpans {
            out.asks.push((Ask::SlowTraceRule, None, true, slow_trace_rule(&inputs.spans, true)));
            out.asks.push((Ask::SlowTraceRuleAll, None, true, slow_trace_rule(&inputs.spans, false)));
        }
    }
    let healthy = simulate(dir, &format!("few-{k}-healthy"), &case.healthy, case)?;
    let (lo, hi) = healthy.spans.time_range().unwrap_or((0, 0));
    for (ask, o) in asks(lo, hi, at.clamp(lo, hi)) {
        let r = investigate(&healthy, &o)?;
        if verbose && r.incident {
            println!(
                "=== case {k}, healthy twin, {} [{}]: false alarm\n{}",
                ask.name(),
                case.convention.name(),
                faultline_analysis::report::render_text(&r, false)
            );
        }
        out.false_alarms.push((ask, r.incident));
    }
    Ok(out)
}

#[derive(Default)]
struct Tally {
    cases: usize,
    ac1: usize,
    /// Right at rank 1 and called an incident: what a scorer that reads `incident` first counts.
    ac1_called: usize,
    ac3: usize,
    rule: usize,
    no_incident: usize,
    /// Healthy twins asked this way, and those called an incident.
    healthy: usize,
    false_alarms: usize,
    misses: Vec<String>,
}

pub fn run(cases: usize, seed: u64, jobs: usize, only: &[usize]) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let drawn: Vec<Case> = (0..cases).map(|k| draw(&mut rng, k)).collect();
    let dir = tempfile::tempdir()?;
    let results = crate::jobs::in_order(
        cases,
        jobs,
        |k| only.is_empty() || only.contains(&k),
        |k| evaluate(dir.path(), k, &drawn[k], !only.is_empty()),
    );
    let split = if seed == TEST_SPLIT_SEED { "reserved test split" } else { "tuning split" };
    let mut by_ask: BTreeMap<Ask, Tally> = BTreeMap::new();
    let mut by_convention: BTreeMap<(&str, Ask), (usize, usize)> = BTreeMap::new();
    let (mut traces, mut unscored) = (Vec::new(), Vec::new());
    for (k, slot) in results.into_iter().enumerate() {
        let Some(out) = slot else { continue };
        let out = out?;
        let case = &drawn[k];
        if out.slow_traces < MIN_SLOW_TRACES {
            unscored.push(format!(
                "case {k} ({} of {} traces through {})",
                out.slow_traces, out.traces, case.truth
            ));
            continue;
        }
        traces.push(out.traces);
        for (ask, alarm) in &out.false_alarms {
            let t = by_ask.entry(*ask).or_default();
            t.healthy += 1;
            t.false_alarms += *alarm as usize;
            if *alarm {
                t.misses
                    .push(format!("case {k} [{}]: healthy twin called an incident", case.convention.name()));
            }
        }
        let slow_rule = out.asks.iter().find(|a| a.0 == Ask::SlowTraceRule).and_then(|a| a.3.clone());
        for (ask, rank, incident, rule) in out.asks {
            let t = by_ask.entry(ask).or_default();
            if matches!(ask, Ask::SlowTraceRule | Ask::SlowTraceRuleAll) {
                t.cases += 1;
                t.rule += (rule.as_deref() == Some(case.truth.as_str())) as usize;
                continue;
            }
            t.cases += 1;
            t.ac1 += (rank == Some(0)) as usize;
            t.ac1_called += (rank == Some(0) && incident) as usize;
            t.ac3 += rank.is_some_and(|r| r < 3) as usize;
            t.rule += (rule.as_deref() == Some(case.truth.as_str())) as usize;
            t.no_incident += (!incident) as usize;
            let e = by_convention.entry((case.convention.name(), ask)).or_default();
            e.0 += 1;
            e.1 += (rank == Some(0)) as usize;
            // A right answer not called an incident is a miss to a scorer that reads `incident`.
            if rank != Some(0) || !incident {
                t.misses.push(format!(
                    "case {k} [{}, {} traces]: {} -> rank {rank:?}{}; slow-trace rule: {}",
                    case.convention.name(),
                    out.traces,
                    case.truth,
                    if incident { "" } else { ", no incident" },
                    slow_rule.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    traces.sort_unstable();
    let (lo, hi) = (traces.first().copied().unwrap_or(0), traces.last().copied().unwrap_or(0));
    println!(
        "{} delay injections with few traces ({lo} to {hi} traces a case), seed {seed} ({split}), spans only",
        traces.len()
    );
    println!(
        "not scored, fewer than {MIN_SLOW_TRACES} traces through the slow service once slow: {}\n",
        if unscored.is_empty() { "none".to_string() } else { unscored.join(", ") }
    );
    println!(
        "{:<36} {:>6} {:>6} {:>18} {:>12} {:>14} {:>16}",
        "asked", "AC@1", "AC@3", "own-time rule AC@1", "no incident", "healthy: FA", "AC@1 and called"
    );
    print_tables(&by_ask, &by_convention);
    Ok(())
}

/// The table per way of asking, AC@1 by convention, and every miss.
fn print_tables(by_ask: &BTreeMap<Ask, Tally>, by_convention: &BTreeMap<(&str, Ask), (usize, usize)>) {
    for (ask, t) in by_ask {
        let n = t.cases.max(1) as f64;
        if matches!(ask, Ask::SlowTraceRule | Ask::SlowTraceRuleAll) {
            // Not faultline: only the rule's column.
            println!(
                "{:<36} {:>6} {:>6} {:>18.3} {:>12} {:>14}",
                ask.name(),
                "-",
                "-",
                t.rule as f64 / n,
                "-",
                "-"
            );
            continue;
        }
        println!(
            "{:<36} {:>6.3} {:>6.3} {:>18.3} {:>12} {:>14} {:>16.3}",
            ask.name(),
            t.ac1 as f64 / n,
            t.ac3 as f64 / n,
            t.rule as f64 / n,
            t.no_incident,
            format!("{}/{}", t.false_alarms, t.healthy),
            t.ac1_called as f64 / n
        );
    }
    println!("\nAC@1 by convention (all spans | no window | slow stretch):");
    let mut names: Vec<&str> = by_convention.keys().map(|(c, _)| *c).collect();
    names.dedup();
    for c in names {
        let cells: Vec<String> = [Ask::AllSpans, Ask::NoWindow, Ask::SlowStretch]
            .iter()
            .map(|a| by_convention.get(&(c, *a)).map_or("-".into(), |(n, ok)| format!("{ok}/{n}")))
            .collect();
        println!("  {c:<34} {}", cells.join("  "));
    }
    for (ask, t) in by_ask {
        for m in &t.misses {
            println!("  miss ({}): {m}", ask.name());
        }
    }
}

/// The yardstick of fault-injection studies on such cases: services ranked by how much more own
/// time a trace spends in them when it is slow (its entry slower than the split of its endpoint's
/// durations into a fast and a slow group) than when it is not. The leader, if any. With
/// `per_endpoint` false, one split of all the entries' durations, whatever their endpoint.
fn slow_trace_rule(t: &faultline_analysis::SpanTable, per_endpoint: bool) -> Option<String> {
    use faultline_analysis::graph::Graph;
    let g = Graph::build(t);
    let entries: Vec<Option<usize>> =
        g.traces().map(|spans| spans.iter().map(|&i| i as usize).find(|&i| g.is_entry(t, i))).collect();
    let key = |e: usize| if per_endpoint { (t.service[e], t.operation[e]) } else { (0, 0) };
    let mut durations: BTreeMap<(u32, u32), Vec<i64>> = BTreeMap::new();
    for &e in entries.iter().flatten() {
        durations.entry(key(e)).or_default().push(t.duration[e]);
    }
    let split: BTreeMap<(u32, u32), i64> =
        durations.iter().filter_map(|(k, d)| Some((*k, faultline_analysis::stats::slow_split(d)?))).collect();
    // Own time per service on each side, and traces per side.
    let mut own: BTreeMap<u32, [f64; 2]> = BTreeMap::new();
    let mut traces = [0usize; 2];
    for (spans, e) in g.traces().zip(&entries) {
        let Some(e) = *e else { continue };
        let slow = split.get(&key(e)).is_some_and(|&th| t.duration[e] > th) as usize;
        traces[slow] += 1;
        for &i in spans {
            own.entry(t.service[i as usize]).or_default()[slow] += g.self_time(t, i as usize) as f64;
        }
    }
    if traces[0] == 0 || traces[1] == 0 {
        return None;
    }
    own.iter()
        .map(|(s, o)| (o[1] / traces[1] as f64 - o[0] / traces[0] as f64, *s))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, s)| t.names.name(s).to_string())
}

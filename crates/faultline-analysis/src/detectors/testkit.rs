//! Test kit for the detectors: a built-in simulator scenario, planned as the investigation plans
//! it (no window), and the signals its detectors read. Runs are cached per scenario: each is
//! simulated once per test binary.

use crate::graph::Graph;
use crate::hash::HashMap;
use crate::inputs::{Inputs, LogTable, MetricTable};
use crate::signals::Signals;
use crate::spans::SpanTableBuilder;
use faultline_model::schema::{logs_to_batch, metrics_to_batch, spans_to_batch};
use faultline_sim::{Chunk, RunOptions};
use std::sync::{Mutex, OnceLock};

/// Requests per second the scenarios run at here: enough for their signatures, quick in debug.
const RPS: f64 = 20.0;

/// A scenario's telemetry and its ground truth (the faulty service, when there is one).
type Run = (Inputs, Option<String>);

/// The scenario's run.
pub fn inputs(name: &str) -> &'static Run {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Run>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(x) = cache.lock().unwrap().get(name) {
        return x;
    }
    let sc = faultline_sim::load(name).expect("a built-in scenario");
    let rps = if matches!(name, "traffic-spike" | "cpu-cap") { None } else { Some(RPS) };
    let (mut spans, mut logs, mut metrics) = (SpanTableBuilder::default(), Vec::new(), Vec::new());
    let res = faultline_sim::run(&sc, &RunOptions { rps, ..Default::default() }, &mut |c| match c {
        Chunk::Spans(s) => spans.push(&spans_to_batch(&s)),
        Chunk::Logs(l) => logs.push(logs_to_batch(&l)),
        Chunk::Metrics(m) => metrics.push(metrics_to_batch(&m)),
    });
    let inputs = Inputs::new(
        spans.finish(),
        LogTable::from_batches(&logs),
        MetricTable::from_batches(&metrics),
        res.changes,
    );
    let truth = res.truth["faults"].get(0).and_then(|f| f["service"].as_str()).map(String::from);
    let leaked: &'static Run = Box::leak(Box::new((inputs, truth)));
    cache.lock().unwrap().insert(name.to_string(), leaked);
    leaked
}

/// The signals of a scenario, planned with no window.
pub fn signals(name: &str) -> Signals<'static> {
    let (inp, _) = inputs(name);
    let graph = Graph::build(&inp.spans);
    let endpoints = crate::symptom::endpoints(&inp.spans, &graph);
    let data = inp.spans.time_range().expect("spans");
    let plan = crate::plan::plan(&Default::default(), data, &endpoints, &[], &[]).expect("a plan");
    Signals::build(inp, graph, endpoints, plan, crate::join::log_traces(&inp.logs, &inp.spans))
}

/// The truth's faulty service of a scenario.
pub fn truth(name: &str) -> String {
    inputs(name).1.clone().expect("a scenario with a fault")
}

/// What the detector finds on the scenario, and on the healthy run.
pub fn on(d: &dyn super::Detector, name: &str) -> (Vec<super::Finding>, Vec<super::Finding>) {
    (d.detect(&signals(name)), d.detect(&signals("healthy")))
}

/// A span of a hand-made trace: `service` answering `name`, as a server span, with no status.
pub fn span(
    trace: u128,
    id: u64,
    parent: Option<u64>,
    service: &str,
    start: i64,
    dur: i64,
) -> faultline_model::Span {
    span_on(&format!("{service}-0"), trace, id, parent, service, start, dur)
}

/// A hand-made span of `service` on instance `instance`.
pub fn span_on(
    instance: &str,
    trace: u128,
    id: u64,
    parent: Option<u64>,
    service: &str,
    start: i64,
    dur: i64,
) -> faultline_model::Span {
    use faultline_model::{ResourceInfo, Span, SpanId, SpanKind, StatusCode, TraceId};
    let mut a = serde_json::Map::new();
    a.insert("service.name".into(), service.into());
    a.insert("service.instance.id".into(), instance.into());
    Span {
        trace_id: TraceId::from_bytes(&trace.to_be_bytes()).expect("16 bytes"),
        span_id: SpanId::from_bytes(&id.to_be_bytes()).expect("8 bytes"),
        parent_span_id: parent.map(|p| SpanId::from_bytes(&p.to_be_bytes()).expect("8 bytes")),
        trace_state: String::new(),
        flags: 0,
        name: format!("{service} op"),
        kind: SpanKind::Server,
        start_unix_nano: start,
        end_unix_nano: start + dur,
        status_code: StatusCode::Unset,
        status_message: String::new(),
        attributes: Default::default(),
        events: vec![],
        links: vec![],
        resource: std::sync::Arc::new(ResourceInfo::from_attributes(a)),
    }
}

/// The signals of hand-made spans, planned as `ask` asks.
pub fn signals_of(spans: &[faultline_model::Span], ask: crate::plan::Ask) -> Signals<'static> {
    signals_with(spans, MetricTable::default(), Vec::new(), ask)
}

/// The signals of hand-made spans, metrics and changes, planned as `ask` asks.
pub fn signals_with(
    spans: &[faultline_model::Span],
    metrics: MetricTable,
    changes: Vec<faultline_model::ChangeEvent>,
    ask: crate::plan::Ask,
) -> Signals<'static> {
    let mut b = SpanTableBuilder::default();
    b.push(&spans_to_batch(spans));
    let inp: &'static Inputs =
        Box::leak(Box::new(Inputs { spans: b.finish(), metrics, changes, ..Default::default() }));
    let graph = Graph::build(&inp.spans);
    let endpoints = crate::symptom::endpoints(&inp.spans, &graph);
    let data = inp.spans.time_range().expect("spans");
    let plan = crate::plan::plan(&ask, data, &endpoints, &[], &[]).expect("a plan");
    Signals::build(inp, graph, endpoints, plan, (Vec::new(), 0))
}

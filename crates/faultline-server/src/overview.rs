//! What the web UI's overview and service map draw, computed here so that the API gives it too:
//! - `GET /api/v1/red?from&to[&step]`: per service, requests, errors and latency over the window and
//!   per step (the sparklines);
//! - `GET /api/v1/map?from&to[&baseline=T..T]`: the services and the uninstrumented peers they
//!   call, and per edge calls, error rate and p99, for the window and a baseline (by default the
//!   stretch as long just before it).
//!
//! Without `from`/`to`, the window is the hour that ends with the newest span.

use crate::error::AppError;
use crate::investigate::Request;
use crate::tenant::Scoped;
use crate::AppState;
use axum::extract::Query;
use axum::Json;
use faultline_analysis::spans::SpanTable;
use faultline_analysis::{red_by_service, Bucket};
use faultline_model::schema::Table;
use faultline_store::Scan;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The window shown when none is asked: the last hour of data, what an on-call engineer opens
/// first.
const DEFAULT_WINDOW_NS: i64 = 3_600_000_000_000;
/// Buckets per series when no step is asked: one point per pixel column of a sparkline is waste;
/// sixty make a readable shape of an hour (a minute each).
const DEFAULT_BUCKETS: i64 = 60;
/// Most buckets a series may have: a step so small that a window holds more is refused, since it
/// would make series larger than the spans behind them.
const MAX_BUCKETS: i64 = 5_000;

type Params = Query<HashMap<String, String>>;

/// The asked window, or the hour before the newest span.
fn window_of(st: &AppState, r: &Request) -> Result<(i64, i64), AppError> {
    let newest = st.store.stats().tables.get("spans").and_then(|t| t.max_time);
    let to = match (r.to, newest) {
        (Some(t), _) => t,
        (None, Some(n)) => n + 1,
        (None, None) => faultline_model::time::now_ns(),
    };
    let from = r.from.unwrap_or(to - DEFAULT_WINDOW_NS);
    if from >= to {
        return Err(AppError::bad_request("from must be before to"));
    }
    Ok((from, to))
}

/// The asked baseline, or the stretch as long as the window just before it: what the map and the
/// template view compare the window with.
fn baseline_of(r: &Request, from: i64, to: i64) -> (i64, i64) {
    r.baseline.unwrap_or((from - (to - from), from))
}

async fn load_spans(st: &AppState, from: i64, to: i64) -> Result<SpanTable, AppError> {
    let batches = st
        .store
        .scan(&Scan::new(Table::Spans).time(from, to).columns(faultline_analysis::spans::COLUMNS))
        .await?;
    tokio::task::spawn_blocking(move || SpanTable::from_batches(&batches))
        .await
        .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, format!("reading spans failed: {e}")))
}

fn step_of(p: &HashMap<String, String>, from: i64, to: i64) -> Result<i64, AppError> {
    let step = match p.get("step").filter(|s| !s.is_empty()) {
        Some(s) => faultline_model::time::parse_duration_ns(s)
            .map_err(|e| AppError::bad_request(format!("step: {e}")))?,
        None => ((to - from) / DEFAULT_BUCKETS).max(1_000_000_000),
    };
    if step <= 0 || (to - from) / step > MAX_BUCKETS {
        return Err(AppError::bad_request(format!(
            "step: {} buckets of that size in the window, at most {MAX_BUCKETS}: ask a larger step",
            (to - from) / step.max(1)
        )));
    }
    Ok(step)
}

/// A bucket's figures as the UI reads them.
fn bucket_json(b: &Bucket) -> Value {
    json!({"start": b.start, "count": b.count, "errors": b.errors, "p50_ns": b.p50_ns, "p99_ns": b.p99_ns})
}

/// Requests, errors and percentiles of a whole window, from its buckets' spans.
fn totals(t: &SpanTable, from: i64, to: i64) -> HashMap<u32, Bucket> {
    red_by_service(t, from, to, (to - from).max(1))
        .into_iter()
        .filter_map(|(s, mut b)| b.pop().map(|b| (s, b)))
        .collect()
}

/// `GET /api/v1/red`.
pub async fn red(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let r = Request::from_params(&p)?;
    let (from, to) = window_of(&st, &r)?;
    let step = step_of(&p, from, to)?;
    let t = load_spans(&st, from, to).await?;
    let series = red_by_service(&t, from, to, step);
    let whole = totals(&t, from, to);
    let services: Vec<Value> = series
        .iter()
        .map(|(s, buckets)| {
            let w = whole.get(s).cloned().unwrap_or_default();
            json!({
                "name": t.names.name(*s),
                "requests": w.count,
                "errors": w.errors,
                "error_rate": w.error_rate(),
                "rate_per_s": w.count as f64 / ((to - from) as f64 / 1e9),
                "p50_ns": w.p50_ns,
                "p99_ns": w.p99_ns,
                "buckets": buckets.iter().map(bucket_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    // All services' requests together: the system's error rate, under the changes timeline.
    let all = faultline_analysis::red::red_series_by(&t, from, to, step, |_| ());
    let total: Vec<Value> =
        all.values().next().map(|b| b.iter().map(bucket_json).collect()).unwrap_or_default();
    Ok(Json(json!({"from": from, "to": to, "step_ns": step, "services": services, "total": total})))
}

/// An edge of the map: caller, callee, figures, and whether the callee is uninstrumented.
type MapEdge = (String, String, Value, bool);

/// One window's edges and nodes, keyed by names.
fn map_of(t: &SpanTable, from: i64, to: i64) -> (Vec<MapEdge>, HashMap<String, Value>) {
    let secs = (to - from) as f64 / 1e9;
    let edges = faultline_analysis::dependency_map(t, from, to)
        .into_iter()
        .map(|((a, b), e)| {
            let v = json!({
                "calls": e.calls,
                "errors": e.errors,
                "error_rate": if e.calls == 0 { 0.0 } else { e.errors as f64 / e.calls as f64 },
                "rate_per_s": e.calls as f64 / secs,
                "p99_ns": e.p99_ns(),
            });
            (t.names.name(a).to_string(), t.names.name(b).to_string(), v, e.virtual_callee)
        })
        .collect();
    let nodes = totals(t, from, to)
        .into_iter()
        .map(|(s, b)| {
            let v = json!({
                "requests": b.count,
                "errors": b.errors,
                "error_rate": b.error_rate(),
                "rate_per_s": b.count as f64 / secs,
                "p99_ns": b.p99_ns,
            });
            (t.names.name(s).to_string(), v)
        })
        .collect();
    (edges, nodes)
}

/// `GET /api/v1/map`.
pub async fn map(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let r = Request::from_params(&p)?;
    let (from, to) = window_of(&st, &r)?;
    let t = load_spans(&st, from, to).await?;
    let (edges, nodes) = map_of(&t, from, to);
    let (a, b) = baseline_of(&r, from, to);
    let bt = load_spans(&st, a, b).await?;
    let (base_edges, base_nodes) = map_of(&bt, a, b);
    let base_edges: HashMap<(String, String), Value> =
        base_edges.into_iter().map(|(a, b, v, _)| ((a, b), v)).collect();
    let mut names: std::collections::BTreeMap<String, bool> =
        nodes.keys().map(|n| (n.clone(), false)).collect();
    for (a, b, _, virt) in &edges {
        names.entry(a.clone()).or_insert(false);
        let v = names.entry(b.clone()).or_insert(*virt);
        *v &= *virt;
    }
    let nodes: Vec<Value> = names
        .into_iter()
        .map(|(n, virt)| {
            json!({"name": n, "virtual": virt, "incident": nodes.get(&n), "baseline": base_nodes.get(&n)})
        })
        .collect();
    let edges: Vec<Value> = edges
        .into_iter()
        .map(|(a, b, v, _)| {
            let base = base_edges.get(&(a.clone(), b.clone()));
            json!({"from": a, "to": b, "incident": v, "baseline": base})
        })
        .collect();
    Ok(Json(json!({"from": from, "to": to, "baseline": [a, b], "nodes": nodes, "edges": edges})))
}

/// Most templates `GET /api/v1/templates` lists.
const MAX_TEMPLATES: usize = 500;

#[derive(Default)]
struct TemplateCounts {
    n: [u64; 2],
    errors: u64,
    services: std::collections::BTreeMap<String, u64>,
    instances: std::collections::BTreeMap<String, u64>,
    trace: Option<String>,
}

/// `GET /api/v1/templates?from&to[&baseline=T..T][&service=S]`: the log templates of the window
/// (mined as `faultline templates` mines), with counts per service and instance, and beside them
/// the baseline's count when one is asked: the before/after of the UI's template view.
pub async fn templates(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    use faultline_analysis::inputs::{LogTable, LOG_COLUMNS};
    let r = Request::from_params(&p)?;
    let (from, to) = window_of(&st, &r)?;
    let mut batches = st.store.scan(&Scan::new(Table::Logs).time(from, to).columns(LOG_COLUMNS)).await?;
    let (a, b) = baseline_of(&r, from, to);
    batches.extend(st.store.scan(&Scan::new(Table::Logs).time(a, b).columns(LOG_COLUMNS)).await?);
    let service = p.get("service").filter(|s| !s.is_empty()).cloned();
    let out = tokio::task::spawn_blocking(move || {
        let logs = LogTable::from_batches(&batches);
        let mut miner = faultline_analysis::templates::Miner::new(Default::default());
        let mut counts: std::collections::BTreeMap<u32, TemplateCounts> = Default::default();
        for k in 0..logs.len() {
            let svc = logs.names.name(logs.service[k]);
            if service.as_deref().is_some_and(|s| s != svc) {
                continue;
            }
            let id = miner.add(&faultline_analysis::logs::message_of(&logs.body[k])) as u32;
            let c = counts.entry(id).or_default();
            let side = (logs.time[k] >= from && logs.time[k] < to) as usize;
            c.n[side] += 1;
            if side == 1 {
                c.errors += logs.error[k] as u64;
                *c.services.entry(svc.to_string()).or_default() += 1;
                let instance = logs.names.name(logs.instance[k]);
                if !instance.is_empty() {
                    *c.instances.entry(instance.to_string()).or_default() += 1;
                }
                if c.trace.is_none() {
                    c.trace = logs.trace_id[k].map(|t| t.iter().map(|b| format!("{b:02x}")).collect());
                }
            }
        }
        let texts: Vec<String> = miner.templates().iter().map(|t| t.text()).collect();
        let mut rows: Vec<(u32, TemplateCounts)> = counts.into_iter().collect();
        rows.sort_by(|a, b| (b.1.n[1], b.1.n[0]).cmp(&(a.1.n[1], a.1.n[0])).then(a.0.cmp(&b.0)));
        let total = rows.len();
        let list: Vec<Value> = rows
            .into_iter()
            .take(MAX_TEMPLATES)
            .map(|(id, c)| {
                json!({
                    "id": format!("t{id}"),
                    "template": texts.get(id as usize - 1),
                    "count": c.n[1],
                    "baseline": c.n[0],
                    "error_share": if c.n[1] == 0 { 0.0 } else { c.errors as f64 / c.n[1] as f64 },
                    "services": c.services,
                    "instances": c.instances,
                    "example_trace": c.trace,
                })
            })
            .collect();
        json!({"templates": list, "total": total})
    })
    .await
    .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, format!("mining templates failed: {e}")))?;
    let mut out = out;
    out["from"] = json!(from);
    out["to"] = json!(to);
    out["baseline"] = json!([a, b]);
    Ok(Json(out))
}

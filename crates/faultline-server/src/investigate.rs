//! `GET /api/v1/investigate`: loads a window's telemetry from the store and runs the investigation.

use crate::error::AppError;
use crate::tenant::Scoped;
use axum::extract::Query;
use axum::Json;
use faultline_analysis::load::{Load, LoadAsk, LoadCost, CHARGED_TWICE, CONTEXT_BEFORE};
use faultline_analysis::TimeRange;
use faultline_analysis::{
    inputs, spans, Inputs, InvestigateError, LogTable, MetricTable, Options, Report, SpanTable,
};
use faultline_model::schema::{changes_from_batch, Table};
use faultline_model::time::{format_rfc3339_secs, now_ns, parse_duration_ns, parse_time_ns};
use faultline_store::{Scan, Store};
use std::collections::HashMap;

const HOUR: i64 = 3_600_000_000_000;

/// What to investigate, as the API and the CLI take it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub baseline: Option<(i64, i64)>,
    pub top: usize,
    /// How far back to look for an incident when no window is given (default 1 h).
    pub lookback: Option<i64>,
}

impl Request {
    /// The request as the analysis reads it.
    pub fn options(&self) -> Options {
        Options { from: self.from, to: self.to, baseline: self.baseline, top: self.top }
    }

    /// The request as the load plan reads it.
    pub fn load_ask(&self) -> LoadAsk {
        LoadAsk {
            from: self.from,
            to: self.to,
            baseline: self.baseline.map(|b| TimeRange::new(b.0, b.1)),
            lookback: self.lookback,
        }
    }

    pub fn from_params(p: &HashMap<String, String>) -> Result<Request, AppError> {
        let now = now_ns();
        let time = |k: &str| -> Result<Option<i64>, AppError> {
            p.get(k)
                .filter(|s| !s.is_empty())
                .map(|s| parse_time_ns(s, now).map_err(|e| AppError::bad_request(format!("{k}: {e}"))))
                .transpose()
        };
        let baseline = match p.get("baseline").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let (a, b) = s
                    .split_once("..")
                    .ok_or_else(|| AppError::bad_request(format!("baseline: expected T..T, got {s:?}")))?;
                let a = parse_time_ns(a, now).map_err(|e| AppError::bad_request(format!("baseline: {e}")))?;
                let b = parse_time_ns(b, now).map_err(|e| AppError::bad_request(format!("baseline: {e}")))?;
                if a >= b {
                    return Err(AppError::bad_request("baseline: its start must be before its end"));
                }
                Some((a, b))
            }
        };
        let top = match p.get("top") {
            None => 5,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| AppError::bad_request(format!("top must be 1 to 100, got {s:?}")))?,
        };
        let lookback = p
            .get("lookback")
            .map(|s| {
                parse_duration_ns(s).ok().filter(|d| *d > 0).ok_or_else(|| {
                    AppError::bad_request(format!("lookback: expected a duration like 1h, got {s:?}"))
                })
            })
            .transpose()?;
        let r = Request { from: time("from")?, to: time("to")?, baseline, top, lookback };
        if let (Some(f), Some(t)) = (r.from, r.to) {
            if f >= t {
                return Err(AppError::bad_request("from must be before to"));
            }
        }
        Ok(r)
    }
}

/// Loads what the request needs (as `faultline_analysis::load` decides) and investigates it.
pub async fn run(store: &Store, r: &Request) -> Result<Report, AppError> {
    let load = load_plan(store, r).await?;
    let opts = r.options();
    let extent = load.extent();
    let notes = load.notes.clone();
    let report =
        with_inputs(store, &load, move |inputs| faultline_analysis::investigate(&inputs, &opts)).await?;
    let report = report.map(|mut r| {
        r.notes.splice(0..0, notes);
        r
    });
    report.map_err(|e| match e {
        InvestigateError::NoData => AppError::not_found(format!(
            "no spans between {} and {}",
            format_rfc3339_secs(extent.from),
            format_rfc3339_secs(extent.to)
        )),
        e => AppError::bad_request(e.to_string()),
    })
}

/// The simple rules' leaders (own-time growth, own-error growth) on what the investigation of
/// the request would load and compare: the benchmarks' yardstick.
pub async fn simple_rules(store: &Store, r: &Request) -> Result<(Option<String>, Option<String>), AppError> {
    let load = load_plan(store, r).await?;
    let opts = r.options();
    with_inputs(store, &load, move |inputs| {
        faultline_analysis::investigate::simple_rule_leaders(&inputs, &opts)
    })
    .await
}

/// The ranges to load for the request, counting what lies before its window where the plan asks.
async fn load_plan(store: &Store, r: &Request) -> Result<Load, AppError> {
    let stats = store.stats();
    let latest = stats.tables.get("spans").and_then(|t| t.max_time);
    let latest_metric = stats.tables.get("metrics").and_then(|t| t.max_time);
    let Some(latest) = latest.or(latest_metric.filter(|_| r.from.is_some() && r.to.is_some())) else {
        return Err(AppError::not_found(
            "no spans stored: nothing to investigate (import or send telemetry first)",
        ));
    };
    let mut load = r.load_ask().plan(latest);
    if let (None, Some(limit), Some(&range)) = (r.from, faultline_store::budget::limit(), load.ranges.first())
    {
        let cost = lookback_cost(store, range).await?;
        load.fit_lookback(cost, limit);
    }
    if let Some(before) = load.before {
        let mut have = span_count(store, before).await?.0;
        if let Some(b) = r.baseline {
            have += span_count(store, TimeRange::new(b.0, b.1)).await?.0;
        }
        if let Some(older) = load.older.filter(|_| load.needs_older(have)) {
            if let (_, Some(last)) = span_count(store, older).await? {
                load.add_older(last);
            }
        }
    }
    Ok(load)
}

/// Stretch at the end of the look back read to learn what loading costs (a span with its share
/// of the logs; the metrics of a minute): a minute of the latest traffic.
const COST_SAMPLE_NS: i64 = 60_000_000_000;

/// What loading a look back over `range` would charge the read's budget per nanosecond: its spans
/// at the cost per span of its last minute (span and log columns), and the metrics of that minute
/// (`CHARGED_TWICE`: read, then the analysis's tables).
async fn lookback_cost(store: &Store, range: TimeRange) -> Result<LoadCost, AppError> {
    let spans = span_count(store, range).await?.0;
    let (from, to) = ((range.to - COST_SAMPLE_NS).max(range.from), range.to);
    let s = store.scan(&Scan::new(Table::Spans).time(from, to).columns(spans::COLUMNS)).await?;
    let l = store.scan(&Scan::new(Table::Logs).time(from, to).columns(inputs::LOG_COLUMNS)).await?;
    let m = store.scan(&Scan::new(Table::Metrics).time(from, to).columns(inputs::METRIC_COLUMNS)).await?;
    let rows: usize = s.iter().map(|b| b.num_rows()).sum();
    let bytes = |b: &[arrow::array::RecordBatch]| {
        (b.iter().map(|b| b.get_array_memory_size()).sum::<usize>() * CHARGED_TWICE) as f64
    };
    let per_span = (bytes(&s) + bytes(&l)) / rows.max(1) as f64;
    Ok(LoadCost {
        per_ns: per_span * spans as f64 / (range.to - range.from).max(1) as f64,
        context_per_ns: bytes(&m) / (to - from).max(1) as f64,
    })
}

/// The spans starting in `w`, and the latest start among them.
async fn span_count(store: &Store, w: TimeRange) -> Result<(usize, Option<i64>), AppError> {
    let b = store.scan(&Scan::new(Table::Spans).time(w.from, w.to).columns(&["start_time"])).await?;
    Ok((b.iter().map(|b| b.num_rows()).sum::<usize>(), latest_start(&b)))
}

/// The latest `start_time` in batches of the spans table.
fn latest_start(batches: &[arrow::array::RecordBatch]) -> Option<i64> {
    use arrow::array::AsArray;
    use arrow::datatypes::TimestampNanosecondType;
    batches
        .iter()
        .filter_map(|b| b.column_by_name("start_time"))
        .filter_map(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .filter_map(arrow::compute::max)
        .max()
}

/// Loads spans and logs of the `ranges`, metrics and changes around them (metrics an hour before
/// too: one point a minute needs a longer baseline), and hands them to `f` on a blocking thread.
async fn with_inputs<T: Send + 'static>(
    store: &Store,
    load: &Load,
    f: impl FnOnce(Inputs) -> T + Send + 'static,
) -> Result<T, AppError> {
    let TimeRange { from, to } = load.extent();
    let (mut span_batches, mut log_batches) = (Vec::new(), Vec::new());
    for TimeRange { from: a, to: b } in load.merged() {
        span_batches.extend(store.scan(&Scan::new(Table::Spans).time(a, b).columns(spans::COLUMNS)).await?);
        log_batches
            .extend(store.scan(&Scan::new(Table::Logs).time(a, b).columns(inputs::LOG_COLUMNS)).await?);
    }
    let metric_batches = store
        .scan(&Scan::new(Table::Metrics).time(from - CONTEXT_BEFORE, to).columns(inputs::METRIC_COLUMNS))
        .await?;
    let change_batches = store.scan(&Scan::new(Table::Changes).time(from - CONTEXT_BEFORE, to)).await?;
    // The analysis builds its tables from these batches: columnar copies about their size again,
    // held beside them while it runs. Charged to the read's budget like the rows themselves.
    let loaded: usize = [&span_batches, &log_batches, &metric_batches, &change_batches]
        .iter()
        .flat_map(|b| b.iter())
        .map(|b| b.get_array_memory_size())
        .sum();
    faultline_store::budget::charge(loaded)?;
    tokio::task::spawn_blocking(move || {
        f(Inputs::new(
            SpanTable::from_batches(&span_batches),
            LogTable::from_batches(&log_batches),
            MetricTable::from_batches(&metric_batches),
            change_batches.iter().flat_map(changes_from_batch).collect(),
        ))
    })
    .await
    .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, format!("analysis failed: {e}")))
}

/// `GET /api/v1/verify?since=T[&to=T][&baseline=T..T]`: has the system recovered since a fix?
pub async fn verify_handler(
    Scoped(st): Scoped,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<faultline_analysis::verify::Verification>, AppError> {
    let mut q = p.clone();
    let since =
        q.remove("since").ok_or_else(|| AppError::bad_request("since is required (the time of the fix)"))?;
    q.insert("from".into(), since);
    let r = Request::from_params(&q)?;
    let since = r.from.expect("set above");
    let latest = st.store.stats().tables.get("spans").and_then(|t| t.max_time);
    let Some(latest) = latest else {
        return Err(AppError::not_found("no spans stored: nothing to verify"));
    };
    let to = r.to.unwrap_or(latest + 1);
    if since >= to {
        return Err(AppError::bad_request("since is after the newest data: nothing to compare yet"));
    }
    let from = r.baseline.map_or(since - r.lookback.unwrap_or(2 * HOUR), |b| b.0.min(since));
    let (b, t) = (r.baseline, r.to);
    let load = Load::single(TimeRange::new(from, to));
    let v =
        with_inputs(&st.store, &load, move |inputs| faultline_analysis::verify::verify(&inputs, since, t, b))
            .await?;
    v.map(Json).ok_or_else(|| AppError::not_found("no spans after the fix to verify"))
}

pub async fn handler(
    Scoped(st): Scoped,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<Report>, AppError> {
    let r = Request::from_params(&p)?;
    let t0 = std::time::Instant::now();
    let mut report = run(&st.store, &r).await?;
    report.stats.elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    Ok(Json(report))
}

/// `GET /api/v1/postmortem` (the parameters of `/api/v1/investigate`): the investigation as a
/// Markdown post-mortem draft, its charts inline as SVG data URIs, as `faultline investigate
/// --format markdown` prints it.
pub async fn postmortem_handler(
    Scoped(st): Scoped,
    Query(p): Query<HashMap<String, String>>,
) -> Result<impl axum::response::IntoResponse, AppError> {
    use base64::Engine;
    let r = Request::from_params(&p)?;
    let report = run(&st.store, &r).await?;
    let md = faultline_analysis::postmortem::render_markdown(&report, &|_, svg| {
        format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg))
    });
    Ok(([(axum::http::header::CONTENT_TYPE, "text/markdown; charset=utf-8")], md))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::schema::{logs_to_batch, metrics_to_batch, spans_to_batch};
    use faultline_sim::{Chunk, RunOptions};
    use faultline_store::StoreConfig;

    /// With no window, an hour that would not fit the read's memory is shortened to its latest
    /// part, and the report says so; without a budget, or with room, nothing is left out.
    #[tokio::test]
    async fn with_no_window_a_lookback_beyond_the_memory_budget_is_shortened() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).await.unwrap();
        let sc = faultline_sim::load("lb-bad-backend").unwrap();
        let st = store.clone();
        tokio::task::spawn_blocking(move || {
            faultline_sim::run(&sc, &RunOptions { rps: Some(2.0), ..Default::default() }, &mut |c| {
                let (table, b) = match c {
                    Chunk::Spans(s) => (Table::Spans, spans_to_batch(&s)),
                    Chunk::Logs(l) => (Table::Logs, logs_to_batch(&l)),
                    Chunk::Metrics(m) => (Table::Metrics, metrics_to_batch(&m)),
                };
                st.append_blocking(table, b).unwrap();
            })
        })
        .await
        .unwrap();
        let shortened = |r: &Report| r.notes.iter().any(|n| n.contains("looked back over"));
        let ask = Request::default();
        let r = run(&store, &ask).await.unwrap();
        assert!(!shortened(&r), "{:?}", r.notes);
        let roomy = faultline_store::budget::with_budget(1 << 30, None, run(&store, &ask));
        assert!(!shortened(&roomy.await.unwrap()));
        let latest = store.stats().tables["spans"].max_time.unwrap();
        let hour = ask.load_ask().plan(latest).ranges[0];
        let need = lookback_cost(&store, hour).await.unwrap().of(hour.to - hour.from);
        let tight = faultline_store::budget::with_budget(need as usize / 2, None, run(&store, &ask));
        let r = tight.await.unwrap();
        assert!(shortened(&r), "{:?}", r.notes);
    }
}

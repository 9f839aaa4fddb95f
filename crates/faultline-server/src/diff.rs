//! `GET /api/v1/diff`: differential analysis of two groups of requests, or of two traces.
//!
//! - `trace_a=ID&trace_b=ID`: the two traces span by span;
//! - `a=FILTER[&b=FILTER]`: traces with a span matching filter `a` against those matching `b` (all
//!   the others when `b` is absent), in `[from, to)`;
//! - `baseline=T..T`: traces of `[from, to)` against those of the baseline window;
//! - `mode=failing` (the default) or `mode=slow`: failing (slow) requests of `[from, to)` against
//!   the others.
//!
//! Without `from`/`to`, the last hour of stored data.

use crate::error::AppError;
use crate::tenant::Scoped;
use crate::AppState;
use arrow::array::{Array, AsArray, RecordBatch};
use axum::extract::Query;
use axum::Json;
use faultline_analysis::diff;
use faultline_analysis::graph::Graph;
use faultline_analysis::hash::HashSet;
use faultline_analysis::{spans, SpanTable};
use faultline_model::schema::Table;
use faultline_model::time::{format_rfc3339_secs, now_ns, parse_time_ns};
use faultline_model::TraceId;
use faultline_store::Scan;
use serde_json::{json, Value};
use std::collections::HashMap;

const HOUR: i64 = 3_600_000_000_000;

fn trace_ids(batches: &[RecordBatch]) -> HashSet<[u8; 16]> {
    let mut out = HashSet::default();
    for b in batches {
        if let Some(c) = b.column_by_name("trace_id").and_then(|c| c.as_fixed_size_binary_opt()) {
            for i in 0..c.len() {
                if let Ok(id) = <[u8; 16]>::try_from(c.value(i)) {
                    out.insert(id);
                }
            }
        }
    }
    out
}

fn parse_window(p: &HashMap<String, String>, key: &str) -> Result<Option<(i64, i64)>, AppError> {
    let Some(s) = p.get(key).filter(|s| !s.is_empty()) else { return Ok(None) };
    let now = now_ns();
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| AppError::bad_request(format!("{key}: expected T..T, got {s:?}")))?;
    let a = parse_time_ns(a, now).map_err(|e| AppError::bad_request(format!("{key}: {e}")))?;
    let b = parse_time_ns(b, now).map_err(|e| AppError::bad_request(format!("{key}: {e}")))?;
    if a >= b {
        return Err(AppError::bad_request(format!("{key}: its start must be before its end")));
    }
    Ok(Some((a, b)))
}

pub async fn handler(
    Scoped(st): Scoped,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let get = |k: &str| p.get(k).filter(|s| !s.is_empty()).cloned();
    let top = match p.get("top") {
        None => 20,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| AppError::bad_request(format!("top must be 1 to 500, got {s:?}")))?,
    };
    if let Some(a) = get("trace_a") {
        let b = get("trace_b").ok_or_else(|| AppError::bad_request("trace_b is required with trace_a"))?;
        return compare(&st, &a, &b).await;
    }
    let latest = st.store.stats().tables.get("spans").and_then(|t| t.max_time);
    let Some(latest) = latest else {
        return Err(AppError::not_found("no spans stored: nothing to compare"));
    };
    let now = now_ns();
    let time = |k: &str| -> Result<Option<i64>, AppError> {
        get(k)
            .map(|s| parse_time_ns(&s, now).map_err(|e| AppError::bad_request(format!("{k}: {e}"))))
            .transpose()
    };
    let to = time("to")?.unwrap_or(latest + 1);
    let from = time("from")?.unwrap_or(to - HOUR);
    if from >= to {
        return Err(AppError::bad_request("from must be before to"));
    }
    let baseline = parse_window(&p, "baseline")?;
    let mode = get("mode").unwrap_or_else(|| "failing".into());
    if !matches!(mode.as_str(), "failing" | "slow") {
        return Err(AppError::bad_request(format!("mode must be failing or slow, got {mode:?}")));
    }
    let filter = |text: &str| {
        faultline_query::parse(Table::Spans, text)
            .map_err(|e| AppError::bad_request(format!("invalid filter: {e}")))
    };
    let (fa, fb) = (get("a"), get("b"));
    let store = &st.store;
    let ids = |expr| {
        let scan = Scan::new(Table::Spans).time(from, to).filter(expr).columns(&["trace_id"]);
        async move { Ok::<_, AppError>(trace_ids(&store.scan(&scan).await?)) }
    };
    let (set_a, set_b) = match &fa {
        Some(a) => (
            ids(filter(a)?).await?,
            match &fb {
                Some(b) => ids(filter(b)?).await?,
                None => HashSet::default(),
            },
        ),
        None if fb.is_some() => {
            return Err(AppError::bad_request("b needs a: give the filter of group A too"))
        }
        None => Default::default(),
    };
    let mut batches = Vec::new();
    let mut ranges = vec![(from, to)];
    if let (Some(b), None) = (baseline, &fa) {
        ranges.push(b);
    }
    for &(x, y) in &ranges {
        batches.extend(st.store.scan(&Scan::new(Table::Spans).time(x, y).columns(spans::COLUMNS)).await?);
    }
    let w = |x: (i64, i64)| format!("{} .. {}", format_rfc3339_secs(x.0), format_rfc3339_secs(x.1));
    let report = tokio::task::spawn_blocking(move || {
        let t = SpanTable::from_batches(&batches);
        let g = Graph::build(&t);
        let (la, lb): (String, String);
        let side: Box<diff::Grouping<'_>> = match (&fa, baseline) {
            (Some(a), _) => {
                la = format!("traces matching {a}");
                lb = fb.as_ref().map_or("all other traces".to_string(), |b| format!("traces matching {b}"));
                Box::new(diff::by_trace_ids(&t, &set_a, &set_b))
            }
            (None, Some(b)) => {
                la = w((from, to));
                lb = format!("baseline {}", w(b));
                Box::new(diff::by_window(&t, (from, to), b))
            }
            (None, None) if mode == "slow" => {
                la = "slow requests (over their endpoint's p95)".into();
                lb = "other requests".into();
                Box::new(diff::slow(&t, &g, (from, to)))
            }
            (None, None) => {
                la = "failing requests".into();
                lb = "succeeding requests".into();
                Box::new(diff::failing(&t, (from, to)))
            }
        };
        let failing_mode = fa.is_none() && baseline.is_none() && mode == "failing";
        diff::diff(&t, &g, (&la, &lb), top, failing_mode, side.as_ref())
    })
    .await
    .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, format!("analysis failed: {e}")))?;
    if report.a.traces == 0 || report.b.traces == 0 {
        return Err(AppError::not_found(format!(
            "nothing to compare: {} traces in A ({}), {} in B ({})",
            report.a.traces, report.a.label, report.b.traces, report.b.label
        )));
    }
    Ok(Json(json!(report)))
}

async fn compare(st: &AppState, a: &str, b: &str) -> Result<Json<Value>, AppError> {
    let parse = |s: &str| {
        TraceId::from_hex_lenient(s)
            .map_err(|e| AppError::bad_request(format!("invalid trace id {s:?}: {e}")))
    };
    let (ta, tb) = (parse(a)?, parse(b)?);
    let mut batches = st.store.trace(ta).await?;
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Err(AppError::not_found(format!("trace {a} not found")));
    }
    let more = st.store.trace(tb).await?;
    if more.iter().all(|b| b.num_rows() == 0) {
        return Err(AppError::not_found(format!("trace {b} not found")));
    }
    batches.extend(more);
    let c = tokio::task::spawn_blocking(move || {
        let t = SpanTable::from_batches(&batches);
        let g = Graph::build(&t);
        diff::compare_traces(&t, &g, &ta.0, &tb.0)
    })
    .await
    .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, format!("analysis failed: {e}")))?;
    c.map(|c| Json(json!(c))).ok_or_else(|| AppError::not_found("trace not found"))
}

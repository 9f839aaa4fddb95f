//! The native JSON API under `/api/v1`, and `/metrics`.

use crate::error::AppError;
use crate::tenant::Scoped;
use crate::AppState;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use faultline_model::schema::{
    changes_from_batch, logs_from_batch, metrics_from_batch, spans_from_batch, Table,
};
use faultline_model::{ChangeEvent, TraceId};
use faultline_otlp::Decoded;
use faultline_query::page::{self, Key, Order, PageQuery};
use faultline_query::traces::{get_trace, services_and_operations};
use faultline_store::expr::{CmpOp, Expr, Scalar};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/traces/{id}", get(trace_by_id))
        .route("/api/v1/traces", get(search_traces))
        .route("/api/v1/spans", get(search_spans))
        .route("/api/v1/logs", get(search_logs))
        .route("/api/v1/metrics", get(metric_series))
        .route("/api/v1/services", get(services))
        .route("/api/v1/changes", get(list_changes).post(post_changes))
        .route("/api/v1/status", get(status))
        .route("/internal/v1/head", get(crate::peers::head))
        .route("/api/v1/investigate", get(crate::investigate::handler))
        .route("/api/v1/verify", get(crate::investigate::verify_handler))
        .route("/api/v1/postmortem", get(crate::investigate::postmortem_handler))
        .route("/api/v1/diff", get(crate::diff::handler))
        .route("/api/v1/red", get(crate::overview::red))
        .route("/api/v1/map", get(crate::overview::map))
        .route("/api/v1/templates", get(crate::overview::templates))
        .route("/api/v2/spans", axum::routing::post(zipkin_spans))
        .route("/api/v1/write", axum::routing::post(remote_write))
        .route("/metrics", get(prometheus))
        .route("/healthz", get(|| async { "ok" }))
}

type Params = Query<HashMap<String, String>>;

/// The `[from, to)` window of a request: `from`/`to` in any form `faultline` takes; by default all
/// stored data.
fn window(p: &HashMap<String, String>) -> Result<(i64, i64), AppError> {
    let now = faultline_model::time::now_ns();
    let parse = |k: &str, default: i64| -> Result<i64, AppError> {
        match p.get(k).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => faultline_model::time::parse_time_ns(s, now)
                .map_err(|e| AppError::bad_request(format!("{k}: {e}"))),
        }
    };
    let from = parse("from", i64::MIN)?;
    let to = parse("to", i64::MAX)?;
    if from >= to {
        return Err(AppError::bad_request("from must be before to"));
    }
    Ok((from, to))
}

/// What a listing reads: its table, window, page sizes and order.
struct PageAsk {
    table: Table,
    window: (i64, i64),
    default: usize,
    max: usize,
    order: Order,
}

/// Reads the page a request's `limit` and `cursor` ask for.
async fn read_page(
    st: &AppState,
    p: &HashMap<String, String>,
    ask: PageAsk,
    filter: Expr,
) -> Result<page::Page, AppError> {
    let (limit, cursor) = paging(p, ask.default, ask.max)?;
    let (from, to) = ask.window;
    let q =
        PageQuery { table: ask.table, filter, from, to, limit, cursor: cursor.as_ref(), order: ask.order };
    Ok(q.read(&st.store).await?)
}

/// A paged read's size and cursor, from `limit` and `cursor`.
fn paging(p: &HashMap<String, String>, default: usize, max: usize) -> Result<(usize, Option<Key>), AppError> {
    let n = page::page_size(p.get("limit").map(String::as_str), default, max)?;
    let cursor = p.get("cursor").filter(|s| !s.is_empty()).map(|s| Key::parse_cursor(s)).transpose()?;
    Ok((n, cursor))
}

fn filter(table: Table, p: &HashMap<String, String>) -> Result<Expr, AppError> {
    let text = p.get("filter").or_else(|| p.get("q")).map(String::as_str).unwrap_or("");
    faultline_query::parse(table, text).map_err(|e| AppError::bad_request(format!("invalid filter: {e}")))
}

fn parse_trace_id(s: &str) -> Result<TraceId, AppError> {
    TraceId::from_hex_lenient(s).map_err(|e| AppError::bad_request(format!("invalid trace id {s:?}: {e}")))
}

async fn trace_by_id(
    Scoped(st): Scoped,
    Path(id): Path<String>,
    Query(p): Params,
) -> Result<Json<Value>, AppError> {
    let t0 = Instant::now();
    let tid = parse_trace_id(&id)?;
    let tree = get_trace(&st.store, tid).await?;
    let correct = p.get("correct_skew").is_some_and(|v| v.is_empty() || v == "true" || v == "1");
    let tree = match (tree, correct) {
        (Some(t), true) => Some(crate::skew::corrected(&st.store, t).await?),
        (t, _) => t.map(|t| json!(t)),
    };
    st.telemetry.observe_query(t0.elapsed().as_secs_f64());
    match tree {
        Some(t) => Ok(Json(t)),
        None => Err(AppError::not_found(format!("no trace with id {}", tid))),
    }
}

async fn search_traces(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let t0 = Instant::now();
    let (from, to) = window(&p)?;
    let f = filter(Table::Spans, &p)?;
    let (n, cursor) = paging(&p, 20, page::MAX_PAGE_SIZE)?;
    let found = faultline_query::search_traces(&st.store, f, from, to, n, cursor.as_ref()).await?;
    st.telemetry.observe_query(t0.elapsed().as_secs_f64());
    Ok(Json(json!({"traces": found.traces, "next_cursor": found.next_cursor})))
}

async fn search_spans(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let t0 = Instant::now();
    let (from, to) = window(&p)?;
    let f = filter(Table::Spans, &p)?;
    let ask = PageAsk {
        table: Table::Spans,
        window: (from, to),
        default: 100,
        max: page::MAX_PAGE_SIZE,
        order: Order::NewestFirst,
    };
    let page = read_page(&st, &p, ask, f).await?;
    let spans: Vec<_> = page.rows.iter().flat_map(spans_from_batch).collect();
    st.telemetry.observe_query(t0.elapsed().as_secs_f64());
    Ok(Json(json!({"total": page.total, "spans": spans, "next_cursor": page.next_cursor})))
}

async fn search_logs(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let t0 = Instant::now();
    let (from, to) = window(&p)?;
    let mut parts = vec![filter(Table::Logs, &p)?];
    if let Some(t) = p.get("text").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("body", CmpOp::Contains, Scalar::Str(t.clone())));
    }
    if let Some(s) = p.get("service").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("service_name", CmpOp::Eq, Scalar::Str(s.clone())));
    }
    if let Some(s) = p.get("severity").filter(|s| !s.is_empty()) {
        let n = s.parse::<i64>().ok().unwrap_or_else(|| faultline_model::log::severity_from_text(s) as i64);
        if n == 0 {
            return Err(AppError::bad_request(format!("severity: expected a level or 1-24, got {s:?}")));
        }
        parts.push(Expr::col("severity_number", CmpOp::Ge, Scalar::Int(n)));
    }
    if let Some(t) = p.get("trace_id").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("trace_id", CmpOp::Eq, Scalar::Bytes(parse_trace_id(t)?.0.to_vec())));
    }
    let ask = PageAsk {
        table: Table::Logs,
        window: (from, to),
        default: 100,
        max: page::MAX_PAGE_SIZE,
        order: Order::NewestFirst,
    };
    let page = read_page(&st, &p, ask, Expr::and(parts)).await?;
    let logs: Vec<_> = page.rows.iter().flat_map(logs_from_batch).collect();
    st.telemetry.observe_query(t0.elapsed().as_secs_f64());
    Ok(Json(json!({"total": page.total, "logs": logs, "next_cursor": page.next_cursor})))
}

async fn metric_series(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let t0 = Instant::now();
    let (from, to) = window(&p)?;
    let mut parts = vec![filter(Table::Metrics, &p)?];
    if let Some(n) = p.get("name").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("name", CmpOp::Eq, Scalar::Str(n.clone())));
    }
    if let Some(s) = p.get("service").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("service_name", CmpOp::Eq, Scalar::Str(s.clone())));
    }
    let pct = faultline_query::metrics::Percentiles::parse(p.get("percentiles").map_or("", String::as_str))
        .map_err(AppError::bad_request)?;
    let ask = PageAsk {
        table: Table::Metrics,
        window: (from, to),
        default: page::MAX_METRIC_PAGE_SIZE,
        max: page::MAX_METRIC_PAGE_SIZE,
        order: Order::OldestFirst,
    };
    let page = read_page(&st, &p, ask, Expr::and(parts)).await?;
    let out = faultline_query::metrics::series(page.rows.iter().flat_map(metrics_from_batch), &pct);
    st.telemetry.observe_query(t0.elapsed().as_secs_f64());
    Ok(Json(json!({"series": out, "next_cursor": page.next_cursor})))
}

async fn services(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let (from, to) = window(&p)?;
    let m = services_and_operations(&st.store, from, to).await?;
    let out: Vec<Value> = m
        .into_iter()
        .map(|(svc, ops)| {
            let ops: Vec<Value> = ops
                .into_iter()
                .map(|(name, kinds)| {
                    let kinds: Vec<&str> = kinds
                        .iter()
                        .map(|k| faultline_model::SpanKind::from_i32(*k as i32).as_str())
                        .collect();
                    json!({"name": name, "kinds": kinds})
                })
                .collect();
            json!({"name": svc, "operations": ops})
        })
        .collect();
    Ok(Json(json!({"services": out})))
}

async fn list_changes(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, AppError> {
    let (from, to) = window(&p)?;
    let mut parts = vec![filter(Table::Changes, &p)?];
    if let Some(s) = p.get("service").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("service", CmpOp::Eq, Scalar::Str(s.clone())));
    }
    let ask = PageAsk {
        table: Table::Changes,
        window: (from, to),
        default: page::MAX_PAGE_SIZE,
        max: page::MAX_PAGE_SIZE,
        order: Order::OldestFirst,
    };
    let page = read_page(&st, &p, ask, Expr::and(parts)).await?;
    let changes: Vec<ChangeEvent> = page.rows.iter().flat_map(changes_from_batch).collect();
    Ok(Json(json!({"changes": changes, "next_cursor": page.next_cursor})))
}

/// `POST /api/v1/changes`: one change event or an array of them (see docs/api.md).
async fn post_changes(Scoped(st): Scoped, body: axum::body::Bytes) -> Result<impl IntoResponse, AppError> {
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid JSON: {e}")))?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err(AppError::bad_request("expected a change event object or an array of them")),
    };
    let mut d = Decoded::default();
    for (i, item) in items.iter().enumerate() {
        match faultline_ingest::changes::from_json(item, faultline_model::time::now_ns()) {
            Ok(c) => d.items.push(c),
            Err(e) => {
                return Err(AppError::bad_request(format!("change event [{i}]: {e}")));
            }
        }
    }
    let o = st.ingest.changes(d).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({"accepted": o.accepted}))))
}

/// Zipkin v2: `POST /api/v2/spans`, a JSON array of spans; `202` as Zipkin answers.
async fn zipkin_spans(
    Scoped(st): Scoped,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, AppError> {
    let body = crate::otlp_http::body_bytes(&headers, body, st.ingest.limits.max_body_bytes)?;
    let _held = st.ingest.hold(body.len())?;
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid JSON: {e}")))?;
    let Value::Array(items) = v else {
        return Err(AppError::bad_request("expected a JSON array of Zipkin v2 spans"));
    };
    let mut d = Decoded::default();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match faultline_ingest::zipkin::span_from_json(item) {
            Ok(s) => d.items.push(s),
            Err(e) => {
                d.rejected += 1;
                if errors.len() < 5 {
                    errors.push(format!("span [{i}]: {e}"));
                }
            }
        }
    }
    if d.items.is_empty() && d.rejected > 0 {
        return Err(AppError::bad_request(errors.join("; ")));
    }
    d.errors = errors;
    let o = st.ingest.spans(d).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"accepted": o.accepted, "rejected": o.rejected, "errors": o.error_message})),
    ))
}

/// Prometheus remote write 1.0: `POST /api/v1/write`, a snappy-compressed protobuf
/// `WriteRequest`; `204` as Prometheus expects. A body that is not one is a `400`, which senders
/// drop rather than retry; overload is a `503` with `Retry-After`, which they retry.
async fn remote_write(
    Scoped(st): Scoped,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, AppError> {
    use faultline_ingest::prometheus;
    let limit = st.ingest.limits.max_body_bytes;
    if body.len() > limit {
        return Err(AppError::new(
            crate::error::ErrorCode::PayloadTooLarge,
            format!("body of {} bytes is larger than the limit of {limit} bytes", body.len()),
        ));
    }
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("snappy");
    if !encoding.eq_ignore_ascii_case("snappy") {
        return Err(AppError::new(
            crate::error::ErrorCode::UnsupportedMediaType,
            format!("unsupported Content-Encoding {encoding:?}; remote write sends snappy"),
        ));
    }
    let _held = st.ingest.hold(body.len())?;
    let req = prometheus::decode(&body, limit).map_err(|e| match e {
        prometheus::RemoteWriteError::TooLarge(..) => {
            AppError::new(crate::error::ErrorCode::PayloadTooLarge, e.to_string())
        }
        e => AppError::bad_request(e.to_string()),
    })?;
    let d = prometheus::points(&req);
    if d.items.is_empty() && d.rejected > 0 {
        return Err(AppError::bad_request(d.errors.join("; ")));
    }
    st.ingest.metric_points(d).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn status(Scoped(st): Scoped) -> Json<Value> {
    Json(json!(st.store.stats()))
}

async fn prometheus(Scoped(st): Scoped) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.telemetry.render(&st.store.stats()))
}

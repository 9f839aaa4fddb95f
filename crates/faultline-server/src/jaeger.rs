//! The Jaeger query API under `/jaeger/api`, in the JSON shape the Jaeger UI and Grafana's Jaeger
//! data source read: point either at `http://127.0.0.1:8080/jaeger`.

use crate::error::AppError;
use crate::tenant::Scoped;
use crate::AppState;
use axum::extract::{Path, Query};
use axum::routing::get;
use axum::{Json, Router};
use faultline_ingest::jaeger::trace_to_json;
use faultline_model::TraceId;
use faultline_query::traces::{dependencies, find_trace_ids, services_and_operations, trace_spans};
use faultline_store::expr::{CmpOp, Expr, Scalar};
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jaeger/api/services", get(services))
        .route("/jaeger/api/services/{service}/operations", get(service_operations))
        .route("/jaeger/api/operations", get(operations))
        .route("/jaeger/api/traces", get(find_traces))
        .route("/jaeger/api/traces/{id}", get(trace))
        .route("/jaeger/api/dependencies", get(deps))
        .route("/jaeger/{*rest}", axum::routing::any(unknown))
}

fn envelope(data: Value) -> Json<Value> {
    let total = data.as_array().map_or(0, |a| a.len());
    Json(json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}))
}

type Params = Query<HashMap<String, String>>;

/// An error in Jaeger's shape, `{"data": null, ..., "errors": [{"code": 400, "msg": "..."}]}`,
/// which Jaeger UI shows as a message (it shows any other body raw).
pub struct JaegerError(AppError);

impl<E: Into<AppError>> From<E> for JaegerError {
    fn from(e: E) -> Self {
        JaegerError(e.into())
    }
}

impl axum::response::IntoResponse for JaegerError {
    fn into_response(self) -> axum::response::Response {
        let status = self.0.code.http();
        let body = json!({"data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{"code": status.as_u16(), "msg": self.0.message}]});
        (status, Json(body)).into_response()
    }
}

/// Routes under `/jaeger` that do not exist: a 404 in Jaeger's shape, never an empty body.
async fn unknown(uri: axum::http::Uri) -> JaegerError {
    JaegerError(AppError::not_found(format!("no such Jaeger API route: {}", uri.path())))
}

fn micros(p: &HashMap<String, String>, k: &str) -> Result<Option<i64>, AppError> {
    p.get(k)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                AppError::bad_request(format!("{k} must be microseconds since the epoch, got {s:?}"))
            })
        })
        .transpose()
}

/// `[from, to)` from Jaeger's `start`/`end` (µs) or `endTs`/`lookback` (ms); all data by default.
fn window(p: &HashMap<String, String>) -> Result<(i64, i64), AppError> {
    let now = faultline_model::time::now_ns();
    // Saturating: clients send sentinel values such as endTs=9999999999999.
    let mut from = micros(p, "start")?.map(|u| u.saturating_mul(1000)).unwrap_or(i64::MIN);
    let mut to = micros(p, "end")?.map(|u| u.saturating_mul(1000).saturating_add(1)).unwrap_or(i64::MAX);
    if let Some(end_ms) = p.get("endTs").and_then(|s| s.parse::<i64>().ok()) {
        to = end_ms.saturating_mul(1_000_000).saturating_add(1);
        if let Some(lb) = p.get("lookback").and_then(|s| s.parse::<i64>().ok()) {
            from = to.saturating_sub(lb.saturating_mul(1_000_000));
        }
    } else if from == i64::MIN {
        if let Some(lb) = p.get("lookback").filter(|s| *s != "custom") {
            if let Ok(d) = faultline_model::time::parse_duration_ns(lb) {
                from = now.saturating_sub(d);
            }
        }
    }
    Ok((from, to))
}

async fn services(Scoped(st): Scoped) -> Result<Json<Value>, JaegerError> {
    let m = services_and_operations(&st.store, i64::MIN, i64::MAX).await?;
    Ok(envelope(json!(m.keys().collect::<Vec<_>>())))
}

async fn service_operations(
    Scoped(st): Scoped,
    Path(service): Path<String>,
) -> Result<Json<Value>, JaegerError> {
    let m = services_and_operations(&st.store, i64::MIN, i64::MAX).await?;
    let ops: Vec<&String> = m.get(&service).map(|o| o.keys().collect()).unwrap_or_default();
    Ok(envelope(json!(ops)))
}

async fn operations(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, JaegerError> {
    let service = p.get("service").ok_or_else(|| AppError::bad_request("service is required"))?;
    let kind = p.get("spanKind").filter(|s| !s.is_empty());
    let m = services_and_operations(&st.store, i64::MIN, i64::MAX).await?;
    let mut out = Vec::new();
    for (name, kinds) in m.get(service).into_iter().flatten() {
        for k in kinds {
            let k = faultline_model::SpanKind::from_i32(*k as i32).as_str();
            let k = if k == "unspecified" { "" } else { k };
            if kind.is_none_or(|want| want == k) {
                out.push(json!({"name": name, "spanKind": k}));
            }
        }
    }
    Ok(envelope(json!(out)))
}

fn duration_param(p: &HashMap<String, String>, k: &str) -> Result<Option<i64>, AppError> {
    p.get(k)
        .filter(|s| !s.is_empty())
        .map(|s| {
            faultline_model::time::parse_duration_ns(s)
                .map_err(|e| AppError::bad_request(format!("{k}: {e}")))
        })
        .transpose()
}

/// `traceID` may repeat (compare links, `/search?traceID=A&traceID=B`): the query is read as
/// pairs, so that every id counts.
async fn find_traces(
    Scoped(st): Scoped,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, JaegerError> {
    let ids: Vec<&str> =
        pairs.iter().filter(|(k, v)| k == "traceID" && !v.is_empty()).map(|(_, v)| v.as_str()).collect();
    if !ids.is_empty() {
        return traces_by_id(&st, &ids).await;
    }
    let p: HashMap<String, String> = pairs.iter().cloned().collect();
    let (from, to) = window(&p)?;
    let mut parts = Vec::new();
    if let Some(s) = p.get("service").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("service_name", CmpOp::Eq, Scalar::Str(s.clone())));
    }
    if let Some(o) = p.get("operation").filter(|s| !s.is_empty()) {
        parts.push(Expr::col("name", CmpOp::Eq, Scalar::Str(o.clone())));
    }
    if let Some(d) = duration_param(&p, "minDuration")? {
        parts.push(Expr::col("duration_ns", CmpOp::Ge, Scalar::Int(d)));
    }
    if let Some(d) = duration_param(&p, "maxDuration")? {
        parts.push(Expr::col("duration_ns", CmpOp::Le, Scalar::Int(d)));
    }
    if let Some(t) = p.get("tags").filter(|s| !s.is_empty()) {
        let tags: serde_json::Map<String, Value> = serde_json::from_str(t)
            .map_err(|e| AppError::bad_request(format!("tags must be a JSON object: {e}")))?;
        parts.extend(tag_filters(&tags));
    }
    let limit =
        p.get("limit").and_then(|s| s.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(20).min(1500);
    let ids = find_trace_ids(&st.store, Expr::and(parts), from, to, limit).await?;
    let mut out = Vec::with_capacity(ids.len());
    for (tid, _) in ids {
        out.push(trace_to_json(tid, &trace_spans(&st.store, tid).await?));
    }
    Ok(envelope(json!(out)))
}

/// Span filters for Jaeger tags: each must hold on the span's own attributes or its resource's;
/// `error=true` (or anything else) asks for spans with (or without) an error status.
pub fn tag_filters(tags: &serde_json::Map<String, Value>) -> Vec<Expr> {
    let mut parts = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if k == "error" {
            let op = if text == "true" { CmpOp::Eq } else { CmpOp::Ne };
            parts.push(Expr::col("status_code", op, Scalar::Int(2)));
            continue;
        }
        let lit = text.parse::<i64>().map(Scalar::Int).unwrap_or(Scalar::Str(text));
        parts.push(Expr::Or(vec![
            Expr::Attr { column: "attributes".into(), key: k.clone(), op: CmpOp::Eq, value: lit.clone() },
            Expr::Attr { column: "resource_attributes".into(), key: k.clone(), op: CmpOp::Eq, value: lit },
        ]));
    }
    parts
}

/// The traces with these ids, in the order asked; ids not found (or not ids) are listed under
/// `errors` as Jaeger lists them.
async fn traces_by_id(st: &AppState, ids: &[&str]) -> Result<Json<Value>, JaegerError> {
    let (mut data, mut errors) = (Vec::new(), Vec::new());
    for id in ids {
        let Ok(tid) = TraceId::from_hex_lenient(id) else {
            errors.push(json!({"code": 400, "msg": format!("invalid trace id {id:?}")}));
            continue;
        };
        let spans = trace_spans(&st.store, tid).await?;
        if spans.is_empty() {
            errors
                .push(json!({"code": 404, "msg": format!("trace {tid} not found"), "traceID": tid.to_hex()}));
        } else {
            data.push(trace_to_json(tid, &spans));
        }
    }
    let total = data.len();
    let errors = if errors.is_empty() { Value::Null } else { Value::Array(errors) };
    Ok(Json(json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors})))
}

async fn trace(Scoped(st): Scoped, Path(id): Path<String>) -> Result<Json<Value>, JaegerError> {
    let tid = TraceId::from_hex_lenient(&id)
        .map_err(|e| AppError::bad_request(format!("invalid trace id {id:?}: {e}")))?;
    let spans = trace_spans(&st.store, tid).await?;
    if spans.is_empty() {
        return Err(AppError::not_found(format!("trace {tid} not found")).into());
    }
    Ok(envelope(json!([trace_to_json(tid, &spans)])))
}

async fn deps(Scoped(st): Scoped, Query(p): Params) -> Result<Json<Value>, JaegerError> {
    let (from, to) = window(&p)?;
    let d = dependencies(&st.store, from, to).await?;
    let out: Vec<Value> =
        d.into_iter().map(|(a, b, n)| json!({"parent": a, "child": b, "callCount": n})).collect();
    Ok(envelope(json!(out)))
}

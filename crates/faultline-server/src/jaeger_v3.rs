//! Jaeger's `api_v3` HTTP JSON gateway under `/jaeger/api/v3`, in the shapes of Jaeger's own
//! `api_v3/query_service.proto`: what every Jaeger UI since 2.15 reads (services and operations,
//! and since 2.19 its search through trace summaries).
//!
//! Traces come back as OTLP/JSON `TracesData` inside `{"result": ...}` (the gRPC gateway's envelope
//! for streamed answers); errors as `{"error": {"grpcCode", "httpCode", "message", "httpStatus"}}`.

use crate::error::{AppError, ErrorCode};
use crate::jaeger::tag_filters;
use crate::tenant::Scoped;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use faultline_model::{Span, SpanKind, StatusCode, TraceId};
use faultline_query::traces::{dependencies, find_trace_ids, services_and_operations, trace_spans};
use faultline_store::expr::{CmpOp, Expr, Scalar};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Traces a search returns when it names no depth: the Jaeger UI's own default.
const DEFAULT_SEARCH_DEPTH: usize = 20;
/// The most traces one search returns, whatever it asks: each is read whole.
const MAX_SEARCH_DEPTH: usize = 1500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jaeger/api/v3/services", get(services))
        .route("/jaeger/api/v3/operations", get(operations))
        .route("/jaeger/api/v3/traces", get(find_traces_get).post(find_traces_post))
        .route("/jaeger/api/v3/traces/{trace_id}", get(get_trace))
        .route("/jaeger/api/v3/trace-summaries", get(summaries_get).post(summaries_post))
        .route("/jaeger/api/v3/dependencies", get(deps))
}

/// An error in the gRPC gateway's shape, which the Jaeger UI reads.
pub struct GatewayError(AppError);

impl<E: Into<AppError>> From<E> for GatewayError {
    fn from(e: E) -> Self {
        GatewayError(e.into())
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.0.code.http();
        let body = json!({"error": {
            "grpcCode": self.0.code.grpc() as i32,
            "httpCode": status.as_u16(),
            "message": self.0.message,
            "httpStatus": status.canonical_reason().unwrap_or(""),
        }});
        (status, Json(body)).into_response()
    }
}

type Answer = Result<Response, GatewayError>;

async fn services(Scoped(st): Scoped) -> Answer {
    let m = services_and_operations(&st.store, i64::MIN, i64::MAX).await?;
    Ok(Json(json!({"services": m.keys().collect::<Vec<_>>()})).into_response())
}

/// A span kind as Jaeger names it; spans without a kind count as internal, as in Jaeger.
fn kind_name(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "internal",
        k => k.as_str(),
    }
}

async fn operations(Scoped(st): Scoped, Query(p): Query<HashMap<String, String>>) -> Answer {
    let service = p
        .get("service")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::bad_request("service is required"))?;
    let want = p.get("span_kind").filter(|s| !s.is_empty()).map(|s| s.to_ascii_lowercase());
    let m = services_and_operations(&st.store, i64::MIN, i64::MAX).await?;
    let mut out = Vec::new();
    for (name, kinds) in m.get(service).into_iter().flatten() {
        let names: std::collections::BTreeSet<&str> =
            kinds.iter().map(|k| kind_name(SpanKind::from_i32(*k as i32))).collect();
        for k in names.into_iter().filter(|k| want.as_deref().is_none_or(|w| w == *k)) {
            out.push(json!({"name": name, "spanKind": k}));
        }
    }
    Ok(Json(json!({"operations": out})).into_response())
}

/// A trace search as `TraceQueryParameters` holds it.
#[derive(Debug, Default, PartialEq)]
pub struct TraceQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub attributes: Map<String, Value>,
    pub from: i64,
    pub to: i64,
    pub duration_min: Option<i64>,
    pub duration_max: Option<i64>,
    pub depth: usize,
    pub raw: bool,
}

impl TraceQuery {
    /// From the GET binding's `query.*` parameters (the Jaeger UI also sends `query.span_name`).
    pub fn from_params(p: &HashMap<String, String>) -> Result<TraceQuery, AppError> {
        let get = |k: &str| p.get(&format!("query.{k}")).filter(|s| !s.is_empty()).map(String::as_str);
        let time = |k: &str| -> Result<i64, AppError> {
            let s = get(k).ok_or_else(|| {
                AppError::bad_request("query.start_time_min and query.start_time_max are required")
            })?;
            rfc3339(s).map_err(|e| AppError::bad_request(format!("malformed parameter query.{k}: {e}")))
        };
        let duration = |k: &str| -> Result<Option<i64>, AppError> {
            get(k)
                .map(|s| {
                    faultline_model::time::parse_duration_ns(s)
                        .map_err(|e| AppError::bad_request(format!("malformed parameter query.{k}: {e}")))
                })
                .transpose()
        };
        let depth = match get("search_depth")
            .map(|s| ("search_depth", s))
            .or(get("num_traces").map(|s| ("num_traces", s)))
        {
            Some((k, s)) => s.parse::<usize>().map_err(|_| {
                AppError::bad_request(format!("malformed parameter query.{k}: {s:?} is not a count"))
            })?,
            None => 0,
        };
        let attributes = match get("attributes") {
            Some(s) => serde_json::from_str(s).map_err(|e| {
                AppError::bad_request(format!("query.attributes must be a JSON object of strings: {e}"))
            })?,
            None => Map::new(),
        };
        let raw = match get("raw_traces") {
            Some(s) => s
                .parse::<bool>()
                .map_err(|_| AppError::bad_request(format!("malformed parameter query.raw_traces: {s:?}")))?,
            None => false,
        };
        TraceQuery {
            service: get("service_name").map(String::from),
            operation: get("operation_name").or(get("span_name")).map(String::from),
            attributes,
            from: time("start_time_min")?,
            to: time("start_time_max")?,
            duration_min: duration("duration_min")?,
            duration_max: duration("duration_max")?,
            depth,
            raw,
        }
        .checked()
    }

    /// From the POST binding's body, `{"query": {...}}`, with proto field names in snake or
    /// camel case as protobuf's JSON mapping accepts.
    pub fn from_body(body: &[u8]) -> Result<TraceQuery, AppError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            AppError::bad_request(format!("the body must be JSON {{\"query\": {{...}}}}: {e}"))
        })?;
        let q = v.get("query").and_then(Value::as_object).ok_or_else(|| {
            AppError::bad_request("the body must be JSON {\"query\": {...}} with the search in `query`")
        })?;
        let mut p = HashMap::new();
        for (k, v) in q {
            let key = snake_case(k);
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Object(_) if key == "attributes" => v.to_string(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                Value::Null => continue,
                _ => return Err(AppError::bad_request(format!("query.{k} has the wrong type"))),
            };
            p.insert(format!("query.{key}"), text);
        }
        TraceQuery::from_params(&p)
    }

    fn checked(mut self) -> Result<TraceQuery, AppError> {
        if self.from >= self.to {
            return Err(AppError::bad_request("query.start_time_min must be before query.start_time_max"));
        }
        if let (Some(a), Some(b)) = (self.duration_min, self.duration_max) {
            if a > b {
                return Err(AppError::bad_request("query.duration_min is above query.duration_max"));
            }
        }
        self.depth = match self.depth {
            0 => DEFAULT_SEARCH_DEPTH,
            n => n.min(MAX_SEARCH_DEPTH),
        };
        Ok(self)
    }

    /// The span filter: every field must hold on one span.
    fn filter(&self) -> Expr {
        let mut parts = Vec::new();
        if let Some(s) = &self.service {
            parts.push(Expr::col("service_name", CmpOp::Eq, Scalar::Str(s.clone())));
        }
        if let Some(o) = &self.operation {
            parts.push(Expr::col("name", CmpOp::Eq, Scalar::Str(o.clone())));
        }
        if let Some(d) = self.duration_min {
            parts.push(Expr::col("duration_ns", CmpOp::Ge, Scalar::Int(d)));
        }
        if let Some(d) = self.duration_max {
            parts.push(Expr::col("duration_ns", CmpOp::Le, Scalar::Int(d)));
        }
        parts.extend(tag_filters(&self.attributes));
        Expr::and(parts)
    }
}

fn snake_case(k: &str) -> String {
    let mut out = String::with_capacity(k.len() + 4);
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An RFC 3339 time (nanoseconds allowed), as the gateway's `Timestamp` fields take it.
fn rfc3339(s: &str) -> Result<i64, String> {
    faultline_model::time::parse_rfc3339_ns(s)
        .map_err(|_| format!("{s:?} is not an RFC 3339 time like 2026-11-30T10:00:00.000Z"))
}

/// The traces a search finds, each whole, most recent match first.
async fn search(st: &AppState, q: &TraceQuery) -> Result<Vec<(TraceId, Vec<Span>)>, AppError> {
    let ids = find_trace_ids(&st.store, q.filter(), q.from, q.to, q.depth).await?;
    let mut out = Vec::with_capacity(ids.len());
    for (tid, _) in ids {
        out.push((tid, trace_spans(&st.store, tid).await?));
    }
    Ok(out)
}

/// Spans as `{"result": TracesData}`; 404 in the gateway's shape when there are none, as Jaeger.
fn traces_answer(spans: &[Span]) -> Answer {
    if spans.is_empty() {
        return Err(AppError::not_found("No traces found").into());
    }
    let mut out = Vec::with_capacity(64 + spans.len() * 512);
    out.extend_from_slice(b"{\"result\":");
    faultline_otlp::json::write_traces(spans, &mut out);
    out.push(b'}');
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], out).into_response())
}

async fn find_traces(st: &AppState, q: TraceQuery) -> Answer {
    let found = search(st, &q).await?;
    let spans: Vec<Span> = found.into_iter().flat_map(|(_, s)| s).collect();
    traces_answer(&spans)
}

async fn find_traces_get(Scoped(st): Scoped, Query(p): Query<HashMap<String, String>>) -> Answer {
    find_traces(&st, TraceQuery::from_params(&p)?).await
}

async fn find_traces_post(Scoped(st): Scoped, body: Bytes) -> Answer {
    find_traces(&st, TraceQuery::from_body(&body)?).await
}

async fn get_trace(
    Scoped(st): Scoped,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Answer {
    let tid = TraceId::from_hex_lenient(&id)
        .map_err(|e| AppError::bad_request(format!("malformed parameter trace_id: {id:?}: {e}")))?;
    for k in ["start_time", "end_time"] {
        if let Some(s) = p.get(k).filter(|s| !s.is_empty()) {
            rfc3339(s).map_err(|e| AppError::bad_request(format!("malformed parameter {k}: {e}")))?;
        }
    }
    let spans = trace_spans(&st.store, tid).await?;
    if spans.is_empty() {
        return Err(AppError::not_found(format!("trace {tid} not found")).into());
    }
    traces_answer(&spans)
}

/// One trace's summary, as `TraceSummary` holds it.
pub fn summary(tid: TraceId, spans: &[Span]) -> Value {
    let ids: HashSet<_> = spans.iter().map(|s| s.span_id).collect();
    let orphans = spans.iter().filter(|s| s.parent_span_id.is_some_and(|p| !ids.contains(&p))).count();
    let root = spans
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .chain(spans.iter())
        .min_by_key(|s| (s.parent_span_id.is_some(), s.start_unix_nano));
    let is_error = |s: &Span| s.status_code == StatusCode::Error;
    let mut services: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in spans {
        let e = services.entry(s.resource.service_name.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(is_error(s));
    }
    let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_unix_nano).max().unwrap_or(0);
    json!({
        "traceId": tid.to_hex(),
        "rootServiceName": root.map_or("", |r| r.resource.service_name.as_str()),
        "rootOperationName": root.map_or("", |r| r.name.as_str()),
        "minStartTimeUnixNano": start.max(0).to_string(),
        "maxEndTimeUnixNano": end.max(0).to_string(),
        "spanCount": spans.len(),
        "errorSpanCount": spans.iter().filter(|s| is_error(s)).count(),
        "orphanSpanCount": orphans,
        "services": services.into_iter().map(|(name, (n, e))| {
            json!({"name": name, "spanCount": n, "errorSpanCount": e})
        }).collect::<Vec<_>>(),
    })
}

async fn summaries(st: &AppState, q: TraceQuery) -> Answer {
    let found = search(st, &q).await?;
    let out: Vec<Value> = found.iter().map(|(tid, spans)| summary(*tid, spans)).collect();
    Ok(Json(json!({"summaries": out})).into_response())
}

async fn summaries_get(Scoped(st): Scoped, Query(p): Query<HashMap<String, String>>) -> Answer {
    summaries(&st, TraceQuery::from_params(&p)?).await
}

async fn summaries_post(Scoped(st): Scoped, body: Bytes) -> Answer {
    summaries(&st, TraceQuery::from_body(&body)?).await
}

async fn deps(Scoped(st): Scoped, Query(p): Query<HashMap<String, String>>) -> Answer {
    let time = |k: &str| -> Result<i64, AppError> {
        let s = p
            .get(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AppError::bad_request("start_time and end_time are required"))?;
        rfc3339(s).map_err(|e| AppError::bad_request(format!("malformed parameter {k}: {e}")))
    };
    let (from, to) = (time("start_time")?, time("end_time")?);
    if from >= to {
        return Err(AppError::new(ErrorCode::BadRequest, "start_time must be before end_time").into());
    }
    let d = dependencies(&st.store, from, to).await?;
    let out: Vec<Value> =
        d.into_iter().map(|(a, b, n)| json!({"parent": a, "child": b, "callCount": n.to_string()})).collect();
    Ok(Json(json!({"dependencies": out})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const WINDOW: [(&str, &str); 2] = [
        ("query.start_time_min", "2026-11-30T10:00:00Z"),
        ("query.start_time_max", "2026-11-30T11:00:00.5Z"),
    ];

    #[test]
    fn a_search_reads_every_field_the_ui_and_the_proto_name() {
        let mut p = params(&WINDOW);
        p.extend(params(&[
            ("query.service_name", "checkout"),
            ("query.span_name", "POST /pay"),
            ("query.num_traces", "50"),
            ("query.duration_min", "1m30s"),
            ("query.attributes", r#"{"http.status_code":"500"}"#),
        ]));
        let q = TraceQuery::from_params(&p).unwrap();
        assert_eq!(q.service.as_deref(), Some("checkout"));
        assert_eq!(q.operation.as_deref(), Some("POST /pay"));
        assert_eq!(q.depth, 50);
        assert_eq!(q.duration_min, Some(90_000_000_000));
        assert_eq!(q.to - q.from, 3_600_500_000_000);
        assert_eq!(q.attributes["http.status_code"], "500");
    }

    #[test]
    fn the_post_body_is_the_same_search_in_snake_or_camel_case() {
        let get = TraceQuery::from_params(&params(&[
            WINDOW[0],
            WINDOW[1],
            ("query.service_name", "a"),
            ("query.search_depth", "7"),
        ]))
        .unwrap();
        for body in [
            r#"{"query":{"service_name":"a","start_time_min":"2026-11-30T10:00:00Z","start_time_max":"2026-11-30T11:00:00.5Z","search_depth":7}}"#,
            r#"{"query":{"serviceName":"a","startTimeMin":"2026-11-30T10:00:00Z","startTimeMax":"2026-11-30T11:00:00.5Z","searchDepth":7}}"#,
        ] {
            assert_eq!(TraceQuery::from_body(body.as_bytes()).unwrap(), get, "{body}");
        }
    }

    #[test]
    fn bad_searches_say_which_parameter_is_wrong() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("query.service_name", "a")], "query.start_time_min and query.start_time_max are required"),
            (&[WINDOW[0], ("query.start_time_max", "yesterday")], "malformed parameter query.start_time_max"),
            (&[WINDOW[1], ("query.start_time_min", "2026-11-30T12:00:00Z")], "must be before"),
            (&[WINDOW[0], WINDOW[1], ("query.num_traces", "-1")], "malformed parameter query.num_traces"),
            (
                &[WINDOW[0], WINDOW[1], ("query.duration_max", "fast")],
                "malformed parameter query.duration_max",
            ),
        ];
        for (kv, want) in cases {
            let e = TraceQuery::from_params(&params(kv)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(e.message.contains(want), "{} lacks {want:?}", e.message);
        }
        assert!(TraceQuery::from_body(b"[]").unwrap_err().message.contains("\"query\""));
    }

    #[test]
    fn depth_defaults_to_the_ui_default_and_is_capped() {
        let q = TraceQuery::from_params(&params(&WINDOW)).unwrap();
        assert_eq!(q.depth, DEFAULT_SEARCH_DEPTH);
        let q = TraceQuery::from_params(&params(&[WINDOW[0], WINDOW[1], ("query.num_traces", "100000000")]))
            .unwrap();
        assert_eq!(q.depth, MAX_SEARCH_DEPTH);
    }
}

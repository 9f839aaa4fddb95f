//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, protobuf or JSON, optionally gzip, as
//! the OpenTelemetry protocol specification says: the response has the request's content type; a
//! partial success names what was rejected; a bad request gets 400 with a `google.rpc.Status` body;
//! an overloaded server answers 503 with `Retry-After`, which clients retry.

use crate::error::{AppError, ErrorCode};
use crate::ingest::Outcome;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use faultline_otlp::proto::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use faultline_otlp::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use faultline_otlp::proto::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use faultline_otlp::{Request, Signal};
use prost::Message;
use std::io::Read;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/traces",
            post(|s: State<AppState>, h: HeaderMap, b: Bytes| handle(s, h, b, Signal::Traces)),
        )
        .route("/v1/logs", post(|s: State<AppState>, h: HeaderMap, b: Bytes| handle(s, h, b, Signal::Logs)))
        .route(
            "/v1/metrics",
            post(|s: State<AppState>, h: HeaderMap, b: Bytes| handle(s, h, b, Signal::Metrics)),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Refuses at once a request whose declared `Content-Length` is above the body limit (413, in the
/// encoding its `Content-Type` asks for), before a byte of it is read: a client that declares a
/// gigabyte and sends two bytes gets its answer now, not when its connection times out.
pub async fn refuse_declared_oversize(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tenant = crate::tenant::tenant_of(req.headers()).ok().flatten();
    let limit = state.tenants.limits_for(tenant.as_deref()).max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => {
            let protobuf = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("protobuf"));
            let enc = if protobuf { Encoding::Protobuf } else { Encoding::Json };
            let err = AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("body of {n} bytes (Content-Length) is larger than the limit of {limit} bytes"),
            );
            let mut resp = error_response(enc, err);
            // The rest of the body is not read: the connection cannot carry another request.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        _ => next.run(req).await,
    }
}

fn error_response(enc: Encoding, err: AppError) -> Response {
    let status = err.code.http();
    let code = err.code.grpc() as i32;
    let mut resp = match enc {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus { code, message: err.message }.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"code": code, "message": err.message}).to_string(),
        )
            .into_response(),
    };
    if let Some(secs) = err.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Decompresses a gzip body, refusing to inflate past `limit` bytes.
pub fn gunzip_limited(body: &[u8], limit: usize) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    d.read_to_end(&mut out).map_err(|e| AppError::bad_request(format!("body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("decompressed body is larger than the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

/// Applies `Content-Encoding` and the size limit.
pub fn body_bytes(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, AppError> {
    if body.len() > limit {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("body of {} bytes is larger than the limit of {limit} bytes", body.len()),
        ));
    }
    match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
    {
        None => Ok(body),
        Some(e) if e.is_empty() || e == "identity" => Ok(body),
        Some(e) if e == "gzip" => Ok(gunzip_limited(&body, limit)?.into()),
        Some(e) => Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            format!("unsupported Content-Encoding {e:?}; use gzip or none"),
        )),
    }
}

async fn handle(State(state): State<AppState>, headers: HeaderMap, body: Bytes, signal: Signal) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let enc = match ct.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            state.ingest.refused();
            return error_response(
                Encoding::Json,
                AppError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!("unsupported Content-Type {other:?}; OTLP/HTTP takes application/x-protobuf or application/json"),
                ),
            );
        }
    };
    match handle_inner(&state, &headers, body, signal, enc).await {
        Ok(resp) => resp,
        Err(e) => {
            state.ingest.refused();
            tracing::debug!(signal = signal.as_str(), error = %e.message, "OTLP/HTTP request refused");
            error_response(enc, e)
        }
    }
}

async fn handle_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
    signal: Signal,
    enc: Encoding,
) -> Result<Response, AppError> {
    let state = &state.scoped(headers).await?;
    let body = body_bytes(headers, body, state.ingest.limits.max_body_bytes)?;
    let _held = state.ingest.hold(body.len())?;
    let req = match enc {
        Encoding::Protobuf => faultline_otlp::decode_protobuf(signal, &body),
        Encoding::Json => faultline_otlp::json::decode(signal, &body),
    }
    .map_err(|e| AppError::bad_request(e.to_string()))?;
    let outcome = match &req {
        Request::Traces(r) => state.ingest.traces(r).await?,
        Request::Logs(r) => state.ingest.logs(r).await?,
        Request::Metrics(r) => state.ingest.metrics(r).await?,
    };
    Ok(success(signal, enc, &outcome))
}

fn success(signal: Signal, enc: Encoding, o: &Outcome) -> Response {
    let partial = o.rejected > 0 || !o.error_message.is_empty();
    let (bytes, json) = match signal {
        Signal::Traces => {
            let ps = partial.then(|| ExportTracePartialSuccess {
                rejected_spans: o.rejected as i64,
                error_message: o.error_message.clone(),
            });
            (
                ExportTraceServiceResponse { partial_success: ps }.encode_to_vec(),
                partial_json("rejectedSpans", o),
            )
        }
        Signal::Logs => {
            let ps = partial.then(|| ExportLogsPartialSuccess {
                rejected_log_records: o.rejected as i64,
                error_message: o.error_message.clone(),
            });
            (
                ExportLogsServiceResponse { partial_success: ps }.encode_to_vec(),
                partial_json("rejectedLogRecords", o),
            )
        }
        Signal::Metrics => {
            let ps = partial.then(|| ExportMetricsPartialSuccess {
                rejected_data_points: o.rejected as i64,
                error_message: o.error_message.clone(),
            });
            (
                ExportMetricsServiceResponse { partial_success: ps }.encode_to_vec(),
                partial_json("rejectedDataPoints", o),
            )
        }
    };
    match enc {
        Encoding::Protobuf => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], bytes).into_response()
        }
        Encoding::Json => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response()
        }
    }
}

fn partial_json(key: &str, o: &Outcome) -> serde_json::Value {
    if o.rejected == 0 && o.error_message.is_empty() {
        return serde_json::json!({});
    }
    serde_json::json!({"partialSuccess": {key: o.rejected.to_string(), "errorMessage": o.error_message}})
}

//! OTLP/gRPC: the three collector services, answering partial success, `INVALID_ARGUMENT` for bad
//! data and `UNAVAILABLE` (which clients retry) when the store cannot take more right now.

use crate::error::AppError;
use crate::AppState;
use faultline_otlp::proto::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use faultline_otlp::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use faultline_otlp::proto::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use faultline_otlp::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use faultline_otlp::proto::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use faultline_otlp::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

fn status(e: AppError) -> Status {
    Status::new(e.code.grpc(), e.message)
}

pub struct Otlp(AppState);

impl Otlp {
    /// Checks the token and scopes the state to the tenant the metadata names (`x-scope-orgid`).
    async fn scoped<T>(&self, req: &Request<T>) -> Result<AppState, Status> {
        crate::auth::check_grpc(&self.0.tokens, req.metadata(), crate::auth::Scope::Ingest)?;
        self.0.scoped(&req.metadata().clone().into_headers()).await.map_err(status)
    }
}

#[tonic::async_trait]
impl TraceService for Otlp {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let st = self.scoped(&req).await?;
        let _held = st.ingest.hold(prost::Message::encoded_len(req.get_ref())).map_err(status)?;
        let o = st.ingest.traces(req.get_ref()).await.map_err(status)?;
        let partial_success = (o.rejected > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: o.rejected as i64,
            error_message: o.error_message,
        });
        Ok(Response::new(ExportTraceServiceResponse { partial_success }))
    }
}

#[tonic::async_trait]
impl LogsService for Otlp {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let st = self.scoped(&req).await?;
        let _held = st.ingest.hold(prost::Message::encoded_len(req.get_ref())).map_err(status)?;
        let o = st.ingest.logs(req.get_ref()).await.map_err(status)?;
        let partial_success = (o.rejected > 0).then_some(ExportLogsPartialSuccess {
            rejected_log_records: o.rejected as i64,
            error_message: o.error_message,
        });
        Ok(Response::new(ExportLogsServiceResponse { partial_success }))
    }
}

#[tonic::async_trait]
impl MetricsService for Otlp {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let st = self.scoped(&req).await?;
        let _held = st.ingest.hold(prost::Message::encoded_len(req.get_ref())).map_err(status)?;
        let o = st.ingest.metrics(req.get_ref()).await.map_err(status)?;
        let partial_success = (o.rejected > 0).then_some(ExportMetricsPartialSuccess {
            rejected_data_points: o.rejected as i64,
            error_message: o.error_message,
        });
        Ok(Response::new(ExportMetricsServiceResponse { partial_success }))
    }
}

/// gRPC status codes (the `grpc-status` header of a trailers-only answer) as the OTLP
/// specification wants them for what tonic answers before a handler runs: a message that does not
/// decode is `INVALID_ARGUMENT`, not `INTERNAL`, and one above the size limit `INVALID_ARGUMENT`, not
/// `OUT_OF_RANGE` (both of which OTLP clients retry, forever).
fn otlp_status_code(code: i32, message: &str) -> i32 {
    const INVALID_ARGUMENT: i32 = 3;
    const OUT_OF_RANGE: i32 = 11;
    const INTERNAL: i32 = 13;
    match code {
        INTERNAL if message.contains("decode") => INVALID_ARGUMENT,
        OUT_OF_RANGE => INVALID_ARGUMENT,
        other => other,
    }
}

fn fix_status<B>(mut r: http::Response<B>) -> http::Response<B> {
    let h = r.headers_mut();
    let code = h.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<i32>().ok());
    if let Some(code) = code {
        let message = h
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(|m| percent_decoded(m).to_ascii_lowercase())
            .unwrap_or_default();
        let fixed = otlp_status_code(code, &message);
        if fixed != code {
            h.insert("grpc-status", http::HeaderValue::from(fixed));
        }
    }
    r
}

/// `grpc-message` is percent-encoded; enough of it is decoded to read its words.
fn percent_decoded(s: &str) -> String {
    s.replace("%20", " ").replace("%3A", ":")
}

type FixResponse = fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body>;
/// The layer that sets the OTLP status codes (`fix_status`).
pub type StatusFix =
    tower::layer::util::Stack<tower::util::MapResponseLayer<FixResponse>, tower::layer::util::Identity>;

/// The gRPC server with the three OTLP services (gzip accepted).
pub fn router(state: AppState) -> tonic::transport::server::Router<StatusFix> {
    let max = state.ingest.limits.max_body_bytes;
    let fix: FixResponse = fix_status;
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(fix))
        .add_service(
            TraceServiceServer::new(Otlp(state.clone()))
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max),
        )
        .add_service(
            LogsServiceServer::new(Otlp(state.clone()))
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max),
        )
        .add_service(
            MetricsServiceServer::new(Otlp(state))
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_failures_and_oversized_messages_are_not_retried() {
        assert_eq!(otlp_status_code(13, "failed to decode protobuf message: buffer underflow"), 3);
        assert_eq!(otlp_status_code(11, "error, decoded message length too large"), 3);
        // Other codes stand: UNAVAILABLE is what clients should retry.
        assert_eq!(otlp_status_code(14, "store is busy"), 14);
        assert_eq!(otlp_status_code(13, "internal error (a bug)"), 13);
        let r = http::Response::builder()
            .header("grpc-status", "13")
            .header("grpc-message", "failed%20to%20decode%20Protobuf")
            .body(())
            .unwrap();
        assert_eq!(fix_status(r).headers()["grpc-status"], "3");
    }
}

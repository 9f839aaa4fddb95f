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

#[tonic::async_trait]
impl TraceService for Otlp {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let o = self.0.ingest.traces(req.get_ref()).await.map_err(status)?;
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
        let o = self.0.ingest.logs(req.get_ref()).await.map_err(status)?;
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
        let o = self.0.ingest.metrics(req.get_ref()).await.map_err(status)?;
        let partial_success = (o.rejected > 0).then_some(ExportMetricsPartialSuccess {
            rejected_data_points: o.rejected as i64,
            error_message: o.error_message,
        });
        Ok(Response::new(ExportMetricsServiceResponse { partial_success }))
    }
}

/// The gRPC server with the three OTLP services (gzip accepted).
pub fn router(state: AppState) -> tonic::transport::server::Router {
    let max = state.ingest.limits.max_body_bytes;
    tonic::transport::Server::builder()
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

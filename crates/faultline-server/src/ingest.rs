//! The path every received item takes, whatever the receiver: convert and validate, append to the
//! store (durable before we answer), count.

use crate::error::AppError;
use crate::ratelimit::Bucket;
use crate::telemetry::Telemetry;
use crate::ServerLimits;
use faultline_model::schema::{changes_to_batch, logs_to_batch, metrics_to_batch, spans_to_batch, Table};
use faultline_model::{ChangeEvent, LogRecord, MetricPoint, Span};
use faultline_otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use faultline_otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use faultline_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use faultline_otlp::{Decoded, Limits};
use faultline_store::Store;
use std::sync::Arc;
use std::time::Instant;

/// Outcome of one ingest request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub accepted: u64,
    pub rejected: u64,
    pub error_message: String,
}

/// Memory an ingest request holds while decoded, per byte of its body: the body, the decoded
/// message, the records built from it (strings and attribute maps of their own), the Arrow batch
/// and its log record. Measured by `faultline-bench ingest-memory` on OTLP/protobuf, the densest
/// encoding: 18 a byte at the median, 20 at most (OTLP/JSON: 13.5).
pub const INGEST_BYTES_PER_BODY_BYTE: usize = 20;

pub struct Ingestor {
    store: Store,
    pub limits: ServerLimits,
    telemetry: Arc<Telemetry>,
    /// The tenant's rate (`ratelimit`), when it has one.
    rate: Option<std::sync::Mutex<Bucket>>,
}

impl Ingestor {
    pub fn new(store: Store, limits: ServerLimits, telemetry: Arc<Telemetry>) -> Self {
        let rate = limits.ingest_rate.map(|r| std::sync::Mutex::new(Bucket::new(r, Instant::now())));
        Ingestor { store, limits, telemetry, rate }
    }

    /// Holds memory for a request of `body_bytes` (decompressed) while it is decoded and stored, or
    /// refuses retryably when the server's budget is spent.
    pub fn hold(&self, body_bytes: usize) -> Result<faultline_store::memory::Held, AppError> {
        let memory = &self.store.config().memory;
        // A request as large as half the budget holds half: it goes through when the head and the
        // other requests leave that, rather than never.
        let bytes = body_bytes.saturating_mul(INGEST_BYTES_PER_BODY_BYTE).min(memory.limit() / 2);
        memory.try_take(bytes).ok_or_else(|| {
            self.telemetry.requests_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            AppError::new(
                crate::error::ErrorCode::Unavailable,
                format!(
                    "the server's memory budget ({} MiB, --max-memory) is spent; retry shortly",
                    memory.limit() >> 20
                ),
            )
        })
    }

    /// Takes `n` records from the tenant's rate, or refuses retryably.
    fn within_rate(&self, n: u64) -> Result<(), AppError> {
        let Some(b) = &self.rate else { return Ok(()) };
        let taken = b.lock().unwrap_or_else(|e| e.into_inner()).take(n, Instant::now());
        taken.map_err(|wait| {
            self.telemetry.requests_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            AppError::rate_limited(
                format!(
                    "over this tenant's ingest rate of {} records/s: retry later",
                    self.limits.ingest_rate.unwrap_or(0.0)
                ),
                wait,
            )
        })
    }

    fn otlp_limits(&self) -> Limits {
        Limits { max_attributes: self.limits.max_attributes, ..Limits::default() }
    }

    async fn store_decoded<T>(
        &self,
        signal: usize,
        table: Table,
        d: Decoded<T>,
        to_batch: fn(&[T]) -> arrow::array::RecordBatch,
    ) -> Result<Outcome, AppError> {
        let accepted = d.items.len() as u64;
        self.within_rate(accepted)?;
        if accepted > 0 {
            if let Err(e) = self.store.append(table, to_batch(&d.items)).await {
                self.telemetry.requests_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(e.into());
            }
        }
        self.telemetry.record(signal, accepted, d.rejected);
        Ok(Outcome { accepted, rejected: d.rejected, error_message: d.error_message() })
    }

    pub async fn traces(&self, req: &ExportTraceServiceRequest) -> Result<Outcome, AppError> {
        let d = faultline_otlp::spans_from_request(req, &self.otlp_limits());
        self.store_decoded(0, Table::Spans, d, spans_to_batch).await
    }

    pub async fn logs(&self, req: &ExportLogsServiceRequest) -> Result<Outcome, AppError> {
        let d = faultline_otlp::logs_from_request(req, &self.otlp_limits());
        self.store_decoded(1, Table::Logs, d, logs_to_batch).await
    }

    pub async fn metrics(&self, req: &ExportMetricsServiceRequest) -> Result<Outcome, AppError> {
        let d = faultline_otlp::metrics_from_request(req, &self.otlp_limits());
        self.store_decoded(2, Table::Metrics, d, metrics_to_batch).await
    }

    pub async fn spans(&self, d: Decoded<Span>) -> Result<Outcome, AppError> {
        self.store_decoded(0, Table::Spans, d, spans_to_batch).await
    }

    pub async fn log_records(&self, d: Decoded<LogRecord>) -> Result<Outcome, AppError> {
        self.store_decoded(1, Table::Logs, d, logs_to_batch).await
    }

    pub async fn metric_points(&self, d: Decoded<MetricPoint>) -> Result<Outcome, AppError> {
        self.store_decoded(2, Table::Metrics, d, metrics_to_batch).await
    }

    pub async fn changes(&self, d: Decoded<ChangeEvent>) -> Result<Outcome, AppError> {
        self.store_decoded(3, Table::Changes, d, changes_to_batch).await
    }

    pub fn refused(&self) {
        self.telemetry.requests_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

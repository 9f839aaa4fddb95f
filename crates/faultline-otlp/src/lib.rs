//! The OTLP wire format: the protobuf types (re-exported from `opentelemetry-proto`), OTLP/JSON
//! decoding and encoding exactly as the OpenTelemetry protocol specification describes it, and the
//! conversions between OTLP requests and faultline's model.
//!
//! OTLP/JSON differs from the protobuf JSON mapping in ways this crate honours: trace and span ids
//! are hex, not base64; enums are integers (names are accepted too); 64-bit integers may be strings
//! or numbers; keys are lowerCamelCase (the original snake_case names are accepted too); unknown
//! fields are ignored.
//!
//! Invariant: this crate does no I/O.

pub mod convert;
pub mod json;

pub use convert::{
    logs_from_request, logs_to_request, metrics_from_request, metrics_to_request, spans_from_request,
    spans_to_request, Decoded, Limits,
};
pub use opentelemetry_proto::tonic as proto;

use proto::collector::logs::v1::ExportLogsServiceRequest;
use proto::collector::metrics::v1::ExportMetricsServiceRequest;
use proto::collector::trace::v1::ExportTraceServiceRequest;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }
}

/// A decoded OTLP export request of any signal.
#[derive(Debug, Clone)]
pub enum Request {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid OTLP protobuf for {signal}: {source}")]
    Protobuf { signal: &'static str, source: prost::DecodeError },
    #[error("invalid OTLP/JSON: {0}")]
    Json(String),
    #[error("invalid OTLP/JSON at {path}: {message}")]
    JsonField { path: String, message: String },
}

/// Decodes an OTLP protobuf export request of the given signal.
pub fn decode_protobuf(signal: Signal, bytes: &[u8]) -> Result<Request, DecodeError> {
    use prost::Message;
    let err = |source| DecodeError::Protobuf { signal: signal.as_str(), source };
    Ok(match signal {
        Signal::Traces => Request::Traces(ExportTraceServiceRequest::decode(bytes).map_err(err)?),
        Signal::Logs => Request::Logs(ExportLogsServiceRequest::decode(bytes).map_err(err)?),
        Signal::Metrics => Request::Metrics(ExportMetricsServiceRequest::decode(bytes).map_err(err)?),
    })
}

/// What the JSON decoder reads for a timestamp that is negative or too large for 64 bits:
/// conversion rejects the record that carries it, alone.
pub const TIME_OUT_OF_RANGE: u64 = u64::MAX;

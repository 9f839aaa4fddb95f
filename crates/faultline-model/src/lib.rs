//! faultline's data model, following OpenTelemetry: resources and scopes with attributes, spans, log
//! records, metric points, and change events (deploys, config changes, ...).
//!
//! Every record is flattened: a span carries its resource's service name, instance identity and
//! attributes, so that one row of a table is self-contained. [`schema`] gives the Arrow schema of
//! each table and the conversions between records and Arrow record batches; it is also the
//! documented Parquet layout (docs/storage.md).
//!
//! Invariant: this crate does no I/O.

pub mod change;
pub mod ids;
pub mod log;
pub mod metric;
pub mod schema;
pub mod span;
pub mod time;
pub mod value;

pub use change::{ChangeEvent, ChangeKind};
pub use ids::{IdError, SpanId, TraceId};
pub use log::LogRecord;
pub use metric::{MetricData, MetricKind, MetricPoint, Temporality};
pub use span::{Span, SpanEvent, SpanKind, SpanLink, StatusCode};
pub use value::{instance_identity, service_name_of, Attributes};

/// The resource fields every record carries.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResourceInfo {
    /// `service.name`, or `unknown_service` when the resource has none (as the SDKs default).
    pub service_name: String,
    /// The instance identity: `service.instance.id`, else `host.name`, else `k8s.pod.name`.
    pub instance: Option<String>,
    /// All resource attributes.
    #[serde(rename = "resource_attributes", default)]
    pub attributes: Attributes,
    /// Instrumentation scope name and version.
    #[serde(default)]
    pub scope_name: String,
    #[serde(default)]
    pub scope_version: String,
}

impl ResourceInfo {
    /// Builds the resource part of a record from resource attributes, deriving the service name and
    /// the instance identity.
    pub fn from_attributes(attributes: Attributes) -> Self {
        ResourceInfo {
            service_name: service_name_of(&attributes),
            instance: instance_identity(&attributes),
            attributes,
            scope_name: String::new(),
            scope_version: String::new(),
        }
    }
}

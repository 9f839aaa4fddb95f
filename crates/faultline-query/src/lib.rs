//! Queries over the store: the filter language, trace assembly, trace and span search, log search,
//! metric series, services and operations, change events.
//!
//! Invariant: this crate reads through `faultline_store::Store` only; it never writes.

pub mod filter;
pub mod metrics;
pub mod page;
pub mod traces;

pub use filter::{parse, FilterError};
pub use traces::{search_traces, trace_tree, TraceSummary, TraceTree};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Store(#[from] faultline_store::StoreError),
    /// A page size or cursor the request got wrong.
    #[error("{0}")]
    Cursor(String),
}

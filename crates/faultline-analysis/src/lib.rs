//! faultline's investigation engine. This first part turns spans into the signals every later step
//! uses: a compact table of a window's spans with interned names, error classification that works
//! where spans carry no status, and RED series (rate, errors, duration percentiles) per service and
//! operation.
//!
//! Invariant: this crate does no I/O; it works on record batches handed to it.

pub mod change;
pub mod correlate;
pub mod deps;
pub mod detectors;
pub mod diff;
pub mod evidence;
mod fmt;
pub mod graph;
pub mod hash;
pub mod inputs;
pub mod investigate;
pub mod join;
pub mod load;
pub mod localise;
pub mod logs;
pub mod pattern;
pub mod plan;
pub mod postmortem;
pub mod red;
pub mod report;
pub mod request_logs;
pub mod rules;
pub mod shape;
pub mod signals;
pub mod spans;
pub mod stats;
pub mod symptom;
pub mod templates;
pub mod verify;

pub use change::{error_rate_shift, Shift};
pub use deps::{dependency_map, Edge};
pub use inputs::{Inputs, LogTable, MetricTable};
pub use investigate::{investigate, InvestigateError, Options};
pub use pattern::{EvidenceKind, Pattern};
pub use plan::TimeRange;
pub use red::{red_by_service, red_series, Bucket, SeriesKey};
pub use report::Report;
pub use spans::SpanTable;

use std::sync::Arc;

/// Interns strings so that a window's services and operations are small integers.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    names: Vec<Arc<str>>,
    index: crate::hash::HashMap<Arc<str>, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let a: Arc<str> = Arc::from(s);
        let i = self.names.len() as u32;
        self.names.push(a.clone());
        self.index.insert(a, i);
        i
    }

    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

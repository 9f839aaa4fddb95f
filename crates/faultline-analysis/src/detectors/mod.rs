//! The hypotheses stage's detectors: each reads the signals and says which component went wrong and
//! how, in one shape, [`Finding`]. One file per detector, with its tests.
//!
//! The order of [`ALL`] is the order their findings are weighed in: the trace localisation first,
//! then the signals that support it (metrics, logs), then the patterns localisation alone does not
//! name.

mod changed_in_window;
mod clock_skew;
mod connection_leak;
mod localised;
mod log_suspects;
mod memory_leak;
mod metric_suspects;
mod missing_calls;
mod network_partition;
mod retry_storm;
mod slow_requests;
mod thundering_herd;
mod traffic_spike;

#[cfg(test)]
pub(crate) mod testkit;

pub use clock_skew::{clock_skew, Skew};
pub use memory_leak::memory_leaks;
pub use metric_suspects::{metric_finding, metric_suspects, MetricSuspect};

use crate::pattern::{EvidenceKind, Pattern};
use crate::report::{ChangeRef, Evidence};
use crate::signals::Signals;

/// How a finding enters the ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// A hypothesis of its own, scored by its weight.
    Cause,
    /// Adds its weight to the hypotheses about its service, and its evidence to the first of them.
    /// Where none is about its service and the traces explain nothing, it stands alone, scored
    /// `alone` (when set).
    Support { alone: Option<f64> },
    /// Support that stands alone (scored `alone`) only where no hypothesis at all came before
    /// it: a weak signal ranked for want of any other.
    Fallback { alone: f64 },
    /// Evidence for whatever ranks first (a rise of traffic too small to be a cause).
    Contributing,
}

/// What a detector found: a component, what went wrong with it, and the evidence.
#[derive(Debug, Clone)]
pub struct Finding {
    pub service: String,
    pub instance: Option<String>,
    pub operation: Option<String>,
    pub change: Option<ChangeRef>,
    pub patterns: Vec<Pattern>,
    /// The score of a cause, or what a supporting finding adds.
    pub weight: f64,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub role: Role,
    /// Also listed among the report's findings, whatever ranks first.
    pub listed: bool,
}

impl Finding {
    /// A cause about `service`, scored `weight`.
    pub fn cause(service: &str, weight: f64) -> Finding {
        Finding {
            service: service.to_string(),
            instance: None,
            operation: None,
            change: None,
            patterns: Vec::new(),
            weight,
            summary: String::new(),
            evidence: Vec::new(),
            role: Role::Cause,
            listed: false,
        }
    }

    /// Adds a pattern once.
    pub fn pattern(&mut self, p: Pattern) {
        if !self.patterns.contains(&p) {
            self.patterns.push(p);
        }
    }

    pub fn evidence(&mut self, signal: EvidenceKind, text: String, refs: Vec<String>) {
        self.evidence.push(Evidence { signal, text, refs });
    }

    /// The finding as the report lists it.
    pub fn listing(&self) -> crate::report::Finding {
        crate::report::Finding {
            pattern: self.patterns.first().copied().unwrap_or(Pattern::DependencyFailure),
            service: Some(self.service.clone()),
            instance: self.instance.clone(),
            text: self.evidence.first().map(|e| e.text.clone()).unwrap_or_else(|| self.summary.clone()),
        }
    }
}

/// A detector: reads the signals, returns what it found (nothing when its signal is absent).
pub trait Detector: Sync {
    fn name(&self) -> &'static str;
    fn detect(&self, s: &Signals<'_>) -> Vec<Finding>;
}

/// Every detector, in the order their findings are weighed.
pub static ALL: &[&dyn Detector] = &[
    &localised::Localised,
    &missing_calls::MissingCalls,
    &metric_suspects::MetricSuspects,
    &log_suspects::LogSuspects,
    &clock_skew::ClockSkew,
    &memory_leak::MemoryLeak,
    &connection_leak::ConnectionLeak,
    &thundering_herd::ThunderingHerd,
    &traffic_spike::TrafficSpike,
    &retry_storm::RetryStorm,
    &network_partition::NetworkPartition,
    &changed_in_window::ChangedInWindow,
    &slow_requests::SlowRequests,
];

/// Formatting shared by the detectors' texts.
pub(crate) mod text {
    pub(crate) use crate::fmt::fmt_rate as pct;
    use faultline_model::time::format_rfc3339_secs;

    /// A duration in nanoseconds, as the report writes durations.
    pub fn ms(ns: f64) -> String {
        crate::fmt::fmt_ms(ns / 1e6)
    }

    /// The time of day of a timestamp, `HH:MM:SS`.
    pub fn hms(ns: i64) -> String {
        let s = format_rfc3339_secs(ns);
        s.get(11..19).unwrap_or(&s).to_string()
    }

    /// A node's own time per request on each side, with the requests each side holds.
    pub fn own_time_per_request(ns: [f64; 2], requests: [usize; 2]) -> String {
        format!(
            "own time per request: {} on the baseline side, {} on the incident side ({} and {} requests)",
            ms(ns[0]),
            ms(ns[1]),
            requests[0],
            requests[1]
        )
    }

    pub fn trace_hex(id: &[u8; 16]) -> String {
        id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

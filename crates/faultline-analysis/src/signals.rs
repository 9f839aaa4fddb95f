//! The signals stage: from the plan and the window's telemetry, everything the detectors read.
//!
//! Built once per investigation: the call graph, each span's side of the comparison, what each
//! service did itself on each side (localisation), how many failing or slow requests there are,
//! the dependency map of the incident, and the logs joined to their traces and mined into templates.

use crate::deps::Edge;
use crate::graph::Graph;
use crate::hash::HashMap;
use crate::inputs::Inputs;
use crate::localise::{self, Attribution};
use crate::logs::LogTemplates;
use crate::plan::{Plan, TimeRange};
use crate::spans::SpanTable;
use crate::symptom::{Endpoint, Signal};
use std::collections::BTreeMap;

/// The slow threshold of a user-facing endpoint, keyed by (service, operation).
pub type SlowThresholds = HashMap<(u32, u32), i64>;

/// What every detector reads.
pub struct Signals<'a> {
    pub inputs: &'a Inputs,
    pub spans: &'a SpanTable,
    pub graph: Graph,
    pub endpoints: Vec<Endpoint>,
    pub plan: Plan,
    pub incident: TimeRange,
    /// The healthy stretch of time compared with; `None` when the window's requests are compared
    /// among themselves (time-based detectors then stay silent).
    pub baseline: Option<TimeRange>,
    /// The baseline as the report shows it: its window, or the time the other requests span.
    pub baseline_shown: TimeRange,
    /// Each span's side: 0 baseline, 1 incident, `localise::NO_SIDE` neither.
    pub sides: Vec<u8>,
    /// Above these durations a user-facing request counts as slow.
    pub slow_entry: SlowThresholds,
    pub attribution: Attribution,
    /// User-facing requests on each side.
    pub requests: [usize; 2],
    /// Failing and slow user-facing requests of the incident side.
    pub failing: u64,
    pub slow: u64,
    /// Which symptoms to explain: errors, latency (both when neither is clear).
    pub errors_matter: bool,
    pub latency_matters: bool,
    /// The incident's calls between services, and each caller's callees.
    pub edges: BTreeMap<(u32, u32), Edge>,
    pub callees: HashMap<u32, Vec<u32>>,
    /// Each log record's trace (by its id, or joined through request ids it shares with spans).
    pub log_traces: Vec<Option<[u8; 16]>>,
    pub logs_joined: usize,
    pub log_templates: LogTemplates,
}

impl<'a> Signals<'a> {
    /// Builds the signals of a planned investigation.
    /// `joined_logs` is each log record's trace and how many were joined by request ids
    /// (`crate::join::log_traces`).
    pub fn build(
        inputs: &'a Inputs,
        graph: Graph,
        endpoints: Vec<Endpoint>,
        plan: Plan,
        joined_logs: (Vec<Option<[u8; 16]>>, usize),
    ) -> Signals<'a> {
        let t = &inputs.spans;
        let incident = plan.incident;
        let baseline = plan.baseline_time();
        let (sides, outcome_slow) = sides(t, &graph, &plan);
        let baseline_shown = baseline.unwrap_or_else(|| other_requests_span(t, &sides, incident));
        let slow_entry = match baseline {
            None => outcome_slow,
            Some(b) => endpoints
                .iter()
                .map(|e| ((e.service, e.operation), e.duration_quantile(b.from, b.to, 0.99).max(1)))
                .collect(),
        };
        let mut attribution = localise::attribute_sides(t, &graph, &sides);
        let is_slow =
            |i: usize| slow_entry.get(&(t.service[i], t.operation[i])).is_some_and(|&th| t.duration[i] > th);
        let (failing, slow) = localise::coverage(t, &graph, &mut attribution, &sides, &is_slow);
        let (errors_matter, latency_matters) = if baseline.is_none() && plan.rises.is_empty() {
            (failing > 0 && failing >= slow, slow > failing)
        } else {
            (
                plan.rises.iter().any(|r| r.signal == Signal::Errors),
                plan.rises.iter().any(|r| r.signal == Signal::Latency),
            )
        };
        let edges = crate::deps::dependency_map_in(t, &graph, incident.from, incident.to);
        let mut callees: HashMap<u32, Vec<u32>> = HashMap::default();
        for &(a, b) in edges.keys() {
            callees.entry(a).or_default().push(b);
        }
        let requests = localise::entries_per_side(t, &graph, &sides);
        let look = plan.main.is_some() || plan.named || plan.log_rise.is_some();
        let (log_traces, logs_joined) = joined_logs;
        let compared = baseline.filter(|_| look);
        let log_templates = crate::logs::template_changes(
            &inputs.logs,
            &log_traces,
            compared.map_or((0, 0), TimeRange::pair),
            compared.map_or((0, 0), |_| incident.pair()),
        );
        tracing::debug!(
            requests = ?requests,
            nodes = attribution.nodes.len(),
            failing,
            slow,
            errors_matter,
            latency_matters,
            by_requests = baseline.is_none(),
            "signals built"
        );
        Signals {
            inputs,
            spans: t,
            graph,
            endpoints,
            plan,
            incident,
            baseline,
            baseline_shown,
            sides,
            slow_entry,
            attribution,
            requests,
            failing,
            slow,
            errors_matter,
            latency_matters,
            edges,
            callees,
            log_traces,
            logs_joined,
            log_templates,
        }
    }

    /// A symptom was found at the user-facing endpoints.
    pub fn symptom_found(&self) -> bool {
        self.plan.main.is_some()
    }

    /// Evidence is gathered where there is something to explain: a symptom, a window the user
    /// named as bad, or a rise of warnings and errors in the requests' logs.
    pub fn look(&self) -> bool {
        self.symptom_found() || self.plan.named || self.plan.log_rise.is_some()
    }

    /// The window's requests are compared among themselves (no healthy stretch of time).
    pub fn by_requests(&self) -> bool {
        self.baseline.is_none()
    }

    /// An interned name.
    pub fn name(&self, id: u32) -> String {
        self.spans.names.name(id).to_string()
    }

    /// The services each service calls, by name.
    pub fn callee_names(&self) -> HashMap<String, Vec<String>> {
        self.callees
            .iter()
            .map(|(&a, bs)| (self.name(a), bs.iter().map(|&b| self.name(b)).collect()))
            .collect()
    }
}

/// Each span's side in the plan's comparison, with the endpoints' slow thresholds when the
/// window's requests are compared among themselves.
pub fn sides(t: &SpanTable, g: &Graph, plan: &Plan) -> (Vec<u8>, SlowThresholds) {
    match plan.baseline_time() {
        Some(b) => (localise::sides_by_time(t, b.pair(), plan.incident.pair()), HashMap::default()),
        None => localise::sides_by_outcome(t, g, plan.incident.pair()),
    }
}

/// The time the baseline side's spans span (requests compared among themselves); the window's
/// start alone when there are none.
fn other_requests_span(t: &SpanTable, sides: &[u8], incident: TimeRange) -> TimeRange {
    (0..t.len())
        .filter(|&i| sides[i] == 0)
        .fold(None, |a: Option<TimeRange>, i| {
            let (s, e) = (t.start[i], t.end(i));
            Some(a.map_or(TimeRange::new(s, e), |a| TimeRange::new(a.from.min(s), a.to.max(e))))
        })
        .unwrap_or(TimeRange::new(incident.from, incident.from))
}

//! The investigation as a pipeline of stages, each a module:
//!
//! 1. plan (`crate::plan`): which stretch is the incident, and what it is compared with;
//! 2. signals (`crate::signals`): localisation, coverage, dependencies, logs joined to traces;
//! 3. hypotheses ([`hypotheses`]): every detector's findings (`crate::detectors`), weighed;
//! 4. rank ([`rank`]): hypotheses merged per service, pinned to changes, evidence added, ranked;
//! 5. assemble ([`assemble`]): the report around them.

mod assemble;
mod hypotheses;
mod metrics_only;
mod rank;

use crate::graph::Graph;
use crate::inputs::Inputs;
use crate::plan::{Ask, TimeRange};
use crate::report::Report;
use crate::rules::GrowthTest;
use crate::signals::Signals;
use crate::symptom;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The incident window; found in the data when not given.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub baseline: Option<(i64, i64)>,
    /// Root causes to report (default 5).
    pub top: usize,
}

impl Options {
    fn ask(&self) -> Ask {
        Ask { from: self.from, to: self.to, baseline: self.baseline }
    }

    /// The named window, checked.
    fn window(&self) -> Result<Option<TimeRange>, InvestigateError> {
        match (self.from, self.to) {
            (Some(f), Some(to)) if f >= to => {
                Err(InvestigateError::BadWindow(format!("from {f} is not before to {to}")))
            }
            (Some(f), Some(to)) => Ok(Some(TimeRange::new(f, to))),
            _ => Ok(None),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvestigateError {
    #[error("no spans in the window to investigate")]
    NoData,
    #[error("the window is empty or inverted: {0}")]
    BadWindow(String),
}

/// Investigates: plan, signals, hypotheses, rank, assemble.
pub fn investigate(inp: &Inputs, o: &Options) -> Result<Report, InvestigateError> {
    let started = std::time::Instant::now();
    let elapsed_ms = || started.elapsed().as_secs_f64() * 1e3;
    let t = &inp.spans;
    if let Some(w) = o.window()? {
        if !t.start.iter().any(|&s| s >= w.from && s < w.to) {
            return metrics_only::report(inp, o, w, elapsed_ms);
        }
    }
    let data = t.time_range().ok_or(InvestigateError::NoData)?;
    let graph = Graph::build(t);
    let joined_logs = crate::join::log_traces(&inp.logs, t);
    let endpoints = symptom::endpoints_with_logs(t, &graph, &inp.logs, &joined_logs.0);
    if endpoints.is_empty() {
        return Err(InvestigateError::NoData);
    }
    let warned = symptom::endpoints_with_warnings(&endpoints, t, &graph, &inp.logs, &joined_logs.0);
    let plan = plan(o, data, t, &graph, &endpoints, &warned).ok_or(InvestigateError::NoData)?;
    let signals = Signals::build(inp, graph, endpoints, plan, joined_logs);
    let mut hypotheses = hypotheses::gather(&signals);
    let listed = std::mem::take(&mut hypotheses.listed);
    let differences = assemble::differences(&signals);
    let root_causes = rank::rank(&signals, hypotheses, differences.as_ref(), o.top);
    Ok(assemble::report(&signals, root_causes, listed, differences, elapsed_ms))
}

/// The plan; where nothing rose at the endpoints or in the logs, planned again with the services'
/// own time (built only then: it walks every span).
fn plan(
    o: &Options,
    data: (i64, i64),
    t: &crate::spans::SpanTable,
    graph: &Graph,
    endpoints: &[symptom::Endpoint],
    warned: &[symptom::Endpoint],
) -> Option<crate::plan::Plan> {
    let first = crate::plan::plan(&o.ask(), data, endpoints, warned, &[])?;
    if first.main.is_some() || first.log_rise.is_some() {
        return Some(first);
    }
    let own = symptom::own_time_series(t, graph);
    crate::plan::plan(&o.ask(), data, endpoints, warned, &own).or(Some(first))
}

/// The simple rules' leading services on the sides the investigation would compare: by growth of
/// own time per request, and by growth of own error rate (the accuracy benchmarks' yardstick).
pub fn simple_rule_leaders(inp: &Inputs, o: &Options) -> (Option<String>, Option<String>) {
    let t = &inp.spans;
    let Some(data) = t.time_range() else { return (None, None) };
    let graph = Graph::build(t);
    let joined_logs = crate::join::log_traces(&inp.logs, t);
    let endpoints = symptom::endpoints_with_logs(t, &graph, &inp.logs, &joined_logs.0);
    let warned = symptom::endpoints_with_warnings(&endpoints, t, &graph, &inp.logs, &joined_logs.0);
    let Some(plan) = plan(o, data, t, &graph, &endpoints, &warned) else { return (None, None) };
    let (sides, _) = crate::signals::sides(t, &graph, &plan);
    let attribution = crate::localise::attribute_sides(t, &graph, &sides);
    let requests = crate::localise::entries_per_side(t, &graph, &sides);
    let name = |x: Option<&(u32, f64)>| x.map(|x| t.names.name(x.0).to_string());
    (
        name(
            crate::rules::own_time_growth(
                &attribution,
                requests,
                if plan.baseline_time().is_none() { GrowthTest::None } else { GrowthTest::Detect },
            )
            .first(),
        ),
        name(crate::rules::own_error_growth(&attribution).first()),
    )
}

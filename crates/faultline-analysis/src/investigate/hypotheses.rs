//! The hypotheses stage: every detector's findings, weighed in order into hypotheses (causes),
//! evidence for the leader (contributing findings) and the report's list of findings.

use crate::detectors::{self, Finding, Role};
use crate::hash::HashMap;
use crate::signals::Signals;

/// A trace hypothesis this strong explains the incident: supporting signals (metrics, logs) then
/// only add to hypotheses, they do not stand alone.
const EXPLAINS: f64 = 0.5;
/// A trace hypothesis this strong about a service explains what its callers' own signals say:
/// a caller's error lines or metrics do not stand alone beside it, since callers log and count
/// their callees' failures. Half of `EXPLAINS`: a callee failing in nearly every failing request
/// of a three-minute window against a one-minute baseline scores about 0.44 (error z near 4.7 on
/// a handful of baseline calls; tuning seed 6 run 7, a DNS failure of the callee that only its
/// caller logs), while a callee whose errors cover a quarter of the failing requests or less
/// explains no caller.
const CALLEE_EXPLAINS: f64 = 0.25;

#[derive(Debug, Default)]
pub struct Hypotheses {
    pub causes: Vec<Finding>,
    pub contributing: Vec<Finding>,
    pub listed: Vec<crate::report::Finding>,
}

/// Runs the detectors and weighs their findings.
pub fn gather(s: &Signals<'_>) -> Hypotheses {
    let mut h = Hypotheses::default();
    let mut state = Weighing {
        callees: s
            .callees
            .iter()
            .map(|(&a, bs)| (s.name(a), bs.iter().map(|&b| s.name(b)).collect()))
            .collect(),
        ..Weighing::default()
    };
    for d in detectors::ALL {
        let found = d.detect(s);
        tracing::debug!(detector = d.name(), findings = found.len(), "detector ran");
        weigh_batch(&mut h, found, &mut state);
    }
    h
}

/// Weighs one detector's findings: its fallbacks stand alone only where no detector before it
/// left a hypothesis (its own fallbacks do not keep each other out).
fn weigh_batch(h: &mut Hypotheses, found: Vec<Finding>, state: &mut Weighing) {
    state.nothing_before = h.causes.is_empty();
    for f in found {
        weigh(h, f, state);
    }
}

/// What the weighing remembers from the findings before.
#[derive(Debug, Default)]
struct Weighing {
    /// Whether the trace hypotheses explain the incident, taken when the first supporting finding
    /// comes in (the trace detectors run first).
    traces_explain: Option<bool>,
    /// Whether no hypothesis existed when the current detector's findings came in.
    nothing_before: bool,
    /// The services each service calls, by name (from the spans).
    callees: HashMap<String, Vec<String>>,
}

impl Weighing {
    /// Whether `caller` calls, directly or not, a service some cause this strong is about.
    fn calls_an_accused(&self, causes: &[Finding], caller: &str) -> bool {
        causes.iter().any(|c| {
            c.weight >= CALLEE_EXPLAINS
                && c.service != caller
                && crate::request_logs::reaches(&self.callees, caller, &c.service)
        })
    }
}

/// Weighs one finding into the hypotheses, in the order the detectors gave them.
fn weigh(h: &mut Hypotheses, f: Finding, state: &mut Weighing) {
    tracing::debug!(service = %f.service, role = ?f.role, weight = f.weight, summary = %f.summary, "finding");
    if f.listed {
        h.listed.push(f.listing());
    }
    match f.role {
        Role::Cause => h.causes.push(f),
        Role::Contributing => h.contributing.push(f),
        Role::Support { alone } => {
            let explain =
                *state.traces_explain.get_or_insert_with(|| h.causes.iter().any(|c| c.weight >= EXPLAINS));
            let inherited = state.calls_an_accused(&h.causes, &f.service);
            support(&mut h.causes, f, alone.filter(|_| !explain && !inherited));
        }
        Role::Fallback { alone } => support(&mut h.causes, f, state.nothing_before.then_some(alone)),
    }
}

/// Adds a supporting finding to the hypotheses about its service, or makes it one (scored
/// `alone`) when there are none.
fn support(causes: &mut Vec<Finding>, mut f: Finding, alone: Option<f64>) {
    let mut matched = false;
    for c in causes.iter_mut().filter(|c| c.service == f.service) {
        c.weight += f.weight;
        matched = true;
    }
    if let Some(c) = causes.iter_mut().find(|c| c.service == f.service) {
        c.evidence.extend(f.evidence);
        return;
    }
    if let (false, Some(w)) = (matched, alone) {
        f.weight = w;
        f.role = Role::Cause;
        causes.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{EvidenceKind, Pattern};

    fn supporting(service: &str, weight: f64, alone: Option<f64>) -> Finding {
        let mut f = Finding::cause(service, weight);
        f.role = Role::Support { alone };
        f.pattern(Pattern::CodeException);
        f.evidence(EvidenceKind::Logs, "errors".into(), vec![]);
        f
    }

    #[test]
    fn support_adds_to_every_hypothesis_about_its_service_and_evidence_to_the_first() {
        let mut causes = vec![Finding::cause("a", 0.4), Finding::cause("a", 0.2), Finding::cause("b", 0.3)];
        support(&mut causes, supporting("a", 0.1, Some(0.5)), Some(0.5));
        assert!((causes[0].weight - 0.5).abs() < 1e-9 && (causes[1].weight - 0.3).abs() < 1e-9);
        assert_eq!(causes[0].evidence.len(), 1);
        assert!(causes[1].evidence.is_empty());
        assert_eq!(causes.len(), 3);
    }

    #[test]
    fn support_stands_alone_only_when_allowed() {
        let mut causes = vec![Finding::cause("a", 0.4)];
        support(&mut causes, supporting("c", 0.1, None), None);
        assert_eq!(causes.len(), 1);
        support(&mut causes, supporting("c", 0.1, Some(0.6)), Some(0.6));
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[1].role, Role::Cause);
        assert!((causes[1].weight - 0.6).abs() < 1e-9);
    }

    #[test]
    fn a_callers_own_signs_do_not_stand_alone_beside_an_accused_callee() {
        // web -> api -> db; the traces accuse db, weakly or clearly, and web's logs accuse web.
        let ranked = |callee_weight: f64, accused: &str| {
            let callees = HashMap::from_iter([
                ("web".to_string(), vec!["api".to_string()]),
                ("api".to_string(), vec!["db".to_string()]),
            ]);
            let (mut h, mut state) = (Hypotheses::default(), Weighing { callees, ..Weighing::default() });
            weigh_batch(&mut h, vec![Finding::cause(accused, callee_weight)], &mut state);
            weigh_batch(&mut h, vec![supporting("web", 0.3, Some(0.6))], &mut state);
            h.causes.iter().map(|c| c.service.clone()).collect::<Vec<_>>()
        };
        // A callee (two calls down) failing in most failing requests explains web's error lines.
        assert_eq!(ranked(CALLEE_EXPLAINS + 0.2, "db"), ["db"]);
        // One too weak to explain them, or a service web does not call, leaves web's logs standing.
        assert_eq!(ranked(CALLEE_EXPLAINS - 0.05, "db"), ["db", "web"]);
        let mut other = ranked(CALLEE_EXPLAINS + 0.2, "cache");
        other.sort();
        assert_eq!(other, ["cache", "web"]);
    }

    #[test]
    fn a_fallback_stands_alone_only_where_nothing_came_before() {
        let weak = |svc: &str| {
            let mut f = Finding::cause(svc, 0.01);
            f.role = Role::Fallback { alone: 0.02 };
            f
        };
        let ranked = |batches: Vec<Vec<Finding>>| {
            let (mut h, mut state) = (Hypotheses::default(), Weighing::default());
            for found in batches {
                weigh_batch(&mut h, found, &mut state);
            }
            h.causes.iter().map(|c| c.service.clone()).collect::<Vec<_>>()
        };
        // Every weak move of one detector is ranked where nothing came before, however many.
        assert_eq!(ranked(vec![vec![weak("a"), weak("b")]]), ["a", "b"]);
        // Where a detector before named something, a weak move only supports.
        assert_eq!(ranked(vec![vec![Finding::cause("x", 0.9)], vec![weak("a")]]), ["x"]);
        // A later detector's fallbacks give way to an earlier one's.
        assert_eq!(ranked(vec![vec![weak("a")], vec![weak("b")]]), ["a"]);
    }
}

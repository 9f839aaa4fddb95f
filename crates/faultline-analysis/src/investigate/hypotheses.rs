//! The hypotheses stage: every detector's findings, weighed in order into hypotheses (causes),
//! evidence for the leader (contributing findings) and the report's list of findings.

use crate::detectors::{self, Finding, Role};
use crate::signals::Signals;

/// A trace hypothesis this strong explains the incident: supporting signals (metrics, logs) then
/// only add to hypotheses, they do not stand alone.
const EXPLAINS: f64 = 0.5;

#[derive(Debug, Default)]
pub struct Hypotheses {
    pub causes: Vec<Finding>,
    pub contributing: Vec<Finding>,
    pub listed: Vec<crate::report::Finding>,
}

/// Runs the detectors and weighs their findings.
pub fn gather(s: &Signals<'_>) -> Hypotheses {
    let mut h = Hypotheses::default();
    // Whether the trace hypotheses explain the incident, taken when the first supporting finding
    // comes in (the trace detectors run first).
    let mut traces_explain: Option<bool> = None;
    for d in detectors::ALL {
        let found = d.detect(s);
        tracing::debug!(detector = d.name(), findings = found.len(), "detector ran");
        for f in found {
            if f.listed {
                h.listed.push(f.listing());
            }
            match f.role {
                Role::Cause => h.causes.push(f),
                Role::Contributing => h.contributing.push(f),
                Role::Support { alone } => {
                    let explain =
                        *traces_explain.get_or_insert_with(|| h.causes.iter().any(|c| c.weight >= EXPLAINS));
                    support(&mut h.causes, f, alone.filter(|_| !explain));
                }
            }
        }
    }
    h
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
}

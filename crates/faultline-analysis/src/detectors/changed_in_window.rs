//! A change inside a window the user named as bad, on a service whose own metrics moved the bad
//! way in it: a deploy that has only begun to fail (its first errors are in its error counters,
//! before any user sees them) is still the thing that changed. Ranked only where no other
//! hypothesis exists (a fallback), with the low confidence such thin evidence deserves; a change
//! alone, with nothing of its service moving, is never a suspect (benign deploys are common).

use super::metric_suspects::metric_role;
use super::text::hms;
use super::{Detector, Finding, Role};
use crate::evidence::metric_moves;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use faultline_model::ChangeKind;

/// The score of a change whose service moved the bad way (confidence 0.26): thin evidence. As the
/// last detector's fallback it stands only where no other detector left a hypothesis, so a weak
/// move of another service's saturation metrics keeps the rank it had.
const CHANGE_AND_MOVE_WEIGHT: f64 = 0.12;

pub struct ChangedInWindow;

impl Detector for ChangedInWindow {
    fn name(&self) -> &'static str {
        "changed_in_window"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline.filter(|_| s.plan.named) else { return vec![] };
        let in_window = |t: i64| t >= baseline.to.min(s.incident.from) && t < s.incident.to;
        let changes: Vec<_> = s.inputs.changes.iter().filter(|c| in_window(c.time_unix_nano)).collect();
        if changes.is_empty() {
            return vec![];
        }
        let moves = metric_moves(&s.inputs.metrics, baseline.pair(), s.incident.pair());
        let mut out: Vec<Finding> = Vec::new();
        for ch in changes {
            let bad_move = moves.iter().find(|m| {
                let bad = metric_role(&m.key.name).bad;
                m.key.service == ch.service && bad != 0 && (m.after - m.before) * f64::from(bad) > 0.0
            });
            let Some(m) = bad_move else { continue };
            if out.iter().any(|f| f.service == ch.service) {
                continue;
            }
            let mut f = Finding::cause(&ch.service, CHANGE_AND_MOVE_WEIGHT);
            f.role = Role::Fallback { alone: CHANGE_AND_MOVE_WEIGHT };
            f.pattern(match ch.kind {
                ChangeKind::Config | ChangeKind::FeatureFlag => Pattern::BadConfigChange,
                _ => Pattern::BadDeploy,
            });
            let who = if m.key.instance.is_empty() { &m.key.service } else { &m.key.instance };
            f.summary = format!("{} changed in the window and its {} rose", ch.service, m.key.name);
            f.change = Some(crate::report::ChangeRef::of(ch));
            f.evidence(
                EvidenceKind::Changes,
                format!(
                    "{} ({} of {}) at {}, inside the window; {} of {who} moved the bad way: {:.3} -> {:.3}",
                    ch.id,
                    ch.kind.as_str(),
                    ch.service,
                    hms(ch.time_unix_nano),
                    m.key.name,
                    m.before,
                    m.after
                ),
                vec![ch.id.clone()],
            );
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit::{signals_with, span};
    use crate::inputs::{MetricKey, MetricTable};
    use crate::plan::Ask;
    use faultline_model::ChangeEvent;

    const S: i64 = 1_000_000_000;

    fn change(service: &str, at: i64) -> ChangeEvent {
        ChangeEvent {
            id: format!("{service}-v2"),
            time_unix_nano: at * S,
            service: service.into(),
            instance: None,
            kind: ChangeKind::Deploy,
            version_before: None,
            version_after: None,
            description: String::new(),
            author: None,
            link: None,
            attributes: Default::default(),
        }
    }

    fn series(name: &str, service: &str, level: impl Fn(i64) -> f64) -> (MetricKey, Vec<(i64, f64)>) {
        let key = MetricKey {
            name: name.into(),
            service: service.into(),
            instance: format!("{service}-1"),
            attributes: "{}".into(),
        };
        (key, (0..40).map(|k| (k * 15 * S, level(k * 15))).collect())
    }

    /// Healthy traffic for ten minutes; `api`'s error counter rises from 420 s on, `web`'s request
    /// counter does not move.
    fn findings(changes: Vec<ChangeEvent>, ask: Ask) -> Vec<Finding> {
        let spans: Vec<_> =
            (0..600).map(|k| span(k as u128 + 1, 1, None, "web", k * S, 20_000_000)).collect();
        let metrics = MetricTable {
            series: [
                series("server.error.count", "api", |t| if t >= 420 { 0.02 } else { 0.0 }),
                series("server.request.count", "web", |_| 5.0),
            ]
            .into_iter()
            .collect(),
            points: 80,
        };
        ChangedInWindow.detect(&signals_with(&spans, metrics, changes, ask))
    }

    fn narrow() -> Ask {
        Ask { from: Some(400 * S), to: Some(580 * S), baseline: Some((100 * S, 280 * S)) }
    }

    #[test]
    fn a_change_in_the_named_window_is_a_suspect_only_where_its_service_moved_the_bad_way() {
        let f = findings(vec![change("api", 400), change("web", 410)], narrow());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].service, "api");
        assert_eq!(f[0].patterns, vec![Pattern::BadDeploy]);
        assert!(matches!(f[0].role, Role::Fallback { .. }));
        assert!(f[0].evidence[0].text.contains("server.error.count"), "{:?}", f[0].evidence);
    }

    #[test]
    fn no_named_window_or_a_change_outside_it_says_nothing() {
        assert!(findings(vec![change("api", 400)], Ask::default()).is_empty());
        assert!(findings(vec![change("api", 50)], narrow()).is_empty());
    }
}

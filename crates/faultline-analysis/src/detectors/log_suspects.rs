//! Log suspects: services accused by their own logs (error lines of their own, events of their
//! requests that stopped or appeared), for faults that leave the spans clean. The reading of the
//! logs is `crate::request_logs`; this detector weighs it.

use super::{Detector, Finding, Role};
use crate::hash::HashMap;
use crate::pattern::{EvidenceKind, Pattern};
use crate::request_logs::LogSign;
use crate::signals::Signals;

/// Weight of a log suspect added to a hypothesis about the same service, and of one that stands
/// alone where the traces explain nothing (a code fault in a service whose spans carry no error
/// status): strong own error logs then lead, near the confidence of a trace anomaly.
const LOG_SUPPORT_WEIGHT: f64 = 0.3;
const LOG_ALONE_WEIGHT: f64 = 0.6;

pub struct LogSuspects;

impl Detector for LogSuspects {
    fn name(&self) -> &'static str {
        "log_suspects"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline.filter(|_| s.look()) else { return vec![] };
        let callee_names: HashMap<String, Vec<String>> =
            s.callees.iter().map(|(&a, bs)| (s.name(a), bs.iter().map(|&b| s.name(b)).collect())).collect();
        let accused = crate::request_logs::log_suspects(
            &s.inputs.logs,
            &s.log_traces,
            &s.log_templates,
            &callee_names,
            baseline.pair(),
            s.incident.pair(),
        );
        accused
            .into_iter()
            .map(|ls| {
                let mut f = Finding::cause(&ls.service, LOG_SUPPORT_WEIGHT * ls.strength);
                // Where the traces explain the incident, a service accused by its logs alone is
                // most often a caller logging its callee's failure (an uninstrumented one's):
                // support only.
                f.role = Role::Support { alone: Some(LOG_ALONE_WEIGHT * ls.strength) };
                f.pattern(if ls.sign == LogSign::Errors {
                    Pattern::CodeException
                } else {
                    Pattern::BadResponse
                });
                f.summary = match ls.sign {
                    LogSign::Errors => format!("{} logs errors of its own", ls.service),
                    LogSign::Stopped => {
                        format!(
                            "{}'s requests stopped part-way: events it always logged are missing",
                            ls.service
                        )
                    }
                    LogSign::Appeared => {
                        format!(
                            "{}'s requests took another path: it logs events it did not log before",
                            ls.service
                        )
                    }
                };
                f.evidence(EvidenceKind::Logs, ls.text, ls.refs);
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn accuses_by_own_error_lines_and_stays_quiet_on_a_healthy_run() {
        for name in ["bad-deploy", "disk-full"] {
            let (found, healthy) = testkit::on(&LogSuspects, name);
            assert!(healthy.is_empty(), "{healthy:?}");
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert_eq!(found[0].service, testkit::truth(name));
            assert!(matches!(found[0].role, Role::Support { alone: Some(_) }));
            assert!(found[0].patterns.contains(&Pattern::CodeException));
        }
    }
}

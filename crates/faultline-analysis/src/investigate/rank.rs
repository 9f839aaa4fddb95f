//! The rank stage: hypotheses about one service merged, the leaders pinned to a change, their
//! metrics' resource patterns, their logs and what their failing requests share, then ranked.

use crate::detectors::text::{hms, pct, trace_hex};
use crate::detectors::Finding;
use crate::diff::{DiffReport, FeatureDiff};
use crate::evidence::{message_pattern, resource_patterns};
use crate::hash::HashMap;
use crate::pattern::{EvidenceKind, Pattern};
use crate::report::{ChangeRef, RootCause};
use crate::signals::Signals;
use crate::spans::NONE;
use faultline_model::time::format_duration;
use faultline_model::ChangeEvent;

use super::hypotheses::Hypotheses;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
/// Leaders that get pinned to a change, resource patterns and logs.
const PINNED: usize = 5;
/// Leaders that get what their failing requests share.
const WITH_DIFFERENCES: usize = 3;
/// A merged hypothesis keeps this share of each further one's score about the same service.
const MERGED_SHARE: f64 = 0.1;
/// A change this long before the onset is no longer a suspect; its pull halves in about 7 minutes.
const CHANGE_HORIZON: i64 = 30 * MINUTE;
const CHANGE_DECAY: i64 = 10 * MINUTE;
/// A change on a neighbour pulls this much less than one on the suspect itself.
const NEIGHBOUR_CHANGE: f64 = 0.4;
/// Least pull for a change to be pinned.
const MIN_CHANGE_PULL: f64 = 0.3;
/// Vague messages callers logged in the suspect's failing traces, at least this many, are evidence.
const MIN_VAGUE_MESSAGES: u64 = 5;
/// Root causes reported when the request does not say.
pub const DEFAULT_TOP: usize = 5;

/// The ranked root causes.
pub fn rank(s: &Signals<'_>, h: Hypotheses, differences: Option<&DiffReport>, top: usize) -> Vec<RootCause> {
    let mut merged = merge(h.causes);
    let reference_time = s.plan.onset.unwrap_or(s.incident.from);
    for c in merged.iter_mut().take(PINNED) {
        if c.change.is_none() {
            pin_change(s, c, reference_time);
        }
        for (p, text) in
            resource_patterns(&s.inputs.metrics, &c.service, c.instance.as_deref(), s.incident.pair())
        {
            if !c.patterns.contains(&p) {
                c.pattern(p);
                c.evidence(EvidenceKind::Metrics, text, vec![]);
            }
        }
        if s.look() {
            log_evidence(s, c);
        }
    }
    if let Some(top) = merged.first_mut() {
        for f in h.contributing {
            for p in f.patterns {
                top.pattern(p);
            }
            top.evidence.extend(f.evidence);
        }
    }
    if let Some(d) = differences {
        for c in merged.iter_mut().take(WITH_DIFFERENCES) {
            difference_evidence(d, c);
        }
    }
    merged.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.service.cmp(&b.service)));
    merged.truncate(if top == 0 { DEFAULT_TOP } else { top });
    merged.into_iter().enumerate().map(|(k, c)| root_cause(k + 1, c)).collect()
}

/// A finding as a root cause at `rank`.
pub fn root_cause(rank: usize, c: Finding) -> RootCause {
    RootCause {
        rank,
        service: c.service,
        instance: c.instance,
        operation: c.operation,
        change: c.change,
        patterns: if c.patterns.is_empty() { vec![Pattern::DependencyFailure] } else { c.patterns },
        confidence: confidence(c.weight),
        summary: c.summary,
        evidence: c.evidence,
    }
}

/// A score as a confidence in 0..1: 0.53 at 0.3 (a rule's weight), 0.71 at 0.5, 0.92 at 1.0; two
/// decimals.
pub fn confidence(score: f64) -> f64 {
    ((1.0 - (-2.5 * score).exp()) * 100.0).round() / 100.0
}

/// Hypotheses about one service merged, best first: the best keeps its score, and gains a tenth
/// of each other's, its patterns and its evidence.
fn merge(mut causes: Vec<Finding>) -> Vec<Finding> {
    causes.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.service.cmp(&b.service)));
    let mut merged: Vec<Finding> = Vec::new();
    for c in causes {
        if let Some(m) = merged.iter_mut().find(|m| m.service == c.service) {
            for &p in &c.patterns {
                m.pattern(p);
            }
            m.instance = m.instance.take().or(c.instance);
            m.operation = m.operation.take().or(c.operation);
            m.change = m.change.take().or(c.change);
            m.evidence.extend(c.evidence);
            m.weight += MERGED_SHARE * c.weight;
        } else {
            merged.push(c);
        }
    }
    merged
}

/// The services the suspect calls or is called by in the incident.
fn neighbours(s: &Signals<'_>, svc: &str) -> Vec<String> {
    let Some(id) = s.spans.names.get(svc) else { return vec![] };
    s.edges
        .keys()
        .filter_map(|&(a, b)| match (a == id, b == id) {
            (true, _) => Some(s.name(b)),
            (_, true) => Some(s.name(a)),
            _ => None,
        })
        .collect()
}

/// Pins the change most likely behind a suspect: recent before the onset, on the suspect (its
/// service or instance) or, weaker, on a neighbour; the closer to the onset, the likelier.
fn pin_change(s: &Signals<'_>, c: &mut Finding, onset: i64) {
    let near = neighbours(s, &c.service);
    let Some((ch, why)) = likeliest_change(&s.inputs.changes, c, &near, onset, s.plan.step) else { return };
    c.evidence(EvidenceKind::Changes, why, vec![ch.id.clone()]);
    let kind = ch.kind.as_str();
    c.change = Some(ChangeRef::of(ch));
    c.weight += 0.1;
    match kind {
        "deploy" | "dependency" => c.pattern(Pattern::BadDeploy),
        "config" | "feature_flag" => c.pattern(Pattern::BadConfigChange),
        _ => {}
    }
}

fn likeliest_change<'a>(
    changes: &'a [ChangeEvent],
    c: &Finding,
    neighbours: &[String],
    onset: i64,
    step: i64,
) -> Option<(&'a ChangeEvent, String)> {
    let mut best: Option<(f64, &ChangeEvent)> = None;
    for ch in changes {
        let dt = onset - ch.time_unix_nano;
        if dt < -step || dt > CHANGE_HORIZON {
            continue;
        }
        let on_instance = ch.instance.is_some() && ch.instance == c.instance;
        let touch = if on_instance || ch.service == c.service {
            1.0
        } else if neighbours.contains(&ch.service) {
            NEIGHBOUR_CHANGE
        } else {
            0.0
        };
        let pull =
            touch * (-(dt.max(0) as f64) / CHANGE_DECAY as f64).exp() * if on_instance { 1.2 } else { 1.0 };
        if pull >= MIN_CHANGE_PULL && best.is_none_or(|b| pull > b.0) {
            best = Some((pull, ch));
        }
    }
    let (_, ch) = best?;
    let dt = onset - ch.time_unix_nano;
    let when = if dt.abs() < SECOND {
        "at the onset".to_string()
    } else if dt >= 0 {
        format!("{} before the onset", format_duration(dt))
    } else {
        format!("{} after the onset", format_duration(-dt))
    };
    Some((
        ch,
        format!("{} ({} of {}) at {}, {when}", ch.id, ch.kind.as_str(), ch.service, hms(ch.time_unix_nano)),
    ))
}

/// Error logs about the suspect: new or surging messages on it, and the vague messages its callers
/// logged in the traces where it failed.
fn log_evidence(s: &Signals<'_>, c: &mut Finding) {
    if s.inputs.logs.is_empty() {
        return;
    }
    own_error_templates(s, c);
    vague_messages(s, c);
}

/// Its own new or surging error templates (on its instance, when one is pinned).
fn own_error_templates(s: &Signals<'_>, c: &mut Finding) {
    let Some(ch) = s.log_templates.changes.iter().find(|ch| {
        ch.error
            && ch.service == c.service
            && (c.instance.is_none() || ch.instance.is_none() || ch.instance == c.instance)
    }) else {
        return;
    };
    let place = ch.instance.clone().or_else(|| c.instance.clone()).unwrap_or_else(|| c.service.clone());
    let mut refs = vec![ch.template_id.clone()];
    refs.extend(ch.traces.iter().cloned());
    c.evidence(
        EvidenceKind::Logs,
        format!(
            "\"{}\" ({}) logged {} times on {place} in the incident, {} in the baseline",
            ch.template, ch.template_id, ch.incident, ch.baseline
        ),
        refs,
    );
    if let Some(p) = message_pattern(&ch.template) {
        c.pattern(p);
    }
}

/// Vague messages elsewhere, explained by the traces they belong to.
fn vague_messages(s: &Signals<'_>, c: &mut Finding) {
    let (t, logs, att) = (s.spans, &s.inputs.logs, &s.attribution);
    let Some(id) = t.names.get(&c.service) else { return };
    let mut failed_at: HashMap<[u8; 16], u32> = HashMap::default();
    for k in 0..t.len() {
        if att.node[k] == id
            && att.own_error[k]
            && t.start[k] >= s.incident.from
            && t.start[k] < s.incident.to
        {
            let a = t.attr_info(k);
            let detail = if a.status != NONE { a.status } else { t.message[k] };
            failed_at.entry(t.trace_id[k]).or_insert(detail);
        }
    }
    if failed_at.is_empty() {
        return;
    }
    let svc = logs.names.get(&c.service);
    // (service, message) -> (count, failure details with counts, example traces)
    type Vague = (u64, HashMap<u32, u64>, Vec<String>);
    let mut vague: HashMap<(u32, String), Vague> = HashMap::default();
    for (k, tid) in s.log_traces.iter().enumerate() {
        if !logs.error[k] || Some(logs.service[k]) == svc {
            continue;
        }
        let Some(tid) = *tid else { continue };
        let Some(&detail) = failed_at.get(&tid) else { continue };
        let Some(text) = s.log_templates.text_of(k) else { continue };
        let e = vague.entry((logs.service[k], text.to_string())).or_default();
        e.0 += 1;
        *e.1.entry(detail).or_default() += 1;
        let h = trace_hex(&tid);
        if e.2.len() < 3 && !e.2.contains(&h) {
            e.2.push(h);
        }
    }
    let Some(((svc, msg), (n, details, refs))) =
        vague.into_iter().max_by_key(|(k, v)| (v.0, std::cmp::Reverse(k.1.clone())))
    else {
        return;
    };
    if n < MIN_VAGUE_MESSAGES {
        return;
    }
    let detail = details
        .into_iter()
        .max_by_key(|(k, n)| (*n, std::cmp::Reverse(*k)))
        .map(|(d, _)| if d == NONE { String::new() } else { format!(" (\"{}\")", t.names.name(d)) })
        .unwrap_or_default();
    let where_ =
        c.instance.as_ref().map(|i| format!("{} {i}", c.service)).unwrap_or_else(|| c.service.clone());
    // Callers that could not resolve the suspect's name say why its calls failed, whatever the
    // spans recorded (an HTTP 503 from a proxy, or nothing).
    if message_pattern(&msg) == Some(Pattern::DnsFailure) {
        c.patterns.retain(|p| *p != Pattern::DnsFailure);
        c.patterns.insert(0, Pattern::DnsFailure);
    }
    c.evidence(
        EvidenceKind::Logs,
        format!(
            "{} logged \"{msg}\" {n} times in traces where {where_} failed{detail}",
            logs.names.name(svc)
        ),
        refs,
    );
}

/// What the suspect's failing (or slow) requests have that the others lack.
fn difference_evidence(d: &DiffReport, c: &mut Finding) {
    let Some(f) = d.features.iter().find(|f| f.z > 0.0 && about(f, c)) else { return };
    c.evidence(
        EvidenceKind::Traces,
        format!(
            "{} of {} had {} {}; {} of {} (z = {:.0})",
            pct(f.a_share),
            d.a.label,
            f.service,
            f.feature,
            pct(f.b_share),
            d.b.label,
            f.z
        ),
        vec![],
    );
}

/// Whether a difference between failing and succeeding requests speaks of the candidate: an
/// attribute of its spans, a call to it, or a value naming its instance.
fn about(f: &FeatureDiff, c: &Finding) -> bool {
    let names_instance = c.instance.as_deref().is_some_and(|i| f.feature.contains(i));
    match f.kind.as_str() {
        "attribute" => names_instance || (f.service == c.service && c.instance.is_none()),
        "edge" | "retry" | "fanout" => f.feature.starts_with(&format!("-> {}", c.service)) || names_instance,
        "critical_path" | "error" => f.service == c.service,
        _ => false,
    }
}

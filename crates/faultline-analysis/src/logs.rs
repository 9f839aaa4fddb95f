//! Logs across services: the template miner (`templates.rs`, the one `faultline templates` runs)
//! over the messages of the baseline and the incident, and the templates that are new or surging in
//! the incident, per service, with the instance when one holds them.
//!
//! Structured logs often carry the message inside a JSON body: the `message` (or `msg`) field is
//! what is mined.

use crate::hash::HashMap;
use crate::inputs::LogTable;
use crate::templates::{Config, Miner};
use serde::{Deserialize, Serialize};

/// A template that is new or surging in the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateChange {
    pub service: String,
    /// The instance that logged (almost) all of it, when the service has others.
    pub instance: Option<String>,
    /// `t17`: the miner's id, as `faultline templates` names it.
    pub template_id: String,
    pub template: String,
    /// Most of its lines report errors.
    pub error: bool,
    pub baseline: u64,
    pub incident: u64,
    /// Traces some of its incident lines belong to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<String>,
}

/// The templates of a window's logs.
pub struct LogTemplates {
    /// Per log record, its template's id (the miner's, from 1; 0 outside the two windows).
    pub template_of: Vec<u32>,
    /// Template texts, the one of id `k` at `k - 1`.
    pub texts: Vec<String>,
    /// New and surging templates, error ones first, then by incident count.
    pub changes: Vec<TemplateChange>,
}

/// The message of a log body: a JSON body's `message`/`msg`/`log` field, else the body.
pub fn message_of(body: &str) -> std::borrow::Cow<'_, str> {
    let t = body.trim_start();
    if t.starts_with('{') {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t) {
            for k in ["message", "msg", "log", "text", "event"] {
                if let Some(s) = m.get(k).and_then(|v| v.as_str()) {
                    return std::borrow::Cow::Owned(s.to_string());
                }
            }
        }
    }
    std::borrow::Cow::Borrowed(body)
}

impl LogTemplates {
    /// The template of log record `k`, when it has one.
    pub fn text_of(&self, k: usize) -> Option<&str> {
        let id = *self.template_of.get(k)? as usize;
        self.texts.get(id.checked_sub(1)?).map(String::as_str)
    }
}

#[derive(Default)]
struct Counts {
    n: [u64; 2],
    errors: u64,
    by_instance: HashMap<u32, u64>,
    traces: Vec<[u8; 16]>,
}

pub fn template_changes(
    logs: &LogTable,
    log_traces: &[Option<[u8; 16]>],
    baseline: (i64, i64),
    incident: (i64, i64),
) -> LogTemplates {
    let mut miner = Miner::new(Config::default());
    let mut template_of = vec![0u32; logs.len()];
    let mut order: Vec<usize> = (0..logs.len())
        .filter(|&k| {
            let t = logs.time[k];
            (t >= baseline.0 && t < baseline.1) || (t >= incident.0 && t < incident.1)
        })
        .collect();
    order.sort_by_key(|&k| logs.time[k]);
    for &k in &order {
        template_of[k] = miner.add(&message_of(&logs.body[k])) as u32;
    }
    let texts: Vec<String> = miner.templates().iter().map(|t| t.text()).collect();
    let mut counts: HashMap<(u32, u32), Counts> = HashMap::default();
    let mut instances_of: HashMap<u32, crate::hash::HashSet<u32>> = HashMap::default();
    for &k in &order {
        let w = (logs.time[k] >= incident.0 && logs.time[k] < incident.1) as usize;
        let c = counts.entry((logs.service[k], template_of[k])).or_default();
        c.n[w] += 1;
        instances_of.entry(logs.service[k]).or_default().insert(logs.instance[k]);
        if w == 1 {
            c.errors += logs.error[k] as u64;
            *c.by_instance.entry(logs.instance[k]).or_default() += 1;
            if let Some(t) = log_traces.get(k).copied().flatten() {
                if c.traces.len() < 3 && !c.traces.contains(&t) {
                    c.traces.push(t);
                }
            }
        }
    }
    let scale = (incident.1 - incident.0) as f64 / (baseline.1 - baseline.0).max(1) as f64;
    let mut changes: Vec<TemplateChange> = counts
        .into_iter()
        .filter(|(_, c)| {
            let [b, i] = c.n;
            (b == 0 && i >= 5) || (i >= 10 && i as f64 >= 3.0 * (b as f64 * scale).max(1.0))
        })
        .map(|((svc, tpl), c)| {
            let peers = instances_of.get(&svc).map_or(0, |s| s.len());
            let instance = c
                .by_instance
                .iter()
                .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
                .filter(|(_, n)| peers > 1 && **n as f64 >= 0.9 * c.n[1] as f64)
                .map(|(k, _)| logs.names.name(*k).to_string())
                .filter(|s| !s.is_empty());
            TemplateChange {
                service: logs.names.name(svc).to_string(),
                instance,
                template_id: format!("t{tpl}"),
                template: texts[tpl as usize - 1].clone(),
                error: c.errors * 2 >= c.n[1],
                baseline: c.n[0],
                incident: c.n[1],
                traces: c.traces.iter().map(|t| t.iter().map(|b| format!("{b:02x}")).collect()).collect(),
            }
        })
        .collect();
    changes.sort_by(|a, b| {
        (b.error, b.incident)
            .cmp(&(a.error, a.incident))
            .then_with(|| (&a.service, &a.template_id).cmp(&(&b.service, &b.template_id)))
    });
    LogTemplates { template_of, texts, changes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_structured_bodies() {
        assert_eq!(message_of(r#"{"severity":"info","message":"cart emptied"}"#), "cart emptied");
        assert_eq!(message_of(r#"{"msg":"dial tcp: timeout","level":"error"}"#), "dial tcp: timeout");
        assert_eq!(message_of("plain text {not json"), "plain text {not json");
    }
}

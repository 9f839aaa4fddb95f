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

/// A service whose own logs say it went wrong.
#[derive(Debug, Clone)]
pub struct LogSuspect {
    pub service: String,
    /// 0..1: its share of the requests' own error lines, or how much of its usual sequence of
    /// events stopped.
    pub strength: f64,
    /// It logged errors (else events it usually logs stopped).
    pub errors: bool,
    pub text: String,
    pub refs: Vec<String>,
}

/// Fewest own error lines in the incident for a service's logs to accuse it: a few are the
/// background every real system logs (0.2% noise errors of a node serving 5 requests/s are two in
/// a 3-minute window); a code fault logs far more.
const MIN_OWN_ERROR_LINES: u64 = 10;
/// How many times its baseline rate (scaled to the incident's length) a service's own error lines
/// must reach: error logs that were always there at this rate are not news.
const ERROR_LINES_RISE: f64 = 3.0;
/// Fewest requests a service logged in, on each side, to compare the events of its requests.
const MIN_LOGGED_REQUESTS: u64 = 10;
/// Least share of a service's requests that logged an event in the baseline for its stopping to
/// count: an event of a rare path says nothing when it is missing.
const MIN_USUAL_EVENT_SHARE: f64 = 0.3;
/// An event stopped when its share of requests fell to at most this fraction of the baseline's.
const STOPPED_EVENT_FRACTION: f64 = 0.5;

/// Significance an event's fall must reach (two-proportion z) to count as stopped.
const STOPPED_EVENT_Z: f64 = 4.0;

/// Chance level below which a rise of own error lines is significant: the probability that the
/// incident would hold this many of both sides' lines were they spread over the time alone (a
/// binomial tail). Twelve lines against three in as long a baseline (p = 0.018) happen among a
/// large system's services in a healthy run; twelve against none (p = 0.0002) do not.
const ERROR_LINES_MAX_P: f64 = 0.01;

/// Whether a service's own error lines rose: `i` in the incident against `b` in a baseline
/// `scale` times shorter or longer (the incident spans `scale` baselines).
fn error_lines_rose(b: u64, i: u64, scale: f64) -> bool {
    let chance = crate::stats::binomial_upper_tail(b + i, i, scale / (1.0 + scale));
    i >= MIN_OWN_ERROR_LINES
        && i as f64 >= ERROR_LINES_RISE * (b as f64 * scale).max(1.0)
        && chance <= ERROR_LINES_MAX_P
}

/// Whether an event a service logged in a share `pb` of its requests in the baseline stopped,
/// logged in a share `pi` in the incident, with significance `z`.
fn event_stopped(pb: f64, pi: f64, z: f64) -> bool {
    pb >= MIN_USUAL_EVENT_SHARE && pi <= STOPPED_EVENT_FRACTION * pb && z >= STOPPED_EVENT_Z
}

/// Services accused by their logs, strongest first:
/// - error lines that are their own: in each request, the errors of the deepest services that
///   logged errors (their callers' errors about them are inherited), rising above their baseline;
/// - events they usually log for every request that stopped (a request's sequence of log events
///   breaks off part-way: the log analogue of a call that vanished).
///
/// `callees` maps a service to the services it calls (from the spans).
pub fn log_suspects(
    logs: &LogTable,
    log_traces: &[Option<[u8; 16]>],
    tpl: &LogTemplates,
    callees: &HashMap<String, Vec<String>>,
    baseline: (i64, i64),
    incident: (i64, i64),
) -> Vec<LogSuspect> {
    let side = |t: i64| match crate::localise::side_at(t, baseline, incident) {
        crate::localise::NO_SIDE => None,
        w => Some(w as usize),
    };
    // Per request: the services that logged errors, and the templates each service logged.
    type Events = HashMap<u32, crate::hash::HashSet<u32>>;
    let mut requests: HashMap<[u8; 16], (usize, crate::hash::HashSet<u32>, Events)> = HashMap::default();
    let mut untraced_errors: HashMap<u32, [u64; 2]> = HashMap::default();
    for k in 0..logs.len() {
        let Some(w) = side(logs.time[k]) else { continue };
        let svc = logs.service[k];
        match log_traces.get(k).copied().flatten() {
            Some(tr) => {
                let r = requests.entry(tr).or_insert_with(|| (w, Default::default(), Default::default()));
                if logs.error[k] {
                    r.1.insert(svc);
                }
                r.2.entry(svc).or_default().insert(tpl.template_of[k]);
            }
            None if logs.error[k] => untraced_errors.entry(svc).or_default()[w] += 1,
            None => {}
        }
    }
    let name = |s: u32| logs.names.name(s).to_string();
    // Whether `a` reaches `b` down the call graph.
    let reaches = |a: &str, b: &str| {
        let mut seen = std::collections::HashSet::from([a.to_string()]);
        let mut stack = vec![a.to_string()];
        while let Some(x) = stack.pop() {
            for c in callees.get(&x).into_iter().flatten() {
                if c == b {
                    return true;
                }
                if seen.insert(c.clone()) {
                    stack.push(c.clone());
                }
            }
        }
        false
    };
    let mut own: HashMap<u32, [u64; 2]> = untraced_errors;
    let mut examples: HashMap<u32, Vec<String>> = HashMap::default();
    for (tr, (w, erring, _)) in &requests {
        for &s in erring {
            let deeper = erring.iter().any(|&o| o != s && reaches(&name(s), &name(o)));
            if !deeper {
                own.entry(s).or_default()[*w] += 1;
                // The three smallest trace ids, so that the examples do not depend on hash order.
                let e = examples.entry(s).or_default();
                if *w == 1 {
                    e.push(tr.iter().map(|b| format!("{b:02x}")).collect());
                    if e.len() > 3 {
                        e.sort_unstable();
                        e.truncate(3);
                    }
                }
            }
        }
    }
    let scale = (incident.1 - incident.0) as f64 / (baseline.1 - baseline.0).max(1) as f64;
    let rising: Vec<(u32, [u64; 2])> =
        own.into_iter().filter(|(_, [b, i])| error_lines_rose(*b, *i, scale)).collect();
    let total: u64 = rising.iter().map(|x| x.1[1]).sum();
    let mut out: Vec<LogSuspect> = rising
        .into_iter()
        .map(|(s, [b, i])| LogSuspect {
            service: name(s),
            strength: i as f64 / total.max(1) as f64,
            errors: true,
            text: format!(
                "{} logged errors of its own (the deepest service logging errors) in {i} requests of the incident, {b} of the baseline",
                name(s)
            ),
            refs: examples.remove(&s).map(|mut e| {
                e.sort_unstable();
                e
            }).unwrap_or_default(),
        })
        .collect();
    // Events that stopped: per service, the share of its requests that logged each template.
    let mut seen: HashMap<u32, [u64; 2]> = HashMap::default();
    let mut with: HashMap<(u32, u32), [u64; 2]> = HashMap::default();
    for (w, _, events) in requests.values() {
        for (&s, tpls) in events {
            seen.entry(s).or_default()[*w] += 1;
            for &t in tpls {
                with.entry((s, t)).or_default()[*w] += 1;
            }
        }
    }
    let mut stopped: HashMap<u32, (f64, u32, f64, f64)> = HashMap::default();
    for (&(s, t), n) in &with {
        let [nb, ni] = seen[&s];
        if nb < MIN_LOGGED_REQUESTS || ni < MIN_LOGGED_REQUESTS {
            continue;
        }
        let (pb, pi) = (n[0] as f64 / nb as f64, n[1] as f64 / ni as f64);
        let z = crate::stats::two_proportion_z(n[1], ni, n[0], nb);
        if event_stopped(pb, pi, z) {
            let drop = pb - pi;
            if stopped.get(&s).is_none_or(|x| drop > x.0 || (drop == x.0 && t < x.1)) {
                stopped.insert(s, (drop, t, pb, pi));
            }
        }
    }
    for (s, (drop, t, pb, pi)) in stopped {
        let text = format!(
            "{} stopped logging \"{}\": in {} of its requests in the baseline, {} in the incident",
            name(s),
            tpl.texts.get(t as usize - 1).map_or("", String::as_str),
            crate::fmt::fmt_rate(pb),
            crate::fmt::fmt_rate(pi)
        );
        match out.iter_mut().find(|x| x.service == name(s)) {
            Some(x) => x.text = format!("{}; {text}", x.text),
            None => {
                out.push(LogSuspect { service: name(s), strength: drop, errors: false, text, refs: vec![] })
            }
        }
    }
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength).then_with(|| a.service.cmp(&b.service)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_need_ten_and_three_times_the_baseline() {
        // MIN_OWN_ERROR_LINES: nine errors in a window are background, ten a rise.
        assert!(!error_lines_rose(0, 9, 1.0));
        assert!(error_lines_rose(0, 10, 1.0));
        // ERROR_LINES_RISE: 29 against 10 in as long a baseline is not news; 30 is.
        assert!(!error_lines_rose(10, 29, 1.0));
        assert!(error_lines_rose(10, 30, 1.0));
        // ERROR_LINES_MAX_P: twelve against three is chance among many services.
        assert!(!error_lines_rose(3, 12, 1.0));
        assert!(error_lines_rose(0, 12, 1.0));
        // The baseline is scaled to the incident's length: 10 lines in a baseline ten times as
        // long are one in the incident's time.
        assert!(error_lines_rose(10, 10, 0.1));
    }

    #[test]
    fn an_event_stops_when_a_usual_one_halves_significantly() {
        // MIN_USUAL_EVENT_SHARE: an event of a rare path (29% of requests) says nothing missing.
        assert!(!event_stopped(0.29, 0.0, 10.0));
        assert!(event_stopped(0.3, 0.0, 10.0));
        // STOPPED_EVENT_FRACTION: down to half is stopped, to 60% is not.
        assert!(event_stopped(0.8, 0.4, 10.0));
        assert!(!event_stopped(0.8, 0.48, 10.0));
        // STOPPED_EVENT_Z: a fall on a handful of requests is not significant.
        assert!(!event_stopped(0.8, 0.0, 3.9));
    }

    /// `front` calls `back`; in the incident both log errors in the same requests: the errors are
    /// `back`'s own (the deepest), `front`'s are inherited. Below `MIN_OWN_ERROR_LINES` nothing is
    /// accused.
    #[test]
    fn own_error_lines_accuse_the_deepest_service() {
        let build = |incident_requests: u8| {
            let mut t = LogTable::default();
            let (front, back) = (t.names.intern("front"), t.names.intern("back"));
            let mut add = |time: i64, svc: u32, error: bool, trace: u8, body: &str| {
                t.time.push(time);
                t.service.push(svc);
                t.instance.push(svc);
                t.error.push(error);
                t.body.push(body.to_string());
                t.trace_id.push(Some([trace; 16]));
                t.corr.push(vec![]);
            };
            for k in 0..20u8 {
                add(k as i64, front, false, k, "request served");
            }
            for k in 0..incident_requests {
                add(100 + k as i64, back, true, 100 + k, "ledger locked");
                add(100 + k as i64, front, true, 100 + k, "invalid response from server");
            }
            t
        };
        let callees = HashMap::from_iter([("front".to_string(), vec!["back".to_string()])]);
        for (n, accused) in [(12u8, vec!["back"]), (5, vec![])] {
            let t = build(n);
            let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
            let tpl = template_changes(&t, &traces, (0, 50), (100, 200));
            let got = log_suspects(&t, &traces, &tpl, &callees, (0, 50), (100, 200));
            let errors: Vec<&str> = got.iter().filter(|s| s.errors).map(|s| s.service.as_str()).collect();
            assert_eq!(errors, accused, "{n} requests");
        }
    }

    #[test]
    fn messages_of_structured_bodies() {
        assert_eq!(message_of(r#"{"severity":"info","message":"cart emptied"}"#), "cart emptied");
        assert_eq!(message_of(r#"{"msg":"dial tcp: timeout","level":"error"}"#), "dial tcp: timeout");
        assert_eq!(message_of("plain text {not json"), "plain text {not json");
    }
}

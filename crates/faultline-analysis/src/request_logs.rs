//! The logs of each request, joined to its trace by trace id, read as the log analogue of its
//! spans: the services that logged errors of their own in it, and the sequence of events (log
//! templates) each service logged for it. Compared with the baseline's requests, they accuse:
//! - services whose own error lines rose (the deepest service logging errors in a request: its
//!   callers' errors about it are inherited);
//! - services whose usual events stopped (a request's sequence breaks off part-way: the log
//!   analogue of a call that vanished);
//! - services whose requests log an event they did not log before (another path through the code:
//!   a wrong value handled, a fallback taken), again the deepest one in each request.
//!
//! Together with the trace shape (`shape.rs`) this is the event-pattern reading of requests
//! published for this problem (Nezha: trace and log events as one graph per request).

use crate::hash::{HashMap, HashSet};
use crate::inputs::LogTable;
use crate::logs::LogTemplates;

/// What a service's logs say went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSign {
    /// It logged errors of its own.
    Errors,
    /// Events it usually logs for its requests stopped.
    Stopped,
    /// Its requests log an event they did not before.
    Appeared,
    /// Its callers log an event they did not before, right after its answers.
    AfterAnswer,
}

/// A service whose own logs say it went wrong.
#[derive(Debug, Clone)]
pub struct LogSuspect {
    pub service: String,
    /// 0..1: its share of the requests' own error lines, or how much of its requests' sequence of
    /// events changed.
    pub strength: f64,
    /// The strongest sign (errors before events).
    pub sign: LogSign,
    /// The one instance whose answers the callers' new events follow, when one stands out.
    pub instance: Option<String>,
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
/// Significance a change of an event's share of requests must reach (two-proportion z) to count
/// as stopped or appeared: at z = 4 a healthy system's hundreds of (service, event) pairs give
/// about one chance crossing in 30,000.
const EVENT_CHANGE_Z: f64 = 4.0;
/// Most share of a service's requests that logged an event in the baseline for the event to be
/// new: a path one request in twenty took before is a known path.
const MAX_NEW_EVENT_SHARE: f64 = 0.05;
/// Least share of a service's incident requests that must log a new event for it to have
/// appeared: one in twenty. A fault in one instance of three that spoils a third of its answers
/// reaches 11% of the callers' requests (tuning seed 3 run 17: 12%, missed at the 20% this
/// was); a rare path seen once or twice is not one, and on 5% the significance bar
/// (`EVENT_CHANGE_Z`) takes hundreds of requests on each side.
const MIN_APPEARED_EVENT_SHARE: f64 = 0.05;
/// How many times its baseline share a new event's must be: a new path, not a known rare one
/// taken a little more often.
const APPEARED_EVENT_RISE: f64 = 4.0;
/// How significant a new event's rise over all of its service's requests must be before its own
/// path is read (where `EVENT_CHANGE_Z` is asked again): a first look (p < 0.05), since a warning
/// on one endpoint of several is diluted by the others' traffic. 14 warnings in 36 checkouts at
/// 2 requests/s are z 4.2 on the checkouts, 3.8 on all 360 requests.
const PATH_LOOK_Z: f64 = 2.0;

/// Chance level below which a rise of own error lines is significant: the probability that the
/// incident would hold this many of both sides' lines were they spread over the time alone (a
/// binomial tail). Twelve lines against three in as long a baseline (p = 0.018) happen among a
/// large system's services in a healthy run; twelve against none (p = 0.0002) do not.
const ERROR_LINES_MAX_P: f64 = 0.01;

/// Whether a service's own error lines rose: `i` in the incident against `b` in a baseline
/// `scale` times shorter or longer (the incident spans `scale` baselines).
fn error_lines_rose(b: u64, i: u64, scale: f64) -> bool {
    i >= MIN_OWN_ERROR_LINES && error_lines_grew(b, i, scale, ERROR_LINES_MAX_P)
}

/// Fewest own error lines a quiet service's logs accuse it with, below `MIN_OWN_ERROR_LINES`: an
/// exception in one instance of a service at a few requests/s logs five or six lines in a
/// three-minute window (tuning seed 4 run 25: six, none in the 24 minutes before).
const FEW_OWN_ERROR_LINES: u64 = 5;
/// Chance level a few error lines must reach against the longer history (`log_suspects`'
/// `history`): a burst of five against none is 1e-5 only where the history is at least nine
/// times the window (p 0.1 for each line), so that three minutes of baseline never suffice; it
/// is a thousand times stricter than `ERROR_LINES_MAX_P` for the many services of a large system.
const FEW_ERROR_LINES_MAX_P: f64 = 1e-5;

/// Whether a few own error lines (`FEW_OWN_ERROR_LINES` up to `MIN_OWN_ERROR_LINES`) rose, against
/// a history `scale` times the incident's length.
fn few_error_lines_rose(b: u64, i: u64, scale: f64) -> bool {
    (FEW_OWN_ERROR_LINES..MIN_OWN_ERROR_LINES).contains(&i)
        && error_lines_grew(b, i, scale, FEW_ERROR_LINES_MAX_P)
}

/// `i` lines against `b` at least `ERROR_LINES_RISE` times the rate, with a binomial chance of at
/// most `max_p` were the lines spread over the time alone.
fn error_lines_grew(b: u64, i: u64, scale: f64, max_p: f64) -> bool {
    let chance = crate::stats::binomial_upper_tail(b + i, i, scale / (1.0 + scale));
    i as f64 >= ERROR_LINES_RISE * (b as f64 * scale).max(1.0) && chance <= max_p
}

/// Whether an event a service logged in a share `pb` of its requests in the baseline stopped,
/// logged in a share `pi` in the incident, with significance `z` (of the fall).
fn event_stopped(pb: f64, pi: f64, z: f64) -> bool {
    pb >= MIN_USUAL_EVENT_SHARE && pi <= STOPPED_EVENT_FRACTION * pb && z >= EVENT_CHANGE_Z
}

/// Whether an event a service logged in a share `pb` of its requests in the baseline appeared,
/// logged in a share `pi` in the incident, with significance `z` (of the rise).
fn event_appeared(pb: f64, pi: f64, z: f64) -> bool {
    pb <= MAX_NEW_EVENT_SHARE
        && pi >= MIN_APPEARED_EVENT_SHARE
        && pi >= APPEARED_EVENT_RISE * pb
        && z >= EVENT_CHANGE_Z
}

/// One request's logs.
#[derive(Default)]
struct Request {
    /// 0 baseline, 1 incident.
    side: usize,
    /// Services that logged errors in it.
    erring: HashSet<u32>,
    /// The templates of its error lines: (service, template, instance).
    error_templates: Vec<(u32, u32, u32)>,
    /// The templates each service logged in it, with when each was first logged (error lines
    /// excluded: errors are read apart).
    events: HashMap<u32, HashMap<u32, i64>>,
}

/// What the traces tell of a request's calls, for logs that follow a call: the service whose
/// answer to `service`, in trace `trace`, came last before `time` (`None` when it called nobody
/// by then). Asked in one batch, so that the spans are read once.
pub trait AnswersBefore {
    fn last_answers(&self, asked: &[([u8; 16], String, i64)]) -> Vec<Option<Answer>>;

    /// How many of `caller`'s calls to `callee` in `window` each of the callee's instances answered.
    fn answers_by_instance(&self, _caller: &str, _callee: &str, _window: (i64, i64)) -> HashMap<String, u64> {
        HashMap::default()
    }

    /// The requests (traces) each service served in the baseline and in the incident, by its
    /// spans, keyed by (service, the operation of its first span in the request: the endpoint it
    /// served): a service that logs only when something goes wrong logs in none of its healthy
    /// requests, and its share of requests with a line is read on these. Empty when the traces
    /// cannot tell.
    fn served(&self, _baseline: (i64, i64), _incident: (i64, i64)) -> HashMap<(String, String), [u64; 2]> {
        HashMap::default()
    }

    /// The operation each asked service served in each asked trace (its first span's there), in
    /// one batch; `None` where the spans do not say.
    fn served_operation(&self, asked: &[([u8; 16], String)]) -> Vec<Option<String>> {
        vec![None; asked.len()]
    }
}

/// Who answered a call: the service and its instance (empty when the spans do not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub service: String,
    pub instance: String,
}

/// What the traces tell the logs: who calls whom, and whose answer came last.
pub struct FromTraces<'a> {
    /// A service's callees, by name (from the spans).
    pub callees: &'a HashMap<String, Vec<String>>,
    pub answers: &'a dyn AnswersBefore,
}

/// A new event a service owns: its rise in share, the event, its baseline and incident shares,
/// three example traces, and every incident request that logged it.
struct Appeared {
    rise: f64,
    event: u32,
    pb: f64,
    pi: f64,
    refs: Vec<String>,
    traces: Vec<[u8; 16]>,
    /// Which requests the shares are of (`Path::of_requests`).
    of: String,
}

/// Share of the requests in which a caller logs a new event right after one callee's answer for
/// the event to be that callee's: a caller that warns about an answer it cannot use (a wrong
/// value) is telling of its callee, when nearly every warning follows that callee's answer.
const ANSWERED_BEFORE_SHARE: f64 = 0.75;

/// The requests of both windows, by trace id, and the error lines no trace holds.
struct Requests {
    by_trace: HashMap<[u8; 16], Request>,
    untraced_errors: HashMap<u32, [u64; 2]>,
}

impl Requests {
    /// The requests' logs in the baseline `w` and the incident `i`. `error_tpl` gives the error
    /// lines' templates where `tpl` does not cover them (a history beyond the baseline).
    fn read(
        logs: &LogTable,
        log_traces: &[Option<[u8; 16]>],
        tpl: &LogTemplates,
        error_tpl: Option<&[u32]>,
        w: (i64, i64),
        i: (i64, i64),
    ) -> Self {
        let mut r = Requests { by_trace: HashMap::default(), untraced_errors: HashMap::default() };
        for k in 0..logs.len() {
            let side = match crate::localise::side_at(logs.time[k], w, i) {
                crate::localise::NO_SIDE => continue,
                s => s as usize,
            };
            let svc = logs.service[k];
            match log_traces.get(k).copied().flatten() {
                Some(tr) => {
                    let q = r.by_trace.entry(tr).or_insert_with(|| Request { side, ..Default::default() });
                    if logs.error[k] {
                        q.erring.insert(svc);
                        let t = error_tpl.unwrap_or(&tpl.template_of)[k];
                        q.error_templates.push((svc, t, logs.instance[k]));
                    } else {
                        let first = q.events.entry(svc).or_default().entry(tpl.template_of[k]);
                        let t = first.or_insert(logs.time[k]);
                        *t = (*t).min(logs.time[k]);
                    }
                }
                None if logs.error[k] => r.untraced_errors.entry(svc).or_default()[side] += 1,
                None => {}
            }
        }
        r
    }
}

/// The templates of the error lines in `windows`, mined in time order apart from the
/// investigation's (which cover its baseline and incident only); 0 for every other line. With
/// the templates' texts (template `t` is text `t - 1`).
fn error_templates(logs: &LogTable, windows: [(i64, i64); 2]) -> (Vec<u32>, Vec<String>) {
    let mut miner = crate::templates::Miner::new(crate::templates::Config::default());
    let mut out = vec![0u32; logs.len()];
    let inside = |t: i64| windows.iter().any(|w| t >= w.0 && t < w.1);
    let mut order: Vec<usize> = (0..logs.len()).filter(|&k| logs.error[k] && inside(logs.time[k])).collect();
    order.sort_by_key(|&k| logs.time[k]);
    for k in order {
        out[k] = miner.add(&crate::logs::message_of(&logs.body[k])) as u32;
    }
    (out, miner.templates().iter().map(|t| t.text()).collect())
}

/// Whether `a` reaches `b` down the call graph (directly or through others).
pub(crate) fn reaches(callees: &HashMap<String, Vec<String>>, a: &str, b: &str) -> bool {
    let mut seen: HashSet<&str> = HashSet::from_iter([a]);
    let mut stack = vec![a];
    while let Some(x) = stack.pop() {
        for c in callees.get(x).into_iter().flatten() {
            if c == b {
                return true;
            }
            if seen.insert(c.as_str()) {
                stack.push(c.as_str());
            }
        }
    }
    false
}

/// The services of `set` that reach no other one of it: the deepest, whose sign is their own.
fn deepest(
    set: &HashSet<u32>,
    name: &dyn Fn(u32) -> String,
    callees: &HashMap<String, Vec<String>>,
) -> Vec<u32> {
    set.iter()
        .copied()
        .filter(|&s| !set.iter().any(|&o| o != s && reaches(callees, &name(s), &name(o))))
        .collect()
}

/// Services accused by their logs, strongest first (see the module's documentation).
///
/// `callees` maps a service to the services it calls (from the spans).
pub fn log_suspects(
    logs: &LogTable,
    log_traces: &[Option<[u8; 16]>],
    tpl: &LogTemplates,
    traces: &FromTraces<'_>,
    baseline: (i64, i64),
    incident: (i64, i64),
    history: (i64, i64),
) -> Vec<LogSuspect> {
    let (callees, answers) = (traces.callees, traces.answers);
    let requests = Requests::read(logs, log_traces, tpl, None, baseline, incident);
    let name = |s: u32| logs.names.name(s).to_string();
    let scale = (incident.1 - incident.0) as f64 / (baseline.1 - baseline.0).max(1) as f64;
    let mut out = own_errors(&requests, &name, callees, scale);
    // Own error lines must also rise against the longer history: a few minutes of baseline are
    // too few to know a service's usual rate of error lines (a service that logs a few errors a
    // minute at random logs none in some minutes and three times as many in others). Its rate,
    // not its largest burst: an earlier fault of the same service in the history must not hide
    // this one. Only there can a few lines be significant.
    // Nothing to read the history for when no service logged even a few own errors.
    let some_errors =
        || own_error_counts(&requests, &name, callees).0.values().any(|n| n[1] >= FEW_OWN_ERROR_LINES);
    if history != baseline && some_errors() {
        let (error_tpl, error_texts) = error_templates(logs, [history, incident]);
        let longer = Requests::read(logs, log_traces, tpl, Some(&error_tpl), history, incident);
        let hscale = (incident.1 - incident.0) as f64 / (history.1 - history.0).max(1) as f64;
        let news: HashSet<String> =
            own_errors(&longer, &name, callees, hscale).into_iter().map(|x| x.service).collect();
        out.retain(|x| news.contains(&x.service));
        let scales = (scale, hscale, history.1 - history.0);
        for few in few_own_errors(logs, &requests, &longer, &error_texts, &name, callees, scales) {
            if !out.iter().any(|x| x.service == few.service) {
                out.push(few);
            }
        }
    }
    let mut served: HashMap<u32, Vec<(String, [u64; 2])>> = HashMap::default();
    for ((svc, op), n) in answers.served(baseline, incident) {
        if let Some(s) = logs.names.get(&svc) {
            served.entry(s).or_default().push((op, n));
        }
    }
    let shares = EventShares::count(&requests, served);
    let text_of = |t: u32| tpl.texts.get((t as usize).wrapping_sub(1)).map_or("", String::as_str);
    for (s, (drop, t, pb, pi)) in shares.stopped() {
        let text = format!(
            "{} stopped logging \"{}\": in {} of its requests in the baseline, {} in the incident",
            name(s),
            text_of(t),
            crate::fmt::fmt_rate(pb),
            crate::fmt::fmt_rate(pi)
        );
        add(&mut out, name(s), drop, LogSign::Stopped, text, vec![]);
    }
    let mut appeared: Vec<(u32, Appeared)> = shares.appeared(&requests, &name, traces).into_iter().collect();
    appeared.sort_by_key(|a| a.0);
    // Whose answer came before each new line: every event's questions in one batch, so that the
    // traces are read once.
    let asked: Vec<Vec<([u8; 16], String, i64)>> =
        appeared.iter().map(|(s, a)| questions(&requests, &a.traces, *s, a.event, &name)).collect();
    let mut heard = answers.last_answers(&asked.concat()).into_iter();
    for ((s, Appeared { rise, event: t, pb, pi, refs, of, .. }), asked) in appeared.into_iter().zip(&asked) {
        let heard: Vec<Option<Answer>> = heard.by_ref().take(asked.len()).collect();
        let text = format!(
            "{}'s requests took another path: it logged \"{}\" in {} of {of} in the incident, {} in the baseline",
            name(s),
            text_of(t),
            crate::fmt::fmt_rate(pi),
            crate::fmt::fmt_rate(pb)
        );
        match answered_before(&heard) {
            Some((callee, share)) => {
                let usual = answers.answers_by_instance(&name(s), &callee, incident);
                let instance = one_instance(&heard, &callee, &usual);
                let who = match &instance {
                    Some(x) => format!("{callee}'s instance {x}"),
                    None => callee.clone(),
                };
                let text = format!(
                    "{text}, right after {who} answered it (in {} of them): {callee} likely returns something wrong",
                    crate::fmt::fmt_rate(share)
                );
                add(&mut out, callee.clone(), rise, LogSign::AfterAnswer, text, refs);
                if let Some(x) = out.iter_mut().find(|x| x.service == callee) {
                    x.instance = x.instance.take().or(instance);
                }
            }
            None => add(&mut out, name(s), rise, LogSign::Appeared, text, refs),
        }
    }
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength).then_with(|| a.service.cmp(&b.service)));
    out
}

/// What to ask the traces of service `s`'s new event `t`: in each request `traces` that logged
/// it, whose answer came last before its first line.
fn questions(
    requests: &Requests,
    traces: &[[u8; 16]],
    s: u32,
    t: u32,
    name: &dyn Fn(u32) -> String,
) -> Vec<([u8; 16], String, i64)> {
    traces
        .iter()
        .filter_map(|tr| Some((*tr, name(s), *requests.by_trace.get(tr)?.events.get(&s)?.get(&t)?)))
        .collect()
}

/// The callee whose answer a new event followed in nearly all the requests that logged it (`heard`:
/// the last answer before it in each), with that share: the event is about the callee's answer.
fn answered_before(heard: &[Option<Answer>]) -> Option<(String, f64)> {
    let asked = heard.len();
    let mut by: HashMap<String, usize> = HashMap::default();
    for a in heard.iter().flatten() {
        *by.entry(a.service.clone()).or_default() += 1;
    }
    let (callee, n) = by.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    let share = n as f64 / asked.max(1) as f64;
    (share >= ANSWERED_BEFORE_SHARE).then_some((callee, share))
}

/// Share of a new event's requests whose last answer came from one instance of the callee for the
/// instance to be named, as the trace shape names it (`shape::ONE_INSTANCE_SHARE`): a wrong value
/// from one instance of two or three makes nearly all of them.
const ONE_INSTANCE_SHARE: f64 = 0.75;
/// Most share of the caller's calls to the callee that instance answers at all: one of two or more
/// instances taking the traffic. An instance that answers everything (the callee's only one) tells
/// nothing by answering before every new line.
const MAX_USUAL_INSTANCE_SHARE: f64 = 0.5;

/// The instance of `callee` whose answers a new event followed (`heard`), far more often than it
/// answers the caller's calls at all (`usual`, per instance): a wrong value from one instance (a
/// canary, one pod's bad config). `None` when the answers are spread as the calls are.
fn one_instance(heard: &[Option<Answer>], callee: &str, usual: &HashMap<String, u64>) -> Option<String> {
    let mut by: HashMap<&str, usize> = HashMap::default();
    let mut from_callee = 0;
    for a in heard.iter().flatten().filter(|a| a.service == callee && !a.instance.is_empty()) {
        *by.entry(a.instance.as_str()).or_default() += 1;
        from_callee += 1;
    }
    let (x, n) = by.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))?;
    let calls: u64 = usual.values().sum();
    let usual_share = usual.get(x).copied().unwrap_or(0) as f64 / calls.max(1) as f64;
    (n as f64 >= ONE_INSTANCE_SHARE * from_callee as f64
        && calls > 0
        && usual_share <= MAX_USUAL_INSTANCE_SHARE)
        .then(|| x.to_string())
}

/// Adds a sign to a service's suspicion: its text joins the one there, its strength counts when
/// it is the first sign.
fn add(
    out: &mut Vec<LogSuspect>,
    service: String,
    strength: f64,
    sign: LogSign,
    text: String,
    refs: Vec<String>,
) {
    match out.iter_mut().find(|x| x.service == service) {
        Some(x) => {
            x.text = format!("{}; {text}", x.text);
            if x.refs.is_empty() {
                x.refs = refs;
            }
        }
        None => out.push(LogSuspect { service, strength, sign, instance: None, text, refs }),
    }
}

fn hex(t: &[u8; 16]) -> String {
    t.iter().map(|b| format!("{b:02x}")).collect()
}

/// Services whose own error lines rose, with their share of all such lines as strength.
fn own_errors(
    requests: &Requests,
    name: &dyn Fn(u32) -> String,
    callees: &HashMap<String, Vec<String>>,
    scale: f64,
) -> Vec<LogSuspect> {
    let (own, mut examples) = own_error_counts(requests, name, callees);
    let rising: Vec<(u32, [u64; 2])> =
        own.into_iter().filter(|(_, [b, i])| error_lines_rose(*b, *i, scale)).collect();
    let total: u64 = rising.iter().map(|x| x.1[1]).sum();
    rising
        .into_iter()
        .map(|(s, [b, i])| LogSuspect {
            service: name(s),
            strength: i as f64 / total.max(1) as f64,
            sign: LogSign::Errors,
            instance: None,
            text: format!(
                "{} logged errors of its own (the deepest service logging errors) in {i} requests of the incident, {b} of the baseline",
                name(s)
            ),
            refs: smallest_three(examples.remove(&s).unwrap_or_default()),
        })
        .collect()
}

/// Services with a few own error lines of one template (`few_error_lines_rose`: an error it did
/// not log, or seldom logged, in the `longer` history, `history_ns` long and `hscale` times the
/// incident), whose own error lines also grew against the baseline (`scale`). A service's usual
/// errors of other kinds do not hide a new one. Strength in proportion to the lines, below one:
/// thin evidence.
fn few_own_errors(
    logs: &LogTable,
    requests: &Requests,
    longer: &Requests,
    texts: &[String],
    name: &dyn Fn(u32) -> String,
    callees: &HashMap<String, Vec<String>>,
    (scale, hscale, history_ns): (f64, f64, i64),
) -> Vec<LogSuspect> {
    let (short, _) = own_error_counts(requests, name, callees);
    let grew_short = |s: u32| short.get(&s).is_some_and(|&[b, i]| error_lines_grew(b, i, scale, 1.0));
    let mut by_template: HashMap<(u32, u32), [u64; 2]> = HashMap::default();
    let mut examples: HashMap<(u32, u32), Vec<String>> = HashMap::default();
    let mut on_instance: HashMap<(u32, u32), HashMap<u32, u64>> = HashMap::default();
    for (tr, r) in &longer.by_trace {
        let own = deepest(&r.erring, name, callees);
        let mut seen: HashSet<(u32, u32)> = HashSet::default();
        for &(s, t, x) in &r.error_templates {
            if !own.contains(&s) || !seen.insert((s, t)) {
                continue;
            }
            by_template.entry((s, t)).or_default()[r.side] += 1;
            if r.side == 1 {
                examples.entry((s, t)).or_default().push(hex(tr));
                *on_instance.entry((s, t)).or_default().entry(x).or_default() += 1;
            }
        }
    }
    let mut found: Vec<((u32, u32), [u64; 2])> = by_template
        .into_iter()
        .filter(|&((s, _), [b, i])| few_error_lines_rose(b, i, hscale) && grew_short(s))
        .collect();
    // The instance that logged nearly all of them, of a service seen logging from several.
    let instances = instances_logging(logs, found.iter().map(|f| f.0 .0).collect());
    let one_instance = |key: (u32, u32), i: u64| {
        let several = instances.get(&key.0).is_some_and(|xs| xs.len() > 1);
        let (&x, &n) = on_instance.get(&key)?.iter().max_by_key(|&(&x, &n)| (n, std::cmp::Reverse(x)))?;
        (several && n as f64 >= ONE_INSTANCE_SHARE * i as f64).then(|| name(x))
    };
    // One per service: its most frequent new error.
    found.sort_unstable_by_key(|&((s, t), [_, i])| (s, std::cmp::Reverse(i), t));
    found.dedup_by_key(|x| x.0 .0);
    found
        .into_iter()
        .map(|((s, t), [b, i])| LogSuspect {
            service: name(s),
            strength: i as f64 / MIN_OWN_ERROR_LINES as f64,
            sign: LogSign::Errors,
            instance: one_instance((s, t), i),
            text: format!(
                "{} logged \"{}\" (its own error: the deepest service logging errors) in {i} requests of the incident, {b} in the {} before it",
                name(s),
                texts.get((t as usize).wrapping_sub(1)).map_or("", String::as_str),
                faultline_model::time::format_duration(history_ns)
            ),
            refs: smallest_three(examples.remove(&(s, t)).unwrap_or_default()),
        })
        .collect()
}

/// The instances each of `services` logged from, in all of `logs`.
fn instances_logging(logs: &LogTable, services: HashSet<u32>) -> HashMap<u32, HashSet<u32>> {
    let mut out: HashMap<u32, HashSet<u32>> = HashMap::default();
    if services.is_empty() {
        return out;
    }
    for (s, x) in logs.service.iter().zip(&logs.instance).filter(|(s, _)| services.contains(s)) {
        out.entry(*s).or_default().insert(*x);
    }
    out
}

/// Each service's own error lines per side (those of requests where it is the deepest service
/// logging errors, and those with no trace), with the incident's example traces.
fn own_error_counts(
    requests: &Requests,
    name: &dyn Fn(u32) -> String,
    callees: &HashMap<String, Vec<String>>,
) -> (HashMap<u32, [u64; 2]>, HashMap<u32, Vec<String>>) {
    let mut own: HashMap<u32, [u64; 2]> = requests.untraced_errors.clone();
    let mut examples: HashMap<u32, Vec<String>> = HashMap::default();
    for (tr, r) in &requests.by_trace {
        for s in deepest(&r.erring, name, callees) {
            own.entry(s).or_default()[r.side] += 1;
            if r.side == 1 {
                examples.entry(s).or_default().push(hex(tr));
            }
        }
    }
    (own, examples)
}

/// The three smallest trace ids, so that examples do not depend on hash order.
fn smallest_three(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_unstable();
    ids.truncate(3);
    ids
}

/// The requests of service `s` on event `t`'s path, each side: those that logged `t` with the
/// event `s` most often logs beside it in the incident (its anchor: the endpoint's usual line),
/// and those that logged the anchor. `None` without an anchor (a service that logs nothing else).
/// Returns ([with `t`], [on the path]).
fn anchored_path(requests: &Requests, s: u32, t: u32) -> Option<([u64; 2], [u64; 2])> {
    let mut beside: HashMap<u32, u64> = HashMap::default();
    for r in requests.by_trace.values().filter(|r| r.side == 1) {
        if let Some(tpls) = r.events.get(&s).filter(|tpls| tpls.contains_key(&t)) {
            for &u in tpls.keys().filter(|&&u| u != t) {
                *beside.entry(u).or_default() += 1;
            }
        }
    }
    let anchor = beside.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?.0;
    let (mut with, mut on) = ([0u64; 2], [0u64; 2]);
    for r in requests.by_trace.values() {
        let Some(tpls) = r.events.get(&s) else { continue };
        if tpls.contains_key(&anchor) {
            on[r.side] += 1;
            with[r.side] += tpls.contains_key(&t) as u64;
        }
    }
    Some((with, on))
}

/// Least share of the incident requests that logged a new event an endpoint must hold to be on the
/// event's path, where the service logs nothing else to anchor it: a warning on one endpoint of
/// three (a tenth of the traffic) is read on that endpoint's requests, where it is a third of
/// them, not on all the service's, where it is 3%; a few stray lines on other endpoints do not
/// bring those endpoints' traffic in.
const ENDPOINT_PATH_SHARE: f64 = 0.1;

/// The endpoints of `s` (by its spans) that hold at least `ENDPOINT_PATH_SHARE` of the incident
/// requests that logged `t`, from the requests that logged it (`with`, both sides) and what each
/// endpoint served.
fn endpoint_path(
    with: &[(usize, Option<String>)],
    served: &[(String, [u64; 2])],
) -> Option<([u64; 2], [u64; 2], Vec<String>)> {
    let mut by_op: HashMap<&str, [u64; 2]> = HashMap::default();
    for (side, op) in with {
        if let Some(op) = op {
            by_op.entry(op.as_str()).or_default()[*side] += 1;
        }
    }
    let incident = with.iter().filter(|w| w.0 == 1).count() as f64;
    let (mut on_path, mut on, mut ops) = ([0u64; 2], [0u64; 2], Vec::new());
    for (op, n) in by_op.iter().filter(|(_, n)| n[1] > 0 && n[1] as f64 >= ENDPOINT_PATH_SHARE * incident) {
        let Some((_, m)) = served.iter().find(|(o, _)| o == op) else { continue };
        for side in 0..2 {
            on_path[side] += n[side];
            on[side] += m[side];
        }
        ops.push(op.to_string());
    }
    ops.sort_unstable();
    (on[1] > 0).then_some((on_path, on, ops))
}

/// A new event's path: its requests with the event and on the path, each side, and the endpoints
/// it was read on when the spans told them.
struct Path {
    with: [u64; 2],
    on: [u64; 2],
    endpoints: Vec<String>,
}

/// Endpoints named in a new event's text; more are "its requests" in general.
const MAX_NAMED_ENDPOINTS: usize = 2;

impl Path {
    /// Which requests the shares are of: "its requests", or "its POST /checkout requests".
    fn of_requests(&self) -> String {
        match self.endpoints.len() {
            1..=MAX_NAMED_ENDPOINTS => format!("its {} requests", self.endpoints.join(" and ")),
            _ => "its requests".to_string(),
        }
    }
}

/// Per service, its requests: those it logged in, or those its spans show it served where they
/// are more (it logs only when something goes wrong); per (service, event) the requests that
/// logged it.
struct EventShares {
    seen: HashMap<u32, [u64; 2]>,
    with: HashMap<(u32, u32), [u64; 2]>,
    /// Per service, the requests of each endpoint it served (by its spans).
    served: HashMap<u32, Vec<(String, [u64; 2])>>,
}

impl EventShares {
    fn count(requests: &Requests, served: HashMap<u32, Vec<(String, [u64; 2])>>) -> Self {
        let mut e = EventShares { seen: HashMap::default(), with: HashMap::default(), served };
        for r in requests.by_trace.values() {
            for (&s, tpls) in &r.events {
                e.seen.entry(s).or_default()[r.side] += 1;
                for &t in tpls.keys() {
                    e.with.entry((s, t)).or_default()[r.side] += 1;
                }
            }
        }
        for (s, seen) in e.seen.iter_mut() {
            let mut traced = [0u64; 2];
            for (_, n) in e.served.get(s).into_iter().flatten() {
                traced = [traced[0] + n[0], traced[1] + n[1]];
            }
            *seen = [seen[0].max(traced[0]), seen[1].max(traced[1])];
        }
        e
    }

    /// The requests on each candidate event's path, each side ([with the event], [on the path]):
    /// anchored by the event its service logs beside it, else by the endpoints the requests that
    /// logged it were served on, else all the service's requests. The traces are asked once for
    /// every candidate's endpoints.
    fn paths(
        &self,
        requests: &Requests,
        candidates: &[(u32, u32)],
        name: &dyn Fn(u32) -> String,
        answers: &dyn AnswersBefore,
    ) -> Vec<Path> {
        let mut paths: Vec<Option<Path>> = Vec::with_capacity(candidates.len());
        let mut logged: Vec<Vec<usize>> = Vec::with_capacity(candidates.len());
        let mut asked: Vec<([u8; 16], String)> = Vec::new();
        for &(s, t) in candidates {
            let anchored =
                anchored_path(requests, s, t).map(|(with, on)| Path { with, on, endpoints: vec![] });
            let mut sides = Vec::new();
            if anchored.is_none() {
                for (tr, r) in requests.by_trace.iter() {
                    if r.events.get(&s).is_some_and(|e| e.contains_key(&t)) {
                        sides.push(r.side);
                        asked.push((*tr, name(s)));
                    }
                }
            }
            paths.push(anchored);
            logged.push(sides);
        }
        let mut ops = answers.served_operation(&asked).into_iter();
        candidates
            .iter()
            .zip(paths)
            .zip(logged)
            .map(|((&(s, t), anchored), sides)| {
                let with: Vec<(usize, Option<String>)> = sides.iter().copied().zip(ops.by_ref()).collect();
                anchored.unwrap_or_else(|| {
                    let served = self.served.get(&s).map_or(&[][..], Vec::as_slice);
                    match endpoint_path(&with, served) {
                        Some((with, on, endpoints)) => Path { with, on, endpoints },
                        None => Path { with: self.with[&(s, t)], on: self.seen[&s], endpoints: vec![] },
                    }
                })
            })
            .collect()
    }
    /// Each (service, event) with enough requests on both sides: shares and the z of the rise.
    fn compared(&self) -> impl Iterator<Item = (u32, u32, f64, f64, f64)> + '_ {
        self.with.iter().filter_map(|(&(s, t), n)| {
            let [nb, ni] = self.seen[&s];
            if nb < MIN_LOGGED_REQUESTS || ni < MIN_LOGGED_REQUESTS {
                return None;
            }
            let (pb, pi) = (n[0] as f64 / nb as f64, n[1] as f64 / ni as f64);
            Some((s, t, pb, pi, crate::stats::two_proportion_z(n[0], nb, n[1], ni)))
        })
    }

    /// Per service, its usual event that fell most: (fall, event, baseline share, incident share).
    fn stopped(&self) -> HashMap<u32, (f64, u32, f64, f64)> {
        let mut out: HashMap<u32, (f64, u32, f64, f64)> = HashMap::default();
        for (s, t, pb, pi, z) in self.compared() {
            if event_stopped(pb, pi, -z) {
                let drop = pb - pi;
                if out.get(&s).is_none_or(|x| drop > x.0 || (drop == x.0 && t < x.1)) {
                    out.insert(s, (drop, t, pb, pi));
                }
            }
        }
        out
    }

    /// Per service, the new event that rose most where it is the deepest service logging a new
    /// event in the request (a caller that logs its own new event about a callee's new answer
    /// inherits it): (rise, event, baseline share, incident share, example traces).
    fn appeared(
        &self,
        requests: &Requests,
        name: &dyn Fn(u32) -> String,
        traces: &FromTraces<'_>,
    ) -> HashMap<u32, Appeared> {
        let callees = traces.callees;
        // Events rare before and significantly more common now, their share then read on the
        // requests of their own path (`EventShares::path`): a service whose lines name their endpoint logs
        // a new warning on each endpoint apart, each a fraction of all its requests.
        let mut candidates: Vec<(u32, u32)> = self
            .compared()
            .filter(|&(_, _, pb, pi, z)| pb <= MAX_NEW_EVENT_SHARE && pi > pb && z >= PATH_LOOK_Z)
            .map(|(s, t, ..)| (s, t))
            .collect();
        candidates.sort_unstable();
        let paths = self.paths(requests, &candidates, name, traces.answers);
        let new: HashMap<(u32, u32), Path> = candidates
            .into_iter()
            .zip(paths)
            .filter_map(|((s, t), path)| {
                let ([wb, wi], [nb, ni]) = (path.with, path.on);
                if nb < MIN_LOGGED_REQUESTS || ni < MIN_LOGGED_REQUESTS {
                    return None;
                }
                let (pb, pi) = (wb as f64 / nb as f64, wi as f64 / ni as f64);
                let z = crate::stats::two_proportion_z(wb, nb, wi, ni);
                event_appeared(pb, pi, z).then_some(((s, t), path))
            })
            .collect();
        if new.is_empty() {
            return HashMap::default();
        }
        // Per incident request, the services that logged a new event; only the deepest own it.
        let mut owned: HashMap<(u32, u32), Vec<[u8; 16]>> = HashMap::default();
        for (tr, r) in requests.by_trace.iter().filter(|(_, r)| r.side == 1) {
            let logging: HashSet<u32> = r
                .events
                .iter()
                .filter(|(&s, tpls)| tpls.keys().any(|&t| new.contains_key(&(s, t))))
                .map(|(&s, _)| s)
                .collect();
            for s in deepest(&logging, name, callees) {
                for &t in r.events[&s].keys().filter(|&&t| new.contains_key(&(s, t))) {
                    owned.entry((s, t)).or_default().push(*tr);
                }
            }
        }
        let mut out: HashMap<u32, Appeared> = HashMap::default();
        for ((s, t), traces) in owned {
            let n = traces.len();
            let (nb, ni) = (self.seen[&s][0], new[&(s, t)].on[1]);
            let (pb, pi) = (self.with[&(s, t)][0] as f64 / nb as f64, n as f64 / ni as f64);
            // The share it owns must itself be a new path's, not a few requests left over.
            if pi < MIN_APPEARED_EVENT_SHARE {
                continue;
            }
            let rise = pi - pb;
            if out.get(&s).is_none_or(|x| rise > x.rise || (rise == x.rise && t < x.event)) {
                let refs = smallest_three(traces.iter().map(hex).collect());
                let of = new[&(s, t)].of_requests();
                out.insert(s, Appeared { rise, event: t, pb, pi, refs, traces, of });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends a line of `svc` (its own instance) in `trace` to `t`.
    fn line(t: &mut LogTable, time: i64, svc: u32, error: bool, trace: [u8; 16], body: &str) {
        t.time.push(time);
        t.service.push(svc);
        t.instance.push(svc);
        t.error.push(error);
        t.warn.push(false);
        t.body.push(body.to_string());
        t.trace_id.push(Some(trace));
        t.corr.push(vec![]);
    }

    /// Logs whose traces hold no spans.
    struct NoTraces;

    impl AnswersBefore for NoTraces {
        fn last_answers(&self, asked: &[([u8; 16], String, i64)]) -> Vec<Option<Answer>> {
            vec![None; asked.len()]
        }
    }

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
    fn a_few_error_lines_need_a_long_quiet_history() {
        // FEW_OWN_ERROR_LINES: four lines are never enough; five against none in a history ten
        // times the window's length are (FEW_ERROR_LINES_MAX_P: p 6e-6).
        assert!(!few_error_lines_rose(0, 4, 0.1));
        assert!(few_error_lines_rose(0, 5, 0.1));
        // Eight times the window (p 1.7e-5) is too short for five, not for six (p 1.9e-6); three
        // minutes of baseline alone never suffice.
        assert!(!few_error_lines_rose(0, 5, 0.125));
        assert!(few_error_lines_rose(0, 6, 0.125));
        assert!(!few_error_lines_rose(0, 9, 1.0));
        // A service that logged errors in its history: six against two is chance, against one not.
        assert!(!few_error_lines_rose(2, 6, 0.1));
        assert!(few_error_lines_rose(1, 6, 0.1));
        // Ten or more are the usual rule's.
        assert!(!few_error_lines_rose(0, 10, 0.1));
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
                line(&mut t, time, svc, error, [trace; 16], body)
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
            let tpl = crate::logs::template_changes(&t, &traces, (0, 50), (100, 200));
            let got = log_suspects(
                &t,
                &traces,
                &tpl,
                &FromTraces { callees: &callees, answers: &NoTraces },
                (0, 50),
                (100, 200),
                (0, 50),
            );
            let errors: Vec<&str> =
                got.iter().filter(|s| s.sign == LogSign::Errors).map(|s| s.service.as_str()).collect();
            assert_eq!(errors, accused, "{n} requests");
        }
    }

    /// `back` logs errors: none in the short baseline (50..70), twelve in the incident. At a
    /// steady five in every stretch as long as the incident through the history before
    /// (-600..50) it is not news; at one in such a stretch it is, even after an earlier burst of
    /// forty (an earlier fault must not hide this one).
    #[test]
    fn own_error_lines_must_rise_against_the_longer_history_too() {
        let times = |history: Vec<i64>| history.into_iter().chain(100..112).collect::<Vec<_>>();
        let steady = times((-600..50).step_by(4).collect());
        let sparse = times((-600..50).step_by(20).collect());
        let earlier_fault = times((-600..-560).chain((-550..50).step_by(20)).collect());
        for (history, accused) in [(steady, 0), (sparse, 1), (earlier_fault, 1)] {
            assert_eq!(accused_by_errors_at(&history, (-600, 70)), accused);
        }
        assert_eq!(accused_by_errors_at(&times((-600..50).step_by(4).collect()), (50, 70)), 1);
    }

    /// A few error lines (six in the incident 100..120, none before) accuse `back` only against a
    /// long quiet history: not against the twenty-second baseline alone, and five not against a
    /// history of 170 s (`FEW_ERROR_LINES_MAX_P`).
    #[test]
    fn a_few_error_lines_accuse_against_a_long_quiet_history_only() {
        let six: Vec<i64> = (100..106).collect();
        assert_eq!(accused_by_errors_at(&six, (-200, 70)), 1);
        assert_eq!(accused_by_errors_at(&six, (50, 70)), 0);
        assert_eq!(accused_by_errors_at(&six, (-100, 70)), 1);
        assert_eq!(accused_by_errors_at(&six[..5], (-100, 70)), 0);
        // A service whose errors were as frequent in the history is not news.
        let usual: Vec<i64> = (-200..50).step_by(40).chain(100..106).collect();
        assert_eq!(accused_by_errors_at(&usual, (-200, 70)), 0);
        // Errors of another kind in the history do not hide a new one.
        let other = (-200..50).step_by(40).map(|time| (time, "connection reset by peer"));
        let new = (100..106).map(|time| (time, "NullPointerException in Update"));
        assert_eq!(accused_by_error_lines(&other.chain(new).collect::<Vec<_>>(), (-200, 70)), 1);
    }

    /// The few lines name their instance when it logged nearly all of them and the service logs
    /// from others too (`ONE_INSTANCE_SHARE`).
    #[test]
    fn a_few_error_lines_of_one_instance_name_it() {
        let accused = |second_instance_errs: bool| {
            let mut t = LogTable::default();
            let back = t.names.intern("back");
            let (one, two) = (t.names.intern("back-1"), t.names.intern("back-2"));
            for k in 0..6u8 {
                line(&mut t, 100 + i64::from(k), back, true, [k + 1; 16], "NullPointerException in Update");
                let x = if second_instance_errs && k % 2 == 0 { two } else { one };
                *t.instance.last_mut().expect("a line") = x;
            }
            // back-2 logs too, without errors.
            line(&mut t, 60, back, false, [99; 16], "served");
            *t.instance.last_mut().expect("a line") = two;
            let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
            let tpl = crate::logs::template_changes(&t, &traces, (50, 70), (100, 120));
            let found = log_suspects(
                &t,
                &traces,
                &tpl,
                &FromTraces { callees: &HashMap::default(), answers: &NoTraces },
                (50, 70),
                (100, 120),
                (-200, 70),
            );
            assert_eq!(found.len(), 1);
            found[0].instance.clone()
        };
        assert_eq!(accused(false).as_deref(), Some("back-1"));
        assert_eq!(accused(true), None);
    }

    /// How many services are accused by error lines of `back` at these times (one request each),
    /// with the baseline 50..70, the incident 100..120, and this history.
    fn accused_by_errors_at(times: &[i64], history: (i64, i64)) -> usize {
        let lines: Vec<(i64, &str)> = times.iter().map(|&time| (time, "ledger locked")).collect();
        accused_by_error_lines(&lines, history)
    }

    /// As `accused_by_errors_at`, with each line's text.
    fn accused_by_error_lines(lines: &[(i64, &str)], history: (i64, i64)) -> usize {
        let mut t = LogTable::default();
        let back = t.names.intern("back");
        let mut trace = 0u8;
        let mut add = |time: i64, body: &str| {
            trace = trace.wrapping_add(1);
            line(&mut t, time, back, true, [trace; 16], body)
        };
        lines.iter().for_each(|&(time, body)| add(time, body));
        let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
        let tpl = crate::logs::template_changes(&t, &traces, (50, 70), (100, 120));
        log_suspects(
            &t,
            &traces,
            &tpl,
            &FromTraces { callees: &HashMap::default(), answers: &NoTraces },
            (50, 70),
            (100, 120),
            history,
        )
        .len()
    }

    #[test]
    fn an_event_appears_when_a_new_one_is_logged_in_one_request_in_twenty() {
        // MAX_NEW_EVENT_SHARE: a path 6% of requests took before is known.
        assert!(!event_appeared(0.06, 0.5, 10.0));
        assert!(event_appeared(0.05, 0.5, 10.0));
        // MIN_APPEARED_EVENT_SHARE: a new event in 4.9% of requests is a rare path, in 5% a new one.
        assert!(!event_appeared(0.0, 0.049, 10.0));
        assert!(event_appeared(0.0, 0.05, 10.0));
        // APPEARED_EVENT_RISE: a rare path taken a little more often is not a new one.
        assert!(!event_appeared(0.02, 0.07, 10.0));
        assert!(event_appeared(0.02, 0.08, 10.0));
        // EVENT_CHANGE_Z: on a handful of requests it is not significant.
        assert!(!event_appeared(0.0, 0.5, 3.9));
    }

    /// `front` calls `back`. In the incident, half of the requests take another path: `back`
    /// logs a new event, and `front` a new event of its own about it. `back` is the deepest, so it
    /// is accused and `front` is not; on a healthy run nothing is.
    /// Traces in which `front` last heard from `back` in the requests whose trace's first byte
    /// passes `from_back`, else from `cache`.
    struct Answers(fn(u8) -> bool);

    impl AnswersBefore for Answers {
        fn last_answers(&self, asked: &[([u8; 16], String, i64)]) -> Vec<Option<Answer>> {
            let service = |a: &([u8; 16], String, i64)| if (self.0)(a.0[0]) { "back" } else { "cache" };
            asked
                .iter()
                .map(|a| Some(Answer { service: service(a).to_string(), instance: String::new() }))
                .collect()
        }
    }

    #[test]
    fn a_new_event_right_after_one_callees_answer_is_that_callees() {
        // ANSWERED_BEFORE_SHARE: `front` warns in half its incident requests, each time right
        // after `back` answered (a wrong value); `back` logs nothing new. With the warnings spread
        // over two callees' answers, the event stays `front`'s own.
        let mut t = LogTable::default();
        let front = t.names.intern("front");
        for k in 0..80u8 {
            let time = if k < 40 { k as i64 } else { 60 + k as i64 };
            let mut add = |body: &str| line(&mut t, time, front, false, [k; 16], body);
            add("order placed");
            if k >= 40 && k % 2 == 0 {
                add("unexpected price, order abandoned");
            }
        }
        let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
        let tpl = crate::logs::template_changes(&t, &traces, (0, 50), (100, 200));
        let callees = HashMap::default();
        let all_back = Answers(|_| true);
        let got = log_suspects(
            &t,
            &traces,
            &tpl,
            &FromTraces { callees: &callees, answers: &all_back },
            (0, 50),
            (100, 200),
            (0, 50),
        );
        assert_eq!(
            got.iter().map(|s| (s.service.as_str(), s.sign)).collect::<Vec<_>>(),
            [("back", LogSign::AfterAnswer)]
        );
        assert!(got[0].text.contains("right after back answered"), "{}", got[0].text);
        let spread = Answers(|b| b % 4 == 0);
        let got = log_suspects(
            &t,
            &traces,
            &tpl,
            &FromTraces { callees: &callees, answers: &spread },
            (0, 50),
            (100, 200),
            (0, 50),
        );
        assert_eq!(
            got.iter().map(|s| (s.service.as_str(), s.sign)).collect::<Vec<_>>(),
            [("front", LogSign::Appeared)]
        );
    }

    #[test]
    fn a_new_event_is_read_on_its_own_endpoints_requests() {
        // anchored_path: `front` names its endpoint in its lines; a new warning on each of its three
        // endpoints, in 12% of that endpoint's requests, is 4% of all its requests each: below
        // MIN_APPEARED_EVENT_SHARE there, above it on the endpoint's own requests.
        let mut t = LogTable::default();
        let front = t.names.intern("front");
        for k in 0..4800u16 {
            let time = if k < 2400 { k as i64 } else { 100 + k as i64 };
            let ep = ["wallet", "audit", "orders"][k as usize % 3];
            let mut trace = [0u8; 16];
            trace[..2].copy_from_slice(&k.to_be_bytes());
            let mut add = |body: String| line(&mut t, time, front, false, trace, &body);
            add(format!("[GET /{ep}][received] request accepted"));
            if k >= 2400 && (k / 3) % 100 < 12 {
                add(format!("[GET /{ep}][check] unexpected value, request abandoned"));
            }
        }
        let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
        let tpl = crate::logs::template_changes(&t, &traces, (0, 2400), (2500, 4900));
        let got = log_suspects(
            &t,
            &traces,
            &tpl,
            &FromTraces { callees: &HashMap::default(), answers: &NoTraces },
            (0, 2400),
            (2500, 4900),
            (0, 2400),
        );
        assert_eq!(
            got.iter().map(|s| (s.service.as_str(), s.sign)).collect::<Vec<_>>(),
            [("front", LogSign::Appeared)]
        );
    }

    #[test]
    fn one_instance_is_named_when_the_new_lines_follow_its_answers_far_more_than_its_share() {
        let heard = |from_b1: usize, n: usize| -> Vec<Option<Answer>> {
            (0..n)
                .map(|k| {
                    let instance = if k < from_b1 { "b-1" } else { "b-2" };
                    Some(Answer { service: "b".into(), instance: instance.into() })
                })
                .collect()
        };
        let usual = |shares: &[(&str, u64)]| -> HashMap<String, u64> {
            shares.iter().map(|(x, n)| (x.to_string(), *n)).collect()
        };
        let three = usual(&[("b-1", 100), ("b-2", 100), ("b-3", 100)]);
        // ONE_INSTANCE_SHARE: 80% of the lines after b-1, which answers a third of the calls.
        assert_eq!(one_instance(&heard(8, 10), "b", &three).as_deref(), Some("b-1"));
        assert_eq!(one_instance(&heard(7, 10), "b", &three), None);
        // MAX_USUAL_INSTANCE_SHARE: the callee's only instance tells nothing.
        assert_eq!(one_instance(&heard(10, 10), "b", &usual(&[("b-1", 300)])), None);
        assert_eq!(
            one_instance(&heard(10, 10), "b", &usual(&[("b-1", 150), ("b-2", 150)])).as_deref(),
            Some("b-1")
        );
    }

    /// Traces that show `front` serving 300 requests on each side, and nothing of their calls.
    struct Served;

    impl AnswersBefore for Served {
        fn last_answers(&self, asked: &[([u8; 16], String, i64)]) -> Vec<Option<Answer>> {
            vec![None; asked.len()]
        }

        fn served(&self, _: (i64, i64), _: (i64, i64)) -> HashMap<(String, String), [u64; 2]> {
            HashMap::from_iter([(("front".to_string(), "GET /x".to_string()), [300, 300])])
        }
    }

    /// Traces that show `front` serving 100 requests of `GET /a` and 900 of `GET /b` on each side
    /// (or `.1`'s counts); every request asked about was a `GET /a`, when the spans say (`.0`).
    struct ServedTwo(bool, [u64; 2]);

    impl AnswersBefore for ServedTwo {
        fn last_answers(&self, asked: &[([u8; 16], String, i64)]) -> Vec<Option<Answer>> {
            vec![None; asked.len()]
        }

        fn served(&self, _: (i64, i64), _: (i64, i64)) -> HashMap<(String, String), [u64; 2]> {
            let front = |op: &str, n: u64| (("front".to_string(), op.to_string()), [n, n]);
            HashMap::from_iter([front("GET /a", self.1[0]), front("GET /b", self.1[1])])
        }

        fn served_operation(&self, asked: &[([u8; 16], String)]) -> Vec<Option<String>> {
            vec![Some("GET /a".to_string()).filter(|_| self.0); asked.len()]
        }
    }

    #[test]
    fn a_new_event_of_a_service_that_logs_nothing_else_is_read_on_its_endpoint() {
        // `front` logs only a warning, in 30 of the 100 incident requests of `GET /a`: 3% of all
        // its requests (below MIN_APPEARED_EVENT_SHARE), 30% of that endpoint's.
        let mut t = LogTable::default();
        let front = t.names.intern("front");
        for k in 0..30u8 {
            line(&mut t, 400 + k as i64, front, false, [k + 1; 16], "unexpected value, request abandoned");
        }
        let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
        let tpl = crate::logs::template_changes(&t, &traces, (0, 300), (350, 650));
        let suspects = |answers: &dyn AnswersBefore| {
            let traced = FromTraces { callees: &HashMap::default(), answers };
            log_suspects(&t, &traces, &tpl, &traced, (0, 300), (350, 650), (0, 300))
        };
        let found = suspects(&ServedTwo(true, [100, 900]));
        assert_eq!(found.len(), 1);
        assert!(found[0].text.contains("in 30% of its GET /a requests in the incident"), "{}", found[0].text);
        assert!(suspects(&ServedTwo(false, [100, 900])).is_empty(), "read on all 1,000 requests");
    }

    #[test]
    fn a_new_event_diluted_below_significance_by_other_endpoints_is_still_read_on_its_own() {
        // PATH_LOOK_Z: 14 warnings in the 36 incident requests of `GET /a` (none in the baseline's
        // 36) are z 3.8 over all 360 requests a side, below EVENT_CHANGE_Z, and 4.2 on `GET /a`.
        let mut t = LogTable::default();
        let front = t.names.intern("front");
        for k in 0..14u8 {
            line(&mut t, 400 + k as i64, front, false, [k + 1; 16], "unexpected value, request abandoned");
        }
        let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
        let tpl = crate::logs::template_changes(&t, &traces, (0, 300), (350, 650));
        let traced = FromTraces { callees: &HashMap::default(), answers: &ServedTwo(true, [36, 324]) };
        let found = log_suspects(&t, &traces, &tpl, &traced, (0, 300), (350, 650), (0, 300));
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn an_endpoint_is_on_an_events_path_from_a_tenth_of_its_requests() {
        // ENDPOINT_PATH_SHARE: 30 incident lines on `GET /a`, and stray ones on `GET /b`.
        let served = [("GET /a".to_string(), [100, 100]), ("GET /b".to_string(), [900, 900])];
        let lines = |on_b: usize| -> Vec<(usize, Option<String>)> {
            let mut v = vec![(1, Some("GET /a".to_string())); 30];
            v.extend(vec![(1, Some("GET /b".to_string())); on_b]);
            v
        };
        let ops = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(endpoint_path(&lines(3), &served), Some(([0, 30], [100, 100], ops(&["GET /a"]))));
        assert_eq!(
            endpoint_path(&lines(4), &served),
            Some(([0, 34], [1000, 1000], ops(&["GET /a", "GET /b"])))
        );
        // Spans that do not say: no path by endpoint.
        assert_eq!(endpoint_path(&[(1, None)], &served), None);
    }

    #[test]
    fn a_service_that_logs_only_when_something_goes_wrong_is_read_on_the_requests_it_served() {
        // `front` logs nothing in a healthy request, and a warning in 30% of its incident
        // requests: among the requests it logged in, none in the baseline, there is nothing to
        // compare; among the 300 its spans show on each side, the warning is new.
        let mut t = LogTable::default();
        let front = t.names.intern("front");
        for k in 0..90u8 {
            line(
                &mut t,
                400 + k as i64,
                front,
                false,
                [k; 16],
                "[GET /x][check] unexpected value, request abandoned",
            );
        }
        let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
        let tpl = crate::logs::template_changes(&t, &traces, (0, 300), (350, 650));
        let suspects = |answers: &dyn AnswersBefore| {
            let traced = FromTraces { callees: &HashMap::default(), answers };
            log_suspects(&t, &traces, &tpl, &traced, (0, 300), (350, 650), (0, 300))
                .iter()
                .map(|s| (s.service.clone(), s.sign))
                .collect::<Vec<_>>()
        };
        assert_eq!(suspects(&Served), [("front".to_string(), LogSign::Appeared)]);
        assert!(suspects(&NoTraces).is_empty());
    }

    #[test]
    fn a_new_event_accuses_the_deepest_service_logging_one() {
        let build = |fault: bool| {
            let mut t = LogTable::default();
            let (front, back) = (t.names.intern("front"), t.names.intern("back"));
            let mut add = |time: i64, svc: u32, trace: u8, body: &str| {
                line(&mut t, time, svc, false, [trace; 16], body)
            };
            for k in 0..80u8 {
                let (time, other) =
                    if k < 40 { (k as i64, false) } else { (60 + k as i64, fault && k % 2 == 0) };
                add(time, back, k, "price looked up");
                add(time, front, k, "order placed");
                if other {
                    add(time, back, k, "price missing, default used");
                    add(time, front, k, "order total is zero");
                }
            }
            t
        };
        let callees = HashMap::from_iter([("front".to_string(), vec!["back".to_string()])]);
        for (fault, accused) in [(true, vec!["back"]), (false, vec![])] {
            let t = build(fault);
            let traces: Vec<Option<[u8; 16]>> = t.trace_id.clone();
            let tpl = crate::logs::template_changes(&t, &traces, (0, 50), (100, 200));
            let got = log_suspects(
                &t,
                &traces,
                &tpl,
                &FromTraces { callees: &callees, answers: &NoTraces },
                (0, 50),
                (100, 200),
                (0, 50),
            );
            let who: Vec<&str> = got.iter().map(|s| s.service.as_str()).collect();
            assert_eq!(who, accused, "fault {fault}: {got:?}");
            if fault {
                assert_eq!(got[0].sign, LogSign::Appeared);
                assert!(got[0].text.contains("price missing"), "{}", got[0].text);
                assert_eq!(got[0].refs.len(), 3);
            }
        }
    }
}

//! Every built-in simulator scenario, investigated: the true service ranked first, the instance and
//! the change where the truth names them, the pattern among the leader's patterns; no incident on
//! the healthy run.

use faultline_analysis::spans::SpanTableBuilder;
use faultline_analysis::{investigate, Inputs, LogTable, MetricTable, Options, Report};
use faultline_model::schema::{logs_to_batch, metrics_to_batch, spans_to_batch};
use faultline_sim::{Chunk, RunOptions};
use serde_json::Value;

pub fn simulate(name: &str, rps: Option<f64>) -> (Inputs, Value) {
    simulate_scenario(&faultline_sim::load(name).unwrap(), rps)
}

fn simulate_scenario(sc: &faultline_sim::Scenario, rps: Option<f64>) -> (Inputs, Value) {
    simulate_as(sc, rps, false)
}

/// The scenario's telemetry, or (`bare`) as an older Java system writes it: spans with neither
/// kind nor status, logs as plain text with the level and the trace and span ids inside the line,
/// none in the record.
fn simulate_as(sc: &faultline_sim::Scenario, rps: Option<f64>, bare: bool) -> (Inputs, Value) {
    let (mut spans, mut logs, mut metrics) = (SpanTableBuilder::default(), Vec::new(), Vec::new());
    let res = faultline_sim::run(sc, &RunOptions { rps, ..Default::default() }, &mut |c| match c {
        Chunk::Spans(mut s) => {
            if bare {
                bare_spans(&mut s);
            }
            spans.push(&spans_to_batch(&s))
        }
        Chunk::Logs(mut l) => {
            if bare {
                bare_logs(&mut l);
            }
            logs.push(logs_to_batch(&l))
        }
        Chunk::Metrics(m) => metrics.push(metrics_to_batch(&m)),
    });
    let inputs = Inputs::new(
        spans.finish(),
        LogTable::from_batches(&logs),
        MetricTable::from_batches(&metrics),
        res.changes,
    );
    (inputs, res.truth)
}

/// What a report got right against the truth: (service first, instance, change, pattern).
fn score(r: &Report, truth: &Value) -> Result<(), String> {
    let faults = truth["faults"].as_array().unwrap();
    if faults.is_empty() {
        return if r.incident { Err(format!("false alarm: {}", r.symptom.summary)) } else { Ok(()) };
    }
    let top = r.root_causes.first().ok_or("no root cause")?;
    let f = faults
        .iter()
        .find(|f| f["service"] == top.service.as_str())
        .ok_or_else(|| format!("ranked {} first, truth {}", top.service, faults[0]["service"]))?;
    if let Some(i) = f["instance"].as_str() {
        if top.instance.as_deref() != Some(i) {
            return Err(format!("instance {:?}, truth {i}", top.instance));
        }
    }
    if let Some(c) = f["change_id"].as_str() {
        if top.change.as_ref().map(|c| c.id.as_str()) != Some(c) {
            return Err(format!("change {:?}, truth {c}", top.change.as_ref().map(|c| &c.id)));
        }
    }
    let p = f["pattern"].as_str().unwrap();
    if !top.patterns.iter().any(|x| x == p) {
        return Err(format!("patterns {:?}, truth {p}", top.patterns));
    }
    Ok(())
}

#[test]
#[ignore = "prints every scenario's report; run with --ignored --nocapture"]
fn print_reports() {
    let only = std::env::var("SCENARIO").ok();
    let rps = std::env::var("RPS").ok().and_then(|s| s.parse().ok());
    let mut bad = 0;
    for (name, _) in faultline_sim::list() {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let (inputs, truth) = simulate(&name, rps);
        let r = investigate(&inputs, &Options::default()).unwrap();
        let verdict = score(&r, &truth);
        bad += verdict.is_err() as usize;
        println!("=== {name}: {verdict:?}\n{}", faultline_analysis::report::render_text(&r, false));
    }
    println!("{bad} wrong");
}

/// Runs a scenario at 40 requests per second (to keep the suite quick; the signatures hold at that
/// load), except those whose load is the point: the traffic spike, and the closed-loop CPU cap
/// (open-loop traffic would pile up without bound behind the cap).
fn check(name: &str) {
    let rps = if matches!(name, "traffic-spike" | "cpu-cap") { None } else { Some(40.0) };
    let (inputs, truth) = simulate(name, rps);
    let mut r = investigate(&inputs, &Options::default()).unwrap();
    if let Err(e) = score(&r, &truth) {
        panic!("{name}: {e}\n{}", faultline_analysis::report::render_text(&r, false));
    }
    // The terminal report of a few, as an on-call engineer reads it (the run time aside).
    if matches!(name, "lb-bad-backend" | "connection-leak" | "clock-skew" | "healthy") {
        r.stats.elapsed_ms = 0.0;
        insta::assert_snapshot!(name, faultline_analysis::report::render_text(&r, false));
    }
    // The JSON report keeps the contract's fields.
    let v = serde_json::to_value(&r).unwrap();
    for k in ["schema", "window", "baseline", "incident", "symptom", "root_causes", "findings", "propagation"]
    {
        assert!(v.get(k).is_some(), "{name}: no {k}");
    }
    for k in ["suggested_actions", "timeline"] {
        assert!(v[k].is_array(), "{name}: no {k}");
    }
    assert_eq!(v["schema"], "faultline.investigation/v1");
    for c in v["root_causes"].as_array().unwrap() {
        for k in [
            "rank",
            "service",
            "instance",
            "operation",
            "change",
            "patterns",
            "confidence",
            "summary",
            "evidence",
        ] {
            assert!(c.get(k).is_some(), "{name}: root cause without {k}");
        }
    }
}

/// A wrong answer that came and went in the first half of the data leaves no error and no delay:
/// asked over all the data, or with no window, the rise of requests with a warning in their logs
/// places the incident (the halves of the data would compare it with healthy time).
#[test]
fn a_wrong_answer_that_ended_early_is_found_from_the_warnings_it_caused() {
    let text = include_str!("../../faultline-sim/src/builtin/bad-response.toml")
        .replace("at = \"30m\"", "at = \"12m\"\nuntil = \"24m\"");
    assert!(text.contains("until"));
    let sc = faultline_sim::parse("bad-response-early", &text).unwrap();
    let (inputs, truth) = simulate_scenario(&sc, Some(40.0));
    let (lo, hi) = inputs.spans.time_range().unwrap();
    for o in [Options { from: Some(lo), to: Some(hi + 1), ..Default::default() }, Options::default()] {
        let r = investigate(&inputs, &o).unwrap();
        if let Err(e) = score(&r, &truth) {
            panic!("{o:?}: {e}\n{}", faultline_analysis::report::render_text(&r, false));
        }
        assert!(r.incident, "{o:?}: {}", r.symptom.summary);
        assert!(r.symptom.summary.contains("warnings or errors in their logs"), "{}", r.symptom.summary);
    }
}

fn bare_spans(spans: &mut [faultline_model::Span]) {
    for s in spans {
        (s.kind, s.status_code) =
            (faultline_model::SpanKind::Unspecified, faultline_model::StatusCode::Unset);
    }
}

fn bare_logs(logs: &mut [faultline_model::LogRecord]) {
    for l in logs {
        let level = match l.severity_number {
            17.. => "ERROR",
            13..=16 => "WARN ",
            _ => "INFO ",
        };
        let (t, s) = (l.trace_id.take(), l.span_id.take());
        let ids = t.map(|t| format!("TraceID: {t} SpanID: {} ", s.map(|s| s.to_hex()).unwrap_or_default()));
        l.body = format!("12:00:00.000 {level} c.e.Impl#42 {}{}", ids.unwrap_or_default(), l.body);
        (l.severity_number, l.severity_text) = (0, String::new());
    }
}

/// A wrong answer for five minutes, from a service that logs nothing per request, in a system whose
/// spans say nothing of failure and whose logs carry their trace ids only inside the text: the
/// callers' warnings join their requests by the ids in the lines, so they follow the callee's
/// answers, and the callee is named, over all the data and with no window.
#[test]
fn a_wrong_answer_is_found_when_the_trace_ids_are_only_in_the_log_text() {
    let text = include_str!("../../faultline-sim/src/builtin/bad-response.toml")
        .replace("service = \"auth\"", "service = \"inventory\"")
        .replace("request_logs = true", "request_logs = false")
        .replace("at = \"30m\"", "at = \"15m\"\nuntil = \"20m\"")
        .replace("error_rate = 0.3", "error_rate = 0.2");
    assert!(text.contains("inventory") && text.contains("until") && text.contains("0.2"));
    let sc = faultline_sim::parse("bad-response-bare", &text).unwrap();
    let (inputs, truth) = simulate_as(&sc, Some(40.0), true);
    let (lo, hi) = inputs.spans.time_range().unwrap();
    for o in [Options { from: Some(lo), to: Some(hi + 1), ..Default::default() }, Options::default()] {
        let r = investigate(&inputs, &o).unwrap();
        if let Err(e) = score(&r, &truth) {
            panic!("{o:?}: {e}\n{}", faultline_analysis::report::render_text(&r, false));
        }
    }
}

macro_rules! scenarios {
    ($($f:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $f() {
                check($name);
            }
        )*
        #[test]
        fn every_builtin_scenario_is_checked() {
            let checked = [$($name),*];
            for (name, _) in faultline_sim::list() {
                assert!(checked.contains(&name.as_str()), "scenario {name} has no test here");
            }
        }
    };
}

scenarios! {
    healthy => "healthy",
    lb_bad_backend => "lb-bad-backend",
    connection_leak => "connection-leak",
    slow_external_spike => "slow-external-spike",
    cache_flush_herd => "cache-flush-herd",
    clock_skew => "clock-skew",
    network_partition => "network-partition",
    bad_deploy => "bad-deploy",
    dns_failure => "dns-failure",
    disk_full => "disk-full",
    memory_leak => "memory-leak",
    retry_storm => "retry-storm",
    traffic_spike => "traffic-spike",
    cpu_cap => "cpu-cap",
    code_exception => "code-exception",
    bad_response => "bad-response",
}

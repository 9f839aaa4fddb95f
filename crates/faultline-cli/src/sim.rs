//! `faultline sim`.

use crate::args::SimArgs;
use anyhow::{bail, Context};
use faultline_sim::{Chunk, RunOptions};
use prost::Message;
use std::time::Instant;

pub async fn run(a: SimArgs) -> anyhow::Result<()> {
    if a.list {
        for (name, desc) in faultline_sim::list() {
            println!("{name:<24} {desc}");
        }
        return Ok(());
    }
    let name = a.scenario.as_deref().context("--scenario is required")?;
    let mut sc = faultline_sim::load(name)?;
    let now = faultline_model::time::now_ns();
    let placed = a
        .start
        .as_deref()
        .map(|s| faultline_model::time::parse_time_ns(s, now))
        .transpose()
        .context("--start")?;
    let opts = RunOptions {
        seed: a.seed,
        duration_ns: a
            .duration
            .as_deref()
            .map(faultline_model::time::parse_duration_ns)
            .transpose()
            .context("--duration")?,
        rps: a.rps,
    };
    let length = match opts.duration_ns {
        Some(d) => d,
        None => faultline_model::time::parse_duration_ns(&sc.duration).context("the scenario's duration")?,
    };
    // A run ends now unless a start is placed (--start, or the scenario file's own).
    sc.place(placed, length, now);
    let start = faultline_model::time::parse_time_ns(&sc.start, now).context("the scenario's start")?;
    if start + length > now + 86_400_000_000_000 {
        eprintln!(
            "note: this run is dated {} .. {}, more than a day ahead: faultline import and the OTLP \
             receivers refuse such data; --start -{}m dates it to end now",
            faultline_model::time::format_rfc3339_secs(start),
            faultline_model::time::format_rfc3339_secs(start + length),
            (length / 60_000_000_000).max(1)
        );
    }
    let t0 = Instant::now();
    match (&a.out, &a.otlp) {
        (Some(dir), _) => {
            let dir = dir.clone();
            let r = tokio::task::spawn_blocking(move || faultline_sim::write_dir(&sc, &opts, &dir)).await??;
            eprintln!(
                "{}: {} spans in {:.1}s ({:.0} spans/s), {} faults, {} changes; wrote {}",
                name,
                r.spans,
                t0.elapsed().as_secs_f64(),
                r.spans as f64 / t0.elapsed().as_secs_f64(),
                r.truth["faults"].as_array().map_or(0, |f| f.len()),
                r.changes.len(),
                a.out.as_ref().expect("set").display()
            );
            Ok(())
        }
        (None, Some(url)) => {
            let api = std::env::var("FAULTLINE_API").ok();
            let r = stream(sc, opts, url.trim_end_matches('/').to_string(), a.speed, api, None).await?;
            eprintln!("streamed {} spans in {:.1}s", r.spans, t0.elapsed().as_secs_f64());
            Ok(())
        }
        (None, None) => bail!("say where the telemetry goes: --out DIR or --otlp URL"),
    }
}

/// Streams a run to an OTLP/HTTP receiver, paced at `speed` times real time; change events go to
/// faultline's API at `api` when given. `progress` counts spans sent.
pub async fn stream(
    sc: faultline_sim::Scenario,
    opts: RunOptions,
    url: String,
    speed: f64,
    api: Option<String>,
    progress: Option<indicatif::ProgressBar>,
) -> anyhow::Result<faultline_sim::RunResult> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(i64, &'static str, Vec<u8>, u64)>(64);
    let start = sc.start_ns();
    let producer = tokio::task::spawn_blocking(move || {
        faultline_sim::run(&sc, &opts, &mut |chunk| {
            let spans = match &chunk {
                Chunk::Spans(s) => s.len() as u64,
                _ => 0,
            };
            let (t, path, body) = match chunk {
                Chunk::Spans(s) => (
                    s.iter().map(|x| x.end_unix_nano).max().unwrap_or(start),
                    "/v1/traces",
                    faultline_otlp::spans_to_request(&s).encode_to_vec(),
                ),
                Chunk::Logs(l) => (
                    l.iter().map(|x| x.time_unix_nano).max().unwrap_or(start),
                    "/v1/logs",
                    faultline_otlp::logs_to_request(&l).encode_to_vec(),
                ),
                Chunk::Metrics(m) => (
                    m.iter().map(|x| x.time_unix_nano).max().unwrap_or(start),
                    "/v1/metrics",
                    faultline_otlp::metrics_to_request(&m).encode_to_vec(),
                ),
            };
            let _ = tx.blocking_send((t, path, body, spans));
        })
    });
    let client = crate::client::http()?;
    let wall = Instant::now();
    let mut sent = 0usize;
    while let Some((t, path, body, spans)) = rx.recv().await {
        if speed > 0.0 {
            let due = std::time::Duration::from_secs_f64(((t - start).max(0) as f64 / 1e9) / speed);
            if let Some(wait) = due.checked_sub(wall.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        loop {
            let r = client
                .post(format!("{url}{path}"))
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send()
                .await
                .with_context(|| format!("cannot reach {url}"))?;
            if r.status().is_success() {
                break;
            }
            if matches!(r.status().as_u16(), 429 | 502 | 503 | 504) {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
            bail!("{url}{path} answered {}: {}", r.status(), r.text().await.unwrap_or_default());
        }
        sent += 1;
        if let Some(p) = &progress {
            p.inc(spans);
        }
    }
    let r = producer.await?;
    let changes: Vec<serde_json::Value> = r.changes.iter().map(faultline_sim::change_json).collect();
    if let (false, Some(api)) = (changes.is_empty(), api) {
        let resp = client
            .post(format!("{}/api/v1/changes", api.trim_end_matches('/')))
            .json(&changes)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("{api} refused the change events: {}", resp.text().await.unwrap_or_default());
        }
    }
    tracing::debug!(sent, "requests sent");
    Ok(r)
}

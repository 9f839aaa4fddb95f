//! Root-cause accuracy on real telemetry: the Online Boutique fault injections of the Nezha dataset
//! (../shared/data/nezha-online-boutique). Each day's OTLP/JSON files go through the real import
//! path into a fresh store; every case is then investigated over its window (`from`/`to`, with the
//! case's baseline minute) exactly as `faultline investigate` would, and scored: AC@1, AC@3 and
//! Avg@5 for the service, printed beside the published numbers of the dataset's README.
//!
//! Nothing here tells the engine about the dataset: it sees the telemetry and a window, as a user's
//! command line gives them.

use anyhow::Context;
use faultline_ingest::{Items, ReadOptions};
use faultline_model::schema::{logs_to_batch, metrics_to_batch, spans_to_batch, Table};
use faultline_model::time::parse_time_ns;
use faultline_server::investigate::{run as investigate, simple_rules, Request};
use faultline_store::{Store, StoreConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Published service-level results on these cases (Nezha paper, Table 3), as the README gives them.
const PUBLISHED: &[(&str, f64, f64)] = &[
    ("Nezha", 0.929, 0.964),
    ("PDiagnose", 0.411, 0.732),
    ("MicroRank", 0.411, 0.482),
    ("MicroRCA", 0.161, 0.625),
];

#[derive(Default, Clone)]
struct Score {
    n: usize,
    ac1: usize,
    ac3: usize,
    avg5: f64,
}

impl Score {
    fn add(&mut self, rank: Option<usize>) {
        self.n += 1;
        self.ac1 += (rank == Some(0)) as usize;
        self.ac3 += rank.is_some_and(|r| r < 3) as usize;
        self.avg5 += (1..=5).map(|k| rank.is_some_and(|r| r < k) as usize as f64).sum::<f64>() / 5.0;
    }

    fn line(&self) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "AC@1 {:.3}  AC@3 {:.3}  Avg@5 {:.3}  ({} cases)",
            self.ac1 as f64 / n,
            self.ac3 as f64 / n,
            self.avg5 / n,
            self.n
        )
    }
}

fn import(store: &Store, file: &Path) -> anyhow::Result<faultline_ingest::ReadSummary> {
    let name = file.display().to_string();
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {name}"))?;
    let opts = ReadOptions { signal_hint: faultline_ingest::signal_from_name(&name), ..Default::default() };
    let s = store.clone();
    faultline_ingest::read(f, &opts, &mut |items: Items| -> anyhow::Result<()> {
        if !items.spans.is_empty() {
            s.append_blocking(Table::Spans, spans_to_batch(&items.spans))?;
        }
        if !items.logs.is_empty() {
            s.append_blocking(Table::Logs, logs_to_batch(&items.logs))?;
        }
        if !items.metrics.is_empty() {
            s.append_blocking(Table::Metrics, metrics_to_batch(&items.metrics))?;
        }
        Ok(())
    })
    .with_context(|| format!("importing {name}"))
}

pub async fn run(data: &Path, verbose: bool, only: Option<String>) -> anyhow::Result<()> {
    let mut days: Vec<_> = std::fs::read_dir(data)
        .with_context(|| format!("cannot read {}", data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("cases.json").exists())
        .collect();
    days.sort();
    if days.is_empty() {
        anyhow::bail!("no day folders with cases.json under {}", data.display());
    }
    let mut all = Score::default();
    let mut complete = Score::default();
    let mut partial = Score::default();
    let mut by_fault: BTreeMap<String, Score> = BTreeMap::new();
    let mut by_day: BTreeMap<String, Score> = BTreeMap::new();
    let mut times = Vec::new();
    let mut misses = Vec::new();
    // The simple rules on the same cases (AC@1 only: each names one service).
    let (mut rule_time, mut rule_error) = (Score::default(), Score::default());
    for day in &days {
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(day.join("cases.json"))?)?;
        let cases: Vec<_> = cases
            .into_iter()
            .filter(|c| only.as_deref().is_none_or(|o| c["id"].as_str().unwrap_or("").starts_with(o)))
            .collect();
        if cases.is_empty() {
            continue;
        }
        let dir = tempfile::tempdir()?;
        let store = Store::open(StoreConfig::new(dir.path())).await?;
        let t = Instant::now();
        let mut imported = Vec::new();
        for file in ["traces.jsonl.gz", "logs.jsonl.gz", "metrics.jsonl.gz"] {
            let (st, path) = (store.clone(), day.join(file));
            let s = tokio::task::spawn_blocking(move || import(&st, &path)).await??;
            imported.push(format!(
                "{file}: {} spans, {} logs, {} points, {} rejected",
                s.spans, s.logs, s.metric_points, s.rejected
            ));
        }
        store.flush().await?;
        println!(
            "{}: imported in {:.1} s ({})",
            day.file_name().and_then(|s| s.to_str()).unwrap_or(""),
            t.elapsed().as_secs_f64(),
            imported.join("; ")
        );
        for c in &cases {
            let s = |k: &str| c[k].as_str().unwrap_or("");
            let time = |k: &str| parse_time_ns(s(k), 0).map_err(|e| anyhow::anyhow!("{k}: {e}"));
            let req = Request {
                from: Some(time("from")?),
                to: Some(time("to")?),
                baseline: Some((time("baseline_from")?, time("baseline_to")?)),
                top: 10,
                lookback: None,
            };
            let t = Instant::now();
            let ranked: Vec<String> = match investigate(&store, &req).await {
                Ok(r) => {
                    if verbose && only.is_some() {
                        println!("{}", faultline_analysis::report::render_text(&r, false));
                    }
                    r.root_causes.iter().map(|c| c.service.clone()).collect()
                }
                Err(e) => {
                    if verbose {
                        println!("  {}: {}", s("id"), e.message);
                    }
                    Vec::new()
                }
            };
            times.push(t.elapsed().as_secs_f64());
            let truth = s("service");
            let (time_rule, error_rule) = simple_rules(&store, &req).await.unwrap_or((None, None));
            rule_time.add((time_rule.as_deref() == Some(truth)).then_some(0));
            rule_error.add((error_rule.as_deref() == Some(truth)).then_some(0));
            let rank = ranked.iter().position(|x| x == truth);
            all.add(rank);
            by_day
                .entry(day.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string())
                .or_default()
                .add(rank);
            if c["complete_traces"].as_bool().unwrap_or(true) {
                complete.add(rank)
            } else {
                partial.add(rank)
            }
            by_fault.entry(s("fault").to_string()).or_default().add(rank);
            let line = format!(
                "{} {:<22} {:<15} {:<9} -> {} (rank {})",
                s("id"),
                truth,
                s("fault"),
                if c["complete_traces"].as_bool().unwrap_or(true) { "complete" } else { "partial" },
                ranked.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                rank.map_or("-".to_string(), |r| (r + 1).to_string())
            );
            if verbose {
                println!("  {line}");
            }
            if rank != Some(0) {
                misses.push(line);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    println!("\nNezha Online Boutique cases, service level:");
    println!("  faultline, all cases          {}", all.line());
    // No setting of the engine is fit to this data, so each day scored with the other day "used
    // for tuning" is each day alone.
    for (d, sc) in &by_day {
        println!("  faultline, {d:<18} {}", sc.line());
    }
    println!("  faultline, complete traces    {}", complete.line());
    println!("  faultline, partial traces     {}", partial.line());
    println!("  own-time growth rule, AC@1   {:.3}", rule_time.ac1 as f64 / rule_time.n.max(1) as f64);
    println!("  own-error growth rule, AC@1  {:.3}", rule_error.ac1 as f64 / rule_error.n.max(1) as f64);
    for (name, a1, a3) in PUBLISHED {
        println!("  {name:<10} (published, complete data)  AC@1 {a1:.3}  AC@3 {a3:.3}");
    }
    println!("  by fault:");
    for (f, s) in &by_fault {
        println!("    {f:<16} {}", s.line());
    }
    println!(
        "  time per investigation: median {:.2} s, max {:.2} s",
        times.get(times.len() / 2).copied().unwrap_or(0.0),
        times.last().copied().unwrap_or(0.0)
    );
    for m in &misses {
        println!("  miss: {m}");
    }
    Ok(())
}

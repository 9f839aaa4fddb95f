//! `faultline import`: files into the data directory, with a progress bar.

use crate::args::{Format, ImportArgs};
use anyhow::Context;
use faultline_ingest::{Counting, Items, ReadOptions, ReadSummary};
use faultline_model::schema::{changes_to_batch, logs_to_batch, metrics_to_batch, spans_to_batch, Table};
use faultline_store::{Store, StoreConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read};

pub async fn run(a: ImportArgs) -> anyhow::Result<()> {
    let cfg = import_config(&a)?;
    if let (Some(objects), Some(url)) = (&cfg.object_store, &a.storage) {
        faultline_store::remote::probe(objects, &faultline_store::remote::Location::parse(url)?).await?;
    }
    let store =
        Store::open(cfg).await.with_context(|| format!("opening data directory {}", a.data_dir.display()))?;
    // Flushes as the head fills, so the import holds at most its memory budget.
    let _maintenance = store.spawn_maintenance();
    let mut summaries = Vec::new();
    for file in &a.files {
        let name = file.display().to_string();
        let (reader, len): (Box<dyn Read + Send>, Option<u64>) = if name == "-" {
            (Box::new(std::io::stdin()), None)
        } else {
            let f = std::fs::File::open(file).with_context(|| format!("cannot open {name}"))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        };
        let (reader, count) = Counting::new(reader);
        let pb = progress(len, &name);
        let opts = ReadOptions {
            service: a.service.clone().unwrap_or_else(|| service_from_name(&name)),
            signal_hint: faultline_ingest::signal_from_name(&name),
            ..ReadOptions::default()
        };
        let s2 = store.clone();
        let pb2 = pb.clone();
        let summary: ReadSummary = tokio::task::spawn_blocking(move || {
            faultline_ingest::read(reader, &opts, &mut |items: Items| -> anyhow::Result<()> {
                append(&s2, items)?;
                pb2.set_position(count.load(std::sync::atomic::Ordering::Relaxed));
                Ok(())
            })
        })
        .await?
        .with_context(|| format!("importing {name}"))?;
        pb.finish_and_clear();
        summaries.push((name, summary));
    }
    store.flush().await.context("writing segments")?;
    match a.format {
        Format::Json => {
            let v: Vec<_> =
                summaries.iter().map(|(f, s)| serde_json::json!({"file": f, "summary": s})).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            for (f, s) in &summaries {
                let mut parts = Vec::new();
                for (n, what) in [
                    (s.spans, "spans"),
                    (s.logs, "log records"),
                    (s.metric_points, "metric points"),
                    (s.changes, "change events"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {what}"));
                    }
                }
                if parts.is_empty() {
                    parts.push("nothing".into());
                }
                println!("{f}: {} imported ({})", parts.join(", "), s.format);
                if s.rejected > 0 {
                    println!(
                        "  {} rejected, e.g. {}",
                        s.rejected,
                        s.errors.first().cloned().unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

/// The store of an import: its head held to half of `--max-memory` (the rest is for reading and
/// for the segment being written), flushed every eighth.
fn import_config(a: &ImportArgs) -> anyhow::Result<StoreConfig> {
    let budget = crate::units::parse_bytes(&a.max_memory).context("--max-memory")? as usize;
    let mut cfg = StoreConfig::new(&a.data_dir);
    if let Some(url) = &a.storage {
        cfg.object_store = faultline_store::remote::Location::parse(url)?.open()?;
    }
    cfg.max_head_bytes = (budget / 2).max(MIN_HEAD);
    cfg.flush_bytes = (budget / 8).max(MIN_HEAD / 4);
    Ok(cfg)
}

/// Smallest head an import works with, whatever `--max-memory` says.
const MIN_HEAD: usize = 16 << 20;

/// How long an import waits for a flush to make room before asking again.
const FULL_HEAD_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

fn append(store: &Store, items: Items) -> anyhow::Result<()> {
    if !items.spans.is_empty() {
        append_waiting(store, Table::Spans, || spans_to_batch(&items.spans))?;
    }
    if !items.logs.is_empty() {
        append_waiting(store, Table::Logs, || logs_to_batch(&items.logs))?;
    }
    if !items.metrics.is_empty() {
        append_waiting(store, Table::Metrics, || metrics_to_batch(&items.metrics))?;
    }
    if !items.changes.is_empty() {
        append_waiting(store, Table::Changes, || changes_to_batch(&items.changes))?;
    }
    Ok(())
}

/// Appends, waiting while the head is full: a full head means a flush is under way (backpressure,
/// not failure).
fn append_waiting<B: Fn() -> arrow::array::RecordBatch>(
    store: &Store,
    table: Table,
    batch: B,
) -> anyhow::Result<()> {
    loop {
        match store.append_blocking(table, batch()) {
            Err(faultline_store::StoreError::Overloaded { .. }) => std::thread::sleep(FULL_HEAD_WAIT),
            r => return Ok(r.map(|_| ())?),
        }
    }
}

fn service_from_name(name: &str) -> String {
    let base = std::path::Path::new(name).file_name().and_then(|s| s.to_str()).unwrap_or("unknown_service");
    let stem = base.split('.').next().unwrap_or(base);
    let stem = stem.split(['_', '-']).next().unwrap_or(stem);
    if stem.is_empty() || stem == "-" {
        "unknown_service".into()
    } else {
        stem.to_string()
    }
}

fn progress(len: Option<u64>, name: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(name.to_string());
    pb
}

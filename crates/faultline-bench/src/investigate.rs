//! Investigation speed: a simulated incident of about N spans stored in a fresh data directory
//! (flushed to Parquet, as a server holds it), then investigated end to end (load from the store
//! plus analysis), beside the raw cost of reading the same columns.

use faultline_model::schema::{logs_to_batch, metrics_to_batch, spans_to_batch, Table};
use faultline_server::investigate::{run, Request};
use faultline_sim::{Chunk, RunOptions};
use faultline_store::{Scan, Store, StoreConfig};
use std::time::Instant;

pub async fn bench(spans: u64, scenario: &str, runs: usize) -> anyhow::Result<()> {
    let sc = faultline_sim::load(scenario)?;
    // The e-commerce scenarios make about 470 spans per request-second over an hour.
    let probe = {
        let mut n = 0u64;
        let opts = RunOptions { rps: Some(10.0), ..Default::default() };
        faultline_sim::run(&sc, &opts, &mut |c| {
            if let Chunk::Spans(s) = c {
                n += s.len() as u64;
            }
        });
        n
    };
    let rps = 10.0 * spans as f64 / probe.max(1) as f64;
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path())).await?;
    let t = Instant::now();
    let (st, s2) = (store.clone(), sc.clone());
    let res = tokio::task::spawn_blocking(move || {
        faultline_sim::run(&s2, &RunOptions { rps: Some(rps), ..Default::default() }, &mut |c| {
            let (table, b) = match c {
                Chunk::Spans(s) => (Table::Spans, spans_to_batch(&s)),
                Chunk::Logs(l) => (Table::Logs, logs_to_batch(&l)),
                Chunk::Metrics(m) => (Table::Metrics, metrics_to_batch(&m)),
            };
            st.append_blocking(table, b).expect("append");
        })
    })
    .await?;
    let changes = faultline_model::schema::changes_to_batch(&res.changes);
    store.append(Table::Changes, changes).await?;
    store.flush().await?;
    println!(
        "{scenario} at {rps:.1} rps: {} spans stored and flushed in {:.1} s",
        res.spans,
        t.elapsed().as_secs_f64()
    );
    let mut read = Vec::new();
    let mut total = Vec::new();
    let mut analysis = Vec::new();
    let mut memory = Vec::new();
    let mut verdict = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let b = store.scan(&Scan::new(Table::Spans).columns(faultline_analysis::spans::COLUMNS)).await?;
        let rows: usize = b.iter().map(|b| b.num_rows()).sum();
        std::hint::black_box(rows);
        read.push(t.elapsed().as_secs_f64());
        let loaded: usize = b.iter().map(|b| b.get_array_memory_size()).sum();
        drop(b);
        let before = crate::ALLOC.current_usage();
        crate::ALLOC.reset_peak_usage();
        let t = Instant::now();
        let r = run(&store, &Request { top: 5, ..Default::default() })
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        total.push(t.elapsed().as_secs_f64());
        memory.push(((crate::ALLOC.peak_usage() - before) as f64, loaded as f64, rows as f64));
        analysis.push(r.stats.elapsed_ms / 1e3);
        verdict = r
            .root_causes
            .first()
            .map(|c| {
                format!(
                    "{} {} [{}]",
                    c.service,
                    c.instance.clone().unwrap_or_default(),
                    faultline_analysis::pattern::joined(&c.patterns)
                )
            })
            .unwrap_or_else(|| "no root cause".into());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("median of {runs} runs:");
    println!("  investigate, end to end (scan + analysis)  {:.3} s", med(&mut total));
    println!("  of which analysis                           {:.3} s", med(&mut analysis));
    println!("  yardstick: scanning the span columns alone   {:.3} s", med(&mut read));
    println!("  leading root cause: {verdict}");
    // What the server's budget must charge an investigation: its peak over the span columns it loads.
    let (peak, loaded, rows) = memory.iter().fold((0f64, 0f64, 0f64), |a, m| (a.0.max(m.0), m.1, m.2));
    println!(
        "  memory at its peak {:.0} MB = {:.1} x the span columns loaded ({:.0} MB), {:.0} bytes a span",
        peak / 1e6,
        peak / loaded.max(1.0),
        loaded / 1e6,
        peak / rows.max(1.0)
    );
    Ok(())
}

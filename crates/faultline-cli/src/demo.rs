//! `faultline demo`: the embedded server, a built-in incident streamed into it over OTLP, the
//! investigation's report, and the server left running to look around.

use crate::args::DemoArgs;
use anyhow::Context;
use faultline_server::{AppState, Listen, ServerLimits};
use faultline_store::{Store, StoreConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::net::SocketAddr;

/// `want` if it is free (port 0: a free one), else any free port on its host (`None` when
/// `allow_other` is false).
fn free_addr(want: SocketAddr, allow_other: bool) -> Option<SocketAddr> {
    if let Ok(l) = std::net::TcpListener::bind(want) {
        return l.local_addr().ok();
    }
    if !allow_other {
        return None;
    }
    let l = std::net::TcpListener::bind(SocketAddr::new(want.ip(), 0)).ok()?;
    l.local_addr().ok()
}

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    let mut sc = faultline_sim::load(&a.scenario)?;
    // The demo's incident is recent telemetry: it ends now.
    let length = faultline_model::time::parse_duration_ns(&sc.duration).context("the scenario's duration")?;
    sc.place(None, length, faultline_model::time::now_ns());
    let data_dir = match &a.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("faultline-demo-{}", std::process::id())),
    };
    if data_dir.exists() && std::fs::read_dir(&data_dir)?.next().is_some() {
        anyhow::bail!("{} is not empty: the demo needs a fresh data directory", data_dir.display());
    }
    let api = free_addr(a.api_addr, true).context("no free port for the API")?;
    let listen = Listen {
        grpc: free_addr("127.0.0.1:4317".parse()?, false),
        otlp_http: free_addr("127.0.0.1:4318".parse()?, false),
        api,
        tls: None,
    };
    let store = Store::open(StoreConfig::new(&data_dir))
        .await
        .with_context(|| format!("opening {}", data_dir.display()))?;
    let _maintenance = store.spawn_maintenance();
    let state = AppState::new(store.clone(), ServerLimits::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (otlp_http, grpc) = (listen.otlp_http, listen.grpc);
    let server = tokio::spawn(faultline_server::serve(state, listen, async move {
        let _ = stop_rx.await;
    }));
    let base = format!("http://{api}");
    // Wait for the server to answer.
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eprintln!("faultline demo: scenario {} ({}), data in {}", a.scenario, sc.description, data_dir.display());
    let bar =
        if std::io::stderr().is_terminal() { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template(
        "{spinner} streaming over OTLP/HTTP: {pos} spans ({per_sec})",
    )?);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let t0 = std::time::Instant::now();
    let opts = faultline_sim::RunOptions { seed: a.seed, duration_ns: None, rps: Some(a.rps) };
    let r = crate::sim::stream(sc, opts, base.clone(), 0.0, Some(base.clone()), Some(bar.clone())).await?;
    bar.finish_and_clear();
    eprintln!(
        "streamed {} spans and {} change events in {:.1} s; investigating...\n",
        r.spans,
        r.changes.len(),
        t0.elapsed().as_secs_f64()
    );
    let v = crate::investigate::fetch(&crate::args::InvestigationArgs {
        data_dir: data_dir.clone(),
        server: Some(base.clone()),
        from: None,
        to: None,
        baseline: None,
        lookback: "2h".into(),
        top: 5,
    })
    .await?;
    crate::investigate::print_report(&v, a.format)?;
    let truth = r.truth["faults"].as_array().cloned().unwrap_or_default();
    if !truth.is_empty() {
        let names: Vec<String> = truth
            .iter()
            .map(|f| {
                format!(
                    "{} {}{}",
                    f["pattern"].as_str().unwrap_or(""),
                    f["service"].as_str().unwrap_or(""),
                    f["instance"].as_str().map(|i| format!(" ({i})")).unwrap_or_default()
                )
            })
            .collect();
        eprintln!("\n(the simulator injected: {})", names.join("; "));
    }
    if a.exit {
        let _ = stop_tx.send(());
        server.await??;
        return Ok(());
    }
    let ui = if faultline_ui::built() {
        format!("web UI {base}/  (the investigation: {base}/investigate)")
    } else {
        "web UI not built (Node.js was missing at build time)".to_string()
    };
    eprintln!(
        "\nfaultline is running: {ui}\nAPI {base}/api/v1  (try: faultline investigate --server {base})\n\
         OTLP/HTTP {}  OTLP/gRPC {}  data {}\nCtrl-C to stop.",
        otlp_http.map(|a| a.to_string()).unwrap_or_else(|| format!("{api} (/v1/*)")),
        grpc.map(|a| a.to_string()).unwrap_or_else(|| "off (port busy)".into()),
        data_dir.display()
    );
    tokio::signal::ctrl_c().await?;
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}

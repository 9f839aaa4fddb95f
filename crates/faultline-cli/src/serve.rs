//! `faultline serve`.

use crate::args::ServeArgs;
use crate::units::{addr, duration, parse_bytes};
use anyhow::Context;
use faultline_server::{AppState, Listen, ServerLimits};
use faultline_store::{Store, StoreConfig};
use std::time::Duration;

/// The settings of `faultline serve`: each from the flag or its environment variable, else the
/// config file, else the default.
pub struct Settings {
    pub data_dir: std::path::PathBuf,
    storage: Option<String>,
    refresh_interval: String,
    peers: Option<String>,
    grpc_addr: String,
    otlp_http_addr: String,
    api_addr: String,
    retention: String,
    max_disk: Option<String>,
    max_body: String,
    query_timeout: String,
    query_memory: String,
    flush_interval: String,
    compact_interval: String,
    max_memory: String,
    insecure: bool,
    tokens: faultline_server::auth::Tokens,
    tenants: faultline_server::tenant::TenantConfig,
    ingest_rate: Option<f64>,
    tls: Option<faultline_server::tls::TlsFiles>,
}

impl Settings {
    pub fn resolve(a: ServeArgs) -> anyhow::Result<Settings> {
        let file = match &a.config {
            Some(p) => crate::config::ConfigFile::read(p)?,
            None => crate::config::ConfigFile::default(),
        };
        let tokens = crate::config::all_tokens(&file)?;
        let tenants = file.tenant_config()?;
        let ingest_rate = file.tenants.ingest_rate;
        let f = file.server;
        let tls = match (a.tls_cert.or(f.tls_cert.clone()), a.tls_key.or(f.tls_key.clone())) {
            (Some(cert), Some(key)) => Some(faultline_server::tls::TlsFiles { cert, key }),
            (None, None) => None,
            _ => anyhow::bail!("TLS needs both a certificate and a key (--tls-cert and --tls-key)"),
        };
        let pick = |flag: Option<String>, file: Option<crate::config::Checked>, default: &str| {
            flag.or(file.map(|c| c.0)).unwrap_or_else(|| default.to_string())
        };
        Ok(Settings {
            data_dir: a.data_dir.or(f.data_dir).unwrap_or_else(|| "./faultline-data".into()),
            storage: a.storage.or(f.storage.map(|c| c.0)),
            refresh_interval: pick(a.refresh_interval, f.refresh_interval, "10s"),
            peers: a.peers.or(f.peers.map(|c| c.0)),
            grpc_addr: pick(a.grpc_addr, f.grpc_addr, "127.0.0.1:4317"),
            otlp_http_addr: pick(a.otlp_http_addr, f.otlp_http_addr, "127.0.0.1:4318"),
            api_addr: pick(a.api_addr, f.api_addr, "127.0.0.1:8080"),
            retention: pick(a.retention, f.retention, "7d"),
            max_disk: a.max_disk.or(f.max_disk.map(|c| c.0)),
            max_body: pick(a.max_body, f.max_body, "64MB"),
            query_timeout: pick(a.query_timeout, f.query_timeout, "30s"),
            query_memory: pick(a.query_memory, f.query_memory, "2GB"),
            flush_interval: pick(a.flush_interval, f.flush_interval, "60s"),
            compact_interval: pick(a.compact_interval, f.compact_interval, "60s"),
            max_memory: pick(a.max_memory, f.max_memory, "2GB"),
            insecure: a.insecure || f.insecure.unwrap_or(false),
            tokens,
            tenants,
            ingest_rate,
            tls,
        })
    }

    pub fn store_config(&self) -> anyhow::Result<StoreConfig> {
        let mut cfg = StoreConfig::new(&self.data_dir);
        let location = self.storage_location()?;
        cfg.object_store = location.open()?;
        // A bucket is where several nodes meet: each reads the others' segments and takes the
        // maintenance lease (faultline_store::shared).
        cfg.shared = matches!(location, faultline_store::remote::Location::S3 { .. });
        cfg.refresh_interval = duration(&self.refresh_interval, "refresh-interval")?.unwrap_or(Duration::MAX);
        if let Some(p) = &self.peers {
            let list = faultline_server::peers::PeerList::parse(p).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                cfg.shared,
                "--peers are the other nodes over one bucket: give --storage s3://... too"
            );
            let token = std::env::var("FAULTLINE_PEER_TOKEN").ok().filter(|t| !t.is_empty());
            cfg.peers = Some(std::sync::Arc::new(faultline_server::peers::HttpPeers::new(list, token)));
        }
        cfg.retention = duration(&self.retention, "retention")?;
        cfg.max_bytes = self.max_disk.as_deref().map(parse_bytes).transpose().context("--max-disk")?;
        cfg.flush_interval =
            duration(&self.flush_interval, "flush-interval")?.unwrap_or(Duration::from_secs(60));
        cfg.compact_interval =
            duration(&self.compact_interval, "compact-interval")?.unwrap_or(Duration::from_secs(60));
        // One budget for the process: heads of every tenant, ingest requests, reads (`memory`).
        // A head may fill half of it, so that a flush, which encodes it, still fits.
        let budget = parse_bytes(&self.max_memory).context("--max-memory")? as usize;
        anyhow::ensure!(
            budget >= MIN_MAX_MEMORY,
            "--max-memory {} is below what the server itself takes: the budget bounds the resident memory of the whole process (the program alone holds about 20 MB); give at least {} MB",
            self.max_memory,
            MIN_MAX_MEMORY >> 20
        );
        cfg.memory = faultline_store::memory::MemoryBudget::new(budget);
        cfg.max_head_bytes = budget / 2;
        cfg.flush_bytes = (budget / 8).max(1 << 20);
        Ok(cfg)
    }

    fn storage_location(&self) -> anyhow::Result<faultline_store::remote::Location> {
        match &self.storage {
            Some(url) => Ok(faultline_store::remote::Location::parse(url)?),
            None => Ok(faultline_store::remote::Location::Local),
        }
    }

    fn listen(&self) -> anyhow::Result<Listen> {
        Ok(Listen {
            grpc: addr(&self.grpc_addr, "grpc-addr")?,
            otlp_http: addr(&self.otlp_http_addr, "otlp-http-addr")?,
            api: addr(&self.api_addr, "api-addr")?.context("--api-addr cannot be off: it serves the API")?,
            tls: match &self.tls {
                Some(f) => Some(faultline_server::tls::Reloading::new(f.clone()).context("TLS")?),
                None => None,
            },
        })
    }

    fn limits(&self) -> anyhow::Result<ServerLimits> {
        Ok(ServerLimits {
            max_body_bytes: parse_bytes(&self.max_body).context("--max-body")? as usize,
            query_memory: parse_bytes(&self.query_memory).context("--query-memory")? as usize,
            query_timeout: std::time::Duration::from_nanos(
                faultline_model::time::parse_duration_ns(&self.query_timeout)
                    .context("--query-timeout")?
                    .max(1) as u64,
            ),
            ingest_rate: self.ingest_rate,
            ..ServerLimits::default()
        })
    }
}

/// A server that anyone on the network can reach must ask for tokens, unless told `--insecure`.
fn check_exposure(listen: &Listen, s: &Settings) -> anyhow::Result<()> {
    let exposed: Vec<String> = [Some(listen.api), listen.otlp_http, listen.grpc]
        .into_iter()
        .flatten()
        .filter(|a| !a.ip().is_loopback())
        .map(|a| a.to_string())
        .collect();
    if exposed.is_empty() || !s.tokens.is_open() {
        return Ok(());
    }
    if s.insecure {
        eprintln!(
            "warning: serving {} with no token (--insecure): anyone who reaches it can read and write",
            exposed.join(", ")
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to serve {} without tokens: anyone who reaches it could read and write everything. \
         Configure tokens ([[tokens]] in the config file, or FAULTLINE_TOKENS=name:scope[+scope]:secret; \
         `faultline token new` makes one), listen on 127.0.0.1, or pass --insecure",
        exposed.join(", ")
    )
}

/// Least `--max-memory`: the budget bounds the process's resident memory (sampled), and the program
/// with its runtime holds about 20 MB idle; below this, a few requests would be refused forever.
const MIN_MAX_MEMORY: usize = 64 << 20;

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let s = Settings::resolve(a)?;
    let cfg = s.store_config()?;
    let listen = s.listen()?;
    check_exposure(&listen, &s)?;
    let limits = s.limits()?;
    let location = s.storage_location()?;
    if let Some(objects) = &cfg.object_store {
        faultline_store::remote::probe(objects, &location).await?;
    }
    let store = Store::open(cfg).await.with_context(|| {
        format!("opening data directory {} (segments in {location})", s.data_dir.display())
    })?;
    let _maintenance = store.spawn_maintenance();
    faultline_server::resident::spawn_sampler(store.config().memory.clone());
    let state = AppState::with_tenants(store, limits, s.tenants.clone()).with_tokens(s.tokens.clone());
    let scheme = if listen.tls.is_some() { "https" } else { "http" };
    eprintln!(
        "faultline serving {}{}: OTLP/gRPC {}, OTLP/HTTP {}, API and web UI {scheme}://{}{}",
        s.data_dir.display(),
        match location {
            faultline_store::remote::Location::Local => String::new(),
            other => format!(" (segments in {other})"),
        },
        listen.grpc.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        listen.otlp_http.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        listen.api,
        if s.tokens.is_open() {
            String::new()
        } else {
            format!(" (tokens: {})", s.tokens.names().join(", "))
        }
    );
    if let Some(t) = &listen.tls {
        reload_on_hangup(t.clone());
    }
    faultline_server::serve(state, listen, shutdown_signal()).await.context("server failed")?;
    eprintln!("faultline stopped; data flushed");
    Ok(())
}

/// SIGHUP reads the TLS files again at once (they are also checked every few seconds).
fn reload_on_hangup(tls: std::sync::Arc<faultline_server::tls::Reloading>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let t = tls.clone();
            let _ = tokio::task::spawn_blocking(move || t.reload_if_changed()).await;
        }
    });
    #[cfg(not(unix))]
    drop(tls);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

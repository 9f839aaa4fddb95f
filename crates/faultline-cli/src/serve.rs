//! `faultline serve`.

use crate::args::ServeArgs;
use anyhow::Context;
use faultline_server::{AppState, Listen, ServerLimits};
use faultline_store::{Store, StoreConfig};
use std::time::Duration;

/// Parses sizes like `64MB`, `2GiB`, `500k`, `1048576`.
pub fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("cannot read size {s:?}: expected e.g. 64MB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => anyhow::bail!("cannot read size {s:?}: unknown unit {other:?}"),
    };
    Ok((n * mult as f64) as u64)
}

fn duration(s: &str, what: &str) -> anyhow::Result<Option<Duration>> {
    if s.eq_ignore_ascii_case("off") || s == "0" {
        return Ok(None);
    }
    let ns = faultline_model::time::parse_duration_ns(s).with_context(|| format!("--{what}"))?;
    Ok(Some(Duration::from_nanos(ns.max(0) as u64)))
}

fn addr(s: &str, what: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .with_context(|| format!("--{what}: expected an address like 127.0.0.1:4317, got {s:?}"))
}

pub fn store_config(a: &ServeArgs) -> anyhow::Result<StoreConfig> {
    let mut cfg = StoreConfig::new(&a.data_dir);
    cfg.retention = duration(&a.retention, "retention")?;
    cfg.max_bytes = a.max_disk.as_deref().map(parse_bytes).transpose().context("--max-disk")?;
    cfg.flush_interval = duration(&a.flush_interval, "flush-interval")?.unwrap_or(Duration::from_secs(60));
    cfg.max_head_bytes = parse_bytes(&a.max_memory).context("--max-memory")? as usize;
    cfg.flush_bytes = (cfg.max_head_bytes / 8).max(1 << 20);
    Ok(cfg)
}

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let cfg = store_config(&a)?;
    let listen = Listen {
        grpc: addr(&a.grpc_addr, "grpc-addr")?,
        otlp_http: addr(&a.otlp_http_addr, "otlp-http-addr")?,
        api: a.api_addr,
    };
    let limits = ServerLimits {
        max_body_bytes: parse_bytes(&a.max_body).context("--max-body")? as usize,
        query_memory: parse_bytes(&a.query_memory).context("--query-memory")? as usize,
        query_timeout: std::time::Duration::from_nanos(
            faultline_model::time::parse_duration_ns(&a.query_timeout).context("--query-timeout")?.max(1)
                as u64,
        ),
        ..ServerLimits::default()
    };
    let store =
        Store::open(cfg).await.with_context(|| format!("opening data directory {}", a.data_dir.display()))?;
    let _maintenance = store.spawn_maintenance();
    let state = AppState::new(store, limits);
    eprintln!(
        "faultline serving {}: OTLP/gRPC {}, OTLP/HTTP {}, API http://{}",
        a.data_dir.display(),
        listen.grpc.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        listen.otlp_http.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        listen.api
    );
    faultline_server::serve(state, listen, shutdown_signal()).await.context("server failed")?;
    eprintln!("faultline stopped; data flushed");
    Ok(())
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

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(super::parse_bytes("1.5k").unwrap(), 1536);
        assert!(super::parse_bytes("lots").is_err());
    }
}

//! Read commands (`traces`, `logs`, `changes`, `status`). They speak the HTTP API: to a running
//! server with `--server`, or in-process to the same router over the data directory, so both give
//! the same answers.

use crate::args::{
    ChangesArgs, ChangesCommand, Format, LogsArgs, LogsCommand, SourceArgs, TracesArgs, TracesCommand,
    WindowArgs,
};
use crate::output;
use anyhow::{bail, Context};
use faultline_server::{AppState, ServerLimits};
use faultline_store::{Store, StoreConfig};
use serde_json::Value;
use tower::ServiceExt;

/// Where requests go.
pub enum Backend {
    Remote { base: String, client: reqwest::Client },
    Local(axum::Router),
}

impl Backend {
    pub async fn open(src: &SourceArgs) -> anyhow::Result<Backend> {
        if let Some(url) = &src.server {
            return Ok(Backend::Remote {
                base: url.trim_end_matches('/').to_string(),
                client: crate::client::http()?,
            });
        }
        if !src.data_dir.exists() {
            bail!(
                "data directory {} does not exist; import data first (faultline import FILE) or pass --server URL",
                src.data_dir.display()
            );
        }
        let store = Store::open(StoreConfig::new(&src.data_dir)).await.with_context(|| {
            format!(
                "opening data directory {} (if a server is running on it, pass --server URL)",
                src.data_dir.display()
            )
        })?;
        Ok(Backend::Local(faultline_server::app(AppState::new(store, ServerLimits::default()))))
    }

    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, bytes) = match self {
            Backend::Remote { base, client } => {
                let url = format!("{base}{path}");
                let req = match method {
                    "POST" => client.post(&url).json(&body.unwrap_or(Value::Null)),
                    _ => client.get(&url),
                };
                let resp = req.send().await.with_context(|| format!("cannot reach {base}"))?;
                if let Some(peers) = resp.headers().get(faultline_server::peers::UNREACHABLE_HEADER) {
                    eprintln!(
                        "warning: the server could not reach its peers {}: their newest, unflushed data is missing",
                        peers.to_str().unwrap_or("?")
                    );
                }
                (resp.status().as_u16(), resp.bytes().await?.to_vec())
            }
            Backend::Local(router) => {
                let mut b = axum::http::Request::builder().method(method).uri(path);
                let body = match body {
                    Some(v) => {
                        b = b.header("content-type", "application/json");
                        axum::body::Body::from(v.to_string())
                    }
                    None => axum::body::Body::empty(),
                };
                let resp = router.clone().oneshot(b.body(body)?).await?;
                let status = resp.status().as_u16();
                let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
                (status, bytes.to_vec())
            }
        };
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        if status >= 400 {
            let msg =
                v.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| v.to_string());
            bail!("{msg}");
        }
        Ok(v)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.request("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.request("POST", path, Some(body)).await
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", enc(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// The most rows the API returns in one page (`faultline_query::page::MAX_PAGE_SIZE`).
const API_PAGE: usize = 1000;

/// Up to `limit` items of a paged listing (`items` names its array), read page after page through
/// `next_cursor`; the first page's `total`, and the last page's `next_cursor`.
async fn get_pages(
    b: &Backend,
    path: &str,
    mut q: Vec<(&'static str, Option<String>)>,
    items: &str,
    limit: usize,
) -> anyhow::Result<Value> {
    let mut all: Vec<Value> = Vec::new();
    let (mut first, mut cursor): (Option<Value>, Option<String>) = (None, None);
    loop {
        let want = (limit - all.len()).min(API_PAGE);
        q.retain(|(k, _)| *k != "limit" && *k != "cursor");
        q.extend([("limit", Some(want.to_string())), ("cursor", cursor.clone())]);
        let mut page = b.get(&format!("{path}{}", query_string(&q))).await?;
        all.extend(page[items].as_array_mut().map(std::mem::take).unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(String::from);
        first.get_or_insert(page);
        if cursor.is_none() || all.len() >= limit {
            break;
        }
    }
    let mut v = first.unwrap_or_default();
    v[items] = Value::Array(all);
    v["next_cursor"] = cursor.map_or(Value::Null, Value::String);
    Ok(v)
}

fn window_pairs(w: &WindowArgs) -> Vec<(&'static str, Option<String>)> {
    vec![("from", w.from.clone()), ("to", w.to.clone())]
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn print_text(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    std::io::stdout().lock().write_all(s.as_bytes())?;
    Ok(())
}

pub async fn traces(a: TracesArgs) -> anyhow::Result<()> {
    let b = Backend::open(&a.source).await?;
    match a.command {
        TracesCommand::Get { id, correct_skew } => {
            let q = if correct_skew { "?correct_skew=true" } else { "" };
            let v = b.get(&format!("/api/v1/traces/{}{q}", enc(&id))).await?;
            match a.source.format {
                Format::Json => print_json(&v),
                Format::Text => print_text(&output::trace_tree(&v)),
            }
        }
        TracesCommand::Search { filter, window, limit } => {
            let mut q = window_pairs(&window);
            q.push(("filter", Some(filter)));
            let v = get_pages(&b, "/api/v1/traces", q, "traces", limit).await?;
            match a.source.format {
                Format::Json => print_json(&v),
                Format::Text => print_text(&output::trace_list(&v)),
            }
        }
    }
}

pub async fn logs(a: LogsArgs) -> anyhow::Result<()> {
    let b = Backend::open(&a.source).await?;
    match a.command {
        LogsCommand::Search { filter, text, severity, service, trace_id, window, limit } => {
            let mut q = window_pairs(&window);
            q.extend([
                ("filter", Some(filter)),
                ("text", text),
                ("severity", severity),
                ("service", service),
                ("trace_id", trace_id),
            ]);
            let v = get_pages(&b, "/api/v1/logs", q, "logs", limit).await?;
            match a.source.format {
                Format::Json => print_json(&v),
                Format::Text => print_text(&output::log_list(&v)),
            }
        }
    }
}

pub async fn changes(a: ChangesArgs) -> anyhow::Result<()> {
    let b = Backend::open(&a.source).await?;
    match a.command {
        ChangesCommand::Add {
            service,
            kind,
            id,
            at,
            instance,
            version_before,
            version_after,
            description,
            author,
            link,
        } => {
            let at = match at {
                Some(t) => Some(faultline_model::time::parse_time_ns(&t, faultline_model::time::now_ns())?),
                None => None,
            };
            let mut body = serde_json::json!({"service": service, "kind": kind, "description": description});
            let o = body.as_object_mut().expect("object");
            for (k, v) in [
                ("id", id),
                ("instance", instance),
                ("version_before", version_before),
                ("version_after", version_after),
                ("author", author),
                ("link", link),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), Value::String(v));
                }
            }
            if let Some(t) = at {
                o.insert("time_unix_nano".into(), Value::from(t));
            }
            let v = b.post("/api/v1/changes", body).await?;
            match a.source.format {
                Format::Json => print_json(&v),
                Format::Text => print_text("change recorded\n"),
            }
        }
        ChangesCommand::ImportGit { repo, path, service, max_commits } => {
            let service = match service {
                Some(s) => s,
                None => std::fs::canonicalize(&repo)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                    .unwrap_or_else(|| "unknown_service".into()),
            };
            let events = crate::git::changes_from_git(&repo, &path, &service, max_commits)?;
            let n = events.len();
            if n > 0 {
                b.post("/api/v1/changes", serde_json::to_value(&events)?).await?;
            }
            match a.source.format {
                Format::Json => print_json(&serde_json::json!({"imported": n, "changes": events})),
                Format::Text => print_text(&format!("{n} change events from {}\n", repo.display())),
            }
        }
        ChangesCommand::List { window, service } => {
            let mut q = window_pairs(&window);
            q.push(("service", service));
            let v = b.get(&format!("/api/v1/changes{}", query_string(&q))).await?;
            match a.source.format {
                Format::Json => print_json(&v),
                Format::Text => print_text(&output::change_list(&v)),
            }
        }
    }
}

pub async fn status(a: SourceArgs) -> anyhow::Result<()> {
    let b = Backend::open(&a).await?;
    let v = b.get("/api/v1/status").await?;
    match a.format {
        Format::Json => print_json(&v),
        Format::Text => print_text(&output::status(&v)),
    }
}

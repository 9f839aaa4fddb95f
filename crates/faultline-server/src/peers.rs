//! Other nodes over the same bucket, asked for their unflushed rows (`faultline serve --peers`):
//! a static list of their API addresses, or a DNS name whose every address is a node (a
//! Kubernetes headless service). A node that lists itself is recognised by its node id and skipped.
//!
//! `GET /internal/v1/head?table=spans&from=..&to=..&trace_id=..` answers with this node's head rows
//! as frames of `[seq u64 LE][length u32 LE][Arrow IPC stream]`, its node id in
//! `faultline-node` and how far its segments hold its log in `faultline-flushed-through`.

use crate::error::AppError;
use crate::tenant::{Scoped, TENANT_HEADER};
use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use faultline_model::schema::Table;
use faultline_store::peers::{HeadAsk, PeerBatch, PeerHeads, PeerRows};
use futures::future::BoxFuture;
use std::time::Duration;

/// How long a read waits for a peer's head: a peer slower than this is reported unreachable and
/// the read answers without its unflushed rows, rather than hang on it.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(3);

pub const NODE_HEADER: &str = "faultline-node";
pub const FLUSHED_HEADER: &str = "faultline-flushed-through";
/// On a read's answer: the peers it could not reach, so the answer may miss their newest rows.
pub const UNREACHABLE_HEADER: &str = "faultline-unreachable-peers";

/// Where the peers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerList {
    /// API base URLs (`http://10.0.0.2:8080`).
    Static(Vec<String>),
    /// Every address `host` resolves to, on `port` (`dns:faultline-headless:8080`).
    Dns { host: String, port: u16 },
}

impl PeerList {
    /// `http://a:8080,http://b:8080`, or `dns:name:port`.
    pub fn parse(s: &str) -> Result<PeerList, String> {
        if let Some(rest) = s.strip_prefix("dns:") {
            let (host, port) =
                rest.rsplit_once(':').ok_or_else(|| format!("peers {s:?}: write dns:name:port"))?;
            let port = port.parse().map_err(|_| format!("peers {s:?}: {port:?} is not a port"))?;
            return Ok(PeerList::Dns { host: host.to_string(), port });
        }
        let urls: Vec<String> = s
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if let Some(bad) = urls.iter().find(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
            return Err(format!("peers: {bad:?} is not an http:// or https:// address of a node's API"));
        }
        Ok(PeerList::Static(urls))
    }

    async fn urls(&self) -> Vec<String> {
        match self {
            PeerList::Static(u) => u.clone(),
            PeerList::Dns { host, port } => match tokio::net::lookup_host((host.as_str(), *port)).await {
                Ok(addrs) => addrs.map(|a| format!("http://{a}")).collect(),
                Err(e) => {
                    tracing::warn!(host, error = %e, "peers: the name does not resolve");
                    vec![format!("dns:{host}:{port}")]
                }
            },
        }
    }
}

/// The peers, asked over HTTP.
#[derive(Debug, Clone)]
pub struct HttpPeers {
    list: PeerList,
    /// A token with the read scope, for peers that ask for one (`FAULTLINE_PEER_TOKEN`).
    token: Option<String>,
    client: reqwest::Client,
}

impl HttpPeers {
    pub fn new(list: PeerList, token: Option<String>) -> HttpPeers {
        let client = reqwest::Client::builder().timeout(PEER_TIMEOUT).build().expect("an HTTP client builds");
        HttpPeers { list, token, client }
    }

    async fn ask_one(&self, url: &str, tenant: Option<&str>, ask: &HeadAsk) -> Result<Answer, String> {
        let mut q: Vec<(&str, String)> = vec![("table", ask.table.name().to_string())];
        if let Some((from, to)) = ask.time {
            q.push(("from", from.to_string()));
            q.push(("to", to.to_string()));
        }
        if let Some(t) = ask.trace_id {
            q.push(("trace_id", faultline_model::TraceId(t).to_hex()));
        }
        let mut req = self.client.get(format!("{url}/internal/v1/head")).query(&q);
        if let Some(t) = tenant {
            req = req.header(TENANT_HEADER, t);
        }
        if let Some(tok) = &self.token {
            req = req.bearer_auth(tok);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("answered {}", r.status()));
        }
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let node = header(NODE_HEADER).ok_or("no node id in the answer")?;
        let flushed = header(FLUSHED_HEADER).and_then(|v| v.parse().ok()).unwrap_or(0);
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        let frames = decode_frames(&body).map_err(|e| format!("its answer does not decode: {e}"))?;
        Ok(Answer { node, flushed, frames })
    }
}

struct Answer {
    node: String,
    flushed: u64,
    frames: Vec<(u64, arrow::array::RecordBatch)>,
}

impl PeerHeads for HttpPeers {
    fn fetch(&self, tenant: Option<String>, ask: HeadAsk) -> BoxFuture<'static, PeerRows> {
        let me = self.clone();
        Box::pin(async move {
            let urls = me.list.urls().await;
            let answers =
                futures::future::join_all(urls.iter().map(|u| me.ask_one(u, tenant.as_deref(), &ask))).await;
            let mut rows = PeerRows::default();
            for (url, a) in urls.into_iter().zip(answers) {
                match a {
                    Ok(a) => {
                        rows.flushed_through.push((a.node.clone(), a.flushed));
                        rows.batches.extend(a.frames.into_iter().map(|(seq, batch)| PeerBatch {
                            node: a.node.clone(),
                            seq,
                            batch,
                        }));
                    }
                    Err(e) => {
                        tracing::debug!(peer = url, error = %e, "peer did not answer");
                        rows.unreachable.push(url);
                    }
                }
            }
            rows
        })
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct HeadQuery {
    table: String,
    from: Option<i64>,
    to: Option<i64>,
    trace_id: Option<String>,
}

/// `GET /internal/v1/head`: this node's unflushed rows, for a peer's read.
pub async fn head(Scoped(st): Scoped, Query(q): Query<HeadQuery>) -> Result<impl IntoResponse, AppError> {
    let table = Table::ALL.into_iter().find(|t| t.name() == q.table).ok_or_else(|| {
        AppError::bad_request(format!("table {:?}: one of spans, logs, metrics, changes", q.table))
    })?;
    let trace_id = match q.trace_id.as_deref() {
        Some(h) => {
            Some(faultline_model::TraceId::from_hex(h).map_err(|e| AppError::bad_request(e.to_string()))?.0)
        }
        None => None,
    };
    let time = q.from.zip(q.to);
    let store = &st.store;
    let rows = store.head_rows(&HeadAsk { table, time, trace_id })?;
    let flushed = store.segments_through(table).get(store.node_id()).copied().unwrap_or(0);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.faultline.head"));
    headers.insert(NODE_HEADER, HeaderValue::from_str(store.node_id()).expect("node ids are hex"));
    headers.insert(FLUSHED_HEADER, HeaderValue::from(flushed));
    Ok((headers, encode_frames(&rows)?))
}

fn encode_frames(rows: &[(u64, arrow::array::RecordBatch)]) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    for (seq, b) in rows {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &b.schema())
            .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, e.to_string()))?;
        w.write(b)
            .and_then(|_| w.finish())
            .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, e.to_string()))?;
        let ipc =
            w.into_inner().map_err(|e| AppError::new(crate::error::ErrorCode::Internal, e.to_string()))?;
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(ipc.len() as u32).to_le_bytes());
        out.extend_from_slice(&ipc);
    }
    Ok(out)
}

fn decode_frames(mut body: &[u8]) -> Result<Vec<(u64, arrow::array::RecordBatch)>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 12 {
            return Err("a frame is cut short".into());
        }
        let seq = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
        let ipc = body.get(12..12 + len).ok_or("a frame is cut short")?;
        let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)
            .map_err(|e| e.to_string())?;
        for b in r {
            out.push((seq, b.map_err(|e| e.to_string())?));
        }
        body = &body[12 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_a_list_of_urls_or_a_dns_name() {
        assert_eq!(
            PeerList::parse("http://a:8080/, https://b:8443").unwrap(),
            PeerList::Static(vec!["http://a:8080".into(), "https://b:8443".into()])
        );
        assert_eq!(
            PeerList::parse("dns:faultline-headless:8080").unwrap(),
            PeerList::Dns { host: "faultline-headless".into(), port: 8080 }
        );
        assert!(PeerList::parse("a:8080").unwrap_err().contains("http://"));
        assert!(PeerList::parse("dns:x").unwrap_err().contains("dns:name:port"));
    }

    #[test]
    fn frames_round_trip_and_a_cut_one_is_an_error() {
        let spans = vec![faultline_model::schema::spans_to_batch(&[])];
        let rows: Vec<(u64, arrow::array::RecordBatch)> = spans.into_iter().map(|b| (7, b)).collect();
        let bytes = encode_frames(&rows).unwrap();
        let back = decode_frames(&bytes).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].0, 7);
        assert!(decode_frames(&bytes[..bytes.len() - 1]).is_err());
    }
}

//! The unflushed rows of the other nodes over one bucket, read through their APIs: with them a
//! read on any node sees what every node acknowledged, not only what they flushed. The store asks
//! a [`PeerHeads`] (the server's, over HTTP) and merges the answer into its scans; rows a peer
//! has flushed since are dropped by their log position, which the segments record per node.
//!
//! Peers that do not answer are collected per request ([`collect_unreachable`]) so that the
//! answer can say it is partial.

use arrow::array::RecordBatch;
use faultline_model::schema::Table;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use std::future::Future;

/// What a scan asks of the peers' heads: the cheap, selective parts of its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadAsk {
    pub table: Table,
    pub time: Option<(i64, i64)>,
    pub trace_id: Option<[u8; 16]>,
}

/// A batch of a peer's head: the node that holds it and its log sequence number there.
#[derive(Debug, Clone)]
pub struct PeerBatch {
    pub node: String,
    pub seq: u64,
    pub batch: RecordBatch,
}

/// What the peers answered, and which did not.
#[derive(Debug, Default)]
pub struct PeerRows {
    pub batches: Vec<PeerBatch>,
    /// Per peer node, the log position its own segments of the table hold its rows up to: rows
    /// it flushed are no longer in its head, so a list that is behind must be refreshed.
    pub flushed_through: Vec<(String, u64)>,
    pub unreachable: Vec<String>,
}

/// The other nodes' heads, for the tenant the store belongs to (`None`: the default tenant).
pub trait PeerHeads: std::fmt::Debug + Send + Sync {
    fn fetch(&self, tenant: Option<String>, ask: HeadAsk) -> BoxFuture<'static, PeerRows>;
}

tokio::task_local! {
    static UNREACHABLE: Mutex<Vec<String>>;
}

/// Runs `f`, returning with its output the peers that its reads could not reach.
pub async fn collect_unreachable<F: Future>(f: F) -> (F::Output, Vec<String>) {
    UNREACHABLE
        .scope(Mutex::new(Vec::new()), async {
            let out = f.await;
            let mut peers = UNREACHABLE.with(|u| std::mem::take(&mut *u.lock()));
            peers.sort();
            peers.dedup();
            (out, peers)
        })
        .await
}

/// Notes peers a read could not reach (outside [`collect_unreachable`]: logged only).
pub(crate) fn note_unreachable(peers: &[String]) {
    if peers.is_empty() {
        return;
    }
    tracing::warn!(?peers, "peers did not answer: their unflushed rows are missing from this read");
    let _ = UNREACHABLE.try_with(|u| u.lock().extend(peers.iter().cloned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_peers_are_collected_per_request() {
        let ((), peers) = collect_unreachable(async {
            note_unreachable(&["http://b:8080".into()]);
            note_unreachable(&["http://a:8080".into(), "http://b:8080".into()]);
        })
        .await;
        assert_eq!(peers, ["http://a:8080", "http://b:8080"]);
        note_unreachable(&["outside a request".into()]);
        let ((), none) = collect_unreachable(async {}).await;
        assert!(none.is_empty());
    }
}

//! Several nodes over one bucket, with no coordination service: the object store is the only
//! shared state, as in Tempo, Loki and Quickwit.
//!
//! - Each node writes its own segments (ids carry its node id) and its own write-ahead log.
//! - Each node lists the bucket every `refresh_interval`, taking up the segments others flushed
//!   and dropping those they compacted away or expired.
//! - Compaction and retention run on one node at a time: the one holding the maintenance lease, an
//!   object written with the store's conditional writes (`If-None-Match: *` to take a free lease,
//!   `If-Match: <etag>` to renew or take over an expired one).
//! - Even if two nodes compacted the same segments (a lease lost mid-run, clocks apart), readers
//!   stay right: of two segments that replace the same one, the lower id wins and the other is
//!   garbage ([`live_set`]).
//! - Nothing is deleted at once: a replaced or expired segment stays for [`DELETE_GRACE`], longer
//!   than another node needs to see it gone and finish the reads that began before.

use crate::segment::SegmentMeta;
use crate::{Store, StoreError};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use parquet::file::metadata::ParquetMetaData;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How long a segment that left the list stays in the bucket: a node sees it gone at its next
/// refresh (10 s by default) and its reads end within their time-out (30 s by default); five
/// minutes leave room for a slow node and a longer time-out.
pub const DELETE_GRACE: Duration = Duration::from_secs(300);

/// The lease object, below the store's location.
const LEASE_PATH: &str = "leases/maintenance.json";

/// How long a lease lasts past its taking: three maintenance rounds, so that a holder renews it
/// twice before it could lapse, and at least a minute, so a slow round does not lose it.
pub fn lease_ttl(compact_interval: Duration) -> Duration {
    (compact_interval * 3).max(Duration::from_secs(60))
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Lease {
    node: String,
    /// Unix ns after which another node may take it.
    until: i64,
}

/// Takes or renews the maintenance lease for `node`; whether it holds it now.
pub async fn take_lease(
    objects: &Arc<dyn ObjectStore>,
    node: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = faultline_model::time::now_ns();
    let mine = Lease { node: node.to_string(), until: now + ttl.as_nanos() as i64 };
    let body = PutPayload::from(serde_json::to_vec(&mine).expect("lease serialises"));
    let path = ObjPath::from(LEASE_PATH);
    match objects.put_opts(&path, body.clone(), PutOptions::from(PutMode::Create)).await {
        Ok(_) => return Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let current = objects.get(&path).await?;
    let version = UpdateVersion { e_tag: current.meta.e_tag.clone(), version: current.meta.version.clone() };
    let held: Option<Lease> = serde_json::from_slice(&current.bytes().await?).ok();
    if held.as_ref().is_some_and(|l| l.node != node && l.until > now) {
        return Ok(false);
    }
    match objects.put_opts(&path, body, PutOptions::from(PutMode::Update(version))).await {
        Ok(_) => Ok(true),
        // Another node renewed or took it between our read and our write.
        Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Segments with what was read of each (a footer, or nothing).
pub type Listed<F> = Vec<(SegmentMeta, F)>;

/// The segments readers use, and the garbage: segments another one replaces (a compaction's
/// inputs), and of two compactions of the same inputs, the one with the higher id.
pub fn live_set<F>(mut metas: Vec<(SegmentMeta, F)>) -> (Listed<F>, Listed<F>) {
    metas.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let mut replaced: HashSet<String> = HashSet::new();
    let mut losers: HashSet<String> = HashSet::new();
    // In id order: a compaction whose inputs an earlier one already claimed lost the race.
    for (m, _) in &metas {
        if m.replaces.iter().any(|r| replaced.contains(r)) {
            losers.insert(m.id.clone());
        } else {
            replaced.extend(m.replaces.iter().cloned());
        }
    }
    metas.into_iter().partition(|(m, _)| !replaced.contains(&m.id) && !losers.contains(&m.id))
}

/// When a segment was written, from its id (`<unix µs, 20 digits>-<node>-<n>`).
pub fn written_at_ns(id: &str) -> Option<i64> {
    id.split('-').next()?.parse::<i64>().ok().map(|us| us.saturating_mul(1000))
}

/// Whether garbage segment `m` may be deleted now: long enough after the segment that made it
/// garbage was written for every node to have seen it.
pub fn garbage_may_go(replacing_written_ns: Option<i64>, grace: Duration, now_ns: i64) -> bool {
    replacing_written_ns.is_some_and(|w| now_ns - w >= grace.as_nanos() as i64)
}

/// What a refresh changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub added: usize,
    pub dropped: usize,
    pub deleted: usize,
}

impl Store {
    /// Lists the bucket: takes up segments other nodes wrote, drops the ones they replaced or
    /// deleted, and deletes garbage old enough that no node reads it any more.
    pub async fn refresh(&self) -> Result<Refreshed, StoreError> {
        let _guard = self.inner.maintenance.lock().await;
        let objects = &self.inner.objects;
        let known: HashMap<String, SegmentMeta> =
            self.inner.state.read().segments.iter().map(|s| (s.id.clone(), s.clone())).collect();
        // Segments this node retired (expired, or merged by it) wait in the bucket for the grace:
        // they are not taken up again.
        let retired = self.inner.readers.retired_ids();
        let mut metas: Vec<(SegmentMeta, Option<Arc<ParquetMetaData>>)> = Vec::new();
        let mut unknown = Vec::new();
        for obj in crate::segment_objects(objects).await? {
            let id = obj.location.filename().unwrap_or_default().trim_end_matches(".parquet").to_string();
            if retired.contains(&id) {
                continue;
            }
            match known.get(&id) {
                Some(m) => metas.push((m.clone(), None)),
                None => unknown.push(obj),
            }
        }
        for (path, r) in crate::read_footers(objects, unknown).await {
            match r {
                Ok((m, footer)) => metas.push((m, Some(footer))),
                // Deleted between the listing and the read, or unreadable: not taken up.
                Err(e) => tracing::warn!(segment = %path, error = %e, "segment not taken up"),
            }
        }
        let written: HashMap<String, Option<i64>> = metas
            .iter()
            .flat_map(|(m, _)| m.replaces.iter().map(|r| (r.clone(), written_at_ns(&m.id))))
            .collect();
        let (live, garbage) = live_set(metas);
        let mut out = Refreshed::default();
        let now = faultline_model::time::now_ns();
        for (g, _) in &garbage {
            let replacing = written.get(&g.id).copied().flatten().or_else(|| written_at_ns(&g.id));
            if garbage_may_go(replacing, DELETE_GRACE, now) && objects.delete(&g.path()).await.is_ok() {
                out.deleted += 1;
            }
        }
        let live_ids: HashSet<String> = live.iter().map(|(m, _)| m.id.clone()).collect();
        let mut new_footers = Vec::new();
        {
            let mut st = self.inner.state.write();
            let before = st.segments.len();
            st.segments.retain(|s| live_ids.contains(&s.id));
            out.dropped = before - st.segments.len();
            for (m, footer) in live {
                if let Some(f) = footer {
                    new_footers.push((m.id.clone(), f));
                    st.segments.push(m);
                    out.added += 1;
                }
            }
            st.segments.sort_by(|a, b| a.id.cmp(&b.id));
        }
        let mut footers = self.inner.footers.write();
        footers.extend(new_footers);
        footers.retain(|id, _| live_ids.contains(id));
        if out != Refreshed::default() {
            tracing::debug!(?out, "refreshed the segment list from the bucket");
        }
        Ok(out)
    }

    /// Whether this node may run compaction and retention now: always alone; with several nodes,
    /// only while it holds the lease.
    pub(crate) async fn may_maintain(&self) -> Result<bool, StoreError> {
        if !self.inner.cfg.shared {
            return Ok(true);
        }
        take_lease(&self.inner.objects, &self.inner.node, lease_ttl(self.inner.cfg.compact_interval)).await
    }

    /// How long a retired segment waits before deletion: other nodes' reads are out of sight.
    pub(crate) fn delete_grace(&self) -> Duration {
        if self.inner.cfg.shared {
            DELETE_GRACE
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, replaces: &[&str]) -> (SegmentMeta, ()) {
        let m = SegmentMeta {
            id: id.into(),
            table: faultline_model::schema::Table::Spans,
            rows: 1,
            min_time: 0,
            max_time: 0,
            level: 0,
            wal_through: Default::default(),
            created: 0,
            replaces: replaces.iter().map(|s| s.to_string()).collect(),
            size: 0,
        };
        (m, ())
    }

    fn ids(v: &[(SegmentMeta, ())]) -> Vec<&str> {
        v.iter().map(|(m, _)| m.id.as_str()).collect()
    }

    #[test]
    fn two_compactions_of_the_same_segments_leave_one_and_no_row_twice() {
        let all = vec![
            seg("1-a-0", &[]),
            seg("2-b-0", &[]),
            seg("3-a-1", &["1-a-0", "2-b-0"]),
            seg("4-b-1", &["1-a-0", "2-b-0"]),
            seg("5-b-2", &[]),
        ];
        let (live, garbage) = live_set(all);
        assert_eq!(ids(&live), ["3-a-1", "5-b-2"]);
        assert_eq!(ids(&garbage), ["1-a-0", "2-b-0", "4-b-1"]);
    }

    #[test]
    fn garbage_waits_for_the_grace_after_the_segment_that_replaced_it() {
        let grace = Duration::from_secs(300);
        let written = written_at_ns("00001700000000000000-node-000001");
        assert_eq!(written, Some(1_700_000_000_000_000_000 / 1000 * 1000));
        let w = written.unwrap();
        assert!(!garbage_may_go(written, grace, w + 299_000_000_000));
        assert!(garbage_may_go(written, grace, w + 300_000_000_000));
        assert!(!garbage_may_go(None, grace, w), "an id we cannot date is never deleted");
        assert_eq!(lease_ttl(Duration::from_secs(5)), Duration::from_secs(60));
        assert_eq!(lease_ttl(Duration::from_secs(60)), Duration::from_secs(180));
    }

    async fn node(objects: &Arc<dyn ObjectStore>, dir: &std::path::Path) -> Store {
        let mut cfg = crate::StoreConfig::new(dir);
        cfg.object_store = Some(objects.clone());
        cfg.shared = true;
        cfg.compact_min_segments = 2;
        Store::open(cfg).await.unwrap()
    }

    fn span_rows(store: &Store) -> u64 {
        store.stats().tables.get("spans").map_or(0, |t| t.rows)
    }

    #[tokio::test]
    async fn nodes_see_each_others_segments_and_compaction_by_one() {
        use crate::tests::span;
        use faultline_model::schema::{spans_to_batch, Table};
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (node(&objects, da.path()).await, node(&objects, db.path()).await);
        for (i, n) in [&a, &b, &a, &b].into_iter().enumerate() {
            let spans: Vec<_> = (1..=10).map(|k| span(i as u8 + 1, k, 1_000 + k as i64, "svc")).collect();
            n.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
            n.flush().await.unwrap();
        }
        assert_eq!((span_rows(&a), span_rows(&b)), (20, 20), "each its own, before a refresh");
        assert_eq!(a.refresh().await.unwrap().added, 2);
        assert_eq!(b.refresh().await.unwrap().added, 2);
        assert_eq!((span_rows(&a), span_rows(&b)), (40, 40));
        // One node holds the lease: it merges all four; the other leaves them alone.
        let (ca, cb) = (a.compact().await.unwrap(), b.compact().await.unwrap());
        assert_eq!((ca, cb), (4, 0), "only the lease holder compacts");
        let r = b.refresh().await.unwrap();
        assert_eq!((r.added, r.dropped, r.deleted), (1, 4, 0), "inputs stay in the bucket for the grace");
        assert_eq!((span_rows(&a), span_rows(&b)), (40, 40), "no row lost or doubled");
        assert_eq!(b.stats().segments, 1);
        assert_eq!(
            a.trace(faultline_model::TraceId([3; 16]))
                .await
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>(),
            10
        );
    }

    #[tokio::test]
    async fn two_nodes_compacting_the_same_segments_at_once_lose_and_double_nothing() {
        use crate::tests::span;
        use faultline_model::schema::{spans_to_batch, Table};
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let (da, db, dc) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (node(&objects, da.path()).await, node(&objects, db.path()).await);
        for i in 0..4u8 {
            let spans: Vec<_> = (1..=10).map(|k| span(i + 1, k, 1_000 + k as i64, "svc")).collect();
            a.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
            a.flush().await.unwrap();
        }
        b.refresh().await.unwrap();
        // As if the lease were lost mid-run: both merge the same four segments.
        objects.delete(&ObjPath::from(LEASE_PATH)).await.unwrap();
        assert_eq!(a.compact().await.unwrap(), 4);
        objects.delete(&ObjPath::from(LEASE_PATH)).await.unwrap();
        assert_eq!(b.compact().await.unwrap(), 4);
        let c = node(&objects, dc.path()).await;
        a.refresh().await.unwrap();
        b.refresh().await.unwrap();
        for n in [&a, &b, &c] {
            assert_eq!((span_rows(n), n.stats().segments), (40, 1), "one merged segment wins everywhere");
        }
    }

    /// A peer answered in process: another store's head.
    struct InProcess(Store);

    impl std::fmt::Debug for InProcess {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "InProcess({})", self.0.node_id())
        }
    }

    impl crate::peers::PeerHeads for InProcess {
        fn fetch(
            &self,
            _tenant: Option<String>,
            ask: crate::peers::HeadAsk,
        ) -> futures::future::BoxFuture<'static, crate::peers::PeerRows> {
            let peer = self.0.clone();
            Box::pin(async move {
                let node = peer.node_id().to_string();
                let batches = peer.head_rows(&ask).unwrap();
                let flushed = peer.segments_through(ask.table).get(&node).copied().unwrap_or(0);
                crate::peers::PeerRows {
                    batches: batches
                        .into_iter()
                        .map(|(seq, batch)| crate::peers::PeerBatch { node: node.clone(), seq, batch })
                        .collect(),
                    flushed_through: vec![(node, flushed)],
                    unreachable: vec![],
                }
            })
        }
    }

    #[tokio::test]
    async fn a_node_reads_a_peers_unflushed_rows_once_before_and_after_its_flush() {
        use crate::tests::span;
        use faultline_model::schema::{spans_to_batch, Table};
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = node(&objects, da.path()).await;
        let mut cfg = crate::StoreConfig::new(db.path());
        cfg.object_store = Some(objects.clone());
        cfg.shared = true;
        cfg.peers = Some(Arc::new(InProcess(a.clone())));
        let b = Store::open(cfg).await.unwrap();
        let rows =
            |batches: Vec<arrow::array::RecordBatch>| batches.iter().map(|b| b.num_rows()).sum::<usize>();
        let spans: Vec<_> = (1..=10).map(|k| span(7, k, 1_000 + k as i64, "svc")).collect();
        a.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
        assert_eq!(
            rows(b.scan(&crate::Scan::new(Table::Spans)).await.unwrap()),
            10,
            "a's head, through its API"
        );
        assert_eq!(rows(b.trace(faultline_model::TraceId([7; 16])).await.unwrap()), 10);
        a.flush().await.unwrap();
        // b has not refreshed: a's answer says it flushed, so b reads the list again, and counts once.
        assert_eq!(rows(b.scan(&crate::Scan::new(Table::Spans)).await.unwrap()), 10);
        a.append(Table::Spans, spans_to_batch(&spans[..3])).await.unwrap();
        assert_eq!(rows(b.scan(&crate::Scan::new(Table::Spans)).await.unwrap()), 13);
    }

    #[tokio::test]
    async fn a_segment_expired_here_is_not_taken_up_again_while_it_waits_for_the_grace() {
        use crate::tests::span;
        use faultline_model::schema::{spans_to_batch, Table};
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let da = tempfile::tempdir().unwrap();
        let a = node(&objects, da.path()).await;
        let spans: Vec<_> = (1..=10).map(|k| span(1, k, 1_000 + k as i64, "svc")).collect();
        a.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
        a.flush().await.unwrap();
        // Everything is past a retention of a week a year from now.
        let later = faultline_model::time::now_ns() + 365 * 24 * 3600 * 1_000_000_000;
        assert_eq!(a.apply_retention(later).await.unwrap(), 1);
        assert_eq!(span_rows(&a), 0);
        assert_eq!(a.refresh().await.unwrap().added, 0, "still in the bucket, but expired here");
        assert_eq!(span_rows(&a), 0);
    }

    #[tokio::test]
    async fn one_node_holds_the_lease_until_it_lapses() {
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let ttl = Duration::from_millis(300);
        assert!(take_lease(&objects, "a", ttl).await.unwrap());
        assert!(!take_lease(&objects, "b", ttl).await.unwrap(), "a holds it");
        assert!(take_lease(&objects, "a", ttl).await.unwrap(), "its holder renews it");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(take_lease(&objects, "b", ttl).await.unwrap(), "lapsed: b takes it over");
        assert!(!take_lease(&objects, "a", ttl).await.unwrap());
    }
}

//! faultline's embedded store.
//!
//! Writes go to a write-ahead log and are acknowledged once durable (group commit); they then sit in
//! an in-memory head of Arrow record batches; a flush turns the head into sorted Parquet segments on
//! an object store (a local directory by default); compaction merges small segments; retention drops
//! old ones. Scans read segments and head alike, with projection and predicate pushdown.
//!
//! Invariants:
//! - only this crate touches the object store and the write-ahead log;
//! - a batch is visible to scans only once it is durable;
//! - after a crash, every acknowledged batch is restored exactly once: segments record, per node, the
//!   log sequence number they cover, and replay skips what they hold;
//! - nothing here assumes segments live on a local file system.

pub mod bloom_cache;
pub mod budget;
pub mod expr;
pub mod memory;
pub mod peers;
pub mod quarantine;
mod readers;
pub mod remote;
pub mod segment;
pub mod shared;
pub mod typed_attrs;
pub mod wal;

use arrow::array::RecordBatch;
use arrow::compute::filter_record_batch;
use expr::{CmpOp, Expr, ExprError, Scalar};
use faultline_model::schema::Table;
use faultline_model::TraceId;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::RwLock;
use parquet::file::metadata::ParquetMetaData;
use segment::{SegmentMeta, SegmentScan};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("write-ahead log: {0}")]
    Wal(String),
    #[error("the disk of the data directory is full ({0}); writes resume by themselves once space is freed")]
    StorageFull(String),
    #[error("the server holds {held_mib} MiB in memory, over its limit of {limit_mib} MiB; retry shortly")]
    Overloaded { held_mib: u64, limit_mib: u64 },
    #[error("data directory {0} is in use by another faultline process; stop it, or send the data to it over its API")]
    Locked(PathBuf),
    #[error("filter: {0}")]
    Expr(#[from] ExprError),
    #[error("typed attributes: {0}")]
    TypedAttrs(#[from] typed_attrs::TypedAttrsError),
    /// A setting that cannot work (a storage URL, its credentials).
    #[error("{0}")]
    Config(String),
    /// A query's own limit stopped the scan (its memory budget); the message says what to narrow.
    #[error("{0}")]
    Budget(String),
    /// The reads running now hold their whole share of the server's memory: retry shortly.
    #[error("{0}")]
    MemoryBusy(String),
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io { path: path.to_path_buf(), source }
    }

    /// Whether the error says an object is not there (a segment deleted since a scan's snapshot),
    /// however the Parquet reader wrapped it.
    pub fn is_not_found(&self) -> bool {
        match self {
            StoreError::ObjectStore(object_store::Error::NotFound { .. }) => true,
            StoreError::Parquet(parquet::errors::ParquetError::External(e)) => {
                matches!(e.downcast_ref::<object_store::Error>(), Some(object_store::Error::NotFound { .. }))
            }
            _ => false,
        }
    }

    /// Whether the caller should retry later (the store is full, not broken).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Overloaded { .. } | StoreError::StorageFull(_) | StoreError::MemoryBusy(_))
    }
}

/// Store configuration. [`StoreConfig::new`] holds the defaults.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Where segments go; `None` means `<data_dir>/segments` on the local file system.
    pub object_store: Option<Arc<dyn ObjectStore>>,
    /// Flush the head to segments when it holds this many bytes...
    pub flush_bytes: usize,
    /// ...or when its oldest batch is this old.
    pub flush_interval: Duration,
    /// Refuse writes (retryably) while the head holds more than this.
    pub max_head_bytes: usize,
    /// The process's memory budget, shared with other stores (tenants), ingest and reads.
    pub memory: Arc<memory::MemoryBudget>,
    /// Write-ahead log files roll over at this size.
    pub wal_file_bytes: u64,
    /// Drop segments written longer ago than this.
    pub retention: Option<Duration>,
    /// Drop the oldest segments while all segments together are larger than this.
    pub max_bytes: Option<u64>,
    /// Compaction merges small segments of a table up to this many rows.
    pub compact_target_rows: u64,
    /// Compaction runs for a time bucket once it holds this many small segments.
    pub compact_min_segments: usize,
    /// Compaction buckets segments by this span of time.
    pub compact_bucket: Duration,
    /// Compaction and retention run this often (and once soon after the store opens).
    pub compact_interval: Duration,
    /// Other nodes write below the same location (`shared`): the segment list is refreshed from
    /// it, compaction and retention take the lease, deletions wait for other nodes' reads.
    pub shared: bool,
    /// With `shared`, how often the segment list is read again from the location.
    pub refresh_interval: Duration,
    /// The other nodes' unflushed rows, merged into scans (several nodes over one bucket).
    pub peers: Option<Arc<dyn peers::PeerHeads>>,
    /// The tenant this store holds, for asking the peers (`None`: the default tenant).
    pub tenant: Option<String>,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            object_store: None,
            flush_bytes: 256 << 20,
            flush_interval: Duration::from_secs(60),
            max_head_bytes: 2 << 30,
            memory: memory::MemoryBudget::unlimited(),
            wal_file_bytes: 64 << 20,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            max_bytes: None,
            shared: false,
            refresh_interval: Duration::from_secs(10),
            peers: None,
            tenant: None,
            compact_target_rows: 4_000_000,
            compact_min_segments: 4,
            compact_bucket: Duration::from_secs(3600),
            compact_interval: Duration::from_secs(60),
        }
    }
}

/// Segments read concurrently by one scan: enough to overlap reads with decoding, few enough that a
/// scan holds only a handful of segments' rows at once.
const SEGMENTS_READ_AT_ONCE: usize = 4;

/// What a flush needs beyond the head it writes, as a part of the head's memory: the sort columns
/// and the order (about 40 bytes a row against some 400), one row group gathered at a time, and
/// the compressed file (zstd leaves about a tenth). Counted while the flush runs, so that new
/// writes wait rather than push the process past its budget.
const FLUSH_WORK_DIVISOR: usize = 4;

/// Compaction holds the rows of the segments it merges, at most this part of the memory budget
/// (a quarter: the head keeps its half, and reads theirs); a group larger than that is merged in
/// smaller steps.
const COMPACT_SHARE_DIVISOR: usize = 4;

/// A scan of one table.
#[derive(Debug, Clone)]
pub struct Scan {
    pub table: Table,
    /// `[from, to)` in unix ns on the table's time column.
    pub time: Option<(i64, i64)>,
    /// Columns to return; `None` returns all.
    pub columns: Option<Vec<String>>,
    pub filter: Expr,
    /// Restrict to one trace (uses the segments' bloom filters).
    pub trace_id: Option<TraceId>,
}

impl Scan {
    pub fn new(table: Table) -> Self {
        Scan { table, time: None, columns: None, filter: Expr::True, trace_id: None }
    }

    pub fn time(mut self, from: i64, to: i64) -> Self {
        self.time = Some((from, to));
        self
    }

    pub fn columns(mut self, cols: &[&str]) -> Self {
        self.columns = Some(cols.iter().map(|c| c.to_string()).collect());
        self
    }

    pub fn filter(mut self, e: Expr) -> Self {
        self.filter = e;
        self
    }

    fn full_filter(&self) -> Expr {
        let mut parts = vec![self.filter.clone()];
        if let Some((from, to)) = self.time {
            let c = self.table.time_column();
            parts.push(Expr::col(c, CmpOp::Ge, Scalar::Int(from)));
            parts.push(Expr::col(c, CmpOp::Lt, Scalar::Int(to)));
        }
        if let Some(t) = self.trace_id {
            parts.push(Expr::col("trace_id", CmpOp::Eq, Scalar::Bytes(t.0.to_vec())));
        }
        Expr::and(parts)
    }
}

/// Figures about the store, for `/metrics` and `faultline status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreStats {
    pub head_rows: u64,
    pub head_bytes: u64,
    pub segments: u64,
    pub segment_bytes: u64,
    pub segment_rows: u64,
    pub wal_bytes_written: u64,
    pub wal_fsyncs: u64,
    pub wal_fsync_seconds_total: f64,
    pub wal_fsync_seconds_max: f64,
    pub flushes: u64,
    pub compactions: u64,
    pub segments_deleted: u64,
    /// Segments found unreadable and moved aside (`quarantine/...` paths).
    pub quarantined: Vec<String>,
    /// The process's memory budget (shared by every store): bytes held, and the limit (`None`:
    /// unlimited).
    pub memory_used_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    /// Resident memory beyond what is held, charged to the budget too (0 where not sampled).
    pub memory_outside_bytes: u64,
    /// Per table: rows, and time range of all data.
    pub tables: BTreeMap<String, TableStats>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TableStats {
    pub rows: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

#[derive(Default)]
struct State {
    /// Durable batches not yet in segments, by table, with their log sequence numbers.
    head: BTreeMap<Table, Vec<(u64, RecordBatch)>>,
    /// Batches being flushed: still visible until their segment is.
    frozen: BTreeMap<Table, Vec<(u64, RecordBatch)>>,
    head_bytes: usize,
    /// When the oldest batch of the head arrived.
    head_since: Option<Instant>,
    /// Highest sequence number applied to the head.
    applied_seq: u64,
    segments: Vec<SegmentMeta>,
    /// Segments moved aside as unreadable (`quarantine`), by their new path.
    quarantined: Vec<String>,
}

struct Inner {
    cfg: StoreConfig,
    objects: Arc<dyn ObjectStore>,
    node: String,
    state: RwLock<State>,
    wal: Wal,
    /// One flush or compaction at a time.
    maintenance: tokio::sync::Mutex<()>,
    flush_wanted: tokio::sync::Notify,
    flushes: AtomicU64,
    compactions: AtomicU64,
    deleted: AtomicU64,
    _lock: std::fs::File,
    seq_counter: AtomicU64,
    /// Scans running, and segments waiting for them to end before deletion (`readers`).
    readers: Arc<readers::Readers>,
    /// Parsed Parquet footers by segment id, so a lookup does not re-read them.
    footers: RwLock<std::collections::HashMap<String, Arc<ParquetMetaData>>>,
    /// Trace-id bloom filters of row groups, so a lookup does not re-read them either.
    blooms: bloom_cache::BloomCache,
}

use wal::Wal;

impl Drop for Inner {
    fn drop(&mut self) {
        // What the head held leaves with it.
        self.cfg.memory.sub_head(self.state.read().head_bytes);
    }
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn wal_error(f: wal::WalFailure) -> StoreError {
    if f.storage_full {
        StoreError::StorageFull(f.message)
    } else {
        StoreError::Wal(f.message)
    }
}

fn encode_ipc(batch: &RecordBatch) -> Result<Vec<u8>, StoreError> {
    let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    Ok(w.into_inner()?)
}

fn decode_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>, StoreError> {
    let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(r.collect::<Result<Vec<_>, _>>()?)
}

fn node_id(dir: &Path) -> Result<String, StoreError> {
    let path = dir.join("node-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    let id = format!("{:016x}", rand_u64());
    std::fs::write(&path, &id).map_err(|e| StoreError::io(&path, e))?;
    Ok(id)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl Store {
    /// Opens (or creates) the store in `cfg.data_dir`: loads the segment list, replays the
    /// write-ahead log into the head, and starts the log writer.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let dir = cfg.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
        }
        let objects: Arc<dyn ObjectStore> = match &cfg.object_store {
            Some(o) => o.clone(),
            None => {
                let seg = dir.join("segments");
                std::fs::create_dir_all(&seg).map_err(|e| StoreError::io(&seg, e))?;
                quarantine::remove_staging_files(&seg);
                Arc::new(LocalFileSystem::new_with_prefix(&seg)?)
            }
        };
        let node = node_id(&dir)?;
        let (listed, unreadable) = list_segments(&objects, cfg.shared).await?;
        let mut quarantined = Vec::new();
        for path in unreadable {
            match quarantine::move_aside(&objects, &path).await {
                Ok(to) => {
                    tracing::error!(segment = %path, moved_to = %to, "quarantined an unreadable segment");
                    quarantined.push(to.to_string());
                }
                Err(e) => {
                    tracing::error!(segment = %path, error = %e, "unreadable segment could not be moved aside")
                }
            }
        }
        let footers = listed.iter().map(|(m, f)| (m.id.clone(), f.clone())).collect();
        let segments: Vec<SegmentMeta> = listed.into_iter().map(|(m, _)| m).collect();
        // Per table, the log sequence number this node's segments cover.
        let mut through: BTreeMap<Table, u64> = BTreeMap::new();
        for s in &segments {
            if let Some(seq) = s.wal_through.get(&node) {
                let e = through.entry(s.table).or_default();
                *e = (*e).max(*seq);
            }
        }
        let mut state = State { segments, quarantined, ..State::default() };
        let wal_dir = dir.join("wal");
        let mut replayed = 0u64;
        let mut bad = None;
        let next_seq = wal::replay(&wal_dir, |rec| {
            if rec.seq <= through.get(&rec.table).copied().unwrap_or(0) {
                return;
            }
            match decode_ipc(&rec.payload) {
                Ok(batches) => {
                    for b in batches {
                        state.head_bytes += b.get_array_memory_size();
                        cfg.memory.add_head(b.get_array_memory_size());
                        state.head.entry(rec.table).or_default().push((rec.seq, b));
                        replayed += 1;
                    }
                }
                Err(e) => bad = Some(e),
            }
            state.applied_seq = rec.seq;
        })?;
        if let Some(e) = bad {
            return Err(StoreError::Corrupt(format!("write-ahead log record does not decode: {e}")));
        }
        let max_through = through.values().copied().max().unwrap_or(0);
        let next_seq = next_seq.max(max_through + 1);
        state.applied_seq = state.applied_seq.max(next_seq - 1);
        if replayed > 0 {
            state.head_since = Some(Instant::now());
            tracing::info!(batches = replayed, "replayed the write-ahead log");
        }
        let wal = Wal::start(wal_dir, next_seq, cfg.wal_file_bytes)?;
        Ok(Store {
            inner: Arc::new(Inner {
                cfg,
                objects,
                node,
                state: RwLock::new(state),
                wal,
                maintenance: tokio::sync::Mutex::new(()),
                flush_wanted: tokio::sync::Notify::new(),
                flushes: AtomicU64::new(0),
                compactions: AtomicU64::new(0),
                deleted: AtomicU64::new(0),
                _lock: lock,
                seq_counter: AtomicU64::new(0),
                footers: RwLock::new(footers),
                blooms: bloom_cache::BloomCache::default(),
                readers: Arc::default(),
            }),
        })
    }

    /// This node's id (names its log positions in segments, and its rows to peers).
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// The head's batches of `ask.table` with rows in its time range and trace (a peer's
    /// question), each with its log sequence number.
    pub fn head_rows(&self, ask: &peers::HeadAsk) -> Result<Vec<(u64, RecordBatch)>, StoreError> {
        let mut scan = Scan::new(ask.table);
        scan.time = ask.time;
        scan.trace_id = ask.trace_id.map(TraceId);
        let filter = scan.full_filter();
        let st = self.inner.state.read();
        let mut out = Vec::new();
        for (seq, b) in st.head.get(&ask.table).into_iter().chain(st.frozen.get(&ask.table)).flatten() {
            let mask = filter.evaluate(b)?;
            if mask.true_count() > 0 {
                out.push((*seq, filter_record_batch(b, &mask)?));
            }
        }
        Ok(out)
    }

    /// The peers' unflushed batches of the scan's table; when a peer flushed rows this node's list
    /// does not hold yet, the list is read again first.
    async fn peer_batches(&self, scan: &Scan) -> Vec<peers::PeerBatch> {
        let Some(p) = self.inner.cfg.peers.clone() else { return Vec::new() };
        let ask = peers::HeadAsk { table: scan.table, time: scan.time, trace_id: scan.trace_id.map(|t| t.0) };
        let rows = p.fetch(self.inner.cfg.tenant.clone(), ask).await;
        peers::note_unreachable(&rows.unreachable);
        let through = self.segments_through(scan.table);
        let behind = rows.flushed_through.iter().any(|(n, f)| through.get(n).copied().unwrap_or(0) < *f);
        if behind && self.inner.cfg.shared {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not read the segment list again");
            }
        }
        rows.batches
    }

    /// `head` with the peers' batches that no listed segment holds yet (by the log position
    /// segments record per node), and none of this node's own.
    fn unflushed(
        &self,
        mut head: Vec<RecordBatch>,
        peer: Vec<peers::PeerBatch>,
        through: &BTreeMap<String, u64>,
    ) -> Vec<RecordBatch> {
        head.extend(
            peer.into_iter()
                .filter(|b| b.node != self.inner.node && b.seq > through.get(&b.node).copied().unwrap_or(0))
                .map(|b| b.batch),
        );
        head
    }

    /// Per node, the log sequence number up to which the listed segments of `table` hold its rows.
    pub fn segments_through(&self, table: Table) -> BTreeMap<String, u64> {
        through_of(self.inner.state.read().segments.iter().filter(|s| s.table == table))
    }

    /// Bloom filters read from storage so far (a repeated trace lookup reads none).
    pub fn bloom_filters_read(&self) -> u64 {
        self.inner.blooms.fetched()
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.cfg
    }

    /// Appends a batch of a table; resolves once it is durable and visible to scans.
    pub async fn append(&self, table: Table, batch: RecordBatch) -> Result<u64, StoreError> {
        let rx = self.append_inner(table, batch)?;
        match rx.await {
            Ok(r) => r.map_err(wal_error),
            Err(_) => Err(StoreError::Wal("the log writer stopped".into())),
        }
    }

    /// [`Store::append`] for callers outside an async context.
    pub fn append_blocking(&self, table: Table, batch: RecordBatch) -> Result<u64, StoreError> {
        let rx = self.append_inner(table, batch)?;
        match rx.blocking_recv() {
            Ok(r) => r.map_err(wal_error),
            Err(_) => Err(StoreError::Wal("the log writer stopped".into())),
        }
    }

    fn append_inner(
        &self,
        table: Table,
        batch: RecordBatch,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<u64, wal::WalFailure>>, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if batch.num_rows() == 0 {
            let _ = tx.send(Ok(0));
            return Ok(rx);
        }
        let held = self.inner.state.read().head_bytes;
        let memory = &self.inner.cfg.memory;
        if memory.spent() {
            self.inner.flush_wanted.notify_one();
            return Err(StoreError::Overloaded {
                held_mib: (memory.used() >> 20) as u64,
                limit_mib: (memory.limit() >> 20) as u64,
            });
        }
        if held > self.inner.cfg.max_head_bytes {
            self.inner.flush_wanted.notify_one();
            return Err(StoreError::Overloaded {
                held_mib: (held >> 20) as u64,
                limit_mib: (self.inner.cfg.max_head_bytes >> 20) as u64,
            });
        }
        if batch.schema().fields() != table.schema().fields() {
            return Err(StoreError::Corrupt(format!(
                "batch does not have the schema of table {}",
                table.name()
            )));
        }
        let payload = encode_ipc(&batch)?;
        let weak = Arc::downgrade(&self.inner);
        self.inner.wal.append(table, payload, move |r| {
            // Runs on the log thread, in sequence order, once durable. A weak reference: the log
            // thread must never hold the last reference to the store it belongs to.
            if let (Ok(seq), Some(inner)) = (&r, weak.upgrade()) {
                let seq = *seq;
                let size = batch.get_array_memory_size();
                let mut st = inner.state.write();
                st.head.entry(table).or_default().push((seq, batch));
                st.head_bytes += size;
                inner.cfg.memory.add_head(size);
                st.applied_seq = seq;
                st.head_since.get_or_insert_with(Instant::now);
                if st.head_bytes >= inner.cfg.flush_bytes {
                    inner.flush_wanted.notify_one();
                }
            }
            let _ = tx.send(r);
        });
        Ok(rx)
    }

    /// Scans a table: matching rows of segments and head, projected.
    pub async fn scan(&self, scan: &Scan) -> Result<Vec<RecordBatch>, StoreError> {
        let mut out = Vec::new();
        self.scan_each(scan, |b| {
            budget::charge(b.get_array_memory_size())?;
            out.push(b);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Scans a table, handing each batch of matching rows to `f` as it is read rather than
    /// holding them all: queries that keep a page of the rows stay within a page's memory. An
    /// error from `f` ends the scan. Dropping the future stops it between segments.
    pub async fn scan_each(
        &self,
        scan: &Scan,
        mut f: impl FnMut(RecordBatch) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let filter = scan.full_filter();
        // The peers first: a refresh they call for must come before the snapshot.
        let peer_batches = self.peer_batches(scan).await;
        let (segments, head, _reading) = {
            let st = self.inner.state.read();
            let reading = self.inner.readers.enter();
            let segs: Vec<SegmentMeta> = st
                .segments
                .iter()
                .filter(|s| s.table == scan.table)
                .filter(|s| match scan.time {
                    Some((from, to)) => s.max_time >= from && s.min_time < to,
                    None => true,
                })
                .cloned()
                .collect();
            let head: Vec<RecordBatch> = st
                .head
                .get(&scan.table)
                .into_iter()
                .chain(st.frozen.get(&scan.table))
                .flatten()
                .map(|(_, b)| b.clone())
                .collect();
            // Under the same lock as the list scanned: peer rows it holds are dropped by it.
            let through = if peer_batches.is_empty() {
                Default::default()
            } else {
                through_of(st.segments.iter().filter(|s| s.table == scan.table))
            };
            (segs, self.unflushed(head, peer_batches, &through), reading)
        };
        let seg_scan = Arc::new(SegmentScan {
            columns: scan.columns.clone(),
            filter: filter.clone(),
            trace_id: scan.trace_id.map(|t| t.0),
        });
        let mut results = futures::stream::iter(segments.into_iter().map(|m| {
            let (store, seg_scan) = (self.clone(), seg_scan.clone());
            async move {
                let r = store.scan_one(&m, &seg_scan).await;
                (m, r)
            }
        }))
        .buffered(SEGMENTS_READ_AT_ONCE);
        while let Some((m, r)) = results.next().await {
            match r {
                Ok(batches) => batches.into_iter().try_for_each(&mut f)?,
                // A segment retention deleted since the snapshot: its rows are gone. (Compaction's
                // inputs wait for this scan to end: `readers`.)
                Err(e) if e.is_not_found() => {}
                Err(e) if quarantine::may_be_corrupt(&e) && self.quarantine_if_corrupt(&m).await => {}
                Err(e) => return Err(e),
            }
        }
        for b in head {
            let mask = filter.evaluate(&b)?;
            if mask.true_count() == 0 {
                continue;
            }
            let b = if mask.true_count() == b.num_rows() { b } else { filter_record_batch(&b, &mask)? };
            let b = match &scan.columns {
                Some(cols) => {
                    let idx: Vec<usize> = cols.iter().filter_map(|c| b.schema().index_of(c).ok()).collect();
                    b.project(&idx)?
                }
                None => b,
            };
            f(b)?;
        }
        Ok(())
    }

    /// Moves `m` aside if a full read of it fails too; whether it did.
    async fn quarantine_if_corrupt(&self, m: &SegmentMeta) -> bool {
        if !quarantine::fails_full_read(&self.inner.objects, m).await {
            return false;
        }
        let _guard = self.inner.maintenance.lock().await;
        let moved = match quarantine::move_aside(&self.inner.objects, &m.path()).await {
            Ok(to) => to.to_string(),
            Err(e) => {
                tracing::error!(segment = %m.id, error = %e, "corrupt segment could not be moved aside");
                return false;
            }
        };
        tracing::error!(segment = %m.id, moved_to = %moved, "quarantined a corrupt segment");
        let mut st = self.inner.state.write();
        st.segments.retain(|s| s.id != m.id);
        st.quarantined.push(moved);
        self.inner.footers.write().remove(&m.id);
        true
    }

    async fn footer(&self, m: &SegmentMeta) -> Result<Arc<ParquetMetaData>, StoreError> {
        if let Some(f) = self.inner.footers.read().get(&m.id) {
            return Ok(f.clone());
        }
        let (_, f) = segment::read_meta(&self.inner.objects, &m.path(), m.size).await?;
        self.inner.footers.write().insert(m.id.clone(), f.clone());
        Ok(f)
    }

    async fn scan_one(&self, m: &SegmentMeta, scan: &SegmentScan) -> Result<Vec<RecordBatch>, StoreError> {
        let footer = self.footer(m).await?;
        segment::scan_segment(&self.inner.objects, m, Some(footer), &self.inner.blooms, scan).await
    }

    /// All spans of a trace, each once.
    pub async fn trace(&self, trace_id: TraceId) -> Result<Vec<RecordBatch>, StoreError> {
        let scan = Scan { trace_id: Some(trace_id), ..Scan::new(Table::Spans) };
        let batches = self.scan(&scan).await?;
        dedup_spans(batches)
    }

    /// Flushes the head into segments now.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _guard = self.inner.maintenance.lock().await;
        self.flush_locked().await
    }

    async fn flush_locked(&self) -> Result<(), StoreError> {
        let (frozen, through) = {
            let mut st = self.inner.state.write();
            if st.head.values().all(|v| v.is_empty()) {
                return Ok(());
            }
            let head = std::mem::take(&mut st.head);
            st.frozen = head.clone();
            st.head_since = None;
            (head, st.applied_seq)
        };
        let frozen_bytes: usize = frozen.values().flatten().map(|(_, b)| b.get_array_memory_size()).sum();
        let _writing = self.inner.cfg.memory.hold(frozen_bytes / FLUSH_WORK_DIVISOR);
        let mut written = Vec::new();
        for (table, batches) in &frozen {
            if batches.is_empty() {
                continue;
            }
            let meta = self.new_meta(*table, 0, BTreeMap::from([(self.inner.node.clone(), through)]), vec![]);
            let bs: Vec<RecordBatch> = batches.iter().map(|(_, b)| b.clone()).collect();
            match segment::write_segment(&self.inner.objects, *table, &bs, meta).await {
                Ok(m) => written.push(m),
                Err(e) => {
                    // Put the frozen batches back: they stay durable in the log and visible.
                    let mut st = self.inner.state.write();
                    let frozen = std::mem::take(&mut st.frozen);
                    for (t, mut v) in frozen {
                        if written.iter().any(|m: &SegmentMeta| m.table == t) {
                            continue;
                        }
                        let e = st.head.entry(t).or_default();
                        v.append(e);
                        *e = v;
                    }
                    st.segments.extend(written);
                    return Err(e);
                }
            }
        }
        {
            let mut st = self.inner.state.write();
            st.frozen.clear();
            st.segments.extend(written);
            let before = st.head_bytes;
            st.head_bytes = st.head.values().flatten().map(|(_, b)| b.get_array_memory_size()).sum();
            self.inner.cfg.memory.sub_head(before.saturating_sub(st.head_bytes));
        }
        self.inner.wal.truncate_through(through);
        self.inner.flushes.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(through, "flushed the head to segments");
        Ok(())
    }

    fn new_meta(
        &self,
        table: Table,
        level: u32,
        wal_through: BTreeMap<String, u64>,
        replaces: Vec<String>,
    ) -> SegmentMeta {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let n = self.inner.seq_counter.fetch_add(1, Ordering::Relaxed);
        SegmentMeta {
            id: format!("{:020}-{}-{n:06}", now.as_nanos() / 1000, self.inner.node),
            table,
            rows: 0,
            min_time: 0,
            max_time: 0,
            level,
            wal_through,
            replaces,
            created: now.as_nanos() as i64,
            size: 0,
        }
    }

    /// Merges small segments of the same table and time bucket. Returns how many were merged.
    pub async fn compact(&self) -> Result<usize, StoreError> {
        let _guard = self.inner.maintenance.lock().await;
        if !self.may_maintain().await? {
            return Ok(0);
        }
        let bucket_ns = self.inner.cfg.compact_bucket.as_nanos().max(1) as i64;
        let target = self.inner.cfg.compact_target_rows;
        let groups: Vec<Vec<SegmentMeta>> = {
            let st = self.inner.state.read();
            let mut by: BTreeMap<(Table, i64), Vec<SegmentMeta>> = BTreeMap::new();
            for s in &st.segments {
                if s.rows < target / 2 {
                    by.entry((s.table, s.min_time.div_euclid(bucket_ns))).or_default().push(s.clone());
                }
            }
            by.into_values()
                .filter(|v| v.len() >= self.inner.cfg.compact_min_segments)
                .map(|mut v| {
                    v.sort_by(|a, b| a.id.cmp(&b.id));
                    let mut rows = 0;
                    v.into_iter()
                        .take_while(|s| {
                            rows += s.rows;
                            rows <= target
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|v| v.len() >= 2)
                .collect()
        };
        let mut merged = 0;
        for group in groups {
            let Some((group, _held)) = self.fit_in_memory(group).await? else {
                continue;
            };
            let table = group[0].table;
            let scan = SegmentScan { columns: None, filter: Expr::True, trace_id: None };
            let mut batches = Vec::new();
            for m in &group {
                batches.extend(self.scan_one(m, &scan).await?);
            }
            if table == Table::Spans {
                batches = dedup_spans(batches)?;
            }
            let through = through_of(&group);
            let level = group.iter().map(|m| m.level).max().unwrap_or(0) + 1;
            let ids: Vec<String> = group.iter().map(|m| m.id.clone()).collect();
            let mut meta = self.new_meta(table, level, through, ids.clone());
            meta.created = group.iter().map(|m| m.created).min().unwrap_or(meta.created);
            let new = segment::write_segment(&self.inner.objects, table, &batches, meta).await?;
            {
                let mut st = self.inner.state.write();
                st.segments.retain(|s| !ids.contains(&s.id));
                st.segments.push(new);
                self.inner.readers.retire(group.iter().cloned());
            }
            merged += group.len();
            self.inner.compactions.fetch_add(1, Ordering::Relaxed);
        }
        self.reap().await;
        Ok(merged)
    }

    /// The first segments of a compaction group whose rows fit in the part of the memory budget
    /// compaction may use, and that memory, held; `None` when fewer than two fit or the budget
    /// is spent now (the group waits for a later round).
    async fn fit_in_memory(
        &self,
        group: Vec<SegmentMeta>,
    ) -> Result<Option<(Vec<SegmentMeta>, memory::Held)>, StoreError> {
        let memory = &self.inner.cfg.memory;
        let cap = memory.limit() / COMPACT_SHARE_DIVISOR;
        let (mut fit, mut bytes) = (Vec::new(), 0usize);
        for m in group {
            let footer = self.footer(&m).await?;
            let decoded: i64 = footer.row_groups().iter().map(|rg| rg.total_byte_size()).sum();
            if bytes + decoded as usize > cap && fit.len() >= 2 {
                break;
            }
            bytes += decoded as usize;
            fit.push(m);
        }
        if fit.len() < 2 || bytes > cap {
            return Ok(None);
        }
        Ok(memory.try_take(bytes).map(|held| (fit, held)))
    }

    /// Deletes the retired segments no running scan may read.
    async fn reap(&self) {
        for m in self.inner.readers.reapable(self.delete_grace()) {
            self.delete_segment(&m).await;
        }
    }

    async fn delete_segment(&self, m: &SegmentMeta) {
        self.inner.footers.write().remove(&m.id);
        match self.inner.objects.delete(&m.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.inner.deleted.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(segment = %m.id, error = %e, "could not delete a segment"),
        }
    }

    /// Applies retention by age and by size. Returns how many segments were dropped.
    pub async fn apply_retention(&self, now_ns: i64) -> Result<usize, StoreError> {
        let _guard = self.inner.maintenance.lock().await;
        if !self.may_maintain().await? {
            self.reap().await;
            return Ok(0);
        }
        let doomed: usize = {
            let mut st = self.inner.state.write();
            let mut doomed = Vec::new();
            if let Some(ret) = self.inner.cfg.retention {
                let cutoff = now_ns - ret.as_nanos() as i64;
                let (old, keep): (Vec<_>, Vec<_>) = st.segments.drain(..).partition(|s| s.created < cutoff);
                st.segments = keep;
                doomed.extend(old);
            }
            if let Some(max) = self.inner.cfg.max_bytes {
                st.segments.sort_by_key(|s| s.created);
                let mut total: u64 = st.segments.iter().map(|s| s.size).sum();
                while total > max && !st.segments.is_empty() {
                    let s = st.segments.remove(0);
                    total -= s.size;
                    doomed.push(s);
                }
            }
            self.inner.readers.retire(doomed.iter().cloned());
            doomed.len()
        };
        self.reap().await;
        Ok(doomed)
    }

    /// Runs flushes, compaction and retention in the background until the store is dropped.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let (period, compact_every) = weak
                .upgrade()
                .map(|i| {
                    let refresh = if i.cfg.shared { i.cfg.refresh_interval } else { Duration::MAX };
                    (i.cfg.flush_interval.min(i.cfg.compact_interval).min(refresh), i.cfg.compact_interval)
                })
                .unwrap_or_default();
            let mut tick =
                tokio::time::interval(period.clamp(Duration::from_millis(100), Duration::from_secs(5)));
            // None: compact at the first tick, so what piled up before a restart is merged.
            let mut last_maint: Option<Instant> = None;
            let mut last_refresh = Instant::now();
            loop {
                let notified = {
                    let Some(inner) = weak.upgrade() else { return };
                    let n = async move { inner.flush_wanted.notified().await };
                    tokio::select! {
                        _ = n => true,
                        _ = tick.tick() => false,
                    }
                };
                let Some(inner) = weak.upgrade() else { return };
                let store = Store { inner };
                let due = {
                    let st = store.inner.state.read();
                    notified
                        || st.head_bytes >= store.inner.cfg.flush_bytes
                        || st.head_since.is_some_and(|t| t.elapsed() >= store.inner.cfg.flush_interval)
                };
                if store.inner.cfg.shared && last_refresh.elapsed() >= store.inner.cfg.refresh_interval {
                    last_refresh = Instant::now();
                    if let Err(e) = store.refresh().await {
                        tracing::warn!(error = %e, "could not read the segment list again; keeping the last one");
                    }
                }
                if due {
                    if let Err(e) = store.flush().await {
                        tracing::error!(error = %e, "flush failed; the data stays in the write-ahead log");
                    }
                }
                if last_maint.is_none_or(|t| t.elapsed() >= compact_every) {
                    last_maint = Some(Instant::now());
                    if let Err(e) = store.compact().await {
                        tracing::error!(error = %e, "compaction failed");
                    }
                    if let Err(e) = store.apply_retention(faultline_model::time::now_ns()).await {
                        tracing::error!(error = %e, "retention failed");
                    }
                }
            }
        })
    }

    /// Figures about the store.
    pub fn stats(&self) -> StoreStats {
        let st = self.inner.state.read();
        let w = self.inner.wal.stats();
        let mut tables: BTreeMap<String, TableStats> = BTreeMap::new();
        for s in &st.segments {
            let t = tables.entry(s.table.name().to_string()).or_default();
            t.rows += s.rows;
            t.min_time = Some(t.min_time.map_or(s.min_time, |m| m.min(s.min_time)));
            t.max_time = Some(t.max_time.map_or(s.max_time, |m| m.max(s.max_time)));
        }
        let mut head_rows = 0;
        for (table, batches) in st.head.iter().chain(st.frozen.iter()) {
            let t = tables.entry(table.name().to_string()).or_default();
            for (_, b) in batches {
                head_rows += b.num_rows() as u64;
                t.rows += b.num_rows() as u64;
                if let Some((min, max)) = segment::time_range(*table, b) {
                    t.min_time = Some(t.min_time.map_or(min, |m| m.min(min)));
                    t.max_time = Some(t.max_time.map_or(max, |m| m.max(max)));
                }
            }
        }
        StoreStats {
            head_rows,
            head_bytes: st.head_bytes as u64,
            segments: st.segments.len() as u64,
            segment_bytes: st.segments.iter().map(|s| s.size).sum(),
            segment_rows: st.segments.iter().map(|s| s.rows).sum(),
            wal_bytes_written: w.bytes_written,
            wal_fsyncs: w.fsyncs,
            wal_fsync_seconds_total: w.fsync_seconds_total,
            wal_fsync_seconds_max: w.fsync_seconds_max,
            flushes: self.inner.flushes.load(Ordering::Relaxed),
            compactions: self.inner.compactions.load(Ordering::Relaxed),
            segments_deleted: self.inner.deleted.load(Ordering::Relaxed),
            quarantined: st.quarantined.clone(),
            memory_used_bytes: self.inner.cfg.memory.used() as u64,
            memory_outside_bytes: self.inner.cfg.memory.outside() as u64,
            memory_limit_bytes: Some(self.inner.cfg.memory.limit() as u64)
                .filter(|l| *l != usize::MAX as u64),
            tables,
        }
    }

    /// The segments currently visible.
    pub fn segments(&self) -> Vec<SegmentMeta> {
        self.inner.state.read().segments.clone()
    }
}

/// Keeps the first row of each (trace id, span id): a client that retried a write whose
/// acknowledgement it never saw must not see its spans twice.
pub fn dedup_spans(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StoreError> {
    use arrow::array::{AsArray, BooleanArray};
    let mut seen: HashSet<[u8; 24]> = HashSet::new();
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let (Some(t), Some(s)) = (b.column_by_name("trace_id"), b.column_by_name("span_id")) else {
            out.push(b);
            continue;
        };
        let (t, s) = (t.as_fixed_size_binary(), s.as_fixed_size_binary());
        let mask: BooleanArray = (0..b.num_rows())
            .map(|i| {
                let mut k = [0u8; 24];
                k[..16].copy_from_slice(t.value(i));
                k[16..].copy_from_slice(s.value(i));
                Some(seen.insert(k))
            })
            .collect();
        out.push(if mask.true_count() == b.num_rows() { b } else { filter_record_batch(&b, &mask)? });
    }
    Ok(out)
}

/// Per node, the log sequence number up to which `segments` hold its rows (the most any of them
/// records): what a merged segment records, and what a scan drops of a peer's head.
fn through_of<'a>(segments: impl IntoIterator<Item = &'a SegmentMeta>) -> BTreeMap<String, u64> {
    let mut through = BTreeMap::new();
    for s in segments {
        for (node, seq) in &s.wal_through {
            let e = through.entry(node.clone()).or_insert(0);
            *e = (*e).max(*seq);
        }
    }
    through
}

/// The live segments with their footers, and the segments whose footer does not read.
type Listed = (Vec<(SegmentMeta, Arc<ParquetMetaData>)>, Vec<ObjPath>);

/// Footers read at once when listing the bucket: enough to hide an object store's latency, few
/// enough not to flood it.
const FOOTER_READS_AT_ONCE: usize = 8;

/// Every segment file in the bucket, table by table.
async fn segment_objects(
    objects: &Arc<dyn ObjectStore>,
) -> Result<Vec<object_store::ObjectMeta>, StoreError> {
    let mut found = Vec::new();
    for table in Table::ALL {
        let mut list = objects.list(Some(&ObjPath::from(table.name())));
        while let Some(obj) = list.next().await {
            let obj = obj?;
            if obj.location.extension() == Some("parquet") {
                found.push(obj);
            }
        }
    }
    Ok(found)
}

/// The footers of `found`, read `FOOTER_READS_AT_ONCE` at a time, each with its path.
async fn read_footers(
    objects: &Arc<dyn ObjectStore>,
    found: Vec<object_store::ObjectMeta>,
) -> Vec<(ObjPath, Result<(SegmentMeta, Arc<ParquetMetaData>), StoreError>)> {
    futures::stream::iter(found.into_iter().map(|o| {
        let objects = objects.clone();
        async move { (o.location.clone(), segment::read_meta(&objects, &o.location, o.size).await) }
    }))
    .buffer_unordered(FOOTER_READS_AT_ONCE)
    .collect()
    .await
}

async fn list_segments(objects: &Arc<dyn ObjectStore>, shared: bool) -> Result<Listed, StoreError> {
    let mut metas = Vec::new();
    let mut unreadable = Vec::new();
    let found = segment_objects(objects).await?;
    for (path, r) in read_footers(objects, found).await {
        match r {
            Ok(m) => metas.push(m),
            Err(e) if quarantine::may_be_corrupt(&e) => {
                tracing::warn!(segment = %path, error = %e, "unreadable segment");
                unreadable.push(path);
            }
            Err(e) => return Err(e),
        }
    }
    // Segments replaced by a compacted one are garbage (a crash between writing it and deleting
    // them). Alone, they go at once; other nodes may still read them until the grace has passed.
    let (live, garbage) = shared::live_set(metas);
    let now = faultline_model::time::now_ns();
    for (g, _) in garbage {
        if !shared || shared::garbage_may_go(shared::written_at_ns(&g.id), shared::DELETE_GRACE, now) {
            let _ = objects.delete(&g.path()).await;
        }
    }
    Ok((live, unreadable))
}

#[cfg(test)]
mod tests;

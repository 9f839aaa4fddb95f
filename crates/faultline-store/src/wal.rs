//! The write-ahead log: a batch is acknowledged only once it is on disk (fsync), with group commit
//! so that many concurrent writers share one fsync.
//!
//! Files are `wal/<first seq, 20 digits>.wal`; each record is
//! `[len: u32 LE][crc32 of the rest: u32 LE][seq: u64 LE][table: u8][payload: len - 9 bytes]`.
//! The payload is one Arrow IPC stream holding one record batch. Replay stops at the first torn or
//! corrupt record of the last file (a crash mid-write) and truncates it away; such a record was never
//! acknowledged.

use crate::StoreError;
use faultline_model::schema::Table;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

const HEADER: usize = 4 + 4 + 8 + 1;
/// Records larger than this are refused (protects replay from a garbage length).
pub const MAX_RECORD: usize = 512 << 20;

/// One replayed record.
pub struct WalRecord {
    pub seq: u64,
    pub table: Table,
    pub payload: Vec<u8>,
}

fn table_code(t: Table) -> u8 {
    match t {
        Table::Spans => 0,
        Table::Logs => 1,
        Table::Metrics => 2,
        Table::Changes => 3,
    }
}

fn table_of(code: u8) -> Option<Table> {
    Some(match code {
        0 => Table::Spans,
        1 => Table::Logs,
        2 => Table::Metrics,
        3 => Table::Changes,
        _ => return None,
    })
}

fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut files = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let e = e.map_err(|e| StoreError::io(dir, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(num) = name.strip_suffix(".wal") {
            if let Ok(seq) = num.parse::<u64>() {
                files.push((seq, e.path()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every intact record of the log in order, truncating a torn tail. Returns the records and
/// the next sequence number.
pub fn replay(dir: &Path, mut f: impl FnMut(WalRecord)) -> Result<u64, StoreError> {
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let files = list_files(dir)?;
    let mut next_seq = files.first().map(|(s, _)| *s).unwrap_or(1);
    let n = files.len();
    for (i, (_, path)) in files.iter().enumerate() {
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut pos: u64 = 0;
        let mut header = [0u8; HEADER];
        let torn = loop {
            if pos == len {
                break false;
            }
            if r.read_exact(&mut header).is_err() {
                break true;
            }
            let rec_len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
            if !(9..=MAX_RECORD).contains(&rec_len) {
                break true;
            }
            let mut payload = vec![0u8; rec_len - 9];
            if r.read_exact(&mut payload).is_err() {
                break true;
            }
            let mut h = crc32fast::Hasher::new();
            h.update(&header[8..]);
            h.update(&payload);
            if h.finalize() != crc {
                break true;
            }
            let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
            let Some(table) = table_of(header[16]) else {
                break true;
            };
            pos += (4 + 4 + rec_len) as u64;
            next_seq = next_seq.max(seq + 1);
            f(WalRecord { seq, table, payload });
        };
        if torn {
            if i + 1 == n {
                tracing::warn!(file = %path.display(), offset = pos, "truncating a torn write-ahead log tail (never acknowledged)");
                let file = OpenOptions::new().write(true).open(path).map_err(|e| StoreError::io(path, e))?;
                file.set_len(pos).map_err(|e| StoreError::io(path, e))?;
                file.sync_all().map_err(|e| StoreError::io(path, e))?;
            } else {
                return Err(StoreError::Corrupt(format!(
                    "write-ahead log file {} is corrupt at offset {pos}, and it is not the last one",
                    path.display()
                )));
            }
        }
    }
    Ok(next_seq)
}

/// Why an append was not made durable: nothing of it is in the log (a partial write is cut back),
/// so the client may send it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalFailure {
    pub message: String,
    /// The disk is full (or over quota): retry once space is freed; nothing is wrong with the log.
    pub storage_full: bool,
}

impl WalFailure {
    fn new(message: impl Into<String>) -> Self {
        WalFailure { message: message.into(), storage_full: false }
    }

    fn of(e: &StoreError) -> Self {
        let storage_full = matches!(e, StoreError::Io { source, .. } if is_storage_full(source));
        WalFailure { message: e.to_string(), storage_full }
    }
}

/// Whether an I/O error says the disk is full or the quota spent.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

type Done = Box<dyn FnOnce(Result<u64, WalFailure>) + Send>;

/// A request to append: the payload, and where to say it is durable.
struct Pending {
    table: Table,
    payload: Vec<u8>,
    done: Done,
}

enum Msg {
    Append(Pending),
    /// Delete files whose records all have seq <= this.
    Truncate(u64),
}

/// Statistics of the log, for `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct WalStats {
    pub bytes_written: u64,
    pub fsyncs: u64,
    pub fsync_seconds_total: f64,
    pub fsync_seconds_max: f64,
    pub records: u64,
}

/// Handle to the log's writer thread.
pub struct Wal {
    tx: mpsc::Sender<Msg>,
    stats: std::sync::Arc<parking_lot::Mutex<WalStats>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Wal {
    /// Starts the writer thread, appending after `next_seq`. The `done` callbacks of appends run on
    /// this thread in sequence order, once their record is durable.
    pub fn start(dir: PathBuf, next_seq: u64, segment_bytes: u64) -> Result<Wal, StoreError> {
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let stats = std::sync::Arc::new(parking_lot::Mutex::new(WalStats::default()));
        let st = stats.clone();
        let mut writer = Writer::open(dir, next_seq, segment_bytes)?;
        let thread = std::thread::Builder::new()
            .name("faultline-wal".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = Vec::new();
                    let mut truncate = None;
                    let mut push = |m: Msg, group: &mut Vec<Pending>| match m {
                        Msg::Append(p) => group.push(p),
                        Msg::Truncate(s) => truncate = Some(s),
                    };
                    push(first, &mut group);
                    // Group commit: everything that queued while the last fsync ran goes together.
                    while let Ok(m) = rx.try_recv() {
                        push(m, &mut group);
                        if group.len() >= 4096 {
                            break;
                        }
                    }
                    if !group.is_empty() {
                        let result = writer.write_group(&group, &st);
                        match result {
                            Ok(first_seq) => {
                                for (i, p) in group.into_iter().enumerate() {
                                    (p.done)(Ok(first_seq + i as u64));
                                }
                            }
                            Err(e) => {
                                let failure = WalFailure::of(&e);
                                if failure.storage_full {
                                    tracing::warn!(error = %e, "disk full: write-ahead log append refused");
                                } else {
                                    tracing::error!(error = %e, "write-ahead log append failed");
                                }
                                for p in group {
                                    (p.done)(Err(failure.clone()));
                                }
                            }
                        }
                    }
                    if let Some(s) = truncate {
                        if let Err(e) = writer.truncate_through(s) {
                            tracing::warn!(error = %e, "could not delete old write-ahead log files");
                        }
                    }
                }
                if let Err(e) = writer.file.sync_all() {
                    tracing::error!(error = %e, "final write-ahead log sync failed");
                }
            })
            .map_err(|e| StoreError::io(Path::new("wal thread"), e))?;
        Ok(Wal { tx, stats, thread: Some(thread) })
    }

    /// Appends a record; `done` is called with its sequence number once it is durable.
    pub fn append(
        &self,
        table: Table,
        payload: Vec<u8>,
        done: impl FnOnce(Result<u64, WalFailure>) + Send + 'static,
    ) {
        let msg = Msg::Append(Pending { table, payload, done: Box::new(done) });
        if let Err(mpsc::SendError(Msg::Append(p))) = self.tx.send(msg) {
            (p.done)(Err(WalFailure::new("the store is shutting down")));
        }
    }

    /// Deletes log files whose records are all at or below `seq` (they are in segments now).
    pub fn truncate_through(&self, seq: u64) {
        let _ = self.tx.send(Msg::Truncate(seq));
    }

    pub fn stats(&self) -> WalStats {
        self.stats.lock().clone()
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    dir: PathBuf,
    file: File,
    file_bytes: u64,
    next_seq: u64,
    segment_bytes: u64,
    buf: Vec<u8>,
}

impl Writer {
    fn open(dir: PathBuf, next_seq: u64, segment_bytes: u64) -> Result<Writer, StoreError> {
        let files = list_files(&dir)?;
        let (file, file_bytes) = match files.last() {
            Some((_, path)) => {
                let mut f =
                    OpenOptions::new().append(true).open(path).map_err(|e| StoreError::io(path, e))?;
                let len = f.seek(SeekFrom::End(0)).map_err(|e| StoreError::io(path, e))?;
                (f, len)
            }
            None => (Self::create(&dir, next_seq)?, 0),
        };
        Ok(Writer { dir, file, file_bytes, next_seq, segment_bytes, buf: Vec::new() })
    }

    fn create(dir: &Path, first_seq: u64) -> Result<File, StoreError> {
        let path = dir.join(file_name(first_seq));
        let f =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| StoreError::io(&path, e))?;
        // Make the new file's name durable too.
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))?;
        Ok(f)
    }

    fn write_group(
        &mut self,
        group: &[Pending],
        stats: &parking_lot::Mutex<WalStats>,
    ) -> Result<u64, StoreError> {
        if self.file_bytes >= self.segment_bytes {
            self.file.sync_all().map_err(|e| StoreError::io(&self.dir, e))?;
            self.file = Self::create(&self.dir, self.next_seq)?;
            self.file_bytes = 0;
        }
        let first = self.next_seq;
        self.buf.clear();
        for (i, p) in group.iter().enumerate() {
            let seq = first + i as u64;
            let len = (9 + p.payload.len()) as u32;
            let mut h = crc32fast::Hasher::new();
            h.update(&seq.to_le_bytes());
            h.update(&[table_code(p.table)]);
            h.update(&p.payload);
            self.buf.extend_from_slice(&len.to_le_bytes());
            self.buf.extend_from_slice(&h.finalize().to_le_bytes());
            self.buf.extend_from_slice(&seq.to_le_bytes());
            self.buf.push(table_code(p.table));
            self.buf.extend_from_slice(&p.payload);
        }
        let t = Instant::now();
        let written = self.file.write_all(&self.buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut back whatever part of the group reached the file (a full disk takes some of a
            // write): the next group must follow the last acknowledged record, or replay would stop
            // at this torn one and lose everything after it.
            if let Err(cut) = self.file.set_len(self.file_bytes).and_then(|()| self.file.sync_all()) {
                tracing::error!(error = %cut, "could not cut a failed write-ahead log append back");
            }
            return Err(StoreError::io(&self.dir, e));
        }
        let secs = t.elapsed().as_secs_f64();
        self.file_bytes += self.buf.len() as u64;
        self.next_seq += group.len() as u64;
        let mut s = stats.lock();
        s.bytes_written += self.buf.len() as u64;
        s.fsyncs += 1;
        s.fsync_seconds_total += secs;
        s.fsync_seconds_max = s.fsync_seconds_max.max(secs);
        s.records += group.len() as u64;
        Ok(first)
    }

    fn truncate_through(&mut self, seq: u64) -> Result<(), StoreError> {
        let files = list_files(&self.dir)?;
        // A file's records end where the next file's begin; the last file stays (it is open).
        for w in files.windows(2) {
            let (_, path) = &w[0];
            let next_first = w[1].0;
            if next_first <= seq + 1 {
                fs::remove_file(path).map_err(|e| StoreError::io(path, e))?;
            }
        }
        if self.file_bytes > 0 && self.next_seq <= seq + 1 {
            // Everything written is in segments: start a fresh file so the old one can go next time.
            self.file.sync_all().map_err(|e| StoreError::io(&self.dir, e))?;
            self.file = Self::create(&self.dir, self.next_seq)?;
            self.file_bytes = 0;
            for (first, path) in list_files(&self.dir)? {
                if first < self.next_seq {
                    fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn full_disks_are_told_apart_from_broken_ones() {
        assert!(is_storage_full(&std::io::Error::from_raw_os_error(28)));
        assert!(is_storage_full(&std::io::Error::from_raw_os_error(122)));
        assert!(!is_storage_full(&std::io::Error::from_raw_os_error(5)));
        assert!(!is_storage_full(&std::io::Error::other("x")));
    }

    fn append_sync(wal: &Wal, table: Table, payload: &[u8]) -> u64 {
        let (tx, rx) = mpsc::channel();
        wal.append(table, payload.to_vec(), move |r| tx.send(r).unwrap());
        rx.recv().unwrap().unwrap()
    }

    #[test]
    fn appends_replay_in_order_and_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        {
            let wal = Wal::start(dir.path().to_path_buf(), 1, 1 << 20).unwrap();
            for i in 0..10u8 {
                let seq = append_sync(&wal, Table::Spans, &[i; 100]);
                seen.lock().unwrap().push(seq);
            }
        }
        assert_eq!(*seen.lock().unwrap(), (1..=10).collect::<Vec<_>>());
        // A torn write: half a record at the end.
        let (_, path) = list_files(dir.path()).unwrap().pop().unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let mut got = Vec::new();
        let next = replay(dir.path(), |r| got.push((r.seq, r.payload[0]))).unwrap();
        assert_eq!(next, 11);
        assert_eq!(got.len(), 10);
        assert_eq!(got[3], (4, 3));
        // The tail was cut: appending again and replaying sees 11 records.
        let wal = Wal::start(dir.path().to_path_buf(), next, 1 << 20).unwrap();
        assert_eq!(append_sync(&wal, Table::Logs, b"x"), 11);
        drop(wal);
        let mut n = 0;
        replay(dir.path(), |_| n += 1).unwrap();
        assert_eq!(n, 11);
    }

    #[test]
    fn truncation_keeps_unflushed_records() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::start(dir.path().to_path_buf(), 1, 200).unwrap();
        for i in 0..20u8 {
            append_sync(&wal, Table::Spans, &[i; 100]);
        }
        wal.truncate_through(15);
        append_sync(&wal, Table::Spans, &[99; 10]);
        drop(wal);
        let mut seqs = Vec::new();
        replay(dir.path(), |r| seqs.push(r.seq)).unwrap();
        assert!(seqs.contains(&16) && seqs.contains(&21), "{seqs:?}");
        assert!(!seqs.contains(&1));
    }
}

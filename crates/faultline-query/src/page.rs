//! Pages of rows in a stable order, with cursors: a read never holds more than a page of whole
//! rows, however many match.
//!
//! Every row has a key: its time and an id (a span's trace and span ids, a change's id, a hash of a
//! log record's source and text, a hash of a metric point's series). A page is read in two passes:
//! the keys of every matching row are streamed through a heap that keeps the page's keys (the key
//! columns alone, never whole rows); then the rows of those keys are read, from the page's time
//! span only. The cursor is the last key of the page; the next page starts strictly after it.

use crate::QueryError;
use arrow::array::RecordBatch;
use faultline_model::schema::{Columns, Table};
use faultline_store::expr::Expr;
use faultline_store::{Scan, Store};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The most rows one page returns: enough for any screen or script loop, few enough that a page
/// is a few megabytes at most.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Which end a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A row's place in the order: its time, then its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub time: i64,
    pub id: Vec<u8>,
}

impl Key {
    /// The cursor's text: opaque to clients, `time.hexid`.
    pub fn cursor(&self) -> String {
        format!("{}.{}", self.time, hex::encode(&self.id))
    }

    pub fn parse_cursor(s: &str) -> Result<Key, QueryError> {
        let bad = || QueryError::Cursor(format!("{s:?} is not a cursor this API returned"));
        let (t, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Key { time: t.parse().map_err(|_| bad())?, id: hex::decode(id).map_err(|_| bad())? })
    }
}

/// The most metric points one page returns: points are small, and a chart of a day at one point a
/// minute over dozens of series needs this many.
pub const MAX_METRIC_PAGE_SIZE: usize = 100_000;

/// Reads a requested page size: `default` when absent; above `max` is an error that says to page
/// with the cursor.
pub fn page_size(asked: Option<&str>, default: usize, max: usize) -> Result<usize, QueryError> {
    let Some(s) = asked.filter(|s| !s.is_empty()) else { return Ok(default) };
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(QueryError::Cursor(format!("limit must be a positive number, got {s:?}"))),
        Ok(n) if n > max => Err(QueryError::Cursor(format!(
            "limit {n} is above the most one page holds ({max}); \
             read further pages with the cursor each page returns in next_cursor"
        ))),
        Ok(n) => Ok(n),
    }
}

/// One page: the rows in order (one batch per read batch, each in order, batches in order).
pub struct Page {
    pub rows: Vec<RecordBatch>,
    /// Rows matching from the cursor on (this page included).
    pub total: usize,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A paged read of `table`: rows matching `filter` in `[from, to)`, after `cursor`, in `order`.
pub struct PageQuery<'a> {
    pub table: Table,
    pub filter: Expr,
    pub from: i64,
    pub to: i64,
    pub limit: usize,
    pub cursor: Option<&'a Key>,
    pub order: Order,
}

impl PageQuery<'_> {
    /// The window narrowed to what lies after the cursor.
    fn window(&self) -> (i64, i64) {
        match (self.cursor, self.order) {
            (None, _) => (self.from, self.to),
            (Some(c), Order::NewestFirst) => (self.from, self.to.min(c.time.saturating_add(1))),
            (Some(c), Order::OldestFirst) => (self.from.max(c.time), self.to),
        }
    }

    fn after_cursor(&self, k: &Key) -> bool {
        match (self.cursor, self.order) {
            (None, _) => true,
            (Some(c), Order::NewestFirst) => k < c,
            (Some(c), Order::OldestFirst) => k > c,
        }
    }

    /// Reads the page.
    pub async fn read(&self, store: &Store) -> Result<Page, QueryError> {
        let (from, to) = self.window();
        if from >= to {
            return Ok(Page { rows: Vec::new(), total: 0, next_cursor: None });
        }
        let (keys, total) = self.page_keys(store, from, to).await?;
        let next_cursor = (total > keys.len()).then(|| keys.last().map(Key::cursor)).flatten();
        let rows = self.rows_of(store, &keys).await?;
        Ok(Page { rows, total, next_cursor })
    }

    /// The page's keys in order, and how many rows match after the cursor.
    async fn page_keys(&self, store: &Store, from: i64, to: i64) -> Result<(Vec<Key>, usize), QueryError> {
        let scan =
            Scan::new(self.table).time(from, to).filter(self.filter.clone()).columns(key_columns(self.table));
        // Keeps the `limit` keys nearest the start of the order: a heap whose top is the farthest.
        let mut near: BinaryHeap<Reverse<Key>> = BinaryHeap::new();
        let mut far: BinaryHeap<Key> = BinaryHeap::new();
        let mut total = 0usize;
        store
            .scan_each(&scan, |b| {
                for k in keys_of(self.table, &b).into_iter().filter(|k| self.after_cursor(k)) {
                    total += 1;
                    match self.order {
                        Order::NewestFirst => {
                            near.push(Reverse(k));
                            if near.len() > self.limit {
                                near.pop();
                            }
                        }
                        Order::OldestFirst => {
                            far.push(k);
                            if far.len() > self.limit {
                                far.pop();
                            }
                        }
                    }
                }
                Ok(())
            })
            .await?;
        let keys = match self.order {
            Order::NewestFirst => {
                let mut v: Vec<Key> = near.into_iter().map(|r| r.0).collect();
                v.sort_unstable_by(|a, b| b.cmp(a));
                v
            }
            Order::OldestFirst => far.into_sorted_vec(),
        };
        Ok((keys, total))
    }

    /// The whole rows of `keys`, in their order.
    async fn rows_of(&self, store: &Store, keys: &[Key]) -> Result<Vec<RecordBatch>, QueryError> {
        let (Some(lo), Some(hi)) = (keys.iter().map(|k| k.time).min(), keys.iter().map(|k| k.time).max())
        else {
            return Ok(Vec::new());
        };
        // How many rows of each key the page holds: a row stored twice shows twice, as it is.
        let mut wanted: HashMap<&Key, usize> = HashMap::with_capacity(keys.len());
        for k in keys {
            *wanted.entry(k).or_default() += 1;
        }
        let scan = Scan::new(self.table).time(lo, hi.saturating_add(1)).filter(self.filter.clone());
        let mut found: Vec<(Key, RecordBatch)> = Vec::with_capacity(keys.len());
        store
            .scan_each(&scan, |b| {
                for (row, k) in keys_of(self.table, &b).into_iter().enumerate() {
                    if let Some(n) = wanted.get_mut(&k).filter(|n| **n > 0) {
                        *n -= 1;
                        found.push((k, b.slice(row, 1)));
                    }
                }
                Ok(())
            })
            .await?;
        found.sort_unstable_by(|a, b| match self.order {
            Order::NewestFirst => b.0.cmp(&a.0),
            Order::OldestFirst => a.0.cmp(&b.0),
        });
        Ok(found.into_iter().map(|(_, b)| b).collect())
    }
}

/// The columns a table's keys are made from.
fn key_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Spans => &["start_time", "trace_id", "span_id"],
        Table::Logs => {
            &["time", "service_name", "service_instance", "body", "trace_id", "span_id", "attributes"]
        }
        Table::Metrics => &["time", "name", "service_name", "service_instance", "attributes"],
        Table::Changes => &["time", "id"],
    }
}

/// Each row's key.
pub fn keys_of(table: Table, b: &RecordBatch) -> Vec<Key> {
    let c = Columns::new(b);
    let time_col = table.time_column();
    (0..b.num_rows())
        .map(|row| {
            let time = c.i64(time_col, row).unwrap_or(0);
            let id = match table {
                Table::Spans => {
                    let mut id = c.fsb("trace_id", row).unwrap_or(&[]).to_vec();
                    id.extend_from_slice(c.fsb("span_id", row).unwrap_or(&[]));
                    id
                }
                Table::Changes => c.str("id", row).unwrap_or("").as_bytes().to_vec(),
                Table::Logs | Table::Metrics => {
                    let mut h = Fnv::default();
                    for col in &key_columns(table)[1..] {
                        h.write(
                            c.str(col, row).map(str::as_bytes).or_else(|| c.fsb(col, row)).unwrap_or(&[]),
                        );
                    }
                    h.0.to_be_bytes().to_vec()
                }
            };
            Key { time, id }
        })
        .collect()
}

/// FNV-1a, 64 bits: a hash that is the same in every process and version, as cursors need.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain([0xffu8].iter()) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_what_they_did_not_make() {
        let k = Key { time: 1_700_000_000_123, id: vec![0xab, 0x01] };
        assert_eq!(Key::parse_cursor(&k.cursor()).unwrap(), k);
        for bad in ["", "123", "x.ab", "12.zz"] {
            assert!(Key::parse_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn page_sizes_are_bounded_with_a_reason() {
        assert_eq!(page_size(None, 100, MAX_PAGE_SIZE).unwrap(), 100);
        assert_eq!(page_size(Some("1000"), 100, MAX_PAGE_SIZE).unwrap(), 1000);
        let e = page_size(Some("100000000"), 100, MAX_PAGE_SIZE).unwrap_err().to_string();
        assert!(e.contains("next_cursor"), "{e}");
        assert!(page_size(Some("0"), 100, MAX_PAGE_SIZE).is_err());
    }
}

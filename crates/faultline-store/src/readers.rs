//! Segments that compaction replaced or retention dropped are deleted only once no scan that may
//! still read them is running: a scan takes its list of segments at one moment, and reads them
//! after, so deleting a replaced segment at once would make a scan that began before the swap miss
//! rows that are now in the merged segment it does not know of.
//!
//! Epochs: each removal from the segment list happens at an epoch and moves the epoch on; a scan
//! notes the epoch of its snapshot. A segment removed at epoch `e` was seen by scans that began at
//! `e` or before, and may go once every such scan has ended. Both steps happen under the store's
//! state lock, so a scan's snapshot and its epoch agree.

use crate::segment::SegmentMeta;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Readers {
    epoch: AtomicU64,
    /// Scans running, by the epoch of their snapshot.
    active: Mutex<BTreeMap<u64, usize>>,
    /// Segments out of the list, not yet deleted, with the epoch and the moment of their removal.
    retired: Mutex<Vec<(u64, Instant, SegmentMeta)>>,
}

/// A running scan; ends when dropped.
pub struct ReadGuard {
    readers: Arc<Readers>,
    epoch: u64,
}

impl Readers {
    /// A scan begins (call while holding the state lock its snapshot is taken under).
    pub fn enter(self: &Arc<Self>) -> ReadGuard {
        let epoch = self.epoch.load(Ordering::SeqCst);
        *self.active.lock().entry(epoch).or_default() += 1;
        ReadGuard { readers: self.clone(), epoch }
    }

    /// `segments` just left the list (call while holding the state write lock).
    pub fn retire(&self, segments: impl IntoIterator<Item = SegmentMeta>) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst);
        let now = Instant::now();
        self.retired.lock().extend(segments.into_iter().map(|s| (epoch, now, s)));
    }

    /// The ids of the segments retired and not yet deleted.
    pub fn retired_ids(&self) -> std::collections::HashSet<String> {
        self.retired.lock().iter().map(|(_, _, s)| s.id.clone()).collect()
    }

    /// The retired segments no running scan can read, retired at least `grace` ago: theirs to
    /// delete now. (`grace` covers the scans of other nodes, which this one cannot see.)
    pub fn reapable(&self, grace: Duration) -> Vec<SegmentMeta> {
        let oldest = self.active.lock().keys().next().copied();
        let mut retired = self.retired.lock();
        let (gone, keep): (Vec<_>, Vec<_>) =
            retired.drain(..).partition(|(e, at, _)| oldest.is_none_or(|o| *e < o) && at.elapsed() >= grace);
        *retired = keep;
        gone.into_iter().map(|(_, _, s)| s).collect()
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        let mut active = self.readers.active.lock();
        if let Some(n) = active.get_mut(&self.epoch) {
            *n -= 1;
            if *n == 0 {
                active.remove(&self.epoch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str) -> SegmentMeta {
        SegmentMeta {
            id: id.into(),
            table: faultline_model::schema::Table::Spans,
            rows: 0,
            min_time: 0,
            max_time: 0,
            level: 0,
            wal_through: Default::default(),
            created: 0,
            replaces: vec![],
            size: 0,
        }
    }

    #[test]
    fn a_segment_outlives_every_scan_that_may_read_it() {
        let r = Arc::new(Readers::default());
        let early = r.enter();
        r.retire([seg("a")]);
        let late = r.enter();
        assert!(r.reapable(Duration::ZERO).is_empty(), "the early scan may still read a");
        drop(early);
        let gone = r.reapable(Duration::ZERO);
        assert_eq!(gone.len(), 1, "the late scan began after a left the list");
        r.retire([seg("b")]);
        assert!(r.reapable(Duration::ZERO).is_empty(), "late began before b left");
        drop(late);
        assert_eq!(r.reapable(Duration::ZERO).len(), 1);
        assert!(r.reapable(Duration::ZERO).is_empty());
    }

    #[test]
    fn with_a_grace_a_segment_waits_for_it_even_with_no_scan_running() {
        let r = Arc::new(Readers::default());
        r.retire([seg("a")]);
        assert!(r.reapable(Duration::from_secs(60)).is_empty(), "other nodes may still read a");
        assert_eq!(r.reapable(Duration::ZERO).len(), 1);
    }
}

//! One memory budget for the whole process (`faultline serve --max-memory`), shared by every
//! tenant's in-memory head, the ingest requests being decoded, and the rows reads hold. Past it,
//! writes are refused retryably (HTTP 503 with `Retry-After`, gRPC `UNAVAILABLE`) and reads
//! wait or are told to retry, so that nothing grows without bound.
//!
//! Reads may hold at most [`QUERY_SHARE`] of the budget between them: ingest is never starved by
//! them. The head is counted when a write is durable (it cannot be refused then); writes are
//! refused *before* they reach the log while the budget is spent.
//!
//! What is counted is an estimate; the process's resident memory is the truth (the program itself,
//! connection buffers, the allocator's pages not yet given back). When the server samples it
//! ([`MemoryBudget::observe_resident`]), the resident memory beyond what is counted is charged too,
//! as ClickHouse corrects its memory tracker with the RSS, so that the process stays under the
//! budget and not only its estimate.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The part of the budget reads may hold at once: half, so that however many searches and
/// investigations run, ingest and the head keep the other half.
pub const QUERY_SHARE: f64 = 0.5;

/// The part of the budget new work may not fill where resident memory is sampled: what is
/// allocated between two samples beyond the counted estimates (a tenth: requests admitted within
/// one sampling interval at the soak's rate hold about that).
pub const UNSAMPLED_SHARE: f64 = 0.1;

#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    query_used: AtomicUsize,
    /// Resident memory beyond `used` at the last sample (0 when never sampled).
    outside: AtomicUsize,
    /// Whether resident memory is sampled at all (by `faultline serve`; not in-process tools).
    sampled: AtomicBool,
}

/// Memory taken from the budget, given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: Arc<MemoryBudget>,
    bytes: usize,
    query: bool,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            query_used: AtomicUsize::new(0),
            outside: AtomicUsize::new(0),
            sampled: AtomicBool::new(false),
        })
    }

    /// A budget that never refuses (tools that run alone: import, tests).
    pub fn unlimited() -> Arc<MemoryBudget> {
        Self::new(usize::MAX)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// What new work may fill: the budget less [`UNSAMPLED_SHARE`] once resident memory is sampled.
    fn admit_limit(&self) -> usize {
        if self.sampled.load(Ordering::Relaxed) {
            self.limit - (self.limit as f64 * UNSAMPLED_SHARE) as usize
        } else {
            self.limit
        }
    }

    /// Resident memory the counting does not see, at the last sample.
    pub fn outside(&self) -> usize {
        self.outside.load(Ordering::Relaxed)
    }

    /// Records a sample of the process's resident memory: what exceeds the counted memory is
    /// charged until the next sample.
    pub fn observe_resident(&self, resident: usize) {
        self.outside.store(resident.saturating_sub(self.used()), Ordering::Relaxed);
        self.sampled.store(true, Ordering::Relaxed);
    }

    /// Whether the budget is spent: new writes wait.
    pub fn spent(&self) -> bool {
        self.used().saturating_add(self.outside()) >= self.limit
    }

    /// Takes `bytes` for work in flight (an ingest request being decoded), if the budget has them.
    pub fn try_take(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.take(bytes, false)
    }

    /// Takes `bytes` for a read, within the reads' share.
    pub fn try_take_query(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.take(bytes, true)
    }

    fn take(self: &Arc<Self>, bytes: usize, query: bool) -> Option<Held> {
        if query {
            let share = (self.limit as f64 * QUERY_SHARE) as usize;
            let q = self.query_used.fetch_add(bytes, Ordering::AcqRel).saturating_add(bytes);
            if q > share {
                self.query_used.fetch_sub(bytes, Ordering::AcqRel);
                return None;
            }
        }
        let total = self.used.fetch_add(bytes, Ordering::AcqRel).saturating_add(bytes);
        if total.saturating_add(self.outside()) > self.admit_limit() {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            if query {
                self.query_used.fetch_sub(bytes, Ordering::AcqRel);
            }
            return None;
        }
        Some(Held { budget: self.clone(), bytes, query })
    }

    /// Holds `bytes` for maintenance that must run to give memory back (a flush writing the head
    /// out): never refused, but counted, so that new writes wait while it runs.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Held {
        self.used.fetch_add(bytes, Ordering::AcqRel);
        Held { budget: self.clone(), bytes, query: false }
    }

    /// Counts head memory that is already held (a durable write); never refused.
    pub fn add_head(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives head memory back (a flush).
    pub fn sub_head(&self, bytes: usize) {
        let _ =
            self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(bytes)));
    }
}

impl Held {
    /// Grows what is held by `bytes`, if the budget has them.
    pub fn grow(&mut self, bytes: usize) -> bool {
        match self.budget.take(bytes, self.query) {
            Some(more) => {
                self.bytes += more.bytes;
                std::mem::forget(more);
                true
            }
            None => false,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
        if self.query {
            self.budget.query_used.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keep_to_their_share_and_ingest_keeps_the_rest() {
        let b = MemoryBudget::new(1000);
        let q = b.try_take_query(500).expect("half is the reads'");
        assert!(b.try_take_query(1).is_none(), "the reads' share is spent");
        let i = b.try_take(500).expect("ingest still has the other half");
        assert!(b.try_take(1).is_none() && b.spent());
        drop(q);
        drop(i);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn the_head_counts_and_gives_back() {
        let b = MemoryBudget::new(100);
        b.add_head(150);
        assert!(b.spent() && b.try_take(1).is_none());
        b.sub_head(150);
        let mut h = b.try_take(60).unwrap();
        assert!(h.grow(40) && !h.grow(1));
        drop(h);
        assert_eq!(b.used(), 0);
        b.sub_head(10);
        assert_eq!(b.used(), 0, "never below zero");
    }

    #[test]
    fn resident_memory_beyond_the_count_is_charged() {
        let b = MemoryBudget::new(100);
        let h = b.try_take(30).unwrap();
        // The process holds 70: 40 more than counted (the program, buffers, the allocator's pages).
        b.observe_resident(70);
        assert_eq!(b.outside(), 40);
        // UNSAMPLED_SHARE: with resident memory sampled, new work fills 90 of the 100.
        assert!(b.try_take(21).is_none(), "30 counted + 40 outside + 21 > 90");
        let more = b.try_take(20).expect("30 + 40 + 20 fit");
        assert!(!b.spent());
        drop((h, more));
        // Resident below the count (the estimate was generous): nothing outside.
        b.observe_resident(10);
        assert_eq!(b.outside(), 10);
        b.add_head(50);
        b.observe_resident(20);
        assert_eq!(b.outside(), 0);
        // Sampled with nothing outside: new work still leaves UNSAMPLED_SHARE free.
        assert!(b.try_take(41).is_none() && b.try_take(40).is_some());
    }
}

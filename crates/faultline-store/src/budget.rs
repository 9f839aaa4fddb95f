//! A read's memory budget: the rows that [`crate::Store::scan`] hands back whole (not the batches
//! [`crate::Store::scan_each`] streams) are charged to the budget of the task that asked, and a
//! read that would hold more stops with [`crate::StoreError::Budget`]. The budget is per read (a
//! server request), set around its future with [`with_budget`]; reads outside one are not charged.
//! The same rows are taken from the server's shared budget (`memory`), within the reads' share;
//! when the reads running hold all of it, a read stops with [`crate::StoreError::MemoryBusy`]
//! (retryable) rather than push ingest out.

use crate::memory::{Held, MemoryBudget};
use crate::StoreError;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Budget {
    limit: usize,
    used: AtomicUsize,
    shared: Option<Arc<MemoryBudget>>,
    /// What this read holds of the shared budget; given back when the read ends.
    held: parking_lot::Mutex<Option<Held>>,
}

tokio::task_local! {
    static BUDGET: Arc<Budget>;
}

/// Runs `f` with a budget of `limit` bytes of rows held, taken from `shared` too when given.
pub async fn with_budget<F: Future>(limit: usize, shared: Option<Arc<MemoryBudget>>, f: F) -> F::Output {
    let b = Budget { limit, used: AtomicUsize::new(0), shared, held: parking_lot::Mutex::new(None) };
    BUDGET.scope(Arc::new(b), f).await
}

fn take_shared(b: &Budget, bytes: usize) -> Result<(), StoreError> {
    let Some(shared) = &b.shared else { return Ok(()) };
    let mut held = b.held.lock();
    let ok = match held.as_mut() {
        Some(h) => h.grow(bytes),
        None => shared.try_take_query(bytes).map(|h| *held = Some(h)).is_some(),
    };
    if ok {
        return Ok(());
    }
    Err(StoreError::MemoryBusy(format!(
        "the reads running now hold their share of the server's memory ({} of {}); retry shortly",
        human_bytes((shared.limit() as f64 * crate::memory::QUERY_SHARE) as usize),
        human_bytes(shared.limit())
    )))
}

/// The current read's budget in bytes, `None` outside one.
pub fn limit() -> Option<usize> {
    BUDGET.try_with(|b| b.limit).ok()
}

/// Charges `bytes` to the current read's budget; an error once it is spent.
pub fn charge(bytes: usize) -> Result<(), StoreError> {
    BUDGET
        .try_with(|b| {
            let used = b.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
            if used <= b.limit {
                return take_shared(b, bytes);
            }
            Err(StoreError::Budget(format!(
                "this read would hold more than its memory budget of {} of rows; narrow the time \
                 window or the filter (or raise faultline serve --query-memory)",
                human_bytes(b.limit)
            )))
        })
        .unwrap_or(Ok(()))
}

/// `2.0 GiB`, `512 MiB`, `1 KiB`, `100 bytes`.
fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_add_up_within_a_read_and_nothing_is_charged_outside_one() {
        assert!(charge(usize::MAX / 2).is_ok());
        let r = with_budget(1000, None, async {
            charge(600)?;
            charge(600)
        })
        .await;
        assert!(matches!(r, Err(StoreError::Budget(m)) if m.contains("memory budget")));
        assert!(with_budget(1000, None, async { charge(1000) }).await.is_ok());
        // The shared budget: a read past the reads' share is told to retry, and gives all back.
        let shared = MemoryBudget::new(1000);
        let r = with_budget(10_000, Some(shared.clone()), async {
            charge(400)?;
            charge(200)
        })
        .await;
        assert!(matches!(r, Err(StoreError::MemoryBusy(_))), "{r:?}");
        assert_eq!(shared.used(), 0);
        assert!(with_budget(10_000, Some(shared.clone()), async { charge(500) }).await.is_ok());
        assert_eq!(human_bytes(2 << 30), "2.0 GiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(1 << 10), "1 KiB");
    }
}

//! A read's memory budget: the rows that [`crate::Store::scan`] hands back whole (not the batches
//! [`crate::Store::scan_each`] streams) are charged to the budget of the task that asked, and a
//! read that would hold more stops with [`crate::StoreError::Budget`]. The budget is per read (a
//! server request), set around its future with [`with_budget`]; reads outside one are not charged.

use crate::StoreError;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Budget {
    limit: usize,
    used: AtomicUsize,
}

tokio::task_local! {
    static BUDGET: Arc<Budget>;
}

/// Runs `f` with a budget of `limit` bytes of rows held.
pub async fn with_budget<F: Future>(limit: usize, f: F) -> F::Output {
    BUDGET.scope(Arc::new(Budget { limit, used: AtomicUsize::new(0) }), f).await
}

/// Charges `bytes` to the current read's budget; an error once it is spent.
pub(crate) fn charge(bytes: usize) -> Result<(), StoreError> {
    BUDGET
        .try_with(|b| {
            let used = b.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
            if used <= b.limit {
                return Ok(());
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
        let r = with_budget(1000, async {
            charge(600)?;
            charge(600)
        })
        .await;
        assert!(matches!(r, Err(StoreError::Budget(m)) if m.contains("memory budget")));
        assert!(with_budget(1000, async { charge(1000) }).await.is_ok());
        assert_eq!(human_bytes(2 << 30), "2.0 GiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(1 << 10), "1 KiB");
    }
}

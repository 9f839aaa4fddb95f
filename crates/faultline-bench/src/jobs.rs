//! Independent runs of a benchmark on a few threads, their results in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `f` on each of `0..n` that `include` keeps, on `jobs` threads (at least one); the results
/// by index, `None` where left out.
pub fn in_order<T: Send>(
    n: usize,
    jobs: usize,
    include: impl Fn(usize) -> bool + Sync,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<Option<T>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    break;
                }
                if include(k) {
                    let out = f(k);
                    *results[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
                }
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect()
}

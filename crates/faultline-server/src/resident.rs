//! The process's resident memory, sampled into the memory budget
//! (`faultline_store::memory::MemoryBudget::observe_resident`): the budget then bounds what the
//! process holds, not only what it counts.

use faultline_store::memory::MemoryBudget;
use std::sync::Arc;
use std::time::Duration;

/// How often resident memory is read: often enough that a burst of requests admitted between two
/// samples stays small beside the budget (a request is refused once the sample shows the excess),
/// rarely enough to cost nothing (one read of a small procfs file).
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// The resident set size in bytes from `/proc/self/status`'s `VmRSS` line (kB), where the system
/// has one (Linux); `None` elsewhere.
pub fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_rss(&status)
}

fn vm_rss(status: &str) -> Option<usize> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples resident memory into `budget` every [`SAMPLE_INTERVAL`] for as long as the runtime runs
/// (nothing where the system does not tell it).
pub fn spawn_sampler(budget: Arc<MemoryBudget>) {
    if resident_bytes().is_none() {
        tracing::info!("resident memory is not readable here: the memory budget counts estimates only");
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if let Some(r) = resident_bytes() {
                budget.observe_resident(r);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resident_set_from_proc_status() {
        let status = "Name:\tfaultline\nVmPeak:\t  300000 kB\nVmRSS:\t   19456 kB\nThreads:\t8\n";
        assert_eq!(vm_rss(status), Some(19456 * 1024));
        assert_eq!(vm_rss("Name:\tx\n"), None);
        assert_eq!(vm_rss("VmRSS:\tlots kB\n"), None);
        #[cfg(target_os = "linux")]
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}

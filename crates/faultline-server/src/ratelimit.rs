//! The per-tenant ingest rate limit: a token bucket of records. Past it a receiver answers the
//! protocol's retryable refusal (HTTP 429 with `Retry-After`, gRPC `RESOURCE_EXHAUSTED`), so a
//! client backs off instead of losing data, and one noisy tenant cannot take the others' share.

use std::time::{Duration, Instant};

/// Seconds of the rate a tenant may send at once after being idle: a collector that batches every
/// few seconds sends in bursts, and a burst of two seconds' worth is normal, not abuse.
pub const BURST_SECONDS: f64 = 2.0;

/// A token bucket; `take` is the only operation.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket for `rate` records per second.
    pub fn new(rate: f64, now: Instant) -> Bucket {
        let capacity = (rate * BURST_SECONDS).max(1.0);
        Bucket { rate, capacity, tokens: capacity, at: now }
    }

    /// Takes `n` records, or says how long to wait. A request larger than the whole bucket passes
    /// when the bucket is full (and leaves it in debt), so a big batch is slowed, never refused
    /// forever.
    pub fn take(&mut self, n: u64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
        let need = (n as f64).min(self.capacity);
        if self.tokens >= need {
            self.tokens -= n as f64;
            return Ok(());
        }
        Err(Duration::from_secs_f64((need - self.tokens) / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100.0, t0);
        // Two seconds' worth at once: the burst allowance.
        assert!(b.take(200, t0).is_ok());
        let wait = b.take(50, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Half a second later there are 50 again.
        assert!(b.take(50, t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn a_batch_larger_than_the_bucket_waits_for_a_full_bucket_and_is_not_refused_forever() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, t0);
        assert!(b.take(1_000, t0).is_ok(), "a full bucket lets any one batch through");
        // ...and the debt is paid before the next one: 1000 - 20 = 980 records at 10/s, then 20.
        let wait = b.take(1_000, t0).unwrap_err();
        assert!(wait.as_secs_f64() > 99.0, "{wait:?}");
        assert!(b.take(1_000, t0 + Duration::from_secs(100)).is_ok());
    }
}

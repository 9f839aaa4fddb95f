//! faultline's own telemetry, served at `/metrics` in the Prometheus text format. It is never fed
//! back through faultline's own ingest.

use faultline_store::StoreStats;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds of the query latency histogram, in seconds.
const LATENCY_BOUNDS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Telemetry {
    /// Accepted and rejected items by signal: spans, logs, metric points, changes.
    pub received: [AtomicU64; 4],
    pub rejected: [AtomicU64; 4],
    /// Requests refused whole (malformed, too large, overloaded).
    pub requests_failed: AtomicU64,
    /// Ingest requests refused because their tenant sent past its rate.
    pub requests_refused: AtomicU64,
    /// Reads whose client went away before the answer, and reads stopped by their time-out.
    pub queries_cancelled: AtomicU64,
    pub queries_timed_out: AtomicU64,
    query_count: AtomicU64,
    query_micros: AtomicU64,
    query_buckets: [AtomicU64; 10],
}

pub const SIGNALS: [&str; 4] = ["spans", "logs", "metric_points", "changes"];

impl Telemetry {
    pub fn record(&self, signal: usize, accepted: u64, rejected: u64) {
        self.received[signal].fetch_add(accepted, Ordering::Relaxed);
        self.rejected[signal].fetch_add(rejected, Ordering::Relaxed);
    }

    pub fn observe_query(&self, secs: f64) {
        self.query_count.fetch_add(1, Ordering::Relaxed);
        self.query_micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        for (i, b) in LATENCY_BOUNDS.iter().enumerate() {
            if secs <= *b {
                self.query_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self, s: &StoreStats) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, values: &[(String, f64)], kind: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in values {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let by_signal = |arr: &[AtomicU64; 4]| -> Vec<(String, f64)> {
            SIGNALS
                .iter()
                .zip(arr)
                .map(|(sig, a)| (format!("{{signal=\"{sig}\"}}"), a.load(Ordering::Relaxed) as f64))
                .collect()
        };
        counter(
            "faultline_items_received_total",
            "Items accepted and stored, by signal.",
            &by_signal(&self.received),
            "counter",
        );
        counter(
            "faultline_items_rejected_total",
            "Items rejected, by signal.",
            &by_signal(&self.rejected),
            "counter",
        );
        counter(
            "faultline_requests_failed_total",
            "Ingest requests refused whole.",
            &[(String::new(), self.requests_failed.load(Ordering::Relaxed) as f64)],
            "counter",
        );
        counter(
            "faultline_requests_rate_limited_total",
            "Ingest requests refused (retryably) because their tenant sent past its rate.",
            &[(String::new(), self.requests_refused.load(Ordering::Relaxed) as f64)],
            "counter",
        );
        counter(
            "faultline_wal_written_bytes_total",
            "Bytes appended to the write-ahead log.",
            &[(String::new(), s.wal_bytes_written as f64)],
            "counter",
        );
        counter(
            "faultline_wal_fsyncs_total",
            "fsync calls of the write-ahead log.",
            &[(String::new(), s.wal_fsyncs as f64)],
            "counter",
        );
        counter(
            "faultline_wal_fsync_seconds_total",
            "Time spent in write-ahead log fsync.",
            &[(String::new(), s.wal_fsync_seconds_total)],
            "counter",
        );
        counter(
            "faultline_wal_fsync_seconds_max",
            "Longest write-ahead log fsync.",
            &[(String::new(), s.wal_fsync_seconds_max)],
            "gauge",
        );
        counter(
            "faultline_head_rows",
            "Rows in memory, not yet in segments.",
            &[(String::new(), s.head_rows as f64)],
            "gauge",
        );
        counter(
            "faultline_head_bytes",
            "Bytes in memory, not yet in segments.",
            &[(String::new(), s.head_bytes as f64)],
            "gauge",
        );
        counter("faultline_segments", "Parquet segments.", &[(String::new(), s.segments as f64)], "gauge");
        counter(
            "faultline_segment_bytes",
            "Bytes in Parquet segments.",
            &[(String::new(), s.segment_bytes as f64)],
            "gauge",
        );
        counter(
            "faultline_memory_used_bytes",
            "Memory held against the --max-memory budget: heads, ingest requests being decoded, reads.",
            &[(String::new(), s.memory_used_bytes as f64)],
            "gauge",
        );
        counter(
            "faultline_memory_outside_bytes",
            "Resident memory beyond what is held (the program, buffers, the allocator's pages), charged to the budget too.",
            &[(String::new(), s.memory_outside_bytes as f64)],
            "gauge",
        );
        if let Some(limit) = s.memory_limit_bytes {
            counter(
                "faultline_memory_limit_bytes",
                "The --max-memory budget.",
                &[(String::new(), limit as f64)],
                "gauge",
            );
        }
        counter(
            "faultline_segments_quarantined",
            "Segments found unreadable and moved aside (faultline status lists them).",
            &[(String::new(), s.quarantined.len() as f64)],
            "gauge",
        );
        counter("faultline_flushes_total", "Head flushes.", &[(String::new(), s.flushes as f64)], "counter");
        counter(
            "faultline_compactions_total",
            "Segment compactions.",
            &[(String::new(), s.compactions as f64)],
            "counter",
        );
        counter(
            "faultline_queries_cancelled_total",
            "Reads stopped because their client went away.",
            &[(String::new(), self.queries_cancelled.load(Ordering::Relaxed) as f64)],
            "counter",
        );
        counter(
            "faultline_queries_timed_out_total",
            "Reads stopped by their time-out.",
            &[(String::new(), self.queries_timed_out.load(Ordering::Relaxed) as f64)],
            "counter",
        );
        let _ = writeln!(out, "# HELP faultline_query_duration_seconds Time to answer API queries.\n# TYPE faultline_query_duration_seconds histogram");
        for (i, b) in LATENCY_BOUNDS.iter().enumerate() {
            let _ = writeln!(
                out,
                "faultline_query_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.query_buckets[i].load(Ordering::Relaxed)
            );
        }
        let n = self.query_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "faultline_query_duration_seconds_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            out,
            "faultline_query_duration_seconds_sum {}",
            self.query_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "faultline_query_duration_seconds_count {n}");
        out
    }
}

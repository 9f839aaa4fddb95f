//! Trace-id bloom filters of segments' row groups, kept in memory. A trace lookup probes the
//! filters of every segment its time range allows; on object storage each probe is a request, so a
//! lookup would cost one round trip per row group. Segments never change, so an entry is never
//! stale (a deleted segment's entries are simply no longer asked for and age out).

use crate::StoreError;
use parquet::bloom_filter::Sbbf;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Memory the cache may hold: a row group's filter is about 8 KiB (16 Ki rows, at most 4 Ki
/// distinct trace ids, 1% false positives), so 32 MiB hold the filters of some 4,000 row groups,
/// 65 million spans: a week of a busy service's segments after compaction.
pub const BLOOM_CACHE_BYTES: u64 = 32 << 20;
/// The cache's guess of its entry count, from the typical filter size above.
const TYPICAL_FILTER_BYTES: u64 = 8 << 10;

type Key = (String, usize);
type Filter = Option<Arc<Sbbf>>;

#[derive(Clone)]
struct Size;

impl Weighter<Key, Filter> for Size {
    fn weight(&self, key: &Key, filter: &Filter) -> u64 {
        // The key and the entry's own bookkeeping, then the filter's blocks (32 bytes each).
        (key.0.len() + 64) as u64 + filter.as_ref().map_or(0, |f| f.num_blocks() as u64 * 32)
    }
}

/// Bloom filters by (segment id, row group).
pub struct BloomCache {
    cache: Cache<Key, Filter, Size>,
    /// Filters read from storage (not served from memory).
    fetched: AtomicU64,
}

impl BloomCache {
    pub fn new(bytes: u64) -> BloomCache {
        let items = (bytes / TYPICAL_FILTER_BYTES).max(16) as usize;
        BloomCache { cache: Cache::with_weighter(items, bytes, Size), fetched: AtomicU64::new(0) }
    }

    /// The filter of `row_group` of `segment`, read with `load` the first time.
    pub async fn get(
        &self,
        segment: &str,
        row_group: usize,
        load: impl Future<Output = Result<Option<Sbbf>, StoreError>>,
    ) -> Result<Filter, StoreError> {
        let key = (segment.to_string(), row_group);
        self.cache
            .get_or_insert_async(&key, async {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                Ok(load.await?.map(Arc::new))
            })
            .await
    }

    /// How many filters were read from storage so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}

impl Default for BloomCache {
    fn default() -> Self {
        BloomCache::new(BLOOM_CACHE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_filter_is_read_once_and_the_cache_stays_in_its_bytes() {
        let c = BloomCache::new(64 << 10);
        let filter = || async { Ok(Some(Sbbf::new_with_num_of_bytes(8 << 10))) };
        for _ in 0..3 {
            assert!(c.get("s1", 0, filter()).await.unwrap().is_some());
        }
        assert_eq!(c.fetched(), 1, "the second and third lookups come from memory");
        assert!(c.get("s1", 1, async { Ok(None) }).await.unwrap().is_none());
        assert!(c.get("s1", 1, async { Ok(None) }).await.unwrap().is_none());
        assert_eq!(c.fetched(), 2, "a row group without a filter is remembered too");
        for g in 0..100 {
            c.get("s2", g, filter()).await.unwrap();
        }
        assert!(c.cache.weight() <= 64 << 10, "{} bytes held", c.cache.weight());
    }
}

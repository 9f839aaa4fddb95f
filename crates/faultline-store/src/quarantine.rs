//! Segments that cannot be read are quarantined: moved aside to `quarantine/<their path>` in the
//! same object store (kept for a post-mortem, never read again), dropped from the segment list,
//! and reported (`StoreStats::quarantined`, so `faultline status` and `/metrics`). The rest of the
//! store stays queryable. A segment is found bad when its footer does not parse at open, or when a
//! scan fails to decode it and a full read of it, with no filter or projection, fails too: an
//! error of the scan itself (a filter's bug) never quarantines a healthy segment.

use crate::expr::Expr;
use crate::segment::{self, SegmentMeta, SegmentScan};
use crate::StoreError;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// Where quarantined segments go, below the store's root.
pub const QUARANTINE_PREFIX: &str = "quarantine";

/// Moves `path` aside; its new path.
pub async fn move_aside(objects: &Arc<dyn ObjectStore>, path: &ObjPath) -> Result<ObjPath, StoreError> {
    let to = ObjPath::from(format!("{QUARANTINE_PREFIX}/{path}"));
    objects.rename(path, &to).await?;
    Ok(to)
}

/// Whether an error of reading a segment may mean the segment itself is bad (as opposed to the
/// object store being unreachable, or the reader's own limits).
pub fn may_be_corrupt(e: &StoreError) -> bool {
    !e.is_not_found() && matches!(e, StoreError::Parquet(_) | StoreError::Arrow(_) | StoreError::Corrupt(_))
}

/// Reads the whole segment, footer included, with no filter: whether it fails to decode.
pub async fn fails_full_read(objects: &Arc<dyn ObjectStore>, meta: &SegmentMeta) -> bool {
    let all = SegmentScan { columns: None, filter: Expr::True, trace_id: None };
    match segment::scan_segment(objects, meta, None, &Default::default(), &all).await {
        Ok(_) => false,
        Err(e) => may_be_corrupt(&e),
    }
}

/// Removes the staging files a crash left behind in a local segment directory: the object store
/// writes `<name>#<n>` and renames it into place, so such a file was never a segment. Returns how
/// many were removed.
pub fn remove_staging_files(dir: &std::path::Path) -> usize {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            removed += remove_staging_files(&path);
        } else if e.file_name().to_string_lossy().contains('#') && std::fs::remove_file(&path).is_ok() {
            tracing::info!(file = %path.display(), "removed a half-written segment left by a crash");
            removed += 1;
        }
    }
    removed
}

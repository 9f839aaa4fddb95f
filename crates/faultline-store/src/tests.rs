use super::*;
use faultline_model::schema::{spans_from_batch, spans_to_batch};
use faultline_model::{ResourceInfo, Span, SpanId, SpanKind, StatusCode};

pub(crate) fn span(trace: u8, id: u64, start: i64, service: &str) -> Span {
    let mut r = ResourceInfo::from_attributes(
        serde_json::json!({"service.name": service}).as_object().unwrap().clone(),
    );
    r.scope_name = "test".into();
    Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId(id.max(1).to_be_bytes()),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("op{}", id % 3),
        kind: SpanKind::Server,
        start_unix_nano: start,
        end_unix_nano: start + 1000,
        status_code: StatusCode::Unset,
        status_message: String::new(),
        attributes: serde_json::json!({"i": id}).as_object().unwrap().clone(),
        events: vec![],
        links: vec![],
        resource: std::sync::Arc::new(r),
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test]
async fn append_scan_flush_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new(dir.path());
    {
        let store = Store::open(cfg.clone()).await.unwrap();
        let spans: Vec<Span> = (1..=100).map(|i| span((i % 5) as u8 + 1, i, 1_000 + i as i64, "a")).collect();
        store.append(Table::Spans, spans_to_batch(&spans[..50])).await.unwrap();
        store.flush().await.unwrap();
        store.append(Table::Spans, spans_to_batch(&spans[50..])).await.unwrap();
        assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 100);
        let t = store.trace(TraceId([2; 16])).await.unwrap();
        assert_eq!(rows(&t), 20);
        let w = store.scan(&Scan::new(Table::Spans).time(1_010, 1_020).columns(&["span_id"])).await.unwrap();
        assert_eq!(rows(&w), 10);
        assert_eq!(w[0].num_columns(), 1);
    }
    // Reopen: 50 rows from the segment, 50 replayed from the log, none twice.
    let store = Store::open(cfg.clone()).await.unwrap();
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 100);
    store.flush().await.unwrap();
    drop(store);
    let store = Store::open(cfg).await.unwrap();
    let all = store.scan(&Scan::new(Table::Spans)).await.unwrap();
    assert_eq!(rows(&all), 100);
    assert_eq!(store.stats().head_rows, 0);
    let spans: Vec<Span> = all.iter().flat_map(spans_from_batch).collect();
    assert!(spans.iter().any(|s| s.attributes["i"] == 77));
}

#[tokio::test]
async fn a_repeated_trace_lookup_reads_no_bloom_filter_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.object_store = Some(Arc::new(object_store::memory::InMemory::new()));
    let store = Store::open(cfg).await.unwrap();
    for part in 0..2u64 {
        let spans: Vec<Span> =
            (1..=50).map(|i| span((i % 5) as u8 + 1, part * 100 + i, i as i64, "a")).collect();
        store.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
        store.flush().await.unwrap();
    }
    assert_eq!(rows(&store.trace(TraceId([2; 16])).await.unwrap()), 20);
    let read = store.bloom_filters_read();
    assert!(read >= 2, "one filter a segment's row group: {read}");
    assert_eq!(rows(&store.trace(TraceId([2; 16])).await.unwrap()), 20);
    assert_eq!(rows(&store.trace(TraceId([9; 16])).await.unwrap()), 0);
    assert_eq!(store.bloom_filters_read(), read, "the filters come from memory the second time");
}

#[tokio::test]
async fn second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _a = Store::open(StoreConfig::new(dir.path())).await.unwrap();
    assert!(matches!(Store::open(StoreConfig::new(dir.path())).await, Err(StoreError::Locked(_))));
}

#[tokio::test]
async fn compaction_merges_and_keeps_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.compact_min_segments = 3;
    let store = Store::open(cfg.clone()).await.unwrap();
    for k in 0..4u64 {
        let spans: Vec<Span> =
            (0..10).map(|i| span(k as u8 + 1, k * 100 + i + 1, 1_000 + i as i64, "a")).collect();
        store.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
        store.flush().await.unwrap();
    }
    assert_eq!(store.segments().len(), 4);
    assert_eq!(store.compact().await.unwrap(), 4);
    assert_eq!(store.segments().len(), 1);
    assert_eq!(store.segments()[0].level, 1);
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 40);
    assert_eq!(rows(&store.trace(TraceId([3; 16])).await.unwrap()), 10);
    drop(store);
    let store = Store::open(cfg).await.unwrap();
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 40);
}

#[tokio::test]
async fn retention_drops_segments_by_arrival_and_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.retention = Some(Duration::from_secs(3600));
    let store = Store::open(cfg.clone()).await.unwrap();
    // Data stamped long ago but written now is kept.
    store.append(Table::Spans, spans_to_batch(&[span(1, 1, 1_000, "a")])).await.unwrap();
    store.flush().await.unwrap();
    let now = faultline_model::time::now_ns();
    assert_eq!(store.apply_retention(now).await.unwrap(), 0);
    store.append(Table::Spans, spans_to_batch(&[span(1, 2, 2_000, "a")])).await.unwrap();
    store.flush().await.unwrap();
    // Two hours later both are past retention.
    assert_eq!(store.apply_retention(now + 7_200_000_000_000).await.unwrap(), 2);
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 0);
    drop(store);
    // By size: the oldest go first.
    cfg.retention = None;
    let store = Store::open(cfg.clone()).await.unwrap();
    for i in 0..3 {
        store.append(Table::Spans, spans_to_batch(&[span(2, 10 + i, 1_000, "a")])).await.unwrap();
        store.flush().await.unwrap();
    }
    let one = store.segments()[0].size;
    drop(store);
    cfg.max_bytes = Some(one * 2 + one / 2);
    let store = Store::open(cfg).await.unwrap();
    assert_eq!(store.apply_retention(now).await.unwrap(), 1);
    let left: Vec<Span> =
        store.scan(&Scan::new(Table::Spans)).await.unwrap().iter().flat_map(spans_from_batch).collect();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|s| s.span_id != SpanId(10u64.to_be_bytes())));
}

#[test]
fn duplicate_spans_are_dropped() {
    let b = spans_to_batch(&[span(1, 1, 1, "a"), span(1, 1, 1, "a"), span(1, 2, 1, "a")]);
    let out = dedup_spans(vec![b.clone(), b]).unwrap();
    assert_eq!(rows(&out), 2);
}

/// Three flushed segments of 20 spans each, in `dir`; their files.
async fn three_segments(cfg: &StoreConfig) -> Vec<std::path::PathBuf> {
    let store = Store::open(cfg.clone()).await.unwrap();
    for k in 0..3u64 {
        let spans: Vec<Span> =
            (1..=20).map(|i| span(k as u8 + 1, k * 100 + i, 1_000 + i as i64, "a")).collect();
        store.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
        store.flush().await.unwrap();
    }
    let mut files: Vec<_> = walk(&cfg.data_dir.join("segments"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    files
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test]
async fn a_truncated_segment_is_quarantined_at_open_and_the_rest_stays_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new(dir.path());
    let files = three_segments(&cfg).await;
    let f = std::fs::OpenOptions::new().write(true).open(&files[1]).unwrap();
    f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    // A half-written segment a crash left behind is removed, not read.
    std::fs::write(files[0].with_extension("parquet#3"), b"half").unwrap();
    let store = Store::open(cfg.clone()).await.unwrap();
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 40);
    let q = store.stats().quarantined;
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(q[0].starts_with("quarantine/"), "{q:?}");
    assert!(!files[1].exists() && dir.path().join("segments").join(&q[0]).exists());
    assert!(!files[0].with_extension("parquet#3").exists());
}

#[tokio::test]
async fn a_segment_corrupted_inside_is_quarantined_by_the_scan_that_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new(dir.path());
    let files = three_segments(&cfg).await;
    let store = Store::open(cfg.clone()).await.unwrap();
    // Garbage over the data pages; the footer (at the end) still parses.
    let mut bytes = std::fs::read(&files[2]).unwrap();
    let n = bytes.len();
    for b in &mut bytes[4..n / 2] {
        *b = 0xA5;
    }
    std::fs::write(&files[2], &bytes).unwrap();
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 40);
    assert_eq!(store.stats().quarantined.len(), 1);
    assert_eq!(store.stats().segments, 2);
    // A scan that fails for its own reasons quarantines nothing.
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 40);
    assert_eq!(store.stats().quarantined.len(), 1);
}

#[tokio::test]
async fn a_segment_of_many_batches_holds_every_row_once_in_sort_order_across_row_groups() {
    use arrow::array::AsArray;
    let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    // Three batches (one empty) whose rows interleave in (trace, start) order, more rows than a
    // row group holds.
    let n = segment::ROW_GROUP_ROWS as u64 + 500;
    let make = |k: u64| -> Vec<Span> {
        (0..n / 2)
            .map(|i| span((i % 7) as u8 + 1, k * n + i + 1, ((i * 31 + k * 17) % 5000) as i64, "a"))
            .collect()
    };
    let batches = vec![spans_to_batch(&make(0)), spans_to_batch(&[]), spans_to_batch(&make(1))];
    let meta = SegmentMeta {
        id: "t".into(),
        table: Table::Spans,
        rows: 0,
        min_time: 0,
        max_time: 0,
        level: 0,
        wal_through: BTreeMap::new(),
        replaces: vec![],
        created: 0,
        size: 0,
    };
    let m = segment::write_segment(&objects, Table::Spans, &batches, meta).await.unwrap();
    assert_eq!(m.rows, 2 * (n / 2));
    let scan = segment::SegmentScan { columns: None, filter: expr::Expr::True, trace_id: None };
    let read = segment::scan_segment(&objects, &m, None, &Default::default(), &scan).await.unwrap();
    assert!(read.len() >= 2, "more than one row group");
    let keys: Vec<(Vec<u8>, i64)> = read
        .iter()
        .flat_map(|b| {
            let t = b.column_by_name("trace_id").unwrap().as_fixed_size_binary().clone();
            let s = b
                .column_by_name("start_time")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                .clone();
            (0..b.num_rows()).map(move |i| (t.value(i).to_vec(), s.value(i))).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(keys.len() as u64, m.rows);
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "rows in (trace_id, start_time) order");
    let ids: HashSet<Vec<u8>> = read
        .iter()
        .flat_map(|b| {
            let s = b.column_by_name("span_id").unwrap().as_fixed_size_binary().clone();
            (0..b.num_rows()).map(move |i| s.value(i).to_vec()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len() as u64, m.rows, "every row once");
    assert_eq!((m.min_time, m.max_time), (0, 4999));
}

#[tokio::test]
async fn compaction_merges_in_steps_that_fit_its_share_of_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.compact_min_segments = 2;
    let store = Store::open(cfg.clone()).await.unwrap();
    for k in 0..6u64 {
        let spans: Vec<Span> =
            (0..200).map(|i| span(k as u8 + 1, k * 1000 + i + 1, 1_000 + i as i64, "a")).collect();
        store.append(Table::Spans, spans_to_batch(&spans)).await.unwrap();
        store.flush().await.unwrap();
    }
    let one: i64 = {
        let m = &store.segments()[0];
        store.footer(m).await.unwrap().row_groups().iter().map(|rg| rg.total_byte_size()).sum()
    };
    drop(store);
    // A budget whose compaction share holds two segments' rows (and a half), not six.
    let limit = (one as usize * 5 / 2) * COMPACT_SHARE_DIVISOR;
    let store =
        Store::open(StoreConfig { memory: memory::MemoryBudget::new(limit), ..cfg.clone() }).await.unwrap();
    assert_eq!(store.compact().await.unwrap(), 2, "one step of two segments");
    assert_eq!(store.inner.cfg.memory.used(), 0, "what compaction held is given back");
    // A budget too small for any two: nothing merged, nothing lost.
    drop(store);
    let store =
        Store::open(StoreConfig { memory: memory::MemoryBudget::new(one as usize), ..cfg }).await.unwrap();
    assert_eq!(store.compact().await.unwrap(), 0);
    assert_eq!(rows(&store.scan(&Scan::new(Table::Spans)).await.unwrap()), 1200);
}

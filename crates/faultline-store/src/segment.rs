//! Parquet segments on object storage: writing them (sorted, zstd, statistics, trace-id bloom
//! filters), describing them, and reading them back with projection and predicate pushdown.

use crate::expr::{Expr, Scalar};
use crate::StoreError;
use arrow::array::RecordBatch;
use arrow::compute::{interleave_record_batch, lexsort_to_indices, SortColumn};
use bytes::Bytes;
use faultline_model::schema::Table;
use futures::future::BoxFuture;
use futures::FutureExt;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, RowGroupMetaData};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Rows per row group: small enough that a trace lookup decodes little, large enough to compress.
pub const ROW_GROUP_ROWS: usize = 16 * 1024;

/// What faultline records about a segment, in the Parquet footer's key-value metadata under
/// `faultline.segment`, so that the object store alone describes the data set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SegmentMeta {
    /// Unique, time-ordered id.
    pub id: String,
    pub table: Table,
    pub rows: u64,
    /// Smallest and largest value of the table's time column (unix ns).
    pub min_time: i64,
    pub max_time: i64,
    /// Compaction level: 0 for segments flushed from the head.
    pub level: u32,
    /// Per writing node, the write-ahead log sequence number up to which that node's records of
    /// this table are in segments.
    pub wal_through: BTreeMap<String, u64>,
    /// When the data was written (unix ns): retention ages data by when it arrived, not by its own
    /// timestamps, so that importing last month's incident does not expire it at once. A compacted
    /// segment keeps the oldest of its inputs'.
    #[serde(default)]
    pub created: i64,
    /// Segments this one replaces (compaction); they are ignored if still present.
    #[serde(default)]
    pub replaces: Vec<String>,
    /// Size of the Parquet file in bytes (not stored in the footer; filled in when listed).
    #[serde(default)]
    pub size: u64,
}

impl SegmentMeta {
    pub fn path(&self) -> Path {
        Path::from(format!("{}/{}.parquet", self.table.name(), self.id))
    }
}

fn writer_props(table: Table, meta: &SegmentMeta) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "faultline.segment".to_string(),
            serde_json::to_string(meta).expect("meta serialises"),
        )]));
    for col in table.bloom_columns() {
        let p = ColumnPath::from(*col);
        b = b
            .set_column_bloom_filter_enabled(p.clone(), true)
            .set_column_bloom_filter_fpp(p.clone(), 0.01)
            .set_column_bloom_filter_max_ndv(p, (ROW_GROUP_ROWS / 4) as u64);
    }
    // Random ids do not compress: skip the dictionary attempt. Times and durations delta-encode well.
    for col in ["span_id", "parent_span_id"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    for col in ["start_time", "duration_ns", "time", "observed_time"] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(col), false)
            .set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    b.build()
}

/// The rows of `batches` in the table's sort order, as (batch, row) pairs. Only the sort columns
/// are joined to find it: the rows themselves are gathered a row group at a time when written, so
/// a flush or a compaction never holds a second, sorted copy of everything it writes.
pub fn sort_order(table: Table, batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>, StoreError> {
    let starts: Vec<usize> = batches
        .iter()
        .scan(0, |n, b| {
            let at = *n;
            *n += b.num_rows();
            Some(at)
        })
        .collect();
    let pair = |i: usize| {
        let b = starts.partition_point(|&s| s <= i) - 1;
        (b, i - starts[b])
    };
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut cols = Vec::new();
    for name in table.sort_columns() {
        let parts: Vec<&dyn arrow::array::Array> =
            batches.iter().filter_map(|b| b.column_by_name(name)).map(|c| c.as_ref()).collect();
        if parts.len() == batches.len() && !parts.is_empty() {
            cols.push(SortColumn { values: arrow::compute::concat(&parts)?, options: None });
        }
    }
    if cols.is_empty() || total < 2 {
        return Ok((0..total).map(pair).collect());
    }
    let idx = lexsort_to_indices(&cols, None)?;
    Ok(idx.values().iter().map(|&i| pair(i as usize)).collect())
}

/// Time range of a batch's time column.
pub fn time_range(table: Table, batch: &RecordBatch) -> Option<(i64, i64)> {
    use arrow::array::AsArray;
    use arrow::datatypes::TimestampNanosecondType;
    let a = batch.column_by_name(table.time_column())?.as_primitive::<TimestampNanosecondType>();
    let min = arrow::compute::min(a)?;
    let max = arrow::compute::max(a)?;
    Some((min, max))
}

/// Reads a Parquet file through the object store, reusing a footer that was already parsed.
pub struct SegmentReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    metadata: Option<Arc<ParquetMetaData>>,
}

impl SegmentReader {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        size: u64,
        metadata: Option<Arc<ParquetMetaData>>,
    ) -> Self {
        SegmentReader { store, path, size, metadata }
    }
}

fn parquet_err(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl AsyncFileReader for SegmentReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.store.get_range(&self.path, range).await.map_err(parquet_err) }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.store.get_ranges(&self.path, &ranges).await.map_err(parquet_err) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            if let Some(m) = &self.metadata {
                return Ok(m.clone());
            }
            let size = self.size;
            let m = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(&mut *self, size)
                .await?;
            let m = Arc::new(m);
            self.metadata = Some(m.clone());
            Ok(m)
        }
        .boxed()
    }
}

/// Writes batches as one sorted segment. Returns its description.
pub async fn write_segment(
    store: &Arc<dyn ObjectStore>,
    table: Table,
    batches: &[RecordBatch],
    mut meta: SegmentMeta,
) -> Result<SegmentMeta, StoreError> {
    let schema = crate::typed_attrs::segment_schema(&table.schema());
    let order = sort_order(table, batches)?;
    let ranges = batches.iter().filter_map(|b| time_range(table, b));
    let (min, max) = ranges.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))).unwrap_or((0, 0));
    meta.rows = order.len() as u64;
    meta.min_time = min;
    meta.max_time = max;
    let props = writer_props(table, &meta);
    let batches = batches.to_vec();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, StoreError> {
        let raw: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let mut buf = Vec::with_capacity(raw / 8);
        let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props))?;
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        for rows in order.chunks(ROW_GROUP_ROWS) {
            w.write(&crate::typed_attrs::to_segment(&interleave_record_batch(&refs, rows)?)?)?;
        }
        w.close()?;
        Ok(buf)
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("segment writer panicked: {e}")))??;
    meta.size = bytes.len() as u64;
    store.put(&meta.path(), bytes.into()).await?;
    Ok(meta)
}

/// Reads a segment's description from its footer; returns the parsed footer too.
pub async fn read_meta(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    size: u64,
) -> Result<(SegmentMeta, Arc<ParquetMetaData>), StoreError> {
    let mut reader = SegmentReader::new(store.clone(), path.clone(), size, None);
    let md = reader.get_metadata(None).await?;
    let kv = md.file_metadata().key_value_metadata();
    let text = kv
        .and_then(|kv| kv.iter().find(|k| k.key == "faultline.segment"))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| StoreError::Corrupt(format!("segment {path} has no faultline.segment metadata")))?;
    let mut meta: SegmentMeta =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("segment {path}: {e}")))?;
    meta.size = size;
    Ok((meta, md))
}

fn stat_range(rg: &RowGroupMetaData, col_idx: usize) -> Option<(Scalar, Scalar)> {
    let stats = rg.column(col_idx).statistics()?;
    Some(match stats {
        Statistics::Int64(s) => (Scalar::Int(*s.min_opt()?), Scalar::Int(*s.max_opt()?)),
        Statistics::Int32(s) => (Scalar::Int(*s.min_opt()? as i64), Scalar::Int(*s.max_opt()? as i64)),
        Statistics::Double(s) => (Scalar::Float(*s.min_opt()?), Scalar::Float(*s.max_opt()?)),
        Statistics::ByteArray(s) => (
            Scalar::Str(String::from_utf8(s.min_bytes_opt()?.to_vec()).ok()?),
            Scalar::Str(String::from_utf8(s.max_bytes_opt()?.to_vec()).ok()?),
        ),
        Statistics::FixedLenByteArray(s) => {
            (Scalar::Bytes(s.min_bytes_opt()?.to_vec()), Scalar::Bytes(s.max_bytes_opt()?.to_vec()))
        }
        _ => return None,
    })
}

/// What to read from segments.
#[derive(Debug, Clone)]
pub struct SegmentScan {
    /// Columns to return (`None`: all).
    pub columns: Option<Vec<String>>,
    /// Rows must satisfy this.
    pub filter: Expr,
    /// Probe the bloom filter of `trace_id` with this value.
    pub trace_id: Option<[u8; 16]>,
}

/// Reads the rows of a segment that match, with row-group pruning by statistics and bloom filter,
/// projection, and the filter evaluated inside the Parquet reader.
pub async fn scan_segment(
    store: &Arc<dyn ObjectStore>,
    meta: &SegmentMeta,
    footer: Option<Arc<ParquetMetaData>>,
    blooms: &crate::bloom_cache::BloomCache,
    scan: &SegmentScan,
) -> Result<Vec<RecordBatch>, StoreError> {
    let reader = SegmentReader::new(store.clone(), meta.path(), meta.size, footer);
    let mut builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let md = builder.metadata().clone();
    let sd = md.file_metadata().schema_descr_ptr();
    // By path: a map's leaves (`attributes.key_value.key`) share names with nothing at the top.
    let col_index = |name: &str| (0..sd.num_columns()).find(|i| sd.column(*i).path().string() == name);
    let mut row_groups = Vec::new();
    for (i, rg) in md.row_groups().iter().enumerate() {
        let ok = scan.filter.may_match(&|c| col_index(c).and_then(|ci| stat_range(rg, ci)));
        if !ok {
            continue;
        }
        if let (Some(tid), Some(ci)) = (scan.trace_id, col_index("trace_id")) {
            let load = async { Ok(builder.get_row_group_column_bloom_filter(i, ci).await?) };
            if let Some(sbbf) = blooms.get(&meta.id, i, load).await? {
                if !sbbf.check(&parquet::data_type::FixedLenByteArray::from(tid.to_vec())) {
                    continue;
                }
            }
        }
        row_groups.push(i);
    }
    if row_groups.is_empty() {
        return Ok(Vec::new());
    }
    let schema = builder.schema().clone();
    let root_indices =
        |names: &[String]| -> Vec<usize> { names.iter().filter_map(|n| schema.index_of(n).ok()).collect() };
    // The typed copies of the attributes are for other engines (`typed_attrs`): never read here.
    let projection = match &scan.columns {
        Some(cols) => ProjectionMask::roots(&sd, root_indices(cols)),
        None => ProjectionMask::roots(
            &sd,
            (0..schema.fields().len())
                .filter(|&i| !crate::typed_attrs::is_typed_copy(schema.field(i).name())),
        ),
    };
    builder = builder.with_row_groups(row_groups).with_projection(projection).with_batch_size(8192);
    if scan.filter != Expr::True {
        let mut cols = Vec::new();
        scan.filter.columns(&mut cols);
        let mask = ProjectionMask::roots(&sd, root_indices(&cols));
        let filter = scan.filter.clone();
        let pred = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
            filter.evaluate(&batch).map_err(|e| arrow::error::ArrowError::ComputeError(e.to_string()))
        });
        builder = builder.with_row_filter(RowFilter::new(vec![Box::new(pred)]));
    }
    let stream = builder.build()?;
    Ok(stream.try_collect().await?)
}

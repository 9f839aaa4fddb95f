//! A trace with its hosts' clock skew corrected: each host's offset is estimated across the span
//! pairs of the half hour around the trace (one trace has too few pairs to tell), and the trace's
//! spans on skewed hosts are shifted back by it.

use crate::error::AppError;
use faultline_analysis::detectors::clock_skew;
use faultline_analysis::graph::Graph;
use faultline_analysis::{spans, SpanTable};
use faultline_model::schema::Table;
use faultline_query::traces::TraceTree;
use faultline_store::{Scan, Store};
use serde_json::{json, Value};
use std::collections::HashMap;

const AROUND: i64 = 15 * 60 * 1_000_000_000;

pub async fn corrected(store: &Store, mut tree: TraceTree) -> Result<Value, AppError> {
    let start = tree.spans.iter().map(|s| s.span.start_unix_nano).min().unwrap_or(0);
    let end = tree.spans.iter().map(|s| s.span.end_unix_nano).max().unwrap_or(0);
    let batches = store
        .scan(&Scan::new(Table::Spans).time(start - AROUND, end + AROUND).columns(spans::COLUMNS))
        .await?;
    let offsets = tokio::task::spawn_blocking(move || {
        let t = SpanTable::from_batches(&batches);
        let g = Graph::build(&t);
        clock_skew(&t, &g)
            .into_iter()
            .map(|s| {
                (
                    t.names.name(s.instance).to_string(),
                    (t.names.name(s.service).to_string(), s.offset_ns, s.ci_ns, s.pairs),
                )
            })
            .collect::<HashMap<String, (String, f64, f64, usize)>>()
    })
    .await
    .map_err(|e| AppError::new(crate::error::ErrorCode::Internal, format!("skew estimate failed: {e}")))?;
    let mut used: Vec<Value> = Vec::new();
    for ts in &mut tree.spans {
        let Some(inst) = ts.span.resource.instance.as_deref() else { continue };
        if let Some((svc, off, ci, pairs)) = offsets.get(inst) {
            let off = off.round() as i64;
            ts.span.start_unix_nano -= off;
            ts.span.end_unix_nano -= off;
            if !used.iter().any(|u| u["instance"] == inst) {
                used.push(json!({"service": svc, "instance": inst, "offset_ns": off,
                                 "ci_ns": ci.round() as i64, "pairs": pairs}));
            }
        }
    }
    let mut v = json!(tree);
    v["clock_corrections"] = Value::Array(used);
    Ok(v)
}

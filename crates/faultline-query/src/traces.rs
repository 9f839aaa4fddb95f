//! Traces: assembling one into a tree, and searching for traces that match a filter.

use crate::page::Key;
use crate::QueryError;
use faultline_model::schema::{spans_from_batch, Table};
use faultline_model::{Span, SpanId, StatusCode, TraceId};
use faultline_store::{Scan, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A trace as a tree: spans in depth-first order with their depth. Spans whose parent is missing
/// are roots too (real traces lose spans).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TraceTree {
    pub trace_id: TraceId,
    pub spans: Vec<TreeSpan>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TreeSpan {
    pub depth: usize,
    /// The parent span id is set but no such span is in the trace.
    pub orphan: bool,
    /// On the trace's critical path: the chain of spans the root waited on, each the child that
    /// finished last before the time its parent (or a later sibling on the path) began waiting.
    pub critical: bool,
    #[serde(flatten)]
    pub span: Span,
}

/// Orders spans into a tree (children by start time).
pub fn trace_tree(trace_id: TraceId, mut spans: Vec<Span>) -> TraceTree {
    spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<_, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id {
            Some(p) if ids.contains(&p) && p != s.span_id => children.entry(p).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut out = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        if let Some(c) = children.get(&spans[i].span_id) {
            stack.extend(c.iter().rev().map(|&j| (j, depth + 1)));
        }
        out.push((i, depth));
    }
    // A parent cycle leaves spans unvisited: show them as roots rather than lose them.
    for (i, v) in visited.iter().enumerate() {
        if !v {
            out.push((i, 0));
        }
    }
    let critical = critical_path(&spans, &children, &roots);
    let mut spans: Vec<Option<Span>> = spans.into_iter().map(Some).collect();
    TraceTree {
        trace_id,
        spans: out
            .into_iter()
            .map(|(i, depth)| {
                let span = spans[i].take().expect("each span once");
                let orphan = span.parent_span_id.is_some_and(|p| !ids.contains(&p));
                TreeSpan { depth, orphan, critical: critical[i], span }
            })
            .collect(),
    }
}

/// The critical path of the longest root's tree, as Jaeger draws it: from the root's end, the
/// child that finished last, then the children that finished before that one started, and so on
/// down each of them. `children` holds indices into `spans`.
fn critical_path(spans: &[Span], children: &HashMap<SpanId, Vec<usize>>, roots: &[usize]) -> Vec<bool> {
    let mut on = vec![false; spans.len()];
    let Some(&root) = roots.iter().max_by_key(|&&i| spans[i].end_unix_nano - spans[i].start_unix_nano) else {
        return on;
    };
    let mut stack = vec![root];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut on[i], true) {
            continue;
        }
        let mut kids: Vec<usize> = children.get(&spans[i].span_id).cloned().unwrap_or_default();
        kids.sort_by_key(|&k| std::cmp::Reverse(spans[k].end_unix_nano));
        let mut until = spans[i].end_unix_nano;
        for k in kids {
            // A child that ends after its parent (clock skew, async work) still bounds it.
            if spans[k].end_unix_nano <= until || until == spans[i].end_unix_nano {
                stack.push(k);
                until = spans[k].start_unix_nano;
            }
        }
    }
    on
}

/// Loads one trace.
pub async fn get_trace(store: &Store, trace_id: TraceId) -> Result<Option<TraceTree>, QueryError> {
    let batches = store.trace(trace_id).await?;
    let spans: Vec<Span> = batches.iter().flat_map(spans_from_batch).collect();
    Ok((!spans.is_empty()).then(|| trace_tree(trace_id, spans)))
}

/// One line of a trace search result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// Service and name of the root span (the earliest span without a parent).
    pub root_service: String,
    pub root_name: String,
    pub start_unix_nano: i64,
    pub duration_ns: i64,
    pub span_count: usize,
    pub error_count: usize,
    pub services: Vec<String>,
    /// Spans of the trace that matched the filter.
    pub matched_spans: usize,
}

/// Ids of the traces with at least one span matching `filter` in `[from, to)`, most recent match
/// first, with how many of their spans matched.
pub async fn find_trace_ids(
    store: &Store,
    filter: faultline_store::expr::Expr,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<(TraceId, usize)>, QueryError> {
    Ok(find_trace_page(store, filter, from, to, limit, None).await?.0)
}

/// A page of [`find_trace_ids`]: the traces after `cursor` (keyed by their latest matching start
/// and their id), and the cursor of the next page when there is one.
pub async fn find_trace_page(
    store: &Store,
    filter: faultline_store::expr::Expr,
    from: i64,
    to: i64,
    limit: usize,
    cursor: Option<&Key>,
) -> Result<(Vec<(TraceId, usize)>, Option<Key>), QueryError> {
    let scan = Scan::new(Table::Spans).time(from, to).filter(filter).columns(&["trace_id", "start_time"]);
    let mut matched: HashMap<TraceId, (i64, usize)> = HashMap::new();
    store
        .scan_each(&scan, |b| {
            let c = faultline_model::schema::Columns::new(&b);
            for row in 0..b.num_rows() {
                let Some(t) = c.fsb("trace_id", row).and_then(|x| x.try_into().ok()).map(TraceId) else {
                    continue;
                };
                let start = c.i64("start_time", row).unwrap_or(0);
                let e = matched.entry(t).or_insert((start, 0));
                e.0 = e.0.max(start);
                e.1 += 1;
            }
            Ok(())
        })
        .await?;
    let key = |t: &TraceId, s: i64| Key { time: s, id: t.0.to_vec() };
    let mut ids: Vec<(Key, TraceId, usize)> = matched
        .into_iter()
        .map(|(t, (s, n))| (key(&t, s), t, n))
        .filter(|(k, _, _)| cursor.is_none_or(|c| k < c))
        .collect();
    ids.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    let next = (ids.len() > limit).then(|| ids[limit - 1].0.clone());
    ids.truncate(limit);
    Ok((ids.into_iter().map(|(_, t, n)| (t, n)).collect(), next))
}

/// All spans of a trace (each once).
pub async fn trace_spans(store: &Store, trace_id: TraceId) -> Result<Vec<Span>, QueryError> {
    Ok(store.trace(trace_id).await?.iter().flat_map(spans_from_batch).collect())
}

/// A page of traces found by a search, and where the next page starts.
pub struct TracePage {
    pub traces: Vec<TraceSummary>,
    pub next_cursor: Option<String>,
}

/// Finds traces with at least one span matching `filter` in `[from, to)`, newest first, a page
/// of `limit` after `cursor`.
pub async fn search_traces(
    store: &Store,
    filter: faultline_store::expr::Expr,
    from: i64,
    to: i64,
    limit: usize,
    cursor: Option<&Key>,
) -> Result<TracePage, QueryError> {
    let (ids, next) = find_trace_page(store, filter, from, to, limit, cursor).await?;
    let mut traces = Vec::new();
    for (tid, n) in ids {
        if let Some(s) = summarize(tid, &trace_spans(store, tid).await?, n) {
            traces.push(s);
        }
    }
    Ok(TracePage { traces, next_cursor: next.as_ref().map(Key::cursor) })
}

/// Calls between services in `[from, to)`: (caller, callee, number of calls), from parent/child
/// span pairs whose services differ.
pub async fn dependencies(
    store: &Store,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, u64)>, QueryError> {
    let scan = Scan::new(Table::Spans).time(from, to).columns(&[
        "trace_id",
        "span_id",
        "parent_span_id",
        "service_name",
    ]);
    let batches = store.scan(&scan).await?;
    let mut service_of: HashMap<(TraceId, faultline_model::SpanId), String> = HashMap::new();
    let mut edges: Vec<(TraceId, faultline_model::SpanId, String)> = Vec::new();
    for b in &batches {
        let c = faultline_model::schema::Columns::new(b);
        for row in 0..b.num_rows() {
            let Some(t) = c.fsb("trace_id", row).and_then(|x| x.try_into().ok()).map(TraceId) else {
                continue;
            };
            let Some(sid) =
                c.fsb("span_id", row).and_then(|x| x.try_into().ok()).map(faultline_model::SpanId)
            else {
                continue;
            };
            let svc = c.string("service_name", row);
            if let Some(p) =
                c.fsb("parent_span_id", row).and_then(|x| x.try_into().ok()).map(faultline_model::SpanId)
            {
                edges.push((t, p, svc.clone()));
            }
            service_of.insert((t, sid), svc);
        }
    }
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (t, p, child) in edges {
        if let Some(parent) = service_of.get(&(t, p)) {
            if *parent != child {
                *counts.entry((parent.clone(), child)).or_default() += 1;
            }
        }
    }
    Ok(counts.into_iter().map(|((a, b), n)| (a, b, n)).collect())
}

/// Summarises the spans of one trace.
pub fn summarize(trace_id: TraceId, spans: &[Span], matched_spans: usize) -> Option<TraceSummary> {
    let start = spans.iter().map(|s| s.start_unix_nano).min()?;
    let end = spans.iter().map(|s| s.end_unix_nano).max()?;
    let root = spans
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .min_by_key(|s| s.start_unix_nano)
        .or_else(|| spans.iter().min_by_key(|s| s.start_unix_nano))?;
    let services: BTreeSet<String> = spans.iter().map(|s| s.resource.service_name.clone()).collect();
    Some(TraceSummary {
        trace_id,
        root_service: root.resource.service_name.clone(),
        root_name: root.name.clone(),
        start_unix_nano: start,
        duration_ns: end - start,
        span_count: spans.len(),
        error_count: spans.iter().filter(|s| s.status_code == StatusCode::Error).count(),
        services: services.into_iter().collect(),
        matched_spans,
    })
}

/// Services and, per service, operation names with their span kinds, from spans in `[from, to)`.
pub async fn services_and_operations(
    store: &Store,
    from: i64,
    to: i64,
) -> Result<BTreeMap<String, BTreeMap<String, BTreeSet<i8>>>, QueryError> {
    let scan = Scan::new(Table::Spans).time(from, to).columns(&["service_name", "name", "kind"]);
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<i8>>> = BTreeMap::new();
    for b in store.scan(&scan).await? {
        let c = faultline_model::schema::Columns::new(&b);
        for row in 0..b.num_rows() {
            let svc = c.str("service_name", row).unwrap_or("");
            let name = c.str("name", row).unwrap_or("");
            let kind = c.i8("kind", row).unwrap_or(0);
            out.entry(svc.to_string()).or_default().entry(name.to_string()).or_default().insert(kind);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::SpanKind;

    fn span(id: u8, parent: Option<u8>, start: i64, end: i64) -> Span {
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            trace_state: String::new(),
            flags: 0,
            name: format!("s{id}"),
            kind: SpanKind::Internal,
            start_unix_nano: start,
            end_unix_nano: end,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            attributes: Default::default(),
            events: vec![],
            links: vec![],
            resource: Default::default(),
        }
    }

    /// Root 0..100 calls a (0..30) and b (10..40) in parallel, then c (50..90), which calls d
    /// (55..60). The path: the root, c (last to end), then b (ended before c began; a ended
    /// before b ended but overlaps it: b is what the root waited on), and d within c.
    #[test]
    fn the_critical_path_follows_what_each_span_waited_on() {
        let tree = trace_tree(
            TraceId([1; 16]),
            vec![
                span(1, None, 0, 100),
                span(2, Some(1), 0, 30),
                span(3, Some(1), 10, 40),
                span(4, Some(1), 50, 90),
                span(5, Some(4), 55, 60),
            ],
        );
        let on: Vec<&str> = tree.spans.iter().filter(|s| s.critical).map(|s| s.span.name.as_str()).collect();
        assert_eq!(on, ["s1", "s3", "s4", "s5"]);
    }
}

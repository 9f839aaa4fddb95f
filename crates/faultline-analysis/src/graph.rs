//! Trace structure over a span table: each span's parent and children by index, spans grouped by
//! trace, and which spans answer requests.

use crate::hash::HashMap;
use crate::spans::{SpanTable, NONE};
use faultline_model::SpanKind;

pub struct Graph {
    /// Parent's index, `NONE` for roots and for spans whose parent is missing.
    pub parent: Vec<u32>,
    /// Children of span i: `child_list[child_start[i]..child_start[i + 1]]`.
    child_start: Vec<u32>,
    child_list: Vec<u32>,
    /// Span indices grouped by trace: `trace_spans[trace_start[k]..trace_start[k + 1]]`.
    pub trace_start: Vec<u32>,
    pub trace_spans: Vec<u32>,
}

impl Graph {
    pub fn build(t: &SpanTable) -> Graph {
        let n = t.len();
        let (trace_start, trace_spans) = group_by_trace(t);
        let mut parent = vec![NONE; n];
        let mut local: HashMap<[u8; 8], u32> = HashMap::default();
        for w in trace_start.windows(2) {
            let spans = &trace_spans[w[0] as usize..w[1] as usize];
            link_parents(t, spans, &mut local, &mut parent);
        }
        let (child_start, child_list) = children_of(&parent);
        Graph { parent, child_start, child_list, trace_start, trace_spans }
    }

    pub fn children(&self, i: usize) -> &[u32] {
        &self.child_list[self.child_start[i] as usize..self.child_start[i + 1] as usize]
    }

    pub fn traces(&self) -> impl Iterator<Item = &[u32]> {
        self.trace_start.windows(2).map(|w| &self.trace_spans[w[0] as usize..w[1] as usize])
    }

    pub fn parent_service(&self, t: &SpanTable, i: usize) -> Option<u32> {
        let p = self.parent[i];
        (p != NONE).then(|| t.service[p as usize])
    }

    /// Server and consumer spans, and spans of unknown kind that are roots or whose parent belongs
    /// to another service (real data often has no kind).
    pub fn answers_request(&self, t: &SpanTable, i: usize) -> bool {
        match t.kind[i] {
            SpanKind::Server | SpanKind::Consumer => true,
            SpanKind::Unspecified => self.parent_service(t, i).is_none_or(|p| p != t.service[i]),
            _ => false,
        }
    }

    /// A request's entry: it answers a request and has no parent span at all.
    pub fn is_entry(&self, t: &SpanTable, i: usize) -> bool {
        t.parent[i].is_none() && self.answers_request(t, i)
    }

    /// Whether call span i (client or producer) was answered by a span of another service.
    pub fn answered(&self, t: &SpanTable, i: usize) -> bool {
        self.children(i).iter().any(|&c| t.service[c as usize] != t.service[i])
    }

    /// Time span i spent itself: its duration less the union of its children's intervals (clipped
    /// to its own, so a skewed child clock does not make it negative).
    pub fn self_time(&self, t: &SpanTable, i: usize) -> i64 {
        let (s, e) = (t.start[i], t.end(i));
        let mut iv: Vec<(i64, i64)> = self
            .children(i)
            .iter()
            .map(|&c| (t.start[c as usize].max(s), t.end(c as usize).min(e)))
            .filter(|(a, b)| b > a)
            .collect();
        if iv.is_empty() {
            return e - s;
        }
        iv.sort_unstable();
        let (mut covered, mut cur) = (0i64, iv[0]);
        for &(a, b) in &iv[1..] {
            if a > cur.1 {
                covered += cur.1 - cur.0;
                cur = (a, b);
            } else {
                cur.1 = cur.1.max(b);
            }
        }
        covered += cur.1 - cur.0;
        (e - s - covered).max(0)
    }
}

/// Above this many spans, a trace's parents are found through a map rather than by scanning it.
/// Most traces are a few dozen spans, where a scan of their ids beats hashing.
const SCAN_PARENTS_UP_TO: usize = 32;

/// Span indices grouped by trace id (ascending), each trace's spans in table order: the start of
/// each group, ending with the total, and the indices.
fn group_by_trace(t: &SpanTable) -> (Vec<u32>, Vec<u32>) {
    let mut keyed: Vec<(u128, u32)> =
        t.trace_id.iter().enumerate().map(|(i, id)| (u128::from_be_bytes(*id), i as u32)).collect();
    keyed.sort_unstable();
    let mut trace_start = Vec::new();
    for (k, w) in keyed.iter().enumerate() {
        if k == 0 || keyed[k - 1].0 != w.0 {
            trace_start.push(k as u32);
        }
    }
    trace_start.push(keyed.len() as u32);
    (trace_start, keyed.into_iter().map(|(_, i)| i).collect())
}

/// Sets the parent of each span of one trace to the index of the span its parent id names
/// (`NONE` when that span is missing or is the span itself).
fn link_parents(t: &SpanTable, spans: &[u32], local: &mut HashMap<[u8; 8], u32>, parent: &mut [u32]) {
    let by_scan = spans.len() <= SCAN_PARENTS_UP_TO;
    if !by_scan {
        local.clear();
        local.extend(spans.iter().map(|&i| (t.span_id[i as usize], i)));
    }
    for &i in spans {
        let Some(p) = t.parent[i as usize] else { continue };
        let found = if by_scan {
            spans.iter().rev().copied().find(|&j| t.span_id[j as usize] == p)
        } else {
            local.get(&p).copied()
        };
        parent[i as usize] = found.filter(|&j| j != i).unwrap_or(NONE);
    }
}

/// Children lists from parents: where each span's children start in the list, and the list.
fn children_of(parent: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let n = parent.len();
    let mut counts = vec![0u32; n + 1];
    for &p in parent {
        if p != NONE {
            counts[p as usize + 1] += 1;
        }
    }
    for i in 0..n {
        counts[i + 1] += counts[i];
    }
    let child_start = counts.clone();
    let mut fill = counts;
    let mut child_list = vec![0u32; child_start[n] as usize];
    for (i, &p) in parent.iter().enumerate() {
        if p != NONE {
            child_list[fill[p as usize] as usize] = i as u32;
            fill[p as usize] += 1;
        }
    }
    (child_start, child_list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit::span;
    use crate::spans::SpanTableBuilder;
    use faultline_model::schema::spans_to_batch;

    fn table(spans: &[faultline_model::Span]) -> SpanTable {
        let mut b = SpanTableBuilder::default();
        b.push(&spans_to_batch(spans));
        b.finish()
    }

    /// A chain of `n` spans in trace `trace`, span k the parent of span k+1, listed backwards so
    /// that children come before their parents; plus one span whose parent is missing.
    fn chain(trace: u128, n: u64) -> Vec<faultline_model::Span> {
        let mut v: Vec<_> =
            (1..=n).rev().map(|k| span(trace, k, (k > 1).then(|| k - 1), "svc", k as i64, 10)).collect();
        v.push(span(trace, 1000, Some(999), "svc", 0, 1));
        v
    }

    /// Short traces are linked by scanning, long ones through a map: both give the same parents,
    /// and a span id shared by two traces never links across them.
    #[test]
    fn parents_are_found_within_the_trace_by_scan_and_by_map() {
        let long = SCAN_PARENTS_UP_TO as u64 + 8;
        for n in [3, long] {
            let mut spans = chain(1, n);
            spans.extend(chain(2, n));
            let t = table(&spans);
            let g = Graph::build(&t);
            assert_eq!(g.traces().count(), 2);
            for i in 0..t.len() {
                let own = u64::from_be_bytes(t.span_id[i]);
                let want = (own > 1 && own != 1000).then(|| own - 1);
                let got = (g.parent[i] != NONE).then(|| {
                    let p = g.parent[i] as usize;
                    assert_eq!(t.trace_id[p], t.trace_id[i], "parent in another trace");
                    u64::from_be_bytes(t.span_id[p])
                });
                assert_eq!(got, want, "span {own} of a trace of {n}");
            }
            let root = (0..t.len()).find(|&i| u64::from_be_bytes(t.span_id[i]) == 1).unwrap();
            assert_eq!(g.children(root).len(), 1);
        }
    }
}

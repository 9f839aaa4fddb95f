//! Trace structure over a span table: each span's parent and children by index, spans grouped by
//! trace, and which spans answer requests.

use crate::spans::{SpanTable, NONE};
use faultline_model::SpanKind;
use std::collections::HashMap;

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
        let index: HashMap<([u8; 16], [u8; 8]), u32> =
            (0..n).map(|i| ((t.trace_id[i], t.span_id[i]), i as u32)).collect();
        let parent: Vec<u32> = (0..n)
            .map(|i| match t.parent[i] {
                Some(p) => {
                    index.get(&(t.trace_id[i], p)).copied().filter(|&p| p as usize != i).unwrap_or(NONE)
                }
                None => NONE,
            })
            .collect();
        drop(index);
        let mut counts = vec![0u32; n + 1];
        for &p in &parent {
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
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&i| t.trace_id[i as usize]);
        let mut trace_start = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            if k == 0 || t.trace_id[order[k - 1] as usize] != t.trace_id[i as usize] {
                trace_start.push(k as u32);
            }
        }
        trace_start.push(n as u32);
        Graph { parent, child_start, child_list, trace_start, trace_spans: order }
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

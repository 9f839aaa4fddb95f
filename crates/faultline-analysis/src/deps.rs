//! The service dependency map from spans alone: caller and callee from parent/child pairs across
//! services (which works when spans have no kind), and uninstrumented peers (databases, caches,
//! external APIs) as virtual nodes from client spans no server span answers.

use crate::hash::HashSet;
use crate::spans::{SpanTable, NO_PEER};
use std::collections::BTreeMap;

/// Calls on one edge.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Edge {
    pub calls: u64,
    pub errors: u64,
    /// Durations seen by the caller, sorted, for percentiles.
    #[serde(skip)]
    pub durations: Vec<i64>,
    /// The callee is not instrumented: known only from its callers' client spans.
    pub virtual_callee: bool,
}

impl Edge {
    pub fn p99_ns(&self) -> i64 {
        if self.durations.is_empty() {
            return 0;
        }
        self.durations[((self.durations.len() - 1) as f64 * 0.99).round() as usize]
    }
}

/// Edges (caller, callee) by interned name, over spans starting in `[from, to)`.
pub fn dependency_map(t: &SpanTable, from: i64, to: i64) -> BTreeMap<(u32, u32), Edge> {
    dependency_map_in(t, &crate::graph::Graph::build(t), from, to)
}

/// [`dependency_map`] over an already built [`Graph`](crate::graph::Graph).
pub fn dependency_map_in(
    t: &SpanTable,
    g: &crate::graph::Graph,
    from: i64,
    to: i64,
) -> BTreeMap<(u32, u32), Edge> {
    // Spans that have a child in another service: their call was answered by an instrumented peer.
    let mut answered: HashSet<usize> = HashSet::default();
    let mut edges: BTreeMap<(u32, u32), Edge> = BTreeMap::new();
    for i in 0..t.len() {
        let pi = g.parent[i];
        if pi == crate::spans::NONE {
            continue;
        }
        let pi = pi as usize;
        if t.service[pi] == t.service[i] {
            continue;
        }
        answered.insert(pi);
        if t.start[i] < from || t.start[i] >= to {
            continue;
        }
        let e = edges.entry((t.service[pi], t.service[i])).or_default();
        e.calls += 1;
        // As the caller saw it (a 404 fails the client span, not the server's), when the caller
        // recorded the call as a span of its own.
        let call_span = t.is_call(pi);
        e.errors += if call_span { t.error[pi] || t.error[i] } else { t.error[i] } as u64;
        e.durations.push(t.duration[pi]);
    }
    let services: HashSet<u32> = t.service.iter().copied().collect();
    for i in 0..t.len() {
        if t.peer[i] == NO_PEER || answered.contains(&i) || t.start[i] < from || t.start[i] >= to {
            continue;
        }
        // A peer named like an instrumented service is that service (its server span may be lost).
        let callee = t.peer[i];
        let e = edges.entry((t.service[i], callee)).or_default();
        e.calls += 1;
        e.errors += t.error[i] as u64;
        e.durations.push(t.duration[i]);
        e.virtual_callee = !services.contains(&callee);
    }
    for e in edges.values_mut() {
        e.durations.sort_unstable();
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::schema::spans_to_batch;
    use faultline_sim::{Chunk, RunOptions};

    #[test]
    fn map_of_the_simulated_system() {
        let sc = faultline_sim::load("healthy").unwrap();
        let mut batches = Vec::new();
        let opts = RunOptions { rps: Some(10.0), duration_ns: Some(300_000_000_000), ..Default::default() };
        faultline_sim::run(&sc, &opts, &mut |c| {
            if let Chunk::Spans(s) = c {
                batches.push(spans_to_batch(&s));
            }
        });
        let t = SpanTable::from_batches(&batches);
        let map = dependency_map(&t, i64::MIN, i64::MAX);
        let edge = |a: &str, b: &str| map.get(&(t.names.get(a).unwrap(), t.names.get(b).unwrap()));
        for (a, b) in [
            ("frontend", "auth"),
            ("frontend", "inventory"),
            ("payment", "fraud-detection"),
            ("frontend", "order-worker"),
        ] {
            let e = edge(a, b).unwrap_or_else(|| panic!("no edge {a} -> {b}"));
            assert!(e.calls > 0 && !e.virtual_callee, "{a} -> {b}");
        }
        for (a, b) in
            [("inventory", "inventory-cache"), ("fraud-detection", "fraud-api"), ("frontend", "sessions-db")]
        {
            let e = edge(a, b).unwrap_or_else(|| panic!("no edge {a} -> {b}"));
            assert!(e.virtual_callee, "{a} -> {b} is uninstrumented");
        }
        assert!(edge("auth", "frontend").is_none());
    }
}

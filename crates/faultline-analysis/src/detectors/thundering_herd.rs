//! Thundering herd: a cache that stopped serving hits, its misses hitting the store all at once.

use super::text::pct;
use super::{Detector, Finding};
use crate::hash::HashMap;
use crate::pattern::{EvidenceKind, Pattern};
use crate::signals::Signals;
use crate::spans::{SpanTable, NONE};

/// A cache that stopped answering, and what the misses did to the database behind it.
#[derive(Debug, Clone)]
pub struct Herd {
    pub cache: u32,
    pub hit_before: f64,
    pub hit_after: f64,
    /// The query repeated most in one second during the incident, with that count and the
    /// baseline's most in one second.
    pub query: Option<(u32, u64, u64)>,
    pub store: Option<u32>,
}

pub fn thundering_herd(t: &SpanTable, baseline: (i64, i64), incident: (i64, i64)) -> Vec<Herd> {
    let mut hits: HashMap<u32, [(u64, u64); 2]> = HashMap::default();
    let mut per_second: HashMap<(u32, u32, i64), [u64; 2]> = HashMap::default();
    for i in 0..t.len() {
        if !t.is_client_call(i) {
            continue;
        }
        let w = match crate::localise::side_at(t.start[i], baseline, incident) {
            crate::localise::NO_SIDE => continue,
            w => w as usize,
        };
        let a = t.attr_info(i);
        // A lookup that failed (timed out, refused, cut off) is not a miss: the cache did not
        // lose its entries, the way to it broke (that is another detector's finding).
        if let Some(h) = a.cache_hit.filter(|_| !t.error[i]) {
            let e = &mut hits.entry(t.peer[i]).or_default()[w];
            e.0 += h as u64;
            e.1 += 1;
        }
        if a.query != NONE {
            per_second.entry((t.peer[i], a.query, t.start[i] / 1_000_000_000)).or_default()[w] += 1;
        }
    }
    let mut max_q: HashMap<(u32, u32), [u64; 2]> = HashMap::default();
    for ((store, q, _), c) in per_second {
        let m = max_q.entry((store, q)).or_default();
        m[0] = m[0].max(c[0]);
        m[1] = m[1].max(c[1]);
    }
    let burst = max_q
        .into_iter()
        .filter(|(_, m)| m[1] >= 10 && m[1] as f64 >= 3.0 * m[0].max(1) as f64)
        .max_by_key(|(_, m)| m[1] * 1000 / m[0].max(1));
    let mut out = Vec::new();
    for (cache, [b, i]) in hits {
        if b.1 < 50 || i.1 < 50 {
            continue;
        }
        let (hb, hi) = (b.0 as f64 / b.1 as f64, i.0 as f64 / i.1 as f64);
        if hb - hi >= 0.2 && hi < 0.8 * hb {
            out.push(Herd {
                cache,
                hit_before: hb,
                hit_after: hi,
                query: burst.map(|((_, q), m)| (q, m[1], m[0])),
                store: burst.map(|((s, _), _)| s),
            });
        }
    }
    out
}

pub struct ThunderingHerd;

impl Detector for ThunderingHerd {
    fn name(&self) -> &'static str {
        "thundering_herd"
    }

    fn detect(&self, s: &Signals<'_>) -> Vec<Finding> {
        let Some(baseline) = s.baseline.filter(|_| s.symptom_found()) else { return vec![] };
        let name = |id: u32| s.name(id);
        thundering_herd(s.spans, baseline.pair(), s.incident.pair())
            .into_iter()
            .map(|h| {
                let cache = name(h.cache);
                // Stronger the more hits were lost.
                let mut f = Finding::cause(&cache, 1.0 + (h.hit_before - h.hit_after));
                f.pattern(Pattern::ThunderingHerd);
                f.summary = format!(
                    "{cache} stopped serving hits ({} -> {}); the misses went to {} all at once",
                    pct(h.hit_before),
                    pct(h.hit_after),
                    h.store.map(name).unwrap_or_else(|| "the database".into())
                );
                f.evidence(
                    EvidenceKind::Traces,
                    format!(
                        "cache hit ratio of calls to {cache}: {} in the baseline, {} in the incident",
                        pct(h.hit_before),
                        pct(h.hit_after)
                    ),
                    vec![],
                );
                if let (Some((q, n, nb)), Some(store)) = (h.query, h.store) {
                    f.evidence(
                        EvidenceKind::Traces,
                        format!(
                            "{n} identical queries to {} in one second (baseline at most {nb}): {}",
                            name(store),
                            name(q)
                        ),
                        vec![],
                    );
                }
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testkit;

    #[test]
    fn finds_its_scenario_and_nothing_on_a_healthy_run() {
        let (found, healthy) = testkit::on(&ThunderingHerd, "cache-flush-herd");
        assert!(healthy.is_empty(), "{healthy:?}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].service, testkit::truth("cache-flush-herd"));
    }
}

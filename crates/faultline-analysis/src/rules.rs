//! The simple rules: services ranked by how much their own time per request grew, and by how much
//! their own error rate grew, incident side against baseline side. Published work finds that such
//! rules match far more elaborate root-cause methods; faultline must never lose to them. They are
//! the investigation's floor where a window is named and nothing passes the significance bars
//! (a few requests, a mild fault), and the yardstick the accuracy benchmarks print beside it.

use crate::localise::Attribution;

/// Smallest growth of a node's own time per request that counts as a change (ns): below a
/// millisecond is timer and scheduling jitter on any real system.
pub const MIN_OWN_TIME_GROWTH_NS: f64 = 1e6;
/// Smallest growth of own time per request relative to the baseline's that counts: a node that
/// takes 200 ms per request and now 201 ms did not change.
pub const MIN_OWN_TIME_GROWTH_RATIO: f64 = 0.2;
/// Smallest growth of a node's own error rate that counts (one request in a hundred more fails).
pub const MIN_OWN_ERROR_GROWTH: f64 = 0.01;
/// Fewest own errors on the incident side for an error growth to count: one failure is an accident.
pub const MIN_OWN_ERRORS: u64 = 2;
/// Least z of a growth (two-proportion z for errors, Welch's z of the mean own time of its spans
/// for time) for it to count: a 3-minute window of a quiet node sees two noise errors, or a slow
/// span or two, by chance; a real change on a handful of requests (two normal, seven 300 ms
/// slower) is far above it.
pub const MIN_GROWTH_Z: f64 = 3.0;

/// Welch's z of the mean of the incident side's own times against the baseline side's.
fn mean_z(b: &[i64], i: &[i64]) -> f64 {
    let stats = |v: &[i64]| {
        let n = v.len().max(1) as f64;
        let m = v.iter().sum::<i64>() as f64 / n;
        let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (m, var / n)
    };
    if b.is_empty() || i.is_empty() {
        return 0.0;
    }
    let ((mb, vb), (mi, vi)) = (stats(b), stats(i));
    // A floor on the spread: identical durations on both sides are not infinitely certain.
    (mi - mb) / (vb + vi).sqrt().max(0.01 * mb.abs().max(1e3))
}

/// Each node's growth of own time per request (ns), largest first; only growths that count.
/// `requests` are the entry requests on the (baseline, incident) sides.
pub fn own_time_growth(a: &Attribution, requests: [usize; 2]) -> Vec<(u32, f64)> {
    let excess = crate::localise::excess_per_request(a, requests);
    let mut v: Vec<(u32, f64)> = excess
        .into_iter()
        .filter(|&(id, x)| {
            let nd = &a.nodes[&id];
            let before = nd.total[0].self_ns.iter().sum::<i64>() as f64 / requests[0].max(1) as f64;
            x >= MIN_OWN_TIME_GROWTH_NS
                && x >= MIN_OWN_TIME_GROWTH_RATIO * before
                && mean_z(&nd.total[0].self_ns, &nd.total[1].self_ns) >= MIN_GROWTH_Z
        })
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Each node's growth of its own error rate, largest first; only growths that count.
pub fn own_error_growth(a: &Attribution) -> Vec<(u32, f64)> {
    let mut v: Vec<(u32, f64)> = a
        .nodes
        .iter()
        .filter(|(_, nd)| nd.total[1].errors >= MIN_OWN_ERRORS)
        .filter(|(_, nd)| {
            let (b, i) = (&nd.total[0], &nd.total[1]);
            crate::stats::two_proportion_z(b.errors, b.n, i.errors, i.n) >= MIN_GROWTH_Z
        })
        .map(|(&id, nd)| (id, nd.total[1].rate() - nd.total[0].rate()))
        .filter(|&(_, d)| d >= MIN_OWN_ERROR_GROWTH)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localise::{Node, Stat};

    fn node(before: (u64, u64, i64), after: (u64, u64, i64)) -> Node {
        let stat = |(n, errors, own): (u64, u64, i64)| Stat { n, errors, self_ns: vec![own; n as usize] };
        Node { total: [stat(before), stat(after)], ..Node::default() }
    }

    fn attribution(nodes: Vec<(u32, Node)>) -> Attribution {
        Attribution {
            node: vec![],
            instance: vec![],
            own_error: vec![],
            self_ns: vec![],
            edge: vec![],
            nodes: nodes.into_iter().collect(),
            edges: vec![],
        }
    }

    #[test]
    fn own_time_growth_separates_a_delay_from_jitter() {
        let a = attribution(vec![
            // 100 ms added to each of its requests.
            (1, node((10, 0, 20_000_000), (10, 0, 120_000_000))),
            // 0.5 ms of jitter: below the floor.
            (2, node((10, 0, 5_000_000), (10, 0, 5_500_000))),
            // 2 ms more on 200 ms: below the ratio.
            (3, node((10, 0, 200_000_000), (10, 0, 202_000_000))),
        ]);
        let g = own_time_growth(&a, [10, 10]);
        assert_eq!(g.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn two_noise_errors_in_a_short_window_are_not_a_growth() {
        // 2 errors in 150 requests against none in 150: z about 1.4.
        let a = attribution(vec![(1, node((150, 0, 1), (150, 2, 1)))]);
        assert!(own_error_growth(&a).is_empty());
    }

    #[test]
    fn own_error_growth_needs_more_than_one_failure() {
        let a = attribution(vec![
            (1, node((100, 0, 1), (100, 30, 1))),
            (2, node((100, 0, 1), (20, 1, 1))),
            (3, node((100, 5, 1), (100, 5, 1))),
        ]);
        assert_eq!(own_error_growth(&a).iter().map(|x| x.0).collect::<Vec<_>>(), vec![1]);
    }
}

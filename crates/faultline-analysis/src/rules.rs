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
/// It matters most where the sides are split by requests (few traces, no window): a request with
/// one background failure is on the incident side by construction, and against a clean baseline
/// that single failure looks like a rise (a delay injection with 11 traces ranked the one failed
/// call above the delayed service).
pub const MIN_OWN_ERRORS: u64 = 2;
/// Least z of an error growth (two-proportion z) for it to count: a 3-minute window of a quiet node
/// sees two noise errors by chance.
pub const MIN_GROWTH_Z: f64 = 3.0;
/// Largest chance (one-sided p of a pooled t test on the node's own time per request) of a time
/// growth for it to count: the tail of z = 3. Per request, not per span: the spans of one request
/// share its fate (a slow request's ten calls to a service are one observation), and counting them
/// apart made a few slow requests look like many. As a t test it asks more of a handful of
/// requests than of thousands: on the few-traces benchmark's healthy twins a z of 3 called one case
/// in seven an incident (two or three spans a side pass it by chance); a real delay on a handful
/// (two normal, seven 300 ms slower) is far below it. On the plain scale, not the log: a log
/// scale keeps one outlier from hiding a delay, but it also took the heavy tails that make a
/// plain t test cautious with a handful of healthy values, and tripled the false alarms of the
/// few-traces healthy twins asked over a slow stretch (2 to 8 of 378).
pub const MAX_GROWTH_P: f64 = 0.00135;

/// Largest chance of a time growth for it to count where a symptom was already found at the
/// user-facing endpoints: the question is no longer whether anything changed (the symptom's own
/// test answered it) but which node's change explains it, and the candidates rank by how much time
/// they added. The tail of z = 1.64, under the t test or the rank-sum test (a time-out among a
/// handful of slow requests inflates the t test's variance; ranks do not see it). A delay whose few requests include one that waited out a
/// time-out (a 4 s outlier among 400 ms ones beside a 21 ms baseline of three) has a plain t of 2,
/// far from [`MAX_GROWTH_P`]; healthy twins do not reach this bar because they have no symptom.
pub const MAX_EXPLAINING_P: f64 = 0.05;

/// How a node's growth of own time is tested before it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowthTest {
    /// Is anything changed at all: p under [`MAX_GROWTH_P`].
    Detect,
    /// Which node explains a symptom already found: p under [`MAX_EXPLAINING_P`].
    Explain,
    /// The sides are slow or failing requests against the others: no test (see `own_time_growth`).
    None,
}

impl GrowthTest {
    fn passes(self, b: &[i64], i: &[i64]) -> bool {
        match self {
            GrowthTest::Detect => growth_p(b, i) <= MAX_GROWTH_P,
            GrowthTest::Explain => {
                growth_p(b, i) <= MAX_EXPLAINING_P || crate::stats::rank_sum_upper_p(b, i) <= MAX_EXPLAINING_P
            }
            GrowthTest::None => true,
        }
    }
}

/// One-sided p of the incident side's own times per request having a larger mean than the
/// baseline side's.
fn growth_p(b: &[i64], i: &[i64]) -> f64 {
    if b.is_empty() {
        return 1.0;
    }
    let mb = b.iter().sum::<i64>() as f64 / b.len() as f64;
    // A floor on the spread: identical durations on both sides are not infinitely certain.
    let floor = 0.01 * mb.abs().max(1e3);
    let plain = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    crate::stats::t_upper_p(&plain(b), &plain(i), floor)
}

/// Each node's growth of own time per request (ns), largest first; only growths that count.
/// `requests` are the entry requests on the (baseline, incident) sides. `GrowthTest::None` where
/// the sides are slow or failing requests against the others, not two stretches of time. Then the
/// incident was already found (an onset), the others hold requests the delay reached too (an
/// endpoint whose slow requests did not split off), and a node none of them reached spent no time
/// in them: the growth ranks without the significance test, as the slow-trace rule does.
pub fn own_time_growth(a: &Attribution, requests: [usize; 2], test: GrowthTest) -> Vec<(u32, f64)> {
    let excess = crate::localise::excess_per_request(a, requests);
    let mut v: Vec<(u32, f64)> = excess
        .into_iter()
        .filter(|&(id, x)| {
            let nd = &a.nodes[&id];
            let before = nd.total[0].own_per_request(requests[0]);
            x >= MIN_OWN_TIME_GROWTH_NS
                && x >= MIN_OWN_TIME_GROWTH_RATIO * before
                && test.passes(&nd.total[0].per_request_ns, &nd.total[1].per_request_ns)
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
        let stat = |(n, errors, own): (u64, u64, i64)| Stat {
            n,
            errors,
            self_ns: vec![own; n as usize],
            per_request_ns: vec![own; n as usize],
        };
        Node { total: [stat(before), stat(after)], ..Node::default() }
    }

    /// One request per span: the side's own times, per span and per request alike.
    fn own(n: &mut Node, side: usize, ns: Vec<i64>) {
        n.total[side].self_ns = ns.clone();
        n.total[side].per_request_ns = ns;
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
        let g = own_time_growth(&a, [10, 10], GrowthTest::Detect);
        assert_eq!(g.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_few_spans_need_more_than_a_z_of_three() {
        // MAX_GROWTH_P: three spans of 0.4-2.2 ms against two of 2.9-3.3 ms (z about 4 on the
        // sides' own spreads; a t test with three degrees of freedom: p about 0.04) is chance on a
        // quiet healthy node ...
        let mut n = node((3, 0, 0), (2, 0, 0));
        own(&mut n, 0, vec![400_000, 600_000, 2_200_000]);
        own(&mut n, 1, vec![2_900_000, 3_300_000]);
        let a = attribution(vec![(1, n)]);
        assert!(own_time_growth(&a, [3, 2], GrowthTest::Detect).is_empty());
        // ... and a 150 ms delay on seven spans against the same three is not.
        let mut n = node((3, 0, 0), (7, 0, 0));
        own(&mut n, 0, vec![400_000, 600_000, 2_200_000]);
        own(
            &mut n,
            1,
            vec![150_400_000, 151_000_000, 150_800_000, 152_000_000, 150_100_000, 151_500_000, 150_900_000],
        );
        let a = attribution(vec![(1, n)]);
        assert_eq!(own_time_growth(&a, [3, 7], GrowthTest::Detect).len(), 1);
    }

    #[test]
    fn a_few_slow_requests_are_not_many_samples() {
        // MAX_GROWTH_P counts requests: a node called ten times per request, six baseline requests
        // of about 20 ms own time and three incident ones of 25, 150 and 300 ms (p about 0.02) ...
        let mut n = node((6, 0, 0), (3, 0, 0));
        n.total[0].per_request_ns =
            vec![18_000_000, 19_000_000, 20_000_000, 20_000_000, 21_000_000, 22_000_000];
        n.total[1].per_request_ns = vec![25_000_000, 150_000_000, 300_000_000];
        n.total[0].self_ns = (0..60).map(|k| 1_700_000 + k % 7 * 100_000).collect();
        n.total[1].self_ns = [2_500_000, 15_000_000, 30_000_000].iter().flat_map(|&x| [x; 10]).collect();
        let a = attribution(vec![(1, n)]);
        assert!(own_time_growth(&a, [6, 3], GrowthTest::Detect).is_empty());
        // ... although its thirty spans against sixty would pass by far.
        let (b, i) = (&a.nodes[&1].total[0].self_ns, &a.nodes[&1].total[1].self_ns);
        assert!(growth_p(b, i) < 1e-6);
    }

    #[test]
    fn slow_requests_against_the_others_rank_by_growth_alone() {
        // Five slow requests through a delayed service that half the six others reached too,
        // delayed as well (their endpoint's requests did not split into fast and slow).
        let mut n = node((6, 0, 0), (5, 0, 0));
        own(&mut n, 0, vec![800_000, 2_100_000, 3_000_000, 131_000_000, 134_000_000, 150_000_000]);
        own(&mut n, 1, vec![150_400_000, 151_000_000, 150_800_000, 152_000_000, 150_100_000]);
        let a = attribution(vec![(1, n)]);
        assert_eq!(own_time_growth(&a, [6, 5], GrowthTest::None).len(), 1);
        // Between two stretches of time, that is no significant growth.
        assert!(own_time_growth(&a, [6, 5], GrowthTest::Detect).is_empty());
    }

    #[test]
    fn a_growth_that_explains_a_symptom_is_not_hidden_by_one_time_out() {
        // MAX_EXPLAINING_P: three requests of 4-6 ms against ten of 400 ms, one of which waited
        // out a 4 s time-out (few-traces seed 4 case 68). The time-out's variance hides the delay
        // from the t test; with a symptom found, the ranks show it.
        let mut n = node((3, 0, 0), (10, 0, 0));
        own(&mut n, 0, vec![3_600_000, 4_400_000, 5_600_000]);
        let mut slow: Vec<i64> = (0..9).map(|k| 400_000_000 + k * 1_000_000).collect();
        slow.push(4_028_000_000);
        own(&mut n, 1, slow);
        let a = attribution(vec![(1, n)]);
        assert!(own_time_growth(&a, [3, 10], GrowthTest::Detect).is_empty());
        assert_eq!(own_time_growth(&a, [3, 10], GrowthTest::Explain).len(), 1);
        // Interleaved sides explain nothing, symptom or not.
        let mut n = node((4, 0, 0), (4, 0, 0));
        own(&mut n, 0, vec![3_000_000, 9_000_000, 5_000_000, 12_000_000]);
        own(&mut n, 1, vec![4_000_000, 10_000_000, 6_000_000, 13_000_000]);
        let a = attribution(vec![(1, n)]);
        assert!(own_time_growth(&a, [4, 4], GrowthTest::Explain).is_empty());
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

//! What an investigation loads from the store, decided from the request and the data's extent: a
//! pure function the server carries out (it runs the scans, this decides their ranges).
//!
//! The window comes with as much again before it (for the symptom's onset), the baseline wherever
//! it lies (before, or after: a healthy stretch once it was fixed), and, when little precedes the
//! window, the last stretch of older data (telemetry with gaps), so that there is a baseline.

use crate::plan::{TimeRange, HOUR};

/// Spans before the window (and in the given baseline) below which the last stretch of older data
/// is loaded too: fewer make a thin baseline (at 1 request/s and a few spans per request, a few
/// minutes' worth).
pub const MIN_BASELINE_SPANS: usize = 2_000;
/// How far back older data is looked for: beyond, it is another day's system.
pub const OLDER_DATA_HORIZON: i64 = 6 * HOUR;
/// How far back an incident is looked for when no window is given.
pub const DEFAULT_LOOKBACK: i64 = HOUR;
/// Metrics and changes are loaded this long before the first range: one metric point a minute
/// needs a longer baseline, and a change an hour before the onset can still be its cause.
pub const CONTEXT_BEFORE: i64 = HOUR;

/// What the user asked, as the API and the CLI take it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadAsk {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub baseline: Option<TimeRange>,
    /// How far back to look for an incident when no window is given (default 1 h).
    pub lookback: Option<i64>,
}

/// The ranges to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub ranges: Vec<TimeRange>,
    /// The stretch just before the named window whose spans are counted (with the baseline's), to
    /// decide whether older data is needed; `None` when no window was named.
    pub before: Option<TimeRange>,
    /// Where older data is looked for when the count is short.
    pub older: Option<TimeRange>,
    /// Length of the stretch of older data loaded.
    older_len: i64,
    /// What the load had to leave out, for the report's notes.
    pub notes: Vec<String>,
}

/// Share of a read's budget a shortened look back is sized to: the estimate is taken from a
/// sample of the latest data (traffic varies over an hour), and metrics and changes are loaded
/// beside the spans and logs.
const BUDGET_SAFETY: f64 = 0.75;
/// Shortest look back a budget shortens to: less holds too few requests to find an onset in.
const MIN_LOOKBACK: i64 = 60_000_000_000;

/// What a look back costs to load, in bytes of the read's budget per nanosecond: its spans and
/// logs, and the metrics and changes loaded from `CONTEXT_BEFORE` earlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadCost {
    pub per_ns: f64,
    pub context_per_ns: f64,
}

impl LoadCost {
    /// The bytes a look back of `len` takes.
    pub fn of(self, len: i64) -> f64 {
        self.per_ns * len as f64 + self.context_per_ns * (len + CONTEXT_BEFORE) as f64
    }
}

/// How often the rows a load reads are charged to its budget: once as read, once again as the
/// analysis's tables built from them.
pub const CHARGED_TWICE: usize = 2;

impl LoadAsk {
    /// The ranges for data whose latest span starts at `latest`.
    pub fn plan(&self, latest: i64) -> Load {
        let to = self.to.unwrap_or(latest + 1);
        let mut ranges = vec![match self.from {
            Some(f) => TimeRange::new(f - (to - f).min(HOUR), to),
            None => TimeRange::new(to - self.lookback.unwrap_or(DEFAULT_LOOKBACK), to),
        }];
        ranges.extend(self.baseline);
        let len = self.from.map_or(0, |f| (to - f).min(HOUR));
        Load {
            ranges,
            before: self.from.map(|f| TimeRange::new(f - len, f)),
            older: self.from.map(|f| TimeRange::new(f - OLDER_DATA_HORIZON, f - len)),
            older_len: len,
            notes: Vec::new(),
        }
    }
}

/// `12 min`, or `45 s` under a minute.
fn minutes(ns: i64) -> String {
    if ns >= 60_000_000_000 {
        format!("{} min", ns / 60_000_000_000)
    } else {
        format!("{} s", ns / 1_000_000_000)
    }
}

impl Load {
    /// One range, nothing else.
    pub fn single(r: TimeRange) -> Load {
        Load { ranges: vec![r], before: None, older: None, older_len: 0, notes: Vec::new() }
    }

    /// With no window named, the look back shortened to its latest stretch that fits `budget`
    /// bytes at `cost` (with `BUDGET_SAFETY` to spare): on a busy system an hour does not fit a
    /// read's memory, and the latest part of it is where an on-call engineer looks first. The
    /// report's notes say so.
    pub fn fit_lookback(&mut self, cost: LoadCost, budget: usize) {
        let fits = budget as f64 * BUDGET_SAFETY;
        let Some(r) = self.ranges.first_mut().filter(|_| self.before.is_none()) else { return };
        let was = r.to - r.from;
        let need = cost.of(was);
        if need <= fits {
            return;
        }
        // fits = per_ns * len + context_per_ns * (len + CONTEXT_BEFORE)
        let len = (fits - cost.context_per_ns * CONTEXT_BEFORE as f64) / (cost.per_ns + cost.context_per_ns);
        let len = (len as i64).clamp(MIN_LOOKBACK, was);
        r.from = r.to - len;
        self.notes.push(format!(
            "the last {} of the {} looked back over were investigated: all of it would take about {} MB, beyond the read's memory budget of {} MB; name a window (--from/--to) or raise --query-memory to look further back",
            minutes(len),
            minutes(was),
            (need as usize) >> 20,
            budget >> 20
        ));
    }

    /// Whether `have` spans before the window (and in the baseline) make too thin a baseline.
    pub fn needs_older(&self, have: usize) -> bool {
        self.older.is_some() && have < MIN_BASELINE_SPANS
    }

    /// Adds the stretch of older data that ends with the span that starts at `last`.
    pub fn add_older(&mut self, last: i64) {
        self.ranges.push(TimeRange::new(last + 1 - self.older_len, last + 1));
    }

    /// The ranges sorted, overlaps merged, empty ones dropped.
    pub fn merged(&self) -> Vec<TimeRange> {
        let mut v: Vec<TimeRange> = self.ranges.iter().copied().filter(|r| !r.is_empty()).collect();
        v.sort_unstable_by_key(|r| (r.from, r.to));
        let mut out: Vec<TimeRange> = Vec::new();
        for r in v {
            match out.last_mut() {
                Some(last) if r.from <= last.to => last.to = last.to.max(r.to),
                _ => out.push(r),
            }
        }
        out
    }

    /// From the first range's start to the last one's end.
    pub fn extent(&self) -> TimeRange {
        let (a, b) = self.ranges.iter().fold((i64::MAX, i64::MIN), |a, w| (a.0.min(w.from), a.1.max(w.to)));
        TimeRange::new(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000_000;

    #[test]
    fn a_named_window_loads_as_much_again_before_it_and_its_baseline() {
        let base = TimeRange::new(0, 10 * MINUTE);
        let ask = LoadAsk {
            from: Some(100 * MINUTE),
            to: Some(110 * MINUTE),
            baseline: Some(base),
            lookback: None,
        };
        let load = ask.plan(500 * MINUTE);
        assert_eq!(load.ranges, vec![TimeRange::new(90 * MINUTE, 110 * MINUTE), base]);
        assert_eq!(load.before, Some(TimeRange::new(90 * MINUTE, 100 * MINUTE)));
        assert_eq!(load.merged().len(), 2);
    }

    #[test]
    fn no_window_loads_the_lookback_before_the_latest_data_and_never_older_data() {
        let load = LoadAsk::default().plan(100 * MINUTE);
        assert_eq!(load.ranges, vec![TimeRange::new(100 * MINUTE + 1 - HOUR, 100 * MINUTE + 1)]);
        assert!(!load.needs_older(0));
    }

    #[test]
    fn with_no_window_the_lookback_shrinks_to_what_the_budget_holds() {
        // A megabyte a minute of spans and logs, and a tenth of that of metrics.
        let mb_per_min = (1 << 20) as f64 / MINUTE as f64;
        let cost = LoadCost { per_ns: mb_per_min, context_per_ns: 0.1 * mb_per_min };
        let mut load = LoadAsk::default().plan(100 * MINUTE);
        load.fit_lookback(cost, 200 << 20);
        assert_eq!(load.ranges[0].to - load.ranges[0].from, HOUR);
        assert!(load.notes.is_empty());
        // BUDGET_SAFETY: 30 MB of 40 fit; 6 MB of it go to the metrics of the hour before, the
        // rest to 21.8 minutes of spans, logs and their metrics.
        load.fit_lookback(cost, 40 << 20);
        let len = load.ranges[0].to - load.ranges[0].from;
        assert_eq!(len / MINUTE, 21, "{len}");
        let note = &load.notes[0];
        assert!(note.starts_with("the last 21 min of the 60 min looked back over"), "{note}");
        // MIN_LOOKBACK: never less than a minute.
        let mut load = LoadAsk::default().plan(100 * MINUTE);
        load.fit_lookback(cost, 1 << 20);
        assert_eq!(load.ranges[0].to - load.ranges[0].from, MINUTE);
        // A named window is the user's: it is never cut.
        let ask = LoadAsk { from: Some(50 * MINUTE), to: Some(100 * MINUTE), ..Default::default() };
        let mut load = ask.plan(100 * MINUTE);
        let before = load.clone();
        load.fit_lookback(cost, 1 << 20);
        assert_eq!(load, before);
    }

    #[test]
    fn older_data_is_added_only_when_the_baseline_would_be_thin() {
        let ask = LoadAsk { from: Some(300 * MINUTE), to: Some(310 * MINUTE), ..Default::default() };
        let mut load = ask.plan(310 * MINUTE);
        assert!(!load.needs_older(MIN_BASELINE_SPANS));
        assert!(load.needs_older(MIN_BASELINE_SPANS - 1));
        assert_eq!(load.older, Some(TimeRange::new(300 * MINUTE - OLDER_DATA_HORIZON, 290 * MINUTE)));
        load.add_older(200 * MINUTE);
        assert_eq!(load.ranges[1], TimeRange::new(190 * MINUTE + 1, 200 * MINUTE + 1));
        assert_eq!(load.extent(), TimeRange::new(190 * MINUTE + 1, 310 * MINUTE));
    }

    #[test]
    fn merged_ranges_do_not_overlap() {
        let load = Load {
            ranges: vec![
                TimeRange::new(5, 9),
                TimeRange::new(0, 6),
                TimeRange::new(20, 30),
                TimeRange::new(7, 7),
            ],
            before: None,
            older: None,
            older_len: 0,
            notes: Vec::new(),
        };
        assert_eq!(load.merged(), vec![TimeRange::new(0, 9), TimeRange::new(20, 30)]);
    }
}

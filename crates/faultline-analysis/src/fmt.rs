//! How rates and durations are written for people, everywhere in the reports.

/// A share as a percentage with the digits it needs: `0%`, `0.012%`, `4.5%`, `37%`.
pub(crate) fn fmt_rate(r: f64) -> String {
    if r == 0.0 {
        "0%".into()
    } else if r < 0.001 {
        format!("{:.3}%", r * 100.0)
    } else if r < 0.1 {
        format!("{:.1}%", r * 100.0)
    } else {
        format!("{:.0}%", r * 100.0)
    }
}

/// Milliseconds: `0.4 ms`, `85 ms`, `1.52 s`.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

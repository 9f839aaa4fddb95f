//! Time: parsing the forms users type (`RFC 3339`, unix seconds, `now`, `-15m`) and durations.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("cannot read time {0:?}: expected RFC 3339 (2026-11-13T08:00:00Z), unix seconds, `now` or a relative time like -15m")]
    BadTime(String),
    #[error("cannot read duration {0:?}: expected a number with a unit, like 500ms, 90s, 10m, 2h or 1d")]
    BadDuration(String),
}

/// Parses a duration such as `500ms`, `1.5s`, `90s`, `10m`, `2h`, `1d`, `250us`, `100ns` into
/// nanoseconds; Go's compound form (`1h30m`, `2m3.5s`, as Jaeger clients send) is the sum of its
/// parts.
pub fn parse_duration_ns(s: &str) -> Result<i64, TimeError> {
    let bad = || TimeError::BadDuration(s.to_string());
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let is_num = |c: char| c.is_ascii_digit() || c == '.';
        let num_end = rest.find(|c: char| !is_num(c)).ok_or_else(bad)?;
        let unit_end = rest[num_end..].find(is_num).map_or(rest.len(), |k| num_end + k);
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        total += n * unit_ns(rest[num_end..unit_end].trim()).ok_or_else(bad)?;
        rest = &rest[unit_end..];
    }
    Ok(total.round() as i64)
}

/// Nanoseconds in one of a duration's units.
fn unit_ns(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" | "sec" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        "w" => 7.0 * 86400e9,
        _ => return None,
    })
}

/// Parses a point in time relative to `now_ns`: RFC 3339, unix seconds (with fractions), `now`, or
/// `-15m` / `+1h` relative to now.
pub fn parse_time_ns(s: &str, now_ns: i64) -> Result<i64, TimeError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ns);
    }
    if let Some(rest) = t.strip_prefix('-') {
        if rest.chars().last().is_some_and(|c| c.is_ascii_alphabetic()) {
            return Ok(now_ns - parse_duration_ns(rest)?);
        }
    }
    if let Some(rest) = t.strip_prefix('+') {
        return Ok(now_ns + parse_duration_ns(rest)?);
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Ok((secs * 1e9).round() as i64);
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_nanos_opt().unwrap_or(i64::MAX))
        .map_err(|_| TimeError::BadTime(s.to_string()))
}

/// Parses an RFC 3339 time alone (fractions to the nanosecond), as protobuf's JSON `Timestamp`.
pub fn parse_rfc3339_ns(s: &str) -> Result<i64, TimeError> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
        .ok_or_else(|| TimeError::BadTime(s.to_string()))
}

/// Current time in unix nanoseconds.
pub fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// Formats unix nanoseconds as RFC 3339 in UTC, with as many sub-second digits as needed.
pub fn format_rfc3339(ns: i64) -> String {
    Utc.timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats unix nanoseconds as RFC 3339 in UTC, to the second.
pub fn format_rfc3339_secs(ns: i64) -> String {
    Utc.timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats a duration in nanoseconds for people: `850ns`, `12.3ms`, `1.25s`, `3m20s`.
pub fn format_duration(ns: i64) -> String {
    let a = ns.unsigned_abs() as f64;
    let sign = if ns < 0 { "-" } else { "" };
    if a < 1e3 {
        format!("{sign}{a}ns")
    } else if a < 1e6 {
        format!("{sign}{:.1}µs", a / 1e3)
    } else if a < 1e9 {
        format!("{sign}{:.1}ms", a / 1e6)
    } else if a < 60e9 {
        format!("{sign}{:.2}s", a / 1e9)
    } else {
        let secs = (a / 1e9) as u64;
        format!("{sign}{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        let now = 1_700_000_000_000_000_000;
        assert_eq!(parse_time_ns("now", now).unwrap(), now);
        assert_eq!(parse_time_ns("-15m", now).unwrap(), now - 900_000_000_000);
        assert_eq!(parse_time_ns("1700000000", now).unwrap(), now);
        assert_eq!(parse_time_ns("2023-11-14T22:13:20Z", 0).unwrap(), 1_700_000_000_000_000_000);
        assert!(parse_time_ns("yesterday", now).is_err());
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("1.5s").unwrap(), 1_500_000_000);
        assert!(parse_duration_ns("5 parsecs").is_err());
        assert_eq!(parse_duration_ns("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration_ns("2m3.5s").unwrap(), 123_500_000_000);
        assert_eq!(parse_duration_ns("1m500ms").unwrap(), 60_500_000_000);
        for bad in ["", "s", "10", "1h30", "1.2.3s", "-5s"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_duration(12_345_678), "12.3ms");
    }
}

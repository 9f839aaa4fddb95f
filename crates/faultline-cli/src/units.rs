//! The values of flags and config settings: sizes (`64MB`), durations (`30s`, `off`) and addresses
//! (`127.0.0.1:4317`, `off`).

use anyhow::Context;
use std::time::Duration;

/// Parses sizes like `64MB`, `2GiB`, `500k`, `1048576`.
pub fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("cannot read size {s:?}: expected e.g. 64MB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => anyhow::bail!("cannot read size {s:?}: unknown unit {other:?}"),
    };
    Ok((n * mult as f64) as u64)
}

pub fn duration(s: &str, what: &str) -> anyhow::Result<Option<Duration>> {
    if s.eq_ignore_ascii_case("off") || s == "0" {
        return Ok(None);
    }
    let ns = faultline_model::time::parse_duration_ns(s).with_context(|| format!("--{what}"))?;
    Ok(Some(Duration::from_nanos(ns.max(0) as u64)))
}

pub fn addr(s: &str, what: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .with_context(|| format!("--{what}: expected an address like 127.0.0.1:4317, got {s:?}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(super::parse_bytes("1.5k").unwrap(), 1536);
        assert!(super::parse_bytes("lots").is_err());
    }
}

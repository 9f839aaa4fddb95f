//! The names the report uses: failure patterns (../shared/contracts/investigation.md) and the kinds
//! of evidence. Typed here, serialised as the contract's names.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The name the report and the contract use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value with this contract name.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

named_enum! {
    /// A failure pattern a root cause or a finding names.
    Pattern {
        BadDeploy => "bad_deploy",
        BadConfigChange => "bad_config_change",
        FaultyInstance => "faulty_instance",
        CascadingFailure => "cascading_failure",
        DependencyFailure => "dependency_failure",
        ExternalDependency => "external_dependency",
        NetworkPartition => "network_partition",
        ThunderingHerd => "thundering_herd",
        ClockSkew => "clock_skew",
        ResourceExhaustion => "resource_exhaustion",
        ConnectionPoolExhaustion => "connection_pool_exhaustion",
        CpuSaturation => "cpu_saturation",
        MemoryLeak => "memory_leak",
        DiskFull => "disk_full",
        RetryStorm => "retry_storm",
        TrafficSpike => "traffic_spike",
        DnsFailure => "dns_failure",
        CodeException => "code_exception",
        LatencyInjection => "latency_injection",
        NetworkDelay => "network_delay",
        BadResponse => "bad_response",
    }
}

named_enum! {
    /// The signal a claim of evidence (or a timeline entry) rests on.
    EvidenceKind {
        Traces => "traces",
        Logs => "logs",
        Metrics => "metrics",
        Changes => "changes",
    }
}

/// Patterns as a list for people: `a, b, c`.
pub fn joined(patterns: &[Pattern]) -> String {
    patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_json_as_the_contract_spells_them() {
        for &p in Pattern::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Pattern>(&json).unwrap(), p);
            assert_eq!(Pattern::parse(p.as_str()), Some(p));
        }
        assert_eq!(serde_json::to_string(&EvidenceKind::Logs).unwrap(), "\"logs\"");
        assert!(serde_json::from_str::<Pattern>("\"not_a_pattern\"").is_err());
    }

    #[test]
    fn every_pattern_the_contract_lists_is_a_value() {
        let contract = "bad_deploy bad_config_change faulty_instance cascading_failure dependency_failure \
            external_dependency network_partition thundering_herd clock_skew resource_exhaustion \
            connection_pool_exhaustion cpu_saturation memory_leak disk_full retry_storm traffic_spike \
            dns_failure code_exception latency_injection network_delay bad_response";
        for name in contract.split_whitespace() {
            assert!(Pattern::parse(name).is_some(), "{name}");
        }
        assert_eq!(Pattern::ALL.len(), contract.split_whitespace().count());
    }
}

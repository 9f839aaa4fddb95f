//! Change events: deploys, config changes, infrastructure changes, feature flags.

use crate::Attributes;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Deploy,
    Config,
    Infra,
    FeatureFlag,
    Dependency,
    Scale,
    #[default]
    Other,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 7] = [
        ChangeKind::Deploy,
        ChangeKind::Config,
        ChangeKind::Infra,
        ChangeKind::FeatureFlag,
        ChangeKind::Dependency,
        ChangeKind::Scale,
        ChangeKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Deploy => "deploy",
            ChangeKind::Config => "config",
            ChangeKind::Infra => "infra",
            ChangeKind::FeatureFlag => "feature_flag",
            ChangeKind::Dependency => "dependency",
            ChangeKind::Scale => "scale",
            ChangeKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        ChangeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A change to the system: what changed, where, when, from which version to which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub id: String,
    /// When the change took effect, unix nanoseconds.
    pub time_unix_nano: i64,
    pub service: String,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub kind: ChangeKind,
    #[serde(default)]
    pub version_before: Option<String>,
    #[serde(default)]
    pub version_after: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

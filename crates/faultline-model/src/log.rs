//! Log records.

use crate::{Attributes, ResourceInfo, SpanId, TraceId};
use serde::{Deserialize, Serialize};

/// One log record, flattened with its resource and scope. `body` is the body as text: a string body
/// as is, any other body as its JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub time_unix_nano: i64,
    pub observed_time_unix_nano: i64,
    /// 0 when unknown (as in much real data); 1-24 as OpenTelemetry defines.
    pub severity_number: i32,
    #[serde(default)]
    pub severity_text: String,
    pub body: String,
    #[serde(default)]
    pub attributes: Attributes,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    #[serde(default)]
    pub flags: u32,
    #[serde(default)]
    pub event_name: String,
    #[serde(flatten)]
    pub resource: std::sync::Arc<ResourceInfo>,
}

impl LogRecord {
    /// The record's time for ordering and windows: its own time, else when it was observed.
    pub fn effective_time(&self) -> i64 {
        if self.time_unix_nano != 0 {
            self.time_unix_nano
        } else {
            self.observed_time_unix_nano
        }
    }
}

/// Maps a level word (`ERROR`, `warn`, `Information`, `fatal`, `E`...) to an OpenTelemetry severity
/// number; 0 when the word is not a level.
pub fn severity_from_text(level: &str) -> i32 {
    match level.trim().to_ascii_lowercase().as_str() {
        "trace" | "trc" | "trce" | "finest" | "finer" | "verbose" | "vrb" => 1,
        "debug" | "dbg" | "dbug" | "d" | "fine" | "config" => 5,
        "info" | "information" | "informational" | "inf" | "i" | "notice" => 9,
        "warn" | "warning" | "wrn" | "w" => 13,
        // `eror` is log15's, `fail` .NET's console logger's.
        "error" | "err" | "eror" | "fail" | "e" | "severe" | "critical" | "crit" | "alert" => 17,
        "fatal" | "ftl" | "panic" | "emerg" | "emergency" | "f" => 21,
        _ => 0,
    }
}

/// The canonical short text of a severity number (`ERROR` for 17-20 and so on).
pub fn severity_text_of(number: i32) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

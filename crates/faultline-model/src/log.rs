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

/// Leading tokens of a plain-text line searched for its level: time stamps, a thread and a logger
/// name can come before it (`05:18:42.995 [main] ERROR c.e.Svc - ...`), the message comes after.
const LEVEL_TOKENS: usize = 6;

/// The severity number of the level written inside a line, 0 when it names none: a JSON line's
/// `level` (or `severity`, `lvl`...) field, text or number (pino's 30/40/50); glog's `E1207`; else
/// a level word among the first [`LEVEL_TOKENS`] tokens (`ERROR`, `[error]`, `level=warn`,
/// `[core:error]`, `ERROR:root:`, `fail:`). A lowercase word counts only while the line's header
/// lasts (time stamps, ids, bracketed threads: `User alert set` is no alert) or when marked as a
/// level by brackets, `=`, `:` or quotes. An INFO line that mentions an error is not an error report.
pub fn severity_in_text(body: &str) -> i32 {
    if let Some(level) = severity_in_json(body) {
        return level;
    }
    // Whether every token so far was a header's (a time, an id, a bracketed thread).
    let mut header = false;
    for (k, tok) in body.split_whitespace().take(LEVEL_TOKENS).enumerate() {
        if k == 0 {
            if let Some(level) = glog_severity(tok) {
                return level;
            }
        }
        let marked = tok.contains(['[', ']', '(', ')', '<', '>', '=', ':', '"', '|', '{']);
        let caps =
            tok.bytes().any(|b| b.is_ascii_alphabetic()) && !tok.bytes().any(|b| b.is_ascii_lowercase());
        let pieces = tok.split(|c: char| "[]()<>:,|=\"'{}".contains(c)).filter(|p| p.len() >= MIN_LEVEL_WORD);
        for piece in pieces {
            let level = severity_from_text(piece);
            if level > 0 && (marked || caps || header) {
                return level;
            }
        }
        let header_like = marked
            || tok.bytes().any(|b| b.is_ascii_digit())
            || !tok.bytes().any(|b| b.is_ascii_alphabetic());
        header = header_like && (k == 0 || header);
    }
    0
}

/// Shortest level word read inside a line: single letters (`E`, `W`) are words and initials as
/// often as levels; glog's are read by their shape (`glog_level`).
const MIN_LEVEL_WORD: usize = 3;

/// glog and klog's header: the level's initial and the date (`E1207 10:00:00.123456 1 main.go:42]`).
fn glog_severity(tok: &str) -> Option<i32> {
    let b = tok.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match b[0] {
        b'E' => Some(17),
        b'F' => Some(21),
        b'W' => Some(13),
        b'I' => Some(9),
        _ => None,
    }
}

/// Keys a JSON log line names its level by.
const JSON_LEVEL_KEYS: [&str; 7] =
    ["\"level\"", "\"severity\"", "\"lvl\"", "\"loglevel\"", "\"log.level\"", "\"levelname\"", "\"@l\""];

/// The level of a JSON line (`{"level":"error",...}`, `{"level":50,...}`), without parsing the
/// whole line.
fn severity_in_json(body: &str) -> Option<i32> {
    if !body.trim_start().starts_with('{') {
        return None;
    }
    JSON_LEVEL_KEYS.iter().find_map(|key| {
        let at = body.find(key)? + key.len();
        let rest = body[at..].trim_start().strip_prefix(':')?.trim_start();
        if let Some(text) = rest.strip_prefix('"') {
            return Some(severity_from_text(&text[..text.find('"')?])).filter(|&n| n > 0);
        }
        // pino and bunyan: 10 trace ... 30 info, 40 warn, 50 error, 60 fatal.
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<u32>().ok()? {
            n if n >= 60 => Some(21),
            50..=59 => Some(17),
            40..=49 => Some(13),
            30..=39 => Some(9),
            _ => Some(5),
        }
    })
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

//! Trace and span identifiers.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} must be {expected} bytes ({hex} hex digits), got {got} bytes")]
    WrongLength { kind: &'static str, expected: usize, hex: usize, got: usize },
    #[error("{kind} is not valid hex: {value:?}")]
    NotHex { kind: &'static str, value: String },
    #[error("{kind} is all zeros, which OpenTelemetry defines as invalid")]
    Zero { kind: &'static str },
}

macro_rules! id_type {
    ($name:ident, $len:expr, $kind:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// Parses raw bytes as they come in protobuf; rejects wrong lengths and all zeros.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    kind: $kind,
                    expected: $len,
                    hex: $len * 2,
                    got: bytes.len(),
                })?;
                if arr == [0u8; $len] {
                    return Err(IdError::Zero { kind: $kind });
                }
                Ok($name(arr))
            }

            /// Parses lowercase or uppercase hex.
            pub fn from_hex(s: &str) -> Result<Self, IdError> {
                let s = s.trim();
                if s.len() != $len * 2 {
                    return Err(IdError::WrongLength {
                        kind: $kind,
                        expected: $len,
                        hex: $len * 2,
                        got: s.len() / 2,
                    });
                }
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out)
                    .map_err(|_| IdError::NotHex { kind: $kind, value: s.to_string() })?;
                Self::from_bytes(&out)
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::from_hex(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(TraceId, 16, "trace id");
id_type!(SpanId, 8, "span id");

impl TraceId {
    /// Accepts 16-hex-digit (64-bit, as Zipkin and Jaeger allow) ids too, left-padded with zeros.
    pub fn from_hex_lenient(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if !s.is_empty() && s.len() < 32 && s.len().is_multiple_of(2) {
            let padded = format!("{s:0>32}");
            return Self::from_hex(&padded);
        }
        Self::from_hex(s)
    }
}

/// Keys under which loggers write a trace id into a line's text (`TraceID: 4bf9...` from a Java
/// MDC pattern, `trace_id=4bf9...` from logfmt, `X-B3-TraceId:` from a B3 header dump), compared
/// after lower-casing and dropping `-`, `_` and `.`.
const TRACE_KEYS_IN_TEXT: [&str; 2] = ["traceid", "xb3traceid"];
/// The same for the span id the line was written in.
const SPAN_KEYS_IN_TEXT: [&str; 2] = ["spanid", "xb3spanid"];

/// The trace and span ids a plain-text log line carries in its text, for lines whose record has
/// none of its own (a file of application logs, a collector that kept only the body). Only values
/// under a key that names them count (`TraceID: <hex>`, `trace_id=<hex>`, `"traceId":"<hex>"`): a
/// bare hex token could be anything. A trace id may be 16 or 32 hex digits, a span id 16.
pub fn ids_in_text(text: &str) -> (Option<TraceId>, Option<SpanId>) {
    let is_sep = |c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '[' | ']' | '(' | ')' | '{' | '}')
    };
    let tokens: Vec<&str> = text.split(is_sep).filter(|t| !t.is_empty()).collect();
    let (mut trace, mut span) = (None, None);
    for (i, tok) in tokens.iter().enumerate() {
        let next = |k: usize| tokens.get(i + k).copied().unwrap_or("");
        let (key, value) = match tok.split_once(['=', ':']) {
            Some((key, "")) => (key, next(1)),
            Some(kv) => kv,
            // `"traceId":"4bf9..."` splits at the quotes into `traceId`, `:` and the value.
            None if matches!(next(1), ":" | "=") => (*tok, next(2)),
            None => continue,
        };
        let key: String =
            key.chars().filter(|c| !matches!(c, '-' | '_' | '.')).collect::<String>().to_ascii_lowercase();
        if trace.is_none() && TRACE_KEYS_IN_TEXT.contains(&key.as_str()) && matches!(value.len(), 16 | 32) {
            trace = TraceId::from_hex_lenient(value).ok();
        } else if span.is_none() && SPAN_KEYS_IN_TEXT.contains(&key.as_str()) {
            span = SpanId::from_hex(value).ok();
        }
        if trace.is_some() && span.is_some() {
            break;
        }
    }
    (trace, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_are_read_from_text_only_under_their_keys() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        let s = "00f067aa0ba902b7";
        let java =
            format!("05:18:42.995 INFO  c.e.OrderServiceImpl#451 TraceID: {t} SpanID: {s} [create][ok]");
        assert_eq!(ids_in_text(&java), (TraceId::from_hex(t).ok(), SpanId::from_hex(s).ok()));
        let logfmt = format!("level=error msg=\"boom\" trace_id={t} span_id={s}");
        assert_eq!(ids_in_text(&logfmt), (TraceId::from_hex(t).ok(), SpanId::from_hex(s).ok()));
        let json = format!(r#"{{"msg":"x","traceId":"{s}"}}"#);
        assert_eq!(ids_in_text(&json).0, TraceId::from_hex_lenient(s).ok());
        // A bare hex token, a key with a value of the wrong length, and a key that only ends like one.
        assert_eq!(ids_in_text(&format!("cache miss {t}")), (None, None));
        assert_eq!(ids_in_text("TraceID: 4bf92f35 SpanID: zz"), (None, None));
        assert_eq!(ids_in_text(&format!("parent_traceid_ratio={t}")), (None, None));
    }

    #[test]
    fn rejects_bad_ids() {
        assert!(matches!(TraceId::from_bytes(&[1; 15]), Err(IdError::WrongLength { got: 15, .. })));
        assert!(matches!(SpanId::from_bytes(&[0; 8]), Err(IdError::Zero { .. })));
        assert!(matches!(SpanId::from_hex("zz00000000000000"), Err(IdError::NotHex { .. })));
        assert_eq!(
            TraceId::from_hex_lenient("00000000000000ff").unwrap().to_hex(),
            "000000000000000000000000000000ff"
        );
    }

    proptest! {
        #[test]
        fn hex_round_trip(bytes in any::<[u8; 16]>()) {
            prop_assume!(bytes != [0; 16]);
            let id = TraceId(bytes);
            prop_assert_eq!(TraceId::from_hex(&id.to_hex()).unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<TraceId>(&json).unwrap(), id);
        }
    }
}

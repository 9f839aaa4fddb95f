//! The parts of a Jaeger JSON document, typed and borrowed from the text. Every field may be
//! missing or null (exports differ); numbers may be written as text. What a span cannot do without
//! is checked when it is converted, so that one bad span does not cost its document.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// A document's traces: `{"data": [trace...]}` (the UI's export and the query API), an array of
/// traces, or one trace.
pub struct Export<'a>(pub Vec<Trace<'a>>);

#[derive(Default, Deserialize)]
pub struct Trace<'a> {
    /// `None` when the trace has no `spans` (or null).
    #[serde(borrow, default)]
    pub spans: Option<Vec<JaegerSpan<'a>>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub processes: HashMap<String, Process<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JaegerSpan<'a> {
    #[serde(rename = "traceID", borrow, default)]
    pub trace_id: Option<Text<'a>>,
    #[serde(rename = "spanID", borrow, default)]
    pub span_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub operation_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub references: Vec<Reference<'a>>,
    #[serde(default)]
    pub start_time: Option<Int>,
    #[serde(default)]
    pub duration: Option<Int>,
    #[serde(default)]
    pub flags: Option<Int>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub tags: Vec<Tag<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub logs: Vec<Log<'a>>,
    #[serde(rename = "processID", borrow, default)]
    pub process_id: Option<Text<'a>>,
    /// A process written into the span instead of the trace's `processes`.
    #[serde(borrow, default)]
    pub process: Option<Process<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference<'a> {
    #[serde(borrow, default)]
    pub ref_type: Option<Text<'a>>,
    #[serde(rename = "traceID", borrow, default)]
    pub trace_id: Option<Text<'a>>,
    #[serde(rename = "spanID", borrow, default)]
    pub span_id: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub tags: Vec<Tag<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process<'a> {
    #[serde(borrow, default)]
    pub service_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub tags: Vec<Tag<'a>>,
}

impl Process<'_> {
    /// The process as text, to tell equal processes of different traces.
    pub fn text(&self) -> String {
        let mut t = self.service_name.as_ref().map(|s| s.0.to_string()).unwrap_or_default();
        for tag in &self.tags {
            t.push('\u{1}');
            t.push_str(&tag.key.0);
            t.push('\u{2}');
            t.push_str(tag.kind.as_ref().map_or("", |k| k.0.as_ref()));
            t.push('\u{2}');
            t.push_str(&tag.value.as_ref().map(Value::to_string).unwrap_or_default());
        }
        t
    }
}

#[derive(Deserialize)]
pub struct Tag<'a> {
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Text<'a>>,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Deserialize)]
pub struct Log<'a> {
    #[serde(default)]
    pub timestamp: Option<Int>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub fields: Vec<Tag<'a>>,
}

/// A string borrowed from the text when it holds no escapes; a number or boolean where text
/// belongs is read as its text (exporters differ), anything else refuses the document.
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A whole number, written as a number or as text; anything else is no number (`None`).
#[derive(Clone, Copy)]
pub struct Int(pub Option<i64>);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                Ok(Int(v.is_finite().then_some(v as i64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                Ok(Int(v.trim().parse().ok()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Int, E> {
                Ok(Int(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Int, E> {
                Ok(Int(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list or map that may be written as `null`.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The keys of a document's top level that matter: a wrapped export's `data`, or one trace's own.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum TopKey {
    Data,
    Spans,
    Processes,
    #[serde(other)]
    Other,
}

impl Export<'_> {
    /// The export, if it is one: its first trace has spans (a JSON log line may well have a
    /// `traceID` too).
    fn checked<E: de::Error>(self) -> Result<Self, E> {
        match self.0.first() {
            Some(t) if t.spans.is_some() => Ok(self),
            _ => Err(E::custom("not Jaeger traces: the first trace has no spans")),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Export<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Export<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"Jaeger traces: {"data": [trace...]}, an array of traces, or one trace"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Export<'a>, A::Error> {
                let mut traces = Vec::new();
                while let Some(t) = a.next_element()? {
                    traces.push(t);
                }
                Export(traces).checked()
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Export<'a>, A::Error> {
                let (mut data, mut one) = (None, Trace::default());
                while let Some(k) = a.next_key::<TopKey>()? {
                    match k {
                        TopKey::Data => data = a.next_value::<Option<Vec<Trace<'a>>>>()?,
                        TopKey::Spans => one.spans = a.next_value()?,
                        TopKey::Processes => one.processes = a.next_value::<Option<_>>()?.unwrap_or_default(),
                        TopKey::Other => {
                            a.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Export(data.unwrap_or_else(|| vec![one])).checked()
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

//! Attributes typed in segments, for other engines. faultline reads a record's attributes as one
//! JSON text column (`attributes`, `resource_attributes`), in memory and in segments alike: text
//! that repeats (a resource's attributes) is dictionary-encoded and costs next to nothing to scan.
//! A segment also holds each of them typed (`attributes_typed`, `resource_attributes_typed`): a
//! Parquet map from key to a struct of typed slots, so that other engines filter on attributes
//! directly (`attributes_typed['http.response.status_code'].int = 500` in DuckDB). faultline never
//! reads the typed copy: decoding every entry of every row and turning it back into text made a
//! scan of a million spans ten times slower.
//!
//! | slot | holds |
//! |---|---|
//! | `str` | a string |
//! | `int` | an integer that fits in 64 bits, signed |
//! | `double` | any other number |
//! | `bool` | a boolean |
//! | `json` | anything else as JSON text: arrays, maps, null, integers past `i64` |
//!
//! Exactly one slot is set per entry. Segments written before the typed copy existed lack it.

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, MapBuilder, MapFieldNames, RecordBatch,
    StringArray, StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// The columns holding attributes as JSON text in memory.
pub const ATTRIBUTE_COLUMNS: [&str; 2] = ["attributes", "resource_attributes"];

/// The typed slots of a value, in their order in the struct.
fn slot_fields() -> Fields {
    [
        ("str", DataType::Utf8),
        ("int", DataType::Int64),
        ("double", DataType::Float64),
        ("bool", DataType::Boolean),
        ("json", DataType::Utf8),
    ]
    .into_iter()
    .map(|(name, ty)| Field::new(name, ty, true))
    .collect()
}

/// Parquet's names for a map's parts, which every engine reads.
fn field_names() -> MapFieldNames {
    MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() }
}

type AttrMapBuilder = MapBuilder<StringBuilder, StructBuilder>;

fn builder(capacity: usize) -> AttrMapBuilder {
    let values = StructBuilder::new(
        slot_fields(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(Int64Builder::new()),
            Box::new(Float64Builder::new()),
            Box::new(BooleanBuilder::new()),
            Box::new(StringBuilder::new()),
        ],
    );
    MapBuilder::with_capacity(Some(field_names()), StringBuilder::new(), values, capacity)
        .with_keys_field(Field::new("key", DataType::Utf8, false))
        .with_values_field(Field::new("value", DataType::Struct(slot_fields()), true))
}

/// The map type of an attribute column in a segment.
pub fn map_type() -> &'static DataType {
    static TYPE: OnceLock<DataType> = OnceLock::new();
    TYPE.get_or_init(|| builder(0).finish().data_type().clone())
}

/// What a typed copy's name adds to its column's.
const TYPED_SUFFIX: &str = "_typed";

/// The name of an attribute column's typed copy.
pub fn typed_name(column: &str) -> String {
    format!("{column}{TYPED_SUFFIX}")
}

/// Whether a segment column is a typed copy, which faultline never reads.
pub fn is_typed_copy(column: &str) -> bool {
    column.strip_suffix(TYPED_SUFFIX).is_some_and(|c| ATTRIBUTE_COLUMNS.contains(&c))
}

/// The schema a table's segments are written with: the table's columns, then a typed copy of each
/// attribute column.
pub fn segment_schema(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for f in schema.fields() {
        if ATTRIBUTE_COLUMNS.contains(&f.name().as_str()) {
            fields.push(Field::new(typed_name(f.name()), map_type().clone(), false));
        }
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Why a batch's attributes could not be typed or read back.
#[derive(Debug, thiserror::Error)]
pub enum TypedAttrsError {
    #[error("attribute column {0}: {1}")]
    Arrow(String, arrow::error::ArrowError),
    #[error("attribute column {0} is not text")]
    NotText(String),
}

/// A batch as a segment holds it: its columns, then a typed copy of each attribute column.
pub fn to_segment(batch: &RecordBatch) -> Result<RecordBatch, TypedAttrsError> {
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        if ATTRIBUTE_COLUMNS.contains(&field.name().as_str()) {
            let text = col
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| TypedAttrsError::NotText(field.name().clone()))?;
            columns.push(typed(text).map_err(|e| TypedAttrsError::Arrow(field.name().clone(), e))?);
        }
    }
    RecordBatch::try_new(segment_schema(&schema), columns)
        .map_err(|e| TypedAttrsError::Arrow("(batch)".into(), e))
}

/// The typed map of each row's JSON text (an empty map for empty or unreadable text, as
/// `attributes_from_json` reads it).
fn typed(text: &StringArray) -> Result<ArrayRef, arrow::error::ArrowError> {
    let mut b = builder(text.len());
    // A resource's attributes repeat row after row: parsed once.
    let mut last: Option<(&str, faultline_model::value::Attributes)> = None;
    for row in 0..text.len() {
        if text.is_valid(row) {
            let t = text.value(row);
            if last.as_ref().is_none_or(|(lt, _)| *lt != t) {
                last = Some((t, faultline_model::value::attributes_from_json(t)));
            }
            for (k, v) in last.as_ref().map(|l| &l.1).into_iter().flatten() {
                b.keys().append_value(k);
                append_value(b.values(), v);
            }
        }
        b.append(true)?;
    }
    Ok(Arc::new(b.finish()))
}

/// Appends one value to its slot, the others null.
fn append_value(s: &mut StructBuilder, v: &Value) {
    let (mut str_, mut int, mut double, mut bool_, mut json) = (None, None, None, None, None);
    match v {
        Value::String(x) => str_ = Some(x.as_str()),
        Value::Bool(x) => bool_ = Some(*x),
        Value::Number(n) => match (n.as_i64(), n.is_f64()) {
            (Some(i), _) => int = Some(i),
            (None, true) => double = n.as_f64(),
            (None, false) => json = Some(n.to_string()),
        },
        other => json = Some(other.to_string()),
    }
    s.field_builder::<StringBuilder>(0).expect("str slot").append_option(str_);
    s.field_builder::<Int64Builder>(1).expect("int slot").append_option(int);
    s.field_builder::<Float64Builder>(2).expect("double slot").append_option(double);
    s.field_builder::<BooleanBuilder>(3).expect("bool slot").append_option(bool_);
    s.field_builder::<StringBuilder>(4).expect("json slot").append_option(json);
    s.append(true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Float64Array, Int64Array, MapArray, StructArray};
    use proptest::prelude::*;

    // Reading the typed copy back as JSON text, to check it holds what the text held.
    /// Each row's map as JSON text, keys in the map's order.
    fn json_text(map: &MapArray) -> StringArray {
        let keys = map.keys().as_any().downcast_ref::<StringArray>().expect("keys are strings");
        let values = map.values().as_any().downcast_ref::<StructArray>().expect("values are structs");
        let slots = Slots::of(values);
        let offsets = map.value_offsets();
        let mut out = StringBuilder::with_capacity(map.len(), map.len() * 64);
        let mut row_text = String::new();
        for row in 0..map.len() {
            row_text.clear();
            row_text.push('{');
            for (n, e) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                if n > 0 {
                    row_text.push(',');
                }
                push_json_str(&mut row_text, keys.value(e));
                row_text.push(':');
                slots.push_value(&mut row_text, e);
            }
            row_text.push('}');
            out.append_value(&row_text);
        }
        out.finish()
    }

    /// The typed slots of a map's values.
    struct Slots<'a> {
        str_: &'a StringArray,
        int: &'a Int64Array,
        double: &'a Float64Array,
        bool_: &'a BooleanArray,
        json: &'a StringArray,
    }

    impl<'a> Slots<'a> {
        fn of(values: &'a StructArray) -> Self {
            let col = |i: usize| values.column(i).as_any();
            Slots {
                str_: col(0).downcast_ref().expect("str slot"),
                int: col(1).downcast_ref().expect("int slot"),
                double: col(2).downcast_ref().expect("double slot"),
                bool_: col(3).downcast_ref().expect("bool slot"),
                json: col(4).downcast_ref().expect("json slot"),
            }
        }

        /// Entry `e`'s value as JSON text (null when no slot is set).
        fn push_value(&self, out: &mut String, e: usize) {
            use std::fmt::Write;
            if self.str_.is_valid(e) {
                push_json_str(out, self.str_.value(e));
            } else if self.int.is_valid(e) {
                let _ = write!(out, "{}", self.int.value(e));
            } else if self.double.is_valid(e) {
                match serde_json::Number::from_f64(self.double.value(e)) {
                    Some(n) => out.push_str(&n.to_string()),
                    None => out.push_str("null"),
                }
            } else if self.bool_.is_valid(e) {
                out.push_str(if self.bool_.value(e) { "true" } else { "false" });
            } else if self.json.is_valid(e) {
                out.push_str(self.json.value(e));
            } else {
                out.push_str("null");
            }
        }
    }

    fn push_json_str(out: &mut String, s: &str) {
        // Serialising a &str into JSON cannot fail.
        out.push_str(&serde_json::to_string(s).expect("a string serialises"));
    }

    fn batch_of(texts: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("attributes", DataType::Utf8, false),
        ]));
        let names: StringArray = texts.iter().map(|_| Some("op")).collect();
        let attrs: StringArray = texts.iter().map(|t| Some(*t)).collect();
        RecordBatch::try_new(schema, vec![Arc::new(names), Arc::new(attrs)]).unwrap()
    }

    fn round_trip(texts: &[&str]) -> Vec<String> {
        let typed = to_segment(&batch_of(texts)).unwrap();
        let schema = typed.schema();
        assert_eq!(schema.field(2).name(), "attributes_typed");
        assert_eq!(schema.field(2).data_type(), map_type());
        assert_eq!(schema.field(1).data_type(), &DataType::Utf8, "the text stays");
        let map = typed.column(2).as_any().downcast_ref::<MapArray>().unwrap();
        let col = json_text(map);
        (0..col.len()).map(|i| col.value(i).to_string()).collect()
    }

    #[test]
    fn every_kind_of_value_comes_back_as_it_was() {
        let text = r#"{"http.route":"/a \"b\"\n","code":500,"neg":-3,"ratio":0.25,"big":18446744073709551615,"ok":true,"list":[1,"x"],"map":{"a":1},"nothing":null}"#;
        assert_eq!(round_trip(&[text, "{}", "", text, text]), [text, "{}", "{}", text, text]);
    }

    #[test]
    fn each_value_sits_in_its_slot() {
        let typed = to_segment(&batch_of(&[r#"{"code":500,"route":"/x","ok":false,"r":1.5}"#])).unwrap();
        let map = typed.column(2).as_any().downcast_ref::<MapArray>().unwrap();
        let values = map.values().as_any().downcast_ref::<StructArray>().unwrap();
        let s = Slots::of(values);
        assert_eq!(
            (s.int.value(0), s.str_.value(1), s.bool_.value(2), s.double.value(3)),
            (500, "/x", false, 1.5)
        );
        assert!(s.str_.is_null(0) && s.int.is_null(1) && s.json.is_null(0));
    }

    #[test]
    fn only_attribute_columns_get_a_typed_copy() {
        let s = segment_schema(&batch_of(&["{}"]).schema());
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["name", "attributes", "attributes_typed"]);
        assert!(is_typed_copy("attributes_typed") && is_typed_copy("resource_attributes_typed"));
        assert!(!is_typed_copy("attributes") && !is_typed_copy("name_typed"));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Quarters: serde_json's default float parsing round-trips them exactly.
            any::<i16>().prop_map(|i| Value::from(f64::from(i) / 4.0 + 0.5)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec((".{0,4}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_attributes_round_trip(entries in prop::collection::vec((".{0,8}", json_value()), 0..6)) {
            let attrs: serde_json::Map<String, Value> = entries.into_iter().collect();
            let text = serde_json::to_string(&attrs).unwrap();
            let back = round_trip(&[&text]);
            let parsed: serde_json::Map<String, Value> = serde_json::from_str(&back[0]).unwrap();
            prop_assert_eq!(parsed, attrs);
        }
    }
}

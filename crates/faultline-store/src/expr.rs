//! Predicates over table rows: the form every filter (the filter language, API parameters, the
//! analysis) is compiled to, evaluated on Arrow record batches, and used to skip segments and row
//! groups by their statistics.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, RecordBatch};
use arrow::compute::kernels::cmp;
use arrow::compute::{and_kleene, not, or_kleene};
use arrow::datatypes::{DataType, TimeUnit};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Substring match (strings), case-insensitive.
    Contains,
    /// Regular-expression-free prefix match.
    StartsWith,
}

impl CmpOp {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
            CmpOp::Contains | CmpOp::StartsWith => false,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Raw bytes (trace and span ids).
    Bytes(Vec<u8>),
}

/// A predicate over the rows of one table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    True,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A column of the table compared with a literal.
    Column {
        column: String,
        op: CmpOp,
        value: Scalar,
    },
    /// A key inside a JSON attributes column (`attributes` or `resource_attributes`).
    Attr {
        column: String,
        key: String,
        op: CmpOp,
        value: Scalar,
    },
    /// The key is present in the attributes column.
    AttrExists {
        column: String,
        key: String,
    },
    /// The column is not null.
    NotNull(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    #[error("unknown column {0:?}")]
    UnknownColumn(String),
    #[error("cannot compare column {column} of type {ty} with {value:?}")]
    Type { column: String, ty: DataType, value: Scalar },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Expr {
    pub fn and(items: Vec<Expr>) -> Expr {
        let items: Vec<Expr> = items.into_iter().filter(|e| *e != Expr::True).collect();
        match items.len() {
            0 => Expr::True,
            1 => items.into_iter().next().expect("one"),
            _ => Expr::And(items),
        }
    }

    pub fn col(column: &str, op: CmpOp, value: Scalar) -> Expr {
        Expr::Column { column: column.to_string(), op, value }
    }

    /// The columns this predicate reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Expr::True => {}
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.columns(out)),
            Expr::Not(e) => e.columns(out),
            Expr::Column { column, .. }
            | Expr::Attr { column, .. }
            | Expr::AttrExists { column, .. }
            | Expr::NotNull(column) => {
                if !out.contains(column) {
                    out.push(column.clone())
                }
            }
        }
    }

    /// Evaluates the predicate on a batch (nulls count as false).
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray, ExprError> {
        let n = batch.num_rows();
        Ok(match self {
            Expr::True => BooleanArray::from(vec![true; n]),
            Expr::And(v) => {
                let mut acc = BooleanArray::from(vec![true; n]);
                for e in v {
                    acc = and_kleene(&acc, &e.evaluate(batch)?)?;
                }
                acc
            }
            Expr::Or(v) => {
                let mut acc = BooleanArray::from(vec![false; n]);
                for e in v {
                    acc = or_kleene(&acc, &e.evaluate(batch)?)?;
                }
                acc
            }
            Expr::Not(e) => not(&null_false(&e.evaluate(batch)?))?,
            Expr::Column { column, op, value } => {
                let arr =
                    batch.column_by_name(column).ok_or_else(|| ExprError::UnknownColumn(column.clone()))?;
                null_false(&compare_column(column, arr, *op, value)?)
            }
            Expr::Attr { column, key, op, value } => {
                let arr =
                    batch.column_by_name(column).ok_or_else(|| ExprError::UnknownColumn(column.clone()))?;
                let strings = arr.as_string_opt::<i32>().ok_or_else(|| ExprError::Type {
                    column: column.clone(),
                    ty: arr.data_type().clone(),
                    value: value.clone(),
                })?;
                let mut b = BooleanBuilder::with_capacity(n);
                let mut cache: Option<(&str, bool)> = None;
                for i in 0..n {
                    if strings.is_null(i) {
                        b.append_value(false);
                        continue;
                    }
                    let text = strings.value(i);
                    // Resource attributes repeat row after row: reuse the last answer.
                    if let Some((t, r)) = cache {
                        if t == text {
                            b.append_value(r);
                            continue;
                        }
                    }
                    let r = attr_matches(text, key, *op, value);
                    cache = Some((text, r));
                    b.append_value(r);
                }
                b.finish()
            }
            Expr::AttrExists { column, key } => {
                let arr =
                    batch.column_by_name(column).ok_or_else(|| ExprError::UnknownColumn(column.clone()))?;
                let strings = arr.as_string::<i32>();
                let needle = format!("{}:", serde_json::to_string(key).expect("string"));
                (0..n)
                    .map(|i| {
                        Some(
                            strings.is_valid(i)
                                && strings.value(i).contains(&needle)
                                && serde_json::from_str::<serde_json::Map<String, Value>>(strings.value(i))
                                    .map(|m| m.contains_key(key))
                                    .unwrap_or(false),
                        )
                    })
                    .collect()
            }
            Expr::NotNull(column) => {
                let arr =
                    batch.column_by_name(column).ok_or_else(|| ExprError::UnknownColumn(column.clone()))?;
                arrow::compute::is_not_null(arr)?
            }
        })
    }

    /// Whether rows with values of `column` within `[min, max]` could match. Used to skip segments
    /// and row groups; `stats` answers min/max for a column when known.
    pub fn may_match(&self, stats: &dyn Fn(&str) -> Option<(Scalar, Scalar)>) -> bool {
        match self {
            Expr::True => true,
            Expr::And(v) => v.iter().all(|e| e.may_match(stats)),
            Expr::Or(v) => v.iter().any(|e| e.may_match(stats)),
            Expr::Column { column, op, value } => match stats(column) {
                None => true,
                Some((min, max)) => match (cmp_scalar(&min, value), cmp_scalar(&max, value)) {
                    (Some(lo), Some(hi)) => {
                        use std::cmp::Ordering::*;
                        match op {
                            CmpOp::Eq => lo != Greater && hi != Less,
                            CmpOp::Lt => lo == Less,
                            CmpOp::Le => lo != Greater,
                            CmpOp::Gt => hi == Greater,
                            CmpOp::Ge => hi != Less,
                            _ => true,
                        }
                    }
                    _ => true,
                },
            },
            _ => true,
        }
    }
}

fn null_false(a: &BooleanArray) -> BooleanArray {
    if a.null_count() == 0 {
        return a.clone();
    }
    a.iter().map(|v| Some(v.unwrap_or(false))).collect()
}

fn cmp_scalar(a: &Scalar, b: &Scalar) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Scalar::Str(a), Scalar::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(b)),
        (Scalar::Int(a), Scalar::Float(b)) => (*a as f64).partial_cmp(b),
        (Scalar::Float(a), Scalar::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(b),
        (Scalar::Bool(a), Scalar::Bool(b)) => Some(a.cmp(b)),
        (Scalar::Bytes(a), Scalar::Bytes(b)) => Some(a.as_slice().cmp(b.as_slice())),
        _ => None,
    }
}

fn scalar_array(column: &str, ty: &DataType, value: &Scalar) -> Result<ArrayRef, ExprError> {
    use arrow::array::{
        FixedSizeBinaryArray, Float64Array, Int32Array, Int64Array, Int8Array, StringArray,
        TimestampNanosecondArray, UInt32Array, UInt64Array,
    };
    let err = || ExprError::Type { column: column.to_string(), ty: ty.clone(), value: value.clone() };
    Ok(match (ty, value) {
        (DataType::Utf8, Scalar::Str(s)) => Arc::new(StringArray::from(vec![s.as_str()])),
        (DataType::Utf8, Scalar::Int(i)) => Arc::new(StringArray::from(vec![i.to_string()])),
        (DataType::Int8, Scalar::Int(i)) => {
            Arc::new(Int8Array::from(vec![i8::try_from(*i).map_err(|_| err())?]))
        }
        (DataType::Int32, Scalar::Int(i)) => {
            Arc::new(Int32Array::from(vec![i32::try_from(*i).map_err(|_| err())?]))
        }
        (DataType::Int64, Scalar::Int(i)) => Arc::new(Int64Array::from(vec![*i])),
        (DataType::Int64, Scalar::Float(f)) => Arc::new(Int64Array::from(vec![f.round() as i64])),
        (DataType::UInt32, Scalar::Int(i)) => {
            Arc::new(UInt32Array::from(vec![u32::try_from(*i).map_err(|_| err())?]))
        }
        (DataType::UInt64, Scalar::Int(i)) => {
            Arc::new(UInt64Array::from(vec![u64::try_from(*i).map_err(|_| err())?]))
        }
        (DataType::Float64, Scalar::Float(f)) => Arc::new(Float64Array::from(vec![*f])),
        (DataType::Float64, Scalar::Int(i)) => Arc::new(Float64Array::from(vec![*i as f64])),
        (DataType::Boolean, Scalar::Bool(b)) => Arc::new(BooleanArray::from(vec![*b])),
        (DataType::Timestamp(TimeUnit::Nanosecond, tz), Scalar::Int(i)) => {
            Arc::new(TimestampNanosecondArray::from(vec![*i]).with_timezone_opt(tz.clone()))
        }
        (DataType::FixedSizeBinary(n), Scalar::Bytes(b)) if b.len() == *n as usize => {
            Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once(b.as_slice()))?)
        }
        _ => return Err(err()),
    })
}

fn compare_column(
    column: &str,
    arr: &ArrayRef,
    op: CmpOp,
    value: &Scalar,
) -> Result<BooleanArray, ExprError> {
    if matches!(op, CmpOp::Contains | CmpOp::StartsWith) {
        let s = arr.as_string_opt::<i32>().ok_or_else(|| ExprError::Type {
            column: column.to_string(),
            ty: arr.data_type().clone(),
            value: value.clone(),
        })?;
        let needle = match value {
            Scalar::Str(s) => s.to_lowercase(),
            other => format!("{other:?}"),
        };
        return Ok(s
            .iter()
            .map(|v| {
                v.map(|v| {
                    if op == CmpOp::Contains {
                        if v.is_ascii() && needle.is_ascii() {
                            contains_ascii_ci(v, &needle)
                        } else {
                            v.to_lowercase().contains(&needle)
                        }
                    } else {
                        v.starts_with(needle.as_str())
                    }
                })
            })
            .collect());
    }
    let scalar = scalar_array(column, arr.data_type(), value)?;
    let datum = arrow::array::Scalar::new(scalar);
    Ok(match op {
        CmpOp::Eq => cmp::eq(arr, &datum)?,
        CmpOp::Ne => cmp::neq(arr, &datum)?,
        CmpOp::Lt => cmp::lt(arr, &datum)?,
        CmpOp::Le => cmp::lt_eq(arr, &datum)?,
        CmpOp::Gt => cmp::gt(arr, &datum)?,
        CmpOp::Ge => cmp::gt_eq(arr, &datum)?,
        CmpOp::Contains | CmpOp::StartsWith => unreachable!("handled above"),
    })
}

fn contains_ascii_ci(hay: &str, needle_lower: &str) -> bool {
    let h = hay.as_bytes();
    let n = needle_lower.as_bytes();
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// Does the attribute `key` in the JSON object `text` satisfy `op value`?
fn attr_matches(text: &str, key: &str, op: CmpOp, value: &Scalar) -> bool {
    // Cheap rejection before parsing: the key must appear in the text.
    if !text.contains(key) {
        return op == CmpOp::Ne;
    }
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(text) else {
        return false;
    };
    match map.get(key) {
        None => op == CmpOp::Ne,
        Some(v) => value_matches(v, op, value),
    }
}

/// Compares a JSON attribute value with a literal, coercing numbers and strings as people expect
/// (`http.status_code = 504` matches both `504` and `"504"`).
pub fn value_matches(v: &Value, op: CmpOp, lit: &Scalar) -> bool {
    match op {
        CmpOp::Contains => {
            let s = match v {
                Value::String(s) => s.to_lowercase(),
                other => other.to_string().to_lowercase(),
            };
            return match lit {
                Scalar::Str(l) => s.contains(&l.to_lowercase()),
                other => s.contains(&format!("{other:?}").to_lowercase()),
            };
        }
        CmpOp::StartsWith => {
            return match (v, lit) {
                (Value::String(s), Scalar::Str(l)) => s.starts_with(l.as_str()),
                _ => false,
            }
        }
        _ => {}
    }
    let ord = match (v, lit) {
        (Value::String(s), Scalar::Str(l)) => Some(s.as_str().cmp(l.as_str())),
        (Value::Number(n), Scalar::Int(i)) => n.as_f64().and_then(|f| f.partial_cmp(&(*i as f64))),
        (Value::Number(n), Scalar::Float(f)) => n.as_f64().and_then(|x| x.partial_cmp(f)),
        (Value::String(s), Scalar::Int(i)) => s.parse::<f64>().ok().and_then(|x| x.partial_cmp(&(*i as f64))),
        (Value::String(s), Scalar::Float(f)) => s.parse::<f64>().ok().and_then(|x| x.partial_cmp(f)),
        (Value::Number(n), Scalar::Str(l)) => Some(n.to_string().as_str().cmp(l.as_str())),
        (Value::Bool(b), Scalar::Bool(l)) => Some(b.cmp(l)),
        (Value::Bool(b), Scalar::Str(l)) => Some(b.to_string().as_str().cmp(l.as_str())),
        _ => None,
    };
    match ord {
        Some(o) => op.holds(o),
        None => op == CmpOp::Ne,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("service_name", DataType::Utf8, false),
                Field::new("duration_ns", DataType::Int64, false),
                Field::new("attributes", DataType::Utf8, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "a"])),
                Arc::new(Int64Array::from(vec![10, 600_000_000, 900_000_000])),
                Arc::new(StringArray::from(vec![
                    r#"{"http.status_code":504}"#,
                    r#"{"http.status_code":"504"}"#,
                    r#"{"http.status_code":200}"#,
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn evaluates() {
        let e = Expr::And(vec![
            Expr::col("duration_ns", CmpOp::Gt, Scalar::Int(500_000_000)),
            Expr::Attr {
                column: "attributes".into(),
                key: "http.status_code".into(),
                op: CmpOp::Eq,
                value: Scalar::Int(504),
            },
        ]);
        let r = e.evaluate(&batch()).unwrap();
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![Some(false), Some(true), Some(false)]);
        let r = Expr::Not(Box::new(Expr::col("service_name", CmpOp::Eq, Scalar::Str("a".into()))))
            .evaluate(&batch())
            .unwrap();
        assert_eq!(r.true_count(), 1);
        assert!(Expr::col("nope", CmpOp::Eq, Scalar::Int(1)).evaluate(&batch()).is_err());
    }

    #[test]
    fn prunes_by_stats() {
        let e = Expr::col("duration_ns", CmpOp::Gt, Scalar::Int(100));
        assert!(!e.may_match(&|_| Some((Scalar::Int(0), Scalar::Int(50)))));
        assert!(e.may_match(&|_| Some((Scalar::Int(0), Scalar::Int(500)))));
        assert!(e.may_match(&|_| None));
    }
}

//! The filter language shared by the CLI, the API and the UI.
//!
//! ```text
//! service = "checkout" and status = error and duration > 500ms and http.response.status_code = 504
//! not (kind = client or name ~ "health") and resource.k8s.pod.name = "cart-1"
//! ```
//!
//! Grammar: `or` of `and` of `not`/parenthesised/comparison; a comparison is `field op value` with
//! op one of `= != < <= > >= ~` (`~` is case-insensitive substring), or `field exists`. Values are
//! quoted strings, numbers, durations (`500ms`, `2s`), `true`/`false`, or bare words. Fields are
//! table columns (`service`, `name`, `status`, `kind`, `duration`, `instance`, `trace_id`, ... for
//! spans; `service`, `severity`, `body`, `trace_id` for logs), `resource.<key>` for a resource
//! attribute, and any other dotted name for an attribute (of the record, else of its resource).

use faultline_model::log::severity_from_text;
use faultline_model::schema::Table;
use faultline_model::{SpanKind, StatusCode};
use faultline_store::expr::{CmpOp, Expr, Scalar};
use std::fmt;

/// A parse error, pointing at the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub input: String,
    /// Byte offset of the offending token.
    pub pos: usize,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let col = self.input[..self.pos.min(self.input.len())].chars().count();
        write!(f, "{} at column {}\n  {}\n  {}^", self.message, col + 1, self.input, " ".repeat(col))
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let err = |pos, message: String| FilterError { input: input.to_string(), pos, message };
    let b = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                out.push((i, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((i, Tok::RParen));
                i += 1;
            }
            '"' | '\'' => {
                let mut s = String::new();
                i += 1;
                let mut closed = false;
                while i < b.len() {
                    let ch = input[i..].chars().next().expect("in bounds");
                    if ch == '\\' && i + 1 < b.len() {
                        let next = input[i + 1..].chars().next().expect("in bounds");
                        s.push(next);
                        i += 1 + next.len_utf8();
                        continue;
                    }
                    if ch == c {
                        closed = true;
                        i += 1;
                        break;
                    }
                    s.push(ch);
                    i += ch.len_utf8();
                }
                if !closed {
                    return Err(err(start, "unterminated string".into()));
                }
                out.push((start, Tok::Str(s)));
            }
            '=' | '!' | '<' | '>' | '~' => {
                let two = input.get(i..i + 2).unwrap_or("");
                let op = match two {
                    "==" => "=",
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    "=~" => "~",
                    _ => "",
                };
                if !op.is_empty() {
                    out.push((i, Tok::Op(op)));
                    i += 2;
                } else {
                    let op = match c {
                        '=' => "=",
                        '<' => "<",
                        '>' => ">",
                        '~' => "~",
                        _ => return Err(err(i, "expected != after !".into())),
                    };
                    out.push((i, Tok::Op(op)));
                    i += 1;
                }
            }
            _ => {
                while i < b.len() {
                    let ch = input[i..].chars().next().expect("in bounds");
                    if ch.is_whitespace() || "()=!<>~\"'".contains(ch) {
                        break;
                    }
                    i += ch.len_utf8();
                }
                if i == start {
                    return Err(err(i, format!("unexpected character {c:?}")));
                }
                out.push((start, Tok::Word(input[start..i].to_string())));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<(usize, Tok)>,
    i: usize,
    table: Table,
}

impl Parser<'_> {
    fn err(&self, pos: usize, message: impl Into<String>) -> FilterError {
        FilterError { input: self.input.to_string(), pos, message: message.into() }
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map(|t| t.0).unwrap_or(self.input.len())
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.i), Some((_, Tok::Word(x))) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.and()?];
        while self.peek_word("or") || matches!(self.toks.get(self.i), Some((_, Tok::Word(x))) if x == "||") {
            self.i += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.unary()?];
        loop {
            if self.peek_word("and") || matches!(self.toks.get(self.i), Some((_, Tok::Word(x))) if x == "&&")
            {
                self.i += 1;
                items.push(self.unary()?);
            } else if matches!(self.toks.get(self.i), Some((_, Tok::Word(_))) | Some((_, Tok::LParen)))
                && !self.peek_word("or")
            {
                // Juxtaposition means "and", as in most search boxes.
                items.push(self.unary()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek_word("not") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.toks.get(self.i).cloned() {
            Some((_, Tok::LParen)) => {
                self.i += 1;
                let e = self.or()?;
                match self.toks.get(self.i) {
                    Some((_, Tok::RParen)) => {
                        self.i += 1;
                        Ok(e)
                    }
                    _ => Err(self.err(self.pos(), "expected )")),
                }
            }
            Some((pos, Tok::Word(field))) => {
                self.i += 1;
                if self.peek_word("exists") {
                    self.i += 1;
                    return self.exists(pos, &field);
                }
                let op = match self.toks.get(self.i) {
                    Some((_, Tok::Op(op))) => *op,
                    _ => {
                        return Err(self.err(
                            self.pos(),
                            format!("expected an operator (= != < <= > >= ~) or `exists` after {field:?}"),
                        ))
                    }
                };
                self.i += 1;
                let (vpos, value) = match self.toks.get(self.i).cloned() {
                    Some((p, Tok::Str(s))) => (p, Value::Quoted(s)),
                    Some((p, Tok::Word(w))) => (p, Value::Bare(w)),
                    _ => return Err(self.err(self.pos(), format!("expected a value after {op}"))),
                };
                self.i += 1;
                self.comparison(pos, &field, op, vpos, value)
            }
            Some((pos, tok)) => Err(self.err(pos, format!("unexpected {}", describe(&tok)))),
            None => Err(self.err(self.input.len(), "expected a condition")),
        }
    }

    fn exists(&self, pos: usize, field: &str) -> Result<Expr, FilterError> {
        match resolve(self.table, field) {
            Field::Column(c, _) => Ok(Expr::NotNull(c.to_string())),
            Field::Attr(key) => Ok(Expr::Or(vec![
                Expr::AttrExists { column: "attributes".into(), key: key.clone() },
                Expr::AttrExists { column: "resource_attributes".into(), key },
            ])),
            Field::ResourceAttr(key) => Ok(Expr::AttrExists { column: "resource_attributes".into(), key }),
            Field::RecordAttr(key) => Ok(Expr::AttrExists { column: "attributes".into(), key }),
            Field::Unknown => Err(self.err(pos, format!("unknown field {field:?}"))),
        }
    }

    fn comparison(
        &self,
        pos: usize,
        field: &str,
        op: &str,
        vpos: usize,
        value: Value,
    ) -> Result<Expr, FilterError> {
        let cmp = match op {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "~" => CmpOp::Contains,
            _ => unreachable!("lexer emits only these"),
        };
        let verr = |m: String| self.err(vpos, m);
        match resolve(self.table, field) {
            Field::Unknown => Err(self.err(pos, format!("unknown field {field:?}"))),
            Field::Attr(key) => {
                let v = value.scalar();
                Ok(if cmp == CmpOp::Ne {
                    Expr::And(vec![
                        Expr::Attr {
                            column: "attributes".into(),
                            key: key.clone(),
                            op: cmp,
                            value: v.clone(),
                        },
                        Expr::Attr { column: "resource_attributes".into(), key, op: cmp, value: v },
                    ])
                } else {
                    Expr::Or(vec![
                        Expr::Attr {
                            column: "attributes".into(),
                            key: key.clone(),
                            op: cmp,
                            value: v.clone(),
                        },
                        Expr::Attr { column: "resource_attributes".into(), key, op: cmp, value: v },
                    ])
                })
            }
            Field::ResourceAttr(key) => {
                Ok(Expr::Attr { column: "resource_attributes".into(), key, op: cmp, value: value.scalar() })
            }
            Field::RecordAttr(key) => {
                Ok(Expr::Attr { column: "attributes".into(), key, op: cmp, value: value.scalar() })
            }
            Field::Column(col, ty) => {
                let scalar = match ty {
                    Ty::Str => Scalar::Str(value.text()),
                    Ty::Duration => {
                        let t = value.text();
                        let ns = faultline_model::time::parse_duration_ns(&t)
                            .or_else(|_| t.parse::<f64>().map(|ms| (ms * 1e6) as i64))
                            .map_err(|_| verr(format!("expected a duration like 500ms, got {t:?}")))?;
                        Scalar::Int(ns)
                    }
                    Ty::Time => {
                        let t = value.text();
                        Scalar::Int(
                            faultline_model::time::parse_time_ns(&t, faultline_model::time::now_ns())
                                .map_err(|e| verr(e.to_string()))?,
                        )
                    }
                    Ty::Status => {
                        Scalar::Int(StatusCode::parse(&value.text()).ok_or_else(|| {
                            verr(format!("expected error, ok or unset, got {:?}", value.text()))
                        })? as i64)
                    }
                    Ty::Kind => Scalar::Int(SpanKind::parse(&value.text()).ok_or_else(|| {
                        verr(format!(
                            "expected server, client, internal, producer, consumer or unspecified, got {:?}",
                            value.text()
                        ))
                    })? as i64),
                    Ty::Severity => {
                        let t = value.text();
                        let n = t.parse::<i64>().ok().unwrap_or_else(|| severity_from_text(&t) as i64);
                        if n == 0 && t != "0" {
                            return Err(verr(format!("expected a level (trace, debug, info, warn, error, fatal) or 1-24, got {t:?}")));
                        }
                        // `severity = error` means the whole ERROR band (17-20).
                        if cmp == CmpOp::Eq && t.parse::<i64>().is_err() {
                            let lo = n - (n - 1) % 4;
                            return Ok(Expr::And(vec![
                                Expr::col(col, CmpOp::Ge, Scalar::Int(lo)),
                                Expr::col(col, CmpOp::Le, Scalar::Int(lo + 3)),
                            ]));
                        }
                        Scalar::Int(n)
                    }
                    Ty::Id(len) => {
                        let t = value.text();
                        let bytes = hex::decode(t.trim())
                            .map_err(|_| verr(format!("expected a hex id, got {t:?}")))?;
                        if bytes.len() != len {
                            return Err(verr(format!("expected {} hex digits, got {}", len * 2, t.len())));
                        }
                        Scalar::Bytes(bytes)
                    }
                    Ty::Int => {
                        let t = value.text();
                        Scalar::Int(t.parse().map_err(|_| verr(format!("expected a number, got {t:?}")))?)
                    }
                };
                if cmp == CmpOp::Contains && ty != Ty::Str {
                    return Err(self.err(pos, format!("~ only applies to text; {field:?} is not text")));
                }
                Ok(Expr::col(col, cmp, scalar))
            }
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("{w:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Op(o) => format!("operator {o}"),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
    }
}

#[derive(Debug, Clone)]
enum Value {
    Quoted(String),
    Bare(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Quoted(s) | Value::Bare(s) => s.clone(),
        }
    }

    fn scalar(&self) -> Scalar {
        match self {
            Value::Quoted(s) => Scalar::Str(s.clone()),
            Value::Bare(w) => {
                if let Ok(i) = w.parse::<i64>() {
                    Scalar::Int(i)
                } else if let Ok(f) = w.parse::<f64>() {
                    Scalar::Float(f)
                } else if w == "true" || w == "false" {
                    Scalar::Bool(w == "true")
                } else {
                    Scalar::Str(w.clone())
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Int,
    Duration,
    Time,
    Status,
    Kind,
    Severity,
    Id(usize),
}

enum Field {
    Column(&'static str, Ty),
    /// A bare dotted name: the record's attribute, else its resource's.
    Attr(String),
    /// `attr.<key>`: the record's own attribute only.
    RecordAttr(String),
    /// `resource.<key>`: the resource's attribute only.
    ResourceAttr(String),
    Unknown,
}

fn resolve(table: Table, field: &str) -> Field {
    if let Some(k) = field.strip_prefix("resource.") {
        return Field::ResourceAttr(k.to_string());
    }
    if let Some(k) = field.strip_prefix("attr.").or_else(|| field.strip_prefix("attributes.")) {
        return Field::RecordAttr(k.to_string());
    }
    let f = field.to_ascii_lowercase();
    let common = match f.as_str() {
        "service" | "service.name" | "service_name" => Some(Field::Column("service_name", Ty::Str)),
        "instance" | "service.instance.id" | "service_instance" => {
            Some(Field::Column("service_instance", Ty::Str))
        }
        "trace_id" | "traceid" | "trace" => Some(Field::Column("trace_id", Ty::Id(16))),
        "span_id" | "spanid" => Some(Field::Column("span_id", Ty::Id(8))),
        "scope" | "scope.name" => Some(Field::Column("scope_name", Ty::Str)),
        _ => None,
    };
    if let Some(c) = common {
        return c;
    }
    match table {
        Table::Spans => match f.as_str() {
            "name" | "operation" | "span.name" | "span_name" => Field::Column("name", Ty::Str),
            "status" | "status_code" | "status.code" => Field::Column("status_code", Ty::Status),
            "status_message" | "status.message" => Field::Column("status_message", Ty::Str),
            "kind" | "span.kind" => Field::Column("kind", Ty::Kind),
            "duration" | "duration_ns" | "latency" => Field::Column("duration_ns", Ty::Duration),
            "start" | "start_time" | "time" => Field::Column("start_time", Ty::Time),
            "parent_span_id" | "parent" => Field::Column("parent_span_id", Ty::Id(8)),
            _ => Field::Attr(field.to_string()),
        },
        Table::Logs => match f.as_str() {
            "severity" | "level" | "severity_number" => Field::Column("severity_number", Ty::Severity),
            "severity_text" => Field::Column("severity_text", Ty::Str),
            "body" | "message" | "msg" => Field::Column("body", Ty::Str),
            "time" => Field::Column("time", Ty::Time),
            "event_name" => Field::Column("event_name", Ty::Str),
            _ => Field::Attr(field.to_string()),
        },
        Table::Metrics => match f.as_str() {
            "name" | "metric" => Field::Column("name", Ty::Str),
            "unit" => Field::Column("unit", Ty::Str),
            "kind" | "type" => Field::Column("kind", Ty::Str),
            "value" => Field::Column("value", Ty::Int),
            "time" => Field::Column("time", Ty::Time),
            _ => Field::Attr(field.to_string()),
        },
        Table::Changes => match f.as_str() {
            "id" => Field::Column("id", Ty::Str),
            "kind" => Field::Column("kind", Ty::Str),
            "description" => Field::Column("description", Ty::Str),
            "author" => Field::Column("author", Ty::Str),
            "time" => Field::Column("time", Ty::Time),
            "service" => Field::Column("service", Ty::Str),
            "instance" => Field::Column("instance", Ty::Str),
            _ => Field::Unknown,
        },
    }
}

/// Parses a filter for rows of `table`. An empty filter matches everything.
pub fn parse(table: Table, input: &str) -> Result<Expr, FilterError> {
    if input.trim().is_empty() {
        return Ok(Expr::True);
    }
    let toks = lex(input)?;
    let mut p = Parser { input, toks, i: 0, table };
    let e = p.or()?;
    if p.i < p.toks.len() {
        let (pos, t) = &p.toks[p.i];
        return Err(p.err(*pos, format!("unexpected {}", describe(t))));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example() {
        let e = parse(
            Table::Spans,
            r#"service = "checkout" and status = error and duration > 500ms and http.response.status_code = 504"#,
        )
        .unwrap();
        let Expr::And(items) = e else { panic!("{e:?}") };
        assert_eq!(items[0], Expr::col("service_name", CmpOp::Eq, Scalar::Str("checkout".into())));
        assert_eq!(items[1], Expr::col("status_code", CmpOp::Eq, Scalar::Int(2)));
        assert_eq!(items[2], Expr::col("duration_ns", CmpOp::Gt, Scalar::Int(500_000_000)));
        assert!(
            matches!(&items[3], Expr::Or(v) if matches!(&v[0], Expr::Attr { key, value: Scalar::Int(504), .. } if key == "http.response.status_code"))
        );
    }

    #[test]
    fn attr_prefix_reads_the_record_only_and_resource_prefix_the_resource_only() {
        let on = |e: Expr| match e {
            Expr::Attr { column, key, .. } | Expr::AttrExists { column, key } => (column, key),
            other => panic!("{other:?}"),
        };
        let col = |c: &str, k: &str| (c.to_string(), k.to_string());
        let want = col("attributes", "service.version");
        assert_eq!(on(parse(Table::Spans, r#"attr.service.version = "9.8.7""#).unwrap()), want);
        assert_eq!(on(parse(Table::Spans, "attr.service.version exists").unwrap()), want);
        let want = col("resource_attributes", "service.version");
        assert_eq!(on(parse(Table::Spans, r#"resource.service.version = "9.8.7""#).unwrap()), want);
        // A bare name looks at both.
        assert!(matches!(parse(Table::Spans, r#"service.version = "9.8.7""#).unwrap(), Expr::Or(_)));
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = parse(Table::Spans, "service = checkout and status = broken").unwrap_err();
        assert_eq!(e.pos, 32);
        insta::assert_snapshot!(e.to_string(), @r#"
        expected error, ok or unset, got "broken" at column 33
          service = checkout and status = broken
                                          ^
        "#);
        let e = parse(Table::Spans, "service = ").unwrap_err();
        assert!(e.message.contains("expected a value"), "{e}");
        let e = parse(Table::Spans, "(service = a").unwrap_err();
        assert!(e.message.contains("expected )"), "{e}");
        let e = parse(Table::Spans, "duration > soon").unwrap_err();
        assert!(e.message.contains("duration"), "{e}");
        let e = parse(Table::Spans, "service \"x\"").unwrap_err();
        assert!(e.message.contains("expected an operator"), "{e}");
    }

    #[test]
    fn logs_and_precedence() {
        let e = parse(Table::Logs, "severity >= warn and (body ~ timeout or body ~ refused)").unwrap();
        let Expr::And(items) = e else { panic!() };
        assert_eq!(items[0], Expr::col("severity_number", CmpOp::Ge, Scalar::Int(13)));
        assert!(matches!(&items[1], Expr::Or(v) if v.len() == 2));
        assert!(parse(Table::Logs, "severity = error").is_ok());
        assert!(parse(Table::Spans, "not kind = client").is_ok());
    }
}

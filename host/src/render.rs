//! Rendering records as text: Python's `repr` (what PySpark's `pprint` and
//! `saveAsTextFiles` print), JSON lines, CSV rows and Scala's `toString`
//! (what Scala's `DStream.print()` prints).
//!
//! Python's rules are followed exactly for ASCII, control characters,
//! quotes, escapes, integers, floats (shortest round-trip digits, exponent
//! form outside `1e-4 <= |x| < 1e16`), bytes and JSON documents (shown as
//! the Python value `json.loads` would give). Non-ASCII characters are shown
//! as themselves unless they are controls, separators, format characters or
//! private-use; characters unassigned in Unicode are shown as themselves,
//! where Python would escape them.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::batch::{Batch, Column, ValueType};

/// Appends Python's `repr` of record `i` of `batch` to `out`: `'word'`
/// for an unkeyed record, `('word', 3)` for a keyed one.
pub fn python_record(
    out: &mut String,
    batch: &Batch,
    i: usize,
    key: Option<ValueType>,
    value: ValueType,
) {
    tuple_record(out, batch, i, (key, value), ", ", python_value);
}

/// Appends record `i` as a tuple `(key<separator>value)` with each part
/// rendered by `part`, or the value alone for an unkeyed record.
fn tuple_record(
    out: &mut String,
    batch: &Batch,
    i: usize,
    (key, value): (Option<ValueType>, ValueType),
    separator: &str,
    part: fn(&mut String, &Column, usize, ValueType),
) {
    match (&batch.keys, key) {
        (Some(keys), Some(key_type)) => {
            out.push('(');
            part(out, keys, i, key_type);
            out.push_str(separator);
            part(out, &batch.values, i, value);
            out.push(')');
        }
        _ => part(out, &batch.values, i, value),
    }
}

/// Appends one JSON object for record `i`: `{"key": "word", "value": 3}`,
/// or `{"value": …}` for an unkeyed record. Bytes are base64 strings,
/// non-finite floats `null`, JSON values are embedded as they are.
pub fn json_record(
    out: &mut String,
    batch: &Batch,
    i: usize,
    key: Option<ValueType>,
    value: ValueType,
) {
    out.push('{');
    if let (Some(keys), Some(key_type)) = (&batch.keys, key) {
        out.push_str("\"key\": ");
        json_value(out, keys, i, key_type);
        out.push_str(", ");
    }
    out.push_str("\"value\": ");
    json_value(out, &batch.values, i, value);
    out.push('}');
}

/// Appends one CSV row (RFC 4180, no line end) for record `i`: `word,3`,
/// or the value alone for an unkeyed record. A field holding a comma, a
/// quote or a line break is quoted, its quotes doubled; numbers are
/// written as Python writes them, bytes as base64, JSON values as their
/// text.
pub fn csv_record(
    out: &mut String,
    batch: &Batch,
    i: usize,
    key: Option<ValueType>,
    value: ValueType,
) {
    if let (Some(keys), Some(key_type)) = (&batch.keys, key) {
        csv_value(out, keys, i, key_type);
        out.push(',');
    }
    csv_value(out, &batch.values, i, value);
}

fn csv_value(out: &mut String, column: &Column, i: usize, value_type: ValueType) {
    plain_value(out, column, i, value_type, python_float, csv_field);
}

/// Appends value `i` unquoted: integers in decimal, floats by `float`,
/// bytes as base64, text and JSON by `text`.
fn plain_value(
    out: &mut String,
    column: &Column,
    i: usize,
    value_type: ValueType,
    float: fn(&mut String, f64),
    text: fn(&mut String, &str),
) {
    match column {
        Column::Int64(v) => {
            let _ = write!(out, "{}", v[i]);
        }
        Column::Float64(v) => float(out, v[i]),
        Column::Varlen(v) => match value_type {
            ValueType::Bytes => {
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(v.get(i)));
            }
            _ => text(out, &String::from_utf8_lossy(v.get(i))),
        },
    }
}

/// `text` as a CSV field.
fn csv_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Appends Scala's `toString` of record `i`, as Scala's `DStream.print()`
/// shows it: `word` for an unkeyed record, `(word,3)` for a keyed one;
/// strings bare, floats as Java's `Double.toString`, bytes as base64 and
/// JSON values as their text.
pub fn scala_record(
    out: &mut String,
    batch: &Batch,
    i: usize,
    key: Option<ValueType>,
    value: ValueType,
) {
    tuple_record(out, batch, i, (key, value), ",", scala_value);
}

fn scala_value(out: &mut String, column: &Column, i: usize, value_type: ValueType) {
    match (column, value_type) {
        (Column::Varlen(v), ValueType::Composite(_)) => composite(out, v.get(i), value_type, SCALA),
        _ => plain_value(out, column, i, value_type, java_double, String::push_str),
    }
}

/// Java's `Double.toString` (JDK 19 and later: the shortest digits that
/// read back): `1.0`, `0.001`, `1234567.0`, `1.0E7`, `1.0E-4`, `NaN`,
/// `-Infinity`.
pub fn java_double(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let x = x.abs();
    if x.is_infinite() {
        out.push_str("Infinity");
        return;
    }
    if x == 0.0 {
        out.push_str("0.0");
        return;
    }
    let shortest = format!("{x:e}");
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (1e-3..1e7).contains(&x) {
        positional(out, &digits, exponent);
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        let _ = write!(out, "E{exponent}");
    }
}

/// Appends the number whose shortest digits are `digits` (`d.ddd` ×
/// 10^`exponent`) in positional notation, with at least one digit after
/// the point: `0.001`, `120.0`, `1.5`.
fn positional(out: &mut String, digits: &str, exponent: i32) {
    let point = exponent + 1; // digits before the point
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(digits);
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// Record `i` as a JSON value, the same object [`json_record`] writes, for
/// records kept as values until written (dead letters). A JSON value that
/// does not parse is kept as a string.
pub fn json_record_value(
    batch: &Batch,
    i: usize,
    key: Option<ValueType>,
    value: ValueType,
) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    if let (Some(keys), Some(key_type)) = (&batch.keys, key) {
        object.insert("key".into(), json_value_of(keys, i, key_type));
    }
    object.insert("value".into(), json_value_of(&batch.values, i, value));
    serde_json::Value::Object(object)
}

fn json_value_of(column: &Column, i: usize, value_type: ValueType) -> serde_json::Value {
    use serde_json::Value;
    match column {
        Column::Int64(v) => v[i].into(),
        Column::Float64(v) => serde_json::Number::from_f64(v[i]).map_or(Value::Null, Into::into),
        Column::Varlen(v) => match value_type {
            ValueType::Json | ValueType::Composite(_) => serde_json::from_slice(v.get(i))
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(v.get(i)).into_owned())),
            ValueType::Bytes => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(v.get(i)))
            }
            _ => Value::String(v.get_str(i).to_owned()),
        },
    }
}

fn python_value(out: &mut String, column: &Column, i: usize, value_type: ValueType) {
    match column {
        Column::Int64(v) => {
            let _ = write!(out, "{}", v[i]);
        }
        Column::Float64(v) => python_float(out, v[i]),
        Column::Varlen(v) => match value_type {
            ValueType::Bytes => python_bytes(out, v.get(i)),
            ValueType::Json => match serde_json::from_slice::<serde_json::Value>(v.get(i)) {
                Ok(json) => python_json(out, &json),
                Err(_) => python_str(out, &String::from_utf8_lossy(v.get(i))),
            },
            ValueType::Composite(_) => composite(out, v.get(i), value_type, PYTHON),
            _ => python_str(out, v.get_str(i)),
        },
    }
}

/// Appends value `i` of `column` as one JSON document: numbers as JSON
/// numbers (non-finite floats `null`), text as a string, bytes as a base64
/// string, JSON and composite values as they are.
pub fn json_value(out: &mut String, column: &Column, i: usize, value_type: ValueType) {
    match column {
        Column::Int64(v) => {
            let _ = write!(out, "{}", v[i]);
        }
        Column::Float64(v) => {
            let json =
                serde_json::Number::from_f64(v[i]).map_or(serde_json::Value::Null, Into::into);
            out.push_str(&json.to_string());
        }
        Column::Varlen(v) => match value_type {
            ValueType::Json | ValueType::Composite(_) => {
                out.push_str(&String::from_utf8_lossy(v.get(i)));
            }
            ValueType::Bytes => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(v.get(i));
                out.push_str(&serde_json::Value::String(encoded).to_string());
            }
            _ => out.push_str(&serde_json::Value::String(v.get_str(i).to_owned()).to_string()),
        },
    }
}

/// Python's `repr(str)`.
pub fn python_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() || is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for non-ASCII characters, except that
/// unassigned code points count as printable.
fn is_printable(c: char) -> bool {
    let cp = c as u32;
    let control = c.is_control();
    let separator = c.is_whitespace();
    let format = matches!(cp,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff
        | 0xfff9..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f);
    let private = matches!(cp, 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    let noncharacter = matches!(cp, 0xfdd0..=0xfdef) || cp & 0xfffe == 0xfffe;
    !(control || separator || format || private || noncharacter)
}

/// Python's `repr(bytes)`.
pub fn python_bytes(out: &mut String, b: &[u8]) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.push('b');
    out.push(quote as char);
    for &byte in b {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            q if q == quote => {
                out.push('\\');
                out.push(q as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote as char);
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation when
/// the decimal exponent is in `-4..16`, otherwise `d.ddde+XX`.
pub fn python_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e17".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    out.push_str(sign);
    if (-4..16).contains(&exponent) {
        positional(out, &digits, exponent);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
}

/// How a language shows composite values and their parts.
struct Syntax {
    /// Between a pair's two parts and a list's items.
    separator: &'static str,
    /// A list's opening and closing.
    list: (&'static str, &'static str),
    /// An option that holds a value: around it.
    some: (&'static str, &'static str),
    /// An option that holds none.
    none: &'static str,
    /// A scalar inside a composite.
    scalar: fn(&mut String, &serde_json::Value, ValueType),
}

/// Python's `repr`: `(1, 'x')`, `None`, `[1, 2]`.
const PYTHON: Syntax = Syntax {
    separator: ", ",
    list: ("[", "]"),
    some: ("", ""),
    none: "None",
    scalar: python_scalar,
};

/// Scala's `toString` of what its join and cogroup give: `(1,x)`,
/// `Some(x)`, `None`, `CompactBuffer(1, 2)`.
const SCALA: Syntax = Syntax {
    separator: ",",
    list: ("CompactBuffer(", ")"),
    some: ("Some(", ")"),
    none: "None",
    scalar: scala_scalar,
};

/// Appends the composite value stored as the JSON document `encoded` (see
/// [`crate::types`]), of type `value_type`, in `syntax`. A document that
/// does not parse is shown as its text.
fn composite(out: &mut String, encoded: &[u8], value_type: ValueType, syntax: Syntax) {
    match serde_json::from_slice::<serde_json::Value>(encoded) {
        Ok(json) => typed(out, &json, value_type, &syntax),
        Err(_) => out.push_str(&String::from_utf8_lossy(encoded)),
    }
}

fn typed(out: &mut String, json: &serde_json::Value, value_type: ValueType, syntax: &Syntax) {
    use crate::types::CompositeShape;
    use serde_json::Value;
    match (value_type.composite(), json) {
        (Some(CompositeShape::Pair(a, b)), Value::Array(items)) if items.len() == 2 => {
            out.push('(');
            typed(out, &items[0], a, syntax);
            out.push_str(syntax.separator);
            typed(out, &items[1], b, syntax);
            out.push(')');
        }
        (Some(CompositeShape::Option(_)), Value::Null) => out.push_str(syntax.none),
        (Some(CompositeShape::Option(inner)), some) => {
            out.push_str(syntax.some.0);
            typed(out, some, inner, syntax);
            out.push_str(syntax.some.1);
        }
        (Some(CompositeShape::List(inner)), Value::Array(items)) => {
            out.push_str(syntax.list.0);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                typed(out, item, inner, syntax);
            }
            out.push_str(syntax.list.1);
        }
        (_, scalar) => (syntax.scalar)(out, scalar, value_type),
    }
}

/// A scalar inside a composite value, as Python shows it.
fn python_scalar(out: &mut String, json: &serde_json::Value, value_type: ValueType) {
    use serde_json::Value;
    match (value_type, json) {
        (ValueType::Float64, Value::Number(n)) => python_float(out, n.as_f64().unwrap_or(f64::NAN)),
        (ValueType::Float64, Value::Null) => out.push_str("nan"),
        (ValueType::Bytes, Value::String(s)) => {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => python_bytes(out, &bytes),
                Err(_) => python_str(out, s),
            }
        }
        _ => python_json(out, json),
    }
}

/// A scalar inside a composite value, as Scala shows it.
fn scala_scalar(out: &mut String, json: &serde_json::Value, value_type: ValueType) {
    use serde_json::Value;
    match (value_type, json) {
        (ValueType::Float64, Value::Number(n)) => java_double(out, n.as_f64().unwrap_or(f64::NAN)),
        (ValueType::Float64, Value::Null) => out.push_str("NaN"),
        (ValueType::Json, json) => out.push_str(&json.to_string()),
        (_, Value::String(s)) => out.push_str(s),
        (_, other) => out.push_str(&other.to_string()),
    }
}

fn python_json(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (_, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            (_, _, Some(f)) => python_float(out, f),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => python_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_str(out, k);
                out.push_str(": ");
                python_json(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    #[test]
    fn doubles_follow_java() {
        for (x, java) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (1234567.0, "1234567.0"),
            (1e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (0.0001, "1.0E-4"),
            (1.5e-10, "1.5E-10"),
            (-2.25, "-2.25"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(s(|o| java_double(o, x)), java, "{x}");
        }
    }

    #[test]
    fn csv_rows_quote_what_needs_it_and_scala_shows_bare_tuples() {
        let batch = Batch {
            keys: Some(Batch::text(["plain", "a,b", "say \"hi\"", "two\nlines"]).values),
            values: Column::Float64(vec![1.0, 0.5, 1e16, -3.0]),
        };
        let key = Some(ValueType::Text);
        let csv: Vec<String> = (0..4)
            .map(|i| s(|o| csv_record(o, &batch, i, key, ValueType::Float64)))
            .collect();
        assert_eq!(
            csv,
            [
                "plain,1.0",
                "\"a,b\",0.5",
                "\"say \"\"hi\"\"\",1e+16",
                "\"two\nlines\",-3.0"
            ]
        );
        let scala: Vec<String> = (0..2)
            .map(|i| s(|o| scala_record(o, &batch, i, key, ValueType::Float64)))
            .collect();
        assert_eq!(scala, ["(plain,1.0)", "(a,b,0.5)"]);
    }

    #[test]
    fn strings_follow_python_repr() {
        assert_eq!(s(|o| python_str(o, "word")), "'word'");
        assert_eq!(s(|o| python_str(o, "it's")), "\"it's\"");
        assert_eq!(s(|o| python_str(o, "it's \"x\"")), "'it\\'s \"x\"'");
        assert_eq!(s(|o| python_str(o, "a\tb\nc\\")), "'a\\tb\\nc\\\\'");
        assert_eq!(s(|o| python_str(o, "\u{1}\u{7f}")), "'\\x01\\x7f'");
        assert_eq!(s(|o| python_str(o, "café ü 日本")), "'café ü 日本'");
        assert_eq!(
            s(|o| python_str(o, "\u{a0}\u{200b}\u{2028}")),
            "'\\xa0\\u200b\\u2028'"
        );
        assert_eq!(s(|o| python_str(o, "\u{fffd}")), "'\u{fffd}'");
    }

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.0, "123456789012345.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.2345e-7, "1.2345e-07"),
            (0.0, "0.0"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
            (1e300, "1e+300"),
        ];
        for (x, want) in cases {
            assert_eq!(s(|o| python_float(o, x)), want, "{x:e}");
        }
    }

    #[test]
    fn bytes_and_json_follow_python_repr() {
        assert_eq!(s(|o| python_bytes(o, b"a'\x00\xff")), "b\"a'\\x00\\xff\"");
        let json: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, 2.5, true, null], "a": "x"}"#).unwrap();
        assert_eq!(
            s(|o| python_json(o, &json)),
            "{'b': [1, 2.5, True, None], 'a': 'x'}"
        );
    }

    #[test]
    fn records_render_as_tuples_and_json_lines() {
        let batch = Batch {
            keys: Some(Batch::text(["word"]).values),
            values: Column::Int64(vec![3]),
        };
        let key = Some(ValueType::Text);
        assert_eq!(
            s(|o| python_record(o, &batch, 0, key, ValueType::Int64)),
            "('word', 3)"
        );
        assert_eq!(
            s(|o| json_record(o, &batch, 0, key, ValueType::Int64)),
            r#"{"key": "word", "value": 3}"#
        );
    }

    #[test]
    fn json_record_values_equal_the_json_lines_they_stand_for() {
        let cases = [
            (
                Batch::text(["word", "\u{e9}\"q"]),
                Some(ValueType::Text),
                ValueType::Int64,
            ),
            (
                Batch {
                    keys: None,
                    values: Column::Float64(vec![1.5, f64::NAN]),
                },
                None,
                ValueType::Float64,
            ),
            (
                Batch {
                    keys: None,
                    values: Batch::text([r#"{"a": [1, 2.5]}"#, "[true]"]).values,
                },
                None,
                ValueType::Json,
            ),
            (
                Batch {
                    keys: Some(Batch::text(["k", "l"]).values),
                    values: Batch::text(["\u{0}\u{ff}", ""]).values,
                },
                Some(ValueType::Text),
                ValueType::Bytes,
            ),
        ];
        for (batch, key, value) in cases {
            let batch = match (&batch.keys, key) {
                (None, Some(_)) => Batch {
                    keys: Some(batch.values.clone()),
                    values: Column::Int64(vec![7; batch.len()]),
                },
                _ => batch,
            };
            for i in 0..batch.len() {
                let line = s(|o| json_record(o, &batch, i, key, value));
                let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(json_record_value(&batch, i, key, value), parsed, "{line}");
            }
        }
    }
}

//! The host's type system: the types of a stream's keys and values.
//!
//! Five scalar types cross the contract (`text`, `bytes`, `int64`,
//! `float64`, `json`; see [`crate::plugin::wire`] for their contract form).
//! The host builds three composite types on top of them for the operators
//! it runs itself: a `pair` of two values and an `option`al value (the
//! joins), and a `list` of values (`cogroup`). Composite types nest, and
//! are interned so that a [`ValueType`] stays a small `Copy` value that
//! compares and hashes by content.
//!
//! A composite value is stored as one JSON document in a `varlen` column:
//! a pair is `[a, b]`, an option is `null` or its value, a list is
//! `[a, b, …]`; inside them text is a JSON string, bytes a base64 string,
//! numbers JSON numbers (a float always with a point or an exponent; NaN
//! and infinities as `null`) and JSON values are embedded as they are. So
//! a plugin that declares `json` values takes a join's output as it is:
//! a map after a `join` receives `[v, w]`. The renderers
//! ([`crate::render`]) read the type to print tuples, `None` and lists as
//! PySpark does.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// The logical type of a stream's keys or values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Bytes,
    /// Signed 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// One JSON document per value.
    Json,
    /// A pair, an option or a list, built by the host (see the module
    /// docs for its layout).
    Composite(&'static Composite),
}

/// A composite type, interned: one `'static` copy per distinct type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Composite {
    /// What it is made of.
    pub shape: CompositeShape,
    /// Its name in messages, e.g. `pair(int64, option(text))`.
    name: String,
}

/// What a composite type is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompositeShape {
    /// Two values: Python's 2-tuple, `(v, w)`.
    Pair(ValueType, ValueType),
    /// A value or none: Python's `None`, Scala's `Option`.
    Option(ValueType),
    /// Any number of values: Python's list.
    List(ValueType),
}

impl ValueType {
    /// The pair type `(first, second)`.
    pub fn pair(first: ValueType, second: ValueType) -> ValueType {
        intern(CompositeShape::Pair(first, second))
    }

    /// The optional type of `inner`.
    pub fn option(inner: ValueType) -> ValueType {
        intern(CompositeShape::Option(inner))
    }

    /// The list type of `inner`.
    pub fn list(inner: ValueType) -> ValueType {
        intern(CompositeShape::List(inner))
    }

    /// The type's name in the pipeline file and in messages: the
    /// contract's name of a scalar, `pair(a, b)`, `option(a)`, `list(a)`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Bytes => "bytes",
            ValueType::Int64 => "int64",
            ValueType::Float64 => "float64",
            ValueType::Json => "json",
            ValueType::Composite(c) => &c.name,
        }
    }

    /// Whether its values are stored in a `varlen` column.
    pub fn is_varlen(self) -> bool {
        !matches!(self, ValueType::Int64 | ValueType::Float64)
    }

    /// Whether a plugin that declares it takes values of type `given`:
    /// the same type, or `json` for a composite type (its values are JSON
    /// documents, see the module docs).
    pub fn takes(self, given: ValueType) -> bool {
        self == given || (self == ValueType::Json && matches!(given, ValueType::Composite(_)))
    }

    /// Its composite shape, for a composite type.
    pub fn composite(self) -> Option<CompositeShape> {
        match self {
            ValueType::Composite(c) => Some(c.shape),
            _ => None,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The one `'static` copy of `shape`'s type. Composite types are made
/// while a plan is checked, a few per pipeline, so the interned set stays
/// as small as the pipelines' types.
fn intern(shape: CompositeShape) -> ValueType {
    static INTERNED: OnceLock<Mutex<HashSet<&'static Composite>>> = OnceLock::new();
    let name = match shape {
        CompositeShape::Pair(a, b) => format!("pair({a}, {b})"),
        CompositeShape::Option(a) => format!("option({a})"),
        CompositeShape::List(a) => format!("list({a})"),
    };
    let wanted = Composite { shape, name };
    let mut interned = INTERNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(found) = interned.get(&wanted) {
        return ValueType::Composite(found);
    }
    let leaked: &'static Composite = Box::leak(Box::new(wanted));
    interned.insert(leaked);
    ValueType::Composite(leaked)
}

/// The shape of a stream's records: an optional key type and a value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordType {
    /// The key type, or `None` for an unkeyed stream.
    pub key: Option<ValueType>,
    /// The value type.
    pub value: ValueType,
}

impl RecordType {
    /// Unkeyed text: what the line sources give.
    pub const TEXT: RecordType = RecordType {
        key: None,
        value: ValueType::Text,
    };

    /// Whether a plugin that declares `self` takes `given` records (see
    /// [`ValueType::takes`]).
    pub fn takes(self, given: RecordType) -> bool {
        let keys = match (self.key, given.key) {
            (Some(k), Some(g)) => k.takes(g),
            (None, None) => true,
            _ => false,
        };
        keys && self.value.takes(given.value)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            Some(key) => write!(f, "({}, {})", key.name(), self.value.name()),
            None => f.write_str(self.value.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_types_are_interned_and_named() {
        let a = ValueType::pair(ValueType::Int64, ValueType::option(ValueType::Text));
        let b = ValueType::pair(ValueType::Int64, ValueType::option(ValueType::Text));
        assert_eq!(a, b);
        let (ValueType::Composite(x), ValueType::Composite(y)) = (a, b) else {
            panic!("not composite");
        };
        assert!(std::ptr::eq(x, y));
        assert_eq!(a.name(), "pair(int64, option(text))");
        assert_ne!(a, ValueType::pair(ValueType::Int64, ValueType::Text));
    }

    #[test]
    fn a_json_plugin_takes_composite_values_and_nothing_else_changes() {
        let joined = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::pair(ValueType::Int64, ValueType::Text),
        };
        let json = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Json,
        };
        assert!(json.takes(joined));
        assert!(!joined.takes(json));
        let ints = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Int64,
        };
        assert!(!ints.takes(joined));
        assert!(!ValueType::Json.takes(ValueType::Text));
    }
}

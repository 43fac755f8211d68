//! The value and record types an operator may take and give.
//!
//! [`Input`] and [`Output`] map Rust types to the contract's value types
//! (`&str` is `text`, `i64` is `int64`, …); [`InputRecord`] and
//! [`OutputRecord`] add keys: a plain value is an unkeyed record, a
//! `(key, value)` tuple a keyed one.

use crate::bindings::types::{Batch, Column, Error, RecordType, ValueType};
use crate::column::{LeNumber, NumberView, VarlenBuilder, VarlenView, error};

/// A JSON document, carried as its text.
///
/// As an input it holds the document's text as the host received it; as an
/// output, the text written must be one valid JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Json<T>(pub T);

/// A type that values of a column can be read as.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an operator input",
    note = "inputs are `&str`, `&[u8]`, `i64`, `f64` or `Json<&str>`, or a `(key, value)` tuple of them"
)]
pub trait Input<'a>: Sized + Copy {
    /// The contract's name for this type.
    const TYPE: ValueType;
    /// A checked view of a column of this type.
    type View: Copy;
    /// Checks `column` and views it.
    ///
    /// # Errors
    ///
    /// When the column has another layout or is malformed.
    fn view(column: &'a Column) -> Result<Self::View, Error>;
    /// How many values the view holds.
    fn len(view: &Self::View) -> usize;
    /// Value `i` of the view.
    fn get(view: &Self::View, i: usize) -> Self;
}

/// A type that can be written as a value of a column.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an operator output",
    note = "outputs are `&str`, `String`, `&[u8]`, `Vec<u8>`, `i64`, `f64` or `Json<_>`, or a `(key, value)` tuple of them"
)]
pub trait Output {
    /// The contract's name for this type.
    const TYPE: ValueType;
    /// Builds a column of this type.
    type Builder: ColumnBuilder;
    /// Appends this value.
    fn push(self, builder: &mut Self::Builder);
}

/// Builds one column of output.
pub trait ColumnBuilder: Sized {
    /// An empty builder sized for `values` values of about `bytes` bytes.
    fn with_capacity(values: usize, bytes: usize) -> Self;
    /// Appends the type's zero value (empty, or 0): the contract's
    /// placeholder where an entry has no value (a removed state).
    fn push_placeholder(&mut self);
    /// The finished column.
    ///
    /// # Errors
    ///
    /// When the column cannot be represented (more than 4 GiB of data).
    fn finish(self) -> Result<Column, Error>;
}

impl ColumnBuilder for VarlenBuilder {
    fn with_capacity(values: usize, bytes: usize) -> Self {
        VarlenBuilder::with_capacity(values, bytes)
    }
    fn push_placeholder(&mut self) {
        self.push(&[]);
    }
    fn finish(self) -> Result<Column, Error> {
        VarlenBuilder::finish(self)
    }
}

/// Builds an `int64` column (its little-endian bytes).
pub struct Int64Builder(Vec<u8>);
/// Builds a `float64` column (its little-endian bytes).
pub struct Float64Builder(Vec<u8>);

impl ColumnBuilder for Int64Builder {
    fn with_capacity(values: usize, _bytes: usize) -> Self {
        Self(Vec::with_capacity(8 * values))
    }
    fn push_placeholder(&mut self) {
        0i64.write(&mut self.0);
    }
    fn finish(self) -> Result<Column, Error> {
        Ok(Column::Int64(self.0))
    }
}

impl ColumnBuilder for Float64Builder {
    fn with_capacity(values: usize, _bytes: usize) -> Self {
        Self(Vec::with_capacity(8 * values))
    }
    fn push_placeholder(&mut self) {
        0f64.write(&mut self.0);
    }
    fn finish(self) -> Result<Column, Error> {
        Ok(Column::Float64(self.0))
    }
}

/// A view of a text column: its data is UTF-8 (the host guarantees it), and
/// every value is sliced from it at checked offsets.
#[derive(Clone, Copy)]
pub struct TextView<'a> {
    text: &'a str,
    varlen: VarlenView<'a>,
}

impl<'a> Input<'a> for &'a str {
    const TYPE: ValueType = ValueType::Text;
    type View = TextView<'a>;
    fn view(column: &'a Column) -> Result<Self::View, Error> {
        let varlen = VarlenView::new(column, "text column")?;
        // The contract guarantees that the host sends text as valid UTF-8
        // cut at character boundaries (it validates every source line and
        // every plugin's text output), so the guest does not check it again:
        // that pass over the data would be the costliest part of a call.
        // SAFETY: guaranteed by the host per `wit/operator.wit`
        // (`value-type.text`); `get` still slices through `str`, so a
        // non-conforming host makes the guest trap, not misbehave silently.
        let text = unsafe { std::str::from_utf8_unchecked(varlen.data()) };
        Ok(TextView { text, varlen })
    }
    fn len(view: &Self::View) -> usize {
        view.varlen.len()
    }
    #[inline]
    fn get(view: &Self::View, i: usize) -> Self {
        &view.text[view.varlen.range(i)]
    }
}

impl<'a> Input<'a> for &'a [u8] {
    const TYPE: ValueType = ValueType::Bytes;
    type View = VarlenView<'a>;
    fn view(column: &'a Column) -> Result<Self::View, Error> {
        VarlenView::new(column, "bytes column")
    }
    fn len(view: &Self::View) -> usize {
        view.len()
    }
    #[inline]
    fn get(view: &Self::View, i: usize) -> Self {
        view.get(i)
    }
}

impl<'a> Input<'a> for Json<&'a str> {
    const TYPE: ValueType = ValueType::Json;
    type View = TextView<'a>;
    fn view(column: &'a Column) -> Result<Self::View, Error> {
        <&str as Input>::view(column)
    }
    fn len(view: &Self::View) -> usize {
        view.varlen.len()
    }
    #[inline]
    fn get(view: &Self::View, i: usize) -> Self {
        Json(<&str as Input>::get(view, i))
    }
}

macro_rules! number_input {
    ($ty:ty, $variant:ident, $value_type:ident) => {
        impl<'a> Input<'a> for $ty {
            const TYPE: ValueType = ValueType::$value_type;
            type View = NumberView<'a, $ty>;
            fn view(column: &'a Column) -> Result<Self::View, Error> {
                match column {
                    Column::$variant(values) => {
                        NumberView::new(values, concat!(stringify!($ty), " column"))
                    }
                    _ => Err(error(concat!("expected a ", stringify!($ty), " column"))),
                }
            }
            fn len(view: &Self::View) -> usize {
                view.len()
            }
            #[inline]
            fn get(view: &Self::View, i: usize) -> Self {
                view.get(i)
            }
        }
    };
}
number_input!(i64, Int64, Int64);
number_input!(f64, Float64, Float64);

macro_rules! varlen_output {
    ($ty:ty, $value_type:ident, |$v:ident| $bytes:expr) => {
        impl Output for $ty {
            const TYPE: ValueType = ValueType::$value_type;
            type Builder = VarlenBuilder;
            #[inline]
            fn push(self, builder: &mut Self::Builder) {
                let $v = self;
                builder.push($bytes);
            }
        }
    };
}
varlen_output!(&str, Text, |v| v.as_bytes());
varlen_output!(String, Text, |v| v.as_bytes());
varlen_output!(&[u8], Bytes, |v| v);
varlen_output!(Vec<u8>, Bytes, |v| &v);
varlen_output!(Json<&str>, Json, |v| v.0.as_bytes());
varlen_output!(Json<String>, Json, |v| v.0.as_bytes());

impl Output for i64 {
    const TYPE: ValueType = ValueType::Int64;
    type Builder = Int64Builder;
    #[inline]
    fn push(self, builder: &mut Self::Builder) {
        self.write(&mut builder.0);
    }
}

impl Output for f64 {
    const TYPE: ValueType = ValueType::Float64;
    type Builder = Float64Builder;
    #[inline]
    fn push(self, builder: &mut Self::Builder) {
        self.write(&mut builder.0);
    }
}

/// A record an operator takes: a value, or a `(key, value)` tuple.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an operator's input record",
    note = "an input record is a value (`&str`, `&[u8]`, `i64`, `f64`, `Json<&str>`) or a `(key, value)` tuple of them"
)]
pub trait InputRecord<'a>: Sized {
    /// The declared record type.
    const TYPE: RecordType;
    /// Checked views of the batch's columns.
    type View;
    /// Checks the batch's columns and views them.
    ///
    /// # Errors
    ///
    /// When the batch does not have this record type's layout.
    fn view(batch: &'a Batch) -> Result<Self::View, Error>;
    /// How many records the batch holds.
    fn len(view: &Self::View) -> usize;
    /// Record `i`.
    fn get(view: &Self::View, i: usize) -> Self;
}

impl<'a, V: Input<'a>> InputRecord<'a> for V {
    const TYPE: RecordType = RecordType {
        key: None,
        value: V::TYPE,
    };
    type View = V::View;
    fn view(batch: &'a Batch) -> Result<Self::View, Error> {
        V::view(&batch.values)
    }
    fn len(view: &Self::View) -> usize {
        V::len(view)
    }
    #[inline]
    fn get(view: &Self::View, i: usize) -> Self {
        V::get(view, i)
    }
}

impl<'a, K: Input<'a>, V: Input<'a>> InputRecord<'a> for (K, V) {
    const TYPE: RecordType = RecordType {
        key: Some(K::TYPE),
        value: V::TYPE,
    };
    type View = (K::View, V::View);
    fn view(batch: &'a Batch) -> Result<Self::View, Error> {
        let keys = batch
            .keys
            .as_ref()
            .ok_or_else(|| error("expected a keyed batch"))?;
        let view = (K::view(keys)?, V::view(&batch.values)?);
        if K::len(&view.0) != V::len(&view.1) {
            return Err(error("key and value columns differ in length"));
        }
        Ok(view)
    }
    fn len(view: &Self::View) -> usize {
        V::len(&view.1)
    }
    #[inline]
    fn get(view: &Self::View, i: usize) -> Self {
        (K::get(&view.0, i), V::get(&view.1, i))
    }
}

/// A record an operator gives: a value, or a `(key, value)` tuple.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an operator's output record",
    note = "an output record is a value (`&str`, `String`, `&[u8]`, `Vec<u8>`, `i64`, `f64`, `Json<_>`) or a `(key, value)` tuple of them"
)]
pub trait OutputRecord {
    /// The declared record type.
    const TYPE: RecordType;
    /// Builds the batch's columns.
    type Builder;
    /// An empty builder sized for `records` records of about `bytes` bytes.
    fn builder(records: usize, bytes: usize) -> Self::Builder;
    /// Appends this record.
    fn push(self, builder: &mut Self::Builder);
    /// The finished batch.
    ///
    /// # Errors
    ///
    /// When a column cannot be represented.
    fn finish(builder: Self::Builder) -> Result<Batch, Error>;
}

impl<V: Output> OutputRecord for V {
    const TYPE: RecordType = RecordType {
        key: None,
        value: V::TYPE,
    };
    type Builder = V::Builder;
    fn builder(records: usize, bytes: usize) -> Self::Builder {
        V::Builder::with_capacity(records, bytes)
    }
    #[inline]
    fn push(self, builder: &mut Self::Builder) {
        Output::push(self, builder);
    }
    fn finish(builder: Self::Builder) -> Result<Batch, Error> {
        Ok(Batch {
            keys: None,
            values: builder.finish()?,
        })
    }
}

impl<K: Output, V: Output> OutputRecord for (K, V) {
    const TYPE: RecordType = RecordType {
        key: Some(K::TYPE),
        value: V::TYPE,
    };
    type Builder = (K::Builder, V::Builder);
    fn builder(records: usize, bytes: usize) -> Self::Builder {
        (
            K::Builder::with_capacity(records, bytes),
            V::Builder::with_capacity(records, bytes),
        )
    }
    #[inline]
    fn push(self, builder: &mut Self::Builder) {
        self.0.push(&mut builder.0);
        self.1.push(&mut builder.1);
    }
    fn finish(builder: Self::Builder) -> Result<Batch, Error> {
        Ok(Batch {
            keys: Some(builder.0.finish()?),
            values: builder.1.finish()?,
        })
    }
}

/// What a `#[map]` function returns: an output record, or a `Result` of one
/// whose error fails the batch and names the record.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a #[map] function",
    note = "return an output record, or `Result<record, E>` where `E: Display`"
)]
pub trait MapOutput {
    /// The record produced.
    type Record: OutputRecord;
    /// The record, or the error message.
    ///
    /// # Errors
    ///
    /// The function's own error, as text.
    fn into_record(self) -> Result<Self::Record, String>;
}

impl<R: OutputRecord> MapOutput for R {
    type Record = R;
    #[inline]
    fn into_record(self) -> Result<R, String> {
        Ok(self)
    }
}

impl<R: OutputRecord, E: std::fmt::Display> MapOutput for Result<R, E> {
    type Record = R;
    #[inline]
    fn into_record(self) -> Result<R, String> {
        self.map_err(|e| e.to_string())
    }
}

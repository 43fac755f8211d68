//! Reading and building the contract's column layout.
//!
//! Variable-width values (text, bytes, JSON) travel as one byte buffer plus
//! `n + 1` offsets (Arrow's layout); offsets, numbers and flags travel as
//! little-endian bytes (the contract's `u32-list`, `s64-list`, `f64-list`
//! and `bool-list`), read in place. Readers check a column once, when they
//! are created, so that getting a value is a slice and never fails.

use crate::bindings::types::{Column, Error, Varlen};

/// Builds an [`Error`] that no single record is to blame for.
pub fn error(message: impl Into<String>) -> Error {
    Error {
        message: message.into(),
        record_index: None,
    }
}

/// A `u32-list`'s entries.
///
/// # Errors
///
/// When its length is not a multiple of 4.
pub fn u32s(bytes: &[u8], what: &str) -> Result<Vec<u32>, Error> {
    numbers(bytes, what)
}

/// The entries of a byte list of numbers (`u32-list`, `s64-list`,
/// `f64-list`).
///
/// # Errors
///
/// When its length is not a multiple of the number's width.
pub fn numbers<T: LeNumber>(bytes: &[u8], what: &str) -> Result<Vec<T>, Error> {
    let view = NumberView::<T>::new(bytes, what)?;
    Ok((0..view.len()).map(|i| view.get(i)).collect())
}

/// Numbers as their byte list.
pub fn number_bytes<T: LeNumber>(values: impl IntoIterator<Item = T>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for value in values {
        value.write(&mut bytes);
    }
    bytes
}

/// A `bool-list`'s entries (any byte but 0 reads as true).
pub fn flags(bytes: &[u8]) -> Vec<bool> {
    bytes.iter().map(|&b| b != 0).collect()
}

/// Flags as a `bool-list`.
pub fn flag_bytes(flags: impl IntoIterator<Item = bool>) -> Vec<u8> {
    flags.into_iter().map(u8::from).collect()
}

/// A number that travels as little-endian bytes in a column.
pub trait LeNumber: Copy {
    /// Bytes per entry.
    const WIDTH: usize;
    /// Reads one entry from exactly `WIDTH` bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Appends one entry.
    fn write(self, to: &mut Vec<u8>);
}

macro_rules! le_number {
    ($($ty:ty),*) => {$(
        impl LeNumber for $ty {
            const WIDTH: usize = std::mem::size_of::<$ty>();
            #[inline]
            fn read(bytes: &[u8]) -> Self {
                let mut entry = [0; std::mem::size_of::<$ty>()];
                entry.copy_from_slice(bytes);
                <$ty>::from_le_bytes(entry)
            }
            #[inline]
            fn write(self, to: &mut Vec<u8>) {
                to.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le_number!(u32, i64, f64);

/// A checked view of a number column's bytes.
#[derive(Clone, Copy)]
pub struct NumberView<'a, T> {
    bytes: &'a [u8],
    _number: std::marker::PhantomData<T>,
}

impl<'a, T: LeNumber> NumberView<'a, T> {
    /// Views `bytes`, checking that they hold whole numbers.
    ///
    /// # Errors
    ///
    /// When the length is not a multiple of the number's width.
    pub fn new(bytes: &'a [u8], what: &str) -> Result<Self, Error> {
        if !bytes.len().is_multiple_of(T::WIDTH) {
            return Err(error(format!(
                "{what}: {} bytes is not a whole number of {}-byte values",
                bytes.len(),
                T::WIDTH
            )));
        }
        Ok(Self {
            bytes,
            _number: std::marker::PhantomData,
        })
    }

    /// How many numbers it holds.
    pub fn len(&self) -> usize {
        self.bytes.len() / T::WIDTH
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Number `i`.
    #[inline]
    pub fn get(&self, i: usize) -> T {
        T::read(&self.bytes[i * T::WIDTH..(i + 1) * T::WIDTH])
    }
}

/// A checked view of a variable-width column.
#[derive(Clone, Copy)]
pub struct VarlenView<'a> {
    data: &'a [u8],
    /// The `u32-list` of offsets: `len + 1` entries.
    offsets: NumberView<'a, u32>,
}

impl<'a> VarlenView<'a> {
    /// Checks the offsets of `column` (start at 0, never decrease, end at the
    /// data's length) and views it.
    ///
    /// # Errors
    ///
    /// When the column is not variable-width or its offsets are malformed.
    pub fn new(column: &'a Column, what: &str) -> Result<Self, Error> {
        let Column::Varlen(Varlen { data, offsets }) = column else {
            return Err(error(format!("{what}: expected a variable-width column")));
        };
        let malformed = || error(format!("{what}: malformed offsets"));
        let offsets = NumberView::<u32>::new(offsets, what).map_err(|_| malformed())?;
        let count = offsets.len();
        let well_formed = count > 0
            && offsets.get(0) == 0
            && offsets.get(count - 1) as usize == data.len()
            && (1..count).all(|i| offsets.get(i - 1) <= offsets.get(i));
        if !well_formed {
            return Err(malformed());
        }
        Ok(Self { data, offsets })
    }

    /// How many values the column holds.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of every value, concatenated.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Where value `i` starts and ends in [`data`](Self::data).
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets.get(i) as usize..self.offsets.get(i + 1) as usize
    }

    /// The bytes of value `i`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.data[self.range(i)]
    }
}

/// Builds a variable-width column, value after value.
pub struct VarlenBuilder {
    data: Vec<u8>,
    /// The `u32-list` of offsets.
    offsets: Vec<u8>,
}

impl VarlenBuilder {
    /// An empty builder with room for `values` values of `bytes` bytes in all.
    pub fn with_capacity(values: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(4 * (values + 1));
        offsets.extend_from_slice(&[0; 4]);
        Self {
            data: Vec::with_capacity(bytes),
            offsets,
        }
    }

    /// Appends one value.
    #[inline]
    pub fn push(&mut self, value: &[u8]) {
        let n = value.len();
        if n <= 16 {
            // Short values (words, ids) are moved with fixed-size copies: a
            // copy of variable size is a `memory.copy`, which wasmtime runs
            // as a call into the host (about 4 % of a word count's time
            // went to those calls).
            let at = self.data.len();
            self.data.extend_from_slice(&[0; 16]);
            let to = &mut self.data[at..at + 16];
            match n {
                8..=16 => {
                    to[..8].copy_from_slice(&value[..8]);
                    to[n - 8..n].copy_from_slice(&value[n - 8..]);
                }
                4..8 => {
                    to[..4].copy_from_slice(&value[..4]);
                    to[n - 4..n].copy_from_slice(&value[n - 4..]);
                }
                1..4 => {
                    to[0] = value[0];
                    to[n / 2] = value[n / 2];
                    to[n - 1] = value[n - 1];
                }
                _ => {}
            }
            self.data.truncate(at + n);
        } else {
            self.data.extend_from_slice(value);
        }
        // Truncation is caught in `finish`: the data's length is checked there.
        self.offsets
            .extend_from_slice(&(self.data.len() as u32).to_le_bytes());
    }

    /// How many values were pushed.
    pub fn len(&self) -> usize {
        self.offsets.len() / 4 - 1
    }

    /// Whether no value was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The finished column.
    ///
    /// # Errors
    ///
    /// When the values add up to 4 GiB or more, which 32-bit offsets cannot
    /// address.
    pub fn finish(self) -> Result<Column, Error> {
        if u32::try_from(self.data.len()).is_err() {
            return Err(error("output column exceeds 4 GiB"));
        }
        Ok(Column::Varlen(Varlen {
            data: self.data,
            offsets: self.offsets,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_short_length_are_pushed_exactly() {
        let values: Vec<Vec<u8>> = (0..40u8).map(|n| (0..n).map(|b| b ^ n).collect()).collect();
        let mut builder = VarlenBuilder::with_capacity(0, 0);
        for value in &values {
            builder.push(value);
        }
        let column = builder.finish().map_err(|e| e.message).unwrap();
        let view = VarlenView::new(&column, "test")
            .map_err(|e| e.message)
            .unwrap();
        let got: Vec<&[u8]> = (0..values.len()).map(|i| view.get(i)).collect();
        let want: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want);
        assert_eq!(
            view.data().len(),
            values.iter().map(Vec::len).sum::<usize>()
        );
    }

    #[test]
    fn malformed_offsets_are_refused() {
        for offsets in [
            vec![],
            vec![0, 0, 0],
            vec![1, 0, 0, 0],
            vec![0, 0, 0, 0, 9, 0, 0, 0],
        ] {
            let column = Column::Varlen(Varlen {
                data: vec![0; 3],
                offsets,
            });
            assert!(VarlenView::new(&column, "test").is_err());
        }
    }

    #[test]
    fn numbers_and_flags_read_their_little_endian_bytes() {
        let bytes: Vec<u8> = [-2i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = NumberView::<i64>::new(&bytes, "test")
            .map_err(|e| e.message)
            .unwrap();
        assert_eq!((view.len(), view.get(0), view.get(1)), (2, -2, 7));
        assert!(NumberView::<i64>::new(&bytes[..9], "test").is_err());
        assert_eq!(
            u32s(&[1, 0, 0, 0, 0, 1, 0, 0], "test").ok(),
            Some(vec![1, 256])
        );
        assert_eq!(flags(&flag_bytes([true, false])), [true, false]);
    }
}

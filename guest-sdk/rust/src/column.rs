//! Reading and building the contract's column layout.
//!
//! Variable-width values (text, bytes, JSON) travel as one byte buffer plus
//! `n + 1` offsets (Arrow's layout); numbers travel as plain lists. Readers
//! check a column once, when they are created, so that getting a value is a
//! slice and never fails.

use crate::bindings::types::{Column, Error, Varlen};

/// Builds an [`Error`] that no single record is to blame for.
pub fn error(message: impl Into<String>) -> Error {
    Error {
        message: message.into(),
        record_index: None,
    }
}

/// A checked view of a variable-width column.
#[derive(Clone, Copy)]
pub struct VarlenView<'a> {
    data: &'a [u8],
    offsets: &'a [u32],
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
        let well_formed = offsets.first() == Some(&0)
            && offsets.last().map(|&end| end as usize) == Some(data.len())
            && offsets.windows(2).all(|w| w[0] <= w[1]);
        if !well_formed {
            return Err(error(format!("{what}: malformed offsets")));
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
        self.offsets[i] as usize..self.offsets[i + 1] as usize
    }

    /// The bytes of value `i`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.data[self.range(i)]
    }
}

/// Builds a variable-width column, value after value.
pub struct VarlenBuilder {
    data: Vec<u8>,
    offsets: Vec<u32>,
}

impl VarlenBuilder {
    /// An empty builder with room for `values` values of `bytes` bytes in all.
    pub fn with_capacity(values: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(values + 1);
        offsets.push(0);
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
        self.offsets.push(self.data.len() as u32);
    }

    /// How many values were pushed.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
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
}

//! Columns in checkpoint files: the batches' own layout, little-endian,
//! so that writing a state or a window's partials is a few bulk copies and
//! reading one back checks what it reads.
//!
//! A column is a tag byte (0 varlen, 1 int64, 2 float64), its number of
//! values `n` (u64), then for varlen the `n + 1` offsets (u32) and the
//! data's length (u64) and bytes, for numbers the `n` values (8 bytes
//! each). A batch is a byte saying whether it has keys, its key column if
//! it has, and its value column. Lists of batches and of times are a count
//! (u64) and their items.

use crate::batch::{Batch, Column, RecordType, Varlen};

/// Appends the encoding of values to a buffer.
#[derive(Default)]
pub struct Encoder {
    /// What was encoded so far.
    pub bytes: Vec<u8>,
}

impl Encoder {
    /// Appends `n`.
    pub fn count(&mut self, n: usize) {
        self.bytes.extend_from_slice(&(n as u64).to_le_bytes());
    }

    /// Appends `column`.
    pub fn column(&mut self, column: &Column) {
        match column {
            Column::Varlen(v) => {
                self.bytes.push(0);
                self.count(v.len());
                self.bytes.reserve(v.offsets.len() * 4 + 8 + v.data.len());
                for offset in &v.offsets {
                    self.bytes.extend_from_slice(&offset.to_le_bytes());
                }
                self.count(v.data.len());
                self.bytes.extend_from_slice(&v.data);
            }
            Column::Int64(v) => {
                self.bytes.push(1);
                self.times(v);
            }
            Column::Float64(v) => {
                self.bytes.push(2);
                self.count(v.len());
                for x in v {
                    self.bytes.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            }
        }
    }

    /// Appends `values` (times, or any i64s) with their count.
    pub fn times(&mut self, values: &[i64]) {
        self.count(values.len());
        self.bytes.reserve(values.len() * 8);
        for x in values {
            self.bytes.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// Appends `batch`.
    pub fn batch(&mut self, batch: &Batch) {
        match &batch.keys {
            Some(keys) => {
                self.bytes.push(1);
                self.column(keys);
            }
            None => self.bytes.push(0),
        }
        self.column(&batch.values);
    }

    /// Appends `batches` with their count.
    pub fn batches<'a>(&mut self, batches: impl ExactSizeIterator<Item = &'a Batch>) {
        self.count(batches.len());
        for batch in batches {
            self.batch(batch);
        }
    }
}

/// Reads values back from an encoding, checking each.
pub struct Decoder<'a> {
    rest: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// A decoder of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { rest: bytes }
    }

    /// Whether everything was read.
    pub fn is_done(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "ends early: {n} more bytes expected, {} left",
                self.rest.len()
            ));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }

    /// A count, at most what the rest could hold at `item_bytes` each.
    pub fn count(&mut self, item_bytes: usize) -> Result<usize, String> {
        let n = self.u64()?;
        let most = self.rest.len() / item_bytes.max(1);
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= most)
            .ok_or_else(|| format!("holds a count of {n}, more than the file can hold"))
    }

    /// A column.
    pub fn column(&mut self) -> Result<Column, String> {
        match self.byte()? {
            0 => {
                let n = self.count(4)?;
                let raw = self.take((n + 1) * 4)?;
                let offsets: Vec<u32> = raw
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let len = self.count(1)?;
                let data = self.take(len)?.to_vec();
                if offsets.first() != Some(&0)
                    || offsets.last().map(|&o| o as usize) != Some(data.len())
                    || offsets.windows(2).any(|w| w[0] > w[1])
                {
                    return Err("holds malformed offsets".into());
                }
                Ok(Column::Varlen(Varlen { data, offsets }))
            }
            1 => Ok(Column::Int64(self.times()?)),
            2 => {
                let n = self.count(8)?;
                let raw = self.take(n * 8)?;
                Ok(Column::Float64(
                    raw.chunks_exact(8)
                        .map(|c| {
                            let mut word = [0u8; 8];
                            word.copy_from_slice(c);
                            f64::from_bits(u64::from_le_bytes(word))
                        })
                        .collect(),
                ))
            }
            tag => Err(format!("holds an unknown column kind {tag}")),
        }
    }

    /// A list of i64s.
    pub fn times(&mut self) -> Result<Vec<i64>, String> {
        let n = self.count(8)?;
        let raw = self.take(n * 8)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let mut word = [0u8; 8];
                word.copy_from_slice(c);
                i64::from_le_bytes(word)
            })
            .collect())
    }

    /// A batch, checked to hold records of `record_type`.
    pub fn batch(&mut self, record_type: RecordType) -> Result<Batch, String> {
        let keys = match self.byte()? {
            0 => None,
            1 => Some(self.column()?),
            other => return Err(format!("holds an unknown batch kind {other}")),
        };
        let batch = Batch {
            keys,
            values: self.column()?,
        };
        batch
            .validate(record_type)
            .map_err(|e| format!("holds records that are not {record_type}: {e}"))?;
        Ok(batch)
    }

    /// A list of batches of `record_type`.
    pub fn batches(&mut self, record_type: RecordType) -> Result<Vec<Batch>, String> {
        let n = self.count(2)?;
        (0..n).map(|_| self.batch(record_type)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Decoder, Encoder};
    use crate::batch::{Batch, Column, RecordType, ValueType, Varlen};

    #[test]
    fn batches_of_every_layout_read_back_and_damage_is_refused() {
        let mut words = Varlen::with_capacity(0, 0);
        for w in ["a", "", "été"] {
            words.push(w.as_bytes());
        }
        let text_counts = Batch {
            keys: Some(Column::Varlen(words)),
            values: Column::Int64(vec![1, -2, i64::MAX]),
        };
        let floats = Batch {
            keys: Some(Column::Int64(vec![7])),
            values: Column::Float64(vec![0.5]),
        };
        let text_int = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Int64,
        };
        let int_float = RecordType {
            key: Some(ValueType::Int64),
            value: ValueType::Float64,
        };
        let mut encoder = Encoder::default();
        encoder.batches([&text_counts, &Batch::empty(text_int)].into_iter());
        encoder.batch(&floats);
        encoder.times(&[3, -4]);
        let mut decoder = Decoder::new(&encoder.bytes);
        assert_eq!(
            decoder.batches(text_int).unwrap(),
            [text_counts.clone(), Batch::empty(text_int)]
        );
        assert_eq!(decoder.batch(int_float).unwrap(), floats);
        assert_eq!(decoder.times().unwrap(), [3, -4]);
        assert!(decoder.is_done());

        // Cut short, or read as another type: refused, never a panic.
        let mut encoder = Encoder::default();
        encoder.batch(&text_counts);
        for cut in 0..encoder.bytes.len() {
            assert!(Decoder::new(&encoder.bytes[..cut]).batch(text_int).is_err());
        }
        let error = Decoder::new(&encoder.bytes).batch(int_float).unwrap_err();
        assert!(
            error.starts_with("holds records that are not (int64, float64)"),
            "{error}"
        );
        // A count larger than the file.
        let mut huge = vec![1u8];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            Decoder::new(&huge).column().unwrap_err(),
            format!("holds a count of {}, more than the file can hold", u64::MAX)
        );
    }
}

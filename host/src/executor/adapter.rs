//! A stream's records handed to its plugin and back, when the plugin's
//! records differ from the stream's ([`KeyAdapter`]): `map_values` sends
//! the values only and puts the keys back; `reduce` gives every record the
//! same empty key and drops it from the output. `flat_map_values`' plugin
//! call keys its own output ([`KeyAdapter::KeysKept`]).

use std::borrow::Cow;

use crate::batch::{Batch, Column, Varlen};
use crate::error::Error;
use crate::plan::{KeyAdapter, StreamSpec};

impl KeyAdapter {
    /// The batch the plugin is called with for `batch`.
    pub(super) fn call_input(self, batch: &Batch) -> Cow<'_, Batch> {
        match self {
            KeyAdapter::None | KeyAdapter::KeysKept => Cow::Borrowed(batch),
            KeyAdapter::ValuesOnly => Cow::Owned(Batch {
                keys: None,
                values: batch.values.clone(),
            }),
            KeyAdapter::ConstantKey => Cow::Owned(Batch {
                keys: Some(Column::Varlen(Varlen {
                    data: Vec::new(),
                    offsets: vec![0; batch.len() + 1],
                })),
                values: batch.values.clone(),
            }),
        }
    }

    /// The stream's records from the plugin's `output` for `input`.
    ///
    /// # Errors
    ///
    /// `map_values`' output keeps one record per input (the mapper
    /// contract, checked on every call) or none (its `on_error` skipped
    /// the partition); anything else is a bug in Sluice.
    pub(super) fn stream_output(
        self,
        spec: &StreamSpec,
        input: &Batch,
        output: Batch,
    ) -> Result<Batch, Error> {
        match self {
            KeyAdapter::None | KeyAdapter::KeysKept => Ok(output),
            KeyAdapter::ValuesOnly if output.is_empty() => Ok(Batch::empty(spec.output_type)),
            KeyAdapter::ValuesOnly if output.len() == input.len() => Ok(Batch {
                keys: input.keys.clone(),
                values: output.values,
            }),
            KeyAdapter::ValuesOnly => Err(Error::Internal(format!(
                "stream `{}`: map_values got {} values for {} records",
                spec.name,
                output.len(),
                input.len()
            ))),
            KeyAdapter::ConstantKey => Ok(Batch {
                keys: None,
                values: output.values,
            }),
        }
    }
}

//! The host side of the contract's optional `text-hints` and
//! `terminated-text` interfaces.
//!
//! An interpreted guest (QuickJS in the JavaScript SDK) has no UTF-8 codec a
//! script can call: checking that text is ASCII, or encoding it, costs an
//! interpreted step per character, more than the rest of a simple operator.
//! The host does both at memory speed instead. Before a call it tells the
//! guest whether the input's variable-width columns are all ASCII
//! (`input-is-ascii`; the guest can then take each byte as a character), and
//! a guest may return a batch's text one byte per character, in ISO-8859-1
//! (`latin1-output`), which the host converts to UTF-8 ([`apply_output`])
//! before it checks the output. Plugins that do not import the interfaces
//! are called as before; the host checks the input only for those that do.
//!
//! Reading a value at a time is as slow there, so a guest importing
//! `terminated-text` gets the text columns of a mapper's, flat-mapper's or
//! filter's input with each value followed by a NUL ([`terminate_batch`])
//! when they are ASCII without one, which it splits in one call, and may
//! return columns that way ([`apply_output`] finds the values again).

use std::borrow::Cow;

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::engine::GuestState;
use crate::batch::{Batch, Column, RecordType, ValueType, Varlen};

/// `text-hints`, as a component imports it.
pub(crate) const INTERFACE: &str = "sluice:operator/text-hints@0.3.0";

/// `terminated-text`, as a component imports it.
pub(crate) const TERMINATED_INTERFACE: &str = "sluice:operator/terminated-text@0.3.0";

/// A flag for each column of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Columns {
    /// For the keys.
    pub(crate) keys: bool,
    /// For the values.
    pub(crate) values: bool,
}

/// What one call's guest was told and declared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextHints {
    /// Every byte of the input's variable-width columns is below 0x80.
    pub(crate) input_ascii: bool,
    /// Which input columns were sent terminated.
    pub(crate) input_terminated: Columns,
    /// Which columns of the returned batch are ISO-8859-1.
    pub(crate) latin1_output: Columns,
    /// Which columns of the returned batch are terminated.
    pub(crate) terminated_output: Columns,
}

/// Defines [`INTERFACE`] and [`TERMINATED_INTERFACE`] in an operators'
/// linker.
///
/// # Errors
///
/// When wasmtime refuses a definition (a bug).
pub(crate) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    type Store<'a> = StoreContextMut<'a, GuestState>;
    let mut hints = linker.instance(INTERFACE)?;
    hints.func_wrap("input-is-ascii", |store: Store<'_>, (): ()| {
        Ok((store.data().text_hints.input_ascii,))
    })?;
    hints.func_wrap(
        "latin1-output",
        |mut store: Store<'_>, (keys, values): (bool, bool)| {
            store.data_mut().text_hints.latin1_output = Columns { keys, values };
            Ok(())
        },
    )?;
    let mut terminated = linker.instance(TERMINATED_INTERFACE)?;
    terminated.func_wrap("input-terminated", |store: Store<'_>, (): ()| {
        let Columns { keys, values } = store.data().text_hints.input_terminated;
        Ok(((keys, values),))
    })?;
    terminated.func_wrap(
        "terminated-output",
        |mut store: Store<'_>, (keys, values): (bool, bool)| {
            store.data_mut().text_hints.terminated_output = Columns { keys, values };
            Ok(())
        },
    )?;
    Ok(())
}

/// `input` as a guest importing `terminated-text` takes it: each `text` or
/// `json` column of `record_type` that is all ASCII and holds no NUL with
/// every value followed by one and no offsets; the other columns as they
/// are. Which columns were terminated comes with it.
pub(crate) fn terminate_batch(input: &Batch, record_type: RecordType) -> (Cow<'_, Batch>, Columns) {
    let terminated = |column: &Column, value_type: Option<ValueType>| match (column, value_type) {
        (Column::Varlen(v), Some(ValueType::Text | ValueType::Json)) => terminate(v),
        _ => None,
    };
    let keys = input
        .keys
        .as_ref()
        .and_then(|keys| terminated(keys, record_type.key));
    let values = terminated(&input.values, Some(record_type.value));
    let columns = Columns {
        keys: keys.is_some(),
        values: values.is_some(),
    };
    if !columns.keys && !columns.values {
        return (Cow::Borrowed(input), columns);
    }
    let batch = Batch {
        keys: match keys {
            Some(keys) => Some(Column::Varlen(keys)),
            None => input.keys.clone(),
        },
        values: match values {
            Some(values) => Column::Varlen(values),
            None => input.values.clone(),
        },
    };
    (Cow::Owned(batch), columns)
}

/// The values of `column` each followed by a NUL, with empty offsets; `None`
/// when a byte is not ASCII or is a NUL.
fn terminate(column: &Varlen) -> Option<Varlen> {
    if !column.data.is_ascii() || memchr::memchr(0, &column.data).is_some() {
        return None;
    }
    let mut data = Vec::with_capacity(column.data.len() + column.len());
    for i in 0..column.len() {
        data.extend_from_slice(column.get(i));
        data.push(0);
    }
    Some(Varlen {
        data,
        offsets: Vec::new(),
    })
}

/// Reads the columns of a returned `batch` that `hints` declares terminated
/// or ISO-8859-1 into the usual layout (terminators first).
///
/// # Errors
///
/// The reason, as invalid output.
pub(crate) fn apply_output(batch: &mut Batch, hints: TextHints) -> Result<(), String> {
    for (declared, convert) in [
        (
            hints.terminated_output,
            unterminate as fn(&mut Varlen) -> Result<(), String>,
        ),
        (hints.latin1_output, latin1_to_utf8),
    ] {
        if declared.keys {
            match batch.keys.as_mut() {
                Some(keys) => varlen(keys, "keys").and_then(convert)?,
                None => return Err("the keys were declared text (terminated or ISO-8859-1), but the batch has no keys".into()),
            }
        }
        if declared.values {
            varlen(&mut batch.values, "values").and_then(convert)?;
        }
    }
    Ok(())
}

fn varlen<'a>(column: &'a mut Column, what: &str) -> Result<&'a mut Varlen, String> {
    match column {
        Column::Varlen(v) => Ok(v),
        Column::Int64(_) | Column::Float64(_) => Err(format!(
            "the {what} were declared text (terminated or ISO-8859-1), but they are numbers"
        )),
    }
}

/// Finds the values of a terminated column at its NULs, and removes them.
fn unterminate(column: &mut Varlen) -> Result<(), String> {
    if !column.offsets.is_empty() {
        return Err(format!(
            "a column declared terminated comes with {} offsets; a terminated column has none",
            column.offsets.len()
        ));
    }
    if column.data.last().is_some_and(|&b| b != 0) {
        return Err("a column declared terminated does not end with a NUL".into());
    }
    let terminated = std::mem::take(&mut column.data);
    let mut data = Vec::with_capacity(terminated.len());
    let mut offsets = Vec::with_capacity(terminated.len() / 4 + 1);
    offsets.push(0);
    let mut start = 0;
    for end in memchr::memchr_iter(0, &terminated) {
        data.extend_from_slice(&terminated[start..end]);
        offsets.push(data.len() as u32);
        start = end + 1;
    }
    column.data = data;
    column.offsets = offsets;
    Ok(())
}

/// Whether every variable-width column among `columns` holds only ASCII.
pub(crate) fn all_ascii<'a>(columns: impl IntoIterator<Item = &'a Column>) -> bool {
    columns.into_iter().all(|column| match column {
        Column::Varlen(v) => v.data.is_ascii(),
        Column::Int64(_) | Column::Float64(_) => true,
    })
}

/// Rewrites ISO-8859-1 values (one byte per character) as UTF-8, moving the
/// offsets by the bytes each character below them gained. ASCII is left as
/// it is, without a copy, and so are malformed offsets, for the output
/// check to refuse as they are.
///
/// # Errors
///
/// When the converted text passes what `u32` offsets can address.
fn latin1_to_utf8(column: &mut Varlen) -> Result<(), String> {
    let high = column.data.iter().filter(|&&b| b >= 0x80).count();
    let well_formed = column.offsets.first() == Some(&0)
        && column.offsets.windows(2).all(|w| w[0] <= w[1])
        && column.offsets.last().map(|&end| end as usize) == Some(column.data.len());
    if high == 0 || !well_formed {
        return Ok(());
    }
    let converted = column.data.len() as u64 + high as u64;
    if converted > u64::from(u32::MAX) {
        return Err(format!(
            "a column declared ISO-8859-1 comes to {converted} bytes as UTF-8; a column holds at most 4 GiB"
        ));
    }
    let mut data = Vec::with_capacity(converted as usize);
    let mut offsets = Vec::with_capacity(column.offsets.len());
    offsets.push(0);
    for value in column.offsets.windows(2) {
        for &byte in &column.data[value[0] as usize..value[1] as usize] {
            if byte < 0x80 {
                data.push(byte);
            } else {
                data.extend_from_slice(&[0xc0 | (byte >> 6), 0x80 | (byte & 0x3f)]);
            }
        }
        offsets.push(data.len() as u32);
    }
    column.data = data;
    column.offsets = offsets;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varlen(values: &[&[u8]]) -> Varlen {
        let mut column = Varlen::with_capacity(values.len(), 0);
        for value in values {
            column.push(value);
        }
        column
    }

    #[test]
    fn latin1_values_become_utf8_with_their_offsets_moved() {
        // "été", "a", "", "ÿ×" in ISO-8859-1.
        let mut column = varlen(&[b"\xe9t\xe9", b"a", b"", b"\xff\xd7"]);
        latin1_to_utf8(&mut column).unwrap();
        assert_eq!(
            column,
            varlen(&["été".as_bytes(), b"a", b"", "ÿ×".as_bytes()])
        );
    }

    #[test]
    fn ascii_is_left_as_it_is() {
        let mut column = varlen(&[b"word", b"", b"count"]);
        let before = column.clone();
        latin1_to_utf8(&mut column).unwrap();
        assert_eq!(column, before);
    }

    #[test]
    fn malformed_offsets_are_left_for_the_output_check() {
        let mut column = Varlen {
            data: b"\xe9t\xe9".to_vec(),
            offsets: vec![0, 3, 2, 3],
        };
        let before = column.clone();
        latin1_to_utf8(&mut column).unwrap();
        assert_eq!(column, before);
    }

    #[test]
    fn declared_columns_are_converted_and_checked() {
        let mut batch = Batch {
            keys: Some(Column::Varlen(varlen(&[b"caf\xe9"]))),
            values: Column::Int64(vec![1]),
        };
        let keys_only = TextHints {
            latin1_output: Columns {
                keys: true,
                values: false,
            },
            ..TextHints::default()
        };
        apply_output(&mut batch, keys_only).unwrap();
        assert_eq!(
            batch.keys,
            Some(Column::Varlen(varlen(&["café".as_bytes()])))
        );
        let values_too = TextHints {
            latin1_output: Columns {
                keys: true,
                values: true,
            },
            ..TextHints::default()
        };
        assert_eq!(
            apply_output(&mut batch, values_too),
            Err(
                "the values were declared text (terminated or ISO-8859-1), but they are numbers"
                    .into()
            )
        );
        let mut unkeyed = Batch::text(["x"]);
        assert_eq!(
            apply_output(&mut unkeyed, keys_only),
            Err(
                "the keys were declared text (terminated or ISO-8859-1), but the batch has no keys"
                    .into()
            )
        );
    }

    #[test]
    fn ascii_text_without_nul_goes_terminated_and_comes_back() {
        let input = Batch {
            keys: Some(Column::Varlen(varlen(&[b"a", b"", b"bc"]))),
            values: Column::Varlen(varlen(&[b"x", b"y\0", b"z"])),
        };
        let record_type = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Text,
        };
        let (sent, columns) = terminate_batch(&input, record_type);
        // The values hold a NUL: they go as they are.
        assert_eq!(
            columns,
            Columns {
                keys: true,
                values: false
            }
        );
        let Some(Column::Varlen(keys)) = &sent.keys else {
            panic!("no keys")
        };
        assert_eq!(
            (keys.data.as_slice(), keys.offsets.len()),
            (&b"a\0\0bc\0"[..], 0)
        );
        assert_eq!(sent.values, input.values);
        // The guest returns the keys as it got them: the host reads them back.
        let mut returned = sent.into_owned();
        let declared = TextHints {
            terminated_output: columns,
            ..TextHints::default()
        };
        apply_output(&mut returned, declared).unwrap();
        assert_eq!(returned, input);
        // Bytes, non-ASCII text and numbers are never terminated.
        let other = Batch {
            keys: Some(Column::Varlen(varlen(&["été".as_bytes()]))),
            values: Column::Varlen(varlen(&[b"raw"])),
        };
        let types = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Bytes,
        };
        assert_eq!(terminate_batch(&other, types).1, Columns::default());
    }

    #[test]
    fn a_malformed_terminated_column_is_refused() {
        let declared = TextHints {
            terminated_output: Columns {
                keys: false,
                values: true,
            },
            ..TextHints::default()
        };
        let mut unended = Batch {
            keys: None,
            values: Column::Varlen(Varlen {
                data: b"a\0b".to_vec(),
                offsets: Vec::new(),
            }),
        };
        assert_eq!(
            apply_output(&mut unended, declared),
            Err("a column declared terminated does not end with a NUL".into())
        );
        let mut with_offsets = Batch::text(["a"]);
        assert_eq!(
            apply_output(&mut with_offsets, declared),
            Err(
                "a column declared terminated comes with 2 offsets; a terminated column has none"
                    .into()
            )
        );
        let mut empty = Batch {
            keys: None,
            values: Column::Varlen(Varlen {
                data: Vec::new(),
                offsets: Vec::new(),
            }),
        };
        apply_output(&mut empty, declared).unwrap();
        assert_eq!(empty, Batch::text([]));
    }

    #[test]
    fn ascii_is_told_only_for_all_ascii_text() {
        let ascii = Column::Varlen(varlen(&[b"plain"]));
        let utf8 = Column::Varlen(varlen(&["été".as_bytes()]));
        let numbers = Column::Int64(vec![-1]);
        assert!(all_ascii([&ascii, &numbers]));
        assert!(!all_ascii([&ascii, &utf8]));
        assert!(all_ascii([]));
    }

    #[test]
    fn the_interface_names_carry_the_contract_version() {
        let version = super::super::CONTRACT_VERSION;
        assert_eq!(INTERFACE, format!("sluice:operator/text-hints@{version}"));
        assert_eq!(
            TERMINATED_INTERFACE,
            format!("sluice:operator/terminated-text@{version}")
        );
    }
}

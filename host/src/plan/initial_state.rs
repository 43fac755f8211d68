//! An `update_state_by_key` stream's `initial_state`: a JSON-lines file of
//! `{"key": …, "value": …}` objects (what a `text_files` sink with `format =
//! "jsonl"` writes), read once when the plan is built, like the
//! `initialRDD` of PySpark's `updateStateByKey`.
//!
//! The file is read whole, bounded by the stream's `max_state_mib`, and
//! every line must parse: keys and values of the stream's types (text as
//! strings, bytes as base64, numbers as numbers, JSON as any value), each
//! key once. Blank lines are skipped.

use std::path::Path;

use base64::Engine as _;

use crate::batch::{Batch, Column, RecordType, ValueType};

/// The records of the file at `path`, of `record_type` (key, state).
///
/// # Errors
///
/// A message naming the file, and the line when one is wrong.
pub(super) fn load(path: &Path, record_type: RecordType, limit: usize) -> Result<Batch, String> {
    let bytes = crate::regular_file::read_bounded(path, limit as u64).map_err(|e| {
        format!(
            "{}: {e} (the file is read whole, within max_state_mib)",
            path.display()
        )
    })?;
    let text =
        std::str::from_utf8(&bytes).map_err(|e| format!("{}: not UTF-8 ({e})", path.display()))?;
    let key_type = record_type.key.unwrap_or(ValueType::Text);
    let mut batch = Batch::empty(record_type);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| format!("{}:{}: {message}", path.display(), n + 1);
        let object: serde_json::Value =
            serde_json::from_str(line).map_err(|e| at(format!("not a JSON object ({e})")))?;
        let (Some(key), Some(value)) = (object.get("key"), object.get("value")) else {
            return Err(at(
                "each line is {\"key\": …, \"value\": …}, the state of one key".into(),
            ));
        };
        if let Some(keys) = &mut batch.keys {
            push(keys, key, key_type).map_err(|e| at(format!("key: {e}")))?;
        }
        push(&mut batch.values, value, record_type.value).map_err(|e| at(format!("value: {e}")))?;
    }
    match crate::state::KeyedState::duplicate_key(&batch) {
        Some(duplicate) => Err(format!("{}: {duplicate}", path.display())),
        None => Ok(batch),
    }
}

/// Appends `value` to `column` as a `value_type`.
fn push(
    column: &mut Column,
    value: &serde_json::Value,
    value_type: ValueType,
) -> Result<(), String> {
    use serde_json::Value;
    let wrong = || format!("{value} is not a {} value", value_type.name());
    match (column, value_type, value) {
        (Column::Int64(c), _, Value::Number(n)) => c.push(n.as_i64().ok_or_else(wrong)?),
        (Column::Float64(c), _, Value::Number(n)) => c.push(n.as_f64().ok_or_else(wrong)?),
        (Column::Varlen(c), ValueType::Text, Value::String(s)) => c.push(s.as_bytes()),
        (Column::Varlen(c), ValueType::Bytes, Value::String(s)) => c.push(
            &base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("{value} is not base64 bytes ({e})"))?,
        ),
        (Column::Varlen(c), ValueType::Json, any) => c.push(any.to_string().as_bytes()),
        _ => return Err(wrong()),
    }
    Ok(())
}

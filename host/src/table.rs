//! Static tables: reference data sets read from a file (`[tables.NAME]`),
//! joined with streams as Spark joins a static RDD in `transform`.
//!
//! A table is read when the pipeline starts (a file that is missing or
//! malformed refuses the start, naming the file and line) and again at the
//! start of the first batch after the file changes (its size, modification
//! time or inode): the swap happens between two batches, so a batch sees
//! one version whole. A change that does not read (a file half written, a
//! malformed line) keeps the previous version, with a warning naming the
//! line, and is read again at the next batch; write a new version to
//! another name and rename it over the old one to swap it at once.
//!
//! CSV files have a header line naming the columns (RFC 4180 quoting);
//! JSON-lines files hold one object per line. `key` names the column or
//! field of each record's key; `value` the value's, or the whole row is
//! the value, as a JSON object. Records keep the file's order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{Batch, Column, RecordType, ValueType};
use crate::config::TableFormat;

/// The largest file a table reads by default, in MiB.
pub const DEFAULT_MAX_TABLE_MIB: usize = 256;

/// A checked `[tables.NAME]`.
#[derive(Clone, Debug)]
pub struct TableSpec {
    /// Its name.
    pub name: String,
    /// The file, resolved.
    pub path: PathBuf,
    /// How the file is written.
    pub format: TableFormat,
    /// The key's column or field.
    pub key: String,
    /// The value's column or field; `None`: the whole row.
    pub value: Option<String>,
    /// The records it gives.
    pub record_type: RecordType,
    /// The largest file it reads.
    pub max_bytes: usize,
}

/// What identifies a version of a file: a change of any is a new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
    })
}

/// A table's current version.
#[derive(Clone, Debug)]
pub struct Table {
    spec: TableSpec,
    records: Arc<Vec<Batch>>,
    stamp: Option<Stamp>,
}

/// What [`Table::refresh`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    /// The file is unchanged.
    Unchanged,
    /// A new version was read: this many records.
    Reloaded(usize),
    /// The file changed but could not be read: why. The previous version
    /// stays.
    Kept(String),
}

impl Table {
    /// Reads `spec`'s file.
    ///
    /// # Errors
    ///
    /// Why the file cannot be read, naming it and the line at fault.
    pub fn load(spec: TableSpec) -> Result<Table, String> {
        let before =
            stamp(&spec.path).map_err(|e| format!("cannot read {}: {e}", spec.path.display()))?;
        let batch = read(&spec)?;
        Ok(Table {
            spec,
            records: Arc::new(vec![batch]),
            stamp: Some(before),
        })
    }

    /// What it reads.
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    /// Its records, as one partition.
    pub fn records(&self) -> Arc<Vec<Batch>> {
        self.records.clone()
    }

    /// Reads the file again if it changed since the version held.
    pub fn refresh(&mut self) -> Refresh {
        let now = stamp(&self.spec.path).ok();
        if now == self.stamp {
            return Refresh::Unchanged;
        }
        let Some(now) = now else {
            self.stamp = None;
            return Refresh::Kept(format!(
                "{} is gone; the previous version stays until it is back",
                self.spec.path.display()
            ));
        };
        match read(&self.spec) {
            // Read again at the next batch if it changed while being read.
            Ok(batch) if stamp(&self.spec.path).ok() == Some(now) => {
                let rows = batch.len();
                self.records = Arc::new(vec![batch]);
                self.stamp = Some(now);
                Refresh::Reloaded(rows)
            }
            Ok(_) => Refresh::Kept(format!(
                "{} changed while it was read; it is read again at the next batch",
                self.spec.path.display()
            )),
            Err(message) => {
                // Not read again until it changes once more.
                self.stamp = Some(now);
                Refresh::Kept(message)
            }
        }
    }
}

/// The records of `spec`'s file, in file order.
fn read(spec: &TableSpec) -> Result<Batch, String> {
    let path = spec.path.display();
    use crate::regular_file::{RegularFileError, read_bounded};
    let bytes = read_bounded(&spec.path, spec.max_bytes as u64).map_err(|e| match e {
        RegularFileError::TooLarge { .. } => format!(
            "{path} is larger than {} MiB (the table's `max_mib`); raise max_mib or make the file smaller",
            spec.max_bytes >> 20
        ),
        RegularFileError::Io(e) => format!("cannot read {path}: {e}"),
        other => format!("{path} {other}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{path} is not UTF-8 (byte {} is not)",
            e.utf8_error().valid_up_to()
        )
    })?;
    let mut builder = Builder::new(spec.record_type);
    match spec.format {
        TableFormat::Jsonl => read_jsonl(spec, &text, &mut builder)?,
        TableFormat::Csv => read_csv(spec, &text, &mut builder)?,
    }
    Ok(builder.finish())
}

fn read_jsonl(spec: &TableSpec, text: &str, builder: &mut Builder) -> Result<(), String> {
    let path = spec.path.display();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| format!("{path}:{}: {message}", n + 1);
        let row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| at(format!("not one JSON object: {e}")))?;
        let field = |name: &str| {
            row.get(name)
                .ok_or_else(|| at(format!("the object has no `{name}` field")))
        };
        builder
            .push_key(&json_field(field(&spec.key)?))
            .map_err(|m| at(format!("the `{}` field {m}", spec.key)))?;
        match &spec.value {
            Some(name) => builder
                .push_value(&json_field(field(name)?), field(name)?)
                .map_err(|m| at(format!("the `{name}` field {m}")))?,
            None => builder.push_json(&serde_json::Value::Object(row.clone())),
        }
    }
    Ok(())
}

/// A JSON field as text: a string's contents, anything else as JSON.
fn json_field(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_csv(spec: &TableSpec, text: &str, builder: &mut Builder) -> Result<(), String> {
    let path = spec.path.display();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("{path}: the header line does not read: {e}"))?
        .clone();
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{path}: the header has no `{name}` column (it has: {})",
                header.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let key = column(&spec.key)?;
    let value = spec.value.as_deref().map(column).transpose()?;
    for record in reader.records() {
        let record = record.map_err(|e| format!("{path}: {e}"))?;
        let line = record.position().map_or(0, csv::Position::line);
        let at = |message: String| format!("{path}:{line}: {message}");
        builder
            .push_key(record.get(key).unwrap_or_default())
            .map_err(|m| at(format!("the `{}` column {m}", spec.key)))?;
        match value {
            Some(i) => {
                let field = record.get(i).unwrap_or_default();
                let json = serde_json::Value::String(field.to_owned());
                builder.push_value(field, &json).map_err(|m| {
                    at(format!(
                        "the `{}` column {m}",
                        header.get(i).unwrap_or_default()
                    ))
                })?;
            }
            None => {
                let row = header
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| (h.to_owned(), serde_json::Value::String(v.to_owned())))
                    .collect();
                builder.push_json(&serde_json::Value::Object(row));
            }
        }
    }
    Ok(())
}

/// A table's key and value columns, built row by row.
struct Builder {
    record_type: RecordType,
    keys: Column,
    values: Column,
}

impl Builder {
    fn new(record_type: RecordType) -> Self {
        Builder {
            record_type,
            keys: Column::empty(record_type.key.unwrap_or(ValueType::Text)),
            values: Column::empty(record_type.value),
        }
    }

    fn push_key(&mut self, text: &str) -> Result<(), String> {
        let key_type = self.record_type.key.unwrap_or(ValueType::Text);
        push(&mut self.keys, key_type, text, None)
    }

    /// `text` is the field as text; `json` as JSON (for a `json` value).
    fn push_value(&mut self, text: &str, json: &serde_json::Value) -> Result<(), String> {
        push(&mut self.values, self.record_type.value, text, Some(json))
    }

    fn push_json(&mut self, json: &serde_json::Value) {
        if let Column::Varlen(v) = &mut self.values {
            v.push(json.to_string().as_bytes());
        }
    }

    fn finish(self) -> Batch {
        Batch {
            keys: Some(self.keys),
            values: self.values,
        }
    }
}

fn push(
    column: &mut Column,
    value_type: ValueType,
    text: &str,
    json: Option<&serde_json::Value>,
) -> Result<(), String> {
    let not = |what: &str| format!("is `{text}`, not {what}");
    match column {
        Column::Int64(v) => v.push(text.trim().parse().map_err(|_| not("an int64"))?),
        Column::Float64(v) => v.push(text.trim().parse().map_err(|_| not("a float64"))?),
        Column::Varlen(v) => match (value_type, json) {
            // A CSV field holds the JSON document as text.
            (ValueType::Json, Some(serde_json::Value::String(s))) => {
                let parsed: serde_json::Value = serde_json::from_str(s)
                    .unwrap_or_else(|_| serde_json::Value::String(s.clone()));
                v.push(parsed.to_string().as_bytes());
            }
            (ValueType::Json, Some(other)) => v.push(other.to_string().as_bytes()),
            _ => v.push(text.as_bytes()),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, format: TableFormat, text: &str, value: Option<ValueType>) -> TableSpec {
        let path = dir.join("t");
        std::fs::write(&path, text).expect("write");
        TableSpec {
            name: "t".into(),
            path,
            format,
            key: "word".into(),
            value: value.map(|_| "score".into()),
            record_type: RecordType {
                key: Some(ValueType::Text),
                value: value.unwrap_or(ValueType::Json),
            },
            max_bytes: 1 << 20,
        }
    }

    fn shown(table: &Table) -> Vec<String> {
        let batch = &table.records()[0];
        (0..batch.len())
            .map(|i| {
                let mut s = String::new();
                crate::render::python_record(
                    &mut s,
                    batch,
                    i,
                    table.spec.record_type.key,
                    table.spec.record_type.value,
                );
                s
            })
            .collect()
    }

    #[test]
    fn csv_and_json_lines_read_with_their_types() {
        let dir = tempfile::tempdir().expect("dir");
        let csv = spec(
            dir.path(),
            TableFormat::Csv,
            "word,score\nhappy,3\n\"sad, very\",-2.5\n",
            Some(ValueType::Float64),
        );
        let table = Table::load(csv).expect("loads");
        assert_eq!(shown(&table), ["('happy', 3.0)", "('sad, very', -2.5)"]);
        let jsonl = spec(
            dir.path(),
            TableFormat::Jsonl,
            "{\"word\": \"a\", \"n\": 1}\n\n{\"word\": \"b\", \"n\": [2]}\n",
            None,
        );
        let table = Table::load(jsonl).expect("loads");
        assert_eq!(
            shown(&table),
            [
                "('a', {'word': 'a', 'n': 1})",
                "('b', {'word': 'b', 'n': [2]})"
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_and_a_bad_reload_keeps_the_previous_version() {
        let dir = tempfile::tempdir().expect("dir");
        let bad = spec(
            dir.path(),
            TableFormat::Csv,
            "word,score\nok,1\nbad,x\n",
            Some(ValueType::Int64),
        );
        let path = bad.path.clone();
        assert_eq!(
            Table::load(bad.clone()).expect_err("refused"),
            format!(
                "{}:3: the `score` column is `x`, not an int64",
                path.display()
            )
        );
        std::fs::write(&path, "word,score\nok,1\n").expect("write");
        let mut table = Table::load(bad).expect("loads");
        assert_eq!(table.refresh(), Refresh::Unchanged);
        std::fs::write(&path, "word,points\nok,2\n").expect("write");
        assert!(
            matches!(table.refresh(), Refresh::Kept(m) if m.contains("no `score` column (it has: word, points)"))
        );
        assert_eq!(shown(&table), ["('ok', 1)"]);
        std::fs::write(&path, "word,score\nok,2\nnew,5\n").expect("write");
        assert_eq!(table.refresh(), Refresh::Reloaded(2));
        assert_eq!(shown(&table), ["('ok', 2)", "('new', 5)"]);
    }
}

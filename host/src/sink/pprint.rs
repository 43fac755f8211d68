//! `pprint`: PySpark's `DStream.pprint(num)`, byte for byte.
//!
//! ```text
//! -------------------------------------------
//! Time: 2026-11-23 20:02:20
//! -------------------------------------------
//! ('word', 3)
//! ('other', 1)
//! ...
//!
//! ```
//!
//! The time is the batch time in the local time zone, with microseconds only
//! when they are not zero; records are Python reprs, at most `num` of them
//! taken in partition order, then `...` if there are more; an empty line ends
//! every batch.
//!
//! `kind = "print"` prints Scala's `DStream.print(num)` instead, for Scala
//! users: the same layout with `Time: <ms> ms` and records as Scala's
//! `toString` shows them, `(word,3)` (see [`crate::render::scala_record`]).

use std::io::Write;

use super::Sink;
use crate::batch::{Batch, RecordType};
use crate::error::Error;
use crate::render::{python_record, scala_record};
use crate::time::BatchTime;

const RULE: &str = "-------------------------------------------";

/// Prints the first records of each batch.
pub struct Pprint {
    num: usize,
    record_type: RecordType,
    out: Box<dyn Write + Send>,
    scala: bool,
}

impl Pprint {
    /// Prints up to `num` records per batch to `out`.
    pub fn new(num: usize, record_type: RecordType, out: Box<dyn Write + Send>) -> Self {
        Pprint {
            num,
            record_type,
            out,
            scala: false,
        }
    }

    /// Prints Scala's `DStream.print()` layout when `scala` holds.
    pub fn in_scala_layout(mut self, scala: bool) -> Self {
        self.scala = scala;
        self
    }
}

/// The text `pprint` (or, with `scala`, Scala's `print`) prints for one
/// batch.
pub fn render(
    batch_time: BatchTime,
    partitions: &[Batch],
    num: usize,
    record_type: RecordType,
    scala: bool,
) -> String {
    let time = if scala {
        format!("{} ms", batch_time.0)
    } else {
        batch_time.python_str()
    };
    let mut text = format!("{RULE}\nTime: {time}\n{RULE}\n");
    let (key, value) = super::key_value(record_type);
    let mut printed = 0;
    'partitions: for partition in partitions {
        for i in 0..partition.len() {
            if printed == num {
                text.push_str("...\n");
                break 'partitions;
            }
            if scala {
                scala_record(&mut text, partition, i, key, value);
            } else {
                python_record(&mut text, partition, i, key, value);
            }
            text.push('\n');
            printed += 1;
        }
    }
    text.push('\n');
    text
}

impl Sink for Pprint {
    fn write(&mut self, batch_time: BatchTime, partitions: &[Batch]) -> Result<(), Error> {
        let text = render(
            batch_time,
            partitions,
            self.num,
            self.record_type,
            self.scala,
        );
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::Sink {
                sink: "pprint".into(),
                batch_time,
                message: format!("cannot write to standard output: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Column, ValueType};

    fn counts(pairs: &[(&str, i64)]) -> Batch {
        Batch {
            keys: Some(Batch::text(pairs.iter().map(|p| p.0)).values),
            values: Column::Int64(pairs.iter().map(|p| p.1).collect()),
        }
    }

    const KEYED: RecordType = RecordType {
        key: Some(ValueType::Text),
        value: ValueType::Int64,
    };

    /// 2026-11-23 20:02:20 UTC. `scripts/test.sh` runs the tests with
    /// TZ=UTC; the time line is checked against chrono's local rendering,
    /// so the test holds in any time zone.
    const TIME: BatchTime = BatchTime(1_763_928_140_000);

    #[test]
    fn prints_pyspark_format_with_ellipsis_past_num() {
        let parts = [counts(&[("a", 1), ("it's", 2)]), counts(&[("c", 3)])];
        let text = render(TIME, &parts, 2, KEYED, false);
        let expected = format!(
            "{RULE}\nTime: {}\n{RULE}\n('a', 1)\n(\"it's\", 2)\n...\n\n",
            TIME.python_str()
        );
        assert_eq!(text, expected);
        let all = render(TIME, &parts, 10, KEYED, false);
        assert!(all.ends_with("('c', 3)\n\n"), "{all}");
    }

    #[test]
    fn empty_batch_prints_header_and_empty_line() {
        let text = render(BatchTime(1_763_928_140_250), &[], 10, KEYED, false);
        assert_eq!(
            text,
            format!(
                "{RULE}\nTime: {}\n{RULE}\n\n",
                BatchTime(1_763_928_140_250).python_str()
            )
        );
        assert!(text.contains(".250000\n"), "{text}");
    }
}

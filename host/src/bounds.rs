//! The range of every number and duration a pipeline file may set.
//!
//! Each range is a module with `MIN`, `MAX`, a serde `deserialize` (and
//! `optional`) that refuses a value outside it while the file is read — so
//! the refusal carries the key's line and column — and `check` for values
//! read with their span. Numbers are read as `i64` first, so a negative or
//! huge value gets the same message as any other value out of range. The
//! reasons for each bound are in docs/security.md ("Limits and bounds").

use std::time::Duration;

/// The most records `top` and `take_ordered` give per batch (`num`).
pub const MAX_TOP_NUM: i64 = 1_000_000;

/// `num` of `top` and `take_ordered`, checked: 1 to [`MAX_TOP_NUM`].
///
/// # Errors
///
/// The message for a value out of range.
pub fn top_num(num: i64) -> Result<usize, String> {
    usize::try_from(num)
        .ok()
        .filter(|&n| (1..=MAX_TOP_NUM as usize).contains(&n))
        .ok_or_else(|| out_of_range("num", num, "1", &format!("{MAX_TOP_NUM} records")))
}

/// `key = value` out of `min..=max`: the message every range gives.
fn out_of_range(key: &str, value: impl std::fmt::Display, min: &str, max: &str) -> String {
    format!("`{key}` = {value} is out of range: it must be between {min} and {max}")
}

macro_rules! integer_range {
    ($(#[$doc:meta])* $name:ident: $ty:ty = $min:literal ..= $max:literal $(, $unit:literal)?) => {
        $(#[$doc])*
        pub mod $name {
            use serde::{Deserialize, Deserializer};

            /// The smallest value.
            pub const MIN: $ty = $min;
            /// The largest value.
            pub const MAX: $ty = $max;

            /// `value` if it is in range, else the message saying so.
            ///
            /// # Errors
            ///
            /// The message, naming the key and the range.
            pub fn check(value: i64) -> Result<$ty, String> {
                if (MIN as i64..=MAX as i64).contains(&value) {
                    Ok(value as $ty)
                } else {
                    let unit = concat!($(" ", $unit)?);
                    Err(super::out_of_range(
                        stringify!($name),
                        value,
                        &MIN.to_string(),
                        &format!("{}{unit}", MAX),
                    ))
                }
            }

            /// Reads the value and checks its range.
            ///
            /// # Errors
            ///
            /// When it is no integer or out of range.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                check(i64::deserialize(d)?).map_err(serde::de::Error::custom)
            }

            /// [`deserialize`] for an optional key.
            ///
            /// # Errors
            ///
            /// When it is no integer or out of range.
            pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                deserialize(d).map(Some)
            }
        }
    };
}

macro_rules! duration_range {
    ($(#[$doc:meta])* $name:ident = $min:expr, $max:expr) => {
        $(#[$doc])*
        pub mod $name {
            use std::time::Duration;

            use serde::Deserializer;

            /// The shortest value.
            pub const MIN: Duration = $min;
            /// The longest value.
            pub const MAX: Duration = $max;

            /// Reads a duration such as `"30s"` and checks its range.
            ///
            /// # Errors
            ///
            /// When it is no duration or out of range.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
                super::duration(stringify!($name), d, MIN, MAX)
            }

            /// [`deserialize`] for an optional key.
            ///
            /// # Errors
            ///
            /// When it is no duration or out of range.
            pub fn optional<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<Option<Duration>, D::Error> {
                deserialize(d).map(Some)
            }
        }
    };
}

fn duration<'de, D: serde::Deserializer<'de>>(
    key: &str,
    d: D,
    min: Duration,
    max: Duration,
) -> Result<Duration, D::Error> {
    use serde::Deserialize;
    let text = String::deserialize(d)?;
    let value = humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{key}`: invalid duration {text:?}: {e} (write e.g. \"1s\", \"500ms\", \"2m\")"
        ))
    })?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        Err(serde::de::Error::custom(out_of_range(
            key,
            format!("{text:?}"),
            &show(min),
            &show(max),
        )))
    }
}

integer_range!(
    /// Partitions of a batch (`partitions`, `--partitions`, a stream's
    /// `partitions`): each is a task per batch and a call per stream.
    partitions: usize = 1..=1024
);
integer_range!(
    /// `target_partition_mib`: the size input partitions are cut to; a
    /// partition's output must stay under `output_mib` (4 GiB at most).
    target_partition_mib: usize = 1..=1024, "MiB"
);
integer_range!(
    /// `memory_mib`: a 32-bit WebAssembly memory holds at most 4 GiB.
    memory_mib: u32 = 1..=4096, "MiB"
);
integer_range!(
    /// `table_elements`.
    table_elements: u32 = 1..=10_000_000
);
integer_range!(
    /// `instances`: core instances, tables and memories of one component.
    instances: u32 = 1..=10_000
);
integer_range!(
    /// `stack_kib`: the WebAssembly stack lives on the calling thread's
    /// native stack, at least 2 MiB on every thread that calls a plugin.
    stack_kib: u32 = 16..=1024, "KiB"
);
integer_range!(
    /// A table's `max_mib`: the largest file a `[tables.NAME]` reads; its
    /// records are held in memory.
    max_mib: usize = 1..=16_384, "MiB"
);
integer_range!(
    /// `output_mib`.
    output_mib: u32 = 1..=4096, "MiB"
);
integer_range!(
    /// `output_records_per_input`.
    output_records_per_input: u32 = 1..=10_000_000
);
integer_range!(
    /// `binary_mib`: the size of a component file.
    binary_mib: u32 = 1..=1024, "MiB"
);
integer_range!(
    /// `compile_memory_mib`: the compile process's address space, which
    /// starts at about 100 MiB before it reads the component.
    compile_memory_mib: u32 = 256..=65_536, "MiB"
);
integer_range!(
    /// `fuel`.
    fuel: u64 = 1..=1_000_000_000_000_000
);
integer_range!(
    /// `retries` of `on_error = "retry"`.
    retries: u32 = 0..=100
);
integer_range!(
    /// `rollback_after`.
    rollback_after: u32 = 0..=1000
);
integer_range!(
    /// `num` of a `pprint` sink.
    num: usize = 0..=100_000
);
integer_range!(
    /// `port` of a `socket` source.
    port: u16 = 1..=65_535
);
integer_range!(
    /// `max_line_bytes` of a source.
    max_line_bytes: usize = 64..=1_073_741_824, "bytes"
);
integer_range!(
    /// `max_files_per_batch` of a `files` source.
    max_files_per_batch: usize = 1..=1_000_000
);
integer_range!(
    /// `max_batch_mib` of a `files` source: the input one batch reads (its
    /// text column's 32-bit offsets address under 4 GiB).
    max_batch_mib: usize = 1..=4_095, "MiB"
);
integer_range!(
    /// `max_rate` of a `socket` source: lines read per second.
    max_rate: u32 = 1..=100_000_000, "lines per second"
);
integer_range!(
    /// `buffer_mib` of a `socket` source: what it holds before the next batch.
    buffer_mib: usize = 1..=16_384, "MiB"
);
integer_range!(
    /// `source_memory_mib`: what all the sources of a pipeline hold between
    /// batches, together.
    source_memory_mib: usize = 1..=65_536, "MiB"
);
integer_range!(
    /// `keep_batches`: batches each stream keeps for `sluice replay`.
    keep_batches: usize = 0..=1000
);
integer_range!(
    /// `keep_batch_mib`: what one stream keeps of one batch for replay.
    keep_batch_mib: usize = 1..=4096, "MiB"
);
integer_range!(
    /// `max_requests` of a sink plugin's `allow`: HTTP requests per call.
    max_requests: u32 = 1..=100_000
);
integer_range!(
    /// `max_request_bytes` of a sink plugin's `allow`: request body bytes
    /// per call, all requests together (each body is held whole before it
    /// is sent).
    max_request_bytes: u64 = 1..=1_073_741_824, "bytes"
);
duration_range!(
    /// `batch_interval`.
    batch_interval = Duration::from_millis(10), Duration::from_secs(24 * 3600)
);
duration_range!(
    /// `call_time`: enforced in ticks of 10 ms.
    call_time = Duration::from_millis(10), Duration::from_secs(3600)
);
duration_range!(
    /// `total_time` of a sink plugin: every attempt at a partition batch,
    /// retries and their waits included.
    total_time = Duration::from_millis(10), Duration::from_secs(24 * 3600)
);
duration_range!(
    /// `compile_time`.
    compile_time = Duration::from_millis(100), Duration::from_secs(3600)
);
duration_range!(
    /// `window_duration` and `slide_duration` of a windowed stream (also
    /// multiples of the input's slide, checked with the plan).
    window_duration = Duration::from_millis(10), Duration::from_secs(7 * 24 * 3600)
);
integer_range!(
    /// `max_state_mib` of a windowed stream: what the host holds for it.
    max_state_mib: usize = 1..=1_048_576, "MiB"
);
duration_range!(
    /// `retry_backoff`.
    retry_backoff = Duration::ZERO, Duration::from_secs(3600)
);

integer_range!(
    /// `max_records_per_partition` of a Kafka source: records one batch
    /// reads from one Kafka partition.
    max_records_per_partition: u64 = 1..=100_000_000, "records"
);
duration_range!(
    /// `connect_timeout` of a Kafka source or sink: the brokers' first
    /// answer at start.
    connect_timeout = Duration::from_millis(100), Duration::from_secs(3600)
);
duration_range!(
    /// `broker_wait` of a Kafka source or sink: how long a batch waits for
    /// brokers that stopped answering.
    broker_wait = Duration::from_millis(100), Duration::from_secs(7 * 24 * 3600)
);

#[cfg(test)]
mod tests {
    #[test]
    fn values_outside_a_range_are_refused_with_the_range() {
        assert_eq!(super::memory_mib::check(4096), Ok(4096));
        assert_eq!(
            super::memory_mib::check(4_000_000_000),
            Err(
                "`memory_mib` = 4000000000 is out of range: it must be between 1 and 4096 MiB"
                    .into()
            )
        );
        assert_eq!(
            super::partitions::check(-1),
            Err("`partitions` = -1 is out of range: it must be between 1 and 1024".into())
        );
    }
}

//! The pipeline file: TOML, read with serde, unknown keys rejected.
//!
//! A pipeline is a graph of named nodes: `[sources.NAME]` produce lines,
//! `[streams.NAME]` apply one operator to the node named by `from`, and
//! `[sinks.NAME]` write a node's records out. Paths are relative to the
//! pipeline file. Every error carries the file, line and column.
//!
//! ```toml
//! batch_interval = "1s"        # required
//! target_partition_mib = 4     # input cut into partitions of about this size,
//!                              # at least one per core (see crate::partition)
//! # partitions = 4             (instead: exactly this many input partitions)
//! name = "wordcount"           # default: the file name
//!
//! state_dir = ".sluice/wordcount"  # control socket; default: .sluice/<name>
//! source_memory_mib = 256      # the socket sources' buffer_mib add up to at most this
//! checkpoint = false           # true: resume after a restart (see crate::checkpoint)
//! ui = "127.0.0.1:4040"        # the web UI and /metrics (the next free port if taken); false: off
//! keep_batches = 3             # each plugin stream's calls kept for `sluice replay`; 0: none
//! keep_batch_mib = 1           # a stream's batch bigger than this is not kept
//!
//! [control]                    # optional: also listen on TCP, with a token
//! listen = "127.0.0.1:7171"
//! token_file = "control.token"
//!
//! [limits]                     # per call, for every stream (see plugin::limits)
//! call_time = "30s"
//! memory_mib = 512
//!
//! [sources.lines]
//! kind = "files"               # or "socket" (host, port)
//! path = "in"
//! include_existing = false     # read files already there at start
//! # max_files_per_batch = 1    (files: at most this many per batch, in name order)
//! # max_batch_mib = 1024       (files: at most this much input per batch, in name order)
//! invalid_utf8 = "replace"     # or "skip" or "fail"
//! max_line_bytes = 8388608     # longer lines follow long_lines
//! long_lines = "split"         # or "skip" or "fail"
//! # buffer_mib = 64            (socket: held for the next batch)
//! # max_rate = 10000           (socket: at most this many lines per second)
//! # backpressure = false       (socket: adapt the rate to the processing rate, Spark's PID estimator)
//! # wal_sync = "batch"         (socket, checkpointed: fsync the log per batch, or "always")
//! # kafka: brokers = "host:9092", topics = ["t"] (or topic_pattern = "events-.*"), group = "g",
//! #   starting_offsets = "latest" (or "earliest"), max_records_per_partition = 100000,
//! #   key = "text" | "bytes" (default: unkeyed), value = "text" | "bytes" | "record",
//! #   connect_timeout = "30s", broker_wait = "10m", [sources.NAME.properties] (librdkafka's)
//!
//! [streams.words]
//! from = "lines"               # a list for union | join | left_outer_join |
//!                              # right_outer_join | full_outer_join | cogroup
//! op = "flat_map"              # map | flat_map | filter | map_values | flat_map_values | reduce_by_key |
//!                              # sort_by_key | sort_by | top | take_ordered | distinct | sample |
//!                              # reduce_by_key_and_window | reduce | reduce_by_window |
//!                              # update_state_by_key | map_with_state (timeout = "30m")
//!                              # host, no plugin: count | count_by_window | count_by_value |
//!                              # state_snapshots (from a map_with_state stream) |
//!                              # count_by_value_and_window | window |
//!                              # group_by_key | group_by_key_and_window |
//!                              # repartition (with partitions = N)
//! plugin = "split_words.wasm"
//! params = { min_length = 3 }  # handed to the plugin's init
//! partitions = 4               # reduce_by_key only: partitions after the exchange
//! limits = { call_time = "5s" }
//! on_error = "fail"            # retry | skip | dead_letter
//! # retries = 3, retry_backoff = "100ms"     (retry)
//! # dead_letter = "dead-letter/words"         (dead_letter)
//! rollback_after = 3           # deployed version: failing batches before rollback; 0: never
//!
//! [streams.recent]             # reduce_by_key_and_window: a reducer over a sliding window
//! from = "pairs"
//! op = "reduce_by_key_and_window"
//! plugin = "sum.wasm"
//! window_duration = "30s"      # multiples of the input's slide (batch_interval)
//! slide_duration = "10s"       # default: the input's slide
//! max_state_mib = 2048         # what the host may hold for the window
//! inverse_plugin = "subtract.wasm"  # optional: Spark's invFunc, incremental windows
//! drop_when = 0                # with inverse_plugin: keys whose value becomes this go
//!
//! [streams.totals]             # update_state_by_key: a state per key, across batches
//! from = "pairs"
//! op = "update_state_by_key"
//! plugin = "running_sum.wasm"
//! initial_state = "initial.jsonl"  # optional: {"key": "hello", "value": 1} per line
//! max_state_mib = 2048         # what the host may hold for the states
//!
//! [tables.sentiments]         # reference data, for union / the joins / cogroup;
//! path = "sentiments.csv"      # read at start and again when the file changes
//! format = "csv"               # or "jsonl"
//! key = "word"                 # the key column (CSV) or field (JSON lines)
//! value = "score"              # default: the whole row as a JSON object
//! value_type = "float64"       # text | int64 | float64 | json; key_type likewise
//! # max_mib = 256              (the largest file read)
//!
//! [sinks.console]
//! from = "words"
//! kind = "pprint"              # num = 10; "print" for Scala's DStream.print() layout
//! # kind = "text_files", prefix = "out/counts", suffix = "txt", format = "text" | "jsonl"
//!
//! [sinks.alerts]               # a sink plugin: foreachRDD, sandboxed
//! from = "counts"
//! kind = "plugin"
//! plugin = "post_alerts.wasm"
//! params = { url = "http://127.0.0.1:8080/alerts" }
//! allow = { http = ["http://127.0.0.1:8080/alerts"] }  # nothing else is reachable
//! # allow.max_requests = 100, allow.max_request_bytes = 16777216   (per call)
//! # limits = { call_time = "30s" }  (network waits included)
//! on_error = "retry"           # the sinks' default; or "fail" | "skip"
//! # retries = 3, retry_backoff = "100ms", total_time = "5m"  (retry)
//!
//! [sinks.topic]                # records to a Kafka topic (see crate::sink::kafka)
//! from = "counts"
//! kind = "kafka"
//! brokers = "localhost:9092"
//! topic = "counts"
//! # serialization = "raw" | "json", delivery = "at_least_once" | "transactional",
//! # connect_timeout = "30s", broker_wait = "10m", [sinks.topic.properties] (librdkafka's)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::plugin::OperatorKind;
use crate::plugin::limits::Limits;

/// The whole pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name in logs and errors; default: the file's stem.
    pub name: Option<String>,
    /// Time between two batches, e.g. `"1s"`.
    #[serde(with = "crate::bounds::batch_interval")]
    pub batch_interval: Duration,
    /// Input partitions per batch, whatever their size; default: sized by
    /// data (`target_partition_mib`).
    pub partitions: Option<Spanned<usize>>,
    /// The size, in MiB, input partitions are cut to (at least one per
    /// core); default [`crate::partition::DEFAULT_TARGET_PARTITION_MIB`].
    #[serde(
        default,
        deserialize_with = "crate::bounds::target_partition_mib::optional"
    )]
    pub target_partition_mib: Option<usize>,
    /// Limits for every stream's calls.
    #[serde(default)]
    pub limits: Limits,
    /// What the sources hold between batches, together, in MiB (default
    /// [`DEFAULT_SOURCE_MEMORY_MIB`]): the socket sources' `buffer_mib` must
    /// fit in it.
    #[serde(
        default,
        deserialize_with = "crate::bounds::source_memory_mib::optional"
    )]
    pub source_memory_mib: Option<usize>,
    /// Where the running pipeline keeps its control socket, relative to the
    /// pipeline file; default `.sluice/<name>`.
    pub state_dir: Option<String>,
    /// How many of the last batches each plugin stream keeps its calls'
    /// input and output of, in `state_dir`, for `sluice replay` (default
    /// [`crate::replay::DEFAULT_KEEP_BATCHES`]; 0 keeps none).
    #[serde(default, deserialize_with = "crate::bounds::keep_batches::optional")]
    pub keep_batches: Option<usize>,
    /// The most one stream keeps of one batch for replay, in MiB (default
    /// [`crate::replay::DEFAULT_KEEP_BATCH_MIB`]); a bigger batch is not
    /// kept.
    #[serde(default, deserialize_with = "crate::bounds::keep_batch_mib::optional")]
    pub keep_batch_mib: Option<usize>,
    /// Whether each batch is checkpointed in `state_dir`, so that a
    /// restarted run resumes where this one stopped (default false).
    pub checkpoint: Option<Spanned<bool>>,
    /// The control endpoint's optional TCP listener.
    #[serde(default)]
    pub control: ControlConfig,
    /// Where the web UI and `/metrics` listen (`"127.0.0.1:4040"` by
    /// default), or `false` for none.
    pub ui: Option<Spanned<UiSetting>>,
    /// The sources, by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// The streams, by name.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamConfig>,
    /// The sinks, by name.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Reference data sets, by name, joined with streams (see
    /// [`crate::table`]).
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
}

/// One `[tables.NAME]` table: a reference data set read from a file, for
/// `union`, the joins and `cogroup` (Spark's
/// `transform(lambda rdd: rdd.join(static))`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The file, relative to the pipeline file.
    pub path: Spanned<String>,
    /// How it is written.
    pub format: Spanned<TableFormat>,
    /// The column (CSV) or field (JSON lines) holding each record's key.
    pub key: Spanned<String>,
    /// The column or field holding each record's value; default: the
    /// whole row, as a JSON object.
    pub value: Option<Spanned<String>>,
    /// The keys' type (default `text`).
    pub key_type: Option<Spanned<TableType>>,
    /// The values' type (default `text` for a CSV column, `json` for a
    /// JSON field or a whole row).
    pub value_type: Option<Spanned<TableType>>,
    /// The largest file read, in MiB (default
    /// [`crate::table::DEFAULT_MAX_TABLE_MIB`]).
    pub max_mib: Option<Spanned<i64>>,
}

/// How a table's file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line (RFC 4180).
    Csv,
}

/// The type of a table's keys or values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableType {
    /// UTF-8 text.
    Text,
    /// Signed 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// JSON documents.
    Json,
}

impl From<TableType> for crate::batch::ValueType {
    fn from(t: TableType) -> Self {
        match t {
            TableType::Text => crate::batch::ValueType::Text,
            TableType::Int64 => crate::batch::ValueType::Int64,
            TableType::Float64 => crate::batch::ValueType::Float64,
            TableType::Json => crate::batch::ValueType::Json,
        }
    }
}

/// The `ui` key: an address, or whether to serve at all.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum UiSetting {
    /// `true` (the default address) or `false` (no UI).
    Enabled(bool),
    /// `"HOST:PORT"`.
    Address(String),
}

/// The `[control]` table: a TCP listener beside the Unix socket, which is
/// always there.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Address to listen on, e.g. `127.0.0.1:7171`.
    pub listen: Option<Spanned<String>>,
    /// File holding the token every TCP request must carry, relative to
    /// the pipeline file. Required with `listen`.
    pub token_file: Option<Spanned<String>>,
}

/// Kinds of source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// New files in a directory (`textFileStream`).
    Files,
    /// Lines from a TCP server (`socketTextStream`).
    Socket,
    /// Records of Kafka topics (`KafkaUtils.createDirectStream`).
    Kafka,
}

/// What to do with a line that is not valid UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidUtf8 {
    /// Replace invalid sequences with U+FFFD, count and log the line.
    #[default]
    Replace,
    /// Drop the line, count and log it.
    Skip,
    /// Fail the pipeline, naming the file and line.
    Fail,
}

/// What to do with a line longer than `max_line_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongLines {
    /// Cut it into lines of at most `max_line_bytes` (at a character
    /// boundary), count and log it: nothing is lost.
    #[default]
    Split,
    /// Drop it, count and log it.
    Skip,
    /// Fail the pipeline, naming the file or connection and the line.
    Fail,
}

/// The default `max_line_bytes`: 8 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;

/// The default `max_batch_mib` of a files source: a backlog is read in
/// batches of about 1 GiB, so a batch's peak memory (about twice its input)
/// stays near 2 GiB whatever waits in the directory.
pub const DEFAULT_FILES_MAX_BATCH_MIB: usize = 1024;

/// The default `buffer_mib` of a socket source.
pub const DEFAULT_SOCKET_BUFFER_MIB: usize = 64;

/// The default `source_memory_mib`: four socket sources of the default
/// `buffer_mib`.
pub const DEFAULT_SOURCE_MEMORY_MIB: usize = 256;

/// One `[sources.NAME]` table. Which keys apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The kind of source.
    pub kind: Spanned<SourceKind>,
    /// `files`: the directory to watch.
    pub path: Option<Spanned<String>>,
    /// `files`: also read the files present at start (default false).
    pub include_existing: Option<Spanned<bool>>,
    /// `files`: the most files one batch reads, in name order; the rest
    /// wait for later batches (default: no limit).
    pub max_files_per_batch: Option<Spanned<i64>>,
    /// `files`: the most input one batch reads, in MiB (default 1024):
    /// files are taken in name order while their sizes fit, the rest wait;
    /// a single larger file is read alone.
    #[serde(default, deserialize_with = "crate::bounds::max_batch_mib::optional")]
    pub max_batch_mib: Option<usize>,
    /// `socket`: the host to connect to (default `127.0.0.1`).
    pub host: Option<Spanned<String>>,
    /// `socket`: the port to connect to.
    pub port: Option<Spanned<u16>>,
    /// Lines that are not UTF-8 (default `replace`).
    #[serde(default)]
    pub invalid_utf8: InvalidUtf8,
    /// The longest line, in bytes (default 8 MiB).
    #[serde(default, deserialize_with = "crate::bounds::max_line_bytes::optional")]
    pub max_line_bytes: Option<usize>,
    /// Lines longer than `max_line_bytes` (default `split`).
    #[serde(default)]
    pub long_lines: LongLines,
    /// `socket`: what the source holds for the next batch, in MiB (default
    /// 64); when full it stops reading, and TCP pushes back on the server.
    #[serde(default, deserialize_with = "crate::bounds::buffer_mib::optional")]
    pub buffer_mib: Option<usize>,
    /// `socket`: the most lines read per second (default: no limit), as
    /// Spark's `spark.streaming.receiver.maxRate`; above it the source reads
    /// no further and TCP pushes back on the server.
    #[serde(default, deserialize_with = "crate::bounds::max_rate::optional")]
    pub max_rate: Option<u32>,
    /// `socket`: adapt the rate lines are read at to how fast batches are
    /// processed (Spark's `spark.streaming.backpressure.enabled`; default
    /// false).
    pub backpressure: Option<Spanned<bool>>,
    /// `socket` with `checkpoint = true`: when its write-ahead log is
    /// forced to disk, `batch` (default) or `always`.
    pub wal_sync: Option<Spanned<crate::source::wal::WalSync>>,
    /// `kafka`: the bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: Option<Spanned<String>>,
    /// `kafka`: the topics read.
    pub topics: Option<Spanned<Vec<String>>>,
    /// `kafka`: a regular expression naming the topics read, instead of
    /// `topics`.
    pub topic_pattern: Option<Spanned<String>>,
    /// `kafka`: the consumer group the source commits its offsets to.
    pub group: Option<Spanned<String>>,
    /// `kafka`: where a partition without a committed offset starts
    /// (default `latest`).
    pub starting_offsets: Option<Spanned<crate::kafka::StartingOffsets>>,
    /// `kafka`: the most records one batch reads from one Kafka partition
    /// (default 100 000; Spark's `maxRatePerPartition` times the interval).
    #[serde(
        default,
        deserialize_with = "crate::bounds::max_records_per_partition::optional"
    )]
    pub max_records_per_partition: Option<u64>,
    /// `kafka`: the records' key type, `text` or `bytes` (default: no key,
    /// an unkeyed stream).
    pub key: Option<Spanned<crate::kafka::KafkaKey>>,
    /// `kafka`: the records' value, `text` (default), `bytes` or `record`.
    pub value: Option<Spanned<crate::kafka::KafkaValue>>,
    /// `kafka`: librdkafka properties passed through (`sasl.*`, `ssl.*`,
    /// tuning), never logged.
    pub properties: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// `kafka`: how long the brokers may take to answer at start (default
    /// 30 s).
    #[serde(default, deserialize_with = "crate::bounds::connect_timeout::optional")]
    pub connect_timeout: Option<Duration>,
    /// `kafka`: how long a batch waits for brokers that stopped answering,
    /// retrying with backoff, before the pipeline fails (default 10 min).
    #[serde(default, deserialize_with = "crate::bounds::broker_wait::optional")]
    pub broker_wait: Option<Duration>,
}

/// Limits of one stream, overriding the pipeline's (`stack_kib` is
/// engine-wide and can only be set in the pipeline's `[limits]`).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// See [`Limits::call_time`].
    #[serde(default, deserialize_with = "crate::bounds::call_time::optional")]
    pub call_time: Option<Duration>,
    /// See [`Limits::memory_mib`].
    #[serde(default, deserialize_with = "crate::bounds::memory_mib::optional")]
    pub memory_mib: Option<u32>,
    /// See [`Limits::table_elements`].
    #[serde(default, deserialize_with = "crate::bounds::table_elements::optional")]
    pub table_elements: Option<u32>,
    /// See [`Limits::instances`].
    #[serde(default, deserialize_with = "crate::bounds::instances::optional")]
    pub instances: Option<u32>,
    /// See [`Limits::output_mib`].
    #[serde(default, deserialize_with = "crate::bounds::output_mib::optional")]
    pub output_mib: Option<u32>,
    /// See [`Limits::output_records_per_input`].
    #[serde(
        default,
        deserialize_with = "crate::bounds::output_records_per_input::optional"
    )]
    pub output_records_per_input: Option<u32>,
    /// See [`Limits::binary_mib`].
    #[serde(default, deserialize_with = "crate::bounds::binary_mib::optional")]
    pub binary_mib: Option<u32>,
    /// See [`Limits::compile_time`].
    #[serde(default, deserialize_with = "crate::bounds::compile_time::optional")]
    pub compile_time: Option<Duration>,
    /// See [`Limits::compile_memory_mib`].
    #[serde(
        default,
        deserialize_with = "crate::bounds::compile_memory_mib::optional"
    )]
    pub compile_memory_mib: Option<u32>,
    /// See [`Limits::fuel`].
    #[serde(default, deserialize_with = "crate::bounds::fuel::optional")]
    pub fuel: Option<u64>,
}

impl LimitsOverride {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            call_time: self.call_time.unwrap_or(base.call_time),
            memory_mib: self.memory_mib.unwrap_or(base.memory_mib),
            table_elements: self.table_elements.unwrap_or(base.table_elements),
            instances: self.instances.unwrap_or(base.instances),
            stack_kib: base.stack_kib,
            output_mib: self.output_mib.unwrap_or(base.output_mib),
            output_records_per_input: self
                .output_records_per_input
                .unwrap_or(base.output_records_per_input),
            binary_mib: self.binary_mib.unwrap_or(base.binary_mib),
            compile_time: self.compile_time.unwrap_or(base.compile_time),
            compile_memory_mib: self.compile_memory_mib.unwrap_or(base.compile_memory_mib),
            fuel: self.fuel.or(base.fuel),
        }
    }
}

/// One `[streams.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The source or stream this one reads; several for `union`, the
    /// joins and `cogroup`.
    pub from: Spanned<Inputs>,
    /// The operator.
    pub op: Spanned<StreamOp>,
    /// The component implementing it, relative to the pipeline file (none
    /// for the operators the host runs itself: `count`, `count_by_value`,
    /// `window`, …).
    pub plugin: Option<Spanned<String>>,
    /// Parameters handed to the plugin's `init`.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// `reduce_by_key`: partitions after the exchange; default: the
    /// pipeline's `partitions`.
    pub partitions: Option<Spanned<usize>>,
    /// Limits overriding the pipeline's.
    #[serde(default)]
    pub limits: LimitsOverride,
    /// What to do when a call of this stream's plugin fails (default
    /// `fail`).
    #[serde(default)]
    pub on_error: OnError,
    /// `on_error = "retry"`: attempts after the first (default 3).
    pub retries: Option<Spanned<u32>>,
    /// `on_error = "retry"`: wait before the first retry, doubled for each
    /// next one (default `"100ms"`).
    #[serde(default, deserialize_with = "crate::bounds::retry_backoff::optional")]
    pub retry_backoff: Option<Duration>,
    /// `on_error = "dead_letter"`: the directory dead-letter files go to,
    /// relative to the pipeline file (default `dead-letter/<stream>`).
    pub dead_letter: Option<Spanned<String>>,
    /// A deployed version that fails this many consecutive batches is
    /// replaced by the previous version (default 3; 0 disables).
    #[serde(default, deserialize_with = "crate::bounds::rollback_after::optional")]
    pub rollback_after: Option<u32>,
    /// Windowed streams: the window's length, a multiple of the input's
    /// slide (for a source, `batch_interval`).
    pub window_duration: Option<Spanned<WindowDuration>>,
    /// Windowed streams: how often the window is computed (default: the
    /// input's slide), a multiple of the input's slide.
    pub slide_duration: Option<Spanned<WindowDuration>>,
    /// Windowed and `update_state_by_key` streams: the most the host holds
    /// for the window or the state, in MiB (default 2048).
    pub max_state_mib: Option<Spanned<i64>>,
    /// `update_state_by_key`: a JSON-lines file of the states to start
    /// with, one `{"key": …, "value": …}` per line (what a `text_files`
    /// sink with `format = "jsonl"` writes), relative to the pipeline file.
    pub initial_state: Option<Spanned<String>>,
    /// `reduce_by_key_and_window`: an inverse reducer (Spark's `invFunc`),
    /// relative to the pipeline file: the window is then updated
    /// incrementally as batches enter and leave it.
    pub inverse_plugin: Option<Spanned<String>>,
    /// With `inverse_plugin`: keys whose value over the window equals this
    /// are dropped (Spark's `filterFunc`; `0` for counts that fell to zero).
    pub drop_when: Option<Spanned<toml::Value>>,
    /// `map_with_state`: a key that gets no value for this long is called
    /// once more, timing out, and its state removed (`StateSpec.timeout`).
    pub timeout: Option<Spanned<WindowDuration>>,
    /// `sort_by_key`, `sort_by`: smallest first (default true).
    pub ascending: Option<Spanned<bool>>,
    /// `top`, `take_ordered`: how many records each batch gives.
    pub num: Option<Spanned<i64>>,
    /// `sort_by`, `top`, `take_ordered`: what records are ordered by,
    /// `record` (key then value, the default), `key` or `value`.
    pub by: Option<Spanned<crate::per_batch::OrderBy>>,
    /// `sample`: the share of records kept, 0 to 1.
    pub fraction: Option<Spanned<f64>>,
    /// `sample`: the seed (default 0): the same seed, the same sample.
    pub seed: Option<Spanned<i64>>,
}

/// A stream's `from`: one node's name, or a list of them for the operators
/// that read several streams.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a source or stream name, or a list of names: from = \"a\" or from = [\"a\", \"b\"]"
)]
pub enum Inputs {
    /// `from = "a"`.
    One(String),
    /// `from = ["a", "b", …]`.
    Many(Vec<String>),
}

impl Inputs {
    /// The names, in order.
    pub fn names(&self) -> &[String] {
        match self {
            Inputs::One(name) => std::slice::from_ref(name),
            Inputs::Many(names) => names,
        }
    }
}

impl std::fmt::Display for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inputs::One(name) => f.write_str(name),
            Inputs::Many(names) => {
                let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
                write!(f, "[{}]", quoted.join(", "))
            }
        }
    }
}

/// The operator of a stream, as the pipeline file names it (Spark's names,
/// in snake case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamOp {
    /// `DStream.map`, a mapper plugin.
    Map,
    /// `DStream.flatMap`, a flat-mapper plugin.
    FlatMap,
    /// `DStream.filter`, a filter plugin.
    Filter,
    /// `DStream.reduceByKey`, a reducer plugin.
    ReduceByKey,
    /// `DStream.reduceByKeyAndWindow`, a reducer plugin over the batches of
    /// a sliding window.
    ReduceByKeyAndWindow,
    /// `DStream.mapValues`, a mapper plugin that sees the values only; the
    /// keys pass through the host untouched.
    MapValues,
    /// `DStream.flatMapValues`, a value flat-mapper plugin that sees the
    /// values only; each output keeps its input's key.
    FlatMapValues,
    /// `DStream.reduce`: a reducer plugin combining all the records of an
    /// unkeyed batch into one.
    Reduce,
    /// `DStream.reduceByWindow`: `reduce` over the batches of a window.
    ReduceByWindow,
    /// `DStream.count`: the number of records of each batch (0 for an empty
    /// one), run by the host.
    Count,
    /// `DStream.countByWindow`: the number of records in the window (0 for
    /// an empty one), run by the host.
    CountByWindow,
    /// `DStream.countByValue`: (value, count) for every distinct value,
    /// run by the host.
    CountByValue,
    /// `DStream.countByValueAndWindow`, run by the host.
    CountByValueAndWindow,
    /// `DStream.window`: every record of the window's batches, run by the
    /// host.
    Window,
    /// `DStream.repartition`: each batch's records spread over
    /// `partitions` partitions, run by the host.
    Repartition,
    /// `DStream.updateStateByKey`: a state updater plugin keeps a state
    /// per key across batches; the stream gives every (key, state).
    UpdateStateByKey,
    /// `mapWithState`: a state mapper plugin maps each record with its
    /// key's state, called only for keys with new values (and, with
    /// `timeout`, once for keys idle that long).
    MapWithState,
    /// `stateSnapshots()`: every (key, state) a `map_with_state` stream
    /// keeps, after each batch; run by the host.
    StateSnapshots,
    /// `transform(lambda rdd: rdd.sortByKey(ascending))`: each batch's
    /// records ordered by key; run by the host.
    SortByKey,
    /// `rdd.sortBy(...)` by key, value or whole record (`by`); run by the
    /// host.
    SortBy,
    /// `rdd.top(num)`: each batch's `num` largest records (by `by`),
    /// largest first; run by the host.
    Top,
    /// `rdd.takeOrdered(num)`: each batch's `num` smallest records (by
    /// `by`); run by the host.
    TakeOrdered,
    /// `rdd.distinct()`: each record of a batch once; run by the host.
    Distinct,
    /// `rdd.sample(False, fraction, seed)`: each record kept with
    /// probability `fraction`, the same for the same `seed`; run by the
    /// host.
    Sample,
    /// `DStream.union`: the records of every stream of `from`, of one
    /// record type; run by the host.
    Union,
    /// `DStream.join`: (k, (v, w)) for every pair of values of a key in
    /// both streams of `from`; run by the host.
    Join,
    /// `DStream.leftOuterJoin`: as `join`, plus (k, (v, None)) for keys
    /// only in the first stream.
    LeftOuterJoin,
    /// `DStream.rightOuterJoin`: as `join`, plus (k, (None, w)) for keys
    /// only in the second stream.
    RightOuterJoin,
    /// `DStream.fullOuterJoin`: both outer joins' records.
    FullOuterJoin,
    /// `DStream.cogroup`: (k, ([v…], [w…])) for every key of either
    /// stream.
    Cogroup,
    /// `DStream.groupByKey`: (k, [v…]) for every key of the batch, its
    /// values in arrival order; run by the host.
    GroupByKey,
    /// `DStream.groupByKeyAndWindow`: `group_by_key` over the batches of a
    /// window; run by the host.
    GroupByKeyAndWindow,
}

impl StreamOp {
    /// The contract interface its plugin implements; `None` for the
    /// operators the host runs itself.
    pub fn plugin_kind(self) -> Option<OperatorKind> {
        match self {
            StreamOp::Map | StreamOp::MapValues => Some(OperatorKind::Map),
            StreamOp::FlatMap => Some(OperatorKind::FlatMap),
            StreamOp::FlatMapValues => Some(OperatorKind::FlatMapValues),
            StreamOp::Filter => Some(OperatorKind::Filter),
            StreamOp::ReduceByKey
            | StreamOp::ReduceByKeyAndWindow
            | StreamOp::Reduce
            | StreamOp::ReduceByWindow => Some(OperatorKind::ReduceByKey),
            StreamOp::UpdateStateByKey => Some(OperatorKind::UpdateState),
            StreamOp::MapWithState => Some(OperatorKind::MapWithState),
            StreamOp::Count
            | StreamOp::CountByWindow
            | StreamOp::CountByValue
            | StreamOp::CountByValueAndWindow
            | StreamOp::Window
            | StreamOp::StateSnapshots
            | StreamOp::Repartition
            | StreamOp::SortByKey
            | StreamOp::SortBy
            | StreamOp::Top
            | StreamOp::TakeOrdered
            | StreamOp::Distinct
            | StreamOp::Sample
            | StreamOp::Union
            | StreamOp::Join
            | StreamOp::LeftOuterJoin
            | StreamOp::RightOuterJoin
            | StreamOp::FullOuterJoin
            | StreamOp::Cogroup
            | StreamOp::GroupByKey
            | StreamOp::GroupByKeyAndWindow => None,
        }
    }

    /// Whether the stream computes over a window of batches.
    pub fn is_windowed(self) -> bool {
        matches!(
            self,
            StreamOp::ReduceByKeyAndWindow
                | StreamOp::ReduceByWindow
                | StreamOp::CountByWindow
                | StreamOp::CountByValueAndWindow
                | StreamOp::Window
                | StreamOp::GroupByKeyAndWindow
        )
    }

    /// How the stream's records move (see [`Shape`]).
    pub fn shape(self) -> Shape {
        match self {
            StreamOp::Map
            | StreamOp::FlatMap
            | StreamOp::Filter
            | StreamOp::MapValues
            | StreamOp::FlatMapValues => Shape::Narrow,
            StreamOp::ReduceByKey
            | StreamOp::ReduceByKeyAndWindow
            | StreamOp::CountByValue
            | StreamOp::CountByValueAndWindow
            | StreamOp::GroupByKey
            | StreamOp::GroupByKeyAndWindow => Shape::ByKey,
            StreamOp::Count
            | StreamOp::CountByWindow
            | StreamOp::Reduce
            | StreamOp::ReduceByWindow
            | StreamOp::SortByKey
            | StreamOp::SortBy
            | StreamOp::Top
            | StreamOp::TakeOrdered
            | StreamOp::Distinct
            | StreamOp::Sample => Shape::Global,
            StreamOp::Window => Shape::Gathered,
            StreamOp::Repartition => Shape::Repartition,
            StreamOp::UpdateStateByKey | StreamOp::MapWithState => Shape::Stateful,
            StreamOp::StateSnapshots => Shape::Snapshot,
            StreamOp::Union
            | StreamOp::Join
            | StreamOp::LeftOuterJoin
            | StreamOp::RightOuterJoin
            | StreamOp::FullOuterJoin
            | StreamOp::Cogroup => Shape::Combine,
        }
    }

    /// The pipeline file's name of the operator.
    pub fn name(self) -> &'static str {
        match self {
            StreamOp::Map => "map",
            StreamOp::FlatMap => "flat_map",
            StreamOp::Filter => "filter",
            StreamOp::ReduceByKey => "reduce_by_key",
            StreamOp::ReduceByKeyAndWindow => "reduce_by_key_and_window",
            StreamOp::MapValues => "map_values",
            StreamOp::FlatMapValues => "flat_map_values",
            StreamOp::Reduce => "reduce",
            StreamOp::ReduceByWindow => "reduce_by_window",
            StreamOp::Count => "count",
            StreamOp::CountByWindow => "count_by_window",
            StreamOp::CountByValue => "count_by_value",
            StreamOp::CountByValueAndWindow => "count_by_value_and_window",
            StreamOp::Window => "window",
            StreamOp::Repartition => "repartition",
            StreamOp::UpdateStateByKey => "update_state_by_key",
            StreamOp::MapWithState => "map_with_state",
            StreamOp::StateSnapshots => "state_snapshots",
            StreamOp::SortByKey => "sort_by_key",
            StreamOp::SortBy => "sort_by",
            StreamOp::Top => "top",
            StreamOp::TakeOrdered => "take_ordered",
            StreamOp::Distinct => "distinct",
            StreamOp::Sample => "sample",
            StreamOp::Union => "union",
            StreamOp::Join => "join",
            StreamOp::LeftOuterJoin => "left_outer_join",
            StreamOp::RightOuterJoin => "right_outer_join",
            StreamOp::FullOuterJoin => "full_outer_join",
            StreamOp::Cogroup => "cogroup",
            StreamOp::GroupByKey => "group_by_key",
            StreamOp::GroupByKeyAndWindow => "group_by_key_and_window",
        }
    }
}

impl std::fmt::Display for StreamOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a stream's records move between partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Each partition on its own (map, flat_map, filter): fused in chains.
    Narrow,
    /// Combined per partition, exchanged by key hash, combined again.
    ByKey,
    /// Combined per partition, then all partitions into one record.
    Global,
    /// Taken whole, partition by partition, without a call per partition
    /// (`window`).
    Gathered,
    /// Taken whole and cut again into the stream's `partitions`
    /// (`repartition`), without a call.
    Repartition,
    /// Exchanged by key hash into the partitions of the state the host
    /// keeps, each updated by one call (`update_state_by_key`).
    Stateful,
    /// The states its input keeps, not its input's records
    /// (`state_snapshots`), without a call.
    Snapshot,
    /// The records of several streams combined by the host: appended
    /// (`union`), or exchanged by key hash into the same partitions and
    /// joined or grouped per partition (the joins, `cogroup`).
    Combine,
}

impl StreamOp {
    /// Whether it reads several streams (`from = [..]`).
    pub fn takes_several(self) -> bool {
        self.shape() == Shape::Combine
    }
}

/// A `window_duration` or `slide_duration`, in range (see
/// [`crate::bounds::window_duration`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowDuration(pub Duration);

impl<'de> Deserialize<'de> for WindowDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::bounds::window_duration::deserialize(d).map(WindowDuration)
    }
}

/// What happens to a partition batch whose plugin call fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop the pipeline with the error (the batch is not delivered).
    #[default]
    Fail,
    /// Call again, with backoff, when the failure may be transient (a
    /// timeout); fail the pipeline when retries run out or the failure is
    /// deterministic.
    Retry,
    /// Drop the failing partition batch, count and log it, go on.
    Skip,
    /// Find the records that make the call fail by splitting the batch,
    /// write each with its error to the dead-letter directory, and process
    /// the rest normally.
    DeadLetter,
}

/// Kinds of sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Print the first records of each batch, as PySpark's `pprint`.
    Pprint,
    /// Print the first records of each batch, as Scala's `DStream.print()`.
    Print,
    /// One directory of part files per batch, as `saveAsTextFiles`.
    TextFiles,
    /// A sink plugin (`plugin`), reaching what `allow` grants.
    Plugin,
    /// Records written to a Kafka topic.
    Kafka,
}

impl SinkKind {
    /// Its name in the pipeline file.
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Pprint => "pprint",
            SinkKind::Print => "print",
            SinkKind::TextFiles => "text_files",
            SinkKind::Plugin => "plugin",
            SinkKind::Kafka => "kafka",
        }
    }
}

/// A sink plugin's `allow`: what it may reach, and how much per call.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkAllow {
    /// URL prefixes it may send HTTP requests to.
    #[serde(default)]
    pub http: Vec<Spanned<String>>,
    /// Requests per call (default 100).
    pub max_requests: Option<Spanned<i64>>,
    /// Request body bytes per call, all requests together (default 16 MiB).
    pub max_request_bytes: Option<Spanned<i64>>,
}

/// What a sink does when a call fails (`on_error` of a sink plugin).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkOnError {
    /// Write the partition again, with backoff (the default: a sink's
    /// failures are often a receiver or network that comes back).
    #[default]
    Retry,
    /// Stop the pipeline with the error (the batch is not committed).
    Fail,
    /// Drop the partition's records with a warning naming the error, go on.
    Skip,
}

/// How `text_files` renders records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// Python's `str()` of the record, as Spark writes it: `('word', 3)`.
    #[default]
    Text,
    /// One JSON object per line: `{"key": "word", "value": 3}`.
    Jsonl,
    /// One CSV row per line (RFC 4180, no header): `word,3`.
    Csv,
}

/// One `[sinks.NAME]` table. Which keys apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// The source or stream to write.
    pub from: Spanned<String>,
    /// The kind of sink.
    pub kind: Spanned<SinkKind>,
    /// `pprint`: records printed per batch (default 10).
    pub num: Option<Spanned<usize>>,
    /// `text_files`: directory name prefix, relative to the pipeline file.
    pub prefix: Option<Spanned<String>>,
    /// `text_files`: directory name suffix.
    pub suffix: Option<Spanned<String>>,
    /// `text_files`: how records are written.
    pub format: Option<Spanned<TextFormat>>,
    /// `plugin`: the sink component, relative to the pipeline file.
    pub plugin: Option<Spanned<String>>,
    /// `plugin`: parameters handed to its `init`.
    pub params: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// `plugin`: what it may reach.
    pub allow: Option<Spanned<SinkAllow>>,
    /// `plugin`: limits of its calls, overriding the pipeline's.
    pub limits: Option<Spanned<LimitsOverride>>,
    /// `plugin`: what a failed call does (default `retry`).
    pub on_error: Option<Spanned<SinkOnError>>,
    /// `plugin`, `on_error = "retry"`: attempts after the first (default 3).
    pub retries: Option<Spanned<u32>>,
    /// `plugin`, `on_error = "retry"`: wait before the first retry, doubled
    /// for each next one (default `"100ms"`).
    #[serde(default, deserialize_with = "crate::bounds::retry_backoff::optional")]
    pub retry_backoff: Option<Duration>,
    /// `plugin`, `on_error = "retry"`: every attempt at one partition
    /// together, waits included (default `"5m"`).
    #[serde(default, deserialize_with = "crate::bounds::total_time::optional")]
    pub total_time: Option<Duration>,
    /// `kafka`: the bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: Option<Spanned<String>>,
    /// `kafka`: the topic written.
    pub topic: Option<Spanned<String>>,
    /// `kafka`: how keys and values become bytes (default `raw`).
    pub serialization: Option<Spanned<crate::kafka::Serialization>>,
    /// `kafka`: `at_least_once` (default) or `transactional`.
    pub delivery: Option<Spanned<crate::kafka::Delivery>>,
    /// `kafka`: librdkafka properties passed through, never logged.
    pub properties: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// `kafka`: how long the brokers may take to answer at start (default
    /// 30 s).
    #[serde(default, deserialize_with = "crate::bounds::connect_timeout::optional")]
    pub connect_timeout: Option<Duration>,
    /// `kafka`: how long a batch's records may take to be acknowledged,
    /// retries included, before the batch fails (default 10 min).
    #[serde(default, deserialize_with = "crate::bounds::broker_wait::optional")]
    pub broker_wait: Option<Duration>,
}

/// A parsed pipeline file with what is needed to report errors in it.
pub struct LoadedFile {
    /// The file's path.
    pub path: PathBuf,
    /// Its text, to turn spans into lines and columns.
    pub text: String,
    /// The parsed contents.
    pub file: PipelineFile,
}

impl LoadedFile {
    /// Reads and parses the pipeline file at `path`.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is not TOML, or has unknown or
    /// ill-typed keys; the error gives line and column.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            position: None,
            message: format!("cannot read the pipeline file: {e}"),
        })?;
        let file: PipelineFile = toml::from_str(&text).map_err(|e| {
            let position = e.span().map(|span| line_column(&text, span.start));
            ConfigError {
                file: path.to_path_buf(),
                position,
                message: e.message().trim_end().to_owned(),
            }
        })?;
        Ok(LoadedFile {
            path: path.to_path_buf(),
            text,
            file,
        })
    }

    /// An error at `span` of the file.
    pub fn error_at(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            position: Some(line_column(&self.text, span.start)),
            message: message.into(),
        }
    }

    /// An error about the file as a whole.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            position: None,
            message: message.into(),
        }
    }

    /// The pipeline's name: `name`, or the file's stem.
    pub fn pipeline_name(&self) -> String {
        self.file.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned())
        })
    }

    /// The directory of the running pipeline's control socket:
    /// `state_dir`, or `.sluice/<name>` beside the pipeline file.
    pub fn state_dir(&self) -> PathBuf {
        match &self.file.state_dir {
            Some(dir) => self.resolve(dir),
            None => self.resolve(".sluice").join(self.pipeline_name()),
        }
    }

    /// Whether the pipeline is checkpointed (`checkpoint = true`).
    pub fn checkpointed(&self) -> bool {
        self.file.checkpoint.as_ref().is_some_and(|c| *c.get_ref())
    }

    /// `relative` resolved against the pipeline file's directory.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new("."));
        base.join(relative)
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn line_column_is_one_based() {
        assert_eq!(line_column("a\nbc\n", 0), (1, 1));
        assert_eq!(line_column("a\nbc\n", 3), (2, 2));
    }
}

//! The checked plan of a pipeline: its graph resolved, ordered and typed.
//!
//! Building a [`Plan`] from the pipeline file checks everything that can be
//! checked before the first batch: every `from` names a node, names are
//! unique, the graph has no cycle, every plugin loads and implements its
//! stream's `op`, and the record type each stream takes is the type its
//! input gives. Streams are kept in topological order, so running them in
//! order sees every input before its consumers.
//!
//! - this file: the plan's types and [`Plan::build`], which ties the rest
//!   together;
//! - `graph`: names resolved, cycles refused, topological order;
//! - `checks`: the keys each kind of source, stream and sink takes, and
//!   each stream's plugin loaded;
//! - `types`: [`fit_types`], the record type a stream gives;
//! - `window`: a windowed stream's window, checked against its input.
//! - `combine`: the streams that read several (`union`, the joins,
//!   `cogroup`).

mod checks;
mod combine;
mod graph;
mod initial_state;
mod kafka;
mod sink_plugins;
mod tables;
mod types;
mod window;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use checks::{control_spec, distinct_sink_prefixes, sink_spec, source_spec, stream_spec, ui_spec};
use graph::{node_type, topological_order};
pub use types::{TypeMismatch, fit_types};
pub use window::DEFAULT_MAX_STATE_MIB;

use crate::batch::RecordType;
use crate::config::{InvalidUtf8, LoadedFile, LongLines, TextFormat};
pub use crate::config::{Shape, StreamOp};
use crate::error::Error;
use crate::partition::{DEFAULT_TARGET_PARTITION_MIB, Partitioning};
use crate::plugin::{Limits, OperatorKind, Param, Plugin, PluginEngine, Signature};

/// A node that records flow out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeRef {
    /// `sources[i]`.
    Source(usize),
    /// `streams[i]` (in topological order).
    Stream(usize),
    /// `tables[i]`: a static table, read by `union`, the joins and
    /// `cogroup` only.
    Table(usize),
}

/// What a stream reads, as the plan knows it when the stream is checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Upstream {
    /// The records it gives.
    pub record_type: RecordType,
    /// How often it emits.
    pub slide: Duration,
    /// The (key, state) records it keeps, for a `map_with_state` stream.
    pub state: Option<(StreamOp, RecordType)>,
    /// Whether it is a static table (joined in every batch, whatever the
    /// other input's slide).
    pub table: bool,
}

/// A checked source.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// Its name.
    pub name: String,
    /// What it reads.
    pub kind: SourceSpecKind,
    /// How its bytes become lines.
    pub lines: LinePolicy,
}

/// How a source's bytes become lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinePolicy {
    /// Lines that are not UTF-8.
    pub invalid_utf8: InvalidUtf8,
    /// The longest line, in bytes.
    pub max_line_bytes: usize,
    /// Lines longer than that.
    pub long_lines: LongLines,
}

impl Default for LinePolicy {
    fn default() -> Self {
        LinePolicy {
            invalid_utf8: InvalidUtf8::default(),
            max_line_bytes: crate::config::DEFAULT_MAX_LINE_BYTES,
            long_lines: LongLines::default(),
        }
    }
}

/// What a source reads.
#[derive(Clone, Debug)]
pub enum SourceSpecKind {
    /// New files in `dir`.
    Files {
        /// The directory, resolved.
        dir: PathBuf,
        /// Whether files present at start are read.
        include_existing: bool,
        /// The most files a batch reads, in name order.
        max_files_per_batch: Option<usize>,
        /// The most input bytes a batch reads (a single larger file is
        /// read alone).
        max_batch_bytes: usize,
    },
    /// Lines from a TCP server.
    Socket {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// Bytes held for the next batch before reading pauses.
        buffer_bytes: usize,
        /// The most lines read per second (`None`: as fast as they come).
        max_rate: Option<u32>,
        /// With `backpressure = true`: the batch interval the rate
        /// estimator works with.
        backpressure: Option<Duration>,
        /// In a checkpointed pipeline: its write-ahead log's directory and
        /// sync policy.
        wal: Option<(PathBuf, crate::source::wal::WalSync)>,
    },
    /// Records of Kafka topics.
    Kafka(crate::kafka::SourceSettings),
}

impl SourceSpec {
    /// The records the source gives: unkeyed text lines, or what a Kafka
    /// source declares.
    pub fn record_type(&self) -> RecordType {
        match &self.kind {
            SourceSpecKind::Kafka(kafka) => kafka.record_type(),
            SourceSpecKind::Files { .. } | SourceSpecKind::Socket { .. } => RecordType::TEXT,
        }
    }
}

/// A checked stream, with its plugin loaded.
#[derive(Clone)]
pub struct StreamSpec {
    /// Its name.
    pub name: String,
    /// Its input (the first of `inputs`).
    pub from: NodeRef,
    /// Every stream it reads, in `from`'s order: one, but for `union`, the
    /// joins and `cogroup`.
    pub inputs: Vec<NodeRef>,
    /// Its operator.
    pub op: StreamOp,
    /// The plugin loaded from the pipeline file (version 1; deployed
    /// versions live in [`crate::deploy::Registry`]); `None` for an
    /// operator the host runs itself (see [`crate::builtin`]).
    pub plugin: Option<Plugin>,
    /// The parameters handed to every version's `init`.
    pub params: Vec<Param>,
    /// The limits every version runs under.
    pub limits: Limits,
    /// Consecutive failing batches after which a deployed version is
    /// rolled back (0: never).
    pub rollback_after: u32,
    /// The plugin file, resolved (`None`: a host operator).
    pub plugin_path: Option<PathBuf>,
    /// The records it takes.
    pub input_type: RecordType,
    /// The records it gives.
    pub output_type: RecordType,
    /// What its plugin is called with and gives: the stream's records,
    /// but for `map_values` (values only) and `reduce` (a constant key
    /// added); see [`KeyAdapter`].
    pub call_types: Signature,
    /// How the stream's records become its plugin's and back.
    pub adapter: KeyAdapter,
    /// `reduce_by_key`: the partitions after the exchange: the stream's
    /// or the pipeline's fixed `partitions`, else sized by the combined
    /// bytes, as input partitions are.
    pub exchange: Partitioning,
    /// What happens when a call fails.
    pub on_error: ErrorPolicy,
    /// `reduce_by_key_and_window`: the window.
    pub window: Option<WindowSpec>,
    /// `reduce_by_key_and_window` with `inverse_plugin`: the inverse reducer
    /// and the value whose keys are dropped (`drop_when`).
    pub inverse: Option<InverseSpec>,
    /// `update_state_by_key`: the state the host keeps.
    pub state: Option<StateSpec>,
    /// A per-batch transform the host runs (`sort_by_key`, `top`, …), with
    /// its settings.
    pub transform: Option<crate::per_batch::Transform>,
    /// How often the stream emits: its window's slide, else its input's
    /// (a source emits every batch).
    pub slide: Duration,
}

impl StreamSpec {
    /// Whether it keeps anything between batches: a window's partials or
    /// per-key states.
    pub fn keeps_state(&self) -> bool {
        self.window.is_some() || self.state.is_some() || self.op == StreamOp::StateSnapshots
    }

    /// The contract interface its plugins implement (`None`: a host
    /// operator).
    pub fn plugin_kind(&self) -> Option<OperatorKind> {
        self.op.plugin_kind()
    }

    /// How its records move between partitions.
    pub fn shape(&self) -> Shape {
        self.op.shape()
    }

    /// The name its versions carry: the plugin's, or the host operator's.
    pub fn implementation_name(&self) -> &str {
        self.plugin.as_ref().map_or(self.op.name(), Plugin::name)
    }

    /// Whether its window is kept incrementally with its inverse: as in
    /// PySpark, only for a window of at least
    /// [`MIN_INCREMENTAL_SLIDES`] slides; a shorter one is combined again
    /// at each slide ("for small window, reduce once will be better than
    /// twice"), so its keys leave with their last batch.
    pub fn incremental(&self) -> bool {
        match (&self.inverse, self.window) {
            (Some(_), Some(w)) => w.length >= w.slide * MIN_INCREMENTAL_SLIDES,
            _ => false,
        }
    }

    /// The sha256 its versions carry: the plugin's, or
    /// [`crate::builtin::BUILTIN_HASH`].
    pub fn implementation_hash(&self) -> &str {
        self.plugin
            .as_ref()
            .map_or(crate::builtin::BUILTIN_HASH, Plugin::hash)
    }
}

/// How a stream's records are handed to its plugin when the plugin's
/// records differ from the stream's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAdapter {
    /// The records as they are.
    None,
    /// `map_values`: the plugin gets the values only and the keys are put
    /// back on its output, untouched.
    ValuesOnly,
    /// `flat_map_values`: the plugin sees the values only and says how many
    /// values each gave; the plugin call itself puts each output on its
    /// input's key, so the batch goes to it whole.
    KeysKept,
    /// `reduce`: every record gets the same empty text key, so a reducer
    /// combines them all; its output loses the key again.
    ConstantKey,
}

/// A stream's sliding window, as Spark's `reduceByKeyAndWindow` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    /// The window's length: a window at time t covers the input's batches
    /// in (t − length, t].
    pub length: Duration,
    /// The stream emits at multiples of this (since the epoch).
    pub slide: Duration,
    /// The most the host holds for the window (`max_state_mib`).
    pub max_state_bytes: usize,
}

/// The fewest slides a window spans for its inverse to be used (PySpark's
/// `PythonReducedWindowedDStream`).
pub const MIN_INCREMENTAL_SLIDES: u32 = 5;

/// A windowed reducer's inverse: the window is updated incrementally.
#[derive(Clone)]
pub struct InverseSpec {
    /// The inverse reducer, loaded.
    pub plugin: Plugin,
    /// Keys whose value over the window equals this one value are dropped.
    pub drop_when: Option<crate::batch::Column>,
}

/// The per-key state an `update_state_by_key` stream keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct StateSpec {
    /// The records it holds: (the stream's key, the state).
    pub record_type: RecordType,
    /// `map_with_state`: keys idle this long time out.
    pub timeout: Option<Duration>,
    /// The most the host holds for it, keys and states (`max_state_mib`).
    pub max_state_bytes: usize,
    /// The (key, state) records to start with (`initial_state`).
    pub initial: Option<std::sync::Arc<crate::batch::Batch>>,
}

/// A checked `on_error` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Stop the pipeline.
    Fail,
    /// Retry transient failures.
    Retry {
        /// Attempts after the first.
        retries: u32,
        /// Wait before the first retry; doubled for each next one.
        backoff: Duration,
    },
    /// Drop the failing partition batch.
    Skip,
    /// Isolate the failing records into `dir`.
    DeadLetter {
        /// Where the dead-letter files go.
        dir: PathBuf,
    },
}

/// A checked sink.
#[derive(Clone, Debug)]
pub struct SinkSpec {
    /// Its name.
    pub name: String,
    /// What it writes.
    pub from: NodeRef,
    /// The records it receives.
    pub record_type: RecordType,
    /// How it writes.
    pub kind: SinkSpecKind,
}

/// How a sink writes.
#[derive(Clone, Debug)]
pub enum SinkSpecKind {
    /// PySpark's `pprint(num)`, or Scala's `print(num)`.
    Pprint {
        /// Records printed per batch.
        num: usize,
        /// Scala's layout (`kind = "print"`) rather than PySpark's.
        scala: bool,
    },
    /// A sink plugin: `foreachRDD`, sandboxed (see [`crate::sink::plugin`]).
    Plugin {
        /// The loaded plugin, with its allowlist.
        plugin: crate::plugin::sink_plugin::SinkPlugin,
        /// What a failed partition does.
        on_error: crate::sink::plugin::SinkErrorPolicy,
    },
    /// `saveAsTextFiles(prefix, suffix)`.
    TextFiles {
        /// Directory prefix, resolved.
        prefix: PathBuf,
        /// Directory suffix.
        suffix: Option<String>,
        /// Record rendering.
        format: TextFormat,
    },
    /// Records written to a Kafka topic (see [`crate::sink::kafka`]).
    Kafka(crate::kafka::SinkSettings),
}

impl SinkSpecKind {
    /// Its `kind` in the pipeline file.
    pub fn name(&self) -> &'static str {
        match self {
            SinkSpecKind::Pprint { scala: false, .. } => "pprint",
            SinkSpecKind::Pprint { scala: true, .. } => "print",
            SinkSpecKind::Plugin { .. } => "plugin",
            SinkSpecKind::TextFiles { .. } => "text_files",
            SinkSpecKind::Kafka(_) => "kafka",
        }
    }
}

impl SourceSpecKind {
    /// Its `kind` in the pipeline file.
    pub fn name(&self) -> &'static str {
        match self {
            SourceSpecKind::Files { .. } => "files",
            SourceSpecKind::Socket { .. } => "socket",
            SourceSpecKind::Kafka(_) => "kafka",
        }
    }
}

/// The control endpoint's optional TCP listener, checked.
#[derive(Clone, Debug)]
pub struct TcpControlSpec {
    /// Address to listen on.
    pub listen: String,
    /// The file holding the token, resolved.
    pub token_file: PathBuf,
}

/// Where the web UI and `/metrics` listen, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiSpec {
    /// The address asked for; when its port is taken, the next free one
    /// of the following [`crate::ui::PORT_RETRIES`] is used.
    pub address: std::net::SocketAddr,
    /// On an address other than loopback: the control token file, whose
    /// token every request must carry (`Authorization: Bearer`).
    pub token_file: Option<PathBuf>,
}

/// A pipeline ready to run.
#[derive(Clone)]
pub struct Plan {
    /// The pipeline's name.
    pub name: String,
    /// Where the control socket and the checkpoints go.
    pub state_dir: PathBuf,
    /// Whether each batch is checkpointed (see [`crate::checkpoint`]).
    pub checkpoint: bool,
    /// What the sources may hold between batches, together
    /// (`source_memory_mib`).
    pub source_memory_bytes: usize,
    /// The TCP control listener, when configured.
    pub control: Option<TcpControlSpec>,
    /// The web UI and `/metrics`, unless `ui = false`.
    pub ui: Option<UiSpec>,
    /// What each plugin stream keeps of its last batches for `sluice
    /// replay`.
    pub keep: crate::replay::KeepSpec,
    /// Time between batches.
    pub batch_interval: Duration,
    /// How a batch's input is cut into partitions.
    pub partitioning: Partitioning,
    /// The sources.
    pub sources: Vec<SourceSpec>,
    /// The streams, in topological order.
    pub streams: Vec<StreamSpec>,
    /// The sinks.
    pub sinks: Vec<SinkSpec>,
    /// The static tables, as read when the plan was built.
    pub tables: Vec<crate::table::Table>,
}

impl Plan {
    /// Checks `file` and loads its plugins with `engine`.
    /// `partitions` overrides the file's `partitions`.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`ConfigError`] with its position or a
    /// [`crate::error::LoadError`] naming the plugin.
    pub fn build(
        file: &LoadedFile,
        engine: &PluginEngine,
        partitions: Option<usize>,
    ) -> Result<Plan, Error> {
        let cfg = &file.file;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let in_file = match &cfg.partitions {
            Some(p) => Some(
                crate::bounds::partitions::check(*p.get_ref() as i64)
                    .map_err(|message| file.error_at(p.span(), message))?,
            ),
            None => None,
        };
        let fixed = match partitions {
            Some(p) => Some(
                crate::bounds::partitions::check(p as i64)
                    .map_err(|message| file.error(format!("--partitions: {message}")))?,
            ),
            None => in_file,
        };
        if let (Some(p), Some(_), None) = (&cfg.partitions, cfg.target_partition_mib, partitions) {
            return Err(file
                .error_at(
                    p.span(),
                    "`partitions` and `target_partition_mib` are both set; keep one: `partitions` fixes the count, `target_partition_mib` sizes partitions by data",
                )
                .into());
        }
        let partitioning = match fixed {
            Some(count) => Partitioning::Fixed(count),
            None => Partitioning::BySize {
                cores,
                target_bytes: cfg
                    .target_partition_mib
                    .unwrap_or(DEFAULT_TARGET_PARTITION_MIB)
                    << 20,
            },
        };
        let name = file.pipeline_name();
        let control = control_spec(file)?;
        let ui = ui_spec(file, control.as_ref())?;

        let sources = cfg
            .sources
            .iter()
            .map(|(name, source)| source_spec(file, name, source))
            .collect::<Result<Vec<_>, _>>()?;
        if sources.is_empty() {
            return Err(file
                .error("the pipeline has no source; add a [sources.NAME] table")
                .into());
        }
        checks::source_memory_fits(file, &sources)?;
        for name in cfg.streams.keys() {
            if cfg.sources.contains_key(name) {
                return Err(file
                    .error(format!(
                        "`{name}` is both a source and a stream; give them different names"
                    ))
                    .into());
            }
        }
        let mut tables = Vec::with_capacity(cfg.tables.len());
        for (name, table) in &cfg.tables {
            if cfg.sources.contains_key(name) || cfg.streams.contains_key(name) {
                return Err(file
                    .error_at(
                        table.path.span(),
                        format!("`{name}` names a table and a source or stream; give them different names"),
                    )
                    .into());
            }
            tables.push(tables::load_table(file, name, table)?);
        }
        // Kept apart from the sources' and streams' names: only the
        // streams that read several may read a table.
        let table_index: HashMap<&str, NodeRef> = cfg
            .tables
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str(), NodeRef::Table(i)))
            .collect();
        let order = topological_order(file)?;
        let mut streams: Vec<StreamSpec> = Vec::with_capacity(order.len());
        let mut index: HashMap<&str, NodeRef> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), NodeRef::Source(i)))
            .collect();
        for name in order {
            let config = &cfg.streams[name];
            let inputs: Vec<NodeRef> = config
                .from
                .get_ref()
                .names()
                .iter()
                .map(|n| {
                    index
                        .get(n.as_str())
                        .or_else(|| table_index.get(n.as_str()))
                        .copied()
                        .ok_or_else(|| {
                            Error::Internal(format!(
                                "stream `{name}` reads `{n}`, which the graph's check let through"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?;
            let slide_of = |node: NodeRef| match node {
                NodeRef::Source(_) | NodeRef::Table(_) => cfg.batch_interval,
                NodeRef::Stream(i) => streams[i].slide,
            };
            let upstreams: Vec<Upstream> = inputs
                .iter()
                .map(|&from| Upstream {
                    record_type: node_type(&sources, &streams, &tables, from),
                    slide: slide_of(from),
                    state: match from {
                        NodeRef::Source(_) | NodeRef::Table(_) => None,
                        NodeRef::Stream(i) => streams[i]
                            .state
                            .as_ref()
                            .map(|s| (streams[i].op, s.record_type)),
                    },
                    table: matches!(from, NodeRef::Table(_)),
                })
                .collect();
            if let (false, Some(table)) = (
                config.op.get_ref().takes_several(),
                upstreams.iter().position(|u| u.table),
            ) {
                return Err(file
                    .error_at(
                        config.from.span(),
                        format!(
                            "stream `{name}`: `{}` is a table; tables are read by union, the joins and cogroup (Spark's `transform(lambda rdd: rdd.join(table))`)",
                            config.from.get_ref().names()[table]
                        ),
                    )
                    .into());
            }
            let spec = if config.op.get_ref().takes_several() {
                combine::combine_spec(file, name, config, &inputs, &upstreams, partitioning)?
            } else {
                let ([from], [upstream]) = (&inputs[..], &upstreams[..]) else {
                    return Err(file
                        .error_at(
                            config.from.span(),
                            format!(
                                "stream `{name}`: `{}` reads one stream, but `from` names {}; only union, the joins and cogroup read several",
                                config.op.get_ref(),
                                inputs.len()
                            ),
                        )
                        .into());
                };
                stream_spec(
                    file,
                    engine,
                    name,
                    config,
                    *from,
                    *upstream,
                    cfg.limits,
                    partitioning,
                )?
            };
            index.insert(name, NodeRef::Stream(streams.len()));
            streams.push(spec);
        }
        let sinks = cfg
            .sinks
            .iter()
            .map(|(name, sink)| sink_spec(file, engine, name, sink, &index, &sources, &streams))
            .collect::<Result<Vec<_>, _>>()?;
        if sinks.is_empty() {
            return Err(file
                .error("the pipeline has no sink, so it would compute nothing; add a [sinks.NAME] table (e.g. kind = \"pprint\")")
                .into());
        }
        distinct_sink_prefixes(file, &sinks)?;
        let checkpoint = file.checkpointed();
        Ok(Plan {
            name,
            state_dir: file.state_dir(),
            checkpoint,
            source_memory_bytes: cfg
                .source_memory_mib
                .unwrap_or(crate::config::DEFAULT_SOURCE_MEMORY_MIB)
                << 20,
            control,
            ui,
            keep: crate::replay::KeepSpec {
                batches: cfg
                    .keep_batches
                    .unwrap_or(crate::replay::DEFAULT_KEEP_BATCHES),
                batch_bytes: cfg
                    .keep_batch_mib
                    .unwrap_or(crate::replay::DEFAULT_KEEP_BATCH_MIB)
                    << 20,
            },
            batch_interval: cfg.batch_interval,
            partitioning,
            sources,
            streams,
            sinks,
            tables,
        })
    }

    /// The record type flowing out of `node`.
    pub fn node_type(&self, node: NodeRef) -> RecordType {
        node_type(&self.sources, &self.streams, &self.tables, node)
    }

    /// How often `node` emits: every batch for a source.
    pub fn node_slide(&self, node: NodeRef) -> Duration {
        match node {
            NodeRef::Source(_) | NodeRef::Table(_) => self.batch_interval,
            NodeRef::Stream(i) => self.streams[i].slide,
        }
    }

    /// The name of `node`.
    pub fn node_name(&self, node: NodeRef) -> &str {
        match node {
            NodeRef::Source(i) => &self.sources[i].name,
            NodeRef::Stream(i) => &self.streams[i].name,
            NodeRef::Table(i) => &self.tables[i].spec().name,
        }
    }
}

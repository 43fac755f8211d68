//! The checked plan of a pipeline: its graph resolved, ordered and typed.
//!
//! Building a [`Plan`] from the pipeline file checks everything that can be
//! checked before the first batch: every `from` names a node, names are
//! unique, the graph has no cycle, every plugin loads and implements its
//! stream's `op`, and the record type each stream takes is the type its
//! input gives. Streams are kept in topological order, so running them in
//! order sees every input before its consumers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use crate::batch::RecordType;
use crate::config::{
    InvalidUtf8, LoadedFile, OnError, SinkConfig, SinkKind, SourceConfig, SourceKind, StreamConfig,
    TextFormat,
};
use crate::error::{ConfigError, Error};
use crate::plugin::{Limits, OperatorKind, Param, Plugin, PluginEngine};

/// A node that records flow out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeRef {
    /// `sources[i]`.
    Source(usize),
    /// `streams[i]` (in topological order).
    Stream(usize),
}

/// A checked source.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// Its name.
    pub name: String,
    /// What it reads.
    pub kind: SourceSpecKind,
    /// Its policy for lines that are not UTF-8.
    pub invalid_utf8: InvalidUtf8,
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
    },
    /// Lines from a TCP server.
    Socket {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
}

/// A checked stream, with its plugin loaded.
#[derive(Clone)]
pub struct StreamSpec {
    /// Its name.
    pub name: String,
    /// Its input.
    pub from: NodeRef,
    /// Its operator.
    pub op: OperatorKind,
    /// The plugin loaded from the pipeline file (version 1; deployed
    /// versions live in [`crate::deploy::Registry`]).
    pub plugin: Plugin,
    /// The parameters handed to every version's `init`.
    pub params: Vec<Param>,
    /// The limits every version runs under.
    pub limits: Limits,
    /// Consecutive failing batches after which a deployed version is
    /// rolled back (0: never).
    pub rollback_after: u32,
    /// The plugin file, resolved.
    pub plugin_path: PathBuf,
    /// The records it takes.
    pub input_type: RecordType,
    /// The records it gives.
    pub output_type: RecordType,
    /// `reduce_by_key`: partitions after the exchange.
    pub reduce_partitions: usize,
    /// What happens when a call fails.
    pub on_error: ErrorPolicy,
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
    /// PySpark's `pprint(num)`.
    Pprint {
        /// Records printed per batch.
        num: usize,
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
}

/// The control endpoint's optional TCP listener, checked.
#[derive(Clone, Debug)]
pub struct TcpControlSpec {
    /// Address to listen on.
    pub listen: String,
    /// The file holding the token, resolved.
    pub token_file: PathBuf,
}

/// A pipeline ready to run.
#[derive(Clone)]
pub struct Plan {
    /// The pipeline's name.
    pub name: String,
    /// Where the control socket goes.
    pub state_dir: PathBuf,
    /// The TCP control listener, when configured.
    pub control: Option<TcpControlSpec>,
    /// Time between batches.
    pub batch_interval: Duration,
    /// Input partitions per batch.
    pub partitions: usize,
    /// The sources.
    pub sources: Vec<SourceSpec>,
    /// The streams, in topological order.
    pub streams: Vec<StreamSpec>,
    /// The sinks.
    pub sinks: Vec<SinkSpec>,
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
        let partitions = match (partitions, &cfg.partitions) {
            (Some(0), _) => return Err(file.error("--partitions must be at least 1").into()),
            (Some(p), _) => p,
            (None, Some(p)) if *p.get_ref() == 0 => {
                return Err(file
                    .error_at(p.span(), "`partitions` must be at least 1")
                    .into());
            }
            (None, Some(p)) => *p.get_ref(),
            (None, None) => cores,
        };
        if cfg.batch_interval.is_zero() {
            return Err(file.error("`batch_interval` must be positive").into());
        }
        let name = file.pipeline_name();
        let control = control_spec(file)?;

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
        for name in cfg.streams.keys() {
            if cfg.sources.contains_key(name) {
                return Err(file
                    .error(format!(
                        "`{name}` is both a source and a stream; give them different names"
                    ))
                    .into());
            }
        }
        let order = topological_order(file)?;
        let mut streams: Vec<StreamSpec> = Vec::with_capacity(order.len());
        let mut index: HashMap<&str, NodeRef> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), NodeRef::Source(i)))
            .collect();
        for name in order {
            let config = &cfg.streams[name];
            let from = index[config.from.get_ref().as_str()];
            let upstream = node_type(&streams, from);
            let spec = stream_spec(
                file, engine, name, config, from, upstream, cfg.limits, partitions,
            )?;
            index.insert(name, NodeRef::Stream(streams.len()));
            streams.push(spec);
        }
        let sinks = cfg
            .sinks
            .iter()
            .map(|(name, sink)| sink_spec(file, name, sink, &index, &streams))
            .collect::<Result<Vec<_>, _>>()?;
        if sinks.is_empty() {
            return Err(file
                .error("the pipeline has no sink, so it would compute nothing; add a [sinks.NAME] table (e.g. kind = \"pprint\")")
                .into());
        }
        Ok(Plan {
            name,
            state_dir: file.state_dir(),
            control,
            batch_interval: cfg.batch_interval,
            partitions,
            sources,
            streams,
            sinks,
        })
    }

    /// The record type flowing out of `node`.
    pub fn node_type(&self, node: NodeRef) -> RecordType {
        node_type(&self.streams, node)
    }

    /// The name of `node`.
    pub fn node_name(&self, node: NodeRef) -> &str {
        match node {
            NodeRef::Source(i) => &self.sources[i].name,
            NodeRef::Stream(i) => &self.streams[i].name,
        }
    }
}

fn node_type(streams: &[StreamSpec], node: NodeRef) -> RecordType {
    match node {
        NodeRef::Source(_) => RecordType::TEXT,
        NodeRef::Stream(i) => streams[i].output_type,
    }
}

fn source_spec(file: &LoadedFile, name: &str, cfg: &SourceConfig) -> Result<SourceSpec, Error> {
    let kind_span = cfg.kind.span();
    let misplaced = |key: &str, span: std::ops::Range<usize>, kind: &str| -> Error {
        file.error_at(
            span,
            format!("source `{name}`: `{key}` does not apply to a `{kind}` source"),
        )
        .into()
    };
    let kind = match cfg.kind.get_ref() {
        SourceKind::Files => {
            if let Some(host) = &cfg.host {
                return Err(misplaced("host", host.span(), "files"));
            }
            if let Some(port) = &cfg.port {
                return Err(misplaced("port", port.span(), "files"));
            }
            let Some(path) = &cfg.path else {
                return Err(file
                    .error_at(
                        kind_span,
                        format!(
                            "source `{name}`: a `files` source needs `path`, the directory to watch"
                        ),
                    )
                    .into());
            };
            SourceSpecKind::Files {
                dir: file.resolve(path.get_ref()),
                include_existing: cfg.include_existing.as_ref().is_some_and(|b| *b.get_ref()),
            }
        }
        SourceKind::Socket => {
            if let Some(path) = &cfg.path {
                return Err(misplaced("path", path.span(), "socket"));
            }
            if let Some(include) = &cfg.include_existing {
                return Err(misplaced("include_existing", include.span(), "socket"));
            }
            let Some(port) = &cfg.port else {
                return Err(file
                    .error_at(
                        kind_span,
                        format!("source `{name}`: a `socket` source needs `port` (and `host`, default 127.0.0.1)"),
                    )
                    .into());
            };
            SourceSpecKind::Socket {
                host: cfg
                    .host
                    .as_ref()
                    .map_or_else(|| "127.0.0.1".to_owned(), |h| h.get_ref().clone()),
                port: *port.get_ref(),
            }
        }
    };
    Ok(SourceSpec {
        name: name.to_owned(),
        kind,
        invalid_utf8: cfg.invalid_utf8,
    })
}

/// The streams in an order where every stream comes after its input.
fn topological_order(file: &LoadedFile) -> Result<Vec<&str>, ConfigError> {
    let cfg = &file.file;
    // Check every `from` first, so a typo is not reported as a cycle.
    for (name, stream) in &cfg.streams {
        let from = stream.from.get_ref();
        if !cfg.sources.contains_key(from) && !cfg.streams.contains_key(from) {
            return Err(file.error_at(
                stream.from.span(),
                format!(
                    "stream `{name}` reads `from = \"{from}\"`, which is no source or stream (known: {})",
                    known_names(file)
                ),
            ));
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = cfg
        .streams
        .keys()
        .map(|k| (k.as_str(), Mark::New))
        .collect();
    let mut order = Vec::with_capacity(cfg.streams.len());
    for start in cfg.streams.keys() {
        // Follow `from` links up to a source or a stream already placed.
        let mut path: Vec<&str> = Vec::new();
        let mut current = start.as_str();
        loop {
            match marks.get(current).copied() {
                None | Some(Mark::Done) => break,
                Some(Mark::Visiting) => {
                    let at = path.iter().position(|n| *n == current).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[at..].to_vec();
                    cycle.push(current);
                    let span = cfg.streams[current].from.span();
                    return Err(file.error_at(
                        span,
                        format!(
                            "the streams form a cycle: {}; a stream cannot depend on its own output",
                            cycle.join(" -> ")
                        ),
                    ));
                }
                Some(Mark::New) => {
                    marks.insert(current, Mark::Visiting);
                    path.push(current);
                    current = cfg.streams[current].from.get_ref().as_str();
                }
            }
        }
        // Everything on the path is placed once its input is: in reverse.
        for name in path.into_iter().rev() {
            marks.insert(name, Mark::Done);
            order.push(name);
        }
    }
    Ok(order)
}

fn known_names(file: &LoadedFile) -> String {
    let cfg = &file.file;
    cfg.sources
        .keys()
        .chain(cfg.streams.keys())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::too_many_arguments)]
fn stream_spec(
    file: &LoadedFile,
    engine: &PluginEngine,
    name: &str,
    cfg: &StreamConfig,
    from: NodeRef,
    upstream: RecordType,
    pipeline_limits: Limits,
    partitions: usize,
) -> Result<StreamSpec, Error> {
    let op = *cfg.op.get_ref();
    let plugin_path = file.resolve(cfg.plugin.get_ref());
    if !plugin_path.is_file() {
        return Err(file
            .error_at(
                cfg.plugin.span(),
                format!(
                    "stream `{name}`: plugin file {} does not exist (paths are relative to the pipeline file; build the plugins first)",
                    plugin_path.display()
                ),
            )
            .into());
    }
    let plugin_params = Param::from_toml(&cfg.params);
    let limits = cfg.limits.apply(pipeline_limits);
    let plugin = engine.load(&plugin_path, Some(op), plugin_params.clone(), limits)?;
    let from_name = cfg.from.get_ref();
    let output_type = fit_types(op, plugin.signature(), upstream).map_err(|mismatch| {
        file.error_at(
            cfg.from.span(),
            format!(
                "stream `{name}`: {}",
                mismatch.describe(plugin.name(), from_name)
            ),
        )
    })?;
    let reduce_partitions = match &cfg.partitions {
        Some(p) if op != OperatorKind::ReduceByKey => {
            return Err(file
                .error_at(
                    p.span(),
                    format!("stream `{name}`: `partitions` applies to reduce_by_key streams only"),
                )
                .into());
        }
        Some(p) if *p.get_ref() == 0 => {
            return Err(file
                .error_at(
                    p.span(),
                    format!("stream `{name}`: `partitions` must be at least 1"),
                )
                .into());
        }
        Some(p) => *p.get_ref(),
        None => partitions,
    };
    let on_error = error_policy(file, name, cfg)?;
    Ok(StreamSpec {
        name: name.to_owned(),
        from,
        op,
        plugin,
        params: plugin_params,
        limits,
        rollback_after: cfg.rollback_after.unwrap_or(3),
        plugin_path,
        input_type: upstream,
        output_type,
        reduce_partitions,
        on_error,
    })
}

/// Why a plugin's declared types do not fit its place in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeMismatch {
    /// A reducer behind a stream of unkeyed records.
    Unkeyed {
        /// What the upstream gives.
        upstream: RecordType,
    },
    /// The plugin takes other records than its input gives.
    Input {
        /// What the plugin takes, as text.
        takes: String,
        /// What the upstream gives.
        upstream: RecordType,
    },
}

impl TypeMismatch {
    /// What is wrong, for `plugin` reading from the node `from`.
    pub fn describe(&self, plugin: &str, from: &str) -> String {
        match self {
            TypeMismatch::Unkeyed { upstream } => format!(
                "reduce_by_key needs keyed records, but `{from}` gives unkeyed {upstream} records; add a `map` stream that gives (key, value) pairs"
            ),
            TypeMismatch::Input { takes, upstream } => format!(
                "plugin {plugin} takes {takes} records, but `{from}` gives {upstream} records"
            ),
        }
    }
}

/// The record type a stream of `op` gives when its plugin declares
/// `signature` and its input gives `upstream`.
///
/// # Errors
///
/// When the plugin cannot take what its input gives.
pub fn fit_types(
    op: OperatorKind,
    signature: crate::plugin::Signature,
    upstream: RecordType,
) -> Result<RecordType, TypeMismatch> {
    let mismatch = |takes: String| TypeMismatch::Input { takes, upstream };
    match op {
        OperatorKind::ReduceByKey => {
            let Some(key) = upstream.key else {
                return Err(TypeMismatch::Unkeyed { upstream });
            };
            let key_fits = signature.input.key.is_none_or(|k| k == key);
            if !key_fits || signature.input.value != upstream.value {
                let takes = match signature.input.key {
                    Some(k) => format!("({}, {})", k.name(), signature.input.value.name()),
                    None => format!("(any key, {})", signature.input.value.name()),
                };
                return Err(mismatch(takes));
            }
            Ok(upstream)
        }
        OperatorKind::Filter => {
            if signature.input != upstream {
                return Err(mismatch(signature.input.to_string()));
            }
            Ok(upstream)
        }
        OperatorKind::Map | OperatorKind::FlatMap => {
            if signature.input != upstream {
                return Err(mismatch(signature.input.to_string()));
            }
            Ok(signature.output)
        }
    }
}

/// The `[control]` table, checked: `listen` needs `token_file`.
fn control_spec(file: &LoadedFile) -> Result<Option<TcpControlSpec>, ConfigError> {
    let control = &file.file.control;
    match (&control.listen, &control.token_file) {
        (None, None) => Ok(None),
        (Some(listen), None) => Err(file.error_at(
            listen.span(),
            "`[control] listen` needs `token_file`, a file holding the token every TCP client must send (the Unix socket needs none)",
        )),
        (None, Some(token)) => Err(file.error_at(
            token.span(),
            "`[control] token_file` applies only with `listen`",
        )),
        (Some(listen), Some(token)) => Ok(Some(TcpControlSpec {
            listen: listen.get_ref().clone(),
            token_file: file.resolve(token.get_ref()),
        })),
    }
}

/// The stream's `on_error` policy; keys of another policy are refused.
fn error_policy(
    file: &LoadedFile,
    name: &str,
    cfg: &StreamConfig,
) -> Result<ErrorPolicy, ConfigError> {
    let policy = cfg.on_error;
    if let Some(retries) = cfg.retries.as_ref().filter(|_| policy != OnError::Retry) {
        return Err(file.error_at(
            retries.span(),
            format!("stream `{name}`: `retries` applies only with on_error = \"retry\""),
        ));
    }
    if cfg.retry_backoff.is_some() && policy != OnError::Retry {
        return Err(file.error(format!(
            "stream `{name}`: `retry_backoff` applies only with on_error = \"retry\""
        )));
    }
    if let Some(dir) = cfg
        .dead_letter
        .as_ref()
        .filter(|_| policy != OnError::DeadLetter)
    {
        return Err(file.error_at(
            dir.span(),
            format!("stream `{name}`: `dead_letter` applies only with on_error = \"dead_letter\""),
        ));
    }
    Ok(match policy {
        OnError::Fail => ErrorPolicy::Fail,
        OnError::Skip => ErrorPolicy::Skip,
        OnError::Retry => ErrorPolicy::Retry {
            retries: cfg.retries.as_ref().map_or(3, |r| *r.get_ref()),
            backoff: cfg.retry_backoff.unwrap_or(Duration::from_millis(100)),
        },
        OnError::DeadLetter => ErrorPolicy::DeadLetter {
            dir: match &cfg.dead_letter {
                Some(dir) => file.resolve(dir.get_ref()),
                None => file.resolve("dead-letter").join(name),
            },
        },
    })
}

fn sink_spec(
    file: &LoadedFile,
    name: &str,
    cfg: &SinkConfig,
    index: &HashMap<&str, NodeRef>,
    streams: &[StreamSpec],
) -> Result<SinkSpec, Error> {
    let from_name = cfg.from.get_ref();
    let Some(&from) = index.get(from_name.as_str()) else {
        return Err(file
            .error_at(
                cfg.from.span(),
                format!(
                    "sink `{name}` reads `from = \"{from_name}\"`, which is no source or stream (known: {})",
                    known_names(file)
                ),
            )
            .into());
    };
    let misplaced = |key: &str, span: std::ops::Range<usize>, kind: &str| -> Error {
        file.error_at(
            span,
            format!("sink `{name}`: `{key}` does not apply to a `{kind}` sink"),
        )
        .into()
    };
    let kind = match cfg.kind.get_ref() {
        SinkKind::Pprint => {
            for (key, span) in [
                ("prefix", cfg.prefix.as_ref().map(|s| s.span())),
                ("suffix", cfg.suffix.as_ref().map(|s| s.span())),
                ("format", cfg.format.as_ref().map(|s| s.span())),
            ] {
                if let Some(span) = span {
                    return Err(misplaced(key, span, "pprint"));
                }
            }
            SinkSpecKind::Pprint {
                num: cfg.num.as_ref().map_or(10, |n| *n.get_ref()),
            }
        }
        SinkKind::TextFiles => {
            if let Some(num) = &cfg.num {
                return Err(misplaced("num", num.span(), "text_files"));
            }
            let Some(prefix) = &cfg.prefix else {
                return Err(file
                    .error_at(
                        cfg.kind.span(),
                        format!(
                            "sink `{name}`: a `text_files` sink needs `prefix`, e.g. \"out/counts\""
                        ),
                    )
                    .into());
            };
            SinkSpecKind::TextFiles {
                prefix: file.resolve(prefix.get_ref()),
                suffix: cfg.suffix.as_ref().map(|s| s.get_ref().clone()),
                format: cfg
                    .format
                    .as_ref()
                    .map_or(TextFormat::Text, |f| *f.get_ref()),
            }
        }
    };
    Ok(SinkSpec {
        name: name.to_owned(),
        from,
        record_type: node_type(streams, from),
        kind,
    })
}

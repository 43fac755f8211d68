//! The per-kind checks of the pipeline file's tables: which keys each kind
//! of source, stream and sink takes, their defaults, and the plugin each
//! stream loads. Every refusal points at the offending key (line:column).

use std::collections::HashMap;
use std::time::Duration;

use super::graph::{known_names, node_type};
use super::types::fit_types;
use super::window::{max_state_bytes, window_spec};
use super::{
    ErrorPolicy, InverseSpec, KeyAdapter, NodeRef, SinkSpec, SinkSpecKind, SourceSpec,
    SourceSpecKind, StateSpec, StreamSpec, TcpControlSpec, Upstream,
};
use crate::batch::{RecordType, ValueType};
use crate::config::{
    LoadedFile, OnError, SinkConfig, SinkKind, SourceConfig, SourceKind, StreamConfig, TextFormat,
};
use crate::config::{Shape, StreamOp};
use crate::error::{ConfigError, Error};
use crate::partition::Partitioning;
use crate::plugin::{Limits, OperatorKind, Param, Plugin, PluginEngine, Signature};

/// A source table, checked.
pub(super) fn source_spec(
    file: &LoadedFile,
    name: &str,
    cfg: &SourceConfig,
) -> Result<SourceSpec, Error> {
    let kind_span = cfg.kind.span();
    let misplaced = |key: &str, span: std::ops::Range<usize>, kind: &str| -> Error {
        file.error_at(
            span,
            format!("source `{name}`: `{key}` does not apply to a `{kind}` source"),
        )
        .into()
    };
    let kind = match cfg.kind.get_ref() {
        SourceKind::Kafka => SourceSpecKind::Kafka(super::kafka::kafka_source(file, name, cfg)?),
        SourceKind::Files => {
            super::kafka::refuse_kafka_source_keys(file, name, cfg, "files")?;
            if let Some(host) = &cfg.host {
                return Err(misplaced("host", host.span(), "files"));
            }
            if let Some(port) = &cfg.port {
                return Err(misplaced("port", port.span(), "files"));
            }
            if cfg.buffer_mib.is_some() {
                return Err(misplaced("buffer_mib", kind_span, "files"));
            }
            if cfg.max_rate.is_some() {
                return Err(misplaced("max_rate", kind_span, "files"));
            }
            if let Some(sync) = &cfg.wal_sync {
                return Err(misplaced("wal_sync", sync.span(), "files"));
            }
            if let Some(backpressure) = &cfg.backpressure {
                return Err(misplaced("backpressure", backpressure.span(), "files"));
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
            let max_files_per_batch = match &cfg.max_files_per_batch {
                Some(max) => Some(
                    crate::bounds::max_files_per_batch::check(*max.get_ref()).map_err(
                        |message| file.error_at(max.span(), format!("source `{name}`: {message}")),
                    )?,
                ),
                None => None,
            };
            SourceSpecKind::Files {
                dir: file.resolve(path.get_ref()),
                include_existing: cfg.include_existing.as_ref().is_some_and(|b| *b.get_ref()),
                max_files_per_batch,
                max_batch_bytes: cfg
                    .max_batch_mib
                    .unwrap_or(crate::config::DEFAULT_FILES_MAX_BATCH_MIB)
                    << 20,
            }
        }
        SourceKind::Socket => {
            super::kafka::refuse_kafka_source_keys(file, name, cfg, "socket")?;
            if let Some(path) = &cfg.path {
                return Err(misplaced("path", path.span(), "socket"));
            }
            if let Some(include) = &cfg.include_existing {
                return Err(misplaced("include_existing", include.span(), "socket"));
            }
            if let Some(max) = &cfg.max_files_per_batch {
                return Err(misplaced("max_files_per_batch", max.span(), "socket"));
            }
            if let Some(sync) = &cfg.wal_sync
                && !file.checkpointed()
            {
                return Err(file
                    .error_at(
                        sync.span(),
                        format!("source `{name}`: `wal_sync` applies only with `checkpoint = true` (without checkpoints there is no write-ahead log)"),
                    )
                    .into());
            }
            if cfg.max_batch_mib.is_some() {
                return Err(misplaced("max_batch_mib", kind_span, "socket"));
            }
            let Some(port) = &cfg.port else {
                return Err(file
                    .error_at(
                        kind_span,
                        format!("source `{name}`: a `socket` source needs `port` (and `host`, default 127.0.0.1)"),
                    )
                    .into());
            };
            let port =
                crate::bounds::port::check(i64::from(*port.get_ref())).map_err(|message| {
                    file.error_at(port.span(), format!("source `{name}`: {message}"))
                })?;
            SourceSpecKind::Socket {
                host: cfg
                    .host
                    .as_ref()
                    .map_or_else(|| "127.0.0.1".to_owned(), |h| h.get_ref().clone()),
                port,
                buffer_bytes: cfg
                    .buffer_mib
                    .unwrap_or(crate::config::DEFAULT_SOCKET_BUFFER_MIB)
                    << 20,
                max_rate: cfg.max_rate,
                backpressure: cfg
                    .backpressure
                    .as_ref()
                    .is_some_and(|b| *b.get_ref())
                    .then_some(file.file.batch_interval),
                wal: file.checkpointed().then(|| {
                    (
                        crate::checkpoint::dir_in(&file.state_dir())
                            .join("wal")
                            .join(crate::checkpoint::dir_name(name)),
                        cfg.wal_sync
                            .as_ref()
                            .map(|s| *s.get_ref())
                            .unwrap_or_default(),
                    )
                }),
            }
        }
    };
    Ok(SourceSpec {
        name: name.to_owned(),
        kind,
        lines: super::LinePolicy {
            invalid_utf8: cfg.invalid_utf8,
            max_line_bytes: cfg
                .max_line_bytes
                .unwrap_or(crate::config::DEFAULT_MAX_LINE_BYTES),
            long_lines: cfg.long_lines,
        },
    })
}

/// A stream table, checked, with its plugin loaded and its types fitted.
#[allow(clippy::too_many_arguments)]
pub(super) fn stream_spec(
    file: &LoadedFile,
    engine: &PluginEngine,
    name: &str,
    cfg: &StreamConfig,
    from: NodeRef,
    upstream: Upstream,
    pipeline_limits: Limits,
    partitioning: Partitioning,
) -> Result<StreamSpec, Error> {
    let op = *cfg.op.get_ref();
    let window = window_spec(file, name, cfg, upstream.slide)?;
    let plugin_params = Param::from_toml(&cfg.params);
    let limits = cfg.limits.apply(pipeline_limits);
    let from_name = cfg.from.get_ref().to_string();
    let upstream_type = upstream.record_type;
    let (adapter, call_input) = adapter_for(op, upstream_type)
        .map_err(|message| file.error_at(cfg.from.span(), format!("stream `{name}`: {message}")))?;
    let (plugin, plugin_path, call_output) = match (op.plugin_kind(), &cfg.plugin) {
        (Some(kind), Some(path)) => {
            let (plugin_path, plugin) = load_plugin(
                file,
                engine,
                name,
                path,
                kind,
                plugin_params.clone(),
                limits,
            )?;
            let call_output =
                fit_types(kind, plugin.signature(), call_input).map_err(|mismatch| {
                    file.error_at(
                        cfg.from.span(),
                        format!(
                            "stream `{name}`: {}",
                            mismatch.describe(plugin.name(), &from_name)
                        ),
                    )
                })?;
            (Some(plugin), Some(plugin_path), call_output)
        }
        (Some(_), None) => {
            return Err(file
                .error_at(
                    cfg.op.span(),
                    format!(
                        "stream `{name}`: `{op}` needs `plugin`, the component that implements it"
                    ),
                )
                .into());
        }
        (None, Some(path)) => {
            return Err(file
                .error_at(
                    path.span(),
                    format!("stream `{name}`: `{op}` is run by the host and takes no `plugin`"),
                )
                .into());
        }
        (None, None) => {
            if !cfg.params.is_empty() {
                return Err(file
                    .error_at(
                        cfg.op.span(),
                        format!("stream `{name}`: `{op}` is run by the host and takes no `params`"),
                    )
                    .into());
            }
            let output_type = match (op, upstream.state) {
                (StreamOp::StateSnapshots, Some((StreamOp::MapWithState, state))) => Ok(state),
                (StreamOp::StateSnapshots, _) => Err(format!(
                    "`state_snapshots` gives the (key, state) records a `map_with_state` stream keeps, but `{from_name}` is no map_with_state stream"
                )),
                _ => host_output_type(op, upstream_type),
            }
            .map_err(|message| {
                file.error_at(cfg.from.span(), format!("stream `{name}`: {message}"))
            })?;
            (None, None, output_type)
        }
    };
    let output_type = match adapter {
        KeyAdapter::None => call_output,
        KeyAdapter::ValuesOnly | KeyAdapter::KeysKept => {
            if call_output.key.is_some() {
                let instead = keyed_twin(op);
                return Err(file
                    .error_at(
                        cfg.from.span(),
                        format!("stream `{name}`: `{op}` puts the keys back itself, so its plugin must give values only, but it gives {call_output} records; use `{instead}` to change keys"),
                    )
                    .into());
            }
            RecordType {
                key: upstream_type.key,
                value: call_output.value,
            }
        }
        KeyAdapter::ConstantKey => upstream_type,
    };
    let exchange = match &cfg.partitions {
        Some(p)
            if !matches!(
                op.shape(),
                Shape::ByKey | Shape::Repartition | Shape::Stateful
            ) =>
        {
            return Err(file
                .error_at(
                    p.span(),
                    format!("stream `{name}`: `partitions` applies only to repartition and to operators with an exchange by key (reduce_by_key, count_by_value and their windows, update_state_by_key)"),
                )
                .into());
        }
        None if op == StreamOp::Repartition => {
            return Err(file
                .error_at(
                    cfg.op.span(),
                    format!("stream `{name}`: `repartition` needs `partitions`, how many partitions each batch gets"),
                )
                .into());
        }
        Some(p) => fixed_partitions(file, name, p)?,
        None => partitioning,
    };
    let on_error = error_policy(file, name, cfg)?;
    if matches!(adapter, KeyAdapter::ValuesOnly | KeyAdapter::KeysKept)
        && matches!(on_error, ErrorPolicy::DeadLetter { .. })
    {
        let why = if adapter == KeyAdapter::ValuesOnly {
            " (its plugin never sees the keys, so a dead letter would lose them)"
        } else {
            ""
        };
        return Err(file
            .error_at(
                cfg.op.span(),
                format!("stream `{name}`: `{op}` does not take on_error = \"dead_letter\" yet{why}; use \"skip\", \"retry\" or \"fail\""),
            )
            .into());
    }
    if (op.shape() == Shape::Stateful || cfg.inverse_plugin.is_some())
        && matches!(on_error, ErrorPolicy::Skip | ErrorPolicy::DeadLetter { .. })
    {
        let what = if cfg.inverse_plugin.is_some() {
            "`reduce_by_key_and_window` with `inverse_plugin`".to_owned()
        } else {
            format!("`{op}`")
        };
        return Err(file
            .error_at(
                cfg.op.span(),
                format!("stream `{name}`: {what} takes on_error = \"fail\" or \"retry\" only: skipping a partition's update or some of its records would silently lose or corrupt the state it keeps"),
            )
            .into());
    }
    let inverse = inverse_spec(file, engine, name, cfg, output_type, limits)?;
    let state = match op.shape() {
        Shape::Stateful => {
            let max_state_bytes = max_state_bytes(file, name, cfg)?;
            // (key, state): for map_with_state the state type is declared
            // apart from the mapped records.
            let record_type = match plugin.as_ref().and_then(Plugin::state_type) {
                Some(state) if op == StreamOp::MapWithState => RecordType {
                    key: upstream_type.key,
                    value: state,
                },
                _ => output_type,
            };
            let initial = match &cfg.initial_state {
                Some(path) => Some(std::sync::Arc::new(
                    super::initial_state::load(
                        &file.resolve(path.get_ref()),
                        record_type,
                        max_state_bytes,
                    )
                    .map_err(|message| {
                        file.error_at(
                            path.span(),
                            format!("stream `{name}`: initial_state {message}"),
                        )
                    })?,
                )),
                None => None,
            };
            let timeout = match (&cfg.timeout, op) {
                (Some(timeout), StreamOp::MapWithState) => Some(timeout.get_ref().0),
                (Some(timeout), _) => {
                    return Err(file
                        .error_at(
                            timeout.span(),
                            format!("stream `{name}`: `timeout` applies only to map_with_state"),
                        )
                        .into());
                }
                (None, _) => None,
            };
            Some(StateSpec {
                record_type,
                timeout,
                max_state_bytes,
                initial,
            })
        }
        _ => {
            if let Some(timeout) = &cfg.timeout {
                return Err(file
                    .error_at(
                        timeout.span(),
                        format!("stream `{name}`: `timeout` applies only to map_with_state"),
                    )
                    .into());
            }
            if let Some(path) = &cfg.initial_state {
                return Err(file
                    .error_at(
                        path.span(),
                        format!(
                            "stream `{name}`: `initial_state` applies only to update_state_by_key and map_with_state"
                        ),
                    )
                    .into());
            }
            None
        }
    };
    Ok(StreamSpec {
        name: name.to_owned(),
        from,
        inputs: vec![from],
        op,
        plugin,
        params: plugin_params,
        limits,
        rollback_after: cfg.rollback_after.unwrap_or(3),
        plugin_path,
        input_type: upstream_type,
        output_type,
        call_types: Signature {
            input: call_input,
            output: call_output,
        },
        adapter,
        exchange,
        on_error,
        slide: window.map_or(upstream.slide, |w| w.slide),
        window,
        inverse,
        state,
        transform: transform_spec(file, name, cfg, upstream_type)?,
    })
}

/// A stream's `partitions = N`, checked.
pub(super) fn fixed_partitions(
    file: &LoadedFile,
    name: &str,
    partitions: &toml::Spanned<usize>,
) -> Result<Partitioning, ConfigError> {
    crate::bounds::partitions::check(*partitions.get_ref() as i64)
        .map(Partitioning::Fixed)
        .map_err(|message| file.error_at(partitions.span(), format!("stream `{name}`: {message}")))
}

/// The settings of a per-batch transform (`sort_by_key`, `top`, …), checked
/// against the stream's input; each key is refused on other operators.
fn transform_spec(
    file: &LoadedFile,
    name: &str,
    cfg: &StreamConfig,
    upstream: RecordType,
) -> Result<Option<crate::per_batch::Transform>, ConfigError> {
    use crate::per_batch::{OrderBy, Transform};
    let op = *cfg.op.get_ref();
    let error = |span: std::ops::Range<usize>, message: String| {
        file.error_at(span, format!("stream `{name}`: {message}"))
    };
    let refuse = |span, message| Err(error(span, message));
    let takes: &[&str] = match op {
        StreamOp::SortByKey => &["ascending"],
        StreamOp::SortBy => &["ascending", "by"],
        StreamOp::Top | StreamOp::TakeOrdered => &["num", "by"],
        StreamOp::Sample => &["fraction", "seed"],
        _ => &[],
    };
    for (key, span) in [
        ("ascending", cfg.ascending.as_ref().map(|v| v.span())),
        ("num", cfg.num.as_ref().map(|v| v.span())),
        ("by", cfg.by.as_ref().map(|v| v.span())),
        ("fraction", cfg.fraction.as_ref().map(|v| v.span())),
        ("seed", cfg.seed.as_ref().map(|v| v.span())),
    ] {
        if let Some(span) = span
            && !takes.contains(&key)
        {
            return refuse(span, format!("`{key}` does not apply to `{op}`"));
        }
    }
    let ascending = cfg.ascending.as_ref().is_none_or(|a| *a.get_ref());
    let by = cfg.by.as_ref().map_or(OrderBy::Record, |b| *b.get_ref());
    let composite = upstream.value.composite().is_some();
    if by != OrderBy::Record && upstream.key.is_none() {
        let span = cfg.by.as_ref().map_or(0..0, |b| b.span());
        return refuse(
            span,
            format!(
                "`by` orders keyed records by key or value, but the input gives unkeyed {upstream} records; leave `by` out to order by the records themselves"
            ),
        );
    }
    let num = || -> Result<usize, ConfigError> {
        let Some(num) = &cfg.num else {
            return Err(error(
                cfg.op.span(),
                format!("`{op}` needs `num`, how many records each batch gives"),
            ));
        };
        crate::bounds::top_num(*num.get_ref())
            .map_err(|message| file.error_at(num.span(), format!("stream `{name}`: {message}")))
    };
    Ok(Some(match op {
        StreamOp::SortByKey => {
            if upstream.key.is_none() {
                return refuse(
                    cfg.from.span(),
                    format!(
                        "`sort_by_key` orders keyed records, but its input gives unkeyed {upstream} records; use `sort_by`"
                    ),
                );
            }
            Transform::Sort {
                by: OrderBy::Key,
                ascending,
                composite,
            }
        }
        StreamOp::SortBy => Transform::Sort {
            by,
            ascending,
            composite,
        },
        StreamOp::Top => Transform::First {
            num: num()?,
            by,
            ascending: false,
            composite,
        },
        StreamOp::TakeOrdered => Transform::First {
            num: num()?,
            by,
            ascending: true,
            composite,
        },
        StreamOp::Distinct => Transform::Distinct,
        StreamOp::Sample => {
            let Some(fraction) = &cfg.fraction else {
                return refuse(
                    cfg.op.span(),
                    "`sample` needs `fraction`, the share of records kept (0 to 1)".into(),
                );
            };
            let share = *fraction.get_ref();
            if !(0.0..=1.0).contains(&share) {
                return refuse(
                    fraction.span(),
                    format!("`fraction` is {share}, but it must be between 0 and 1"),
                );
            }
            Transform::Sample {
                fraction: share,
                seed: cfg.seed.as_ref().map_or(0, |s| *s.get_ref() as u64),
            }
        }
        _ => return Ok(None),
    }))
}

/// Loads the plugin file `path` (relative to the pipeline file) of stream
/// `name` as a `kind` operator; returns its resolved path and the plugin.
fn load_plugin(
    file: &LoadedFile,
    engine: &PluginEngine,
    name: &str,
    path: &toml::Spanned<String>,
    kind: OperatorKind,
    params: Vec<Param>,
    limits: Limits,
) -> Result<(std::path::PathBuf, Plugin), Error> {
    let plugin_path = existing_plugin_file(file, &format!("stream `{name}`"), path)?;
    let plugin = engine.load(&plugin_path, Some(kind), params, limits)?;
    Ok((plugin_path, plugin))
}

/// The plugin file `path` of `owner` (``stream `x` `` or ``sink `y` ``),
/// resolved against the pipeline file; refused when missing.
pub(super) fn existing_plugin_file(
    file: &LoadedFile,
    owner: &str,
    path: &toml::Spanned<String>,
) -> Result<std::path::PathBuf, Error> {
    let plugin_path = file.resolve(path.get_ref());
    if !plugin_path.exists() {
        return Err(file
            .error_at(
                path.span(),
                format!(
                    "{owner}: plugin file {} does not exist (paths are relative to the pipeline file; build the plugins first)",
                    plugin_path.display()
                ),
            )
            .into());
    }
    Ok(plugin_path)
}

/// A `reduce_by_key_and_window` stream's `inverse_plugin` and `drop_when`,
/// checked against the stream's record type `output`.
fn inverse_spec(
    file: &LoadedFile,
    engine: &PluginEngine,
    name: &str,
    cfg: &StreamConfig,
    output: RecordType,
    limits: Limits,
) -> Result<Option<InverseSpec>, Error> {
    let op = *cfg.op.get_ref();
    let Some(path) = &cfg.inverse_plugin else {
        if let Some(drop_when) = &cfg.drop_when {
            return Err(file
                .error_at(
                    drop_when.span(),
                    format!("stream `{name}`: `drop_when` applies only with `inverse_plugin` (without one, a key leaves the window with its last batch)"),
                )
                .into());
        }
        return Ok(None);
    };
    if op != StreamOp::ReduceByKeyAndWindow {
        return Err(file
            .error_at(
                path.span(),
                format!(
                    "stream `{name}`: `inverse_plugin` applies only to reduce_by_key_and_window"
                ),
            )
            .into());
    }
    // The inverse takes no parameters: the stream's `params` are the
    // reducer's.
    let (_, plugin) = load_plugin(
        file,
        engine,
        name,
        path,
        OperatorKind::InverseReduce,
        Vec::new(),
        limits,
    )?;
    let fits = fit_types(OperatorKind::InverseReduce, plugin.signature(), output);
    if fits != Ok(output) {
        return Err(file
            .error_at(
                path.span(),
                format!(
                    "stream `{name}`: inverse plugin {} takes {} records, but the window holds {output} records; the inverse must take the reducer's types",
                    plugin.name(),
                    plugin.signature().input,
                ),
            )
            .into());
    }
    let drop_when = match &cfg.drop_when {
        None => None,
        Some(value) => {
            let mut column = crate::batch::Column::empty(output.value);
            let pushed = match (&mut column, value.get_ref()) {
                (crate::batch::Column::Int64(c), toml::Value::Integer(i)) => {
                    c.push(*i);
                    true
                }
                (crate::batch::Column::Float64(c), toml::Value::Float(f)) => {
                    c.push(*f);
                    true
                }
                (crate::batch::Column::Float64(c), toml::Value::Integer(i)) => {
                    c.push(*i as f64);
                    true
                }
                (crate::batch::Column::Varlen(c), toml::Value::String(s))
                    if output.value == ValueType::Text =>
                {
                    c.push(s.as_bytes());
                    true
                }
                _ => false,
            };
            if !pushed {
                return Err(file
                    .error_at(
                        value.span(),
                        format!(
                            "stream `{name}`: `drop_when` must be a {} value, like the window's values",
                            output.value.name()
                        ),
                    )
                    .into());
            }
            Some(column)
        }
    };
    Ok(Some(InverseSpec { plugin, drop_when }))
}

/// The operator that does what `map_values` or `flat_map_values` does on
/// whole records (keys included).
fn keyed_twin(op: StreamOp) -> &'static str {
    if op == StreamOp::FlatMapValues {
        "flat_map"
    } else {
        "map"
    }
}

/// How `op` hands its input's records to a plugin, and the records the
/// plugin then takes; or why `op` cannot take `upstream`.
fn adapter_for(op: StreamOp, upstream: RecordType) -> Result<(KeyAdapter, RecordType), String> {
    match op {
        StreamOp::MapValues | StreamOp::FlatMapValues => match upstream.key {
            Some(_) => Ok((
                if op == StreamOp::MapValues {
                    KeyAdapter::ValuesOnly
                } else {
                    KeyAdapter::KeysKept
                },
                RecordType {
                    key: None,
                    value: upstream.value,
                },
            )),
            None => Err(format!(
                "`{op}` maps the values of a keyed stream, but its input gives {upstream} records; use `{}`",
                keyed_twin(op)
            )),
        },
        StreamOp::Reduce | StreamOp::ReduceByWindow => match upstream.key {
            None => Ok((
                KeyAdapter::ConstantKey,
                RecordType {
                    key: Some(ValueType::Text),
                    value: upstream.value,
                },
            )),
            Some(_) => Err(format!(
                "`{op}` combines the records of an unkeyed stream, but its input gives {upstream} records (keyed); use reduce_by_key to combine per key"
            )),
        },
        _ => Ok((KeyAdapter::None, upstream)),
    }
}

/// The records a host operator gives for `upstream`, or why it cannot take
/// them.
fn host_output_type(op: StreamOp, upstream: RecordType) -> Result<RecordType, String> {
    match op {
        StreamOp::GroupByKey | StreamOp::GroupByKeyAndWindow => match upstream.key {
            Some(key) => Ok(RecordType {
                key: Some(key),
                value: ValueType::list(upstream.value),
            }),
            None => Err(format!(
                "`{op}` groups keyed records, but its input gives unkeyed {upstream} records; add a `map` stream that gives (key, value) pairs"
            )),
        },
        StreamOp::Count | StreamOp::CountByWindow => Ok(RecordType {
            key: None,
            value: ValueType::Int64,
        }),
        StreamOp::CountByValue | StreamOp::CountByValueAndWindow => match upstream.key {
            None => Ok(RecordType {
                key: Some(upstream.value),
                value: ValueType::Int64,
            }),
            Some(_) => Err(format!(
                "`{op}` counts the records of an unkeyed stream, but its input gives {upstream} records (keyed); use reduce_by_key to combine keyed records"
            )),
        },
        _ => Ok(upstream),
    }
}

/// The `[control]` table, checked: `listen` needs `token_file`.
pub(super) fn control_spec(file: &LoadedFile) -> Result<Option<TcpControlSpec>, ConfigError> {
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

/// Where the web UI listens: `ui` (default `127.0.0.1:4040`, `false` for
/// none); an address other than loopback needs the control token.
pub(super) fn ui_spec(
    file: &LoadedFile,
    control: Option<&TcpControlSpec>,
) -> Result<Option<crate::plan::UiSpec>, ConfigError> {
    let default = std::net::SocketAddr::from(([127, 0, 0, 1], crate::ui::DEFAULT_PORT));
    let Some(setting) = &file.file.ui else {
        return Ok(Some(crate::plan::UiSpec {
            address: default,
            token_file: None,
        }));
    };
    let address = match setting.get_ref() {
        crate::config::UiSetting::Enabled(false) => return Ok(None),
        crate::config::UiSetting::Enabled(true) => default,
        crate::config::UiSetting::Address(text) => {
            let text = text.trim();
            let local = text
                .strip_prefix("localhost:")
                .map(|port| format!("127.0.0.1:{port}"));
            local
                .as_deref()
                .unwrap_or(text)
                .parse::<std::net::SocketAddr>()
                .map_err(|_| {
                    file.error_at(
                        setting.span(),
                        format!("`ui` must be `IP:PORT` (e.g. \"127.0.0.1:4040\"), `true` or `false`, not {text:?}"),
                    )
                })?
        }
    };
    let token_file = if address.ip().is_loopback() {
        None
    } else {
        let Some(control) = control else {
            return Err(file.error_at(
                setting.span(),
                format!("`ui` listens on {address}, beyond this machine: it needs the control token (`[control] listen` and `token_file`), which every request must then carry as `Authorization: Bearer TOKEN`; or listen on 127.0.0.1"),
            ));
        };
        Some(control.token_file.clone())
    };
    Ok(Some(crate::plan::UiSpec {
        address,
        token_file,
    }))
}

/// The stream's `on_error` policy; keys of another policy are refused.
pub(super) fn error_policy(
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
    let retries = match &cfg.retries {
        Some(r) => crate::bounds::retries::check(i64::from(*r.get_ref()))
            .map_err(|message| file.error_at(r.span(), format!("stream `{name}`: {message}")))?,
        None => 3,
    };
    Ok(match policy {
        OnError::Fail => ErrorPolicy::Fail,
        OnError::Skip => ErrorPolicy::Skip,
        OnError::Retry => ErrorPolicy::Retry {
            retries,
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

/// A sink table, checked; a sink plugin is loaded with `engine`.
pub(super) fn sink_spec(
    file: &LoadedFile,
    engine: &PluginEngine,
    name: &str,
    cfg: &SinkConfig,
    index: &HashMap<&str, NodeRef>,
    sources: &[SourceSpec],
    streams: &[StreamSpec],
) -> Result<SinkSpec, Error> {
    let from_name = cfg.from.get_ref();
    let Some(&from) = index.get(from_name.as_str()) else {
        if file.file.tables.contains_key(from_name.as_str()) {
            return Err(file
                .error_at(
                    cfg.from.span(),
                    format!("sink `{name}` reads `{from_name}`, a table; sinks write streams (join the table with one first)"),
                )
                .into());
        }
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
    let record_type = node_type(sources, streams, &[], from);
    if *cfg.kind.get_ref() != SinkKind::Plugin {
        for (key, span) in [
            ("plugin", cfg.plugin.as_ref().map(|s| s.span())),
            ("params", cfg.params.as_ref().map(|s| s.span())),
            ("allow", cfg.allow.as_ref().map(|s| s.span())),
            ("limits", cfg.limits.as_ref().map(|s| s.span())),
            ("on_error", cfg.on_error.as_ref().map(|s| s.span())),
            ("retries", cfg.retries.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = span {
                return Err(file
                    .error_at(
                        span,
                        format!(
                            "sink `{name}`: `{key}` applies only to a `kind = \"plugin\"` sink"
                        ),
                    )
                    .into());
            }
        }
        if cfg.retry_backoff.is_some() || cfg.total_time.is_some() {
            return Err(file
                .error(format!("sink `{name}`: `retry_backoff` and `total_time` apply only to a `kind = \"plugin\"` sink"))
                .into());
        }
    }
    if *cfg.kind.get_ref() != SinkKind::Kafka {
        super::kafka::refuse_kafka_sink_keys(file, name, cfg, cfg.kind.get_ref().name())?;
    }
    let kind = match cfg.kind.get_ref() {
        SinkKind::Kafka => SinkSpecKind::Kafka(super::kafka::kafka_sink(file, name, cfg)?),
        SinkKind::Plugin => {
            for (key, span) in [
                ("num", cfg.num.as_ref().map(|s| s.span())),
                ("prefix", cfg.prefix.as_ref().map(|s| s.span())),
                ("suffix", cfg.suffix.as_ref().map(|s| s.span())),
                ("format", cfg.format.as_ref().map(|s| s.span())),
            ] {
                if let Some(span) = span {
                    return Err(misplaced(key, span, "plugin"));
                }
            }
            super::sink_plugins::plugin_sink(file, engine, name, cfg, record_type)?
        }
        SinkKind::Pprint | SinkKind::Print => {
            let kind_name = if *cfg.kind.get_ref() == SinkKind::Print {
                "print"
            } else {
                "pprint"
            };
            for (key, span) in [
                ("prefix", cfg.prefix.as_ref().map(|s| s.span())),
                ("suffix", cfg.suffix.as_ref().map(|s| s.span())),
                ("format", cfg.format.as_ref().map(|s| s.span())),
            ] {
                if let Some(span) = span {
                    return Err(misplaced(key, span, kind_name));
                }
            }
            let num = match &cfg.num {
                Some(n) => crate::bounds::num::check(*n.get_ref() as i64).map_err(|message| {
                    file.error_at(n.span(), format!("sink `{name}`: {message}"))
                })?,
                None => 10,
            };
            SinkSpecKind::Pprint {
                num,
                scala: kind_name == "print",
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
        record_type,
        kind,
    })
}

/// Two `text_files` sinks with one prefix would write into each other's
/// directories (and clean up each other's staging): refused.
pub(super) fn distinct_sink_prefixes(
    file: &LoadedFile,
    sinks: &[SinkSpec],
) -> Result<(), ConfigError> {
    let mut seen: HashMap<std::path::PathBuf, &str> = HashMap::new();
    for sink in sinks {
        let SinkSpecKind::TextFiles { prefix, .. } = &sink.kind else {
            continue;
        };
        let normal: std::path::PathBuf = prefix
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        if let Some(first) = seen.insert(normal, &sink.name) {
            let span = file.file.sinks[&sink.name]
                .prefix
                .as_ref()
                .map_or(0..0, |p| p.span());
            return Err(file.error_at(
                span,
                format!(
                    "sinks `{first}` and `{}` both write to prefix {}; give each sink its own prefix",
                    sink.name,
                    prefix.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses socket sources whose `buffer_mib` add up to more than the
/// pipeline's `source_memory_mib`: what sources hold between batches is
/// bounded for the whole pipeline.
pub(super) fn source_memory_fits(
    file: &LoadedFile,
    sources: &[SourceSpec],
) -> Result<(), ConfigError> {
    let budget = file
        .file
        .source_memory_mib
        .unwrap_or(crate::config::DEFAULT_SOURCE_MEMORY_MIB);
    let buffers: Vec<(&str, usize)> = sources
        .iter()
        .filter_map(|s| match s.kind {
            SourceSpecKind::Socket { buffer_bytes, .. } => {
                Some((s.name.as_str(), buffer_bytes >> 20))
            }
            SourceSpecKind::Files { .. } | SourceSpecKind::Kafka(_) => None,
        })
        .collect();
    let total: usize = buffers.iter().map(|(_, mib)| mib).sum();
    if total <= budget {
        return Ok(());
    }
    let each = buffers
        .iter()
        .map(|(name, mib)| format!("`{name}` {mib}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(file.error(format!(
        "the socket sources' buffer_mib add up to {total} MiB ({each}), over source_memory_mib = {budget}; lower buffer_mib or raise source_memory_mib"
    )))
}

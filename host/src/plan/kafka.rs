//! The checks of `kind = "kafka"` sources and sinks: their keys, defaults
//! and refusals, and the Kafka keys refused on other kinds.

use std::ops::Range;

use crate::config::{LoadedFile, SinkConfig, SourceConfig};
use crate::error::Error;
use crate::kafka::{Properties, SinkSettings, SourceSettings, Topics};

/// The keys only a Kafka source takes, with where each is set.
fn kafka_source_keys(cfg: &SourceConfig) -> [(&'static str, Option<Range<usize>>); 8] {
    [
        ("brokers", cfg.brokers.as_ref().map(|s| s.span())),
        ("topics", cfg.topics.as_ref().map(|s| s.span())),
        (
            "topic_pattern",
            cfg.topic_pattern.as_ref().map(|s| s.span()),
        ),
        ("group", cfg.group.as_ref().map(|s| s.span())),
        (
            "starting_offsets",
            cfg.starting_offsets.as_ref().map(|s| s.span()),
        ),
        ("key", cfg.key.as_ref().map(|s| s.span())),
        ("value", cfg.value.as_ref().map(|s| s.span())),
        ("properties", cfg.properties.as_ref().map(|s| s.span())),
    ]
}

/// Refuses the Kafka keys on a source of another `kind`.
pub(super) fn refuse_kafka_source_keys(
    file: &LoadedFile,
    name: &str,
    cfg: &SourceConfig,
    kind: &str,
) -> Result<(), Error> {
    for (key, span) in kafka_source_keys(cfg) {
        if let Some(span) = span {
            return Err(misplaced(file, "source", name, key, span, kind));
        }
    }
    if cfg.max_records_per_partition.is_some()
        || cfg.connect_timeout.is_some()
        || cfg.broker_wait.is_some()
    {
        return Err(file
            .error_at(
                cfg.kind.span(),
                format!("source `{name}`: `max_records_per_partition`, `connect_timeout` and `broker_wait` apply only to a `kafka` source"),
            )
            .into());
    }
    Ok(())
}

/// Refuses the Kafka keys on a sink of another `kind`.
pub(super) fn refuse_kafka_sink_keys(
    file: &LoadedFile,
    name: &str,
    cfg: &SinkConfig,
    kind: &str,
) -> Result<(), Error> {
    for (key, span) in [
        ("brokers", cfg.brokers.as_ref().map(|s| s.span())),
        ("topic", cfg.topic.as_ref().map(|s| s.span())),
        (
            "serialization",
            cfg.serialization.as_ref().map(|s| s.span()),
        ),
        ("delivery", cfg.delivery.as_ref().map(|s| s.span())),
        ("properties", cfg.properties.as_ref().map(|s| s.span())),
    ] {
        if let Some(span) = span {
            return Err(misplaced(file, "sink", name, key, span, kind));
        }
    }
    if cfg.connect_timeout.is_some() || cfg.broker_wait.is_some() {
        return Err(file
            .error_at(
                cfg.kind.span(),
                format!(
                    "sink `{name}`: `connect_timeout` and `broker_wait` apply only to a `kafka` sink"
                ),
            )
            .into());
    }
    Ok(())
}

/// A `kind = "kafka"` source table, checked.
pub(super) fn kafka_source(
    file: &LoadedFile,
    name: &str,
    cfg: &SourceConfig,
) -> Result<SourceSettings, Error> {
    for (key, span) in [
        ("path", cfg.path.as_ref().map(|s| s.span())),
        (
            "include_existing",
            cfg.include_existing.as_ref().map(|s| s.span()),
        ),
        (
            "max_files_per_batch",
            cfg.max_files_per_batch.as_ref().map(|s| s.span()),
        ),
        ("host", cfg.host.as_ref().map(|s| s.span())),
        ("port", cfg.port.as_ref().map(|s| s.span())),
        ("backpressure", cfg.backpressure.as_ref().map(|s| s.span())),
        ("wal_sync", cfg.wal_sync.as_ref().map(|s| s.span())),
    ] {
        if let Some(span) = span {
            return Err(misplaced(file, "source", name, key, span, "kafka"));
        }
    }
    if cfg.buffer_mib.is_some() || cfg.max_rate.is_some() {
        return Err(file
            .error_at(
                cfg.kind.span(),
                format!("source `{name}`: `buffer_mib` and `max_rate` apply to a `socket` source; a `kafka` source reads at most `max_records_per_partition` per partition and batch"),
            )
            .into());
    }
    let needs = |what: &str| -> Error {
        file.error_at(
            cfg.kind.span(),
            format!("source `{name}`: a `kafka` source needs {what}"),
        )
        .into()
    };
    let brokers = checked_brokers(file, "source", name, cfg.brokers.as_ref())?
        .ok_or_else(|| needs("`brokers`, e.g. \"localhost:9092\""))?;
    let topics = match (&cfg.topics, &cfg.topic_pattern) {
        (Some(_), Some(pattern)) => {
            return Err(file
                .error_at(
                    pattern.span(),
                    format!("source `{name}`: set `topics` or `topic_pattern`, not both"),
                )
                .into());
        }
        (None, None) => {
            return Err(needs(
                "`topics`, e.g. [\"events\"], or `topic_pattern`, e.g. \"events-.*\"",
            ));
        }
        (Some(topics), None) => {
            if topics.get_ref().is_empty() || topics.get_ref().iter().any(|t| !valid_topic(t)) {
                return Err(file
                    .error_at(
                        topics.span(),
                        format!("source `{name}`: `topics` must list one or more topic names (letters, digits, `.`, `_`, `-`; at most 249 characters)"),
                    )
                    .into());
            }
            Topics::Named(topics.get_ref().clone())
        }
        (None, Some(pattern)) => Topics::Pattern(checked_pattern(file, name, pattern)?),
    };
    let Some(group) = &cfg.group else {
        return Err(needs(
            "`group`, the consumer group its offsets are committed to",
        ));
    };
    if group.get_ref().trim().is_empty() {
        return Err(file
            .error_at(
                group.span(),
                format!("source `{name}`: `group` must not be empty"),
            )
            .into());
    }
    Ok(SourceSettings {
        brokers,
        topics,
        group: group.get_ref().clone(),
        starting_offsets: cfg
            .starting_offsets
            .as_ref()
            .map(|s| *s.get_ref())
            .unwrap_or_default(),
        max_records_per_partition: cfg
            .max_records_per_partition
            .unwrap_or(crate::kafka::DEFAULT_MAX_RECORDS_PER_PARTITION),
        max_batch_bytes: cfg
            .max_batch_mib
            .unwrap_or(crate::config::DEFAULT_FILES_MAX_BATCH_MIB)
            << 20,
        key: cfg.key.as_ref().map(|k| *k.get_ref()),
        value: cfg.value.as_ref().map(|v| *v.get_ref()).unwrap_or_default(),
        properties: checked_properties(file, "source", name, cfg.properties.as_ref())?,
        connect_timeout: cfg
            .connect_timeout
            .unwrap_or(crate::kafka::DEFAULT_CONNECT_TIMEOUT),
        broker_wait: cfg.broker_wait.unwrap_or(crate::kafka::DEFAULT_BROKER_WAIT),
    })
}

/// A `kind = "kafka"` sink table, checked.
pub(super) fn kafka_sink(
    file: &LoadedFile,
    name: &str,
    cfg: &SinkConfig,
) -> Result<SinkSettings, Error> {
    for (key, span) in [
        ("num", cfg.num.as_ref().map(|s| s.span())),
        ("prefix", cfg.prefix.as_ref().map(|s| s.span())),
        ("suffix", cfg.suffix.as_ref().map(|s| s.span())),
        ("format", cfg.format.as_ref().map(|s| s.span())),
    ] {
        if let Some(span) = span {
            return Err(misplaced(file, "sink", name, key, span, "kafka"));
        }
    }
    let needs = |what: &str| -> Error {
        file.error_at(
            cfg.kind.span(),
            format!("sink `{name}`: a `kafka` sink needs {what}"),
        )
        .into()
    };
    let brokers = checked_brokers(file, "sink", name, cfg.brokers.as_ref())?
        .ok_or_else(|| needs("`brokers`, e.g. \"localhost:9092\""))?;
    let Some(topic) = &cfg.topic else {
        return Err(needs("`topic`, the topic it writes"));
    };
    if !valid_topic(topic.get_ref()) {
        return Err(file
            .error_at(
                topic.span(),
                format!("sink `{name}`: `topic` must be a topic name (letters, digits, `.`, `_`, `-`; at most 249 characters)"),
            )
            .into());
    }
    Ok(SinkSettings {
        brokers,
        topic: topic.get_ref().clone(),
        serialization: cfg
            .serialization
            .as_ref()
            .map(|s| *s.get_ref())
            .unwrap_or_default(),
        delivery: cfg
            .delivery
            .as_ref()
            .map(|d| *d.get_ref())
            .unwrap_or_default(),
        properties: checked_properties(file, "sink", name, cfg.properties.as_ref())?,
        connect_timeout: cfg
            .connect_timeout
            .unwrap_or(crate::kafka::DEFAULT_CONNECT_TIMEOUT),
        broker_wait: cfg.broker_wait.unwrap_or(crate::kafka::DEFAULT_BROKER_WAIT),
    })
}

/// `brokers`, checked: `host:port` entries separated by commas.
fn checked_brokers(
    file: &LoadedFile,
    node: &str,
    name: &str,
    brokers: Option<&toml::Spanned<String>>,
) -> Result<Option<String>, Error> {
    let Some(brokers) = brokers else {
        return Ok(None);
    };
    let text = brokers.get_ref().trim();
    let well_formed = !text.is_empty()
        && text.split(',').all(|entry| {
            entry
                .trim()
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        });
    if !well_formed {
        return Err(file
            .error_at(
                brokers.span(),
                format!("{node} `{name}`: `brokers` must list `host:port` entries separated by commas, e.g. \"k1:9092,k2:9092\""),
            )
            .into());
    }
    Ok(Some(text.to_owned()))
}

/// `properties`, checked (see [`Properties::from_toml`]).
fn checked_properties(
    file: &LoadedFile,
    node: &str,
    name: &str,
    properties: Option<&toml::Spanned<std::collections::BTreeMap<String, toml::Value>>>,
) -> Result<Properties, Error> {
    match properties {
        Some(table) => Properties::from_toml(table.get_ref()).map_err(|message| {
            file.error_at(table.span(), format!("{node} `{name}`: {message}"))
                .into()
        }),
        None => Ok(Properties::default()),
    }
}

/// Kafka's rule for topic names.
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The refusal of `key` on a `kind` source or sink.
fn misplaced(
    file: &LoadedFile,
    node: &str,
    name: &str,
    key: &str,
    span: Range<usize>,
    kind: &str,
) -> Error {
    file.error_at(
        span,
        format!("{node} `{name}`: `{key}` does not apply to a `{kind}` {node}"),
    )
    .into()
}

/// The most characters a `topic_pattern` may have.
const MAX_PATTERN_CHARS: usize = 1024;

/// A `topic_pattern`, compiled to match whole topic names.
fn checked_pattern(
    file: &LoadedFile,
    name: &str,
    pattern: &toml::Spanned<String>,
) -> Result<regex::Regex, Error> {
    let refuse = |why: String| -> Error {
        file.error_at(
            pattern.span(),
            format!("source `{name}`: `topic_pattern` {why}"),
        )
        .into()
    };
    let text = pattern.get_ref();
    if text.is_empty() || text.chars().count() > MAX_PATTERN_CHARS {
        return Err(refuse(format!(
            "must be a regular expression of 1 to {MAX_PATTERN_CHARS} characters"
        )));
    }
    // Anchored, as Kafka's and Spark's pattern subscriptions match whole
    // names; the compiled size is bounded by the crate's default limit.
    regex::Regex::new(&format!("^(?:{text})$")).map_err(|e| {
        refuse(format!(
            "is not a regular expression: {}",
            e.to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("error: ")
        ))
    })
}

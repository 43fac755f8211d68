//! What the Kafka source ([`crate::source::kafka`]) and sink
//! ([`crate::sink::kafka`]) share: the brokers, the librdkafka properties a
//! pipeline passes through, and the messages for the broker errors users
//! meet.
//!
//! Properties are passed to librdkafka as they are (security settings,
//! `sasl.*`, `ssl.*`, tuning) and never logged: [`Properties`] shows only
//! their names. The few that Sluice sets itself, because its guarantees
//! depend on them, are refused with the key that sets them instead.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, TopicPartitionList};

/// The default `connect_timeout`: how long the brokers may take to answer
/// when the pipeline starts.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default `broker_wait`: how long a batch waits for brokers that
/// stopped answering before the pipeline fails.
pub const DEFAULT_BROKER_WAIT: Duration = Duration::from_secs(600);

/// The default `max_records_per_partition` of a Kafka source.
pub const DEFAULT_MAX_RECORDS_PER_PARTITION: u64 = 100_000;

/// The properties Sluice sets itself, and the pipeline key (or reason)
/// that decides each.
const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "set `brokers` instead"),
    ("metadata.broker.list", "set `brokers` instead"),
    ("group.id", "set `group` instead"),
    (
        "enable.auto.commit",
        "Sluice commits offsets itself, after the batch's outputs are written",
    ),
    (
        "enable.auto.offset.store",
        "Sluice commits offsets itself, after the batch's outputs are written",
    ),
    ("auto.offset.reset", "set `starting_offsets` instead"),
    (
        "isolation.level",
        "the source reads up to the high watermark, so it reads uncommitted records (Spark's default); read_committed is not supported yet",
    ),
    (
        "transactional.id",
        "set `delivery = \"transactional\"` instead",
    ),
    (
        "enable.idempotence",
        "the sink's producer is always idempotent",
    ),
];

/// Where a Kafka partition that the group has no committed offset for
/// starts (Spark's `startingOffsets`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartingOffsets {
    /// At the first record the broker still has.
    Earliest,
    /// After the last record there at start: only new records.
    #[default]
    Latest,
}

/// The type a Kafka source gives its records' keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaKey {
    /// UTF-8 text (under the source's `invalid_utf8`); a null key is `""`.
    Text,
    /// The key's bytes; a null key is empty.
    Bytes,
}

/// What a Kafka source gives as its records' values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaValue {
    /// The value as UTF-8 text (under the source's `invalid_utf8`).
    #[default]
    Text,
    /// The value's bytes.
    Bytes,
    /// A JSON document with the record's `topic`, `partition`, `offset`,
    /// `timestamp` (ms since the epoch, or null), `key` and `value` (text,
    /// or null).
    Record,
}

/// How a Kafka sink turns keys and values into bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Serialization {
    /// Text, bytes and JSON values as they are, numbers in decimal,
    /// composite values (pairs, lists) as JSON.
    #[default]
    Raw,
    /// Every key and value as a JSON document (text as a JSON string,
    /// bytes as a base64 string).
    Json,
}

/// How a Kafka sink delivers a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// An idempotent producer; a batch written again after a failure is
    /// written again whole, and every record carries headers naming its
    /// pipeline, batch, partition and sequence so consumers can drop the
    /// copies.
    #[default]
    AtLeastOnce,
    /// One Kafka transaction per batch: consumers reading
    /// `read_committed` see a batch whole or not at all.
    Transactional,
}

/// Which topics a `kafka` source reads.
#[derive(Clone, Debug)]
pub enum Topics {
    /// `topics`: these, each of which must exist.
    Named(Vec<String>),
    /// `topic_pattern`: every topic whose whole name matches, as Spark's
    /// `SubscribePattern`; topics created later join at their earliest
    /// record. Internal topics (`__consumer_offsets`, …) never match.
    Pattern(regex::Regex),
}

impl Topics {
    /// Whether the source reads `topic`, a name the brokers listed.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Topics::Named(names) => names.iter().any(|n| n == topic),
            Topics::Pattern(pattern) => !topic.starts_with("__") && pattern.is_match(topic),
        }
    }
}

impl fmt::Display for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topics::Named(names) => write!(f, "{}", names.join(", ")),
            Topics::Pattern(pattern) => write!(f, "topics matching `{}`", pattern.as_str()),
        }
    }
}

impl PartialEq for Topics {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Topics::Named(a), Topics::Named(b)) => a == b,
            (Topics::Pattern(a), Topics::Pattern(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// The offsets a batch consumed from one `kafka` source, which a
/// transactional sink commits in the batch's transaction
/// (`send_offsets_to_transaction`), so the output and the input's progress
/// are committed together or not at all.
pub struct ConsumedOffsets {
    /// The source's name.
    pub source: String,
    /// The consumer group, as the transaction coordinator identifies it.
    pub group: ConsumerGroupMetadata,
    /// Per partition read, the offset after the batch's last record.
    pub offsets: TopicPartitionList,
}

/// A `kafka` source, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSettings {
    /// The bootstrap brokers.
    pub brokers: String,
    /// The topics read.
    pub topics: Topics,
    /// The consumer group offsets are committed to.
    pub group: String,
    /// Where a partition without a committed offset starts.
    pub starting_offsets: StartingOffsets,
    /// The most records a batch reads from one partition.
    pub max_records_per_partition: u64,
    /// The most bytes a batch reads, all partitions together.
    pub max_batch_bytes: usize,
    /// The key type, or none for an unkeyed stream.
    pub key: Option<KafkaKey>,
    /// What the values are.
    pub value: KafkaValue,
    /// Properties passed through.
    pub properties: Properties,
    /// How long the brokers may take to answer at start.
    pub connect_timeout: Duration,
    /// How long a batch waits for unavailable brokers.
    pub broker_wait: Duration,
}

impl SourceSettings {
    /// The records the source gives.
    pub fn record_type(&self) -> crate::types::RecordType {
        use crate::types::ValueType;
        crate::types::RecordType {
            key: self.key.map(|key| match key {
                KafkaKey::Text => ValueType::Text,
                KafkaKey::Bytes => ValueType::Bytes,
            }),
            value: match self.value {
                KafkaValue::Text => ValueType::Text,
                KafkaValue::Bytes => ValueType::Bytes,
                KafkaValue::Record => ValueType::Json,
            },
        }
    }
}

/// A `kafka` sink, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkSettings {
    /// The bootstrap brokers.
    pub brokers: String,
    /// The topic written.
    pub topic: String,
    /// How keys and values become bytes.
    pub serialization: Serialization,
    /// How a batch is delivered.
    pub delivery: Delivery,
    /// Properties passed through.
    pub properties: Properties,
    /// How long the brokers may take to answer at start.
    pub connect_timeout: Duration,
    /// How long a batch's records may take to be acknowledged.
    pub broker_wait: Duration,
}

/// librdkafka properties from a pipeline file: passed through, never shown.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    /// The properties of a `[sources.x.properties]` or
    /// `[sinks.x.properties]` table: strings, numbers and booleans, as
    /// librdkafka takes them.
    ///
    /// # Errors
    ///
    /// The message for a property Sluice sets itself, or a value that is a
    /// table or list.
    pub fn from_toml(table: &BTreeMap<String, toml::Value>) -> Result<Self, String> {
        let mut properties = BTreeMap::new();
        for (name, value) in table {
            if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| reserved == name) {
                return Err(format!("property `{name}` is set by Sluice: {why}"));
            }
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => {
                    return Err(format!(
                        "property `{name}` must be a string, number or boolean, as librdkafka takes it"
                    ));
                }
            };
            properties.insert(name.clone(), text);
        }
        Ok(Properties(properties))
    }

    /// Whether the pipeline set property `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A client configuration for `brokers` with these properties, and
    /// librdkafka's own logs at warning level and above.
    pub fn client_config(&self, brokers: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        config.set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
        for (name, value) in &self.0 {
            config.set(name, value);
        }
        config
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values may be passwords.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// What a broker error means, and what to do about it, in words.
pub fn explain(error: &KafkaError) -> String {
    let hint = match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            "the topic does not exist on the brokers; create it, or fix the topic's name"
        }
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::Authentication,
        ) => {
            "the brokers refused the credentials or the ACLs forbid it; check `sasl.*` / `ssl.*` under `properties` and the ACLs"
        }
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            "a record is larger than the broker or producer allows (`message.max.bytes`); raise the limit or write smaller records"
        }
        Some(
            RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::NetworkException,
        ) => "the brokers did not answer; check that they run and that `brokers` names them",
        _ => "",
    };
    if hint.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {hint}")
    }
}

/// Whether `error` may go away by itself (a broker down, a leader moving),
/// so the operation is worth retrying.
pub fn is_transient(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::PartitionEOF
                | RDKafkaErrorCode::TimedOutQueue
                | RDKafkaErrorCode::NotEnoughReplicas
                | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
        )
    ) || matches!(error, KafkaError::MetadataFetch(code) if code_is_transient(*code))
}

fn code_is_transient(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
    )
}

/// Waits between attempts at an operation on unavailable brokers: 100 ms,
/// doubled each time up to 5 s, until `budget` is spent.
pub struct Backoff {
    next: Duration,
    deadline: std::time::Instant,
}

impl Backoff {
    /// A backoff that gives up after `budget`.
    pub fn new(budget: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(100),
            deadline: std::time::Instant::now() + budget,
        }
    }

    /// Sleeps before the next attempt; `false` when the budget is spent.
    pub fn wait(&mut self) -> bool {
        let now = std::time::Instant::now();
        if now >= self.deadline {
            return false;
        }
        std::thread::sleep(self.next.min(self.deadline - now));
        self.next = (self.next * 2).min(Duration::from_secs(5));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_pass_through_and_never_show_their_values() {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str("\"sasl.password\" = \"hunter2\"\n\"fetch.wait.max.ms\" = 50\n")
                .unwrap();
        let properties = Properties::from_toml(&table).unwrap();
        assert_eq!(
            format!("{properties:?}"),
            "{\"fetch.wait.max.ms\", \"sasl.password\"}"
        );
        let config = properties.client_config("127.0.0.1:9092");
        assert_eq!(config.get("sasl.password"), Some("hunter2"));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }

    #[test]
    fn properties_sluice_sets_itself_are_refused_with_the_key_to_use() {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str("\"group.id\" = \"g\"\n").unwrap();
        assert_eq!(
            Properties::from_toml(&table).unwrap_err(),
            "property `group.id` is set by Sluice: set `group` instead"
        );
    }
}

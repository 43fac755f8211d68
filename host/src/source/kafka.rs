//! `kafka`: records of Kafka topics, as Spark's direct stream
//! (`KafkaUtils.createDirectStream`).
//!
//! At each batch the source fixes an offset range per Kafka partition:
//! from where the previous batch ended to the partition's high watermark,
//! at most `max_records_per_partition` records (and `max_batch_mib` for
//! all partitions together). It reads exactly those records, in order,
//! with a consumer assigned to those partitions (no group rebalancing),
//! and records the ranges, so a batch run again after a crash reads the
//! same records ([`SourceInput::Kafka`]). Each Kafka partition's range
//! becomes one chunk of the batch; the scheduler cuts them into input
//! partitions by size.
//!
//! Offsets are committed to the consumer group only after the batch's
//! outputs were written (and its checkpoint, in a checkpointed pipeline):
//! a restart without a checkpoint goes on from the committed offsets, so a
//! batch is never lost, and is read twice only if the process died between
//! writing it and committing. A checkpoint's positions take precedence
//! over the group's. A partition the group has no offset for starts at
//! `starting_offsets` (`latest` by default, as Spark) when the source
//! starts, and at its earliest record when it appears later.
//!
//! Brokers that stop answering make the batch wait: every request is
//! retried with backoff (100 ms doubling to 5 s) for up to `broker_wait`,
//! during which the scheduling delay of later batches grows; then the
//! pipeline fails, naming the brokers, with nothing committed.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{SourceInput, SourcePosition, SourceStats};
use crate::batch::{Batch, Column, Varlen};
use crate::config::{InvalidUtf8, LongLines};
use crate::error::{Error, ErrorKind};
use crate::kafka::{
    Backoff, ConsumedOffsets, KafkaKey, KafkaValue, SourceSettings, Topics, explain, is_transient,
};
use crate::partition::Partitioning;
use crate::plan::LinePolicy;
use crate::time::BatchTime;

/// One partition of a topic.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// Where a partition's next batch starts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the next record to read.
    pub offset: i64,
}

/// The records a batch read from one partition: offsets `from..until`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OffsetRange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset read.
    pub from: i64,
    /// The offset after the last one read.
    pub until: i64,
}

impl OffsetRange {
    fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }
}

/// What `sluice status` shows of one partition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionProgress {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset the next batch starts at.
    pub offset: i64,
    /// Records on the broker not yet read (high watermark − offset) at
    /// the latest poll.
    pub lag: i64,
}

/// How often a request to the brokers waits before it is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many bad records are logged one by one per source.
const LOGGED_RECORDS: u64 = 10;

/// A Kafka direct stream.
pub struct KafkaSource {
    name: String,
    settings: SourceSettings,
    decoder: RecordDecoder,
    consumer: BaseConsumer,
    /// Per partition: the offset the next batch starts at.
    next: BTreeMap<TopicPartition, i64>,
    /// Per partition: the high watermark at the latest poll.
    high: BTreeMap<TopicPartition, i64>,
    /// What the latest poll read.
    last: Vec<OffsetRange>,
    /// Whether the latest poll read something not yet committed.
    uncommitted: bool,
    receiving: bool,
    /// Whether "no topic matches" was logged.
    warned_no_topic: bool,
}

impl KafkaSource {
    /// Connects to the brokers and finds every partition of the topics and
    /// where it starts.
    ///
    /// # Errors
    ///
    /// When the brokers do not answer within `connect_timeout`, a topic
    /// does not exist, or the consumer cannot be created from the
    /// properties.
    pub fn open(name: &str, settings: &SourceSettings, policy: LinePolicy) -> Result<Self, Error> {
        let mut config = settings.properties.client_config(&settings.brokers);
        config
            .set("group.id", &settings.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // Only when an offset is gone (retention): from the earliest
            // record kept; the source logs the records it missed.
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_uncommitted");
        // The source drains the fetch queue as fast as it fills; librdkafka's
        // default (1 s) idles a batch each time the queue is full: measured
        // 3.6 s against 0.93 s for 20 MB on the mock cluster.
        if !settings.properties.contains("fetch.queue.backoff.ms") {
            config.set("fetch.queue.backoff.ms", "10");
        }
        let consumer: BaseConsumer = config.create().map_err(|e| Error::Source {
            source_name: name.to_owned(),
            message: format!("cannot create a Kafka consumer: {e}; check `properties`"),
            kind: ErrorKind::User,
        })?;
        let mut source = KafkaSource {
            name: name.to_owned(),
            settings: settings.clone(),
            decoder: RecordDecoder {
                source: name.to_owned(),
                key: settings.key,
                value: settings.value,
                policy,
                stats: SourceStats::default(),
            },
            consumer,
            next: BTreeMap::new(),
            high: BTreeMap::new(),
            last: Vec::new(),
            uncommitted: false,
            receiving: true,
            warned_no_topic: false,
        };
        source.discover(true)?;
        tracing::info!(
            source = %source.name,
            brokers = %source.settings.brokers,
            topics = %source.settings.topics,
            group = %source.settings.group,
            partitions = source.next.len(),
            properties = ?source.settings.properties,
            "kafka source connected"
        );
        Ok(source)
    }

    fn error(&self, kind: ErrorKind, message: String) -> Error {
        Error::Source {
            source_name: self.name.clone(),
            message,
            kind,
        }
    }

    /// The error of brokers that did not answer for `waited`.
    fn unavailable(&self, waited: Duration, key: &str, e: &KafkaError) -> Error {
        self.error(
            ErrorKind::External,
            format!(
                "the Kafka brokers `{}` did not answer within {} (`{key}`): {}",
                self.settings.brokers,
                humantime::format_duration(waited),
                explain(e)
            ),
        )
    }

    /// Runs `request` until it succeeds, retrying a transient error with
    /// backoff for up to `budget` (`key` names the setting).
    fn retried<T>(
        &self,
        what: &str,
        budget: Duration,
        key: &str,
        mut request: impl FnMut(&BaseConsumer) -> Result<T, KafkaError>,
    ) -> Result<T, Error> {
        let mut backoff = Backoff::new(budget);
        let mut attempt = 0u32;
        loop {
            match request(&self.consumer) {
                Ok(value) => return Ok(value),
                Err(e) if is_transient(&e) => {
                    attempt += 1;
                    tracing::warn!(source = %self.name, brokers = %self.settings.brokers, attempt, error = %e, "{what}: the brokers do not answer; the batch waits and retries");
                    if !backoff.wait() {
                        return Err(self.unavailable(budget, key, &e));
                    }
                }
                Err(e) => {
                    return Err(self.error(ErrorKind::External, format!("{what}: {}", explain(&e))));
                }
            }
        }
    }

    /// Finds the topics' partitions; a new one starts at the group's
    /// committed offset, else at `starting_offsets` when the source starts
    /// and at the earliest record later.
    fn discover(&mut self, at_start: bool) -> Result<(), Error> {
        let (budget, key) = if at_start {
            (self.settings.connect_timeout, "connect_timeout")
        } else {
            (self.settings.broker_wait, "broker_wait")
        };
        let mut found = Vec::new();
        for (topic, partitions) in self.listed(budget, key)? {
            for partition in partitions {
                let tp = TopicPartition {
                    topic: topic.clone(),
                    partition,
                };
                if !self.next.contains_key(&tp) {
                    found.push(tp);
                }
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for tp in &found {
            list.add_partition(&tp.topic, tp.partition);
        }
        let committed = self.retried(
            "reading the group's committed offsets",
            budget,
            key,
            |consumer| consumer.committed_offsets(list.clone(), budget.min(REQUEST_TIMEOUT)),
        )?;
        for tp in found {
            let committed = committed
                .find_partition(&tp.topic, tp.partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) if o >= 0 => Some(o),
                    _ => None,
                });
            let start = match committed {
                Some(offset) => offset,
                None => {
                    let (low, high) = self.watermarks(&tp, budget, key)?;
                    if at_start
                        && self.settings.starting_offsets == crate::kafka::StartingOffsets::Latest
                    {
                        high
                    } else {
                        low
                    }
                }
            };
            if !at_start {
                tracing::info!(source = %self.name, topic = %tp.topic, partition = tp.partition, offset = start, "new kafka partition");
            }
            self.next.insert(tp, start);
        }
        Ok(())
    }

    /// The topics read and their partitions, as the brokers list them now.
    fn listed(&mut self, budget: Duration, key: &str) -> Result<Vec<(String, Vec<i32>)>, Error> {
        let names = match &self.settings.topics {
            Topics::Named(names) => names.clone(),
            Topics::Pattern(_) => return self.matching(budget, key),
        };
        names
            .into_iter()
            .map(|topic| {
                let partitions = self.named_topic(&topic, budget, key)?;
                Ok((topic, partitions))
            })
            .collect()
    }

    /// The partitions of `topic`, which must exist.
    fn named_topic(&self, topic: &str, budget: Duration, key: &str) -> Result<Vec<i32>, Error> {
        let metadata = self.retried(
            &format!("reading the metadata of topic `{topic}`"),
            budget,
            key,
            |consumer| consumer.fetch_metadata(Some(topic), budget.min(REQUEST_TIMEOUT)),
        )?;
        let Some(info) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(self.missing_topic(topic));
        };
        if let Some(code) = info.error() {
            let code = RDKafkaErrorCode::from(code);
            let error = KafkaError::MetadataFetch(code);
            return Err(
                if matches!(
                    code,
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
                ) {
                    self.missing_topic(topic)
                } else {
                    self.error(
                        ErrorKind::External,
                        format!("topic `{topic}`: {}", explain(&error)),
                    )
                },
            );
        }
        if info.partitions().is_empty() {
            return Err(self.missing_topic(topic));
        }
        Ok(info.partitions().iter().map(|p| p.id()).collect())
    }

    /// Every topic `topic_pattern` matches, with its partitions; none is
    /// not an error (topics may be created later), but it is logged once.
    fn matching(&mut self, budget: Duration, key: &str) -> Result<Vec<(String, Vec<i32>)>, Error> {
        let metadata = self.retried("listing the topics", budget, key, |consumer| {
            consumer.fetch_metadata(None, budget.min(REQUEST_TIMEOUT))
        })?;
        let topics: Vec<(String, Vec<i32>)> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && self.settings.topics.matches(t.name()))
            .map(|t| {
                (
                    t.name().to_owned(),
                    t.partitions().iter().map(|p| p.id()).collect(),
                )
            })
            .collect();
        if topics.is_empty() && !std::mem::replace(&mut self.warned_no_topic, true) {
            tracing::warn!(source = %self.name, brokers = %self.settings.brokers, "no topic matches {} yet; batches are empty until one is created", self.settings.topics);
        }
        Ok(topics)
    }

    fn missing_topic(&self, topic: &str) -> Error {
        self.error(
            ErrorKind::User,
            format!(
                "topic `{topic}` does not exist on the Kafka brokers `{}`; create it, or fix `topics`",
                self.settings.brokers
            ),
        )
    }

    /// The partition's low and high watermarks, retried.
    fn watermarks(
        &self,
        tp: &TopicPartition,
        budget: Duration,
        key: &str,
    ) -> Result<(i64, i64), Error> {
        self.retried(
            &format!(
                "reading the offsets of topic `{}`, partition {}",
                tp.topic, tp.partition
            ),
            budget,
            key,
            |consumer| {
                consumer.fetch_watermarks(&tp.topic, tp.partition, budget.min(REQUEST_TIMEOUT))
            },
        )
    }

    /// The range each partition gives the next batch.
    fn next_ranges(&mut self) -> Result<Vec<OffsetRange>, Error> {
        let wait = self.settings.broker_wait;
        let mut ranges = Vec::with_capacity(self.next.len());
        for (tp, &next) in &self.next {
            let (low, high) = self.watermarks(tp, wait, "broker_wait")?;
            if high < next {
                return Err(self.error(
                    ErrorKind::User,
                    format!(
                        "topic `{}`, partition {} ends at offset {high}, before offset {next} where the source goes on: the topic was deleted and created again, or the position is from another cluster; start over with `--fresh` (and a new `group`)",
                        tp.topic, tp.partition
                    ),
                ));
            }
            let from = if next < low {
                tracing::warn!(source = %self.name, topic = %tp.topic, partition = tp.partition, from = next, to = low, "records were deleted by the topic's retention before they were read; going on at the earliest kept");
                low
            } else {
                next
            };
            let until =
                high.min(from.saturating_add(self.settings.max_records_per_partition as i64));
            self.high.insert(tp.clone(), high);
            ranges.push(OffsetRange {
                topic: tp.topic.clone(),
                partition: tp.partition,
                from,
                until,
            });
        }
        Ok(ranges)
    }

    /// Reads exactly the records of `ranges` (cut short, and the ranges
    /// with them, when `max_batch_mib` is reached); one chunk per range.
    fn read(&mut self, ranges: &mut [OffsetRange]) -> Result<Vec<Batch>, Error> {
        let keyed = self.settings.key.is_some();
        let mut chunks: Vec<Chunk> = ranges
            .iter()
            .map(|_| Chunk {
                keys: keyed.then(|| Varlen::with_capacity(0, 0)),
                values: Varlen::with_capacity(0, 0),
            })
            .collect();
        let mut index: HashMap<TopicPartition, usize> = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        // Per range: the offset after the last record taken.
        let mut reached: Vec<i64> = ranges.iter().map(|r| r.from).collect();
        for (i, range) in ranges.iter().enumerate() {
            if range.from < range.until {
                index.insert(range.topic_partition(), i);
                assignment
                    .add_partition_offset(&range.topic, range.partition, Offset::Offset(range.from))
                    .map_err(|e| self.error(ErrorKind::Internal, format!("cannot assign: {e}")))?;
            }
        }
        if index.is_empty() {
            return Ok(Vec::new());
        }
        self.consumer.assign(&assignment).map_err(|e| {
            self.error(
                ErrorKind::External,
                format!("cannot assign the partitions: {}", explain(&e)),
            )
        })?;
        let mut open = index.len();
        let mut bytes = 0usize;
        let mut progress = Instant::now();
        let result = loop {
            if open == 0 {
                break Ok(());
            }
            if bytes >= self.settings.max_batch_bytes {
                // The budget is spent: every range ends where it got to.
                for (range, &at) in ranges.iter_mut().zip(&reached) {
                    range.until = at.min(range.until);
                }
                break Ok(());
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let tp = TopicPartition {
                        topic: message.topic().to_owned(),
                        partition: message.partition(),
                    };
                    let Some(&i) = index.get(&tp) else { continue };
                    let offset = message.offset();
                    if offset < reached[i] || reached[i] >= ranges[i].until {
                        continue;
                    }
                    if offset >= ranges[i].until {
                        reached[i] = ranges[i].until;
                        open -= 1;
                        continue;
                    }
                    progress = Instant::now();
                    bytes += message.payload_len() + message.key().map_or(0, <[u8]>::len);
                    if let Err(e) = self.decoder.push(&mut chunks[i], &message) {
                        break Err(e);
                    }
                    reached[i] = offset + 1;
                    if reached[i] >= ranges[i].until {
                        open -= 1;
                    }
                }
                Some(Err(e)) if is_transient(&e) => {
                    tracing::warn!(source = %self.name, brokers = %self.settings.brokers, error = %e, "reading records: the brokers do not answer; the batch waits");
                }
                Some(Err(e)) => {
                    break Err(self.error(
                        ErrorKind::External,
                        format!("reading records: {}", explain(&e)),
                    ));
                }
                None => {
                    // Offsets without a record (transaction markers,
                    // compaction): the consumer's position is past them.
                    if let Ok(positions) = self.consumer.position() {
                        for (tp, &i) in &index {
                            let past = positions
                                .find_partition(&tp.topic, tp.partition)
                                .and_then(|e| e.offset().to_raw())
                                .is_some_and(|p| p >= ranges[i].until);
                            if past && reached[i] < ranges[i].until {
                                reached[i] = ranges[i].until;
                                open -= 1;
                            }
                        }
                    }
                    if progress.elapsed() > self.settings.broker_wait {
                        let stuck: Vec<String> = ranges
                            .iter()
                            .zip(&reached)
                            .filter(|(r, at)| **at < r.until)
                            .map(|(r, at)| {
                                format!(
                                    "`{}` partition {} at offset {at} of {}..{}",
                                    r.topic, r.partition, r.from, r.until
                                )
                            })
                            .collect();
                        break Err(self.error(
                            ErrorKind::External,
                            format!(
                                "the Kafka brokers `{}` gave no record for {} (`broker_wait`) while the batch still needs {}; check that the brokers run",
                                self.settings.brokers,
                                humantime::format_duration(self.settings.broker_wait),
                                stuck.join(", ")
                            ),
                        ));
                    }
                }
            }
        };
        if let Err(e) = self.consumer.unassign() {
            tracing::debug!(source = %self.name, error = %e, "unassigning the partitions");
        }
        result?;
        Ok(chunks
            .into_iter()
            .filter(|c| !c.values.is_empty())
            .map(Chunk::into_batch)
            .collect())
    }

    /// Reads `ranges` and makes them the latest poll's.
    fn take(&mut self, mut ranges: Vec<OffsetRange>) -> Result<Vec<Batch>, Error> {
        let chunks = self.read(&mut ranges)?;
        for range in &ranges {
            self.next.insert(range.topic_partition(), range.until);
        }
        self.uncommitted = ranges.iter().any(|r| r.from < r.until);
        self.last = ranges;
        Ok(chunks)
    }

    /// Each partition's offset and lag at the latest poll.
    fn progress(&self) -> Vec<PartitionProgress> {
        self.next
            .iter()
            .map(|(tp, &offset)| PartitionProgress {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset,
                lag: self.high.get(tp).map_or(0, |&high| (high - offset).max(0)),
            })
            .collect()
    }
}

/// Turns Kafka records into a chunk's keys and values under the source's
/// policies, counting what it replaced, skipped or split.
struct RecordDecoder {
    source: String,
    key: Option<KafkaKey>,
    value: KafkaValue,
    policy: LinePolicy,
    stats: SourceStats,
}

impl RecordDecoder {
    fn error(&self, kind: ErrorKind, message: String) -> Error {
        Error::Source {
            source_name: self.source.clone(),
            message,
            kind,
        }
    }

    /// Appends one record to `chunk` under the source's policies.
    fn push(&mut self, chunk: &mut Chunk, message: &impl Message) -> Result<(), Error> {
        let place = || {
            format!(
                "topic `{}`, partition {}, offset {}",
                message.topic(),
                message.partition(),
                message.offset()
            )
        };
        let payload = message.payload().unwrap_or_default();
        let key = match self.key {
            None => None,
            Some(KafkaKey::Bytes) => Some(Cow::Borrowed(message.key().unwrap_or_default())),
            Some(KafkaKey::Text) => {
                match self.text(message.key().unwrap_or_default(), "key", &place)? {
                    Some(key) => Some(key),
                    None => return Ok(()),
                }
            }
        };
        let value: Cow<'_, [u8]> = match self.value {
            KafkaValue::Bytes => Cow::Borrowed(payload),
            KafkaValue::Text | KafkaValue::Record => match self.text(payload, "value", &place)? {
                Some(value) => value,
                None => return Ok(()),
            },
        };
        let max = self.policy.max_line_bytes;
        let pieces: Vec<&[u8]> = if value.len() <= max {
            vec![&value[..]]
        } else {
            if self.stats.long_lines < LOGGED_RECORDS {
                tracing::warn!(source = %self.source, record = %place(), bytes = value.len(), max_line_bytes = max, policy = ?self.policy.long_lines, "record is longer than max_line_bytes");
            }
            self.stats.long_lines += 1;
            match self.policy.long_lines {
                LongLines::Skip => return Ok(()),
                LongLines::Fail => {
                    return Err(self.error(
                        ErrorKind::User,
                        format!(
                            "{}: the value is longer than {max} bytes (`max_line_bytes`); the source has `long_lines = \"fail\"` (use \"split\" or \"skip\" to go on, or raise `max_line_bytes`)",
                            place()
                        ),
                    ));
                }
                LongLines::Split => {
                    let mut pieces = Vec::new();
                    let mut rest = &value[..];
                    while !rest.is_empty() {
                        let cut = if self.value == KafkaValue::Bytes {
                            max.min(rest.len())
                        } else {
                            super::lines::char_boundary(rest, max).min(rest.len())
                        };
                        pieces.push(&rest[..cut]);
                        rest = &rest[cut..];
                    }
                    pieces
                }
            }
        };
        for piece in pieces {
            if let (Some(keys), Some(key)) = (&mut chunk.keys, &key) {
                keys.push(key);
            }
            let values = &mut chunk.values;
            if self.value == KafkaValue::Record {
                let document = serde_json::json!({
                    "topic": message.topic(),
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "timestamp": message.timestamp().to_millis(),
                    "key": message.key().map(String::from_utf8_lossy),
                    "value": message.payload().map(|_| String::from_utf8_lossy(piece)),
                });
                values.push(document.to_string().as_bytes());
            } else {
                values.push(piece);
            }
            self.stats.lines += 1;
        }
        Ok(())
    }

    /// `bytes` as text under `invalid_utf8`: as they are, replaced, or
    /// `None` to skip the record.
    fn text<'a>(
        &mut self,
        bytes: &'a [u8],
        what: &str,
        place: &dyn Fn() -> String,
    ) -> Result<Option<Cow<'a, [u8]>>, Error> {
        let Err(error) = std::str::from_utf8(bytes) else {
            return Ok(Some(Cow::Borrowed(bytes)));
        };
        let policy = self.policy.invalid_utf8;
        if self.stats.replaced_lines + self.stats.skipped_lines < LOGGED_RECORDS
            && policy != InvalidUtf8::Fail
        {
            tracing::warn!(source = %self.source, record = %place(), %error, ?policy, "the record's {what} is not valid UTF-8");
        }
        match policy {
            InvalidUtf8::Replace => {
                self.stats.replaced_lines += 1;
                Ok(Some(Cow::Owned(
                    String::from_utf8_lossy(bytes).into_owned().into_bytes(),
                )))
            }
            InvalidUtf8::Skip => {
                self.stats.skipped_lines += 1;
                Ok(None)
            }
            InvalidUtf8::Fail => Err(self.error(
                ErrorKind::User,
                format!(
                    "{}: the {what} is not valid UTF-8 ({error}); the source has `invalid_utf8 = \"fail\"` (use \"replace\" or \"skip\" to go on, or declare `{what} = \"bytes\"`)",
                    place()
                ),
            )),
        }
    }
}

/// The records read from one partition: text, bytes and JSON are all
/// variable-width.
struct Chunk {
    keys: Option<Varlen>,
    values: Varlen,
}

impl Chunk {
    fn into_batch(self) -> Batch {
        Batch {
            keys: self.keys.map(Column::Varlen),
            values: Column::Varlen(self.values),
        }
    }
}

impl super::Source for KafkaSource {
    fn poll(
        &mut self,
        _batch_time: BatchTime,
        _partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        if !self.receiving {
            self.last.clear();
            self.uncommitted = false;
            return Ok(Vec::new());
        }
        self.discover(false)?;
        let ranges = self.next_ranges()?;
        let chunks = self.take(ranges)?;
        self.decoder.stats.lag = self.progress().iter().map(|p| p.lag as u64).sum();
        Ok(chunks)
    }

    fn stats(&self) -> SourceStats {
        self.decoder.stats
    }

    fn partitions(&self) -> Vec<PartitionProgress> {
        self.progress()
    }

    fn stop_receiving(&mut self) -> Result<(), Error> {
        self.receiving = false;
        Ok(())
    }

    fn has_pending(&self) -> bool {
        false
    }

    fn batch_completed(&mut self, _batch: &super::BatchReport) {
        if !std::mem::take(&mut self.uncommitted) {
            return;
        }
        let mut offsets = TopicPartitionList::new();
        for range in &self.last {
            if let Err(e) = offsets.add_partition_offset(
                &range.topic,
                range.partition,
                Offset::Offset(range.until),
            ) {
                tracing::warn!(source = %self.name, error = %e, "cannot name the offsets to commit");
                return;
            }
        }
        if let Err(e) = self.consumer.commit(&offsets, CommitMode::Sync) {
            // The next batch's commit covers these offsets too; only a
            // restart before then reads the batch again.
            tracing::warn!(source = %self.name, group = %self.settings.group, error = %explain(&e), "cannot commit the batch's offsets to the group (the next batch will)");
            self.uncommitted = true;
        }
    }

    fn consumed_offsets(&self) -> Option<ConsumedOffsets> {
        let group = self.consumer.group_metadata()?;
        let mut offsets = TopicPartitionList::new();
        for range in self.last.iter().filter(|r| r.from < r.until) {
            offsets
                .add_partition_offset(&range.topic, range.partition, Offset::Offset(range.until))
                .ok()?;
        }
        (offsets.count() > 0).then(|| ConsumedOffsets {
            source: self.name.clone(),
            group,
            offsets,
        })
    }

    fn position(&self) -> Option<SourcePosition> {
        Some(SourcePosition::Kafka {
            offsets: self
                .next
                .iter()
                .map(|(tp, &offset)| PartitionOffset {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset,
                })
                .collect(),
        })
    }

    fn last_input(&self) -> Option<SourceInput> {
        Some(SourceInput::Kafka {
            ranges: self.last.clone(),
        })
    }

    fn restore(&mut self, position: &SourcePosition) -> Result<(), Error> {
        let SourcePosition::Kafka { offsets } = position else {
            return Err(super::other_kind_in_checkpoint(&self.name));
        };
        for p in offsets {
            self.next.insert(
                TopicPartition {
                    topic: p.topic.clone(),
                    partition: p.partition,
                },
                p.offset,
            );
        }
        Ok(())
    }

    fn replay(
        &mut self,
        input: &SourceInput,
        _batch_time: BatchTime,
        _partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        let SourceInput::Kafka { ranges } = input else {
            return Err(super::other_kind_in_checkpoint(&self.name));
        };
        self.take(ranges.clone())
    }
}

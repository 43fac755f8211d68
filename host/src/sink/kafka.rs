//! `kafka`: each batch's records written to a Kafka topic.
//!
//! A keyed stream's keys become the records' keys (Kafka's partitioner
//! then keeps one key in one partition); an unkeyed stream's records have
//! none. `serialization = "raw"` writes text, bytes and JSON values as
//! they are and numbers in decimal; `"json"` writes every key and value as
//! a JSON document.
//!
//! The producer is idempotent (`enable.idempotence`, `acks = all`): a
//! record retried by the producer is written once. Two delivery modes:
//!
//! - `at_least_once` (default): the batch is sent and flushed; the batch
//!   counts as written only when every record was acknowledged. A batch
//!   written again (after a failure, or replayed after a crash) is written
//!   again whole, so every record carries the headers `sluice.pipeline`,
//!   `sluice.batch_time` (ms), `sluice.partition` and `sluice.sequence`
//!   (its index in the batch's partition): together they name it, and a
//!   consumer that keeps the latest batch time per partition drops the
//!   copies.
//! - `transactional`: one transaction per batch (`transactional.id` is
//!   `sluice-<pipeline>-<sink>`), committed after every record was
//!   acknowledged and aborted otherwise; a consumer reading
//!   `read_committed` sees each batch whole or not at all. The offsets the
//!   batch consumed from the pipeline's Kafka sources are committed in the
//!   same transaction (`send_offsets_to_transaction`), so Kafka → Sluice →
//!   Kafka is exactly-once: a batch's output and its input's progress are
//!   committed together or not at all. The scheduler writes this sink
//!   after the pipeline's other sinks, so they have their output before
//!   the offsets move on. The headers are written in this mode too.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::Sink;
use crate::batch::{Batch, Column, RecordType, ValueType};
use crate::error::{Error, ErrorKind};
use crate::kafka::{ConsumedOffsets, Delivery, Serialization, SinkSettings, explain, is_transient};
use crate::time::BatchTime;

/// What the producer reported of the records sent.
#[derive(Default)]
struct Deliveries {
    failures: AtomicU64,
    first_failure: Mutex<Option<KafkaError>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_failure.lock()
                && first.is_none()
            {
                *first = Some(error.clone());
            }
        }
    }
}

/// Writes every batch to a topic.
pub struct KafkaSink {
    name: String,
    pipeline: String,
    settings: SinkSettings,
    record_type: RecordType,
    producer: BaseProducer<Deliveries>,
}

impl KafkaSink {
    /// Connects to the brokers, checks the topic exists, and in
    /// `transactional` mode registers the producer's transactional id.
    ///
    /// # Errors
    ///
    /// When the brokers do not answer within `connect_timeout`, the topic
    /// does not exist, or the producer cannot be created from the
    /// properties.
    pub fn open(
        name: &str,
        pipeline: &str,
        settings: &SinkSettings,
        record_type: RecordType,
    ) -> Result<Self, Error> {
        let fail = |(kind, message): (ErrorKind, String)| Error::SinkOpen {
            pipeline: pipeline.to_owned(),
            sink: name.to_owned(),
            message,
            kind,
        };
        let message_timeout = settings
            .broker_wait
            .as_millis()
            .min(i32::MAX as u128)
            .to_string();
        let mut config = settings.properties.client_config(&settings.brokers);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", &message_timeout);
        if !settings.properties.contains("allow.auto.create.topics") {
            config.set("allow.auto.create.topics", "false");
        }
        if settings.delivery == Delivery::Transactional {
            config.set("transactional.id", format!("sluice-{pipeline}-{name}"));
            // A transaction lasts as long as its batch's records may take.
            if !settings.properties.contains("transaction.timeout.ms") {
                config.set("transaction.timeout.ms", &message_timeout);
            }
        }
        let producer: BaseProducer<Deliveries> = config
            .create_with_context(Deliveries::default())
            .map_err(|e| {
                fail((
                    ErrorKind::User,
                    format!("cannot create a Kafka producer: {e}; check `properties`"),
                ))
            })?;
        let sink = KafkaSink {
            name: name.to_owned(),
            pipeline: pipeline.to_owned(),
            settings: settings.clone(),
            record_type,
            producer,
        };
        sink.check_topic().map_err(fail)?;
        if settings.delivery == Delivery::Transactional {
            sink.producer
                .init_transactions(settings.connect_timeout)
                .map_err(|e| {
                    fail((
                        ErrorKind::External,
                        format!("cannot start its transactions: {}", explain(&e)),
                    ))
                })?;
        }
        tracing::info!(
            sink = %name,
            brokers = %settings.brokers,
            topic = %settings.topic,
            delivery = ?settings.delivery,
            properties = ?settings.properties,
            "kafka sink connected"
        );
        Ok(sink)
    }

    /// Whether the topic exists, asked within `connect_timeout`.
    fn check_topic(&self) -> Result<(), (ErrorKind, String)> {
        let topic = &self.settings.topic;
        let timeout = self.settings.connect_timeout;
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| {
                (
                    ErrorKind::External,
                    format!(
                        "the Kafka brokers `{}` did not answer within {} (`connect_timeout`): {}",
                        self.settings.brokers,
                        humantime::format_duration(timeout),
                        explain(&e)
                    ),
                )
            })?;
        let missing = || {
            (
                ErrorKind::User,
                format!(
                    "topic `{topic}` does not exist on the Kafka brokers `{}`; create it, or fix `topic`",
                    self.settings.brokers
                ),
            )
        };
        let Some(info) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(missing());
        };
        match info.error().map(RDKafkaErrorCode::from) {
            None if !info.partitions().is_empty() => Ok(()),
            None
            | Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                Err(missing())
            }
            Some(code) => Err((
                ErrorKind::External,
                format!(
                    "topic `{topic}`: {}",
                    explain(&KafkaError::MetadataFetch(code))
                ),
            )),
        }
    }

    /// Sends every record of `partitions`, then waits until each is
    /// acknowledged.
    fn send_all(&self, batch_time: BatchTime, partitions: &[Batch]) -> Result<u64, String> {
        let context = self.producer.context();
        context.failures.store(0, Ordering::Relaxed);
        if let Ok(mut first) = context.first_failure.lock() {
            *first = None;
        }
        let (mut key, mut value) = (String::new(), String::new());
        let batch_ms = batch_time.0.to_string();
        let mut sent = 0u64;
        for (index, partition) in partitions.iter().enumerate() {
            let partition_name = index.to_string();
            for i in 0..partition.len() {
                let sequence = i.to_string();
                let headers = OwnedHeaders::new_with_capacity(4)
                    .insert(Header {
                        key: "sluice.pipeline",
                        value: Some(&self.pipeline),
                    })
                    .insert(Header {
                        key: "sluice.batch_time",
                        value: Some(&batch_ms),
                    })
                    .insert(Header {
                        key: "sluice.partition",
                        value: Some(&partition_name),
                    })
                    .insert(Header {
                        key: "sluice.sequence",
                        value: Some(&sequence),
                    });
                let value_bytes = serialized(
                    &mut value,
                    &partition.values,
                    i,
                    self.record_type.value,
                    self.settings.serialization,
                );
                let mut record = BaseRecord::to(&self.settings.topic)
                    .payload(value_bytes)
                    .headers(headers);
                if let (Some(keys), Some(key_type)) = (&partition.keys, self.record_type.key) {
                    record = record.key(serialized(
                        &mut key,
                        keys,
                        i,
                        key_type,
                        self.settings.serialization,
                    ));
                }
                self.send(record)?;
                sent += 1;
                if sent.is_multiple_of(1024) {
                    self.producer.poll(Duration::ZERO);
                }
            }
        }
        self.producer
            .flush(self.settings.broker_wait)
            .map_err(|e| {
                format!(
                    "the Kafka brokers `{}` did not acknowledge the batch's records within {} (`broker_wait`): {}",
                    self.settings.brokers,
                    humantime::format_duration(self.settings.broker_wait),
                    explain(&e)
                )
            })?;
        let failures = context.failures.load(Ordering::Relaxed);
        if failures > 0 {
            let first = context
                .first_failure
                .lock()
                .ok()
                .and_then(|first| first.as_ref().map(explain))
                .unwrap_or_default();
            return Err(format!(
                "{failures} of the batch's {sent} records were not written to topic `{}`: {first}",
                self.settings.topic
            ));
        }
        Ok(sent)
    }

    /// Queues one record, waiting while the producer's queue is full.
    fn send<'a>(&self, mut record: BaseRecord<'a, [u8], [u8]>) -> Result<(), String> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    return Err(format!(
                        "cannot send a record to topic `{}`: {}",
                        self.settings.topic,
                        explain(&e)
                    ));
                }
            }
        }
    }
}

impl KafkaSink {
    /// Adds each source's consumed offsets to the open transaction.
    fn send_offsets(&self, offsets: &[ConsumedOffsets]) -> Result<(), String> {
        for consumed in offsets {
            self.producer
                .send_offsets_to_transaction(
                    &consumed.offsets,
                    &consumed.group,
                    self.settings.broker_wait,
                )
                .map_err(|e| {
                    format!(
                        "cannot add the offsets source `{}` consumed to the batch's transaction: {}",
                        consumed.source,
                        explain(&e)
                    )
                })?;
            tracing::debug!(sink = %self.name, source = %consumed.source, partitions = consumed.offsets.count(), "the batch's consumed offsets are in its transaction");
        }
        Ok(())
    }
}

/// Value `i` of `column` as Kafka bytes, built in `out` where it must be.
fn serialized<'a>(
    out: &'a mut String,
    column: &'a Column,
    i: usize,
    value_type: ValueType,
    serialization: Serialization,
) -> &'a [u8] {
    out.clear();
    match (serialization, column) {
        (Serialization::Raw, Column::Varlen(v)) => return v.get(i),
        (Serialization::Raw, Column::Int64(v)) => out.push_str(&v[i].to_string()),
        (Serialization::Raw, Column::Float64(v)) => crate::render::python_float(out, v[i]),
        (Serialization::Json, _) => crate::render::json_value(out, column, i, value_type),
    }
    out.as_bytes()
}

impl Sink for KafkaSink {
    fn write(&mut self, batch_time: BatchTime, partitions: &[Batch]) -> Result<(), Error> {
        self.write_with_offsets(batch_time, partitions, &[])
    }

    fn commits_offsets(&self) -> bool {
        self.settings.delivery == Delivery::Transactional
    }

    fn write_with_offsets(
        &mut self,
        batch_time: BatchTime,
        partitions: &[Batch],
        offsets: &[ConsumedOffsets],
    ) -> Result<(), Error> {
        let transactional = self.settings.delivery == Delivery::Transactional;
        let fail = |message: String| Error::Sink {
            sink: self.name.clone(),
            batch_time,
            message,
        };
        if transactional {
            self.producer.begin_transaction().map_err(|e| {
                fail(format!(
                    "cannot begin the batch's transaction: {}",
                    explain(&e)
                ))
            })?;
        }
        let sent = match self.send_all(batch_time, partitions) {
            Ok(sent) => sent,
            Err(message) => {
                if transactional
                    && let Err(e) = self.producer.abort_transaction(self.settings.broker_wait)
                {
                    tracing::warn!(sink = %self.name, error = %explain(&e), "cannot abort the batch's transaction");
                }
                return Err(fail(message));
            }
        };
        if transactional && let Err(message) = self.send_offsets(offsets) {
            if let Err(e) = self.producer.abort_transaction(self.settings.broker_wait) {
                tracing::warn!(sink = %self.name, error = %explain(&e), "cannot abort the batch's transaction");
            }
            return Err(fail(message));
        }
        if transactional {
            self.producer
                .commit_transaction(self.settings.broker_wait)
                .map_err(|e| {
                    let retry = if is_transient(&e) {
                        " (the brokers did not answer)"
                    } else {
                        ""
                    };
                    fail(format!(
                        "cannot commit the batch's transaction{retry}: {}",
                        explain(&e)
                    ))
                })?;
        }
        tracing::debug!(sink = %self.name, %batch_time, records = sent, topic = %self.settings.topic, "batch written to kafka");
        Ok(())
    }
}

//! Sinks: where each batch's final records go, in batch order.
//!
//! - [`pprint`]: the first records of each batch on stdout, exactly as
//!   PySpark's `DStream.pprint` prints them.
//! - [`text_files`]: one directory of part files per batch, as
//!   `saveAsTextFiles`, committed atomically.
//! - [`plugin`]: a sink plugin (`kind = "plugin"`), Spark's `foreachRDD`,
//!   reaching only the URLs its `allow.http` grants.
//! - [`kafka`]: records written to a Kafka topic, idempotently, at least
//!   once with dedupe headers or one transaction per batch.
//! - [`dead_letter`]: the records a stream's plugin failed on, with their
//!   errors, one JSON line each.

pub mod dead_letter;
pub mod kafka;
pub mod plugin;
pub mod pprint;
pub mod text_files;

use std::sync::Arc;

use crate::plugin::PluginEngine;

use crate::batch::{Batch, RecordType};
use crate::error::Error;
use crate::plan::{SinkSpec, SinkSpecKind};
use crate::time::BatchTime;

/// Receives the final partitions of every batch, in batch order.
pub trait Sink: Send {
    /// Writes one batch.
    ///
    /// # Errors
    ///
    /// When the output cannot be written; the error names the sink and batch.
    fn write(&mut self, batch_time: BatchTime, partitions: &[Batch]) -> Result<(), Error>;

    /// Whether the sink commits the offsets its batch consumed from Kafka
    /// sources together with its output (a transactional Kafka sink).
    fn commits_offsets(&self) -> bool {
        false
    }

    /// Writes one batch and commits `offsets` with it, all or nothing; a
    /// sink that does not [`Sink::commits_offsets`] only writes.
    ///
    /// # Errors
    ///
    /// As [`Sink::write`]; when it fails, neither the output nor the
    /// offsets are committed.
    fn write_with_offsets(
        &mut self,
        batch_time: BatchTime,
        partitions: &[Batch],
        offsets: &[crate::kafka::ConsumedOffsets],
    ) -> Result<(), Error> {
        let _ = offsets;
        self.write(batch_time, partitions)
    }
}

/// Opens the sink `spec` of pipeline `pipeline` describes; `pprint` writes
/// to standard output, a sink plugin runs on `engine`.
///
/// # Errors
///
/// When a Kafka sink cannot reach its brokers or topic.
pub fn open(
    spec: &SinkSpec,
    pipeline: &str,
    engine: &Arc<PluginEngine>,
) -> Result<Box<dyn Sink>, Error> {
    Ok(match &spec.kind {
        SinkSpecKind::Pprint { num, scala } => Box::new(
            pprint::Pprint::new(*num, spec.record_type, Box::new(std::io::stdout()))
                .in_scala_layout(*scala),
        ),
        SinkSpecKind::TextFiles {
            prefix,
            suffix,
            format,
        } => Box::new(text_files::TextFiles::new(
            &spec.name,
            prefix.clone(),
            suffix.clone(),
            *format,
            spec.record_type,
        )),
        SinkSpecKind::Plugin { plugin, on_error } => Box::new(plugin::PluginSink::new(
            pipeline,
            &spec.name,
            plugin.clone(),
            engine.clone(),
            *on_error,
        )),
        SinkSpecKind::Kafka(settings) => Box::new(kafka::KafkaSink::open(
            &spec.name,
            pipeline,
            settings,
            spec.record_type,
        )?),
    })
}

/// Shorthand used by sinks to describe their record type.
pub(crate) fn key_value(
    record_type: RecordType,
) -> (Option<crate::batch::ValueType>, crate::batch::ValueType) {
    (record_type.key, record_type.value)
}

//! A `kind = "plugin"` sink: a [`SinkPlugin`] called once per non-empty
//! partition of every batch, the partitions spread over one thread per core
//! and written concurrently, each under the sink's `on_error`.
//!
//! A sink does I/O, so unlike an operator's, its failures are often
//! transient (a receiver restarting, a network error): with `retry` (the
//! default for sinks) a failed partition is written again, after a backoff
//! that doubles, until it succeeds, its retries run out or `total_time` is
//! spent. A refused request or a hit limit is not retried: it would fail
//! again. Delivery is at least once per batch: a partition written before
//! another one failed, or before a crash, is written again with the batch,
//! with the same batch time and partition, so a receiver can drop it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Sink;
use crate::batch::Batch;
use crate::error::Error;
use crate::plugin::PluginEngine;
use crate::plugin::error::{CallError, CallFailure, CallSite, Phase};
use crate::plugin::http_grant::Delivery;
use crate::plugin::sink_plugin::{SinkBatch, SinkPlugin};
use crate::time::BatchTime;

/// What a sink does when a partition's call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkErrorPolicy {
    /// Stop the pipeline; the batch is not committed.
    Fail,
    /// Drop the partition's records, with a warning.
    Skip,
    /// Write the partition again.
    Retry {
        /// Attempts after the first.
        retries: u32,
        /// The wait before the first retry, doubled for each next one.
        backoff: Duration,
        /// Every attempt at one partition together, waits included.
        total_time: Duration,
    },
}

/// A sink plugin and where its calls happen.
pub struct PluginSink {
    pipeline: String,
    name: String,
    plugin: SinkPlugin,
    engine: Arc<PluginEngine>,
    on_error: SinkErrorPolicy,
}

impl PluginSink {
    /// The sink `name` of `pipeline`, writing with `plugin`.
    pub fn new(
        pipeline: &str,
        name: &str,
        plugin: SinkPlugin,
        engine: Arc<PluginEngine>,
        on_error: SinkErrorPolicy,
    ) -> Self {
        PluginSink {
            pipeline: pipeline.to_owned(),
            name: name.to_owned(),
            plugin,
            engine,
            on_error,
        }
    }

    /// Writes one partition under the sink's policy.
    async fn write_partition(
        &self,
        batch_time: BatchTime,
        partition: usize,
        partitions: usize,
        records: &Batch,
    ) -> Result<(), Box<CallError>> {
        let started = Instant::now();
        let mut site = CallSite {
            pipeline: self.pipeline.clone(),
            stream: self.name.clone(),
            plugin: self.plugin.name().to_owned(),
            hash: self.plugin.hash().to_owned(),
            batch_time,
            partition,
            phase: Phase::Sink,
            shadow: false,
            attempt: 1,
        };
        let mut wait = match self.on_error {
            SinkErrorPolicy::Retry { backoff, .. } => backoff,
            _ => Duration::ZERO,
        };
        loop {
            let info = SinkBatch {
                pipeline: self.pipeline.clone(),
                sink: self.name.clone(),
                batch_time_ms: batch_time.0,
                partition: partition as u32,
                partitions: partitions as u32,
                attempt: site.attempt,
            };
            let written = self
                .plugin
                .write(&self.engine, info, records, &site, Delivery::Send)
                .await;
            let error = match written {
                Ok(report) => {
                    tracing::debug!(sink = %self.name, %batch_time, partition, requests = report.requests, body_bytes = report.body_bytes, "sink partition written");
                    return Ok(());
                }
                Err(error) => error,
            };
            match self.on_error {
                SinkErrorPolicy::Fail => return Err(error),
                SinkErrorPolicy::Skip => {
                    tracing::warn!(
                        records = records.len(),
                        "{error}; its records are dropped (on_error = \"skip\")"
                    );
                    return Ok(());
                }
                SinkErrorPolicy::Retry {
                    retries,
                    total_time,
                    ..
                } => {
                    if !is_transient(&error.failure) {
                        tracing::warn!(
                            error_kind = error.failure.kind(),
                            "not retried: the failure would happen again"
                        );
                        return Err(error);
                    }
                    if site.attempt > retries {
                        return Err(error);
                    }
                    if started.elapsed() + wait > total_time {
                        tracing::warn!(
                            total_time = ?total_time,
                            "not retried: the next attempt would end after the sink's total_time"
                        );
                        return Err(error);
                    }
                    tracing::warn!(
                        retry_in = ?wait,
                        "{error}; retrying (on_error = retry, {} of {retries})",
                        site.attempt
                    );
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    site.attempt += 1;
                }
            }
        }
    }
}

/// Whether a sink's failed call may succeed when made again: a sink does
/// I/O, so its own errors and traps (a receiver down, a timeout) may pass;
/// a refused request or a hit limit would not.
fn is_transient(failure: &CallFailure) -> bool {
    matches!(
        failure,
        CallFailure::Timeout(_) | CallFailure::Operator { .. } | CallFailure::Trap(_)
    )
}

impl Sink for PluginSink {
    /// Writes the non-empty partitions on one thread per core (the
    /// plugin's own work is CPU: decoding, formatting), each thread's
    /// partitions concurrently (their requests wait together), all on the
    /// async runtime of the caller when there is one.
    fn write(&mut self, batch_time: BatchTime, partitions: &[Batch]) -> Result<(), Error> {
        let count = partitions.len();
        let work: Vec<(usize, &Batch)> = partitions
            .iter()
            .enumerate()
            .filter(|(_, records)| !records.is_empty())
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(work.len());
        let runtime = tokio::runtime::Handle::try_current().ok();
        let this = &*self;
        let results: Vec<Result<(), Error>> = std::thread::scope(|scope| {
            let spawned: Vec<_> = (0..threads)
                .map(|t| {
                    let share: Vec<(usize, &Batch)> =
                        work.iter().skip(t).step_by(threads).copied().collect();
                    let runtime = runtime.clone();
                    scope.spawn(move || {
                        let calls = share.into_iter().map(|(i, records)| {
                            this.write_partition(batch_time, i, count, records)
                        });
                        let all = futures::future::join_all(calls);
                        let results = match runtime {
                            Some(runtime) => runtime.block_on(all),
                            None => wasmtime_wasi::runtime::in_tokio(all),
                        };
                        results
                            .into_iter()
                            .find_map(Result::err)
                            .map_or(Ok(()), |e| Err(Error::Call(e)))
                    })
                })
                .collect();
            spawned
                .into_iter()
                .map(|thread| {
                    thread.join().unwrap_or_else(|_| {
                        Err(Error::Internal(format!(
                            "a thread writing sink `{}` panicked",
                            this.name
                        )))
                    })
                })
                .collect()
        });
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }
}

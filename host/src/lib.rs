//! Sluice: Spark Streaming's micro-batch model in Rust, with every user
//! function a sandboxed WebAssembly component.
//!
//! A pipeline file names sources, streams and sinks. Every batch interval
//! the [`scheduler`] polls the sources, cuts what arrived into input
//! partitions of bounded size, and the [`executor`] runs each chain of
//! streams' operators — plugins implementing `wit/operator.wit` — once per
//! partition batch, in parallel, each call in a fresh instance;
//! `reduce_by_key` streams combine, [`exchange`] by key hash and combine
//! again. Sinks then receive the batch, in batch order.
//!
//! # Layout
//!
//! - [`config`]: the pipeline file (TOML, unknown keys refused).
//! - [`bounds`]: the range of every number and duration it may set.
//! - [`plan`]: the checked graph: names, cycles, plugins, record types.
//! - [`batch`]: partition batches in the contract's column layout.
//! - [`packed`]: lists of numbers and flags as the contract carries them (bytes).
//! - [`types`]: the types of keys and values, scalars and the composites
//!   (pair, option, list) the host builds for joins.
//! - [`plugin`]: engine, compile cache, limits, loading and calling plugins.
//! - [`operator`]: what the executor calls per partition (plugin or native).
//! - [`builtin`]: the operators the host runs itself (`count`, `window`, …).
//! - [`combine`]: the host's operators over several streams (union,
//!   joins, cogroup).
//! - [`table`]: static tables read from files, joined like streams.
//! - [`per_batch`]: the host's per-batch transforms (sorts, top N,
//!   distinct, sample).
//! - [`partition`]: a batch's input cut into partitions sized by data.
//! - [`executor`]: one batch through the plan, chain by chain, on a worker
//!   pool.
//! - [`recovery`]: `on_error` policies: fail, retry, skip, dead letter.
//! - [`exchange`]: the shuffle between the halves of a `reduce_by_key`.
//! - [`window`]: the partials a windowed stream keeps between batches.
//! - [`state`]: the per-key states an `update_state_by_key` stream keeps.
//! - [`scheduler`]: the batch timer, ordering, delays and stop conditions.
//! - [`checkpoint`]: per-batch checkpoints, and resuming from them.
//! - [`deploy`]: hot loading: the version registry, candidate checks,
//!   rollback, shadow runs and `--watch`.
//! - [`control`]: the running pipeline's control socket and its client.
//! - [`status`]: progress counters for `sluice status`.
//! - [`source`]: `files`, `socket` and `kafka` sources.
//! - [`sink`]: `pprint`, `text_files`, plugin and `kafka` sinks,
//!   dead-letter files.
//! - [`kafka`]: what the Kafka source and sink share: brokers,
//!   pass-through properties, broker errors in words.
//! - [`render`]: Python reprs and JSON lines of records.
//! - [`regular_file`]: reading a named file: regular files only, bounded.
//! - [`time`]: batch times.
//! - [`error`]: errors, each naming what failed.
//! - [`pipeline`]: the entry points the CLI calls.
#![deny(missing_docs)]

pub mod batch;
pub mod bounds;
pub mod builtin;
pub mod checkpoint;
pub mod combine;
pub mod config;
pub mod control;
pub mod deploy;
pub mod error;
pub mod exchange;
pub mod executor;
pub mod grouping;
pub mod history;
pub mod kafka;
pub mod metrics;
pub mod observe;
pub mod operator;
pub mod packed;
pub mod partition;
pub mod per_batch;
pub mod pipeline;
pub mod plan;
pub mod plugin;
pub mod recovery;
pub mod regular_file;
pub mod render;
pub mod replay;
pub mod scheduler;
pub mod sink;
pub mod source;
pub mod state;
pub mod status;
pub mod table;
pub mod time;
pub mod types;
pub mod ui;
pub mod window;

pub use error::{Error, ErrorKind};

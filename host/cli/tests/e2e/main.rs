//! End-to-end tests: the real `sluice` binary, real components built from
//! `plugins/` (by `sluice-test-fixtures`), real files and real sockets on
//! 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch_functions;
mod big_batches;
mod checkpoints;
mod common;
mod files_source;
mod hardening;
mod host_operators;
mod hotload;
mod joins;
mod kafka;
mod languages;
mod pipeline_errors;
mod plugin_cli;
mod plugin_failures;
mod plugin_logs;
mod pprint;
mod receiver;
mod replay;
mod sinks;
mod socket_source;
mod state;
mod stopping;
mod untrusted;
mod values_and_reduce;
mod web_ui;
mod windows;
mod wordcount;

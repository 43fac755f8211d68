//! Logs on stderr, and progress lines for the long waits — loading a
//! pipeline, compiling a plugin (a Python component takes seconds),
//! building a plugin project — when stderr is a terminal
//! (`tracing-indicatif`: a spinner with the elapsed time per span, and log
//! lines printed above it). Elsewhere the logs say when each wait begins
//! and ends, as plain lines.

use std::io::IsTerminal as _;

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The span `sluice plugin build` builds a project in.
pub const BUILDING: &str = "building plugin";

/// The spans shown as progress lines.
const PROGRESS_SPANS: [&str; 3] = [
    sluice::pipeline::PROGRESS_LOADING,
    sluice::plugin::engine::PROGRESS_COMPILING,
    BUILDING,
];

/// Logs go to stderr, filtered by `directives` (`--log`, `SLUICE_LOG`);
/// on a terminal the long waits show as progress lines.
pub fn init_logging(directives: &str) {
    let filter = || EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        let progress = tracing_indicatif::IndicatifLayer::new();
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(progress.get_stderr_writer())
            .with_ansi(true)
            .with_filter(filter());
        let bars = progress.with_filter(filter_fn(|meta| {
            meta.is_span() && PROGRESS_SPANS.contains(&meta.name())
        }));
        tracing_subscriber::registry().with(logs).with(bars).init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
}

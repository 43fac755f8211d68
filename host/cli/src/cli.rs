//! The `sluice` command line (clap derive structures only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Stream processing with WebAssembly operators, in Spark Streaming's
/// micro-batch model.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// Log filter (tracing's env-filter syntax), e.g. `debug` or
    /// `sluice=debug`. Logs go to stderr.
    #[arg(long, global = true, env = "SLUICE_LOG", default_value = "info")]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline until stopped or a stop condition. The first Ctrl-C or
    /// SIGTERM stops gracefully (no more input is taken, what was received
    /// is processed); a second one stops after the current batch.
    Run(RunArgs),
    /// Check a pipeline file and its plugins without running it.
    Check(PipelineArgs),
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Load a new version of a stream's plugin into the running pipeline.
    /// It is checked first (valid component, the stream's operator, allowed
    /// imports, record types, `init`) and becomes current at the next batch;
    /// a version that fails a check is refused and the old one keeps running.
    Deploy(DeployArgs),
    /// Show the running pipeline: progress, delays, and each stream's
    /// plugin version.
    Status(StatusArgs),
    /// List a stream's plugin versions and what happened to them.
    History(StreamArgs),
    /// Go back to the version that was current before the current one.
    Rollback(StreamArgs),
    /// Make a stream's shadow candidate its current version.
    Promote(StreamArgs),
    /// Stop shadowing a stream and drop the candidate.
    Discard(StreamArgs),
    /// Show what plugins printed (stdout and stderr) in the last batches:
    /// every line with its batch time, stream, partition and output.
    Logs(LogsArgs),
    /// Run one stream of a kept batch again (`keep_batches`), with the
    /// version that ran it or another component, and compare each call's
    /// output with the one the batch gave, byte for byte. Exit 1 if one
    /// differs.
    Replay(ReplayArgs),
    /// Stop the running pipeline after its current batch, or gracefully.
    Stop(StopArgs),
}

/// Which running pipeline a control command talks to.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The running pipeline's file (its control socket is in its state
    /// directory).
    #[arg(short, long)]
    pub pipeline: Option<PathBuf>,
    /// The control endpoint instead: a socket path, or `tcp://HOST:PORT`.
    #[arg(long, env = "SLUICE_CONTROL", conflicts_with = "pipeline")]
    pub control: Option<String>,
    /// File holding the token for a TCP endpoint (or set
    /// SLUICE_CONTROL_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Print the reply as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sluice deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The stream whose plugin is replaced.
    pub stream: String,
    /// The new component.
    pub file: PathBuf,
    /// Run it beside the current version on the same batches, without
    /// affecting the output; compare with `sluice status`, then `sluice
    /// promote` or `sluice discard`.
    #[arg(long)]
    pub shadow: bool,
    /// Return once the version is checked and current, without waiting for
    /// its first batch.
    #[arg(long)]
    pub no_wait: bool,
    /// The running pipeline.
    #[command(flatten)]
    pub target: ControlArgs,
}

/// `sluice status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The running pipeline.
    #[command(flatten)]
    pub target: ControlArgs,
}

/// `sluice stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Take no more input and process what was received first (Spark's
    /// `stopGracefully`), as the first Ctrl-C or SIGTERM does.
    #[arg(long)]
    pub graceful: bool,
    /// The running pipeline.
    #[command(flatten)]
    pub target: ControlArgs,
}

/// `sluice logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this stream's (or sink's) plugin output.
    pub stream: Option<String>,
    /// Only this batch's: its time as printed (`2026-12-01 15:20:00`, local
    /// time) or in milliseconds since the epoch.
    #[arg(long)]
    pub batch: Option<String>,
    /// Keep printing new output as batches run, until the pipeline stops
    /// or Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// The running pipeline.
    #[command(flatten)]
    pub target: ControlArgs,
}

/// `sluice replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The pipeline file and how to load its plugins.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The stream to run again.
    #[arg(long)]
    pub stream: String,
    /// The batch: its time as printed (`2026-12-01 15:20:00`, local time)
    /// or in milliseconds since the epoch.
    #[arg(long)]
    pub batch: String,
    /// Run this component instead of the pipeline file's plugin (a fix to
    /// try before `deploy`, or the version that ran).
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// Also print the records each call gave now.
    #[arg(long)]
    pub print: bool,
}

/// Commands about one stream.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The stream.
    pub stream: String,
    /// Return without waiting for the first batch on the version
    /// (rollback, promote).
    #[arg(long)]
    pub no_wait: bool,
    /// The running pipeline.
    #[command(flatten)]
    pub target: ControlArgs,
}

/// Options shared by commands that read a pipeline file.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Input partitions per batch (overrides the file's `partitions`).
    #[arg(long)]
    pub partitions: Option<usize>,
    /// Directory for compiled plugins (default: $SLUICE_CACHE_DIR,
    /// $XDG_CACHE_HOME/sluice or ~/.cache/sluice).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Compile plugins without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// `sluice run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline and its options.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Stop after this many batches.
    #[arg(long)]
    pub max_batches: Option<u64>,
    /// Stop after this many consecutive batches without input (one run
    /// while a socket source paces its reads, its sender still sending,
    /// does not count).
    #[arg(long)]
    pub stop_when_idle: Option<u64>,
    /// Reload a stream's plugin when its file changes (a half-written or
    /// invalid file is refused and the running version kept).
    #[arg(long)]
    pub watch: bool,
    /// Start over: delete the pipeline's checkpoints (`checkpoint = true`)
    /// instead of resuming from them, and read the sources anew.
    #[arg(long)]
    pub fresh: bool,
}

/// `sluice plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a plugin project that builds and passes its test out of the
    /// box.
    New {
        /// The plugin's name (lowercase letters, digits, dashes).
        name: String,
        /// The language: rust, c, zig, python (py), javascript (js), go.
        #[arg(long, value_parser = parse_language)]
        lang: sluice_plugin_build::Language,
        /// What it is: an operator (map, flat_map, filter, reduce_by_key,
        /// inverse_reduce, update_state_by_key, map_with_state) or a sink.
        #[arg(long, value_parser = parse_op)]
        op: sluice_plugin_build::PluginKind,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The Rust SDK (the repository's guest-sdk/rust), for Rust projects.
        #[arg(long, env = "SLUICE_RUST_SDK")]
        rust_sdk: Option<PathBuf>,
    },
    /// Build a plugin project (Rust, C, Zig, Python, JavaScript or Go,
    /// detected from its files) into a component, and print where it is.
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build a plugin project and run the cases in its sluice-test.toml
    /// through the real engine and sandbox.
    Test {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Directory for compiled plugins.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Print a plugin's operator kind, world, declared types, imports and
    /// the limits that apply to it.
    Inspect {
        /// The component file.
        file: PathBuf,
        /// Directory for compiled plugins.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

fn parse_language(name: &str) -> Result<sluice_plugin_build::Language, String> {
    sluice_plugin_build::Language::from_name(name).ok_or_else(|| {
        format!("unknown language `{name}`; use rust, c, zig, python, javascript or go")
    })
}

fn parse_op(name: &str) -> Result<sluice_plugin_build::PluginKind, String> {
    sluice_plugin_build::PluginKind::try_from(name.to_owned())
}

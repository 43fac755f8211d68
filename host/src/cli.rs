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
    /// Run a pipeline until Ctrl-C or SIGTERM (the current batch finishes
    /// first), or a stop condition.
    Run(RunArgs),
    /// Check a pipeline file and its plugins without running it.
    Check(PipelineArgs),
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(PluginCommand),
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
    /// Stop after this many consecutive batches without input.
    #[arg(long)]
    pub stop_when_idle: Option<u64>,
}

/// `sluice plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
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

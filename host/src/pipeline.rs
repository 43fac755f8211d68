//! Entry points: check or run a pipeline file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LoadedFile;
use crate::deploy::Registry;
use crate::error::Error;
use crate::executor::Executor;
use crate::plan::Plan;
use crate::plugin::PluginEngine;
use crate::plugin::compile::CompileIsolation;
use crate::plugin::engine::EngineSettings;
use crate::scheduler::{self, RunSummary, Shutdown, StopConditions};
use crate::status::StatusBoard;

/// How long a watched plugin file must be quiet before it is reloaded
/// (at most a quarter of the batch interval).
const WATCH_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(200);

/// Options of `sluice run` and `sluice check`.
#[derive(Clone, Debug, Default)]
pub struct PipelineOptions {
    /// Overrides the file's `partitions`.
    pub partitions: Option<usize>,
    /// Where compiled plugins are cached; `None` for the default.
    pub cache_dir: Option<PathBuf>,
    /// Do not cache compiled plugins.
    pub no_cache: bool,
    /// Reload a stream's plugin when its file changes.
    pub watch: bool,
    /// Delete the pipeline's checkpoints first, and so start over.
    pub fresh: bool,
    /// Where plugins are compiled (the CLI: in a child process).
    pub compile: CompileIsolation,
    /// See [`EngineSettings::unlimited_for_benchmarks`].
    #[doc(hidden)]
    pub unlimited_for_benchmarks: bool,
}

/// The span loading a pipeline runs in (shown as a progress line by the
/// CLI).
pub const PROGRESS_LOADING: &str = "loading pipeline";

/// Reads `path`, starts an engine sized for it and builds the checked plan.
///
/// # Errors
///
/// Any problem of the file or its plugins.
pub fn load(path: &Path, options: &PipelineOptions) -> Result<(Arc<PluginEngine>, Plan), Error> {
    let _loading = tracing::info_span!(PROGRESS_LOADING, file = %path.display()).entered();
    let file = LoadedFile::read(path)?;
    let cfg = &file.file;
    let max_memory_mib = cfg
        .streams
        .values()
        .filter_map(|s| s.limits.memory_mib)
        .chain(std::iter::once(cfg.limits.memory_mib))
        .max()
        .unwrap_or(cfg.limits.memory_mib);
    let fuel = cfg.limits.fuel.is_some() || cfg.streams.values().any(|s| s.limits.fuel.is_some());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let settings = EngineSettings {
        cache_dir: if options.no_cache {
            None
        } else {
            Some(
                options
                    .cache_dir
                    .clone()
                    .unwrap_or_else(crate::plugin::cache::CompileCache::default_root),
            )
        },
        max_memory_mib,
        stack_kib: cfg.limits.stack_kib,
        max_instances: cores * 4 + 8,
        fuel,
        compile: options.compile.clone(),
        unlimited_for_benchmarks: options.unlimited_for_benchmarks,
    };
    let engine = PluginEngine::new(&settings).map_err(|e| {
        Error::Config(file.error(format!(
            "cannot start the WebAssembly engine ({e:#}): it reserves address space for {} instances of up to {} MiB (the largest `memory_mib`); lower `memory_mib`, or check the process's address-space limit (`ulimit -v`)",
            settings.max_instances, settings.max_memory_mib
        )))
    })?;
    let engine = Arc::new(engine);
    let plan = Plan::build(&file, &engine, options.partitions)?;
    Ok((engine, plan))
}

/// Runs the pipeline at `path` until `stop` or `shutdown`.
///
/// # Errors
///
/// Any problem of the file or its plugins, or the first batch failure.
pub async fn run(
    path: &Path,
    options: &PipelineOptions,
    stop: StopConditions,
    shutdown: Arc<tokio::sync::watch::Sender<Shutdown>>,
) -> Result<RunSummary, Error> {
    // Loading runs plugin code (`describe`, `init`), which may write to
    // stdout or stderr: that must happen off the async runtime's threads,
    // where the WASI pipes cannot block on the runtime.
    let (engine, plan) = {
        let (path, options) = (path.to_path_buf(), options.clone());
        tokio::task::spawn_blocking(move || load(&path, &options))
            .await
            .map_err(|e| Error::Internal(format!("loading the pipeline did not finish: {e}")))??
    };
    if options.fresh {
        let dir = crate::checkpoint::dir_in(&plan.state_dir);
        let removed = crate::checkpoint::Checkpointer::discard(&plan.name, &dir)?;
        tracing::info!(pipeline = %plan.name, dir = %dir.display(), removed, "starting fresh (--fresh): checkpoints removed");
    }
    let plan = Arc::new(plan);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let executor = Executor::new(plan.clone(), threads)?;
    let registry = Arc::new(Registry::new(plan.clone(), engine));
    let status = Arc::new(StatusBoard::default());
    let control = crate::control::start(registry.clone(), status.clone(), shutdown.clone()).await?;
    let observers = Arc::new(crate::observe::Observers::new(&plan.name));
    let ui = match &plan.ui {
        Some(spec) => {
            crate::ui::start(
                spec,
                crate::ui::Served::new(registry.clone(), status.clone(), observers.clone()),
            )
            .await?
        }
        None => None,
    };
    status.ui_started(ui.as_ref().map(crate::ui::UiServer::address));
    // Without the UI nobody reads the metrics, the batch history or the
    // calls' costs: none is kept.
    let observers = ui.as_ref().map(|_| observers);
    registry.engine().costs().set_enabled(ui.is_some());
    let _watcher = if options.watch {
        let debounce = WATCH_DEBOUNCE.min(plan.batch_interval / 4);
        Some(crate::deploy::watch::start(registry.clone(), debounce)?)
    } else {
        None
    };
    let result = scheduler::run(
        executor,
        registry.clone(),
        status,
        observers,
        stop,
        shutdown.subscribe(),
    )
    .await;
    registry.pipeline_stopped();
    if let Some(ui) = ui {
        ui.shutdown().await;
    }
    control.shutdown().await;
    result
}

//! The process-wide engine: configuration, linking, and loading plugins.
//!
//! One [`PluginEngine`] per process holds the wasmtime `Engine` (pooling
//! allocator, epoch interruption, optional fuel), a `Linker` that defines
//! only the sandboxed WASI interfaces (see [`super::sandbox`]), the compile
//! cache, and the thread that advances the epoch for time limits.
//!
//! Loading a plugin checks, in order: the file's size, that it is a valid
//! component, that it imports nothing outside the sandbox, that it exports
//! the stream's operator interface, and that it instantiates and initialises
//! within its limits.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::cache::CompileCache;
use super::capture::CapturedOutput;
use super::compile::{CompileIsolation, compiler_config};
use super::costs::{CallCost, CostBook};
use super::error::{LoadError, LoadFailure};
use super::http_grant::HttpGrant;
use super::instance::{ExportIndices, Plugin};
use super::limits::{EPOCH_TICK, Limiter, Limits};
use super::logs::PluginLogs;
use super::{OperatorKind, Param};

/// Linear memory kept resident per pooling slot between instances: a
/// guest's working set on a default partition (4 MiB of text in, its
/// output columns and allocator growth: about 30 MiB for a word split)
/// is reset in place instead of being unmapped and faulted in again by
/// the next instance (measured: half the page faults on a 200 MB
/// backlog, 0.3 s of kernel time less).
const KEEP_RESIDENT_BYTES: usize = 64 << 20;

/// What every store carries: the WASI context and the limiter.
pub struct GuestState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// What the plugin's clocks read: the batch time, since the Unix epoch.
    pub(crate) clock: Duration,
    /// Enforces and records memory and table limits.
    pub limiter: Limiter,
    /// The plugin's stderr, kept up to a bound ([`super::capture`]) and
    /// attached to its errors and its logs.
    pub stderr: CapturedOutput,
    /// The plugin's stdout, kept as its stderr, for its logs.
    pub stdout: CapturedOutput,
    /// `wasi:http`'s context (only sinks are linked with it).
    http_ctx: WasiHttpCtx,
    /// What a sink may reach over HTTP; nothing for an operator.
    pub(crate) http: HttpGrant,
    /// What the call's guest is told and declared through `text-hints`.
    pub(crate) text_hints: super::text_hints::TextHints,
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The engine every plugin of the process is compiled and run with.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<GuestState>,
    /// The operators' sandbox plus `wasi:http`, for sink plugins (called
    /// asynchronously, so a request never blocks a thread).
    sink_linker: Linker<GuestState>,
    cache: Option<CompileCache>,
    ticker_stop: Arc<AtomicBool>,
    settings: EngineSettings,
    /// What plugins printed in the last batches.
    logs: Arc<PluginLogs>,
    /// What the calls under way cost.
    costs: CostBook,
}

/// Settings that are fixed for the engine's lifetime.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EngineSettings {
    /// Where compiled plugins are cached; `None` disables the cache.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The largest memory limit of any stream (sizes the pooling slots).
    pub max_memory_mib: u32,
    /// The WebAssembly stack limit (engine-wide).
    pub stack_kib: u32,
    /// How many instances may exist at once (calls run in parallel).
    pub max_instances: u32,
    /// Meter fuel (needed when any stream has a `fuel` limit).
    pub fuel: bool,
    /// Where components are compiled (the CLI: in a child process, with
    /// the compile limits).
    pub compile: CompileIsolation,
    /// Run without the call-time and memory limits. Only for measuring what
    /// the limits cost (the benchmark); never for untrusted plugins.
    #[doc(hidden)]
    pub unlimited_for_benchmarks: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let limits = Limits::default();
        EngineSettings {
            cache_dir: Some(CompileCache::default_root()),
            max_memory_mib: limits.memory_mib,
            stack_kib: limits.stack_kib,
            max_instances: 64,
            fuel: false,
            compile: CompileIsolation::InProcess,
            unlimited_for_benchmarks: false,
        }
    }
}

impl PluginEngine {
    /// Creates the engine.
    ///
    /// # Errors
    ///
    /// When wasmtime rejects the configuration (e.g. the machine cannot
    /// reserve the pooling allocator's address space).
    pub fn new(settings: &EngineSettings) -> anyhow::Result<Self> {
        let mut config = compiler_config(settings);
        let mut pooling = PoolingAllocationConfig::default();
        let instances = settings.max_instances.max(4);
        pooling
            .total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .max_memory_size(settings.max_memory_mib as usize * 1024 * 1024)
            // Reset the first pages of a slot with memset instead of
            // madvise, so the next instance does not fault them in again.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            // Where the kernel can tell (Linux 6.7+), reset only the pages
            // the instance touched, and leave untouched ones unmapped.
            .pagemap_scan(Enabled::Auto)
            .table_keep_resident(64 * 1024)
            // Sink calls run on fibers, one stack each.
            .total_stacks(instances);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        super::sandbox::add_to_linker(&mut linker)?;
        super::text_hints::add_to_linker(&mut linker)?;
        let mut sink_linker = Linker::new(&engine);
        super::sandbox::add_to_sink_linker(&mut sink_linker)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        let cache = settings
            .cache_dir
            .as_deref()
            .map(|root| CompileCache::new(root, &engine));
        Ok(PluginEngine {
            engine,
            linker,
            sink_linker,
            cache,
            ticker_stop,
            logs: Arc::new(PluginLogs::new()),
            costs: CostBook::default(),
            settings: settings.clone(),
        })
    }

    /// Loads the plugin at `path`: reads and hashes it, compiles it (or takes
    /// it from the cache), checks its imports against the sandbox and that it
    /// implements `expected` (if given), links it, and runs `describe` and
    /// `init(params)` once in a fresh instance so that a plugin that cannot
    /// start never reaches a batch.
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming the file, its hash and the reason.
    pub fn load(
        &self,
        path: &Path,
        expected: Option<OperatorKind>,
        params: Vec<Param>,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let compiled = self.compile_file(path, &limits)?;
        self.load_compiled(path, &compiled, expected, params, limits)
    }

    /// [`PluginEngine::load`] for a component already compiled with
    /// [`PluginEngine::compile_file`].
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming the file, its hash and the reason.
    pub fn load_compiled(
        &self,
        path: &Path,
        compiled: &Compiled,
        expected: Option<OperatorKind>,
        params: Vec<Param>,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let fail = |reason| compiled.error(path, reason);
        let sink = super::sink_plugin::sink_interface();
        if compiled.component.get_export_index(None, sink).is_some() {
            return Err(fail(LoadFailure::SinkAsOperator));
        }
        let forbidden = super::sandbox::check_imports(compiled.imports.iter().map(String::as_str));
        if !forbidden.is_empty() {
            return Err(fail(LoadFailure::ForbiddenImports(forbidden)));
        }
        let kind = operator_kind(&self.engine, &compiled.component).map_err(fail)?;
        if let Some(expected) = expected.filter(|&e| e != kind) {
            return Err(fail(LoadFailure::WrongOperator {
                expected,
                found: kind,
            }));
        }
        let pre = self
            .linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| fail(LoadFailure::Link(format!("{e:#}"))))?;
        let exports = ExportIndices::new(&compiled.component, kind).map_err(fail)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let identity = super::instance::Identity {
            name,
            hash: compiled.hash.clone(),
            kind,
            imports: compiled.imports.clone(),
        };
        Plugin::start(self, identity, pre, exports, params, limits).map_err(fail)
    }

    /// Reads (a regular file only, at most `limits.binary_mib`), hashes and
    /// compiles the component at `path`.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is no regular file, is over
    /// `limits.binary_mib`, is not a valid component, or its compile goes
    /// over `compile_time` or `compile_memory_mib`.
    pub fn compile_file(&self, path: &Path, limits: &Limits) -> Result<Compiled, LoadError> {
        let bytes =
            crate::regular_file::read_bounded(path, limits.binary_bytes()).map_err(|e| {
                LoadError {
                    path: path.to_path_buf(),
                    hash: None,
                    reason: LoadFailure::from_file_error(e, limits.binary_mib),
                }
            })?;
        self.compile_bytes(path, &bytes, limits)
    }

    /// Size-checks, hashes and compiles a component's `bytes`; `path` names
    /// it in errors and gives the plugin its name.
    ///
    /// # Errors
    ///
    /// When the bytes are over `limits.binary_mib` or not a valid component.
    pub fn compile_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Compiled, LoadError> {
        let fail = |hash: Option<String>, reason| LoadError {
            path: path.to_path_buf(),
            hash,
            reason,
        };
        if bytes.len() as u64 > limits.binary_bytes() {
            return Err(fail(
                None,
                LoadFailure::TooLarge {
                    size: bytes.len() as u64,
                    limit_mib: limits.binary_mib,
                },
            ));
        }
        let hash = hex::encode(Sha256::digest(bytes));
        let component = self
            .compile(bytes, &hash, limits)
            .map_err(|e| fail(Some(hash.clone()), e))?;
        let mut imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        imports.sort();
        Ok(Compiled {
            hash,
            size: bytes.len() as u64,
            component,
            imports,
        })
    }

    fn compile(&self, bytes: &[u8], hash: &str, limits: &Limits) -> Result<Component, LoadFailure> {
        if let Some(component) = self.cache.as_ref().and_then(|c| c.load(&self.engine, hash)) {
            tracing::debug!(sha256 = hash, "compiled plugin taken from the cache");
            return Ok(component);
        }
        let started = std::time::Instant::now();
        if bytes.starts_with(b"\0asm\x01\0\0\0") {
            return Err(LoadFailure::CoreModule);
        }
        // A span for as long as it compiles: the CLI shows it as a progress
        // line on a terminal; logs get this plain line, then the one below.
        let size_mib = format!("{:.1}", bytes.len() as f64 / f64::from(1 << 20));
        let _compiling = tracing::info_span!(
            PROGRESS_COMPILING,
            sha256 = &hash[..hash.len().min(12)],
            %size_mib
        )
        .entered();
        tracing::info!(sha256 = hash, %size_mib, "compiling plugin (not in the cache yet: a large one takes seconds)");
        let refused = |e: wasmtime::Error| self.compile_refusal(format!("{e:#}"));
        match &self.settings.compile {
            CompileIsolation::InProcess => {
                let component = Component::from_binary(&self.engine, bytes).map_err(refused)?;
                tracing::info!(sha256 = hash, elapsed = ?started.elapsed(), "compiled plugin");
                if let Some(cache) = &self.cache {
                    cache.store(hash, &component);
                }
                Ok(component)
            }
            CompileIsolation::ChildProcess(program) => {
                let work_dir = match &self.cache {
                    Some(cache) => cache.work_dir(),
                    None => Ok(std::env::temp_dir()),
                }
                .map_err(|e| {
                    LoadFailure::CompileFailed(format!("cannot create the compile cache: {e}"))
                })?;
                let artifact =
                    super::compile::in_child(program, &self.settings, bytes, limits, &work_dir)?;
                // SAFETY: the artifact was written by this binary's compile
                // child, with this engine's compiler settings, into a fresh
                // owner-only directory; it is trusted as the cache is (see
                // `cache`'s module docs).
                let component =
                    unsafe { Component::deserialize_file(&self.engine, &artifact.path) }
                        .map_err(refused)?;
                tracing::info!(
                    sha256 = hash,
                    elapsed = ?started.elapsed(),
                    peak_rss_mib = artifact.peak_rss_kib / 1024,
                    "compiled plugin (in a child process)"
                );
                if let Some(cache) = &self.cache {
                    cache.adopt(hash, &artifact.path);
                }
                Ok(component)
            }
        }
    }

    /// The load failure for wasmtime's refusal `detail` of a component.
    fn compile_refusal(&self, detail: String) -> LoadFailure {
        // wasmtime's pooling allocator refuses a module whose initial
        // memory is over the slot size, in these words; pinned by the e2e
        // test `refused_plugins_are_refused_at_load_with_the_reason` (the
        // `huge-memory` guest).
        if detail.contains("memory has a minimum byte size") {
            LoadFailure::InitialMemory {
                limit_mib: self.settings.max_memory_mib,
                detail,
            }
        } else {
            LoadFailure::InvalidComponent(detail)
        }
    }

    /// A fresh store for one call, with `limits` armed and the clocks
    /// reading `clock`.
    pub(crate) fn new_store(&self, limits: &Limits, clock: Duration) -> Store<GuestState> {
        let stderr = CapturedOutput::new();
        let stdout = CapturedOutput::new();
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .stdout(stdout.clone())
            .secure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM.to_vec()))
            .insecure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM.to_vec()))
            .insecure_random_seed(0x5eed)
            // Sinks are linked with `wasi:sockets` (interpreters import it);
            // no socket may be made, no address used, no name looked up.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            GuestState {
                wasi,
                table: ResourceTable::new(),
                clock,
                limiter: Limiter::new(limits),
                stderr,
                stdout,
                http_ctx: WasiHttpCtx::new(),
                http: HttpGrant::nothing(),
                text_hints: Default::default(),
            },
        );
        if !self.settings.unlimited_for_benchmarks {
            store.limiter(|state| &mut state.limiter);
            store.set_epoch_deadline(limits.deadline_ticks());
        }
        store.set_hostcall_fuel(limits.output_bytes());
        if self.settings.fuel {
            // Setting fuel only fails when metering is off.
            let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        store
    }

    /// The linker of sink plugins (see [`super::sink_plugin`]).
    pub(crate) fn sink_linker(&self) -> &Linker<GuestState> {
        &self.sink_linker
    }

    /// What plugins printed in the last batches (`sluice logs`).
    pub fn logs(&self) -> &Arc<PluginLogs> {
        &self.logs
    }

    /// Keeps what the call at `site`, run in `store` under `limits`,
    /// printed and cost.
    pub(crate) fn record_call(
        &self,
        site: &super::error::CallSite,
        store: &Store<GuestState>,
        limits: &Limits,
        failed: bool,
    ) {
        let state = store.data();
        self.logs.record(site, "stdout", &state.stdout.captured());
        self.logs.record(site, "stderr", &state.stderr.captured());
        let fuel = if self.settings.fuel {
            store
                .get_fuel()
                .ok()
                .map(|left| limits.fuel.unwrap_or(u64::MAX).saturating_sub(left))
        } else {
            None
        };
        self.costs.record(
            site,
            CallCost {
                failed,
                memory_peak: state.limiter.memory_peak() as u64,
                fuel,
            },
        );
    }

    /// Keeps the error the operator at `site` returned with what it printed
    /// (as output `error`).
    pub(crate) fn record_error(&self, site: &super::error::CallSite, message: &str) {
        let mut text = message.to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.logs.record(
            site,
            "error",
            &super::capture::Captured { text, dropped: 0 },
        );
    }

    /// What the calls under way cost (the web UI's batch detail).
    pub fn costs(&self) -> &CostBook {
        &self.costs
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The span a plugin's compilation runs in (shown as a progress line by
/// the CLI).
pub const PROGRESS_COMPILING: &str = "compiling plugin";

/// A compiled component and what identifies it.
pub struct Compiled {
    /// The file's sha256, in hex.
    pub hash: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The compiled component.
    pub component: Component,
    /// Its imports, sorted.
    pub imports: Vec<String>,
}

impl Compiled {
    /// A load error about this component.
    pub fn error(&self, path: &Path, reason: LoadFailure) -> LoadError {
        LoadError {
            path: path.to_path_buf(),
            hash: Some(self.hash.clone()),
            reason,
        }
    }
}

/// Random bytes handed to plugins: fixed, so a replayed batch gives the same
/// output.
const FIXED_RANDOM: [u8; 16] = [
    0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15, 0xf3, 0x9c, 0xc0, 0x60, 0x5c, 0xed, 0xc8, 0x34,
];

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch thread: time limits are not enforced");
    }
}

/// Which operator interface `component` exports (exactly one is allowed).
pub(crate) fn operator_kind(
    engine: &Engine,
    component: &Component,
) -> Result<OperatorKind, LoadFailure> {
    let ty = component.component_type();
    let found: Vec<OperatorKind> = ty
        .exports(engine)
        .filter_map(|(name, _)| {
            OperatorKind::ALL
                .into_iter()
                .find(|k| k.interface() == name)
        })
        .collect();
    match found.as_slice() {
        [] => Err(LoadFailure::NoOperator),
        [kind] => Ok(*kind),
        several => Err(LoadFailure::SeveralOperators(
            several
                .iter()
                .map(|k| k.interface())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

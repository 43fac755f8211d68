//! Compiling a component with bounds: in a child process of the `sluice`
//! binary, under an address-space limit (`compile_memory_mib`) and a
//! wall-clock limit (`compile_time`).
//!
//! Cranelift's time and memory grow with what a component contains, not
//! with its size: a few functions of deeply nested blocks take gigabytes and
//! tens of seconds, and functions compile in parallel, so more cores means
//! more memory. Nothing inside one process can stop that safely, so the
//! compile runs in a child that limits its own address space
//! (`RLIMIT_AS`) before it reads the component, and that the parent kills
//! when the time is up. The child writes the serialized artifact next to the
//! compile cache; the parent loads it (checking it against its own engine,
//! which also applies the pooling allocator's checks) and moves it into the
//! cache, so a cached plugin never pays for a child.
//!
//! The child's engine is the parent's configuration with the on-demand
//! allocator: the allocation strategy is no part of an artifact's
//! compatibility (wasmtime checks compiler flags, tunables and features).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine};

use super::engine::EngineSettings;
use super::error::LoadFailure;
use super::limits::Limits;

/// The hidden subcommand of the `sluice` binary that compiles one component
/// (see [`child_main`]).
pub const CHILD_COMMAND: &str = "__compile-plugin";

/// How often the parent looks whether the child has finished.
const POLL: Duration = Duration::from_millis(5);

/// How much of the child's stderr is kept for an error message.
const CHILD_STDERR_BYTES: u64 = 4096;

/// Where components are compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompileIsolation {
    /// In this process, without `compile_time` and `compile_memory_mib`: for
    /// embedding the library and testing it, with trusted components only.
    #[default]
    InProcess,
    /// In a child process running `PROGRAM __compile-plugin` (the `sluice`
    /// binary), with both compile limits. What the CLI uses.
    ChildProcess(PathBuf),
}

/// The compiler settings every engine of the process shares; the parent adds
/// the pooling allocator, the child keeps the on-demand one.
pub(crate) fn compiler_config(settings: &EngineSettings) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(!settings.unlimited_for_benchmarks);
    config.consume_fuel(settings.fuel);
    config.max_wasm_stack(settings.stack_kib as usize * 1024);
    // `SLUICE_PERF_MAP=1`: wasmtime writes `/tmp/perf-<pid>.map`, so `perf
    // report` names each plugin's functions instead of raw addresses (the
    // compiled code is the same; the cache stays valid).
    if std::env::var_os("SLUICE_PERF_MAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// What the parent asks of the child (one JSON argument).
#[derive(Serialize, Deserialize)]
struct ChildRequest {
    engine: EngineSettings,
    memory_mib: u32,
    input: PathBuf,
    output: PathBuf,
    outcome: PathBuf,
}

/// What the child reports (a JSON file).
#[derive(Serialize, Deserialize)]
enum ChildOutcome {
    /// The artifact is in the output file.
    Compiled {
        /// The child's peak resident memory.
        peak_rss_kib: u64,
    },
    /// wasmtime refused the component.
    Refused(String),
    /// An allocation failed under the address-space limit.
    OutOfMemory(String),
}

/// A component compiled by a child: the artifact's path, in a directory that
/// is removed when this is dropped.
pub(crate) struct ChildArtifact {
    _dir: tempfile::TempDir,
    /// The serialized component.
    pub path: PathBuf,
    /// The child's peak resident memory.
    pub peak_rss_kib: u64,
}

/// Compiles `bytes` in a child process running `program`, within
/// `limits.compile_time` and `limits.compile_memory_mib`; its files go in a
/// fresh directory under `work_dir`.
pub(crate) fn in_child(
    program: &Path,
    settings: &EngineSettings,
    bytes: &[u8],
    limits: &Limits,
    work_dir: &Path,
) -> Result<ChildArtifact, LoadFailure> {
    let io = |what: &str, e: std::io::Error| {
        LoadFailure::CompileFailed(format!(
            "{what} in {}: {e}; check that the directory is writable and has space",
            work_dir.display()
        ))
    };
    let dir = tempfile::Builder::new()
        .prefix(".compile-")
        .tempdir_in(work_dir)
        .map_err(|e| io("cannot create a compile directory", e))?;
    let request = ChildRequest {
        engine: settings.clone(),
        memory_mib: limits.compile_memory_mib,
        input: dir.path().join("component.wasm"),
        output: dir.path().join("component.cwasm"),
        outcome: dir.path().join("outcome.json"),
    };
    std::fs::write(&request.input, bytes).map_err(|e| io("cannot write the component", e))?;
    let stderr_path = dir.path().join("stderr");
    let stderr =
        std::fs::File::create(&stderr_path).map_err(|e| io("cannot create a log file", e))?;
    let request_json = serde_json::to_string(&request)
        .map_err(|e| LoadFailure::CompileFailed(format!("cannot encode the request: {e}")))?;
    let mut child = Command::new(program)
        .arg(CHILD_COMMAND)
        .arg(request_json)
        // glibc reserves 64 MiB of address space per malloc arena, up to
        // eight per core: keep that from counting against the limit.
        .env("MALLOC_ARENA_MAX", "2")
        .env("SLUICE_LOG", "error")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| {
            LoadFailure::CompileFailed(format!(
                "cannot start the compiler process {}: {e}",
                program.display()
            ))
        })?;
    let deadline = Instant::now() + limits.compile_time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Killing fails only when it has just exited; either way it
                // is gone after `wait`.
                let _ = child.kill();
                let _ = child.wait();
                return Err(LoadFailure::CompileTime(limits.compile_time));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                return Err(LoadFailure::CompileFailed(format!(
                    "cannot wait for the compiler process: {e}"
                )));
            }
        }
    };
    let outcome = std::fs::read(&request.outcome)
        .ok()
        .and_then(|json| serde_json::from_slice::<ChildOutcome>(&json).ok());
    match outcome {
        Some(ChildOutcome::Compiled { peak_rss_kib }) if status.success() => Ok(ChildArtifact {
            path: request.output,
            peak_rss_kib,
            _dir: dir,
        }),
        Some(ChildOutcome::Refused(detail)) => Err(LoadFailure::InvalidComponent(detail)),
        Some(ChildOutcome::OutOfMemory(detail)) => Err(LoadFailure::CompileMemory {
            limit_mib: limits.compile_memory_mib,
            detail,
        }),
        _ => {
            let stderr = read_head(&stderr_path);
            if mentions_memory(&stderr) {
                // The allocator's own words, without what follows them.
                let detail = stderr.lines().next().unwrap_or_default().to_owned();
                Err(LoadFailure::CompileMemory {
                    limit_mib: limits.compile_memory_mib,
                    detail,
                })
            } else {
                Err(LoadFailure::CompileFailed(format!(
                    "the compiler process ended with {status} without a result{}",
                    if stderr.is_empty() {
                        String::new()
                    } else {
                        format!(": {stderr}")
                    }
                )))
            }
        }
    }
}

/// The start of a small log file, as text.
fn read_head(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(CHILD_STDERR_BYTES).read_to_string(&mut text);
    }
    text.trim().to_owned()
}

/// Whether an error text says an allocation failed.
fn mentions_memory(text: &str) -> bool {
    [
        "memory allocation of",
        "Cannot allocate memory",
        "out of memory",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The child: limits its own address space, compiles the component named by
/// the JSON request `request`, writes the artifact and its outcome. Returns
/// the process's exit status (0 when an outcome was written).
pub fn child_main(request: &str) -> i32 {
    let request: ChildRequest = match serde_json::from_str(request) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("{CHILD_COMMAND}: bad request ({e}); this command is run by sluice itself");
            return 2;
        }
    };
    if let Err(e) = limit_self(request.memory_mib) {
        eprintln!("{CHILD_COMMAND}: cannot limit the compiler's memory: {e}");
        return 3;
    }
    let outcome = compile_request(&request);
    let written = serde_json::to_vec(&outcome)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&request.outcome, json));
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{CHILD_COMMAND}: cannot write the outcome: {e}");
            3
        }
    }
}

fn compile_request(request: &ChildRequest) -> ChildOutcome {
    let classify = |detail: String| {
        if mentions_memory(&detail) {
            ChildOutcome::OutOfMemory(detail)
        } else {
            ChildOutcome::Refused(detail)
        }
    };
    let engine = match Engine::new(&compiler_config(&request.engine)) {
        Ok(engine) => engine,
        Err(e) => return classify(format!("cannot start the compiler: {e:#}")),
    };
    let bytes = match std::fs::read(&request.input) {
        Ok(bytes) => bytes,
        Err(e) => return classify(format!("cannot read the component: {e}")),
    };
    // `Component::from_binary`, not `precompile_component`: the latter also
    // takes the text format, and its errors should read as in-process ones.
    let artifact = match wasmtime::component::Component::from_binary(&engine, &bytes)
        .and_then(|component| component.serialize())
    {
        Ok(artifact) => artifact,
        Err(e) => return classify(format!("{e:#}")),
    };
    drop(bytes);
    if let Err(e) = std::fs::write(&request.output, &artifact) {
        return classify(format!("cannot write the compiled component: {e}"));
    }
    ChildOutcome::Compiled {
        peak_rss_kib: peak_rss_kib().unwrap_or(0),
    }
}

/// Caps this process's address space at `memory_mib` and turns off core
/// dumps; asks to be killed if the parent dies.
fn limit_self(memory_mib: u32) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let bytes = u64::from(memory_mib) * 1024 * 1024;
    let cap = |limit: u64| Rlimit {
        current: Some(limit),
        maximum: Some(limit),
    };
    setrlimit(Resource::As, cap(bytes))?;
    setrlimit(Resource::Core, cap(0))?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    Ok(())
}

/// `VmHWM` of this process, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

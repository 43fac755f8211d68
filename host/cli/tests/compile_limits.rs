//! Compiling a plugin is bounded: a component made to be costly to compile
//! is refused with the limit it hit, and no process of the run grows past
//! `compile_memory_mib` plus a stated overhead. Its own test binary: the
//! peak is read with `getrusage(RUSAGE_CHILDREN)`, the largest peak of any
//! process this one waited for (`sluice` and, through it, its compile
//! child), which no other test may disturb.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sluice_test_fixtures::{self as fixtures, PipelineFile};

/// What a process needs besides the compile's own memory: the `sluice`
/// binary (debug build) and its allocator, the engine, the component read.
const OVERHEAD_MIB: i64 = 96;

fn check(dir: &Path, op: &str, plugin: &Path, limits: &str) -> Output {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let pipeline = PipelineFile::new("1s")
        .table("limits", limits)
        .files_source("lines", "in", "")
        .stream("words", "lines", op, plugin, "")
        .pprint("out", "words")
        .write(dir.join("p.toml"));
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", pipeline.to_str().unwrap(), "--no-cache"])
        .env("SLUICE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(101), "sluice panicked");
    output
}

/// The largest peak resident memory of any waited-for child, in MiB.
fn children_peak_mib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`.
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(status, 0);
    // SAFETY: getrusage filled it.
    let usage = unsafe { usage.assume_init() };
    usage.ru_maxrss / 1024
}

fn costly(dir: &Path) -> PathBuf {
    let path = dir.join("costly.wasm");
    // 8 MB that need more than 2 GiB to compile, at about 1 GiB a second.
    fixtures::costly_component(&path, 4, 1_000_000);
    path
}

#[test]
fn a_component_costly_to_compile_is_refused_within_the_compile_limits() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = costly(dir.path());
    let output = check(dir.path(), "map", &plugin, "compile_memory_mib = 256");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("plugin {} (sha256 ", plugin.display()))
            && stderr.contains(
                "compiling it needed more than 256 MiB of memory (limit `compile_memory_mib`); a component this costly to compile is refused, raise the limit only for a plugin you trust"
            ),
        "{stderr}"
    );
    let peak = children_peak_mib();
    assert!(
        peak < 256 + OVERHEAD_MIB,
        "a process of the run peaked at {peak} MiB"
    );

    let output = check(
        dir.path(),
        "map",
        &plugin,
        "compile_memory_mib = 65536\ncompile_time = \"300ms\"",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "compiling it took longer than 300ms (limit `compile_time`); a component this slow to compile is refused, raise the limit only for a plugin you trust"
        ),
        "{stderr}"
    );
}

#[test]
fn a_plugin_compiled_in_the_child_runs_as_one_compiled_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let output = check(dir.path(), "flat_map", Path::new(fixtures::SPLIT_WORDS), "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("stream words: flat_map split_words"),
        "{stdout}"
    );
}

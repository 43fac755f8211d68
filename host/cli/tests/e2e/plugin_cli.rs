//! `sluice plugin inspect`, the compile cache and signals.

use std::time::Duration;

use super::common::*;
use sluice_test_fixtures as fixtures;

#[test]
fn inspect_prints_kind_world_types_and_imports() {
    let stdout = stdout_of(&run(&["plugin", "inspect", fixtures::WORD_PAIR]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "plugin:    word_pair");
    assert!(
        lines[2].starts_with("sha256:    ") && lines[2].len() == 11 + 64,
        "{stdout}"
    );
    assert_eq!(lines[4], "operator:  map");
    assert_eq!(lines[5], "world:     sluice:operator/map-operator@0.3.0");
    assert_eq!(lines[6], "takes:     text");
    assert_eq!(lines[7], "gives:     (text, int64)");
    assert!(lines[8].starts_with("imports:   "), "{stdout}");
    assert!(stdout.contains("\n  wasi:cli/stderr@0.2"), "{stdout}");
    assert!(stdout.ends_with("verdict:   allowed\n"), "{stdout}");
    let sum = stdout_of(&run(&["plugin", "inspect", fixtures::SUM]));
    assert!(sum.contains("operator:  reduce_by_key\n"), "{sum}");
    assert!(sum.contains("takes:     (any key, int64)\n"), "{sum}");
}

#[test]
fn compiled_plugins_are_cached_by_content_hash() {
    let cache = tempfile::tempdir().unwrap();
    let inspect = || {
        sluice(&[
            "plugin",
            "inspect",
            fixtures::MIN_LENGTH,
            "--cache-dir",
            cache.path().to_str().unwrap(),
        ])
        .env("SLUICE_LOG", "sluice=debug")
        .output()
        .unwrap()
    };
    let first = inspect();
    let first_log = String::from_utf8_lossy(&first.stderr);
    assert!(first_log.contains("compiled plugin"), "{first_log}");
    assert!(!first_log.contains("taken from the cache"), "{first_log}");
    let second = inspect();
    let second_log = String::from_utf8_lossy(&second.stderr);
    assert!(
        second_log.contains("compiled plugin taken from the cache"),
        "{second_log}"
    );
    let artifacts: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
}

#[test]
fn inspect_refuses_garbage_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    // A component header followed by nonsense.
    std::fs::write(&garbage, b"\0asm\x0d\0\x01\0 truncated nonsense").unwrap();
    let output = run(&["plugin", "inspect", garbage.to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = stderr_of_failure(&output);
    assert!(stdout.contains("sha256:    "), "{stdout}");
    assert!(
        stdout.contains("verdict:   refused (invalid_component): the plugin is not a valid WebAssembly component: "),
        "{stdout}"
    );
    assert!(stderr.contains("garbage.wasm is refused"), "{stderr}");
}

#[test]
fn sigterm_finishes_the_current_batch_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "", "");
    let child = sluice(&["run", pipeline.to_str().unwrap()])
        .spawn()
        .unwrap();
    wait_until_running(dir.path());
    std::thread::sleep(Duration::from_millis(500));
    send_signal(&child, "TERM");
    let output = wait(child, Duration::from_secs(30));
    stdout_of(&output);
    // Every batch that started was committed: no staging directory is
    // left, and every batch directory is complete.
    let batches: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!batches.is_empty());
    for batch in &batches {
        let name = batch.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with("counts-"), "left behind: {name}");
        assert!(batch.join("_SUCCESS").exists(), "{name} is incomplete");
    }
}

/// Compiling a plugin shows as a progress line on a terminal (a spinner
/// per wait, the logs above it), and as plain start and end lines in logs.
#[test]
fn long_waits_show_progress_on_a_terminal_and_plain_lines_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let path = PipelineFile::new("1s")
        .files_source("lines", "in", "")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .pprint("out", "words")
        .write(dir.path().join("p.toml"));
    let check = format!(
        "{} check {} --no-cache",
        env!("CARGO_BIN_EXE_sluice"),
        path.display()
    );

    // Plain lines, no terminal control codes.
    let output = std::process::Command::new("sh")
        .args(["-c", &check])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("compiling plugin (not in the cache yet: a large one takes seconds)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("compiled plugin (in a child process)"),
        "{stderr}"
    );
    assert!(!stderr.contains("\x1b["), "{stderr}");

    // On a terminal (util-linux `script` gives it one): the spinners.
    let output = std::process::Command::new("script")
        .args(["-qec", &check, "/dev/null"])
        .output()
        .expect("util-linux `script` runs the command on a terminal");
    assert!(output.status.success(), "{output:?}");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(screen.contains(" loading pipeline{file="), "{screen}");
    assert!(screen.contains(" compiling plugin{sha256="), "{screen}");
    assert!(screen.contains("\x1b[2K"), "{screen}");
    assert!(
        screen.contains(": ok (1 sources, 1 streams, 1 sinks"),
        "{screen}"
    );
}

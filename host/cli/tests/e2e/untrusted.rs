//! Untrusted plugins: hostile guests built from source fail only their own
//! partition batch with the right error, load-time refusals name their
//! reason, and the `on_error` policies do what they say.

use std::path::Path;
use std::time::{Duration, Instant};

use super::common::*;
use sluice_test_fixtures as fixtures;

/// Ten records of equal size: with two partitions, records 0–4 go to
/// partition 0 and 5–9 to partition 1.
const RECORDS: [&str; 10] = [
    "rec-00", "rec-01", "rec-02", "rec-03", "rec-04", "rec-05", "rec-06", "rec-07", "rec-08",
    "rec-09",
];

/// A pipeline with two streams over the same lines: `hostile` (the hostile
/// guest, misbehaving on `rec-02` as `mode` says, with `hostile_extra`
/// settings) and `words` (split-words, which must be unaffected).
fn two_stream_pipeline(dir: &Path, params: &str, hostile_extra: &str) -> String {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.txt"), RECORDS.join("\n") + "\n").unwrap();
    let text = format!(
        r#"batch_interval = "200ms"
partitions = 2

[sources.lines]
kind = "files"
path = "in"
include_existing = true

[streams.hostile]
from = "lines"
op = "flat_map"
plugin = {hostile}
params = {{ trigger = "rec-02", {params} }}
{hostile_extra}

[streams.words]
from = "lines"
op = "flat_map"
plugin = {split}

[sinks.hostile_out]
from = "hostile"
kind = "text_files"
prefix = "out/hostile"

[sinks.words_out]
from = "words"
kind = "text_files"
prefix = "out/words"
"#,
        hostile = toml_path(fixtures::HOSTILE),
        split = toml_path(fixtures::SPLIT_WORDS),
    );
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn quoted(records: &[&str]) -> Vec<String> {
    records.iter().map(|r| format!("'{r}'")).collect()
}

#[test]
fn each_hostile_guest_fails_only_its_own_partition_with_the_right_error() {
    // (mode params, stream settings, error kind, message)
    let cases: [(&str, &str, &str, &str); 12] = [
        (
            r#"mode = "loop""#,
            r#"limits = { call_time = "300ms" }"#,
            "timeout",
            "timed out after 300ms (limit `call_time`)",
        ),
        (
            r#"mode = "loop""#,
            "limits = { fuel = 5000000 }",
            "fuel",
            "ran out of fuel after 5000000 instructions (limit `fuel`)",
        ),
        (
            r#"mode = "grow""#,
            "limits = { memory_mib = 64 }",
            "memory",
            "exceeded its memory limit of 64 MiB (limit `memory_mib`)",
        ),
        (
            r#"mode = "vec""#,
            "limits = { memory_mib = 64 }",
            "memory",
            "exceeded its memory limit of 64 MiB (limit `memory_mib`); raise the limit or use smaller batches\nplugin stderr:\nmemory allocation of 1048576 bytes failed",
        ),
        (
            r#"mode = "recurse""#,
            "",
            "stack_overflow",
            "overflowed its stack of 512 KiB (limit `stack_kib`); likely unbounded recursion",
        ),
        (
            r#"mode = "panic""#,
            "",
            "trap",
            "trapped: wasm trap: wasm `unreachable` instruction executed\nplugin stderr:\n\nthread '<unnamed>' (1) panicked at tests/guests/hostile/src/lib.rs",
        ),
        (
            r#"mode = "exit""#,
            "",
            "trap",
            "trapped: the plugin called exit(1)",
        ),
        (
            r#"mode = "big", bytes = 2097152"#,
            "limits = { output_mib = 1 }",
            "output_too_large",
            "returned more than 1 MiB (limit `output_mib`)",
        ),
        (
            r#"mode = "explode", count = 3000000"#,
            "",
            "output_too_large",
            "gave 3000004 records for 5 inputs, over 100000 per input (limit `output_records_per_input`)",
        ),
        (
            r#"mode = "bad-utf8""#,
            "",
            "invalid_output",
            "returned invalid output: the value column is not valid UTF-8",
        ),
        (
            r#"mode = "bad-offsets""#,
            "",
            "invalid_output",
            "returned invalid output: the value column's offsets are malformed",
        ),
        (
            r#"mode = "ragged-offsets""#,
            "",
            "invalid_output",
            "returned invalid output: a u32-list of 6 bytes: its length must be a multiple of 4",
        ),
    ];
    for (params, extra, kind, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let pipeline =
            two_stream_pipeline(dir.path(), params, &format!("on_error = \"skip\"\n{extra}"));
        let started = Instant::now();
        let output = run(&["run", &pipeline, "--max-batches", "1"]);
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let context = format!("case {params} / {extra}:\n{stderr}");
        assert!(output.status.success(), "{context}");
        assert!(
            stderr.contains(
                "partition batch skipped (on_error = skip): pipeline `hostile`, stream `hostile`, plugin hostile (sha256 "
            ),
            "{context}"
        );
        assert!(
            stderr.contains(&format!(", partition 0, attempt 1: {message}")),
            "{context}"
        );
        assert!(
            stderr.contains(&format!("error_kind=\"{kind}\"")),
            "{context}"
        );
        assert!(
            stderr.contains("failed_calls=1 retries=0 skipped_partitions=1 skipped_records=5 dead_letter_records=0"),
            "{context}"
        );
        // The other partition of the same stream, and the other stream, are
        // delivered in full.
        assert_eq!(
            sink_lines(dir.path(), "hostile"),
            quoted(&RECORDS[5..]),
            "{context}"
        );
        assert_eq!(
            sink_lines(dir.path(), "words"),
            quoted(&RECORDS),
            "{context}"
        );
        // An infinite loop is stopped within a small multiple of its limit
        // (the whole run, start-up and compiling included, under 10 s).
        assert!(
            elapsed < Duration::from_secs(10),
            "{context}\ntook {elapsed:?}"
        );
    }
}

#[test]
fn time_stands_still_inside_a_call_and_reads_the_batch_time() {
    let dir = tempfile::tempdir().unwrap();
    // The guest sleeps an hour on rec-02: with fixed clocks the sleep
    // returns at once instead of blocking a host thread.
    let pipeline = two_stream_pipeline(dir.path(), r#"mode = "sleep""#, "");
    let output = run(&["run", &pipeline, "--max-batches", "1"]);
    stdout_of(&output);
    assert_eq!(sink_lines(dir.path(), "hostile"), quoted(&RECORDS));

    let dir = tempfile::tempdir().unwrap();
    let pipeline = two_stream_pipeline(dir.path(), r#"mode = "clock""#, "");
    stdout_of(&run(&["run", &pipeline, "--max-batches", "1"]));
    let batch_dir = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("hostile-"))
        .unwrap();
    let batch_ms = batch_dir.trim_start_matches("hostile-");
    let lines = sink_lines(dir.path(), "hostile");
    assert_eq!(
        lines[2],
        format!("'{batch_ms}'"),
        "the wall clock reads the batch time"
    );
}

#[test]
fn a_plugin_that_opens_files_has_no_directory_to_open_them_in() {
    // The file-system interfaces are linked (the preview1 adapter imports
    // them) but with no preopened directory: every open fails.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "do not read").unwrap();
    std::fs::write(
        dir.path().join("in/paths.txt"),
        format!("{}\n/etc/hostname\nsecret.txt\n", secret.display()),
    )
    .unwrap();
    let pipeline = PipelineFile::new("100ms")
        .files_source("lines", "in", "include_existing = true")
        .stream("read", "lines", "map", fixtures::FILE_READER, "")
        .text_files("files", "read", "out/read", "")
        .write(dir.path().join("pipeline.toml"));
    stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--max-batches",
        "1",
    ]));
    // wasi-libc finds no preopened directory holding the path: ENOENT.
    let no_access = |path: &str| format!("'{path}: No such file or directory (os error 44)'");
    assert_eq!(
        sink_lines(dir.path(), "read"),
        vec![
            no_access(secret.to_str().unwrap()),
            no_access("/etc/hostname"),
            no_access("secret.txt"),
        ]
    );
}

#[test]
fn refused_plugins_are_refused_at_load_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(fixtures::SPLIT_WORDS).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let random = dir.path().join("random.wasm");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&random, noise).unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let cases: [(&str, &str, &str); 6] = [
        (
            fixtures::HUGE_MEMORY,
            "map",
            "declares more initial linear memory than the limit of 512 MiB (limit `memory_mib`)",
        ),
        (
            fixtures::NET_CLIENT,
            "map",
            "imports what the sandbox does not give: `wasi:sockets/instance-network@0.2.6`, `wasi:sockets/ip-name-lookup@0.2.6`, `wasi:sockets/network@0.2.6`, `wasi:sockets/tcp-create-socket@0.2.6`, `wasi:sockets/tcp@0.2.6`, `wasi:sockets/udp-create-socket@0.2.6`, `wasi:sockets/udp@0.2.6` (plugins get no network access); rebuild it without that dependency",
        ),
        (
            core.to_str().unwrap(),
            "map",
            "is a core WebAssembly module, not a component; build it for wasm32-wasip2",
        ),
        (
            random.to_str().unwrap(),
            "map",
            "is not a valid WebAssembly component: failed to parse WebAssembly module: magic header not detected",
        ),
        (
            truncated.to_str().unwrap(),
            "flat_map",
            "is not a valid WebAssembly component: failed to parse WebAssembly module",
        ),
        (
            fixtures::SPLIT_WORDS,
            "map",
            "is a `flat_map` operator (world sluice:operator/flat-map-operator@0.3.0), but the stream has `op = \"map\"`",
        ),
    ];
    for (plugin, op, message) in cases {
        let pipeline = PipelineFile::new("1s")
            .files_source("lines", ".", "")
            .stream("s", "lines", op, plugin, "")
            .pprint("out", "s")
            .write(dir.path().join("refused.toml"));
        let stderr = stderr_of_failure(&run(&["check", pipeline.to_str().unwrap()]));
        assert!(
            stderr.contains(&format!("error: plugin {plugin}")),
            "{plugin}: {stderr}"
        );
        assert!(stderr.contains(message), "{plugin}: {stderr}");
    }
}

#[test]
fn an_initial_memory_over_the_stream_limit_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = PipelineFile::new("1s")
        .files_source("lines", ".", "")
        .stream(
            "s",
            "lines",
            "flat_map",
            fixtures::SPLIT_WORDS,
            "limits = { memory_mib = 1 }",
        )
        .pprint("out", "s")
        .write(dir.path().join("small.toml"));
    let stderr = stderr_of_failure(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        stderr.contains("failed while starting (instantiate, describe, init): exceeded its memory limit of 1 MiB (limit `memory_mib`)"),
        "{stderr}"
    );
}

#[test]
fn inspect_prints_the_verdict_and_the_limits() {
    let output = run(&["plugin", "inspect", fixtures::NET_CLIENT]);
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = stderr_of_failure(&output);
    assert!(
        stdout.contains("  wasi:sockets/tcp@0.2.6   REFUSED: plugins get no network access\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verdict:   refused (forbidden_import): the plugin imports what the sandbox does not give: `wasi:sockets/instance-network@0.2.6`, `wasi:sockets/ip-name-lookup@0.2.6`"),
        "{stdout}"
    );
    assert!(
        stderr.contains("is refused (see the verdict above)"),
        "{stderr}"
    );

    let stdout = stdout_of(&run(&["plugin", "inspect", fixtures::HOSTILE]));
    assert!(
        stdout.contains(
            "limits:    (defaults; a pipeline's [limits] and a stream's `limits` override them)\n  \
             call_time                 30s\n  \
             memory_mib                512\n  \
             table_elements            100000\n  \
             instances                 64\n  \
             stack_kib                 512\n  \
             output_mib                256\n  \
             output_records_per_input  100000\n  \
             binary_mib                64\n  \
             compile_time              1m\n  \
             compile_memory_mib        2048\n  \
             fuel                      off\n\
             verdict:   allowed\n"
        ),
        "{stdout}"
    );
}

#[test]
fn dead_letter_isolates_the_one_bad_record_of_ten_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let records: Vec<String> = (0..10_000).map(|i| format!("rec-{i:05}")).collect();
    std::fs::write(input.join("a.txt"), records.join("\n") + "\n").unwrap();
    let pipeline = dir.path().join("isolating.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"batch_interval = "200ms"
partitions = 1

[sources.lines]
kind = "files"
path = "in"
include_existing = true

[streams.hostile]
from = "lines"
op = "flat_map"
plugin = {hostile}
params = {{ mode = "panic", trigger = "rec-04321" }}
on_error = "dead_letter"

[streams.checked]
from = "lines"
op = "map"
plugin = {reject}
params = {{ word = "rec-00007" }}
on_error = "dead_letter"
dead_letter = "rejected"

[sinks.hostile_out]
from = "hostile"
kind = "text_files"
prefix = "out/hostile"

[sinks.checked_out]
from = "checked"
kind = "text_files"
prefix = "out/checked"
"#,
            hostile = toml_path(fixtures::HOSTILE),
            reject = toml_path(fixtures::REJECT_WORD),
        ),
    )
    .unwrap();
    let output = run(&["run", pipeline.to_str().unwrap(), "--max-batches", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");

    // The trapping record, alone, with its error and the panic message.
    let hostile_dir = dir.path().join("dead-letter").join("hostile");
    let files: Vec<_> = std::fs::read_dir(&hostile_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let batch_ms: i64 = files[0]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let letters: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{text}");
    let letter = &letters[0];
    assert_eq!(letter["pipeline"], "isolating");
    assert_eq!(letter["stream"], "hostile");
    assert_eq!(letter["plugin"], "hostile");
    assert_eq!(letter["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(letter["batch_time"], batch_ms);
    assert_eq!(letter["partition"], 0);
    assert_eq!(letter["record_index"], 4321);
    assert_eq!(letter["error_kind"], "trap");
    assert_eq!(
        letter["error"],
        "trapped: wasm trap: wasm `unreachable` instruction executed"
    );
    assert!(
        letter["stderr"]
            .as_str()
            .unwrap()
            .contains("hostile plugin panicked on \"rec-04321\""),
        "{letter}"
    );
    assert_eq!(letter["record"], serde_json::json!({"value": "rec-04321"}));

    // The other 9 999, in order.
    let expected: Vec<String> = records
        .iter()
        .filter(|r| *r != "rec-04321")
        .map(|r| format!("'{r}'"))
        .collect();
    assert_eq!(sink_lines(dir.path(), "hostile"), expected);

    // An operator error that names its record is isolated directly.
    let rejected = std::fs::read_dir(dir.path().join("rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(rejected.len(), 1);
    let letter: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejected[0]).unwrap().trim()).unwrap();
    assert_eq!(letter["error_kind"], "operator_error");
    assert_eq!(
        letter["error"],
        "the operator failed on record 7 of the partition: refusing \"rec-00007\""
    );
    assert_eq!(letter["record"], serde_json::json!({"value": "rec-00007"}));
    let checked = sink_lines(dir.path(), "checked");
    assert_eq!(checked.len(), 9_999);
    assert!(!checked.contains(&"'rec-00007'".to_owned()));
    assert!(
        stderr.contains("stream=hostile failed_calls="),
        "counters are reported: {stderr}"
    );
    assert!(stderr.contains("dead_letter_records=1"), "{stderr}");
}

#[test]
fn retry_retries_timeouts_but_not_deterministic_failures() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = two_stream_pipeline(
        dir.path(),
        r#"mode = "loop""#,
        "on_error = \"retry\"\nretries = 2\nretry_backoff = \"10ms\"\nlimits = { call_time = \"200ms\" }",
    );
    let stderr = stderr_of_failure(&run(&["run", &pipeline, "--max-batches", "1"]));
    assert!(
        stderr.contains(", partition 0, attempt 1: timed out after 200ms (limit `call_time`); raise the limit or make the plugin faster; retrying (on_error = retry, 1 of 2)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(", partition 0, attempt 2: timed out after 200ms (limit `call_time`); raise the limit or make the plugin faster; retrying (on_error = retry, 2 of 2)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: pipeline `hostile`, stream `hostile`, plugin hostile (sha256 "),
        "{stderr}"
    );
    assert!(
        stderr.contains(", partition 0, attempt 3: timed out after 200ms"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pipeline = two_stream_pipeline(dir.path(), r#"mode = "panic""#, "on_error = \"retry\"");
    let stderr = stderr_of_failure(&run(&["run", &pipeline, "--max-batches", "1"]));
    assert!(
        stderr.contains("not retried: the failure is deterministic and would happen again"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            ", partition 0, attempt 1: trapped: wasm trap: wasm `unreachable` instruction executed"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
}

#[test]
fn policy_keys_of_another_policy_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = two_stream_pipeline(dir.path(), r#"mode = "panic""#, "retries = 2");
    let stderr = stderr_of_failure(&run(&["check", &pipeline]));
    assert!(
        stderr.contains(
            "hostile.toml:14:11: stream `hostile`: `retries` applies only with on_error = \"retry\""
        ),
        "{stderr}"
    );
}

/// Plugin code that runs while a pipeline loads (`init`) may write to stdout
/// and stderr, or run out of memory: the pipeline starts, or is refused with
/// the reason; the host never panics (the helper fails on exit status 101).
#[test]
fn plugin_code_at_start_may_print_or_run_out_of_memory_without_panicking_the_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/a.txt"), "x\n").unwrap();
    let pipeline = |at_start: &str| {
        PipelineFile::new("100ms")
            .files_source("lines", "in", "include_existing = true")
            .stream(
                "hostile",
                "lines",
                "flat_map",
                fixtures::HOSTILE,
                &format!("params = {{ at_start = {at_start:?} }}\nlimits = {{ memory_mib = 64 }}"),
            )
            .text_files("out", "hostile", "out/hostile", "")
            .write(dir.path().join(format!("{at_start}.toml")))
    };
    let printing = pipeline("print");
    let printing = printing.to_str().unwrap();
    stdout_of(&run(&["check", printing]));
    stdout_of(&run(&["run", printing, "--max-batches", "1"]));
    assert_eq!(sink_lines(dir.path(), "hostile"), ["'x'"]);

    let hoarding = pipeline("oom");
    let hoarding = hoarding.to_str().unwrap();
    for args in [
        vec!["check", hoarding],
        vec!["run", hoarding, "--max-batches", "1"],
    ] {
        let command = args[0];
        let output = run(&args);
        let stderr = stderr_of_failure(&output);
        assert!(
            stderr.contains("failed while starting (instantiate, describe, init): exceeded its memory limit of 64 MiB (limit `memory_mib`)"),
            "{command}: {stderr}"
        );
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
    }
}

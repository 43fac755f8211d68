//! Hot loading into a running pipeline: `sluice deploy`, `status`,
//! `history`, `rollback`, `promote`, `discard` and `run --watch`, against
//! the real binary, with versions built from `tests/guests/tag-*` (a map
//! that prefixes each line with `a:`, `b:`, or panics).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::common::*;
use sluice_test_fixtures as fixtures;

/// A pipeline running in the background; killed if the test fails.
struct Running {
    dir: tempfile::TempDir,
    pipeline: PathBuf,
    child: Option<Child>,
}

impl Running {
    /// Writes `pipeline.toml` (with `body` after `batch_interval`) into a
    /// new directory with an `in` directory, starts `sluice run` on it with
    /// `args`, and waits until its control socket answers.
    fn start(interval: &str, body: &str, args: &[&str]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("in")).unwrap();
        Running::start_in(dir, interval, body, args)
    }

    fn start_in(dir: tempfile::TempDir, interval: &str, body: &str, args: &[&str]) -> Running {
        let pipeline = PipelineFile::new(interval)
            .raw("partitions = 2")
            .raw(body)
            .write(dir.path().join("pipeline.toml"));
        let mut all = vec!["run", pipeline.to_str().unwrap()];
        all.extend_from_slice(args);
        // Output goes to files: a pipe nobody reads until the end would
        // fill up and block the pipeline's logging.
        let stdout = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = sluice(&all)
            .env("SLUICE_LOG", "info")
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut running = Running {
            dir,
            pipeline,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if running.control(&["status"]).status.success() {
                break;
            }
            if let Some(child) = running.child.as_mut()
                && child.try_wait().unwrap().is_some()
            {
                panic!(
                    "the pipeline stopped at start:\n{}",
                    std::fs::read_to_string(running.path().join("stderr.log")).unwrap()
                );
            }
            assert!(Instant::now() < deadline, "no control socket within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    /// [`Running::start`] with the `tag-a` version over the files source, no
    /// more settings and no more arguments: what most tests start from.
    fn tag_a(interval: &str) -> Running {
        Running::start(
            interval,
            &tagged_pipeline(FILES_SOURCE, fixtures::TAG_A, ""),
            &[],
        )
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `sluice ARGS --pipeline pipeline.toml`.
    fn control(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--pipeline", self.pipeline.to_str().unwrap()]);
        run(&all)
    }

    /// `sluice ARGS --json`, parsed.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&stdout_of(&self.control(&all))).unwrap()
    }

    /// The stream's status (the first stream).
    fn stream_status(&self) -> serde_json::Value {
        self.json(&["status"])["streams"][0].clone()
    }

    /// Drops an input file of `lines`.
    fn input(&self, name: &str, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        drop_file(&self.path().join("in"), name, text.as_bytes());
    }

    /// Polls the stream's status until `condition` holds and returns that
    /// status; fails the test after 60 s.
    fn wait_for(
        &self,
        what: &str,
        condition: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.stream_status();
            if condition(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "waited 60 s for {what}; status: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the pipeline with SIGTERM and returns its output.
    fn stop(mut self) -> (Output, tempfile::TempDir) {
        let child = self.child.take().unwrap();
        send_signal(&child, "TERM");
        self.finish(child)
    }

    /// Waits for the pipeline to stop; its output, read from the log files.
    fn finish(&mut self, child: Child) -> (Output, tempfile::TempDir) {
        let mut output = wait(child, Duration::from_secs(60));
        output.stdout = std::fs::read(self.path().join("stdout.log")).unwrap();
        output.stderr = std::fs::read(self.path().join("stderr.log")).unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (output, dir)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A pipeline body: `source` → map `tagged` (plugin `plugin`, `stream_extra`
/// keys) → `text_files` under `out/tagged`.
fn tagged_pipeline(source: &str, plugin: &str, stream_extra: &str) -> String {
    format!(
        r#"{source}
[streams.tagged]
from = "lines"
op = "map"
plugin = {plugin}
{stream_extra}
[sinks.files]
from = "tagged"
kind = "text_files"
prefix = "out/tagged"
"#,
        plugin = toml_path(plugin)
    )
}

const FILES_SOURCE: &str = r#"[sources.lines]
kind = "files"
path = "in"
"#;

/// Every committed batch of `out/tagged`: batch time → lines, each line
/// as the plugin gave it (not as Python's repr: `a:1`, not `'a:1'`).
fn batches(dir: &Path) -> BTreeMap<i64, Vec<String>> {
    sink_batches(dir, "tagged")
        .into_iter()
        .map(|(time, lines)| {
            let lines = lines
                .iter()
                .map(|l| l.trim_matches('\'').to_owned())
                .collect();
            (time, lines)
        })
        .collect()
}

/// All output lines, in batch order.
fn all_lines(dir: &Path) -> Vec<String> {
    batches(dir).into_values().flatten().collect()
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn tagged(tag: &str, lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| format!("{tag}:{l}")).collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn versions_swapped_under_continuous_input_lose_and_double_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let writer_done = done.clone();
    // Numbered lines, 10 every 5 ms, until the swaps are over.
    let writer = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut next = 0u64;
        while !writer_done.load(Ordering::Relaxed) {
            let mut chunk = String::new();
            for _ in 0..10 {
                chunk.push_str(&format!("{next}\n"));
                next += 1;
            }
            socket.write_all(chunk.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        next
    });
    let source = format!("[sources.lines]\nkind = \"socket\"\nport = {port}\n");
    let running = Running::start(
        "100ms",
        &tagged_pipeline(&source, fixtures::TAG_A, ""),
        &["--stop-when-idle", "5"],
    );
    // v1 = a; then b, a, b, a: each deploy waits for its first batch.
    let mut first_batches = vec![(0i64, "a")];
    for (version, (tag, plugin)) in [
        ("b", fixtures::TAG_B),
        ("a", fixtures::TAG_A),
        ("b", fixtures::TAG_B),
        ("a", fixtures::TAG_A),
    ]
    .into_iter()
    .enumerate()
    {
        std::thread::sleep(Duration::from_millis(400));
        let reply = running.json(&["deploy", "tagged", plugin]);
        let number = version as u64 + 2;
        assert_eq!(reply["version"]["version"], number, "{reply:#}");
        assert_eq!(reply["version"]["state"], "current");
        assert!(
            reply["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("v{number} (tag_{tag}, sha256 ")),
            "{reply:#}"
        );
        let first = reply["first_batch"]["batch_time"].as_i64().unwrap();
        assert!(reply["first_batch"]["ok"].as_bool().unwrap());
        first_batches.push((first, tag));
    }
    std::thread::sleep(Duration::from_millis(400));
    done.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let child = { running }.stop_when_idle();
    let dir = child.1;
    let output = batches(dir.path());
    // Every batch comes from one version: the one current at its start.
    let mut seen = Vec::new();
    let mut tags_used = std::collections::BTreeSet::new();
    for (time, lines) in &output {
        let expected = first_batches
            .iter()
            .rev()
            .find(|(first, _)| first <= time)
            .map(|(_, tag)| *tag)
            .unwrap();
        for line in lines {
            let (tag, number) = line.split_once(':').unwrap();
            assert_eq!(
                tag, expected,
                "batch {time} has {line:?}, but v{expected} was current from {first_batches:?}"
            );
            tags_used.insert(tag.to_owned());
            seen.push(number.parse::<u64>().unwrap());
        }
    }
    // Nothing lost, nothing doubled.
    let total = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "some records were processed twice");
    assert_eq!(seen, (0..written).collect::<Vec<_>>(), "records were lost");
    assert_eq!(tags_used.len(), 2);
    // Every version produced output while it was current.
    for (i, (first, tag)) in first_batches.iter().enumerate() {
        let until = first_batches.get(i + 1).map_or(i64::MAX, |(next, _)| *next);
        assert!(
            output
                .range(*first..until)
                .any(|(_, lines)| !lines.is_empty()),
            "version {tag} current from {first} produced nothing"
        );
    }
}

impl Running {
    /// Waits for a pipeline started with `--stop-when-idle` to stop.
    fn stop_when_idle(mut self) -> (Output, tempfile::TempDir) {
        let child = self.child.take().unwrap();
        let (output, dir) = self.finish(child);
        stdout_of(&output);
        (output, dir)
    }
}

#[test]
fn refused_versions_never_run_and_the_old_one_keeps_going() {
    let running = Running::tag_a("100ms");
    let truncated = running.path().join("tag_b.wasm");
    let bytes = std::fs::read(fixtures::TAG_B).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let refusals = [
        (
            truncated.to_str().unwrap(),
            "refused (invalid_component), v1 keeps running: plugin tag_b.wasm (sha256 ",
            "is not a valid WebAssembly component",
        ),
        (
            fixtures::MIN_LENGTH,
            "refused (wrong_world), v1 keeps running: plugin min_length.wasm (sha256 ",
            "is a `filter` operator (world sluice:operator/filter-operator@0.3.0), but the stream has `op = \"map\"`",
        ),
        (
            fixtures::NET_CLIENT,
            "refused (forbidden_import), v1 keeps running: plugin net_client.wasm (sha256 ",
            "imports what the sandbox does not give: `wasi:sockets/",
        ),
        (
            fixtures::WORD_PAIR,
            "refused (incompatible_types), v1 keeps running: plugin word_pair.wasm (sha256 ",
            "gives (text, int64) records, but stream `tagged` must keep giving text records to sink `files`; a new version must keep its stream's record types",
        ),
    ];
    for (file, kind, reason) in refusals {
        let stderr = stderr_of_failure(&running.control(&["deploy", "tagged", file]));
        assert!(
            stderr.starts_with("error: pipeline `pipeline`, stream `tagged`: ")
                && stderr.contains(kind)
                && stderr.contains(reason),
            "{stderr}"
        );
    }
    let stderr = stderr_of_failure(&running.control(&["deploy", "nope", fixtures::TAG_B]));
    assert!(
        stderr.contains("error: pipeline `pipeline` has no stream `nope` (streams: tagged)"),
        "{stderr}"
    );
    let stderr = stderr_of_failure(&running.control(&["deploy", "tagged", fixtures::TAG_A]));
    assert!(
        stderr.contains("is the same component as the current version v1 (tag_a, sha256 "),
        "{stderr}"
    );
    let stderr = stderr_of_failure(&running.control(&["rollback", "tagged"]));
    assert!(
        stderr.contains("v1 (tag_a, sha256 ")
            && stderr.contains("is the only loaded version; there is nothing to roll back to"),
        "{stderr}"
    );
    // Still v1, and it still runs.
    let lines = numbered("line-", 5);
    running.input("one.txt", &lines);
    let deadline = Instant::now() + Duration::from_secs(60);
    while all_lines(running.path()).len() < 5 {
        assert!(Instant::now() < deadline, "no output within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(all_lines(running.path()), tagged("a", &lines));
    let status = running.stream_status();
    assert_eq!(status["current"]["version"], 1);
    assert_eq!(status["rollback_to"], serde_json::Value::Null);
    let history = running.json(&["history", "tagged"]);
    assert_eq!(history["versions"].as_array().unwrap().len(), 1);
    let refused: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .filter(|m| m.starts_with("deploy of "))
        .collect();
    assert_eq!(refused.len(), 4, "{history:#}");
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

#[test]
fn status_history_rollback_and_text_output() {
    let running = Running::tag_a("100ms");
    let deployed = stdout_of(&running.control(&["deploy", "tagged", fixtures::TAG_B]));
    let first_line = deployed.lines().next().unwrap();
    assert!(
        first_line.starts_with("stream tagged: v2 (tag_b, sha256 ")
            && first_line.contains(") is current, replacing v1 (tag_a, sha256 ")
            && first_line.contains(") from the next batch (deploy, checked in "),
        "{deployed}"
    );
    assert!(
        deployed
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("first batch on v2: "),
        "{deployed}"
    );
    let status = stdout_of(&running.control(&["status"]));
    assert!(status.starts_with("pipeline pipeline (pid "), "{status}");
    assert!(status.contains(", batch interval 100 ms\n"), "{status}");
    assert!(
        status.contains("stream tagged (map): v2 tag_b (sha256 ")
            && status.contains("from deploy), first batch ")
            && status.contains("  can roll back to v1; automatic rollback after 3 consecutive failing batches (0 now)"),
        "{status}"
    );
    let lines = numbered("x", 3);
    running.input("b.txt", &lines);
    running.wait_for("the b records", |_| all_lines(running.path()).len() == 3);
    let rolled = stdout_of(&running.control(&["rollback", "tagged"]));
    assert!(
        rolled.starts_with("stream tagged: rollback from v2 (tag_b, sha256 ")
            && rolled.contains(") to v1 (tag_a, sha256 ")
            && rolled.contains("): requested\nfirst batch on v1: "),
        "{rolled}"
    );
    let more = numbered("y", 3);
    running.input("a.txt", &more);
    running.wait_for("the a records", |_| all_lines(running.path()).len() == 6);
    let mut expected = tagged("b", &lines);
    expected.extend(tagged("a", &more));
    assert_eq!(all_lines(running.path()), expected);
    let history = stdout_of(&running.control(&["history", "tagged"]));
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "stream tagged: 2 versions");
    assert!(
        lines[1].starts_with("  current   v1 tag_a (sha256 "),
        "{history}"
    );
    assert!(
        lines[2].starts_with("  retired   v2 tag_b (sha256 "),
        "{history}"
    );
    assert!(lines[2].contains("from deploy), first batch "), "{history}");
    assert_eq!(lines[3], "events:");
    assert!(
        lines[4].ends_with(") loaded from the pipeline file"),
        "{history}"
    );
    assert!(lines[5].contains("v2 (tag_b, sha256 "), "{history}");
    assert!(lines[6].contains("rollback from v2"), "{history}");
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

#[test]
fn a_version_failing_consecutive_batches_is_rolled_back() {
    let running = Running::start(
        "100ms",
        &tagged_pipeline(
            FILES_SOURCE,
            fixtures::TAG_A,
            "on_error = \"skip\"\nrollback_after = 2",
        ),
        &[],
    );
    stdout_of(&running.control(&["deploy", "tagged", fixtures::TAG_BAD]));
    for (round, name) in ["f1.txt", "f2.txt"].into_iter().enumerate() {
        running.input(name, &numbered(&format!("bad{round}-"), 4));
        let failed = running.wait_for("a failing batch", |s| {
            s["current"]["failed_batches"] == round as u64 + 1 || s["current"]["version"] == 1
        });
        // Idle batches between the two failing ones neither end nor
        // extend the run of failures.
        let batches = failed["current"]["batches"].as_u64().unwrap_or(0);
        running.wait_for("idle batches", |s| {
            s["current"]["batches"].as_u64() >= Some(batches + 3) || s["current"]["version"] == 1
        });
    }
    running.wait_for("the rollback", |s| s["current"]["version"] == 1);
    let history = running.json(&["history", "tagged"]);
    let last = history["events"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        last.starts_with("automatic rollback from v2 (tag_bad, sha256 ")
            && last.contains(") to v1 (tag_a, sha256 ")
            && last.contains("): 2 consecutive failing batches (rollback_after = 2); last failure: pipeline `pipeline`, stream `tagged`, plugin tag_bad (sha256 ")
            && last.contains("trapped: wasm trap: wasm `unreachable` instruction executed")
            && last.contains("tag-bad cannot tag \"bad1-"),
        "{last}"
    );
    assert_eq!(history["versions"][1]["failed_batches"], 2);
    assert_eq!(history["versions"][1]["state"], "retired");
    // The skipped batches are gone (that is `skip`); v1 processes the rest.
    let good = numbered("good-", 4);
    running.input("f3.txt", &good);
    running.wait_for("v1 output", |_| !all_lines(running.path()).is_empty());
    assert_eq!(all_lines(running.path()), tagged("a", &good));
    let (output, _dir) = running.stop();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains("skipped_partitions=") && stderr.contains("automatic rollback from v2"),
        "{stderr}"
    );
}

#[test]
fn a_batch_failing_on_a_new_version_runs_again_on_the_old_one() {
    let running = Running::tag_a("100ms");
    stdout_of(&running.control(&["deploy", "tagged", fixtures::TAG_BAD]));
    let lines = numbered("rec-", 50);
    running.input("in.txt", &lines);
    running.wait_for("the rollback", |s| s["current"]["version"] == 1);
    running.wait_for("the output", |_| all_lines(running.path()).len() == 50);
    // Not lost: the failed batch ran again on v1, whole.
    assert_eq!(all_lines(running.path()), tagged("a", &lines));
    let history = running.json(&["history", "tagged"]);
    let last = history["events"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        last.starts_with("automatic rollback from v2 (tag_bad, sha256 ")
            && last.contains(" failed and was not delivered: trapped: ")
            && last.ends_with("; it runs again on the previous version"),
        "{last}"
    );
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

#[test]
fn without_automatic_rollback_a_failing_version_stops_the_pipeline() {
    let running = Running::start(
        "100ms",
        &tagged_pipeline(FILES_SOURCE, fixtures::TAG_A, "rollback_after = 0"),
        &[],
    );
    stdout_of(&running.control(&["deploy", "tagged", fixtures::TAG_BAD]));
    running.input("in.txt", &numbered("rec-", 3));
    let mut running = running;
    let child = running.child.take().unwrap();
    let (output, _dir) = running.finish(child);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("error: pipeline `pipeline`, stream `tagged`, plugin tag_bad (sha256 ")
            && stderr.contains("trapped: wasm trap"),
        "{stderr}"
    );
}

#[test]
fn a_shadow_candidate_is_compared_without_touching_the_output() {
    let running = Running::tag_a("100ms");
    let reply = running.json(&["deploy", "--shadow", "tagged", fixtures::TAG_B]);
    assert_eq!(reply["version"]["state"], "shadow");
    assert_eq!(reply["first_batch"], serde_json::Value::Null);
    let first = numbered("s", 10);
    running.input("s1.txt", &first);
    running.wait_for("a compared batch", |s| {
        s["shadow"]["shadow"]["differing_batches"] == 1
    });
    let status = running.stream_status();
    let shadow = &status["shadow"]["shadow"];
    assert_eq!(shadow["failed_calls"], 0);
    assert!(shadow["calls"].as_u64().unwrap() >= 1);
    assert_eq!(shadow["calls"], shadow["differing_calls"]);
    assert_eq!(status["current"]["version"], 1);
    let text = stdout_of(&running.control(&["status"]));
    assert!(
        text.contains("  shadow v2 tag_b (sha256 ")
            && text.contains("batches compared: output differed in 1 ("),
        "{text}"
    );
    // A failing candidate fails nothing but itself.
    let reply = running.json(&["deploy", "--shadow", "tagged", fixtures::TAG_BAD]);
    assert_eq!(reply["version"]["version"], 3);
    let second = numbered("t", 10);
    running.input("s2.txt", &second);
    running.wait_for("a failing shadow", |s| {
        s["shadow"]["shadow"]["failed_calls"].as_u64().unwrap_or(0) >= 1
    });
    let status = running.stream_status();
    assert!(
        status["shadow"]["shadow"]["last_error"]
            .as_str()
            .unwrap()
            .contains(" (shadow), attempt 1: trapped: wasm trap: wasm `unreachable` instruction executed\nplugin stderr:"),
        "{status:#}"
    );
    assert_eq!(status["current"]["failed_batches"], 0);
    assert_eq!(all_lines(running.path()).len(), 20);
    let discarded = stdout_of(&running.control(&["discard", "tagged"]));
    assert!(
        discarded.starts_with("stream tagged: shadow v3 (tag_bad, sha256 "),
        "{discarded}"
    );
    // Promote: b becomes current.
    running.json(&["deploy", "--shadow", "tagged", fixtures::TAG_B]);
    let promoted = stdout_of(&running.control(&["promote", "tagged"]));
    assert!(
        promoted.starts_with("stream tagged: v4 (tag_b, sha256 ")
            && promoted.contains("promoted from shadow, replacing v1 (tag_a, sha256 "),
        "{promoted}"
    );
    let third = numbered("u", 10);
    running.input("s3.txt", &third);
    running.wait_for("b output", |_| all_lines(running.path()).len() == 30);
    let mut expected = tagged("a", &first);
    expected.extend(tagged("a", &second));
    expected.extend(tagged("b", &third));
    assert_eq!(all_lines(running.path()), expected);
    let stderr = stderr_of_failure(&running.control(&["promote", "tagged"]));
    assert!(
        stderr.contains(
            "stream `tagged`: has no shadow candidate; deploy one with `sluice deploy --shadow`"
        ),
        "{stderr}"
    );
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

#[test]
fn watch_reloads_a_rebuilt_plugin_and_refuses_a_half_written_one() {
    // Compile b once, so the reload below measures pickup, not compiling.
    stdout_of(&run(&["plugin", "inspect", fixtures::TAG_B]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let plugin = dir.path().join("tagger.wasm");
    std::fs::copy(fixtures::TAG_A, &plugin).unwrap();
    let running = Running::start_in(
        dir,
        "1s",
        &tagged_pipeline(FILES_SOURCE, "tagger.wasm", ""),
        &["--watch"],
    );
    let bytes = std::fs::read(fixtures::TAG_B).unwrap();
    // Half a file, then a pause longer than the debounce: refused.
    let mut file = std::fs::File::create(&plugin).unwrap();
    file.write_all(&bytes[..bytes.len() / 2]).unwrap();
    file.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (history, refused) = loop {
        let history = running.json(&["history", "tagged"]);
        let last = history["events"].as_array().unwrap().last().unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        if last.starts_with("watch of ") {
            break (history, last);
        }
        assert!(
            Instant::now() < deadline,
            "no reaction to the half file: {history:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        refused.starts_with("watch of ")
            && refused.contains("refused (invalid_component), v1 keeps running"),
        "{history:#}"
    );
    // The rest of the file: picked up within a batch interval.
    file.write_all(&bytes[bytes.len() / 2..]).unwrap();
    drop(file);
    let complete = now_ms();
    running.wait_for("the reload", |s| s["current"]["version"] == 2);
    running.wait_for("a batch on v2", |s| !s["current"]["first_batch"].is_null());
    let status = running.stream_status();
    assert_eq!(status["current"]["origin"], "watch");
    let first = status["current"]["first_batch"].as_i64().unwrap();
    let pickup = first - complete;
    // A batch that started late (a loaded machine) keeps its nominal time,
    // so the pickup may even read as negative.
    assert!(
        pickup <= 2000,
        "first batch on the reloaded version {pickup} ms after the file was complete (interval 1 s, debounce 200 ms)"
    );
    let lines = numbered("w", 4);
    running.input("w.txt", &lines);
    running.wait_for("output", |_| all_lines(running.path()).len() == 4);
    assert_eq!(all_lines(running.path()), tagged("b", &lines));
    let (output, _dir) = running.stop();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains("is not a valid WebAssembly component"),
        "{stderr}"
    );
}

#[test]
fn the_control_socket_answers_only_its_owner() {
    let running = Running::tag_a("100ms");
    let state = running.path().join(".sluice/pipeline");
    let socket = state.join("control.sock");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&state), 0o700);
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if !root {
        eprintln!("not root: cannot act as another user; checked the socket's modes only");
        return;
    }
    let as_nobody = || {
        let mut command = sluice(&["status", "--control", socket.to_str().unwrap()]);
        std::os::unix::process::CommandExt::uid(&mut command, 65534);
        std::os::unix::process::CommandExt::gid(&mut command, 65534);
        command.env_remove("SLUICE_CACHE_DIR");
        wait(command.spawn().unwrap(), Duration::from_secs(60))
    };
    // The file system refuses another user…
    for dir in [running.path(), &running.path().join(".sluice")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let stderr = stderr_of_failure(&as_nobody());
    assert!(
        stderr.contains("Permission denied")
            && stderr.contains("the control socket belongs to another user"),
        "{stderr}"
    );
    // …and so does the pipeline when the modes are loosened.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let stderr = stderr_of_failure(&as_nobody());
    assert!(
        stderr.contains(
            "error: refused: the control socket accepts only its owner (uid 0), not uid 65534"
        ),
        "{stderr}"
    );
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

#[test]
fn the_tcp_listener_needs_the_token() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let body = format!(
        "[control]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"token\"\n{}",
        tagged_pipeline(FILES_SOURCE, fixtures::TAG_A, "")
    );
    let running = Running::start_in(dir, "100ms", &body, &[]);
    let address = format!("tcp://127.0.0.1:{port}");
    let stderr = stderr_of_failure(&run(&["status", "--control", &address]));
    assert!(
        stderr.contains(
            "error: refused: missing token; pass --token-file or set SLUICE_CONTROL_TOKEN"
        ),
        "{stderr}"
    );
    let wrong = running.path().join("wrong");
    std::fs::write(&wrong, "not-the-token-not-the-token").unwrap();
    let stderr = stderr_of_failure(&run(&[
        "deploy",
        "tagged",
        fixtures::TAG_B,
        "--control",
        &address,
        "--token-file",
        wrong.to_str().unwrap(),
    ]));
    assert!(stderr.contains("error: refused: wrong token"), "{stderr}");
    assert_eq!(running.stream_status()["current"]["version"], 1);
    let token = running.path().join("token");
    let status = stdout_of(&run(&[
        "status",
        "--control",
        &address,
        "--token-file",
        token.to_str().unwrap(),
    ]));
    assert!(status.starts_with("pipeline pipeline (pid "), "{status}");
    let output = sluice(&["deploy", "tagged", fixtures::TAG_B, "--control", &address])
        .env("SLUICE_CONTROL_TOKEN", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    assert!(stdout_of(&output).starts_with("stream tagged: v2 (tag_b, sha256 "));
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

#[test]
fn a_tcp_listener_without_a_token_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = PipelineFile::new("1s")
        .table("control", "listen = \"127.0.0.1:7\"")
        .raw(&tagged_pipeline(FILES_SOURCE, fixtures::TAG_A, ""))
        .write(dir.path().join("pipeline.toml"));
    let stderr = stderr_of_failure(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        stderr.contains("pipeline.toml:3:10: `[control] listen` needs `token_file`"),
        "{stderr}"
    );
}

#[test]
fn control_commands_say_when_no_pipeline_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = PipelineFile::new("1s")
        .raw(&tagged_pipeline(FILES_SOURCE, fixtures::TAG_A, ""))
        .write(dir.path().join("pipeline.toml"));
    let stderr = stderr_of_failure(&run(&["status", "--pipeline", pipeline.to_str().unwrap()]));
    assert!(
        stderr.contains("error: no running pipeline at ")
            && stderr.contains(".sluice/pipeline/control.sock: No such file or directory")
            && stderr.contains("is the pipeline running (`sluice run`)?"),
        "{stderr}"
    );
    let stderr = stderr_of_failure(&run(&["status"]));
    assert!(
        stderr.contains("which pipeline? pass its file with --pipeline FILE"),
        "{stderr}"
    );
}

#[test]
fn a_deploy_waiting_for_its_first_batch_hears_when_the_pipeline_stops() {
    let running = Running::tag_a("60s");
    // The first batch runs at start; the next one is a minute away.
    running.wait_for("the first batch", |s| s["current"]["batches"] == 1);
    let deploy = sluice(&[
        "deploy",
        "tagged",
        fixtures::TAG_B,
        "--pipeline",
        running.pipeline.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    running.wait_for("v2", |s| s["current"]["version"] == 2);
    let (output, _dir) = running.stop();
    stdout_of(&output);
    let stderr = stderr_of_failure(&wait(deploy, Duration::from_secs(30)));
    assert!(
        stderr.contains("error: the pipeline stopped before v2 ran a batch"),
        "{stderr}"
    );
}

#[test]
fn a_second_pipeline_with_the_same_state_dir_is_refused_by_the_control_endpoint() {
    let running = Running::tag_a("200ms");
    let output = run(&[
        "run",
        running.pipeline.to_str().unwrap(),
        "--max-batches",
        "1",
    ]);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains(
            "error: pipeline `pipeline`, control endpoint: another pipeline is running with the control socket "
        ) && stderr.contains("stop it, or give this one another `state_dir`"),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    // The first pipeline still answers.
    stdout_of(&run(&[
        "status",
        "--pipeline",
        running.pipeline.to_str().unwrap(),
    ]));
}

#[test]
fn a_short_control_token_is_refused_and_leaves_no_socket_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("token"), "short\n").unwrap();
    let pipeline = PipelineFile::new("1s")
        .table(
            "control",
            "listen = \"127.0.0.1:0\"\ntoken_file = \"token\"",
        )
        .raw(&tagged_pipeline(FILES_SOURCE, fixtures::TAG_A, ""))
        .write(dir.path().join("pipeline.toml"));
    let output = run(&["run", pipeline.to_str().unwrap(), "--max-batches", "1"]);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("error: pipeline `pipeline`, control endpoint: the control token in ")
            && stderr.contains("is shorter than 16 characters"),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let sockets: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("control.sock"))
        .collect();
    assert!(sockets.is_empty(), "left behind: {sockets:?}");
}

#[test]
fn a_windowed_stream_keeps_its_window_across_a_deploy() {
    let body = with_windowed_counts(
        PipelineFile::from(FILES_SOURCE),
        Path::new(fixtures::SUM),
        "window_duration = \"600ms\"",
    )
    .text_files("raw", "lines", "out/raw", "format = \"jsonl\"")
    .text_files("win", "recent", "out/win", "format = \"jsonl\"");
    let running = Running::start("200ms", body.text(), &[]);
    let sum_in_c = super::languages::build_plugin(&running.path().join("build"), "c", "sum");
    let recent = || running.json(&["status"])["streams"][2].clone();
    let read = |files: usize| {
        running.wait_for("the file read", |_| {
            read_windowed(running.path())
                .batches
                .values()
                .filter(|lines| !lines.is_empty())
                .count()
                == files
        });
    };
    for i in 0..3 {
        running.input(&format!("f{i}.txt"), &numbered(&format!("w{i} w"), 3));
        read(i + 1);
    }
    // `sluice status` shows what the window holds: at most the 3 batches
    // of 600 ms (fewer once the files slide out), 3 distinct words a file.
    let status = running.json(&["status"]);
    assert_eq!(status["windows"][0]["stream"], "recent", "{status:#}");
    let held = &status["windows"][0];
    let batches = held["batches"].as_u64().unwrap();
    assert!(batches <= 3, "{status:#}");
    assert!(
        held["records"].as_u64().unwrap() <= 3 * batches,
        "{status:#}"
    );
    assert_eq!(
        held["bytes"].as_u64().unwrap() == 0,
        batches == 0,
        "{status:#}"
    );
    let text = stdout_of(&running.control(&["status"]));
    assert!(text.contains("\nwindow recent: "), "{text}");
    assert!(text.contains(" MiB held\n"), "{text}");
    stdout_of(&running.control(&["deploy", "recent", sum_in_c.to_str().unwrap()]));
    assert_eq!(recent()["current"]["version"], 2);
    for i in 3..6 {
        running.input(&format!("f{i}.txt"), &numbered(&format!("w{i} w"), 3));
        read(i + 1);
    }
    // The window slides past the last file.
    let last = *read_windowed(running.path()).batches.keys().last().unwrap();
    running.wait_for("the window to empty", |_| {
        read_windowed(running.path())
            .windows
            .range(last + 600..)
            .next()
            .is_some()
    });
    let history = running.json(&["history", "recent"]);
    assert_eq!(history["versions"][1]["plugin"], "sum");
    assert_eq!(history["versions"][1]["state"], "current");
    let (output, dir) = running.stop();
    stdout_of(&output);
    // Nothing lost or doubled: every window, before, across and after the
    // swap (the new version combines partials the old one made), is the
    // model's.
    let run = read_windowed(dir.path());
    let model = reference_windows(&run.batches, 600, 200);
    assert!(model.len() >= 9, "{} windows", model.len());
    assert!(run.windows == model, "the windows differ from the model");
}

#[test]
fn a_deploy_to_a_host_operator_is_refused() {
    let body = PipelineFile::from(FILES_SOURCE)
        .host_stream("n", "lines", "count", "")
        .text_files("files", "n", "out/n", "");
    let running = Running::start("100ms", body.text(), &[]);
    let status = running.stream_status();
    assert_eq!(status["op"], "count");
    assert_eq!(status["current"]["plugin"], "count");
    assert_eq!(status["current"]["sha256"], "builtin");
    let stderr = stderr_of_failure(&running.control(&["deploy", "n", fixtures::SUM]));
    assert!(
        stderr.contains("pipeline `pipeline`, stream `n`: `count` is run by the host: there is no plugin to deploy"),
        "{stderr}"
    );
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

/// The states the `totals` sink wrote in its latest batch, if any.
fn latest_totals(dir: &Path) -> BTreeMap<String, i64> {
    sink_batches(dir, "totals")
        .into_values()
        .last()
        .unwrap_or_default()
        .iter()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                record["key"].as_str().unwrap().to_owned(),
                record["value"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_stateful_stream_keeps_its_state_across_a_deploy() {
    let body = PipelineFile::from(FILES_SOURCE)
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "totals",
            "pairs",
            "update_state_by_key",
            fixtures::RUNNING_SUM,
            "",
        )
        .text_files("out", "totals", "out/totals", "format = \"jsonl\"");
    let running = Running::start("200ms", body.text(), &[]);
    let expect = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    let wait_totals = |wanted: BTreeMap<String, i64>| {
        running.wait_for("the totals", |_| latest_totals(running.path()) == wanted);
    };
    running.input("f0.txt", &["a b a".to_owned()]);
    wait_totals(expect(&[("a", 2), ("b", 1)]));
    // `sluice status` shows what the state holds.
    let status = running.json(&["status"]);
    assert_eq!(status["states"][0]["stream"], "totals", "{status:#}");
    assert_eq!(status["states"][0]["keys"], 2, "{status:#}");
    let text = stdout_of(&running.control(&["status"]));
    assert!(
        text.contains("\nstate totals: 2 keys, 0.0 MiB held\n"),
        "{text}"
    );
    // Another state type cannot take over these states.
    let stderr =
        stderr_of_failure(&running.control(&["deploy", "totals", fixtures::VALUE_HISTORY]));
    assert!(
        stderr.contains("keeps text states, but stream `totals` keeps int64 states, which carry over to the new version; a new version must declare the same state type (change the pipeline file and restart to change it)"),
        "{stderr}"
    );
    stdout_of(&running.control(&["deploy", "totals", fixtures::TENFOLD_SUM]));
    let totals = || running.json(&["status"])["streams"][2].clone();
    assert_eq!(totals()["current"]["version"], 2);
    // The new version adds ten times each new value to the old totals:
    // nothing lost, nothing counted twice.
    running.input("f1.txt", &["a c".to_owned()]);
    wait_totals(expect(&[("a", 12), ("b", 1), ("c", 10)]));
    let (output, _dir) = running.stop();
    stdout_of(&output);
}

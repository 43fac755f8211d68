//! The `files` source's rules.

use std::io::Write;
use std::time::Duration;

use super::common::*;

#[test]
fn a_missing_directory_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "nowhere", "", "");
    let stderr = stderr_of_failure(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--max-batches",
        "1",
    ]));
    assert!(
        stderr.contains("source `lines`: directory ")
            && stderr.contains("nowhere does not exist; create it or fix `path`"),
        "{stderr}"
    );
}

#[test]
fn a_path_that_is_a_file_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "a file\n").unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in.txt", "", "");
    let stderr = stderr_of_failure(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--max-batches",
        "1",
    ]));
    assert!(
        stderr.contains("in.txt is a file, not a directory"),
        "{stderr}"
    );
}

#[test]
fn hidden_and_temporary_files_are_ignored_and_underscore_names_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join(".hidden.txt"), "hidden\n").unwrap();
    std::fs::write(input.join("upload.tmp"), "temporary\n").unwrap();
    std::fs::write(input.join("copy.txt._COPYING_"), "copying\n").unwrap();
    std::fs::write(input.join("_underscore.txt"), "underscore\n").unwrap();
    std::fs::write(input.join("plain"), "plain\n").unwrap();
    std::fs::create_dir(input.join("subdir")).unwrap();
    std::fs::write(input.join("subdir").join("nested.txt"), "nested\n").unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "include_existing = true", "");
    stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--stop-when-idle",
        "1",
    ]));
    assert_eq!(
        read_counts(dir.path()),
        reference_counts(["underscore plain"])
    );
}

#[test]
fn files_present_at_start_are_skipped_unless_include_existing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("old.txt"), "old words\n").unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "", "");
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "5"])
        .spawn()
        .unwrap();
    wait_until_running(dir.path());
    drop_file(&input, "new.txt", b"new words\n");
    stdout_of(&wait(child, Duration::from_secs(60)));
    assert_eq!(read_counts(dir.path()), reference_counts(["new words"]));
}

#[test]
fn a_backlog_is_read_in_batches_of_max_batch_mib_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let word_file = |word: &str, kib: usize| format!("{word}\n").repeat(kib * 512);
    let (f0, f1, f2, f3) = (
        word_file("a", 600),
        word_file("b", 600),
        word_file("c", 100),
        word_file("d", 2048),
    );
    // 600 KiB, then 600 + 100 KiB, then a 2 MiB file over the budget,
    // which is read alone rather than skipped.
    write_inputs(
        dir.path(),
        &[("f0", &f0), ("f1", &f1), ("f2", &f2), ("f3", &f3)],
    );
    let pipeline = wordcount_pipeline(
        dir.path(),
        "in",
        "include_existing = true\nmax_batch_mib = 1",
        "",
    );
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "1"])
        .env("SLUICE_LOG", "info")
        .spawn()
        .unwrap();
    let output = wait(child, Duration::from_secs(120));
    stdout_of(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let pair = |word: &str, n: i64| format!("{{\"key\": \"{word}\", \"value\": {n}}}");
    assert_eq!(
        sorted_batches(dir.path(), "counts"),
        [
            vec![pair("a", 600 * 512)],
            vec![pair("b", 600 * 512), pair("c", 100 * 512)],
            vec![pair("d", 2048 * 512)],
            vec![],
        ]
    );
    // Two batches left files waiting, and said so.
    assert_eq!(
        stderr
            .matches("batch full (max_files_per_batch, max_batch_mib)")
            .count(),
        2,
        "{stderr}"
    );
}

#[test]
fn a_file_written_in_place_is_read_only_once_closed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "", "");
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "10"])
        .spawn()
        .unwrap();
    wait_until_running(dir.path());
    let mut file = std::fs::File::create(input.join("slow.txt")).unwrap();
    file.write_all(b"alpha bet").unwrap();
    file.flush().unwrap();
    // Several batches pass while the writer still has the file open.
    std::thread::sleep(Duration::from_millis(700));
    file.write_all(b"a gamma\n").unwrap();
    drop(file);
    stdout_of(&wait(child, Duration::from_secs(60)));
    assert_eq!(
        read_counts(dir.path()),
        reference_counts(["alpha beta gamma"])
    );
}

fn with_policy(policy: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(
        input.join("latin1.txt"),
        b"good line\ncaf\xe9 bad\nmore good\n",
    )
    .unwrap();
    let pipeline = wordcount_pipeline(
        dir.path(),
        "in",
        &format!("include_existing = true\ninvalid_utf8 = \"{policy}\""),
        "",
    );
    let output = run(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "1"]);
    if output.status.success() {
        let counts = read_counts(dir.path());
        let rendered = serde_json::to_string(&counts).unwrap();
        let mut output = output;
        output.stdout = rendered.into_bytes();
        return output;
    }
    output
}

#[test]
fn invalid_utf8_is_replaced_by_default() {
    let output = with_policy("replace");
    let counts: std::collections::BTreeMap<String, i64> =
        serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        counts,
        reference_counts(["good line", "caf\u{fffd} bad", "more good"])
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line is not valid UTF-8"), "{stderr}");
}

#[test]
fn invalid_utf8_lines_can_be_skipped() {
    let output = with_policy("skip");
    let counts: std::collections::BTreeMap<String, i64> =
        serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(counts, reference_counts(["good line", "more good"]));
}

#[test]
fn invalid_utf8_can_fail_the_pipeline_naming_file_and_line() {
    let output = with_policy("fail");
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("source `lines`: ")
            && stderr.contains("latin1.txt, line 2: not valid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn a_name_is_remembered_while_its_file_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "", "");
    let child = sluice(&["run", pipeline.to_str().unwrap()])
        .spawn()
        .unwrap();
    wait_until_running(dir.path());
    // Each word is counted once per batch it is in: one record each.
    let counted = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while sink_lines(dir.path(), "counts").len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{n} words not counted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    drop_file(&input, "f.txt", b"first\n");
    drop_file(&input, "stays.txt", b"kept\n");
    counted(2);
    // Left in place, `stays.txt` is not read again; `f.txt` removed and
    // written again under its name is a new file.
    std::fs::remove_file(input.join("f.txt")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop_file(&input, "f.txt", b"second\n");
    counted(3);
    std::thread::sleep(Duration::from_millis(500));
    send_signal(&child, "TERM");
    stdout_of(&wait(child, Duration::from_secs(60)));
    assert_eq!(
        read_counts(dir.path()),
        reference_counts(["first", "kept", "second"])
    );
}

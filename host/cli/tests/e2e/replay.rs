//! `sluice replay`: a stream of a kept batch run again with the version
//! that ran it gives the batch's output byte for byte; another component's
//! differences are shown record by record; what is not kept is said.

use std::path::Path;

use super::common::*;
use sluice_test_fixtures as fixtures;

/// The word count over three files, one per batch, each plugin stream
/// keeping its last two batches.
fn kept_word_count(dir: &Path, keep: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    write_inputs(
        dir,
        &[
            ("a.txt", "to be or not to be\nthat is the question\n"),
            ("b.txt", "to sleep perchance to dream\n"),
            (
                "c.txt",
                "ay there is the rub\nfor in that sleep\nwhat dreams may come\n",
            ),
        ],
    );
    PipelineFile::new("200ms")
        .raw(&format!("partitions = 2\nui = false\n{keep}"))
        .files_source(
            "lines",
            "in",
            "include_existing = true\nmax_files_per_batch = 1",
        )
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("out", "counts", "out/counts", "")
        .write(dir.join("p.toml"))
}

#[test]
fn a_kept_batch_replays_byte_for_byte_and_another_component_shows_its_differences() {
    let dir = tempfile::tempdir().unwrap();
    let path = kept_word_count(dir.path(), "keep_batches = 2");
    let pipeline = path.to_str().unwrap();
    run_until_idle(&path, "2");
    let times = times_with_records(dir.path());
    assert_eq!(times.len(), 3, "{times:?}");
    let last = times[2].to_string();

    for stream in ["words", "pairs", "counts"] {
        let output = run(&["replay", pipeline, "--stream", stream, "--batch", &last]);
        let stdout = stdout_of(&output);
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(
            lines[0].starts_with(&format!("stream `{stream}`, batch ")),
            "{stdout}"
        );
        assert!(lines[0].contains("(sha256 "), "{stdout}");
        assert!(lines[0].ends_with(", the version that ran)"), "{stdout}");
        let calls = &lines[1..lines.len() - 1];
        assert!(!calls.is_empty(), "{stdout}");
        for call in calls {
            assert!(call.ends_with(": identical, byte for byte"), "{stdout}");
        }
        assert!(
            lines[lines.len() - 1].starts_with(&format!(
                "same output as the batch: {} calls, ",
                calls.len()
            )),
            "{stdout}"
        );
        if stream == "counts" {
            // Both of the reducer's calls are kept and replayed.
            assert!(
                calls.iter().any(|c| c.contains("(before the exchange)"))
                    && calls.iter().any(|c| c.contains("(after the exchange)")),
                "{stdout}"
            );
        }
    }
    // The batch time as printed, and the records printed.
    let printed = sluice_time_of(times[2]);
    let stdout = stdout_of(&run(&[
        "replay", pipeline, "--stream", "words", "--batch", &printed, "--print",
    ]));
    let mut words: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  '"))
        .map(|l| l.trim_end_matches('\''))
        .collect();
    words.sort_unstable();
    let mut expected = "ay there is the rub for in that sleep what dreams may come"
        .split(' ')
        .collect::<Vec<_>>();
    expected.sort_unstable();
    assert_eq!(words, expected, "{stdout}");

    // Another component: each line given back whole instead of its words.
    let output = run(&[
        "replay",
        pipeline,
        "--stream",
        "words",
        "--batch",
        &last,
        "--plugin",
        fixtures::HOSTILE,
    ]);
    let stderr = stderr_of_failure(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the replay's output differs from the batch's in "),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("replayed with hostile (sha256 "),
        "{stdout}"
    );
    assert!(stdout.contains(", another component)"), "{stdout}");
    assert!(stdout.contains("  - 'rub'\n"), "{stdout}");
    assert!(stdout.contains("  + 'ay there is the rub'\n"), "{stdout}");
    assert!(
        stdout.contains("records only in the batch's output, 1 only in the replay's"),
        "{stdout}"
    );

    // The first batch is no longer kept; an unknown stream; a host
    // operator.
    let stderr = stderr_of_failure(&run(&[
        "replay",
        pipeline,
        "--stream",
        "pairs",
        "--batch",
        &times[0].to_string(),
    ]));
    assert!(
        stderr.contains(&format!(
            "pipeline `p`, stream `pairs`: stream `pairs` keeps no batch {} ({} ms)",
            sluice_time_of(times[0]),
            times[0]
        )) && stderr.contains("; kept: "),
        "{stderr}"
    );
    let stderr = stderr_of_failure(&run(&[
        "replay", pipeline, "--stream", "nope", "--batch", &last,
    ]));
    assert!(
        stderr.contains("no such stream; the pipeline's streams are words, pairs, counts"),
        "{stderr}"
    );
}

#[test]
fn a_batch_over_keep_batch_mib_is_not_kept_and_replay_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = kept_word_count(dir.path(), "keep_batch_mib = 1");
    let big = "lorem ipsum dolor sit amet\n".repeat(60_000);
    std::fs::write(dir.path().join("in/d.txt"), big).unwrap();
    run_until_idle(&path, "2");
    let times = times_with_records(dir.path());
    assert_eq!(times.len(), 4, "{times:?}");
    let stderr = stderr_of_failure(&run(&[
        "replay",
        path.to_str().unwrap(),
        "--stream",
        "words",
        "--batch",
        &times[3].to_string(),
    ]));
    assert!(
        stderr.contains("was not kept: it was over keep_batch_mib = 1 MiB; raise keep_batch_mib to replay batches this big"),
        "{stderr}"
    );
}

/// The batch times whose counts are not empty (`text_files` writes every
/// batch, as Spark's `saveAsTextFiles` does).
fn times_with_records(dir: &Path) -> Vec<i64> {
    sink_batches(dir, "counts")
        .into_iter()
        .filter(|(_, lines)| !lines.is_empty())
        .map(|(time, _)| time)
        .collect()
}

/// `time` (ms) as `sluice` prints batch times.
fn sluice_time_of(time: i64) -> String {
    sluice::time::BatchTime(time).python_str()
}

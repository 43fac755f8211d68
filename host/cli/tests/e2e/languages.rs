//! Plugins in other languages, built from source with `sluice plugin build`
//! and run in the word count against the generator's exact counts, alone
//! and mixed with the Rust plugins. A missing toolchain fails the test with
//! the install hint; nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::common::*;
use sluice_test_fixtures as fixtures;

use fixtures::WORKSPACE;

/// Copies `plugins/LANGUAGE/NAME` into `dir` and builds it with the real
/// CLI; returns the component.
pub(crate) fn build_plugin(dir: &Path, language: &str, name: &str) -> PathBuf {
    let project = dir.join(language).join(name);
    std::fs::create_dir_all(&project).unwrap();
    let source = Path::new(WORKSPACE)
        .join("plugins")
        .join(language)
        .join(name);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, project.join(path.file_name().unwrap())).unwrap();
        }
    }
    let output = run_long(&["plugin", "build", project.to_str().unwrap()]);
    let stdout = stdout_of(&output);
    let component = PathBuf::from(stdout.trim());
    assert_eq!(
        component,
        project
            .join("target/sluice")
            .join(format!("{}.wasm", name.replace('-', "_")))
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("built {language} plugin in ")),
        "{stderr}"
    );
    component
}

fn build_c(dir: &Path, name: &str) -> PathBuf {
    build_plugin(dir, "c", name)
}

/// The four word-count plugins of `language`, built, each allowed by the
/// sandbox: (split-words, min-length, word-pair, sum).
fn build_word_count(dir: &Path, language: &str) -> [PathBuf; 4] {
    let built = ["split-words", "min-length", "word-pair", "sum"]
        .map(|name| build_plugin(dir, language, name));
    for component in &built {
        let report = stdout_of(&run_long(&[
            "plugin",
            "inspect",
            component.to_str().unwrap(),
        ]));
        assert!(report.contains("verdict:   allowed"), "{report}");
    }
    built
}

/// `sluice plugin new NAME --lang LANGUAGE --op OP --dir DIR`.
pub(super) fn plugin_new(name: &str, language: &str, op: &str, dir: &Path) -> std::process::Output {
    run(&[
        "plugin",
        "new",
        name,
        "--lang",
        language,
        "--op",
        op,
        "--dir",
        dir.to_str().unwrap(),
    ])
}

/// `sluice ARGS` with room for large guests (Python's and JavaScript's
/// engines take seconds to compile on a loaded 2-core machine).
pub(super) fn run_long(args: &[&str]) -> std::process::Output {
    wait(
        sluice(args).spawn().unwrap(),
        std::time::Duration::from_secs(900),
    )
}

/// Runs the word count (split, min-length 1, pair, sum) with the given
/// components over a generated corpus; returns (counts, expected).
fn word_count(
    dir: &Path,
    split: &Path,
    filter: &Path,
    pair: &Path,
    sum: &Path,
) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let corpus = fixtures::corpus(&dir.join("corpus"), 3, 0.25, 11);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for file in &corpus.files {
        std::fs::copy(file, input.join(file.file_name().unwrap())).unwrap();
    }
    let pipeline = PipelineFile::new("200ms")
        .files_source("lines", "in", "include_existing = true")
        .stream("words", "lines", "flat_map", split, "")
        .stream(
            "long",
            "words",
            "filter",
            filter,
            "params = { min_length = 1 }",
        )
        .stream("pairs", "long", "map", pair, "")
        .stream("counts", "pairs", "reduce_by_key", sum, "")
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .write(dir.join("pipeline.toml"));
    stdout_of(&run_long(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "2",
        "--stop-when-idle",
        "2",
    ]));
    (read_counts(dir), corpus.counts.into_iter().collect())
}

/// The word count with the Rust plugins, on the corpus `word_count` makes
/// in `dir`.
fn rust_word_count(dir: &Path) -> BTreeMap<String, i64> {
    let (counts, expected) = word_count(
        dir,
        Path::new(fixtures::SPLIT_WORDS),
        Path::new(fixtures::MIN_LENGTH),
        Path::new(fixtures::WORD_PAIR),
        Path::new(fixtures::SUM),
    );
    assert_eq!(counts, expected);
    counts
}

/// Builds `language`'s word-count plugins and checks that the word count
/// gives exactly what the Rust plugins give on the same input (and what the
/// generator counted), and that its reducer gives Spark's sliding windows.
fn counts_like_rust(language: &str) {
    let dir = tempfile::tempdir().unwrap();
    let [split, filter, pair, sum] = build_word_count(&dir.path().join("build"), language);
    let (counts, expected) = word_count(&dir.path().join(language), &split, &filter, &pair, &sum);
    assert_eq!(counts.len(), expected.len());
    assert_eq!(counts, expected);
    assert_eq!(counts, rust_word_count(&dir.path().join("rust")));
    windows_like_spark(&dir.path().join("windows"), &sum);
    stateful_like_spark(&dir.path().join("stateful"), language, &sum);
}

/// The windowed word count with `sum` as the window's reducer: six
/// files, one per batch, a window of three batches sliding every two, equal
/// to the model of Spark's windows.
fn windows_like_spark(dir: &Path, sum: &Path) {
    let files = corpus_files(dir, 6, 0.03, 13);
    let run = windowed_word_count(
        &dir.join("run"),
        sum,
        &files,
        "window_duration = \"300ms\"\nslide_duration = \"200ms\"",
        "2",
    );
    let model = reference_windows(&run.batches, 300, 200);
    assert!(model.len() >= 4, "{} windows", model.len());
    assert!(run.windows == model, "the windows differ from the model");
}

/// Builds `language`'s stateful plugins (running-sum, subtract, sessions)
/// and checks, against the models of Spark's operators, an incremental
/// window with `sum` and its inverse, running totals with
/// `update_state_by_key`, and sessions with `map_with_state`.
fn stateful_like_spark(dir: &Path, language: &str, sum: &Path) {
    let build = dir.join("build");
    let [running_sum, subtract, sessions] =
        ["running-sum", "subtract", "sessions"].map(|name| build_plugin(&build, language, name));
    let files = corpus_files(dir, 6, 0.03, 13);
    let run = windowed_word_count(
        &dir.join("windows"),
        sum,
        &files,
        &format!(
            "window_duration = \"500ms\"\ninverse_plugin = {}\ndrop_when = 0",
            toml_path(&subtract)
        ),
        "2",
    );
    let model = reference_windows(&run.batches, 500, 100);
    assert!(model.len() >= 6, "{} windows", model.len());
    assert!(
        run.windows == model,
        "{language}: the incremental windows differ from the model"
    );
    let run = windowed_run(&dir.join("totals"), &files, "2", |source| {
        source
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
            .stream("recent", "pairs", "update_state_by_key", &running_sum, "")
    });
    let totals = super::state::reference_totals(&run.batches);
    assert!(
        run.windows == totals,
        "{language}: the running totals differ from the model"
    );
    let (raw, mapped) = super::state::sessions_run(&dir.join("sessions"), &files, "2", &sessions);
    let model = super::state::reference_sessions(&raw);
    let differing: Vec<&i64> = model
        .iter()
        .filter(|(t, records)| mapped.get(t).unwrap_or(&Vec::new()) != *records)
        .map(|(t, _)| t)
        .collect();
    assert!(
        differing.is_empty(),
        "{language}: sessions differ at {differing:?}"
    );
}

#[test]
fn c_plugins_built_from_source_count_exactly_alone_and_mixed_with_rust() {
    let dir = tempfile::tempdir().unwrap();
    let [split, filter, pair, sum] = build_word_count(&dir.path().join("build"), "c");
    let (counts, expected) = word_count(&dir.path().join("c"), &split, &filter, &pair, &sum);
    assert_eq!(counts.len(), expected.len());
    assert_eq!(counts, expected);
    windows_like_spark(&dir.path().join("windows"), &sum);
    stateful_like_spark(&dir.path().join("stateful"), "c", &sum);
    // Mixed: C split and sum, Rust filter and pair.
    let (counts, expected) = word_count(
        &dir.path().join("mixed"),
        &split,
        Path::new(fixtures::MIN_LENGTH),
        Path::new(fixtures::WORD_PAIR),
        &sum,
    );
    assert_eq!(counts, expected);
}

#[test]
fn zig_plugins_count_exactly_like_rust() {
    counts_like_rust("zig");
}

#[test]
fn python_plugins_count_exactly_like_rust() {
    counts_like_rust("python");
}

#[test]
fn javascript_plugins_count_exactly_like_rust() {
    counts_like_rust("javascript");
}

#[test]
fn go_plugins_count_exactly_like_rust() {
    counts_like_rust("go");
}

#[test]
fn one_pipeline_mixes_five_languages_and_counts_like_rust() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("build");
    let split = build_plugin(&build, "python", "split-words");
    let filter = build_plugin(&build, "javascript", "min-length");
    let pair = build_plugin(&build, "go", "word-pair");
    let sum = build_plugin(&build, "zig", "sum");
    let (counts, expected) = word_count(&dir.path().join("mixed"), &split, &filter, &pair, &sum);
    assert_eq!(counts, expected);
    assert_eq!(counts, rust_word_count(&dir.path().join("rust")));
}

#[test]
fn a_c_plugin_applies_its_parameters_and_refuses_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let filter = build_c(dir.path(), "min-length");
    let pipeline = dir.path().join("pipeline.toml");
    let write = |params: &str| {
        PipelineFile::new("100ms")
            .files_source("lines", "in", "include_existing = true")
            .stream(
                "long",
                "lines",
                "filter",
                &filter,
                &format!("params = {{ {params} }}"),
            )
            .text_files("files", "long", "out/long", "")
            .write(&pipeline);
    };
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/words.txt"), "a\nbb\nccc\nélan\n").unwrap();
    write("min_length = 3");
    stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let mut kept = sink_lines(dir.path(), "long");
    kept.sort();
    assert_eq!(kept, ["'ccc'", "'élan'"]);
    write("length = 3");
    let stderr = stderr_of_failure(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        stderr.contains(
            "`init` refused the parameters: unknown parameter; this operator takes `min_length`"
        ),
        "{stderr}"
    );
}

#[test]
fn plugin_build_reports_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = stderr_of_failure(&run(&["plugin", "build", dir.path().to_str().unwrap()]));
    assert!(
        stderr.contains("no plugin project here: expected Cargo.toml (Rust), go.mod (Go), plugin.zig, plugin.py or plugin.js, or *.c files, each but Rust's with a sluice-plugin.toml; `sluice plugin new NAME --lang L --op KIND` makes one"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("op.c"), "int x;\n").unwrap();
    let stderr = stderr_of_failure(&run(&["plugin", "build", dir.path().to_str().unwrap()]));
    assert!(
        stderr.contains("cannot read sluice-plugin.toml"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("sluice-plugin.toml"),
        "name = \"broken\"\nop = \"map\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("op.c"),
        "#include \"sluice.h\"\nint sluice_map(const sluice_record *in) { return undefined_name; }\n",
    )
    .unwrap();
    let stderr = stderr_of_failure(&run(&["plugin", "build", dir.path().to_str().unwrap()]));
    assert!(
        stderr.contains(": compiling with clang failed:")
            && stderr.contains("op.c:2:")
            && stderr.contains("undefined_name"),
        "{stderr}"
    );
    let clang = run_with_env(
        &["plugin", "build", dir.path().to_str().unwrap()],
        "SLUICE_CLANG",
        "/nonexistent/clang",
    );
    let stderr = stderr_of_failure(&clang);
    assert!(
        stderr.contains("/nonexistent/clang is needed to build C plugins and could not be run")
            && stderr.contains("apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"),
        "{stderr}"
    );
}

fn run_with_env(args: &[&str], key: &str, value: &str) -> std::process::Output {
    wait(
        sluice(args).env(key, value).spawn().unwrap(),
        std::time::Duration::from_secs(120),
    )
}

#[test]
fn a_missing_toolchain_fails_the_build_with_its_install_hint() {
    let dir = tempfile::tempdir().unwrap();
    for (language, variable, hint) in [
        (
            "zig",
            "SLUICE_ZIG",
            "bash scripts/install-toolchains.sh zig",
        ),
        (
            "python",
            "SLUICE_COMPONENTIZE_PY",
            "bash scripts/install-toolchains.sh python",
        ),
        (
            "javascript",
            "SLUICE_COMPONENTIZE_QJS",
            "bash scripts/install-toolchains.sh javascript",
        ),
        ("go", "SLUICE_GO", "bash scripts/install-toolchains.sh go"),
    ] {
        let project = dir.path().join(language);
        stdout_of(&plugin_new("tiny", language, "filter", &project));
        let output = run_with_env(
            &["plugin", "build", project.to_str().unwrap()],
            variable,
            "/nonexistent/tool",
        );
        let stderr = stderr_of_failure(&output);
        let language_name = match language {
            "zig" => "Zig",
            "python" => "Python",
            "javascript" => "JavaScript",
            _ => "Go",
        };
        assert!(
            stderr.contains(&format!(
                "/nonexistent/tool is needed to build {language_name} plugins and could not be run (No such file or directory (os error 2)); install"
            )) && stderr.contains(hint),
            "{stderr}"
        );
    }
}

/// What a new user does from the README, in every language: scaffold,
/// test, build, run.
#[test]
fn new_projects_build_pass_their_tests_and_run_in_every_language() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/lines.txt"), "# header\nbig data\n").unwrap();
    for language in ["rust", "c", "zig", "python", "javascript", "go"] {
        let project = dir.path().join(format!("not-comments-{language}"));
        let created = stdout_of(&plugin_new("not-comments", language, "filter", &project));
        assert!(
            created.starts_with(&format!(
                "created {language} `filter` plugin not-comments in "
            )),
            "{created}"
        );
        assert!(project.join("sluice-test.toml").is_file());
        let tested = run_long(&["plugin", "test", project.to_str().unwrap()]);
        assert_eq!(
            stdout_of(&tested),
            "ok      drops comment lines (starting with `#`)\n1 passed, 0 failed\n",
            "{language}"
        );
        let component = stdout_of(&run_long(&["plugin", "build", project.to_str().unwrap()]));
        let pipeline = PipelineFile::new("100ms")
            .files_source("lines", "in", "include_existing = true")
            .stream("kept", "lines", "filter", component.trim(), "")
            .text_files("files", "kept", &format!("out/{language}"), "")
            .write(dir.path().join(format!("{language}.toml")));
        stdout_of(&run_long(&[
            "run",
            pipeline.to_str().unwrap(),
            "--max-batches",
            "1",
        ]));
        let batches = sink_batches(dir.path(), language);
        assert_eq!(batches.len(), 1, "{language}");
        let kept: Vec<String> = batches.into_values().flatten().collect();
        assert_eq!(kept, ["'big data'"], "{language}");
    }
}

/// `sluice plugin new` of each of `kinds` (op, the name of its one test
/// case) in every language passes its own `sluice plugin test`.
fn scaffolds_pass_their_own_cases(kinds: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    for language in ["rust", "c", "zig", "python", "javascript", "go"] {
        for (op, case) in kinds {
            let project = dir.path().join(format!("{language}-{op}"));
            // A name per kind: two of these tests may build Rust scaffolds
            // at once into one CARGO_TARGET_DIR.
            let name = format!("scaffold-{}", op.replace('_', "-"));
            stdout_of(&plugin_new(&name, language, op, &project));
            let tested = stdout_of(&run_long(&["plugin", "test", project.to_str().unwrap()]));
            assert_eq!(
                tested,
                format!("ok      {case}\n1 passed, 0 failed\n"),
                "{language} {op}"
            );
        }
    }
}

#[test]
fn every_scaffold_passes_its_own_test_in_every_language() {
    scaffolds_pass_their_own_cases(&[
        ("map", "pairs each line with its length in bytes"),
        ("flat_map", "splits each line into its words"),
        ("reduce_by_key", "sums the int64 values of each key"),
    ]);
}

/// `flat_map_values` (Spark's `flatMapValues`) in every language: the
/// scaffold (each value's words) passes its test and, after `split-key`,
/// gives every word on its line's key, as PySpark's
/// `lines.map(split_key).flatMapValues(str.split)` does, with P = 1 and 4.
#[test]
fn flat_map_values_keeps_each_outputs_key_in_every_language() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(
        dir.path().join("in/lines.txt"),
        "alice: hello big  data\nbob:\ncarol: streams\nhello\n",
    )
    .unwrap();
    let expected = [
        "('', 'hello')",
        "('alice', 'big')",
        "('alice', 'data')",
        "('alice', 'hello')",
        "('carol', 'streams')",
    ];
    for language in ["rust", "c", "zig", "python", "javascript", "go"] {
        let project = dir.path().join(format!("words-{language}"));
        let created = stdout_of(&plugin_new("words", language, "flat_map_values", &project));
        assert!(
            created.starts_with(&format!(
                "created {language} `flat_map_values` plugin words in "
            )),
            "{created}"
        );
        let tested = run_long(&["plugin", "test", project.to_str().unwrap()]);
        assert_eq!(
            stdout_of(&tested),
            "ok      splits each value into its words, each on the value's key\n1 passed, 0 failed\n",
            "{language}"
        );
        let component = stdout_of(&run_long(&["plugin", "build", project.to_str().unwrap()]));
        for partitions in ["1", "4"] {
            let out = format!("out/{language}-{partitions}");
            let pipeline = PipelineFile::new("100ms")
                .files_source("lines", "in", "include_existing = true")
                .stream("keyed", "lines", "map", fixtures::SPLIT_KEY, "")
                .stream("words", "keyed", "flat_map_values", component.trim(), "")
                .text_files("files", "words", &out, "")
                .write(dir.path().join(format!("{language}.toml")));
            let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
            assert!(
                checked.contains("  stream words: flat_map_values words (")
                    && checked.contains(") (text, text) -> (text, text)\n"),
                "{checked}"
            );
            stdout_of(&run_long(&[
                "run",
                pipeline.to_str().unwrap(),
                "--partitions",
                partitions,
                "--max-batches",
                "1",
            ]));
            let mut words: Vec<String> =
                sink_batches(dir.path(), &format!("{language}-{partitions}"))
                    .into_values()
                    .flatten()
                    .collect();
            words.sort();
            assert_eq!(words, expected, "{language}, P = {partitions}");
        }
    }
}

#[test]
fn every_stateful_scaffold_passes_its_own_state_cases_in_every_language() {
    scaffolds_pass_their_own_cases(&[
        (
            "inverse_reduce",
            "subtracts the int64 values leaving a window from their totals",
        ),
        (
            "update_state_by_key",
            "keeps a running sum of the int64 values of each key",
        ),
        ("map_with_state", "numbers each key's records: 1, 2, 3, …"),
    ]);
}

/// `sluice plugin test` of a Python `flat_map` project made by `sluice
/// plugin new`, with `plugin.py` and `sluice-test.toml` replaced by
/// `source` and `cases`; its stdout and stderr (it must fail).
fn test_python_flat_map(source: &str, cases: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("words");
    stdout_of(&plugin_new("words", "python", "flat_map", &project));
    std::fs::write(project.join("plugin.py"), source).unwrap();
    std::fs::write(project.join("sluice-test.toml"), cases).unwrap();
    let output = run_long(&["plugin", "test", project.to_str().unwrap()]);
    let stderr = stderr_of_failure(&output);
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

#[test]
fn plugin_test_reports_a_failing_case_and_an_operator_error() {
    let (stdout, stderr) = test_python_flat_map(
        "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)\n\n\n\
         def flat_map(line):\n    if line == \"boom\":\n        raise ValueError(\"cannot split boom\")\n    return line.split()\n",
        "[[case]]\nname = \"splits\"\ninput = [\"a b\"]\nexpect = [\"a\", \"c\"]\n\
         [[case]]\nname = \"explodes\"\ninput = [\"x\", \"boom\"]\nexpect = []\n\
         [[case]]\nname = \"passes\"\ninput = [\"\"]\nexpect = []\n",
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "FAILED  splits: expected [\"a\", \"c\"], got [\"a\", \"b\"]"
    );
    assert!(
        lines[1].starts_with("FAILED  explodes: ")
            && lines[1].contains(
                "the operator failed on record 1 of the partition: ValueError: cannot split boom"
            ),
        "{stdout}"
    );
    // The exception's traceback comes with its message.
    assert_eq!(lines[2], "Traceback (most recent call last):", "{stdout}");
    assert!(
        lines.contains(&"    raise ValueError(\"cannot split boom\")"),
        "{stdout}"
    );
    assert_eq!(
        lines[lines.len() - 3],
        "ValueError: cannot split boom",
        "{stdout}"
    );
    assert_eq!(lines[lines.len() - 2], "ok      passes");
    assert_eq!(lines[lines.len() - 1], "1 passed, 2 failed");
    assert!(stderr.contains("2 of 3 cases failed"), "{stderr}");
}

/// A Python operator has no output streams (its WASI is stubbed): a
/// `print` fails the call with an error saying so and what to do, where it
/// used to trap ("wasm `unreachable` instruction executed"); a print at
/// import, during the build, still works.
#[test]
fn a_python_operator_that_prints_fails_with_an_error_that_says_why() {
    let (stdout, stderr) = test_python_flat_map(
        "import sluice\nimport sys\n\nprint(\"imported\")\n\n\
         SIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)\n\n\n\
         def flat_map(line):\n    if line == \"say\":\n        print(\"saw\", line)\n    \
         if line == \"warn\":\n        sys.stderr.write(\"careful\\n\")\n    \
         return line.split()\n",
        "[[case]]\nname = \"quiet\"\ninput = [\"a b\"]\nexpect = [\"a\", \"b\"]\n\
         [[case]]\nname = \"says\"\ninput = [\"x\", \"say\"]\nexpect = []\n\
         [[case]]\nname = \"warns\"\ninput = [\"warn\"]\nexpect = []\n",
    );
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("FAILED  "))
        .collect();
    let says = "a Python operator cannot print: it has no sys.stdout (operators are built with their WASI stubbed); report a value with raise sluice.OperatorError(...), or print from a Python sink";
    assert_eq!(failures.len(), 2, "{stdout}");
    assert!(
        failures[0].starts_with("FAILED  says: ")
            && failures[0].ends_with(&format!(
                "the operator failed on record 1 of the partition: RuntimeError: {says}"
            )),
        "{stdout}"
    );
    assert!(
        failures[1].ends_with(&format!(
            "the operator failed on record 0 of the partition: RuntimeError: {}",
            says.replace("sys.stdout", "sys.stderr")
        )),
        "{stdout}"
    );
    assert!(stdout.contains("ok      quiet"), "{stdout}");
    assert!(!stdout.contains("unreachable"), "{stdout}");
    assert!(stderr.contains("2 of 3 cases failed"), "{stderr}");
}

/// An exception in an interpreted guest reaches `sluice logs` (and the
/// web UI) with its traceback: Python's frames with their source lines,
/// JavaScript's stack.
#[test]
fn an_interpreted_guests_exception_is_logged_with_its_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let build = |name: &str, language: &str, file: &str, source: &str| {
        build_flat_map(dir.path(), name, language, file, source)
    };
    let python = build(
        "pyboom",
        "python",
        "plugin.py",
        "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)\n\n\n\
         def check(line):\n    if line == \"boom\":\n        raise ValueError(\"cannot split boom\")\n\n\n\
         def flat_map(line):\n    check(line)\n    return line.split()\n",
    );
    let javascript = build(
        "jsboom",
        "javascript",
        "plugin.js",
        "export const signature = { input: \"text\", output: \"text\" };\n\n\
         function check(line) {\n  if (line === \"boom\") throw new RangeError(\"cannot split boom\");\n}\n\n\
         export function flatMap(line) {\n  check(line);\n  return line.split(/\\s+/);\n}\n",
    );
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let pipeline = PipelineFile::new("300ms")
        .raw("partitions = 1")
        .files_source("lines", "in", "include_existing = true")
        .stream("py", "lines", "flat_map", &python, "on_error = \"skip\"")
        .stream(
            "js",
            "lines",
            "flat_map",
            &javascript,
            "on_error = \"skip\"",
        )
        .text_files("py_out", "py", "out/py", "")
        .text_files("js_out", "js", "out/js", "")
        .write(dir.path().join("p.toml"));
    std::fs::write(dir.path().join("in/a.txt"), "a b\nboom\n").unwrap();
    let pipeline = pipeline.to_str().unwrap();
    let running = sluice(&["run", pipeline]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let errors = loop {
        let output = run(&["logs", "-p", pipeline, "--json"]);
        let errors: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["output"] == "error")
            .collect();
        if errors.len() == 2 {
            break errors;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no errors logged: {errors:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    stdout_of(&run(&["stop", "-p", pipeline]));
    stdout_of(&wait(running, std::time::Duration::from_secs(60)));
    let text = |stream: &str| {
        errors
            .iter()
            .find(|e| e["stream"] == stream)
            .and_then(|e| e["text"].as_str())
            .unwrap()
            .to_owned()
    };
    let py = text("py");
    let lines: Vec<&str> = py.lines().collect();
    assert_eq!(lines[0], "ValueError: cannot split boom", "{py}");
    assert_eq!(lines[1], "Traceback (most recent call last):", "{py}");
    let tail = &lines[lines.len() - 5..];
    assert!(
        tail[0].ends_with("/plugin.py\", line 12, in flat_map"),
        "{py}"
    );
    assert_eq!(tail[1], "    check(line)", "{py}");
    assert!(tail[2].ends_with("/plugin.py\", line 8, in check"), "{py}");
    assert_eq!(
        tail[3], "    raise ValueError(\"cannot split boom\")",
        "{py}"
    );
    assert_eq!(tail[4], "ValueError: cannot split boom", "{py}");
    let js = text("js");
    let lines: Vec<&str> = js.lines().collect();
    assert_eq!(lines[0], "RangeError: cannot split boom", "{js}");
    assert!(
        lines[1].trim_start().starts_with("at check (") && lines[1].contains("plugin.js:4"),
        "{js}"
    );
    assert!(
        lines[2].trim_start().starts_with("at flatMap (") && lines[2].contains("plugin.js:8"),
        "{js}"
    );
}

/// A `flat_map` project `dir/name` made by `sluice plugin new` in
/// `language`, with `file` replaced by `source`, built; the component's
/// path.
fn build_flat_map(dir: &Path, name: &str, language: &str, file: &str, source: &str) -> PathBuf {
    let project = dir.join(name);
    stdout_of(&plugin_new(name, language, "flat_map", &project));
    std::fs::write(project.join(file), source).unwrap();
    let built = stdout_of(&run_long(&["plugin", "build", project.to_str().unwrap()]));
    let path = PathBuf::from(built.lines().last().unwrap());
    if path.is_absolute() {
        path
    } else {
        project.join(path)
    }
}

/// A JavaScript plugin prints with `console` (stdout for `log`, stderr
/// for `error`, as `sluice logs` shows them) and reads the batch time from
/// `Date`, as plugins in other languages read it from their clocks,
/// instead of failing on a missing `console` or a trapping clock.
#[test]
fn a_javascript_plugin_prints_with_console_and_reads_the_batch_time() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = build_flat_map(
        dir.path(),
        "jsprint",
        "javascript",
        "plugin.js",
        "export const signature = { input: \"text\", output: \"text\" };\n\n\
         export function flatMap(line) {\n  \
         console.log(\"saw\", line, { n: line.length }, 7n, [1, \"été\"], undefined);\n  \
         console.error(\"at\", new Date(Date.now()).toISOString());\n  \
         return [line, String(Date.now())];\n}\n",
    );
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let pipeline = PipelineFile::new("300ms")
        .raw("partitions = 1")
        .files_source("lines", "in", "include_existing = true")
        .stream("js", "lines", "flat_map", &plugin, "")
        .text_files("out", "js", "out/js", "")
        .write(dir.path().join("p.toml"));
    std::fs::write(dir.path().join("in/a.txt"), "a\nbb\n").unwrap();
    let pipeline = pipeline.to_str().unwrap();
    let running = sluice(&["run", pipeline]).spawn().unwrap();
    wait_for_record(dir.path(), "js", "'bb'");
    let logs = stdout_of(&run(&["logs", "js", "-p", pipeline, "--json"]));
    stdout_of(&run(&["stop", "-p", pipeline]));
    stdout_of(&wait(running, std::time::Duration::from_secs(60)));

    let entries: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text = |output: &str| {
        entries
            .iter()
            .find(|e| e["output"] == output)
            .unwrap_or_else(|| panic!("no {output} in {logs}"))
    };
    assert_eq!(
        text("stdout")["text"],
        "saw a {\"n\":1} 7n [1,\"été\"] undefined\nsaw bb {\"n\":2} 7n [1,\"été\"] undefined\n"
    );
    let batch_ms = text("stderr")["batch_time"].as_i64().unwrap();
    let iso = utc_iso(batch_ms);
    assert_eq!(
        text("stderr")["text"],
        format!("at {iso}\nat {iso}\n").as_str()
    );
    // The batch's records carry its time, a multiple of the interval.
    assert_eq!(batch_ms % 300, 0);
    let mut lines = sink_lines(dir.path(), "js");
    lines.sort();
    let when = format!("'{batch_ms}'");
    assert_eq!(lines, [when.as_str(), when.as_str(), "'a'", "'bb'"]);
}

/// JavaScript text goes through the host's `text-hints` and
/// `terminated-text`: ASCII input comes with each value followed by a NUL
/// (split in one call) and a column returned as it came goes back so; text
/// up to U+00FF comes back one byte per character and the host writes it as
/// UTF-8. Exact in every range: ASCII in with ISO-8859-1 out, a NUL inside
/// a value (sent the usual way), ISO-8859-1 keys beside values beyond it in
/// one batch, characters beyond U+00FF and U+FFFF both ways, no records.
#[test]
fn javascript_text_is_exact_in_every_range_through_the_hosts_text_help() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("degrees");
    stdout_of(&plugin_new("degrees", "javascript", "flat_map", &project));
    std::fs::write(
        project.join("plugin.js"),
        "export const signature = { input: \"text\", output: [\"text\", \"text\"] };\n\n\
         export function flatMapBatch(lines) {\n  \
         return [lines, lines.map((line) => `${line.length}\\u00b0 ${line.toUpperCase()}`)];\n}\n",
    )
    .unwrap();
    std::fs::write(
        project.join("sluice-test.toml"),
        "[[case]]\nname = \"ascii in, latin-1 out\"\ninput = [\"plain\", \"a b\", \"\"]\n\
         expect = [[\"plain\", \"5° PLAIN\"], [\"a b\", \"3° A B\"], [\"\", \"0° \"]]\n\
         [[case]]\nname = \"a nul inside\"\ninput = [\"a\\u0000b\", \"c\"]\n\
         expect = [[\"a\\u0000b\", \"3° A\\u0000B\"], [\"c\", \"1° C\"]]\n\
         [[case]]\nname = \"latin-1 keys, values beyond\"\ninput = [\"été\", \"ÿ\"]\n\
         expect = [[\"été\", \"3° ÉTÉ\"], [\"ÿ\", \"1° Ÿ\"]]\n\
         [[case]]\nname = \"beyond latin-1\"\ninput = [\"naïve €5\", \"😀 x\"]\n\
         expect = [[\"naïve €5\", \"8° NAÏVE €5\"], [\"😀 x\", \"4° 😀 X\"]]\n\
         [[case]]\nname = \"no records\"\ninput = []\nexpect = []\n",
    )
    .unwrap();
    let report = stdout_of(&run_long(&["plugin", "test", project.to_str().unwrap()]));
    assert_eq!(
        report
            .lines()
            .filter(|l| l.starts_with("ok") || l.starts_with("FAILED"))
            .collect::<Vec<_>>(),
        [
            "ok      ascii in, latin-1 out",
            "ok      a nul inside",
            "ok      latin-1 keys, values beyond",
            "ok      beyond latin-1",
            "ok      no records",
        ],
        "{report}"
    );
    let component = project.join("target/sluice/degrees.wasm");
    let inspected = stdout_of(&run(&["plugin", "inspect", component.to_str().unwrap()]));
    for interface in ["text-hints", "terminated-text"] {
        assert!(
            inspected.contains(&format!("sluice:operator/{interface}@0.3.0")),
            "{inspected}"
        );
    }
}

/// Text a JavaScript plugin returns one byte per character grows when the
/// host writes it as UTF-8; `output_mib` bounds what the host keeps, so
/// 700 000 `é`s (0.67 MiB as returned, 1.34 MiB as UTF-8) fail the batch
/// under a 1 MiB limit with the limit's error.
#[test]
fn converted_javascript_text_is_held_to_the_output_limit() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = build_flat_map(
        dir.path(),
        "accents",
        "javascript",
        "plugin.js",
        "export const signature = { input: \"text\", output: \"text\" };\n\n\
         export function flatMap(line) {\n  \
         return [line === \"big\" ? \"é\".repeat(700000) : line];\n}\n",
    );
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/a.txt"), "small\nbig\n").unwrap();
    let pipeline = PipelineFile::new("300ms")
        .raw("partitions = 1")
        .files_source("lines", "in", "include_existing = true")
        .stream(
            "js",
            "lines",
            "flat_map",
            &plugin,
            "limits = { output_mib = 1 }",
        )
        .text_files("out", "js", "out/js", "")
        .write(dir.path().join("p.toml"));
    let output = run(&["run", pipeline.to_str().unwrap(), "--max-batches", "1"]);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains(
            "returned more than 1 MiB once its text was converted to UTF-8 (limit `output_mib`); raise the limit or use smaller batches"
        ),
        "{stderr}"
    );
}

/// `ms` since the Unix epoch as JavaScript's `toISOString` writes it
/// (`2026-12-03T12:36:01.000Z`), by Howard Hinnant's `civil_from_days`.
fn utc_iso(ms: i64) -> String {
    let (days, of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[test]
fn utc_iso_writes_dates_as_javascript_does() {
    assert_eq!(utc_iso(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(utc_iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(utc_iso(1_796_301_361_250), "2026-12-03T12:36:01.250Z");
}

/// A Python component takes seconds to compile: a deploy compiles it off
/// the batch path, so batches keep coming on the running version meanwhile,
/// and the compiled code is cached on disk for the next load.
#[test]
fn deploying_a_large_guest_compiles_it_while_batches_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let python = build_plugin(&dir.path().join("build"), "python", "split-words");
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let pipeline = PipelineFile::new("100ms")
        .files_source("lines", "in", "")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .text_files("files", "words", "out/words", "")
        .write(dir.path().join("pipeline.toml"));
    // A cache of its own: the deploy must compile, not find the code.
    let cache = dir.path().join("cache");
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let _pipeline = KillOnDrop(
        sluice(&[
            "run",
            pipeline.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .env("SLUICE_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap(),
    );
    let control = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--json", "--pipeline", pipeline.to_str().unwrap()]);
        run_long(&all)
    };
    let status = || -> serde_json::Value {
        serde_json::from_str(&stdout_of(&control(&["status"]))).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !control(&["status"]).status.success() {
        assert!(std::time::Instant::now() < deadline, "no control socket");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = status()["batches"].as_u64().unwrap();
    let started = std::time::Instant::now();
    let reply: serde_json::Value = serde_json::from_str(&stdout_of(&control(&[
        "deploy",
        "words",
        python.to_str().unwrap(),
    ])))
    .unwrap();
    let took = started.elapsed();
    assert_eq!(reply["version"]["state"], "current", "{reply:#}");
    let after = status();
    let during = after["batches"].as_u64().unwrap() - before;
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        stderr.contains("compiled plugin"),
        "the deploy compiled nothing:\n{stderr}"
    );
    // 100 ms batches: while a multi-second compile ran, batches went on.
    assert!(
        during * 100 >= took.as_millis() as u64 / 2 && during >= 10,
        "{during} batches in {took:?} of deploying"
    );
    // The compiled code is in the cache, under the component's hash.
    let cached: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 10 << 20)
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    // And the new version works.
    drop_file(&dir.path().join("in"), "a.txt", b"big  data\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let words = sink_lines(dir.path(), "words");
        if !words.is_empty() {
            assert_eq!(words, ["'big'", "'data'"]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no output");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A background pipeline, killed when the test ends (or fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! Plugins in other languages, built from source with `sluice plugin build`
//! and run in the word count against the generator's exact counts, alone
//! and mixed with the Rust plugins. A missing toolchain fails the test with
//! the install hint; nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::common::*;
use sluice_test_fixtures as fixtures;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Copies `plugins/c/NAME` into `dir` and builds it with the real CLI;
/// returns the component.
fn build_c(dir: &Path, name: &str) -> PathBuf {
    let project = dir.join(name);
    std::fs::create_dir_all(&project).unwrap();
    let source = Path::new(WORKSPACE).join("plugins/c").join(name);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, project.join(path.file_name().unwrap())).unwrap();
        }
    }
    let output = run(&["plugin", "build", project.to_str().unwrap()]);
    let stdout = stdout_of(&output);
    let component = PathBuf::from(stdout.trim());
    assert_eq!(
        component,
        project
            .join("target/sluice")
            .join(format!("{}.wasm", name.replace('-', "_")))
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("built c plugin in "), "{stderr}");
    component
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
    let path = |p: &Path| toml_path(p.to_str().unwrap());
    let pipeline = dir.join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"batch_interval = "200ms"
[sources.lines]
kind = "files"
path = "in"
include_existing = true
[streams.words]
from = "lines"
op = "flat_map"
plugin = {}
[streams.long]
from = "words"
op = "filter"
plugin = {}
params = {{ min_length = 1 }}
[streams.pairs]
from = "long"
op = "map"
plugin = {}
[streams.counts]
from = "pairs"
op = "reduce_by_key"
plugin = {}
[sinks.files]
from = "counts"
kind = "text_files"
prefix = "out/counts"
format = "jsonl"
"#,
            path(split),
            path(filter),
            path(pair),
            path(sum)
        ),
    )
    .unwrap();
    stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "2",
        "--stop-when-idle",
        "2",
    ]));
    (read_counts(dir), corpus.counts.into_iter().collect())
}

#[test]
fn c_plugins_built_from_source_count_exactly_alone_and_mixed_with_rust() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("build");
    let split = build_c(&build, "split-words");
    let filter = build_c(&build, "min-length");
    let pair = build_c(&build, "word-pair");
    let sum = build_c(&build, "sum");
    for component in [&split, &filter, &pair, &sum] {
        let report = stdout_of(&run(&["plugin", "inspect", component.to_str().unwrap()]));
        assert!(report.contains("verdict:   allowed"), "{report}");
    }
    let (counts, expected) = word_count(&dir.path().join("c"), &split, &filter, &pair, &sum);
    assert_eq!(counts.len(), expected.len());
    assert_eq!(counts, expected);
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
fn a_c_plugin_applies_its_parameters_and_refuses_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let filter = build_c(dir.path(), "min-length");
    let pipeline = dir.path().join("pipeline.toml");
    let write = |params: &str| {
        std::fs::write(
            &pipeline,
            format!(
                "batch_interval = \"100ms\"\n[sources.lines]\nkind = \"files\"\npath = \"in\"\ninclude_existing = true\n\
                 [streams.long]\nfrom = \"lines\"\nop = \"filter\"\nplugin = {}\nparams = {{ {params} }}\n\
                 [sinks.files]\nfrom = \"long\"\nkind = \"text_files\"\nprefix = \"out/long\"\n",
                toml_path(filter.to_str().unwrap())
            ),
        )
        .unwrap();
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
    let mut kept = Vec::new();
    for batch in std::fs::read_dir(dir.path().join("out")).unwrap() {
        for part in std::fs::read_dir(batch.unwrap().path()).unwrap() {
            let part = part.unwrap().path();
            if part.file_name().unwrap() != "_SUCCESS" {
                kept.extend(
                    std::fs::read_to_string(part)
                        .unwrap()
                        .lines()
                        .map(str::to_owned),
                );
            }
        }
    }
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
        stderr.contains("no plugin project here: expected Cargo.toml (Rust) or *.c files with sluice-plugin.toml (C)"),
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

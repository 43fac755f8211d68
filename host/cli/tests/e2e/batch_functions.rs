//! The interpreted guests' batch functions (`map_batch`, `flat_map_batch`,
//! `filter_batch`, `reduce_batch` in Python; `mapBatch`, … in JavaScript):
//! one call over the whole partition batch, with exact outputs checked by
//! `sluice plugin test`, and the errors a wrong result gets. The bundled
//! word-count plugins of both languages are written this way, so the word
//! count tests in `languages.rs` run them through whole pipelines.

use std::path::{Path, PathBuf};

use super::common::*;
use super::languages::{plugin_new, run_long};
use sluice_test_fixtures::WORKSPACE;

/// A plugin project: `sluice plugin new` for `op`, then `source` as its
/// plugin file and `cases` as its `sluice-test.toml`.
fn project(dir: &Path, name: &str, language: &str, op: &str, source: &str, cases: &str) -> PathBuf {
    let project = dir.join(format!("{name}-{language}"));
    stdout_of(&plugin_new(name, language, op, &project));
    let file = if language == "python" {
        "plugin.py"
    } else {
        "plugin.js"
    };
    std::fs::write(project.join(file), source).unwrap();
    std::fs::write(project.join("sluice-test.toml"), cases).unwrap();
    project
}

/// `sluice plugin test` on `project`: its stdout, when every case passed.
fn passes(project: &Path) -> String {
    stdout_of(&run_long(&["plugin", "test", project.to_str().unwrap()]))
}

/// `sluice plugin test` on `project`, which must fail: its stdout.
fn fails(project: &Path) -> String {
    let output = run_long(&["plugin", "test", project.to_str().unwrap()]);
    stderr_of_failure(&output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds each of `plugins` (name, op, plugin source, test cases) in
/// `language` and checks that `sluice plugin test` passes all its cases.
fn every_case_passes(dir: &Path, language: &str, plugins: [(&str, &str, String, &str); 4]) {
    for (name, op, source, cases) in plugins {
        let project = project(dir, name, language, op, &source, cases);
        let stdout = passes(&project);
        let count = cases.matches("[[case]]").count();
        assert!(
            stdout.ends_with(&format!("{count} passed, 0 failed\n")),
            "{name}: {stdout}"
        );
    }
}

const MAP_CASES: &str = "[[case]]\nname = \"pairs each word with its length\"\n\
    input = [\"hello\", \"big\", \"\"]\nexpect = [[\"hello\", 5], [\"big\", 3], [\"\", 0]]\n\
    [[case]]\nname = \"an empty batch\"\ninput = []\nexpect = []\n";
const FILTER_CASES: &str = "[[case]]\nname = \"keeps words of three or more\"\n\
    input = [\"a\", \"big\", \"of\", \"data\"]\nexpect = [\"big\", \"data\"]\n";
const SPLIT_CASES: &str = "[[case]]\nname = \"splits at any whitespace\"\n\
    input = [\" hello big\\tdata \", \"\", \"streams\", \"été  x\"]\n\
    expect = [\"hello\", \"big\", \"data\", \"streams\", \"été\", \"x\"]\n";
const SUM_CASES: &str = "[[case]]\nname = \"sums each key\"\n\
    input = [[\"a\", 1], [\"b\", 2], [\"a\", 3], [\"a\", -10]]\nexpect = [[\"a\", -6], [\"b\", 2]]\n";

#[test]
fn python_batch_functions_give_exact_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let header = |input: &str, output: &str| {
        format!(
            "import sluice\n\nSIGNATURE = sluice.signature(input={input}, output={output})\n\n\n"
        )
    };
    let text = "sluice.TEXT";
    let pairs = "(sluice.TEXT, sluice.INT64)";
    let plugins = [
        (
            "lengths",
            "map",
            // The keys are the input tuple itself: passed through as they came.
            header(text, pairs)
                + "def map_batch(words):\n    return words, [len(w) for w in words]\n",
            MAP_CASES,
        ),
        (
            "long",
            "filter",
            header(text, text)
                + "def filter_batch(words):\n    return [len(w) >= 3 for w in words]\n",
            FILTER_CASES,
        ),
        (
            "split",
            "flat_map",
            header(text, text)
                + "def flat_map_batch(lines):\n    return \"\\n\".join(lines).split()\n",
            SPLIT_CASES,
        ),
        (
            "sum",
            "reduce_by_key",
            header("sluice.INT64", "sluice.INT64")
                + "def reduce_batch(groups):\n    return list(map(sum, groups))\n",
            SUM_CASES,
        ),
    ];
    every_case_passes(dir, "python", plugins);
}

#[test]
fn javascript_batch_functions_give_exact_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let header = |input: &str, output: &str| {
        format!("export const signature = {{ input: {input}, output: {output} }};\n\n")
    };
    let text = "\"text\"";
    let pairs = "[\"text\", \"int64\"]";
    let plugins = [
        (
            "lengths",
            "map",
            // Lengths in UTF-8 bytes would differ for non-ASCII words; these are ASCII.
            header(text, pairs)
                + "export function mapBatch(words) {\n  return [words, words.map((w) => w.length)];\n}\n",
            MAP_CASES,
        ),
        (
            "long",
            "filter",
            header(text, text)
                + "export function filterBatch(words) {\n  return words.map((w) => w.length >= 3);\n}\n",
            FILTER_CASES,
        ),
        (
            "split",
            "flat_map",
            header(text, text)
                + "export function flatMapBatch(lines) {\n  return lines.join(\"\\n\").split(/\\s+/).filter(Boolean);\n}\n",
            SPLIT_CASES,
        ),
        (
            "sum",
            "reduce_by_key",
            // Each group is a BigInt64Array; the totals a BigInt64Array too.
            header("\"int64\"", "\"int64\"")
                + "export function reduceBatch(groups) {\n  \
                   return BigInt64Array.from(groups, (g) => g.reduce((a, b) => a + b, 0n));\n}\n",
            SUM_CASES,
        ),
    ];
    every_case_passes(dir, "javascript", plugins);
}

/// The JavaScript SDK sends an output column back as the input's bytes
/// when it is the decoded input array, unchanged; an array changed in
/// place, in its characters or in where its values split, is encoded anew.
#[test]
fn javascript_input_returned_changed_in_place_is_encoded_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let source = "export const signature = { input: \"text\", output: \"text\" };\n\n\
        export function mapBatch(words) {\n\
        \x20 if (words[0] === \"upper\") words[1] = words[1].toUpperCase();\n\
        \x20 if (words[0] === \"swap\") [words[1], words[2]] = [words[2], words[1]];\n\
        \x20 if (words[0] === \"moved\") [words[1], words[2]] = [\"a\", \"bc\"];\n\
        \x20 if (words[0] === \"number\") words[1] = 7;\n\
        \x20 return words;\n\
        }\n";
    let cases = "[[case]]\nname = \"unchanged\"\ninput = [\"a\", \"bc\", \"\", \"d\"]\n\
        expect = [\"a\", \"bc\", \"\", \"d\"]\n\
        [[case]]\nname = \"unchanged, not ASCII\"\ninput = [\"été\", \"x\"]\nexpect = [\"été\", \"x\"]\n\
        [[case]]\nname = \"other characters\"\ninput = [\"upper\", \"abc\"]\n\
        expect = [\"upper\", \"ABC\"]\n\
        [[case]]\nname = \"other lengths\"\ninput = [\"swap\", \"ab\", \"c\"]\n\
        expect = [\"swap\", \"c\", \"ab\"]\n\
        [[case]]\nname = \"same text, split elsewhere\"\ninput = [\"moved\", \"ab\", \"c\"]\n\
        expect = [\"moved\", \"a\", \"bc\"]\n\
        [[case]]\nname = \"not a string\"\ninput = [\"number\", \"x\"]\nexpect = []\n";
    let project = project(dir.path(), "in-place", "javascript", "map", source, cases);
    let stdout = fails(&project);
    let lines: Vec<&str> = stdout.lines().collect();
    for (line, case) in lines.iter().zip([
        "unchanged",
        "unchanged, not ASCII",
        "other characters",
        "other lengths",
        "same text, split elsewhere",
    ]) {
        assert_eq!(*line, format!("ok      {case}"), "{stdout}");
    }
    assert!(
        lines[5].starts_with("FAILED  not a string: pipeline `plugin test`, stream `not a string`")
            && lines[5].ends_with(
                ", partition 0, attempt 1: the operator failed: output record 1: value must be a string, got number"
            ),
        "{stdout}"
    );
    assert_eq!(lines[6], "5 passed, 1 failed", "{stdout}");
}

/// A batch function that returns the wrong number of records, the wrong
/// shape or raises fails its batch with a message naming the function and
/// what it returned; an exception blames no single record.
#[test]
fn a_wrong_batch_result_fails_the_batch_naming_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let python = "import sluice\n\n\
        SIGNATURE = sluice.signature(input=sluice.TEXT, output=(sluice.TEXT, sluice.INT64))\n\n\n\
        def map_batch(words):\n\
        \x20   if \"boom\" in words:\n\
        \x20       raise ValueError(\"cannot pair boom\")\n\
        \x20   if \"short\" in words:\n\
        \x20       return words[1:], [1] * (len(words) - 1)\n\
        \x20   if \"keyless\" in words:\n\
        \x20       return [1] * len(words)\n\
        \x20   return words, [1]\n";
    let javascript = "export const signature = { input: \"text\", output: [\"text\", \"int64\"] };\n\n\
        export function mapBatch(words) {\n\
        \x20 if (words.includes(\"boom\")) throw new RangeError(\"cannot pair boom\");\n\
        \x20 if (words.includes(\"short\")) return [words.slice(1), words.slice(1).map(() => 1n)];\n\
        \x20 if (words.includes(\"keyless\")) return words.map(() => 1n);\n\
        \x20 return [words, [1n]];\n\
        }\n";
    let cases = "[[case]]\nname = \"raises\"\ninput = [\"a\", \"boom\"]\nexpect = []\n\
        [[case]]\nname = \"one short\"\ninput = [\"short\", \"b\"]\nexpect = []\n\
        [[case]]\nname = \"no keys\"\ninput = [\"keyless\"]\nexpect = []\n\
        [[case]]\nname = \"keys and values apart\"\ninput = [\"a\", \"b\"]\nexpect = []\n";
    for (language, source, name, error) in [
        (
            "python",
            python,
            "map_batch",
            "ValueError: cannot pair boom",
        ),
        (
            "javascript",
            javascript,
            "mapBatch",
            "RangeError: cannot pair boom",
        ),
    ] {
        let project = project(dir, "miscount", language, "map", source, cases);
        let stdout = fails(&project);
        let lines: Vec<&str> = stdout.lines().collect();
        // Each failure names the call (pipeline, stream, plugin and hash,
        // batch, partition, attempt), then what went wrong.
        let failure = |case: &str| {
            let prefix = format!(
                "FAILED  {case}: pipeline `plugin test`, stream `{case}`, plugin miscount (sha256 "
            );
            let line = lines
                .iter()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no failure of {case}: {stdout}"));
            assert!(line.contains(", partition 0, attempt 1: "), "{stdout}");
            line.split_once(", attempt 1: ").unwrap().1.to_owned()
        };
        // An exception: the operator failed, on no particular record.
        assert_eq!(
            failure("raises"),
            format!("the operator failed: {error}"),
            "{stdout}"
        );
        assert_eq!(
            failure("one short"),
            format!(
                "the operator failed: {name} returned 1 records for 2; it must return one per record"
            ),
            "{stdout}"
        );
        let shape = if language == "python" {
            format!(
                "the operator failed: {name} must return a (keys, values) tuple of two lists, got list"
            )
        } else {
            format!("the operator failed: {name} must return [keys, values], two arrays")
        };
        assert_eq!(failure("no keys"), shape, "{stdout}");
        assert_eq!(
            failure("keys and values apart"),
            format!("the operator failed: {name} returned 2 keys but 1 values"),
            "{stdout}"
        );
        assert_eq!(lines[lines.len() - 1], "0 passed, 4 failed", "{stdout}");
    }
}

/// The bundled `sum` plugins add without a check of their own: a total
/// outside int64 fails the batch when the SDK writes it, naming the value.
#[test]
fn the_bundled_batch_sums_refuse_a_total_outside_int64() {
    let dir = tempfile::tempdir().unwrap();
    let cases = "[[case]]\nname = \"overflows\"\n\
        input = [[\"a\", 1], [\"b\", 9223372036854775807], [\"b\", 1]]\nexpect = []\n\
        [[case]]\nname = \"fits\"\n\
        input = [[\"b\", 9223372036854775807], [\"b\", -1], [\"c\", -9223372036854775808]]\n\
        expect = [[\"b\", 9223372036854775806], [\"c\", -9223372036854775808]]\n";
    for (language, file, error) in [
        (
            "python",
            "plugin.py",
            "output value 1: value 9223372036854775808 does not fit in int64",
        ),
        (
            "javascript",
            "plugin.js",
            "value 1: value 9223372036854775808 does not fit in int64",
        ),
    ] {
        let bundled = Path::new(WORKSPACE)
            .join("plugins")
            .join(language)
            .join("sum")
            .join(file);
        let source = std::fs::read_to_string(bundled).unwrap();
        let project = project(dir.path(), "sum", language, "reduce_by_key", &source, cases);
        let stdout = fails(&project);
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(
            lines[0].starts_with(
                "FAILED  overflows: pipeline `plugin test`, stream `overflows`, plugin sum (sha256 "
            ) && lines[0].ends_with(&format!("the operator failed: {error}")),
            "{stdout}"
        );
        assert_eq!(lines[1], "ok      fits", "{stdout}");
        assert_eq!(lines[2], "1 passed, 1 failed", "{stdout}");
    }
}

//! Every pipeline-file error is refused before running, with its position,
//! and the exit status says whose the error is.

use super::common::*;
use sluice_test_fixtures as fixtures;

/// Asserts that `sluice check` refuses `pipeline` with `message` in its
/// error (and exit status 2).
fn refused_with(pipeline: PipelineFile, message: &str) {
    let stderr = check_fails(pipeline);
    assert!(stderr.contains(message), "{stderr}");
}

/// Four lines: the batch interval and the `files` source `lines`.
fn source() -> PipelineFile {
    PipelineFile::new("1s").files_source("lines", "in", "")
}

#[test]
fn unknown_keys_are_refused_with_line_and_column() {
    refused_with(
        source().table(
            "sinks.out",
            "from = \"lines\"\nkind = \"pprint\"\nnumber = 3",
        ),
        "p.toml:8:1: unknown field `number`",
    );
    refused_with(
        PipelineFile::from("batch_intervall = \"1s\"\n"),
        "p.toml:1:1: unknown field `batch_intervall`",
    );
}

#[test]
fn unknown_stream_names_are_refused() {
    refused_with(
        source()
            .stream("words", "lnes", "flat_map", fixtures::SPLIT_WORDS, "")
            .pprint("out", "words"),
        "p.toml:6:8: stream `words` reads `from = \"lnes\"`, which is no source, stream or table (known: lines, words)",
    );
    refused_with(
        source().pprint("out", "counts"),
        "p.toml:6:8: sink `out` reads `from = \"counts\"`, which is no source or stream (known: lines)",
    );
}

#[test]
fn cycles_are_refused_with_their_path() {
    refused_with(
        source()
            .stream("a", "b", "map", fixtures::WORD_PAIR, "")
            .stream("b", "a", "map", fixtures::WORD_PAIR, "")
            .pprint("out", "a"),
        "the streams form a cycle: a -> b -> a; a stream cannot depend on its own output",
    );
}

#[test]
fn missing_plugins_are_refused() {
    let stderr = check_fails(
        source()
            .stream("words", "lines", "flat_map", "nope/split.wasm", "")
            .pprint("out", "words"),
    );
    assert!(
        stderr.contains("p.toml:8:10: stream `words`: plugin file "),
        "{stderr}"
    );
    assert!(
        stderr.contains("nope/split.wasm does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_whose_input_type_does_not_match_is_refused() {
    // word-pair takes text, but `pairs` gives (text, int64).
    refused_with(
        source()
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
            .stream("again", "pairs", "map", fixtures::WORD_PAIR, "")
            .pprint("out", "again"),
        "stream `again`: plugin word_pair takes text records, but `pairs` gives (text, int64) records",
    );
    // reduce_by_key straight after a flat_map: nothing is keyed.
    refused_with(
        source()
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream("counts", "words", "reduce_by_key", fixtures::SUM, "")
            .pprint("out", "counts"),
        "stream `counts`: reduce_by_key needs keyed records, but `words` gives unkeyed text records",
    );
}

#[test]
fn a_plugin_of_another_operator_kind_is_refused() {
    refused_with(
        source()
            .stream("words", "lines", "map", fixtures::SPLIT_WORDS, "")
            .pprint("out", "words"),
        "is a `flat_map` operator (world sluice:operator/flat-map-operator@0.3.0), but the stream has `op = \"map\"`",
    );
}

#[test]
fn a_plugin_built_for_the_previous_contract_is_refused_naming_both_versions() {
    // The split-words component with every `sluice:operator@0.3.0` name
    // renamed to 0.2.0 (same length: the component stays valid), as a
    // plugin built with the previous SDK declares itself.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixtures::SPLIT_WORDS).unwrap();
    let (from, to) = (b"@0.3.0".as_slice(), b"@0.2.0".as_slice());
    let mut renamed = 0;
    for at in 0..bytes.len().saturating_sub(from.len()) {
        if &bytes[at..at + from.len()] == from && bytes[..at].ends_with(b"sluice:operator/types") {
            bytes[at..at + from.len()].copy_from_slice(to);
            renamed += 1;
        }
    }
    assert!(
        renamed > 0,
        "the component names sluice:operator/types@0.3.0"
    );
    let old = dir.path().join("split_words_0_2.wasm");
    std::fs::write(&old, bytes).unwrap();
    refused_with(
        source()
            .stream("words", "lines", "flat_map", &old, "")
            .pprint("out", "words"),
        "`sluice:operator/types@0.2.0` (built for sluice:operator@0.2.0, but this host implements sluice:operator@0.3.0: rebuild the plugin with the current SDK)",
    );
}

#[test]
fn unknown_plugin_parameters_are_refused() {
    refused_with(
        source()
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream(
                "long",
                "words",
                "filter",
                fixtures::MIN_LENGTH,
                "params = { min_lenght = 3 }",
            )
            .pprint("out", "long"),
        "`init` refused the parameters: unknown parameters: min_lenght",
    );
    refused_with(
        source()
            .stream(
                "words",
                "lines",
                "flat_map",
                fixtures::SPLIT_WORDS,
                "params = { x = 1 }",
            )
            .pprint("out", "words"),
        "this plugin takes no parameters, but was given: x",
    );
}

#[test]
fn a_pipeline_without_sinks_is_refused() {
    refused_with(source(), "the pipeline has no sink");
}

/// A sink that cannot write is the environment's error: exit status 3, so
/// a supervisor can tell it from a pipeline file to fix (2).
#[test]
fn a_sink_that_cannot_write_exits_with_the_environments_status() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/a.txt"), "a b\n").unwrap();
    // `out` is a file, so no batch directory can be made under it.
    std::fs::write(dir.path().join("out"), "not a directory").unwrap();
    let path = PipelineFile::new("100ms")
        .files_source("lines", "in", "include_existing = true")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .text_files("files", "words", "out/words", "")
        .write(dir.path().join("p.toml"));
    let output = run(&["run", path.to_str().unwrap(), "--max-batches", "1"]);
    let stderr = stderr_of_failure(&output);
    assert!(stderr.contains("error: sink `files`, batch "), "{stderr}");
    assert_eq!(output.status.code(), Some(3), "{stderr}");
}

#[test]
fn the_filter_parameter_applies() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "a bb ccc dddd bb ccc\n").unwrap();
    let path = PipelineFile::new("200ms")
        .files_source("lines", "in", "include_existing = true")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream(
            "long",
            "words",
            "filter",
            fixtures::MIN_LENGTH,
            "params = { min_length = 3 }",
        )
        .stream("pairs", "long", "map", fixtures::WORD_PAIR, "")
        .stream(
            "counts",
            "pairs",
            "reduce_by_key",
            fixtures::SUM,
            "partitions = 1",
        )
        .pprint("out", "counts")
        .write(dir.path().join("p.toml"));
    let stdout = stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--partitions",
        "1",
        "--max-batches",
        "1",
    ]));
    let records: Vec<&str> = stdout
        .lines()
        .skip(3)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(records, ["('ccc', 2)", "('dddd', 1)"]);
}

#[test]
fn numbers_out_of_range_are_refused_with_their_position() {
    let source = |top: &str| {
        PipelineFile::new("1s")
            .raw(top)
            .files_source("lines", "in", "")
            .pprint("out", "lines")
    };
    refused_with(
        source("partitions = 100000000"),
        "p.toml:2:14: `partitions` = 100000000 is out of range: it must be between 1 and 1024",
    );
    refused_with(
        source("target_partition_mib = 0"),
        "p.toml:2:24: `target_partition_mib` = 0 is out of range: it must be between 1 and 1024 MiB",
    );
    refused_with(
        source("partitions = 4\ntarget_partition_mib = 8"),
        "p.toml:2:14: `partitions` and `target_partition_mib` are both set; keep one: `partitions` fixes the count, `target_partition_mib` sizes partitions by data",
    );
    refused_with(
        source("[limits]\nmemory_mib = 4000000000"),
        "p.toml:3:14: `memory_mib` = 4000000000 is out of range: it must be between 1 and 4096 MiB",
    );
    refused_with(
        source("[limits]\ncall_time = \"1ns\""),
        "p.toml:3:13: `call_time` = \"1ns\" is out of range: it must be between 10ms and 1h",
    );
    refused_with(
        source("[limits]\ncompile_memory_mib = -5"),
        "p.toml:3:22: `compile_memory_mib` = -5 is out of range: it must be between 256 and 65536 MiB",
    );
    refused_with(
        PipelineFile::new("0s")
            .files_source("lines", "in", "")
            .pprint("out", "lines"),
        "p.toml:1:18: `batch_interval` = \"0s\" is out of range: it must be between 10ms and 1day",
    );
    let files_source = |keys: &str| {
        PipelineFile::new("1s")
            .files_source("lines", "in", keys)
            .pprint("out", "lines")
    };
    refused_with(
        files_source("max_line_bytes = 10"),
        "p.toml:5:18: `max_line_bytes` = 10 is out of range: it must be between 64 and 1073741824 bytes",
    );
    refused_with(
        files_source("max_batch_mib = 4096"),
        "p.toml:5:17: `max_batch_mib` = 4096 is out of range: it must be between 1 and 4095 MiB",
    );
    refused_with(
        PipelineFile::new("1s")
            .raw("[sources.net]\nkind = \"socket\"\nport = 9\nmax_rate = 0")
            .pprint("out", "net"),
        "p.toml:5:12: `max_rate` = 0 is out of range: it must be between 1 and 100000000 lines per second",
    );
    refused_with(
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .table(
                "sinks.out",
                "from = \"lines\"\nkind = \"pprint\"\nnum = 1000001",
            ),
        "p.toml:8:7: sink `out`: `num` = 1000001 is out of range: it must be between 0 and 100000",
    );
    refused_with(
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .text_files("a", "lines", "out/x", "")
            .text_files("b", "lines", "./out/x", ""),
        "p.toml:12:10: sinks `a` and `b` both write to prefix",
    );
}

#[test]
fn window_keys_are_checked_against_the_operator_and_the_input_slide() {
    let windowed = |keys: &str| {
        with_windowed_counts(source(), std::path::Path::new(fixtures::SUM), keys)
            .pprint("out", "recent")
    };
    refused_with(
        windowed("window_duration = \"2500ms\""),
        "p.toml:17:19: stream `recent`: `window_duration` = \"2s 500ms\" is not a multiple of its input's slide (1s); windows cover whole batches",
    );
    refused_with(
        windowed("window_duration = \"30s\"\nslide_duration = \"1500ms\""),
        "p.toml:18:18: stream `recent`: `slide_duration` = \"1s 500ms\" is not a multiple of its input's slide (1s)",
    );
    refused_with(
        windowed(""),
        "p.toml:15:6: stream `recent`: a windowed stream needs `window_duration`, e.g. \"30s\"",
    );
    refused_with(
        windowed("window_duration = \"0s\""),
        "p.toml:17:19: `window_duration` = \"0s\" is out of range: it must be between 10ms and 7days",
    );
    refused_with(
        windowed("window_duration = \"30s\"\nmax_state_mib = 0"),
        "p.toml:18:17: stream `recent`: `max_state_mib` = 0 is out of range: it must be between 1 and 1048576 MiB",
    );
    refused_with(
        source()
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream(
                "pairs",
                "words",
                "map",
                fixtures::WORD_PAIR,
                "slide_duration = \"2s\"",
            )
            .pprint("out", "pairs"),
        "p.toml:13:18: stream `pairs`: `slide_duration` applies only to windowed operators (reduce_by_key_and_window)",
    );
    // A window over a windowed stream: multiples of that stream's slide.
    refused_with(
        windowed("window_duration = \"4s\"\nslide_duration = \"2s\"").stream(
            "again",
            "recent",
            "reduce_by_key_and_window",
            fixtures::SUM,
            "window_duration = \"3s\"",
        ),
        "stream `again`: `window_duration` = \"3s\" is not a multiple of its input's slide (2s)",
    );
}

#[test]
fn host_operators_refuse_plugins_and_keyed_input_and_plugin_operators_need_one() {
    let source = || PipelineFile::new("1s").files_source("lines", "in", "");
    refused_with(
        source()
            .stream("n", "lines", "count", fixtures::SUM, "")
            .pprint("out", "n"),
        "p.toml:8:10: stream `n`: `count` is run by the host and takes no `plugin`",
    );
    refused_with(
        source()
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
            .host_stream("c", "pairs", "count_by_value", "")
            .pprint("out", "c"),
        "stream `c`: `count_by_value` counts the records of an unkeyed stream, but its input gives (text, int64) records (keyed); use reduce_by_key to combine keyed records",
    );
    refused_with(
        source()
            .host_stream("m", "lines", "map", "")
            .pprint("out", "m"),
        "p.toml:7:6: stream `m`: `map` needs `plugin`, the component that implements it",
    );
    refused_with(
        source()
            .host_stream("n", "lines", "count", "params = { x = 1 }")
            .pprint("out", "n"),
        "stream `n`: `count` is run by the host and takes no `params`",
    );
}

#[test]
fn map_values_and_reduce_refuse_inputs_they_cannot_take() {
    let words = || {
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
    };
    refused_with(
        words()
            .stream("tagged", "words", "map_values", fixtures::TAG_A, "")
            .pprint("out", "tagged"),
        "stream `tagged`: `map_values` maps the values of a keyed stream, but its input gives text records; use `map`",
    );
    refused_with(
        words()
            .stream(
                "split",
                "words",
                "flat_map_values",
                fixtures::SPLIT_WORDS,
                "",
            )
            .pprint("out", "split"),
        "stream `split`: `flat_map_values` maps the values of a keyed stream, but its input gives text records; use `flat_map`",
    );
    let pairs = || words().stream("pairs", "words", "map", fixtures::WORD_PAIR, "");
    refused_with(
        pairs()
            .stream("total", "pairs", "reduce", fixtures::SUM, "")
            .pprint("out", "total"),
        "stream `total`: `reduce` combines the records of an unkeyed stream, but its input gives (text, int64) records (keyed); use reduce_by_key to combine per key",
    );
    refused_with(
        pairs()
            .stream(
                "tens",
                "pairs",
                "map_values",
                fixtures::TIMES_TEN,
                "on_error = \"dead_letter\"",
            )
            .pprint("out", "tens"),
        "stream `tens`: `map_values` does not take on_error = \"dead_letter\" yet",
    );
    refused_with(
        words()
            .stream("keyed", "words", "map", fixtures::SPLIT_KEY, "")
            .stream(
                "split",
                "keyed",
                "flat_map_values",
                fixtures::BAD_EXPANSION,
                "on_error = \"dead_letter\"",
            )
            .pprint("out", "split"),
        "stream `split`: `flat_map_values` does not take on_error = \"dead_letter\" yet; use",
    );
}

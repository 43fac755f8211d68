//! Every pipeline-file error is refused before running, with its position.

use super::common::*;
use sluice_test_fixtures as fixtures;

/// Writes `text` as a pipeline (with `{split}`, `{pair}`, `{sum}`, `{min}`
/// replaced by plugin paths), runs `sluice check` and returns stderr.
fn check_fails(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let text = text
        .replace("{split}", &toml_path(fixtures::SPLIT_WORDS))
        .replace("{pair}", &toml_path(fixtures::WORD_PAIR))
        .replace("{sum}", &toml_path(fixtures::SUM))
        .replace("{min}", &toml_path(fixtures::MIN_LENGTH));
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    stderr_of_failure(&run(&["check", path.to_str().unwrap()]))
}

const SOURCE: &str = "batch_interval = \"1s\"\n[sources.lines]\nkind = \"files\"\npath = \"in\"\n";

#[test]
fn unknown_keys_are_refused_with_line_and_column() {
    let stderr = check_fails(&format!(
        "{SOURCE}[sinks.out]\nfrom = \"lines\"\nkind = \"pprint\"\nnumber = 3\n"
    ));
    assert!(
        stderr.contains("p.toml:8:1: unknown field `number`"),
        "{stderr}"
    );
    let stderr = check_fails("batch_intervall = \"1s\"\n");
    assert!(
        stderr.contains("p.toml:1:1: unknown field `batch_intervall`"),
        "{stderr}"
    );
}

#[test]
fn unknown_stream_names_are_refused() {
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lnes\"\nop = \"flat_map\"\nplugin = {{split}}\n[sinks.out]\nfrom = \"words\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("p.toml:6:8: stream `words` reads `from = \"lnes\"`, which is no source or stream (known: lines, words)"),
        "{stderr}"
    );
    let stderr = check_fails(&format!(
        "{SOURCE}[sinks.out]\nfrom = \"counts\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("p.toml:6:8: sink `out` reads `from = \"counts\"`, which is no source or stream (known: lines)"),
        "{stderr}"
    );
}

#[test]
fn cycles_are_refused_with_their_path() {
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.a]\nfrom = \"b\"\nop = \"map\"\nplugin = {{pair}}\n[streams.b]\nfrom = \"a\"\nop = \"map\"\nplugin = {{pair}}\n[sinks.out]\nfrom = \"a\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains(
            "the streams form a cycle: a -> b -> a; a stream cannot depend on its own output"
        ),
        "{stderr}"
    );
}

#[test]
fn missing_plugins_are_refused() {
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = \"nope/split.wasm\"\n[sinks.out]\nfrom = \"words\"\nkind = \"pprint\"\n"
    ));
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
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = {{split}}\n\
         [streams.pairs]\nfrom = \"words\"\nop = \"map\"\nplugin = {{pair}}\n\
         [streams.again]\nfrom = \"pairs\"\nop = \"map\"\nplugin = {{pair}}\n\
         [sinks.out]\nfrom = \"again\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("stream `again`: plugin word_pair takes text records, but `pairs` gives (text, int64) records"),
        "{stderr}"
    );
    // reduce_by_key straight after a flat_map: nothing is keyed.
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = {{split}}\n\
         [streams.counts]\nfrom = \"words\"\nop = \"reduce_by_key\"\nplugin = {{sum}}\n\
         [sinks.out]\nfrom = \"counts\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("stream `counts`: reduce_by_key needs keyed records, but `words` gives unkeyed text records"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_of_another_operator_kind_is_refused() {
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lines\"\nop = \"map\"\nplugin = {{split}}\n[sinks.out]\nfrom = \"words\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("is a `flat_map` operator (world sluice:operator/flat-map-operator@0.1.0), but the stream has `op = \"map\"`"),
        "{stderr}"
    );
}

#[test]
fn unknown_plugin_parameters_are_refused() {
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = {{split}}\n\
         [streams.long]\nfrom = \"words\"\nop = \"filter\"\nplugin = {{min}}\nparams = {{ min_lenght = 3 }}\n\
         [sinks.out]\nfrom = \"long\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("`init` refused the parameters: unknown parameters: min_lenght"),
        "{stderr}"
    );
    let stderr = check_fails(&format!(
        "{SOURCE}[streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = {{split}}\nparams = {{ x = 1 }}\n\
         [sinks.out]\nfrom = \"words\"\nkind = \"pprint\"\n"
    ));
    assert!(
        stderr.contains("this plugin takes no parameters, but was given: x"),
        "{stderr}"
    );
}

#[test]
fn a_pipeline_without_sinks_is_refused() {
    let stderr = check_fails(SOURCE);
    assert!(stderr.contains("the pipeline has no sink"), "{stderr}");
}

#[test]
fn the_filter_parameter_applies() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "a bb ccc dddd bb ccc\n").unwrap();
    let text = format!(
        "batch_interval = \"200ms\"\n[sources.lines]\nkind = \"files\"\npath = \"in\"\ninclude_existing = true\n\
         [streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = {split}\n\
         [streams.long]\nfrom = \"words\"\nop = \"filter\"\nplugin = {min}\nparams = {{ min_length = 3 }}\n\
         [streams.pairs]\nfrom = \"long\"\nop = \"map\"\nplugin = {pair}\n\
         [streams.counts]\nfrom = \"pairs\"\nop = \"reduce_by_key\"\nplugin = {sum}\npartitions = 1\n\
         [sinks.out]\nfrom = \"counts\"\nkind = \"pprint\"\n",
        split = toml_path(fixtures::SPLIT_WORDS),
        min = toml_path(fixtures::MIN_LENGTH),
        pair = toml_path(fixtures::WORD_PAIR),
        sum = toml_path(fixtures::SUM),
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
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

//! What the benchmarks share: their settings from the environment, the
//! word count's operators as native closures, and reading its counts back.

pub mod native;

/// The environment variable `name` parsed, or `default` when it is unset
/// or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The word counts a `text_files` sink with `prefix` and `format = "jsonl"`
/// wrote under `dir`, added up over its batches.
pub fn jsonl_counts(dir: &std::path::Path, prefix: &str) -> std::collections::HashMap<String, i64> {
    let mut counts = std::collections::HashMap::new();
    for line in sluice_test_fixtures::sink_lines(dir, prefix) {
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        *counts
            .entry(record["key"].as_str().unwrap().to_owned())
            .or_insert(0) += record["value"].as_i64().unwrap();
    }
    counts
}

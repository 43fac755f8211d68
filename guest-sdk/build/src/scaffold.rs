//! `sluice plugin new NAME --lang L --op KIND`: a plugin project that
//! builds and passes its test (`sluice plugin test`) out of the box.
//!
//! Every scaffold implements the same small operator per kind, so the
//! generated `sluice-test.toml` is the same in every language:
//!
//! - `map`: each line paired with its length in bytes;
//! - `flat_map`: each line's words;
//! - `flat_map_values`: each value's words, on the value's key;
//! - `filter`: drops comment lines (starting with `#`);
//! - `reduce_by_key`: sums int64 values per key;
//! - `inverse_reduce`: subtracts the int64 values leaving a window;
//! - `update_state_by_key`: a running sum of int64 values per key;
//! - `map_with_state`: numbers each key's records 1, 2, 3, ….
//!
//! `--op sink` makes a sink plugin that POSTs each partition batch's
//! records as JSON lines ([`sink_files`]; in every language but
//! JavaScript, whose build tool cannot import `wasi:http`).

use std::path::{Path, PathBuf};

use super::{BuildError, Language, PluginKind};
use sluice::plugin::OperatorKind;

/// A file of a new project: its path in the project and its contents.
pub type ScaffoldFile = (String, String);

/// Where the Rust SDK is, for Rust scaffolds: `SLUICE_RUST_SDK`, else the
/// source tree this binary was built from.
pub fn default_rust_sdk() -> PathBuf {
    std::env::var_os("SLUICE_RUST_SDK")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust"))
}

/// Creates the project `dir` (which must not exist or be empty) for a
/// plugin called `name`; returns the files written.
///
/// # Errors
///
/// When `name` is not a valid plugin name, `dir` is not empty, the Rust SDK
/// is missing (Rust), the language cannot build that kind (a JavaScript
/// sink), or writing fails.
pub fn create(
    dir: &Path,
    name: &str,
    language: Language,
    kind: PluginKind,
    rust_sdk: &Path,
) -> Result<Vec<PathBuf>, BuildError> {
    let unsupported = || BuildError::Project {
        dir: dir.to_path_buf(),
        message: super::javascript::SINKS_UNSUPPORTED.into(),
    };
    if kind == PluginKind::Sink && language == Language::JavaScript {
        return Err(unsupported());
    }
    let rust_sdk = prepare(dir, name, language, rust_sdk)?;
    let files = match kind {
        PluginKind::Operator(op) => files(name, language, op, &rust_sdk),
        PluginKind::Sink => sink_files(name, language, &rust_sdk).ok_or_else(unsupported)?,
    };
    write(dir, files)
}

/// What every sink scaffold does.
const SINK_SUMMARY: &str =
    "POSTs each partition batch's (key, count) records as JSON lines to `url`.";

/// A sink project's files: the same sink, and the same test, in every
/// language but JavaScript (`None`: its build tool cannot make sinks).
pub fn sink_files(name: &str, language: Language, rust_sdk: &str) -> Option<Vec<ScaffoldFile>> {
    let mut files = vec![(
        "sluice-test.toml".to_owned(),
        include_str!("../templates/sink/sluice-test.toml").to_owned(),
    )];
    if language != Language::Rust {
        files.push(manifest(name, PluginKind::Sink));
    }
    let (path, source) = match language {
        Language::Rust => {
            files.push(("Cargo.toml".into(), cargo_toml(name, rust_sdk)));
            (
                "src/lib.rs".to_owned(),
                format!(
                    "//! {name}: a Sluice sink plugin in Rust. {SINK_SUMMARY}\n\n{}",
                    include_str!("../templates/sink/lib.rs")
                ),
            )
        }
        Language::C => (
            format!("{}.c", name.replace('-', "_")),
            format!(
                "// {name}: a Sluice sink plugin in C. {SINK_SUMMARY}\n{}",
                include_str!("../templates/sink/plugin.c")
            ),
        ),
        Language::Zig => (
            super::zig::ENTRY.to_owned(),
            format!(
                "//! {name}: a Sluice sink plugin in Zig. {SINK_SUMMARY}\n{}",
                include_str!("../templates/sink/plugin.zig")
            ),
        ),
        Language::Python => (
            super::python::ENTRY.to_owned(),
            format!(
                "\"\"\"{name}: a Sluice sink plugin in Python. {SINK_SUMMARY}\"\"\"\n{}",
                include_str!("../templates/sink/plugin.py")
            ),
        ),
        Language::Go => {
            let package = go_package(name);
            files.push(go_mod(name));
            (
                "plugin.go".to_owned(),
                format!(
                    "// Package {package} is {name}: a Sluice sink plugin in Go.\n// {SINK_SUMMARY}\npackage {package}\n{}",
                    include_str!("../templates/sink/plugin.go")
                ),
            )
        }
        Language::JavaScript => return None,
    };
    files.push((path, source));
    Some(files)
}

/// A project's `sluice-plugin.toml`.
fn manifest(name: &str, kind: PluginKind) -> ScaffoldFile {
    (
        super::manifest::FILE_NAME.to_owned(),
        format!(
            "# A Sluice plugin project: `sluice plugin build .` builds it into a component.\nname = \"{name}\"\nop = \"{}\"\n",
            kind.op_name()
        ),
    )
}

/// A Go project's package name: the plugin name's letters and digits.
fn go_package(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// A Go project's `go.mod`.
fn go_mod(name: &str) -> ScaffoldFile {
    (
        "go.mod".into(),
        format!("module {name}\n\ngo 1.27\n\nrequire sluice v0.0.0\n"),
    )
}

/// Checks the plugin name and that `dir` is free; the Rust SDK's path for
/// Rust projects.
fn prepare(
    dir: &Path,
    name: &str,
    language: Language,
    rust_sdk: &Path,
) -> Result<String, BuildError> {
    let project = |message: String| BuildError::Project {
        dir: dir.to_path_buf(),
        message,
    };
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(project(format!(
            "`{name}` is not a plugin name: use lowercase letters, digits and dashes, starting with a letter"
        )));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(project(
            "already exists and is not empty; choose another NAME or --dir".into(),
        ));
    }
    if language == Language::Rust {
        let sdk = rust_sdk.canonicalize().map_err(|e| {
            project(format!(
                "the Rust SDK (sluice-guest) is not at {} ({e}); pass --rust-sdk PATH (the repository's guest-sdk/rust directory) or set SLUICE_RUST_SDK",
                rust_sdk.display()
            ))
        })?;
        Ok(sdk.display().to_string())
    } else {
        Ok(String::new())
    }
}

/// Writes `files` into `dir`; returns their paths.
fn write(dir: &Path, files: Vec<ScaffoldFile>) -> Result<Vec<PathBuf>, BuildError> {
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
        }
        std::fs::write(&path, text).map_err(BuildError::io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// The project's files.
pub fn files(
    name: &str,
    language: Language,
    op: OperatorKind,
    rust_sdk: &str,
) -> Vec<ScaffoldFile> {
    let summary = summary(op);
    let mut files = vec![("sluice-test.toml".to_owned(), test_cases(op))];
    let manifest = || manifest(name, PluginKind::Operator(op));
    match language {
        Language::Rust => {
            files.push(("Cargo.toml".into(), cargo_toml(name, rust_sdk)));
            files.push((
                "src/lib.rs".into(),
                format!(
                    "//! {name}: a Sluice `{}` operator in Rust. {summary}\n\n{}",
                    op.op_name(),
                    rust(op)
                ),
            ));
        }
        Language::C => {
            files.push(manifest());
            files.push((
                format!("{}.c", name.replace('-', "_")),
                format!(
                    "// {name}: a Sluice `{}` operator in C. {summary}\n{}",
                    op.op_name(),
                    c(op)
                ),
            ));
        }
        Language::Zig => {
            files.push(manifest());
            files.push((
                super::zig::ENTRY.into(),
                format!(
                    "//! {name}: a Sluice `{}` operator in Zig. {summary}\n{}",
                    op.op_name(),
                    zig(op)
                ),
            ));
        }
        Language::Python => {
            files.push(manifest());
            files.push((
                super::python::ENTRY.into(),
                format!(
                    "\"\"\"{name}: a Sluice `{}` operator in Python. {summary}\"\"\"\n{}",
                    op.op_name(),
                    python(op)
                ),
            ));
        }
        Language::JavaScript => {
            files.push(manifest());
            files.push((
                super::javascript::ENTRY.into(),
                format!(
                    "// {name}: a Sluice `{}` operator in JavaScript. {summary}\n{}",
                    op.op_name(),
                    javascript(op)
                ),
            ));
        }
        Language::Go => {
            let package = go_package(name);
            files.push(manifest());
            files.push(go_mod(name));
            files.push((
                "plugin.go".into(),
                format!(
                    "// Package {package} is {name}: a Sluice `{}` operator in Go. {summary}\npackage {package}\n{}",
                    op.op_name(),
                    go(op)
                ),
            ));
        }
    }
    files
}

/// A Rust plugin's `Cargo.toml`.
fn cargo_toml(name: &str, rust_sdk: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nsluice-guest = {{ path = \"{}\" }}\n\n\
         [profile.release]\nlto = true\ncodegen-units = 1\nstrip = true\n\n\
         # A project of its own, also when created inside another Cargo workspace.\n[workspace]\n",
        rust_sdk.replace('\\', "/")
    )
}

fn summary(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => "Pairs each line with its length in bytes.",
        OperatorKind::FlatMap => "Splits each line into its words.",
        OperatorKind::FlatMapValues => "Splits each value into its words, each on the value's key.",
        OperatorKind::Filter => "Drops comment lines (starting with `#`).",
        OperatorKind::ReduceByKey => "Sums the int64 values of each key.",
        OperatorKind::InverseReduce => {
            "Subtracts the int64 values leaving a window from their totals."
        }
        OperatorKind::UpdateState => "Keeps a running sum of the int64 values of each key.",
        OperatorKind::MapWithState => "Numbers each key's records: 1, 2, 3, …",
    }
}

fn test_cases(op: OperatorKind) -> String {
    let case = match op {
        OperatorKind::Map => {
            "input = [\"hello\", \"big data\", \"\"]\nexpect = [[\"hello\", 5], [\"big data\", 8], [\"\", 0]]\n"
        }
        OperatorKind::FlatMap => {
            "input = [\"hello big  data\", \"\", \"streams\"]\nexpect = [\"hello\", \"big\", \"data\", \"streams\"]\n"
        }
        OperatorKind::FlatMapValues => {
            "input = [[\"a\", \"hello big\"], [\"b\", \"\"], [\"c\", \"data\"]]\nexpect = [[\"a\", \"hello\"], [\"a\", \"big\"], [\"c\", \"data\"]]\n"
        }
        OperatorKind::Filter => {
            "input = [\"# a comment\", \"keep me\", \"\", \"#\"]\nexpect = [\"keep me\", \"\"]\n"
        }
        OperatorKind::ReduceByKey => {
            "input = [[\"a\", 1], [\"b\", 2], [\"a\", 3]]\nexpect = [[\"a\", 4], [\"b\", 2]]\n"
        }
        OperatorKind::InverseReduce => "input = [[10, 3], [5, 5]]\nexpect = [7, 0]\n",
        OperatorKind::UpdateState => {
            "input = [[\"a\", 1], [\"b\", 2], [\"a\", 3]]\nstate = [[\"a\", 10], [\"c\", 5]]\nexpect = [[\"a\", 14], [\"b\", 2], [\"c\", 5]]\n"
        }
        OperatorKind::MapWithState => {
            "input = [[\"a\", \"x\"], [\"b\", \"y\"], [\"a\", \"z\"]]\nstate = [[\"a\", 5]]\nexpect = [[\"a\", 6], [\"a\", 7], [\"b\", 1]]\n"
        }
    };
    format!(
        "# Cases for `sluice plugin test .`: each calls the built component once\n\
         # with `input` as one batch and compares its output with `expect`.\n\
         # A keyed record is a [key, value] array; `params` (optional) are the\n\
         # stream's parameters. A reducer's output is compared in any order.\n\
         # A state updater's `state` (optional) holds the [key, state] pairs\n\
         # before the batch, and `expect` every [key, state] after it; a\n\
         # state mapper's `expect` is its mapped records, key by key. An\n\
         # inverse reducer's input is [total, leaving] pairs.\n\
         [[case]]\nname = \"{}\"\n{case}",
        summary(op).trim_end_matches('.').to_lowercase()
    )
}

fn rust(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => {
            "use sluice_guest::map;\n\n#[map]\nfn with_length(line: &str) -> (&str, i64) {\n    (line, line.len() as i64)\n}\n"
        }
        OperatorKind::FlatMap => {
            "use sluice_guest::flat_map;\n\n#[flat_map]\nfn words(line: &str) -> impl Iterator<Item = &str> {\n    line.split_whitespace()\n}\n"
        }
        OperatorKind::FlatMapValues => {
            "use sluice_guest::flat_map_values;\n\n/// The value's words; the host puts each on the value's key.\n#[flat_map_values]\nfn words(value: &str) -> impl Iterator<Item = &str> {\n    value.split_whitespace()\n}\n"
        }
        OperatorKind::Filter => {
            "use sluice_guest::filter;\n\n#[filter]\nfn not_a_comment(line: &str) -> bool {\n    !line.starts_with('#')\n}\n"
        }
        OperatorKind::ReduceByKey => {
            "use sluice_guest::reduce;\n\n#[reduce]\nfn sum(a: i64, b: i64) -> i64 {\n    a.wrapping_add(b)\n}\n"
        }
        OperatorKind::MapWithState => {
            "use sluice_guest::{State, map_with_state};\n\n/// (key, n) for the key's nth record since its state began.\n#[map_with_state]\nfn number(key: &str, _value: Option<&str>, state: &mut State<i64>) -> (String, i64) {\n    let n = state.get().copied().unwrap_or(0) + 1;\n    state.update(n);\n    (key.to_owned(), n)\n}\n"
        }
        OperatorKind::InverseReduce => {
            "use sluice_guest::inverse_reduce;\n\n/// Undoes `sum`: `(a + b) - b = a`.\n#[inverse_reduce]\nfn subtract(total: i64, leaving: i64) -> i64 {\n    total.wrapping_sub(leaving)\n}\n"
        }
        OperatorKind::UpdateState => {
            "use sluice_guest::update_state;\n\n/// The key's new running sum; `None` would remove the key.\n#[update_state]\nfn running_sum(values: &[i64], state: Option<i64>) -> Option<i64> {\n    Some(values.iter().fold(state.unwrap_or(0), |sum, v| sum.wrapping_add(*v)))\n}\n"
        }
    }
}

fn c(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},\n                                           {SLUICE_TEXT, SLUICE_INT64}};\n\n\
             int sluice_map(const sluice_record *in, sluice_record *out, sluice_error *err) {\n  (void)err;\n  out->key.str = in->value.str;\n  out->value.i = (int64_t)in->value.str.len;\n  return 0;\n}\n"
        }
        OperatorKind::FlatMap => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},\n                                           {SLUICE_NO_KEY, SLUICE_TEXT}};\n\n\
             static int is_space(uint8_t c) { return c == ' ' || (c >= '\\t' && c <= '\\r'); }\n\n\
             int sluice_flat_map(const sluice_record *in, sluice_emitter *out, sluice_error *err) {\n  const uint8_t *s = in->value.str.ptr;\n  size_t len = in->value.str.len, start = 0;\n  for (size_t i = 0; i <= len; i++) {\n    if (i == len || is_space(s[i])) {\n      if (i > start) {\n        sluice_record word = {0};\n        word.value.str = (sluice_str){s + start, i - start};\n        if (sluice_emit(out, &word) != 0) return sluice_fail(err, \"out of memory\");\n      }\n      start = i + 1;\n    }\n  }\n  return 0;\n}\n"
        }
        OperatorKind::FlatMapValues => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},\n                                           {SLUICE_NO_KEY, SLUICE_TEXT}};\n\n\
             static int is_space(uint8_t c) { return c == ' ' || (c >= '\\t' && c <= '\\r'); }\n\n\
             /* The value's words; the host puts each on the value's key. */\nint sluice_flat_map_values(const sluice_value *in, sluice_emitter *out, sluice_error *err) {\n  const uint8_t *s = in->str.ptr;\n  size_t len = in->str.len, start = 0;\n  for (size_t i = 0; i <= len; i++) {\n    if (i == len || is_space(s[i])) {\n      if (i > start) {\n        sluice_record word = {0};\n        word.value.str = (sluice_str){s + start, i - start};\n        if (sluice_emit(out, &word) != 0) return sluice_fail(err, \"out of memory\");\n      }\n      start = i + 1;\n    }\n  }\n  return 0;\n}\n"
        }
        OperatorKind::Filter => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},\n                                           {SLUICE_NO_KEY, SLUICE_TEXT}};\n\n\
             int sluice_filter(const sluice_record *in, bool *keep, sluice_error *err) {\n  (void)err;\n  *keep = in->value.str.len == 0 || in->value.str.ptr[0] != '#';\n  return 0;\n}\n"
        }
        OperatorKind::ReduceByKey => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_INT64},\n                                           {SLUICE_NO_KEY, SLUICE_INT64}};\n\n\
             int sluice_reduce(const sluice_value *a, const sluice_value *b, sluice_value *out,\n                  sluice_error *err) {\n  if (__builtin_add_overflow(a->i, b->i, &out->i)) return sluice_fail(err, \"sum overflows int64\");\n  return 0;\n}\n"
        }
        OperatorKind::InverseReduce => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_INT64},\n                                           {SLUICE_NO_KEY, SLUICE_INT64}};\n\n/* Undoes the sum: (a + b) - b = a. */\nint sluice_inverse_reduce(const sluice_value *total, const sluice_value *leaving,\n                          sluice_value *out, sluice_error *err) {\n  if (__builtin_sub_overflow(total->i, leaving->i, &out->i)) {\n    return sluice_fail(err, \"difference overflows int64\");\n  }\n  return 0;\n}\n"
        }
        OperatorKind::UpdateState => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_INT64},\n                                           {SLUICE_NO_KEY, SLUICE_INT64}};\n\n/* The key's new running sum (state is NULL for a new key); setting *keep\n * to false would remove the key. */\nint sluice_update_state(const sluice_value *values, size_t count, const sluice_value *state,\n                        sluice_value *out, bool *keep, sluice_error *err) {\n  (void)err;\n  uint64_t sum = state != NULL ? (uint64_t)state->i : 0;\n  for (size_t i = 0; i < count; i++) sum += (uint64_t)values[i].i;\n  out->i = (int64_t)sum;\n  *keep = true;\n  return 0;\n}\n"
        }
        OperatorKind::MapWithState => {
            "#include \"sluice.h\"\n\nconst sluice_signature SLUICE_SIGNATURE = {{SLUICE_TEXT, SLUICE_TEXT},\n                                           {SLUICE_TEXT, SLUICE_INT64}};\nconst sluice_type SLUICE_STATE_TYPE = SLUICE_INT64;\n\n/* (key, n) for the key's nth record since its state began (value is NULL\n * when the key times out). */\nint sluice_map_with_state(const sluice_value *key, const sluice_value *value,\n                          sluice_state *state, sluice_record *out, sluice_error *err) {\n  (void)value;\n  (void)err;\n  int64_t n = (state->exists ? state->value.i : 0) + 1;\n  state->value.i = n;\n  state->exists = true;\n  out->key = *key;\n  out->value.i = n;\n  return 0;\n}\n"
        }
    }
}

fn zig(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => {
            "const sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .key = .text, .value = .int64 });\n\n\
             export fn sluice_map(in: *const sluice.Record, out: *sluice.Record, err: *sluice.Error) c_int {\n    _ = err;\n    out.* = .{ .key = .{ .str = in.value.str }, .value = .{ .i = @intCast(in.value.str.len) } };\n    return 0;\n}\n"
        }
        OperatorKind::FlatMap => {
            "const std = @import(\"std\");\nconst sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .value = .text });\n\n\
             export fn sluice_flat_map(in: *const sluice.Record, out: *sluice.Emitter, err: *sluice.Error) c_int {\n    var words = std.mem.tokenizeAny(u8, in.value.str.slice(), \" \\t\\n\\r\\x0b\\x0c\");\n    while (words.next()) |word| {\n        out.emit(.{ .value = .{ .str = sluice.Str.of(word) } }) catch return err.fail(\"out of memory\");\n    }\n    return 0;\n}\n"
        }
        OperatorKind::FlatMapValues => {
            "const std = @import(\"std\");\nconst sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .value = .text });\n\n\
             /// The value's words; the host puts each on the value's key.\nexport fn sluice_flat_map_values(in: *const sluice.Value, out: *sluice.Emitter, err: *sluice.Error) c_int {\n    var words = std.mem.tokenizeAny(u8, in.str.slice(), \" \\t\\n\\r\\x0b\\x0c\");\n    while (words.next()) |word| {\n        out.emit(.{ .value = .{ .str = sluice.Str.of(word) } }) catch return err.fail(\"out of memory\");\n    }\n    return 0;\n}\n"
        }
        OperatorKind::Filter => {
            "const std = @import(\"std\");\nconst sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .value = .text });\n\n\
             export fn sluice_filter(in: *const sluice.Record, keep: *bool, err: *sluice.Error) c_int {\n    _ = err;\n    keep.* = !std.mem.startsWith(u8, in.value.str.slice(), \"#\");\n    return 0;\n}\n"
        }
        OperatorKind::ReduceByKey => {
            "const sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .int64 }, .{ .value = .int64 });\n\n\
             export fn sluice_reduce(a: *const sluice.Value, b: *const sluice.Value, out: *sluice.Value, err: *sluice.Error) c_int {\n    const sum, const overflow = @addWithOverflow(a.i, b.i);\n    if (overflow != 0) return err.fail(\"sum overflows int64\");\n    out.i = sum;\n    return 0;\n}\n"
        }
        OperatorKind::InverseReduce => {
            "const sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .int64 }, .{ .value = .int64 });\n\n/// Undoes the sum: (a + b) - b = a.\nexport fn sluice_inverse_reduce(total: *const sluice.Value, leaving: *const sluice.Value, out: *sluice.Value, err: *sluice.Error) c_int {\n    const difference, const overflow = @subWithOverflow(total.i, leaving.i);\n    if (overflow != 0) return err.fail(\"difference overflows int64\");\n    out.i = difference;\n    return 0;\n}\n"
        }
        OperatorKind::UpdateState => {
            "const sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .value = .int64 }, .{ .value = .int64 });\n\n/// The key's new running sum (`state` is null for a new key); setting\n/// `keep` to false would remove the key.\nexport fn sluice_update_state(values: [*]const sluice.Value, count: usize, state: ?*const sluice.Value, out: *sluice.Value, keep: *bool, err: *sluice.Error) c_int {\n    _ = err;\n    var sum: i64 = if (state) |s| s.i else 0;\n    for (values[0..count]) |v| sum +%= v.i;\n    out.i = sum;\n    keep.* = true;\n    return 0;\n}\n"
        }
        OperatorKind::MapWithState => {
            "const sluice = @import(\"sluice\");\n\nexport const SLUICE_SIGNATURE = sluice.signature(.{ .key = .text, .value = .text }, .{ .key = .text, .value = .int64 });\nexport const SLUICE_STATE_TYPE: sluice.Type = .int64;\n\n/// (key, n) for the key's nth record since its state began (`value` is\n/// null when the key times out).\nexport fn sluice_map_with_state(key: *const sluice.Value, value: ?*const sluice.Value, state: *sluice.State, out: *sluice.Record, err: *sluice.Error) c_int {\n    _ = value;\n    _ = err;\n    const n: i64 = (if (state.exists) state.value.i else 0) + 1;\n    state.value.i = n;\n    state.exists = true;\n    out.* = .{ .key = key.*, .value = .{ .i = n } };\n    return 0;\n}\n"
        }
    }
}

fn python(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.TEXT, output=(sluice.TEXT, sluice.INT64))\n\n\ndef map(line):\n    return (line, len(line.encode()))\n"
        }
        OperatorKind::FlatMap => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)\n\n\ndef flat_map(line):\n    return line.split()\n"
        }
        OperatorKind::FlatMapValues => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)\n\n\ndef flat_map_values(value):\n    \"\"\"The value's words; the host puts each on the value's key.\"\"\"\n    return value.split()\n"
        }
        OperatorKind::Filter => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)\n\n\ndef filter(line):\n    return not line.startswith(\"#\")\n"
        }
        OperatorKind::ReduceByKey => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)\n\n\ndef reduce(a, b):\n    total = a + b\n    if not -(2**63) <= total < 2**63:\n        raise sluice.OperatorError(\"sum overflows int64\")\n    return total\n"
        }
        OperatorKind::InverseReduce => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)\n\n\ndef inverse_reduce(total, leaving):\n    \"\"\"Undoes the sum: (a + b) - b = a.\"\"\"\n    difference = total - leaving\n    if not -(2**63) <= difference < 2**63:\n        raise sluice.OperatorError(\"difference overflows int64\")\n    return difference\n"
        }
        OperatorKind::UpdateState => {
            "import sluice\n\nSIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)\n\n\ndef update_state(values, state):\n    \"\"\"The key's new running sum (state is None for a new key); returning\n    None would remove the key.\"\"\"\n    total = sum(values) + (state or 0)\n    return ((total + 2**63) % 2**64) - 2**63\n"
        }
        OperatorKind::MapWithState => {
            "import sluice\n\nSIGNATURE = sluice.signature(\n    input=(sluice.TEXT, sluice.TEXT), output=(sluice.TEXT, sluice.INT64)\n)\nSTATE_TYPE = sluice.INT64\n\n\ndef map_with_state(key, value, state):\n    \"\"\"(key, n) for the key's nth record since its state began (value is\n    None when the key times out).\"\"\"\n    n = (state.get() or 0) + 1\n    state.update(n)\n    return (key, n)\n"
        }
    }
}

fn javascript(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => {
            "export const signature = { input: \"text\", output: [\"text\", \"int64\"] };\n\n\
             export function map(line) {\n  let bytes = 0;\n  for (const c of line) {\n    const cp = c.codePointAt(0);\n    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;\n  }\n  return [line, bytes];\n}\n"
        }
        OperatorKind::FlatMap => {
            "export const signature = { input: \"text\", output: \"text\" };\n\n\
             export function flatMap(line) {\n  return line.split(/\\s+/).filter((word) => word.length > 0);\n}\n"
        }
        OperatorKind::FlatMapValues => {
            "export const signature = { input: \"text\", output: \"text\" };\n\n\
             // The value's words; the host puts each on the value's key.\nexport function flatMapValues(value) {\n  return value.split(/\\s+/).filter((word) => word.length > 0);\n}\n"
        }
        OperatorKind::Filter => {
            "export const signature = { input: \"text\", output: \"text\" };\n\n\
             export function filter(line) {\n  return !line.startsWith(\"#\");\n}\n"
        }
        OperatorKind::ReduceByKey => {
            "export const signature = { input: \"int64\", output: \"int64\" };\n\n\
             export function reduce(a, b) {\n  const total = a + b;\n  if (total < -(2n ** 63n) || total >= 2n ** 63n) throw new Error(\"sum overflows int64\");\n  return total;\n}\n"
        }
        OperatorKind::InverseReduce => {
            "export const signature = { input: \"int64\", output: \"int64\" };\n\n// Undoes the sum: (a + b) - b = a.\nexport function inverseReduce(total, leaving) {\n  const difference = total - leaving;\n  if (difference < -(2n ** 63n) || difference >= 2n ** 63n) throw new Error(\"difference overflows int64\");\n  return difference;\n}\n"
        }
        OperatorKind::UpdateState => {
            "export const signature = { input: \"int64\", output: \"int64\" };\n\n// The key's new running sum (state is undefined for a new key); returning\n// undefined would remove the key.\nexport function updateState(values, state) {\n  let total = state ?? 0n;\n  for (const v of values) total += v;\n  return BigInt.asIntN(64, total);\n}\n"
        }
        OperatorKind::MapWithState => {
            "export const signature = { input: [\"text\", \"text\"], output: [\"text\", \"int64\"] };\nexport const stateType = \"int64\";\n\n// [key, n] for the key's nth record since its state began (value is\n// undefined when the key times out).\nexport function mapWithState(key, value, state) {\n  const n = (state.get() ?? 0n) + 1n;\n  state.update(n);\n  return [key, n];\n}\n"
        }
    }
}

fn go(op: OperatorKind) -> &'static str {
    match op {
        OperatorKind::Map => {
            "\nimport \"sluice\"\n\n// Signature: lines of text in, (line, length) pairs out.\nvar Signature = sluice.Signature{\n\tInput:  sluice.RecordType{Value: sluice.Text},\n\tOutput: sluice.RecordType{Key: sluice.Text, Value: sluice.Int64},\n}\n\n\
             // Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n\
             // Map pairs the line with its length in bytes.\nfunc Map(in sluice.Record) (sluice.Record, error) {\n\treturn sluice.Record{Key: in.Value, Value: sluice.IntValue(int64(len(in.Value.Text)))}, nil\n}\n"
        }
        OperatorKind::FlatMap => {
            "\nimport (\n\t\"strings\"\n\n\t\"sluice\"\n)\n\n// Signature: lines of text in, words out.\nvar Signature = sluice.Signature{\n\tInput:  sluice.RecordType{Value: sluice.Text},\n\tOutput: sluice.RecordType{Value: sluice.Text},\n}\n\n\
             // Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n\
             // FlatMap emits each word of the line.\nfunc FlatMap(in sluice.Record, emit func(sluice.Record)) error {\n\tfor _, word := range strings.Fields(in.Value.Text) {\n\t\temit(sluice.Record{Value: sluice.TextValue(word)})\n\t}\n\treturn nil\n}\n"
        }
        OperatorKind::FlatMapValues => {
            "\nimport (\n\t\"strings\"\n\n\t\"sluice\"\n)\n\n// Signature: text values in, text values out (the host keeps the keys).\nvar Signature = sluice.Signature{\n\tInput:  sluice.RecordType{Value: sluice.Text},\n\tOutput: sluice.RecordType{Value: sluice.Text},\n}\n\n\
             // Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n\
             // FlatMapValues emits the value's words; the host puts each on the value's key.\nfunc FlatMapValues(in sluice.Value, emit func(sluice.Value)) error {\n\tfor _, word := range strings.Fields(in.Text) {\n\t\temit(sluice.TextValue(word))\n\t}\n\treturn nil\n}\n"
        }
        OperatorKind::Filter => {
            "\nimport (\n\t\"strings\"\n\n\t\"sluice\"\n)\n\n// Signature: lines of text in, the same out.\nvar Signature = sluice.Signature{\n\tInput:  sluice.RecordType{Value: sluice.Text},\n\tOutput: sluice.RecordType{Value: sluice.Text},\n}\n\n\
             // Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n\
             // Filter keeps lines that are not comments.\nfunc Filter(in sluice.Record) (bool, error) {\n\treturn !strings.HasPrefix(in.Value.Text, \"#\"), nil\n}\n"
        }
        OperatorKind::ReduceByKey => {
            "\nimport (\n\t\"errors\"\n\n\t\"sluice\"\n)\n\n// Signature: int64 values of any key, summed.\nvar Signature = sluice.Signature{\n\tInput:  sluice.RecordType{Value: sluice.Int64},\n\tOutput: sluice.RecordType{Value: sluice.Int64},\n}\n\n\
             // Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n\
             // Reduce adds two values, refusing to overflow.\nfunc Reduce(a, b sluice.Value) (sluice.Value, error) {\n\tsum := a.Int + b.Int\n\tif (a.Int >= 0) == (b.Int >= 0) && (sum >= 0) != (a.Int >= 0) {\n\t\treturn sluice.Value{}, errors.New(\"sum overflows int64\")\n\t}\n\treturn sluice.IntValue(sum), nil\n}\n"
        }
        OperatorKind::InverseReduce => {
            "\nimport (\n	\"errors\"\n\n	\"sluice\"\n)\n\n// Signature: int64 values of any key.\nvar Signature = sluice.Signature{\n	Input:  sluice.RecordType{Value: sluice.Int64},\n	Output: sluice.RecordType{Value: sluice.Int64},\n}\n\n// Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n// InverseReduce undoes the sum, (a + b) - b = a, refusing to overflow.\nfunc InverseReduce(total, leaving sluice.Value) (sluice.Value, error) {\n	difference := total.Int - leaving.Int\n	if (total.Int >= 0) != (leaving.Int >= 0) && (difference >= 0) != (total.Int >= 0) {\n		return sluice.Value{}, errors.New(\"difference overflows int64\")\n	}\n	return sluice.IntValue(difference), nil\n}\n"
        }
        OperatorKind::UpdateState => {
            "\nimport \"sluice\"\n\n// Signature: int64 values of any key; the state is an int64 too.\nvar Signature = sluice.Signature{\n	Input:  sluice.RecordType{Value: sluice.Int64},\n	Output: sluice.RecordType{Value: sluice.Int64},\n}\n\n// Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n// UpdateState gives the key's new running sum (state is nil for a new\n// key); returning a nil state would remove the key.\nfunc UpdateState(values []sluice.Value, state *sluice.Value) (*sluice.Value, error) {\n	var sum int64\n	if state != nil {\n		sum = state.Int\n	}\n	for _, v := range values {\n		sum += v.Int\n	}\n	next := sluice.IntValue(sum)\n	return &next, nil\n}\n"
        }
        OperatorKind::MapWithState => {
            "\nimport \"sluice\"\n\n// Signature: (key, text) in, (key, n) out.\nvar Signature = sluice.Signature{\n	Input:  sluice.RecordType{Key: sluice.Text, Value: sluice.Text},\n	Output: sluice.RecordType{Key: sluice.Text, Value: sluice.Int64},\n}\n\n// StateType: the number of the key's records so far.\nvar StateType = sluice.Int64\n\n// Init takes no parameters.\nfunc Init(params map[string]string) error { return sluice.NoParams(params) }\n\n// MapWithState gives (key, n) for the key's nth record since its state\n// began (value is nil when the key times out).\nfunc MapWithState(key sluice.Value, value *sluice.Value, state *sluice.State) (sluice.Record, error) {\n	n := int64(1)\n	if v, ok := state.Get(); ok {\n		n = v.Int + 1\n	}\n	state.Update(sluice.IntValue(n))\n	return sluice.Record{Key: key, Value: sluice.IntValue(n)}, nil\n}\n"
        }
    }
}

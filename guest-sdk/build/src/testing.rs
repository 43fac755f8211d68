//! `sluice plugin test DIR`: the project's `sluice-test.toml` cases, each
//! one call of the built component through the real engine and sandbox.
//!
//! ```toml
//! [[case]]
//! name = "splits a line into words"
//! input = ["hello big data"]        # a keyed record is [key, value]
//! expect = ["hello", "big", "data"]
//! params = { min_length = 2 }       # optional
//! ```
//!
//! Values are TOML strings (text, JSON; bytes as UTF-8), integers (int64)
//! or floats (float64), as the operator's signature says. A reducer's
//! output is compared in any order, since its order is unspecified.
//!
//! An inverse reducer's `input` is `[total, leaving]` pairs and its
//! `expect` the values it gives, in order.
//!
//! A state updater's case may add `state = [["a", 10]]`, the (key, state)
//! pairs before the batch; its `expect` is every (key, state) after the
//! batch, in any order, as the stream would give them.
//!
//! A sink's case gives the URLs it may reach, `allow = ["http://…"]` (none
//! by default, as in a pipeline file), and `expect`s the requests it makes,
//! in order, as `{ method, url, body }` tables (add `headers = { name =
//! "value" }` to check headers too). Nothing is sent: each granted request
//! is recorded and answered `200` with an empty body. The call's batch
//! time is 0 (the epoch), its partition 0 of 1, attempt 1.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use sluice::batch::{Batch, Column, RecordType, ValueType, Varlen};
use sluice::plugin::error::{CallSite, Phase};
use sluice::plugin::http_grant::{AllowedUrl, Delivery, HttpAllowance, RecordedRequest};
use sluice::plugin::sink_plugin::{SinkBatch, SinkPlugin, sink_interface};
use sluice::plugin::{Limits, OperatorKind, Param, PluginEngine};
use sluice::state::{KeyedState, Prepared, Selection, kept_states};
use sluice::time::BatchTime;

/// The cases file's name.
pub const FILE_NAME: &str = "sluice-test.toml";

/// Why the cases could not be run (a case that fails is not an error: see
/// [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The cases file is missing or malformed.
    #[error("{path}: {message}")]
    Cases {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The component could not be loaded.
    #[error(transparent)]
    Load(#[from] sluice::plugin::error::LoadError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    input: Vec<toml::Value>,
    expect: Vec<toml::Value>,
    #[serde(default)]
    params: toml::Table,
    /// A state updater's (key, state) pairs before the batch.
    #[serde(default)]
    state: Vec<toml::Value>,
    /// A sink's allowlist.
    #[serde(default)]
    allow: Vec<String>,
}

/// The outcome of every case.
#[derive(Debug)]
pub struct Report {
    /// One line per case: `ok NAME` or `FAILED NAME: ...`.
    pub text: String,
    /// How many cases passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
}

/// Runs the cases in `dir/sluice-test.toml` against `component`.
///
/// # Errors
///
/// When the cases file is missing or malformed, or the component cannot be
/// loaded with a case's parameters (reported as that case failing when
/// `init` refuses them).
pub fn run(engine: &PluginEngine, dir: &Path, component: &Path) -> Result<Report, TestError> {
    let path = dir.join(FILE_NAME);
    let cases_error = |message: String| TestError::Cases {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        cases_error(format!(
            "cannot read it ({e}); it holds `[[case]]` tables with `name`, `input` and `expect`"
        ))
    })?;
    let file: CasesFile =
        toml::from_str(&text).map_err(|e| cases_error(e.message().trim_end().to_owned()))?;
    if file.cases.is_empty() {
        return Err(cases_error("no `[[case]]` in it".into()));
    }
    let mut report = Report {
        text: String::new(),
        passed: 0,
        failed: 0,
    };
    let compiled = engine.compile_file(component, &Limits::default())?;
    let sink = compiled
        .component
        .get_export_index(None, sink_interface())
        .is_some();
    for case in &file.cases {
        let outcome = if sink {
            run_sink_case(engine, component, &compiled, case)
        } else {
            run_case(engine, component, &compiled, case)
        };
        match outcome {
            Ok(()) => {
                report.passed += 1;
                let _ = writeln!(report.text, "ok      {}", case.name);
            }
            Err(message) => {
                report.failed += 1;
                let _ = writeln!(report.text, "FAILED  {}: {message}", case.name);
            }
        }
    }
    Ok(report)
}

fn run_case(
    engine: &PluginEngine,
    component: &Path,
    compiled: &sluice::plugin::engine::Compiled,
    case: &Case,
) -> Result<(), String> {
    if !case.allow.is_empty() {
        return Err("`allow` applies to sink plugins only".into());
    }
    let params = Param::from_toml(&case.params);
    let plugin = engine
        .load_compiled(component, compiled, None, params, Limits::default())
        .map_err(|e| e.to_string())?;
    let signature = plugin.signature();
    let kind = plugin.kind();
    let keeps_state = matches!(kind, OperatorKind::UpdateState | OperatorKind::MapWithState);
    if !case.state.is_empty() && !keeps_state {
        return Err(format!(
            "`state` applies to update_state_by_key and map_with_state plugins only; this one is a `{kind}` operator"
        ));
    }
    let input_type = match kind {
        // A reducer, state updater or value flat-mapper takes any key
        // type: the case's keys say which.
        OperatorKind::ReduceByKey
        | OperatorKind::UpdateState
        | OperatorKind::MapWithState
        | OperatorKind::FlatMapValues => RecordType {
            key: case
                .input
                .first()
                .and_then(|r| r.as_array())
                .and_then(|pair| pair.first())
                .map(toml_type)
                .or(Some(ValueType::Text)),
            value: signature.input.value,
        },
        _ => signature.input,
    };
    // (key, state), as the host keeps them.
    let state_type = RecordType {
        key: input_type.key,
        value: plugin.state_type().unwrap_or(signature.output.value),
    };
    let output_type = match kind {
        OperatorKind::ReduceByKey => input_type,
        OperatorKind::UpdateState | OperatorKind::FlatMapValues => RecordType {
            key: input_type.key,
            value: signature.output.value,
        },
        _ => signature.output,
    };
    let site = CallSite {
        pipeline: "plugin test".into(),
        stream: case.name.clone(),
        plugin: plugin.name().to_owned(),
        hash: plugin.hash().to_owned(),
        // The plugin's clocks read this, as they read a batch's time.
        batch_time: BatchTime::now(),
        partition: 0,
        phase: Phase::Only,
        shadow: false,
        attempt: 1,
    };
    if kind == OperatorKind::InverseReduce {
        let value_type = signature.input.value;
        let mut totals = Column::empty(value_type);
        let mut leaving = Column::empty(value_type);
        for (i, pair) in case.input.iter().enumerate() {
            let Some([total, gone]) = pair
                .as_array()
                .and_then(|p| <&[_; 2]>::try_from(p.as_slice()).ok())
            else {
                return Err(format!(
                    "input record {i}: an inverse reducer's input is a [total, leaving] pair"
                ));
            };
            push(&mut totals, total).map_err(|e| format!("input record {i}: total {e}"))?;
            push(&mut leaving, gone).map_err(|e| format!("input record {i}: leaving value {e}"))?;
        }
        let values = plugin
            .uncombine(engine, &totals, &leaving, value_type, &site)
            .map_err(|e| e.to_string())?;
        let got = values_of(
            &Batch { keys: None, values },
            RecordType {
                key: None,
                value: value_type,
            },
        );
        return compare(got, case.expect.clone());
    }
    let input = batch_of(&case.input, input_type).map_err(|e| format!("input {e}"))?;
    let output = if keeps_state {
        let before = batch_of(&case.state, state_type).map_err(|e| format!("state {e}"))?;
        if let Some(duplicate) = KeyedState::duplicate_key(&before) {
            return Err(format!("state: {duplicate}"));
        }
        let state = KeyedState::load(1, state_type, &before);
        let selection = match kind {
            OperatorKind::MapWithState => Selection::Touched { idle_before: None },
            _ => Selection::All,
        };
        let Prepared { input, .. } = state.prepare(0..1, &input, selection);
        if kind == OperatorKind::MapWithState {
            plugin
                .map_with_state(engine, &input, state_type.value, output_type, &site)
                .map_err(|e| e.to_string())?
                .mapped
        } else {
            let update = plugin
                .update_state(engine, &input.state, state_type.value, &site)
                .map_err(|e| e.to_string())?;
            kept_states(input, update)
        }
    } else {
        plugin
            .call(engine, &input, output_type, &site)
            .map_err(|e| e.to_string())?
    };
    let mut got = values_of(&output, output_type);
    let mut expected = case.expect.clone();
    if matches!(kind, OperatorKind::ReduceByKey | OperatorKind::UpdateState) {
        got.sort_by_key(toml::Value::to_string);
        expected.sort_by_key(toml::Value::to_string);
    }
    compare(got, expected)
}

/// A sink's case: one `write` of the input, its requests recorded.
fn run_sink_case(
    engine: &PluginEngine,
    component: &Path,
    compiled: &sluice::plugin::engine::Compiled,
    case: &Case,
) -> Result<(), String> {
    if !case.state.is_empty() {
        return Err("`state` applies to update_state_by_key and map_with_state plugins only; this one is a sink".into());
    }
    let urls = case
        .allow
        .iter()
        .map(|url| AllowedUrl::parse(url))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("allow: {e}"))?;
    let allowance = HttpAllowance {
        urls,
        ..HttpAllowance::default()
    };
    let params = Param::from_toml(&case.params);
    let plugin = SinkPlugin::load_compiled(
        engine,
        component,
        compiled,
        params,
        Limits::default(),
        allowance,
    )
    .map_err(|e| e.to_string())?;
    let input = batch_of(&case.input, plugin.record_type()).map_err(|e| format!("input {e}"))?;
    let site = CallSite {
        pipeline: "plugin test".into(),
        stream: case.name.clone(),
        plugin: plugin.name().to_owned(),
        hash: plugin.hash().to_owned(),
        batch_time: BatchTime(0),
        partition: 0,
        phase: Phase::Sink,
        shadow: false,
        attempt: 1,
    };
    let info = SinkBatch {
        pipeline: "plugin-test".into(),
        sink: case.name.clone(),
        batch_time_ms: 0,
        partition: 0,
        partitions: 1,
        attempt: 1,
    };
    let requests = Arc::new(Mutex::new(Vec::new()));
    plugin
        .write_blocking(
            engine,
            info,
            &input,
            &site,
            Delivery::Record(requests.clone()),
        )
        .map_err(|e| e.to_string())?;
    let requests = std::mem::take(&mut *requests.lock().unwrap_or_else(|p| p.into_inner()));
    let got = requests
        .iter()
        .zip(case.expect.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(request, expected)| request_table(request, expected))
        .collect();
    compare(got, case.expect.clone())
}

/// A recorded request as a case's `expect` writes it; headers only when
/// `expected` checks them, and only those it names.
fn request_table(request: &RecordedRequest, expected: Option<&toml::Value>) -> toml::Value {
    let mut table = toml::Table::new();
    table.insert("method".into(), request.method.clone().into());
    table.insert("url".into(), request.url.clone().into());
    table.insert(
        "body".into(),
        String::from_utf8_lossy(&request.body).into_owned().into(),
    );
    if let Some(wanted) = expected
        .and_then(|e| e.get("headers"))
        .and_then(toml::Value::as_table)
    {
        let headers: toml::Table = wanted
            .keys()
            .filter_map(|name| {
                let lower = name.to_ascii_lowercase();
                request
                    .headers
                    .iter()
                    .find(|(n, _)| *n == lower)
                    .map(|(_, v)| (name.clone(), toml::Value::from(v.clone())))
            })
            .collect();
        table.insert("headers".into(), headers.into());
    }
    toml::Value::Table(table)
}

/// Whether a case's output is what it expects.
fn compare(got: Vec<toml::Value>, expected: Vec<toml::Value>) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "expected {}, got {}",
            toml::Value::Array(expected),
            toml::Value::Array(got)
        ))
    }
}

fn toml_type(value: &toml::Value) -> ValueType {
    match value {
        toml::Value::Integer(_) => ValueType::Int64,
        toml::Value::Float(_) => ValueType::Float64,
        _ => ValueType::Text,
    }
}

fn batch_of(records: &[toml::Value], record_type: RecordType) -> Result<Batch, String> {
    let mut keys = record_type.key.map(Column::empty);
    let mut values = Column::empty(record_type.value);
    for (i, record) in records.iter().enumerate() {
        let value = match (&mut keys, record) {
            (Some(keys), toml::Value::Array(pair)) if pair.len() == 2 => {
                push(keys, &pair[0]).map_err(|e| format!("record {i}: key {e}"))?;
                &pair[1]
            }
            (Some(_), _) => {
                return Err(format!(
                    "record {i}: a keyed record is a [key, value] array"
                ));
            }
            (None, value) => value,
        };
        push(&mut values, value).map_err(|e| format!("record {i}: {e}"))?;
    }
    Ok(Batch { keys, values })
}

fn push(column: &mut Column, value: &toml::Value) -> Result<(), String> {
    match (column, value) {
        (Column::Varlen(v), toml::Value::String(s)) => v.push(s.as_bytes()),
        (Column::Int64(v), toml::Value::Integer(i)) => v.push(*i),
        (Column::Float64(v), toml::Value::Float(f)) => v.push(*f),
        (Column::Float64(v), toml::Value::Integer(i)) => v.push(*i as f64),
        (column, value) => {
            let wanted = match column {
                Column::Varlen(_) => "a string",
                Column::Int64(_) => "an integer",
                Column::Float64(_) => "a float",
            };
            return Err(format!("{value} should be {wanted}"));
        }
    }
    Ok(())
}

fn values_of(batch: &Batch, record_type: RecordType) -> Vec<toml::Value> {
    let value = |column: &Column, i: usize| match column {
        Column::Varlen(v) => toml::Value::String(varlen_text(v, i)),
        Column::Int64(v) => toml::Value::Integer(v[i]),
        Column::Float64(v) => toml::Value::Float(v[i]),
    };
    (0..batch.len())
        .map(|i| match (&batch.keys, record_type.key) {
            (Some(keys), Some(_)) => {
                toml::Value::Array(vec![value(keys, i), value(&batch.values, i)])
            }
            _ => value(&batch.values, i),
        })
        .collect()
}

fn varlen_text(v: &Varlen, i: usize) -> String {
    String::from_utf8_lossy(v.get(i)).into_owned()
}

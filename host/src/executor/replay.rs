//! `sluice replay`: one stream of one kept batch ([`crate::replay`]) run
//! again, call by call, with the version that ran it or another, each
//! output compared byte for byte with the one kept.

use std::path::Path;
use std::sync::Arc;

use crate::batch::Batch;
use crate::error::{CallSite, Error, Phase};
use crate::operator::Versioned;
use crate::plan::{Plan, StreamSpec};
use crate::plugin::{Plugin, PluginEngine};
use crate::replay::KeptVersion;
use crate::time::BatchTime;

/// One call run again.
#[derive(Clone, Debug)]
pub struct ReplayedCall {
    /// The partition.
    pub partition: usize,
    /// Which of the stream's calls.
    pub phase: Phase,
    /// What it was given.
    pub input: Batch,
    /// What the batch's run gave.
    pub kept: Batch,
    /// What this run gave, or why it failed.
    pub replayed: Result<Batch, String>,
    /// Whether the two are the same, byte for byte.
    pub identical: bool,
}

/// A stream's batch run again.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The version that ran the batch.
    pub kept_version: KeptVersion,
    /// The plugin run now: its name and sha256.
    pub plugin: (String, String),
    /// Each call, by partition.
    pub calls: Vec<ReplayedCall>,
}

impl Replay {
    /// Whether every call gave what the batch's run gave.
    pub fn identical(&self) -> bool {
        self.calls.iter().all(|call| call.identical)
    }
}

/// Runs stream `stream` of kept batch `batch_time` again, with the
/// component at `plugin` or the pipeline file's.
///
/// # Errors
///
/// An unknown stream, one without a plugin, a batch not kept, or a
/// plugin that cannot be loaded for the stream.
pub fn replay(
    plan: &Plan,
    engine: &Arc<PluginEngine>,
    stream: &str,
    batch_time: BatchTime,
    plugin: Option<&Path>,
) -> Result<Replay, Error> {
    let fail = |message: String| Error::Replay {
        pipeline: plan.name.clone(),
        stream: stream.to_owned(),
        message,
    };
    let Some(spec) = plan.streams.iter().find(|s| s.name == stream) else {
        let names: Vec<&str> = plan.streams.iter().map(|s| s.name.as_str()).collect();
        return Err(fail(format!(
            "no such stream; the pipeline's streams are {}",
            names.join(", ")
        )));
    };
    let Some(file_plugin) = &spec.plugin else {
        return Err(fail(
            "it runs a host operator, not a plugin: there is nothing to replay".to_owned(),
        ));
    };
    let kept = crate::replay::read(&plan.state_dir, stream, batch_time, |phase| {
        call_types(spec, phase)
    })
    .map_err(fail)?;
    let plugin: Plugin = match plugin {
        Some(path) => engine.load(
            path,
            Some(file_plugin.kind()),
            spec.params.clone(),
            spec.limits,
        )?,
        None => file_plugin.clone(),
    };
    let ran = (plugin.name().to_owned(), plugin.hash().to_owned());
    let operator = Versioned::wasm(engine.clone(), plugin, spec.call_types.output, 0).operator;
    let calls = kept
        .calls
        .into_iter()
        .map(|call| {
            let site = CallSite {
                pipeline: plan.name.clone(),
                stream: stream.to_owned(),
                plugin: ran.0.clone(),
                hash: ran.1.clone(),
                batch_time,
                partition: call.partition,
                phase: call.phase,
                shadow: false,
                attempt: 1,
            };
            let call_input = spec.adapter.call_input(&call.input);
            let replayed = operator
                .apply(&call_input, &site)
                .and_then(|output| spec.adapter.stream_output(spec, &call.input, output))
                .map_err(|e| e.to_string());
            drop(call_input);
            let identical = replayed.as_ref().is_ok_and(|output| {
                crate::replay::encoded(output) == crate::replay::encoded(&call.output)
            });
            ReplayedCall {
                partition: call.partition,
                phase: call.phase,
                input: call.input,
                kept: call.output,
                replayed,
                identical,
            }
        })
        .collect();
    Ok(Replay {
        kept_version: kept.version,
        plugin: ran,
        calls,
    })
}

/// The record types of a call's input and output in `phase`: a reducer's
/// final and window combines take what the map-side combine gave.
fn call_types(
    spec: &StreamSpec,
    phase: Phase,
) -> (crate::batch::RecordType, crate::batch::RecordType) {
    match phase {
        Phase::AfterExchange | Phase::Window => (spec.output_type, spec.output_type),
        _ => (spec.input_type, spec.output_type),
    }
}

//! Checking a new version of a stream's plugin before it may run: it must
//! compile, implement the stream's operator, import only what the sandbox
//! gives, take what the stream's input gives and give what its consumers
//! take, and start (`describe`, `init`). All of it happens off the batch
//! path; the result is a pre-instantiated [`Plugin`].

use std::path::Path;

use crate::error::LoadError;
use crate::plan::{NodeRef, Plan, fit_types};
use crate::plugin::{Plugin, PluginEngine};

/// Why a candidate was refused.
#[derive(Debug, thiserror::Error)]
pub enum CandidateError {
    /// It does not load: not a component, wrong world, forbidden imports,
    /// over a limit, or it failed to start.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// Its declared types do not fit the stream's place in the graph.
    #[error("plugin {file} (sha256 {hash}): {message}")]
    Types {
        /// The component's file name.
        file: String,
        /// Its content hash (12 hex digits).
        hash: String,
        /// What does not fit.
        message: String,
    },
}

impl CandidateError {
    /// A short, stable name of the reason (for logs).
    pub fn kind(&self) -> &'static str {
        match self {
            CandidateError::Load(e) => e.reason.kind(),
            CandidateError::Types { .. } => "incompatible_types",
        }
    }
}

/// Compiles and checks `bytes` as the next version of stream `index` of
/// `plan`; `file` names it (its stem becomes the plugin's name).
///
/// # Errors
///
/// The first check that fails.
pub fn check(
    engine: &PluginEngine,
    plan: &Plan,
    index: usize,
    file: &Path,
    bytes: &[u8],
) -> Result<Plugin, CandidateError> {
    let stream = &plan.streams[index];
    let compiled = engine.compile_bytes(file, bytes, &stream.limits)?;
    let types_error = |message: String| CandidateError::Types {
        file: file.display().to_string(),
        hash: compiled.hash[..12].to_owned(),
        message,
    };
    // The registry refuses deploys to host operators before this.
    let Some(kind) = stream.plugin_kind() else {
        return Err(types_error(format!(
            "stream `{}` runs `{}` in the host and takes no plugin",
            stream.name, stream.op
        )));
    };
    let plugin = engine.load_compiled(
        file,
        &compiled,
        Some(kind),
        stream.params.clone(),
        stream.limits,
    )?;
    // What the plugin is called with: the stream's records, or their
    // values (`map_values`), or with a constant key (`reduce`).
    let output = fit_types(kind, plugin.signature(), stream.call_types.input)
        .map_err(|m| types_error(m.describe(plugin.name(), plan.node_name(stream.from))))?;
    let declared_state = match kind {
        crate::plugin::OperatorKind::UpdateState => Some(output.value),
        crate::plugin::OperatorKind::MapWithState => plugin.state_type(),
        _ => None,
    };
    if let (Some(declared), Some(state)) = (declared_state, &stream.state)
        && declared != state.record_type.value
    {
        return Err(types_error(format!(
            "keeps {} states, but stream `{}` keeps {} states, which carry over to the new version; a new version must declare the same state type (change the pipeline file and restart to change it)",
            declared.name(),
            stream.name,
            state.record_type.value.name(),
        )));
    }
    if output != stream.call_types.output {
        return Err(types_error(format!(
            "gives {output} records, but stream `{}` must keep giving {} records to {}; a new version must keep its stream's record types (change the pipeline file and restart to change them)",
            stream.name,
            stream.call_types.output,
            consumers(plan, index)
        )));
    }
    Ok(plugin)
}

/// `` `a`, sink `b` ``: the nodes reading stream `index`.
fn consumers(plan: &Plan, index: usize) -> String {
    let me = NodeRef::Stream(index);
    let streams = plan
        .streams
        .iter()
        .filter(|s| s.inputs.contains(&me))
        .map(|s| format!("stream `{}`", s.name));
    let sinks = plan
        .sinks
        .iter()
        .filter(|s| s.from == me)
        .map(|s| format!("sink `{}`", s.name));
    let all: Vec<String> = streams.chain(sinks).collect();
    if all.is_empty() {
        "its consumers".to_owned()
    } else {
        all.join(", ")
    }
}

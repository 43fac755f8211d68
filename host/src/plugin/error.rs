//! A plugin's errors: why it could not be loaded ([`LoadError`]) and why a
//! call failed ([`CallError`], at a [`CallSite`]), each failure with a
//! stable class name for logs, metrics and dead letters.

use std::path::PathBuf;

use super::OperatorKind;
use super::sandbox::ForbiddenImport;

/// A plugin could not be loaded or does not fit its stream.
#[derive(Debug, thiserror::Error)]
#[error("plugin {}{}: {reason}", path.display(), hash.as_ref().map(|h| format!(" (sha256 {})", &h[..12])).unwrap_or_default())]
pub struct LoadError {
    /// The plugin file.
    pub path: PathBuf,
    /// Its content hash, once read.
    pub hash: Option<String>,
    /// What is wrong.
    pub reason: LoadFailure,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    /// The file cannot be read.
    #[error(
        "cannot read the file: {0}; check the `plugin` path (it is relative to the pipeline file)"
    )]
    Read(#[source] std::io::Error),
    /// The bytes are not a valid component (or a core module, or garbage).
    #[error("is not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    /// The component exports no operator interface of the contract.
    #[error(
        "exports no Sluice operator interface (expected one of {}); build it against wit/operator.wit, for example with the `sluice-guest` SDK",
        OperatorKind::ALL.map(|k| k.interface()).join(", ")
    )]
    NoOperator,
    /// A sink's component does not export the sink interface.
    #[error(
        "exports no sink interface (expected sluice:operator/sink@0.3.0, world sluice:operator/sink-operator); a `kind = \"plugin\"` sink is built against wit/sink.wit, for example with `sluice plugin new --op sink`"
    )]
    NotASink,
    /// A sink plugin given to a stream.
    #[error(
        "is a sink plugin (world sluice:operator/sink-operator), not an operator: write it in a [sinks.NAME] table with kind = \"plugin\""
    )]
    SinkAsOperator,
    /// The component exports several operator interfaces.
    #[error("exports several operator interfaces ({0}); a plugin implements exactly one")]
    SeveralOperators(String),
    /// The component implements another operator than the stream's `op`.
    #[error("is a `{found}` operator (world {}), but {}", found.world(), wanted(*expected))]
    WrongOperator {
        /// The stream's operator.
        expected: OperatorKind,
        /// The plugin's.
        found: OperatorKind,
    },
    /// The component cannot be instantiated with what the host provides.
    #[error("cannot be linked: {0}")]
    Link(String),
    /// The file is larger than `limits.binary_mib`.
    #[error(
        "is {size} bytes, over the limit of {limit_mib} MiB (limit `binary_mib`); raise the limit if the plugin is trusted to be this large"
    )]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit_mib: u32,
    },
    /// The component imports something outside the sandbox.
    #[error(
        "imports what the sandbox does not give: {}; rebuild it without that dependency",
        forbidden_list(.0)
    )]
    ForbiddenImports(Vec<ForbiddenImport>),
    /// A module of the component declares more initial memory than
    /// `limits.memory_mib` allows.
    #[error(
        "declares more initial linear memory than the limit of {limit_mib} MiB (limit `memory_mib`): {detail}"
    )]
    InitialMemory {
        /// The limit.
        limit_mib: u32,
        /// What wasmtime reported.
        detail: String,
    },
    /// The file is a core WebAssembly module, not a component.
    #[error(
        "is a core WebAssembly module, not a component; build it for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// The path names no regular file.
    #[error("{0}")]
    NotRegularFile(String),
    /// Compiling took longer than `limits.compile_time`.
    #[error(
        "compiling it took longer than {} (limit `compile_time`); a component this slow to compile is refused, raise the limit only for a plugin you trust",
        humantime::format_duration(*.0)
    )]
    CompileTime(std::time::Duration),
    /// Compiling needed more memory than `limits.compile_memory_mib`.
    #[error(
        "compiling it needed more than {limit_mib} MiB of memory (limit `compile_memory_mib`); a component this costly to compile is refused, raise the limit only for a plugin you trust ({detail})"
    )]
    CompileMemory {
        /// The limit.
        limit_mib: u32,
        /// What the compiler reported.
        detail: String,
    },
    /// The compiler process could not run or ended without a result.
    #[error("cannot be compiled: {0}")]
    CompileFailed(String),
    /// `describe` or `init` returned something unusable.
    #[error("{0}")]
    Startup(String),
    /// Instantiating, `describe` or `init` failed (a limit, a trap).
    #[error(
        "failed while starting (instantiate, describe, init): {failure}{}",
        stderr_suffix(stderr)
    )]
    StartupFailed {
        /// What went wrong.
        failure: CallFailure,
        /// What the plugin wrote to stderr (bounded).
        stderr: String,
    },
}

/// What a stream wants in place of a plugin of the wrong kind.
fn wanted(expected: OperatorKind) -> String {
    match expected {
        OperatorKind::InverseReduce => {
            "`inverse_plugin` must be an `inverse_reduce` operator (world sluice:operator/inverse-reduce-operator)".to_owned()
        }
        other => format!("the stream has `op = \"{other}\"`"),
    }
}

impl LoadFailure {
    /// A short, stable name of the failure class (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            LoadFailure::Read(_) => "unreadable",
            LoadFailure::NotRegularFile(_) => "not_a_file",
            LoadFailure::CompileTime(_) => "compile_time",
            LoadFailure::CompileMemory { .. } => "compile_memory",
            LoadFailure::CompileFailed(_) => "compile_failed",
            LoadFailure::InvalidComponent(_) => "invalid_component",
            LoadFailure::NoOperator
            | LoadFailure::NotASink
            | LoadFailure::SinkAsOperator
            | LoadFailure::SeveralOperators(_)
            | LoadFailure::WrongOperator { .. } => "wrong_world",
            LoadFailure::Link(_) => "link",
            LoadFailure::TooLarge { .. } => "binary_too_large",
            LoadFailure::ForbiddenImports(_) => "forbidden_import",
            LoadFailure::InitialMemory { .. } => "memory",
            LoadFailure::CoreModule => "invalid_component",
            LoadFailure::Startup(_) => "startup",
            LoadFailure::StartupFailed { failure, .. } => failure.kind(),
        }
    }
}

impl LoadFailure {
    /// The failure for a plugin file that [`crate::regular_file::read_bounded`]
    /// refused under `limits.binary_mib`.
    pub fn from_file_error(error: crate::regular_file::RegularFileError, limit_mib: u32) -> Self {
        use crate::regular_file::RegularFileError;
        match error {
            RegularFileError::Io(e) => LoadFailure::Read(e),
            e @ RegularFileError::NotRegular(_) => {
                LoadFailure::NotRegularFile(format!("{e}; a plugin is a `.wasm` component file"))
            }
            RegularFileError::TooLarge { size, .. } => LoadFailure::TooLarge { size, limit_mib },
        }
    }
}

/// `` `a`, `b` (reason); `c` (other reason) ``: refused imports grouped by
/// reason, in order.
fn forbidden_list(forbidden: &[ForbiddenImport]) -> String {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for f in forbidden {
        let import = format!("`{}`", f.import);
        match groups.iter_mut().find(|(reason, _)| *reason == f.reason) {
            Some((_, imports)) => imports.push(import),
            None => groups.push((&f.reason, vec![import])),
        }
    }
    groups
        .iter()
        .map(|(reason, imports)| format!("{} ({reason})", imports.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("\nplugin stderr:\n{}", stderr.trim_end())
    }
}

/// A plugin call failed during a batch.
#[derive(Debug, thiserror::Error)]
#[error(
    "pipeline `{}`, {} `{}`, plugin {} (sha256 {}), batch {}, partition {}{}, attempt {}: {failure}{}",
    site.pipeline, site.node_kind(), site.stream, site.plugin, site.short_hash(), site.batch_time, site.partition,
    site.phase_label(), site.attempt, stderr_suffix(stderr)
)]
pub struct CallError {
    /// Where the call happened.
    pub site: CallSite,
    /// What went wrong.
    pub failure: CallFailure,
    /// What the plugin wrote to stderr (bounded).
    pub stderr: String,
}

/// Where a plugin call happened.
#[derive(Clone, Debug)]
pub struct CallSite {
    /// The pipeline's name.
    pub pipeline: String,
    /// The stream whose operator was called (the sink, for a sink plugin).
    pub stream: String,
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's sha256.
    pub hash: String,
    /// The batch.
    pub batch_time: crate::time::BatchTime,
    /// The partition.
    pub partition: usize,
    /// Which of the stream's calls in the batch.
    pub phase: Phase,
    /// Whether the call ran a shadow candidate.
    pub shadow: bool,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl CallSite {
    fn short_hash(&self) -> &str {
        &self.hash[..self.hash.len().min(12)]
    }

    /// `sink` for a sink plugin's call, else `stream`.
    fn node_kind(&self) -> &'static str {
        if self.phase == Phase::Sink {
            "sink"
        } else {
            "stream"
        }
    }

    /// ` (shadow, before the exchange)`, ` (after the exchange)`, …, or
    /// nothing: what the error message says after the partition.
    fn phase_label(&self) -> String {
        match (self.shadow, self.phase.name()) {
            (false, None) => String::new(),
            (false, Some(phase)) => format!(" ({phase})"),
            (true, None) => " (shadow)".to_owned(),
            (true, Some(phase)) => format!(" (shadow, {phase})"),
        }
    }
}

/// Which of a stream's calls in a batch: a `reduce_by_key` stream calls its
/// reducer before and after the exchange, every other stream once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The stream's only call (map, flat_map, filter).
    Only,
    /// A reducer's map-side combine, before the exchange.
    BeforeExchange,
    /// A reducer's final combine, after the exchange.
    AfterExchange,
    /// A windowed reducer combining the partials of its window.
    Window,
    /// A windowed reducer's inverse removing the batches leaving the
    /// window.
    Uncombine,
    /// A sink plugin writing the batch out (`stream` is the sink's name).
    Sink,
}

impl Phase {
    /// `before the exchange` / `after the exchange`; `None` for the only
    /// call.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Phase::Only => None,
            Phase::BeforeExchange => Some("before the exchange"),
            Phase::AfterExchange => Some("after the exchange"),
            Phase::Window => Some("combining the window"),
            Phase::Uncombine => Some("removing the batches leaving the window"),
            Phase::Sink => None,
        }
    }
}

/// What went wrong in a plugin call.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The call ran past `limits.call_time`.
    #[error("timed out after {0:?} (limit `call_time`); raise the limit or make the plugin faster")]
    Timeout(std::time::Duration),
    /// The plugin needed more memory than `limits.memory_mib`.
    #[error(
        "exceeded its memory limit of {0} MiB (limit `memory_mib`); raise the limit or use smaller batches"
    )]
    Memory(u32),
    /// The plugin overflowed its stack.
    #[error("overflowed its stack of {0} KiB (limit `stack_kib`); likely unbounded recursion")]
    StackOverflow(u32),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access…).
    #[error("trapped: {0}")]
    Trap(String),
    /// The operator returned an error value.
    #[error("the operator failed{}: {message}", record.map(|r| format!(" on record {r} of the partition")).unwrap_or_default())]
    Operator {
        /// The operator's message.
        message: String,
        /// The input record it blamed.
        record: Option<u32>,
    },
    /// The operator returned output that breaks the contract.
    #[error("returned invalid output: {0}")]
    InvalidOutput(String),
    /// The operator returned more than `limits.output_mib` or
    /// `limits.output_records_per_input` allow.
    #[error("{0}")]
    OutputTooLarge(String),
    /// A sink asked for what its `allow` does not grant.
    #[error("{0}")]
    Http(#[from] super::http_grant::HttpRefusal),
    /// The call ran out of `limits.fuel`.
    #[error(
        "ran out of fuel after {0} instructions (limit `fuel`); raise the limit or make the plugin do less per batch"
    )]
    Fuel(u64),
}

impl CallFailure {
    /// A short, stable name of the failure class (for logs, metrics and
    /// dead-letter records).
    pub fn kind(&self) -> &'static str {
        match self {
            CallFailure::Timeout(_) => "timeout",
            CallFailure::Http(_) => "http_refused",
            CallFailure::Memory(_) => "memory",
            CallFailure::StackOverflow(_) => "stack_overflow",
            CallFailure::Trap(_) => "trap",
            CallFailure::Operator { .. } => "operator_error",
            CallFailure::InvalidOutput(_) => "invalid_output",
            CallFailure::OutputTooLarge(_) => "output_too_large",
            CallFailure::Fuel(_) => "fuel",
        }
    }

    /// Whether calling again with the same input can give another result.
    /// Calls are deterministic (fixed clocks and random numbers, no I/O), so
    /// only a timeout, which depends on the machine's load, can.
    pub fn is_transient(&self) -> bool {
        matches!(self, CallFailure::Timeout(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::BatchTime;

    fn error(phase: Phase, shadow: bool) -> String {
        CallError {
            site: CallSite {
                pipeline: "p".into(),
                stream: "counts".into(),
                plugin: "sum".into(),
                hash: "0123456789abcdef".into(),
                batch_time: BatchTime(1_000),
                partition: 1,
                phase,
                shadow,
                attempt: 2,
            },
            failure: CallFailure::Trap("unreachable".into()),
            stderr: String::new(),
        }
        .to_string()
    }

    #[test]
    fn call_errors_name_the_phase_and_the_shadow() {
        let prefix = "pipeline `p`, stream `counts`, plugin sum (sha256 0123456789ab), batch ";
        let cases = [
            (
                Phase::Only,
                false,
                ", partition 1, attempt 2: trapped: unreachable",
            ),
            (
                Phase::BeforeExchange,
                false,
                ", partition 1 (before the exchange), attempt 2: trapped: unreachable",
            ),
            (
                Phase::AfterExchange,
                true,
                ", partition 1 (shadow, after the exchange), attempt 2: trapped: unreachable",
            ),
            (
                Phase::Only,
                true,
                ", partition 1 (shadow), attempt 2: trapped: unreachable",
            ),
        ];
        for (phase, shadow, suffix) in cases {
            let message = error(phase, shadow);
            assert!(message.starts_with(prefix), "{message}");
            assert!(message.ends_with(suffix), "{message}");
        }
        assert_eq!(Phase::Only.name(), None);
        assert_eq!(Phase::AfterExchange.name(), Some("after the exchange"));
    }
}

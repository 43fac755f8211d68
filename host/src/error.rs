//! Errors, each naming the part that failed and what the user can do.
//!
//! [`Error`] is what the library returns; its variants wrap the error of each
//! part. [`Error::kind`] tells whether the user, the outside world or Sluice
//! itself is to blame, and the `sluice` command exits with
//! [`ErrorKind::exit_code`]. A plugin's own errors (loading and calling it)
//! belong to [`crate::plugin::error`] and are re-exported here.

use std::path::PathBuf;

pub use crate::plugin::error::{CallError, CallFailure, CallSite, LoadError, LoadFailure, Phase};

/// Who is to blame for an error, which decides what can be done about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The pipeline file, a plugin or the input: the user must change it.
    User,
    /// The environment (files, sockets, disk): may succeed if retried.
    External,
    /// A bug in Sluice.
    Internal,
}

impl ErrorKind {
    /// The `sluice` command's exit status for an error of this kind: 2 for
    /// the user's (fix the pipeline file, a plugin or the input), 3 for the
    /// environment's (may succeed when retried), 4 for Sluice's own bugs.
    /// 1 stays for failures outside the library (bad arguments, a control
    /// request refused).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::User => 2,
            ErrorKind::External => 3,
            ErrorKind::Internal => 4,
        }
    }
}

/// Any error of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plugin call failed during a batch.
    #[error(transparent)]
    Call(#[from] Box<CallError>),
    /// A source failed.
    #[error("source `{source_name}`: {message}")]
    Source {
        /// The source's name in the pipeline file.
        source_name: String,
        /// What went wrong and what to do.
        message: String,
        /// Who is to blame.
        kind: ErrorKind,
    },
    /// The control endpoint could not start.
    #[error("pipeline `{pipeline}`, control endpoint: {message}")]
    Control {
        /// The pipeline.
        pipeline: String,
        /// What went wrong and what to do.
        message: String,
        /// Who is to blame.
        kind: ErrorKind,
    },
    /// `sluice replay` cannot replay what it was asked to.
    #[error("pipeline `{pipeline}`, stream `{stream}`: {message}")]
    Replay {
        /// The pipeline.
        pipeline: String,
        /// The stream.
        stream: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// A sink failed.
    #[error("sink `{sink}`, batch {batch_time}: {message}")]
    Sink {
        /// The sink's name in the pipeline file.
        sink: String,
        /// The batch being written.
        batch_time: crate::time::BatchTime,
        /// What went wrong and what to do.
        message: String,
    },
    /// A sink could not start (its brokers or topic are unreachable).
    #[error("pipeline `{pipeline}`, sink `{sink}`: {message}")]
    SinkOpen {
        /// The pipeline.
        pipeline: String,
        /// The sink's name in the pipeline file.
        sink: String,
        /// What went wrong and what to do.
        message: String,
        /// Who is to blame.
        kind: ErrorKind,
    },
    /// What the host keeps for a stream between batches went past its
    /// limit.
    #[error("pipeline `{pipeline}`, stream `{stream}`, batch {batch_time}: {message}")]
    State {
        /// The pipeline.
        pipeline: String,
        /// The stream whose state it is.
        stream: String,
        /// The batch that would have taken it past the limit.
        batch_time: crate::time::BatchTime,
        /// What went wrong and what to do.
        message: String,
    },
    /// An operator the host runs (a join, …) went past a limit on one
    /// partition.
    #[error(
        "pipeline `{pipeline}`, stream `{stream}` ({op}, run by the host), batch {batch_time}, partition {partition}: {message}"
    )]
    HostOperator {
        /// The pipeline.
        pipeline: String,
        /// The stream.
        stream: String,
        /// Its operator.
        op: crate::config::StreamOp,
        /// The batch.
        batch_time: crate::time::BatchTime,
        /// The partition.
        partition: usize,
        /// What went wrong and what to do.
        message: String,
    },
    /// A checkpoint could not be written, or none can be resumed from.
    #[error("pipeline `{pipeline}`, checkpoint: {message}")]
    Checkpoint {
        /// The pipeline.
        pipeline: String,
        /// What went wrong and what to do.
        message: String,
        /// Who is to blame.
        kind: ErrorKind,
    },
    /// A bug in Sluice.
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

impl Error {
    /// Who is to blame.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_)
            | Error::Load(_)
            | Error::Call(_)
            | Error::State { .. }
            | Error::Replay { .. }
            | Error::HostOperator { .. } => ErrorKind::User,
            Error::Source { kind, .. }
            | Error::Control { kind, .. }
            | Error::SinkOpen { kind, .. }
            | Error::Checkpoint { kind, .. } => *kind,
            Error::Sink { .. } => ErrorKind::External,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        Error::Call(Box::new(e))
    }
}

/// The pipeline file is invalid: where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), position.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ConfigError {
    /// The pipeline file.
    pub file: PathBuf,
    /// 1-based line and column of the offending text, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong and how to fix it.
    pub message: String,
}

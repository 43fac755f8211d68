//! What the executor calls for a stream: an [`Operator`] applied to one
//! partition batch.
//!
//! Pipelines use [`WasmOperator`], a plugin called in a fresh instance. The
//! benchmark plugs in native closures with the same signature, so that the
//! same plan, partitioning and exchange run with and without the WebAssembly
//! boundary.

use std::sync::Arc;

use crate::batch::{Batch, RecordType};
use crate::error::{CallSite, Error};
use crate::plugin::{Plugin, PluginEngine};

/// Applies one stream's operation to one partition batch. For a
/// `reduce_by_key` stream, it combines the values of equal keys (the
/// executor calls it before and after the exchange).
pub trait Operator: Send + Sync {
    /// The result for `input`; `site` describes the call for errors.
    ///
    /// # Errors
    ///
    /// When the operation fails on this batch.
    fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error>;
}

/// A plugin, called in a fresh instance per partition batch.
pub struct WasmOperator {
    /// The engine the plugin was loaded into.
    pub engine: Arc<PluginEngine>,
    /// The plugin version.
    pub plugin: Plugin,
    /// The record type the stream gives.
    pub output: RecordType,
}

impl Operator for WasmOperator {
    fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        Ok(self.plugin.call(&self.engine, input, self.output, site)?)
    }
}

/// A native function as an operator (for baselines and tests).
pub struct NativeOperator<F>(pub F);

impl<F> Operator for NativeOperator<F>
where
    F: Fn(&Batch) -> Batch + Send + Sync,
{
    fn apply(&self, input: &Batch, _site: &CallSite) -> Result<Batch, Error> {
        Ok((self.0)(input))
    }
}

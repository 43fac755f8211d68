//! What the executor calls for a stream: an [`Operator`] applied to one
//! partition batch.
//!
//! Pipelines use [`WasmOperator`], a plugin called in a fresh instance. The
//! benchmark plugs in native closures with the same signature, so that the
//! same plan, partitioning and exchange run with and without the WebAssembly
//! boundary.

use std::sync::Arc;

use crate::batch::{Batch, Column, RecordType, ValueType};
use crate::error::{CallSite, Error};
use crate::plan::Plan;
use crate::plugin::costs::CallCosts;
use crate::plugin::{MappingBatch, Plugin, PluginEngine, StateBatch, StateMapping, StateUpdate};

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

    /// For an `update_state_by_key` stream: each key's new state from its
    /// new values and previous state (see [`StateBatch`]), checked to hold
    /// `state_type` values. Operators of other kinds keep no state; calling
    /// this on one is a bug in Sluice.
    ///
    /// # Errors
    ///
    /// When the update fails on this partition.
    fn update_state(
        &self,
        _input: &StateBatch,
        _state_type: ValueType,
        site: &CallSite,
    ) -> Result<StateUpdate, Error> {
        Err(Error::Internal(format!(
            "stream `{}`: its operator keeps no state",
            site.stream
        )))
    }

    /// For a `map_with_state` stream: the mapped records and new states of
    /// one partition's touched keys (see [`MappingBatch`]), checked against
    /// `state_type` and `output`. Calling this on another kind of operator
    /// is a bug in Sluice.
    ///
    /// # Errors
    ///
    /// When the call fails.
    fn map_with_state(
        &self,
        _input: &MappingBatch,
        _state_type: ValueType,
        _output: RecordType,
        site: &CallSite,
    ) -> Result<StateMapping, Error> {
        Err(Error::Internal(format!(
            "stream `{}`: its operator is no state mapper",
            site.stream
        )))
    }

    /// For a windowed reducer's inverse: `totals[i] ⊖ leaving[i]` for every
    /// `i`, checked to hold `value_type` values. Calling this on another
    /// kind of operator is a bug in Sluice.
    ///
    /// # Errors
    ///
    /// When the call fails.
    fn uncombine(
        &self,
        _totals: &Column,
        _leaving: &Column,
        _value_type: ValueType,
        site: &CallSite,
    ) -> Result<Column, Error> {
        Err(Error::Internal(format!(
            "stream `{}`: its operator is no inverse reducer",
            site.stream
        )))
    }

    /// What the calls at `site` cost (attempts, memory, fuel), taken from
    /// the engine's book once they are done; nothing for native operators.
    fn take_costs(&self, _site: &CallSite) -> CallCosts {
        CallCosts::default()
    }
}

/// One version of a stream's operator, as a batch runs it.
#[derive(Clone)]
pub struct Versioned {
    /// What is called.
    pub operator: Arc<dyn Operator>,
    /// The plugin's name (for errors and logs).
    pub plugin: String,
    /// The plugin's sha256.
    pub hash: String,
    /// The stream's version number (1: the pipeline file's plugin).
    pub version: u32,
}

impl Versioned {
    /// `plugin`, called through a [`WasmOperator`], as version `version`.
    pub fn wasm(
        engine: Arc<PluginEngine>,
        plugin: Plugin,
        output: RecordType,
        version: u32,
    ) -> Self {
        Versioned {
            plugin: plugin.name().to_owned(),
            hash: plugin.hash().to_owned(),
            operator: Arc::new(WasmOperator {
                engine,
                plugin,
                output,
            }),
            version,
        }
    }
}

/// What one batch runs for one stream: the current version, and the shadow
/// candidate that runs beside it on the same input without affecting the
/// output.
#[derive(Clone)]
pub struct StreamOperators {
    /// The version whose output is passed on.
    pub current: Versioned,
    /// The candidate, if one is being shadowed.
    pub shadow: Option<Versioned>,
    /// A windowed reducer's inverse (`inverse_plugin`), if it has one.
    pub inverse: Option<Versioned>,
}

impl StreamOperators {
    /// Each stream's plugin from the pipeline file (or the host's
    /// operator), as version 1, in plan order.
    pub fn initial(plan: &Plan, engine: &Arc<PluginEngine>) -> Vec<StreamOperators> {
        plan.streams
            .iter()
            .map(|s| {
                let current = match (&s.plugin, crate::builtin::host_operator(s)) {
                    (Some(plugin), _) => {
                        Versioned::wasm(engine.clone(), plugin.clone(), s.call_types.output, 1)
                    }
                    (None, operator) => Versioned {
                        operator: operator.unwrap_or_else(|| Arc::new(Missing)),
                        plugin: s.implementation_name().to_owned(),
                        hash: s.implementation_hash().to_owned(),
                        version: 1,
                    },
                };
                StreamOperators {
                    current,
                    shadow: None,
                    inverse: s.inverse.as_ref().map(|inverse| {
                        Versioned::wasm(engine.clone(), inverse.plugin.clone(), s.output_type, 1)
                    }),
                }
            })
            .collect()
    }

    /// `operators`, one per stream of `plan` in order, standing in for the
    /// plugins (the benchmark's native baseline uses this).
    pub fn fixed(plan: &Plan, operators: Vec<Arc<dyn Operator>>) -> Vec<StreamOperators> {
        plan.streams
            .iter()
            .zip(operators)
            .map(|(s, operator)| StreamOperators {
                current: Versioned {
                    operator,
                    plugin: s.implementation_name().to_owned(),
                    hash: s.implementation_hash().to_owned(),
                    version: 1,
                },
                shadow: None,
                inverse: None,
            })
            .collect()
    }

    /// `self` with `inverse` as the inverse reducer of every stream that
    /// has one in `plan` (the benchmark's native baseline).
    pub fn with_inverse(
        mut operators: Vec<Self>,
        plan: &Plan,
        inverse: Arc<dyn Operator>,
    ) -> Vec<Self> {
        for (ops, spec) in operators.iter_mut().zip(&plan.streams) {
            if spec.inverse.is_some() {
                ops.inverse = Some(Versioned {
                    operator: inverse.clone(),
                    plugin: "native".into(),
                    hash: "native".into(),
                    version: 1,
                });
            }
        }
        operators
    }
}

/// Stands for an operator the plan promised but nothing implements; the
/// plan never builds such a stream, so a call is a bug in Sluice.
struct Missing;

impl Operator for Missing {
    fn apply(&self, _input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        Err(Error::Internal(format!(
            "stream `{}` has neither a plugin nor a host operator",
            site.stream
        )))
    }
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

    fn update_state(
        &self,
        input: &StateBatch,
        state_type: ValueType,
        site: &CallSite,
    ) -> Result<StateUpdate, Error> {
        Ok(self
            .plugin
            .update_state(&self.engine, input, state_type, site)?)
    }

    fn uncombine(
        &self,
        totals: &Column,
        leaving: &Column,
        value_type: ValueType,
        site: &CallSite,
    ) -> Result<Column, Error> {
        Ok(self
            .plugin
            .uncombine(&self.engine, totals, leaving, value_type, site)?)
    }

    fn map_with_state(
        &self,
        input: &MappingBatch,
        state_type: ValueType,
        output: RecordType,
        site: &CallSite,
    ) -> Result<StateMapping, Error> {
        Ok(self
            .plugin
            .map_with_state(&self.engine, input, state_type, output, site)?)
    }

    fn take_costs(&self, site: &CallSite) -> CallCosts {
        self.engine.costs().take(site)
    }
}

/// A native inverse reducer (for baselines and tests).
pub struct NativeInverse<F>(pub F);

impl<F> Operator for NativeInverse<F>
where
    F: Fn(&Column, &Column) -> Column + Send + Sync,
{
    fn apply(&self, _input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        Err(Error::Internal(format!(
            "stream `{}`: an inverse reducer is not called per batch",
            site.stream
        )))
    }

    fn uncombine(
        &self,
        totals: &Column,
        leaving: &Column,
        _value_type: ValueType,
        _site: &CallSite,
    ) -> Result<Column, Error> {
        Ok((self.0)(totals, leaving))
    }
}

/// A native state update function as an operator (for baselines and
/// tests).
pub struct NativeStateUpdater<F>(pub F);

impl<F> Operator for NativeStateUpdater<F>
where
    F: Fn(&StateBatch) -> StateUpdate + Send + Sync,
{
    fn apply(&self, _input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        Err(Error::Internal(format!(
            "stream `{}`: a state updater is not called per batch",
            site.stream
        )))
    }

    fn update_state(
        &self,
        input: &StateBatch,
        _state_type: ValueType,
        _site: &CallSite,
    ) -> Result<StateUpdate, Error> {
        Ok((self.0)(input))
    }
}

/// A native state mapper as an operator (for baselines and tests).
pub struct NativeStateMapper<F>(pub F);

impl<F> Operator for NativeStateMapper<F>
where
    F: Fn(&MappingBatch) -> StateMapping + Send + Sync,
{
    fn apply(&self, _input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        Err(Error::Internal(format!(
            "stream `{}`: a state mapper is not called per batch",
            site.stream
        )))
    }

    fn map_with_state(
        &self,
        input: &MappingBatch,
        _state_type: ValueType,
        _output: RecordType,
        _site: &CallSite,
    ) -> Result<StateMapping, Error> {
        Ok((self.0)(input))
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

//! Plugins: loading operator components and calling them once per partition
//! batch.
//!
//! - [`engine`]: the process-wide wasmtime `Engine` (pooling allocator,
//!   epoch interruption), the linker with an empty WASI context, and loading.
//! - [`compile`]: compiling in a child process, within `compile_time` and
//!   `compile_memory_mib`.
//! - [`cache`]: compiled components on disk, by content hash.
//! - [`limits`]: per-call limits and the resource limiter that enforces them.
//! - [`sandbox`]: the import allowlist and the host side of the WASI
//!   interfaces a plugin may import (empty context, fixed clocks).
//! - [`instance`]: a loaded plugin version and the call into a fresh instance.
//! - [`capture`]: a call's stdout and stderr, kept up to a bound, never
//!   refused; [`logs`]: what plugins printed in the last batches.
//! - `output`: the checks a call's output passes beyond its types (record
//!   counts, a reducer's keys).
//! - [`sink_plugin`]: sink plugins (`kind = "plugin"` sinks), called
//!   asynchronously with `wasi:http`.
//! - [`http_grant`]: what a sink may reach over HTTP, checked per request.
//! - `text_hints`: the optional `text-hints` interface (is the input ASCII;
//!   text returned one byte per character), for interpreted guests.
//! - [`inspect`]: what `sluice plugin inspect` prints.
//! - [`error`]: why a plugin could not be loaded or a call failed.
//! - [`wire`]: the contract's form of the types an operator declares.
//!
//! The batch types below mirror the contract in `wit/operator.wit`; they are
//! lifted from and lowered into guests directly, with no conversion step.

pub mod cache;
pub mod capture;
pub mod compile;
pub mod costs;
pub mod engine;
pub mod error;
pub mod http_grant;
pub mod inspect;
pub mod instance;
pub mod limits;
pub mod logs;
mod output;
pub mod sandbox;
pub mod sink_plugin;
mod text_hints;
pub mod wire;

use std::fmt;

use serde::Deserialize;
use wasmtime::component::{ComponentType, Lift, Lower};

use crate::batch::{Batch, Column, RecordType};
use crate::packed::Packed;

pub use engine::PluginEngine;
pub use instance::Plugin;
pub use limits::Limits;

/// The contract's version, part of every interface name.
pub const CONTRACT_VERSION: &str = "0.3.0";

/// Which of the contract's worlds an operator implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// One output record per input record.
    Map,
    /// Zero or more output records per input record.
    FlatMap,
    /// Zero or more values per input value of a keyed stream, each put on
    /// its input's key by the host (`flat_map_values`).
    FlatMapValues,
    /// Keeps the records a predicate holds for.
    Filter,
    /// Combines the values of equal keys (`reduce_by_key`).
    ReduceByKey,
    /// Removes values from combined ones: a windowed reducer's inverse
    /// (`inverse_plugin`).
    InverseReduce,
    /// Keeps a state per key across batches (`update_state_by_key`).
    #[serde(rename = "update_state_by_key")]
    UpdateState,
    /// Maps records with a state per key (`map_with_state`).
    MapWithState,
}

impl OperatorKind {
    /// Every kind, in the contract's order.
    pub const ALL: [OperatorKind; 8] = [
        OperatorKind::Map,
        OperatorKind::FlatMap,
        OperatorKind::FlatMapValues,
        OperatorKind::Filter,
        OperatorKind::ReduceByKey,
        OperatorKind::InverseReduce,
        OperatorKind::UpdateState,
        OperatorKind::MapWithState,
    ];

    /// The pipeline file's name for the operator (`op = "..."`).
    pub fn op_name(self) -> &'static str {
        match self {
            OperatorKind::Map => "map",
            OperatorKind::FlatMap => "flat_map",
            OperatorKind::FlatMapValues => "flat_map_values",
            OperatorKind::Filter => "filter",
            OperatorKind::ReduceByKey => "reduce_by_key",
            OperatorKind::InverseReduce => "inverse_reduce",
            OperatorKind::UpdateState => "update_state_by_key",
            OperatorKind::MapWithState => "map_with_state",
        }
    }

    /// The exported interface, e.g. `sluice:operator/mapper@0.3.0`.
    pub fn interface(self) -> String {
        format!(
            "sluice:operator/{}@{CONTRACT_VERSION}",
            self.interface_name()
        )
    }

    fn interface_name(self) -> &'static str {
        match self {
            OperatorKind::Map => "mapper",
            OperatorKind::FlatMap => "flat-mapper",
            OperatorKind::FlatMapValues => "value-flat-mapper",
            OperatorKind::Filter => "filter",
            OperatorKind::ReduceByKey => "reducer",
            OperatorKind::InverseReduce => "inverse-reducer",
            OperatorKind::UpdateState => "state-updater",
            OperatorKind::MapWithState => "state-mapper",
        }
    }

    /// The world a guest targets, e.g. `sluice:operator/map-operator`.
    pub fn world(self) -> String {
        format!("sluice:operator/{}@{CONTRACT_VERSION}", self.world_name())
    }

    /// The world's name inside the contract package, e.g. `map-operator`.
    pub fn world_name(self) -> &'static str {
        match self {
            OperatorKind::Map => "map-operator",
            OperatorKind::FlatMap => "flat-map-operator",
            OperatorKind::FlatMapValues => "flat-map-values-operator",
            OperatorKind::Filter => "filter-operator",
            OperatorKind::ReduceByKey => "reduce-operator",
            OperatorKind::InverseReduce => "inverse-reduce-operator",
            OperatorKind::UpdateState => "update-state-operator",
            OperatorKind::MapWithState => "map-with-state-operator",
        }
    }

    /// The interface's batch entry point.
    pub(crate) fn entry_point(self) -> &'static str {
        match self {
            OperatorKind::Map => "transform",
            OperatorKind::FlatMap => "expand",
            OperatorKind::FlatMapValues => "expand-values",
            OperatorKind::Filter => "keep",
            OperatorKind::ReduceByKey => "combine",
            OperatorKind::InverseReduce => "uncombine",
            OperatorKind::UpdateState => "update",
            OperatorKind::MapWithState => "map-batch",
        }
    }
}

impl fmt::Display for OperatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op_name())
    }
}

/// What an operator takes and gives, as it declares in `describe` (lifted
/// as a [`wire::WireSignature`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The records the operator accepts. For a reducer, `key: None` means
    /// "any key type".
    pub input: RecordType,
    /// The records the operator produces.
    pub output: RecordType,
}

/// What a value flat-mapper gives (the contract's `value-expansion`): the
/// output values, and how many each input value gave.
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct ValueExpansion {
    /// The output values, in input order.
    pub values: Column,
    /// `counts[i]`: how many output values input value `i` gave.
    pub counts: Packed<u32>,
}

/// What a reducer is called with (the contract's `value-groups`): a
/// partition's values grouped by key; the keys stay with the host.
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct ValueGroups {
    /// The values, grouped by key, each group in arrival order.
    pub values: Column,
    /// Group `i` is `values[groups[i] .. groups[i + 1]]`.
    pub groups: Packed<u32>,
}

impl ValueGroups {
    /// How many groups it holds.
    pub fn len(&self) -> usize {
        self.groups.len().saturating_sub(1)
    }

    /// Whether it holds no group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a state updater is called with (the contract's `state-batch`):
/// each key of the partition once, its new values grouped, its previous
/// state.
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct StateBatch {
    /// Each key once: those with a state first, then the new ones.
    pub keys: Column,
    /// The new values, grouped by key.
    pub values: Column,
    /// Key `i`'s values are `values[groups[i] .. groups[i + 1]]`.
    pub groups: Packed<u32>,
    /// Each key's previous state (a placeholder where it has none).
    pub states: Column,
    /// Whether key `i` had a state.
    #[component(name = "has-state")]
    pub has_state: Packed<bool>,
}

impl StateBatch {
    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What a state updater returns (the contract's `state-update`).
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct StateUpdate {
    /// Each input key's new state, in order.
    pub states: Column,
    /// `false`: the key's state is removed.
    pub keep: Packed<bool>,
}

/// What a state mapper is called with (the contract's `mapping-batch`).
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct MappingBatch {
    /// The keys with new values or timing out, their values and states.
    pub state: StateBatch,
    /// Whether key `i` times out.
    #[component(name = "timing-out")]
    pub timing_out: Packed<bool>,
}

/// What a state mapper returns (the contract's `state-mapping`).
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct StateMapping {
    /// Each input key's new state and whether it is kept.
    pub update: StateUpdate,
    /// The mapped records.
    pub mapped: Batch,
}

/// One `name = value` initialisation parameter.
#[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct Param {
    /// The parameter's name.
    pub name: String,
    /// Its value as text.
    pub value: String,
}

impl Param {
    /// The parameters of a pipeline file's `params = { ... }` table: strings
    /// as written, other values in their TOML form (numbers in decimal).
    pub fn from_toml<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a toml::Value)>,
    ) -> Vec<Param> {
        entries
            .into_iter()
            .map(|(name, value)| Param {
                name: name.clone(),
                value: match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            })
            .collect()
    }
}

/// An error an operator returned as a value.
#[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct GuestError {
    /// The operator's message.
    pub message: String,
    /// The input record to blame, if one is.
    #[component(name = "record-index")]
    pub record_index: Option<u32>,
}

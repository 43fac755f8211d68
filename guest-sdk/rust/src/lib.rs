//! Write Sluice stream operators in Rust.
//!
//! A Sluice operator is a WebAssembly component that the host calls once per
//! *partition batch*. With this SDK a plugin author writes one function per
//! record and an attribute macro generates the rest: the component's exports,
//! the declared record types, and the loop over the batch, which runs inside
//! the guest so that the host↔guest boundary is crossed once per batch.
//! [`macro@flat_map_batch`] hands the function the whole partition instead
//! (Spark's `mapPartitions`), e.g. to combine records before they leave.
//!
//! ```ignore
//! use sluice_guest::flat_map;
//!
//! /// Splits a line into its words.
//! #[flat_map]
//! fn split(line: &str) -> impl Iterator<Item = &str> {
//!     line.split_whitespace()
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the component.
//!
//! # The operator kinds, and sinks
//!
//! | macro | function shape | Spark equivalent |
//! | --- | --- | --- |
//! | [`macro@map`] | `fn(R) -> O` or `fn(R) -> Result<O, E>` | `map` |
//! | [`macro@flat_map`] | `fn(R) -> impl IntoIterator<Item = O>` | `flatMap` |
//! | [`macro@flat_map_batch`] | `fn(Vec<R>) -> impl IntoIterator<Item = O>`, the whole partition | `mapPartitions` |
//! | [`macro@flat_map_values`] | `fn(V) -> impl IntoIterator<Item = W>`, the host keeping keys | `flatMapValues` |
//! | [`macro@filter`] | `fn(R) -> bool` | `filter` |
//! | [`macro@reduce`] | `fn(V, V) -> V`, associative and commutative | `reduceByKey` |
//! | [`macro@inverse_reduce`] | `fn(V, V) -> V`, undoing `#[reduce]` | `reduceByKeyAndWindow`'s `invFunc` |
//! | [`macro@update_state`] | `fn(&[V], Option<S>) -> Option<S>` | `updateStateByKey` |
//! | [`macro@map_with_state`] | `fn(K, Option<V>, &mut State<S>) -> O` | `mapWithState` |
//! | [`macro@sink`] | `fn(&SinkBatch, Vec<R>) -> Result<(), E>` | `foreachRDD` |
//!
//! `R` is an input record: a value (`&str`, `&[u8]`, `i64`, `f64`,
//! [`Json`]) for an unkeyed stream, or a `(key, value)` tuple for a keyed one.
//! `O` is an output record: a value (`&str`, `String`, `&[u8]`, `Vec<u8>`,
//! `i64`, `f64`, [`Json`]) or a `(key, value)` tuple. The macro derives the
//! operator's declared types from these, so the host can check a pipeline
//! before it runs.
//!
//! # Parameters
//!
//! Every macro takes an optional `init = path` naming a function
//! `fn(&Params) -> Result<(), String>` that reads the stream's parameters from
//! the pipeline file. Parameters the function does not read are refused, and a
//! plugin without `init` refuses every parameter, so a typo never goes
//! unnoticed.
//!
//! # Layout
//!
//! - [`value`]: the value and record types an operator may take and give.
//! - [`column`](mod@column): reading and building the bulk column layout of the contract.
//! - [`Params`]: initialisation parameters.
//! - [`State`]: a key's state in a `#[map_with_state]` function.
//! - [`http`]: HTTP requests from a `#[sink]`, to the URLs its pipeline
//!   file allows.
//! - [`SinkBatch`]: which batch and partition a `#[sink]` call writes.
//! - `bindings` (hidden): the `wit-bindgen` output for the seven operator worlds and the sink world.
#![deny(missing_docs)]

pub mod column;
pub mod http;
mod params;
pub mod state;
pub mod value;

#[doc(hidden)]
pub mod runtime;

pub use params::Params;
pub use sluice_guest_macros::{
    filter, flat_map, flat_map_batch, flat_map_values, inverse_reduce, map, map_with_state, reduce,
    sink, update_state,
};
pub use state::{State, StateValue};
pub use value::Json;

/// Bindings generated from `wit/operator.wit`, one module per world.
///
/// The record types live in [`types`](bindings::types) and are shared by
/// every world.
#[doc(hidden)]
pub mod bindings {
    /// Shared record types of the contract.
    pub use self::map_operator::sluice::operator::types;

    #[allow(missing_docs, clippy::all)]
    pub mod map_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/map-operator",
            pub_export_macro: true,
            export_macro_name: "export_map_operator",
            default_bindings_module: "::sluice_guest::bindings::map_operator",
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod flat_map_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/flat-map-operator",
            pub_export_macro: true,
            export_macro_name: "export_flat_map_operator",
            default_bindings_module: "::sluice_guest::bindings::flat_map_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod flat_map_values_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/flat-map-values-operator",
            pub_export_macro: true,
            export_macro_name: "export_flat_map_values_operator",
            default_bindings_module: "::sluice_guest::bindings::flat_map_values_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod filter_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/filter-operator",
            pub_export_macro: true,
            export_macro_name: "export_filter_operator",
            default_bindings_module: "::sluice_guest::bindings::filter_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod inverse_reduce_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/inverse-reduce-operator",
            pub_export_macro: true,
            export_macro_name: "export_inverse_reduce_operator",
            default_bindings_module: "::sluice_guest::bindings::inverse_reduce_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod map_with_state_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/map-with-state-operator",
            pub_export_macro: true,
            export_macro_name: "export_map_with_state_operator",
            default_bindings_module: "::sluice_guest::bindings::map_with_state_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod update_state_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/update-state-operator",
            pub_export_macro: true,
            export_macro_name: "export_update_state_operator",
            default_bindings_module: "::sluice_guest::bindings::update_state_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod sink_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/sink-operator",
            pub_export_macro: true,
            export_macro_name: "export_sink_operator",
            default_bindings_module: "::sluice_guest::bindings::sink_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
            generate_all,
        });
    }

    #[allow(missing_docs, clippy::all)]
    pub mod reduce_operator {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "sluice:operator/reduce-operator",
            pub_export_macro: true,
            export_macro_name: "export_reduce_operator",
            default_bindings_module: "::sluice_guest::bindings::reduce_operator",
            with: { "sluice:operator/types@0.3.0": crate::bindings::types },
        });
    }
}

pub use bindings::sink_operator::exports::sluice::operator::sink::SinkBatch;
pub use bindings::types::{Batch, Column, Error, ValueType};

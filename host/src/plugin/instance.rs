//! A loaded plugin version, and the call into a fresh instance of it.
//!
//! Every call instantiates the pre-instantiated component in a new store
//! (microseconds with the pooling allocator), runs `init` with the stream's
//! parameters and then the batch entry point, checks the output against the
//! declared types, and drops the store. A trapped store is never reused, and
//! no state survives between batches.

use std::borrow::Cow;
use std::sync::Arc;

use wasmtime::component::{Component, ComponentExportIndex, InstancePre};
use wasmtime::{Store, Trap};

use super::engine::{GuestState, PluginEngine};
use super::error::{CallError, CallFailure, CallSite, LoadFailure};
use super::limits::Limits;
use super::output::check_record_count;
use super::text_hints::{self, Columns, all_ascii, apply_output, terminate_batch};
use super::wire::{WireSignature, WireValueType};
use super::{
    GuestError, MappingBatch, OperatorKind, Param, Signature, StateBatch, StateMapping,
    StateUpdate, ValueExpansion, ValueGroups,
};
use crate::batch::{Batch, Column, RecordType, ValueType};
use crate::grouping::{Grouped, group_by_key};
use crate::packed::{MalformedList, Packed};

/// Indices of the exported functions, resolved once per component.
pub(crate) struct ExportIndices {
    describe: ComponentExportIndex,
    init: ComponentExportIndex,
    entry: ComponentExportIndex,
    /// A state mapper's `state-type`.
    state_type: Option<ComponentExportIndex>,
}

impl ExportIndices {
    pub(crate) fn new(component: &Component, kind: OperatorKind) -> Result<Self, LoadFailure> {
        let interface = component
            .get_export_index(None, kind.interface())
            .ok_or(LoadFailure::NoOperator)?;
        let function = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .ok_or_else(|| {
                    LoadFailure::Link(format!(
                        "interface {} lacks the function `{name}`",
                        kind.interface()
                    ))
                })
        };
        Ok(ExportIndices {
            describe: function("describe")?,
            init: function("init")?,
            entry: function(kind.entry_point())?,
            state_type: match kind {
                OperatorKind::MapWithState => Some(function("state-type")?),
                _ => None,
            },
        })
    }
}

/// One loaded version of a plugin, ready to be called from many threads.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

/// What identifies a loaded component.
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) hash: String,
    pub(crate) kind: OperatorKind,
    pub(crate) imports: Vec<String>,
}

struct Inner {
    name: String,
    hash: String,
    kind: OperatorKind,
    imports: Vec<String>,
    signature: Signature,
    /// A state mapper's declared state type.
    state_type: Option<ValueType>,
    params: Vec<Param>,
    limits: Limits,
    pre: InstancePre<GuestState>,
    exports: ExportIndices,
    /// Whether it imports `text-hints`: only then is its input checked for
    /// ASCII before each call.
    text_hints: bool,
    /// Whether it imports `terminated-text`, and so takes ASCII text
    /// columns with each value followed by a NUL.
    terminated_text: bool,
}

/// Why a call failed, before it is given its [`CallSite`].
pub(crate) struct Failure {
    pub(crate) failure: CallFailure,
    pub(crate) stderr: String,
}

impl Plugin {
    pub(crate) fn start(
        engine: &PluginEngine,
        identity: Identity,
        pre: InstancePre<GuestState>,
        exports: ExportIndices,
        params: Vec<Param>,
        limits: Limits,
    ) -> Result<Self, LoadFailure> {
        let now = crate::time::BatchTime::now().as_duration();
        let mut store = engine.new_store(&limits, now);
        type Declared = (Signature, Option<ValueType>);
        let startup =
            |store: &mut Store<GuestState>| -> wasmtime::Result<Result<Declared, String>> {
                let instance = pre.instantiate(&mut *store)?;
                let describe = instance
                    .get_typed_func::<(), (WireSignature,)>(&mut *store, &exports.describe)?;
                let signature = Signature::from(describe.call(&mut *store, ())?.0);
                let state_type = match &exports.state_type {
                    Some(index) => {
                        let state_type =
                            instance.get_typed_func::<(), (WireValueType,)>(&mut *store, index)?;
                        Some(ValueType::from(state_type.call(&mut *store, ())?.0))
                    }
                    None => None,
                };
                let init = instance.get_typed_func::<(&[Param],), (Result<(), GuestError>,)>(
                    &mut *store,
                    &exports.init,
                )?;
                let (initialised,) = init.call(&mut *store, (&params,))?;
                Ok(initialised
                    .map(|()| (signature, state_type))
                    .map_err(|e| format!("`init` refused the parameters: {}", e.message)))
            };
        let (signature, state_type) = match startup(&mut store) {
            Ok(Ok(declared)) => declared,
            Ok(Err(message)) => return Err(LoadFailure::Startup(message)),
            Err(e) => {
                let Failure { failure, stderr } = classify(e, &store, &limits);
                return Err(LoadFailure::StartupFailed { failure, stderr });
            }
        };
        let Identity {
            name,
            hash,
            kind,
            imports,
        } = identity;
        check_signature(kind, &signature)?;
        let imported = |interface: &str| imports.iter().any(|i| i == interface);
        let text_hints = imported(text_hints::INTERFACE);
        let terminated_text = imported(text_hints::TERMINATED_INTERFACE);
        Ok(Plugin {
            inner: Arc::new(Inner {
                name,
                hash,
                kind,
                imports,
                signature,
                state_type,
                params,
                limits,
                pre,
                exports,
                text_hints,
                terminated_text,
            }),
        })
    }

    /// The plugin's name (its file name without extension).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The sha256 of the component, in hex.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// The operator the plugin implements.
    pub fn kind(&self) -> OperatorKind {
        self.inner.kind
    }

    /// The component's imports, sorted.
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The types the plugin declared.
    pub fn signature(&self) -> Signature {
        self.inner.signature
    }

    /// A state mapper's declared state type (`None` for other kinds).
    pub fn state_type(&self) -> Option<ValueType> {
        self.inner.state_type
    }

    /// The limits its calls run under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Runs the plugin on one partition batch in a fresh instance whose
    /// clocks read the batch time of `site`.
    ///
    /// `output` is the record type the stream gives (for reducers, which
    /// accept any key type, the type of their input). The output is checked
    /// against it and against the output limits before it is returned.
    ///
    /// # Errors
    ///
    /// A [`CallError`] at `site`: a limit hit, a trap, an error the operator
    /// returned, or output that breaks the contract.
    pub fn call(
        &self,
        engine: &PluginEngine,
        input: &Batch,
        output: RecordType,
        site: &CallSite,
    ) -> Result<Batch, Box<CallError>> {
        if self.inner.kind == OperatorKind::ReduceByKey {
            return self.reduce(engine, input, output, site);
        }
        if self.inner.kind == OperatorKind::FlatMapValues {
            return self.flat_map_values(engine, input, output, site);
        }
        self.try_call(engine, input, output, site)
            .map_err(|Failure { failure, stderr }| {
                Box::new(CallError {
                    site: site.clone(),
                    failure,
                    stderr,
                })
            })
    }

    /// A reducer's call: the host groups the values by key, the plugin
    /// folds each group into one value, and the host puts each result on
    /// its key (so a reducer cannot give a key twice, drop one or invent
    /// one). An unkeyed batch is one group.
    fn reduce(
        &self,
        engine: &PluginEngine,
        input: &Batch,
        output: RecordType,
        site: &CallSite,
    ) -> Result<Batch, Box<CallError>> {
        let (keys, groups, origin) = match &input.keys {
            Some(keys) => {
                let Grouped {
                    keys,
                    values,
                    groups,
                    origin,
                } = group_by_key(keys, &input.values);
                (
                    Some(keys),
                    ValueGroups {
                        values,
                        groups: groups.into(),
                    },
                    Some(origin),
                )
            }
            None => {
                let records = input.len() as u32;
                let groups = if records == 0 {
                    vec![0]
                } else {
                    vec![0, records]
                };
                let values = input.values.clone();
                (
                    None,
                    ValueGroups {
                        values,
                        groups: groups.into(),
                    },
                    None,
                )
            }
        };
        let count = groups.len();
        let values = self
            .call_checked(engine, site, &[&groups.values], (&groups,), |values: &Column| {
                if values.len() != count {
                    return Err(format!(
                        "{} values for {count} keys; a reducer gives one value per key, in order",
                        values.len()
                    ));
                }
                values.validate(output.value, "value")
            })
            .map_err(|mut error| {
                // The operator blames a grouped value: name its record.
                if let CallFailure::Operator {
                    record: Some(record),
                    ..
                } = &mut error.failure
                    && let Some(input_record) = origin
                        .as_ref()
                        .and_then(|o| o.record_of(&groups.groups, *record))
                {
                    *record = input_record;
                }
                error
            })?;
        Ok(Batch { keys, values })
    }

    /// A value flat-mapper's call: the plugin gets the values, gives the
    /// values each one expands into and how many, and the host puts each
    /// output on the key of the value it came from (so the plugin cannot
    /// change, drop or invent keys). The counts must add up to the values
    /// given, one count per input, within `output_records_per_input`.
    fn flat_map_values(
        &self,
        engine: &PluginEngine,
        input: &Batch,
        output: RecordType,
        site: &CallSite,
    ) -> Result<Batch, Box<CallError>> {
        let records = input.len();
        let expansion = self.call_checked(
            engine,
            site,
            &[&input.values],
            (&input.values,),
            |expansion: &ValueExpansion| {
                if expansion.counts.len() != records {
                    return Err(format!(
                        "{} counts for {records} values; a value flat-mapper gives one count per input value",
                        expansion.counts.len()
                    ));
                }
                let total: u64 = expansion.counts.iter().map(|&c| u64::from(c)).sum();
                if total != expansion.values.len() as u64 {
                    return Err(format!(
                        "counts adding up to {total} for {} values; they must add up to the values given",
                        expansion.values.len()
                    ));
                }
                expansion.values.validate(output.value, "value")
            },
        )?;
        check_record_count(
            self.inner.kind,
            &self.inner.limits,
            records,
            expansion.values.len(),
        )
        .map_err(|failure| {
            Box::new(CallError {
                site: site.clone(),
                failure,
                stderr: String::new(),
            })
        })?;
        let keys = input.keys.as_ref().map(|keys| {
            let origins: Vec<u32> = expansion
                .counts
                .iter()
                .enumerate()
                .flat_map(|(i, &count)| std::iter::repeat_n(i as u32, count as usize))
                .collect();
            keys.gather(&origins)
        });
        Ok(Batch {
            keys,
            values: expansion.values,
        })
    }

    fn try_call(
        &self,
        engine: &PluginEngine,
        input: &Batch,
        output: RecordType,
        site: &CallSite,
    ) -> Result<Batch, Failure> {
        let inner = &*self.inner;
        let filter = inner.kind == OperatorKind::Filter;
        let text: Vec<&Column> = input.keys.iter().chain([&input.values]).collect();
        // What the guest gets: for one importing `terminated-text`, its
        // ASCII text terminated (only to lower: the counts and the filter's
        // selection below read the input as it is).
        let (sent, terminated) = if inner.terminated_text {
            terminate_batch(input, inner.signature.input)
        } else {
            (Cow::Borrowed(input), Default::default())
        };
        let sent = &*sent;
        let (returned, store) = self.run(engine, site, &text, |store, instance| {
            store.data_mut().text_hints.input_terminated = terminated;
            if filter {
                let keep = instance
                    .get_typed_func::<(&Batch,), (Result<Packed<bool>, GuestError>,)>(
                        &mut *store,
                        &inner.exports.entry,
                    )?;
                let (flags,) = keep.call(&mut *store, (sent,))?;
                Ok(flags.map(|flags| Returned::Flags(flags.0)))
            } else {
                let entry = instance.get_typed_func::<(&Batch,), (Result<Batch, GuestError>,)>(
                    &mut *store,
                    &inner.exports.entry,
                )?;
                let (batch,) = entry.call(&mut *store, (sent,))?;
                Ok(batch.map(Returned::Batch))
            }
        })?;
        let invalid = |reason: String| Failure {
            failure: CallFailure::InvalidOutput(reason),
            stderr: stderr_of(&store),
        };
        match returned {
            Returned::Batch(mut batch) => {
                let contract = |failure| Failure {
                    failure,
                    stderr: stderr_of(&store),
                };
                let hints = store.data().text_hints;
                apply_output(&mut batch, hints).map_err(invalid)?;
                // Text written one byte per character grows as UTF-8: the
                // output limit holds for what the host keeps.
                if hints.latin1_output != Columns::default()
                    && batch.byte_size() > inner.limits.output_bytes()
                {
                    return Err(contract(CallFailure::OutputTooLarge(format!(
                        "returned more than {} MiB once its text was converted to UTF-8 (limit `output_mib`); raise the limit or use smaller batches",
                        inner.limits.output_mib
                    ))));
                }
                batch.validate(output).map_err(invalid)?;
                check_record_count(inner.kind, &inner.limits, input.len(), batch.len())
                    .map_err(contract)?;
                Ok(batch)
            }
            Returned::Flags(flags) => {
                if flags.len() != input.len() {
                    return Err(invalid(format!(
                        "{} flags for {} records; a filter gives one flag per record",
                        flags.len(),
                        input.len()
                    )));
                }
                Ok(input.select(&flags))
            }
        }
    }

    /// Runs a state updater on one partition's keys in a fresh instance
    /// whose clocks read the batch time of `site`. The new states are
    /// checked against `state_type` (the stream's value type): one per
    /// input key, with one `keep` flag each.
    ///
    /// # Errors
    ///
    /// A [`CallError`] at `site`, as for [`Plugin::call`].
    pub fn update_state(
        &self,
        engine: &PluginEngine,
        input: &StateBatch,
        state_type: ValueType,
        site: &CallSite,
    ) -> Result<StateUpdate, Box<CallError>> {
        let text = [&input.keys, &input.values, &input.states];
        self.call_checked(engine, site, &text, (input,), |update: &StateUpdate| {
            check_state_update(input.len(), update, state_type)
        })
    }

    /// Runs a state mapper on one partition's touched keys in a fresh
    /// instance whose clocks read the batch time of `site`. The new states
    /// are checked against `state_type`, and the mapped records against
    /// `output` and their count: one per input value and per key timing
    /// out.
    ///
    /// # Errors
    ///
    /// A [`CallError`] at `site`, as for [`Plugin::call`].
    pub fn map_with_state(
        &self,
        engine: &PluginEngine,
        input: &MappingBatch,
        state_type: ValueType,
        output: RecordType,
        site: &CallSite,
    ) -> Result<StateMapping, Box<CallError>> {
        let state = &input.state;
        let text = [&state.keys, &state.values, &state.states];
        self.call_checked(engine, site, &text, (input,), |mapping: &StateMapping| {
            check_state_update(input.state.len(), &mapping.update, state_type)?;
            mapping.mapped.validate(output)?;
            let values = input.state.values.len();
            let timing_out = input.timing_out.iter().filter(|&&t| t).count();
            if mapping.mapped.len() == values + timing_out {
                Ok(())
            } else {
                Err(format!(
                    "{} mapped records for {values} values and {timing_out} keys timing out; a state mapper gives one record per value and per key timing out",
                    mapping.mapped.len(),
                ))
            }
        })
    }

    /// Runs an inverse reducer on `totals` and `leaving` (equal lengths) in
    /// a fresh instance whose clocks read the batch time of `site`; the
    /// result is checked to hold one `value_type` value per entry.
    ///
    /// # Errors
    ///
    /// A [`CallError`] at `site`, as for [`Plugin::call`].
    pub fn uncombine(
        &self,
        engine: &PluginEngine,
        totals: &Column,
        leaving: &Column,
        value_type: ValueType,
        site: &CallSite,
    ) -> Result<Column, Box<CallError>> {
        self.call_checked(engine, site, &[totals, leaving], (totals, leaving), |values: &Column| {
            if values.len() != totals.len() {
                return Err(format!(
                    "{} values for {} pairs; an inverse reducer gives one value per pair, in order",
                    values.len(),
                    totals.len()
                ));
            }
            values.validate(value_type, "value")
        })
    }

    /// Calls the entry point with `params` (whose columns are `text`) in a
    /// fresh instance whose clocks read the batch time of `site`; what it
    /// returns must pass `check`, else the call failed with invalid output.
    fn call_checked<P, R>(
        &self,
        engine: &PluginEngine,
        site: &CallSite,
        text: &[&Column],
        params: P,
        check: impl FnOnce(&R) -> Result<(), String>,
    ) -> Result<R, Box<CallError>>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentType + wasmtime::component::Lift + 'static,
    {
        let inner = &*self.inner;
        self.run(engine, site, text, |store, instance| {
            let entry = instance
                .get_typed_func::<P, (Result<R, GuestError>,)>(&mut *store, &inner.exports.entry)?;
            Ok(entry.call(&mut *store, params)?.0)
        })
        .and_then(|(returned, store)| {
            check(&returned)
                .map(|()| returned)
                .map_err(|reason| Failure {
                    failure: CallFailure::InvalidOutput(reason),
                    stderr: stderr_of(&store),
                })
        })
        .map_err(|Failure { failure, stderr }| {
            Box::new(CallError {
                site: site.clone(),
                failure,
                stderr,
            })
        })
    }

    /// Instantiates the plugin in a fresh store whose clocks read the batch
    /// time of `site` (and, for a plugin importing `text-hints`, whose
    /// `input-is-ascii` tells whether the `text` columns are all ASCII),
    /// runs `init`, then `entry`; an error the operator
    /// returns or a trap becomes a [`Failure`]. What the call printed goes
    /// to the engine's logs; the store comes back with the result, for the
    /// stderr of later checks.
    fn run<T>(
        &self,
        engine: &PluginEngine,
        site: &CallSite,
        text: &[&Column],
        entry: impl FnOnce(
            &mut Store<GuestState>,
            &wasmtime::component::Instance,
        ) -> wasmtime::Result<Result<T, GuestError>>,
    ) -> Result<(T, Store<GuestState>), Failure> {
        let inner = &*self.inner;
        let mut store = engine.new_store(&inner.limits, site.batch_time.as_duration());
        if inner.text_hints {
            store.data_mut().text_hints.input_ascii = all_ascii(text.iter().copied());
        }
        let result = (|| {
            let instance = inner.pre.instantiate(&mut store)?;
            let init = instance.get_typed_func::<(&[Param],), (Result<(), GuestError>,)>(
                &mut store,
                &inner.exports.init,
            )?;
            if let (Err(e),) = init.call(&mut store, (&inner.params,))? {
                return Ok(Err(e));
            }
            entry(&mut store, &instance)
        })();
        engine.record_call(site, &store, &inner.limits, !matches!(result, Ok(Ok(_))));
        if let Ok(Err(e)) = &result {
            // What the operator said goes with what it printed (an
            // interpreted guest's traceback travels in it).
            engine.record_error(site, &e.message);
        }
        match result {
            Ok(Ok(returned)) => Ok((returned, store)),
            Ok(Err(e)) => Err(Failure {
                failure: CallFailure::Operator {
                    message: e.message,
                    record: e.record_index,
                },
                stderr: stderr_of(&store),
            }),
            Err(e) => Err(classify(e, &store, &inner.limits)),
        }
    }
}

/// A state updater's result must hold one state of the declared type and
/// one flag per input key.
fn check_state_update(
    keys: usize,
    update: &StateUpdate,
    state_type: ValueType,
) -> Result<(), String> {
    if update.states.len() != keys || update.keep.len() != keys {
        return Err(format!(
            "{} states and {} keep flags for {keys} keys; a state updater gives one state and one flag per key, in the order of its input",
            update.states.len(),
            update.keep.len()
        ));
    }
    update.states.validate(state_type, "state")
}

enum Returned {
    Batch(Batch),
    Flags(Vec<bool>),
}

pub(crate) fn stderr_of(store: &Store<GuestState>) -> String {
    store.data().stderr.captured().marked()
}

/// Turns a wasmtime error into the precise failure, using what the store's
/// limiter recorded.
///
/// Two classes come from wasmtime's message text, since wasmtime gives them
/// no type: "fuel allocated for hostcalls" (output over `output_mib`) is
/// pinned by the e2e test
/// `each_hostile_guest_fails_only_its_own_partition_with_the_right_error`
/// (its `output_mib = 1` case), so a wasmtime upgrade that rewords it fails
/// there. "realloc" / "out of bounds" (a result whose pointers lie outside
/// the guest's memory) is pinned by no test: no guest can be built to
/// return such pointers through the SDKs; if wasmtime rewords it, those
/// failures are classed `trap` instead of `invalid_output`, and still fail
/// only their batch.
pub(crate) fn classify(e: wasmtime::Error, store: &Store<GuestState>, limits: &Limits) -> Failure {
    let stderr = stderr_of(store);
    let limiter = &store.data().limiter;
    let failure = match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallFailure::Timeout(limits.call_time),
        Some(Trap::StackOverflow) => CallFailure::StackOverflow(limits.stack_kib),
        Some(Trap::OutOfFuel) => CallFailure::Fuel(limits.fuel.unwrap_or(0)),
        _ if limiter.memory_exceeded => CallFailure::Memory(limits.memory_mib),
        _ if limiter.table_exceeded => CallFailure::Trap(format!(
            "a table grew past {} elements (limit `table_elements`): {e:#}",
            limits.table_elements
        )),
        Some(trap) => CallFailure::Trap(trap.to_string()),
        None => {
            let message = format!("{e:#}");
            if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                CallFailure::Trap(format!("the plugin called exit({})", exit.0))
            } else if let Some(malformed) = e.downcast_ref::<MalformedList>() {
                CallFailure::InvalidOutput(malformed.to_string())
            } else if message.contains("fuel allocated for hostcalls") {
                CallFailure::OutputTooLarge(format!(
                    "returned more than {} MiB (limit `output_mib`); raise the limit or use smaller batches",
                    limits.output_mib
                ))
            } else if message.contains("realloc") || message.contains("out of bounds") {
                CallFailure::InvalidOutput(message)
            } else {
                CallFailure::Trap(message)
            }
        }
    };
    Failure { failure, stderr }
}

/// A plugin's declared types must make sense for its kind.
fn check_signature(kind: OperatorKind, signature: &Signature) -> Result<(), LoadFailure> {
    let problem = match kind {
        OperatorKind::Filter if signature.input != signature.output => {
            Some("a filter must give the same record type it takes")
        }
        OperatorKind::ReduceByKey | OperatorKind::InverseReduce
            if signature.input != signature.output =>
        {
            Some("a reducer or its inverse must give the same record type it takes")
        }
        OperatorKind::UpdateState if signature.input.key != signature.output.key => {
            Some("a state updater gives (key, state) records with the key type it takes")
        }
        OperatorKind::FlatMapValues
            if signature.input.key.is_some() || signature.output.key.is_some() =>
        {
            Some("a value flat-mapper takes and gives values only (the host keeps the keys)")
        }
        _ => None,
    };
    match problem {
        Some(problem) => Err(LoadFailure::Startup(format!(
            "declares {} -> {}: {problem}",
            signature.input, signature.output
        ))),
        None => Ok(()),
    }
}

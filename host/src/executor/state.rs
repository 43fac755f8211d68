//! An `update_state_by_key` or `map_with_state` stream's step after its
//! chain: the batch's records, routed into the state's buckets by every
//! input partition, are gathered with the states of those buckets into
//! partitions sized by data, and each partition's keys are updated by one
//! call: every key with a state for `update_state_by_key`, only the keys
//! with new values or timing out for `map_with_state`.

use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use super::{ChainRun, PartitionCall, PartitionDetail, ShadowVerdict, StreamReport};
use crate::batch::Batch;
use crate::error::{CallSite, Error, Phase};
use crate::exchange::gather;
use crate::operator::{Operator, Versioned};
use crate::plan::StreamOp;
use crate::state::{KeyedState, NextState, Prepared, Selection, kept_states};

impl ChainRun<'_> {
    /// Updates the chain's stateful stream with `routed` (each input
    /// partition's records, routed into the state's buckets): one call per
    /// partition of the state that has keys or new records. Returns the
    /// state to keep once the batch succeeds, and the stream's output:
    /// every (key, state) kept.
    pub(super) fn update_state(
        &self,
        state: &Mutex<KeyedState>,
        routed: Vec<Vec<Batch>>,
        reports: &mut [StreamReport],
    ) -> Result<(NextState, Vec<Batch>), Error> {
        let stream = self.chain.last();
        let spec = &self.executor.plan.streams[stream];
        let Some(state_spec) = &spec.state else {
            return Err(Error::Internal(format!(
                "stream `{}` has keyed state but no state spec",
                spec.name
            )));
        };
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = state.buckets();
        let new_bytes: usize = routed.iter().flatten().map(Batch::byte_size).sum();
        let groups = spec
            .exchange
            .gathered(state.bytes_in(0..buckets) + new_bytes);
        let exchanged = gather(routed, &groups, spec.input_type);
        let maps = spec.op == StreamOp::MapWithState;
        let selection = if maps {
            Selection::Touched {
                idle_before: state_spec
                    .timeout
                    .map(|t| self.batch_time.0 - t.as_millis() as i64),
            }
        } else {
            Selection::All
        };
        let results = groups
            .par_iter()
            .zip(exchanged)
            .enumerate()
            .map(|(partition, (range, new))| {
                if new.is_empty()
                    && (maps && state_spec.timeout.is_none() || state.keys_in(range.clone()) == 0)
                {
                    return Ok((NextState::default(), None, PartitionCall::default()));
                }
                let Prepared { layout, input } = state.prepare(range.clone(), &new, selection);
                drop(new);
                if input.state.is_empty() {
                    // No key with values nor timing out: the buckets stay.
                    return Ok((NextState::default(), None, PartitionCall::default()));
                }
                let now = self.batch_time.0;
                let state_type = state_spec.record_type.value;
                if maps {
                    let output = spec.output_type;
                    let keys = input.state.len();
                    let (mapped, mut call) =
                        self.call_stateful(stream, partition, keys, |operator, site| {
                            operator.map_with_state(&input, state_type, output, site)
                        })?;
                    call.records_out(mapped.mapped.len());
                    let next = layout.apply(&state, &input, &mapped.update, now, buckets);
                    Ok((next, Some(mapped.mapped), call))
                } else {
                    let keys = input.state.len();
                    let (update, mut call) =
                        self.call_stateful(stream, partition, keys, |operator, site| {
                            operator.update_state(&input.state, state_type, site)
                        })?;
                    let next = layout.apply(&state, &input, &update, now, buckets);
                    let kept = kept_states(input, update);
                    call.records_out(kept.len());
                    Ok((next, Some(kept), call))
                }
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut next = NextState::default();
        let mut outputs = Vec::with_capacity(results.len());
        for (partition_next, output, call) in results {
            next.extend(partition_next);
            outputs.extend(output);
            call.report(&mut reports[stream], &mut Vec::new());
        }
        let before = state.size();
        let size = state.size_with(&next);
        if size.bytes > state_spec.max_state_bytes {
            return Err(Error::State {
                pipeline: self.executor.plan.name.clone(),
                stream: spec.name.clone(),
                batch_time: self.batch_time,
                message: format!(
                    "the state would hold {} MiB ({} keys, {} before this batch), over max_state_mib = {}; raise max_state_mib or remove keys in the update function (return no state)",
                    size.bytes.div_ceil(1 << 20),
                    size.keys,
                    before.keys,
                    state_spec.max_state_bytes >> 20,
                ),
            });
        }
        Ok((next, outputs))
    }

    /// One state call of `stream` on one partition (`call` with a version's
    /// operator and the call's site), under its `on_error` policy, with its
    /// shadow candidate's call on the same states (compared and dropped)
    /// when it has one.
    fn call_stateful<T: PartialEq>(
        &self,
        stream: usize,
        partition: usize,
        keys: usize,
        call: impl Fn(&dyn Operator, &CallSite) -> Result<T, Error>,
    ) -> Result<(T, PartitionCall), Error> {
        let operators = &self.operators[stream];
        let site = |version: &Versioned, shadow: bool| {
            self.site(stream, partition, Phase::Only, version, shadow)
        };
        let current = &*operators.current.operator;
        let recovery = self.recovery(stream, current, false);
        let started = Instant::now();
        let current_site = site(&operators.current, false);
        let result = recovery.stateful(&current_site, |site| call(current, site));
        let costs = current.take_costs(&current_site);
        let result = result?;
        let call_time = started.elapsed();
        let shadow = operators.shadow.as_ref().map(|shadow| {
            let started = Instant::now();
            let verdict = match call(&*shadow.operator, &site(shadow, true)) {
                Ok(theirs) if theirs == result => ShadowVerdict::Same,
                Ok(_) => ShadowVerdict::Differs,
                Err(e) => ShadowVerdict::Failed(e.to_string()),
            };
            (verdict, started.elapsed())
        });
        Ok((
            result,
            PartitionCall {
                called: true,
                dead_letters: Vec::new(),
                call_time,
                shadow,
                detail: Some(PartitionDetail {
                    partition,
                    phase: None,
                    records_in: keys as u64,
                    records_out: 0,
                    call_time,
                    costs,
                }),
                ..PartitionCall::default()
            },
        ))
    }
}

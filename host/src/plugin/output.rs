//! The checks a call's output must pass beyond its record types (which
//! [`crate::batch::Batch::validate`] checks): how many records a map or a
//! flat map (of records or of values) may give.
//!
//! A reducer needs no such check: it gets values the host grouped and gives
//! one value per group, which the host puts on the group's key
//! ([`crate::grouping`]). Its values cannot be checked — the host does not
//! know the combining function — so a reducer that adds wrongly is not
//! caught.

use super::OperatorKind;
use super::error::CallFailure;
use super::limits::Limits;

/// How many records an operator may give for `inputs` records.
pub(super) fn check_record_count(
    kind: OperatorKind,
    limits: &Limits,
    inputs: usize,
    outputs: usize,
) -> Result<(), CallFailure> {
    match kind {
        OperatorKind::Map if outputs != inputs => Err(CallFailure::InvalidOutput(format!(
            "{outputs} records for {inputs} inputs; a map gives exactly one record per input"
        ))),
        OperatorKind::FlatMap | OperatorKind::FlatMapValues
            if outputs as u64 > inputs as u64 * u64::from(limits.output_records_per_input) =>
        {
            Err(CallFailure::OutputTooLarge(format!(
                "gave {outputs} records for {inputs} inputs, over {} per input (limit `output_records_per_input`)",
                limits.output_records_per_input
            )))
        }
        _ => Ok(()),
    }
}

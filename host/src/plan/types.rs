//! Type fitting: the record type a stream gives, from its operator, what
//! its plugin declares and what its input gives. Deploys check a new
//! version with the same rule.

use crate::batch::RecordType;
use crate::plugin::{OperatorKind, Signature};

/// Why a plugin's declared types do not fit its place in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeMismatch {
    /// A reducer or state updater behind a stream of unkeyed records.
    Unkeyed {
        /// The operator.
        op: OperatorKind,
        /// What the upstream gives.
        upstream: RecordType,
    },
    /// The plugin takes other records than its input gives.
    Input {
        /// What the plugin takes, as text.
        takes: String,
        /// What the upstream gives.
        upstream: RecordType,
    },
}

impl TypeMismatch {
    /// What is wrong, for `plugin` reading from the node `from`.
    pub fn describe(&self, plugin: &str, from: &str) -> String {
        match self {
            TypeMismatch::Unkeyed { op, upstream } => format!(
                "{op} needs keyed records, but `{from}` gives unkeyed {upstream} records; add a `map` stream that gives (key, value) pairs"
            ),
            TypeMismatch::Input { takes, upstream } => format!(
                "plugin {plugin} takes {takes} records, but `{from}` gives {upstream} records"
            ),
        }
    }
}

/// The record type a stream of `op` gives when its plugin declares
/// `signature` and its input gives `upstream`.
///
/// # Errors
///
/// When the plugin cannot take what its input gives.
pub fn fit_types(
    op: OperatorKind,
    signature: Signature,
    upstream: RecordType,
) -> Result<RecordType, TypeMismatch> {
    let mismatch = |takes: String| TypeMismatch::Input { takes, upstream };
    match op {
        OperatorKind::ReduceByKey
        | OperatorKind::InverseReduce
        | OperatorKind::UpdateState
        | OperatorKind::MapWithState => {
            let Some(key) = upstream.key else {
                return Err(TypeMismatch::Unkeyed { op, upstream });
            };
            let key_fits = signature.input.key.is_none_or(|k| k == key);
            if !key_fits || signature.input.value != upstream.value {
                let takes = match signature.input.key {
                    Some(k) => format!("({}, {})", k.name(), signature.input.value.name()),
                    None => format!("(any key, {})", signature.input.value.name()),
                };
                return Err(mismatch(takes));
            }
            Ok(match op {
                // (key, state): the state type is the plugin's output value.
                OperatorKind::UpdateState => RecordType {
                    key: Some(key),
                    value: signature.output.value,
                },
                // The mapped records.
                OperatorKind::MapWithState => signature.output,
                _ => upstream,
            })
        }
        // A plugin that takes `json` values takes the host's composite
        // values too (a join's pairs), as JSON documents; a reducer or a
        // state keeps its input's type, so it takes exactly that.
        OperatorKind::Filter => {
            if !signature.input.takes(upstream) {
                return Err(mismatch(signature.input.to_string()));
            }
            Ok(upstream)
        }
        OperatorKind::Map | OperatorKind::FlatMap | OperatorKind::FlatMapValues => {
            if !signature.input.takes(upstream) {
                return Err(mismatch(signature.input.to_string()));
            }
            Ok(signature.output)
        }
    }
}

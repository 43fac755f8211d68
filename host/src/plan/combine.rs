//! The streams that read several: `union`, the joins and `cogroup`, run by
//! the host. Their inputs must emit at the same times (Spark refuses
//! "DStreams with different slide durations" too), but for static tables,
//! read in every batch; a union's inputs give one record type, a join's two
//! inputs are keyed with equal key types.

use std::time::Duration;

use super::{ErrorPolicy, KeyAdapter, NodeRef, StreamSpec, Upstream};
use crate::batch::{RecordType, ValueType};
use crate::config::{LoadedFile, StreamConfig, StreamOp};
use crate::error::{ConfigError, Error};
use crate::partition::Partitioning;
use crate::plugin::Signature;

/// A `union`, join or `cogroup` stream, checked: its inputs' types and
/// slides, and no key that applies to other operators.
pub(super) fn combine_spec(
    file: &LoadedFile,
    name: &str,
    cfg: &StreamConfig,
    inputs: &[NodeRef],
    upstreams: &[Upstream],
    partitioning: Partitioning,
) -> Result<StreamSpec, Error> {
    let op = *cfg.op.get_ref();
    let at_from = |message: String| -> Error {
        file.error_at(cfg.from.span(), format!("stream `{name}`: {message}"))
            .into()
    };
    refuse_other_keys(file, name, cfg)?;
    let names = cfg.from.get_ref().names();
    let (Some(first), Some(first_name)) = (upstreams.first(), names.first()) else {
        return Err(at_from(format!(
            "`{op}` needs the streams it reads in `from`"
        )));
    };
    let output_type = if op == StreamOp::Union {
        if inputs.len() < 2 {
            return Err(at_from(format!(
                "`union` appends several streams, but `from` names {}; list two or more, from = [\"a\", \"b\"]",
                inputs.len()
            )));
        }
        for (upstream, other) in upstreams.iter().zip(names).skip(1) {
            if upstream.record_type != first.record_type {
                return Err(at_from(format!(
                    "`union` needs one record type, but `{first_name}` gives {} records and `{other}` gives {}; map them to one type first",
                    first.record_type, upstream.record_type
                )));
            }
        }
        first.record_type
    } else {
        let ([left, right], [left_name, right_name]) = (upstreams, names) else {
            return Err(at_from(format!(
                "`{op}` reads two keyed streams, but `from` names {}; write from = [\"left\", \"right\"]",
                inputs.len()
            )));
        };
        join_type(
            op,
            (left.record_type, left_name),
            (right.record_type, right_name),
        )
        .map_err(at_from)?
    };
    // Tables are read in every batch; the streams must emit together.
    let mut emitting = upstreams.iter().zip(names).filter(|(u, _)| !u.table);
    let slide = match emitting.next() {
        Some((leader, leader_name)) => {
            for (upstream, other) in emitting {
                if upstream.slide != leader.slide {
                    return Err(at_from(format!(
                        "`{leader_name}` emits every {} but `{other}` every {}; `{op}` reads streams that emit at the same times (window both the same way, or neither)",
                        show(leader.slide),
                        show(upstream.slide)
                    )));
                }
            }
            leader.slide
        }
        None => first.slide,
    };
    let exchange = match &cfg.partitions {
        Some(p) if op == StreamOp::Union => {
            return Err(file
                .error_at(
                    p.span(),
                    format!("stream `{name}`: `partitions` does not apply to `union`, which keeps its inputs' partitions; add a `repartition` stream after it"),
                )
                .into());
        }
        Some(p) => super::checks::fixed_partitions(file, name, p)?,
        None => partitioning,
    };
    Ok(StreamSpec {
        name: name.to_owned(),
        from: inputs[0],
        inputs: inputs.to_vec(),
        op,
        plugin: None,
        params: Vec::new(),
        limits: cfg.limits.apply(file.file.limits),
        rollback_after: 0,
        plugin_path: None,
        input_type: first.record_type,
        output_type,
        call_types: Signature {
            input: first.record_type,
            output: output_type,
        },
        adapter: KeyAdapter::None,
        exchange,
        on_error: ErrorPolicy::Fail,
        window: None,
        inverse: None,
        state: None,
        transform: None,
        slide,
    })
}

/// The records a join or `cogroup` of `left` and `right` gives, as
/// PySpark gives them: `(k, (v, w))`, with `None` for a missing side of an
/// outer join, and `(k, ([v…], [w…]))` for `cogroup`.
fn join_type(
    op: StreamOp,
    (left, left_name): (RecordType, &str),
    (right, right_name): (RecordType, &str),
) -> Result<RecordType, String> {
    let (Some(key), Some(right_key)) = (left.key, right.key) else {
        let (unkeyed, its_type) = if left.key.is_none() {
            (left_name, left)
        } else {
            (right_name, right)
        };
        return Err(format!(
            "`{op}` joins keyed records, but `{unkeyed}` gives unkeyed {its_type} records; add a `map` stream that gives (key, value) pairs"
        ));
    };
    if key != right_key {
        return Err(format!(
            "`{op}` needs equal key types, but `{left_name}` has {key} keys and `{right_name}` has {right_key} keys"
        ));
    }
    let (v, w) = (left.value, right.value);
    let value = match op {
        StreamOp::Join => ValueType::pair(v, w),
        StreamOp::LeftOuterJoin => ValueType::pair(v, ValueType::option(w)),
        StreamOp::RightOuterJoin => ValueType::pair(ValueType::option(v), w),
        StreamOp::FullOuterJoin => ValueType::pair(ValueType::option(v), ValueType::option(w)),
        _ => ValueType::pair(ValueType::list(v), ValueType::list(w)),
    };
    Ok(RecordType {
        key: Some(key),
        value,
    })
}

/// The keys a stream table may hold that mean nothing to the host's
/// combining operators, refused by name.
fn refuse_other_keys(file: &LoadedFile, name: &str, cfg: &StreamConfig) -> Result<(), ConfigError> {
    let op = cfg.op.get_ref();
    let spans = [
        ("plugin", cfg.plugin.as_ref().map(|v| v.span())),
        (
            "window_duration",
            cfg.window_duration.as_ref().map(|v| v.span()),
        ),
        (
            "slide_duration",
            cfg.slide_duration.as_ref().map(|v| v.span()),
        ),
        (
            "max_state_mib",
            cfg.max_state_mib.as_ref().map(|v| v.span()),
        ),
        (
            "initial_state",
            cfg.initial_state.as_ref().map(|v| v.span()),
        ),
        (
            "inverse_plugin",
            cfg.inverse_plugin.as_ref().map(|v| v.span()),
        ),
        ("drop_when", cfg.drop_when.as_ref().map(|v| v.span())),
        ("timeout", cfg.timeout.as_ref().map(|v| v.span())),
        ("ascending", cfg.ascending.as_ref().map(|v| v.span())),
        ("num", cfg.num.as_ref().map(|v| v.span())),
        ("by", cfg.by.as_ref().map(|v| v.span())),
        ("fraction", cfg.fraction.as_ref().map(|v| v.span())),
        ("seed", cfg.seed.as_ref().map(|v| v.span())),
        ("retries", cfg.retries.as_ref().map(|v| v.span())),
        ("dead_letter", cfg.dead_letter.as_ref().map(|v| v.span())),
    ];
    if let Some((key, span)) = spans
        .into_iter()
        .find_map(|(key, span)| span.map(|s| (key, s)))
    {
        return Err(file.error_at(
            span,
            format!(
                "stream `{name}`: `{key}` does not apply to `{op}`, which the host runs itself"
            ),
        ));
    }
    if !cfg.params.is_empty() || cfg.on_error != crate::config::OnError::Fail {
        let key = if cfg.params.is_empty() {
            "on_error"
        } else {
            "params"
        };
        return Err(file.error_at(
            cfg.op.span(),
            format!(
                "stream `{name}`: `{key}` does not apply to `{op}`, which the host runs itself"
            ),
        ));
    }
    Ok(())
}

/// A slide for messages: `2s`, `1500ms`.
fn show(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

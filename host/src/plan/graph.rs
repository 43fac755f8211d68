//! The pipeline's graph: every `from` resolved to a node, streams ordered
//! so that each comes after its input, cycles refused with the cycle named.

use std::collections::BTreeMap;

use super::{NodeRef, SourceSpec, StreamSpec};
use crate::batch::RecordType;
use crate::config::LoadedFile;
use crate::error::ConfigError;
use crate::table::Table;

/// The record type flowing out of `node`: text lines from the files and
/// socket sources, what a Kafka source declares.
pub(super) fn node_type(
    sources: &[SourceSpec],
    streams: &[StreamSpec],
    tables: &[Table],
    node: NodeRef,
) -> RecordType {
    match node {
        NodeRef::Source(i) => sources[i].record_type(),
        NodeRef::Stream(i) => streams[i].output_type,
        NodeRef::Table(i) => tables[i].spec().record_type,
    }
}

/// The streams in an order where every stream comes after its inputs.
pub(super) fn topological_order(file: &LoadedFile) -> Result<Vec<&str>, ConfigError> {
    let cfg = &file.file;
    // Check every `from` first, so a typo is not reported as a cycle.
    for (name, stream) in &cfg.streams {
        for from in stream.from.get_ref().names() {
            if !cfg.sources.contains_key(from)
                && !cfg.streams.contains_key(from)
                && !cfg.tables.contains_key(from)
            {
                return Err(file.error_at(
                    stream.from.span(),
                    format!(
                        "stream `{name}` reads `from = \"{from}\"`, which is no source, stream or table (known: {})",
                        known_names(file)
                    ),
                ));
            }
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = cfg
        .streams
        .keys()
        .map(|k| (k.as_str(), Mark::New))
        .collect();
    let mut order = Vec::with_capacity(cfg.streams.len());
    for start in cfg.streams.keys() {
        if marks.get(start.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Depth first: a stream is placed once all its inputs are. Each
        // entry is a stream on the current path and how many of its inputs
        // were looked at.
        marks.insert(start, Mark::Visiting);
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        while let Some((current, next_input)) = path.last_mut() {
            let inputs = cfg.streams[*current].from.get_ref().names();
            let Some(input) = inputs.get(*next_input) else {
                marks.insert(current, Mark::Done);
                order.push(*current);
                path.pop();
                continue;
            };
            *next_input += 1;
            match marks.get(input.as_str()).copied() {
                // A source, or a stream already placed.
                None | Some(Mark::Done) => {}
                Some(Mark::Visiting) => {
                    let at = path.iter().position(|(n, _)| *n == input).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[at..].iter().map(|(n, _)| *n).collect();
                    cycle.push(input);
                    let span = cfg.streams[input.as_str()].from.span();
                    return Err(file.error_at(
                        span,
                        format!(
                            "the streams form a cycle: {}; a stream cannot depend on its own output",
                            cycle.join(" -> ")
                        ),
                    ));
                }
                Some(Mark::New) => {
                    marks.insert(input, Mark::Visiting);
                    path.push((input.as_str(), 0));
                }
            }
        }
    }
    Ok(order)
}

/// Every source, stream and table name, for messages about a name that is none.
pub(super) fn known_names(file: &LoadedFile) -> String {
    let cfg = &file.file;
    cfg.sources
        .keys()
        .chain(cfg.streams.keys())
        .chain(cfg.tables.keys())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

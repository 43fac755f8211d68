//! The pipeline's graph: every `from` resolved to a node, streams ordered
//! so that each comes after its input, cycles refused with the cycle named.

use std::collections::BTreeMap;

use super::{NodeRef, StreamSpec};
use crate::batch::RecordType;
use crate::config::LoadedFile;
use crate::error::ConfigError;

/// The record type flowing out of `node`: sources give text lines.
pub(super) fn node_type(streams: &[StreamSpec], node: NodeRef) -> RecordType {
    match node {
        NodeRef::Source(_) => RecordType::TEXT,
        NodeRef::Stream(i) => streams[i].output_type,
    }
}

/// The streams in an order where every stream comes after its input.
pub(super) fn topological_order(file: &LoadedFile) -> Result<Vec<&str>, ConfigError> {
    let cfg = &file.file;
    // Check every `from` first, so a typo is not reported as a cycle.
    for (name, stream) in &cfg.streams {
        let from = stream.from.get_ref();
        if !cfg.sources.contains_key(from) && !cfg.streams.contains_key(from) {
            return Err(file.error_at(
                stream.from.span(),
                format!(
                    "stream `{name}` reads `from = \"{from}\"`, which is no source or stream (known: {})",
                    known_names(file)
                ),
            ));
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
        // Follow `from` links up to a source or a stream already placed.
        let mut path: Vec<&str> = Vec::new();
        let mut current = start.as_str();
        loop {
            match marks.get(current).copied() {
                None | Some(Mark::Done) => break,
                Some(Mark::Visiting) => {
                    let at = path.iter().position(|n| *n == current).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[at..].to_vec();
                    cycle.push(current);
                    let span = cfg.streams[current].from.span();
                    return Err(file.error_at(
                        span,
                        format!(
                            "the streams form a cycle: {}; a stream cannot depend on its own output",
                            cycle.join(" -> ")
                        ),
                    ));
                }
                Some(Mark::New) => {
                    marks.insert(current, Mark::Visiting);
                    path.push(current);
                    current = cfg.streams[current].from.get_ref().as_str();
                }
            }
        }
        // Everything on the path is placed once its input is: in reverse.
        for name in path.into_iter().rev() {
            marks.insert(name, Mark::Done);
            order.push(name);
        }
    }
    Ok(order)
}

/// Every source and stream name, for messages about a name that is none.
pub(super) fn known_names(file: &LoadedFile) -> String {
    let cfg = &file.file;
    cfg.sources
        .keys()
        .chain(cfg.streams.keys())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

//! Chains: the streams that run per partition on one worker, with no
//! barrier between them.
//!
//! A chain starts at a stream whose input is materialised (a source, or a
//! stream kept whole) and follows the graph while the last stream is narrow
//! (map, flat-map, filter) and feeds exactly one stream and no sink: its
//! output then has one reader, the next stream, which can take it partition
//! by partition as soon as it is made. A stream with a stage boundary
//! (any shape but [`Shape::Narrow`]: `reduce_by_key`, `count_by_value`,
//! `count`, `window` and their windows) fed that way joins the chain as its
//! end, with its per-partition half (the map-side combine before the
//! exchange). Every other stream's output is kept whole, for its sinks and
//! its several readers.
//!
//! A stream that reads several (`union`, a join) is a chain of its own, and
//! its inputs' outputs are kept whole.
//!
//! Invariant: every stream of the plan is in exactly one chain, chains are
//! in an order where each one's input is made before it runs, and a chain
//! is never empty.

use crate::plan::{NodeRef, Plan, Shape};

/// Streams run together, per partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The chain's input.
    pub input: NodeRef,
    /// Narrow streams (plan indices), in order: each but the last feeds
    /// only the next.
    pub narrow: Vec<usize>,
    /// A stream with a stage boundary (a `reduce_by_key`, …) fed only by
    /// the last narrow stream (or by `input` when `narrow` is empty): its
    /// per-partition half runs in the chain.
    pub reduce: Option<usize>,
}

impl Chain {
    /// The chain's streams, in the order they run.
    pub fn streams(&self) -> impl Iterator<Item = usize> + '_ {
        self.narrow.iter().copied().chain(self.reduce)
    }

    /// The stream whose output the chain materialises.
    pub fn last(&self) -> usize {
        self.reduce
            .or_else(|| self.narrow.last().copied())
            .unwrap_or_default()
    }
}

/// The chains of `plan`, in an order that runs every input first.
pub fn chains(plan: &Plan) -> Vec<Chain> {
    let streams: Vec<(NodeRef, bool)> = plan
        .streams
        .iter()
        .map(|s| (s.from, s.shape() != Shape::Narrow))
        .collect();
    let more_inputs: Vec<(usize, NodeRef)> = plan
        .streams
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.inputs.iter().skip(1).map(move |&input| (i, input)))
        .collect();
    let sinks: Vec<NodeRef> = plan.sinks.iter().map(|s| s.from).collect();
    chains_of(&streams, &more_inputs, &sinks)
}

/// The chains of a graph: each stream's (first) input and whether it is a
/// `reduce_by_key`, in topological order; the other inputs of the streams
/// that read several (`union`, joins: each a chain of its own); and each
/// sink's input.
fn chains_of(
    streams: &[(NodeRef, bool)],
    more_inputs: &[(usize, NodeRef)],
    sinks: &[NodeRef],
) -> Vec<Chain> {
    let n = streams.len();
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut reads_several = vec![false; n];
    let firsts = streams.iter().enumerate().map(|(i, (from, _))| (i, *from));
    for (i, from) in firsts.chain(more_inputs.iter().copied()) {
        if let NodeRef::Stream(from) = from {
            readers[from].push(i);
        }
    }
    for &(i, _) in more_inputs {
        reads_several[i] = true;
    }
    let mut sunk = vec![false; n];
    for from in sinks {
        if let NodeRef::Stream(from) = *from {
            sunk[from] = true;
        }
    }
    let mut taken = vec![false; n];
    let mut out = Vec::new();
    // Plan order is topological, and a chain's streams all come after its
    // head: taking heads in plan order runs every input first.
    for head in 0..n {
        if taken[head] {
            continue;
        }
        let mut chain = Chain {
            input: streams[head].0,
            narrow: Vec::new(),
            reduce: None,
        };
        let mut next = Some(head);
        while let Some(i) = next.take() {
            taken[i] = true;
            if streams[i].1 {
                chain.reduce = Some(i);
                break;
            }
            chain.narrow.push(i);
            if let [only] = readers[i][..]
                && !sunk[i]
                && !taken[only]
                && !reads_several[only]
            {
                next = Some(only);
            }
        }
        out.push(chain);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NARROW: bool = false;
    const REDUCE: bool = true;

    fn chain(input: NodeRef, narrow: &[usize], reduce: Option<usize>) -> Chain {
        Chain {
            input,
            narrow: narrow.to_vec(),
            reduce,
        }
    }

    #[test]
    fn a_narrow_line_and_its_reduce_make_one_chain() {
        // lines -> words -> pairs -> counts -> sink
        let streams = [
            (NodeRef::Source(0), NARROW),
            (NodeRef::Stream(0), NARROW),
            (NodeRef::Stream(1), REDUCE),
        ];
        assert_eq!(
            chains_of(&streams, &[], &[NodeRef::Stream(2)]),
            [chain(NodeRef::Source(0), &[0, 1], Some(2))]
        );
    }

    #[test]
    fn a_stream_with_a_sink_or_two_readers_is_kept_whole() {
        // words has a sink of its own; pairs has two readers.
        let streams = [
            (NodeRef::Source(0), NARROW), // 0 words
            (NodeRef::Stream(0), NARROW), // 1 pairs
            (NodeRef::Stream(1), REDUCE), // 2 counts
            (NodeRef::Stream(1), NARROW), // 3 long pairs
            (NodeRef::Stream(2), NARROW), // 4 after counts
            (NodeRef::Stream(4), REDUCE), // 5 reduce after a reduce
        ];
        let sinks = [NodeRef::Stream(0), NodeRef::Stream(3), NodeRef::Stream(5)];
        assert_eq!(
            chains_of(&streams, &[], &sinks),
            [
                chain(NodeRef::Source(0), &[0], None),
                chain(NodeRef::Stream(0), &[1], None),
                chain(NodeRef::Stream(1), &[], Some(2)),
                chain(NodeRef::Stream(1), &[3], None),
                chain(NodeRef::Stream(2), &[4], Some(5)),
            ]
        );
    }

    #[test]
    fn a_stream_that_reads_several_is_a_chain_of_its_own() {
        // left -> join <- right, each side narrow with one reader.
        let streams = [
            (NodeRef::Source(0), NARROW), // 0 left
            (NodeRef::Source(1), NARROW), // 1 right
            (NodeRef::Stream(0), REDUCE), // 2 join of 0 and 1
            (NodeRef::Stream(2), NARROW), // 3 after the join
        ];
        assert_eq!(
            chains_of(&streams, &[(2, NodeRef::Stream(1))], &[NodeRef::Stream(3)]),
            [
                chain(NodeRef::Source(0), &[0], None),
                chain(NodeRef::Source(1), &[1], None),
                chain(NodeRef::Stream(0), &[], Some(2)),
                chain(NodeRef::Stream(2), &[3], None),
            ]
        );
    }

    #[test]
    fn every_stream_is_in_one_chain_after_its_input() {
        let streams = [
            (NodeRef::Source(0), REDUCE),
            (NodeRef::Source(1), NARROW),
            (NodeRef::Stream(0), NARROW),
            (NodeRef::Stream(1), NARROW),
            (NodeRef::Stream(2), NARROW),
        ];
        let chains = chains_of(&streams, &[], &[NodeRef::Stream(3), NodeRef::Stream(4)]);
        let mut seen: Vec<usize> = chains.iter().flat_map(|c| c.streams()).collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        let mut made = Vec::new();
        for chain in &chains {
            if let NodeRef::Stream(input) = chain.input {
                assert!(made.contains(&input), "{chain:?} runs before its input");
            }
            made.push(chain.last());
        }
    }
}

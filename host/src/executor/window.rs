//! A windowed stream's step after its batch is reduced: the window takes
//! the reduced batch, and at a slide its partials are combined into the
//! stream's output.

use std::sync::Mutex;

use rayon::prelude::*;

use super::incremental::WindowMoves;
use super::{ChainRun, StreamReport};
use crate::batch::Batch;
use crate::error::{Error, Phase};
use crate::exchange::route;
use crate::plan::{Shape, StreamOp};
use crate::recovery::DeadLetter;
use crate::window::{NextWindow, WindowState};

impl ChainRun<'_> {
    /// Adds `reduced`, the chain's windowed stream's batch, to a copy of
    /// its window, checks the window's size against `max_state_mib`, and,
    /// when the batch time is a slide, combines the window's partials by
    /// key: exchanged into partitions sized by data, each combined by the
    /// reducer. A window kept incrementally (an inverse and at least five
    /// slides, see `incremental`) updates its totals every batch instead,
    /// and they are its output at a slide. Returns the window to keep once
    /// the batch succeeds and the stream's output (no partition between
    /// slides).
    pub(super) fn window(
        &self,
        window: &Mutex<WindowState>,
        reduced: Vec<Batch>,
        reports: &mut [StreamReport],
        dead_letters: &mut [Vec<DeadLetter>],
    ) -> Result<(NextWindow, Vec<Batch>), Error> {
        let stream = self.chain.last();
        let spec = &self.executor.plan.streams[stream];
        let Some(window_spec) = spec.window else {
            return Err(Error::Internal(format!(
                "stream `{}` has window state but no window",
                spec.name
            )));
        };
        let buckets = spec.exchange.buckets();
        let (mut next, totals, moves) = {
            let state = window.lock().unwrap_or_else(|e| e.into_inner());
            // With an inverse, what enters and leaves is routed into the
            // totals' buckets before the window takes the batch.
            let moves = state.totals().map(|_| {
                let route_all = |pieces: Vec<&Batch>| -> Vec<Vec<Batch>> {
                    pieces
                        .par_iter()
                        .map(|b| route(b, buckets, spec.output_type))
                        .collect()
                };
                let (leaving, leaving_batches) = state.leaving(self.batch_time, window_spec.length);
                WindowMoves {
                    entering: route_all(reduced.iter().collect()),
                    leaving: route_all(leaving),
                    leaving_batches,
                }
            });
            let totals = state.totals().map(<[_]>::to_vec);
            (
                state.next(self.batch_time, window_spec.length, reduced),
                totals,
                moves,
            )
        };
        let mut emitted = None;
        if let (Some(totals), Some(moves)) = (totals, moves) {
            let (next_totals, output) =
                self.update_totals(&totals, moves, reports, dead_letters)?;
            next.set_totals(next_totals);
            emitted = Some(output);
        }
        let size = next.size();
        if size.bytes > window_spec.max_state_bytes {
            return Err(Error::State {
                pipeline: self.executor.plan.name.clone(),
                stream: spec.name.clone(),
                batch_time: self.batch_time,
                message: format!(
                    "the window would hold {} MiB ({} records of {} batches), over max_state_mib = {}; raise max_state_mib or shorten window_duration",
                    size.bytes.div_ceil(1 << 20),
                    size.records,
                    size.batches,
                    window_spec.max_state_bytes >> 20,
                ),
            });
        }
        if !self.batch_time.is_multiple_of(window_spec.slide) {
            return Ok((next, Vec::new()));
        }
        if let Some(output) = emitted {
            // The totals are the window's value.
            return Ok((next, output));
        }
        let pieces: Vec<&Batch> = next.partitions().collect();
        if pieces.is_empty() && spec.op == StreamOp::CountByWindow {
            // No record in the window: a count of 0, as `count` gives for
            // an empty batch.
            let zero = Batch {
                keys: None,
                values: crate::batch::Column::Int64(vec![0]),
            };
            return Ok((next, vec![zero]));
        }
        if size.batches <= 1 || spec.shape() == Shape::Gathered {
            // `window` gives the records of its batches, oldest first.
            // One batch's reduced partitions hold distinct keys.
            let output = pieces.into_iter().cloned().collect();
            return Ok((next, output));
        }
        if spec.shape() == Shape::Global {
            // `reduce_by_window`: the batches' results reduced into one.
            let all = Batch::concat(pieces.into_iter().cloned().collect(), spec.output_type);
            let output = self.call_whole(stream, Phase::Window, &all, reports, dead_letters)?;
            return Ok((next, vec![output]));
        }
        let buckets = spec.exchange.buckets();
        let routed: Vec<Vec<Batch>> = pieces
            .par_iter()
            .map(|batch| route(batch, buckets, spec.output_type))
            .collect();
        let output = self.gather_and_combine(
            stream,
            Phase::Window,
            routed,
            size.bytes,
            reports,
            dead_letters,
        )?;
        Ok((next, output))
    }
}

//! What the host keeps for a windowed stream between batches: the reduced
//! records of each batch still inside the window.
//!
//! A `reduce_by_key_and_window` stream reduces each batch by key, as
//! `reduce_by_key` does, and keeps that batch's result (its *partial*)
//! for as long as the window covers the batch. At a slide, the stream's
//! output is the partials of the window reduced again by key — Spark's
//! form without an inverse function. Partials never change once made, so
//! a checkpoint can snapshot a window incrementally: write the partials
//! added since the last snapshot, forget those that left.
//!
//! With an inverse reducer (`inverse_plugin`, Spark's `invFunc`), the
//! window also keeps each key's value over the window, its *totals*, cut
//! into the hash buckets of the stream's exchange: each batch adds the
//! entering partial and removes the partials leaving, and only their keys
//! are passed to the plugins. The partials are still kept: they are what
//! leaves.
//!
//! The partials and totals are held in memory, bounded by the stream's
//! `max_state_mib`: a batch that would take the window past it fails with
//! an error naming the stream rather than let the process be killed for
//! lack of memory.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::batch::{Batch, RecordType};
use crate::time::BatchTime;

/// One batch's reduced records, as kept for the window.
#[derive(Clone)]
struct Partial {
    time: BatchTime,
    partitions: Arc<Vec<Batch>>,
    records: usize,
    bytes: usize,
}

impl Partial {
    fn new(time: BatchTime, partitions: Vec<Batch>) -> Self {
        let partitions: Vec<Batch> = partitions.into_iter().filter(|b| !b.is_empty()).collect();
        Partial {
            time,
            records: partitions.iter().map(Batch::len).sum(),
            bytes: partitions.iter().map(Batch::byte_size).sum(),
            partitions: Arc::new(partitions),
        }
    }
}

/// How much a window holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSize {
    /// Batches with records in the window.
    pub batches: usize,
    /// Records over all of them (a key counts once per batch it is in).
    pub records: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// The partials of one windowed stream, oldest first, and its totals when
/// it has an inverse reducer.
#[derive(Default)]
pub struct WindowState {
    partials: VecDeque<Partial>,
    totals: Option<Vec<Arc<Batch>>>,
}

/// A window with one more batch, not yet kept: [`WindowState::commit`]
/// keeps it once the whole batch has succeeded, so a batch that fails and
/// runs again adds its records once.
pub struct NextWindow {
    /// The window's partials, oldest first, the new batch's last.
    partials: Vec<Partial>,
    /// The totals per bucket, when the window keeps them.
    totals: Option<Vec<Arc<Batch>>>,
}

impl NextWindow {
    /// Each partial's partitions, oldest first.
    pub fn partitions(&self) -> impl Iterator<Item = &Batch> {
        self.partials.iter().flat_map(|p| p.partitions.iter())
    }

    /// What the window holds.
    pub fn size(&self) -> WindowSize {
        WindowSize::of(&self.partials).with_totals(self.totals.as_deref())
    }

    /// Replaces the totals (per bucket) with `totals`.
    pub fn set_totals(&mut self, totals: Vec<Arc<Batch>>) {
        self.totals = Some(totals);
    }
}

impl WindowSize {
    /// This size plus the bytes of `totals`, if there are any.
    fn with_totals(self, totals: Option<&[Arc<Batch>]>) -> Self {
        let bytes = totals.map_or(0, |t| t.iter().map(|b| b.byte_size()).sum::<usize>());
        WindowSize {
            bytes: self.bytes + bytes,
            ..self
        }
    }

    /// The size of `partials`.
    fn of<'a>(partials: impl IntoIterator<Item = &'a Partial>) -> Self {
        partials
            .into_iter()
            .fold(WindowSize::default(), |size, p| WindowSize {
                batches: size.batches + 1,
                records: size.records + p.records,
                bytes: size.bytes + p.bytes,
            })
    }
}

impl WindowState {
    /// An empty window that keeps totals per key in `buckets` buckets of
    /// `record_type` records (for an inverse reducer).
    pub fn with_totals(buckets: usize, record_type: RecordType) -> Self {
        WindowState {
            partials: VecDeque::new(),
            totals: Some(
                (0..buckets.max(1))
                    .map(|_| Arc::new(Batch::empty(record_type)))
                    .collect(),
            ),
        }
    }

    /// The totals per bucket, when the window keeps them.
    pub fn totals(&self) -> Option<&[Arc<Batch>]> {
        self.totals.as_deref()
    }

    /// Each partial's batch time and partitions, oldest first (what a
    /// checkpoint writes, each partial once).
    pub fn partials(&self) -> impl Iterator<Item = (BatchTime, &[Batch])> {
        self.partials
            .iter()
            .map(|p| (p.time, p.partitions.as_slice()))
    }

    /// Puts back the partials (oldest first) and totals a checkpoint held;
    /// `totals` must be given exactly when the window keeps them.
    ///
    /// # Errors
    ///
    /// When the window keeps totals and none are given, or the other way
    /// round, or their bucket count differs.
    pub fn restore(
        &mut self,
        partials: Vec<(BatchTime, Vec<Batch>)>,
        totals: Option<Vec<Batch>>,
    ) -> Result<(), String> {
        match (&self.totals, &totals) {
            (Some(held), Some(given)) if held.len() != given.len() => {
                return Err(format!(
                    "holds totals in {} buckets where the stream has {}",
                    given.len(),
                    held.len()
                ));
            }
            (Some(_), None) => {
                return Err(
                    "holds no totals, which the stream keeps (it has an inverse reducer now)"
                        .into(),
                );
            }
            (None, Some(_)) => return Err(
                "holds totals, which the stream does not keep (its inverse reducer was removed)"
                    .into(),
            ),
            _ => {}
        }
        self.partials = partials
            .into_iter()
            .map(|(time, partitions)| Partial::new(time, partitions))
            .collect();
        self.totals = totals.map(|t| t.into_iter().map(Arc::new).collect());
        Ok(())
    }

    /// The partitions of the partials that a window of length `length`
    /// ending at `time` no longer covers (the batches leaving it), and how
    /// many batches those are.
    pub fn leaving(&self, time: BatchTime, length: Duration) -> (Vec<&Batch>, usize) {
        let start = time.0 - length.as_millis() as i64;
        let leaving: Vec<&Partial> = self.partials.iter().filter(|p| p.time.0 <= start).collect();
        let batches = leaving.len();
        (
            leaving
                .into_iter()
                .flat_map(|p| p.partitions.iter())
                .collect(),
            batches,
        )
    }

    /// The window of length `length` ending at `time`, with `reduced`, the
    /// batch at `time` reduced by key, added: the partials of the batches
    /// in (time − length, time].
    pub fn next(&self, time: BatchTime, length: Duration, reduced: Vec<Batch>) -> NextWindow {
        let start = time.0 - length.as_millis() as i64;
        let mut partials: Vec<Partial> = self
            .partials
            .iter()
            .filter(|p| p.time.0 > start && p.time < time)
            .cloned()
            .collect();
        let newest = Partial::new(time, reduced);
        if newest.records > 0 {
            partials.push(newest);
        }
        NextWindow {
            partials,
            totals: self.totals.clone(),
        }
    }

    /// Keeps `next` as the window.
    pub fn commit(&mut self, next: NextWindow) {
        self.partials = next.partials.into();
        self.totals = next.totals;
    }

    /// What the window holds.
    pub fn size(&self) -> WindowSize {
        WindowSize::of(&self.partials).with_totals(self.totals.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::RecordType;

    fn reduced(words: &[&str]) -> Vec<Batch> {
        vec![
            Batch::text(words.iter().copied()),
            Batch::empty(RecordType::TEXT),
        ]
    }

    #[test]
    fn a_window_keeps_the_batches_of_its_length_and_only_once_committed() {
        let mut state = WindowState::default();
        let length = Duration::from_secs(3);
        for (t, words) in [(1, &["a"][..]), (2, &["b", "c"]), (3, &[]), (4, &["d"])] {
            let next = state.next(BatchTime(t * 1000), length, reduced(words));
            state.commit(next);
        }
        // At 4 s the window is (1 s, 4 s]: batches 2 and 4 (3 was empty).
        assert_eq!(
            state.size(),
            WindowSize {
                batches: 2,
                records: 3,
                bytes: state.size().bytes
            }
        );
        let next = state.next(BatchTime(5000), length, reduced(&["e"]));
        let words: Vec<usize> = next.partitions().map(Batch::len).collect();
        assert_eq!(
            words,
            vec![1, 1],
            "(2 s, 5 s]: batches 4 and 5, no empty partition"
        );
        assert_eq!(state.size().batches, 2, "not kept before commit");
        // The same batch again (it failed and runs again) adds it once.
        let again = state.next(BatchTime(5000), length, reduced(&["e"]));
        state.commit(again);
        assert_eq!(state.size().records, 2);
    }
}

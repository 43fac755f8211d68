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
//! The partials are held in memory, bounded by the stream's
//! `max_state_mib`: a batch that would take the window past it fails with
//! an error naming the stream rather than let the process be killed for
//! lack of memory.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::batch::Batch;
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

/// The partials of one windowed stream, oldest first.
#[derive(Default)]
pub struct WindowState {
    partials: VecDeque<Partial>,
}

/// A window with one more batch, not yet kept: [`WindowState::commit`]
/// keeps it once the whole batch has succeeded, so a batch that fails and
/// runs again adds its records once.
pub struct NextWindow {
    /// The window's partials, oldest first, the new batch's last.
    partials: Vec<Partial>,
}

impl NextWindow {
    /// Each partial's partitions, oldest first.
    pub fn partitions(&self) -> impl Iterator<Item = &Batch> {
        self.partials.iter().flat_map(|p| p.partitions.iter())
    }

    /// What the window holds.
    pub fn size(&self) -> WindowSize {
        WindowSize::of(&self.partials)
    }
}

impl WindowSize {
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
        NextWindow { partials }
    }

    /// Keeps `next` as the window.
    pub fn commit(&mut self, next: NextWindow) {
        self.partials = next.partials.into();
    }

    /// What the window holds.
    pub fn size(&self) -> WindowSize {
        WindowSize::of(&self.partials)
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

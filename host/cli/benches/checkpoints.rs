//! Checkpoint benchmark: what writing and reading checkpoints costs.
//!
//! `cargo bench -p sluice-cli --bench checkpoints`.
//! Environment: `SLUICE_BENCH_STATE_KEYS` (keys of the state, default
//! 1,000,000), `SLUICE_BENCH_CHECKPOINT_FILES` (file names a `files`
//! source has read, default 1,000).
//!
//! - **Word count, per batch**: the two files a stateless pipeline writes
//!   per batch (`.pending` with the batch's files, `.done` with every name
//!   read), with fsyncs, as the scheduler writes them: median and worst of
//!   50 batches.
//! - **Per-key state**: a state of a million (text key, int64) entries in
//!   256 buckets, as `update_state_by_key` keeps it: a full snapshot, then
//!   the change snapshot after a batch that updated 1 % of the keys and
//!   after one that updated all of them (time to encode and write, bytes),
//!   and the time to read back a full snapshot and apply a change one
//!   (what a restart costs). The restored state is checked against the
//!   live one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use sluice::batch::{Batch, Column, RecordType, ValueType, Varlen};
use sluice::checkpoint::Checkpointer;
use sluice::checkpoint::columns::{Decoder, Encoder};
use sluice::checkpoint::store;
use sluice::plugin::StateUpdate;
use sluice::source::{FileName, SourceInput, SourcePosition, TakenFile};
use sluice::state::{KeyedState, Prepared, Selection};
use sluice::time::BatchTime;

const STATE: RecordType = RecordType {
    key: Some(ValueType::Text),
    value: ValueType::Int64,
};
const BUCKETS: usize = 256;

fn main() {
    let keys: usize = common::env_or("SLUICE_BENCH_STATE_KEYS", 1_000_000);
    let files: usize = common::env_or("SLUICE_BENCH_CHECKPOINT_FILES", 1_000);
    let work = tempfile::tempdir().unwrap();
    println!(
        "checkpoints (this machine, files in {})",
        work.path().display()
    );
    word_count(&work.path().join("wordcount"), files);
    state(&work.path().join("state"), keys);
}

/// The per-batch files of a stateless pipeline whose source has read
/// `files` files.
fn word_count(dir: &Path, files: usize) {
    let (mut checkpoints, _) = Checkpointer::open("bench", dir).unwrap();
    let mut times = Vec::new();
    for batch in 0..50 {
        let name = |i: usize| FileName::Text(format!("part-{i:06}.txt"));
        let read = BTreeMap::from([(
            "lines".to_owned(),
            SourceInput::Files {
                files: vec![TakenFile {
                    name: name(files + batch),
                    size: 10_000_000,
                    inode: 1,
                    modified_ns: 1,
                }],
            },
        )]);
        let position = BTreeMap::from([(
            "lines".to_owned(),
            SourcePosition::Files {
                done: (0..=files + batch).map(name).collect(),
            },
        )]);
        let time = BatchTime(1_000 * (batch as i64 + 1));
        let start = Instant::now();
        checkpoints.batch_started(time, read).unwrap();
        checkpoints
            .batch_done(time, position, Vec::new(), BTreeMap::new())
            .unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "  word count, per batch (.pending + .done, {files} names read): median {:.2?}, worst {:.2?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

/// A million keys: full snapshot, 1 % and 100 % changes, restore.
fn state(dir: &Path, keys: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut live = KeyedState::load(BUCKETS, STATE, &entries(0..keys, 1));
    live.track_removed_keys();
    let size = live.size();
    println!(
        "  state: {keys} keys, {:.1} MiB of keys and states",
        size.bytes as f64 / (1 << 20) as f64
    );
    let full = snapshot(dir, "base", |out| live.encode_full(out));
    live.snapshot_taken();
    for (label, changed) in [("1 %", keys / 100), ("100 %", keys)] {
        update(&mut live, changed);
        let bytes = snapshot(dir, &format!("changes {label}"), |out| {
            live.encode_changes(out)
        });
        println!(
            "    changes of {label} of the keys: {:.1} % of the full snapshot's bytes",
            bytes as f64 * 100.0 / full as f64
        );
        if changed < keys {
            // A restart: the full snapshot and these changes.
            let start = Instant::now();
            let base = store::read_bytes(&dir.join("base")).unwrap();
            let mut restored =
                KeyedState::decode_full(&mut Decoder::new(&base), BUCKETS, STATE).unwrap();
            let changes = store::read_bytes(&dir.join(format!("changes {label}"))).unwrap();
            restored.apply_changes(&mut Decoder::new(&changes)).unwrap();
            let elapsed = start.elapsed();
            assert_eq!(
                restored.snapshot_with(&Default::default(), 1),
                live.snapshot_with(&Default::default(), 1),
                "the restored state differs"
            );
            println!("    restore (read the full snapshot, apply these changes): {elapsed:.2?}");
        }
        live.snapshot_taken();
    }
}

/// Encodes with `encode` and writes the file `name` (fsynced); prints and
/// returns its size.
fn snapshot(dir: &Path, name: &str, encode: impl FnOnce(&mut Encoder)) -> usize {
    let start = Instant::now();
    let mut out = Encoder::default();
    encode(&mut out);
    let encoded = start.elapsed();
    store::write_bytes(&dir.join(name), &out.bytes, || {}).unwrap();
    let total = start.elapsed();
    println!(
        "    {name}: {:.1} MiB in {total:.2?} ({encoded:.2?} to encode, {:.2?} to write and fsync)",
        out.bytes.len() as f64 / (1 << 20) as f64,
        total.saturating_sub(encoded)
    );
    out.bytes.len()
}

/// (key, value) entries for keys `range`.
fn entries(range: std::ops::Range<usize>, value: i64) -> Batch {
    let mut keys = Varlen::with_capacity(range.len(), range.len() * 8);
    for k in range.clone() {
        keys.push(format!("k{k:07}").as_bytes());
    }
    Batch {
        keys: Some(Column::Varlen(keys)),
        values: Column::Int64(vec![value; range.len()]),
    }
}

/// Gives `changed` of the keys (spread over all buckets) a new value, as a
/// batch of `update_state_by_key` would (one call over all buckets).
fn update(state: &mut KeyedState, changed: usize) {
    let keys = state.size().keys;
    let stride = (keys / changed.max(1)).max(1);
    let mut batch_keys = Varlen::with_capacity(changed, changed * 8);
    for k in (0..keys).step_by(stride).take(changed) {
        batch_keys.push(format!("k{k:07}").as_bytes());
    }
    let new = Batch {
        values: Column::Int64(vec![1; batch_keys.len()]),
        keys: Some(Column::Varlen(batch_keys)),
    };
    let Prepared { layout, input } =
        state.prepare(0..BUCKETS, &new, Selection::Touched { idle_before: None });
    let Column::Int64(previous) = &input.state.states else {
        panic!("int64 states");
    };
    let update = StateUpdate {
        states: Column::Int64(previous.iter().map(|s| s + 1).collect()),
        keep: vec![true; previous.len()].into(),
    };
    let next = layout.apply(state, &input, &update, 2_000, BUCKETS);
    state.commit(next, 2_000);
}

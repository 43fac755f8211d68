//! Cutting a batch's input into partitions sized by data.
//!
//! A partition batch is the unit of work: one call per stream, on one
//! worker. Its size bounds what a call holds (input, output, the guest's
//! memory), so partitions are cut by bytes, not only by cores: a batch of
//! `B` bytes gets `max(cores, ⌈B / target⌉)` partitions, rounded up to a
//! multiple of the cores so the last wave keeps every worker busy, each of
//! about `B / count` bytes. A backlog of any size then runs in waves of
//! partitions of bounded size, and no per-call default limit trips on it.
//! An explicit `partitions` fixes the count instead.
//!
//! Sources cut as they decode ([`Partitioning::chunk_bytes`]), so the
//! input is never copied whole; [`Partitioning::cut`] only evens out what
//! a source could not (a socket's buffer, a fixed count).

use crate::batch::{Batch, RecordType};

/// The default `target_partition_mib`, chosen by measurement (see
/// docs/architecture.md, "Partitions sized by data").
pub const DEFAULT_TARGET_PARTITION_MIB: usize = 4;

/// How a batch's input becomes partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partitioning {
    /// Exactly this many partitions, whatever the size (`partitions`).
    Fixed(usize),
    /// Partitions of about `target_bytes`, at least `cores` of them.
    BySize {
        /// The worker threads.
        cores: usize,
        /// The largest partition wanted, in bytes.
        target_bytes: usize,
    },
}

impl std::fmt::Display for Partitioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Partitioning::Fixed(count) => write!(f, "{count} partitions"),
            Partitioning::BySize {
                cores,
                target_bytes,
            } => write!(
                f,
                "partitions of up to {} MiB, at least {cores}",
                target_bytes >> 20
            ),
        }
    }
}

/// The smallest partition a source cuts as it decodes.
pub const MIN_CHUNK_BYTES: usize = 64 << 10;

/// Hash buckets an exchange sized by data routes into: the most partitions
/// it can make after the exchange. Buckets are gathered into partitions,
/// whole and contiguous, once the combined size is known.
pub const EXCHANGE_BUCKETS: usize = 256;

impl Partitioning {
    /// How many hash buckets an exchange with this partitioning routes
    /// records into: exactly the partitions when they are fixed, else
    /// [`EXCHANGE_BUCKETS`] (at least one per core).
    pub fn buckets(&self) -> usize {
        match *self {
            Partitioning::Fixed(count) => count.max(1),
            Partitioning::BySize { cores, .. } => EXCHANGE_BUCKETS.max(cores),
        }
    }

    /// The partitions after an exchange of `total_bytes` routed into
    /// [`Partitioning::buckets`] buckets: for each partition, the range of
    /// buckets it gathers.
    pub fn gathered(&self, total_bytes: usize) -> Vec<std::ops::Range<usize>> {
        let buckets = self.buckets();
        let count = self.count(total_bytes).min(buckets);
        (0..count)
            .map(|r| r * buckets / count..(r + 1) * buckets / count)
            .collect()
    }

    /// How many partitions a batch of `total_bytes` gets.
    pub fn count(&self, total_bytes: usize) -> usize {
        match *self {
            Partitioning::Fixed(count) => count.max(1),
            Partitioning::BySize {
                cores,
                target_bytes,
            } => {
                let cores = cores.max(1);
                let by_size = total_bytes.div_ceil(target_bytes.max(1));
                by_size.div_ceil(cores).max(1) * cores
            }
        }
    }

    /// The bytes of text a source puts in one partition of a batch of
    /// `total_bytes` (a longer line makes a partition of its own). Never
    /// under [`MIN_CHUNK_BYTES`]: a source that finds more than it expected
    /// (a file grew after it was listed) still makes few partitions, which
    /// [`Partitioning::cut`] then evens out.
    pub fn chunk_bytes(&self, total_bytes: usize) -> usize {
        self.share(total_bytes).max(MIN_CHUNK_BYTES)
    }

    /// The bytes of one partition when a batch of `total_bytes` is cut
    /// evenly.
    fn share(&self, total_bytes: usize) -> usize {
        total_bytes.div_ceil(self.count(total_bytes)).max(1)
    }

    /// The partitions of a batch from the chunks a source gave. Chunks of
    /// about the right size and count are kept as they are; otherwise the
    /// records are cut again, in order.
    pub fn cut(&self, chunks: Vec<Batch>, record_type: RecordType) -> Vec<Batch> {
        let total: usize = chunks.iter().map(Batch::byte_size).sum();
        let count = self.count(total);
        let fits = match self {
            Partitioning::Fixed(_) => chunks.len() == count,
            // A partition may overshoot by a line, or be one long line;
            // more than half a partition over otherwise means the source
            // did not cut. A source that decodes on every core ends each
            // core's run with a short partition or two.
            Partitioning::BySize { cores, .. } => {
                let chunk = self.share(total);
                chunks.len() <= count + 2 * cores
                    && chunks
                        .iter()
                        .all(|c| c.byte_size() <= chunk + chunk / 2 || c.len() == 1)
            }
        };
        if fits && !chunks.is_empty() {
            return chunks;
        }
        Batch::concat(chunks, record_type).split(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Column, Varlen};

    const MIB: usize = 1 << 20;

    fn by_size(cores: usize, target_mib: usize) -> Partitioning {
        Partitioning::BySize {
            cores,
            target_bytes: target_mib * MIB,
        }
    }

    #[test]
    fn an_exchange_gathers_whole_buckets_into_partitions_sized_by_data() {
        let p = by_size(2, 4);
        assert_eq!(p.buckets(), EXCHANGE_BUCKETS);
        assert_eq!(p.gathered(MIB), [0..128, 128..256]);
        let ranges = p.gathered(100 * MIB);
        assert_eq!(ranges.len(), 26);
        assert_eq!(ranges.first(), Some(&(0..9)));
        assert_eq!(ranges.last(), Some(&(246..256)));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(p.gathered(usize::MAX / 2).len(), EXCHANGE_BUCKETS);
        let fixed = Partitioning::Fixed(3);
        assert_eq!(fixed.buckets(), 3);
        assert_eq!(fixed.gathered(100 * MIB), [0..1, 1..2, 2..3]);
    }

    #[test]
    fn partitions_grow_with_the_data_in_whole_waves() {
        let p = by_size(2, 8);
        assert_eq!(p.count(0), 2);
        assert_eq!(p.count(MIB), 2);
        assert_eq!(p.count(16 * MIB), 2);
        assert_eq!(p.count(16 * MIB + 1), 4);
        assert_eq!(p.count(200 * MIB), 26);
        assert_eq!(p.chunk_bytes(200 * MIB), (200 * MIB).div_ceil(26));
        // Sized from 0 listed bytes, a source still cuts 64 KiB pieces.
        assert_eq!(p.chunk_bytes(0), MIN_CHUNK_BYTES);
        assert_eq!(Partitioning::Fixed(4).chunk_bytes(0), MIN_CHUNK_BYTES);
        assert_eq!(by_size(3, 8).count(200 * MIB), 27);
        assert_eq!(Partitioning::Fixed(5).count(200 * MIB), 5);
    }

    fn lines(n: usize) -> Batch {
        let mut column = Varlen::with_capacity(n, n * 4);
        for i in 0..n {
            column.push(format!("{i:03}").as_bytes());
        }
        Batch {
            keys: None,
            values: Column::Varlen(column),
        }
    }

    #[test]
    fn an_uncut_batch_is_cut_in_order_and_nothing_is_lost() {
        let p = Partitioning::BySize {
            cores: 2,
            target_bytes: 100,
        };
        let parts = p.cut(vec![lines(200)], RecordType::TEXT);
        assert_eq!(parts.len(), 6);
        // Equal shares, to within one record of 3 bytes.
        let sizes: Vec<usize> = parts.iter().map(Batch::byte_size).collect();
        assert!(sizes.iter().all(|&s| (97..=103).contains(&s)), "{sizes:?}");
        assert_eq!(
            Batch::concat(parts, RecordType::TEXT),
            lines(200),
            "records in order"
        );
    }

    #[test]
    fn chunks_of_the_right_size_are_kept_without_a_copy() {
        let p = Partitioning::BySize {
            cores: 2,
            target_bytes: 300,
        };
        let chunks = vec![lines(100), lines(100)];
        let kept = p.cut(chunks.clone(), RecordType::TEXT);
        assert_eq!(kept, chunks);
        // A line longer than a partition is a partition of its own.
        let mut with_long_line = chunks.clone();
        with_long_line.insert(1, Batch::text(["x".repeat(1000).as_str()]));
        assert_eq!(
            p.cut(with_long_line.clone(), RecordType::TEXT),
            with_long_line
        );
        // A source decoding on both cores ends each run with a short
        // partition: a few more chunks than partitions are kept too.
        let runs = vec![lines(40); 6];
        assert_eq!(p.count(720), 4);
        assert_eq!(p.cut(runs.clone(), RecordType::TEXT), runs);
        let fixed = Partitioning::Fixed(3).cut(chunks, RecordType::TEXT);
        assert_eq!(fixed.len(), 3);
        assert_eq!(fixed.iter().map(Batch::len).sum::<usize>(), 200);
    }
}

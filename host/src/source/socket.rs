//! The `socket` source: lines read from a TCP server, like Spark's
//! `socketTextStream`.
//!
//! A tokio task connects to `host:port` and reads lines into a buffer that
//! each batch takes. When the server is not there or closes the connection,
//! the task reconnects with exponential backoff (100 ms doubling to 5 s), so
//! a pipeline can start before its server. A final line without `\n` before
//! the connection closes is still a line.
//!
//! Bounded: a line is never held past `max_line_bytes` (it is split or
//! skipped as it arrives, under `long_lines`), and when the buffer holds
//! `buffer_mib` the task stops reading until the next batch takes it, so
//! TCP flow control pushes back on the server instead of memory growing.
//! `max_rate` (lines per second, like Spark's `receiver.maxRate`) paces the
//! reading the same way: a token bucket holding one second of lines. With
//! `backpressure = true` the rate is set after every batch by Spark's PID
//! estimator ([`super::rate_estimator`]) from how fast the batches were
//! processed (and never above `max_rate`).
//!
//! In a checkpointed pipeline the source keeps a write-ahead log
//! ([`super::wal`]): every line read is appended to it before the next read
//! from the socket, and a batch takes a range of the log, so the lines
//! received but not processed at a crash are processed after the restart,
//! and a batch run again reads the same lines.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::lines::{BadLine, LineDecoder, LongLine};
use super::rate_estimator::RateEstimator;
use super::wal::Wal;
use super::{Source, SourceInput, SourcePosition, SourceStats};
use crate::batch::{Batch, Column, Varlen};
use crate::error::{Error, ErrorKind};
use crate::partition::Partitioning;
use crate::plan::LinePolicy;
use crate::time::BatchTime;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the reader task hands to batches.
struct Shared {
    lines: Varlen,
    decoder: LineDecoder,
    /// What stopped the reading, and who is to blame, for the next batch
    /// to report.
    failure: Option<(String, ErrorKind)>,
    /// The write-ahead log, in a checkpointed pipeline.
    wal: Option<Wal>,
    /// How many of `lines` are in the log already.
    logged: usize,
}

impl Shared {
    /// Appends the lines not logged yet to the write-ahead log; a failure
    /// is kept for the next batch to report.
    fn log_new_lines(&mut self) {
        let Some(wal) = &mut self.wal else {
            return;
        };
        let count = self.lines.len();
        if self.logged == count {
            return;
        }
        let start = self.lines.offsets[self.logged] as usize;
        let mut bytes = Vec::with_capacity(self.lines.data.len() - start + count - self.logged);
        for i in self.logged..count {
            bytes.extend_from_slice(self.lines.get(i));
            bytes.push(b'\n');
        }
        if let Err(e) = wal.append(&bytes) {
            self.failure.get_or_insert((
                format!(
                    "cannot append to the write-ahead log: {e}; free disk space and restart (the lines already logged are processed then)"
                ),
                ErrorKind::External,
            ));
        }
        self.logged = count;
    }
}

/// The buffer, and how the reader waits for room in it.
struct Buffer {
    shared: Mutex<Shared>,
    /// Signalled when a batch takes the lines.
    taken: Notify,
    /// The bytes the buffer holds before reading pauses.
    capacity: usize,
    /// Whether the reader holds back what the server sent: it waits to
    /// keep to its rate, or has read bytes it has not decoded yet.
    held_back: AtomicBool,
}

impl Buffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads lines from a TCP server.
pub struct SocketSource {
    name: String,
    buffer: Arc<Buffer>,
    reader: tokio::task::JoinHandle<()>,
    /// The rate the reader keeps to (lines a second, as `f64` bits; 0: no
    /// limit).
    limit: Arc<AtomicU64>,
    /// `max_rate`.
    max_rate: Option<u32>,
    /// With `backpressure = true`.
    estimator: Option<RateEstimator>,
    /// The buffer's bytes when the last batch took it.
    held_bytes: u64,
    /// With a write-ahead log: where the next batch starts in it.
    next_from: u64,
    /// Where the buffer's first line lies in the log: lines before it
    /// (after a restart) are read back from the log.
    buffer_from: u64,
    /// The range the last poll took.
    last: Option<(u64, u64)>,
    /// The starts of the last few batches: the log before the oldest is
    /// no longer needed by any kept checkpoint.
    recent_starts: VecDeque<u64>,
}

/// How fast and how far ahead the source reads.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Bytes held for the next batch before reading pauses.
    pub buffer_bytes: usize,
    /// The most lines read per second (`None`: no limit).
    pub max_rate: Option<u32>,
    /// Whether the rate follows the processing rate (`backpressure`),
    /// for batches every this interval.
    pub backpressure: Option<Duration>,
}

impl SocketSource {
    /// Starts the reader task on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    /// With `wal`, every line read is logged (see the module docs).
    pub fn start(
        name: &str,
        host: String,
        port: u16,
        policy: LinePolicy,
        pace: Pace,
        wal: Option<Wal>,
    ) -> Self {
        let end = wal.as_ref().map_or(0, Wal::end);
        // Without a checkpoint to say otherwise ([`Source::restore`]),
        // nothing in the log was processed.
        let start = wal.as_ref().map_or(0, Wal::start);
        let buffer = Arc::new(Buffer {
            shared: Mutex::new(Shared {
                lines: Varlen::with_capacity(0, 0),
                decoder: LineDecoder::new(policy),
                failure: None,
                wal,
                logged: 0,
            }),
            taken: Notify::new(),
            capacity: pace.buffer_bytes,
            held_back: AtomicBool::new(false),
        });
        let limit = Arc::new(AtomicU64::new(
            pace.max_rate.map_or(0, |r| f64::from(r).to_bits()),
        ));
        let reader = tokio::spawn(read_forever(
            name.to_owned(),
            host,
            port,
            buffer.clone(),
            Pacing {
                limit: limit.clone(),
                bucket: None,
            },
        ));
        SocketSource {
            name: name.to_owned(),
            buffer,
            reader,
            limit,
            max_rate: pace.max_rate,
            estimator: pace.backpressure.map(RateEstimator::new),
            held_bytes: 0,
            next_from: start,
            buffer_from: end,
            last: None,
            recent_starts: VecDeque::new(),
        }
    }

    fn fail(&self, message: String, kind: ErrorKind) -> Error {
        Error::Source {
            source_name: self.name.clone(),
            message,
            kind,
        }
    }

    /// The lines of the log in `[from, to)`.
    fn read_logged(&self, from: u64, to: u64) -> Result<Varlen, Error> {
        let shared = self.buffer.lock();
        let Some(wal) = &shared.wal else {
            return Err(Error::Internal(
                "a socket source without a log replays".into(),
            ));
        };
        let bytes = wal.read(from, to).map_err(|e| {
            self.fail(
                format!("cannot read the write-ahead log: {e}"),
                ErrorKind::External,
            )
        })?;
        drop(shared);
        let mut lines = Varlen::with_capacity(0, bytes.len());
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            lines.push(line.strip_suffix(b"\n").unwrap_or(line));
        }
        Ok(lines)
    }

    /// Takes the buffer's lines; with a write-ahead log, also the log's
    /// end after them (the lines logged and synced first).
    fn take_buffer(&mut self) -> Result<(Varlen, Option<u64>), Error> {
        let mut shared = self.buffer.lock();
        shared.log_new_lines();
        if let Some((message, kind)) = shared.failure.take() {
            return Err(self.fail(message, kind));
        }
        let logged_to = match &shared.wal {
            Some(wal) => {
                if let Err(e) = wal.sync() {
                    return Err(self.fail(
                        format!("cannot sync the write-ahead log: {e}"),
                        ErrorKind::External,
                    ));
                }
                Some(wal.end())
            }
            None => None,
        };
        self.held_bytes = shared.lines.data.len() as u64;
        let lines = std::mem::replace(&mut shared.lines, Varlen::with_capacity(0, 0));
        shared.logged = 0;
        drop(shared);
        self.buffer.taken.notify_one();
        Ok((lines, logged_to))
    }

    /// The batch's lines as the log range from the last batch's end to
    /// `to`: `lines` (the buffer's), after the lines logged before this
    /// run started, read back, if there are any (after a restart).
    fn logged_range(&mut self, lines: Varlen, to: u64) -> Result<Varlen, Error> {
        let from = self.next_from;
        let lines = if from == self.buffer_from {
            lines
        } else {
            // After a restart: the lines logged before it come first.
            let mut all = self.read_logged(from, self.buffer_from)?;
            for i in 0..lines.len() {
                all.push(lines.get(i));
            }
            all
        };
        self.buffer_from = to;
        self.next_from = to;
        self.last = Some((from, to));
        self.recent_starts.push_back(from);
        if self.recent_starts.len() > crate::checkpoint::KEPT_CHECKPOINTS + 1
            && let Some(oldest) = self.recent_starts.pop_front()
            && let Some(wal) = &mut self.buffer.lock().wal
        {
            wal.forget_before(oldest);
        }
        Ok(lines)
    }
}

impl Drop for SocketSource {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Source for SocketSource {
    fn poll(
        &mut self,
        _batch_time: BatchTime,
        _partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        let (lines, logged_to) = self.take_buffer()?;
        let lines = match logged_to {
            Some(to) => self.logged_range(lines, to)?,
            None => lines,
        };
        // One batch: the scheduler cuts it into partitions.
        Ok(vec![Batch {
            keys: None,
            values: Column::Varlen(lines),
        }])
    }

    fn stats(&self) -> SourceStats {
        let limit = f64::from_bits(self.limit.load(Ordering::Relaxed));
        SourceStats {
            held_bytes: self.held_bytes,
            rate_limit: limit as u64,
            ..self.buffer.lock().decoder.stats
        }
    }

    fn batch_completed(&mut self, batch: &super::BatchReport) {
        let Some(estimator) = &mut self.estimator else {
            return;
        };
        if let Some(rate) = estimator.compute(
            batch.batch_time.0,
            batch.records,
            batch.processing,
            batch.scheduling_delay,
        ) {
            let rate = self.max_rate.map_or(rate, |max| rate.min(f64::from(max)));
            let before = f64::from_bits(self.limit.swap(rate.to_bits(), Ordering::Relaxed));
            tracing::debug!(source = %self.name, before, rate, "backpressure: new rate");
        }
    }

    /// Stops reading from the server: the lines in the buffer are still
    /// taken by the next poll; a line the server had not ended with `\n`
    /// yet is not.
    fn stop_receiving(&mut self) -> Result<(), Error> {
        self.reader.abort();
        self.buffer.held_back.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn holds_back_input(&self) -> bool {
        self.buffer.held_back.load(Ordering::Relaxed)
    }

    fn has_pending(&self) -> bool {
        let shared = self.buffer.lock();
        !shared.lines.is_empty() || shared.failure.is_some() || self.next_from < self.buffer_from
    }

    fn position(&self) -> Option<SourcePosition> {
        self.buffer.lock().wal.as_ref()?;
        Some(SourcePosition::Socket {
            offset: self.next_from,
        })
    }

    fn last_input(&self) -> Option<SourceInput> {
        self.buffer.lock().wal.as_ref()?;
        let (from, to) = self.last.unwrap_or((self.next_from, self.next_from));
        Some(SourceInput::Socket { from, to })
    }

    fn restore(&mut self, position: &SourcePosition) -> Result<(), Error> {
        let SourcePosition::Socket { offset } = position else {
            return Err(super::other_kind_in_checkpoint(&self.name));
        };
        if *offset > self.buffer_from {
            return Err(self.fail(
                format!(
                    "the checkpoint says {offset} bytes of the write-ahead log were processed, but it holds {}; it was removed or replaced: run with `--fresh` to start over",
                    self.buffer_from
                ),
                ErrorKind::User,
            ));
        }
        self.next_from = *offset;
        tracing::info!(source = %self.name, waiting_bytes = self.buffer_from - offset, "resumed from the checkpoint: the lines received and not processed before are processed first");
        Ok(())
    }

    fn replay(
        &mut self,
        input: &SourceInput,
        _batch_time: BatchTime,
        _partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        let SourceInput::Socket { from, to } = *input else {
            return Err(super::other_kind_in_checkpoint(&self.name));
        };
        let lines = self.read_logged(from, to)?;
        self.next_from = to;
        self.last = Some((from, to));
        Ok(vec![Batch {
            keys: None,
            values: Column::Varlen(lines),
        }])
    }
}

/// The reader's pace: the rate it keeps to now, and its token bucket.
struct Pacing {
    /// Lines a second, as `f64` bits; 0: no limit.
    limit: Arc<AtomicU64>,
    bucket: Option<RateLimit>,
}

impl Pacing {
    /// The bucket for the rate in force, if there is one.
    fn bucket(&mut self) -> Option<&mut RateLimit> {
        let limit = f64::from_bits(self.limit.load(Ordering::Relaxed));
        if limit <= 0.0 {
            self.bucket = None;
            return None;
        }
        let bucket = self.bucket.get_or_insert_with(|| RateLimit::new(limit));
        bucket.set_rate(limit);
        Some(bucket)
    }
}

async fn read_forever(
    name: String,
    host: String,
    port: u16,
    buffer: Arc<Buffer>,
    mut rate: Pacing,
) {
    let address = format!("{host}:{port}");
    let mut backoff = FIRST_BACKOFF;
    loop {
        match TcpStream::connect(&address).await {
            Ok(stream) => {
                tracing::info!(source = %name, %address, "connected");
                backoff = FIRST_BACKOFF;
                let read = read_lines(&name, &address, stream, &buffer, &mut rate).await;
                buffer.held_back.store(false, Ordering::Relaxed);
                match read {
                    Ok(()) => {
                        tracing::info!(source = %name, %address, "server closed the connection; reconnecting")
                    }
                    Err(ReadEnd::Io(e)) => {
                        tracing::warn!(source = %name, %address, error = %e, "connection failed; reconnecting")
                    }
                    Err(ReadEnd::Policy) => return,
                }
            }
            Err(e) => {
                tracing::debug!(source = %name, %address, error = %e, retry_in = ?backoff, "cannot connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum ReadEnd {
    Io(std::io::Error),
    /// A line broke the `fail` UTF-8 policy; the failure is recorded.
    Policy,
}

/// Reads lines from `stream` into the buffer until the connection ends,
/// never holding more than `max_line_bytes` of a line nor (but for one
/// read) more than the buffer's capacity.
async fn read_lines(
    name: &str,
    address: &str,
    stream: TcpStream,
    buffer: &Buffer,
    rate: &mut Pacing,
) -> Result<(), ReadEnd> {
    let mut reader = BufReader::new(stream);
    // The line being assembled, at most `max_line_bytes` (+ one read).
    let mut line = Vec::new();
    // The line went over `max_line_bytes`; under `skip`, drop until its end.
    let mut long = None;
    let mut number = 1u64;
    loop {
        if reader.buffer().is_empty() {
            // Everything read so far is decoded: logged before reading on.
            buffer.lock().log_new_lines();
        }
        wait_for_room(name, address, buffer).await;
        if let Some(rate) = rate.bucket() {
            // Pausing here leaves the rest in the socket: TCP pushes back.
            let wait = rate.wait_for_line(tokio::time::Instant::now().into_std());
            if !wait.is_zero() {
                buffer.held_back.store(true, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
            }
        }
        // With nothing read ahead, the read below may wait for the server:
        // until it sends, nothing is held back.
        buffer
            .held_back
            .store(!reader.buffer().is_empty(), Ordering::Relaxed);
        let chunk = reader.fill_buf().await.map_err(ReadEnd::Io)?;
        if chunk.is_empty() {
            // The connection ended: a final line without `\n` is a line.
            if !line.is_empty() && long != Some(LongLine::Skip) {
                decode(address, buffer, |decoder, lines| {
                    decoder.push_line(address, number, &line, lines)
                })?;
            }
            buffer.lock().log_new_lines();
            return Ok(());
        }
        let (piece, ends_line) = match memchr::memchr(b'\n', chunk) {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        let consumed = piece.len() + usize::from(ends_line);
        if long != Some(LongLine::Skip) {
            line.extend_from_slice(piece);
        }
        reader.consume(consumed);
        decode(address, buffer, |decoder, lines| {
            let over = line.len() > decoder.max_line_bytes();
            match long {
                None if over => {
                    long = Some(decoder.long_line(address, number, &mut line, lines)?);
                }
                Some(LongLine::Split) if over => {
                    decoder.split_pieces(address, number, &mut line, lines)?;
                }
                _ => {}
            }
            if ends_line {
                if long != Some(LongLine::Skip) {
                    decoder.push_line(address, number, &line, lines)?;
                }
                if let Some(rate) = rate.bucket.as_mut() {
                    rate.took_line();
                }
                line.clear();
                long = None;
                number += 1;
            }
            Ok(())
        })?;
    }
}

/// A token bucket of lines: `per_second` tokens a second, holding at most
/// one second's worth, so a burst after a quiet spell is one second of
/// lines at most.
#[derive(Debug)]
struct RateLimit {
    per_second: f64,
    tokens: f64,
    refilled: std::time::Instant,
}

impl RateLimit {
    fn new(per_second: f64) -> Self {
        RateLimit {
            per_second,
            tokens: per_second,
            refilled: std::time::Instant::now(),
        }
    }

    /// Keeps to `per_second` from now on (a full bucket holds one second
    /// of it).
    fn set_rate(&mut self, per_second: f64) {
        self.per_second = per_second;
        self.tokens = self.tokens.min(per_second);
    }

    /// How long to wait at `now` before the next line may be read.
    fn wait_for_line(&mut self, now: std::time::Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.refilled = now;
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// One line was read.
    fn took_line(&mut self) {
        self.tokens -= 1.0;
    }
}

/// Runs `step` with the buffer's decoder and lines; a line that breaks a
/// `fail` policy is recorded for the next batch to report, and ends the
/// reading.
fn decode(
    address: &str,
    buffer: &Buffer,
    step: impl FnOnce(&mut LineDecoder, &mut Varlen) -> Result<(), BadLine>,
) -> Result<(), ReadEnd> {
    let mut shared = buffer.lock();
    let Shared {
        lines,
        decoder,
        failure,
        ..
    } = &mut *shared;
    step(decoder, lines).map_err(|bad| {
        *failure = Some((bad.message(address), ErrorKind::User));
        ReadEnd::Policy
    })
}

/// Waits while the buffer holds its capacity or more (logged, counted).
async fn wait_for_room(name: &str, address: &str, buffer: &Buffer) {
    let full = |buffer: &Buffer| buffer.lock().lines.data.len() >= buffer.capacity;
    if !full(buffer) {
        return;
    }
    buffer.lock().decoder.stats.buffer_full += 1;
    tracing::warn!(source = %name, %address, buffer_bytes = buffer.capacity, "the buffer is full (`buffer_mib`); reading pauses until the next batch takes it, and TCP pushes back on the server");
    while full(buffer) {
        // The timeout only guards against a missed wake-up.
        let _ = tokio::time::timeout(Duration::from_millis(100), buffer.taken.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Pace, RateLimit, SocketSource};
    use crate::partition::Partitioning;
    use crate::plan::LinePolicy;
    use crate::source::Source;
    use crate::time::BatchTime;
    use std::io::Write;
    use std::time::{Duration, Instant};

    /// Lines a poll of `source` takes.
    fn polled(source: &mut SocketSource) -> usize {
        let batches = source.poll(BatchTime(0), &Partitioning::Fixed(1)).unwrap();
        batches.iter().map(|b| b.values.len()).sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paced_source_holds_input_back_until_it_has_read_what_was_sent() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // 300 lines at once, then a quiet connection left open until the
        // test ends.
        let (end, ended) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut connection, _) = listener.accept().unwrap();
            let lines: String = (0..300).map(|i| format!("line {i}\n")).collect();
            connection.write_all(lines.as_bytes()).unwrap();
            let _ = ended.recv();
        });
        let pace = Pace {
            buffer_bytes: 1 << 20,
            max_rate: Some(100),
            backpressure: None,
        };
        let mut source = SocketSource::start(
            "lines",
            "127.0.0.1".into(),
            port,
            LinePolicy::default(),
            pace,
            None,
        );
        // One second's worth at once (the bucket), the other 200 a line
        // every 10 ms: meanwhile the source holds them back.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut read = 0;
        while read < 100 && Instant::now() < deadline {
            read += polled(&mut source);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!((100..300).contains(&read), "{read} lines first");
        assert!(source.holds_back_input());
        while read < 300 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            read += polled(&mut source);
        }
        assert_eq!(read, 300);
        // Everything sent was read: the reader waits for the server.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!source.holds_back_input());
        assert_eq!(polled(&mut source), 0);
        drop((source, end));
        let _ = server.join();
    }

    #[test]
    fn a_rate_limit_lets_one_second_of_lines_through_then_paces_them() {
        let mut rate = RateLimit::new(100.0);
        let start = Instant::now();
        rate.refilled = start;
        // A full bucket: one second's worth at once.
        for _ in 0..100 {
            assert_eq!(rate.wait_for_line(start), Duration::ZERO);
            rate.took_line();
        }
        // Then one line every 10 ms.
        assert_eq!(rate.wait_for_line(start), Duration::from_millis(10));
        let later = start + Duration::from_millis(10);
        assert_eq!(rate.wait_for_line(later), Duration::ZERO);
        rate.took_line();
        // A quiet minute refills one second's worth, not sixty.
        let quiet = later + Duration::from_secs(60);
        let through = (0..1000)
            .take_while(|_| {
                let free = rate.wait_for_line(quiet).is_zero();
                rate.took_line();
                free
            })
            .count();
        assert_eq!(through, 100);
    }
}

//! The `socket` source: lines read from a TCP server, like Spark's
//! `socketTextStream`.
//!
//! A tokio task connects to `host:port` and reads lines into a buffer that
//! each batch takes. When the server is not there or closes the connection,
//! the task reconnects with exponential backoff (100 ms doubling to 5 s), so
//! a pipeline can start before its server. A final line without `\n` before
//! the connection closes is still a line.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::lines::LineDecoder;
use super::{Source, SourceStats};
use crate::batch::{Batch, Column, Varlen};
use crate::config::InvalidUtf8;
use crate::error::{Error, ErrorKind};
use crate::time::BatchTime;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the reader task hands to batches.
struct Shared {
    lines: Varlen,
    decoder: LineDecoder,
    failure: Option<String>,
}

/// Reads lines from a TCP server.
pub struct SocketSource {
    name: String,
    shared: Arc<Mutex<Shared>>,
    reader: tokio::task::JoinHandle<()>,
}

impl SocketSource {
    /// Starts the reader task on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(name: &str, host: String, port: u16, policy: InvalidUtf8) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            lines: Varlen::with_capacity(0, 0),
            decoder: LineDecoder::new(policy),
            failure: None,
        }));
        let reader = tokio::spawn(read_forever(name.to_owned(), host, port, shared.clone()));
        SocketSource {
            name: name.to_owned(),
            shared,
            reader,
        }
    }
}

impl Drop for SocketSource {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Source for SocketSource {
    fn poll(&mut self, _batch_time: BatchTime) -> Result<Batch, Error> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(message) = shared.failure.take() {
            return Err(Error::Source {
                source_name: self.name.clone(),
                message,
                kind: ErrorKind::User,
            });
        }
        let lines = std::mem::replace(&mut shared.lines, Varlen::with_capacity(0, 0));
        Ok(Batch {
            keys: None,
            values: Column::Varlen(lines),
        })
    }

    fn stats(&self) -> SourceStats {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .decoder
            .stats
    }
}

async fn read_forever(name: String, host: String, port: u16, shared: Arc<Mutex<Shared>>) {
    let address = format!("{host}:{port}");
    let mut backoff = FIRST_BACKOFF;
    loop {
        match TcpStream::connect(&address).await {
            Ok(stream) => {
                tracing::info!(source = %name, %address, "connected");
                backoff = FIRST_BACKOFF;
                match read_lines(&address, stream, &shared).await {
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

async fn read_lines(
    address: &str,
    stream: TcpStream,
    shared: &Mutex<Shared>,
) -> Result<(), ReadEnd> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(ReadEnd::Io)?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let Shared {
            lines,
            decoder,
            failure,
        } = &mut *guard;
        if let Err(invalid) = decoder.push_line(address, number, line, lines) {
            *failure = Some(format!(
                "{address}, line {}: not valid UTF-8 ({}); the source has `invalid_utf8 = \"fail\"`",
                invalid.line, invalid.error
            ));
            return Err(ReadEnd::Policy);
        }
    }
}

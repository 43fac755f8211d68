//! What a plugin writes to its stdout and stderr during one call, kept up
//! to a bound and never refused.
//!
//! wasmtime's `MemoryOutputPipe` fails a write past its capacity, which
//! fails the guest's print (Rust's `eprintln!` panics on it, Python raises):
//! a plugin that logs a lot would fail its batch. A [`CapturedOutput`]
//! takes every write, keeps the first [`CAPTURE_BYTES`] and counts the rest,
//! so logging never changes what a plugin does; the count marks the
//! truncation where the output is shown.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much of each of a call's stdout and stderr is kept.
pub const CAPTURE_BYTES: usize = 16 * 1024;

/// The most a guest may write in one `write` (what `check-write` grants):
/// more than any print needs, and never zero, so a guest never waits.
const WRITE_PERMIT: usize = 64 * 1024;

/// The kept output and how much was dropped.
#[derive(Debug, Default)]
struct Kept {
    bytes: Vec<u8>,
    dropped: u64,
}

/// One output stream of a call (its stdout or its stderr), kept up to
/// [`CAPTURE_BYTES`].
#[derive(Clone, Debug, Default)]
pub struct CapturedOutput {
    kept: Arc<Mutex<Kept>>,
}

/// What a [`CapturedOutput`] held at the end of a call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first [`CAPTURE_BYTES`] written, as text (invalid UTF-8
    /// replaced).
    pub text: String,
    /// The bytes written after those, dropped.
    pub dropped: u64,
}

impl Captured {
    /// The text, with a last line saying what was dropped, if anything.
    pub fn marked(&self) -> String {
        if self.dropped == 0 {
            return self.text.clone();
        }
        let mut text = self.text.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "[… {} more bytes dropped: a call keeps {} KiB of each output]",
            self.dropped,
            CAPTURE_BYTES / 1024
        ));
        text
    }
}

impl CapturedOutput {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    fn keep(&self, bytes: &[u8]) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let room = CAPTURE_BYTES.saturating_sub(kept.bytes.len());
        let taken = bytes.len().min(room);
        kept.bytes.extend_from_slice(&bytes[..taken]);
        kept.dropped += (bytes.len() - taken) as u64;
    }

    /// What was written so far.
    pub fn captured(&self) -> Captured {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        Captured {
            text: String::from_utf8_lossy(&kept.bytes).into_owned(),
            dropped: kept.dropped,
        }
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_bound_are_taken_counted_and_marked() {
        let mut output = CapturedOutput::new();
        output.write(Bytes::from_static(b"first line\n")).unwrap();
        let flood = vec![b'x'; CAPTURE_BYTES];
        output.write(Bytes::from(flood)).unwrap();
        assert_eq!(output.check_write().unwrap(), WRITE_PERMIT);
        let captured = output.captured();
        assert_eq!(captured.text.len(), CAPTURE_BYTES);
        assert!(captured.text.starts_with("first line\nxxx"));
        assert_eq!(captured.dropped, 11);
        assert!(
            captured
                .marked()
                .ends_with("x\n[… 11 more bytes dropped: a call keeps 16 KiB of each output]")
        );
        assert_eq!(
            Captured {
                text: "ok\n".into(),
                dropped: 0
            }
            .marked(),
            "ok\n"
        );
    }
}

//! What the control endpoint does with a connection: read its one request
//! (a JSON line, for `deploy` followed by the component's bytes), check who
//! sent it, act on the registry and answer with a JSON line.
//!
//! Requests are handled on the async runtime; compiling and checking a new
//! version runs on a blocking thread, off the batch path. Batches never
//! wait for the endpoint.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::listen::{AUTH_DEADLINE, MAX_CONNECTIONS};
use super::protocol::{
    ChangeReport, Envelope, FirstBatch, HistoryReport, LogsReport, MAX_REQUEST_LINE,
    PROTOCOL_VERSION, Reply, Request, Response, SourceStatus, StateStatus, StatusReport,
    StopReport, WindowStatus,
};
use crate::deploy::registry::{Change, CompletedBatch};
use crate::deploy::{Origin, Registry};
use crate::scheduler::Shutdown;
use crate::status::StatusBoard;

/// The most a refused client's leftover request is read before closing.
const DRAIN_BYTES: u64 = 128 << 20;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What requests act on.
pub(super) struct Context {
    /// The running pipeline's versions.
    pub registry: Arc<Registry>,
    /// Its progress.
    pub status: Arc<StatusBoard>,
    /// Where `stop` asks the run to stop.
    pub shutdown: Arc<tokio::sync::watch::Sender<Shutdown>>,
}

/// An accepted connection, with who is at the other end.
pub(super) enum Connection {
    /// A Unix socket peer.
    Unix {
        /// The connection.
        stream: UnixStream,
        /// The peer's uid, if the kernel could tell.
        uid: std::io::Result<u32>,
        /// The socket file's owner.
        owner: u32,
    },
    /// A TCP peer.
    Tcp {
        /// The connection.
        stream: TcpStream,
        /// The peer's address.
        address: String,
        /// The token's sha256.
        token_digest: [u8; 32],
    },
}

impl Connection {
    /// Whether the kernel says the peer is the Unix socket's owner.
    pub(super) fn is_owner(&self) -> bool {
        matches!(self, Connection::Unix { uid: Ok(uid), owner, .. } if uid == owner)
    }
}

/// A connection's places under the endpoint's caps.
pub(super) struct Admission {
    /// Its place among its listener's unauthenticated connections, given
    /// back once it has shown who it is (none for the socket's owner).
    pub pending: Option<OwnedSemaphorePermit>,
    /// The authenticated requests' cap, to take a place in.
    pub connections: Arc<Semaphore>,
}

/// Who is connected, and what they must show.
#[derive(Clone)]
enum Peer {
    /// A Unix socket peer, already checked to be the owner.
    Owner,
    /// A TCP peer, who must send the token.
    Tcp {
        address: String,
        token_digest: [u8; 32],
    },
}

/// Answers one connection: Unix peers other than the socket's owner are
/// refused with the reason; everyone else gets their request handled.
pub(super) async fn serve(connection: Connection, context: &Context, admission: Admission) {
    match connection {
        Connection::Unix {
            stream,
            uid: Ok(uid),
            owner,
        } if uid == owner => serve_request(stream, Peer::Owner, context, admission).await,
        Connection::Unix {
            stream,
            uid: Ok(uid),
            owner,
        } => {
            tracing::warn!(
                uid,
                owner,
                "control socket: refused a connection from another user"
            );
            let message = format!(
                "refused: the control socket accepts only its owner (uid {owner}), not uid {uid}"
            );
            respond(BufReader::new(stream), &Response::Error { message }).await;
        }
        Connection::Unix { uid: Err(e), .. } => {
            tracing::warn!(error = %e, "control socket: cannot tell who connected; refused");
        }
        Connection::Tcp {
            stream,
            address,
            token_digest,
        } => {
            let peer = Peer::Tcp {
                address,
                token_digest,
            };
            serve_request(stream, peer, context, admission).await;
        }
    }
}

/// Reads one request from `stream`, handles it and answers.
async fn serve_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: Peer,
    context: &Context,
    admission: Admission,
) {
    let mut reader = BufReader::new(stream);
    let Admission {
        pending,
        connections,
    } = admission;
    let admitted = match tokio::time::timeout(AUTH_DEADLINE, read_envelope(&mut reader)).await {
        Err(_) => Err(format!(
            "no complete request within {} s",
            AUTH_DEADLINE.as_secs()
        )),
        Ok(Err(message)) => Err(message),
        Ok(Ok(envelope)) => authorise(&peer, &envelope)
            .inspect_err(|message| {
                if let Peer::Tcp { address, .. } = &peer {
                    tracing::warn!(%address, "control listener: {message}");
                }
            })
            .map(|()| envelope),
    };
    let response = match admitted {
        // Refused: it keeps its unauthenticated place while it is answered.
        Err(message) => Response::Error { message },
        Ok(envelope) => match connections.try_acquire_owned() {
            Err(_) => Response::Error {
                message: format!(
                    "busy: {MAX_CONNECTIONS} control requests are under way; try again"
                ),
            },
            Ok(_permit) => {
                drop(pending);
                tracing::debug!(command = envelope.request.name(), "control request");
                match handle(envelope.request, &mut reader, context).await {
                    Ok(result) => Response::Ok {
                        result: Box::new(result),
                    },
                    Err(message) => Response::Error { message },
                }
            }
        },
    };
    respond(reader, &response).await;
}

async fn read_envelope<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Result<Envelope, String> {
    let mut line = Vec::new();
    let mut limited = (&mut *reader).take(MAX_REQUEST_LINE as u64 + 1);
    limited
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if line.len() > MAX_REQUEST_LINE {
        return Err(format!("request line over {MAX_REQUEST_LINE} bytes"));
    }
    let envelope: Envelope = serde_json::from_slice(&line).map_err(|e| {
        format!("malformed request ({e}); use the `sluice` command of the same version")
    })?;
    if envelope.protocol != PROTOCOL_VERSION {
        return Err(format!(
            "the pipeline speaks control protocol {PROTOCOL_VERSION}, the client {}; use the `sluice` binary that runs the pipeline",
            envelope.protocol
        ));
    }
    Ok(envelope)
}

fn authorise(peer: &Peer, envelope: &Envelope) -> Result<(), String> {
    let Peer::Tcp { token_digest, .. } = peer else {
        return Ok(());
    };
    let Some(token) = &envelope.token else {
        return Err("refused: missing token; pass --token-file or set SLUICE_CONTROL_TOKEN".into());
    };
    let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    // Compare digests in constant time: no early exit on the first
    // differing byte.
    let difference = given
        .iter()
        .zip(token_digest)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if difference == 0 {
        Ok(())
    } else {
        Err("refused: wrong token".into())
    }
}

/// Writes `response`, then reads what the client still sends (a refused
/// deploy's component) for a moment: closing a TCP socket with unread
/// input resets it, which can destroy the answer before the client reads
/// it.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut stream: BufReader<S>, response: &Response) {
    let mut line = serde_json::to_vec(response).unwrap_or_else(|e| {
        format!("{{\"status\":\"error\",\"message\":\"cannot encode the response: {e}\"}}")
            .into_bytes()
    });
    line.push(b'\n');
    if let Err(e) = stream.write_all(&line).await {
        tracing::debug!(error = %e, "control client left before the answer");
    }
    let _ = stream.shutdown().await;
    let mut leftover = (&mut stream).take(DRAIN_BYTES);
    let mut sink = tokio::io::sink();
    let drain = tokio::io::copy(&mut leftover, &mut sink);
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

async fn handle<R: AsyncRead + Unpin>(
    request: Request,
    reader: &mut BufReader<R>,
    context: &Context,
) -> Result<Reply, String> {
    let registry = &context.registry;
    match request {
        Request::Status => Ok(Reply::Status(status_report(
            &context.registry,
            &context.status,
        ))),
        Request::Stop { graceful } => {
            let asked = if graceful {
                Shutdown::Graceful
            } else {
                Shutdown::Now
            };
            let now = asked.request(&context.shutdown);
            let pipeline = registry.plan().name.clone();
            let message = match now {
                Shutdown::Graceful => format!(
                    "pipeline `{pipeline}` is stopping gracefully: it takes no more input, processes what it received, then exits"
                ),
                _ => format!("pipeline `{pipeline}` stops after the batch under way"),
            };
            tracing::info!(pipeline = %pipeline, graceful, "stop requested over the control endpoint");
            Ok(Reply::Stopping(StopReport { pipeline, message }))
        }
        Request::Logs {
            stream,
            batch_time,
            after,
        } => {
            let plan = registry.plan();
            if let Some(stream) = &stream
                && !plan.streams.iter().any(|s| &s.name == stream)
                && !plan.sinks.iter().any(|s| &s.name == stream)
            {
                return Err(format!(
                    "pipeline `{}` has no stream or sink `{stream}`; `sluice status` lists them",
                    plan.name
                ));
            }
            let logs = registry.engine().logs();
            Ok(Reply::Logs(LogsReport {
                pipeline: plan.name.clone(),
                entries: logs.query(&crate::plugin::logs::LogQuery {
                    stream,
                    batch_time,
                    after,
                }),
                kept_batches: logs.batch_times().iter().map(|t| t.0).collect(),
            }))
        }
        Request::History { stream } => {
            let (versions, events) = registry.history(&stream).map_err(|e| e.to_string())?;
            Ok(Reply::History(HistoryReport {
                stream,
                versions,
                events,
            }))
        }
        Request::Deploy {
            stream,
            file_name,
            size,
            shadow,
            wait,
        } => {
            let index = registry.stream_index(&stream).map_err(|e| e.to_string())?;
            let limits = registry.plan().streams[index].limits;
            if size > limits.binary_bytes() {
                return Err(format!(
                    "pipeline `{}`, stream `{stream}`: refused (binary_too_large): {file_name} is {size} bytes, over the limit of {} MiB (limit `binary_mib`)",
                    registry.plan().name,
                    limits.binary_mib
                ));
            }
            let mut bytes = vec![0u8; size as usize];
            tokio::time::timeout(REQUEST_TIMEOUT, reader.read_exact(&mut bytes))
                .await
                .map_err(|_| "the component did not arrive within 60 s".to_owned())?
                .map_err(|e| format!("cannot read the component: {e}"))?;
            let completed = registry.subscribe();
            let deploying = registry.clone();
            let change = tokio::task::spawn_blocking(move || {
                deploying.deploy(
                    &stream,
                    Path::new(&file_name),
                    &bytes,
                    Origin::Deploy,
                    shadow,
                )
            })
            .await
            .map_err(|e| format!("internal error while checking the component: {e}"))?
            .map_err(|e| e.to_string())?;
            finish(registry, change, completed, wait && !shadow).await
        }
        Request::Rollback { stream, wait } => {
            let completed = registry.subscribe();
            let change = registry.rollback(&stream).map_err(|e| e.to_string())?;
            finish(registry, change, completed, wait).await
        }
        Request::Promote { stream, wait } => {
            let completed = registry.subscribe();
            let change = registry.promote(&stream).map_err(|e| e.to_string())?;
            finish(registry, change, completed, wait).await
        }
        Request::Discard { stream } => {
            let completed = registry.subscribe();
            let change = registry.discard(&stream).map_err(|e| e.to_string())?;
            finish(registry, change, completed, false).await
        }
    }
}

/// The reply for a change, after its first batch when `wait`.
async fn finish(
    registry: &Registry,
    change: Change,
    completed: tokio::sync::watch::Receiver<Option<CompletedBatch>>,
    wait: bool,
) -> Result<Reply, String> {
    let first_batch = if wait {
        Some(first_batch(registry, &change, completed).await?)
    } else {
        None
    };
    let stream = registry.plan().streams[change.stream].name.clone();
    Ok(Reply::Changed(ChangeReport {
        stream,
        message: change.message,
        check_ms: change.check.map(|d| d.as_secs_f64() * 1000.0),
        version: change.version,
        first_batch,
    }))
}

/// Waits for the first batch that runs `change`'s version.
async fn first_batch(
    registry: &Registry,
    change: &Change,
    mut completed: tokio::sync::watch::Receiver<Option<CompletedBatch>>,
) -> Result<FirstBatch, String> {
    let number = change.version.version;
    let mut stopped = registry.stopped();
    loop {
        let latest = completed.borrow_and_update().clone();
        // Only batches whose snapshot was taken after the change count: an
        // earlier one may have run the same version number (a rollback's
        // target) before it.
        if let Some(batch) = latest.filter(|b| b.seq >= change.from_seq) {
            if batch.versions.get(change.stream) == Some(&number) {
                return Ok(FirstBatch {
                    batch_time: batch.batch_time.0,
                    after_ms: batch
                        .ended
                        .saturating_duration_since(change.at)
                        .as_secs_f64()
                        * 1000.0,
                    processing_ms: batch.processing.as_secs_f64() * 1000.0,
                    ok: batch.ok.get(change.stream).copied().unwrap_or(false),
                });
            }
            if !registry.may_run(change.stream, number) {
                return Err(format!(
                    "v{number} was replaced before it ran a batch: {}",
                    registry.last_event(change.stream).unwrap_or_default()
                ));
            }
        }
        let stopping = async {
            // Resolves once the pipeline has stopped (or can no longer say).
            let _ = stopped.wait_for(|stopped| *stopped).await;
        };
        let more = tokio::select! {
            changed = completed.changed() => changed.is_ok(),
            () = stopping => false,
        };
        if !more && !completed.has_changed().unwrap_or(false) {
            return Err(format!("the pipeline stopped before v{number} ran a batch"));
        }
    }
}

/// What `sluice status` shows of the pipeline `registry` runs.
pub(crate) fn status_report(registry: &Registry, board: &StatusBoard) -> StatusReport {
    let plan = registry.plan();
    let progress = board.progress();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    StatusReport {
        pipeline: plan.name.clone(),
        pid: std::process::id(),
        uptime_ms: board.uptime().as_millis() as u64,
        batch_interval_ms: plan.batch_interval.as_millis() as u64,
        batches: progress.batches,
        input_records: progress.input_records,
        running_batch: progress.running.map(|t| t.0),
        last_batch: progress.last.map(|t| t.0),
        scheduling_delay_ms: ms(progress.scheduling_delay),
        max_scheduling_delay_ms: ms(progress.max_scheduling_delay),
        processing_ms: ms(progress.processing),
        max_processing_ms: ms(progress.max_processing),
        streams: registry.status(),
        sources: progress
            .sources
            .into_iter()
            .map(|(source, stats, partitions)| SourceStatus {
                source,
                stats,
                partitions,
            })
            .collect(),
        source_memory_bytes: plan.source_memory_bytes as u64,
        checkpoint: progress.checkpoint.clone(),
        windows: progress
            .windows
            .into_iter()
            .map(|(stream, size)| WindowStatus { stream, size })
            .collect(),
        states: progress
            .states
            .into_iter()
            .map(|(stream, size)| StateStatus { stream, size })
            .collect(),
        ui: board.ui().map(|address| format!("http://{address}/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(token: Option<&str>) -> Envelope {
        Envelope {
            protocol: PROTOCOL_VERSION,
            token: token.map(str::to_owned),
            request: Request::Status,
        }
    }

    #[test]
    fn tcp_peers_need_the_exact_token_and_owners_none() {
        let tcp = Peer::Tcp {
            address: "127.0.0.1:1".into(),
            token_digest: Sha256::digest(b"0123456789abcdef").into(),
        };
        assert_eq!(authorise(&tcp, &envelope(Some("0123456789abcdef"))), Ok(()));
        assert_eq!(
            authorise(&tcp, &envelope(Some("0123456789abcdeF"))),
            Err("refused: wrong token".to_owned())
        );
        assert!(
            authorise(&tcp, &envelope(None))
                .is_err_and(|e| e.starts_with("refused: missing token"))
        );
        assert_eq!(authorise(&Peer::Owner, &envelope(None)), Ok(()));
    }

    #[tokio::test]
    async fn malformed_and_foreign_requests_are_refused_with_a_reason() {
        let mut garbage = BufReader::new(&b"{not json\n"[..]);
        assert!(
            read_envelope(&mut garbage)
                .await
                .is_err_and(|e| e.starts_with("malformed request"))
        );
        let mut old =
            BufReader::new(&b"{\"protocol\":0,\"request\":{\"command\":\"status\"}}\n"[..]);
        assert!(
            read_envelope(&mut old).await.is_err_and(
                |e| e.starts_with("the pipeline speaks control protocol 1, the client 0")
            )
        );
        let long = vec![b' '; MAX_REQUEST_LINE + 10];
        let mut long = BufReader::new(&long[..]);
        assert_eq!(
            read_envelope(&mut long).await.unwrap_err(),
            format!("request line over {MAX_REQUEST_LINE} bytes")
        );
    }
}

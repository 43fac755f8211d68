//! The control endpoint's listeners and request handling.
//!
//! Each connection carries one request: a JSON line (for `deploy`, then the
//! component's bytes) answered by a JSON line. Requests are handled on the
//! async runtime; compiling and checking a new version runs on a blocking
//! thread, off the batch path. Batches never wait for the endpoint.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};

use super::protocol::{
    ChangeReport, Envelope, FirstBatch, HistoryReport, MAX_REQUEST_LINE, PROTOCOL_VERSION, Reply,
    Request, Response, StatusReport,
};
use crate::deploy::registry::Change;
use crate::deploy::{Origin, Registry};
use crate::error::{Error, ErrorKind};
use crate::status::StatusBoard;

/// Connections answered at once; more are closed at once (and logged), so
/// that idle clients cannot exhaust the process's file descriptors.
const MAX_CONNECTIONS: usize = 64;

/// The most a refused client's leftover request is read before closing.
const DRAIN_BYTES: u64 = 128 << 20;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The running endpoint; stops listening and removes the socket when
/// dropped.
pub struct ControlServer {
    socket: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Cloned into every connection's task: more than one strong reference
    /// means requests are still being answered.
    in_flight: Arc<()>,
}

impl ControlServer {
    /// Stops accepting, and gives requests under way (such as a deploy
    /// waiting for a batch, told that the pipeline stopped) up to a second
    /// to answer.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while Arc::strong_count(&self.in_flight) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// What requests act on.
struct Context {
    registry: Arc<Registry>,
    status: Arc<StatusBoard>,
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

/// Starts the control endpoint of the pipeline `registry` runs.
///
/// # Errors
///
/// When the socket cannot be made (another pipeline runs with the same
/// state directory, the path is too long, no permission), or the TCP
/// listener or its token file is unusable.
pub async fn start(
    registry: Arc<Registry>,
    status: Arc<StatusBoard>,
) -> Result<ControlServer, Error> {
    let plan = registry.plan().clone();
    let socket = plan.state_dir.join(super::SOCKET_NAME);
    let (listener, owner) = bind_unix(&plan.name, &socket)?;
    let context = Arc::new(Context { registry, status });
    let in_flight = Arc::new(());
    let mut tasks = Vec::new();
    tracing::info!(pipeline = %plan.name, socket = %socket.display(), "control socket ready (sluice status/deploy/rollback …)");
    tasks.push(tokio::spawn(accept_unix(
        listener,
        owner,
        context.clone(),
        in_flight.clone(),
    )));
    let mut server = ControlServer {
        socket,
        tasks,
        in_flight: in_flight.clone(),
    };
    if let Some(tcp) = &plan.control {
        let token = read_token(&plan.name, &tcp.token_file)?;
        let listener = TcpListener::bind(&tcp.listen)
            .await
            .map_err(|e| Error::Source {
                source_name: "control".into(),
                message: format!(
                    "pipeline `{}`: cannot listen on {} (`[control] listen`): {e}",
                    plan.name, tcp.listen
                ),
                kind: ErrorKind::External,
            })?;
        let address = listener
            .local_addr()
            .map_or_else(|_| tcp.listen.clone(), |a| a.to_string());
        tracing::info!(pipeline = %plan.name, %address, "control listener ready on TCP (token required)");
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        server.tasks.push(tokio::spawn(accept_tcp(
            listener, digest, context, in_flight,
        )));
    }
    Ok(server)
}

fn control_error(pipeline: &str, message: String) -> Error {
    Error::Source {
        source_name: "control".into(),
        message: format!("pipeline `{pipeline}`: {message}"),
        kind: ErrorKind::User,
    }
}

/// Binds the socket at `path` (mode 0600) and returns its owner's uid.
fn bind_unix(pipeline: &str, path: &Path) -> Result<(UnixListener, u32), Error> {
    let fail = |message: String| control_error(pipeline, message);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                fail(format!(
                    "cannot create the state directory {}: {e}; set `state_dir` to a writable directory",
                    dir.display()
                ))
            })?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(fail(format!(
                    "another pipeline is running with the control socket {} (it answers); stop it, or give this one another `state_dir`",
                    path.display()
                )));
            }
            Err(_) => {
                // Left by a pipeline that did not stop cleanly.
                std::fs::remove_file(path).map_err(|e| {
                    fail(format!(
                        "cannot remove the stale control socket {}: {e}",
                        path.display()
                    ))
                })?;
            }
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|e| {
        let hint = if path.as_os_str().len() >= 100 {
            " (a Unix socket path must be shorter than 108 bytes; set a shorter `state_dir`)"
        } else {
            ""
        };
        fail(format!(
            "cannot create the control socket {}: {e}{hint}",
            path.display()
        ))
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        fail(format!(
            "cannot restrict {} to its owner: {e}",
            path.display()
        ))
    })?;
    let owner = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?
        .uid();
    listener
        .set_nonblocking(true)
        .map_err(|e| fail(format!("control socket: {e}")))?;
    let listener =
        UnixListener::from_std(listener).map_err(|e| fail(format!("control socket: {e}")))?;
    Ok((listener, owner))
}

fn read_token(pipeline: &str, path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        control_error(
            pipeline,
            format!(
                "cannot read the control token file {} (`[control] token_file`): {e}",
                path.display()
            ),
        )
    })?;
    let token = text.trim().to_owned();
    if token.len() < 16 {
        return Err(control_error(
            pipeline,
            format!(
                "the control token in {} is shorter than 16 characters; use a long random token, e.g. `openssl rand -hex 32`",
                path.display()
            ),
        ));
    }
    if let Ok(meta) = std::fs::metadata(path)
        && meta.mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "the control token file is readable by other users; chmod 600 it");
    }
    Ok(token)
}

async fn accept_unix(
    listener: UnixListener,
    owner: u32,
    context: Arc<Context>,
    in_flight: Arc<()>,
) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|c| c.uid());
        let context = context.clone();
        if Arc::strong_count(&in_flight) > MAX_CONNECTIONS {
            tracing::warn!(
                "control endpoint: {MAX_CONNECTIONS} connections under way; closing a new one"
            );
            continue;
        }
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            match uid {
                Ok(uid) if uid == owner => serve(stream, Peer::Owner, &context).await,
                Ok(uid) => {
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
                Err(e) => {
                    tracing::warn!(error = %e, "control socket: cannot tell who connected; refused");
                }
            }
        });
    }
}

async fn accept_tcp(
    listener: TcpListener,
    token_digest: [u8; 32],
    context: Arc<Context>,
    in_flight: Arc<()>,
) {
    loop {
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "control listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let context = context.clone();
        let peer = Peer::Tcp {
            address: address.to_string(),
            token_digest,
        };
        if Arc::strong_count(&in_flight) > MAX_CONNECTIONS {
            tracing::warn!(
                "control endpoint: {MAX_CONNECTIONS} connections under way; closing a new one"
            );
            continue;
        }
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            serve(stream, peer, &context).await;
        });
    }
}

/// Reads one request from `stream`, handles it and answers.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, peer: Peer, context: &Context) {
    let mut reader = BufReader::new(stream);
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, read_envelope(&mut reader)).await {
        Err(_) => Response::Error {
            message: "no complete request within 60 s".into(),
        },
        Ok(Err(message)) => Response::Error { message },
        Ok(Ok(envelope)) => match authorise(&peer, &envelope) {
            Err(message) => {
                if let Peer::Tcp { address, .. } = &peer {
                    tracing::warn!(%address, "control listener: {message}");
                }
                Response::Error { message }
            }
            Ok(()) => {
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
        Request::Status => Ok(Reply::Status(status(context))),
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
    completed: tokio::sync::watch::Receiver<Option<crate::deploy::registry::CompletedBatch>>,
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
    mut completed: tokio::sync::watch::Receiver<Option<crate::deploy::registry::CompletedBatch>>,
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

fn status(context: &Context) -> StatusReport {
    let plan = context.registry.plan();
    let progress = context.status.progress();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    StatusReport {
        pipeline: plan.name.clone(),
        pid: std::process::id(),
        uptime_ms: context.status.uptime().as_millis() as u64,
        batch_interval_ms: plan.batch_interval.as_millis() as u64,
        batches: progress.batches,
        input_records: progress.input_records,
        running_batch: progress.running.map(|t| t.0),
        last_batch: progress.last.map(|t| t.0),
        scheduling_delay_ms: ms(progress.scheduling_delay),
        max_scheduling_delay_ms: ms(progress.max_scheduling_delay),
        processing_ms: ms(progress.processing),
        max_processing_ms: ms(progress.max_processing),
        streams: context.registry.status(),
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

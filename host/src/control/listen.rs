//! The control endpoint's listeners: the owner-only Unix socket, the
//! optional TCP listener, and the one accept loop both run.
//!
//! Every connection is answered on its own task. A connection counts
//! toward [`MAX_CONNECTIONS`] (over both listeners) only once it has shown
//! who it is: the Unix socket's owner at once (the kernel tells its uid),
//! anyone else after sending a request with the right token within
//! [`AUTH_DEADLINE`]. Until then it holds one of its listener's own
//! [`MAX_UNAUTHENTICATED`] places, so idle or unauthenticated clients can
//! neither lock the owner out nor exhaust the process's file descriptors;
//! connections beyond a cap are closed at once and logged. The tasks live
//! in a `JoinSet`, so stopping waits for the requests under way, up to
//! [`SHUTDOWN_GRACE`], and aborts the rest.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::handle::{self, Admission, Connection, Context};
use crate::deploy::Registry;
use crate::error::{Error, ErrorKind};
use crate::plan::TcpControlSpec;
use crate::scheduler::Shutdown;
use crate::status::StatusBoard;

/// Authenticated requests handled at once, over both listeners.
pub const MAX_CONNECTIONS: usize = 64;

/// Connections of one listener that have not shown who they are yet.
pub const MAX_UNAUTHENTICATED: usize = 16;

/// How long a connection has to send its request line (and token).
pub const AUTH_DEADLINE: Duration = Duration::from_secs(10);

/// How long requests under way (such as a deploy waiting for a batch, told
/// that the pipeline stopped) have to answer when the endpoint stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The running endpoint; stops listening and removes the socket when
/// dropped.
pub struct ControlServer {
    socket: PathBuf,
    stop: watch::Sender<bool>,
    loops: JoinSet<()>,
}

impl ControlServer {
    /// Stops accepting, and gives requests under way up to
    /// [`SHUTDOWN_GRACE`] to answer.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        while self.loops.join_next().await.is_some() {}
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        // Dropping `loops` aborts the accept loops, and with them every
        // connection's task.
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A listener of the endpoint, with what its peers must show.
pub(super) enum Listener {
    /// The Unix socket: only its owner's uid is served.
    Unix {
        /// The socket.
        listener: UnixListener,
        /// The socket file's owner.
        owner: u32,
    },
    /// The TCP listener: every request must carry the token.
    Tcp {
        /// The listener.
        listener: TcpListener,
        /// The token's sha256.
        token_digest: [u8; 32],
    },
}

impl Listener {
    fn name(&self) -> &'static str {
        match self {
            Listener::Unix { .. } => "control socket",
            Listener::Tcp { .. } => "control listener",
        }
    }

    async fn accept(&self) -> std::io::Result<Connection> {
        match self {
            Listener::Unix { listener, owner } => {
                let (stream, _) = listener.accept().await?;
                let uid = stream.peer_cred().map(|c| c.uid());
                Ok(Connection::Unix {
                    stream,
                    uid,
                    owner: *owner,
                })
            }
            Listener::Tcp {
                listener,
                token_digest,
            } => {
                let (stream, address) = listener.accept().await?;
                Ok(Connection::Tcp {
                    stream,
                    address: address.to_string(),
                    token_digest: *token_digest,
                })
            }
        }
    }
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
    shutdown: Arc<watch::Sender<Shutdown>>,
) -> Result<ControlServer, Error> {
    let plan = registry.plan().clone();
    let socket = plan.state_dir.join(super::SOCKET_NAME);
    let (listener, owner) = bind_unix(&plan.name, &socket)?;
    let mut listeners = vec![Listener::Unix { listener, owner }];
    tracing::info!(pipeline = %plan.name, socket = %socket.display(), "control socket ready (sluice status/deploy/rollback …)");
    if let Some(tcp) = &plan.control {
        match listen_tcp(&plan.name, tcp).await {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                // Nobody will answer on the socket: leave no stale file.
                let _ = std::fs::remove_file(&socket);
                return Err(e);
            }
        }
    }
    let context = Arc::new(Context {
        registry,
        status,
        shutdown,
    });
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopped) = watch::channel(false);
    let mut loops = JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(
            listener,
            context.clone(),
            connections.clone(),
            stopped.clone(),
        ));
    }
    Ok(ControlServer {
        socket,
        stop,
        loops,
    })
}

/// Accepts connections until `stop` says so (or its sender is gone), each
/// answered on its own task (see the module docs for the caps); then waits
/// up to [`SHUTDOWN_GRACE`] for the requests under way.
async fn accept_loop(
    listener: Listener,
    context: Arc<Context>,
    connections: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let unauthenticated = Arc::new(Semaphore::new(MAX_UNAUTHENTICATED));
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let connection = match accepted {
            Ok(connection) => connection,
            Err(e) => {
                tracing::warn!(error = %e, "{}: accept failed", listener.name());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let pending = if connection.is_owner() {
            None
        } else {
            let Ok(permit) = unauthenticated.clone().try_acquire_owned() else {
                tracing::warn!(
                    "{}: {MAX_UNAUTHENTICATED} connections are still to show who they are; closing a new one",
                    listener.name()
                );
                continue;
            };
            Some(permit)
        };
        let context = context.clone();
        let admission = Admission {
            pending,
            connections: connections.clone(),
        };
        tasks.spawn(async move {
            handle::serve(connection, &context, admission).await;
        });
    }
    let drained = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drained).await;
}

/// The TCP listener of `[control] listen`, with its token's digest.
async fn listen_tcp(pipeline: &str, tcp: &TcpControlSpec) -> Result<Listener, Error> {
    let token = read_token(pipeline, &tcp.token_file)?;
    let listener = TcpListener::bind(&tcp.listen)
        .await
        .map_err(|e| Error::Control {
            pipeline: pipeline.to_owned(),
            message: format!("cannot listen on {} (`[control] listen`): {e}", tcp.listen),
            kind: ErrorKind::External,
        })?;
    let address = listener
        .local_addr()
        .map_or_else(|_| tcp.listen.clone(), |a| a.to_string());
    tracing::info!(%pipeline, %address, "control listener ready on TCP (token required)");
    Ok(Listener::Tcp {
        listener,
        token_digest: Sha256::digest(token.as_bytes()).into(),
    })
}

fn control_error(pipeline: &str, message: String) -> Error {
    Error::Control {
        pipeline: pipeline.to_owned(),
        message,
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

/// The token in `path`, at least 16 characters.
///
/// # Errors
///
/// When the file cannot be read or the token is too short.
pub(crate) fn read_token(pipeline: &str, path: &Path) -> Result<String, Error> {
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

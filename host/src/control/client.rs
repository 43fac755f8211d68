//! Sending one request to a running pipeline's control endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::protocol::{Envelope, PROTOCOL_VERSION, Reply, Request, Response};
use crate::config::LoadedFile;

/// Where a running pipeline listens.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// Its Unix socket.
    Unix(PathBuf),
    /// Its TCP listener, with the token to send.
    Tcp {
        /// `host:port`.
        address: String,
        /// The token.
        token: Option<String>,
    },
}

impl Endpoint {
    /// The endpoint named by `--control`: a socket path, or
    /// `tcp://host:port` (with `token`).
    pub fn parse(control: &str, token: Option<String>) -> Self {
        match control.strip_prefix("tcp://") {
            Some(address) => Endpoint::Tcp {
                address: address.to_owned(),
                token,
            },
            None => Endpoint::Unix(PathBuf::from(control)),
        }
    }

    /// The Unix socket of the pipeline whose file is `pipeline`.
    ///
    /// # Errors
    ///
    /// When the pipeline file cannot be read.
    pub fn of_pipeline(pipeline: &Path) -> Result<Self, ClientError> {
        let file = LoadedFile::read(pipeline).map_err(|e| ClientError::Pipeline(e.to_string()))?;
        Ok(Endpoint::Unix(file.state_dir().join(super::SOCKET_NAME)))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp { address, .. } => write!(f, "tcp://{address}"),
        }
    }
}

/// Why a request did not get an answer, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The pipeline file cannot be read.
    #[error("{0}")]
    Pipeline(String),
    /// Nothing listens there.
    #[error("no running pipeline at {endpoint}: {cause}{hint}")]
    Connect {
        /// Where.
        endpoint: String,
        /// The system's error.
        cause: std::io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// The connection broke.
    #[error("control endpoint {endpoint}: {cause}")]
    Io {
        /// Where.
        endpoint: String,
        /// The system's error.
        cause: std::io::Error,
    },
    /// The answer is not one this client understands.
    #[error("control endpoint {endpoint}: unexpected answer ({detail})")]
    Protocol {
        /// Where.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// The pipeline refused or failed the request.
    #[error("{0}")]
    Refused(String),
}

/// Sends `request` (and `payload`, the component of a deploy) and returns
/// the reply.
///
/// # Errors
///
/// When nothing listens, the connection breaks, or the pipeline refuses.
pub fn send(endpoint: &Endpoint, request: Request, payload: &[u8]) -> Result<Reply, ClientError> {
    let name = endpoint.to_string();
    let io = |cause: std::io::Error| ClientError::Io {
        endpoint: name.clone(),
        cause,
    };
    let (mut stream, token): (Box<dyn ReadWrite>, Option<String>) = match endpoint {
        Endpoint::Unix(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path).map_err(|cause| {
                let hint = match cause.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                        "; is the pipeline running (`sluice run`)? pass its pipeline file with --pipeline or its socket with --control"
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        "; the control socket belongs to another user: only the user running the pipeline may control it"
                    }
                    _ => "",
                };
                ClientError::Connect {
                    endpoint: name.clone(),
                    cause,
                    hint,
                }
            })?;
            (Box::new(stream), None)
        }
        Endpoint::Tcp { address, token } => {
            let stream =
                std::net::TcpStream::connect(address).map_err(|cause| ClientError::Connect {
                    endpoint: name.clone(),
                    cause,
                    hint: "; is the pipeline running with `[control] listen` at this address?",
                })?;
            (Box::new(stream), token.clone())
        }
    };
    let envelope = Envelope {
        protocol: PROTOCOL_VERSION,
        token,
        request,
    };
    let mut line = serde_json::to_vec(&envelope).map_err(|e| ClientError::Protocol {
        endpoint: name.clone(),
        detail: e.to_string(),
    })?;
    line.push(b'\n');
    // The pipeline may answer (a refusal) and close before reading all of
    // the request: a failed write is reported only if no answer came.
    let written = stream
        .write_all(&line)
        .and_then(|()| stream.write_all(payload))
        .and_then(|()| stream.flush());
    let mut answer = Vec::new();
    let read = BufReader::new(stream).read_until(b'\n', &mut answer);
    if answer.is_empty() {
        written.map_err(io)?;
        read.map_err(io)?;
        return Err(ClientError::Protocol {
            endpoint: name,
            detail: "the connection closed without an answer".into(),
        });
    }
    match serde_json::from_slice::<Response>(&answer) {
        Ok(Response::Ok { result }) => Ok(*result),
        Ok(Response::Error { message }) => Err(ClientError::Refused(message)),
        Err(e) => Err(ClientError::Protocol {
            endpoint: name,
            detail: e.to_string(),
        }),
    }
}

/// A connected stream of either kind.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

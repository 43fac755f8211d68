//! The running pipeline's web UI (`ui = "127.0.0.1:4040"`, Spark's port):
//! the pages of [`assets`] (streaming overview, batches, batch detail,
//! deploys) over the JSON of [`api`], and `/metrics` in Prometheus' text
//! format ([`crate::metrics`]).
//!
//! Read-only: changes go through the control endpoint. It listens on
//! loopback by default; when the port is taken (another pipeline), the next
//! free one of the following [`PORT_RETRIES`] is used, as Spark does, and
//! when all are taken the pipeline runs without it (logged). On an address
//! beyond loopback every request must carry the control token as
//! `Authorization: Bearer TOKEN` (compared by digest). The address it got
//! is logged and shown by `sluice status`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

use crate::deploy::Registry;
use crate::error::{Error, ErrorKind};
use crate::observe::Observers;
use crate::plan::UiSpec;
use crate::status::StatusBoard;

mod api;
mod assets;

/// The default port, Spark's UI's.
pub const DEFAULT_PORT: u16 = 4040;

/// How many ports after a taken one are tried.
pub const PORT_RETRIES: u16 = 16;

/// The OpenMetrics text format, which `prometheus-client` writes and
/// Prometheus scrapes.
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What every request is served from.
pub struct Served {
    registry: Arc<Registry>,
    status: Arc<StatusBoard>,
    observers: Arc<Observers>,
    /// The token's sha256, when requests must carry it.
    token_digest: Option<[u8; 32]>,
}

impl Served {
    /// Serves what `registry`, `status` and `observers` know of the
    /// running pipeline.
    pub fn new(
        registry: Arc<Registry>,
        status: Arc<StatusBoard>,
        observers: Arc<Observers>,
    ) -> Self {
        Served {
            registry,
            status,
            observers,
            token_digest: None,
        }
    }
}

/// The running listener; stops when shut down or dropped.
pub struct UiServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl UiServer {
    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops listening; requests under way finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts serving `served` where `spec` says.
///
/// # Errors
///
/// When the address cannot be listened on for another reason than a taken
/// port (not an address of this machine, a port below 1024), or the token
/// file cannot be read.
pub async fn start(spec: &UiSpec, mut served: Served) -> Result<Option<UiServer>, Error> {
    let pipeline = served.registry.plan().name.clone();
    let pipeline = pipeline.as_str();
    let fail = |message: String| Error::Control {
        pipeline: pipeline.to_owned(),
        message,
        kind: ErrorKind::User,
    };
    served.token_digest = match &spec.token_file {
        Some(path) => Some(
            Sha256::digest(crate::control::listen::read_token(pipeline, path)?.as_bytes()).into(),
        ),
        None => None,
    };
    let served_state = Arc::new(served);
    let Some(listener) = bind(pipeline, spec.address).await.map_err(fail)? else {
        return Ok(None);
    };
    let address = listener
        .local_addr()
        .map_err(|e| fail(format!("`ui`: {e}")))?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .merge(api::routes())
        .merge(assets::routes())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&served_state),
            require_token,
        ))
        .with_state(served_state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = served.await {
            tracing::warn!(error = %e, "the web UI stopped serving");
        }
    });
    tracing::info!(%pipeline, url = %format!("http://{address}/"), metrics = %format!("http://{address}/metrics"), "web UI and metrics ready");
    Ok(Some(UiServer {
        address,
        stop: Some(stop),
        task,
    }))
}

/// A listener on `address`, or on the next free port after it; `None`
/// when every port tried is taken.
async fn bind(pipeline: &str, address: SocketAddr) -> Result<Option<TcpListener>, String> {
    let last = if address.port() == 0 {
        0
    } else {
        address.port().saturating_add(PORT_RETRIES)
    };
    let mut port = address.port();
    loop {
        let tried = SocketAddr::new(address.ip(), port);
        match TcpListener::bind(tried).await {
            Ok(listener) => {
                if port != address.port() {
                    tracing::info!(%pipeline, asked = %address, got = %tried, "the web UI's port was taken: using the next free one");
                }
                return Ok(Some(listener));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && port < last => port += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                tracing::warn!(%pipeline, from = %address, to = %tried, "every port tried for the web UI is taken: running without it (set `ui` to another address, or `ui = false`)");
                return Ok(None);
            }
            Err(e) => {
                return Err(format!(
                    "`ui`: cannot listen on {tried}: {e}; set `ui` to an address of this machine, or `ui = false`"
                ));
            }
        }
    }
}

/// Whether `headers` carry the token, when one is needed.
fn authorised(served: &Served, headers: &HeaderMap) -> bool {
    let Some(digest) = &served.token_digest else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| {
            let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            given == *digest
        })
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "this pipeline's UI needs its control token: `Authorization: Bearer TOKEN`\n",
    )
        .into_response()
}

/// Refuses a request without the token, where one is needed.
async fn require_token(
    State(served): State<Arc<Served>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if authorised(&served, request.headers()) {
        next.run(request).await
    } else {
        unauthorised()
    }
}

async fn scrape(State(served): State<Arc<Served>>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        served.observers.metrics.render(),
    )
        .into_response()
}

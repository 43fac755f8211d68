//! What a sink plugin may reach over `wasi:http`, checked on every request
//! before anything leaves the host.
//!
//! The pipeline file grants a sink a list of URL prefixes
//! (`allow = { http = ["http://127.0.0.1:8080/alerts"] }`). A request goes
//! out only when its scheme, host and port equal one entry's and its path
//! starts with the entry's path at a segment boundary (`/alerts` allows
//! `/alerts`, `/alerts/x` and `/alerts?x`, not `/alertsx`). Its body is
//! read whole, within what is left of `max_request_bytes`, before the host
//! connects, so a request refused for any reason sends nothing.
//!
//! A refused request fails in the guest with `HTTP-request-denied` (or
//! `HTTP-request-body-size`), and the host remembers why: the call then
//! fails with [`HttpRefusal`] whatever the plugin did with the error, so a
//! sink cannot quietly lose records by ignoring a refusal.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One entry of a sink's `allow.http`: a URL prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedUrl {
    /// As written in the pipeline file.
    pub text: String,
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

impl AllowedUrl {
    /// Parses `text`: `http://` or `https://`, a host, an optional port and
    /// an optional path prefix; no user, query or fragment.
    ///
    /// # Errors
    ///
    /// What is wrong with the URL, for the person writing the pipeline file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s.to_owned(),
            _ => {
                return Err(format!(
                    "`{text}` must start with http:// or https:// (a sink reaches only HTTP endpoints)"
                ));
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(format!("`{text}` names no host"));
        };
        if authority.as_str().contains('@') {
            return Err(format!(
                "`{text}` holds a user name; credentials do not belong in an allowlist"
            ));
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(format!(
                "`{text}` has a query or fragment; an allowlist entry is a scheme, host, port and path prefix"
            ));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        Ok(AllowedUrl {
            text: text.to_owned(),
            host: authority.host().to_ascii_lowercase(),
            port,
            path: uri.path().trim_end_matches('/').to_owned(),
            scheme,
        })
    }

    /// Whether `uri` (a request's) is under this prefix.
    fn permits(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("");
        let Some(authority) = uri.authority() else {
            return false;
        };
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let path = uri.path();
        scheme == self.scheme
            && authority.host().eq_ignore_ascii_case(&self.host)
            && port == self.port
            && path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            && !path.split('/').any(is_parent_segment)
    }
}

/// `..`, also percent-encoded: a server would climb out of the prefix.
fn is_parent_segment(segment: &str) -> bool {
    segment.to_ascii_lowercase().replace("%2e", ".") == ".."
}

/// A sink's grant: the URLs it may reach and how much it may send per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAllowance {
    /// The URL prefixes; empty: no request goes out.
    pub urls: Vec<AllowedUrl>,
    /// Requests per call (`max_requests`, default [`DEFAULT_MAX_REQUESTS`]).
    pub max_requests: u32,
    /// Request body bytes per call, all requests together
    /// (`max_request_bytes`, default [`DEFAULT_MAX_REQUEST_BYTES`]).
    pub max_request_bytes: u64,
}

/// Default `max_requests`.
pub const DEFAULT_MAX_REQUESTS: u32 = 100;

/// Default `max_request_bytes` (16 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 16 << 20;

impl Default for HttpAllowance {
    fn default() -> Self {
        HttpAllowance {
            urls: Vec::new(),
            max_requests: DEFAULT_MAX_REQUESTS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

impl HttpAllowance {
    /// The entries, as written: `` `a`, `b` `` or `nothing`.
    pub fn describe(&self) -> String {
        if self.urls.is_empty() {
            "nothing (the sink has no `allow.http`)".to_owned()
        } else {
            self.urls
                .iter()
                .map(|u| format!("`{}`", u.text))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    fn permits(&self, uri: &http::Uri) -> bool {
        self.urls.iter().any(|allowed| allowed.permits(uri))
    }
}

/// Why the host refused a sink's request; the call fails with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpRefusal {
    /// The URL is outside the allowlist.
    #[error(
        "requested {url}, which the sink's allowlist does not grant (allowed: {allowed}); nothing was sent. Add the URL to `allow.http` if the sink should reach it"
    )]
    NotAllowed {
        /// The request's URL.
        url: String,
        /// The allowlist.
        allowed: String,
    },
    /// More requests than `max_requests` in one call.
    #[error(
        "made more than {limit} requests in one call (limit `max_requests`); request {url} was not sent. Send fewer, larger requests or raise the limit"
    )]
    TooManyRequests {
        /// The limit.
        limit: u32,
        /// The first request over it.
        url: String,
    },
    /// Request bodies over `max_request_bytes` in one call.
    #[error(
        "sent request bodies over {limit} bytes in one call (limit `max_request_bytes`); the body for {url} was not sent. Raise the limit or send less per batch"
    )]
    BodyTooLarge {
        /// The limit.
        limit: u64,
        /// The request whose body went over it.
        url: String,
    },
}

/// What one call did over HTTP, shared with the requests in flight.
#[derive(Debug, Default)]
pub struct HttpUsage {
    /// Requests the sink made (refused ones included).
    pub requests: u32,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// The first refusal, if any.
    pub refusal: Option<HttpRefusal>,
}

/// A request a sink made, as `sluice plugin test` records it instead of
/// sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `POST`, …
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Where a sink's granted requests go.
#[derive(Clone, Debug, Default)]
pub enum Delivery {
    /// Over the network (a running pipeline).
    #[default]
    Send,
    /// Into this list, each answered `200` with an empty body, nothing
    /// sent (`sluice plugin test`).
    Record(Arc<Mutex<Vec<RecordedRequest>>>),
}

/// The hooks of one call's store: checks each request against the grant,
/// counts it, and sends it with timeouts that end by the call's deadline.
pub struct HttpGrant {
    allowance: Arc<HttpAllowance>,
    usage: Arc<Mutex<HttpUsage>>,
    deadline: Instant,
    delivery: Delivery,
}

impl HttpGrant {
    /// A grant of `allowance` for a call that must end by `deadline`; what
    /// the call does is recorded in `usage`.
    pub fn new(
        allowance: Arc<HttpAllowance>,
        usage: Arc<Mutex<HttpUsage>>,
        deadline: Instant,
    ) -> Self {
        HttpGrant {
            allowance,
            usage,
            deadline,
            delivery: Delivery::Send,
        }
    }

    /// This grant, its requests going to `delivery`.
    pub fn delivering(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// A grant of nothing, for operators (which cannot import `wasi:http`).
    pub fn nothing() -> Self {
        HttpGrant::new(
            Arc::new(HttpAllowance::default()),
            Arc::default(),
            Instant::now(),
        )
    }

    /// Records `refusal` (the first one counts) and gives the guest's error.
    fn refuse(&self, refusal: HttpRefusal, code: HttpError) -> SendFuture {
        lock(&self.usage).refusal.get_or_insert(refusal);
        Box::new(async move { Err(code) })
    }
}

fn lock(usage: &Mutex<HttpUsage>) -> std::sync::MutexGuard<'_, HttpUsage> {
    usage.lock().unwrap_or_else(PoisonError::into_inner)
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpGrant {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let url = request.uri().to_string();
        if lock(&self.usage).refusal.is_some() {
            // After a refusal the call has failed: nothing more goes out.
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if !self.allowance.permits(request.uri()) {
            let allowed = self.allowance.describe();
            return self.refuse(
                HttpRefusal::NotAllowed { url, allowed },
                HttpError::HttpRequestDenied,
            );
        }
        let sent_bytes = {
            let mut usage = lock(&self.usage);
            usage.requests += 1;
            (usage.requests <= self.allowance.max_requests).then_some(usage.body_bytes)
        };
        let Some(sent_bytes) = sent_bytes else {
            let limit = self.allowance.max_requests;
            return self.refuse(
                HttpRefusal::TooManyRequests { limit, url },
                HttpError::HttpRequestDenied,
            );
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        let options = within(options, left);
        let limit = self.allowance.max_request_bytes;
        let usage = self.usage.clone();
        let delivery = self.delivery.clone();
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let room = usize::try_from(limit.saturating_sub(sent_bytes)).unwrap_or(usize::MAX);
            let body = match tokio::time::timeout(left, Limited::new(body, room).collect()).await {
                Err(_) => return Err(HttpError::ConnectionWriteTimeout),
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                    lock(&usage)
                        .refusal
                        .get_or_insert(HttpRefusal::BodyTooLarge { limit, url });
                    return Err(HttpError::HttpRequestBodySize(Some(limit)));
                }
                Ok(Err(e)) => return Err(HttpError::InternalError(Some(e.to_string()))),
            };
            {
                // Counted again under the lock: requests of one call may
                // collect their bodies at the same time.
                let mut usage = lock(&usage);
                if usage.body_bytes + body.len() as u64 > limit {
                    usage
                        .refusal
                        .get_or_insert(HttpRefusal::BodyTooLarge { limit, url });
                    return Err(HttpError::HttpRequestBodySize(Some(limit)));
                }
                usage.body_bytes += body.len() as u64;
            }
            if let Delivery::Record(requests) = delivery {
                return Ok(recorded(&requests, parts, body));
            }
            let request = http::Request::from_parts(
                parts,
                Full::<Bytes>::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            let sent = tokio::time::timeout(
                left,
                wasmtime_wasi_http::default_send_request(request, Some(options)),
            )
            .await;
            let (response, io) = sent.map_err(|_| HttpError::HttpResponseTimeout)??;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Records a request and answers it `200` with an empty body.
fn recorded(
    requests: &Mutex<Vec<RecordedRequest>>,
    parts: http::request::Parts,
    body: Bytes,
) -> (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
) {
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != http::header::HOST)
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(RecordedRequest {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            headers,
            body: body.to_vec(),
        });
    let mut response = http::Response::new(
        http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::OK;
    (response, Box::new(async { Ok(()) }))
}

/// The guest's timeouts, none longer than `left`.
fn within(options: Option<RequestOptions>, left: Duration) -> RequestOptions {
    let options = options.unwrap_or_default();
    let cap = |t: Option<Duration>| Some(t.map_or(left, |t| t.min(left)));
    RequestOptions {
        connect_timeout: cap(options.connect_timeout),
        first_byte_timeout: cap(options.first_byte_timeout),
        between_bytes_timeout: cap(options.between_bytes_timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowance(urls: &[&str]) -> HttpAllowance {
        HttpAllowance {
            urls: urls.iter().map(|u| AllowedUrl::parse(u).unwrap()).collect(),
            ..HttpAllowance::default()
        }
    }

    fn permits(allowance: &HttpAllowance, url: &str) -> bool {
        allowance.permits(&url.parse().unwrap())
    }

    #[test]
    fn a_prefix_allows_its_path_and_below_and_nothing_else() {
        let a = allowance(&["http://127.0.0.1:8080/alerts"]);
        assert!(permits(&a, "http://127.0.0.1:8080/alerts"));
        assert!(permits(&a, "http://127.0.0.1:8080/alerts/"));
        assert!(permits(&a, "http://127.0.0.1:8080/alerts/x?y=1"));
        assert!(permits(&a, "http://127.0.0.1:8080/alerts?batch=1"));
        assert!(!permits(&a, "http://127.0.0.1:8080/alertsx"));
        assert!(!permits(&a, "http://127.0.0.1:8080/other"));
        assert!(!permits(&a, "http://127.0.0.1:8080/alerts/../admin"));
        assert!(!permits(&a, "http://127.0.0.1:8080/alerts/%2E%2e/admin"));
        assert!(!permits(&a, "http://127.0.0.1:8081/alerts"));
        assert!(!permits(&a, "https://127.0.0.1:8080/alerts"));
        assert!(!permits(&a, "http://localhost:8080/alerts"));
    }

    #[test]
    fn default_ports_and_host_case_are_normalised() {
        let a = allowance(&["https://Example.com", "http://example.org/"]);
        assert!(permits(&a, "https://example.com:443/anything"));
        assert!(permits(&a, "https://EXAMPLE.com/"));
        assert!(!permits(&a, "http://example.com/"));
        assert!(permits(&a, "http://example.org:80/a"));
        assert!(!permits(&a, "http://example.org:8080/a"));
    }

    #[test]
    fn malformed_entries_are_refused_with_the_reason() {
        let error = |text: &str| AllowedUrl::parse(text).unwrap_err();
        assert_eq!(
            error("ftp://example.com/x"),
            "`ftp://example.com/x` must start with http:// or https:// (a sink reaches only HTTP endpoints)"
        );
        assert_eq!(
            error("http://user:pw@example.com/"),
            "`http://user:pw@example.com/` holds a user name; credentials do not belong in an allowlist"
        );
        assert_eq!(
            error("http://example.com/a?b=c"),
            "`http://example.com/a?b=c` has a query or fragment; an allowlist entry is a scheme, host, port and path prefix"
        );
        assert!(error("not a url").starts_with("`not a url` is not a URL"));
    }

    #[test]
    fn refusals_name_the_url_and_the_allowlist() {
        let a = allowance(&["http://127.0.0.1:8080/alerts"]);
        let refusal = HttpRefusal::NotAllowed {
            url: "http://127.0.0.1:9/x".into(),
            allowed: a.describe(),
        };
        assert_eq!(
            refusal.to_string(),
            "requested http://127.0.0.1:9/x, which the sink's allowlist does not grant (allowed: `http://127.0.0.1:8080/alerts`); nothing was sent. Add the URL to `allow.http` if the sink should reach it"
        );
        assert_eq!(
            HttpAllowance::default().describe(),
            "nothing (the sink has no `allow.http`)"
        );
    }

    #[test]
    fn timeouts_end_by_the_deadline() {
        let left = Duration::from_secs(5);
        let options = within(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(1)),
                first_byte_timeout: Some(Duration::from_secs(60)),
                between_bytes_timeout: None,
            }),
            left,
        );
        assert_eq!(options.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(options.first_byte_timeout, Some(left));
        assert_eq!(options.between_bytes_timeout, Some(left));
    }
}

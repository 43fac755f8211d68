//! HTTP requests from a `#[sink]` plugin, over `wasi:http`.
//!
//! A sink reaches only the URLs its pipeline file grants
//! (`allow = { http = ["http://127.0.0.1:8080/alerts"] }`). The host checks
//! every request before anything is sent; a refused one returns an error
//! here *and* fails the call, so handle it by returning it.
//!
//! ```ignore
//! let response = sluice_guest::http::post(url, "application/json", body.as_bytes())?;
//! if response.status >= 300 {
//!     return Err(format!("{url} answered {}", response.status));
//! }
//! ```

use crate::bindings::sink_operator::wasi::http::outgoing_handler;
use crate::bindings::sink_operator::wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::sink_operator::wasi::io::streams::StreamError;

/// The most of a response body [`send`] reads (1 MiB); the rest is
/// dropped.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What the receiver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The body, up to [`MAX_RESPONSE_BYTES`].
    pub body: Vec<u8>,
}

/// POSTs `body` to `url` with the given `Content-Type`.
///
/// # Errors
///
/// When the URL is malformed, the host refuses it (not in the allowlist,
/// over a limit) or the request fails (connection refused, timeout); the
/// message names the URL.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Result<Response, String> {
    send("POST", url, &[("content-type", content_type)], body)
}

/// Sends one request and reads its response.
///
/// `method` is `GET`, `POST`, `PUT`, … ; `headers` are name and value
/// pairs (`Content-Length` is set from `body`).
///
/// # Errors
///
/// As [`post`].
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let (scheme, authority, path) = split_url(url)?;
    let fail = |what: &str| format!("{method} {url}: {what}");
    let mut fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
        .collect();
    if !body.is_empty() {
        fields.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    let fields = Fields::from_list(&fields).map_err(|e| fail(&format!("bad header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method_of(method))
        .map_err(|()| fail("invalid method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| fail("invalid scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| fail("invalid host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| fail("invalid path"))?;
    let outgoing = request.body().map_err(|()| fail("no request body"))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| fail(&describe(&e)))?;
    {
        let stream = outgoing.write().map_err(|()| fail("no body stream"))?;
        // As much per write as the host takes (`check-write`, up to a
        // megabyte), not `blocking-write-and-flush`'s 4 KiB: a large body
        // crosses the boundary a few times, not thousands.
        let mut rest = body;
        while !rest.is_empty() {
            let permitted = stream
                .check_write()
                .map_err(|e| fail(&format!("writing the body: {e:?}")))?;
            if permitted == 0 {
                stream.subscribe().block();
                continue;
            }
            let n = rest
                .len()
                .min(usize::try_from(permitted).unwrap_or(usize::MAX));
            stream
                .write(&rest[..n])
                .map_err(|e| fail(&format!("writing the body: {e:?}")))?;
            rest = &rest[n..];
        }
        stream
            .blocking_flush()
            .map_err(|e| fail(&format!("writing the body: {e:?}")))?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| fail(&describe(&e)))?;
    let response = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| fail("response taken twice"))?
        .map_err(|e| fail(&describe(&e)))?;
    let status = response.status();
    let body = read_body(response).map_err(|e| fail(&e))?;
    Ok(Response { status, body })
}

fn method_of(method: &str) -> Method {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    }
}

/// `http://host:port/path?query` as (scheme, authority, path and query).
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn describe(error: &ErrorCode) -> String {
    match error {
        ErrorCode::HttpRequestDenied => {
            "refused by the host: the sink's `allow.http` does not grant this URL, or a limit was hit".into()
        }
        ErrorCode::ConnectionRefused => "connection refused".into(),
        other => format!("{other:?}"),
    }
}

fn read_body(response: IncomingResponse) -> Result<Vec<u8>, String> {
    let incoming = response
        .consume()
        .map_err(|()| "response body taken twice".to_owned())?;
    let stream = incoming
        .stream()
        .map_err(|()| "no response body stream".to_owned())?;
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_BYTES {
        match stream.blocking_read((MAX_RESPONSE_BYTES - body.len()).min(65536) as u64) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the response: {}", e.to_debug_string()));
            }
        }
    }
    Ok(body)
}

/// Appends `text` to `out` as a JSON string literal (quotes, backslashes
/// and control characters escaped): for building request bodies.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd é");
        assert_eq!(out, r#""a\"b\\c\u000ad é""#);
    }

    #[test]
    fn urls_split_into_scheme_host_and_path() {
        let (scheme, authority, path) = split_url("http://127.0.0.1:8080/alerts?x=1").unwrap();
        assert!(matches!(scheme, Scheme::Http));
        assert_eq!((authority, path), ("127.0.0.1:8080", "/alerts?x=1"));
        let (scheme, authority, path) = split_url("https://example.com").unwrap();
        assert!(matches!(scheme, Scheme::Https));
        assert_eq!((authority, path), ("example.com", "/"));
        assert_eq!(
            split_url("ftp://x/").unwrap_err(),
            "`ftp://x/` is not an http:// or https:// URL"
        );
    }
}

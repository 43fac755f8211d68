//! A tiny HTTP/1.1 receiver on 127.0.0.1 for sink tests: it records every
//! request it gets, answers each with the next status of a list (then
//! 200), and counts connections, so a test can prove that nothing reached
//! it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    /// `POST`, …
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status it was answered with (`None`: not answered).
    pub answered: Option<u16>,
}

impl Received {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running receiver.
pub struct Receiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
}

impl Receiver {
    /// Answers the `i`-th request with `statuses[i]`, and 200 after them.
    pub fn start(statuses: &[u16]) -> Receiver {
        Self::serve(statuses.to_vec(), true)
    }

    /// Accepts connections and reads requests but never answers them.
    pub fn silent() -> Receiver {
        Self::serve(Vec::new(), false)
    }

    fn serve(statuses: Vec<u16>, answer: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, count) = (requests.clone(), connections.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let Some(mut request) = read_request(&stream) else {
                    continue;
                };
                let status = {
                    let mut log = log.lock().unwrap();
                    let status = answer.then(|| statuses.get(log.len()).copied().unwrap_or(200));
                    request.answered = status;
                    log.push(request);
                    status
                };
                match status {
                    Some(status) => respond(stream, status),
                    None => held.push(stream),
                }
            }
        });
        Receiver {
            port,
            requests,
            connections,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The requests so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        target,
        headers,
        body,
        answered: None,
    })
}

fn respond(mut stream: TcpStream, status: u16) {
    let body = if status == 200 { "ok" } else { "try again" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

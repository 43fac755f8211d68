//! Test guest: a sink that uses sockets itself, so its component imports
//! `wasi:sockets`. Sinks are linked with `wasi:sockets` (CPython imports
//! it), but every use is refused: the host's context turns TCP, UDP and
//! name lookup off. By the `mode` parameter, each call:
//!
//! - `tcp`: connects to `address` (`IP:PORT`);
//! - `udp`: binds a UDP socket and sends a datagram to `address`;
//! - `lookup`: resolves `address` (`HOST:PORT`).
//!
//! and fails with what the sandbox answered (success would be a breach).

use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::OnceLock;

use sluice_guest::{Params, SinkBatch, sink};

static SETTINGS: OnceLock<(String, String)> = OnceLock::new();

fn init(params: &Params) -> Result<(), String> {
    let mode = params.get("mode").unwrap_or("tcp").to_owned();
    let address = params.get("address").unwrap_or("").to_owned();
    let _ = SETTINGS.set((mode, address));
    Ok(())
}

#[sink(init = init)]
fn connect(_info: &SinkBatch, _records: Vec<&str>) -> Result<(), String> {
    let (mode, address) = SETTINGS.get().ok_or("init was not called")?;
    let outcome = match mode.as_str() {
        "tcp" => TcpStream::connect(address.as_str()).map(drop),
        "udp" => {
            UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"x", address.as_str()).map(drop))
        }
        "lookup" => address.to_socket_addrs().map(drop),
        other => return Err(format!("unknown mode `{other}`")),
    };
    match outcome {
        Ok(()) => Err(format!("{mode} {address}: the sandbox allowed it")),
        Err(e) => Err(format!("{mode} {address}: {e}")),
    }
}

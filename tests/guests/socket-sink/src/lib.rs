//! Test guest: a sink that opens a TCP connection itself, so its component
//! imports `wasi:sockets`. A sink reaches the network only through the
//! host's checked `wasi:http`: the host must refuse it at load.

use sluice_guest::{SinkBatch, sink};

#[sink]
fn connect(_info: &SinkBatch, records: Vec<&str>) -> Result<(), String> {
    for address in records {
        std::net::TcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    }
    Ok(())
}

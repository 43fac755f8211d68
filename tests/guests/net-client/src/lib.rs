//! Test guest: a `map` that tries to open a TCP connection to the address
//! in each record, so its component imports `wasi:sockets`. The host must
//! refuse it at load.

use sluice_guest::map;

/// Whether a connection to `address` could be opened.
#[map]
fn probe(address: &str) -> String {
    match std::net::TcpStream::connect(address) {
        Ok(_) => format!("{address}: open"),
        Err(e) => format!("{address}: {e}"),
    }
}

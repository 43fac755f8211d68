//! The control endpoint of a running pipeline, and its client.
//!
//! A running pipeline listens on a Unix socket, `control.sock` in its state
//! directory, with mode 0600 in a 0700 directory, and accepts only
//! connections whose peer has the socket's owner's uid. With `[control]
//! listen`, it also listens on TCP, where every request must carry the
//! token from `token_file`.
//!
//! - [`protocol`]: the requests and replies, shared by both ends (the
//!   version reports inside them belong to [`crate::deploy::info`]).
//! - [`listen`]: the listeners and the one accept loop, bounded and
//!   stopped cleanly.
//! - [`handle`]: what each request does.
//! - [`client`]: connecting and sending one request (the `sluice` commands).
//! - [`report`]: replies as text for the terminal.

pub mod client;
pub(crate) mod handle;
pub mod listen;
pub mod protocol;
pub mod report;

pub use listen::{ControlServer, start};

/// The control socket's file name in the state directory.
pub const SOCKET_NAME: &str = "control.sock";

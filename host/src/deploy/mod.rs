//! Hot loading: new versions of a stream's plugin, swapped in between two
//! batches of a running pipeline.
//!
//! - [`registry`]: every stream's versions, the snapshot each batch runs,
//!   rollback (requested or automatic) and shadow candidates.
//! - [`candidate`]: the checks a new version passes before it may run.
//! - [`watch`]: `sluice run --watch`, reloading plugin files as they change.

pub mod candidate;
pub mod registry;
pub mod watch;

pub use registry::{Origin, Registry, RegistryError};

//! Hot loading: new versions of a stream's plugin, swapped in between two
//! batches of a running pipeline.
//!
//! - [`versions`]: one stream's versions as a pure value: the rollback
//!   stack, the shadow candidate, the automatic-rollback rule, the event log.
//! - [`registry`]: every stream's versions behind one lock, the snapshot
//!   each batch runs, and the changes asked for (deploy, rollback, promote,
//!   discard).
//! - [`info`]: what the registry reports about versions (the control
//!   protocol carries these values).
//! - [`candidate`]: the checks a new version passes before it may run.
//! - [`watch`]: `sluice run --watch`, reloading plugin files as they change.

pub mod candidate;
pub mod info;
pub mod registry;
pub mod versions;
pub mod watch;

pub use registry::{KeptVersion, KeptVersions, Registry, RegistryError};
pub use versions::Origin;

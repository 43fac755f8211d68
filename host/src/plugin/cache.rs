//! Compiled components cached on disk by content hash, so a restart does not
//! run Cranelift again.
//!
//! Layout: `<dir>/<engine compatibility hash>/<sha256 of the .wasm>.cwasm`.
//! The engine hash changes with the wasmtime version and compiler settings,
//! so a stale artifact is never loaded. Files are written to a temporary name
//! and renamed, so a crash never leaves half an artifact; an artifact that
//! fails to load is compiled again and replaced.
//!
//! Trust: loading an artifact runs its machine code. The cache directory is
//! created owner-only (0700); whoever can write to it can run code as the
//! pipeline's user, like anyone who can write to its binary.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `root`, for components compiled by `engine`.
    pub fn new(root: &Path, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir: root.join(format!("{:016x}", hasher.finish())),
        }
    }

    /// The default root: `$SLUICE_CACHE_DIR`, else `$XDG_CACHE_HOME/sluice`,
    /// else `$HOME/.cache/sluice`, else a directory under the system temp dir.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(dir).join("sluice");
        }
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(".cache").join("sluice");
        }
        std::env::temp_dir().join("sluice-cache")
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    /// The cached compilation of the component whose hash is `sha256`, if
    /// there is a usable one.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.is_file() {
            return None;
        }
        // SAFETY: artifacts in this directory are written only by `store`
        // below, from `Component::serialize` of the same engine
        // configuration (the directory is keyed by its compatibility hash);
        // see the module docs for the trust model.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable compiled plugin in cache; compiling again");
                None
            }
        }
    }

    /// Stores the compilation of `component`; failures are logged, not fatal.
    pub fn store(&self, sha256: &str, component: &Component) {
        if let Err(e) = self.try_store(sha256, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled plugin");
        }
    }

    /// A directory inside the cache for compiling into, so a finished
    /// artifact is moved into place with a rename (created if needed).
    ///
    /// # Errors
    ///
    /// When the cache directory cannot be created.
    pub fn work_dir(&self) -> std::io::Result<PathBuf> {
        create_private_dir(&self.dir)?;
        Ok(self.dir.clone())
    }

    /// Moves an artifact compiled elsewhere (by the compile child, into
    /// [`CompileCache::work_dir`]) into the cache as the compilation of
    /// `sha256`; failures are logged, not fatal.
    pub fn adopt(&self, sha256: &str, artifact: &Path) {
        if let Err(e) = std::fs::rename(artifact, self.path(sha256)) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled plugin");
        }
    }

    fn try_store(&self, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        create_private_dir(&self.dir)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&bytes)?;
        file.as_file().sync_all()?;
        file.persist(self.path(sha256))?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

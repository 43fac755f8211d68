//! Compiled components cached on disk by content hash, so a restart does not
//! run Cranelift again.
//!
//! Layout: `<dir>/<engine compatibility hash>/<sha256 of the .wasm>.cwasm`.
//! The engine hash changes with the wasmtime version and compiler settings,
//! so a stale artifact is never loaded. Files are written to a temporary name
//! and renamed, so a crash never leaves half an artifact; an artifact that
//! fails to load is compiled again and replaced.
//!
//! Bounded: the cache holds at most `$SLUICE_CACHE_MIB` MiB of artifacts
//! (default [`DEFAULT_MAX_MIB`]), across every engine directory under its
//! root. After each artifact is added, the least recently used ones (by
//! modification time, which a load refreshes) are removed until the rest
//! fit; the newest artifact is always kept, even when it alone is larger.
//!
//! Trust: loading an artifact runs its machine code. The cache directory is
//! created owner-only (0700); whoever can write to it can run code as the
//! pipeline's user, like anyone who can write to its binary.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache's size bound when `$SLUICE_CACHE_MIB` is not set: room for
/// about 30 compiled interpreter-based plugins (Python, JavaScript: ~35 MB
/// each) or hundreds of compiled Rust, C, Zig or Go ones.
pub const DEFAULT_MAX_MIB: u64 = 1024;

/// Where compiled components are kept.
#[derive(Clone, Debug)]
pub struct CompileCache {
    root: PathBuf,
    dir: PathBuf,
    max_bytes: u64,
}

impl CompileCache {
    /// A cache in `root`, for components compiled by `engine`, holding at
    /// most [`CompileCache::default_max_mib`] MiB.
    pub fn new(root: &Path, engine: &Engine) -> Self {
        Self::with_max_mib(root, engine, Self::default_max_mib())
    }

    /// A cache in `root`, for components compiled by `engine`, holding at
    /// most `max_mib` MiB of artifacts.
    pub fn with_max_mib(root: &Path, engine: &Engine, max_mib: u64) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            root: root.to_owned(),
            dir: root.join(format!("{:016x}", hasher.finish())),
            max_bytes: max_mib.saturating_mul(1024 * 1024),
        }
    }

    /// The size bound: `$SLUICE_CACHE_MIB` (a whole number of MiB), else
    /// [`DEFAULT_MAX_MIB`]; a value that is not a number is logged and
    /// ignored.
    pub fn default_max_mib() -> u64 {
        let Some(value) = std::env::var_os("SLUICE_CACHE_MIB") else {
            return DEFAULT_MAX_MIB;
        };
        match value.to_str().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(mib) => mib,
            None => {
                tracing::warn!(value = ?value, default = DEFAULT_MAX_MIB, "SLUICE_CACHE_MIB is not a whole number of MiB; using the default");
                DEFAULT_MAX_MIB
            }
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
            Ok(component) => {
                // Recently used: the last to be evicted. Best effort.
                if let Ok(file) = std::fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Some(component)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable compiled plugin in cache; compiling again");
                None
            }
        }
    }

    /// Stores the compilation of `component`; failures are logged, not fatal.
    pub fn store(&self, sha256: &str, component: &Component) {
        match self.try_store(sha256, component) {
            Ok(()) => self.evict(sha256),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled plugin");
            }
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
        match std::fs::rename(artifact, self.path(sha256)) {
            Ok(()) => self.evict(sha256),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled plugin");
                let _ = std::fs::remove_file(artifact);
            }
        }
    }

    /// Removes the least recently used artifacts until the cache fits its
    /// bound, keeping the one just added (`sha256`).
    fn evict(&self, sha256: &str) {
        let keep = self.path(sha256);
        let removed = evict_least_recent(&self.root, self.max_bytes, &keep);
        if removed.files > 0 {
            tracing::info!(
                root = %self.root.display(),
                files = removed.files,
                mib = removed.bytes / (1024 * 1024),
                max_mib = self.max_bytes / (1024 * 1024),
                "compile cache over its bound (SLUICE_CACHE_MIB): removed the least recently used compiled plugins"
            );
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

/// What an eviction removed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Removed {
    files: usize,
    bytes: u64,
}

/// Removes `.cwasm` files under `root` (one level of engine directories
/// deep), oldest modification first, until the rest take at most
/// `max_bytes`; never removes `keep`. Files that vanish or cannot be
/// removed meanwhile (another process sharing the cache) are skipped.
fn evict_least_recent(root: &Path, max_bytes: u64, keep: &Path) -> Removed {
    let mut artifacts: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    let engine_dirs = std::fs::read_dir(root).into_iter().flatten().flatten();
    for dir in engine_dirs {
        let files = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten();
        for file in files {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "cwasm") {
                continue;
            }
            if let Ok(meta) = file.metadata() {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                artifacts.push((modified, meta.len(), path));
            }
        }
    }
    let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
    artifacts.sort();
    let mut removed = Removed::default();
    for (_, len, path) in artifacts {
        if total <= max_bytes {
            break;
        }
        if path == keep {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            removed.files += 1;
            removed.bytes += len;
        }
    }
    removed
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn artifact(dir: &Path, name: &str, len: usize, age_secs: u64) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
        path
    }

    #[test]
    fn eviction_removes_the_least_recently_used_until_the_rest_fit() {
        let root = tempfile::tempdir().unwrap();
        let engine_a = root.path().join("aaaa");
        let engine_b = root.path().join("bbbb");
        let oldest = artifact(&engine_a, "1.cwasm", 400, 300);
        let old = artifact(&engine_b, "2.cwasm", 400, 200);
        let recent = artifact(&engine_a, "3.cwasm", 400, 100);
        let newest = artifact(&engine_b, "4.cwasm", 400, 0);
        let other = artifact(&engine_a, "notes.txt", 5000, 400);
        let removed = evict_least_recent(root.path(), 1000, &newest);
        assert_eq!(
            removed,
            Removed {
                files: 2,
                bytes: 800
            }
        );
        assert!(!oldest.exists() && !old.exists());
        assert!(recent.exists() && newest.exists() && other.exists());
    }

    #[test]
    fn the_artifact_just_added_is_kept_even_when_it_alone_is_over_the_bound() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("aaaa");
        let older = artifact(&dir, "1.cwasm", 10, 100);
        let added = artifact(&dir, "2.cwasm", 2000, 200);
        let removed = evict_least_recent(root.path(), 1000, &added);
        assert_eq!(
            removed,
            Removed {
                files: 1,
                bytes: 10
            }
        );
        assert!(added.exists() && !older.exists());
        assert_eq!(
            evict_least_recent(root.path(), 1000, &added),
            Removed::default()
        );
    }
}

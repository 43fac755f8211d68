//! `sluice run --watch`: reload a stream's plugin when its file changes.
//!
//! The directories holding the plugin files are watched (not the files, so
//! that a file replaced by a rename is still seen). Events for a file are
//! debounced: once the file has been quiet for the debounce time, it is
//! read and deployed like `sluice deploy` would. A half-written or invalid
//! file is refused with a warning and the running version kept; the next
//! write triggers another attempt. A file whose content is the current
//! version's, or was already refused, is ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecursiveMode, Watcher as _};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Origin, Registry};
use crate::error::Error;

/// Watches the plugin files of a running pipeline; stops when dropped.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching every stream's plugin file.
///
/// # Errors
///
/// When the file system cannot be watched.
pub fn start(registry: Arc<Registry>, debounce: Duration) -> Result<PluginWatcher, Error> {
    let plan = registry.plan().clone();
    let mut files: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for stream in &plan.streams {
        // Host operators have no plugin file.
        let Some(path) = &stream.plugin_path else {
            continue;
        };
        files
            .entry(normalise(path))
            .or_default()
            .push(stream.name.clone());
    }
    let (sender, events) = mpsc::unbounded_channel();
    let failed = |e: notify::Error| {
        Error::Internal(format!(
            "pipeline `{}`: cannot watch the plugin files (--watch): {e}",
            plan.name
        ))
    };
    let mut watcher = notify::recommended_watcher(move |event| {
        // The receiver is gone only when the pipeline stops.
        let _ = sender.send(event);
    })
    .map_err(failed)?;
    let mut dirs: Vec<&Path> = files.keys().filter_map(|f| f.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(failed)?;
    }
    tracing::info!(pipeline = %plan.name, files = files.len(), ?debounce, "watching plugin files for changes");
    let task = tokio::spawn(watch_loop(registry, files, events, debounce));
    Ok(PluginWatcher {
        _watcher: watcher,
        task,
    })
}

async fn watch_loop(
    registry: Arc<Registry>,
    files: HashMap<PathBuf, Vec<String>>,
    mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    debounce: Duration,
) {
    let mut due: HashMap<PathBuf, Instant> = HashMap::new();
    let mut refused: HashMap<PathBuf, String> = HashMap::new();
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!(error = %e, "watching plugin files");
                        continue;
                    }
                };
                if !is_write(&event.kind) {
                    continue;
                }
                for path in event.paths {
                    let path = normalise(&path);
                    if files.contains_key(&path) {
                        due.insert(path, Instant::now() + debounce);
                    }
                }
            }
            () = sleep_until(next) => {
                let now = Instant::now();
                let ready: Vec<PathBuf> = due
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(path, _)| path.clone())
                    .collect();
                for path in ready {
                    due.remove(&path);
                    let streams = files.get(&path).cloned().unwrap_or_default();
                    let registry = registry.clone();
                    let last_refused = refused.get(&path).cloned();
                    let reload_path = path.clone();
                    let outcome = tokio::task::spawn_blocking(move || {
                        reload(&registry, &reload_path, &streams, last_refused.as_deref())
                    })
                    .await;
                    match outcome {
                        Ok(Some(hash)) => {
                            refused.insert(path, hash);
                        }
                        Ok(None) => {
                            refused.remove(&path);
                        }
                        Err(e) => tracing::error!(error = %e, "plugin reload panicked"),
                    }
                }
            }
        }
    }
}

/// Deploys the file at `path` to `streams`; returns the file's hash when
/// it was refused (so the same content is not tried again).
fn reload(
    registry: &Registry,
    path: &Path,
    streams: &[String],
    last_refused: Option<&str>,
) -> Option<String> {
    // The largest `binary_mib` of the streams this file serves bounds the
    // read; each stream then applies its own.
    let limit = streams
        .iter()
        .filter_map(|stream| registry.stream_index(stream).ok())
        .map(|index| registry.plan().streams[index].limits.binary_bytes())
        .max()
        .unwrap_or(0);
    let bytes = match crate::regular_file::read_bounded(path, limit) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "watch: cannot read the changed plugin file; keeping the running version");
            return None;
        }
    };
    let hash = hex::encode(Sha256::digest(&bytes));
    if last_refused == Some(hash.as_str()) {
        return Some(hash);
    }
    let mut refused = None;
    for stream in streams {
        let Ok(index) = registry.stream_index(stream) else {
            continue;
        };
        if registry.current_hash(index) == hash {
            continue;
        }
        // The registry logs the outcome and records it in the history.
        if registry
            .deploy(stream, path, &bytes, Origin::Watch, false)
            .is_err()
        {
            refused = Some(hash.clone());
        }
    }
    refused
}

/// Whether an event may have changed a file's content.
fn is_write(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// `path` with its directory made absolute and canonical, so that event
/// paths and configured paths compare equal.
fn normalise(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .join(name)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

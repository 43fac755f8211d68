//! Rust plugins: a Cargo project using the `sluice-guest` SDK, built with
//! `cargo build --release --target wasm32-wasip2`; the `.wasm` Cargo writes
//! is already a component, and is copied to `target/sluice/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BuildError, output_dir, run_step};

/// How to install the Rust toolchain's wasm target.
pub const INSTALL_HINT: &str =
    "install Rust (https://rustup.rs) and its wasm target: `rustup target add wasm32-wasip2`";

/// Builds the Cargo project in `dir`; returns the component's path.
///
/// # Errors
///
/// When cargo is missing or the build fails.
pub fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics"]);
    // Flags meant for the host must not reach the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        command.env_remove(var);
    }
    let output = run_step(dir, "cargo build", &mut command, |cause| {
        BuildError::MissingTool {
            tool: cargo.clone(),
            language: "Rust",
            cause,
            hint: INSTALL_HINT,
        }
    })?;
    // The last cdylib artifact Cargo reports is the plugin.
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next_back()
        .ok_or_else(|| BuildError::Project {
            dir: dir.to_path_buf(),
            message: "cargo built no .wasm; the package needs `[lib] crate-type = [\"cdylib\"]`"
                .into(),
        })?;
    let out = output_dir(dir)?;
    let target = out.join(wasm.file_name().unwrap_or_default());
    std::fs::copy(&wasm, &target).map_err(BuildError::io(&target))?;
    Ok(target)
}

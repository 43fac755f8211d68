//! Zig plugins: `plugin.zig`, `sluice-plugin.toml`, and `sluice.zig`.
//!
//! A Zig plugin exports the same per-record functions as a C plugin; the C
//! SDK's bulk side (`sluice.c`) and the world's C bindings are compiled in
//! by Zig's own clang, and `sluice.zig` (the module `sluice`) gives the
//! SDK's types Zig names. Zig comes from the `ziglang` Python package
//! (`SLUICE_ZIG` names another `zig`). The component is made in process, as
//! for C.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::c::{prepare_sdk, write_component};
use super::tools::Tool;
use super::{BuildError, Manifest, output_dir, require_entry, run_tool};

/// The SDK's Zig side, imported as the module `sluice`.
pub const SLUICE_ZIG: &str = include_str!("../../zig/sluice.zig");

/// The plugin's root source file.
pub const ENTRY: &str = "plugin.zig";

/// How to install Zig.
pub const INSTALL_HINT: &str = "install Zig with `bash scripts/install-toolchains.sh zig` (the `ziglang` Python package in Sluice's tools directory), or point SLUICE_ZIG at a zig 0.17";

const ZIG: Tool = Tool {
    env: "SLUICE_ZIG",
    in_tools_dir: "venv/bin/python-zig",
    on_path: "zig",
};

/// Builds the Zig project in `dir`; returns the component's path.
///
/// # Errors
///
/// A missing manifest, `plugin.zig` or compiler, or a failing compile.
pub fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = Manifest::read(dir)?;
    require_entry(dir, ENTRY, "Zig")?;
    let entry = dir.join(ENTRY);
    let out = output_dir(dir)?;
    let sdk = prepare_sdk(&out, manifest.op)?;
    let sluice_zig = out.join("sluice.zig");
    std::fs::write(&sluice_zig, SLUICE_ZIG).map_err(BuildError::io(&sluice_zig))?;
    let core = out.join(format!("{}.core.wasm", manifest.name.replace('-', "_")));
    let zig = ZIG.locate();
    let mut command = Command::new(&zig);
    command
        .current_dir(dir)
        .args([
            "build-exe",
            "-target",
            "wasm32-wasi",
            "-mexec-model=reactor",
        ])
        .args(["-fno-entry", "-lc", "-O", "ReleaseSmall", "-fstrip"])
        .arg(format!("-femit-bin={}", core.display()))
        .arg("-I")
        .arg(&out)
        .arg("-cflags")
        .args(["-O2", "-std=c11"])
        .args(&sdk.defines)
        .arg("--")
        .args(&sdk.sources)
        .args(["--dep", "sluice"])
        .arg(format!("-Mroot={}", entry.display()))
        .arg(format!("-Msluice={}", sluice_zig.display()));
    run_tool(
        dir,
        "compiling with zig",
        &mut command,
        &zig,
        "Zig",
        INSTALL_HINT,
    )?;
    write_component(dir, &out, &core, &manifest)
}

//! C plugins: `*.c` files, `sluice-plugin.toml`, and `sluice.h`.
//!
//! 1. Bindings for the operator's world are generated in process with
//!    `wit-bindgen-c` from the contract built into the binary.
//! 2. The SDK's `sluice.h` and `sluice.c` (the loop over the batch and the
//!    column building) are written beside them.
//! 3. clang compiles everything for `wasm32-wasi` as a reactor module
//!    (Debian's clang 14 with `wasi-libc`; set `SLUICE_CLANG` for another).
//! 4. `wit-component` makes the module a component, adding the WASI
//!    preview1 adapter only if the module imports WASI (most do not).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    BuildError, Manifest, PluginKind, contract_world, output_dir, run_tool, write_contract,
};
use sluice::plugin::OperatorKind;

/// The SDK's header, for plugin sources.
pub const SLUICE_H: &str = include_str!("../../c/sluice.h");
/// The SDK's bulk side, compiled into every C plugin.
pub const SLUICE_C: &str = include_str!("../../c/sluice.c");
/// The SDK's HTTP client over `wasi:http`, compiled into sink plugins.
pub const SLUICE_HTTP_C: &str = include_str!("../../c/sluice_http.c");

/// How to install the C toolchain.
pub const INSTALL_HINT: &str = "install clang with the wasm32-wasi target and wasi-libc (Debian/Ubuntu: `apt-get install clang lld wasi-libc libclang-rt-dev-wasm32`), or point SLUICE_CLANG at such a clang";

/// Builds the C project in `dir`; returns the component's path.
///
/// # Errors
///
/// A missing manifest or compiler, or a failing compile.
pub fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = Manifest::read(dir)?;
    let out = output_dir(dir)?;
    let sdk = prepare_sdk(&out, manifest.op)?;
    let sources = sources_with_extension(dir, "c")?;
    let core = out.join(format!("{}.core.wasm", manifest.name.replace('-', "_")));
    let clang = std::env::var("SLUICE_CLANG").unwrap_or_else(|_| "clang".into());
    let mut command = Command::new(&clang);
    command
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-std=c11",
        ])
        .args(["-Wall", "-Wextra", "-Wl,--strip-debug"])
        .args(&sdk.defines)
        .arg("-I")
        .arg(&out)
        .arg("-o")
        .arg(&core)
        .args(&sources)
        .args(&sdk.sources);
    run_tool(
        dir,
        "compiling with clang",
        &mut command,
        Path::new(&clang),
        "C",
        INSTALL_HINT,
    )?;
    write_component(dir, &out, &core, &manifest)
}

/// The C SDK and the world's bindings, written into a build directory.
pub(crate) struct PreparedSdk {
    /// `-D` flags selecting the operator and its bindings header.
    pub defines: Vec<String>,
    /// The SDK's and the bindings' sources and object, to compile in.
    pub sources: Vec<PathBuf>,
}

/// Writes the bindings of `kind`'s world, `sluice.h` and `sluice.c` (and,
/// for a sink, `sluice_http.c`) into `out`.
pub(crate) fn prepare_sdk(out: &Path, kind: PluginKind) -> Result<PreparedSdk, BuildError> {
    let world = world_stem(kind);
    write_bindings(out, kind)?;
    let mut files = vec![("sluice.h", SLUICE_H), ("sluice.c", SLUICE_C)];
    if kind == PluginKind::Sink {
        files.push(("sluice_http.c", SLUICE_HTTP_C));
    }
    let mut sources = Vec::new();
    for (name, text) in files {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(BuildError::io(&path))?;
        if name.ends_with(".c") {
            sources.push(path);
        }
    }
    sources.push(out.join(format!("{world}.c")));
    sources.push(out.join(format!("{world}_component_type.o")));
    Ok(PreparedSdk {
        defines: vec![
            format!("-DSLUICE_OP_{}", op_macro(kind)),
            format!("-DSLUICE_WORLD_HEADER=\"{world}.h\""),
        ],
        sources,
    })
}

/// The files in `dir` (not below it) ending in `.extension`, sorted.
pub(crate) fn sources_with_extension(
    dir: &Path,
    extension: &str,
) -> Result<Vec<PathBuf>, BuildError> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(BuildError::io(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == extension))
        .collect();
    sources.sort();
    Ok(sources)
}

/// Makes the core module at `core` a component named after the manifest;
/// returns its path.
pub(crate) fn write_component(
    dir: &Path,
    out: &Path,
    core: &Path,
    manifest: &Manifest,
) -> Result<PathBuf, BuildError> {
    let module = std::fs::read(core).map_err(BuildError::io(core))?;
    let component = componentize(dir, &module)?;
    let path = out.join(manifest.component_file());
    std::fs::write(&path, component).map_err(BuildError::io(&path))?;
    Ok(path)
}

/// The file stem `wit-bindgen c` uses for a world, e.g. `flat_map_operator`.
fn world_stem(kind: PluginKind) -> &'static str {
    let op = match kind {
        PluginKind::Operator(op) => op,
        PluginKind::Sink => return "sink_operator",
    };
    match op {
        OperatorKind::Map => "map_operator",
        OperatorKind::FlatMap => "flat_map_operator",
        OperatorKind::FlatMapValues => "flat_map_values_operator",
        OperatorKind::Filter => "filter_operator",
        OperatorKind::ReduceByKey => "reduce_operator",
        OperatorKind::InverseReduce => "inverse_reduce_operator",
        OperatorKind::MapWithState => "map_with_state_operator",
        OperatorKind::UpdateState => "update_state_operator",
    }
}

fn op_macro(kind: PluginKind) -> &'static str {
    let op = match kind {
        PluginKind::Operator(op) => op,
        PluginKind::Sink => return "SINK",
    };
    match op {
        OperatorKind::Map => "MAP",
        OperatorKind::FlatMap => "FLAT_MAP",
        OperatorKind::FlatMapValues => "FLAT_MAP_VALUES",
        OperatorKind::Filter => "FILTER",
        OperatorKind::ReduceByKey => "REDUCE",
        OperatorKind::InverseReduce => "INVERSE_REDUCE",
        OperatorKind::MapWithState => "MAP_WITH_STATE",
        OperatorKind::UpdateState => "UPDATE_STATE",
    }
}

/// Writes the C bindings of `kind`'s world into `out`.
fn write_bindings(out: &Path, kind: PluginKind) -> Result<(), BuildError> {
    let internal = |message: String| BuildError::Step {
        dir: out.to_path_buf(),
        step: "generating the C bindings".into(),
        output: message,
    };
    let wit = write_contract(out)?;
    let (mut resolve, world) = contract_world(&wit, kind).map_err(internal)?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| internal(format!("{e:#}")))?;
    for (name, bytes) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(BuildError::io(&path))?;
    }
    Ok(())
}

/// Makes a core module with embedded component type into a component.
pub(crate) fn componentize(dir: &Path, module: &[u8]) -> Result<Vec<u8>, BuildError> {
    let failed = |e: anyhow::Error| BuildError::Step {
        dir: dir.to_path_buf(),
        step: "making the component".into(),
        output: format!("{e:#}"),
    };
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.module(module).map_err(failed)?;
    // Used only if the module imports WASI preview1; left out otherwise.
    encoder
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .map_err(failed)?;
    encoder.validate(true).encode().map_err(failed)
}

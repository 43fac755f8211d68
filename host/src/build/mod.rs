//! `sluice plugin build DIR`: a plugin project of any supported language,
//! built into a component.
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
//! Every build writes into `DIR/target/sluice/` and returns the component's
//! path.

pub mod c;
pub mod manifest;
pub mod rust;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use manifest::Manifest;

/// The contract, built into the binary so bindings always match the host.
pub const CONTRACT_WIT: &str = include_str!("../../../wit/operator.wit");

/// A supported plugin language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Rust with the `sluice-guest` SDK.
    Rust,
    /// C with `sluice.h`.
    C,
}

impl Language {
    /// The language's name, as `--lang` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::C => "c",
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
        message: "no plugin project here: expected Cargo.toml (Rust) or *.c files with sluice-plugin.toml (C); `sluice plugin new NAME --lang L --op KIND` makes one".into(),
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
    let component = match language {
        Language::Rust => rust::build(dir)?,
        Language::C => c::build(dir)?,
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

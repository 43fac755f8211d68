//! What `sluice plugin inspect` reports about a component file, ending with
//! the verdict: whether the sandbox accepts it, and why not.

use std::fmt::Write as _;
use std::path::Path;

use super::OperatorKind;
use super::engine::PluginEngine;
use super::error::{LoadError, LoadFailure};
use super::limits::Limits;
use super::sandbox::{check_imports, check_sink_imports};

/// A report on one plugin file.
pub struct Inspection {
    /// The human-readable report.
    pub report: String,
    /// Whether the plugin would be accepted by a pipeline.
    pub allowed: bool,
}

/// Inspects the plugin at `path`: name, hash, size, operator kind and
/// world, declared types, imports (each refused one marked), the limits its
/// calls run under by default, and the verdict.
///
/// # Errors
///
/// When the file cannot be read or is not a component at all; a component
/// that is refused for another reason gives a report with the reason.
pub fn inspect(engine: &PluginEngine, path: &Path) -> Result<Inspection, LoadError> {
    let limits = Limits::default();
    let compiled = match engine.compile_file(path, &limits) {
        Ok(compiled) => compiled,
        Err(e) => return refused_before_compiling(path, e),
    };
    let sink = compiled
        .component
        .get_export_index(None, super::sink_plugin::sink_interface())
        .is_some();
    // A sink is loaded as a sink (its own sandbox, `wasi:http` included).
    let (loaded, sink_type) = if sink {
        let loaded = super::sink_plugin::SinkPlugin::load_compiled(
            engine,
            path,
            &compiled,
            Vec::new(),
            limits,
            Default::default(),
        );
        let record_type = loaded.as_ref().ok().map(|s| s.record_type());
        (loaded.map(|_| None), record_type)
    } else {
        (
            engine
                .load_compiled(path, &compiled, None, Vec::new(), limits)
                .map(Some),
            None,
        )
    };
    let mut out = String::new();
    let name = path
        .file_stem()
        .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
    // Writing to a String cannot fail.
    let _ = writeln!(out, "plugin:    {name}");
    let _ = writeln!(out, "file:      {}", path.display());
    let _ = writeln!(out, "sha256:    {}", compiled.hash);
    let _ = writeln!(out, "size:      {} bytes", compiled.size);
    if sink {
        let _ = writeln!(out, "sink:      plugin (kind = \"plugin\" in [sinks])");
        let _ = writeln!(out, "world:     {}", super::sink_plugin::sink_world());
        if let Some(record_type) = sink_type {
            let _ = writeln!(out, "takes:     {record_type}");
        }
        let _ = writeln!(
            out,
            "reaches:   only the URLs a pipeline's `allow.http` grants it"
        );
    }
    if let Ok(Some(plugin)) = &loaded {
        let signature = plugin.signature();
        let reducer = plugin.kind() == OperatorKind::ReduceByKey;
        let _ = writeln!(out, "operator:  {}", plugin.kind());
        let _ = writeln!(out, "world:     {}", plugin.kind().world());
        let takes = if reducer {
            format!("(any key, {})", signature.input.value.name())
        } else {
            signature.input.to_string()
        };
        let gives = if reducer {
            format!("(same key, {})", signature.output.value.name())
        } else {
            signature.output.to_string()
        };
        let _ = writeln!(out, "takes:     {takes}");
        let _ = writeln!(out, "gives:     {gives}");
    }
    let imports = compiled.imports.iter().map(String::as_str);
    let refused = if sink {
        check_sink_imports(imports)
    } else {
        check_imports(imports)
    };
    let _ = writeln!(out, "imports:   {}", compiled.imports.len());
    for import in &compiled.imports {
        match refused.iter().find(|f| &f.import == import) {
            Some(f) => {
                let _ = writeln!(out, "  {import}   REFUSED: {}", f.reason);
            }
            None => {
                let _ = writeln!(out, "  {import}");
            }
        }
    }
    let _ = writeln!(
        out,
        "limits:    (defaults; a pipeline's [limits] and a stream's `limits` override them)"
    );
    for (limit, value) in limits.describe() {
        let _ = writeln!(out, "  {limit:<26}{value}");
    }
    let allowed = match &loaded {
        Ok(_) => {
            let _ = writeln!(out, "verdict:   allowed");
            true
        }
        Err(LoadError { reason, .. }) => {
            let _ = writeln!(
                out,
                "verdict:   refused ({}): {}",
                reason.kind(),
                verdict(reason)
            );
            false
        }
    };
    Ok(Inspection {
        report: out,
        allowed,
    })
}

fn verdict(reason: &LoadFailure) -> String {
    format!("the plugin {reason}")
}

/// The report of a file that is not even a component: its size and hash
/// (when readable) and the verdict; an unreadable file stays an error.
fn refused_before_compiling(path: &Path, e: LoadError) -> Result<Inspection, LoadError> {
    if matches!(e.reason, LoadFailure::Read(_)) {
        return Err(e);
    }
    let mut out = String::new();
    let _ = writeln!(out, "file:      {}", path.display());
    if let Some(hash) = &e.hash {
        let _ = writeln!(out, "sha256:    {hash}");
    }
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = writeln!(out, "size:      {} bytes", meta.len());
    }
    let _ = writeln!(
        out,
        "verdict:   refused ({}): {}",
        e.reason.kind(),
        verdict(&e.reason)
    );
    Ok(Inspection {
        report: out,
        allowed: false,
    })
}

//! What `sluice plugin inspect` reports about a component file.

use std::fmt::Write as _;
use std::path::Path;

use super::engine::PluginEngine;
use super::limits::Limits;
use crate::error::LoadError;

/// A human-readable report on the plugin at `path`: name, hash, size,
/// operator kind and world, declared types, imports, and the limits its
/// calls run under by default.
///
/// # Errors
///
/// When the plugin cannot be loaded; the error says why.
pub fn inspect(engine: &PluginEngine, path: &Path) -> Result<String, LoadError> {
    let limits = Limits::default();
    let plugin = engine.load(path, None, Vec::new(), limits)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let imports = plugin.imports();
    let signature = plugin.signature();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "plugin:    {}", plugin.name());
    let _ = writeln!(out, "file:      {}", path.display());
    let _ = writeln!(out, "sha256:    {}", plugin.hash());
    let _ = writeln!(out, "size:      {size} bytes");
    let _ = writeln!(out, "operator:  {}", plugin.kind());
    let _ = writeln!(out, "world:     {}", plugin.kind().world());
    let takes = if plugin.kind() == super::OperatorKind::ReduceByKey {
        format!("(any key, {})", signature.input.value.name())
    } else {
        signature.input.to_string()
    };
    let _ = writeln!(out, "takes:     {takes}");
    let gives = if plugin.kind() == super::OperatorKind::ReduceByKey {
        format!("(same key, {})", signature.output.value.name())
    } else {
        signature.output.to_string()
    };
    let _ = writeln!(out, "gives:     {gives}");
    let _ = writeln!(out, "imports:   {}", imports.len());
    for import in imports {
        let _ = writeln!(out, "  {import}");
    }
    let _ = writeln!(
        out,
        "limits:    call_time {:?}, memory {} MiB, tables {} elements, stack {} KiB (defaults)",
        limits.call_time, limits.memory_mib, limits.table_elements, limits.stack_kib
    );
    Ok(out)
}

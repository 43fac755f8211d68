//! `sluice-plugin.toml`: what a plugin project is, for languages whose own
//! project files do not say it.
//!
//! ```toml
//! name = "split-words"   # the component's name
//! op = "flat_map"        # map | flat_map | filter | reduce_by_key | inverse_reduce
//!                        # | update_state_by_key | map_with_state | sink
//! ```

use std::path::Path;

use serde::Deserialize;

use super::BuildError;
use sluice::plugin::OperatorKind;

/// The manifest's file name.
pub const FILE_NAME: &str = "sluice-plugin.toml";

/// A plugin project's manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name: the component is `NAME.wasm` (dashes become
    /// underscores, as Cargo does).
    pub name: String,
    /// The operator it implements, or `sink`.
    pub op: PluginKind,
}

/// What a plugin project builds: an operator of one kind, or a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum PluginKind {
    /// An operator (`op = "map"`, …).
    Operator(OperatorKind),
    /// A sink plugin (`op = "sink"`), for `kind = "plugin"` sinks.
    Sink,
}

impl PluginKind {
    /// The contract world the plugin targets, e.g. `map-operator`.
    pub fn world_name(self) -> &'static str {
        match self {
            PluginKind::Operator(op) => op.world_name(),
            PluginKind::Sink => SINK_WORLD,
        }
    }

    /// The name `op` takes, e.g. `flat_map` or `sink`.
    pub fn op_name(self) -> &'static str {
        match self {
            PluginKind::Operator(op) => op.op_name(),
            PluginKind::Sink => "sink",
        }
    }
}

/// The contract's world for sink plugins.
pub const SINK_WORLD: &str = "sink-operator";

impl TryFrom<String> for PluginKind {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if name == "sink" {
            return Ok(PluginKind::Sink);
        }
        OperatorKind::ALL
            .into_iter()
            .find(|op| op.op_name() == name)
            .map(PluginKind::Operator)
            .ok_or_else(|| {
                let known: Vec<&str> = OperatorKind::ALL.iter().map(|op| op.op_name()).collect();
                format!("unknown op `{name}`: expected {} or sink", known.join(", "))
            })
    }
}

impl Manifest {
    /// Reads `dir/sluice-plugin.toml`.
    ///
    /// # Errors
    ///
    /// When it is missing or invalid.
    pub fn read(dir: &Path) -> Result<Self, BuildError> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| BuildError::Project {
            dir: dir.to_path_buf(),
            message: format!(
                "cannot read {FILE_NAME} ({e}); it names the plugin and its operator: name = \"my-op\", op = \"map\""
            ),
        })?;
        toml::from_str(&text).map_err(|e| BuildError::Project {
            dir: dir.to_path_buf(),
            message: format!("{FILE_NAME}: {}", e.message().trim_end()),
        })
    }

    /// The component's file name.
    pub fn component_file(&self) -> String {
        format!("{}.wasm", self.name.replace('-', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_an_operator_kind_or_sink() {
        let kind = |name: &str| PluginKind::try_from(name.to_owned());
        assert_eq!(kind("sink"), Ok(PluginKind::Sink));
        assert_eq!(
            kind("update_state_by_key"),
            Ok(PluginKind::Operator(OperatorKind::UpdateState))
        );
        assert_eq!(kind("sink").map(PluginKind::world_name), Ok(SINK_WORLD));
        assert_eq!(
            kind("fold"),
            Err("unknown op `fold`: expected map, flat_map, flat_map_values, filter, reduce_by_key, inverse_reduce, update_state_by_key, map_with_state or sink".to_owned())
        );
    }

    #[test]
    fn a_manifest_with_an_unknown_op_says_which_ops_exist() {
        let dir = std::env::temp_dir().join(format!("sluice-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), "name = \"x\"\nop = \"sinks\"\n").unwrap();
        let error = Manifest::read(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            error.contains("unknown op `sinks`: expected map, "),
            "{error}"
        );
    }
}

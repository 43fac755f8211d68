//! `sluice-plugin.toml`: what a plugin project is, for languages whose own
//! project files do not say it.
//!
//! ```toml
//! name = "split-words"   # the component's name
//! op = "flat_map"        # map | flat_map | filter | reduce_by_key | update_state_by_key
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
    /// The operator it implements.
    pub op: OperatorKind,
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

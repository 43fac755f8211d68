//! Initialisation parameters, as given in the stream's `params` table.

use std::cell::Cell;
use std::str::FromStr;

use crate::bindings::types::Param;

/// The parameters of a stream, handed to the plugin's `init` function.
///
/// Every parameter must be read by `init`: after it returns, any parameter it
/// never asked for is refused as unknown, so a misspelt name in the pipeline
/// file is an error instead of a silently ignored setting.
pub struct Params {
    entries: Vec<(Param, Cell<bool>)>,
}

impl Params {
    /// Wraps the parameters received from the host.
    pub fn new(params: Vec<Param>) -> Self {
        Self {
            entries: params.into_iter().map(|p| (p, Cell::new(false))).collect(),
        }
    }

    /// The raw value of parameter `name`, if it was given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(p, read)| {
                read.set(true);
                p.value.as_str()
            })
    }

    /// Parameter `name` parsed as `T`, or `default` when it was not given.
    ///
    /// # Errors
    ///
    /// A message naming the parameter when its value does not parse as `T`.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| format!("parameter `{name}` = {raw:?} is invalid: {e}")),
        }
    }

    /// The names of the parameters that were given but never read.
    pub fn unread(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(_, read)| !read.get())
            .map(|(p, _)| p.name.as_str())
            .collect()
    }
}

//! Per-call limits, and the resource limiter that enforces them in a store.
//!
//! Wall time is enforced by epoch interruption (a ticker thread advances the
//! engine's epoch every [`EPOCH_TICK`]); memory and tables by a
//! [`wasmtime::ResourceLimiter`] that also records which limit was hit, so a
//! failure can be classified precisely instead of as a bare trap.

use std::time::Duration;

use serde::Deserialize;

/// How often the engine's epoch advances: the granularity of time limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every call into a plugin. Each field has a default and
/// can be set for the whole pipeline (`[limits]`) or per stream
/// (`[streams.NAME.limits]`); `stack_kib` is engine-wide, so it is read from
/// the pipeline's `[limits]` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall time of one call (instantiation, `init` and the batch), e.g.
    /// `"30s"`. Default 30 s.
    #[serde(with = "humantime_serde_compat")]
    pub call_time: Duration,
    /// Linear memory of one instance, in MiB. Default 512.
    pub memory_mib: u32,
    /// Elements of each table of one instance. Default 100 000.
    pub table_elements: u32,
    /// Core instances (and tables, and memories) one component may create.
    /// Default 64 (a componentize-py component instantiates 37 core instances).
    pub instances: u32,
    /// WebAssembly stack, in KiB. Default 512.
    pub stack_kib: u32,
    /// Bytes one call may hand back to the host (the output batch, as it is
    /// copied out of the guest), in MiB. Default 256.
    pub output_mib: u32,
    /// Output records per input record, over a partition batch. Default
    /// 100 000.
    pub output_records_per_input: u32,
    /// Size of the component file, in MiB. Default 64.
    pub binary_mib: u32,
    /// WebAssembly instructions (fuel units) one call may run; off by
    /// default. Deterministic where `call_time` is not, but metering costs
    /// throughput on every stream of the pipeline.
    pub fuel: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_time: Duration::from_secs(30),
            memory_mib: 512,
            table_elements: 100_000,
            instances: 64,
            stack_kib: 512,
            output_mib: 256,
            output_records_per_input: 100_000,
            binary_mib: 64,
            fuel: None,
        }
    }
}

impl Limits {
    /// Linear memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_mib as usize * 1024 * 1024
    }

    /// Output bytes per call.
    pub fn output_bytes(&self) -> usize {
        self.output_mib as usize * 1024 * 1024
    }

    /// Component file size in bytes.
    pub fn binary_bytes(&self) -> u64 {
        u64::from(self.binary_mib) * 1024 * 1024
    }

    /// The epoch deadline of one call, in ticks.
    pub fn deadline_ticks(&self) -> u64 {
        let ticks = self.call_time.as_millis() / EPOCH_TICK.as_millis();
        (ticks as u64).max(1)
    }

    /// One line per limit, for `sluice plugin inspect` and the docs.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "call_time",
                humantime::format_duration(self.call_time).to_string(),
            ),
            ("memory_mib", self.memory_mib.to_string()),
            ("table_elements", self.table_elements.to_string()),
            ("instances", self.instances.to_string()),
            ("stack_kib", self.stack_kib.to_string()),
            ("output_mib", self.output_mib.to_string()),
            (
                "output_records_per_input",
                self.output_records_per_input.to_string(),
            ),
            ("binary_mib", self.binary_mib.to_string()),
            (
                "fuel",
                self.fuel
                    .map_or_else(|| "off".to_owned(), |f| f.to_string()),
            ),
        ]
    }
}

/// Serde helper: durations written as `"30s"`, `"250ms"`, `"1m"`.
pub(crate) mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Parses a human-readable duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: {e} (write e.g. \"1s\", \"500ms\", \"2m\")"
            ))
        })
    }
}

/// Enforces memory and table limits for one store, and remembers which
/// limit refused a growth.
pub struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    /// Set when a memory growth was refused.
    pub memory_exceeded: bool,
    /// Set when a table growth was refused.
    pub table_exceeded: bool,
}

impl Limiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        Limiter {
            memory_bytes: limits.memory_bytes(),
            table_elements: limits.table_elements as usize,
            instances: limits.instances as usize,
            memory_exceeded: false,
            table_exceeded: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        self.memory_exceeded |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.table_elements;
        self.table_exceeded |= !allowed;
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

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
    #[serde(with = "crate::bounds::call_time")]
    pub call_time: Duration,
    /// Linear memory of one instance, in MiB. Default 512.
    #[serde(with = "crate::bounds::memory_mib")]
    pub memory_mib: u32,
    /// Elements of each table of one instance. Default 100 000.
    #[serde(with = "crate::bounds::table_elements")]
    pub table_elements: u32,
    /// Core instances (and tables, and memories) one component may create.
    /// Default 64 (a componentize-py component instantiates 37 core instances).
    #[serde(with = "crate::bounds::instances")]
    pub instances: u32,
    /// WebAssembly stack, in KiB. Default 512.
    #[serde(with = "crate::bounds::stack_kib")]
    pub stack_kib: u32,
    /// Bytes one call may hand back to the host (the output batch, as it is
    /// copied out of the guest), in MiB. Default 256.
    #[serde(with = "crate::bounds::output_mib")]
    pub output_mib: u32,
    /// Output records per input record, over a partition batch. Default
    /// 100 000.
    #[serde(with = "crate::bounds::output_records_per_input")]
    pub output_records_per_input: u32,
    /// Size of the component file, in MiB. Default 64.
    #[serde(with = "crate::bounds::binary_mib")]
    pub binary_mib: u32,
    /// Wall time of compiling the component (in a child process; a cached
    /// compile costs nothing), e.g. `"60s"`. Default 60 s.
    #[serde(with = "crate::bounds::compile_time")]
    pub compile_time: Duration,
    /// Address space of the process compiling the component, in MiB.
    /// Default 2048.
    #[serde(with = "crate::bounds::compile_memory_mib")]
    pub compile_memory_mib: u32,
    /// WebAssembly instructions (fuel units) one call may run; off by
    /// default. Deterministic where `call_time` is not, but metering costs
    /// throughput on every stream of the pipeline.
    #[serde(deserialize_with = "crate::bounds::fuel::optional")]
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
            compile_time: Duration::from_secs(60),
            compile_memory_mib: 2048,
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
                "compile_time",
                humantime::format_duration(self.compile_time).to_string(),
            ),
            ("compile_memory_mib", self.compile_memory_mib.to_string()),
            (
                "fuel",
                self.fuel
                    .map_or_else(|| "off".to_owned(), |f| f.to_string()),
            ),
        ]
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
    /// Bytes of linear memory the instance holds, over all its memories.
    memory_held: usize,
    /// The most it held at once.
    memory_peak: usize,
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
            memory_held: 0,
            memory_peak: 0,
        }
    }

    /// The most linear memory the instance held at once, in bytes, over
    /// all its memories.
    pub fn memory_peak(&self) -> usize {
        self.memory_peak
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        self.memory_exceeded |= !allowed;
        if allowed {
            self.memory_held = self
                .memory_held
                .saturating_add(desired.saturating_sub(current));
            self.memory_peak = self.memory_peak.max(self.memory_held);
        }
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

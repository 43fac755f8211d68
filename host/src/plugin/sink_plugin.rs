//! Sink plugins: components exporting `sluice:operator/sink` (see
//! `wit/sink.wit`), loaded once and called once per partition batch.
//!
//! A sink is the only plugin that reaches outside the host, so it runs
//! differently from an operator:
//!
//! - it is linked with `wasi:http` ([`super::sandbox::add_to_sink_linker`])
//!   and each call's store carries an [`HttpGrant`]: the sink's allowlist,
//!   its request and byte budget, and the call's deadline;
//! - it is called asynchronously (`call_async` on a fiber), so a request in
//!   flight waits on the async runtime, and the whole call, network waits
//!   included, is bounded by `call_time` (the epoch stops a busy guest, a
//!   timer stops a waiting one);
//! - a refused request fails the call even when the plugin ignores the
//!   error it got, so records never vanish silently.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::{ComponentExportIndex, ComponentType, InstancePre, Lower};

use super::engine::{GuestState, PluginEngine};
use super::error::{CallError, CallFailure, CallSite, LoadError, LoadFailure};
use super::http_grant::{Delivery, HttpAllowance, HttpGrant, HttpUsage};
use super::instance::{Failure, classify, stderr_of};
use super::limits::Limits;
use super::wire::WireRecordType;
use super::{CONTRACT_VERSION, GuestError, Param};
use crate::batch::{Batch, RecordType};

/// The interface a sink plugin exports.
pub fn sink_interface() -> String {
    format!("sluice:operator/sink@{CONTRACT_VERSION}")
}

/// The world a sink plugin targets.
pub fn sink_world() -> String {
    format!("sluice:operator/sink-operator@{CONTRACT_VERSION}")
}

/// The contract's `sink-batch`: which batch and partition a call holds.
#[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct SinkBatch {
    /// The pipeline's name.
    pub pipeline: String,
    /// The sink's name.
    pub sink: String,
    /// The batch time, in milliseconds since the Unix epoch.
    #[component(name = "batch-time-ms")]
    pub batch_time_ms: i64,
    /// The partition.
    pub partition: u32,
    /// The batch's partitions.
    pub partitions: u32,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// What one successful call sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkCallReport {
    /// HTTP requests made.
    pub requests: u32,
    /// Request body bytes sent.
    pub body_bytes: u64,
}

/// One loaded version of a sink plugin.
#[derive(Clone)]
pub struct SinkPlugin {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    hash: String,
    record_type: RecordType,
    params: Vec<Param>,
    limits: Limits,
    allowance: Arc<HttpAllowance>,
    pre: InstancePre<GuestState>,
    init: ComponentExportIndex,
    write: ComponentExportIndex,
}

impl std::fmt::Debug for SinkPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkPlugin")
            .field("name", &self.inner.name)
            .field("hash", &self.inner.hash)
            .field("record_type", &self.inner.record_type)
            .finish_non_exhaustive()
    }
}

impl SinkPlugin {
    /// Loads the sink plugin at `path`: compiles it (or takes it from the
    /// cache), checks its imports against the sink sandbox and that it
    /// exports the sink interface, links it, and runs `describe` and
    /// `init(params)` once so that a sink that cannot start never reaches a
    /// batch.
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming the file, its hash and the reason.
    pub fn load(
        engine: &PluginEngine,
        path: &Path,
        params: Vec<Param>,
        limits: Limits,
        allowance: HttpAllowance,
    ) -> Result<Self, LoadError> {
        let compiled = engine.compile_file(path, &limits)?;
        Self::load_compiled(engine, path, &compiled, params, limits, allowance)
    }

    /// [`SinkPlugin::load`] for a component already compiled with
    /// [`PluginEngine::compile_file`].
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming the file, its hash and the reason.
    pub fn load_compiled(
        engine: &PluginEngine,
        path: &Path,
        compiled: &super::engine::Compiled,
        params: Vec<Param>,
        limits: Limits,
        allowance: HttpAllowance,
    ) -> Result<Self, LoadError> {
        let fail = |reason| compiled.error(path, reason);
        let forbidden =
            super::sandbox::check_sink_imports(compiled.imports.iter().map(String::as_str));
        if !forbidden.is_empty() {
            return Err(fail(LoadFailure::ForbiddenImports(forbidden)));
        }
        let component = &compiled.component;
        let Some(interface) = component.get_export_index(None, sink_interface()) else {
            return Err(fail(LoadFailure::NotASink));
        };
        let function = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .ok_or_else(|| {
                    fail(LoadFailure::Link(format!(
                        "interface {} lacks the function `{name}`",
                        sink_interface()
                    )))
                })
        };
        let describe = function("describe")?;
        let init = function("init")?;
        let write = function("write")?;
        let pre = engine
            .sink_linker()
            .instantiate_pre(component)
            .map_err(|e| fail(LoadFailure::Link(format!("{e:#}"))))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let mut store = engine.new_store(&limits, crate::time::BatchTime::now().as_duration());
        let startup = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let describe =
                instance.get_typed_func::<(), (WireRecordType,)>(&mut store, &describe)?;
            let record_type = RecordType::from(describe.call_async(&mut store, ()).await?.0);
            let init = instance
                .get_typed_func::<(&[Param],), (Result<(), GuestError>,)>(&mut store, &init)?;
            let (initialised,) = init.call_async(&mut store, (&params,)).await?;
            wasmtime::Result::Ok(initialised.map(|()| record_type))
        };
        // The timer is made inside the runtime: `sluice check` has none of
        // its own.
        let started = wasmtime_wasi::runtime::in_tokio(async {
            tokio::time::timeout(limits.call_time, startup).await
        });
        let record_type = match started {
            Err(_) => {
                return Err(fail(LoadFailure::StartupFailed {
                    failure: CallFailure::Timeout(limits.call_time),
                    stderr: stderr_of(&store),
                }));
            }
            Ok(Ok(Ok(record_type))) => record_type,
            Ok(Ok(Err(e))) => {
                return Err(fail(LoadFailure::Startup(format!(
                    "`init` refused the parameters: {}",
                    e.message
                ))));
            }
            Ok(Err(e)) => {
                let Failure { failure, stderr } = classify(e, &store, &limits);
                return Err(fail(LoadFailure::StartupFailed { failure, stderr }));
            }
        };
        Ok(SinkPlugin {
            inner: Arc::new(Inner {
                name,
                hash: compiled.hash.clone(),
                record_type,
                params,
                limits,
                allowance: Arc::new(allowance),
                pre,
                init,
                write,
            }),
        })
    }

    /// The plugin's name (its file name without extension).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The sha256 of the component, in hex.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// The records the sink declares it takes.
    pub fn record_type(&self) -> RecordType {
        self.inner.record_type
    }

    /// What the sink may reach.
    pub fn allowance(&self) -> &HttpAllowance {
        &self.inner.allowance
    }

    /// [`SinkPlugin::write`] from synchronous code: on the current Tokio
    /// runtime's handle if there is one (not from inside an async task),
    /// else on a process-wide one.
    ///
    /// # Errors
    ///
    /// As [`SinkPlugin::write`].
    pub fn write_blocking(
        &self,
        engine: &PluginEngine,
        info: SinkBatch,
        records: &Batch,
        site: &CallSite,
        delivery: Delivery,
    ) -> Result<SinkCallReport, Box<CallError>> {
        wasmtime_wasi::runtime::in_tokio(self.write(engine, info, records, site, delivery))
    }

    /// Writes one partition batch in a fresh instance whose clocks read the
    /// batch time of `site`; granted requests go to `delivery`.
    ///
    /// # Errors
    ///
    /// A [`CallError`] at `site`: a refused request, a limit hit, a trap,
    /// or an error the sink returned.
    pub async fn write(
        &self,
        engine: &PluginEngine,
        info: SinkBatch,
        records: &Batch,
        site: &CallSite,
        delivery: Delivery,
    ) -> Result<SinkCallReport, Box<CallError>> {
        let inner = &*self.inner;
        let usage = Arc::new(Mutex::new(HttpUsage::default()));
        let deadline = Instant::now() + inner.limits.call_time;
        let mut store = engine.new_store(&inner.limits, site.batch_time.as_duration());
        store.data_mut().http =
            HttpGrant::new(inner.allowance.clone(), usage.clone(), deadline).delivering(delivery);
        let call = async {
            let instance = inner.pre.instantiate_async(&mut store).await?;
            let init = instance.get_typed_func::<(&[Param],), (Result<(), GuestError>,)>(
                &mut store,
                &inner.init,
            )?;
            if let (Err(e),) = init.call_async(&mut store, (&inner.params,)).await? {
                return wasmtime::Result::Ok(Err(e));
            }
            let write = instance.get_typed_func::<(SinkBatch, &Batch), (Result<(), GuestError>,)>(
                &mut store,
                &inner.write,
            )?;
            Ok(write.call_async(&mut store, (info, records)).await?.0)
        };
        let outcome = tokio::time::timeout(inner.limits.call_time, call).await;
        let usage = std::mem::take(&mut *usage.lock().unwrap_or_else(|p| p.into_inner()));
        let failure = match outcome {
            Err(_) => Some(Failure {
                failure: CallFailure::Timeout(inner.limits.call_time),
                stderr: stderr_of(&store),
            }),
            // A request cut short by the call's deadline: the call ran out
            // of time, whatever the plugin made of its error.
            Ok(Ok(Err(_)) | Err(_)) if Instant::now() >= deadline => Some(Failure {
                failure: CallFailure::Timeout(inner.limits.call_time),
                stderr: stderr_of(&store),
            }),
            Ok(Err(e)) => Some(classify(e, &store, &inner.limits)),
            Ok(Ok(Err(e))) => Some(Failure {
                failure: CallFailure::Operator {
                    message: e.message,
                    record: e.record_index,
                },
                stderr: stderr_of(&store),
            }),
            Ok(Ok(Ok(()))) => None,
        };
        engine.record_call(
            site,
            &store,
            &inner.limits,
            failure.is_some() || usage.refusal.is_some(),
        );
        // A refusal is the reason, whatever the sink made of it.
        let failure = match (usage.refusal, failure) {
            (Some(refusal), failure) => Some(Failure {
                failure: CallFailure::Http(refusal),
                stderr: failure.map_or_else(|| stderr_of(&store), |f| f.stderr),
            }),
            (None, failure) => failure,
        };
        match failure {
            Some(Failure { failure, stderr }) => Err(Box::new(CallError {
                site: site.clone(),
                failure,
                stderr,
            })),
            None => Ok(SinkCallReport {
                requests: usage.requests,
                body_bytes: usage.body_bytes,
            }),
        }
    }
}

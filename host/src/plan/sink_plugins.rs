//! `kind = "plugin"` sinks: the allowlist, the per-call budget, the error
//! policy, and the plugin itself, loaded and checked against the records it
//! will get.

use std::time::Duration;

use super::SinkSpecKind;
use crate::batch::RecordType;
use crate::config::{LoadedFile, SinkConfig, SinkOnError};
use crate::error::Error;
use crate::plugin::http_grant::{AllowedUrl, HttpAllowance};
use crate::plugin::sink_plugin::SinkPlugin;
use crate::plugin::{Param, PluginEngine};
use crate::sink::plugin::SinkErrorPolicy;

/// Default `total_time` of a retried sink partition.
pub const DEFAULT_TOTAL_TIME: Duration = Duration::from_secs(300);

/// The sink `name`'s plugin, loaded, and its policy.
pub(super) fn plugin_sink(
    file: &LoadedFile,
    engine: &PluginEngine,
    name: &str,
    cfg: &SinkConfig,
    record_type: RecordType,
) -> Result<SinkSpecKind, Error> {
    let Some(path) = &cfg.plugin else {
        return Err(file
            .error_at(
                cfg.kind.span(),
                format!("sink `{name}`: a `plugin` sink needs `plugin`, the component's path (e.g. \"post_alerts.wasm\")"),
            )
            .into());
    };
    let allowance = allowance(file, name, cfg)?;
    let on_error = error_policy(file, name, cfg)?;
    let limits = cfg
        .limits
        .as_ref()
        .map_or(file.file.limits, |l| l.get_ref().apply(file.file.limits));
    let params = cfg
        .params
        .as_ref()
        .map(|p| Param::from_toml(p.get_ref()))
        .unwrap_or_default();
    let plugin_path = super::checks::existing_plugin_file(file, &format!("sink `{name}`"), path)?;
    let plugin = SinkPlugin::load(engine, &plugin_path, params, limits, allowance)?;
    if !plugin.record_type().takes(record_type) {
        return Err(file
            .error_at(
                cfg.from.span(),
                format!(
                    "sink `{name}`: plugin {} takes {} records, but `{}` gives {record_type}",
                    plugin.name(),
                    plugin.record_type(),
                    cfg.from.get_ref()
                ),
            )
            .into());
    }
    Ok(SinkSpecKind::Plugin { plugin, on_error })
}

/// The sink's `allow`, checked.
fn allowance(file: &LoadedFile, name: &str, cfg: &SinkConfig) -> Result<HttpAllowance, Error> {
    let mut allowance = HttpAllowance::default();
    let Some(allow) = &cfg.allow else {
        return Ok(allowance);
    };
    let allow = allow.get_ref();
    for url in &allow.http {
        let parsed = AllowedUrl::parse(url.get_ref())
            .map_err(|message| file.error_at(url.span(), format!("sink `{name}`: {message}")))?;
        allowance.urls.push(parsed);
    }
    if let Some(max) = &allow.max_requests {
        allowance.max_requests = crate::bounds::max_requests::check(*max.get_ref())
            .map_err(|message| file.error_at(max.span(), format!("sink `{name}`: {message}")))?;
    }
    if let Some(max) = &allow.max_request_bytes {
        allowance.max_request_bytes = crate::bounds::max_request_bytes::check(*max.get_ref())
            .map_err(|message| file.error_at(max.span(), format!("sink `{name}`: {message}")))?;
    }
    Ok(allowance)
}

/// The sink's `on_error` (default `retry`); retry keys need `retry`.
fn error_policy(file: &LoadedFile, name: &str, cfg: &SinkConfig) -> Result<SinkErrorPolicy, Error> {
    let policy = cfg
        .on_error
        .as_ref()
        .map_or(SinkOnError::Retry, |p| *p.get_ref());
    if policy != SinkOnError::Retry {
        if let Some(retries) = &cfg.retries {
            return Err(file
                .error_at(
                    retries.span(),
                    format!("sink `{name}`: `retries` applies only with on_error = \"retry\""),
                )
                .into());
        }
        if cfg.retry_backoff.is_some() || cfg.total_time.is_some() {
            return Err(file
                .error(format!("sink `{name}`: `retry_backoff` and `total_time` apply only with on_error = \"retry\""))
                .into());
        }
    }
    Ok(match policy {
        SinkOnError::Fail => SinkErrorPolicy::Fail,
        SinkOnError::Skip => SinkErrorPolicy::Skip,
        SinkOnError::Retry => {
            SinkErrorPolicy::Retry {
                retries: match &cfg.retries {
                    Some(r) => crate::bounds::retries::check(i64::from(*r.get_ref())).map_err(
                        |message| file.error_at(r.span(), format!("sink `{name}`: {message}")),
                    )?,
                    None => 3,
                },
                backoff: cfg.retry_backoff.unwrap_or(Duration::from_millis(100)),
                total_time: cfg.total_time.unwrap_or(DEFAULT_TOTAL_TIME),
            }
        }
    })
}

//! The window keys of a stream (`window_duration`, `slide_duration`,
//! `max_state_mib`), checked against its operator and its input's slide;
//! `max_state_mib` also bounds an `update_state_by_key` or `map_with_state`
//! stream's state.
//!
//! As in Spark, a window and its slide are multiples of the input's slide
//! (a source's is `batch_interval`): a window then always covers whole
//! batches of its input, and emits at times its input emitted at.

use std::time::Duration;

use super::WindowSpec;
use crate::config::{LoadedFile, StreamConfig};
use crate::error::ConfigError;

/// The default of `max_state_mib`.
pub const DEFAULT_MAX_STATE_MIB: usize = 2048;

/// The stream's window, or `None` for an operator without one; window keys
/// on such an operator are refused.
pub(super) fn window_spec(
    file: &LoadedFile,
    name: &str,
    cfg: &StreamConfig,
    upstream_slide: Duration,
) -> Result<Option<WindowSpec>, ConfigError> {
    let op = *cfg.op.get_ref();
    if !op.is_windowed() {
        let keeps_state = op.shape() == crate::config::Shape::Stateful;
        let misplaced = [
            (
                "window_duration",
                cfg.window_duration.as_ref().map(|d| d.span()),
            ),
            (
                "slide_duration",
                cfg.slide_duration.as_ref().map(|d| d.span()),
            ),
            (
                "max_state_mib",
                cfg.max_state_mib
                    .as_ref()
                    .filter(|_| !keeps_state)
                    .map(|d| d.span()),
            ),
        ];
        if let Some((key, Some(span))) = misplaced.into_iter().find(|(_, span)| span.is_some()) {
            return Err(file.error_at(
                span,
                format!("stream `{name}`: `{key}` applies only to windowed operators (reduce_by_key_and_window){}", if key == "max_state_mib" { " and to update_state_by_key and map_with_state" } else { "" }),
            ));
        }
        return Ok(None);
    }
    let Some(length) = &cfg.window_duration else {
        return Err(file.error_at(
            cfg.op.span(),
            format!("stream `{name}`: a windowed stream needs `window_duration`, e.g. \"30s\""),
        ));
    };
    let multiple = |key: &str, value: &toml::Spanned<crate::config::WindowDuration>| {
        let d = value.get_ref().0;
        if d.as_millis()
            .is_multiple_of(upstream_slide.as_millis().max(1))
        {
            Ok(d)
        } else {
            Err(file.error_at(
                value.span(),
                format!(
                    "stream `{name}`: `{key}` = {:?} is not a multiple of its input's slide ({}); windows cover whole batches",
                    humantime::format_duration(d).to_string(),
                    humantime::format_duration(upstream_slide),
                ),
            ))
        }
    };
    let length_value = multiple("window_duration", length)?;
    let slide = match &cfg.slide_duration {
        Some(slide) => multiple("slide_duration", slide)?,
        None => upstream_slide,
    };
    Ok(Some(WindowSpec {
        length: length_value,
        slide,
        max_state_bytes: max_state_bytes(file, name, cfg)?,
    }))
}

/// The stream's `max_state_mib` (or its default), in bytes.
pub(super) fn max_state_bytes(
    file: &LoadedFile,
    name: &str,
    cfg: &StreamConfig,
) -> Result<usize, ConfigError> {
    let max_state_mib = match &cfg.max_state_mib {
        Some(max) => crate::bounds::max_state_mib::check(*max.get_ref())
            .map_err(|message| file.error_at(max.span(), format!("stream `{name}`: {message}")))?,
        None => DEFAULT_MAX_STATE_MIB,
    };
    Ok(max_state_mib << 20)
}

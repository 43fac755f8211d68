//! A sink plugin: Spark's `foreachRDD` writing to an external system. Each
//! partition batch's `(word, count)` records with a count of at least
//! `threshold` are POSTed to `url` as one JSON document:
//!
//! ```json
//! {"pipeline":"alerts","sink":"alerts","batch_time_ms":1764547200000,
//!  "partition":0,"attempt":1,"alerts":[{"word":"error","count":12}]}
//! ```
//!
//! The batch time and partition let the receiver drop a partition it has
//! already seen (delivery is at least once). A partition with no count
//! over the threshold sends nothing. A receiver answering anything but 2xx
//! fails the call, so the sink's `on_error` (retry by default) writes the
//! partition again.
//!
//! Parameters: `url` (required; the pipeline's `allow.http` must grant it)
//! and `threshold` (default 1).

use std::fmt::Write as _;
use std::sync::OnceLock;

use sluice_guest::http::{self, push_json_string};
use sluice_guest::{Params, SinkBatch, sink};

struct Settings {
    url: String,
    threshold: i64,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn init(params: &Params) -> Result<(), String> {
    let url = params
        .get("url")
        .ok_or("`url` is required: where to POST the alerts")?
        .to_owned();
    let threshold = match params.get("threshold") {
        Some(t) => t
            .parse()
            .map_err(|_| format!("`threshold` must be an integer, not `{t}`"))?,
        None => 1,
    };
    let _ = SETTINGS.set(Settings { url, threshold });
    Ok(())
}

/// POSTs the partition's counts at or over the threshold.
#[sink(init = init)]
fn post_alerts(info: &SinkBatch, records: Vec<(&str, i64)>) -> Result<(), String> {
    let settings = SETTINGS.get().ok_or("init was not called")?;
    let mut alerts = records
        .iter()
        .filter(|(_, count)| *count >= settings.threshold)
        .peekable();
    if alerts.peek().is_none() {
        return Ok(());
    }
    let mut body = String::with_capacity(64 + records.len() * 32);
    body.push_str("{\"pipeline\":");
    push_json_string(&mut body, &info.pipeline);
    body.push_str(",\"sink\":");
    push_json_string(&mut body, &info.sink);
    let _ = write!(
        body,
        ",\"batch_time_ms\":{},\"partition\":{},\"attempt\":{},\"alerts\":[",
        info.batch_time_ms, info.partition, info.attempt
    );
    for (i, (word, count)) in alerts.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"word\":");
        push_json_string(&mut body, word);
        let _ = write!(body, ",\"count\":{count}}}");
    }
    body.push_str("]}");
    let response = http::post(&settings.url, "application/json", body.as_bytes())?;
    if !(200..300).contains(&response.status) {
        return Err(format!(
            "{} answered {}: {}",
            settings.url,
            response.status,
            String::from_utf8_lossy(&response.body).trim()
        ));
    }
    Ok(())
}

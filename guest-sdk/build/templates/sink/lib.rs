use std::sync::OnceLock;

use sluice_guest::http::{self, push_json_string};
use sluice_guest::{Params, SinkBatch, sink};

static URL: OnceLock<String> = OnceLock::new();

fn init(params: &Params) -> Result<(), String> {
    let url = params.get("url").ok_or("`url` is required: where to POST the records")?;
    let _ = URL.set(url.to_owned());
    Ok(())
}

/// POSTs the records, one `{"key": …, "value": …}` line each, to `url`
/// with the batch time and partition in the query, so that the receiver
/// can drop a partition it already has (delivery is at least once).
#[sink(init = init)]
fn post(info: &SinkBatch, records: Vec<(&str, i64)>) -> Result<(), String> {
    let url = URL.get().ok_or("init was not called")?;
    let mut body = String::new();
    for (key, value) in records {
        body.push_str("{\"key\":");
        push_json_string(&mut body, key);
        body.push_str(&format!(",\"value\":{value}}}\n"));
    }
    let target = format!("{url}?batch={}&partition={}", info.batch_time_ms, info.partition);
    let response = http::post(&target, "application/x-ndjson", body.as_bytes())?;
    if !(200..300).contains(&response.status) {
        return Err(format!("{target} answered {}", response.status));
    }
    Ok(())
}

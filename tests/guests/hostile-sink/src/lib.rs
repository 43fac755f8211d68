//! Test guest: a sink that tries what its grant does not allow, chosen by
//! the `mode` parameter, each request to `url`:
//!
//! - `post`: one POST of the records, as `key=value` lines (the allowed
//!   case);
//! - `swallow`: a POST whose refusal it ignores, returning success (the
//!   host must fail the call anyway);
//! - `repeat`: `count` POSTs of one small body each;
//! - `big`: one POST of a body of `bytes` bytes;
//! - `file`: reads the file at `url` (a path) and POSTs nothing;
//! - `spin`: loops forever (the call time must stop it);
//! - `hold`: starts a POST, never finishes its body, and waits for the
//!   response (the call time must stop the wait).

use std::sync::OnceLock;

use sluice_guest::{Params, SinkBatch, http, sink};

struct Settings {
    mode: String,
    url: String,
    count: u32,
    bytes: usize,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn init(params: &Params) -> Result<(), String> {
    let settings = Settings {
        mode: params.get("mode").unwrap_or("post").to_owned(),
        url: params.get("url").unwrap_or("").to_owned(),
        count: params.parse_or("count", 1)?,
        bytes: params.parse_or("bytes", 0)?,
    };
    let _ = SETTINGS.set(settings);
    Ok(())
}

#[sink(init = init)]
fn hostile(info: &SinkBatch, records: Vec<(&str, i64)>) -> Result<(), String> {
    let s = SETTINGS.get().ok_or("init was not called")?;
    match s.mode.as_str() {
        "post" => {
            let body: String = records.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            let url = format!(
                "{}?batch={}&partition={}",
                s.url, info.batch_time_ms, info.partition
            );
            let response = http::post(&url, "text/plain", body.as_bytes())?;
            if response.status != 200 {
                return Err(format!("status {}", response.status));
            }
            Ok(())
        }
        "swallow" => {
            let _ = http::post(&s.url, "text/plain", b"secret");
            Ok(())
        }
        "repeat" => {
            for i in 0..s.count {
                http::post(&s.url, "text/plain", format!("request {i}").as_bytes())?;
            }
            Ok(())
        }
        "big" => {
            http::post(&s.url, "application/octet-stream", &vec![b'x'; s.bytes])?;
            Ok(())
        }
        "file" => match std::fs::read_to_string(&s.url) {
            Ok(text) => Err(format!("read {} bytes of {}", text.len(), s.url)),
            Err(e) => Err(format!("cannot read {}: {e}", s.url)),
        },
        "hold" => {
            use sluice_guest::bindings::sink_operator::wasi::http::outgoing_handler;
            use sluice_guest::bindings::sink_operator::wasi::http::types::{
                Fields, Method, OutgoingRequest, Scheme,
            };
            let request = OutgoingRequest::new(Fields::new());
            let _ = request.set_method(&Method::Post);
            let _ = request.set_scheme(Some(&Scheme::Http));
            let rest = s.url.trim_start_matches("http://");
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let _ = request.set_authority(Some(authority));
            let _ = request.set_path_with_query(Some(path));
            let body = request.body().map_err(|()| "no body".to_owned())?;
            let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
            let stream = body.write().map_err(|()| "no stream".to_owned())?;
            let _ = stream.blocking_write_and_flush(b"partial");
            loop {
                if let Some(result) = pending.get() {
                    return Err(format!("the response came: {result:?}"));
                }
                pending.subscribe().block();
            }
        }
        "spin" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        other => Err(format!("unknown mode `{other}`")),
    }
}

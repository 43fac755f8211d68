//! Property test: generated pipeline files thrown at loading, and generated
//! control requests thrown at a running control endpoint. Whatever comes
//! in, the host answers: a pipeline loads or is refused with a message that
//! is no internal error, a request gets one response line (done, or an
//! error with a message) within its deadline. Nothing panics or hangs.
//!
//! The budget is `SLUICE_FUZZ_SECONDS` (default 30) split over the two
//! phases; the seed is `SLUICE_FUZZ_SEED` (default: fixed), printed so that
//! a failure can be replayed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::ErrorKind;
use sluice::control::protocol::{Envelope, MAX_REQUEST_LINE, PROTOCOL_VERSION, Request, Response};
use sluice::deploy::Registry;
use sluice::pipeline::{self, PipelineOptions};
use sluice::scheduler::Shutdown;
use sluice::status::StatusBoard;
use sluice_test_fixtures as fixtures;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use toml::{Table, Value};

fn budget() -> Duration {
    fixtures::fuzz_budget()
}

fn rng() -> fastrand::Rng {
    fastrand::Rng::with_seed(fixtures::fuzz_seed())
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

/// A value of any TOML type, biased toward what the keys take and their
/// edges.
fn value(rng: &mut fastrand::Rng) -> Value {
    match rng.u8(..12) {
        0 => Value::Integer(rng.i64(..)),
        1 => Value::Integer(*pick(
            rng,
            &[
                0,
                1,
                -1,
                2,
                64,
                255,
                256,
                1024,
                1025,
                4096,
                4097,
                65_535,
                65_536,
                1 << 31,
                1 << 40,
            ],
        )),
        2 => Value::Integer(rng.i64(-10..100_000)),
        3 => Value::String(
            pick(
                rng,
                &[
                    "1s", "10ms", "0s", "1ns", "-1s", "2h", "25h", "1day", "abc", "", "100ms",
                    "1h 1ms",
                ],
            )
            .to_string(),
        ),
        4 => Value::String(
            pick(
                rng,
                &[
                    "files",
                    "socket",
                    "map",
                    "flat_map",
                    "filter",
                    "reduce_by_key",
                    "pprint",
                    "text_files",
                    "jsonl",
                    "text",
                    "split",
                    "skip",
                    "fail",
                    "retry",
                    "dead_letter",
                    "replace",
                    "in",
                    "lines",
                    "words",
                    "out/x",
                    "/dev/zero",
                    "/",
                    "..",
                ],
            )
            .to_string(),
        ),
        5 => Value::Boolean(rng.bool()),
        6 => Value::Float(*pick(rng, &[0.5, -1.0, f64::NAN, f64::INFINITY, 1e300])),
        7 => Value::Array(
            (0..rng.usize(..3))
                .map(|_| Value::Integer(rng.i64(..)))
                .collect(),
        ),
        8 => Value::Table(Table::new()),
        9 => Value::String(fixtures::SPLIT_WORDS.to_owned()),
        10 => Value::String(
            pick(
                rng,
                &[fixtures::WORD_PAIR, fixtures::SUM, fixtures::MIN_LENGTH],
            )
            .to_string(),
        ),
        _ => Value::String("x".repeat(rng.usize(..300))),
    }
}

/// A table of `keys`. In chaos, some keys are left out, values are
/// generated (or the `right` ones where given) and an unknown key comes now
/// and then; otherwise the keys with a `right` value get it, and one key
/// in forty gets a generated value.
fn table(rng: &mut fastrand::Rng, chaos: bool, keys: &[(&str, Option<Value>)]) -> Table {
    let mut table = Table::new();
    for (key, right) in keys {
        let v = match (chaos, right) {
            (true, _) if rng.u8(..3) == 0 => continue,
            (true, Some(right)) if rng.u8(..4) != 0 => right.clone(),
            (true, _) => value(rng),
            (false, _) if rng.u8(..40) == 0 => value(rng),
            (false, Some(right)) => right.clone(),
            (false, None) => continue,
        };
        table.insert((*key).to_owned(), v);
    }
    if chaos && rng.u8(..10) == 0 {
        table.insert("unknown_key".into(), value(rng));
    }
    table
}

const LIMIT_KEYS: [&str; 12] = [
    "call_time",
    "memory_mib",
    "table_elements",
    "instances",
    "stack_kib",
    "output_mib",
    "output_records_per_input",
    "binary_mib",
    "compile_time",
    "compile_memory_mib",
    "fuel",
    "nothing",
];

fn text(s: &str) -> Option<Value> {
    Some(Value::String(s.to_owned()))
}

/// A pipeline file: mostly well-formed, with random keys and values.
fn pipeline_file(rng: &mut fastrand::Rng) -> String {
    let chaos = rng.bool();
    let limit_keys: Vec<(&str, Option<Value>)> = LIMIT_KEYS.iter().map(|k| (*k, None)).collect();
    let mut file = table(
        rng,
        chaos,
        &[
            ("batch_interval", text("1s")),
            ("partitions", Some(Value::Integer(2))),
            ("name", text("fuzzed")),
        ],
    );
    if !file.contains_key("batch_interval") && rng.bool() {
        file.insert("batch_interval".into(), Value::String("1s".into()));
    }
    if rng.bool() {
        file.insert(
            "limits".into(),
            Value::Table(table(rng, chaos, &limit_keys)),
        );
    }
    let mut sources = Table::new();
    sources.insert(
        "lines".into(),
        Value::Table(table(
            rng,
            chaos,
            &[
                ("kind", text("files")),
                ("path", text("in")),
                ("include_existing", Some(Value::Boolean(true))),
                ("port", None),
                ("host", None),
                ("invalid_utf8", text("skip")),
                ("max_line_bytes", Some(Value::Integer(4096))),
                ("long_lines", text("split")),
                ("buffer_mib", None),
            ],
        )),
    );
    file.insert("sources".into(), Value::Table(sources));
    let mut streams = Table::new();
    for (name, from, op, plugin) in [
        ("words", "lines", "flat_map", fixtures::SPLIT_WORDS),
        ("pairs", "words", "map", fixtures::WORD_PAIR),
        ("counts", "pairs", "reduce_by_key", fixtures::SUM),
    ] {
        if chaos && rng.u8(..4) == 0 {
            continue;
        }
        let mut stream = table(
            rng,
            chaos,
            &[
                ("from", text(from)),
                ("op", text(op)),
                ("plugin", text(plugin)),
                ("partitions", None),
                ("on_error", None),
                ("retries", None),
                ("retry_backoff", None),
                ("dead_letter", None),
                ("rollback_after", None),
                ("params", Some(Value::Table(Table::new()))),
            ],
        );
        if rng.bool() {
            stream.insert(
                "limits".into(),
                Value::Table(table(rng, chaos, &limit_keys)),
            );
        }
        streams.insert(name.into(), Value::Table(stream));
    }
    file.insert("streams".into(), Value::Table(streams));
    let mut sinks = Table::new();
    for name in ["a", "b"] {
        let from = *pick(rng, &["lines", "words", "counts"]);
        let kind = *pick(rng, &["pprint", "text_files"]);
        let prefix = match (chaos, kind, name) {
            (true, _, _) => text(if rng.bool() { "out/a" } else { "out/b" }),
            (false, "text_files", name) => text(&format!("out/{name}")),
            (false, _, _) => None,
        };
        sinks.insert(
            name.into(),
            Value::Table(table(
                rng,
                chaos,
                &[
                    ("from", text(from)),
                    ("kind", text(kind)),
                    ("num", None),
                    ("prefix", prefix),
                    ("suffix", None),
                    ("format", None),
                ],
            )),
        );
    }
    file.insert("sinks".into(), Value::Table(sinks));
    toml::to_string(&file).unwrap()
}

fn pipeline_files(rng: &mut fastrand::Rng, budget: Duration) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let options = PipelineOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..PipelineOptions::default()
    };
    let started = Instant::now();
    let (mut loaded, mut refused) = (0, 0);
    while started.elapsed() < budget {
        let text = pipeline_file(rng);
        let path = dir.path().join("p.toml");
        std::fs::write(&path, &text).unwrap();
        match pipeline::load(&path, &options) {
            Ok(_) => loaded += 1,
            Err(e) => {
                refused += 1;
                let message = e.to_string();
                if std::env::var_os("SLUICE_FUZZ_SHOW").is_some() && refused < 5 {
                    println!("{message}\n{text}");
                }
                assert!(!message.is_empty(), "empty refusal of\n{text}");
                assert_ne!(e.kind(), ErrorKind::Internal, "{message}\nfor\n{text}");
            }
        }
    }
    println!("pipeline files: {loaded} loaded, {refused} refused");
    assert!(
        loaded > 0 && refused > 0,
        "{loaded} loaded, {refused} refused"
    );
}

/// One request's bytes: a line (random bytes, or an envelope with random
/// fields) and maybe a payload.
fn request_bytes(rng: &mut fastrand::Rng) -> Vec<u8> {
    let stream = pick(rng, &["words", "pairs", "counts", "", "nope"]).to_string();
    let request = match rng.u8(..7) {
        0 => Request::Status,
        1 => Request::History { stream },
        2 => Request::Rollback {
            stream,
            wait: rng.bool(),
        },
        3 => Request::Promote {
            stream,
            wait: rng.bool(),
        },
        4 => Request::Discard { stream },
        5 => Request::Stop {
            graceful: rng.bool(),
        },
        _ => Request::Deploy {
            stream,
            file_name: pick(rng, &["x.wasm", "", "../../etc/passwd", "a/b.wasm"]).to_string(),
            size: *pick(rng, &[0, 1, 100, 5000, 1 << 40, u64::MAX]),
            shadow: rng.bool(),
            wait: rng.bool(),
        },
    };
    let envelope = Envelope {
        protocol: if rng.u8(..8) == 0 {
            rng.u32(..)
        } else {
            PROTOCOL_VERSION
        },
        token: rng.bool().then(|| "t".repeat(rng.usize(..40))),
        request,
    };
    let mut bytes = match rng.u8(..6) {
        0 => (0..rng.usize(..200)).map(|_| rng.u8(..)).collect(),
        1 => vec![b'x'; MAX_REQUEST_LINE + rng.usize(..10)],
        _ => serde_json::to_vec(&envelope).unwrap(),
    };
    let mut json = bytes.clone();
    if rng.u8(..5) == 0 && !json.is_empty() {
        // A mutated envelope.
        let at = rng.usize(..json.len());
        json[at] = rng.u8(..);
        bytes = json;
    }
    if rng.u8(..10) != 0 {
        bytes.push(b'\n');
    }
    // Some of a component's bytes (garbage).
    bytes.extend((0..rng.usize(..6000)).map(|_| rng.u8(..)));
    bytes
}

fn control_requests(rng: &mut fastrand::Rng, budget: Duration) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let pipeline = fixtures::PipelineFile::new("1s")
        .raw("state_dir = \"state\"")
        .files_source("lines", "in", "")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .pprint("out", "words")
        .write(dir.path().join("p.toml"));
    let options = PipelineOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..PipelineOptions::default()
    };
    let (engine, plan) = pipeline::load(&pipeline, &options).unwrap();
    let socket = plan.state_dir.join(sluice::control::SOCKET_NAME);
    let plan = Arc::new(plan);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let registry = Arc::new(Registry::new(plan, engine));
        // A `stop` among the requests only records the request here.
        let shutdown = Arc::new(tokio::sync::watch::Sender::new(Shutdown::Running));
        let server =
            sluice::control::start(registry.clone(), Arc::new(StatusBoard::default()), shutdown)
                .await
                .unwrap();
        let started = Instant::now();
        let mut answered = 0;
        while started.elapsed() < budget {
            let bytes = request_bytes(rng);
            let response = tokio::time::timeout(Duration::from_secs(30), exchange(&socket, &bytes))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no answer within 30 s to {:?}",
                        String::from_utf8_lossy(&bytes)
                    )
                });
            match response {
                Response::Ok { .. } => {}
                Response::Error { message } => assert!(!message.is_empty()),
            }
            answered += 1;
        }
        println!("control requests: {answered} answered");
        registry.pipeline_stopped();
        server.shutdown().await;
    });
}

/// Sends `bytes` (then closes the sending half) and reads the response.
async fn exchange(socket: &Path, bytes: &[u8]) -> Response {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    // The server may answer (and stop reading) before everything is sent.
    let _ = write.write_all(bytes).await;
    let _ = write.shutdown().await;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await.unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a response ({e}): {line:?}"))
}

#[test]
fn pipeline_files_and_control_requests_are_answered_never_panic_or_hang() {
    let mut rng = rng();
    let half = budget() / 2;
    pipeline_files(&mut rng, half);
    control_requests(&mut rng, half);
}

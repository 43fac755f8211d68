//! The web UI and `/metrics` of a running pipeline: scraped by a real
//! Prometheus server, and the pages driven in a real headless Chromium
//! through WebDriver (chromedriver), with a screenshot of each page kept
//! under the tests' output directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::*;
use sluice_test_fixtures as fixtures;

/// A pipeline over `dir/in` whose stream `loud` (the hostile guest) prints
/// a line per call, with its web UI on a free loopback port.
fn ui_pipeline(dir: &Path, ui: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    PipelineFile::new("300ms")
        .raw(&format!("partitions = 2\nui = {ui:?}\n{extra}"))
        .files_source("lines", "in", "include_existing = true")
        .stream(
            "loud",
            "lines",
            "flat_map",
            fixtures::HOSTILE,
            "params = { say = \"hello from the plugin\" }",
        )
        .text_files("out", "loud", "out/loud", "")
        .write(dir.join("p.toml"))
}

/// Waits until the pipeline has taken in `records` records.
fn wait_for_input(pipeline: &str, records: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(output) = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["status", "-p", pipeline, "--json"])
            .output()
            && output.status.success()
            && let Ok(status) = serde_json::from_slice::<serde_json::Value>(&output.stdout)
            && status["input_records"].as_u64() == Some(records)
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{records} records not taken in within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `host:port` of the UI `sluice status` shows.
fn ui_address(status: &serde_json::Value) -> String {
    let url = status["ui"].as_str().expect("the status shows the UI");
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// An HTTP/1.0 GET of `path` at `address`: the status code and body.
fn http_get(address: &str, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\n{headers}\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

/// A loopback port nothing listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills a child when the test ends, passed or not, unless it finished.
struct Killed(Option<Child>);

impl Killed {
    /// Waits for the child to exit by itself.
    fn finish(mut self) -> std::process::Output {
        wait(self.0.take().unwrap(), Duration::from_secs(60))
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `sluice run PIPELINE`, killed if the test fails.
fn start(pipeline: &str) -> Killed {
    Killed(Some(sluice(&["run", pipeline]).spawn().unwrap()))
}

/// Starts `program` (a Debian package's binary), or fails saying how to
/// install it.
fn start_tool(program: &str, package: &str, args: &[String]) -> Killed {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {program} ({e}): install it with `bash scripts/install-toolchains.sh observability` (Debian's `{package}` package)")
        });
    Killed(Some(child))
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_count_the_run_and_a_real_prometheus_scrapes_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = ui_pipeline(dir.path(), "127.0.0.1:0", "");
    std::fs::write(dir.path().join("in/a.txt"), "a1\na2\na3\n").unwrap();
    std::fs::write(dir.path().join("in/b.txt"), "b1\nb2\n").unwrap();
    let pipeline = path.to_str().unwrap();
    let run = start(pipeline);
    let status = wait_for_input(pipeline, 5);
    let address = ui_address(&status);

    let (code, text) = http_get(&address, "/metrics", "");
    assert_eq!(code, 200, "{text}");
    for line in [
        "sluice_input_records_total{pipeline=\"p\",source=\"lines\"} 5",
        "sluice_stream_input_records_total{pipeline=\"p\",stream=\"loud\"} 5",
        "sluice_stream_output_records_total{pipeline=\"p\",stream=\"loud\"} 5",
        "sluice_stream_failed_calls_total{pipeline=\"p\",stream=\"loud\"} 0",
        "# TYPE sluice_batch_processing_seconds histogram",
        "# UNIT sluice_batch_processing_seconds seconds",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("sluice_stream_calls_total{pipeline=\"p\",stream=\"loud\"} ")),
        "{text}"
    );

    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: ['{address}']\n"
        ),
    )
    .unwrap();
    let _prometheus = start_tool(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
    );
    wait_listening(port, "prometheus");
    let query = "/api/v1/query?query=sluice_input_records_total";
    let deadline = Instant::now() + Duration::from_secs(90);
    let answer = loop {
        let (code, body) = http_get(&format!("127.0.0.1:{port}"), query, "");
        if code == 200 {
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            if answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                break answer;
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus scraped nothing in 90 s: {code} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let result = &answer["data"]["result"][0];
    assert_eq!(result["metric"]["pipeline"], "p", "{answer}");
    assert_eq!(result["metric"]["source"], "lines", "{answer}");
    assert_eq!(result["metric"]["job"], "sluice", "{answer}");
    assert_eq!(result["value"][1], "5", "{answer}");

    stdout_of(&super::common::run(&["stop", "-p", pipeline]));
    stdout_of(&run.finish());
}

/// Runs `script` in the page and returns what it returns.
async fn js(client: &fantoccini::Client, script: &str) -> serde_json::Value {
    client.execute(script, Vec::new()).await.unwrap()
}

/// Waits until `script` returns `true` in the page.
async fn wait_js(client: &fantoccini::Client, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if js(client, script).await == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn screenshot(client: &fantoccini::Client, name: &str) {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_ui");
    std::fs::create_dir_all(&out).unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(out.join(format!("{name}.png")), png).unwrap();
}

#[test]
fn the_ui_in_a_real_browser_shows_batches_charts_a_batch_with_its_plugin_output_and_updates_live() {
    let dir = tempfile::tempdir().unwrap();
    let path = ui_pipeline(dir.path(), "127.0.0.1:0", "");
    std::fs::write(dir.path().join("in/a.txt"), "a1\na2\na3\n").unwrap();
    let pipeline = path.to_str().unwrap().to_owned();
    let run = start(&pipeline);
    let address = ui_address(&wait_for_input(&pipeline, 3));
    // Input keeps coming while the browser looks.
    let feeding = {
        let input = dir.path().join("in");
        std::thread::spawn(move || {
            for i in 0..40 {
                std::fs::write(input.join(format!("f{i:02}.txt")), format!("line {i}\n")).unwrap();
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    let port = free_port();
    let _driver = start_tool(
        "chromedriver",
        "chromium-driver",
        &[format!("--port={port}")],
    );
    wait_listening(port, "chromedriver");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("chromedriver starts a headless Chromium");
        let base = format!("http://{address}/");

        // The overview: the graph, four charts with points, live.
        client.goto(&base).await.unwrap();
        wait_js(
            &client,
            "return document.querySelectorAll('svg.timeline').length === 4 && \
             [...document.querySelectorAll('svg.timeline')].every(s => s.querySelectorAll('.point').length >= 3)",
            "four timelines with points",
        )
        .await;
        let nodes = js(
            &client,
            "return [...document.querySelectorAll('svg.graph g.node')].map(n => n.dataset.node)",
        )
        .await;
        assert_eq!(
            nodes,
            serde_json::json!(["source:lines", "stream:loud", "sink:out"])
        );
        let completed = js(&client, "window.notReloaded = true; return Number(document.getElementById('batches-completed').textContent.replace(/,/g, ''))").await;
        let completed = completed.as_f64().unwrap();
        wait_js(
            &client,
            &format!("return window.notReloaded === true && Number(document.getElementById('batches-completed').textContent.replace(/,/g, '')) > {completed}"),
            "the completed batches count updating without a reload",
        )
        .await;
        screenshot(&client, "overview").await;

        // The batches table, newest first, with each stream's version.
        client.goto(&format!("{base}#/batches")).await.unwrap();
        wait_js(
            &client,
            "return document.querySelectorAll('table.batches tbody tr').length >= 5",
            "the batches table filling",
        )
        .await;
        let table = js(
            &client,
            "const rows = [...document.querySelectorAll('table.batches tbody tr')]; \
             return { times: rows.map(r => Number(r.dataset.batchTime)), \
                      versions: rows[0].cells[7].textContent, \
                      statuses: [...new Set(rows.map(r => r.cells[6].textContent))] }",
        )
        .await;
        let times: Vec<i64> = serde_json::from_value(table["times"].clone()).unwrap();
        assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
        assert!(
            table["versions"].as_str().unwrap().starts_with("loud v1 hostile@"),
            "{table}"
        );
        assert_eq!(table["statuses"], serde_json::json!(["succeeded"]));
        screenshot(&client, "batches").await;

        // A batch with input: its partitions and the line the plugin printed.
        js(
            &client,
            "[...document.querySelectorAll('table.batches tbody tr')] \
               .find(r => r.cells[1].textContent.trim() !== '0').querySelector('a').click()",
        )
        .await;
        wait_js(
            &client,
            "return document.querySelectorAll('section.stream[data-stream=\"loud\"] table.partitions tbody tr').length >= 1 && \
             [...document.querySelectorAll('#logs pre.log')].some(p => /^hello from the plugin: \\d+ records/.test(p.textContent))",
            "the batch detail with partitions and plugin output",
        )
        .await;
        let partition = js(
            &client,
            "const c = document.querySelector('section.stream[data-stream=\"loud\"] table.partitions tbody tr').cells; \
             return { records_in: c[2].textContent, attempts: c[5].textContent, memory: c[7].textContent }",
        )
        .await;
        assert_eq!(partition["attempts"], "1", "{partition}");
        assert_ne!(partition["records_in"], "0", "{partition}");
        assert!(partition["memory"].as_str().unwrap().ends_with("MiB"), "{partition}");
        screenshot(&client, "batch").await;

        // Deploys: the stream's version and where it came from.
        client.goto(&format!("{base}#/deploys")).await.unwrap();
        wait_js(
            &client,
            "const s = document.querySelector('section.deploys[data-stream=\"loud\"]'); \
             return !!s && s.textContent.includes('hostile') && s.textContent.includes('pipeline file')",
            "the deploys page",
        )
        .await;
        screenshot(&client, "deploys").await;
        client.close().await.unwrap();
    });
    feeding.join().unwrap();
    stdout_of(&super::common::run(&["stop", "-p", &pipeline]));
    stdout_of(&run.finish());
}

#[test]
fn a_ui_beyond_loopback_needs_the_control_token_and_refuses_requests_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("ui = \"0.0.0.0:0\"")
            .files_source("lines", "in", "")
            .pprint("out", "lines"),
    );
    assert!(
        stderr.contains("`ui` listens on 0.0.0.0:0, beyond this machine: it needs the control token (`[control] listen` and `token_file`), which every request must then carry as `Authorization: Bearer TOKEN`; or listen on 127.0.0.1"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("ui = \"port 80\"")
            .files_source("lines", "in", "")
            .pprint("out", "lines"),
    );
    assert!(
        stderr.contains(
            "`ui` must be `IP:PORT` (e.g. \"127.0.0.1:4040\"), `true` or `false`, not \"port 80\""
        ),
        "{stderr}"
    );

    std::fs::write(dir.path().join("token"), "s3cret-0123456789abcdef\n").unwrap();
    let control = free_port();
    let path = ui_pipeline(
        dir.path(),
        "0.0.0.0:0",
        &format!("[control]\nlisten = \"127.0.0.1:{control}\"\ntoken_file = \"token\""),
    );
    std::fs::write(dir.path().join("in/a.txt"), "a1\n").unwrap();
    let pipeline = path.to_str().unwrap();
    let run = start(pipeline);
    let status = wait_for_input(pipeline, 1);
    let port = ui_address(&status).rsplit(':').next().unwrap().to_owned();
    let address = format!("127.0.0.1:{port}");
    for path in ["/", "/metrics", "/api/overview"] {
        let (code, body) = http_get(&address, path, "");
        assert_eq!(code, 401, "{path}: {body}");
        assert_eq!(
            body,
            "this pipeline's UI needs its control token: `Authorization: Bearer TOKEN`\n"
        );
        let (code, _) = http_get(&address, path, "Authorization: Bearer wrong\r\n");
        assert_eq!(code, 401, "{path}");
        let (code, body) = http_get(
            &address,
            path,
            "Authorization: Bearer s3cret-0123456789abcdef\r\n",
        );
        assert_eq!(code, 200, "{path}: {body}");
    }
    stdout_of(&super::common::run(&["stop", "-p", pipeline]));
    stdout_of(&run.finish());
}

#[test]
fn a_taken_port_moves_the_ui_to_the_next_free_one_and_false_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let path = ui_pipeline(dir.path(), &format!("127.0.0.1:{port}"), "");
    std::fs::write(dir.path().join("in/a.txt"), "a1\n").unwrap();
    let pipeline = path.to_str().unwrap();
    let run = start(pipeline);
    let status = wait_for_input(pipeline, 1);
    let got: u16 = ui_address(&status)
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(got > port && got <= port + 16, "{got} after {port}");
    let (code, body) = http_get(&format!("127.0.0.1:{got}"), "/api/batches?size=1", "");
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(page["total"].as_u64().unwrap() >= 1, "{page}");
    stdout_of(&super::common::run(&["stop", "-p", pipeline]));
    stdout_of(&run.finish());
    drop(taken);

    let off = tempfile::tempdir().unwrap();
    let path = ui_pipeline(off.path(), "x", "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("ui = \"x\"", "ui = false");
    std::fs::write(&path, text).unwrap();
    std::fs::write(off.path().join("in/a.txt"), "a1\n").unwrap();
    let pipeline = path.to_str().unwrap();
    let run = start(pipeline);
    let status = wait_for_input(pipeline, 1);
    assert_eq!(status["ui"], serde_json::Value::Null);
    stdout_of(&super::common::run(&["stop", "-p", pipeline]));
    stdout_of(&run.finish());
}

//! Sink plugins (`kind = "plugin"`), end to end: records reaching a real
//! HTTP receiver on 127.0.0.1 exactly as the plugin sent them, the
//! allowlist refusing other hosts, ports and paths before anything is
//! sent, files and sockets out of reach, retries delivering every batch,
//! the per-call limits, and the checks that refuse a sink before the run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::common::*;
use super::receiver::Receiver;
use sluice_test_fixtures as fixtures;

/// Word counts of the files in `dir/in`, one file per batch.
fn counts() -> PipelineFile {
    one_file_per_batch("1s")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
}

/// Runs `pipeline` in `dir` until idle with `partitions`; the output.
fn run_in(dir: &Path, pipeline: &PipelineFile, partitions: &str) -> std::process::Output {
    let path = pipeline.write(dir.join("p.toml"));
    let mut command = sluice(&[
        "run",
        path.to_str().unwrap(),
        "--partitions",
        partitions,
        "--stop-when-idle",
        "1",
    ]);
    wait(
        command.spawn().unwrap(),
        std::time::Duration::from_secs(300),
    )
}

/// (batch number from 0, word, count) of alerts.
type Alerts = BTreeSet<(usize, String, i64)>;

/// Every alert the receiver took (answered 200), and each request's
/// (batch time, partition, attempt).
fn alerts(receiver: &Receiver) -> (Alerts, Vec<(i64, u64, u64)>) {
    let mut times = BTreeSet::new();
    let mut documents = Vec::new();
    for request in receiver.requests() {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/alerts");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.header("content-length"),
            Some(request.body.len().to_string().as_str())
        );
        let document: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(document["pipeline"], "p");
        assert_eq!(document["sink"], "alerts");
        times.insert(document["batch_time_ms"].as_i64().unwrap());
        documents.push((document, request.answered == Some(200)));
    }
    let times: Vec<i64> = times.into_iter().collect();
    let mut found = BTreeSet::new();
    let mut calls = Vec::new();
    for (document, taken) in documents {
        let time = document["batch_time_ms"].as_i64().unwrap();
        let batch = times.iter().position(|&t| t == time).unwrap();
        calls.push((
            time,
            document["partition"].as_u64().unwrap(),
            document["attempt"].as_u64().unwrap(),
        ));
        if !taken {
            continue;
        }
        for alert in document["alerts"].as_array().unwrap() {
            let word = alert["word"].as_str().unwrap().to_owned();
            let new = found.insert((batch, word, alert["count"].as_i64().unwrap()));
            assert!(new, "an alert was delivered twice: {document}");
        }
    }
    (found, calls)
}

/// The component's sha256, as `sluice plugin inspect` reports it.
fn sha256_of(component: &Path) -> String {
    let report =
        String::from_utf8(run(&["plugin", "inspect", component.to_str().unwrap()]).stdout).unwrap();
    report
        .lines()
        .find_map(|line| line.strip_prefix("sha256:"))
        .unwrap()
        .trim()
        .to_owned()
}

fn expected(batches: &[&[(&str, i64)]]) -> Alerts {
    batches
        .iter()
        .enumerate()
        .flat_map(|(b, alerts)| alerts.iter().map(move |(w, c)| (b, (*w).to_owned(), *c)))
        .collect()
}

const TWO_BATCHES: [(&str, &str); 2] = [
    ("a.txt", "error warn error\ninfo error warn debug\n"),
    ("b.txt", "warn info\ninfo info error\n"),
];

#[test]
fn records_reach_the_receiver_exactly_as_the_sink_sent_them() {
    for partitions in ["1", "3"] {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &TWO_BATCHES);
        let receiver = Receiver::start(&[]);
        let pipeline = counts().plugin_sink(
            "alerts",
            "counts",
            fixtures::POST_ALERTS,
            &format!(
                "params = {{ url = {:?}, threshold = 2 }}\nallow = {{ http = [{:?}] }}",
                receiver.url("/alerts"),
                receiver.url("/alerts")
            ),
        );
        let output = run_in(dir.path(), &pipeline, partitions);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (found, calls) = alerts(&receiver);
        assert_eq!(
            found,
            expected(&[&[("error", 3), ("warn", 2)], &[("info", 3)]]),
            "P = {partitions}"
        );
        assert!(
            calls.iter().all(|&(_, p, attempt)| attempt == 1 && p < 3),
            "{calls:?}"
        );
        // Only partitions holding an alert post: one request per such partition.
        let distinct: BTreeSet<_> = calls.iter().map(|&(t, p, _)| (t, p)).collect();
        assert_eq!(distinct.len(), calls.len(), "{calls:?}");
    }
}

#[test]
fn a_request_outside_the_allowlist_is_refused_and_nothing_is_sent() {
    let allowed = Receiver::start(&[]);
    let other = Receiver::start(&[]);
    let granted = allowed.url("/alerts");
    for url in [
        other.url("/alerts"),
        allowed.url("/other"),
        allowed.url("/alertsx"),
        allowed.url("/alerts/../admin"),
        format!("http://localhost:{}/alerts", allowed.port),
        format!("https://127.0.0.1:{}/alerts", allowed.port),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &TWO_BATCHES[..1]);
        // The plugin ignores the refusal and reports success: the call
        // must fail all the same.
        let pipeline = counts().plugin_sink(
            "alerts",
            "counts",
            fixtures::HOSTILE_SINK,
            &format!(
                "params = {{ mode = \"swallow\", url = {url:?} }}\nallow = {{ http = [{granted:?}] }}"
            ),
        );
        let output = run_in(dir.path(), &pipeline, "1");
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("sink `alerts`, plugin hostile_sink (sha256 "),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "requested {url}, which the sink's allowlist does not grant (allowed: `{granted}`); nothing was sent. Add the URL to `allow.http` if the sink should reach it"
            )),
            "{url}: {stderr}"
        );
        // A refusal is not retried: it would be refused again.
        assert!(stderr.contains("not retried"), "{stderr}");
    }
    assert_eq!(other.connections(), 0);
    assert_eq!(allowed.connections(), 0);
}

#[test]
fn files_and_sockets_stay_out_of_a_sinks_reach() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &TWO_BATCHES[..1]);
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "the password").unwrap();
    let pipeline = counts().plugin_sink(
        "alerts",
        "counts",
        fixtures::HOSTILE_SINK,
        &format!(
            "params = {{ mode = \"file\", url = {:?} }}\non_error = \"fail\"",
            secret.display().to_string()
        ),
    );
    let output = run_in(dir.path(), &pipeline, "1");
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains(&format!(
            "the operator failed: cannot read {}: ",
            secret.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("the password"), "{stderr}");

    // A sink that uses sockets itself is linked with them (interpreters
    // import them) but refused every use: nothing reaches the listeners.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    for (mode, address, refusal) in [
        (
            "tcp",
            tcp.local_addr().unwrap().to_string(),
            "Permission denied",
        ),
        (
            "udp",
            udp.local_addr().unwrap().to_string(),
            "Permission denied",
        ),
        (
            "lookup",
            "localhost:80".to_owned(),
            "failed to lookup address information",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &TWO_BATCHES[..1]);
        let pipeline = counts().plugin_sink(
            "alerts",
            "words",
            fixtures::SOCKET_SINK,
            &format!("params = {{ mode = {mode:?}, address = {address:?} }}\non_error = \"fail\""),
        );
        let output = run_in(dir.path(), &pipeline, "1");
        let stderr = stderr_of_failure(&output);
        assert!(
            stderr.contains(&format!("the operator failed: {mode} {address}: {refusal}")),
            "{stderr}"
        );
        assert!(!stderr.contains("the sandbox allowed it"), "{stderr}");
    }
    assert_eq!(
        tcp.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    assert_eq!(
        udp.recv(&mut [0; 8]).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[test]
fn a_sink_failing_twice_then_succeeding_with_retry_delivers_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &TWO_BATCHES);
    let receiver = Receiver::start(&[503, 503]);
    let pipeline = counts().plugin_sink(
        "alerts",
        "counts",
        fixtures::POST_ALERTS,
        &format!(
            "params = {{ url = {:?}, threshold = 2 }}\nallow = {{ http = [{:?}] }}\non_error = \"retry\"\nretries = 3\nretry_backoff = \"10ms\"",
            receiver.url("/alerts"),
            receiver.url("/alerts")
        ),
    );
    let output = run_in(dir.path(), &pipeline, "1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let (found, calls) = alerts(&receiver);
    // Every alert of both batches arrived, the first batch's on its third
    // attempt; what the receiver refused is not counted as delivered.
    let attempts: Vec<u64> = calls.iter().map(|&(_, _, a)| a).collect();
    assert_eq!(attempts, [1, 2, 3, 1]);
    assert_eq!(
        found,
        expected(&[&[("error", 3), ("warn", 2)], &[("info", 3)]])
    );
    assert_eq!(
        stderr
            .matches("answered 503: try again; retrying (on_error = retry")
            .count(),
        2,
        "{stderr}"
    );
}

#[test]
fn a_sink_giving_up_fails_the_pipeline_and_skip_drops_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &TWO_BATCHES[..1]);
    let receiver = Receiver::start(&[503; 10]);
    let keys = |policy: &str| {
        format!(
            "params = {{ url = {:?}, threshold = 2 }}\nallow = {{ http = [{:?}] }}\n{policy}",
            receiver.url("/alerts"),
            receiver.url("/alerts")
        )
    };
    let retried = counts().plugin_sink(
        "alerts",
        "counts",
        fixtures::POST_ALERTS,
        &keys("retries = 1\nretry_backoff = \"10ms\""),
    );
    let output = run_in(dir.path(), &retried, "1");
    let stderr = stderr_of_failure(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("partition 0, attempt 2: the operator failed: ")
            && stderr.contains("/alerts answered 503: try again"),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 2);

    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &TWO_BATCHES[..1]);
    let skipped = counts().plugin_sink(
        "alerts",
        "counts",
        fixtures::POST_ALERTS,
        &keys("on_error = \"skip\""),
    );
    let output = run_in(dir.path(), &skipped, "1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("its records are dropped (on_error = \"skip\")"),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 3);
}

#[test]
fn request_count_body_size_and_call_time_are_bounded() {
    let receiver = Receiver::start(&[]);
    let granted = receiver.url("/in");
    let run_mode = |mode: &str, extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &[("a.txt", "one\n")]);
        let pipeline = counts().plugin_sink(
            "out",
            "counts",
            fixtures::HOSTILE_SINK,
            &format!(
                "params = {{ mode = {mode:?}, url = {granted:?}, count = 3, bytes = 2000 }}\non_error = \"fail\"\n{extra}"
            ),
        );
        let output = run_in(dir.path(), &pipeline, "1");
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        stderr
    };

    let stderr = run_mode(
        "repeat",
        &format!("allow = {{ http = [{granted:?}], max_requests = 2 }}"),
    );
    assert!(
        stderr.contains(&format!(
            "made more than 2 requests in one call (limit `max_requests`); request {granted} was not sent."
        )),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 2);

    let stderr = run_mode(
        "big",
        &format!("allow = {{ http = [{granted:?}], max_request_bytes = 1000 }}"),
    );
    assert!(
        stderr.contains(&format!(
            "sent request bodies over 1000 bytes in one call (limit `max_request_bytes`); the body for {granted} was not sent."
        )),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 2, "nothing more was sent");

    let stderr = run_mode(
        "spin",
        &format!("allow = {{ http = [{granted:?}] }}\nlimits = {{ call_time = \"300ms\" }}"),
    );
    assert!(
        stderr.contains("timed out after 300ms (limit `call_time`)"),
        "{stderr}"
    );

    // A request whose body never ends: nothing is sent, and the wait for
    // it stops at the call time.
    let stderr = run_mode(
        "hold",
        &format!("allow = {{ http = [{granted:?}] }}\nlimits = {{ call_time = \"1s\" }}"),
    );
    assert!(
        stderr.contains("timed out after 1s (limit `call_time`)"),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 2, "nothing more was sent");
    assert_eq!(receiver.connections(), 2, "not even a connection");

    // A receiver that never answers: the wait counts to the call time.
    let silent = Receiver::silent();
    let url = silent.url("/in");
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &[("a.txt", "one\n")]);
    let pipeline = counts().plugin_sink(
        "out",
        "counts",
        fixtures::HOSTILE_SINK,
        &format!(
            "params = {{ mode = \"post\", url = {url:?} }}\nallow = {{ http = [{url:?}] }}\non_error = \"fail\"\nlimits = {{ call_time = \"1s\" }}"
        ),
    );
    let started = std::time::Instant::now();
    let output = run_in(dir.path(), &pipeline, "1");
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("timed out after 1s (limit `call_time`)"),
        "{stderr}"
    );
    assert_eq!(silent.requests().len(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn sink_plugins_are_checked_before_the_run() {
    let receiver = "http://127.0.0.1:9/alerts";
    let sink =
        |from: &str, plugin: &str, keys: &str| counts().plugin_sink("alerts", from, plugin, keys);
    let stderr = check_fails(sink(
        "words",
        fixtures::POST_ALERTS,
        &format!("params = {{ url = {receiver:?} }}"),
    ));
    assert!(
        stderr.contains(
            "sink `alerts`: plugin post_alerts takes (text, int64) records, but `words` gives text"
        ),
        "{stderr}"
    );
    let stderr = check_fails(sink("counts", fixtures::SUM, ""));
    assert!(stderr.contains("exports no sink interface"), "{stderr}");
    let stderr = check_fails(sink("counts", fixtures::POST_ALERTS, ""));
    assert!(
        stderr.contains("`init` refused the parameters: `url` is required"),
        "{stderr}"
    );
    let stderr = check_fails(sink(
        "counts",
        fixtures::POST_ALERTS,
        "allow = { http = [\"ftp://127.0.0.1/x\"] }",
    ));
    assert!(
        stderr.contains("sink `alerts`: `ftp://127.0.0.1/x` must start with http:// or https://"),
        "{stderr}"
    );
    let stderr = check_fails(sink(
        "counts",
        fixtures::POST_ALERTS,
        "allow = { http = [], max_requests = 0 }",
    ));
    assert!(
        stderr.contains("`max_requests` = 0 is out of range: it must be between 1 and 100000"),
        "{stderr}"
    );
    let stderr = check_fails(sink(
        "counts",
        fixtures::POST_ALERTS,
        "on_error = \"fail\"\nretries = 2",
    ));
    assert!(
        stderr.contains("sink `alerts`: `retries` applies only with on_error = \"retry\""),
        "{stderr}"
    );
    let stderr = check_fails(
        counts()
            .pprint("console", "counts")
            .raw("allow = { http = [] }"),
    );
    assert!(
        stderr.contains("sink `console`: `allow` applies only to a `kind = \"plugin\"` sink"),
        "{stderr}"
    );
    // A stream cannot use a sink plugin as an operator.
    let stderr = check_fails(
        one_file_per_batch("1s")
            .stream("words", "lines", "flat_map", fixtures::POST_ALERTS, "")
            .pprint("console", "words"),
    );
    assert!(
        stderr.contains("is a sink plugin (world sluice:operator/sink-operator), not an operator: write it in a [sinks.NAME] table with kind = \"plugin\""),
        "{stderr}"
    );
}

#[test]
fn the_alerts_example_posts_each_alert_once_to_its_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(fixtures::WORKSPACE).join("examples/alerts");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shipped = example_pipeline(
        "alerts",
        &[
            ("split_words", fixtures::SPLIT_WORDS),
            ("word_pair", fixtures::WORD_PAIR),
            ("sum", fixtures::SUM),
            ("post_alerts", fixtures::POST_ALERTS),
        ],
    );
    assert_eq!(shipped.matches("127.0.0.1:8787/alerts").count(), 2);
    let pipeline = shipped.replace(":8787/", &format!(":{port}/"));
    std::fs::create_dir(dir.path().join("in")).unwrap();
    for name in ["01-morning.txt", "02-noon.txt"] {
        std::fs::copy(
            example.join("in").join(name),
            dir.path().join("in").join(name),
        )
        .unwrap();
    }
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, pipeline).unwrap();
    let checked = stdout_of(&run(&["check", path.to_str().unwrap()]));
    assert!(
        checked.contains(&format!(
            "  sink alerts: plugin post_alerts ({}) takes (text, int64), may reach `http://127.0.0.1:{port}/alerts`\n",
            &sha256_of(Path::new(fixtures::POST_ALERTS))[..12]
        )),
        "{checked}"
    );
    // The receiver the example ships.
    let mut receiver = std::process::Command::new("python3")
        .arg(example.join("receiver.py"))
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the example's receiver");
    let mut out = std::io::BufReader::new(receiver.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert_eq!(
        first,
        format!("listening on http://127.0.0.1:{port}/alerts\n")
    );
    let output = run(&["run", path.to_str().unwrap(), "--stop-when-idle", "1"]);
    receiver.kill().unwrap();
    let _ = receiver.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut out, &mut printed).unwrap();
    // `alert: WORD xCOUNT (batch TIME, partition P)`, by batch.
    let mut times = BTreeSet::new();
    let mut alerts = Vec::new();
    for line in printed.lines() {
        let (alert, place) = line.split_once(" (batch ").unwrap();
        let time: i64 = place.split_once(',').unwrap().0.parse().unwrap();
        times.insert(time);
        alerts.push((time, alert.to_owned()));
    }
    let times: Vec<i64> = times.into_iter().collect();
    let mut by_batch: Vec<(usize, String)> = alerts
        .into_iter()
        .map(|(t, a)| (times.iter().position(|&x| x == t).unwrap(), a))
        .collect();
    by_batch.sort();
    assert_eq!(
        by_batch,
        [
            (0, "alert: failed x4".to_owned()),
            (0, "alert: login x5".to_owned()),
            (1, "alert: disk x3".to_owned()),
            (1, "alert: full x3".to_owned()),
        ]
    );
}

#[test]
fn the_rust_sink_scaffold_passes_its_test_and_a_refused_or_wrong_request_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("alerts-out");
    let created = stdout_of(&super::languages::plugin_new(
        "alerts-out",
        "rust",
        "sink",
        &project,
    ));
    assert!(
        created.starts_with("created rust `sink` plugin alerts-out in "),
        "{created}"
    );
    let test =
        |project: &Path| super::languages::run_long(&["plugin", "test", project.to_str().unwrap()]);
    assert_eq!(
        stdout_of(&test(&project)),
        "ok      posts the records as JSON lines\n1 passed, 0 failed\n"
    );
    // A case expecting another body, and one whose URL is not allowed.
    let cases = std::fs::read_to_string(project.join("sluice-test.toml")).unwrap();
    let wrong = cases.replace(
        "{\"key\":\"warn\",\"value\":1}",
        "{\"key\":\"warn\",\"value\":2}",
    );
    let refused = cases
        .replace(
            "name = \"posts the records as JSON lines\"",
            "name = \"refused\"",
        )
        .replace(
            "allow = [\"http://127.0.0.1:8080/counts\"]",
            "allow = [\"http://127.0.0.1:8080/other\"]",
        );
    std::fs::write(
        project.join("sluice-test.toml"),
        format!("{wrong}\n{refused}"),
    )
    .unwrap();
    let output = test(&project);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("FAILED  posts the records as JSON lines: expected [{ body = \"\"\"\n{\"key\":\"error\",\"value\":3}\n{\"key\":\"warn\",\"value\":2}\n\"\"\", headers = { content-type = \"application/x-ndjson\" }, method = \"POST\", url = \"http://127.0.0.1:8080/counts?batch=0&partition=0\" }], got [{ body = \"\"\"\n{\"key\":\"error\",\"value\":3}\n{\"key\":\"warn\",\"value\":1}\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAILED  refused: pipeline `plugin test`, sink `refused`, plugin alerts_out (sha256 ")
            && stdout.contains("requested http://127.0.0.1:8080/counts?batch=0&partition=0, which the sink's allowlist does not grant (allowed: `http://127.0.0.1:8080/other`); nothing was sent."),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 passed, 2 failed\n"), "{stdout}");

    // JavaScript's build tool cannot make sinks: said plainly.
    let output = super::languages::plugin_new("x", "js", "sink", &dir.path().join("js"));
    assert_eq!(
        stderr_of_failure(&output).trim_end(),
        format!(
            "error: {}: sink plugins cannot be written in JavaScript yet: componentize-qjs 0.4 cannot build a component that imports wasi:http (it pre-initialises the plugin in a host without wasi:http); write the sink in Rust, C, Zig, Python or Go",
            dir.path().join("js").display()
        )
    );
    assert!(!dir.path().join("js").exists());
}

/// The scaffold's requests for the counts of `TWO_BATCHES` with P = 1,
/// as (batch number, body).
fn scaffold_requests(receiver: &Receiver, path: &str) -> Vec<(usize, String)> {
    let mut times = BTreeSet::new();
    let mut requests = Vec::new();
    for request in receiver.requests() {
        let Some((target, query)) = request.target.split_once('?') else {
            panic!("no batch in {}", request.target);
        };
        if target != path {
            continue;
        }
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
        let time: i64 = query
            .strip_prefix("batch=")
            .and_then(|q| q.strip_suffix("&partition=0"))
            .unwrap()
            .parse()
            .unwrap();
        times.insert(time);
        requests.push((time, String::from_utf8(request.body.clone()).unwrap()));
    }
    let times: Vec<i64> = times.into_iter().collect();
    let mut found: Vec<(usize, String)> = requests
        .into_iter()
        .map(|(time, body)| {
            let mut lines: Vec<&str> = body.lines().collect();
            lines.sort_unstable();
            (
                times.iter().position(|&t| t == time).unwrap(),
                lines.join("\n"),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn sink_scaffolds_in_c_zig_python_and_go_pass_their_tests_and_deliver_like_rust() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &TWO_BATCHES);
    let receiver = Receiver::start(&[]);
    let refusing = Receiver::start(&[503; 8]);
    let mut pipeline = counts();
    let mut components = Vec::new();
    let languages = ["rust", "c", "zig", "python", "go"];
    for language in languages {
        let project = dir.path().join(format!("{language}-out"));
        let created = stdout_of(&super::languages::plugin_new(
            &format!("{language}-out"),
            language,
            "sink",
            &project,
        ));
        assert!(
            created.starts_with(&format!(
                "created {language} `sink` plugin {language}-out in "
            )),
            "{created}"
        );
        let tested = super::languages::run_long(&["plugin", "test", project.to_str().unwrap()]);
        assert_eq!(
            stdout_of(&tested),
            "ok      posts the records as JSON lines\n1 passed, 0 failed\n",
            "{language}"
        );
        let built = super::languages::run_long(&["plugin", "build", project.to_str().unwrap()]);
        let component = PathBuf::from(stdout_of(&built).trim());
        components.push(component.clone());
        let url = receiver.url(&format!("/{language}"));
        pipeline = pipeline.plugin_sink(
            language,
            "counts",
            &component,
            &format!("params = {{ url = {url:?} }}\nallow = {{ http = [{url:?}] }}"),
        );
    }
    let output = run_in(dir.path(), &pipeline, "1");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = vec![
        (
            0,
            "{\"key\":\"debug\",\"value\":1}\n{\"key\":\"error\",\"value\":3}\n{\"key\":\"info\",\"value\":1}\n{\"key\":\"warn\",\"value\":2}".to_owned(),
        ),
        (
            1,
            "{\"key\":\"error\",\"value\":1}\n{\"key\":\"info\",\"value\":3}\n{\"key\":\"warn\",\"value\":1}".to_owned(),
        ),
    ];
    for language in languages {
        assert_eq!(
            scaffold_requests(&receiver, &format!("/{language}")),
            expected,
            "{language}"
        );
    }

    // A receiver answering 503 fails the call with the URL and status.
    for (language, component) in languages.iter().zip(&components) {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &TWO_BATCHES[..1]);
        let url = refusing.url(&format!("/{language}"));
        let pipeline = counts().plugin_sink(
            language,
            "counts",
            component,
            &format!(
                "params = {{ url = {url:?} }}\nallow = {{ http = [{url:?}] }}\non_error = \"fail\""
            ),
        );
        let stderr = stderr_of_failure(&run_in(dir.path(), &pipeline, "1"));
        assert!(
            stderr.contains(&format!("the operator failed: {url}?batch="))
                && stderr.contains("&partition=0 answered 503"),
            "{language}: {stderr}"
        );
    }
}

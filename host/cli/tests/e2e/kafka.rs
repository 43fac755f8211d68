//! The `kafka` source and sink against librdkafka's mock cluster: three
//! brokers started in this test process, speaking the Kafka protocol on
//! 127.0.0.1, which the real `sluice` binary reaches as any cluster.
//!
//! What the mock does not do (see docs/kafka.md): persist transactional
//! offset commits, hide aborted records from `read_committed` consumers,
//! fence zombies. So these tests carry the exactly-once assertions on the
//! at-least-once path with the dedupe headers, and exercise the
//! transactional mode for its flow.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::common::*;
use sluice_test_fixtures as fixtures;

/// A three-broker mock cluster with the topics a test needs.
struct Cluster {
    mock: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl Cluster {
    fn new(topics: &[(&str, i32)]) -> Self {
        let mock = MockCluster::new(3).unwrap();
        for (topic, partitions) in topics {
            mock.create_topic(topic, *partitions, 3).unwrap();
        }
        let bootstrap = mock.bootstrap_servers();
        Cluster { mock, bootstrap }
    }

    /// Writes `records` (key, value) to `topic`; records with a key go to
    /// its partition, the others round-robin over `partitions`.
    fn produce(&self, topic: &str, partitions: i32, records: &[(Option<&str>, &str)]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap();
        for (i, (key, value)) in records.iter().enumerate() {
            let mut record = BaseRecord::<str, str>::to(topic).payload(value);
            match key {
                Some(key) => record = record.key(key),
                None => record = record.partition(i as i32 % partitions),
            }
            producer.send(record).map_err(|(e, _)| e).unwrap();
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Every record of `topic`, partition by partition, in offset order.
    fn consume_all(&self, topic: &str) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let mut list = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for partition in metadata.topics()[0].partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
                .unwrap();
            list.add_partition_offset(topic, partition.id(), Offset::Beginning)
                .unwrap();
            ends.insert(partition.id(), high);
        }
        consumer.assign(&list).unwrap();
        let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let remaining = |got: &BTreeMap<i32, Vec<OwnedMessage>>| {
            ends.iter()
                .filter(|(p, high)| {
                    got.get(p)
                        .and_then(|m| m.last())
                        .map_or(0, |m| m.offset() + 1)
                        < **high
                })
                .count()
        };
        while remaining(&by_partition) > 0 {
            assert!(Instant::now() < deadline, "output topic not read in time");
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.unwrap().detach();
                by_partition
                    .entry(message.partition())
                    .or_default()
                    .push(message);
            }
        }
        by_partition.into_values().flatten().collect()
    }
}

/// Lines of words from a small vocabulary, deterministic.
fn lines(count: usize, seed: u64) -> Vec<String> {
    let words = [
        "to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count)
        .map(|_| {
            (0..rng.usize(1..8))
                .map(|_| words[rng.usize(..words.len())])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn unkeyed(lines: &[String]) -> Vec<(Option<&str>, &str)> {
    lines.iter().map(|l| (None, l.as_str())).collect()
}

fn kafka_source(cluster: &Cluster, topic: &str, extra: &str) -> String {
    format!(
        "[sources.events]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"{topic}\"]\ngroup = \"wordcount\"\nstarting_offsets = \"earliest\"\n{extra}\n",
        cluster.bootstrap
    )
}

/// The word count from the `events` source, to `text_files` and to the
/// topic `counts`.
fn wordcount_to_kafka(cluster: &Cluster, source_extra: &str, sink_extra: &str) -> PipelineFile {
    PipelineFile::new("300ms")
        .raw(&kafka_source(cluster, "lines", source_extra))
        .stream("words", "events", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .raw(&format!(
            "[sinks.topic]\nfrom = \"counts\"\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"counts\"\n{sink_extra}\n",
            cluster.bootstrap
        ))
}

/// Sums the (word, count) records of the `counts` topic, dropping the
/// copies of a batch written twice by their headers.
fn counts_in_topic(cluster: &Cluster) -> BTreeMap<String, i64> {
    let mut seen = std::collections::HashSet::new();
    let mut counts = BTreeMap::new();
    for message in cluster.consume_all("counts") {
        let headers = message.headers().unwrap();
        let header = |name: &str| {
            let header = headers.iter().find(|h| h.key == name).unwrap();
            String::from_utf8(header.value.unwrap().to_vec()).unwrap()
        };
        assert_eq!(header("sluice.pipeline"), "p");
        let id = (
            header("sluice.batch_time"),
            header("sluice.partition"),
            header("sluice.sequence"),
        );
        if !seen.insert(id) {
            continue;
        }
        let word = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let count: i64 = std::str::from_utf8(message.payload().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        *counts.entry(word).or_insert(0) += count;
    }
    counts
}

#[test]
fn word_count_from_six_partitions_to_a_topic_and_files_is_exact() {
    let cluster = Cluster::new(&[("lines", 6), ("counts", 3)]);
    let input = lines(6000, 1);
    cluster.produce("lines", 6, &unkeyed(&input));
    let dir = tempfile::tempdir().unwrap();
    let path = wordcount_to_kafka(&cluster, "max_records_per_partition = 400", "")
        .write(dir.path().join("p.toml"));
    let output = run(&["run", path.to_str().unwrap(), "--stop-when-idle", "3"]);
    stdout_of(&output);
    let expected = reference_counts(input.iter().map(String::as_str));
    assert_eq!(read_counts(dir.path()), expected);
    assert_eq!(counts_in_topic(&cluster), expected);
    // 6000 records at most 6 × 400 a batch: at least three batches.
    assert!(sink_batches(dir.path(), "counts").len() >= 3);
}

#[test]
fn max_records_per_partition_bounds_every_batch_and_keeps_order() {
    let cluster = Cluster::new(&[("lines", 3)]);
    let input: Vec<String> = (0..90).map(|i| format!("record-{i:03}")).collect();
    cluster.produce("lines", 3, &unkeyed(&input));
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("200ms")
        .raw(&kafka_source(
            &cluster,
            "lines",
            "max_records_per_partition = 7",
        ))
        .text_files("files", "events", "out/lines", "")
        .write(dir.path().join("p.toml"));
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "3",
    ]));
    let batches = sink_batches(dir.path(), "lines");
    let non_empty: Vec<&Vec<String>> = batches.values().filter(|b| !b.is_empty()).collect();
    // 30 records per partition, 7 a batch: five batches, the last with 2 each.
    assert_eq!(non_empty.len(), 5, "{batches:?}");
    for batch in &non_empty[..4] {
        assert_eq!(batch.len(), 21);
    }
    assert_eq!(non_empty[4].len(), 6);
    let all: Vec<String> = non_empty.iter().flat_map(|b| b.iter().cloned()).collect();
    let mut sorted = all.clone();
    sorted.sort();
    let mut expected: Vec<String> = input.iter().map(|l| format!("'{l}'")).collect();
    expected.sort();
    assert_eq!(sorted, expected);
    // Within a partition, in offset order: partition 0 holds 0, 3, 6, ….
    let partition_0: Vec<&String> = all
        .iter()
        .filter(|l| l[8..11].parse::<u32>().unwrap() % 3 == 0)
        .collect();
    let mut in_order = partition_0.clone();
    in_order.sort();
    assert_eq!(partition_0, in_order);
}

#[test]
fn a_restart_goes_on_from_the_committed_offsets_with_nothing_lost_or_doubled() {
    let cluster = Cluster::new(&[("lines", 6), ("counts", 3)]);
    let first = lines(1500, 2);
    cluster.produce("lines", 6, &unkeyed(&first));
    let dir = tempfile::tempdir().unwrap();
    let path = wordcount_to_kafka(&cluster, "", "").write(dir.path().join("p.toml"));
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    assert_eq!(
        counts_in_topic(&cluster),
        reference_counts(first.iter().map(String::as_str))
    );
    let second = lines(1500, 3);
    cluster.produce("lines", 6, &unkeyed(&second));
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let expected = reference_counts(first.iter().chain(&second).map(String::as_str));
    assert_eq!(counts_in_topic(&cluster), expected);
    assert_eq!(read_counts(dir.path()), expected);
}

#[test]
fn brokers_lost_while_running_delay_the_batches_and_nothing_is_lost() {
    let cluster = Cluster::new(&[("lines", 6), ("counts", 3)]);
    let first = lines(600, 4);
    cluster.produce("lines", 6, &unkeyed(&first));
    let dir = tempfile::tempdir().unwrap();
    let path = wordcount_to_kafka(&cluster, "", "").write(dir.path().join("p.toml"));
    let child = sluice(&["run", path.to_str().unwrap(), "--stop-when-idle", "4"])
        .env("SLUICE_LOG", "warn")
        .spawn()
        .unwrap();
    let first_counts = reference_counts(first.iter().map(String::as_str));
    let deadline = Instant::now() + Duration::from_secs(60);
    // (`counts_in`, not `read_counts`: a batch may be being staged.)
    while counts_in(dir.path(), "counts") != first_counts {
        assert!(
            Instant::now() < deadline,
            "the first records were not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for broker in 1..=3 {
        cluster.mock.broker_down(broker).unwrap();
    }
    std::thread::sleep(Duration::from_secs(3));
    for broker in 1..=3 {
        cluster.mock.broker_up(broker).unwrap();
    }
    let second = lines(600, 5);
    cluster.produce("lines", 6, &unkeyed(&second));
    let output = wait(child, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stdout_of(&output);
    assert!(
        stderr.contains("the brokers do not answer; the batch waits"),
        "{stderr}"
    );
    let expected = reference_counts(first.iter().chain(&second).map(String::as_str));
    assert_eq!(read_counts(dir.path()), expected);
    assert_eq!(counts_in_topic(&cluster), expected);
}

#[test]
fn keys_and_record_metadata_are_given_as_declared() {
    let cluster = Cluster::new(&[("events", 2)]);
    cluster.produce(
        "events",
        2,
        &[
            (Some("alice"), "login"),
            (Some("bob"), "view"),
            (Some("alice"), "logout"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("200ms")
        .raw(&kafka_source(
            &cluster,
            "events",
            "key = \"text\"\nvalue = \"record\"",
        ))
        .text_files("files", "events", "out/events", "format = \"jsonl\"")
        .write(dir.path().join("p.toml"));
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let mut records: Vec<serde_json::Value> = sink_lines(dir.path(), "events")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    records.sort_by_key(|r| {
        (
            r["key"].as_str().unwrap().to_owned(),
            r["value"]["offset"].as_i64(),
        )
    });
    assert_eq!(records.len(), 3);
    let alice: Vec<(&str, &str, i64)> = records
        .iter()
        .filter(|r| r["key"] == "alice")
        .map(|r| {
            let v = &r["value"];
            assert_eq!(v["topic"], "events");
            assert!(v["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
            (
                v["key"].as_str().unwrap(),
                v["value"].as_str().unwrap(),
                v["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(alice, [("alice", "login", 0), ("alice", "logout", 1)]);
}

#[test]
fn the_transactional_sink_writes_each_batch_in_a_transaction() {
    let cluster = Cluster::new(&[("lines", 6), ("counts", 3)]);
    let input = lines(900, 6);
    cluster.produce("lines", 6, &unkeyed(&input));
    let dir = tempfile::tempdir().unwrap();
    let path = wordcount_to_kafka(
        &cluster,
        "max_records_per_partition = 50",
        "delivery = \"transactional\"",
    )
    .write(dir.path().join("p.toml"));
    let output = sluice(&["run", path.to_str().unwrap(), "--stop-when-idle", "2"])
        .env("SLUICE_LOG", "info,sluice::sink::kafka=debug")
        .spawn()
        .unwrap();
    let output = wait(output, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stdout_of(&output);
    let expected = reference_counts(input.iter().map(String::as_str));
    assert_eq!(counts_in_topic(&cluster), expected);
    assert_eq!(read_counts(dir.path()), expected);
    assert!(
        stderr.contains("each batch's consumed Kafka offsets are committed in the sink's transaction, after the other sinks are written") && stderr.contains("sink=\"topic\""),
        "{stderr}"
    );
    // 900 records, at most 6 × 50 a batch: three batches, each committing
    // its offsets in its transaction (which the mock accepts but does not
    // persist; the group's offsets then come from the commit after it).
    let in_transaction = stderr
        .lines()
        .filter(|l| l.contains("the batch's consumed offsets are in its transaction"))
        .count();
    assert_eq!(in_transaction, 3, "{stderr}");
}

#[test]
fn unreachable_brokers_fail_the_start_within_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("1s")
        .raw("[sources.events]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:9\"\ntopics = [\"t\"]\ngroup = \"g\"\nconnect_timeout = \"2s\"\n")
        .pprint("out", "events")
        .write(dir.path().join("p.toml"));
    let started = Instant::now();
    let output = run(&["run", path.to_str().unwrap()]);
    let stderr = stderr_of_failure(&output);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("source `events`: reading the metadata of topic `t`")
            || stderr.contains("source `events`: the Kafka brokers `127.0.0.1:9` did not answer within 2s (`connect_timeout`)"),
        "{stderr}"
    );
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
}

#[test]
fn a_missing_topic_is_refused_for_the_source_and_the_sink() {
    let cluster = Cluster::new(&[("lines", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("1s")
        .raw(&kafka_source(&cluster, "nope", ""))
        .pprint("out", "events")
        .write(dir.path().join("p.toml"));
    let stderr = stderr_of_failure(&run(&["run", path.to_str().unwrap()]));
    assert!(
        stderr.contains(&format!(
            "source `events`: topic `nope` does not exist on the Kafka brokers `{}`; create it, or fix `topics`",
            cluster.bootstrap
        )),
        "{stderr}"
    );
    let path = PipelineFile::new("1s")
        .raw(&kafka_source(&cluster, "lines", ""))
        .raw(&format!(
            "[sinks.topic]\nfrom = \"events\"\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"missing\"\n",
            cluster.bootstrap
        ))
        .write(dir.path().join("p.toml"));
    let output = run(&["run", path.to_str().unwrap()]);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains(&format!(
            "pipeline `p`, sink `topic`: topic `missing` does not exist on the Kafka brokers `{}`; create it, or fix `topic`",
            cluster.bootstrap
        )),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}

#[test]
fn an_authorization_failure_names_the_topic_and_the_settings_to_check() {
    let cluster = Cluster::new(&[("secret", 1)]);
    cluster
        .mock
        .topic_error(
            "secret",
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("1s")
        .raw(&kafka_source(&cluster, "secret", ""))
        .pprint("out", "events")
        .write(dir.path().join("p.toml"));
    let stderr = stderr_of_failure(&run(&["run", path.to_str().unwrap()]));
    assert!(
        stderr.contains("source `events`: topic `secret`:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check `sasl.*` / `ssl.*` under `properties` and the ACLs"),
        "{stderr}"
    );
}

#[test]
fn a_record_too_large_for_the_producer_fails_the_batch_with_the_limit_named() {
    let cluster = Cluster::new(&[("lines", 1), ("counts", 1)]);
    let long = "x".repeat(5000);
    cluster.produce("lines", 1, &[(None, long.as_str())]);
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("200ms")
        .raw(&kafka_source(&cluster, "lines", ""))
        .raw(&format!(
            "[sinks.topic]\nfrom = \"events\"\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"counts\"\n[sinks.topic.properties]\n\"message.max.bytes\" = 2000\n",
            cluster.bootstrap
        ))
        .write(dir.path().join("p.toml"));
    let output = run(&["run", path.to_str().unwrap(), "--stop-when-idle", "2"]);
    let stderr = stderr_of_failure(&output);
    assert!(stderr.contains("sink `topic`"), "{stderr}");
    assert!(
        stderr.contains(
            "a record is larger than the broker or producer allows (`message.max.bytes`)"
        ),
        "{stderr}"
    );
    // Nothing was committed: a run with the limit raised reads it again.
    let path = PipelineFile::new("200ms")
        .raw(&kafka_source(&cluster, "lines", ""))
        .raw(&format!(
            "[sinks.topic]\nfrom = \"events\"\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"counts\"\n",
            cluster.bootstrap
        ))
        .write(dir.path().join("p.toml"));
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let written = cluster.consume_all("counts");
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].payload().unwrap(), long.as_bytes());
}

#[test]
fn kafka_keys_are_refused_where_they_do_not_apply_and_reserved_properties_too() {
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("[sources.events]\nkind = \"kafka\"\nbrokers = \"k:9092\"\ntopics = [\"t\"]\n")
            .pprint("out", "events"),
    );
    assert!(
        stderr.contains("source `events`: a `kafka` source needs `group`, the consumer group its offsets are committed to"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("[sources.events]\nkind = \"kafka\"\nbrokers = \"k:9092\"\ntopics = [\"t\"]\ngroup = \"g\"\n[sources.events.properties]\n\"enable.auto.commit\" = true\n")
            .pprint("out", "events"),
    );
    assert!(
        stderr.contains("source `events`: property `enable.auto.commit` is set by Sluice: Sluice commits offsets itself, after the batch's outputs are written"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .files_source("lines", "in", "topics = [\"t\"]")
            .pprint("out", "lines"),
    );
    assert!(
        stderr.contains("source `lines`: `topics` does not apply to a `files` source"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("[sources.events]\nkind = \"kafka\"\nbrokers = \"k9092\"\ntopics = [\"t\"]\ngroup = \"g\"\n")
            .pprint("out", "events"),
    );
    assert!(
        stderr.contains("`brokers` must list `host:port` entries separated by commas"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("[sources.events]\nkind = \"kafka\"\nbrokers = \"k:9092\"\ntopics = [\"t\"]\ntopic_pattern = \"t.*\"\ngroup = \"g\"\n")
            .pprint("out", "events"),
    );
    assert!(
        stderr.contains("source `events`: set `topics` or `topic_pattern`, not both"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("[sources.events]\nkind = \"kafka\"\nbrokers = \"k:9092\"\ntopic_pattern = \"events-(\"\ngroup = \"g\"\n")
            .pprint("out", "events"),
    );
    assert!(
        stderr.contains(
            "source `events`: `topic_pattern` is not a regular expression: unclosed group"
        ),
        "{stderr}"
    );
}

#[test]
fn a_topic_pattern_reads_every_matching_topic_and_those_created_later() {
    let cluster = Cluster::new(&[
        ("events-a", 2),
        ("events-b", 1),
        ("other", 1),
        ("events", 1),
    ]);
    cluster.produce("events-a", 2, &[(None, "a1"), (None, "a2"), (None, "a3")]);
    cluster.produce("events-b", 1, &[(None, "b1")]);
    cluster.produce("other", 1, &[(None, "o1")]);
    cluster.produce("events", 1, &[(None, "e1")]);
    let dir = tempfile::tempdir().unwrap();
    let path = PipelineFile::new("200ms")
        .raw(&format!(
            "[sources.events]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic_pattern = \"events-.*\"\ngroup = \"g\"\nstarting_offsets = \"earliest\"\n",
            cluster.bootstrap
        ))
        .text_files("files", "events", "out/events", "")
        .write(dir.path().join("p.toml"));
    let child = sluice(&["run", path.to_str().unwrap(), "--stop-when-idle", "25"])
        .spawn()
        .unwrap();
    let read = || {
        let mut lines = sink_lines(dir.path(), "events");
        lines.sort();
        lines
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // The pattern matches whole names: `events` and `other` stay out.
    while read() != ["'a1'", "'a2'", "'a3'", "'b1'"] {
        assert!(Instant::now() < deadline, "{:?}", read());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A topic created while the pipeline runs joins at its first record.
    cluster.mock.create_topic("events-c", 2, 3).unwrap();
    cluster.produce("events-c", 2, &[(None, "c1"), (None, "c2")]);
    cluster.produce("events-a", 2, &[(None, "a4")]);
    stdout_of(&wait(child, Duration::from_secs(120)));
    assert_eq!(
        read(),
        ["'a1'", "'a2'", "'a3'", "'a4'", "'b1'", "'c1'", "'c2'"]
    );
}

#[test]
fn status_shows_each_partitions_offset_and_lag() {
    let cluster = Cluster::new(&[("lines", 2)]);
    let input: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    cluster.produce("lines", 2, &unkeyed(&input));
    let dir = tempfile::tempdir().unwrap();
    // 5 records per partition a batch of 1 s: the status taken after the
    // first batch shows offsets 5 and lags 15.
    let path = PipelineFile::new("1s")
        .raw(&kafka_source(
            &cluster,
            "lines",
            "max_records_per_partition = 5",
        ))
        .text_files("files", "events", "out/lines", "")
        .write(dir.path().join("p.toml"));
    let child = sluice(&["run", path.to_str().unwrap(), "--max-batches", "3"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        assert!(Instant::now() < deadline, "no status with a batch done");
        let output = run(&["status", "--pipeline", path.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() && text.contains("topic lines partition 1") {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    stdout_of(&wait(child, Duration::from_secs(60)));
    let partitions: Vec<&str> = status
        .lines()
        .filter(|l| l.trim_start().starts_with("topic lines"))
        .collect();
    assert_eq!(partitions.len(), 2, "{status}");
    let batches = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("batches: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap();
    for (partition, line) in partitions.iter().enumerate() {
        let offset = 5 * batches;
        assert_eq!(
            line.trim(),
            format!(
                "topic lines partition {partition}: offset {offset}, lag {}",
                20 - offset
            ),
            "{status}"
        );
    }
}

#[test]
fn a_checkpointed_pipeline_resumes_from_its_checkpoint_not_the_group() {
    let cluster = Cluster::new(&[("lines", 3)]);
    let first: Vec<String> = (0..30).map(|i| format!("a{i}")).collect();
    cluster.produce("lines", 3, &unkeyed(&first));
    let dir = tempfile::tempdir().unwrap();
    let pipeline = |group: &str| {
        PipelineFile::new("200ms")
            .raw("checkpoint = true")
            .raw(&format!(
                "[sources.events]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"lines\"]\ngroup = \"{group}\"\nstarting_offsets = \"earliest\"\n",
                cluster.bootstrap
            ))
            .text_files("files", "events", "out/lines", "")
            .write(dir.path().join("p.toml"))
    };
    let path = pipeline("first");
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let second: Vec<String> = (0..30).map(|i| format!("b{i}")).collect();
    cluster.produce("lines", 3, &unkeyed(&second));
    // Another group has no committed offsets: the checkpoint decides.
    let path = pipeline("second");
    stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let mut all = sink_lines(dir.path(), "lines");
    all.sort();
    let mut expected: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|l| format!("'{l}'"))
        .collect();
    expected.sort();
    assert_eq!(all, expected);
}

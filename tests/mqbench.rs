//! `mqbench producer` and `mqbench consumer` (`bolide_client::bench`) against a name server
//! and a broker run in-process on 127.0.0.1:0, their output read from a buffer: `--count` is
//! exact, the periodic lines have RocketMQ's fields, the JSON summaries add up, and the
//! consumer verifies every body, catching a damaged one and a foreign one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bolide_client::bench::body::BodyFactory;
use bolide_client::bench::{ConsumerArgs, ProducerArgs, run_consumer, run_producer};
use bolide_client::producer::{Message, Producer};
use serde_json::Value;

use common::Cluster;

/// A bound on a run that should end by itself (`--count`, `--idle`), so a broken one fails
/// instead of hanging.
const SAFETY_SECONDS: &str = "60";

/// Runs `mqbench producer args`: its output lines and its parsed JSON summary (the last line).
async fn produce(args: &[&str]) -> (Vec<String>, Value) {
    let args = ProducerArgs::try_from_args(args).unwrap();
    let mut out = Vec::new();
    run_producer(&args, &mut out, std::future::pending())
        .await
        .unwrap();
    split_output(out)
}

/// Runs `mqbench consumer args`, like [`produce`].
async fn consume(args: &[&str]) -> (Vec<String>, Value) {
    let args = ConsumerArgs::try_from_args(args).unwrap();
    let mut out = Vec::new();
    run_consumer(&args, &mut out, std::future::pending())
        .await
        .unwrap();
    split_output(out)
}

fn split_output(out: Vec<u8>) -> (Vec<String>, Value) {
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let summary = serde_json::from_str(lines.last().expect("some output"))
        .unwrap_or_else(|error| panic!("the last line is not JSON ({error}):\n{text}"));
    (lines, summary)
}

/// The `name: value` fields of a periodic line, after its `Current Time: ...` field.
fn fields(line: &str) -> Vec<(String, String)> {
    let mut parts = line.split(" | ");
    let time = parts.next().unwrap();
    assert!(time.starts_with("Current Time: 20"), "{line}");
    parts
        .map(|part| {
            let (name, value) = part.split_once(": ").unwrap();
            (name.to_owned(), value.trim().to_owned())
        })
        .collect()
}

fn number(summary: &Value, name: &str) -> f64 {
    summary[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {name} in {summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_count_is_exact_and_the_consumer_verifies_every_body() {
    let cluster = Cluster::start(1000).await;
    let namesrv = cluster.namesrv.addr.clone();
    let (lines, summary) = produce(&[
        "-n",
        &namesrv,
        "-t",
        "BenchCount",
        "-w",
        "8",
        "-s",
        "200",
        "-k",
        "true",
        "--count",
        "300",
    ])
    .await;
    assert!(
        lines[0]
            .starts_with("topic: BenchCount, threadCount: 8, messageSize: 200, keyEnable: true"),
        "{}",
        lines[0]
    );
    assert_eq!(summary["benchmark"], "producer");
    assert_eq!(summary["ended_by"], "count");
    assert_eq!(summary["sent"], 300);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["send_failed"], 0);
    assert_eq!(summary["response_failed"], 0);
    assert!(number(&summary, "tps") > 0.0);
    let percentiles: Vec<f64> = ["p50_ms", "p99_ms", "p999_ms", "max_ms"]
        .iter()
        .map(|name| number(&summary, name))
        .collect();
    assert!(percentiles[0] > 0.0, "{summary}");
    assert!(percentiles.is_sorted(), "{summary}");

    // Next to the benchmark's messages: a benchmark body damaged in one byte, and a message
    // that is not a benchmark body at all.
    let producer = Producer::builder()
        .namesrv_addr(&namesrv)
        .group("bench_test_producer")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let mut damaged = BodyFactory::new(200).unwrap().body(0).to_vec();
    damaged[100] ^= 0x04;
    producer
        .send(Message::new("BenchCount", damaged))
        .await
        .unwrap();
    producer
        .send(Message::new("BenchCount", "Hello RocketMQ 0"))
        .await
        .unwrap();
    producer.shutdown().await;

    let (lines, summary) = consume(&[
        "-n",
        &namesrv,
        "-t",
        "BenchCount",
        "-g",
        "bench_verify",
        "--from-first",
        "--idle",
        "3",
        "--duration",
        SAFETY_SECONDS,
    ])
    .await;
    assert!(
        lines[0].starts_with("topic: BenchCount, threadCount 20"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "Consumer Started.");
    assert_eq!(summary["benchmark"], "consumer");
    assert_eq!(summary["ended_by"], "idle");
    assert_eq!(summary["received"], 302, "{summary}");
    assert_eq!(summary["distinct"], 300, "{summary}");
    assert_eq!(summary["duplicates"], 0, "{summary}");
    assert_eq!(summary["corrupt"], 1, "{summary}");
    assert_eq!(summary["foreign"], 1, "{summary}");
    assert_eq!(summary["missing"], 0, "{summary}");
    assert_eq!(summary["producers"], 1, "{summary}");
    assert!(number(&summary, "tps") > 0.0);
    assert!(
        summary["first_problem"].as_str().unwrap().contains("CRC32")
            || summary["first_problem"].as_str().unwrap().contains("magic"),
        "{summary}"
    );
    // Three idle seconds: at least two periodic lines, in RocketMQ's shape.
    let periodic: Vec<_> = lines[2..lines.len() - 1]
        .iter()
        .map(|l| fields(l))
        .collect();
    assert!(periodic.len() >= 2, "{lines:#?}");
    let names: Vec<&str> = periodic[0].iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Consume TPS",
            "AVG(B2C) RT(ms)",
            "AVG(S2C) RT(ms)",
            "MAX(B2C) RT(ms)",
            "MAX(S2C) RT(ms)",
            "Consume Fail"
        ]
    );
    for line in &periodic {
        for (name, value) in line {
            assert!(value.parse::<f64>().is_ok(), "{name}: {value}");
        }
    }
    let consumed: u64 = periodic
        .iter()
        .map(|line| line[0].1.parse::<u64>().unwrap())
        .sum();
    assert!(
        consumed <= 302 * 2,
        "per-second rates of a 302-message run: {lines:#?}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_sends_of_short_bodies_are_verified_through_their_property() {
    let cluster = Cluster::start(1000).await;
    let namesrv = cluster.namesrv.addr.clone();
    // 10-byte bodies, too short for the header: the check travels in a property.
    let (_, summary) = produce(&[
        "-n",
        &namesrv,
        "-t",
        "BenchAsync",
        "-y",
        "true",
        "-s",
        "10",
        "-p",
        "64",
        "-l",
        "3",
        "--count",
        "2000",
    ])
    .await;
    assert_eq!(summary["async"], true);
    assert_eq!(summary["sent"], 2000, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");

    let (_, summary) = consume(&[
        "-n",
        &namesrv,
        "-t",
        "BenchAsync",
        "-g",
        "bench_async",
        "--from-first",
        "--count",
        "2000",
        "--duration",
        SAFETY_SECONDS,
    ])
    .await;
    assert_eq!(summary["ended_by"], "count", "{summary}");
    assert_eq!(summary["distinct"], 2000, "{summary}");
    assert_eq!(summary["corrupt"], 0, "{summary}");
    assert_eq!(summary["foreign"], 0, "{summary}");
    assert_eq!(summary["missing"], 0, "{summary}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_prints_rocketmqs_line_once_a_second() {
    let cluster = Cluster::start(1000).await;
    let namesrv = cluster.namesrv.addr.clone();
    let started = std::time::Instant::now();
    let (lines, summary) = produce(&[
        "-n",
        &namesrv,
        "-t",
        "BenchDuration",
        "-w",
        "2",
        "--duration",
        "2",
    ])
    .await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(summary["ended_by"], "duration");
    assert_eq!(summary["failed"], 0, "{summary}");
    let sent = summary["sent"].as_u64().unwrap();
    assert!(sent > 0);
    let periodic: Vec<_> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| fields(l))
        .collect();
    assert!(!periodic.is_empty() && periodic.len() <= 3, "{lines:#?}");
    for line in &periodic {
        let names: Vec<&str> = line.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Send TPS",
                "Max RT(ms)",
                "Average RT(ms)",
                "Send Failed",
                "Response Failed"
            ]
        );
        assert!(line[0].1.parse::<u64>().unwrap() > 0, "{line:?}");
        line[1].1.parse::<u64>().unwrap();
        assert!(line[2].1.parse::<f64>().unwrap() > 0.0, "{line:?}");
        assert_eq!((line[3].1.as_str(), line[4].1.as_str()), ("0", "0"));
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_producer_that_cannot_send_says_why() {
    // Nothing listens on port 1: the first send fails, and the run with it.
    let args =
        ProducerArgs::try_from_args(["-n", "127.0.0.1:1", "--count", "5", "--timeout-ms", "500"])
            .unwrap();
    let mut out = Vec::new();
    let error = run_producer(&args, &mut out, std::future::pending())
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("first send"), "{error:#}");
}

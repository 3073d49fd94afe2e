//! Failover with our client: two name servers of which one is stopped, and two masters
//! (the 2m-noslave shape) of which one is killed with SIGKILL in the middle of sends.
//!
//! The killed broker is a real process: this test binary started again with
//! `BOLIDE_FAILOVER_CHILD` set runs only `child_broker`, which serves a broker until killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bolide_broker::config::BrokerConfig;
use bolide_broker::server::Listeners;
use bolide_client::consumer::{ConsumeFromWhere, ConsumeStatus, PushConsumer};
use bolide_client::producer::{Message, Producer, SendStatus};
use bolide_client::remoting::shutdown_channel;
use tokio::net::TcpListener;

use common::{ChildProcess, WAIT_LIMIT, free_port, start_broker, start_namesrv, wait_for};

const CHILD_ENV: &str = "BOLIDE_FAILOVER_CHILD";

/// Bodies received by a consumer, as strings.
type Received = Arc<Mutex<BTreeSet<String>>>;

async fn producer(namesrv: &str, group: &str) -> Producer {
    let producer = Producer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .refresh_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

async fn start_consumer(namesrv: &str, group: &str, topic: &str) -> (PushConsumer, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .subscribe(topic, "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_millis(500))
        .persist_interval(Duration::from_secs(1))
        .listener(move |messages| {
            let mut sink = sink.lock().unwrap();
            for message in messages {
                sink.insert(String::from_utf8_lossy(&message.body).into_owned());
            }
            ConsumeStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, received)
}

async fn wait_for_all(what: &str, received: &Received, expected: &BTreeSet<String>) {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let missing = expected.difference(&received.lock().unwrap()).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {missing} of {} messages never arrived",
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `prefix-0..count` and returns the bodies, every send must succeed.
async fn send_all(
    producer: &Producer,
    topic: &str,
    prefix: &str,
    count: usize,
) -> BTreeSet<String> {
    let mut sent = BTreeSet::new();
    for i in 0..count {
        let body = format!("{prefix}-{i}");
        let result = producer
            .send(Message::new(topic, body.clone()))
            .await
            .unwrap_or_else(|e| panic!("send {body}: {e}"));
        assert_eq!(result.send_status, SendStatus::SendOk);
        sent.insert(body);
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_one_of_two_name_servers_leaves_clients_working() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ns1")).unwrap();
    std::fs::create_dir(dir.path().join("ns2")).unwrap();
    let first = start_namesrv(&dir.path().join("ns1")).await;
    let second = start_namesrv(&dir.path().join("ns2")).await;
    let both = format!("{};{}", first.addr, second.addr);
    let broker = start_broker(dir.path(), "broker-a", &both, |_| {}).await;

    let producer = producer(&both, "pg_ns_failover").await;
    let (consumer, received) = start_consumer(&both, "cg_ns_failover", "NsFailover").await;
    let mut sent = send_all(&producer, "NsFailover", "before", 100).await;
    wait_for_all("before the stop", &received, &sent).await;

    first.stop().await;
    // The running clients go on: sends, route refreshes and rebalances use the survivor.
    sent.extend(send_all(&producer, "NsFailover", "after", 100).await);
    wait_for_all("after the stop", &received, &sent).await;
    // New clients start too, whichever name server they try first (the choice is random,
    // so several of them make it near-certain that one starts with the stopped one).
    for n in 0..4 {
        let late = self::producer(&both, &format!("pg_ns_late_{n}")).await;
        sent.extend(send_all(&late, "NsFailover", &format!("late{n}"), 5).await);
        late.shutdown().await;
    }
    let (late_consumer, late_received) = start_consumer(&both, "cg_ns_late", "NsFailover").await;
    wait_for_all("a group started after the stop", &late_received, &sent).await;
    wait_for_all("the first group", &received, &sent).await;

    late_consumer.shutdown().await;
    consumer.shutdown().await;
    producer.shutdown().await;
    broker.stop().await;
    second.stop().await;
}

/// The child's side: serves `broker-b` per the environment until it is killed.
#[test]
#[ignore = "entry point of the broker process that failover tests start and kill"]
fn child_broker() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (port, namesrv, dir) = (
        parts.next().unwrap().parse::<u16>().unwrap(),
        parts.next().unwrap().to_owned(),
        PathBuf::from(parts.next().unwrap()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let main = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let config = BrokerConfig {
            broker_cluster_name: "DefaultCluster".to_owned(),
            broker_name: "broker-b".to_owned(),
            namesrv_addr: Some(namesrv),
            broker_ip1: loopback,
            broker_ip2: loopback,
            listen_port: port,
            store_path_root_dir: dir,
            mapped_file_size_commit_log_bytes: 16 * 1024 * 1024,
            max_hash_slot_num: 50_000,
            max_index_num: 200_000,
            ..BrokerConfig::default()
        };
        let (_trigger, shutdown) = shutdown_channel();
        bolide_broker::server::run(
            config,
            Listeners {
                main,
                fast: None,
                ha: None,
            },
            shutdown,
        )
        .await
        .unwrap();
    });
}

/// The broker process of `child_broker`, serving `broker-b` on `port`.
fn start_child_broker(port: u16, namesrv: &str, dir: &Path) -> ChildProcess {
    let spec = format!("{port}|{namesrv}|{}", dir.display());
    ChildProcess::start("child_broker", CHILD_ENV, &spec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_of_two_masters_moves_sends_to_the_other_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker_a = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    let port_b = free_port();
    let store_b = dir.path().join("broker-b");
    let broker_b = start_child_broker(port_b, &namesrv.addr, &store_b);
    let client = common::namesrv_client();
    wait_for("broker-b's registration", || async {
        client
            .route(&namesrv.addr, "TBW102")
            .await
            .ok()
            .flatten()
            .is_some_and(|route| route.broker_datas.len() == 2)
    })
    .await;

    let producer = Arc::new(producer(&namesrv.addr, "pg_broker_failover").await);
    // Create the topic on both brokers, so that the producer's route lists both.
    let mut warm = BTreeSet::new();
    let mut brokers = BTreeSet::new();
    for i in 0..200 {
        let body = format!("warm-{i}");
        let result = producer
            .send(Message::new("BrokerFailover", body.clone()))
            .await
            .unwrap();
        warm.insert(body);
        brokers.insert(result.message_queue.broker_name);
        if brokers.len() == 2 {
            break;
        }
    }
    assert_eq!(brokers.len(), 2, "the topic lives on both brokers");

    // Four senders keep going while broker-b is killed; every send must end acknowledged
    // (the retry budget moves it to broker-a), and every acknowledged body is recorded.
    let acknowledged: Received = Arc::new(Mutex::new(warm));
    let stop = Arc::new(AtomicBool::new(false));
    let after_kill = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (producer, acknowledged, stop, killed, after_kill) = (
            producer.clone(),
            acknowledged.clone(),
            stop.clone(),
            killed.clone(),
            after_kill.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut sequence = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("s{sender}-{sequence}");
                sequence += 1;
                let was_killed = killed.load(Ordering::Relaxed);
                let result = producer
                    .send(Message::new("BrokerFailover", body.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("send {body} failed despite retries: {e}"));
                assert_eq!(result.send_status, SendStatus::SendOk);
                if was_killed {
                    assert_eq!(result.message_queue.broker_name, "broker-a");
                    after_kill.fetch_add(1, Ordering::Relaxed);
                }
                acknowledged.lock().unwrap().insert(body);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    broker_b.kill();
    killed.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(
        after_kill.load(Ordering::Relaxed) > 50,
        "sends went on after the kill"
    );

    // broker-b comes back on the same store: together the two brokers hold every
    // acknowledged message, and a new group reads them all.
    let broker_b = start_child_broker(port_b, &namesrv.addr, &store_b);
    wait_for("broker-b back in the route", || async {
        client
            .route(&namesrv.addr, "BrokerFailover")
            .await
            .ok()
            .flatten()
            .is_some_and(|route| route.broker_datas.len() == 2)
    })
    .await;
    let (consumer, received) =
        start_consumer(&namesrv.addr, "cg_broker_failover", "BrokerFailover").await;
    let expected = acknowledged.lock().unwrap().clone();
    wait_for_all("every acknowledged message", &received, &expected).await;

    consumer.shutdown().await;
    producer.shutdown().await;
    broker_b.kill();
    broker_a.stop().await;
    namesrv.stop().await;
}

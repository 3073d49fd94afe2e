//! Push-consumer modes beyond plain concurrent clustering, against an in-process name server
//! and broker: orderly consumption (per-key order across a consumer restart, local retry,
//! the DLQ after the limit), the concurrent DLQ after `max_reconsume_times`, broadcasting
//! offsets kept in the local file across a restart, CONSUME_FROM_TIMESTAMP, and zstd/LZ4
//! bodies reaching the listener inflated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolide_client::consumer::{
    ConsumeFromWhere, ConsumeOrderlyStatus, ConsumeStatus, MessageModel, PushConsumer,
    StoredMessage,
};
use bolide_client::producer::{CompressionType, Message, Producer};
use bolide_client::protocol::broker_header::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};

use common::{Cluster, TIMEOUT, wait_for};

const DELAY_LEVEL_MS: u64 = 200;

async fn producer(cluster: &Cluster, compression: CompressionType) -> Producer {
    let producer = Producer::builder()
        .namesrv_addr(&cluster.namesrv.addr)
        .group("modes_producer")
        .compression_type(compression)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// The bodies the listener saw, as text, in the order it saw them.
type Log = Arc<Mutex<Vec<String>>>;

fn text(message: &StoredMessage) -> String {
    String::from_utf8(message.body.to_vec()).unwrap()
}

/// A builder with quick rebalances and commits, so tests need not wait for Java's periods.
fn builder(
    cluster: &Cluster,
    group: &str,
    instance: &str,
    topic: &str,
) -> bolide_client::consumer::PushConsumerBuilder {
    PushConsumer::builder()
        .namesrv_addr(&cluster.namesrv.addr)
        .group(group)
        .instance_name(instance)
        .subscribe(topic, "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_secs(1))
        .persist_interval(Duration::from_secs(1))
}

async fn max_offset(cluster: &Cluster, topic: &str, queue_id: i32) -> i64 {
    let client = RemotingClient::new(ClientConfig::default());
    let header = GetMaxOffsetRequestHeader {
        topic: topic.to_owned(),
        queue_id,
        broker_name: None,
    };
    let request = RemotingCommand::request(RequestCode::GET_MAX_OFFSET, header.to_ext_fields());
    let response = client
        .invoke(&cluster.broker.addr, request, TIMEOUT)
        .await
        .unwrap();
    if response.code != ResponseCode::SUCCESS {
        return 0;
    }
    GetMaxOffsetResponseHeader::from_ext_fields(&response.ext_fields)
        .unwrap()
        .offset
}

/// An orderly consumer that logs every message it accepts and suspends once each message
/// whose sequence is 5 mod 13; counts the suspensions.
async fn orderly_consumer(
    cluster: &Cluster,
    instance: &str,
    log: &Log,
    suspended: &Arc<Mutex<HashSet<String>>>,
) -> PushConsumer {
    let (log, suspended) = (log.clone(), suspended.clone());
    let consumer = builder(cluster, "cg_orderly", instance, "Ordered")
        .suspend_current_queue_time(Duration::from_millis(50))
        .orderly_listener(move |messages| {
            let body = text(&messages[0]);
            let sequence: usize = body.split(':').nth(1).unwrap().parse().unwrap();
            if sequence % 13 == 5 && suspended.lock().unwrap().insert(body.clone()) {
                return ConsumeOrderlyStatus::SuspendCurrentQueueAMoment;
            }
            log.lock().unwrap().push(body);
            ConsumeOrderlyStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    consumer
}

async fn send_ordered(producer: &Producer, sequences: std::ops::Range<usize>) {
    for sequence in sequences {
        for key in 0..10 {
            let message = Message::new("Ordered", format!("k{key}:{sequence}"));
            producer
                .send_orderly(message, &format!("k{key}"))
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orderly_consumption_keeps_each_key_in_order_across_a_restart() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster, CompressionType::Zlib).await;
    let log: Log = Arc::default();
    let suspended = Arc::default();

    send_ordered(&producer, 0..20).await;
    let first = orderly_consumer(&cluster, "first", &log, &suspended).await;
    wait_for("the first 200 messages", || async {
        log.lock().unwrap().len() >= 200
    })
    .await;
    // More arrive while it runs; it is stopped in the middle of them.
    send_ordered(&producer, 20..30).await;
    first.shutdown().await;
    send_ordered(&producer, 30..40).await;
    let second = orderly_consumer(&cluster, "second", &log, &suspended).await;
    wait_for("all 400 messages", || async {
        log.lock().unwrap().len() >= 400
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Per key, exactly 0..40 in order: no gap, no repeat, no reordering, although the
    // consumer changed and some messages were suspended and offered again.
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for body in log.lock().unwrap().iter() {
        let (key, sequence) = body.split_once(':').unwrap();
        per_key
            .entry(key.to_owned())
            .or_default()
            .push(sequence.parse().unwrap());
    }
    assert_eq!(per_key.len(), 10);
    for (key, sequences) in &per_key {
        assert_eq!(sequences, &(0..40).collect::<Vec<_>>(), "key {key}");
    }
    assert_eq!(
        suspended.lock().unwrap().len(),
        10 * 3,
        "every 5 mod 13 was suspended once"
    );

    second.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orderly_message_suspended_too_often_goes_to_the_dlq() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster, CompressionType::Zlib).await;
    for body in ["a:0", "poison:1", "b:2"] {
        producer
            .send_orderly(Message::new("OrderedPoison", body), "one key")
            .await
            .unwrap();
    }
    let attempts: Log = Arc::default();
    let sink = attempts.clone();
    let consumer = builder(&cluster, "cg_orderly_dlq", "one", "OrderedPoison")
        .suspend_current_queue_time(Duration::from_millis(50))
        .max_reconsume_times(1)
        .orderly_listener(move |messages| {
            let body = text(&messages[0]);
            sink.lock()
                .unwrap()
                .push(format!("{body}/{}", messages[0].reconsume_times));
            if body.starts_with("poison") {
                ConsumeOrderlyStatus::SuspendCurrentQueueAMoment
            } else {
                ConsumeOrderlyStatus::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("b after the poison", || async {
        attempts.lock().unwrap().iter().any(|a| a.starts_with("b:"))
    })
    .await;
    assert_eq!(
        *attempts.lock().unwrap(),
        ["a:0/0", "poison:1/0", "poison:1/1", "b:2/0"],
        "offered twice, then sent to the DLQ, and the queue moved on"
    );
    assert_eq!(max_offset(&cluster, "%DLQ%cg_orderly_dlq", 0).await, 1);

    consumer.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_refused_past_the_limit_goes_to_the_dlq() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster, CompressionType::Zlib).await;
    producer
        .send(Message::new("ConcurrentPoison", "poison"))
        .await
        .unwrap();
    producer
        .send(Message::new("ConcurrentPoison", "fine"))
        .await
        .unwrap();
    let attempts: Log = Arc::default();
    let sink = attempts.clone();
    let consumer = builder(&cluster, "cg_dlq", "one", "ConcurrentPoison")
        .max_reconsume_times(2)
        .listener(move |messages| {
            let body = text(&messages[0]);
            sink.lock()
                .unwrap()
                .push(format!("{body}/{}", messages[0].reconsume_times));
            if body == "poison" {
                ConsumeStatus::Later
            } else {
                ConsumeStatus::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("the poison message in the DLQ", || async {
        max_offset(&cluster, "%DLQ%cg_dlq", 0).await == 1
    })
    .await;
    // Long enough for a fourth delivery, were there one (a delay level is 200 ms).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut seen = attempts.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        ["fine/0", "poison/0", "poison/1", "poison/2"],
        "delivered 1 + max_reconsume_times times, then no more"
    );

    consumer.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

async fn broadcasting_consumer(
    cluster: &Cluster,
    dir: &std::path::Path,
    log: &Log,
) -> PushConsumer {
    let sink = log.clone();
    let consumer = builder(cluster, "cg_broadcast_file", "member", "BroadcastFile")
        .message_model(MessageModel::Broadcasting)
        .offset_store_dir(dir)
        .listener(move |messages| {
            sink.lock().unwrap().push(text(&messages[0]));
            ConsumeStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    consumer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broadcasting_offsets_survive_a_restart_in_the_local_file() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster, CompressionType::Zlib).await;
    let offsets_dir = cluster.dir.path().join("offsets");
    for i in 0..20 {
        producer
            .send(Message::new("BroadcastFile", format!("before-{i}")))
            .await
            .unwrap();
    }
    let log: Log = Arc::default();
    let member = broadcasting_consumer(&cluster, &offsets_dir, &log).await;
    wait_for("the first 20", || async { log.lock().unwrap().len() >= 20 }).await;
    let client_id = member.client_id().to_owned();
    member.shutdown().await;
    let file = offsets_dir
        .join(&client_id)
        .join("cg_broadcast_file")
        .join("offsets.json");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.starts_with("{\"offsetTable\":{{\"brokerName\":\"broker-a\""),
        "{saved}"
    );

    for i in 0..10 {
        producer
            .send(Message::new("BroadcastFile", format!("after-{i}")))
            .await
            .unwrap();
    }
    log.lock().unwrap().clear();
    // FIRST_OFFSET would read all 30 again; the file makes it continue after the 20.
    let member = broadcasting_consumer(&cluster, &offsets_dir, &log).await;
    wait_for("the 10 sent while it was down", || async {
        log.lock().unwrap().len() >= 10
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = log.lock().unwrap().clone();
    seen.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("after-{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);

    member.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consume_from_timestamp_skips_older_messages_and_bodies_arrive_inflated() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let zstd = producer(&cluster, CompressionType::Zstd).await;
    let lz4 = Producer::builder()
        .namesrv_addr(&cluster.namesrv.addr)
        .group("modes_lz4")
        .compression_type(CompressionType::Lz4)
        .build()
        .unwrap();
    lz4.start().await.unwrap();
    for i in 0..8 {
        zstd.send(Message::new("FromTime", format!("old-{i}")))
            .await
            .unwrap();
    }
    // Store times have millisecond resolution: step past the last old message.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let big = |prefix: &str, i: usize| format!("{prefix}-{i}-{}", "x".repeat(8000));
    let mut expected = Vec::new();
    for i in 0..4 {
        let body = big("zstd", i);
        zstd.send(Message::new("FromTime", body.clone()))
            .await
            .unwrap();
        expected.push(body);
        let body = big("lz4", i);
        lz4.send(Message::new("FromTime", body.clone()))
            .await
            .unwrap();
        expected.push(body);
    }
    let log: Log = Arc::default();
    let sink = log.clone();
    // Broadcasting, because a clustering group asks the broker first, and the broker (like
    // Java's) answers offset 0 for a new group while the queue still starts at 0: the
    // timestamp only decides for queues whose early messages are gone.
    let consumer = builder(&cluster, "cg_from_time", "one", "FromTime")
        .message_model(MessageModel::Broadcasting)
        .offset_store_dir(cluster.dir.path().join("offsets"))
        .consume_from_where(ConsumeFromWhere::Timestamp)
        .consume_timestamp_ms(since)
        .listener(move |messages| {
            sink.lock().unwrap().push(text(&messages[0]));
            ConsumeStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("the new messages", || async {
        log.lock().unwrap().len() >= 8
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = log.lock().unwrap().clone();
    seen.sort();
    expected.sort();
    // Compared by name, then in full, so a failure prints something readable.
    let name = |body: &String| body.split('-').take(2).collect::<Vec<_>>().join("-");
    let names = |bodies: &[String]| bodies.iter().map(name).collect::<Vec<_>>();
    assert_eq!(
        names(&seen),
        names(&expected),
        "only messages after the timestamp"
    );
    assert!(seen == expected, "bodies arrive inflated");

    consumer.shutdown().await;
    lz4.shutdown().await;
    zstd.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_consumer_adopts_an_offset_reset() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster, CompressionType::Zlib).await;
    for i in 0..20 {
        producer
            .send(Message::new("ResetRunning", format!("m{i}")))
            .await
            .unwrap();
    }
    let log: Log = Arc::default();
    let sink = log.clone();
    let consumer = builder(&cluster, "cg_reset_running", "one", "ResetRunning")
        .listener(move |messages| {
            sink.lock().unwrap().push(text(&messages[0]));
            ConsumeStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("the first pass", || async {
        log.lock().unwrap().len() == 20
    })
    .await;
    // Let a periodic commit of the old offsets happen, then reset while the member runs:
    // mqadmin resetOffsetByTime -g cg_reset_running -t ResetRunning -s 0 (forced).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let admin = bolide_client::admin::AdminClient::new(vec![cluster.namesrv.addr.clone()], TIMEOUT)
        .unwrap();
    let reset = admin
        .reset_offset_by_time("ResetRunning", "cg_reset_running", 0, true)
        .await
        .unwrap();
    assert!(reset.values().all(|&offset| offset == 0), "{reset:?}");
    wait_for("the second pass", || async {
        log.lock().unwrap().len() == 40
    })
    .await;
    // And the reset sticks: later commits do not put the old offsets back, so the second
    // pass is the last.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut seen = log.lock().unwrap().clone();
    seen.sort();
    let mut expected: Vec<String> = (0..20)
        .flat_map(|i| [format!("m{i}"), format!("m{i}")])
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "every message twice, no more");

    consumer.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

//! The push consumer (`bolide_client::consumer`) against a name server and a broker run
//! in-process on 127.0.0.1:0, fed by the producer: exactly-once delivery with one member,
//! the queue split between two members, tag filtering, redelivery from the retry topic, and
//! a new group reading a backlog from the first offset, and a broadcasting group.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolide_client::consumer::{
    ConsumeFromWhere, ConsumeStatus, MessageModel, PushConsumer, StoredMessage,
};
use bolide_client::producer::{Message, Producer};
use bolide_client::protocol::broker_header::{
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::message::property;
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};

use common::{Cluster, TIMEOUT, wait_for};

/// Every delay level, 3 included (the first retry), shortened so redelivery is quick.
const DELAY_LEVEL_MS: u64 = 200;

async fn producer(namesrv_addr: &str) -> Producer {
    let producer = Producer::builder()
        .namesrv_addr(namesrv_addr)
        .group("push_test_producer")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// Sends messages keyed `{prefix}-{i}` for `range`, tagged by `tag(i)`.
async fn send(
    producer: &Producer,
    topic: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
    tag: impl Fn(usize) -> String,
) {
    for i in range {
        let message = Message::new(topic, format!("body-{i}"))
            .with_tags(tag(i))
            .with_keys([format!("{prefix}-{i}")]);
        producer.send(message).await.unwrap();
    }
}

/// What a listener saw of one message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    key: String,
    tag: String,
    topic: String,
    reconsume_times: i32,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn record(log: &Log, messages: &[StoredMessage]) {
    assert_eq!(messages.len(), 1, "consume batch size is 1");
    let mut log = log.lock().unwrap();
    for message in messages {
        log.push(Seen {
            key: message
                .properties
                .get(property::KEYS)
                .unwrap_or_default()
                .to_owned(),
            tag: message.tags().unwrap_or_default().to_owned(),
            topic: message.topic.clone(),
            reconsume_times: message.reconsume_times,
        });
    }
}

/// A consumer of `topic` that logs every message and answers `Success`, unless `later`
/// says otherwise. Rebalances and commits every second so that tests are quick.
async fn consumer(
    cluster: &Cluster,
    group: &str,
    instance: &str,
    topic: &str,
    expression: &str,
    from: ConsumeFromWhere,
    later: impl Fn(&Seen) -> bool + Send + Sync + 'static,
) -> (PushConsumer, Log) {
    consumer_of_model(
        cluster,
        group,
        instance,
        (topic, expression),
        from,
        MessageModel::Clustering,
        later,
    )
    .await
}

async fn consumer_of_model(
    cluster: &Cluster,
    group: &str,
    instance: &str,
    (topic, expression): (&str, &str),
    from: ConsumeFromWhere,
    model: MessageModel,
    later: impl Fn(&Seen) -> bool + Send + Sync + 'static,
) -> (PushConsumer, Log) {
    let log: Log = Arc::default();
    let sink = log.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&cluster.namesrv.addr)
        .group(group)
        .instance_name(instance)
        .subscribe(topic, expression)
        .consume_from_where(from)
        .message_model(model)
        .rebalance_interval(Duration::from_secs(1))
        .persist_interval(Duration::from_secs(1))
        .listener(move |messages| {
            record(&sink, messages);
            let seen = sink.lock().unwrap().last().cloned().unwrap();
            if later(&seen) {
                ConsumeStatus::Later
            } else {
                ConsumeStatus::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, log)
}

fn keys(log: &Log) -> Vec<String> {
    let mut keys: Vec<String> = log.lock().unwrap().iter().map(|s| s.key.clone()).collect();
    keys.sort();
    keys
}

fn expected(prefix: &str, count: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    keys.sort();
    keys
}

/// The group's committed offsets of `topic`'s queues 0..4, summed.
async fn committed_sum(client: &RemotingClient, broker: &str, group: &str, topic: &str) -> i64 {
    let mut sum = 0;
    for queue_id in 0..4 {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: topic.to_owned(),
            queue_id,
            broker_name: None,
        };
        let request =
            RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, header.to_ext_fields());
        let response = client.invoke(broker, request, TIMEOUT).await.unwrap();
        if response.code == ResponseCode::SUCCESS {
            sum += QueryConsumerOffsetResponseHeader::from_ext_fields(&response.ext_fields)
                .unwrap()
                .offset;
        }
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_consumer_gets_every_message_exactly_once() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster.namesrv.addr).await;
    // A backlog before the consumer starts, the rest while it long-polls.
    send(&producer, "PushOnce", "k", 0..100, |_| "TagA".to_owned()).await;
    let (consumer, log) = consumer(
        &cluster,
        "cg_once",
        "one",
        "PushOnce",
        "*",
        ConsumeFromWhere::LastOffset,
        |_| false,
    )
    .await;
    send(&producer, "PushOnce", "k", 100..500, |_| "TagA".to_owned()).await;
    wait_for("500 messages", || async {
        log.lock().unwrap().len() >= 500
    })
    .await;
    // Time for duplicates to show up, were there any.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(keys(&log), expected("k", 500), "each message exactly once");
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|s| s.topic == "PushOnce" && s.reconsume_times == 0)
    );

    consumer.shutdown().await;
    let reader = RemotingClient::new(ClientConfig::default());
    wait_for("offsets committed at shutdown", || async {
        committed_sum(&reader, &cluster.broker.addr, "cg_once", "PushOnce").await == 500
    })
    .await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_consumers_split_the_queues_and_get_everything() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster.namesrv.addr).await;
    send(&producer, "PushSplit", "s", 0..1, |_| "TagA".to_owned()).await;
    let start = |instance: &'static str| {
        consumer(
            &cluster,
            "cg_split",
            instance,
            "PushSplit",
            "*",
            ConsumeFromWhere::LastOffset,
            |_| false,
        )
    };
    let (first, first_log) = start("first").await;
    let (second, second_log) = start("second").await;
    let topic_queues = |consumer: &PushConsumer| -> BTreeSet<i32> {
        consumer
            .owned_queues()
            .into_iter()
            .filter(|q| q.topic == "PushSplit")
            .map(|q| q.queue_id)
            .collect()
    };
    wait_for("a two-way split of the four queues", || async {
        let (a, b) = (topic_queues(&first), topic_queues(&second));
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;
    send(&producer, "PushSplit", "s", 1..201, |_| "TagA".to_owned()).await;
    let union = || {
        let mut all: BTreeSet<String> = keys(&first_log).into_iter().collect();
        all.extend(keys(&second_log));
        all
    };
    wait_for("all 201 messages between them", || async {
        union().len() == 201
    })
    .await;
    assert_eq!(union().into_iter().collect::<Vec<_>>(), expected("s", 201));
    assert!(!first_log.lock().unwrap().is_empty() && !second_log.lock().unwrap().is_empty());

    first.shutdown().await;
    second.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_filter_passes_only_subscribed_tags() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster.namesrv.addr).await;
    let tag = |i: usize| ["TagA", "TagB", "TagC"][i % 3].to_owned();
    send(&producer, "PushTags", "t", 0..30, tag).await;
    let (consumer, log) = consumer(
        &cluster,
        "cg_tags",
        "one",
        "PushTags",
        "TagA || TagB",
        ConsumeFromWhere::LastOffset,
        |_| false,
    )
    .await;
    send(&producer, "PushTags", "t", 30..60, tag).await;
    wait_for("the 40 TagA and TagB messages", || async {
        log.lock().unwrap().len() >= 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 40);
    assert!(seen.iter().all(|s| s.tag == "TagA" || s.tag == "TagB"));
    let wanted: Vec<String> = {
        let mut keys: Vec<String> = (0..60)
            .filter(|i| i % 3 != 2)
            .map(|i| format!("t-{i}"))
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&log), wanted);

    consumer.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn later_comes_back_from_the_retry_topic() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster.namesrv.addr).await;
    send(&producer, "PushRetry", "r", 0..1, |_| "TagA".to_owned()).await;
    let (consumer, log) = consumer(
        &cluster,
        "cg_retry",
        "one",
        "PushRetry",
        "*",
        ConsumeFromWhere::LastOffset,
        |seen| seen.key == "r-1" && seen.reconsume_times == 0,
    )
    .await;
    send(&producer, "PushRetry", "r", 1..3, |_| "TagA".to_owned()).await;
    wait_for("r-1 again, from the retry topic", || async {
        log.lock()
            .unwrap()
            .iter()
            .any(|s| s.key == "r-1" && s.reconsume_times == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = log.lock().unwrap().clone();
    let r1: Vec<&Seen> = seen.iter().filter(|s| s.key == "r-1").collect();
    assert_eq!(r1.len(), 2, "once refused, once accepted: {r1:?}");
    assert_eq!(r1[0].reconsume_times, 0);
    assert_eq!(r1[1].reconsume_times, 1);
    assert!(
        r1.iter().all(|s| s.topic == "PushRetry"),
        "the retry message shows its original topic"
    );
    let others: HashSet<&str> = seen
        .iter()
        .filter(|s| s.key != "r-1")
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(others, HashSet::from(["r-0", "r-2"]));

    consumer.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_group_from_first_offset_reads_the_backlog() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster.namesrv.addr).await;
    send(&producer, "PushBacklog", "b", 0..50, |_| "TagA".to_owned()).await;
    // An earlier group consumes everything and commits.
    let (early, early_log) = consumer(
        &cluster,
        "cg_early",
        "one",
        "PushBacklog",
        "*",
        ConsumeFromWhere::LastOffset,
        |_| false,
    )
    .await;
    wait_for("the early group's 50", || async {
        early_log.lock().unwrap().len() >= 50
    })
    .await;
    early.shutdown().await;

    let (late, late_log) = consumer(
        &cluster,
        "cg_late",
        "one",
        "PushBacklog",
        "*",
        ConsumeFromWhere::FirstOffset,
        |_| false,
    )
    .await;
    wait_for("the new group's 50", || async {
        late_log.lock().unwrap().len() >= 50
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(keys(&late_log), expected("b", 50));

    late.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broadcasting_members_each_get_everything() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let producer = producer(&cluster.namesrv.addr).await;
    send(&producer, "PushBroadcast", "c", 0..40, |_| {
        "TagA".to_owned()
    })
    .await;
    let start = |instance: &'static str| {
        consumer_of_model(
            &cluster,
            "cg_broadcast",
            instance,
            ("PushBroadcast", "*"),
            ConsumeFromWhere::FirstOffset,
            MessageModel::Broadcasting,
            // Refused once: dropped when broadcasting, never redelivered.
            |seen| seen.key == "c-7",
        )
    };
    let (first, first_log) = start("first").await;
    let (second, second_log) = start("second").await;
    assert_eq!(first.owned_queues().len(), 4, "every queue, no retry topic");
    send(&producer, "PushBroadcast", "c", 40..60, |_| {
        "TagA".to_owned()
    })
    .await;
    for log in [&first_log, &second_log] {
        wait_for("all 60 messages at each member", || async {
            log.lock().unwrap().len() >= 60
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(keys(&first_log), expected("c", 60));
    assert_eq!(keys(&second_log), expected("c", 60));

    first.shutdown().await;
    second.shutdown().await;
    producer.shutdown().await;
    cluster.stop().await;
}

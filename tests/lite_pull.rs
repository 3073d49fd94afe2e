//! The lite pull consumer (`bolide_client::lite_pull`) against a name server and a broker run
//! in-process on 127.0.0.1:0, fed by the producer: assign + poll reads each message once in
//! queue order, seeks re-read and skip, committed offsets carry over to a new consumer, two
//! subscribing members split the queues, tags filter, paused queues wait for their resume,
//! a poll of an empty topic times out empty, and shutdown ends a waiting poll.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide_client::lite_pull::{
    ConsumeFromWhere, LitePullConsumer, LitePullConsumerBuilder, LitePullError, MessageQueue,
    StoredMessage,
};
use bolide_client::producer::{Message, Producer};
use bolide_client::protocol::broker_header::CreateTopicRequestHeader;
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::message::property;
use bolide_client::protocol::route::perm;
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};

use common::{Cluster, TIMEOUT, WAIT_LIMIT, namesrv_client, wait_for};

/// A short poll, so that loops notice quickly when they are done.
const POLL: Duration = Duration::from_millis(200);
/// Delay levels play no part here (nothing is sent back).
const DELAY_LEVEL_MS: u64 = 1000;
/// A bound on shutdown, which must neither hang nor panic.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(15);

fn builder(cluster: &Cluster, group: &str, instance: &str) -> LitePullConsumerBuilder {
    LitePullConsumer::builder()
        .namesrv_addr(&cluster.namesrv.addr)
        .group(group)
        .instance_name(instance)
        .consume_from_where(ConsumeFromWhere::FirstOffset)
}

/// Sends the messages of `range` to `topic` (auto-created with 4 queues), keyed `{topic}-{i}`
/// and tagged `tag(i)`; returns how many each queue got.
async fn fill(
    cluster: &Cluster,
    topic: &str,
    range: std::ops::Range<usize>,
    tag: impl Fn(usize) -> &'static str,
) -> BTreeMap<i32, usize> {
    let producer = Producer::builder()
        .namesrv_addr(&cluster.namesrv.addr)
        .group("lite_pull_test_producer")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let mut per_queue = BTreeMap::new();
    for i in range {
        let message = Message::new(topic, format!("body-{i}"))
            .with_tags(tag(i))
            .with_keys([format!("{topic}-{i}")]);
        let sent = producer.send(message).await.unwrap();
        *per_queue.entry(sent.message_queue.queue_id).or_default() += 1;
    }
    producer.shutdown().await;
    per_queue
}

fn untagged(_: usize) -> &'static str {
    "TagA"
}

fn key(message: &StoredMessage) -> String {
    message
        .properties
        .get(property::KEYS)
        .unwrap_or_default()
        .to_owned()
}

fn keys(prefix: &str, range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// Polls until `count` messages came (failing after the wait limit); checks every poll's
/// size against the batch size of 10 and that it holds one queue's messages.
async fn poll_count(consumer: &LitePullConsumer, count: usize) -> Vec<StoredMessage> {
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut all = Vec::new();
    while all.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages came",
            all.len()
        );
        let batch = consumer.poll_timeout(POLL).await.unwrap();
        assert!(
            batch.len() <= 10,
            "a poll gives at most the pull batch size"
        );
        assert!(
            batch
                .windows(2)
                .all(|pair| pair[0].queue_id == pair[1].queue_id)
        );
        all.extend(batch);
    }
    all
}

/// Checks that nothing more comes (time for duplicates to show up, were there any).
async fn assert_drained(consumer: &LitePullConsumer) {
    let extra = consumer.poll_timeout(POLL * 2).await.unwrap();
    let extra: Vec<String> = extra.iter().map(key).collect();
    assert!(extra.is_empty(), "unexpected messages {extra:?}");
}

/// Offsets per queue id, in the order polled.
fn by_queue(messages: &[StoredMessage]) -> BTreeMap<i32, Vec<i64>> {
    let mut queues: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for message in messages {
        queues
            .entry(message.queue_id)
            .or_default()
            .push(message.queue_offset);
    }
    queues
}

async fn shut_down(consumer: &LitePullConsumer) {
    tokio::time::timeout(SHUTDOWN_LIMIT, consumer.shutdown())
        .await
        .expect("shutdown ends");
}

async fn assigned_consumer(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    adjust: impl FnOnce(LitePullConsumerBuilder) -> LitePullConsumerBuilder,
) -> (LitePullConsumer, Vec<MessageQueue>) {
    let consumer = adjust(builder(cluster, group, "one")).build().unwrap();
    let queues = consumer.fetch_message_queues(topic).await.unwrap();
    assert_eq!(queues.len(), 4);
    consumer.assign(queues.clone()).await.unwrap();
    consumer.start().await.unwrap();
    assert_eq!(consumer.assignment(), queues);
    (consumer, queues)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assign_and_poll_read_every_message_once_in_queue_order() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    fill(&cluster, "LiteAssign", 0..100, untagged).await;
    let (consumer, _) = assigned_consumer(&cluster, "lp_assign", "LiteAssign", |b| b).await;
    // Messages sent while the consumer long-polls arrive too.
    fill(&cluster, "LiteAssign", 100..150, untagged).await;
    let messages = poll_count(&consumer, 150).await;
    assert_drained(&consumer).await;
    let got: BTreeSet<String> = messages.iter().map(key).collect();
    assert_eq!(messages.len(), 150, "no duplicates");
    assert_eq!(got, keys("LiteAssign", 0..150));
    for (queue_id, offsets) in by_queue(&messages) {
        let contiguous: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, contiguous, "queue {queue_id} read in order from 0");
    }
    shut_down(&consumer).await;
    shut_down(&consumer).await;
    assert!(consumer.poll().await.is_err(), "shut down");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seek_rereads_and_seek_to_end_skips() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let per_queue = fill(&cluster, "LiteSeek", 0..40, untagged).await;
    let (consumer, queues) = assigned_consumer(&cluster, "lp_seek", "LiteSeek", |b| b).await;
    poll_count(&consumer, 40).await;
    assert_drained(&consumer).await;
    let queue = &queues[0];
    let queue_count = per_queue[&queue.queue_id];
    assert!(queue_count >= 3, "queue 0 holds {queue_count} messages");

    consumer.seek(queue, 2).await.unwrap();
    let again = poll_count(&consumer, queue_count - 2).await;
    let offsets: Vec<i64> = again.iter().map(|m| m.queue_offset).collect();
    assert_eq!(offsets, (2..queue_count as i64).collect::<Vec<_>>());
    assert!(again.iter().all(|m| m.queue_id == queue.queue_id));
    assert_drained(&consumer).await;

    let past_end = consumer.seek(queue, queue_count as i64 + 5).await;
    assert!(
        matches!(past_end, Err(LitePullError::SeekOutOfRange { .. })),
        "{past_end:?}"
    );
    let stranger = MessageQueue::new("LiteSeek", "broker-a", 99);
    let unowned = consumer.seek(&stranger, 0).await;
    assert!(
        matches!(unowned, Err(LitePullError::NotAssigned(_))),
        "{unowned:?}"
    );

    consumer.seek_to_begin(queue).await.unwrap();
    let from_begin = poll_count(&consumer, queue_count).await;
    let offsets: Vec<i64> = from_begin.iter().map(|m| m.queue_offset).collect();
    assert_eq!(offsets, (0..queue_count as i64).collect::<Vec<_>>());
    assert_drained(&consumer).await;

    // Back to the start of every queue, then to the end: nothing old comes.
    for queue in &queues {
        consumer.seek_to_begin(queue).await.unwrap();
    }
    for queue in &queues {
        consumer.seek_to_end(queue).await.unwrap();
    }
    assert_drained(&consumer).await;
    fill(&cluster, "LiteSeek", 40..44, untagged).await;
    let fresh = poll_count(&consumer, 4).await;
    let got: BTreeSet<String> = fresh.iter().map(key).collect();
    assert_eq!(
        got,
        keys("LiteSeek", 40..44),
        "only messages sent after the seek to the end"
    );
    assert_drained(&consumer).await;
    shut_down(&consumer).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_offsets_carry_over_to_a_new_consumer() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let per_queue = fill(&cluster, "LiteCommit", 0..40, untagged).await;
    let manual = |b: LitePullConsumerBuilder| b.auto_commit(false);
    let (consumer, queues) = assigned_consumer(&cluster, "lp_commit", "LiteCommit", manual).await;
    for queue in &queues {
        assert_eq!(
            consumer.committed(queue).await.unwrap(),
            Some(0),
            "a new group"
        );
    }
    // Two polls: at most 20 of the 40 messages, spread over some queues.
    let mut polled = consumer.poll_timeout(WAIT_LIMIT).await.unwrap();
    polled.extend(consumer.poll_timeout(WAIT_LIMIT).await.unwrap());
    assert!(!polled.is_empty());
    let consumed = by_queue(&polled);
    consumer.commit_sync().await.unwrap();
    let mut resume_at = BTreeMap::new();
    for queue in &queues {
        let expected = consumed
            .get(&queue.queue_id)
            .map_or(0, |offsets| offsets.len() as i64);
        assert_eq!(consumer.committed(queue).await.unwrap(), Some(expected));
        resume_at.insert(queue.queue_id, expected);
    }
    // Without auto-commit, shutdown commits nothing: the third poll is not committed.
    let uncommitted = consumer.poll_timeout(WAIT_LIMIT).await.unwrap();
    assert!(!uncommitted.is_empty());
    shut_down(&consumer).await;

    // Auto-commit this time: shutdown commits what was polled.
    let (successor, _) = assigned_consumer(&cluster, "lp_commit", "LiteCommit", |b| b).await;
    let rest = poll_count(&successor, 40 - polled.len()).await;
    assert_drained(&successor).await;
    assert_eq!(polled.len() + rest.len(), 40, "no message twice");
    for (queue_id, offsets) in by_queue(&rest) {
        assert_eq!(
            offsets[0], resume_at[&queue_id],
            "queue {queue_id} resumes where committed"
        );
    }
    let got: BTreeSet<String> = polled.iter().chain(&rest).map(key).collect();
    assert_eq!(
        got,
        keys("LiteCommit", 0..40),
        "between them, every message"
    );
    shut_down(&successor).await;

    let checker = builder(&cluster, "lp_commit", "checker").build().unwrap();
    for queue in &queues {
        let end = per_queue[&queue.queue_id] as i64;
        assert_eq!(checker.committed(queue).await.unwrap(), Some(end));
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_subscribers_split_the_queues_and_read_everything() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    fill(&cluster, "LiteSplit", 0..1, untagged).await;
    let member = |instance: &str| {
        builder(&cluster, "lp_split", instance)
            .rebalance_interval(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    let (first, second) = (member("first"), member("second"));
    for consumer in [&first, &second] {
        consumer.subscribe("LiteSplit", "*").await.unwrap();
        consumer.start().await.unwrap();
    }
    let queue = MessageQueue::new("LiteSplit", "broker-a", 0);
    let mixed = first.assign(vec![queue]).await;
    assert!(matches!(mixed, Err(LitePullError::Mode(_))), "{mixed:?}");
    let ids = |consumer: &LitePullConsumer| -> BTreeSet<i32> {
        consumer
            .assignment()
            .into_iter()
            .map(|q| q.queue_id)
            .collect()
    };
    wait_for("a two-way split of the four queues", || async {
        let (a, b) = (ids(&first), ids(&second));
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;
    fill(&cluster, "LiteSplit", 1..101, untagged).await;
    let deadline = Instant::now() + WAIT_LIMIT;
    let (mut from_first, mut from_second) = (Vec::new(), Vec::new());
    while from_first.len() + from_second.len() < 101 {
        assert!(Instant::now() < deadline, "not every message came");
        from_first.extend(first.poll_timeout(POLL).await.unwrap());
        from_second.extend(second.poll_timeout(POLL).await.unwrap());
    }
    assert_drained(&first).await;
    assert_drained(&second).await;
    assert!(from_first.iter().all(|m| ids(&first).contains(&m.queue_id)));
    assert!(
        from_second
            .iter()
            .all(|m| ids(&second).contains(&m.queue_id))
    );
    let got: BTreeSet<String> = from_first.iter().chain(&from_second).map(key).collect();
    assert_eq!(got, keys("LiteSplit", 0..101));
    assert_eq!(from_first.len() + from_second.len(), 101, "no duplicates");
    shut_down(&first).await;
    // The survivor takes every queue over once the broker drops the first member.
    wait_for("the survivor owning all four queues", || async {
        ids(&second).len() == 4
    })
    .await;
    shut_down(&second).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tag_subscription_gets_only_its_tags_and_commits_past_the_rest() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let tag = |i: usize| ["TagA", "TagB", "TagC"][i % 3];
    let per_queue = fill(&cluster, "LiteTags", 0..60, tag).await;
    let consumer = builder(&cluster, "lp_tags", "one").build().unwrap();
    consumer
        .subscribe("LiteTags", "TagA || TagC")
        .await
        .unwrap();
    consumer.start().await.unwrap();
    let messages = poll_count(&consumer, 40).await;
    assert_drained(&consumer).await;
    let got: BTreeSet<String> = messages.iter().map(key).collect();
    let expected: BTreeSet<String> = (0..60)
        .filter(|i| i % 3 != 1)
        .map(|i| format!("LiteTags-{i}"))
        .collect();
    assert_eq!(messages.len(), 40);
    assert_eq!(got, expected);
    assert!(
        messages
            .iter()
            .all(|m| matches!(m.tags(), Some("TagA" | "TagC")))
    );
    // The skipped TagB messages count as consumed: the offsets reach each queue's end.
    consumer.commit_sync().await.unwrap();
    for (queue_id, count) in per_queue {
        let queue = MessageQueue::new("LiteTags", "broker-a", queue_id);
        assert_eq!(
            consumer.committed(&queue).await.unwrap(),
            Some(count as i64)
        );
    }
    shut_down(&consumer).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_queue_gives_nothing_until_resumed() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let per_queue = fill(&cluster, "LitePause", 0..80, untagged).await;
    let small_batches = |b: LitePullConsumerBuilder| b.pull_batch_size(3);
    let (consumer, queues) =
        assigned_consumer(&cluster, "lp_pause", "LitePause", small_batches).await;
    let first = consumer.poll_timeout(WAIT_LIMIT).await.unwrap();
    let paused_id = first[0].queue_id;
    let paused = MessageQueue::new("LitePause", "broker-a", paused_id);
    assert!(
        per_queue[&paused_id] > first.len(),
        "more left in the queue"
    );
    // Time for the queue's other messages to be fetched, so that its buffer holds some.
    tokio::time::sleep(Duration::from_millis(500)).await;
    consumer.pause(std::slice::from_ref(&paused)).unwrap();
    let stranger = MessageQueue::new("LitePause", "broker-a", 99);
    assert!(consumer.pause(std::slice::from_ref(&stranger)).is_err());

    let others: usize = per_queue
        .iter()
        .filter(|(id, _)| **id != paused_id)
        .map(|(_, count)| count)
        .sum();
    let rest = poll_count(&consumer, others).await;
    assert_drained(&consumer).await;
    assert!(rest.iter().all(|m| m.queue_id != paused_id), "paused");
    assert_eq!(rest.len(), others);

    // A poll already waiting gets the resumed queue's buffered messages.
    let consumer = Arc::new(consumer);
    let waiting = tokio::spawn({
        let consumer = consumer.clone();
        async move { consumer.poll_timeout(WAIT_LIMIT).await }
    });
    tokio::time::sleep(POLL).await;
    consumer.resume(std::slice::from_ref(&paused)).unwrap();
    let mut resumed = tokio::time::timeout(WAIT_LIMIT / 2, waiting)
        .await
        .expect("the waiting poll returns")
        .unwrap()
        .unwrap();
    assert!(!resumed.is_empty());
    let left = per_queue[&paused_id] - first.len() - resumed.len();
    resumed.extend(poll_count(&consumer, left).await);
    assert_drained(&consumer).await;
    let offsets: Vec<i64> = resumed.iter().map(|m| m.queue_offset).collect();
    let expected: Vec<i64> = (first.len() as i64..per_queue[&paused_id] as i64).collect();
    assert_eq!(
        offsets, expected,
        "the paused queue resumes where it stopped"
    );
    assert!(queues.contains(&paused));
    shut_down(&consumer).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poll_of_an_empty_topic_returns_empty_after_its_timeout() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    let header = CreateTopicRequestHeader {
        topic: "LiteEmpty".to_owned(),
        default_topic: "TBW102".to_owned(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: perm::READ | perm::WRITE,
        topic_filter_type: "SINGLE_TAG".to_owned(),
        topic_sys_flag: None,
        order: false,
    };
    let admin = RemotingClient::new(ClientConfig::default());
    let request =
        RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext_fields());
    let response = admin
        .invoke(&cluster.broker.addr, request, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        response.remark_text()
    );
    let namesrv = namesrv_client();
    wait_for("the new topic's route", || async {
        namesrv
            .route(&cluster.namesrv.addr, "LiteEmpty")
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;

    let consumer = builder(&cluster, "lp_empty", "one")
        .poll_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(consumer.poll().await.is_err(), "not started");
    consumer.subscribe("LiteEmpty", "*").await.unwrap();
    consumer.start().await.unwrap();
    assert!(consumer.start().await.is_err(), "starts once");
    wait_for("both queues owned", || async {
        consumer.assignment().len() == 2
    })
    .await;
    let began = Instant::now();
    assert!(consumer.poll().await.unwrap().is_empty());
    // Bounded, not timed: it waited at all, and did not hang.
    assert!(began.elapsed() >= Duration::from_millis(250));
    assert!(began.elapsed() < WAIT_LIMIT);

    // Shutdown ends a poll that would otherwise wait for the whole wait limit.
    let consumer = Arc::new(consumer);
    let waiting = tokio::spawn({
        let consumer = consumer.clone();
        async move { consumer.poll_timeout(WAIT_LIMIT).await }
    });
    tokio::time::sleep(POLL).await;
    shut_down(&consumer).await;
    let ended = tokio::time::timeout(WAIT_LIMIT / 2, waiting)
        .await
        .expect("the waiting poll ends")
        .unwrap();
    assert!(
        matches!(ended, Err(LitePullError::State { .. })),
        "{ended:?}"
    );
    assert!(consumer.poll().await.is_err(), "shut down");
    assert!(consumer.start().await.is_err(), "no restart");

    // A consumer dropped while running stops its tasks without a shutdown.
    let dropped = builder(&cluster, "lp_empty", "dropped").build().unwrap();
    dropped.subscribe("LiteEmpty", "*").await.unwrap();
    dropped.start().await.unwrap();
    drop(dropped);
    cluster.stop().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offset_for_timestamp_finds_where_a_seek_goes() {
    let cluster = Cluster::start(DELAY_LEVEL_MS).await;
    fill(&cluster, "LiteTime", 0..20, untagged).await;
    // Store times are in milliseconds: a pause on each side makes the boundary exact.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let boundary = now_ms();
    tokio::time::sleep(Duration::from_millis(50)).await;
    fill(&cluster, "LiteTime", 20..30, untagged).await;
    let (consumer, queues) = assigned_consumer(&cluster, "lp_time", "LiteTime", |b| b).await;
    poll_count(&consumer, 30).await;
    assert_drained(&consumer).await;

    // Seek every queue to the boundary: exactly the messages sent after it come again.
    let mut before_boundary = 0;
    for queue in &queues {
        let offset = consumer
            .offset_for_timestamp(queue, boundary)
            .await
            .unwrap();
        before_boundary += offset;
        consumer.seek(queue, offset).await.unwrap();
    }
    assert_eq!(before_boundary, 20, "20 messages precede the boundary");
    let later = poll_count(&consumer, 10).await;
    assert_drained(&consumer).await;
    let got: BTreeSet<String> = later.iter().map(key).collect();
    assert_eq!(got, keys("LiteTime", 20..30));
    shut_down(&consumer).await;
    cluster.stop().await;
}

//! `mqadmin` (`bolide_client::admin::cli::run`) against a name server and a broker run
//! in-process on 127.0.0.1:0, reading what an operator would see: topics created, routed,
//! inspected and deleted; the cluster and broker views; messages found by key, unique key and
//! offset id; a push consumer group's progress, connections and offset reset; subscription
//! groups; and the broker configuration, changed only through its whitelist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolide_client::admin::table::split_row;
use bolide_client::admin::{AdminClient, DEFAULT_TIMEOUT};
use bolide_client::consumer::{ConsumeFromWhere, ConsumeStatus, PushConsumer};
use bolide_client::producer::{Message, Producer, SendResult};
use bolide_client::protocol::message::property;

use common::{Cluster, wait_for};

const CLUSTER: &str = "DefaultCluster";

/// Runs one `mqadmin` command line against `namesrv`: the report on success, the error as
/// the binary prints it (every cause) on failure.
async fn mqadmin(namesrv: &str, args: &[&str]) -> Result<String, String> {
    let mut line = vec!["mqadmin".to_owned(), args[0].to_owned()];
    line.extend(["-n".to_owned(), namesrv.to_owned()]);
    line.extend(args[1..].iter().map(|arg| (*arg).to_owned()));
    let mut out = Vec::new();
    let result = bolide_client::admin::cli::run(line, &mut out).await;
    let text = String::from_utf8(out).unwrap();
    match result {
        Ok(()) => Ok(text),
        Err(error) => Err(bolide_client::admin::cli::error_text(&error)),
    }
}

async fn ok(namesrv: &str, args: &[&str]) -> String {
    match mqadmin(namesrv, args).await {
        Ok(text) => text,
        Err(error) => panic!("mqadmin {args:?} failed: {error}"),
    }
}

/// Runs the command until its report satisfies `check` (registrations reach the name
/// server asynchronously); the last report.
async fn ok_when(namesrv: &str, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + common::WAIT_LIMIT;
    loop {
        let text = mqadmin(namesrv, args).await.unwrap_or_else(|error| error);
        if check(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for mqadmin {args:?}; last report:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Table rows split into cells: every non-blank line but the `#Heading` lines.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| split_row(line).into_iter().map(str::to_owned).collect())
        .collect()
}

async fn create_topic(cluster: &Cluster, topic: &str, queues: &str) {
    let namesrv = &cluster.namesrv.addr;
    let text = ok(
        namesrv,
        &[
            "updateTopic",
            "-c",
            CLUSTER,
            "-t",
            topic,
            "-r",
            queues,
            "-w",
            queues,
        ],
    )
    .await;
    assert!(
        text.contains(&format!("create topic to {} success.", cluster.broker.addr)),
        "{text}"
    );
    assert!(text.contains(&format!(
        "TopicConfig [topicName={topic}, readQueueNums={queues}"
    )));
    ok_when(namesrv, &["topicRoute", "-t", topic], |text| {
        text.contains("broker-a")
    })
    .await;
}

async fn producer(namesrv: &str) -> Producer {
    let producer = Producer::builder()
        .namesrv_addr(namesrv)
        .group("admin_test_producer")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// Sends `count` messages keyed `{prefix}-{i}` with bodies `body-{i}`.
async fn send(producer: &Producer, topic: &str, prefix: &str, count: usize) -> Vec<SendResult> {
    let mut results = Vec::new();
    for i in 0..count {
        let message = Message::new(topic, format!("body-{i}")).with_keys([format!("{prefix}-{i}")]);
        results.push(producer.send(message).await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topics_are_created_routed_inspected_and_deleted() {
    let cluster = Cluster::start(200).await;
    let namesrv = cluster.namesrv.addr.clone();
    let broker = cluster.broker.addr.clone();
    create_topic(&cluster, "AdminTopic", "3").await;

    let list = ok(&namesrv, &["topicList"]).await;
    assert!(list.lines().any(|line| line == "AdminTopic"), "{list}");

    let json = ok(&namesrv, &["topicRoute", "-t", "AdminTopic"]).await;
    let route: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(route["queueDatas"][0]["readQueueNums"], 3, "{json}");
    assert_eq!(route["queueDatas"][0]["perm"], 6, "{json}");
    let table = ok(&namesrv, &["topicRoute", "-t", "AdminTopic", "-l"]).await;
    let broker_cell = format!("{{0={broker}}}");
    assert_eq!(
        rows(&table)[0],
        [CLUSTER, "broker-a", &broker_cell, "3", "3", "6"],
        "{table}"
    );

    let producer = producer(&namesrv).await;
    send(&producer, "AdminTopic", "t", 6).await;
    producer.shutdown().await;
    let status = ok(&namesrv, &["topicStatus", "-t", "AdminTopic"]).await;
    assert!(status.starts_with("#Broker Name"), "{status}");
    let queues = rows(&status);
    assert_eq!(queues.len(), 3, "{status}");
    let stored: i64 = queues
        .iter()
        .map(|row| row[3].parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        stored, 6,
        "max offsets add up to the messages sent: {status}"
    );

    // The library reports each server a fan-out visits (the CLI prints them when several).
    let steps: Arc<Mutex<Vec<(usize, usize, String)>>> = Arc::default();
    let sink = steps.clone();
    let admin = AdminClient::new(vec![namesrv.clone()], DEFAULT_TIMEOUT)
        .unwrap()
        .with_progress(Arc::new(move |step, total, line| {
            sink.lock().unwrap().push((step, total, line.to_owned()));
        }));
    let stats = admin.topic_stats("AdminTopic").await.unwrap();
    assert_eq!(stats.offset_table.len(), 3);
    let steps = steps.lock().unwrap().clone();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!((steps[0].0, steps[0].1), (1, 1));
    assert!(steps[0].2.contains(&broker), "{steps:?}");

    let clusters = ok(&namesrv, &["clusterList"]).await;
    assert!(clusters.contains("#InTPS(LOAD)"), "{clusters}");
    let row = &rows(&clusters)[0];
    assert_eq!(
        &row[..5],
        [CLUSTER, "broker-a", "0", &broker, "V4_9_7"],
        "{clusters}"
    );
    let more = ok(&namesrv, &["clusterList", "-m"]).await;
    assert_eq!(rows(&more)[0][4], "6", "messages put today: {more}");

    let status = ok(&namesrv, &["brokerStatus", "-b", &broker]).await;
    for key in [
        "brokerVersionDesc",
        "putTps",
        "commitLogMaxOffset",
        "runtime",
    ] {
        assert!(
            status.lines().any(|l| l.starts_with(key)),
            "{key}: {status}"
        );
    }
    let by_cluster = ok(&namesrv, &["brokerStatus", "-c", CLUSTER]).await;
    assert!(
        by_cluster.contains(&format!("{broker}  msgPutTotalTodayNow")),
        "{by_cluster}"
    );

    write_permission_is_wiped_and_restored(&namesrv).await;

    let deleted = ok(
        &namesrv,
        &["deleteTopic", "-c", CLUSTER, "-t", "AdminTopic"],
    )
    .await;
    assert!(deleted.contains("delete topic [AdminTopic] from NameServer success."));
    let gone = mqadmin(&namesrv, &["topicRoute", "-t", "AdminTopic"]).await;
    let error = gone.expect_err("the route is gone from the name server");
    assert!(error.contains("AdminTopic"), "{error}");
    let status = mqadmin(&namesrv, &["topicStatus", "-t", "AdminTopic"]).await;
    assert!(status.is_err(), "{status:?}");
    let list = ok(&namesrv, &["topicList"]).await;
    assert!(!list.lines().any(|line| line == "AdminTopic"), "{list}");
    cluster.stop().await;
}

async fn write_permission_is_wiped_and_restored(namesrv: &str) {
    let perm = |text: &str| -> i64 {
        let route: serde_json::Value = serde_json::from_str(text).unwrap();
        route["queueDatas"][0]["perm"].as_i64().unwrap()
    };
    let wiped = ok(namesrv, &["wipeWritePerm", "-b", "broker-a"]).await;
    assert!(
        wiped.contains("wipe write perm of broker[broker-a]"),
        "{wiped}"
    );
    let route = ok(namesrv, &["topicRoute", "-t", "AdminTopic"]).await;
    assert_eq!(perm(&route), 4, "read only after wipeWritePerm: {route}");
    let added = ok(namesrv, &["addWritePerm", "-b", "broker-a"]).await;
    assert!(
        added.contains("add write perm of broker[broker-a]"),
        "{added}"
    );
    let route = ok(namesrv, &["topicRoute", "-t", "AdminTopic"]).await;
    assert_eq!(perm(&route), 6, "writable again: {route}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_are_found_by_key_unique_key_and_offset_id() {
    let cluster = Cluster::start(200).await;
    let namesrv = cluster.namesrv.addr.clone();
    create_topic(&cluster, "AdminQuery", "2").await;
    let producer = producer(&namesrv).await;
    let sent = send(&producer, "AdminQuery", "qk", 5).await;
    producer.shutdown().await;
    let third = &sent[3];

    let by_key = ok_when(
        &namesrv,
        &["queryMsgByKey", "-t", "AdminQuery", "-k", "qk-3"],
        |text| text.lines().count() > 1,
    )
    .await;
    let found = rows(&by_key);
    assert_eq!(found.len(), 1, "only the message keyed qk-3: {by_key}");
    assert_eq!(found[0][0], third.msg_id, "{by_key}");
    assert_eq!(found[0][2], third.queue_offset.to_string(), "{by_key}");
    assert_eq!(found[0][3], "body-3", "{by_key}");
    let none = ok(
        &namesrv,
        &["queryMsgByKey", "-t", "AdminQuery", "-k", "absent"],
    )
    .await;
    assert_eq!(rows(&none).len(), 0, "{none}");

    let by_unique = ok(
        &namesrv,
        &[
            "queryMsgByUniqueKey",
            "-t",
            "AdminQuery",
            "-i",
            &third.msg_id,
        ],
    )
    .await;
    assert!(
        by_unique.contains("Topic:               AdminQuery"),
        "{by_unique}"
    );
    assert!(
        by_unique.contains("Keys:                [qk-3]"),
        "{by_unique}"
    );
    assert!(
        by_unique.contains("Message Body:        body-3"),
        "{by_unique}"
    );
    assert!(by_unique.contains(&format!("{}={}", property::UNIQ_KEY, third.msg_id)));

    let by_id = ok(&namesrv, &["queryMsgById", "-i", &third.offset_msg_id]).await;
    assert!(
        by_id.contains(&format!("OffsetID:            {}", third.offset_msg_id)),
        "{by_id}"
    );
    assert!(by_id.contains("Message Body:        body-3"), "{by_id}");
    let both = format!("{},{}", sent[0].offset_msg_id, sent[1].offset_msg_id);
    let two = ok(&namesrv, &["queryMsgById", "-i", &both]).await;
    assert!(two.contains("body-0") && two.contains("body-1"), "{two}");

    let bad = mqadmin(
        &namesrv,
        &["queryMsgByUniqueKey", "-t", "AdminQuery", "-i", "NOPE"],
    )
    .await;
    assert!(bad.expect_err("nothing found").contains("NOPE"));
    cluster.stop().await;
}

type Bodies = Arc<Mutex<Vec<String>>>;

async fn start_consumer(namesrv: &str, group: &str, topic: &str) -> (PushConsumer, Bodies) {
    let bodies: Bodies = Arc::default();
    let sink = bodies.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .instance_name(format!("admin-{}", rand_suffix()))
        .subscribe(topic, "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_secs(1))
        .persist_interval(Duration::from_secs(1))
        .listener(move |messages| {
            let mut sink = sink.lock().unwrap();
            for message in messages {
                sink.push(String::from_utf8_lossy(&message.body).into_owned());
            }
            ConsumeStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, bodies)
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// `Diff Total: n` of a consumerProgress report.
fn diff_total(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|line| line.strip_prefix("Diff Total: "))
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_groups_show_progress_connections_and_reset_by_time() {
    let cluster = Cluster::start(200).await;
    let namesrv = cluster.namesrv.addr.clone();
    create_topic(&cluster, "AdminConsume", "4").await;
    let producer = producer(&namesrv).await;
    send(&producer, "AdminConsume", "c", 12).await;
    let (consumer, bodies) = start_consumer(&namesrv, "cg_admin", "AdminConsume").await;
    wait_for("12 messages consumed", || async {
        bodies.lock().unwrap().len() >= 12
    })
    .await;

    let progress_args = ["consumerProgress", "-g", "cg_admin", "-t", "AdminConsume"];
    let progress = ok_when(&namesrv, &progress_args, |text| diff_total(text) == Some(0)).await;
    assert!(progress.starts_with("#Topic"), "{progress}");
    let queues: Vec<Vec<String>> = rows(&progress)
        .into_iter()
        .filter(|row| row.first().is_some_and(|topic| topic == "AdminConsume"))
        .collect();
    assert_eq!(queues.len(), 4, "{progress}");
    let broker_total: i64 = queues
        .iter()
        .map(|row| row[3].parse::<i64>().unwrap())
        .sum();
    assert_eq!(broker_total, 12, "{progress}");

    let connection = ok(&namesrv, &["consumerConnection", "-g", "cg_admin"]).await;
    let members = rows(&connection);
    assert_eq!(members[0][0], consumer.client_id(), "{connection}");
    assert!(
        connection.contains("ConsumeType: CONSUME_PASSIVELY"),
        "{connection}"
    );
    assert!(
        connection.contains("MessageModel: CLUSTERING"),
        "{connection}"
    );
    assert!(
        connection
            .lines()
            .any(|line| split_row(line) == ["AdminConsume", "*"]),
        "{connection}"
    );
    let summaries = ok(&namesrv, &["consumerProgress"]).await;
    let group_row = rows(&summaries)
        .into_iter()
        .find(|row| row[0] == "cg_admin")
        .unwrap_or_else(|| panic!("no cg_admin in {summaries}"));
    assert_eq!(
        &group_row[1..5],
        ["1", "V4_9_7", "PUSH", "CLUSTERING"],
        "{summaries}"
    );

    // Offline, the group falls behind by what is sent next.
    consumer.shutdown().await;
    send(&producer, "AdminConsume", "c2", 3).await;
    producer.shutdown().await;
    let behind = ok_when(&namesrv, &progress_args, |text| diff_total(text) == Some(3)).await;
    assert_eq!(diff_total(&behind), Some(3), "{behind}");
    let offline = mqadmin(&namesrv, &["consumerConnection", "-g", "cg_admin"]).await;
    assert!(offline.expect_err("offline").contains("not online"));

    // Back to the beginning of time: a new member consumes all 15 again.
    let reset = ok(
        &namesrv,
        &[
            "resetOffsetByTime",
            "-g",
            "cg_admin",
            "-t",
            "AdminConsume",
            "-s",
            "1970-01-01#00:00:00:000",
        ],
    )
    .await;
    assert!(reset.contains("timestamp(long)[0]"), "{reset}");
    assert!(
        !reset.contains("online member"),
        "nobody online to tell: {reset}"
    );
    let offsets = rows(&reset);
    let moved: Vec<&Vec<String>> = offsets.iter().filter(|row| row.len() == 3).collect();
    assert_eq!(moved.len(), 4, "{reset}");
    assert!(moved.iter().all(|row| row[2] == "0"), "{reset}");
    let progress = ok(&namesrv, &progress_args).await;
    assert_eq!(diff_total(&progress), Some(15), "{progress}");

    let (again, bodies) = start_consumer(&namesrv, "cg_admin", "AdminConsume").await;
    wait_for("15 messages consumed again", || async {
        bodies.lock().unwrap().len() >= 15
    })
    .await;
    let mut seen = bodies.lock().unwrap().clone();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        12,
        "bodies body-0..11 (the last 3 repeat body-0..2)"
    );
    again.shutdown().await;

    let missing = mqadmin(&namesrv, &["consumerProgress", "-g", "nobody"]).await;
    let error = missing.expect_err("no such group");
    assert!(error.contains("%RETRY%nobody"), "{error}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscription_groups_are_created_and_deleted() {
    let cluster = Cluster::start(200).await;
    let namesrv = cluster.namesrv.addr.clone();
    let broker = cluster.broker.addr.clone();
    let admin = AdminClient::new(vec![namesrv.clone()], DEFAULT_TIMEOUT).unwrap();

    let created = ok(
        &namesrv,
        &[
            "updateSubGroup",
            "-c",
            CLUSTER,
            "-g",
            "sg_admin",
            "-r",
            "3",
            "-q",
            "2",
        ],
    )
    .await;
    assert!(
        created.contains(&format!("create subscription group to {broker} success.")),
        "{created}"
    );
    let groups = admin.subscription_groups(&broker).await.unwrap();
    let group = &groups.subscription_group_table["sg_admin"];
    assert_eq!((group.retry_max_times, group.retry_queue_nums), (3, 2));
    assert!(
        !group.consume_broadcast_enable,
        "Java's updateSubGroup default"
    );

    let deleted = ok(
        &namesrv,
        &["deleteSubGroup", "-b", &broker, "-g", "sg_admin"],
    )
    .await;
    assert!(
        deleted.contains("delete subscription group [sg_admin]"),
        "{deleted}"
    );
    let groups = admin.subscription_groups(&broker).await.unwrap();
    assert!(!groups.subscription_group_table.contains_key("sg_admin"));

    // Java's deleteSubGroup -c also deletes the group's retry and DLQ topics; on a broker
    // that never stored a message they have no files, and deleting them still succeeds.
    ok(
        &namesrv,
        &["updateSubGroup", "-c", CLUSTER, "-g", "sg_empty"],
    )
    .await;
    let deleted = ok(
        &namesrv,
        &["deleteSubGroup", "-c", CLUSTER, "-g", "sg_empty"],
    )
    .await;
    for topic in ["%RETRY%sg_empty", "%DLQ%sg_empty"] {
        let line = format!("delete topic [{topic}] from cluster [{CLUSTER}] success.");
        assert!(deleted.contains(&line), "{deleted}");
    }

    let refused = mqadmin(
        &namesrv,
        &["updateSubGroup", "-b", &broker, "-g", "sg", "-q", "0"],
    )
    .await;
    let error = refused.expect_err("retryQueueNums 0 is refused");
    for part in [
        broker.as_str(),
        "group sg",
        "SYSTEM_ERROR",
        "retryQueueNums",
    ] {
        assert!(error.contains(part), "{error} lacks {part}");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_config_changes_only_through_the_whitelist() {
    let cluster = Cluster::start(200).await;
    let namesrv = cluster.namesrv.addr.clone();
    let broker = cluster.broker.addr.clone();
    let value_of = |text: &str, key: &str| -> Option<String> {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once("  =  ")?;
            (name.trim() == key).then(|| value.trim().to_owned())
        })
    };

    let config = ok(&namesrv, &["getBrokerConfig", "-b", &broker]).await;
    assert!(config.starts_with(&format!("============{broker}============")));
    assert_eq!(value_of(&config, "brokerName").as_deref(), Some("broker-a"));
    assert_ne!(
        value_of(&config, "defaultQueryMaxNum").as_deref(),
        Some("17")
    );

    let updated = ok(
        &namesrv,
        &[
            "updateBrokerConfig",
            "-c",
            CLUSTER,
            "-k",
            "defaultQueryMaxNum",
            "-v",
            "17",
        ],
    )
    .await;
    assert!(updated.contains(&format!("update broker config success, {broker}")));
    let config = ok(&namesrv, &["getBrokerConfig", "-c", CLUSTER]).await;
    assert!(config.contains(&format!("Master: {broker}")), "{config}");
    assert_eq!(
        value_of(&config, "defaultQueryMaxNum").as_deref(),
        Some("17")
    );

    let refused = mqadmin(
        &namesrv,
        &[
            "updateBrokerConfig",
            "-b",
            &broker,
            "-k",
            "storePathRootDir",
            "-v",
            "/tmp/x",
        ],
    )
    .await;
    let error = refused.expect_err("a path key is refused");
    for part in [
        broker.as_str(),
        "UPDATE_BROKER_CONFIG",
        "storePathRootDir",
        "SYSTEM_ERROR",
    ] {
        assert!(error.contains(part), "{error} lacks {part}");
    }
    let config = ok(&namesrv, &["getBrokerConfig", "-b", &broker]).await;
    assert_ne!(
        value_of(&config, "storePathRootDir").as_deref(),
        Some("/tmp/x")
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn name_server_commands_keep_their_output() {
    let cluster = Cluster::start(200).await;
    let namesrv = cluster.namesrv.addr.clone();
    let put = ok(
        &namesrv,
        &["updateKvConfig", "-s", "ns", "-k", "k1", "-v", "v1"],
    )
    .await;
    assert_eq!(put, "create or update kv config to namespace success.\n");
    let client = common::namesrv_client();
    let value = client.kv_config(&namesrv, "ns", "k1").await.unwrap();
    assert_eq!(value.as_deref(), Some("v1"));
    let deleted = ok(&namesrv, &["deleteKvConfig", "-s", "ns", "-k", "k1"]).await;
    assert_eq!(deleted, "delete kv config from namespace success.\n");
    assert_eq!(client.kv_config(&namesrv, "ns", "k1").await.unwrap(), None);

    let config = ok(&namesrv, &["getNamesrvConfig"]).await;
    assert!(config.starts_with(&format!("============{namesrv}============\n")));
    assert!(
        config.lines().any(|line| line.starts_with("listenPort")),
        "{config}"
    );

    let unknown = mqadmin(&namesrv, &["statsAll"]).await;
    let error = unknown.expect_err("statsAll is not available");
    assert!(error.contains("available: updateTopic"), "{error}");
    cluster.stop().await;
}

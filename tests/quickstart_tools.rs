//! The quickstart examples `bin/tools.sh` runs (`bolide_client::quickstart`) against a name
//! server and a broker run in-process on 127.0.0.1:0: the producer prints one Java-shaped
//! `SendResult` per message, and the consumer prints each of them as Java's listener does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bolide_client::quickstart::{self, run_consumer, run_producer};

use common::{Cluster, Shared, WAIT_LIMIT};

/// Messages the producer sends in these tests (Java's example sends 1000).
const COUNT: usize = 40;

/// `SendResult [sendStatus=SEND_OK, msgId=…, offsetMsgId=…, messageQueue=MessageQueue
/// [topic=TopicTest, brokerName=…, queueId=…], queueOffset=…]`: (queue id, queue offset).
fn parse_send_result(line: &str) -> (i32, i64) {
    let rest = line
        .strip_prefix("SendResult [sendStatus=SEND_OK, msgId=")
        .unwrap_or_else(|| panic!("{line}"));
    let (msg_id, rest) = rest.split_once(", offsetMsgId=").unwrap();
    assert_eq!(msg_id.len(), 32, "{line}");
    assert!(msg_id.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    let (offset_msg_id, rest) = rest.split_once(", messageQueue=").unwrap();
    assert_eq!(offset_msg_id.len(), 32, "{line}");
    let rest = rest
        .strip_prefix("MessageQueue [topic=TopicTest, brokerName=broker-a, queueId=")
        .unwrap_or_else(|| panic!("{line}"));
    let (queue_id, rest) = rest.split_once("], queueOffset=").unwrap();
    let queue_offset = rest.strip_suffix(']').unwrap_or_else(|| panic!("{line}"));
    (queue_id.parse().unwrap(), queue_offset.parse().unwrap())
}

/// The body of a `... Receive New Messages: [MessageExt [...]] ` line, from Java's
/// `Arrays.toString(byte[])` form.
fn parse_received(line: &str) -> String {
    let (thread, rest) = line
        .split_once(" Receive New Messages: [MessageExt [")
        .unwrap();
    assert!(thread.starts_with("ConsumeMessageThread_"), "{line}");
    assert!(rest.starts_with("brokerName=broker-a, queueId="), "{line}");
    for field in [
        ", storeSize=",
        ", queueOffset=",
        ", sysFlag=0, bornTimestamp=",
        ", bornHost=/",
        ", storeHost=/127.0.0.1:",
        ", msgId=",
        ", commitLogOffset=",
        ", bodyCRC=",
        ", reconsumeTimes=0, preparedTransactionOffset=0",
        ", toString()=Message{topic='TopicTest', flag=0, properties={",
        "TAGS=TagA",
        "UNIQ_KEY=",
    ] {
        assert!(rest.contains(field), "no {field:?} in {line}");
    }
    let (_, body) = rest.split_once("}, body=[").unwrap();
    let body = body
        .strip_suffix("], transactionId='null'}]] ")
        .unwrap_or_else(|| panic!("{line}"));
    let bytes: Vec<u8> = body
        .split(", ")
        .map(|byte| byte.parse::<i8>().unwrap().to_ne_bytes()[0])
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_prints_send_results_and_consumer_prints_every_message() {
    let cluster = Cluster::start(1000).await;
    let namesrv = cluster.namesrv.addr.clone();

    let mut out = Vec::new();
    run_producer(&namesrv, COUNT, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), COUNT, "{text}");
    // Per queue, the offsets run 0, 1, 2, ...: every send landed, once.
    let mut offsets: HashMap<i32, Vec<i64>> = HashMap::new();
    for line in &lines {
        let (queue_id, queue_offset) = parse_send_result(line);
        offsets.entry(queue_id).or_default().push(queue_offset);
    }
    for queue_offsets in offsets.values() {
        let expected: Vec<i64> = (0..queue_offsets.len() as i64).collect();
        assert_eq!(*queue_offsets, expected);
    }

    let out = Shared::default();
    let watched = out.clone();
    let all_printed = async move {
        let deadline = Instant::now() + WAIT_LIMIT;
        while watched.lines().len() < COUNT + 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut writer = out.clone();
    run_consumer(&namesrv, &mut writer, all_printed)
        .await
        .unwrap();
    let lines = out.lines();
    assert_eq!(lines[0], "Consumer Started.");
    let bodies: BTreeSet<String> = lines[1..].iter().map(|l| parse_received(l)).collect();
    let expected: BTreeSet<String> = (0..COUNT).map(|i| format!("Hello RocketMQ {i}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(lines.len(), COUNT + 1, "each message printed once");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_started_before_the_topic_exists_prints_what_comes_later() {
    let cluster = Cluster::start(1000).await;
    let namesrv = cluster.namesrv.addr.clone();
    let out = Shared::default();
    let watched = out.clone();
    let producing = namesrv.clone();
    let all_printed = async move {
        // The consumer is up (it printed its start line) before anything is sent.
        let deadline = Instant::now() + WAIT_LIMIT;
        while watched.lines().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut sent = Vec::new();
        run_producer(&producing, 5, &mut sent).await.unwrap();
        while watched.lines().len() < 6 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut writer = out.clone();
    run_consumer(&namesrv, &mut writer, all_printed)
        .await
        .unwrap();
    let lines = out.lines();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let bodies: BTreeSet<String> = lines[1..].iter().map(|l| parse_received(l)).collect();
    assert_eq!(bodies.len(), 5);
    assert_eq!(
        quickstart::CONSUMER_GROUP,
        "please_rename_unique_group_name_4"
    );
    cluster.stop().await;
}

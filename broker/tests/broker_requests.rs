//! The broker over real sockets, frame by frame: send and pull, long polling, the leniency
//! Java's broker shows to other clients, retry and DLQ, delayed delivery across a restart,
//! shrinking a topic's queues, and offsets across a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_arguments)]

mod common;

use std::time::{Duration, Instant};

use bolide_client::protocol::broker_header::{
    PullMessageResponseHeader, SendMessageResponseHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::message::{StoredMessage, decode_records};
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::RemotingClient;
use common::{TestBroker, call, client, fields, test_config};

const TOPIC_QUEUES: &str = "4";

async fn create_topic(client: &RemotingClient, addr: &str, topic: &str, read: &str, write: &str) {
    let request = RemotingCommand::request(
        RequestCode::UPDATE_AND_CREATE_TOPIC,
        fields(&[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", read),
            ("writeQueueNums", write),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ]),
    );
    let response = call(client, addr, request).await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        response.remark_text()
    );
}

/// SEND_MESSAGE_V2 of one message; returns the response.
async fn send(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    queue_id: i32,
    body: &[u8],
    properties: &str,
) -> RemotingCommand {
    let queue = queue_id.to_string();
    let request = RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        fields(&[
            ("a", "pg"),
            ("b", topic),
            ("c", "TBW102"),
            ("d", TOPIC_QUEUES),
            ("e", &queue),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", properties),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
        ]),
    )
    .with_body(body.to_vec());
    call(client, addr, request).await
}

async fn send_ok(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    queue_id: i32,
    body: &[u8],
    properties: &str,
) -> SendMessageResponseHeader {
    let response = send(client, addr, topic, queue_id, body, properties).await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        response.remark_text()
    );
    assert!(response.ext_fields.contains_key("MSG_REGION"));
    assert!(response.ext_fields.contains_key("TRACE_ON"));
    SendMessageResponseHeader::from_ext_fields(&response.ext_fields).unwrap()
}

/// PULL_MESSAGE with the subscription in the header (sysFlag 4 | `extra`).
async fn pull(
    client: &RemotingClient,
    addr: &str,
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: u64,
    extra_flags: i32,
    suspend_ms: u64,
    subscription: &str,
) -> (RemotingCommand, Vec<StoredMessage>) {
    let (queue, offset, flags, suspend) = (
        queue_id.to_string(),
        offset.to_string(),
        (4 | extra_flags).to_string(),
        suspend_ms.to_string(),
    );
    let request = RemotingCommand::request(
        RequestCode::PULL_MESSAGE,
        fields(&[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &queue),
            ("queueOffset", &offset),
            ("maxMsgNums", "32"),
            ("sysFlag", &flags),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", &suspend),
            ("subscription", subscription),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ]),
    );
    let response = client
        .invoke(
            addr,
            request,
            Duration::from_millis(suspend_ms) + common::TIMEOUT,
        )
        .await
        .expect("pull response");
    let messages = if response.code == ResponseCode::SUCCESS {
        decode_records(&response.body, true).expect("records")
    } else {
        Vec::new()
    };
    (response, messages)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn send_then_pull_returns_the_stored_records_with_tag_filtering() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_config(dir.path()), 0);
    runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "T", "4", "4").await;
        for (index, tag) in ["TagA", "TagB", "TagC", "TagA"].iter().enumerate() {
            let header = send_ok(
                &client,
                &broker.addr,
                "T",
                1,
                format!("m{index}").as_bytes(),
                &format!("TAGS\u{1}{tag}\u{2}"),
            )
            .await;
            assert_eq!(header.queue_id, 1);
            assert_eq!(header.queue_offset, index as i64);
        }
        let (response, all) = pull(&client, &broker.addr, "g", "T", 1, 0, 0, 0, "*").await;
        assert_eq!(response.code, ResponseCode::SUCCESS);
        let header = PullMessageResponseHeader::from_ext_fields(&response.ext_fields).unwrap();
        assert_eq!((header.next_begin_offset, header.max_offset), (4, 4));
        let bodies: Vec<_> = all
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect();
        assert_eq!(bodies, ["m0", "m1", "m2", "m3"]);
        assert_eq!(all[0].properties.get("CLUSTER"), Some("DefaultCluster"));

        let (_, tagged) = pull(&client, &broker.addr, "g", "T", 1, 0, 0, 0, "TagA || TagB").await;
        let tags: Vec<_> = tagged
            .iter()
            .map(|m| m.tags().unwrap_or("").to_owned())
            .collect();
        assert_eq!(tags, ["TagA", "TagB", "TagA"]);

        // At the end: PULL_NOT_FOUND with the same offset; past it: OFFSET_MOVED.
        let (at_end, _) = pull(&client, &broker.addr, "g", "T", 1, 4, 0, 0, "*").await;
        assert_eq!(at_end.code, ResponseCode::PULL_NOT_FOUND);
        let (beyond, _) = pull(&client, &broker.addr, "g", "T", 1, 9, 0, 0, "*").await;
        assert_eq!(beyond.code, ResponseCode::PULL_OFFSET_MOVED);
        // Writes only below writeQueueNums; unknown topics without auto-create template fail.
        let refused = send(&client, &broker.addr, "T", 4, b"x", "").await;
        assert_eq!(refused.code, ResponseCode::SYSTEM_ERROR);
        let bad_name = send(&client, &broker.addr, "bad topic", 0, b"x", "").await;
        assert_eq!(bad_name.code, ResponseCode::SYSTEM_ERROR);
    });
    broker.stop();
}

#[test]
fn a_parked_pull_is_answered_soon_after_a_send() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_config(dir.path()), 0);
    runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "LP", "1", "1").await;
        let puller = {
            let (client, addr) = (client.clone(), broker.addr.clone());
            tokio::spawn(async move {
                let (response, messages) =
                    pull(&client, &addr, "g", "LP", 0, 0, 2, 15_000, "*").await;
                (response.code, messages.len(), Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent_at = Instant::now();
        send_ok(&client, &broker.addr, "LP", 0, b"wake up", "").await;
        let (code, count, answered_at) = puller.await.unwrap();
        assert_eq!((code, count), (ResponseCode::SUCCESS, 1));
        // Without a wake-up the pull would wait out its 15 s suspend timeout. The bound is
        // loose so a loaded CI machine cannot make this flaky; the figure is printed.
        let delay = answered_at.saturating_duration_since(sent_at);
        eprintln!("long-poll answer {delay:?} after the send began");
        assert!(
            delay < Duration::from_secs(1),
            "answered {delay:?} after the send"
        );
    });
    broker.stop();
}

#[test]
fn json_headers_with_numbers_and_booleans_and_lenient_bodies_are_accepted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_config(dir.path()), 0);
    runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "L", "1", "1").await;
        send_ok(&client, &broker.addr, "L", 0, b"x", "").await;
        // A hand-written JSON header: extFields as numbers and booleans, no serializeTypeCurrentRPC.
        let header = br#"{"code":30,"language":"CPP","version":400,"opaque":7,"flag":0,"extFields":{"topic":"L","queueId":0}}"#;
        let mut frame = Vec::new();
        frame.extend_from_slice(&((4 + header.len()) as u32).to_be_bytes());
        frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
        frame.extend_from_slice(header);
        let mut stream = tokio::net::TcpStream::connect(&broker.addr).await.unwrap();
        stream.write_all(&frame).await.unwrap();
        let length = stream.read_u32().await.unwrap();
        let mut rest = vec![0; length as usize];
        stream.read_exact(&mut rest).await.unwrap();
        let text = String::from_utf8_lossy(&rest);
        assert!(text.contains(r#""code":0"#), "{text}");
        assert!(text.contains(r#""offset":"1""#), "{text}");
        // A send whose booleans are a JSON true, "0" and "1", and whose numbers are numbers.
        let header = br#"{"code":310,"language":"CPP","version":400,"opaque":8,"flag":0,"extFields":{"a":"pg","b":"L","c":"TBW102","d":4,"e":0,"f":0,"g":1700000000000,"h":0,"i":"","j":0,"k":true,"m":"0","l":"1"}}"#;
        let body = b"lenient";
        let mut frame = Vec::new();
        frame.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
        frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
        frame.extend_from_slice(header);
        frame.extend_from_slice(body);
        stream.write_all(&frame).await.unwrap();
        let length = stream.read_u32().await.unwrap();
        let mut rest = vec![0; length as usize];
        stream.read_exact(&mut rest).await.unwrap();
        let text = String::from_utf8_lossy(&rest);
        assert!(text.contains(r#""code":0"#), "{text}");
        assert!(text.contains(r#""queueOffset":"1""#), "{text}");

        // A C++-style heartbeat: enum ordinals, subVersion as a string, optional keys missing.
        let heartbeat = br#"{"clientID":"127.0.0.1@cpp","consumerDataSet":[{"groupName":"cg","consumeType":1,"messageModel":1,"consumeFromWhere":4,"subscriptionDataSet":[{"topic":"L","subString":"*","subVersion":"17"}]}]}"#;
        let response = call(&client, &broker.addr, RemotingCommand::request(RequestCode::HEART_BEAT, fields(&[])).with_body(heartbeat.to_vec())).await;
        assert_eq!(response.code, ResponseCode::SUCCESS, "{}", response.remark_text());
        let response = call(&client, &broker.addr, RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP, fields(&[("consumerGroup", "cg")]))).await;
        assert_eq!(response.code, ResponseCode::SUCCESS, "{}", response.remark_text());
        assert!(String::from_utf8_lossy(&response.body).contains("127.0.0.1@cpp"));
        // A lock body without onlyThisBroker.
        let lock = br#"{"consumerGroup":"cg","clientId":"127.0.0.1@cpp","mqSet":[{"topic":"L","brokerName":"broker-a","queueId":0}]}"#;
        let response = call(&client, &broker.addr, RemotingCommand::request(RequestCode::LOCK_BATCH_MQ, fields(&[])).with_body(lock.to_vec())).await;
        assert_eq!(response.code, ResponseCode::SUCCESS, "{}", response.remark_text());
        assert!(String::from_utf8_lossy(&response.body).contains(r#""queueId":0"#));
        // An unknown code is refused, not answered with success.
        let response = call(&client, &broker.addr, RemotingCommand::request(9999, fields(&[]))).await;
        assert_eq!(response.code, ResponseCode::REQUEST_CODE_NOT_SUPPORTED);
    });
    broker.stop();
}

#[test]
fn shrinking_write_queues_first_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_config(dir.path()), 0);
    runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "S", "8", "8").await;
        for queue in 0..8 {
            send_ok(
                &client,
                &broker.addr,
                "S",
                queue,
                format!("before-{queue}").as_bytes(),
                "",
            )
            .await;
        }
        // Step 1: stop writing to queues 4..8, keep reading all 8.
        create_topic(&client, &broker.addr, "S", "8", "4").await;
        assert_eq!(
            send(&client, &broker.addr, "S", 5, b"x", "").await.code,
            ResponseCode::SYSTEM_ERROR
        );
        for queue in 0..4 {
            send_ok(
                &client,
                &broker.addr,
                "S",
                queue,
                format!("after-{queue}").as_bytes(),
                "",
            )
            .await;
        }
        let mut seen = Vec::new();
        for queue in 0..8 {
            let (_, messages) = pull(&client, &broker.addr, "g", "S", queue, 0, 0, 0, "*").await;
            seen.extend(
                messages
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
            );
        }
        assert_eq!(seen.len(), 12, "{seen:?}");
        // Step 2, once queues 4..8 are drained: read only 4.
        create_topic(&client, &broker.addr, "S", "4", "4").await;
        let (response, _) = pull(&client, &broker.addr, "g", "S", 5, 0, 0, 0, "*").await;
        assert_eq!(response.code, ResponseCode::SYSTEM_ERROR);
    });
    broker.stop();
}

#[test]
fn failed_messages_retry_with_delay_then_go_to_the_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // Level 3 (the first retry) shortened so the test does not wait 10 s.
    config.delay_levels_ms = vec![1_000, 1_000, 1_000, 1_000, 1_000];
    let broker = TestBroker::start(config, 0);
    runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "R", "1", "1").await;
        let sent = send_ok(&client, &broker.addr, "R", 0, b"fail me", "TAGS\u{1}x\u{2}").await;
        let (_, messages) = pull(&client, &broker.addr, "cg", "R", 0, 0, 0, 0, "*").await;
        let original = &messages[0];
        assert_eq!(original.offset_msg_id(), sent.msg_id);
        let send_back = |offset: i64, max: &str| {
            RemotingCommand::request(
                RequestCode::CONSUMER_SEND_MSG_BACK,
                fields(&[
                    ("offset", &offset.to_string()),
                    ("group", "cg"),
                    ("delayLevel", "0"),
                    ("originMsgId", ""),
                    ("maxReconsumeTimes", max),
                ]),
            )
        };
        let response = call(
            &client,
            &broker.addr,
            send_back(original.physical_offset, "1"),
        )
        .await;
        assert_eq!(
            response.code,
            ResponseCode::SUCCESS,
            "{}",
            response.remark_text()
        );
        // Not yet in the retry topic: it waits in the schedule topic first.
        let (early, _) = pull(&client, &broker.addr, "cg", "%RETRY%cg", 0, 0, 0, 0, "*").await;
        assert_ne!(early.code, ResponseCode::SUCCESS);
        let deadline = Instant::now() + Duration::from_secs(10);
        let retried = loop {
            let (_, messages) =
                pull(&client, &broker.addr, "cg", "%RETRY%cg", 0, 0, 0, 0, "*").await;
            if let Some(message) = messages.into_iter().next() {
                break message;
            }
            assert!(Instant::now() < deadline, "the retry never arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(retried.body.as_ref(), b"fail me");
        assert_eq!(retried.reconsume_times, 1);
        assert_eq!(retried.properties.get("RETRY_TOPIC"), Some("R"));
        // Failing again with maxReconsumeTimes 1: straight to the DLQ.
        let response = call(
            &client,
            &broker.addr,
            send_back(retried.physical_offset, "1"),
        )
        .await;
        assert_eq!(
            response.code,
            ResponseCode::SUCCESS,
            "{}",
            response.remark_text()
        );
        let (dead, messages) = pull(&client, &broker.addr, "cg", "%DLQ%cg", 0, 0, 0, 0, "*").await;
        assert_eq!(dead.code, ResponseCode::SUCCESS, "{}", dead.remark_text());
        assert_eq!(messages[0].body.as_ref(), b"fail me");
    });
    broker.stop();
}

#[test]
fn a_delayed_message_arrives_on_time_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_config(dir.path()), 0);
    let port = broker.port;
    let sent_at = runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "D", "1", "1").await;
        send_ok(&client, &broker.addr, "D", 0, b"later", "DELAY\u{1}2\u{2}").await;
        let sent_at = Instant::now();
        let (now, _) = pull(&client, &broker.addr, "g", "D", 0, 0, 0, 0, "*").await;
        assert_ne!(now.code, ResponseCode::SUCCESS, "level 2 waits 5 s");
        sent_at
    });
    broker.stop();
    let broker = TestBroker::start(test_config(dir.path()), port);
    runtime().block_on(async {
        let client = client();
        let deadline = sent_at + Duration::from_secs(12);
        loop {
            let (_, messages) = pull(&client, &broker.addr, "g", "D", 0, 0, 0, 0, "*").await;
            if let Some(message) = messages.first() {
                let waited = sent_at.elapsed();
                assert_eq!(message.body.as_ref(), b"later");
                assert!(
                    waited >= Duration::from_secs(4),
                    "delivered after {waited:?}"
                );
                assert!(
                    waited <= Duration::from_secs(6),
                    "delivered after {waited:?}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the delayed message never arrived"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    broker.stop();
}

#[test]
fn committed_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_config(dir.path()), 0);
    let port = broker.port;
    runtime().block_on(async {
        let client = client();
        create_topic(&client, &broker.addr, "O", "1", "1").await;
        let request = RemotingCommand::request(
            RequestCode::UPDATE_CONSUMER_OFFSET,
            fields(&[
                ("consumerGroup", "cg"),
                ("topic", "O"),
                ("queueId", "0"),
                ("commitOffset", "42"),
            ]),
        );
        assert_eq!(
            call(&client, &broker.addr, request).await.code,
            ResponseCode::SUCCESS
        );
    });
    broker.stop();
    let broker = TestBroker::start(test_config(dir.path()), port);
    runtime().block_on(async {
        let client = client();
        let request = RemotingCommand::request(
            RequestCode::QUERY_CONSUMER_OFFSET,
            fields(&[("consumerGroup", "cg"), ("topic", "O"), ("queueId", "0")]),
        );
        let response = call(&client, &broker.addr, request).await;
        assert_eq!(response.code, ResponseCode::SUCCESS);
        assert_eq!(
            response.ext_fields.get("offset").map(String::as_str),
            Some("42")
        );
    });
    broker.stop();
}

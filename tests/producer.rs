//! The producer (`bolide_client::producer`) against a name server and brokers run in-process
//! on 127.0.0.1:0: sync sends read back by PULL_MESSAGE, auto-creation through TBW102, oneway
//! and batch sends, name-server failover, retries on another broker, ordered sends by
//! sharding key, callback sends and zstd bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use bolide_client::producer::{
    CompressionType, Message, Producer, ProducerError, SendResult, SendStatus,
};
use bolide_client::protocol::body::ProducerConnection;
use bolide_client::protocol::broker_header::{
    GetProducerConnectionListRequestHeader, PullMessageRequestHeader, pull_sys_flag,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::message::{StoredMessage, decode_records, property, sysflag};
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};
use tokio::net::TcpListener;

use common::{TIMEOUT, namesrv_client, start_broker, start_namesrv, wait_for};

async fn producer(namesrv_addr: &str, group: &str) -> Producer {
    let producer = Producer::builder()
        .namesrv_addr(namesrv_addr)
        .group(group)
        .send_timeout(Duration::from_secs(5))
        .retry_times_when_send_failed(2)
        .compress_over_bytes(4096)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// Up to 32 messages of a queue from `offset`, by a raw PULL_MESSAGE; none when the broker
/// has nothing there (yet).
async fn pull(
    client: &RemotingClient,
    broker: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
) -> Vec<StoredMessage> {
    let header = PullMessageRequestHeader {
        consumer_group: "producer_test_reader".to_owned(),
        topic: topic.to_owned(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".to_owned()),
        sub_version: 0,
        expression_type: Some("TAG".to_owned()),
        broker_name: None,
    };
    let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields());
    let response = client.invoke(broker, request, TIMEOUT).await.unwrap();
    if response.code != ResponseCode::SUCCESS {
        return Vec::new();
    }
    decode_records(&response.body, true).unwrap()
}

/// The client ids the broker lists for `group` (GET_PRODUCER_CONNECTION_LIST): filled by
/// heartbeats, emptied by UNREGISTER_CLIENT.
async fn producer_client_ids(client: &RemotingClient, broker: &str, group: &str) -> Vec<String> {
    let header = GetProducerConnectionListRequestHeader {
        producer_group: group.to_owned(),
    };
    let request = RemotingCommand::request(
        RequestCode::GET_PRODUCER_CONNECTION_LIST,
        header.to_ext_fields(),
    );
    let response = client.invoke(broker, request, TIMEOUT).await.unwrap();
    if response.code != ResponseCode::SUCCESS {
        return Vec::new();
    }
    let body = ProducerConnection::decode(&response.body).unwrap();
    body.connection_set
        .into_iter()
        .map(|c| c.client_id)
        .collect()
}

/// The body as sent: zlib is inflated here independently of the client's codec.
fn stored_body(message: &StoredMessage) -> Vec<u8> {
    if message.sysflag & sysflag::COMPRESSED == 0 {
        return message.body.to_vec();
    }
    assert_eq!(
        message.sysflag & sysflag::COMPRESSION_TYPE_MASK,
        0,
        "4.x zlib"
    );
    let mut body = Vec::new();
    flate2::read::ZlibDecoder::new(&message.body[..])
        .read_to_end(&mut body)
        .unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_sends_are_stored_in_order_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    let producer = producer(&namesrv.addr, "pg_sync").await;

    let big_body: Vec<u8> = (0..10 * 1024).map(|i| (i % 251) as u8).collect();
    let mut sent: Vec<(Vec<u8>, SendResult)> = Vec::new();
    for i in 0..100 {
        let body = if i == 50 {
            big_body.clone()
        } else {
            format!("body-{i}").into_bytes()
        };
        let message = Message::new("ProducerSync", body.clone())
            .with_tags(format!("Tag{}", i % 3))
            .with_keys([format!("key-{i}"), "shared".to_owned()]);
        let result = producer.send(message).await.unwrap();
        assert_eq!(result.send_status, SendStatus::SendOk);
        assert_eq!(result.message_queue.broker_name, "broker-a");
        assert!(
            result
                .to_string()
                .starts_with("SendResult [sendStatus=SEND_OK, msgId=")
        );
        sent.push((body, result));
    }
    // Per queue, offsets count up from 0 without gaps; round-robin used several queues.
    let queues: HashSet<i32> = sent.iter().map(|(_, r)| r.message_queue.queue_id).collect();
    assert!(
        queues.len() > 1,
        "round-robin spreads over queues: {queues:?}"
    );
    for queue in &queues {
        let offsets: Vec<i64> = sent
            .iter()
            .filter(|(_, r)| r.message_queue.queue_id == *queue)
            .map(|(_, r)| r.queue_offset)
            .collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "queue {queue}"
        );
    }
    let ids: HashSet<&str> = sent.iter().map(|(_, r)| r.msg_id.as_str()).collect();
    assert_eq!(ids.len(), 100, "UNIQ_KEYs are unique");

    let reader = RemotingClient::new(ClientConfig::default());
    for (i, (body, result)) in sent.iter().enumerate() {
        let stored = pull(
            &reader,
            &broker.addr,
            "ProducerSync",
            result.message_queue.queue_id,
            result.queue_offset,
        )
        .await;
        let message = stored.first().expect("the message is there");
        assert_eq!(message.queue_offset, result.queue_offset);
        assert_eq!(
            message.properties.get(property::UNIQ_KEY),
            Some(result.msg_id.as_str())
        );
        assert_eq!(message.offset_msg_id(), result.offset_msg_id);
        assert_eq!(message.tags(), Some(format!("Tag{}", i % 3).as_str()));
        assert_eq!(
            message.properties.get(property::KEYS),
            Some(format!("key-{i} shared").as_str())
        );
        assert_eq!(stored_body(message), *body);
        assert_eq!(
            message.sysflag & sysflag::COMPRESSED != 0,
            i == 50,
            "only the 10 KiB body is compressed"
        );
    }

    // The first route brought a heartbeat; shutdown unregisters.
    let listed = producer_client_ids(&reader, &broker.addr, "pg_sync").await;
    assert_eq!(listed, [producer.client_id()]);
    producer.shutdown().await;
    wait_for("the producer to be unregistered", || async {
        producer_client_ids(&reader, &broker.addr, "pg_sync")
            .await
            .is_empty()
    })
    .await;
    let after = producer.send(Message::new("ProducerSync", "late")).await;
    assert!(
        matches!(after, Err(ProducerError::NotRunning { .. })),
        "{after:?}"
    );
    broker.stop().await;
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_topic_is_created_through_tbw102() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    let client = namesrv_client();
    assert_eq!(client.route(&namesrv.addr, "BrandNew").await.unwrap(), None);

    let producer = producer(&namesrv.addr, "pg_auto").await;
    for _ in 0..8 {
        let result = producer
            .send(Message::new("BrandNew", "first"))
            .await
            .unwrap();
        assert_eq!(result.send_status, SendStatus::SendOk);
        assert!((0..4).contains(&result.message_queue.queue_id), "{result}");
    }
    // The broker created the topic and registered it: the name server now has its route.
    wait_for("BrandNew's route", || async {
        client
            .route(&namesrv.addr, "BrandNew")
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;

    producer.shutdown().await;
    broker.stop().await;
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oneway_and_batch_sends_land() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    let producer = producer(&namesrv.addr, "pg_batch").await;
    let reader = RemotingClient::new(ClientConfig::default());

    let batch: Vec<Message> = (0..10)
        .map(|i| {
            Message::new("ProducerBatch", format!("batched-{i}"))
                .with_tags("B")
                .with_key(format!("bk{i}"))
        })
        .collect();
    let result = producer.send_batch(batch).await.unwrap();
    assert_eq!(result.send_status, SendStatus::SendOk);
    let ids: Vec<&str> = result.msg_id.split(',').collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(result.offset_msg_id.split(',').count(), 10);
    let stored = pull(
        &reader,
        &broker.addr,
        "ProducerBatch",
        result.message_queue.queue_id,
        result.queue_offset,
    )
    .await;
    assert_eq!(stored.len(), 10);
    for (i, message) in stored.iter().enumerate() {
        assert_eq!(message.properties.get(property::UNIQ_KEY), Some(ids[i]));
        assert_eq!(message.body, format!("batched-{i}").as_bytes());
        assert_eq!(
            message.properties.get(property::KEYS),
            Some(format!("bk{i}").as_str())
        );
    }

    for i in 0..5 {
        let message = Message::new("ProducerOneway", format!("oneway-{i}")).with_tags("O");
        producer.send_oneway(message).await.unwrap();
    }
    let expected: HashSet<Vec<u8>> = (0..5).map(|i| format!("oneway-{i}").into_bytes()).collect();
    wait_for("the oneway messages", || async {
        let mut found = HashSet::new();
        for queue_id in 0..8 {
            for message in pull(&reader, &broker.addr, "ProducerOneway", queue_id, 0).await {
                found.insert(message.body.to_vec());
            }
        }
        found == expected
    })
    .await;

    producer.shutdown().await;
    broker.stop().await;
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_work_when_the_first_name_server_is_dead() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    // Nothing listens on a port bound and then released.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let addrs = format!("{dead};{}", namesrv.addr);
    // The first name server asked is random: several producers make it near-certain that
    // some of them start with the dead one.
    for n in 0..6 {
        let producer = producer(&addrs, &format!("pg_failover_{n}")).await;
        let result = producer
            .send(Message::new("ProducerFailover", "x"))
            .await
            .unwrap();
        assert_eq!(result.send_status, SendStatus::SendOk);
        producer.shutdown().await;
    }
    broker.stop().await;
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_broker_is_retried_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker_a = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    let broker_b = start_broker(dir.path(), "broker-b", &namesrv.addr, |_| {}).await;
    let producer = Producer::builder()
        .namesrv_addr(&namesrv.addr)
        .group("pg_retry")
        .refresh_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    // Create the topic on both brokers, so that the cached route lists both.
    let mut brokers = HashSet::new();
    for _ in 0..40 {
        let result = producer
            .send(Message::new("ProducerRetry", "warm"))
            .await
            .unwrap();
        brokers.insert(result.message_queue.broker_name);
        if brokers.len() == 2 {
            break;
        }
    }
    assert_eq!(brokers.len(), 2, "the template route covers both brokers");

    broker_b.stop().await;
    // The cached route still lists broker-b; every send must end on broker-a.
    for _ in 0..10 {
        let result = producer
            .send(Message::new("ProducerRetry", "after"))
            .await
            .unwrap();
        assert_eq!(result.message_queue.broker_name, "broker-a");
        assert_eq!(result.send_status, SendStatus::SendOk);
    }
    // The background refresh drops broker-b once the name server has.
    wait_for("the refreshed route", || async {
        let queues = producer.publish_queues("ProducerRetry").await.unwrap();
        !queues.is_empty() && queues.iter().all(|q| q.broker_name == "broker-a")
    })
    .await;

    producer.shutdown().await;
    broker_a.stop().await;
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordered_callback_and_zstd_sends() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let broker = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
    let producer = producer(&namesrv.addr, "pg_ordered").await;
    let reader = RemotingClient::new(ClientConfig::default());

    // Every message of a sharding key lands in one queue, in send order; the queue is the
    // one Java's hash selector picks: |hashCode % 4| ("order-0".hashCode() etc.).
    let queues = producer.publish_queues("ProducerOrdered").await.unwrap();
    assert_eq!(queues.len(), 4);
    let mut per_key: Vec<Vec<SendResult>> = vec![Vec::new(); 3];
    for sequence in 0..30 {
        let key = sequence % 3;
        let message = Message::new("ProducerOrdered", format!("order-{key}-{sequence}"));
        let result = producer
            .send_orderly(message, &format!("order-{key}"))
            .await
            .unwrap();
        per_key[key].push(result);
    }
    let java_hash = |text: &str| {
        text.encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
    };
    for (key, results) in per_key.iter().enumerate() {
        let expected_queue = (java_hash(&format!("order-{key}")) % 4).unsigned_abs() as i32;
        assert!(
            results
                .iter()
                .all(|r| r.message_queue.queue_id == expected_queue)
        );
        let offsets: Vec<i64> = results.iter().map(|r| r.queue_offset).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    }
    let target = queues[2].clone();
    let to_queue = producer
        .send_to_queue(Message::new("ProducerOrdered", "chosen"), &target)
        .await
        .unwrap();
    assert_eq!(to_queue.message_queue, target);

    // The callback form reports the stored result.
    let (done, result) = tokio::sync::oneshot::channel();
    producer.send_with_callback(Message::new("ProducerCallback", "called back"), move |r| {
        let _ = done.send(r);
    });
    let result = tokio::time::timeout(Duration::from_secs(10), result)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let stored = pull(
        &reader,
        &broker.addr,
        "ProducerCallback",
        result.message_queue.queue_id,
        result.queue_offset,
    )
    .await;
    assert_eq!(stored[0].body, &b"called back"[..]);

    // zstd: RocketMQ 5's type bits, and the body decodes with a stock zstd decoder.
    let zstd_producer = Producer::builder()
        .namesrv_addr(&namesrv.addr)
        .group("pg_zstd")
        .compression_type(CompressionType::Zstd)
        .build()
        .unwrap();
    zstd_producer.start().await.unwrap();
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 7) as u8).collect();
    let result = zstd_producer
        .send(Message::new("ProducerZstd", body.clone()))
        .await
        .unwrap();
    let stored = pull(
        &reader,
        &broker.addr,
        "ProducerZstd",
        result.message_queue.queue_id,
        result.queue_offset,
    )
    .await;
    let flags = stored[0].sysflag;
    assert_eq!(flags & sysflag::COMPRESSED, sysflag::COMPRESSED);
    assert_eq!(
        flags & sysflag::COMPRESSION_TYPE_MASK,
        sysflag::COMPRESSION_ZSTD
    );
    assert!(stored[0].body.len() < body.len() / 10);
    assert_eq!(zstd::decode_all(&stored[0].body[..]).unwrap(), body);

    zstd_producer.shutdown().await;
    producer.shutdown().await;
    broker.stop().await;
    namesrv.stop().await;
}

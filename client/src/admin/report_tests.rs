//! Tests of `report`: RocketMQ's headings, the cells computed from answers, and the
//! message detail printed for queries.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;

use super::*;
use crate::admin::AdminError;
use crate::admin::broker::BrokerAddr;
use crate::admin::table::split_row;
use crate::protocol::body::{OffsetWrapper, TopicOffset};
use crate::protocol::compression::CompressionType;
use crate::protocol::heartbeat::MessageQueue;
use crate::protocol::message::{Properties, sysflag};
use crate::protocol::route::{BrokerData, QueueData};

fn lines(text: &str) -> Vec<Vec<&str>> {
    text.lines().map(split_row).collect()
}

#[test]
fn topic_status_rows_carry_offsets_and_utc_times() {
    let mut stats = TopicStatsTable::default();
    stats.offset_table.insert(
        MessageQueue::new("T", "broker-a", 1),
        TopicOffset {
            last_update_timestamp: 1_700_000_000_123,
            max_offset: 5,
            min_offset: 0,
        },
    );
    stats.offset_table.insert(
        MessageQueue::new("T", "broker-a", 0),
        TopicOffset::default(),
    );
    let text = topic_status(&stats);
    let rows = lines(&text);
    assert_eq!(
        rows[0],
        [
            "#Broker Name",
            "#QID",
            "#Min Offset",
            "#Max Offset",
            "#Last Updated"
        ]
    );
    assert_eq!(rows[1], ["broker-a", "0", "0", "0"]);
    assert_eq!(
        rows[2],
        ["broker-a", "1", "0", "5", "2023-11-14 22:13:20,123"]
    );
}

#[test]
fn consumer_progress_shows_diff_per_queue_and_total() {
    let mut stats = ConsumeStats {
        consume_tps: 1.5,
        ..ConsumeStats::default()
    };
    for (queue_id, broker_offset, consumer_offset) in [(0, 10, 4), (1, 3, 3)] {
        stats.offset_table.insert(
            MessageQueue::new("T", "broker-a", queue_id),
            OffsetWrapper {
                broker_offset,
                consumer_offset,
                last_timestamp: 0,
            },
        );
    }
    let text = consumer_progress(&stats);
    let rows = lines(&text);
    assert_eq!(rows[0][5], "#Diff");
    assert_eq!(rows[1], ["T", "broker-a", "0", "10", "4", "6", "N/A"]);
    assert_eq!(rows[2], ["T", "broker-a", "1", "3", "3", "0", "N/A"]);
    assert!(text.contains("Consume TPS: 1.50\n"), "{text}");
    assert!(text.ends_with("Diff Total: 6\n"), "{text}");
}

#[test]
fn cluster_list_reads_runtime_keys_and_keeps_unreachable_brokers() {
    let broker = |id: u64, addr: &str| BrokerAddr {
        cluster: "DefaultCluster".into(),
        broker_name: "broker-a".into(),
        broker_id: id,
        addr: addr.into(),
    };
    let stats: BTreeMap<String, String> = [
        ("brokerVersionDesc", "V4_9_7"),
        ("putTps", "12.5 3.0 1.0"),
        ("getTransferedTps", "2.25 1.0 0.0"),
        ("sendThreadPoolQueueSize", "0"),
        ("sendThreadPoolQueueHeadWaitTimeMills", "0"),
        ("pullThreadPoolQueueSize", "1"),
        ("pullThreadPoolQueueHeadWaitTimeMills", "2"),
        ("pageCacheLockTimeMills", "0"),
        ("earliestMessageTimeStamp", "1700000000000"),
        ("commitLogDiskRatio", "0.25"),
        ("msgPutTotalTodayNow", "42"),
        ("msgPutTotalTodayMorning", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let rows = [
        BrokerRuntime {
            broker: broker(0, "127.0.0.1:10911"),
            stats: Ok(KvTable { table: stats }),
        },
        BrokerRuntime {
            broker: broker(1, "127.0.0.1:10921"),
            stats: Err(AdminError::NotFound("unreachable".into())),
        },
    ];
    let now = 1_700_000_000_000 + 2 * 3_600_000;
    let text = cluster_list(&rows, false, now);
    let table = lines(&text);
    assert_eq!(table[0][4], "#Version");
    assert_eq!(
        table[1],
        [
            "DefaultCluster",
            "broker-a",
            "0",
            "127.0.0.1:10911",
            "V4_9_7",
            "12.50(0,0ms)",
            "2.25(1,2ms)",
            "0",
            "2.00",
            "0.2500"
        ]
    );
    assert!(
        text.contains("broker-a (id 1, 127.0.0.1:10921): unreachable"),
        "{text}"
    );
    let more_text = cluster_list(&rows, true, now);
    let more = lines(&more_text);
    assert_eq!(more[0][4], "#InTotalToday");
    assert_eq!(more[1][4], "42");
}

#[test]
fn route_list_totals_queues() {
    let mut broker = BrokerData::new("DefaultCluster", "broker-a");
    broker.broker_addrs.insert(0, "127.0.0.1:10911".into());
    let route = TopicRouteData {
        broker_datas: vec![broker],
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            perm: 6,
            read_queue_nums: 3,
            topic_sys_flag: 0,
            write_queue_nums: 5,
        }],
        ..TopicRouteData::default()
    };
    let text = topic_route_list(&route);
    let rows = lines(&text);
    assert_eq!(
        rows[1],
        [
            "DefaultCluster",
            "broker-a",
            "{0=127.0.0.1:10911}",
            "3",
            "5",
            "6"
        ]
    );
    assert_eq!(rows[2], ["Total:", "1", "3", "5"]);
}

fn message(body: Bytes, flag: i32) -> StoredMessage {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let properties: Properties = [("TAGS", "TagA"), ("KEYS", "k1 k2"), ("UNIQ_KEY", "U1")]
        .into_iter()
        .collect();
    StoredMessage {
        total_size: 0,
        body_crc: 0,
        queue_id: 2,
        flag: 0,
        queue_offset: 7,
        physical_offset: 1234,
        sysflag: flag,
        born_timestamp_ms: 0,
        born_host: host,
        store_timestamp_ms: 1_700_000_000_123,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        topic: "T".into(),
        properties,
    }
}

#[test]
fn message_detail_prints_headers_properties_and_body() {
    // Java prints each label as `%-20s ` (QueryMsgByIdSubCommand).
    let text = message_detail(&message(Bytes::from_static(b"hello admin"), 0));
    for line in [
        "OffsetID:            7F00000100002A9F00000000000004D2",
        "Topic:               T",
        "Tags:                [TagA]",
        "Keys:                [k1 k2]",
        "Queue Offset:        7",
        "CommitLog Offset:    1234",
        "Store Timestamp:     2023-11-14 22:13:20,123",
        "Store Host:          127.0.0.1:10911",
        "Message Body:        hello admin",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("UNIQ_KEY=U1"), "{text}");
}

#[test]
fn compressed_bodies_are_inflated_for_display() {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"squeezed body").unwrap();
    let compressed = encoder.finish().unwrap();
    let stored = message(Bytes::from(compressed), sysflag::COMPRESSED);
    assert_eq!(body_text(&stored), "squeezed body");
    let text = query_by_key(std::slice::from_ref(&stored));
    let rows = lines(&text);
    assert_eq!(rows[1], ["U1", "2", "7", "squeezed body"]);
    let kind = CompressionType::Lz4;
    let lz4 = kind.compress(b"lz4 body", 0).unwrap();
    let lz4 = message(Bytes::from(lz4), kind.sysflag_bits());
    assert_eq!(body_text(&lz4), "lz4 body");
    let unknown = message(
        Bytes::new(),
        sysflag::COMPRESSED | sysflag::COMPRESSION_TYPE_MASK,
    );
    assert!(
        body_text(&unknown).starts_with('<'),
        "{}",
        body_text(&unknown)
    );
}

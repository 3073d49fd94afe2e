//! What the store writes is byte-for-byte protocol.md §5.1 and §6.3.

use std::net::SocketAddr;

use bolide_client::protocol::message::{self, tag_hash_code};

use super::*;

#[test]
fn stored_record_has_the_exact_layout_and_every_field() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    let properties =
        "KEYS\u{1}order-1 order-2\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}0A0000010000ABCDEF";
    let mut first = message("TopicGolden", 3, b"first", "");
    first.flag = 7;
    store.put_message(&first).expect("put");
    let mut second = message("TopicGolden", 3, b"hello world", properties);
    second.reconsume_times = 2;
    let result = store.put_message(&second).expect("put");
    assert_eq!(result.queue_offset, 1);
    let stored = record_at(&store, result.physical_offset);
    assert_eq!(
        stored.total_size,
        message::encoded_record_len(11, 11, properties.len(), false, false)
    );
    assert_eq!(stored.total_size as u32, result.size);
    assert_eq!(stored.queue_id, 3);
    assert_eq!(stored.flag, 0);
    assert_eq!(stored.queue_offset, 1);
    assert_eq!(stored.physical_offset, result.physical_offset as i64);
    assert_eq!(stored.sysflag, 0);
    assert_eq!(stored.born_timestamp_ms, 1_700_000_000_000);
    assert_eq!(stored.born_host, SocketAddr::from(BORN_HOST));
    assert_eq!(stored.store_timestamp_ms, result.store_timestamp_ms);
    assert_eq!(stored.store_host, SocketAddr::from(STORE_HOST));
    assert_eq!(stored.reconsume_times, 2);
    assert_eq!(stored.prepared_transaction_offset, 0);
    assert_eq!(&stored.body[..], b"hello world");
    assert_eq!(stored.body_crc, message::body_crc(b"hello world"));
    assert_eq!(stored.topic, "TopicGolden");
    assert_eq!(stored.properties.get("TAGS"), Some("TagA"));
    assert_eq!(
        result.msg_id(),
        message::offset_msg_id(SocketAddr::from(STORE_HOST), result.physical_offset as i64)
    );
    assert_eq!(&result.msg_id()[..16], "0A00000100002A9F");

    // The raw bytes: magic at 4, the masked CRC at 8, the 1-byte topic length after the body.
    let raw = store
        .message_at(result.physical_offset)
        .expect("read")
        .expect("present");
    assert_eq!(&raw[4..8], &[0xDA, 0xA3, 0x20, 0xA7]);
    assert_eq!(
        u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]),
        message::body_crc(b"hello world")
    );
    assert_eq!(raw[84 + 4 + 11], 11);

    // The ConsumeQueue unit on disk: offset, size, tag hash, big-endian.
    store.shutdown().expect("shutdown");
    let unit = fs
        .read(Path::new(
            "/store/consumequeue/TopicGolden/3/00000000000000000000",
        ))
        .expect("read")
        .expect("queue file");
    let mut expected = Vec::new();
    expected.extend_from_slice(&result.physical_offset.to_be_bytes());
    expected.extend_from_slice(&result.size.to_be_bytes());
    expected.extend_from_slice(&tag_hash_code("TagA").to_be_bytes());
    assert_eq!(&unit[20..40], &expected[..]);
}

#[test]
fn keys_and_unique_keys_are_found_through_the_index() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    let properties = "KEYS\u{1}order-1 order-2\u{2}UNIQ_KEY\u{1}UNIQUE-42";
    let result = store
        .put_message(&message("TopicKeys", 0, b"keyed", properties))
        .expect("put");
    store
        .put_message(&message("TopicKeys", 0, b"other", "KEYS\u{1}order-3"))
        .expect("put");
    store
        .put_message(&message("OtherTopic", 0, b"same key", "KEYS\u{1}order-1"))
        .expect("put");
    for key in ["order-1", "order-2", "UNIQUE-42"] {
        let found = store
            .query_by_key("TopicKeys", key, 32, 0, i64::MAX)
            .expect("query");
        assert_eq!(found.len(), 1, "{key}");
        let stored = message::decode_records(&found[0].clone(), true).expect("decode");
        assert_eq!(stored[0].physical_offset, result.physical_offset as i64);
    }
    assert!(
        store
            .query_by_key("TopicKeys", "order-9", 32, 0, i64::MAX)
            .expect("query")
            .is_empty()
    );
    assert!(
        store
            .query_by_key("TopicKeys", "order-1", 32, 0, 1)
            .expect("query")
            .is_empty(),
        "time range"
    );
}

#[test]
fn batches_get_consecutive_offsets_and_tags_filter_reads() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; 100]).collect();
    let tags = [
        "TAGS\u{1}A",
        "TAGS\u{1}B",
        "TAGS\u{1}A",
        "TAGS\u{1}B",
        "TAGS\u{1}A",
    ];
    let batch: Vec<_> = bodies
        .iter()
        .zip(tags)
        .map(|(b, t)| message("TopicBatch", 1, b, t))
        .collect();
    let results = store.put_messages(&batch).expect("batch");
    let offsets: Vec<u64> = results.iter().map(|r| r.queue_offset).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    for pair in results.windows(2) {
        assert_eq!(pair[0].end_offset, pair[1].physical_offset, "back to back");
    }
    let tag_a = tag_hash_code("A");
    let read = store
        .get_messages("TopicBatch", 1, 0, 10, 1 << 20, &|code| code == tag_a)
        .expect("read");
    assert_eq!(read.status, GetMessageStatus::Found);
    assert_eq!(read.message_count, 3);
    assert_eq!(read.next_begin_offset, 5);
    let none = store
        .get_messages("TopicBatch", 1, 0, 10, 1 << 20, &|_| false)
        .expect("read");
    assert_eq!(none.status, GetMessageStatus::NoMatchedMessage);
    assert_eq!(none.next_begin_offset, 5);
}

#[test]
fn read_statuses_follow_rocketmq() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    let missing = store
        .get_messages("Nope", 0, 0, 1, 1024, &|_| true)
        .expect("read");
    assert_eq!(missing.status, GetMessageStatus::NoMatchedLogicQueue);
    for _ in 0..3 {
        store.put_message(&message("T", 0, b"x", "")).expect("put");
    }
    let at_end = store
        .get_messages("T", 0, 3, 1, 1024, &|_| true)
        .expect("read");
    assert_eq!(
        (at_end.status, at_end.next_begin_offset),
        (GetMessageStatus::OffsetOverflowOne, 3)
    );
    let beyond = store
        .get_messages("T", 0, 9, 1, 1024, &|_| true)
        .expect("read");
    assert_eq!(beyond.status, GetMessageStatus::OffsetOverflowBadly);
    let budget = store
        .get_messages("T", 0, 0, 10, 1, &|_| true)
        .expect("read");
    assert_eq!(
        budget.message_count, 1,
        "a byte budget still returns one message"
    );
    assert_eq!(store.max_offset("T", 0), 3);
    assert_eq!(store.offset_by_timestamp("T", 0, 0).expect("search"), 0);
    assert_eq!(
        store.offset_by_timestamp("T", 0, i64::MAX).expect("search"),
        3
    );
    assert!(store.earliest_message_time("T", 0).expect("time").is_some());
}

#[test]
fn oversized_and_malformed_messages_are_refused() {
    let fs = SimFileSystem::new();
    let mut config = small_config(FlushDiskType::Async);
    config.max_message_size_bytes = 1000;
    let store = open(&fs, config);
    let big = vec![0u8; 1001];
    assert!(matches!(
        store.put_message(&message("T", 0, &big, "")),
        Err(crate::store::StoreError::MessageIllegal(_))
    ));
    let long_topic = "t".repeat(128);
    assert!(
        store
            .put_message(&message(&long_topic, 0, b"x", ""))
            .is_err()
    );
    assert_eq!(store.commit_log_max_offset(), 0, "nothing was written");
}

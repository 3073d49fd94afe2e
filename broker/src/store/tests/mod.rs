//! Store tests end to end: a real `MessageStore` over the simulated disk (crashes, torn
//! writes, failing flushes) or real files in a temporary directory.

mod crash;
mod golden;
mod real_files;
mod recovery;
mod replica;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bolide_client::protocol::message::{self, MessageToStore, Record, StoredMessage};

use super::config::{FlushDiskType, StoreConfig};
use super::mapped_file::{FileSystem, SimFileSystem};
use super::message_store::{GetMessageStatus, MessageStore};

pub const STORE_HOST: ([u8; 4], u16) = ([10, 0, 0, 1], 10911);
pub const BORN_HOST: ([u8; 4], u16) = ([192, 168, 1, 2], 50000);

/// Small files so tests roll files, pad with BLANK and wrap ConsumeQueue files.
pub fn small_config(mode: FlushDiskType) -> StoreConfig {
    StoreConfig {
        root_dir: "/store".into(),
        commit_log_file_size_bytes: 64 * 1024,
        consume_queue_units_per_file: 64,
        flush_disk_type: mode,
        flush_interval_commit_log_ms: 5,
        flush_commit_log_least_pages: 0,
        flush_interval_consume_queue_ms: 20,
        sync_flush_timeout_ms: 5_000,
        max_hash_slot_num: 64,
        max_index_num: 512,
        store_host: SocketAddr::from(STORE_HOST),
        ..StoreConfig::default()
    }
}

pub fn message<'a>(
    topic: &'a str,
    queue_id: i32,
    body: &'a [u8],
    properties: &'a str,
) -> MessageToStore<'a> {
    MessageToStore {
        topic,
        queue_id,
        flag: 0,
        body,
        properties,
        sysflag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        born_host: SocketAddr::from(BORN_HOST),
        store_host: SocketAddr::from(STORE_HOST),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

pub fn open(fs: &SimFileSystem, config: StoreConfig) -> MessageStore {
    let fs: Arc<dyn FileSystem> = Arc::new(fs.clone());
    MessageStore::open(config, fs).expect("store opens")
}

/// Every message of a queue from its minimum offset, CRC-checked.
pub fn read_queue(store: &MessageStore, topic: &str, queue_id: i32) -> Vec<StoredMessage> {
    let mut offset = store.min_offset(topic, queue_id);
    let mut out = Vec::new();
    loop {
        let result = store
            .get_messages(topic, queue_id, offset, 32, 1 << 20, &|_| true)
            .expect("read");
        if result.status != GetMessageStatus::Found {
            return out;
        }
        let records =
            message::decode_records(&result.body, true).expect("served records are intact");
        assert_eq!(records.len(), result.message_count);
        out.extend(records);
        offset = result.next_begin_offset;
    }
}

/// Decodes the single record at `physical_offset`.
pub fn record_at(store: &MessageStore, physical_offset: u64) -> StoredMessage {
    let bytes = store
        .message_at(physical_offset)
        .expect("read")
        .expect("present");
    match message::decode_record(&bytes, true).expect("valid") {
        Some(Record::Message(stored)) => stored,
        other => panic!("not a message: {other:?}"),
    }
}

pub fn commit_log_path(name: &str) -> std::path::PathBuf {
    Path::new("/store/commitlog").join(name)
}

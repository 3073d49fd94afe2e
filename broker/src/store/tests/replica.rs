//! A slave's store fed with its master's bytes, as replication does: the logs end up byte for
//! byte equal, the slave's ConsumeQueues equal the master's, and bytes that do not continue
//! the slave's log are refused and leave nothing behind.

use super::*;
use crate::store::StoreError;

const TOPICS: [&str; 2] = ["ReplA", "ReplB"];

/// A master with messages of odd sizes across several 64 KiB files.
fn master_with_messages(count: u64) -> (SimFileSystem, MessageStore) {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    for sequence in 0..count {
        let body = vec![(sequence % 251) as u8; 100 + (sequence as usize * 37) % 3000];
        let properties = format!("KEYS\u{1}key{sequence}\u{2}TAGS\u{1}t{}", sequence % 3);
        store
            .put_message(&message(
                TOPICS[(sequence % 2) as usize],
                (sequence % 3) as i32,
                &body,
                &properties,
            ))
            .expect("append");
    }
    (fs, store)
}

/// Copies the master's log to the slave in chunks of `chunk` bytes (records get cut).
fn replicate(master: &MessageStore, slave: &MessageStore, chunk: usize) -> usize {
    let mut arrived = 0;
    loop {
        let from = slave.received_end();
        let bytes = master
            .read_for_replica(from, chunk)
            .expect("read")
            .expect("not deleted");
        if bytes.is_empty() {
            return arrived;
        }
        let end = slave
            .append_replicated(from, &bytes, &mut |_| arrived += 1)
            .expect("slave append");
        assert_eq!(end, from + bytes.len() as u64);
    }
}

fn log_bytes(store: &MessageStore, from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < to {
        let bytes = store
            .read_for_replica(offset, 1 << 20)
            .expect("read")
            .expect("present");
        assert!(!bytes.is_empty());
        offset += bytes.len() as u64;
        out.extend(bytes);
    }
    out
}

#[test]
fn a_slave_fed_in_cut_chunks_equals_its_master() {
    let (_fs, master) = master_with_messages(400);
    let slave_fs = SimFileSystem::new();
    let slave = open(&slave_fs, small_config(FlushDiskType::Async));
    let arrived = replicate(&master, &slave, 1000);
    assert_eq!(arrived, 400);
    let end = master.commit_log_max_offset();
    assert!(end > 5 * 64 * 1024, "several files rolled");
    assert_eq!(slave.commit_log_max_offset(), end);
    assert_eq!(slave.received_end(), end);
    assert_eq!(log_bytes(&slave, 0, end), log_bytes(&master, 0, end));
    for topic in TOPICS {
        for queue_id in 0..3 {
            assert_eq!(
                read_queue(&slave, topic, queue_id),
                read_queue(&master, topic, queue_id)
            );
        }
    }
    assert_eq!(
        slave
            .query_by_key("ReplB", "key7", 10, 0, i64::MAX)
            .expect("index")
            .len(),
        1,
        "the slave's index is built too"
    );
}

#[test]
fn bytes_that_do_not_continue_the_log_are_refused_and_removed() {
    let (_fs, master) = master_with_messages(20);
    let slave_fs = SimFileSystem::new();
    let slave = open(&slave_fs, small_config(FlushDiskType::Async));
    let first = master.read_for_replica(0, 5001).unwrap().unwrap();
    slave.append_replicated(0, &first, &mut |_| {}).unwrap();
    let published = slave.commit_log_max_offset();
    let received = slave.received_end();
    assert!(
        published < received,
        "a record is cut at 5001 bytes: {published} {received} {}",
        first.len()
    );

    // Not where the slave's bytes end.
    let wrong = slave.append_replicated(received + 8, &first[..100], &mut |_| {});
    assert!(
        matches!(wrong, Err(StoreError::Replication(ref m)) if m.contains(&received.to_string()))
    );

    // A flipped body byte in the record after the cut one (bodies start 88 bytes into an
    // IPv4 record): its CRC fails, and the bytes from the cut record on are removed.
    let cut_len = master.message_at(published).unwrap().unwrap().len() as u64;
    let next = (published + cut_len - received) as usize;
    let mut rest = master.read_for_replica(received, 3000).unwrap().unwrap();
    rest[next + 88 + 5] ^= 0xff;
    let bad = slave.append_replicated(received, &rest, &mut |_| {});
    assert!(matches!(bad, Err(StoreError::Replication(_))), "{bad:?}");
    assert_eq!(slave.received_end(), slave.commit_log_max_offset());
    assert!(slave.commit_log_max_offset() >= published);

    // The good bytes from there on are accepted, and the logs end equal.
    replicate(&master, &slave, 777);
    let end = master.commit_log_max_offset();
    assert_eq!(log_bytes(&slave, 0, end), log_bytes(&master, 0, end));
    assert_eq!(
        read_queue(&slave, "ReplA", 0),
        read_queue(&master, "ReplA", 0)
    );
}

#[test]
fn an_empty_slave_starts_at_the_masters_last_file() {
    let (_fs, master) = master_with_messages(200);
    let end = master.commit_log_max_offset();
    let file_size = master.config().commit_log_file_size_bytes;
    let start = end - end % file_size;
    assert!(start > 0);
    let slave_fs = SimFileSystem::new();
    let slave = open(&slave_fs, small_config(FlushDiskType::Async));
    let bytes = master.read_for_replica(start, 4096).unwrap().unwrap();
    slave.append_replicated(start, &bytes, &mut |_| {}).unwrap();
    replicate(&master, &slave, 4096);
    assert_eq!(slave.commit_log_min_offset(), start);
    assert_eq!(
        log_bytes(&slave, start, end),
        log_bytes(&master, start, end)
    );
    // The queues start late, where the master's records in that file say.
    let master_queue = read_queue(&master, "ReplA", 1);
    let slave_queue = read_queue(&slave, "ReplA", 1);
    assert!(!slave_queue.is_empty() && slave_queue.len() < master_queue.len());
    assert_eq!(
        slave_queue.as_slice(),
        &master_queue[master_queue.len() - slave_queue.len()..]
    );
}

#[test]
fn record_boundaries_are_recognised() {
    let (_fs, master) = master_with_messages(60);
    let end = master.commit_log_max_offset();
    let first = master.message_at(0).unwrap().unwrap().len() as u64;
    assert!(master.is_record_boundary(0).unwrap());
    assert!(master.is_record_boundary(first).unwrap());
    assert!(!master.is_record_boundary(first - 1).unwrap());
    assert!(!master.is_record_boundary(first + 8).unwrap());
    assert!(master.is_record_boundary(end).unwrap());
    assert!(!master.is_record_boundary(end + 1).unwrap());
    // The BLANK padding at the end of the first file.
    let mut offset = 0;
    while offset < 64 * 1024 {
        let len = match master.message_at(offset).unwrap() {
            Some(record) => record.len() as u64,
            None => break,
        };
        if offset + len > 64 * 1024 {
            break;
        }
        offset += len;
    }
    assert!(
        master.is_record_boundary(offset).unwrap(),
        "BLANK at {offset}"
    );
}

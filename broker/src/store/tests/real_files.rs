//! More than 1 GiB through the real mmap implementation, with 64 MiB files so rolling, BLANK
//! padding, reads across files, retention and reopening all happen on a real disk.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::store::cleanup::RetentionClock;
use crate::store::mapped_file::RealFileSystem;

const FILE_BYTES: u64 = 64 * 1024 * 1024;
const TARGET_BYTES: u64 = 1024 * 1024 * 1024 + 96 * 1024 * 1024;

/// A body that encodes its own sequence number, so each read can be checked alone.
fn body(sequence: u64, length: usize) -> Vec<u8> {
    let mut body = vec![(sequence % 251) as u8; length];
    body[..8].copy_from_slice(&sequence.to_be_bytes());
    body
}

fn config(root: &Path) -> StoreConfig {
    StoreConfig {
        root_dir: root.to_owned(),
        commit_log_file_size_bytes: FILE_BYTES,
        consume_queue_units_per_file: 1000,
        flush_interval_commit_log_ms: 200,
        max_hash_slot_num: 1024,
        max_index_num: 4096,
        message_index_enable: false,
        store_host: SocketAddr::from(STORE_HOST),
        // Every hour is a deletion hour; only age decides in this test.
        delete_when_hours: (0..24).collect(),
        file_reserved_time_hours: 1,
        ..StoreConfig::default()
    }
}

#[test]
fn more_than_a_gibibyte_through_real_mapped_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs: Arc<dyn FileSystem> = Arc::new(RealFileSystem);
    let store = Arc::new(MessageStore::open(config(dir.path()), fs.clone()).expect("open"));
    let seed: u64 = rand::random();
    eprintln!("real-file test seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sequence = 0u64;
    let mut written = 0u64;
    while written < TARGET_BYTES {
        // Odd sizes up to ~1 MiB: files end with BLANK padding of varying length.
        let length = rng.random_range(8..1_000_003);
        let result = store
            .put_message(&message(
                "BigTopic",
                (sequence % 2) as i32,
                &body(sequence, length),
                "",
            ))
            .expect("append");
        written = result.end_offset;
        sequence += 1;
    }
    let files = store.commit_log().files().files();
    assert!(files.len() >= 17, "{} files", files.len());
    for file in &files {
        assert_eq!(
            std::fs::metadata(&file.path).expect("stat").len(),
            FILE_BYTES
        );
    }

    // Every message reads back intact, across every file boundary.
    let mut seen = 0u64;
    for queue_id in 0..2 {
        for stored in read_queue(&store, "BigTopic", queue_id) {
            let mut head = [0u8; 8];
            head.copy_from_slice(&stored.body[..8]);
            let number = u64::from_be_bytes(head);
            assert_eq!(number % 2, queue_id as u64);
            assert_eq!(stored.queue_offset as u64, number / 2);
            assert!(
                stored
                    .body
                    .iter()
                    .skip(8)
                    .all(|b| *b == (number % 251) as u8)
            );
            seen += 1;
        }
    }
    assert_eq!(seen, sequence);

    // Retention: a clock two hours ahead makes the full files expired.
    let clock = RetentionClock::new(crate::store::commit_log::now_ms() + 2 * 3_600_000);
    let deleted = store.clean_once(&clock).expect("clean");
    assert_eq!(deleted, crate::store::cleanup::MAX_FILES_PER_PASS);
    let log_min = store.commit_log_min_offset();
    assert_eq!(log_min, deleted as u64 * FILE_BYTES);
    assert!(!files[0].path.exists(), "deleted from disk");
    for queue_id in 0..2 {
        let min = store.min_offset("BigTopic", queue_id);
        assert!(min > 0, "queue {queue_id} minimum moved forward");
        let old = store
            .get_messages("BigTopic", queue_id, 0, 1, 1 << 20, &|_| true)
            .expect("read");
        assert_eq!(old.status, GetMessageStatus::OffsetTooSmall);
        assert_eq!(old.next_begin_offset, min);
        let first = store
            .get_messages("BigTopic", queue_id, min, 1, 1 << 20, &|_| true)
            .expect("read");
        assert_eq!(first.status, GetMessageStatus::Found);
        let stored = message::decode_records(&first.body, true).expect("intact");
        assert!(stored[0].physical_offset as u64 >= log_min);
    }
    assert!(
        store.message_at(0).expect("read").is_none(),
        "no read touches a deleted file"
    );

    // Reopen: a normal recovery over the remaining files.
    store.shutdown().expect("shutdown");
    drop(store);
    let reopened = MessageStore::open(config(dir.path()), fs).expect("reopen");
    assert!(!reopened.recovery_report().abnormal);
    assert_eq!(reopened.commit_log_max_offset(), written);
    assert_eq!(reopened.commit_log_min_offset(), log_min);
    let after = reopened
        .put_message(&message("BigTopic", 0, b"after", ""))
        .expect("append");
    assert_eq!(after.physical_offset, written);
}

/// The warming thread creates the file after the writer's ahead of time, and no further; a
/// store reopened over that empty file, cleanly or after a crash, ends where the data ends.
#[test]
fn the_next_commit_log_file_is_created_ahead_and_recovery_ignores_it() {
    const SMALL_FILE: u64 = 4 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let fs: Arc<dyn FileSystem> = Arc::new(RealFileSystem);
    let small = || StoreConfig {
        commit_log_file_size_bytes: SMALL_FILE,
        ..config(dir.path())
    };
    let store = MessageStore::open(small(), fs.clone()).expect("open");
    let mut written = 0;
    for sequence in 0..3 {
        written = store
            .put_message(&message("Ahead", 0, &body(sequence, 1 << 20), ""))
            .expect("append")
            .end_offset;
    }
    assert!(written < SMALL_FILE, "all in the first file");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.commit_log().files().files().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the next file was not created ahead"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The window (32 MiB) covers eight such files; only the next one is created.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let starts: Vec<u64> = store
        .commit_log()
        .files()
        .files()
        .iter()
        .map(|f| f.start_offset)
        .collect();
    assert_eq!(starts, [0, SMALL_FILE]);
    store.shutdown().expect("shutdown");
    drop(store);

    let check = |store: &MessageStore| {
        assert_eq!(store.commit_log_max_offset(), written);
        let stored = read_queue(store, "Ahead", 0);
        assert_eq!(stored.len(), 3);
        for (sequence, record) in stored.iter().enumerate() {
            assert_eq!(record.body, body(sequence as u64, 1 << 20));
        }
    };
    let reopened = MessageStore::open(small(), fs.clone()).expect("reopen");
    assert!(!reopened.recovery_report().abnormal);
    check(&reopened);
    reopened.shutdown().expect("shutdown");
    drop(reopened);

    // As after a crash: the abort marker left in place, the empty file still there.
    std::fs::write(dir.path().join("abort"), b"").expect("abort marker");
    let recovered = MessageStore::open(small(), fs).expect("recover");
    assert!(recovered.recovery_report().abnormal);
    check(&recovered);
    let next = recovered
        .put_message(&message("Ahead", 0, b"next", ""))
        .expect("append");
    assert_eq!(next.physical_offset, written);
}

//! Torn tails are cut; corruption in the middle stops start-up (unless opted in); a failed
//! flush poisons the store; a clean shutdown makes the next start a normal recovery.

use super::*;
use crate::store::StoreError;

/// ASYNC_FLUSH with timers that never fire: only what a test flushes by hand is durable, and
/// no checkpoint is written.
fn manual_config() -> StoreConfig {
    StoreConfig {
        flush_interval_commit_log_ms: 3_600_000,
        flush_commit_log_least_pages: 1 << 40,
        flush_commit_log_thorough_interval_ms: 3_600_000_000,
        flush_interval_consume_queue_ms: 3_600_000,
        ..small_config(FlushDiskType::Async)
    }
}

/// Writes `count` messages and makes exactly them durable; returns their end offsets.
fn write_durable(fs: &SimFileSystem, store: &MessageStore, count: usize) -> Vec<(u64, u64)> {
    let mut spans = Vec::new();
    for index in 0..count {
        let body = vec![b'0' + (index % 10) as u8; 200];
        let result = store.put_message(&message("T", 0, &body, "")).expect("put");
        spans.push((result.physical_offset, result.end_offset));
    }
    flush(fs, 0, spans.last().map_or(0, |s| s.1));
    spans
}

fn flush(fs: &SimFileSystem, from: u64, to: u64) {
    let file = fs
        .open(&commit_log_path("00000000000000000000"))
        .expect("open");
    file.flush_range(from, to).expect("flush");
}

#[test]
fn a_half_written_last_record_is_cut() {
    let fs = SimFileSystem::new();
    let store = open(&fs, manual_config());
    let spans = write_durable(&fs, &store, 10);
    let torn = store
        .put_message(&message("T", 0, &[b'x'; 200], ""))
        .expect("put");
    // Half of the eleventh record reached the disk.
    flush(
        &fs,
        torn.physical_offset,
        torn.physical_offset + u64::from(torn.size) / 2,
    );
    let disk = fs.crash();
    drop(store);
    let recovered = open(&disk, manual_config());
    let report = recovered.recovery_report().clone();
    assert!(report.abnormal);
    assert_eq!(report.end_offset, spans[9].1);
    assert_eq!(
        report.truncated_at.as_ref().map(|t| t.0),
        Some(torn.physical_offset)
    );
    assert_eq!(read_queue(&recovered, "T", 0).len(), 10);
    let next = recovered
        .put_message(&message("T", 0, b"next", ""))
        .expect("append after recovery");
    assert_eq!((next.queue_offset, next.physical_offset), (10, spans[9].1));
}

#[test]
fn a_record_with_only_its_length_written_is_cut() {
    let fs = SimFileSystem::new();
    let store = open(&fs, manual_config());
    let spans = write_durable(&fs, &store, 3);
    let torn = store
        .put_message(&message("T", 0, &[b'x'; 200], ""))
        .expect("put");
    flush(&fs, torn.physical_offset, torn.physical_offset + 2);
    let disk = fs.crash();
    drop(store);
    let recovered = open(&disk, manual_config());
    assert_eq!(recovered.recovery_report().end_offset, spans[2].1);
    assert_eq!(read_queue(&recovered, "T", 0).len(), 3);
}

#[test]
fn a_zeroed_tail_is_the_end_of_data() {
    let fs = SimFileSystem::new();
    let store = open(&fs, manual_config());
    let spans = write_durable(&fs, &store, 5);
    store
        .put_message(&message("T", 0, &[b'x'; 200], ""))
        .expect("put");
    let disk = fs.crash();
    drop(store);
    let recovered = open(&disk, manual_config());
    assert_eq!(recovered.recovery_report().truncated_at, None);
    assert_eq!(recovered.recovery_report().end_offset, spans[4].1);
}

#[test]
fn a_flipped_byte_in_the_middle_stops_start_up_and_names_the_file() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Sync));
    let mut spans = Vec::new();
    for index in 0..10u8 {
        let result = store
            .put_message(&message("T", 0, &[index; 300], ""))
            .expect("put");
        spans.push(result);
    }
    store.shutdown().expect("clean shutdown");
    drop(store);
    let victim = &spans[4];
    // A byte of the fifth body.
    fs.corrupt(
        &commit_log_path("00000000000000000000"),
        victim.physical_offset + 100,
        0x40,
    )
    .expect("corrupt");
    let config = small_config(FlushDiskType::Sync);
    let fs_handle: Arc<dyn FileSystem> = Arc::new(fs.clone());
    let error = MessageStore::open(config.clone(), fs_handle.clone()).expect_err("must refuse");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{text}");
    assert!(text.contains("00000000000000000000"), "{text}");
    assert!(text.contains(&victim.physical_offset.to_string()), "{text}");
    assert!(text.contains("recoverTruncateCorruptCommitLog"), "{text}");
    // Nothing was cut by the refusal.
    assert!(fs.exists(&commit_log_path("00000000000000000000")));

    let opted_in = StoreConfig {
        truncate_corrupt_commit_log: true,
        ..config
    };
    let store = MessageStore::open(opted_in, fs_handle).expect("opens when opted in");
    assert_eq!(read_queue(&store, "T", 0).len(), 4);
    assert_eq!(store.commit_log_max_offset(), victim.physical_offset);
}

#[test]
fn a_failed_flush_poisons_the_store() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Sync));
    let ok = store
        .put_message(&message("T", 0, b"fine", ""))
        .expect("put");
    runtime
        .block_on(store.wait_durable(ok.end_offset))
        .expect("durable");
    fs.fail_flushes(true);
    let doomed = store
        .put_message(&message("T", 0, b"doomed", ""))
        .expect("append before the failure");
    let waited = runtime.block_on(store.wait_durable(doomed.end_offset));
    assert!(matches!(waited, Err(StoreError::Poisoned(_))), "{waited:?}");
    let refused = store.put_message(&message("T", 0, b"refused", ""));
    assert!(
        matches!(refused, Err(StoreError::Poisoned(_))),
        "{refused:?}"
    );
    // A consumer never sees what was never durable.
    assert_eq!(read_queue(&store, "T", 0).len(), 1);
    assert!(store.shutdown().is_err(), "shutdown reports the failure");
}

#[test]
fn a_stalled_flush_times_out_and_later_waiters_still_succeed() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fs = SimFileSystem::new();
    let config = StoreConfig {
        sync_flush_timeout_ms: 100,
        ..small_config(FlushDiskType::Sync)
    };
    let store = open(&fs, config);
    fs.stall_flushes(true);
    let stuck = store
        .put_message(&message("T", 0, b"stuck", ""))
        .expect("put");
    let waited = runtime.block_on(store.wait_durable(stuck.end_offset));
    assert!(
        matches!(waited, Err(StoreError::FlushTimeout { timeout_ms: 100 })),
        "{waited:?}"
    );
    // Not durable, so not served.
    assert_eq!(read_queue(&store, "T", 0).len(), 0);
    fs.stall_flushes(false);
    let next = store
        .put_message(&message("T", 0, b"next", ""))
        .expect("put");
    runtime
        .block_on(store.wait_durable(next.end_offset))
        .expect("durable once the device recovers");
    assert_eq!(read_queue(&store, "T", 0).len(), 2);
    store.shutdown().expect("shutdown");
}

#[test]
fn many_concurrent_sync_waiters_are_each_answered_once_durable() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fs = SimFileSystem::new();
    let store = Arc::new(open(&fs, small_config(FlushDiskType::Sync)));
    let tasks: Vec<_> = (0..64)
        .map(|writer| {
            let store = store.clone();
            runtime.spawn(async move {
                let mut ends = Vec::new();
                for index in 0..50 {
                    let body = format!("w{writer}-{index}");
                    let appended = store
                        .put_message(&message("T", writer % 4, body.as_bytes(), ""))
                        .expect("put");
                    store
                        .wait_durable(appended.end_offset)
                        .await
                        .expect("durable");
                    // Acknowledged means durable: the flushed offset covers it already.
                    assert!(store.flushed_offset() >= appended.end_offset);
                    ends.push(appended.end_offset);
                }
                ends
            })
        })
        .collect();
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += runtime.block_on(task).expect("writer").len();
    }
    assert_eq!(acknowledged, 64 * 50);
    let served: usize = (0..4)
        .map(|queue| read_queue(&store, "T", queue).len())
        .sum();
    assert_eq!(served, 64 * 50);
    store.shutdown().expect("shutdown");
}

#[test]
fn a_clean_shutdown_makes_a_normal_recovery() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    for index in 0..500u32 {
        let mut body = vec![0u8; 200];
        body[..4].copy_from_slice(&index.to_be_bytes());
        store
            .put_message(&message("T", (index % 4) as i32, &body, ""))
            .expect("put");
    }
    store.shutdown().expect("shutdown");
    drop(store);
    assert!(!fs.exists(Path::new("/store/abort")));
    let reopened = open(&fs, small_config(FlushDiskType::Async));
    let report = reopened.recovery_report();
    assert!(!report.abnormal);
    assert!(
        report.scanned_from > 0,
        "normal recovery starts at the last file, not the first"
    );
    let total: usize = (0..4).map(|q| read_queue(&reopened, "T", q).len()).sum();
    assert_eq!(total, 500);
    assert_eq!(
        reopened
            .put_message(&message("T", 0, b"x", ""))
            .expect("put")
            .queue_offset,
        125
    );
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StoreConfig {
        root_dir: dir.path().to_owned(),
        commit_log_file_size_bytes: 64 * 1024,
        max_hash_slot_num: 64,
        max_index_num: 256,
        ..StoreConfig::default()
    };
    let fs: Arc<dyn FileSystem> = Arc::new(crate::store::mapped_file::RealFileSystem);
    let first = MessageStore::open(config.clone(), fs.clone()).expect("first");
    let second = MessageStore::open(config, fs).expect_err("second");
    assert!(second.to_string().contains("lock"), "{second}");
    drop(first);
}

#[test]
fn writes_are_refused_when_the_disk_is_nearly_full() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    let clock = crate::store::cleanup::RetentionClock::new(0);
    store
        .put_message(&message("T", 0, b"before", ""))
        .expect("put");
    fs.set_used_percent(95);
    store.clean_once(&clock).expect("clean");
    let refused = store.put_message(&message("T", 0, b"refused", ""));
    assert!(
        matches!(refused, Err(StoreError::DiskFull { .. })),
        "{refused:?}"
    );
    fs.set_used_percent(50);
    store.clean_once(&clock).expect("clean");
    store
        .put_message(&message("T", 0, b"after", ""))
        .expect("accepted again");
    assert_eq!(read_queue(&store, "T", 0).len(), 2);
}

#[test]
fn schedule_topic_units_hold_the_delivery_time_live_and_after_recovery() {
    let fs = SimFileSystem::new();
    let store = open(&fs, manual_config());
    // Level 2 waits 5 s; level 99 clamps to the last level (2 h).
    let second = store
        .put_message(&message(
            "SCHEDULE_TOPIC_XXXX",
            1,
            b"later",
            "DELAY\u{1}2\u{2}TAGS\u{1}TagA",
        ))
        .expect("put");
    let clamped = store
        .put_message(&message(
            "SCHEDULE_TOPIC_XXXX",
            1,
            b"much later",
            "DELAY\u{1}99",
        ))
        .expect("put");
    let plain = store
        .put_message(&message("T", 0, b"now", "DELAY\u{1}2\u{2}TAGS\u{1}TagA"))
        .expect("put");
    let expected = [
        second.store_timestamp_ms + 5_000,
        clamped.store_timestamp_ms + 7_200_000,
    ];
    let codes = |store: &MessageStore| -> Vec<i64> {
        let queue = store.queues().get("SCHEDULE_TOPIC_XXXX", 1).expect("queue");
        queue
            .units(0, 10)
            .expect("units")
            .iter()
            .map(|u| u.tags_code)
            .collect()
    };
    assert_eq!(codes(&store), expected);
    // Outside the schedule topic the slot is the tag hash, DELAY or not.
    let other = store.queues().get("T", 0).expect("queue");
    assert_eq!(
        other.units(0, 1).expect("units")[0].tags_code,
        message::tag_hash_code("TagA")
    );
    // Recovery re-dispatches from the CommitLog and must compute the same slot.
    flush(&fs, 0, plain.end_offset);
    let disk = fs.crash();
    drop(store);
    let recovered = open(&disk, manual_config());
    assert_eq!(codes(&recovered), expected);
}

/// Power loss after several ConsumeQueue files were created but before any of them was
/// flushed: the files exist, full of zeros. Recovery must rebuild their units from the
/// commit log rather than take the zeros for corruption, and the rebuilt units must reach the
/// disk.
#[test]
fn consume_queue_files_created_but_never_flushed_are_rebuilt() {
    let fs = SimFileSystem::new();
    let store = open(&fs, manual_config());
    // 64 units per ConsumeQueue file: 200 messages make four files.
    let spans = write_durable(&fs, &store, 200);
    let disk = fs.crash();
    drop(store);
    let recovered = open(&disk, manual_config());
    assert!(recovered.recovery_report().abnormal);
    let messages = read_queue(&recovered, "T", 0);
    assert_eq!(messages.len(), 200);
    for (message, span) in messages.iter().zip(&spans) {
        assert_eq!(message.physical_offset as u64, span.0);
    }
    // The rebuilt units are flushed by the clean shutdown: a later power loss keeps them.
    recovered.shutdown().expect("shutdown");
    let again = open(&disk.crash(), manual_config());
    assert!(!again.recovery_report().abnormal);
    assert_eq!(read_queue(&again, "T", 0).len(), 200);
}

#[test]
fn consume_queue_files_are_advised_random_and_commit_log_files_are_not() {
    let fs = SimFileSystem::new();
    let store = open(&fs, small_config(FlushDiskType::Async));
    store.put_message(&message("T", 0, b"x", "")).expect("put");
    let queue_file = Path::new("/store/consumequeue/T/0/00000000000000000000");
    assert!(fs.exists(queue_file), "{:?}", fs.paths());
    // Small appends fault one page at a time instead of a readahead window of zeroes.
    assert!(fs.advised_random(queue_file));
    assert!(!fs.advised_random(&commit_log_path("00000000000000000000")));
    // Also when the files are opened again (a power loss gives fresh file handles).
    store.shutdown().expect("shutdown");
    drop(store);
    let after = fs.crash();
    assert!(!after.advised_random(queue_file));
    let reopened = open(&after, small_config(FlushDiskType::Async));
    assert!(after.advised_random(queue_file));
    drop(reopened);
}

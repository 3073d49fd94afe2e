//! ConsumeQueue tests: golden bytes, file rolling, idempotent re-dispatch, fillers, crash
//! recovery on the simulated disk, retention, time search, and the table on a real disk.

use super::*;
use crate::store::mapped_file::{RealFileSystem, SimFileSystem};

const ROOT: &str = "/store";
const QUEUE_DIR: &str = "/store/consumequeue/TopicTest/0";

fn open(fs: &SimFileSystem, units_per_file: u64) -> ConsumeQueue {
    let fs: Arc<dyn FileSystem> = Arc::new(fs.clone());
    let queue =
        ConsumeQueue::load(fs, Path::new(ROOT), "TopicTest", 0, units_per_file).expect("load");
    queue.recover().expect("recover");
    queue
}

/// Message i of a queue: 100 bytes at commit-log offset i × 100.
fn real(i: u64) -> CqUnit {
    CqUnit {
        commit_log_offset: i * 100,
        size: 100,
        tags_code: i as i64,
    }
}

fn put_range(queue: &ConsumeQueue, range: std::ops::Range<u64>) {
    for i in range {
        queue.put(i, real(i)).expect("put");
    }
}

fn file_names(fs: &SimFileSystem) -> Vec<String> {
    let names = fs.list_files(Path::new(QUEUE_DIR)).expect("list");
    names.into_iter().filter(|n| !n.ends_with(".tmp")).collect()
}

#[test]
fn units_have_java_bytes() {
    let unit = CqUnit {
        commit_log_offset: 0x0102_0304_0506_0708,
        size: 0x0A0B_0C0D,
        tags_code: -2,
    };
    let golden = [
        1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFE,
    ];
    assert_eq!(unit.encode(), golden);
    assert_eq!(CqUnit::decode(&golden), unit);
    let filler = [
        0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(CqUnit::FILLER.encode(), filler);
    assert!(CqUnit::decode(&filler).is_filler() && CqUnit::FILLER.is_valid());
    assert!(!CqUnit::decode(&[0; 20]).is_valid(), "zeroed tail");
    assert!(
        !CqUnit::decode(&[0xFF; 20]).is_valid(),
        "negative offset and size"
    );
}

#[test]
fn units_roll_across_files_and_reads_stop_at_file_ends() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..10);
    assert_eq!(
        file_names(&fs),
        [
            "00000000000000000000",
            "00000000000000000080",
            "00000000000000000160"
        ]
    );
    assert_eq!(
        queue.units(0, 100).expect("read"),
        (0..4).map(real).collect::<Vec<_>>()
    );
    assert_eq!(queue.units(2, 100).expect("read"), vec![real(2), real(3)]);
    assert_eq!(queue.units(5, 2).expect("read"), vec![real(5), real(6)]);
    assert_eq!(queue.units(8, 100).expect("read"), vec![real(8), real(9)]);
    assert!(queue.units(10, 100).expect("read").is_empty());
    assert_eq!(queue.unit(9).expect("read"), Some(real(9)));
    assert_eq!(queue.unit(10).expect("read"), None);
    assert_eq!((queue.min_offset(), queue.max_offset()), (0, 10));
    assert_eq!(queue.max_physical_end(), 1000);
    assert_eq!(queue.roll_next_file(5), 8);

    let reopened = open(&fs, 4);
    assert_eq!((reopened.min_offset(), reopened.max_offset()), (0, 10));
    assert_eq!(reopened.max_physical_end(), 1000);
    assert_eq!(reopened.unit(7).expect("read"), Some(real(7)));
}

#[test]
fn re_put_is_idempotent_and_a_conflict_names_the_file() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..3);
    queue.put(1, real(1)).expect("same unit again");
    assert_eq!(queue.max_offset(), 3);
    let different = CqUnit {
        tags_code: 99,
        ..real(1)
    };
    match queue.put(1, different) {
        Err(StoreError::Corrupt { file, offset, .. }) => {
            assert_eq!(file, Path::new(QUEUE_DIR).join("00000000000000000000"));
            assert_eq!(offset, 20);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        queue.unit(1).expect("read"),
        Some(real(1)),
        "not overwritten"
    );
    let empty = CqUnit { size: 0, ..real(3) };
    assert!(
        queue.put(3, empty).is_err(),
        "recovery would read it as the end"
    );
    assert!(queue.put(3, CqUnit::FILLER).is_err());
    assert_eq!(queue.max_offset(), 3);
}

#[test]
fn a_late_starting_queue_is_filled_before_its_first_unit() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    queue.put(6, real(6)).expect("late start");
    assert_eq!(file_names(&fs), ["00000000000000000080"]);
    assert_eq!(
        queue.units(4, 10).expect("read"),
        vec![CqUnit::FILLER, CqUnit::FILLER, real(6)]
    );
    assert_eq!((queue.min_offset(), queue.max_offset()), (6, 7));
    queue.put(7, real(7)).expect("append");
    queue.flush().expect("flush");

    let recovered = open(&fs.crash(), 4);
    assert_eq!((recovered.min_offset(), recovered.max_offset()), (6, 8));
    assert_eq!(recovered.max_physical_end(), 800);
}

#[test]
fn a_gap_inside_a_queue_is_filled_and_a_huge_one_refused() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..2);
    queue.put(5, real(5)).expect("gap");
    let expected = vec![CqUnit::FILLER, CqUnit::FILLER];
    assert_eq!(queue.units(2, 10).expect("read"), expected);
    assert_eq!(queue.unit(4).expect("read"), Some(CqUnit::FILLER));
    assert_eq!((queue.min_offset(), queue.max_offset()), (0, 6));
    assert!(queue.put(7 + MAX_GAP_UNITS, real(7)).is_err());
    assert_eq!(queue.max_offset(), 6);
}

#[test]
fn recovery_after_a_crash_keeps_the_flushed_units() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..6);
    queue.flush().expect("flush");
    assert_eq!(queue.unflushed_bytes(), 0);
    put_range(&queue, 6..10);
    assert_eq!(queue.unflushed_bytes(), 80);

    let crashed = fs.crash();
    let recovered = open(&crashed, 4);
    assert_eq!((recovered.min_offset(), recovered.max_offset()), (0, 6));
    assert_eq!(recovered.max_physical_end(), 600);
    assert_eq!(recovered.unit(6).expect("read"), None);
    assert_eq!(
        file_names(&crashed),
        ["00000000000000000000", "00000000000000000080"],
        "the empty third file is gone"
    );
    recovered.put(6, real(6)).expect("writing resumes");
    recovered.put(8, real(8)).expect("and rolls");
    assert_eq!(recovered.max_offset(), 9);
}

#[test]
fn a_unit_pointing_backwards_is_torn_and_ends_recovery() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..4);
    queue.flush().expect("flush");
    // Unit 3 says 300 = 0x12C; flipping bit 8 makes it 44, before unit 2's end.
    let file = Path::new(QUEUE_DIR).join("00000000000000000000");
    fs.corrupt(&file, 3 * 20 + 6, 0x01).expect("corrupt");
    let recovered = open(&fs, 4);
    assert_eq!(recovered.max_offset(), 3);
    assert_eq!(recovered.max_physical_end(), 300);
}

#[test]
fn truncate_physical_removes_units_past_the_commit_log_end() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..10);
    queue.truncate_physical(10_000).expect("nothing to cut");
    assert_eq!(queue.max_offset(), 10);
    queue.truncate_physical(350).expect("truncate");
    assert_eq!(queue.max_offset(), 3);
    assert_eq!(queue.max_physical_end(), 300);
    assert_eq!(file_names(&fs), ["00000000000000000000"]);
    assert_eq!(open(&fs, 4).max_offset(), 3, "the cut tail was zeroed");
    queue.put(3, real(3)).expect("append again");

    // Fillers reference nothing, so they stay when every real unit goes.
    let late_fs = SimFileSystem::new();
    let late = open(&late_fs, 4);
    put_range(&late, 6..8);
    late.truncate_physical(0).expect("truncate");
    assert_eq!((late.min_offset(), late.max_offset()), (6, 6));
    assert_eq!(late.max_physical_end(), 0);
    late.put(6, real(6)).expect("re-dispatch");
}

#[test]
fn min_offset_follows_the_commit_log_minimum() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..10);
    queue.correct_min_offset(450);
    assert_eq!(queue.min_offset(), 5);
    queue.correct_min_offset(0);
    assert_eq!(queue.min_offset(), 5, "the min never moves back");
    queue.correct_min_offset(900);
    assert_eq!(queue.min_offset(), 9);
    queue.correct_min_offset(901);
    assert_eq!(queue.min_offset(), 10, "everything gone: min = max");

    let late = open(&SimFileSystem::new(), 4);
    put_range(&late, 6..12);
    late.correct_min_offset(0);
    assert_eq!(late.min_offset(), 6, "fillers are skipped");
    late.correct_min_offset(750);
    assert_eq!(late.min_offset(), 8);
}

#[test]
fn expired_files_go_but_never_the_last() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..10);
    assert_eq!(
        queue.delete_expired_files(300).expect("delete"),
        0,
        "unit 3 is at 300"
    );
    assert_eq!(queue.delete_expired_files(450).expect("delete"), 1);
    assert_eq!(
        file_names(&fs),
        ["00000000000000000080", "00000000000000000160"]
    );
    assert_eq!(queue.min_offset(), 5);
    assert_eq!(queue.unit(2).expect("read"), None);
    queue
        .put(
            2,
            CqUnit {
                tags_code: 7,
                ..real(2)
            },
        )
        .expect("deleted: skipped");
    assert_eq!(queue.delete_expired_files(100_000).expect("delete"), 1);
    assert_eq!(file_names(&fs), ["00000000000000000160"]);
    assert_eq!((queue.min_offset(), queue.max_offset()), (10, 10));
    let reopened = open(&fs, 4);
    assert_eq!((reopened.min_offset(), reopened.max_offset()), (8, 10));
}

#[test]
fn offset_by_timestamp_finds_the_first_message_at_or_after() {
    // Store time = commit-log offset, so message i was stored at i × 100.
    let time = |offset: u64, _size: u32| Some(offset as i64);
    let empty = open(&SimFileSystem::new(), 4);
    assert_eq!(empty.offset_by_timestamp(5, time).expect("search"), 0);

    let queue = open(&SimFileSystem::new(), 4);
    put_range(&queue, 0..10);
    for (timestamp, expected) in [(-1, 0), (0, 0), (300, 3), (301, 4), (900, 9), (901, 10)] {
        let found = queue.offset_by_timestamp(timestamp, time).expect("search");
        assert_eq!(found, expected, "timestamp {timestamp}");
    }
    let deleted_below_300 = |offset: u64, _: u32| (offset >= 300).then_some(offset as i64);
    let found = queue
        .offset_by_timestamp(0, deleted_below_300)
        .expect("search");
    assert_eq!(found, 3, "unreadable messages count as earlier");
    queue.correct_min_offset(450);
    assert_eq!(
        queue.offset_by_timestamp(0, time).expect("search"),
        5,
        "from min"
    );

    let gapped = open(&SimFileSystem::new(), 4);
    put_range(&gapped, 0..2);
    gapped.put(5, real(5)).expect("gap");
    assert_eq!(gapped.offset_by_timestamp(150, time).expect("search"), 5);
    assert_eq!(gapped.offset_by_timestamp(100, time).expect("search"), 1);
}

#[test]
fn a_failed_flush_keeps_the_bytes_dirty() {
    let fs = SimFileSystem::new();
    let queue = open(&fs, 4);
    put_range(&queue, 0..3);
    fs.fail_flushes(true);
    assert!(queue.flush().is_err());
    assert_eq!(queue.unflushed_bytes(), 60);
    assert_eq!(open(&fs.crash(), 4).max_offset(), 0);
    fs.fail_flushes(false);
    queue.flush().expect("flush");
    assert_eq!(queue.unflushed_bytes(), 0);
    assert_eq!(open(&fs.crash(), 4).max_offset(), 3);
}

#[test]
fn readers_on_other_threads_see_only_complete_units() {
    let queue = Arc::new(open(&SimFileSystem::new(), 64));
    let total = 20_000;
    let start = Arc::new(std::sync::Barrier::new(2));
    let reader = {
        let (queue, start) = (queue.clone(), start.clone());
        std::thread::spawn(move || {
            start.wait();
            let mut checks = 0u64;
            loop {
                let max = queue.max_offset();
                if max > 0 {
                    assert_eq!(queue.unit(max - 1).expect("read"), Some(real(max - 1)));
                    checks += 1;
                }
                if max == total {
                    return checks;
                }
            }
        })
    };
    start.wait();
    put_range(&queue, 0..total);
    assert!(reader.join().expect("reader") > 0);
}

#[test]
fn table_discovers_queues_on_a_real_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFileSystem);
    let table = ConsumeQueueTable::load(fs.clone(), root, 4).expect("load");
    assert!(table.queues().is_empty());
    let a0 = table.get_or_create("TopicA", 0).expect("create");
    assert!(Arc::ptr_eq(
        &a0,
        &table.get_or_create("TopicA", 0).expect("again")
    ));
    put_range(&a0, 0..6);
    table
        .get_or_create("TopicA", 3)
        .expect("create")
        .put(0, real(0))
        .expect("put");
    table
        .get_or_create("TopicB", 1)
        .expect("create")
        .put(2, real(2))
        .expect("put");
    table.flush_all().expect("flush");
    assert!(table.get_or_create("../escape", 0).is_err());
    let base = root.join("consumequeue");
    std::fs::create_dir_all(base.join("TopicA/junk")).expect("stray dir");
    std::fs::create_dir_all(base.join("TopicA/03")).expect("non-canonical id");
    std::fs::write(base.join("TopicB/stray"), b"x").expect("stray file");
    drop((a0, table));

    let table = ConsumeQueueTable::load(fs, root, 4).expect("reload");
    table.recover_all().expect("recover");
    let expected = vec![
        ("TopicA".to_owned(), 0, 6),
        ("TopicA".to_owned(), 3, 1),
        ("TopicB".to_owned(), 1, 3),
    ];
    assert_eq!(table.max_offsets(), expected);
    assert_eq!(table.get("TopicB", 1).map(|q| q.min_offset()), Some(2));
    assert!(table.get("TopicA", 7).is_none());
    assert_eq!(
        table.get("TopicA", 0).map(|q| q.unit(5).ok().flatten()),
        Some(Some(real(5)))
    );
    table.truncate_physical_all(500).expect("truncate");
    table.correct_min_offsets(100);
    assert_eq!(table.max_offsets()[0].2, 5);
    assert_eq!(table.get("TopicA", 3).map(|q| q.min_offset()), Some(1));
    assert_eq!(table.delete_expired_all(100).expect("delete"), 0);
    assert_eq!(
        table.delete_expired_all(500).expect("delete"),
        1,
        "TopicA/0's first file"
    );
    table.delete_topic("TopicA").expect("delete topic");
    assert!(table.get("TopicA", 0).is_none() && !base.join("TopicA").exists());
    assert_eq!(table.queues().len(), 1);
}

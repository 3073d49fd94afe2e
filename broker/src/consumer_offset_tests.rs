//! Tests of the consumer-offset and delay-offset tables: queries, fastjson-shaped golden
//! bytes, lenient decoding, and persistence on a real and a simulated disk.

use super::*;
use crate::store::mapped_file::SimFileSystem;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn sample(manager: &ConsumerOffsetManager) {
    manager.commit("cg", "TopicA", 0, 12);
    manager.commit("cg", "TopicA", 1, 5);
    manager.commit("cg", "TopicB", 3, 7);
    manager.commit("other", "TopicA", 0, 1);
}

#[test]
fn commits_are_queried_by_queue_group_and_topic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = ConsumerOffsetManager::load(dir.path())?;
    assert_eq!(manager.query("cg", "TopicA", 0), None);
    sample(&manager);
    assert_eq!(manager.query("cg", "TopicA", 0), Some(12));
    assert_eq!(manager.query("cg", "TopicA", 2), None);
    // Lower offsets are accepted: a consumer may rewind on purpose.
    manager.commit("cg", "TopicA", 0, 10);
    assert_eq!(manager.query("cg", "TopicA", 0), Some(10));

    assert_eq!(
        manager.offsets_of("cg", "TopicA"),
        BTreeMap::from([(0, 10), (1, 5)])
    );
    assert_eq!(
        manager.offsets_of_group("cg"),
        BTreeMap::from([
            (("TopicA".to_owned(), 0), 10),
            (("TopicA".to_owned(), 1), 5),
            (("TopicB".to_owned(), 3), 7),
        ])
    );
    assert_eq!(
        manager.topics_of_group("cg"),
        BTreeSet::from(["TopicA".to_owned(), "TopicB".to_owned()])
    );
    assert_eq!(
        manager.groups_of_topic("TopicA"),
        BTreeSet::from(["cg".to_owned(), "other".to_owned()])
    );
    assert!(manager.offsets_of_group("nobody").is_empty());
    Ok(())
}

#[test]
fn groups_and_topics_are_removed_reset_and_cloned() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = ConsumerOffsetManager::load(dir.path())?;
    sample(&manager);
    manager.reset_to("cg", "TopicA", &BTreeMap::from([(1, 0), (2, 9)]));
    assert_eq!(
        manager.offsets_of("cg", "TopicA"),
        BTreeMap::from([(0, 12), (1, 0), (2, 9)])
    );
    assert!(manager.clone_offsets("cg", "copy", "TopicA"));
    assert!(!manager.clone_offsets("nobody", "copy", "TopicA"));
    assert_eq!(
        manager.offsets_of("copy", "TopicA"),
        manager.offsets_of("cg", "TopicA")
    );

    assert!(manager.remove_topic("TopicA"));
    assert!(!manager.remove_topic("TopicA"));
    assert_eq!(
        manager.groups_of_topic("TopicB"),
        BTreeSet::from(["cg".to_owned()])
    );
    assert!(manager.query("other", "TopicA", 0).is_none());
    assert!(manager.remove_group("cg"));
    assert!(!manager.remove_group("cg"));
    assert!(manager.all().is_empty());
    Ok(())
}

#[test]
fn keys_with_more_or_fewer_separators_are_kept_but_never_matched() -> TestResult {
    let table = ConsumerOffsetManager::from_json(
        br#"{"offsetTable":{"noseparator":{0:1},"a@b@c":{0:2},"T@g":{0:3}}}"#,
    )?;
    assert_eq!(split_offset_key("T@g"), Some(("T", "g")));
    assert_eq!(split_offset_key("a@b@c"), None);
    assert_eq!(split_offset_key("noseparator"), None);
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join(CONSUMER_OFFSET_FILE_NAME),
        encode_offset_table(&table),
    )?;
    let manager = ConsumerOffsetManager::load(dir.path())?;
    assert_eq!(manager.topics_of_group("b@c"), BTreeSet::new());
    assert_eq!(manager.groups_of_topic("a"), BTreeSet::new());
    assert!(!manager.remove_group("b@c"));
    assert_eq!(manager.all(), table);
    Ok(())
}

#[test]
fn consumer_offset_json_is_fastjson_shaped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = ConsumerOffsetManager::load(dir.path())?;
    assert_eq!(manager.to_json(), br#"{"offsetTable":{}}"#);
    sample(&manager);
    manager.commit("cg", "%RETRY%cg", 0, -1);
    let golden = concat!(
        r#"{"offsetTable":{"%RETRY%cg@cg":{0:-1},"TopicA@cg":{0:12,1:5},"#,
        r#""TopicA@other":{0:1},"TopicB@cg":{3:7}}}"#
    );
    assert_eq!(String::from_utf8(manager.to_json())?, golden);
    manager.persist()?;
    assert_eq!(
        std::fs::read_to_string(dir.path().join(CONSUMER_OFFSET_FILE_NAME))?,
        golden
    );
    // Bare keys are fastjson's, not JSON: a strict parser must refuse them.
    assert!(serde_json::from_str::<serde_json::Value>(golden).is_err());
    Ok(())
}

#[test]
fn decodes_bare_quoted_and_pretty_java_forms() -> TestResult {
    let expected = OffsetTable::from([("TopicA@cg".to_owned(), BTreeMap::from([(0, 12), (1, 5)]))]);
    let forms = [
        r#"{"offsetTable":{"TopicA@cg":{0:12,1:5}}}"#,
        r#"{"offsetTable":{"TopicA@cg":{"0":12,"1":5}}}"#,
        "{\n\t\"offsetTable\":{\n\t\t\"TopicA@cg\":{0:12,1:5\n\t\t}\n\t}\n}",
        // 5.x adds a dataVersion; members come in any order.
        r#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1},"offsetTable":{"TopicA@cg":{1:5,0:12}}}"#,
    ];
    for form in forms {
        assert_eq!(
            ConsumerOffsetManager::from_json(form.as_bytes())?,
            expected,
            "{form}"
        );
    }
    for empty in ["{}", r#"{"offsetTable":null}"#, r#"{"offsetTable":{}}"#] {
        assert!(
            ConsumerOffsetManager::from_json(empty.as_bytes())?.is_empty(),
            "{empty}"
        );
    }
    for bad in [
        "",
        "[]",
        r#"{"offsetTable":{"T@g":{x:1}}}"#,
        r#"{"offsetTable":{"T@g":{0:"one"}}}"#,
        r#"{"offsetTable":{"T@g":{0:1}"#,
        r#"{"offsetTable":{"T@g":{99999999999:1}}}"#,
    ] {
        assert!(
            ConsumerOffsetManager::from_json(bad.as_bytes()).is_err(),
            "{bad}"
        );
    }
    Ok(())
}

#[test]
fn random_tables_round_trip() {
    const ALPHABET: &[char] = &['a', 'Z', '0', '%', '|', '_', '-', '@', '"', '\\', '\n', 'é'];
    let seed = 0x0FF5_E7AB;
    let mut rng = StdRng::seed_from_u64(seed);
    for iteration in 0..200 {
        let mut table = OffsetTable::new();
        for _ in 0..rng.random_range(0..5) {
            let key: String = (0..rng.random_range(0..12))
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            let queues = (0..rng.random_range(0..4))
                .map(|_| (rng.random::<i32>(), rng.random::<i64>()))
                .collect();
            table.insert(key, queues);
        }
        let bytes = encode_offset_table(&table);
        let decoded = ConsumerOffsetManager::from_json(&bytes);
        assert_eq!(
            decoded.ok(),
            Some(table),
            "seed {seed:#x} iteration {iteration}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn offsets_persist_and_reload() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = ConsumerOffsetManager::load(dir.path())?;
    sample(&manager);
    manager.persist()?;
    let reloaded = ConsumerOffsetManager::load(dir.path())?;
    assert_eq!(reloaded.all(), manager.all());
    assert_eq!(reloaded.query("cg", "TopicB", 3), Some(7));

    // The previous version is kept as the backup and used when the file is gone.
    manager.commit("cg", "TopicB", 3, 8);
    manager.persist()?;
    std::fs::remove_file(dir.path().join(CONSUMER_OFFSET_FILE_NAME))?;
    let from_backup = ConsumerOffsetManager::load(dir.path())?;
    assert_eq!(from_backup.query("cg", "TopicB", 3), Some(7));
    Ok(())
}

#[test]
fn a_crash_loses_only_commits_after_the_last_save() -> TestResult {
    let sim = SimFileSystem::new();
    let dir = Path::new("/store/config");
    let manager = ConsumerOffsetManager::load_on(Arc::new(sim.clone()), dir)?;
    manager.commit("cg", "TopicA", 0, 100);
    manager.persist()?;
    manager.commit("cg", "TopicA", 0, 150);
    let after_crash = ConsumerOffsetManager::load_on(Arc::new(sim.crash()), dir)?;
    assert_eq!(after_crash.query("cg", "TopicA", 0), Some(100));

    sim.fail_flushes(true);
    let error = manager.persist().err().ok_or("a failing disk saved")?;
    assert!(error.to_string().contains("consumerOffset.json"), "{error}");
    Ok(())
}

#[test]
fn corrupt_offsets_refuse_start_naming_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join(CONSUMER_OFFSET_FILE_NAME),
        br#"{"offsetTable":{"T@g":{0:"#,
    )?;
    let error = ConsumerOffsetManager::load(dir.path())
        .err()
        .ok_or("corrupt offsets loaded")?;
    assert!(matches!(error, PersistError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("consumerOffset.json"), "{error}");

    std::fs::write(
        dir.path().join(DELAY_OFFSET_FILE_NAME),
        b"{\"offsetTable\":{1:x}}",
    )?;
    let error = DelayOffsetTable::load(dir.path())
        .err()
        .ok_or("corrupt delay offsets loaded")?;
    assert!(error.to_string().contains("delayOffset.json"), "{error}");
    Ok(())
}

#[test]
fn delay_offsets_are_fastjson_shaped_and_persist() -> TestResult {
    let dir = tempfile::tempdir()?;
    let delays = DelayOffsetTable::load(dir.path())?;
    assert_eq!(delays.get(1), None);
    assert_eq!(delays.to_json(), br#"{"offsetTable":{}}"#);
    delays.set(2, 0);
    delays.set(1, 123);
    delays.set(18, 7);
    let golden = r#"{"offsetTable":{1:123,2:0,18:7}}"#;
    assert_eq!(String::from_utf8(delays.to_json())?, golden);
    delays.persist()?;
    assert_eq!(
        std::fs::read_to_string(dir.path().join(DELAY_OFFSET_FILE_NAME))?,
        golden
    );
    let reloaded = DelayOffsetTable::load(dir.path())?;
    assert_eq!(reloaded.all(), delays.all());
    assert_eq!(reloaded.get(1), Some(123));

    let quoted = DelayOffsetTable::from_json(br#"{"offsetTable":{"1":123,"2":0}}"#)?;
    assert_eq!(quoted, BTreeMap::from([(1, 123), (2, 0)]));
    let pretty = DelayOffsetTable::from_json(b"{\n\t\"offsetTable\":{1:123,2:0\n\t}\n}")?;
    assert_eq!(pretty, quoted);
    Ok(())
}

fn table(entries: &[(&str, i32, i64)]) -> OffsetTable {
    let mut table = OffsetTable::new();
    for &(key, queue_id, offset) in entries {
        table
            .entry(key.to_owned())
            .or_default()
            .insert(queue_id, offset);
    }
    table
}

#[test]
fn a_master_merge_keeps_and_hands_back_only_what_the_master_is_behind_on() {
    let local = table(&[
        ("T@cg", 0, 50),  // committed here, master behind: kept, handed back
        ("T@cg", 1, 20),  // committed here, master ahead: the master's
        ("T@cg", 2, 30),  // committed here, master equal: the master's, nothing to send
        ("T@cg", 3, 9),   // committed here, master never saw the queue: kept, handed back
        ("T@old", 0, 99), // from an earlier sync, gone from the master: dropped
        ("U@cg", 0, 70),  // from an earlier sync, not committed here: the master's
    ]);
    let master = table(&[
        ("T@cg", 0, 40),
        ("T@cg", 1, 25),
        ("T@cg", 2, 30),
        ("U@cg", 0, 60),
        ("V@cg", 0, 1),
    ]);
    let committed_here = BTreeSet::from([
        GroupQueue::new("cg", "T", 0),
        GroupQueue::new("cg", "T", 1),
        GroupQueue::new("cg", "T", 2),
        GroupQueue::new("cg", "T", 3),
        // Committed, then removed locally (a deleted group): nothing to keep or send.
        GroupQueue::new("gone", "T", 0),
    ]);
    let merge = merge_master_offsets(master, &local, &committed_here);
    assert_eq!(
        merge.table,
        table(&[
            ("T@cg", 0, 50),
            ("T@cg", 1, 25),
            ("T@cg", 2, 30),
            ("T@cg", 3, 9),
            ("U@cg", 0, 60),
            ("V@cg", 0, 1),
        ])
    );
    assert_eq!(
        merge.hand_back,
        vec![
            (GroupQueue::new("cg", "T", 0), 50),
            (GroupQueue::new("cg", "T", 3), 9)
        ]
    );
}

#[test]
fn slave_commits_are_remembered_until_the_master_accepts_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = ConsumerOffsetManager::load(dir.path())?;
    manager.commit("cg", "T", 0, 5); // a master-style commit is not remembered
    assert!(manager.committed_here().is_empty());
    manager.commit_on_slave("cg", "T", 1, 50);
    manager.commit_on_slave("cg", "T", 2, 7);
    let master = table(&[("T@cg", 0, 6), ("T@cg", 1, 40), ("T@cg", 2, 8)]);
    let hand_back = manager.apply_master(master.clone());
    assert_eq!(hand_back, vec![(GroupQueue::new("cg", "T", 1), 50)]);
    assert_eq!(manager.query("cg", "T", 0), Some(6));
    assert_eq!(
        manager.query("cg", "T", 1),
        Some(50),
        "the slave's larger offset stays"
    );
    assert_eq!(manager.query("cg", "T", 2), Some(8));
    // Queue 2 is settled; queue 1 waits for the master's answer.
    assert_eq!(
        manager.committed_here(),
        BTreeSet::from([GroupQueue::new("cg", "T", 1)])
    );

    // A hand-back that did not arrive: the next sync keeps the value and tries again.
    assert_eq!(manager.apply_master(master.clone()), hand_back);
    assert_eq!(manager.query("cg", "T", 1), Some(50));

    // A consumer commits again while the hand-back is on its way: still to be sent.
    manager.commit_on_slave("cg", "T", 1, 55);
    manager.handed_back(&hand_back);
    assert_eq!(manager.committed_here().len(), 1);
    manager.handed_back(&[(GroupQueue::new("cg", "T", 1), 55)]);
    assert!(manager.committed_here().is_empty());

    // Once forgotten, the master's value wins again.
    manager.apply_master(master);
    assert_eq!(manager.query("cg", "T", 1), Some(40));
    Ok(())
}

#[test]
fn delay_offsets_are_replaced_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let table = DelayOffsetTable::load(dir.path())?;
    table.set(1, 10);
    table.set(2, 20);
    table.replace_all(BTreeMap::from([(2, 25), (3, 30)]));
    assert_eq!(table.all(), BTreeMap::from([(2, 25), (3, 30)]));
    Ok(())
}

//! Tests of the topic table: start-up topics, auto-creation, retry and DLQ topics, name
//! rules, and topics.json on a real disk.

use super::*;
use bolide_client::protocol::topic_config::TopicFilterType;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn settings() -> TopicDefaults {
    TopicDefaults::new("DefaultCluster", "broker-a")
}

fn expect(manager: &TopicConfigManager, topic: &str) -> Result<TopicConfig, String> {
    manager.get(topic).ok_or(format!("{topic} is missing"))
}

fn shape(config: &TopicConfig) -> (i32, i32, i32) {
    (config.read_queue_nums, config.write_queue_nums, config.perm)
}

#[test]
fn startup_topics_follow_java_defaults() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = TopicConfigManager::load(dir.path(), settings())?;
    let expected = [
        (SELF_TEST_TOPIC, (1, 1, 6)),
        (AUTO_CREATE_TOPIC_KEY_TOPIC, (8, 8, 7)),
        (BENCHMARK_TOPIC, (1024, 1024, 6)),
        ("DefaultCluster", (16, 16, 7)),
        ("broker-a", (1, 1, 7)),
        (OFFSET_MOVED_EVENT_TOPIC, (1, 1, 6)),
        (SCHEDULE_TOPIC, (18, 18, 6)),
        ("DefaultCluster_REPLY_TOPIC", (1, 1, 6)),
    ];
    for (topic, queues_and_perm) in expected {
        let config = expect(&manager, topic)?;
        assert_eq!(shape(&config), queues_and_perm, "{topic}");
        assert_eq!(config.topic_name, topic);
        assert_eq!(config.topic_filter_type, TopicFilterType::SingleTag);
        assert_eq!((config.topic_sys_flag, config.order), (0, false));
    }
    assert_eq!(manager.topic_names().len(), expected.len());
    assert!(manager.get(TRACE_TOPIC).is_none());
    assert_eq!(manager.data_version().counter, 0);
    // Start-up topics live in memory; nothing is written until something changes.
    assert!(!dir.path().join(TOPICS_FILE_NAME).exists());
    Ok(())
}

#[test]
fn startup_topics_follow_the_switches() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut settings = settings();
    settings.auto_create_topic_enable = false;
    settings.cluster_topic_enable = false;
    settings.broker_topic_enable = false;
    settings.trace_topic_enable = true;
    settings.trace_topic_name = "MyTrace".to_owned();
    settings.default_topic_queue_nums = 4;
    let manager = TopicConfigManager::load(dir.path(), settings)?;
    assert!(manager.get(AUTO_CREATE_TOPIC_KEY_TOPIC).is_none());
    assert_eq!(shape(&expect(&manager, "DefaultCluster")?), (16, 16, 1));
    assert_eq!(shape(&expect(&manager, "broker-a")?), (1, 1, 1));
    assert_eq!(shape(&expect(&manager, "MyTrace")?), (1, 1, 6));
    assert!(manager.is_system_topic("MyTrace"));
    assert!(!manager.is_system_topic("TopicTest"));
    Ok(())
}

#[test]
fn send_auto_creates_from_tbw102() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = TopicConfigManager::load(dir.path(), settings())?;
    let before = manager.data_version();

    let created = manager.create_for_send("TopicA", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, 0)?;
    let (config, newly) = created.ok_or("TopicA was not created")?;
    assert!(newly);
    // min(4 requested, 8 in TBW102); TBW102's perm 7 without INHERIT.
    assert_eq!(shape(&config), (4, 4, 6));
    assert_eq!(manager.get("TopicA"), Some(config.clone()));
    assert_eq!(manager.data_version().counter, before.counter + 1);

    let again = manager.create_for_send("TopicA", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, 0)?;
    assert_eq!(again, Some((config, false)));
    assert_eq!(manager.data_version().counter, before.counter + 1);

    // More than TBW102 has: capped at its write queue count.
    let (wide, _) = manager
        .create_for_send("TopicB", AUTO_CREATE_TOPIC_KEY_TOPIC, 64, 1)?
        .ok_or("TopicB was not created")?;
    assert_eq!(shape(&wide), (8, 8, 6));
    assert_eq!(wide.topic_sys_flag, 1);

    // Nonsense from a client still yields a usable topic.
    let (narrow, _) = manager
        .create_for_send("TopicC", AUTO_CREATE_TOPIC_KEY_TOPIC, 0, 0)?
        .ok_or("TopicC was not created")?;
    assert_eq!(shape(&narrow), (1, 1, 6));

    // The creation was saved before the call returned.
    let reloaded = TopicConfigManager::load(dir.path(), settings())?;
    assert_eq!(reloaded.get("TopicA"), manager.get("TopicA"));
    assert_eq!(reloaded.data_version(), manager.data_version());
    Ok(())
}

#[test]
fn template_filter_type_is_inherited() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = TopicConfigManager::load(dir.path(), settings())?;
    let mut template = TopicConfig::new("Template");
    template.perm = 7;
    template.write_queue_nums = 2;
    template.topic_filter_type = TopicFilterType::MultiTag;
    manager.update(template)?;
    let (config, _) = manager
        .create_for_send("FromTemplate", "Template", 4, 0)?
        .ok_or("not created")?;
    assert_eq!(shape(&config), (2, 2, 6));
    assert_eq!(config.topic_filter_type, TopicFilterType::MultiTag);
    Ok(())
}

#[test]
fn send_auto_create_is_refused_without_an_inheritable_template() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut no_auto = settings();
    no_auto.auto_create_topic_enable = false;
    let manager = TopicConfigManager::load(dir.path(), no_auto.clone())?;
    assert_eq!(
        manager.create_for_send("TopicA", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, 0)?,
        None
    );
    // A template without INHERIT lends nothing.
    assert_eq!(
        manager.create_for_send("TopicA", SELF_TEST_TOPIC, 4, 0)?,
        None
    );
    assert!(manager.get("TopicA").is_none());
    assert_eq!(manager.data_version().counter, 0);

    // TBW102 kept in topics.json from a run with auto-creation on does not count either.
    let with_auto = TopicConfigManager::load(dir.path(), settings())?;
    with_auto.update(TopicConfig::new("Unrelated"))?;
    let manager = TopicConfigManager::load(dir.path(), no_auto)?;
    assert_eq!(
        manager.get(AUTO_CREATE_TOPIC_KEY_TOPIC).map(|c| c.perm),
        Some(7)
    );
    assert_eq!(
        manager.create_for_send("TopicA", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, 0)?,
        None
    );
    Ok(())
}

#[test]
fn retry_topics_are_created_for_sends_heartbeats_and_dlq() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut no_auto = settings();
    no_auto.auto_create_topic_enable = false;
    let manager = TopicConfigManager::load(dir.path(), no_auto)?;

    let (sent, newly) = manager
        .create_for_send("%RETRY%g1", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, 2)?
        .ok_or("retry topic not created")?;
    assert!(newly);
    assert_eq!(shape(&sent), (1, 1, 6));
    assert_eq!(sent.topic_sys_flag, 2);

    let (retry, newly) = manager.create_retry_topic("g2", 3)?;
    assert!(newly);
    assert_eq!(retry.topic_name, "%RETRY%g2");
    assert_eq!(shape(&retry), (3, 3, 6));
    let (again, newly) = manager.create_retry_topic("g2", 5)?;
    assert!(!newly);
    assert_eq!(again, retry);
    assert_eq!(shape(&manager.create_retry_topic("g3", 0)?.0), (1, 1, 6));

    let (dlq, newly) = manager.create_dlq_topic("g2")?;
    assert!(newly);
    assert_eq!(dlq.topic_name, "%DLQ%g2");
    assert_eq!(shape(&dlq), (1, 1, 6));
    assert!(!manager.create_dlq_topic("g2")?.1);

    let reloaded = TopicConfigManager::load(dir.path(), settings())?;
    assert_eq!(reloaded.get("%RETRY%g2"), Some(retry));
    assert_eq!(reloaded.get("%DLQ%g2"), Some(dlq));
    Ok(())
}

#[test]
fn update_and_delete_bump_the_version_and_persist() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = TopicConfigManager::load(dir.path(), settings())?;
    let mut config = TopicConfig::new("TopicA");
    config.read_queue_nums = 2;
    config.write_queue_nums = 3;
    config.order = true;
    manager.update(config.clone())?;
    assert_eq!(manager.data_version().counter, 1);
    assert!(manager.is_order_topic("TopicA"));
    assert!(!manager.is_order_topic("Nope"));
    assert_eq!(
        TopicConfigManager::load(dir.path(), settings())?.get("TopicA"),
        Some(config)
    );

    assert!(manager.delete("TopicA")?);
    assert_eq!(manager.data_version().counter, 2);
    assert!(!manager.delete("TopicA")?);
    assert_eq!(manager.data_version().counter, 2);
    let reloaded = TopicConfigManager::load(dir.path(), settings())?;
    assert!(reloaded.get("TopicA").is_none());
    assert_eq!(reloaded.data_version(), manager.data_version());
    Ok(())
}

#[test]
fn topics_json_has_java_shape_and_survives_reload() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = TopicConfigManager::load(dir.path(), settings())?;
    let mut config = TopicConfig::new("TopicA");
    config.read_queue_nums = 4;
    config.write_queue_nums = 4;
    manager.update(config)?;
    let path = dir.path().join(TOPICS_FILE_NAME);
    let written = std::fs::read(&path)?;
    assert_eq!(written, manager.all().encode());

    let text = String::from_utf8(written.clone())?;
    assert!(
        text.starts_with(r#"{"dataVersion":{"counter":1,"timestamp":"#),
        "{text}"
    );
    assert!(
        text.contains(concat!(
            r#""TopicA":{"order":false,"perm":6,"readQueueNums":4,"#,
            r#""topicFilterType":"SINGLE_TAG","topicName":"TopicA","topicSysFlag":0,"#,
            r#""writeQueueNums":4}"#
        )),
        "{text}"
    );
    let value: serde_json::Value = serde_json::from_slice(&written)?;
    let keys: Vec<&String> = value.as_object().ok_or("not an object")?.keys().collect();
    assert_eq!(keys, ["dataVersion", "topicConfigTable"]);

    // Reload and save again: byte for byte the same file.
    let reloaded = TopicConfigManager::load(dir.path(), settings())?;
    assert_eq!(reloaded.all(), manager.all());
    reloaded.persist()?;
    assert_eq!(std::fs::read(&path)?, written);
    Ok(())
}

#[test]
fn loads_the_pretty_file_a_java_broker_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let java = "{\n\t\"dataVersion\":{\n\t\t\"counter\":12,\n\t\t\"timestamp\":1700000000000\n\t},\n\
                \t\"topicConfigTable\":{\n\t\t\"TopicTest\":{\n\t\t\t\"order\":false,\n\
                \t\t\t\"perm\":6,\n\t\t\t\"readQueueNums\":4,\n\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\
                \t\t\t\"topicName\":\"TopicTest\",\n\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":4\n\
                \t\t},\n\t\t\"SCHEDULE_TOPIC_XXXX\":{\n\t\t\t\"perm\":4,\n\t\t\t\"readQueueNums\":18,\n\
                \t\t\t\"topicName\":\"SCHEDULE_TOPIC_XXXX\",\n\t\t\t\"writeQueueNums\":18\n\t\t}\n\t}\n}";
    std::fs::write(dir.path().join(TOPICS_FILE_NAME), java)?;
    let manager = TopicConfigManager::load(dir.path(), settings())?;
    assert_eq!(
        manager.data_version(),
        DataVersion {
            counter: 12,
            timestamp_ms: 1_700_000_000_000
        }
    );
    assert_eq!(shape(&expect(&manager, "TopicTest")?), (4, 4, 6));
    // The file's entry wins over the start-up default, as in Java.
    assert_eq!(shape(&expect(&manager, SCHEDULE_TOPIC)?), (18, 18, 4));
    // Start-up topics the file lacks are still there.
    assert!(manager.contains(SELF_TEST_TOPIC));
    Ok(())
}

#[test]
fn corrupt_topics_json_refuses_start_naming_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join(TOPICS_FILE_NAME),
        b"{\"topicConfigTable\":{",
    )?;
    let error = TopicConfigManager::load(dir.path(), settings())
        .err()
        .ok_or("a corrupt topics.json loaded")?;
    assert!(matches!(error, PersistError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("topics.json"), "{error}");
    Ok(())
}

#[test]
fn topic_names_are_validated_like_java() {
    let longest = "a".repeat(TOPIC_NAME_MAX_CHARS);
    for good in ["TopicTest", "%RETRY%cg", "a|b", "A-b_9", longest.as_str()] {
        assert_eq!(validate_topic_name(good), Ok(()), "{good}");
    }
    let too_long = "a".repeat(TOPIC_NAME_MAX_CHARS + 1);
    let cases = [
        ("", "blank"),
        ("   ", "blank"),
        ("a b", "illegal character ' '"),
        ("topic.with.dots", "illegal character '.'"),
        ("tópico", "illegal character 'ó'"),
        ("t@g", "illegal character '@'"),
        (too_long.as_str(), "128 characters long"),
    ];
    for (bad, why) in cases {
        let Err(message) = validate_topic_name(bad) else {
            panic!("{bad:?} was accepted");
        };
        assert!(message.contains(why), "{bad:?}: {message}");
    }
}

#[test]
fn system_and_send_forbidden_topics() {
    for system in [
        "TBW102",
        "SCHEDULE_TOPIC_XXXX",
        "BenchmarkTest",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRACE_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
        "rmq_sys_anything",
        "DefaultCluster",
        "broker-a",
        "DefaultCluster_REPLY_TOPIC",
    ] {
        assert!(
            is_system_topic(system, "DefaultCluster", "broker-a"),
            "{system}"
        );
    }
    for user in [
        "TopicTest",
        "%RETRY%cg",
        "OtherCluster_REPLY_TOPIC",
        "RMQ_SYS_X",
    ] {
        assert!(
            !is_system_topic(user, "DefaultCluster", "broker-a"),
            "{user}"
        );
    }
    for forbidden in [
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
    ] {
        assert!(is_send_forbidden_topic(forbidden), "{forbidden}");
    }
    for allowed in [
        "TBW102",
        "BenchmarkTest",
        "RMQ_SYS_TRACE_TOPIC",
        "%DLQ%cg",
        "T",
    ] {
        assert!(!is_send_forbidden_topic(allowed), "{allowed}");
    }
    assert_eq!(retry_topic("cg"), "%RETRY%cg");
    assert_eq!(dlq_topic("cg"), "%DLQ%cg");
    assert_eq!(reply_topic("c"), "c_REPLY_TOPIC");
}

#[test]
fn concurrent_auto_creation_creates_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let manager = Arc::new(TopicConfigManager::load(dir.path(), settings())?);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let manager = manager.clone();
            std::thread::spawn(move || {
                manager
                    .create_for_send("Shared", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, 0)
                    .map(|created| created.map(|(_, newly)| newly))
            })
        })
        .collect();
    let mut newly_created = 0;
    for thread in threads {
        let outcome = thread.join().map_err(|_| "a creating thread panicked")??;
        newly_created += usize::from(outcome.ok_or("not created")?);
    }
    assert_eq!(newly_created, 1);
    assert_eq!(manager.data_version().counter, 1);
    Ok(())
}

#[test]
fn a_slave_takes_the_masters_table_whole_and_saves_it() -> TestResult {
    let master_dir = tempfile::tempdir()?;
    let master = TopicConfigManager::load(master_dir.path(), settings())?;
    master.update(TopicConfig::new("OnMaster"))?;
    // Two changes to the slave's one: the versions differ even within one millisecond.
    master.update(TopicConfig::new("OnMaster"))?;
    let dir = tempfile::tempdir()?;
    let slave = TopicConfigManager::load(dir.path(), settings())?;
    slave.update(TopicConfig::new("OnlyOnSlave"))?;

    let mut copy = master.all();
    // A nameless entry is named after its key, as when loading a file.
    copy.topic_config_table
        .insert("Nameless".to_owned(), TopicConfig::new(""));
    assert!(slave.replace_all(copy.clone())?);
    assert_eq!(slave.data_version(), master.data_version());
    assert!(slave.contains("OnMaster") && !slave.contains("OnlyOnSlave"));
    assert_eq!(expect(&slave, "Nameless")?.topic_name, "Nameless");
    let reloaded = TopicConfigManager::load(dir.path(), settings())?;
    assert_eq!(reloaded.all(), slave.all());

    // The same version again: nothing to do.
    copy.topic_config_table.clear();
    assert!(!slave.replace_all(copy)?);
    assert!(slave.contains("OnMaster"));
    Ok(())
}

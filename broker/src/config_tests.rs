use super::*;
use std::io::Write;

fn write_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.flush().unwrap();
    file
}

fn load_text(text: &str) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
    let file = write_file(text);
    BrokerConfig::load_with_warnings(file.path())
}

/// A configuration with every field away from its default, valid as a whole.
fn everything_changed() -> BrokerConfig {
    BrokerConfig {
        broker_cluster_name: "ClusterX".to_owned(),
        broker_name: "broker-x".to_owned(),
        broker_id: 2,
        broker_role: BrokerRole::Slave,
        namesrv_addr: Some("10.0.0.1:9876;ns.example:9877".to_owned()),
        broker_ip1: "10.1.2.3".parse().unwrap(),
        broker_ip2: "::1".parse().unwrap(),
        listen_port: 20911,
        broker_permission: 4,
        server_channel_max_idle_time_seconds: 60,
        region_id: "Region-1".to_owned(),
        trace_on: false,
        rocketmq_home: Some(PathBuf::from("/opt/rocket mq")),
        register_name_server_period_ms: 10_000,
        register_broker_timeout_ms: 3_000,
        compressed_register: true,
        force_register: false,
        auto_create_topic_enable: false,
        auto_create_subscription_group: false,
        default_topic_queue_nums: 16,
        cluster_topic_enable: false,
        broker_topic_enable: false,
        trace_topic_enable: true,
        msg_trace_topic_name: "MY_TRACE".to_owned(),
        long_polling_enable: false,
        short_polling_time_ms: 500,
        notify_consumer_ids_changed_enable: false,
        slave_read_enable: true,
        access_message_in_memory_max_ratio: 30,
        max_transfer_bytes_on_message_in_memory: 1_000,
        max_transfer_count_on_message_in_memory: 64,
        max_transfer_bytes_on_message_in_disk: 2_000,
        max_transfer_count_on_message_in_disk: 16,
        default_query_max_num: 64,
        offset_check_in_slave: true,
        enable_property_filter: true,
        flush_consumer_offset_interval_ms: 1_000,
        flush_delay_offset_interval_ms: 2_000,
        reject_transaction_message: true,
        transaction_timeout_ms: 7_000,
        transaction_check_max: 3,
        transaction_check_interval_ms: 30_000,
        ha_master_address: Some("10.0.0.2:10912".to_owned()),
        ha_send_heartbeat_interval_ms: 1_000,
        ha_housekeeping_interval_ms: 5_000,
        ha_transfer_batch_size_bytes: 1_024,
        ha_max_gap_not_in_sync_bytes: 1_000_000,
        ha_slave_fallbehind_max_bytes: 2_000_000,
        slave_timeout_ms: 1_000,
        store_path_root_dir: PathBuf::from("/var/lib/bolide/store é"),
        store_path_commit_log: Some(PathBuf::from("/var/lib/bolide/commitlog")),
        mapped_file_size_commit_log_bytes: 64 * 1024 * 1024,
        mapped_file_size_consume_queue_bytes: 60_000,
        flush_disk_type: FlushDiskType::Sync,
        flush_interval_commit_log_ms: 200,
        flush_commit_log_least_pages: 0,
        flush_commit_log_thorough_interval_ms: 1_000,
        flush_interval_consume_queue_ms: 100,
        sync_flush_timeout_ms: 2_000,
        max_message_size_bytes: 1024 * 1024,
        check_crc_on_recover: false,
        recover_truncate_corrupt_commit_log: true,
        message_index_enable: false,
        max_hash_slot_num: 1_000,
        max_index_num: 4_000,
        file_reserved_time_hours: 48,
        delete_when_hours: vec![1, 13],
        disk_max_used_space_ratio: 80,
        disk_space_clean_forcibly_ratio: 88,
        disk_space_warning_level_ratio: 92,
        clean_resource_interval_ms: 20_000,
        delay_levels_ms: vec![500_000, 90_000, 7_200_000, 2 * DAY_MS],
    }
}

#[test]
fn defaults_match_rocketmq() {
    let config = BrokerConfig::default();
    let home = std::env::home_dir().unwrap();
    assert_eq!(config.broker_cluster_name, "DefaultCluster");
    assert!(!config.broker_name.is_empty());
    assert_eq!(config.broker_id, 0);
    assert_eq!(config.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(config.namesrv_addr, None);
    assert!(config.broker_ip1.is_ipv4());
    assert_eq!(config.broker_ip1, config.broker_ip2);
    assert_eq!(config.listen_port, 10911);
    assert_eq!(config.broker_permission, 6);
    assert_eq!(config.store_path_root_dir, home.join("store"));
    assert_eq!(config.commit_log_dir(), home.join("store/commitlog"));
    assert_eq!(config.mapped_file_size_commit_log_bytes, 1_073_741_824);
    assert_eq!(config.mapped_file_size_consume_queue_bytes, 6_000_000);
    assert_eq!(config.flush_disk_type, FlushDiskType::Async);
    assert_eq!(config.delete_when_hours, [4]);
    assert_eq!(config.file_reserved_time_hours, 72);
    assert_eq!(config.max_message_size_bytes, 4_194_304);
    assert_eq!(config.register_name_server_period_ms, 30_000);
    assert_eq!(config.transaction_check_max, 15);
    assert_eq!(config.msg_trace_topic_name, "RMQ_SYS_TRACE_TOPIC");
    assert_eq!(config.region_id, "DefaultRegion");
    assert_eq!(config.delay_levels_ms().len(), 18);
    assert_eq!(config.delay_levels_ms()[0], 1_000);
    assert_eq!(config.delay_levels_ms()[17], 7_200_000);
    assert!(config.is_master());
    assert_eq!(config.clone().normalize().unwrap(), Vec::<String>::new());
}

#[test]
fn default_delay_levels_print_as_java_writes_them() {
    let text = BrokerConfig::default().to_properties();
    assert!(
        text.contains(
            "\nmessageDelayLevel=1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h\n"
        ),
        "{text}"
    );
    assert!(text.contains("\ndeleteWhen=04\n"), "{text}");
    assert!(text.contains("\nflushDiskType=ASYNC_FLUSH\n"), "{text}");
    assert!(text.contains("\nbrokerRole=ASYNC_MASTER\n"), "{text}");
}

#[test]
fn delay_levels_parse_every_unit() {
    let mut config = BrokerConfig::default();
    config
        .apply("messageDelayLevel", " 1s  2m\t3h 1d ")
        .unwrap();
    assert_eq!(
        config.delay_levels_ms(),
        [1_000, 120_000, 10_800_000, DAY_MS]
    );
    assert_eq!(format_delay_levels(config.delay_levels_ms()), "1s 2m 3h 1d");
    assert_eq!(format_delay_levels(&[90_000, 1_500]), "90s 2s");
}

#[test]
fn delay_levels_name_the_bad_token() {
    for (value, token) in [
        ("1s 5x 10s", "5x"),
        ("1s s", "s"),
        ("1s -1m", "-1m"),
        ("0s", "0s"),
        ("366d", "366d"),
        ("99999999999999999999d", "99999999999999999999d"),
        ("1é", "1é"),
    ] {
        let mut config = BrokerConfig::default();
        let message = config
            .apply("messageDelayLevel", value)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&format!("messageDelayLevel = '{value}' is not ")),
            "{message}"
        );
        assert!(
            message.contains(&format!("(bad token '{token}')")),
            "{message}"
        );
        assert_eq!(config.delay_levels_ms(), DEFAULT_DELAY_LEVELS_MS);
    }
    let mut config = BrokerConfig::default();
    assert!(config.apply("messageDelayLevel", "  ").is_err());
    let too_many = vec!["1s"; MAX_DELAY_LEVELS + 1].join(" ");
    assert!(config.apply("messageDelayLevel", &too_many).is_err());
}

#[test]
fn apply_accepts_good_values() {
    let mut config = BrokerConfig::default();
    let settings = [
        ("brokerRole", " SYNC_MASTER "),
        ("flushDiskType", "SYNC_FLUSH"),
        ("listenPort", "3"),
        ("brokerIP1", "192.168.1.7"),
        ("namesrvAddr", "127.0.0.1:9876; 127.0.0.1:9877;"),
        ("mapedFileSizeCommitLog", "67108864"),
        ("mappedFileSizeConsumeQueue", "59999"),
        ("deleteWhen", "4;16"),
        ("autoCreateTopicEnable", "FALSE"),
        ("storePathRootDir", "~/bolide"),
        ("diskMaxUsedSpaceRatio", "95"),
    ];
    for (key, value) in settings {
        config.apply(key, value).unwrap();
    }
    let home = std::env::home_dir().unwrap();
    assert_eq!(config.broker_role, BrokerRole::SyncMaster);
    assert_eq!(config.flush_disk_type, FlushDiskType::Sync);
    assert_eq!(config.listen_port, 3);
    assert_eq!(config.fast_listen_port(), 1);
    assert_eq!(config.broker_addr(), "192.168.1.7:3");
    assert_eq!(config.namesrv_addrs(), ["127.0.0.1:9876", "127.0.0.1:9877"]);
    assert_eq!(config.mapped_file_size_commit_log_bytes, 64 * 1024 * 1024);
    // Java rounds the consume queue file up to whole 20-byte units.
    assert_eq!(config.mapped_file_size_consume_queue_bytes, 60_000);
    assert_eq!(config.delete_when_hours, [4, 16]);
    assert_eq!(format_delete_when(&config.delete_when_hours), "04;16");
    assert!(!config.auto_create_topic_enable);
    assert_eq!(config.store_path_root_dir, home.join("bolide"));
    assert_eq!(config.commit_log_dir(), home.join("bolide/commitlog"));
    assert_eq!(config.disk_max_used_space_ratio, 95);

    config.apply("namesrvAddr", " ").unwrap();
    assert_eq!(config.namesrv_addr, None);
    assert!(config.namesrv_addrs().is_empty());
}

#[test]
fn apply_refuses_bad_values_and_leaves_config_unchanged() {
    let cases = [
        (
            "brokerRole",
            "MASTER",
            "brokerRole = 'MASTER' is not ASYNC_MASTER, SYNC_MASTER or SLAVE",
        ),
        (
            "flushDiskType",
            "async_flush",
            "flushDiskType = 'async_flush' is not ASYNC_FLUSH or SYNC_FLUSH",
        ),
        (
            "listenPort",
            "2",
            "listenPort = '2' is not a port from 3 to 65534 (listenPort - 2 and listenPort + 1 are ports too)",
        ),
        (
            "listenPort",
            "65535",
            "listenPort = '65535' is not a port from 3 to 65534 (listenPort - 2 and listenPort + 1 are ports too)",
        ),
        (
            "brokerId",
            "-1",
            "brokerId = '-1' is not a number from 0 to 9223372036854775807",
        ),
        (
            "brokerPermission",
            "8",
            "brokerPermission = '8' is not a number from 0 to 7",
        ),
        (
            "autoCreateTopicEnable",
            "yes",
            "autoCreateTopicEnable = 'yes' is not true or false",
        ),
        (
            "diskMaxUsedSpaceRatio",
            "96",
            "diskMaxUsedSpaceRatio = '96' is not a number of percent from 10 to 95",
        ),
        (
            "mappedFileSizeCommitLog",
            "0",
            "mappedFileSizeCommitLog = '0' is not a number of bytes from 1 to 2147483647",
        ),
        (
            "maxMessageSize",
            "16777217",
            "maxMessageSize = '16777217' is not a number of bytes from 1 to 16777216",
        ),
        (
            "flushIntervalCommitLog",
            "0",
            "flushIntervalCommitLog = '0' is not a number of milliseconds from 1 to 86400000",
        ),
        (
            "brokerIP1",
            "localhost",
            "brokerIP1 = 'localhost' is not an IP address such as 192.168.0.10",
        ),
        (
            "brokerName",
            "broker a",
            "brokerName = 'broker a' is not a name of 1 to 127 characters without spaces",
        ),
        (
            "brokerClusterName",
            "",
            "brokerClusterName = '' is not a name of 1 to 127 characters without spaces",
        ),
        (
            "msgTraceTopicName",
            "a.b",
            "msgTraceTopicName = 'a.b' is not a topic name of 1 to 127 characters from a-z A-Z 0-9 % | _ -",
        ),
        (
            "namesrvAddr",
            "127.0.0.1",
            "namesrvAddr = '127.0.0.1' is not a list of host:port separated by ';', such as 127.0.0.1:9876;127.0.0.1:9877",
        ),
        (
            "namesrvAddr",
            "a:1;b:0",
            "namesrvAddr = 'a:1;b:0' is not a list of host:port separated by ';', such as 127.0.0.1:9876;127.0.0.1:9877",
        ),
        (
            "haMasterAddress",
            "host",
            "haMasterAddress = 'host' is not host:port",
        ),
        (
            "deleteWhen",
            "24",
            "deleteWhen = '24' is not hours of the day from 00 to 23 separated by ';', such as 04",
        ),
        (
            "deleteWhen",
            ";",
            "deleteWhen = ';' is not hours of the day from 00 to 23 separated by ';', such as 04",
        ),
        (
            "storePathRootDir",
            " ",
            "storePathRootDir = '' is not a path",
        ),
        (
            "aclEnable",
            "true",
            "aclEnable = 'true': Bolide does not implement access control lists (ACL); set it to false",
        ),
    ];
    for (key, value, message) in cases {
        let mut config = BrokerConfig::default();
        let error = config.apply(key, value).unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(config, BrokerConfig::default(), "{key} changed");
    }
}

#[test]
fn keys_without_fields_are_ignored_refused_or_unknown() {
    let mut config = BrokerConfig::default();
    config.apply("aclEnable", "false").unwrap();
    config
        .apply("sendMessageThreadPoolNums", "not even a number")
        .unwrap();
    assert_eq!(config, BrokerConfig::default());
    let error = config.apply("brokerNmae", "x").unwrap_err();
    assert!(matches!(error, ConfigError::UnknownKey { ref key } if key == "brokerNmae"));
}

#[test]
fn register_period_is_clamped_as_java_does() {
    let mut config = BrokerConfig::default();
    config.apply("registerNameServerPeriod", "1000").unwrap();
    assert_eq!(config.register_name_server_period_ms, 10_000);
    config.apply("registerNameServerPeriod", "600000").unwrap();
    assert_eq!(config.register_name_server_period_ms, 60_000);
    config.apply("registerNameServerPeriod", "45000").unwrap();
    assert_eq!(config.register_name_server_period_ms, 45_000);
}

#[test]
fn normalize_forces_master_id_and_refuses_slave_id_zero() {
    let mut config = BrokerConfig {
        broker_id: 3,
        ..BrokerConfig::default()
    };
    let notes = config.normalize().unwrap();
    assert_eq!(config.broker_id, 0);
    assert_eq!(
        notes,
        ["brokerId 3 forced to 0: brokerRole ASYNC_MASTER is a master"]
    );

    config.broker_role = BrokerRole::Slave;
    let error = config.normalize().unwrap_err();
    assert_eq!(
        error.to_string(),
        "brokerRole = SLAVE needs brokerId > 0, not 0"
    );
    config.broker_id = 1;
    assert!(config.normalize().unwrap().is_empty());
    assert!(!config.is_master());
}

#[test]
fn normalize_refuses_files_too_small_for_the_limits() {
    let mut config = BrokerConfig {
        mapped_file_size_commit_log_bytes: 4 * 1024 * 1024,
        ..BrokerConfig::default()
    };
    let message = config.normalize().unwrap_err().to_string();
    assert!(
        message.starts_with("mappedFileSizeCommitLog = 4194304 cannot hold"),
        "{message}"
    );
    config.max_message_size_bytes = 1024 * 1024;
    config.normalize().unwrap();

    config.max_index_num = i32::MAX as u32;
    let message = config.normalize().unwrap_err().to_string();
    assert!(message.contains("make index files of"), "{message}");
}

#[test]
fn load_reads_a_rocketmq_sample_file() {
    let text = "# 2m-2s-async/broker-a-s.properties\n\
                brokerClusterName=DefaultCluster\n\
                brokerName=broker-a\n\
                brokerId=1\n\
                deleteWhen=04\n\
                fileReservedTime=48\n\
                brokerRole=SLAVE\n\
                flushDiskType=ASYNC_FLUSH\n";
    let (config, warnings) = load_text(text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.broker_name, "broker-a");
    assert_eq!(config.broker_id, 1);
    assert_eq!(config.broker_role, BrokerRole::Slave);
    assert_eq!(config.file_reserved_time_hours, 48);
}

#[test]
fn load_warns_about_unknown_ignored_repeated_and_adjusted_keys() {
    let text = "listenPort=10911\nbrokerNmae=a\nserverWorkerThreads=8\nlistenPort=10921\n\
                registerNameServerPeriod=5000\nbrokerId=7\n";
    let file = write_file(text);
    let (config, warnings) = BrokerConfig::load_with_warnings(file.path()).unwrap();
    let name = file.path().display().to_string();
    assert_eq!(config.listen_port, 10921);
    assert_eq!(config.broker_id, 0);
    assert_eq!(
        warnings,
        [
            format!("{name} line 2: unknown key 'brokerNmae' ignored"),
            format!(
                "{name} line 3: serverWorkerThreads is a RocketMQ key that Bolide accepts and ignores"
            ),
            format!("{name} line 4: listenPort repeats line 1; the later value wins"),
            format!(
                "{name} line 5: registerNameServerPeriod 5000 clamped to 10000 (10000 to 60000)"
            ),
            format!("{name}: brokerId 7 forced to 0: brokerRole ASYNC_MASTER is a master"),
        ]
    );
}

#[test]
fn load_names_file_line_key_and_value_of_a_bad_value() {
    let file = write_file("# header\nbrokerName=broker-a\nbrokerRole=MASTER\n");
    let error = BrokerConfig::load(file.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} line 3: brokerRole = 'MASTER' is not ASYNC_MASTER, SYNC_MASTER or SLAVE",
            file.path().display()
        )
    );
}

#[test]
fn load_names_the_file_of_an_inconsistent_configuration() {
    let file = write_file("brokerRole=SLAVE\n");
    let error = BrokerConfig::load(file.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: brokerRole = SLAVE needs brokerId > 0, not 0",
            file.path().display()
        )
    );
}

#[test]
fn load_names_syntax_errors_and_missing_files() {
    let file = write_file("listenPort=10911\nbrokerName=\\u12\n");
    let message = BrokerConfig::load(file.path()).unwrap_err().to_string();
    let prefix = format!("{} line 2: malformed properties: ", file.path().display());
    assert!(message.starts_with(&prefix), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.properties");
    let message = BrokerConfig::load(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("cannot read {}: ", path.display())),
        "{message}"
    );
}

#[test]
fn to_properties_round_trips_through_load() {
    let config = everything_changed();
    let (loaded, warnings) = load_text(&config.to_properties()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(loaded, config);

    let defaults = BrokerConfig::default();
    let (loaded, warnings) = load_text(&defaults.to_properties()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(loaded.to_properties(), defaults.to_properties());
    assert_eq!(loaded.commit_log_dir(), defaults.commit_log_dir());
}

#[test]
fn to_properties_is_sorted_and_leaves_out_unset_keys() {
    let text = BrokerConfig::default().to_properties();
    let keys: Vec<&str> = text
        .lines()
        .map(|line| line.split_once('=').unwrap().0)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert!(!keys.contains(&"namesrvAddr"));
    assert!(!keys.contains(&"haMasterAddress"));
    assert!(keys.contains(&"mappedFileSizeCommitLog"));
    assert!(!keys.contains(&"mapedFileSizeCommitLog"));

    let all = everything_changed().to_properties();
    assert!(
        all.contains("\nnamesrvAddr=10.0.0.1:9876;ns.example:9877\n"),
        "{all}"
    );
    assert!(all.contains("\nbrokerIP2=::1\n"), "{all}");
}

#[test]
fn important_properties_are_the_important_keys() {
    let config = everything_changed();
    let text = config.important_properties();
    let keys: Vec<&str> = text
        .lines()
        .map(|line| line.split_once('=').unwrap().0)
        .collect();
    assert_eq!(keys, IMPORTANT_KEYS);
    assert!(text.contains("brokerRole=SLAVE\n"));
}

#[test]
fn key_lists_are_sorted_disjoint_and_known() {
    for list in [RUNTIME_UPDATABLE_KEYS, IGNORED_KEYS, IMPORTANT_KEYS] {
        assert!(list.windows(2).all(|pair| pair[0] < pair[1]), "{list:?}");
    }
    let entries = everything_changed().entries();
    let known: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
    for key in IGNORED_KEYS {
        assert!(!known.contains(key), "{key} is both used and ignored");
    }
    for key in RUNTIME_UPDATABLE_KEYS.iter().chain(IMPORTANT_KEYS) {
        assert!(known.contains(key), "{key} is not a key");
    }
}

#[test]
fn runtime_whitelist_has_no_path_address_or_program_keys() {
    for key in RUNTIME_UPDATABLE_KEYS {
        let lower = key.to_ascii_lowercase();
        for word in [
            "path", "dir", "home", "addr", "brokerip", "filter", "server", "port", "role",
        ] {
            let allowed = *key == "enablePropertyFilter" && word == "filter";
            assert!(
                allowed || !lower.contains(word),
                "{key} must not be updatable remotely"
            );
        }
    }
}

#[test]
fn runtime_update_applies_whitelisted_keys() {
    let mut config = BrokerConfig::default();
    let keys = config
        .apply_runtime_update("brokerPermission=4\nlongPollingEnable = false\nbrokerPermission=6\n")
        .unwrap();
    assert_eq!(keys, ["brokerPermission", "longPollingEnable"]);
    assert_eq!(config.broker_permission, 6);
    assert!(!config.long_polling_enable);
    assert!(config.apply_runtime_update("").unwrap().is_empty());
}

#[test]
fn runtime_update_refuses_the_whole_request() {
    for (body, key) in [
        (
            "longPollingEnable=false\nrocketmqHome=/tmp/x\n",
            "rocketmqHome",
        ),
        ("filterServerNums=1\n", "filterServerNums"),
        ("namesrvAddr=1.2.3.4:9876\n", "namesrvAddr"),
        ("storePathRootDir=/tmp\n", "storePathRootDir"),
        ("brokerRole=SLAVE\n", "brokerRole"),
        // Copied into the topic manager at start: accepting it would change nothing.
        ("autoCreateTopicEnable=false\n", "autoCreateTopicEnable"),
    ] {
        let mut config = BrokerConfig::default();
        let error = config.apply_runtime_update(body).unwrap_err();
        assert!(
            matches!(&error, ConfigError::NotRuntimeUpdatable { key: k } if k == key),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("'{key}' cannot be changed")),
            "{error}"
        );
        assert_eq!(config, BrokerConfig::default());
    }
    let mut config = BrokerConfig::default();
    let error = config
        .apply_runtime_update("longPollingEnable=false\nbrokerPermission=9\n")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "brokerPermission = '9' is not a number from 0 to 7"
    );
    assert_eq!(config, BrokerConfig::default());
}

#[test]
fn store_config_maps_every_field() {
    let config = everything_changed();
    let store = config.store_config();
    assert_eq!(store.root_dir, config.store_path_root_dir);
    assert_eq!(
        store.commit_log_dir(),
        PathBuf::from("/var/lib/bolide/commitlog")
    );
    assert_eq!(store.commit_log_file_size_bytes, 64 * 1024 * 1024);
    assert_eq!(store.consume_queue_units_per_file, 3_000);
    assert_eq!(store.flush_disk_type, FlushDiskType::Sync);
    assert_eq!(store.flush_interval_commit_log_ms, 200);
    assert_eq!(store.flush_commit_log_least_pages, 0);
    assert_eq!(store.flush_commit_log_thorough_interval_ms, 1_000);
    assert_eq!(store.flush_interval_consume_queue_ms, 100);
    assert_eq!(store.sync_flush_timeout_ms, 2_000);
    assert_eq!(store.max_message_size_bytes, 1024 * 1024);
    assert!(!store.check_crc_on_recover);
    assert!(store.truncate_corrupt_commit_log);
    assert!(!store.message_index_enable);
    assert_eq!(
        (store.max_hash_slot_num, store.max_index_num),
        (1_000, 4_000)
    );
    assert_eq!(store.file_reserved_time_hours, 48);
    assert_eq!(store.delete_when_hours, [1, 13]);
    assert_eq!(store.disk_max_used_space_ratio, 80);
    assert_eq!(store.disk_space_clean_forcibly_ratio, 88);
    assert_eq!(store.disk_space_warning_level_ratio, 92);
    assert_eq!(store.clean_resource_interval_ms, 20_000);
    assert_eq!(store.store_host, "10.1.2.3:20911".parse().unwrap());
    assert_eq!(store.delay_levels_ms, config.delay_levels_ms);

    let defaults = BrokerConfig::default().store_config();
    assert_eq!(defaults.consume_queue_units_per_file, 300_000);
    assert_eq!(
        defaults.commit_log_dir(),
        home_dir().join("store/commitlog")
    );
}

#[test]
fn addresses_follow_listen_port() {
    let config = everything_changed();
    assert_eq!(config.broker_addr(), "10.1.2.3:20911");
    assert_eq!(config.ha_addr(), "[::1]:20912");
    assert_eq!(config.ha_listen_port(), 20912);
    assert_eq!(config.fast_listen_port(), 20909);
    assert_eq!(config.namesrv_addrs(), ["10.0.0.1:9876", "ns.example:9877"]);
}

//! The admin handlers over a real store and real config files in a temporary directory:
//! each test sends requests through `admin` and checks the answer and what changed on disk.

use std::net::SocketAddr;
use std::sync::Arc;

use bolide_client::protocol::body::{
    ConsumeStats, ConsumerConnection, ProducerConnection, TopicStatsTable,
};
use bolide_client::protocol::heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, SubscriptionData,
};
use bolide_client::protocol::lenient_json::to_standard_json;
use bolide_client::protocol::message::MessageToStore;
use bolide_client::protocol::topic_config::TopicConfigSerializeWrapper;
use bolide_client::protocol::{ExtFields, RemotingCommand};
use tokio::sync::mpsc;

use super::super::count;
use super::*;
use crate::config::{BrokerConfig, BrokerRole};
use crate::consumer_offset::{ConsumerOffsetManager, DelayOffsetTable};
use crate::namesrv_register::NamesrvRegistrar;
use crate::store::mapped_file::RealFileSystem;
use crate::store::{MessageStore, StoreConfig};
use crate::subscription_group::SubscriptionGroupManager;
use crate::topic_config::{TopicConfigManager, TopicDefaults};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CLUSTER: &str = "TestCluster";
const BROKER: &str = "broker-t";

impl BrokerProcessor {
    /// A master broker over `dir`: the store in `dir`, the metadata in `dir/config`, and no
    /// name servers (registrations are requested but never sent).
    pub(crate) fn for_tests(dir: &Path) -> BrokerProcessor {
        let config = BrokerConfig {
            broker_cluster_name: CLUSTER.to_owned(),
            broker_name: BROKER.to_owned(),
            namesrv_addr: None,
            store_path_root_dir: dir.to_path_buf(),
            ..BrokerConfig::default()
        };
        let store_config = StoreConfig {
            root_dir: dir.to_path_buf(),
            commit_log_file_size_bytes: 1 << 20,
            consume_queue_units_per_file: 1024,
            ..StoreConfig::default()
        };
        let store =
            MessageStore::open(store_config, Arc::new(RealFileSystem)).expect("store opens");
        let config_dir = dir.join("config");
        let topics = Arc::new(
            TopicConfigManager::load(&config_dir, TopicDefaults::new(CLUSTER, BROKER))
                .expect("topics load"),
        );
        let groups =
            Arc::new(SubscriptionGroupManager::load(&config_dir, true).expect("groups load"));
        let offsets = Arc::new(ConsumerOffsetManager::load(&config_dir).expect("offsets load"));
        let delay_offsets =
            Arc::new(DelayOffsetTable::load(&config_dir).expect("delay offsets load"));
        let registrar = Arc::new(NamesrvRegistrar::new(&config, topics.clone()));
        BrokerProcessor::new(
            config,
            Arc::new(store),
            topics,
            groups,
            offsets,
            delay_offsets,
            registrar,
        )
    }
}

fn fields(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn connection(id: u64) -> (ConnectionHandle, mpsc::Receiver<RemotingCommand>) {
    ConnectionHandle::detached(id, SocketAddr::from(([10, 1, 2, 3], 40_000)), 8)
}

/// Sends one admin request; panics when `admin` does not handle the code.
async fn call(
    processor: &BrokerProcessor,
    code: i32,
    pairs: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let (handle, _receiver) = connection(1_000_000);
    let request = RemotingCommand::request(code, fields(pairs)).with_body(body.to_vec());
    processor
        .admin(&handle, &request, code)
        .await
        .unwrap_or_else(|| panic!("code {code} not handled"))
}

async fn create_topic(processor: &BrokerProcessor, topic: &str, queues: i32) -> Response {
    let queues = queues.to_string();
    let pairs = [
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("readQueueNums", queues.as_str()),
        ("writeQueueNums", queues.as_str()),
        ("perm", "6"),
        ("topicFilterType", "SINGLE_TAG"),
        ("topicSysFlag", "0"),
        ("order", "false"),
    ];
    call(processor, RequestCode::UPDATE_AND_CREATE_TOPIC, &pairs, b"").await
}

/// Appends `count` messages to a queue; returns their store times.
fn put(processor: &BrokerProcessor, topic: &str, queue_id: i32, count: usize) -> Vec<i64> {
    (0..count)
        .map(|n| {
            let body = format!("message {n}");
            let message = MessageToStore {
                topic,
                queue_id,
                flag: 0,
                body: body.as_bytes(),
                properties: "",
                sysflag: 0,
                born_timestamp_ms: 1_700_000_000_000,
                born_host: SocketAddr::from(([192, 168, 1, 2], 50_000)),
                store_host: SocketAddr::from(([10, 0, 0, 1], 10_911)),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            };
            processor
                .store
                .put_message(&message)
                .expect("append")
                .store_timestamp_ms
        })
        .collect()
}

fn consumer(group: &str, topic: &str) -> ConsumerData {
    ConsumerData {
        group_name: group.to_owned(),
        consume_type: ConsumeType::Passively,
        message_model: MessageModel::Clustering,
        consume_from_where: ConsumeFromWhere::LastOffset,
        subscription_data_set: vec![SubscriptionData::from_expression(topic, "*")],
        unit_mode: false,
    }
}

fn client_channel(handle: ConnectionHandle, client_id: &str) -> ClientChannel {
    ClientChannel {
        handle,
        client_id: client_id.to_owned(),
        language: "JAVA".to_owned(),
        version: 407,
        last_update_ms: 0,
    }
}

fn remark(response: &Response) -> &str {
    response.remark_text()
}

#[tokio::test]
async fn created_topic_is_listed_saved_and_has_stats() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    let version_before = processor.topics.data_version().counter;
    let created = create_topic(&processor, "TopicA", 4).await;
    assert_eq!(created.code, ResponseCode::SUCCESS, "{}", remark(&created));

    let listed = call(&processor, RequestCode::GET_ALL_TOPIC_CONFIG, &[], b"").await;
    assert_eq!(listed.code, ResponseCode::SUCCESS);
    let wrapper = TopicConfigSerializeWrapper::decode(&listed.body)?;
    let topic = wrapper
        .topic_config_table
        .get("TopicA")
        .ok_or("TopicA not listed")?;
    assert_eq!(
        (topic.read_queue_nums, topic.write_queue_nums, topic.perm),
        (4, 4, 6)
    );
    assert_eq!(wrapper.data_version.counter, version_before + 1);
    // Saved: a broker restarted over the same directory has it.
    let reloaded = TopicConfigManager::load(
        &dir.path().join("config"),
        TopicDefaults::new(CLUSTER, BROKER),
    )?;
    assert_eq!(reloaded.get("TopicA").as_ref(), Some(topic));

    let times = put(&processor, "TopicA", 1, 3);
    let stats = call(
        &processor,
        RequestCode::GET_TOPIC_STATS_INFO,
        &[("topic", "TopicA")],
        b"",
    )
    .await;
    assert_eq!(stats.code, ResponseCode::SUCCESS);
    let table = TopicStatsTable::decode(&stats.body)?;
    assert_eq!(table.offset_table.len(), 4, "one entry per write queue");
    let queue_1 = table.offset_table[&MessageQueue::new("TopicA", BROKER, 1)];
    assert_eq!((queue_1.min_offset, queue_1.max_offset), (0, 3));
    assert_eq!(queue_1.last_update_timestamp, times[2]);
    let queue_0 = table.offset_table[&MessageQueue::new("TopicA", BROKER, 0)];
    assert_eq!((queue_0.max_offset, queue_0.last_update_timestamp), (0, 0));

    let unknown = call(
        &processor,
        RequestCode::GET_TOPIC_STATS_INFO,
        &[("topic", "Nope")],
        b"",
    )
    .await;
    assert_eq!(unknown.code, ResponseCode::TOPIC_NOT_EXIST);
    Ok(())
}

#[tokio::test]
async fn system_invalid_and_slave_topic_changes_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    for topic in [
        "TBW102",
        "SCHEDULE_TOPIC_XXXX",
        "rmq_sys_mine",
        CLUSTER,
        BROKER,
    ] {
        let response = create_topic(&processor, topic, 4).await;
        assert_eq!(
            response.code,
            ResponseCode::SYSTEM_ERROR,
            "{topic} was created"
        );
        assert!(
            remark(&response).contains("system topic"),
            "{topic}: {}",
            remark(&response)
        );
        let deleted = call(
            &processor,
            RequestCode::DELETE_TOPIC_IN_BROKER,
            &[("topic", topic)],
            b"",
        )
        .await;
        assert_eq!(
            deleted.code,
            ResponseCode::SYSTEM_ERROR,
            "{topic} was deleted"
        );
    }
    assert!(
        processor.topics.contains("TBW102"),
        "a refused delete removes nothing"
    );
    for (topic, queues) in [
        ("bad topic", 4),
        ("TopicQ", 0),
        ("TopicQ", MAX_QUEUE_NUMS + 1),
    ] {
        let response = create_topic(&processor, topic, queues).await;
        assert_eq!(
            response.code,
            ResponseCode::SYSTEM_ERROR,
            "{topic}/{queues}"
        );
    }
    assert!(!processor.topics.contains("TopicQ"));

    processor.config.write().broker_role = BrokerRole::Slave;
    let response = create_topic(&processor, "TopicS", 4).await;
    assert_eq!(response.code, ResponseCode::SYSTEM_ERROR);
    assert!(
        remark(&response).contains("slave broker"),
        "{}",
        remark(&response)
    );
    assert!(!processor.topics.contains("TopicS"));
    Ok(())
}

#[tokio::test]
async fn broker_config_updates_only_whitelisted_keys() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    let before = processor.config.read().clone();
    // CVE-2023-33246: paths and program-starting keys must never be set remotely, and one
    // such key refuses the whole body, including the harmless keys beside it.
    for body in [
        "storePathRootDir=/tmp/elsewhere\n",
        "rocketmqHome=/tmp\nfilterServerNums=1\n",
        "defaultQueryMaxNum=64\nstorePathCommitLog=/tmp/log\n",
    ] {
        let response = call(
            &processor,
            RequestCode::UPDATE_BROKER_CONFIG,
            &[],
            body.as_bytes(),
        )
        .await;
        assert_eq!(
            response.code,
            ResponseCode::SYSTEM_ERROR,
            "{body:?} accepted"
        );
        let first_bad = body
            .lines()
            .find(|line| !line.starts_with("defaultQueryMaxNum"));
        let key = first_bad
            .and_then(|line| line.split('=').next())
            .ok_or("no key")?;
        assert!(
            remark(&response).contains(key),
            "{body:?}: {}",
            remark(&response)
        );
    }
    assert_eq!(
        *processor.config.read(),
        before,
        "refused updates change nothing"
    );

    let body = b"defaultQueryMaxNum=64\nlongPollingEnable=false\n";
    let response = call(&processor, RequestCode::UPDATE_BROKER_CONFIG, &[], body).await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        remark(&response)
    );
    assert_eq!(processor.config.read().default_query_max_num, 64);
    assert!(!processor.config.read().long_polling_enable);

    let got = call(&processor, RequestCode::GET_BROKER_CONFIG, &[], b"").await;
    assert_eq!(got.code, ResponseCode::SUCCESS);
    let text = std::str::from_utf8(&got.body)?;
    assert!(
        text.lines().any(|line| line == "defaultQueryMaxNum=64"),
        "{text}"
    );
    assert!(
        text.lines().any(|line| line == "longPollingEnable=false"),
        "{text}"
    );
    let version = got.ext_fields.get("version").ok_or("no version header")?;
    DataVersion::decode(version.as_bytes())?;
    Ok(())
}

#[tokio::test]
async fn deleted_topic_loses_config_offsets_and_queues() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    assert_eq!(
        create_topic(&processor, "TopicD", 2).await.code,
        ResponseCode::SUCCESS
    );
    assert_eq!(
        create_topic(&processor, "TopicE", 2).await.code,
        ResponseCode::SUCCESS
    );
    put(&processor, "TopicD", 0, 2);
    put(&processor, "TopicE", 0, 2);
    processor.offsets.commit("cg", "TopicD", 0, 2);
    processor.offsets.commit("cg", "TopicE", 0, 1);

    let response = call(
        &processor,
        RequestCode::DELETE_TOPIC_IN_BROKER,
        &[("topic", "TopicD")],
        b"",
    )
    .await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        remark(&response)
    );
    assert!(processor.topics.get("TopicD").is_none());
    assert_eq!(processor.offsets.query("cg", "TopicD", 0), None);
    assert_eq!(processor.store.max_offset("TopicD", 0), 0);
    // Other topics keep everything.
    assert_eq!(processor.offsets.query("cg", "TopicE", 0), Some(1));
    assert_eq!(processor.store.max_offset("TopicE", 0), 2);
    let saved = ConsumerOffsetManager::load(&dir.path().join("config"))?;
    assert_eq!(saved.query("cg", "TopicD", 0), None);
    assert_eq!(saved.query("cg", "TopicE", 0), Some(1));
    // Deleting again (or an unknown topic) succeeds, as in Java.
    let again = call(
        &processor,
        RequestCode::DELETE_TOPIC_IN_BROKER,
        &[("topic", "TopicD")],
        b"",
    )
    .await;
    assert_eq!(again.code, ResponseCode::SUCCESS);
    Ok(())
}

#[tokio::test]
async fn consume_stats_report_lag_and_last_consumed_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    assert_eq!(
        create_topic(&processor, "TopicC", 2).await.code,
        ResponseCode::SUCCESS
    );
    let times = put(&processor, "TopicC", 0, 3);
    processor.offsets.commit("cg", "TopicC", 0, 2);
    // Offsets on a topic without a config are left out, as in Java.
    processor.offsets.commit("cg", "Gone", 0, 5);

    for pairs in [
        &[("consumerGroup", "cg"), ("topic", "TopicC")][..],
        &[("consumerGroup", "cg")],
        &[("consumerGroup", "cg"), ("topic", " ")],
    ] {
        let response = call(&processor, RequestCode::GET_CONSUME_STATS, pairs, b"").await;
        assert_eq!(response.code, ResponseCode::SUCCESS, "{pairs:?}");
        let stats = ConsumeStats::decode(&response.body)?;
        assert_eq!(
            stats.offset_table.len(),
            2,
            "{pairs:?}: one entry per read queue"
        );
        let queue_0 = stats.offset_table[&MessageQueue::new("TopicC", BROKER, 0)];
        assert_eq!((queue_0.broker_offset, queue_0.consumer_offset), (3, 2));
        assert_eq!(
            queue_0.last_timestamp, times[1],
            "time of the last consumed message"
        );
        let queue_1 = stats.offset_table[&MessageQueue::new("TopicC", BROKER, 1)];
        assert_eq!(
            (
                queue_1.broker_offset,
                queue_1.consumer_offset,
                queue_1.last_timestamp
            ),
            (0, 0, 0)
        );
    }

    // An online group that does not subscribe to the topic gets no entries for it.
    let (handle, _receiver) = connection(7);
    processor
        .clients
        .register_consumer(client_channel(handle, "c@1"), &consumer("cg", "Other"));
    let response = call(
        &processor,
        RequestCode::GET_CONSUME_STATS,
        &[("consumerGroup", "cg")],
        b"",
    )
    .await;
    assert!(
        ConsumeStats::decode(&response.body)?
            .offset_table
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn runtime_info_has_what_cluster_list_reads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    put(&processor, "TopicR", 0, 2);
    count(&processor.stats.put_messages, 2);
    let response = call(&processor, RequestCode::GET_BROKER_RUNTIME_INFO, &[], b"").await;
    assert_eq!(response.code, ResponseCode::SUCCESS);
    let info = KvTable::decode(&response.body)?.table;
    for key in [
        "brokerVersionDesc",
        "putTps",
        "getTransferedTps",
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgPutTotalTodayNow",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "msgGetTotalTodayNow",
        "commitLogDiskRatio",
        "pageCacheLockTimeMills",
        "earliestMessageTimeStamp",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
    ] {
        assert!(info.contains_key(key), "{key} missing");
    }
    for key in ["putTps", "getTransferedTps"] {
        let rates: Vec<f64> = info[key]
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        assert_eq!(rates.len(), 3, "{key}: {}", info[key]);
    }
    assert_eq!(info["msgPutTotalTodayNow"], "2");
    assert_eq!(info["brokerVersion"], "407");
    let ratio: f64 = info["commitLogDiskRatio"].parse()?;
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    assert!(info["earliestMessageTimeStamp"].parse::<i64>()? > 0);
    assert!(info["commitLogMaxOffset"].parse::<u64>()? > 0);
    assert!(
        info["runtime"].starts_with("[ 0 days, 0 hours"),
        "{}",
        info["runtime"]
    );
    Ok(())
}

#[tokio::test]
async fn subscription_groups_are_created_listed_and_deleted_with_offsets() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    let mut config = SubscriptionGroupConfig::new("cg");
    config.retry_max_times = 3;
    let response = call(
        &processor,
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        &config.encode(),
    )
    .await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        remark(&response)
    );
    let listed = call(
        &processor,
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        &[],
        b"",
    )
    .await;
    let all = bolide_client::protocol::subscription_group::SubscriptionGroupWrapper::decode(
        &listed.body,
    )?;
    assert_eq!(all.subscription_group_table.get("cg"), Some(&config));

    let bad = SubscriptionGroupConfig::new("bad group");
    let response = call(
        &processor,
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        &bad.encode(),
    )
    .await;
    assert_eq!(response.code, ResponseCode::SYSTEM_ERROR);

    processor.offsets.commit("cg", "T", 0, 4);
    let pairs = [("groupName", "cg"), ("removeOffset", "true")];
    let response = call(
        &processor,
        RequestCode::DELETE_SUBSCRIPTIONGROUP,
        &pairs,
        b"",
    )
    .await;
    assert_eq!(response.code, ResponseCode::SUCCESS);
    assert!(!processor.groups.contains("cg"));
    assert_eq!(processor.offsets.query("cg", "T", 0), None);
    Ok(())
}

#[tokio::test]
async fn connection_lists_show_online_clients() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    let offline = call(
        &processor,
        RequestCode::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "cg")],
        b"",
    )
    .await;
    assert_eq!(offline.code, ResponseCode::CONSUMER_NOT_ONLINE);
    let unknown = call(
        &processor,
        RequestCode::GET_PRODUCER_CONNECTION_LIST,
        &[("producerGroup", "pg")],
        b"",
    )
    .await;
    assert_eq!(unknown.code, ResponseCode::SYSTEM_ERROR);

    let (consumer_handle, _consumer_receiver) = connection(8);
    let (producer_handle, _producer_receiver) = connection(9);
    processor
        .clients
        .register_consumer(client_channel(consumer_handle, "c@1"), &consumer("cg", "T"));
    processor
        .clients
        .register_producer("pg", client_channel(producer_handle, "p@1"));

    let online = call(
        &processor,
        RequestCode::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "cg")],
        b"",
    )
    .await;
    assert_eq!(online.code, ResponseCode::SUCCESS);
    let body = ConsumerConnection::decode(&online.body)?;
    assert_eq!(body.connection_set.len(), 1);
    assert_eq!(body.connection_set[0].client_id, "c@1");
    assert_eq!(body.connection_set[0].client_addr, "10.1.2.3:40000");
    assert!(body.subscription_table.contains_key("T"));
    assert_eq!(body.message_model, MessageModel::Clustering);

    let producers = call(
        &processor,
        RequestCode::GET_PRODUCER_CONNECTION_LIST,
        &[("producerGroup", "pg")],
        b"",
    )
    .await;
    assert_eq!(producers.code, ResponseCode::SUCCESS);
    let body = ProducerConnection::decode(&producers.body)?;
    assert_eq!(body.connection_set.len(), 1);
    assert_eq!(body.connection_set[0].client_id, "p@1");
    Ok(())
}

#[tokio::test]
async fn offset_tables_are_served_as_saved() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    processor.offsets.commit("cg", "T", 1, 12);
    processor.delay_offsets.set(3, 7);
    let offsets = call(&processor, RequestCode::GET_ALL_CONSUMER_OFFSET, &[], b"").await;
    assert_eq!(&offsets.body[..], br#"{"offsetTable":{"T@cg":{1:12}}}"#);
    let delays = call(&processor, RequestCode::GET_ALL_DELAY_OFFSET, &[], b"").await;
    assert_eq!(&delays.body[..], br#"{"offsetTable":{3:7}}"#);
    Ok(())
}

#[tokio::test]
async fn reset_offset_commits_and_notifies_consumers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let processor = BrokerProcessor::for_tests(dir.path());
    assert_eq!(
        create_topic(&processor, "TopicO", 2).await.code,
        ResponseCode::SUCCESS
    );
    put(&processor, "TopicO", 0, 3);
    put(&processor, "TopicO", 1, 2);
    processor.offsets.commit("cg", "TopicO", 0, 3);
    processor.offsets.commit("cg", "TopicO", 1, 1);
    let (handle, mut notices) = connection(10);
    processor
        .clients
        .register_consumer(client_channel(handle, "c@1"), &consumer("cg", "TopicO"));

    // Back to the beginning: both queues move back. Then to the end, which is later than
    // the committed offsets and so needs isForce.
    let pairs = [
        ("topic", "TopicO"),
        ("group", "cg"),
        ("timestamp", "0"),
        ("isForce", "false"),
    ];
    let response = call(
        &processor,
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
        &pairs,
        b"",
    )
    .await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{}",
        remark(&response)
    );
    assert_eq!(processor.offsets.query("cg", "TopicO", 0), Some(0));
    assert_eq!(processor.offsets.query("cg", "TopicO", 1), Some(0));
    let body: serde_json::Value =
        serde_json::from_slice(&to_standard_json(&response.body, "ResetOffsetBody")?)?;
    let table = body["offsetTable"].as_object().ok_or("no offsetTable")?;
    assert_eq!(table.len(), 2);
    let notice = notices.try_recv()?;
    assert_eq!(notice.code, RequestCode::RESET_CONSUMER_CLIENT_OFFSET);
    assert_eq!(notice.body, response.body);
    assert_eq!(
        notice.ext_fields.get("group").map(String::as_str),
        Some("cg")
    );

    let pairs = [
        ("topic", "TopicO"),
        ("group", "cg"),
        ("timestamp", "-1"),
        ("isForce", "true"),
    ];
    let response = call(
        &processor,
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
        &pairs,
        b"",
    )
    .await;
    assert_eq!(response.code, ResponseCode::SUCCESS);
    assert_eq!(processor.offsets.query("cg", "TopicO", 0), Some(3));
    assert_eq!(processor.offsets.query("cg", "TopicO", 1), Some(2));

    let pairs = [
        ("topic", "TopicO"),
        ("group", "nobody"),
        ("timestamp", "0"),
        ("isForce", "false"),
    ];
    let response = call(
        &processor,
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
        &pairs,
        b"",
    )
    .await;
    assert_eq!(response.code, ResponseCode::SYSTEM_ERROR);
    Ok(())
}

#[tokio::test]
async fn other_codes_are_left_to_the_caller() {
    let dir = tempfile::tempdir().expect("temp dir");
    let processor = BrokerProcessor::for_tests(dir.path());
    let (handle, _receiver) = connection(11);
    let request = RemotingCommand::request(RequestCode::SEND_MESSAGE, ExtFields::new());
    assert!(processor.admin(&handle, &request, 9_999).await.is_none());
}

#[test]
fn byte_counts_and_runtimes_read_as_java_prints_them() {
    assert_eq!(human_readable_bytes(0), "0 B");
    assert_eq!(human_readable_bytes(1023), "1023 B");
    assert_eq!(human_readable_bytes(1536), "1.5 KiB");
    assert_eq!(human_readable_bytes(49 << 30), "49.0 GiB");
    assert_eq!(human_readable_bytes(u64::MAX), "16.0 EiB");
    assert_eq!(
        format_runtime(90_061_000),
        "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"
    );
    assert_eq!(
        format_runtime(-5),
        "[ 0 days, 0 hours, 0 minutes, 0 seconds ]"
    );
}

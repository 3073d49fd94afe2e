//! Master/slave behaviour of the request handlers over a real store in a temporary directory
//! (protocol.md §2.3, §7): which broker a pull suggests, how a slave answers offsets it may
//! only not have yet, which commits a slave keeps, and the writes a slave refuses.

use std::net::SocketAddr;

use bolide_client::protocol::broker_header::{
    ConsumerSendMsgBackRequestHeader, PullMessageRequestHeader, PullMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader, pull_sys_flag,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::message::MessageToStore;
use bolide_client::protocol::route::perm;
use bolide_client::protocol::subscription_group::SubscriptionGroupConfig;
use bolide_client::protocol::topic_config::TopicConfig;
use bolide_client::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ConnectionHandle, RequestProcessor};

use super::BrokerProcessor;
use crate::config::BrokerRole;
use crate::consumer_offset::GroupQueue;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOPIC: &str = "TopicS";
const GROUP: &str = "cg";
const MESSAGES: u64 = 10;

/// A broker over `dir` holding `MESSAGES` equal-sized messages in `TOPIC` queue 0, whose
/// memory is sized so that a lag of more than 3 messages counts as "not in memory" at
/// Java's 40 %. Returns it with the size of one stored record.
fn broker_with_messages(dir: &std::path::Path, role: BrokerRole) -> (BrokerProcessor, u64) {
    let mut processor = BrokerProcessor::for_tests(dir);
    processor
        .topics
        .update(TopicConfig {
            perm: perm::READ_WRITE,
            read_queue_nums: 1,
            write_queue_nums: 1,
            ..TopicConfig::new(TOPIC)
        })
        .expect("topic saved");
    for n in 0..MESSAGES {
        let body = format!("message {n}");
        let message = MessageToStore {
            topic: TOPIC,
            queue_id: 0,
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
        processor.store.put_message(&message).expect("append");
    }
    let record_bytes = processor.store.commit_log_max_offset() / MESSAGES;
    assert_eq!(
        record_bytes * MESSAGES,
        processor.store.commit_log_max_offset()
    );
    // 40 % of this is 3.5 records.
    processor.physical_memory_bytes = record_bytes * 35 / 4;
    processor.config.write().broker_role = role;
    (processor, record_bytes)
}

fn connection() -> ConnectionHandle {
    ConnectionHandle::detached(7, SocketAddr::from(([10, 1, 2, 3], 40_000)), 8).0
}

async fn call(processor: &BrokerProcessor, request: RemotingCommand) -> RemotingCommand {
    processor
        .process(&connection(), request)
        .await
        .expect("a response")
}

/// PULL_MESSAGE of `max` messages from `offset`, subscription `*` in the header, optionally
/// committing `commit_offset`.
async fn pull(
    processor: &BrokerProcessor,
    offset: i64,
    max: i32,
    commit_offset: Option<i64>,
) -> (i32, PullMessageResponseHeader) {
    let commit_flag = commit_offset.map_or(0, |_| pull_sys_flag::COMMIT_OFFSET);
    let header = PullMessageRequestHeader {
        consumer_group: GROUP.to_owned(),
        topic: TOPIC.to_owned(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: max,
        sys_flag: pull_sys_flag::SUBSCRIPTION | commit_flag,
        commit_offset: commit_offset.unwrap_or(0),
        suspend_timeout_millis: 0,
        subscription: Some("*".to_owned()),
        sub_version: 0,
        expression_type: None,
        broker_name: None,
    };
    let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields());
    let response = call(processor, request).await;
    let header = PullMessageResponseHeader::from_ext_fields(&response.ext_fields)
        .expect("a pull response header");
    (response.code, header)
}

fn set_group(processor: &BrokerProcessor, broker_id: i64, slowly: i64) {
    processor
        .groups
        .update(SubscriptionGroupConfig {
            broker_id,
            which_broker_when_consume_slowly: slowly,
            ..SubscriptionGroupConfig::new(GROUP)
        })
        .expect("group saved");
}

#[tokio::test]
async fn a_master_suggests_a_slave_only_to_lagging_pulls_with_slave_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (processor, _) = broker_with_messages(dir.path(), BrokerRole::AsyncMaster);

    // slaveReadEnable=false (the default): always the master, however far behind.
    let (code, header) = pull(&processor, 0, 1, None).await;
    assert_eq!(code, ResponseCode::SUCCESS);
    assert_eq!(header.suggest_which_broker_id, 0);

    processor.config.write().slave_read_enable = true;
    // The next message (1) is 9 records from the end: more than 3.5 → the group's
    // whichBrokerWhenConsumeSlowly (1 by default).
    let (code, header) = pull(&processor, 0, 1, None).await;
    assert_eq!((code, header.next_begin_offset), (ResponseCode::SUCCESS, 1));
    assert_eq!(header.suggest_which_broker_id, 1);
    // 3 records from the end: in memory → the group's brokerId (0).
    let (_, header) = pull(&processor, 6, 1, None).await;
    assert_eq!(header.suggest_which_broker_id, 0);
    // Caught up: the last message read is 1 record from the end.
    let (_, header) = pull(&processor, 8, 32, None).await;
    assert_eq!(
        (header.next_begin_offset, header.suggest_which_broker_id),
        (10, 0)
    );

    // The group's own choices are what is suggested.
    set_group(&processor, 2, 5);
    assert_eq!(
        pull(&processor, 0, 1, None).await.1.suggest_which_broker_id,
        5
    );
    assert_eq!(
        pull(&processor, 8, 1, None).await.1.suggest_which_broker_id,
        2
    );
    // Nothing read (the queue's end): no lag to judge, the group's brokerId.
    let (code, header) = pull(&processor, 10, 1, None).await;
    assert_eq!(code, ResponseCode::PULL_NOT_FOUND);
    assert_eq!(header.suggest_which_broker_id, 2);
    Ok(())
}

#[tokio::test]
async fn a_slave_serves_reads_and_sends_consumers_back_without_slave_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (processor, _) = broker_with_messages(dir.path(), BrokerRole::Slave);
    set_group(&processor, 0, 1);
    let (code, header) = pull(&processor, 0, 1, None).await;
    assert_eq!(code, ResponseCode::SUCCESS, "a slave serves what it has");
    assert_eq!(header.suggest_which_broker_id, 0, "back to the master");

    processor.config.write().slave_read_enable = true;
    assert_eq!(
        pull(&processor, 0, 1, None).await.1.suggest_which_broker_id,
        1
    );
    assert_eq!(
        pull(&processor, 8, 1, None).await.1.suggest_which_broker_id,
        0
    );
    Ok(())
}

#[tokio::test]
async fn a_slave_keeps_an_offset_it_may_only_not_have_yet() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (processor, _) = broker_with_messages(dir.path(), BrokerRole::Slave);
    set_group(&processor, 0, 1);
    // Past the slave's end: the master may have it, so the offset stays.
    let (code, header) = pull(&processor, 25, 1, None).await;
    assert_eq!(code, ResponseCode::PULL_RETRY_IMMEDIATELY);
    assert_eq!(
        (header.next_begin_offset, header.suggest_which_broker_id),
        (25, 0)
    );

    // Checked as a master does: moved (to the minimum, 0, by Java's rule for a queue that
    // still starts at 0).
    processor.config.write().offset_check_in_slave = true;
    let (code, header) = pull(&processor, 25, 1, None).await;
    assert_eq!(
        (code, header.next_begin_offset),
        (ResponseCode::PULL_OFFSET_MOVED, 0)
    );

    let master_dir = tempfile::tempdir()?;
    let (master, _) = broker_with_messages(master_dir.path(), BrokerRole::AsyncMaster);
    let (code, header) = pull(&master, 25, 1, None).await;
    assert_eq!(
        (code, header.next_begin_offset),
        (ResponseCode::PULL_OFFSET_MOVED, 0)
    );
    Ok(())
}

fn update_offset_request(queue_id: i32, offset: i64) -> RemotingCommand {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: GROUP.to_owned(),
        topic: TOPIC.to_owned(),
        queue_id,
        commit_offset: offset,
        broker_name: None,
    };
    RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, header.to_ext_fields())
}

#[tokio::test]
async fn a_slave_keeps_update_commits_for_its_master_and_ignores_pull_commits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (slave, _) = broker_with_messages(dir.path(), BrokerRole::Slave);
    let (code, _) = pull(&slave, 0, 1, Some(4)).await;
    assert_eq!(code, ResponseCode::SUCCESS);
    assert_eq!(slave.offsets.query(GROUP, TOPIC, 0), None);

    let response = call(&slave, update_offset_request(0, 6)).await;
    assert_eq!(response.code, ResponseCode::SUCCESS);
    assert_eq!(slave.offsets.query(GROUP, TOPIC, 0), Some(6));
    assert_eq!(
        slave.offsets.committed_here(),
        [GroupQueue::new(GROUP, TOPIC, 0)].into()
    );

    let master_dir = tempfile::tempdir()?;
    let (master, _) = broker_with_messages(master_dir.path(), BrokerRole::AsyncMaster);
    pull(&master, 0, 1, Some(4)).await;
    assert_eq!(master.offsets.query(GROUP, TOPIC, 0), Some(4));
    call(&master, update_offset_request(0, 6)).await;
    assert_eq!(master.offsets.query(GROUP, TOPIC, 0), Some(6));
    assert!(
        master.offsets.committed_here().is_empty(),
        "a master has no one to hand offsets to"
    );
    Ok(())
}

fn fields(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_slave_refuses_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (slave, _) = broker_with_messages(dir.path(), BrokerRole::Slave);
    let max_offset_before = slave.store.commit_log_max_offset();

    let send = RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        fields(&[
            ("a", "pg"),
            ("b", TOPIC),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
        ]),
    )
    .with_body(b"hello".to_vec());
    assert_eq!(
        call(&slave, send).await.code,
        ResponseCode::SERVICE_NOT_AVAILABLE
    );

    let back = ConsumerSendMsgBackRequestHeader {
        offset: 0,
        group: GROUP.to_owned(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some(TOPIC.to_owned()),
        unit_mode: None,
        max_reconsume_times: None,
        broker_name: None,
    };
    let back = RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK, back.to_ext_fields());
    assert_eq!(
        call(&slave, back).await.code,
        ResponseCode::SERVICE_NOT_AVAILABLE
    );
    assert_eq!(slave.store.commit_log_max_offset(), max_offset_before);

    let create_group = RemotingCommand::request(
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        ExtFields::new(),
    )
    .with_body(SubscriptionGroupConfig::new("new_group").encode());
    let delete_group = RemotingCommand::request(
        RequestCode::DELETE_SUBSCRIPTIONGROUP,
        fields(&[("groupName", "TOOLS_CONSUMER")]),
    );
    let delete_topic = RemotingCommand::request(
        RequestCode::DELETE_TOPIC_IN_BROKER,
        fields(&[("topic", TOPIC)]),
    );
    for request in [create_group, delete_group, delete_topic] {
        let code = request.code;
        let response = call(&slave, request).await;
        assert_eq!(
            response.code,
            ResponseCode::SYSTEM_ERROR,
            "request code {code}"
        );
        assert!(
            response.remark_text().contains("slave broker"),
            "request code {code}: {}",
            response.remark_text()
        );
    }
    assert!(!slave.groups.contains("new_group"));
    assert!(slave.groups.contains("TOOLS_CONSUMER"));
    assert!(slave.topics.contains(TOPIC));
    Ok(())
}

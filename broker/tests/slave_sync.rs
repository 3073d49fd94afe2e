//! A master and a slave of one broker name, with a name server, in-process on 127.0.0.1
//! (protocol.md §7): the slave copies the master's topics, subscription groups, consumer and
//! delay offsets, and hands back to the restarted master an offset a consumer committed to
//! the slave while the master was down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bolide_broker::config::{BrokerConfig, BrokerRole};
use bolide_broker::server::{Listeners, run};
use bolide_client::protocol::broker_header::QueryConsumerOffsetResponseHeader;
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::subscription_group::{
    SubscriptionGroupConfig, SubscriptionGroupWrapper,
};
use bolide_client::protocol::topic_config::TopicConfigSerializeWrapper;
use bolide_client::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{RemotingClient, ShutdownTrigger, shutdown_channel};
use bolide_namesrv::NamesrvConfig;
use common::{call, client, fields, test_config};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TOPIC: &str = "SyncTopic";
const GROUP: &str = "sync_group";
/// The slave registers this often, so that it soon learns that its master left or returned.
const REGISTER_PERIOD_MS: u64 = 500;
/// The longest any wait for a condition lasts (a bound, not a speed assertion): more than
/// two 10 s sync rounds.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// A server task and the trigger that stops it.
struct Server {
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl Server {
    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .expect("no panic");
    }
}

async fn start_namesrv(dir: &Path) -> (String, Server) {
    let config = NamesrvConfig {
        kv_config_path: dir.join("kvConfig.json"),
        ..NamesrvConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(async move {
        bolide_namesrv::run(config, listener, shutdown)
            .await
            .expect("name server runs");
    });
    (addr, Server { trigger, task })
}

/// A main listener on a free port whose VIP port (− 2) is free too, bound as well: the
/// slave must find this master there and nothing else.
async fn bind_with_vip() -> (TcpListener, TcpListener) {
    for _ in 0..100 {
        let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = main.local_addr().unwrap().port();
        let Some(vip_port) = port.checked_sub(2) else {
            continue;
        };
        if let Ok(vip) = TcpListener::bind(("127.0.0.1", vip_port)).await {
            return (main, vip);
        }
    }
    panic!("no free pair of ports two apart");
}

fn start_broker(mut config: BrokerConfig, main: TcpListener, fast: Option<TcpListener>) -> Server {
    config.listen_port = main.local_addr().unwrap().port();
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(async move {
        run(
            config,
            Listeners {
                main,
                fast,
                ha: None,
            },
            shutdown,
        )
        .await
        .expect("broker runs");
    });
    Server { trigger, task }
}

fn broker_config(dir: &Path, namesrv: &str) -> BrokerConfig {
    BrokerConfig {
        namesrv_addr: Some(namesrv.to_owned()),
        register_name_server_period_ms: REGISTER_PERIOD_MS,
        delay_levels_ms: vec![100; 18],
        ..test_config(dir)
    }
}

fn master_config(dir: &Path, namesrv: &str) -> BrokerConfig {
    broker_config(dir, namesrv)
}

fn slave_config(dir: &Path, namesrv: &str) -> BrokerConfig {
    BrokerConfig {
        broker_id: 1,
        broker_role: BrokerRole::Slave,
        ..broker_config(dir, namesrv)
    }
}

async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ok(client: &RemotingClient, addr: &str, request: RemotingCommand) -> RemotingCommand {
    let code = request.code;
    let response = call(client, addr, request).await;
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "request {code} to {addr}: {}",
        response.remark_text()
    );
    response
}

/// The master's metadata the slave must copy: a topic, a group with a non-default setting,
/// a committed offset and (through a delivered delayed message) a delay offset.
async fn prepare_master(client: &RemotingClient, master: &str) {
    let create_topic = RemotingCommand::request(
        RequestCode::UPDATE_AND_CREATE_TOPIC,
        fields(&[
            ("topic", TOPIC),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "2"),
            ("writeQueueNums", "2"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ]),
    );
    ok(client, master, create_topic).await;
    let group = SubscriptionGroupConfig {
        retry_max_times: 5,
        ..SubscriptionGroupConfig::new(GROUP)
    };
    let create_group = RemotingCommand::request(
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        ExtFields::new(),
    )
    .with_body(group.encode());
    ok(client, master, create_group).await;
    ok(client, master, commit_request(7)).await;
    let delayed = RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        fields(&[
            ("a", "pg"),
            ("b", TOPIC),
            ("c", "TBW102"),
            ("d", "2"),
            ("e", "0"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "DELAY\u{1}1\u{2}"),
        ]),
    )
    .with_body(b"later".to_vec());
    ok(client, master, delayed).await;
    wait_for("the master's delayed delivery", || async {
        delay_level_one(client, master).await
    })
    .await;
}

fn commit_request(offset: i64) -> RemotingCommand {
    let offset = offset.to_string();
    RemotingCommand::request(
        RequestCode::UPDATE_CONSUMER_OFFSET,
        fields(&[
            ("consumerGroup", GROUP),
            ("topic", TOPIC),
            ("queueId", "0"),
            ("commitOffset", &offset),
        ]),
    )
}

async fn committed_offset(client: &RemotingClient, addr: &str) -> Option<i64> {
    let request = RemotingCommand::request(
        RequestCode::QUERY_CONSUMER_OFFSET,
        fields(&[("consumerGroup", GROUP), ("topic", TOPIC), ("queueId", "0")]),
    );
    let response = client.invoke(addr, request, common::TIMEOUT).await.ok()?;
    (response.code == ResponseCode::SUCCESS)
        .then(|| QueryConsumerOffsetResponseHeader::from_ext_fields(&response.ext_fields).ok())
        .flatten()
        .map(|header| header.offset)
}

/// Whether delay level 1 has delivered one message, by `addr`'s GET_ALL_DELAY_OFFSET.
async fn delay_level_one(client: &RemotingClient, addr: &str) -> bool {
    let request = RemotingCommand::request(RequestCode::GET_ALL_DELAY_OFFSET, ExtFields::new());
    let response = ok(client, addr, request).await;
    let table = bolide_broker::consumer_offset::DelayOffsetTable::from_json(&response.body)
        .expect("a delay offset table");
    table.get(&1) == Some(&1)
}

async fn has_topic(client: &RemotingClient, addr: &str) -> bool {
    let request = RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG, ExtFields::new());
    let response = ok(client, addr, request).await;
    let table = TopicConfigSerializeWrapper::decode(&response.body).expect("a topic table");
    table
        .topic_config_table
        .get(TOPIC)
        .is_some_and(|topic| topic.read_queue_nums == 2)
}

async fn has_group(client: &RemotingClient, addr: &str) -> bool {
    let request = RemotingCommand::request(
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        ExtFields::new(),
    );
    let response = ok(client, addr, request).await;
    let table = SubscriptionGroupWrapper::decode(&response.body).expect("a group table");
    table
        .subscription_group_table
        .get(GROUP)
        .is_some_and(|group| group.retry_max_times == 5)
}

/// What the slave saved in `config/`, for the copy to survive its restart.
fn saved(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join("config").join(file)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slave_copies_its_master_and_hands_back_offsets_committed_while_it_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let (master_dir, slave_dir) = (dir.path().join("master"), dir.path().join("slave"));
    let (namesrv_addr, namesrv) = start_namesrv(dir.path()).await;
    let client = client();

    let (main, vip) = bind_with_vip().await;
    let master_port = main.local_addr().unwrap().port();
    let master_addr = format!("127.0.0.1:{master_port}");
    let master = start_broker(master_config(&master_dir, &namesrv_addr), main, Some(vip));
    prepare_master(&client, &master_addr).await;

    let slave_main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slave_addr = slave_main.local_addr().unwrap().to_string();
    let slave = start_broker(slave_config(&slave_dir, &namesrv_addr), slave_main, None);
    wait_for("the slave's copy of the master's tables", || async {
        has_topic(&client, &slave_addr).await
            && has_group(&client, &slave_addr).await
            && committed_offset(&client, &slave_addr).await == Some(7)
            && delay_level_one(&client, &slave_addr).await
    })
    .await;
    assert!(saved(&slave_dir, "topics.json").contains(TOPIC));
    assert!(saved(&slave_dir, "subscriptionGroup.json").contains(GROUP));
    assert!(saved(&slave_dir, "consumerOffset.json").contains(&format!("{TOPIC}@{GROUP}")));
    assert!(saved(&slave_dir, "delayOffset.json").contains("1:1"));

    // The master goes; its consumers fail over and commit to the slave.
    master.stop().await;
    ok(&client, &slave_addr, commit_request(12)).await;
    assert_eq!(committed_offset(&client, &slave_addr).await, Some(12));
    // Not needed for correctness: once the slave's registration has seen the master gone,
    // the master's return starts a sync at once instead of at the next 10 s round.
    tokio::time::sleep(Duration::from_millis(3 * REGISTER_PERIOD_MS)).await;

    // It comes back on the same port and store, without its VIP port: the slave uses the
    // main port. Its own saved offset is the older 7 until the slave hands 12 back.
    let main = TcpListener::bind(("127.0.0.1", master_port)).await.unwrap();
    let master = start_broker(master_config(&master_dir, &namesrv_addr), main, None);
    wait_for("the offset handed back to the master", || async {
        let on_slave = committed_offset(&client, &slave_addr).await;
        assert_eq!(
            on_slave,
            Some(12),
            "the slave gave up an offset its master lacked"
        );
        committed_offset(&client, &master_addr).await == Some(12)
    })
    .await;

    slave.stop().await;
    master.stop().await;
    namesrv.stop().await;
}

//! Reading from slaves (protocol.md §7) with our consumers: a queue whose master leaves the
//! route is read from its slave, from where the consumer stopped; a pull response's
//! suggested broker is where the queue's next pull goes; pulls to a slave carry no offset,
//! and offsets go to the master while there is one, else to the slave.
//!
//! Bolide brokers do not replicate yet and refuse `brokerRole=SLAVE`. So the "slave" here is
//! a broker serving in the master role but registered under the master's broker name with
//! brokerId 1 (`server::run` takes the id as given; only loading a config file forces a
//! master's id to 0), and the tests write each message into the queue of both brokers
//! themselves, leaving the two queues as replication would: same messages, same offsets.
//! Such a "slave" stores the offset of any pull that carries one, which makes a pull that
//! should not carry one visible.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bolide_client::admin::{AdminClient, TopicSpec};
use bolide_client::consumer::{ConsumeFromWhere, ConsumeStatus, PushConsumer, PushConsumerBuilder};
use bolide_client::lite_pull::LitePullConsumer;
use bolide_client::namesrv::NamesrvClient;
use bolide_client::protocol::body::ConsumerListBody;
use bolide_client::protocol::broker_header::{
    ConsumerSendMsgBackRequestHeader, PullMessageRequestHeader, PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    SendMessageRequestHeaderV2, UpdateConsumerOffsetRequestHeader, pull_sys_flag,
};
use bolide_client::protocol::header::{CommandHeader, RegisterBrokerRequestHeader};
use bolide_client::protocol::heartbeat::HeartbeatData;
use bolide_client::protocol::route::DataVersion;
use bolide_client::protocol::topic_config::{RegisterBrokerBody, TopicConfig};
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{
    ConnectionHandle, RemotingClient, RequestProcessor, ServerConfig, ShutdownTrigger, serve,
    shutdown_channel,
};
use tokio::net::TcpListener;

use common::{Server, TIMEOUT, WAIT_LIMIT, namesrv_client, start_broker, start_namesrv, wait_for};

const TOPIC: &str = "SlaveReads";
/// Short enough that route refreshes and rebalances follow a broker's departure quickly.
const TICK: Duration = Duration::from_millis(300);

/// Bodies in the order the listener got them.
type Received = Arc<Mutex<Vec<String>>>;

/// A name server and two brokers of `broker-a`: the master (id 0) and a "slave" (id 1),
/// each with `TOPIC` of one queue.
struct Pair {
    namesrv: Server,
    /// `None` once stopped.
    master: Option<Server>,
    slave: Server,
    client: RemotingClient,
    _dir: tempfile::TempDir,
}

impl Pair {
    async fn start() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let namesrv = start_namesrv(dir.path()).await;
        let master = start_broker(dir.path(), "broker-a", &namesrv.addr, |_| {}).await;
        create_topic(&namesrv.addr, &master.addr).await;
        let slave_dir = dir.path().join("slave");
        let slave = start_broker(&slave_dir, "broker-a", &namesrv.addr, |config| {
            config.broker_id = 1;
        })
        .await;
        create_topic(&namesrv.addr, &slave.addr).await;
        wait_for_route(&namesrv.addr, &[(0, &master.addr), (1, &slave.addr)]).await;
        Pair {
            namesrv,
            master: Some(master),
            slave,
            client: RemotingClient::new(Default::default()),
            _dir: dir,
        }
    }

    /// Stores `prefix-0..count` in both brokers, as replication would.
    async fn store_in_both(&self, prefix: &str, count: usize) -> Vec<String> {
        let master = self.master.as_ref().expect("the master runs");
        let bodies = bodies(prefix, count);
        for body in &bodies {
            store(&self.client, &master.addr, body).await;
            store(&self.client, &self.slave.addr, body).await;
        }
        bodies
    }

    /// Stores `prefix-0..count` in the slave only (the master is gone).
    async fn store_in_slave(&self, prefix: &str, count: usize) -> Vec<String> {
        let bodies = bodies(prefix, count);
        for body in &bodies {
            store(&self.client, &self.slave.addr, body).await;
        }
        bodies
    }

    /// Stops the master cleanly: it unregisters, so the route drops it at once.
    async fn stop_master(mut self) -> Pair {
        if let Some(master) = self.master.take() {
            master.stop().await;
        }
        wait_for_route(&self.namesrv.addr, &[(1, &self.slave.addr)]).await;
        self
    }

    async fn stop(self) {
        if let Some(master) = self.master {
            master.stop().await;
        }
        self.slave.stop().await;
        self.namesrv.stop().await;
    }
}

async fn create_topic(namesrv: &str, broker: &str) {
    let admin = AdminClient::new(vec![namesrv.to_owned()], TIMEOUT).unwrap();
    let mut spec = TopicSpec::new(TOPIC);
    (spec.read_queue_nums, spec.write_queue_nums) = (1, 1);
    admin.create_topic(broker, &spec).await.unwrap();
}

/// Waits until `TOPIC`'s route lists exactly `addrs` (broker id, address).
async fn wait_for_route(namesrv: &str, addrs: &[(u64, &str)]) {
    let client = namesrv_client();
    let expected: BTreeMap<u64, String> = addrs
        .iter()
        .map(|(id, addr)| (*id, (*addr).to_owned()))
        .collect();
    wait_for("the route's broker addresses", || async {
        let route = client.route(namesrv, TOPIC).await.ok().flatten();
        route.is_some_and(|r| r.broker_datas.iter().any(|b| b.broker_addrs == expected))
    })
    .await;
}

fn bodies(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// SEND_MESSAGE_V2 of `body` to queue 0 of `TOPIC` on the broker at `addr`.
async fn store(client: &RemotingClient, addr: &str, body: &str) {
    let header = SendMessageRequestHeaderV2 {
        producer_group: "pg_slave_reads".to_owned(),
        topic: TOPIC.to_owned(),
        default_topic: "TBW102".to_owned(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        properties: Some(String::new()),
        ..SendMessageRequestHeaderV2::default()
    };
    let request = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, header.to_ext_fields())
        .with_body(body.as_bytes().to_vec());
    let response = client.invoke(addr, request, TIMEOUT).await.unwrap();
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "store {body} at {addr}"
    );
}

/// `group`'s committed offset of `TOPIC` queue 0 at `addr`; `None` when it has none (a
/// broker answers 0 rather than "not found" while message 0 is still in memory).
async fn committed(client: &RemotingClient, addr: &str, group: &str) -> Option<i64> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_owned(),
        topic: TOPIC.to_owned(),
        queue_id: 0,
        broker_name: None,
    };
    let request =
        RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, header.to_ext_fields());
    let response = client.invoke(addr, request, TIMEOUT).await.unwrap();
    match response.code {
        ResponseCode::QUERY_NOT_FOUND => None,
        ResponseCode::SUCCESS => {
            let header = QueryConsumerOffsetResponseHeader::from_ext_fields(&response.ext_fields);
            Some(header.unwrap().offset).filter(|offset| *offset > 0)
        }
        code => panic!("QUERY_CONSUMER_OFFSET at {addr}: code {code}"),
    }
}

/// A push consumer of `TOPIC` from the first offset, rebalancing every `TICK`, set up
/// further by `adjust`, that wants the messages whose bodies `later` picks consumed later
/// (sent back).
async fn push_consumer(
    namesrv: &str,
    group: &str,
    later: fn(&str) -> bool,
    adjust: impl FnOnce(PushConsumerBuilder) -> PushConsumerBuilder,
) -> (PushConsumer, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let builder = PushConsumer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .subscribe(TOPIC, "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .rebalance_interval(TICK);
    let consumer = adjust(builder)
        .listener(move |messages| {
            let mut sink = sink.lock().unwrap();
            let mut status = ConsumeStatus::Success;
            for message in messages {
                let body = String::from_utf8_lossy(&message.body).into_owned();
                if later(&body) {
                    status = ConsumeStatus::Later;
                }
                sink.push(body);
            }
            status
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, received)
}

async fn wait_for_bodies(what: &str, received: &Received, expected: &[String]) {
    wait_for(what, || async {
        let received = received.lock().unwrap();
        expected.iter().all(|body| received.contains(body))
    })
    .await;
}

/// Every body of `expected` delivered exactly once, and nothing else.
fn assert_once(received: &Received, expected: &[String]) {
    let mut received = received.lock().unwrap().clone();
    received.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(received, expected);
}

/// Has a push consumer (set up by `adjust`) consume "before" from the master, stops the
/// master and stores "after" in the slave only; returns once the consumer got each message
/// of both exactly once.
async fn consume_across_failover(
    group: &str,
    adjust: impl FnOnce(PushConsumerBuilder) -> PushConsumerBuilder,
) -> (PushConsumer, Received, Pair) {
    let pair = Pair::start().await;
    let mut expected = pair.store_in_both("before", 10).await;
    let (consumer, received) = push_consumer(&pair.namesrv.addr, group, |_| false, adjust).await;
    wait_for_bodies("messages from the master", &received, &expected).await;

    let pair = pair.stop_master().await;
    let after = pair.store_in_slave("after", 10).await;
    wait_for_bodies("messages from the slave", &received, &after).await;
    expected.extend(after);
    assert_once(&received, &expected);
    (consumer, received, pair)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_consumer_reads_on_from_the_slave_as_soon_as_its_master_is_unreachable() {
    // The consumer's route never loses the dead master (it is looked up once, at start):
    // only moving on from the failed connection to the next broker of the route reaches the
    // slave. Retrying the master would wait forever.
    let never = Duration::from_secs(3600);
    let adjust = |builder: PushConsumerBuilder| builder.heartbeat_interval(never);
    let (consumer, _, pair) = consume_across_failover("cg_slave_unreachable", adjust).await;
    consumer.shutdown().await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_consumer_keeps_the_queue_and_its_offsets_on_the_slave_once_the_route_drops_the_master()
 {
    // The route loses the master: the queue stays owned (its slave serves it), is read from
    // where it stopped, and the periodic commits go to the slave.
    let group = "cg_slave_route";
    let adjust =
        |builder: PushConsumerBuilder| builder.heartbeat_interval(TICK).persist_interval(TICK);
    let (consumer, received, pair) = consume_across_failover(group, adjust).await;
    wait_for("the offset committed at the slave", || async {
        committed(&pair.client, &pair.slave.addr, group).await == Some(20)
    })
    .await;
    // The route without the master is cached now, and rebalances (every TICK) see it: give
    // them time to (wrongly) drop the queue before checking it is still owned and read.
    tokio::time::sleep(TICK * 5).await;
    assert!(consumer.owned_queues().iter().any(|q| q.topic == TOPIC));
    let last = pair.store_in_slave("last", 10).await;
    wait_for_bodies("messages after the rebalances", &received, &last).await;
    consumer.shutdown().await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lite_pull_consumer_carries_on_from_the_slave_when_the_master_leaves() {
    let pair = Pair::start().await;
    let group = "cg_slave_lite";
    let mut expected = pair.store_in_both("before", 10).await;
    let consumer = LitePullConsumer::builder()
        .namesrv_addr(&pair.namesrv.addr)
        .group(group)
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .auto_commit(false)
        .rebalance_interval(TICK)
        .heartbeat_interval(TICK)
        .poll_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    consumer.subscribe(TOPIC, "*").await.unwrap();
    consumer.start().await.unwrap();
    let mut received = Vec::new();
    poll_until(&consumer, &mut received, &expected).await;

    let pair = pair.stop_master().await;
    expected.extend(pair.store_in_slave("after", 10).await);
    poll_until(&consumer, &mut received, &expected).await;

    // Offsets go to the slave once the consumer's route has lost the master (until then they
    // go to the master, and fail).
    wait_for("the offset committed at the slave", || async {
        consumer.commit_sync().await.is_ok()
            && committed(&pair.client, &pair.slave.addr, group).await == Some(20)
    })
    .await;
    // Rebalances (every TICK) see that route now: give them time to (wrongly) drop the
    // queue before checking it is still assigned and read.
    tokio::time::sleep(TICK * 5).await;
    assert!(consumer.assignment().iter().any(|q| q.topic == TOPIC));
    expected.extend(pair.store_in_slave("last", 10).await);
    poll_until(&consumer, &mut received, &expected).await;
    received.sort();
    expected.sort();
    assert_eq!(received, expected, "every message once");
    consumer.shutdown().await;
    pair.stop().await;
}

/// Polls until `received` holds every body of `expected`.
async fn poll_until(consumer: &LitePullConsumer, received: &mut Vec<String>, expected: &[String]) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !expected.iter().all(|body| received.contains(body)) {
        assert!(Instant::now() < deadline, "gave up polling: {received:?}");
        for message in consumer.poll().await.unwrap() {
            received.push(String::from_utf8_lossy(&message.body).into_owned());
        }
    }
}

/// What the fake master saw.
#[derive(Default)]
struct Seen {
    /// sysFlag and commitOffset of each pull.
    pulls: Vec<(i32, i64)>,
    /// Each UPDATE_CONSUMER_OFFSET's offset.
    commits: Vec<i64>,
    /// The original topic of each CONSUMER_SEND_MSG_BACK.
    send_backs: Vec<String>,
    /// Heartbeat senders: the group's members.
    clients: BTreeSet<String>,
}

/// A master that holds no messages and answers every pull with "nothing new, pull from
/// broker 1", as a Java master does for a consumer that lags (protocol.md §7), and otherwise
/// just enough of a broker for a push consumer.
#[derive(Default)]
struct FakeMaster {
    seen: Mutex<Seen>,
}

impl RequestProcessor for FakeMaster {
    async fn process(
        &self,
        _connection: &ConnectionHandle,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let fields = &request.ext_fields;
        let mut seen = self.seen.lock().unwrap();
        let answer = |code| RemotingCommand::response_to(&request, code, None);
        Some(match request.code {
            RequestCode::PULL_MESSAGE => {
                let pull = PullMessageRequestHeader::from_ext_fields(fields).unwrap();
                seen.pulls.push((pull.sys_flag, pull.commit_offset));
                let header = PullMessageResponseHeader {
                    suggest_which_broker_id: 1,
                    next_begin_offset: pull.queue_offset,
                    min_offset: 0,
                    max_offset: 0,
                };
                answer(ResponseCode::PULL_NOT_FOUND).with_ext_fields(header.to_ext_fields())
            }
            RequestCode::HEART_BEAT => {
                let heartbeat = HeartbeatData::decode(&request.body).unwrap();
                seen.clients.insert(heartbeat.client_id);
                answer(ResponseCode::SUCCESS)
            }
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => {
                let body = ConsumerListBody {
                    consumer_id_list: seen.clients.iter().cloned().collect(),
                };
                answer(ResponseCode::SUCCESS).with_body(body.encode())
            }
            RequestCode::QUERY_CONSUMER_OFFSET => answer(ResponseCode::QUERY_NOT_FOUND),
            RequestCode::CONSUMER_SEND_MSG_BACK => {
                let back = ConsumerSendMsgBackRequestHeader::from_ext_fields(fields).unwrap();
                seen.send_backs.push(back.origin_topic.unwrap_or_default());
                answer(ResponseCode::SUCCESS)
            }
            RequestCode::UPDATE_CONSUMER_OFFSET => {
                let update = UpdateConsumerOffsetRequestHeader::from_ext_fields(fields).unwrap();
                seen.commits.push(update.commit_offset);
                answer(ResponseCode::SUCCESS)
            }
            _ => answer(ResponseCode::SUCCESS),
        })
    }
}

/// Registers `addr` as the master (id 0) of `broker_name` with `TOPIC` and TBW102. The
/// returned client holds the registration's connection, whose closing would remove it.
async fn register_fake_master(namesrv: &str, broker_name: &str, addr: &str) -> NamesrvClient {
    let client = namesrv_client();
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = DataVersion::new(1);
    for topic in [TOPIC, "TBW102"] {
        let config = TopicConfig {
            topic_name: topic.to_owned(),
            read_queue_nums: 1,
            write_queue_nums: 1,
            ..TopicConfig::default()
        };
        let table = &mut body.topic_config_serialize_wrapper.topic_config_table;
        table.insert(topic.to_owned(), config);
    }
    let header = RegisterBrokerRequestHeader {
        broker_name: broker_name.to_owned(),
        broker_addr: addr.to_owned(),
        cluster_name: "DefaultCluster".to_owned(),
        ha_server_addr: addr.to_owned(),
        broker_id: 0,
        compressed: Some(false),
        body_crc32: None,
    };
    client
        .register_broker(namesrv, header, &body)
        .await
        .unwrap();
    client
}

async fn start_fake_master() -> (String, Arc<FakeMaster>, ShutdownTrigger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = Arc::new(FakeMaster::default());
    let (trigger, shutdown) = shutdown_channel();
    tokio::spawn(serve(
        listener,
        fake.clone(),
        ServerConfig::default(),
        shutdown,
    ));
    (addr, fake, trigger)
}

/// A name server, a fake master of `broker-f` and a real broker registered as its slave
/// (id 1) with `TOPIC`; messages are stored in the slave only.
struct FakePair {
    namesrv: Server,
    master: Arc<FakeMaster>,
    stop_master: ShutdownTrigger,
    /// Holds the fake master's registration: closing its connection would remove it.
    _registration: NamesrvClient,
    slave: Server,
    client: RemotingClient,
    _dir: tempfile::TempDir,
}

impl FakePair {
    async fn start() -> FakePair {
        let dir = tempfile::tempdir().unwrap();
        let namesrv = start_namesrv(dir.path()).await;
        let (master_addr, master, stop_master) = start_fake_master().await;
        let registration = register_fake_master(&namesrv.addr, "broker-f", &master_addr).await;
        let slave = start_broker(dir.path(), "broker-f", &namesrv.addr, |config| {
            config.broker_id = 1;
        })
        .await;
        create_topic(&namesrv.addr, &slave.addr).await;
        wait_for_route(&namesrv.addr, &[(0, &master_addr), (1, &slave.addr)]).await;
        FakePair {
            namesrv,
            master,
            stop_master,
            _registration: registration,
            slave,
            client: RemotingClient::new(Default::default()),
            _dir: dir,
        }
    }

    async fn store_in_slave(&self, prefix: &str, count: usize) -> Vec<String> {
        let bodies = bodies(prefix, count);
        for body in &bodies {
            store(&self.client, &self.slave.addr, body).await;
        }
        bodies
    }

    async fn stop(self) {
        self.slave.stop().await;
        self.stop_master.trigger();
        self.namesrv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_goes_to_the_broker_the_last_response_suggested() {
    let pair = FakePair::start().await;
    let (client, slave_addr) = (&pair.client, &pair.slave.addr);
    let group = "cg_slave_suggested";
    let first = pair.store_in_slave("first", 10).await;

    // Only the slave has messages, and only the master's suggestion leads there. The first
    // message is sent back: a write, so to the master although it came from the slave. No
    // periodic commits: the only offsets the brokers see before shutdown come with pulls.
    let later = |body: &str| body == "first-0";
    let never = Duration::from_secs(3600);
    let adjust =
        |builder: PushConsumerBuilder| builder.heartbeat_interval(TICK).persist_interval(never);
    let (consumer, received) = push_consumer(&pair.namesrv.addr, group, later, adjust).await;
    wait_for_bodies("messages from the suggested slave", &received, &first).await;
    let second = pair.store_in_slave("second", 10).await;
    wait_for_bodies("more messages from the slave", &received, &second).await;
    assert_once(&received, &[first, second].concat());

    // The slave's suggestion (0) sent the next pull back to the master, which, unlike the
    // slave, is sent the group's offset.
    let pull_with_offset = (pull_sys_flag::COMMIT_OFFSET | pull_sys_flag::SUSPEND, 10);
    wait_for("a pull carrying the offset at the master", || async {
        let seen = pair.master.seen.lock().unwrap();
        seen.pulls.contains(&pull_with_offset)
    })
    .await;
    assert_eq!(committed(client, slave_addr, group).await, None);

    // While the master is in the route, offsets go to it, not to the slave.
    consumer.shutdown().await;
    {
        let seen = pair.master.seen.lock().unwrap();
        assert_eq!(seen.send_backs, [TOPIC]);
        assert_eq!(seen.commits, [20]);
    }
    assert_eq!(committed(client, slave_addr, group).await, None);
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lite_pull_goes_to_the_broker_the_last_response_suggested() {
    let pair = FakePair::start().await;
    let expected = pair.store_in_slave("lite", 10).await;
    let consumer = LitePullConsumer::builder()
        .namesrv_addr(&pair.namesrv.addr)
        .group("cg_slave_lite_suggested")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .auto_commit(false)
        .poll_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    consumer.subscribe(TOPIC, "*").await.unwrap();
    consumer.start().await.unwrap();
    let mut received = Vec::new();
    poll_until(&consumer, &mut received, &expected).await;
    received.sort();
    assert_eq!(received, expected, "every message once");
    assert!(!pair.master.seen.lock().unwrap().pulls.is_empty());
    consumer.shutdown().await;
    pair.stop().await;
}

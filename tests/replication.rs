//! Master/slave replication end to end, in-process: a name server, a master and its slave
//! (same brokerName, brokerId 1), driven by our producer.
//!
//! * ASYNC_MASTER: 100,000 messages reach the slave, whose CommitLog bytes then equal the
//!   master's.
//! * SYNC_MASTER: every acknowledged send is already on the slave; with the slave stopped,
//!   sends answer SLAVE_NOT_AVAILABLE or FLUSH_SLAVE_TIMEOUT, never SEND_OK.
//! * A slave stopped for a while catches up after it restarts.
//! * A slave whose log reaches past its master's stops, naming both offsets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bolide_broker::config::{BrokerConfig, BrokerRole};
use bolide_broker::server::Listeners;
use bolide_client::admin::AdminClient;
use bolide_client::producer::{Message, Producer, SendStatus};
use bolide_client::remoting::{ShutdownTrigger, shutdown_channel};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use common::{ChildProcess, Shared, free_port, start_namesrv, wait_for};

const FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A broker of either role, with the ports it was given so it can be restarted on them.
struct Node {
    addr: String,
    port: u16,
    ha_port: u16,
    root: PathBuf,
    trigger: ShutdownTrigger,
    task: JoinHandle<Result<(), String>>,
}

impl Node {
    async fn stop(self) -> Result<(), String> {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("stops in time")
            .expect("no panic")
    }
}

struct Spec<'a> {
    name: &'a str,
    role: BrokerRole,
    namesrv: &'a str,
    /// The master's HA address, for a slave.
    master_ha: Option<String>,
    /// Ports to reuse (a restart), or 0.
    port: u16,
    ha_port: u16,
}

async fn start_node(dir: &Path, spec: Spec<'_>) -> Node {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (main, fast) = bind_with_vip(spec.port).await;
    let ha = TcpListener::bind(("127.0.0.1", spec.ha_port))
        .await
        .unwrap();
    let port = main.local_addr().unwrap().port();
    let config = BrokerConfig {
        broker_cluster_name: "DefaultCluster".to_owned(),
        broker_name: spec.name.to_owned(),
        broker_id: if spec.role == BrokerRole::Slave { 1 } else { 0 },
        broker_role: spec.role,
        namesrv_addr: Some(spec.namesrv.to_owned()),
        broker_ip1: loopback,
        broker_ip2: loopback,
        listen_port: port,
        store_path_root_dir: dir.join(format!("{}-{}", spec.name, spec.role.as_str())),
        mapped_file_size_commit_log_bytes: FILE_BYTES,
        max_hash_slot_num: 50_000,
        max_index_num: 200_000,
        ha_master_address: spec.master_ha,
        // Tests stop slaves on purpose: answer sends in a second, not three.
        slave_timeout_ms: 1_000,
        // A busy build machine's disk must not make retention delete what is compared.
        disk_max_used_space_ratio: 95,
        disk_space_clean_forcibly_ratio: 95,
        disk_space_warning_level_ratio: 95,
        ..BrokerConfig::default()
    };
    launch(config, (main, fast), ha)
}

/// A main listener on `port` (any free one when 0) and, where free, its VIP port (− 2):
/// a slave fetches its master's tables there, and in a test full of brokers on random ports
/// that port must not be some other broker's.
async fn bind_with_vip(port: u16) -> (TcpListener, Option<TcpListener>) {
    if port != 0 {
        let main = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let fast = TcpListener::bind(("127.0.0.1", port - 2)).await.ok();
        return (main, fast);
    }
    for _ in 0..100 {
        let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let Some(vip) = main.local_addr().unwrap().port().checked_sub(2) else {
            continue;
        };
        if let Ok(fast) = TcpListener::bind(("127.0.0.1", vip)).await {
            return (main, Some(fast));
        }
    }
    panic!("no free pair of ports two apart");
}

/// Runs a broker with `config` on `main` (and its VIP port), and, for a master, `ha`.
fn launch(
    config: BrokerConfig,
    (main, fast): (TcpListener, Option<TcpListener>),
    ha: TcpListener,
) -> Node {
    let port = main.local_addr().unwrap().port();
    let ha_port = ha.local_addr().unwrap().port();
    let root = config.store_path_root_dir.clone();
    let is_master = config.broker_role.is_master();
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(async move {
        let listeners = Listeners {
            main,
            fast,
            ha: is_master.then_some(ha),
        };
        bolide_broker::server::run(config, listeners, shutdown)
            .await
            .map_err(|error| error.to_string())
    });
    Node {
        addr: format!("127.0.0.1:{port}"),
        port,
        ha_port,
        root,
        trigger,
        task,
    }
}

fn master_spec(name: &str, namesrv: &str, role: BrokerRole) -> Spec<'static> {
    Spec {
        name: leak(name),
        role,
        namesrv: leak(namesrv),
        master_ha: None,
        port: 0,
        ha_port: 0,
    }
}

fn slave_spec(name: &str, namesrv: &str, master_ha_port: u16) -> Spec<'static> {
    Spec {
        name: leak(name),
        role: BrokerRole::Slave,
        namesrv: leak(namesrv),
        master_ha: Some(format!("127.0.0.1:{master_ha_port}")),
        port: 0,
        ha_port: 0,
    }
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

async fn start_producer(namesrv: &str, group: &str) -> Producer {
    let producer = Producer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

fn admin(namesrv: &str) -> AdminClient {
    AdminClient::new(vec![namesrv.to_owned()], Duration::from_secs(3)).unwrap()
}

async fn max_offset(admin: &AdminClient, addr: &str) -> u64 {
    admin.runtime_info(addr).await.unwrap().table["commitLogMaxOffset"]
        .parse()
        .unwrap()
}

/// Waits until the slave's log reaches exactly as far as the master's.
async fn wait_caught_up(admin: &AdminClient, master: &Node, slave: &Node) -> u64 {
    wait_for("the slave to catch up", || async {
        let end = max_offset(admin, &master.addr).await;
        end > 0 && max_offset(admin, &slave.addr).await == end
    })
    .await;
    max_offset(admin, &master.addr).await
}

/// The first `end` bytes of a store's commit log, read from its files.
fn commit_log_bytes(root: &Path, end: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < end {
        let path = root.join("commitlog").join(format!("{start:020}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            let listing: Vec<_> = walk(root);
            panic!("{}: {e}; end {end}; files {listing:?}", path.display())
        });
        let take = (end - start).min(FILE_BYTES) as usize;
        out.extend_from_slice(&bytes[..take]);
        start += FILE_BYTES;
    }
    out
}

/// Sends `count` messages from `tasks` concurrent senders; all must be SEND_OK.
async fn send_all(producer: &Arc<Producer>, topic: &str, count: usize, tasks: usize) {
    send_range(producer, topic, 0..count, tasks).await;
}

/// Sends messages numbered `range` from `tasks` concurrent senders; all must be SEND_OK.
async fn send_range(
    producer: &Arc<Producer>,
    topic: &str,
    range: std::ops::Range<usize>,
    tasks: usize,
) {
    let mut joins = Vec::new();
    for task in 0..tasks {
        let producer = producer.clone();
        let topic = topic.to_owned();
        let range = range.clone();
        joins.push(tokio::spawn(async move {
            for sequence in (range.start + task..range.end).step_by(tasks) {
                let body = format!("message {sequence:07} {}", "x".repeat(700 + sequence % 400));
                let result = producer
                    .send(Message::new(&topic, body.into_bytes()))
                    .await
                    .unwrap();
                assert_eq!(result.send_status, SendStatus::SendOk);
            }
        }));
    }
    for join in joins {
        join.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_master_replicates_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let master = start_node(
        dir.path(),
        master_spec("broker-a", &namesrv.addr, BrokerRole::AsyncMaster),
    )
    .await;
    let slave = start_node(
        dir.path(),
        slave_spec("broker-a", &namesrv.addr, master.ha_port),
    )
    .await;
    let admin = admin(&namesrv.addr);
    wait_for("the master's route", || async {
        admin.route("TBW102").await.is_ok()
    })
    .await;
    let producer = Arc::new(start_producer(&namesrv.addr, "replication_async").await);
    send_all(&producer, "Replicated", 100_000, 32).await;
    producer.shutdown().await;

    let end = wait_caught_up(&admin, &master, &slave).await;
    assert!(end > FILE_BYTES, "more than one file: {end}");
    let (master_root, slave_root) = (master.root.clone(), slave.root.clone());
    assert!(
        commit_log_bytes(&master_root, end) == commit_log_bytes(&slave_root, end),
        "the slave's commit log differs from the master's"
    );
    slave.stop().await.unwrap();
    master.stop().await.unwrap();
    namesrv.stop().await;
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// The slave's maximum logical offset of a queue, asked of the slave itself.
async fn slave_queue_max(addr: &str, topic: &str, queue_id: i32) -> i64 {
    use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
    let client = bolide_client::remoting::RemotingClient::new(Default::default());
    let fields = [
        ("topic".to_owned(), topic.to_owned()),
        ("queueId".to_owned(), queue_id.to_string()),
    ]
    .into_iter()
    .collect();
    let response = client
        .invoke(
            addr,
            RemotingCommand::request(RequestCode::GET_MAX_OFFSET, fields),
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );
    response.ext_fields["offset"].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_acknowledges_only_what_the_slave_has() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let master = start_node(
        dir.path(),
        master_spec("broker-s", &namesrv.addr, BrokerRole::SyncMaster),
    )
    .await;
    let slave = start_node(
        dir.path(),
        slave_spec("broker-s", &namesrv.addr, master.ha_port),
    )
    .await;
    let admin = admin(&namesrv.addr);
    wait_for("the master's route", || async {
        admin.route("TBW102").await.is_ok()
    })
    .await;
    let producer = start_producer(&namesrv.addr, "replication_sync").await;
    // Until the slave's first report arrives, sends may answer SLAVE_NOT_AVAILABLE.
    wait_for("a replicated send", || async {
        producer
            .send(Message::new("SyncReplicated", b"warm-up".to_vec()))
            .await
            .is_ok_and(|r| r.send_status == SendStatus::SendOk)
    })
    .await;
    for sequence in 0..300 {
        let result = producer
            .send(Message::new(
                "SyncReplicated",
                format!("m{sequence}").into_bytes(),
            ))
            .await
            .unwrap();
        assert_eq!(result.send_status, SendStatus::SendOk);
        // Acknowledged means the slave has it already: no waiting here.
        let queue = &result.message_queue;
        let on_slave = slave_queue_max(&slave.addr, &queue.topic, queue.queue_id).await;
        assert!(
            on_slave > result.queue_offset,
            "acknowledged offset {} of queue {} but the slave's max is {on_slave}",
            result.queue_offset,
            queue.queue_id
        );
    }

    slave.stop().await.unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    for sequence in 0..20 {
        let result = producer
            .send(Message::new(
                "SyncReplicated",
                format!("n{sequence}").into_bytes(),
            ))
            .await
            .unwrap();
        *statuses.entry(result.send_status.to_string()).or_insert(0) += 1;
    }
    assert!(
        !statuses.contains_key("SEND_OK"),
        "sends acknowledged with the slave stopped: {statuses:?}"
    );
    assert!(
        statuses
            .keys()
            .all(|s| s == "SLAVE_NOT_AVAILABLE" || s == "FLUSH_SLAVE_TIMEOUT"),
        "{statuses:?}"
    );
    producer.shutdown().await;
    master.stop().await.unwrap();
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_slave_catches_up_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let master = start_node(
        dir.path(),
        master_spec("broker-c", &namesrv.addr, BrokerRole::AsyncMaster),
    )
    .await;
    let slave = start_node(
        dir.path(),
        slave_spec("broker-c", &namesrv.addr, master.ha_port),
    )
    .await;
    let admin = admin(&namesrv.addr);
    wait_for("the master's route", || async {
        admin.route("TBW102").await.is_ok()
    })
    .await;
    let producer = Arc::new(start_producer(&namesrv.addr, "replication_catch_up").await);
    send_all(&producer, "CatchUp", 2_000, 8).await;
    let first = wait_caught_up(&admin, &master, &slave).await;

    let slave_port = slave.port;
    slave.stop().await.unwrap();
    send_all(&producer, "CatchUp", 3_000, 8).await;
    let mut spec = slave_spec("broker-c", &namesrv.addr, master.ha_port);
    spec.port = slave_port;
    let slave = start_node(dir.path(), spec).await;
    let end = wait_caught_up(&admin, &master, &slave).await;
    assert!(end > first);
    assert!(commit_log_bytes(&master.root, end) == commit_log_bytes(&slave.root, end));
    producer.shutdown().await;
    slave.stop().await.unwrap();
    master.stop().await.unwrap();
    namesrv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_ahead_of_its_master_stops_and_names_both_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let master = start_node(
        dir.path(),
        master_spec("broker-d", &namesrv.addr, BrokerRole::AsyncMaster),
    )
    .await;
    let slave = start_node(
        dir.path(),
        slave_spec("broker-d", &namesrv.addr, master.ha_port),
    )
    .await;
    let admin = admin(&namesrv.addr);
    wait_for("the master's route", || async {
        admin.route("TBW102").await.is_ok()
    })
    .await;
    let producer = Arc::new(start_producer(&namesrv.addr, "replication_diverge").await);
    send_all(&producer, "Diverge", 500, 4).await;
    let slave_end = wait_caught_up(&admin, &master, &slave).await;
    producer.shutdown().await;
    slave.stop().await.unwrap();

    // The master comes back having lost everything (as after a disk loss with
    // ASYNC_MASTER), on the same ports, and takes a few new messages.
    let (port, ha_port, root) = (master.port, master.ha_port, master.root.clone());
    master.stop().await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let mut spec = master_spec("broker-d", &namesrv.addr, BrokerRole::AsyncMaster);
    spec.port = port;
    spec.ha_port = ha_port;
    let master = start_node(dir.path(), spec).await;
    wait_for("the restarted master's route", || async {
        admin.route("TBW102").await.is_ok_and(|route| {
            route
                .broker_datas
                .iter()
                .any(|b| b.master_addr() == Some(master.addr.as_str()))
        })
    })
    .await;
    let producer = Arc::new(start_producer(&namesrv.addr, "replication_diverge_2").await);
    send_all(&producer, "Diverge", 10, 1).await;
    let master_end = max_offset(&admin, &master.addr).await;
    assert!(master_end < slave_end);

    let slave = start_node(
        dir.path(),
        slave_spec("broker-d", &namesrv.addr, master.ha_port),
    )
    .await;
    let outcome = tokio::time::timeout(Duration::from_secs(30), slave.task)
        .await
        .expect("the slave stops by itself")
        .unwrap();
    let error = outcome.expect_err("the slave refuses to go on");
    assert!(
        error.contains(&slave_end.to_string()) && error.contains(&master_end.to_string()),
        "{error}"
    );
    producer.shutdown().await;
    master.stop().await.unwrap();
    namesrv.stop().await;
}

const CHILD_ENV: &str = "BOLIDE_REPLICATION_CHILD";

/// The child's side: an ASYNC_MASTER `broker-k` per the environment, until it is killed.
#[test]
#[ignore = "entry point of the master process that the kill -9 test starts and kills"]
fn child_master() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (port, ha_port, namesrv, root) = (
        parts[0].parse::<u16>().unwrap(),
        parts[1].parse::<u16>().unwrap(),
        parts[2].to_owned(),
        PathBuf::from(parts[3]),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let main = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let ha = TcpListener::bind(("127.0.0.1", ha_port)).await.unwrap();
        let config = BrokerConfig {
            broker_cluster_name: "DefaultCluster".to_owned(),
            broker_name: "broker-k".to_owned(),
            broker_role: BrokerRole::AsyncMaster,
            namesrv_addr: Some(namesrv),
            broker_ip1: loopback,
            broker_ip2: loopback,
            listen_port: port,
            store_path_root_dir: root,
            mapped_file_size_commit_log_bytes: FILE_BYTES,
            max_hash_slot_num: 50_000,
            max_index_num: 200_000,
            disk_max_used_space_ratio: 95,
            disk_space_clean_forcibly_ratio: 95,
            disk_space_warning_level_ratio: 95,
            ..BrokerConfig::default()
        };
        let (_trigger, shutdown) = shutdown_channel();
        let listeners = Listeners {
            main,
            fast: None,
            ha: Some(ha),
        };
        bolide_broker::server::run(config, listeners, shutdown)
            .await
            .unwrap();
    });
}

/// The master process of `child_master`.
fn start_child_master(port: u16, ha_port: u16, namesrv: &str, root: &Path) -> ChildProcess {
    let spec = format!("{port}|{ha_port}|{namesrv}|{}", root.display());
    ChildProcess::start("child_master", CHILD_ENV, &spec)
}

async fn route_has_master(admin: &AdminClient, addr: &str) -> bool {
    admin.route("TBW102").await.is_ok_and(|route| {
        route
            .broker_datas
            .iter()
            .any(|b| b.master_addr() == Some(addr))
    })
}

/// Every delivery of every body, in arrival order.
type Deliveries = Arc<std::sync::Mutex<Vec<String>>>;

fn distinct(deliveries: &Deliveries) -> usize {
    let all = deliveries.lock().unwrap();
    all.iter().collect::<std::collections::BTreeSet<_>>().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_carry_on_from_the_slave_when_the_master_is_killed() {
    use bolide_client::consumer::{ConsumeFromWhere, ConsumeStatus, PushConsumer};
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let namesrv = start_namesrv(dir.path()).await;
    let (port, ha_port) = (free_port(), free_port());
    let master_addr = format!("127.0.0.1:{port}");
    let root = dir.path().join("broker-k-master");
    let master = start_child_master(port, ha_port, &namesrv.addr, &root);
    let admin = admin(&namesrv.addr);
    wait_for("the master's registration", || {
        route_has_master(&admin, &master_addr)
    })
    .await;
    let slave = start_node(dir.path(), slave_spec("broker-k", &namesrv.addr, ha_port)).await;

    let producer = Arc::new(start_producer(&namesrv.addr, "replication_kill").await);
    send_all(&producer, "KillNine", 2_000, 8).await;
    wait_for("the slave to have everything", || async {
        let end = max_offset(&admin, &master_addr).await;
        max_offset(&admin, &slave.addr).await == end
    })
    .await;

    let deliveries: Deliveries = Arc::default();
    let sink = deliveries.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&namesrv.addr)
        .group("kill_nine_group")
        .subscribe("KillNine", "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_millis(500))
        .persist_interval(Duration::from_millis(200))
        .listener(move |messages| {
            // Slowly enough that the kill lands in the middle of the backlog.
            std::thread::sleep(Duration::from_millis(2));
            let mut sink = sink.lock().unwrap();
            for message in messages {
                sink.push(String::from_utf8_lossy(&message.body).into_owned());
            }
            ConsumeStatus::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("some messages consumed", || async {
        distinct(&deliveries) >= 300
    })
    .await;
    master.kill();
    let at_kill = distinct(&deliveries);
    assert!(at_kill < 2_000, "the kill came too late to test anything");

    wait_for("every replicated message, from the slave", || async {
        distinct(&deliveries) == 2_000
    })
    .await;

    // The master returns on the same store and ports; consumption goes on there.
    let master = start_child_master(port, ha_port, &namesrv.addr, &root);
    wait_for("the master's return", || {
        route_has_master(&admin, &master_addr)
    })
    .await;
    send_range(&producer, "KillNine", 2_000..2_500, 4).await;
    wait_for("the messages sent after the return", || async {
        distinct(&deliveries) == 2_500
    })
    .await;
    let total = deliveries.lock().unwrap().len();
    let duplicates = total - 2_500;
    eprintln!("kill -9: {at_kill} consumed before the kill, {duplicates} delivered twice");
    assert!(
        duplicates <= 200,
        "{duplicates} duplicates: more than the uncommitted window"
    );
    consumer.shutdown().await;
    producer.shutdown().await;
    slave.stop().await.unwrap();
    drop(master);
    namesrv.stop().await;
}

/// The key of a printed quickstart message: where it is stored, not its (repeated) body.
fn stored_at(line: &str) -> String {
    let field = |name: &str| {
        let start = line
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {line}"))
            + name.len();
        line[start..].split(',').next().unwrap().to_owned()
    };
    format!(
        "{}/{}/{}",
        field("storeHost=/"),
        field("queueId="),
        field("queueOffset=")
    )
}

/// conf/2m-2s-async as shipped (roles, ids, names), on free ports and a temporary store:
/// quickstart producer and consumer through it, and the loss of broker-a's master.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_2m_2s_async_layout_survives_the_loss_of_a_master() {
    use bolide_client::quickstart::{run_consumer, run_producer};
    const COUNT: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let (ns_dir_a, ns_dir_b) = (dir.path().join("ns-a"), dir.path().join("ns-b"));
    std::fs::create_dir_all(&ns_dir_a).unwrap();
    std::fs::create_dir_all(&ns_dir_b).unwrap();
    let (namesrv_a, namesrv_b) = (
        start_namesrv(&ns_dir_a).await,
        start_namesrv(&ns_dir_b).await,
    );
    let namesrv = format!("{};{}", namesrv_a.addr, namesrv_b.addr);
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/2m-2s-async");
    let mut nodes: std::collections::BTreeMap<String, Node> = Default::default();
    for name in ["broker-a", "broker-b", "broker-a-s", "broker-b-s"] {
        let mut config = BrokerConfig::load(&conf.join(format!("{name}.properties"))).unwrap();
        let expect_slave = name.ends_with("-s");
        assert_eq!(
            config.broker_role == BrokerRole::Slave,
            expect_slave,
            "{name}"
        );
        assert_eq!(config.broker_id, i64::from(expect_slave), "{name}");
        let (main, fast) = bind_with_vip(0).await;
        let ha = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        config.namesrv_addr = Some(namesrv.clone());
        config.listen_port = main.local_addr().unwrap().port();
        config.broker_ip1 = loopback;
        config.broker_ip2 = loopback;
        config.store_path_root_dir = dir.path().join(name);
        config.store_path_commit_log = None;
        config.mapped_file_size_commit_log_bytes = FILE_BYTES;
        config.max_hash_slot_num = 50_000;
        config.max_index_num = 200_000;
        config.disk_max_used_space_ratio = 95;
        config.disk_space_clean_forcibly_ratio = 95;
        config.disk_space_warning_level_ratio = 95;
        if expect_slave {
            let master = &nodes[name.trim_end_matches("-s")];
            config.ha_master_address = Some(format!("127.0.0.1:{}", master.ha_port));
        }
        nodes.insert(name.to_owned(), launch(config, (main, fast), ha));
    }
    let admin = admin(&namesrv_a.addr);
    wait_for("both masters with their slaves in the cluster", || async {
        admin.cluster_info().await.is_ok_and(|info| {
            info.broker_addr_table
                .values()
                .filter(|broker| broker.broker_addrs.len() == 2)
                .count()
                == 2
        })
    })
    .await;

    let mut sent = Vec::new();
    run_producer(&namesrv, COUNT, &mut sent).await.unwrap();
    let sent = String::from_utf8(sent).unwrap();
    assert_eq!(sent.matches("sendStatus=SEND_OK").count(), COUNT, "{sent}");
    assert!(sent.contains("brokerName=broker-a") && sent.contains("brokerName=broker-b"));
    wait_caught_up(&admin, &nodes["broker-a"], &nodes["broker-a-s"]).await;

    let master_a = nodes.remove("broker-a").unwrap();
    let master_a_addr = master_a.addr.clone();
    master_a.stop().await.unwrap();
    let mut sent = Vec::new();
    run_producer(&namesrv, COUNT, &mut sent).await.unwrap();
    let sent = String::from_utf8(sent).unwrap();
    assert_eq!(sent.matches("sendStatus=SEND_OK").count(), COUNT, "{sent}");
    assert_eq!(sent.matches("brokerName=broker-b").count(), COUNT, "{sent}");

    let out = Shared::default();
    let watched = out.clone();
    let all_printed = async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while watched.lines().len() < 2 * COUNT + 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut writer = out.clone();
    run_consumer(&namesrv, &mut writer, all_printed)
        .await
        .unwrap();
    let lines = out.lines();
    let stored: std::collections::BTreeSet<String> =
        lines[1..].iter().map(|line| stored_at(line)).collect();
    assert_eq!(
        stored.len(),
        2 * COUNT,
        "every message once: {}",
        lines.len()
    );
    let from_a = stored
        .iter()
        .filter(|key| key.starts_with(&master_a_addr))
        .count();
    assert!(from_a > 0, "broker-a's messages come from its slave");

    for (_, node) in nodes {
        node.stop().await.unwrap();
    }
    namesrv_a.stop().await;
    namesrv_b.stop().await;
}

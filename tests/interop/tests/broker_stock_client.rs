//! The published `rocketmq-client-rust` 1.0.0 producer and push consumer against a Bolide broker
//! started in-process: what a user of that client sees end to end.
//!
//! * 10,000 messages sent synchronously all arrive, intact and once each;
//! * two consumers of one group split the queues and together receive every message once;
//! * a tag expression (`TagA || TagB`) delivers exactly its tags;
//! * committed consumer offsets survive a broker restart on the same store and port.
//!
//! Every body carries its sequence number and a checksum (see [`encode_body`]), so that a lost,
//! duplicated or corrupted message is named, not just counted. Offsets are read back from the
//! broker with Bolide's own remoting client, so that "the client committed and the broker kept
//! it" is checked directly rather than inferred from what a consumer receives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bolide_client::protocol::broker_header::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};
use bolide_interop::{BrokerProcess, NamesrvProcess};
use rocketmq_client_rust::{
    ArcMessageQueueListener, ClientResult, ClientRuntime, ClientRuntimeConfig,
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, MQPushConsumer, MessageQueueListener, SendStatus, TelemetryHandle,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

/// Queues of every topic here: the producer asks for them when the broker auto-creates the
/// topic from TBW102 on the first send.
const QUEUES: i32 = 4;
/// Bound on every wait for messages or offsets; generous for a loaded 2-core CI machine.
const WAIT: Duration = Duration::from_secs(90);
const SEND_TIMEOUT_MS: u64 = 5_000;

/// These tests each run a name server, a broker and a stock client runtime; on 2 cores,
/// running them one at a time keeps each one's timing close to what it measures alone.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `RUST_LOG=debug` shows what the broker and the stock client say.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

// --- message bodies --------------------------------------------------------------------------

const FILLER_BYTES: usize = 48;
const BODY_BYTES: usize = 8 + 8 + FILLER_BYTES + 8;

/// A body that names itself and proves itself intact:
///
/// ```text
/// +----------+-----------+--------------------------+-----------------+
/// | run: u64 | seq: u64  | filler: 48 bytes f(seq)  | FNV-1a 64 of    |
/// | BE       | BE        |                          | the 64 before   |
/// +----------+-----------+--------------------------+-----------------+
/// ```
///
/// `run` differs per test, so a message from another topic or test cannot pass for ours.
fn encode_body(run: u64, seq: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_BYTES);
    body.extend_from_slice(&run.to_be_bytes());
    body.extend_from_slice(&seq.to_be_bytes());
    body.extend((0..FILLER_BYTES).map(|i| filler_byte(seq, i)));
    let checksum = fnv1a64(&body);
    body.extend_from_slice(&checksum.to_be_bytes());
    body
}

/// The sequence number of an intact body of `run`, or what is wrong with it.
fn decode_body(run: u64, body: &[u8]) -> Result<u64, String> {
    if body.len() != BODY_BYTES {
        return Err(format!("{} bytes, expected {BODY_BYTES}", body.len()));
    }
    let (content, checksum) = body.split_at(BODY_BYTES - 8);
    let word = |at: usize| u64::from_be_bytes(content[at..at + 8].try_into().unwrap());
    if u64::from_be_bytes(checksum.try_into().unwrap()) != fnv1a64(content) {
        return Err("checksum mismatch".to_owned());
    }
    if word(0) != run {
        return Err(format!("run tag {:#x}, expected {run:#x}", word(0)));
    }
    let seq = word(8);
    if (0..FILLER_BYTES).any(|i| content[16 + i] != filler_byte(seq, i)) {
        return Err(format!("seq {seq}: filler differs"));
    }
    Ok(seq)
}

fn filler_byte(seq: u64, index: usize) -> u8 {
    (seq.wrapping_mul(31).wrapping_add(index as u64 * 7) % 251) as u8
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn run_tag(topic: &str) -> u64 {
    fnv1a64(topic.as_bytes())
}

// --- what consumers received ------------------------------------------------------------------

/// One delivery as the listener saw it.
#[derive(Debug, Clone)]
struct Delivery {
    consumer: usize,
    queue_id: i32,
    tag: Option<String>,
}

#[derive(Debug, Default)]
struct Received {
    /// Every delivery of each sequence number, in arrival order.
    by_seq: BTreeMap<u64, Vec<Delivery>>,
    /// Bodies that failed [`decode_body`], or arrived under a foreign topic, with the reason.
    corrupt: Vec<String>,
}

impl Received {
    fn duplicates(&self) -> Vec<(u64, usize)> {
        self.by_seq
            .iter()
            .filter(|(_, deliveries)| deliveries.len() > 1)
            .map(|(seq, deliveries)| (*seq, deliveries.len()))
            .collect()
    }

    fn missing(&self, expected: &BTreeSet<u64>) -> Vec<u64> {
        expected
            .iter()
            .filter(|seq| !self.by_seq.contains_key(seq))
            .copied()
            .collect()
    }

    fn unexpected(&self, expected: &BTreeSet<u64>) -> Vec<u64> {
        self.by_seq
            .keys()
            .filter(|seq| !expected.contains(seq))
            .copied()
            .collect()
    }

    /// How far delivery got, for a timeout message.
    fn progress(&self, expected: &BTreeSet<u64>) -> String {
        format!(
            "{} of {} expected messages arrived ({} others, {} corrupt)",
            expected.len() - self.missing(expected).len(),
            expected.len(),
            self.unexpected(expected).len(),
            self.corrupt.len()
        )
    }

    /// Checks that exactly `expected` arrived, each once and intact.
    fn assert_exactly_once(&self, expected: &BTreeSet<u64>) {
        assert!(
            self.corrupt.is_empty(),
            "corrupt messages: {:?}",
            self.corrupt
        );
        let missing = self.missing(expected);
        assert!(
            missing.is_empty(),
            "{} of {} messages lost, first: {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(20)]
        );
        let unexpected = self.unexpected(expected);
        assert!(
            unexpected.is_empty(),
            "{} messages not expected, first: {:?}",
            unexpected.len(),
            &unexpected[..unexpected.len().min(20)]
        );
        let duplicates = self.duplicates();
        assert!(
            duplicates.is_empty(),
            "{} messages delivered more than once, first (seq, times): {:?}",
            duplicates.len(),
            &duplicates[..duplicates.len().min(20)]
        );
    }
}

/// Collects what listeners receive and wakes the test thread on each batch.
#[derive(Debug)]
struct Recorder {
    topic: String,
    run: u64,
    received: Mutex<Received>,
    changed: Condvar,
}

impl Recorder {
    fn new(topic: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            topic: topic.to_owned(),
            run: run_tag(topic),
            received: Mutex::new(Received::default()),
            changed: Condvar::new(),
        })
    }

    fn record(&self, consumer: usize, messages: &[&MessageExt]) {
        let mut received = self.received.lock().unwrap();
        for message in messages {
            if message.topic().as_str() != self.topic {
                received.corrupt.push(format!("topic {}", message.topic()));
                continue;
            }
            let body = message.body().unwrap_or_default();
            match decode_body(self.run, &body) {
                Ok(seq) => received.by_seq.entry(seq).or_default().push(Delivery {
                    consumer,
                    queue_id: message.queue_id(),
                    tag: message.get_tags().map(|tag| tag.to_string()),
                }),
                Err(reason) => received.corrupt.push(format!(
                    "queue {} offset {}: {reason}",
                    message.queue_id(),
                    message.queue_offset()
                )),
            }
        }
        drop(received);
        self.changed.notify_all();
    }

    /// A listener for consumer number `consumer` that records and acknowledges every batch.
    fn listener(
        self: &Arc<Self>,
        consumer: usize,
    ) -> impl Fn(
        &[&MessageExt],
        &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus>
    + Send
    + Sync
    + 'static {
        let recorder = Arc::clone(self);
        move |messages: &[&MessageExt], _context: &ConsumeConcurrentlyContext| {
            recorder.record(consumer, messages);
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        }
    }

    /// Waits until every sequence number of `expected` has arrived; on timeout, says how far
    /// delivery got.
    fn wait_for_all(&self, expected: &BTreeSet<u64>, timeout: Duration) -> Result<(), String> {
        let received = self.received.lock().unwrap();
        let (received, result) = self
            .changed
            .wait_timeout_while(received, timeout, |received| {
                expected
                    .iter()
                    .any(|seq| !received.by_seq.contains_key(seq))
            })
            .unwrap();
        if result.timed_out() {
            return Err(format!(
                "after {timeout:?}: {}",
                received.progress(expected)
            ));
        }
        Ok(())
    }

    fn received(&self) -> MutexGuard<'_, Received> {
        self.received.lock().unwrap()
    }
}

/// The queues the client's rebalance gave one consumer, as its MessageQueueListener reports.
#[derive(Debug)]
struct Assignment {
    topic: String,
    queues: Mutex<Option<BTreeSet<i32>>>,
}

impl Assignment {
    fn new(topic: &str) -> Arc<Assignment> {
        Arc::new(Assignment {
            topic: topic.to_owned(),
            queues: Mutex::new(None),
        })
    }

    fn queues(&self) -> Option<BTreeSet<i32>> {
        self.queues.lock().unwrap().clone()
    }
}

impl MessageQueueListener for Assignment {
    fn message_queue_changed(
        &self,
        topic: &str,
        _all: &HashSet<MessageQueue>,
        assigned: &HashSet<MessageQueue>,
    ) {
        // The rebalance also reports the group's retry topic; only ours matters.
        if topic == self.topic {
            *self.queues.lock().unwrap() = Some(assigned.iter().map(|mq| mq.queue_id()).collect());
        }
    }
}

// --- the stock client and the servers ---------------------------------------------------------

/// The stock client's runtime, sized as interop-notes.md advises: on 2 cores its default
/// blocking lanes admit 4 listener calls and queue 16, and an overflowing batch is sent back
/// for a retry 10 s later, which would test the client's throttling instead of the broker.
struct StockRuntime {
    owner: RuntimeOwner,
    client: Arc<ClientRuntime>,
}

impl StockRuntime {
    fn new(name: &str) -> StockRuntime {
        let mut config = RuntimeConfig {
            thread_name: name.to_owned(),
            max_blocking_threads: 64,
            ..Default::default()
        };
        let lanes = &mut config.blocking_lane_policies;
        for lane in [
            &mut lanes.storage_io,
            &mut lanes.metadata_io,
            &mut lanes.cpu_crypto,
        ] {
            lane.max_concurrency = 16;
            lane.max_queue_depth = 4_096;
            lane.queue_timeout = Duration::from_secs(60);
        }
        let owner = RuntimeOwner::plan(config)
            .expect("runtime plan")
            .build()
            .expect("runtime owner");
        let client = ClientRuntime::try_new(
            owner.root_context().component("client"),
            ClientRuntimeConfig::default(),
            TelemetryHandle::noop(),
        )
        .expect("client runtime");
        StockRuntime { owner, client }
    }

    fn shutdown(self, driver: &tokio::runtime::Runtime) {
        driver.block_on(async {
            self.client.shutdown().await;
            self.owner.shutdown_tasks().await;
        });
        self.owner.shutdown_background();
    }
}

/// A name server, a broker and a stock client runtime, and a thread to drive client calls.
///
/// Fields drop in order: on a failed test the clients go first, then the servers, and the
/// temporary directory last, so that no broker runs on a deleted store.
struct Cluster {
    stock: Option<StockRuntime>,
    probe: BrokerProbe,
    broker: Option<BrokerProcess>,
    /// broker-a's slave, when a test starts one.
    slave: Option<BrokerProcess>,
    namesrv: NamesrvProcess,
    driver: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(name: &str) -> Cluster {
        init_logging();
        let dir = tempfile::tempdir().expect("tempdir");
        let namesrv_dir = dir.path().join("namesrv");
        let store_dir = dir.path().join("store");
        std::fs::create_dir_all(&namesrv_dir).unwrap();
        let namesrv = NamesrvProcess::start(&namesrv_dir).expect("name server starts");
        let broker = BrokerProcess::start(&store_dir, &namesrv.addr).expect("broker starts");
        let driver = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("driver runtime");
        let probe = BrokerProbe::new();
        Cluster {
            stock: Some(StockRuntime::new(name)),
            probe,
            broker: Some(broker),
            slave: None,
            namesrv,
            driver,
            _dir: dir,
        }
    }

    fn client_runtime(&self) -> Arc<ClientRuntime> {
        Arc::clone(&self.stock.as_ref().unwrap().client)
    }

    fn start_producer(&self, group: &str) -> DefaultMQProducer {
        let mut producer = DefaultMQProducer::builder(self.client_runtime())
            .producer_group(group.to_owned())
            .name_server_addr(self.namesrv.addr.clone())
            .default_topic_queue_nums(QUEUES as u32)
            .send_msg_timeout(SEND_TIMEOUT_MS as u32)
            .build();
        self.driver
            .block_on(producer.start())
            .unwrap_or_else(|error| panic!("producer start: {}", chain(&error)));
        producer
    }

    /// Sends `seqs` one by one, synchronously, each tagged `tag_of(seq)`; every send must be
    /// SEND_OK.
    fn send(
        &self,
        producer: &DefaultMQProducer,
        topic: &str,
        seqs: Range<u64>,
        tag_of: impl Fn(u64) -> &'static str,
    ) {
        let run = run_tag(topic);
        self.driver.block_on(async {
            for seq in seqs {
                let message = Message::builder()
                    .topic(topic)
                    .tags(tag_of(seq))
                    .body(encode_body(run, seq))
                    .build()
                    .expect("a valid message");
                let result = producer
                    .send_with_timeout(message, SEND_TIMEOUT_MS)
                    .await
                    .unwrap_or_else(|error| panic!("send of seq {seq} failed: {}", chain(&error)))
                    .unwrap_or_else(|| panic!("send of seq {seq} returned no result"));
                assert_eq!(
                    result.send_status,
                    SendStatus::SendOk,
                    "seq {seq}: {result:?}"
                );
            }
        });
    }

    fn stop_producer(&self, mut producer: DefaultMQProducer) {
        self.driver.block_on(producer.shutdown());
    }

    /// A clustering push consumer of `group` on `topic` with `expression`, starting from the
    /// first offset when the group has none, recording into `recorder` as consumer `index`.
    fn start_consumer(
        &self,
        group: &str,
        topic: &str,
        expression: &str,
        recorder: &Arc<Recorder>,
        index: usize,
        assignment: Option<Arc<Assignment>>,
    ) -> DefaultMQPushConsumer {
        let mut builder = DefaultMQPushConsumer::builder(self.client_runtime())
            .consumer_group(group.to_owned())
            .name_server_addr(self.namesrv.addr.clone())
            .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset);
        if let Some(assignment) = assignment {
            let listener: ArcMessageQueueListener = assignment;
            builder = builder.message_queue_listener(Some(listener));
        }
        let mut consumer = builder.build();
        self.driver.block_on(async {
            consumer
                .subscribe(topic, expression)
                .await
                .unwrap_or_else(|error| panic!("subscribe: {}", chain(&error)));
            consumer.register_message_listener_concurrently(recorder.listener(index));
            consumer
                .start()
                .await
                .unwrap_or_else(|error| panic!("consumer start: {}", chain(&error)));
        });
        consumer
    }

    /// A clean shutdown: the client finishes, then commits its offsets (oneway) and
    /// unregisters.
    fn stop_consumer(&self, mut consumer: DefaultMQPushConsumer) {
        self.driver.block_on(consumer.shutdown());
    }

    fn broker_addr(&self) -> String {
        self.broker.as_ref().unwrap().addr.clone()
    }

    fn restart_broker(&mut self) {
        let broker = self.broker.take().unwrap();
        let addr = broker.addr.clone();
        let restarted = broker.restart().expect("broker restarts");
        assert_eq!(
            restarted.addr, addr,
            "the broker came back on its old address"
        );
        self.broker = Some(restarted);
    }

    /// Offsets of `topic`'s queues: (committed by `group`, or None; the broker's max offset).
    fn offsets(&self, group: &str, topic: &str) -> Vec<(Option<i64>, i64)> {
        let addr = self.broker_addr();
        self.driver.block_on(async {
            let mut offsets = Vec::new();
            for queue_id in 0..QUEUES {
                let committed = self
                    .probe
                    .committed_offset(&addr, group, topic, queue_id)
                    .await;
                let max = self.probe.max_offset(&addr, topic, queue_id).await;
                offsets.push((committed, max));
            }
            offsets
        })
    }

    /// Polls until every queue of `topic` has `group`'s committed offset at its max offset;
    /// returns the last offsets seen and whether they matched.
    fn wait_for_commits_at_max(&self, group: &str, topic: &str) -> (Vec<(Option<i64>, i64)>, bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let offsets = self.offsets(group, topic);
            let all_committed = offsets.iter().all(|(committed, max)| {
                *committed == Some(*max) || (*max == 0 && committed.is_none())
            });
            if all_committed || Instant::now() > deadline {
                return (offsets, all_committed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(mut self) {
        if let Some(stock) = self.stock.take() {
            stock.shutdown(&self.driver);
        }
        if let Some(slave) = self.slave.take() {
            slave.stop().expect("the slave stops cleanly");
        }
        if let Some(broker) = self.broker.take() {
            broker.stop().expect("the broker stops cleanly");
        }
    }

    /// Starts broker-a's slave (brokerId 1), replicating from the master's HA port
    /// (listenPort + 1, which the master binds itself).
    fn start_slave(&mut self, store_dir: &std::path::Path) {
        let master = self.broker.as_ref().unwrap().config();
        let mut config = BrokerProcess::test_config(store_dir, &self.namesrv.addr);
        config.broker_id = 1;
        config.broker_role = bolide_broker::config::BrokerRole::Slave;
        config.ha_master_address = Some(format!("127.0.0.1:{}", master.ha_listen_port()));
        self.slave = Some(BrokerProcess::start_with(config).expect("slave starts"));
    }

    /// Waits until the slave's queues of `topic` reach as far as the master's.
    fn wait_for_slave(&self, topic: &str) {
        let (master, slave) = (
            self.broker_addr(),
            self.slave.as_ref().unwrap().addr.clone(),
        );
        let deadline = Instant::now() + WAIT;
        loop {
            let caught_up = self.driver.block_on(async {
                for queue_id in 0..QUEUES {
                    let on_master = self.probe.max_offset(&master, topic, queue_id).await;
                    if self.probe.max_offset(&slave, topic, queue_id).await != on_master {
                        return false;
                    }
                }
                true
            });
            if caught_up {
                return;
            }
            assert!(Instant::now() < deadline, "the slave did not catch up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the master; the slave stays.
    fn stop_master(&mut self) {
        let master = self.broker.take().unwrap();
        master.stop().expect("the master stops cleanly");
    }
}

/// Reads consumer and queue offsets straight from the broker with Bolide's own client.
struct BrokerProbe {
    client: RemotingClient,
}

impl BrokerProbe {
    fn new() -> BrokerProbe {
        BrokerProbe {
            client: RemotingClient::new(ClientConfig::default()),
        }
    }

    /// Invokes `request`, retrying while the broker is (re)starting; panics after [`WAIT`].
    async fn invoke(&self, addr: &str, code: i32, header: &impl CommandHeader) -> RemotingCommand {
        let deadline = Instant::now() + WAIT;
        loop {
            let request = RemotingCommand::request(code, header.to_ext_fields());
            match self
                .client
                .invoke(addr, request, Duration::from_secs(3))
                .await
            {
                Ok(response) => return response,
                Err(error) if Instant::now() < deadline => {
                    self.client.close(addr);
                    tracing_free_note(&format!("probe: {error}; retrying"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("request {code} to {addr} failed: {error}"),
            }
        }
    }

    async fn committed_offset(
        &self,
        addr: &str,
        group: &str,
        topic: &str,
        queue_id: i32,
    ) -> Option<i64> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: topic.to_owned(),
            queue_id,
            broker_name: None,
        };
        let response = self
            .invoke(addr, RequestCode::QUERY_CONSUMER_OFFSET, &header)
            .await;
        match response.code {
            ResponseCode::SUCCESS => Some(
                QueryConsumerOffsetResponseHeader::from_ext_fields(&response.ext_fields)
                    .expect("offset header")
                    .offset,
            ),
            ResponseCode::QUERY_NOT_FOUND => None,
            code => panic!(
                "QUERY_CONSUMER_OFFSET: code {code} {}",
                response.remark_text()
            ),
        }
    }

    async fn max_offset(&self, addr: &str, topic: &str, queue_id: i32) -> i64 {
        let header = GetMaxOffsetRequestHeader {
            topic: topic.to_owned(),
            queue_id,
            broker_name: None,
        };
        let response = self
            .invoke(addr, RequestCode::GET_MAX_OFFSET, &header)
            .await;
        assert_eq!(
            response.code,
            ResponseCode::SUCCESS,
            "GET_MAX_OFFSET: {}",
            response.remark_text()
        );
        GetMaxOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .expect("offset header")
            .offset
    }
}

/// An error and its sources: the stock client's own message says only "Argument is invalid"
/// and keeps the reason (such as "No topic route info") in its source.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(" <- ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[allow(clippy::print_stderr)]
fn tracing_free_note(message: &str) {
    eprintln!("{message}");
}

fn timed<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    tracing_free_note(&format!("{what}: {:.1} s", started.elapsed().as_secs_f64()));
    result
}

// --- the tests --------------------------------------------------------------------------------

#[test]
fn ten_thousand_messages_arrive_once_and_intact() {
    const COUNT: u64 = 10_000;
    let _serial = serial();
    let cluster = Cluster::start("bulk");
    let topic = "BulkTopic";
    let producer = cluster.start_producer("bulk-producer");
    timed("send 10,000", || {
        cluster.send(&producer, topic, 0..COUNT, |_| "TagA");
    });
    let stored: i64 = cluster
        .offsets("bulk-group", topic)
        .iter()
        .map(|(_, max)| max)
        .sum();
    assert_eq!(stored, COUNT as i64, "messages in the topic's queues");

    let recorder = Recorder::new(topic);
    let expected: BTreeSet<u64> = (0..COUNT).collect();
    let consumer = cluster.start_consumer("bulk-group", topic, "*", &recorder, 0, None);
    let arrived = timed("consume 10,000", || recorder.wait_for_all(&expected, WAIT));
    cluster.stop_consumer(consumer);
    arrived.unwrap_or_else(|report| panic!("{report}"));
    recorder.received().assert_exactly_once(&expected);
    let (offsets, committed) = cluster.wait_for_commits_at_max("bulk-group", topic);
    assert!(
        committed,
        "committed offsets (committed, max) per queue: {offsets:?}"
    );
    cluster.stop_producer(producer);
    cluster.stop();
}

#[test]
fn two_consumers_in_one_group_split_the_queues() {
    const COUNT: u64 = 2_000;
    let _serial = serial();
    let cluster = Cluster::start("split");
    let topic = "SplitTopic";
    let group = "split-group";
    let producer = cluster.start_producer("split-producer");
    // The first send creates the topic; its tag keeps it away from the consumers, so that
    // everything they receive is sent after their rebalance has settled.
    cluster.send(&producer, topic, u64::MAX - 1..u64::MAX, |_| "Warmup");

    let recorder = Recorder::new(topic);
    let assignments: Vec<Arc<Assignment>> = (0..2).map(|_| Assignment::new(topic)).collect();
    let consumers: Vec<DefaultMQPushConsumer> = (0..2)
        .map(|index| {
            let assignment = Arc::clone(&assignments[index]);
            cluster.start_consumer(group, topic, "Split", &recorder, index, Some(assignment))
        })
        .collect();

    // Settled: each consumer owns some queues, none twice, all of them between the two.
    let settled = timed("rebalance of two consumers", || {
        let deadline = Instant::now() + WAIT;
        loop {
            let owned: Vec<BTreeSet<i32>> = assignments
                .iter()
                .map(|assignment| assignment.queues().unwrap_or_default())
                .collect();
            let union: BTreeSet<i32> = owned.iter().flatten().copied().collect();
            let total: usize = owned.iter().map(BTreeSet::len).sum();
            if owned.iter().all(|queues| !queues.is_empty())
                && total == QUEUES as usize
                && union == (0..QUEUES).collect()
            {
                return Some(owned);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let owned = settled.unwrap_or_else(|| {
        let seen: Vec<_> = assignments
            .iter()
            .map(|assignment| assignment.queues())
            .collect();
        panic!("the two consumers never split the {QUEUES} queues; last assignments {seen:?}")
    });

    cluster.send(&producer, topic, 0..COUNT, |_| "Split");
    let expected: BTreeSet<u64> = (0..COUNT).collect();
    let arrived = timed("consume 2,000 with two consumers", || {
        recorder.wait_for_all(&expected, WAIT)
    });
    for consumer in consumers {
        cluster.stop_consumer(consumer);
    }
    arrived.unwrap_or_else(|report| panic!("{report}"));
    let received = recorder.received();
    received.assert_exactly_once(&expected);
    for (index, queues) in owned.iter().enumerate() {
        let from: BTreeSet<i32> = received
            .by_seq
            .values()
            .flatten()
            .filter(|delivery| delivery.consumer == index)
            .map(|delivery| delivery.queue_id)
            .collect();
        assert!(!from.is_empty(), "consumer {index} received nothing");
        assert!(
            from.is_subset(queues),
            "consumer {index} owns queues {queues:?} but received from {from:?}"
        );
    }
    drop(received);
    cluster.stop_producer(producer);
    cluster.stop();
}

#[test]
fn tag_expression_delivers_exactly_its_tags() {
    const COUNT: u64 = 300;
    let _serial = serial();
    let cluster = Cluster::start("tags");
    let topic = "TagTopic";
    let tag_of = |seq: u64| ["TagA", "TagB", "TagC"][(seq % 3) as usize];
    let producer = cluster.start_producer("tag-producer");
    cluster.send(&producer, topic, 0..COUNT, tag_of);

    let recorder = Recorder::new(topic);
    // Spaces as users write them: the client hashes the untrimmed strings into codeSet
    // (interop-notes.md), so a broker must filter by tagsSet; one that trusted codeSet would
    // deliver nothing here. (The client also re-filters what it pulls by tagsSet, as Java's
    // does, so a TagC the broker let through would be dropped before the listener.)
    let consumer = cluster.start_consumer("tag-group", topic, "TagA || TagB", &recorder, 0, None);
    let expected: BTreeSet<u64> = (0..COUNT).filter(|seq| tag_of(*seq) != "TagC").collect();
    let arrived = recorder.wait_for_all(&expected, WAIT);
    cluster.stop_consumer(consumer);
    arrived.unwrap_or_else(|report| panic!("{report}"));
    let received = recorder.received();
    received.assert_exactly_once(&expected);
    for (seq, deliveries) in &received.by_seq {
        for delivery in deliveries {
            assert_eq!(delivery.tag.as_deref(), Some(tag_of(*seq)), "seq {seq}");
        }
    }
    drop(received);
    cluster.stop_producer(producer);
    cluster.stop();
}

#[test]
fn consumer_offsets_survive_a_broker_restart() {
    const BEFORE: u64 = 400;
    const AFTER: u64 = 300;
    let _serial = serial();
    let mut cluster = Cluster::start("restart");
    let topic = "RestartTopic";
    let group = "restart-group";

    let producer = cluster.start_producer("restart-producer");
    cluster.send(&producer, topic, 0..BEFORE, |_| "TagA");
    cluster.stop_producer(producer);
    let first = Recorder::new(topic);
    let consumer = cluster.start_consumer(group, topic, "*", &first, 0, None);
    let old: BTreeSet<u64> = (0..BEFORE).collect();
    let arrived = first.wait_for_all(&old, WAIT);
    cluster.stop_consumer(consumer);
    arrived.unwrap_or_else(|report| panic!("before the restart {report}"));
    first.received().assert_exactly_once(&old);

    // The clean shutdown committed every queue to its end, and the broker took it.
    let (committed, all_at_max) = cluster.wait_for_commits_at_max(group, topic);
    assert!(
        all_at_max,
        "offsets before restart (committed, max): {committed:?}"
    );
    assert_eq!(
        committed.iter().map(|(_, max)| max).sum::<i64>(),
        BEFORE as i64
    );

    cluster.restart_broker();
    let after_restart = cluster.offsets(group, topic);
    assert_eq!(
        after_restart, committed,
        "offsets (committed, max) before and after the restart"
    );

    let producer = cluster.start_producer("restart-producer");
    cluster.send(&producer, topic, BEFORE..BEFORE + AFTER, |_| "TagA");
    let second = Recorder::new(topic);
    let consumer = cluster.start_consumer(group, topic, "*", &second, 0, None);
    let new: BTreeSet<u64> = (BEFORE..BEFORE + AFTER).collect();
    let arrived = second.wait_for_all(&new, WAIT);
    cluster.stop_consumer(consumer);
    arrived.unwrap_or_else(|report| panic!("after the restart {report}"));
    let received = second.received();
    // Every old offset was confirmed committed above, so not one old message may come back.
    received.assert_exactly_once(&new);
    drop(received);
    cluster.stop_producer(producer);
    cluster.stop();
}

/// The stock client's consumer reads a master's replicated messages from its slave once the
/// master is gone (the route then holds only brokerId 1), each exactly once.
#[test]
fn a_stock_consumer_reads_replicated_messages_from_the_slave() {
    const COUNT: u64 = 500;
    let _serial = serial();
    let mut cluster = Cluster::start("replica");
    let slave_dir = tempfile::tempdir().expect("tempdir");
    cluster.start_slave(slave_dir.path());
    let topic = "ReplicaTopic";
    let producer = cluster.start_producer("replica-producer");
    cluster.send(&producer, topic, 0..COUNT, |_| "TagA");
    cluster.stop_producer(producer);
    cluster.wait_for_slave(topic);
    cluster.stop_master();

    let recorder = Recorder::new(topic);
    let expected: BTreeSet<u64> = (0..COUNT).collect();
    let consumer = cluster.start_consumer("replica-group", topic, "*", &recorder, 0, None);
    let arrived = recorder.wait_for_all(&expected, WAIT);
    cluster.stop_consumer(consumer);
    arrived.unwrap_or_else(|report| panic!("from the slave {report}"));
    recorder.received().assert_exactly_once(&expected);
    cluster.stop();
}

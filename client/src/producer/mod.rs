//! A RocketMQ 4.x producer: sync, oneway and batch sends over SEND_MESSAGE_V2 and
//! SEND_BATCH_MESSAGE, with routes from name servers, retries on another broker, and the
//! heartbeats brokers expect from a producer group.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bolide_client::producer::ProducerError> {
//! use bolide_client::producer::{Message, Producer};
//! let producer = Producer::builder().namesrv_addr("127.0.0.1:9876").group("pg").build()?;
//! producer.start().await?;
//! let result = producer.send(Message::new("TopicTest", "hello").with_tags("TagA")).await?;
//! println!("{result}");
//! producer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! * Routes: the first name server asked is picked at random and kept while it answers; on
//!   failure the others are tried round-robin. Routes are cached and refreshed every 30 s by
//!   one background task the producer owns (stopped by [`Producer::shutdown`], or when the
//!   last handle is dropped). A topic without a route is sent to TBW102's brokers, which
//!   create it (protocol.md §3.7).
//! * Queues: round-robin over the writable queues of master brokers. A broker that fails a
//!   send is avoided for 30 s, and a retry goes to another broker when there is one.
//! * Asynchronous sends: [`Producer::send`] is itself async; [`Producer::send_async`] gives
//!   an owned `'static` future to hand to `tokio::spawn`. There is no callback API.
//! * Not implemented: ordered-topic configs (`orderTopicConf`), transactions, request/reply,
//!   namespaces, message tracing, and `retryAnotherBrokerWhenNotStoreOK`.

mod error;
mod instance;
mod message;
mod request;
mod route;
pub(crate) mod route_source;
mod uniq_id;

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::task::JoinHandle;

pub use error::{ProducerError, Result};
pub use instance::ProducerConfig;
pub use message::{Message, MessageQueue, SendResult, SendStatus};
pub use request::MAX_MESSAGE_BYTES;
pub use route::{AUTO_CREATE_TOPIC_KEY, BROKER_AVOIDANCE, DEFAULT_TOPIC_QUEUE_NUMS};
pub use uniq_id::UniqIdGenerator;

use crate::namesrv::parse_namesrv_addrs;
use crate::protocol::ResponseCode;
use crate::remoting::{ShutdownTrigger, shutdown_channel};
use instance::Instance;
use request::Prepared;

/// Response codes after which Java retries on another broker (`retryResponseCodes`).
const RETRY_RESPONSE_CODES: [i32; 4] = [
    ResponseCode::TOPIC_NOT_EXIST,
    ResponseCode::SERVICE_NOT_AVAILABLE,
    ResponseCode::SYSTEM_ERROR,
    ResponseCode::NO_PERMISSION,
];

/// Builds a [`Producer`]; defaults are Java's.
#[derive(Debug, Clone)]
pub struct ProducerBuilder {
    namesrv_addr: String,
    group: String,
    send_timeout: Duration,
    retry_times_when_send_failed: u32,
    compress_over_bytes: usize,
    refresh_interval: Duration,
}

impl Default for ProducerBuilder {
    fn default() -> Self {
        ProducerBuilder {
            namesrv_addr: String::new(),
            group: "DEFAULT_PRODUCER".to_owned(),
            send_timeout: Duration::from_secs(3),
            retry_times_when_send_failed: 2,
            compress_over_bytes: 4096,
            refresh_interval: Duration::from_secs(30),
        }
    }
}

impl ProducerBuilder {
    /// Name servers, `;`-separated (`host:port;host:port`).
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv_addr = addrs.into();
        self
    }

    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// The time one send may take, retries included. Default 3 s.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Further attempts of a sync send after the first fails. Default 2.
    pub fn retry_times_when_send_failed(mut self, times: u32) -> Self {
        self.retry_times_when_send_failed = times;
        self
    }

    /// Bodies longer than this are zlib-compressed. Default 4096.
    pub fn compress_over_bytes(mut self, bytes: usize) -> Self {
        self.compress_over_bytes = bytes;
        self
    }

    /// How often routes are refreshed and brokers sent a heartbeat. Default 30 s.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    pub fn build(self) -> Result<Producer> {
        let namesrv_addrs = parse_namesrv_addrs(&self.namesrv_addr);
        if namesrv_addrs.is_empty() {
            return Err(ProducerError::Config("no name server address".to_owned()));
        }
        if self.group.is_empty() {
            return Err(ProducerError::Config(
                "the producer group is empty".to_owned(),
            ));
        }
        if self.send_timeout.is_zero() || self.refresh_interval.is_zero() {
            return Err(ProducerError::Config(
                "the send timeout and refresh interval must be positive".to_owned(),
            ));
        }
        let ip = local_ip();
        let pid = std::process::id();
        let config = ProducerConfig {
            group: self.group,
            namesrv_addrs,
            send_timeout: self.send_timeout,
            retry_times_when_send_failed: self.retry_times_when_send_failed,
            compress_over_bytes: self.compress_over_bytes,
            refresh_interval: self.refresh_interval,
            admin_timeout: Duration::from_secs(3),
        };
        let instance = Instance::new(config, format!("{ip}@{pid}"), UniqIdGenerator::new(ip, pid));
        Ok(Producer {
            instance: Arc::new(instance),
            state: Arc::new(Mutex::new(State::Created)),
        })
    }
}

/// The address other hosts see: the source address of a route to a documentation-range
/// address (a UDP "connect" sends nothing), else loopback.
pub(crate) fn local_ip() -> IpAddr {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            socket.local_addr()
        })
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[derive(Debug)]
enum State {
    Created,
    Running {
        trigger: ShutdownTrigger,
        task: JoinHandle<()>,
    },
    Stopped,
}

/// A producer handle; clones share one producer.
#[derive(Debug, Clone)]
pub struct Producer {
    instance: Arc<Instance>,
    state: Arc<Mutex<State>>,
}

impl Producer {
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.instance.config
    }

    /// `ip@pid`, the id brokers know this producer by.
    pub fn client_id(&self) -> &str {
        &self.instance.client_id
    }

    /// Starts the background route refresh and heartbeat. Starting twice, or after
    /// shutdown, is refused.
    pub async fn start(&self) -> Result<()> {
        {
            let mut state = self.state.lock();
            if !matches!(*state, State::Created) {
                return Err(ProducerError::Config(
                    "a producer starts once, and not after shutdown".to_owned(),
                ));
            }
            let (trigger, shutdown) = shutdown_channel();
            let task = tokio::spawn(instance::background(
                Arc::downgrade(&self.instance),
                self.instance.config.refresh_interval,
                shutdown,
            ));
            *state = State::Running { trigger, task };
        }
        self.instance.heartbeat_all().await;
        Ok(())
    }

    /// Stops the background task and unregisters from every broker. Sends after this
    /// fail with [`ProducerError::NotRunning`]. Idempotent.
    pub async fn shutdown(&self) {
        let previous = std::mem::replace(&mut *self.state.lock(), State::Stopped);
        if let State::Running { trigger, task } = previous {
            trigger.trigger();
            if let Err(error) = task.await {
                tracing::warn!("producer background task failed: {error}");
            }
            self.instance.unregister().await;
        }
    }

    fn ensure_running(&self) -> Result<()> {
        match *self.state.lock() {
            State::Running { .. } => Ok(()),
            _ => Err(ProducerError::NotRunning {
                group: self.instance.config.group.clone(),
            }),
        }
    }

    /// The queues a send to `topic` chooses from (Java `fetchPublishMessageQueues`): the
    /// cached route, looked up on first use.
    pub async fn publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        self.ensure_running()?;
        let info = self.instance.publish_info(topic).await?;
        Ok(info.queues.iter().map(|q| q.queue.clone()).collect())
    }

    /// Sends one message and waits for the broker to store it, retrying on another broker
    /// up to `retry_times_when_send_failed` times.
    pub async fn send(&self, message: Message) -> Result<SendResult> {
        self.ensure_running()?;
        let id = self.instance.ids.next_id();
        let prepared =
            request::prepare_single(&message, &id, self.instance.config.compress_over_bytes)?;
        self.send_with_retries(&prepared).await
    }

    /// [`Producer::send`] as an owned future that borrows nothing, to spawn.
    pub fn send_async(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<SendResult>> + Send + 'static {
        let producer = self.clone();
        async move { producer.send(message).await }
    }

    /// Sends one message without waiting for an answer, and without retries: `Ok` means it
    /// was handed to the connection, not that it was stored.
    pub async fn send_oneway(&self, message: Message) -> Result<()> {
        self.ensure_running()?;
        let id = self.instance.ids.next_id();
        let prepared =
            request::prepare_single(&message, &id, self.instance.config.compress_over_bytes)?;
        let instance = &self.instance;
        let info = instance.publish_info(&prepared.topic).await?;
        let target = info
            .select(&HashSet::new(), &instance.avoidance.lock(), Instant::now())
            .cloned()
            .ok_or_else(|| no_writable_queue(&prepared.topic))?;
        let request = request::request(&prepared, &instance.config.group, &target.queue, now_ms());
        let sent = instance
            .remoting
            .invoke_oneway(&target.broker_addr, request, instance.config.send_timeout)
            .await;
        sent.map_err(|source| {
            instance
                .avoidance
                .lock()
                .fail(&target.queue.broker_name, Instant::now());
            ProducerError::Remoting {
                broker_addr: target.broker_addr.clone(),
                topic: prepared.topic.clone(),
                source,
            }
        })
    }

    /// Sends messages of one topic as one SEND_BATCH_MESSAGE: stored together in one queue.
    /// The result's `msg_id` and `offset_msg_id` list every message's, comma-separated.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Result<SendResult> {
        self.ensure_running()?;
        let prepared = request::prepare_batch(&messages, || self.instance.ids.next_id())?;
        self.send_with_retries(&prepared).await
    }

    /// The send loop: pick a queue, send, and on a transport failure or a retryable refusal
    /// try again on a broker not yet tried, all within one deadline of `send_timeout`.
    async fn send_with_retries(&self, prepared: &Prepared) -> Result<SendResult> {
        let instance = &self.instance;
        let config = &instance.config;
        let deadline = Instant::now() + config.send_timeout;
        let info = instance.publish_info(&prepared.topic).await?;
        let mut tried = HashSet::new();
        let mut last_error = None;
        for _ in 0..=config.retry_times_when_send_failed {
            let now = Instant::now();
            let remaining = deadline.saturating_duration_since(now);
            if remaining.is_zero() {
                break;
            }
            let target = info
                .select(&tried, &instance.avoidance.lock(), now)
                .cloned()
                .ok_or_else(|| no_writable_queue(&prepared.topic))?;
            let broker_name = &target.queue.broker_name;
            let addr = &target.broker_addr;
            let request = request::request(prepared, &config.group, &target.queue, now_ms());
            let outcome = match instance.remoting.invoke(addr, request, remaining).await {
                Ok(response) => request::parse_response(prepared, &target.queue, addr, &response),
                Err(source) => Err(ProducerError::Remoting {
                    broker_addr: addr.clone(),
                    topic: prepared.topic.clone(),
                    source,
                }),
            };
            let error = match outcome {
                Ok(result) => {
                    instance.avoidance.lock().succeed(broker_name);
                    return Ok(result);
                }
                Err(error) => error,
            };
            instance.avoidance.lock().fail(broker_name, Instant::now());
            let retryable = match &error {
                ProducerError::Remoting { .. } => true,
                ProducerError::Broker { code, .. } => RETRY_RESPONSE_CODES.contains(code),
                _ => false,
            };
            if !retryable {
                return Err(error);
            }
            tracing::warn!("send failed, trying another broker: {error}");
            tried.insert(broker_name.clone());
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| ProducerError::Timeout {
            topic: prepared.topic.clone(),
            timeout_ms: u64::try_from(config.send_timeout.as_millis()).unwrap_or(u64::MAX),
        }))
    }
}

fn no_writable_queue(topic: &str) -> ProducerError {
    ProducerError::NoRoute {
        topic: topic.to_owned(),
        reason: "no writable queue".to_owned(),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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
//!   send is avoided for 30 s, one that answers slowly (550 ms or more) for 30 s to 10 min by
//!   Java's latency table, and a retry goes to another broker when there is one.
//!   [`Producer::send_orderly`] picks the queue by a sharding key's hash (Java's
//!   `SelectMessageQueueByHash`), [`Producer::send_with_selector`] by the caller's choice,
//!   [`Producer::send_to_queue`] a given queue: one attempt each, since another queue would
//!   break the order.
//! * Asynchronous sends: [`Producer::send`] is itself async; [`Producer::send_async`] gives
//!   an owned `'static` future to hand to `tokio::spawn`, and [`Producer::send_with_callback`]
//!   is Java's callback form.
//! * Bodies over 4 KiB are compressed: zlib by default (the only kind RocketMQ 4.x
//!   consumers read), zstd or LZ4 by [`ProducerBuilder::compression_type`], marked with
//!   RocketMQ 5's sysflag type bits.
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
pub use crate::protocol::compression::CompressionType;
use crate::remoting::{ShutdownTrigger, shutdown_channel};
use instance::Instance;
use request::Prepared;
use route::PublishQueue;

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
    compression_type: CompressionType,
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
            compression_type: CompressionType::Zlib,
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

    /// Bodies longer than this are compressed. Default 4096.
    pub fn compress_over_bytes(mut self, bytes: usize) -> Self {
        self.compress_over_bytes = bytes;
        self
    }

    /// How bodies are compressed. Default zlib, the only kind RocketMQ 4.x consumers read;
    /// zstd and LZ4 carry RocketMQ 5's sysflag type bits and need 5.x (or Bolide) consumers.
    pub fn compression_type(mut self, kind: CompressionType) -> Self {
        self.compression_type = kind;
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
            compression_type: self.compression_type,
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
        let prepared = self.prepare(&message)?;
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
        let prepared = self.prepare(&message)?;
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

    /// Sends one message to the queue `selector` picks among the topic's writable queues
    /// (Java `send(msg, MessageQueueSelector, arg)`), for ordered messages: one attempt, no
    /// retry elsewhere, because another queue would break the order the selector keeps.
    /// `None` from the selector fails the send.
    pub async fn send_with_selector(
        &self,
        message: Message,
        selector: impl FnOnce(&[MessageQueue], &Message) -> Option<usize>,
    ) -> Result<SendResult> {
        self.ensure_running()?;
        let prepared = self.prepare(&message)?;
        let info = self.instance.publish_info(&prepared.topic).await?;
        let queues: Vec<MessageQueue> = info.queues.iter().map(|q| q.queue.clone()).collect();
        let target = selector(&queues, &message)
            .and_then(|index| info.queues.get(index))
            .cloned()
            .ok_or_else(|| ProducerError::NoRoute {
                topic: prepared.topic.clone(),
                reason: format!("the selector chose none of {} queues", queues.len()),
            })?;
        self.attempt(&prepared, &target, self.instance.config.send_timeout)
            .await
    }

    /// Sends to the queue Java's `SelectMessageQueueByHash` picks for `sharding_key`
    /// (`|hashCode % queues|`): messages with one key keep their order, as long as the
    /// topic's queue count does not change.
    pub async fn send_orderly(&self, message: Message, sharding_key: &str) -> Result<SendResult> {
        let hash = java_string_hash(sharding_key);
        self.send_with_selector(message, |queues, _| {
            let count = i32::try_from(queues.len()).ok().filter(|n| *n > 0)?;
            usize::try_from((hash % count).unsigned_abs()).ok()
        })
        .await
    }

    /// Sends to one given queue, which must be among the topic's writable queues.
    pub async fn send_to_queue(
        &self,
        message: Message,
        queue: &MessageQueue,
    ) -> Result<SendResult> {
        self.send_with_selector(message, |queues, _| queues.iter().position(|q| q == queue))
            .await
    }

    /// Java's asynchronous `send(msg, SendCallback)`: returns at once and calls `callback`
    /// with the outcome, retries included, on a runtime worker (so it must not block). Must
    /// be called inside a tokio runtime.
    pub fn send_with_callback(
        &self,
        message: Message,
        callback: impl FnOnce(Result<SendResult>) + Send + 'static,
    ) {
        let send = self.send_async(message);
        tokio::spawn(async move { callback(send.await) });
    }

    fn prepare(&self, message: &Message) -> Result<Prepared> {
        let config = &self.instance.config;
        let id = self.instance.ids.next_id();
        request::prepare_single(
            message,
            &id,
            config.compress_over_bytes,
            config.compression_type,
        )
    }

    /// One request to `target`, within `timeout`; the broker's avoidance record follows the
    /// outcome.
    async fn attempt(
        &self,
        prepared: &Prepared,
        target: &PublishQueue,
        timeout: Duration,
    ) -> Result<SendResult> {
        let instance = &self.instance;
        let addr = &target.broker_addr;
        let request = request::request(prepared, &instance.config.group, &target.queue, now_ms());
        let started = Instant::now();
        let outcome = match instance.remoting.invoke(addr, request, timeout).await {
            Ok(response) => request::parse_response(prepared, &target.queue, addr, &response),
            Err(source) => Err(ProducerError::Remoting {
                broker_addr: addr.clone(),
                topic: prepared.topic.clone(),
                source,
            }),
        };
        let broker_name = &target.queue.broker_name;
        match &outcome {
            Ok(_) => {
                let now = Instant::now();
                let latency = now.duration_since(started);
                instance.avoidance.lock().succeed(broker_name, latency, now);
            }
            Err(_) => instance.avoidance.lock().fail(broker_name, Instant::now()),
        }
        outcome
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
            let error = match self.attempt(prepared, &target, remaining).await {
                Ok(result) => return Ok(result),
                Err(error) => error,
            };
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

/// Java's `String.hashCode`, as the hash selector uses it (the tag hash is the same
/// function, sign-extended).
fn java_string_hash(text: &str) -> i32 {
    i32::try_from(crate::protocol::message::tag_hash_code(text)).unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::java_string_hash;

    #[test]
    fn sharding_keys_hash_like_java() {
        // Values of Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // |MIN % 4| does not overflow: the remainder is taken first, as Java does.
        assert_eq!(
            (java_string_hash("polygenelubricants") % 4).unsigned_abs(),
            0
        );
    }
}

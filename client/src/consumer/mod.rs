//! A RocketMQ 4.x push consumer (Java `DefaultMQPushConsumer`): the group's queues are split
//! among its members, each owned queue is long-polled by one task, and every message is
//! handed to a listener.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bolide_client::consumer::ConsumerError> {
//! use bolide_client::consumer::{ConsumeStatus, PushConsumer};
//! let consumer = PushConsumer::builder()
//!     .namesrv_addr("127.0.0.1:9876")
//!     .group("cg")
//!     .subscribe("TopicTest", "TagA || TagB")
//!     .listener(|messages| {
//!         for message in messages {
//!             println!("{}", message.msg_id());
//!         }
//!         ConsumeStatus::Success
//!     })
//!     .build()?;
//! consumer.start().await?;
//! // ...
//! consumer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! * The listener is a plain (sync) closure, run on tokio's blocking pool, so it may block.
//!   It gets one message per call (consume batch size 1); the messages of one pull (up to 32)
//!   are consumed concurrently while the next pull is under way, and the queue's offset moves
//!   once they are all done. That bounds the messages cached per queue by two pull batches,
//!   below [`MAX_CACHED_MESSAGES_PER_QUEUE`]. A listener that panics counts as `Later`.
//! * `Later` sends the message back (CONSUMER_SEND_MSG_BACK with the consumer's
//!   `max_reconsume_times`, default [`MAX_RECONSUME_TIMES`]); it comes again from
//!   `%RETRY%<group>` with `reconsume_times` one higher, and its topic shown as the original.
//!   Past the limit the broker puts it in `%DLQ%<group>`. If the send-back fails, the message
//!   is consumed again here a second later. Delivery is at least once.
//! * Orderly consumption ([`PushConsumerBuilder::orderly_listener`], Java
//!   `MessageListenerOrderly`): a queue is read only while this member holds its broker lock
//!   (LOCK_BATCH_MQ, renewed every 20 s, released after the final commit), one message at a
//!   time in queue order. `SuspendCurrentQueueAMoment` waits `suspend_current_queue_time`
//!   and offers the same message again; past `max_reconsume_times` it goes to the DLQ.
//! * CLUSTERING offsets live in memory per owned queue and are committed
//!   (UPDATE_CONSUMER_OFFSET) every 5 s, when a queue is given up, and at shutdown.
//! * BROADCASTING (every member gets every message): each member owns every queue and keeps
//!   its offsets in a local file (`<offset_store_dir>/<clientId>/<group>/offsets.json`, as
//!   Java's `LocalFileOffsetStore`), so a restarted member goes on where it stopped. There
//!   is no retry topic: a message answered `Later` is dropped with a warning, as Java does.
//! * New groups start per `consume_from_where`: LAST_OFFSET, FIRST_OFFSET, or TIMESTAMP
//!   (SEARCH_OFFSET_BY_TIMESTAMP at `consume_timestamp_ms`, default 30 minutes ago).
//! * An admin's offset reset (`mqadmin resetOffsetByTime`) reaches running members as the
//!   broker's RESET_CONSUMER_CLIENT_OFFSET: each owned queue drops what it pulled and goes on
//!   from the new offset, as Java's consumer does.
//! * Masters and slaves (protocol.md §7): each queue is pulled from the broker its last
//!   pull response suggested (`suggestWhichBrokerId`), else its master, else a slave, and a
//!   pull whose broker cannot be reached tries the next one at once; offsets go to the
//!   master, else a slave. So a group keeps consuming replicated messages from a slave
//!   when its master dies. Send-backs and queue locks go to the master only.
//! * Not implemented: SQL92 filters, consume batches over 1.

mod allocate;
pub(crate) mod broker_choice;
mod error;
pub(crate) mod instance;
mod local_offsets;
mod offset;
mod orderly;
mod pull;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use crate::protocol::heartbeat::{ConsumeFromWhere, MessageModel, MessageQueue};
pub use crate::protocol::message::StoredMessage;
pub use allocate::allocate_averagely;
pub use error::{ConsumerError, Result};

use crate::namesrv::parse_namesrv_addrs;
use crate::protocol::heartbeat::SubscriptionData;
use crate::remoting::{ShutdownTrigger, shutdown_channel};
use instance::Instance;

/// How often a message may be handed back before the broker sends it to `%DLQ%<group>`
/// (concurrent consumption's default).
pub const MAX_RECONSUME_TIMES: i32 = 16;
/// CONSUME_FROM_TIMESTAMP's default start: this long before the consumer is built.
const HALF_AN_HOUR_MS: i64 = 30 * 60 * 1000;
/// Messages asked for per PULL_MESSAGE (Java `pullBatchSize`).
pub const PULL_BATCH_SIZE: i32 = 32;
/// The most messages pulled but not yet consumed, per queue (Java
/// `pullThresholdForQueue`). Pulling waits for consumption, so the pull batch is the cap.
pub const MAX_CACHED_MESSAGES_PER_QUEUE: i32 = 1000;
const _: () = assert!(PULL_BATCH_SIZE <= MAX_CACHED_MESSAGES_PER_QUEUE);

/// What the listener made of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeStatus {
    /// Consumed: the offset may move past it.
    Success,
    /// Not now: send it back to be delivered again later from the retry topic.
    Later,
}

/// The application's message handler; see the module documentation for how it is called.
pub type Listener = Arc<dyn Fn(&[StoredMessage]) -> ConsumeStatus + Send + Sync + 'static>;

/// What an orderly listener made of a message (Java `ConsumeOrderlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeOrderlyStatus {
    /// Consumed: the queue moves on to the next message.
    Success,
    /// Not now: the same message is offered again after `suspend_current_queue_time`, and
    /// nothing behind it in the queue is consumed meanwhile.
    SuspendCurrentQueueAMoment,
}

/// An orderly handler: called for one queue's messages one at a time, in queue order.
pub type OrderlyListener =
    Arc<dyn Fn(&[StoredMessage]) -> ConsumeOrderlyStatus + Send + Sync + 'static>;

/// How messages reach the application.
#[derive(Clone)]
pub(crate) enum ListenerKind {
    Concurrently(Listener),
    Orderly(OrderlyListener),
}

/// Settings fixed when the consumer is built.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub group: String,
    pub namesrv_addrs: Vec<String>,
    /// The application's subscriptions, then (CLUSTERING only) `%RETRY%<group>` with `*`.
    pub subscriptions: Vec<SubscriptionData>,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    /// How often the queues are split again (also at once when the broker says the group
    /// changed). Java 20 s.
    pub rebalance_interval: Duration,
    /// How often routes are refreshed and brokers sent a heartbeat. Java 30 s.
    pub heartbeat_interval: Duration,
    /// How often consumed offsets are committed. Java 5 s.
    pub persist_interval: Duration,
    /// How long the broker may hold a pull that finds nothing. Java 15 s.
    pub suspend_timeout: Duration,
    /// Timeout of each request besides pulls.
    pub admin_timeout: Duration,
    /// Deliveries of a message before it goes to `%DLQ%<group>`. Java: 16 for concurrent
    /// consumption, unlimited (`i32::MAX`) for orderly.
    pub max_reconsume_times: i32,
    /// Where CONSUME_FROM_TIMESTAMP starts a new group (ms since the epoch). Java: half an
    /// hour before the consumer was built.
    pub consume_timestamp_ms: i64,
    /// Consumed in queue order, one message at a time, holding the broker's queue locks.
    pub orderly: bool,
    /// The pause before an orderly listener's suspended message is offered again. Java 1 s.
    pub suspend_current_queue_time: Duration,
    /// BROADCASTING only: the local offsets file (Java `LocalFileOffsetStore`).
    pub local_offsets_path: Option<PathBuf>,
}

/// Builds a [`PushConsumer`]; defaults are Java's.
pub struct PushConsumerBuilder {
    namesrv_addr: String,
    group: String,
    instance_name: Option<String>,
    subscriptions: Vec<(String, String)>,
    consume_from_where: ConsumeFromWhere,
    message_model: MessageModel,
    listener: Option<ListenerKind>,
    max_reconsume_times: Option<i32>,
    consume_timestamp_ms: Option<i64>,
    suspend_current_queue_time: Duration,
    offset_store_dir: Option<PathBuf>,
    rebalance_interval: Duration,
    heartbeat_interval: Duration,
    persist_interval: Duration,
}

impl PushConsumerBuilder {
    /// Name servers, `;`-separated (`host:port;host:port`).
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv_addr = addrs.into();
        self
    }

    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// The part of the client id (`ip@instance`) after the `@`; default the process id.
    /// Two consumers of one group in one process need different names.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.instance_name = Some(name.into());
        self
    }

    /// Subscribes to `topic` with a TAG expression: `*`, or tags joined by `||`.
    pub fn subscribe(mut self, topic: impl Into<String>, expression: impl Into<String>) -> Self {
        self.subscriptions.push((topic.into(), expression.into()));
        self
    }

    /// Where a queue without a committed offset starts: `LastOffset` (default),
    /// `FirstOffset`, or `Timestamp` (see [`PushConsumerBuilder::consume_timestamp_ms`]).
    pub fn consume_from_where(mut self, from: ConsumeFromWhere) -> Self {
        self.consume_from_where = from;
        self
    }

    /// `Clustering` (default: the group shares the messages) or `Broadcasting` (every
    /// member gets all of them).
    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.message_model = model;
        self
    }

    /// A concurrent listener (Java `MessageListenerConcurrently`).
    pub fn listener(
        mut self,
        listener: impl Fn(&[StoredMessage]) -> ConsumeStatus + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(ListenerKind::Concurrently(Arc::new(listener)));
        self
    }

    /// An orderly listener (Java `MessageListenerOrderly`): each queue's messages one at a
    /// time in queue order, while this member holds the broker's lock on the queue.
    pub fn orderly_listener(
        mut self,
        listener: impl Fn(&[StoredMessage]) -> ConsumeOrderlyStatus + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(ListenerKind::Orderly(Arc::new(listener)));
        self
    }

    /// Deliveries before a message goes to the DLQ. Default 16 (concurrent) or unlimited
    /// (orderly), as Java.
    pub fn max_reconsume_times(mut self, times: i32) -> Self {
        self.max_reconsume_times = Some(times);
        self
    }

    /// Where CONSUME_FROM_TIMESTAMP starts, in ms since the Unix epoch (Java takes
    /// `yyyyMMddHHmmss` in local time). Default half an hour ago.
    pub fn consume_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.consume_timestamp_ms = Some(timestamp_ms);
        self
    }

    /// The pause before a suspended orderly message is offered again. Default 1 s.
    pub fn suspend_current_queue_time(mut self, pause: Duration) -> Self {
        self.suspend_current_queue_time = pause;
        self
    }

    /// BROADCASTING: the directory of the local offsets files. Default
    /// `~/.rocketmq_offsets` (Java's `rocketmq.client.localOffsetStoreDir`).
    pub fn offset_store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.offset_store_dir = Some(dir.into());
        self
    }

    /// Default 20 s.
    pub fn rebalance_interval(mut self, interval: Duration) -> Self {
        self.rebalance_interval = interval;
        self
    }

    /// Default 30 s.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Default 5 s.
    pub fn persist_interval(mut self, interval: Duration) -> Self {
        self.persist_interval = interval;
        self
    }

    pub fn build(self) -> Result<PushConsumer> {
        let config = |reason: &str| Err(ConsumerError::Config(reason.to_owned()));
        let namesrv_addrs = parse_namesrv_addrs(&self.namesrv_addr);
        if namesrv_addrs.is_empty() {
            return config("no name server address");
        }
        if self.group.is_empty() {
            return config("the consumer group is empty");
        }
        if self.subscriptions.is_empty() {
            return config("no subscription");
        }
        let Some(listener) = self.listener else {
            return config("no listener");
        };
        if !matches!(
            self.consume_from_where,
            ConsumeFromWhere::LastOffset
                | ConsumeFromWhere::FirstOffset
                | ConsumeFromWhere::Timestamp
        ) {
            return config(
                "only CONSUME_FROM_LAST_OFFSET, CONSUME_FROM_FIRST_OFFSET and \
                 CONSUME_FROM_TIMESTAMP are supported (the others are deprecated in Java)",
            );
        }
        let orderly = matches!(listener, ListenerKind::Orderly(_));
        let max_reconsume_times = match self.max_reconsume_times {
            Some(times) if times < 0 => return config("max_reconsume_times must not be negative"),
            Some(times) => times,
            None if orderly => i32::MAX,
            None => MAX_RECONSUME_TIMES,
        };
        let intervals = [
            self.rebalance_interval,
            self.heartbeat_interval,
            self.persist_interval,
            self.suspend_current_queue_time,
        ];
        if intervals.iter().any(Duration::is_zero) {
            return config("the intervals must be positive");
        }
        let sub_version = crate::producer::now_ms();
        let retry_topic = retry_topic(&self.group);
        // Only a clustering group's failures come back through its retry topic.
        let retry =
            (self.message_model == MessageModel::Clustering).then_some((retry_topic.as_str(), "*"));
        let mut subscriptions = Vec::new();
        for (topic, expression) in self
            .subscriptions
            .iter()
            .map(|(t, e)| (t.as_str(), e.as_str()))
            .chain(retry)
        {
            if subscriptions
                .iter()
                .any(|s: &SubscriptionData| s.topic == topic)
            {
                return config("a topic is subscribed twice");
            }
            let mut subscription = SubscriptionData::from_expression(topic, expression);
            subscription.sub_version = sub_version;
            subscriptions.push(subscription);
        }
        let instance_name = self
            .instance_name
            .unwrap_or_else(|| std::process::id().to_string());
        let client_id = format!("{}@{instance_name}", crate::producer::local_ip());
        let local_offsets_path = (self.message_model == MessageModel::Broadcasting).then(|| {
            let dir = self
                .offset_store_dir
                .unwrap_or_else(local_offsets::default_dir);
            local_offsets::offsets_path(&dir, &client_id, &self.group)
        });
        let config = ConsumerConfig {
            group: self.group,
            namesrv_addrs,
            subscriptions,
            consume_from_where: self.consume_from_where,
            message_model: self.message_model,
            rebalance_interval: self.rebalance_interval,
            heartbeat_interval: self.heartbeat_interval,
            persist_interval: self.persist_interval,
            suspend_timeout: Duration::from_secs(15),
            admin_timeout: Duration::from_secs(3),
            max_reconsume_times,
            consume_timestamp_ms: self
                .consume_timestamp_ms
                .unwrap_or(sub_version - HALF_AN_HOUR_MS),
            orderly,
            suspend_current_queue_time: self.suspend_current_queue_time,
            local_offsets_path,
        };
        let rebalance_now = Arc::new(Notify::new());
        Ok(PushConsumer {
            instance: Arc::new(Instance::new(config, client_id, listener, rebalance_now)),
            state: Mutex::new(State::Created),
        })
    }
}

impl std::fmt::Debug for PushConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumerBuilder")
            .field("namesrv_addr", &self.namesrv_addr)
            .field("group", &self.group)
            .field("instance_name", &self.instance_name)
            .field("subscriptions", &self.subscriptions)
            .field("consume_from_where", &self.consume_from_where)
            .field("message_model", &self.message_model)
            .field("has_listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

/// `%RETRY%<group>`: where a group's handed-back messages come from.
pub fn retry_topic(group: &str) -> String {
    format!("%RETRY%{group}")
}

#[derive(Debug)]
enum State {
    Created,
    /// Between the first check of `start` and its background task running.
    Starting,
    Running {
        trigger: ShutdownTrigger,
        task: JoinHandle<()>,
    },
    Stopped,
}

/// A push consumer. Dropping it while running stops its tasks, but only
/// [`PushConsumer::shutdown`] commits offsets and unregisters.
pub struct PushConsumer {
    instance: Arc<Instance>,
    state: Mutex<State>,
}

impl std::fmt::Debug for PushConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer")
            .field("config", &self.instance.config)
            .field("client_id", &self.instance.client_id)
            .finish()
    }
}

impl PushConsumer {
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder {
            namesrv_addr: String::new(),
            group: String::new(),
            instance_name: None,
            subscriptions: Vec::new(),
            consume_from_where: ConsumeFromWhere::LastOffset,
            message_model: MessageModel::Clustering,
            listener: None,
            max_reconsume_times: None,
            consume_timestamp_ms: None,
            suspend_current_queue_time: Duration::from_secs(1),
            offset_store_dir: None,
            rebalance_interval: Duration::from_secs(20),
            heartbeat_interval: Duration::from_secs(30),
            persist_interval: Duration::from_secs(5),
        }
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.instance.config
    }

    /// `ip@instance`, the id brokers know this consumer by.
    pub fn client_id(&self) -> &str {
        &self.instance.client_id
    }

    /// The queues this consumer pulls from now.
    pub fn owned_queues(&self) -> Vec<MessageQueue> {
        self.instance.owned_queues()
    }

    /// Looks the subscribed topics up, sends heartbeats, takes its share of the queues and
    /// starts the background task. Starting twice, or after
    /// shutdown, is refused.
    pub async fn start(&self) -> Result<()> {
        {
            let mut state = self.state.lock();
            if !matches!(*state, State::Created) {
                return Err(ConsumerError::AlreadyStarted {
                    group: self.instance.config.group.clone(),
                });
            }
            *state = State::Starting;
        }
        if let Some(path) = &self.instance.config.local_offsets_path {
            match local_offsets::load(path) {
                Ok(offsets) => self.instance.offsets.lock().extend(offsets),
                Err(reason) => {
                    *self.state.lock() = State::Created;
                    return Err(ConsumerError::Config(reason));
                }
            }
        }
        self.instance.refresh_routes().await;
        for subscription in &self.instance.config.subscriptions {
            let topic = &subscription.topic;
            // A topic just created may not be registered yet (the retry topic is created
            // by the heartbeat below): every rebalance looks missing routes up again.
            if !self.instance.has_route(topic) {
                tracing::warn!(topic, "no route yet; looked up again at each rebalance");
            }
        }
        self.instance.heartbeat_all().await;
        self.instance.rebalance().await;
        let started = {
            let mut state = self.state.lock();
            let starting = matches!(*state, State::Starting);
            if starting {
                let (trigger, shutdown) = shutdown_channel();
                let task = tokio::spawn(instance::background(self.instance.clone(), shutdown));
                *state = State::Running { trigger, task };
            }
            starting
        };
        if !started {
            // Shut down while starting: undo what this start began.
            self.instance.stop_all_pulls().await;
            self.instance.commit_offsets().await;
            self.instance.unlock_all().await;
            self.instance.unregister().await;
            return Err(ConsumerError::AlreadyStarted {
                group: self.instance.config.group.clone(),
            });
        }
        Ok(())
    }

    /// Stops the background task and the pull loops, commits the offsets (or writes the
    /// broadcasting offsets file), releases queue locks and unregisters from every broker.
    /// Idempotent.
    pub async fn shutdown(&self) {
        let previous = std::mem::replace(&mut *self.state.lock(), State::Stopped);
        match previous {
            State::Running { trigger, task } => {
                trigger.trigger();
                if let Err(error) = task.await {
                    tracing::warn!("consumer background task failed: {error}");
                }
            }
            // The start still running sees `Stopped` and stops what it began.
            State::Created | State::Starting | State::Stopped => return,
        }
        self.instance.commit_offsets().await;
        // After the commit: whoever takes a queue next starts from the committed offset.
        self.instance.unlock_all().await;
        self.instance.unregister().await;
    }
}

impl Drop for PushConsumer {
    fn drop(&mut self) {
        // The background task ends when its trigger drops and then stops the pull loops;
        // this also stops loops of a start that never finished.
        self.instance.signal_all_pulls();
    }
}

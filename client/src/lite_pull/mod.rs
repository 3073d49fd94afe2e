//! A RocketMQ 4.x lite pull consumer (Java `DefaultLitePullConsumer`): background tasks fetch
//! each owned queue into a bounded buffer and the application takes messages with `poll`,
//! moves through queues with `seek`, and commits offsets itself or lets the consumer do it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bolide_client::lite_pull::LitePullError> {
//! use bolide_client::lite_pull::LitePullConsumer;
//! let consumer = LitePullConsumer::builder()
//!     .namesrv_addr("127.0.0.1:9876")
//!     .group("cg")
//!     .build()?;
//! consumer.subscribe("TopicTest", "TagA || TagB").await?;
//! consumer.start().await?;
//! loop {
//!     for message in consumer.poll().await? {
//!         println!("{} {}", message.queue_id, message.queue_offset);
//!     }
//! #   break;
//! }
//! consumer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Implemented:
//!
//! * Two exclusive modes, as in Java. `subscribe(topic, tags)`: the group's members share
//!   the queues (CLUSTERING): heartbeats say CONSUME_ACTIVELY, and the queues are split
//!   averagely every 20 s and at once when a broker sends NOTIFY_CONSUMER_IDS_CHANGED.
//!   `assign(queues)`: exactly those queues, every message (no tag filter), no rebalance.
//!   An assigning consumer sends no heartbeat (the pulls carry their subscription, so the
//!   broker needs none), so it is not counted as a member by subscribing members of its
//!   group; Java's does send one, with no subscriptions, and is given queues it never reads.
//! * One fetch task per owned queue: PULL_MESSAGE as Java's lite pull sends it (subscription
//!   in the header, long-polled up to 20 s, batches of `pull_batch_size`, default 10), tags
//!   re-checked exactly, zlib bodies inflated. A queue is not pulled while it buffers
//!   `pull_threshold_per_queue` messages (default 1000), so memory is bounded per queue.
//! * Masters and slaves (protocol.md §7), as the push consumer: a queue is pulled from the
//!   broker its last pull response suggested, else its master, else a slave, moving on at
//!   once from a broker that cannot be reached; offset requests go to the master, else a
//!   slave. A queue whose master has died is read on from its slave.
//! * `poll` gives up to `pull_batch_size` buffered messages of one queue (queues served in
//!   turn, paused ones skipped), waiting up to its timeout (default 5 s), and moves that
//!   queue's consumed offset past them. A queue without a committed offset starts per
//!   `consume_from_where` (last offset by default, or the first).
//! * `seek`, `seek_to_begin`, `seek_to_end` (within the queue's stored range;
//!   `offset_for_timestamp` finds where a point in time starts): the next messages of that
//!   queue come from there, buffered ones are dropped. `pause` stops a queue's fetching and
//!   keeps its buffered messages from `poll` until `resume`.
//! * Offsets: `committed` asks the broker; `commit_sync` sends every consumed offset and
//!   waits for the answers; with `auto_commit` (default) `poll` commits, at most every 5 s,
//!   the offsets consumed by the polls before it (as Java does, so a message counts as
//!   consumed once the application asks for more), a queue given up in a rebalance commits
//!   its offset, and `shutdown` commits everything before it unregisters.
//! * `shutdown` stops every task, fails polls that are waiting, commits (with auto-commit),
//!   unregisters and closes the broker connections; dropping a running consumer only stops
//!   its tasks.
//!
//! Not implemented: BROADCASTING, CONSUME_FROM_TIMESTAMP (use `offset_for_timestamp` and
//! `seek`), SQL92 filters, a tag filter for assigned queues (Java
//! `setSubExpressionForAssign`), `unsubscribe`, committing chosen offsets
//! (`commit(offsets)`) or asynchronously, topic queue-change listeners, the `%RETRY%group`
//! subscription Java adds in CLUSTERING
//! (nothing here sends messages back, so it would stay empty), a heartbeat from an assigning
//! consumer (see above), message hooks, namespaces, a total (all-queue) buffer limit or a
//! buffer size limit in bytes. A route that cannot be found at `start` is looked up again
//! only at the next heartbeat (assign mode, 30 s by default) or rebalance (subscribe mode,
//! 20 s), not by the fetch tasks that need it.

mod error;
mod fetch;
mod group;
mod remote;
mod table;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::protocol::heartbeat::{ConsumeFromWhere, MessageModel, MessageQueue};
pub use crate::protocol::message::StoredMessage;
pub use error::{LitePullError, Result};

use crate::namesrv::parse_namesrv_addrs;
use crate::protocol::heartbeat::SubscriptionData;
use crate::remoting::{RemotingClient, ShutdownTrigger, shutdown_channel};
use remote::{Remote, readable_queues};
use table::QueueTable;

/// Messages asked for per pull, and the most one poll returns (Java `pullBatchSize`).
pub const DEFAULT_PULL_BATCH_SIZE: usize = 10;
/// The largest pull batch accepted (Java's limit for push consumers).
pub const MAX_PULL_BATCH_SIZE: usize = 1024;
/// Buffered messages per queue at which fetching pauses (Java `pullThresholdForQueue`).
pub const DEFAULT_PULL_THRESHOLD_PER_QUEUE: usize = 1000;
/// The largest per-queue threshold accepted.
pub const MAX_PULL_THRESHOLD_PER_QUEUE: usize = 65_536;
/// The shortest auto-commit interval (Java `MIN_AUTOCOMMIT_INTERVAL_MILLIS`).
pub const MIN_AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(1);
const _: () = assert!(DEFAULT_PULL_BATCH_SIZE <= DEFAULT_PULL_THRESHOLD_PER_QUEUE);

/// Settings fixed when the consumer is built.
#[derive(Debug, Clone)]
pub struct LitePullConfig {
    pub group: String,
    pub namesrv_addrs: Vec<String>,
    /// `ip@instance`, the id brokers know this consumer by.
    pub client_id: String,
    /// Where a queue without a committed offset starts.
    pub consume_from_where: ConsumeFromWhere,
    /// Always CLUSTERING: the only model implemented.
    pub message_model: MessageModel,
    pub pull_batch_size: usize,
    pub pull_threshold_per_queue: usize,
    pub auto_commit: bool,
    pub auto_commit_interval: Duration,
    /// How long `poll()` waits for messages.
    pub poll_timeout: Duration,
    /// Java 20 s.
    pub rebalance_interval: Duration,
    /// How often routes are refreshed and brokers sent a heartbeat. Java 30 s.
    pub heartbeat_interval: Duration,
    /// How long the broker may hold a pull that finds nothing. Java 20 s.
    pub broker_suspend: Duration,
    /// How long a pull may take in all, beyond the broker's hold. Java 30 s.
    pub pull_timeout: Duration,
    /// Timeout of each request besides pulls.
    pub request_timeout: Duration,
}

/// Builds a [`LitePullConsumer`]; defaults are Java's.
#[derive(Debug)]
pub struct LitePullConsumerBuilder {
    namesrv_addr: String,
    group: String,
    instance_name: Option<String>,
    consume_from_where: ConsumeFromWhere,
    pull_batch_size: usize,
    pull_threshold_per_queue: usize,
    auto_commit: bool,
    auto_commit_interval: Duration,
    poll_timeout: Duration,
    rebalance_interval: Duration,
    heartbeat_interval: Duration,
}

impl LitePullConsumerBuilder {
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
    /// Two members of one group in one process need different names.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.instance_name = Some(name.into());
        self
    }

    /// `LastOffset` (default) or `FirstOffset`.
    pub fn consume_from_where(mut self, from: ConsumeFromWhere) -> Self {
        self.consume_from_where = from;
        self
    }

    /// Default 10, at most [`MAX_PULL_BATCH_SIZE`].
    pub fn pull_batch_size(mut self, size: usize) -> Self {
        self.pull_batch_size = size;
        self
    }

    /// Default 1000; at least the pull batch size.
    pub fn pull_threshold_per_queue(mut self, messages: usize) -> Self {
        self.pull_threshold_per_queue = messages;
        self
    }

    /// Default true: offsets are committed by `poll` and at shutdown.
    pub fn auto_commit(mut self, enabled: bool) -> Self {
        self.auto_commit = enabled;
        self
    }

    /// Default 5 s, at least 1 s.
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// How long [`LitePullConsumer::poll`] waits; default 5 s.
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
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

    pub fn build(self) -> Result<LitePullConsumer> {
        let config = |reason: &str| Err(LitePullError::Config(reason.to_owned()));
        let namesrv_addrs = parse_namesrv_addrs(&self.namesrv_addr);
        if namesrv_addrs.is_empty() {
            return config("no name server address");
        }
        if self.group.is_empty() {
            return config("the consumer group is empty");
        }
        if !matches!(
            self.consume_from_where,
            ConsumeFromWhere::LastOffset | ConsumeFromWhere::FirstOffset
        ) {
            return config(
                "only CONSUME_FROM_LAST_OFFSET and CONSUME_FROM_FIRST_OFFSET are supported",
            );
        }
        if !(1..=MAX_PULL_BATCH_SIZE).contains(&self.pull_batch_size) {
            return config("the pull batch size must be within 1..=1024");
        }
        if !(self.pull_batch_size..=MAX_PULL_THRESHOLD_PER_QUEUE)
            .contains(&self.pull_threshold_per_queue)
        {
            return config("the per-queue threshold must be within the batch size..=65536");
        }
        if self.auto_commit_interval < MIN_AUTO_COMMIT_INTERVAL {
            return config("the auto-commit interval must be at least 1 s");
        }
        if self.rebalance_interval.is_zero() || self.heartbeat_interval.is_zero() {
            return config("the intervals must be positive");
        }
        let instance_name = self
            .instance_name
            .unwrap_or_else(|| std::process::id().to_string());
        let config = LitePullConfig {
            group: self.group,
            namesrv_addrs,
            client_id: format!("{}@{instance_name}", crate::producer::local_ip()),
            consume_from_where: self.consume_from_where,
            message_model: MessageModel::Clustering,
            pull_batch_size: self.pull_batch_size,
            pull_threshold_per_queue: self.pull_threshold_per_queue,
            auto_commit: self.auto_commit,
            auto_commit_interval: self.auto_commit_interval,
            poll_timeout: self.poll_timeout,
            rebalance_interval: self.rebalance_interval,
            heartbeat_interval: self.heartbeat_interval,
            broker_suspend: Duration::from_secs(20),
            pull_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(3),
        };
        Ok(LitePullConsumer {
            shared: Arc::new(Shared::new(config)),
            state: Mutex::new(State::Created),
        })
    }
}

/// Which of the two exclusive ways of choosing queues is in use.
#[derive(Debug)]
enum Mode {
    Unset,
    Subscribe(Vec<SubscriptionData>),
    Assign(BTreeSet<MessageQueue>),
}

/// One owned queue's fetch task, the trigger that stops it and the wake-up it listens to.
#[derive(Debug)]
struct FetchTask {
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
    wake: Arc<Notify>,
}

impl FetchTask {
    async fn stop(self) {
        self.trigger.trigger();
        if let Err(error) = self.task.await {
            tracing::warn!("fetch task failed: {error}");
        }
    }
}

/// What the consumer handle, its background task and its fetch tasks share.
#[derive(Debug)]
struct Shared {
    config: LitePullConfig,
    remote: Remote,
    table: Mutex<QueueTable>,
    tasks: Mutex<HashMap<MessageQueue, FetchTask>>,
    mode: Mutex<Mode>,
    /// Woken when a fetch task buffers messages: `poll` waits on it.
    arrived: Notify,
    rebalance_now: Arc<Notify>,
    next_auto_commit: Mutex<Instant>,
    /// Set by `shutdown` before it stops the fetch tasks: no new ones start after it, even
    /// from a `subscribe`, `assign` or rebalance that was already under way.
    closed: AtomicBool,
}

impl Shared {
    fn new(config: LitePullConfig) -> Shared {
        let rebalance_now = Arc::new(Notify::new());
        let handler = group::NotifyHandler {
            group: config.group.clone(),
            rebalance_now: rebalance_now.clone(),
        };
        let remoting = Arc::new(
            RemotingClient::new(Default::default()).with_inbound_handler(Arc::new(handler)),
        );
        let remote = Remote::new(
            remoting,
            config.namesrv_addrs.clone(),
            config.group.clone(),
            config.client_id.clone(),
            config.request_timeout,
        );
        Shared {
            table: Mutex::new(QueueTable::new(config.pull_threshold_per_queue)),
            next_auto_commit: Mutex::new(Instant::now() + config.auto_commit_interval),
            config,
            remote,
            tasks: Mutex::new(HashMap::new()),
            mode: Mutex::new(Mode::Unset),
            arrived: Notify::new(),
            rebalance_now,
            closed: AtomicBool::new(false),
        }
    }

    /// Where a newly owned queue starts: the committed offset, else per
    /// `consume_from_where`.
    async fn start_offset(&self, queue: &MessageQueue) -> Result<i64> {
        if let Some(offset) = self.remote.query_offset(queue).await? {
            return Ok(offset);
        }
        match self.config.consume_from_where {
            ConsumeFromWhere::FirstOffset => Ok(0),
            _ => self.remote.max_offset(queue).await,
        }
    }

    /// Commits every consumed offset; the failures, described.
    async fn commit_all(&self, oneway: bool) -> Vec<String> {
        let offsets = self.table.lock().consumed_offsets();
        let mut failures = Vec::new();
        for (queue, offset) in offsets {
            if let Err(error) = self.remote.commit(&queue, offset, oneway).await {
                failures.push(format!("{queue:?}: {error}"));
            }
        }
        failures
    }

    /// Starts using the chosen queues: the first heartbeat and rebalance, or the assignment.
    async fn apply_mode(self: &Arc<Self>) {
        self.refresh_routes().await;
        let assigned = match &*self.mode.lock() {
            Mode::Assign(queues) => Some(queues.clone()),
            Mode::Subscribe(_) | Mode::Unset => None,
        };
        match assigned {
            Some(queues) => self.set_queues(queues, |_| false, |_| None).await,
            None => {
                self.heartbeat().await;
                self.rebalance().await;
            }
        }
    }
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

/// A lite pull consumer; see the module documentation. Dropping it stops its tasks, but only
/// [`LitePullConsumer::shutdown`] commits offsets and unregisters.
#[derive(Debug)]
pub struct LitePullConsumer {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

impl LitePullConsumer {
    pub fn builder() -> LitePullConsumerBuilder {
        LitePullConsumerBuilder {
            namesrv_addr: String::new(),
            group: String::new(),
            instance_name: None,
            consume_from_where: ConsumeFromWhere::LastOffset,
            pull_batch_size: DEFAULT_PULL_BATCH_SIZE,
            pull_threshold_per_queue: DEFAULT_PULL_THRESHOLD_PER_QUEUE,
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            poll_timeout: Duration::from_secs(5),
            rebalance_interval: Duration::from_secs(20),
            heartbeat_interval: Duration::from_secs(30),
        }
    }

    pub fn config(&self) -> &LitePullConfig {
        &self.shared.config
    }

    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    fn state_error(&self, reason: &'static str) -> LitePullError {
        LitePullError::State {
            group: self.shared.config.group.clone(),
            reason,
        }
    }

    fn is_running(&self) -> Result<bool> {
        match *self.state.lock() {
            State::Created => Ok(false),
            State::Running { .. } => Ok(true),
            State::Stopped => Err(self.state_error("shut down")),
        }
    }

    fn ensure_running(&self) -> Result<()> {
        if self.is_running()? {
            return Ok(());
        }
        Err(self.state_error("not started"))
    }

    /// Starts the background task and begins fetching what `subscribe` or `assign` chose
    /// (either may also come later). Starting twice, or after shutdown, is refused.
    pub async fn start(&self) -> Result<()> {
        {
            let mut state = self.state.lock();
            if !matches!(*state, State::Created) {
                return Err(self.state_error("starts once, and not after shutdown"));
            }
            let (trigger, shutdown) = shutdown_channel();
            let task = tokio::spawn(group::background(self.shared.clone(), shutdown));
            *state = State::Running { trigger, task };
        }
        self.shared.apply_mode().await;
        Ok(())
    }

    /// Subscribes to `topic` with a TAG expression (`*`, or tags joined by `||`); the group's
    /// members share its queues. Refused after `assign`, or for a topic already subscribed.
    pub async fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        let running = self.is_running()?;
        {
            let mut mode = self.shared.mode.lock();
            if let Mode::Unset = &*mode {
                *mode = Mode::Subscribe(Vec::new());
            }
            let Mode::Subscribe(subscriptions) = &mut *mode else {
                return Err(LitePullError::Mode("subscribe after assign"));
            };
            if subscriptions.iter().any(|s| s.topic == topic) {
                return Err(LitePullError::Config(format!(
                    "topic {topic} is subscribed already"
                )));
            }
            let mut subscription = SubscriptionData::from_expression(topic, expression);
            subscription.sub_version = crate::producer::now_ms();
            subscriptions.push(subscription);
        }
        if running {
            self.shared.apply_mode().await;
        }
        Ok(())
    }

    /// Reads exactly `queues` (replacing an earlier assignment), with no rebalancing.
    /// Refused after `subscribe`.
    pub async fn assign(&self, queues: Vec<MessageQueue>) -> Result<()> {
        let running = self.is_running()?;
        if queues.is_empty() {
            return Err(LitePullError::Config("no queue to assign".to_owned()));
        }
        {
            let mut mode = self.shared.mode.lock();
            if let Mode::Subscribe(_) = &*mode {
                return Err(LitePullError::Mode("assign after subscribe"));
            }
            *mode = Mode::Assign(queues.into_iter().collect());
        }
        if running {
            self.shared.apply_mode().await;
        }
        Ok(())
    }

    /// `topic`'s readable queues, looked up now.
    pub async fn fetch_message_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = self.shared.remote.refresh_route(topic).await?;
        Ok(readable_queues(topic, &route).0)
    }

    /// The queues this consumer fetches from now.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        self.shared.table.lock().queues()
    }

    /// [`LitePullConsumer::poll_timeout`] with the configured timeout.
    pub async fn poll(&self) -> Result<Vec<StoredMessage>> {
        self.poll_timeout(self.shared.config.poll_timeout).await
    }

    /// Up to `pull_batch_size` buffered messages of one queue, in queue order, waiting up
    /// to `timeout` for some; empty when none came. Their queue's consumed offset moves past
    /// them. A poll waiting when `shutdown` begins fails at once, as later ones do.
    pub async fn poll_timeout(&self, timeout: Duration) -> Result<Vec<StoredMessage>> {
        self.ensure_running()?;
        self.maybe_auto_commit().await;
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so that a delivery in between is not missed.
            arrived.as_mut().enable();
            if self.shared.closed.load(Ordering::SeqCst) {
                return Err(self.state_error("shut down"));
            }
            let taken = self
                .shared
                .table
                .lock()
                .take(self.shared.config.pull_batch_size);
            if let Some(taken) = taken {
                if taken.was_full {
                    self.wake(&taken.queue);
                }
                return Ok(taken.messages);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn maybe_auto_commit(&self) {
        if !self.shared.config.auto_commit {
            return;
        }
        {
            let mut next = self.shared.next_auto_commit.lock();
            let now = Instant::now();
            if now < *next {
                return;
            }
            *next = now + self.shared.config.auto_commit_interval;
        }
        for failure in self.shared.commit_all(true).await {
            tracing::warn!("auto-commit failed: {failure}");
        }
    }

    fn wake(&self, queue: &MessageQueue) {
        if let Some(task) = self.shared.tasks.lock().get(queue) {
            task.wake.notify_one();
        }
    }

    /// Makes `queue`'s next messages start at `offset`, which must be within the queue's
    /// stored range (its min to max offset); buffered messages of the queue are dropped.
    pub async fn seek(&self, queue: &MessageQueue, offset: i64) -> Result<()> {
        self.ensure_running()?;
        self.ensure_owned(queue)?;
        let min = self.shared.remote.min_offset(queue).await?;
        let max = self.shared.remote.max_offset(queue).await?;
        if !(min..=max).contains(&offset) {
            return Err(LitePullError::SeekOutOfRange {
                queue: queue.clone(),
                offset,
                min,
                max,
            });
        }
        if !self.shared.table.lock().seek(queue, offset) {
            return Err(LitePullError::NotAssigned(queue.clone()));
        }
        self.wake(queue);
        Ok(())
    }

    /// The offset of `queue`'s first message stored at or after `timestamp_ms` (Java
    /// `offsetForTimestamp`), to hand to [`LitePullConsumer::seek`].
    pub async fn offset_for_timestamp(
        &self,
        queue: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64> {
        self.is_running()?;
        if self.shared.remote.admin_addr(queue).is_err() {
            self.shared.remote.refresh_route(&queue.topic).await?;
        }
        self.shared.remote.search_offset(queue, timestamp_ms).await
    }

    /// Seeks to the first offset `queue` still stores.
    pub async fn seek_to_begin(&self, queue: &MessageQueue) -> Result<()> {
        self.ensure_running()?;
        let min = self.shared.remote.min_offset(queue).await?;
        self.seek(queue, min).await
    }

    /// Seeks past the last message `queue` stores: only newer ones will come.
    pub async fn seek_to_end(&self, queue: &MessageQueue) -> Result<()> {
        self.ensure_running()?;
        let max = self.shared.remote.max_offset(queue).await?;
        self.seek(queue, max).await
    }

    fn ensure_owned(&self, queue: &MessageQueue) -> Result<()> {
        if self.shared.table.lock().contains(queue) {
            return Ok(());
        }
        Err(LitePullError::NotAssigned(queue.clone()))
    }

    /// The group's committed offset of `queue` at the broker (QUERY_CONSUMER_OFFSET);
    /// `None` when it has none.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        self.is_running()?;
        if self.shared.remote.admin_addr(queue).is_err() {
            self.shared.remote.refresh_route(&queue.topic).await?;
        }
        self.shared.remote.query_offset(queue).await
    }

    /// Commits the consumed offset of every owned queue and waits for the brokers to
    /// confirm.
    pub async fn commit_sync(&self) -> Result<()> {
        self.ensure_running()?;
        let failures = self.shared.commit_all(false).await;
        if failures.is_empty() {
            return Ok(());
        }
        Err(LitePullError::Remote(format!(
            "commit failed: {}",
            failures.join("; ")
        )))
    }

    /// Stops fetching `queues` and hides their buffered messages from `poll`.
    pub fn pause(&self, queues: &[MessageQueue]) -> Result<()> {
        self.set_paused(queues, true)
    }

    /// Fetches `queues` again; their buffered messages are at once available to `poll`,
    /// one that waits included.
    pub fn resume(&self, queues: &[MessageQueue]) -> Result<()> {
        self.set_paused(queues, false)?;
        for queue in queues {
            self.wake(queue);
        }
        self.shared.arrived.notify_waiters();
        Ok(())
    }

    fn set_paused(&self, queues: &[MessageQueue], paused: bool) -> Result<()> {
        let mut table = self.shared.table.lock();
        if let Some(unknown) = queues.iter().find(|q| !table.contains(q)) {
            return Err(LitePullError::NotAssigned(unknown.clone()));
        }
        for queue in queues {
            table.set_paused(queue, paused);
        }
        Ok(())
    }

    /// Stops the background and fetch tasks, commits (with auto-commit) and unregisters
    /// from every broker that took a heartbeat. Idempotent.
    pub async fn shutdown(&self) {
        let previous = std::mem::replace(&mut *self.state.lock(), State::Stopped);
        let State::Running { trigger, task } = previous else {
            return;
        };
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.arrived.notify_waiters();
        trigger.trigger();
        if let Err(error) = task.await {
            tracing::warn!("lite pull background task failed: {error}");
        }
        self.shared.stop_fetching().await;
        if self.shared.config.auto_commit {
            for failure in self.shared.commit_all(false).await {
                tracing::warn!("commit at shutdown failed: {failure}");
            }
        }
        self.shared.remote.unregister().await;
    }
}

impl Drop for LitePullConsumer {
    fn drop(&mut self) {
        if let State::Running { trigger, .. } = &*self.state.lock() {
            trigger.trigger();
        }
        for task in self.shared.tasks.lock().values() {
            task.trigger.trigger();
        }
    }
}

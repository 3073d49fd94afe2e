//! A push consumer's shared state and its conversations with name servers and brokers
//! besides pulling and offsets: routes, heartbeats, rebalancing (which queues this member
//! owns, one pull task each), unregistration; and the one background task that drives them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::allocate::allocate_averagely;
use super::broker_choice::{self, PullFromTable};
use super::{ConsumerConfig, ListenerKind, pull};
use crate::producer::route_source::{RouteSource, unregister_client};
use crate::protocol::body::{ConsumerListBody, ResetOffsetBody};
use crate::protocol::broker_header::{
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    ResetOffsetRequestHeader, UnregisterClientRequestHeader,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{
    ConsumeType, ConsumerData, HeartbeatData, LockBatchRequestBody, LockBatchResponseBody,
    MessageModel, MessageQueue, SubscriptionData, UnlockBatchRequestBody,
};
use crate::protocol::route::{BrokerData, TopicRouteData, perm};
use crate::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{
    InboundRequestHandler, RemotingClient, Shutdown, ShutdownTrigger, shutdown_channel, ticker,
};

/// The least time between two heartbeats triggered by refusals.
const EARLY_HEARTBEAT_SPACING: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a granted queue lock counts as held without renewal (Java
/// `rebalance.lockMaxLiveTime`): well under the broker's 60 s expiry, so this member stops
/// consuming before the broker could give the queue to another.
pub const LOCK_LIFETIME: Duration = Duration::from_secs(30);
/// How often held locks are renewed (Java `rebalance.lockInterval`).
const LOCK_RENEW_INTERVAL: Duration = Duration::from_secs(20);

/// One owned queue's pull loop and the trigger that stops it.
#[derive(Debug)]
struct PullTask {
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl PullTask {
    async fn stop(self) {
        self.trigger.trigger();
        if let Err(error) = self.task.await {
            tracing::warn!("pull loop failed: {error}");
        }
    }
}

/// Turns the broker's NOTIFY_CONSUMER_IDS_CHANGED into a prompt rebalance, and its
/// RESET_CONSUMER_CLIENT_OFFSET (sent after an admin's INVOKE_BROKER_TO_RESET_OFFSET) into
/// new offsets for the background task to adopt.
struct NotifyHandler {
    group: String,
    rebalance_now: Arc<Notify>,
    resets: mpsc::UnboundedSender<BTreeMap<MessageQueue, i64>>,
}

impl InboundRequestHandler for NotifyHandler {
    fn handle(&self, addr: &str, request: RemotingCommand) -> Option<RemotingCommand> {
        match request.code {
            RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                match NotifyConsumerIdsChangedRequestHeader::from_ext_fields(&request.ext_fields) {
                    Ok(header) if header.consumer_group == self.group => {
                        self.rebalance_now.notify_one();
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(addr, %error, "bad NOTIFY_CONSUMER_IDS_CHANGED"),
                }
            }
            RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                let header = ResetOffsetRequestHeader::from_ext_fields(&request.ext_fields);
                match (header, ResetOffsetBody::decode(&request.body)) {
                    (Ok(header), Ok(body)) if header.group == self.group => {
                        tracing::info!(addr, topic = %header.topic, "offsets reset by the broker");
                        // The receiver goes only with the consumer itself.
                        let _ = self.resets.send(body.offset_table);
                    }
                    (Ok(_), Ok(_)) => {}
                    (Err(error), _) | (_, Err(error)) => {
                        tracing::warn!(addr, %error, "bad RESET_CONSUMER_CLIENT_OFFSET");
                    }
                }
            }
            code => tracing::debug!(addr, code, "broker request not handled"),
        }
        None
    }
}

/// Everything the consumer handle, its background task and its pull loops share.
pub(super) struct Instance {
    pub config: ConsumerConfig,
    /// `ip@instance`, the id brokers know this client by.
    pub client_id: String,
    pub remoting: Arc<RemotingClient>,
    pub listener: ListenerKind,
    rebalance_now: Arc<Notify>,
    route_source: RouteSource,
    routes: RwLock<HashMap<String, TopicRouteData>>,
    /// The consumed offset of every owned queue: the next message to consume. Only the
    /// queue's pull loop moves it; queues given up are removed once committed.
    pub offsets: Mutex<HashMap<MessageQueue, i64>>,
    /// Which broker (master or slave) each queue's next pull goes to.
    pub pull_from: PullFromTable,
    owned: Mutex<HashMap<MessageQueue, PullTask>>,
    /// Broker addresses that accepted a heartbeat: sent UNREGISTER_CLIENT at shutdown.
    heartbeated: Mutex<HashSet<String>>,
    /// When a broker's refusal last triggered an early heartbeat (see
    /// [`Instance::heartbeat_after_refusal`]).
    early_heartbeat: Mutex<Option<std::time::Instant>>,
    /// Orderly CLUSTERING: when the broker last granted each queue's lock to this member.
    locks: Mutex<HashMap<MessageQueue, Instant>>,
    /// Offset tables the broker told this member to adopt; taken by the background task.
    resets: Mutex<Option<mpsc::UnboundedReceiver<BTreeMap<MessageQueue, i64>>>>,
}

impl Instance {
    pub fn new(
        config: ConsumerConfig,
        client_id: String,
        listener: ListenerKind,
        rebalance_now: Arc<Notify>,
    ) -> Instance {
        let (reset_sender, resets) = mpsc::unbounded_channel();
        let handler = NotifyHandler {
            group: config.group.clone(),
            rebalance_now: rebalance_now.clone(),
            resets: reset_sender,
        };
        let remoting = Arc::new(
            RemotingClient::new(Default::default()).with_inbound_handler(Arc::new(handler)),
        );
        let route_source = RouteSource::new(
            remoting.clone(),
            config.namesrv_addrs.clone(),
            config.admin_timeout,
        );
        Instance {
            config,
            client_id,
            remoting,
            listener,
            rebalance_now,
            route_source,
            routes: RwLock::new(HashMap::new()),
            offsets: Mutex::new(HashMap::new()),
            pull_from: PullFromTable::default(),
            owned: Mutex::new(HashMap::new()),
            heartbeated: Mutex::new(HashSet::new()),
            early_heartbeat: Mutex::new(None),
            locks: Mutex::new(HashMap::new()),
            resets: Mutex::new(Some(resets)),
        }
    }

    pub fn subscription(&self, topic: &str) -> Option<&SubscriptionData> {
        self.config.subscriptions.iter().find(|s| s.topic == topic)
    }

    pub fn is_broadcasting(&self) -> bool {
        self.config.message_model == MessageModel::Broadcasting
    }

    pub fn has_route(&self, topic: &str) -> bool {
        self.routes.read().contains_key(topic)
    }

    pub fn owned_queues(&self) -> Vec<MessageQueue> {
        let mut queues: Vec<_> = self.owned.lock().keys().cloned().collect();
        queues.sort();
        queues
    }

    /// `queue`'s broker entry (master and slaves), from the cached routes.
    pub fn broker_data(&self, queue: &MessageQueue) -> Option<BrokerData> {
        let routes = self.routes.read();
        broker_choice::find_broker(&routes, &queue.topic, &queue.broker_name).cloned()
    }

    /// The master address of `queue`'s broker: for writes and locks, which slaves refuse.
    pub fn master_addr(&self, queue: &MessageQueue) -> Option<String> {
        self.broker_data(queue)
            .and_then(|broker| broker.master_addr().map(str::to_owned))
    }

    /// Where `queue`'s offset requests go: its master, else a slave (protocol.md §7).
    pub fn admin_addr(&self, queue: &MessageQueue) -> Result<String, String> {
        let broker = self
            .broker_data(queue)
            .ok_or_else(|| format!("no route knows broker {}", queue.broker_name))?;
        broker_choice::admin_addr(&broker)
            .map(str::to_owned)
            .ok_or_else(|| format!("no address known for broker {}", queue.broker_name))
    }

    /// Looks every subscribed topic up again; a failed lookup keeps the old route.
    pub async fn refresh_routes(&self) {
        for subscription in &self.config.subscriptions {
            let topic = &subscription.topic;
            match self.route_source.route(topic).await {
                Ok(Some(route)) => {
                    self.routes.write().insert(topic.clone(), route);
                }
                Ok(None) => tracing::debug!(topic, "no route yet"),
                Err(reason) => tracing::warn!(topic, "keeping the cached route: {reason}"),
            }
        }
    }

    fn heartbeat_request(&self) -> RemotingCommand {
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: vec![ConsumerData {
                consume_from_where: self.config.consume_from_where,
                consume_type: ConsumeType::Passively,
                group_name: self.config.group.clone(),
                message_model: self.config.message_model,
                subscription_data_set: self.config.subscriptions.clone(),
                unit_mode: false,
            }],
            producer_data_set: Vec::new(),
        };
        RemotingCommand::request(RequestCode::HEART_BEAT, ExtFields::new()).with_body(data.encode())
    }

    /// A broker answered a pull with "no such subscription": it restarted (a master back
    /// after a crash) and has not heard this group yet. Heartbeats go out now instead of at
    /// the next 30 s tick, at most once a second.
    pub async fn heartbeat_after_refusal(&self) {
        {
            let mut last = self.early_heartbeat.lock();
            if last.is_some_and(|at| at.elapsed() < EARLY_HEARTBEAT_SPACING) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        self.heartbeat_all().await;
    }

    /// HEART_BEAT to every broker (masters and slaves) of every cached route.
    pub async fn heartbeat_all(&self) {
        let addrs: BTreeSet<String> = self
            .routes
            .read()
            .values()
            .flat_map(|route| route.broker_datas.iter())
            .flat_map(|broker| broker.broker_addrs.values().cloned())
            .collect();
        for addr in addrs {
            let result = self
                .remoting
                .invoke(&addr, self.heartbeat_request(), self.config.admin_timeout)
                .await;
            match result {
                Ok(response) if response.code == ResponseCode::SUCCESS => {
                    self.heartbeated.lock().insert(addr);
                }
                Ok(response) => tracing::warn!(
                    "heartbeat to {addr} refused: code {}, {}",
                    response.code,
                    response.remark_text()
                ),
                Err(error) => tracing::warn!("heartbeat to {addr} failed: {error}"),
            }
        }
    }

    /// Splits every subscribed topic's queues among the group again, stops the pull loops
    /// of queues no longer ours (committing their offsets) and starts loops for new ones. A
    /// topic whose split cannot be computed keeps its current queues.
    pub async fn rebalance(self: &Arc<Self>) {
        let mut wanted = HashSet::new();
        let mut unsettled = HashSet::new();
        for subscription in &self.config.subscriptions {
            let topic = &subscription.topic;
            match self.allocate(topic).await {
                Ok(queues) => wanted.extend(queues),
                Err(reason) => {
                    tracing::debug!(topic, "keeping the current queues: {reason}");
                    unsettled.insert(topic.clone());
                }
            }
        }
        let dropped: Vec<(MessageQueue, PullTask)> = {
            let mut owned = self.owned.lock();
            let gone: Vec<MessageQueue> = owned
                .keys()
                .filter(|q| !wanted.contains(*q) && !unsettled.contains(&q.topic))
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|q| owned.remove(&q).map(|task| (q, task)))
                .collect()
        };
        for (queue, task) in dropped {
            tracing::info!(?queue, "queue given up");
            task.stop().await;
            self.pull_from.forget(&queue);
            if self.is_broadcasting() {
                // Kept in memory, in case the queue comes back.
                continue;
            }
            let offset = self.offsets.lock().remove(&queue);
            if let Some(offset) = offset {
                self.commit(&queue, offset).await;
            }
            // Only after the commit: the next owner reads the offset once it holds the lock.
            self.unlock(std::slice::from_ref(&queue)).await;
        }
        let mut owned = self.owned.lock();
        for queue in wanted {
            if owned.contains_key(&queue) {
                continue;
            }
            tracing::info!(?queue, "queue taken");
            self.start_pull(&mut owned, queue);
        }
    }

    fn start_pull(
        self: &Arc<Self>,
        owned: &mut HashMap<MessageQueue, PullTask>,
        queue: MessageQueue,
    ) {
        let (trigger, shutdown) = shutdown_channel();
        let task = tokio::spawn(pull::pull_loop(self.clone(), queue.clone(), shutdown));
        owned.insert(queue, PullTask { trigger, task });
    }

    /// Adopts offsets the broker reset (Java `resetOffset`): each owned queue of `table`
    /// stops its pull loop, takes the new offset (committed at once, so that a commit of the
    /// old offset racing the reset cannot undo it) and starts again from there; messages
    /// pulled but not yet consumed are dropped. Queues this member does not own are left to
    /// their owners, and the broker already holds their new offsets.
    pub async fn reset_offsets(self: &Arc<Self>, table: BTreeMap<MessageQueue, i64>) {
        for (queue, offset) in table {
            let Some(task) = self.owned.lock().remove(&queue) else {
                continue;
            };
            task.stop().await;
            tracing::info!(?queue, offset, "offset reset");
            self.offsets.lock().insert(queue.clone(), offset);
            self.commit(&queue, offset).await;
            let mut owned = self.owned.lock();
            if !owned.contains_key(&queue) {
                self.start_pull(&mut owned, queue);
            }
        }
        if self.is_broadcasting() {
            self.commit_offsets().await;
        }
    }

    /// This member's share of `topic`'s readable queues.
    async fn allocate(&self, topic: &str) -> Result<Vec<MessageQueue>, String> {
        if !self.has_route(topic) {
            match self.route_source.route(topic).await? {
                Some(route) => {
                    self.routes.write().insert(topic.to_owned(), route);
                    self.heartbeat_all().await;
                }
                None => return Err("no route".to_owned()),
            }
        }
        let (queues, addrs) = {
            let routes = self.routes.read();
            let route = routes.get(topic).ok_or("no route")?;
            readable_queues(topic, route)
        };
        if queues.is_empty() || self.is_broadcasting() {
            return Ok(queues);
        }
        let client_ids = self.consumer_ids(&addrs).await?;
        Ok(allocate_averagely(queues, client_ids, &self.client_id))
    }

    /// GET_CONSUMER_LIST_BY_GROUP from the first of `addrs` that answers.
    async fn consumer_ids(&self, addrs: &BTreeSet<String>) -> Result<Vec<String>, String> {
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: self.config.group.clone(),
        };
        let mut failures = Vec::new();
        for addr in addrs {
            let request = RemotingCommand::request(
                RequestCode::GET_CONSUMER_LIST_BY_GROUP,
                header.to_ext_fields(),
            );
            match self
                .remoting
                .invoke(addr, request, self.config.admin_timeout)
                .await
            {
                Ok(response) if response.code == ResponseCode::SUCCESS => {
                    return ConsumerListBody::decode(&response.body)
                        .map(|body| body.consumer_id_list)
                        .map_err(|error| format!("{addr}: {error}"));
                }
                Ok(response) => failures.push(format!(
                    "{addr}: code {}, {}",
                    response.code,
                    response.remark_text()
                )),
                Err(error) => failures.push(error.to_string()),
            }
        }
        Err(format!("no consumer list: {}", failures.join("; ")))
    }

    /// Tells every pull loop to stop, without waiting (for `Drop`).
    pub fn signal_all_pulls(&self) {
        for task in self.owned.lock().values() {
            task.trigger.trigger();
        }
    }

    /// Stops every pull loop and waits for them; their offsets stay to be committed.
    pub async fn stop_all_pulls(&self) {
        let tasks: Vec<PullTask> = self.owned.lock().drain().map(|(_, task)| task).collect();
        for task in &tasks {
            task.trigger.trigger();
        }
        for task in tasks {
            task.stop().await;
        }
    }

    /// Whether consumption must hold the broker's queue locks (orderly CLUSTERING).
    pub fn needs_locks(&self) -> bool {
        self.config.orderly && !self.is_broadcasting()
    }

    /// Whether this member holds `queue`'s lock: granted within [`LOCK_LIFETIME`].
    pub fn is_locked(&self, queue: &MessageQueue) -> bool {
        self.locks
            .lock()
            .get(queue)
            .is_some_and(|granted| granted.elapsed() < LOCK_LIFETIME)
    }

    /// LOCK_BATCH_MQ for `queues` of one broker, to its master only (as Java: locks are the
    /// master's): records the grants and forgets the refusals. Returns how many were granted.
    pub async fn lock(&self, broker_name: &str, queues: BTreeSet<MessageQueue>) -> usize {
        let Some(addr) = queues.first().and_then(|queue| self.master_addr(queue)) else {
            tracing::warn!(broker_name, "cannot lock queues: no master");
            return 0;
        };
        let body = LockBatchRequestBody {
            client_id: self.client_id.clone(),
            consumer_group: self.config.group.clone(),
            mq_set: queues.clone(),
            only_this_broker: false,
        };
        let request = RemotingCommand::request(RequestCode::LOCK_BATCH_MQ, ExtFields::new())
            .with_body(body.encode());
        let granted = match self
            .remoting
            .invoke(&addr, request, self.config.admin_timeout)
            .await
        {
            Ok(response) if response.code == ResponseCode::SUCCESS => {
                match LockBatchResponseBody::decode(&response.body) {
                    Ok(body) => body.lock_ok_mq_set,
                    Err(error) => {
                        tracing::warn!(addr, "bad LOCK_BATCH_MQ answer: {error}");
                        BTreeSet::new()
                    }
                }
            }
            Ok(response) => {
                tracing::warn!(
                    addr,
                    "LOCK_BATCH_MQ refused: code {}, {}",
                    response.code,
                    response.remark_text()
                );
                BTreeSet::new()
            }
            Err(error) => {
                tracing::warn!(addr, "LOCK_BATCH_MQ failed: {error}");
                BTreeSet::new()
            }
        };
        let now = Instant::now();
        let mut locks = self.locks.lock();
        for queue in &queues {
            if granted.contains(queue) {
                locks.insert(queue.clone(), now);
            } else if locks.remove(queue).is_some() {
                tracing::warn!(?queue, "queue lock lost to another member");
            }
        }
        granted.len()
    }

    /// Renews the locks of every owned queue (Java every 20 s), one request per broker.
    pub async fn lock_all(&self) {
        let mut by_broker: HashMap<String, BTreeSet<MessageQueue>> = HashMap::new();
        for queue in self.owned.lock().keys() {
            by_broker
                .entry(queue.broker_name.clone())
                .or_default()
                .insert(queue.clone());
        }
        for (broker_name, queues) in by_broker {
            self.lock(&broker_name, queues).await;
        }
    }

    /// UNLOCK_BATCH_MQ for `queues`, so another member can take them at once rather than
    /// after the broker's 60 s expiry. Nothing unless this member takes locks.
    pub async fn unlock(&self, queues: &[MessageQueue]) {
        if !self.needs_locks() {
            return;
        }
        let mut by_broker: HashMap<&str, BTreeSet<MessageQueue>> = HashMap::new();
        for queue in queues {
            self.locks.lock().remove(queue);
            by_broker
                .entry(queue.broker_name.as_str())
                .or_default()
                .insert(queue.clone());
        }
        for (broker_name, queues) in by_broker {
            let Some(addr) = queues.first().and_then(|queue| self.master_addr(queue)) else {
                tracing::debug!(broker_name, "no master to unlock queues at");
                continue;
            };
            let body = UnlockBatchRequestBody {
                client_id: self.client_id.clone(),
                consumer_group: self.config.group.clone(),
                mq_set: queues,
                only_this_broker: false,
            };
            let request = RemotingCommand::request(RequestCode::UNLOCK_BATCH_MQ, ExtFields::new())
                .with_body(body.encode());
            if let Err(error) = self
                .remoting
                .invoke(&addr, request, self.config.admin_timeout)
                .await
            {
                tracing::warn!(addr, "UNLOCK_BATCH_MQ failed: {error}");
            }
        }
    }

    /// Unlocks every queue this member holds (at shutdown, after the offsets are committed).
    pub async fn unlock_all(&self) {
        let queues: Vec<MessageQueue> = self.locks.lock().keys().cloned().collect();
        self.unlock(&queues).await;
    }

    /// UNREGISTER_CLIENT to every broker that took a heartbeat, then closes the connections.
    pub async fn unregister(&self) {
        let addrs: Vec<String> = self.heartbeated.lock().drain().collect();
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: None,
            consumer_group: Some(self.config.group.clone()),
        };
        unregister_client(&self.remoting, addrs, &header, self.config.admin_timeout).await;
    }
}

/// `topic`'s readable queues on brokers with an address, and one address of each of those
/// brokers (its master, else a slave) to ask for the group's members.
///
/// A broker whose master has left the route keeps its queues while a slave remains: the
/// slave holds the replicated messages, and dropping the queues would stop their
/// consumption (Java keeps every readable queue of the route).
pub(crate) fn readable_queues(
    topic: &str,
    route: &TopicRouteData,
) -> (Vec<MessageQueue>, BTreeSet<String>) {
    let mut queues = Vec::new();
    let mut addrs = BTreeSet::new();
    for queue_data in &route.queue_datas {
        if !perm::is_readable(queue_data.perm) {
            continue;
        }
        let addr = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == queue_data.broker_name)
            .and_then(broker_choice::admin_addr);
        let Some(addr) = addr else { continue };
        addrs.insert(addr.to_owned());
        for queue_id in 0..queue_data.read_queue_nums.max(0) {
            queues.push(MessageQueue::new(topic, &queue_data.broker_name, queue_id));
        }
    }
    (queues, addrs)
}

/// The consumer's one background task: heartbeats and route refreshes, rebalances (on a
/// timer and when a broker says the group changed) and offset commits. On `shutdown` it
/// stops every pull loop before it returns.
pub(super) async fn background(instance: Arc<Instance>, mut shutdown: Shutdown) {
    let config = &instance.config;
    let mut heartbeat = ticker(config.heartbeat_interval);
    let mut rebalance = ticker(config.rebalance_interval);
    let mut persist = ticker(config.persist_interval);
    let mut relock = ticker(LOCK_RENEW_INTERVAL);
    let rebalance_now = instance.rebalance_now.clone();
    let mut resets = instance.resets.lock().take();
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = heartbeat.tick() => {
                instance.refresh_routes().await;
                instance.heartbeat_all().await;
            }
            _ = rebalance.tick() => instance.rebalance().await,
            () = rebalance_now.notified() => instance.rebalance().await,
            _ = persist.tick() => instance.commit_offsets().await,
            _ = relock.tick(), if instance.needs_locks() => instance.lock_all().await,
            Some(table) = next_reset(&mut resets) => instance.reset_offsets(table).await,
        }
    }
    instance.stop_all_pulls().await;
}

/// The next offset table to adopt; pending forever once the channel is gone.
async fn next_reset(
    resets: &mut Option<mpsc::UnboundedReceiver<BTreeMap<MessageQueue, i64>>>,
) -> Option<BTreeMap<MessageQueue, i64>> {
    match resets {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

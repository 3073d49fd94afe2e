//! Which queues a lite pull consumer owns, and the one background task that keeps that up
//! to date: in subscribe mode it refreshes routes, heartbeats (CONSUME_ACTIVELY) and splits
//! the subscribed topics' queues among the group (every rebalance interval, and at once on
//! the broker's NOTIFY_CONSUMER_IDS_CHANGED); in assign mode it only refreshes the routes
//! of the assigned topics.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use super::remote::readable_queues;
use super::{FetchTask, Mode, Shared, fetch};
use crate::consumer::allocate_averagely;
use crate::protocol::broker_header::NotifyConsumerIdsChangedRequestHeader;
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{
    ConsumeType, ConsumerData, HeartbeatData, MessageQueue, SUB_ALL, SubscriptionData,
};
use crate::protocol::{RemotingCommand, RequestCode};
use crate::remoting::{InboundRequestHandler, Shutdown, shutdown_channel, ticker};

/// Turns the broker's NOTIFY_CONSUMER_IDS_CHANGED into a prompt rebalance.
pub(super) struct NotifyHandler {
    pub group: String,
    pub rebalance_now: Arc<Notify>,
}

impl InboundRequestHandler for NotifyHandler {
    fn handle(&self, addr: &str, request: RemotingCommand) -> Option<RemotingCommand> {
        if request.code != RequestCode::NOTIFY_CONSUMER_IDS_CHANGED {
            tracing::debug!(addr, code = request.code, "broker request not handled");
            return None;
        }
        match NotifyConsumerIdsChangedRequestHeader::from_ext_fields(&request.ext_fields) {
            Ok(header) if header.consumer_group == self.group => self.rebalance_now.notify_one(),
            Ok(_) => {}
            Err(error) => tracing::warn!(addr, %error, "bad NOTIFY_CONSUMER_IDS_CHANGED"),
        }
        None
    }
}

impl Shared {
    fn subscriptions(&self) -> Vec<SubscriptionData> {
        match &*self.mode.lock() {
            Mode::Subscribe(subscriptions) => subscriptions.clone(),
            Mode::Unset | Mode::Assign(_) => Vec::new(),
        }
    }

    /// The topics whose routes are kept fresh: subscribed or assigned.
    fn topics(&self) -> BTreeSet<String> {
        match &*self.mode.lock() {
            Mode::Subscribe(subscriptions) => {
                subscriptions.iter().map(|s| s.topic.clone()).collect()
            }
            Mode::Assign(queues) => queues.iter().map(|q| q.topic.clone()).collect(),
            Mode::Unset => BTreeSet::new(),
        }
    }

    pub(super) async fn refresh_routes(&self) {
        for topic in self.topics() {
            if let Err(error) = self.remote.refresh_route(&topic).await {
                tracing::warn!(topic, "keeping the cached route: {error}");
            }
        }
    }

    /// HEART_BEAT to every known broker; subscribe mode only (see the module docs of
    /// `lite_pull` for why an assigning consumer sends none).
    pub(super) async fn heartbeat(&self) {
        let subscriptions = self.subscriptions();
        if subscriptions.is_empty() {
            return;
        }
        let config = &self.config;
        let data = HeartbeatData {
            client_id: config.client_id.clone(),
            consumer_data_set: vec![ConsumerData {
                consume_from_where: config.consume_from_where,
                consume_type: ConsumeType::Actively,
                group_name: config.group.clone(),
                message_model: config.message_model,
                subscription_data_set: subscriptions,
                unit_mode: false,
            }],
            producer_data_set: Vec::new(),
        };
        self.remote.heartbeat_all(&data).await;
    }

    /// Splits every subscribed topic's queues among the group again. A topic whose split
    /// cannot be computed now keeps its current queues.
    pub(super) async fn rebalance(self: &Arc<Self>) {
        if !matches!(*self.mode.lock(), Mode::Subscribe(_)) {
            return;
        }
        let subscriptions = self.subscriptions();
        let mut wanted = BTreeSet::new();
        let mut unsettled = HashSet::new();
        for subscription in &subscriptions {
            match self.allocate(&subscription.topic).await {
                Ok(queues) => wanted.extend(queues),
                Err(reason) => {
                    tracing::debug!(topic = subscription.topic, "keeping its queues: {reason}");
                    unsettled.insert(subscription.topic.clone());
                }
            }
        }
        let keep = |queue: &MessageQueue| unsettled.contains(&queue.topic);
        self.set_queues(wanted, keep, |topic| {
            subscriptions.iter().find(|s| s.topic == topic).cloned()
        })
        .await;
    }

    /// This member's share of `topic`'s readable queues.
    async fn allocate(&self, topic: &str) -> Result<Vec<MessageQueue>, String> {
        let route = self
            .remote
            .route(topic)
            .await
            .map_err(|error| error.to_string())?;
        let (queues, addrs) = readable_queues(topic, &route);
        if queues.is_empty() {
            return Ok(queues);
        }
        let client_ids = self
            .remote
            .consumer_ids(&addrs)
            .await
            .map_err(|error| error.to_string())?;
        Ok(allocate_averagely(
            queues,
            client_ids,
            &self.config.client_id,
        ))
    }

    /// Makes `wanted` the owned queues: queues no longer wanted (unless `keep` says so) are
    /// dropped, their fetch task stopped, their buffer discarded and, with auto-commit,
    /// their consumed offset committed; new ones get a fetch task with `subscription`.
    pub(super) async fn set_queues(
        self: &Arc<Self>,
        wanted: BTreeSet<MessageQueue>,
        keep: impl Fn(&MessageQueue) -> bool,
        subscription: impl Fn(&str) -> Option<SubscriptionData>,
    ) {
        let gone: Vec<(MessageQueue, Option<i64>, Option<FetchTask>)> = {
            let mut table = self.table.lock();
            let mut tasks = self.tasks.lock();
            table
                .queues()
                .into_iter()
                .filter(|queue| !wanted.contains(queue) && !keep(queue))
                .map(|queue| {
                    let offset = table.remove(&queue);
                    let task = tasks.remove(&queue);
                    (queue, offset, task)
                })
                .collect()
        };
        for (queue, offset, task) in gone {
            tracing::info!(?queue, "queue given up");
            if let Some(task) = task {
                task.stop().await;
            }
            self.remote.forget_pull_from(&queue);
            if let Some(offset) = offset.filter(|_| self.config.auto_commit)
                && let Err(error) = self.remote.commit(&queue, offset, true).await
            {
                tracing::warn!(?queue, "offset of a queue given up not committed: {error}");
            }
        }
        let mut table = self.table.lock();
        let mut tasks = self.tasks.lock();
        // Checked under the tasks lock that `stop_fetching` drains under.
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        for queue in wanted {
            if !table.insert(queue.clone()) {
                continue;
            }
            let subscription = subscription(&queue.topic)
                .unwrap_or_else(|| SubscriptionData::from_expression(&queue.topic, SUB_ALL));
            tracing::info!(?queue, "queue taken");
            let (trigger, shutdown) = shutdown_channel();
            let wake = Arc::new(Notify::new());
            let task = tokio::spawn(fetch::fetch_loop(
                self.clone(),
                queue.clone(),
                subscription,
                wake.clone(),
                shutdown,
            ));
            tasks.insert(
                queue,
                FetchTask {
                    trigger,
                    task,
                    wake,
                },
            );
        }
    }

    /// Stops every fetch task and waits for them; the table keeps the offsets to commit.
    pub(super) async fn stop_fetching(&self) {
        let tasks: Vec<FetchTask> = self.tasks.lock().drain().map(|(_, task)| task).collect();
        for task in &tasks {
            task.trigger.trigger();
        }
        for task in tasks {
            task.stop().await;
        }
    }
}

/// The consumer's background task; on `shutdown` it returns, leaving the fetch tasks to the
/// caller.
pub(super) async fn background(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let config = &shared.config;
    let mut heartbeat = ticker(config.heartbeat_interval);
    let mut rebalance = ticker(config.rebalance_interval);
    let rebalance_now = shared.rebalance_now.clone();
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = heartbeat.tick() => {
                shared.refresh_routes().await;
                shared.heartbeat().await;
            }
            _ = rebalance.tick() => shared.rebalance().await,
            () = rebalance_now.notified() => shared.rebalance().await,
        }
    }
}

//! Who is connected: consumer groups with their channels and subscriptions, producer groups,
//! and the queue locks of orderly consumers (protocol.md §2.3 HEART_BEAT, LOCK_BATCH_MQ, §4.2).
//!
//! Pure bookkeeping with time passed in: the processor feeds heartbeats, closed connections
//! and the periodic expiry scan in, and sends NOTIFY_CONSUMER_IDS_CHANGED to the channels
//! this module says changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bolide_client::protocol::heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, MessageQueue, SubscriptionData,
};
use bolide_client::remoting::ConnectionHandle;
use parking_lot::{Mutex, RwLock};

/// A client that has not sent a heartbeat for this long is dropped (Java's
/// `channelExpiredTimeout`, 120 s).
pub const CHANNEL_EXPIRED_TIMEOUT_MS: u64 = 120_000;
/// A queue lock not renewed for this long is free again
/// (`rocketmq.broker.rebalance.lockMaxLiveTime`, 60 s).
pub const LOCK_MAX_LIVE_TIME_MS: u64 = 60_000;
/// Most groups and clients tracked: a limit on everything.
const MAX_GROUPS: usize = 100_000;
const MAX_CHANNELS_PER_GROUP: usize = 10_000;

/// One client connection as a group member.
#[derive(Debug, Clone)]
pub struct ClientChannel {
    pub handle: ConnectionHandle,
    pub client_id: String,
    /// The language code name of the request header (`JAVA`, `GO`, `CPP`, ...).
    pub language: String,
    pub version: i32,
    pub last_update_ms: u64,
}

/// A consumer group as the broker knows it.
#[derive(Debug, Clone)]
pub struct ConsumerGroupInfo {
    pub channels: HashMap<u64, ClientChannel>,
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
}

/// Clients and locks. Every method is short and takes its lock once.
#[derive(Debug, Default)]
pub struct ClientManager {
    consumers: RwLock<HashMap<String, ConsumerGroupInfo>>,
    producers: RwLock<HashMap<String, HashMap<u64, ClientChannel>>>,
    locks: Mutex<HashMap<String, HashMap<MessageQueue, QueueLock>>>,
}

#[derive(Debug, Clone)]
struct QueueLock {
    client_id: String,
    last_update_ms: u64,
}

impl QueueLock {
    fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_update_ms) > LOCK_MAX_LIVE_TIME_MS
    }
}

impl ClientManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a consumer channel and its subscriptions. Returns true when the group's set
    /// of channels or of subscribed topics changed (the caller then notifies the group).
    pub fn register_consumer(&self, channel: ClientChannel, data: &ConsumerData) -> bool {
        let mut consumers = self.consumers.write();
        if !consumers.contains_key(&data.group_name) && consumers.len() >= MAX_GROUPS {
            tracing::warn!(group = %data.group_name, "consumer group limit reached; heartbeat ignored");
            return false;
        }
        let group = consumers
            .entry(data.group_name.clone())
            .or_insert_with(|| ConsumerGroupInfo {
                channels: HashMap::new(),
                subscriptions: BTreeMap::new(),
                consume_type: data.consume_type,
                message_model: data.message_model,
                consume_from_where: data.consume_from_where,
            });
        group.consume_type = data.consume_type;
        group.message_model = data.message_model;
        group.consume_from_where = data.consume_from_where;
        let id = channel.handle.id();
        let full = group.channels.len() >= MAX_CHANNELS_PER_GROUP;
        let channels_changed = match group.channels.get_mut(&id) {
            Some(existing) => {
                existing.last_update_ms = channel.last_update_ms;
                existing.client_id = channel.client_id;
                false
            }
            None if full => false,
            None => {
                group.channels.insert(id, channel);
                true
            }
        };
        channels_changed
            | update_subscriptions(&mut group.subscriptions, &data.subscription_data_set)
    }

    /// Removes one channel from a group (UNREGISTER_CLIENT). True when it was a member.
    pub fn unregister_consumer(&self, group: &str, connection_id: u64) -> bool {
        let mut consumers = self.consumers.write();
        let Some(info) = consumers.get_mut(group) else {
            return false;
        };
        let removed = info.channels.remove(&connection_id).is_some();
        if info.channels.is_empty() {
            consumers.remove(group);
        }
        removed
    }

    pub fn register_producer(&self, group: &str, channel: ClientChannel) {
        let mut producers = self.producers.write();
        if !producers.contains_key(group) && producers.len() >= MAX_GROUPS {
            return;
        }
        let members = producers.entry(group.to_owned()).or_default();
        if members.len() < MAX_CHANNELS_PER_GROUP || members.contains_key(&channel.handle.id()) {
            members.insert(channel.handle.id(), channel);
        }
    }

    pub fn unregister_producer(&self, group: &str, connection_id: u64) {
        let mut producers = self.producers.write();
        if let Some(members) = producers.get_mut(group) {
            members.remove(&connection_id);
            if members.is_empty() {
                producers.remove(group);
            }
        }
    }

    /// Forgets a closed connection everywhere. Returns the consumer groups it left.
    pub fn connection_closed(&self, connection_id: u64) -> Vec<String> {
        self.producers.write().retain(|_, members| {
            members.remove(&connection_id);
            !members.is_empty()
        });
        let mut left = Vec::new();
        self.consumers.write().retain(|group, info| {
            if info.channels.remove(&connection_id).is_some() {
                left.push(group.clone());
            }
            !info.channels.is_empty()
        });
        left
    }

    /// Drops channels silent for longer than [`CHANNEL_EXPIRED_TIMEOUT_MS`]. Returns the
    /// consumer groups that lost a member.
    pub fn expire_idle(&self, now_ms: u64) -> Vec<String> {
        let alive = |channel: &ClientChannel| {
            now_ms.saturating_sub(channel.last_update_ms) <= CHANNEL_EXPIRED_TIMEOUT_MS
        };
        self.producers.write().retain(|_, members| {
            members.retain(|_, channel| alive(channel));
            !members.is_empty()
        });
        let mut changed = Vec::new();
        self.consumers.write().retain(|group, info| {
            let before = info.channels.len();
            info.channels.retain(|_, channel| {
                let keep = alive(channel);
                if !keep {
                    tracing::info!(%group, client = %channel.client_id, "consumer expired: no heartbeat for 120 s");
                }
                keep
            });
            if info.channels.len() != before {
                changed.push(group.clone());
            }
            !info.channels.is_empty()
        });
        changed
    }

    /// The client ids of a group, sorted (GET_CONSUMER_LIST_BY_GROUP).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let consumers = self.consumers.read();
        let mut ids: Vec<String> = consumers
            .get(group)
            .map(|info| {
                info.channels
                    .values()
                    .map(|c| c.client_id.clone())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The connections of a group, to notify them.
    pub fn consumer_channels(&self, group: &str) -> Vec<ConnectionHandle> {
        self.consumers
            .read()
            .get(group)
            .map(|info| info.channels.values().map(|c| c.handle.clone()).collect())
            .unwrap_or_default()
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers
            .read()
            .get(group)
            .and_then(|info| info.subscriptions.get(topic).cloned())
    }

    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroupInfo> {
        self.consumers.read().get(group).cloned()
    }

    /// Groups with a live member subscribed to `topic`.
    pub fn groups_subscribed_to(&self, topic: &str) -> BTreeSet<String> {
        self.consumers
            .read()
            .iter()
            .filter(|(_, info)| info.subscriptions.contains_key(topic))
            .map(|(group, _)| group.clone())
            .collect()
    }

    pub fn producer_group_exists(&self, group: &str) -> bool {
        self.producers.read().contains_key(group)
    }

    /// The live channels of a producer group (GET_PRODUCER_CONNECTION_LIST); `None` when the
    /// group has none, which Java reports as "not exist".
    pub fn producer_channels(&self, group: &str) -> Option<Vec<ClientChannel>> {
        self.producers
            .read()
            .get(group)
            .map(|members| members.values().cloned().collect())
    }

    /// Locks for `client_id` every queue free or already its own (LOCK_BATCH_MQ); returns the
    /// queues it now holds.
    pub fn lock_queues(
        &self,
        group: &str,
        client_id: &str,
        queues: &BTreeSet<MessageQueue>,
        now_ms: u64,
    ) -> BTreeSet<MessageQueue> {
        let mut locks = self.locks.lock();
        let table = locks.entry(group.to_owned()).or_default();
        let mut granted = BTreeSet::new();
        for queue in queues {
            match table.get_mut(queue) {
                Some(lock) if lock.client_id == client_id => {
                    lock.last_update_ms = now_ms;
                    granted.insert(queue.clone());
                }
                Some(lock) if !lock.expired(now_ms) => {}
                _ => {
                    table.insert(
                        queue.clone(),
                        QueueLock {
                            client_id: client_id.to_owned(),
                            last_update_ms: now_ms,
                        },
                    );
                    granted.insert(queue.clone());
                }
            }
        }
        granted
    }

    /// Releases the queues `client_id` holds among `queues` (UNLOCK_BATCH_MQ).
    pub fn unlock_queues(&self, group: &str, client_id: &str, queues: &BTreeSet<MessageQueue>) {
        let mut locks = self.locks.lock();
        if let Some(table) = locks.get_mut(group) {
            for queue in queues {
                if table.get(queue).is_some_and(|l| l.client_id == client_id) {
                    table.remove(queue);
                }
            }
            if table.is_empty() {
                locks.remove(group);
            }
        }
    }
}

/// Applies a heartbeat's subscriptions: newer subVersions replace, topics no longer listed
/// go. Returns true when the set of topics changed. Tag codes are recomputed from the tags,
/// never taken from the client (protocol.md §4.3).
fn update_subscriptions(
    current: &mut BTreeMap<String, SubscriptionData>,
    incoming: &[SubscriptionData],
) -> bool {
    let mut changed = false;
    for subscription in incoming {
        let mut subscription = subscription.clone();
        subscription.recompute_codes();
        match current.get(&subscription.topic) {
            Some(old) if old.sub_version >= subscription.sub_version && *old == subscription => {}
            Some(old) if old.sub_version > subscription.sub_version => {}
            existing => {
                changed |= existing.is_none();
                current.insert(subscription.topic.clone(), subscription);
            }
        }
    }
    let before = current.len();
    current.retain(|topic, _| incoming.iter().any(|s| &s.topic == topic));
    changed | (current.len() != before)
}

#[cfg(test)]
#[path = "client_manager_tests.rs"]
mod tests;

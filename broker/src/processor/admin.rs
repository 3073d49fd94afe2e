//! Admin requests (protocol.md §2.3 "Admin path (broker)"): topics and subscription groups
//! created, listed and deleted; the broker's configuration read and, for a short list of
//! keys, changed; and the read-only views `mqadmin` builds its reports from (runtime info,
//! topic stats, consume stats, connections, offset tables), plus resetting a group's offsets
//! to a point in time.
//!
//! Java answers refusals with SYSTEM_ERROR and a remark; the remarks below keep Java's
//! wording where admin tools or operators are known to look for it (the slave refusal, the
//! system-topic refusal, "not online"). Every change to topics or groups is saved before the
//! answer, as the managers do; a failed save is reported, and the change stays in memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use bolide_client::protocol::body::{
    Connection, ConsumeStats, ConsumerConnection, MAX_OFFSET_TABLE_ENTRIES, OffsetWrapper,
    ProducerConnection, ResetOffsetBody, TopicOffset, TopicStatsTable,
};
use bolide_client::protocol::broker_header::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
    GetBrokerConfigResponseHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader, ResetOffsetRequestHeader,
};
use bolide_client::protocol::code::BOLIDE_VERSION;
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::heartbeat::MessageQueue;
use bolide_client::protocol::route::{DataVersion, KvTable, perm};
use bolide_client::protocol::subscription_group::SubscriptionGroupConfig;
use bolide_client::protocol::topic_config::{TopicConfig, TopicFilterType};
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::ConnectionHandle;

use super::{BrokerProcessor, Response, error, header, success};
use crate::client_manager::ClientChannel;
use crate::store::commit_log::now_ms;
use crate::subscription_group::validate_group_name;
use crate::topic_config::validate_topic_name;

/// Java's refusal of topic and group changes on a slave, word for word: operators search
/// for it.
const SLAVE_REMARK: &str = "Can't modify topic or subscription group from slave broker, \
                            please execute it from master broker.";
/// Most read or write queues (and retry queues) an admin request may give. The largest topic
/// a Java broker creates itself, BenchmarkTest, has 1024; each queue costs a directory and a
/// memory-mapped file once written, so a larger number is far more likely a typo than a plan.
const MAX_QUEUE_NUMS: i32 = 1024;
/// Every permission bit (`route::perm`); anything else in a request is a mistake.
const ALL_PERM_BITS: i32 = perm::PRIORITY | perm::READ | perm::WRITE | perm::INHERIT;
/// `timestamp` of INVOKE_BROKER_TO_RESET_OFFSET meaning "the end of each queue".
const RESET_TO_MAX_OFFSET: i64 = -1;
/// The `MQVersion` name of [`BOLIDE_VERSION`], which `mqadmin clusterList` prints.
const BROKER_VERSION_DESC: &str = "V4_9_7";
/// Java reports `Integer.MAX_VALUE` free transient buffers when the transient store pool is
/// off, which it always is here.
const NO_TRANSIENT_STORE_POOL: i32 = i32::MAX;

/// A success response carrying a header.
fn with_header(request: &RemotingCommand, response_header: &impl CommandHeader) -> Response {
    success(request).with_ext_fields(response_header.to_ext_fields())
}

fn system_error(request: &RemotingCommand, remark: impl Into<String>) -> Response {
    error(request, ResponseCode::SYSTEM_ERROR, remark)
}

impl BrokerProcessor {
    /// Handles the admin codes; `None` for any other code (the caller answers
    /// REQUEST_CODE_NOT_SUPPORTED).
    pub(super) async fn admin(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
        code: i32,
    ) -> Option<Response> {
        let response = match code {
            RequestCode::UPDATE_AND_CREATE_TOPIC => self.update_and_create_topic(request),
            RequestCode::DELETE_TOPIC_IN_BROKER => self.delete_topic(request).await,
            RequestCode::GET_ALL_TOPIC_CONFIG => self.get_all_topic_config(request),
            RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => {
                self.update_and_create_subscription_group(request)
            }
            RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => {
                success(request).with_body(self.groups.all().encode())
            }
            RequestCode::DELETE_SUBSCRIPTIONGROUP => self.delete_subscription_group(request),
            RequestCode::GET_BROKER_RUNTIME_INFO => {
                success(request).with_body(self.runtime_info().encode())
            }
            RequestCode::GET_BROKER_CONFIG => self.get_broker_config(request),
            RequestCode::UPDATE_BROKER_CONFIG => self.update_broker_config(connection, request),
            RequestCode::GET_TOPIC_STATS_INFO => self.get_topic_stats_info(request),
            RequestCode::GET_CONSUME_STATS => self.get_consume_stats(request),
            RequestCode::GET_CONSUMER_CONNECTION_LIST => self.get_consumer_connection_list(request),
            RequestCode::GET_PRODUCER_CONNECTION_LIST => self.get_producer_connection_list(request),
            RequestCode::GET_ALL_CONSUMER_OFFSET => {
                success(request).with_body(self.offsets.to_json())
            }
            RequestCode::GET_ALL_DELAY_OFFSET => {
                success(request).with_body(self.delay_offsets.to_json())
            }
            RequestCode::INVOKE_BROKER_TO_RESET_OFFSET => self.reset_offset(request),
            _ => return None,
        };
        Some(response)
    }

    /// The broker name queues are reported under.
    fn broker_name(&self) -> String {
        self.config.read().broker_name.clone()
    }

    fn message_queue(&self, topic: &str, queue_id: i32) -> MessageQueue {
        MessageQueue::new(topic, self.broker_name(), queue_id)
    }

    /// Store time of the message at `offset` of a queue; `None` when there is none (empty
    /// queue, offset past the end or already removed). A read error only costs a statistic,
    /// so it is logged and reported as "none".
    fn store_time_at(&self, topic: &str, queue_id: i32, offset: u64) -> Option<i64> {
        let queue = self.store.queues().get(topic, queue_id)?;
        let unit = match queue.unit(offset) {
            Ok(unit) => unit.filter(|unit| !unit.is_filler())?,
            Err(error) => {
                tracing::warn!(topic, queue_id, offset, %error, "cannot read a consume queue unit");
                return None;
            }
        };
        match self
            .store
            .commit_log()
            .store_timestamp(unit.commit_log_offset)
        {
            Ok(time) => time,
            Err(error) => {
                tracing::warn!(topic, queue_id, offset, %error, "cannot read a store time");
                None
            }
        }
    }

    // ---- topics -------------------------------------------------------------------------

    fn update_and_create_topic(&self, request: &RemotingCommand) -> Response {
        let h: CreateTopicRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        if self.is_slave() {
            return system_error(request, SLAVE_REMARK);
        }
        let config = match self.checked_topic_config(&h) {
            Ok(config) => config,
            Err(remark) => return system_error(request, remark),
        };
        tracing::info!(topic = %config.topic_name, read = config.read_queue_nums,
            write = config.write_queue_nums, perm = config.perm, "topic created or updated by admin");
        let saved = self.topics.update(config);
        // The table in memory changed even if the save failed: register what is served.
        self.registrar.topics_changed();
        match saved {
            Ok(()) => success(request),
            Err(e) => system_error(request, format!("topic updated but not saved: {e}")),
        }
    }

    /// The topic a create request asks for, or the remark refusing it.
    fn checked_topic_config(&self, h: &CreateTopicRequestHeader) -> Result<TopicConfig, String> {
        validate_topic_name(&h.topic)?;
        if self.topics.is_system_topic(&h.topic) {
            return Err(format!(
                "The topic[{}] is conflict with system topic.",
                h.topic
            ));
        }
        let Some(topic_filter_type) = TopicFilterType::from_name(&h.topic_filter_type) else {
            return Err(format!(
                "topicFilterType {:?} is neither SINGLE_TAG nor MULTI_TAG",
                h.topic_filter_type
            ));
        };
        for (key, value) in [
            ("readQueueNums", h.read_queue_nums),
            ("writeQueueNums", h.write_queue_nums),
        ] {
            if !(1..=MAX_QUEUE_NUMS).contains(&value) {
                return Err(format!("{key} {value} is outside 1..={MAX_QUEUE_NUMS}"));
            }
        }
        if h.perm & !ALL_PERM_BITS != 0 {
            return Err(format!(
                "perm {} has bits other than {ALL_PERM_BITS}",
                h.perm
            ));
        }
        Ok(TopicConfig {
            order: h.order,
            perm: h.perm,
            read_queue_nums: h.read_queue_nums,
            topic_filter_type,
            topic_name: h.topic.clone(),
            topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
            write_queue_nums: h.write_queue_nums,
        })
    }

    /// Removes the topic's config, every group's offsets on it and its consume queues. Its
    /// records stay in the CommitLog until retention removes them. Deleting a topic that does
    /// not exist succeeds, as in Java, and still clears leftovers.
    async fn delete_topic(&self, request: &RemotingCommand) -> Response {
        let h: DeleteTopicRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        if self.is_slave() {
            return system_error(request, SLAVE_REMARK);
        }
        if h.topic.trim().is_empty() {
            return system_error(request, "The specified topic is blank.");
        }
        if self.topics.is_system_topic(&h.topic) {
            return system_error(
                request,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            );
        }
        tracing::info!(topic = %h.topic, "topic deleted by admin");
        let mut failures = Vec::new();
        match self.topics.delete(&h.topic) {
            Ok(true) => self.registrar.topics_changed(),
            Ok(false) => {}
            Err(e) => {
                self.registrar.topics_changed();
                failures.push(format!("topic config not saved: {e}"));
            }
        }
        if self.offsets.remove_topic(&h.topic)
            && let Err(e) = self.offsets.persist()
        {
            failures.push(format!("consumer offsets not saved: {e}"));
        }
        // Removing queue files is disk work: keep it off the runtime's worker threads.
        let (store, topic) = (self.store.clone(), h.topic.clone());
        match tokio::task::spawn_blocking(move || store.delete_topic(&topic)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("consume queues not removed: {e}")),
            Err(e) => failures.push(format!("consume queue removal failed: {e}")),
        }
        if failures.is_empty() {
            success(request)
        } else {
            system_error(request, failures.join("; "))
        }
    }

    fn get_all_topic_config(&self, request: &RemotingCommand) -> Response {
        let all = self.topics.all();
        if all.topic_config_table.is_empty() {
            return system_error(request, "No topic in this broker");
        }
        success(request).with_body(all.encode())
    }

    /// Each write queue's bounds and the store time of its newest message.
    fn get_topic_stats_info(&self, request: &RemotingCommand) -> Response {
        let h: GetTopicStatsInfoRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let Some(config) = self.topics.get(&h.topic) else {
            return error(
                request,
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist", h.topic),
            );
        };
        let mut stats = TopicStatsTable::default();
        for queue_id in 0..config.write_queue_nums {
            let max_offset = self.store.max_offset(&h.topic, queue_id);
            let last_update_timestamp = max_offset
                .checked_sub(1)
                .and_then(|last| self.store_time_at(&h.topic, queue_id, last))
                .unwrap_or(0);
            stats.offset_table.insert(
                self.message_queue(&h.topic, queue_id),
                TopicOffset {
                    last_update_timestamp,
                    max_offset: max_offset as i64,
                    min_offset: self.store.min_offset(&h.topic, queue_id) as i64,
                },
            );
        }
        success(request).with_body(stats.encode())
    }

    // ---- subscription groups ------------------------------------------------------------

    fn update_and_create_subscription_group(&self, request: &RemotingCommand) -> Response {
        if self.is_slave() {
            return system_error(request, SLAVE_REMARK);
        }
        let config = match SubscriptionGroupConfig::decode(&request.body) {
            Ok(config) => config,
            Err(e) => return system_error(request, format!("bad subscription group body: {e}")),
        };
        if let Err(remark) = validate_group_name(&config.group_name) {
            return system_error(request, remark);
        }
        if !(1..=MAX_QUEUE_NUMS).contains(&config.retry_queue_nums) {
            return system_error(
                request,
                format!(
                    "retryQueueNums {} is outside 1..={MAX_QUEUE_NUMS}",
                    config.retry_queue_nums
                ),
            );
        }
        tracing::info!(group = %config.group_name, "subscription group created or updated by admin");
        match self.groups.update(config) {
            Ok(()) => success(request),
            Err(e) => system_error(request, format!("group updated but not saved: {e}")),
        }
    }

    /// Removes a group and, when asked, its consumer offsets. Deleting an unknown group
    /// succeeds, as in Java.
    fn delete_subscription_group(&self, request: &RemotingCommand) -> Response {
        let h: DeleteSubscriptionGroupRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        if self.is_slave() {
            return system_error(request, SLAVE_REMARK);
        }
        tracing::info!(group = %h.group_name, remove_offset = ?h.remove_offset,
            "subscription group deleted by admin");
        let mut failures = Vec::new();
        if let Err(e) = self.groups.delete(&h.group_name) {
            failures.push(format!("group table not saved: {e}"));
        }
        if h.remove_offset.unwrap_or(false)
            && self.offsets.remove_group(&h.group_name)
            && let Err(e) = self.offsets.persist()
        {
            failures.push(format!("consumer offsets not saved: {e}"));
        }
        if failures.is_empty() {
            success(request)
        } else {
            system_error(request, failures.join("; "))
        }
    }

    // ---- broker configuration -----------------------------------------------------------

    /// The configuration as properties text, with its version in the `version` header.
    fn get_broker_config(&self, request: &RemotingCommand) -> Response {
        let properties = self.config.read().to_properties();
        let version = String::from_utf8_lossy(&self.config_data_version().encode()).into_owned();
        with_header(request, &GetBrokerConfigResponseHeader { version }).with_body(properties)
    }

    /// Java's `Configuration` bumps a DataVersion on every update; the processor keeps no
    /// such counter, so this reports the boot time with counter 0 (admin tools print the
    /// version but never compare it).
    fn config_data_version(&self) -> DataVersion {
        DataVersion::new(self.boot_timestamp_ms)
    }

    /// Applies a properties body all or nothing, and only when every key is in
    /// `RUNTIME_UPDATABLE_KEYS`: Java let any peer set any key, which CVE-2023-33246 turned
    /// into remote code execution. Refusals are logged with the peer's address.
    fn update_broker_config(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
    ) -> Response {
        let Ok(text) = std::str::from_utf8(&request.body) else {
            return system_error(request, "the body is not UTF-8 properties text");
        };
        let peer = connection.peer();
        let updated = self.config.write().apply_runtime_update(text);
        match updated {
            Ok(keys) => {
                tracing::info!(%peer, ?keys, "broker configuration updated");
                if keys.iter().any(|key| key == "brokerPermission") {
                    // Java re-registers at once so that routes show the new permission.
                    let permission = self.config.read().broker_permission;
                    self.registrar.set_broker_permission(permission);
                }
                success(request)
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "broker configuration update refused");
                system_error(request, e.to_string())
            }
        }
    }

    // ---- runtime information ------------------------------------------------------------

    /// GET_BROKER_RUNTIME_INFO: the keys of Java's broker and store (protocol.md §2.3), all
    /// values strings. Java machinery Bolide does not have (request thread pools and their
    /// queues, the page-cache lock timer, the transient store pool, asynchronous dispatch)
    /// reports as idle; figures nothing measures are zero.
    fn runtime_info(&self) -> KvTable {
        let put_total = self.stats.put_messages.load(Ordering::Relaxed);
        let put_failures = self.stats.put_failures.load(Ordering::Relaxed);
        let got_total = self.stats.got_messages.load(Ordering::Relaxed);
        let min_offset = self.store.commit_log_min_offset();
        let max_offset = self.store.commit_log_max_offset();
        let earliest = match self.store.commit_log().store_timestamp(min_offset) {
            Ok(Some(time)) => time,
            Ok(None) | Err(_) => -1,
        };
        let root = self.store.root_dir();
        let commit_log_dir = self.store.config().commit_log_dir();
        let mut table: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |key: &str, value: String| {
            table.insert(key.to_owned(), value);
        };
        put("brokerVersionDesc", BROKER_VERSION_DESC.to_owned());
        put("brokerVersion", BOLIDE_VERSION.to_string());
        // Java moves "today" to "yesterday" at midnight; until the first midnight both
        // mornings read 0, which is what these always report: the totals count from boot.
        for (prefix, total) in [("msgPutTotal", put_total), ("msgGetTotal", got_total)] {
            put(&format!("{prefix}YesterdayMorning"), "0".to_owned());
            put(&format!("{prefix}TodayMorning"), "0".to_owned());
            put(&format!("{prefix}TodayNow"), total.to_string());
        }
        for pool in ["send", "pull", "query"] {
            put(&format!("{pool}ThreadPoolQueueSize"), "0".to_owned());
            put(&format!("{pool}ThreadPoolQueueCapacity"), "0".to_owned());
            put(
                &format!("{pool}ThreadPoolQueueHeadWaitTimeMills"),
                "0".to_owned(),
            );
        }
        put("EndTransactionQueueSize", "0".to_owned());
        put("EndTransactionThreadPoolQueueCapacity", "0".to_owned());
        // Appends dispatch to the consume queues before they return.
        put("dispatchBehindBytes", "0".to_owned());
        put("pageCacheLockTimeMills", "0".to_owned());
        put("earliestMessageTimeStamp", earliest.to_string());
        put("startAcceptSendRequestTimeStamp", "0".to_owned());
        put(
            "remainTransientStoreBufferNumbs",
            NO_TRANSIENT_STORE_POOL.to_string(),
        );
        let unflushed = max_offset.saturating_sub(self.store.flushed_offset());
        put("remainHowManyDataToFlush", human_readable_bytes(unflushed));
        put("commitLogDirCapacity", self.dir_capacity(&commit_log_dir));
        put("bootTimestamp", self.boot_timestamp_ms.to_string());
        put(
            "runtime",
            format_runtime(now_ms().saturating_sub(self.boot_timestamp_ms)),
        );
        put("putMessageEntireTimeMax", "0".to_owned());
        put("putMessageTimesTotal", put_total.to_string());
        put("putMessageFailedTimes", put_failures.to_string());
        put("putMessageSizeTotal", "0".to_owned());
        put("putMessageAverageSize", "0.0".to_owned());
        put("dispatchMaxBuffer", "0".to_owned());
        put("getMessageEntireTimeMax", "0".to_owned());
        // Gets are counted as messages transferred; Bolide does not split found and missed
        // pulls, so those two report the transferred rate and zero.
        let (put_tps, get_tps) = self.tps.rates();
        put("putTps", put_tps);
        put("getFoundTps", get_tps.clone());
        put("getMissTps", "0.00 0.00 0.00".to_owned());
        put("getTotalTps", get_tps.clone());
        put("getTransferedTps", get_tps);
        put("commitLogDiskRatio", self.disk_ratio(&commit_log_dir));
        put(
            "consumeQueueDiskRatio",
            self.disk_ratio(&root.join("consumequeue")),
        );
        put("commitLogMinOffset", min_offset.to_string());
        put("commitLogMaxOffset", max_offset.to_string());
        KvTable { table }
    }

    /// Used share of the disk holding `dir`, 0.0 to 1.0, or -1 when unknown (as Java).
    fn disk_ratio(&self, dir: &Path) -> String {
        match self.store.file_system().disk_usage(dir) {
            Ok(usage) => usage.used_ratio().to_string(),
            Err(_) => "-1".to_owned(),
        }
    }

    /// Java's `Total : 49.0 GiB, Free : 12.3 GiB.`
    fn dir_capacity(&self, dir: &Path) -> String {
        match self.store.file_system().disk_usage(dir) {
            Ok(usage) => format!(
                "Total : {}, Free : {}.",
                human_readable_bytes(usage.total_bytes),
                human_readable_bytes(usage.available_bytes)
            ),
            Err(e) => format!("unknown: {e}"),
        }
    }

    // ---- consumers and producers --------------------------------------------------------

    /// Per read queue of each topic: the queue's end, the group's committed offset and the
    /// store time of the last message it consumed. A blank topic means every topic the group
    /// has offsets for; topics without a config, and topics an online group does not
    /// subscribe to, are left out (Java does the same).
    fn get_consume_stats(&self, request: &RemotingCommand) -> Response {
        let h: GetConsumeStatsRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let group = &h.consumer_group;
        let topics = match h.topic.as_deref().map(str::trim) {
            Some(topic) if !topic.is_empty() => vec![topic.to_owned()],
            _ => self.offsets.topics_of_group(group).into_iter().collect(),
        };
        let online = self.clients.consumer_group(group);
        let mut stats = ConsumeStats::default();
        for topic in topics {
            let Some(config) = self.topics.get(&topic) else {
                continue;
            };
            if let Some(info) = &online
                && !info.subscriptions.is_empty()
                && !info.subscriptions.contains_key(&topic)
            {
                continue;
            }
            let committed = self.offsets.offsets_of(group, &topic);
            for queue_id in 0..config.read_queue_nums {
                if stats.offset_table.len() >= MAX_OFFSET_TABLE_ENTRIES {
                    tracing::warn!(%group, "consume stats cut at {MAX_OFFSET_TABLE_ENTRIES} queues");
                    return success(request).with_body(stats.encode());
                }
                let consumer_offset = committed.get(&queue_id).copied().unwrap_or(0).max(0);
                let last_timestamp = (consumer_offset - 1)
                    .try_into()
                    .ok()
                    .and_then(|last: u64| self.store_time_at(&topic, queue_id, last))
                    .unwrap_or(0);
                stats.offset_table.insert(
                    self.message_queue(&topic, queue_id),
                    OffsetWrapper {
                        broker_offset: self.store.max_offset(&topic, queue_id) as i64,
                        consumer_offset,
                        last_timestamp,
                    },
                );
            }
        }
        success(request).with_body(stats.encode())
    }

    fn get_consumer_connection_list(&self, request: &RemotingCommand) -> Response {
        let h: GetConsumerConnectionListRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let Some(info) = self.clients.consumer_group(&h.consumer_group) else {
            return error(
                request,
                ResponseCode::CONSUMER_NOT_ONLINE,
                format!("the consumer group[{}] not online", h.consumer_group),
            );
        };
        let body = ConsumerConnection {
            connection_set: connections(info.channels.values()),
            consume_from_where: info.consume_from_where,
            consume_type: info.consume_type,
            message_model: info.message_model,
            subscription_table: info.subscriptions,
        };
        success(request).with_body(body.encode())
    }

    fn get_producer_connection_list(&self, request: &RemotingCommand) -> Response {
        let h: GetProducerConnectionListRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let Some(channels) = self.clients.producer_channels(&h.producer_group) else {
            return system_error(
                request,
                format!("the producer group[{}] not exist", h.producer_group),
            );
        };
        let body = ProducerConnection {
            connection_set: connections(channels.iter()),
        };
        success(request).with_body(body.encode())
    }

    /// Moves `group`'s offsets on every write queue of `topic` to the first message stored
    /// at or after `timestamp` (-1: the end of the queue). The new offset is taken when it
    /// is earlier than the committed one, or always with `isForce`.
    ///
    /// Java only tells the online consumers (RESET_CONSUMER_CLIENT_OFFSET) and refuses when
    /// none is online. Bolide also commits the offsets itself, so a group that is offline
    /// starts from them; online Java consumers get the same notice and adopt the offsets
    /// instead of writing their old ones back. The answer lists the offsets (ResetOffsetBody).
    fn reset_offset(&self, request: &RemotingCommand) -> Response {
        let h: ResetOffsetRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let Some(config) = self.topics.get(&h.topic) else {
            return system_error(
                request,
                format!(
                    "[reset-offset] reset offset failed, no topic in this broker. topic={}",
                    h.topic
                ),
            );
        };
        let committed = self.offsets.offsets_of(&h.group, &h.topic);
        if committed.is_empty() {
            return system_error(
                request,
                format!(
                    "the consumer group <{}> has no offsets on topic {}",
                    h.group, h.topic
                ),
            );
        }
        let mut table = BTreeMap::new();
        for queue_id in 0..config.write_queue_nums {
            let target = match self.reset_target(&h.topic, queue_id, h.timestamp) {
                Ok(target) => target,
                Err(remark) => return system_error(request, remark),
            };
            let offset = match committed.get(&queue_id) {
                Some(&current) if !h.is_force && target >= current => current,
                _ => target,
            };
            table.insert(queue_id, offset);
        }
        self.offsets.reset_to(&h.group, &h.topic, &table);
        tracing::info!(group = %h.group, topic = %h.topic, timestamp = h.timestamp,
            force = h.is_force, "consumer offsets reset by admin");
        let body = ResetOffsetBody {
            offset_table: table
                .iter()
                .map(|(&queue_id, &offset)| (self.message_queue(&h.topic, queue_id), offset))
                .collect(),
        }
        .encode();
        self.tell_consumers_to_reset(&h, &body);
        success(request).with_body(body)
    }

    fn reset_target(&self, topic: &str, queue_id: i32, timestamp: i64) -> Result<i64, String> {
        if timestamp == RESET_TO_MAX_OFFSET {
            return Ok(self.store.max_offset(topic, queue_id) as i64);
        }
        self.store
            .offset_by_timestamp(topic, queue_id, timestamp)
            .map(|offset| offset as i64)
            .map_err(|e| format!("cannot search queue {queue_id} of {topic} by time: {e}"))
    }

    /// RESET_CONSUMER_CLIENT_OFFSET, oneway, to each online member of the group. A full
    /// writer queue drops the notice; that consumer then keeps its own offsets, as a Java
    /// consumer whose notice was lost does.
    fn tell_consumers_to_reset(&self, h: &ResetOffsetRequestHeader, body: &[u8]) {
        let notice =
            RemotingCommand::request(RequestCode::RESET_CONSUMER_CLIENT_OFFSET, h.to_ext_fields())
                .with_body(body.to_vec());
        for channel in self.clients.consumer_channels(&h.group) {
            if !channel.send_oneway(notice.clone()) {
                tracing::warn!(group = %h.group, peer = %channel.peer(), "reset offset notice not sent");
            }
        }
    }
}

/// The connection list of a group, sorted by client id so answers are stable.
fn connections<'a>(channels: impl Iterator<Item = &'a ClientChannel>) -> Vec<Connection> {
    let mut list: Vec<Connection> = channels
        .map(|channel| Connection {
            client_addr: channel.handle.peer().to_string(),
            client_id: channel.client_id.clone(),
            language: channel.language.clone(),
            version: channel.version,
        })
        .collect();
    list.sort_by(|a, b| (&a.client_id, &a.client_addr).cmp(&(&b.client_id, &b.client_addr)));
    list
}

/// Bytes in binary units with one decimal, as Java's `MixAll.humanReadableByteCount(bytes,
/// false)` prints them: `512 B`, `1.5 KiB`, `49.0 GiB`.
fn human_readable_bytes(bytes: u64) -> String {
    const UNIT: u64 = 1024;
    if bytes < UNIT {
        return format!("{bytes} B");
    }
    let mut exponent = 0;
    let mut scale = 1u64;
    while bytes / scale >= UNIT && exponent < 6 {
        scale *= UNIT;
        exponent += 1;
    }
    let prefix = ["K", "M", "G", "T", "P", "E"][exponent - 1];
    format!("{:.1} {prefix}iB", bytes as f64 / scale as f64)
}

/// Java's `[ 1 days, 2 hours, 3 minutes, 4 seconds ]`.
fn format_runtime(elapsed_ms: i64) -> String {
    let seconds = elapsed_ms.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;

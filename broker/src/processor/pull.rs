//! PULL_MESSAGE (protocol.md §2.3 "Consumer path"): pre-checks, the subscription (from the
//! header or the heartbeat), the store read with tag filtering, the status → code mapping,
//! long polling, the consumer offset a pull carries, and which broker the consumer should
//! pull from next (§7 "Reading from slaves").

use std::time::Duration;

use bolide_client::protocol::broker_header::{
    PullMessageRequestHeader, PullMessageResponseHeader, pull_sys_flag,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::heartbeat::SubscriptionData;
use bolide_client::protocol::message::{Record, decode_record_bytes};
use bolide_client::protocol::route::perm;
use bolide_client::protocol::subscription_group::SubscriptionGroupConfig;
use bolide_client::protocol::{RemotingCommand, ResponseCode};
use bytes::{Bytes, BytesMut};

use super::{BrokerProcessor, Response, error, header};
use crate::long_polling::Wake;
use crate::store::{GetMessageResult, GetMessageStatus};

/// Longest a pull is held, whatever the client asks (Java clients ask 15 s, Go 20 s).
const MAX_SUSPEND: Duration = Duration::from_secs(60);
/// Java's `MixAll.MASTER_ID`: the broker id that sends a consumer back to the master.
const MASTER_ID: i64 = 0;
/// Where Linux tells the machine's physical memory.
const MEMINFO_PATH: &str = "/proc/meminfo";

impl BrokerProcessor {
    pub(super) async fn pull_message(&self, request: &RemotingCommand) -> Response {
        let header: PullMessageRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let (subscription, group) = match self.check_pull(request, &header) {
            Ok(checked) => checked,
            Err(response) => return *response,
        };
        // A slave never stores a pull's offset (Java ignores it there too): consumers commit
        // to a slave only with UPDATE_CONSUMER_OFFSET, while the master is away.
        if header.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0 && !self.is_slave() {
            self.offsets.commit(
                &header.consumer_group,
                &header.topic,
                header.queue_id,
                header.commit_offset,
            );
        }
        let offset = header.queue_offset.max(0) as u64;
        let mut response = self.read_queue(request, &header, &subscription, &group, offset);
        let may_suspend =
            header.sys_flag & pull_sys_flag::SUSPEND != 0 && self.config.read().long_polling_enable;
        if response.code == ResponseCode::PULL_NOT_FOUND && may_suspend {
            let timeout =
                Duration::from_millis(header.suspend_timeout_millis.max(0) as u64).min(MAX_SUSPEND);
            let wake = self.park_unless_arrived(&header, offset, timeout).await;
            if wake != Wake::Refused {
                response = self.read_queue(request, &header, &subscription, &group, offset);
            }
        }
        response
    }

    /// Parks the pull; a message that arrived between the read and the parking is seen by
    /// re-checking the queue's maximum after parking began.
    async fn park_unless_arrived(
        &self,
        header: &PullMessageRequestHeader,
        offset: u64,
        timeout: Duration,
    ) -> Wake {
        let park = self
            .pull_hold
            .park(&header.topic, header.queue_id, offset, timeout);
        tokio::pin!(park);
        // Poll once so the pull is registered, then look again.
        tokio::select! {
            biased;
            wake = &mut park => return wake,
            () = std::future::ready(()) => {}
        }
        if self.readable_max(&header.topic, header.queue_id) > offset {
            return Wake::Arrived;
        }
        park.await
    }

    /// The highest logical offset a pull could read now.
    fn readable_max(&self, topic: &str, queue_id: i32) -> u64 {
        self.store.max_offset(topic, queue_id)
    }

    /// Java's pre-checks, in order; returns the subscription to filter with and the group's
    /// config (its broker ids route the consumer).
    fn check_pull(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
    ) -> Result<(SubscriptionData, SubscriptionGroupConfig), Box<Response>> {
        let fail = |code: i32, remark: String| Box::new(error(request, code, remark));
        if self.config.read().broker_permission & perm::READ == 0 {
            return Err(fail(
                ResponseCode::NO_PERMISSION,
                "the broker pulling message is forbidden".into(),
            ));
        }
        let Some(group) = self.groups.find_or_create(&header.consumer_group) else {
            return Err(fail(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!(
                    "subscription group [{}] does not exist",
                    header.consumer_group
                ),
            ));
        };
        if !group.consume_enable {
            return Err(fail(
                ResponseCode::NO_PERMISSION,
                format!(
                    "subscription group no permission, {}",
                    header.consumer_group
                ),
            ));
        }
        let Some(topic) = self.topics.get(&header.topic) else {
            return Err(fail(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", header.topic),
            ));
        };
        if topic.perm & perm::READ == 0 {
            return Err(fail(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{}] pulling message is forbidden", header.topic),
            ));
        }
        if header.queue_id < 0 || header.queue_id >= topic.read_queue_nums {
            return Err(fail(
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                    header.queue_id, header.topic, topic.read_queue_nums
                ),
            ));
        }
        if header.sys_flag & pull_sys_flag::SUBSCRIPTION != 0 {
            let expression = header.subscription.as_deref().unwrap_or("*");
            let expression_type = header.expression_type.as_deref().unwrap_or("TAG");
            if !expression_type.eq_ignore_ascii_case("TAG") {
                return Err(fail(
                    ResponseCode::SUBSCRIPTION_PARSE_FAILED,
                    format!(
                        "expression type {expression_type} is not supported (enablePropertyFilter=false)"
                    ),
                ));
            }
            let subscription = SubscriptionData::from_expression(&header.topic, expression);
            return Ok((subscription, group));
        }
        let Some(subscription) = self
            .clients
            .subscription(&header.consumer_group, &header.topic)
        else {
            return Err(fail(
                ResponseCode::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's subscription not exist, group: {} topic: {}",
                    header.consumer_group, header.topic
                ),
            ));
        };
        if subscription.sub_version < header.sub_version {
            return Err(fail(
                ResponseCode::SUBSCRIPTION_NOT_LATEST,
                format!(
                    "the consumer's subscription not latest, group: {}",
                    header.consumer_group
                ),
            ));
        }
        Ok((subscription, group))
    }

    /// One read of the queue, answered with Java's status mapping and routing.
    fn read_queue(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
        subscription: &SubscriptionData,
        group: &SubscriptionGroupConfig,
        offset: u64,
    ) -> Response {
        let (max_count, max_bytes) = {
            let config = self.config.read();
            (
                (header.max_msg_nums.max(1) as usize)
                    .min(config.max_transfer_count_on_message_in_memory as usize),
                config.max_transfer_bytes_on_message_in_memory as usize,
            )
        };
        let accept = |code: i64| subscription.matches_tag_code(Some(code));
        let result = match self.store.get_messages(
            &header.topic,
            header.queue_id,
            offset,
            max_count,
            max_bytes,
            &accept,
        ) {
            Ok(result) => result,
            Err(e) => {
                return error(
                    request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("read failed: {e}"),
                );
            }
        };
        let (code, next, body) = map_status(&result, offset, subscription);
        let (code, next, suggest_which_broker_id) =
            self.route_pull(header, &result, group, offset, (code, next));
        if code == ResponseCode::SUCCESS {
            super::count(&self.stats.got_messages, result.message_count);
        }
        let response_header = PullMessageResponseHeader {
            suggest_which_broker_id,
            next_begin_offset: next as i64,
            min_offset: result.min_offset as i64,
            max_offset: result.max_offset as i64,
        };
        let mut response = RemotingCommand::response_to(
            request,
            code,
            Some(status_name(result.status).to_owned()),
        )
        .with_ext_fields(response_header.to_ext_fields());
        if code == ResponseCode::SUCCESS {
            response = response.with_body(body);
        }
        response
    }

    /// [`route`] with this broker's settings and the read's lag.
    fn route_pull(
        &self,
        header: &PullMessageRequestHeader,
        result: &GetMessageResult,
        group: &SubscriptionGroupConfig,
        requested_offset: u64,
        answer: (i32, u64),
    ) -> (i32, u64, i64) {
        let (routing, ratio_percent) = {
            let config = self.config.read();
            let routing = PullRouting {
                is_slave: !config.is_master(),
                slave_read_enable: config.slave_read_enable,
                offset_check_in_slave: config.offset_check_in_slave,
            };
            (routing, config.access_message_in_memory_max_ratio)
        };
        // The lag only matters when consumers may be sent to a slave; spare the extra read.
        let lagging = routing.slave_read_enable
            && self.pull_lags(&header.topic, header.queue_id, result, ratio_percent);
        route(routing, lagging, group, requested_offset, answer)
    }

    /// Whether the read is so far behind the commit log's end that its messages have
    /// probably left the page cache, so that a slave should serve this consumer (Java's
    /// `suggestPullingFromSlave`). Only a read that reached the queue's messages is judged,
    /// as in Java; its position is the next message to read, or the last one read when the
    /// queue has no next one yet.
    fn pull_lags(
        &self,
        topic: &str,
        queue_id: i32,
        result: &GetMessageResult,
        ratio_percent: u64,
    ) -> bool {
        let reached_messages = matches!(
            result.status,
            GetMessageStatus::Found
                | GetMessageStatus::NoMatchedMessage
                | GetMessageStatus::MessageWasRemoving
        );
        if !reached_messages {
            return false;
        }
        let Some(position) = self.physical_offset_near(topic, queue_id, result.next_begin_offset)
        else {
            return false;
        };
        lags_beyond_memory(
            self.store.commit_log_max_offset(),
            position,
            self.physical_memory_bytes,
            ratio_percent,
        )
    }

    /// The commit-log offset of the message at logical offset `next`, or of the one before
    /// it when `next` is the queue's end. A read error only costs the suggestion, so it is
    /// logged and reported as "unknown".
    fn physical_offset_near(&self, topic: &str, queue_id: i32, next: u64) -> Option<u64> {
        let queue = self.store.queues().get(topic, queue_id)?;
        for logical in [Some(next), next.checked_sub(1)].into_iter().flatten() {
            match queue.unit(logical) {
                Ok(Some(unit)) if !unit.is_filler() => return Some(unit.commit_log_offset),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(topic, queue_id, logical, %error,
                        "cannot read a consume queue unit to judge a pull's lag");
                    return None;
                }
            }
        }
        None
    }
}

/// The broker settings that route a pull's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PullRouting {
    is_slave: bool,
    /// `slaveReadEnable`.
    slave_read_enable: bool,
    /// `offsetCheckInSlave`.
    offset_check_in_slave: bool,
}

/// Java's routing of a pull answer (protocol.md §2.3, §7), given the mapped `(code,
/// nextBeginOffset)`; returns them with `suggestWhichBrokerId`:
/// * `slaveReadEnable=false`: always the master (0). A slave still serves what it found
///   (Java's PULL_RETRY_IMMEDIATELY for this case is overwritten by its status mapping).
/// * `slaveReadEnable=true`: the group's `whichBrokerWhenConsumeSlowly` when the read lags,
///   else the group's `brokerId`.
/// * A slave without `offsetCheckInSlave` may simply be behind its master, so an offset it
///   does not have is not moved: the consumer keeps it and is told to retry at the group's
///   `brokerId`.
fn route(
    routing: PullRouting,
    lagging: bool,
    group: &SubscriptionGroupConfig,
    requested_offset: u64,
    (code, next): (i32, u64),
) -> (i32, u64, i64) {
    if code == ResponseCode::PULL_OFFSET_MOVED && routing.is_slave && !routing.offset_check_in_slave
    {
        return (
            ResponseCode::PULL_RETRY_IMMEDIATELY,
            requested_offset,
            group.broker_id,
        );
    }
    let suggestion = match (routing.slave_read_enable, lagging) {
        (false, _) => MASTER_ID,
        (true, true) => group.which_broker_when_consume_slowly,
        (true, false) => group.broker_id,
    };
    (code, next, suggestion)
}

/// Java's test for "pull from a slave": more than `ratio_percent` % of physical memory lies
/// between the read position and the commit log's end (compared exactly, in 128 bits).
fn lags_beyond_memory(
    commit_log_max: u64,
    read_position: u64,
    memory_bytes: u64,
    ratio_percent: u64,
) -> bool {
    let lag = u128::from(commit_log_max.saturating_sub(read_position));
    lag * 100 > u128::from(memory_bytes) * u128::from(ratio_percent)
}

/// The machine's physical memory (Java's `TOTAL_PHYSICAL_MEMORY_SIZE`), read once when the
/// broker starts. When it cannot be known, memory counts as unlimited: no pull ever lags, and
/// consumers stay on the master.
pub(super) fn physical_memory_bytes() -> u64 {
    let known = std::fs::read_to_string(MEMINFO_PATH)
        .ok()
        .and_then(|text| parse_mem_total_bytes(&text));
    match known {
        Some(bytes) => bytes,
        None => {
            tracing::warn!(
                path = MEMINFO_PATH,
                "cannot read MemTotal: pulls will never be judged slow enough to go to a slave"
            );
            u64::MAX
        }
    }
}

/// `MemTotal:       16318480 kB` (the line of /proc/meminfo) in bytes.
fn parse_mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let mut fields = line.split_whitespace();
    let kibibytes: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => kibibytes.checked_mul(1024),
        _ => None,
    }
}

/// §2.3's table: store status → response code and next offset; FOUND bodies keep only
/// messages whose tag matches exactly (hash codes collide).
fn map_status(
    result: &GetMessageResult,
    offset: u64,
    subscription: &SubscriptionData,
) -> (i32, u64, Bytes) {
    let next = result.next_begin_offset;
    match result.status {
        GetMessageStatus::Found => {
            let body = exact_tag_filter(&result.body, subscription);
            if body.is_empty() {
                (ResponseCode::PULL_RETRY_IMMEDIATELY, next, Bytes::new())
            } else {
                (ResponseCode::SUCCESS, next, body)
            }
        }
        GetMessageStatus::NoMatchedMessage | GetMessageStatus::MessageWasRemoving => {
            (ResponseCode::PULL_RETRY_IMMEDIATELY, next, Bytes::new())
        }
        GetMessageStatus::NoMatchedLogicQueue | GetMessageStatus::NoMessageInQueue => {
            let code = if offset != 0 {
                ResponseCode::PULL_OFFSET_MOVED
            } else {
                ResponseCode::PULL_NOT_FOUND
            };
            (code, 0, Bytes::new())
        }
        GetMessageStatus::OffsetTooSmall | GetMessageStatus::OffsetOverflowBadly => {
            (ResponseCode::PULL_OFFSET_MOVED, next, Bytes::new())
        }
        GetMessageStatus::OffsetOverflowOne => (ResponseCode::PULL_NOT_FOUND, offset, Bytes::new()),
    }
}

/// Drops records whose TAGS is not in the subscription (the broker filtered by hash only).
fn exact_tag_filter(body: &Bytes, subscription: &SubscriptionData) -> Bytes {
    if subscription.sub_string == "*" || subscription.tags_set.is_empty() {
        return body.clone();
    }
    let mut kept = BytesMut::with_capacity(body.len());
    let mut position = 0;
    while position < body.len() {
        let rest = body.slice(position..);
        match decode_record_bytes(&rest, false) {
            Ok(Some(Record::Message(message))) => {
                let size = message.total_size;
                if subscription.matches_tag(message.tags()) {
                    kept.extend_from_slice(&rest[..size]);
                }
                position += size;
            }
            // The store produced this body; anything else means it is not what we think.
            _ => return body.clone(),
        }
    }
    kept.freeze()
}

/// The remark Java puts in pull responses: the store status name.
fn status_name(status: GetMessageStatus) -> &'static str {
    match status {
        GetMessageStatus::Found => "FOUND",
        GetMessageStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetMessageStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
        GetMessageStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        GetMessageStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetMessageStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetMessageStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetMessageStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: PullRouting = PullRouting {
        is_slave: false,
        slave_read_enable: false,
        offset_check_in_slave: false,
    };

    fn group() -> SubscriptionGroupConfig {
        SubscriptionGroupConfig {
            broker_id: 3,
            which_broker_when_consume_slowly: 7,
            ..SubscriptionGroupConfig::new("cg")
        }
    }

    #[test]
    fn lag_is_judged_against_the_ratio_of_memory() {
        // 40 % of 1000 bytes: a lag of 400 bytes is still "in memory", 401 is not.
        assert!(!lags_beyond_memory(1400, 1000, 1000, 40));
        assert!(lags_beyond_memory(1401, 1000, 1000, 40));
        // A fraction of a byte: 40 % of 1001 is 400.4, so 400 is in, 401 out.
        assert!(!lags_beyond_memory(400, 0, 1001, 40));
        assert!(lags_beyond_memory(401, 0, 1001, 40));
        // A position past the end (the log was just read) is no lag.
        assert!(!lags_beyond_memory(10, 20, 0, 40));
        // Unknown memory never lags, however far behind.
        assert!(!lags_beyond_memory(u64::MAX, 0, u64::MAX, 100));
    }

    #[test]
    fn the_suggestion_follows_slave_read_enable_and_the_lag() {
        let group = group();
        let found = (ResponseCode::SUCCESS, 12);
        for (is_slave, slave_read_enable, lagging, suggested) in [
            (false, false, false, MASTER_ID),
            (false, false, true, MASTER_ID),
            (false, true, false, 3),
            (false, true, true, 7),
            (true, false, false, MASTER_ID),
            (true, false, true, MASTER_ID),
            (true, true, false, 3),
            (true, true, true, 7),
        ] {
            let routing = PullRouting {
                is_slave,
                slave_read_enable,
                ..MASTER
            };
            assert_eq!(
                route(routing, lagging, &group, 10, found),
                (ResponseCode::SUCCESS, 12, suggested),
                "slave {is_slave}, slaveReadEnable {slave_read_enable}, lagging {lagging}"
            );
        }
    }

    #[test]
    fn a_slave_keeps_offsets_it_may_only_not_have_yet() {
        let group = group();
        let moved = (ResponseCode::PULL_OFFSET_MOVED, 0);
        assert_eq!(
            route(MASTER, false, &group, 10, moved),
            (ResponseCode::PULL_OFFSET_MOVED, 0, MASTER_ID)
        );
        let slave = PullRouting {
            is_slave: true,
            ..MASTER
        };
        assert_eq!(
            route(slave, false, &group, 10, moved),
            (ResponseCode::PULL_RETRY_IMMEDIATELY, 10, 3)
        );
        let checking = PullRouting {
            offset_check_in_slave: true,
            ..slave
        };
        assert_eq!(
            route(checking, false, &group, 10, moved),
            (ResponseCode::PULL_OFFSET_MOVED, 0, MASTER_ID)
        );
        // Other answers pass through a slave untouched.
        let not_found = (ResponseCode::PULL_NOT_FOUND, 10);
        assert_eq!(
            route(slave, false, &group, 10, not_found),
            (ResponseCode::PULL_NOT_FOUND, 10, MASTER_ID)
        );
    }

    #[test]
    fn mem_total_is_read_in_bytes() {
        let meminfo = "MemFree:          123 kB\nMemTotal:       16318480 kB\nBuffers: 1 kB\n";
        assert_eq!(parse_mem_total_bytes(meminfo), Some(16_318_480 * 1024));
        for broken in [
            "",
            "MemTotal: kB",
            "MemTotal: 12",
            "MemTotal: 12 MB",
            "MemTotal: -3 kB",
            "MemTotal: 99999999999999999999 kB",
        ] {
            assert_eq!(parse_mem_total_bytes(broken), None, "{broken:?}");
        }
    }
}

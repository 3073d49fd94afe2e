//! PULL_MESSAGE (protocol.md §2.3 "Consumer path"): pre-checks, the subscription (from the
//! header or the heartbeat), the store read with tag filtering, the status → code mapping,
//! long polling, and the consumer offset a pull carries.

use std::time::Duration;

use bolide_client::protocol::broker_header::{
    PullMessageRequestHeader, PullMessageResponseHeader, pull_sys_flag,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::heartbeat::SubscriptionData;
use bolide_client::protocol::message::{Record, decode_record_bytes};
use bolide_client::protocol::route::perm;
use bolide_client::protocol::{RemotingCommand, ResponseCode};
use bytes::{Bytes, BytesMut};

use super::{BrokerProcessor, Response, error, header};
use crate::long_polling::Wake;
use crate::store::{GetMessageResult, GetMessageStatus};

/// Longest a pull is held, whatever the client asks (Java clients ask 15 s, Go 20 s).
const MAX_SUSPEND: Duration = Duration::from_secs(60);

impl BrokerProcessor {
    pub(super) async fn pull_message(&self, request: &RemotingCommand) -> Response {
        let header: PullMessageRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let subscription = match self.check_pull(request, &header) {
            Ok(subscription) => subscription,
            Err(response) => return *response,
        };
        if header.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0 && !self.is_slave() {
            self.offsets.commit(
                &header.consumer_group,
                &header.topic,
                header.queue_id,
                header.commit_offset,
            );
        }
        let offset = header.queue_offset.max(0) as u64;
        let mut response = self.read_queue(request, &header, &subscription, offset);
        let may_suspend =
            header.sys_flag & pull_sys_flag::SUSPEND != 0 && self.config.read().long_polling_enable;
        if response.code == ResponseCode::PULL_NOT_FOUND && may_suspend {
            let timeout =
                Duration::from_millis(header.suspend_timeout_millis.max(0) as u64).min(MAX_SUSPEND);
            let wake = self.park_unless_arrived(&header, offset, timeout).await;
            if wake != Wake::Refused {
                response = self.read_queue(request, &header, &subscription, offset);
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

    /// Java's pre-checks, in order; returns the subscription to filter with.
    fn check_pull(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
    ) -> Result<SubscriptionData, Box<Response>> {
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
            return Ok(SubscriptionData::from_expression(&header.topic, expression));
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
        Ok(subscription)
    }

    /// One read of the queue, answered with Java's status mapping.
    fn read_queue(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
        subscription: &SubscriptionData,
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
        if code == ResponseCode::SUCCESS {
            super::count(&self.stats.got_messages, result.message_count);
        }
        let response_header = PullMessageResponseHeader {
            suggest_which_broker_id: 0,
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

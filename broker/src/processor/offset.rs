//! Consumer offsets and queue positions (protocol.md §2.3): QUERY_CONSUMER_OFFSET,
//! UPDATE_CONSUMER_OFFSET, GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME,
//! SEARCH_OFFSET_BY_TIMESTAMP.

use bolide_client::protocol::broker_header::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::{RemotingCommand, ResponseCode};

use super::{BrokerProcessor, Response, error, header, success};

/// A success response carrying a header.
fn with_header(request: &RemotingCommand, response_header: &impl CommandHeader) -> Response {
    success(request).with_ext_fields(response_header.to_ext_fields())
}

impl BrokerProcessor {
    /// A stored offset, or 0 when the group is new and the queue still starts at 0 (Java
    /// answers 0 only while message 0 is in memory; Bolide answers it whenever the queue's
    /// first message is still there), else QUERY_NOT_FOUND so the client applies its
    /// consume-from-where policy.
    pub(super) fn query_consumer_offset(&self, request: &RemotingCommand) -> Response {
        let h: QueryConsumerOffsetRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let offset = match self.offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
            Some(offset) => offset,
            None if self.store.min_offset(&h.topic, h.queue_id) == 0 => 0,
            None => {
                return error(
                    request,
                    ResponseCode::QUERY_NOT_FOUND,
                    "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
                );
            }
        };
        with_header(request, &QueryConsumerOffsetResponseHeader { offset })
    }

    /// Stores a commit. Consumers commit to a slave only while its master is away (§7), so a
    /// slave also remembers the commit to hand it back when the master returns.
    pub(super) fn update_consumer_offset(&self, request: &RemotingCommand) -> Response {
        let h: UpdateConsumerOffsetRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let (group, topic) = (&h.consumer_group, &h.topic);
        if self.is_slave() {
            self.offsets
                .commit_on_slave(group, topic, h.queue_id, h.commit_offset);
        } else {
            self.offsets
                .commit(group, topic, h.queue_id, h.commit_offset);
        }
        success(request)
    }

    pub(super) fn get_max_offset(&self, request: &RemotingCommand) -> Response {
        let h: GetMaxOffsetRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let offset = self.store.max_offset(&h.topic, h.queue_id) as i64;
        with_header(request, &GetMaxOffsetResponseHeader { offset })
    }

    pub(super) fn get_min_offset(&self, request: &RemotingCommand) -> Response {
        let h: GetMinOffsetRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let offset = self.store.min_offset(&h.topic, h.queue_id) as i64;
        with_header(request, &GetMinOffsetResponseHeader { offset })
    }

    pub(super) fn get_earliest_msg_storetime(&self, request: &RemotingCommand) -> Response {
        let h: GetEarliestMsgStoretimeRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        match self.store.earliest_message_time(&h.topic, h.queue_id) {
            Ok(time) => with_header(
                request,
                &GetEarliestMsgStoretimeResponseHeader {
                    timestamp: time.unwrap_or(-1),
                },
            ),
            Err(e) => error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }

    pub(super) fn search_offset_by_timestamp(&self, request: &RemotingCommand) -> Response {
        let h: SearchOffsetRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        match self
            .store
            .offset_by_timestamp(&h.topic, h.queue_id, h.timestamp)
        {
            Ok(offset) => with_header(
                request,
                &SearchOffsetResponseHeader {
                    offset: offset as i64,
                },
            ),
            Err(e) => error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }
}

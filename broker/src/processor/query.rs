//! QUERY_MESSAGE (by key or UNIQ_KEY through the index) and VIEW_MESSAGE_BY_ID (by physical
//! offset), protocol.md §2.3.

use bolide_client::protocol::broker_header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::{RemotingCommand, ResponseCode};
use bytes::BytesMut;

use super::{BrokerProcessor, Response, error, header, success};

/// Most records one QUERY_MESSAGE returns, whatever `maxNum` says.
const MAX_QUERY_RESULTS: usize = 64;

impl BrokerProcessor {
    pub(super) fn query_message(&self, request: &RemotingCommand) -> Response {
        let h: QueryMessageRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let unique = request
            .ext_fields
            .get("_UNIQUE_KEY_QUERY")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let max = if unique {
            self.config.read().default_query_max_num as usize
        } else {
            (h.max_num.max(1) as usize).min(MAX_QUERY_RESULTS)
        };
        let found =
            match self
                .store
                .query_by_key(&h.topic, &h.key, max, h.begin_timestamp, h.end_timestamp)
            {
                Ok(found) => found,
                Err(e) => return error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
            };
        if found.is_empty() {
            return error(
                request,
                ResponseCode::QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
            );
        }
        let mut body = BytesMut::new();
        for record in &found {
            body.extend_from_slice(record);
        }
        let response_header = QueryMessageResponseHeader {
            index_last_update_timestamp: crate::store::commit_log::now_ms(),
            index_last_update_phyoffset: self.store.commit_log_max_offset() as i64,
        };
        success(request)
            .with_ext_fields(response_header.to_ext_fields())
            .with_body(body.freeze())
    }

    pub(super) fn view_message_by_id(&self, request: &RemotingCommand) -> Response {
        let h: ViewMessageRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let Ok(offset) = u64::try_from(h.offset) else {
            return error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("bad offset {}", h.offset),
            );
        };
        match self.store.message_at(offset) {
            Ok(Some(record)) => success(request).with_body(record),
            Ok(None) => error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("can not find message by the offset, {offset}"),
            ),
            Err(e) => error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }
}

//! Finding messages: by offset message id (VIEW_MESSAGE_BY_ID on the broker the id names),
//! by key and by unique key (QUERY_MESSAGE through each broker's index).

use bytes::Bytes;

use super::{AdminClient, AdminError, decoded};
use crate::protocol::broker_header::{QueryMessageRequestHeader, ViewMessageRequestHeader};
use crate::protocol::compression::inflate_body;
use crate::protocol::header::CommandHeader;
use crate::protocol::message::{StoredMessage, decode_offset_msg_id, decode_records, property};
use crate::protocol::{RequestCode, ResponseCode};

/// Java's `MixAll.RETRY_GROUP_TOPIC_PREFIX`.
pub(super) const RETRY_PREFIX: &str = "%RETRY%";
/// The largest body shown after decompression: a stored body is at most 4 MiB, and a
/// compressed one that grows past this is not something to print.
const MAX_DECOMPRESSED_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Most messages a query by unique key asks for; the broker uses its `defaultQueryMaxNum`.
const UNIQUE_KEY_QUERY_MAX: i32 = 32;

/// `%RETRY%<group>`: the topic whose route locates a group's brokers.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

/// What a QUERY_MESSAGE key is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// A token of the message's `KEYS` property.
    Key { max_num: i32 },
    /// The message's `UNIQ_KEY` (the producer's message id).
    UniqueKey,
}

impl AdminClient {
    /// VIEW_MESSAGE_BY_ID at the broker and commit-log offset the id encodes.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<StoredMessage, AdminError> {
        let (store_host, offset) = decode_offset_msg_id(offset_msg_id.trim())
            .map_err(|e| AdminError::Invalid(format!("bad offset message id: {e}")))?;
        let addr = store_host.to_string();
        let subject = format!("message {offset_msg_id}");
        let header = ViewMessageRequestHeader { offset };
        let code = RequestCode::VIEW_MESSAGE_BY_ID;
        let response = self
            .broker_header_call(&addr, &subject, code, &header)
            .await?;
        let mut messages = decoded(
            &addr,
            "message record",
            decode_records(&response.body, true),
        )?;
        messages
            .pop()
            .ok_or_else(|| AdminError::NotFound(format!("broker {addr} has no {subject}")))
    }

    /// QUERY_MESSAGE on every broker of the topic's route within `[begin_ms, end_ms]`,
    /// keeping only the messages that really carry `key` (index slots are shared by hash).
    pub async fn query_message(
        &self,
        topic: &str,
        key: &str,
        kind: QueryKind,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<StoredMessage>, AdminError> {
        let route = self.route(topic).await?;
        let (max_num, unique) = match kind {
            QueryKind::Key { max_num } => (max_num, false),
            QueryKind::UniqueKey => (UNIQUE_KEY_QUERY_MAX, true),
        };
        let header = QueryMessageRequestHeader {
            topic: topic.to_owned(),
            key: key.to_owned(),
            max_num,
            begin_timestamp: begin_ms,
            end_timestamp: end_ms,
            unique_key_query: Some(unique),
        };
        let subject = format!("topic {topic} key {key}");
        let mut found = Vec::new();
        let addrs = Self::route_addrs(&route);
        let total = addrs.len();
        for (step, (name, addr)) in addrs.into_iter().enumerate() {
            self.report(
                step,
                total,
                &format!("querying {name} ({addr}) for key {key}"),
            );
            let code = RequestCode::QUERY_MESSAGE;
            let response = self
                .broker_call_any(&addr, &subject, code, header.to_ext_fields(), Bytes::new())
                .await?;
            match response.code {
                ResponseCode::SUCCESS => {}
                ResponseCode::QUERY_NOT_FOUND => continue,
                other => {
                    return Err(AdminError::Broker {
                        addr,
                        subject,
                        request_code: code,
                        code: other,
                        remark: response.remark_text().to_owned(),
                    });
                }
            }
            let messages = decoded(
                &addr,
                "message records",
                decode_records(&response.body, true),
            )?;
            found.extend(
                messages
                    .into_iter()
                    .filter(|message| matches(message, key, kind)),
            );
        }
        found.sort_by_key(|message| message.store_timestamp_ms);
        Ok(found)
    }
}

fn matches(message: &StoredMessage, key: &str, kind: QueryKind) -> bool {
    match kind {
        QueryKind::UniqueKey => message.properties.get(property::UNIQ_KEY) == Some(key),
        QueryKind::Key { .. } => message
            .properties
            .get(property::KEYS)
            .is_some_and(|keys| keys.split(' ').any(|token| token == key)),
    }
}

/// The message body as the producer sent it: inflated per its sysflag (zlib, zstd or LZ4),
/// or why it cannot be.
pub fn decode_body(message: &StoredMessage) -> Result<Vec<u8>, String> {
    inflate_body(message.sysflag, &message.body, MAX_DECOMPRESSED_BODY_BYTES).map(|(body, _)| body)
}

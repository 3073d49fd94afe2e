//! CONSUMER_SEND_MSG_BACK (protocol.md §2.3, §8.2): a message the consumer failed goes back
//! as a new message to `%RETRY%group` with a delay growing with its attempts, or to
//! `%DLQ%group` once it has used them up. Also the shared "store a message the broker made"
//! path the delay timer uses.

use bolide_client::protocol::broker_header::ConsumerSendMsgBackRequestHeader;
use bolide_client::protocol::message::{
    MessageToStore, Properties, Record, decode_record_bytes, encode_properties, property, sysflag,
};
use bolide_client::protocol::{RemotingCommand, ResponseCode};
use bolide_client::remoting::ConnectionHandle;

use super::send::store_error_response;
use super::{BrokerProcessor, Response, error, header, success};
use crate::store::StoreError;
use crate::store::commit_log::AppendResult;
use crate::topic_config::{SCHEDULE_TOPIC, dlq_topic, retry_topic};

/// A retry with delay level 0 waits level `3 + reconsumeTimes` (10 s first).
const FIRST_RETRY_LEVEL: i32 = 3;

/// A message the broker itself writes (retries, delayed deliveries).
#[derive(Debug, Clone)]
pub(crate) struct InternalMessage {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub body: bytes::Bytes,
    pub properties: Properties,
    pub sysflag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: std::net::SocketAddr,
    pub reconsume_times: i32,
}

/// Where a message with `DELAY` waits: SCHEDULE_TOPIC_XXXX, queue level − 1, the real topic
/// and queue kept in `REAL_TOPIC`/`REAL_QID` (§8.1). Levels above the last clamp to it.
pub(crate) fn apply_delay(
    topic: &mut String,
    queue_id: &mut i32,
    properties: &mut Properties,
    sysflag_value: i32,
    level_count: usize,
) {
    let level = properties
        .get(property::DELAY)
        .and_then(|d| d.trim().parse::<i32>().ok())
        .unwrap_or(0);
    if level <= 0 || sysflag::transaction_type(sysflag_value) != sysflag::TRANSACTION_NOT_TYPE {
        return;
    }
    let level = level.min((level_count as i32).max(1));
    properties.insert(property::DELAY, level.to_string());
    properties.insert(property::REAL_TOPIC, topic.clone());
    properties.insert(property::REAL_QID, queue_id.to_string());
    *topic = SCHEDULE_TOPIC.to_owned();
    *queue_id = level - 1;
}

impl BrokerProcessor {
    /// Appends a broker-made message, waits until it is durable (SYNC_FLUSH) and wakes pulls.
    pub(crate) async fn put_internal(
        &self,
        message: &InternalMessage,
    ) -> Result<AppendResult, StoreError> {
        let properties = encode_properties(&message.properties);
        let stored = MessageToStore {
            topic: &message.topic,
            queue_id: message.queue_id,
            flag: message.flag,
            body: &message.body,
            properties: &properties,
            sysflag: message.sysflag,
            born_timestamp_ms: message.born_timestamp_ms,
            born_host: message.born_host,
            store_host: self.store.config().store_host,
            reconsume_times: message.reconsume_times,
            prepared_transaction_offset: 0,
        };
        let result = self.store.put_message(&stored)?;
        self.store.wait_durable(result.end_offset).await?;
        super::count(&self.stats.put_messages, 1);
        self.messages_arrived(&message.topic, message.queue_id, result.queue_offset + 1);
        Ok(result)
    }

    pub(super) async fn consumer_send_msg_back(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
    ) -> Response {
        let h: ConsumerSendMsgBackRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        if self.is_slave() {
            return error(
                request,
                ResponseCode::SERVICE_NOT_AVAILABLE,
                "the broker is a slave",
            );
        }
        let Some(group) = self.groups.find_or_create(&h.group) else {
            return error(
                request,
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {}", h.group),
            );
        };
        let original = match self.original_message(h.offset) {
            Ok(message) => message,
            Err(remark) => return error(request, ResponseCode::SYSTEM_ERROR, remark),
        };
        let max_times =
            super::max_reconsume_times(request, h.max_reconsume_times, Some(group.retry_max_times));
        let mut properties = original.properties.clone();
        if properties.get(property::RETRY_TOPIC).is_none() {
            properties.insert(property::RETRY_TOPIC, original.topic.clone());
        }
        let origin_id = h
            .origin_msg_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(|| original.msg_id());
        properties.insert(property::ORIGIN_MESSAGE_ID, origin_id);
        let (mut topic, mut queue_id) =
            if original.reconsume_times >= max_times || h.delay_level < 0 {
                match self.topics.create_dlq_topic(&h.group) {
                    Ok((_, created)) => {
                        if created {
                            self.registrar.topics_changed();
                        }
                    }
                    Err(e) => return error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
                }
                properties.remove(property::DELAY);
                (dlq_topic(&h.group), 0)
            } else {
                match self
                    .topics
                    .create_retry_topic(&h.group, group.retry_queue_nums)
                {
                    Ok((_, true)) => self.registrar.topics_changed(),
                    Ok(_) => {}
                    Err(e) => return error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
                }
                let level = if h.delay_level == 0 {
                    FIRST_RETRY_LEVEL + original.reconsume_times
                } else {
                    h.delay_level
                };
                properties.insert(property::DELAY, level.to_string());
                let queues = group.retry_queue_nums.max(1) as u32;
                (
                    retry_topic(&h.group),
                    (rand::random::<u32>() % queues) as i32,
                )
            };
        let sysflag_value =
            sysflag::with_transaction_type(original.sysflag, sysflag::TRANSACTION_NOT_TYPE);
        apply_delay(
            &mut topic,
            &mut queue_id,
            &mut properties,
            sysflag_value,
            self.store.config().delay_levels_ms.len(),
        );
        properties.remove(property::WAIT);
        let message = InternalMessage {
            topic,
            queue_id,
            flag: original.flag,
            body: original.body.clone(),
            properties,
            sysflag: sysflag_value,
            born_timestamp_ms: original.born_timestamp_ms,
            born_host: connection.peer(),
            reconsume_times: original.reconsume_times + 1,
        };
        match self.put_internal(&message).await {
            Ok(_) => success(request),
            Err(e) => store_error_response(request, &e),
        }
    }

    /// The message a consumer sends back, read by its CommitLog offset.
    fn original_message(
        &self,
        offset: i64,
    ) -> Result<bolide_client::protocol::message::StoredMessage, String> {
        let not_found = || format!("look message by offset failed, {offset}");
        let physical = u64::try_from(offset).map_err(|_| not_found())?;
        let record = self
            .store
            .message_at(physical)
            .map_err(|e| e.to_string())?
            .ok_or_else(not_found)?;
        match decode_record_bytes(&record, false) {
            Ok(Some(Record::Message(message))) => Ok(message),
            _ => Err(not_found()),
        }
    }
}

//! SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE (protocol.md §2.3 "Producer path"):
//! validation in Java's order, topic auto-creation, retry-to-DLQ rerouting, delay rewriting,
//! the store append, durability in SYNC_FLUSH, and the response fields clients read.

use bolide_client::protocol::batch::decode_batch;
use bolide_client::protocol::broker_header::{
    SendMessageRequestHeader, SendMessageResponseHeader, decode_send_header,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::message::{
    MessageToStore, Properties, decode_properties, encode_properties, property, sysflag,
};
use bolide_client::protocol::route::perm;
use bolide_client::protocol::topic_config::TopicConfig;
use bolide_client::protocol::{RemotingCommand, ResponseCode};
use bolide_client::remoting::ConnectionHandle;

use super::{BrokerProcessor, Response, bad_header, count, error};
use crate::config::BrokerRole;
use crate::ha::ReplicaWaitError;
use crate::store::StoreError;
use crate::store::commit_log::AppendResult;
use crate::topic_config::{
    DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX, is_send_forbidden_topic, validate_topic_name,
};

/// Java's limit on the encoded properties string (`Short.MAX_VALUE`).
const MAX_PROPERTIES_CHARS: usize = 32_767;

/// One message ready for the store: owned parts borrowed by `MessageToStore`.
struct Outgoing {
    topic: String,
    queue_id: i32,
    flag: i32,
    body: bytes::Bytes,
    properties: String,
    sysflag: i32,
    reconsume_times: i32,
}

impl BrokerProcessor {
    pub(super) async fn send_message(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
    ) -> Response {
        let header = match decode_send_header(request.code, &request.ext_fields) {
            Ok(header) => header,
            Err(e) => return bad_header(request, e),
        };
        match self.prepare_send(request, &header) {
            Ok(topic) => self.store_send(connection, request, &header, &topic).await,
            Err(response) => *response,
        }
    }

    /// Checks of §2.3 steps 1–3; returns the topic's config (created when allowed).
    fn prepare_send(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
    ) -> Result<TopicConfig, Box<Response>> {
        let fail = |code: i32, remark: String| Box::new(error(request, code, remark));
        let (slave, broker_permission, cluster) = {
            let config = self.config.read();
            (
                !config.is_master(),
                config.broker_permission,
                config.broker_cluster_name.clone(),
            )
        };
        if slave {
            return Err(fail(
                ResponseCode::SERVICE_NOT_AVAILABLE,
                "the broker is a slave and does not accept messages".into(),
            ));
        }
        if broker_permission & perm::WRITE == 0 {
            return Err(fail(
                ResponseCode::NO_PERMISSION,
                format!("the broker[{cluster}] sending message is forbidden"),
            ));
        }
        if let Err(reason) = validate_topic_name(&header.topic) {
            return Err(fail(ResponseCode::SYSTEM_ERROR, reason));
        }
        if is_send_forbidden_topic(&header.topic) {
            return Err(fail(
                ResponseCode::NO_PERMISSION,
                format!("sending message to topic[{}] is forbidden", header.topic),
            ));
        }
        let topic = match self.topics.get(&header.topic) {
            Some(topic) => topic,
            None => self.auto_create_topic(request, header)?,
        };
        if topic.perm & perm::WRITE == 0 {
            return Err(fail(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{}] sending message is forbidden", header.topic),
            ));
        }
        if header.queue_id >= topic.write_queue_nums {
            return Err(fail(
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "request queueId[{}] is illegal, topic {} has {} write queues; producer {}",
                    header.queue_id, header.topic, topic.write_queue_nums, header.producer_group
                ),
            ));
        }
        Ok(topic)
    }

    fn auto_create_topic(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
    ) -> Result<TopicConfig, Box<Response>> {
        let created = self.topics.create_for_send(
            &header.topic,
            &header.default_topic,
            header.default_topic_queue_nums,
            0,
        );
        match created {
            Ok(Some((topic, newly))) => {
                if newly {
                    tracing::info!(topic = %header.topic, "topic auto-created by a send");
                    self.registrar.topics_changed();
                }
                Ok(topic)
            }
            Ok(None) => Err(Box::new(error(
                request,
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", header.topic),
            ))),
            Err(e) => Err(Box::new(error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("cannot create topic {}: {e}", header.topic),
            ))),
        }
    }

    async fn store_send(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic: &TopicConfig,
    ) -> Response {
        let outgoing = if header.batch.unwrap_or(false) {
            self.batch_messages(request, header, topic)
        } else {
            self.single_message(request, header, topic).map(|m| vec![m])
        };
        let outgoing = match outgoing {
            Ok(outgoing) => outgoing,
            Err(response) => return *response,
        };
        let store_host = self.store.config().store_host;
        let born_host = connection.peer();
        let messages: Vec<MessageToStore<'_>> = outgoing
            .iter()
            .map(|m| MessageToStore {
                topic: &m.topic,
                queue_id: m.queue_id,
                flag: m.flag,
                body: &m.body,
                properties: &m.properties,
                sysflag: m.sysflag,
                born_timestamp_ms: header.born_timestamp,
                born_host,
                store_host,
                reconsume_times: m.reconsume_times,
                prepared_transaction_offset: 0,
            })
            .collect();
        let appended = if messages.len() == 1 {
            self.store.put_message(&messages[0]).map(|r| vec![r])
        } else {
            self.store.put_messages(&messages)
        };
        let results = match appended {
            Ok(results) => results,
            Err(e) => {
                count(&self.stats.put_failures, messages.len());
                return store_error_response(request, &e);
            }
        };
        let Some(last) = results.last() else {
            return error(request, ResponseCode::SYSTEM_ERROR, "empty batch");
        };
        let first = &outgoing[0];
        if let Err(e) = self.store.wait_durable(last.end_offset).await {
            count(&self.stats.put_failures, messages.len());
            return match e {
                // Stored, not yet durable: Java answers with the send's header and this code.
                StoreError::FlushTimeout { .. } => with_code(
                    self.send_response(request, first.queue_id, &results),
                    ResponseCode::FLUSH_DISK_TIMEOUT,
                    e.to_string(),
                ),
                e => store_error_response(request, &e),
            };
        }
        count(&self.stats.put_messages, results.len());
        self.messages_arrived(&first.topic, first.queue_id, last.queue_offset + 1);
        let response = self.send_response(request, first.queue_id, &results);
        match self.wait_for_slave(last.end_offset).await {
            Ok(()) => response,
            Err(e) => {
                let code = match e {
                    ReplicaWaitError::SlaveNotAvailable(_) => ResponseCode::SLAVE_NOT_AVAILABLE,
                    ReplicaWaitError::Timeout { .. } => ResponseCode::FLUSH_SLAVE_TIMEOUT,
                };
                with_code(response, code, e.to_string())
            }
        }
    }

    /// SYNC_MASTER: the send is acknowledged only once a slave has its bytes.
    async fn wait_for_slave(&self, end_offset: u64) -> Result<(), ReplicaWaitError> {
        if self.config.read().broker_role != BrokerRole::SyncMaster {
            return Ok(());
        }
        match self.ha_master.get() {
            Some(master) => master.wait_replicated(end_offset).await,
            None => Err(ReplicaWaitError::SlaveNotAvailable(
                "replication is not running on this master".into(),
            )),
        }
    }

    fn send_response(
        &self,
        request: &RemotingCommand,
        queue_id: i32,
        results: &[AppendResult],
    ) -> Response {
        let msg_id = results
            .iter()
            .map(AppendResult::msg_id)
            .collect::<Vec<_>>()
            .join(",");
        let response_header = SendMessageResponseHeader {
            msg_id,
            queue_id,
            queue_offset: results.first().map_or(0, |r| r.queue_offset as i64),
            transaction_id: None,
        };
        let mut fields = response_header.to_ext_fields();
        let (region, trace_on) = {
            let config = self.config.read();
            (config.region_id.clone(), config.trace_on)
        };
        fields.insert(property::MSG_REGION.to_owned(), region);
        fields.insert(property::TRACE_ON.to_owned(), trace_on.to_string());
        RemotingCommand::response_to(request, ResponseCode::SUCCESS, None).with_ext_fields(fields)
    }

    /// A single message: §2.3 steps 3–6.
    fn single_message(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic: &TopicConfig,
    ) -> Result<Outgoing, Box<Response>> {
        let properties = decode_properties(header.properties.as_deref().unwrap_or(""));
        if properties
            .get(property::TRAN_MSG)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(Box::new(error(
                request,
                ResponseCode::NO_PERMISSION,
                "transaction messages are not supported by this broker",
            )));
        }
        let queue_id = self.pick_queue(header.queue_id, topic);
        let mut message = Outgoing {
            topic: header.topic.clone(),
            queue_id,
            flag: header.flag,
            body: request.body.clone(),
            properties: String::new(),
            sysflag: header.sys_flag,
            reconsume_times: header.reconsume_times.unwrap_or(0),
        };
        let mut properties = properties;
        self.reroute_exhausted_retry(request, header, &mut message)?;
        super::retry::apply_delay(
            &mut message.topic,
            &mut message.queue_id,
            &mut properties,
            message.sysflag,
            self.store.config().delay_levels_ms.len(),
        );
        self.finish_properties(request, &mut message, properties)?;
        Ok(message)
    }

    /// A batch: every record gets the batch-level properties; no delay, no transactions.
    fn batch_messages(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic: &TopicConfig,
    ) -> Result<Vec<Outgoing>, Box<Response>> {
        let illegal =
            |remark: String| Box::new(error(request, ResponseCode::MESSAGE_ILLEGAL, remark));
        if sysflag::transaction_type(header.sys_flag) != sysflag::TRANSACTION_NOT_TYPE {
            return Err(illegal(
                "batch messages cannot be transaction messages".into(),
            ));
        }
        let entries =
            decode_batch(&request.body).map_err(|e| illegal(format!("bad batch body: {e}")))?;
        if entries.is_empty() {
            return Err(illegal("the batch holds no message".into()));
        }
        let batch_properties = decode_properties(header.properties.as_deref().unwrap_or(""));
        let queue_id = self.pick_queue(header.queue_id, topic);
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut properties = decode_properties(&entry.properties);
            if properties
                .get(property::DELAY)
                .is_some_and(|d| d.trim().parse::<i32>().unwrap_or(0) > 0)
            {
                return Err(illegal("batch messages cannot be delayed".into()));
            }
            for (name, value) in batch_properties.iter() {
                properties.insert(name, value);
            }
            let mut message = Outgoing {
                topic: header.topic.clone(),
                queue_id,
                flag: entry.flag,
                body: entry.body,
                properties: String::new(),
                sysflag: header.sys_flag,
                reconsume_times: header.reconsume_times.unwrap_or(0),
            };
            self.finish_properties(request, &mut message, properties)?;
            out.push(message);
        }
        Ok(out)
    }

    /// `queueId < 0` lets the broker choose among the writable queues.
    fn pick_queue(&self, requested: i32, topic: &TopicConfig) -> i32 {
        if requested >= 0 {
            return requested;
        }
        let queues = topic.write_queue_nums.max(1);
        (rand::random::<u32>() % queues as u32) as i32
    }

    /// §2.3 step 4: a retry message that has used up its attempts goes to the DLQ.
    fn reroute_exhausted_retry(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        message: &mut Outgoing,
    ) -> Result<(), Box<Response>> {
        let Some(group) = header.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) else {
            return Ok(());
        };
        let max = super::max_reconsume_times(
            request,
            header.max_reconsume_times,
            self.groups.get(group).map(|g| g.retry_max_times),
        );
        if message.reconsume_times < max {
            return Ok(());
        }
        let dlq = format!("{DLQ_GROUP_TOPIC_PREFIX}{group}");
        match self.topics.create_dlq_topic(group) {
            Ok((_, created)) => {
                if created {
                    self.registrar.topics_changed();
                }
            }
            Err(e) => {
                return Err(Box::new(error(
                    request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("cannot create {dlq}: {e}"),
                )));
            }
        }
        message.topic = dlq;
        message.queue_id = 0;
        Ok(())
    }

    /// §2.3 step 6: `CLUSTER` added, `WAIT` removed; then the size checks of step 3.
    fn finish_properties(
        &self,
        request: &RemotingCommand,
        message: &mut Outgoing,
        mut properties: Properties,
    ) -> Result<(), Box<Response>> {
        let (cluster, max_body) = {
            let config = self.config.read();
            (
                config.broker_cluster_name.clone(),
                config.max_message_size_bytes,
            )
        };
        properties.insert(property::CLUSTER, cluster);
        properties.remove(property::WAIT);
        let encoded = encode_properties(&properties);
        if encoded.chars().count() > MAX_PROPERTIES_CHARS {
            return Err(Box::new(error(
                request,
                ResponseCode::MESSAGE_ILLEGAL,
                format!(
                    "the message properties are {} characters, more than {MAX_PROPERTIES_CHARS}",
                    encoded.chars().count()
                ),
            )));
        }
        if message.body.len() > max_body {
            return Err(Box::new(error(
                request,
                ResponseCode::MESSAGE_ILLEGAL,
                format!(
                    "the message body is {} bytes, more than maxMessageSize {max_body}",
                    message.body.len()
                ),
            )));
        }
        message.properties = encoded;
        Ok(())
    }
}

/// A send's full response under another code: Java's clients read the header (message id,
/// queue, offset) of FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE answers,
/// since the message was stored.
fn with_code(mut response: Response, code: i32, remark: String) -> Response {
    response.code = code;
    response.remark = Some(remark);
    response
}

/// The response for a failed append or flush, with Java's codes.
pub(crate) fn store_error_response(
    request: &RemotingCommand,
    error_value: &StoreError,
) -> Response {
    let code = match error_value {
        StoreError::MessageIllegal(_) => ResponseCode::MESSAGE_ILLEGAL,
        StoreError::FlushTimeout { .. } => ResponseCode::FLUSH_DISK_TIMEOUT,
        StoreError::DiskFull { .. } | StoreError::ShutDown => ResponseCode::SERVICE_NOT_AVAILABLE,
        _ => ResponseCode::SYSTEM_ERROR,
    };
    error(request, code, error_value.to_string())
}

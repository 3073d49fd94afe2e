//! A queue's consumed offset: where a newly owned queue starts (QUERY_CONSUMER_OFFSET, else
//! the group's `consume_from_where`) and the commits (UPDATE_CONSUMER_OFFSET, answered, so
//! that a queue handed over after a commit is never read from an older offset).
//! Broadcasting groups keep offsets in a local file instead ([`super::local_offsets`]).
//!
//! Every request here goes to the queue's master, else to a slave of it (Java
//! `findBrokerAddressInAdmin`), so that a group whose master is gone still starts queues
//! and keeps its progress on the broker that now serves it.

use super::instance::Instance;
use super::{local_offsets, retry_topic};
use crate::protocol::broker_header::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{ConsumeFromWhere, MessageQueue};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};

impl Instance {
    /// Where a queue's pull loop starts: the committed offset (in memory when
    /// broadcasting), else per `consume_from_where` (retry topics from 0).
    pub async fn start_offset(&self, queue: &MessageQueue) -> Result<i64, String> {
        let addr = self.admin_addr(queue)?;
        if self.is_broadcasting() {
            if let Some(offset) = self.offsets.lock().get(queue) {
                return Ok(*offset);
            }
            return self.initial_offset(&addr, queue).await;
        }
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: self.config.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        };
        let request =
            RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, header.to_ext_fields());
        let response = self
            .remoting
            .invoke(&addr, request, self.config.admin_timeout)
            .await
            .map_err(|error| error.to_string())?;
        match response.code {
            ResponseCode::SUCCESS => {
                QueryConsumerOffsetResponseHeader::from_ext_fields(&response.ext_fields)
                    .map(|h| h.offset)
                    .map_err(|error| error.to_string())
            }
            ResponseCode::QUERY_NOT_FOUND => self.initial_offset(&addr, queue).await,
            code => Err(format!(
                "QUERY_CONSUMER_OFFSET refused by {addr}: code {code}, {}",
                response.remark_text()
            )),
        }
    }

    /// Where a queue the group never consumed starts, per `consume_from_where` (Java
    /// `computePullFromWhere`): retry topics from 0, except that TIMESTAMP starts them at the
    /// end; TIMESTAMP searches the queue for the first message stored at or after
    /// `consume_timestamp_ms`.
    async fn initial_offset(&self, addr: &str, queue: &MessageQueue) -> Result<i64, String> {
        let retry = queue.topic == retry_topic(&self.config.group);
        match self.config.consume_from_where {
            ConsumeFromWhere::Timestamp if retry => self.max_offset(addr, queue).await,
            ConsumeFromWhere::Timestamp => {
                self.search_offset(addr, queue, self.config.consume_timestamp_ms)
                    .await
            }
            ConsumeFromWhere::LastOffset if !retry => self.max_offset(addr, queue).await,
            _ => Ok(0),
        }
    }

    async fn search_offset(
        &self,
        addr: &str,
        queue: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64, String> {
        let header = SearchOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            timestamp: timestamp_ms,
            broker_name: Some(queue.broker_name.clone()),
        };
        let response = self
            .offset_request(
                addr,
                (
                    RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
                    "SEARCH_OFFSET_BY_TIMESTAMP",
                ),
                &header,
            )
            .await?;
        SearchOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .map(|h| h.offset)
            .map_err(|error| error.to_string())
    }

    async fn max_offset(&self, addr: &str, queue: &MessageQueue) -> Result<i64, String> {
        let header = GetMaxOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        };
        let response = self
            .offset_request(
                addr,
                (RequestCode::GET_MAX_OFFSET, "GET_MAX_OFFSET"),
                &header,
            )
            .await?;
        GetMaxOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .map(|h| h.offset)
            .map_err(|error| error.to_string())
    }

    /// One offset lookup; a refusal is an error naming the request, code and remark.
    async fn offset_request(
        &self,
        addr: &str,
        (code, name): (i32, &str),
        header: &impl CommandHeader,
    ) -> Result<RemotingCommand, String> {
        let request = RemotingCommand::request(code, header.to_ext_fields());
        let response = self
            .remoting
            .invoke(addr, request, self.config.admin_timeout)
            .await
            .map_err(|error| error.to_string())?;
        if response.code != ResponseCode::SUCCESS {
            return Err(format!(
                "{name} refused by {addr}: code {}, {}",
                response.code,
                response.remark_text()
            ));
        }
        Ok(response)
    }

    /// UPDATE_CONSUMER_OFFSET for one queue, waiting for the broker's answer; nothing when
    /// broadcasting (the file is written by [`Instance::commit_offsets`]).
    pub async fn commit(&self, queue: &MessageQueue, offset: i64) {
        if self.is_broadcasting() {
            return;
        }
        let addr = match self.admin_addr(queue) {
            Ok(addr) => addr,
            Err(reason) => {
                tracing::warn!(?queue, offset, "offset not committed: {reason}");
                return;
            }
        };
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: self.config.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            commit_offset: offset,
            broker_name: Some(queue.broker_name.clone()),
        };
        let request =
            RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, header.to_ext_fields());
        match self
            .remoting
            .invoke(&addr, request, self.config.admin_timeout)
            .await
        {
            Ok(response) if response.code == ResponseCode::SUCCESS => {}
            Ok(response) => tracing::warn!(
                ?queue,
                addr,
                "offset not committed: code {}, {}",
                response.code,
                response.remark_text()
            ),
            Err(error) => tracing::warn!(?queue, "offset not committed: {error}"),
        }
    }

    /// Commits the offset of every owned queue; a broadcasting member writes its file.
    pub async fn commit_offsets(&self) {
        let offsets: Vec<(MessageQueue, i64)> = self
            .offsets
            .lock()
            .iter()
            .map(|(q, o)| (q.clone(), *o))
            .collect();
        if let Some(path) = &self.config.local_offsets_path {
            let table = offsets.into_iter().collect();
            if let Err(error) = local_offsets::persist(path, &table) {
                tracing::warn!("broadcasting offsets not saved: {error}");
            }
            return;
        }
        for (queue, offset) in offsets {
            self.commit(&queue, offset).await;
        }
    }
}

//! A queue's consumed offset at the broker: where a newly owned queue starts
//! (QUERY_CONSUMER_OFFSET, else the group's `consume_from_where`) and the commits
//! (UPDATE_CONSUMER_OFFSET, oneway). Broadcasting groups keep offsets in memory only.

use super::instance::Instance;
use super::retry_topic;
use crate::protocol::broker_header::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{ConsumeFromWhere, MessageQueue};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};

impl Instance {
    /// Where a queue's pull loop starts: the committed offset (in memory when
    /// broadcasting), else per `consume_from_where` (retry topics from 0).
    pub async fn start_offset(&self, queue: &MessageQueue) -> Result<i64, String> {
        let addr = self
            .master_addr(&queue.broker_name)
            .ok_or_else(|| format!("no master for broker {}", queue.broker_name))?;
        if self.is_broadcasting() {
            if let Some(offset) = self.offsets.lock().get(queue) {
                return Ok(*offset);
            }
            return match self.config.consume_from_where {
                ConsumeFromWhere::LastOffset => self.max_offset(&addr, queue).await,
                _ => Ok(0),
            };
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
            ResponseCode::QUERY_NOT_FOUND => {
                let retry = queue.topic == retry_topic(&self.config.group);
                match self.config.consume_from_where {
                    ConsumeFromWhere::LastOffset if !retry => self.max_offset(&addr, queue).await,
                    _ => Ok(0),
                }
            }
            code => Err(format!(
                "QUERY_CONSUMER_OFFSET refused: code {code}, {}",
                response.remark_text()
            )),
        }
    }

    async fn max_offset(&self, addr: &str, queue: &MessageQueue) -> Result<i64, String> {
        let header = GetMaxOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        };
        let request = RemotingCommand::request(RequestCode::GET_MAX_OFFSET, header.to_ext_fields());
        let response = self
            .remoting
            .invoke(addr, request, self.config.admin_timeout)
            .await
            .map_err(|error| error.to_string())?;
        if response.code != ResponseCode::SUCCESS {
            return Err(format!(
                "GET_MAX_OFFSET refused: code {}, {}",
                response.code,
                response.remark_text()
            ));
        }
        GetMaxOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .map(|h| h.offset)
            .map_err(|error| error.to_string())
    }

    /// UPDATE_CONSUMER_OFFSET (oneway) for one queue; nothing when broadcasting.
    pub async fn commit(&self, queue: &MessageQueue, offset: i64) {
        if self.is_broadcasting() {
            return;
        }
        let Some(addr) = self.master_addr(&queue.broker_name) else {
            tracing::warn!(?queue, "offset not committed: no master");
            return;
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
        if let Err(error) = self
            .remoting
            .invoke_oneway(&addr, request, self.config.admin_timeout)
            .await
        {
            tracing::warn!(?queue, "offset not committed: {error}");
        }
    }

    /// Commits the offset of every owned queue.
    pub async fn commit_offsets(&self) {
        let offsets: Vec<(MessageQueue, i64)> = self
            .offsets
            .lock()
            .iter()
            .map(|(q, o)| (q.clone(), *o))
            .collect();
        for (queue, offset) in offsets {
            self.commit(&queue, offset).await;
        }
    }
}

//! Consumer groups: progress (`consumerProgress`), connections (`consumerConnection`),
//! subscription-group configs (`updateSubGroup`, `deleteSubGroup`) and offset resets
//! (`resetOffsetByTime`).
//!
//! A group's brokers are found through the route of its `%RETRY%` topic, which every
//! clustering consumer registers by its heartbeat; that is how Java's admin finds them.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{AdminClient, AdminError, decoded, retry_topic};
use crate::protocol::body::{ConsumeStats, ConsumerConnection, ResetOffsetBody};
use crate::protocol::broker_header::{
    DeleteSubscriptionGroupRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, ResetOffsetRequestHeader,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{ConsumeType, MessageModel, MessageQueue};
use crate::protocol::subscription_group::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use crate::protocol::{ExtFields, RequestCode, ResponseCode};

/// The new offset of each queue after a reset.
pub type ResetOffsets = BTreeMap<MessageQueue, i64>;

/// One line of `consumerProgress` without `-g`: a group's members and how far behind it is.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub group: String,
    /// Members online; 0 when offline.
    pub count: usize,
    /// The lowest `MQVersion` ordinal among the members.
    pub min_version: Option<i32>,
    pub consume_type: Option<ConsumeType>,
    pub message_model: Option<MessageModel>,
    pub consume_tps: f64,
    pub diff_total: i64,
}

fn group_subject(group: &str) -> String {
    format!("group {group}")
}

fn decode_reset_body(bytes: &[u8]) -> Result<ResetOffsets, crate::protocol::ProtocolError> {
    ResetOffsetBody::decode(bytes).map(|body| body.offset_table)
}

impl AdminClient {
    /// Where a group's brokers are: the route of `topic` when given, else of the group's
    /// retry topic. One address per broker.
    async fn group_addrs(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<Vec<(String, String)>, AdminError> {
        let route_topic = topic.map_or_else(|| retry_topic(group), str::to_owned);
        let route = self.route(&route_topic).await?;
        Ok(Self::route_addrs(&route))
    }

    /// GET_CONSUME_STATS from each broker of the group, merged; TPS summed.
    pub async fn consume_stats(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats, AdminError> {
        let header = GetConsumeStatsRequestHeader {
            consumer_group: group.to_owned(),
            topic: topic.map(str::to_owned),
        };
        let mut merged = ConsumeStats::default();
        let addrs = self.group_addrs(group, topic).await?;
        let total = addrs.len();
        for (step, (name, addr)) in addrs.into_iter().enumerate() {
            self.report(
                step,
                total,
                &format!("reading consume stats of {group} from {name} ({addr})"),
            );
            let code = RequestCode::GET_CONSUME_STATS;
            let response = self
                .broker_header_call(&addr, &group_subject(group), code, &header)
                .await?;
            let stats = decoded(&addr, "ConsumeStats", ConsumeStats::decode(&response.body))?;
            merged.consume_tps += stats.consume_tps;
            merged.offset_table.extend(stats.offset_table);
        }
        if merged.offset_table.is_empty() {
            return Err(AdminError::NotFound(format!(
                "no consume stats for group {group}: the brokers report no offsets \
                 (maybe it has not consumed any message yet)"
            )));
        }
        Ok(merged)
    }

    /// GET_CONSUMER_CONNECTION_LIST from `addr`, or from the group's brokers in turn until
    /// one knows the group online.
    pub async fn consumer_connection(
        &self,
        group: &str,
        addr: Option<&str>,
    ) -> Result<ConsumerConnection, AdminError> {
        let addrs = match addr {
            Some(addr) => vec![addr.to_owned()],
            None => self
                .group_addrs(group, None)
                .await?
                .into_iter()
                .map(|(_, addr)| addr)
                .collect(),
        };
        let header = GetConsumerConnectionListRequestHeader {
            consumer_group: group.to_owned(),
        };
        let mut last = None;
        for addr in addrs {
            let code = RequestCode::GET_CONSUMER_CONNECTION_LIST;
            match self
                .broker_header_call(&addr, &group_subject(group), code, &header)
                .await
            {
                Ok(response) => {
                    let body = ConsumerConnection::decode(&response.body);
                    let connection = decoded(&addr, "ConsumerConnection", body)?;
                    if !connection.connection_set.is_empty() {
                        return Ok(connection);
                    }
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| {
            AdminError::NotFound(format!("the consumer group {group} is not online"))
        }))
    }

    /// Every group that has a retry topic, with its members and backlog; groups whose
    /// brokers cannot be asked are listed as offline.
    pub async fn group_summaries(&self) -> Result<Vec<GroupSummary>, AdminError> {
        let topics = self.all_topics().await?;
        let mut groups: Vec<&str> = topics
            .topic_list
            .iter()
            .filter_map(|topic| topic.strip_prefix(super::message::RETRY_PREFIX))
            .collect();
        groups.sort_unstable();
        let total = groups.len();
        let mut summaries = Vec::with_capacity(total);
        for (step, group) in groups.into_iter().enumerate() {
            self.report(step, total, &format!("reading group {group}"));
            let stats = self.consume_stats(group, None).await.ok();
            let connection = self.consumer_connection(group, None).await.ok();
            let online = connection
                .as_ref()
                .filter(|connection| !connection.connection_set.is_empty());
            summaries.push(GroupSummary {
                group: group.to_owned(),
                count: online.map_or(0, |c| c.connection_set.len()),
                min_version: online
                    .and_then(|c| c.connection_set.iter().map(|conn| conn.version).min()),
                consume_type: online.map(|c| c.consume_type),
                message_model: online.map(|c| c.message_model),
                consume_tps: stats.as_ref().map_or(0.0, |s| s.consume_tps),
                diff_total: stats.as_ref().map_or(0, total_diff),
            });
        }
        Ok(summaries)
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on the broker at `addr`.
    pub async fn create_subscription_group(
        &self,
        addr: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<(), AdminError> {
        let code = RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP;
        let body = Bytes::from(config.encode());
        self.broker_call(
            addr,
            &group_subject(&config.group_name),
            code,
            ExtFields::new(),
            body,
        )
        .await
        .map(drop)
    }

    /// DELETE_SUBSCRIPTIONGROUP on the broker at `addr`, with its offsets when asked.
    pub async fn delete_subscription_group(
        &self,
        addr: &str,
        group: &str,
        remove_offset: bool,
    ) -> Result<(), AdminError> {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: group.to_owned(),
            remove_offset: Some(remove_offset),
        };
        let code = RequestCode::DELETE_SUBSCRIPTIONGROUP;
        self.broker_header_call(addr, &group_subject(group), code, &header)
            .await
            .map(drop)
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG from the broker at `addr`.
    pub async fn subscription_groups(
        &self,
        addr: &str,
    ) -> Result<SubscriptionGroupWrapper, AdminError> {
        let code = RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG;
        let response = self
            .broker_call(
                addr,
                "subscription groups",
                code,
                ExtFields::new(),
                Bytes::new(),
            )
            .await?;
        decoded(
            addr,
            "SubscriptionGroupWrapper",
            SubscriptionGroupWrapper::decode(&response.body),
        )
    }

    /// INVOKE_BROKER_TO_RESET_OFFSET on each broker of the topic's route: the group's
    /// offsets move to the first message stored at or after `timestamp_ms` (-1: the end of
    /// each queue); without `force` an offset only moves back. Returns the new offsets.
    pub async fn reset_offset_by_time(
        &self,
        topic: &str,
        group: &str,
        timestamp_ms: i64,
        force: bool,
    ) -> Result<ResetOffsets, AdminError> {
        let route = self.route(topic).await?;
        let header = ResetOffsetRequestHeader {
            topic: topic.to_owned(),
            group: group.to_owned(),
            timestamp: timestamp_ms,
            is_force: force,
        };
        let subject = format!("group {group} on topic {topic}");
        let mut all = ResetOffsets::new();
        let addrs = Self::route_addrs(&route);
        let total = addrs.len();
        for (step, (name, addr)) in addrs.into_iter().enumerate() {
            let line = format!("resetting offsets of {group} on {name} ({addr})");
            self.report(step, total, &line);
            let code = RequestCode::INVOKE_BROKER_TO_RESET_OFFSET;
            let response = self
                .broker_call(&addr, &subject, code, header.to_ext_fields(), Bytes::new())
                .await?;
            if response.body.is_empty() {
                continue;
            }
            all.extend(decoded(
                &addr,
                "ResetOffsetBody",
                decode_reset_body(&response.body),
            )?);
        }
        Ok(all)
    }
}

/// Java's `ConsumeStats.computeTotalDiff`: broker offset minus consumer offset, summed.
pub fn total_diff(stats: &ConsumeStats) -> i64 {
    stats
        .offset_table
        .values()
        .map(|wrapper| wrapper.broker_offset - wrapper.consumer_offset)
        .sum()
}

/// Whether an error means "the group is not online" rather than a failure.
pub fn is_not_online(error: &AdminError) -> bool {
    error.response_code() == Some(ResponseCode::CONSUMER_NOT_ONLINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_offset_body_reads_fastjson_object_keys() -> Result<(), Box<dyn std::error::Error>> {
        let body = br#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:0,{"brokerName":"broker-a","queueId":1,"topic":"T"}:7}}"#;
        let offsets = decode_reset_body(body)?;
        assert_eq!(offsets.len(), 2);
        assert_eq!(
            offsets.get(&MessageQueue::new("T", "broker-a", 1)),
            Some(&7)
        );
        assert!(decode_reset_body(br#"{"offsetTable":{}}"#)?.is_empty());
        Ok(())
    }
}

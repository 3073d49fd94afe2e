//! Topics: create or update on one broker or a cluster's masters, delete from a cluster and
//! the name servers, and per-queue offsets (`topicStatus`).

use bytes::Bytes;

use super::{AdminClient, AdminError, BrokerAddr, decoded};
use crate::protocol::RequestCode;
use crate::protocol::body::TopicStatsTable;
use crate::protocol::broker_header::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetTopicStatsInfoRequestHeader,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::route::perm;

/// Name-server KV namespace holding `brokerName:queueNums;...` per ordered topic.
const ORDER_TOPIC_CONFIG_NAMESPACE: &str = "ORDER_TOPIC_CONFIG";
/// The template topic the create request names, as Java's admin sends it.
const DEFAULT_TOPIC: &str = "TBW102";

/// What `updateTopic` asks a broker for. Defaults are Java's `updateTopic` defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    /// Permission bits (`route::perm`).
    pub perm: i32,
    pub order: bool,
    /// TopicSysFlag bits (unit, unit-sub).
    pub topic_sys_flag: i32,
}

impl TopicSpec {
    pub fn new(topic: impl Into<String>) -> Self {
        TopicSpec {
            topic: topic.into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: perm::READ_WRITE,
            order: false,
            topic_sys_flag: 0,
        }
    }

    fn header(&self) -> CreateTopicRequestHeader {
        CreateTopicRequestHeader {
            topic: self.topic.clone(),
            default_topic: DEFAULT_TOPIC.to_owned(),
            read_queue_nums: self.read_queue_nums,
            write_queue_nums: self.write_queue_nums,
            perm: self.perm,
            topic_filter_type: "SINGLE_TAG".to_owned(),
            topic_sys_flag: Some(self.topic_sys_flag),
            order: self.order,
        }
    }
}

impl std::fmt::Display for TopicSpec {
    /// Java's `TopicConfig.toString`, which `updateTopic` prints after creating.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, \
             topicFilterType=SINGLE_TAG, topicSysFlag={}, order={}]",
            self.topic,
            self.read_queue_nums,
            self.write_queue_nums,
            perm_text(self.perm),
            self.topic_sys_flag,
            self.order
        )
    }
}

/// Java's `PermName.perm2String`: `RW-`, `R--`...
pub fn perm_text(value: i32) -> String {
    let bit = |flag: i32, letter: char| if value & flag != 0 { letter } else { '-' };
    [
        bit(perm::READ, 'R'),
        bit(perm::WRITE, 'W'),
        bit(perm::INHERIT, 'X'),
    ]
    .iter()
    .collect()
}

fn topic_subject(topic: &str) -> String {
    format!("topic {topic}")
}

impl AdminClient {
    /// UPDATE_AND_CREATE_TOPIC on the broker at `addr`.
    pub async fn create_topic(&self, addr: &str, spec: &TopicSpec) -> Result<(), AdminError> {
        let code = RequestCode::UPDATE_AND_CREATE_TOPIC;
        self.broker_header_call(addr, &topic_subject(&spec.topic), code, &spec.header())
            .await
            .map(drop)
    }

    /// UPDATE_AND_CREATE_TOPIC on every master of `cluster`; the masters it went to.
    pub async fn create_topic_in_cluster(
        &self,
        cluster: &str,
        spec: &TopicSpec,
    ) -> Result<Vec<BrokerAddr>, AdminError> {
        let masters = self.cluster_masters(cluster).await?;
        for (step, master) in masters.iter().enumerate() {
            let line = format!("creating topic {} on {master}", spec.topic);
            self.report(step, masters.len(), &line);
            self.create_topic(&master.addr, spec).await?;
        }
        Ok(masters)
    }

    /// Records an ordered topic's queue layout (`brokerName:queueNums;...`) on every name
    /// server, which then serves it as the route's `orderTopicConf`.
    pub async fn set_order_conf(&self, topic: &str, order_conf: &str) -> Result<(), AdminError> {
        for addr in &self.namesrv_addrs {
            self.namesrv
                .put_kv_config(addr, ORDER_TOPIC_CONFIG_NAMESPACE, topic, order_conf)
                .await
                .map_err(AdminError::Namesrv)?;
        }
        Ok(())
    }

    /// The broker name registered for `addr`, from the cluster info.
    pub async fn broker_name_of(&self, addr: &str) -> Result<String, AdminError> {
        let info = self.cluster_info().await?;
        info.broker_addr_table
            .values()
            .find(|data| data.broker_addrs.values().any(|a| a == addr))
            .map(|data| data.broker_name.clone())
            .ok_or_else(|| {
                AdminError::NotFound(format!("no broker registered with address {addr}"))
            })
    }

    /// DELETE_TOPIC_IN_BROKER on each master of `cluster`, then DELETE_TOPIC_IN_NAMESRV on
    /// every name server; the masters it was deleted from.
    pub async fn delete_topic(
        &self,
        cluster: &str,
        topic: &str,
    ) -> Result<Vec<BrokerAddr>, AdminError> {
        let masters = self.cluster_masters(cluster).await?;
        let header = DeleteTopicRequestHeader {
            topic: topic.to_owned(),
        };
        for (step, master) in masters.iter().enumerate() {
            let line = format!("deleting topic {topic} from {master}");
            self.report(step, masters.len(), &line);
            let code = RequestCode::DELETE_TOPIC_IN_BROKER;
            self.broker_header_call(&master.addr, &topic_subject(topic), code, &header)
                .await?;
        }
        for addr in &self.namesrv_addrs {
            self.namesrv
                .delete_topic(addr, topic, Some(cluster))
                .await
                .map_err(AdminError::Namesrv)?;
        }
        Ok(masters)
    }

    /// GET_TOPIC_STATS_INFO from one address of every broker in the topic's route, merged.
    pub async fn topic_stats(&self, topic: &str) -> Result<TopicStatsTable, AdminError> {
        let route = self.route(topic).await?;
        let header = GetTopicStatsInfoRequestHeader {
            topic: topic.to_owned(),
        };
        let mut merged = TopicStatsTable::default();
        let addrs = Self::route_addrs(&route);
        let total = addrs.len();
        for (step, (name, addr)) in addrs.into_iter().enumerate() {
            let line = format!("reading topic {topic} stats from {name} ({addr})");
            self.report(step, total, &line);
            let code = RequestCode::GET_TOPIC_STATS_INFO;
            let response = self
                .broker_call(
                    &addr,
                    &topic_subject(topic),
                    code,
                    header.to_ext_fields(),
                    Bytes::new(),
                )
                .await?;
            let table = decoded(
                &addr,
                "TopicStatsTable",
                TopicStatsTable::decode(&response.body),
            )?;
            merged.offset_table.extend(table.offset_table);
        }
        if merged.offset_table.is_empty() {
            return Err(AdminError::NotFound(format!(
                "no broker reported stats for topic {topic}"
            )));
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_spec_prints_like_java_topic_config() {
        let mut spec = TopicSpec::new("T");
        spec.read_queue_nums = 3;
        spec.perm = perm::READ;
        assert_eq!(
            spec.to_string(),
            "TopicConfig [topicName=T, readQueueNums=3, writeQueueNums=8, perm=R--, \
             topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]"
        );
        assert_eq!(perm_text(7), "RWX");
        let header = spec.header().to_ext_fields();
        assert_eq!(
            header.get("defaultTopic").map(String::as_str),
            Some("TBW102")
        );
        assert_eq!(header.get("order").map(String::as_str), Some("false"));
    }
}

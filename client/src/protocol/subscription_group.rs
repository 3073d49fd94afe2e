//! Consumer-group configs (Java `SubscriptionGroupConfig`, protocol.md §2.3 "Admin path"): the
//! body of UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, and, wrapped with the table's version, the body
//! of GET_ALL_SUBSCRIPTIONGROUP_CONFIG and the content of a broker's
//! `config/subscriptionGroup.json`.
//!
//! ```text
//! SubscriptionGroupConfig  {"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,
//!                           "consumeFromMinEnable":true,"groupName":"cg",
//!                           "notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,
//!                           "retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}
//! SubscriptionGroupWrapper {"dataVersion":{"counter":3,"timestamp":1700000000000},
//!                           "subscriptionGroupTable":{"cg":{...},...}}
//! ```
//!
//! Fields are written in fastjson's alphabetical order. Missing fields take Java's class
//! defaults and unknown ones (5.x adds `groupRetryPolicy`, `consumeMessageOrderly`,
//! `attributes`, ...) are ignored, so bodies from newer admin tools still decode.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::error::ProtocolError;
use super::lenient_json::{encode_body, parse_lenient};
use super::route::DataVersion;

/// How a consumer group may consume, as a broker keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// The broker id consumers are normally sent to (0 = the master).
    pub broker_id: i64,
    /// `false` refuses pulls from broadcasting consumers of this group.
    pub consume_broadcast_enable: bool,
    /// `false` refuses every pull of this group (NO_PERMISSION).
    pub consume_enable: bool,
    /// Kept for Java compatibility; no 4.x code path reads it.
    pub consume_from_min_enable: bool,
    /// Java leaves it `null` until set; `null` and a missing key both decode as empty, and an
    /// empty name is omitted on encode, as fastjson omits nulls.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub group_name: String,
    /// `false` stops NOTIFY_CONSUMER_IDS_CHANGED for this group.
    pub notify_consumer_ids_changed_enable: bool,
    /// Deliveries before a message goes to `%DLQ%<group>` (used when the request does not say).
    pub retry_max_times: i32,
    /// Queues of the group's `%RETRY%<group>` topic.
    pub retry_queue_nums: i32,
    /// The broker id suggested to consumers when the master is slow to serve them.
    pub which_broker_when_consume_slowly: i64,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        Self {
            broker_id: Self::DEFAULT_BROKER_ID,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            group_name: String::new(),
            notify_consumer_ids_changed_enable: true,
            retry_max_times: Self::DEFAULT_RETRY_MAX_TIMES,
            retry_queue_nums: Self::DEFAULT_RETRY_QUEUE_NUMS,
            which_broker_when_consume_slowly: Self::DEFAULT_WHICH_BROKER_WHEN_CONSUME_SLOWLY,
        }
    }
}

impl SubscriptionGroupConfig {
    /// Java's `MixAll.MASTER_ID`.
    pub const DEFAULT_BROKER_ID: i64 = 0;
    pub const DEFAULT_RETRY_MAX_TIMES: i32 = 16;
    pub const DEFAULT_RETRY_QUEUE_NUMS: i32 = 1;
    /// The first slave.
    pub const DEFAULT_WHICH_BROKER_WHEN_CONSUME_SLOWLY: i64 = 1;

    /// A group with Java's defaults: everything enabled, 1 retry queue, 16 deliveries.
    pub fn new(group_name: impl Into<String>) -> Self {
        Self {
            group_name: group_name.into(),
            ..Self::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_body(self, "SubscriptionGroupConfig")
    }

    /// Parses standard JSON or fastjson's output.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        parse_lenient(bytes, "SubscriptionGroupConfig")
    }
}

/// A broker's whole group table with its version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    pub data_version: DataVersion,
    /// Group name → config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

impl SubscriptionGroupWrapper {
    pub fn encode(&self) -> Vec<u8> {
        encode_body(self, "SubscriptionGroupWrapper")
    }

    /// Parses standard JSON or fastjson's output.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        parse_lenient(bytes, "SubscriptionGroupWrapper")
    }
}

/// Reads a string that Java may have written as `null`.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// What Java 4.9 writes for `new SubscriptionGroupConfig()` with the name set.
    const JAVA_DEFAULT: &str = concat!(
        r#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"#,
        r#""consumeFromMinEnable":true,"groupName":"cg","notifyConsumerIdsChangedEnable":true,"#,
        r#""retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
    );

    #[test]
    fn defaults_match_java() {
        let config = SubscriptionGroupConfig::new("cg");
        assert_eq!(config.group_name, "cg");
        assert!(config.consume_enable);
        assert!(config.consume_from_min_enable);
        assert!(config.consume_broadcast_enable);
        assert!(config.notify_consumer_ids_changed_enable);
        assert_eq!(config.retry_queue_nums, 1);
        assert_eq!(config.retry_max_times, 16);
        assert_eq!(config.broker_id, 0);
        assert_eq!(config.which_broker_when_consume_slowly, 1);
    }

    #[test]
    fn encodes_in_fastjson_order_and_round_trips() -> TestResult {
        let config = SubscriptionGroupConfig::new("cg");
        assert_eq!(String::from_utf8(config.encode())?, JAVA_DEFAULT);
        assert_eq!(
            SubscriptionGroupConfig::decode(JAVA_DEFAULT.as_bytes())?,
            config
        );
        let mut changed = config;
        changed.consume_enable = false;
        changed.retry_queue_nums = 3;
        changed.which_broker_when_consume_slowly = 2;
        assert_eq!(SubscriptionGroupConfig::decode(&changed.encode())?, changed);
        Ok(())
    }

    #[test]
    fn missing_null_and_unknown_fields_are_tolerated() -> TestResult {
        let sparse = SubscriptionGroupConfig::decode(br#"{"groupName":"cg","retryMaxTimes":3}"#)?;
        let mut expected = SubscriptionGroupConfig::new("cg");
        expected.retry_max_times = 3;
        assert_eq!(sparse, expected);

        let from_5x = SubscriptionGroupConfig::decode(
            br#"{"attributes":{},"consumeMessageOrderly":false,"groupName":"cg","groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0}"#,
        )?;
        assert_eq!(from_5x, SubscriptionGroupConfig::new("cg"));

        let unnamed = SubscriptionGroupConfig::decode(br#"{"groupName":null}"#)?;
        assert_eq!(unnamed, SubscriptionGroupConfig::default());
        // Java omits a null name; so do we.
        assert!(!String::from_utf8(unnamed.encode())?.contains("groupName"));
        assert!(SubscriptionGroupConfig::decode(br#"{"retryMaxTimes":"x"}"#).is_err());
        Ok(())
    }

    #[test]
    fn wrapper_matches_java_shape_and_accepts_fastjson_text() -> TestResult {
        let mut wrapper = SubscriptionGroupWrapper {
            data_version: DataVersion {
                counter: 3,
                timestamp_ms: 1_700_000_000_000,
            },
            ..SubscriptionGroupWrapper::default()
        };
        wrapper
            .subscription_group_table
            .insert("cg".to_owned(), SubscriptionGroupConfig::new("cg"));
        let expected = format!(
            r#"{{"dataVersion":{{"counter":3,"timestamp":1700000000000}},"subscriptionGroupTable":{{"cg":{JAVA_DEFAULT}}}}}"#
        );
        assert_eq!(String::from_utf8(wrapper.encode())?, expected);
        assert_eq!(
            SubscriptionGroupWrapper::decode(expected.as_bytes())?,
            wrapper
        );

        // fastjson's pretty file form (tabs, newlines) in Java's field order, with a trailing
        // comma that fastjson itself would accept.
        let pretty = "{\n\t\"subscriptionGroupTable\":{\n\t\t\"cg\":{\n\t\t\t\"groupName\":\"cg\",\n\t\t}\n\t},\n\t\"dataVersion\":{\n\t\t\"counter\":3,\n\t\t\"timestamp\":1700000000000\n\t}\n}";
        assert_eq!(
            SubscriptionGroupWrapper::decode(pretty.as_bytes())?,
            wrapper
        );
        Ok(())
    }
}

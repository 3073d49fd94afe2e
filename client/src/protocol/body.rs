//! Bodies of the broker's consumer-list and admin answers (protocol.md §2.3 "Admin path",
//! §3.2): who is in a consumer group, and offset tables per queue.
//!
//! Java admin tools read these with fastjson, so they are written the way fastjson writes
//! them: compact, keys in alphabetical order, enums by name. The offset tables are Java maps
//! keyed by a `MessageQueue` bean, which fastjson writes as an inline JSON object in key
//! position. That is not valid JSON, but it is what every Java peer writes and reads:
//!
//! ```text
//! ConsumerListBody   {"consumerIdList":["ip@pid",..]}
//! ConsumerConnection {"connectionSet":[{"clientAddr":"ip:port","clientId":"ip@pid",
//!                     "language":"JAVA","version":407}..],
//!                     "consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",
//!                     "consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING",
//!                     "subscriptionTable":{"T":SubscriptionData..}}
//! ConsumeStats       {"consumeTps":1.5,"offsetTable":{
//!                     {"brokerName":"b","queueId":0,"topic":"T"}:
//!                       {"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000000}..}}
//! TopicStatsTable    {"offsetTable":{
//!                     {"brokerName":"b","queueId":0,"topic":"T"}:
//!                       {"lastUpdateTimestamp":1700000000000,"maxOffset":10,"minOffset":0}..}}
//! ResetOffsetBody    {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:7..}}
//! ```
//!
//! Decoding goes through the lenient parser, which turns each inline-object key into a
//! string holding that object's JSON; the key is then parsed as a `MessageQueue`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::ProtocolError;
use super::heartbeat::{
    ConsumeFromWhere, ConsumeType, MessageModel, MessageQueue, SubscriptionData, json_codec,
    lenient,
};
use super::lenient_json::{encode_body, parse_lenient};

/// The most client ids, connections or subscriptions one body may list.
pub const MAX_LIST_ENTRIES: usize = 65_536;
/// The most queues one offset table may hold: far more than the queues of every topic a
/// group could consume.
pub const MAX_OFFSET_TABLE_ENTRIES: usize = 1 << 18;

/// GET_CONSUMER_LIST_BY_GROUP response body: the client ids of a group's live members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListBody {
    #[serde(deserialize_with = "texts")]
    pub consumer_id_list: Vec<String>,
}

json_codec!(ConsumerListBody, "ConsumerListBody");

/// One client channel of a group, as GET_CONSUMER_CONNECTION_LIST and
/// GET_PRODUCER_CONNECTION_LIST report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    /// The peer's `ip:port`.
    #[serde(deserialize_with = "lenient::string")]
    pub client_addr: String,
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    /// The `LanguageCode` name from the client's request headers (`JAVA`, `GO`, `CPP`…).
    #[serde(deserialize_with = "lenient::string")]
    pub language: String,
    /// The client's `MQVersion` ordinal.
    #[serde(deserialize_with = "lenient::int")]
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST response body: a group's channels and what it subscribes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    /// A Java `HashSet`, written as an array.
    #[serde(deserialize_with = "connections")]
    pub connection_set: Vec<Connection>,
    pub consume_from_where: ConsumeFromWhere,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    /// Topic → subscription.
    #[serde(deserialize_with = "subscription_table")]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

json_codec!(ConsumerConnection, "ConsumerConnection");

/// GET_PRODUCER_CONNECTION_LIST response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    #[serde(deserialize_with = "connections")]
    pub connection_set: Vec<Connection>,
}

json_codec!(ProducerConnection, "ProducerConnection");

/// One queue's consume progress in [`ConsumeStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// The queue's max offset (the next one to be written).
    #[serde(deserialize_with = "lenient::long")]
    pub broker_offset: i64,
    /// The group's committed offset.
    #[serde(deserialize_with = "lenient::long")]
    pub consumer_offset: i64,
    /// Store time of the last consumed message in milliseconds, 0 if unknown.
    #[serde(deserialize_with = "lenient::long")]
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS response body: how far a group is behind, per queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStats {
    /// Messages per second the group consumes (Java `double`).
    pub consume_tps: f64,
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

impl ConsumeStats {
    /// fastjson's form, with `MessageQueue` objects as keys (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"{\"consumeTps\":".to_vec();
        // A non-finite double comes out as `null`, as fastjson writes it.
        out.extend_from_slice(&encode_body(&self.consume_tps, "ConsumeStats"));
        out.extend_from_slice(b",\"offsetTable\":");
        write_queue_table(&mut out, &self.offset_table, "ConsumeStats");
        out.push(b'}');
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let wire: ConsumeStatsWire = parse_lenient(bytes, "ConsumeStats")?;
        Ok(Self {
            consume_tps: wire.consume_tps,
            offset_table: queue_table(wire.offset_table)?,
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ConsumeStatsWire {
    #[serde(deserialize_with = "lenient::double")]
    consume_tps: f64,
    #[serde(deserialize_with = "offset_entries")]
    offset_table: Vec<(String, OffsetWrapper)>,
}

/// One queue's bounds in [`TopicStatsTable`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// Store time of the newest message in milliseconds, 0 if the queue is empty.
    #[serde(deserialize_with = "lenient::long")]
    pub last_update_timestamp: i64,
    #[serde(deserialize_with = "lenient::long")]
    pub max_offset: i64,
    #[serde(deserialize_with = "lenient::long")]
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO response body: each queue's min and max offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicStatsTable {
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
}

impl TopicStatsTable {
    /// fastjson's form, with `MessageQueue` objects as keys (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        write_queue_table(&mut out, &self.offset_table, "TopicStatsTable");
        out.push(b'}');
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let wire: TopicStatsTableWire = parse_lenient(bytes, "TopicStatsTable")?;
        Ok(Self {
            offset_table: queue_table(wire.offset_table)?,
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TopicStatsTableWire {
    #[serde(deserialize_with = "offset_entries")]
    offset_table: Vec<(String, TopicOffset)>,
}

/// The new offset of each queue after INVOKE_BROKER_TO_RESET_OFFSET: the body of its answer
/// and of the RESET_CONSUMER_CLIENT_OFFSET notice the broker sends to online consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetOffsetBody {
    pub offset_table: BTreeMap<MessageQueue, i64>,
}

impl ResetOffsetBody {
    /// fastjson's form, with `MessageQueue` objects as keys (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        write_queue_table(&mut out, &self.offset_table, "ResetOffsetBody");
        out.push(b'}');
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let wire: ResetOffsetBodyWire = parse_lenient(bytes, "ResetOffsetBody")?;
        let entries = wire.offset_table.into_iter();
        Ok(Self {
            offset_table: queue_table(entries.map(|(key, lenient::Long(offset))| (key, offset)))?,
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ResetOffsetBodyWire {
    #[serde(deserialize_with = "offset_entries")]
    offset_table: Vec<(String, lenient::Long)>,
}

/// Writes `{<queue>:<value>,…}` with each queue as an inline object, as fastjson writes a
/// `Map<MessageQueue, _>`.
fn write_queue_table<V: Serialize>(
    out: &mut Vec<u8>,
    table: &BTreeMap<MessageQueue, V>,
    what: &'static str,
) {
    out.push(b'{');
    for (index, (queue, value)) in table.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&encode_body(queue, what));
        out.push(b':');
        out.extend_from_slice(&encode_body(value, what));
    }
    out.push(b'}');
}

/// Parses each key, which the lenient parser left as the JSON text of a `MessageQueue`.
fn queue_table<V>(
    entries: impl IntoIterator<Item = (String, V)>,
) -> Result<BTreeMap<MessageQueue, V>, ProtocolError> {
    entries
        .into_iter()
        .map(|(key, value)| Ok((parse_lenient(key.as_bytes(), "MessageQueue key")?, value)))
        .collect()
}

fn texts<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let texts: Vec<lenient::Text> =
        lenient::bounded_seq(deserializer, MAX_LIST_ENTRIES, "consumerIdList")?;
    Ok(texts.into_iter().map(|lenient::Text(text)| text).collect())
}

fn connections<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Connection>, D::Error> {
    lenient::bounded_seq(deserializer, MAX_LIST_ENTRIES, "connectionSet")
}

fn subscription_table<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, SubscriptionData>, D::Error> {
    lenient::bounded_map(deserializer, MAX_LIST_ENTRIES, "subscriptionTable")
}

fn offset_entries<'de, D, V>(deserializer: D) -> Result<Vec<(String, V)>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    lenient::bounded_map(deserializer, MAX_OFFSET_TABLE_ENTRIES, "offsetTable")
}

#[cfg(test)]
mod tests;

//! Routing bodies exchanged with the name server (protocol.md §3.1, §3.3, §3.6): topic routes,
//! cluster info, topic lists, KV tables and the broker data version, plus permission bits.
//!
//! Encoding writes what every client accepts (protocol.md §3.2): compact JSON with no
//! whitespace (the Go client splits `brokerAddrs` text on `,` and `:`), fields in fastjson's
//! alphabetical order, broker ids as quoted keys, `filterServerTable` always present and
//! `enableActingMaster` in every broker entry (the Rust client requires both). Decoding is
//! lenient like fastjson: unknown fields are ignored, missing fields take their Java
//! defaults, and bare numeric keys (`{0:"ip:port"}`) written by Java peers are accepted.
//!
//! ```text
//! TopicRouteData {"brokerDatas":[BrokerData..],"filterServerTable":{},
//!                 "orderTopicConf":"a:4;b:4" (only when set),"queueDatas":[QueueData..]}
//! BrokerData     {"brokerAddrs":{"0":"ip:port","1":"ip:port"},"brokerName":"broker-a",
//!                 "cluster":"DefaultCluster","enableActingMaster":false}
//! QueueData      {"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,
//!                 "writeQueueNums":4}
//! ClusterInfo    {"brokerAddrTable":{name:BrokerData},"clusterAddrTable":{cluster:[name..]}}
//! TopicList      {"brokerAddr":"ip:port" (only when set),"topicList":[topic..]}
//! KVTable        {"table":{key:value}}
//! DataVersion    {"counter":7,"timestamp":1700000000000}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::ProtocolError;
use super::lenient_json::{encode_body, parse_lenient};

/// Topic and broker permission bits (Java `PermName`). Java stores them in an `int`.
pub mod perm {
    /// Marks a priority topic; brokers and clients ignore it in 4.x.
    pub const PRIORITY: i32 = 8;
    pub const READ: i32 = 4;
    pub const WRITE: i32 = 2;
    /// Topics created from a template (TBW102) inherit its config when this bit is set.
    pub const INHERIT: i32 = 1;
    /// Read and write: the default perm of a topic and of a broker.
    pub const READ_WRITE: i32 = READ | WRITE;

    pub const fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }

    pub const fn is_writable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }

    pub const fn is_inherited(perm: i32) -> bool {
        perm & INHERIT == INHERIT
    }
}

/// Gives a body type the `encode`/`decode` pair every body has, so they cannot drift apart.
macro_rules! json_body {
    ($type:ty, $what:literal) => {
        impl $type {
            /// Compact JSON as Java peers and every stock client read it.
            pub fn encode(&self) -> Vec<u8> {
                encode_body(self, $what)
            }

            /// Parses standard JSON or fastjson's output (bare numeric keys and the like).
            pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
                parse_lenient(bytes, $what)
            }
        }
    };
}

/// The version of a broker's topic table: the name server rebuilds a broker's queue data only
/// when the version it registers differs from the stored one.
///
/// Two versions are equal when both fields are; 5.x's extra `stateVersion` is ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct DataVersion {
    /// Bumped on every change to the topic table.
    pub counter: i64,
    /// Wall-clock time of the last change, in milliseconds since the Unix epoch.
    #[serde(rename = "timestamp")]
    pub timestamp_ms: i64,
}

json_body!(DataVersion, "DataVersion");

impl DataVersion {
    /// A first version, as Java's `new DataVersion()` (counter 0, stamped `now_ms`).
    pub fn new(now_ms: i64) -> Self {
        Self {
            counter: 0,
            timestamp_ms: now_ms,
        }
    }

    /// Records a change (Java `nextVersion`); the caller passes the clock.
    pub fn advance(&mut self, now_ms: i64) {
        self.counter = self.counter.wrapping_add(1);
        self.timestamp_ms = now_ms;
    }
}

/// One broker's queues for a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "QueueDataWire")]
pub struct QueueData {
    pub broker_name: String,
    /// [`perm`] bits.
    pub perm: i32,
    pub read_queue_nums: i32,
    /// 1 = unit topic, 2 = unit subscription (Java `TopicSysFlag`).
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

json_body!(QueueData, "QueueData");

/// What QueueData may look like on the wire: older 4.x peers spell `topicSysFlag` as
/// `topicSynFlag`, and some writers send both. A serde alias would reject the latter as a
/// duplicate field, so both are read and the new spelling wins.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct QueueDataWire {
    broker_name: String,
    perm: i32,
    read_queue_nums: i32,
    write_queue_nums: i32,
    topic_sys_flag: Option<i32>,
    topic_syn_flag: Option<i32>,
}

impl From<QueueDataWire> for QueueData {
    fn from(wire: QueueDataWire) -> Self {
        Self {
            broker_name: wire.broker_name,
            perm: wire.perm,
            read_queue_nums: wire.read_queue_nums,
            topic_sys_flag: wire.topic_sys_flag.or(wire.topic_syn_flag).unwrap_or(0),
            write_queue_nums: wire.write_queue_nums,
        }
    }
}

/// A broker name's addresses: the master (id 0) and its slaves (id ≥ 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Broker id → `ip:port`. serde_json writes the integer keys quoted, which every client
    /// accepts; Java's bare keys are read through the lenient parser.
    pub broker_addrs: BTreeMap<u64, String>,
    pub broker_name: String,
    pub cluster: String,
    /// A 5.x field; always written because the Rust client rejects entries without it.
    pub enable_acting_master: bool,
}

json_body!(BrokerData, "BrokerData");

impl BrokerData {
    /// The broker id of a master; slaves have ids from 1.
    pub const MASTER_ID: u64 = 0;

    pub fn new(cluster: impl Into<String>, broker_name: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            broker_name: broker_name.into(),
            ..Self::default()
        }
    }

    /// The master's address, if the master is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.addr(Self::MASTER_ID)
    }

    pub fn addr(&self, broker_id: u64) -> Option<&str> {
        self.broker_addrs.get(&broker_id).map(String::as_str)
    }

    /// An address to send to: the master, else the slave with the lowest id.
    ///
    /// Java's `selectBrokerAddr` picks a random slave when the master is gone; the codec has
    /// no randomness, and a stable choice keeps a caller's retries on one broker.
    pub fn select_addr(&self) -> Option<&str> {
        self.broker_addrs.values().next().map(String::as_str)
    }
}

/// GET_ROUTEINFO_BY_TOPIC response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    /// Always written, as `{}` when empty: the Rust client requires the field.
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// `brokerName:queueNums;…` for ordered topics. Omitted when unset, because clients that
    /// see the field build their publish queues from it alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
}

json_body!(TopicRouteData, "TopicRouteData");

/// GET_BROKER_CLUSTER_INFO response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// Broker name → its addresses.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → the broker names in it.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

json_body!(ClusterInfo, "ClusterInfo");

/// Body of the topic-listing commands (GET_ALL_TOPIC_LIST_FROM_NAMESERVER and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    pub topic_list: Vec<String>,
}

json_body!(TopicList, "TopicList");

/// Body of GET_KVLIST_BY_NAMESPACE (Java `KVTable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}

json_body!(KvTable, "KVTable");

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn broker(name: &str, addrs: &[(u64, &str)]) -> BrokerData {
        let mut data = BrokerData::new("DefaultCluster", name);
        data.broker_addrs = addrs
            .iter()
            .map(|(id, addr)| (*id, (*addr).to_owned()))
            .collect();
        data
    }

    fn queue(name: &str, queues: i32) -> QueueData {
        QueueData {
            broker_name: name.to_owned(),
            perm: perm::READ_WRITE,
            read_queue_nums: queues,
            topic_sys_flag: 0,
            write_queue_nums: queues,
        }
    }

    fn master_slave_route() -> TopicRouteData {
        TopicRouteData {
            broker_datas: vec![broker(
                "broker-a",
                &[(0, "10.0.0.1:10911"), (1, "10.0.0.2:10911")],
            )],
            queue_datas: vec![queue("broker-a", 4)],
            ..TopicRouteData::default()
        }
    }

    const MASTER_SLAVE_ROUTE: &str = concat!(
        r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"#,
        r#""brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"#,
        r#""filterServerTable":{},"#,
        r#""queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#
    );

    #[test]
    fn route_encodes_to_golden_json() -> TestResult {
        let route = master_slave_route();
        assert_eq!(String::from_utf8(route.encode())?, MASTER_SLAVE_ROUTE);
        assert_eq!(
            TopicRouteData::decode(MASTER_SLAVE_ROUTE.as_bytes())?,
            route
        );
        Ok(())
    }

    #[test]
    fn order_topic_conf_is_written_only_when_set() -> TestResult {
        let mut route = master_slave_route();
        route.order_topic_conf = Some("broker-a:4".to_owned());
        let text = String::from_utf8(route.encode())?;
        assert!(
            text.contains(r#""filterServerTable":{},"orderTopicConf":"broker-a:4","queueDatas""#),
            "{text}"
        );
        assert_eq!(TopicRouteData::decode(text.as_bytes())?, route);
        Ok(())
    }

    #[test]
    fn route_from_java_with_bare_keys_and_old_names_decodes() -> TestResult {
        // Java 4.x namesrv for an old client: bare broker ids, no enableActingMaster, the old
        // topicSynFlag spelling, and a 5.x field we do not know.
        let java = concat!(
            r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"#,
            r#""brokerName":"broker-a","cluster":"DefaultCluster","zoneName":"z"}],"#,
            r#""filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"#,
            r#""readQueueNums":4,"topicSynFlag":3,"writeQueueNums":4}]}"#
        );
        let route = TopicRouteData::decode(java.as_bytes())?;
        let mut expected = master_slave_route();
        expected.queue_datas[0].topic_sys_flag = 3;
        assert_eq!(route, expected);
        Ok(())
    }

    #[test]
    fn bare_key_broker_addrs_decode() -> TestResult {
        let data = BrokerData::decode(br#"{"brokerAddrs":{0:"a",1:"b"},"brokerName":"x"}"#)?;
        assert_eq!(data.master_addr(), Some("a"));
        assert_eq!(data.addr(1), Some("b"));
        assert_eq!(data.cluster, "");
        assert!(!data.enable_acting_master);
        Ok(())
    }

    #[test]
    fn queue_data_sys_flag_spellings() -> TestResult {
        let old = QueueData::decode(
            br#"{"brokerName":"b","perm":6,"readQueueNums":1,"topicSynFlag":1,"writeQueueNums":1}"#,
        )?;
        assert_eq!(old.topic_sys_flag, 1);
        let both = QueueData::decode(br#"{"brokerName":"b","topicSysFlag":2,"topicSynFlag":1}"#)?;
        assert_eq!(both.topic_sys_flag, 2);
        let neither = QueueData::decode(br#"{"brokerName":"b","perm":4}"#)?;
        assert_eq!(neither.topic_sys_flag, 0);
        assert_eq!(neither.perm, perm::READ);
        // Written with the current spelling only.
        assert_eq!(
            String::from_utf8(old.encode())?,
            r#"{"brokerName":"b","perm":6,"readQueueNums":1,"topicSysFlag":1,"writeQueueNums":1}"#
        );
        Ok(())
    }

    #[test]
    fn encoded_bodies_have_no_whitespace() {
        let mut route = master_slave_route();
        route
            .filter_server_table
            .insert("10.0.0.1:10911".into(), vec!["f:1".into(), "f:2".into()]);
        let bytes = route.encode();
        assert!(
            !bytes.iter().any(u8::is_ascii_whitespace),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[test]
    fn go_style_split_reads_the_addresses_we_write() {
        // The Go client takes the raw `brokerAddrs` object text, splits on `,`, splits each
        // part at its first `:` and strips quotes (protocol.md §3.2). Emulate it.
        let bytes = master_slave_route().encode();
        let text = String::from_utf8_lossy(&bytes);
        let start = text
            .find(r#""brokerAddrs":{"#)
            .map(|at| at + r#""brokerAddrs":{"#.len());
        let raw = start.and_then(|s| text[s..].find('}').map(|end| &text[s..s + end]));
        let parsed: BTreeMap<i64, String> = raw
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| part.split_once(':'))
            .map(|(key, value)| {
                (
                    key.replace('"', "").parse().unwrap_or(0),
                    value.replace('"', ""),
                )
            })
            .collect();
        assert_eq!(
            parsed,
            BTreeMap::from([
                (0, "10.0.0.1:10911".to_owned()),
                (1, "10.0.0.2:10911".to_owned())
            ])
        );
    }

    #[test]
    fn cluster_info_round_trips_and_reads_java_bare_keys() -> TestResult {
        let mut info = ClusterInfo::default();
        info.broker_addr_table.insert(
            "broker-a".into(),
            broker("broker-a", &[(0, "10.0.0.1:10911"), (1, "10.0.0.2:10911")]),
        );
        info.broker_addr_table.insert(
            "broker-b".into(),
            broker("broker-b", &[(0, "10.0.0.3:10911")]),
        );
        info.cluster_addr_table.insert(
            "DefaultCluster".into(),
            BTreeSet::from(["broker-a".to_owned(), "broker-b".to_owned()]),
        );
        let bytes = info.encode();
        assert_eq!(ClusterInfo::decode(&bytes)?, info);
        let text = String::from_utf8(bytes)?;
        assert!(
            text.starts_with(
                r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.1:10911","#
            ),
            "{text}"
        );
        assert!(
            text.ends_with(r#""clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}}"#),
            "{text}"
        );

        let java = concat!(
            r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"#,
            r#""brokerName":"broker-a","cluster":"DefaultCluster"},"broker-b":{"brokerAddrs":"#,
            r#"{0:"10.0.0.3:10911"},"brokerName":"broker-b","cluster":"DefaultCluster"}},"#,
            r#""clusterAddrTable":{"DefaultCluster":["broker-b","broker-a"]}}"#
        );
        assert_eq!(ClusterInfo::decode(java.as_bytes())?, info);
        Ok(())
    }

    #[test]
    fn topic_list_and_kv_table_shapes() -> TestResult {
        let list = TopicList {
            broker_addr: None,
            topic_list: vec!["A".into(), "B".into()],
        };
        assert_eq!(list.encode(), br#"{"topicList":["A","B"]}"#);
        let with_addr = TopicList::decode(br#"{"topicList":["A"],"brokerAddr":"1.2.3.4:10911"}"#)?;
        assert_eq!(with_addr.broker_addr.as_deref(), Some("1.2.3.4:10911"));
        assert_eq!(
            with_addr.encode(),
            br#"{"brokerAddr":"1.2.3.4:10911","topicList":["A"]}"#
        );

        let table = KvTable {
            table: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        };
        assert_eq!(table.encode(), br#"{"table":{"k":"v"}}"#);
        assert_eq!(KvTable::decode(&table.encode())?, table);
        Ok(())
    }

    #[test]
    fn data_version_compares_both_fields_and_ignores_state_version() -> TestResult {
        let version =
            DataVersion::decode(br#"{"counter":7,"stateVersion":3,"timestamp":1700000000000}"#)?;
        assert_eq!(
            version,
            DataVersion {
                counter: 7,
                timestamp_ms: 1_700_000_000_000
            }
        );
        assert_eq!(
            version.encode(),
            br#"{"counter":7,"timestamp":1700000000000}"#
        );
        assert_ne!(
            version,
            DataVersion {
                counter: 7,
                timestamp_ms: 1
            }
        );
        assert_ne!(
            version,
            DataVersion {
                counter: 8,
                timestamp_ms: 1_700_000_000_000
            }
        );
        let mut next = version;
        next.advance(1_700_000_000_005);
        assert_eq!(
            next,
            DataVersion {
                counter: 8,
                timestamp_ms: 1_700_000_000_005
            }
        );
        Ok(())
    }

    #[test]
    fn broker_address_helpers() {
        let both = broker("b", &[(2, "slave2"), (0, "master"), (1, "slave1")]);
        assert_eq!(both.master_addr(), Some("master"));
        assert_eq!(both.select_addr(), Some("master"));
        let slaves = broker("b", &[(2, "slave2"), (1, "slave1")]);
        assert_eq!(slaves.master_addr(), None);
        assert_eq!(slaves.select_addr(), Some("slave1"));
        assert_eq!(broker("b", &[]).select_addr(), None);
    }

    #[test]
    fn permission_bits() {
        assert!(perm::is_readable(6) && perm::is_writable(6) && !perm::is_inherited(6));
        assert!(perm::is_readable(4) && !perm::is_writable(4));
        assert!(!perm::is_readable(2) && perm::is_writable(2));
        assert!(perm::is_inherited(7));
        assert_eq!(
            perm::PRIORITY | perm::READ | perm::WRITE | perm::INHERIT,
            15
        );
    }

    #[test]
    fn malformed_route_is_an_error() {
        for text in [
            &b"{"[..],
            br#""route""#,
            br#"{"brokerDatas":{}}"#,
            br#"{"brokerDatas":[{"brokerAddrs":{x:"a"}}]}"#,
        ] {
            assert!(
                matches!(
                    TopicRouteData::decode(text),
                    Err(ProtocolError::JsonBody {
                        what: "TopicRouteData",
                        ..
                    })
                ),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

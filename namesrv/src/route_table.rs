//! The routing table: which brokers exist, which topics they carry, and when each was last
//! heard from. Pure logic: time comes in as `now_ms` and connections as opaque ids, so the
//! 120 s eviction rule is tested without sleeping.
//!
//! Semantics follow RocketMQ 4.9.7's RouteInfoManager (protocol.md §3.4–§3.5): only masters
//! (brokerId 0) contribute queue data; slaves contribute their address; a re-registration
//! never removes topics; a broker name that loses its last address takes its queue data with
//! it, and a topic left without queue data disappears.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bolide_client::protocol::route::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicList, TopicRouteData, perm,
};
use bolide_client::protocol::topic_config::TopicConfigSerializeWrapper;

/// brokerId of a master.
pub const MASTER_ID: u64 = 0;

/// One REGISTER_BROKER, already decoded.
#[derive(Debug, Clone)]
pub struct Registration {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: u64,
    pub ha_server_addr: String,
    pub topics: TopicConfigSerializeWrapper,
    pub filter_server_list: Vec<String>,
    /// The connection the registration arrived on; closing it removes the broker at once.
    pub connection_id: Option<u64>,
}

/// What a registering slave learns about its master.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

#[derive(Debug, Clone)]
struct BrokerLiveInfo {
    last_update_ms: u64,
    data_version: DataVersion,
    connection_id: Option<u64>,
    ha_server_addr: String,
}

/// A broker address that left the table, for logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedBroker {
    pub broker_addr: String,
    pub broker_name: Option<String>,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    /// topic → brokerName → queue data.
    topic_queue_table: HashMap<String, BTreeMap<String, QueueData>>,
    /// brokerName → addresses by brokerId.
    broker_addr_table: BTreeMap<String, BrokerData>,
    /// cluster → brokerNames.
    cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
    /// brokerAddr → liveness.
    broker_live_table: HashMap<String, BrokerLiveInfo>,
    /// brokerAddr → filter servers.
    filter_server_table: HashMap<String, Vec<String>>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register_broker(&mut self, registration: Registration, now_ms: u64) -> RegisterOutcome {
        let Registration {
            cluster_name,
            broker_name,
            broker_addr,
            broker_id,
            ha_server_addr,
            topics,
            filter_server_list,
            connection_id,
        } = registration;
        self.cluster_addr_table
            .entry(cluster_name.clone())
            .or_default()
            .insert(broker_name.clone());
        let broker_data = self
            .broker_addr_table
            .entry(broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: cluster_name.clone(),
                broker_name: broker_name.clone(),
                broker_addrs: BTreeMap::new(),
                enable_acting_master: false,
            });
        // The same address under another id: a slave promoted to master (or the reverse).
        broker_data
            .broker_addrs
            .retain(|id, addr| *id == broker_id || *addr != broker_addr);
        let first_registration = broker_data
            .broker_addrs
            .insert(broker_id, broker_addr.clone())
            .is_none();

        if broker_id == MASTER_ID {
            let changed = self
                .broker_live_table
                .get(&broker_addr)
                .is_none_or(|live| live.data_version != topics.data_version);
            if changed || first_registration {
                for config in topics.topic_config_table.values() {
                    let queue_data = QueueData {
                        broker_name: broker_name.clone(),
                        read_queue_nums: config.read_queue_nums,
                        write_queue_nums: config.write_queue_nums,
                        perm: config.perm,
                        topic_sys_flag: config.topic_sys_flag,
                    };
                    self.topic_queue_table
                        .entry(config.topic_name.clone())
                        .or_default()
                        .insert(broker_name.clone(), queue_data);
                }
            }
        }

        let previous = self.broker_live_table.insert(
            broker_addr.clone(),
            BrokerLiveInfo {
                last_update_ms: now_ms,
                data_version: topics.data_version,
                connection_id,
                ha_server_addr,
            },
        );
        if previous.is_none() {
            tracing::info!(%cluster_name, %broker_name, %broker_addr, broker_id, "new broker registered");
        }
        if filter_server_list.is_empty() {
            self.filter_server_table.remove(&broker_addr);
        } else {
            self.filter_server_table
                .insert(broker_addr.clone(), filter_server_list);
        }

        if broker_id == MASTER_ID {
            return RegisterOutcome::default();
        }
        self.master_of(&broker_name)
    }

    /// The live master of `broker_name`, as a slave's register response reports it.
    fn master_of(&self, broker_name: &str) -> RegisterOutcome {
        let master_addr = self
            .broker_addr_table
            .get(broker_name)
            .and_then(|data| data.broker_addrs.get(&MASTER_ID));
        match master_addr.and_then(|addr| Some((addr, self.broker_live_table.get(addr)?))) {
            Some((addr, live)) => RegisterOutcome {
                master_addr: Some(addr.clone()),
                ha_server_addr: Some(live.ha_server_addr.clone()),
            },
            None => RegisterOutcome::default(),
        }
    }

    /// UNREGISTER_BROKER: a clean shutdown removes the address at once.
    pub fn unregister_broker(
        &mut self,
        cluster_name: &str,
        broker_addr: &str,
        broker_name: &str,
        broker_id: u64,
    ) {
        self.broker_live_table.remove(broker_addr);
        self.filter_server_table.remove(broker_addr);
        let now_empty = match self.broker_addr_table.get_mut(broker_name) {
            Some(data) => {
                data.broker_addrs.remove(&broker_id);
                data.broker_addrs.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.remove_broker_name(broker_name, Some(cluster_name));
        }
        tracing::info!(%cluster_name, %broker_name, %broker_addr, broker_id, "broker unregistered");
    }

    /// Removes every broker not heard from for more than `expired_after_ms`.
    pub fn expire_inactive(&mut self, now_ms: u64, expired_after_ms: u64) -> Vec<RemovedBroker> {
        let expired: Vec<String> = self
            .broker_live_table
            .iter()
            .filter(|(_, live)| now_ms.saturating_sub(live.last_update_ms) > expired_after_ms)
            .map(|(addr, _)| addr.clone())
            .collect();
        expired
            .into_iter()
            .map(|addr| self.remove_broker_addr(&addr))
            .collect()
    }

    /// A connection closed: every broker that registered on it is gone.
    pub fn connection_closed(&mut self, connection_id: u64) -> Vec<RemovedBroker> {
        let owned: Vec<String> = self
            .broker_live_table
            .iter()
            .filter(|(_, live)| live.connection_id == Some(connection_id))
            .map(|(addr, _)| addr.clone())
            .collect();
        owned
            .into_iter()
            .map(|addr| self.remove_broker_addr(&addr))
            .collect()
    }

    fn remove_broker_addr(&mut self, broker_addr: &str) -> RemovedBroker {
        self.broker_live_table.remove(broker_addr);
        self.filter_server_table.remove(broker_addr);
        let mut emptied = Vec::new();
        let mut owner = None;
        for (name, data) in &mut self.broker_addr_table {
            let before = data.broker_addrs.len();
            data.broker_addrs.retain(|_, addr| addr != broker_addr);
            if data.broker_addrs.len() != before {
                owner = Some(name.clone());
                if data.broker_addrs.is_empty() {
                    emptied.push(name.clone());
                }
            }
        }
        for name in emptied {
            self.remove_broker_name(&name, None);
        }
        RemovedBroker {
            broker_addr: broker_addr.to_owned(),
            broker_name: owner,
        }
    }

    /// A broker name with no address left: drop it from its cluster and every topic.
    fn remove_broker_name(&mut self, broker_name: &str, cluster_hint: Option<&str>) {
        let cluster = self
            .broker_addr_table
            .remove(broker_name)
            .map(|data| data.cluster)
            .or_else(|| cluster_hint.map(str::to_owned));
        self.cluster_addr_table.retain(|name, brokers| {
            if cluster.as_deref().is_none_or(|c| c == name) {
                brokers.remove(broker_name);
            }
            !brokers.is_empty()
        });
        self.topic_queue_table.retain(|topic, queues| {
            if queues.remove(broker_name).is_some() && queues.is_empty() {
                tracing::info!(%topic, %broker_name, "topic removed: its last broker is gone");
            }
            !queues.is_empty()
        });
    }

    /// GET_ROUTEINFO_BY_TOPIC. `None` when the topic has no queue data or no live broker.
    pub fn route(&self, topic: &str, order_topic_conf: Option<String>) -> Option<TopicRouteData> {
        let queues = self.topic_queue_table.get(topic)?;
        let queue_datas: Vec<QueueData> = queues.values().cloned().collect();
        let broker_datas: Vec<BrokerData> = queues
            .keys()
            .filter_map(|name| self.broker_addr_table.get(name).cloned())
            .collect();
        if queue_datas.is_empty() || broker_datas.is_empty() {
            return None;
        }
        let filter_server_table = broker_datas
            .iter()
            .flat_map(|data| data.broker_addrs.values())
            .filter_map(|addr| Some((addr.clone(), self.filter_server_table.get(addr)?.clone())))
            .collect();
        Some(TopicRouteData {
            order_topic_conf,
            queue_datas,
            broker_datas,
            filter_server_table,
        })
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.broker_addr_table.clone(),
            cluster_addr_table: self.cluster_addr_table.clone(),
        }
    }

    pub fn all_topics(&self) -> TopicList {
        let mut topics: Vec<String> = self.topic_queue_table.keys().cloned().collect();
        topics.sort();
        TopicList {
            topic_list: topics,
            broker_addr: None,
        }
    }

    /// Topics with queue data on any broker of `cluster`.
    pub fn topics_by_cluster(&self, cluster: &str) -> TopicList {
        let brokers = self.cluster_addr_table.get(cluster);
        let mut topics: Vec<String> = self
            .topic_queue_table
            .iter()
            .filter(|(_, queues)| {
                brokers.is_some_and(|names| queues.keys().any(|name| names.contains(name)))
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        topics.sort();
        TopicList {
            topic_list: topics,
            broker_addr: None,
        }
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: every cluster and broker name is also a system topic.
    pub fn system_topics(&self) -> TopicList {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (cluster, brokers) in &self.cluster_addr_table {
            names.insert(cluster.clone());
            names.extend(brokers.iter().cloned());
        }
        let broker_addr = self
            .broker_addr_table
            .values()
            .find_map(|data| data.broker_addrs.values().next().cloned());
        TopicList {
            topic_list: names.into_iter().collect(),
            broker_addr,
        }
    }

    /// QUERY_DATA_VERSION: whether `data_version` differs from what this broker last
    /// registered, and the stored version. An unchanged version counts as a heartbeat.
    pub fn query_data_version(
        &mut self,
        broker_addr: &str,
        data_version: &DataVersion,
        now_ms: u64,
    ) -> (bool, Option<DataVersion>) {
        match self.broker_live_table.get_mut(broker_addr) {
            Some(live) if live.data_version == *data_version => {
                live.last_update_ms = now_ms;
                (false, Some(live.data_version))
            }
            Some(live) => (true, Some(live.data_version)),
            None => (true, None),
        }
    }

    /// DELETE_TOPIC_IN_NAMESRV: the whole topic, or only its queues on `cluster`'s brokers.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        let Some(cluster) = cluster.filter(|c| !c.is_empty()) else {
            self.topic_queue_table.remove(topic);
            return;
        };
        let Some(brokers) = self.cluster_addr_table.get(cluster) else {
            return;
        };
        if let Some(queues) = self.topic_queue_table.get_mut(topic) {
            queues.retain(|name, _| !brokers.contains(name));
            if queues.is_empty() {
                self.topic_queue_table.remove(topic);
            }
        }
    }

    /// WIPE_WRITE_PERM_OF_BROKER: clears the write bit on every queue of `broker_name`
    /// (until its next registration with changed data). Returns the number of topics touched.
    pub fn wipe_write_perm(&mut self, broker_name: &str) -> i32 {
        self.update_perm(broker_name, |p| p & !perm::WRITE)
    }

    /// ADD_WRITE_PERM_OF_BROKER: read and write again. Returns the number of topics touched.
    pub fn add_write_perm(&mut self, broker_name: &str) -> i32 {
        self.update_perm(broker_name, |_| perm::READ | perm::WRITE)
    }

    fn update_perm(&mut self, broker_name: &str, change: impl Fn(i32) -> i32) -> i32 {
        let mut count = 0;
        for queues in self.topic_queue_table.values_mut() {
            if let Some(queue) = queues.get_mut(broker_name) {
                queue.perm = change(queue.perm);
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_client::protocol::topic_config::TopicConfig;

    const EXPIRY_MS: u64 = 120_000;

    fn topics(names: &[(&str, i32, i32, i32)], counter: i64) -> TopicConfigSerializeWrapper {
        let mut wrapper = TopicConfigSerializeWrapper {
            data_version: DataVersion {
                counter,
                timestamp_ms: 1_700_000_000_000,
            },
            ..TopicConfigSerializeWrapper::default()
        };
        for (name, read, write, perm) in names {
            let config = TopicConfig {
                topic_name: (*name).to_owned(),
                read_queue_nums: *read,
                write_queue_nums: *write,
                perm: *perm,
                ..TopicConfig::default()
            };
            wrapper
                .topic_config_table
                .insert((*name).to_owned(), config);
        }
        wrapper
    }

    fn registration(
        name: &str,
        addr: &str,
        id: u64,
        wrapper: TopicConfigSerializeWrapper,
    ) -> Registration {
        Registration {
            cluster_name: "DefaultCluster".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: addr.replace(":10911", ":10912"),
            topics: wrapper,
            filter_server_list: Vec::new(),
            connection_id: Some(id + 100),
        }
    }

    fn master_a(table: &mut RouteTable, now_ms: u64) {
        let wrapper = topics(&[("TopicA", 8, 4, 6), ("Shared", 4, 4, 6)], 1);
        table.register_broker(
            registration("broker-a", "10.0.0.1:10911", 0, wrapper),
            now_ms,
        );
    }

    #[test]
    fn master_contributes_queues_with_separate_read_and_write_counts() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        let route = table.route("TopicA", None).expect("route");
        assert_eq!(route.queue_datas.len(), 1);
        let queue = &route.queue_datas[0];
        assert_eq!(
            (queue.read_queue_nums, queue.write_queue_nums, queue.perm),
            (8, 4, 6)
        );
        assert_eq!(
            route.broker_datas[0]
                .broker_addrs
                .get(&0)
                .map(String::as_str),
            Some("10.0.0.1:10911")
        );
        assert!(table.route("Unknown", None).is_none());
    }

    #[test]
    fn slave_adds_its_address_learns_its_master_and_adds_no_topics() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        let slave_topics = topics(&[("SlaveOnly", 1, 1, 6)], 9);
        let outcome = table.register_broker(
            registration("broker-a", "10.0.0.2:10911", 1, slave_topics),
            10,
        );
        assert_eq!(outcome.master_addr.as_deref(), Some("10.0.0.1:10911"));
        assert_eq!(outcome.ha_server_addr.as_deref(), Some("10.0.0.1:10912"));
        assert!(table.route("SlaveOnly", None).is_none());
        let route = table.route("TopicA", None).expect("route");
        assert_eq!(
            route.broker_datas[0]
                .broker_addrs
                .get(&1)
                .map(String::as_str),
            Some("10.0.0.2:10911")
        );
    }

    #[test]
    fn slave_without_live_master_learns_nothing() {
        let mut table = RouteTable::new();
        let outcome = table.register_broker(
            registration("broker-a", "10.0.0.2:10911", 1, topics(&[], 1)),
            0,
        );
        assert_eq!(outcome, RegisterOutcome::default());
    }

    #[test]
    fn expiry_is_strictly_after_120_seconds() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        assert!(table.expire_inactive(119_000, EXPIRY_MS).is_empty());
        assert!(table.route("TopicA", None).is_some());
        assert!(table.expire_inactive(120_000, EXPIRY_MS).is_empty());
        let removed = table.expire_inactive(121_000, EXPIRY_MS);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].broker_addr, "10.0.0.1:10911");
        assert!(table.route("TopicA", None).is_none());
        assert!(table.all_topics().topic_list.is_empty());
        assert!(table.cluster_info().broker_addr_table.is_empty());
        assert!(table.cluster_info().cluster_addr_table.is_empty());
    }

    #[test]
    fn reregistration_refreshes_liveness() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        master_a(&mut table, 100_000);
        assert!(table.expire_inactive(219_000, EXPIRY_MS).is_empty());
        assert_eq!(table.expire_inactive(221_000, EXPIRY_MS).len(), 1);
    }

    #[test]
    fn topics_stay_while_a_slave_of_the_name_remains() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        table.register_broker(
            registration("broker-a", "10.0.0.2:10911", 1, topics(&[], 1)),
            60_000,
        );
        // The master goes silent; the slave keeps registering.
        assert_eq!(table.expire_inactive(121_000, EXPIRY_MS).len(), 1);
        let route = table
            .route("TopicA", None)
            .expect("slave still serves reads");
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 1);
        assert!(route.broker_datas[0].broker_addrs.contains_key(&1));
    }

    #[test]
    fn closed_connection_removes_its_broker_at_once() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        let wrapper = topics(&[("Shared", 2, 2, 6), ("TopicB", 1, 1, 6)], 1);
        let mut broker_b = registration("broker-b", "10.0.0.3:10911", 0, wrapper);
        broker_b.connection_id = Some(200);
        table.register_broker(broker_b, 0);
        // broker-a registered on connection 100.
        let removed = table.connection_closed(100);
        assert_eq!(removed.len(), 1);
        assert!(table.route("TopicA", None).is_none());
        let shared = table.route("Shared", None).expect("broker-b still has it");
        assert_eq!(shared.queue_datas.len(), 1);
        assert_eq!(shared.queue_datas[0].broker_name, "broker-b");
        assert!(table.connection_closed(100).is_empty());
    }

    #[test]
    fn unregister_removes_name_when_last_address_goes() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        table.unregister_broker("DefaultCluster", "10.0.0.1:10911", "broker-a", 0);
        assert!(table.route("TopicA", None).is_none());
        assert!(table.cluster_info().cluster_addr_table.is_empty());
    }

    #[test]
    fn unchanged_data_version_does_not_overwrite_queue_data() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        assert_eq!(table.wipe_write_perm("broker-a"), 2);
        master_a(&mut table, 30_000);
        let route = table.route("TopicA", None).expect("route");
        assert_eq!(route.queue_datas[0].perm, perm::READ);
        // A new data version rewrites the queue data.
        let wrapper = topics(&[("TopicA", 8, 4, 6)], 2);
        table.register_broker(
            registration("broker-a", "10.0.0.1:10911", 0, wrapper),
            60_000,
        );
        assert_eq!(
            table.route("TopicA", None).expect("route").queue_datas[0].perm,
            6
        );
        assert_eq!(table.wipe_write_perm("broker-a"), 2);
        assert_eq!(table.add_write_perm("broker-a"), 2);
        assert_eq!(
            table.route("TopicA", None).expect("route").queue_datas[0].perm,
            6
        );
    }

    #[test]
    fn address_switching_id_replaces_the_old_entry() {
        let mut table = RouteTable::new();
        table.register_broker(
            registration("broker-a", "10.0.0.2:10911", 1, topics(&[], 1)),
            0,
        );
        table.register_broker(
            registration(
                "broker-a",
                "10.0.0.2:10911",
                0,
                topics(&[("T", 1, 1, 6)], 1),
            ),
            1,
        );
        let route = table.route("T", None).expect("route");
        let addrs = &route.broker_datas[0].broker_addrs;
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs.get(&0).map(String::as_str), Some("10.0.0.2:10911"));
    }

    #[test]
    fn data_version_query_refreshes_only_when_unchanged() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        let same = DataVersion {
            counter: 1,
            timestamp_ms: 1_700_000_000_000,
        };
        let newer = DataVersion {
            counter: 2,
            timestamp_ms: 1_700_000_000_000,
        };
        // A changed version is not a heartbeat: the broker still expires on time.
        assert!(
            table
                .query_data_version("10.0.0.1:10911", &newer, 100_000)
                .0
        );
        assert_eq!(table.expire_inactive(121_000, EXPIRY_MS).len(), 1);
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        let (changed, stored) = table.query_data_version("10.0.0.1:10911", &same, 100_000);
        assert!(!changed);
        assert_eq!(stored, Some(same));
        assert!(table.expire_inactive(219_000, EXPIRY_MS).is_empty());
        assert_eq!(
            table.query_data_version("10.9.9.9:1", &newer, 0),
            (true, None)
        );
    }

    #[test]
    fn delete_topic_whole_or_per_cluster() {
        let mut table = RouteTable::new();
        master_a(&mut table, 0);
        let mut other = registration(
            "broker-x",
            "10.0.0.9:10911",
            0,
            topics(&[("Shared", 1, 1, 6)], 1),
        );
        other.cluster_name = "OtherCluster".into();
        table.register_broker(other, 0);
        table.delete_topic("Shared", Some("DefaultCluster"));
        let route = table.route("Shared", None).expect("other cluster keeps it");
        assert_eq!(route.queue_datas[0].broker_name, "broker-x");
        assert_eq!(
            table.topics_by_cluster("OtherCluster").topic_list,
            vec!["Shared".to_owned()]
        );
        table.delete_topic("Shared", None);
        assert!(table.route("Shared", None).is_none());
    }
}

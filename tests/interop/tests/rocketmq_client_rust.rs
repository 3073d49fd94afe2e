//! The published `rocketmq-client-rust` 1.0.0 admin client against a Bolide name server: its
//! route, topic-list and cluster-info queries must parse our answers and see our topics. That
//! client is the strictest parser of the stock ones (protocol.md §3.2): it requires
//! `serializeTypeCurrentRPC`, `filterServerTable`, `enableActingMaster` and `topicSysFlag`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bolide_client::namesrv::NamesrvClient;
use bolide_client::protocol::header::RegisterBrokerRequestHeader;
use bolide_client::protocol::route::DataVersion;
use bolide_client::protocol::topic_config::{RegisterBrokerBody, TopicConfig};
use bolide_client::remoting::{ClientConfig, RemotingClient};
use bolide_interop::NamesrvProcess;
use rocketmq_client_rust::{
    ClientRuntime, ClientRuntimeConfig, DefaultMQAdminExt, MQAdminReadExt, TelemetryHandle,
};
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

fn topic(name: &str, read: i32, write: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.to_owned(),
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        ..TopicConfig::default()
    }
}

/// Registers master broker-a (TopicA 8 read / 4 write queues, RO read-only) and its slave,
/// as a broker built from our client does.
async fn register_brokers(namesrv: &str) {
    let api = NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        Duration::from_secs(3),
    );
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = DataVersion::new(1);
    for config in [topic("TopicA", 8, 4, 6), topic("RO", 2, 2, 4)] {
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(config.topic_name.clone(), config);
    }
    for (addr, id) in [("127.0.0.1:10911", 0), ("127.0.0.2:10911", 1)] {
        let header = RegisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: addr.into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: addr.replace(":10911", ":10912"),
            broker_id: id,
            compressed: Some(false),
            body_crc32: None,
        };
        api.register_broker(namesrv, header, &body)
            .await
            .expect("register");
    }
    // The registrations live as long as their connection: keep it for the test's length.
    std::mem::forget(api);
}

#[test]
fn stock_admin_client_reads_our_routes_topics_and_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = NamesrvProcess::start(dir.path()).expect("name server starts");
    let driver = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    driver.block_on(register_brokers(&namesrv.addr));

    // The stock client runs on a runtime it is handed, as in its own examples.
    let owner = RuntimeOwner::plan(RuntimeConfig {
        thread_name: "interop".to_owned(),
        ..Default::default()
    })
    .expect("runtime plan")
    .build()
    .expect("runtime owner");
    let client_runtime = ClientRuntime::try_new(
        owner.root_context().component("client"),
        ClientRuntimeConfig::default(),
        TelemetryHandle::noop(),
    )
    .expect("client runtime");
    driver.block_on(async {
        let mut admin =
            DefaultMQAdminExt::with_timeout(client_runtime.clone(), Duration::from_secs(3));
        admin.set_namesrv_addr(namesrv.addr.as_str());
        admin.start().await.expect("admin starts");

        let route = MQAdminReadExt::examine_topic_route_info(&admin, "TopicA".into())
            .await
            .expect("route query succeeds")
            .expect("TopicA has a route");
        assert_eq!(route.queue_datas.len(), 1);
        let queue = &route.queue_datas[0];
        assert_eq!(queue.broker_name.as_str(), "broker-a");
        assert_eq!(
            (queue.read_queue_nums, queue.write_queue_nums, queue.perm),
            (8, 4, 6)
        );
        assert_eq!(route.broker_datas.len(), 1);
        let addrs = route.broker_datas[0].broker_addrs();
        assert_eq!(addrs.get(&0).map(|a| a.as_str()), Some("127.0.0.1:10911"));
        assert_eq!(addrs.get(&1).map(|a| a.as_str()), Some("127.0.0.2:10911"));

        let read_only = MQAdminReadExt::examine_topic_route_info(&admin, "RO".into())
            .await
            .expect("route query succeeds")
            .expect("RO has a route");
        assert_eq!(read_only.queue_datas[0].perm, 4);
        let missing = MQAdminReadExt::examine_topic_route_info(&admin, "NoSuchTopic".into())
            .await
            .expect("an unknown topic is not an error");
        assert!(missing.is_none());

        let topics = MQAdminReadExt::fetch_all_topic_list(&admin)
            .await
            .expect("topic list");
        let mut names: Vec<String> = topics.topic_list.iter().map(|t| t.to_string()).collect();
        names.sort();
        assert_eq!(names, vec!["RO".to_owned(), "TopicA".to_owned()]);

        let cluster = MQAdminReadExt::examine_broker_cluster_info(&admin)
            .await
            .expect("cluster info");
        let clusters = cluster.cluster_addr_table.expect("cluster table");
        let brokers = clusters
            .iter()
            .find(|(name, _)| name.as_str() == "DefaultCluster")
            .map(|(_, brokers)| brokers)
            .expect("DefaultCluster");
        assert!(brokers.iter().any(|b| b.as_str() == "broker-a"));
        let broker_table = cluster.broker_addr_table.expect("broker table");
        let broker_a = broker_table
            .iter()
            .find(|(name, _)| name.as_str() == "broker-a")
            .map(|(_, data)| data)
            .expect("broker-a");
        assert_eq!(broker_a.broker_addrs().len(), 2);

        admin.shutdown().await;
        client_runtime.shutdown().await;
    });
    driver.block_on(async {
        owner.shutdown_tasks().await;
    });
    owner.shutdown_background();
}

//! Name servers in-process on 127.0.0.1:0, driven over real sockets by a test broker built
//! from our client: registration with several name servers, master/slave routes, immediate
//! removal on a closed connection, KV config persistence, config safety, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bolide_client::namesrv::NamesrvClient;
use bolide_client::protocol::header::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use bolide_client::protocol::route::DataVersion;
use bolide_client::protocol::topic_config::{RegisterBrokerBody, TopicConfig};
use bolide_client::protocol::{
    ExtFields, RemotingCommand, RequestCode, ResponseCode, SerializeType,
};
use bolide_client::remoting::{ClientConfig, RemotingClient, ShutdownTrigger, shutdown_channel};
use bolide_namesrv::NamesrvConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(3);

struct Namesrv {
    addr: String,
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
}

impl Namesrv {
    async fn start(dir: &Path) -> Namesrv {
        let config = NamesrvConfig {
            kv_config_path: dir.join("kvConfig.json"),
            ..NamesrvConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (trigger, shutdown) = shutdown_channel();
        let task = tokio::spawn(async move {
            bolide_namesrv::run(config, listener, shutdown)
                .await
                .expect("name server runs");
        });
        Namesrv {
            addr,
            trigger,
            task,
        }
    }

    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .expect("no panic");
    }
}

fn api() -> NamesrvClient {
    NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        TIMEOUT,
    )
}

fn topic(name: &str, read: i32, write: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.to_owned(),
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        ..TopicConfig::default()
    }
}

fn body(topics: &[TopicConfig], counter: i64) -> RegisterBrokerBody {
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = DataVersion {
        counter,
        timestamp_ms: 1_700_000_000_000,
    };
    for config in topics {
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(config.topic_name.clone(), config.clone());
    }
    body
}

fn header(name: &str, addr: &str, id: i64) -> RegisterBrokerRequestHeader {
    RegisterBrokerRequestHeader {
        broker_name: name.to_owned(),
        broker_addr: addr.to_owned(),
        cluster_name: "DefaultCluster".to_owned(),
        ha_server_addr: addr.replace(":10911", ":10912"),
        broker_id: id,
        compressed: Some(false),
        body_crc32: None,
    }
}

#[tokio::test]
async fn broker_registers_with_two_name_servers_and_both_serve_the_same_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Namesrv::start(&dir.path().join("a")).await;
    let second = Namesrv::start(&dir.path().join("b")).await;
    let broker = api();
    let topics = [topic("TopicA", 8, 4, 6), topic("ReadOnly", 2, 2, 4)];
    for namesrv in [&first, &second] {
        let result = broker
            .register_broker(
                &namesrv.addr,
                header("broker-a", "127.0.0.1:10911", 0),
                &body(&topics, 1),
            )
            .await
            .expect("master registers");
        assert_eq!(result.master_addr, None);
        // The slave registers too, and is told where its master is.
        let mut slave_header = header("broker-a", "127.0.0.2:10911", 1);
        slave_header.compressed = Some(true);
        let slave = broker
            .register_broker(
                &namesrv.addr,
                slave_header,
                &body(&[topic("SlaveOnly", 1, 1, 6)], 1),
            )
            .await
            .expect("slave registers");
        assert_eq!(slave.master_addr.as_deref(), Some("127.0.0.1:10911"));
        assert_eq!(slave.ha_server_addr.as_deref(), Some("127.0.0.1:10912"));
    }
    let client = api();
    let route_first = client
        .route(&first.addr, "TopicA")
        .await
        .expect("query")
        .expect("route");
    let route_second = client
        .route(&second.addr, "TopicA")
        .await
        .expect("query")
        .expect("route");
    assert_eq!(route_first, route_second);
    let queue = &route_first.queue_datas[0];
    assert_eq!(
        (queue.read_queue_nums, queue.write_queue_nums, queue.perm),
        (8, 4, 6)
    );
    let addrs = &route_first.broker_datas[0].broker_addrs;
    assert_eq!(addrs.get(&0).map(String::as_str), Some("127.0.0.1:10911"));
    assert_eq!(addrs.get(&1).map(String::as_str), Some("127.0.0.2:10911"));
    let read_only = client
        .route(&first.addr, "ReadOnly")
        .await
        .expect("query")
        .expect("route");
    assert_eq!(read_only.queue_datas[0].perm, 4);
    assert_eq!(
        client.route(&first.addr, "SlaveOnly").await.expect("query"),
        None
    );
    assert_eq!(
        client.route(&first.addr, "Nope").await.expect("query"),
        None
    );

    let cluster = client
        .cluster_info(&second.addr)
        .await
        .expect("cluster info");
    assert!(cluster.cluster_addr_table["DefaultCluster"].contains("broker-a"));
    assert_eq!(cluster.broker_addr_table["broker-a"].broker_addrs.len(), 2);
    let mut topics = client
        .all_topics(&first.addr)
        .await
        .expect("topics")
        .topic_list;
    topics.sort();
    assert_eq!(topics, vec!["ReadOnly".to_owned(), "TopicA".to_owned()]);
    let by_cluster = client
        .topics_by_cluster(&first.addr, "DefaultCluster")
        .await
        .expect("by cluster");
    assert_eq!(by_cluster.topic_list.len(), 2);
    assert!(
        client
            .topics_by_cluster(&first.addr, "Nope")
            .await
            .expect("empty")
            .topic_list
            .is_empty()
    );

    // Clean shutdown of the master: the slave keeps the name and its topics alive.
    broker
        .unregister_broker(
            &first.addr,
            UnregisterBrokerRequestHeader {
                broker_name: "broker-a".into(),
                broker_addr: "127.0.0.1:10911".into(),
                cluster_name: "DefaultCluster".into(),
                broker_id: 0,
            },
        )
        .await
        .expect("unregister");
    let after = client
        .route(&first.addr, "TopicA")
        .await
        .expect("query")
        .expect("slave remains");
    assert_eq!(after.broker_datas[0].broker_addrs.len(), 1);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn closed_broker_connection_removes_the_broker_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let broker = api();
    broker
        .register_broker(
            &namesrv.addr,
            header("broker-b", "127.0.0.1:20911", 0),
            &body(&[topic("TopicB", 4, 4, 6)], 1),
        )
        .await
        .expect("register");
    let client = api();
    assert!(
        client
            .route(&namesrv.addr, "TopicB")
            .await
            .expect("query")
            .is_some()
    );
    drop(broker);
    let mut gone = false;
    for _ in 0..50 {
        if client
            .route(&namesrv.addr, "TopicB")
            .await
            .expect("query")
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "route survived the broker's closed connection");
    assert!(
        client
            .cluster_info(&namesrv.addr)
            .await
            .expect("info")
            .broker_addr_table
            .is_empty()
    );
    namesrv.stop().await;
}

#[tokio::test]
async fn register_body_crc_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let remoting = RemotingClient::new(ClientConfig::default());
    let mut fields = bolide_client::protocol::header::CommandHeader::to_ext_fields(&header(
        "broker-c",
        "127.0.0.1:30911",
        0,
    ));
    fields.insert("bodyCrc32".into(), "12345".into());
    let request = RemotingCommand::request(RequestCode::REGISTER_BROKER, fields)
        .with_body(body(&[topic("TopicC", 1, 1, 6)], 1).encode_json());
    let response = remoting
        .invoke(&namesrv.addr, request, TIMEOUT)
        .await
        .expect("answer");
    assert_eq!(response.code, ResponseCode::SYSTEM_ERROR);
    assert_eq!(response.remark_text(), "crc32 not match");
    assert_eq!(
        api().route(&namesrv.addr, "TopicC").await.expect("query"),
        None
    );
    namesrv.stop().await;
}

#[tokio::test]
async fn kv_config_round_trips_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let client = api();
    client
        .put_kv_config(&namesrv.addr, "ORDER_TOPIC_CONFIG", "TopicA", "broker-a:4")
        .await
        .expect("put");
    client
        .put_kv_config(&namesrv.addr, "ns", "k1", "v1")
        .await
        .expect("put");
    client
        .put_kv_config(&namesrv.addr, "ns", "k2", "v2")
        .await
        .expect("put");
    client
        .delete_kv_config(&namesrv.addr, "ns", "k2")
        .await
        .expect("delete");
    assert_eq!(
        client
            .kv_config(&namesrv.addr, "ns", "k1")
            .await
            .expect("get")
            .as_deref(),
        Some("v1")
    );
    assert_eq!(
        client
            .kv_config(&namesrv.addr, "ns", "k2")
            .await
            .expect("get"),
        None
    );
    let list = client
        .kv_list(&namesrv.addr, "ns")
        .await
        .expect("list")
        .expect("present");
    assert_eq!(list.table.len(), 1);
    assert_eq!(
        client.kv_list(&namesrv.addr, "empty").await.expect("list"),
        None
    );
    // A broker registering learns the order-topic namespace.
    let result = client
        .register_broker(
            &namesrv.addr,
            header("broker-a", "127.0.0.1:10911", 0),
            &body(&[topic("TopicA", 4, 4, 6)], 1),
        )
        .await
        .expect("register");
    let order = result.order_topic_config.expect("order topic table");
    assert_eq!(
        order.table.get("TopicA").map(String::as_str),
        Some("broker-a:4")
    );
    namesrv.stop().await;

    let restarted = Namesrv::start(dir.path()).await;
    assert_eq!(
        api()
            .kv_config(&restarted.addr, "ns", "k1")
            .await
            .expect("get")
            .as_deref(),
        Some("v1")
    );
    restarted.stop().await;
}

#[tokio::test]
async fn config_is_readable_but_paths_cannot_be_changed_remotely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let client = api();
    let text = client.namesrv_config(&namesrv.addr).await.expect("config");
    assert!(text.contains("listenPort=9876"), "{text}");
    assert!(text.contains("kvConfigPath="), "{text}");
    for forbidden in [
        "kvConfigPath=/tmp/evil.json",
        "configStorePath=/etc/cron.d/x",
        "rocketmqHome=/tmp",
        "orderMessageEnable=true\nkvConfigPath=/tmp/x",
        "noSuchKey=1",
    ] {
        let error = client
            .update_namesrv_config(&namesrv.addr, forbidden)
            .await
            .expect_err(forbidden);
        assert_eq!(
            error.response_code(),
            Some(ResponseCode::NO_PERMISSION),
            "{forbidden}: {error}"
        );
    }
    let unchanged = client.namesrv_config(&namesrv.addr).await.expect("config");
    assert_eq!(unchanged, text, "a refused update changed something");
    assert!(!Path::new("/tmp/evil.json").exists());

    // The one runtime-safe key works, and turns on orderTopicConf in routes.
    client
        .register_broker(
            &namesrv.addr,
            header("broker-a", "127.0.0.1:10911", 0),
            &body(&[topic("Ordered", 4, 4, 6)], 1),
        )
        .await
        .expect("register");
    client
        .put_kv_config(&namesrv.addr, "ORDER_TOPIC_CONFIG", "Ordered", "broker-a:4")
        .await
        .expect("put");
    let before = client
        .route(&namesrv.addr, "Ordered")
        .await
        .expect("query")
        .expect("route");
    assert_eq!(before.order_topic_conf, None);
    client
        .update_namesrv_config(&namesrv.addr, "orderMessageEnable=true")
        .await
        .expect("update");
    let after = client
        .route(&namesrv.addr, "Ordered")
        .await
        .expect("query")
        .expect("route");
    assert_eq!(after.order_topic_conf.as_deref(), Some("broker-a:4"));
    namesrv.stop().await;
}

#[tokio::test]
async fn permissions_can_be_wiped_and_restored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let client = api();
    let topics = [topic("T1", 4, 4, 6), topic("T2", 4, 4, 6)];
    client
        .register_broker(
            &namesrv.addr,
            header("broker-a", "127.0.0.1:10911", 0),
            &body(&topics, 1),
        )
        .await
        .expect("register");
    assert_eq!(
        client
            .wipe_write_perm(&namesrv.addr, "broker-a")
            .await
            .expect("wipe"),
        2
    );
    let route = client
        .route(&namesrv.addr, "T1")
        .await
        .expect("query")
        .expect("route");
    assert_eq!(route.queue_datas[0].perm, 4);
    assert_eq!(
        client
            .add_write_perm(&namesrv.addr, "broker-a")
            .await
            .expect("add"),
        2
    );
    let route = client
        .route(&namesrv.addr, "T1")
        .await
        .expect("query")
        .expect("route");
    assert_eq!(route.queue_datas[0].perm, 6);
    assert_eq!(
        client
            .wipe_write_perm(&namesrv.addr, "nobody")
            .await
            .expect("wipe"),
        0
    );
    client
        .delete_topic(&namesrv.addr, "T1", None)
        .await
        .expect("delete");
    assert_eq!(
        client.route(&namesrv.addr, "T1").await.expect("query"),
        None
    );
    assert!(
        client
            .route(&namesrv.addr, "T2")
            .await
            .expect("query")
            .is_some()
    );
    namesrv.stop().await;
}

#[tokio::test]
async fn data_version_query_reports_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let client = api();
    let registered = body(&[topic("T", 1, 1, 6)], 5);
    client
        .register_broker(
            &namesrv.addr,
            header("broker-a", "127.0.0.1:10911", 0),
            &registered,
        )
        .await
        .expect("register");
    let query = bolide_client::protocol::header::QueryDataVersionRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: "127.0.0.1:10911".into(),
        cluster_name: "DefaultCluster".into(),
        broker_id: 0,
    };
    let same = registered.topic_config_serialize_wrapper.data_version;
    let (changed, stored) = client
        .query_data_version(&namesrv.addr, query.clone(), &same)
        .await
        .expect("query");
    assert!(!changed);
    assert_eq!(stored, Some(same));
    let newer = DataVersion {
        counter: 6,
        timestamp_ms: 1,
    };
    let (changed, _) = client
        .query_data_version(&namesrv.addr, query, &newer)
        .await
        .expect("query");
    assert!(changed);
    namesrv.stop().await;
}

/// Writes raw bytes on a fresh connection and reports whether the server closed it
/// (`None`) or answered (`Some(response code)`).
async fn send_raw(addr: &str, bytes: &[u8]) -> Option<i32> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut buffer = bytes::BytesMut::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        if let Ok(Some(response)) = bolide_client::protocol::decode_frame(&mut buffer, 1 << 24) {
            return Some(response.code);
        }
        let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buffer)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(_)) => {}
            Err(_) => panic!("server neither answered nor closed the connection"),
        }
    }
}

fn raw_frame(serialize_type: u8, header: &[u8], declared_header_length: Option<u32>) -> Vec<u8> {
    let header_length = declared_header_length.unwrap_or(header.len() as u32);
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + header.len()) as u32).to_be_bytes());
    out.extend_from_slice(&((u32::from(serialize_type) << 24) | header_length).to_be_bytes());
    out.extend_from_slice(header);
    out
}

#[tokio::test]
async fn bad_input_gets_an_error_or_a_closed_connection_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let client = api();
    client
        .register_broker(
            &namesrv.addr,
            header("broker-a", "127.0.0.1:10911", 0),
            &body(&[topic("Alive", 1, 1, 6)], 1),
        )
        .await
        .expect("register");

    let oversized = [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
    let header_beyond_frame = raw_frame(0, br#"{"code":105}"#, Some(1000));
    let truncated_binary = raw_frame(1, &[0x00, 0x69, 0x00, 0x01], None);
    let binary_remark_lies = raw_frame(
        1,
        &[0, 105, 0, 1, 151, 0, 0, 0, 7, 0, 0, 0, 0, 0x7F, 0, 0, 0],
        None,
    );
    let invalid_json = raw_frame(0, b"{\"code\":105,", None);
    let array_ext_fields = raw_frame(0, br#"{"code":105,"extFields":["topic"]}"#, None);
    let unknown_serialize_type = raw_frame(9, br#"{"code":105}"#, None);
    for (what, bytes) in [
        ("oversized length prefix", &oversized[..]),
        ("header length beyond the frame", &header_beyond_frame[..]),
        ("truncated binary header", &truncated_binary[..]),
        (
            "binary remark length beyond the header",
            &binary_remark_lies[..],
        ),
        ("invalid JSON", &invalid_json[..]),
        ("non-object extFields", &array_ext_fields[..]),
        ("unknown serialize type", &unknown_serialize_type[..]),
    ] {
        assert_eq!(
            send_raw(&namesrv.addr, bytes).await,
            None,
            "{what}: connection should close"
        );
        assert!(
            client
                .route(&namesrv.addr, "Alive")
                .await
                .expect("still serving")
                .is_some(),
            "after {what}"
        );
    }

    // Well-formed frames with bad content get error responses.
    let unknown_code = raw_frame(0, br#"{"code":9999,"opaque":1,"flag":0}"#, None);
    assert_eq!(
        send_raw(&namesrv.addr, &unknown_code).await,
        Some(ResponseCode::REQUEST_CODE_NOT_SUPPORTED)
    );
    let missing_topic = raw_frame(0, br#"{"code":105,"opaque":2}"#, None);
    assert_eq!(
        send_raw(&namesrv.addr, &missing_topic).await,
        Some(ResponseCode::SYSTEM_ERROR)
    );
    let bad_body = RemotingCommand::request(
        RequestCode::REGISTER_BROKER,
        bolide_client::protocol::header::CommandHeader::to_ext_fields(&header(
            "x",
            "127.0.0.1:1",
            0,
        )),
    )
    .with_body(&b"{\"topicConfigSerializeWrapper\":"[..]);
    let mut frame = bytes::BytesMut::new();
    bolide_client::protocol::encode_frame(&bad_body, &mut frame).expect("encode");
    assert_eq!(
        send_raw(&namesrv.addr, &frame).await,
        Some(ResponseCode::SYSTEM_ERROR)
    );
    assert!(
        client
            .route(&namesrv.addr, "Alive")
            .await
            .expect("still serving")
            .is_some()
    );
    namesrv.stop().await;
}

#[tokio::test]
async fn binary_requests_get_binary_responses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namesrv = Namesrv::start(dir.path()).await;
    let mut request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, {
        let mut fields = ExtFields::new();
        fields.insert("topic".into(), "Missing".into());
        fields
    });
    request.serialize_type = SerializeType::RocketMq;
    let remoting = RemotingClient::new(ClientConfig::default());
    let response = remoting
        .invoke(&namesrv.addr, request, TIMEOUT)
        .await
        .expect("answer");
    assert_eq!(response.serialize_type, SerializeType::RocketMq);
    assert_eq!(response.code, ResponseCode::TOPIC_NOT_EXIST);
    assert!(response.remark_text().contains("Missing"));
    namesrv.stop().await;
}

/// Each 2m-2s layout's two name server files load without warnings, and its brokers register
/// with exactly those two (bin/mqcluster starts them together).
#[test]
fn layout_name_server_files_match_their_brokers() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    for layout in ["2m-2s-async", "2m-2s-sync"] {
        let mut addrs = Vec::new();
        for id in ["a", "b"] {
            let path = conf.join(layout).join(format!("namesrv-{id}.properties"));
            let (config, warnings) = NamesrvConfig::load(&path).unwrap();
            assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
            addrs.push(format!("127.0.0.1:{}", config.listen_port));
        }
        let expected = format!("namesrvAddr={}", addrs.join(";"));
        for broker in ["broker-a", "broker-a-s", "broker-b", "broker-b-s"] {
            let path = conf.join(layout).join(format!("{broker}.properties"));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.contains(&expected),
                "{} lacks {expected}",
                path.display()
            );
        }
    }
}

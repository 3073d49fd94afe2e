//! One handler per name-server request code, dispatched by a match on the code
//! (protocol.md §2.3 "Name-server path"). Handlers take a parsed header and return a
//! response; the route table and KV store do the work.

use std::sync::Arc;
use std::time::Instant;

use bolide_client::protocol::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader, CommandHeader,
    DeleteKvConfigRequestHeader, DeleteTopicFromNamesrvRequestHeader, GetKvConfigRequestHeader,
    GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, PutKvConfigRequestHeader, QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader, WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
};
use bolide_client::protocol::route::{DataVersion, KvTable};
use bolide_client::protocol::topic_config::{
    RegisterBrokerBody, TopicConfigSerializeWrapper, body_crc32,
};
use bolide_client::protocol::{ProtocolError, RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ConnectionHandle, RequestProcessor};
use parking_lot::{Mutex, RwLock};

use crate::config::{NamesrvConfig, RUNTIME_UPDATABLE_KEYS};
use crate::kv_config::KvConfigStore;
use crate::route_table::{Registration, RouteTable};

/// The KV namespace whose entries become `orderTopicConf` in routes and the body of a
/// REGISTER_BROKER response.
pub const ORDER_TOPIC_CONFIG_NAMESPACE: &str = "ORDER_TOPIC_CONFIG";
/// Request versions below V3_0_11 send a bare TopicConfigSerializeWrapper when registering.
const VERSION_3_0_11: i32 = 37;

/// A monotonic millisecond clock: liveness compares differences only, and must not jump
/// with the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
pub struct NamesrvProcessor {
    routes: RwLock<RouteTable>,
    kv_config: Arc<Mutex<KvConfigStore>>,
    config: RwLock<NamesrvConfig>,
    clock: MonotonicClock,
}

type Response = RemotingCommand;

fn error(request: &RemotingCommand, code: i32, remark: impl Into<String>) -> Response {
    RemotingCommand::response_to(request, code, Some(remark.into()))
}

fn success(request: &RemotingCommand) -> Response {
    RemotingCommand::response_to(request, ResponseCode::SUCCESS, None)
}

/// A header that failed to parse answers SYSTEM_ERROR naming the field, as Java's
/// `@CFNotNull` check does.
fn bad_header(request: &RemotingCommand, error: ProtocolError) -> Response {
    self::error(request, ResponseCode::SYSTEM_ERROR, error.to_string())
}

macro_rules! header_or_reply {
    ($request:expr, $ty:ty) => {
        match <$ty>::from_ext_fields(&$request.ext_fields) {
            Ok(header) => header,
            Err(e) => return bad_header($request, e),
        }
    };
}

impl NamesrvProcessor {
    pub fn new(config: NamesrvConfig, kv_config: KvConfigStore) -> Self {
        NamesrvProcessor {
            routes: RwLock::new(RouteTable::new()),
            kv_config: Arc::new(Mutex::new(kv_config)),
            config: RwLock::new(config),
            clock: MonotonicClock::new(),
        }
    }

    /// Evicts brokers silent for longer than `brokerChannelExpiredTime`.
    pub fn scan_not_active_brokers(&self) {
        let expiry_ms = self.config.read().broker_channel_expired_time_ms;
        let removed = self
            .routes
            .write()
            .expire_inactive(self.clock.now_ms(), expiry_ms);
        for broker in removed {
            tracing::warn!(
                broker_addr = %broker.broker_addr,
                broker_name = ?broker.broker_name,
                expiry_ms,
                "broker expired: no registration within the expiry time"
            );
        }
    }

    async fn dispatch(&self, connection: &ConnectionHandle, request: &RemotingCommand) -> Response {
        match request.code {
            RequestCode::REGISTER_BROKER => self.register_broker(connection, request),
            RequestCode::UNREGISTER_BROKER => self.unregister_broker(request),
            RequestCode::GET_ROUTEINFO_BY_TOPIC => self.route_by_topic(request),
            RequestCode::GET_BROKER_CLUSTER_INFO => {
                success(request).with_body(self.routes.read().cluster_info().encode())
            }
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
                success(request).with_body(self.routes.read().all_topics().encode())
            }
            RequestCode::GET_TOPICS_BY_CLUSTER => self.topics_by_cluster(request),
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
                success(request).with_body(self.routes.read().system_topics().encode())
            }
            RequestCode::QUERY_DATA_VERSION => self.query_data_version(request),
            RequestCode::DELETE_TOPIC_IN_NAMESRV => self.delete_topic(request),
            RequestCode::WIPE_WRITE_PERM_OF_BROKER => self.wipe_write_perm(request),
            RequestCode::ADD_WRITE_PERM_OF_BROKER => self.add_write_perm(request),
            RequestCode::PUT_KV_CONFIG => self.put_kv_config(request).await,
            RequestCode::GET_KV_CONFIG => self.get_kv_config(request),
            RequestCode::DELETE_KV_CONFIG => self.delete_kv_config(request).await,
            RequestCode::GET_KVLIST_BY_NAMESPACE => self.kv_list(request),
            RequestCode::GET_NAMESRV_CONFIG => {
                success(request).with_body(self.config.read().to_properties().into_bytes())
            }
            RequestCode::UPDATE_NAMESRV_CONFIG => self.update_config(request),
            code => error(
                request,
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {code} not supported"),
            ),
        }
    }

    fn register_broker(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
    ) -> Response {
        let header = header_or_reply!(request, RegisterBrokerRequestHeader);
        let Ok(broker_id) = u64::try_from(header.broker_id) else {
            return error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("brokerId {} is negative", header.broker_id),
            );
        };
        if let Some(expected) = header.body_crc32.filter(|crc| *crc != 0) {
            let actual = body_crc32(&request.body);
            if actual != expected {
                tracing::warn!(peer = %connection.peer(), expected, actual, "register body crc32 mismatch");
                return error(request, ResponseCode::SYSTEM_ERROR, "crc32 not match");
            }
        }
        let body = match decode_register_body(request, header.compressed.unwrap_or(false)) {
            Ok(body) => body,
            Err(e) => return error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        let registration = Registration {
            cluster_name: header.cluster_name,
            broker_name: header.broker_name,
            broker_addr: header.broker_addr,
            broker_id,
            ha_server_addr: header.ha_server_addr,
            topics: body.topic_config_serialize_wrapper,
            filter_server_list: body.filter_server_list,
            connection_id: Some(connection.id()),
        };
        let outcome = self
            .routes
            .write()
            .register_broker(registration, self.clock.now_ms());
        let response_header = RegisterBrokerResponseHeader {
            ha_server_addr: outcome.ha_server_addr,
            master_addr: outcome.master_addr,
        };
        let response = success(request).with_ext_fields(response_header.to_ext_fields());
        match self.order_topic_table() {
            Some(table) => response.with_body(table.encode()),
            None => response,
        }
    }

    fn order_topic_table(&self) -> Option<KvTable> {
        let kv = self.kv_config.lock();
        let entries = kv.namespace(ORDER_TOPIC_CONFIG_NAMESPACE)?;
        Some(KvTable {
            table: entries.clone(),
        })
    }

    fn unregister_broker(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, UnregisterBrokerRequestHeader);
        let Ok(broker_id) = u64::try_from(header.broker_id) else {
            return error(request, ResponseCode::SYSTEM_ERROR, "brokerId is negative");
        };
        self.routes.write().unregister_broker(
            &header.cluster_name,
            &header.broker_addr,
            &header.broker_name,
            broker_id,
        );
        success(request)
    }

    fn route_by_topic(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, GetRouteInfoRequestHeader);
        let order_topic_conf = if self.config.read().order_message_enable {
            self.kv_config
                .lock()
                .get(ORDER_TOPIC_CONFIG_NAMESPACE, &header.topic)
                .map(str::to_owned)
        } else {
            None
        };
        match self.routes.read().route(&header.topic, order_topic_conf) {
            Some(route) => success(request).with_body(route.encode()),
            None => error(
                request,
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "No topic route info in name server for the topic: {}",
                    header.topic
                ),
            ),
        }
    }

    fn topics_by_cluster(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, GetTopicsByClusterRequestHeader);
        let topics = self.routes.read().topics_by_cluster(&header.cluster);
        success(request).with_body(topics.encode())
    }

    fn query_data_version(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, QueryDataVersionRequestHeader);
        let data_version = match DataVersion::decode(&request.body) {
            Ok(version) => version,
            Err(e) => return error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        let (changed, stored) = self.routes.write().query_data_version(
            &header.broker_addr,
            &data_version,
            self.clock.now_ms(),
        );
        let response = success(request)
            .with_ext_fields(QueryDataVersionResponseHeader { changed }.to_ext_fields());
        match stored {
            Some(version) => response.with_body(version.encode()),
            None => response,
        }
    }

    fn delete_topic(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, DeleteTopicFromNamesrvRequestHeader);
        self.routes
            .write()
            .delete_topic(&header.topic, header.cluster_name.as_deref());
        tracing::info!(topic = %header.topic, cluster = ?header.cluster_name, "topic deleted");
        success(request)
    }

    fn wipe_write_perm(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, WipeWritePermOfBrokerRequestHeader);
        let wipe_topic_count = self.routes.write().wipe_write_perm(&header.broker_name);
        tracing::info!(broker_name = %header.broker_name, wipe_topic_count, "write permission wiped");
        success(request).with_ext_fields(
            WipeWritePermOfBrokerResponseHeader { wipe_topic_count }.to_ext_fields(),
        )
    }

    fn add_write_perm(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, AddWritePermOfBrokerRequestHeader);
        let add_topic_count = self.routes.write().add_write_perm(&header.broker_name);
        tracing::info!(broker_name = %header.broker_name, add_topic_count, "write permission added");
        success(request)
            .with_ext_fields(AddWritePermOfBrokerResponseHeader { add_topic_count }.to_ext_fields())
    }

    async fn put_kv_config(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, PutKvConfigRequestHeader);
        let store = self.kv_config.clone();
        // Persisting syncs a file: keep it off the runtime's worker threads.
        let result = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .put(&header.namespace, &header.key, &header.value)
        })
        .await;
        kv_result(request, result)
    }

    fn get_kv_config(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, GetKvConfigRequestHeader);
        match self.kv_config.lock().get(&header.namespace, &header.key) {
            Some(value) => success(request).with_ext_fields(
                GetKvConfigResponseHeader {
                    value: Some(value.to_owned()),
                }
                .to_ext_fields(),
            ),
            None => error(
                request,
                ResponseCode::QUERY_NOT_FOUND,
                format!(
                    "No config item, Namespace: {} Key: {}",
                    header.namespace, header.key
                ),
            ),
        }
    }

    async fn delete_kv_config(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, DeleteKvConfigRequestHeader);
        let store = self.kv_config.clone();
        let result = tokio::task::spawn_blocking(move || {
            store.lock().delete(&header.namespace, &header.key)
        })
        .await;
        kv_result(request, result)
    }

    fn kv_list(&self, request: &RemotingCommand) -> Response {
        let header = header_or_reply!(request, GetKvListByNamespaceRequestHeader);
        match self.kv_config.lock().namespace(&header.namespace) {
            Some(entries) => success(request).with_body(
                KvTable {
                    table: entries.clone(),
                }
                .encode(),
            ),
            None => error(
                request,
                ResponseCode::QUERY_NOT_FOUND,
                format!("No config item, Namespace: {}", header.namespace),
            ),
        }
    }

    /// UPDATE_NAMESRV_CONFIG changes only keys that are safe at runtime. A path key (the
    /// CVE-2023-37582 route to writing files) or any unknown key refuses the whole update.
    fn update_config(&self, request: &RemotingCommand) -> Response {
        let Ok(text) = std::str::from_utf8(&request.body) else {
            return error(
                request,
                ResponseCode::SYSTEM_ERROR,
                "config body is not UTF-8",
            );
        };
        let mut updated = self.config.read().clone();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((key, value)) = line.split_once(['=', ':']) else {
                return error(
                    request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("config line {line:?} has no '='"),
                );
            };
            let key = key.trim();
            if !RUNTIME_UPDATABLE_KEYS.contains(&key) {
                tracing::warn!(key, "refused remote change of a name server config key");
                return error(
                    request,
                    ResponseCode::NO_PERMISSION,
                    format!(
                        "config key {key} cannot be changed remotely (allowed: {})",
                        RUNTIME_UPDATABLE_KEYS.join(", ")
                    ),
                );
            }
            if let Err(e) = updated.apply(key, value) {
                return error(request, ResponseCode::SYSTEM_ERROR, e.to_string());
            }
        }
        *self.config.write() = updated;
        tracing::info!(body = text, "name server config updated remotely");
        success(request)
    }
}

fn kv_result(
    request: &RemotingCommand,
    result: Result<Result<(), crate::kv_config::KvConfigError>, tokio::task::JoinError>,
) -> Response {
    match result {
        Ok(Ok(())) => success(request),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "kv config change failed");
            error(request, ResponseCode::SYSTEM_ERROR, e.to_string())
        }
        Err(e) => error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
    }
}

fn decode_register_body(
    request: &RemotingCommand,
    compressed: bool,
) -> Result<RegisterBrokerBody, ProtocolError> {
    if request.body.is_empty() {
        return Ok(RegisterBrokerBody::default());
    }
    if compressed {
        return RegisterBrokerBody::decode_compressed(&request.body);
    }
    if request.version < VERSION_3_0_11 {
        let wrapper = TopicConfigSerializeWrapper::decode(&request.body)?;
        return Ok(RegisterBrokerBody {
            topic_config_serialize_wrapper: wrapper,
            filter_server_list: Vec::new(),
        });
    }
    RegisterBrokerBody::decode_json(&request.body)
}

impl RequestProcessor for NamesrvProcessor {
    async fn process(
        &self,
        connection: &ConnectionHandle,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        Some(self.dispatch(connection, &request).await)
    }

    fn connection_closed(&self, connection: &ConnectionHandle) {
        let removed = self.routes.write().connection_closed(connection.id());
        for broker in removed {
            tracing::warn!(
                broker_addr = %broker.broker_addr,
                broker_name = ?broker.broker_name,
                "broker removed: its connection closed"
            );
        }
    }
}

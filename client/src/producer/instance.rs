//! A producer's shared state and its conversations with name servers and brokers besides
//! sending: route lookup with name-server failover, the route cache and its refresh,
//! heartbeats and unregistration.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::error::{ProducerError, Result};
use super::route::{AUTO_CREATE_TOPIC_KEY, BrokerAvoidance, PublishInfo};
use super::route_source::{RouteSource, unregister_client};
use super::uniq_id::UniqIdGenerator;
use crate::protocol::broker_header::UnregisterClientRequestHeader;
use crate::protocol::heartbeat::{HeartbeatData, ProducerData};
use crate::protocol::route::TopicRouteData;
use crate::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{RemotingClient, Shutdown, ticker};

/// Settings fixed when the producer is built.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub group: String,
    pub namesrv_addrs: Vec<String>,
    /// Covers a whole send, retries included (as Java's `sendMsgTimeout`).
    pub send_timeout: Duration,
    pub retry_times_when_send_failed: u32,
    /// Bodies longer than this are compressed with `compression_type`.
    pub compress_over_bytes: usize,
    pub compression_type: crate::protocol::compression::CompressionType,
    /// How often cached routes are refreshed and brokers sent a heartbeat.
    pub refresh_interval: Duration,
    /// Timeout of each name-server, heartbeat and unregister request.
    pub admin_timeout: Duration,
}

/// Everything the producer handles and its background task share.
#[derive(Debug)]
pub struct Instance {
    pub config: ProducerConfig,
    /// `ip@pid`, the id brokers know this client by.
    pub client_id: String,
    pub remoting: Arc<RemotingClient>,
    pub ids: UniqIdGenerator,
    pub avoidance: Mutex<BrokerAvoidance>,
    route_source: RouteSource,
    routes: RwLock<HashMap<String, Arc<PublishInfo>>>,
    /// Master addresses that accepted a heartbeat: sent UNREGISTER_CLIENT at shutdown.
    heartbeated: Mutex<HashSet<String>>,
}

impl Instance {
    pub fn new(config: ProducerConfig, client_id: String, ids: UniqIdGenerator) -> Instance {
        let remoting = Arc::new(RemotingClient::new(Default::default()));
        let route_source = RouteSource::new(
            remoting.clone(),
            config.namesrv_addrs.clone(),
            config.admin_timeout,
        );
        Instance {
            config,
            client_id,
            remoting,
            ids,
            avoidance: Mutex::new(BrokerAvoidance::default()),
            route_source,
            routes: RwLock::new(HashMap::new()),
            heartbeated: Mutex::new(HashSet::new()),
        }
    }

    /// `topic`'s publish queues: cached, else looked up (through TBW102 for a topic that
    /// does not exist yet), cached, and the new brokers sent a heartbeat.
    pub async fn publish_info(&self, topic: &str) -> Result<Arc<PublishInfo>> {
        if let Some(info) = self.routes.read().get(topic) {
            return Ok(info.clone());
        }
        let info = Arc::new(self.lookup(topic).await?);
        self.routes.write().insert(topic.to_owned(), info.clone());
        self.heartbeat_new(&info.master_addrs()).await;
        Ok(info)
    }

    async fn lookup(&self, topic: &str) -> Result<PublishInfo> {
        if let Some(route) = self.route_from_namesrv(topic).await? {
            let info = PublishInfo::from_route(topic, route);
            if !info.queues.is_empty() {
                return Ok(info);
            }
        }
        let no_route = |reason: &str| ProducerError::NoRoute {
            topic: topic.to_owned(),
            reason: reason.to_owned(),
        };
        let template = self
            .route_from_namesrv(AUTO_CREATE_TOPIC_KEY)
            .await?
            .ok_or_else(|| no_route("no writable queue, and no TBW102 route for auto-creation"))?;
        let info = PublishInfo::from_template(topic, template);
        if info.queues.is_empty() {
            return Err(no_route("no writable queue, in its route or in TBW102's"));
        }
        Ok(info)
    }

    /// GET_ROUTEINFO_BY_TOPIC with name-server failover. `Ok(None)`: a name server answered
    /// that the topic does not exist.
    async fn route_from_namesrv(&self, topic: &str) -> Result<Option<TopicRouteData>> {
        self.route_source
            .route(topic)
            .await
            .map_err(|reason| ProducerError::NoRoute {
                topic: topic.to_owned(),
                reason,
            })
    }

    /// Looks every cached topic up again. A failed lookup keeps the old route; a
    /// template-made route is replaced once the topic has its own.
    pub async fn refresh_routes(&self) {
        let topics: Vec<String> = self.routes.read().keys().cloned().collect();
        for topic in topics {
            match self.lookup(&topic).await {
                Ok(info) => {
                    let info = Arc::new(info);
                    let masters = info.master_addrs();
                    self.routes.write().insert(topic, info);
                    self.heartbeat_new(&masters).await;
                }
                Err(error) => tracing::warn!("keeping the cached route: {error}"),
            }
        }
    }

    fn heartbeat_request(&self) -> RemotingCommand {
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: Vec::new(),
            producer_data_set: vec![ProducerData {
                group_name: self.config.group.clone(),
            }],
        };
        RemotingCommand::request(RequestCode::HEART_BEAT, ExtFields::new()).with_body(data.encode())
    }

    /// HEART_BEAT to `addr`; remembered for unregistration when it succeeds.
    async fn heartbeat(&self, addr: &str) {
        let result = self
            .remoting
            .invoke(addr, self.heartbeat_request(), self.config.admin_timeout)
            .await;
        match result {
            Ok(response) if response.code == ResponseCode::SUCCESS => {
                self.heartbeated.lock().insert(addr.to_owned());
            }
            Ok(response) => tracing::warn!(
                "heartbeat to {addr} refused: code {}, {}",
                response.code,
                response.remark_text()
            ),
            Err(error) => tracing::warn!("heartbeat to {addr} failed: {error}"),
        }
    }

    /// Heartbeats the masters of `addrs` that have not had one yet.
    async fn heartbeat_new(&self, addrs: &HashSet<String>) {
        let new: Vec<String> = {
            let done = self.heartbeated.lock();
            addrs
                .iter()
                .filter(|a| !done.contains(*a))
                .cloned()
                .collect()
        };
        for addr in new {
            self.heartbeat(&addr).await;
        }
    }

    /// Heartbeats every master of every cached route (Java `sendHeartbeatToAllBroker`).
    pub async fn heartbeat_all(&self) {
        let addrs: HashSet<String> = self
            .routes
            .read()
            .values()
            .flat_map(|info| info.master_addrs())
            .collect();
        for addr in addrs {
            self.heartbeat(&addr).await;
        }
    }

    /// UNREGISTER_CLIENT to every broker that took a heartbeat.
    pub async fn unregister(&self) {
        let addrs: Vec<String> = self.heartbeated.lock().drain().collect();
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: Some(self.config.group.clone()),
            consumer_group: None,
        };
        unregister_client(&self.remoting, addrs, &header, self.config.admin_timeout).await;
    }
}

/// The producer's one background task: every `refresh_interval`, refresh the cached routes,
/// then heartbeat their masters. Ends on `shutdown`, or when the producer is gone.
pub async fn background(instance: Weak<Instance>, interval: Duration, mut shutdown: Shutdown) {
    let mut ticks = ticker(interval);
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = ticks.tick() => {
                let Some(instance) = instance.upgrade() else { return };
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = async {
                        instance.refresh_routes().await;
                        instance.heartbeat_all().await;
                    } => {}
                }
            }
        }
    }
}

//! Registration with every name server (protocol.md §3.4–§3.5): REGISTER_BROKER at start,
//! every `registerNameServerPeriod`, and at once when topics change; UNREGISTER_BROKER at a
//! clean shutdown.
//!
//! Name servers do not talk to each other, so each one is registered independently and a
//! dead one does not delay the others. A slave learns its master's HA address from the
//! answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bolide_client::namesrv::NamesrvClient;
use bolide_client::protocol::header::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use bolide_client::protocol::route::perm;
use bolide_client::protocol::topic_config::RegisterBrokerBody;
use bolide_client::remoting::{ClientConfig, RemotingClient, Shutdown};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::BrokerConfig;
use crate::topic_config::TopicConfigManager;

/// What the name servers told a slave about its master.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterInfo {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

/// Registers this broker; cheap to clone the `Arc` around.
#[derive(Debug)]
pub struct NamesrvRegistrar {
    addrs: Vec<String>,
    client: NamesrvClient,
    remoting: Arc<RemotingClient>,
    cluster_name: String,
    broker_name: String,
    broker_id: i64,
    broker_addr: String,
    ha_addr: String,
    compressed: bool,
    /// `brokerPermission`: when not read-write, every topic is registered with it. Changed at
    /// runtime through UPDATE_BROKER_CONFIG.
    broker_permission: AtomicI32,
    period: Duration,
    topics: Arc<TopicConfigManager>,
    changed: Notify,
    master: Mutex<MasterInfo>,
}

impl NamesrvRegistrar {
    pub fn new(config: &BrokerConfig, topics: Arc<TopicConfigManager>) -> Self {
        let timeout = Duration::from_millis(config.register_broker_timeout_ms);
        let remoting = Arc::new(RemotingClient::new(ClientConfig::default()));
        NamesrvRegistrar {
            addrs: config.namesrv_addrs(),
            client: NamesrvClient::new(remoting.clone(), timeout),
            remoting,
            cluster_name: config.broker_cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: config.broker_id,
            broker_addr: config.broker_addr(),
            ha_addr: config.ha_addr(),
            compressed: config.compressed_register,
            broker_permission: AtomicI32::new(config.broker_permission),
            period: Duration::from_millis(config.register_name_server_period_ms),
            topics,
            changed: Notify::new(),
            master: Mutex::new(MasterInfo::default()),
        }
    }

    /// Asks for a registration now (topics changed). Never waits.
    pub fn topics_changed(&self) {
        self.changed.notify_one();
    }

    /// A new `brokerPermission`: registers again at once so routes show it.
    pub fn set_broker_permission(&self, permission: i32) {
        self.broker_permission.store(permission, Ordering::Relaxed);
        self.topics_changed();
    }

    /// The master as the last successful registration reported it.
    pub fn master(&self) -> MasterInfo {
        self.master.lock().clone()
    }

    fn body(&self) -> RegisterBrokerBody {
        let mut wrapper = self.topics.all();
        let permission = self.broker_permission.load(Ordering::Relaxed);
        if permission & (perm::READ | perm::WRITE) != perm::READ | perm::WRITE {
            for topic in wrapper.topic_config_table.values_mut() {
                topic.perm = permission;
            }
        }
        RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: wrapper,
        }
    }

    /// Registers with every name server at once; failures are logged, not fatal (the next
    /// period retries, as Java's broker does).
    pub async fn register_all(self: &Arc<Self>) {
        let body = Arc::new(self.body());
        let mut calls = JoinSet::new();
        for addr in self.addrs.clone() {
            let (this, body) = (self.clone(), body.clone());
            calls.spawn(async move {
                let header = RegisterBrokerRequestHeader {
                    broker_name: this.broker_name.clone(),
                    broker_addr: this.broker_addr.clone(),
                    cluster_name: this.cluster_name.clone(),
                    ha_server_addr: this.ha_addr.clone(),
                    broker_id: this.broker_id,
                    compressed: Some(this.compressed),
                    body_crc32: None,
                };
                let outcome = this.client.register_broker(&addr, header, &body).await;
                (addr, outcome)
            });
        }
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok((_, Ok(result))) if self.broker_id != 0 => {
                    *self.master.lock() = MasterInfo {
                        master_addr: result.master_addr,
                        ha_server_addr: result.ha_server_addr,
                    };
                }
                Ok((_, Ok(_))) => {}
                Ok((addr, Err(error))) => {
                    tracing::warn!(namesrv = %addr, %error, "register to name server failed");
                }
                Err(error) => tracing::error!(%error, "register task failed"),
            }
        }
    }

    /// UNREGISTER_BROKER to every name server (clean shutdown).
    pub async fn unregister_all(self: &Arc<Self>) {
        let mut calls = JoinSet::new();
        for addr in self.addrs.clone() {
            let this = self.clone();
            calls.spawn(async move {
                let header = UnregisterBrokerRequestHeader {
                    broker_name: this.broker_name.clone(),
                    broker_addr: this.broker_addr.clone(),
                    cluster_name: this.cluster_name.clone(),
                    broker_id: this.broker_id,
                };
                let outcome = this.client.unregister_broker(&addr, header).await;
                (addr, outcome)
            });
        }
        while let Some(joined) = calls.join_next().await {
            if let Ok((addr, Err(error))) = joined {
                tracing::warn!(namesrv = %addr, %error, "unregister from name server failed");
            }
        }
        for addr in &self.addrs {
            self.remoting.close(addr);
        }
    }

    /// Registers now, then every period and whenever topics change, until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        self.register_all().await;
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + self.period, self.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                _ = ticks.tick() => self.register_all().await,
                () = self.changed.notified() => self.register_all().await,
            }
        }
    }
}

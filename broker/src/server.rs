//! Wiring only: open the store and the metadata, build the processor, start the background
//! work (registration, client expiry, offset persistence, retention, delayed delivery), serve
//! the main and fast ports, and shut everything down in order.

use std::sync::Arc;
use std::time::Duration;

use bolide_client::remoting::{ServerConfig, Shutdown, serve, shutdown_channel};
use tokio::net::TcpListener;

use crate::config::{BrokerConfig, BrokerRole};
use crate::consumer_offset::{ConsumerOffsetManager, DelayOffsetTable};
use crate::ha::slave::{Arrived, MasterAddress};
use crate::ha::{Diverged, HaMaster, HaSlave, MasterSettings, SlaveSettings};
use crate::namesrv_register::NamesrvRegistrar;
use crate::persist::PersistError;
use crate::processor::BrokerProcessor;
use crate::schedule::ScheduleService;
use crate::slave_sync::SlaveSync;
use crate::store::mapped_file::RealFileSystem;
use crate::store::{MessageStore, StoreError};
use crate::subscription_group::SubscriptionGroupManager;
use crate::topic_config::{TopicConfigManager, TopicDefaults};

/// How often idle clients are looked for (Java scans every 10 s).
const CLIENT_SCAN_INTERVAL: Duration = Duration::from_secs(10);
/// Requests of one connection handled at once: a consumer parks one pull per queue it owns.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Persist(#[from] PersistError),
    #[error("the store task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Replication(#[from] Diverged),
}

/// The sockets a broker serves: `listenPort` and, when bound, the fast port (listenPort − 2)
/// and a master's HA port (listenPort + 1; bound by `run` when not given).
#[derive(Debug)]
pub struct Listeners {
    pub main: TcpListener,
    pub fast: Option<TcpListener>,
    pub ha: Option<TcpListener>,
}

/// Runs a broker until `shutdown` fires. `config.listen_port` must be the main listener's
/// port: it is the address registered with name servers and written into every message id.
pub async fn run(
    config: BrokerConfig,
    listeners: Listeners,
    external_shutdown: Shutdown,
) -> Result<(), BrokerError> {
    // The broker also stops itself when its replication finds the logs diverged.
    let (stop_trigger, shutdown) = shutdown_channel();
    let stop_trigger = Arc::new(stop_trigger);
    let forward = {
        let (mut external, trigger) = (external_shutdown, stop_trigger.clone());
        tokio::spawn(async move {
            external.wait().await;
            trigger.trigger();
        })
    };
    let store_config = config.store_config();
    let config_dir = store_config.root_dir.join("config");
    let store = tokio::task::spawn_blocking(move || {
        MessageStore::open(store_config, Arc::new(RealFileSystem)).map(Arc::new)
    })
    .await??;
    store.start_retention()?;
    let topics = Arc::new(TopicConfigManager::load(
        &config_dir,
        topic_defaults(&config),
    )?);
    let groups = Arc::new(SubscriptionGroupManager::load(
        &config_dir,
        config.auto_create_subscription_group,
    )?);
    let offsets = Arc::new(ConsumerOffsetManager::load(&config_dir)?);
    let delay_offsets = Arc::new(DelayOffsetTable::load(&config_dir)?);
    let registrar = Arc::new(NamesrvRegistrar::new(&config, topics.clone()));
    let offset_interval = Duration::from_millis(config.flush_consumer_offset_interval_ms.max(100));
    let server_config = ServerConfig {
        idle_timeout: Duration::from_secs(config.server_channel_max_idle_time_seconds),
        max_in_flight_per_connection: MAX_IN_FLIGHT_PER_CONNECTION,
        ..ServerConfig::default()
    };
    tracing::info!(
        broker = %config.broker_name, addr = %config.broker_addr(), role = ?config.broker_role,
        "broker starting"
    );
    let role = config.broker_role;
    let ha_port = config.ha_listen_port();
    let master_settings = master_settings(&config);
    let slave_settings = SlaveSettings::new(
        Duration::from_millis(config.ha_send_heartbeat_interval_ms.max(100)),
        Duration::from_millis(config.ha_housekeeping_interval_ms.max(1000)),
    );
    let ha_master_address = config.ha_master_address.clone();
    let processor = Arc::new(BrokerProcessor::new(
        config,
        store.clone(),
        topics,
        groups,
        offsets.clone(),
        delay_offsets.clone(),
        registrar.clone(),
    ));

    let mut background = tokio::task::JoinSet::new();
    background.spawn(registrar.clone().run(shutdown.clone()));
    background.spawn(housekeeping(
        processor.clone(),
        offset_interval,
        shutdown.clone(),
    ));
    let diverged: Arc<parking_lot::Mutex<Option<Diverged>>> = Arc::default();
    if role.is_master() {
        // Delayed delivery re-stores messages: a master's job; its slave gets them replicated.
        background.spawn(ScheduleService::new(processor.clone()).run(shutdown.clone()));
        let master = HaMaster::new(store.clone(), master_settings);
        processor.ha_master.set(master.clone()).ok();
        match ha_listener(listeners.ha, ha_port).await {
            Some(listener) => {
                background.spawn(master.serve(listener, shutdown.clone()));
            }
            None if role == BrokerRole::SyncMaster => {
                tracing::error!(
                    port = ha_port,
                    "no HA port: every send will answer SLAVE_NOT_AVAILABLE"
                );
            }
            None => {}
        }
    } else {
        // Topics, groups and offsets come from the master too (Java's SlaveSynchronize).
        let sync = Arc::new(SlaveSync::new(processor.clone()));
        background.spawn(sync.clone().run(shutdown.clone()));
        let slave = HaSlave::new(
            store.clone(),
            slave_settings,
            master_address(ha_master_address, registrar.clone()),
            on_replicated(&processor, sync),
        );
        let (diverged, stop) = (diverged.clone(), stop_trigger.clone());
        let slave_shutdown = shutdown.clone();
        background.spawn(async move {
            if let Err(error) = slave.run(slave_shutdown).await {
                *diverged.lock() = Some(error);
                stop.trigger();
            }
        });
    }
    background.spawn(wake_parked_pulls_at_shutdown(
        processor.clone(),
        shutdown.clone(),
    ));

    let main = serve(
        listeners.main,
        processor.clone(),
        server_config.clone(),
        shutdown.clone(),
    );
    match listeners.fast {
        Some(fast) => {
            let fast = serve(fast, processor.clone(), server_config, shutdown.clone());
            tokio::join!(main, fast);
        }
        None => main.await,
    }
    while let Some(joined) = background.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "a background task failed");
        }
    }
    registrar.unregister_all().await;
    let mut result = Ok(());
    if let Err(error) = offsets.persist() {
        tracing::error!(%error, "cannot save consumer offsets at shutdown");
        result = Err(error.into());
    }
    if let Err(error) = delay_offsets.persist() {
        tracing::error!(%error, "cannot save delay offsets at shutdown");
        result = Err(error.into());
    }
    let closing = store.clone();
    tokio::task::spawn_blocking(move || closing.shutdown()).await??;
    forward.abort();
    tracing::info!("broker stopped");
    if let Some(error) = diverged.lock().take() {
        return Err(error.into());
    }
    result
}

fn master_settings(config: &BrokerConfig) -> MasterSettings {
    MasterSettings {
        transfer_batch_bytes: config.ha_transfer_batch_size_bytes.clamp(1024, 4 << 20) as usize,
        heartbeat_interval: Duration::from_millis(config.ha_send_heartbeat_interval_ms.max(100)),
        housekeeping_interval: Duration::from_millis(config.ha_housekeeping_interval_ms.max(1000)),
        max_gap_not_in_sync_bytes: config.ha_max_gap_not_in_sync_bytes,
        slave_timeout: Duration::from_millis(config.slave_timeout_ms.max(1)),
    }
}

/// The HA listener given, or listenPort + 1 bound here. A master without one still serves
/// clients; it only has no slaves (and says so).
async fn ha_listener(given: Option<TcpListener>, port: u16) -> Option<TcpListener> {
    if given.is_some() {
        return given;
    }
    match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(port, %error, "cannot listen on the HA port (listenPort + 1): no slave can connect");
            None
        }
    }
}

/// `haMasterAddress` if set, else what the name servers said at the last registration.
fn master_address(fixed: Option<String>, registrar: Arc<NamesrvRegistrar>) -> MasterAddress {
    Box::new(move || fixed.clone().or_else(|| registrar.master().ha_server_addr))
}

/// Replicated messages wake the pulls parked on their queues, as local sends do; one of a
/// topic this slave does not know yet fetches the master's tables at once.
fn on_replicated(processor: &Arc<BrokerProcessor>, sync: Arc<SlaveSync>) -> Arrived {
    let processor = Arc::downgrade(processor);
    Box::new(move |request| {
        let Some(processor) = processor.upgrade() else {
            return;
        };
        if !request.is_consumable() {
            return;
        }
        processor.messages_arrived(request.topic, request.queue_id, request.queue_offset + 1);
        if !processor.topics.contains(request.topic) {
            sync.request_round();
        }
    })
}

/// Parked pulls would keep their requests in flight for up to their suspend timeout and make
/// the server wait out its shutdown grace; at shutdown they are answered at once.
async fn wake_parked_pulls_at_shutdown(processor: Arc<BrokerProcessor>, mut shutdown: Shutdown) {
    shutdown.wait().await;
    processor.pull_hold.wake_all();
}

fn topic_defaults(config: &BrokerConfig) -> TopicDefaults {
    TopicDefaults {
        broker_cluster_name: config.broker_cluster_name.clone(),
        broker_name: config.broker_name.clone(),
        auto_create_topic_enable: config.auto_create_topic_enable,
        default_topic_queue_nums: config.default_topic_queue_nums,
        cluster_topic_enable: config.cluster_topic_enable,
        broker_topic_enable: config.broker_topic_enable,
        trace_topic_enable: config.trace_topic_enable,
        trace_topic_name: config.msg_trace_topic_name.clone(),
    }
}

/// Client expiry and message-rate sampling every 10 s, consumer-offset persistence every
/// `flushConsumerOffsetInterval`, until shutdown.
async fn housekeeping(
    processor: Arc<BrokerProcessor>,
    offset_interval: Duration,
    mut shutdown: Shutdown,
) {
    let mut clients = tokio::time::interval(CLIENT_SCAN_INTERVAL);
    let mut tps = tokio::time::interval(Duration::from_millis(crate::tps::SAMPLE_INTERVAL_MS));
    tps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut offsets = tokio::time::interval(offset_interval);
    clients.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    offsets.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = clients.tick() => processor.expire_idle_clients(),
            _ = tps.tick() => processor.sample_tps(),
            _ = offsets.tick() => {
                // A save is up to four fsyncs: never on a runtime worker.
                let offsets = processor.offsets.clone();
                match tokio::task::spawn_blocking(move || offsets.persist()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::error!(%error, "cannot save consumer offsets"),
                    Err(error) => tracing::error!(%error, "the consumer offset save failed"),
                }
            }
        }
    }
}

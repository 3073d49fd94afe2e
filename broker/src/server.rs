//! Wiring only: open the store and the metadata, build the processor, start the background
//! work (registration, client expiry, offset persistence, retention, delayed delivery), serve
//! the main and fast ports, and shut everything down in order.

use std::sync::Arc;
use std::time::Duration;

use bolide_client::remoting::{ServerConfig, Shutdown, serve};
use tokio::net::TcpListener;

use crate::config::{BrokerConfig, BrokerRole};
use crate::consumer_offset::{ConsumerOffsetManager, DelayOffsetTable};
use crate::namesrv_register::NamesrvRegistrar;
use crate::persist::PersistError;
use crate::processor::BrokerProcessor;
use crate::schedule::ScheduleService;
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
}

/// The sockets a broker serves: `listenPort` and, when bound, the fast port (listenPort − 2).
#[derive(Debug)]
pub struct Listeners {
    pub main: TcpListener,
    pub fast: Option<TcpListener>,
}

/// Runs a broker until `shutdown` fires. `config.listen_port` must be the main listener's
/// port: it is the address registered with name servers and written into every message id.
pub async fn run(
    config: BrokerConfig,
    listeners: Listeners,
    shutdown: Shutdown,
) -> Result<(), BrokerError> {
    refuse_unsupported_role(&config)?;
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
    background.spawn(ScheduleService::new(processor.clone()).run(shutdown.clone()));
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
    tracing::info!("broker stopped");
    result
}

/// Master/slave replication is not built yet. A SLAVE would serve nothing and a SYNC_MASTER
/// would acknowledge sends no slave has, so both refuse to start rather than pretend.
fn refuse_unsupported_role(config: &BrokerConfig) -> Result<(), BrokerError> {
    let role = match config.broker_role {
        BrokerRole::AsyncMaster => return Ok(()),
        BrokerRole::SyncMaster => "SYNC_MASTER",
        BrokerRole::Slave => "SLAVE",
    };
    Err(BrokerError::Unsupported(format!(
        "brokerRole={role} needs master/slave replication, which this version of Bolide does \
         not have yet; use brokerRole=ASYNC_MASTER"
    )))
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

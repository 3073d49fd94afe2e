//! The Bolide name server: a stateless routing table built from broker registrations
//! (protocol.md §2.3 "Name-server path", §3).
//!
//! A library with a thin `main`: `run` serves a bound listener until shutdown, so tests start
//! real servers in-process on port 0.

pub mod config;
pub mod kv_config;
pub mod processor;
pub mod route_table;

use std::sync::Arc;
use std::time::Duration;

use bolide_client::remoting::{ServerConfig, Shutdown, serve};
use tokio::net::TcpListener;

pub use config::NamesrvConfig;
pub use processor::NamesrvProcessor;

#[derive(Debug, thiserror::Error)]
pub enum NamesrvError {
    #[error(transparent)]
    KvConfig(#[from] kv_config::KvConfigError),
}

/// Serves `listener` until `shutdown` fires; also runs the liveness scan.
pub async fn run(
    config: NamesrvConfig,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), NamesrvError> {
    let kv_config = kv_config::KvConfigStore::load(&config.kv_config_path)?;
    let server_config = ServerConfig {
        idle_timeout: Duration::from_secs(config.server_channel_max_idle_time_seconds),
        ..ServerConfig::default()
    };
    let scan_interval = Duration::from_millis(config.scan_not_active_broker_interval_ms);
    let processor = Arc::new(NamesrvProcessor::new(config, kv_config));
    let scanner = tokio::spawn(scan_loop(
        processor.clone(),
        scan_interval,
        shutdown.clone(),
    ));
    serve(listener, processor, server_config, shutdown).await;
    if let Err(error) = scanner.await {
        tracing::error!(%error, "liveness scanner failed");
    }
    tracing::info!("name server stopped");
    Ok(())
}

/// Every `scanNotActiveBrokerInterval` (first run after 5 s, as in Java), evict silent brokers.
async fn scan_loop(processor: Arc<NamesrvProcessor>, every: Duration, mut shutdown: Shutdown) {
    let first = tokio::time::Instant::now() + Duration::from_secs(5).min(every);
    let mut ticks = tokio::time::interval_at(first, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = ticks.tick() => processor.scan_not_active_brokers(),
        }
    }
}

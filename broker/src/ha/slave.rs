//! The slave's side: connects to its master's HA address, reports how far its log reaches,
//! appends what the master sends at the same offsets, and dispatches it as the master did.
//!
//! The master's address comes from `haMasterAddress` or, as in Java, from the name servers'
//! answer to this slave's registration. A lost connection is retried every 5 s. A master
//! that cannot continue this slave's log (the logs diverged) stops replication for good: the
//! error names both offsets, and the broker shuts down rather than serve a log that may hold
//! data its master never had.

use std::sync::Arc;
use std::time::Duration;

use bolide_client::remoting::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::protocol::{HEADER_BYTES, TransferHeader, encode_report};
use crate::store::commit_log::DispatchRequest;
use crate::store::{MessageStore, StoreError};

/// How long to wait before connecting again after a failure (Java: 5 s).
const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a slave without a master address looks for one.
const ADDRESS_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Timings of a slave (RocketMQ's `ha*` keys).
#[derive(Debug, Clone)]
pub struct SlaveSettings {
    /// `haSendHeartbeatInterval`: a report at least this often.
    pub heartbeat_interval: Duration,
    /// `haHousekeepingInterval`: a master silent this long is given up on.
    pub housekeeping_interval: Duration,
    pub reconnect_interval: Duration,
}

impl SlaveSettings {
    pub fn new(heartbeat_interval: Duration, housekeeping_interval: Duration) -> Self {
        SlaveSettings {
            heartbeat_interval,
            housekeeping_interval,
            reconnect_interval: RECONNECT_INTERVAL,
        }
    }
}

/// Replication cannot go on: this slave's log and its master's differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "replication from {master_addr} stopped: this slave's commit log ends at offset \
     {slave_offset}, but the master {detail}. The slave may hold messages the master lost \
     (a master crash under ASYNC_MASTER); keep a copy of this store for inspection, then \
     rebuild the slave from an empty store or a copy of the master's"
)]
pub struct Diverged {
    pub master_addr: String,
    pub slave_offset: u64,
    pub detail: String,
}

/// Where the master's HA address comes from, asked again at each connection attempt.
pub type MasterAddress = Box<dyn Fn() -> Option<String> + Send + Sync>;
/// Told about each replicated record that became readable (to wake long-polling pulls).
pub type Arrived = Box<dyn Fn(&DispatchRequest<'_>) + Send + Sync>;

pub struct HaSlave {
    store: Arc<MessageStore>,
    settings: SlaveSettings,
    master_address: MasterAddress,
    arrived: Arrived,
}

impl std::fmt::Debug for HaSlave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaSlave")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why one session with the master ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    Diverged(#[from] Diverged),
    #[error("store: {0}")]
    Store(StoreError),
}

impl HaSlave {
    pub fn new(
        store: Arc<MessageStore>,
        settings: SlaveSettings,
        master_address: MasterAddress,
        arrived: Arrived,
    ) -> Self {
        HaSlave {
            store,
            settings,
            master_address,
            arrived,
        }
    }

    /// Replicates until shutdown (`Ok`) or until the logs are found to differ (`Err`).
    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), Diverged> {
        loop {
            let outcome = match (self.master_address)() {
                None => {
                    tracing::debug!("no master HA address known yet");
                    None
                }
                Some(addr) => tokio::select! {
                    () = shutdown.wait() => return Ok(()),
                    end = self.session(&addr) => Some((addr, end)),
                },
            };
            let known = outcome.is_some();
            match outcome {
                Some((_, Err(SessionEnd::Diverged(diverged)))) => {
                    tracing::error!(error = %diverged, "replication stopped");
                    return Err(diverged);
                }
                Some((addr, Err(error))) => {
                    tracing::warn!(master = %addr, %error, "replication connection lost; retrying");
                }
                Some((_, Ok(()))) | None => {}
            }
            // Without an address yet (registration pending), look again soon.
            let pause = if known {
                self.settings.reconnect_interval
            } else {
                self.settings.reconnect_interval.min(ADDRESS_POLL_INTERVAL)
            };
            tokio::select! {
                () = shutdown.wait() => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn session(&self, addr: &str) -> Result<(), SessionEnd> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| SessionEnd::Protocol(format!("connecting to {addr} timed out")))??;
        stream.set_nodelay(true)?;
        let (mut reader, mut writer) = stream.into_split();
        let mut reported = self.store.received_end();
        writer.write_all(&encode_report(reported)).await?;
        tracing::info!(master = %addr, offset = reported, "connected to the master");
        let mut last_report = tokio::time::Instant::now();
        let mut body = Vec::new();
        loop {
            let heartbeat_at = last_report + self.settings.heartbeat_interval;
            let mut head = [0u8; HEADER_BYTES];
            let header = tokio::select! {
                read = tokio::time::timeout(self.settings.housekeeping_interval, reader.read_exact(&mut head)) => {
                    read.map_err(|_| SessionEnd::Protocol(format!(
                        "nothing from the master for {} ms (haHousekeepingInterval)",
                        self.settings.housekeeping_interval.as_millis()
                    )))??;
                    TransferHeader::decode(&head).map_err(SessionEnd::Protocol)?
                }
                () = tokio::time::sleep_until(heartbeat_at) => {
                    writer.write_all(&encode_report(reported)).await?;
                    last_report = tokio::time::Instant::now();
                    continue;
                }
            };
            body.resize(header.body_bytes as usize, 0);
            reader.read_exact(&mut body).await?;
            let end = self.apply(addr, header, &body)?;
            if end != reported {
                reported = end;
                writer.write_all(&encode_report(reported)).await?;
                last_report = tokio::time::Instant::now();
            }
        }
    }

    /// Appends one transfer; returns how far the log now reaches.
    fn apply(&self, addr: &str, header: TransferHeader, body: &[u8]) -> Result<u64, SessionEnd> {
        let ours = self.store.received_end();
        // An empty slave takes its first bytes wherever the master starts them.
        let starts_empty = self.store.commit_log().files().is_empty() && !body.is_empty();
        if header.offset != ours && !starts_empty {
            if body.is_empty() && header.offset < ours {
                // The master answers a log it cannot continue with its own end.
                return Err(Diverged {
                    master_addr: addr.to_owned(),
                    slave_offset: ours,
                    detail: format!(
                        "cannot continue it and reports its own position as {}",
                        header.offset
                    ),
                }
                .into());
            }
            if body.is_empty() {
                return Ok(ours);
            }
            return Err(SessionEnd::Protocol(format!(
                "the master sent bytes for offset {}, this slave's log ends at {ours}",
                header.offset
            )));
        }
        if body.is_empty() {
            return Ok(ours);
        }
        self.store
            .append_replicated(header.offset, body, &mut |request| (self.arrived)(request))
            .map_err(|error| match error {
                StoreError::Replication(reason) => SessionEnd::Diverged(Diverged {
                    master_addr: addr.to_owned(),
                    slave_offset: ours,
                    detail: format!("sent bytes that do not continue it: {reason}"),
                }),
                other => SessionEnd::Store(other),
            })
    }
}

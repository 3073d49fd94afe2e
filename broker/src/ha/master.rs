//! The master's side: accepts slaves on the HA port (listenPort + 1), streams its CommitLog to
//! each from where the slave's log ends, and records how far each slave has confirmed.
//!
//! One task per slave connection, reading reports and writing transfers at once: a slave's
//! report never waits behind a transfer, so SYNC_MASTER acknowledgements are pipelined.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bolide_client::remoting::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::protocol::{HEADER_BYTES, Start, TransferHeader, start_offset, take_last_report};
use super::tracker::{ReplicaTracker, ReplicaWaitError};
use crate::store::MessageStore;

/// Timings and limits of a master (RocketMQ's `ha*` keys).
#[derive(Debug, Clone)]
pub struct MasterSettings {
    /// `haTransferBatchSize`: the most bytes per transfer.
    pub transfer_batch_bytes: usize,
    /// `haSendHeartbeatInterval`: a header-only transfer when idle this long.
    pub heartbeat_interval: Duration,
    /// `haHousekeepingInterval`: a slave silent this long is dropped.
    pub housekeeping_interval: Duration,
    /// `haMaxGapNotInSync`: a slave further behind does not count for SYNC_MASTER.
    pub max_gap_not_in_sync_bytes: u64,
    /// `slaveTimeout`: how long a SYNC_MASTER send waits for a slave.
    pub slave_timeout: Duration,
}

#[derive(Debug)]
pub struct HaMaster {
    store: Arc<MessageStore>,
    settings: MasterSettings,
    tracker: ReplicaTracker,
    /// Woken after every append, so that idle slave connections send at once.
    new_data: Notify,
}

/// Why one slave connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl HaMaster {
    /// A master for `store`; it hooks itself to the store's appends.
    pub fn new(store: Arc<MessageStore>, settings: MasterSettings) -> Arc<HaMaster> {
        let master = Arc::new(HaMaster {
            store: store.clone(),
            settings,
            tracker: ReplicaTracker::default(),
            new_data: Notify::new(),
        });
        let weak: Weak<HaMaster> = Arc::downgrade(&master);
        let hooked = store.set_append_listener(move |_| {
            if let Some(master) = weak.upgrade() {
                master.new_data.notify_waiters();
            }
        });
        if !hooked {
            tracing::error!("the store already has an append listener: slaves are woken late");
        }
        master
    }

    /// SYNC_MASTER: waits until a slave has `end_offset` (grouped with every other waiting
    /// send; see [`ReplicaTracker`]).
    pub async fn wait_replicated(&self, end_offset: u64) -> Result<(), ReplicaWaitError> {
        self.tracker
            .wait(
                end_offset,
                self.store.commit_log_max_offset(),
                self.settings.max_gap_not_in_sync_bytes,
                self.settings.slave_timeout,
            )
            .await
    }

    /// Accepts slaves until shutdown; each connection ends with it.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut shutdown: Shutdown) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tracing::info!(%peer, "slave connected");
                        let master = self.clone();
                        connections.spawn(async move {
                            master.tracker.connected();
                            let end = master.connection(stream).await;
                            master.tracker.disconnected();
                            match end {
                                Ok(()) => tracing::info!(%peer, "slave disconnected"),
                                Err(error) => tracing::warn!(%peer, %error, "slave connection closed"),
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting a slave failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
    }

    async fn connection(&self, stream: TcpStream) -> Result<(), ConnectionEnd> {
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let (first_tx, first_rx) = watch::channel(None);
        tokio::select! {
            end = self.read_reports(reader, first_tx) => end,
            end = self.transfer(writer, first_rx) => end,
        }
    }

    /// Reads slave reports. The first one is handed to the writer; later ones must not run
    /// past this master's log (Java closes such a connection too).
    async fn read_reports(
        &self,
        mut reader: OwnedReadHalf,
        first: watch::Sender<Option<u64>>,
    ) -> Result<(), ConnectionEnd> {
        let mut buf = Vec::with_capacity(64);
        let mut chunk = [0u8; 1024];
        let mut seen_first = false;
        loop {
            let read =
                tokio::time::timeout(self.settings.housekeeping_interval, reader.read(&mut chunk))
                    .await
                    .map_err(|_| {
                        ConnectionEnd::Protocol(format!(
                            "no report for {} ms (haHousekeepingInterval)",
                            self.settings.housekeeping_interval.as_millis()
                        ))
                    })??;
            if read == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..read]);
            let Some(offset) = take_last_report(&mut buf) else {
                continue;
            };
            if !seen_first {
                seen_first = true;
                first.send_replace(Some(offset));
                continue;
            }
            let end = self.store.commit_log_max_offset();
            if offset > end {
                return Err(ConnectionEnd::Protocol(format!(
                    "slave reports offset {offset}, past this master's end {end}"
                )));
            }
            self.tracker.report(offset);
        }
    }

    /// Streams the log from where the slave's first report says, then whatever is appended.
    async fn transfer(
        &self,
        mut writer: OwnedWriteHalf,
        mut first: watch::Receiver<Option<u64>>,
    ) -> Result<(), ConnectionEnd> {
        let report = loop {
            if let Some(report) = *first.borrow_and_update() {
                break report;
            }
            if first.changed().await.is_err() {
                return Ok(());
            }
        };
        let mut next = self.start(report, &mut writer).await?;
        self.tracker.report(report.min(next));
        let mut last_sent = tokio::time::Instant::now();
        loop {
            let notified = self.new_data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let bytes = self
                .store
                .read_for_replica(next, self.settings.transfer_batch_bytes)?
                .ok_or_else(|| {
                    ConnectionEnd::Protocol(format!(
                        "the slave needs offset {next}, whose file this master has deleted; \
                         the slave must be rebuilt from a copy of the master's store"
                    ))
                })?;
            if !bytes.is_empty() {
                send(&mut writer, next, &bytes).await?;
                next += bytes.len() as u64;
                last_sent = tokio::time::Instant::now();
                continue;
            }
            let heartbeat_at = last_sent + self.settings.heartbeat_interval;
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(heartbeat_at) => {
                    send(&mut writer, next, &[]).await?;
                    last_sent = tokio::time::Instant::now();
                }
            }
        }
    }

    /// Where to start for a slave whose log ends at `report`; a slave that cannot be
    /// continued gets a header-only transfer at this master's end (so that it sees the
    /// mismatch and says so) and the connection ends.
    async fn start(&self, report: u64, writer: &mut OwnedWriteHalf) -> Result<u64, ConnectionEnd> {
        let end = self.store.commit_log_max_offset();
        let file_size = self.store.config().commit_log_file_size_bytes;
        let reason = match start_offset(report, end, file_size) {
            Start::At(offset) if self.store.is_record_boundary(offset)? => {
                tracing::info!(
                    slave = report,
                    from = offset,
                    master = end,
                    "replicating to a slave"
                );
                return Ok(offset);
            }
            Start::At(offset) => format!(
                "the slave's log ends at {offset}, which is not where a record starts in \
                 this master's log (end {end}): the logs diverged"
            ),
            Start::SlaveAhead { slave, master } => format!(
                "the slave's log ends at {slave}, past this master's end {master}: the slave \
                 holds data this master lost"
            ),
        };
        send(writer, end, &[]).await.ok();
        Err(ConnectionEnd::Protocol(reason))
    }
}

async fn send(writer: &mut OwnedWriteHalf, offset: u64, body: &[u8]) -> std::io::Result<()> {
    let header = TransferHeader {
        offset,
        body_bytes: body.len() as u32,
    }
    .encode();
    debug_assert_eq!(header.len(), HEADER_BYTES);
    if body.is_empty() {
        return writer.write_all(&header).await;
    }
    let mut frame = Vec::with_capacity(HEADER_BYTES + body.len());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(body);
    writer.write_all(&frame).await
}

//! The remoting server: an accept loop with a connection cap, one reader task per connection,
//! one task per request (so responses may leave out of order), a bounded writer per
//! connection, idle close, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use super::connection::{Activity, ConnectionHandle, FrameReader, ReadError, run_writer};
use super::shutdown::Shutdown;
use crate::protocol::{MAX_FRAME_BYTES, RemotingCommand};

/// Limits and timers of a server. Defaults follow RocketMQ's Netty server where it has one.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections beyond this are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A connection with no frame read or written for this long is closed
    /// (`serverChannelMaxIdleTimeSeconds`, 120 s).
    pub idle_timeout: Duration,
    /// Largest frameLength accepted (16 MiB).
    pub max_frame_bytes: usize,
    /// Outgoing frames queued per connection before processors wait for the writer.
    pub writer_queue_depth: usize,
    /// Requests of one connection processed at once; the reader stops reading beyond it.
    pub max_in_flight_per_connection: usize,
    /// How long shutdown waits for requests in flight before cutting connections.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(120),
            max_frame_bytes: MAX_FRAME_BYTES,
            writer_queue_depth: 1024,
            max_in_flight_per_connection: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// What a server does with requests. One processor serves every connection.
pub trait RequestProcessor: Send + Sync + 'static {
    /// Handles one request. `None` sends nothing. Responses to oneway requests are dropped
    /// by the server, so processors need not check the flag.
    fn process(
        &self,
        connection: &ConnectionHandle,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send;

    /// Called once when a connection has closed, for whatever reason.
    fn connection_closed(&self, _connection: &ConnectionHandle) {}
}

/// Connection ids are process-wide, so a processor serving several listeners (a broker's
/// main and fast ports) can key clients by id without collisions.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Serves `listener` until `shutdown` fires, then stops accepting, lets requests in flight
/// finish for `shutdown_grace`, and closes every connection.
pub async fn serve<P: RequestProcessor>(
    listener: TcpListener,
    processor: Arc<P>,
    config: ServerConfig,
    mut shutdown: Shutdown,
) {
    let config = Arc::new(config);
    let connection_slots = Arc::new(Semaphore::new(config.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.wait() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = connection_slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = config.max_connections, "connection limit reached; closing new connection");
            drop(stream);
            continue;
        };
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        let processor = processor.clone();
        let config = config.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, id, processor, config, shutdown).await;
            drop(slot);
        });
    }
    drop(listener);
    let grace = config.shutdown_grace + Duration::from_millis(500);
    if tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
        connections.shutdown().await;
    }
}

async fn serve_connection<P: RequestProcessor>(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    id: u64,
    processor: Arc<P>,
    config: Arc<ServerConfig>,
    mut shutdown: Shutdown,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "set_nodelay failed");
    }
    let (read_half, write_half) = stream.into_split();
    let (sender, receiver) = mpsc::channel(config.writer_queue_depth);
    let activity = Activity::new();
    let (finish_writer, finish) = oneshot::channel();
    let writer = tokio::spawn(run_writer(
        write_half,
        receiver,
        finish,
        activity.clone(),
        peer.to_string(),
    ));
    let handle = ConnectionHandle::new(id, peer, sender);
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight_per_connection));
    let mut reader = FrameReader::new(read_half, config.max_frame_bytes);
    let idle_timeout_ms = config.idle_timeout.as_millis() as u64;
    tracing::debug!(%peer, id, "connection opened");
    loop {
        let read = tokio::select! {
            () = shutdown.wait() => break,
            read = tokio::time::timeout(config.idle_timeout, reader.read_frame()) => read,
        };
        let request = match read {
            Err(_elapsed) if activity.idle_ms() >= idle_timeout_ms => {
                tracing::info!(%peer, "closing idle connection");
                break;
            }
            Err(_elapsed) => continue,
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) => break,
            Ok(Err(ReadError::Io(error))) => {
                tracing::debug!(%peer, %error, "read failed");
                break;
            }
            Ok(Err(error)) => {
                tracing::warn!(%peer, %error, "bad frame; closing connection");
                break;
            }
        };
        activity.touch();
        if request.is_response() {
            // Answers to our oneway notifications: nothing waits for them.
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let processor = processor.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let oneway = request.is_oneway();
            let response = processor.process(&handle, request).await;
            if let Some(response) = response.filter(|_| !oneway) {
                // A closed channel means the connection is gone; nobody is waiting.
                let _closed = handle.sender().send(response).await;
            }
            drop(permit);
        });
    }
    // Let requests in flight finish so their responses are written, then close.
    let all = config.max_in_flight_per_connection as u32;
    let drained = tokio::time::timeout(config.shutdown_grace, in_flight.acquire_many(all)).await;
    if drained.is_err() {
        tracing::warn!(%peer, "requests still in flight at close");
    }
    processor.connection_closed(&handle);
    drop(handle);
    // The writer finishes what is queued; clones of the handle kept elsewhere now fail.
    let _already_done = finish_writer.send(());
    if tokio::time::timeout(config.shutdown_grace, writer)
        .await
        .is_err()
    {
        tracing::warn!(%peer, "writer did not finish in time");
    }
    tracing::debug!(%peer, id, "connection closed");
}

//! The remoting client: one multiplexed connection per server address, requests matched to
//! responses by opaque, per-request timeouts, oneway sends, and reconnection on next use after
//! a connection breaks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::connection::{Activity, FrameReader, next_opaque, run_writer};
use super::error::RemotingError;
use crate::protocol::{MAX_FRAME_BYTES, RemotingCommand};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub max_frame_bytes: usize,
    /// Requests queued per connection before senders wait for the writer.
    pub writer_queue_depth: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(3),
            max_frame_bytes: MAX_FRAME_BYTES,
            writer_queue_depth: 4096,
        }
    }
}

/// Receives requests that servers send to this client (NOTIFY_CONSUMER_IDS_CHANGED, ...).
pub trait InboundRequestHandler: Send + Sync + 'static {
    /// `addr` is the server address the request came from. A returned command is sent back
    /// as the response unless the request was oneway.
    fn handle(&self, addr: &str, request: RemotingCommand) -> Option<RemotingCommand>;
}

/// Requests waiting for their response, by opaque; `None` once the connection's reader has
/// ended, so that a request registered after that fails at once instead of waiting for a
/// response that can no longer come.
type Pending = Arc<Mutex<Option<HashMap<i32, oneshot::Sender<RemotingCommand>>>>>;

#[derive(Debug)]
struct Connection {
    sender: mpsc::Sender<RemotingCommand>,
    pending: Pending,
    reader: JoinHandle<()>,
    // Dropping it tells the writer to finish; held only for that.
    _finish_writer: oneshot::Sender<()>,
}

impl Connection {
    fn is_open(&self) -> bool {
        !self.reader.is_finished() && !self.sender.is_closed()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A client of any number of remoting servers. Cheap to share behind an `Arc`.
pub struct RemotingClient {
    config: ClientConfig,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
    inbound: Option<Arc<dyn InboundRequestHandler>>,
}

impl std::fmt::Debug for RemotingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemotingClient")
            .field("config", &self.config)
            .field("connections", &self.connections.lock().len())
            .finish()
    }
}

impl RemotingClient {
    pub fn new(config: ClientConfig) -> Self {
        RemotingClient {
            config,
            connections: Mutex::new(HashMap::new()),
            inbound: None,
        }
    }

    pub fn with_inbound_handler(mut self, handler: Arc<dyn InboundRequestHandler>) -> Self {
        self.inbound = Some(handler);
        self
    }

    /// Sends `request` to `addr` and waits up to `timeout` for its response. The opaque is
    /// assigned here. The timeout covers connecting, queueing and the server's work.
    pub async fn invoke(
        &self,
        addr: &str,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let code = request.code;
        let timed_out = || RemotingError::Timeout {
            addr: addr.to_owned(),
            code,
            timeout_ms: timeout.as_millis() as u64,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let connection = tokio::time::timeout_at(deadline, self.connection(addr))
            .await
            .map_err(|_| timed_out())??;
        let opaque = next_opaque();
        request.opaque = opaque;
        let (sender, receiver) = oneshot::channel();
        let closed = || RemotingError::ConnectionClosed {
            addr: addr.to_owned(),
        };
        match connection.pending.lock().as_mut() {
            Some(waiting) => waiting.insert(opaque, sender),
            // The connection died after it was handed out.
            None => return Err(closed()),
        };
        let result = tokio::time::timeout_at(deadline, async {
            connection
                .sender
                .send(request)
                .await
                .map_err(|_| closed())?;
            receiver.await.map_err(|_| closed())
        })
        .await;
        match result {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                if let Some(waiting) = connection.pending.lock().as_mut() {
                    waiting.remove(&opaque);
                }
                Err(timed_out())
            }
        }
    }

    /// Sends `request` without waiting for (or expecting) a response.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<(), RemotingError> {
        let code = request.code;
        request.opaque = next_opaque();
        request.flag |= crate::protocol::command::FLAG_ONEWAY;
        let send = async {
            let connection = self.connection(addr).await?;
            connection
                .sender
                .send(request)
                .await
                .map_err(|_| RemotingError::ConnectionClosed {
                    addr: addr.to_owned(),
                })
        };
        tokio::time::timeout(timeout, send)
            .await
            .map_err(|_| RemotingError::Timeout {
                addr: addr.to_owned(),
                code,
                timeout_ms: timeout.as_millis() as u64,
            })?
    }

    /// Closes the connection to `addr`, failing its requests in flight.
    pub fn close(&self, addr: &str) {
        self.connections.lock().remove(addr);
    }

    async fn connection(&self, addr: &str) -> Result<Arc<Connection>, RemotingError> {
        if let Some(existing) = self.live_connection(addr) {
            return Ok(existing);
        }
        let fresh = Arc::new(self.connect(addr).await?);
        let mut connections = self.connections.lock();
        // Another task may have connected meanwhile: keep one connection per address.
        if let Some(existing) = connections.get(addr).filter(|c| c.is_open()) {
            return Ok(existing.clone());
        }
        connections.insert(addr.to_owned(), fresh.clone());
        Ok(fresh)
    }

    fn live_connection(&self, addr: &str) -> Option<Arc<Connection>> {
        let mut connections = self.connections.lock();
        match connections.get(addr) {
            Some(existing) if existing.is_open() => Some(existing.clone()),
            Some(_) => {
                connections.remove(addr);
                None
            }
            None => None,
        }
    }

    async fn connect(&self, addr: &str) -> Result<Connection, RemotingError> {
        let stream = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| RemotingError::ConnectTimeout {
                addr: addr.to_owned(),
                timeout_ms: self.config.connect_timeout.as_millis() as u64,
            })?
            .map_err(|source| RemotingError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(addr, %error, "set_nodelay failed");
        }
        let (read_half, write_half) = stream.into_split();
        let (sender, receiver) = mpsc::channel(self.config.writer_queue_depth);
        let (finish_writer, finish) = oneshot::channel();
        tokio::spawn(run_writer(
            write_half,
            receiver,
            finish,
            Activity::new(),
            addr.to_owned(),
        ));
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let reader = tokio::spawn(read_responses(
            FrameReader::new(read_half, self.config.max_frame_bytes),
            pending.clone(),
            sender.clone(),
            self.inbound.clone(),
            addr.to_owned(),
        ));
        Ok(Connection {
            sender,
            pending,
            reader,
            _finish_writer: finish_writer,
        })
    }
}

async fn read_responses(
    mut reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    pending: Pending,
    sender: mpsc::Sender<RemotingCommand>,
    inbound: Option<Arc<dyn InboundRequestHandler>>,
    addr: String,
) {
    loop {
        let command = match reader.read_frame().await {
            Ok(Some(command)) => command,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%addr, %error, "reading from server failed; closing connection");
                break;
            }
        };
        if command.is_response() {
            let waiter = pending
                .lock()
                .as_mut()
                .and_then(|waiting| waiting.remove(&command.opaque));
            match waiter {
                // The requester may have timed out and gone: nothing to do then.
                Some(waiter) => drop(waiter.send(command)),
                None => {
                    tracing::debug!(%addr, opaque = command.opaque, "response nobody waits for")
                }
            }
            continue;
        }
        let Some(handler) = &inbound else {
            tracing::debug!(%addr, code = command.code, "server request ignored: no handler");
            continue;
        };
        let oneway = command.is_oneway();
        if let Some(response) = handler.handle(&addr, command).filter(|_| !oneway)
            && sender.try_send(response).is_err()
        {
            tracing::warn!(%addr, "could not queue response to a server request");
        }
    }
    // Fail everyone still waiting (their senders drop here), and anyone who comes later.
    *pending.lock() = None;
}

//! One framed TCP connection: a reader that yields whole commands and a writer task fed by a
//! bounded channel. Server and client both use these halves.
//!
//! The writer owns the socket's write half and drains its channel in batches, so responses
//! finished out of order (a long-polled pull beside a quick send) go out as they complete,
//! and a slow reader on the far side pushes back through the bounded channel instead of
//! growing memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::{
    ProtocolError, RemotingCommand, ResponseCode, SerializeType, decode_frame, encode_frame,
};

/// Reads whole frames from a byte stream.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    reader: R,
    buffer: BytesMut,
    max_frame_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("connection closed in the middle of a frame ({0} bytes pending)")]
    TruncatedFrame(usize),
}

/// Bytes read per system call at least; frames are usually small.
const READ_CHUNK_BYTES: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(reader: R, max_frame_bytes: usize) -> Self {
        FrameReader {
            reader,
            buffer: BytesMut::with_capacity(READ_CHUNK_BYTES),
            max_frame_bytes,
        }
    }

    /// The next command, or `None` on a clean end of stream between frames.
    pub(crate) async fn read_frame(&mut self) -> Result<Option<RemotingCommand>, ReadError> {
        loop {
            if let Some(command) = decode_frame(&mut self.buffer, self.max_frame_bytes)? {
                return Ok(Some(command));
            }
            if self.buffer.capacity() - self.buffer.len() < READ_CHUNK_BYTES / 4 {
                self.buffer.reserve(READ_CHUNK_BYTES);
            }
            if self.reader.read_buf(&mut self.buffer).await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::TruncatedFrame(self.buffer.len()))
                };
            }
        }
    }
}

/// Milliseconds since the connection opened at which it last read or wrote a frame; the
/// idle check closes connections with no traffic either way.
#[derive(Debug)]
pub(crate) struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    pub(crate) fn touch(&self) {
        self.last_ms
            .store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn idle_ms(&self) -> u64 {
        (self.opened.elapsed().as_millis() as u64)
            .saturating_sub(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Most bytes the writer batches before one write call.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Drains `commands` onto `writer` until the channel closes, `finish` fires (then whatever is
/// already queued is still written), or a write fails.
///
/// `finish` exists because processors may keep clones of a connection's sender (a broker
/// remembers its consumers' channels): the writer cannot wait for every sender to go.
///
/// A command that cannot be encoded (a response body over the frame limit) is replaced by a
/// SYSTEM_ERROR response with the same opaque, so the requester gets an answer, not a hang.
pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut commands: mpsc::Receiver<RemotingCommand>,
    mut finish: oneshot::Receiver<()>,
    activity: Arc<Activity>,
    peer: String,
) {
    let mut buffer = BytesMut::with_capacity(WRITE_BATCH_BYTES);
    let mut finishing = false;
    loop {
        let command = tokio::select! {
            biased;
            command = commands.recv() => command,
            _ = &mut finish, if !finishing => {
                finishing = true;
                commands.close();
                continue;
            }
        };
        let Some(command) = command else { break };
        encode_or_replace(&command, &mut buffer, &peer);
        while buffer.len() < WRITE_BATCH_BYTES {
            match commands.try_recv() {
                Ok(next) => encode_or_replace(&next, &mut buffer, &peer),
                Err(_) => break,
            }
        }
        if let Err(error) = writer.write_all(&buffer).await {
            tracing::debug!(%peer, %error, "write failed; closing connection");
            return;
        }
        buffer.clear();
        activity.touch();
    }
    if let Err(error) = writer.shutdown().await {
        tracing::debug!(%peer, %error, "socket shutdown failed");
    }
}

fn encode_or_replace(command: &RemotingCommand, buffer: &mut BytesMut, peer: &str) {
    let Err(error) = encode_frame(command, buffer) else {
        return;
    };
    tracing::warn!(%peer, code = command.code, %error, "cannot encode outgoing command");
    if command.is_response() {
        let mut reply = RemotingCommand::response_to(
            command,
            ResponseCode::SYSTEM_ERROR,
            Some(format!("response could not be encoded: {error}")),
        );
        reply.serialize_type = SerializeType::Json;
        if let Err(error) = encode_frame(&reply, buffer) {
            tracing::error!(%peer, %error, "cannot encode error response either");
        }
    }
}

/// Opaques for requests this process originates (client requests, server-initiated
/// notifications). Shared so two channels never reuse one by accident.
pub(crate) fn next_opaque() -> i32 {
    static NEXT: AtomicI32 = AtomicI32::new(1);
    // Wrapping is fine: an opaque only has to be unique among requests in flight.
    NEXT.fetch_add(1, Ordering::Relaxed) & i32::MAX
}

/// A server-side connection as a processor sees it: who is on the other end, and a way to
/// send them server-initiated requests (NOTIFY_CONSUMER_IDS_CHANGED and friends).
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    id: u64,
    peer: SocketAddr,
    sender: mpsc::Sender<RemotingCommand>,
}

impl ConnectionHandle {
    pub(crate) fn new(id: u64, peer: SocketAddr, sender: mpsc::Sender<RemotingCommand>) -> Self {
        ConnectionHandle { id, peer, sender }
    }

    /// A handle attached to no socket: what is sent to it lands in the returned receiver.
    /// For tests and in-process peers; the id must not collide with a server's (use large
    /// values).
    pub fn detached(
        id: u64,
        peer: SocketAddr,
        queue_depth: usize,
    ) -> (Self, mpsc::Receiver<RemotingCommand>) {
        let (sender, receiver) = mpsc::channel(queue_depth.max(1));
        (ConnectionHandle { id, peer, sender }, receiver)
    }

    /// Unique per accepted connection for the life of the server.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Sends a oneway request to the peer without waiting. Returns false when the
    /// connection is closed or its writer queue is full (the peer is not reading).
    pub fn send_oneway(&self, mut request: RemotingCommand) -> bool {
        request.opaque = next_opaque();
        request.flag |= crate::protocol::command::FLAG_ONEWAY;
        request.serialize_type = SerializeType::Json;
        self.sender.try_send(request).is_ok()
    }

    pub(crate) fn sender(&self) -> &mpsc::Sender<RemotingCommand> {
        &self.sender
    }
}

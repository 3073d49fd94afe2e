//! Transport errors. Each names the peer address so a log line says which server failed.

use crate::protocol::ProtocolError;

#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    #[error("connect to {addr} failed: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connect to {addr} timed out after {timeout_ms} ms")]
    ConnectTimeout { addr: String, timeout_ms: u64 },
    #[error("request code {code} to {addr} timed out after {timeout_ms} ms")]
    Timeout {
        addr: String,
        code: i32,
        timeout_ms: u64,
    },
    #[error("connection to {addr} closed before the response arrived")]
    ConnectionClosed { addr: String },
    #[error("request to {addr} could not be encoded: {source}")]
    Encode {
        addr: String,
        #[source]
        source: ProtocolError,
    },
}

//! Store errors. Each names the file, offset, key or limit at fault, because an operator reads
//! them in a log at 3 a.m.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Data that cannot be trusted where the store needs it to be valid.
    #[error("corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A flush failed earlier; the store refuses all writes until restarted.
    #[error("the store refuses writes after a failed flush: {0}")]
    Poisoned(String),
    /// The message breaks a limit (topic length, properties, body size).
    #[error("message rejected: {0}")]
    MessageIllegal(String),
    /// Writes refused because the disk is nearly full.
    #[error(
        "disk holding {dir} is {used_percent}% full; writes are refused above {limit_percent}%"
    )]
    DiskFull {
        dir: PathBuf,
        used_percent: u64,
        limit_percent: u64,
    },
    /// A SYNC_FLUSH append was not durable within `syncFlushTimeout`.
    #[error("flush did not complete within {timeout_ms} ms")]
    FlushTimeout { timeout_ms: u64 },
    #[error("invalid store configuration: {0}")]
    Config(String),
    #[error("the store is shut down")]
    ShutDown,
    /// A slave was sent bytes that do not continue its log.
    #[error("replication: {0}")]
    Replication(String),
}

impl StoreError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

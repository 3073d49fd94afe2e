//! The broker's message store: CommitLog, ConsumeQueue, IndexFile, flush, recovery and
//! retention (protocol.md §5–§6). It knows nothing of the network.

pub mod checkpoint;
pub mod cleanup;
pub mod commit_log;
pub mod config;
pub mod consume_queue;
pub mod dispatch;
pub mod error;
pub mod flush;
pub mod index;
pub mod mapped_file;
pub mod mapped_file_queue;
pub mod message_store;
pub mod recovery;
pub mod warm;

pub use config::{FlushDiskType, StoreConfig};
pub use error::{StoreError, StoreResult};
pub use message_store::{GetMessageResult, GetMessageStatus, MessageStore};

#[cfg(test)]
mod tests;

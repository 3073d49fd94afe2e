//! The broker's message store: CommitLog, ConsumeQueue, IndexFile, flush, recovery and
//! retention (protocol.md §5–§6). It knows nothing of the network.

pub mod error;
pub mod mapped_file;
pub mod mapped_file_queue;

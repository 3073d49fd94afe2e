//! Classic master/slave replication (protocol.md §7): a master streams its CommitLog to each
//! slave over the HA port (listenPort + 1), and each slave appends the bytes at the same
//! offsets and builds its ConsumeQueues and index from them exactly as the master did.
//!
//! `protocol` is the pure part (bytes, where to start); `master` and `slave` are the thin
//! socket loops; `tracker` groups SYNC_MASTER sends waiting for a slave.

pub mod master;
pub mod protocol;
pub mod slave;
pub mod tracker;

pub use master::{HaMaster, MasterSettings};
pub use slave::{Diverged, HaSlave, SlaveSettings};
pub use tracker::ReplicaWaitError;

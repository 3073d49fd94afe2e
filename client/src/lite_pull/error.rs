//! Why a lite pull consumer call failed. Background fetching never fails: its errors are
//! logged and retried, so these come only from the calls the application makes.

use crate::protocol::heartbeat::MessageQueue;

#[derive(Debug, thiserror::Error)]
pub enum LitePullError {
    #[error("invalid lite pull consumer configuration: {0}")]
    Config(String),
    /// Started twice, or used after shutdown.
    #[error("lite pull consumer of group {group}: {reason}")]
    State { group: String, reason: &'static str },
    /// `subscribe` and `assign` are exclusive, as in Java.
    #[error("{0}: subscribe and assign cannot be mixed on one consumer")]
    Mode(&'static str),
    /// `seek`, `pause`… on a queue this consumer does not own (in subscribe mode, perhaps
    /// not yet: rebalancing may still be giving it out).
    #[error("queue {0:?} is not assigned to this consumer")]
    NotAssigned(MessageQueue),
    #[error("seek offset {offset} outside [{min}, {max}] of queue {queue:?}")]
    SeekOutOfRange {
        queue: MessageQueue,
        offset: i64,
        min: i64,
        max: i64,
    },
    /// A name server or broker could not be reached, or refused; the text says which.
    #[error("{0}")]
    Remote(String),
}

pub type Result<T, E = LitePullError> = std::result::Result<T, E>;

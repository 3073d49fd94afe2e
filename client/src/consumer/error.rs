//! Why a push consumer could not be built or started. Once running, a consumer does not fail:
//! route lookups, pulls, commits and heartbeats that fail are logged and retried on the next
//! round.

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("invalid consumer configuration: {0}")]
    Config(String),
    #[error("consumer group {group} starts once, and not after shutdown")]
    AlreadyStarted { group: String },
}

pub type Result<T, E = ConsumerError> = std::result::Result<T, E>;

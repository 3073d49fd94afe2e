//! Why a send failed. Every variant that involves a broker names its address and the topic,
//! so one log line says where to look.

use crate::protocol::ProtocolError;
use crate::remoting::RemotingError;

#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("producer group {group} is not running: call start() first, and not after shutdown()")]
    NotRunning { group: String },
    #[error("invalid producer configuration: {0}")]
    Config(String),
    #[error("invalid message for topic {topic}: {reason}")]
    InvalidMessage { topic: String, reason: String },
    #[error("no route for topic {topic}: {reason}")]
    NoRoute { topic: String, reason: String },
    #[error("send of topic {topic} timed out after {timeout_ms} ms before reaching a broker")]
    Timeout { topic: String, timeout_ms: u64 },
    #[error("send of topic {topic} to broker {broker_addr} failed: {source}")]
    Remoting {
        broker_addr: String,
        topic: String,
        #[source]
        source: RemotingError,
    },
    #[error("broker {broker_addr} refused topic {topic}: response code {code}, remark {remark:?}")]
    Broker {
        broker_addr: String,
        topic: String,
        code: i32,
        remark: String,
    },
    #[error("broker {broker_addr} sent an unreadable response for topic {topic}: {source}")]
    Decode {
        broker_addr: String,
        topic: String,
        #[source]
        source: ProtocolError,
    },
}

impl ProducerError {
    /// The broker's response code, when a broker refused the message.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            ProducerError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = ProducerError> = std::result::Result<T, E>;

//! Admin errors. Each says which server was asked, about which topic or group, and what it
//! answered (code, its RocketMQ name, remark), because an admin command visits many
//! servers and "failed" alone leaves the operator guessing which one.

use crate::namesrv::ClientError;
use crate::protocol::{ProtocolError, RequestCode, ResponseCode};
use crate::remoting::RemotingError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no name server address given (-n ip:port;ip:port or NAMESRV_ADDR)")]
    NoNamesrv,
    #[error("name server: {0}")]
    Namesrv(#[source] ClientError),
    #[error("no route for topic {topic} on name server {namesrv}")]
    NoRoute { topic: String, namesrv: String },
    #[error("cluster {cluster} is not known to the name server (known clusters: {known})")]
    UnknownCluster { cluster: String, known: String },
    #[error("cluster {cluster} has no master broker registered")]
    NoMaster { cluster: String },
    #[error(
        "{subject}: broker {addr} answered {request} ({request_code}) with code {code} \
         ({name}): {remark}",
        request = request_code_name(*request_code),
        name = response_code_name(*code)
    )]
    Broker {
        addr: String,
        subject: String,
        request_code: i32,
        code: i32,
        remark: String,
    },
    #[error("{subject}: {source}")]
    Remoting {
        subject: String,
        #[source]
        source: RemotingError,
    },
    #[error("broker {addr} sent an unreadable {what}: {source}")]
    Decode {
        addr: String,
        what: &'static str,
        #[source]
        source: ProtocolError,
    },
    /// A well-formed answer that does not give what was asked (nothing found, empty stats).
    #[error("{0}")]
    NotFound(String),
    /// An argument the request cannot be built from.
    #[error("{0}")]
    Invalid(String),
}

impl AdminError {
    /// The response code when a server answered with an error.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            AdminError::Broker { code, .. } => Some(*code),
            AdminError::Namesrv(error) => error.response_code(),
            _ => None,
        }
    }
}

/// RocketMQ's name of the request codes the admin client sends to brokers.
pub fn request_code_name(code: i32) -> &'static str {
    match code {
        RequestCode::QUERY_MESSAGE => "QUERY_MESSAGE",
        RequestCode::VIEW_MESSAGE_BY_ID => "VIEW_MESSAGE_BY_ID",
        RequestCode::UPDATE_AND_CREATE_TOPIC => "UPDATE_AND_CREATE_TOPIC",
        RequestCode::DELETE_TOPIC_IN_BROKER => "DELETE_TOPIC_IN_BROKER",
        RequestCode::UPDATE_BROKER_CONFIG => "UPDATE_BROKER_CONFIG",
        RequestCode::GET_BROKER_CONFIG => "GET_BROKER_CONFIG",
        RequestCode::GET_BROKER_RUNTIME_INFO => "GET_BROKER_RUNTIME_INFO",
        RequestCode::GET_TOPIC_STATS_INFO => "GET_TOPIC_STATS_INFO",
        RequestCode::GET_CONSUME_STATS => "GET_CONSUME_STATS",
        RequestCode::GET_CONSUMER_CONNECTION_LIST => "GET_CONSUMER_CONNECTION_LIST",
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
        RequestCode::DELETE_SUBSCRIPTIONGROUP => "DELETE_SUBSCRIPTIONGROUP",
        RequestCode::RESET_CONSUMER_CLIENT_OFFSET => "RESET_CONSUMER_CLIENT_OFFSET",
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET => "INVOKE_BROKER_TO_RESET_OFFSET",
        _ => "request",
    }
}

/// RocketMQ's name of a response code, for messages (`SYSTEM_ERROR`, `TOPIC_NOT_EXIST`...).
pub fn response_code_name(code: i32) -> &'static str {
    match code {
        ResponseCode::SUCCESS => "SUCCESS",
        ResponseCode::SYSTEM_ERROR => "SYSTEM_ERROR",
        ResponseCode::SYSTEM_BUSY => "SYSTEM_BUSY",
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED => "REQUEST_CODE_NOT_SUPPORTED",
        ResponseCode::TRANSACTION_FAILED => "TRANSACTION_FAILED",
        ResponseCode::FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
        ResponseCode::SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
        ResponseCode::FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
        ResponseCode::MESSAGE_ILLEGAL => "MESSAGE_ILLEGAL",
        ResponseCode::SERVICE_NOT_AVAILABLE => "SERVICE_NOT_AVAILABLE",
        ResponseCode::VERSION_NOT_SUPPORTED => "VERSION_NOT_SUPPORTED",
        ResponseCode::NO_PERMISSION => "NO_PERMISSION",
        ResponseCode::TOPIC_NOT_EXIST => "TOPIC_NOT_EXIST",
        ResponseCode::TOPIC_EXIST_ALREADY => "TOPIC_EXIST_ALREADY",
        ResponseCode::PULL_NOT_FOUND => "PULL_NOT_FOUND",
        ResponseCode::PULL_RETRY_IMMEDIATELY => "PULL_RETRY_IMMEDIATELY",
        ResponseCode::PULL_OFFSET_MOVED => "PULL_OFFSET_MOVED",
        ResponseCode::QUERY_NOT_FOUND => "QUERY_NOT_FOUND",
        ResponseCode::SUBSCRIPTION_PARSE_FAILED => "SUBSCRIPTION_PARSE_FAILED",
        ResponseCode::SUBSCRIPTION_NOT_EXIST => "SUBSCRIPTION_NOT_EXIST",
        ResponseCode::SUBSCRIPTION_NOT_LATEST => "SUBSCRIPTION_NOT_LATEST",
        ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST => "SUBSCRIPTION_GROUP_NOT_EXIST",
        ResponseCode::CONSUMER_NOT_ONLINE => "CONSUMER_NOT_ONLINE",
        ResponseCode::FLOW_CONTROL => "FLOW_CONTROL",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_errors_name_address_subject_code_and_remark() {
        let error = AdminError::Broker {
            addr: "127.0.0.1:10911".into(),
            subject: "topic T".into(),
            request_code: RequestCode::GET_TOPIC_STATS_INFO,
            code: ResponseCode::TOPIC_NOT_EXIST,
            remark: "topic[T] not exist".into(),
        };
        let text = error.to_string();
        for part in [
            "127.0.0.1:10911",
            "topic T",
            "202",
            "17",
            "TOPIC_NOT_EXIST",
            "not exist",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert_eq!(error.response_code(), Some(17));
    }
}

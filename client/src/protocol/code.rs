//! Request, response and language codes of RocketMQ 4.9.7 (protocol.md §1.3, §2.1, §2.2).
//!
//! Request codes are kept as a table of constants rather than a closed enum: a server must be
//! able to name a code it does not serve in its REQUEST_CODE_NOT_SUPPORTED answer, and the
//! broker and name server each match exhaustively on the subset they handle.

/// Request codes (RequestCode.java, 4.9.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestCode;

impl RequestCode {
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_MESSAGE: i32 = 12;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    pub const GET_BROKER_CONFIG: i32 = 26;
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    pub const GET_MAX_OFFSET: i32 = 30;
    pub const GET_MIN_OFFSET: i32 = 31;
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    pub const HEART_BEAT: i32 = 34;
    pub const UNREGISTER_CLIENT: i32 = 35;
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    pub const END_TRANSACTION: i32 = 37;
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    pub const LOCK_BATCH_MQ: i32 = 41;
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    pub const PUT_KV_CONFIG: i32 = 100;
    pub const GET_KV_CONFIG: i32 = 101;
    pub const DELETE_KV_CONFIG: i32 = 102;
    pub const REGISTER_BROKER: i32 = 103;
    pub const UNREGISTER_BROKER: i32 = 104;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    pub const GET_CONSUME_STATS: i32 = 208;
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    /// Broker → consumer: adopt these offsets (after INVOKE_BROKER_TO_RESET_OFFSET).
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const UPDATE_NAMESRV_CONFIG: i32 = 318;
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    pub const QUERY_DATA_VERSION: i32 = 322;
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
}

/// Response codes (ResponseCode.java + RemotingSysResponseCode.java).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseCode;

impl ResponseCode {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const SYSTEM_BUSY: i32 = 2;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const TRANSACTION_FAILED: i32 = 4;
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    pub const MESSAGE_ILLEGAL: i32 = 13;
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    pub const FLOW_CONTROL: i32 = 215;
}

/// The sender's language (LanguageCode.java). Names travel in JSON headers, the byte codes in
/// ROCKETMQ binary headers. Unknown names and bytes are kept as `Unknown` rather than
/// rejected: Java ignores them too, and a newer client must not be locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    /// Not in Java's enum; rocketmq-rust knows it.
    NodeJs,
    /// A name or byte this table does not know.
    Unknown,
}

impl LanguageCode {
    const TABLE: [(LanguageCode, &'static str, u8); 14] = [
        (LanguageCode::Java, "JAVA", 0),
        (LanguageCode::Cpp, "CPP", 1),
        (LanguageCode::Dotnet, "DOTNET", 2),
        (LanguageCode::Python, "PYTHON", 3),
        (LanguageCode::Delphi, "DELPHI", 4),
        (LanguageCode::Erlang, "ERLANG", 5),
        (LanguageCode::Ruby, "RUBY", 6),
        (LanguageCode::Other, "OTHER", 7),
        (LanguageCode::Http, "HTTP", 8),
        (LanguageCode::Go, "GO", 9),
        (LanguageCode::Php, "PHP", 10),
        (LanguageCode::Oms, "OMS", 11),
        (LanguageCode::Rust, "RUST", 12),
        (LanguageCode::NodeJs, "NODE_JS", 13),
    ];

    /// The JSON spelling. `Unknown` is written as `OTHER`, which every client can parse.
    pub fn name(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(code, _, _)| *code == self)
            .map_or("OTHER", |(_, name, _)| name)
    }

    /// The binary-header byte. `Unknown` is written as OTHER (7).
    pub fn byte(self) -> u8 {
        Self::TABLE
            .iter()
            .find(|(code, _, _)| *code == self)
            .map_or(7, |(_, _, byte)| *byte)
    }

    pub fn from_name(name: &str) -> Self {
        Self::TABLE
            .iter()
            .find(|(_, known, _)| *known == name)
            .map_or(LanguageCode::Unknown, |(code, _, _)| *code)
    }

    pub fn from_byte(byte: u8) -> Self {
        Self::TABLE
            .iter()
            .find(|(_, _, known)| *known == byte)
            .map_or(LanguageCode::Unknown, |(code, _, _)| *code)
    }
}

/// The `MQVersion.Version` ordinal Bolide sends: V4_9_7. Java clients refuse SQL92 pulls from
/// brokers that answer below 232, and the name server picks its route JSON flavour by it.
pub const BOLIDE_VERSION: i32 = 407;
/// V4_9_4: requests at or above this version get standard JSON routes from Java name servers.
pub const VERSION_4_9_4: i32 = 401;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_and_bytes_round_trip() {
        for (code, name, byte) in LanguageCode::TABLE {
            assert_eq!(LanguageCode::from_name(name), code);
            assert_eq!(LanguageCode::from_byte(byte), code);
            assert_eq!(code.name(), name);
            assert_eq!(code.byte(), byte);
        }
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Unknown);
        assert_eq!(LanguageCode::from_byte(200), LanguageCode::Unknown);
        assert_eq!(LanguageCode::Unknown.name(), "OTHER");
    }
}

//! What a producer sends and what a send returns: [`Message`], [`SendResult`] and
//! [`MessageQueue`], with the names and printed shapes of Java's `Message` and `SendResult`.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

use crate::protocol::ResponseCode;

/// One message to send. Plain data: the producer adds `UNIQ_KEY`, `WAIT` and the encoded
/// tags, keys and delay level when it sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    /// Filtered on by consumers (`TagA || TagB`).
    pub tags: Option<String>,
    /// Indexed by the broker for QUERY_MESSAGE; travel space-separated in `KEYS`.
    pub keys: Vec<String>,
    /// User properties. A name the producer sets itself (`TAGS`, `KEYS`, `DELAY`, `WAIT`,
    /// `UNIQ_KEY`) is overwritten by the producer's value.
    pub properties: BTreeMap<String, String>,
    /// Delay level (1 = 1 s … 18 = 2 h with the broker's default levels); 0 means none.
    pub delay_level: i32,
    /// The user's flag, stored untouched.
    pub flag: i32,
}

impl Message {
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            ..Message::default()
        }
    }

    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Adds one key; call again for more.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    pub fn with_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }

    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    pub fn with_delay_level(mut self, delay_level: i32) -> Self {
        self.delay_level = delay_level;
        self
    }

    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }
}

/// A queue of a topic on one broker (Java `MessageQueue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

/// How a stored message fared (Java `SendStatus`): anything but `SendOk` means the message
/// is in the master's CommitLog but a flush or replication the broker waits for did not
/// finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendStatus {
    SendOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

impl SendStatus {
    /// The status a successful-enough response code stands for, as Java's
    /// `processSendResponse` maps them; `None` for codes that mean "not stored".
    pub fn from_response_code(code: i32) -> Option<SendStatus> {
        match code {
            ResponseCode::SUCCESS => Some(SendStatus::SendOk),
            ResponseCode::FLUSH_DISK_TIMEOUT => Some(SendStatus::FlushDiskTimeout),
            ResponseCode::FLUSH_SLAVE_TIMEOUT => Some(SendStatus::FlushSlaveTimeout),
            ResponseCode::SLAVE_NOT_AVAILABLE => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        }
    }

    /// Java's enum name.
    pub const fn name(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

impl fmt::Display for SendStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a stored send (Java `SendResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub send_status: SendStatus,
    /// The producer-made `UNIQ_KEY`; for a batch, every message's joined by commas.
    pub msg_id: String,
    /// The broker's id of where it stored the message (protocol.md §5.4); for a batch,
    /// every message's joined by commas.
    pub offset_msg_id: String,
    pub message_queue: MessageQueue,
    /// Consume-queue offset of the (first) message.
    pub queue_offset: i64,
}

impl fmt::Display for SendResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SendResult [sendStatus={}, msgId={}, offsetMsgId={}, messageQueue={}, queueOffset={}]",
            self.send_status,
            self.msg_id,
            self.offset_msg_id,
            self.message_queue,
            self.queue_offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_java() {
        let result = SendResult {
            send_status: SendStatus::SendOk,
            msg_id: "7F0000010001000000000000000A0001".to_owned(),
            offset_msg_id: "7F00000100002A9F0000000000000000".to_owned(),
            message_queue: MessageQueue {
                topic: "T".to_owned(),
                broker_name: "broker-a".to_owned(),
                queue_id: 3,
            },
            queue_offset: 42,
        };
        assert_eq!(
            result.to_string(),
            "SendResult [sendStatus=SEND_OK, msgId=7F0000010001000000000000000A0001, \
             offsetMsgId=7F00000100002A9F0000000000000000, messageQueue=MessageQueue \
             [topic=T, brokerName=broker-a, queueId=3], queueOffset=42]"
        );
    }

    #[test]
    fn status_from_codes_as_java_maps_them() {
        assert_eq!(SendStatus::from_response_code(0), Some(SendStatus::SendOk));
        assert_eq!(
            SendStatus::from_response_code(10),
            Some(SendStatus::FlushDiskTimeout)
        );
        assert_eq!(
            SendStatus::from_response_code(11),
            Some(SendStatus::SlaveNotAvailable)
        );
        assert_eq!(
            SendStatus::from_response_code(12),
            Some(SendStatus::FlushSlaveTimeout)
        );
        assert_eq!(SendStatus::from_response_code(1), None);
    }

    #[test]
    fn builders_fill_fields() {
        let message = Message::new("T", "x")
            .with_tags("TagA")
            .with_key("k1")
            .with_keys(["k2"])
            .with_property("p", "v")
            .with_delay_level(3)
            .with_flag(7);
        assert_eq!(message.tags.as_deref(), Some("TagA"));
        assert_eq!(message.keys, ["k1", "k2"]);
        assert_eq!(message.properties.get("p").map(String::as_str), Some("v"));
        assert_eq!((message.delay_level, message.flag), (3, 7));
    }
}

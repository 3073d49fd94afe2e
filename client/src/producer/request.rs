//! Turning [`Message`]s into SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE requests and their
//! responses into [`SendResult`]s. Pure: the caller supplies ids and the clock.

use bytes::Bytes;

use super::error::{ProducerError, Result};
use super::message::{Message, MessageQueue, SendResult, SendStatus};
use super::route::{AUTO_CREATE_TOPIC_KEY, DEFAULT_TOPIC_QUEUE_NUMS};
use crate::protocol::batch::{BatchEntry, encode_batch};
use crate::protocol::broker_header::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use crate::protocol::compression::{self, CompressionType};
use crate::protocol::header::CommandHeader;
use crate::protocol::message::{
    KEY_SEPARATOR, MAX_TOPIC_BYTES, Properties, encode_properties, property,
};
use crate::protocol::{RemotingCommand, RequestCode};

/// The largest body (or batch body) a producer sends, as Java's `maxMessageSize` default.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Checks what Java's `Validators.checkMessage` checks.
pub fn validate(message: &Message) -> Result<()> {
    let invalid = |reason: String| ProducerError::InvalidMessage {
        topic: message.topic.clone(),
        reason,
    };
    if message.topic.is_empty() || message.topic.len() > MAX_TOPIC_BYTES {
        return Err(invalid(format!(
            "a topic must have 1 to {MAX_TOPIC_BYTES} bytes"
        )));
    }
    if !message
        .topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"%|-_".contains(&b))
    {
        return Err(invalid(
            "a topic may hold only A-Z a-z 0-9 % | - _".to_owned(),
        ));
    }
    if message.topic == AUTO_CREATE_TOPIC_KEY {
        return Err(invalid(format!("{AUTO_CREATE_TOPIC_KEY} is reserved")));
    }
    if message.body.is_empty() {
        return Err(invalid("the body is empty".to_owned()));
    }
    if message.body.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(format!(
            "a body of {} bytes exceeds {MAX_MESSAGE_BYTES}",
            message.body.len()
        )));
    }
    if message.delay_level < 0 {
        return Err(invalid("a delay level cannot be negative".to_owned()));
    }
    Ok(())
}

/// The message's own properties: user properties, then TAGS, KEYS, DELAY and UNIQ_KEY.
pub fn message_properties(message: &Message, uniq_key: &str) -> Properties {
    let mut properties = Properties::new();
    for (name, value) in &message.properties {
        properties.insert(name.clone(), value.clone());
    }
    if let Some(tags) = message.tags.as_deref().filter(|t| !t.is_empty()) {
        properties.insert(property::TAGS, tags);
    }
    if !message.keys.is_empty() {
        let keys = message.keys.join(&KEY_SEPARATOR.to_string());
        properties.insert(property::KEYS, keys);
    }
    if message.delay_level > 0 {
        properties.insert(property::DELAY, message.delay_level.to_string());
    }
    properties.insert(property::UNIQ_KEY, uniq_key);
    properties
}

/// Compresses `body` with `kind` when it is longer than `compress_over_bytes`; returns the
/// bytes to send and the sysflag bits that describe them.
pub fn maybe_compress(
    body: &Bytes,
    compress_over_bytes: usize,
    kind: CompressionType,
) -> (Bytes, i32) {
    if body.len() <= compress_over_bytes {
        return (body.clone(), 0);
    }
    // Compressing into a Vec cannot fail; should it, the body goes uncompressed, as Java's.
    match kind.compress(body, compression::DEFAULT_LEVEL) {
        Ok(compressed) => (Bytes::from(compressed), kind.sysflag_bits()),
        Err(_) => (body.clone(), 0),
    }
}

/// What one send puts on the wire, before a queue is chosen.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub topic: String,
    pub code: i32,
    pub body: Bytes,
    pub properties: String,
    pub sys_flag: i32,
    pub flag: i32,
    pub batch: bool,
    /// The UNIQ_KEY(s), for the result's `msg_id`.
    pub msg_id: String,
}

/// A single message: its properties plus `WAIT=true` (the broker answers once the message
/// is stored, as Java's default `waitStoreMsgOK`), body compressed above the threshold.
pub fn prepare_single(
    message: &Message,
    uniq_key: &str,
    compress_over_bytes: usize,
    compression: CompressionType,
) -> Result<Prepared> {
    validate(message)?;
    let mut properties = message_properties(message, uniq_key);
    properties.insert(property::WAIT, "true");
    let (body, sys_flag) = maybe_compress(&message.body, compress_over_bytes, compression);
    Ok(Prepared {
        topic: message.topic.clone(),
        code: RequestCode::SEND_MESSAGE_V2,
        body,
        properties: encode_properties(&properties),
        sys_flag,
        flag: message.flag,
        batch: false,
        msg_id: uniq_key.to_owned(),
    })
}

/// A batch: one topic, no delay levels, at most [`MAX_MESSAGE_BYTES`] of encoded records.
/// Batches are never compressed (Java's are not either).
pub fn prepare_batch(
    messages: &[Message],
    mut next_id: impl FnMut() -> String,
) -> Result<Prepared> {
    let Some(first) = messages.first() else {
        return Err(ProducerError::InvalidMessage {
            topic: String::new(),
            reason: "a batch needs at least one message".to_owned(),
        });
    };
    let invalid = |reason: String| ProducerError::InvalidMessage {
        topic: first.topic.clone(),
        reason,
    };
    let mut entries = Vec::with_capacity(messages.len());
    let mut ids = Vec::with_capacity(messages.len());
    for message in messages {
        validate(message)?;
        if message.topic != first.topic {
            return Err(invalid(format!(
                "a batch holds one topic; {} differs",
                message.topic
            )));
        }
        if message.delay_level > 0 {
            return Err(invalid(
                "batched messages cannot have a delay level".to_owned(),
            ));
        }
        let id = next_id();
        let properties = message_properties(message, &id);
        entries.push(BatchEntry {
            flag: message.flag,
            body: message.body.clone(),
            properties: encode_properties(&properties),
        });
        ids.push(id);
    }
    let body = encode_batch(&entries).map_err(|error| invalid(error.to_string()))?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(format!(
            "a batch of {} bytes exceeds {MAX_MESSAGE_BYTES}",
            body.len()
        )));
    }
    let mut batch_properties = Properties::new();
    batch_properties.insert(property::WAIT, "true");
    Ok(Prepared {
        topic: first.topic.clone(),
        code: RequestCode::SEND_BATCH_MESSAGE,
        body: Bytes::from(body),
        properties: encode_properties(&batch_properties),
        sys_flag: 0,
        flag: 0,
        batch: true,
        msg_id: ids.join(","),
    })
}

/// The request for `prepared` to `queue` of `producer_group`, stamped `born_timestamp_ms`.
pub fn request(
    prepared: &Prepared,
    producer_group: &str,
    queue: &MessageQueue,
    born_timestamp_ms: i64,
) -> RemotingCommand {
    let header = SendMessageRequestHeaderV2 {
        producer_group: producer_group.to_owned(),
        topic: prepared.topic.clone(),
        default_topic: AUTO_CREATE_TOPIC_KEY.to_owned(),
        default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
        queue_id: queue.queue_id,
        sys_flag: prepared.sys_flag,
        born_timestamp: born_timestamp_ms,
        flag: prepared.flag,
        properties: Some(prepared.properties.clone()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(prepared.batch),
        broker_name: Some(queue.broker_name.clone()),
    };
    RemotingCommand::request(prepared.code, header.to_ext_fields()).with_body(prepared.body.clone())
}

/// The result of a send that `broker_addr` answered with `response`.
pub fn parse_response(
    prepared: &Prepared,
    queue: &MessageQueue,
    broker_addr: &str,
    response: &RemotingCommand,
) -> Result<SendResult> {
    let Some(send_status) = SendStatus::from_response_code(response.code) else {
        return Err(ProducerError::Broker {
            broker_addr: broker_addr.to_owned(),
            topic: prepared.topic.clone(),
            code: response.code,
            remark: response.remark_text().to_owned(),
        });
    };
    let header =
        SendMessageResponseHeader::from_ext_fields(&response.ext_fields).map_err(|source| {
            ProducerError::Decode {
                broker_addr: broker_addr.to_owned(),
                topic: prepared.topic.clone(),
                source,
            }
        })?;
    Ok(SendResult {
        send_status,
        msg_id: prepared.msg_id.clone(),
        offset_msg_id: header.msg_id,
        message_queue: MessageQueue {
            queue_id: header.queue_id,
            ..queue.clone()
        },
        queue_offset: header.queue_offset,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::protocol::batch::decode_batch;
    use crate::protocol::message::{decode_properties, sysflag};

    #[test]
    fn single_message_properties_and_compression() {
        let message = Message::new("T", vec![b'x'; 10_000])
            .with_tags("TagA")
            .with_keys(["k1", "k2"])
            .with_delay_level(2)
            .with_property("color", "red");
        let prepared = prepare_single(&message, "ID1", 4096, CompressionType::Zlib).unwrap();
        let properties = decode_properties(&prepared.properties);
        assert_eq!(properties.get(property::TAGS), Some("TagA"));
        assert_eq!(properties.get(property::KEYS), Some("k1 k2"));
        assert_eq!(properties.get(property::DELAY), Some("2"));
        assert_eq!(properties.get(property::WAIT), Some("true"));
        assert_eq!(properties.get(property::UNIQ_KEY), Some("ID1"));
        assert_eq!(properties.get("color"), Some("red"));
        assert_eq!(prepared.sys_flag & sysflag::COMPRESSED, sysflag::COMPRESSED);
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&prepared.body[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, message.body);

        let small =
            prepare_single(&Message::new("T", "hi"), "ID2", 4096, CompressionType::Zlib).unwrap();
        assert_eq!((small.sys_flag, &small.body[..]), (0, &b"hi"[..]));

        let zstd = prepare_single(&message, "ID3", 4096, CompressionType::Zstd).unwrap();
        assert_eq!(
            zstd.sys_flag,
            sysflag::COMPRESSED | sysflag::COMPRESSION_ZSTD
        );
        let (inflated, _) =
            crate::protocol::compression::inflate_body(zstd.sys_flag, &zstd.body, 1 << 20).unwrap();
        assert_eq!(inflated, message.body);
    }

    #[test]
    fn invalid_messages_are_refused() {
        assert!(prepare_single(&Message::new("", "x"), "I", 10, CompressionType::Zlib).is_err());
        assert!(prepare_single(&Message::new("T", ""), "I", 10, CompressionType::Zlib).is_err());
        assert!(prepare_single(&Message::new("a b", "x"), "I", 10, CompressionType::Zlib).is_err());
        assert!(
            prepare_single(&Message::new("TBW102", "x"), "I", 10, CompressionType::Zlib).is_err()
        );
        let mixed = [Message::new("A", "x"), Message::new("B", "x")];
        assert!(prepare_batch(&mixed, || "I".to_owned()).is_err());
        let delayed = [Message::new("A", "x").with_delay_level(1)];
        assert!(prepare_batch(&delayed, || "I".to_owned()).is_err());
        assert!(prepare_batch(&[], || "I".to_owned()).is_err());
    }

    #[test]
    fn batch_records_carry_their_own_ids() {
        let messages = [
            Message::new("T", "one").with_tags("a"),
            Message::new("T", "two"),
        ];
        let mut n = 0;
        let prepared = prepare_batch(&messages, || {
            n += 1;
            format!("ID{n}")
        })
        .unwrap();
        assert_eq!(prepared.msg_id, "ID1,ID2");
        assert!(prepared.batch);
        let entries = decode_batch(&prepared.body).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(&entries[1].body[..], b"two");
        let first = decode_properties(&entries[0].properties);
        assert_eq!(
            (first.get(property::UNIQ_KEY), first.get(property::TAGS)),
            (Some("ID1"), Some("a"))
        );
    }
}

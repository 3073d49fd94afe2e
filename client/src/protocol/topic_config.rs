//! Topic configs and the REGISTER_BROKER body (protocol.md §3.4, §3.6), in both the JSON form
//! and the zlib-compressed form a broker sends with `compressedRegister=true`, plus the
//! `bodyCrc32` checksum that guards the body.
//!
//! The compressed body is a zlib stream (Java `Deflater` level 9) of big-endian fields:
//!
//! ```text
//!  size   field
//!  4      n1 = length of the DataVersion JSON (i32)
//!  n1     DataVersion JSON, e.g. {"counter":7,"timestamp":1700000000000}
//!  4      topicCount (i32)
//!  repeated topicCount times:
//!    4    n = length of the line (i32)
//!    n    "topicName readQueueNums writeQueueNums perm topicFilterType" (space-separated;
//!         topicSysFlag and order are not carried)
//!  4      n2 = length of the filterServerList JSON (i32)
//!  n2     filterServerList JSON array, e.g. []
//! ```
//!
//! Decoding inflates at most [`MAX_DECOMPRESSED_BYTES`] and then reads from that buffer, so
//! every length is checked against the bytes actually present before anything is used, and
//! nothing is allocated from a length field.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ProtocolError;
use super::lenient_json::{encode_body, parse_lenient};
use super::route::{DataVersion, perm};

/// The largest inflated REGISTER_BROKER body accepted. Frames are at most 16 MiB and zlib
/// can expand ~1000×, so the cap is what stops a small frame from claiming gigabytes; a
/// line per topic is ~40 bytes, so this leaves room for over a million topics.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;
/// The most topics one compressed body may declare.
pub const MAX_TOPICS: usize = 1 << 20;
/// Bytes of one length or count field in the compressed body.
const INT_BYTES: usize = 4;
/// The smallest line: a one-letter topic, three one-digit numbers and the shortest filter type.
const MIN_LINE_BYTES: usize = "t 1 1 6 MULTI_TAG".len();
const _: () = assert!(MIN_LINE_BYTES == 17);

/// CRC-32 of `body` with the sign bit cleared, as Java's `UtilAll.crc32` computes the
/// `bodyCrc32` header of REGISTER_BROKER. 0 means "not checked", so a real checksum of 0 is
/// indistinguishable from none, exactly as in Java.
pub fn body_crc32(body: &[u8]) -> i32 {
    let masked = crc32fast::hash(body) & 0x7FFF_FFFF;
    // Masking cleared bit 31, so the value fits an i32 and the cast keeps it unchanged.
    masked as i32
}

/// How a topic's subscription tags are matched; serialized by name as Java's enum is.
///
/// Decoding also accepts the ordinal (0, 1), because some non-Java clients send enums that way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TopicFilterType {
    #[default]
    SingleTag,
    MultiTag,
}

impl TopicFilterType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SingleTag => "SINGLE_TAG",
            Self::MultiTag => "MULTI_TAG",
        }
    }

    /// The variant with this Java name (`Enum.valueOf`: exact spelling).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SINGLE_TAG" => Some(Self::SingleTag),
            "MULTI_TAG" => Some(Self::MultiTag),
            _ => None,
        }
    }

    fn from_ordinal(ordinal: u64) -> Option<Self> {
        match ordinal {
            0 => Some(Self::SingleTag),
            1 => Some(Self::MultiTag),
            _ => None,
        }
    }
}

impl fmt::Display for TopicFilterType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Serialize for TopicFilterType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TopicFilterType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopicFilterTypeVisitor)
    }
}

struct TopicFilterTypeVisitor;

impl Visitor<'_> for TopicFilterTypeVisitor {
    type Value = TopicFilterType;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SINGLE_TAG, MULTI_TAG or their ordinal 0, 1")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        TopicFilterType::from_name(name)
            .ok_or_else(|| E::unknown_variant(name, &["SINGLE_TAG", "MULTI_TAG"]))
    }

    fn visit_u64<E: de::Error>(self, ordinal: u64) -> Result<Self::Value, E> {
        TopicFilterType::from_ordinal(ordinal)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(ordinal), &self))
    }

    fn visit_i64<E: de::Error>(self, ordinal: i64) -> Result<Self::Value, E> {
        u64::try_from(ordinal)
            .ok()
            .and_then(TopicFilterType::from_ordinal)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(ordinal), &self))
    }
}

/// One topic as a broker keeps it and registers it (Java `TopicConfig`).
///
/// Missing fields take Java's class defaults; unknown ones (5.x `attributes`) are ignored.
/// Fields are declared in fastjson's alphabetical order, which is the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Ordered topic (only consulted by the name server's `orderMessageEnable` path).
    pub order: bool,
    /// [`perm`] bits.
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_filter_type: TopicFilterType,
    pub topic_name: String,
    /// 1 = unit topic, 2 = unit subscription (Java `TopicSysFlag`).
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            order: false,
            perm: perm::READ_WRITE,
            read_queue_nums: Self::DEFAULT_QUEUE_NUMS,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: Self::DEFAULT_QUEUE_NUMS,
        }
    }
}

impl TopicConfig {
    /// Java's class default for both queue counts.
    pub const DEFAULT_QUEUE_NUMS: i32 = 16;

    /// A topic with Java's defaults: 16 read and 16 write queues, read-write.
    pub fn new(topic_name: impl Into<String>) -> Self {
        Self {
            topic_name: topic_name.into(),
            ..Self::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_body(self, "TopicConfig")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        parse_lenient(bytes, "TopicConfig")
    }

    /// The compressed body's line: `topicName readQueueNums writeQueueNums perm topicFilterType`
    /// (Java `TopicConfig.encode`).
    ///
    /// A name that is empty or holds a space would split into the wrong tokens on the other
    /// side, so it is refused (Java's topic-name validation rules out both).
    pub fn to_line(&self) -> Result<String, ProtocolError> {
        if self.topic_name.is_empty() || self.topic_name.contains(' ') {
            return Err(body_error(format!(
                "topic name {:?} cannot be written in the space-separated compressed form",
                self.topic_name
            )));
        }
        Ok(format!(
            "{} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type
        ))
    }

    /// Parses a compressed body's line (Java `TopicConfig.decode`); `topicSysFlag` and `order`
    /// take their defaults because the line does not carry them.
    ///
    /// Tokens after the fifth are ignored: 5.x appends the topic's attributes there.
    pub fn from_line(line: &str) -> Result<Self, ProtocolError> {
        let mut tokens = line.split(' ');
        let mut next = |field: &'static str| {
            tokens
                .next()
                .ok_or_else(|| body_error(format!("topic config line {line:?} has no {field}")))
        };
        let topic_name = next("topicName")?;
        let read_queue_nums = parse_number(next("readQueueNums")?, "readQueueNums", line)?;
        let write_queue_nums = parse_number(next("writeQueueNums")?, "writeQueueNums", line)?;
        let perm = parse_number(next("perm")?, "perm", line)?;
        let filter_name = next("topicFilterType")?;
        let topic_filter_type = TopicFilterType::from_name(filter_name).ok_or_else(|| {
            body_error(format!(
                "topic config line {line:?}: unknown topicFilterType"
            ))
        })?;
        if topic_name.is_empty() {
            return Err(body_error(format!(
                "topic config line {line:?} has an empty topic name"
            )));
        }
        Ok(Self {
            topic_name: topic_name.to_owned(),
            read_queue_nums,
            write_queue_nums,
            perm,
            topic_filter_type,
            ..Self::default()
        })
    }
}

fn parse_number(token: &str, field: &'static str, line: &str) -> Result<i32, ProtocolError> {
    token.parse().map_err(|_| {
        body_error(format!(
            "topic config line {line:?}: {field} {token:?} is not an int"
        ))
    })
}

/// A broker's whole topic table with its version: the core of REGISTER_BROKER, the body of
/// GET_ALL_TOPIC_CONFIG, and the content of `config/topics.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    /// Topic name → config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

impl TopicConfigSerializeWrapper {
    pub fn encode(&self) -> Vec<u8> {
        encode_body(self, "TopicConfigSerializeWrapper")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        parse_lenient(bytes, "TopicConfigSerializeWrapper")
    }
}

/// REGISTER_BROKER request body (request version ≥ 37).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// Addresses of filter servers; always empty in practice (the feature is gone in 4.x).
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl RegisterBrokerBody {
    /// Encodes in the form the request header's `compressed` flag announces.
    pub fn encode(&self, compressed: bool) -> Result<Vec<u8>, ProtocolError> {
        if compressed {
            self.encode_compressed()
        } else {
            Ok(self.encode_json())
        }
    }

    /// Decodes the form the request header's `compressed` flag announces.
    pub fn decode(bytes: &[u8], compressed: bool) -> Result<Self, ProtocolError> {
        if compressed {
            Self::decode_compressed(bytes)
        } else {
            Self::decode_json(bytes)
        }
    }

    pub fn encode_json(&self) -> Vec<u8> {
        encode_body(self, "RegisterBrokerBody")
    }

    pub fn decode_json(bytes: &[u8]) -> Result<Self, ProtocolError> {
        parse_lenient(bytes, "RegisterBrokerBody")
    }

    /// The zlib form (see the module docs). Topics go in name order; each line is written
    /// from the config's own `topic_name`, as Java does.
    ///
    /// Fails if a topic name cannot be written in the line form or a part exceeds `i32`.
    pub fn encode_compressed(&self) -> Result<Vec<u8>, ProtocolError> {
        let payload = self.compressed_payload()?;
        // Level 9, as Java's Deflater.BEST_COMPRESSION: registration runs every 30 s and
        // the body can list thousands of topics, so size matters more than CPU here.
        let mut encoder = ZlibEncoder::new(
            Vec::with_capacity(payload.len() / 4 + 64),
            Compression::best(),
        );
        encoder
            .write_all(&payload)
            .and_then(|()| encoder.finish())
            .map_err(|error| body_error(format!("zlib compression failed: {error}")))
    }

    fn compressed_payload(&self) -> Result<Vec<u8>, ProtocolError> {
        let wrapper = &self.topic_config_serialize_wrapper;
        let mut payload = Vec::new();
        put_chunk(&mut payload, &wrapper.data_version.encode())?;
        put_int(&mut payload, wrapper.topic_config_table.len(), "topicCount")?;
        for config in wrapper.topic_config_table.values() {
            put_chunk(&mut payload, config.to_line()?.as_bytes())?;
        }
        put_chunk(
            &mut payload,
            &encode_body(&self.filter_server_list, "filterServerList"),
        )?;
        Ok(payload)
    }

    /// Parses the zlib form (see the module docs).
    ///
    /// The stream must be complete (a cut-off body is an error even where Java might not
    /// notice); bytes after the filter server list are ignored, since 5.x appends its queue
    /// mapping there.
    pub fn decode_compressed(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let payload = inflate(bytes, MAX_DECOMPRESSED_BYTES)?;
        let mut reader = PayloadReader { rest: &payload };
        let data_version = DataVersion::decode(reader.chunk("dataVersion")?)?;
        let topic_count = reader.topic_count()?;
        let mut topic_config_table = BTreeMap::new();
        for _ in 0..topic_count {
            let line = std::str::from_utf8(reader.chunk("topic config line")?).map_err(|_| {
                ProtocolError::InvalidUtf8 {
                    field: "topic config line",
                }
            })?;
            let config = TopicConfig::from_line(line)?;
            topic_config_table.insert(config.topic_name.clone(), config);
        }
        let filter_json = reader.chunk("filterServerList")?;
        // Java logs and keeps an empty list when this JSON is bad; filter servers are unused
        // in 4.x, so refusing the whole registration over them would help no one.
        let filter_server_list =
            parse_lenient::<Option<Vec<String>>>(filter_json, "filterServerList")
                .ok()
                .flatten()
                .unwrap_or_default();
        Ok(Self {
            filter_server_list,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version,
                topic_config_table,
            },
        })
    }
}

fn put_int(payload: &mut Vec<u8>, value: usize, field: &'static str) -> Result<(), ProtocolError> {
    let value =
        i32::try_from(value).map_err(|_| body_error(format!("{field} {value} exceeds an i32")))?;
    payload.extend_from_slice(&value.to_be_bytes());
    Ok(())
}

fn put_chunk(payload: &mut Vec<u8>, chunk: &[u8]) -> Result<(), ProtocolError> {
    put_int(payload, chunk.len(), "length")?;
    payload.extend_from_slice(chunk);
    Ok(())
}

/// Inflates a whole zlib stream into at most `limit_bytes` (a parameter so that tests can
/// probe the boundary without inflating 64 MiB).
///
/// The output buffer grows by doubling up to the cap, so memory tracks what the stream really
/// holds, never what it claims; a stream that ends before its end marker is an error.
fn inflate(compressed: &[u8], limit_bytes: usize) -> Result<Vec<u8>, ProtocolError> {
    // One byte of headroom over the cap tells "exactly at the cap" from "beyond it".
    let hard_limit = limit_bytes.saturating_add(1);
    let mut inflater = Decompress::new(true);
    let mut plain: Vec<u8> =
        Vec::with_capacity(compressed.len().saturating_mul(4).clamp(64, hard_limit));
    loop {
        if plain.len() > limit_bytes {
            return Err(too_large(limit_bytes));
        }
        if plain.len() == plain.capacity() {
            plain.reserve_exact(plain.len().min(hard_limit - plain.len()));
        }
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let input = compressed.get(consumed..).unwrap_or_default();
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(input, &mut plain, FlushDecompress::None)
            .map_err(|error| body_error(format!("corrupt zlib stream: {error}")))?;
        match status {
            Status::StreamEnd if plain.len() <= limit_bytes => return Ok(plain),
            Status::StreamEnd => return Err(too_large(limit_bytes)),
            Status::Ok | Status::BufError => {
                // There was room for output, so no progress means the input ran out first.
                if (inflater.total_in(), inflater.total_out()) == before {
                    return Err(body_error(format!(
                        "zlib stream truncated after {} compressed bytes",
                        compressed.len()
                    )));
                }
            }
        }
    }
}

fn too_large(limit_bytes: usize) -> ProtocolError {
    body_error(format!(
        "compressed body inflates beyond {limit_bytes} bytes"
    ))
}

/// Reads the inflated payload front to back; every read is checked against what is left.
struct PayloadReader<'a> {
    rest: &'a [u8],
}

impl<'a> PayloadReader<'a> {
    fn int(&mut self, field: &'static str) -> Result<i32, ProtocolError> {
        let Some((word, rest)) = self.rest.split_first_chunk::<INT_BYTES>() else {
            return Err(body_error(format!(
                "truncated: {field} needs {INT_BYTES} bytes, {} left",
                self.rest.len()
            )));
        };
        self.rest = rest;
        Ok(i32::from_be_bytes(*word))
    }

    /// A length-prefixed chunk, borrowed from the payload.
    fn chunk(&mut self, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        let length = self.int(field)?;
        let available = self.rest.len();
        let Some(length) = usize::try_from(length)
            .ok()
            .filter(|length| *length <= available)
        else {
            return Err(body_error(format!(
                "{field} length {length} is negative or exceeds the {available} bytes left"
            )));
        };
        let (chunk, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(chunk)
    }

    /// The topic count, refused when negative, over [`MAX_TOPICS`], or more than the bytes left
    /// could hold.
    fn topic_count(&mut self) -> Result<usize, ProtocolError> {
        let count = self.int("topicCount")?;
        let fits = self.rest.len() / (INT_BYTES + MIN_LINE_BYTES);
        match usize::try_from(count) {
            Ok(count) if count <= MAX_TOPICS && count <= fits => Ok(count),
            _ => Err(body_error(format!(
                "topicCount {count} is negative, over {MAX_TOPICS}, or more than the {} bytes left can hold",
                self.rest.len()
            ))),
        }
    }
}

fn body_error(reason: String) -> ProtocolError {
    ProtocolError::Body {
        what: "RegisterBrokerBody",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use flate2::read::ZlibDecoder;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::io::Read;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn topic(name: &str, read: i32, write: i32, perm: i32, filter: TopicFilterType) -> TopicConfig {
        TopicConfig {
            read_queue_nums: read,
            write_queue_nums: write,
            perm,
            topic_filter_type: filter,
            ..TopicConfig::new(name)
        }
    }

    fn sample_body() -> RegisterBrokerBody {
        let mut body = RegisterBrokerBody::default();
        let wrapper = &mut body.topic_config_serialize_wrapper;
        wrapper.data_version = DataVersion {
            counter: 7,
            timestamp_ms: 1_700_000_000_000,
        };
        for config in [
            topic("TopicA", 4, 4, 6, TopicFilterType::SingleTag),
            topic("TopicB", 8, 2, 4, TopicFilterType::MultiTag),
        ] {
            wrapper
                .topic_config_table
                .insert(config.topic_name.clone(), config);
        }
        body.filter_server_list = vec!["10.0.0.9:45001".to_owned()];
        body
    }

    /// The inflated payload of `sample_body`, laid out by hand as Java's encoder writes it.
    fn java_payload() -> Vec<u8> {
        fn chunk(payload: &mut Vec<u8>, bytes: &[u8]) {
            payload.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            payload.extend_from_slice(bytes);
        }
        let mut payload = Vec::new();
        chunk(&mut payload, br#"{"counter":7,"timestamp":1700000000000}"#);
        payload.extend_from_slice(&2i32.to_be_bytes());
        chunk(&mut payload, b"TopicA 4 4 6 SINGLE_TAG");
        chunk(&mut payload, b"TopicB 8 2 4 MULTI_TAG");
        chunk(&mut payload, br#"["10.0.0.9:45001"]"#);
        payload
    }

    fn deflate(payload: &[u8]) -> Result<Vec<u8>, std::io::Error> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(payload)?;
        encoder.finish()
    }

    /// The sample body as it survives the compressed form: topicSysFlag and order are lost.
    fn without_line_losses(mut body: RegisterBrokerBody) -> RegisterBrokerBody {
        for config in body
            .topic_config_serialize_wrapper
            .topic_config_table
            .values_mut()
        {
            config.topic_sys_flag = 0;
            config.order = false;
        }
        body
    }

    #[test]
    fn java_payload_layout_is_what_we_think() {
        let payload = java_payload();
        assert_eq!(&payload[..4], &[0, 0, 0, 39]);
        assert_eq!(&payload[43..47], &[0, 0, 0, 2]);
    }

    #[test]
    fn compressed_body_decodes_java_layout() -> TestResult {
        let decoded = RegisterBrokerBody::decode_compressed(&deflate(&java_payload())?)?;
        assert_eq!(decoded, sample_body());
        Ok(())
    }

    #[test]
    fn compressed_body_encodes_java_layout() -> TestResult {
        let compressed = sample_body().encode_compressed()?;
        // 0x78 0xDA: the zlib header for the best-compression level Java's Deflater(9) writes.
        assert_eq!(&compressed[..2], &[0x78, 0xDA]);
        let mut payload = Vec::new();
        ZlibDecoder::new(&compressed[..]).read_to_end(&mut payload)?;
        assert_eq!(payload, java_payload());
        Ok(())
    }

    #[test]
    fn compressed_body_round_trips() -> TestResult {
        let mut body = sample_body();
        let wrapper = &mut body.topic_config_serialize_wrapper;
        for index in 0..500 {
            let mut config = topic(
                &format!("%RETRY%group-{index}"),
                1,
                1,
                6,
                TopicFilterType::SingleTag,
            );
            config.topic_sys_flag = 1;
            config.order = true;
            wrapper
                .topic_config_table
                .insert(config.topic_name.clone(), config);
        }
        let decoded = RegisterBrokerBody::decode(&body.encode(true)?, true)?;
        assert_eq!(decoded, without_line_losses(body));
        Ok(())
    }

    #[test]
    fn empty_body_round_trips_compressed() -> TestResult {
        let body = RegisterBrokerBody::default();
        assert_eq!(
            RegisterBrokerBody::decode_compressed(&body.encode_compressed()?)?,
            body
        );
        Ok(())
    }

    #[test]
    fn json_body_matches_java_and_round_trips() -> TestResult {
        let mut body = sample_body();
        body.filter_server_list.clear();
        body.topic_config_serialize_wrapper
            .topic_config_table
            .remove("TopicB");
        let expected = concat!(
            r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"#,
            r#""timestamp":1700000000000},"topicConfigTable":{"TopicA":{"order":false,"perm":6,"#,
            r#""readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicA","#,
            r#""topicSysFlag":0,"writeQueueNums":4}}}}"#
        );
        assert_eq!(String::from_utf8(body.encode(false)?)?, expected);
        assert_eq!(
            RegisterBrokerBody::decode(expected.as_bytes(), false)?,
            body
        );
        Ok(())
    }

    #[test]
    fn json_body_from_5x_with_extra_fields_decodes() -> TestResult {
        let text = concat!(
            r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"#,
            r#""stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicA":{"#,
            r#""attributes":{"+message.type":"NORMAL"},"order":false,"perm":6,"readQueueNums":4,"#,
            r#""topicFilterType":"SINGLE_TAG","topicName":"TopicA","topicSysFlag":0,"#,
            r#""writeQueueNums":4}},"topicQueueMappingInfoMap":{}}}"#
        );
        let body = RegisterBrokerBody::decode_json(text.as_bytes())?;
        let table = &body.topic_config_serialize_wrapper.topic_config_table;
        assert_eq!(
            table.get("TopicA"),
            Some(&topic("TopicA", 4, 4, 6, TopicFilterType::SingleTag))
        );
        Ok(())
    }

    #[test]
    fn topic_config_defaults_and_filter_type_forms() -> TestResult {
        let config = TopicConfig::decode(br#"{"topicName":"T"}"#)?;
        assert_eq!(config, TopicConfig::new("T"));
        assert_eq!(
            (config.read_queue_nums, config.write_queue_nums, config.perm),
            (16, 16, 6)
        );
        assert_eq!(config.topic_filter_type, TopicFilterType::SingleTag);
        assert_eq!((config.topic_sys_flag, config.order), (0, false));
        let by_ordinal = TopicConfig::decode(br#"{"topicName":"T","topicFilterType":1}"#)?;
        assert_eq!(by_ordinal.topic_filter_type, TopicFilterType::MultiTag);
        assert!(TopicConfig::decode(br#"{"topicFilterType":"ANY_TAG"}"#).is_err());
        assert!(TopicConfig::decode(br#"{"topicFilterType":2}"#).is_err());
        Ok(())
    }

    #[test]
    fn topic_lines_follow_java() -> TestResult {
        let config = topic("T", 4, 8, 7, TopicFilterType::MultiTag);
        assert_eq!(config.to_line()?, "T 4 8 7 MULTI_TAG");
        assert_eq!(TopicConfig::from_line("T 4 8 7 MULTI_TAG")?, config);
        // 5.x appends the attributes as a sixth token.
        assert_eq!(
            TopicConfig::from_line(r#"T 4 8 7 MULTI_TAG {"+a":"b"}"#)?,
            config
        );
        for bad in [
            "",
            "T 4 8 7",
            "T 4 8 x SINGLE_TAG",
            "T 4  8 7 SINGLE_TAG",
            " 4 8 7 SINGLE_TAG",
            "T 4 8 7 single_tag",
        ] {
            assert!(TopicConfig::from_line(bad).is_err(), "{bad:?}");
        }
        assert!(TopicConfig::new("has space").to_line().is_err());
        assert!(TopicConfig::new("").to_line().is_err());
        Ok(())
    }

    #[test]
    fn truncated_compressed_body_is_an_error() -> TestResult {
        let compressed = deflate(&java_payload())?;
        for cut in 0..compressed.len() {
            assert!(
                RegisterBrokerBody::decode_compressed(&compressed[..cut]).is_err(),
                "prefix of {cut} of {} bytes decoded",
                compressed.len()
            );
        }
        // A complete stream whose payload stops early: every field boundary and inside one.
        let payload = java_payload();
        for cut in 0..payload.len() {
            let result = RegisterBrokerBody::decode_compressed(&deflate(&payload[..cut])?);
            assert!(
                result.is_err(),
                "payload prefix of {cut} bytes decoded: {result:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn lying_lengths_and_counts_are_refused_before_allocation() -> TestResult {
        let cases: [Vec<u8>; 4] = [
            i32::MAX.to_be_bytes().to_vec(),
            (-1i32).to_be_bytes().to_vec(),
            [&2i32.to_be_bytes()[..], b"{}", &i32::MAX.to_be_bytes()].concat(),
            [&2i32.to_be_bytes()[..], b"{}", &(-5i32).to_be_bytes()].concat(),
        ];
        for payload in cases {
            let result = RegisterBrokerBody::decode_compressed(&deflate(&payload)?);
            assert!(
                matches!(
                    result,
                    Err(ProtocolError::Body {
                        what: "RegisterBrokerBody",
                        ..
                    })
                ),
                "{payload:?} gave {result:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn inflation_is_capped() -> TestResult {
        const LIMIT: usize = 1 << 20;
        let at_limit = deflate(&vec![0u8; LIMIT])?;
        assert_eq!(inflate(&at_limit, LIMIT)?.len(), LIMIT);
        let one_over = deflate(&vec![0u8; LIMIT + 1])?;
        assert!(inflate(&one_over, LIMIT).is_err());
        // A few kilobytes that claim 16 MiB must stop at the limit, with a clear error.
        let bomb = deflate(&vec![0u8; 16 * LIMIT])?;
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let result = inflate(&bomb, LIMIT);
        let Err(ProtocolError::Body { reason, .. }) = result else {
            panic!(
                "inflated past the limit: {:?}",
                result.map(|plain| plain.len())
            );
        };
        assert!(reason.contains("inflates beyond"), "{reason}");
        Ok(())
    }

    #[test]
    fn bad_filter_server_list_is_ignored_as_in_java() -> TestResult {
        let mut payload = java_payload();
        let filter_json = br#"["10.0.0.9:45001"]"#;
        payload.truncate(payload.len() - filter_json.len() - INT_BYTES);
        payload.extend_from_slice(&3i32.to_be_bytes());
        payload.extend_from_slice(b"[x,");
        let decoded = RegisterBrokerBody::decode_compressed(&deflate(&payload)?)?;
        assert!(decoded.filter_server_list.is_empty());
        assert_eq!(
            decoded
                .topic_config_serialize_wrapper
                .topic_config_table
                .len(),
            2
        );
        Ok(())
    }

    #[test]
    fn garbage_never_panics_and_never_decodes() -> TestResult {
        let seed = 0xC0FF_EE42;
        let mut rng = StdRng::seed_from_u64(seed);
        let valid = deflate(&java_payload())?;
        for iteration in 0..300 {
            let length = rng.random_range(0..200);
            let noise: Vec<u8> = (0..length).map(|_| rng.random()).collect();
            let result = RegisterBrokerBody::decode_compressed(&noise);
            assert!(
                result.is_err(),
                "seed {seed:#x} iteration {iteration}: noise decoded: {noise:?}"
            );

            // Flip one byte of a valid stream: zlib's checksum or our checks must catch it,
            // or (rarely, inside a string) it decodes to something; it must never panic.
            let mut flipped = valid.clone();
            let at = rng.random_range(0..flipped.len());
            flipped[at] ^= rng.random_range(1..=255u8);
            let _ = RegisterBrokerBody::decode_compressed(&flipped);
        }
        Ok(())
    }

    #[test]
    fn crc32_matches_java_util_all() {
        // CRC-32 of "123456789" is 0xCBF43926; Java masks the sign bit.
        assert_eq!(body_crc32(b"123456789"), 0x4BF4_3926);
        assert_eq!(body_crc32(b""), 0);
        assert!((0..64u8).all(|byte| body_crc32(&[byte; 7]) >= 0));
    }
}

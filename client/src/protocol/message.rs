//! Stored message records (protocol.md §5): the CommitLog's on-disk unit, which is also the body
//! of PULL, QUERY and VIEW responses, so the broker's store writes records with this module and
//! clients split response bodies with it.
//!
//! ```text
//!  offset   size   field                  (offsets for IPv4 hosts; big-endian throughout)
//!  0        4      TOTALSIZE              whole record, this field included
//!  4        4      MAGICCODE              0xDAA320A7 message (0xCBD43194 BLANK, see below)
//!  8        4      BODYCRC                crc32(body) & 0x7FFFFFFF
//!  12       4      QUEUEID
//!  16       4      FLAG                   user flag
//!  20       8      QUEUEOFFSET            logical consume-queue index   } filled at append
//!  28       8      PHYSICALOFFSET         commit-log offset of record   } time, under the
//!  36       4      SYSFLAG                §5.2; 0x10 / 0x20: host is IPv6 } writer's lock
//!  40       8      BORNTIMESTAMP          ms
//!  48       8|20   BORNHOST               address (4|16 bytes) + int port
//!  56       8      STORETIMESTAMP         ms, filled at append time
//!  64       8|20   STOREHOSTADDRESS       address (4|16 bytes) + int port
//!  72       4      RECONSUMETIMES
//!  76       8      PREPAREDTRANSACTIONOFFSET
//!  84       4+B    BODY                   int length, bytes (compressed if SYSFLAG bit 0x1)
//!  88+B     1+T    TOPIC                  signed byte length (T <= 127), UTF-8 bytes
//!  89+B+T   2+P    PROPERTIES             signed short length (P <= 32767), UTF-8 bytes
//!           total = 91 + B + T + P, plus 12 for each IPv6 host
//!
//!  BLANK end-of-file marker, written when a record (+8) no longer fits in a mapped file:
//!  0        4      remaining bytes of the file, from this marker on
//!  4        4      MAGICCODE 0xCBD43194   (the rest of the file is left as it is)
//! ```
//!
//! Decoding never trusts a length: each is checked against TOTALSIZE and the buffer before it
//! is used, and nothing is allocated from an unchecked length. Text fields are decoded lossily,
//! as Java's `new String(bytes, UTF_8)` does, so that a record Java would accept is never
//! treated as corrupt (which, during recovery, would truncate the commit log). Bodies are
//! returned as stored: decompressing them is the client's job, not the codec's.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use bytes::{Buf, BufMut, Bytes};

use super::error::ProtocolError;

mod id;
mod properties;

pub use id::{decode_offset_msg_id, offset_msg_id};
pub use properties::{
    Properties, decode_properties, encode_properties, find_properties, find_property, property,
    tag_hash_code,
};

/// MAGICCODE of a message record (Java `MESSAGE_MAGIC_CODE`, -626843481).
pub const MESSAGE_MAGIC_CODE: i32 = 0xDAA3_20A7_u32 as i32;
/// MAGICCODE of the end-of-file marker (Java `BLANK_MAGIC_CODE`, -875286124).
pub const BLANK_MAGIC_CODE: i32 = 0xCBD4_3194_u32 as i32;
/// 5.x's V2 magic (2-byte topic length). Never written; recognised only to name it in errors.
pub const MESSAGE_MAGIC_CODE_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// A BLANK marker's size: a file always keeps this much room after its last record.
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;
/// The topic length is a signed byte in 4.x records.
pub const MAX_TOPIC_BYTES: usize = 127;
/// The properties length is a signed short.
pub const MAX_PROPERTIES_BYTES: usize = 32767;
/// Separates a property's name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separates properties from each other.
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Separates the user keys inside the `KEYS` property; each non-empty token is indexed.
pub const KEY_SEPARATOR: char = ' ';

/// Bytes of a record with IPv4 hosts and empty body, topic and properties.
const MIN_RECORD_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2;
const _: () = assert!(MIN_RECORD_BYTES == 91);
const IPV4_HOST_BYTES: usize = 4 + 4;
const IPV6_HOST_BYTES: usize = 16 + 4;
const QUEUE_OFFSET_AT: usize = 20;
const PHYSICAL_OFFSET_AT: usize = 28;
const SYSFLAG_AT: usize = 36;
const BORN_HOST_AT: usize = 48;
const _: () = assert!(BORN_HOST_AT == SYSFLAG_AT + 4 + 8);
/// The largest body `encode_record` accepts: its length is an `int`.
const MAX_ENCODABLE_BODY_BYTES: usize = i32::MAX as usize;

/// SYSFLAG bits (Java `MessageSysFlag`, protocol.md §5.2).
pub mod sysflag {
    /// The body is compressed (zlib unless the compression type bits say otherwise).
    pub const COMPRESSED: i32 = 0x1;
    /// Java's MULTI_TAG topic filter type; effectively unused.
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_NOT_TYPE: i32 = 0;
    pub const TRANSACTION_PREPARED_TYPE: i32 = 0x1 << 2;
    pub const TRANSACTION_COMMIT_TYPE: i32 = 0x2 << 2;
    pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0x3 << 2;
    /// BORNHOST is 16 + 4 bytes instead of 4 + 4.
    pub const BORNHOST_V6: i32 = 0x1 << 4;
    /// STOREHOSTADDRESS is 16 + 4 bytes instead of 4 + 4.
    pub const STOREHOSTADDRESS_V6: i32 = 0x1 << 5;
    /// 5.x only; 4.x never sets it.
    pub const NEED_UNWRAP: i32 = 0x1 << 6;
    /// 5.x only; 4.x never sets it.
    pub const INNER_BATCH: i32 = 0x1 << 7;
    /// Bits 8-10 name the compression; 0 also means zlib.
    pub const COMPRESSION_TYPE_MASK: i32 = 0x7 << 8;
    pub const COMPRESSION_LZ4: i32 = 0x1 << 8;
    pub const COMPRESSION_ZSTD: i32 = 0x2 << 8;
    pub const COMPRESSION_ZLIB: i32 = 0x3 << 8;

    /// One of the four `TRANSACTION_*_TYPE` values.
    pub const fn transaction_type(sysflag: i32) -> i32 {
        sysflag & TRANSACTION_ROLLBACK_TYPE
    }

    /// `sysflag` with its transaction type replaced (Java `resetTransactionValue`).
    pub const fn with_transaction_type(sysflag: i32, transaction_type: i32) -> i32 {
        (sysflag & !TRANSACTION_ROLLBACK_TYPE) | (transaction_type & TRANSACTION_ROLLBACK_TYPE)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// A message as the broker appends it. Borrowed, so that the writer copies each byte once:
/// from the request straight into the mapped file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageToStore<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub flag: i32,
    /// As sent (possibly compressed); the store never recompresses.
    pub body: &'a [u8],
    /// Already encoded with [`encode_properties`].
    pub properties: &'a str,
    /// Kept as given except bits 0x10 / 0x20, which follow the host address families.
    pub sysflag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

impl MessageToStore<'_> {
    /// The record's TOTALSIZE.
    pub fn encoded_len(&self) -> usize {
        encoded_record_len(
            self.topic.len(),
            self.body.len(),
            self.properties.len(),
            host_is_v6(self.born_host),
            host_is_v6(self.store_host),
        )
    }

    /// The SYSFLAG written: the caller's, with the IPv6 host bits set from the addresses.
    pub fn stored_sysflag(&self) -> i32 {
        let mut flag = self.sysflag & !(sysflag::BORNHOST_V6 | sysflag::STOREHOSTADDRESS_V6);
        if host_is_v6(self.born_host) {
            flag |= sysflag::BORNHOST_V6;
        }
        if host_is_v6(self.store_host) {
            flag |= sysflag::STOREHOSTADDRESS_V6;
        }
        flag
    }

    /// Checks the limits a 4.x record imposes (topic 1..=127 bytes, properties <= 32767
    /// bytes) and the broker's body limit (`maxMessageSize`).
    pub fn validate(&self, max_body_bytes: usize) -> Result<(), ProtocolError> {
        if self.topic.is_empty() {
            return Err(invalid_message("topic is empty".to_owned()));
        }
        if self.topic.len() > MAX_TOPIC_BYTES {
            return Err(invalid_message(format!(
                "topic of {} bytes exceeds the limit of {MAX_TOPIC_BYTES} bytes \
                 (4.x records store its length in a signed byte)",
                self.topic.len()
            )));
        }
        if self.properties.len() > MAX_PROPERTIES_BYTES {
            return Err(invalid_message(format!(
                "properties of {} bytes exceed the limit of {MAX_PROPERTIES_BYTES} bytes",
                self.properties.len()
            )));
        }
        if self.body.len() > max_body_bytes {
            return Err(invalid_message(format!(
                "body of {} bytes exceeds the limit of {max_body_bytes} bytes",
                self.body.len()
            )));
        }
        Ok(())
    }
}

/// TOTALSIZE of a record: 91 + body + topic + properties, plus 12 per IPv6 host. Saturates
/// rather than overflowing, so an absurd length fails the caller's limit check instead.
pub fn encoded_record_len(
    topic_len: usize,
    body_len: usize,
    properties_len: usize,
    born_v6: bool,
    store_v6: bool,
) -> usize {
    MIN_RECORD_BYTES
        .saturating_add(body_len)
        .saturating_add(topic_len)
        .saturating_add(properties_len)
        .saturating_add(host_len(born_v6) - IPV4_HOST_BYTES)
        .saturating_add(host_len(store_v6) - IPV4_HOST_BYTES)
}

/// BODYCRC of a body: CRC-32 masked to 31 bits, as Java's `UtilAll.crc32` returns it.
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

/// Writes `message` as one record into the front of `out` and returns its length, exactly
/// [`MessageToStore::encoded_len`] bytes. `out` is typically the free tail of a mapped file;
/// nothing is written unless the whole record fits. The three append-time fields are passed
/// in because only the writer, under its lock, knows them (see also [`patch_record`]).
pub fn encode_record(
    message: &MessageToStore<'_>,
    queue_offset: i64,
    physical_offset: i64,
    store_timestamp_ms: i64,
    out: &mut [u8],
) -> Result<usize, ProtocolError> {
    message.validate(MAX_ENCODABLE_BODY_BYTES)?;
    let total_size = message.encoded_len();
    let total_size_field = i32::try_from(total_size).map_err(|_| {
        invalid_message(format!(
            "record of {total_size} bytes exceeds TOTALSIZE's limit of {} bytes",
            i32::MAX
        ))
    })?;
    let available = out.len();
    let Some(record) = out.get_mut(..total_size) else {
        return Err(invalid_message(format!(
            "record of {total_size} bytes does not fit in the {available} bytes given"
        )));
    };
    let mut cursor: &mut [u8] = record;
    cursor.put_i32(total_size_field);
    cursor.put_i32(MESSAGE_MAGIC_CODE);
    cursor.put_u32(body_crc(message.body));
    cursor.put_i32(message.queue_id);
    cursor.put_i32(message.flag);
    cursor.put_i64(queue_offset);
    cursor.put_i64(physical_offset);
    cursor.put_i32(message.stored_sysflag());
    cursor.put_i64(message.born_timestamp_ms);
    put_host(&mut cursor, message.born_host);
    cursor.put_i64(store_timestamp_ms);
    put_host(&mut cursor, message.store_host);
    cursor.put_i32(message.reconsume_times);
    cursor.put_i64(message.prepared_transaction_offset);
    // The three length casts are bounded by `validate` above.
    cursor.put_i32(message.body.len() as i32);
    cursor.put_slice(message.body);
    cursor.put_i8(message.topic.len() as i8);
    cursor.put_slice(message.topic.as_bytes());
    cursor.put_i16(message.properties.len() as i16);
    cursor.put_slice(message.properties.as_bytes());
    debug_assert!(
        cursor.is_empty(),
        "encoded_len disagrees with the fields written"
    );
    Ok(total_size)
}

/// Rewrites the append-time fields of an already encoded record. Lets a writer encode (and
/// checksum) outside its lock and, under the lock, only patch these and copy.
pub fn patch_record(
    record: &mut [u8],
    queue_offset: i64,
    physical_offset: i64,
    store_timestamp_ms: i64,
) -> Result<(), ProtocolError> {
    let mut header: &[u8] = record;
    if header.len() < MIN_RECORD_BYTES {
        return Err(malformed(format!(
            "cannot patch a record of {} bytes; a record has at least {MIN_RECORD_BYTES}",
            header.len()
        )));
    }
    header.advance(4);
    if header.get_i32() != MESSAGE_MAGIC_CODE {
        return Err(malformed(
            "cannot patch: MAGICCODE is not a message's".to_owned(),
        ));
    }
    header.advance(SYSFLAG_AT - 8);
    let born_v6 = header.get_i32() & sysflag::BORNHOST_V6 != 0;
    let store_timestamp_at = BORN_HOST_AT + host_len(born_v6);
    write_at(record, QUEUE_OFFSET_AT, &queue_offset.to_be_bytes())?;
    write_at(record, PHYSICAL_OFFSET_AT, &physical_offset.to_be_bytes())?;
    write_at(
        record,
        store_timestamp_at,
        &store_timestamp_ms.to_be_bytes(),
    )
}

/// Writes the BLANK end-of-file marker into the front of `out`. `remaining_bytes` is the room
/// left in the file from the marker on; it is at least [`END_FILE_MIN_BLANK_LENGTH`] because
/// the writer always keeps that much free.
pub fn encode_blank(remaining_bytes: usize, out: &mut [u8]) -> Result<(), ProtocolError> {
    let remaining_field = i32::try_from(remaining_bytes)
        .ok()
        .filter(|_| remaining_bytes >= END_FILE_MIN_BLANK_LENGTH)
        .ok_or_else(|| {
            malformed(format!(
                "BLANK remaining length {remaining_bytes} is outside \
                 {END_FILE_MIN_BLANK_LENGTH}..={}",
                i32::MAX
            ))
        })?;
    let available = out.len();
    let Some(mut marker) = out.get_mut(..END_FILE_MIN_BLANK_LENGTH) else {
        return Err(malformed(format!(
            "BLANK marker needs {END_FILE_MIN_BLANK_LENGTH} bytes but {available} are given"
        )));
    };
    marker.put_i32(remaining_field);
    marker.put_i32(BLANK_MAGIC_CODE);
    Ok(())
}

fn write_at(record: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), ProtocolError> {
    let length = record.len();
    record
        .get_mut(at..at + bytes.len())
        .ok_or_else(|| {
            malformed(format!(
                "field at {at} lies beyond the {length}-byte record"
            ))
        })?
        .copy_from_slice(bytes);
    Ok(())
}

/// Java sees an IPv4 peer on a dual-stack socket as IPv4, so an IPv4-mapped IPv6 address is
/// stored as IPv4: the record, its size and the offset message id then match Java's.
fn canonical_ip(address: SocketAddr) -> IpAddr {
    address.ip().to_canonical()
}

fn host_is_v6(address: SocketAddr) -> bool {
    canonical_ip(address).is_ipv6()
}

const fn host_len(v6: bool) -> usize {
    if v6 { IPV6_HOST_BYTES } else { IPV4_HOST_BYTES }
}

fn put_host(cursor: &mut &mut [u8], address: SocketAddr) {
    match canonical_ip(address) {
        IpAddr::V4(ip) => cursor.put_slice(&ip.octets()),
        IpAddr::V6(ip) => cursor.put_slice(&ip.octets()),
    }
    cursor.put_i32(i32::from(address.port()));
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// One unit at the front of a buffer: a message, or the BLANK end-of-file marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<M> {
    Message(M),
    /// Skip `remaining_bytes` (counted from the marker's start) to reach the next file.
    Blank {
        remaining_bytes: usize,
    },
}

/// A zero-copy view of one message record: every fixed field, the topic and properties as
/// text, and the body as a slice. What the store's dispatcher needs to rebuild consume-queue
/// units and index entries, both for live appends and during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCheck<'a> {
    /// TOTALSIZE: where the next record starts.
    pub total_size: usize,
    pub body_crc: u32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sysflag: i32,
    pub born_timestamp_ms: i64,
    pub store_timestamp_ms: i64,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: Cow<'a, str>,
    /// The encoded properties string; see [`RecordCheck::property`].
    pub properties: Cow<'a, str>,
    /// [`tag_hash_code`] of the TAGS property, 0 without one. (Schedule-topic units store a
    /// delivery time instead; computing that is the store's business.)
    pub tags_code: i64,
    born_host: &'a [u8],
    store_host: &'a [u8],
    body_range: Range<usize>,
}

impl RecordCheck<'_> {
    pub fn property(&self, name: &str) -> Option<&str> {
        find_property(&self.properties, name)
    }

    /// The raw `KEYS` property.
    pub fn keys(&self) -> Option<&str> {
        self.property(property::KEYS)
    }

    /// The keys the index holds for this record: the non-empty space-separated `KEYS` tokens.
    pub fn key_tokens(&self) -> impl Iterator<Item = &str> {
        self.keys()
            .into_iter()
            .flat_map(|keys| keys.split(KEY_SEPARATOR))
            .filter(|token| !token.is_empty())
    }

    pub fn uniq_key(&self) -> Option<&str> {
        self.property(property::UNIQ_KEY)
    }

    /// Parsed lazily because recovery does not need it, and Java's does not check the port.
    pub fn born_host(&self) -> Result<SocketAddr, ProtocolError> {
        decode_host(self.born_host, "BORNHOST")
    }

    pub fn store_host(&self) -> Result<SocketAddr, ProtocolError> {
        decode_host(self.store_host, "STOREHOSTADDRESS")
    }

    fn into_stored(self, body: Bytes) -> Result<StoredMessage, ProtocolError> {
        Ok(StoredMessage {
            born_host: self.born_host()?,
            store_host: self.store_host()?,
            total_size: self.total_size,
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sysflag: self.sysflag,
            born_timestamp_ms: self.born_timestamp_ms,
            store_timestamp_ms: self.store_timestamp_ms,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body,
            properties: decode_properties(&self.properties),
            topic: self.topic.into_owned(),
        })
    }
}

/// An owned, fully decoded message record (Java's `MessageExt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// TOTALSIZE (Java `storeSize`).
    pub total_size: usize,
    pub body_crc: u32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sysflag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: SocketAddr,
    pub store_timestamp_ms: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    /// As stored: still compressed when `sysflag & COMPRESSED` is set.
    pub body: Bytes,
    pub topic: String,
    pub properties: Properties,
}

impl StoredMessage {
    /// The broker-assigned id (protocol.md §5.4).
    pub fn offset_msg_id(&self) -> String {
        offset_msg_id(self.store_host, self.physical_offset)
    }

    /// The id Java and Go consumers show: `UNIQ_KEY` when present, else the offset id.
    pub fn msg_id(&self) -> String {
        match self.properties.get(property::UNIQ_KEY) {
            Some(uniq_key) => uniq_key.to_owned(),
            None => self.offset_msg_id(),
        }
    }

    pub fn tags(&self) -> Option<&str> {
        self.properties.get(property::TAGS)
    }
}

/// Looks at the record at the front of `buf` without copying anything.
///
/// `Ok(None)`: `buf` ends before the record does (or holds fewer than 8 bytes). `Err`: the
/// bytes are not a valid record (unknown magic, a length inconsistent with TOTALSIZE, a body
/// CRC mismatch when `check_crc`); recovery treats either as the end of the log.
pub fn peek_record(
    buf: &[u8],
    check_crc: bool,
) -> Result<Option<Record<RecordCheck<'_>>>, ProtocolError> {
    Ok(match frame_record(buf)? {
        None => None,
        Some(Record::Blank { remaining_bytes }) => Some(Record::Blank { remaining_bytes }),
        Some(Record::Message(record)) => Some(Record::Message(parse_message(record, check_crc)?)),
    })
}

/// Decodes the record at the front of `buf`, copying its body. Same outcomes as
/// [`peek_record`]; additionally fails on a host port outside 0..=65535.
pub fn decode_record(
    buf: &[u8],
    check_crc: bool,
) -> Result<Option<Record<StoredMessage>>, ProtocolError> {
    decode_with(buf, check_crc, |check| Bytes::copy_from_slice(check.body))
}

/// [`decode_record`] whose body shares `buf`'s memory instead of copying it.
pub fn decode_record_bytes(
    buf: &Bytes,
    check_crc: bool,
) -> Result<Option<Record<StoredMessage>>, ProtocolError> {
    decode_with(buf, check_crc, |check| buf.slice(check.body_range.clone()))
}

/// Splits a PULL/QUERY/VIEW response body, a run of whole records, into messages whose bodies
/// share `body`'s memory. A BLANK marker or a cut-off record is an error: brokers send neither.
pub fn decode_records(body: &Bytes, check_crc: bool) -> Result<Vec<StoredMessage>, ProtocolError> {
    let mut messages = Vec::new();
    let mut position = 0;
    while position < body.len() {
        match decode_record_bytes(&body.slice(position..), check_crc)? {
            Some(Record::Message(message)) => {
                position += message.total_size;
                messages.push(message);
            }
            Some(Record::Blank { .. }) => {
                return Err(malformed(format!(
                    "BLANK end-of-file marker at offset {position} of a message run"
                )));
            }
            None => {
                return Err(malformed(format!(
                    "record at offset {position} is cut off: only {} bytes remain",
                    body.len() - position
                )));
            }
        }
    }
    Ok(messages)
}

fn decode_with(
    buf: &[u8],
    check_crc: bool,
    body: impl FnOnce(&RecordCheck<'_>) -> Bytes,
) -> Result<Option<Record<StoredMessage>>, ProtocolError> {
    Ok(match peek_record(buf, check_crc)? {
        None => None,
        Some(Record::Blank { remaining_bytes }) => Some(Record::Blank { remaining_bytes }),
        Some(Record::Message(check)) => {
            let body = body(&check);
            Some(Record::Message(check.into_stored(body)?))
        }
    })
}

/// Reads TOTALSIZE and MAGICCODE and returns the record's bytes once all are in `buf`.
fn frame_record(buf: &[u8]) -> Result<Option<Record<&[u8]>>, ProtocolError> {
    let mut header = buf;
    if header.len() < END_FILE_MIN_BLANK_LENGTH {
        return Ok(None);
    }
    let total_size = header.get_i32();
    let magic = header.get_i32();
    match magic {
        MESSAGE_MAGIC_CODE => {}
        BLANK_MAGIC_CODE => {
            let remaining_bytes = usize::try_from(total_size)
                .ok()
                .filter(|&remaining| remaining >= END_FILE_MIN_BLANK_LENGTH)
                .ok_or_else(|| {
                    malformed(format!("BLANK remaining length {total_size} is below 8"))
                })?;
            return Ok(Some(Record::Blank { remaining_bytes }));
        }
        MESSAGE_MAGIC_CODE_V2 => {
            return Err(malformed(
                "MAGICCODE 0xDAA320AB is 5.x's V2 format, which 4.x does not use".to_owned(),
            ));
        }
        other => {
            return Err(malformed(format!(
                "MAGICCODE {:#010X} is neither a message's nor BLANK's \
                 (zero-filled space is the end of the written log)",
                other as u32
            )));
        }
    }
    let total = usize::try_from(total_size)
        .ok()
        .filter(|&total| total >= MIN_RECORD_BYTES)
        .ok_or_else(|| {
            malformed(format!(
                "TOTALSIZE {total_size} is below the {MIN_RECORD_BYTES}-byte minimum"
            ))
        })?;
    Ok(buf.get(..total).map(Record::Message))
}

/// Parses a message record of exactly TOTALSIZE bytes.
fn parse_message(record: &[u8], check_crc: bool) -> Result<RecordCheck<'_>, ProtocolError> {
    let mut reader = Reader {
        record,
        position: 0,
    };
    reader.take(8, "TOTALSIZE and MAGICCODE")?; // checked by frame_record
    let stored_crc = reader.i32("BODYCRC")? as u32;
    let queue_id = reader.i32("QUEUEID")?;
    let flag = reader.i32("FLAG")?;
    let queue_offset = reader.i64("QUEUEOFFSET")?;
    let physical_offset = reader.i64("PHYSICALOFFSET")?;
    let sysflag = reader.i32("SYSFLAG")?;
    let born_timestamp_ms = reader.i64("BORNTIMESTAMP")?;
    let born_v6 = sysflag & sysflag::BORNHOST_V6 != 0;
    let born_host = reader.take(host_len(born_v6), "BORNHOST")?;
    let store_timestamp_ms = reader.i64("STORETIMESTAMP")?;
    let store_v6 = sysflag & sysflag::STOREHOSTADDRESS_V6 != 0;
    let store_host = reader.take(host_len(store_v6), "STOREHOSTADDRESS")?;
    let reconsume_times = reader.i32("RECONSUMETIMES")?;
    let prepared_transaction_offset = reader.i64("PREPAREDTRANSACTIONOFFSET")?;
    let body_len = non_negative(i64::from(reader.i32("BODY length")?), "BODY length")?;
    let body_start = reader.position;
    let body = reader.take(body_len, "BODY")?;
    let topic_len = non_negative(i64::from(reader.i8("TOPIC length")?), "TOPIC length")?;
    let topic = reader.take(topic_len, "TOPIC")?;
    let properties_len = non_negative(
        i64::from(reader.i16("PROPERTIES length")?),
        "PROPERTIES length",
    )?;
    let properties = reader.take(properties_len, "PROPERTIES")?;
    if reader.position != record.len() {
        return Err(malformed(format!(
            "TOTALSIZE {} does not match the {} bytes its BODY, TOPIC and PROPERTIES lengths \
             add up to",
            record.len(),
            reader.position
        )));
    }
    if check_crc {
        let actual = body_crc(body);
        if actual != stored_crc {
            return Err(malformed(format!(
                "BODYCRC {stored_crc:#010X} does not match the body's {actual:#010X}"
            )));
        }
    }
    let properties = String::from_utf8_lossy(properties);
    let tags_code = find_property(&properties, property::TAGS).map_or(0, tag_hash_code);
    Ok(RecordCheck {
        total_size: record.len(),
        body_crc: stored_crc,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sysflag,
        born_timestamp_ms,
        store_timestamp_ms,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic: String::from_utf8_lossy(topic),
        properties,
        tags_code,
        born_host,
        store_host,
        body_range: body_start..body_start + body_len,
    })
}

fn non_negative(value: i64, field: &'static str) -> Result<usize, ProtocolError> {
    usize::try_from(value).map_err(|_| malformed(format!("{field} {value} is negative")))
}

/// Reads big-endian fields from one record, refusing to read past its TOTALSIZE.
struct Reader<'a> {
    record: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        let end = self.position.saturating_add(len);
        let bytes = self.record.get(self.position..end).ok_or_else(|| {
            malformed(format!(
                "TOTALSIZE {} is too small: {field} needs {len} bytes at offset {}",
                self.record.len(),
                self.position
            ))
        })?;
        self.position = end;
        Ok(bytes)
    }

    fn i8(&mut self, field: &'static str) -> Result<i8, ProtocolError> {
        Ok(self.take(1, field)?.get_i8())
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, ProtocolError> {
        Ok(self.take(2, field)?.get_i16())
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, ProtocolError> {
        Ok(self.take(4, field)?.get_i32())
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, ProtocolError> {
        Ok(self.take(8, field)?.get_i64())
    }
}

fn decode_host(bytes: &[u8], field: &'static str) -> Result<SocketAddr, ProtocolError> {
    let (ip, mut port_bytes) = if let Some((address, rest)) = bytes.split_first_chunk::<16>()
        && rest.len() == 4
    {
        (IpAddr::V6(Ipv6Addr::from(*address)), rest)
    } else if let Some((address, rest)) = bytes.split_first_chunk::<4>()
        && rest.len() == 4
    {
        (IpAddr::V4(Ipv4Addr::from(*address)), rest)
    } else {
        return Err(malformed(format!("{field} has {} bytes", bytes.len())));
    };
    let port = port_bytes.get_i32();
    let port = u16::try_from(port)
        .map_err(|_| malformed(format!("{field} port {port} is outside 0..=65535")))?;
    Ok(SocketAddr::new(ip, port))
}

fn malformed(reason: String) -> ProtocolError {
    ProtocolError::Body {
        what: "stored message record",
        reason,
    }
}

fn invalid_message(reason: String) -> ProtocolError {
    ProtocolError::Body {
        what: "message to store",
        reason,
    }
}

#[cfg(test)]
mod tests;

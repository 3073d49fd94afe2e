//! The ROCKETMQ binary header (serialize type 1, protocol.md §1.4).
//!
//! ```text
//!  size  field
//!  2     code (short)
//!  1     language (byte)
//!  2     version (short)
//!  4     opaque (int)
//!  4     flag (int)
//!  4     remark length R (int, 0 = no remark)
//!  R     remark, UTF-8
//!  4     extFields length E (int, 0 = none)
//!  E     repeated: key length (short) + key + value length (int) + value
//! ```
//!
//! Every length is checked against the bytes left before it is used. As in Java, a
//! zero-length remark or value decodes as absent.

use bytes::{Buf, BufMut};

use super::code::LanguageCode;
use super::command::{ExtFields, RemotingCommand, SerializeType};
use super::error::ProtocolError;

/// code + language + version + opaque + flag + remark length + extFields length.
const FIXED_BYTES: usize = 2 + 1 + 2 + 4 + 4 + 4 + 4;
const _: () = assert!(FIXED_BYTES == 21);

pub(super) fn decode(mut header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    let code = i32::from(read_i16(&mut header, "code")?);
    let language = LanguageCode::from_byte(read_u8(&mut header, "language")?);
    let version = i32::from(read_i16(&mut header, "version")?);
    let opaque = read_i32(&mut header, "opaque")?;
    let flag = read_i32(&mut header, "flag")?;
    let remark_length = read_i32(&mut header, "remark length")?;
    let remark = read_text(&mut header, i64::from(remark_length), "remark")?;
    let ext_length = read_i32(&mut header, "extFields length")?;
    let ext_bytes = take(&mut header, i64::from(ext_length), "extFields")?;
    let ext_fields = decode_ext_fields(ext_bytes)?;
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        serialize_type: SerializeType::RocketMq,
        body: bytes::Bytes::new(),
    })
}

fn decode_ext_fields(mut bytes: &[u8]) -> Result<ExtFields, ProtocolError> {
    let mut fields = ExtFields::new();
    while bytes.has_remaining() {
        let key_length = read_i16(&mut bytes, "extFields key length")?;
        let key = read_text(&mut bytes, i64::from(key_length), "extFields key")?;
        let value_length = read_i32(&mut bytes, "extFields value length")?;
        let value = read_text(&mut bytes, i64::from(value_length), "extFields value")?;
        if let (Some(key), Some(value)) = (key, value) {
            fields.insert(key, value);
        }
    }
    Ok(fields)
}

pub(super) fn encode(command: &RemotingCommand) -> Result<Vec<u8>, ProtocolError> {
    let code = to_i16(command.code, "code")?;
    let version = to_i16(command.version, "version")?;
    let remark = command.remark.as_deref().unwrap_or("");
    let mut ext = Vec::new();
    for (key, value) in &command.ext_fields {
        ext.put_i16(to_i16_len(key.len(), "extFields key")?);
        ext.put_slice(key.as_bytes());
        ext.put_i32(to_i32_len(value.len(), "extFields value")?);
        ext.put_slice(value.as_bytes());
    }
    let mut out = Vec::with_capacity(FIXED_BYTES + remark.len() + ext.len());
    out.put_i16(code);
    out.put_u8(command.language.byte());
    out.put_i16(version);
    out.put_i32(command.opaque);
    out.put_i32(command.flag);
    out.put_i32(to_i32_len(remark.len(), "remark")?);
    out.put_slice(remark.as_bytes());
    out.put_i32(to_i32_len(ext.len(), "extFields")?);
    out.put_slice(&ext);
    Ok(out)
}

fn read_u8(bytes: &mut &[u8], field: &'static str) -> Result<u8, ProtocolError> {
    if bytes.remaining() < 1 {
        return Err(ProtocolError::BinaryHeaderTruncated { field });
    }
    Ok(bytes.get_u8())
}

fn read_i16(bytes: &mut &[u8], field: &'static str) -> Result<i16, ProtocolError> {
    if bytes.remaining() < 2 {
        return Err(ProtocolError::BinaryHeaderTruncated { field });
    }
    Ok(bytes.get_i16())
}

fn read_i32(bytes: &mut &[u8], field: &'static str) -> Result<i32, ProtocolError> {
    if bytes.remaining() < 4 {
        return Err(ProtocolError::BinaryHeaderTruncated { field });
    }
    Ok(bytes.get_i32())
}

/// Splits `length` bytes off the front, refusing negative lengths and lengths past the end.
fn take<'a>(
    bytes: &mut &'a [u8],
    length: i64,
    field: &'static str,
) -> Result<&'a [u8], ProtocolError> {
    let out_of_range = ProtocolError::BinaryLengthOutOfRange {
        field,
        length,
        available: bytes.len(),
    };
    let length = usize::try_from(length).map_err(|_| out_of_range)?;
    if length > bytes.len() {
        return Err(ProtocolError::BinaryLengthOutOfRange {
            field,
            length: length as i64,
            available: bytes.len(),
        });
    }
    let (head, tail) = bytes.split_at(length);
    *bytes = tail;
    Ok(head)
}

fn read_text(
    bytes: &mut &[u8],
    length: i64,
    field: &'static str,
) -> Result<Option<String>, ProtocolError> {
    let raw = take(bytes, length, field)?;
    if raw.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(raw).map_err(|_| ProtocolError::InvalidUtf8 { field })?;
    Ok(Some(text.to_owned()))
}

fn to_i16(value: i32, field: &'static str) -> Result<i16, ProtocolError> {
    i16::try_from(value).map_err(|_| ProtocolError::InvalidField {
        field,
        value: value.to_string(),
    })
}

fn to_i16_len(length: usize, field: &'static str) -> Result<i16, ProtocolError> {
    i16::try_from(length).map_err(|_| ProtocolError::InvalidField {
        field,
        value: format!("length {length}"),
    })
}

fn to_i32_len(length: usize, field: &'static str) -> Result<i32, ProtocolError> {
    i32::try_from(length).map_err(|_| ProtocolError::InvalidField {
        field,
        value: format!("length {length}"),
    })
}

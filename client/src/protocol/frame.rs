//! Frames: a length prefix, the header-length word with the serialize type in its high byte,
//! the header, the body (protocol.md §1.2).
//!
//! ```text
//!  offset  size  field
//!  0       4     frameLength = 4 + H + B (does not count itself), at most 16 MiB
//!  4       4     serializeType << 24 | H
//!  8       H     header (JSON text or ROCKETMQ binary)
//!  8+H     B     body
//! ```

use bytes::{Buf, BufMut, BytesMut};

use super::command::{RemotingCommand, SerializeType};
use super::error::ProtocolError;
use super::{binary_header, json_header};

/// Java's `com.rocketmq.remoting.frameMaxLength` default: the largest frameLength accepted.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// The header length is a 24-bit field.
const MAX_HEADER_BYTES: usize = 0x00FF_FFFF;
const LENGTH_PREFIX_BYTES: usize = 4;
const HEADER_WORD_BYTES: usize = 4;

/// Decodes one frame from the front of `buf`, removing its bytes.
///
/// `Ok(None)`: not enough bytes yet (nothing is consumed). `Err`: the bytes can never form a
/// valid frame; the caller should close the connection, as Java's decoder does. The length
/// prefix is checked against `max_frame_bytes` before waiting for (or allocating) the rest.
pub fn decode_frame(
    buf: &mut BytesMut,
    max_frame_bytes: usize,
) -> Result<Option<RemotingCommand>, ProtocolError> {
    if buf.len() < LENGTH_PREFIX_BYTES {
        return Ok(None);
    }
    let frame_length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if frame_length > max_frame_bytes {
        return Err(ProtocolError::FrameTooLarge {
            length: frame_length,
            limit: max_frame_bytes,
        });
    }
    if frame_length < HEADER_WORD_BYTES {
        return Err(ProtocolError::FrameTooSmall {
            length: frame_length,
        });
    }
    let total = LENGTH_PREFIX_BYTES + frame_length;
    if buf.len() < total {
        // Reserve once for the whole frame so the reader does not grow the buffer piecemeal.
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    buf.advance(LENGTH_PREFIX_BYTES);
    let mut frame = buf.split_to(frame_length).freeze();
    let header_word = frame.get_u32();
    let serialize_byte = (header_word >> 24) as u8;
    let header_length = (header_word & 0x00FF_FFFF) as usize;
    if header_length > frame.len() {
        return Err(ProtocolError::HeaderLengthExceedsFrame {
            header_length,
            available: frame.len(),
        });
    }
    let header = frame.split_to(header_length);
    let body = frame;
    let mut command = match serialize_byte {
        0 => json_header::decode(&header)?,
        1 => binary_header::decode(&header)?,
        other => return Err(ProtocolError::UnknownSerializeType(other)),
    };
    command.body = body;
    Ok(Some(command))
}

/// Appends `command` as one frame to `dst`, its header in `command.serialize_type`.
/// Fails if the frame would exceed [`MAX_FRAME_BYTES`]: a peer would drop the connection.
pub fn encode_frame(command: &RemotingCommand, dst: &mut BytesMut) -> Result<(), ProtocolError> {
    let header = match command.serialize_type {
        SerializeType::Json => json_header::encode(command),
        SerializeType::RocketMq => binary_header::encode(command)?,
    };
    if header.len() > MAX_HEADER_BYTES {
        return Err(ProtocolError::HeaderTooLarge {
            length: header.len(),
        });
    }
    let frame_length = HEADER_WORD_BYTES + header.len() + command.body.len();
    if frame_length > MAX_FRAME_BYTES {
        return Err(ProtocolError::FrameTooLarge {
            length: frame_length,
            limit: MAX_FRAME_BYTES,
        });
    }
    dst.reserve(LENGTH_PREFIX_BYTES + frame_length);
    // Both casts are bounded by the checks above (16 MiB and 24 bits).
    dst.put_u32(frame_length as u32);
    dst.put_u32((u32::from(command.serialize_type.byte()) << 24) | header.len() as u32);
    dst.put_slice(&header);
    dst.put_slice(&command.body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ExtFields, LanguageCode, RequestCode};

    /// protocol.md §1.2: GET_ROUTEINFO_BY_TOPIC for topic `T`, opaque 7, JSON.
    const GOLDEN_JSON_HEADER: &str = r#"{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":407}"#;
    /// protocol.md §1.4: the same request with a ROCKETMQ binary header.
    const GOLDEN_BINARY_FRAME: &str = "00000025 01000021 0069 00 0197 00000007 00000000 00000000 0000000c 0005 746f706963 00000001 54";

    fn route_request(serialize_type: SerializeType) -> RemotingCommand {
        let mut fields = ExtFields::new();
        fields.insert("topic".into(), "T".into());
        let mut command = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, fields);
        command.opaque = 7;
        command.serialize_type = serialize_type;
        command
    }

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| {
                let text = std::str::from_utf8(pair).unwrap_or("00");
                u8::from_str_radix(text, 16).unwrap_or(0)
            })
            .collect()
    }

    fn encode(command: &RemotingCommand) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_frame(command, &mut out).expect("encodes");
        out.to_vec()
    }

    #[test]
    fn json_golden_frame_encodes_exactly() {
        assert_eq!(GOLDEN_JSON_HEADER.len(), 0x7B);
        let mut expected = vec![0x00, 0x00, 0x00, 0x7F, 0x00, 0x00, 0x00, 0x7B];
        expected.extend_from_slice(GOLDEN_JSON_HEADER.as_bytes());
        assert_eq!(encode(&route_request(SerializeType::Json)), expected);
    }

    #[test]
    fn json_golden_frame_decodes_exactly() {
        let mut bytes = BytesMut::from(&[0x00, 0x00, 0x00, 0x7F, 0x00, 0x00, 0x00, 0x7B][..]);
        bytes.extend_from_slice(GOLDEN_JSON_HEADER.as_bytes());
        let decoded = decode_frame(&mut bytes, MAX_FRAME_BYTES)
            .expect("valid")
            .expect("whole");
        assert_eq!(decoded, route_request(SerializeType::Json));
        assert!(bytes.is_empty());
    }

    #[test]
    fn binary_golden_frame_encodes_and_decodes_exactly() {
        let golden = hex(GOLDEN_BINARY_FRAME);
        assert_eq!(golden.len(), 4 + 0x25);
        assert_eq!(encode(&route_request(SerializeType::RocketMq)), golden);
        let mut bytes = BytesMut::from(&golden[..]);
        let decoded = decode_frame(&mut bytes, MAX_FRAME_BYTES)
            .expect("valid")
            .expect("whole");
        assert_eq!(decoded, route_request(SerializeType::RocketMq));
    }

    #[test]
    fn partial_frames_need_more_bytes_and_consume_nothing() {
        let whole = encode(&route_request(SerializeType::Json).with_body(&b"body"[..]));
        for cut in 0..whole.len() {
            let mut bytes = BytesMut::from(&whole[..cut]);
            assert!(
                matches!(decode_frame(&mut bytes, MAX_FRAME_BYTES), Ok(None)),
                "cut {cut}"
            );
            assert_eq!(bytes.len(), cut);
        }
        let mut bytes = BytesMut::from(&whole[..]);
        let decoded = decode_frame(&mut bytes, MAX_FRAME_BYTES)
            .expect("valid")
            .expect("whole");
        assert_eq!(&decoded.body[..], b"body");
    }

    #[test]
    fn lenient_json_headers_are_accepted() {
        let cases: [(&str, &str); 5] = [
            // Go: no serializeTypeCurrentRPC, empty remark, other key order, whitespace.
            (
                r#"{ "code" : 105, "language":"GO", "version":317, "opaque":9, "flag":0, "remark":"", "extFields":{"topic":"T"} }"#,
                "T",
            ),
            // C++: numbers and booleans inside extFields.
            (
                r#"{"code":105,"language":"CPP","extFields":{"topic":"T","queueId":3,"flag":true}}"#,
                "T",
            ),
            // No extFields at all, unknown language name, \u escapes with a surrogate pair.
            (
                r#"{"code":105,"language":"KLINGON","remark":"\ud83d\ude00"}"#,
                "",
            ),
            (r#"{"code":105,"extFields":null}"#, ""),
            (
                r#"{"flag":0,"code":105,"extFields":{"topic":"T","x":null,"n":-1.5}}"#,
                "T",
            ),
        ];
        for (json, topic) in cases {
            let mut bytes = BytesMut::new();
            bytes.extend_from_slice(&((4 + json.len()) as u32).to_be_bytes());
            bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
            bytes.extend_from_slice(json.as_bytes());
            let command = decode_frame(&mut bytes, MAX_FRAME_BYTES)
                .unwrap_or_else(|e| panic!("{json}: {e}"))
                .expect("whole");
            assert_eq!(command.code, 105);
            assert_eq!(
                command.ext_fields.get("topic").map_or("", String::as_str),
                topic
            );
        }
    }

    #[test]
    fn cpp_values_are_stringified() {
        let json =
            r#"{"code":310,"language":"CPP","extFields":{"e":3,"f":true,"g":-7,"h":2.5,"x":null}}"#;
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&((4 + json.len()) as u32).to_be_bytes());
        bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
        bytes.extend_from_slice(json.as_bytes());
        let command = decode_frame(&mut bytes, MAX_FRAME_BYTES)
            .expect("valid")
            .expect("whole");
        assert_eq!(command.language, LanguageCode::Cpp);
        let get = |k: &str| command.ext_fields.get(k).cloned();
        assert_eq!(get("e").as_deref(), Some("3"));
        assert_eq!(get("f").as_deref(), Some("true"));
        assert_eq!(get("g").as_deref(), Some("-7"));
        assert_eq!(get("h").as_deref(), Some("2.5"));
        assert_eq!(get("x"), None);
    }

    #[test]
    fn responses_are_strict_and_keep_the_request_serialize_type() {
        let request = route_request(SerializeType::RocketMq);
        let mut response =
            RemotingCommand::response_to(&request, 17, Some("no \u{1} route".into()));
        response.ext_fields.insert("queueId".into(), "0".into());
        assert_eq!(response.serialize_type, SerializeType::RocketMq);
        response.serialize_type = SerializeType::Json;
        let bytes = encode(&response);
        let header = std::str::from_utf8(&bytes[8..]).expect("utf8");
        assert_eq!(
            header,
            r#"{"code":17,"extFields":{"queueId":"0"},"flag":1,"language":"JAVA","opaque":7,"remark":"no \u0001 route","serializeTypeCurrentRPC":"JSON","version":407}"#
        );
    }

    fn frame_with(serialize_type: u8, header: &[u8], frame_length: Option<u32>) -> BytesMut {
        let mut bytes = BytesMut::new();
        let length = frame_length.unwrap_or((4 + header.len()) as u32);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(
            &((u32::from(serialize_type) << 24) | header.len() as u32).to_be_bytes(),
        );
        bytes.extend_from_slice(header);
        bytes
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        // Oversized length prefix: refused from the first four bytes.
        let mut oversized = BytesMut::from(&[0x01, 0x00, 0x00, 0x01][..]);
        assert!(matches!(
            decode_frame(&mut oversized, MAX_FRAME_BYTES),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        let mut tiny = BytesMut::from(&[0, 0, 0, 2, 0, 0][..]);
        assert!(matches!(
            decode_frame(&mut tiny, MAX_FRAME_BYTES),
            Err(ProtocolError::FrameTooSmall { .. })
        ));
        // Header length beyond the frame.
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&8u32.to_be_bytes());
        bytes.extend_from_slice(&100u32.to_be_bytes());
        bytes.extend_from_slice(b"{}{}");
        assert!(matches!(
            decode_frame(&mut bytes, MAX_FRAME_BYTES),
            Err(ProtocolError::HeaderLengthExceedsFrame { .. })
        ));
        // Invalid JSON, non-object extFields, missing code, unknown serialize type.
        for header in [
            &b"{\"code\":"[..],
            br#"{"code":1,"extFields":[1]}"#,
            br#"{"code":1,"extFields":"x"}"#,
            br#"{"opaque":1}"#,
            br#"{"code":1,"extFields":{"a":{"b":1}}}"#,
        ] {
            let mut bytes = frame_with(0, header, None);
            assert!(
                decode_frame(&mut bytes, MAX_FRAME_BYTES).is_err(),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        let mut bytes = frame_with(7, b"{}", None);
        assert!(matches!(
            decode_frame(&mut bytes, MAX_FRAME_BYTES),
            Err(ProtocolError::UnknownSerializeType(7))
        ));
        // Truncated binary header fields: every prefix of a valid header fails cleanly.
        let golden = hex(GOLDEN_BINARY_FRAME);
        let header = &golden[8..];
        for cut in 0..header.len() {
            let mut bytes = frame_with(1, &header[..cut], None);
            assert!(
                decode_frame(&mut bytes, MAX_FRAME_BYTES).is_err(),
                "binary header cut at {cut}"
            );
        }
        // A remark length far beyond the header.
        let mut lying = header.to_vec();
        lying[13..17].copy_from_slice(&i32::MAX.to_be_bytes());
        let mut bytes = frame_with(1, &lying, None);
        assert!(matches!(
            decode_frame(&mut bytes, MAX_FRAME_BYTES),
            Err(ProtocolError::BinaryLengthOutOfRange {
                field: "remark",
                ..
            })
        ));
        lying[13..17].copy_from_slice(&(-1i32).to_be_bytes());
        let mut bytes = frame_with(1, &lying, None);
        assert!(decode_frame(&mut bytes, MAX_FRAME_BYTES).is_err());
    }

    #[test]
    fn oversized_outgoing_frames_are_refused() {
        let command = route_request(SerializeType::Json).with_body(vec![0u8; MAX_FRAME_BYTES]);
        let mut out = BytesMut::new();
        assert!(matches!(
            encode_frame(&command, &mut out),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        assert!(out.is_empty());
    }
}

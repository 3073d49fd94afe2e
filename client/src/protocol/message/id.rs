//! Offset message ids (protocol.md §5.4): the broker-assigned id that names a record by its
//! store host and commit-log offset.
//!
//! ```text
//!  hex( address (4 | 16 bytes) + port (int) + physical offset (long) ), uppercase
//!  0A02DFA5 00002A9F 0000000163E60ADB  =  10.2.223.165 : 10911 : offset 0x163E60ADB
//! ```

use std::net::{IpAddr, SocketAddr};

use bytes::Buf;

use super::{canonical_ip, decode_host};
use crate::protocol::error::ProtocolError;

/// The offset message id (protocol.md §5.4): uppercase hex of the store host's address bytes,
/// its port as a 4-byte int and the 8-byte commit-log offset; 32 characters for IPv4, 56 for
/// IPv6. Clients decode it to find the broker and the offset, so the host must be reachable.
pub fn offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    let mut id = String::with_capacity(56);
    match canonical_ip(store_host) {
        IpAddr::V4(ip) => push_hex(&mut id, &ip.octets()),
        IpAddr::V6(ip) => push_hex(&mut id, &ip.octets()),
    }
    push_hex(&mut id, &i32::from(store_host.port()).to_be_bytes());
    push_hex(&mut id, &physical_offset.to_be_bytes());
    id
}

/// Parses an offset message id (either case) into the store host and commit-log offset.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), ProtocolError> {
    let bad = |reason: String| ProtocolError::Body {
        what: "offset message id",
        reason: format!("{id:?}: {reason}"),
    };
    let address_len = match id.len() {
        32 => 4,
        56 => 16,
        other => {
            return Err(bad(format!(
                "{other} characters; expected 32 (IPv4 host) or 56 (IPv6 host)"
            )));
        }
    };
    let (pairs, _) = id.as_bytes().as_chunks::<2>();
    let mut bytes = Vec::with_capacity(pairs.len());
    for &[high, low] in pairs {
        match (hex_value(high), hex_value(low)) {
            (Some(high), Some(low)) => bytes.push(high << 4 | low),
            _ => return Err(bad("not hexadecimal".to_owned())),
        }
    }
    // Same layout as a record's host field, followed by the offset.
    let (host, mut offset) = bytes
        .split_at_checked(address_len + 4)
        .ok_or_else(|| bad("too short".to_owned()))?;
    let store_host = decode_host(host, "store host").map_err(|error| bad(error.to_string()))?;
    Ok((store_host, offset.get_i64()))
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

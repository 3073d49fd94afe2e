//! The SEND_BATCH_MESSAGE body (protocol.md §2.3): the messages of one batch, each as a short
//! record carrying only what differs between them (the topic, queue and batch-level
//! properties travel once, in the V2 header).
//!
//! ```text
//!  size   field            (big-endian; repeated until the body ends)
//!  4      totalSize        this record, this field included: 22 + bodyLength + propertiesLength
//!  4      magic            0 (written by clients, ignored)
//!  4      bodyCRC          0 (written by clients, ignored; the broker computes its own)
//!  4      flag             the user's flag
//!  4      bodyLength
//!  n      body             as sent (compressed if the header's sysFlag says so)
//!  2      propertiesLength signed short
//!  p      properties       §5.3 encoding: this message's UNIQ_KEY, TAGS, KEYS…
//! ```
//!
//! Every length is checked against the bytes left before it is used, and bodies are slices
//! of the request's buffer, so decoding allocates only the entry list and the property
//! strings. Java's broker ignores `totalSize`; every client computes it the same way, so a
//! mismatch here means the lengths cannot be trusted and the batch is refused.

use bytes::{Buf, Bytes};

use super::error::ProtocolError;
use super::message::MAX_PROPERTIES_BYTES;

/// The most messages one batch may hold. Java sets no count limit, but its 4 MiB message
/// size limit holds a batch to well under this many real messages.
pub const MAX_BATCH_ENTRIES: usize = 10_000;
/// A record's bytes besides its body and properties.
const RECORD_OVERHEAD_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 2;
const _: () = assert!(RECORD_OVERHEAD_BYTES == 22);

/// One message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub flag: i32,
    /// A slice of the request body: no copy.
    pub body: Bytes,
    /// This message's properties string (protocol.md §5.3), decoded lossily as Java's
    /// `new String(bytes, UTF_8)` would.
    pub properties: String,
}

/// Splits a SEND_BATCH_MESSAGE body into its messages. An empty body is an empty batch,
/// which the caller refuses (Java clients never send one).
pub fn decode_batch(body: &Bytes) -> Result<Vec<BatchEntry>, ProtocolError> {
    let mut entries = Vec::new();
    let mut rest = body.clone();
    while !rest.is_empty() {
        if entries.len() == MAX_BATCH_ENTRIES {
            return Err(batch_error(format!(
                "more than {MAX_BATCH_ENTRIES} messages in one batch"
            )));
        }
        let record_offset = body.len() - rest.len();
        let entry = decode_entry(&mut rest)
            .map_err(|reason| batch_error(format!("record at byte {record_offset}: {reason}")))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Reads one record from the front of `rest`, leaving `rest` just after it. Errors are
/// plain reasons; the caller adds where the record starts.
fn decode_entry(rest: &mut Bytes) -> Result<BatchEntry, String> {
    if rest.len() < RECORD_OVERHEAD_BYTES {
        return Err(format!(
            "{} bytes left, fewer than a record's {RECORD_OVERHEAD_BYTES}-byte minimum",
            rest.len()
        ));
    }
    let total_size = rest.get_i32();
    let _magic = rest.get_i32();
    let _body_crc = rest.get_i32();
    let flag = rest.get_i32();
    let body_length = length(rest.get_i32(), "bodyLength")?;
    // The 2-byte properties length must still follow the body.
    if body_length > rest.len().saturating_sub(2) {
        return Err(format!(
            "bodyLength {body_length} exceeds the {} bytes left",
            rest.len().saturating_sub(2)
        ));
    }
    let body = rest.split_to(body_length);
    let properties_length = length(i32::from(rest.get_i16()), "propertiesLength")?;
    if properties_length > rest.len() {
        return Err(format!(
            "propertiesLength {properties_length} exceeds the {} bytes left",
            rest.len()
        ));
    }
    let properties = rest.split_to(properties_length);
    let expected = RECORD_OVERHEAD_BYTES + body_length + properties_length;
    if usize::try_from(total_size).ok() != Some(expected) {
        return Err(format!(
            "totalSize {total_size} disagrees with the {expected} bytes its lengths add up to"
        ));
    }
    Ok(BatchEntry {
        flag,
        body,
        properties: String::from_utf8_lossy(&properties).into_owned(),
    })
}

fn length(value: i32, field: &str) -> Result<usize, String> {
    usize::try_from(value).map_err(|_| format!("{field} {value} is negative"))
}

/// Writes a batch body for Bolide's producer. Fails if there are more entries than a broker
/// accepts, or a message's properties do not fit their 2-byte length, or a body its 4-byte
/// one.
pub fn encode_batch(entries: &[BatchEntry]) -> Result<Vec<u8>, ProtocolError> {
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(batch_error(format!(
            "{} messages exceed the limit of {MAX_BATCH_ENTRIES} per batch",
            entries.len()
        )));
    }
    let capacity = entries
        .iter()
        .map(|entry| RECORD_OVERHEAD_BYTES + entry.body.len() + entry.properties.len())
        .sum();
    let mut out = Vec::with_capacity(capacity);
    for (index, entry) in entries.iter().enumerate() {
        let properties = entry.properties.as_bytes();
        if properties.len() > MAX_PROPERTIES_BYTES {
            return Err(batch_error(format!(
                "message {index}: properties of {} bytes exceed {MAX_PROPERTIES_BYTES}",
                properties.len()
            )));
        }
        let total_size = RECORD_OVERHEAD_BYTES + entry.body.len() + properties.len();
        let (Ok(total_size), Ok(body_length), Ok(properties_length)) = (
            i32::try_from(total_size),
            i32::try_from(entry.body.len()),
            i16::try_from(properties.len()),
        ) else {
            return Err(batch_error(format!(
                "message {index}: a body of {} bytes does not fit a record",
                entry.body.len()
            )));
        };
        out.extend_from_slice(&total_size.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // magic
        out.extend_from_slice(&0i32.to_be_bytes()); // bodyCRC
        out.extend_from_slice(&entry.flag.to_be_bytes());
        out.extend_from_slice(&body_length.to_be_bytes());
        out.extend_from_slice(&entry.body);
        out.extend_from_slice(&properties_length.to_be_bytes());
        out.extend_from_slice(properties);
    }
    Ok(out)
}

fn batch_error(reason: String) -> ProtocolError {
    ProtocolError::Body {
        what: "batch",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn entry(flag: i32, body: &[u8], properties: &str) -> BatchEntry {
        BatchEntry {
            flag,
            body: Bytes::copy_from_slice(body),
            properties: properties.to_owned(),
        }
    }

    /// One record written out by hand, field by field, as Java's `encodeMessage` does.
    fn record(total_size: i32, flag: i32, body: &[u8], properties: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&total_size.to_be_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&flag.to_be_bytes());
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&(properties.len() as i16).to_be_bytes());
        out.extend_from_slice(properties);
        out
    }

    fn reason(result: Result<Vec<BatchEntry>, ProtocolError>) -> String {
        match result {
            Err(ProtocolError::Body {
                what: "batch",
                reason,
            }) => reason,
            other => panic!("expected a batch error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_and_golden_bytes() -> TestResult {
        let entries = vec![
            entry(0, b"hello", "UNIQ_KEY\u{1}A1\u{2}TAGS\u{1}TagA\u{2}"),
            entry(7, b"", ""),
            entry(-1, &[0xFF; 300], "KEYS\u{1}k é"),
        ];
        let bytes = encode_batch(&entries)?;
        let mut golden = record(
            22 + 5 + 22,
            0,
            b"hello",
            b"UNIQ_KEY\x01A1\x02TAGS\x01TagA\x02",
        );
        golden.extend(record(22, 7, b"", b""));
        golden.extend(record(
            22 + 300 + 9,
            -1,
            &[0xFF; 300],
            "KEYS\u{1}k é".as_bytes(),
        ));
        assert_eq!(bytes, golden);

        let body = Bytes::from(bytes);
        let decoded = decode_batch(&body)?;
        assert_eq!(decoded, entries);
        // Bodies are slices of the request: the first starts right after its 20-byte prefix.
        assert_eq!(decoded[0].body.as_ptr(), body[20..].as_ptr());
        Ok(())
    }

    #[test]
    fn empty_body_is_an_empty_batch() -> TestResult {
        assert!(decode_batch(&Bytes::new())?.is_empty());
        assert!(encode_batch(&[])?.is_empty());
        Ok(())
    }

    #[test]
    fn truncated_input_is_refused_at_every_cut() -> TestResult {
        let full = encode_batch(&[entry(1, b"abc", "TAGS\u{1}x"), entry(2, b"de", "")])?;
        let first_record = 22 + 3 + 6;
        for cut in 1..full.len() {
            let result = decode_batch(&Bytes::copy_from_slice(&full[..cut]));
            if cut == first_record {
                // A whole first record followed by nothing: a valid batch of one.
                assert_eq!(result?.len(), 1);
                continue;
            }
            let text = reason(result);
            assert!(text.starts_with("record at byte"), "cut {cut}: {text}");
        }
        Ok(())
    }

    #[test]
    fn lying_lengths_are_named() {
        let body_too_long = {
            let mut bytes = record(22 + 3, 0, b"abc", b"");
            bytes[16..20].copy_from_slice(&1_000_000i32.to_be_bytes());
            bytes
        };
        assert!(reason(decode_batch(&body_too_long.into())).contains("bodyLength 1000000"));

        let negative_body = {
            let mut bytes = record(22, 0, b"", b"");
            bytes[16..20].copy_from_slice(&(-1i32).to_be_bytes());
            bytes
        };
        assert!(reason(decode_batch(&negative_body.into())).contains("bodyLength -1 is negative"));

        let mut negative_properties = record(22, 0, b"", b"");
        negative_properties[20..22].copy_from_slice(&(-5i16).to_be_bytes());
        assert!(
            reason(decode_batch(&negative_properties.into()))
                .contains("propertiesLength -5 is negative")
        );

        let properties_too_long = {
            let mut bytes = record(22 + 2, 0, b"", b"ab");
            bytes[20..22].copy_from_slice(&3i16.to_be_bytes());
            bytes
        };
        assert!(
            reason(decode_batch(&properties_too_long.into()))
                .contains("propertiesLength 3 exceeds the 2 bytes left")
        );

        let wrong_total = record(99, 0, b"abc", b"");
        assert!(reason(decode_batch(&wrong_total.into())).contains("totalSize 99"));

        let mut second_bad = record(22, 0, b"", b"");
        second_bad.extend(record(-22, 0, b"", b""));
        let text = reason(decode_batch(&second_bad.into()));
        assert!(text.starts_with("record at byte 22:"), "{text}");
    }

    #[test]
    fn entry_count_is_limited() -> TestResult {
        let at_limit = encode_batch(&vec![entry(0, b"", ""); MAX_BATCH_ENTRIES])?;
        assert_eq!(
            decode_batch(&at_limit.clone().into())?.len(),
            MAX_BATCH_ENTRIES
        );
        let mut over = at_limit;
        over.extend(record(22, 0, b"", b""));
        assert!(reason(decode_batch(&over.into())).contains("more than 10000 messages"));
        assert!(encode_batch(&vec![entry(0, b"", ""); MAX_BATCH_ENTRIES + 1]).is_err());
        Ok(())
    }

    #[test]
    fn oversized_properties_are_not_encoded() {
        let big = "x".repeat(MAX_PROPERTIES_BYTES + 1);
        assert!(encode_batch(&[entry(0, b"", &big)]).is_err());
        let fits = "x".repeat(MAX_PROPERTIES_BYTES);
        assert!(encode_batch(&[entry(0, b"", &fits)]).is_ok());
    }
}

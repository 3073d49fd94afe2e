//! Tests of the stored-record codec: golden bytes from protocol.md §5.1, hostile inputs, and
//! seeded random round trips and mutations.

use std::net::{Ipv6Addr, SocketAddrV6};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const GOLDEN_PROPERTIES: &str = "TAGS\u{1}TagA\u{2}KEYS\u{1}k1";

/// The record of [`golden_message`] at queue offset 42, physical offset 0x163E60ADB and store
/// time 1700000000123, written field by field from the §5.1 table.
const GOLDEN_RECORD: &str = "
    0000007A                    | TOTALSIZE 122 = 91 + 5 + 9 + 17
    DAA320A7                    | MAGICCODE
    77D18982                    | BODYCRC: zlib.crc32(b'Hello') = 0xF7D18982, & 0x7FFFFFFF
    00000003                    | QUEUEID
    00000007                    | FLAG
    000000000000002A            | QUEUEOFFSET 42
    0000000163E60ADB            | PHYSICALOFFSET
    00000008                    | SYSFLAG: TRANSACTION_COMMIT_TYPE
    0000018BCFE56800            | BORNTIMESTAMP 1700000000000
    C0A80001 0000D431           | BORNHOST 192.168.0.1:54321
    0000018BCFE5687B            | STORETIMESTAMP 1700000000123
    0A02DFA5 00002A9F           | STOREHOSTADDRESS 10.2.223.165:10911
    00000001                    | RECONSUMETIMES
    0000000000001000            | PREPAREDTRANSACTIONOFFSET
    00000005 48656C6C6F         | BODY 'Hello'
    09 546F70696354657374       | TOPIC 'TopicTest'
    0011 544147530154616741024B455953016B31 | PROPERTIES 'TAGS^ATagA^BKEYS^Ak1'
";

/// The bytes of a dump whose lines are `hex digits | comment`.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .lines()
        .flat_map(|line| line.split('|').next().unwrap_or("").bytes())
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    assert!(digits.iter().all(u8::is_ascii_hexdigit), "bad golden dump");
    assert_eq!(digits.len() % 2, 0, "odd golden dump");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn v4(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn golden_message() -> MessageToStore<'static> {
    MessageToStore {
        topic: "TopicTest",
        queue_id: 3,
        flag: 7,
        body: b"Hello",
        properties: GOLDEN_PROPERTIES,
        sysflag: sysflag::TRANSACTION_COMMIT_TYPE,
        born_timestamp_ms: 1_700_000_000_000,
        born_host: v4("192.168.0.1:54321"),
        store_host: v4("10.2.223.165:10911"),
        reconsume_times: 1,
        prepared_transaction_offset: 0x1000,
    }
}

const GOLDEN_QUEUE_OFFSET: i64 = 42;
const GOLDEN_PHYSICAL_OFFSET: i64 = 0x1_63E6_0ADB;
const GOLDEN_STORE_TIMESTAMP_MS: i64 = 1_700_000_000_123;

fn encode(message: &MessageToStore<'_>) -> Vec<u8> {
    let mut out = vec![0u8; message.encoded_len()];
    let written = encode_record(
        message,
        GOLDEN_QUEUE_OFFSET,
        GOLDEN_PHYSICAL_OFFSET,
        GOLDEN_STORE_TIMESTAMP_MS,
        &mut out,
    )
    .unwrap();
    assert_eq!(written, out.len());
    out
}

fn decode_message(bytes: &[u8]) -> StoredMessage {
    match decode_record(bytes, true) {
        Ok(Some(Record::Message(message))) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn reason(result: Result<impl std::fmt::Debug, ProtocolError>) -> String {
    match result {
        Err(error) => error.to_string(),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

fn put_at(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// Offsets in the golden record (IPv4 hosts, 5-byte body, 9-byte topic).
const BODY_LEN_AT: usize = 84;
const TOPIC_LEN_AT: usize = 93;
const PROPERTIES_LEN_AT: usize = 103;

#[test]
fn golden_record_encodes_byte_for_byte() {
    let golden = hex(GOLDEN_RECORD);
    assert_eq!(golden.len(), 122);
    assert_eq!(golden_message().encoded_len(), 122);
    assert_eq!(encode(&golden_message()), golden);
    assert_eq!(encoded_record_len(9, 5, 17, false, false), 122);
}

#[test]
fn golden_record_decodes_every_field() {
    let golden = hex(GOLDEN_RECORD);
    let message = decode_message(&golden);
    let expected = StoredMessage {
        total_size: 122,
        body_crc: 0x77D1_8982,
        queue_id: 3,
        flag: 7,
        queue_offset: 42,
        physical_offset: 0x1_63E6_0ADB,
        sysflag: 8,
        born_timestamp_ms: 1_700_000_000_000,
        born_host: v4("192.168.0.1:54321"),
        store_timestamp_ms: 1_700_000_000_123,
        store_host: v4("10.2.223.165:10911"),
        reconsume_times: 1,
        prepared_transaction_offset: 0x1000,
        body: Bytes::from_static(b"Hello"),
        topic: "TopicTest".to_owned(),
        properties: [("TAGS", "TagA"), ("KEYS", "k1")].into_iter().collect(),
    };
    assert_eq!(message, expected);
    assert_eq!(message.offset_msg_id(), "0A02DFA500002A9F0000000163E60ADB");
    assert_eq!(message.msg_id(), message.offset_msg_id());
    assert_eq!(message.tags(), Some("TagA"));
    assert_eq!(
        sysflag::transaction_type(message.sysflag),
        sysflag::TRANSACTION_COMMIT_TYPE
    );

    let Ok(Some(Record::Message(check))) = peek_record(&golden, true) else {
        panic!("peek failed");
    };
    assert_eq!(check.total_size, 122);
    assert_eq!(check.topic, "TopicTest");
    assert_eq!(check.tags_code, 2_598_919);
    assert_eq!(check.keys(), Some("k1"));
    assert_eq!(check.key_tokens().collect::<Vec<_>>(), ["k1"]);
    assert_eq!(check.uniq_key(), None);
    assert_eq!(check.body, b"Hello");
    assert_eq!(check.queue_offset, 42);
    assert_eq!(check.physical_offset, 0x1_63E6_0ADB);
    assert_eq!(check.store_timestamp_ms, 1_700_000_000_123);
    assert_eq!(check.store_host().unwrap(), v4("10.2.223.165:10911"));
}

#[test]
fn ipv6_hosts_set_their_sysflag_bits_and_add_twelve_bytes_each() {
    let born_v6: SocketAddr = "[2001:db8::1]:1234".parse().unwrap();
    let store_v6: SocketAddr = "[::1]:10911".parse().unwrap();
    // The caller's stray host bits are replaced by what the addresses say.
    let base = MessageToStore {
        sysflag: sysflag::COMPRESSED | sysflag::BORNHOST_V6 | sysflag::STOREHOSTADDRESS_V6,
        ..golden_message()
    };
    let v4_only = encode(&base);
    assert_eq!(v4_only.len(), 122);
    assert_eq!(v4_only[SYSFLAG_AT..SYSFLAG_AT + 4], [0, 0, 0, 1]);

    let born_only = MessageToStore {
        born_host: born_v6,
        ..base
    };
    let bytes = encode(&born_only);
    assert_eq!(bytes.len(), 134);
    assert_eq!(bytes[SYSFLAG_AT..SYSFLAG_AT + 4], [0, 0, 0, 0x11]);
    let mut expected_host = Ipv6Addr::from(*b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01")
        .octets()
        .to_vec();
    expected_host.extend_from_slice(&1234i32.to_be_bytes());
    assert_eq!(bytes[48..68], expected_host[..]);
    assert_eq!(bytes[68..76], GOLDEN_STORE_TIMESTAMP_MS.to_be_bytes());
    let decoded = decode_message(&bytes);
    assert_eq!(decoded.born_host, born_v6);
    assert_eq!(decoded.store_host, base.store_host);
    assert_eq!(decoded.store_timestamp_ms, GOLDEN_STORE_TIMESTAMP_MS);

    let both = MessageToStore {
        born_host: born_v6,
        store_host: store_v6,
        ..base
    };
    let bytes = encode(&both);
    assert_eq!(bytes.len(), 146);
    assert_eq!(both.encoded_len(), encoded_record_len(9, 5, 17, true, true));
    assert_eq!(bytes[SYSFLAG_AT..SYSFLAG_AT + 4], [0, 0, 0, 0x31]);
    let decoded = decode_message(&bytes);
    assert_eq!((decoded.born_host, decoded.store_host), (born_v6, store_v6));
    assert_eq!(&decoded.body[..], b"Hello");
    assert_eq!(decoded.offset_msg_id().len(), 56);
    assert_eq!(
        decode_offset_msg_id(&decoded.offset_msg_id()).unwrap(),
        (store_v6, GOLDEN_PHYSICAL_OFFSET)
    );
}

#[test]
fn ipv4_mapped_hosts_are_stored_as_ipv4_like_java() {
    let mapped = SocketAddr::V6(SocketAddrV6::new(
        "::ffff:10.2.223.165".parse().unwrap(),
        10911,
        0,
        0,
    ));
    let message = MessageToStore {
        store_host: mapped,
        ..golden_message()
    };
    assert_eq!(encode(&message), hex(GOLDEN_RECORD));
    assert_eq!(
        offset_msg_id(mapped, GOLDEN_PHYSICAL_OFFSET),
        "0A02DFA500002A9F0000000163E60ADB"
    );
}

#[test]
fn patching_append_fields_equals_encoding_with_them() {
    for born_host in [v4("192.168.0.1:54321"), "[fe80::2]:7".parse().unwrap()] {
        let message = MessageToStore {
            born_host,
            ..golden_message()
        };
        let mut record = vec![0u8; message.encoded_len()];
        encode_record(&message, 0, 0, 0, &mut record).unwrap();
        assert_ne!(record, encode(&message));
        patch_record(
            &mut record,
            GOLDEN_QUEUE_OFFSET,
            GOLDEN_PHYSICAL_OFFSET,
            GOLDEN_STORE_TIMESTAMP_MS,
        )
        .unwrap();
        assert_eq!(record, encode(&message));
    }
    assert!(patch_record(&mut [0u8; 90], 1, 2, 3).is_err());
    let mut blank = [0u8; 122];
    encode_blank(122, &mut blank).unwrap();
    assert!(patch_record(&mut blank, 1, 2, 3).is_err());
}

#[test]
fn blank_marker_encodes_and_decodes() {
    let mut out = [0xEEu8; 12];
    encode_blank(100, &mut out).unwrap();
    assert_eq!(
        out,
        [0, 0, 0, 100, 0xCB, 0xD4, 0x31, 0x94, 0xEE, 0xEE, 0xEE, 0xEE]
    );
    assert_eq!(
        decode_record(&out, true).unwrap(),
        Some(Record::Blank {
            remaining_bytes: 100
        })
    );
    assert_eq!(
        peek_record(&out[..8], true).unwrap(),
        Some(Record::Blank {
            remaining_bytes: 100
        })
    );
    assert_eq!(decode_record(&out[..7], true).unwrap(), None);
    // Too little room for the marker, or a marker claiming less than itself.
    assert!(encode_blank(7, &mut out).is_err());
    assert!(encode_blank(usize::MAX, &mut out).is_err());
    assert!(encode_blank(8, &mut [0u8; 7]).is_err());
    put_at(&mut out, 0, &4i32.to_be_bytes());
    assert!(decode_record(&out, true).is_err());
    put_at(&mut out, 0, &(-8i32).to_be_bytes());
    assert!(decode_record(&out, true).is_err());
    // A run of messages never contains a BLANK.
    let mut run = hex(GOLDEN_RECORD);
    run.extend_from_slice(&[0, 0, 0, 8, 0xCB, 0xD4, 0x31, 0x94]);
    assert!(reason(decode_records(&Bytes::from(run), true)).contains("BLANK"));
}

#[test]
fn crc_mismatch_is_detected_only_when_asked() {
    let mut bytes = hex(GOLDEN_RECORD);
    bytes[88] = b'J'; // 'Hello' -> 'Jello'
    assert!(reason(decode_record(&bytes, true)).contains("BODYCRC"));
    assert!(reason(peek_record(&bytes, true)).contains("BODYCRC"));
    assert_eq!(&decode_message_unchecked(&bytes).body[..], b"Jello");

    let mut bytes = hex(GOLDEN_RECORD);
    put_at(&mut bytes, 8, &0x77D1_8983u32.to_be_bytes());
    assert!(decode_record(&bytes, true).is_err());
    assert_eq!(decode_message_unchecked(&bytes).body_crc, 0x77D1_8983);
}

fn decode_message_unchecked(bytes: &[u8]) -> StoredMessage {
    match decode_record(bytes, false) {
        Ok(Some(Record::Message(message))) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn totalsize_must_match_the_field_lengths() {
    let golden = hex(GOLDEN_RECORD);
    // One byte too long: the buffer has it, but the fields do not account for it.
    let mut longer = golden.clone();
    longer.push(0);
    put_at(&mut longer, 0, &123i32.to_be_bytes());
    assert!(reason(decode_record(&longer, false)).contains("does not match"));
    // One byte too short: PROPERTIES runs past TOTALSIZE.
    let mut shorter = golden.clone();
    put_at(&mut shorter, 0, &121i32.to_be_bytes());
    assert!(reason(decode_record(&shorter, false)).contains("PROPERTIES"));
    for total in [-1i32, i32::MIN, 0, 10, 90] {
        let mut bytes = golden.clone();
        put_at(&mut bytes, 0, &total.to_be_bytes());
        assert!(
            reason(decode_record(&bytes, false)).contains("minimum"),
            "{total}"
        );
    }
    // A TOTALSIZE beyond the buffer may still arrive: need more bytes, not an error.
    let mut bytes = golden.clone();
    put_at(&mut bytes, 0, &i32::MAX.to_be_bytes());
    assert_eq!(decode_record(&bytes, false).unwrap(), None);
}

#[test]
fn every_truncation_needs_more_bytes_and_a_cut_run_is_an_error() {
    let golden = hex(GOLDEN_RECORD);
    for cut in 0..golden.len() {
        assert_eq!(
            decode_record(&golden[..cut], true).unwrap(),
            None,
            "cut {cut}"
        );
        assert!(
            peek_record(&golden[..cut], true).unwrap().is_none(),
            "cut {cut}"
        );
        let run = decode_records(&Bytes::copy_from_slice(&golden[..cut]), true);
        if cut == 0 {
            assert!(run.unwrap().is_empty());
        } else {
            assert!(reason(run).contains("cut off"), "cut {cut}");
        }
    }
}

#[test]
fn negative_and_oversized_lengths_are_errors() {
    let golden = hex(GOLDEN_RECORD);
    let cases: [(usize, &[u8], &str); 8] = [
        (BODY_LEN_AT, &(-1i32).to_be_bytes(), "negative"),
        (BODY_LEN_AT, &i32::MAX.to_be_bytes(), "BODY"),
        (BODY_LEN_AT, &i32::MIN.to_be_bytes(), "negative"),
        (TOPIC_LEN_AT, &[0x80], "negative"),
        (TOPIC_LEN_AT, &[0x7F], "TOPIC needs"),
        (PROPERTIES_LEN_AT, &[0xFF, 0xFF], "negative"),
        (PROPERTIES_LEN_AT, &[0x7F, 0xFF], "PROPERTIES"),
        (PROPERTIES_LEN_AT, &[0x00, 0x10], "does not match"),
    ];
    for (at, value, expected) in cases {
        let mut bytes = golden.clone();
        put_at(&mut bytes, at, value);
        let why = reason(decode_record(&bytes, false));
        assert!(why.contains(expected), "{at} {value:?}: {why}");
    }
    // A record claiming IPv6 hosts it does not have is inconsistent with TOTALSIZE.
    let mut bytes = golden.clone();
    put_at(&mut bytes, SYSFLAG_AT, &0x30i32.to_be_bytes());
    assert!(decode_record(&bytes, false).is_err());
}

#[test]
fn unknown_magic_and_bad_ports_are_errors() {
    let golden = hex(GOLDEN_RECORD);
    for magic in [0u32, 0xDAA3_20AB, 0xDAA3_20A6] {
        let mut bytes = golden.clone();
        put_at(&mut bytes, 4, &magic.to_be_bytes());
        assert!(reason(decode_record(&bytes, false)).contains("MAGICCODE"));
    }
    assert!(decode_record(&[0u8; 200], false).is_err());
    // Java's recovery skips host fields, so peek accepts a bad port; a full decode does not.
    let mut bytes = golden.clone();
    put_at(&mut bytes, 52, &0x0001_0000i32.to_be_bytes());
    assert!(reason(decode_record(&bytes, false)).contains("BORNHOST port 65536"));
    let Ok(Some(Record::Message(check))) = peek_record(&bytes, true) else {
        panic!("peek should accept");
    };
    assert!(check.born_host().is_err());
}

#[test]
fn a_run_of_records_splits_without_copying_bodies() {
    let first = golden_message();
    let second = MessageToStore {
        topic: "T2",
        body: b"",
        properties: "UNIQ_KEY\u{1}7F0000010001\u{2}",
        store_host: "[::1]:10911".parse().unwrap(),
        ..golden_message()
    };
    let third = MessageToStore {
        body: &[0xAB; 300],
        properties: "",
        ..golden_message()
    };
    let mut run = Vec::new();
    for message in [&first, &second, &third] {
        run.extend_from_slice(&encode(message));
    }
    let run = Bytes::from(run);
    let messages = decode_records(&run, true).unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1].topic, "T2");
    assert_eq!(messages[1].msg_id(), "7F0000010001");
    assert!(messages[1].body.is_empty());
    assert!(messages[2].properties.is_empty());
    let sizes: usize = messages.iter().map(|message| message.total_size).sum();
    assert_eq!(sizes, run.len());
    let range = run.as_ptr_range();
    for message in &messages {
        assert!(range.contains(&message.body.as_ptr()) || message.body.is_empty());
    }
    assert_eq!(&messages[2].body[..], &[0xAB; 300][..]);
}

#[test]
fn encoding_refuses_what_a_record_cannot_hold() {
    let long_topic = "t".repeat(128);
    let long_properties = format!("K\u{1}{}", "v".repeat(32766));
    let cases = [
        (
            MessageToStore {
                topic: "",
                ..golden_message()
            },
            "empty",
        ),
        (
            MessageToStore {
                topic: &long_topic,
                ..golden_message()
            },
            "128 bytes",
        ),
        (
            MessageToStore {
                properties: &long_properties,
                ..golden_message()
            },
            "32768 bytes",
        ),
    ];
    for (message, expected) in cases {
        let why = reason(message.validate(1024));
        assert!(why.contains(expected), "{why}");
        let mut out = vec![0u8; 40_000];
        assert!(encode_record(&message, 0, 0, 0, &mut out).is_err());
    }
    let why = reason(golden_message().validate(4));
    assert!(
        why.contains("5 bytes") && why.contains("limit of 4"),
        "{why}"
    );
    assert!(golden_message().validate(5).is_ok());
    let at_limits = MessageToStore {
        topic: &long_topic[..127],
        properties: &long_properties[..32767],
        ..golden_message()
    };
    let decoded = decode_message(&encode(&at_limits));
    assert_eq!(decoded.topic.len(), 127);
    assert_eq!(decoded.properties.get("K").map(str::len), Some(32765));
    // Nothing is written when the record does not fit.
    let mut small = vec![0xEEu8; 121];
    assert!(reason(encode_record(&golden_message(), 1, 2, 3, &mut small)).contains("121"));
    assert!(small.iter().all(|&byte| byte == 0xEE));
}

#[test]
fn properties_follow_javas_parser() {
    let java = "KEYS\u{1}a b\u{2}TAGS\u{1}TagA";
    let go = "KEYS\u{1}a b\u{2}TAGS\u{1}TagA\u{2}";
    let expected: Properties = [("KEYS", "a b"), ("TAGS", "TagA")].into_iter().collect();
    assert_eq!(decode_properties(java), expected);
    assert_eq!(decode_properties(go), expected);
    assert_eq!(encode_properties(&decode_properties(go)), java);
    assert_eq!(encode_properties(&decode_properties(java)), java);

    let duplicated = decode_properties("a\u{1}x\u{2}b\u{1}y\u{2}a\u{1}z");
    assert_eq!(duplicated.get("a"), Some("z"));
    assert_eq!(
        duplicated.iter().collect::<Vec<_>>(),
        [("a", "z"), ("b", "y")]
    );
    assert_eq!(
        find_property("a\u{1}x\u{2}b\u{1}y\u{2}a\u{1}z", "a"),
        Some("z")
    );
    assert_eq!(
        find_properties(
            "a\u{1}x\u{2}b\u{1}y\u{2}a\u{1}z\u{2}\u{1}q",
            ["a", "c", "b", ""]
        ),
        [Some("z"), None, Some("y"), None]
    );

    // Too short, no separator, empty name, empty value: all skipped.
    let skipped =
        decode_properties("\u{2}ab\u{2}a\u{1}\u{2}\u{1}b\u{2}\u{2}noseparator\u{2}k\u{1}v");
    assert_eq!(skipped.iter().collect::<Vec<_>>(), [("k", "v")]);
    // The value runs to the next property separator, name-value separators included.
    assert_eq!(decode_properties("a\u{1}b\u{1}c").get("a"), Some("b\u{1}c"));
    assert!(decode_properties("").is_empty());
    assert_eq!(encode_properties(&Properties::new()), "");
}

#[test]
fn properties_keep_insertion_order() {
    let mut properties = Properties::new();
    assert_eq!(properties.insert("Z", "1"), None);
    assert_eq!(properties.insert("A", "2"), None);
    assert_eq!(properties.insert("Z", "3"), Some("1".to_owned()));
    assert_eq!(encode_properties(&properties), "Z\u{1}3\u{2}A\u{1}2");
    assert_eq!(properties.remove("Z"), Some("3".to_owned()));
    assert_eq!(properties.remove("Z"), None);
    assert!(!properties.contains("Z") && properties.contains("A"));
    assert_eq!(properties.len(), 1);
}

#[test]
fn tag_hash_codes_match_javas_string_hash_code() {
    // Values computed with Java's algorithm over UTF-16 units, independently of this crate.
    assert_eq!(tag_hash_code("TagA"), 2_598_919);
    assert_eq!(tag_hash_code("TagB"), 2_598_920);
    assert_eq!(tag_hash_code(""), 0);
    assert_eq!(tag_hash_code("Hello World"), -862_545_276); // wraps negative, sign-extended
    assert_eq!(tag_hash_code("é"), 233); // one UTF-16 unit, not Go's two UTF-8 bytes
    assert_eq!(tag_hash_code("😀"), 1_772_899); // surrogate pair 0xD83D 0xDE00
    assert_eq!(tag_hash_code("a😀b"), 57_849_694);
    assert_eq!(tag_hash_code("😀"), 0xD83D * 31 + 0xDE00);
}

#[test]
fn offset_msg_ids_round_trip() {
    let golden = "0A02DFA500002A9F0000000163E60ADB";
    let host = v4("10.2.223.165:10911");
    assert_eq!(offset_msg_id(host, 0x1_63E6_0ADB), golden);
    assert_eq!(decode_offset_msg_id(golden).unwrap(), (host, 0x1_63E6_0ADB));
    assert_eq!(
        decode_offset_msg_id(&golden.to_ascii_lowercase()).unwrap(),
        (host, 0x1_63E6_0ADB)
    );
    for bad in [
        "",
        "0A02DFA500002A9F0000000163E60AD",
        "0A02DFA500002A9F0000000163E60ADBB",
        "0A02DFA500002A9F0000000163E60ADG",
        "0A02DFA5FFFFFFFF0000000163E60ADB", // port -1
        "0A02DFA500002A9F0000000163E60Aé",  // 32 bytes, not hex
    ] {
        assert!(decode_offset_msg_id(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Seeded random tests

fn seed() -> u64 {
    let seed = std::env::var("BOLIDE_TEST_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_nanos() as u64)
        });
    // Captured by the test harness and shown only when the test fails.
    eprintln!("seed {seed} (rerun with BOLIDE_TEST_SEED={seed})");
    seed
}

struct OwnedMessage {
    topic: String,
    body: Vec<u8>,
    properties: Properties,
    encoded_properties: String,
    numbers: (i32, i32, i32, i64, i32, i64),
    born_host: SocketAddr,
    store_host: SocketAddr,
}

impl OwnedMessage {
    fn random(rng: &mut StdRng) -> Self {
        const ALPHABET: &[char] = &['a', 'Z', '0', '_', '%', ' ', 'é', '中', '😀'];
        let text = |rng: &mut StdRng, max_chars: usize| -> String {
            let len = rng.random_range(1..=max_chars);
            (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect()
        };
        let mut topic = text(rng, 40);
        while topic.len() > MAX_TOPIC_BYTES {
            topic.pop();
        }
        let properties: Properties = (0..rng.random_range(0..6))
            .map(|_| (text(rng, 8), text(rng, 20)))
            .collect();
        let body: Vec<u8> = (0..rng.random_range(0..600))
            .map(|_| rng.random())
            .collect();
        let host = |rng: &mut StdRng| -> SocketAddr {
            if rng.random_bool(0.5) {
                SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())),
                    rng.random(),
                )
            } else {
                // Avoid IPv4-mapped addresses, which are canonicalised to IPv4 on purpose.
                let ip = Ipv6Addr::from(rng.random::<u128>() | 1 << 127);
                SocketAddr::new(IpAddr::V6(ip), rng.random())
            }
        };
        Self {
            encoded_properties: encode_properties(&properties),
            topic,
            body,
            properties,
            numbers: (
                rng.random(),
                rng.random(),
                rng.random(),
                rng.random(),
                rng.random(),
                rng.random(),
            ),
            born_host: host(rng),
            store_host: host(rng),
        }
    }

    fn to_store(&self) -> MessageToStore<'_> {
        let (queue_id, flag, sysflag, born_timestamp_ms, reconsume_times, prepared) = self.numbers;
        MessageToStore {
            topic: &self.topic,
            queue_id,
            flag,
            body: &self.body,
            properties: &self.encoded_properties,
            sysflag,
            born_timestamp_ms,
            born_host: self.born_host,
            store_host: self.store_host,
            reconsume_times,
            prepared_transaction_offset: prepared,
        }
    }
}

#[test]
fn random_messages_round_trip() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..300 {
        let owned = OwnedMessage::random(&mut rng);
        let message = owned.to_store();
        let (queue_offset, physical_offset, store_timestamp_ms) =
            (rng.random(), rng.random(), rng.random());
        let slack = rng.random_range(0..16);
        let mut out = vec![0u8; message.encoded_len() + slack];
        let written = encode_record(
            &message,
            queue_offset,
            physical_offset,
            store_timestamp_ms,
            &mut out,
        )
        .unwrap_or_else(|error| panic!("seed {seed} round {round}: {error}"));
        assert_eq!(written, message.encoded_len(), "seed {seed} round {round}");
        let decoded = decode_record_bytes(&Bytes::from(out), true)
            .unwrap_or_else(|error| panic!("seed {seed} round {round}: {error}"));
        let Some(Record::Message(decoded)) = decoded else {
            panic!("seed {seed} round {round}: {decoded:?}");
        };
        let expected = StoredMessage {
            total_size: written,
            body_crc: body_crc(&owned.body),
            queue_id: message.queue_id,
            flag: message.flag,
            queue_offset,
            physical_offset,
            sysflag: message.stored_sysflag(),
            born_timestamp_ms: message.born_timestamp_ms,
            born_host: owned.born_host,
            store_timestamp_ms,
            store_host: owned.store_host,
            reconsume_times: message.reconsume_times,
            prepared_transaction_offset: message.prepared_transaction_offset,
            body: Bytes::from(owned.body.clone()),
            topic: owned.topic.clone(),
            properties: owned.properties.clone(),
        };
        assert_eq!(decoded, expected, "seed {seed} round {round}");
        assert_eq!(
            decode_offset_msg_id(&decoded.offset_msg_id()).unwrap(),
            (owned.store_host, physical_offset),
            "seed {seed} round {round}"
        );
    }
}

#[test]
fn random_mutations_never_panic_the_decoder() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut errors = 0;
    for _ in 0..200 {
        let owned = OwnedMessage::random(&mut rng);
        let record = encode(&owned.to_store());
        for _ in 0..50 {
            let mut bytes = record.clone();
            for _ in 0..rng.random_range(1..=4) {
                mutate(&mut rng, &mut bytes);
            }
            let shared = Bytes::from(bytes.clone());
            for check_crc in [false, true] {
                let decoded = decode_record(&bytes, check_crc);
                errors += usize::from(decoded.is_err());
                if let Ok(Some(Record::Message(message))) = decoded {
                    assert!(message.total_size <= bytes.len(), "seed {seed}");
                }
                if let Ok(Some(Record::Message(check))) = peek_record(&bytes, check_crc) {
                    assert!(check.total_size <= bytes.len(), "seed {seed}");
                    let _ = (
                        check.born_host(),
                        check.store_host(),
                        check.key_tokens().count(),
                    );
                }
                let _ = decode_record_bytes(&shared, check_crc);
                let _ = decode_records(&shared, check_crc);
            }
        }
    }
    // The mutations must actually reach the error paths, or this test proves nothing.
    assert!(errors > 1000, "seed {seed}: only {errors} errors");
}

fn mutate(rng: &mut StdRng, bytes: &mut Vec<u8>) {
    const LENGTH_FIELDS: [usize; 3] = [0, SYSFLAG_AT, BODY_LEN_AT];
    const SPECIAL: [i32; 7] = [-1, 0, 1, i32::MAX, i32::MIN, 0x7F, 0x80];
    if bytes.is_empty() {
        bytes.push(rng.random());
        return;
    }
    match rng.random_range(0..6) {
        0 => {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        1 => {
            let at = LENGTH_FIELDS[rng.random_range(0..LENGTH_FIELDS.len())];
            let value = SPECIAL[rng.random_range(0..SPECIAL.len())];
            if at + 4 <= bytes.len() {
                put_at(bytes, at, &value.to_be_bytes());
            }
        }
        2 => {
            let at = rng.random_range(0..bytes.len());
            let value: i32 = rng.random_range(-200..400);
            let end = (at + 4).min(bytes.len());
            bytes[at..end].copy_from_slice(&value.to_be_bytes()[..end - at]);
        }
        3 => bytes.truncate(rng.random_range(0..bytes.len())),
        4 => bytes.extend((0..rng.random_range(1..100)).map(|_| rng.random::<u8>())),
        _ => {
            // Lengths near the end of the record: TOPIC and PROPERTIES.
            let at = bytes.len().saturating_sub(rng.random_range(1..40));
            bytes[at] = SPECIAL[rng.random_range(0..SPECIAL.len())] as u8;
        }
    }
}

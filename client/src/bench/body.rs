//! The benchmark's message bodies, which let the consumer verify every message it gets:
//! which producer run sent it, its sequence number within that run, and a CRC32 over the
//! rest, so that a body damaged anywhere between the producer and the listener is caught.
//!
//! ```text
//! 0        4              12             20       24                      size
//! +--------+--------------+--------------+--------+-----------------------+
//! | "BLB1" | producer id  | sequence     | CRC32  | filler (alphanumeric) |
//! | magic  | u64, BE      | u64, BE      | u32 BE |                       |
//! +--------+--------------+--------------+--------+-----------------------+
//! ```
//!
//! The CRC32 (IEEE, as `crc32fast` computes it) covers bytes 0..20 and 24..size: everything
//! but itself. The producer id is random per run, so runs that share a topic stay apart.
//!
//! A body shorter than the header (`-s 1` to `-s 23`: RocketMQ accepts any size) is filler
//! only, and the same three fields travel in the user property [`CHECK_PROPERTY`] instead,
//! as `<producer id, 16 hex>-<sequence, decimal>-<CRC32, 8 hex>`, the CRC32 covering the
//! producer id and sequence (each u64, BE) and then the body.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Marks a body as a benchmark body; anything else on the topic is "foreign".
pub const MAGIC: [u8; 4] = *b"BLB1";
pub const HEADER_BYTES: usize = MAGIC.len() + 8 + 8 + 4;
const CRC_AT: usize = MAGIC.len() + 8 + 8;
const _: () = assert!(HEADER_BYTES == 24 && CRC_AT + 4 == HEADER_BYTES);

/// The user property that carries a short body's check (see the module documentation).
pub const CHECK_PROPERTY: &str = "BolideBenchCheck";

/// Sequences above this are counted as valid but not tracked for duplicates: the tracker
/// keeps one bit per sequence, and this caps it at 128 MiB per producer run.
pub const MAX_TRACKED_SEQUENCE: u64 = 1 << 30;

/// Builds the bodies of one producer run.
#[derive(Debug, Clone)]
pub struct BodyFactory {
    producer_id: u64,
    size_bytes: usize,
    filler: Bytes,
}

impl BodyFactory {
    /// Bodies of `size_bytes` (at least 1: brokers refuse empty bodies) under a random
    /// producer id, with random alphanumeric filler as RocketMQ's benchmark uses.
    pub fn new(size_bytes: usize) -> anyhow::Result<Self> {
        if size_bytes == 0 {
            anyhow::bail!("a benchmark body needs at least 1 byte");
        }
        let mut rng = rand::rng();
        let filler: Vec<u8> = (&mut rng)
            .sample_iter(Alphanumeric)
            .take(size_bytes.checked_sub(HEADER_BYTES).unwrap_or(size_bytes))
            .collect();
        Ok(BodyFactory {
            producer_id: rng.random(),
            size_bytes,
            filler: Bytes::from(filler),
        })
    }

    pub fn producer_id(&self) -> u64 {
        self.producer_id
    }

    /// Whether bodies hold the header; when not, [`BodyFactory::check_property`] does.
    fn carries_header(&self) -> bool {
        self.size_bytes >= HEADER_BYTES
    }

    pub fn body(&self, sequence: u64) -> Bytes {
        if !self.carries_header() {
            return self.filler.clone();
        }
        let mut body = BytesMut::with_capacity(self.size_bytes);
        body.put_slice(&MAGIC);
        body.put_u64(self.producer_id);
        body.put_u64(sequence);
        let crc = checksum(&body[..CRC_AT], &self.filler);
        body.put_u32(crc);
        body.put_slice(&self.filler);
        body.freeze()
    }

    /// The value of [`CHECK_PROPERTY`] for message `sequence`; `None` when the body holds
    /// the header itself.
    pub fn check_property(&self, sequence: u64) -> Option<String> {
        if self.carries_header() {
            return None;
        }
        let crc = short_checksum(self.producer_id, sequence, &self.filler);
        Some(format!("{:016x}-{sequence}-{crc:08x}", self.producer_id))
    }
}

fn short_checksum(producer_id: u64, sequence: u64, body: &[u8]) -> u32 {
    let mut ids = [0; 16];
    ids[..8].copy_from_slice(&producer_id.to_be_bytes());
    ids[8..].copy_from_slice(&sequence.to_be_bytes());
    checksum(&ids, body)
}

fn checksum(head: &[u8], rest: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(head);
    hasher.update(rest);
    hasher.finalize()
}

/// Which message a valid body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyId {
    pub producer_id: u64,
    pub sequence: u64,
}

/// Why a body is not a valid benchmark body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("not a benchmark body (no \"BLB1\" magic)")]
    Foreign,
    #[error("body of {0} bytes is shorter than the {HEADER_BYTES}-byte header")]
    TooShort(usize),
    #[error("body CRC32 {computed:#010x} differs from the recorded {recorded:#010x}")]
    Checksum { recorded: u32, computed: u32 },
    #[error("malformed {CHECK_PROPERTY} property {0:?}")]
    BadCheckProperty(String),
}

/// Reads and checks a message: by its [`CHECK_PROPERTY`] when it has one (a short body),
/// else by the header at the front of its body.
pub fn parse_message(body: &[u8], check_property: Option<&str>) -> Result<BodyId, BodyError> {
    match check_property {
        Some(value) => parse_short(body, value),
        None => parse_body(body),
    }
}

fn parse_short(body: &[u8], value: &str) -> Result<BodyId, BodyError> {
    let malformed = || BodyError::BadCheckProperty(value.to_owned());
    let mut fields = value.split('-');
    let (Some(producer), Some(sequence), Some(crc), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed());
    };
    let producer_id = u64::from_str_radix(producer, 16).map_err(|_| malformed())?;
    let sequence: u64 = sequence.parse().map_err(|_| malformed())?;
    let recorded = u32::from_str_radix(crc, 16).map_err(|_| malformed())?;
    let computed = short_checksum(producer_id, sequence, body);
    if recorded != computed {
        return Err(BodyError::Checksum { recorded, computed });
    }
    Ok(BodyId {
        producer_id,
        sequence,
    })
}

/// Reads and checks a body that holds its header.
pub fn parse_body(body: &[u8]) -> Result<BodyId, BodyError> {
    if !body.starts_with(&MAGIC) {
        return Err(BodyError::Foreign);
    }
    let Some((header, filler)) = body.split_at_checked(HEADER_BYTES) else {
        return Err(BodyError::TooShort(body.len()));
    };
    let word = |at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&header[at..at + 8]);
        u64::from_be_bytes(bytes)
    };
    let mut crc = [0; 4];
    crc.copy_from_slice(&header[CRC_AT..]);
    let recorded = u32::from_be_bytes(crc);
    let computed = checksum(&header[..CRC_AT], filler);
    if recorded != computed {
        return Err(BodyError::Checksum { recorded, computed });
    }
    Ok(BodyId {
        producer_id: word(MAGIC.len()),
        sequence: word(MAGIC.len() + 8),
    })
}

/// What the verifier made of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A valid body not seen before.
    New(BodyId),
    /// A valid body seen before (at-least-once delivery, or a broker bug).
    Duplicate(BodyId),
    Invalid(BodyError),
}

/// The sequences seen of one producer run, one bit each.
#[derive(Debug, Default)]
struct SequenceSet {
    words: Vec<u64>,
    count: u64,
    highest: u64,
}

impl SequenceSet {
    /// Records `sequence`; false when it was already there.
    fn insert(&mut self, sequence: u64) -> bool {
        debug_assert!(sequence <= MAX_TRACKED_SEQUENCE);
        // Below MAX_TRACKED_SEQUENCE / 64, which fits a usize.
        let word = (sequence / 64) as usize;
        let bit = 1u64 << (sequence % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & bit != 0 {
            return false;
        }
        self.words[word] |= bit;
        self.count += 1;
        self.highest = self.highest.max(sequence);
        true
    }
}

/// Checks every delivered body and counts distinct messages, duplicates and bad bodies.
#[derive(Debug, Default)]
pub struct Verifier {
    runs: HashMap<u64, SequenceSet>,
    /// Valid bodies beyond [`MAX_TRACKED_SEQUENCE`], counted as distinct unchecked.
    untracked: u64,
    duplicates: u64,
    corrupt: u64,
    foreign: u64,
    first_problem: Option<String>,
}

/// The verifier's findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Valid messages, each counted once.
    pub distinct: u64,
    pub duplicates: u64,
    /// Bodies with the magic but a wrong length or checksum.
    pub corrupt: u64,
    /// Bodies without the magic: not from a benchmark producer.
    pub foreign: u64,
    /// Producer runs seen.
    pub producers: u64,
    /// Sequences not seen below each run's highest seen one: lost messages, or messages not
    /// yet consumed when the run ended.
    pub missing: u64,
    pub first_problem: Option<String>,
}

impl Verifier {
    pub fn new() -> Self {
        Verifier::default()
    }

    /// Checks one delivery: its body and its [`CHECK_PROPERTY`], if any.
    pub fn check(&mut self, body: &[u8], check_property: Option<&str>) -> Verdict {
        let id = match parse_message(body, check_property) {
            Ok(id) => id,
            Err(error) => {
                match error {
                    BodyError::Foreign => self.foreign += 1,
                    BodyError::TooShort(_)
                    | BodyError::Checksum { .. }
                    | BodyError::BadCheckProperty(_) => self.corrupt += 1,
                }
                self.first_problem.get_or_insert_with(|| error.to_string());
                return Verdict::Invalid(error);
            }
        };
        if id.sequence > MAX_TRACKED_SEQUENCE {
            self.untracked += 1;
            return Verdict::New(id);
        }
        if self
            .runs
            .entry(id.producer_id)
            .or_default()
            .insert(id.sequence)
        {
            Verdict::New(id)
        } else {
            self.duplicates += 1;
            Verdict::Duplicate(id)
        }
    }

    pub fn report(&self) -> VerifyReport {
        let tracked: u64 = self.runs.values().map(|run| run.count).sum();
        let missing = self
            .runs
            .values()
            .map(|run| run.highest + 1 - run.count)
            .sum();
        VerifyReport {
            distinct: tracked + self.untracked,
            duplicates: self.duplicates,
            corrupt: self.corrupt,
            foreign: self.foreign,
            producers: self.runs.len() as u64,
            missing,
            first_problem: self.first_problem.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_at_the_requested_size() {
        let factory = BodyFactory::new(128).unwrap();
        let body = factory.body(7);
        assert_eq!(body.len(), 128);
        assert_eq!(
            parse_body(&body),
            Ok(BodyId {
                producer_id: factory.producer_id(),
                sequence: 7
            })
        );
        assert_eq!(factory.check_property(7), None);
        assert!(BodyFactory::new(0).is_err());
        assert_eq!(BodyFactory::new(HEADER_BYTES).unwrap().body(0).len(), 24);
    }

    #[test]
    fn short_bodies_are_checked_through_their_property() {
        for size in [1, 10, HEADER_BYTES - 1] {
            let factory = BodyFactory::new(size).unwrap();
            let body = factory.body(5);
            assert_eq!(body.len(), size);
            let check = factory.check_property(5).unwrap();
            let expected = BodyId {
                producer_id: factory.producer_id(),
                sequence: 5,
            };
            assert_eq!(parse_message(&body, Some(&check)), Ok(expected));
            // A sequence changed in transit, a damaged body, a malformed property.
            let forged = check.replace("-5-", "-6-");
            assert!(matches!(
                parse_message(&body, Some(&forged)),
                Err(BodyError::Checksum { .. })
            ));
            let mut damaged = body.to_vec();
            damaged[size - 1] ^= 0x01;
            assert!(matches!(
                parse_message(&damaged, Some(&check)),
                Err(BodyError::Checksum { .. })
            ));
            assert!(matches!(
                parse_message(&body, Some("zz-1-0")),
                Err(BodyError::BadCheckProperty(_))
            ));
        }
        // Without the property, a short body is not a benchmark body.
        assert_eq!(parse_message(b"0123456789", None), Err(BodyError::Foreign));
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let body = BodyFactory::new(64).unwrap().body(3).to_vec();
        for at in MAGIC.len()..body.len() {
            let mut damaged = body.clone();
            damaged[at] ^= 0x20;
            assert!(
                matches!(parse_body(&damaged), Err(BodyError::Checksum { .. })),
                "flip at {at} went unnoticed"
            );
        }
        assert_eq!(parse_body(&body[..10]), Err(BodyError::TooShort(10)));
        assert_eq!(parse_body(b"Hello RocketMQ 0"), Err(BodyError::Foreign));
    }

    #[test]
    fn verifier_counts_distinct_duplicates_corrupt_and_gaps() {
        let factory = BodyFactory::new(40).unwrap();
        let mut verifier = Verifier::new();
        for sequence in [0, 1, 3, 1] {
            verifier.check(&factory.body(sequence), None);
        }
        let mut damaged = factory.body(4).to_vec();
        damaged[30] = damaged[30].wrapping_add(1);
        assert!(matches!(
            verifier.check(&damaged, None),
            Verdict::Invalid(BodyError::Checksum { .. })
        ));
        assert_eq!(
            verifier.check(b"other", None),
            Verdict::Invalid(BodyError::Foreign)
        );
        let other = BodyFactory::new(40).unwrap();
        assert!(matches!(
            verifier.check(&other.body(0), None),
            Verdict::New(_)
        ));
        let short = BodyFactory::new(8).unwrap();
        let check = short.check_property(0);
        assert!(matches!(
            verifier.check(&short.body(0), check.as_deref()),
            Verdict::New(_)
        ));
        assert!(matches!(
            verifier.check(b"XXXXXXXX", check.as_deref()),
            Verdict::Invalid(BodyError::Checksum { .. })
        ));
        let report = verifier.report();
        assert_eq!(
            (
                report.distinct,
                report.duplicates,
                report.corrupt,
                report.foreign
            ),
            (5, 1, 2, 1)
        );
        assert_eq!((report.producers, report.missing), (3, 1));
        assert!(report.first_problem.unwrap().contains("CRC32"));
    }
}

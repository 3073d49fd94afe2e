//! Seeded random and mutated frames: the decoder must return a command, "need more bytes" or
//! an error for every input, and never panic. Valid random commands must round-trip.
//!
//! The seed is printed first; rerun a failure with `BOLIDE_FUZZ_SEED=<seed>`.
//! `BOLIDE_FUZZ_CASES` sets the number of cases per test (default 20,000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bolide_client::protocol::{
    ExtFields, LanguageCode, MAX_FRAME_BYTES, RemotingCommand, SerializeType, decode_frame,
    encode_frame,
};
use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn seed_and_cases() -> (u64, usize) {
    let seed = std::env::var("BOLIDE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let cases = std::env::var("BOLIDE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    eprintln!("fuzz seed {seed} ({cases} cases): rerun with BOLIDE_FUZZ_SEED={seed}");
    (seed, cases)
}

fn random_text(rng: &mut StdRng, max_len: usize) -> String {
    let len = rng.random_range(0..=max_len);
    (0..len)
        .map(|_| match rng.random_range(0..10) {
            0 => char::from_u32(rng.random_range(0..0x20)).unwrap_or('a'),
            1 => ['"', '\\', '{', '}', ':', ',', 'é', '😀'][rng.random_range(0..8)],
            _ => char::from(rng.random_range(b'a'..=b'z')),
        })
        .collect()
}

fn random_command(rng: &mut StdRng) -> RemotingCommand {
    let mut ext_fields = ExtFields::new();
    for _ in 0..rng.random_range(0..6) {
        let key = random_text(rng, 12);
        let value = random_text(rng, 40);
        // Empty keys and values decode as absent in the binary form (as in Java).
        if !key.is_empty() && !value.is_empty() {
            ext_fields.insert(key, value);
        }
    }
    let remark = Some(random_text(rng, 30)).filter(|r| !r.is_empty() && rng.random_bool(0.5));
    let body_len = rng.random_range(0..64);
    RemotingCommand {
        code: rng.random_range(-32768..32768),
        language: LanguageCode::from_byte(rng.random_range(0..14)),
        version: rng.random_range(-32768..32768),
        opaque: rng.random(),
        flag: rng.random_range(0..4),
        remark,
        ext_fields,
        serialize_type: if rng.random_bool(0.5) {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        },
        body: (0..body_len)
            .map(|_| rng.random::<u8>())
            .collect::<Vec<u8>>()
            .into(),
    }
}

/// Decodes frames from `bytes` until it needs more or fails; never more than 64 frames.
fn drain(mut bytes: BytesMut) {
    for _ in 0..64 {
        match decode_frame(&mut bytes, MAX_FRAME_BYTES) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

fn mutate(rng: &mut StdRng, frame: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..4) {
        if frame.is_empty() {
            frame.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..frame.len());
        match rng.random_range(0..6) {
            0 => frame[at] = rng.random(),
            1 => frame[at] ^= 1 << rng.random_range(0..8),
            2 => frame.truncate(at),
            3 => frame.insert(at, rng.random()),
            4 => {
                // Plant an extreme 4-byte length anywhere: the likeliest way to lie.
                let value: u32 = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x00FF_FFFF, rng.random()]
                    [rng.random_range(0..6)];
                let end = (at + 4).min(frame.len());
                frame[at..end].copy_from_slice(&value.to_be_bytes()[..end - at]);
            }
            _ => {
                let end = rng.random_range(at..=frame.len());
                let copy = frame[at..end].to_vec();
                frame.extend_from_slice(&copy);
            }
        }
    }
}

#[test]
fn random_valid_commands_round_trip() {
    let (seed, cases) = seed_and_cases();
    let mut rng = StdRng::seed_from_u64(seed);
    for case in 0..cases {
        let command = random_command(&mut rng);
        let mut bytes = BytesMut::new();
        encode_frame(&command, &mut bytes)
            .unwrap_or_else(|e| panic!("seed {seed} case {case}: {e}"));
        let decoded = decode_frame(&mut bytes, MAX_FRAME_BYTES)
            .unwrap_or_else(|e| panic!("seed {seed} case {case}: {e}"))
            .unwrap_or_else(|| panic!("seed {seed} case {case}: incomplete"));
        assert_eq!(decoded, command, "seed {seed} case {case}");
        assert!(bytes.is_empty());
    }
}

#[test]
fn mutated_frames_never_panic() {
    let (seed, cases) = seed_and_cases();
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..cases {
        let mut bytes = BytesMut::new();
        for _ in 0..rng.random_range(1..3) {
            let command = random_command(&mut rng);
            assert!(encode_frame(&command, &mut bytes).is_ok(), "seed {seed}");
        }
        let mut frame = bytes.to_vec();
        mutate(&mut rng, &mut frame);
        drain(BytesMut::from(&frame[..]));
    }
}

#[test]
fn random_bytes_never_panic() {
    let (seed, cases) = seed_and_cases();
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..cases {
        let len = rng.random_range(0..256);
        let mut frame: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // Give half the cases a plausible length prefix and header word so decoding gets deep.
        if frame.len() >= 8 && rng.random_bool(0.5) {
            let frame_length = (frame.len() - 4) as u32;
            frame[0..4].copy_from_slice(&frame_length.to_be_bytes());
            let header_length = rng.random_range(0..=frame_length - 4);
            let word = (u32::from(rng.random_range(0u8..2)) << 24) | header_length;
            frame[4..8].copy_from_slice(&word.to_be_bytes());
        }
        drain(BytesMut::from(&frame[..]));
    }
}

//! Message body compression as the sysflag describes it (protocol.md §5.1).
//!
//! RocketMQ 4.x knows one algorithm: `sysflag & COMPRESSED` means a zlib stream. RocketMQ 5
//! keeps that bit and adds a type in bits 8–10: 1 LZ4 (the LZ4 *frame* format), 2 zstd
//! (a standard zstd frame), 3 zlib; 0 stays zlib, so 4.x messages read the same. A 4.x
//! consumer ignores the type bits and inflates with zlib, so a producer that wants 4.x
//! consumers to read its messages must use zlib: that is the default here, sent with the
//! type bits clear exactly as a 4.x producer does.
//!
//! Decompression is bounded: a body that inflates past the caller's limit is an error, never
//! an allocation of whatever size a hostile message claims.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use super::message::sysflag;

/// The level RocketMQ's producers use (`rocketmq.message.compressLevel`, default 5).
pub const DEFAULT_LEVEL: i32 = 5;

/// A body compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionType {
    /// Readable by every RocketMQ 4.x and 5.x consumer.
    #[default]
    Zlib,
    /// RocketMQ 5 only: 4.x consumers would try to inflate it as zlib and fail.
    Zstd,
    /// RocketMQ 5 only, as zstd.
    Lz4,
}

impl CompressionType {
    /// The sysflag bits a compressed body of this type carries. Zlib sets only
    /// `COMPRESSED`, as a 4.x producer does (5.x reads type 0 as zlib).
    pub const fn sysflag_bits(self) -> i32 {
        match self {
            CompressionType::Zlib => sysflag::COMPRESSED,
            CompressionType::Zstd => sysflag::COMPRESSED | sysflag::COMPRESSION_ZSTD,
            CompressionType::Lz4 => sysflag::COMPRESSED | sysflag::COMPRESSION_LZ4,
        }
    }

    /// The type of a stored message's body; `None` when it is not compressed.
    pub fn of_sysflag(flags: i32) -> Result<Option<CompressionType>, String> {
        if flags & sysflag::COMPRESSED == 0 {
            return Ok(None);
        }
        match flags & sysflag::COMPRESSION_TYPE_MASK {
            0 | sysflag::COMPRESSION_ZLIB => Ok(Some(CompressionType::Zlib)),
            sysflag::COMPRESSION_ZSTD => Ok(Some(CompressionType::Zstd)),
            sysflag::COMPRESSION_LZ4 => Ok(Some(CompressionType::Lz4)),
            other => Err(format!("unknown compression type {}", other >> 8)),
        }
    }

    /// Compresses `body` at `level` (zlib 0–9, zstd 1–22; LZ4 frames have no level).
    pub fn compress(self, body: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
        match self {
            CompressionType::Zlib => {
                let level = u32::try_from(level.clamp(0, 9)).unwrap_or(5);
                let mut encoder =
                    ZlibEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(level));
                encoder.write_all(body)?;
                encoder.finish()
            }
            CompressionType::Zstd => zstd::bulk::compress(body, level.clamp(1, 22)),
            CompressionType::Lz4 => {
                let mut encoder =
                    lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(body.len() / 2));
                encoder.write_all(body)?;
                encoder.finish().map_err(std::io::Error::other)
            }
        }
    }

    /// Inflates `body`; more than `limit` bytes of output is an error.
    pub fn decompress(self, body: &[u8], limit: usize) -> Result<Vec<u8>, String> {
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let mut out = Vec::new();
        let read = match self {
            CompressionType::Zlib => ZlibDecoder::new(body).take(cap).read_to_end(&mut out),
            CompressionType::Zstd => zstd::stream::read::Decoder::new(body)
                .and_then(|decoder| decoder.take(cap).read_to_end(&mut out)),
            CompressionType::Lz4 => lz4_flex::frame::FrameDecoder::new(body)
                .take(cap)
                .read_to_end(&mut out),
        };
        match read {
            Ok(length) if length <= limit => Ok(out),
            Ok(_) => Err(format!("{self:?} body inflates past {limit} bytes")),
            Err(error) => Err(format!("{self:?} body unreadable: {error}")),
        }
    }
}

/// A stored body as the application sent it: inflated per the sysflag, or as it is when not
/// compressed. Returns the body and the sysflag with the compression bits cleared.
pub fn inflate_body(flags: i32, body: &[u8], limit: usize) -> Result<(Vec<u8>, i32), String> {
    match CompressionType::of_sysflag(flags)? {
        None => Ok((body.to_vec(), flags)),
        Some(kind) => {
            let inflated = kind.decompress(body, limit)?;
            Ok((
                inflated,
                flags & !(sysflag::COMPRESSED | sysflag::COMPRESSION_TYPE_MASK),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect()
    }

    #[test]
    fn every_type_round_trips_through_its_sysflag() {
        let body = sample();
        for kind in [
            CompressionType::Zlib,
            CompressionType::Zstd,
            CompressionType::Lz4,
        ] {
            let compressed = kind.compress(&body, DEFAULT_LEVEL).unwrap();
            assert!(compressed.len() < body.len() / 2, "{kind:?} compresses");
            let flags = kind.sysflag_bits() | sysflag::MULTI_TAGS;
            assert_eq!(CompressionType::of_sysflag(flags).unwrap(), Some(kind));
            let (inflated, rest) = inflate_body(flags, &compressed, body.len()).unwrap();
            assert_eq!(inflated, body, "{kind:?}");
            assert_eq!(rest, sysflag::MULTI_TAGS);
        }
    }

    #[test]
    fn zlib_keeps_the_4x_sysflag_and_reads_type_3_too() {
        assert_eq!(CompressionType::Zlib.sysflag_bits(), sysflag::COMPRESSED);
        let both = sysflag::COMPRESSED | sysflag::COMPRESSION_ZLIB;
        assert_eq!(
            CompressionType::of_sysflag(both).unwrap(),
            Some(CompressionType::Zlib)
        );
        assert_eq!(CompressionType::of_sysflag(0).unwrap(), None);
        // Type bits without the compressed bit mean nothing is compressed.
        assert_eq!(
            CompressionType::of_sysflag(sysflag::COMPRESSION_ZSTD).unwrap(),
            None
        );
    }

    #[test]
    fn bombs_and_garbage_are_errors() {
        let zeros = vec![0u8; 1 << 20];
        for kind in [
            CompressionType::Zlib,
            CompressionType::Zstd,
            CompressionType::Lz4,
        ] {
            let compressed = kind.compress(&zeros, DEFAULT_LEVEL).unwrap();
            let error = kind.decompress(&compressed, 1000).unwrap_err();
            assert!(error.contains("past 1000"), "{kind:?}: {error}");
            assert!(kind.decompress(b"not compressed at all", 1000).is_err());
        }
        let unknown = sysflag::COMPRESSED | (0x5 << 8);
        assert!(CompressionType::of_sysflag(unknown).is_err());
    }
}

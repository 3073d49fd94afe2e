//! The bytes of classic master/slave replication (protocol.md §7), and the master's choice of
//! where to start: pure functions, no sockets.
//!
//! Slave → master: 8-byte big-endian offsets (how far the slave's log reaches). Master →
//! slave: a 12-byte header (start offset, body length) and that many bytes of the log; a
//! header with no body is a heartbeat.

/// One slave report.
pub const REPORT_BYTES: usize = 8;
/// The master's transfer header.
pub const HEADER_BYTES: usize = 12;
/// The largest transfer body a slave accepts. Java masters send at most
/// `haTransferBatchSize` (32 KiB); anything near this is not a master talking.
pub const MAX_TRANSFER_BYTES: u32 = 4 << 20;

pub fn encode_report(offset: u64) -> [u8; REPORT_BYTES] {
    offset.to_be_bytes()
}

/// Consumes every complete report at the front of `buf` and returns the last one: a master
/// acts on the newest, as Java's does. Bytes of an incomplete report stay in `buf`.
pub fn take_last_report(buf: &mut Vec<u8>) -> Option<u64> {
    let complete = buf.len() / REPORT_BYTES * REPORT_BYTES;
    if complete == 0 {
        return None;
    }
    let mut last = [0u8; REPORT_BYTES];
    last.copy_from_slice(&buf[complete - REPORT_BYTES..complete]);
    buf.drain(..complete);
    Some(u64::from_be_bytes(last))
}

/// A transfer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferHeader {
    /// Where in the log the body starts.
    pub offset: u64,
    pub body_bytes: u32,
}

impl TransferHeader {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[..8].copy_from_slice(&self.offset.to_be_bytes());
        out[8..].copy_from_slice(&self.body_bytes.to_be_bytes());
        out
    }

    /// Refuses a negative offset or length, or a body above [`MAX_TRANSFER_BYTES`].
    pub fn decode(bytes: &[u8; HEADER_BYTES]) -> Result<TransferHeader, String> {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&bytes[..8]);
        let offset = i64::from_be_bytes(offset);
        let body = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if offset < 0 || body < 0 || body as u32 > MAX_TRANSFER_BYTES {
            return Err(format!(
                "transfer header with offset {offset} and body length {body}"
            ));
        }
        Ok(TransferHeader {
            offset: offset as u64,
            body_bytes: body as u32,
        })
    }
}

/// Where a master starts sending after a slave's first report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    At(u64),
    /// The slave's log reaches past the master's: it holds data the master does not (a
    /// master that crashed before replicating, then restarted with less).
    SlaveAhead {
        slave: u64,
        master: u64,
    },
}

/// An empty slave (report 0) starts at the beginning of the master's last file, as in Java;
/// any other slave where its log ends.
pub fn start_offset(report: u64, master_end: u64, file_size: u64) -> Start {
    if report > master_end {
        return Start::SlaveAhead {
            slave: report,
            master: master_end,
        };
    }
    if report == 0 {
        return Start::At(master_end - master_end % file_size.max(1));
    }
    Start::At(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_take_the_last_complete_one() {
        let mut buf = Vec::new();
        assert_eq!(take_last_report(&mut buf), None);
        buf.extend(encode_report(5));
        buf.extend(encode_report(900));
        buf.extend(&encode_report(7)[..3]);
        assert_eq!(take_last_report(&mut buf), Some(900));
        assert_eq!(buf.len(), 3, "the partial report waits");
        buf.extend(&encode_report(7)[3..]);
        assert_eq!(take_last_report(&mut buf), Some(7));
        assert!(buf.is_empty());
    }

    #[test]
    fn headers_round_trip_and_refuse_nonsense() {
        let header = TransferHeader {
            offset: 1 << 33,
            body_bytes: 32768,
        };
        let bytes = header.encode();
        assert_eq!(&bytes[..8], &(1u64 << 33).to_be_bytes());
        assert_eq!(TransferHeader::decode(&bytes), Ok(header));
        let mut negative = bytes;
        negative[0] = 0x80;
        assert!(TransferHeader::decode(&negative).is_err());
        let huge = TransferHeader {
            offset: 0,
            body_bytes: MAX_TRANSFER_BYTES + 1,
        }
        .encode();
        assert!(TransferHeader::decode(&huge).is_err());
    }

    #[test]
    fn the_start_follows_java_and_catches_a_slave_ahead() {
        let gib = 1 << 30;
        assert_eq!(start_offset(0, 3 * gib + 10, gib), Start::At(3 * gib));
        assert_eq!(start_offset(0, 0, gib), Start::At(0));
        assert_eq!(start_offset(500, 3 * gib, gib), Start::At(500));
        assert_eq!(start_offset(3 * gib, 3 * gib, gib), Start::At(3 * gib));
        assert_eq!(
            start_offset(3 * gib + 1, 3 * gib, gib),
            Start::SlaveAhead {
                slave: 3 * gib + 1,
                master: 3 * gib
            }
        );
    }
}

//! The `checkpoint` file: how far the store's state is known to be durable (protocol.md §6.5).
//!
//! ```text
//!  offset  size  field
//!  0       8     physicMsgTimestamp   store time of the last flushed CommitLog message (Java)
//!  8       8     logicsMsgTimestamp   the same, when ConsumeQueues were last flushed (Java)
//!  16      8     indexMsgTimestamp    the same, when the index was last flushed (Java)
//!  24      8     commitLogFlushedOffset     Bolide: CommitLog bytes below this are durable
//!  32      8     dispatchedDurableOffset    Bolide: every record below this has durable
//!                                           ConsumeQueue and index entries
//!  40      8     "BOLIDECP" marker
//!  48      4     CRC-32 of bytes 0..48
//!  52..4096      zero
//! ```
//!
//! The first 24 bytes are Java's layout, so RocketMQ tools reading the file still see their
//! timestamps. Each write replaces the file atomically (temporary file, fsync, rename,
//! directory fsync), so a crash leaves the old checkpoint or the new one; the CRC still tells a
//! foreign or damaged file from a good one, and recovery then falls back to scanning the whole
//! log.

use std::path::Path;
use std::sync::Arc;

use super::error::{StoreError, StoreResult};
use super::mapped_file::FileSystem;

pub const CHECKPOINT_FILE_BYTES: u64 = 4096;
const MARKER: &[u8; 8] = b"BOLIDECP";
const CRC_AT: usize = 48;
const _: () = assert!(CRC_AT == 6 * 8);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointData {
    pub physic_msg_timestamp_ms: i64,
    pub logics_msg_timestamp_ms: i64,
    pub index_msg_timestamp_ms: i64,
    pub commit_log_flushed_offset: u64,
    pub dispatched_durable_offset: u64,
}

pub struct Checkpoint {
    fs: Arc<dyn FileSystem>,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .finish()
    }
}

impl CheckpointData {
    fn encode(&self) -> [u8; CRC_AT + 4] {
        let mut out = [0u8; CRC_AT + 4];
        out[0..8].copy_from_slice(&self.physic_msg_timestamp_ms.to_be_bytes());
        out[8..16].copy_from_slice(&self.logics_msg_timestamp_ms.to_be_bytes());
        out[16..24].copy_from_slice(&self.index_msg_timestamp_ms.to_be_bytes());
        out[24..32].copy_from_slice(&self.commit_log_flushed_offset.to_be_bytes());
        out[32..40].copy_from_slice(&self.dispatched_durable_offset.to_be_bytes());
        out[40..48].copy_from_slice(MARKER);
        let crc = crc32fast::hash(&out[..CRC_AT]);
        out[CRC_AT..].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8; CRC_AT + 4]) -> Option<Self> {
        let crc = u32::from_be_bytes([bytes[48], bytes[49], bytes[50], bytes[51]]);
        if &bytes[40..48] != MARKER || crc != crc32fast::hash(&bytes[..CRC_AT]) {
            return None;
        }
        let long = |at: usize| {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&bytes[at..at + 8]);
            eight
        };
        Some(CheckpointData {
            physic_msg_timestamp_ms: i64::from_be_bytes(long(0)),
            logics_msg_timestamp_ms: i64::from_be_bytes(long(8)),
            index_msg_timestamp_ms: i64::from_be_bytes(long(16)),
            commit_log_flushed_offset: u64::from_be_bytes(long(24)),
            dispatched_durable_offset: u64::from_be_bytes(long(32)),
        })
    }
}

impl Checkpoint {
    /// Reads the checkpoint; `None` data when missing, damaged or not Bolide's.
    pub fn open(
        fs: &Arc<dyn FileSystem>,
        path: &Path,
    ) -> StoreResult<(Self, Option<CheckpointData>)> {
        let bytes = fs
            .read(path)
            .map_err(|e| StoreError::io(format!("cannot read {}", path.display()), e))?;
        let data = bytes.and_then(|bytes| {
            let head: &[u8; CRC_AT + 4] = bytes.get(..CRC_AT + 4)?.try_into().ok()?;
            CheckpointData::decode(head)
        });
        Ok((
            Checkpoint {
                fs: fs.clone(),
                path: path.to_owned(),
            },
            data,
        ))
    }

    /// Replaces the checkpoint atomically and durably.
    pub fn write(&self, data: &CheckpointData) -> StoreResult<()> {
        let mut bytes = vec![0u8; CHECKPOINT_FILE_BYTES as usize];
        bytes[..CRC_AT + 4].copy_from_slice(&data.encode());
        self.fs
            .write_atomic(&self.path, &bytes)
            .map_err(|e| StoreError::io(format!("cannot write {}", self.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mapped_file::SimFileSystem;

    #[test]
    fn round_trips_and_rejects_torn_data() {
        let sim = SimFileSystem::new();
        let fs: Arc<dyn FileSystem> = Arc::new(sim.clone());
        let path = Path::new("/store/checkpoint");
        let (checkpoint, data) = Checkpoint::open(&fs, path).expect("open");
        assert_eq!(data, None);
        let written = CheckpointData {
            physic_msg_timestamp_ms: 1,
            logics_msg_timestamp_ms: 2,
            index_msg_timestamp_ms: 3,
            commit_log_flushed_offset: 4096,
            dispatched_durable_offset: 2048,
        };
        checkpoint.write(&written).expect("write");
        let after_crash: Arc<dyn FileSystem> = Arc::new(sim.crash());
        assert_eq!(
            Checkpoint::open(&after_crash, path).expect("open").1,
            Some(written)
        );
        sim.corrupt(path, 30, 0x01).expect("corrupt");
        assert_eq!(Checkpoint::open(&fs, path).expect("open").1, None);
        // Java's first field stays where Java reads it.
        let mut head = [0u8; 8];
        fs.open(path)
            .expect("open")
            .read_at(0, &mut head)
            .expect("read");
        assert_eq!(i64::from_be_bytes(head), 1);
    }
}

//! Start-up recovery (protocol.md §6.6, with Bolide's stricter rule on corruption).
//!
//! 1. ConsumeQueues cut their own torn tails.
//! 2. The CommitLog is re-read from the start of the file holding the checkpoint's
//!    "dispatched and durable" offset (from its first file when the checkpoint is missing or
//!    torn), verifying each record's CRC and re-dispatching it: ConsumeQueue puts are
//!    idempotent, and index entries are re-made only past what the index had made durable.
//!    Units of records past the checkpoint's durable point are rewritten rather than checked:
//!    their ConsumeQueue files may exist (created before the crash) without their bytes.
//! 3. Where valid data ends, the log is cut, and ConsumeQueue units pointing past the cut go.
//!
//! Telling a torn tail from corruption: a zero length or magic is the end of the data; an
//! impossible length is a torn tail. But an invalid record below the offset the checkpoint
//! recorded as flushed, or one followed by a valid record, is corruption of data that was (or
//! may have been) acknowledged. RocketMQ silently cuts the log there, throwing away every later
//! message; Bolide refuses to start and names the file and offset, unless the operator sets
//! `recoverTruncateCorruptCommitLog=true`.

use std::time::{Duration, Instant};

use bolide_client::protocol::message::{self, Record};

use super::checkpoint::CheckpointData;
use super::commit_log::{CommitLog, DispatchRequest, Dispatcher, ScanEnd};
use super::dispatch::StoreDispatcher;
use super::error::{StoreError, StoreResult};

/// What recovery found and did, for the log line and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub abnormal: bool,
    pub scanned_from: u64,
    pub end_offset: u64,
    pub records_scanned: u64,
    /// Set when a torn tail or (opted-in) corruption was cut.
    pub truncated_at: Option<(u64, String)>,
    pub last_store_timestamp_ms: i64,
    pub duration: Duration,
}

pub fn recover(
    commit_log: &CommitLog,
    dispatcher: &StoreDispatcher,
    checkpoint: Option<CheckpointData>,
    abnormal: bool,
    check_crc: bool,
    truncate_corrupt: bool,
) -> StoreResult<RecoveryReport> {
    let started = Instant::now();
    dispatcher.queues.recover_all()?;
    let file_size = commit_log.file_size();
    let first = commit_log.files().min_offset();
    let Some(first) = first else {
        return Ok(RecoveryReport {
            abnormal,
            scanned_from: 0,
            end_offset: 0,
            records_scanned: 0,
            truncated_at: None,
            last_store_timestamp_ms: 0,
            duration: started.elapsed(),
        });
    };
    let durable_dispatch = checkpoint.map_or(first, |c| c.dispatched_durable_offset.max(first));
    let scanned_from = durable_dispatch - durable_dispatch % file_size;
    // Index entries from the replay point on are rebuilt exactly, not duplicated.
    if let Some(index) = &dispatcher.index {
        index.discard_from(durable_dispatch)?;
    }
    dispatcher.set_index_from(durable_dispatch);
    dispatcher.set_replace_units_from(durable_dispatch);

    let mut records = 0u64;
    let mut last_store_timestamp_ms = 0;
    let end = commit_log.scan(scanned_from, check_crc, &mut |record| {
        records += 1;
        last_store_timestamp_ms = record.store_timestamp_ms;
        dispatcher.dispatch(&DispatchRequest::from_record(record))
    })?;
    let end_offset = end.offset();
    let truncated_at = match &end {
        ScanEnd::EndOfData { .. } => None,
        ScanEnd::Invalid { offset, reason } => {
            let flushed_claim = checkpoint.map_or(0, |c| c.commit_log_flushed_offset);
            let follows_valid = valid_data_follows(commit_log, *offset, check_crc)?;
            if *offset < flushed_claim || follows_valid {
                corruption(
                    commit_log,
                    *offset,
                    reason,
                    flushed_claim,
                    follows_valid,
                    truncate_corrupt,
                )?;
            } else {
                tracing::warn!(offset, %reason, "commit log has a torn tail; cutting it");
            }
            Some((*offset, reason.clone()))
        }
    };
    commit_log.truncate_to(end_offset)?;
    dispatcher.queues.truncate_physical_all(end_offset)?;
    if let Some(index) = &dispatcher.index {
        index.discard_from(end_offset)?;
    }
    commit_log.set_queue_offsets(dispatcher.queues.max_offsets());
    dispatcher
        .queues
        .correct_min_offsets(commit_log.min_offset());
    dispatcher.set_index_from(0);
    dispatcher.set_replace_units_from(u64::MAX);
    Ok(RecoveryReport {
        abnormal,
        scanned_from,
        end_offset,
        records_scanned: records,
        truncated_at,
        last_store_timestamp_ms,
        duration: started.elapsed(),
    })
}

/// Refuses to start (or, opted in, warns and lets the cut happen).
fn corruption(
    commit_log: &CommitLog,
    offset: u64,
    reason: &str,
    flushed_claim: u64,
    follows_valid: bool,
    truncate_corrupt: bool,
) -> StoreResult<()> {
    let file = commit_log.files().find(offset);
    let (path, in_file) = file
        .as_ref()
        .map_or((commit_log.files().dir().to_owned(), offset), |f| {
            (f.path.clone(), offset - f.start_offset)
        });
    let lost = commit_log
        .files()
        .last()
        .map_or(0, |f| f.end_offset().saturating_sub(offset));
    let why = if follows_valid {
        "valid records follow it"
    } else {
        "it lies below the offset the checkpoint recorded as flushed"
    };
    if truncate_corrupt {
        tracing::error!(
            file = %path.display(), offset = in_file, %reason, flushed_claim,
            "corrupt commit log record; recoverTruncateCorruptCommitLog=true: cutting the log here and losing everything after it"
        );
        return Ok(());
    }
    Err(StoreError::Corrupt {
        file: path,
        offset: in_file,
        reason: format!(
            "{reason}; {why}, so this is corruption, not a torn tail. Refusing to start rather \
             than discard later data (up to {lost} bytes). Restore the file, or set \
             recoverTruncateCorruptCommitLog=true to cut the log at this record"
        ),
    })
}

/// Is there a valid record after the invalid one at `offset`: right behind it (when its length
/// is plausible), or at the start of any later file?
fn valid_data_follows(commit_log: &CommitLog, offset: u64, check_crc: bool) -> StoreResult<bool> {
    let mut head = [0u8; 4];
    if commit_log.files().read_at(offset, &mut head)? {
        let size = i32::from_be_bytes(head);
        if size > 0 && valid_record_at(commit_log, offset + size as u64, check_crc)? {
            return Ok(true);
        }
    }
    for file in commit_log.files().files() {
        if file.start_offset > offset && valid_record_at(commit_log, file.start_offset, check_crc)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn valid_record_at(commit_log: &CommitLog, offset: u64, check_crc: bool) -> StoreResult<bool> {
    let Some(file) = commit_log.files().find(offset) else {
        return Ok(false);
    };
    let in_file = offset - file.start_offset;
    let left = file.file.capacity() - in_file;
    let mut head = [0u8; 4];
    if left < 4 || file.file.read_at(in_file, &mut head).is_err() {
        return Ok(false);
    }
    let size = i32::from_be_bytes(head);
    if size <= 0 || size as u64 > left {
        return Ok(false);
    }
    let mut record = vec![0u8; size as usize];
    if file.file.read_at(in_file, &mut record).is_err() {
        return Ok(false);
    }
    Ok(matches!(
        message::peek_record(&record, check_crc),
        Ok(Some(Record::Message(r))) if r.physical_offset == offset as i64
    ))
}

//! ConsumeQueue: the per-topic-queue index into the commit log (protocol.md §6.3, §6.6). A
//! consumer's offset is a *logical* offset n into this index; unit n says where message n of
//! the queue lives in the commit log.
//!
//! One unit, 20 bytes, big-endian, at byte n × 20 of the queue's byte space:
//!
//! ```text
//!  0                   8           12                  20
//!  +-------------------+-----------+-------------------+
//!  | commitLogOffset   | size      | tagsCode          |
//!  | i64               | i32       | i64               |
//!  +-------------------+-----------+-------------------+
//! ```
//!
//! The byte space is split into files of `units_per_file` units (300 000 = 6 000 000 bytes by
//! default) in `<root>/consumequeue/<topic>/<queueId>/`, each named by its 20-digit starting
//! byte offset. Units before a queue's first real entry (a queue whose offsets start late, e.g.
//! after retention removed its old files) hold the *filler* `(0, i32::MAX, 0)`, as Java writes.
//! A gap inside a queue gets fillers too, where Java would log and append the unit at the wrong
//! position: keeping unit n at byte n × 20 matters more than mimicking that.
//!
//! Concurrency: one writer (the store dispatches under the commit log's append lock) and any
//! number of readers. The writer copies a unit's bytes first and then publishes the new max
//! offset with `Release`; readers load it with `Acquire` and read only below it, so they never
//! see half a unit. Flushing and retention (`flush`, `delete_expired_files`,
//! `correct_min_offset`) may run on their own threads beside the writer; `recover` and
//! `truncate_physical` run only during recovery, when nothing else touches the queue.

use std::cmp::Ordering as Compare;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::error::{StoreError, StoreResult};
use super::mapped_file::FileSystem;
use super::mapped_file_queue::{Access, MappedFile, MappedFileQueue};

pub const CQ_UNIT_SIZE_BYTES: u64 = 20;
const _: () = assert!(CQ_UNIT_SIZE_BYTES == 8 + 4 + 8);
const UNIT_BYTES: usize = CQ_UNIT_SIZE_BYTES as usize;

/// Java's `mappedFileSizeConsumeQueue` / 20.
pub const DEFAULT_UNITS_PER_FILE: u64 = 300_000;
const _: () = assert!(DEFAULT_UNITS_PER_FILE * CQ_UNIT_SIZE_BYTES == 6_000_000);

/// The largest gap inside a queue that `put` fills (80 MiB of fillers). A bigger jump means a
/// bogus logical offset, and filling it would eat the disk.
pub const MAX_GAP_UNITS: u64 = 1 << 22;

/// Java stores offsets as `long`: beyond this a unit's byte position has no Java equivalent.
const MAX_LOGICAL_OFFSET: u64 = i64::MAX as u64 / CQ_UNIT_SIZE_BYTES;

/// Units read per I/O when scanning. Scans start small (most stop at the first unit) and
/// double up to this, which bounds the buffer at 80 KiB.
const SCAN_CHUNK_UNITS: u64 = 4096;
const FIRST_SCAN_CHUNK_UNITS: u64 = 16;

/// One ConsumeQueue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqUnit {
    pub commit_log_offset: u64,
    pub size: u32,
    /// Hash of the message's tags (protocol.md §4.3); the delivery time for delay topics.
    pub tags_code: i64,
}

impl CqUnit {
    /// Marks a logical offset that holds no message (a gap before a late-starting queue).
    pub const FILLER: CqUnit = CqUnit {
        commit_log_offset: 0,
        size: i32::MAX as u32,
        tags_code: 0,
    };

    pub fn encode(&self) -> [u8; UNIT_BYTES] {
        let mut bytes = [0u8; UNIT_BYTES];
        bytes[0..8].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.size.to_be_bytes());
        bytes[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        bytes
    }

    /// Decodes any 20 bytes; [`CqUnit::is_valid`] says whether they are a unit.
    pub fn decode(bytes: &[u8; UNIT_BYTES]) -> CqUnit {
        let mut offset = [0u8; 8];
        let mut size = [0u8; 4];
        let mut tags = [0u8; 8];
        offset.copy_from_slice(&bytes[0..8]);
        size.copy_from_slice(&bytes[8..12]);
        tags.copy_from_slice(&bytes[12..20]);
        CqUnit {
            commit_log_offset: u64::from_be_bytes(offset),
            size: u32::from_be_bytes(size),
            tags_code: i64::from_be_bytes(tags),
        }
    }

    pub fn is_filler(&self) -> bool {
        *self == CqUnit::FILLER
    }

    /// Java's recovery test (`offset >= 0 && size > 0` on signed fields): zeroed bytes, the
    /// unwritten tail of a file, fail it. The filler passes.
    pub fn is_valid(&self) -> bool {
        self.commit_log_offset <= i64::MAX as u64 && self.size > 0 && self.size <= i32::MAX as u32
    }

    /// First commit-log byte after the message.
    pub fn commit_log_end(&self) -> u64 {
        self.commit_log_offset.saturating_add(u64::from(self.size))
    }
}

/// The index of one topic + queue id. See the module docs for layout and concurrency.
#[derive(Debug)]
pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    files: MappedFileQueue,
    units_per_file: u64,
    /// Next logical offset to write; published after the unit's bytes.
    max_offset: AtomicU64,
    /// Smallest logical offset a consumer may read: earlier ones are fillers or point at
    /// deleted commit-log data.
    min_offset: AtomicU64,
    /// Largest `commit_log_offset + size` referenced, for recovery.
    max_physical_end: AtomicU64,
    /// Byte position below which the files are durable. The lock also serializes flushes.
    flushed_position: Mutex<u64>,
}

/// Byte position of a logical offset, and back.
fn position(logical_offset: u64) -> u64 {
    logical_offset * CQ_UNIT_SIZE_BYTES
}

fn logical(position: u64) -> u64 {
    position / CQ_UNIT_SIZE_BYTES
}

impl ConsumeQueue {
    /// Opens the queue's files. The offsets stay 0 until [`ConsumeQueue::recover`] runs: only
    /// recovery knows where the valid units end.
    pub fn load(
        fs: Arc<dyn FileSystem>,
        root: &Path,
        topic: &str,
        queue_id: i32,
        units_per_file: u64,
    ) -> StoreResult<Self> {
        check_topic_dir_name(topic)?;
        // Java maps a file with an int-sized buffer; a bigger one is a configuration mistake.
        let file_size = units_per_file
            .checked_mul(CQ_UNIT_SIZE_BYTES)
            .filter(|size| *size > 0 && *size <= i32::MAX as u64)
            .ok_or_else(|| {
                StoreError::Config(format!("{units_per_file} units per consume queue file"))
            })?;
        let dir = queue_dir(root, topic, queue_id);
        Ok(ConsumeQueue {
            topic: topic.to_owned(),
            queue_id,
            files: MappedFileQueue::load_with_access(fs, &dir, file_size, Access::Random)?,
            units_per_file,
            max_offset: AtomicU64::new(0),
            min_offset: AtomicU64::new(0),
            max_physical_end: AtomicU64::new(0),
            flushed_position: Mutex::new(0),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// Next logical offset to be written (one past the last unit).
    pub fn max_offset(&self) -> u64 {
        self.max_offset.load(Ordering::Acquire)
    }

    pub fn min_offset(&self) -> u64 {
        self.min_offset.load(Ordering::Acquire)
    }

    /// Largest commit-log end (offset + size) any unit references.
    pub fn max_physical_end(&self) -> u64 {
        self.max_physical_end.load(Ordering::Acquire)
    }

    /// Bytes written but not yet flushed, for a "flush at least N pages" policy.
    pub fn unflushed_bytes(&self) -> u64 {
        position(self.max_offset()).saturating_sub(*self.flushed_position.lock())
    }

    /// First logical offset of the file after the one holding `logical_offset` (Java's
    /// `rollNextFile`): where a pull continues when it finds no unit (OFFSET_FOUND_NULL).
    pub fn roll_next_file(&self, logical_offset: u64) -> u64 {
        logical_offset + self.units_per_file - logical_offset % self.units_per_file
    }

    /// Finds the end of the valid units, cuts everything after it, and sets the offsets.
    /// Like Java it scans from the third-last file: older files were complete when their
    /// successors were started.
    pub fn recover(&self) -> StoreResult<()> {
        let files = self.files.files();
        let (Some(scan_file), Some(last)) =
            (files.get(files.len().saturating_sub(3)), files.last())
        else {
            self.reset();
            return Ok(());
        };
        let scan_from = logical(scan_file.start_offset);
        let (valid_end, last_real_end) = self.scan_valid(scan_from, logical(last.end_offset()))?;
        self.files.truncate_from(position(valid_end))?;
        // The scanned bytes came from the page cache, which need not be durable: the next
        // flush makes them so before a checkpoint claims them.
        *self.flushed_position.lock() = position(scan_from.min(valid_end));
        self.max_offset.store(valid_end, Ordering::Release);
        let physical_end = match last_real_end {
            Some(end) => end,
            None => self.last_real_end(valid_end)?,
        };
        self.max_physical_end.store(physical_end, Ordering::Release);
        let first = self.first_logical().unwrap_or(valid_end);
        let min = self.find_forward(first, valid_end, |_, unit| !unit.is_filler())?;
        let min = min.map_or(valid_end, |(logical_offset, _)| logical_offset);
        self.min_offset.store(min, Ordering::Release);
        Ok(())
    }

    /// Where the valid units in [from, to) end, and the commit-log end of the last real one.
    /// A unit is valid if it passes [`CqUnit::is_valid`] and does not point before its
    /// predecessor: a queue's units are dispatched in commit-log order, so a backwards
    /// offset is a torn unit (a page written back only in part), not data.
    fn scan_valid(&self, from: u64, to: u64) -> StoreResult<(u64, Option<u64>)> {
        let mut last_real_end: Option<u64> = None;
        let invalid = self.find_forward(from, to, |logical_offset, unit| {
            if !unit.is_valid() {
                return true;
            }
            if unit.is_filler() {
                return false;
            }
            if let Some(end) = last_real_end.filter(|end| unit.commit_log_offset < *end) {
                tracing::warn!(topic = %self.topic, queue_id = self.queue_id, logical_offset,
                    ?unit, previous_end = end, "unit points before its predecessor: torn");
                return true;
            }
            last_real_end = Some(unit.commit_log_end());
            false
        })?;
        Ok((invalid.map_or(to, |(end, _)| end), last_real_end))
    }

    /// Stores `unit` at `logical_offset`. Idempotent, because recovery re-dispatches commit-log
    /// records whose units may already be here:
    /// * below max: the unit must already be there unchanged (else `Corrupt`, naming the file);
    ///   offsets whose file retention removed are skipped;
    /// * at max: appended, rolling to a new file as needed;
    /// * above max in a queue with no files: a late-starting queue; its first file is filled
    ///   with fillers up to the unit and the min offset starts at it;
    /// * above max otherwise: a gap, filled with fillers and logged (see the module docs).
    pub fn put(&self, logical_offset: u64, unit: CqUnit) -> StoreResult<()> {
        if logical_offset >= MAX_LOGICAL_OFFSET || !unit.is_valid() || unit.is_filler() {
            let reason = format!("refusing to store {unit:?} at logical offset {logical_offset}");
            return Err(self.corrupt(logical_offset, reason));
        }
        let max = self.max_offset();
        match logical_offset.cmp(&max) {
            Compare::Less => self.verify_present(logical_offset, unit),
            Compare::Equal => self.append(logical_offset, unit),
            Compare::Greater if self.files.is_empty() => self.start_late(logical_offset, unit),
            Compare::Greater => self.fill_gap(max, logical_offset, unit),
        }
    }

    /// Up to `max_units` units from `logical_offset`, stopping at max and at the end of the
    /// file holding it (a pull reads one file at a time). Empty when the offset is at or past
    /// max or its file was removed. Fillers are returned as they are: callers skip them.
    pub fn units(&self, logical_offset: u64, max_units: usize) -> StoreResult<Vec<CqUnit>> {
        let max = self.max_offset();
        if logical_offset >= max || max_units == 0 {
            return Ok(Vec::new());
        }
        let Some(file) = self.files.find(position(logical_offset)) else {
            return Ok(Vec::new());
        };
        let end = max.min(logical(file.end_offset()));
        read_in_file(
            &file,
            logical_offset,
            (max_units as u64).min(end - logical_offset),
        )
    }

    /// Like [`ConsumeQueue::put`], but a different unit below max is overwritten instead of
    /// reported. Recovery uses it for records past the checkpoint's durable point, whose units
    /// were never promised to be on disk: a file created before a crash may still hold zeros
    /// (or a torn unit) where they belong, and the CRC-checked commit log is the truth.
    pub fn put_replacing(&self, logical_offset: u64, unit: CqUnit) -> StoreResult<()> {
        if logical_offset >= self.max_offset() {
            return self.put(logical_offset, unit);
        }
        let Some(existing) = self.unit(logical_offset)? else {
            // Retention removed its file: nothing to restore.
            return Ok(());
        };
        if existing == unit {
            return Ok(());
        }
        tracing::warn!(topic = %self.topic, queue_id = self.queue_id, logical_offset,
            ?existing, ?unit, "rebuilding a consume queue unit that never reached the disk");
        let Some(file) = self.files.find(position(logical_offset)) else {
            return Ok(());
        };
        write_in_file(&file, logical_offset, &unit.encode())?;
        self.max_physical_end
            .fetch_max(unit.commit_log_end(), Ordering::AcqRel);
        // The next flush must cover the rewritten unit before a checkpoint claims it.
        let mut flushed = self.flushed_position.lock();
        *flushed = (*flushed).min(position(logical_offset));
        Ok(())
    }

    pub fn unit(&self, logical_offset: u64) -> StoreResult<Option<CqUnit>> {
        Ok(self.units(logical_offset, 1)?.into_iter().next())
    }

    /// Removes the units referencing commit-log bytes at or past `commit_log_end`, which
    /// recovery cut. Walks back from the end; stops at a filler, which references nothing.
    pub fn truncate_physical(&self, commit_log_end: u64) -> StoreResult<()> {
        let (Some(first), max) = (self.first_logical(), self.max_offset()) else {
            return Ok(());
        };
        let keep = self.find_backward(max, first, |unit| {
            unit.is_filler() || unit.commit_log_end() <= commit_log_end
        })?;
        let new_max = keep.map_or(first, |(logical_offset, _)| logical_offset + 1);
        if new_max >= max {
            return Ok(());
        }
        tracing::info!(topic = %self.topic, queue_id = self.queue_id, from = new_max, to = max,
            commit_log_end, "removing consume queue units past the recovered commit log");
        self.files.truncate_from(position(new_max))?;
        self.max_offset.store(new_max, Ordering::Release);
        self.min_offset.fetch_min(new_max, Ordering::AcqRel);
        let mut flushed = self.flushed_position.lock();
        *flushed = (*flushed).min(position(new_max));
        drop(flushed);
        let physical_end = self.last_real_end(new_max)?;
        self.max_physical_end.store(physical_end, Ordering::Release);
        Ok(())
    }

    /// Moves the min offset up to the first real unit whose message starts at or after
    /// `commit_log_min` (or to max if there is none). A failed read keeps the old min
    /// (logged): that only delays hiding messages already gone, which pulls report anyway.
    pub fn correct_min_offset(&self, commit_log_min: u64) {
        let found = self.search(|unit| unit.commit_log_offset >= commit_log_min);
        match found {
            Ok(min) => _ = self.min_offset.fetch_max(min, Ordering::AcqRel),
            Err(error) => tracing::warn!(topic = %self.topic, queue_id = self.queue_id,
                commit_log_min, %error, "cannot correct the consume queue min offset"),
        }
    }

    /// Removes whole files, oldest first, whose last real unit starts below `commit_log_min`
    /// (commit-log retention removes whole files, so that message is gone); never the last
    /// file, which the writer appends to. Then corrects the min offset. Returns how many went.
    pub fn delete_expired_files(&self, commit_log_min: u64) -> StoreResult<usize> {
        let mut removed = 0;
        while let [first, _, ..] = self.files.files().as_slice() {
            let end = logical(first.end_offset()).min(self.max_offset());
            let start = logical(first.start_offset);
            let last_real = self.find_backward(end, start, |unit| !unit.is_filler())?;
            if last_real.is_some_and(|(_, unit)| unit.commit_log_offset >= commit_log_min)
                || self.files.remove_first(1)?.is_none()
            {
                break;
            }
            removed += 1;
        }
        if let Some(first) = self.first_logical() {
            self.min_offset.fetch_max(first, Ordering::AcqRel);
        }
        self.correct_min_offset(commit_log_min);
        Ok(removed)
    }

    /// Makes the written units durable. The flushed position advances only once every file
    /// in the range flushed; the caller poisons the store on error.
    pub fn flush(&self) -> StoreResult<()> {
        let mut flushed = self.flushed_position.lock();
        let written = position(self.max_offset());
        for file in self.files.files() {
            let start = (*flushed).max(file.start_offset);
            let end = written.min(file.end_offset());
            if start < end {
                let (from, to) = (start - file.start_offset, end - file.start_offset);
                file.file.flush_range(from, to).map_err(|e| {
                    StoreError::io(format!("cannot flush {}", file.path.display()), e)
                })?;
            }
        }
        *flushed = written.max(*flushed);
        Ok(())
    }

    /// RocketMQ's `getOffsetInQueueByTime`: the first offset in [min, max) whose message was
    /// stored at or after `timestamp_ms`, max if all are earlier (0 for a queue never
    /// written). `store_time(commit_log_offset, size)` reads a message's store timestamp;
    /// `None` (its commit-log file is gone) counts as earlier.
    pub fn offset_by_timestamp(
        &self,
        timestamp_ms: i64,
        mut store_time: impl FnMut(u64, u32) -> Option<i64>,
    ) -> StoreResult<u64> {
        self.search(|unit| {
            store_time(unit.commit_log_offset, unit.size).is_some_and(|time| time >= timestamp_ms)
        })
    }

    /// Removes the queue's files and directory (a deleted topic).
    pub fn destroy(&self) -> StoreResult<()> {
        self.files.destroy()?;
        self.reset();
        Ok(())
    }

    fn reset(&self) {
        *self.flushed_position.lock() = 0;
        self.max_offset.store(0, Ordering::Release);
        self.min_offset.store(0, Ordering::Release);
        self.max_physical_end.store(0, Ordering::Release);
    }

    fn first_logical(&self) -> Option<u64> {
        self.files.min_offset().map(logical)
    }

    fn verify_present(&self, logical_offset: u64, unit: CqUnit) -> StoreResult<()> {
        match self.unit(logical_offset)? {
            // Retention removed its file: nothing to verify, nothing to restore.
            None => Ok(()),
            Some(existing) if existing == unit => Ok(()),
            Some(existing) => Err(self.corrupt(
                logical_offset,
                format!("logical offset {logical_offset} holds {existing:?}, not {unit:?}"),
            )),
        }
    }

    fn append(&self, logical_offset: u64, unit: CqUnit) -> StoreResult<()> {
        let file = self.file_for_write(logical_offset)?;
        write_in_file(&file, logical_offset, &unit.encode())?;
        self.max_physical_end
            .fetch_max(unit.commit_log_end(), Ordering::AcqRel);
        self.max_offset.store(logical_offset + 1, Ordering::Release);
        Ok(())
    }

    fn start_late(&self, logical_offset: u64, unit: CqUnit) -> StoreResult<()> {
        let file_start = logical_offset - logical_offset % self.units_per_file;
        self.write_fillers(file_start, logical_offset)?;
        self.append(logical_offset, unit)?;
        // Stored after max: a reader loading min, then max, never sees min > max.
        self.min_offset.store(logical_offset, Ordering::Release);
        Ok(())
    }

    fn fill_gap(&self, max: u64, logical_offset: u64, unit: CqUnit) -> StoreResult<()> {
        let gap = logical_offset - max;
        if gap > MAX_GAP_UNITS {
            let reason = format!("a gap of {gap} units after max offset {max} is too large");
            return Err(self.corrupt(logical_offset, reason));
        }
        tracing::warn!(topic = %self.topic, queue_id = self.queue_id, expected = max,
            logical_offset, "consume queue offsets skip ahead; filling the gap with fillers");
        self.write_fillers(max, logical_offset)?;
        self.append(logical_offset, unit)
    }

    /// The file holding `logical_offset`, created if it is the next one.
    fn file_for_write(&self, logical_offset: u64) -> StoreResult<Arc<MappedFile>> {
        let position = position(logical_offset);
        self.files
            .file_at(position - position % self.files.file_size())
    }

    fn write_fillers(&self, from: u64, to: u64) -> StoreResult<()> {
        let filler = CqUnit::FILLER.encode();
        let chunk = filler.repeat(SCAN_CHUNK_UNITS.min(to - from) as usize);
        let mut next = from;
        while next < to {
            let file = self.file_for_write(next)?;
            let count = (to.min(logical(file.end_offset())) - next).min(SCAN_CHUNK_UNITS);
            write_in_file(&file, next, &chunk[..count as usize * UNIT_BYTES])?;
            next += count;
        }
        Ok(())
    }

    /// The first unit in [from, to) for which `stop` holds. Offsets whose files retention
    /// removed are skipped; a missing later file ends the scan.
    fn find_forward(
        &self,
        from: u64,
        to: u64,
        mut stop: impl FnMut(u64, CqUnit) -> bool,
    ) -> StoreResult<Option<(u64, CqUnit)>> {
        let (mut next, mut chunk) = (from, FIRST_SCAN_CHUNK_UNITS);
        while next < to {
            let Some(file) = self.files.find(position(next)) else {
                match self.first_logical() {
                    Some(first) if next < first => next = first,
                    _ => return Ok(None),
                }
                continue;
            };
            let count = (to.min(logical(file.end_offset())) - next).min(chunk);
            for (index, unit) in (next..).zip(read_in_file(&file, next, count)?) {
                if stop(index, unit) {
                    return Ok(Some((index, unit)));
                }
            }
            next += count;
            chunk = (chunk * 2).min(SCAN_CHUNK_UNITS);
        }
        Ok(None)
    }

    /// The last unit in [down_to, before) for which `stop` holds, walking backwards.
    fn find_backward(
        &self,
        before: u64,
        down_to: u64,
        mut stop: impl FnMut(CqUnit) -> bool,
    ) -> StoreResult<Option<(u64, CqUnit)>> {
        let (mut end, mut chunk) = (before, FIRST_SCAN_CHUNK_UNITS);
        while end > down_to {
            let Some(file) = self.files.find(position(end - 1)) else {
                return Ok(None);
            };
            let start = logical(file.start_offset)
                .max(down_to)
                .max(end.saturating_sub(chunk));
            let units = read_in_file(&file, start, end - start)?
                .into_iter()
                .enumerate();
            if let Some((index, unit)) = units.rev().find(|(_, unit)| stop(*unit)) {
                return Ok(Some((start + index as u64, unit)));
            }
            end = start;
            chunk = (chunk * 2).min(SCAN_CHUNK_UNITS);
        }
        Ok(None)
    }

    /// End of the last real unit before `before`, or 0.
    fn last_real_end(&self, before: u64) -> StoreResult<u64> {
        let first = self.first_logical().unwrap_or(before);
        let last = self.find_backward(before, first, |unit| !unit.is_filler())?;
        Ok(last.map_or(0, |(_, unit)| unit.commit_log_end()))
    }

    /// The first real unit in [min, max) for which `is_at_or_after` holds (max if none).
    /// Binary search: the predicate must be monotone over real units, which are in
    /// commit-log order; a probe landing on fillers judges by the next real unit.
    fn search(&self, mut is_at_or_after: impl FnMut(CqUnit) -> bool) -> StoreResult<u64> {
        let max = self.max_offset();
        let first = self.first_logical().unwrap_or(max);
        let (mut low, mut high) = (self.min_offset().max(first), max);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.find_forward(middle, high, |_, unit| !unit.is_filler())? {
                Some((real, unit)) if !is_at_or_after(unit) => low = real + 1,
                _ => high = middle,
            }
        }
        let answer = self.find_forward(low, max, |_, unit| !unit.is_filler())?;
        Ok(answer.map_or(max, |(logical_offset, _)| logical_offset))
    }

    fn corrupt(&self, logical_offset: u64, reason: String) -> StoreError {
        let position = logical_offset.saturating_mul(CQ_UNIT_SIZE_BYTES);
        let (file, offset) = match self.files.find(position) {
            Some(file) => (file.path.clone(), position - file.start_offset),
            None => (self.files.dir().to_owned(), position),
        };
        StoreError::Corrupt {
            file,
            offset,
            reason,
        }
    }
}

fn read_in_file(file: &MappedFile, logical_offset: u64, count: u64) -> StoreResult<Vec<CqUnit>> {
    let position = logical_offset * CQ_UNIT_SIZE_BYTES - file.start_offset;
    let mut bytes = vec![0u8; count as usize * UNIT_BYTES];
    file.file.read_at(position, &mut bytes).map_err(|e| {
        StoreError::io(
            format!("cannot read {} at {position}", file.path.display()),
            e,
        )
    })?;
    Ok(bytes
        .as_chunks::<UNIT_BYTES>()
        .0
        .iter()
        .map(CqUnit::decode)
        .collect())
}

fn write_in_file(file: &MappedFile, logical_offset: u64, bytes: &[u8]) -> StoreResult<()> {
    let position = logical_offset * CQ_UNIT_SIZE_BYTES - file.start_offset;
    file.file.write_at(position, bytes).map_err(|e| {
        StoreError::io(
            format!("cannot write {} at {position}", file.path.display()),
            e,
        )
    })
}

fn consume_queue_root(root: &Path) -> PathBuf {
    root.join("consumequeue")
}

fn queue_dir(root: &Path, topic: &str, queue_id: i32) -> PathBuf {
    consume_queue_root(root)
        .join(topic)
        .join(queue_id.to_string())
}

/// Topic names become directory names; one that could climb out of `consumequeue/` is
/// refused here whatever the callers checked.
fn check_topic_dir_name(topic: &str) -> StoreResult<()> {
    if topic.is_empty() || topic == "." || topic == ".." || topic.contains(['/', '\\', '\0']) {
        return Err(StoreError::MessageIllegal(format!(
            "topic {topic:?} cannot name a consume queue directory"
        )));
    }
    Ok(())
}

/// Queue directories are canonical decimal ids (`3`, not `03`), so one id has one directory.
fn parse_queue_id(name: &str) -> Option<i32> {
    name.parse::<i32>()
        .ok()
        .filter(|id| *id >= 0 && id.to_string() == name)
}

/// Looked up on every append: foldhash (seeded per process) rather than SipHash.
type QueueMap = foldhash::HashMap<String, foldhash::HashMap<i32, Arc<ConsumeQueue>>>;

/// Every ConsumeQueue of the store, by topic and queue id. Nested maps so the hot lookup
/// needs no owned key.
#[derive(Debug)]
pub struct ConsumeQueueTable {
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
    units_per_file: u64,
    queues: RwLock<QueueMap>,
}

impl ConsumeQueueTable {
    /// Opens every `consumequeue/<topic>/<queueId>` directory, skipping (with a warning)
    /// anything that is not one. Call [`ConsumeQueueTable::recover_all`] next.
    pub fn load(fs: Arc<dyn FileSystem>, root: &Path, units_per_file: u64) -> StoreResult<Self> {
        let base = consume_queue_root(root);
        let list_error =
            |dir: &Path, e| StoreError::io(format!("cannot list {}", dir.display()), e);
        let mut queues = QueueMap::default();
        for topic in fs.list_dirs(&base).map_err(|e| list_error(&base, e))? {
            let topic_dir = base.join(&topic);
            if check_topic_dir_name(&topic).is_err() {
                tracing::warn!(dir = %topic_dir.display(), "skipping: not a topic directory");
                continue;
            }
            for stray in fs
                .list_files(&topic_dir)
                .map_err(|e| list_error(&topic_dir, e))?
            {
                let file = topic_dir.join(stray);
                tracing::warn!(file = %file.display(), "skipping a stray file");
            }
            for name in fs
                .list_dirs(&topic_dir)
                .map_err(|e| list_error(&topic_dir, e))?
            {
                let Some(queue_id) = parse_queue_id(&name) else {
                    let dir = topic_dir.join(&name);
                    tracing::warn!(dir = %dir.display(), "skipping: not a queue id directory");
                    continue;
                };
                let queue = ConsumeQueue::load(fs.clone(), root, &topic, queue_id, units_per_file)?;
                queues
                    .entry(topic.clone())
                    .or_default()
                    .insert(queue_id, Arc::new(queue));
            }
        }
        Ok(ConsumeQueueTable {
            fs,
            root: root.to_owned(),
            units_per_file,
            queues: RwLock::new(queues),
        })
    }

    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().get(topic)?.get(&queue_id).cloned()
    }

    /// The queue, created (directory only; files come with the first unit) if missing. A
    /// directory that appeared behind the table's back is recovered on the way in.
    pub fn get_or_create(&self, topic: &str, queue_id: i32) -> StoreResult<Arc<ConsumeQueue>> {
        if let Some(queue) = self.get(topic, queue_id) {
            return Ok(queue);
        }
        let mut queues = self.queues.write();
        if let Some(queue) = queues.get(topic).and_then(|by_id| by_id.get(&queue_id)) {
            return Ok(queue.clone());
        }
        let queue = ConsumeQueue::load(
            self.fs.clone(),
            &self.root,
            topic,
            queue_id,
            self.units_per_file,
        )?;
        if !queue.files.is_empty() {
            queue.recover()?;
        }
        let queue = Arc::new(queue);
        queues
            .entry(topic.to_owned())
            .or_default()
            .insert(queue_id, queue.clone());
        Ok(queue)
    }

    /// Every queue, sorted by topic and queue id.
    pub fn queues(&self) -> Vec<Arc<ConsumeQueue>> {
        let mut all: Vec<_> = self
            .queues
            .read()
            .values()
            .flat_map(|by_id| by_id.values().cloned())
            .collect();
        all.sort_by(|a, b| (a.topic(), a.queue_id()).cmp(&(b.topic(), b.queue_id())));
        all
    }

    pub fn recover_all(&self) -> StoreResult<()> {
        self.queues().iter().try_for_each(|queue| queue.recover())
    }

    pub fn flush_all(&self) -> StoreResult<()> {
        self.queues().iter().try_for_each(|queue| queue.flush())
    }

    pub fn truncate_physical_all(&self, commit_log_end: u64) -> StoreResult<()> {
        self.queues()
            .iter()
            .try_for_each(|queue| queue.truncate_physical(commit_log_end))
    }

    pub fn correct_min_offsets(&self, commit_log_min: u64) {
        for queue in self.queues() {
            queue.correct_min_offset(commit_log_min);
        }
    }

    /// Total files removed across queues.
    pub fn delete_expired_all(&self, commit_log_min: u64) -> StoreResult<usize> {
        let mut removed = 0;
        for queue in self.queues() {
            removed += queue.delete_expired_files(commit_log_min)?;
        }
        Ok(removed)
    }

    /// Forgets the topic and removes its directory, including queues never loaded.
    pub fn delete_topic(&self, topic: &str) -> StoreResult<()> {
        check_topic_dir_name(topic)?;
        let removed = self.queues.write().remove(topic);
        for queue in removed.into_iter().flat_map(HashMap::into_values) {
            queue.destroy()?;
        }
        let dir = consume_queue_root(&self.root).join(topic);
        self.fs
            .remove_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("cannot remove {}", dir.display()), e))
    }

    /// (topic, queue id, max offset) per queue, sorted: the writer's next-offset table after
    /// recovery.
    pub fn max_offsets(&self) -> Vec<(String, i32, u64)> {
        self.queues()
            .iter()
            .map(|q| (q.topic().to_owned(), q.queue_id(), q.max_offset()))
            .collect()
    }
}

#[cfg(test)]
mod tests;

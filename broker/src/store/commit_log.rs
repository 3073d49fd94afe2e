//! The CommitLog: every message of every topic, appended in one sequence of mapped files
//! (protocol.md §5.1, §6.2).
//!
//! One writer. A record is encoded (and its body CRC computed) outside the lock; inside it the
//! writer only assigns the physical and per-queue logical offsets, stamps the store time,
//! copies the bytes into the mapped file, dispatches ConsumeQueue and index entries, and
//! publishes the new end. A record that does not fit in the rest of a file (leaving the 8
//! bytes a BLANK marker needs) goes to the next file, the tail padded with the BLANK magic; a
//! batch moves as a whole.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bolide_client::protocol::message::{
    self, END_FILE_MIN_BLANK_LENGTH, MessageToStore, Record, RecordCheck, find_properties,
    property, sysflag, tag_hash_code,
};
use parking_lot::Mutex;

use super::error::{StoreError, StoreResult};
use super::mapped_file::FileSystem;
use super::mapped_file_queue::MappedFileQueue;
use super::warm::Warmer;

/// What the ConsumeQueue and index need to know about one stored record. Built from a new
/// message at append time and from a scanned record at recovery: one path for both.
#[derive(Debug, Clone)]
pub struct DispatchRequest<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub queue_offset: u64,
    pub physical_offset: u64,
    pub size: u32,
    pub tags_code: i64,
    pub store_timestamp_ms: i64,
    pub sysflag: i32,
    pub keys: Option<&'a str>,
    pub uniq_key: Option<&'a str>,
    /// The `DELAY` property (0 without one): a SCHEDULE_TOPIC_XXXX unit's tag slot holds the
    /// delivery time computed from it.
    pub delay_level: i32,
}

impl DispatchRequest<'_> {
    /// PREPARED and ROLLBACK records get no ConsumeQueue entry (protocol.md §5.2).
    pub fn is_consumable(&self) -> bool {
        let kind = sysflag::transaction_type(self.sysflag);
        kind == sysflag::TRANSACTION_NOT_TYPE || kind == sysflag::TRANSACTION_COMMIT_TYPE
    }

    /// ROLLBACK records are not indexed.
    pub fn is_indexable(&self) -> bool {
        sysflag::transaction_type(self.sysflag) != sysflag::TRANSACTION_ROLLBACK_TYPE
    }

    pub fn from_record<'r>(record: &'r RecordCheck<'r>) -> DispatchRequest<'r> {
        DispatchRequest {
            topic: &record.topic,
            queue_id: record.queue_id,
            queue_offset: record.queue_offset.max(0) as u64,
            physical_offset: record.physical_offset.max(0) as u64,
            size: record.total_size as u32,
            tags_code: record.tags_code,
            store_timestamp_ms: record.store_timestamp_ms,
            sysflag: record.sysflag,
            keys: record.keys(),
            uniq_key: record.uniq_key(),
            delay_level: delay_level_of(record.property(property::DELAY)),
        }
    }
}

/// Receives every record as it is appended (under the append lock) or recovered.
pub trait Dispatcher: Send + Sync {
    fn dispatch(&self, request: &DispatchRequest<'_>) -> StoreResult<()>;
}

/// Where one appended message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    pub physical_offset: u64,
    pub queue_offset: u64,
    pub size: u32,
    pub store_timestamp_ms: i64,
    /// The log offset just past this record: durable once the flushed offset reaches it.
    pub end_offset: u64,
    pub store_host: SocketAddr,
}

impl AppendResult {
    /// The offset message id (store host + physical offset), uppercase hex; built on demand
    /// because formatting it costs more than the rest of an append.
    pub fn msg_id(&self) -> String {
        message::offset_msg_id(self.store_host, self.physical_offset as i64)
    }
}

/// Per-record facts computed before taking the lock.
struct Prepared<'m> {
    message: &'m MessageToStore<'m>,
    start: usize,
    size: usize,
    tags_code: i64,
    keys: Option<&'m str>,
    uniq_key: Option<&'m str>,
    delay_level: i32,
    consumable: bool,
}

#[derive(Debug)]
struct Writer {
    /// Global offset where the next record goes.
    position: u64,
    /// topic → queue id → next logical offset.
    queue_offsets: foldhash::HashMap<String, foldhash::HashMap<i32, u64>>,
}

impl Writer {
    /// Assigns the next logical offset of a queue. Looks up by `&str` so the common case
    /// allocates nothing.
    fn next_queue_offset(&mut self, topic: &str, queue_id: i32) -> u64 {
        if !self.queue_offsets.contains_key(topic) {
            self.queue_offsets
                .insert(topic.to_owned(), foldhash::HashMap::default());
        }
        let next = self
            .queue_offsets
            .get_mut(topic)
            .map(|queues| queues.entry(queue_id).or_insert(0));
        match next {
            Some(next) => {
                let assigned = *next;
                *next += 1;
                assigned
            }
            None => 0,
        }
    }
}

#[derive(Debug)]
pub struct CommitLog {
    files: MappedFileQueue,
    writer: Mutex<Writer>,
    /// End of the last complete record; readers never look past it.
    written: AtomicU64,
    max_body_bytes: usize,
    store_host: SocketAddr,
    warmer: Warmer,
}

/// How a recovery scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Zeroes (or the end of the last file) where the next record would start.
    EndOfData { offset: u64 },
    /// A record that cannot be valid starts here.
    Invalid { offset: u64, reason: String },
}

impl ScanEnd {
    pub fn offset(&self) -> u64 {
        match self {
            ScanEnd::EndOfData { offset } | ScanEnd::Invalid { offset, .. } => *offset,
        }
    }
}

impl CommitLog {
    pub fn load(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        file_size: u64,
        max_body_bytes: usize,
        store_host: SocketAddr,
    ) -> StoreResult<Self> {
        if file_size < 4096 {
            return Err(StoreError::Config(format!(
                "mappedFileSizeCommitLog {file_size} is below 4096 bytes"
            )));
        }
        let files = MappedFileQueue::load(fs, dir, file_size)?;
        let start = files.min_offset().unwrap_or(0);
        Ok(CommitLog {
            files,
            writer: Mutex::new(Writer {
                position: start,
                queue_offsets: foldhash::HashMap::default(),
            }),
            written: AtomicU64::new(start),
            max_body_bytes,
            store_host,
            warmer: Warmer::default(),
        })
    }

    pub fn files(&self) -> &MappedFileQueue {
        &self.files
    }

    /// Keeps pages ahead of the writer in the page cache (started by the store).
    pub fn warmer(&self) -> &Warmer {
        &self.warmer
    }

    pub fn file_size(&self) -> u64 {
        self.files.file_size()
    }

    /// The end of the last complete record.
    pub fn max_offset(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The first offset still on disk.
    pub fn min_offset(&self) -> u64 {
        self.files.min_offset().unwrap_or_else(|| self.max_offset())
    }

    /// Appends one message.
    pub fn append(
        &self,
        message: &MessageToStore<'_>,
        dispatcher: &dyn Dispatcher,
    ) -> StoreResult<AppendResult> {
        let mut results = self.append_batch(std::slice::from_ref(message), dispatcher)?;
        results.pop().ok_or(StoreError::ShutDown)
    }

    /// Appends messages as one batch: one lock, consecutive records in one file.
    pub fn append_batch(
        &self,
        messages: &[MessageToStore<'_>],
        dispatcher: &dyn Dispatcher,
    ) -> StoreResult<Vec<AppendResult>> {
        let (mut bytes, prepared) = self.encode(messages)?;
        let total = bytes.len() as u64;
        let file_size = self.files.file_size();
        if total + END_FILE_MIN_BLANK_LENGTH as u64 > file_size {
            return Err(StoreError::MessageIllegal(format!(
                "{total} bytes of records do not fit in a commit log file of {file_size} bytes"
            )));
        }
        let mut writer = self.writer.lock();
        let mut position = writer.position;
        let file_start = position - position % file_size;
        if position - file_start + total + END_FILE_MIN_BLANK_LENGTH as u64 > file_size {
            self.write_blank(position, file_start + file_size)?;
            position = file_start + file_size;
        }
        let file = self.files.file_at(position - position % file_size)?;
        let store_timestamp_ms = now_ms();
        let mut results = Vec::with_capacity(prepared.len());
        let mut physical = position;
        for record in &prepared {
            let queue_offset = if record.consumable {
                writer.next_queue_offset(record.message.topic, record.message.queue_id)
            } else {
                0
            };
            let slice = &mut bytes[record.start..record.start + record.size];
            message::patch_record(
                slice,
                queue_offset as i64,
                physical as i64,
                store_timestamp_ms,
            )
            .map_err(|e| StoreError::MessageIllegal(e.to_string()))?;
            results.push(AppendResult {
                physical_offset: physical,
                queue_offset,
                size: record.size as u32,
                store_timestamp_ms,
                end_offset: physical + record.size as u64,
                store_host: self.store_host,
            });
            physical += record.size as u64;
        }
        file.file
            .write_at(position - file.start_offset, &bytes)
            .map_err(|e| StoreError::io(format!("write to {} failed", file.path.display()), e))?;
        for (record, result) in prepared.iter().zip(&results) {
            dispatcher.dispatch(&DispatchRequest {
                topic: record.message.topic,
                queue_id: record.message.queue_id,
                queue_offset: result.queue_offset,
                physical_offset: result.physical_offset,
                size: result.size,
                tags_code: record.tags_code,
                store_timestamp_ms,
                sysflag: record.message.stored_sysflag(),
                keys: record.keys,
                uniq_key: record.uniq_key,
                delay_level: record.delay_level,
            })?;
        }
        writer.position = physical;
        self.written.store(physical, Ordering::Release);
        drop(writer);
        self.warmer.advance(physical);
        Ok(results)
    }

    /// Encodes the batch with placeholder offsets: the CRC and layout work happen here,
    /// outside the lock; the lock only patches offsets in.
    fn encode<'m>(
        &self,
        messages: &'m [MessageToStore<'m>],
    ) -> StoreResult<(Vec<u8>, Vec<Prepared<'m>>)> {
        let total: usize = messages.iter().map(MessageToStore::encoded_len).sum();
        let mut bytes = vec![0u8; total];
        let mut prepared = Vec::with_capacity(messages.len());
        let mut start = 0;
        for message in messages {
            message
                .validate(self.max_body_bytes)
                .map_err(|e| StoreError::MessageIllegal(e.to_string()))?;
            let size = message.encoded_len();
            message::encode_record(message, 0, 0, 0, &mut bytes[start..start + size])
                .map_err(|e| StoreError::MessageIllegal(e.to_string()))?;
            let kind = sysflag::transaction_type(message.sysflag);
            let [tags, keys, uniq_key, delay] = find_properties(
                message.properties,
                [
                    property::TAGS,
                    property::KEYS,
                    property::UNIQ_KEY,
                    property::DELAY,
                ],
            );
            prepared.push(Prepared {
                message,
                start,
                size,
                tags_code: tags.map_or(0, tag_hash_code),
                keys,
                uniq_key,
                delay_level: delay_level_of(delay),
                consumable: kind == sysflag::TRANSACTION_NOT_TYPE
                    || kind == sysflag::TRANSACTION_COMMIT_TYPE,
            });
            start += size;
        }
        Ok((bytes, prepared))
    }

    /// Pads `[position, file_end)` with the BLANK marker (length + magic; the rest stays
    /// zero).
    fn write_blank(&self, position: u64, file_end: u64) -> StoreResult<()> {
        let file = self.files.file_at(file_end - self.files.file_size())?;
        let mut blank = [0u8; END_FILE_MIN_BLANK_LENGTH];
        message::encode_blank((file_end - position) as usize, &mut blank)
            .map_err(|e| StoreError::MessageIllegal(e.to_string()))?;
        file.file
            .write_at(position - file.start_offset, &blank)
            .map_err(|e| StoreError::io(format!("write to {} failed", file.path.display()), e))
    }

    /// Reads `size` bytes of records at `physical_offset`. `None` when that part of the log
    /// was deleted or has not been written.
    pub fn read(&self, physical_offset: u64, size: u32) -> StoreResult<Option<Vec<u8>>> {
        if physical_offset + u64::from(size) > self.max_offset() {
            return Ok(None);
        }
        let mut buf = vec![0u8; size as usize];
        Ok(self
            .files
            .read_at(physical_offset, &mut buf)?
            .then_some(buf))
    }

    /// The store timestamp of the record at `physical_offset`, without reading its body.
    pub fn store_timestamp(&self, physical_offset: u64) -> StoreResult<Option<i64>> {
        // sysflag at 36; store timestamp at 56 after an IPv4 born host, 68 after IPv6.
        let mut head = [0u8; 76];
        if physical_offset + head.len() as u64 > self.max_offset()
            || !self.files.read_at(physical_offset, &mut head)?
        {
            return Ok(None);
        }
        let flags = i32::from_be_bytes([head[36], head[37], head[38], head[39]]);
        let at = if flags & sysflag::BORNHOST_V6 != 0 {
            68
        } else {
            56
        };
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&head[at..at + 8]);
        Ok(Some(i64::from_be_bytes(stamp)))
    }

    /// Walks records from `from` (a record boundary) with positional reads, calling `visit`
    /// for each valid message, and reports where valid data ends.
    pub fn scan(
        &self,
        from: u64,
        check_crc: bool,
        visit: &mut dyn FnMut(&RecordCheck<'_>) -> StoreResult<()>,
    ) -> StoreResult<ScanEnd> {
        let mut position = from;
        let mut buffer = Vec::new();
        loop {
            match self.step(position, u64::MAX, &mut buffer)? {
                Step::EndOfData | Step::Incomplete => {
                    return Ok(ScanEnd::EndOfData { offset: position });
                }
                Step::Skip { next } => position = next,
                Step::Invalid(reason) => return Ok(invalid(position, reason)),
                Step::Record => match check_at(position, &buffer, check_crc) {
                    Ok(record) => {
                        visit(&record)?;
                        position += buffer.len() as u64;
                    }
                    Err(reason) => return Ok(invalid(position, reason)),
                },
            }
        }
    }

    /// Looks at what starts at `position`, reading nothing at or past `limit`; a record is
    /// left in `buffer`.
    fn step(&self, position: u64, limit: u64, buffer: &mut Vec<u8>) -> StoreResult<Step> {
        let file_size = self.files.file_size();
        let Some(file) = self.files.find(position) else {
            return Ok(Step::EndOfData);
        };
        let in_file = position - file.start_offset;
        let left = file_size - in_file;
        let file_end = file.start_offset + file_size;
        if left < END_FILE_MIN_BLANK_LENGTH as u64 {
            // Unreachable for logs Bolide wrote; treat the remainder as padding.
            return Ok(Step::Skip { next: file_end });
        }
        if position + 8 > limit {
            return Ok(Step::Incomplete);
        }
        let read_error = |e| StoreError::io(format!("read of {} failed", file.path.display()), e);
        let mut head = [0u8; 8];
        file.file.read_at(in_file, &mut head).map_err(read_error)?;
        let total = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if total == 0 && magic == 0 {
            return Ok(Step::EndOfData);
        }
        if magic == message::BLANK_MAGIC_CODE {
            if total as i64 != left as i64 {
                return Ok(Step::Invalid(format!(
                    "BLANK marker of {total} bytes, {left} left in the file"
                )));
            }
            if file_end > limit {
                return Ok(Step::Incomplete);
            }
            return Ok(Step::Skip { next: file_end });
        }
        if total <= 0 || total as u64 > left {
            return Ok(Step::Invalid(format!(
                "impossible record length {total} ({left} bytes left in the file)"
            )));
        }
        if position + total as u64 > limit {
            return Ok(Step::Incomplete);
        }
        buffer.resize(total as usize, 0);
        file.file.read_at(in_file, buffer).map_err(read_error)?;
        Ok(Step::Record)
    }

    /// A master's read for a slave: the published bytes from `offset`, at most `max_bytes`,
    /// never crossing a file (BLANK padding included, as the master sends it). Empty when
    /// nothing is published past `offset`; `None` when the file holding it was deleted.
    pub fn read_for_replica(&self, offset: u64, max_bytes: usize) -> StoreResult<Option<Vec<u8>>> {
        let published = self.max_offset();
        if offset >= published {
            return Ok(Some(Vec::new()));
        }
        let Some(file) = self.files.find(offset) else {
            return Ok(None);
        };
        let end = published
            .min(file.end_offset())
            .min(offset + max_bytes as u64);
        let mut bytes = vec![0u8; (end - offset) as usize];
        file.file
            .read_at(offset - file.start_offset, &mut bytes)
            .map_err(|e| StoreError::io(format!("read of {} failed", file.path.display()), e))?;
        Ok(Some(bytes))
    }

    /// Whether a record (or BLANK padding, or the end of the log) starts at `offset`: a
    /// master checks a returning slave's offset with it, since bytes sent from the middle of
    /// a record would be garbage to the slave.
    pub fn is_record_boundary(&self, offset: u64) -> StoreResult<bool> {
        let end = self.max_offset();
        if offset >= end {
            return Ok(offset == end);
        }
        let Some(file) = self.files.find(offset) else {
            return Ok(false);
        };
        let in_file = offset - file.start_offset;
        let left = file.end_offset() - offset;
        // Total size, magic, body CRC, queue id, flag, queue offset, physical offset.
        let mut head = [0u8; 36];
        let head = &mut head[..(left as usize).min(36)];
        file.file
            .read_at(in_file, head)
            .map_err(|e| StoreError::io(format!("read of {} failed", file.path.display()), e))?;
        if head.len() < 8 {
            return Ok(false);
        }
        let total = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if magic == message::BLANK_MAGIC_CODE {
            return Ok(total as i64 == left as i64);
        }
        if head.len() < 36
            || (magic != message::MESSAGE_MAGIC_CODE && magic != message::MESSAGE_MAGIC_CODE_V2)
        {
            return Ok(false);
        }
        let mut stated = [0u8; 8];
        stated.copy_from_slice(&head[28..36]);
        Ok(i64::from_be_bytes(stated) == offset as i64)
    }

    /// Where the bytes a slave has received end: the published end plus any start of a
    /// record still waiting for the rest of its bytes. What a slave reports to its master.
    pub fn received_end(&self) -> u64 {
        self.writer.lock().position
    }

    /// A slave's append: `bytes` of its master's log, written verbatim at `offset`, which
    /// must be where the received bytes end (or anywhere file-aligned in an empty log: a new
    /// slave starts at its master's last file). The bytes never cross a file, as the master
    /// sends them. Complete records are then checked (CRC, stated offset), dispatched exactly
    /// as on the master, passed to `arrived`, and published; a record cut by the end of
    /// `bytes` waits for the next call. Returns the new received end.
    ///
    /// Bytes that are not a valid continuation are removed again and reported as
    /// [`StoreError::Replication`]: a slave never serves or builds on garbage.
    pub fn append_replicated(
        &self,
        offset: u64,
        bytes: &[u8],
        dispatcher: &dyn Dispatcher,
        arrived: &mut dyn FnMut(&DispatchRequest<'_>),
    ) -> StoreResult<u64> {
        let file_size = self.files.file_size();
        let mut writer = self.writer.lock();
        let empty = self.files.is_empty() && writer.position == self.max_offset();
        if offset != writer.position && !(empty && offset.is_multiple_of(file_size)) {
            return Err(StoreError::Replication(format!(
                "master sent bytes for offset {offset}, but this log's received bytes end at {}",
                writer.position
            )));
        }
        let in_file = offset % file_size;
        if in_file + bytes.len() as u64 > file_size {
            return Err(StoreError::Replication(format!(
                "{} bytes at offset {offset} would cross the end of a {file_size}-byte file",
                bytes.len()
            )));
        }
        if empty {
            writer.position = offset;
            self.written.store(offset, Ordering::Release);
        }
        let file = self.files.file_at(offset - in_file)?;
        file.file
            .write_at(in_file, bytes)
            .map_err(|e| StoreError::io(format!("write to {} failed", file.path.display()), e))?;
        writer.position = offset + bytes.len() as u64;
        let published = self.publish_received(&mut writer, dispatcher, arrived);
        if let Err(error) = &published {
            tracing::error!(%error, "replicated bytes rejected");
            let kept = self.max_offset();
            writer.position = kept;
            if let Some(file) = self.files.find(kept) {
                file.file.zero_from(kept - file.start_offset).map_err(|e| {
                    StoreError::io(format!("zeroing of {} failed", file.path.display()), e)
                })?;
            }
        }
        published.map(|()| writer.position)
    }

    /// Dispatches and publishes the complete records between the published end and the
    /// received end.
    fn publish_received(
        &self,
        writer: &mut Writer,
        dispatcher: &dyn Dispatcher,
        arrived: &mut dyn FnMut(&DispatchRequest<'_>),
    ) -> StoreResult<()> {
        let limit = writer.position;
        let mut position = self.max_offset();
        let mut buffer = Vec::new();
        let rejected = |position: u64, reason: String| {
            Err(StoreError::Replication(format!(
                "the master's bytes at offset {position} are not a valid record: {reason}"
            )))
        };
        let outcome = loop {
            match self.step(position, limit, &mut buffer)? {
                Step::Incomplete => break Ok(()),
                Step::EndOfData if position + 8 > limit => break Ok(()),
                Step::EndOfData => break rejected(position, "zeroes".into()),
                Step::Invalid(reason) => break rejected(position, reason),
                Step::Skip { next } => position = next,
                Step::Record => {
                    let record = match check_at(position, &buffer, true) {
                        Ok(record) => record,
                        Err(reason) => break rejected(position, reason),
                    };
                    let request = DispatchRequest::from_record(&record);
                    if request.is_consumable() {
                        let next = writer
                            .queue_offsets
                            .entry(request.topic.to_owned())
                            .or_default()
                            .entry(request.queue_id)
                            .or_insert(0);
                        *next = (*next).max(request.queue_offset + 1);
                    }
                    dispatcher.dispatch(&request)?;
                    arrived(&request);
                    position += buffer.len() as u64;
                    // Published record by record: a rejection later in the chunk keeps these.
                    self.written.store(position, Ordering::Release);
                }
            }
        };
        if outcome.is_ok() {
            self.written.store(position, Ordering::Release);
        }
        outcome
    }

    /// Sets the end of the log after recovery: everything from `end` on is removed, and the
    /// next record goes there.
    pub fn truncate_to(&self, end: u64) -> StoreResult<()> {
        let mut writer = self.writer.lock();
        self.files.truncate_from(end)?;
        writer.position = end;
        self.written.store(end, Ordering::Release);
        Ok(())
    }

    /// Sets the next logical offset of each queue, from the ConsumeQueues after recovery.
    pub fn set_queue_offsets(&self, offsets: impl IntoIterator<Item = (String, i32, u64)>) {
        let mut writer = self.writer.lock();
        writer.queue_offsets.clear();
        for (topic, queue_id, next) in offsets {
            writer
                .queue_offsets
                .entry(topic)
                .or_default()
                .insert(queue_id, next);
        }
    }

    /// Forgets a deleted topic's logical offsets.
    pub fn remove_topic(&self, topic: &str) {
        self.writer.lock().queue_offsets.remove(topic);
    }

    /// Makes `[from, to)` durable, file by file.
    pub fn flush_range(&self, from: u64, to: u64) -> StoreResult<()> {
        let file_size = self.files.file_size();
        let mut start = from;
        while start < to {
            let Some(file) = self.files.find(start) else {
                // Deleted by retention meanwhile: nothing of it needs flushing any more.
                start = start - start % file_size + file_size;
                continue;
            };
            let end = to.min(file.end_offset());
            file.file
                .flush_range(start - file.start_offset, end - file.start_offset)
                .map_err(|e| {
                    StoreError::io(format!("flush of {} failed", file.path.display()), e)
                })?;
            start = end;
        }
        Ok(())
    }
}

/// The `DELAY` property as a level; absent or unparsable is 0 (no delay), as in Java.
fn delay_level_of(value: Option<&str>) -> i32 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// What [`CommitLog::step`] found at a position.
enum Step {
    /// A record of the buffer's length, read into the buffer.
    Record,
    /// BLANK padding (or a tail too short for one): the next record is at `next`.
    Skip {
        next: u64,
    },
    /// Zeroes, or no file: nothing was ever written here.
    EndOfData,
    /// The record (or padding) runs past the limit: more bytes are needed.
    Incomplete,
    Invalid(String),
}

/// Parses the record in `bytes`, which must say it is at `position`.
fn check_at(position: u64, bytes: &[u8], check_crc: bool) -> Result<RecordCheck<'_>, String> {
    match message::peek_record(bytes, check_crc) {
        Ok(Some(Record::Message(record))) if record.physical_offset == position as i64 => {
            Ok(record)
        }
        Ok(Some(Record::Message(record))) => Err(format!(
            "record says it is at offset {}",
            record.physical_offset
        )),
        Ok(Some(Record::Blank { .. })) | Ok(None) => {
            Err("record does not parse to its stated length".into())
        }
        Err(error) => Err(error.to_string()),
    }
}

fn invalid(offset: u64, reason: String) -> ScanEnd {
    ScanEnd::Invalid { offset, reason }
}

/// Wall-clock milliseconds: the store timestamp written into records (Java's
/// `System.currentTimeMillis()`). Timers never use it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

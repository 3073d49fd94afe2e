//! `MessageStore`: the facade the broker uses. It wires the parts together and delegates:
//! appends to the CommitLog (which dispatches to ConsumeQueues and the index), durability to
//! the flush service, reads to ConsumeQueues plus the CommitLog.
//!
//! Visibility: in SYNC_FLUSH mode consumers see only durable records, so a consumer can never
//! commit an offset past a message that a power loss then takes away (the next message would
//! reuse that offset and be skipped). In ASYNC_FLUSH mode they see everything written, as in
//! RocketMQ.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bolide_client::protocol::message::{self, MessageToStore, Record, find_property, property};
use bytes::{Bytes, BytesMut};
use parking_lot::{Condvar, Mutex};

use super::checkpoint::{Checkpoint, CheckpointData};
use super::cleanup::RetentionClock;
use super::commit_log::{AppendResult, CommitLog, DispatchRequest};
use super::config::{FlushDiskType, StoreConfig};
use super::consume_queue::ConsumeQueueTable;
use super::dispatch::StoreDispatcher;
use super::error::{StoreError, StoreResult};
use super::flush::{FlushService, Poison};
use super::index::IndexService;
use super::mapped_file::{DirLock, FileSystem};
use super::recovery::{self, RecoveryReport};
use super::warm::Warmer;

/// Outcome of a read from a queue (RocketMQ's GetMessageStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    Found,
    /// Units were scanned but every one was filtered out.
    NoMatchedMessage,
    /// The queue does not exist.
    NoMatchedLogicQueue,
    /// The queue exists but holds nothing.
    NoMessageInQueue,
    /// The offset is below the queue's minimum.
    OffsetTooSmall,
    /// The offset equals the maximum: nothing new yet.
    OffsetOverflowOne,
    /// The offset is beyond the maximum.
    OffsetOverflowBadly,
    /// The units point at CommitLog data already deleted.
    MessageWasRemoving,
}

#[derive(Debug, Clone)]
pub struct GetMessageResult {
    pub status: GetMessageStatus,
    /// Where the consumer should read next.
    pub next_begin_offset: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    /// The records, back to back: a PULL response body as is.
    pub body: Bytes,
    pub message_count: usize,
}

/// Most ConsumeQueue units one read scans when a filter rejects them (Java's
/// `maxFilterMessageCount`).
const MAX_FILTER_SCAN_UNITS: usize = 16_000;

#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Sleeps up to `duration`; true when stopping.
    fn sleep(&self, duration: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.wake.wait_for(&mut stopped, duration);
        }
        *stopped
    }

    fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

#[derive(Debug)]
pub struct MessageStore {
    config: StoreConfig,
    fs: Arc<dyn FileSystem>,
    commit_log: Arc<CommitLog>,
    dispatcher: Arc<StoreDispatcher>,
    flush: FlushService,
    poison: Arc<Poison>,
    checkpoint: Arc<Checkpoint>,
    recovery: RecoveryReport,
    /// Store time of the newest appended record (for the checkpoint's Java timestamps).
    last_store_timestamp_ms: Arc<AtomicI64>,
    /// Set by the retention thread when the disk is too full to accept writes.
    disk_full: Arc<AtomicBool>,
    stop: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shut_down: AtomicBool,
    append_listener: OnceLock<AppendListener>,
    _lock: DirLock,
}

/// Called after every append with the new end of the log (a master's replication wakes its
/// slave connections with it).
pub struct AppendListener(Box<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for AppendListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppendListener")
    }
}

impl MessageStore {
    /// Locks the store directory, loads and recovers everything, and starts the flush,
    /// checkpoint and retention threads.
    pub fn open(config: StoreConfig, fs: Arc<dyn FileSystem>) -> StoreResult<Self> {
        let root = config.root_dir.clone();
        let lock = fs
            .lock_dir(&root)
            .map_err(|e| StoreError::io(format!("cannot lock {}", root.display()), e))?;
        let abort_path = root.join("abort");
        let abnormal = fs.exists(&abort_path);
        let (checkpoint, checkpoint_data) = Checkpoint::open(&fs, &root.join("checkpoint"))?;
        let commit_log = Arc::new(CommitLog::load(
            fs.clone(),
            &config.commit_log_dir(),
            config.commit_log_file_size_bytes,
            config.max_message_size_bytes,
            config.store_host,
        )?);
        let queues = Arc::new(ConsumeQueueTable::load(
            fs.clone(),
            &root,
            config.consume_queue_units_per_file,
        )?);
        let index = if config.message_index_enable {
            Some(Arc::new(IndexService::load(
                fs.clone(),
                &root,
                config.max_hash_slot_num,
                config.max_index_num,
            )?))
        } else {
            None
        };
        let dispatcher = Arc::new(StoreDispatcher::new(
            queues,
            index,
            config.delay_levels_ms.clone(),
        ));
        let recovery = recovery::recover(
            &commit_log,
            &dispatcher,
            checkpoint_data,
            abnormal,
            config.check_crc_on_recover,
            config.truncate_corrupt_commit_log,
        )?;
        tracing::info!(
            abnormal = recovery.abnormal,
            records = recovery.records_scanned,
            end_offset = recovery.end_offset,
            millis = recovery.duration.as_millis() as u64,
            "store recovered"
        );
        fs.write_atomic(&abort_path, b"")
            .map_err(|e| StoreError::io(format!("cannot create {}", abort_path.display()), e))?;
        let poison = Arc::new(Poison::default());
        let flush = FlushService::start(
            commit_log.clone(),
            poison.clone(),
            &config,
            recovery.end_offset,
        )?;
        let store = MessageStore {
            last_store_timestamp_ms: Arc::new(AtomicI64::new(recovery.last_store_timestamp_ms)),
            config,
            fs,
            commit_log,
            dispatcher,
            flush,
            poison,
            checkpoint: Arc::new(checkpoint),
            recovery,
            disk_full: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(Stop::default()),
            threads: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
            append_listener: OnceLock::new(),
            _lock: lock,
        };
        store.start_checkpoint_thread()?;
        let warm = Warmer::start(store.commit_log.clone())
            .map_err(|e| StoreError::io("cannot start the page-cache warming thread", e))?;
        store.threads.lock().push(warm);
        Ok(store)
    }

    /// Starts the retention thread (separately, because it needs the store behind an `Arc`).
    pub fn start_retention(self: &Arc<Self>) -> StoreResult<()> {
        let store = Arc::downgrade(self);
        let stop = self.stop.clone();
        let interval = Duration::from_millis(self.config.clean_resource_interval_ms.max(100));
        let clock = RetentionClock::new(super::commit_log::now_ms());
        let thread = std::thread::Builder::new()
            .name("store-retention".into())
            .spawn(move || {
                while !stop.sleep(interval) {
                    let Some(store) = store.upgrade() else { return };
                    if let Err(error) = store.clean_once(&clock) {
                        tracing::error!(%error, "retention pass failed");
                    }
                }
            })
            .map_err(|e| StoreError::io("cannot start the retention thread", e))?;
        self.threads.lock().push(thread);
        Ok(())
    }

    /// One retention pass: refuses or re-allows writes by disk usage, deletes CommitLog files
    /// per the policy, and moves ConsumeQueue and index minimums past them. Returns the number
    /// of CommitLog files deleted.
    pub fn clean_once(&self, clock: &RetentionClock) -> StoreResult<usize> {
        let dir = self.config.commit_log_dir();
        let usage = self.fs.disk_usage(&dir).map_err(|e| {
            StoreError::io(format!("cannot read disk usage of {}", dir.display()), e)
        })?;
        let used_percent = (usage.used_ratio() * 100.0).round() as u64;
        let policy = self.config.retention_policy();
        let decision = policy.decide(used_percent, clock.hour());
        let was_full = self
            .disk_full
            .swap(decision.refuse_writes, Ordering::AcqRel);
        if decision.refuse_writes && !was_full {
            tracing::error!(used_percent, dir = %dir.display(), "disk nearly full: refusing writes");
        } else if was_full && !decision.refuse_writes {
            tracing::info!(
                used_percent,
                "disk usage back below the limit: accepting writes"
            );
        }
        let files = self.commit_log.files().files();
        let mut ages = Vec::with_capacity(files.len());
        for (index, file) in files.iter().enumerate() {
            let filled_at = match files.get(index + 1) {
                Some(next) => self.commit_log.store_timestamp(next.start_offset)?,
                None => None,
            };
            ages.push((file.start_offset, filled_at));
        }
        let doomed = policy.files_to_delete(&ages, clock.now_ms(), decision);
        let mut deleted = 0;
        for start in doomed {
            if self.commit_log.files().min_offset() != Some(start) {
                break;
            }
            if let Some(file) = self.commit_log.files().remove_first(1)? {
                tracing::info!(file = %file.path.display(), forced = decision.forced, "deleted commit log file");
                deleted += 1;
            }
        }
        if deleted > 0 {
            let min = self.commit_log.min_offset();
            self.queues().correct_min_offsets(min);
            self.queues().delete_expired_all(min)?;
            if let Some(index) = &self.dispatcher.index {
                index.delete_files_below(min)?;
            }
        }
        Ok(deleted)
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    pub fn commit_log(&self) -> &Arc<CommitLog> {
        &self.commit_log
    }

    pub fn queues(&self) -> &Arc<ConsumeQueueTable> {
        &self.dispatcher.queues
    }

    pub fn file_system(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }

    fn check_writable(&self) -> StoreResult<()> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(StoreError::ShutDown);
        }
        self.poison.check()?;
        if self.disk_full.load(Ordering::Acquire) {
            return Err(StoreError::DiskFull {
                dir: self.config.root_dir.clone(),
                used_percent: self.config.disk_space_warning_level_ratio,
                limit_percent: self.config.disk_space_warning_level_ratio,
            });
        }
        Ok(())
    }

    /// Appends one message. In SYNC_FLUSH mode it is not yet durable: await
    /// [`wait_durable`](Self::wait_durable) with `result.end_offset` before acknowledging.
    pub fn put_message(&self, message: &MessageToStore<'_>) -> StoreResult<AppendResult> {
        self.check_writable()?;
        let result = self
            .commit_log
            .append(message, &*self.dispatcher)
            .inspect_err(|e| self.poison_on_io(e))?;
        self.after_append(result.store_timestamp_ms);
        Ok(result)
    }

    /// Appends a batch with consecutive offsets, in one file.
    pub fn put_messages(&self, messages: &[MessageToStore<'_>]) -> StoreResult<Vec<AppendResult>> {
        self.check_writable()?;
        let results = self
            .commit_log
            .append_batch(messages, &*self.dispatcher)
            .inspect_err(|e| self.poison_on_io(e))?;
        if let Some(last) = results.last() {
            self.after_append(last.store_timestamp_ms);
        }
        Ok(results)
    }

    /// A slave's append of its master's bytes (see [`CommitLog::append_replicated`]);
    /// `arrived` sees each record that became readable. Returns the new received end.
    pub fn append_replicated(
        &self,
        offset: u64,
        bytes: &[u8],
        arrived: &mut dyn FnMut(&DispatchRequest<'_>),
    ) -> StoreResult<u64> {
        self.check_writable()?;
        let mut newest = 0;
        let end = self
            .commit_log
            .append_replicated(offset, bytes, &*self.dispatcher, &mut |request| {
                newest = newest.max(request.store_timestamp_ms);
                arrived(request);
            })
            .inspect_err(|e| self.poison_on_io(e))?;
        self.after_append(newest);
        Ok(end)
    }

    /// Whether a record starts at `offset` (see [`CommitLog::is_record_boundary`]).
    pub fn is_record_boundary(&self, offset: u64) -> StoreResult<bool> {
        self.commit_log.is_record_boundary(offset)
    }

    /// Where a slave's received bytes end: what it reports to its master.
    pub fn received_end(&self) -> u64 {
        self.commit_log.received_end()
    }

    /// A master's read for a slave (see [`CommitLog::read_for_replica`]).
    pub fn read_for_replica(&self, offset: u64, max_bytes: usize) -> StoreResult<Option<Vec<u8>>> {
        self.commit_log.read_for_replica(offset, max_bytes)
    }

    /// An I/O failure inside an append may leave offsets assigned to bytes that were never
    /// published: refuse further writes rather than build on that.
    fn poison_on_io(&self, error: &StoreError) {
        if matches!(error, StoreError::Io { .. } | StoreError::Corrupt { .. }) {
            self.poison.set(format!("append failed: {error}"));
        }
    }

    fn after_append(&self, store_timestamp_ms: i64) {
        self.last_store_timestamp_ms
            .fetch_max(store_timestamp_ms, Ordering::Relaxed);
        if self.config.flush_disk_type == FlushDiskType::Sync {
            self.flush.request_flush();
        }
        if let Some(listener) = self.append_listener.get() {
            (listener.0)(self.commit_log.max_offset());
        }
    }

    /// Sets the one [`AppendListener`]; false if one is set already.
    pub fn set_append_listener(&self, listener: impl Fn(u64) + Send + Sync + 'static) -> bool {
        self.append_listener
            .set(AppendListener(Box::new(listener)))
            .is_ok()
    }

    /// SYNC_FLUSH: waits until `end_offset` is durable or `syncFlushTimeout` passes
    /// (`FlushTimeout`, the client's FLUSH_DISK_TIMEOUT). ASYNC_FLUSH: returns at once.
    pub async fn wait_durable(&self, end_offset: u64) -> StoreResult<()> {
        match self.config.flush_disk_type {
            FlushDiskType::Async => self.poison.check(),
            FlushDiskType::Sync => {
                let timeout = Duration::from_millis(self.config.sync_flush_timeout_ms);
                self.flush.wait_durable(end_offset, timeout).await
            }
        }
    }

    /// Everything below this offset is durable.
    pub fn flushed_offset(&self) -> u64 {
        self.flush.flushed_offset()
    }

    /// Readers see records ending at or below this offset: the flushed offset in
    /// SYNC_FLUSH (nothing unacknowledged is served), the written one in ASYNC_FLUSH.
    pub fn readable_offset(&self) -> u64 {
        self.visible_offset()
    }

    fn visible_offset(&self) -> u64 {
        match self.config.flush_disk_type {
            FlushDiskType::Sync => self.flush.flushed_offset(),
            FlushDiskType::Async => self.commit_log.max_offset(),
        }
    }

    pub fn commit_log_min_offset(&self) -> u64 {
        self.commit_log.min_offset()
    }

    pub fn commit_log_max_offset(&self) -> u64 {
        self.commit_log.max_offset()
    }

    pub fn min_offset(&self, topic: &str, queue_id: i32) -> u64 {
        self.queues()
            .get(topic, queue_id)
            .map_or(0, |q| q.min_offset())
    }

    pub fn max_offset(&self, topic: &str, queue_id: i32) -> u64 {
        self.queues()
            .get(topic, queue_id)
            .map_or(0, |q| q.max_offset())
    }

    /// Reads up to `max_count` messages (and about `max_bytes`, but at least one) from a
    /// queue, skipping those whose tag hash `accept` rejects.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: u64,
        max_count: usize,
        max_bytes: usize,
        accept: &dyn Fn(i64) -> bool,
    ) -> StoreResult<GetMessageResult> {
        let Some(queue) = self.queues().get(topic, queue_id) else {
            return Ok(empty(GetMessageStatus::NoMatchedLogicQueue, 0, 0, 0));
        };
        let (min, max) = (queue.min_offset(), queue.max_offset());
        let status = if max == 0 {
            Some((GetMessageStatus::NoMessageInQueue, 0))
        } else if offset < min {
            Some((GetMessageStatus::OffsetTooSmall, min))
        } else if offset == max {
            Some((GetMessageStatus::OffsetOverflowOne, offset))
        } else if offset > max {
            Some((
                GetMessageStatus::OffsetOverflowBadly,
                if min == 0 { min } else { max },
            ))
        } else {
            None
        };
        if let Some((status, next)) = status {
            return Ok(empty(status, next, min, max));
        }
        let visible = self.visible_offset();
        let log_min = self.commit_log.min_offset();
        let mut body = BytesMut::new();
        let mut count = 0;
        let mut scanned = 0u64;
        let mut removed = false;
        let mut filtered = false;
        let units = queue.units(offset, MAX_FILTER_SCAN_UNITS.max(max_count))?;
        for unit in &units {
            if unit.is_filler() {
                // A gap before a queue's first real entry: step over it.
                scanned += 1;
                continue;
            }
            if unit.commit_log_offset + u64::from(unit.size) > visible {
                break;
            }
            if count >= max_count || (count > 0 && body.len() + unit.size as usize > max_bytes) {
                break;
            }
            scanned += 1;
            if unit.commit_log_offset < log_min {
                removed = true;
                continue;
            }
            if !accept(unit.tags_code) {
                filtered = true;
                continue;
            }
            match self.commit_log.read(unit.commit_log_offset, unit.size)? {
                Some(record) => {
                    body.extend_from_slice(&record);
                    count += 1;
                }
                None => removed = true,
            }
        }
        let next_begin_offset = offset + scanned;
        let status = if count > 0 {
            GetMessageStatus::Found
        } else if scanned == 0 {
            // Everything from here on is not yet durable: as good as "no new message".
            GetMessageStatus::OffsetOverflowOne
        } else if filtered {
            GetMessageStatus::NoMatchedMessage
        } else if removed {
            GetMessageStatus::MessageWasRemoving
        } else {
            GetMessageStatus::NoMatchedMessage
        };
        Ok(GetMessageResult {
            status,
            next_begin_offset,
            min_offset: min,
            max_offset: max,
            body: body.freeze(),
            message_count: count,
        })
    }

    /// The first offset of the queue whose message was stored at or after `timestamp_ms`.
    pub fn offset_by_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp_ms: i64,
    ) -> StoreResult<u64> {
        let Some(queue) = self.queues().get(topic, queue_id) else {
            return Ok(0);
        };
        let log = &self.commit_log;
        queue.offset_by_timestamp(timestamp_ms, |physical, _size| {
            log.store_timestamp(physical).ok().flatten()
        })
    }

    /// Store time of the oldest message still in the queue.
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> StoreResult<Option<i64>> {
        let Some(queue) = self.queues().get(topic, queue_id) else {
            return Ok(None);
        };
        let Some(unit) = queue.unit(queue.min_offset())? else {
            return Ok(None);
        };
        self.commit_log.store_timestamp(unit.commit_log_offset)
    }

    /// The record at a physical offset (VIEW_MESSAGE_BY_ID), if it is still stored and
    /// visible.
    pub fn message_at(&self, physical_offset: u64) -> StoreResult<Option<Bytes>> {
        if physical_offset < self.commit_log.min_offset() {
            return Ok(None);
        }
        let Some(head) = self.commit_log.read(physical_offset, 4)? else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if size <= 0 || physical_offset + size as u64 > self.visible_offset() {
            return Ok(None);
        }
        let Some(record) = self.commit_log.read(physical_offset, size as u32)? else {
            return Ok(None);
        };
        match message::peek_record(&record, false) {
            Ok(Some(Record::Message(check))) if check.physical_offset == physical_offset as i64 => {
                Ok(Some(Bytes::from(record)))
            }
            _ => Ok(None),
        }
    }

    /// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored within
    /// `[begin_ms, end_ms]`, newest first, at most `max_count`.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max_count: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> StoreResult<Vec<Bytes>> {
        let Some(index) = &self.dispatcher.index else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for offset in index.query(topic, key, max_count, begin_ms, end_ms)? {
            let Some(record) = self.message_at(offset)? else {
                continue;
            };
            // The index holds hashes: check the record really carries the key.
            let Ok(Some(Record::Message(check))) = message::peek_record(&record, false) else {
                continue;
            };
            let has_key = find_property(&check.properties, property::UNIQ_KEY) == Some(key)
                || find_property(&check.properties, property::KEYS)
                    .is_some_and(|keys| keys.split(message::KEY_SEPARATOR).any(|k| k == key));
            if check.topic == topic && has_key {
                found.push(record);
            }
            if found.len() >= max_count {
                break;
            }
        }
        Ok(found)
    }

    /// Removes a topic's queues (DELETE_TOPIC_IN_BROKER). Its records stay in the CommitLog
    /// until retention removes them.
    pub fn delete_topic(&self, topic: &str) -> StoreResult<()> {
        self.queues().delete_topic(topic)?;
        self.commit_log.remove_topic(topic);
        Ok(())
    }

    fn checkpoint_worker(&self) -> CheckpointWorker {
        CheckpointWorker {
            commit_log: self.commit_log.clone(),
            dispatcher: self.dispatcher.clone(),
            checkpoint: self.checkpoint.clone(),
            poison: self.poison.clone(),
            last_store_timestamp_ms: self.last_store_timestamp_ms.clone(),
        }
    }

    fn start_checkpoint_thread(&self) -> StoreResult<()> {
        let worker = self.checkpoint_worker();
        let stop = self.stop.clone();
        let interval = Duration::from_millis(self.config.flush_interval_consume_queue_ms.max(1));
        let flushed = self.flush.offset_reader();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while !stop.sleep(interval) {
                    if worker.run_once(flushed()).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError::io("cannot start the checkpoint thread", e))?;
        self.threads.lock().push(thread);
        Ok(())
    }

    /// Flushes everything, writes the final checkpoint and removes the abort marker, so the
    /// next start is a normal recovery. Idempotent.
    pub fn shutdown(&self) -> StoreResult<()> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.stop();
        self.commit_log.warmer().stop();
        for thread in self.threads.lock().drain(..) {
            if thread.join().is_err() {
                tracing::error!("a store thread panicked");
            }
        }
        self.flush.shutdown()?;
        let worker = self.checkpoint_worker();
        worker.run_once(self.flush.flushed_offset())?;
        self.poison.check()?;
        let abort = self.config.root_dir.join("abort");
        self.fs
            .remove(&abort)
            .map_err(|e| StoreError::io(format!("cannot remove {}", abort.display()), e))?;
        tracing::info!(
            end_offset = self.commit_log.max_offset(),
            "store shut down cleanly"
        );
        Ok(())
    }

    pub fn root_dir(&self) -> PathBuf {
        self.config.root_dir.clone()
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::Acquire)
            && let Err(error) = self.shutdown()
        {
            tracing::error!(%error, "store shutdown on drop failed");
        }
    }
}

fn empty(status: GetMessageStatus, next: u64, min: u64, max: u64) -> GetMessageResult {
    GetMessageResult {
        status,
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
        body: Bytes::new(),
        message_count: 0,
    }
}

/// Flushes ConsumeQueues and the index, then records in the checkpoint how far everything is
/// durable.
struct CheckpointWorker {
    commit_log: Arc<CommitLog>,
    dispatcher: Arc<StoreDispatcher>,
    checkpoint: Arc<Checkpoint>,
    poison: Arc<Poison>,
    last_store_timestamp_ms: Arc<AtomicI64>,
}

impl CheckpointWorker {
    fn run_once(&self, commit_log_flushed: u64) -> StoreResult<()> {
        // Read before flushing: every record below it has been dispatched.
        let dispatched = self.commit_log.max_offset();
        let timestamp = self.last_store_timestamp_ms.load(Ordering::Relaxed);
        let result = self.flush_and_record(dispatched, commit_log_flushed, timestamp);
        if let Err(error) = &result {
            self.poison.set(error.to_string());
        }
        result
    }

    fn flush_and_record(
        &self,
        dispatched: u64,
        commit_log_flushed: u64,
        timestamp: i64,
    ) -> StoreResult<()> {
        self.dispatcher.queues.flush_all()?;
        if let Some(index) = &self.dispatcher.index {
            index.flush()?;
        }
        self.checkpoint.write(&CheckpointData {
            physic_msg_timestamp_ms: timestamp,
            logics_msg_timestamp_ms: timestamp,
            index_msg_timestamp_ms: timestamp,
            commit_log_flushed_offset: commit_log_flushed,
            dispatched_durable_offset: dispatched,
        })
    }
}

//! The message-key index behind QUERY_MESSAGE: "offsets of topic T's messages with key K stored
//! between two times" (protocol.md §6.4, §2.3). A hash table per file, chained through an
//! append-only entry array, in RocketMQ's IndexFile format so a Java broker's `index/` loads.
//!
//! ```text
//! IndexFile (all integers big-endian), 40 + slots×4 + entries×20 bytes:
//!  0                8              16               24             32            36          40
//!  +----------------+--------------+----------------+--------------+-------------+-----------+
//!  | beginTimestamp | endTimestamp | beginPhyOffset | endPhyOffset | hashSlotCnt | indexCount|
//!  |  i64 (ms)      |  i64 (ms)    |  i64           |  i64         |  i32        |  i32      |
//!  +----------------+--------------+----------------+--------------+-------------+-----------+
//!  40 + 4·i: slot i = i32 number of the newest entry whose hash % slots == i (0 = empty)
//!  40 + 4·slots + 20·k: entry k (k ≥ 1; entry 0 is never used, so 0 can mean "none")
//!  +-------------+-------------------+------------------+------------------+
//!  | keyHash i32 | commitLogOffset   | timeDiff i32 (s) | prevEntry i32    |
//!  |             | i64               | store − begin    | older, same slot |
//!  +-------------+-------------------+------------------+------------------+
//! ```
//!
//! * Key string = `topic + "#" + key`; keyHash = |Java `String.hashCode`|, with
//!   `Integer.MIN_VALUE` (whose absolute value overflows) mapped to 0.
//! * `hashSlotCount` is Java's counter of puts that found their slot empty (slots that became
//!   non-empty), NOT the slot total; we maintain it the same way. Nothing reads it back.
//! * `indexCount` is the next entry number: entries `1..indexCount` are in use. A zeroed header
//!   (a file created just before a crash) reads as `indexCount` 1.
//! * The header is rewritten on every put, so a reopened file describes exactly its entries.
//! * A time difference is whole seconds, so an entry's store time is only known to lie in
//!   `[begin + diff·1000, begin + diff·1000 + 999]`. A query matches an entry when that second
//!   overlaps the asked range, so it never misses a record but may return one stored up to
//!   999 ms before `begin_ms` (Java compares the second's start only and misses records stored
//!   late in the range's first second). Files are selected with the same tolerance.
//!
//! Files are named by creation time `yyyyMMddHHmmssSSS`. Java uses the local wall clock; we use
//! the store timestamp of the record that opened the file, in UTC, because it needs no time-zone
//! database and makes names deterministic. A name that would not sort after the newest file's
//! is bumped to the newest name + 1 (as a number), so names are unique and their order is
//! creation order.
//!
//! Concurrency: one writer (the store's dispatch, under its append lock), many queries. Each
//! file's header sits behind its own RwLock held across every read or write of the file's
//! body: slots are rewritten in place, and a reader must never copy bytes the writer is
//! changing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bolide_client::protocol::message::tag_hash_code;
use parking_lot::RwLock;

use super::error::{StoreError, StoreResult};
use super::mapped_file::{FileSystem, SharedFile};

pub const HEADER_BYTES: u64 = 40;
pub const SLOT_BYTES: u64 = 4;
pub const ENTRY_BYTES: u64 = 20;
const _: () = assert!(HEADER_BYTES == 8 + 8 + 8 + 8 + 4 + 4);
const _: () = assert!(ENTRY_BYTES == 4 + 8 + 4 + 4);
/// Java's `maxHashSlotNum`.
pub const DEFAULT_MAX_HASH_SLOTS: u32 = 5_000_000;
/// Java's `maxIndexNum`: entry positions per file, entry 0 included (unused).
pub const DEFAULT_MAX_INDEX_COUNT: u32 = 20_000_000;
/// The index directory under the store root.
pub const INDEX_DIR: &str = "index";
/// `yyyyMMddHHmmssSSS`
const FILE_NAME_DIGITS: usize = 17;
const MS_PER_DAY: i64 = 86_400_000;
/// 9999-12-31T23:59:59.999Z: the last instant with a 4-digit year, so names keep 17 digits.
const MAX_NAME_MS: i64 = 253_402_300_799_999;

/// The index key of a message key: `topic#key`.
pub fn index_key(topic: &str, key: &str) -> String {
    format!("{topic}#{key}")
}

/// |Java `hashCode`| of the index key, 0 for `Integer.MIN_VALUE` (Java's `Math.abs` leaves it
/// negative and IndexFile then uses 0).
pub fn index_hash(key: &str) -> i32 {
    // tag_hash_code is Java's 32-bit String.hashCode widened to i64; narrowing is lossless.
    let hash = tag_hash_code(key) as i32;
    if hash == i32::MIN { 0 } else { hash.abs() }
}

/// The shape of an index file. Both counts fit the header's i32 fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexGeometry {
    pub hash_slots: u32,
    /// Entry positions, entry 0 included: a file holds `max_index_count - 1` entries.
    pub max_index_count: u32,
}

impl IndexGeometry {
    pub fn new(hash_slots: u32, max_index_count: u32) -> StoreResult<Self> {
        let limit = i32::MAX as u32;
        if hash_slots == 0 || hash_slots > limit {
            return Err(StoreError::Config(format!(
                "maxHashSlotNum {hash_slots} must be between 1 and {limit}"
            )));
        }
        if !(2..=limit).contains(&max_index_count) {
            return Err(StoreError::Config(format!(
                "maxIndexNum {max_index_count} must be between 2 and {limit} (entry 0 is unused)"
            )));
        }
        Ok(IndexGeometry {
            hash_slots,
            max_index_count,
        })
    }

    pub fn file_size_bytes(&self) -> u64 {
        self.entry_position(self.max_index_count)
    }

    fn slots_end(&self) -> u64 {
        HEADER_BYTES + u64::from(self.hash_slots) * SLOT_BYTES
    }

    fn slot_position(&self, hash: i32) -> u64 {
        // A stored hash is never negative, but a corrupt one may be; stay in range regardless.
        HEADER_BYTES + u64::from(hash.unsigned_abs() % self.hash_slots) * SLOT_BYTES
    }

    fn entry_position(&self, number: u32) -> u64 {
        self.slots_end() + u64::from(number) * ENTRY_BYTES
    }
}

/// The 40-byte file header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    pub begin_timestamp_ms: i64,
    pub end_timestamp_ms: i64,
    pub begin_physical_offset: u64,
    pub end_physical_offset: u64,
    /// Puts that found their slot empty (Java's `hashSlotCount`), not the number of slots.
    pub hash_slot_count: u32,
    /// The next entry number; entries `1..index_count` are in use.
    pub index_count: u32,
}

impl IndexHeader {
    fn encode(&self) -> [u8; HEADER_BYTES as usize] {
        let mut bytes = [0u8; HEADER_BYTES as usize];
        bytes[0..8].copy_from_slice(&self.begin_timestamp_ms.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.end_timestamp_ms.to_be_bytes());
        // Offsets are validated ≤ i64::MAX on the way in, so the casts are lossless.
        bytes[16..24].copy_from_slice(&(self.begin_physical_offset as i64).to_be_bytes());
        bytes[24..32].copy_from_slice(&(self.end_physical_offset as i64).to_be_bytes());
        bytes[32..36].copy_from_slice(&(self.hash_slot_count as i32).to_be_bytes());
        bytes[36..40].copy_from_slice(&(self.index_count as i32).to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8; HEADER_BYTES as usize], path: &Path, max: u32) -> StoreResult<Self> {
        let long = |at: usize| i64::from_be_bytes(array(&bytes[at..at + 8]));
        let int = |at: usize| i32::from_be_bytes(array(&bytes[at..at + 4]));
        let corrupt = |offset: u64, reason: String| StoreError::Corrupt {
            file: path.to_owned(),
            offset,
            reason,
        };
        let offset = |at: usize| {
            u64::try_from(long(at)).map_err(|_| corrupt(at as u64, "negative offset".into()))
        };
        let count = |at: usize| {
            u32::try_from(int(at))
                .ok()
                .filter(|&count| count <= max)
                .ok_or_else(|| corrupt(at as u64, format!("count {} exceeds {max}", int(at))))
        };
        Ok(IndexHeader {
            begin_timestamp_ms: long(0),
            end_timestamp_ms: long(8),
            begin_physical_offset: offset(16)?,
            end_physical_offset: offset(24)?,
            hash_slot_count: count(32)?,
            // Java reads a zero count (fresh or never-flushed header) as 1: entry 0 is unused.
            index_count: count(36)?.max(1),
        })
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

/// One 20-byte entry, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key_hash: i32,
    physical_offset: i64,
    time_diff_seconds: i32,
    previous: i32,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_BYTES as usize] {
        let mut bytes = [0u8; ENTRY_BYTES as usize];
        bytes[0..4].copy_from_slice(&self.key_hash.to_be_bytes());
        bytes[4..12].copy_from_slice(&self.physical_offset.to_be_bytes());
        bytes[12..16].copy_from_slice(&self.time_diff_seconds.to_be_bytes());
        bytes[16..20].copy_from_slice(&self.previous.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8; ENTRY_BYTES as usize]) -> Entry {
        Entry {
            key_hash: i32::from_be_bytes(array(&bytes[0..4])),
            physical_offset: i64::from_be_bytes(array(&bytes[4..12])),
            time_diff_seconds: i32::from_be_bytes(array(&bytes[12..16])),
            previous: i32::from_be_bytes(array(&bytes[16..20])),
        }
    }

    /// The first millisecond of the second this entry was stored in.
    fn second_start_ms(&self, header: &IndexHeader) -> i64 {
        let diff_ms = i64::from(self.time_diff_seconds).saturating_mul(1000);
        header.begin_timestamp_ms.saturating_add(diff_ms)
    }
}

/// Whether a stored entry number names an entry in use. Anything else (0, negative, at or past
/// `index_count`: stale or corrupt) ends a chain.
fn in_use(number: i32, index_count: u32) -> bool {
    number >= 1 && (number as u32) < index_count
}

/// Java: store time − begin in whole seconds, clamped to [0, i32::MAX]; 0 without a begin.
fn time_diff_seconds(store_timestamp_ms: i64, begin_timestamp_ms: i64) -> i32 {
    if begin_timestamp_ms <= 0 {
        return 0;
    }
    let seconds = store_timestamp_ms.saturating_sub(begin_timestamp_ms) / 1000;
    seconds.clamp(0, i64::from(i32::MAX)) as i32
}

#[derive(Debug)]
struct FileState {
    header: IndexHeader,
    /// Bumped by every change; a flush is due while it differs from `flushed_changes`.
    changes: u64,
    flushed_changes: u64,
    /// Entries below this number are durable.
    flushed_index_count: u32,
}

/// One index file.
#[derive(Debug)]
pub struct IndexFile {
    path: PathBuf,
    file: SharedFile,
    geometry: IndexGeometry,
    state: RwLock<FileState>,
}

impl IndexFile {
    /// Creates an empty file. Like Java, its header starts at the previous file's end, so an
    /// empty newest file still reports how far indexing got.
    pub fn create(
        fs: &dyn FileSystem,
        path: &Path,
        geometry: IndexGeometry,
        previous: Option<&IndexHeader>,
    ) -> StoreResult<Self> {
        let file = fs
            .create(path, geometry.file_size_bytes())
            .map_err(|e| StoreError::io(format!("cannot create {}", path.display()), e))?;
        let mut header = IndexHeader {
            index_count: 1,
            ..IndexHeader::default()
        };
        if let Some(previous) = previous {
            header.begin_timestamp_ms = previous.end_timestamp_ms;
            header.end_timestamp_ms = previous.end_timestamp_ms;
            header.begin_physical_offset = previous.end_physical_offset;
            header.end_physical_offset = previous.end_physical_offset;
        }
        let index_file = Self::with_header(path, file, geometry, header, 0);
        index_file.write(0, &header.encode())?;
        Ok(index_file)
    }

    /// Opens an existing file; its size must match `geometry`, its header must be sane.
    pub fn load(fs: &dyn FileSystem, path: &Path, geometry: IndexGeometry) -> StoreResult<Self> {
        let file = fs
            .open(path)
            .map_err(|e| StoreError::io(format!("cannot open {}", path.display()), e))?;
        if file.capacity() != geometry.file_size_bytes() {
            return Err(StoreError::Corrupt {
                file: path.to_owned(),
                offset: 0,
                reason: format!(
                    "index file has {} bytes but maxHashSlotNum {} and maxIndexNum {} need {}",
                    file.capacity(),
                    geometry.hash_slots,
                    geometry.max_index_count,
                    geometry.file_size_bytes()
                ),
            });
        }
        let mut bytes = [0u8; HEADER_BYTES as usize];
        file.read_at(0, &mut bytes)
            .map_err(|e| StoreError::io(format!("cannot read {}", path.display()), e))?;
        let header = IndexHeader::decode(&bytes, path, geometry.max_index_count)?;
        // What is on disk now is all we know of; treat it as flushed.
        Ok(Self::with_header(path, file, geometry, header, 1))
    }

    fn with_header(
        path: &Path,
        file: SharedFile,
        geometry: IndexGeometry,
        header: IndexHeader,
        flushed_changes: u64,
    ) -> Self {
        IndexFile {
            path: path.to_owned(),
            file,
            geometry,
            state: RwLock::new(FileState {
                header,
                changes: 1,
                flushed_changes,
                flushed_index_count: header.index_count,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> IndexHeader {
        self.state.read().header
    }

    /// Adds `key` (already `topic#key`). `Ok(false)`: the file is full, roll to a new one.
    pub fn put(
        &self,
        key: &str,
        physical_offset: u64,
        store_timestamp_ms: i64,
    ) -> StoreResult<bool> {
        let stored_offset = i64::try_from(physical_offset).map_err(|_| {
            StoreError::MessageIllegal(format!("physical offset {physical_offset} exceeds i64"))
        })?;
        let mut state = self.state.write();
        let mut header = state.header;
        let number = header.index_count;
        if number >= self.geometry.max_index_count {
            return Ok(false);
        }
        let key_hash = index_hash(key);
        let slot_position = self.geometry.slot_position(key_hash);
        let newest = self.read_i32(slot_position)?;
        let previous = if in_use(newest, number) { newest } else { 0 };
        if number == 1 {
            header.begin_timestamp_ms = store_timestamp_ms;
            header.begin_physical_offset = physical_offset;
        }
        let entry = Entry {
            key_hash,
            physical_offset: stored_offset,
            time_diff_seconds: time_diff_seconds(store_timestamp_ms, header.begin_timestamp_ms),
            previous,
        };
        self.write(self.geometry.entry_position(number), &entry.encode())?;
        // number < max_index_count ≤ i32::MAX (geometry), so it fits the i32 slot.
        self.write(slot_position, &(number as i32).to_be_bytes())?;
        if previous == 0 {
            header.hash_slot_count = header.hash_slot_count.saturating_add(1);
        }
        header.index_count = number + 1;
        header.end_timestamp_ms = store_timestamp_ms;
        header.end_physical_offset = physical_offset;
        self.write(0, &header.encode())?;
        state.header = header;
        state.changes += 1;
        Ok(true)
    }

    /// Physical offsets stored under `key` in `[begin_ms, end_ms]`, newest first, at most `max`.
    /// Equal hashes of different keys match too: the caller re-checks each record.
    pub fn query(
        &self,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> StoreResult<Vec<u64>> {
        let mut found = Vec::new();
        if max > 0 {
            self.walk(index_hash(key), begin_ms, end_ms, &mut |offset| {
                found.push(offset);
                found.len() < max
            })?;
        }
        Ok(found)
    }

    /// Calls `visit` with each matching offset, newest first, until it returns false. Every
    /// step goes to a strictly older entry number, so even a corrupt chain ends.
    fn walk(
        &self,
        key_hash: i32,
        begin_ms: i64,
        end_ms: i64,
        visit: &mut dyn FnMut(u64) -> bool,
    ) -> StoreResult<()> {
        let state = self.state.read();
        let header = state.header;
        let mut number = self.read_i32(self.geometry.slot_position(key_hash))?;
        while in_use(number, header.index_count) {
            let entry = self.read_entry(number as u32)?;
            if entry.time_diff_seconds < 0 {
                break; // never written by a sane writer: the rest of the chain is suspect
            }
            let second_start_ms = entry.second_start_ms(&header);
            if second_start_ms.saturating_add(999) < begin_ms {
                break; // chains run newest to oldest: everything further is older still
            }
            if entry.key_hash == key_hash
                && second_start_ms <= end_ms
                && let Ok(offset) = u64::try_from(entry.physical_offset)
                && !visit(offset)
            {
                break;
            }
            if entry.previous >= number {
                break; // a forward or self link: corrupt, and following it could loop
            }
            number = entry.previous;
        }
        Ok(())
    }

    /// Makes every entry written so far durable: new entries first, then slots and header, so a
    /// durable header never counts entries that were lost.
    pub fn flush(&self) -> StoreResult<()> {
        let (changes, index_count, flushed_index_count) = {
            let state = self.state.read();
            if state.changes == state.flushed_changes {
                return Ok(());
            }
            let header = state.header;
            (state.changes, header.index_count, state.flushed_index_count)
        };
        let entries_from = self
            .geometry
            .entry_position(flushed_index_count.min(index_count));
        let entries_to = self.geometry.entry_position(index_count);
        let flush = |start: u64, end: u64| {
            self.file
                .flush_range(start, end)
                .map_err(|e| StoreError::io(format!("cannot flush {}", self.path.display()), e))
        };
        flush(entries_from, entries_to)?;
        flush(0, self.geometry.slots_end())?;
        let mut state = self.state.write();
        state.flushed_changes = changes;
        // A rollback may have run meanwhile; never claim more than the file now holds.
        state.flushed_index_count = index_count.min(state.header.index_count);
        Ok(())
    }

    /// Undoes the newest entries whose offset is ≥ `physical_offset`, newest first, restoring
    /// each slot to the entry's predecessor: the exact reverse of `put`. Stops at the first
    /// older entry, so entries below that stay even if a re-dispatch left larger ones earlier.
    fn rollback_from(&self, physical_offset: u64) -> StoreResult<()> {
        let mut state = self.state.write();
        let mut header = state.header;
        let mut number = header.index_count - 1;
        let mut kept = None;
        while number >= 1 {
            let entry = self.read_entry(number)?;
            if let Ok(offset) = u64::try_from(entry.physical_offset)
                && offset < physical_offset
            {
                kept = Some((entry, offset));
                break;
            }
            let slot_position = self.geometry.slot_position(entry.key_hash);
            let newest = self.read_i32(slot_position)?;
            if newest >= number as i32 || !in_use(newest, header.index_count) {
                let previous = if in_use(entry.previous, number) {
                    entry.previous
                } else {
                    0
                };
                self.write(slot_position, &previous.to_be_bytes())?;
                if previous == 0 {
                    header.hash_slot_count = header.hash_slot_count.saturating_sub(1);
                }
            }
            number -= 1;
        }
        if number + 1 == header.index_count {
            return Ok(());
        }
        header.index_count = number + 1;
        match kept {
            Some((entry, offset)) => {
                // Whole seconds are all an entry records of its time.
                header.end_timestamp_ms = entry.second_start_ms(&header);
                header.end_physical_offset = offset;
            }
            None => {
                header.end_timestamp_ms = header.begin_timestamp_ms;
                header.end_physical_offset = header.begin_physical_offset;
            }
        }
        self.write(0, &header.encode())?;
        state.header = header;
        state.changes += 1;
        state.flushed_index_count = state.flushed_index_count.min(header.index_count);
        Ok(())
    }

    fn read_i32(&self, position: u64) -> StoreResult<i32> {
        let mut bytes = [0u8; 4];
        self.read(position, &mut bytes)?;
        Ok(i32::from_be_bytes(bytes))
    }

    fn read_entry(&self, number: u32) -> StoreResult<Entry> {
        let mut bytes = [0u8; ENTRY_BYTES as usize];
        self.read(self.geometry.entry_position(number), &mut bytes)?;
        Ok(Entry::decode(&bytes))
    }

    fn read(&self, position: u64, buf: &mut [u8]) -> StoreResult<()> {
        self.file.read_at(position, buf).map_err(|e| {
            StoreError::io(
                format!("cannot read {} at {position}", self.path.display()),
                e,
            )
        })
    }

    fn write(&self, position: u64, bytes: &[u8]) -> StoreResult<()> {
        self.file.write_at(position, bytes).map_err(|e| {
            StoreError::io(
                format!("cannot write {} at {position}", self.path.display()),
                e,
            )
        })
    }
}

/// A file of the service and its name as a number, which orders files by creation.
#[derive(Debug, Clone)]
struct NamedFile {
    name: u64,
    file: Arc<IndexFile>,
}

/// All index files of a store, oldest first; only the newest takes entries.
#[derive(Debug)]
pub struct IndexService {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    geometry: IndexGeometry,
    files: RwLock<Vec<NamedFile>>,
}

impl IndexService {
    /// Opens `<root>/index/` (creating it if missing), files oldest first. A stray name or a
    /// file of another geometry is an error naming the file, not something to guess around.
    pub fn load(
        fs: Arc<dyn FileSystem>,
        root: &Path,
        max_hash_slots: u32,
        max_index_count: u32,
    ) -> StoreResult<Self> {
        let geometry = IndexGeometry::new(max_hash_slots, max_index_count)?;
        let dir = root.join(INDEX_DIR);
        fs.create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("cannot create {}", dir.display()), e))?;
        let names = fs
            .list_files(&dir)
            .map_err(|e| StoreError::io(format!("cannot list {}", dir.display()), e))?;
        let mut files = Vec::new();
        for name in names {
            if name.ends_with(".tmp") {
                continue;
            }
            let path = dir.join(&name);
            let number = parse_file_name(&name).ok_or_else(|| StoreError::Corrupt {
                file: path.clone(),
                offset: 0,
                reason: "index file name is not a 17-digit yyyyMMddHHmmssSSS time".into(),
            })?;
            let file = Arc::new(IndexFile::load(&*fs, &path, geometry)?);
            files.push(NamedFile { name: number, file });
        }
        files.sort_by_key(|named| named.name);
        Ok(IndexService {
            fs,
            dir,
            geometry,
            files: RwLock::new(files),
        })
    }

    /// Indexes one record under its UNIQ_KEY and each KEYS token (the caller splits `KEYS` on
    /// spaces, e.g. with `RecordCheck::key_tokens`, and skips ROLLBACK transaction records).
    /// Empty keys are skipped. Called by the single writer, in log order.
    pub fn put(
        &self,
        topic: &str,
        keys: &[&str],
        uniq_key: Option<&str>,
        physical_offset: u64,
        store_timestamp_ms: i64,
    ) -> StoreResult<()> {
        let all_keys = uniq_key.into_iter().chain(keys.iter().copied());
        for key in all_keys.filter(|key| !key.is_empty()) {
            self.put_key(&index_key(topic, key), physical_offset, store_timestamp_ms)?;
        }
        Ok(())
    }

    fn put_key(&self, key: &str, physical_offset: u64, store_timestamp_ms: i64) -> StoreResult<()> {
        let newest = self.files.read().last().map(|named| named.file.clone());
        if let Some(file) = newest
            && file.put(key, physical_offset, store_timestamp_ms)?
        {
            return Ok(());
        }
        let file = self.roll(store_timestamp_ms)?;
        if file.put(key, physical_offset, store_timestamp_ms)? {
            Ok(())
        } else {
            // IndexGeometry guarantees room for at least one entry.
            Err(StoreError::Config(format!(
                "new index file {} has no room for an entry",
                file.path().display()
            )))
        }
    }

    /// Starts a new newest file, named after `store_timestamp_ms` (see the module doc).
    fn roll(&self, store_timestamp_ms: i64) -> StoreResult<Arc<IndexFile>> {
        let mut files = self.files.write();
        let previous = files.last();
        let mut name = time_name(store_timestamp_ms);
        if let Some(previous) = previous
            && name <= previous.name
        {
            name = previous.name + 1;
        }
        let path = self.dir.join(format!("{name:017}"));
        let previous_header = previous.map(|named| named.file.header());
        let file = IndexFile::create(&*self.fs, &path, self.geometry, previous_header.as_ref())?;
        let file = Arc::new(file);
        files.push(NamedFile {
            name,
            file: file.clone(),
        });
        Ok(file)
    }

    /// Physical offsets of `topic`'s records with `key` stored in `[begin_ms, end_ms]`, newest
    /// first, without duplicates (recovery may index a record twice), at most `max_num`.
    /// Different keys can share a hash: the caller must re-check each record's keys.
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> StoreResult<Vec<u64>> {
        let key_hash = index_hash(&index_key(topic, key));
        // A snapshot, so a query never holds up rolling; removed files stay readable through it.
        let files = self.files.read().clone();
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for named in files.iter().rev() {
            if found.len() >= max_num {
                break;
            }
            let header = named.file.header();
            // Entries keep whole seconds, so a file may hold matches up to 999 ms past its
            // recorded end.
            if begin_ms <= header.end_timestamp_ms.saturating_add(999)
                && header.begin_timestamp_ms <= end_ms
            {
                named.file.walk(key_hash, begin_ms, end_ms, &mut |offset| {
                    if seen.insert(offset) {
                        found.push(offset);
                    }
                    found.len() < max_num
                })?;
            }
            if header.begin_timestamp_ms < begin_ms {
                break; // older files end before this one begins, so before the range
            }
        }
        Ok(found)
    }

    /// Flushes every file with unflushed changes. On error nothing counts as flushed beyond
    /// what earlier successful flushes covered; the caller poisons the store.
    pub fn flush(&self) -> StoreResult<()> {
        let files = self.files.read().clone();
        for named in &files {
            named.file.flush()?;
        }
        Ok(())
    }

    /// How far indexing got: the newest file's endPhyOffset (0 without files).
    pub fn end_physical_offset(&self) -> u64 {
        self.newest_header().end_physical_offset
    }

    /// The newest file's endTimestamp (0 without files): QUERY_MESSAGE's
    /// `indexLastUpdateTimestamp` and the checkpoint's `indexMsgTimestamp`.
    pub fn end_timestamp_ms(&self) -> i64 {
        self.newest_header().end_timestamp_ms
    }

    fn newest_header(&self) -> IndexHeader {
        let newest = self.files.read().last().map(|named| named.file.clone());
        newest.map(|file| file.header()).unwrap_or_default()
    }

    /// The files' paths, oldest first.
    pub fn file_paths(&self) -> Vec<PathBuf> {
        let files = self.files.read();
        files
            .iter()
            .map(|named| named.file.path().to_owned())
            .collect()
    }

    /// Recovery hook, before the log is cut or re-dispatched from `physical_offset`: removes
    /// the files whose beginPhyOffset ≥ it and rolls back the newest remaining file's tail of
    /// entries at or past it. Re-dispatch then rebuilds those entries without duplicates, and no
    /// entry is left pointing into log bytes that a cut may refill with other records. (Entries
    /// out of log order, from a re-dispatch without this call, are tolerated: queries dedup and
    /// the caller re-checks.)
    pub fn discard_from(&self, physical_offset: u64) -> StoreResult<()> {
        let mut files = self.files.write();
        while let Some(newest) = files.last() {
            if newest.file.header().begin_physical_offset < physical_offset {
                return newest.file.rollback_from(physical_offset);
            }
            self.remove(&newest.file)?;
            files.pop();
        }
        Ok(())
    }

    /// Retention: removes the oldest files whose endPhyOffset < `commit_log_min` (their records
    /// are gone from the log), stopping at the first younger one and never removing the newest.
    /// Returns how many went.
    pub fn delete_files_below(&self, commit_log_min: u64) -> StoreResult<usize> {
        let mut files = self.files.write();
        let mut removed = 0;
        let mut result = Ok(());
        while removed + 1 < files.len()
            && files[removed].file.header().end_physical_offset < commit_log_min
        {
            result = self.remove(&files[removed].file);
            if result.is_err() {
                break;
            }
            removed += 1;
        }
        files.drain(..removed);
        result.map(|()| removed)
    }

    fn remove(&self, file: &IndexFile) -> StoreResult<()> {
        self.fs
            .remove(file.path())
            .map_err(|e| StoreError::io(format!("cannot remove {}", file.path().display()), e))
    }
}

/// The `yyyyMMddHHmmssSSS` name of a UTC instant, as a number (names are 17 digits, so their
/// numeric and lexical orders agree). Instants are clamped to years 1970..=9999.
fn time_name(ms: i64) -> u64 {
    let ms = ms.clamp(0, MAX_NAME_MS);
    let (year, month, day) = civil_from_days(ms / MS_PER_DAY);
    let of_day = ms % MS_PER_DAY;
    // HH·10^7 + mm·10^5 + ssSSS, where ssSSS is the milliseconds into the minute.
    let clock = of_day / 3_600_000 * 10_000_000 + of_day / 60_000 % 60 * 100_000 + of_day % 60_000;
    (((year * 100 + month) * 100 + day) * 1_000_000_000 + clock) as u64
}

/// A file name's number; `None` unless it is exactly 17 digits. Like Java, the digits are not
/// checked to be a real time: a bumped name (see the module doc) may not be one.
fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.len() == FILE_NAME_DIGITS && name.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| name.parse().ok()).flatten()
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mapped_file::{RealFileSystem, SimFileSystem};

    const T0: i64 = 1_700_000_000_000;

    fn service(fs: &SimFileSystem, slots: u32, entries: u32) -> IndexService {
        IndexService::load(Arc::new(fs.clone()), Path::new("/store"), slots, entries).unwrap()
    }

    fn query_all(index: &IndexService, topic: &str, key: &str) -> Vec<u64> {
        index.query(topic, key, 100, 0, i64::MAX).unwrap()
    }

    /// Indexes `key` of topic T for the record at `offset`.
    fn put(index: &IndexService, key: &str, offset: u64, store_timestamp_ms: i64) {
        index
            .put("T", &[key], None, offset, store_timestamp_ms)
            .unwrap();
    }

    fn file_bytes(file: &IndexFile) -> Vec<u8> {
        let mut bytes = vec![0u8; file.geometry.file_size_bytes() as usize];
        file.file.read_at(0, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn java_hash_codes_and_the_min_value_case() {
        // Known Java values: "Aa".hashCode() == "BB".hashCode() == 2112, and
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(index_hash("Aa"), 2112);
        assert_eq!(index_hash("BB"), 2112);
        assert_eq!(tag_hash_code("polygenelubricants"), i64::from(i32::MIN));
        assert_eq!(index_hash("polygenelubricants"), 0);
        assert_eq!(tag_hash_code("T#order-1"), -1_840_611_261);
        assert_eq!(index_hash("T#order-1"), 1_840_611_261);
        // A MIN_VALUE key is still indexed (in slot 0) and found.
        let fs = SimFileSystem::new();
        let index = service(&fs, 8, 16);
        index.put("x", &["other"], None, 0, T0).unwrap(); // a key in another slot first
        let file = index.files.read()[0].file.clone();
        assert!(file.put("polygenelubricants", 77, T0).unwrap());
        assert_eq!(
            file.query("polygenelubricants", 0, i64::MAX, 10).unwrap(),
            vec![77]
        );
        assert_eq!(
            file.read_i32(HEADER_BYTES).unwrap(),
            2,
            "slot 0 holds entry 2"
        );
    }

    #[test]
    fn golden_bytes_of_a_collision_chain() {
        let fs = SimFileSystem::new();
        let geometry = IndexGeometry::new(8, 16).unwrap();
        let file = IndexFile::create(&fs, Path::new("/f"), geometry, None).unwrap();
        assert_eq!(file.file.capacity(), 40 + 8 * 4 + 16 * 20);
        // "T#Aa" and "T#BB" share Java hash 2538191 = 0x0026BACF, slot 2538191 % 8 = 7.
        assert!(file.put("T#Aa", 100, T0).unwrap());
        assert!(file.put("T#BB", 200, T0 + 2_500).unwrap());
        let mut expected = vec![0u8; 40 + 32 + 320];
        let header: [u8; 40] = [
            0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, // begin 1_700_000_000_000
            0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x71, 0xC4, // end 1_700_000_002_500
            0, 0, 0, 0, 0, 0, 0, 100, // beginPhyOffset
            0, 0, 0, 0, 0, 0, 0, 200, // endPhyOffset
            0, 0, 0, 1, // hashSlotCount: one slot became non-empty
            0, 0, 0, 3, // indexCount: entries 1 and 2 used
        ];
        expected[..40].copy_from_slice(&header);
        expected[68..72].copy_from_slice(&[0, 0, 0, 2]); // slot 7 → newest entry 2
        let entry_1 = [
            0x00, 0x26, 0xBA, 0xCF, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let entry_2 = [
            0x00, 0x26, 0xBA, 0xCF, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 2, 0, 0, 0, 1,
        ];
        expected[92..112].copy_from_slice(&entry_1);
        expected[112..132].copy_from_slice(&entry_2);
        assert_eq!(file_bytes(&file), expected);
        // Full-hash collisions both come back; the caller's re-check tells them apart.
        assert_eq!(file.query("T#Aa", 0, i64::MAX, 10).unwrap(), vec![200, 100]);
        assert_eq!(file.query("T#Aa", 0, i64::MAX, 1).unwrap(), vec![200]);
    }

    #[test]
    fn query_by_key_and_time_range() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 8, 64);
        for i in 0..10u64 {
            let key = if i % 2 == 0 { "even" } else { "odd" };
            index
                .put(
                    "T",
                    &[key, ""],
                    Some(&format!("U{i}")),
                    i * 100,
                    T0 + i as i64 * 1000,
                )
                .unwrap();
        }
        assert_eq!(query_all(&index, "T", "even"), vec![800, 600, 400, 200, 0]);
        assert_eq!(query_all(&index, "T", "U3"), vec![300]);
        assert_eq!(
            index.query("T", "odd", 2, 0, i64::MAX).unwrap(),
            vec![900, 700]
        );
        let range = index.query("T", "even", 100, T0 + 2000, T0 + 6000).unwrap();
        assert_eq!(range, vec![600, 400, 200]);
        // Whole seconds: a record stored at T0+10700 lies in the second starting T0+10000. A
        // range starting later in that second still finds it (Java would miss it); one starting
        // at the next second does not.
        put(&index, "late", 5000, T0 + 10_700);
        let late = |begin_ms| index.query("T", "late", 9, begin_ms, T0 + 60_000).unwrap();
        assert_eq!(late(T0 + 10_500), vec![5000]);
        assert_eq!(late(T0 + 10_999), vec![5000]);
        assert!(late(T0 + 11_000).is_empty());
        assert!(late(T0 + 20_000).is_empty());
        assert!(query_all(&index, "T", "missing").is_empty());
        assert!(index.query("T", "even", 0, 0, i64::MAX).unwrap().is_empty());
        assert_eq!(index.end_physical_offset(), 5000);
        assert_eq!(index.end_timestamp_ms(), T0 + 10_700);
    }

    #[test]
    fn topics_do_not_mix() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 1, 16); // one slot: every key shares one chain
        for (topic, key, offset) in [("A", "k", 1), ("B", "k", 2), ("A", "k2", 3)] {
            index.put(topic, &[key], None, offset, T0).unwrap();
        }
        assert_eq!(query_all(&index, "A", "k"), vec![1]);
        assert_eq!(query_all(&index, "B", "k"), vec![2]);
        assert_eq!(query_all(&index, "A", "k2"), vec![3]);
    }

    #[test]
    fn rolls_when_full_and_queries_across_files() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 4, 4); // 3 entries per file
        for i in 0..7u64 {
            // Two files open in the same millisecond: names must still be unique and ordered.
            let second = [0, 0, 0, 0, 10, 10, 20][i as usize];
            put(&index, "k", i * 10, T0 + second * 1000);
        }
        let paths = index.file_paths();
        let names: Vec<_> = paths.iter().map(|p| p.file_name().unwrap()).collect();
        let expected = [
            "20231114221320000",
            "20231114221320001",
            "20231114221340000",
        ];
        assert_eq!(names, expected);
        let all = vec![60, 50, 40, 30, 20, 10, 0];
        assert_eq!(query_all(&index, "T", "k"), all);
        assert_eq!(index.query("T", "k", 4, 0, i64::MAX).unwrap(), all[..4]);
        // Ranges select files by their time span: [T0+5s, T0+15s] is only in the second one.
        let middle = index.query("T", "k", 9, T0 + 5000, T0 + 15_000).unwrap();
        assert_eq!(middle, vec![50, 40]);
        let second = index.files.read()[1].file.header();
        let span = (second.begin_physical_offset, second.end_physical_offset);
        assert_eq!(span, (30, 50));
        // Reloading finds the same files in the same order.
        let reloaded = service(&fs, 4, 4);
        assert_eq!(reloaded.file_paths(), paths);
        assert_eq!(query_all(&reloaded, "T", "k"), all);
    }

    #[test]
    fn re_indexed_records_are_reported_once() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 4, 4);
        for offset in [10, 20, 10, 20, 30] {
            put(&index, "k", offset, T0);
        }
        assert_eq!(index.file_paths().len(), 2);
        assert_eq!(query_all(&index, "T", "k"), vec![30, 20, 10]);
        assert_eq!(index.query("T", "k", 2, 0, i64::MAX).unwrap(), vec![30, 20]);
    }

    #[test]
    fn reopened_real_files_keep_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(RealFileSystem);
        {
            let index = IndexService::load(fs.clone(), dir.path(), 16, 32).unwrap();
            index.put("T", &["a", "b"], Some("U1"), 1000, T0).unwrap();
            index.put("T", &["a"], Some("U2"), 2000, T0 + 1000).unwrap();
            index.flush().unwrap();
        }
        let index = IndexService::load(fs.clone(), dir.path(), 16, 32).unwrap();
        assert_eq!(query_all(&index, "T", "a"), vec![2000, 1000]);
        assert_eq!(query_all(&index, "T", "U1"), vec![1000]);
        assert_eq!(index.end_physical_offset(), 2000);
        index.put("T", &["a"], None, 3000, T0 + 2000).unwrap();
        assert_eq!(query_all(&index, "T", "a"), vec![3000, 2000, 1000]);
        assert_eq!(index.files.read()[0].file.header().index_count, 7);
        // Another geometry does not fit the file: the error names it.
        let error = IndexService::load(fs, dir.path(), 8, 32)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("20231114221320000") && error.contains("maxHashSlotNum 8"),
            "{error}"
        );
    }

    #[test]
    fn a_crash_keeps_flushed_entries() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 8, 16);
        put(&index, "k", 100, T0);
        index.flush().unwrap();
        index
            .put("T", &["k", "other"], None, 200, T0 + 1000)
            .unwrap();
        let after = service(&fs.crash(), 8, 16);
        assert_eq!(query_all(&after, "T", "k"), vec![100]);
        assert!(query_all(&after, "T", "other").is_empty());
        assert_eq!(after.end_physical_offset(), 100);
        // A file created but never flushed may be gone after the crash: the index is empty
        // and takes new entries.
        let fresh = SimFileSystem::new();
        put(&service(&fresh, 8, 16), "k", 5, T0);
        let empty = service(&fresh.crash(), 8, 16);
        assert!(query_all(&empty, "T", "k").is_empty());
        assert!(empty.files.read().is_empty());
        put(&empty, "k", 6, T0);
        assert_eq!(query_all(&empty, "T", "k"), vec![6]);
        // A failed flush is reported, and a later good one still covers the entries.
        index.flush().unwrap();
        put(&index, "k", 300, T0 + 2000);
        fs.fail_flushes(true);
        assert!(index.flush().is_err());
        fs.fail_flushes(false);
        index.flush().unwrap();
        assert_eq!(
            query_all(&service(&fs.crash(), 8, 16), "T", "k"),
            vec![300, 200, 100]
        );
    }

    #[test]
    fn corrupt_chains_end() {
        let fs = SimFileSystem::new();
        let geometry = IndexGeometry::new(1, 16).unwrap();
        let file = IndexFile::create(&fs, Path::new("/f"), geometry, None).unwrap();
        for offset in [10, 20, 30] {
            assert!(file.put("T#k", offset, T0).unwrap());
        }
        let previous_of = |number: u32| geometry.entry_position(number) + 16;
        let set = |position: u64, value: i32| file.write(position, &value.to_be_bytes()).unwrap();
        let query = || file.query("T#k", 0, i64::MAX, 100).unwrap();
        assert_eq!(query(), vec![30, 20, 10]);
        set(previous_of(2), 2); // self loop
        assert_eq!(query(), vec![30, 20]);
        set(previous_of(2), 3); // 3 → 2 → 3 → ...
        assert_eq!(query(), vec![30, 20]);
        set(previous_of(3), 9); // past indexCount
        assert_eq!(query(), vec![30]);
        set(previous_of(3), -5);
        assert_eq!(query(), vec![30]);
        set(HEADER_BYTES, 4); // slot names an entry not yet written
        assert!(query().is_empty());
        set(HEADER_BYTES, 3);
        set(geometry.entry_position(3) + 12, -1); // negative time difference
        assert!(query().is_empty());
        // A header counting more entries than the file holds is refused by name.
        set(36, 17);
        let error = IndexFile::load(&fs, Path::new("/f"), geometry)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/f") && error.contains("exceeds 16"),
            "{error}"
        );
    }

    #[test]
    fn discard_from_drops_files_and_rolls_back_the_tail() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 2, 4); // 3 entries per file
        for i in 0..7u64 {
            put(
                &index,
                if i < 5 { "a" } else { "b" },
                i * 10,
                T0 + i as i64 * 1000,
            );
        }
        let paths = index.file_paths();
        assert_eq!(paths.len(), 3);
        let before = file_bytes(&index.files.read()[1].file);
        // Cut inside the second file: the third goes, the second keeps entries below 40.
        index.discard_from(40).unwrap();
        assert_eq!(index.file_paths(), paths[..2]);
        assert!(!fs.paths().contains(&paths[2]));
        assert_eq!(index.end_physical_offset(), 30);
        assert_eq!(index.end_timestamp_ms(), T0 + 3000);
        assert_eq!(query_all(&index, "T", "a"), vec![30, 20, 10, 0]);
        assert!(query_all(&index, "T", "b").is_empty());
        // Re-dispatching the same records restores the file byte for byte, without duplicates.
        put(&index, "a", 40, T0 + 4000);
        put(&index, "b", 50, T0 + 5000);
        assert_eq!(file_bytes(&index.files.read()[1].file), before);
        assert_eq!(query_all(&index, "T", "a"), vec![40, 30, 20, 10, 0]);
        assert_eq!(query_all(&index, "T", "b"), vec![50]);
        // The rollback survives a flush and a crash.
        index.discard_from(35).unwrap();
        index.flush().unwrap();
        assert_eq!(
            query_all(&service(&fs.crash(), 2, 4), "T", "a"),
            vec![30, 20, 10, 0]
        );
        index.discard_from(0).unwrap();
        assert!(index.file_paths().is_empty());
        assert_eq!(index.end_physical_offset(), 0);
        assert!(fs.paths().is_empty());
    }

    #[test]
    fn delete_files_below_keeps_the_newest() {
        let fs = SimFileSystem::new();
        let index = service(&fs, 4, 4);
        for i in 0..9u64 {
            put(&index, "k", i * 10, T0);
        }
        let paths = index.file_paths();
        assert_eq!(paths.len(), 3); // ends at 20, 50, 80
        assert_eq!(index.delete_files_below(20).unwrap(), 0);
        assert_eq!(index.delete_files_below(21).unwrap(), 1);
        assert_eq!(index.file_paths(), paths[1..]);
        assert!(!fs.paths().contains(&paths[0]));
        assert_eq!(query_all(&index, "T", "k"), vec![80, 70, 60, 50, 40, 30]);
        assert_eq!(index.delete_files_below(u64::MAX).unwrap(), 1);
        assert_eq!(index.file_paths(), paths[2..]);
    }

    #[test]
    fn file_names_are_utc_times() {
        assert_eq!(time_name(0), 19700101000000000);
        assert_eq!(time_name(T0 + 123), 20231114221320123);
        assert_eq!(time_name(951_868_799_999), 20000229235959999); // a leap day
        assert_eq!(time_name(i64::MAX), 99991231235959999);
        assert_eq!(time_name(-1), 19700101000000000);
        assert_eq!(
            parse_file_name("20231114221320123"),
            Some(20231114221320123)
        );
        assert_eq!(parse_file_name("2023111422132012"), None);
        assert_eq!(parse_file_name("+2023111422132012"), None);
        let fs = SimFileSystem::new();
        fs.create_dir_all(Path::new("/store/index")).unwrap();
        fs.create(Path::new("/store/index/notatime"), 8).unwrap();
        let error = IndexService::load(Arc::new(fs), Path::new("/store"), 4, 4).unwrap_err();
        assert!(error.to_string().contains("notatime"), "{error}");
    }

    #[test]
    fn geometry_limits() {
        assert_eq!(
            IndexGeometry::new(DEFAULT_MAX_HASH_SLOTS, DEFAULT_MAX_INDEX_COUNT)
                .unwrap()
                .file_size_bytes(),
            420_000_040
        );
        assert!(IndexGeometry::new(0, 16).is_err());
        assert!(IndexGeometry::new(8, 1).is_err());
        assert!(IndexGeometry::new(u32::MAX, 16).is_err());
    }
}

//! Storage files: fixed-size, preallocated, memory-mapped files behind a small trait, and the
//! file-system operations around them. This is the only module with `unsafe`.
//!
//! Two implementations of [`FileSystem`]:
//! * [`RealFileSystem`]: `fallocate`d files mapped with memmap2. Preallocation means a write
//!   into the mapping never meets an unallocated block on a full disk (SIGBUS); files are never
//!   shrunk while mapped ("truncation" zeroes the tail instead); bounds are checked on every
//!   access so nothing touches past the end of a mapping.
//! * `SimFileSystem` (tests and the `simulation` feature): keeps each file's written and
//!   durable bytes apart, so a test can "lose power" at any instant and recover from exactly
//!   what had been flushed, and can make flushes fail.

#![allow(unsafe_code)]

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::MmapRaw;

/// One fixed-size storage file. Callers guarantee a single writer per file and read only
/// ranges the writer has published; the file enforces bounds.
pub trait StorageFile: Send + Sync + Debug {
    /// Size in bytes, fixed at creation.
    fn capacity(&self) -> u64;
    /// Copies `bytes` to `position`.
    fn write_at(&self, position: u64, bytes: &[u8]) -> io::Result<()>;
    /// Fills `buf` from `position`.
    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Makes `[start, end)` durable. After an error nothing in the range may be assumed
    /// durable, ever (the kernel may have dropped the dirty pages).
    fn flush_range(&self, start: u64, end: u64) -> io::Result<()>;
    /// Zeroes `[position, capacity)`: truncation without shrinking a mapped file.
    fn zero_from(&self, position: u64) -> io::Result<()>;
    /// Tells the kernel the file is touched a little at a time, not streamed: a page fault
    /// then brings in one page instead of a readahead window. For ConsumeQueue files, whose
    /// 20-byte appends otherwise make the first touch of a fresh file zero megabytes of page
    /// cache at once.
    fn advise_random(&self) -> io::Result<()> {
        Ok(())
    }
    /// Brings `[start, end)` into the page cache without dirtying it (see `warm.rs`).
    /// Only a hint: the data is unchanged whether it succeeds or not.
    fn prefault(&self, _start: u64, _end: u64) -> io::Result<()> {
        Ok(())
    }
}

pub type SharedFile = Arc<dyn StorageFile>;

/// Total and available bytes of the disk holding a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

impl DiskUsage {
    /// Used share of the disk, 0.0 to 1.0.
    pub fn used_ratio(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        1.0 - self.available_bytes as f64 / self.total_bytes as f64
    }
}

/// Holds the store directory's exclusive lock until dropped.
pub struct DirLock {
    /// The real lock: released by the kernel when the file closes.
    _file: Option<File>,
    /// A simulated lock's release.
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirLock")
            .field("file", &self._file)
            .finish()
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// The file-system operations the store needs, so tests can swap the disk for a simulation.
pub trait FileSystem: Send + Sync + Debug {
    /// Creates a new file of `capacity` bytes, preallocated. Its existence (its directory
    /// entry and those of the directories above it, up to [`DURABLE_ANCESTORS`] levels)
    /// becomes durable with its first `flush_range`: until then a power loss may take the
    /// file away. Creating is thus cheap on the append path, and the fsyncs run on the
    /// flusher, before any byte of the file is acknowledged as durable.
    fn create(&self, path: &Path, capacity: u64) -> io::Result<SharedFile>;
    /// Opens an existing file; its capacity is its current length.
    fn open(&self, path: &Path) -> io::Result<SharedFile>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the regular files in `dir` (empty if `dir` is missing).
    fn list_files(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Names of the subdirectories of `dir` (empty if `dir` is missing).
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates `dir` without making it durable now: for directories that hold only files
    /// from [`FileSystem::create`], whose first flush makes the directory durable too.
    fn create_dir_all_lazily(&self, dir: &Path) -> io::Result<()> {
        self.create_dir_all(dir)
    }
    fn exists(&self, path: &Path) -> bool;
    /// Replaces a small file atomically and durably: temporary file, fsync, rename, fsync of
    /// the directory.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// A small file's bytes, or `None` when it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    fn disk_usage(&self, dir: &Path) -> io::Result<DiskUsage>;
    /// Takes the exclusive lock that keeps a second process from mapping the same store.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock>;
}

/// How many directories above a new file its first flush makes durable: a ConsumeQueue
/// file's queue directory, topic directory and the `consumequeue` directory may all be new.
pub const DURABLE_ANCESTORS: usize = 3;

fn out_of_bounds(position: u64, length: usize, capacity: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("access of {length} bytes at {position} exceeds the file's {capacity} bytes"),
    )
}

fn check_bounds(position: u64, length: usize, capacity: u64) -> io::Result<()> {
    match position.checked_add(length as u64) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(out_of_bounds(position, length, capacity)),
    }
}

/// A preallocated file mapped read-write.
#[derive(Debug)]
struct MmapFile {
    map: MmapRaw,
    path: PathBuf,
    file: File,
    /// Created but not yet made durable (see [`FileSystem::create`]).
    entry_pending: AtomicBool,
}

impl MmapFile {
    fn map(file: File, path: &Path, entry_pending: bool) -> io::Result<MmapFile> {
        let map = MmapRaw::map_raw(&file)?;
        Ok(MmapFile {
            map,
            path: path.to_owned(),
            file,
            entry_pending: AtomicBool::new(entry_pending),
        })
    }

    /// The file's allocation and its directory entries, durable: fsync of the file, then of
    /// its directories bottom-up.
    fn make_entry_durable(&self) -> io::Result<()> {
        let failed = |what: &Path, error: io::Error| {
            io::Error::new(
                error.kind(),
                format!("fsync of {} failed: {error}", what.display()),
            )
        };
        self.file
            .sync_all()
            .map_err(|error| failed(&self.path, error))?;
        let mut dir = self.path.as_path();
        for _ in 0..DURABLE_ANCESTORS {
            dir = parent_of(dir);
            sync_dir(dir).map_err(|error| failed(dir, error))?;
            if dir.parent().is_none_or(|p| p.as_os_str().is_empty()) {
                break;
            }
        }
        self.entry_pending.store(false, Ordering::Release);
        Ok(())
    }
}

impl StorageFile for MmapFile {
    fn capacity(&self) -> u64 {
        self.map.len() as u64
    }

    fn advise_random(&self) -> io::Result<()> {
        self.map.advise(memmap2::Advice::Random)
    }

    fn prefault(&self, start: u64, end: u64) -> io::Result<()> {
        if end <= start {
            return Ok(());
        }
        check_bounds(start, (end - start) as usize, self.capacity())?;
        self.map.advise_range(
            memmap2::Advice::PopulateRead,
            start as usize,
            (end - start) as usize,
        )
    }

    fn write_at(&self, position: u64, bytes: &[u8]) -> io::Result<()> {
        check_bounds(position, bytes.len(), self.capacity())?;
        // SAFETY: the range lies inside the mapping (checked above) of a file that is
        // preallocated and never shrunk while mapped, so every page is backed. The store has
        // one writer per file and readers only read ranges published after the write, so no
        // other access overlaps this copy. `bytes` cannot alias the mapping: callers pass
        // their own buffers.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(position as usize),
                bytes.len(),
            );
        }
        Ok(())
    }

    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<()> {
        check_bounds(position, buf.len(), self.capacity())?;
        // SAFETY: in bounds as above; the range was published by the single writer before
        // this read, and `buf` is the caller's own memory, not the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(position as usize),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        Ok(())
    }

    fn flush_range(&self, start: u64, end: u64) -> io::Result<()> {
        if self.entry_pending.load(Ordering::Acquire) {
            self.make_entry_durable()?;
        }
        if end <= start {
            return Ok(());
        }
        check_bounds(start, (end - start) as usize, self.capacity())?;
        self.map
            .flush_range(start as usize, (end - start) as usize)
            .map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!(
                        "msync of {} [{start}, {end}) failed: {error}",
                        self.path.display()
                    ),
                )
            })
    }

    fn zero_from(&self, position: u64) -> io::Result<()> {
        let capacity = self.capacity();
        if position >= capacity {
            return Ok(());
        }
        // SAFETY: [position, capacity) is inside the mapping; zeroing happens during recovery
        // or truncation, when the store serves no reader of this range.
        unsafe {
            std::ptr::write_bytes(
                self.map.as_mut_ptr().add(position as usize),
                0,
                (capacity - position) as usize,
            );
        }
        self.flush_range(position, capacity)
    }
}

/// The real disk: preallocated memory-mapped files.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFileSystem;

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn names_in(dir: &Path, want_dirs: bool) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() == want_dirs {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

impl FileSystem for RealFileSystem {
    fn create(&self, path: &Path, capacity: u64) -> io::Result<SharedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        if capacity > 0 {
            // Allocate every block now: a write through the mapping can then never hit ENOSPC,
            // which would arrive as SIGBUS.
            rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, capacity)
                .map_err(|errno| {
                    io::Error::new(
                        io::Error::from(errno).kind(),
                        format!(
                            "cannot preallocate {capacity} bytes for {}: {errno}",
                            path.display()
                        ),
                    )
                })?;
        }
        // No fsync here: the first flush does it (see `FileSystem::create`).
        Ok(Arc::new(MmapFile::map(file, path, true)?))
    }

    fn open(&self, path: &Path) -> io::Result<SharedFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(MmapFile::map(file, path, false)?))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)?;
        sync_dir(parent_of(path))
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(dir) {
            // Nothing to remove, nothing to make durable; the parent may be missing too (a
            // store that never wrote a consume queue), so it is not synced.
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
            Ok(()) => sync_dir(parent_of(dir)),
        }
    }

    fn list_files(&self, dir: &Path) -> io::Result<Vec<String>> {
        names_in(dir, false)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        names_in(dir, true)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        sync_dir(parent_of(dir))
    }

    fn create_dir_all_lazily(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        sync_dir(parent_of(path))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn disk_usage(&self, dir: &Path) -> io::Result<DiskUsage> {
        let stat = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
        Ok(DiskUsage {
            total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
            available_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
        })
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is locked: another broker uses this store",
                        path.display()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(error),
        }
        // RocketMQ writes "lock" into the file; harmless and familiar to operators.
        std::io::Write::write_all(&mut file, b"lock")?;
        Ok(DirLock {
            _file: Some(file),
            release: None,
        })
    }
}

#[cfg(any(test, feature = "simulation"))]
pub use simulation::SimFileSystem;

#[cfg(any(test, feature = "simulation"))]
mod simulation {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use parking_lot::Mutex;

    use super::{DirLock, DiskUsage, FileSystem, SharedFile, StorageFile, check_bounds};

    /// Flags shared by every file of one simulated disk.
    #[derive(Debug, Default)]
    struct Faults {
        fail_flushes: AtomicBool,
        stall_flushes: AtomicBool,
        used_percent: AtomicU64,
    }

    /// A simulated file: what was written, and what a power loss would leave.
    #[derive(Debug)]
    struct SimFile {
        written: Mutex<Vec<u8>>,
        durable: Mutex<Vec<u8>>,
        /// Whether the file itself survives a power loss: not until its first flush.
        entry_durable: AtomicBool,
        advised_random: AtomicBool,
        faults: Arc<Faults>,
    }

    impl StorageFile for SimFile {
        fn capacity(&self) -> u64 {
            self.written.lock().len() as u64
        }

        fn write_at(&self, position: u64, bytes: &[u8]) -> io::Result<()> {
            let mut written = self.written.lock();
            check_bounds(position, bytes.len(), written.len() as u64)?;
            let start = position as usize;
            written[start..start + bytes.len()].copy_from_slice(bytes);
            Ok(())
        }

        fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<()> {
            let written = self.written.lock();
            check_bounds(position, buf.len(), written.len() as u64)?;
            let start = position as usize;
            buf.copy_from_slice(&written[start..start + buf.len()]);
            Ok(())
        }

        fn flush_range(&self, start: u64, end: u64) -> io::Result<()> {
            // A stalled device: the flush neither completes nor fails until released.
            while self.faults.stall_flushes.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if self.faults.fail_flushes.load(Ordering::SeqCst) {
                return Err(io::Error::other("simulated flush failure (EIO)"));
            }
            self.entry_durable.store(true, Ordering::SeqCst);
            if end <= start {
                return Ok(());
            }
            let written = self.written.lock();
            check_bounds(start, (end - start) as usize, written.len() as u64)?;
            let range = start as usize..end as usize;
            self.durable.lock()[range.clone()].copy_from_slice(&written[range]);
            Ok(())
        }

        fn advise_random(&self) -> io::Result<()> {
            self.advised_random.store(true, Ordering::SeqCst);
            Ok(())
        }

        fn prefault(&self, start: u64, end: u64) -> io::Result<()> {
            check_bounds(start, end.saturating_sub(start) as usize, self.capacity())
        }

        fn zero_from(&self, position: u64) -> io::Result<()> {
            let capacity = self.capacity();
            if position >= capacity {
                return Ok(());
            }
            self.written.lock()[position as usize..].fill(0);
            self.flush_range(position, capacity)
        }
    }

    #[derive(Debug, Default)]
    struct State {
        files: BTreeMap<PathBuf, Arc<SimFile>>,
        dirs: BTreeSet<PathBuf>,
        locked: BTreeSet<PathBuf>,
    }

    /// A disk in memory that can lose power. Cheap to clone: clones share the disk.
    #[derive(Debug, Clone, Default)]
    pub struct SimFileSystem {
        state: Arc<Mutex<State>>,
        faults: Arc<Faults>,
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} not found", path.display()),
        )
    }

    impl SimFileSystem {
        pub fn new() -> Self {
            Self::default()
        }

        /// Power loss: a new disk holding only what was durable at this instant. The old disk
        /// stays usable (its writers may still be running) but is no longer observed.
        pub fn crash(&self) -> SimFileSystem {
            let state = self.state.lock();
            let faults = Arc::new(Faults::default());
            let files = state
                .files
                .iter()
                // A file never flushed may not have reached the disk's directory.
                .filter(|(_, file)| file.entry_durable.load(Ordering::SeqCst))
                .map(|(path, file)| {
                    let durable = file.durable.lock().clone();
                    let copy = SimFile {
                        written: Mutex::new(durable.clone()),
                        durable: Mutex::new(durable),
                        entry_durable: AtomicBool::new(true),
                        advised_random: AtomicBool::new(false),
                        faults: faults.clone(),
                    };
                    (path.clone(), Arc::new(copy))
                })
                .collect();
            SimFileSystem {
                state: Arc::new(Mutex::new(State {
                    files,
                    dirs: state.dirs.clone(),
                    locked: BTreeSet::new(),
                })),
                faults,
            }
        }

        /// Makes every later flush fail, as a dying disk does.
        pub fn fail_flushes(&self, fail: bool) {
            self.faults.fail_flushes.store(fail, Ordering::SeqCst);
        }

        /// Makes data flushes hang until called again with `false`, as a stalled device does.
        pub fn stall_flushes(&self, stall: bool) {
            self.faults.stall_flushes.store(stall, Ordering::SeqCst);
        }

        /// Sets the disk usage the store sees, in percent.
        pub fn set_used_percent(&self, percent: u64) {
            self.faults
                .used_percent
                .store(percent.min(100), Ordering::SeqCst);
        }

        /// A byte of a file as written (not necessarily durable), for corruption tests.
        pub fn corrupt(&self, path: &Path, position: u64, xor: u8) -> io::Result<()> {
            let state = self.state.lock();
            let file = state.files.get(path).ok_or_else(|| not_found(path))?;
            let mut written = file.written.lock();
            let mut durable = file.durable.lock();
            let index = position as usize;
            if index >= written.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "position beyond file",
                ));
            }
            written[index] ^= xor;
            durable[index] ^= xor;
            Ok(())
        }

        /// Whether the file at `path` was advised as randomly accessed since it was opened.
        pub fn advised_random(&self, path: &Path) -> bool {
            let state = self.state.lock();
            state
                .files
                .get(path)
                .is_some_and(|file| file.advised_random.load(Ordering::SeqCst))
        }

        /// Every file path on the disk.
        pub fn paths(&self) -> Vec<PathBuf> {
            self.state.lock().files.keys().cloned().collect()
        }

        fn new_file(&self, bytes: Vec<u8>, durable: Vec<u8>, entry_durable: bool) -> Arc<SimFile> {
            Arc::new(SimFile {
                written: Mutex::new(bytes),
                durable: Mutex::new(durable),
                entry_durable: AtomicBool::new(entry_durable),
                advised_random: AtomicBool::new(false),
                faults: self.faults.clone(),
            })
        }

        fn children(&self, dir: &Path, want_dirs: bool) -> Vec<String> {
            let state = self.state.lock();
            let mut names: BTreeSet<String> = BTreeSet::new();
            if want_dirs {
                for candidate in &state.dirs {
                    if candidate.parent() == Some(dir)
                        && let Some(name) = candidate.file_name()
                    {
                        names.insert(name.to_string_lossy().into_owned());
                    }
                }
            } else {
                for candidate in state.files.keys() {
                    if candidate.parent() == Some(dir)
                        && let Some(name) = candidate.file_name()
                    {
                        names.insert(name.to_string_lossy().into_owned());
                    }
                }
            }
            names.into_iter().collect()
        }
    }

    impl FileSystem for SimFileSystem {
        fn create(&self, path: &Path, capacity: u64) -> io::Result<SharedFile> {
            let mut state = self.state.lock();
            if state.files.contains_key(path) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", path.display()),
                ));
            }
            let size = capacity as usize;
            let file = self.new_file(vec![0; size], vec![0; size], false);
            state.files.insert(path.to_owned(), file.clone());
            Ok(file)
        }

        fn open(&self, path: &Path) -> io::Result<SharedFile> {
            let state = self.state.lock();
            let file = state.files.get(path).ok_or_else(|| not_found(path))?;
            Ok(file.clone())
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            let mut state = self.state.lock();
            state
                .files
                .remove(path)
                .map(drop)
                .ok_or_else(|| not_found(path))
        }

        fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
            let mut state = self.state.lock();
            state.files.retain(|path, _| !path.starts_with(dir));
            state.dirs.retain(|path| !path.starts_with(dir));
            Ok(())
        }

        fn list_files(&self, dir: &Path) -> io::Result<Vec<String>> {
            Ok(self.children(dir, false))
        }

        fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
            Ok(self.children(dir, true))
        }

        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            let mut state = self.state.lock();
            for ancestor in dir.ancestors() {
                if !ancestor.as_os_str().is_empty() {
                    state.dirs.insert(ancestor.to_owned());
                }
            }
            Ok(())
        }

        fn exists(&self, path: &Path) -> bool {
            let state = self.state.lock();
            state.files.contains_key(path) || state.dirs.contains(path)
        }

        fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            if self.faults.fail_flushes.load(Ordering::SeqCst) {
                return Err(io::Error::other("simulated fsync failure (EIO)"));
            }
            let file = self.new_file(bytes.to_vec(), bytes.to_vec(), true);
            self.state.lock().files.insert(path.to_owned(), file);
            Ok(())
        }

        fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
            let state = self.state.lock();
            Ok(state
                .files
                .get(path)
                .map(|file| file.written.lock().clone()))
        }

        fn disk_usage(&self, _dir: &Path) -> io::Result<DiskUsage> {
            let total_bytes = 100 * 1024 * 1024 * 1024;
            let used = self.faults.used_percent.load(Ordering::SeqCst);
            Ok(DiskUsage {
                total_bytes,
                available_bytes: total_bytes / 100 * (100 - used),
            })
        }

        fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
            let mut state = self.state.lock();
            if !state.locked.insert(dir.to_owned()) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is locked: another broker uses this store",
                        dir.display()
                    ),
                ));
            }
            let state = self.state.clone();
            let dir = dir.to_owned();
            Ok(DirLock {
                _file: None,
                release: Some(Box::new(move || {
                    state.lock().locked.remove(&dir);
                })),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(fs: &dyn FileSystem, dir: &Path) {
        fs.create_dir_all(dir).expect("dir");
        let path = dir.join("00000000000000000000");
        let file = fs.create(&path, 4096).expect("create");
        assert_eq!(file.capacity(), 4096);
        file.write_at(10, b"hello").expect("write");
        let mut buf = [0u8; 5];
        file.read_at(10, &mut buf).expect("read");
        assert_eq!(&buf, b"hello");
        file.flush_range(0, 4096).expect("flush");
        // Prefaulting is a hint: it changes no byte, and it is bounded like the rest.
        file.prefault(0, 4096).expect("prefault");
        file.read_at(10, &mut buf).expect("read");
        assert_eq!(&buf, b"hello");
        assert!(file.prefault(0, 8192).is_err(), "prefault past the end");
        assert!(file.write_at(4093, b"hello").is_err(), "write past the end");
        assert!(
            file.read_at(u64::MAX - 1, &mut buf).is_err(),
            "overflowing read"
        );
        file.zero_from(11).expect("zero");
        file.read_at(10, &mut buf).expect("read");
        assert_eq!(&buf, b"h\0\0\0\0");
        assert_eq!(
            fs.list_files(dir).expect("list"),
            vec!["00000000000000000000".to_owned()]
        );
        let reopened = fs.open(&path).expect("open");
        assert_eq!(reopened.capacity(), 4096);
        fs.write_atomic(&dir.join("checkpoint.json"), b"{}")
            .expect("atomic");
        assert_eq!(
            fs.read(&dir.join("checkpoint.json")).expect("read"),
            Some(b"{}".to_vec())
        );
        assert_eq!(fs.read(&dir.join("missing")).expect("read"), None);
        fs.remove(&path).expect("remove");
        assert!(!fs.exists(&path));
    }

    #[test]
    fn real_files_behave() {
        let dir = tempfile::tempdir().expect("tempdir");
        exercise(&RealFileSystem, &dir.path().join("store"));
        let usage = RealFileSystem.disk_usage(dir.path()).expect("statvfs");
        assert!(usage.total_bytes > 0 && usage.available_bytes <= usage.total_bytes);
    }

    #[test]
    fn simulated_files_behave() {
        exercise(&SimFileSystem::new(), Path::new("/store"));
    }

    #[test]
    fn a_second_lock_on_the_store_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = RealFileSystem.lock_dir(dir.path()).expect("first lock");
        let error = RealFileSystem
            .lock_dir(dir.path())
            .expect_err("second lock");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        RealFileSystem.lock_dir(dir.path()).expect("free again");
    }

    #[test]
    fn crash_keeps_only_flushed_bytes() {
        let fs = SimFileSystem::new();
        let path = Path::new("/store/f");
        let file = fs.create(path, 16).expect("create");
        file.write_at(0, b"durable!").expect("write");
        file.flush_range(0, 8).expect("flush");
        file.write_at(8, b"volatile").expect("write");
        let after = fs.crash();
        let mut buf = [0u8; 16];
        after
            .open(path)
            .expect("open")
            .read_at(0, &mut buf)
            .expect("read");
        assert_eq!(&buf[..8], b"durable!");
        assert_eq!(&buf[8..], &[0u8; 8]);
    }

    #[test]
    fn failed_flush_reports_and_keeps_nothing() {
        let fs = SimFileSystem::new();
        let path = Path::new("/store/f");
        let file = fs.create(path, 8).expect("create");
        file.write_at(0, b"12345678").expect("write");
        fs.fail_flushes(true);
        assert!(file.flush_range(0, 8).is_err());
        // Never flushed, so not even the file itself is sure to survive.
        assert!(fs.crash().open(path).is_err());
        // Once a flush succeeds (even of nothing) the file survives, with what was flushed.
        fs.fail_flushes(false);
        file.flush_range(0, 0).expect("flush");
        let mut buf = [0u8; 8];
        fs.crash()
            .open(path)
            .expect("open")
            .read_at(0, &mut buf)
            .expect("read");
        assert_eq!(buf, [0u8; 8]);
    }
}

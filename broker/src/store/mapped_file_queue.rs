//! A directory of fixed-size files named by their 20-digit start offset, forming one logical
//! byte space: `00000000000000000000`, `00000000001073741824`, ... (protocol.md §6.2–§6.3).
//!
//! The queue knows which file holds which offset and creates, removes and truncates files.
//! Write and flush positions belong to the owner (CommitLog, ConsumeQueue): it alone knows
//! what is valid data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::error::{StoreError, StoreResult};
use super::mapped_file::{FileSystem, SharedFile, StorageFile};

/// One file of the queue.
#[derive(Debug)]
pub struct MappedFile {
    pub start_offset: u64,
    pub path: PathBuf,
    pub file: SharedFile,
}

impl MappedFile {
    pub fn end_offset(&self) -> u64 {
        self.start_offset + self.file.capacity()
    }

    pub fn contains(&self, offset: u64) -> bool {
        offset >= self.start_offset && offset < self.end_offset()
    }
}

#[derive(Debug)]
pub struct MappedFileQueue {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    file_size: u64,
    files: RwLock<Vec<Arc<MappedFile>>>,
    /// Held while a file is created or removed, so two threads never create the same file.
    allocation: Mutex<()>,
    access: Access,
}

/// How a queue's files are touched (see [`StorageFile::advise_random`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Large appends and streaming reads: the kernel's readahead helps (CommitLog).
    Sequential,
    /// Small appends: one page per fault (ConsumeQueue).
    Random,
}

fn advise(file: &dyn StorageFile, access: Access, path: &Path) -> StoreResult<()> {
    match access {
        Access::Sequential => Ok(()),
        Access::Random => file
            .advise_random()
            .map_err(|e| StoreError::io(format!("cannot advise {}", path.display()), e)),
    }
}

pub fn file_name(start_offset: u64) -> String {
    format!("{start_offset:020}")
}

impl MappedFileQueue {
    /// Opens the files in `dir` (creating `dir` if missing). Every file must be named by a
    /// 20-digit offset, have exactly `file_size` bytes, and follow the previous one without a
    /// gap; anything else is reported by name rather than guessed around.
    pub fn load(fs: Arc<dyn FileSystem>, dir: &Path, file_size: u64) -> StoreResult<Self> {
        Self::load_with_access(fs, dir, file_size, Access::Sequential)
    }

    /// [`MappedFileQueue::load`] for files touched as `access` says.
    pub fn load_with_access(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        file_size: u64,
        access: Access,
    ) -> StoreResult<Self> {
        assert!(file_size > 0, "file size must be positive");
        fs.create_dir_all_lazily(dir)
            .map_err(|e| StoreError::io(format!("cannot create {}", dir.display()), e))?;
        let names = fs
            .list_files(dir)
            .map_err(|e| StoreError::io(format!("cannot list {}", dir.display()), e))?;
        let mut files: Vec<Arc<MappedFile>> = Vec::new();
        for name in names {
            if name.ends_with(".tmp") {
                continue;
            }
            let path = dir.join(&name);
            let start_offset = parse_name(&name).ok_or_else(|| StoreError::Corrupt {
                file: path.clone(),
                offset: 0,
                reason: "file name is not a 20-digit offset".into(),
            })?;
            let file = fs
                .open(&path)
                .map_err(|e| StoreError::io(format!("cannot open {}", path.display()), e))?;
            advise(&*file, access, &path)?;
            if file.capacity() != file_size {
                return Err(StoreError::Corrupt {
                    file: path,
                    offset: 0,
                    reason: format!(
                        "file has {} bytes but the configured file size is {file_size}",
                        file.capacity()
                    ),
                });
            }
            if let Some(previous) = files.last()
                && previous.end_offset() != start_offset
            {
                return Err(StoreError::Corrupt {
                    file: path,
                    offset: start_offset,
                    reason: format!(
                        "gap or overlap: the previous file ends at {}",
                        previous.end_offset()
                    ),
                });
            }
            files.push(Arc::new(MappedFile {
                start_offset,
                path,
                file,
            }));
        }
        Ok(MappedFileQueue {
            fs,
            dir: dir.to_owned(),
            file_size,
            files: RwLock::new(files),
            allocation: Mutex::new(()),
            access,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// A snapshot of the files, oldest first. Holders keep a file mapped even if it is
    /// removed meanwhile, so a read in progress never touches an unmapped page.
    pub fn files(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().clone()
    }

    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.files.read().first().cloned()
    }

    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.files.read().last().cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.files.read().is_empty()
    }

    /// Start of the first file (the smallest offset still on disk), or `None`.
    pub fn min_offset(&self) -> Option<u64> {
        self.first().map(|f| f.start_offset)
    }

    /// The file holding `offset`, if it is on disk.
    pub fn find(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        let first = files.first()?.start_offset;
        if offset < first {
            return None;
        }
        let index = ((offset - first) / self.file_size) as usize;
        files.get(index).filter(|f| f.contains(offset)).cloned()
    }

    /// The file starting at `start_offset`, created if it is the next one. A queue with no
    /// files may start anywhere aligned to the file size (a queue created after old data
    /// went, or a commit log continuing after deletion).
    pub fn file_at(&self, start_offset: u64) -> StoreResult<Arc<MappedFile>> {
        if let Some(existing) = self.find(start_offset) {
            return Ok(existing);
        }
        let _allocating = self.allocation.lock();
        if let Some(existing) = self.find(start_offset) {
            return Ok(existing);
        }
        let file = self.create(start_offset)?;
        self.push(file)
    }

    fn check_follows(&self, start_offset: u64) -> StoreResult<()> {
        match self.files.read().last() {
            Some(last) if last.end_offset() != start_offset => Err(StoreError::Corrupt {
                file: self.dir.join(file_name(start_offset)),
                offset: start_offset,
                reason: format!(
                    "new file would not follow the last one, which ends at {}",
                    last.end_offset()
                ),
            }),
            _ => Ok(()),
        }
    }

    fn create(&self, start_offset: u64) -> StoreResult<Arc<MappedFile>> {
        self.check_follows(start_offset)?;
        debug_assert_eq!(
            start_offset % self.file_size,
            0,
            "files start at multiples of the size"
        );
        let path = self.dir.join(file_name(start_offset));
        let file = self
            .fs
            .create(&path, self.file_size)
            .map_err(|e| StoreError::io(format!("cannot create {}", path.display()), e))?;
        advise(&*file, self.access, &path)?;
        Ok(Arc::new(MappedFile {
            start_offset,
            path,
            file,
        }))
    }

    fn push(&self, file: Arc<MappedFile>) -> StoreResult<Arc<MappedFile>> {
        let mut files = self.files.write();
        if let Some(last) = files.last()
            && last.end_offset() != file.start_offset
        {
            return Err(StoreError::Corrupt {
                file: file.path.clone(),
                offset: file.start_offset,
                reason: format!("the last file now ends at {}", last.end_offset()),
            });
        }
        files.push(file.clone());
        Ok(file)
    }

    /// Drops everything from `offset` on: removes the files starting at or after it and zeroes
    /// the rest of the file holding it. Used by recovery to cut a torn tail; a mapped file is
    /// never shrunk.
    pub fn truncate_from(&self, offset: u64) -> StoreResult<()> {
        let _allocating = self.allocation.lock();
        let mut files = self.files.write();
        while let Some(last) = files.last().filter(|f| f.start_offset >= offset).cloned() {
            files.pop();
            self.fs
                .remove(&last.path)
                .map_err(|e| StoreError::io(format!("cannot remove {}", last.path.display()), e))?;
        }
        if let Some(last) = files.last().filter(|f| f.contains(offset)) {
            last.file
                .zero_from(offset - last.start_offset)
                .map_err(|e| {
                    StoreError::io(format!("cannot truncate {}", last.path.display()), e)
                })?;
        }
        Ok(())
    }

    /// Removes the oldest file. Returns it, or `None` when only `keep_at_least` files remain.
    pub fn remove_first(&self, keep_at_least: usize) -> StoreResult<Option<Arc<MappedFile>>> {
        let mut files = self.files.write();
        if files.len() <= keep_at_least {
            return Ok(None);
        }
        let first = files.remove(0);
        self.fs
            .remove(&first.path)
            .map_err(|e| StoreError::io(format!("cannot remove {}", first.path.display()), e))?;
        Ok(Some(first))
    }

    /// Removes every file and the directory (a deleted topic's queue).
    pub fn destroy(&self) -> StoreResult<()> {
        let _allocating = self.allocation.lock();
        self.files.write().clear();
        self.fs
            .remove_dir_all(&self.dir)
            .map_err(|e| StoreError::io(format!("cannot remove {}", self.dir.display()), e))
    }

    /// Reads `buf.len()` bytes at `offset`, which must lie within one file.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> StoreResult<bool> {
        let Some(file) = self.find(offset) else {
            return Ok(false);
        };
        file.file
            .read_at(offset - file.start_offset, buf)
            .map_err(|e| {
                StoreError::io(
                    format!("read of {} at {offset} failed", file.path.display()),
                    e,
                )
            })?;
        Ok(true)
    }
}

fn parse_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mapped_file::SimFileSystem;

    fn queue(fs: &SimFileSystem) -> MappedFileQueue {
        MappedFileQueue::load(Arc::new(fs.clone()), Path::new("/store/commitlog"), 100)
            .expect("load")
    }

    #[test]
    fn files_roll_locate_and_reload() {
        let fs = SimFileSystem::new();
        let q = queue(&fs);
        assert!(q.is_empty());
        q.file_at(0).expect("first");
        q.file_at(100).expect("second");
        assert!(q.file_at(300).is_err(), "a gap is refused");
        assert_eq!(q.find(150).map(|f| f.start_offset), Some(100));
        assert!(q.find(200).is_none());
        let reloaded = queue(&fs);
        assert_eq!(reloaded.files().len(), 2);
        assert_eq!(
            reloaded.files()[1].path,
            Path::new("/store/commitlog/00000000000000000100")
        );
    }

    #[test]
    fn truncate_zeroes_the_tail_and_removes_later_files() {
        let fs = SimFileSystem::new();
        let q = queue(&fs);
        for start in [0, 100, 200] {
            q.file_at(start)
                .expect("file")
                .file
                .write_at(0, &[7u8; 100])
                .expect("write");
        }
        q.truncate_from(150).expect("truncate");
        assert_eq!(q.files().len(), 2);
        let mut buf = [0u8; 100];
        assert!(q.read_at(100, &mut buf).expect("read"));
        assert_eq!(&buf[..50], &[7u8; 50]);
        assert_eq!(&buf[50..], &[0u8; 50]);
        q.truncate_from(100).expect("truncate at a boundary");
        assert_eq!(q.files().len(), 1);
    }

    #[test]
    fn wrong_size_and_bad_names_are_named() {
        let fs = SimFileSystem::new();
        fs.create_dir_all(Path::new("/store/commitlog"))
            .expect("dir");
        fs.create(Path::new("/store/commitlog/00000000000000000000"), 99)
            .expect("create");
        let error = MappedFileQueue::load(Arc::new(fs.clone()), Path::new("/store/commitlog"), 100)
            .expect_err("wrong size");
        assert!(
            error.to_string().contains("00000000000000000000"),
            "{error}"
        );
        let fs = SimFileSystem::new();
        fs.create(Path::new("/store/commitlog/junk"), 100)
            .expect("create");
        let error = MappedFileQueue::load(Arc::new(fs), Path::new("/store/commitlog"), 100)
            .expect_err("bad name");
        assert!(error.to_string().contains("junk"), "{error}");
    }

    #[test]
    fn remove_first_keeps_a_minimum() {
        let fs = SimFileSystem::new();
        let q = queue(&fs);
        q.file_at(0).expect("first");
        q.file_at(100).expect("second");
        assert_eq!(
            q.remove_first(1).expect("remove").map(|f| f.start_offset),
            Some(0)
        );
        assert!(q.remove_first(1).expect("remove").is_none());
        assert_eq!(q.min_offset(), Some(100));
        assert_eq!(queue(&fs).min_offset(), Some(100));
    }
}

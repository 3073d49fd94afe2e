//! The broker's JSON metadata files in `<storePathRootDir>/config/` (protocol.md §6.1):
//! `topics.json`, `subscriptionGroup.json`, `consumerOffset.json` and `delayOffset.json`.
//!
//! Each file is replaced atomically through the store's [`FileSystem::write_atomic`] (write
//! `<name>.tmp`, fsync, rename over `<name>`, fsync the directory), so a crash leaves either
//! the old or the new content, never a mix. Before replacing a file its current content is
//! kept as `<name>.bak`, the name Java's `MixAll.string2File` uses, so a file that an operator
//! or a Java tool later damages still has its previous version next to it.
//!
//! Loading reads `<name>`; when it is missing or empty (Java treats both as "not written"),
//! `<name>.bak` is read instead. A file that exists but does not decode refuses start-up with
//! an error naming it: Java would silently fall back to the backup, which can lose every
//! change since the previous save, and an operator should make that choice, not the broker.
//!
//! Files are written compact; Java writes them pretty-printed. Each reads the other's.
//!
//! Saves do blocking file I/O (up to four fsyncs: backup and file, each with its directory):
//! callers on the async runtime should expect a few milliseconds and keep them off hot paths.
//! A save whose content equals the file's writes nothing.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bolide_client::protocol::ProtocolError;
use parking_lot::Mutex;

use crate::store::mapped_file::{FileSystem, RealFileSystem};

/// The directory under `storePathRootDir` that holds these files.
pub const CONFIG_DIR_NAME: &str = "config";
pub const TOPICS_FILE_NAME: &str = "topics.json";
pub const SUBSCRIPTION_GROUP_FILE_NAME: &str = "subscriptionGroup.json";
pub const CONSUMER_OFFSET_FILE_NAME: &str = "consumerOffset.json";
pub const DELAY_OFFSET_FILE_NAME: &str = "delayOffset.json";
/// Appended to a file's name for the copy of its previous content.
pub const BACKUP_SUFFIX: &str = ".bak";
/// The largest config file accepted. A broker with 100 000 topics writes about 20 MiB of
/// topics.json; anything far beyond that is not a file this broker wrote.
pub const MAX_CONFIG_FILE_BYTES: usize = 256 * 1024 * 1024;

/// Why a config file could not be read, decoded or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file exists but is not what this broker (or a Java broker) writes.
    #[error(
        "{} is corrupt, refusing to start: {source} (repair or remove it; the previous version, \
         if any, is in the same directory with the suffix {BACKUP_SUFFIX})",
        .path.display()
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: ProtocolError,
    },
    #[error("{} is {length_bytes} bytes, more than the limit of {limit_bytes}", .path.display())]
    TooLarge {
        path: PathBuf,
        length_bytes: usize,
        limit_bytes: usize,
    },
}

/// One config file and its backup.
#[derive(Debug)]
pub struct ConfigFile {
    file_system: Arc<dyn FileSystem>,
    dir: PathBuf,
    path: PathBuf,
    backup_path: PathBuf,
    /// Held from taking a snapshot until it is on disk, so that two concurrent saves cannot
    /// write an older snapshot over a newer one.
    save_order: Mutex<()>,
    /// Whether the directory is known to exist; creating it costs a directory fsync.
    dir_ready: AtomicBool,
    max_file_bytes: usize,
}

impl ConfigFile {
    /// `<config_dir>/<file_name>` on the real disk.
    pub fn new(config_dir: &Path, file_name: &str) -> Self {
        Self::on(Arc::new(RealFileSystem), config_dir, file_name)
    }

    /// `<config_dir>/<file_name>` on `file_system` (tests pass a simulated disk).
    pub fn on(file_system: Arc<dyn FileSystem>, config_dir: &Path, file_name: &str) -> Self {
        let path = config_dir.join(file_name);
        let mut backup_name = path.as_os_str().to_owned();
        backup_name.push(BACKUP_SUFFIX);
        Self {
            file_system,
            dir: config_dir.to_owned(),
            path,
            backup_path: PathBuf::from(backup_name),
            save_order: Mutex::new(()),
            dir_ready: AtomicBool::new(false),
            max_file_bytes: MAX_CONFIG_FILE_BYTES,
        }
    }

    /// The same file with a smaller size limit, so the limit can be tested cheaply.
    #[cfg(test)]
    fn with_max_file_bytes(mut self, max_file_bytes: usize) -> Self {
        self.max_file_bytes = max_file_bytes;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn backup_path(&self) -> &Path {
        &self.backup_path
    }

    /// Decodes the file, or its backup when the file is missing or empty; `Ok(None)` when
    /// neither holds anything (a first start).
    pub fn load<T>(
        &self,
        decode: impl Fn(&[u8]) -> Result<T, ProtocolError>,
    ) -> Result<Option<T>, PersistError> {
        for path in [&self.path, &self.backup_path] {
            let Some(bytes) = self.read(path)? else {
                continue;
            };
            return decode(&bytes)
                .map(Some)
                .map_err(|source| PersistError::Corrupt {
                    path: path.clone(),
                    source,
                });
        }
        Ok(None)
    }

    /// The bytes of `path`, or `None` if it is missing or empty.
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, PersistError> {
        let bytes = self
            .file_system
            .read(path)
            .map_err(|source| PersistError::Read {
                path: path.to_owned(),
                source,
            })?;
        match bytes {
            Some(bytes) if bytes.len() > self.max_file_bytes => Err(PersistError::TooLarge {
                path: path.to_owned(),
                length_bytes: bytes.len(),
                limit_bytes: self.max_file_bytes,
            }),
            Some(bytes) if !bytes.is_empty() => Ok(Some(bytes)),
            _ => Ok(None),
        }
    }

    /// Writes what `snapshot` returns, keeping the file's current content as the backup.
    ///
    /// `snapshot` runs under this file's save lock, so snapshots reach the disk in the order
    /// they were taken. Nothing is written when the content is unchanged, which makes the
    /// periodic consumer-offset save free while consumers are idle.
    pub fn save(&self, snapshot: impl FnOnce() -> Vec<u8>) -> Result<(), PersistError> {
        let _order = self.save_order.lock();
        let bytes = snapshot();
        self.ensure_dir()?;
        let current = self.read(&self.path)?;
        if current.as_deref() == Some(bytes.as_slice()) {
            return Ok(());
        }
        if let Some(previous) = current {
            self.write(&self.backup_path, &previous)?;
        }
        self.write(&self.path, &bytes)
    }

    fn ensure_dir(&self) -> Result<(), PersistError> {
        if self.dir_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        self.file_system
            .create_dir_all(&self.dir)
            .map_err(|source| PersistError::Write {
                path: self.dir.clone(),
                source,
            })?;
        self.dir_ready.store(true, Ordering::Release);
        Ok(())
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
        self.file_system
            .write_atomic(path, bytes)
            .map_err(|source| PersistError::Write {
                path: path.to_owned(),
                source,
            })
    }
}

/// Wall-clock milliseconds since the Unix epoch, for `DataVersion` stamps. The stamp only
/// tells name servers and admin tools that something changed, so no logic depends on it and
/// it is not injected; a clock before 1970 reads as 0.
pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mapped_file::SimFileSystem;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn decode_text(bytes: &[u8]) -> Result<String, ProtocolError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8 { field: "test" })?;
        if text.starts_with('{') {
            Ok(text.to_owned())
        } else {
            Err(ProtocolError::JsonBody {
                what: "test",
                reason: "not an object".to_owned(),
            })
        }
    }

    #[test]
    fn saves_atomically_with_a_backup_and_reloads() -> TestResult {
        let dir = tempfile::tempdir()?;
        let config_dir = dir.path().join("config");
        let file = ConfigFile::new(&config_dir, "x.json");
        assert_eq!(file.load(decode_text)?, None);

        file.save(|| b"{1}".to_vec())?;
        assert!(!file.backup_path().exists());
        file.save(|| b"{2}".to_vec())?;
        assert_eq!(std::fs::read(file.path())?, b"{2}");
        assert_eq!(std::fs::read(file.backup_path())?, b"{1}");
        assert!(!config_dir.join("x.json.tmp").exists());

        // An unchanged save writes nothing: the backup keeps the older version.
        file.save(|| b"{2}".to_vec())?;
        assert_eq!(std::fs::read(file.backup_path())?, b"{1}");

        let reopened = ConfigFile::new(&config_dir, "x.json");
        assert_eq!(reopened.load(decode_text)?, Some("{2}".to_owned()));
        Ok(())
    }

    #[test]
    fn missing_or_empty_file_falls_back_to_the_backup() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = ConfigFile::new(dir.path(), "x.json");
        file.save(|| b"{old}".to_vec())?;
        file.save(|| b"{new}".to_vec())?;
        std::fs::write(file.path(), b"")?;
        assert_eq!(file.load(decode_text)?, Some("{old}".to_owned()));
        std::fs::remove_file(file.path())?;
        assert_eq!(file.load(decode_text)?, Some("{old}".to_owned()));
        Ok(())
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = ConfigFile::new(dir.path(), "x.json");
        file.save(|| b"{good}".to_vec())?;
        file.save(|| b"{good too}".to_vec())?;
        std::fs::write(file.path(), b"garbage")?;
        let error = file.load(decode_text).err().ok_or("corrupt file loaded")?;
        assert!(matches!(&error, PersistError::Corrupt { path, .. } if path == file.path()));
        let message = error.to_string();
        assert!(message.contains("x.json is corrupt"), "{message}");
        assert!(message.contains(".bak"), "{message}");

        std::fs::remove_file(file.path())?;
        std::fs::write(file.backup_path(), b"garbage")?;
        let error = file
            .load(decode_text)
            .err()
            .ok_or("corrupt backup loaded")?;
        assert!(
            error.to_string().contains("x.json.bak is corrupt"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_the_file() -> TestResult {
        let dir = tempfile::tempdir()?;
        // A regular file where the directory should be: nothing can be created under it.
        let blocker = dir.path().join("config");
        std::fs::write(&blocker, b"")?;
        let file = ConfigFile::new(&blocker, "x.json");
        let error = file.save(|| b"{}".to_vec()).err().ok_or("save succeeded")?;
        assert!(matches!(error, PersistError::Write { .. }), "{error:?}");
        assert!(error.to_string().contains("config"), "{error}");
        Ok(())
    }

    #[test]
    fn a_crash_keeps_the_last_completed_save() -> TestResult {
        let sim = SimFileSystem::new();
        let dir = Path::new("/store/config");
        let file = ConfigFile::on(Arc::new(sim.clone()), dir, "x.json");
        file.save(|| b"{1}".to_vec())?;
        file.save(|| b"{2}".to_vec())?;
        let after_crash = ConfigFile::on(Arc::new(sim.crash()), dir, "x.json");
        assert_eq!(after_crash.load(decode_text)?, Some("{2}".to_owned()));

        sim.fail_flushes(true);
        let error = file
            .save(|| b"{3}".to_vec())
            .err()
            .ok_or("failed disk saved")?;
        assert!(error.to_string().contains("x.json"), "{error}");
        let after_crash = ConfigFile::on(Arc::new(sim.crash()), dir, "x.json");
        assert_eq!(after_crash.load(decode_text)?, Some("{2}".to_owned()));
        Ok(())
    }

    #[test]
    fn oversized_file_is_refused() -> TestResult {
        let sim = SimFileSystem::new();
        let dir = Path::new("/store/config");
        let file = ConfigFile::on(Arc::new(sim.clone()), dir, "x.json").with_max_file_bytes(8);
        sim.write_atomic(file.path(), b"{1234567}")?;
        let error = file
            .load(decode_text)
            .err()
            .ok_or("oversized file loaded")?;
        assert!(matches!(error, PersistError::TooLarge { .. }), "{error:?}");
        sim.write_atomic(file.path(), b"{123456}")?;
        assert_eq!(file.load(decode_text)?, Some("{123456}".to_owned()));
        Ok(())
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(wall_clock_ms() > 1_577_836_800_000);
    }
}

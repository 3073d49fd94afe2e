//! Namespaced key/value configuration (PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE),
//! persisted to `kvConfigPath` in RocketMQ's format so an existing file carries over:
//!
//! ```text
//! {"configTable":{"ORDER_TOPIC_CONFIG":{"TopicA":"broker-a:4;broker-b:4"}}}
//! ```
//!
//! Every change is written to a temporary file, synced and renamed over the old one, so a
//! crash leaves either the old table or the new one, never half of each. A change that cannot
//! be persisted is rolled back and reported: memory never claims what the disk does not hold.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most namespaces, keys per namespace, and bytes per key or value: a limit on everything.
pub const MAX_NAMESPACES: usize = 1024;
pub const MAX_KEYS_PER_NAMESPACE: usize = 65_536;
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KvConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid kvConfig file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Limit(String),
}

type Table = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileFormat {
    #[serde(rename = "configTable", default)]
    config_table: Table,
}

#[derive(Debug)]
pub struct KvConfigStore {
    path: PathBuf,
    table: Table,
}

impl KvConfigStore {
    /// Loads `path`; a missing file is an empty table (the first start).
    pub fn load(path: &Path) -> Result<Self, KvConfigError> {
        let table = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Table::new(),
            Ok(bytes) => {
                serde_json::from_slice::<FileFormat>(&bytes)
                    .map_err(|source| KvConfigError::Parse {
                        path: path.to_owned(),
                        source,
                    })?
                    .config_table
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Table::new(),
            Err(source) => {
                return Err(KvConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(KvConfigStore {
            path: path.to_owned(),
            table,
        })
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table
            .get(namespace)
            .filter(|entries| !entries.is_empty())
    }

    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> Result<(), KvConfigError> {
        for (what, text) in [("namespace", namespace), ("key", key), ("value", value)] {
            if text.len() > MAX_ENTRY_BYTES {
                return Err(KvConfigError::Limit(format!(
                    "{what} of {} bytes exceeds {MAX_ENTRY_BYTES}",
                    text.len()
                )));
            }
        }
        if !self.table.contains_key(namespace) && self.table.len() >= MAX_NAMESPACES {
            return Err(KvConfigError::Limit(format!(
                "at most {MAX_NAMESPACES} namespaces"
            )));
        }
        let entries = self.table.entry(namespace.to_owned()).or_default();
        if !entries.contains_key(key) && entries.len() >= MAX_KEYS_PER_NAMESPACE {
            return Err(KvConfigError::Limit(format!(
                "namespace {namespace} already holds {MAX_KEYS_PER_NAMESPACE} keys"
            )));
        }
        let previous = entries.insert(key.to_owned(), value.to_owned());
        self.persist().inspect_err(|_| {
            let entries = self.table.entry(namespace.to_owned()).or_default();
            match &previous {
                Some(old) => entries.insert(key.to_owned(), old.clone()),
                None => entries.remove(key),
            };
            if entries.is_empty() {
                self.table.remove(namespace);
            }
        })
    }

    /// Deletes a key; deleting an absent key succeeds, as in Java.
    pub fn delete(&mut self, namespace: &str, key: &str) -> Result<(), KvConfigError> {
        let Some(entries) = self.table.get_mut(namespace) else {
            return Ok(());
        };
        let Some(previous) = entries.remove(key) else {
            return Ok(());
        };
        let emptied = entries.is_empty();
        if emptied {
            self.table.remove(namespace);
        }
        self.persist().inspect_err(|_| {
            self.table
                .entry(namespace.to_owned())
                .or_default()
                .insert(key.to_owned(), previous.clone());
        })
    }

    fn persist(&self) -> Result<(), KvConfigError> {
        let write_error = |source| KvConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let file = FileFormat {
            config_table: self.table.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| write_error(std::io::Error::other(e)))?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut out = std::fs::File::create(&temporary).map_err(write_error)?;
        out.write_all(&bytes).map_err(write_error)?;
        out.sync_all().map_err(write_error)?;
        drop(out);
        std::fs::rename(&temporary, &self.path).map_err(write_error)?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable.
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(write_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_restart_in_rocketmq_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("namesrv").join("kvConfig.json");
        let mut store = KvConfigStore::load(&path).expect("empty start");
        store
            .put("ORDER_TOPIC_CONFIG", "T", "broker-a:4")
            .expect("put");
        store.put("ns", "k", "v").expect("put");
        store.delete("ns", "k").expect("delete");
        let text = std::fs::read_to_string(&path).expect("written");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["configTable"]["ORDER_TOPIC_CONFIG"]["T"], "broker-a:4");
        assert!(json["configTable"].get("ns").is_none());
        let reloaded = KvConfigStore::load(&path).expect("reload");
        assert_eq!(reloaded.get("ORDER_TOPIC_CONFIG", "T"), Some("broker-a:4"));
        assert_eq!(reloaded.get("ns", "k"), None);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kvConfig.json");
        std::fs::write(&path, "{not json").expect("write");
        let error = KvConfigStore::load(&path).expect_err("corrupt");
        assert!(error.to_string().contains("kvConfig.json"), "{error}");
    }

    #[test]
    fn failed_persist_rolls_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let parent = dir.path().join("namesrv");
        let mut store = KvConfigStore::load(&parent.join("kv.json")).expect("load");
        // The parent directory cannot be created: a file stands in its place.
        std::fs::write(&parent, "").expect("write");
        assert!(store.put("ns", "k", "v").is_err());
        assert_eq!(store.get("ns", "k"), None);
        assert!(store.namespace("ns").is_none());
    }
}

//! Where a BROADCASTING member keeps its offsets: a local file, as Java's
//! `LocalFileOffsetStore` does, so a restarted member continues where it stopped instead of
//! starting again per `consume_from_where`.
//!
//! Path and format follow Java, so an operator finds the file where they expect it:
//! `<dir>/<clientId>/<group>/offsets.json` with `<dir>` defaulting to `~/.rocketmq_offsets`,
//! holding fastjson's map with inline `MessageQueue` keys:
//!
//! ```text
//! {"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:42}}
//! ```
//!
//! Writes go to `offsets.json.tmp`, are synced and renamed over the file, after the previous
//! file is kept as `offsets.json.bak`; a file that does not parse falls back to the backup.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::protocol::heartbeat::MessageQueue;
use crate::protocol::lenient_json::parse_lenient;

/// The largest offsets file read (a broadcasting member owns every queue of its topics; a
/// few thousand queues are well under this).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The default directory: Java's `rocketmq.client.localOffsetStoreDir` default.
pub fn default_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".rocketmq_offsets")
}

/// `<dir>/<clientId>/<group>/offsets.json`.
pub fn offsets_path(dir: &Path, client_id: &str, group: &str) -> PathBuf {
    dir.join(client_id).join(group).join("offsets.json")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wrapper {
    #[serde(default)]
    offset_table: BTreeMap<String, i64>,
}

/// Reads the offsets at `path`, else its backup; empty when neither exists. A file that
/// exists but cannot be read or parsed (and has no readable backup) is an error naming it.
pub fn load(path: &Path) -> Result<HashMap<MessageQueue, i64>, String> {
    match read(path) {
        Ok(Some(offsets)) => return Ok(offsets),
        Ok(None) => {}
        Err(error) => {
            let backup = backup_path(path);
            return match read(&backup) {
                Ok(Some(offsets)) => {
                    tracing::warn!("{error}; using {}", backup.display());
                    Ok(offsets)
                }
                _ => Err(error),
            };
        }
    }
    Ok(read(&backup_path(path))?.unwrap_or_default())
}

fn read(path: &Path) -> Result<Option<HashMap<MessageQueue, i64>>, String> {
    let bytes = match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            return Err(format!(
                "{} is {} bytes, over the {MAX_FILE_BYTES}-byte limit",
                path.display(),
                meta.len()
            ));
        }
        Ok(_) => std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    };
    let wrapper: Wrapper = parse_lenient(&bytes, "OffsetSerializeWrapper")
        .map_err(|e| format!("{} is not an offsets file: {e}", path.display()))?;
    let mut offsets = HashMap::new();
    for (key, offset) in wrapper.offset_table {
        let queue: MessageQueue = parse_lenient(key.as_bytes(), "MessageQueue")
            .map_err(|e| format!("{}: bad queue key {key}: {e}", path.display()))?;
        offsets.insert(queue, offset);
    }
    Ok(Some(offsets))
}

/// The file's text: fastjson's shape, queues in order so the file is stable.
pub fn encode(offsets: &HashMap<MessageQueue, i64>) -> String {
    let mut sorted: Vec<(&MessageQueue, &i64)> = offsets.iter().collect();
    sorted.sort();
    let entries: Vec<String> = sorted
        .into_iter()
        .map(|(queue, offset)| {
            // MessageQueue serializes with fastjson's alphabetical keys.
            let key = serde_json::to_string(queue).unwrap_or_default();
            format!("{key}:{offset}")
        })
        .collect();
    format!("{{\"offsetTable\":{{{}}}}}", entries.join(","))
}

/// Replaces the file at `path` with `offsets`, keeping the previous one as the backup.
pub fn persist(path: &Path, offsets: &HashMap<MessageQueue, i64>) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(encode(offsets).as_bytes())?;
        file.sync_all()?;
        if path.exists() {
            std::fs::copy(path, backup_path(path))?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn backup_path(path: &Path) -> PathBuf {
    path.with_extension("json.bak")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn round_trip_in_fastjson_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = offsets_path(dir.path(), "10.0.0.1@7", "bg");
        assert_eq!(load(&path).unwrap(), HashMap::new());
        let mut offsets = HashMap::new();
        offsets.insert(MessageQueue::new("T", "broker-a", 1), 42);
        offsets.insert(MessageQueue::new("T", "broker-a", 0), 7);
        persist(&path, &offsets).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:7,"#,
                r#"{"brokerName":"broker-a","queueId":1,"topic":"T"}:42}}"#
            )
        );
        assert_eq!(load(&path).unwrap(), offsets);
    }

    #[test]
    fn reads_a_pretty_java_file_and_falls_back_to_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = offsets_path(dir.path(), "c", "g");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let java = "{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"b\",\n\t\t\t\"queueId\":3,\n\t\t\t\"topic\":\"T\"\n\t\t}:11\n\t}\n}";
        std::fs::write(&path, java).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.get(&MessageQueue::new("T", "b", 3)), Some(&11));

        persist(
            &path,
            &HashMap::from([(MessageQueue::new("T", "b", 3), 12)]),
        )
        .unwrap();
        std::fs::write(&path, "{ torn").unwrap();
        // The backup holds the file before the last write.
        assert_eq!(load(&path).unwrap(), loaded);
        std::fs::remove_file(backup_path(&path)).unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.contains("offsets.json"), "{error}");
    }
}

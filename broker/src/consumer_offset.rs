//! Consumer progress (Java `ConsumerOffsetManager`, protocol.md §2.3 UPDATE_/QUERY_CONSUMER_
//! OFFSET, GET_ALL_CONSUMER_OFFSET) and the schedule service's progress per delay level
//! (Java `ScheduleMessageService.offsetTable`, §8.1, GET_ALL_DELAY_OFFSET).
//!
//! Both tables are written the way fastjson writes a `Map<Integer, Long>`: integer keys
//! *bare*, which is not standard JSON but is what Java brokers, Java admin tools and existing
//! `config/` directories hold:
//!
//! ```text
//! consumerOffset.json, GET_ALL_CONSUMER_OFFSET body:
//!   {"offsetTable":{"<topic>@<group>":{<queueId>:<offset>,...},...}}
//!   e.g. {"offsetTable":{"TopicA@cg":{0:12,1:5}}}
//! delayOffset.json, GET_ALL_DELAY_OFFSET body:
//!   {"offsetTable":{<delayLevel>:<consume-queue offset>,...}}
//!   e.g. {"offsetTable":{1:123,2:0}}
//! ```
//!
//! Decoding accepts bare and quoted keys alike (and Java's pretty-printed files), and ignores
//! the `dataVersion` that 5.x adds.
//!
//! Commits only change memory: the lead saves the table every `flushConsumerOffsetInterval`
//! and at shutdown through [`ConsumerOffsetManager::persist`], as Java does, so a crash loses
//! at most that interval of progress (consumers then see a few messages again).
//!
//! A slave takes its master's table every sync round (`slave_sync`), but consumers commit to
//! the slave while the master is away. Those commits are remembered until the master has them:
//! [`merge_master_offsets`] keeps each one the master is behind on and lists it to be handed
//! back, so a master's return does not rewind its consumers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::Path;
use std::sync::Arc;

use bolide_client::protocol::ProtocolError;
use bolide_client::protocol::lenient_json::parse_lenient;
use parking_lot::{Mutex, RwLock};

use crate::persist::{CONSUMER_OFFSET_FILE_NAME, ConfigFile, DELAY_OFFSET_FILE_NAME, PersistError};
use crate::store::mapped_file::{FileSystem, RealFileSystem};

/// Joins topic and group in the table's keys: `topic@group`.
pub const TOPIC_GROUP_SEPARATOR: char = '@';

/// `topic@group` → queue id → next offset to consume.
pub type OffsetTable = BTreeMap<String, BTreeMap<i32, i64>>;

/// `topic@group`.
pub fn offset_key(topic: &str, group: &str) -> String {
    format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
}

/// `(topic, group)` from a key, or `None` unless it has exactly one `@` (Java skips such keys
/// in every lookup by topic or group, but keeps them in the file).
pub fn split_offset_key(key: &str) -> Option<(&str, &str)> {
    let (topic, group) = key.split_once(TOPIC_GROUP_SEPARATOR)?;
    (!group.contains(TOPIC_GROUP_SEPARATOR)).then_some((topic, group))
}

/// One queue of a topic as one consumer group consumes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupQueue {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
}

impl GroupQueue {
    pub fn new(group: &str, topic: &str, queue_id: i32) -> Self {
        Self {
            group: group.to_owned(),
            topic: topic.to_owned(),
            queue_id,
        }
    }

    /// Its key in an [`OffsetTable`]: `topic@group`.
    pub fn key(&self) -> String {
        offset_key(&self.topic, &self.group)
    }
}

/// A queue offset a slave must hand back to its master: the master is behind on it.
pub type HandBack = (GroupQueue, i64);

/// A slave's table after taking its master's, and the offsets the master must be told.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MasterMerge {
    pub table: OffsetTable,
    pub hand_back: Vec<HandBack>,
}

/// The master's table, except where a consumer committed to this slave an offset the master
/// does not have or is behind on: the slave's value stays, and is listed to be handed back.
/// An offset the master already has (or passed) is simply the master's; `local` entries not
/// in `committed_here` came from an earlier sync and give way to the master's.
pub fn merge_master_offsets(
    master: OffsetTable,
    local: &OffsetTable,
    committed_here: &BTreeSet<GroupQueue>,
) -> MasterMerge {
    let mut table = master;
    let mut hand_back = Vec::new();
    for queue in committed_here {
        let key = queue.key();
        let Some(&mine) = local
            .get(&key)
            .and_then(|queues| queues.get(&queue.queue_id))
        else {
            continue;
        };
        let theirs = table
            .get(&key)
            .and_then(|queues| queues.get(&queue.queue_id));
        if theirs.is_some_and(|&theirs| theirs >= mine) {
            continue;
        }
        table.entry(key).or_default().insert(queue.queue_id, mine);
        hand_back.push((queue.clone(), mine));
    }
    MasterMerge { table, hand_back }
}

/// Committed consumer offsets; shared by every processor behind an `Arc`.
///
/// Lock order: `table`, then `committed_here`.
#[derive(Debug)]
pub struct ConsumerOffsetManager {
    table: RwLock<OffsetTable>,
    /// Queues whose offset was committed to this broker while it was a slave and that the
    /// master has not confirmed yet. Empty on a master.
    committed_here: Mutex<BTreeSet<GroupQueue>>,
    file: ConfigFile,
}

impl ConsumerOffsetManager {
    /// Reads `<config_dir>/consumerOffset.json` (or its backup); empty on a first start.
    pub fn load(config_dir: &Path) -> Result<Self, PersistError> {
        Self::load_on(Arc::new(RealFileSystem), config_dir)
    }

    /// [`load`](Self::load) on a given file system (tests use a simulated disk).
    pub fn load_on(
        file_system: Arc<dyn FileSystem>,
        config_dir: &Path,
    ) -> Result<Self, PersistError> {
        let file = ConfigFile::on(file_system, config_dir, CONSUMER_OFFSET_FILE_NAME);
        let table = file.load(Self::from_json)?.unwrap_or_default();
        Ok(Self {
            table: RwLock::new(table),
            committed_here: Mutex::new(BTreeSet::new()),
            file,
        })
    }

    /// Records that `group` will next consume `offset` from `topic`'s queue `queue_id`.
    /// An offset lower than the stored one is accepted (consumers reset offsets on purpose).
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let key = offset_key(topic, group);
        self.table
            .write()
            .entry(key)
            .or_default()
            .insert(queue_id, offset);
    }

    /// [`commit`](Self::commit) on a slave: the master never saw this commit, so it is also
    /// remembered until a sync hands it back (see [`apply_master`](Self::apply_master)).
    pub fn commit_on_slave(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let mut table = self.table.write();
        table
            .entry(offset_key(topic, group))
            .or_default()
            .insert(queue_id, offset);
        self.committed_here
            .lock()
            .insert(GroupQueue::new(group, topic, queue_id));
    }

    /// Takes the master's table as [`merge_master_offsets`] says, atomically with respect to
    /// commits, and returns the offsets to hand back to the master. Queues the master already
    /// has are forgotten; those to hand back stay remembered until
    /// [`handed_back`](Self::handed_back) confirms them.
    pub fn apply_master(&self, master: OffsetTable) -> Vec<HandBack> {
        let mut table = self.table.write();
        let mut committed_here = self.committed_here.lock();
        let merge = merge_master_offsets(master, &table, &committed_here);
        *table = merge.table;
        let pending: BTreeSet<&GroupQueue> =
            merge.hand_back.iter().map(|(queue, _)| queue).collect();
        committed_here.retain(|queue| pending.contains(queue));
        merge.hand_back
    }

    /// The master accepted these offsets: forget them, unless a consumer committed another
    /// value here meanwhile (that one still has to reach the master).
    pub fn handed_back(&self, accepted: &[HandBack]) {
        let table = self.table.read();
        let mut committed_here = self.committed_here.lock();
        for (queue, offset) in accepted {
            let current = table
                .get(&queue.key())
                .and_then(|queues| queues.get(&queue.queue_id));
            if current == Some(offset) {
                committed_here.remove(queue);
            }
        }
    }

    /// The queues committed here that the master has not confirmed yet.
    pub fn committed_here(&self) -> BTreeSet<GroupQueue> {
        self.committed_here.lock().clone()
    }

    /// The committed offset, or `None` if the group never committed one for this queue.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        let key = offset_key(topic, group);
        self.table.read().get(&key)?.get(&queue_id).copied()
    }

    /// Every committed queue offset of `group` on `topic`.
    pub fn offsets_of(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        let key = offset_key(topic, group);
        self.table.read().get(&key).cloned().unwrap_or_default()
    }

    /// Every committed offset of `group`, by (topic, queue id): GET_CONSUME_STATS without a
    /// topic.
    pub fn offsets_of_group(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        let table = self.table.read();
        let mut offsets = BTreeMap::new();
        for (key, queues) in table.iter() {
            let Some((topic, _)) = split_offset_key(key).filter(|(_, owner)| *owner == group)
            else {
                continue;
            };
            for (&queue_id, &offset) in queues {
                offsets.insert((topic.to_owned(), queue_id), offset);
            }
        }
        offsets
    }

    /// Topics `group` has offsets for (Java `whichTopicByConsumer`).
    pub fn topics_of_group(&self, group: &str) -> BTreeSet<String> {
        self.keys_where(|_, owner| owner == group)
            .into_iter()
            .map(|(topic, _)| topic)
            .collect()
    }

    /// Groups with offsets on `topic` (Java `whichGroupByTopic`).
    pub fn groups_of_topic(&self, topic: &str) -> BTreeSet<String> {
        self.keys_where(|subject, _| subject == topic)
            .into_iter()
            .map(|(_, group)| group)
            .collect()
    }

    /// The (topic, group) pairs of the keys `wanted` accepts.
    fn keys_where(&self, wanted: impl Fn(&str, &str) -> bool) -> Vec<(String, String)> {
        self.table
            .read()
            .keys()
            .filter_map(|key| split_offset_key(key))
            .filter(|(topic, group)| wanted(topic, group))
            .map(|(topic, group)| (topic.to_owned(), group.to_owned()))
            .collect()
    }

    /// Forgets every offset of `group` (DELETE_SUBSCRIPTIONGROUP with cleanOffset); whether
    /// anything was removed.
    pub fn remove_group(&self, group: &str) -> bool {
        self.remove_where(|_, owner| owner == group)
    }

    /// Forgets every group's offsets on `topic` (DELETE_TOPIC_IN_BROKER); whether anything
    /// was removed.
    pub fn remove_topic(&self, topic: &str) -> bool {
        self.remove_where(|subject, _| subject == topic)
    }

    fn remove_where(&self, doomed: impl Fn(&str, &str) -> bool) -> bool {
        let mut table = self.table.write();
        let before = table.len();
        table.retain(|key, _| !split_offset_key(key).is_some_and(|(t, g)| doomed(t, g)));
        table.len() != before
    }

    /// Sets the given queues of `group` on `topic` to these offsets, leaving its other
    /// queues alone (resetOffsetByTime).
    pub fn reset_to(&self, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) {
        let key = offset_key(topic, group);
        self.table.write().entry(key).or_default().extend(
            offsets
                .iter()
                .map(|(&queue_id, &offset)| (queue_id, offset)),
        );
    }

    /// Copies `source_group`'s offsets on `topic` to `target_group`, replacing the target's
    /// (CLONE_GROUP_OFFSET); whether the source had any.
    pub fn clone_offsets(&self, source_group: &str, target_group: &str, topic: &str) -> bool {
        let mut table = self.table.write();
        let Some(offsets) = table.get(&offset_key(topic, source_group)).cloned() else {
            return false;
        };
        table.insert(offset_key(topic, target_group), offsets);
        true
    }

    /// A copy of the whole table.
    pub fn all(&self) -> OffsetTable {
        self.table.read().clone()
    }

    /// The table as Java writes it (see the module docs): the GET_ALL_CONSUMER_OFFSET body
    /// and the content of consumerOffset.json.
    pub fn to_json(&self) -> Vec<u8> {
        encode_offset_table(&self.table.read())
    }

    /// Parses [`to_json`](Self::to_json)'s form, with integer keys bare or quoted.
    pub fn from_json(bytes: &[u8]) -> Result<OffsetTable, ProtocolError> {
        const WHAT: &str = "consumer offset table";
        let Some(member) = offset_table_member(bytes, WHAT)? else {
            return Ok(OffsetTable::new());
        };
        serde_json::from_value(member).map_err(|error| table_error(WHAT, &error))
    }

    /// Writes the table to consumerOffset.json (a no-op when the file already holds it).
    pub fn persist(&self) -> Result<(), PersistError> {
        self.file.save(|| self.to_json())
    }
}

/// `{"offsetTable":{"<key>":{<queueId>:<offset>,...},...}}`.
pub fn encode_offset_table(table: &OffsetTable) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + table.len() * 64);
    out.extend_from_slice(b"{\"offsetTable\":{");
    for (index, (key, queues)) in table.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_json_string(&mut out, key);
        out.push(b':');
        push_bare_key_map(&mut out, queues);
    }
    out.extend_from_slice(b"}}");
    out
}

/// The `offsetTable` member of `{"offsetTable":{...},...}`; `None` when it is missing or
/// `null`, which Java reads as an empty table. Bare integer keys come back quoted, and
/// serde_json parses quoted keys into integer map keys.
fn offset_table_member(
    bytes: &[u8],
    what: &'static str,
) -> Result<Option<serde_json::Value>, ProtocolError> {
    let mut value: serde_json::Value = parse_lenient(bytes, what)?;
    let Some(object) = value.as_object_mut() else {
        return Err(ProtocolError::JsonBody {
            what,
            reason: "expected a JSON object".to_owned(),
        });
    };
    Ok(object
        .remove("offsetTable")
        .filter(|table| !table.is_null()))
}

fn table_error(what: &'static str, error: &serde_json::Error) -> ProtocolError {
    ProtocolError::JsonBody {
        what,
        reason: format!("offsetTable: {error}"),
    }
}

/// `{k:v,...}` with the keys bare, as fastjson writes integer-keyed maps.
fn push_bare_key_map<K: Display, V: Display>(out: &mut Vec<u8>, map: &BTreeMap<K, V>) {
    out.push(b'{');
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("{key}:{value}").as_bytes());
    }
    out.push(b'}');
}

/// A JSON string literal. Keys are normally `[%|a-zA-Z0-9_-@]`, but a file written by other
/// software may hold anything, and it must come back out as valid text.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for character in text.chars() {
        match character {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            control if u32::from(control) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(control)).as_bytes());
            }
            other => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The schedule service's progress: delay level (1-based) → the next consume-queue offset of
/// `SCHEDULE_TOPIC_XXXX` queue `level - 1` to deliver. Levels are not capped at 18 here:
/// `messageDelayLevel` decides how many exist.
#[derive(Debug)]
pub struct DelayOffsetTable {
    table: RwLock<BTreeMap<i32, i64>>,
    file: ConfigFile,
}

impl DelayOffsetTable {
    /// Reads `<config_dir>/delayOffset.json` (or its backup); empty on a first start.
    pub fn load(config_dir: &Path) -> Result<Self, PersistError> {
        Self::load_on(Arc::new(RealFileSystem), config_dir)
    }

    /// [`load`](Self::load) on a given file system (tests use a simulated disk).
    pub fn load_on(
        file_system: Arc<dyn FileSystem>,
        config_dir: &Path,
    ) -> Result<Self, PersistError> {
        let file = ConfigFile::on(file_system, config_dir, DELAY_OFFSET_FILE_NAME);
        let table = file.load(Self::from_json)?.unwrap_or_default();
        Ok(Self {
            table: RwLock::new(table),
            file,
        })
    }

    /// The stored offset of `level`; `None` before its first delivery (start at 0).
    pub fn get(&self, level: i32) -> Option<i64> {
        self.table.read().get(&level).copied()
    }

    pub fn set(&self, level: i32, offset: i64) {
        debug_assert!(level >= 1, "delay levels start at 1, got {level}");
        self.table.write().insert(level, offset);
    }

    pub fn all(&self) -> BTreeMap<i32, i64> {
        self.table.read().clone()
    }

    /// Replaces every level's offset: a slave's copy of its master's progress.
    pub fn replace_all(&self, table: BTreeMap<i32, i64>) {
        *self.table.write() = table;
    }

    /// `{"offsetTable":{1:123,2:0}}`: the GET_ALL_DELAY_OFFSET body and delayOffset.json.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        push_bare_key_map(&mut out, &self.table.read());
        out.push(b'}');
        out
    }

    /// Parses [`to_json`](Self::to_json)'s form, with integer keys bare or quoted.
    pub fn from_json(bytes: &[u8]) -> Result<BTreeMap<i32, i64>, ProtocolError> {
        const WHAT: &str = "delay offset table";
        let Some(member) = offset_table_member(bytes, WHAT)? else {
            return Ok(BTreeMap::new());
        };
        serde_json::from_value(member).map_err(|error| table_error(WHAT, &error))
    }

    /// Writes the table to delayOffset.json (a no-op when the file already holds it).
    pub fn persist(&self) -> Result<(), PersistError> {
        self.file.save(|| self.to_json())
    }
}

// Every processor shares one instance of each table across runtime threads.
const _: fn() = || {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<ConsumerOffsetManager>();
    shared_across_threads::<DelayOffsetTable>();
};

#[cfg(test)]
#[path = "consumer_offset_tests.rs"]
mod tests;

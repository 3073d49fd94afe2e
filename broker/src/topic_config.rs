//! The broker's topic table (Java `TopicConfigManager`): the topics created at start-up
//! (protocol.md §3.6), auto-creation on send (§2.3 step 2), retry and DLQ topics (§4.2,
//! §8.2), admin updates, and persistence to `config/topics.json` (§3.4, §6.1), plus the
//! topic-name rules every processor applies (§2.3 step 1, §8.3).
//!
//! `topics.json` holds Java's `TopicConfigSerializeWrapper`, which is also the body of
//! GET_ALL_TOPIC_CONFIG and the core of REGISTER_BROKER:
//!
//! ```text
//! {"dataVersion":{"counter":7,"timestamp":1700000000000},
//!  "topicConfigTable":{"TopicA":{"order":false,"perm":6,"readQueueNums":4,
//!     "topicFilterType":"SINGLE_TAG","topicName":"TopicA","topicSysFlag":0,"writeQueueNums":4}}}
//! ```
//!
//! Java writes the file pretty-printed; this broker writes it compact. Both read either.
//!
//! Every change bumps the table's `DataVersion` (name servers rebuild a broker's routes only
//! when it differs) and is saved before the call returns. If the save fails the change stays
//! in memory, the call reports the error, and the next successful save writes it: the table
//! in memory is what the broker serves and registers, so it must not go back on a change a
//! concurrent caller may already have seen.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bolide_client::protocol::route::{DataVersion, perm};
use bolide_client::protocol::topic_config::{TopicConfig, TopicConfigSerializeWrapper};
use parking_lot::RwLock;

use crate::persist::{ConfigFile, PersistError, TOPICS_FILE_NAME, wall_clock_ms};
use crate::store::mapped_file::{FileSystem, RealFileSystem};

/// Prefix of a consumer group's retry topic (Java `MixAll.RETRY_GROUP_TOPIC_PREFIX`).
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of a consumer group's dead-letter topic (Java `MixAll.DLQ_GROUP_TOPIC_PREFIX`).
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// The template topic new topics are auto-created from.
pub const AUTO_CREATE_TOPIC_KEY_TOPIC: &str = "TBW102";
/// Where delayed messages wait, one queue per delay level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The default message-trace topic (`msgTraceTopicName`).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const OFFSET_MOVED_EVENT_TOPIC: &str = "OFFSET_MOVED_EVENT";
/// Any topic with this prefix is reserved for the system.
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// `<brokerClusterName>_REPLY_TOPIC` carries request-reply answers.
pub const REPLY_TOPIC_SUFFIX: &str = "_REPLY_TOPIC";
/// Longest topic name accepted (Java `TopicValidator.TOPIC_MAX_LENGTH`).
pub const TOPIC_NAME_MAX_CHARS: usize = 127;
/// One queue per delay level of the default `messageDelayLevel`.
pub const SCHEDULE_TOPIC_QUEUE_NUMS: i32 = 18;
pub const BENCHMARK_TOPIC_QUEUE_NUMS: i32 = 1024;
/// Java's `DLQ_NUMS_PER_GROUP`.
pub const DLQ_QUEUE_NUMS: i32 = 1;
/// The broker's `defaultTopicQueueNums` default: TBW102's queue count.
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 8;

/// `topicSysFlag` bits (Java `TopicSysFlag`).
pub mod topic_sys_flag {
    pub const UNIT: i32 = 1;
    pub const UNIT_SUB: i32 = 2;
}

/// Topics no admin request may create or delete (Java `TopicValidator.SYSTEM_TOPIC_SET`).
const SYSTEM_TOPICS: [&str; 9] = [
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    SCHEDULE_TOPIC,
    BENCHMARK_TOPIC,
    TRANS_HALF_TOPIC,
    TRACE_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT_TOPIC,
];

/// Topics producers may not send to: only the broker itself writes them.
const SEND_FORBIDDEN_TOPICS: [&str; 6] = [
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT_TOPIC,
];

/// `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// `%DLQ%<group>`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// `<cluster>_REPLY_TOPIC`.
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}{REPLY_TOPIC_SUFFIX}")
}

/// The first character outside `[%|a-zA-Z0-9_-]`, the alphabet of topic and group names.
pub fn illegal_name_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')))
}

/// Checks a topic name as Java's `TopicValidator.validateTopic` does, in its order: not blank,
/// only `[%|a-zA-Z0-9_-]`, at most 127 characters. The error is the remark for the client.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the topic name is blank".to_owned());
    }
    if let Some(illegal) = illegal_name_char(name) {
        return Err(format!(
            "the topic name {name:?} contains the illegal character {illegal:?}; \
             only ^[%|a-zA-Z0-9_-]+$ is allowed"
        ));
    }
    // Only ASCII passed the check above, so bytes are characters.
    if name.len() > TOPIC_NAME_MAX_CHARS {
        return Err(format!(
            "the topic name is {} characters long, more than the limit of {TOPIC_NAME_MAX_CHARS}",
            name.len()
        ));
    }
    Ok(())
}

/// Whether `name` is reserved for the system (§8.3): the fixed list, the `rmq_sys_` prefix,
/// and the topics named after this broker's cluster and broker name. Such topics cannot be
/// created or deleted through admin requests.
pub fn is_system_topic(name: &str, cluster: &str, broker_name: &str) -> bool {
    SYSTEM_TOPICS.contains(&name)
        || name.starts_with(SYSTEM_TOPIC_PREFIX)
        || name == cluster
        || name == broker_name
        || name.strip_suffix(REPLY_TOPIC_SUFFIX) == Some(cluster)
}

/// Whether producers are refused (NO_PERMISSION) when sending to `name` (§2.3 step 1).
pub fn is_send_forbidden_topic(name: &str) -> bool {
    SEND_FORBIDDEN_TOPICS.contains(&name)
}

/// The broker settings that decide which topics exist at start-up and whether new topics may
/// be auto-created (Java `BrokerConfig` keys in the comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    /// `brokerClusterName`.
    pub broker_cluster_name: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `autoCreateTopicEnable`: creates TBW102 with PERM_INHERIT so sends may create topics.
    pub auto_create_topic_enable: bool,
    /// `defaultTopicQueueNums`: TBW102's queue count.
    pub default_topic_queue_nums: i32,
    /// `clusterTopicEnable`: the cluster-named topic is read-write instead of inherit-only.
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable`: likewise for the broker-named topic.
    pub broker_topic_enable: bool,
    /// `traceTopicEnable`: creates the trace topic.
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName`.
    pub trace_topic_name: String,
}

impl TopicDefaults {
    /// Java's defaults for everything but the names.
    pub fn new(broker_cluster_name: impl Into<String>, broker_name: impl Into<String>) -> Self {
        Self {
            broker_cluster_name: broker_cluster_name.into(),
            broker_name: broker_name.into(),
            auto_create_topic_enable: true,
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            trace_topic_name: TRACE_TOPIC.to_owned(),
        }
    }
}

/// A topic created by a call, and whether this call created it (`true`) or found it
/// (`false`). A caller that created a topic re-registers with the name servers at once.
pub type MaybeCreated = (TopicConfig, bool);

/// The topic table; shared by every processor behind an `Arc`.
#[derive(Debug)]
pub struct TopicConfigManager {
    settings: TopicDefaults,
    table: RwLock<TopicConfigSerializeWrapper>,
    file: ConfigFile,
}

impl TopicConfigManager {
    /// Builds the start-up topics, then overlays `<config_dir>/topics.json` (whose entries
    /// win, as in Java) and takes its DataVersion. A corrupt file is an error naming it.
    pub fn load(config_dir: &Path, settings: TopicDefaults) -> Result<Self, PersistError> {
        Self::load_on(Arc::new(RealFileSystem), config_dir, settings)
    }

    /// [`load`](Self::load) on a given file system (tests use a simulated disk).
    pub fn load_on(
        file_system: Arc<dyn FileSystem>,
        config_dir: &Path,
        settings: TopicDefaults,
    ) -> Result<Self, PersistError> {
        let file = ConfigFile::on(file_system, config_dir, TOPICS_FILE_NAME);
        let mut table = TopicConfigSerializeWrapper {
            data_version: DataVersion::new(wall_clock_ms()),
            topic_config_table: BTreeMap::new(),
        };
        for config in startup_topics(&settings) {
            table
                .topic_config_table
                .insert(config.topic_name.clone(), config);
        }
        if let Some(saved) = file.load(TopicConfigSerializeWrapper::decode)? {
            for (name, mut config) in saved.topic_config_table {
                // Java keys the table by name; a nameless entry would register as "".
                if config.topic_name.is_empty() {
                    config.topic_name.clone_from(&name);
                }
                table.topic_config_table.insert(name, config);
            }
            table.data_version = saved.data_version;
        }
        Ok(Self {
            settings,
            table: RwLock::new(table),
            file,
        })
    }

    pub fn settings(&self) -> &TopicDefaults {
        &self.settings
    }

    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.table.read().topic_config_table.get(topic).cloned()
    }

    pub fn contains(&self, topic: &str) -> bool {
        self.table.read().topic_config_table.contains_key(topic)
    }

    /// Whether `topic` exists and is marked ordered (send step 1 refuses ordered topics while
    /// the broker is not writable).
    pub fn is_order_topic(&self, topic: &str) -> bool {
        self.table
            .read()
            .topic_config_table
            .get(topic)
            .is_some_and(|config| config.order)
    }

    /// The whole table with its version: the GET_ALL_TOPIC_CONFIG body and what is registered.
    pub fn all(&self) -> TopicConfigSerializeWrapper {
        self.table.read().clone()
    }

    pub fn data_version(&self) -> DataVersion {
        self.table.read().data_version
    }

    pub fn topic_names(&self) -> Vec<String> {
        self.table
            .read()
            .topic_config_table
            .keys()
            .cloned()
            .collect()
    }

    /// [`is_system_topic`] for this broker, counting its trace topic as Java does when
    /// tracing is enabled.
    pub fn is_system_topic(&self, topic: &str) -> bool {
        let settings = &self.settings;
        is_system_topic(topic, &settings.broker_cluster_name, &settings.broker_name)
            || (settings.trace_topic_enable && topic == settings.trace_topic_name)
    }

    /// Creates or replaces a topic (UPDATE_AND_CREATE_TOPIC), bumps the version and saves.
    /// The caller validates the name and refuses system topics.
    pub fn update(&self, config: TopicConfig) -> Result<(), PersistError> {
        debug_assert!(!config.topic_name.is_empty(), "topics have names");
        {
            let mut table = self.table.write();
            table
                .topic_config_table
                .insert(config.topic_name.clone(), config);
            table.data_version.advance(wall_clock_ms());
        }
        self.persist()
    }

    /// Removes a topic (DELETE_TOPIC_IN_BROKER); `Ok(false)` if it did not exist, in which
    /// case nothing changes and nothing is written.
    pub fn delete(&self, topic: &str) -> Result<bool, PersistError> {
        {
            let mut table = self.table.write();
            if table.topic_config_table.remove(topic).is_none() {
                return Ok(false);
            }
            table.data_version.advance(wall_clock_ms());
        }
        self.persist().map(|()| true)
    }

    /// Send step 2 (§2.3) for a topic that may not exist yet. An existing topic is returned
    /// as found. Otherwise it is created:
    /// * from `default_topic` if that exists and has PERM_INHERIT: queue counts =
    ///   min(`default_topic_queue_nums`, the template's writeQueueNums), perm = the template's
    ///   without INHERIT, the template's filter type, and `topic_sys_flag`;
    /// * else, for a `%RETRY%` topic, with 1 read-write queue.
    ///
    /// `Ok(None)` means neither applies: the caller answers TOPIC_NOT_EXIST. With
    /// `autoCreateTopicEnable=false`, TBW102 (perhaps left in topics.json by an earlier run)
    /// never serves as a template, as in Java.
    ///
    /// Java would create a topic with 0 queues when a client asks for 0 or fewer; such a
    /// topic can never take a message, so at least one queue is created.
    pub fn create_for_send(
        &self,
        topic: &str,
        default_topic: &str,
        default_topic_queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Result<Option<MaybeCreated>, PersistError> {
        let created = {
            let mut table = self.table.write();
            if let Some(existing) = table.topic_config_table.get(topic) {
                return Ok(Some((existing.clone(), false)));
            }
            let template = table
                .topic_config_table
                .get(default_topic)
                .map(|template| (self.template_perm(template), template));
            let config = match template {
                Some((template_perm, template)) if perm::is_inherited(template_perm) => {
                    let queue_nums = default_topic_queue_nums
                        .min(template.write_queue_nums)
                        .max(1);
                    TopicConfig {
                        perm: template_perm & !perm::INHERIT,
                        read_queue_nums: queue_nums,
                        write_queue_nums: queue_nums,
                        topic_filter_type: template.topic_filter_type,
                        topic_sys_flag,
                        ..TopicConfig::new(topic)
                    }
                }
                _ if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) => {
                    new_topic(topic, 1, perm::READ_WRITE, topic_sys_flag)
                }
                _ => return Ok(None),
            };
            table
                .topic_config_table
                .insert(topic.to_owned(), config.clone());
            table.data_version.advance(wall_clock_ms());
            config
        };
        self.persist()?;
        Ok(Some((created, true)))
    }

    /// The perm a template topic lends: TBW102 lends nothing inheritable while
    /// auto-creation is off (Java resets it to read-write at this point).
    fn template_perm(&self, template: &TopicConfig) -> i32 {
        if template.topic_name == AUTO_CREATE_TOPIC_KEY_TOPIC
            && !self.settings.auto_create_topic_enable
        {
            perm::READ_WRITE
        } else {
            template.perm
        }
    }

    /// Returns `topic`, creating it with these queue counts, perm and sys flag if it does not
    /// exist (Java `createTopicInSendMessageBackMethod`): retry topics of unit consumers,
    /// TRANS_CHECK_MAX_TIME_TOPIC and the like.
    pub fn create_if_absent(
        &self,
        topic: &str,
        queue_nums: i32,
        topic_perm: i32,
        topic_sys_flag: i32,
    ) -> Result<MaybeCreated, PersistError> {
        let created = {
            let mut table = self.table.write();
            if let Some(existing) = table.topic_config_table.get(topic) {
                return Ok((existing.clone(), false));
            }
            let config = new_topic(topic, queue_nums, topic_perm, topic_sys_flag);
            table
                .topic_config_table
                .insert(topic.to_owned(), config.clone());
            table.data_version.advance(wall_clock_ms());
            config
        };
        self.persist()?;
        Ok((created, true))
    }

    /// `%RETRY%<group>` with `retry_queue_nums` read-write queues (at least one), created when
    /// a consumer of the group sends a heartbeat (§4.2).
    pub fn create_retry_topic(
        &self,
        group: &str,
        retry_queue_nums: i32,
    ) -> Result<MaybeCreated, PersistError> {
        self.create_if_absent(
            &retry_topic(group),
            retry_queue_nums.max(1),
            perm::READ_WRITE,
            0,
        )
    }

    /// `%DLQ%<group>` with one read-write queue, created on the group's first dead letter.
    pub fn create_dlq_topic(&self, group: &str) -> Result<MaybeCreated, PersistError> {
        self.create_if_absent(&dlq_topic(group), DLQ_QUEUE_NUMS, perm::READ_WRITE, 0)
    }

    /// A slave's copy of its master's table (protocol.md §7): taken whole, version included,
    /// unless the versions already match, and saved. `Ok(false)` when nothing changed.
    pub fn replace_all(&self, master: TopicConfigSerializeWrapper) -> Result<bool, PersistError> {
        {
            let mut table = self.table.write();
            if table.data_version == master.data_version {
                return Ok(false);
            }
            *table = master;
            for (name, config) in &mut table.topic_config_table {
                // As in `load`: a nameless entry would register as "".
                if config.topic_name.is_empty() {
                    config.topic_name.clone_from(name);
                }
            }
        }
        self.persist().map(|()| true)
    }

    /// Writes the table to topics.json (a no-op when the file already holds it).
    pub fn persist(&self) -> Result<(), PersistError> {
        self.file.save(|| self.table.read().encode())
    }
}

// Every processor shares one instance across runtime threads.
const _: fn() = || {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<TopicConfigManager>();
};

fn new_topic(topic: &str, queue_nums: i32, topic_perm: i32, topic_sys_flag: i32) -> TopicConfig {
    TopicConfig {
        perm: topic_perm,
        read_queue_nums: queue_nums,
        write_queue_nums: queue_nums,
        topic_sys_flag,
        ..TopicConfig::new(topic)
    }
}

/// The topics a Java broker creates in its constructor, in its order (a later one replaces
/// an earlier one of the same name). Names that are empty (an unset cluster or broker
/// name) are skipped: such a topic could not be registered.
fn startup_topics(settings: &TopicDefaults) -> Vec<TopicConfig> {
    let inherit_or_read_write = |enabled: bool| {
        if enabled {
            perm::INHERIT | perm::READ_WRITE
        } else {
            perm::INHERIT
        }
    };
    let mut topics = vec![new_topic(SELF_TEST_TOPIC, 1, perm::READ_WRITE, 0)];
    if settings.auto_create_topic_enable {
        topics.push(new_topic(
            AUTO_CREATE_TOPIC_KEY_TOPIC,
            settings.default_topic_queue_nums,
            perm::INHERIT | perm::READ_WRITE,
            0,
        ));
    }
    topics.push(new_topic(
        BENCHMARK_TOPIC,
        BENCHMARK_TOPIC_QUEUE_NUMS,
        perm::READ_WRITE,
        0,
    ));
    topics.push(new_topic(
        &settings.broker_cluster_name,
        TopicConfig::DEFAULT_QUEUE_NUMS,
        inherit_or_read_write(settings.cluster_topic_enable),
        0,
    ));
    topics.push(new_topic(
        &settings.broker_name,
        1,
        inherit_or_read_write(settings.broker_topic_enable),
        0,
    ));
    topics.push(new_topic(OFFSET_MOVED_EVENT_TOPIC, 1, perm::READ_WRITE, 0));
    topics.push(new_topic(
        SCHEDULE_TOPIC,
        SCHEDULE_TOPIC_QUEUE_NUMS,
        perm::READ_WRITE,
        0,
    ));
    if settings.trace_topic_enable {
        topics.push(new_topic(
            &settings.trace_topic_name,
            1,
            perm::READ_WRITE,
            0,
        ));
    }
    topics.push(new_topic(
        &reply_topic(&settings.broker_cluster_name),
        1,
        perm::READ_WRITE,
        0,
    ));
    topics.retain(|config| !config.topic_name.is_empty());
    topics
}

#[cfg(test)]
#[path = "topic_config_tests.rs"]
mod tests;

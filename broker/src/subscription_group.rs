//! The broker's consumer-group table (Java `SubscriptionGroupManager`, protocol.md §2.3
//! "Admin path"): which groups may consume and how, auto-created on first use when
//! `autoCreateSubscriptionGroup=true`, persisted to `config/subscriptionGroup.json`.
//!
//! The file holds the same JSON as the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body:
//!
//! ```text
//! {"dataVersion":{"counter":3,"timestamp":1700000000000},
//!  "subscriptionGroupTable":{"cg":{"brokerId":0,"consumeBroadcastEnable":true,
//!     "consumeEnable":true,"consumeFromMinEnable":true,"groupName":"cg",
//!     "notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,
//!     "whichBrokerWhenConsumeSlowly":1}}}
//! ```
//!
//! Like a Java 4.9 broker, the table starts with a handful of tool and system groups, and the
//! file's entries are laid over them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bolide_client::protocol::route::DataVersion;
use bolide_client::protocol::subscription_group::{
    SubscriptionGroupConfig, SubscriptionGroupWrapper,
};
use parking_lot::RwLock;

use crate::persist::{ConfigFile, PersistError, SUBSCRIPTION_GROUP_FILE_NAME, wall_clock_ms};
use crate::store::mapped_file::{FileSystem, RealFileSystem};
use crate::topic_config::illegal_name_char;

/// Longest group name accepted (Java client `Validators.CHARACTER_MAX_LENGTH`).
pub const GROUP_NAME_MAX_CHARS: usize = 255;
/// Groups with this prefix are the broker's own and are created even when auto-creation is
/// off (Java `MixAll.CID_RMQ_SYS_PREFIX`).
pub const SYSTEM_GROUP_PREFIX: &str = "CID_RMQ_SYS_";
/// The consumer group of transaction checks (Java `MixAll.CID_SYS_RMQ_TRANS`).
pub const TRANSACTION_CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";

/// Groups a Java 4.9 broker has before it reads its file: admin tools and Aliyun ONS groups.
/// Tools such as `mqadmin consumerProgress` consume as `TOOLS_CONSUMER` and expect it.
const STARTUP_GROUPS: [&str; 7] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
];

/// Checks a group name as the Java client does: not blank, only `[%|a-zA-Z0-9_-]`, at most
/// 255 characters. The error says what is wrong.
pub fn validate_group_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the group name is blank".to_owned());
    }
    if let Some(illegal) = illegal_name_char(name) {
        return Err(format!(
            "the group name {name:?} contains the illegal character {illegal:?}; \
             only ^[%|a-zA-Z0-9_-]+$ is allowed"
        ));
    }
    if name.len() > GROUP_NAME_MAX_CHARS {
        return Err(format!(
            "the group name is {} characters long, more than the limit of {GROUP_NAME_MAX_CHARS}",
            name.len()
        ));
    }
    Ok(())
}

/// The group table; shared by every processor behind an `Arc`.
#[derive(Debug)]
pub struct SubscriptionGroupManager {
    auto_create: bool,
    table: RwLock<SubscriptionGroupWrapper>,
    file: ConfigFile,
}

impl SubscriptionGroupManager {
    /// Builds the start-up groups, then overlays `<config_dir>/subscriptionGroup.json` and
    /// takes its DataVersion. `auto_create` is `autoCreateSubscriptionGroup`.
    pub fn load(config_dir: &Path, auto_create: bool) -> Result<Self, PersistError> {
        Self::load_on(Arc::new(RealFileSystem), config_dir, auto_create)
    }

    /// [`load`](Self::load) on a given file system (tests use a simulated disk).
    pub fn load_on(
        file_system: Arc<dyn FileSystem>,
        config_dir: &Path,
        auto_create: bool,
    ) -> Result<Self, PersistError> {
        let file = ConfigFile::on(file_system, config_dir, SUBSCRIPTION_GROUP_FILE_NAME);
        let mut table = SubscriptionGroupWrapper {
            data_version: DataVersion::new(wall_clock_ms()),
            subscription_group_table: BTreeMap::new(),
        };
        for group in STARTUP_GROUPS {
            table
                .subscription_group_table
                .insert(group.to_owned(), SubscriptionGroupConfig::new(group));
        }
        if let Some(saved) = file.load(SubscriptionGroupWrapper::decode)? {
            for (name, mut config) in saved.subscription_group_table {
                if config.group_name.is_empty() {
                    config.group_name.clone_from(&name);
                }
                table.subscription_group_table.insert(name, config);
            }
            table.data_version = saved.data_version;
        }
        Ok(Self {
            auto_create,
            table: RwLock::new(table),
            file,
        })
    }

    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.table
            .read()
            .subscription_group_table
            .get(group)
            .cloned()
    }

    pub fn contains(&self, group: &str) -> bool {
        self.table
            .read()
            .subscription_group_table
            .contains_key(group)
    }

    /// The group's config, creating it with Java's defaults when it is unknown and either
    /// auto-creation is on or it is a system group (`CID_RMQ_SYS_*`). `None` means the group
    /// does not exist and may not be created (the caller answers
    /// SUBSCRIPTION_GROUP_NOT_EXIST); a name that breaks the naming rules is never created,
    /// so junk from a client cannot end up in the file.
    ///
    /// A failed save is logged, not returned: the group is live in memory and the next save
    /// writes it, and a default group lost in a crash is simply auto-created again.
    pub fn find_or_create(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        if let Some(existing) = self.get(group) {
            return Some(existing);
        }
        let may_create = self.auto_create || group.starts_with(SYSTEM_GROUP_PREFIX);
        if !may_create || validate_group_name(group).is_err() {
            return None;
        }
        let config = {
            let mut table = self.table.write();
            if let Some(existing) = table.subscription_group_table.get(group) {
                return Some(existing.clone());
            }
            let config = SubscriptionGroupConfig::new(group);
            table
                .subscription_group_table
                .insert(group.to_owned(), config.clone());
            table.data_version.advance(wall_clock_ms());
            config
        };
        tracing::info!(group, "subscription group auto-created");
        if let Err(error) = self.persist() {
            tracing::error!(group, %error, "cannot save the auto-created subscription group");
        }
        Some(config)
    }

    /// Creates or replaces a group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP), bumps the version
    /// and saves. The caller validates the name.
    pub fn update(&self, config: SubscriptionGroupConfig) -> Result<(), PersistError> {
        debug_assert!(!config.group_name.is_empty(), "groups have names");
        {
            let mut table = self.table.write();
            table
                .subscription_group_table
                .insert(config.group_name.clone(), config);
            table.data_version.advance(wall_clock_ms());
        }
        self.persist()
    }

    /// Removes a group (DELETE_SUBSCRIPTIONGROUP); `Ok(false)` if it did not exist.
    pub fn delete(&self, group: &str) -> Result<bool, PersistError> {
        {
            let mut table = self.table.write();
            if table.subscription_group_table.remove(group).is_none() {
                return Ok(false);
            }
            table.data_version.advance(wall_clock_ms());
        }
        self.persist().map(|()| true)
    }

    /// The whole table with its version: the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.
    pub fn all(&self) -> SubscriptionGroupWrapper {
        self.table.read().clone()
    }

    pub fn data_version(&self) -> DataVersion {
        self.table.read().data_version
    }

    /// A slave's copy of its master's table (protocol.md §7): taken whole, version included,
    /// unless the versions already match, and saved. `Ok(false)` when nothing changed.
    pub fn replace_all(&self, master: SubscriptionGroupWrapper) -> Result<bool, PersistError> {
        {
            let mut table = self.table.write();
            if table.data_version == master.data_version {
                return Ok(false);
            }
            *table = master;
            for (name, config) in &mut table.subscription_group_table {
                if config.group_name.is_empty() {
                    config.group_name.clone_from(name);
                }
            }
        }
        self.persist().map(|()| true)
    }

    /// Writes the table to subscriptionGroup.json (a no-op when the file already holds it).
    pub fn persist(&self) -> Result<(), PersistError> {
        self.file.save(|| self.table.read().encode())
    }
}

// Every processor shares one instance across runtime threads.
const _: fn() = || {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<SubscriptionGroupManager>();
};

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn auto_created_groups_have_java_defaults_and_persist() -> TestResult {
        let dir = tempfile::tempdir()?;
        let manager = SubscriptionGroupManager::load(dir.path(), true)?;
        assert!(manager.get("cg").is_none());
        let config = manager.find_or_create("cg").ok_or("cg not created")?;
        assert_eq!(config, SubscriptionGroupConfig::new("cg"));
        assert_eq!((config.retry_queue_nums, config.retry_max_times), (1, 16));
        assert!(config.consume_enable && config.notify_consumer_ids_changed_enable);
        assert_eq!(manager.data_version().counter, 1);
        // Found, not created again.
        assert_eq!(manager.find_or_create("cg"), Some(config.clone()));
        assert_eq!(manager.data_version().counter, 1);

        let reloaded = SubscriptionGroupManager::load(dir.path(), true)?;
        assert_eq!(reloaded.get("cg"), Some(config));
        assert_eq!(reloaded.data_version(), manager.data_version());
        Ok(())
    }

    #[test]
    fn without_auto_create_only_system_groups_appear() -> TestResult {
        let dir = tempfile::tempdir()?;
        let manager = SubscriptionGroupManager::load(dir.path(), false)?;
        assert_eq!(manager.find_or_create("cg"), None);
        assert!(manager.find_or_create("CID_RMQ_SYS_TRANS").is_some());
        assert!(manager.find_or_create("TOOLS_CONSUMER").is_some());
        let auto = SubscriptionGroupManager::load(dir.path(), true)?;
        assert_eq!(auto.find_or_create("bad group"), None);
        assert_eq!(auto.find_or_create(""), None);
        assert_eq!(auto.find_or_create(&"g".repeat(256)), None);
        assert!(auto.find_or_create(&"g".repeat(255)).is_some());
        Ok(())
    }

    #[test]
    fn update_delete_and_file_round_trip() -> TestResult {
        let dir = tempfile::tempdir()?;
        let manager = SubscriptionGroupManager::load(dir.path(), true)?;
        let mut config = SubscriptionGroupConfig::new("cg");
        config.consume_enable = false;
        config.retry_queue_nums = 4;
        manager.update(config.clone())?;
        let path = dir.path().join(SUBSCRIPTION_GROUP_FILE_NAME);
        let written = std::fs::read(&path)?;
        assert_eq!(written, manager.all().encode());
        assert!(written.starts_with(br#"{"dataVersion":{"counter":1,"timestamp":"#));
        assert_eq!(SubscriptionGroupWrapper::decode(&written)?, manager.all());

        let reloaded = SubscriptionGroupManager::load(dir.path(), true)?;
        assert_eq!(reloaded.get("cg"), Some(config));
        assert_eq!(reloaded.all(), manager.all());
        reloaded.persist()?;
        assert_eq!(std::fs::read(&path)?, written);

        assert!(manager.delete("cg")?);
        assert!(!manager.delete("cg")?);
        assert_eq!(manager.data_version().counter, 2);
        assert!(
            SubscriptionGroupManager::load(dir.path(), true)?
                .get("cg")
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn loads_a_java_file_over_the_startup_groups() -> TestResult {
        let dir = tempfile::tempdir()?;
        let java = "{\n\t\"dataVersion\":{\n\t\t\"counter\":5,\n\t\t\"timestamp\":1700000000000\n\t},\n\
                    \t\"subscriptionGroupTable\":{\n\t\t\"cg\":{\n\t\t\t\"brokerId\":0,\n\
                    \t\t\t\"consumeBroadcastEnable\":false,\n\t\t\t\"consumeEnable\":true,\n\
                    \t\t\t\"groupName\":\"cg\",\n\t\t\t\"retryMaxTimes\":3,\n\
                    \t\t\t\"retryQueueNums\":2\n\t\t},\n\t\t\"TOOLS_CONSUMER\":{\n\
                    \t\t\t\"consumeEnable\":false,\n\t\t\t\"groupName\":\"TOOLS_CONSUMER\"\n\t\t}\n\t}\n}";
        std::fs::write(dir.path().join(SUBSCRIPTION_GROUP_FILE_NAME), java)?;
        let manager = SubscriptionGroupManager::load(dir.path(), false)?;
        assert_eq!(manager.data_version().counter, 5);
        let cg = manager.get("cg").ok_or("cg missing")?;
        assert!(!cg.consume_broadcast_enable);
        assert_eq!((cg.retry_max_times, cg.retry_queue_nums), (3, 2));
        assert!(
            !manager
                .get("TOOLS_CONSUMER")
                .ok_or("tools missing")?
                .consume_enable
        );
        assert!(manager.contains("CID_ONSAPI_OWNER"));
        Ok(())
    }

    #[test]
    fn corrupt_file_refuses_start_naming_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join(SUBSCRIPTION_GROUP_FILE_NAME),
            br#"{"subscriptionGroupTable":{"cg":{"retryMaxTimes":"many"}}}"#,
        )?;
        let error = SubscriptionGroupManager::load(dir.path(), true)
            .err()
            .ok_or("a corrupt file loaded")?;
        assert!(
            error.to_string().contains("subscriptionGroup.json"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn a_slave_takes_the_masters_table_whole_and_saves_it() -> TestResult {
        let master_dir = tempfile::tempdir()?;
        let master = SubscriptionGroupManager::load(master_dir.path(), true)?;
        let mut config = SubscriptionGroupConfig::new("cg");
        config.retry_max_times = 3;
        master.update(config.clone())?;
        // Two changes to the slave's one: the versions differ even within one millisecond.
        master.update(config.clone())?;
        let dir = tempfile::tempdir()?;
        let slave = SubscriptionGroupManager::load(dir.path(), true)?;
        slave.find_or_create("only_on_slave");

        let mut copy = master.all();
        assert!(slave.replace_all(copy.clone())?);
        assert_eq!(slave.all(), master.all());
        assert!(!slave.contains("only_on_slave"));
        let reloaded = SubscriptionGroupManager::load(dir.path(), true)?;
        assert_eq!(reloaded.get("cg"), Some(config));
        assert_eq!(reloaded.data_version(), master.data_version());

        // The same version again: nothing to do.
        copy.subscription_group_table.clear();
        assert!(!slave.replace_all(copy)?);
        assert!(slave.contains("cg"));
        Ok(())
    }

    #[test]
    fn group_names_are_validated() {
        assert_eq!(
            validate_group_name("please_rename_unique_group_name"),
            Ok(())
        );
        for (bad, why) in [("", "blank"), ("a.b", "'.'"), ("a b", "' '")] {
            let Err(message) = validate_group_name(bad) else {
                panic!("{bad:?} was accepted");
            };
            assert!(message.contains(why), "{bad:?}: {message}");
        }
    }
}

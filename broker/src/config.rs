//! Broker configuration: RocketMQ's broker keys (protocol.md §9.2), mapped once onto typed
//! fields with their units in their names.
//!
//! Java spreads these keys over BrokerConfig, MessageStoreConfig, NettyServerConfig and
//! NettyClientConfig, and silently drops unknown keys and unparsable values. Bolide keeps them in
//! one [`BrokerConfig`] and refuses a bad value, naming the file, line, key and value; it warns
//! about keys it does not know and about the Java tuning keys it knowingly ignores (thread pools,
//! Netty, the transient store pool), so that a RocketMQ configuration file starts unchanged.
//!
//! The same key names go back out in [`BrokerConfig::to_properties`], the body of
//! GET_BROKER_CONFIG and the output of `mqbroker -p`. A running broker changes only the keys of
//! [`RUNTIME_UPDATABLE_KEYS`] (UPDATE_BROKER_CONFIG).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bolide_client::namesrv::parse_namesrv_addrs;
use bolide_client::properties::{self, ReadError, expand_home, home_dir, location};
use bolide_client::protocol::frame::MAX_FRAME_BYTES;
use thiserror::Error;

use crate::store::config::DEFAULT_DELAY_LEVELS_MS;
use crate::store::consume_queue::CQ_UNIT_SIZE_BYTES;
use crate::store::{FlushDiskType, StoreConfig};

/// Keys UPDATE_BROKER_CONFIG may change on a running broker; a request naming any other key is
/// refused whole.
///
/// Java lets a remote peer set every key, and CVE-2023-33246 turned that into remote code
/// execution (`rocketmqHome` plus `filterServerNums` made the broker run a shell command).
/// So: no paths, no addresses, nothing that starts a program, nothing that changes the broker's
/// identity or its store layout, and only keys that the request handlers read from the live
/// configuration, so that an accepted change takes effect.
pub const RUNTIME_UPDATABLE_KEYS: &[&str] = &[
    "brokerPermission",
    "defaultQueryMaxNum",
    "longPollingEnable",
    "maxTransferBytesOnMessageInMemory",
    "maxTransferCountOnMessageInMemory",
    "notifyConsumerIdsChangedEnable",
    "traceOn",
];

/// Keys of RocketMQ's broker, store and Netty configurations that tune Java machinery Bolide does
/// not have (thread pools and their queues, Netty, the transient store pool, commercial
/// counters, filter servers): accepted with a warning and otherwise ignored.
pub const IGNORED_KEYS: &[&str] = &[
    "adminBrokerThreadPoolNums",
    "autoDeleteUnusedStats",
    "bitMapLengthConsumeQueueExt",
    "brokerFastFailureEnable",
    "channelNotActiveInterval",
    "cleanFileForciblyEnable",
    "clientAsyncSemaphoreValue",
    "clientCallbackExecutorThreads",
    "clientChannelMaxIdleTimeSeconds",
    "clientCloseSocketIfTimeout",
    "clientManageThreadPoolNums",
    "clientManagerThreadPoolQueueCapacity",
    "clientOnewaySemaphoreValue",
    "clientPooledByteBufAllocatorEnable",
    "clientSocketRcvBufSize",
    "clientSocketSndBufSize",
    "clientWorkerThreads",
    "commercialBaseCount",
    "commercialBigCount",
    "commercialEnable",
    "commercialTimerCount",
    "commercialTransCount",
    "commitCommitLogLeastPages",
    "commitCommitLogThoroughInterval",
    "commitIntervalCommitLog",
    "connectTimeoutMillis",
    "consumerFallbehindThreshold",
    "consumerManageThreadPoolNums",
    "consumerManagerThreadPoolQueueCapacity",
    "debugLockEnable",
    "deleteCommitLogFilesInterval",
    "deleteConsumeQueueFilesInterval",
    "destroyMapedFileIntervalForcibly",
    "disableConsumeIfConsumerReadSlowly",
    "diskFallRecorded",
    "duplicationEnable",
    "enableCalcFilterBitMap",
    "enableConsumeQueueExt",
    "endTransactionPoolQueueCapacity",
    "endTransactionThreadPoolNums",
    "expectConsumerNumUseFilter",
    "fastFailIfNoBufferInStorePool",
    "fetchNamesrvAddrByAddressServer",
    "filterDataCleanTimeSpan",
    "filterServerNums",
    "filterSupportRetry",
    "flushConsumeQueueLeastPages",
    "flushConsumeQueueThoroughInterval",
    "flushConsumerOffsetHistoryInterval",
    "flushLeastPagesWhenWarmMapedFile",
    "haListenPort",
    "heartbeatThreadPoolNums",
    "heartbeatThreadPoolQueueCapacity",
    "highSpeedMode",
    "isolateLogEnable",
    "mappedFileSizeConsumeQueueExt",
    "maxDelayTime",
    "maxErrorRateOfBloomFilter",
    "maxMsgsNumBatch",
    "messageIndexSafe",
    "messageStorePlugIn",
    "osPageCacheBusyTimeOutMills",
    "processReplyMessageThreadPoolNums",
    "pullMessageThreadPoolNums",
    "pullThreadPoolQueueCapacity",
    "putMessageFutureThreadPoolNums",
    "putMsgIndexHightWater",
    "putThreadPoolQueueCapacity",
    "queryMessageThreadPoolNums",
    "queryThreadPoolQueueCapacity",
    "redeleteHangedFileInterval",
    "replyThreadPoolQueueCapacity",
    "sendMessageThreadPoolNums",
    "sendThreadPoolQueueCapacity",
    "serverAsyncSemaphoreValue",
    "serverCallbackExecutorThreads",
    "serverOnewaySemaphoreValue",
    "serverPooledByteBufAllocatorEnable",
    "serverSelectorThreads",
    "serverSocketBacklog",
    "serverSocketRcvBufSize",
    "serverSocketSndBufSize",
    "serverWorkerThreads",
    "startAcceptSendRequestTimeStamp",
    "storeReplyMessageEnable",
    "transferMsgByHeap",
    "transientStorePoolEnable",
    "transientStorePoolSize",
    "useEpollNativeSelector",
    "useReentrantLockWhenPutMessage",
    "waitTimeMillsInHeartbeatQueue",
    "waitTimeMillsInPullQueue",
    "waitTimeMillsInSendQueue",
    "waitTimeMillsInTransactionQueue",
    "warmMapedFileEnable",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
];

/// Features of RocketMQ that Bolide lacks, by key: `false` is accepted, `true` refused. Running
/// without access control or TLS that the operator asked for would be worse than not running.
const UNSUPPORTED_FEATURES: &[(&str, &str)] = &[
    ("aclEnable", "access control lists (ACL)"),
    ("enableDLegerCommitLog", "the DLedger commit log"),
    ("useTLS", "TLS"),
];

/// What `mqbroker -m` prints: who the broker is, where it registers, and where its data lives.
pub const IMPORTANT_KEYS: &[&str] = &[
    "autoCreateSubscriptionGroup",
    "autoCreateTopicEnable",
    "brokerClusterName",
    "brokerIP1",
    "brokerId",
    "brokerName",
    "brokerRole",
    "deleteWhen",
    "fileReservedTime",
    "flushDiskType",
    "listenPort",
    "namesrvAddr",
    "rejectTransactionMessage",
    "storePathCommitLog",
    "storePathRootDir",
    "transactionCheckInterval",
    "transactionCheckMax",
    "transactionTimeOut",
];

// Why these bounds: each is far beyond any sensible setting, so a value outside is a typo, and
// none lets a number overflow on its way into milliseconds, bytes or a file size.
const DAY_MS: u64 = 86_400_000;
const MAX_FILE_BYTES: u64 = i32::MAX as u64; // Java maps files with int sizes.
const MAX_QUEUE_NUMS: u64 = 1024;
const MAX_TRANSFER_COUNT: u64 = 1024; // RocketMQ clients cap pullBatchSize at 1024.
const MAX_HA_GAP_BYTES: u64 = 1 << 40;
const MAX_DELAY_LEVELS: usize = 64;
const MAX_DELAY_MS: u64 = 365 * DAY_MS;
const MAX_NAME_CHARS: usize = 127; // A cluster or broker name doubles as a topic name.
// Java clamps registerNameServerPeriod into this range when it schedules registration.
const REGISTER_PERIOD_MS: RangeInclusive<u64> = 10_000..=60_000;
/// Room a stored record needs beside its body: the fixed header (~100 bytes), the topic (at most
/// 127 bytes) and the properties (at most 32 767 bytes), rounded up.
const MAX_RECORD_OVERHEAD_BYTES: u64 = 64 * 1024;

/// A broker's part in master/slave replication (`brokerRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerRole {
    /// `ASYNC_MASTER`: acknowledges sends without waiting for the slave.
    #[default]
    AsyncMaster,
    /// `SYNC_MASTER`: acknowledges a send once a slave has it.
    SyncMaster,
    /// `SLAVE`: replicates a master; serves reads only.
    Slave,
}

impl BrokerRole {
    /// The key's spelling in RocketMQ's files.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }

    pub fn is_master(self) -> bool {
        self != BrokerRole::Slave
    }
}

impl fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the broker can be told at start-up. Each field names its RocketMQ key; the
/// defaults are RocketMQ 4.9.7's.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    // Identity and network.
    /// `brokerClusterName`.
    pub broker_cluster_name: String,
    /// `brokerName`: a master and its slaves share it. Default: the host name.
    pub broker_name: String,
    /// `brokerId`: 0 for a master (forced), > 0 for a slave.
    pub broker_id: i64,
    /// `brokerRole`.
    pub broker_role: BrokerRole,
    /// `namesrvAddr`: `host:port;host:port`; `None` runs without registering.
    pub namesrv_addr: Option<String>,
    /// `brokerIP1`: registered with the name servers, written into every record's store host and
    /// offset message id. Default: this host's outbound IPv4 address, else 127.0.0.1.
    pub broker_ip1: IpAddr,
    /// `brokerIP2`: the HA address registered for slaves to connect to. Default as `brokerIP1`.
    pub broker_ip2: IpAddr,
    /// `listenPort`: clients connect here; `listenPort - 2` is the "VIP" port and
    /// `listenPort + 1` the HA port, so all three must be ports.
    pub listen_port: u16,
    /// `brokerPermission`: PERM_READ (4) | PERM_WRITE (2) | PERM_INHERIT (1).
    pub broker_permission: i32,
    /// `serverChannelMaxIdleTimeSeconds`: connections idle for longer are closed.
    pub server_channel_max_idle_time_seconds: u64,
    /// `regionId`: echoed in send responses (`MSG_REGION`).
    pub region_id: String,
    /// `traceOn`: echoed in send responses (`TRACE_ON`).
    pub trace_on: bool,
    /// `rocketmqHome`: Java's install directory; informational only, never used as a path.
    pub rocketmq_home: Option<PathBuf>,

    // Registration with the name servers.
    /// `registerNameServerPeriod`, clamped to 10 000..=60 000 as Java does.
    pub register_name_server_period_ms: u64,
    /// `registerBrokerTimeoutMills`.
    pub register_broker_timeout_ms: u64,
    /// `compressedRegister`: send REGISTER_BROKER bodies compressed.
    pub compressed_register: bool,
    /// `forceRegister`: register every period even when nothing changed.
    pub force_register: bool,

    // Topics and subscription groups.
    /// `autoCreateTopicEnable`: creates TBW102 so that producers may send to unknown topics.
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup`.
    pub auto_create_subscription_group: bool,
    /// `defaultTopicQueueNums`: TBW102's queue count.
    pub default_topic_queue_nums: i32,
    /// `clusterTopicEnable`: a topic named after the cluster.
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable`: a topic named after the broker.
    pub broker_topic_enable: bool,
    /// `traceTopicEnable`: create the message trace topic.
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName`.
    pub msg_trace_topic_name: String,

    // Consumption.
    /// `longPollingEnable`: park pulls that find nothing until messages arrive.
    pub long_polling_enable: bool,
    /// `shortPollingTimeMills`: how long a pull parks when long polling is off.
    pub short_polling_time_ms: u64,
    /// `notifyConsumerIdsChangedEnable`.
    pub notify_consumer_ids_changed_enable: bool,
    /// `slaveReadEnable`: let consumers be redirected to a slave when they lag.
    pub slave_read_enable: bool,
    /// `accessMessageInMemoryMaxRatio`, percent of memory: lag beyond it counts as "on disk".
    pub access_message_in_memory_max_ratio: u64,
    /// `maxTransferBytesOnMessageInMemory`: per pull response.
    pub max_transfer_bytes_on_message_in_memory: u64,
    /// `maxTransferCountOnMessageInMemory`: per pull response.
    pub max_transfer_count_on_message_in_memory: u32,
    /// `maxTransferBytesOnMessageInDisk`: per pull response.
    pub max_transfer_bytes_on_message_in_disk: u64,
    /// `maxTransferCountOnMessageInDisk`: per pull response.
    pub max_transfer_count_on_message_in_disk: u32,
    /// `defaultQueryMaxNum`: results of a unique-key query.
    pub default_query_max_num: u32,
    /// `offsetCheckInSlave`.
    pub offset_check_in_slave: bool,
    /// `enablePropertyFilter`: allow SQL92 subscriptions.
    pub enable_property_filter: bool,
    /// `flushConsumerOffsetInterval`: how often consumer offsets are persisted.
    pub flush_consumer_offset_interval_ms: u64,
    /// `flushDelayOffsetInterval`: how often the delay-queue offsets are persisted.
    pub flush_delay_offset_interval_ms: u64,

    // Transactions.
    /// `rejectTransactionMessage`.
    pub reject_transaction_message: bool,
    /// `transactionTimeOut`: a half message this old gets its first check.
    pub transaction_timeout_ms: u64,
    /// `transactionCheckMax`: checks before a half message is discarded.
    pub transaction_check_max: u32,
    /// `transactionCheckInterval`.
    pub transaction_check_interval_ms: u64,

    // Replication.
    /// `haMasterAddress`: a slave's fixed master HA address; otherwise learned on registration.
    pub ha_master_address: Option<String>,
    /// `haSendHeartbeatInterval`.
    pub ha_send_heartbeat_interval_ms: u64,
    /// `haHousekeepingInterval`: a silent HA connection is closed after this long.
    pub ha_housekeeping_interval_ms: u64,
    /// `haTransferBatchSize`.
    pub ha_transfer_batch_size_bytes: u64,
    /// `haMaxGapNotInSync`: a slave further behind does not count as in sync.
    pub ha_max_gap_not_in_sync_bytes: u64,
    /// `haSlaveFallbehindMax`: a SYNC_MASTER stops waiting for a slave further behind.
    pub ha_slave_fallbehind_max_bytes: u64,
    /// `slaveTimeout`: how long a SYNC_MASTER waits for its slave.
    pub slave_timeout_ms: u64,

    // Store.
    /// `storePathRootDir`. Default: `~/store`.
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog`; `None` means `<storePathRootDir>/commitlog`.
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog` (also spelt `mapedFileSizeCommitLog`).
    pub mapped_file_size_commit_log_bytes: u64,
    /// `mappedFileSizeConsumeQueue`, rounded up to whole 20-byte units as Java does.
    pub mapped_file_size_consume_queue_bytes: u64,
    /// `flushDiskType`.
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog`.
    pub flush_interval_commit_log_ms: u64,
    /// `flushCommitLogLeastPages`: an asynchronous flush waits for this many dirty pages.
    pub flush_commit_log_least_pages: u64,
    /// `flushCommitLogThoroughInterval`: flush whatever is dirty at least this often.
    pub flush_commit_log_thorough_interval_ms: u64,
    /// `flushIntervalConsumeQueue`.
    pub flush_interval_consume_queue_ms: u64,
    /// `syncFlushTimeout`: a SYNC_FLUSH send fails if not durable within this.
    pub sync_flush_timeout_ms: u64,
    /// `maxMessageSize`: the largest body accepted.
    pub max_message_size_bytes: usize,
    /// `checkCRCOnRecover`.
    pub check_crc_on_recover: bool,
    /// `recoverTruncateCorruptCommitLog` (Bolide's own key): on a bad record followed by good
    /// ones, cut the log there instead of refusing to start.
    pub recover_truncate_corrupt_commit_log: bool,
    /// `messageIndexEnable`: keep the key index (query by key).
    pub message_index_enable: bool,
    /// `maxHashSlotNum`: hash slots per index file.
    pub max_hash_slot_num: u32,
    /// `maxIndexNum`: entries per index file.
    pub max_index_num: u32,
    /// `fileReservedTime`: how long files are kept.
    pub file_reserved_time_hours: u64,
    /// `deleteWhen`: hours of the day (`04`, or `04;16`) at which expired files are removed.
    pub delete_when_hours: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`, percent: above it expired files go at any hour.
    pub disk_max_used_space_ratio: u64,
    /// `diskSpaceCleanForciblyRatio` (a RocketMQ 5 key), percent: above it the oldest files go
    /// even before they expire.
    pub disk_space_clean_forcibly_ratio: u64,
    /// `diskSpaceWarningLevelRatio` (a RocketMQ 5 key), percent: above it writes are refused.
    pub disk_space_warning_level_ratio: u64,
    /// `cleanResourceInterval`: how often retention runs.
    pub clean_resource_interval_ms: u64,
    /// `messageDelayLevel` in milliseconds: level n (1-based) waits element n - 1.
    pub delay_levels_ms: Vec<u64>,
}

/// Why a key, a value or a configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{key} = '{value}' is not {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
    },
    #[error("unknown key '{key}'")]
    UnknownKey { key: String },
    #[error("{key} = '{value}': Bolide does not implement {feature}; set it to false")]
    Unsupported {
        key: String,
        value: String,
        feature: &'static str,
    },
    /// Keys that are each valid but do not fit together.
    #[error("{0}")]
    Inconsistent(String),
    #[error(
        "'{key}' cannot be changed on a running broker (keys that can: {})",
        RUNTIME_UPDATABLE_KEYS.join(", ")
    )]
    NotRuntimeUpdatable { key: String },
    /// The file is missing or is not valid properties text.
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{}: {source}", location(path.display(), *line))]
    InFile {
        path: PathBuf,
        /// `None` for a problem between keys rather than on one line.
        line: Option<usize>,
        source: Box<ConfigError>,
    },
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let host = local_host();
        Self {
            broker_cluster_name: "DefaultCluster".to_owned(),
            broker_name: host.name.clone(),
            broker_id: 0,
            broker_role: BrokerRole::AsyncMaster,
            namesrv_addr: None,
            broker_ip1: host.ip,
            broker_ip2: host.ip,
            listen_port: 10911,
            broker_permission: 6,
            server_channel_max_idle_time_seconds: 120,
            region_id: "DefaultRegion".to_owned(),
            trace_on: true,
            // Java reads the same environment variable (or -Drocketmq.home.dir).
            rocketmq_home: std::env::var_os("ROCKETMQ_HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from),
            register_name_server_period_ms: 30_000,
            register_broker_timeout_ms: 6_000,
            compressed_register: false,
            force_register: true,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".to_owned(),
            long_polling_enable: true,
            short_polling_time_ms: 1_000,
            notify_consumer_ids_changed_enable: true,
            slave_read_enable: false,
            access_message_in_memory_max_ratio: 40,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
            max_transfer_bytes_on_message_in_disk: 64 * 1024,
            max_transfer_count_on_message_in_disk: 8,
            default_query_max_num: 32,
            offset_check_in_slave: false,
            enable_property_filter: false,
            flush_consumer_offset_interval_ms: 5_000,
            flush_delay_offset_interval_ms: 10_000,
            reject_transaction_message: false,
            transaction_timeout_ms: 6_000,
            transaction_check_max: 15,
            transaction_check_interval_ms: 60_000,
            ha_master_address: None,
            ha_send_heartbeat_interval_ms: 5_000,
            ha_housekeeping_interval_ms: 20_000,
            ha_transfer_batch_size_bytes: 32 * 1024,
            ha_max_gap_not_in_sync_bytes: 256 * 1024 * 1024,
            ha_slave_fallbehind_max_bytes: 256 * 1024 * 1024,
            slave_timeout_ms: 3_000,
            store_path_root_dir: home_dir().join("store"),
            store_path_commit_log: None,
            mapped_file_size_commit_log_bytes: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue_bytes: 300_000 * CQ_UNIT_SIZE_BYTES,
            flush_disk_type: FlushDiskType::Async,
            flush_interval_commit_log_ms: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval_ms: 10_000,
            flush_interval_consume_queue_ms: 1_000,
            sync_flush_timeout_ms: 5_000,
            max_message_size_bytes: 4 * 1024 * 1024,
            check_crc_on_recover: true,
            recover_truncate_corrupt_commit_log: false,
            message_index_enable: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            file_reserved_time_hours: 72,
            delete_when_hours: vec![4],
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_resource_interval_ms: 10_000,
            delay_levels_ms: DEFAULT_DELAY_LEVELS_MS.to_vec(),
        }
    }
}

impl BrokerConfig {
    /// Reads a properties file over the defaults and checks the result ([`Self::normalize`]).
    /// Warnings (unknown, ignored and repeated keys; adjusted values) go to `tracing`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (config, warnings) = Self::load_with_warnings(path)?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// [`Self::load`], returning the warnings (each naming the file, and the line when there is
    /// one) instead of logging them.
    pub fn load_with_warnings(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let in_file = |line, error| ConfigError::InFile {
            path: path.to_owned(),
            line,
            source: Box::new(error),
        };
        let mut config = Self::default();
        let mut warnings = Vec::new();
        for entry in properties::read_file(path)? {
            warnings.extend(entry.repeat_warning(path.display()));
            let here = location(path.display(), Some(entry.line));
            match config.set(&entry.key, &entry.value) {
                Ok(note) => warnings.extend(note.map(|note| format!("{here}: {note}"))),
                Err(ConfigError::UnknownKey { key }) => {
                    warnings.push(format!("{here}: unknown key '{key}' ignored"));
                }
                Err(error) => return Err(in_file(Some(entry.line), error)),
            }
        }
        let notes = config.normalize().map_err(|error| in_file(None, error))?;
        warnings.extend(
            notes
                .iter()
                .map(|note| format!("{}: {note}", path.display())),
        );
        Ok((config, warnings))
    }

    /// Sets one key from its textual value (trimmed). On error the configuration is unchanged.
    ///
    /// Keys in [`IGNORED_KEYS`] are accepted without effect (with a warning); any other key
    /// Bolide does not know is [`ConfigError::UnknownKey`]. Checks between keys wait for
    /// [`Self::normalize`].
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if let Some(note) = self.set(key, value)? {
            tracing::warn!("{note}");
        }
        Ok(())
    }

    /// Applies an UPDATE_BROKER_CONFIG body (properties text) all or nothing: refused whole if
    /// any key is not in [`RUNTIME_UPDATABLE_KEYS`] or any value is bad. Returns the keys set.
    pub fn apply_runtime_update(
        &mut self,
        properties_text: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let entries = properties::read_text(properties_text, "UPDATE_BROKER_CONFIG body")?;
        if let Some(entry) = entries
            .iter()
            .find(|entry| !RUNTIME_UPDATABLE_KEYS.contains(&entry.key.as_str()))
        {
            return Err(ConfigError::NotRuntimeUpdatable {
                key: entry.key.clone(),
            });
        }
        let mut updated = self.clone();
        let mut keys: Vec<String> = Vec::new();
        for entry in entries {
            updated.set(&entry.key, &entry.value)?;
            if !keys.contains(&entry.key) {
                keys.push(entry.key);
            }
        }
        updated.normalize()?;
        *self = updated;
        Ok(keys)
    }

    /// The checks between keys, run by [`Self::load`] and after runtime updates; call it after
    /// setting keys with [`Self::apply`]. A master's `brokerId` is forced to 0 (as Java does;
    /// returned as a note), a slave's must be above 0, and the files must be able to hold what
    /// the limits allow.
    pub fn normalize(&mut self) -> Result<Vec<String>, ConfigError> {
        let mut notes = Vec::new();
        if self.broker_role.is_master() && self.broker_id != 0 {
            notes.push(format!(
                "brokerId {} forced to 0: brokerRole {} is a master",
                self.broker_id, self.broker_role
            ));
            self.broker_id = 0;
        }
        if !self.broker_role.is_master() && self.broker_id <= 0 {
            return Err(ConfigError::Inconsistent(format!(
                "brokerRole = SLAVE needs brokerId > 0, not {}",
                self.broker_id
            )));
        }
        let needed = self.max_message_size_bytes as u64 + MAX_RECORD_OVERHEAD_BYTES;
        if self.mapped_file_size_commit_log_bytes < needed {
            return Err(ConfigError::Inconsistent(format!(
                "mappedFileSizeCommitLog = {} cannot hold the largest message: maxMessageSize {} \
                 plus {MAX_RECORD_OVERHEAD_BYTES} bytes of headers needs {needed}",
                self.mapped_file_size_commit_log_bytes, self.max_message_size_bytes
            )));
        }
        let index_file_bytes =
            40 + u64::from(self.max_hash_slot_num) * 4 + u64::from(self.max_index_num) * 20;
        if index_file_bytes > MAX_FILE_BYTES {
            return Err(ConfigError::Inconsistent(format!(
                "maxHashSlotNum = {} and maxIndexNum = {} make index files of {index_file_bytes} \
                 bytes, more than {MAX_FILE_BYTES}",
                self.max_hash_slot_num, self.max_index_num
            )));
        }
        Ok(notes)
    }

    /// Sets one key; `Some` is a note for the operator (an ignored key, a clamped value).
    fn set(&mut self, key: &str, value: &str) -> Result<Option<String>, ConfigError> {
        let value = value.trim();
        let bad = |expected: String| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        };
        match key {
            "brokerClusterName" => self.broker_cluster_name = name(value).map_err(bad)?,
            "brokerName" => self.broker_name = name(value).map_err(bad)?,
            "brokerId" => self.broker_id = number(value, 0..=i64::MAX as u64, None).map_err(bad)?,
            "brokerRole" => self.broker_role = role(value).map_err(bad)?,
            "namesrvAddr" => self.namesrv_addr = namesrv_list(value).map_err(bad)?,
            "brokerIP1" => self.broker_ip1 = ip(value).map_err(bad)?,
            "brokerIP2" => self.broker_ip2 = ip(value).map_err(bad)?,
            "listenPort" => self.listen_port = listen_port(value).map_err(bad)?,
            "brokerPermission" => {
                self.broker_permission = number(value, 0..=7, None).map_err(bad)?
            }
            "serverChannelMaxIdleTimeSeconds" => {
                self.server_channel_max_idle_time_seconds =
                    number(value, 1..=86_400, Some("seconds")).map_err(bad)?;
            }
            "regionId" => self.region_id = name(value).map_err(bad)?,
            "traceOn" => self.trace_on = boolean(value).map_err(bad)?,
            "rocketmqHome" => self.rocketmq_home = (!value.is_empty()).then(|| expand_home(value)),
            "registerNameServerPeriod" => {
                let period_ms = millis(value).map_err(bad)?;
                self.register_name_server_period_ms =
                    period_ms.clamp(*REGISTER_PERIOD_MS.start(), *REGISTER_PERIOD_MS.end());
                if self.register_name_server_period_ms != period_ms {
                    return Ok(Some(format!(
                        "registerNameServerPeriod {period_ms} clamped to {} (10000 to 60000)",
                        self.register_name_server_period_ms
                    )));
                }
            }
            "registerBrokerTimeoutMills" => {
                self.register_broker_timeout_ms = millis(value).map_err(bad)?;
            }
            "compressedRegister" => self.compressed_register = boolean(value).map_err(bad)?,
            "forceRegister" => self.force_register = boolean(value).map_err(bad)?,
            "autoCreateTopicEnable" => {
                self.auto_create_topic_enable = boolean(value).map_err(bad)?
            }
            "autoCreateSubscriptionGroup" => {
                self.auto_create_subscription_group = boolean(value).map_err(bad)?;
            }
            "defaultTopicQueueNums" => {
                self.default_topic_queue_nums =
                    number(value, 1..=MAX_QUEUE_NUMS, None).map_err(bad)?;
            }
            "clusterTopicEnable" => self.cluster_topic_enable = boolean(value).map_err(bad)?,
            "brokerTopicEnable" => self.broker_topic_enable = boolean(value).map_err(bad)?,
            "traceTopicEnable" => self.trace_topic_enable = boolean(value).map_err(bad)?,
            "msgTraceTopicName" => self.msg_trace_topic_name = topic(value).map_err(bad)?,
            "longPollingEnable" => self.long_polling_enable = boolean(value).map_err(bad)?,
            "shortPollingTimeMills" => self.short_polling_time_ms = millis(value).map_err(bad)?,
            "notifyConsumerIdsChangedEnable" => {
                self.notify_consumer_ids_changed_enable = boolean(value).map_err(bad)?;
            }
            "slaveReadEnable" => self.slave_read_enable = boolean(value).map_err(bad)?,
            "accessMessageInMemoryMaxRatio" => {
                self.access_message_in_memory_max_ratio = percent(value, 1..=100).map_err(bad)?;
            }
            "maxTransferBytesOnMessageInMemory" => {
                self.max_transfer_bytes_on_message_in_memory =
                    transfer_bytes(value).map_err(bad)?;
            }
            "maxTransferCountOnMessageInMemory" => {
                self.max_transfer_count_on_message_in_memory =
                    transfer_count(value).map_err(bad)?;
            }
            "maxTransferBytesOnMessageInDisk" => {
                self.max_transfer_bytes_on_message_in_disk = transfer_bytes(value).map_err(bad)?;
            }
            "maxTransferCountOnMessageInDisk" => {
                self.max_transfer_count_on_message_in_disk = transfer_count(value).map_err(bad)?;
            }
            "defaultQueryMaxNum" => {
                self.default_query_max_num = number(value, 1..=1024, None).map_err(bad)?;
            }
            "offsetCheckInSlave" => self.offset_check_in_slave = boolean(value).map_err(bad)?,
            "enablePropertyFilter" => self.enable_property_filter = boolean(value).map_err(bad)?,
            "flushConsumerOffsetInterval" => {
                self.flush_consumer_offset_interval_ms = millis(value).map_err(bad)?;
            }
            "flushDelayOffsetInterval" => {
                self.flush_delay_offset_interval_ms = millis(value).map_err(bad)?;
            }
            "rejectTransactionMessage" => {
                self.reject_transaction_message = boolean(value).map_err(bad)?;
            }
            "transactionTimeOut" => self.transaction_timeout_ms = millis(value).map_err(bad)?,
            "transactionCheckMax" => {
                self.transaction_check_max = number(value, 1..=10_000, None).map_err(bad)?;
            }
            "transactionCheckInterval" => {
                self.transaction_check_interval_ms = millis(value).map_err(bad)?;
            }
            "haMasterAddress" => self.ha_master_address = ha_master(value).map_err(bad)?,
            "haSendHeartbeatInterval" => {
                self.ha_send_heartbeat_interval_ms = millis(value).map_err(bad)?;
            }
            "haHousekeepingInterval" => {
                self.ha_housekeeping_interval_ms = millis(value).map_err(bad)?;
            }
            "haTransferBatchSize" => {
                self.ha_transfer_batch_size_bytes =
                    number(value, 1..=MAX_FRAME_BYTES as u64, Some("bytes")).map_err(bad)?;
            }
            "haMaxGapNotInSync" => {
                self.ha_max_gap_not_in_sync_bytes = ha_gap(value).map_err(bad)?
            }
            "haSlaveFallbehindMax" => {
                self.ha_slave_fallbehind_max_bytes = ha_gap(value).map_err(bad)?;
            }
            "slaveTimeout" => self.slave_timeout_ms = millis(value).map_err(bad)?,
            "storePathRootDir" => self.store_path_root_dir = path(value).map_err(bad)?,
            "storePathCommitLog" => self.store_path_commit_log = Some(path(value).map_err(bad)?),
            // `mapedFileSizeCommitLog` is the spelling of RocketMQ up to 4.5.1.
            "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog" => {
                self.mapped_file_size_commit_log_bytes = file_bytes(value).map_err(bad)?;
            }
            "mappedFileSizeConsumeQueue" => {
                self.mapped_file_size_consume_queue_bytes =
                    file_bytes(value).map_err(bad)?.div_ceil(CQ_UNIT_SIZE_BYTES)
                        * CQ_UNIT_SIZE_BYTES;
            }
            "flushDiskType" => self.flush_disk_type = flush_type(value).map_err(bad)?,
            "flushIntervalCommitLog" => {
                self.flush_interval_commit_log_ms = millis(value).map_err(bad)?
            }
            "flushCommitLogLeastPages" => {
                self.flush_commit_log_least_pages =
                    number(value, 0..=1 << 20, Some("pages")).map_err(bad)?;
            }
            "flushCommitLogThoroughInterval" => {
                self.flush_commit_log_thorough_interval_ms = millis(value).map_err(bad)?;
            }
            "flushIntervalConsumeQueue" => {
                self.flush_interval_consume_queue_ms = millis(value).map_err(bad)?;
            }
            "syncFlushTimeout" => self.sync_flush_timeout_ms = millis(value).map_err(bad)?,
            // A message must fit in a remoting frame on its way in.
            "maxMessageSize" => {
                self.max_message_size_bytes =
                    number(value, 1..=MAX_FRAME_BYTES as u64, Some("bytes")).map_err(bad)?;
            }
            "checkCRCOnRecover" => self.check_crc_on_recover = boolean(value).map_err(bad)?,
            "recoverTruncateCorruptCommitLog" => {
                self.recover_truncate_corrupt_commit_log = boolean(value).map_err(bad)?;
            }
            "messageIndexEnable" => self.message_index_enable = boolean(value).map_err(bad)?,
            "maxHashSlotNum" => {
                self.max_hash_slot_num = number(value, 1..=MAX_FILE_BYTES, None).map_err(bad)?;
            }
            // Entry 0 of an index file is never used, so a file needs room for two.
            "maxIndexNum" => {
                self.max_index_num = number(value, 2..=MAX_FILE_BYTES, None).map_err(bad)?
            }
            "fileReservedTime" => {
                self.file_reserved_time_hours =
                    number(value, 1..=876_000, Some("hours")).map_err(bad)?;
            }
            "deleteWhen" => self.delete_when_hours = delete_when(value).map_err(bad)?,
            // Java clamps diskMaxUsedSpaceRatio into 10..=95 where it reads it.
            "diskMaxUsedSpaceRatio" => {
                self.disk_max_used_space_ratio = percent(value, 10..=95).map_err(bad)?;
            }
            "diskSpaceCleanForciblyRatio" => {
                self.disk_space_clean_forcibly_ratio = percent(value, 10..=95).map_err(bad)?;
            }
            "diskSpaceWarningLevelRatio" => {
                self.disk_space_warning_level_ratio = percent(value, 10..=95).map_err(bad)?;
            }
            "cleanResourceInterval" => {
                self.clean_resource_interval_ms = millis(value).map_err(bad)?
            }
            "messageDelayLevel" => self.delay_levels_ms = delay_levels(value).map_err(bad)?,
            _ => return Self::set_other(key, value),
        }
        Ok(None)
    }

    /// Keys with no field: unsupported features, ignored Java tuning, and unknown keys.
    fn set_other(key: &str, value: &str) -> Result<Option<String>, ConfigError> {
        if let Some((_, feature)) = UNSUPPORTED_FEATURES.iter().find(|(name, _)| *name == key) {
            return match properties::parse_bool(value) {
                Some(false) => Ok(None),
                _ => Err(ConfigError::Unsupported {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    feature,
                }),
            };
        }
        if IGNORED_KEYS.contains(&key) {
            return Ok(Some(format!(
                "{key} is a RocketMQ key that Bolide accepts and ignores"
            )));
        }
        Err(ConfigError::UnknownKey {
            key: key.to_owned(),
        })
    }

    /// Every key with its RocketMQ name, one `key=value` line each, sorted by key and escaped
    /// so that [`Self::load`] (and Java's `Properties.load`) reads them back. Unset optional
    /// keys are left out, as Java leaves out null values.
    pub fn to_properties(&self) -> String {
        properties::format_sorted(self.entries())
    }

    /// [`Self::to_properties`] restricted to [`IMPORTANT_KEYS`]: `mqbroker -m`.
    pub fn important_properties(&self) -> String {
        let mut entries = self.entries();
        entries.retain(|(key, _)| IMPORTANT_KEYS.contains(key));
        properties::format_sorted(entries)
    }

    fn entries(&self) -> Vec<(&'static str, String)> {
        let text = |path: &Path| path.to_string_lossy().into_owned();
        let mut entries = vec![
            entry("brokerClusterName", &self.broker_cluster_name),
            entry("brokerName", &self.broker_name),
            entry("brokerId", self.broker_id),
            entry("brokerRole", self.broker_role),
            entry("brokerIP1", self.broker_ip1),
            entry("brokerIP2", self.broker_ip2),
            entry("listenPort", self.listen_port),
            entry("brokerPermission", self.broker_permission),
            entry(
                "serverChannelMaxIdleTimeSeconds",
                self.server_channel_max_idle_time_seconds,
            ),
            entry("regionId", &self.region_id),
            entry("traceOn", self.trace_on),
            entry(
                "registerNameServerPeriod",
                self.register_name_server_period_ms,
            ),
            entry(
                "registerBrokerTimeoutMills",
                self.register_broker_timeout_ms,
            ),
            entry("compressedRegister", self.compressed_register),
            entry("forceRegister", self.force_register),
            entry("autoCreateTopicEnable", self.auto_create_topic_enable),
            entry(
                "autoCreateSubscriptionGroup",
                self.auto_create_subscription_group,
            ),
            entry("defaultTopicQueueNums", self.default_topic_queue_nums),
            entry("clusterTopicEnable", self.cluster_topic_enable),
            entry("brokerTopicEnable", self.broker_topic_enable),
            entry("traceTopicEnable", self.trace_topic_enable),
            entry("msgTraceTopicName", &self.msg_trace_topic_name),
            entry("longPollingEnable", self.long_polling_enable),
            entry("shortPollingTimeMills", self.short_polling_time_ms),
            entry(
                "notifyConsumerIdsChangedEnable",
                self.notify_consumer_ids_changed_enable,
            ),
            entry("slaveReadEnable", self.slave_read_enable),
            entry(
                "accessMessageInMemoryMaxRatio",
                self.access_message_in_memory_max_ratio,
            ),
            entry(
                "maxTransferBytesOnMessageInMemory",
                self.max_transfer_bytes_on_message_in_memory,
            ),
            entry(
                "maxTransferCountOnMessageInMemory",
                self.max_transfer_count_on_message_in_memory,
            ),
            entry(
                "maxTransferBytesOnMessageInDisk",
                self.max_transfer_bytes_on_message_in_disk,
            ),
            entry(
                "maxTransferCountOnMessageInDisk",
                self.max_transfer_count_on_message_in_disk,
            ),
            entry("defaultQueryMaxNum", self.default_query_max_num),
            entry("offsetCheckInSlave", self.offset_check_in_slave),
            entry("enablePropertyFilter", self.enable_property_filter),
            entry(
                "flushConsumerOffsetInterval",
                self.flush_consumer_offset_interval_ms,
            ),
            entry(
                "flushDelayOffsetInterval",
                self.flush_delay_offset_interval_ms,
            ),
            entry("rejectTransactionMessage", self.reject_transaction_message),
            entry("transactionTimeOut", self.transaction_timeout_ms),
            entry("transactionCheckMax", self.transaction_check_max),
            entry(
                "transactionCheckInterval",
                self.transaction_check_interval_ms,
            ),
            entry(
                "haSendHeartbeatInterval",
                self.ha_send_heartbeat_interval_ms,
            ),
            entry("haHousekeepingInterval", self.ha_housekeeping_interval_ms),
            entry("haTransferBatchSize", self.ha_transfer_batch_size_bytes),
            entry("haMaxGapNotInSync", self.ha_max_gap_not_in_sync_bytes),
            entry("haSlaveFallbehindMax", self.ha_slave_fallbehind_max_bytes),
            entry("slaveTimeout", self.slave_timeout_ms),
            entry("storePathRootDir", text(&self.store_path_root_dir)),
            entry("storePathCommitLog", text(&self.commit_log_dir())),
            entry(
                "mappedFileSizeCommitLog",
                self.mapped_file_size_commit_log_bytes,
            ),
            entry(
                "mappedFileSizeConsumeQueue",
                self.mapped_file_size_consume_queue_bytes,
            ),
            entry("flushDiskType", flush_type_name(self.flush_disk_type)),
            entry("flushIntervalCommitLog", self.flush_interval_commit_log_ms),
            entry(
                "flushCommitLogLeastPages",
                self.flush_commit_log_least_pages,
            ),
            entry(
                "flushCommitLogThoroughInterval",
                self.flush_commit_log_thorough_interval_ms,
            ),
            entry(
                "flushIntervalConsumeQueue",
                self.flush_interval_consume_queue_ms,
            ),
            entry("syncFlushTimeout", self.sync_flush_timeout_ms),
            entry("maxMessageSize", self.max_message_size_bytes),
            entry("checkCRCOnRecover", self.check_crc_on_recover),
            entry(
                "recoverTruncateCorruptCommitLog",
                self.recover_truncate_corrupt_commit_log,
            ),
            entry("messageIndexEnable", self.message_index_enable),
            entry("maxHashSlotNum", self.max_hash_slot_num),
            entry("maxIndexNum", self.max_index_num),
            entry("fileReservedTime", self.file_reserved_time_hours),
            entry("deleteWhen", format_delete_when(&self.delete_when_hours)),
            entry("diskMaxUsedSpaceRatio", self.disk_max_used_space_ratio),
            entry(
                "diskSpaceCleanForciblyRatio",
                self.disk_space_clean_forcibly_ratio,
            ),
            entry(
                "diskSpaceWarningLevelRatio",
                self.disk_space_warning_level_ratio,
            ),
            entry("cleanResourceInterval", self.clean_resource_interval_ms),
            entry(
                "messageDelayLevel",
                format_delay_levels(&self.delay_levels_ms),
            ),
        ];
        let optional = [
            ("namesrvAddr", self.namesrv_addr.clone()),
            ("haMasterAddress", self.ha_master_address.clone()),
            ("rocketmqHome", self.rocketmq_home.as_deref().map(text)),
        ];
        entries.extend(
            optional
                .into_iter()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        );
        entries
    }

    /// The store's share of the configuration.
    pub fn store_config(&self) -> StoreConfig {
        // Every field spelled out: a field added to StoreConfig must be mapped here, not
        // silently left at its default.
        StoreConfig {
            root_dir: self.store_path_root_dir.clone(),
            commit_log_dir: self.store_path_commit_log.clone(),
            commit_log_file_size_bytes: self.mapped_file_size_commit_log_bytes,
            consume_queue_units_per_file: self.mapped_file_size_consume_queue_bytes
                / CQ_UNIT_SIZE_BYTES,
            flush_disk_type: self.flush_disk_type,
            flush_interval_commit_log_ms: self.flush_interval_commit_log_ms,
            flush_commit_log_least_pages: self.flush_commit_log_least_pages,
            flush_commit_log_thorough_interval_ms: self.flush_commit_log_thorough_interval_ms,
            flush_interval_consume_queue_ms: self.flush_interval_consume_queue_ms,
            sync_flush_timeout_ms: self.sync_flush_timeout_ms,
            max_message_size_bytes: self.max_message_size_bytes,
            check_crc_on_recover: self.check_crc_on_recover,
            truncate_corrupt_commit_log: self.recover_truncate_corrupt_commit_log,
            message_index_enable: self.message_index_enable,
            max_hash_slot_num: self.max_hash_slot_num,
            max_index_num: self.max_index_num,
            file_reserved_time_hours: self.file_reserved_time_hours,
            delete_when_hours: self.delete_when_hours.clone(),
            disk_max_used_space_ratio: self.disk_max_used_space_ratio,
            disk_space_clean_forcibly_ratio: self.disk_space_clean_forcibly_ratio,
            disk_space_warning_level_ratio: self.disk_space_warning_level_ratio,
            clean_resource_interval_ms: self.clean_resource_interval_ms,
            store_host: SocketAddr::new(self.broker_ip1, self.listen_port),
            delay_levels_ms: self.delay_levels_ms.clone(),
        }
    }

    /// `storePathCommitLog`, or its default `<storePathRootDir>/commitlog`.
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }

    /// The name servers to register with, in order; empty when `namesrvAddr` is unset.
    pub fn namesrv_addrs(&self) -> Vec<String> {
        self.namesrv_addr
            .as_deref()
            .map(parse_namesrv_addrs)
            .unwrap_or_default()
    }

    /// `brokerIP1:listenPort`: the address registered for clients.
    pub fn broker_addr(&self) -> String {
        SocketAddr::new(self.broker_ip1, self.listen_port).to_string()
    }

    /// `brokerIP2:(listenPort + 1)`: the HA address registered for slaves.
    pub fn ha_addr(&self) -> String {
        SocketAddr::new(self.broker_ip2, self.ha_listen_port()).to_string()
    }

    /// `listenPort + 1`, where the master accepts slaves. [`Self::apply`] keeps `listenPort`
    /// below 65535; a port set directly to 65535 saturates rather than wrapping.
    pub fn ha_listen_port(&self) -> u16 {
        self.listen_port.saturating_add(1)
    }

    /// `listenPort - 2`, RocketMQ's "VIP channel" port that clients may use for sends.
    pub fn fast_listen_port(&self) -> u16 {
        self.listen_port.saturating_sub(2)
    }

    pub fn is_master(&self) -> bool {
        self.broker_role.is_master()
    }

    /// The delay of each level in milliseconds, level 1 first (18 levels by default).
    pub fn delay_levels_ms(&self) -> &[u64] {
        &self.delay_levels_ms
    }
}

/// One `key=value` pair of [`BrokerConfig::to_properties`].
fn entry(key: &'static str, value: impl ToString) -> (&'static str, String) {
    (key, value.to_string())
}

// Value parsers: each returns what it expected on failure, and the caller adds key and value.

fn boolean(value: &str) -> Result<bool, String> {
    properties::parse_bool(value).ok_or_else(|| "true or false".to_owned())
}

/// An integer in `range`, converted to the field's type (every range fits it).
fn number<T: TryFrom<u64>>(
    value: &str,
    range: RangeInclusive<u64>,
    unit: Option<&str>,
) -> Result<T, String> {
    let expected = || match unit {
        Some(unit) => format!(
            "a number of {unit} from {} to {}",
            range.start(),
            range.end()
        ),
        None => format!("a number from {} to {}", range.start(), range.end()),
    };
    let number: u64 = value.parse().map_err(|_| expected())?;
    if !range.contains(&number) {
        return Err(expected());
    }
    T::try_from(number).map_err(|_| expected())
}

/// Intervals and timeouts: from 1 ms to a day.
fn millis(value: &str) -> Result<u64, String> {
    number(value, 1..=DAY_MS, Some("milliseconds"))
}

fn percent(value: &str, range: RangeInclusive<u64>) -> Result<u64, String> {
    number(value, range, Some("percent"))
}

fn file_bytes(value: &str) -> Result<u64, String> {
    number(value, 1..=MAX_FILE_BYTES, Some("bytes"))
}

/// A pull response must fit in one remoting frame.
fn transfer_bytes(value: &str) -> Result<u64, String> {
    number(value, 1..=MAX_FRAME_BYTES as u64, Some("bytes"))
}

fn transfer_count(value: &str) -> Result<u32, String> {
    number(value, 1..=MAX_TRANSFER_COUNT, None)
}

fn ha_gap(value: &str) -> Result<u64, String> {
    number(value, 1..=MAX_HA_GAP_BYTES, Some("bytes"))
}

fn listen_port(value: &str) -> Result<u16, String> {
    number(value, 3..=65_534, None).map_err(|_| {
        "a port from 3 to 65534 (listenPort - 2 and listenPort + 1 are ports too)".to_owned()
    })
}

/// A cluster, broker or region name: printable and short, since names become topics and
/// JSON keys.
fn name(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.chars().count() <= MAX_NAME_CHARS
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "a name of 1 to {MAX_NAME_CHARS} characters without spaces"
        ))
    }
}

/// A topic name as RocketMQ's clients validate it (protocol.md §8.3).
fn topic(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_NAME_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "a topic name of 1 to {MAX_NAME_CHARS} characters from a-z A-Z 0-9 % | _ -"
        ))
    }
}

fn role(value: &str) -> Result<BrokerRole, String> {
    match value {
        "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
        "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
        "SLAVE" => Ok(BrokerRole::Slave),
        _ => Err("ASYNC_MASTER, SYNC_MASTER or SLAVE".to_owned()),
    }
}

fn flush_type(value: &str) -> Result<FlushDiskType, String> {
    match value {
        "ASYNC_FLUSH" => Ok(FlushDiskType::Async),
        "SYNC_FLUSH" => Ok(FlushDiskType::Sync),
        _ => Err("ASYNC_FLUSH or SYNC_FLUSH".to_owned()),
    }
}

fn flush_type_name(flush_disk_type: FlushDiskType) -> &'static str {
    match flush_disk_type {
        FlushDiskType::Async => "ASYNC_FLUSH",
        FlushDiskType::Sync => "SYNC_FLUSH",
    }
}

fn ip(value: &str) -> Result<IpAddr, String> {
    value
        .parse()
        .map_err(|_| "an IP address such as 192.168.0.10".to_owned())
}

fn path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("a path".to_owned());
    }
    Ok(expand_home(value))
}

/// `host:port`, as Java's `RemotingUtil.string2SocketAddress` splits it (at the last colon).
fn is_host_port(addr: &str) -> bool {
    addr.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && !host.chars().any(char::is_whitespace)
            && port.parse::<u16>().is_ok_and(|port| port != 0)
    })
}

/// `host:port;host:port`; an empty value unsets it. Java refuses to start on a malformed list,
/// and so do we.
fn namesrv_list(value: &str) -> Result<Option<String>, String> {
    let addrs = parse_namesrv_addrs(value);
    if addrs.is_empty() {
        return Ok(None);
    }
    if addrs.iter().all(|addr| is_host_port(addr)) {
        Ok(Some(addrs.join(";")))
    } else {
        Err(
            "a list of host:port separated by ';', such as 127.0.0.1:9876;127.0.0.1:9877"
                .to_owned(),
        )
    }
}

fn ha_master(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    if is_host_port(value) {
        Ok(Some(value.to_owned()))
    } else {
        Err("host:port".to_owned())
    }
}

/// `04`, or several hours separated by `;` (`04;16`). Java compares each with the two-digit
/// hour, so it needs the leading zero; we accept `4` as well.
fn delete_when(value: &str) -> Result<Vec<u8>, String> {
    let expected = || "hours of the day from 00 to 23 separated by ';', such as 04".to_owned();
    let hours = value
        .split(';')
        .map(str::trim)
        .filter(|hour| !hour.is_empty())
        .map(|hour| match hour.parse::<u8>() {
            Ok(hour) if hour <= 23 => Ok(hour),
            _ => Err(expected()),
        })
        .collect::<Result<Vec<u8>, String>>()?;
    if hours.is_empty() {
        return Err(expected());
    }
    Ok(hours)
}

fn format_delete_when(hours: &[u8]) -> String {
    let hours: Vec<String> = hours.iter().map(|hour| format!("{hour:02}")).collect();
    hours.join(";")
}

const DELAY_UNITS_MS: [(char, u64); 4] =
    [('d', DAY_MS), ('h', 3_600_000), ('m', 60_000), ('s', 1_000)];

/// `1s 5s 10s 30s 1m ... 2h`: whole numbers with a unit of s, m, h or d, as Java's
/// `ScheduleMessageService.parseDelayLevel` reads them.
fn delay_levels(value: &str) -> Result<Vec<u64>, String> {
    let levels = value
        .split_whitespace()
        .map(|token| {
            delay_level_ms(token).ok_or_else(|| {
                format!(
                    "a space-separated list of delays such as 1s 5m 2h 1d, each at most 365d \
                     (bad token '{token}')"
                )
            })
        })
        .collect::<Result<Vec<u64>, String>>()?;
    if levels.is_empty() || levels.len() > MAX_DELAY_LEVELS {
        return Err(format!(
            "a space-separated list of 1 to {MAX_DELAY_LEVELS} delays such as 1s 5m 2h 1d"
        ));
    }
    Ok(levels)
}

fn delay_level_ms(token: &str) -> Option<u64> {
    let unit = token.chars().last()?;
    let (_, unit_ms) = DELAY_UNITS_MS.iter().find(|(name, _)| *name == unit)?;
    let count: u64 = token[..token.len() - unit.len_utf8()].parse().ok()?;
    let delay_ms = count.checked_mul(*unit_ms)?;
    (1..=MAX_DELAY_MS).contains(&delay_ms).then_some(delay_ms)
}

/// Each delay in the largest unit that divides it, so the defaults print as Java writes them.
fn format_delay_levels(levels_ms: &[u64]) -> String {
    let tokens: Vec<String> = levels_ms
        .iter()
        .map(|&delay_ms| {
            let (unit, unit_ms) = DELAY_UNITS_MS
                .iter()
                .find(|(_, unit_ms)| delay_ms % unit_ms == 0)
                .copied()
                // Parsed levels are whole seconds; a level set directly in milliseconds is
                // rounded up to one.
                .unwrap_or(('s', 1_000));
            format!("{}{unit}", delay_ms.div_ceil(unit_ms))
        })
        .collect();
    tokens.join(" ")
}

/// The host's name and address, found once per process.
#[derive(Debug)]
struct LocalHost {
    name: String,
    ip: IpAddr,
}

fn local_host() -> &'static LocalHost {
    static HOST: OnceLock<LocalHost> = OnceLock::new();
    HOST.get_or_init(|| LocalHost {
        name: local_host_name(),
        ip: local_ipv4().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4),
    })
}

/// The kernel's host name; Java falls back to `DEFAULT_BROKER` when it cannot find one.
fn local_host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .map(|text| text.trim().to_owned())
        .find(|name| self::name(name).is_ok())
        .unwrap_or_else(|| "DEFAULT_BROKER".to_owned())
}

/// The non-loopback IPv4 address this host would send from: "connecting" a UDP socket only asks
/// the kernel for a route, no packet leaves. The default route first (a documentation address
/// stands for "anywhere"), then each private range for hosts with only a LAN.
fn local_ipv4() -> Option<Ipv4Addr> {
    const PROBES: [Ipv4Addr; 4] = [
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(10, 255, 255, 254),
        Ipv4Addr::new(172, 31, 255, 254),
        Ipv4Addr::new(192, 168, 255, 254),
    ];
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    PROBES.iter().find_map(|probe| {
        socket.connect((*probe, 9)).ok()?;
        match socket.local_addr().ok()?.ip() {
            IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
            _ => None,
        }
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

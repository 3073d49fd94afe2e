//! The store's settings, with RocketMQ's defaults (protocol.md §9.2). The broker maps
//! RocketMQ's config keys (`mappedFileSizeCommitLog`, `flushDiskType`, ...) onto these fields.

use std::net::SocketAddr;
use std::path::PathBuf;

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushDiskType {
    /// Acknowledge once written to the page cache; flush in the background.
    #[default]
    Async,
    /// Acknowledge only when durable (group commit).
    Sync,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir`.
    pub root_dir: PathBuf,
    /// `storePathCommitLog`; `<root>/commitlog` by default.
    pub commit_log_dir: Option<PathBuf>,
    /// `mappedFileSizeCommitLog`.
    pub commit_log_file_size_bytes: u64,
    /// `mappedFileSizeConsumeQueue` / 20.
    pub consume_queue_units_per_file: u64,
    /// `flushDiskType`.
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog`.
    pub flush_interval_commit_log_ms: u64,
    /// `flushCommitLogLeastPages`.
    pub flush_commit_log_least_pages: u64,
    /// `flushCommitLogThoroughInterval`.
    pub flush_commit_log_thorough_interval_ms: u64,
    /// `flushIntervalConsumeQueue`.
    pub flush_interval_consume_queue_ms: u64,
    /// `syncFlushTimeout`.
    pub sync_flush_timeout_ms: u64,
    /// `maxMessageSize`: the largest body accepted.
    pub max_message_size_bytes: usize,
    /// `checkCRCOnRecover`.
    pub check_crc_on_recover: bool,
    /// `recoverTruncateCorruptCommitLog` (Bolide): when recovery meets a bad record followed
    /// by good ones, cut the log there (losing the later records) instead of refusing to start.
    pub truncate_corrupt_commit_log: bool,
    /// `messageIndexEnable`.
    pub message_index_enable: bool,
    /// `maxHashSlotNum`.
    pub max_hash_slot_num: u32,
    /// `maxIndexNum`.
    pub max_index_num: u32,
    /// `fileReservedTime`, hours.
    pub file_reserved_time_hours: u64,
    /// `deleteWhen`: hours of the day (0-23) at which expired files are removed.
    pub delete_when_hours: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`, percent: above it expired files go at any hour.
    pub disk_max_used_space_ratio: u64,
    /// Above this disk usage the oldest files go even if not expired.
    pub disk_space_clean_forcibly_ratio: u64,
    /// Above this disk usage writes are refused.
    pub disk_space_warning_level_ratio: u64,
    /// `cleanResourceInterval`: how often retention runs.
    pub clean_resource_interval_ms: u64,
    /// `brokerIP1:listenPort`, written into every record and every offset message id.
    pub store_host: SocketAddr,
    /// `messageDelayLevel` in milliseconds: level n (1-based) waits element n - 1.
    pub delay_levels_ms: Vec<u64>,
}

/// RocketMQ's default `messageDelayLevel`: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m
/// 1h 2h".
pub const DEFAULT_DELAY_LEVELS_MS: [u64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            root_dir: PathBuf::from("store"),
            commit_log_dir: None,
            commit_log_file_size_bytes: 1024 * 1024 * 1024,
            consume_queue_units_per_file: 300_000,
            flush_disk_type: FlushDiskType::Async,
            flush_interval_commit_log_ms: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval_ms: 10_000,
            flush_interval_consume_queue_ms: 1000,
            sync_flush_timeout_ms: 5000,
            max_message_size_bytes: 4 * 1024 * 1024,
            check_crc_on_recover: true,
            truncate_corrupt_commit_log: false,
            message_index_enable: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            file_reserved_time_hours: 72,
            delete_when_hours: vec![4],
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_resource_interval_ms: 10_000,
            store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
            delay_levels_ms: DEFAULT_DELAY_LEVELS_MS.to_vec(),
        }
    }
}

impl StoreConfig {
    pub fn commit_log_dir(&self) -> PathBuf {
        self.commit_log_dir
            .clone()
            .unwrap_or_else(|| self.root_dir.join("commitlog"))
    }
}

impl StoreConfig {
    pub fn retention_policy(&self) -> super::cleanup::RetentionPolicy {
        super::cleanup::RetentionPolicy {
            reserved_ms: self.file_reserved_time_hours.saturating_mul(3_600_000),
            delete_when_hours: self.delete_when_hours.clone(),
            max_used_percent: self.disk_max_used_space_ratio,
            clean_forcibly_percent: self.disk_space_clean_forcibly_ratio,
            refuse_writes_percent: self.disk_space_warning_level_ratio,
        }
    }
}

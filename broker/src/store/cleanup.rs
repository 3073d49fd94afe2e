//! Retention: which CommitLog files to delete, and when writes must stop (protocol.md §6.2).
//!
//! Expired files (older than `fileReservedTime`) go at the `deleteWhen` hours, or at any hour
//! once the disk is fuller than `diskMaxUsedSpaceRatio`; above the forced-cleaning ratio (85%)
//! the oldest files go even if not expired; above the warning ratio (90%) writes are refused.
//! The file being written is never deleted.
//!
//! A file's age is measured from the store time of the first record after it (the moment it
//! filled up) to [`RetentionClock::now_ms`]: the wall clock read once at start-up plus the
//! monotonic time since. A wall-clock jump while the broker runs therefore cannot make young
//! files look old.

use std::time::Instant;

/// Most files deleted in one pass (Java's `DeleteFileBatchMax`), so a pass never stalls I/O
/// for long.
pub const MAX_FILES_PER_PASS: usize = 10;

#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    pub reserved_ms: u64,
    pub delete_when_hours: Vec<u8>,
    pub max_used_percent: u64,
    pub clean_forcibly_percent: u64,
    pub refuse_writes_percent: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupDecision {
    /// Delete files past `fileReservedTime`.
    pub delete_expired: bool,
    /// Delete the oldest files even if not expired.
    pub forced: bool,
    /// Refuse new writes until usage drops.
    pub refuse_writes: bool,
}

impl RetentionPolicy {
    /// What to do given the disk usage (percent) and the hour of the day (0-23, UTC).
    pub fn decide(&self, used_percent: u64, hour: u8) -> CleanupDecision {
        let forced = used_percent > self.clean_forcibly_percent;
        CleanupDecision {
            delete_expired: forced
                || used_percent > self.max_used_percent
                || self.delete_when_hours.contains(&hour),
            forced,
            refuse_writes: used_percent > self.refuse_writes_percent,
        }
    }

    /// The start offsets of files to delete, oldest first. `files` lists every CommitLog file
    /// oldest first with the time it filled up (`None` for the file being written, which is
    /// always last and never deleted).
    pub fn files_to_delete(
        &self,
        files: &[(u64, Option<i64>)],
        now_ms: i64,
        decision: CleanupDecision,
    ) -> Vec<u64> {
        if !decision.delete_expired {
            return Vec::new();
        }
        let mut chosen = Vec::new();
        for (start, filled_at) in files {
            let Some(filled_at) = filled_at else { break };
            let age_ms = now_ms.saturating_sub(*filled_at);
            let expired = age_ms >= 0 && age_ms as u64 >= self.reserved_ms;
            if !(expired || decision.forced) || chosen.len() >= MAX_FILES_PER_PASS {
                break;
            }
            chosen.push(*start);
            if decision.forced && !expired {
                // Forced cleaning frees one file per pass; the next pass re-reads the usage.
                break;
            }
        }
        chosen
    }
}

/// Wall time that only moves with the monotonic clock: the wall clock read at start-up plus
/// the time elapsed since.
#[derive(Debug, Clone, Copy)]
pub struct RetentionClock {
    started: Instant,
    wall_at_start_ms: i64,
}

impl RetentionClock {
    pub fn new(wall_now_ms: i64) -> Self {
        RetentionClock {
            started: Instant::now(),
            wall_at_start_ms: wall_now_ms,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.wall_at_start_ms + self.started.elapsed().as_millis() as i64
    }

    /// Hour of the day (UTC) for `deleteWhen`.
    pub fn hour(&self) -> u8 {
        ((self.now_ms().rem_euclid(86_400_000)) / 3_600_000) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn policy() -> RetentionPolicy {
        RetentionPolicy {
            reserved_ms: 72 * HOUR_MS as u64,
            delete_when_hours: vec![4],
            max_used_percent: 75,
            clean_forcibly_percent: 85,
            refuse_writes_percent: 90,
        }
    }

    #[test]
    fn decisions_follow_hour_and_disk_usage() {
        let p = policy();
        assert_eq!(
            p.decide(10, 3),
            CleanupDecision {
                delete_expired: false,
                forced: false,
                refuse_writes: false
            }
        );
        assert!(p.decide(10, 4).delete_expired);
        assert!(p.decide(76, 3).delete_expired && !p.decide(76, 3).forced);
        assert!(p.decide(86, 3).forced);
        assert!(p.decide(91, 3).refuse_writes);
        assert!(!p.decide(90, 3).refuse_writes);
    }

    #[test]
    fn only_expired_files_go_oldest_first_and_never_the_current_one() {
        let p = policy();
        let now = 1_000 * HOUR_MS;
        let files = [
            (0, Some(now - 100 * HOUR_MS)),
            (1024, Some(now - 73 * HOUR_MS)),
            (2048, Some(now - 71 * HOUR_MS)),
            (3072, None),
        ];
        let decision = p.decide(10, 4);
        assert_eq!(p.files_to_delete(&files, now, decision), vec![0, 1024]);
        assert!(p.files_to_delete(&files, now, p.decide(10, 3)).is_empty());
        let all_old = [(0, Some(0)), (1024, None)];
        assert_eq!(p.files_to_delete(&all_old, now, decision), vec![0]);
    }

    #[test]
    fn forced_cleaning_removes_young_files_one_per_pass() {
        let p = policy();
        let now = 1_000 * HOUR_MS;
        let files = [(0, Some(now - HOUR_MS)), (1024, Some(now)), (2048, None)];
        assert_eq!(p.files_to_delete(&files, now, p.decide(86, 3)), vec![0]);
    }

    #[test]
    fn a_file_from_the_future_is_not_expired() {
        // A record stamped after a backwards clock jump looks younger, never older.
        let p = policy();
        let files = [(0, Some(5_000 * HOUR_MS)), (1024, None)];
        assert!(
            p.files_to_delete(&files, 1_000 * HOUR_MS, p.decide(10, 4))
                .is_empty()
        );
    }

    #[test]
    fn the_retention_clock_ignores_the_wall_clock_after_start() {
        let clock = RetentionClock::new(10 * HOUR_MS + 5);
        let now = clock.now_ms();
        assert!((10 * HOUR_MS + 5..10 * HOUR_MS + 60_000).contains(&now));
        assert_eq!(clock.hour(), 10);
    }
}

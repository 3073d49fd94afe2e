//! What a master knows about its slaves, and the sends waiting for them (SYNC_MASTER).
//!
//! Waits are grouped as group commit groups flushes: each waiting send registers the offset
//! it needs replicated, and each slave report answers exactly the waiters it covers. No
//! polling, no wake-ups of waiters the report does not cover.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Why a SYNC_MASTER send was not acknowledged as replicated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaWaitError {
    /// No slave is connected, or the one that is lags by `haMaxGapNotInSync` or more
    /// (SLAVE_NOT_AVAILABLE).
    #[error("no slave in sync: {0}")]
    SlaveNotAvailable(String),
    /// No slave confirmed within `slaveTimeout` (FLUSH_SLAVE_TIMEOUT).
    #[error("no slave confirmed offset {offset} within {timeout_ms} ms")]
    Timeout { offset: u64, timeout_ms: u64 },
}

#[derive(Debug, Default)]
pub struct ReplicaTracker {
    /// The furthest any slave has reported (Java's push2SlaveMaxOffset).
    acked: AtomicU64,
    connections: AtomicUsize,
    waiters: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    by_offset: BTreeMap<(u64, u64), oneshot::Sender<()>>,
    next: u64,
}

impl ReplicaTracker {
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    pub fn connected(&self) {
        self.connections.fetch_add(1, Ordering::AcqRel);
    }

    pub fn disconnected(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// A slave's report: answers every waiter at or below it.
    pub fn report(&self, offset: u64) {
        let previous = self.acked.fetch_max(offset, Ordering::AcqRel);
        if offset <= previous {
            return;
        }
        let covered = {
            let mut waiters = self.waiters.lock();
            let rest = waiters.by_offset.split_off(&(offset + 1, 0));
            std::mem::replace(&mut waiters.by_offset, rest)
        };
        for sender in covered.into_values() {
            sender.send(()).ok();
        }
    }

    /// Waits until a slave has reported `end_offset`. Refuses at once when no slave is
    /// connected or the furthest one is `max_gap` or more behind `master_end`.
    pub async fn wait(
        &self,
        end_offset: u64,
        master_end: u64,
        max_gap: u64,
        timeout: Duration,
    ) -> Result<(), ReplicaWaitError> {
        let connections = self.connections();
        if connections == 0 {
            return Err(ReplicaWaitError::SlaveNotAvailable(
                "no slave is connected".into(),
            ));
        }
        let acked = self.acked();
        if acked >= end_offset {
            return Ok(());
        }
        if master_end.saturating_sub(acked) >= max_gap {
            return Err(ReplicaWaitError::SlaveNotAvailable(format!(
                "the slave has {acked}, {} bytes behind this master's {master_end} \
                 (haMaxGapNotInSync {max_gap})",
                master_end - acked
            )));
        }
        let (key, answer) = {
            let mut waiters = self.waiters.lock();
            let key = (end_offset, waiters.next);
            waiters.next += 1;
            let (tx, rx) = oneshot::channel();
            waiters.by_offset.insert(key, tx);
            (key, rx)
        };
        // A report between the check above and the registration would be missed.
        if self.acked() >= end_offset {
            self.waiters.lock().by_offset.remove(&key);
            return Ok(());
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                self.waiters.lock().by_offset.remove(&key);
                if self.acked() >= end_offset {
                    return Ok(());
                }
                Err(ReplicaWaitError::Timeout {
                    offset: end_offset,
                    timeout_ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    pub fn waiting(&self) -> usize {
        self.waiters.lock().by_offset.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: u64 = 1000;

    #[tokio::test]
    async fn no_slave_means_not_available() {
        let tracker = ReplicaTracker::default();
        let outcome = tracker.wait(10, 10, GAP, Duration::from_secs(1)).await;
        assert!(matches!(
            outcome,
            Err(ReplicaWaitError::SlaveNotAvailable(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slave_too_far_behind_is_not_in_sync() {
        let tracker = ReplicaTracker::default();
        tracker.connected();
        tracker.report(100);
        let outcome = tracker.wait(1200, 1100, GAP, Duration::from_secs(1)).await;
        assert!(
            matches!(outcome, Err(ReplicaWaitError::SlaveNotAvailable(ref m)) if m.contains("1000 bytes behind")),
            "{outcome:?}"
        );
        // 950 behind is in sync: the send waits, and with no report it times out.
        let outcome = tracker.wait(1050, 1050, GAP, Duration::from_secs(1)).await;
        assert!(matches!(
            outcome,
            Err(ReplicaWaitError::Timeout { offset: 1050, .. })
        ));
        assert_eq!(
            tracker.wait(90, 1050, GAP, Duration::from_secs(1)).await,
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reports_answer_exactly_the_waiters_they_cover() {
        let tracker = std::sync::Arc::new(ReplicaTracker::default());
        tracker.connected();
        let mut tasks = Vec::new();
        for end in [100u64, 200, 300] {
            let tracker = tracker.clone();
            tasks.push(tokio::spawn(async move {
                tracker.wait(end, 300, GAP, Duration::from_secs(3)).await
            }));
        }
        while tracker.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        tracker.report(250);
        tokio::task::yield_now().await;
        assert_eq!(
            tracker.waiting(),
            1,
            "100 and 200 answered, 300 still waits"
        );
        let results: Vec<_> = futures_join(tasks).await;
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Ok(()));
        assert_eq!(
            results[2],
            Err(ReplicaWaitError::Timeout {
                offset: 300,
                timeout_ms: 3000
            })
        );
        assert_eq!(tracker.waiting(), 0, "the timed-out waiter is gone");
    }

    async fn futures_join(
        tasks: Vec<tokio::task::JoinHandle<Result<(), ReplicaWaitError>>>,
    ) -> Vec<Result<(), ReplicaWaitError>> {
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("task"));
        }
        out
    }
}

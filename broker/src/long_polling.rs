//! Long polling (protocol.md §2.3 PULL_MESSAGE): a pull that finds nothing new parks until a
//! message reaches its queue or its suspend timeout passes.
//!
//! Java parks requests in a table checked every 5 s and woken by the dispatcher. Here a
//! parked pull is an awaiting task holding a one-shot receiver; whoever makes a message
//! readable (a send once it is durable, the delay timer, a slave's dispatch) calls
//! [`PullHold::notify`] and exactly the pulls waiting on that queue wake. No polling.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Most pulls parked at once; beyond it a pull is answered "no new message" at once and the
/// client simply pulls again.
const MAX_PARKED: usize = 100_000;

#[derive(Debug)]
struct Parked {
    /// The pull waits for a message at this logical offset or later.
    offset: u64,
    wake: oneshot::Sender<()>,
}

/// Parked pulls per `(topic, queue id)`.
#[derive(Debug, Default)]
pub struct PullHold {
    parked: Mutex<HashMap<(String, i32), Vec<Parked>>>,
}

/// Why a parked pull woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Arrived,
    TimedOut,
    /// Too many parked pulls; answered at once.
    Refused,
}

impl PullHold {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parks until a message at `offset` or later may be readable in the queue, or `timeout`.
    /// The caller re-reads the queue afterwards: a wake-up is a hint, not a promise.
    pub async fn park(&self, topic: &str, queue_id: i32, offset: u64, timeout: Duration) -> Wake {
        let (wake, woken) = oneshot::channel();
        {
            let mut parked = self.parked.lock();
            let total: usize = parked.values().map(Vec::len).sum();
            if total >= MAX_PARKED {
                return Wake::Refused;
            }
            parked
                .entry((topic.to_owned(), queue_id))
                .or_default()
                .push(Parked { offset, wake });
        }
        let outcome = match tokio::time::timeout(timeout, woken).await {
            Ok(_) => Wake::Arrived,
            Err(_) => Wake::TimedOut,
        };
        self.forget_closed(topic, queue_id);
        outcome
    }

    /// A message at `max_offset - 1` is now readable: wakes every pull parked on the queue
    /// for an offset below `max_offset`.
    pub fn notify(&self, topic: &str, queue_id: i32, max_offset: u64) {
        let mut parked = self.parked.lock();
        let key = (topic.to_owned(), queue_id);
        let Some(waiting) = parked.get_mut(&key) else {
            return;
        };
        let (ready, rest): (Vec<Parked>, Vec<Parked>) =
            waiting.drain(..).partition(|p| p.offset < max_offset);
        *waiting = rest;
        if waiting.is_empty() {
            parked.remove(&key);
        }
        drop(parked);
        for pull in ready {
            pull.wake.send(()).ok();
        }
    }

    /// Wakes every parked pull (shutdown): each answers from the queue as it is, so the
    /// server's shutdown does not wait out suspend timeouts of clients already gone.
    pub fn wake_all(&self) {
        let parked = std::mem::take(&mut *self.parked.lock());
        for pull in parked.into_values().flatten() {
            pull.wake.send(()).ok();
        }
    }

    /// Drops entries whose waiter is gone (timed out or its connection closed).
    fn forget_closed(&self, topic: &str, queue_id: i32) {
        let mut parked = self.parked.lock();
        let key = (topic.to_owned(), queue_id);
        if let Some(waiting) = parked.get_mut(&key) {
            waiting.retain(|p| !p.wake.is_closed());
            if waiting.is_empty() {
                parked.remove(&key);
            }
        }
    }

    /// Number of parked pulls (runtime info, tests).
    pub fn parked_count(&self) -> usize {
        self.parked.lock().values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_notify_wakes_only_pulls_below_the_new_maximum() {
        let hold = Arc::new(PullHold::new());
        let early = tokio::spawn({
            let hold = hold.clone();
            async move { hold.park("T", 0, 5, Duration::from_secs(10)).await }
        });
        let late = tokio::spawn({
            let hold = hold.clone();
            async move { hold.park("T", 0, 9, Duration::from_millis(300)).await }
        });
        let other_queue = tokio::spawn({
            let hold = hold.clone();
            async move { hold.park("T", 1, 0, Duration::from_millis(300)).await }
        });
        while hold.parked_count() < 3 {
            tokio::task::yield_now().await;
        }
        hold.notify("T", 0, 6);
        assert_eq!(early.await.ok(), Some(Wake::Arrived));
        assert_eq!(late.await.ok(), Some(Wake::TimedOut));
        assert_eq!(other_queue.await.ok(), Some(Wake::TimedOut));
        assert_eq!(hold.parked_count(), 0);
    }

    #[tokio::test]
    async fn wake_all_releases_every_parked_pull() {
        let hold = Arc::new(PullHold::new());
        let parked = tokio::spawn({
            let hold = hold.clone();
            async move { hold.park("T", 0, 0, Duration::from_secs(30)).await }
        });
        while hold.parked_count() < 1 {
            tokio::task::yield_now().await;
        }
        hold.wake_all();
        assert_eq!(parked.await.ok(), Some(Wake::Arrived));
    }
}

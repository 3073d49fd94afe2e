//! Flushing the CommitLog, off the async runtime, on one thread.
//!
//! SYNC_FLUSH is group commit: appenders wake the flush thread and await the flushed offset on
//! a watch channel; each pass flushes everything written so far, so one msync serves every
//! waiter that arrived meanwhile. No polling: the thread sleeps on a condition variable until
//! there is something to flush. ASYNC_FLUSH flushes every `flushIntervalCommitLog` when at
//! least `flushCommitLogLeastPages` pages are dirty, everything every
//! `flushCommitLogThoroughInterval`, and everything at shutdown.
//!
//! A failed flush poisons the store: the flushed offset never advances past it (after a failed
//! msync the kernel may already have dropped the pages), waiters fail, and writes are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::commit_log::CommitLog;
use super::config::{FlushDiskType, StoreConfig};
use super::error::{StoreError, StoreResult};

const PAGE_BYTES: u64 = 4096;

/// The store-wide "a write to disk failed" flag. Once set it stays set until restart.
#[derive(Debug, Default)]
pub struct Poison {
    reason: Mutex<Option<String>>,
}

impl Poison {
    pub fn set(&self, reason: String) {
        let mut slot = self.reason.lock();
        if slot.is_none() {
            tracing::error!(%reason, "store poisoned: refusing all writes until restart");
            *slot = Some(reason);
        }
    }

    pub fn check(&self) -> StoreResult<()> {
        match &*self.reason.lock() {
            Some(reason) => Err(StoreError::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }

    pub fn reason(&self) -> Option<String> {
        self.reason.lock().clone()
    }
}

/// What waiters watch.
#[derive(Debug, Clone, Default)]
struct Progress {
    flushed: u64,
    failed: Option<String>,
}

#[derive(Debug, Default)]
struct Control {
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    commit_log: Arc<CommitLog>,
    poison: Arc<Poison>,
    mode: FlushDiskType,
    interval: Duration,
    least_bytes: u64,
    thorough_interval: Duration,
    flushed: AtomicU64,
    control: Mutex<Control>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
}

#[derive(Debug)]
pub struct FlushService {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl FlushService {
    /// Starts the flush thread. `flushed` is the offset already durable (the recovered end).
    pub fn start(
        commit_log: Arc<CommitLog>,
        poison: Arc<Poison>,
        config: &StoreConfig,
        flushed: u64,
    ) -> StoreResult<Self> {
        let (progress, _) = watch::channel(Progress {
            flushed,
            failed: None,
        });
        let shared = Arc::new(Shared {
            commit_log,
            poison,
            mode: config.flush_disk_type,
            interval: Duration::from_millis(config.flush_interval_commit_log_ms.max(1)),
            least_bytes: config.flush_commit_log_least_pages * PAGE_BYTES,
            thorough_interval: Duration::from_millis(config.flush_commit_log_thorough_interval_ms),
            flushed: AtomicU64::new(flushed),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            progress,
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("commitlog-flush".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::io("cannot start the flush thread", e))?;
        Ok(FlushService {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Everything below this offset is durable.
    pub fn flushed_offset(&self) -> u64 {
        self.shared.flushed.load(Ordering::Acquire)
    }

    /// A reader of the flushed offset for other threads (the checkpoint writer).
    pub fn offset_reader(&self) -> Arc<dyn Fn() -> u64 + Send + Sync> {
        let shared = self.shared.clone();
        Arc::new(move || shared.flushed.load(Ordering::Acquire))
    }

    /// Tells the flush thread there is new data (SYNC_FLUSH appenders call it).
    pub fn request_flush(&self) {
        let _control = self.shared.control.lock();
        self.shared.wake.notify_one();
    }

    /// Waits until `end_offset` is durable, up to `timeout`.
    pub async fn wait_durable(&self, end_offset: u64, timeout: Duration) -> StoreResult<()> {
        if self.flushed_offset() >= end_offset {
            return Ok(());
        }
        self.request_flush();
        let mut progress = self.shared.progress.subscribe();
        let waited = tokio::time::timeout(
            timeout,
            progress.wait_for(|p| p.flushed >= end_offset || p.failed.is_some()),
        )
        .await;
        match waited {
            Err(_elapsed) => Err(StoreError::FlushTimeout {
                timeout_ms: timeout.as_millis() as u64,
            }),
            Ok(Err(_closed)) => Err(StoreError::ShutDown),
            Ok(Ok(p)) if p.flushed >= end_offset => Ok(()),
            Ok(Ok(p)) => Err(StoreError::Poisoned(p.failed.clone().unwrap_or_default())),
        }
    }

    /// Flushes everything and stops the thread.
    pub fn shutdown(&self) -> StoreResult<()> {
        {
            let mut control = self.shared.control.lock();
            control.stop = true;
            self.shared.wake.notify_all();
        }
        if let Some(thread) = self.thread.lock().take()
            && thread.join().is_err()
        {
            return Err(StoreError::Poisoned("the flush thread panicked".into()));
        }
        self.shared.poison.check()
    }
}

impl Shared {
    fn run(&self) {
        let mut last_thorough = Instant::now();
        loop {
            let stopping = self.wait_for_work();
            let written = self.commit_log.max_offset();
            let flushed = self.flushed.load(Ordering::Acquire);
            let dirty = written.saturating_sub(flushed);
            let due = match self.mode {
                FlushDiskType::Sync => dirty > 0,
                FlushDiskType::Async => {
                    dirty >= self.least_bytes.max(1)
                        || (dirty > 0 && last_thorough.elapsed() >= self.thorough_interval)
                }
            };
            if (due || (stopping && dirty > 0)) && !self.flush(flushed, written) {
                return;
            }
            if dirty > 0 && due {
                last_thorough = Instant::now();
            }
            if stopping {
                return;
            }
        }
    }

    /// Sleeps until there is work (SYNC) or the interval passes (ASYNC). Returns true when
    /// the service is stopping.
    fn wait_for_work(&self) -> bool {
        let mut control = self.control.lock();
        if control.stop {
            return true;
        }
        match self.mode {
            FlushDiskType::Sync => {
                while !control.stop
                    && self.commit_log.max_offset() <= self.flushed.load(Ordering::Acquire)
                {
                    self.wake.wait(&mut control);
                }
            }
            FlushDiskType::Async => {
                self.wake.wait_for(&mut control, self.interval);
            }
        }
        control.stop
    }

    /// One flush pass. Returns false after a failure (the thread then ends).
    fn flush(&self, from: u64, to: u64) -> bool {
        match self.commit_log.flush_range(from, to) {
            Ok(()) => {
                self.flushed.store(to, Ordering::Release);
                self.progress.send_modify(|p| p.flushed = to);
                true
            }
            Err(error) => {
                let reason = error.to_string();
                self.poison.set(reason.clone());
                self.progress.send_modify(|p| p.failed = Some(reason));
                false
            }
        }
    }
}

//! Page-cache warming ahead of the CommitLog writer.
//!
//! The first write to a page of a fresh (preallocated, never written) file faults it in: the
//! kernel allocates a page-cache page and zero-fills it before the copy can land. Measured
//! with perf on this project's 2-core VM, that zero-fill was 42% of an ASYNC_FLUSH append's
//! time, because the VM backs fresh guest memory lazily. The warmer does that work on another
//! thread, a little ahead of the writer, with a read-only prefault (`MADV_POPULATE_READ`):
//! the pages arrive zeroed and clean, so nothing extra is written to disk, and the writer's
//! own fault is reduced to marking a present page writable.
//!
//! Warming never touches data: it only reads. A failure (an old kernel without the advice,
//! memory pressure) is logged once and warming stops; appends work the same without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::commit_log::CommitLog;

/// How far ahead of the write position pages are kept warm.
pub const WARM_AHEAD_BYTES: u64 = 32 << 20;
/// The writer asks for more warming each time it has used this much of the warm window.
pub const WARM_STEP_BYTES: u64 = 4 << 20;

#[derive(Debug, Default)]
struct State {
    /// Warm everything below this offset.
    wanted: u64,
    stop: bool,
}

#[derive(Debug, Default)]
pub struct Warmer {
    state: Mutex<State>,
    wake: Condvar,
    /// The last target handed to the thread (lock-free check on the append path).
    requested: AtomicU64,
}

impl Warmer {
    /// Called by the writer after each append with the new end of the log; cheap unless a
    /// new step of the window is due.
    pub fn advance(&self, written: u64) {
        let target = written + WARM_AHEAD_BYTES;
        if target < self.requested.load(Ordering::Relaxed) + WARM_STEP_BYTES {
            return;
        }
        self.requested.store(target, Ordering::Relaxed);
        let mut state = self.state.lock();
        if target > state.wanted {
            state.wanted = target;
            self.wake.notify_one();
        }
    }

    /// Starts the warming thread for the log's files, from its current end.
    pub fn start(commit_log: Arc<CommitLog>) -> std::io::Result<JoinHandle<()>> {
        let from = commit_log.max_offset();
        commit_log.warmer().requested.store(from, Ordering::Relaxed);
        std::thread::Builder::new()
            .name("commitlog-warm".into())
            .spawn(move || commit_log.warmer().run(&commit_log, from))
    }

    pub fn stop(&self) {
        self.state.lock().stop = true;
        self.wake.notify_all();
    }

    fn run(&self, commit_log: &CommitLog, from: u64) {
        let files = commit_log.files();
        let mut warmed = from;
        loop {
            let wanted = {
                let mut state = self.state.lock();
                while !state.stop && state.wanted <= warmed {
                    self.wake.wait(&mut state);
                }
                if state.stop {
                    return;
                }
                state.wanted
            };
            while warmed < wanted {
                let file = match files.find(warmed) {
                    Some(file) => file,
                    // The next file, created ahead of the writer as RocketMQ's allocation
                    // service does, so that its first pages are warm too.
                    // Only the file right after the writer's: with files smaller than the
                    // window, warming stops at the end of that one.
                    None if files.last().is_some_and(|last| last.end_offset() == warmed)
                        && warmed <= writer_file_end(commit_log) =>
                    {
                        match files.file_at(warmed) {
                            Ok(file) => file,
                            Err(error) => {
                                tracing::debug!(%error, "next commit log file not created ahead");
                                warmed = wanted;
                                break;
                            }
                        }
                    }
                    None => {
                        warmed = wanted;
                        break;
                    }
                };
                let end = wanted.min(file.end_offset()).min(warmed + WARM_STEP_BYTES);
                if let Err(error) = file
                    .file
                    .prefault(warmed - file.start_offset, end - file.start_offset)
                {
                    tracing::warn!(%error, file = %file.path.display(), "page-cache warming stopped");
                    return;
                }
                warmed = end;
            }
        }
    }
}

/// The end of the file the writer is in.
fn writer_file_end(commit_log: &CommitLog) -> u64 {
    let written = commit_log.max_offset();
    let size = commit_log.file_size();
    written - written % size + size
}

//! One shutdown signal for a server and all its background work.
//!
//! The trigger side is held by whoever decides to stop (main on SIGTERM/Ctrl-C, a test); every
//! task holds a `Shutdown` clone and selects on `wait()`. Dropping the trigger counts as a
//! shutdown, so a forgotten trigger can never leave tasks running forever.

use tokio::sync::watch;

/// Sends the shutdown signal.
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

/// Receives the shutdown signal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger { sender }, Shutdown { receiver })
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Shutdown {
    /// Completes once shutdown is triggered (or the trigger is dropped).
    pub async fn wait(&mut self) {
        // An error means the trigger was dropped: treat it as a shutdown.
        let _closed = self.receiver.wait_for(|stop| *stop).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow() || self.receiver.has_changed().is_err()
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT): what `mqshutdown` and an operator send.
pub async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// A timer for a background loop: first tick one `period` from now (not at once), and a
/// late tick delays the next ones rather than firing a burst to catch up.
pub fn ticker(period: std::time::Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

//! The load tool's library: what `mqbench` runs, kept here so that tests can drive it
//! in-process and read its output from a buffer.
//!
//! * [`run`]: the machinery every load shares (tickets, merged latency histograms, the
//!   once-a-second reporter, summary fields).
//! * [`producer`] and [`consumer`]: RocketMQ's benchmark Producer and Consumer on Bolide's
//!   client library, with RocketMQ's option letters and periodic lines, ending with one
//!   JSON line.
//! * [`body`]: the self-checking bodies the producer writes and the consumer verifies.

pub mod body;
pub mod consumer;
pub mod producer;
pub mod run;

pub use consumer::{ConsumerArgs, run_consumer};
pub use producer::{ProducerArgs, run_producer};

/// Completes on Ctrl-C or (on Unix) SIGTERM: how the binaries end a run that has no
/// `--count` or `--duration`. If a handler cannot be installed, that signal is not waited
/// for (the other still is), rather than ending the run at once.
pub async fn interrupted() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

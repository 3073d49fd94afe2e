//! `mqbroker`: starts a Bolide broker with RocketMQ's command line
//! (`mqbroker -c FILE [-n ADDR] [-p] [-m]`).
//!
//! Parses arguments, sets up logging, binds the main and fast ports, records a PID file for
//! `mqshutdown broker`, and hands over to `bolide_broker::server::run` until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use bolide_broker::cli::{CliAction, parse_args};
use bolide_broker::config::BrokerConfig;
use bolide_broker::server::{Listeners, run};
use bolide_client::process::PidFile;
use bolide_client::remoting::{shutdown_channel, wait_for_signal};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    init_tracing();
    match parse_args(std::env::args_os()) {
        Ok(CliAction::Print(text)) => {
            print_text(&text);
            ExitCode::SUCCESS
        }
        Ok(CliAction::Run(config)) => match start(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("{error:#}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::print_stdout)]
fn print_text(text: &str) {
    print!("{text}");
}

/// Logs go to stderr so that stdout carries only what scripts read (`-p`, the boot line).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn start(config: BrokerConfig) -> anyhow::Result<()> {
    let worker_threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    let port = config.listen_port;
    let main = TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("cannot listen on port {port} (listenPort)"))?;
    let fast_port = config.fast_listen_port();
    let fast = TcpListener::bind(("0.0.0.0", fast_port))
        .await
        .with_context(|| format!("cannot listen on the fast port {fast_port} (listenPort - 2)"))?;
    // A master's slaves connect to listenPort + 1 (a slave needs no HA port).
    let ha = if config.is_master() {
        let ha_port = config.ha_listen_port();
        Some(
            TcpListener::bind(("0.0.0.0", ha_port))
                .await
                .with_context(|| {
                    format!("cannot listen on the HA port {ha_port} (listenPort + 1)")
                })?,
        )
    } else {
        None
    };
    let _pid_file = PidFile::create("broker", port)?;

    let (trigger, shutdown) = shutdown_channel();
    let signals = tokio::spawn(async move {
        match wait_for_signal().await {
            Ok(()) => tracing::info!("shutdown signal received"),
            Err(error) => tracing::error!("cannot listen for signals ({error}); shutting down"),
        }
        trigger.trigger();
    });
    let boot = format!(
        "The broker[{}, {}] boot success. serializeType=JSON and name server is {}",
        config.broker_name,
        config.broker_addr(),
        config.namesrv_addrs().join(";")
    );
    tracing::info!("{boot}");
    print_text(&format!("{boot}\n"));
    let result = run(
        config,
        Listeners {
            main,
            fast: Some(fast),
            ha,
        },
        shutdown,
    )
    .await;
    signals.abort();
    result.map_err(|e| anyhow!("{e}"))
}

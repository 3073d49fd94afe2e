//! `mqnamesrv`: starts the Bolide name server with RocketMQ's command line.
//!
//! Parses arguments, sets up logging, loads the configuration, binds the port, records a PID file
//! for `mqshutdown`, and hands over to `bolide_namesrv::run` until SIGTERM or Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use bolide_client::process::PidFile;
use bolide_client::remoting::{shutdown_channel, wait_for_signal};
use bolide_namesrv::config::NamesrvConfig;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// The Bolide name server (RocketMQ 4.x compatible).
#[derive(Debug, Parser)]
#[command(name = "mqnamesrv", version)]
struct Args {
    /// Name server config properties file
    #[arg(
        short = 'c',
        long = "config-file",
        alias = "configFile",
        value_name = "FILE"
    )]
    config_file: Option<PathBuf>,

    /// Print all config items and exit
    #[arg(short = 'p', long = "print-config-item", alias = "printConfigItem")]
    print_config_item: bool,

    /// Name server address list; accepted for RocketMQ compatibility and ignored
    #[arg(
        short = 'n',
        long = "namesrv-addr",
        alias = "namesrvAddr",
        value_name = "ADDR"
    )]
    namesrv_addr: Option<String>,
}

/// The line RocketMQ prints once the server is up; start scripts grep for it.
const BOOT_SUCCESS: &str = "The Name Server boot success. serializeType=JSON";

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so that stdout carries only what scripts read (`-p`, the boot line).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: under nohup they would litter the log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn start(args: Args) -> anyhow::Result<()> {
    if let Some(addr) = &args.namesrv_addr {
        tracing::warn!("-n {addr} ignored: a name server needs no name server address");
    }
    let config = load_config(args.config_file.as_deref())?;
    if args.print_config_item {
        print_config(&config);
        return Ok(());
    }
    let worker_threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(config))
}

fn load_config(path: Option<&Path>) -> anyhow::Result<NamesrvConfig> {
    let Some(path) = path else {
        return Ok(NamesrvConfig::default());
    };
    // The message already names the file, line and cause; the chain would repeat them.
    let (config, warnings) = NamesrvConfig::load(path).map_err(|error| anyhow!("{error}"))?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!("loaded config file {}", path.display());
    Ok(config)
}

#[allow(clippy::print_stdout)]
fn print_config(config: &NamesrvConfig) {
    print!("{}", config.to_properties());
}

async fn serve(config: NamesrvConfig) -> anyhow::Result<()> {
    let port = config.listen_port;
    let listener = TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("cannot listen on port {port} (listenPort)"))?;
    let _pid_file = PidFile::create("namesrv", port)?;

    let (trigger, shutdown) = shutdown_channel();
    let signals = tokio::spawn(async move {
        match wait_for_signal().await {
            Ok(()) => tracing::info!("shutdown signal received"),
            // Without signal handling mqshutdown could never stop us: refuse to run instead.
            Err(error) => tracing::error!("cannot listen for signals ({error}); shutting down"),
        }
        trigger.trigger();
    });

    announce_boot();
    let result = bolide_namesrv::run(config, listener, shutdown).await;
    signals.abort();
    Ok(result?)
}

#[allow(clippy::print_stdout)]
fn announce_boot() {
    tracing::info!("{BOOT_SUCCESS}");
    println!("{BOOT_SUCCESS}");
}

//! `mqadmin`: RocketMQ's admin command line, with RocketMQ's subcommand names and flags.
//!
//! This version carries the name-server subcommands; those that need a broker say plainly
//! that they are not available yet instead of pretending.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bolide_client::namesrv::{NamesrvClient, parse_namesrv_addrs};
use bolide_client::remoting::{ClientConfig, RemotingClient};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "mqadmin",
    about = "Bolide admin tool (RocketMQ mqadmin syntax)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Namesrv {
    /// Name server address list, `ip:port;ip:port`.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Examine a topic's route.
    #[command(name = "topicRoute")]
    TopicRoute {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// List every topic the name server knows.
    #[command(name = "topicList")]
    TopicList {
        #[command(flatten)]
        namesrv: Namesrv,
    },
    /// Print the configuration of every name server.
    #[command(name = "getNamesrvConfig")]
    GetNamesrvConfig {
        #[command(flatten)]
        namesrv: Namesrv,
    },
    /// Create or update a KV config item on every name server.
    #[command(name = "updateKvConfig")]
    UpdateKvConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Delete a KV config item from every name server.
    #[command(name = "deleteKvConfig")]
    DeleteKvConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        #[arg(short = 'k', long = "key")]
        key: String,
    },
    /// Remove a broker's write permission on every name server.
    #[command(name = "wipeWritePerm")]
    WipeWritePerm {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    /// Restore a broker's write permission on every name server.
    #[command(name = "addWritePerm")]
    AddWritePerm {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    #[command(external_subcommand)]
    Other(Vec<String>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::anyhow!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

#[allow(clippy::print_stderr)]
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("mqadmin: {error:#}");
    ExitCode::FAILURE
}

fn api() -> NamesrvClient {
    NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        Duration::from_secs(5),
    )
}

fn addrs(namesrv: &Namesrv) -> anyhow::Result<Vec<String>> {
    let addrs = parse_namesrv_addrs(&namesrv.namesrv);
    if addrs.is_empty() {
        bail!("no name server address given (-n ip:port or NAMESRV_ADDR)");
    }
    Ok(addrs)
}

#[allow(clippy::print_stdout)]
async fn run(command: Command) -> anyhow::Result<()> {
    let api = api();
    match command {
        Command::TopicRoute { namesrv, topic } => {
            let addr = first(&namesrv)?;
            let route = api.route(&addr, &topic).await?;
            let Some(route) = route else {
                bail!("no route for topic {topic} on name server {addr}");
            };
            let json: serde_json::Value = serde_json::from_slice(&route.encode())?;
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        Command::TopicList { namesrv } => {
            let addr = first(&namesrv)?;
            for topic in api.all_topics(&addr).await?.topic_list {
                println!("{topic}");
            }
        }
        Command::GetNamesrvConfig { namesrv } => {
            for addr in addrs(&namesrv)? {
                let text = api.namesrv_config(&addr).await?;
                println!("============{addr}============");
                for line in text.lines().filter_map(|l| l.split_once('=')) {
                    println!("{:<50}=  {}", line.0, line.1);
                }
            }
        }
        Command::UpdateKvConfig {
            namesrv,
            namespace,
            key,
            value,
        } => {
            for addr in addrs(&namesrv)? {
                api.put_kv_config(&addr, &namespace, &key, &value)
                    .await
                    .with_context(|| format!("name server {addr}"))?;
            }
            println!("create or update kv config to namespace success.");
        }
        Command::DeleteKvConfig {
            namesrv,
            namespace,
            key,
        } => {
            for addr in addrs(&namesrv)? {
                api.delete_kv_config(&addr, &namespace, &key)
                    .await
                    .with_context(|| format!("name server {addr}"))?;
            }
            println!("delete kv config from namespace success.");
        }
        Command::WipeWritePerm {
            namesrv,
            broker_name,
        } => {
            for addr in addrs(&namesrv)? {
                let count = api.wipe_write_perm(&addr, &broker_name).await?;
                println!(
                    "wipe write perm of broker[{broker_name}] in name server[{addr}] OK, {count}"
                );
            }
        }
        Command::AddWritePerm {
            namesrv,
            broker_name,
        } => {
            for addr in addrs(&namesrv)? {
                let count = api.add_write_perm(&addr, &broker_name).await?;
                println!(
                    "add write perm of broker[{broker_name}] in name server[{addr}] OK, {count}"
                );
            }
        }
        Command::Other(words) => {
            let name = words.first().map_or("", String::as_str);
            bail!(
                "subcommand {name} is not available in this version of Bolide \
                 (available: topicRoute, topicList, getNamesrvConfig, updateKvConfig, \
                 deleteKvConfig, wipeWritePerm, addWritePerm)"
            );
        }
    }
    Ok(())
}

/// Queries go to the first name server of the list.
fn first(namesrv: &Namesrv) -> anyhow::Result<String> {
    addrs(namesrv)?
        .into_iter()
        .next()
        .context("no name server address")
}

//! `mqbench`: Bolide's load tool. `mqbench route` measures name-server route queries:
//! `--connections` connections each keep `--pipeline` GET_ROUTEINFO_BY_TOPIC requests in flight
//! for `--duration` seconds (or until `--count` queries), printing a line per second and one
//! JSON line at the end with queries/s and latency percentiles.
//!
//! With `--register`, it first registers a fake master broker carrying the topic, so a bare
//! name server can be measured; the registering connection stays open for the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bolide_client::namesrv::NamesrvClient;
use bolide_client::protocol::header::{
    CommandHeader, GetRouteInfoRequestHeader, RegisterBrokerRequestHeader,
};
use bolide_client::protocol::route::DataVersion;
use bolide_client::protocol::topic_config::{RegisterBrokerBody, TopicConfig};
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

#[derive(Parser, Debug)]
#[command(name = "mqbench", about = "Bolide load tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Route queries (GET_ROUTEINFO_BY_TOPIC) against one name server.
    Route(RouteArgs),
    /// Act as a test broker towards name servers: register with every one of them, again
    /// every 30 s, and unregister on exit. Nothing listens at the broker address.
    Register(RegisterArgs),
}

#[derive(Parser, Debug)]
struct RegisterArgs {
    /// Name servers, `ip:port;ip:port`.
    #[arg(
        short = 'n',
        long = "namesrv",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    #[arg(short = 'c', long, default_value = "DefaultCluster")]
    cluster: String,
    #[arg(short = 'b', long = "broker-name", default_value = "broker-a")]
    broker_name: String,
    #[arg(short = 'a', long = "broker-addr", default_value = "127.0.0.1:10911")]
    broker_addr: String,
    /// 0 = master; slaves use 1 and up.
    #[arg(short = 'i', long = "broker-id", default_value_t = 0)]
    broker_id: i64,
    /// Topics the broker carries, comma-separated.
    #[arg(short = 't', long, default_value = "TopicTest")]
    topics: String,
    #[arg(short = 'r', long = "read-queues", default_value_t = 4)]
    read_queues: i32,
    #[arg(short = 'w', long = "write-queues", default_value_t = 4)]
    write_queues: i32,
    #[arg(short = 'p', long, default_value_t = 6)]
    perm: i32,
    /// Send the zlib-compressed body (RocketMQ's compressedRegister).
    #[arg(long)]
    compressed: bool,
    /// Seconds to stay registered; 0 = until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    duration: u64,
}

#[derive(Parser, Debug)]
struct RouteArgs {
    /// Name server address.
    #[arg(short = 'n', long = "namesrv", default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// Topic to query.
    #[arg(short = 't', long, default_value = "BenchmarkTest")]
    topic: String,
    /// Connections, each on its own client.
    #[arg(short = 'c', long, default_value_t = 16)]
    connections: usize,
    /// Requests in flight per connection (1 = each connection waits for its answer).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop after this many queries instead.
    #[arg(long)]
    count: Option<u64>,
    /// Register a fake broker with the topic first.
    #[arg(long)]
    register: bool,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

/// Limits that keep a typo from starting a fork bomb of tasks.
const MAX_CONNECTIONS: usize = 4096;
const MAX_PIPELINE: usize = 1024;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    match cli.command {
        Command::Route(args) => runtime.block_on(route(args)),
        Command::Register(args) => runtime.block_on(register(args)),
    }
}

struct Totals {
    queries: AtomicU64,
    errors: AtomicU64,
    histogram: Mutex<Histogram<u64>>,
    stop: AtomicBool,
}

async fn route(args: RouteArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        bail!("--connections must be 1..={MAX_CONNECTIONS}");
    }
    if args.pipeline == 0 || args.pipeline > MAX_PIPELINE {
        bail!("--pipeline must be 1..={MAX_PIPELINE}");
    }
    let timeout = Duration::from_millis(args.timeout_ms);
    let _registrar = if args.register {
        Some(register_fake_broker(&args.namesrv, &args.topic, timeout).await?)
    } else {
        None
    };
    check_route_exists(&args.namesrv, &args.topic, timeout).await?;

    let totals = Arc::new(Totals {
        queries: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        histogram: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?),
        stop: AtomicBool::new(false),
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let client = Arc::new(RemotingClient::new(ClientConfig::default()));
        for _ in 0..args.pipeline {
            workers.push(tokio::spawn(query_loop(
                client.clone(),
                args.namesrv.clone(),
                args.topic.clone(),
                timeout,
                totals.clone(),
                args.count,
            )));
        }
    }
    report_until_done(&args, &totals, started).await;
    totals.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.context("worker panicked")?;
    }
    print_summary(&args, &totals, started.elapsed());
    Ok(())
}

async fn query_loop(
    client: Arc<RemotingClient>,
    addr: String,
    topic: String,
    timeout: Duration,
    totals: Arc<Totals>,
    count: Option<u64>,
) {
    let fields = GetRouteInfoRequestHeader {
        topic,
        accept_standard_json_only: None,
    }
    .to_ext_fields();
    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
    while !totals.stop.load(Ordering::Relaxed) {
        if count.is_some_and(|limit| totals.queries.load(Ordering::Relaxed) >= limit) {
            break;
        }
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, fields.clone());
        let sent = Instant::now();
        let outcome = client.invoke(&addr, request, timeout).await;
        let micros = sent.elapsed().as_micros() as u64;
        match outcome {
            Ok(response) if response.code == ResponseCode::SUCCESS && !response.body.is_empty() => {
                totals.queries.fetch_add(1, Ordering::Relaxed);
                if let Some(histogram) = local.as_mut() {
                    histogram.saturating_record(micros.max(1));
                    if histogram.len() >= 1024 {
                        totals.histogram.lock().add(&*histogram).ok();
                        histogram.reset();
                    }
                }
            }
            _ => {
                totals.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if let Some(histogram) = local {
        totals.histogram.lock().add(&histogram).ok();
    }
}

#[allow(clippy::print_stdout)]
async fn report_until_done(args: &RouteArgs, totals: &Totals, started: Instant) {
    let deadline = started + Duration::from_secs(args.duration);
    let mut last_count = 0;
    let mut last_print = Instant::now();
    // Check often so `--count` ends promptly; print once a second.
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        let queries = totals.queries.load(Ordering::Relaxed);
        let done = match args.count {
            Some(limit) => queries >= limit,
            None => Instant::now() >= deadline,
        };
        if last_print.elapsed() >= Duration::from_secs(1) {
            println!(
                "Query TPS: {} | Total: {} | Failed: {}",
                queries - last_count,
                queries,
                totals.errors.load(Ordering::Relaxed)
            );
            last_count = queries;
            last_print = Instant::now();
        }
        if done {
            return;
        }
    }
}

#[allow(clippy::print_stdout)]
fn print_summary(args: &RouteArgs, totals: &Totals, elapsed: Duration) {
    let histogram = totals.histogram.lock();
    let ms = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    let queries = totals.queries.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "benchmark": "route",
        "connections": args.connections,
        "pipeline": args.pipeline,
        "seconds": elapsed.as_secs_f64(),
        "queries": queries,
        "failed": totals.errors.load(Ordering::Relaxed),
        "qps": (queries as f64 / elapsed.as_secs_f64()).round(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": histogram.max() as f64 / 1000.0,
    });
    println!("{summary}");
}

async fn check_route_exists(addr: &str, topic: &str, timeout: Duration) -> anyhow::Result<()> {
    let api = NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        timeout,
    );
    match api
        .route(addr, topic)
        .await
        .with_context(|| format!("route query to {addr} failed"))?
    {
        Some(_) => Ok(()),
        None => bail!(
            "name server {addr} has no route for topic {topic}; pass --register to create one"
        ),
    }
}

/// Registers broker `bench-broker` at 127.0.0.1:1 carrying `topic`; the returned client keeps
/// the registering connection (and so the registration) alive.
async fn register_fake_broker(
    addr: &str,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<NamesrvClient> {
    let api = NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        timeout,
    );
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = DataVersion::new(0);
    let mut config = TopicConfig::new(topic);
    config.read_queue_nums = 8;
    config.write_queue_nums = 8;
    body.topic_config_serialize_wrapper
        .topic_config_table
        .insert(topic.to_owned(), config);
    let header = RegisterBrokerRequestHeader {
        broker_name: "bench-broker".into(),
        broker_addr: "127.0.0.1:1".into(),
        cluster_name: "BenchCluster".into(),
        ha_server_addr: "127.0.0.1:2".into(),
        broker_id: 0,
        compressed: Some(false),
        body_crc32: None,
    };
    api.register_broker(addr, header, &body)
        .await
        .with_context(|| format!("registering a fake broker with {addr} failed"))?;
    Ok(api)
}

/// Re-registration period of a RocketMQ broker (`registerNameServerPeriod`).
const REGISTER_PERIOD: Duration = Duration::from_secs(30);

#[allow(clippy::print_stdout)]
async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let addrs = bolide_client::namesrv::parse_namesrv_addrs(&args.namesrv);
    if addrs.is_empty() {
        bail!("no name server address in {:?}", args.namesrv);
    }
    let api = NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        Duration::from_secs(3),
    );
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = DataVersion::new(0);
    for name in args
        .topics
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let mut config = TopicConfig::new(name);
        config.read_queue_nums = args.read_queues;
        config.write_queue_nums = args.write_queues;
        config.perm = args.perm;
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(name.to_owned(), config);
    }
    let header = RegisterBrokerRequestHeader {
        broker_name: args.broker_name.clone(),
        broker_addr: args.broker_addr.clone(),
        cluster_name: args.cluster.clone(),
        ha_server_addr: args.broker_addr.clone(),
        broker_id: args.broker_id,
        compressed: Some(args.compressed),
        body_crc32: None,
    };
    let stop_at = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    loop {
        for addr in &addrs {
            match api.register_broker(addr, header.clone(), &body).await {
                Ok(result) => println!(
                    "registered {} ({}, id {}) with {addr}; master {:?}",
                    args.broker_name, args.broker_addr, args.broker_id, result.master_addr
                ),
                Err(error) => println!("register with {addr} failed: {error}"),
            }
        }
        let wait = match stop_at {
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .min(REGISTER_PERIOD),
            None => REGISTER_PERIOD,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if stop_at.is_some_and(|at| Instant::now() >= at) {
            break;
        }
    }
    let unregister = bolide_client::protocol::header::UnregisterBrokerRequestHeader {
        broker_name: args.broker_name,
        broker_addr: args.broker_addr,
        cluster_name: args.cluster,
        broker_id: args.broker_id,
    };
    for addr in &addrs {
        if let Err(error) = api.unregister_broker(addr, unregister.clone()).await {
            println!("unregister from {addr} failed: {error}");
        }
    }
    Ok(())
}

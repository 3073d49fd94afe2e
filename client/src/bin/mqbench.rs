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
    let mut last = 0;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let queries = totals.queries.load(Ordering::Relaxed);
        println!(
            "Query TPS: {} | Total: {} | Failed: {}",
            queries - last,
            queries,
            totals.errors.load(Ordering::Relaxed)
        );
        last = queries;
        let done_by_count = args.count.is_some_and(|limit| queries >= limit);
        if done_by_count || (args.count.is_none() && Instant::now() >= deadline) {
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

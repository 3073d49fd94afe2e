//! `mqbench`: Bolide's load tool.
//!
//! * `mqbench route` measures name-server route queries: `--connections` connections each keep
//!   `--pipeline` GET_ROUTEINFO_BY_TOPIC requests in flight. With `--register`, it first
//!   registers a fake master broker carrying the topic, so a bare name server can be measured;
//!   the registering connection stays open for the run.
//! * `mqbench send` measures sync sends straight to one broker: `--workers` tasks, spread over
//!   `--connections` connections, each keep one SEND_MESSAGE_V2 in flight, as RocketMQ's
//!   benchmark `Producer` does, and print its line once a second.
//! * `mqbench register` acts as a test broker towards name servers.
//! * `mqbench producer` and `mqbench consumer` are RocketMQ's benchmark `Producer` and
//!   `Consumer` (same option letters and lines) on Bolide's client library; the consumer
//!   verifies every body the producer wrote. They live in [`bolide_client::bench`] so that
//!   tests can drive them in-process.
//!
//! `route` and `send` run for `--duration` seconds or `--count` requests, print a line per
//! second and one JSON line at the end with the rate and latency percentiles. All of them
//! share the run machinery of [`bolide_client::bench::run`]: tickets (so `--count` is exact),
//! per-worker histograms merged into the run's, the once-a-second reporter and the summary.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bolide_client::bench::run::{Recorder, Snapshot, Totals, report_until};
use bolide_client::bench::{self, ConsumerArgs, ProducerArgs};
use bolide_client::namesrv::NamesrvClient;
use bolide_client::protocol::broker_header::SendMessageRequestHeaderV2;
use bolide_client::protocol::header::{
    CommandHeader, GetRouteInfoRequestHeader, RegisterBrokerRequestHeader,
};
use bolide_client::protocol::message::{Properties, encode_properties, property};
use bolide_client::protocol::route::DataVersion;
use bolide_client::protocol::topic_config::{RegisterBrokerBody, TopicConfig};
use bolide_client::protocol::{MAX_FRAME_BYTES, RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ClientConfig, RemotingClient};
use bytes::{Bytes, BytesMut};
use clap::{Parser, Subcommand};
use tokio::task::JoinHandle;

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
    /// Sync sends (SEND_MESSAGE_V2) straight to one broker, no name server involved.
    Send(SendArgs),
    /// Act as a test broker towards name servers: register with every one of them, again
    /// every 30 s, and unregister on exit. Nothing listens at the broker address.
    Register(RegisterArgs),
    /// RocketMQ's benchmark Producer through Bolide's client: name-server routes, queue
    /// selection, retries; self-checking bodies.
    Producer(ProducerArgs),
    /// RocketMQ's benchmark Consumer through Bolide's push consumer, verifying every body.
    Consumer(ConsumerArgs),
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
    /// Stop after this many queries (answered or failed) instead.
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Register a fake broker with the topic first.
    #[arg(long)]
    register: bool,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

#[derive(Parser, Debug)]
struct SendArgs {
    /// Broker address.
    #[arg(short = 'b', long = "broker", default_value = "127.0.0.1:10911")]
    broker: String,
    /// Topic to send to; an unknown one is auto-created through TBW102 if the broker allows.
    #[arg(short = 't', long, default_value = "BenchmarkTest")]
    topic: String,
    /// Worker tasks, each with one send in flight (RocketMQ's `-w`).
    #[arg(short = 'w', long, default_value_t = 64)]
    workers: usize,
    /// Body size in bytes, sequence number included (RocketMQ's `-s`).
    #[arg(short = 's', long = "size", default_value_t = 128)]
    body_bytes: usize,
    /// Queues to send to, round-robin from queue 0; the topic needs that many write queues.
    #[arg(long, default_value_t = 4)]
    queues: u32,
    /// Connections to the broker; workers share them round-robin.
    #[arg(short = 'c', long, default_value_t = 1)]
    connections: usize,
    /// Give every message a KEYS property, its sequence number, which the broker indexes.
    #[arg(short = 'k', long = "keys")]
    keys: bool,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop after this many sends (answered or failed) instead.
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Per-send timeout in milliseconds (RocketMQ's `sendMsgTimeout`).
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

/// Limits that keep a typo from starting a fork bomb of tasks or allocating gigabytes.
const MAX_CONNECTIONS: usize = 4096;
const MAX_PIPELINE: usize = 1024;
const MAX_WORKERS: usize = 4096;
/// RocketMQ's default `maxMessageSize`: a larger body would be refused anyway.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Room for the sequence number each body starts with.
const MIN_BODY_BYTES: usize = SEQUENCE_BYTES;
const SEQUENCE_BYTES: usize = size_of::<u64>();
const MAX_QUEUES: u32 = 65_536;
const MAX_TIMEOUT_MS: u64 = 600_000;
// A body and its header must fit in one frame, or the connection would be dropped.
const _: () = assert!(MAX_BODY_BYTES <= MAX_FRAME_BYTES / 2);
// A queue id is an i32 on the wire.
const _: () = assert!(MAX_QUEUES <= i32::MAX as u32);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    match cli.command {
        Command::Route(args) => runtime.block_on(route(args)),
        Command::Send(args) => runtime.block_on(send(args)),
        Command::Register(args) => runtime.block_on(register(args)),
        Command::Producer(args) => runtime.block_on(bench::run_producer(
            &args,
            &mut std::io::stdout(),
            bench::interrupted(),
        )),
        Command::Consumer(args) => runtime.block_on(bench::run_consumer(
            &args,
            &mut std::io::stdout(),
            bench::interrupted(),
        )),
    }
}

/// Reports on stdout once a second until `--count` requests finished, or (without
/// `--count`) `duration_s` passed since `started`, or Ctrl-C/SIGTERM.
async fn report(
    totals: &Totals,
    started: Instant,
    duration_s: u64,
    line: impl FnMut(&Snapshot, &Snapshot) -> String,
) -> anyhow::Result<()> {
    let deadline = totals
        .limit()
        .is_none()
        .then(|| started + Duration::from_secs(duration_s));
    let mut out = std::io::stdout();
    report_until(
        &mut out,
        deadline,
        bench::interrupted(),
        || totals.snapshot(),
        |now| totals.all_finished(now),
        line,
    )
    .await?;
    Ok(())
}

/// Stops the workers and waits for their requests in flight.
async fn stop_and_join(totals: &Totals, workers: Vec<JoinHandle<()>>) -> anyhow::Result<()> {
    totals.stop();
    for worker in workers {
        worker.await.context("a worker panicked")?;
    }
    Ok(())
}

/// Prints the run's JSON line: `summary`'s fields, then the failures and the successes'
/// latency percentiles in milliseconds.
#[allow(clippy::print_stdout)]
fn print_summary(mut summary: serde_json::Value, totals: &Totals) {
    if let Some(fields) = summary.as_object_mut() {
        totals.add_summary_fields(fields);
    }
    println!("{summary}");
}

/// Successes per second over the whole run.
fn rate(count: u64, elapsed: Duration) -> f64 {
    (count as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)).round()
}

/// A response's code and remark, as the broker or name server gave them.
fn describe_response(response: &RemotingCommand) -> String {
    format!(
        "response code {}, remark {:?}",
        response.code,
        response.remark_text()
    )
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

    let totals = Totals::new(args.count)?;
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
                Recorder::new(&totals)?,
            )));
        }
    }
    report(&totals, started, args.duration, |last, now| {
        format!(
            "Query TPS: {} | Total: {} | Failed: {}",
            now.rate_since(last),
            now.succeeded,
            now.failed()
        )
    })
    .await?;
    stop_and_join(&totals, workers).await?;
    let elapsed = started.elapsed();
    let queries = totals.snapshot().succeeded;
    let fields = serde_json::json!({
        "benchmark": "route",
        "connections": args.connections,
        "pipeline": args.pipeline,
        "seconds": elapsed.as_secs_f64(),
        "queries": queries,
        "qps": rate(queries, elapsed),
    });
    print_summary(fields, &totals);
    Ok(())
}

async fn query_loop(
    client: Arc<RemotingClient>,
    addr: String,
    topic: String,
    timeout: Duration,
    mut recorder: Recorder,
) {
    let fields = GetRouteInfoRequestHeader {
        topic,
        accept_standard_json_only: None,
    }
    .to_ext_fields();
    while recorder.next_ticket().is_some() {
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, fields.clone());
        let sent = Instant::now();
        match client.invoke(&addr, request, timeout).await {
            Ok(response) if response.code == ResponseCode::SUCCESS && !response.body.is_empty() => {
                recorder.succeeded(sent.elapsed());
            }
            Ok(response) => recorder.response_failed(|| describe_response(&response)),
            Err(error) => recorder.request_failed(|| error.to_string()),
        }
    }
}

/// The producer group RocketMQ's benchmark producer uses.
const BENCHMARK_PRODUCER_GROUP: &str = "benchmark_producer";
/// The template topic for auto-creation, and the queue count asked of it.
const DEFAULT_TOPIC: &str = "TBW102";
const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;
/// After a send that got no response, a worker waits this long: a refused connection fails
/// at once, and without a pause every worker would spin on reconnecting.
const REQUEST_FAILURE_PAUSE: Duration = Duration::from_secs(1);

async fn send(args: SendArgs) -> anyhow::Result<()> {
    check_send_args(&args)?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let clients: Vec<Arc<RemotingClient>> = (0..args.connections)
        .map(|_| Arc::new(RemotingClient::new(ClientConfig::default())))
        .collect();
    let template = Arc::new(MessageTemplate::new(&args));
    warm_up(&clients, &args.broker, &template, timeout).await?;

    let totals = Totals::new(args.count)?;
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.workers);
    for index in 0..args.workers {
        workers.push(tokio::spawn(send_loop(
            clients[index % clients.len()].clone(),
            args.broker.clone(),
            template.clone(),
            timeout,
            Recorder::new(&totals)?,
        )));
    }
    report(&totals, started, args.duration, send_line).await?;
    stop_and_join(&totals, workers).await?;
    let elapsed = started.elapsed();
    let snapshot = totals.snapshot();
    let fields = serde_json::json!({
        "benchmark": "send",
        "topic": args.topic,
        "workers": args.workers,
        "connections": args.connections,
        "body_bytes": args.body_bytes,
        "seconds": elapsed.as_secs_f64(),
        "sent": snapshot.succeeded,
        "send_failed": snapshot.request_failed,
        "response_failed": snapshot.response_failed,
        "tps": rate(snapshot.succeeded, elapsed),
    });
    print_summary(fields, &totals);
    Ok(())
}

fn check_send_args(args: &SendArgs) -> anyhow::Result<()> {
    if args.workers == 0 || args.workers > MAX_WORKERS {
        bail!("--workers must be 1..={MAX_WORKERS}");
    }
    if args.connections == 0 || args.connections > MAX_CONNECTIONS.min(args.workers) {
        bail!("--connections must be 1..={MAX_CONNECTIONS} and at most --workers");
    }
    if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&args.body_bytes) {
        bail!("--size must be {MIN_BODY_BYTES}..={MAX_BODY_BYTES} bytes");
    }
    if args.queues == 0 || args.queues > MAX_QUEUES {
        bail!("--queues must be 1..={MAX_QUEUES}");
    }
    if args.timeout_ms == 0 || args.timeout_ms > MAX_TIMEOUT_MS {
        bail!("--timeout-ms must be 1..={MAX_TIMEOUT_MS}");
    }
    Ok(())
}

/// RocketMQ's benchmark line. As in its `Producer`, the maximum RT and the failures are
/// counted from the start of the run, the TPS and average RT over the last second.
fn send_line(last: &Snapshot, now: &Snapshot) -> String {
    format!(
        "Send TPS: {} Max RT(ms): {} Average RT(ms): {:7.3} Send Failed: {} Response Failed: {}",
        now.rate_since(last),
        now.latency_max_us / 1000,
        now.average_ms_since(last),
        now.request_failed,
        now.response_failed
    )
}

/// What every message of a run shares; [`MessageTemplate::request`] makes one send of it.
#[derive(Debug)]
struct MessageTemplate {
    header: SendMessageRequestHeaderV2,
    queues: u32,
    keys: bool,
    /// `--size` bytes of filler; each message overwrites the first eight with its sequence.
    body: Bytes,
}

impl MessageTemplate {
    fn new(args: &SendArgs) -> Self {
        let header = SendMessageRequestHeaderV2 {
            producer_group: BENCHMARK_PRODUCER_GROUP.into(),
            topic: args.topic.clone(),
            default_topic: DEFAULT_TOPIC.into(),
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: Some(String::new()),
            ..SendMessageRequestHeaderV2::default()
        };
        MessageTemplate {
            header,
            queues: args.queues,
            keys: args.keys,
            body: Bytes::from(vec![b'a'; args.body_bytes]),
        }
    }

    /// Message number `sequence`: queue `sequence % --queues`, born now, and a body that
    /// starts with the sequence as a big-endian u64.
    fn request(&self, sequence: u64) -> RemotingCommand {
        let mut header = self.header.clone();
        // Below MAX_QUEUES, which fits an i32.
        header.queue_id = (sequence % u64::from(self.queues)) as i32;
        header.born_timestamp = now_ms();
        if self.keys {
            let properties = Properties::from_iter([(property::KEYS, sequence.to_string())]);
            header.properties = Some(encode_properties(&properties));
        }
        let mut body = BytesMut::from(&self.body[..]);
        body[..SEQUENCE_BYTES].copy_from_slice(&sequence.to_be_bytes());
        RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, header.to_ext_fields())
            .with_body(body.freeze())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Sends one uncounted message, sequence 0, on each connection before the clock starts: it
/// opens the connections, lets the broker auto-create the topic, and turns a run that could
/// only fail into an error that quotes the broker's answer.
async fn warm_up(
    clients: &[Arc<RemotingClient>],
    addr: &str,
    template: &MessageTemplate,
    timeout: Duration,
) -> anyhow::Result<()> {
    for client in clients {
        let response = client
            .invoke(addr, template.request(0), timeout)
            .await
            .with_context(|| format!("the warm-up send to {addr} failed"))?;
        if response.code != ResponseCode::SUCCESS {
            bail!(
                "broker {addr} refused the warm-up send to topic {}: {}",
                template.header.topic,
                describe_response(&response)
            );
        }
    }
    Ok(())
}

/// One worker: sync sends until the run ends. Sequence numbers start at 1, after the warm-up.
async fn send_loop(
    client: Arc<RemotingClient>,
    addr: String,
    template: Arc<MessageTemplate>,
    timeout: Duration,
    mut recorder: Recorder,
) {
    while let Some(ticket) = recorder.next_ticket() {
        let request = template.request(ticket + 1);
        let sent = Instant::now();
        match client.invoke(&addr, request, timeout).await {
            Ok(response) if response.code == ResponseCode::SUCCESS => {
                recorder.succeeded(sent.elapsed());
            }
            Ok(response) => recorder.response_failed(|| describe_response(&response)),
            Err(error) => {
                recorder.request_failed(|| error.to_string());
                tokio::time::sleep(REQUEST_FAILURE_PAUSE).await;
            }
        }
    }
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
            () = bench::interrupted() => break,
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

//! `mqbench producer`: RocketMQ's benchmark `Producer` on Bolide's client library. Sends go
//! through [`Producer`] (name-server routes, queue selection, retries), so this measures
//! what an application sees, not the broker alone (that is `mqbench send`).
//!
//! Options keep RocketMQ 4.x's letters (`-n -t -w -s -k -p -l -m -a -q -d -e -y`), with
//! `true`/`false` values where RocketMQ takes them. Bodies are [`super::body`]'s, so that
//! `mqbench consumer` can verify each one. As in RocketMQ, bodies are never compressed.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{ArgAction, Parser};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::body::{BodyFactory, CHECK_PROPERTY};
use super::run::{Recorder, Snapshot, Totals, human_time, per_second, report_until};
use crate::producer::{MAX_MESSAGE_BYTES, Message, Producer, ProducerError, SendStatus, now_ms};

/// RocketMQ's benchmark producer group.
pub const PRODUCER_GROUP: &str = "benchmark_producer";
/// Limits that keep a typo from starting thousands of tasks or allocating gigabytes.
pub const MAX_THREADS: usize = 4096;
const MAX_TIMEOUT_MS: u64 = 600_000;
/// Properties travel in a header field whose length is a u16 on the wire.
const MAX_PROPERTY_BYTES: usize = 16 * 1024;
/// Delay levels a 4.x broker knows by default (1 s … 2 h).
const MAX_DELAY_LEVEL: i32 = 18;
/// Sends in flight in async mode: RocketMQ's benchmark stops queueing async sends beyond
/// this many (`MAX_LENGTH_ASYNC_QUEUE`).
pub const ASYNC_MAX_IN_FLIGHT: usize = 10_000;
/// After a send that got no response, a worker waits this long: a refused connection fails
/// at once, and without a pause every worker would spin on reconnecting.
const REQUEST_FAILURE_PAUSE: Duration = Duration::from_secs(1);

#[derive(Parser, Debug, Clone)]
#[command(
    name = "producer",
    about = "RocketMQ's benchmark producer through Bolide's client; runs until Ctrl-C \
             unless --duration or --count is given"
)]
pub struct ProducerArgs {
    /// Name servers, `ip:port;ip:port`.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
    #[arg(short = 't', long = "topic", default_value = "BenchmarkTest")]
    pub topic: String,
    /// Sending tasks, each with one sync send in flight (ignored with `-y true`, as
    /// RocketMQ does).
    #[arg(short = 'w', long = "threadCount", default_value_t = 64)]
    pub threads: usize,
    /// Body size in bytes, the 24-byte verification header included (a shorter body
    /// carries its check in a property instead).
    #[arg(short = 's', long = "messageSize", default_value_t = 128)]
    pub body_bytes: usize,
    /// Add user properties `prop0=hello<n>, prop1=<n>, ...` until their names and values
    /// pass this many bytes, as RocketMQ does; 0 = none.
    #[arg(short = 'p', long = "propertySize", default_value_t = 0)]
    pub property_bytes: usize,
    /// Give every message a key (the send time in seconds, as RocketMQ does).
    #[arg(short = 'k', long = "keyEnable", action = ArgAction::Set, default_value_t = false)]
    pub keys: bool,
    /// Tag messages `tag<now_ms % N>`; 0 = no tags.
    #[arg(short = 'l', long = "tagCount", default_value_t = 0)]
    pub tag_count: u32,
    /// Message trace: not implemented by Bolide's producer, so only `false` is accepted.
    #[arg(short = 'm', long = "msgTraceEnable", action = ArgAction::Set, default_value_t = false)]
    pub trace: bool,
    /// ACL signing: not implemented by Bolide's client, so only `false` is accepted.
    #[arg(short = 'a', long = "aclEnable", action = ArgAction::Set, default_value_t = false)]
    pub acl: bool,
    /// Stop after this many sends (succeeded or failed); 0 = no limit. RocketMQ's `-q`.
    #[arg(short = 'q', long = "count", visible_alias = "messageQuantity")]
    pub count: Option<u64>,
    /// Seconds to run.
    #[arg(long, conflicts_with = "count")]
    pub duration: Option<u64>,
    /// Send delayed messages, at `-e`'s level.
    #[arg(short = 'd', long = "delayEnable", action = ArgAction::Set, default_value_t = false)]
    pub delay: bool,
    #[arg(short = 'e', long = "delayLevel", default_value_t = 1)]
    pub delay_level: i32,
    /// Asynchronous sends from one task, up to 10,000 in flight.
    #[arg(short = 'y', long = "asyncEnable", action = ArgAction::Set, default_value_t = false)]
    pub async_send: bool,
    /// Time one send may take, retries included.
    #[arg(long = "timeout-ms", default_value_t = 3000)]
    pub timeout_ms: u64,
}

impl ProducerArgs {
    /// Parses `mqbench producer`'s arguments (without the subcommand's name); for callers
    /// that do not depend on clap, such as the integration tests.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let name = std::ffi::OsString::from("producer");
        Self::try_parse_from(std::iter::once(name).chain(args.into_iter().map(Into::into)))
    }

    /// Refuses what Bolide cannot do and values out of range, before anything connects.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.trace {
            bail!("-m true: message trace is not implemented by Bolide's producer");
        }
        if self.acl {
            bail!("-a true: ACL signing is not implemented by Bolide's client");
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            bail!("-w must be 1..={MAX_THREADS}");
        }
        if !(1..=MAX_MESSAGE_BYTES).contains(&self.body_bytes) {
            bail!("-s must be 1..={MAX_MESSAGE_BYTES} bytes");
        }
        if self.property_bytes > MAX_PROPERTY_BYTES {
            bail!("-p must be 0..={MAX_PROPERTY_BYTES}");
        }
        if self.delay && !(1..=MAX_DELAY_LEVEL).contains(&self.delay_level) {
            bail!("-e must be 1..={MAX_DELAY_LEVEL}");
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            bail!("--timeout-ms must be 1..={MAX_TIMEOUT_MS}");
        }
        if self.duration == Some(0) {
            bail!("--duration must be positive");
        }
        Ok(())
    }

    /// `--count`, with RocketMQ's 0 meaning "no limit".
    fn limit(&self) -> Option<u64> {
        self.count.filter(|count| *count > 0)
    }

    /// Sending tasks: one in async mode, as RocketMQ's benchmark forces.
    fn tasks(&self) -> usize {
        if self.async_send { 1 } else { self.threads }
    }
}

/// What every message of a run shares.
#[derive(Debug)]
struct Template {
    topic: String,
    bodies: BodyFactory,
    keys: bool,
    tag_count: u32,
    delay_level: Option<i32>,
    property_bytes: usize,
}

impl Template {
    fn message(&self, sequence: u64) -> Message {
        let mut message = Message::new(self.topic.clone(), self.bodies.body(sequence));
        if let Some(check) = self.bodies.check_property(sequence) {
            message = message.with_property(CHECK_PROPERTY, check);
        }
        let now = now_ms();
        if self.keys {
            message = message.with_key((now / 1000).to_string());
        }
        if let Some(level) = self.delay_level {
            message = message.with_delay_level(level);
        }
        if self.tag_count > 0 {
            message = message.with_tags(format!("tag{}", now % i64::from(self.tag_count)));
        }
        if self.property_bytes > 0 {
            message = with_filler_properties(message, self.property_bytes, sequence);
        }
        message
    }
}

/// RocketMQ's `-p`: pairs `prop<i>=hello<n>`, `prop<i+1>=<n>` until the names and values
/// pass `property_bytes`.
fn with_filler_properties(mut message: Message, property_bytes: usize, seed: u64) -> Message {
    let mut value = seed % 100;
    let mut index = 0;
    let mut size = 0;
    while size <= property_bytes {
        let (first, second) = (format!("prop{index}"), format!("prop{}", index + 1));
        let (first_value, second_value) = (format!("hello{value}"), value.to_string());
        size += first.len() + second.len() + first_value.len() + second_value.len();
        message = message
            .with_property(first, first_value)
            .with_property(second, second_value);
        index += 2;
        value += 2;
    }
    message
}

/// Runs the benchmark, writing RocketMQ's start line, a line a second and a final JSON line
/// to `out`; returns early when `interrupt` completes (the binary passes Ctrl-C/SIGTERM).
pub async fn run_producer(
    args: &ProducerArgs,
    out: &mut (dyn Write + Send),
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    args.check()?;
    writeln!(
        out,
        "topic: {}, threadCount: {}, messageSize: {}, keyEnable: {}, propertySize: {}, \
         tagCount: {}, traceEnable: {}, aclEnable: {}, messageQuantity: {}, delayEnable: {}, \
         delayLevel: {}, asyncEnable: {}",
        args.topic,
        args.tasks(),
        args.body_bytes,
        args.keys,
        args.property_bytes,
        args.tag_count,
        args.trace,
        args.acl,
        args.limit().unwrap_or(0),
        args.delay,
        args.delay_level,
        args.async_send
    )?;
    let producer = Producer::builder()
        .namesrv_addr(&args.namesrv)
        .group(PRODUCER_GROUP)
        .send_timeout(Duration::from_millis(args.timeout_ms))
        // RocketMQ's benchmark sets compressMsgBodyOverHowmuch to Integer.MAX_VALUE.
        .compress_over_bytes(usize::MAX)
        .build()?;
    producer.start().await?;
    let outcome = drive(args, &producer, out, interrupt).await;
    producer.shutdown().await;
    outcome
}

async fn drive(
    args: &ProducerArgs,
    producer: &Producer,
    out: &mut (dyn Write + Send),
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let template = Arc::new(Template {
        topic: args.topic.clone(),
        bodies: BodyFactory::new(args.body_bytes)?,
        keys: args.keys,
        tag_count: args.tag_count,
        delay_level: args.delay.then_some(args.delay_level),
        property_bytes: args.property_bytes,
    });
    let totals = Totals::new(args.limit())?;
    warm_up(producer, &template, &totals).await?;
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.tasks());
    for _ in 0..args.tasks() {
        let recorder = Recorder::new(&totals)?;
        let (producer, template) = (producer.clone(), template.clone());
        workers.push(if args.async_send {
            tokio::spawn(async_loop(producer, template, recorder))
        } else {
            tokio::spawn(sync_loop(producer, template, recorder))
        });
    }
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let ending = report_until(
        out,
        deadline,
        interrupt,
        || totals.snapshot(),
        |now| totals.all_finished(now),
        producer_line,
    )
    .await?;
    stop_and_join(&totals, workers).await?;
    let elapsed = started.elapsed();
    let snapshot = totals.snapshot();
    let mut summary = serde_json::Map::new();
    summary.insert("benchmark".into(), "producer".into());
    summary.insert("topic".into(), args.topic.clone().into());
    summary.insert("threads".into(), args.tasks().into());
    summary.insert("async".into(), args.async_send.into());
    summary.insert("body_bytes".into(), args.body_bytes.into());
    summary.insert("producer_id".into(), template.bodies.producer_id().into());
    summary.insert("ended_by".into(), ending.name().into());
    summary.insert("seconds".into(), elapsed.as_secs_f64().into());
    summary.insert("sent".into(), snapshot.succeeded.into());
    summary.insert("send_failed".into(), snapshot.request_failed.into());
    summary.insert("response_failed".into(), snapshot.response_failed.into());
    // The warm-up send happened before the clock started; it is in `sent`, not the rate.
    let timed_sent = snapshot.succeeded.saturating_sub(1);
    summary.insert("tps".into(), per_second(timed_sent, elapsed).into());
    totals.add_summary_fields(&mut summary);
    writeln!(out, "{}", serde_json::Value::Object(summary))?;
    out.flush()?;
    Ok(())
}

/// Sends ticket 0 before the clock starts: it looks the route up, lets the broker create the
/// topic, and turns a run that could only fail into an error that says why. It is counted
/// (so `--count` stays exact) but not timed.
async fn warm_up(
    producer: &Producer,
    template: &Template,
    totals: &Arc<Totals>,
) -> anyhow::Result<()> {
    let recorder = Recorder::new(totals)?;
    let Some(ticket) = recorder.next_ticket() else {
        return Ok(());
    };
    producer
        .send(template.message(ticket))
        .await
        .with_context(|| format!("the first send to topic {} failed", template.topic))?;
    recorder.succeeded_untimed();
    Ok(())
}

/// Stops handing out tickets and waits for the sends in flight.
async fn stop_and_join(totals: &Totals, workers: Vec<JoinHandle<()>>) -> anyhow::Result<()> {
    totals.stop();
    for worker in workers {
        worker.await.context("a sending task panicked")?;
    }
    Ok(())
}

/// RocketMQ 5's benchmark line (4.x prints the same fields without the bars). As in
/// RocketMQ, the maximum RT and the failures count from the start of the run; the TPS and
/// average RT cover the last second.
fn producer_line(last: &Snapshot, now: &Snapshot) -> String {
    format!(
        "Current Time: {} | Send TPS: {} | Max RT(ms): {} | Average RT(ms): {:7.3} | \
         Send Failed: {} | Response Failed: {}",
        human_time(now_ms()),
        now.rate_since(last),
        now.latency_max_us / 1000,
        now.average_ms_since(last),
        now.request_failed,
        now.response_failed
    )
}

/// Records one send's outcome; true when the sender should pause before the next.
fn record(
    recorder: &mut Recorder,
    outcome: Result<SendStatus, ProducerError>,
    began: Instant,
) -> bool {
    match outcome {
        Ok(SendStatus::SendOk) => {
            recorder.succeeded(began.elapsed());
            false
        }
        // Stored but not as promised (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT,
        // SLAVE_NOT_AVAILABLE): not a success for a benchmark of what is acknowledged.
        Ok(status) => {
            recorder.response_failed(|| format!("send status {status}"));
            false
        }
        // The broker answered, but not with success: RocketMQ's "Response Failed".
        Err(error @ ProducerError::Broker { .. }) => {
            recorder.response_failed(|| error.to_string());
            false
        }
        Err(error) => {
            recorder.request_failed(|| error.to_string());
            true
        }
    }
}

/// One sync sender: one send in flight until the run ends.
async fn sync_loop(producer: Producer, template: Arc<Template>, mut recorder: Recorder) {
    while let Some(ticket) = recorder.next_ticket() {
        let message = template.message(ticket);
        let began = Instant::now();
        let outcome = producer.send(message).await.map(|r| r.send_status);
        if record(&mut recorder, outcome, began) {
            tokio::time::sleep(REQUEST_FAILURE_PAUSE).await;
        }
    }
}

/// The async sender: issues sends without waiting for them, up to [`ASYNC_MAX_IN_FLIGHT`],
/// and records each outcome as it is reaped; returns once all of them have finished.
async fn async_loop(producer: Producer, template: Arc<Template>, mut recorder: Recorder) {
    let permits = Arc::new(Semaphore::new(ASYNC_MAX_IN_FLIGHT));
    let mut sends = tokio::task::JoinSet::new();
    while let Some(ticket) = recorder.next_ticket() {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let send = producer.send_async(template.message(ticket));
        sends.spawn(async move {
            let began = Instant::now();
            let outcome = send.await.map(|r| r.send_status);
            drop(permit);
            (outcome, began)
        });
        // Reap finished sends so that the set stays as small as what is in flight.
        while let Some(finished) = sends.try_join_next() {
            reap(&mut recorder, finished);
        }
    }
    while let Some(finished) = sends.join_next().await {
        reap(&mut recorder, finished);
    }
}

type AsyncOutcome = (Result<SendStatus, ProducerError>, Instant);

fn reap(recorder: &mut Recorder, finished: Result<AsyncOutcome, tokio::task::JoinError>) {
    match finished {
        // Async sends are not paused after a failure: RocketMQ's callback mode does not.
        Ok((outcome, began)) => {
            record(recorder, outcome, began);
        }
        Err(error) => recorder.request_failed(|| format!("a send task failed: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ProducerArgs, clap::Error> {
        ProducerArgs::try_from_args(args)
    }

    #[test]
    fn defaults_are_rocketmqs() {
        let args = parse(&["-n", "10.0.0.1:9876"]).unwrap();
        assert_eq!(args.namesrv, "10.0.0.1:9876");
        assert_eq!(args.topic, "BenchmarkTest");
        assert_eq!((args.threads, args.body_bytes), (64, 128));
        assert!(!args.keys && !args.async_send && !args.delay);
        assert_eq!(
            (args.count, args.duration, args.delay_level),
            (None, None, 1)
        );
        args.check().unwrap();
    }

    #[test]
    fn rocketmq_letters_and_boolean_values_parse() {
        let args = parse(&[
            "-t", "T", "-w", "8", "-s", "1024", "-k", "true", "-l", "3", "-d", "true", "-e", "2",
            "-y", "true", "-q", "500",
        ])
        .unwrap();
        assert_eq!(
            (args.topic.as_str(), args.threads, args.body_bytes),
            ("T", 8, 1024)
        );
        assert!(args.keys && args.delay && args.async_send);
        assert_eq!((args.tag_count, args.delay_level), (3, 2));
        assert_eq!((args.limit(), args.tasks()), (Some(500), 1));
        assert_eq!(parse(&["--count", "0"]).unwrap().limit(), None);
        assert_eq!(parse(&["--messageQuantity", "9"]).unwrap().limit(), Some(9));
    }

    #[test]
    fn unsupported_and_out_of_range_options_are_refused() {
        let refused = |args: &[&str]| parse(args).unwrap().check().unwrap_err().to_string();
        assert!(refused(&["-m", "true"]).contains("trace"));
        assert!(refused(&["-a", "true"]).contains("ACL"));
        assert!(refused(&["-w", "0"]).contains("-w"));
        assert!(refused(&["-s", "0"]).contains("-s"));
        assert!(refused(&["-p", "100000"]).contains("-p"));
        parse(&["-s", "1"]).unwrap().check().unwrap();
        assert!(refused(&["-d", "true", "-e", "19"]).contains("-e"));
        // Options RocketMQ 4.x does not have, and conflicting limits, fail at parsing.
        assert!(parse(&["-c", "true"]).is_err());
        assert!(parse(&["--count", "5", "--duration", "5"]).is_err());
        assert!(
            parse(&["-k"]).is_err(),
            "-k takes true/false as in RocketMQ"
        );
    }

    #[test]
    fn property_size_adds_rocketmqs_filler_pairs() {
        let message = with_filler_properties(Message::new("T", "b"), 20, 3);
        let properties: Vec<_> = message
            .properties
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        // 5+5+6+1 = 17 bytes, not past 20; then 5+5+6+1 more.
        assert_eq!(
            properties,
            ["prop0=hello3", "prop1=3", "prop2=hello5", "prop3=5"]
        );
    }

    #[test]
    fn line_has_rocketmqs_fields() {
        let totals = Totals::new(None).unwrap();
        let first = totals.snapshot();
        let line = producer_line(&first, &totals.snapshot());
        assert!(line.starts_with("Current Time: "));
        assert!(line.contains(" | Send TPS: 0 | Max RT(ms): 0 | Average RT(ms):   0.000 | "));
        assert!(line.ends_with("Send Failed: 0 | Response Failed: 0"));
    }
}

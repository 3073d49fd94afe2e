//! `mqbench consumer`: RocketMQ's benchmark `Consumer` on Bolide's [`PushConsumer`], which
//! also verifies every body [`super::producer`] wrote (see [`super::body`]): it counts
//! distinct messages, duplicates, corrupt bodies and bodies from elsewhere.
//!
//! Options keep RocketMQ 4.x's letters (`-n -t -w -g -p -f -e -r -m -a`). `-e` names a file
//! holding the filter expression, as in RocketMQ, or (when no such file exists) is the
//! expression itself; `-e` alone filters by tag (RocketMQ needs `-f TAG` too).
//!
//! For consuming a backlog: `--from-first` starts a new group at the first offset, and the
//! run ends after `--count` distinct valid messages or `--idle` seconds without one.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{ArgAction, Parser};
use parking_lot::Mutex;
use rand::Rng;

use super::body::{CHECK_PROPERTY, Verdict, Verifier};
use super::run::{Ending, Sample, human_time, per_second, report_until};
use crate::consumer::{ConsumeFromWhere, ConsumeStatus, PushConsumer, StoredMessage};
use crate::producer::now_ms;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "consumer",
    about = "RocketMQ's benchmark consumer through Bolide's client, verifying every body; \
             runs until Ctrl-C unless --duration or --count is given"
)]
pub struct ConsumerArgs {
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
    /// Consumer group (with `-p true`, the prefix of one).
    #[arg(short = 'g', long = "group", default_value = "benchmark_consumer")]
    pub group: String,
    /// Append `_<now_ms % 100>` to the group, as RocketMQ does, for a fresh group.
    #[arg(short = 'p', long = "suffix", action = ArgAction::Set, default_value_t = false)]
    pub suffix: bool,
    /// Filter type: `TAG` (the default with `-e`); SQL92 is not implemented.
    #[arg(short = 'f', long = "filterType")]
    pub filter_type: Option<String>,
    /// The tag expression (`TagA || TagB`), or a file holding it as in RocketMQ.
    #[arg(short = 'e', long = "expression")]
    pub expression: Option<String>,
    /// Share of messages answered RECONSUME_LATER, 0.0..=1.0.
    #[arg(short = 'r', long = "failRate", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Consume threads (RocketMQ's default 20). Accepted for compatibility but not applied:
    /// Bolide's push consumer consumes the messages of each pull (up to 32 per queue) at once
    /// on tokio's blocking pool.
    #[arg(short = 'w', long = "threadCount", default_value_t = 20)]
    pub threads: usize,
    /// Message trace: not implemented by Bolide's consumer, so only `false` is accepted.
    #[arg(short = 'm', long = "msgTraceEnable", action = ArgAction::Set, default_value_t = false)]
    pub trace: bool,
    /// ACL signing: not implemented by Bolide's client, so only `false` is accepted.
    #[arg(short = 'a', long = "aclEnable", action = ArgAction::Set, default_value_t = false)]
    pub acl: bool,
    /// Start a new group at the first offset instead of RocketMQ's default, the last one.
    #[arg(long = "from-first")]
    pub from_first: bool,
    /// Stop once this many distinct valid messages have been consumed.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds (with `--count` or `--idle`: whichever comes first).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Stop once no message has arrived for this many seconds (counted from the start until
    /// the first one): the end of a backlog.
    #[arg(long = "idle")]
    pub idle_seconds: Option<u64>,
}

impl ConsumerArgs {
    /// Parses `mqbench consumer`'s arguments (without the subcommand's name); for callers
    /// that do not depend on clap, such as the integration tests.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let name = std::ffi::OsString::from("consumer");
        Self::try_parse_from(std::iter::once(name).chain(args.into_iter().map(Into::into)))
    }

    /// Refuses what Bolide cannot do and values out of range, before anything connects.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.trace {
            bail!("-m true: message trace is not implemented by Bolide's consumer");
        }
        if self.acl {
            bail!("-a true: ACL signing is not implemented by Bolide's client");
        }
        if self.threads == 0 || self.threads > super::producer::MAX_THREADS {
            bail!("-w must be 1..={}", super::producer::MAX_THREADS);
        }
        if !(0.0..=1.0).contains(&self.fail_rate) {
            bail!("-r must be 0.0..=1.0");
        }
        if self.count == Some(0) || self.duration == Some(0) || self.idle_seconds == Some(0) {
            bail!("--count, --duration and --idle must be positive");
        }
        Ok(())
    }

    /// The group, suffixed as RocketMQ's `-p true` does.
    fn group_name(&self) -> String {
        if self.suffix {
            format!("{}_{}", self.group, now_ms() % 100)
        } else {
            self.group.clone()
        }
    }

    /// The subscription expression: `-e`'s file's content, or `-e` itself when no such file
    /// exists; without `-e`, everything (`None`, subscribed as `*`).
    fn expression(&self) -> anyhow::Result<Option<String>> {
        let Some(expression) = &self.expression else {
            return Ok(None);
        };
        match self.filter_type.as_deref().unwrap_or("TAG") {
            "TAG" => {}
            "SQL92" => bail!("-f SQL92: SQL92 filters are not implemented by Bolide's consumer"),
            other => bail!("-f {other}: not a filter type (TAG or SQL92)"),
        }
        let path = std::path::Path::new(expression);
        let text = if path.is_file() {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the expression file {expression}"))?
        } else {
            expression.clone()
        };
        let text = text.trim();
        if text.is_empty() {
            bail!("-e: the tag expression is empty");
        }
        Ok(Some(text.to_owned()))
    }
}

/// What the listener shares with the reporter.
#[derive(Debug, Default)]
struct Stats {
    received: AtomicU64,
    failed: AtomicU64,
    born_to_consumer_total_ms: AtomicU64,
    store_to_consumer_total_ms: AtomicU64,
    /// Maxima since the last line, which resets them as RocketMQ does.
    born_to_consumer_max_ms: AtomicU64,
    store_to_consumer_max_ms: AtomicU64,
    /// Maxima over the whole run, for the summary.
    born_to_consumer_run_max_ms: AtomicU64,
    store_to_consumer_run_max_ms: AtomicU64,
    verifier: Mutex<Verifier>,
    distinct: AtomicU64,
    /// When the first and the latest message were consumed.
    window: Mutex<Option<(Instant, Instant)>>,
}

impl Stats {
    fn consume(&self, message: &StoredMessage, fail_rate: f64) -> ConsumeStatus {
        let now = now_ms();
        let at = Instant::now();
        self.received.fetch_add(1, Ordering::Relaxed);
        let born = u64::try_from(now - message.born_timestamp_ms).unwrap_or(0);
        let stored = u64::try_from(now - message.store_timestamp_ms).unwrap_or(0);
        self.born_to_consumer_total_ms
            .fetch_add(born, Ordering::Relaxed);
        self.store_to_consumer_total_ms
            .fetch_add(stored, Ordering::Relaxed);
        for (max, value) in [
            (&self.born_to_consumer_max_ms, born),
            (&self.store_to_consumer_max_ms, stored),
            (&self.born_to_consumer_run_max_ms, born),
            (&self.store_to_consumer_run_max_ms, stored),
        ] {
            max.fetch_max(value, Ordering::Relaxed);
        }
        {
            let mut window = self.window.lock();
            let first = window.map_or(at, |(first, _)| first);
            *window = Some((first, at));
        }
        if fail_rate > 0.0 && rand::rng().random_bool(fail_rate) {
            // Not verified now: it comes back from the retry topic and is checked then.
            self.failed.fetch_add(1, Ordering::Relaxed);
            return ConsumeStatus::Later;
        }
        let check = message.properties.get(CHECK_PROPERTY);
        if let Verdict::New(_) = self.verifier.lock().check(&message.body, check) {
            self.distinct.fetch_add(1, Ordering::Relaxed);
        }
        ConsumeStatus::Success
    }

    fn snapshot(&self) -> ConsumerSnapshot {
        ConsumerSnapshot {
            at: Instant::now(),
            received: self.received.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            distinct: self.distinct.load(Ordering::Relaxed),
            born_to_consumer_total_ms: self.born_to_consumer_total_ms.load(Ordering::Relaxed),
            store_to_consumer_total_ms: self.store_to_consumer_total_ms.load(Ordering::Relaxed),
            last_message_at: (*self.window.lock()).map(|(_, last)| last),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ConsumerSnapshot {
    at: Instant,
    received: u64,
    failed: u64,
    distinct: u64,
    born_to_consumer_total_ms: u64,
    store_to_consumer_total_ms: u64,
    /// When the latest message was consumed; `None` before the first.
    last_message_at: Option<Instant>,
}

impl Sample for ConsumerSnapshot {
    fn at(&self) -> Instant {
        self.at
    }
}

/// RocketMQ 5's consumer line (4.x prints the same figures without the bars), over the last
/// second; the maxima are since the previous line.
fn consumer_line(stats: &Stats, last: &ConsumerSnapshot, now: &ConsumerSnapshot) -> String {
    let received = now.received - last.received;
    let average = |total: u64, earlier: u64| {
        if received == 0 {
            0.0
        } else {
            (total - earlier) as f64 / received as f64
        }
    };
    format!(
        "Current Time: {} | Consume TPS: {} | AVG(B2C) RT(ms): {:7.3} | AVG(S2C) RT(ms): {:7.3} \
         | MAX(B2C) RT(ms): {} | MAX(S2C) RT(ms): {} | Consume Fail: {}",
        human_time(now_ms()),
        per_second(received, now.at - last.at),
        average(
            now.born_to_consumer_total_ms,
            last.born_to_consumer_total_ms
        ),
        average(
            now.store_to_consumer_total_ms,
            last.store_to_consumer_total_ms
        ),
        stats.born_to_consumer_max_ms.swap(0, Ordering::Relaxed),
        stats.store_to_consumer_max_ms.swap(0, Ordering::Relaxed),
        now.failed - last.failed
    )
}

/// Runs the benchmark consumer, writing RocketMQ's start lines, a line a second and a final
/// JSON line with the verification results to `out`; returns early when `interrupt`
/// completes (the binary passes Ctrl-C/SIGTERM).
pub async fn run_consumer(
    args: &ConsumerArgs,
    out: &mut (dyn Write + Send),
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    args.check()?;
    let expression = args.expression()?;
    let group = args.group_name();
    writeln!(
        out,
        "topic: {}, threadCount {} (not applied), group: {}, suffix: {}, filterType: {}, \
         expression: {}, msgTraceEnable: {}, aclEnable: {}, failRate: {}",
        args.topic,
        args.threads,
        group,
        args.suffix,
        expression.as_ref().map_or("null", |_| "TAG"),
        expression.as_deref().unwrap_or("null"),
        args.trace,
        args.acl,
        args.fail_rate
    )?;
    let stats = Arc::new(Stats::default());
    let listener_stats = stats.clone();
    let fail_rate = args.fail_rate;
    let consumer = PushConsumer::builder()
        .namesrv_addr(&args.namesrv)
        .group(&group)
        .instance_name(now_ms().to_string())
        .subscribe(&args.topic, expression.as_deref().unwrap_or("*"))
        .consume_from_where(if args.from_first {
            ConsumeFromWhere::FirstOffset
        } else {
            ConsumeFromWhere::LastOffset
        })
        .listener(move |messages| {
            let mut status = ConsumeStatus::Success;
            for message in messages {
                if listener_stats.consume(message, fail_rate) == ConsumeStatus::Later {
                    status = ConsumeStatus::Later;
                }
            }
            status
        })
        .build()?;
    let started = Instant::now();
    consumer.start().await?;
    writeln!(out, "Consumer Started.")?;
    out.flush()?;
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let goal = args.count;
    let reached = |now: &ConsumerSnapshot| goal.is_some_and(|goal| now.distinct >= goal);
    let idle = args.idle_seconds.map(Duration::from_secs);
    let idled = |now: &ConsumerSnapshot| {
        idle.is_some_and(|idle| {
            now.at
                .saturating_duration_since(now.last_message_at.unwrap_or(started))
                >= idle
        })
    };
    let ending = report_until(
        out,
        deadline,
        interrupt,
        || stats.snapshot(),
        |now| reached(now) || idled(now),
        |last, now| consumer_line(&stats, last, now),
    )
    .await;
    consumer.shutdown().await;
    let ending = match ending? {
        Ending::Done if !reached(&stats.snapshot()) => Ending::Idle,
        ending => ending,
    };
    write_summary(out, args, &group, &stats, started.elapsed(), ending)
}

fn write_summary(
    out: &mut (dyn Write + Send),
    args: &ConsumerArgs,
    group: &str,
    stats: &Stats,
    elapsed: Duration,
    ending: Ending,
) -> anyhow::Result<()> {
    let now = stats.snapshot();
    let report = stats.verifier.lock().report();
    // The rate while messages flowed: from the first message consumed to the latest.
    let consuming = (*stats.window.lock()).map_or(Duration::ZERO, |(first, last)| last - first);
    let average = |total: u64| {
        if now.received == 0 {
            0.0
        } else {
            total as f64 / now.received as f64
        }
    };
    let summary = serde_json::json!({
        "benchmark": "consumer",
        "topic": args.topic,
        "group": group,
        "ended_by": ending.name(),
        "seconds": elapsed.as_secs_f64(),
        "consume_seconds": consuming.as_secs_f64(),
        "received": now.received,
        "distinct": report.distinct,
        "duplicates": report.duplicates,
        "corrupt": report.corrupt,
        "foreign": report.foreign,
        "missing": report.missing,
        "producers": report.producers,
        "failed": now.failed,
        "first_problem": report.first_problem,
        "tps": per_second(now.received, consuming),
        "b2c_avg_ms": average(now.born_to_consumer_total_ms),
        "s2c_avg_ms": average(now.store_to_consumer_total_ms),
        "b2c_max_ms": stats.born_to_consumer_run_max_ms.load(Ordering::Relaxed),
        "s2c_max_ms": stats.store_to_consumer_run_max_ms.load(Ordering::Relaxed),
    });
    writeln!(out, "{summary}")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ConsumerArgs, clap::Error> {
        ConsumerArgs::try_from_args(args)
    }

    #[test]
    fn defaults_are_rocketmqs() {
        let args = parse(&["-n", "10.0.0.1:9876"]).unwrap();
        assert_eq!(args.namesrv, "10.0.0.1:9876");
        assert_eq!(
            (args.topic.as_str(), args.group.as_str()),
            ("BenchmarkTest", "benchmark_consumer")
        );
        assert!(!args.suffix && !args.from_first);
        assert_eq!(args.group_name(), "benchmark_consumer");
        assert_eq!(args.expression().unwrap(), None);
        args.check().unwrap();
    }

    #[test]
    fn suffix_and_tag_expression_file_as_rocketmq() {
        let dir = std::env::temp_dir().join(format!("mqbench-expr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("expr");
        std::fs::write(&file, "TagA || TagB\n").unwrap();
        let path = file.to_str().unwrap();
        let args = parse(&["-g", "G", "-p", "true", "-f", "TAG", "-e", path]).unwrap();
        assert_eq!(args.threads, 20);
        let group = args.group_name();
        let suffix: u64 = group.strip_prefix("G_").unwrap().parse().unwrap();
        assert!(suffix < 100);
        assert_eq!(args.expression().unwrap().as_deref(), Some("TagA || TagB"));
        let sql = parse(&["-f", "SQL92", "-e", path]).unwrap();
        assert!(sql.expression().unwrap_err().to_string().contains("SQL92"));
        let other = parse(&["-f", "XML", "-e", path]).unwrap();
        assert!(other.expression().is_err());
        // -f alone: everything; -e alone: a tag filter, from the file or literally.
        assert_eq!(parse(&["-f", "TAG"]).unwrap().expression().unwrap(), None);
        assert_eq!(
            parse(&["-e", path])
                .unwrap()
                .expression()
                .unwrap()
                .as_deref(),
            Some("TagA || TagB")
        );
        let literal = parse(&["-e", " TagC || TagD "]).unwrap();
        assert_eq!(
            literal.expression().unwrap().as_deref(),
            Some("TagC || TagD")
        );
        assert!(parse(&["-e", " "]).unwrap().expression().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsupported_and_out_of_range_options_are_refused() {
        let refused = |args: &[&str]| parse(args).unwrap().check().unwrap_err().to_string();
        assert!(refused(&["-w", "0"]).contains("-w"));
        assert!(refused(&["--idle", "0"]).contains("--idle"));
        assert!(refused(&["-m", "true"]).contains("trace"));
        assert!(refused(&["-a", "true"]).contains("ACL"));
        assert!(refused(&["-r", "1.5"]).contains("-r"));
        assert!(refused(&["--count", "0"]).contains("--count"));
        assert!(
            parse(&["-p"]).is_err(),
            "-p takes true/false as in RocketMQ"
        );
        // Limits together are allowed: whichever comes first.
        let args = parse(&["--count", "5", "--duration", "9", "--idle", "3", "-w", "8"]).unwrap();
        args.check().unwrap();
        assert_eq!(
            (args.count, args.duration, args.idle_seconds),
            (Some(5), Some(9), Some(3))
        );
        assert!(parse(&["--from-first"]).unwrap().from_first);
    }

    #[test]
    fn line_has_rocketmqs_fields_and_resets_the_maxima() {
        let stats = Stats::default();
        stats.born_to_consumer_max_ms.store(7, Ordering::Relaxed);
        let first = stats.snapshot();
        let line = consumer_line(&stats, &first, &stats.snapshot());
        assert!(line.starts_with("Current Time: "));
        assert!(line.contains(
            " | Consume TPS: 0 | AVG(B2C) RT(ms):   0.000 | AVG(S2C) RT(ms):   0.000 | \
             MAX(B2C) RT(ms): 7 | MAX(S2C) RT(ms): 0 | Consume Fail: 0"
        ));
        assert_eq!(stats.born_to_consumer_max_ms.load(Ordering::Relaxed), 0);
    }
}

//! The run machinery every mqbench load shares: tickets (so that `--count` is exact),
//! per-worker latency histograms merged into the run's, the once-a-second reporter and the
//! summary's latency fields.
//!
//! Workers take a ticket per request from [`Totals`] and record the outcome through their
//! own [`Recorder`]; the reporter only reads counters, so it never slows the workers down.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Latencies are recorded in microseconds, from 1 µs to a minute, to 3 significant digits.
const LATENCY_MAX_US: u64 = 60_000_000;
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// A worker merges its histogram into the run's after this many samples, so the shared lock
/// is taken once per thousand requests rather than once per request.
const MERGE_EVERY_SAMPLES: u64 = 1024;
/// How often the reporter looks at the counters: often enough that `--count` ends promptly.
const CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// How often the reporter prints its line.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A histogram for latencies in microseconds.
pub fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGNIFICANT_DIGITS)
        .map_err(|error| anyhow::anyhow!("cannot create a latency histogram: {error}"))
}

/// Microseconds of `latency`, at least 1 (the histogram's lowest value).
pub fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// What a run's workers share with its reporter. Counters only grow; the reporter prints the
/// difference between two snapshots.
#[derive(Debug)]
pub struct Totals {
    /// `--count`: how many tickets to hand out; `None` runs until stopped.
    limit: Option<u64>,
    issued: AtomicU64,
    succeeded: AtomicU64,
    /// No response: timeout, refused or closed connection (RocketMQ's "Send Failed").
    request_failed: AtomicU64,
    /// A response other than success (RocketMQ's "Response Failed").
    response_failed: AtomicU64,
    /// Sum and maximum of the timed successes' latencies, for the per-second line.
    latency_total_us: AtomicU64,
    timed: AtomicU64,
    latency_max_us: AtomicU64,
    /// The timed successes' latencies, for the summary's percentiles.
    histogram: Mutex<Histogram<u64>>,
    /// The run's first failure in words, so that a failing run says why.
    first_failure: OnceLock<String>,
    stop: AtomicBool,
}

impl Totals {
    pub fn new(limit: Option<u64>) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Totals {
            limit,
            issued: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            request_failed: AtomicU64::new(0),
            response_failed: AtomicU64::new(0),
            latency_total_us: AtomicU64::new(0),
            timed: AtomicU64::new(0),
            latency_max_us: AtomicU64::new(0),
            histogram: Mutex::new(latency_histogram()?),
            first_failure: OnceLock::new(),
            stop: AtomicBool::new(false),
        }))
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The next request's number, counting from 0, or `None` when the run is over.
    pub fn next_ticket(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let ticket = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Some(limit) if ticket >= limit => None,
            _ => Some(ticket),
        }
    }

    /// Hands out no more tickets; requests in flight still finish and are counted.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            request_failed: self.request_failed.load(Ordering::Relaxed),
            response_failed: self.response_failed.load(Ordering::Relaxed),
            timed: self.timed.load(Ordering::Relaxed),
            latency_total_us: self.latency_total_us.load(Ordering::Relaxed),
            latency_max_us: self.latency_max_us.load(Ordering::Relaxed),
        }
    }

    /// Whether every ticket of a `--count` run has an outcome.
    pub fn all_finished(&self, now: &Snapshot) -> bool {
        self.limit.is_some_and(|limit| now.finished() >= limit)
    }

    pub fn first_failure(&self) -> Option<&str> {
        self.first_failure.get().map(String::as_str)
    }

    fn note_failure(&self, describe: impl FnOnce() -> String) {
        if self.first_failure.get().is_none() {
            // Losing the race to another worker's failure is fine: either is "the first".
            let _ = self.first_failure.set(describe());
        }
    }

    /// Adds the failures, the first failure's words and the timed successes' latency
    /// percentiles in milliseconds (`p50_ms`, `p99_ms`, `p999_ms`, `max_ms`) to `summary`.
    pub fn add_summary_fields(&self, summary: &mut serde_json::Map<String, serde_json::Value>) {
        let ms = |micros: u64| micros as f64 / 1000.0;
        summary.insert("failed".into(), self.snapshot().failed().into());
        if let Some(failure) = self.first_failure() {
            summary.insert("first_failure".into(), failure.into());
        }
        let histogram = self.histogram.lock();
        for (name, quantile) in [("p50_ms", 0.50), ("p99_ms", 0.99), ("p999_ms", 0.999)] {
            summary.insert(
                name.into(),
                ms(histogram.value_at_quantile(quantile)).into(),
            );
        }
        summary.insert("max_ms".into(), ms(histogram.max()).into());
    }
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub at: Instant,
    pub succeeded: u64,
    pub request_failed: u64,
    pub response_failed: u64,
    /// Successes whose latency was recorded (all but untimed warm-ups).
    pub timed: u64,
    pub latency_total_us: u64,
    pub latency_max_us: u64,
}

impl Snapshot {
    pub fn failed(&self) -> u64 {
        self.request_failed + self.response_failed
    }

    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed()
    }

    /// Successes per second between `earlier` and this snapshot.
    pub fn rate_since(&self, earlier: &Snapshot) -> u64 {
        per_second(self.succeeded - earlier.succeeded, self.at - earlier.at)
    }

    /// Mean latency of the timed successes between `earlier` and this snapshot.
    pub fn average_ms_since(&self, earlier: &Snapshot) -> f64 {
        let timed = self.timed - earlier.timed;
        if timed == 0 {
            return 0.0;
        }
        (self.latency_total_us - earlier.latency_total_us) as f64 / timed as f64 / 1000.0
    }
}

/// `count` events over `elapsed`, per second, rounded.
pub fn per_second(count: u64, elapsed: Duration) -> u64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        (count as f64 / seconds).round() as u64
    } else {
        0
    }
}

/// One worker's handle on the run: latencies go to its own histogram, merged into the run's
/// every [`MERGE_EVERY_SAMPLES`] and when the worker ends (on drop).
#[derive(Debug)]
pub struct Recorder {
    totals: Arc<Totals>,
    local: Histogram<u64>,
}

impl Recorder {
    pub fn new(totals: &Arc<Totals>) -> anyhow::Result<Self> {
        Ok(Recorder {
            totals: totals.clone(),
            local: latency_histogram()?,
        })
    }

    pub fn next_ticket(&self) -> Option<u64> {
        self.totals.next_ticket()
    }

    pub fn succeeded(&mut self, latency: Duration) {
        let micros = micros(latency);
        let totals = &self.totals;
        totals.succeeded.fetch_add(1, Ordering::Relaxed);
        totals.latency_total_us.fetch_add(micros, Ordering::Relaxed);
        totals.timed.fetch_add(1, Ordering::Relaxed);
        totals.latency_max_us.fetch_max(micros, Ordering::Relaxed);
        self.local.saturating_record(micros);
        if self.local.len() >= MERGE_EVERY_SAMPLES {
            self.merge();
        }
    }

    /// A success left out of the latency figures: a warm-up whose time is mostly a route
    /// lookup or a topic's creation.
    pub fn succeeded_untimed(&self) {
        self.totals.succeeded.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_failed(&self, describe: impl FnOnce() -> String) {
        self.totals.request_failed.fetch_add(1, Ordering::Relaxed);
        self.totals.note_failure(describe);
    }

    pub fn response_failed(&self, describe: impl FnOnce() -> String) {
        self.totals.response_failed.fetch_add(1, Ordering::Relaxed);
        self.totals.note_failure(describe);
    }

    fn merge(&mut self) {
        let merged = self.totals.histogram.lock().add(&self.local);
        debug_assert!(merged.is_ok(), "the histograms share their bounds");
        self.local.reset();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.merge();
    }
}

/// Why a run's reporting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The run's own goal was met (`--count`).
    Done,
    /// `--duration` passed.
    Deadline,
    /// Ctrl-C, SIGTERM, or the caller's interrupt.
    Interrupted,
    /// No message for `--idle` seconds (the consumer).
    Idle,
}

impl Ending {
    pub const fn name(self) -> &'static str {
        match self {
            Ending::Done => "count",
            Ending::Deadline => "duration",
            Ending::Interrupted => "interrupted",
            Ending::Idle => "idle",
        }
    }
}

/// Something the reporter samples: it needs the sample's time to space its lines.
pub trait Sample {
    fn at(&self) -> Instant;
}

impl Sample for Snapshot {
    fn at(&self) -> Instant {
        self.at
    }
}

/// Samples every [`CHECK_INTERVAL`] until `done(sample)`, `deadline` or `interrupt`, and
/// writes `line(previous, now)` to `out` once a [`REPORT_INTERVAL`].
pub async fn report_until<S: Sample>(
    out: &mut (dyn Write + Send),
    deadline: Option<Instant>,
    interrupt: impl Future<Output = ()>,
    mut sample: impl FnMut() -> S,
    done: impl Fn(&S) -> bool,
    mut line: impl FnMut(&S, &S) -> String,
) -> std::io::Result<Ending> {
    let mut last = sample();
    let mut ticks = tokio::time::interval(CHECK_INTERVAL);
    tokio::pin!(interrupt);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = &mut interrupt => return Ok(Ending::Interrupted),
        }
        let now = sample();
        let finished = done(&now);
        let past_deadline = deadline.is_some_and(|at| now.at() >= at);
        if now.at().duration_since(last.at()) >= REPORT_INTERVAL {
            writeln!(out, "{}", line(&last, &now))?;
            out.flush()?;
            last = now;
        }
        if finished {
            return Ok(Ending::Done);
        }
        if past_deadline {
            return Ok(Ending::Deadline);
        }
    }
}

/// `ms` since the Unix epoch as RocketMQ's `timeMillisToHumanString2` prints it
/// (`yyyy-MM-dd HH:mm:ss,SSS`), in UTC: the crate keeps no time-zone database.
pub fn human_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02},{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_time_is_utc_in_rocketmq_shape() {
        assert_eq!(human_time(0), "1970-01-01 00:00:00,000");
        // 2024-02-29T23:59:58.123Z, a leap day.
        assert_eq!(human_time(1_709_251_198_123), "2024-02-29 23:59:58,123");
    }

    #[test]
    fn tickets_stop_at_the_limit() {
        let totals = Totals::new(Some(2)).unwrap();
        assert_eq!(totals.next_ticket(), Some(0));
        assert_eq!(totals.next_ticket(), Some(1));
        assert_eq!(totals.next_ticket(), None);
        let open = Totals::new(None).unwrap();
        assert_eq!(open.next_ticket(), Some(0));
        open.stop();
        assert_eq!(open.next_ticket(), None);
    }

    #[test]
    fn untimed_successes_stay_out_of_the_average() {
        let totals = Totals::new(None).unwrap();
        let before = totals.snapshot();
        let mut recorder = Recorder::new(&totals).unwrap();
        recorder.succeeded_untimed();
        recorder.succeeded(Duration::from_millis(4));
        drop(recorder);
        let after = totals.snapshot();
        assert_eq!(after.succeeded, 2);
        assert!((after.average_ms_since(&before) - 4.0).abs() < 1e-9);
        let mut summary = serde_json::Map::new();
        totals.add_summary_fields(&mut summary);
        assert_eq!(summary["failed"], 0);
        assert!(summary["p50_ms"].as_f64().unwrap() >= 3.99);
    }
}

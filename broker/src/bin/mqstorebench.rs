//! `mqstorebench`: the store's own benchmark, in-process, on a real disk.
//!
//! * `mqstorebench append --mode async --writers 1` / `--mode sync --writers 64`: 1 KiB
//!   appends for `--duration` seconds; prints appends/s, MB/s and (sync) the latency of
//!   durable acknowledgement as one JSON line.
//! * `mqstorebench crash --bytes 1073741824`: writes that much and exits without shutting the
//!   store down (the abort marker stays), as a power loss would leave it.
//! * `mqstorebench recover [--without-checkpoint]`: opens the store and reports how long
//!   recovery took; without the checkpoint it re-reads (and CRC-checks) the whole log.
//! * `mqstorebench limits`: the machine's ceilings the store figures are compared with: how
//!   fast fresh memory can be touched (every new page-cache page of an append costs that),
//!   how fast a new file's data enters the page cache (`dd` without fdatasync: the ceiling of
//!   ASYNC_FLUSH appends), sequential write bandwidth with one final fdatasync (the issue's
//!   `dd` figure), and the
//!   rate of `--group-bytes` writes each followed by fdatasync into a preallocated file, which
//!   bounds group commit: 64 writers of 1 KiB records never have more than ~72 KiB pending.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bolide_broker::store::mapped_file::{FileSystem, RealFileSystem};
use bolide_broker::store::{FlushDiskType, MessageStore, StoreConfig};
use bolide_client::protocol::message::MessageToStore;
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

#[derive(Parser, Debug)]
#[command(name = "mqstorebench", about = "Bolide store benchmark")]
struct Cli {
    /// Store directory (created if missing).
    #[arg(long, default_value = "/tmp/bolide-storebench")]
    dir: PathBuf,
    /// CommitLog file size in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    file_size: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Append {
        #[arg(long, value_enum, default_value_t = Mode::Async)]
        mode: Mode,
        #[arg(long, default_value_t = 1)]
        writers: usize,
        /// Body bytes per message.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
    Crash {
        /// Bytes to write before "losing power".
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    Recover {
        /// Remove the checkpoint first: recovery then re-reads the whole log.
        #[arg(long)]
        without_checkpoint: bool,
    },
    Limits {
        /// Bytes per write in the group-commit ceiling measurement.
        #[arg(long, default_value_t = 72 * 1024)]
        group_bytes: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Async,
    Sync,
}

const MAX_WRITERS: usize = 4096;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = |mode: FlushDiskType| StoreConfig {
        root_dir: cli.dir.clone(),
        commit_log_file_size_bytes: cli.file_size,
        flush_disk_type: mode,
        ..StoreConfig::default()
    };
    match cli.command {
        Command::Append {
            mode,
            writers,
            size,
            duration,
        } => {
            if writers == 0 || writers > MAX_WRITERS {
                bail!("--writers must be 1..={MAX_WRITERS}");
            }
            let mode = match mode {
                Mode::Async => FlushDiskType::Async,
                Mode::Sync => FlushDiskType::Sync,
            };
            append(config(mode), writers, size, Duration::from_secs(duration))
        }
        Command::Crash { bytes, size } => crash(config(FlushDiskType::Async), bytes, size),
        Command::Recover { without_checkpoint } => {
            recover(config(FlushDiskType::Async), without_checkpoint)
        }
        Command::Limits { group_bytes } => limits(&cli.dir, group_bytes),
    }
}

fn open(config: StoreConfig) -> anyhow::Result<Arc<MessageStore>> {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFileSystem);
    let dir = config.root_dir.clone();
    Ok(Arc::new(MessageStore::open(config, fs).with_context(
        || format!("cannot open the store in {}", dir.display()),
    )?))
}

fn message(body: &[u8], queue_id: i32) -> MessageToStore<'_> {
    MessageToStore {
        topic: "BenchmarkTest",
        queue_id,
        flag: 0,
        body,
        properties: "TAGS\u{1}bench",
        sysflag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        born_host: ([127, 0, 0, 1], 50000).into(),
        store_host: ([127, 0, 0, 1], 10911).into(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

#[allow(clippy::print_stdout)]
fn append(
    config: StoreConfig,
    writers: usize,
    size: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let mode = config.flush_disk_type;
    let store = open(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let appended = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (store, appended, failed, stop, latencies) = (
            store.clone(),
            appended.clone(),
            failed.clone(),
            stop.clone(),
            latencies.clone(),
        );
        tasks.push(runtime.spawn(async move {
            let body = vec![b'x'; size];
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let outcome = match store.put_message(&message(&body, (writer % 8) as i32)) {
                    Ok(result) => store.wait_durable(result.end_offset).await,
                    Err(error) => Err(error),
                };
                match outcome {
                    Ok(()) => {
                        appended.fetch_add(1, Ordering::Relaxed);
                        if let Some(h) = local.as_mut() {
                            h.saturating_record(sent.elapsed().as_micros().max(1) as u64);
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if mode == FlushDiskType::Async && appended.load(Ordering::Relaxed) % 4096 == 0 {
                    // Let the other writers in now and then on a busy runtime.
                    tokio::task::yield_now().await;
                }
            }
            if let Some(h) = local {
                latencies.lock().add(&h).ok();
            }
        }));
    }
    std::thread::sleep(duration);
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        runtime.block_on(task)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.shutdown().context("shutdown")?;
    let count = appended.load(Ordering::Relaxed);
    let record_bytes = store.commit_log_max_offset() as f64 / count.max(1) as f64;
    let histogram = latencies.lock();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "store-append",
            "mode": format!("{mode:?}"),
            "writers": writers,
            "body_bytes": size,
            "appends": count,
            "failed": failed.load(Ordering::Relaxed),
            "seconds": elapsed,
            "appends_per_s": (count as f64 / elapsed).round(),
            "mb_per_s": (count as f64 * record_bytes / elapsed / 1e6 * 10.0).round() / 10.0,
            "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": histogram.max() as f64 / 1000.0,
        })
    );
    Ok(())
}

#[allow(clippy::print_stdout)]
fn crash(config: StoreConfig, bytes: u64, size: usize) -> anyhow::Result<()> {
    let store = open(config)?;
    let body = vec![b'c'; size];
    let mut count = 0u64;
    while store.commit_log_max_offset() < bytes {
        store.put_message(&message(&body, (count % 8) as i32))?;
        count += 1;
    }
    println!(
        "{}",
        serde_json::json!({"benchmark": "store-crash", "appends": count, "bytes": store.commit_log_max_offset()})
    );
    // Leave without a shutdown: the abort marker stays, as after a power loss.
    std::process::exit(0);
}

#[allow(clippy::print_stdout)]
fn recover(config: StoreConfig, without_checkpoint: bool) -> anyhow::Result<()> {
    if without_checkpoint {
        let path = config.root_dir.join("checkpoint");
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot remove {}", path.display()));
            }
        }
    }
    let started = Instant::now();
    let store = open(config)?;
    let opened = started.elapsed();
    let report = store.recovery_report().clone();
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "store-recover",
            "abnormal": report.abnormal,
            "without_checkpoint": without_checkpoint,
            "scanned_from": report.scanned_from,
            "end_offset": report.end_offset,
            "records_scanned": report.records_scanned,
            "recovery_ms": report.duration.as_secs_f64() * 1000.0,
            "open_ms": opened.as_secs_f64() * 1000.0,
        })
    );
    store.shutdown()?;
    Ok(())
}

/// Touches `bytes` of fresh memory twice; returns (first touch, second touch) in GB/s.
fn memory_touch(bytes: usize) -> (f64, f64) {
    let mut buffer = vec![0u8; bytes]; // calloc: pages arrive on first touch
    let started = Instant::now();
    for page in buffer.chunks_mut(4096) {
        page.fill(1);
    }
    let first = started.elapsed().as_secs_f64();
    std::hint::black_box(&buffer);
    let started = Instant::now();
    buffer.fill(2);
    let second = started.elapsed().as_secs_f64();
    std::hint::black_box(&buffer);
    (bytes as f64 / first / 1e9, bytes as f64 / second / 1e9)
}

#[allow(clippy::print_stdout)]
fn limits(dir: &std::path::Path, group_bytes: usize) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let touches: Vec<(f64, f64)> = (0..3).map(|_| memory_touch(1 << 30)).collect();

    // Sequential bandwidth, as `dd bs=1M count=2048 conv=fdatasync`.
    let path = dir.join("limits-sequential");
    let block = vec![0u8; 1 << 20];
    let started = Instant::now();
    let mut file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for _ in 0..2048 {
        file.write_all(&block)?;
    }
    // Up to here only the page cache was written: how fast new data can enter it, the
    // ceiling of an ASYNC_FLUSH append (as `dd` without `conv=fdatasync`).
    let page_cache = 2048.0 * 1048576.0 / started.elapsed().as_secs_f64() / 1e6;
    file.sync_data()?;
    let sequential = 2048.0 * 1048576.0 / started.elapsed().as_secs_f64() / 1e6;
    drop(file);
    std::fs::remove_file(&path)?;

    // Group-commit ceiling: write + fdatasync of `group_bytes` at a time, preallocated file.
    let path = dir.join("limits-group");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, 1 << 30)?;
    file.sync_all()?;
    let block = vec![7u8; group_bytes.clamp(512, 1 << 24)];
    let mut position = 0u64;
    let mut syncs = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) && position + block.len() as u64 <= 1 << 30 {
        std::os::unix::fs::FileExt::write_all_at(&file, &block, position)?;
        file.sync_data()?;
        position += block.len() as u64;
        syncs += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    let record_bytes = message(&[0u8; 1024], 0).encoded_len();
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "machine-limits",
            "fresh_memory_first_touch_gb_per_s": touches.iter().map(|t| (t.0 * 100.0).round() / 100.0).collect::<Vec<_>>(),
            "memory_retouch_gb_per_s": touches.iter().map(|t| (t.1 * 100.0).round() / 100.0).collect::<Vec<_>>(),
            "new_file_page_cache_write_mb_per_s": page_cache.round(),
            "async_ceiling_1k_appends_per_s": (page_cache * 1e6 / record_bytes as f64).round(),
            "sequential_write_fdatasync_mb_per_s": sequential.round(),
            "group_bytes": block.len(),
            "group_syncs_per_s": (syncs as f64 / seconds).round(),
            "group_sync_us": (seconds / syncs.max(1) as f64 * 1e6).round(),
            "group_commit_ceiling_mb_per_s": (position as f64 / seconds / 1e6).round(),
            // Closed-loop writers each wait for their own record: at most one group's worth
            // of records per fdatasync.
            "group_commit_ceiling_1k_appends_per_s": (position as f64 / seconds / record_bytes as f64).round(),
        })
    );
    Ok(())
}

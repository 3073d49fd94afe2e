//! Power loss at seeded random points while several writers append with SYNC_FLUSH: after
//! recovery every acknowledged message is present and intact, nothing corrupt is served, and
//! each queue's logical offsets are contiguous. With ASYNC_FLUSH, what survives is a prefix of
//! what was written.
//!
//! `BOLIDE_CRASH_RUNS` sets the number of runs (each takes several crash snapshots);
//! `BOLIDE_TEST_SEED` replays a seed.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const SNAPSHOTS_PER_RUN: usize = 8;
const WRITERS: usize = 4;
const QUEUES: i32 = 3;

fn seed() -> u64 {
    let seed = std::env::var("BOLIDE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed}: rerun with BOLIDE_TEST_SEED={seed}");
    seed
}

fn runs(default: usize) -> usize {
    std::env::var("BOLIDE_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A message body that says who wrote it, so a recovered body can be checked on its own.
fn body(writer: usize, sequence: usize, length: usize) -> Vec<u8> {
    let mut body = format!("w{writer}-s{sequence}-").into_bytes();
    body.resize(length.max(body.len()), b'a' + (sequence % 26) as u8);
    body
}

#[derive(Clone)]
struct Acked {
    queue_id: i32,
    queue_offset: u64,
    physical_offset: u64,
    body: Vec<u8>,
}

impl std::fmt::Debug for Acked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "queue {} offset {} at {} ({} bytes: {:?}...)",
            self.queue_id,
            self.queue_offset,
            self.physical_offset,
            self.body.len(),
            String::from_utf8_lossy(&self.body[..self.body.len().min(16)])
        )
    }
}

#[test]
fn acknowledged_sync_flush_messages_survive_power_loss() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut crash_points = 0;
    for run in 0..runs(250) {
        let fs = SimFileSystem::new();
        let store = Arc::new(open(&fs, small_config(FlushDiskType::Sync)));
        let acked: Arc<Mutex<Vec<Acked>>> = Arc::new(Mutex::new(Vec::new()));
        let per_writer = rng.random_range(10..60);
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let acked = acked.clone();
            let sizes: Vec<usize> = (0..per_writer).map(|_| rng.random_range(1..3000)).collect();
            writers.push(runtime.spawn(async move {
                for (sequence, size) in sizes.into_iter().enumerate() {
                    let body = body(writer, sequence, size);
                    let queue_id = ((writer + sequence) % QUEUES as usize) as i32;
                    let result = store
                        .put_message(&message("CrashTopic", queue_id, &body, ""))
                        .expect("append");
                    store
                        .wait_durable(result.end_offset)
                        .await
                        .expect("durable");
                    acked.lock().push(Acked {
                        queue_id,
                        queue_offset: result.queue_offset,
                        physical_offset: result.physical_offset,
                        body,
                    });
                }
            }));
        }
        // Power losses at random moments while the writers run.
        let mut snapshots = Vec::new();
        for _ in 0..SNAPSHOTS_PER_RUN {
            std::thread::sleep(Duration::from_micros(rng.random_range(0..1500)));
            let acked_before = acked.lock().clone();
            snapshots.push((acked_before, fs.crash()));
        }
        for writer in writers {
            runtime.block_on(writer).expect("writer");
        }
        store.shutdown().expect("shutdown");
        for (acked_before, disk) in snapshots {
            verify_sync(&disk, &acked_before, seed, run);
            crash_points += 1;
        }
    }
    eprintln!("{crash_points} crash points verified");
}

fn verify_sync(disk: &SimFileSystem, acked: &[Acked], seed: u64, run: usize) {
    let store = open(disk, small_config(FlushDiskType::Sync));
    let mut found: HashMap<(i32, u64), (u64, Vec<u8>)> = HashMap::new();
    for queue_id in 0..QUEUES {
        let messages = read_queue(&store, "CrashTopic", queue_id);
        for (index, stored) in messages.iter().enumerate() {
            assert_eq!(
                stored.queue_offset, index as i64,
                "seed {seed} run {run}: queue {queue_id} has a gap"
            );
            found.insert(
                (queue_id, stored.queue_offset as u64),
                (stored.physical_offset as u64, stored.body.to_vec()),
            );
        }
        assert_eq!(
            store.max_offset("CrashTopic", queue_id),
            messages.len() as u64
        );
    }
    for message in acked {
        let (physical, body) = found
            .get(&(message.queue_id, message.queue_offset))
            .unwrap_or_else(|| panic!("seed {seed} run {run}: acknowledged {message:?} lost"));
        assert_eq!(*physical, message.physical_offset, "seed {seed} run {run}");
        assert_eq!(body, &message.body, "seed {seed} run {run}");
    }
    // The store keeps working after recovery: the next message continues each queue.
    let next = store
        .put_message(&message("CrashTopic", 0, b"after", ""))
        .expect("append");
    assert_eq!(next.queue_offset, store.max_offset("CrashTopic", 0) - 1);
    store.shutdown().expect("shutdown");
}

#[test]
fn async_flush_keeps_a_prefix_of_what_was_written() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    for run in 0..runs(250) / 5 {
        let fs = SimFileSystem::new();
        let store = open(&fs, small_config(FlushDiskType::Async));
        let total = rng.random_range(20..200);
        let crash_at = rng.random_range(0..total);
        let mut written = Vec::new();
        let mut disk = None;
        for sequence in 0..total {
            let body = body(0, sequence, rng.random_range(1..2000));
            store
                .put_message(&message("AsyncTopic", 0, &body, ""))
                .expect("append");
            written.push(body);
            if sequence == crash_at {
                std::thread::sleep(Duration::from_micros(rng.random_range(0..3000)));
                disk = Some(fs.crash());
            }
        }
        store.shutdown().expect("shutdown");
        let disk = disk.expect("crashed");
        let recovered = open(&disk, small_config(FlushDiskType::Async));
        let messages = read_queue(&recovered, "AsyncTopic", 0);
        assert!(
            messages.len() <= crash_at + 1,
            "seed {seed} run {run}: more than was written"
        );
        for (index, stored) in messages.iter().enumerate() {
            assert_eq!(
                &stored.body[..],
                &written[index][..],
                "seed {seed} run {run}: not a prefix"
            );
        }
        recovered.shutdown().expect("shutdown");
    }
}

//! Message rates for GET_BROKER_RUNTIME_INFO: `putTps`, `getTransferedTps` and friends are
//! three numbers, the rates over the last 10 s, 60 s and 600 s (Java's StoreStatsService).
//!
//! The housekeeping task samples the cumulative counters every 10 s; a rate is the counter's
//! growth between the newest sample and the one a window back, over the time between them.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Sampling period and the windows reported.
pub const SAMPLE_INTERVAL_MS: u64 = 10_000;
const WINDOWS_MS: [u64; 3] = [10_000, 60_000, 600_000];
/// Samples kept: enough to span the longest window.
const MAX_SAMPLES: usize = (600_000 / SAMPLE_INTERVAL_MS) as usize + 2;

#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: u64,
    puts: u64,
    gets: u64,
}

/// Cumulative counter samples on a monotonic clock.
#[derive(Debug, Default)]
pub struct TpsSampler {
    samples: Mutex<VecDeque<Sample>>,
}

impl TpsSampler {
    pub fn record(&self, at_ms: u64, puts: u64, gets: u64) {
        let mut samples = self.samples.lock();
        samples.push_back(Sample { at_ms, puts, gets });
        while samples.len() > MAX_SAMPLES {
            samples.pop_front();
        }
    }

    /// `"r10 r60 r600"` for puts and for gets, each rate with two decimals; a window with no
    /// sample that old yet uses the oldest sample there is (0 before two samples exist).
    pub fn rates(&self) -> (String, String) {
        let samples = self.samples.lock();
        let Some(newest) = samples.back().copied() else {
            return (zeros(), zeros());
        };
        let mut puts = Vec::with_capacity(WINDOWS_MS.len());
        let mut gets = Vec::with_capacity(WINDOWS_MS.len());
        for window in WINDOWS_MS {
            let start = samples
                .iter()
                .find(|s| newest.at_ms.saturating_sub(s.at_ms) <= window)
                .copied()
                .unwrap_or(newest);
            let seconds = newest.at_ms.saturating_sub(start.at_ms) as f64 / 1000.0;
            let rate = |now: u64, then: u64| {
                if seconds > 0.0 {
                    now.saturating_sub(then) as f64 / seconds
                } else {
                    0.0
                }
            };
            puts.push(format!("{:.2}", rate(newest.puts, start.puts)));
            gets.push(format!("{:.2}", rate(newest.gets, start.gets)));
        }
        (puts.join(" "), gets.join(" "))
    }
}

fn zeros() -> String {
    "0.00 0.00 0.00".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_each_window() {
        let sampler = TpsSampler::default();
        assert_eq!(sampler.rates().0, "0.00 0.00 0.00");
        // 100 puts/s for 60 s, then 1000 puts/s for 10 s.
        for step in 0..=6u64 {
            sampler.record(step * 10_000, step * 1_000, 0);
        }
        sampler.record(70_000, 6_000 + 10_000, 50);
        let (puts, gets) = sampler.rates();
        assert_eq!(puts, "1000.00 250.00 228.57");
        assert_eq!(gets, "5.00 0.83 0.71");
    }
}

//! [`Series`]: one summary's values: count, sum, min and max since the start (or the last
//! `srst`), and recent quantiles from two HdrHistograms that take turns (as Java's Prometheus
//! summaries look back ten minutes).
//!
//! Adding a value reads no clock (it is on every request's path): the halves turn over when
//! the series is read, once the current one is [`WINDOW_HALF`] old. Read every few seconds (a
//! Prometheus scrape), the quantiles cover the last five to ten minutes; read seldom, they
//! cover what came since the read before.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::admin::{Percentiles, Summary};

/// How long each histogram of the window collects before it is cleared and reused.
pub const WINDOW_HALF: Duration = Duration::from_secs(300);

/// One summary's values.
#[derive(Debug)]
pub struct Series {
    all: Summary,
    /// The current half-window and the one before it.
    halves: [Histogram<u64>; 2],
    current: usize,
    current_since: Instant,
}

fn histogram() -> Histogram<u64> {
    // Two significant digits: 1 % error, well inside simpleclient's 5 %/1 %/0.1 % targets
    // for the 0.5/0.9/0.99 quantiles at the values these series take.
    Histogram::new(2).expect("2 significant digits are valid")
}

impl Series {
    /// An empty series.
    pub fn new(now: Instant) -> Series {
        Series {
            all: Summary::default(),
            halves: [histogram(), histogram()],
            current: 0,
            current_since: now,
        }
    }

    fn rotate(&mut self, now: Instant) {
        if now.saturating_duration_since(self.current_since) < WINDOW_HALF {
            return;
        }
        self.current = 1 - self.current;
        self.halves[self.current].reset();
        self.current_since = now;
    }

    /// Adds a value `n` times (negative values count as 0 in the quantiles).
    pub fn record_n(&mut self, value: i64, n: u64) {
        self.all.add_n(value, n);
        let _ = self.halves[self.current].record_n(value.max(0) as u64, n);
    }

    /// Adds a value (negative values count as 0 in the quantiles).
    pub fn record(&mut self, value: i64) {
        self.record_n(value, 1);
    }

    /// Count, sum, min and max.
    pub fn summary(&self) -> Summary {
        self.all
    }

    /// The `q` quantile (0..=1) of the window, 0 when it is empty.
    pub fn quantiles(&mut self, qs: &[f64], now: Instant) -> Vec<i64> {
        self.rotate(now);
        let mut window = self.halves[self.current].clone();
        let _ = window.add(&self.halves[1 - self.current]);
        qs.iter()
            .map(|&q| {
                if window.is_empty() {
                    0
                } else {
                    window.value_at_quantile(q) as i64
                }
            })
            .collect()
    }

    /// Java's p50/p95/p99/p999 (mntr).
    pub fn percentiles(&mut self, now: Instant) -> Percentiles {
        let q = self.quantiles(&[0.5, 0.95, 0.99, 0.999], now);
        Percentiles {
            p50: q[0],
            p95: q[1],
            p99: q[2],
            p999: q[3],
        }
    }

    /// Forgets everything (`srst` with Java's default provider).
    pub fn reset(&mut self, now: Instant) {
        *self = Series::new(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_look_back_between_one_and_two_halves() {
        let t0 = Instant::now();
        let mut s = Series::new(t0);
        for v in 1..=100 {
            s.record(v);
        }
        assert_eq!(s.quantiles(&[0.5, 0.99], t0), vec![50, 99]);
        let sum = s.summary();
        assert_eq!(
            (sum.count, sum.total, sum.min, sum.max),
            (100, 5050, 1, 100)
        );
        // Read half a window later, the halves turn: the old values still count.
        let later = t0 + WINDOW_HALF;
        assert_eq!(s.quantiles(&[0.5], later), vec![50]);
        s.record(200);
        assert_eq!(s.quantiles(&[1.0], later), vec![200]);
        assert_eq!(s.quantiles(&[0.5], later), vec![51]);
        // Another half later they do not; one more, and nothing is left.
        let much_later = later + WINDOW_HALF;
        assert_eq!(s.quantiles(&[0.5], much_later), vec![200]);
        assert_eq!(s.quantiles(&[0.5], much_later + WINDOW_HALF), vec![0]);
        // The totals are not windowed.
        assert_eq!(s.summary().count, 101);
        s.reset(much_later);
        assert_eq!(s.summary().count, 0);
    }
}

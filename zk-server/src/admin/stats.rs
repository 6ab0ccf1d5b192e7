//! The series the server keeps statistics of, as Java's metrics classes summarise them:
//! [`Summary`] (`AvgMinMaxCounter`), [`Percentiles`] (`AvgMinMaxPercentileCounter`) and
//! [`BufferStats`]. `srvr`, `cons` and `mntr` print them.

use super::java_rounded_avg;

/// Count, total, min and max of a series of values (Java's `AvgMinMaxCounter`), e.g. request
/// latencies in ms. The server core may keep its statistics in this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// How many values were added.
    pub count: u64,
    /// Their sum.
    pub total: i64,
    /// The smallest value (meaningless while `count` is 0).
    pub min: i64,
    /// The largest value (meaningless while `count` is 0).
    pub max: i64,
}

impl Summary {
    /// Adds one value.
    pub fn add(&mut self, value: i64) {
        self.add_n(value, 1);
    }

    /// Adds one value `n` times.
    pub fn add_n(&mut self, value: i64, n: u64) {
        if n == 0 {
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += n;
        let times = i64::try_from(n).unwrap_or(i64::MAX);
        self.total = self.total.saturating_add(value.saturating_mul(times));
    }

    /// The minimum, 0 when empty (as Java prints it).
    pub fn min_or_zero(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// The maximum, 0 when empty (as Java prints it).
    pub fn max_or_zero(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.max
        }
    }

    /// The average as `AvgMinMaxCounter.getAvg` computes it: rounded half-up to 4 decimals
    /// (see [`java_rounded_avg`]).
    pub fn java_avg(&self) -> f64 {
        java_rounded_avg(self.total, self.count)
    }

    /// The average as a connection's `avglat` is computed: integer division, 0 when empty.
    pub fn truncated_avg(&self) -> i64 {
        match i64::try_from(self.count) {
            Ok(0) | Err(_) => 0,
            Ok(count) => self.total / count,
        }
    }
}

/// Percentiles of a series (Java's `AvgMinMaxPercentileCounter`, `Math.round` of the
/// histogram's quantiles), printed after the [`Summary`] lines of some `mntr` metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: i64,
    /// 95th percentile.
    pub p95: i64,
    /// 99th percentile.
    pub p99: i64,
    /// 99.9th percentile.
    pub p999: i64,
}

/// Last, smallest and largest size of a series of buffers (Java's `BufferStats`); -1 until
/// the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferStats {
    /// The last size.
    pub last: i32,
    /// The smallest size.
    pub min: i32,
    /// The largest size.
    pub max: i32,
}

impl Default for BufferStats {
    fn default() -> Self {
        BufferStats {
            last: -1,
            min: -1,
            max: -1,
        }
    }
}

impl BufferStats {
    /// Records one buffer size.
    pub fn add(&mut self, size: i32) {
        self.last = size;
        if self.min == -1 || size < self.min {
            self.min = size;
        }
        if size > self.max {
            self.max = size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_accumulates_like_java() {
        let mut s = Summary::default();
        assert_eq!(
            (s.min_or_zero(), s.max_or_zero(), s.truncated_avg()),
            (0, 0, 0)
        );
        assert_eq!(s.java_avg(), 0.0);
        for v in [3, 1, 7] {
            s.add(v);
        }
        assert_eq!(
            (s.min_or_zero(), s.max_or_zero(), s.truncated_avg()),
            (1, 7, 3)
        );
        assert_eq!(s.java_avg(), 3.6667);
        let mut b = BufferStats::default();
        assert_eq!((b.last, b.min, b.max), (-1, -1, -1));
        b.add(91);
        b.add(16);
        b.add(163);
        assert_eq!((b.last, b.min, b.max), (163, 16, 163));
    }
}

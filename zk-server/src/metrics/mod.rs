//! The metrics registry: every counter and summary of Java 3.9's `ServerMetrics`
//! ([`Counter`], [`SummaryKind`]), kept once per server and read by `mntr`, the AdminServer's
//! `monitor` and Prometheus' `/metrics` alike.
//!
//! Whoever measures something holds the server's `Arc<Metrics>`: the core (request
//! latencies, commits, sessions), the log writers (fsync times), the snapshot writers, the
//! recovery, the node (elections, syncs, proposals). Counters are atomics; a summary is a
//! [`Series`] behind its own mutex, locked for the few nanoseconds a value takes to add.
//!
//! The gauges (`znode_count`, `num_alive_connections`, ...) are not kept here: they are
//! facts of the server's state, read when asked ([`crate::admin::AdminSnapshot`]).
//!
//! ```
//! use zk_server::metrics::{Counter, Metrics, SummaryKind};
//! let metrics = Metrics::new(false);
//! metrics.add(Counter::CommitCount, 2);
//! metrics.record(SummaryKind::FsyncTime, 3);
//! assert_eq!(metrics.counter(Counter::CommitCount), 2);
//! assert_eq!(metrics.summary(SummaryKind::FsyncTime).total, 3);
//! ```

mod exposition;
mod local;
mod names;
mod process;
mod series;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use exposition::{prometheus_text, PrometheusSettings, PROMETHEUS_PROVIDER};
pub use local::{LocalMetrics, LocalSeries};
pub use names::{namespace, Counter, Detail, SummaryKind, SummarySet};
pub use process::ProcessStats;
pub use series::{Series, WINDOW_HALF};

use crate::admin::{AdminSnapshot, Percentiles, Summary};

/// Java's `DataTree.STAT_OVERHEAD_BYTES`: what a read's Stat counts in `read_per_namespace`.
pub const STAT_OVERHEAD_BYTES: usize = 6 * 8 + 5 * 4;

/// One server's counters and summaries.
#[derive(Debug)]
pub struct Metrics {
    counters: Vec<AtomicU64>,
    series: Vec<Mutex<Series>>,
    /// Each [`SummarySet`]'s series by key.
    sets: Vec<Mutex<std::collections::BTreeMap<String, Series>>>,
    /// Whether `srst` clears the registry: Java's default provider does, its Prometheus
    /// provider cannot (Prometheus counters must not go down).
    resettable: bool,
}

impl Metrics {
    /// An empty registry; `prometheus` when `/metrics` exports it (then `srst` leaves it).
    pub fn new(prometheus: bool) -> Arc<Metrics> {
        let now = Instant::now();
        Arc::new(Metrics {
            counters: Counter::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            series: SummaryKind::ALL
                .iter()
                .map(|_| Mutex::new(Series::new(now)))
                .collect(),
            sets: SummarySet::ALL.iter().map(|_| Mutex::default()).collect(),
            resettable: !prometheus,
        })
    }

    fn series(&self, kind: SummaryKind) -> std::sync::MutexGuard<'_, Series> {
        self.series[kind as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `n` to a counter.
    pub fn add(&self, counter: Counter, n: u64) {
        self.counters[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn counter(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].load(Ordering::Relaxed)
    }

    /// Adds a value to a summary (milliseconds for times).
    pub fn record(&self, kind: SummaryKind, value: i64) {
        self.series(kind).record(value);
    }

    /// Adds a value `n` times to a summary.
    pub fn record_n(&self, kind: SummaryKind, value: i64, n: u64) {
        self.series(kind).record_n(value, n);
    }

    /// Adds a value `n` times to `key`'s summary of `set`.
    pub fn record_in_n(&self, set: SummarySet, key: &str, value: i64, n: u64) {
        let mut series = self.set(set);
        match series.get_mut(key) {
            Some(s) => s.record_n(value, n),
            None => {
                let mut s = Series::new(Instant::now());
                s.record_n(value, n);
                series.insert(key.to_owned(), s);
            }
        }
    }

    /// Adds the milliseconds since `since` to a summary.
    pub fn record_since(&self, kind: SummaryKind, since: Instant) {
        self.record(kind, since.elapsed().as_millis() as i64);
    }

    fn set(
        &self,
        set: SummarySet,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Series>> {
        self.sets[set as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Every key of `set` with its summary and quantiles `qs`, by key.
    pub fn set_summaries(&self, set: SummarySet, qs: &[f64]) -> Vec<(String, Summary, Vec<i64>)> {
        let now = Instant::now();
        self.set(set)
            .iter_mut()
            .map(|(k, s)| (k.clone(), s.summary(), s.quantiles(qs, now)))
            .collect()
    }

    /// A summary's count, sum, min and max.
    pub fn summary(&self, kind: SummaryKind) -> Summary {
        self.series(kind).summary()
    }

    /// Quantiles `qs` of a summary's recent values.
    pub fn quantiles(&self, kind: SummaryKind, qs: &[f64]) -> Vec<i64> {
        self.series(kind).quantiles(qs, Instant::now())
    }

    /// The registry of a server configured by `cfg`: `srst` leaves it alone when `cfg` has
    /// Prometheus export it.
    pub fn for_config(cfg: &crate::config::Config) -> Arc<Metrics> {
        Metrics::new(PrometheusSettings::from_config(cfg).is_some())
    }

    /// `srst`: clears everything, unless Prometheus exports the registry.
    pub fn reset(&self) {
        if !self.resettable {
            return;
        }
        let now = Instant::now();
        for c in &self.counters {
            c.store(0, Ordering::Relaxed);
        }
        for kind in SummaryKind::ALL {
            self.series(*kind).reset(now);
        }
        for set in SummarySet::ALL {
            self.set(*set).clear();
        }
    }

    /// Copies every counter and summary into `snapshot` for `mntr` and `monitor`.
    pub fn fill(&self, snapshot: &mut AdminSnapshot) {
        let now = Instant::now();
        for c in Counter::ALL {
            let v = i64::try_from(self.counter(*c)).unwrap_or(i64::MAX);
            snapshot.counters.insert(c.name().to_owned(), v);
        }
        for kind in SummaryKind::ALL {
            let mut series = self.series(*kind);
            snapshot
                .summaries
                .insert(kind.name().to_owned(), series.summary());
            if kind.detail() == Detail::Advanced {
                let p: Percentiles = series.percentiles(now);
                snapshot.percentiles.insert(kind.name().to_owned(), p);
            }
        }
        // Java's default provider prints a set's entries as `<key>_<name>`.
        for set in SummarySet::ALL {
            for (key, series) in self.set(*set).iter() {
                let name = format!("{key}_{}", set.name());
                snapshot.summaries.insert(name, series.summary());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_in_snake_case() {
        let mut names: Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        names.extend(SummaryKind::ALL.iter().map(|s| s.name()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        assert_eq!(Counter::ALL.len(), 51);
        assert_eq!(SummaryKind::ALL.len(), 65);
    }

    #[test]
    fn namespaces_are_the_first_component() {
        assert_eq!(namespace("/app/a/b"), Some("app"));
        assert_eq!(namespace("/app"), Some("app"));
        assert_eq!(namespace("/"), None);
        assert_eq!(namespace("relative"), None);
        let m = Metrics::new(false);
        let mut local = LocalMetrics::default();
        local.write("/app/a", 3);
        local.write("/", 3);
        local.flush(&m);
        let mut s = AdminSnapshot::default();
        m.fill(&mut s);
        assert_eq!(s.summaries["app_write_per_namespace"].total, 9);
        assert_eq!(
            s.summaries
                .keys()
                .filter(|k| k.ends_with("_per_namespace"))
                .count(),
            1
        );
    }

    #[test]
    fn srst_clears_unless_prometheus_exports() {
        for prometheus in [false, true] {
            let m = Metrics::new(prometheus);
            m.add(Counter::CommitCount, 5);
            m.record(SummaryKind::ReadLatency, 7);
            m.reset();
            let kept = if prometheus { 5 } else { 0 };
            assert_eq!(m.counter(Counter::CommitCount), kept);
            assert_eq!(m.summary(SummaryKind::ReadLatency).count, kept / 5);
        }
    }

    #[test]
    fn fill_gives_mntr_every_metric() {
        let m = Metrics::new(false);
        m.record(SummaryKind::ReadLatency, 4);
        let mut s = AdminSnapshot::default();
        m.fill(&mut s);
        assert_eq!(s.counters.len(), Counter::ALL.len());
        assert_eq!(s.summaries.len(), SummaryKind::ALL.len());
        assert_eq!(s.percentiles["readlatency"].p50, 4);
        assert!(
            !s.percentiles.contains_key("fsynctime"),
            "BASIC has no percentiles"
        );
    }
}

//! [`LocalMetrics`]: what the server core measures on every request (read and update
//! latencies, bytes per namespace), gathered without locks or histograms on the core's own
//! task and handed to the shared registry in one go per batch of inputs
//! ([`LocalMetrics::flush`]). A value costs an array increment; the registry's locks and
//! histograms are paid once per distinct value per batch.

use std::collections::BTreeMap;

use super::{namespace, Metrics, SummaryKind, SummarySet, STAT_OVERHEAD_BYTES};

/// Values below this are counted in an array; larger ones are kept in a list.
const SMALL: usize = 256;

/// The values of one series since the last flush.
#[derive(Debug)]
pub struct LocalSeries {
    small: Box<[u32; SMALL]>,
    large: Vec<i64>,
    any: bool,
}

impl Default for LocalSeries {
    fn default() -> Self {
        LocalSeries {
            small: Box::new([0; SMALL]),
            large: Vec::new(),
            any: false,
        }
    }
}

impl LocalSeries {
    /// Adds a value.
    pub fn record(&mut self, value: i64) {
        match usize::try_from(value) {
            Ok(v) if v < SMALL => self.small[v] += 1,
            _ => self.large.push(value),
        }
        self.any = true;
    }

    /// Hands every value to `add(value, times)` and forgets them.
    fn drain(&mut self, mut add: impl FnMut(i64, u64)) {
        if !self.any {
            return;
        }
        for (value, count) in self.small.iter_mut().enumerate() {
            if *count > 0 {
                add(value as i64, u64::from(*count));
                *count = 0;
            }
        }
        for value in self.large.drain(..) {
            add(value, 1);
        }
        self.any = false;
    }
}

/// One [`SummarySet`]'s series by key, the key used last kept apart: requests mostly come
/// in runs on one namespace, so most values skip the map lookup.
#[derive(Debug, Default)]
struct LocalSet {
    last: Option<(String, LocalSeries)>,
    others: BTreeMap<String, LocalSeries>,
}

impl LocalSet {
    fn record(&mut self, key: &str, value: i64) {
        if let Some((last_key, series)) = &mut self.last {
            if last_key == key {
                series.record(value);
                return;
            }
        }
        if let Some((last_key, series)) = self.last.take() {
            self.others.insert(last_key, series);
        }
        let mut series = self.others.remove(key).unwrap_or_default();
        series.record(value);
        self.last = Some((key.to_owned(), series));
    }

    fn drain(&mut self, mut add: impl FnMut(&str, i64, u64)) {
        for (key, series) in self
            .last
            .iter_mut()
            .map(|(k, s)| (&*k, s))
            .chain(self.others.iter_mut())
        {
            series.drain(|v, n| add(key, v, n));
        }
    }
}

/// The core's hot-path measurements since the last flush.
#[derive(Debug, Default)]
pub struct LocalMetrics {
    read_latency: LocalSeries,
    update_latency: LocalSeries,
    per_namespace: [LocalSet; 3],
}

impl LocalMetrics {
    /// A request's latency, ms.
    pub fn latency(&mut self, write: bool, ms: i64) {
        if write {
            self.update_latency.record(ms);
        } else {
            self.read_latency.record(ms);
        }
    }

    fn in_namespace(&mut self, set: SummarySet, path: &str, value: usize) {
        if let Some(ns) = namespace(path) {
            self.per_namespace[set as usize].record(ns, value as i64);
        }
    }

    /// `bytes` read at `path` (`read_per_namespace`: with the path and a Stat's 68 bytes).
    pub fn read(&mut self, path: &str, bytes: usize) {
        let total = path.len() + bytes + STAT_OVERHEAD_BYTES;
        self.in_namespace(SummarySet::ReadPerNamespace, path, total);
    }

    /// `bytes` written at `path` (`write_per_namespace`: with the path).
    pub fn write(&mut self, path: &str, bytes: usize) {
        self.in_namespace(SummarySet::WritePerNamespace, path, path.len() + bytes);
    }

    /// Moves everything gathered into `metrics`.
    pub fn flush(&mut self, metrics: &Metrics) {
        self.read_latency
            .drain(|v, n| metrics.record_n(SummaryKind::ReadLatency, v, n));
        self.update_latency
            .drain(|v, n| metrics.record_n(SummaryKind::UpdateLatency, v, n));
        for set in SummarySet::ALL {
            self.per_namespace[*set as usize]
                .drain(|key, v, n| metrics.record_in_n(*set, key, v, n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_moves_every_value() {
        let metrics = Metrics::new(false);
        let mut local = LocalMetrics::default();
        for ms in [0, 1, 1, 300, 5] {
            local.latency(false, ms);
        }
        local.latency(true, 7);
        local.read("/app/a", 10);
        local.write("/app/b", 3);
        local.write("/", 3);
        assert_eq!(
            metrics.summary(SummaryKind::ReadLatency).count,
            0,
            "not before the flush"
        );
        local.flush(&metrics);
        let read = metrics.summary(SummaryKind::ReadLatency);
        assert_eq!(
            (read.count, read.total, read.min, read.max),
            (5, 307, 0, 300)
        );
        assert_eq!(metrics.summary(SummaryKind::UpdateLatency).total, 7);
        let reads = metrics.set_summaries(SummarySet::ReadPerNamespace, &[0.5]);
        assert_eq!(reads[0].0, "app");
        assert_eq!(reads[0].1.total, (6 + 10 + STAT_OVERHEAD_BYTES) as i64);
        let writes = metrics.set_summaries(SummarySet::WritePerNamespace, &[0.5]);
        assert_eq!((writes.len(), writes[0].1.total), (1, 9));
        // Runs on different namespaces, back and forth.
        for path in ["/x/1", "/app/a", "/x/2", "/x/3", "/app/b"] {
            local.read(path, 0);
        }
        local.flush(&metrics);
        let reads = metrics.set_summaries(SummarySet::ReadPerNamespace, &[0.5]);
        let counts: Vec<(&str, u64)> = reads
            .iter()
            .map(|(k, s, _)| (k.as_str(), s.count))
            .collect();
        assert_eq!(counts, [("app", 3), ("x", 3)]);
        // A second flush adds nothing.
        local.flush(&metrics);
        assert_eq!(metrics.summary(SummaryKind::ReadLatency).count, 5);
        assert_eq!(
            metrics.set_summaries(SummarySet::ReadPerNamespace, &[0.5])[1]
                .1
                .count,
            3
        );
    }
}

//! `/metrics` as Java 3.9's `PrometheusMetricsProvider` writes it (simpleclient 0.9's text
//! format 0.0.4), so dashboards and alerts written for Java keep working:
//! - the metric name is Java's name, and so is its HELP text;
//! - counters keep their name (no `_total`);
//! - a summary has `{quantile="0.5",}` (BASIC) or 0.5, 0.9 and 0.99 (ADVANCED), over the
//!   last five to ten minutes (`NaN` when nothing was recorded there), then `_count` and
//!   `_sum` since the start; labels end with a comma, as simpleclient writes them;
//! - gauges are read when scraped; a gauge a role does not have (a follower's
//!   `learners`) is left out;
//! - values are Java doubles (`10.0`);
//! - then the standard `process_*` metrics (no `jvm_*`: there is no JVM).

use std::fmt::Write as _;

use super::{Counter, Detail, Metrics, ProcessStats, SummaryKind, SummarySet};
use crate::admin::{java_double_to_string, MetricValue};
use crate::config::Config;

/// `metricsProvider.className` that turns `/metrics` on.
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// Where `/metrics` is served (`metricsProvider.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusSettings {
    /// `metricsProvider.httpHost` (Java's default 0.0.0.0: Prometheus scrapes from afar).
    pub host: String,
    /// `metricsProvider.httpPort` (default 7000; 0 picks a free port).
    pub port: u16,
    /// `metricsProvider.exportJvmInfo` (default true): here, the `process_*` metrics.
    pub export_process: bool,
}

impl PrometheusSettings {
    /// The settings when `metricsProvider.className` names Java's Prometheus provider.
    pub fn from_config(cfg: &Config) -> Option<PrometheusSettings> {
        let get = |k: &str| cfg.metrics_provider.get(k).map(|v| v.trim());
        if get("className")? != PROMETHEUS_PROVIDER {
            return None;
        }
        Some(PrometheusSettings {
            host: get("httpHost").unwrap_or("0.0.0.0").to_owned(),
            port: get("httpPort").and_then(|p| p.parse().ok()).unwrap_or(7000),
            export_process: get("exportJvmInfo").is_none_or(|v| !v.eq_ignore_ascii_case("false")),
        })
    }
}

fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        java_double_to_string(v)
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The quantiles Java's provider exports for a detail level.
fn quantiles(detail: Detail) -> &'static [f64] {
    match detail {
        Detail::Basic => &[0.5],
        Detail::Advanced => &[0.5, 0.9, 0.99],
    }
}

/// The text of `/metrics`: `gauges` (from the server's state), the registry's counters and
/// summaries, and (with `process`) the `process_*` metrics.
pub fn prometheus_text(
    metrics: &Metrics,
    gauges: &[(&'static str, MetricValue)],
    process: Option<&ProcessStats>,
) -> String {
    let mut out = String::with_capacity(32 * 1024);
    for (name, v) in gauges {
        let v = match v {
            MetricValue::Int(i) => *i as f64,
            MetricValue::Double(d) => *d,
            MetricValue::Text(_) => continue,
        };
        family(&mut out, name, name, "gauge");
        let _ = writeln!(out, "{name} {}", value(v));
    }
    for c in Counter::ALL {
        let name = c.name();
        family(&mut out, name, name, "counter");
        let _ = writeln!(out, "{name} {}", value(metrics.counter(*c) as f64));
    }
    for kind in SummaryKind::ALL {
        let name = kind.name();
        family(&mut out, name, name, "summary");
        let qs = quantiles(kind.detail());
        let summary = metrics.summary(*kind);
        let values = metrics.quantiles(*kind, qs);
        for (q, v) in qs.iter().zip(values) {
            // An empty window has no quantiles: simpleclient writes NaN.
            let v = if summary.count == 0 {
                f64::NAN
            } else {
                v as f64
            };
            let _ = writeln!(out, "{name}{{quantile=\"{q}\",}} {}", value(v));
        }
        let _ = writeln!(out, "{name}_count {}", value(summary.count as f64));
        let _ = writeln!(out, "{name}_sum {}", value(summary.total as f64));
    }
    for set in SummarySet::ALL {
        let name = set.name();
        family(&mut out, name, name, "summary");
        let qs = quantiles(set.detail());
        for (key, summary, values) in metrics.set_summaries(*set, qs) {
            let key = escape_label(&key);
            for (q, v) in qs.iter().zip(values) {
                let v = if summary.count == 0 {
                    f64::NAN
                } else {
                    v as f64
                };
                let _ = writeln!(
                    out,
                    "{name}{{key=\"{key}\",quantile=\"{q}\",}} {}",
                    value(v)
                );
            }
            let _ = writeln!(
                out,
                "{name}_count{{key=\"{key}\",}} {}",
                value(summary.count as f64)
            );
            let _ = writeln!(
                out,
                "{name}_sum{{key=\"{key}\",}} {}",
                value(summary.total as f64)
            );
        }
    }
    if let Some(p) = process {
        let mut standard = |name: &str, help: &str, kind: &str, v: Option<f64>| {
            if let Some(v) = v {
                family(&mut out, name, help, kind);
                let _ = writeln!(out, "{name} {}", value(v));
            }
        };
        standard(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            "counter",
            p.cpu_seconds,
        );
        standard(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            "gauge",
            p.start_time_seconds,
        );
        standard(
            "process_open_fds",
            "Number of open file descriptors.",
            "gauge",
            p.open_fds.map(|v| v as f64),
        );
        standard(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            "gauge",
            p.max_fds.map(|v| v as f64),
        );
        standard(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            "gauge",
            p.virtual_memory_bytes.map(|v| v as f64),
        );
        standard(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            "gauge",
            p.resident_memory_bytes.map(|v| v as f64),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javas_layout() {
        let m = Metrics::new(true);
        m.add(Counter::CommitCount, 10);
        m.record(SummaryKind::FsyncTime, 10);
        m.record(SummaryKind::FsyncTime, 10);
        m.record(SummaryKind::ReadLatency, 3);
        let gauges = [
            ("znode_count", MetricValue::Int(5)),
            ("avg_latency", MetricValue::Double(1.5)),
        ];
        let text = prometheus_text(&m, &gauges, None);
        for line in [
            "# HELP commit_count commit_count\n# TYPE commit_count counter\ncommit_count 10.0\n",
            "# TYPE znode_count gauge\nznode_count 5.0\n",
            "avg_latency 1.5\n",
            "# TYPE fsynctime summary\nfsynctime{quantile=\"0.5\",} 10.0\nfsynctime_count 2.0\nfsynctime_sum 20.0\n",
            "readlatency{quantile=\"0.5\",} 3.0\nreadlatency{quantile=\"0.9\",} 3.0\nreadlatency{quantile=\"0.99\",} 3.0\n",
            "snapshottime{quantile=\"0.5\",} NaN\nsnapshottime_count 0.0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing");
        }
        assert!(
            !text.contains("_total"),
            "no _total without the process metrics"
        );
        let with_process = prometheus_text(&m, &gauges, Some(&ProcessStats::read()));
        assert!(with_process.contains("# TYPE process_open_fds gauge\nprocess_open_fds "));
    }

    #[test]
    fn settings_follow_the_class_name() {
        let cfg = |extra: &str| Config::parse(&format!("dataDir=/tmp/x\n{extra}"), "").unwrap();
        assert_eq!(PrometheusSettings::from_config(&cfg("")), None);
        let s = PrometheusSettings::from_config(&cfg(&format!(
            "metricsProvider.className={PROMETHEUS_PROVIDER}\nmetricsProvider.httpPort=7001\n"
        )))
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.export_process),
            ("0.0.0.0", 7001, true)
        );
        assert_eq!(
            PrometheusSettings::from_config(&cfg(
                "metricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider\n"
            )),
            None
        );
    }
}

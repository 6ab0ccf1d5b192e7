//! `mntr`: Java's `MonitorCommand`. Java's gauges, then every counter and summary of the
//! metrics registry ([`crate::metrics`]), in Java's order, each printed as
//! `zk_<name>\t<value>`. Left out: the per-namespace summary sets
//! (`<ns>_read_per_namespace`, `<ns>_write_per_namespace`) and the quota gauge sets, which
//! are not kept yet.

use std::fmt::Write as _;

use super::snapshot::leader;
use super::{java_double_to_string, AdminSnapshot};

/// A value of `mntr` and of the AdminServer's `monitor`: a number as Java prints it (a
/// `long` or a `double`), or a text (`version`, `server_state`, `peer_state`).
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A Java `long`.
    Int(i64),
    /// A Java `double` (`1.0`, not `1`).
    Double(f64),
    /// A string.
    Text(String),
}

fn int(v: u64) -> Option<MetricValue> {
    Some(MetricValue::Int(i64::try_from(v).unwrap_or(i64::MAX)))
}

type Gauge = fn(&AdminSnapshot) -> Option<MetricValue>;

/// Every gauge `mntr` prints, in Java 3.8's order: its `ConcurrentHashMap` order for the
/// gauges a leader registers on first start (checked against the standalone capture; a
/// follower's and an observer's subsets keep this order). All of Java's gauges are here.
static MNTR_GAUGES: &[(&str, Gauge)] = &[
    ("ephemerals_count", |s| int(s.ephemerals_count)),
    ("num_alive_connections", |s| int(s.alive_connections)),
    ("avg_latency", |s| {
        Some(MetricValue::Double(s.request_latency.java_avg()))
    }),
    ("min_proposal_size", |s| {
        leader(s).map(|l| MetricValue::Int(l.proposal_sizes.min.into()))
    }),
    ("outstanding_requests", |s| int(s.outstanding_requests)),
    ("znode_count", |s| int(s.node_count)),
    ("global_sessions", |s| int(s.global_sessions)),
    ("non_mtls_remote_conn_count", |s| {
        int(s.non_mtls_remote_conn_count)
    }),
    ("last_client_response_size", |s| {
        Some(MetricValue::Int(s.client_response_sizes.last.into()))
    }),
    ("packets_sent", |s| int(s.packets_sent)),
    ("packets_received", |s| int(s.packets_received)),
    ("max_proposal_size", |s| {
        leader(s).map(|l| MetricValue::Int(l.proposal_sizes.max.into()))
    }),
    ("max_client_response_size", |s| {
        Some(MetricValue::Int(s.client_response_sizes.max.into()))
    }),
    ("synced_followers", |s| {
        leader(s).map(|l| MetricValue::Int(l.synced_followers))
    }),
    ("connection_drop_probability", |s| {
        Some(MetricValue::Double(s.connection_drop_probability))
    }),
    ("watch_count", |s| int(s.watch_count)),
    ("synced_non_voting_followers", |s| {
        leader(s).map(|l| MetricValue::Int(l.synced_non_voting_followers))
    }),
    ("synced_observers", |s| {
        s.quorum.as_ref()?.synced_observers.map(MetricValue::Int)
    }),
    ("auth_failed_count", |s| int(s.auth_failed_count)),
    ("min_latency", |s| {
        Some(MetricValue::Int(s.request_latency.min_or_zero()))
    }),
    ("max_file_descriptor_count", |s| {
        Some(MetricValue::Int(s.max_file_descriptors))
    }),
    ("approximate_data_size", |s| int(s.approximate_data_size)),
    ("open_file_descriptor_count", |s| {
        Some(MetricValue::Int(s.open_file_descriptors))
    }),
    ("last_proposal_size", |s| {
        leader(s).map(|l| MetricValue::Int(l.proposal_sizes.last.into()))
    }),
    ("pending_syncs", |s| {
        leader(s).map(|l| MetricValue::Int(l.pending_syncs))
    }),
    ("leader_uptime", |s| {
        leader(s).map(|l| MetricValue::Int(l.leader_uptime_ms))
    }),
    ("local_sessions", |s| int(s.local_sessions)),
    ("uptime", |s| int(s.uptime_ms)),
    ("max_latency", |s| {
        Some(MetricValue::Int(s.request_latency.max_or_zero()))
    }),
    ("outstanding_tls_handshake", |s| {
        int(s.outstanding_tls_handshakes)
    }),
    ("learners", |s| {
        leader(s).map(|l| MetricValue::Int(l.learners))
    }),
    ("min_client_response_size", |s| {
        Some(MetricValue::Int(s.client_response_sizes.min.into()))
    }),
    ("non_mtls_local_conn_count", |s| {
        int(s.non_mtls_local_conn_count)
    }),
    ("quorum_size", |s| {
        s.quorum.as_ref().map(|q| MetricValue::Int(q.quorum_size))
    }),
    // Ours, after Java's: the archiver's, only with `backup.target`.
    ("backup_active", |s| {
        s.backup.map(|b| MetricValue::Int(b.active))
    }),
    ("backup_archived_zxid", |s| {
        s.backup.map(|b| MetricValue::Int(b.archived_zxid))
    }),
    ("backup_lag_ms", |s| {
        s.backup.map(|b| MetricValue::Int(b.lag_ms))
    }),
    ("backup_failures", |s| {
        s.backup.map(|b| MetricValue::Int(b.failures))
    }),
    ("backup_archived_txns", |s| {
        s.backup.map(|b| MetricValue::Int(b.archived_txns))
    }),
    ("backup_stored_bytes", |s| {
        s.backup.map(|b| MetricValue::Int(b.stored_bytes))
    }),
];

/// The gauges `mntr`, `monitor` and `/metrics` report, in Java's order; a role's gauges
/// only for that role (a leader's `learners`, a member's `quorum_size`).
pub fn gauge_values(s: &AdminSnapshot) -> Vec<(&'static str, MetricValue)> {
    MNTR_GAUGES
        .iter()
        .filter_map(|(name, gauge)| gauge(s).map(|v| (*name, v)))
        .collect()
}

/// What `mntr` and `monitor` report, in Java's order, keys without the `zk_` prefix:
/// `version`, `server_state`, an ensemble member's `peer_state` (and an observer's
/// `observer_master_id`), the gauges, then the counters and summaries of the registry
/// (see [`crate::metrics::Counter`] and [`crate::metrics::SummaryKind`]; missing ones
/// print zeros), then any others in the snapshot, sorted.
pub fn monitor_values(s: &AdminSnapshot) -> Vec<(String, MetricValue)> {
    use crate::metrics::{Counter, Detail, SummaryKind};
    fn summary(
        out: &mut Vec<(String, MetricValue)>,
        s: &AdminSnapshot,
        name: &str,
        with_percentiles: bool,
    ) {
        let sum = s.summaries.get(name).copied().unwrap_or_default();
        let count = i64::try_from(sum.count).unwrap_or(i64::MAX);
        out.push((format!("avg_{name}"), MetricValue::Double(sum.java_avg())));
        out.push((format!("min_{name}"), MetricValue::Int(sum.min_or_zero())));
        out.push((format!("max_{name}"), MetricValue::Int(sum.max_or_zero())));
        out.push((format!("cnt_{name}"), MetricValue::Int(count)));
        out.push((format!("sum_{name}"), MetricValue::Int(sum.total)));
        if with_percentiles {
            let p = s.percentiles.get(name).copied().unwrap_or_default();
            for (q, v) in [
                ("p50", p.p50),
                ("p95", p.p95),
                ("p99", p.p99),
                ("p999", p.p999),
            ] {
                out.push((format!("{q}_{name}"), MetricValue::Int(v)));
            }
        }
    }

    let mut out = vec![
        ("version".to_owned(), MetricValue::Text(s.version.clone())),
        (
            "server_state".to_owned(),
            MetricValue::Text(s.mode.as_str().to_owned()),
        ),
    ];
    if let Some(q) = &s.quorum {
        out.push((
            "peer_state".to_owned(),
            MetricValue::Text(q.peer_state.clone()),
        ));
        if let Some(id) = q.observer_master_id {
            out.push(("observer_master_id".to_owned(), MetricValue::Int(id)));
        }
    }
    out.extend(gauge_values(s).into_iter().map(|(k, v)| (k.to_owned(), v)));
    for c in Counter::ALL {
        let v = s.counters.get(c.name()).copied().unwrap_or(0);
        out.push((c.name().to_owned(), MetricValue::Int(v)));
    }
    for (name, v) in &s.counters {
        if !Counter::ALL.iter().any(|c| c.name() == name) {
            out.push((name.clone(), MetricValue::Int(*v)));
        }
    }
    for kind in SummaryKind::ALL {
        summary(&mut out, s, kind.name(), kind.detail() == Detail::Advanced);
    }
    for name in s.summaries.keys() {
        if !SummaryKind::ALL.iter().any(|k| k.name() == name) {
            summary(&mut out, s, name, s.percentiles.contains_key(name));
        }
    }
    out
}

/// `mntr`: `MonitorCommand`, one `zk_<key>\t<value>` line per [`monitor_values`] entry.
pub(super) fn mntr(out: &mut String, s: &AdminSnapshot) {
    for (key, value) in monitor_values(s) {
        let _ = match value {
            MetricValue::Int(v) => writeln!(out, "zk_{key}\t{v}"),
            MetricValue::Double(v) => writeln!(out, "zk_{key}\t{}", java_double_to_string(v)),
            MetricValue::Text(v) => writeln!(out, "zk_{key}\t{v}"),
        };
    }
}

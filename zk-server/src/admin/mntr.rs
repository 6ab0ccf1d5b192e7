//! `mntr`: Java's `MonitorCommand`. Java's gauges, counters and summaries, in Java's order,
//! each printed as `zk_<name>\t<value>`.

use std::fmt::Write as _;

use super::snapshot::leader;
use super::{java_double_to_string, AdminSnapshot};

/// The counters `mntr` prints, in Java 3.8's order (its `ConcurrentHashMap` order). Java
/// has 47; the 26 left out: `watch_bytes`, `outstanding_changes_removed`,
/// `stale_requests_dropped`, `insecure_admin_count`, `cnxn_closed_without_zk_server_running`,
/// `dead_watchers_queued`, `stale_requests`, `dead_watchers_cleared`,
/// `response_packet_cache_hits`, `add_dead_watcher_stall_time`, `request_throttle_wait_count`,
/// `requests_not_forwarded_to_commit_processor`, `response_packet_cache_misses`,
/// `ensemble_auth_success`, `prep_processor_request_queued`, `stale_replies`,
/// `ensemble_auth_fail`, `response_packet_get_children_cache_misses`,
/// `quit_leading_due_to_disloyal_voter`, `response_packet_get_children_cache_hits`,
/// `sync_processor_request_queued`, `outstanding_changes_queued`, `request_commit_queued`,
/// `ensemble_auth_skip`, `skip_learner_request_to_next_processor_count`,
/// `tls_handshake_exceeded`.
pub const MNTR_COUNTERS: &[&str] = &[
    "proposal_count",
    "throttled_ops",
    "large_requests_rejected",
    "connection_rejected",
    "sessionless_connections_expired",
    "looking_count",
    "connection_drop_count",
    "learner_proposal_received_count",
    "digest_mismatches_count",
    "bytes_received_count",
    "learner_commit_received_count",
    "connection_request_count",
    "response_bytes",
    "diff_count",
    "connection_revalidate_count",
    "snap_count",
    "unrecoverable_error_count",
    "unsuccessful_handshake",
    "commit_count",
    "stale_sessions_expired",
    "revalidate_count",
];

/// The summaries `mntr` prints (`zk_avg_`, `min_`, `max_`, `cnt_`, `sum_` + name, then
/// `p50_`, `p95_`, `p99_`, `p999_` if the flag is set), in Java 3.8's order. Java prints about
/// 75 summaries and 13 per-namespace summary sets (`<ns>_read_per_namespace`,
/// `<ns>_write_per_namespace`); those left out are the request-processor internals
/// (`*_queue_size`, `*_queue_time_ms`, `*commit_proc*`, `*commitproc*`, `om_*`, `prep_*`,
/// `sync_process*`, `sync_processor_*`, `*_session_queue*`, `session_queues_drained`,
/// `node_*_watch_count`, `jvm_pause_time_ms`, `netty_queued_buffer_capacity`,
/// `connection_token_deficit`, `socket_closing_time`, `proposal_process_time`,
/// `startup_*`, `inflight_*`, `close_session_prep_time`, `write_batch_time_in_commit_processor`,
/// `concurrent_request_processing_in_commit_processor`, `time_waiting_empty_pool_*`,
/// `learner_request_processor_queue_size`, `local_write_committed_time_ms`,
/// `server_write_committed_time_ms`, `read_final_proc_time_ms`, `write_final_proc_time_ms`,
/// `request_throttle_queue_time_ms`, `dead_watchers_cleaner_latency`,
/// `proposal_ack_creation_latency`) and the per-namespace sets. Java's quota gauge sets
/// (`<ns>_quota_*_per_namespace`, printed only with quotas) are left out too.
pub const MNTR_SUMMARIES: &[(&str, bool)] = &[
    ("leader_unavailable_time", false),
    ("follower_sync_time", false),
    ("fsynctime", false),
    ("snapshottime", false),
    ("unavailable_time", false),
    ("dbinittime", false),
    ("election_time", false),
    ("observer_sync_time", false),
    ("updatelatency", true),
    ("readlatency", true),
    ("quorum_ack_latency", true),
    ("commit_propagation_latency", true),
    ("proposal_latency", true),
    ("propagation_latency", true),
];

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
];

/// What `mntr` and `monitor` report, in Java's order, keys without the `zk_` prefix:
/// `version`, `server_state`, an ensemble member's `peer_state` (and an observer's
/// `observer_master_id`), the gauges, the counters, then the summaries.
pub fn monitor_values(s: &AdminSnapshot) -> Vec<(String, MetricValue)> {
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
    for (name, gauge) in MNTR_GAUGES {
        if let Some(value) = gauge(s) {
            out.push(((*name).to_owned(), value));
        }
    }
    for name in MNTR_COUNTERS {
        let v = s.counters.get(*name).copied().unwrap_or(0);
        out.push(((*name).to_owned(), MetricValue::Int(v)));
    }
    for (name, v) in &s.counters {
        if !MNTR_COUNTERS.contains(&name.as_str()) {
            out.push((name.clone(), MetricValue::Int(*v)));
        }
    }
    for (name, with_percentiles) in MNTR_SUMMARIES {
        summary(&mut out, s, name, *with_percentiles);
    }
    for name in s.summaries.keys() {
        if !MNTR_SUMMARIES.iter().any(|(n, _)| n == name) {
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

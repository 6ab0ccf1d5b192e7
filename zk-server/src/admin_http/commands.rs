//! The commands of Java 3.9's AdminServer: their names and aliases, which need a running
//! server or an identity, and the JSON each answers, built from an [`AdminSnapshot`] with
//! Java's keys in Java's order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::EnsembleView;
use crate::admin::{monitor_values, AdminSnapshot, ConnectionInfo, MetricValue, ServerMode};

/// One command.
#[derive(Debug)]
pub struct Spec {
    /// The primary name first, then the aliases.
    pub names: &'static [&'static str],
    /// Answers only while the server serves (else Java's "not currently serving" error).
    pub server_required: bool,
    /// Needs an identity with ALL on `/` (`snapshot`, `restore`).
    pub guarded: bool,
    /// Runs on POST (`restore`) rather than GET.
    pub post: bool,
}

impl Spec {
    /// The name Java reports in `command`.
    pub fn primary(&self) -> &'static str {
        self.names[0]
    }
}

const fn get(names: &'static [&'static str], server_required: bool) -> Spec {
    Spec {
        names,
        server_required,
        guarded: false,
        post: false,
    }
}

/// Every command of Java 3.9 (`Commands.registerAllCommands`).
pub static COMMANDS: &[Spec] = &[
    get(&["connection_stat_reset", "crst"], true),
    get(&["configuration", "conf", "config"], true),
    get(&["connections", "cons"], true),
    get(&["hash"], true),
    get(&["dirs"], true),
    get(&["dump"], true),
    get(&["environment", "env", "envi"], false),
    get(&["get_trace_mask", "gtmk"], false),
    get(&["initial_configuration", "icfg"], true),
    get(&["is_read_only", "isro"], true),
    get(&["last_snapshot", "lsnp"], true),
    get(&["leader", "lead"], true),
    get(&["monitor", "mntr"], false),
    get(&["observer_connection_stat_reset", "orst"], true),
    Spec {
        names: &["restore", "rest"],
        server_required: true,
        guarded: true,
        post: true,
    },
    get(&["ruok"], true),
    get(&["set_trace_mask", "stmk"], false),
    Spec {
        names: &["snapshot", "snap"],
        server_required: true,
        guarded: true,
        post: false,
    },
    get(&["server_stats", "srvr"], true),
    get(&["stats", "stat"], true),
    get(&["stat_reset", "srst"], true),
    get(&["observers", "obsr"], true),
    get(&["system_properties", "sysp"], false),
    get(&["voting_view"], true),
    get(&["watches", "wchc"], true),
    get(&["watches_by_path", "wchp"], true),
    get(&["watch_summary", "wchs"], true),
    get(&["zabstate"], false),
];

/// The command a name or alias runs.
pub fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// The primary names, sorted (the `/commands` index).
pub fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<_> = COMMANDS.iter().map(Spec::primary).collect();
    names.sort_unstable();
    names
}

/// Every name and alias.
pub fn command_names() -> Vec<&'static str> {
    COMMANDS
        .iter()
        .flat_map(|c| c.names.iter().copied())
        .collect()
}

/// Java's `CommandResponse.toMap`: the data, then `command`, then `error` (unless the data
/// holds an `error` of its own, which then keeps its place).
pub fn response(command: &str, error: Option<&str>, data: Map<String, Value>) -> Value {
    let mut m = data;
    let has_error = m.contains_key("error");
    m.insert("command".into(), command.into());
    if !has_error {
        m.insert("error".into(), error.map_or(Value::Null, Value::from));
    }
    Value::Object(m)
}

/// What the commands read besides the snapshot.
#[derive(Debug, Default)]
pub struct Extras {
    /// The ensemble as configured.
    pub ensemble: Option<EnsembleView>,
    /// The zoo.cfg text.
    pub initial_config: String,
    /// The newest snapshot: zxid and file time, seconds.
    pub last_snapshot: Option<(i64, i64)>,
    /// The Java-style system properties (`system_properties`).
    pub system_properties: Vec<(String, String)>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object"),
    }
}

fn metric(v: MetricValue) -> Value {
    match v {
        MetricValue::Int(i) => i.into(),
        MetricValue::Double(d) => d.into(),
        MetricValue::Text(t) => t.into(),
    }
}

fn connection(c: &ConnectionInfo, brief: bool) -> Value {
    let mut m = object(json!({
        "remote_socket_address": crate::admin::java_socket_addr(&c.remote).trim_start_matches('/'),
        "interest_ops": c.interest_ops,
        "outstanding_requests": c.queued,
        "packets_received": c.packets_received,
        "packets_sent": c.packets_sent,
    }));
    if !brief {
        m.extend(object(json!({
            "session_id": c.session_id,
            "last_operation": c.last_op,
            "established": c.established_wall_ms,
            "session_timeout": c.session_timeout_ms,
            "last_cxid": c.last_cxid,
            "last_zxid": c.last_zxid,
            "last_response_time": c.last_response_monotonic_ms,
            "last_latency": c.last_latency_ms,
            "min_latency": c.latency.min_or_zero(),
            "avg_latency": c.latency.truncated_avg(),
            "max_latency": c.latency.max_or_zero(),
        })));
    }
    Value::Object(m)
}

fn buffer_stats(b: &crate::admin::BufferStats) -> Value {
    json!({
        "last_buffer_size": b.last,
        "min_buffer_size": b.min,
        "max_buffer_size": b.max,
    })
}

/// `server_stats` (`srvr`), and the start of `stats`.
fn server_stats(s: &AdminSnapshot) -> Map<String, Value> {
    let mut m = object(json!({
        "version": s.version,
        "read_only": s.mode == ServerMode::ReadOnly,
        "server_stats": {
            "packets_sent": s.packets_sent,
            "packets_received": s.packets_received,
            "fsync_threshold_exceed_count": s.counters.get("fsync_threshold_exceed_count").copied().unwrap_or(0),
            "client_response_stats": buffer_stats(&s.client_response_sizes),
            "data_dir_size": s.data_dir_size,
            "log_dir_size": s.log_dir_size,
            "provider_null": false,
            "server_state": s.mode.as_str(),
            "last_processed_zxid": s.last_zxid,
            "outstanding_requests": s.outstanding_requests,
            "avg_latency": s.request_latency.java_avg(),
            "max_latency": s.request_latency.max_or_zero(),
            "min_latency": s.request_latency.min_or_zero(),
            "num_alive_client_connections": s.alive_connections,
            "uptime": s.uptime_ms,
            "auth_failed_count": s.auth_failed_count,
            "non_mtlsremote_conn_count": s.non_mtls_remote_conn_count,
            "non_mtlslocal_conn_count": s.non_mtls_local_conn_count,
        },
        "client_response": buffer_stats(&s.client_response_sizes),
    }));
    if let Some(leader) = s.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
        m.insert(
            "proposal_stats".into(),
            buffer_stats(&leader.proposal_sizes),
        );
    }
    m.insert("node_count".into(), s.node_count.into());
    m
}

fn connections(s: &AdminSnapshot, brief: bool) -> Map<String, Value> {
    let list: Vec<Value> = s.connections.iter().map(|c| connection(c, brief)).collect();
    // One client port factory here; TLS connections are listed with the others.
    object(json!({ "connections": list, "secure_connections": [] }))
}

fn sessions_to_paths(m: &BTreeMap<i64, BTreeSet<String>>) -> Value {
    Value::Object(
        m.iter()
            .map(|(sid, paths)| (sid.to_string(), json!(paths)))
            .collect(),
    )
}

/// Java's `MultipleAddresses` as Jackson writes the bean (`zabstate` prints it so): every
/// getter, the addresses taken as reachable.
fn multiple_addresses(
    member: &super::MemberView,
    port: fn(&crate::quorum::verifier::ServerAddress) -> u16,
) -> Value {
    let addresses = member.host_ports(port);
    let ports: Vec<u16> = member.addresses.iter().map(port).collect();
    let hosts = member.hosts();
    let first = addresses.first().cloned().unwrap_or_default();
    let wildcard: Vec<String> = ports.iter().map(|p| format!("0.0.0.0:{p}")).collect();
    json!({
        "empty": addresses.is_empty(),
        "all_addresses": addresses,
        "all_reachable_addresses": addresses,
        "one": first,
        "reachable_address": first,
        "wildcard_addresses": wildcard,
        "all_ports": ports,
        "all_host_strings": hosts,
        "all_reachable_addresses_or_all": addresses,
        "reachable_or_one": first,
    })
}

fn zxid_hex(zxid: i64) -> String {
    format!("{:x}", zxid as u64)
}

/// The data of the command `primary` (a GET command other than `snapshot`), or `None` for a
/// command whose answer is not data (the resets and the trace mask are performed by the
/// caller first; their data is built here).
pub fn data(
    primary: &str,
    s: &AdminSnapshot,
    x: &Extras,
    query: &BTreeMap<String, String>,
) -> Map<String, Value> {
    match primary {
        "configuration" => {
            let c = &s.conf;
            object(json!({
                "client_port": c.client_port,
                "data_dir": c.data_dir.display().to_string(),
                "data_log_dir": c.data_log_dir.display().to_string(),
                "tick_time": c.tick_time_ms,
                "max_client_cnxns": c.max_client_cnxns,
                "min_session_timeout": c.min_session_timeout_ms,
                "max_session_timeout": c.max_session_timeout_ms,
                "server_id": c.server_id,
                "client_port_listen_backlog": c.client_port_listen_backlog,
            }))
        }
        "connections" => connections(s, false),
        "dirs" => object(json!({
            "datadir_size": s.data_dir_size,
            "logdir_size": s.log_dir_size,
        })),
        "dump" => {
            let buckets: Map<String, Value> = s
                .session_buckets
                .iter()
                .map(|b| (b.expires_at_monotonic_ms.to_string(), json!(b.members)))
                .collect();
            object(json!({
                "expiry_time_to_session_ids": buckets,
                "session_id_to_ephemeral_paths": sessions_to_paths(&s.ephemerals),
            }))
        }
        "environment" => {
            let mut m = Map::new();
            m.insert("zookeeper.version".into(), s.version.clone().into());
            for (k, v) in &s.env {
                m.insert(k.clone(), v.clone().into());
            }
            m
        }
        "hash" => {
            let digests: Vec<Value> = s
                .digest_log
                .iter()
                .map(|(zxid, digest)| json!({"zxid": zxid, "digest": digest, "digest_version": 2}))
                .collect();
            object(json!({ "digests": digests }))
        }
        "get_trace_mask" => object(json!({ "tracemask": s.trace_mask })),
        "set_trace_mask" => match query.get("traceMask") {
            None => object(json!({"error": "setTraceMask requires long traceMask argument"})),
            Some(v) => match v.parse::<i64>() {
                Ok(mask) => object(json!({ "tracemask": mask })),
                Err(_) => object(json!({
                    "error": format!("setTraceMask requires long traceMask argument, got {v}")
                })),
            },
        },
        "initial_configuration" => object(json!({ "initial_configuration": x.initial_config })),
        "is_read_only" => object(json!({ "read_only": s.mode == ServerMode::ReadOnly })),
        "last_snapshot" => {
            let (zxid, timestamp) = x.last_snapshot.unwrap_or((-1, -1));
            object(json!({ "zxid": zxid_hex(zxid), "timestamp": timestamp }))
        }
        "leader" => match (&x.ensemble, &s.quorum) {
            (Some(e), Some(q)) => {
                // Java prints the host of the leader's quorum address, without the port.
                let leader_ip = e
                    .members
                    .iter()
                    .find(|m| Some(m.id) == q.leader_id)
                    .map(|m| m.hosts().join("|"))
                    .unwrap_or_default();
                object(json!({
                    "is_leader": s.mode == ServerMode::Leader,
                    "leader_id": q.leader_id.unwrap_or(-1),
                    "leader_ip": leader_ip,
                }))
            }
            _ => object(json!({ "error": "server is not initialized" })),
        },
        "monitor" => monitor_values(s)
            .into_iter()
            .map(|(k, v)| (k, metric(v)))
            .collect(),
        "observers" => {
            let count = s
                .quorum
                .as_ref()
                .and_then(|q| q.synced_observers)
                .unwrap_or(0);
            let observers: Vec<Value> = s
                .quorum
                .iter()
                .flat_map(|q| &q.observers)
                .map(|o| {
                    json!({
                        "remote_socket_address": o.remote_socket_address,
                        "sid": o.sid,
                        "established": o.established_wall_ms,
                        // The send queue's length is not kept.
                        "queued_packets": 0,
                        "queued_packets_size": 0,
                        "packets_received": o.packets_received,
                        "packets_sent": o.packets_sent,
                        "requests": o.requests,
                        "last_zxid": o.last_zxid,
                    })
                })
                .collect();
            object(json!({ "synced_observers": count, "observers": observers }))
        }
        "server_stats" => server_stats(s),
        "stats" => {
            let mut m = server_stats(s);
            m.extend(connections(s, true));
            m
        }
        "system_properties" => x
            .system_properties
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
        "voting_view" => {
            let config: Map<String, Value> = x
                .ensemble
                .as_ref()
                .map(|e| {
                    e.members
                        .iter()
                        .filter(|m| m.voting)
                        .map(|m| {
                            (
                                m.id.to_string(),
                                json!({
                                    "server_addresses": m.host_ports(|a| a.quorum_port),
                                    "election_addresses": m.host_ports(|a| a.election_port),
                                    "client_address": m.client_address,
                                    "learner_type": "participant",
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            object(json!({ "current_config": config }))
        }
        "watches" => object(json!({
            "session_id_to_watched_paths": sessions_to_paths(&s.data_watches)
        })),
        "watches_by_path" => {
            let mut by_path: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
            for (sid, paths) in &s.data_watches {
                for p in paths {
                    by_path.entry(p).or_default().push(*sid);
                }
            }
            object(json!({ "path_to_session_ids": by_path }))
        }
        "watch_summary" => {
            let paths: BTreeSet<&String> = s.data_watches.values().flatten().collect();
            let total: usize = s.data_watches.values().map(BTreeSet::len).sum();
            object(json!({
                "num_connections": s.data_watches.len(),
                "num_paths": paths.len(),
                "num_total_watches": total,
            }))
        }
        "zabstate" => match (&x.ensemble, s.serving, &s.quorum) {
            (Some(e), true, Some(_)) => {
                let me = e.members.iter().find(|m| m.id == e.my_id);
                object(json!({
                    "myid": e.my_id,
                    "is_leader": s.mode == ServerMode::Leader,
                    "quorum_address": me.map(|m| multiple_addresses(m, |a| a.quorum_port)),
                    "election_address": me.map(|m| multiple_addresses(m, |a| a.election_port)),
                    "client_address": me.map(|m| m.client_address.clone()).unwrap_or_default(),
                    "voting": me.is_some_and(|m| m.voting),
                    "last_zxid": format!("0x{}", zxid_hex(s.last_zxid)),
                    "zab_epoch": s.last_zxid >> 32,
                    "zab_counter": s.last_zxid & 0xffff_ffff,
                    "zabstate": "broadcast",
                }))
            }
            // Java answers so whenever no quorum server serves: standalone, or in election.
            _ => object(json!({ "voting": false, "zabstate": "" })),
        },
        // The resets, ruok: no data.
        _ => Map::new(),
    }
}

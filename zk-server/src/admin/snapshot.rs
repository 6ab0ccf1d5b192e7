//! [`AdminSnapshot`]: the state of the server every word reads, filled by the server core,
//! with the role ([`ServerMode`]) and the ensemble facts ([`QuorumStats`], [`LeaderStats`])
//! that several words print. The data that only one word family reads lives with its
//! formatter (`conf`, `envi`, `dump`, `stat`).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    full_version, BufferStats, ConfInfo, ConnectionInfo, ConnectionRef, ExpiryBucket, Percentiles,
    Summary, DEFAULT_TRACE_MASK,
};
#[cfg(doc)]
use super::{HostEnv, NOT_SERVING};

/// The role a server plays, as `Mode:` and `zk_server_state` print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerMode {
    /// A single server (`standalone`).
    #[default]
    Standalone,
    /// The ensemble leader (`leader`).
    Leader,
    /// A voting follower (`follower`).
    Follower,
    /// A non-voting observer (`observer`).
    Observer,
    /// A partitioned member serving reads only (`read-only`).
    ReadOnly,
}

impl ServerMode {
    /// The name Java prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMode::Standalone => "standalone",
            ServerMode::Leader => "leader",
            ServerMode::Follower => "follower",
            ServerMode::Observer => "observer",
            ServerMode::ReadOnly => "read-only",
        }
    }
}

/// What an ensemble member adds to `mntr`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumStats {
    /// `zk_peer_state`: Java's `getDetailedPeerState`, e.g. `following - broadcast`,
    /// `leading - broadcast`, `looking`.
    pub peer_state: String,
    /// `zk_quorum_size`: the number of voting members.
    pub quorum_size: i64,
    /// `zk_synced_observers` (leader and follower; an observer may sync from either).
    pub synced_observers: Option<i64>,
    /// `zk_observer_master_id` (observer only).
    pub observer_master_id: Option<i64>,
    /// The leader's gauges (leader only).
    pub leader: Option<LeaderStats>,
    /// The leader's id (`leader`), when known.
    pub leader_id: Option<i64>,
    /// The synced observers (`observers`, leader only).
    pub observers: Vec<LearnerInfo>,
}

/// One synced observer as the leader's `observers` command lists it (Java's
/// `LearnerHandler.getLearnerHandlerInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LearnerInfo {
    /// The observer's address, as Java prints a socket address (`/127.0.0.1:52814`).
    pub remote_socket_address: String,
    /// Its server id.
    pub sid: i64,
    /// When its connection was accepted, ms since the epoch.
    pub established_wall_ms: i64,
    /// Packets sent to it.
    pub packets_sent: u64,
    /// Packets received from it.
    pub packets_received: u64,
    /// REQUEST packets received from it (its clients' writes).
    pub requests: u64,
    /// The zxid of the last packet with one sent to it, -1 before any.
    pub last_zxid: i64,
}

/// The leader's `mntr` gauges and the `Proposal sizes` line of `srvr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaderStats {
    /// `zk_learners`: connected followers and observers.
    pub learners: i64,
    /// `zk_synced_followers`: followers in broadcast.
    pub synced_followers: i64,
    /// `zk_synced_non_voting_followers`.
    pub synced_non_voting_followers: i64,
    /// `zk_pending_syncs`.
    pub pending_syncs: i64,
    /// `zk_leader_uptime`, ms since this server became leader.
    pub leader_uptime_ms: i64,
    /// Sizes of the proposals sent (`zk_{last,min,max}_proposal_size`).
    pub proposal_sizes: BufferStats,
}

/// The state of the server as the four-letter words show it. Times are inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSnapshot {
    /// False while the server does not serve (e.g. during leader election): most words then
    /// answer [`NOT_SERVING`].
    pub serving: bool,
    /// The archiver's gauges, on a server with `backup.target` (ours, `backup_*`).
    pub backup: Option<crate::backup::archiver::BackupGauges>,
    /// The version line, normally [`full_version`].
    pub version: String,
    /// The role (`Mode:`, `zk_server_state`, `isro`).
    pub mode: ServerMode,
    /// The wall clock, ms since the epoch, read together with `now_monotonic_ms`; turns the
    /// monotonic expiry times of `dump` into dates.
    pub now_wall_ms: i64,
    /// The monotonic clock, ms, read together with `now_wall_ms`.
    pub now_monotonic_ms: u64,

    /// Latency of every request answered, ms (`Latency min/avg/max`, `zk_*_latency`).
    pub request_latency: Summary,
    /// Packets received from clients.
    pub packets_received: u64,
    /// Packets sent to clients.
    pub packets_sent: u64,
    /// Open client connections, the asking one included (`Connections:`).
    pub alive_connections: u64,
    /// Requests in the pipeline (`Outstanding:`).
    pub outstanding_requests: u64,
    /// The last processed zxid (`Zxid:`).
    pub last_zxid: i64,
    /// Nodes in the tree (`Node count:`, `zk_znode_count`).
    pub node_count: u64,

    /// Open client connections for `stat` and `cons`, in the order to print.
    pub connections: Vec<ConnectionInfo>,
    /// Data watches by session, for `wchs`, `wchc` and `wchp` (Java shows only the data watch
    /// manager there, not the child watches).
    pub data_watches: BTreeMap<i64, BTreeSet<String>>,
    /// Ephemeral nodes by owner session (`dump`).
    pub ephemerals: BTreeMap<i64, BTreeSet<String>>,
    /// Session expiry buckets (`dump`).
    pub session_buckets: Vec<ExpiryBucket<i64>>,
    /// Connection expiry buckets (`dump`). Java's NIO factory has them; its Netty factory does
    /// not, and prints nothing after `Connections dump:` (`None`).
    pub connection_buckets: Option<Vec<ExpiryBucket<ConnectionRef>>>,

    /// Bytes in the snapshot directory (`dirs`, `conf`).
    pub data_dir_size: u64,
    /// Bytes in the transaction log directory (`dirs`, `conf`).
    pub log_dir_size: u64,
    /// The configuration (`conf`).
    pub conf: ConfInfo,
    /// The lines of `envi` after `zookeeper.version` (see [`HostEnv::entries`]).
    pub env: Vec<(String, String)>,
    /// The text trace mask (`gtmk`).
    pub trace_mask: i64,
    /// The digest history, (zxid, digest) (`hash`).
    pub digest_log: Vec<(i64, i64)>,

    /// `zk_ephemerals_count`.
    pub ephemerals_count: u64,
    /// `zk_watch_count`: data and child watches.
    pub watch_count: u64,
    /// `zk_approximate_data_size`: bytes of paths and data.
    pub approximate_data_size: u64,
    /// `zk_global_sessions`.
    pub global_sessions: u64,
    /// `zk_local_sessions`.
    pub local_sessions: u64,
    /// `zk_uptime`, ms since the server started serving.
    pub uptime_ms: u64,
    /// `zk_open_file_descriptor_count`, -1 if unknown.
    pub open_file_descriptors: i64,
    /// `zk_max_file_descriptor_count`, -1 if unknown.
    pub max_file_descriptors: i64,
    /// `zk_connection_drop_probability`.
    pub connection_drop_probability: f64,
    /// Sizes of the replies sent (`zk_{last,min,max}_client_response_size`).
    pub client_response_sizes: BufferStats,
    /// `zk_outstanding_tls_handshake`.
    pub outstanding_tls_handshakes: u64,
    /// `zk_auth_failed_count`.
    pub auth_failed_count: u64,
    /// `zk_non_mtls_remote_conn_count`.
    pub non_mtls_remote_conn_count: u64,
    /// `zk_non_mtls_local_conn_count`.
    pub non_mtls_local_conn_count: u64,
    /// Ensemble members only.
    pub quorum: Option<QuorumStats>,
    /// Counters by Java name (see [`crate::metrics::Counter`]); missing ones print 0.
    pub counters: BTreeMap<String, i64>,
    /// Summaries by Java name (see [`crate::metrics::SummaryKind`]); missing ones print zeros.
    pub summaries: BTreeMap<String, Summary>,
    /// Percentiles of the ADVANCED summaries (see [`crate::metrics::Detail`]).
    pub percentiles: BTreeMap<String, Percentiles>,
}

impl Default for AdminSnapshot {
    fn default() -> Self {
        AdminSnapshot {
            serving: true,
            backup: None,
            version: full_version(super::build_date()),
            mode: ServerMode::Standalone,
            now_wall_ms: 0,
            now_monotonic_ms: 0,
            request_latency: Summary::default(),
            packets_received: 0,
            packets_sent: 0,
            alive_connections: 0,
            outstanding_requests: 0,
            last_zxid: 0,
            node_count: 0,
            connections: Vec::new(),
            data_watches: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            session_buckets: Vec::new(),
            connection_buckets: Some(Vec::new()),
            data_dir_size: 0,
            log_dir_size: 0,
            conf: ConfInfo::default(),
            env: Vec::new(),
            trace_mask: DEFAULT_TRACE_MASK,
            digest_log: Vec::new(),
            ephemerals_count: 0,
            watch_count: 0,
            approximate_data_size: 0,
            global_sessions: 0,
            local_sessions: 0,
            uptime_ms: 0,
            open_file_descriptors: -1,
            max_file_descriptors: -1,
            connection_drop_probability: 0.0,
            client_response_sizes: BufferStats::default(),
            outstanding_tls_handshakes: 0,
            auth_failed_count: 0,
            non_mtls_remote_conn_count: 0,
            non_mtls_local_conn_count: 0,
            quorum: None,
            counters: BTreeMap::new(),
            summaries: BTreeMap::new(),
            percentiles: BTreeMap::new(),
        }
    }
}

/// The leader's stats, if this server leads.
pub(super) fn leader(s: &AdminSnapshot) -> Option<&LeaderStats> {
    s.quorum.as_ref()?.leader.as_ref()
}

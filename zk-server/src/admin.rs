//! The four-letter words (`ruok`, `srvr`, `mntr`, ...): what the server answers, formatted
//! byte for byte as a Java 3.8 server does (monitoring scripts, `zkServer.sh status` and zktop
//! parse these texts).
//!
//! Pure: no sockets and no clocks. When a word arrives, the server core fills an
//! [`AdminSnapshot`] (only if [`needs_snapshot`] says the word reads one), calls [`answer`],
//! performs [`Answer::action`] (a stats reset or a new trace mask), writes [`Answer::bytes`] and
//! closes the connection.
//!
//! # Whitelist
//!
//! As Java's `FourLetterCommands.isEnabled`: a word runs only if it is in
//! `4lw.commands.whitelist` (`*` means every word), and `srvr` always runs. Java also adds `isro`
//! when `readonlymode.enabled=true`; [`whitelist_from_property`] does both. A known word that
//! is not enabled is answered `<word> is not executed because it is not in the whitelist.\n`.
//!
//! # Version
//!
//! Clients read the server version from `srvr`, `stat`, `envi` and `mntr` to decide which
//! features to use, so we report a ZooKeeper version, not our crate's: [`full_version`] gives
//! `3.9.3-zk-rs-<CARGO_PKG_VERSION>, built on <build date>`, shaped like Java's
//! `<version>-<revision>, built on <date>`. Parsers that cut at the first `-` or `,` see `3.9.3`
//! (the 3.9 protocol is what this server speaks), and `zk-rs-...` stands where Java has its git
//! revision.
//!
//! # Differences from Java
//!
//! - Java prints hash sets (watches, ephemerals, expiry buckets, connections) in hash order; we
//!   print sessions and paths sorted, and connections in the order the snapshot lists them.
//! - `dump` dates are printed in UTC (Java uses the JVM's default zone; the capture was UTC).
//! - `mntr` prints a subset of Java's ~550 lines, see [`answer`] for the list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use zk_proto::frame::FourLetterWord;

use crate::config::PeerType;

/// The ZooKeeper release whose protocol and features this server offers; the first part of the
/// version string every word reports.
pub const COMPAT_ZOOKEEPER_VERSION: &str = "3.9.3";

/// Java's default text trace mask (`ZooTrace`: client requests, server packets, sessions,
/// warnings), what `gtmk` answers until `stmk` changes it.
pub const DEFAULT_TRACE_MASK: i64 = 0x132;

/// What Java prints (followed by a newline for most words) while the server is not serving,
/// e.g. during leader election.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The version line of `srvr`/`stat`/`envi`/`mntr`: `3.9.3-zk-rs-<CARGO_PKG_VERSION>, built on
/// <build_date>` (Java's build dates look like `2024-12-29 17:54 UTC`).
pub fn full_version(build_date: &str) -> String {
    format!(
        "{COMPAT_ZOOKEEPER_VERSION}-zk-rs-{}, built on {build_date}",
        env!("CARGO_PKG_VERSION")
    )
}

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
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.total = self.total.saturating_add(value);
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

/// One client connection, as `stat` and `cons` print it (Java's `ServerCnxn` stats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Java's selector interest ops, printed in hex: 1 (`OP_READ`) for a connection waiting for
    /// requests, 0 for the four-letter-word connection that asks, 5 while a reply is queued.
    pub interest_ops: u32,
    /// Requests received but not answered yet (`queued=`).
    pub queued: u64,
    /// Packets received on this connection (`recved=`).
    pub packets_received: u64,
    /// Packets sent on this connection (`sent=`).
    pub packets_sent: u64,
    /// The session, 0 before the handshake (then `cons` prints the short form too).
    pub session_id: i64,
    /// The last operation answered: Java's 4-letter codes (`GETD`, `CREA`, `PING`, `SESS`,
    /// `MULT`, ...), `NA` before any.
    pub last_op: String,
    /// When the connection was accepted, wall clock ms since the epoch (`est=`).
    pub established_wall_ms: i64,
    /// The negotiated session timeout (`to=`).
    pub session_timeout_ms: i32,
    /// The xid of the last request answered, -1 before any (then `lcxid` is left out).
    pub last_cxid: i64,
    /// The zxid of the last reply, -1 before any (`lzxid=0xffffffffffffffff`, as Java).
    pub last_zxid: i64,
    /// When the last reply was sent, monotonic ms (Java's `Time.currentElapsedTime`, `lresp=`).
    pub last_response_monotonic_ms: i64,
    /// Latency of the last request, ms (`llat=`).
    pub last_latency_ms: i64,
    /// Latencies of this connection's requests, ms (`minlat`, `avglat` truncated, `maxlat`).
    pub latency: Summary,
}

/// A reference to a connection in the connection expiry buckets of `dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRef {
    /// The client's address.
    pub remote: SocketAddr,
    /// Its session, 0 if none.
    pub session_id: i64,
}

/// The members that expire together at one time (Java's `ExpiryQueue` bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryBucket<T> {
    /// When the bucket expires, monotonic ms (converted to a date with the snapshot's clocks).
    pub expires_at_monotonic_ms: u64,
    /// Its members; Java keeps empty buckets until they are polled, and prints them.
    pub members: Vec<T>,
}

/// The configuration `conf` prints (Java's `ZooKeeperServer.dumpConf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfInfo {
    /// The bound client port, -1 if none.
    pub client_port: i32,
    /// The bound TLS client port, -1 if none.
    pub secure_client_port: i32,
    /// The snapshot directory, absolute, including `version-2` (as Java's `snapLog.getSnapDir()`).
    pub data_dir: PathBuf,
    /// The transaction log directory, absolute, including `version-2`.
    pub data_log_dir: PathBuf,
    /// `tickTime` in ms.
    pub tick_time_ms: i32,
    /// `maxClientCnxns` per client host.
    pub max_client_cnxns: i32,
    /// The effective minimum session timeout, ms.
    pub min_session_timeout_ms: i32,
    /// The effective maximum session timeout, ms.
    pub max_session_timeout_ms: i32,
    /// `clientPortListenBacklog`, -1 for the OS default.
    pub client_port_listen_backlog: i32,
    /// `myid`, 0 standalone.
    pub server_id: i64,
    /// What ensemble members print after those.
    pub quorum: Option<QuorumConf>,
}

impl Default for ConfInfo {
    fn default() -> Self {
        ConfInfo {
            client_port: -1,
            secure_client_port: -1,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            tick_time_ms: 3000,
            max_client_cnxns: 60,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 60000,
            client_port_listen_backlog: -1,
            server_id: 0,
            quorum: None,
        }
    }
}

/// The ensemble part of `conf` (Java's `QuorumZooKeeperServer.dumpConf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConf {
    /// `initLimit` in ticks.
    pub init_limit: i32,
    /// `syncLimit` in ticks.
    pub sync_limit: i32,
    /// `electionAlg` (3, the only one left).
    pub election_alg: i32,
    /// This server's election ports (printed joined by `|`).
    pub election_ports: Vec<u16>,
    /// This server's quorum ports (printed joined by `|`).
    pub quorum_ports: Vec<u16>,
    /// Participant (0) or observer (1).
    pub peer_type: PeerType,
    /// The membership as the dynamic config prints it (`server.1=...` lines then
    /// `version=<hex>`, no final newline), printed after a `membership: ` line. `None` for a
    /// read-only server, which prints no membership.
    pub membership: Option<String>,
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
    /// Counters by Java name (see [`MNTR_COUNTERS`]); missing ones print 0.
    pub counters: BTreeMap<String, i64>,
    /// Summaries by Java name (see [`MNTR_SUMMARIES`]); missing ones print zeros.
    pub summaries: BTreeMap<String, Summary>,
    /// Percentiles of the summaries that have them (see [`MNTR_SUMMARIES`]).
    pub percentiles: BTreeMap<String, Percentiles>,
}

impl Default for AdminSnapshot {
    fn default() -> Self {
        AdminSnapshot {
            serving: true,
            version: full_version("unknown"),
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

/// The host facts `envi` shows, laid out with Java's keys by [`HostEnv::entries`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostEnv {
    /// `host.name`: the canonical host name.
    pub host_name: String,
    /// `java.io.tmpdir`: the temporary directory.
    pub tmp_dir: String,
    /// `os.name`, Java style (see [`HostEnv::java_os_name`]).
    pub os_name: String,
    /// `os.arch`, Java style (see [`HostEnv::java_os_arch`]).
    pub os_arch: String,
    /// `os.version`: the kernel release.
    pub os_version: String,
    /// `user.name`.
    pub user_name: String,
    /// `user.home`.
    pub user_home: String,
    /// `user.dir`: the working directory.
    pub user_dir: String,
    /// `os.memory.free`/`max`/`total` in MiB (Java shows its heap); `<NA>` when `None`.
    pub memory_mb: Option<(u64, u64, u64)>,
}

impl HostEnv {
    /// The `envi` lines after `zookeeper.version`, with Java's keys in Java's order. The
    /// `java.*` properties we do not have print `<NA>`, as Java prints an unset property.
    pub fn entries(&self) -> Vec<(String, String)> {
        let na = || "<NA>".to_owned();
        let mb = |pick: fn((u64, u64, u64)) -> u64| {
            self.memory_mb.map_or_else(na, |m| format!("{}MB", pick(m)))
        };
        [
            ("host.name", self.host_name.clone()),
            ("java.version", na()),
            ("java.vendor", na()),
            ("java.home", na()),
            ("java.class.path", na()),
            ("java.library.path", na()),
            ("java.io.tmpdir", self.tmp_dir.clone()),
            ("java.compiler", na()),
            ("os.name", self.os_name.clone()),
            ("os.arch", self.os_arch.clone()),
            ("os.version", self.os_version.clone()),
            ("user.name", self.user_name.clone()),
            ("user.home", self.user_home.clone()),
            ("user.dir", self.user_dir.clone()),
            ("os.memory.free", mb(|m| m.0)),
            ("os.memory.max", mb(|m| m.1)),
            ("os.memory.total", mb(|m| m.2)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Java's `os.name` for Rust's `std::env::consts::OS`.
    pub fn java_os_name(os: &str) -> String {
        match os {
            "linux" => "Linux".to_owned(),
            "macos" => "Mac OS X".to_owned(),
            "freebsd" => "FreeBSD".to_owned(),
            "windows" => "Windows".to_owned(),
            other => other.to_owned(),
        }
    }

    /// Java's `os.arch` for Rust's `std::env::consts::ARCH`.
    pub fn java_os_arch(arch: &str) -> String {
        match arch {
            "x86_64" => "amd64".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// A side effect the caller performs for a word (the answer's text does not depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `crst`: reset every connection's stats (packets, latencies, last op/cxid/zxid/response).
    ResetConnectionStats,
    /// `srst`: reset the server stats (request latency, packet counts, client response sizes,
    /// every counter and summary; a leader also its proposal sizes).
    ResetServerStats,
    /// `stmk`: set the text trace mask.
    SetTraceMask(i64),
}

/// What to do for a word: write `bytes`, perform `action`, close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The reply, possibly empty (then just close).
    pub bytes: Vec<u8>,
    /// The side effect, if any.
    pub action: Option<Action>,
}

/// The word's name in Java (`telnet close` for the telnet bytes), as the whitelist and the
/// "not executed" message spell it.
pub fn java_name(word: FourLetterWord) -> &'static str {
    match word {
        FourLetterWord::TelnetClose => "telnet close",
        other => other.as_str(),
    }
}

/// Whether `word` runs: `srvr` always, others if named in `whitelist` or if it holds `*`.
pub fn is_enabled(word: FourLetterWord, whitelist: &[String]) -> bool {
    let name = java_name(word);
    name == "srvr"
        || whitelist
            .iter()
            .map(|w| w.trim())
            .any(|w| w == "*" || w == name)
}

/// The effective whitelist for the property value (`4lw.commands.whitelist` /
/// `zookeeper.4lw.commands.whitelist`), as Java builds it: comma-separated and trimmed, `*`
/// expands to every word, `isro` is added when `readonlymode.enabled`, `srvr` always.
pub fn whitelist_from_property(value: Option<&str>, readonly_mode_enabled: bool) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        if !words.iter().any(|x| x == w) {
            words.push(w.to_owned());
        }
    };
    for entry in value.unwrap_or("").split(',').map(str::trim) {
        if entry == "*" {
            FourLetterWord::ALL.iter().for_each(|w| add(java_name(*w)));
            break;
        }
        if !entry.is_empty() {
            add(entry);
        }
    }
    if readonly_mode_enabled {
        add("isro");
    }
    add("srvr");
    words
}

/// Whether answering `word` reads the snapshot; if not, any snapshot (e.g. the default) will
/// do. Disabled words, `ruok`, `stmk` and the telnet bytes read nothing.
pub fn needs_snapshot(word: FourLetterWord, whitelist: &[String]) -> bool {
    is_enabled(word, whitelist)
        && !matches!(
            word,
            FourLetterWord::Ruok | FourLetterWord::Stmk | FourLetterWord::TelnetClose
        )
}

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

/// A value as `MonitorCommand.print` formats it.
enum MetricValue {
    Int(i64),
    Double(f64),
}

fn int(v: u64) -> Option<MetricValue> {
    Some(MetricValue::Int(i64::try_from(v).unwrap_or(i64::MAX)))
}

type Gauge = fn(&AdminSnapshot) -> Option<MetricValue>;

fn leader(s: &AdminSnapshot) -> Option<&LeaderStats> {
    s.quorum.as_ref()?.leader.as_ref()
}

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

/// The answer to `word` (with the mask that followed `stmk`), given the whitelist and the
/// server's state.
///
/// - `ruok` `imok`; `isro` `rw`, `ro` on a read-only server, `null` when not serving; `gtmk`
///   the trace mask and `stmk` the new one, in decimal; none of these ends with a newline.
/// - `srvr`, `stat` (with a `Clients:` block), `conf`, `cons`, `dirs`, `dump`, `envi`, `wchs`,
///   `wchc`, `wchp`, `mntr` as Java formats them; `crst`/`srst` a fixed line and an
///   [`Action`]; `hash` one `<zxid hex>: <digest>` line per digest-log entry.
/// - The telnet bytes: nothing (Java closes the connection).
///
/// `mntr` prints `zk_version`, `zk_server_state`, for ensemble members `zk_peer_state` (and
/// for an observer `zk_observer_master_id`), then every gauge Java 3.8 has: `ephemerals_count`,
/// `num_alive_connections`, `avg_latency`, `outstanding_requests`, `znode_count`,
/// `global_sessions`, `non_mtls_remote_conn_count`, `last_client_response_size`,
/// `packets_sent`, `packets_received`, `max_client_response_size`,
/// `connection_drop_probability`, `watch_count`, `auth_failed_count`, `min_latency`,
/// `max_file_descriptor_count`, `approximate_data_size`, `open_file_descriptor_count`,
/// `local_sessions`, `uptime`, `max_latency`, `outstanding_tls_handshake`,
/// `min_client_response_size`, `non_mtls_local_conn_count` (plus the leader's `learners`,
/// `synced_followers`, `synced_non_voting_followers`, `synced_observers`, `pending_syncs`,
/// `leader_uptime`, `{last,min,max}_proposal_size` and `quorum_size`), then the counters of
/// [`MNTR_COUNTERS`] and the summaries of [`MNTR_SUMMARIES`], all in Java's order. Counters and
/// summaries in the snapshot that those lists do not name follow, sorted by name.
pub fn answer(
    word: FourLetterWord,
    stmk_mask: Option<i64>,
    whitelist: &[String],
    snapshot: &AdminSnapshot,
) -> Answer {
    if !is_enabled(word, whitelist) {
        return Answer {
            bytes: format!(
                "{} is not executed because it is not in the whitelist.\n",
                java_name(word)
            )
            .into_bytes(),
            action: None,
        };
    }
    let s = snapshot;
    let mut out = String::new();
    let mut action = None;
    match word {
        // Words that answer whether or not the server is serving.
        FourLetterWord::Ruok => out.push_str("imok"),
        FourLetterWord::Gtmk => out.push_str(&s.trace_mask.to_string()),
        FourLetterWord::Stmk => {
            // Java echoes the mask it read; without the 8 bytes it fails and closes.
            if let Some(mask) = stmk_mask {
                out.push_str(&mask.to_string());
                action = Some(Action::SetTraceMask(mask));
            }
        }
        FourLetterWord::Envi => envi(&mut out, s),
        FourLetterWord::TelnetClose => {}
        FourLetterWord::Isro => out.push_str(match (s.serving, s.mode) {
            (false, _) => "null",
            (true, ServerMode::ReadOnly) => "ro",
            (true, _) => "rw",
        }),
        FourLetterWord::Hash if !s.serving => out.push_str(NOT_SERVING),
        FourLetterWord::Hash => {
            for (zxid, digest) in &s.digest_log {
                let _ = writeln!(out, "{zxid:x}: {digest}");
            }
        }
        // The others need a serving server.
        _ if !s.serving => {
            out.push_str(NOT_SERVING);
            out.push('\n');
        }
        FourLetterWord::Srvr => stat(&mut out, s, false),
        FourLetterWord::Stat => stat(&mut out, s, true),
        FourLetterWord::Srst => {
            out.push_str("Server stats reset.\n");
            action = Some(Action::ResetServerStats);
        }
        FourLetterWord::Crst => {
            out.push_str("Connection stats reset.\n");
            action = Some(Action::ResetConnectionStats);
        }
        FourLetterWord::Conf => conf(&mut out, s),
        FourLetterWord::Cons => {
            for c in &s.connections {
                connection_line(&mut out, c, false);
                out.push('\n');
            }
            out.push('\n');
        }
        FourLetterWord::Dirs => {
            let _ = writeln!(out, "datadir_size: {}", s.data_dir_size);
            let _ = writeln!(out, "logdir_size: {}", s.log_dir_size);
        }
        FourLetterWord::Dump => dump(&mut out, s),
        FourLetterWord::Wchs => {
            let paths: BTreeSet<&String> = s.data_watches.values().flatten().collect();
            let total: usize = s.data_watches.values().map(BTreeSet::len).sum();
            let _ = writeln!(
                out,
                "{} connections watching {} paths\nTotal watches:{total}",
                s.data_watches.len(),
                paths.len()
            );
        }
        FourLetterWord::Wchc => {
            for (session, paths) in &s.data_watches {
                let _ = writeln!(out, "0x{session:x}");
                for path in paths {
                    let _ = writeln!(out, "\t{path}");
                }
            }
            out.push('\n');
        }
        FourLetterWord::Wchp => {
            let mut by_path: BTreeMap<&String, Vec<i64>> = BTreeMap::new();
            for (session, paths) in &s.data_watches {
                for path in paths {
                    by_path.entry(path).or_default().push(*session);
                }
            }
            for (path, sessions) in by_path {
                let _ = writeln!(out, "{path}");
                for session in sessions {
                    let _ = writeln!(out, "\t0x{session:x}");
                }
            }
            out.push('\n');
        }
        FourLetterWord::Mntr => mntr(&mut out, s),
    }
    Answer {
        bytes: out.into_bytes(),
        action,
    }
}

/// `srvr`/`stat`: `StatCommand`.
fn stat(out: &mut String, s: &AdminSnapshot, with_clients: bool) {
    let _ = writeln!(out, "Zookeeper version: {}", s.version);
    if s.mode == ServerMode::ReadOnly {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        for c in &s.connections {
            connection_line(out, c, true);
            out.push('\n');
        }
        out.push('\n');
    }
    let lat = &s.request_latency;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        lat.min_or_zero(),
        java_double_to_string(lat.java_avg()),
        lat.max_or_zero()
    );
    let _ = writeln!(out, "Received: {}", s.packets_received);
    let _ = writeln!(out, "Sent: {}", s.packets_sent);
    let _ = writeln!(out, "Connections: {}", s.alive_connections);
    let _ = writeln!(out, "Outstanding: {}", s.outstanding_requests);
    let _ = writeln!(out, "Zxid: 0x{:x}", s.last_zxid);
    let _ = writeln!(out, "Mode: {}", s.mode.as_str());
    let _ = writeln!(out, "Node count: {}", s.node_count);
    if s.mode == ServerMode::Leader {
        if let Some(l) = leader(s) {
            let p = l.proposal_sizes;
            let _ = writeln!(
                out,
                "Proposal sizes last/min/max: {}/{}/{}",
                p.last, p.min, p.max
            );
        }
    }
}

/// One connection: `ServerCnxn.dumpConnectionInfo` (no newline).
fn connection_line(out: &mut String, c: &ConnectionInfo, brief: bool) {
    let _ = write!(
        out,
        " {}[{:x}](queued={},recved={},sent={}",
        java_socket_addr(&c.remote),
        c.interest_ops,
        c.queued,
        c.packets_received,
        c.packets_sent
    );
    if !brief && c.session_id != 0 {
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            c.session_id, c.last_op, c.established_wall_ms, c.session_timeout_ms
        );
        if c.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", c.last_cxid);
        }
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid,
            c.last_response_monotonic_ms,
            c.last_latency_ms,
            c.latency.min_or_zero(),
            c.latency.truncated_avg(),
            c.latency.max_or_zero()
        );
    }
    out.push(')');
}

/// `conf`: `ZooKeeperServer.dumpConf` and the quorum additions.
fn conf(out: &mut String, s: &AdminSnapshot) {
    let c = &s.conf;
    let _ = writeln!(out, "clientPort={}", c.client_port);
    let _ = writeln!(out, "secureClientPort={}", c.secure_client_port);
    let _ = writeln!(out, "dataDir={}", c.data_dir.display());
    let _ = writeln!(out, "dataDirSize={}", s.data_dir_size);
    let _ = writeln!(out, "dataLogDir={}", c.data_log_dir.display());
    let _ = writeln!(out, "dataLogSize={}", s.log_dir_size);
    let _ = writeln!(out, "tickTime={}", c.tick_time_ms);
    let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
    let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout_ms);
    let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout_ms);
    let _ = writeln!(
        out,
        "clientPortListenBacklog={}",
        c.client_port_listen_backlog
    );
    let _ = writeln!(out, "serverId={}", c.server_id);
    if let Some(q) = &c.quorum {
        let ports = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join("|")
        };
        let _ = writeln!(out, "initLimit={}", q.init_limit);
        let _ = writeln!(out, "syncLimit={}", q.sync_limit);
        let _ = writeln!(out, "electionAlg={}", q.election_alg);
        let _ = writeln!(out, "electionPort={}", ports(&q.election_ports));
        let _ = writeln!(out, "quorumPort={}", ports(&q.quorum_ports));
        let peer_type = match q.peer_type {
            PeerType::Participant => 0,
            PeerType::Observer => 1,
        };
        let _ = writeln!(out, "peerType={peer_type}");
        if let Some(membership) = &q.membership {
            out.push_str("membership: \n");
            out.push_str(membership);
        }
    }
}

/// `envi`: `Environment.list`.
fn envi(out: &mut String, s: &AdminSnapshot) {
    out.push_str("Environment:\n");
    let _ = writeln!(out, "zookeeper.version={}", s.version);
    for (key, value) in &s.env {
        let _ = writeln!(out, "{key}={value}");
    }
}

/// `dump`: sessions, ephemerals, connections.
fn dump(out: &mut String, s: &AdminSnapshot) {
    out.push_str("SessionTracker dump:\nSession ");
    expiry_buckets(out, s, &s.session_buckets, |out, id| {
        let _ = write!(out, "0x{id:x}");
    });
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", s.ephemerals.len());
    for (session, paths) in &s.ephemerals {
        let _ = writeln!(out, "0x{session:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    if let Some(buckets) = &s.connection_buckets {
        out.push_str("Connections ");
        expiry_buckets(out, s, buckets, |out, c| {
            let _ = write!(
                out,
                "ip: {} sessionId: 0x{:x}",
                java_socket_addr(&c.remote),
                c.session_id
            );
        });
    }
}

/// `ExpiryQueue.dump`: `Sets (<buckets>)/(<members>):`, then each bucket by time.
fn expiry_buckets<T>(
    out: &mut String,
    s: &AdminSnapshot,
    buckets: &[ExpiryBucket<T>],
    member: impl Fn(&mut String, &T),
) {
    let members: usize = buckets.iter().map(|b| b.members.len()).sum();
    let _ = writeln!(out, "Sets ({})/({members}):", buckets.len());
    let mut sorted: Vec<&ExpiryBucket<T>> = buckets.iter().collect();
    sorted.sort_by_key(|b| b.expires_at_monotonic_ms);
    for bucket in sorted {
        // Java's Time.elapsedTimeToDate: wall now + (t - monotonic now).
        let delta = bucket.expires_at_monotonic_ms as i128 - s.now_monotonic_ms as i128;
        let wall = (s.now_wall_ms as i128 + delta).clamp(i64::MIN.into(), i64::MAX.into());
        let _ = writeln!(
            out,
            "{} expire at {}:",
            bucket.members.len(),
            java_date_utc(wall as i64)
        );
        for m in &bucket.members {
            out.push('\t');
            member(out, m);
            out.push('\n');
        }
    }
}

/// `mntr`: `MonitorCommand`.
fn mntr(out: &mut String, s: &AdminSnapshot) {
    fn line(out: &mut String, key: &str, value: &MetricValue) {
        let _ = match value {
            MetricValue::Int(v) => writeln!(out, "zk_{key}\t{v}"),
            MetricValue::Double(v) => writeln!(out, "zk_{key}\t{}", java_double_to_string(*v)),
        };
    }
    fn summary(out: &mut String, s: &AdminSnapshot, name: &str, with_percentiles: bool) {
        let sum = s.summaries.get(name).copied().unwrap_or_default();
        line(
            out,
            &format!("avg_{name}"),
            &MetricValue::Double(sum.java_avg()),
        );
        line(
            out,
            &format!("min_{name}"),
            &MetricValue::Int(sum.min_or_zero()),
        );
        line(
            out,
            &format!("max_{name}"),
            &MetricValue::Int(sum.max_or_zero()),
        );
        let count = i64::try_from(sum.count).unwrap_or(i64::MAX);
        line(out, &format!("cnt_{name}"), &MetricValue::Int(count));
        line(out, &format!("sum_{name}"), &MetricValue::Int(sum.total));
        if with_percentiles {
            let p = s.percentiles.get(name).copied().unwrap_or_default();
            for (q, v) in [
                ("p50", p.p50),
                ("p95", p.p95),
                ("p99", p.p99),
                ("p999", p.p999),
            ] {
                line(out, &format!("{q}_{name}"), &MetricValue::Int(v));
            }
        }
    }

    let _ = writeln!(out, "zk_version\t{}", s.version);
    let _ = writeln!(out, "zk_server_state\t{}", s.mode.as_str());
    if let Some(q) = &s.quorum {
        let _ = writeln!(out, "zk_peer_state\t{}", q.peer_state);
        if let Some(id) = q.observer_master_id {
            let _ = writeln!(out, "zk_observer_master_id\t{id}");
        }
    }
    for (name, gauge) in MNTR_GAUGES {
        if let Some(value) = gauge(s) {
            line(out, name, &value);
        }
    }
    for name in MNTR_COUNTERS {
        let v = s.counters.get(*name).copied().unwrap_or(0);
        line(out, name, &MetricValue::Int(v));
    }
    for (name, v) in &s.counters {
        if !MNTR_COUNTERS.contains(&name.as_str()) {
            line(out, name, &MetricValue::Int(*v));
        }
    }
    for (name, with_percentiles) in MNTR_SUMMARIES {
        summary(out, s, name, *with_percentiles);
    }
    for name in s.summaries.keys() {
        if !MNTR_SUMMARIES.iter().any(|(n, _)| n == name) {
            summary(out, s, name, s.percentiles.contains_key(name));
        }
    }
}

/// Java's `InetSocketAddress.toString` (Java 14+) for an accepted socket: `/127.0.0.1:2181`,
/// `/[0:0:0:0:0:0:0:1]:2181` (IPv6 groups uncompressed, `%scope` if any). IPv4-mapped IPv6
/// addresses print as IPv4, as Java turns them into `Inet4Address`.
pub fn java_socket_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("/{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            if let Some(v4) = a.ip().to_ipv4_mapped() {
                return format!("/{v4}:{}", a.port());
            }
            let groups: Vec<String> = a.ip().segments().iter().map(|g| format!("{g:x}")).collect();
            let scope = if a.scope_id() != 0 {
                format!("%{}", a.scope_id())
            } else {
                String::new()
            };
            format!("/[{}{scope}]:{}", groups.join(":"), a.port())
        }
    }
}

/// Java's `Date.toString` in UTC: `Tue Nov 24 20:10:57 UTC 2026`.
pub fn java_date_utc(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        year
    )
}

/// `AvgMinMaxCounter.getAvg`: `total / (double) count`, then `new BigDecimal(avg)
/// .setScale(4, HALF_UP).doubleValue()` (the exact binary value rounded half-up at the 4th
/// decimal); 0 when `count` is 0.
pub fn java_rounded_avg(total: i64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    round_half_up_4(total as f64 / count as f64)
}

fn round_half_up_4(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let bits = x.abs().to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exp) = if exp_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exp_bits - 1075)
    };
    let rounded = if exp >= 0 {
        // An integer already.
        x.abs()
    } else {
        let k = exp.unsigned_abs();
        if k > 120 {
            // Below 2^-67: rounds to 0.
            0.0
        } else {
            // |x| * 10^4 = mantissa * 10^4 / 2^k, exactly.
            let scaled = u128::from(mantissa) * 10_000;
            let unit = 1u128 << k;
            let mut q = scaled >> k;
            if (scaled & (unit - 1)) * 2 >= unit {
                q += 1;
            }
            // BigDecimal.doubleValue: an exact division while the digits fit 52 bits, else a
            // correctly rounded parse.
            if q < (1 << 52) {
                q as f64 / 10_000.0
            } else {
                format!("{q}e-4").parse().unwrap_or(f64::MAX)
            }
        }
    };
    if rounded == 0.0 {
        0.0
    } else if x < 0.0 {
        -rounded
    } else {
        rounded
    }
}

/// Java's `Double.toString`: the shortest digits that read back as `d`, laid out as
/// `123.45` / `0.001` / `1.0` for 10^-3 <= |d| < 10^7, else as `1.0E7` / `1.2345E-5`; `NaN`,
/// `Infinity`, `-0.0`. (JDK 19+ picks exactly these digits; older JDKs print one digit more
/// for a few values with 16-17 significant digits, and `4.9E-324` for the smallest
/// subnormal; such values do not occur in these answers.)
pub fn java_double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let sign = if d < 0.0 { "-" } else { "" };
    let abs = d.abs();
    // Rust prints the shortest round-trip digits: "2.5532e0", "1e7", "1.2345e-5".
    let sci = format!("{abs:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            format!(
                "{sign}0.{}{digits}",
                "0".repeat(point.unsigned_abs() as usize)
            )
        } else {
            let point = point as usize;
            if point >= digits.len() {
                format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV6};

    fn list(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn java_double_to_string_matches_java() {
        let cases: &[(f64, &str)] = &[
            (2.5532, "2.5532"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (22.0, "22.0"),
            (0.1354, "0.1354"),
            (100.0, "100.0"),
            (-1.5, "-1.5"),
            (0.001, "0.001"),
            (0.000_999, "9.99E-4"),
            (1.0e-4, "1.0E-4"),
            (1.2345e-5, "1.2345E-5"),
            (123_456.789, "123456.789"),
            (9_999_999.0, "9999999.0"),
            (1.0e7, "1.0E7"),
            (12_345_678.9, "1.23456789E7"),
            (1.0e21, "1.0E21"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (value, java) in cases {
            assert_eq!(java_double_to_string(*value), *java, "{value:e}");
        }
    }

    #[test]
    fn rounded_avg_is_java_big_decimal_half_up() {
        // From the captured mntr: sum/cnt pairs and Java's avg.
        assert_eq!(java_rounded_avg(240, 94), 2.5532);
        assert_eq!(java_rounded_avg(191, 52), 3.6731);
        assert_eq!(java_rounded_avg(49, 42), 1.1667);
        assert_eq!(java_rounded_avg(13, 54), 0.2407);
        assert_eq!(java_rounded_avg(13, 96), 0.1354);
        assert_eq!(java_rounded_avg(163, 54), 3.0185);
        assert_eq!(java_rounded_avg(22, 1), 22.0);
        assert_eq!(java_rounded_avg(0, 0), 0.0);
        // Exact ties round up (1/32 = 0.03125 is exact in binary).
        assert_eq!(java_rounded_avg(1, 32), 0.0313);
        assert_eq!(java_rounded_avg(-1, 32), -0.0313);
        // 0.00005 is not exact: the double is above it, so it rounds up; 0.00015 is below.
        assert_eq!(round_half_up_4(0.00005), 0.0001);
        assert_eq!(round_half_up_4(0.00015), 0.0001);
        assert_eq!(round_half_up_4(1e-300), 0.0);
        assert_eq!(round_half_up_4(-1e-300), 0.0);
        assert_eq!(round_half_up_4(1e300), 1e300);
        assert_eq!(round_half_up_4(123_456_789.123_456), 123_456_789.123_5);
        // Past 2^52 digits BigDecimal parses its decimal string.
        assert_eq!(round_half_up_4(1e12 + 0.123_45), 1_000_000_000_000.123_4);
        assert_eq!(java_double_to_string(java_rounded_avg(1, 3)), "0.3333");
        assert_eq!(java_double_to_string(java_rounded_avg(2, 3)), "0.6667");
    }

    #[test]
    fn dates_as_java_prints_them() {
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            java_date_utc(1_795_551_057_000),
            "Tue Nov 24 20:10:57 UTC 2026"
        );
        assert_eq!(
            java_date_utc(1_795_551_057_999),
            "Tue Nov 24 20:10:57 UTC 2026"
        );
        assert_eq!(
            java_date_utc(951_782_400_000),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
        assert_eq!(java_date_utc(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn socket_addresses_as_java_prints_them() {
        let v4: SocketAddr = "127.0.0.1:58794".parse().unwrap();
        assert_eq!(java_socket_addr(&v4), "/127.0.0.1:58794");
        let v6: SocketAddr = "[::1]:2181".parse().unwrap();
        assert_eq!(java_socket_addr(&v6), "/[0:0:0:0:0:0:0:1]:2181");
        let mapped: SocketAddr = "[::ffff:10.0.0.7]:40000".parse().unwrap();
        assert_eq!(java_socket_addr(&mapped), "/10.0.0.7:40000");
        let scoped = SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1, 0x2ff, 0xfe00, 0xab),
            9,
            0,
            3,
        ));
        assert_eq!(java_socket_addr(&scoped), "/[fe80:0:0:0:1:2ff:fe00:ab%3]:9");
    }

    #[test]
    fn whitelist_rules() {
        let default = whitelist_from_property(None, false);
        assert_eq!(default, list(&["srvr"]));
        for word in FourLetterWord::ALL {
            assert_eq!(
                is_enabled(word, &default),
                word == FourLetterWord::Srvr,
                "{word:?}"
            );
        }
        // srvr runs even with an empty list.
        assert!(is_enabled(FourLetterWord::Srvr, &[]));

        let star = whitelist_from_property(Some("*"), false);
        assert!(FourLetterWord::ALL.iter().all(|w| is_enabled(*w, &star)));
        assert!(star.contains(&"telnet close".to_owned()));
        assert!(FourLetterWord::ALL
            .iter()
            .all(|w| is_enabled(*w, &list(&["*"]))));

        let some = whitelist_from_property(Some(" ruok , stat,,"), false);
        assert_eq!(some, list(&["ruok", "stat", "srvr"]));
        assert!(is_enabled(FourLetterWord::Ruok, &some));
        assert!(is_enabled(FourLetterWord::Stat, &some));
        assert!(!is_enabled(FourLetterWord::Mntr, &some));
        assert!(!is_enabled(FourLetterWord::Isro, &some));
        // Names are case-sensitive, as in Java.
        assert!(!is_enabled(FourLetterWord::Ruok, &list(&["RUOK"])));

        let ro = whitelist_from_property(Some("ruok"), true);
        assert_eq!(ro, list(&["ruok", "isro", "srvr"]));

        // The answer to a disabled word, and no action.
        let snap = AdminSnapshot::default();
        let a = answer(FourLetterWord::Mntr, None, &some, &snap);
        assert_eq!(
            a.bytes,
            b"mntr is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(a.action, None);
        let a = answer(FourLetterWord::Srst, None, &some, &snap);
        assert_eq!(
            a.bytes,
            b"srst is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(a.action, None);
        let a = answer(FourLetterWord::Stmk, Some(5), &some, &snap);
        assert_eq!(
            a.bytes,
            b"stmk is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(a.action, None);
        let a = answer(FourLetterWord::TelnetClose, None, &some, &snap);
        assert_eq!(
            a.bytes,
            b"telnet close is not executed because it is not in the whitelist.\n"
        );
        // Enabled, the telnet bytes get no answer.
        let a = answer(FourLetterWord::TelnetClose, None, &star, &snap);
        assert!(a.bytes.is_empty());

        assert!(!needs_snapshot(FourLetterWord::Ruok, &star));
        assert!(!needs_snapshot(FourLetterWord::Mntr, &some));
        assert!(needs_snapshot(FourLetterWord::Mntr, &star));
        assert!(needs_snapshot(FourLetterWord::Srvr, &[]));
    }

    #[test]
    fn actions() {
        let all = list(&["*"]);
        let snap = AdminSnapshot::default();
        let a = answer(FourLetterWord::Srst, None, &all, &snap);
        assert_eq!(a.bytes, b"Server stats reset.\n");
        assert_eq!(a.action, Some(Action::ResetServerStats));
        let a = answer(FourLetterWord::Crst, None, &all, &snap);
        assert_eq!(a.bytes, b"Connection stats reset.\n");
        assert_eq!(a.action, Some(Action::ResetConnectionStats));
        let a = answer(FourLetterWord::Stmk, Some(0x112), &all, &snap);
        assert_eq!(a.bytes, b"274");
        assert_eq!(a.action, Some(Action::SetTraceMask(0x112)));
        let a = answer(FourLetterWord::Stmk, Some(-1), &all, &snap);
        assert_eq!(a.bytes, b"-1");
        let a = answer(FourLetterWord::Gtmk, None, &all, &snap);
        assert_eq!(a.bytes, b"306");
        assert_eq!(a.action, None);
    }

    #[test]
    fn not_serving() {
        let all = list(&["*"]);
        let snap = AdminSnapshot {
            serving: false,
            ..AdminSnapshot::default()
        };
        let text = |w| String::from_utf8(answer(w, None, &all, &snap).bytes).unwrap();
        for w in [
            FourLetterWord::Srvr,
            FourLetterWord::Stat,
            FourLetterWord::Conf,
            FourLetterWord::Cons,
            FourLetterWord::Dump,
            FourLetterWord::Dirs,
            FourLetterWord::Wchs,
            FourLetterWord::Wchc,
            FourLetterWord::Wchp,
            FourLetterWord::Mntr,
            FourLetterWord::Srst,
            FourLetterWord::Crst,
        ] {
            assert_eq!(text(w), format!("{NOT_SERVING}\n"), "{w:?}");
        }
        assert_eq!(answer(FourLetterWord::Srst, None, &all, &snap).action, None);
        assert_eq!(text(FourLetterWord::Hash), NOT_SERVING);
        assert_eq!(text(FourLetterWord::Isro), "null");
        assert_eq!(text(FourLetterWord::Ruok), "imok");
        assert!(text(FourLetterWord::Envi).starts_with("Environment:\nzookeeper.version="));
    }

    #[test]
    fn version_is_3_9_3_compatible() {
        let v = full_version("2025-01-01 00:00 UTC");
        assert_eq!(
            v,
            format!(
                "3.9.3-zk-rs-{}, built on 2025-01-01 00:00 UTC",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(v.split('-').next(), Some("3.9.3"));
        assert!(v.split(',').next().unwrap().starts_with("3.9.3-"));
    }

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

    #[test]
    fn quorum_words() {
        let all = list(&["*"]);
        let snap = AdminSnapshot {
            mode: ServerMode::Leader,
            version: "V".into(),
            conf: ConfInfo {
                client_port: 2181,
                data_dir: "/d/version-2".into(),
                data_log_dir: "/l/version-2".into(),
                tick_time_ms: 2000,
                min_session_timeout_ms: 4000,
                max_session_timeout_ms: 40000,
                server_id: 1,
                quorum: Some(QuorumConf {
                    init_limit: 10,
                    sync_limit: 5,
                    election_alg: 3,
                    election_ports: vec![3888],
                    quorum_ports: vec![2888, 2889],
                    peer_type: PeerType::Participant,
                    membership: Some(
                        "server.1=a:2888:3888:participant;0.0.0.0:2181\nversion=100000000".into(),
                    ),
                }),
                ..ConfInfo::default()
            },
            quorum: Some(QuorumStats {
                peer_state: "leading - broadcast".into(),
                quorum_size: 3,
                synced_observers: Some(0),
                observer_master_id: None,
                leader: Some(LeaderStats {
                    learners: 2,
                    synced_followers: 2,
                    synced_non_voting_followers: 0,
                    pending_syncs: 0,
                    leader_uptime_ms: 5000,
                    proposal_sizes: BufferStats {
                        last: 60,
                        min: 36,
                        max: 120,
                    },
                }),
            }),
            ..AdminSnapshot::default()
        };
        let text = |w| String::from_utf8(answer(w, None, &all, &snap).bytes).unwrap();
        assert_eq!(
            text(FourLetterWord::Conf),
            "clientPort=2181\nsecureClientPort=-1\ndataDir=/d/version-2\ndataDirSize=0\n\
             dataLogDir=/l/version-2\ndataLogSize=0\ntickTime=2000\nmaxClientCnxns=60\n\
             minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\n\
             serverId=1\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\nelectionPort=3888\n\
             quorumPort=2888|2889\npeerType=0\nmembership: \n\
             server.1=a:2888:3888:participant;0.0.0.0:2181\nversion=100000000"
        );
        let srvr = text(FourLetterWord::Srvr);
        assert!(
            srvr.ends_with("Mode: leader\nNode count: 0\nProposal sizes last/min/max: 60/36/120\n")
        );
        let mntr = text(FourLetterWord::Mntr);
        let keys: Vec<&str> = mntr
            .lines()
            .take(40)
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert_eq!(
            &keys[..8],
            &[
                "zk_version",
                "zk_server_state",
                "zk_peer_state",
                "zk_ephemerals_count",
                "zk_num_alive_connections",
                "zk_avg_latency",
                "zk_min_proposal_size",
                "zk_outstanding_requests"
            ]
        );
        assert!(mntr.contains("zk_peer_state\tleading - broadcast\n"));
        assert!(mntr.contains("zk_learners\t2\n"));
        assert!(mntr.contains("zk_leader_uptime\t5000\n"));
        assert!(mntr.contains("zk_quorum_size\t3\n"));
        assert!(mntr.contains("zk_max_proposal_size\t120\n"));

        let ro = AdminSnapshot {
            mode: ServerMode::ReadOnly,
            version: "V".into(),
            ..AdminSnapshot::default()
        };
        let a = answer(FourLetterWord::Srvr, None, &all, &ro);
        assert!(String::from_utf8(a.bytes).unwrap().starts_with(
            "Zookeeper version: V\nREAD-ONLY mode; serving only read-only clients\nLatency"
        ));
        assert_eq!(answer(FourLetterWord::Isro, None, &all, &ro).bytes, b"ro");
    }

    #[test]
    fn hash_lines() {
        let all = list(&["*"]);
        let snap = AdminSnapshot {
            digest_log: vec![(0x80, 1_234_567_890), (0x1_0000_0100, -5)],
            ..AdminSnapshot::default()
        };
        assert_eq!(
            answer(FourLetterWord::Hash, None, &all, &snap).bytes,
            b"80: 1234567890\n100000100: -5\n"
        );
        assert!(
            answer(FourLetterWord::Hash, None, &all, &AdminSnapshot::default())
                .bytes
                .is_empty()
        );
    }

    #[test]
    fn host_env_keys_are_javas() {
        let env = HostEnv {
            host_name: "h".into(),
            os_name: HostEnv::java_os_name("linux"),
            os_arch: HostEnv::java_os_arch("x86_64"),
            memory_mb: Some((1, 2, 3)),
            ..HostEnv::default()
        };
        let entries = env.entries();
        assert_eq!(entries[0], ("host.name".into(), "h".into()));
        assert_eq!(entries[1], ("java.version".into(), "<NA>".into()));
        assert!(entries.contains(&("os.name".into(), "Linux".into())));
        assert!(entries.contains(&("os.arch".into(), "amd64".into())));
        assert_eq!(entries[16], ("os.memory.total".into(), "3MB".into()));
    }
}

//! The server core: connections, sessions, the request pipeline and watches, free of sockets,
//! disks and clocks. The runtime feeds it what arrives ([`ServerCore::connect`],
//! [`ServerCore::request`], [`ServerCore::disconnected`], [`ServerCore::tick`]) and what its
//! log made durable ([`ServerCore::commit_through`]), with the current monotonic and wall time, and
//! performs the [`Action`]s it returns, in order.
//!
//! Writes go through the ZAB stages of a quorum of one. **Prep** validates a write against the
//! tree of every txn proposed so far (Java's `outstandingChanges`: the committed tree plus the
//! txns in flight), checks ACLs, assigns the zxid and builds the txn; a failed write still takes
//! a zxid and becomes an ErrorTxn. **Propose** applies the txn to that speculative tree (so the
//! log record can carry the tree digest after it) and asks the runtime to log it
//! ([`Action::Log`]). **Commit** happens when the runtime reports the log durable up to its
//! zxid: the committed tree advances to the one the txn produced, its watch events fire, and its
//! reply goes out.
//!
//! Ordering rules the runtime relies on (asserted by the tests at the end of this file):
//! 1. The runtime appends [`Action::Log`] entries in the order returned; zxids increase by one.
//! 2. No reply, event or ConnectResponse of a txn is returned before [`ServerCore::commit_through`]
//!    reports that txn durable, so nothing a client sees can be lost.
//! 3. The events a txn fires come before its reply (a client sees the watch event before the
//!    result of the write that fired it), and commits go in zxid order.
//! 4. A connection's replies keep its request order: a read waits behind that connection's
//!    pending writes (Java's CommitProcessor), and everything waits behind a new session's
//!    createSession (Java stops reading the connection until the session is established).
//!    Auth and SASL are answered at once, as Java answers them outside the pipeline.
//! 5. [`Action::Close`] comes after what was sent to that connection before it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tracing::{debug, info, warn};
use zk_proto::data::{Acl, ClientInfo, Id, Stat};
use zk_proto::message::{
    MultiOp, MultiRequest, MultiResponse, MultiResult, Reply, RequestBody, ResponseBody,
};
use zk_proto::path::{sequential_name, validate_path};
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateResponse, ErrorResponse,
    GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, RequestHeader, SetAclResponse, SetDataResponse,
    SyncResponse, WatcherEvent, WhoAmIResponse,
};
use zk_proto::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DeleteTxn, ErrorTxn, MultiTxn, SetAclTxn, SetDataTxn, SubTxn, Txn, TxnEntry,
    TxnHeader,
};
use zk_proto::{perms, xid, AddWatchMode, CreateMode, ErrorCode, Jute, OpCode};

use crate::acl;
use crate::session::{negotiate_timeout, session_password, SessionTracker};
use crate::tree::{ApplyResult, DataTree, OwnerKind, TreeEvent, MAX_TTL_MS};
use crate::watch::{ConnId, WatchManager};

#[cfg(test)]
mod batching_tests;
mod nulls;
mod outstanding;
mod pipeline;
mod prep;
mod reads;
mod reply;
mod restore;
#[cfg(test)]
mod restore_tests;
mod roles;
#[cfg(test)]
mod roles_tests;
mod sasl;
mod sessions;
#[cfg(test)]
mod tests;
pub mod virtual_tree;
use nulls::Nulls;
use outstanding::{NodeRef, Outstanding};
use pipeline::*;
pub use pipeline::{decode_request, ClientRequest};
use prep::*;
pub use reply::Payload;
use reply::*;
pub use restore::{compare_committed, Compared, OnlineRestore, RestoreRefused};
use roles::Forwarded;
pub use roles::Role;
pub use sasl::NonceSource;

/// A copy of the tree in an [`Action`]; two are equal when their zxid, node count and digest
/// are (what tests of actions compare).
#[derive(Debug, Clone)]
pub struct TreeImage(pub DataTree);

impl PartialEq for TreeImage {
    fn eq(&self, other: &Self) -> bool {
        let key = |t: &DataTree| (t.last_processed_zxid(), t.node_count(), t.digest());
        key(&self.0) == key(&other.0)
    }
}

impl Eq for TreeImage {}

/// What the runtime must do, in the order returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Append a txn to the log. Its results leave the server once the log reports it durable
    /// through [`ServerCore::commit_through`].
    Log(std::sync::Arc<TxnEntry>),
    /// Write one frame payload (without its length prefix) to a connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The payload.
        payload: Payload,
    },
    /// Close a connection after what was sent before.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Write a snapshot of `tree`, as of `zxid` (`create /zookeeper/snapshots/now`).
    Snapshot {
        /// The zxid it is named by.
        zxid: i64,
        /// The tree as of that zxid (an O(1) copy).
        tree: TreeImage,
    },
    /// A learner's client request for the leader (`quorum::learner::Learner::forward`): a
    /// write, createSession, closeSession or sync, with the client's ids.
    Forward {
        /// The request as the leader gets it.
        request: zk_proto::quorum::LearnerRequest,
        /// The client connection's ids (the packet's authinfo).
        auth_ids: Vec<Id>,
    },
    /// A learner asks the leader whether a session may re-attach here
    /// (`quorum::learner::Learner::revalidate`); the answer goes to
    /// [`ServerCore::revalidated`].
    Revalidate {
        /// The session.
        session_id: i64,
        /// Its timeout.
        timeout_ms: i32,
    },
}

/// Settings the core needs (from zoo.cfg).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// This server's id (1 for standalone, as Java).
    pub server_id: u8,
    /// tickTime in ms.
    pub tick_ms: u64,
    /// Smallest session timeout granted.
    pub min_session_timeout_ms: i32,
    /// Largest session timeout granted.
    pub max_session_timeout_ms: i32,
    /// TTL nodes allowed.
    pub extended_types: bool,
    /// `super:<digest>` that bypasses ACLs.
    pub super_digest: Option<String>,
    /// No ACL checks at all.
    pub skip_acl: bool,
    /// Refuse creates and setData past a hard quota (`zookeeper.enforceQuota`).
    pub enforce_quota: bool,
    /// Write the tree digest into txns.
    pub digest_enabled: bool,
    /// How often empty containers and expired TTL nodes are looked for
    /// (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u64,
    /// Containers that never had a child are deleted after this long; 0 keeps them
    /// (`znode.container.maxNeverUsedIntervalMs`).
    pub container_max_never_used_ms: u64,
    /// The largest txn record the log reader accepts (`jute.maxbuffer` plus
    /// `zookeeper.jute.maxbuffer.extrasize`): no larger record is ever written, so whatever
    /// was acknowledged can be replayed.
    pub max_txn_bytes: usize,
    /// The authentication providers beyond `ip` and `digest` (`zookeeper.authProvider.N`).
    pub providers: acl::Providers,
    /// SASL users and enforcement (see [`crate::sasl`]).
    pub sasl: crate::sasl::SaslConfig,
    /// The server's metrics registry (request latencies, commits, sessions expired).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Backups are configured (`backup.target`): `/zookeeper` lists its virtual folders.
    pub backups_listed: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            server_id: 1,
            tick_ms: 2000,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            extended_types: false,
            super_digest: None,
            skip_acl: false,
            enforce_quota: false,
            digest_enabled: true,
            container_check_interval_ms: 60_000,
            container_max_never_used_ms: 0,
            max_txn_bytes: zk_proto::storage::DEFAULT_MAX_TXN_LEN,
            providers: acl::Providers::default(),
            sasl: crate::sasl::SaslConfig::default(),
            metrics: crate::metrics::Metrics::new(false),
            backups_listed: false,
        }
    }
}

/// Java's `DataTree.DIGEST_LOG_INTERVAL`: a digest is kept for each zxid divisible by this.
pub const DIGEST_LOG_INTERVAL: i64 = 128;

/// Java's `DataTree.DIGEST_LOG_LIMIT`: how many digests `hash` keeps.
pub const DIGEST_LOG_LIMIT: usize = 1024;

/// Unanswered requests remembered per connection, at most (for latencies only).
const MAX_IN_FLIGHT: usize = 4096;

/// A request of a connection waiting for its reply: when it arrived, for the latencies.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    xid: i32,
    arrived_ms: u64,
    /// It proposes a txn (`updatelatency`) rather than reads (`readlatency`).
    write: bool,
}

/// One client connection.
#[derive(Debug, Clone)]
struct Conn {
    session_id: i64,
    /// Shared so the per-request copy of a connection costs no allocation.
    auth_ids: std::sync::Arc<acl::AuthIds>,
    stats: ConnStats,
    /// Its writes proposed and not yet committed: its reads wait behind them.
    pending_writes: usize,
    /// Its session's createSession is not committed yet: Java reads nothing more from the
    /// connection until the session is established.
    establishing: bool,
    /// Requests that arrived while earlier ones of this connection wait, in arrival order.
    held: std::collections::VecDeque<ClientRequest>,
    /// Requests not answered yet, in arrival order (replies come in that order).
    in_flight: std::collections::VecDeque<InFlight>,
}

impl Conn {
    /// The server acting as itself (the container sweep, the online restore): no session,
    /// the super identity, so no ACL stands in its way.
    fn system() -> Conn {
        Conn {
            session_id: 0,
            auth_ids: std::sync::Arc::new(acl::AuthIds::new(Id::new("super", ""))),
            stats: ConnStats::default(),
            pending_writes: 0,
            establishing: false,
            held: std::collections::VecDeque::new(),
            in_flight: std::collections::VecDeque::new(),
        }
    }

    /// Whether `request` must wait for this connection's pending work: everything waits for
    /// the session's createSession; only writes (and auth) overtake pending writes.
    fn must_wait(&self, request: &ClientRequest) -> bool {
        self.establishing || (self.pending_writes > 0 && !overtakes(request))
    }

    /// Accounts for a reply to its request `xid` sent at `now` (ms): its last cxid, zxid,
    /// response time and latency. Returns the latency and whether the request was a write;
    /// `None` for a reply to no request of its (a notification).
    fn answered(&mut self, xid: i32, zxid: i64, now: u64) -> Option<(i64, bool)> {
        let at = self.in_flight.iter().position(|f| f.xid == xid)?;
        let request = self.in_flight[at];
        self.in_flight.drain(..=at);
        let latency = now.saturating_sub(request.arrived_ms) as i64;
        self.stats.last_cxid = i64::from(xid);
        self.stats.last_zxid = zxid;
        self.stats.last_response_ms = now;
        self.stats.last_latency_ms = latency;
        self.stats.latency.add(latency);
        Some((latency, request.write))
    }

    /// A copy for one request's checks (the held queue stays behind).
    fn view(&self) -> Conn {
        Conn {
            session_id: self.session_id,
            auth_ids: self.auth_ids.clone(),
            stats: ConnStats::default(),
            pending_writes: 0,
            establishing: false,
            held: std::collections::VecDeque::new(),
            in_flight: std::collections::VecDeque::new(),
        }
    }
}

/// What `cons` and `stat` show of a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnStats {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// Frames received.
    pub packets_received: u64,
    /// Frames sent.
    pub packets_sent: u64,
    /// Java's 4-letter code of the last answered operation (`NA` before any).
    pub last_op: &'static str,
    /// xid of the last answered request.
    pub last_cxid: i64,
    /// zxid of the last reply.
    pub last_zxid: i64,
    /// When the connection was established (wall ms).
    pub established_wall_ms: i64,
    /// The session timeout.
    pub session_timeout_ms: i32,
    /// When the last reply went out (monotonic ms).
    pub last_response_ms: u64,
    /// The last request's latency, ms.
    pub last_latency_ms: i64,
    /// Latencies of this connection's requests, ms.
    pub latency: crate::admin::Summary,
}

/// Counters for the four-letter words.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Frames received from clients.
    pub packets_received: u64,
    /// Frames sent to clients.
    pub packets_sent: u64,
    /// Latency of every request answered, ms (Java's `ServerStats` latency).
    pub request_latency: crate::admin::Summary,
    /// Sizes of the replies sent (`client_response_stats`).
    pub response_sizes: crate::admin::BufferStats,
}

/// The server core. See the module docs.
pub struct ServerCore {
    config: CoreConfig,
    /// The committed tree: what reads see.
    tree: DataTree,
    /// What the txns in flight change (Java's outstandingChanges): prep validates writes
    /// against the committed tree through it.
    outstanding: Outstanding,
    /// Proposed txns waiting for the log, in zxid order.
    pending: std::collections::VecDeque<Proposal>,
    sessions: SessionTracker,
    watches: WatchManager,
    conns: HashMap<ConnId, Conn>,
    /// Each session's current connection.
    session_conns: HashMap<i64, ConnId>,
    /// The last zxid committed.
    last_zxid: i64,
    /// The last zxid proposed (`last_zxid` when nothing is pending).
    last_proposed_zxid: i64,
    counters: Counters,
    /// The tree's digest every [`DIGEST_LOG_INTERVAL`] zxids, the last [`DIGEST_LOG_LIMIT`]
    /// (Java's `DataTree.digestLog`, what `hash` lists).
    digest_log: std::collections::VecDeque<(i64, i64)>,
    /// Latencies and bytes per namespace since the last [`ServerCore::flush_metrics`].
    local_metrics: crate::metrics::LocalMetrics,
    /// The runtime's clock (monotonic ms) as of the inputs being handled: reply latencies
    /// are measured against it.
    clock_ms: u64,
    /// When the next container/TTL sweep is due (monotonic ms).
    next_reap_ms: u64,
    /// Reused to measure txns before they are logged.
    scratch: Vec<u8>,
    /// Each connection's SASL exchange, from its first `sasl` request on.
    sasl_exchanges: HashMap<ConnId, crate::sasl::digest_md5::DigestMd5Server>,
    /// Nonces for SASL challenges.
    sasl_nonces: NonceSource,
    /// Standalone or leader, or learner (see `core/roles.rs`).
    role: Role,
    /// A learner's forwarded requests waiting for their commits, per session, in order.
    forwarded: HashMap<i64, std::collections::VecDeque<Forwarded>>,
    /// A learner's forwarded syncs (session, cxid, connection, path), oldest first.
    pending_syncs: std::collections::VecDeque<(i64, i32, ConnId, String)>,
    /// A learner's sessions used since the leader last heard of them, with their timeouts.
    touched: HashMap<i64, i32>,
    /// A learner's re-attaching sessions waiting for the leader's verdict.
    revalidating: HashMap<i64, (ConnId, ConnectResponse)>,
    /// On a learner, while a client request is served: its opcode and body as sent, which
    /// go to the leader if serving it proposes a txn.
    forwarding: Option<(OpCode, Bytes)>,
    /// `/zookeeper/snapshots` and `/zookeeper/backups`.
    virtual_tree: virtual_tree::VirtualTree,
}

impl std::fmt::Debug for ServerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCore")
            .field("last_zxid", &self.last_zxid)
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl ServerCore {
    /// A core over `tree` (new or recovered); sessions recorded in the tree are tracked again
    /// from `now_ms` (monotonic). New session ids start from `id_clock_ms`, a clock reading that
    /// differs between runs (Java uses nanoTime) so ids of a restarted server do not repeat.
    pub fn new(config: CoreConfig, tree: DataTree, now_ms: u64, id_clock_ms: u64) -> Self {
        let backups_listed = config.backups_listed;
        let mut sessions = SessionTracker::new(config.server_id, config.tick_ms, id_clock_ms);
        for (&id, &timeout) in tree.sessions() {
            sessions.add(id, timeout.max(0) as u32, now_ms);
        }
        let last_zxid = tree.last_processed_zxid();
        let next_reap_ms = now_ms + config.container_check_interval_ms;
        ServerCore {
            config,
            outstanding: Outstanding::default(),
            tree,
            pending: std::collections::VecDeque::new(),
            sessions,
            watches: WatchManager::new(),
            conns: HashMap::new(),
            session_conns: HashMap::new(),
            last_zxid,
            last_proposed_zxid: last_zxid,
            counters: Counters::default(),
            digest_log: std::collections::VecDeque::new(),
            local_metrics: crate::metrics::LocalMetrics::default(),
            clock_ms: now_ms,
            next_reap_ms,
            scratch: Vec::new(),
            sasl_exchanges: HashMap::new(),
            sasl_nonces: sasl::counting_nonces(id_clock_ms),
            role: Role::Proposer,
            forwarded: HashMap::new(),
            pending_syncs: std::collections::VecDeque::new(),
            touched: HashMap::new(),
            revalidating: HashMap::new(),
            forwarding: None,
            virtual_tree: virtual_tree::VirtualTree {
                listed: backups_listed,
                ..virtual_tree::VirtualTree::default()
            },
        }
    }

    /// The committed tree, for the node when serving ends (txns proposed and not committed
    /// are not in it).
    pub fn into_tree(self) -> DataTree {
        self.tree
    }

    /// The committed tree (for snapshots and four-letter words).
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The watch manager (for four-letter words).
    pub fn watches(&self) -> &WatchManager {
        &self.watches
    }

    /// The last zxid committed.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Whether every txn proposed is committed.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// The zxid and a copy of the committed tree, for a snapshot. The copy is consistent
    /// (taken between txns) and costs O(1) (the tree's maps share structure), so requests
    /// never wait for a snapshot.
    pub fn snapshot_view(&self) -> (i64, DataTree) {
        (self.last_zxid, self.tree.clone())
    }

    /// Packet counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Open connections with their session ids and statistics, by connection id.
    pub fn connection_stats(&self) -> BTreeMap<ConnId, (i64, ConnStats)> {
        self.conns
            .iter()
            .map(|(c, s)| (*c, (s.session_id, s.stats.clone())))
            .collect()
    }

    /// The sessions watching exactly `path` (the AdminServer's browser), sorted.
    pub fn watchers_of(
        &self,
        path: &str,
    ) -> Vec<(i64, zk_proto::WatcherType, crate::watch::WatchMode)> {
        let mut out: Vec<_> = self
            .watches
            .watchers_of(path)
            .into_iter()
            .filter_map(|(conn, kind, mode)| {
                let session = self.conns.get(&conn)?.session_id;
                Some((session, kind, mode))
            })
            .collect();
        out.sort_by_key(|&(s, kind, _)| (s, kind.code()));
        out
    }

    /// Sets the clock (monotonic ms) for the inputs that follow: the runtime calls it as it
    /// takes inputs, so reply latencies count from a request's arrival to its reply.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.clock_ms = self.clock_ms.max(now_ms);
    }

    /// Hands what requests measured since the last call to the metrics registry. The
    /// runtime calls it once per batch of inputs, and before the registry is read.
    pub fn flush_metrics(&mut self) {
        self.local_metrics.flush(&self.config.metrics);
    }

    /// The server's metrics registry.
    pub fn metrics(&self) -> &std::sync::Arc<crate::metrics::Metrics> {
        &self.config.metrics
    }

    /// The kept (zxid, tree digest) pairs, oldest first (`hash`).
    pub fn digest_log(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.digest_log.iter().copied()
    }

    /// Open client connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Requests received and not answered yet, on every connection.
    pub fn outstanding_requests(&self) -> u64 {
        self.conns.values().map(|c| c.in_flight.len() as u64).sum()
    }

    /// Resets the server-wide statistics (`srst`): packets, latency, reply sizes, and the
    /// metrics registry unless Prometheus exports it.
    pub fn reset_counters(&mut self) {
        self.counters = Counters::default();
        self.config.metrics.reset();
    }

    /// Resets every connection's statistics (`crst`).
    pub fn reset_connection_stats(&mut self) {
        for c in self.conns.values_mut() {
            c.stats.packets_received = 0;
            c.stats.packets_sent = 0;
            c.stats.last_op = "NA";
            c.stats.last_cxid = -1;
            c.stats.last_zxid = -1;
            c.stats.last_latency_ms = 0;
            c.stats.latency = crate::admin::Summary::default();
        }
    }

    /// Session expiry buckets (for `dump`).
    pub fn session_buckets(&self) -> Vec<(u64, Vec<i64>)> {
        self.sessions.buckets()
    }
}

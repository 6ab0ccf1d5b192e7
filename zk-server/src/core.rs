//! The server core: connections, sessions, the request pipeline and watches, free of sockets,
//! disks and clocks. The runtime feeds it what arrives ([`ServerCore::connect`],
//! [`ServerCore::request`], [`ServerCore::disconnected`], [`ServerCore::tick`]) and what its
//! log made durable ([`ServerCore::log_flushed`]), with the current monotonic and wall time, and
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
//! 2. No reply, event or ConnectResponse of a txn is returned before [`ServerCore::log_flushed`]
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

mod nulls;
mod sasl;
use nulls::Nulls;
pub use sasl::NonceSource;

/// A frame payload (without its length prefix), in up to three parts written one after the
/// other. A getData reply keeps the node's data as its own part, shared with the tree, so
/// replies queued for a client that reads slowly do not each hold a copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    parts: [Bytes; 3],
}

impl Payload {
    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Bytes; 3] {
        &self.parts
    }

    /// The payload as one buffer (copies when it has several parts).
    pub fn to_bytes(&self) -> Bytes {
        match &self.parts {
            [one, b, c] if b.is_empty() && c.is_empty() => one.clone(),
            parts => parts.concat().into(),
        }
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload {
            parts: [bytes, Bytes::new(), Bytes::new()],
        }
    }
}

/// What a txn-log record holds besides the txn: its header (client id, cxid, zxid, time,
/// type) and the digest (version and value).
const TXN_RECORD_EXTRA: usize = 8 + 4 + 8 + 8 + 4 + 4 + 8;

/// Data at least this large is shared with the tree in a reply rather than copied.
const SHARED_DATA_MIN: usize = 4096;

/// What the runtime must do, in the order returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Append a txn to the log. Its results leave the server once the log reports it durable
    /// through [`ServerCore::log_flushed`].
    Log(TxnEntry),
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
        }
    }
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
}

impl Conn {
    /// A copy for one request's checks (the held queue stays behind).
    fn view(&self) -> Conn {
        Conn {
            session_id: self.session_id,
            auth_ids: self.auth_ids.clone(),
            stats: ConnStats::default(),
            pending_writes: 0,
            establishing: false,
            held: std::collections::VecDeque::new(),
        }
    }
}

/// A request frame as the connection task decodes it ([`decode_request`]): decoding is off
/// the core task, which only decides.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// The request header cannot be read: the connection closes.
    BadHeader(String),
    /// A decoded request; `nulls` lists where it sent nulls our records cannot hold (read as
    /// empty values, see `core/nulls.rs`).
    Decoded {
        /// The request's xid.
        xid: i32,
        /// The body.
        body: RequestBody,
        /// Null fields, when the plain decoding refused them.
        nulls: Option<Vec<zk_proto::jute::FieldPath>>,
    },
    /// A body that cannot be decoded at all.
    Malformed {
        /// The request's xid.
        xid: i32,
        /// The opcode of the header.
        op: OpCode,
        /// What was wrong.
        error: String,
    },
}

impl ClientRequest {
    /// The opcode, when the header could be read.
    fn op(&self) -> Option<OpCode> {
        match self {
            ClientRequest::BadHeader(_) => None,
            ClientRequest::Decoded { body, .. } => Some(body.op()),
            ClientRequest::Malformed { op, .. } => Some(*op),
        }
    }
}

/// Decodes one request frame payload (header and body).
pub fn decode_request(payload: &[u8]) -> ClientRequest {
    let mut input = payload;
    let header = match RequestHeader::read(&mut input) {
        Ok(h) => h,
        Err(e) => return ClientRequest::BadHeader(e.to_string()),
    };
    let op = header.r#type;
    match RequestBody::decode(op, input) {
        Ok(body) => ClientRequest::Decoded {
            xid: header.xid,
            body,
            nulls: None,
        },
        Err(e) => match RequestBody::decode_nulls(op, input) {
            Ok((body, nulls)) => ClientRequest::Decoded {
                xid: header.xid,
                body,
                nulls: Some(nulls),
            },
            Err(_) => ClientRequest::Malformed {
                xid: header.xid,
                op,
                error: e.to_string(),
            },
        },
    }
}

/// What is done when a proposed txn commits.
#[derive(Debug)]
enum Completion {
    /// Answer a client's write.
    Reply {
        conn: ConnId,
        xid: i32,
        err: ErrorCode,
        body: Option<ResponseBody>,
    },
    /// Answer a new session's ConnectResponse.
    Connected {
        conn: ConnId,
        response: ConnectResponse,
    },
    /// A client closed its session: answer, then close the connection.
    SessionClosed { conn: ConnId, xid: i32 },
    /// A session expired: its connection, if any, closes.
    SessionExpired,
    /// The container sweep's deletes: nobody to answer.
    Nothing,
}

/// A txn proposed and logged, not yet committed.
#[derive(Debug)]
struct Proposal {
    zxid: i64,
    /// The session the txn belongs to (0 for the server's own).
    session_id: i64,
    /// The speculative tree right after this txn: it becomes the committed tree (an O(1)
    /// clone, so the txn is applied once).
    tree_after: DataTree,
    result: ApplyResult,
    completion: Completion,
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
}

/// Counters for the four-letter words.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Frames received from clients.
    pub packets_received: u64,
    /// Frames sent to clients.
    pub packets_sent: u64,
}

/// The server core. See the module docs.
pub struct ServerCore {
    config: CoreConfig,
    /// The committed tree: what reads see.
    tree: DataTree,
    /// The committed tree plus every txn proposed since (Java's outstandingChanges): what
    /// prep validates writes against.
    outstanding: DataTree,
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
    /// When the next container/TTL sweep is due (monotonic ms).
    next_reap_ms: u64,
    /// Reused to measure txns before they are logged.
    scratch: Vec<u8>,
    /// Each connection's SASL exchange, from its first `sasl` request on.
    sasl_exchanges: HashMap<ConnId, crate::sasl::digest_md5::DigestMd5Server>,
    /// Nonces for SASL challenges.
    sasl_nonces: NonceSource,
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

/// A request that failed in prep: the code, logged as an ErrorTxn.
type PrepResult = Result<Txn, ErrorCode>;

impl ServerCore {
    /// A core over `tree` (new or recovered); sessions recorded in the tree are tracked again
    /// from `now_ms` (monotonic). New session ids start from `id_clock_ms`, a clock reading that
    /// differs between runs (Java uses nanoTime) so ids of a restarted server do not repeat.
    pub fn new(config: CoreConfig, tree: DataTree, now_ms: u64, id_clock_ms: u64) -> Self {
        let mut sessions = SessionTracker::new(config.server_id, config.tick_ms, id_clock_ms);
        for (&id, &timeout) in tree.sessions() {
            sessions.add(id, timeout.max(0) as u32, now_ms);
        }
        let last_zxid = tree.last_processed_zxid();
        let next_reap_ms = now_ms + config.container_check_interval_ms;
        ServerCore {
            config,
            outstanding: tree.clone(),
            tree,
            pending: std::collections::VecDeque::new(),
            sessions,
            watches: WatchManager::new(),
            conns: HashMap::new(),
            session_conns: HashMap::new(),
            last_zxid,
            last_proposed_zxid: last_zxid,
            counters: Counters::default(),
            next_reap_ms,
            scratch: Vec::new(),
            sasl_exchanges: HashMap::new(),
            sasl_nonces: sasl::counting_nonces(id_clock_ms),
        }
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

    /// Resets the server-wide packet counters (`srst`).
    pub fn reset_counters(&mut self) {
        self.counters = Counters::default();
    }

    /// Resets every connection's statistics (`crst`).
    pub fn reset_connection_stats(&mut self) {
        for c in self.conns.values_mut() {
            c.stats.packets_received = 0;
            c.stats.packets_sent = 0;
            c.stats.last_op = "NA";
            c.stats.last_cxid = -1;
            c.stats.last_zxid = -1;
        }
    }

    /// Session expiry buckets (for `dump`).
    pub fn session_buckets(&self) -> Vec<(u64, Vec<i64>)> {
        self.sessions.buckets()
    }

    fn send(&mut self, out: &mut Vec<Action>, conn: ConnId, payload: impl Into<Payload>) {
        self.counters.packets_sent += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.packets_sent += 1;
        }
        out.push(Action::Send {
            conn,
            payload: payload.into(),
        });
    }

    fn reply(
        &mut self,
        out: &mut Vec<Action>,
        conn: ConnId,
        xid: i32,
        zxid: i64,
        err: ErrorCode,
        body: Option<ResponseBody>,
    ) {
        // An error reply carries no body.
        let body = match body {
            Some(body) if err.is_ok() => body,
            _ => ResponseBody::Empty,
        };
        if let ResponseBody::GetData(GetDataResponse {
            data: Some(data),
            stat,
        }) = &body
        {
            if data.len() >= SHARED_DATA_MIN {
                // The same bytes as Reply::write, with the data as a part of its own.
                let mut head = BytesMut::with_capacity(20);
                zk_proto::proto::ReplyHeader::new(xid, zxid, err).write(&mut head);
                head.extend_from_slice(&(data.len() as i32).to_be_bytes());
                let mut tail = BytesMut::with_capacity(80);
                stat.write(&mut tail);
                let payload = Payload {
                    parts: [head.freeze(), data.clone(), tail.freeze()],
                };
                self.send(out, conn, payload);
                return;
            }
        }
        let mut payload = BytesMut::with_capacity(64);
        Reply::new(xid, zxid, err, body).write(&mut payload);
        self.send(out, conn, payload.freeze());
    }

    // ----- connections and sessions -------------------------------------------------------

    /// The handshake frame of a new connection; `transport_ids` are the ids its transport
    /// authenticated (a TLS client certificate's), which the connection holds before its `ip`.
    pub fn connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        payload: &[u8],
        transport_ids: Vec<Id>,
        now_ms: u64,
        wall_ms: i64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.counters.packets_received += 1;
        let request = match ConnectRequest::read(&mut &payload[..]) {
            Ok(r) => r,
            Err(e) => {
                warn!(conn, error = %e, "malformed ConnectRequest; closing");
                out.push(Action::Close { conn });
                return out;
            }
        };
        if request.last_zxid_seen > self.last_zxid {
            // The client has seen a newer state than ours: it must find another server.
            info!(conn, client_zxid = %format_args!("{:#x}", request.last_zxid_seen), our_zxid = %format_args!("{:#x}", self.last_zxid), "refusing a client that is ahead of us");
            out.push(Action::Close { conn });
            return out;
        }
        let sent_read_only_byte = request.read_only.is_some();
        let timeout = negotiate_timeout(
            request.time_out,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let refuse = |core: &mut Self, out: &mut Vec<Action>| {
            let resp = ConnectResponse {
                protocol_version: 0,
                time_out: 0,
                session_id: 0,
                passwd: Bytes::from_static(&[0; 16]),
                read_only: sent_read_only_byte.then_some(false),
            };
            core.send(out, conn, Bytes::from(resp.to_jute_bytes()));
            out.push(Action::Close { conn });
        };
        // Java's TLS handshake adds the certificate's ids before the connect request adds `ip`.
        let mut auth_ids = acl::AuthIds::default();
        for id in transport_ids {
            auth_ids.add(id);
        }
        auth_ids.add(Id::new("ip", peer.ip().to_string()));
        let new_conn = |session_id: i64, establishing: bool, last_zxid: i64| Conn {
            session_id,
            auth_ids: std::sync::Arc::new(auth_ids),
            stats: ConnStats {
                peer: Some(peer),
                packets_received: 1,
                last_op: "SESS",
                last_cxid: 0,
                last_zxid,
                established_wall_ms: wall_ms,
                session_timeout_ms: timeout,
                ..ConnStats::default()
            },
            pending_writes: 0,
            establishing,
            held: std::collections::VecDeque::new(),
        };
        if request.session_id != 0 {
            let id = request.session_id;
            let valid = request.passwd[..] == session_password(id)[..]
                && self.sessions.get(id).is_some_and(|s| !s.closing);
            if !valid {
                info!(conn, session = %format_args!("{id:#x}"), "refusing to re-attach an invalid or expired session");
                refuse(self, &mut out);
                return out;
            }
            self.sessions.touch(id, now_ms);
            // A session has one connection: the previous one is closed.
            if let Some(old) = self.session_conns.insert(id, conn) {
                if old != conn {
                    self.drop_conn(old);
                    out.push(Action::Close { conn: old });
                }
            }
            info!(conn, session = %format_args!("{id:#x}"), timeout, "session re-attached");
            self.conns.insert(conn, new_conn(id, false, self.last_zxid));
            let resp = ConnectResponse {
                protocol_version: 0,
                time_out: timeout,
                session_id: id,
                passwd: Bytes::copy_from_slice(&session_password(id)),
                read_only: sent_read_only_byte.then_some(false),
            };
            self.send(&mut out, conn, Bytes::from(resp.to_jute_bytes()));
        } else {
            // A new session is a createSession txn; the ConnectResponse waits for its commit.
            let id = self.sessions.next_session_id();
            self.sessions.add(id, timeout as u32, now_ms);
            self.session_conns.insert(id, conn);
            self.conns
                .insert(conn, new_conn(id, true, self.last_proposed_zxid + 1));
            info!(conn, session = %format_args!("{id:#x}"), timeout, "session opened");
            let header = self.next_header(id, 0, OpCode::CreateSession, wall_ms);
            let response = ConnectResponse {
                protocol_version: 0,
                time_out: timeout,
                session_id: id,
                passwd: Bytes::copy_from_slice(&session_password(id)),
                read_only: sent_read_only_byte.then_some(false),
            };
            self.propose(
                header,
                Txn::CreateSession(CreateSessionTxn { time_out: timeout }),
                &mut out,
                |_| Completion::Connected { conn, response },
            );
        }
        out
    }

    /// The connection closed (by the client or the runtime): its watches go; its session
    /// stays until it expires or is closed. Its writes still commit; nothing is answered.
    pub fn disconnected(&mut self, conn: ConnId) {
        self.drop_conn(conn);
    }

    fn drop_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.session_conns.get(&c.session_id) == Some(&conn) {
                self.session_conns.remove(&c.session_id);
            }
        }
        self.watches.remove_connection(conn);
        self.sasl_exchanges.remove(&conn);
    }

    /// Expires sessions whose time is up: each gets a closeSession txn; when it commits, its
    /// ephemerals go with their watch events and its connection (if any) is closed.
    pub fn tick(&mut self, now_ms: u64, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        for id in self.sessions.expire(now_ms) {
            info!(session = %format_args!("{id:#x}"), "session expired");
            self.close_session(id, 0, wall_ms, &mut out, |_| Completion::SessionExpired);
        }
        if now_ms >= self.next_reap_ms {
            self.next_reap_ms = now_ms + self.config.container_check_interval_ms.max(1);
            self.reap(wall_ms, &mut out);
        }
        out
    }

    /// Java's ContainerManager: deletes containers that had children and have none left (or,
    /// with `container_max_never_used_ms`, never had any for that long) and TTL nodes without
    /// children untouched for longer than their TTL, each with a deleteContainer txn.
    fn reap(&mut self, wall_ms: i64, out: &mut Vec<Action>) {
        let never_used_ms = self.config.container_max_never_used_ms as i64;
        let mut candidates: Vec<String> = Vec::new();
        for path in self.tree.containers() {
            let Some(node) = self.tree.node(path) else {
                continue;
            };
            if node.child_count() != 0 {
                continue;
            }
            let emptied = node.stat.cversion > 0;
            let never_used = never_used_ms > 0
                && node.stat.cversion == 0
                && wall_ms - node.stat.mtime >= never_used_ms;
            if emptied || never_used {
                candidates.push(path.clone());
            }
        }
        for path in self.tree.ttl_nodes() {
            let Some(node) = self.tree.node(path) else {
                continue;
            };
            if let OwnerKind::Ttl(ttl) =
                OwnerKind::of(node.stat.ephemeral_owner, self.config.extended_types)
            {
                if node.child_count() == 0 && ttl != 0 && wall_ms - node.stat.mtime > ttl {
                    candidates.push(path.clone());
                }
            }
        }
        candidates.sort();
        // The sweep acts as the server itself: no session, no ACL.
        let system = Conn {
            session_id: 0,
            auth_ids: std::sync::Arc::new(acl::AuthIds::new(Id::new("super", ""))),
            stats: ConnStats::default(),
            pending_writes: 0,
            establishing: false,
            held: std::collections::VecDeque::new(),
        };
        for path in candidates {
            let body = RequestBody::DeleteContainer(path.clone());
            // Prepped like a client's request: against the txns in flight too.
            let prep = Prep {
                tree: &self.outstanding,
                committed: &self.tree,
                config: &self.config,
                nulls: Nulls::NONE,
            };
            let txn = match prep.prep(&system, &body) {
                Ok(txn) => txn,
                Err(code) => {
                    debug!(%path, %code, "container or TTL node no longer deletable");
                    continue;
                }
            };
            let header = self.next_header(0, 0, OpCode::DeleteContainer, wall_ms);
            info!(%path, "deleting an empty container or expired TTL node");
            self.propose(header, txn, out, |_| Completion::Nothing);
        }
    }

    /// Proposes a session's closeSession txn; `complete` says what its commit does.
    fn close_session(
        &mut self,
        id: i64,
        cxid: i32,
        wall_ms: i64,
        out: &mut Vec<Action>,
        complete: impl FnOnce(&ApplyResult) -> Completion,
    ) {
        self.sessions.set_closing(id);
        // The ephemerals as of every txn proposed, as Java's prep sees them.
        let paths = self.outstanding.ephemerals_copy(id);
        let mut txn = Txn::CloseSession(Some(CloseSessionTxn {
            paths2_delete: paths,
        }));
        // A session cannot be refused its close. When its ephemerals do not fit one record,
        // the txn goes without the list, as Java writes it with closeSessionTxn.enabled=false:
        // replay then deletes the session's ephemerals from the tree, the same set.
        if !self.fits_one_record(&txn) {
            info!(session = %format_args!("{id:#x}"), "closeSession logged without its path list (too large for one record)");
            txn = Txn::CloseSession(None);
        }
        let header = self.next_header(id, cxid, OpCode::CloseSession, wall_ms);
        self.propose(header, txn, out, complete);
    }

    // ----- the pipeline -------------------------------------------------------------------

    fn next_header(&mut self, session: i64, cxid: i32, op: OpCode, wall_ms: i64) -> TxnHeader {
        TxnHeader {
            client_id: session,
            cxid,
            zxid: self.last_proposed_zxid + 1,
            time: wall_ms,
            r#type: op,
        }
    }

    /// Proposes one txn: applies it to the speculative tree (so the log record carries the
    /// tree digest after it, as Java's records do), asks the runtime to log it, and keeps what
    /// its commit must do (`complete`, given the txn's result).
    fn propose(
        &mut self,
        header: TxnHeader,
        txn: Txn,
        out: &mut Vec<Action>,
        complete: impl FnOnce(&ApplyResult) -> Completion,
    ) {
        let zxid = header.zxid;
        debug_assert_eq!(
            zxid,
            self.last_proposed_zxid + 1,
            "zxids are proposed in order"
        );
        let session_id = header.client_id;
        let result = self.outstanding.apply(&header, &txn);
        let digest = (self.config.digest_enabled && header.r#type != OpCode::Error).then(|| {
            zk_proto::txn::TxnDigest {
                version: 2,
                tree_digest: self.outstanding.digest(),
            }
        });
        out.push(Action::Log(TxnEntry {
            header,
            txn,
            digest,
        }));
        let completion = complete(&result);
        if let Completion::Reply { conn, .. } = &completion {
            if let Some(c) = self.conns.get_mut(conn) {
                c.pending_writes += 1;
            }
        }
        self.pending.push_back(Proposal {
            zxid,
            session_id,
            tree_after: self.outstanding.clone(),
            result,
            completion,
        });
        self.last_proposed_zxid = zxid;
    }

    /// The log is durable up to `zxid`: as a quorum of one, every txn proposed up to it
    /// commits, in order. Returns the replies, events and closes that were waiting, and what
    /// the requests released behind them do (which may propose, and so log, more txns).
    pub fn log_flushed(&mut self, zxid: i64, wall_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        while self.pending.front().is_some_and(|p| p.zxid <= zxid) {
            let proposal = self.pending.pop_front().expect("checked");
            self.commit(proposal, wall_ms, &mut out);
        }
        out
    }

    /// Commits one proposal: the committed tree becomes the one it produced, its events fire,
    /// then what waited for it happens.
    fn commit(&mut self, proposal: Proposal, wall_ms: i64, out: &mut Vec<Action>) {
        let Proposal {
            zxid,
            session_id,
            tree_after,
            result,
            completion,
        } = proposal;
        debug_assert_eq!(zxid, self.last_zxid + 1, "txns commit in zxid order");
        self.tree = tree_after;
        self.last_zxid = zxid;
        self.fire(&result, out);
        match completion {
            Completion::Reply {
                conn,
                xid,
                err,
                body,
            } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.pending_writes -= 1;
                self.reply(out, conn, xid, zxid, err, body);
                self.release(conn, wall_ms, out);
            }
            Completion::Connected { conn, response } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.establishing = false;
                self.send(out, conn, Bytes::from(response.to_jute_bytes()));
                self.release(conn, wall_ms, out);
            }
            Completion::SessionClosed { conn, xid } => {
                self.sessions.remove(session_id);
                if self.conns.contains_key(&conn) {
                    self.reply(out, conn, xid, zxid, ErrorCode::Ok, None);
                    self.drop_conn(conn);
                    out.push(Action::Close { conn });
                }
                if let Some(other) = self.session_conns.remove(&session_id) {
                    self.drop_conn(other);
                    out.push(Action::Close { conn: other });
                }
                info!(conn, session = %format_args!("{session_id:#x}"), "session closed");
            }
            Completion::SessionExpired => {
                self.sessions.remove(session_id);
                if let Some(conn) = self.session_conns.remove(&session_id) {
                    self.drop_conn(conn);
                    out.push(Action::Close { conn });
                }
            }
            Completion::Nothing => {}
        }
    }

    /// Sends the watch events of an applied txn to the connections watching, if they may read
    /// the node (the CVE-2024-23944 rule of 3.8.4+/3.9.2+).
    fn fire(&mut self, result: &ApplyResult, out: &mut Vec<Action>) {
        for (event, acl) in result.events.iter().zip(&result.event_acls) {
            self.fire_event(event, acl, result.zxid, out);
        }
    }

    fn fire_event(&mut self, event: &TreeEvent, acl: &[Acl], zxid: i64, out: &mut Vec<Action>) {
        let fired = self.watches.trigger(event);
        for (conn, watcher_event) in fired {
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if !self.config.skip_acl
                && self
                    .config
                    .providers
                    .check(acl, perms::READ, &c.auth_ids)
                    .is_err()
            {
                continue;
            }
            // 3.9 puts the firing txn's zxid in the header (3.8 sent -1).
            let payload = notification(zxid, watcher_event);
            self.send(out, conn, payload);
        }
    }

    /// One request from an established connection, decoded by [`decode_request`].
    pub fn request(
        &mut self,
        conn: ConnId,
        request: ClientRequest,
        now_ms: u64,
        wall_ms: i64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.counters.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            out.push(Action::Close { conn });
            return out;
        };
        c.stats.packets_received += 1;
        let session_id = c.session_id;
        if let ClientRequest::BadHeader(e) = &request {
            warn!(conn, error = %e, "malformed request header; closing");
            out.push(Action::Close { conn });
            return out;
        }
        if !self.sessions.touch(session_id, now_ms) {
            // Java drops requests of a session that is gone or closing.
            debug!(conn, "request for a missing or closing session dropped");
            return out;
        }
        let c = self.conns.get_mut(&conn).expect("checked");
        if c.establishing || !c.held.is_empty() || (c.pending_writes > 0 && !overtakes(&request)) {
            c.held.push_back(request);
            return out;
        }
        self.process(conn, request, wall_ms, &mut out);
        out
    }

    /// Serves the requests a connection held while earlier ones of it were pending, until one
    /// must wait again.
    fn release(&mut self, conn: ConnId, wall_ms: i64, out: &mut Vec<Action>) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.held.front() {
                Some(next) if !c.establishing && (c.pending_writes == 0 || overtakes(next)) => {}
                _ => return,
            }
            let request = c.held.pop_front().expect("checked");
            self.process(conn, request, wall_ms, out);
        }
    }

    /// Serves one request whose turn has come.
    fn process(
        &mut self,
        conn: ConnId,
        request: ClientRequest,
        wall_ms: i64,
        out: &mut Vec<Action>,
    ) {
        let Some(op) = request.op() else {
            return;
        };
        let xid = match &request {
            ClientRequest::Decoded { xid, .. } | ClientRequest::Malformed { xid, .. } => *xid,
            ClientRequest::BadHeader(_) => return,
        };
        if !self.enforce_authentication(conn, xid, op, out) {
            return;
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let c = c.view();
        match request {
            ClientRequest::BadHeader(_) => {}
            ClientRequest::Decoded {
                xid,
                body,
                nulls: Some(nulls),
            } => {
                // Nulls Java reads (and answers in its own way) where our records need values.
                self.request_with_nulls(conn, &c, xid, body, Nulls::new(nulls), out, wall_ms);
            }
            ClientRequest::Decoded {
                xid,
                body,
                nulls: None,
            } => {
                self.dispatch(conn, c, xid, body, out, wall_ms);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.stats.last_op = last_op_code(op);
                }
            }
            ClientRequest::Malformed { xid, op, error } => {
                warn!(conn, %op, %error, "malformed request body");
                if matches!(op, OpCode::Auth | OpCode::Sasl) {
                    // Java parses these outside the pipeline and drops the connection.
                    out.push(Action::Close { conn });
                } else if op.is_write() && op != OpCode::Reconfig {
                    // Java parses a reconfig body before giving it a zxid; other writes fail
                    // in prep, after the zxid is taken: an ErrorTxn(MARSHALLINGERROR).
                    self.error_txn(conn, &c, xid, ErrorCode::MarshallingError, out, wall_ms);
                } else {
                    let last = self.last_zxid;
                    self.reply(out, conn, xid, last, ErrorCode::MarshallingError, None);
                }
            }
        }
    }

    /// A write that fails before its txn is built: an ErrorTxn takes the next zxid and
    /// answers the error when it commits.
    fn error_txn(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        err: ErrorCode,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let header = self.next_header(c.session_id, xid, OpCode::Error, wall_ms);
        self.propose(
            header,
            Txn::Error(ErrorTxn { err: err.code() }),
            out,
            |_| Completion::Reply {
                conn,
                xid,
                err,
                body: None,
            },
        );
    }

    fn dispatch(
        &mut self,
        conn: ConnId,
        c: Conn,
        xid: i32,
        body: RequestBody,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let last = self.last_zxid;
        match body {
            RequestBody::Ping => self.reply(out, conn, xid::PING, last, ErrorCode::Ok, None),
            RequestBody::Auth(packet) => {
                let authenticated = self.config.providers.authenticate(
                    &packet.scheme,
                    &packet.auth,
                    self.config.super_digest.as_deref(),
                    &c.auth_ids,
                );
                match authenticated {
                    Ok(ids) => {
                        // The request's copy goes first, so the ids are changed in place
                        // (O(1) per auth) rather than copied.
                        drop(c);
                        let conn_state = self.conns.get_mut(&conn).expect("checked");
                        let auth_ids = std::sync::Arc::make_mut(&mut conn_state.auth_ids);
                        for id in ids {
                            auth_ids.add(id);
                        }
                        // The reply echoes the request's xid (-4 from every real client).
                        self.reply(out, conn, xid, 0, ErrorCode::Ok, None);
                    }
                    Err(code) => {
                        info!(conn, scheme = %packet.scheme, "authentication failed; closing");
                        self.reply(out, conn, xid, 0, code, None);
                        out.push(Action::Close { conn });
                    }
                }
            }
            RequestBody::CloseSession => {
                self.close_session(c.session_id, xid, wall_ms, out, |_| {
                    Completion::SessionClosed { conn, xid }
                });
            }
            RequestBody::Unknown { op, .. } => {
                info!(conn, %op, "unknown opcode; closing");
                self.reply(out, conn, xid, -1, ErrorCode::Unimplemented, None);
                out.push(Action::Close { conn });
            }
            // A top-level check is only valid inside multi (3.8.0 logged it and could not
            // restart): answer UNIMPLEMENTED and log nothing.
            RequestBody::Check(_) => {
                self.reply(out, conn, xid, last, ErrorCode::Unimplemented, None)
            }
            // Java reads the token's length before anything else: a null one throws, and the
            // connection is dropped without an answer.
            RequestBody::Sasl(r) if r.token.is_none() => out.push(Action::Close { conn }),
            RequestBody::Sasl(r) => {
                // The request's copy of the connection goes first, so its ids change in place.
                drop(c);
                self.sasl(conn, xid, r.token.as_deref().unwrap_or_default(), out)
            }
            body if body.op().is_write() => {
                self.write(conn, &c, xid, body, Nulls::NONE, out, wall_ms)
            }
            body => self.read(conn, &c, xid, body, out),
        }
    }

    /// One write; `nulls` are the places a request sent null where our records need values.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        body: RequestBody,
        nulls: &Nulls,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let op = body.op();
        let prep = Prep {
            tree: &self.outstanding,
            committed: &self.tree,
            config: &self.config,
            nulls,
        };
        let zxid = self.last_proposed_zxid + 1;
        let (header_op, txn) = match &body {
            RequestBody::Multi(multi) => (OpCode::Multi, prep.multi(c, multi, zxid)),
            // Only the container sweep deletes containers; a client asking for it would bypass
            // every ACL. Java fails it in prep, so it still takes a zxid.
            RequestBody::DeleteContainer(_) => (op, Err(ErrorCode::BadArguments)),
            other => (op, prep.prep(c, other)),
        };
        let txn = txn.and_then(|txn| self.check_txn_size(c.session_id, xid, txn));
        let (header_op, txn) = match txn {
            Ok(txn) => (header_op, txn),
            Err(code) => (OpCode::Error, Txn::Error(ErrorTxn { err: code.code() })),
        };
        let header = self.next_header(c.session_id, xid, header_op, wall_ms);
        self.propose(header, txn, out, |result| {
            // An ErrorTxn (a multi that threw in prep too) answers its code alone.
            let (err, body) = if header_op == OpCode::Error {
                (result.err, None)
            } else {
                write_response(&body, result)
            };
            Completion::Reply {
                conn,
                xid,
                err,
                body,
            }
        });
    }

    /// Refuses a txn whose log record would be larger than the log reader accepts, before
    /// anything of it is applied or acknowledged (a multi of many creates, or ACLs that
    /// expand to many ids, can be far larger than its request). Java has no such check and
    /// then cannot restart.
    fn check_txn_size(&mut self, session: i64, cxid: i32, txn: Txn) -> PrepResult {
        if !self.fits_one_record(&txn) {
            warn!(
                session = %format_args!("{session:#x}"),
                cxid,
                max = self.config.max_txn_bytes,
                "refusing a write whose txn would be too large to read back (jute.maxbuffer + zookeeper.jute.maxbuffer.extrasize)"
            );
            return Err(ErrorCode::BadArguments);
        }
        Ok(txn)
    }

    /// Whether `txn`'s log record (the txn with its header and digest) is no larger than the
    /// log reader accepts.
    fn fits_one_record(&mut self, txn: &Txn) -> bool {
        self.scratch.clear();
        txn.write(&mut self.scratch);
        self.scratch.len() + TXN_RECORD_EXTRA <= self.config.max_txn_bytes
    }

    fn check_acl(&self, c: &Conn, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        Prep {
            tree: &self.tree,
            committed: &self.tree,
            config: &self.config,
            nulls: Nulls::NONE,
        }
        .check_acl(c, acl, perm)
    }

    // ----- reads --------------------------------------------------------------------------

    fn read(&mut self, conn: ConnId, c: &Conn, xid: i32, body: RequestBody, out: &mut Vec<Action>) {
        let last = self.last_zxid;
        let result: Result<Option<ResponseBody>, ErrorCode> = match body {
            RequestBody::Exists(r) => {
                if r.watch {
                    self.watches.add_data_watch(&r.path, conn);
                }
                match self.tree.node(&r.path) {
                    Some(n) => Ok(Some(ResponseBody::Exists(
                        zk_proto::proto::ExistsResponse {
                            stat: self.tree.client_stat(n),
                        },
                    ))),
                    None => Err(ErrorCode::NoNode),
                }
            }
            RequestBody::GetData(r) => self.get_data(c, &r.path).map(|(data, stat)| {
                if r.watch {
                    self.watches.add_data_watch(&r.path, conn);
                }
                Some(ResponseBody::GetData(GetDataResponse { data, stat }))
            }),
            RequestBody::GetChildren(r) => self.get_children(c, &r.path).map(|(children, _)| {
                if r.watch {
                    self.watches.add_child_watch(&r.path, conn);
                }
                Some(ResponseBody::GetChildren(GetChildrenResponse { children }))
            }),
            RequestBody::GetChildren2(r) => {
                self.get_children(c, &r.path).map(|(children, stat)| {
                    if r.watch {
                        self.watches.add_child_watch(&r.path, conn);
                    }
                    Some(ResponseBody::GetChildren2(GetChildren2Response {
                        children,
                        stat,
                    }))
                })
            }
            RequestBody::GetAcl(r) => match self.tree.node(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) => {
                    let node_acl = self.tree.acl(n);
                    let stat = self.tree.client_stat(n);
                    match self.check_acl(c, &node_acl, perms::READ | perms::ADMIN) {
                        Err(e) => Err(e),
                        Ok(()) => {
                            let admin = self.check_acl(c, &node_acl, perms::ADMIN).is_ok();
                            Ok(Some(ResponseBody::GetAcl(GetAclResponse {
                                acl: acl::mask_for_reader(&node_acl, admin),
                                stat,
                            })))
                        }
                    }
                }
            },
            RequestBody::GetAllChildrenNumber(r) => match self.tree.node(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) => self.check_acl(c, &self.tree.acl(n), perms::READ).map(|()| {
                    Some(ResponseBody::GetAllChildrenNumber(
                        GetAllChildrenNumberResponse {
                            total_number: match r.path.as_str() {
                                // Java counts the map keys starting with "" + "/": every
                                // node, the root's "/" key included.
                                "" => self.tree.node_count() as i32,
                                // Java answers from its map's size: every node but the root.
                                "/" => self.tree.node_count() as i32 - 1,
                                _ => n.descendant_count() as i32,
                            },
                        },
                    ))
                }),
            },
            RequestBody::GetEphemerals(r) => {
                let prefix = r.prefix_path.unwrap_or_default();
                let mut ephemerals = self.tree.ephemerals_copy(c.session_id);
                // Java trims the prefix only to see whether it names the root.
                if !(prefix.trim().is_empty() || prefix.trim() == "/") {
                    ephemerals.retain(|p| p.starts_with(&prefix));
                }
                Ok(Some(ResponseBody::GetEphemerals(GetEphemeralsResponse {
                    ephemerals,
                })))
            }
            RequestBody::WhoAmI => Ok(Some(ResponseBody::WhoAmI(WhoAmIResponse {
                client_info: acl::java_order(&c.auth_ids)
                    .into_iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: user_name(id),
                    })
                    .collect(),
            }))),
            RequestBody::Sync(r) => Ok(Some(ResponseBody::Sync(SyncResponse { path: r.path }))),
            RequestBody::MultiRead(multi) => {
                let results = multi
                    .ops
                    .iter()
                    .map(|op| match op {
                        MultiOp::GetData(r) => match self.get_data(c, &r.path) {
                            Ok((data, stat)) => {
                                MultiResult::GetData(GetDataResponse { data, stat })
                            }
                            Err(e) => MultiResult::Error(e),
                        },
                        MultiOp::GetChildren(r) => match self.get_children(c, &r.path) {
                            Ok((children, _)) => {
                                MultiResult::GetChildren(GetChildrenResponse { children })
                            }
                            Err(e) => MultiResult::Error(e),
                        },
                        _ => MultiResult::Error(ErrorCode::MarshallingError),
                    })
                    .collect();
                Ok(Some(ResponseBody::Multi(MultiResponse { results })))
            }
            RequestBody::SetWatches(r) => {
                self.set_watches(conn, &r.into(), out);
                Ok(None)
            }
            RequestBody::SetWatches2(r) => {
                self.set_watches(conn, &r, out);
                Ok(None)
            }
            RequestBody::AddWatch(r) => {
                let recursive = r.mode == AddWatchMode::PersistentRecursive;
                if !recursive && r.mode != AddWatchMode::Persistent {
                    // 3.8 fails to map an unknown mode: a marshalling error.
                    Err(ErrorCode::MarshallingError)
                } else {
                    self.watches.add_persistent_watch(&r.path, conn, recursive);
                    Ok(Some(ResponseBody::AddWatch(ErrorResponse {
                        err: ErrorCode::Ok,
                    })))
                }
            }
            // 3.8 knows watcher types 1..=3 only; others fail to decode there.
            RequestBody::CheckWatches(r) if !(1..=3).contains(&r.r#type.code()) => {
                Err(ErrorCode::MarshallingError)
            }
            RequestBody::RemoveWatches(r) if !(1..=3).contains(&r.r#type.code()) => {
                Err(ErrorCode::MarshallingError)
            }
            RequestBody::CheckWatches(r) => {
                if self.watches.contains(conn, &r.path, r.r#type) {
                    Ok(None)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            RequestBody::RemoveWatches(r) => {
                if self.watches.remove(conn, &r.path, r.r#type) {
                    Ok(None)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            _ => Err(ErrorCode::Unimplemented),
        };
        match result {
            Ok(body) => self.reply(out, conn, xid, last, ErrorCode::Ok, body),
            Err(code) => self.reply(out, conn, xid, last, code, None),
        }
    }

    /// Re-registers a reconnected client's watches; what it missed fires now (zxid -1, as
    /// these events come from no txn), before the reply.
    fn set_watches(
        &mut self,
        conn: ConnId,
        request: &zk_proto::proto::SetWatches2,
        out: &mut Vec<Action>,
    ) {
        let tree = &self.tree;
        let events = self.watches.set_watches(conn, request, |p| {
            tree.node(p).map(|n| (n.stat.mzxid, n.stat.pzxid))
        });
        for e in events {
            self.send(out, conn, notification(-1, e));
        }
    }

    fn get_data(&self, c: &Conn, path: &str) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(c, &self.tree.acl(n), perms::READ)?;
        Ok((n.data.clone(), self.tree.client_stat(n)))
    }

    fn get_children(&self, c: &Conn, path: &str) -> Result<(Vec<String>, Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(c, &self.tree.acl(n), perms::READ)?;
        Ok((n.children().cloned().collect(), self.tree.client_stat(n)))
    }
}

/// PrepRequestProcessor over a tree: the real one, or a multi's scratch copy.
struct Prep<'a> {
    tree: &'a DataTree,
    /// The tree as committed, without a multi's earlier ops: Java checks quotas against it.
    committed: &'a DataTree,
    config: &'a CoreConfig,
    /// Where the request (or this multi sub-op) sent nulls our records cannot hold.
    nulls: &'a Nulls,
}

impl Prep<'_> {
    fn check_acl(&self, c: &Conn, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        if self.config.skip_acl {
            return Ok(());
        }
        self.config.providers.check(acl, perm, &c.auth_ids)
    }

    /// `checkQuota` of a create (`count_diff` 1) or setData (0) replacing `last` by `data`.
    fn check_quota(
        &self,
        path: &str,
        last: Option<&Bytes>,
        data: Option<&Bytes>,
        count_diff: i64,
    ) -> Result<(), ErrorCode> {
        if !self.config.enforce_quota {
            return Ok(());
        }
        let len = |d: Option<&Bytes>| d.map_or(0, |d| d.len() as i64);
        self.committed
            .check_quota(path, len(data) - len(last), count_diff)
    }

    /// The node at a path (`""` is the root), or NONODE.
    fn record(&self, path: &str) -> Result<&crate::tree::Node, ErrorCode> {
        self.tree.node(path).ok_or(ErrorCode::NoNode)
    }

    fn is_session_ephemeral(&self, owner: i64) -> bool {
        matches!(
            OwnerKind::of(owner, self.config.extended_types),
            OwnerKind::Ephemeral(_)
        )
    }

    /// One write: its txn, or the error to log as an ErrorTxn. The order of the checks is
    /// Java's, since it decides which error a client sees.
    fn prep(&self, c: &Conn, body: &RequestBody) -> PrepResult {
        match body {
            RequestBody::Create(r) | RequestBody::Create2(r) | RequestBody::CreateContainer(r) => {
                self.create(
                    c,
                    body.op(),
                    &r.path,
                    r.data.clone(),
                    acl_list(&r.acl),
                    r.flags,
                    -1,
                )
            }
            RequestBody::CreateTtl(r) => self.create(
                c,
                OpCode::CreateTtl,
                &r.path,
                r.data.clone(),
                acl_list(&r.acl),
                r.flags,
                r.ttl,
            ),
            RequestBody::Delete(r) => {
                let parent_path = parent_of_deletable(&r.path)?;
                let parent = self.record(&parent_path)?;
                // 3.8 checks the parent's ACL before looking the node up.
                self.check_acl(c, &self.tree.acl(parent), perms::DELETE)?;
                let node = self.record(&r.path)?;
                check_version(node.stat.version, r.version)?;
                if node.child_count() != 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                Ok(Txn::Delete(DeleteTxn {
                    path: r.path.clone(),
                }))
            }
            RequestBody::DeleteContainer(path) => {
                let parent_path = parent_of_deletable(path)?;
                self.record(&parent_path)?;
                let node = self.record(path)?;
                if node.child_count() != 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                if self.is_session_ephemeral(node.stat.ephemeral_owner) {
                    return Err(ErrorCode::BadVersion);
                }
                Ok(Txn::Delete(DeleteTxn { path: path.clone() }))
            }
            RequestBody::SetData(r) => {
                validate(&r.path)?;
                let node = self.record(&r.path)?;
                self.check_acl(c, &self.tree.acl(node), perms::WRITE)?;
                self.check_quota(&r.path, node.data.as_ref(), r.data.as_ref(), 0)?;
                let version = check_version(node.stat.version, r.version)?;
                Ok(Txn::SetData(SetDataTxn {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    version,
                }))
            }
            RequestBody::SetAcl(r) => {
                validate(&r.path)?;
                let acl =
                    self.nulls
                        .fix_up(acl_list(&r.acl), &c.auth_ids, &self.config.providers)?;
                let node = self.record(&r.path)?;
                self.check_acl(c, &self.tree.acl(node), perms::ADMIN)?;
                let version = check_version(node.stat.aversion, r.version)?;
                Ok(Txn::SetAcl(SetAclTxn {
                    path: r.path.clone(),
                    acl,
                    version,
                }))
            }
            RequestBody::Check(r) => {
                validate(&r.path)?;
                let node = self.record(&r.path)?;
                self.check_acl(c, &self.tree.acl(node), perms::READ)?;
                let version = check_version(node.stat.version, r.version)?;
                Ok(Txn::CheckVersion(CheckVersionTxn {
                    path: r.path.clone(),
                    version,
                }))
            }
            RequestBody::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        c: &Conn,
        op: OpCode,
        path: &str,
        data: Option<Bytes>,
        acl_list: &[Acl],
        flags: i32,
        ttl: i64,
    ) -> PrepResult {
        let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
        // validateCreateRequest: TTL modes need extended types and a TTL in range.
        if mode.is_ttl() && !self.config.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        // EphemeralType.validateTTL: a TTL mode needs 1..=max; any other mode must not carry
        // one (createTTL sends a ttl, the other creates -1).
        if mode.is_ttl() && !(1..=MAX_TTL_MS).contains(&ttl) || !mode.is_ttl() && ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        // validatePathForCreate: only the slash and NUL here; the full check comes later.
        self.nulls.path_read_by(ErrorCode::MarshallingError)?;
        let Some(slash) = path.rfind('/') else {
            return Err(ErrorCode::BadArguments);
        };
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = &path[..slash];
        let acl_list = self
            .nulls
            .fix_up(acl_list, &c.auth_ids, &self.config.providers)?;
        let parent_node = self.record(parent_path)?;
        self.check_acl(c, &self.tree.acl(parent_node), perms::CREATE)?;
        let parent_cversion = parent_node.stat.cversion;
        let path = if mode.is_sequential() {
            sequential_name(path, parent_cversion)
        } else {
            path.to_owned()
        };
        validate(&path)?;
        if self.tree.node(&path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if self.is_session_ephemeral(parent_node.stat.ephemeral_owner) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        self.check_quota(&path, None, data.as_ref(), 1)?;
        let parent_c_version = parent_cversion + 1;
        Ok(match op {
            OpCode::CreateContainer => Txn::CreateContainer(CreateContainerTxn {
                path,
                data,
                acl: acl_list,
                parent_c_version,
            }),
            OpCode::CreateTtl => Txn::CreateTtl(CreateTtlTxn {
                path,
                data,
                acl: acl_list,
                parent_c_version,
                ttl,
            }),
            _ => Txn::Create(CreateTxn {
                path,
                data,
                acl: acl_list,
                ephemeral: mode.is_ephemeral(),
                parent_c_version,
            }),
        })
    }

    /// A multi: each op is prepped against the tree as changed by the ops before it (a scratch
    /// copy); after the first failure the rest become RUNTIMEINCONSISTENCY errors, and the
    /// apply stage then applies nothing. MARSHALLINGERROR from an op is what Java answers when
    /// prep throws, and fails the whole request instead.
    fn multi(&self, c: &Conn, multi: &MultiRequest, zxid: i64) -> PrepResult {
        let mut scratch = self.tree.clone();
        let mut txns = Vec::with_capacity(multi.ops.len());
        let mut failed = false;
        for (index, op) in multi.ops.iter().enumerate() {
            if failed {
                txns.push(error_sub(ErrorCode::RuntimeInconsistency));
                continue;
            }
            let body = multi_op_body(op);
            let nulls = self.nulls.sub_op(index);
            let view = Prep {
                tree: &scratch,
                committed: self.committed,
                config: self.config,
                nulls: &nulls,
            };
            match view.prep(c, &body) {
                Ok(txn) => {
                    // create2 sub-ops are logged as plain creates, as Java re-parses them.
                    let sub_type = match &txn {
                        Txn::Create(_) => OpCode::Create,
                        Txn::CreateContainer(_) => OpCode::CreateContainer,
                        Txn::CreateTtl(_) => OpCode::CreateTtl,
                        Txn::Delete(_) => OpCode::Delete,
                        Txn::SetData(_) => OpCode::SetData,
                        Txn::CheckVersion(_) => OpCode::Check,
                        _ => OpCode::Error,
                    };
                    let header = TxnHeader {
                        client_id: c.session_id,
                        cxid: 0,
                        zxid,
                        time: 0,
                        r#type: sub_type,
                    };
                    scratch.apply(&header, &txn);
                    let mut data = Vec::new();
                    txn.write(&mut data);
                    txns.push(SubTxn {
                        r#type: sub_type,
                        data: data.into(),
                    });
                }
                Err(ErrorCode::MarshallingError) => return Err(ErrorCode::MarshallingError),
                Err(code) => {
                    failed = true;
                    txns.push(error_sub(code));
                }
            }
        }
        Ok(Txn::Multi(MultiTxn { txns }))
    }
}

/// Whether a request may be served before the pending writes of its connection: writes that
/// certainly take a zxid (their replies then come in zxid order), and auth and SASL, which
/// Java answers outside the pipeline. Anything else waits, so replies keep request order.
fn overtakes(request: &ClientRequest) -> bool {
    match request {
        ClientRequest::Decoded {
            body, nulls: None, ..
        } => body.op().is_write() || matches!(body.op(), OpCode::Auth | OpCode::Sasl),
        ClientRequest::Decoded { body, .. } => matches!(body.op(), OpCode::Auth),
        ClientRequest::Malformed { op, .. } => {
            (op.is_write() && *op != OpCode::Reconfig) || matches!(op, OpCode::Auth | OpCode::Sasl)
        }
        ClientRequest::BadHeader(_) => true,
    }
}

/// Java's getParentPathAndValidate: a `/`, no NUL, and not one of the special paths.
fn parent_of_deletable(path: &str) -> Result<String, ErrorCode> {
    let Some(slash) = path.rfind('/') else {
        return Err(ErrorCode::BadArguments);
    };
    if path.contains('\0')
        || matches!(
            path,
            "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
        )
    {
        return Err(ErrorCode::BadArguments);
    }
    Ok(path[..slash].to_owned())
}

/// The reply of an applied write.
fn write_response(
    request: &RequestBody,
    result: &ApplyResult,
) -> (ErrorCode, Option<ResponseBody>) {
    if let RequestBody::Multi(multi) = request {
        // A failed multi answers an error entry for every op: OK (rolled back) before the
        // failing one, its code, then RUNTIMEINCONSISTENCY, as Java's sub-results are errors.
        let failed = !result.err.is_ok();
        let results = multi
            .ops
            .iter()
            .zip(&result.multi)
            .map(|(op, r)| {
                if failed {
                    MultiResult::Error(r.err)
                } else {
                    multi_result(op, r)
                }
            })
            .collect();
        // A failed multi still answers OK in the header; the codes are per op.
        return (
            ErrorCode::Ok,
            Some(ResponseBody::Multi(MultiResponse { results })),
        );
    }
    if !result.err.is_ok() {
        return (result.err, None);
    }
    let path = result.path.clone().unwrap_or_default();
    let stat = result.stat.clone().unwrap_or_default();
    let body = match request.op() {
        OpCode::Create => ResponseBody::Create(CreateResponse { path }),
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
            ResponseBody::Create2(Create2Response { path, stat })
        }
        OpCode::SetData => ResponseBody::SetData(SetDataResponse { stat }),
        OpCode::SetAcl => ResponseBody::SetAcl(SetAclResponse { stat }),
        _ => return (ErrorCode::Ok, None),
    };
    (ErrorCode::Ok, Some(body))
}

/// The reply entry of one multi sub-op: creates answer their path (containers and TTL nodes
/// with a Stat too), deletes and checks nothing, setData the Stat; failures their code.
fn multi_result(op: &MultiOp, r: &ApplyResult) -> MultiResult {
    if !r.err.is_ok() {
        return MultiResult::Error(r.err);
    }
    let path = r.path.clone().unwrap_or_default();
    let stat = r.stat.clone().unwrap_or_default();
    match op {
        MultiOp::Create(_) | MultiOp::Create2(_) => MultiResult::Create(CreateResponse { path }),
        MultiOp::CreateContainer(_) | MultiOp::CreateTtl(_) => {
            MultiResult::Create2(Create2Response { path, stat })
        }
        MultiOp::Delete(_) => MultiResult::Delete,
        MultiOp::SetData(_) => MultiResult::SetData(SetDataResponse { stat }),
        MultiOp::Check(_) => MultiResult::Check,
        MultiOp::GetData(_) | MultiOp::GetChildren(_) => {
            MultiResult::Error(ErrorCode::MarshallingError)
        }
    }
}

fn multi_op_body(op: &MultiOp) -> RequestBody {
    match op.clone() {
        MultiOp::Create(r) => RequestBody::Create(r),
        MultiOp::Create2(r) => RequestBody::Create(r),
        MultiOp::CreateContainer(r) => RequestBody::CreateContainer(r),
        MultiOp::CreateTtl(r) => RequestBody::CreateTtl(r),
        MultiOp::Delete(r) => RequestBody::Delete(r),
        MultiOp::SetData(r) => RequestBody::SetData(r),
        MultiOp::Check(r) => RequestBody::Check(r),
        MultiOp::GetData(r) => RequestBody::GetData(r),
        MultiOp::GetChildren(r) => RequestBody::GetChildren(r),
    }
}

fn error_sub(code: ErrorCode) -> SubTxn {
    SubTxn {
        r#type: OpCode::Error,
        data: ErrorTxn { err: code.code() }.to_jute_bytes().into(),
    }
}

/// The frame payload of a watch notification.
fn notification(zxid: i64, event: WatcherEvent) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + event.path.len());
    zk_proto::message::Notification::new(zxid, event).write(&mut out);
    out.freeze()
}

/// Java's `lastOp` code of an answered operation (`cons`). The codes of the original
/// operations come from Java's FinalRequestProcessor; those of later opcodes follow its style.
fn last_op_code(op: OpCode) -> &'static str {
    match op {
        OpCode::Ping => "PING",
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => "CREA",
        OpCode::Delete | OpCode::DeleteContainer => "DELE",
        OpCode::SetData => "SETD",
        OpCode::SetAcl => "SETA",
        OpCode::CloseSession => "CLOS",
        OpCode::Sync => "SYNC",
        OpCode::Exists => "EXIS",
        OpCode::GetData => "GETD",
        OpCode::SetWatches | OpCode::SetWatches2 => "SETW",
        OpCode::GetAcl => "GETA",
        OpCode::GetChildren | OpCode::GetChildren2 => "GETC",
        OpCode::Multi => "MULT",
        OpCode::MultiRead => "MLTR",
        OpCode::CheckWatches => "CHKW",
        OpCode::RemoveWatches => "REMW",
        OpCode::AddWatch => "ADDW",
        OpCode::GetEphemerals => "GETE",
        OpCode::GetAllChildrenNumber => "GETACN",
        OpCode::WhoAmI => "WHOAMI",
        OpCode::Auth => "AUTH",
        _ => "NA",
    }
}

fn validate(path: &str) -> Result<(), ErrorCode> {
    validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// The user name `whoAmI` reports: digest ids without their hash, nothing for `super` (no
/// provider has that scheme), others as they are.
fn user_name(id: &Id) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
        "super" => String::new(),
        _ => id.id.clone(),
    }
}

/// A request's ACL list; Java's null list is refused like an empty one (INVALIDACL).
fn acl_list(acl: &Option<Vec<Acl>>) -> &[Acl] {
    acl.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_get_data_reply_is_the_bytes_java_sends() {
        let mut core = ServerCore::new(CoreConfig::default(), DataTree::new(false), 0, 1);
        for len in [0, 10, SHARED_DATA_MIN - 1, SHARED_DATA_MIN, 100_000] {
            let data = Bytes::from(vec![7u8; len]);
            let stat = Stat {
                czxid: 5,
                data_length: len as i32,
                ..Stat::default()
            };
            let body = ResponseBody::GetData(GetDataResponse {
                data: Some(data.clone()),
                stat: stat.clone(),
            });
            let mut out = Vec::new();
            core.reply(&mut out, 3, 9, 0x42, ErrorCode::Ok, Some(body.clone()));
            let Some(Action::Send { payload, .. }) = out.pop() else {
                panic!("one send");
            };
            let mut expected = Vec::new();
            Reply::new(9, 0x42, ErrorCode::Ok, body).write(&mut expected);
            assert_eq!(&payload.to_bytes()[..], &expected[..], "len {len}");
            if len >= SHARED_DATA_MIN {
                // The data is the tree's buffer, not a copy.
                assert_eq!(payload.parts()[1].as_ptr(), data.as_ptr());
            }
        }
    }
}

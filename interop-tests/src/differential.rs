//! Differential testing on raw protocol connections: the same requests go to two servers (the
//! real Java ZooKeeper 3.8 and zk-server), and every reply and every watch notification each
//! server sends is compared after normalising what may legitimately differ.
//!
//! - [`RawSession`]: a blocking client connection that speaks the wire protocol through
//!   `zk_proto` only (no client library in between): handshake, requests with our own xids, and
//!   every frame the server sends, in arrival order.
//! - [`Differential`]: several sessions on each of two servers. [`Differential::step`] sends one
//!   request on one session to both servers, collects the reply and the notifications that came
//!   before it, then sends a ping on **every** open session and collects what arrives before
//!   each ping's reply. A server queues a write's notifications before its reply (to the writer
//!   and to every other connection), and a ping's reply is queued after anything already queued
//!   on that connection, so every event the step caused is attributed to it.
//! - zk-server runs in-process through [`crate::RustZkServer::start_with_flags`], with system
//!   properties (`-D...`), so its container
//!   sweep can be turned off like Java's (`znode.container.checkIntervalMs`).
//!
//! # What is compared, per step
//!
//! The reply's error code and header zxid, the response body (data, children in the order the
//! server listed them, Stat, ACLs, created paths, multi results, ...), whether the connection
//! was closed, and for every session the sequence of events (type, state, path), with the
//! step's own reply placed in its session's sequence so "events before the reply" is checked
//! too.
//!
//! # Normalisation
//!
//! - **zxids** (reply headers, czxid/mzxid/pzxid): each server's zxids are renamed `z1, z2, ...`
//!   in order of first appearance; 0 and -1 stay. Failed writes take a zxid on both servers, so
//!   the renaming keeps every gap that matters.
//! - **ctime/mtime**: checked for plausibility (0, or within the run's wall-clock window, and
//!   mtime >= ctime), shown as `T`, never compared for equality.
//! - **session ids** (ephemeralOwner, the handshake): `S1, S2, ...`, the order sessions were
//!   opened in.
//! - **notification header zxid**: Java 3.8 sends -1; 3.9 (which zk-server follows) sends the zxid
//!   of the txn that fired the watch, and -1 for events with no txn (setWatches catch-up). The
//!   comparison knows this: Java's must be -1, ours must be the step's write zxid (its reply's
//!   zxid), and any other value is a difference.
//! - **hash order**: whoAmI is sorted (Java keeps a connection's ids in a ConcurrentHashMap
//!   set; zk-server models its order only up to a resize). Children lists, getEphemerals and
//!   the delete events of a closeSession are not sorted: zk-server lists and deletes them in the
//!   order of Java's HashSets.
//!
//! Nothing else is normalised: the reply xid, error codes, data bytes (null vs empty), ACL order
//! and every Stat counter must match exactly. A long random run can register a [`KnownBug`]
//! (a reported zk-server bug) so that steps it fully explains (once zk-server's reply is
//! corrected and the events it makes unreliable are left out on both sides) are counted
//! instead of failing.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use zk_proto::data::{Acl, Stat};
use zk_proto::message::{
    MultiResult, Notification, Reply, Request, RequestBody, ResponseBody, ServerMessage,
};
use zk_proto::proto::{ConnectRequest, ConnectResponse, WatcherEvent};
use zk_proto::{xid, ErrorCode, Jute, OpCode};

/// Both servers keep their container/TTL sweep off (it runs on its own clock, so its deletes
/// could not be attributed to a step); Java also skips fsync, which changes nothing visible.
pub const NO_SWEEP: &str = "-Dznode.container.checkIntervalMs=3600000";

/// The Java server and ours, side by side for a [`Differential`]: TTL nodes on, container
/// sweep off.
pub fn start_server_pair() -> (crate::JavaZkServer, crate::RustZkServer) {
    let ours = crate::RustZkServer::start_with_flags(&["extendedTypesEnabled=true"], NO_SWEEP)
        .expect("start zk-server");
    let java = crate::JavaZkServer::builder()
        .cfg("extendedTypesEnabled=true")
        .jvm_flag(NO_SWEEP)
        .jvm_flag("-Dzookeeper.forceSync=no")
        .start()
        .expect("start the Java ZooKeeper server");
    (java, ours)
}

/// How long any single read or write on a raw connection may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest frame accepted from a server (Java's default `jute.maxbuffer`).
const MAX_FRAME: usize = 0xfffff;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Whether an IO error means the peer closed the connection.
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

// ---------------------------------------------------------------------------------------------
// raw sessions
// ---------------------------------------------------------------------------------------------

/// One client connection speaking the wire protocol directly (blocking, with [`IO_TIMEOUT`]).
#[derive(Debug)]
pub struct RawSession {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_xid: i32,
    response: ConnectResponse,
    closed: bool,
}

/// What one request brought back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request as sent.
    pub request: Request,
    /// Notifications that arrived before the reply, in order.
    pub before: Vec<Notification>,
    /// The reply; `None` when the connection closed first, or a reply for another xid came.
    pub reply: Option<Reply>,
    /// Frames that were neither notifications nor this request's reply.
    pub stray: Vec<ServerMessage>,
    /// Whether the server closed the connection before the reply.
    pub closed: bool,
}

impl RawSession {
    /// Opens a new session asking for `timeout_ms` (the handshake carries the readOnly byte,
    /// `false`, as the Java client's does).
    pub fn connect(addr: SocketAddr, timeout_ms: i32) -> io::Result<RawSession> {
        Self::handshake(
            addr,
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: timeout_ms,
                session_id: 0,
                passwd: Bytes::from_static(&[0; 16]),
                read_only: Some(false),
            },
        )
    }

    /// Connects and sends `request` as the handshake; fails if the server closes instead of
    /// answering.
    pub fn handshake(addr: SocketAddr, request: &ConnectRequest) -> io::Result<RawSession> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut session = RawSession {
            reader: BufReader::new(stream),
            writer,
            next_xid: 1,
            response: ConnectResponse::default(),
            closed: false,
        };
        session.write_payload(&request.to_jute_bytes())?;
        let payload = session.read_payload()?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection instead of answering the handshake",
            )
        })?;
        session.response = ConnectResponse::from_jute_bytes(&payload).map_err(invalid)?;
        Ok(session)
    }

    /// The server's ConnectResponse.
    pub fn connect_response(&self) -> &ConnectResponse {
        &self.response
    }

    /// The session id the server assigned.
    pub fn session_id(&self) -> i64 {
        self.response.session_id
    }

    /// Whether the server closed this connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The xid the next [`RawSession::call`] uses (they start at 1 and increase by one).
    pub fn next_xid(&self) -> i32 {
        self.next_xid
    }

    fn write_payload(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        frame.extend_from_slice(payload);
        self.writer.write_all(&frame)
    }

    /// One frame payload; `None` when the server closed the connection at a frame boundary.
    fn read_payload(&mut self) -> io::Result<Option<Bytes>> {
        let mut len = [0u8; 4];
        loop {
            match self.reader.read(&mut len[..1]) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_closed(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        self.reader.read_exact(&mut len[1..])?;
        let len = i32::from_be_bytes(len);
        if len < 0 || len as usize > MAX_FRAME {
            return Err(invalid(format!("frame length {len} out of range")));
        }
        let mut payload = vec![0u8; len as usize];
        self.reader.read_exact(&mut payload)?;
        Ok(Some(payload.into()))
    }

    /// Sends one request as it is (xid included).
    pub fn send(&mut self, request: &Request) -> io::Result<()> {
        self.write_payload(&request.encode())
    }

    /// The next frame from the server; `None` once it closed the connection.
    pub fn recv(&mut self) -> io::Result<Option<ServerMessage>> {
        match self.read_payload()? {
            None => {
                self.closed = true;
                Ok(None)
            }
            Some(payload) => ServerMessage::decode(&payload).map(Some).map_err(invalid),
        }
    }

    /// Sends `body` (auth with xid -4, ping with xid -2, anything else with the next xid) and
    /// reads every frame up to and including its reply.
    ///
    /// [`RequestBody::Unknown`] sends its bytes as they are under its opcode (any opcode, so a
    /// test can put on the wire what no record type can express, such as a null string); its
    /// reply is decoded by that opcode, and kept raw as [`ResponseBody::Unknown`] when it does
    /// not decode (a reply may echo the null).
    pub fn call(&mut self, body: RequestBody) -> io::Result<Exchange> {
        let raw = matches!(body, RequestBody::Unknown { .. });
        let xid = match body.op() {
            OpCode::Auth => xid::AUTH,
            OpCode::Ping => xid::PING,
            _ => {
                let x = self.next_xid;
                self.next_xid += 1;
                x
            }
        };
        let request = Request::new(xid, body);
        let mut exchange = Exchange {
            request,
            before: Vec::new(),
            reply: None,
            stray: Vec::new(),
            closed: false,
        };
        if let Err(e) = self.send(&exchange.request) {
            if is_closed(&e) {
                self.closed = true;
                exchange.closed = true;
                return Ok(exchange);
            }
            return Err(e);
        }
        let op = exchange.request.header.r#type;
        loop {
            match self.recv()? {
                None => {
                    exchange.closed = true;
                    return Ok(exchange);
                }
                Some(ServerMessage::Notification(n)) => exchange.before.push(n),
                Some(ServerMessage::Ping(header)) if xid == xid::PING => {
                    exchange.reply = Some(Reply {
                        header,
                        body: ResponseBody::Empty,
                    });
                    return Ok(exchange);
                }
                Some(ServerMessage::Auth(header)) if xid == xid::AUTH => {
                    exchange.reply = Some(Reply {
                        header,
                        body: ResponseBody::Empty,
                    });
                    return Ok(exchange);
                }
                Some(ServerMessage::Reply { header, body }) if header.xid == xid => {
                    let body = match ResponseBody::decode(op, header.err, &body) {
                        Ok(decoded) => decoded,
                        Err(_) if raw => ResponseBody::Unknown(body),
                        Err(e) => return Err(invalid(e)),
                    };
                    exchange.reply = Some(Reply { header, body });
                    return Ok(exchange);
                }
                Some(other @ ServerMessage::Reply { .. }) => {
                    // Replies come in request order: one for another xid means ours is lost.
                    exchange.stray.push(other);
                    return Ok(exchange);
                }
                Some(other) => exchange.stray.push(other),
            }
        }
    }

    /// Sends a ping (xid -2); pair with [`RawSession::finish_ping`].
    fn start_ping(&mut self) -> io::Result<()> {
        match self.send(&Request::new(xid::PING, RequestBody::Ping)) {
            Err(e) if is_closed(&e) => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }

    /// Reads up to the ping's reply, returning what came before it.
    fn finish_ping(&mut self) -> io::Result<Vec<Seen>> {
        let mut seen = Vec::new();
        loop {
            match self.recv()? {
                None => {
                    seen.push(Seen::Closed);
                    return Ok(seen);
                }
                Some(ServerMessage::Ping(_)) => return Ok(seen),
                Some(ServerMessage::Notification(n)) => seen.push(Seen::Event(n)),
                Some(other) => seen.push(Seen::Stray(other)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// zk-server with system properties
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// one server's view
// ---------------------------------------------------------------------------------------------

/// Something a session received during a step.
#[derive(Debug, Clone)]
enum Seen {
    /// A watch notification.
    Event(Notification),
    /// The reply to the step's request (only in the requesting session's list).
    Reply,
    /// The server closed the connection.
    Closed,
    /// A frame that should not have come.
    Stray(ServerMessage),
}

/// What one server did in one step, before normalisation.
#[derive(Debug, Clone, Default)]
struct Observed {
    reply: Option<Reply>,
    /// Per slot, in arrival order.
    seen: Vec<Vec<Seen>>,
    /// The requesting slot had no open session.
    no_session: bool,
}

/// How a server fills notification headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationZxid {
    /// 3.8: always -1.
    AlwaysMinusOne,
    /// 3.9+: the zxid of the txn that fired the watch (-1 for setWatches catch-up events).
    FiringTxn,
}

/// One server: its sessions (by slot) and its normalisation state.
#[derive(Debug)]
struct Side {
    name: &'static str,
    addr: SocketAddr,
    notification_zxid: NotificationZxid,
    slots: Vec<Option<RawSession>>,
    /// Session id to its label (1-based, in opening order).
    session_labels: HashMap<i64, usize>,
    /// zxid to its label (1-based, in order of first appearance).
    zxids: HashMap<i64, usize>,
    /// The reply zxid of every step (None without a reply).
    step_zxids: Vec<Option<i64>>,
    /// Sessions whose connection is gone (closed by the server, or replaced in its slot) but
    /// which may still live on the server: id and password, to reattach and close them.
    orphans: Vec<(i64, Bytes)>,
}

impl Side {
    fn new(name: &'static str, addr: SocketAddr, notification_zxid: NotificationZxid) -> Side {
        Side {
            name,
            addr,
            notification_zxid,
            slots: Vec::new(),
            session_labels: HashMap::new(),
            zxids: HashMap::new(),
            step_zxids: Vec::new(),
            orphans: Vec::new(),
        }
    }

    /// Runs one request on `slot`, then a ping barrier on every open session.
    fn run(&mut self, slot: usize, body: RequestBody) -> io::Result<Observed> {
        let mut observed = Observed {
            seen: vec![Vec::new(); self.slots.len()],
            ..Observed::default()
        };
        match self.slots.get_mut(slot).and_then(Option::as_mut) {
            None => observed.no_session = true,
            Some(session) => {
                let exchange = session.call(body)?;
                let list = &mut observed.seen[slot];
                list.extend(exchange.before.into_iter().map(Seen::Event));
                if exchange.reply.is_some() {
                    list.push(Seen::Reply);
                }
                list.extend(exchange.stray.into_iter().map(Seen::Stray));
                if exchange.closed {
                    list.push(Seen::Closed);
                }
                observed.reply = exchange.reply;
            }
        }
        self.barrier(&mut observed.seen)?;
        Ok(observed)
    }

    /// Pings every open session (all pings first, then all answers) and appends what came
    /// before each answer; sessions found closed are dropped.
    fn barrier(&mut self, seen: &mut [Vec<Seen>]) -> io::Result<()> {
        for session in self.slots.iter_mut().flatten() {
            if !session.is_closed() {
                session.start_ping()?;
            }
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(session) = slot else { continue };
            if session.is_closed() {
                if !matches!(seen[i].last(), Some(Seen::Closed)) {
                    seen[i].push(Seen::Closed);
                }
            } else {
                seen[i].extend(session.finish_ping()?);
            }
            if session.is_closed() {
                let r = session.connect_response();
                self.orphans.push((r.session_id, r.passwd.clone()));
                *slot = None;
            }
        }
        Ok(())
    }

    /// Ends every session this side opened: closeSession on the open ones, and on each orphan
    /// after reattaching to it (a session outlives its connection until it expires, and an
    /// expiry would take a zxid at a moment no step controls).
    fn close_all(&mut self, timeout_ms: i32) -> io::Result<()> {
        for slot in &mut self.slots {
            if let Some(mut session) = slot.take() {
                if !session.is_closed() {
                    session.call(RequestBody::CloseSession)?;
                }
            }
        }
        for (session_id, passwd) in std::mem::take(&mut self.orphans) {
            let request = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: timeout_ms,
                session_id,
                passwd,
                read_only: Some(false),
            };
            // A session that already expired is refused: nothing left to close.
            if let Ok(mut session) = RawSession::handshake(self.addr, &request) {
                if session.session_id() == session_id {
                    session.call(RequestBody::CloseSession)?;
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, slot: usize, timeout_ms: i32) -> io::Result<ConnectResponse> {
        let session = RawSession::connect(self.addr, timeout_ms)?;
        let label = self.session_labels.len() + 1;
        self.session_labels.insert(session.session_id(), label);
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        let response = session.connect_response().clone();
        if let Some(old) = self.slots[slot].replace(session) {
            let r = old.connect_response();
            self.orphans.push((r.session_id, r.passwd.clone()));
        }
        Ok(response)
    }

    fn zxid(&mut self, zxid: i64) -> String {
        if zxid == 0 || zxid == -1 {
            return zxid.to_string();
        }
        let next = self.zxids.len() + 1;
        format!("z{}", self.zxids.entry(zxid).or_insert(next))
    }

    fn session(&self, id: i64) -> String {
        match self.session_labels.get(&id) {
            Some(label) => format!("S{label}"),
            None if id == 0 => "0".into(),
            None => format!("UNKNOWN-SESSION({id:#x})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// normalisation
// ---------------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Renders replies and events of one server with its own zxid and session labels.
struct Normaliser<'a> {
    side: &'a mut Side,
    /// The earliest plausible node time (ms).
    t_min: i64,
    /// The latest plausible node time (ms).
    t_max: i64,
}

impl Normaliser<'_> {
    fn time(&self, t: i64) -> String {
        if t == 0 {
            "0".into()
        } else if (self.t_min..=self.t_max).contains(&t) {
            "T".into()
        } else {
            format!("IMPLAUSIBLE-TIME({t})")
        }
    }

    fn stat(&mut self, s: &Stat) -> String {
        let czxid = self.side.zxid(s.czxid);
        let mzxid = self.side.zxid(s.mzxid);
        let pzxid = self.side.zxid(s.pzxid);
        let mut mtime = self.time(s.mtime);
        if s.mtime < s.ctime {
            mtime = format!("BEFORE-CTIME({})", s.mtime - s.ctime);
        }
        format!(
            "{{czxid {czxid} mzxid {mzxid} pzxid {pzxid} ctime {} mtime {mtime} version {} cversion {} aversion {} owner {} dataLength {} numChildren {}}}",
            self.time(s.ctime),
            s.version,
            s.cversion,
            s.aversion,
            self.side.session(s.ephemeral_owner),
            s.data_length,
            s.num_children,
        )
    }

    fn body(&mut self, body: &ResponseBody) -> String {
        match body {
            ResponseBody::Empty => "(no body)".into(),
            ResponseBody::Create(r) => format!("create path {:?}", r.path),
            ResponseBody::Create2(r) => {
                format!("create2 path {:?} stat {}", r.path, self.stat(&r.stat))
            }
            ResponseBody::Exists(r) => format!("exists stat {}", self.stat(&r.stat)),
            ResponseBody::GetData(r) => {
                format!("data {} stat {}", data(&r.data), self.stat(&r.stat))
            }
            ResponseBody::SetData(r) => format!("setData stat {}", self.stat(&r.stat)),
            ResponseBody::GetAcl(r) => {
                format!("acl {} stat {}", acls(&r.acl), self.stat(&r.stat))
            }
            ResponseBody::SetAcl(r) => format!("setACL stat {}", self.stat(&r.stat)),
            ResponseBody::GetChildren(r) => format!("children {:?}", r.children),
            ResponseBody::GetChildren2(r) => {
                format!("children {:?} stat {}", r.children, self.stat(&r.stat))
            }
            ResponseBody::Sync(r) => format!("sync path {:?}", r.path),
            ResponseBody::Multi(r) => {
                let results: Vec<String> = r.results.iter().map(|x| self.multi_result(x)).collect();
                format!("multi [{}]", results.join("; "))
            }
            ResponseBody::Reconfig(r) => {
                format!("reconfig {} stat {}", data(&r.data), self.stat(&r.stat))
            }
            ResponseBody::Sasl(r) => format!("sasl {:?}", r.token),
            ResponseBody::GetEphemerals(r) => format!("ephemerals {:?}", r.ephemerals),
            ResponseBody::GetAllChildrenNumber(r) => {
                format!("allChildrenNumber {}", r.total_number)
            }
            ResponseBody::AddWatch(r) => format!("addWatch err {}", r.err),
            ResponseBody::WhoAmI(r) => {
                // Java keeps a connection's ids in a hash set: their order is unspecified.
                let mut ids: Vec<String> = r
                    .client_info
                    .iter()
                    .map(|c| format!("{}:{}", c.auth_scheme, c.user))
                    .collect();
                ids.sort();
                format!("whoAmI [{}]", ids.join(", "))
            }
            ResponseBody::Unknown(b) => format!("unknown body {b:?}"),
        }
    }

    fn multi_result(&mut self, r: &MultiResult) -> String {
        match r {
            MultiResult::Create(c) => format!("create {:?}", c.path),
            MultiResult::Create2(c) => format!("create2 {:?} {}", c.path, self.stat(&c.stat)),
            MultiResult::Delete => "delete".into(),
            MultiResult::SetData(s) => format!("setData {}", self.stat(&s.stat)),
            MultiResult::Check => "check".into(),
            MultiResult::GetData(d) => format!("getData {} {}", data(&d.data), self.stat(&d.stat)),
            MultiResult::GetChildren(c) => format!("getChildren {:?}", c.children),
            MultiResult::Error(e) => format!("error {e}"),
        }
    }

    fn reply(&mut self, reply: &Reply) -> String {
        let zxid = self.side.zxid(reply.header.zxid);
        let body = self.body(&reply.body);
        format!(
            "xid {} err {} zxid {zxid} {body}",
            reply.header.xid, reply.header.err
        )
    }
}

fn data(d: &Option<Bytes>) -> String {
    match d {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("{b:?}"),
        },
    }
}

fn acls(acl: &[Acl]) -> String {
    let items: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}:{}", a.perms, a.id.scheme, a.id.id))
        .collect();
    format!("[{}]", items.join(", "))
}

fn event_line(n: &Notification) -> String {
    let mut line = format!(
        "{} {} {:?}",
        n.event.r#type.name(),
        n.event.state.name(),
        n.event.path
    );
    if n.header.err != ErrorCode::Ok {
        let _ = write!(line, " (header err {})", n.header.err);
    }
    line
}

/// The normalised result of one step on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// One line per fact: the reply, then each slot's sequence.
    pub lines: Vec<String>,
    /// Broken rules that need no comparison (a notification header zxid that is not what this
    /// server's version sends).
    pub violations: Vec<String>,
}

fn normalise(side: &mut Side, obs: &Observed, op: OpCode, t_min: i64) -> Normalised {
    let mut lines = Vec::new();
    let mut violations = Vec::new();
    let mut n = Normaliser {
        side,
        t_min,
        t_max: now_ms() + 2_000,
    };
    if obs.no_session {
        lines.push("reply: (the session is closed)".to_string());
    } else {
        match &obs.reply {
            None => lines.push("reply: none (connection closed or reply for another xid)".into()),
            Some(r) => lines.push(format!("reply: {}", n.reply(r))),
        }
    }
    // The zxid a 3.9 server must put in the header of this step's notifications.
    let cause = match &obs.reply {
        Some(r) if OpCode::is_write(op) => r.header.zxid,
        _ => -1,
    };
    for (slot, seen) in obs.seen.iter().enumerate() {
        let mut slot_lines: Vec<String> = Vec::new();
        for s in seen {
            slot_lines.push(match s {
                Seen::Event(e) => {
                    let want = match n.side.notification_zxid {
                        NotificationZxid::AlwaysMinusOne => -1,
                        NotificationZxid::FiringTxn => cause,
                    };
                    if e.header.zxid != want {
                        violations.push(format!(
                            "{}: notification {} to slot {slot} has header zxid {:#x}; expected {:#x} ({})",
                            n.side.name,
                            event_line(e),
                            e.header.zxid,
                            want,
                            match n.side.notification_zxid {
                                NotificationZxid::AlwaysMinusOne => "3.8 always sends -1",
                                NotificationZxid::FiringTxn if want == -1 =>
                                    "3.9 sends -1 for events no txn fired",
                                NotificationZxid::FiringTxn =>
                                    "3.9 sends the zxid of the txn that fired the watch: the step's reply zxid",
                            }
                        ));
                    }
                    format!("event {}", event_line(e))
                }
                Seen::Reply => "<- reply".into(),
                Seen::Closed => "connection closed".into(),
                Seen::Stray(m) => format!("STRAY FRAME {m:?}"),
            });
        }
        lines.extend(slot_lines.into_iter().map(|l| format!("slot {slot}: {l}")));
    }
    Normalised { lines, violations }
}

// ---------------------------------------------------------------------------------------------
// the differential runner
// ---------------------------------------------------------------------------------------------

/// What a request builder may ask about the server it builds for.
#[derive(Debug)]
pub struct SideContext<'a> {
    name: &'static str,
    step_zxids: &'a [Option<i64>],
}

impl SideContext<'_> {
    /// Which server this is (`"java"` or `"zk-rs"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// This server's reply zxid of step `step` (panics if that step had no reply).
    pub fn reply_zxid(&self, step: usize) -> i64 {
        self.try_reply_zxid(step)
            .unwrap_or_else(|| panic!("step {step} has no reply zxid on {}", self.name))
    }

    /// This server's reply zxid of step `step`, if it had a reply.
    pub fn try_reply_zxid(&self, step: usize) -> Option<i64> {
        self.step_zxids.get(step).copied().flatten()
    }
}

/// The result of one step on both servers.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The step number (0-based).
    pub index: usize,
    /// Java's raw reply.
    pub java_reply: Option<Reply>,
    /// Our raw reply.
    pub ours_reply: Option<Reply>,
    /// Java's normalised result.
    pub java: Normalised,
    /// Ours, normalised.
    pub ours: Normalised,
}

impl StepOutcome {
    /// Whether both servers did the same (after normalisation) and neither broke a rule.
    pub fn same(&self) -> bool {
        self.java.lines == self.ours.lines
            && self.java.violations.is_empty()
            && self.ours.violations.is_empty()
    }

    /// Java's reply error code (None without a reply).
    pub fn java_err(&self) -> Option<ErrorCode> {
        self.java_reply.as_ref().map(|r| r.header.err)
    }
}

/// The same requests against Java's server and ours, compared step by step. See the module
/// docs.
#[derive(Debug)]
pub struct Differential {
    java: Side,
    ours: Side,
    section: String,
    steps: usize,
    differences: Vec<String>,
    t_min: i64,
    trace: bool,
    /// Session timeout asked for by every session.
    timeout_ms: i32,
    /// Counters for "did anything happen" checks.
    ok_replies: usize,
    events: usize,
    /// Known zk-server bugs tolerated, with how often each explained a difference.
    tolerated: Vec<(KnownBug, usize, Option<String>)>,
    /// Java's replies by `"<op> <err>"`.
    java_replies: BTreeMap<String, usize>,
}

/// A zk-server bug already reported, tolerated where it would otherwise stop a long run: a
/// step whose only difference it explains counts as a hit instead of a difference.
#[derive(Debug, Clone, Copy)]
pub struct KnownBug {
    /// What the bug is (for the summary).
    pub name: &'static str,
    /// Rewrites zk-server's reply into what it would be without the bug, given the request;
    /// `None` when the bug does not touch the reply.
    pub correct: fn(&RequestBody, &Reply) -> Option<Reply>,
    /// Events whose delivery the bug makes unreliable for this request: they are left out on
    /// both servers.
    pub event_in_doubt: fn(&RequestBody, &WatcherEvent) -> bool,
}

impl KnownBug {
    /// For [`KnownBug::correct`] when the reply is not involved.
    pub fn reply_unaffected(_: &RequestBody, _: &Reply) -> Option<Reply> {
        None
    }

    /// For [`KnownBug::event_in_doubt`] when events are not involved.
    pub fn events_unaffected(_: &RequestBody, _: &WatcherEvent) -> bool {
        false
    }
}

impl Differential {
    /// A runner over a Java 3.8 server and a zk-server. `DIFF_TRACE=1` prints every step.
    pub fn new(java: SocketAddr, ours: SocketAddr) -> Differential {
        Differential {
            java: Side::new("java", java, NotificationZxid::AlwaysMinusOne),
            ours: Side::new("zk-rs", ours, NotificationZxid::FiringTxn),
            section: String::new(),
            steps: 0,
            differences: Vec::new(),
            t_min: now_ms() - 2_000,
            trace: std::env::var_os("DIFF_TRACE").is_some_and(|v| !v.is_empty() && v != "0"),
            timeout_ms: 30_000,
            ok_replies: 0,
            events: 0,
            tolerated: Vec::new(),
            java_replies: BTreeMap::new(),
        }
    }

    /// Accepts times from `t_ms` (Unix ms) on: for nodes created before the runner, such as by
    /// zkCli in a setup that can take longer than the default 2 s margin on a loaded machine.
    pub fn with_times_since(mut self, t_ms: i64) -> Differential {
        self.t_min = self.t_min.min(t_ms);
        self
    }

    /// Names the following steps in reports.
    pub fn section(&mut self, name: &str) {
        self.section = name.to_owned();
        if self.trace {
            eprintln!("=== {name}");
        }
    }

    /// Tolerates a known zk-server bug from now on (see [`KnownBug`]).
    pub fn tolerate(&mut self, bug: KnownBug) {
        self.tolerated.push((bug, 0, None));
    }

    /// Each tolerated bug with how many steps it explained and the first such step.
    pub fn known_bug_hits(&self) -> Vec<(&'static str, usize, Option<&str>)> {
        self.tolerated
            .iter()
            .map(|(bug, hits, first)| (bug.name, *hits, first.as_deref()))
            .collect()
    }

    /// Steps run so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Steps whose Java reply was OK.
    pub fn ok_replies(&self) -> usize {
        self.ok_replies
    }

    /// How often Java answered each opcode with each error code (`"create2 NONODE (-101)"`),
    /// to check that a run exercised what it meant to.
    pub fn java_replies(&self) -> &BTreeMap<String, usize> {
        &self.java_replies
    }

    /// Notifications Java delivered so far.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Every difference so far, each a readable report.
    pub fn differences(&self) -> &[String] {
        &self.differences
    }

    /// Opens a new session in `slot` on both servers (replacing a closed one) and compares
    /// the handshakes.
    pub fn open_session(&mut self, slot: usize) {
        let timeout = self.timeout_ms;
        let mut lines = Vec::new();
        for side in [&mut self.java, &mut self.ours] {
            let line = match side.open(slot, timeout) {
                Ok(r) => {
                    format!(
                        "connect: protocolVersion {} timeOut {} server id {} passwd {} bytes readOnly {:?} -> {}",
                        r.protocol_version,
                        r.time_out,
                        (r.session_id as u64) >> 56,
                        r.passwd.len(),
                        r.read_only,
                        side.session(r.session_id),
                    )
                }
                Err(e) => format!("connect failed: {e}"),
            };
            lines.push(line);
        }
        if self.trace {
            eprintln!(
                "[open slot {slot}] java: {}\n               ours: {}",
                lines[0], lines[1]
            );
        }
        if lines[0] != lines[1] {
            self.differences.push(format!(
                "[{}] opening a session in slot {slot}:\n  java: {}\n  ours: {}",
                self.section, lines[0], lines[1]
            ));
        }
    }

    /// Closes every session on both servers, reattaching to those whose connection a server
    /// closed (they would otherwise expire, and take a zxid, at a moment no step controls);
    /// nothing is compared. Later steps need [`Differential::open_session`] again.
    pub fn close_all_sessions(&mut self) {
        let timeout = self.timeout_ms;
        for side in [&mut self.java, &mut self.ours] {
            if let Err(e) = side.close_all(timeout) {
                panic!("closing the sessions on {} failed: {e}", side.name);
            }
        }
    }

    /// Sends `body` on `slot` to both servers and compares everything that comes back.
    pub fn step(&mut self, slot: usize, body: RequestBody) -> StepOutcome {
        self.step_with(slot, |_| body.clone())
    }

    /// Like [`Differential::step`], with the request built per server (for server-specific
    /// values such as a setWatches relativeZxid).
    pub fn step_with(
        &mut self,
        slot: usize,
        build: impl Fn(&SideContext<'_>) -> RequestBody,
    ) -> StepOutcome {
        let index = self.steps;
        self.steps += 1;
        let java_body = build(&SideContext {
            name: self.java.name,
            step_zxids: &self.java.step_zxids,
        });
        let ours_body = build(&SideContext {
            name: self.ours.name,
            step_zxids: &self.ours.step_zxids,
        });
        let op = java_body.op();
        let ours_request = ours_body.clone();
        let request_text = if java_body == ours_body {
            format!("{java_body:?}")
        } else {
            format!("java: {java_body:?}\n  ours: {ours_body:?}")
        };
        let (java, ours) = (&mut self.java, &mut self.ours);
        let (java_obs, ours_obs) = std::thread::scope(|s| {
            let handle = s.spawn(|| java.run(slot, java_body));
            let ours_obs = ours.run(slot, ours_body);
            (handle.join().expect("java side panicked"), ours_obs)
        });
        let java_obs = java_obs.unwrap_or_else(|e| {
            panic!(
                "[{}] step {index}: talking to java failed: {e}\nrequest: {request_text}",
                self.section
            )
        });
        let ours_obs = ours_obs.unwrap_or_else(|e| {
            panic!(
                "[{}] step {index}: talking to zk-rs failed: {e}\nrequest: {request_text}",
                self.section
            )
        });
        for (side, obs) in [(&mut self.java, &java_obs), (&mut self.ours, &ours_obs)] {
            side.step_zxids
                .push(obs.reply.as_ref().map(|r| r.header.zxid));
        }
        let java_norm = normalise(&mut self.java, &java_obs, op, self.t_min);
        let ours_norm = normalise(&mut self.ours, &ours_obs, op, self.t_min);
        if let Some(r) = &java_obs.reply {
            if r.header.err == ErrorCode::Ok {
                self.ok_replies += 1;
            }
            *self
                .java_replies
                .entry(format!("{} {}", op.name(), r.header.err))
                .or_default() += 1;
            if let ResponseBody::Multi(m) = &r.body {
                for result in &m.results {
                    *self
                        .java_replies
                        .entry(format!("{} result {}", op.name(), result.err()))
                        .or_default() += 1;
                }
            }
        }
        self.events += java_obs
            .seen
            .iter()
            .flatten()
            .filter(|s| matches!(s, Seen::Event(_)))
            .count();
        let outcome = StepOutcome {
            index,
            java_reply: java_obs.reply.clone(),
            ours_reply: ours_obs.reply.clone(),
            java: java_norm,
            ours: ours_norm,
        };
        if self.trace {
            eprintln!(
                "[{}] step {index} slot {slot}: {request_text}",
                self.section
            );
            for line in &outcome.java.lines {
                eprintln!("    {line}");
            }
        }
        if !outcome.same() {
            let report = self.report(slot, &request_text, &outcome, &java_obs, &ours_obs);
            if self.trace {
                eprintln!("{report}");
            }
            if !self.explained_by_known_bug(
                &ours_request,
                &java_obs,
                &ours_obs,
                &outcome,
                op,
                &report,
            ) {
                self.differences.push(report);
            }
        }
        outcome
    }

    /// Whether a tolerated bug explains the whole difference of this step (and counts it).
    fn explained_by_known_bug(
        &mut self,
        request: &RequestBody,
        java: &Observed,
        ours: &Observed,
        outcome: &StepOutcome,
        op: OpCode,
        report: &str,
    ) -> bool {
        if !outcome.java.violations.is_empty() || !outcome.ours.violations.is_empty() {
            return false;
        }
        // Each bug alone, then all of them together (one step can show several).
        let n = self.tolerated.len();
        let attempts: Vec<Vec<usize>> = (0..n)
            .map(|i| vec![i])
            .chain((n > 1).then(|| (0..n).collect()))
            .collect();
        for bugs in attempts {
            let (mut java, mut ours) = (java.clone(), ours.clone());
            let mut applied = Vec::new();
            for &i in &bugs {
                let bug = self.tolerated[i].0;
                let mut involved = false;
                if let Some(corrected) = ours.reply.as_ref().and_then(|r| (bug.correct)(request, r))
                {
                    ours.reply = Some(corrected);
                    involved = true;
                }
                for obs in [&mut java, &mut ours] {
                    for list in &mut obs.seen {
                        let before = list.len();
                        list.retain(
                            |s| !matches!(s, Seen::Event(n) if (bug.event_in_doubt)(request, &n.event)),
                        );
                        involved |= list.len() != before;
                    }
                }
                if involved {
                    applied.push(i);
                }
            }
            if applied.is_empty() {
                continue;
            }
            let java_norm = normalise(&mut self.java, &java, op, self.t_min);
            let ours_norm = normalise(&mut self.ours, &ours, op, self.t_min);
            if java_norm.lines == ours_norm.lines && ours_norm.violations.is_empty() {
                for i in applied {
                    let entry = &mut self.tolerated[i];
                    entry.1 += 1;
                    entry.2.get_or_insert_with(|| report.to_owned());
                }
                return true;
            }
        }
        false
    }

    fn report(
        &self,
        slot: usize,
        request: &str,
        outcome: &StepOutcome,
        java: &Observed,
        ours: &Observed,
    ) -> String {
        let mut out = format!(
            "[{}] step {} on slot {slot}: {request}\n",
            self.section, outcome.index
        );
        let (j, o) = (&outcome.java.lines, &outcome.ours.lines);
        if j != o {
            out.push_str("  normalised (' ' same, '-' java only, '+' zk-rs only):\n");
            for line in line_diff(j, o) {
                let _ = writeln!(out, "    {line}");
            }
        }
        for v in outcome
            .java
            .violations
            .iter()
            .chain(&outcome.ours.violations)
        {
            let _ = writeln!(out, "  rule broken: {v}");
        }
        let _ = writeln!(out, "  raw java reply: {:?}", java.reply);
        let _ = writeln!(out, "  raw zk-rs reply: {:?}", ours.reply);
        out
    }

    /// Panics with every difference found, if any.
    pub fn assert_no_differences(&self) {
        if !self.differences.is_empty() {
            panic!(
                "{} of {} steps differ between Java ZooKeeper 3.8 and zk-rs:\n\n{}",
                self.differences.len(),
                self.steps,
                self.differences.join("\n")
            );
        }
    }
}

/// A line diff (longest common subsequence): `' '` both, `'-'` only in `a`, `'+'` only in `b`.
fn line_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_both_sides() {
        let a: Vec<String> = ["x", "y", "z"].iter().map(|s| s.to_string()).collect();
        let b: Vec<String> = ["x", "q", "z"].iter().map(|s| s.to_string()).collect();
        assert_eq!(line_diff(&a, &b), vec!["  x", "- y", "+ q", "  z"]);
    }

    fn notification(zxid: i64) -> Notification {
        Notification::new(
            zxid,
            zk_proto::proto::WatcherEvent {
                r#type: zk_proto::EventType::NodeDataChanged,
                state: zk_proto::KeeperState::SyncConnected,
                path: "/a".into(),
            },
        )
    }

    fn write_step(reply_zxid: i64, event_zxid: i64) -> Observed {
        Observed {
            reply: Some(Reply::new(
                1,
                reply_zxid,
                ErrorCode::Ok,
                ResponseBody::SetData(zk_proto::proto::SetDataResponse {
                    stat: Stat::default(),
                }),
            )),
            seen: vec![vec![Seen::Event(notification(event_zxid)), Seen::Reply]],
            no_session: false,
        }
    }

    #[test]
    fn notification_header_zxids_follow_each_version() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut java = Side::new("java", addr, NotificationZxid::AlwaysMinusOne);
        let mut ours = Side::new("zk-rs", addr, NotificationZxid::FiringTxn);
        // 3.8: -1 whatever the txn; 3.9: the write's zxid.
        let j = normalise(&mut java, &write_step(7, -1), OpCode::SetData, 0);
        let o = normalise(&mut ours, &write_step(9, 9), OpCode::SetData, 0);
        assert!(j.violations.is_empty() && o.violations.is_empty());
        assert_eq!(j.lines, o.lines);
        // Either server using the other's convention is caught, though the lines agree.
        let j = normalise(&mut java, &write_step(7, 7), OpCode::SetData, 0);
        let o = normalise(&mut ours, &write_step(9, -1), OpCode::SetData, 0);
        assert_eq!(j.violations.len(), 1, "{:?}", j.violations);
        assert_eq!(o.violations.len(), 1, "{:?}", o.violations);
        // Ours with another txn's zxid is caught too.
        let o = normalise(&mut ours, &write_step(9, 8), OpCode::SetData, 0);
        assert_eq!(o.violations.len(), 1);
        // Events no txn fired (setWatches catch-up) carry -1 on both.
        let mut catch_up = write_step(9, -1);
        catch_up.reply = Some(Reply::new(1, 9, ErrorCode::Ok, ResponseBody::Empty));
        let o = normalise(&mut ours, &catch_up, OpCode::SetWatches, 0);
        assert!(o.violations.is_empty(), "{:?}", o.violations);
    }

    #[test]
    fn zxids_are_labelled_by_first_appearance() {
        let mut side = Side::new(
            "t",
            "127.0.0.1:1".parse().unwrap(),
            NotificationZxid::FiringTxn,
        );
        assert_eq!(side.zxid(0x55), "z1");
        assert_eq!(side.zxid(0x20), "z2");
        assert_eq!(side.zxid(0x55), "z1");
        assert_eq!(side.zxid(0), "0");
        assert_eq!(side.zxid(-1), "-1");
    }
}

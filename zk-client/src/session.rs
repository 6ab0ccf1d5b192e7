//! The session state machine: xids, the in-flight FIFO, auth replay, watch registration and
//! routing, and the chroot mapping helpers. No sockets and no clocks: `conn` feeds it frames and sends what it
//! returns, so everything here is tested with plain bytes.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use zk_proto::message::ServerMessage;
use zk_proto::proto::{AuthPacket, ConnectRequest, ConnectResponse, RequestHeader};
use zk_proto::{xid, ErrorCode, Jute, KeeperState, OpCode, WatcherType, Xid};

use crate::error::{Error, ErrorKind, Result};
use crate::watch::{OneshotKind, SetWatchesPacket, WatchRegistry, WatchedEvent};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Trying servers for the first time.
    Connecting,
    /// Connected to a server that accepts writes.
    Connected,
    /// Connected to a read-only server (only with `read_only(true)`).
    ConnectedReadOnly,
    /// Connected, and the SASL login of
    /// [`ClientBuilder::sasl_digest`](crate::ClientBuilder::sasl_digest) succeeded on this
    /// connection (Java's `SaslAuthenticated` event, which follows `SyncConnected`). Published
    /// after `Connected` (or `ConnectedReadOnly`) on every connection.
    SaslAuthenticated,
    /// The connection was lost; the client is trying the servers again and the session lives on
    /// unless it expires meanwhile.
    Disconnected,
    /// The server declared the session expired. Final: a new client is needed.
    Expired,
    /// Authentication failed. Final.
    AuthFailed,
    /// The client was closed. Final.
    Closed,
}

impl SessionState {
    /// Whether the session can never be used again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired | SessionState::AuthFailed | SessionState::Closed
        )
    }

    /// Whether requests can be sent now.
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            SessionState::Connected
                | SessionState::ConnectedReadOnly
                | SessionState::SaslAuthenticated
        )
    }

    /// The error a request gets once the session is in this terminal state.
    pub(crate) fn terminal_error(self) -> Option<Error> {
        match self {
            SessionState::Expired => Some(ErrorKind::SessionExpired.into()),
            SessionState::AuthFailed => Some(ErrorKind::AuthFailed.into()),
            SessionState::Closed => Some(ErrorKind::Closed.into()),
            _ => None,
        }
    }

    fn keeper_state(self) -> KeeperState {
        match self {
            SessionState::Expired => KeeperState::Expired,
            SessionState::AuthFailed => KeeperState::AuthFailed,
            SessionState::Closed => KeeperState::Closed,
            SessionState::ConnectedReadOnly => KeeperState::ConnectedReadOnly,
            SessionState::Connected => KeeperState::SyncConnected,
            SessionState::SaslAuthenticated => KeeperState::SaslAuthenticated,
            SessionState::Connecting | SessionState::Disconnected => KeeperState::Disconnected,
        }
    }
}

/// A reply as the server sent it; the caller decodes the body by its opcode.
#[derive(Debug, Clone)]
pub(crate) struct RawReply {
    pub err: ErrorCode,
    pub body: Bytes,
}

/// A watch to register if the request succeeds.
#[derive(Debug)]
pub(crate) enum WatchRequest {
    Oneshot {
        kind: OneshotKind,
        server_path: String,
        tx: oneshot::Sender<WatchedEvent>,
    },
    Persistent {
        recursive: bool,
        server_path: String,
        id: u64,
        tx: mpsc::UnboundedSender<WatchedEvent>,
    },
    /// removeWatches: on success, drop the local handles of that kind too.
    Remove {
        kind: WatcherType,
        server_path: String,
    },
}

/// A request from the API, marshalled (server paths) and waiting for an xid.
#[derive(Debug)]
pub(crate) struct Submission {
    pub op: OpCode,
    pub body: Bytes,
    pub watch: Option<WatchRequest>,
    pub reply: Option<oneshot::Sender<Result<RawReply>>>,
}

#[derive(Debug)]
struct Pending {
    xid: i32,
    op: OpCode,
    watch: Option<WatchRequest>,
    reply: Option<oneshot::Sender<Result<RawReply>>>,
}

/// What a received frame meant for the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameOutcome {
    /// Keep going.
    Continue,
    /// The reply to closeSession arrived: the session is over.
    Closed,
}

/// The negotiated identity of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id (0 before the first connect).
    pub session_id: i64,
    /// The session password.
    pub password: Bytes,
    /// The timeout the server granted, in ms.
    pub negotiated_timeout_ms: i32,
    /// The highest zxid seen in a reply.
    pub last_zxid_seen: i64,
}

#[derive(Debug)]
pub(crate) struct Session {
    requested_timeout_ms: i32,
    can_be_read_only: bool,
    info: SessionInfo,
    last_xid: Xid,
    pending: VecDeque<Pending>,
    auths: Vec<AuthPacket>,
    /// Auth packets sent on this connection and not yet answered: their index in `auths` and
    /// who waits for the answer.
    auth_in_flight: VecDeque<(usize, Option<oneshot::Sender<Result<()>>>)>,
    /// Waiters for auth packets not sent yet (added while disconnected, or re-queued after a
    /// connection loss), by index in `auths`.
    auth_unsent: HashMap<usize, oneshot::Sender<Result<()>>>,
    pub(crate) watches: WatchRegistry,
}

const PASSWORD_LEN: usize = 16;

impl Session {
    pub(crate) fn new(requested_timeout_ms: i32, can_be_read_only: bool) -> Self {
        Session {
            requested_timeout_ms,
            can_be_read_only,
            info: SessionInfo {
                password: Bytes::from_static(&[0; PASSWORD_LEN]),
                ..SessionInfo::default()
            },
            last_xid: Xid(0),
            pending: VecDeque::new(),
            auths: Vec::new(),
            auth_in_flight: VecDeque::new(),
            auth_unsent: HashMap::new(),
            watches: WatchRegistry::default(),
        }
    }

    /// Resumes an existing session (id and password from another client).
    pub(crate) fn resume(&mut self, session_id: i64, password: Bytes) {
        self.info.session_id = session_id;
        self.info.password = password;
    }

    pub(crate) fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The handshake request for the next connection.
    pub(crate) fn connect_request(&self) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.info.last_zxid_seen,
            time_out: self.requested_timeout_ms,
            session_id: self.info.session_id,
            passwd: self.info.password.clone(),
            read_only: Some(self.can_be_read_only),
        }
    }

    /// Takes the server's handshake answer: the new state, or `SessionExpired` when the server
    /// refused the session (timeout 0).
    pub(crate) fn on_connect_response(&mut self, payload: &[u8]) -> Result<SessionState> {
        let resp = ConnectResponse::read(&mut &payload[..])
            .map_err(|e| Error::from(ErrorKind::Protocol(format!("bad ConnectResponse: {e}"))))?;
        if resp.time_out <= 0 {
            return Err(ErrorKind::SessionExpired.into());
        }
        self.info.session_id = resp.session_id;
        self.info.password = resp.passwd;
        self.info.negotiated_timeout_ms = resp.time_out;
        Ok(if resp.read_only == Some(true) {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        })
    }

    pub(crate) fn next_xid(&mut self) -> i32 {
        self.last_xid = self.last_xid.next();
        self.last_xid.0
    }

    /// The frames that open a connection, as Java sends them: every auth packet, then the
    /// SetWatches batches. Queued user requests follow (the caller sends them).
    pub(crate) fn prime(&mut self) -> Vec<Bytes> {
        let mut frames = Vec::new();
        for index in 0..self.auths.len() {
            frames.push(self.auth_frame(index));
        }
        for packet in self.watches.set_watches_packets(self.info.last_zxid_seen) {
            let (op, body) = match packet {
                SetWatchesPacket::V1(p) => (OpCode::SetWatches, p.to_jute_bytes()),
                SetWatchesPacket::V2(p) => (OpCode::SetWatches2, p.to_jute_bytes()),
            };
            frames.push(self.submit(Submission {
                op,
                body: body.into(),
                watch: None,
                reply: None,
            }));
        }
        frames
    }

    fn auth_frame(&mut self, index: usize) -> Bytes {
        let waiter = self.auth_unsent.remove(&index);
        self.auth_in_flight.push_back((index, waiter));
        let mut out = RequestHeader::new(xid::AUTH, OpCode::Auth).to_jute_bytes();
        self.auths[index].write(&mut out);
        out.into()
    }

    /// Records an auth packet (replayed on every reconnect); returns the frame to send now when
    /// `connected`.
    pub(crate) fn add_auth(
        &mut self,
        packet: AuthPacket,
        waiter: oneshot::Sender<Result<()>>,
        connected: bool,
    ) -> Option<Bytes> {
        self.auths.push(packet);
        let index = self.auths.len() - 1;
        self.auth_unsent.insert(index, waiter);
        connected.then(|| self.auth_frame(index))
    }

    /// Assigns the next xid, remembers the request, and returns its frame payload.
    pub(crate) fn submit(&mut self, sub: Submission) -> Bytes {
        let xid = self.next_xid();
        let mut out = Vec::with_capacity(8 + sub.body.len());
        RequestHeader::new(xid, sub.op).write(&mut out);
        out.extend_from_slice(&sub.body);
        self.pending.push_back(Pending {
            xid,
            op: sub.op,
            watch: sub.watch,
            reply: sub.reply,
        });
        out.into()
    }

    /// The ping frame payload (xid -2, opcode 11).
    pub(crate) fn ping_payload() -> Bytes {
        RequestHeader::new(xid::PING, OpCode::Ping)
            .to_jute_bytes()
            .into()
    }

    /// Handles one frame from the server. An error means the connection cannot go on
    /// (`AuthFailed` ends the session; anything else calls for a reconnect).
    pub(crate) fn on_frame(&mut self, payload: &[u8]) -> Result<FrameOutcome> {
        let message = ServerMessage::decode(payload)
            .map_err(|e| Error::from(ErrorKind::Protocol(format!("bad frame from server: {e}"))))?;
        match message {
            ServerMessage::Notification(n) => {
                // Handles strip their own client's chroot (clones may differ).
                self.watches.dispatch(n.event.r#type, &n.event.path);
                Ok(FrameOutcome::Continue)
            }
            ServerMessage::Ping(_) => Ok(FrameOutcome::Continue),
            ServerMessage::Auth(header) => {
                let waiter = self.auth_in_flight.pop_front().and_then(|(_, w)| w);
                if header.err == ErrorCode::AuthFailed {
                    if let Some(w) = waiter {
                        let _ = w.send(Err(ErrorKind::AuthFailed.into()));
                    }
                    return Err(ErrorKind::AuthFailed.into());
                }
                if let Some(w) = waiter {
                    let _ = w.send(if header.err.is_ok() {
                        Ok(())
                    } else {
                        Err(Error::from_code(header.err))
                    });
                }
                Ok(FrameOutcome::Continue)
            }
            ServerMessage::Reply { header, body } => {
                let Some(pending) = self.pending.pop_front() else {
                    return Err(ErrorKind::Protocol(format!(
                        "reply xid {} with no request in flight",
                        header.xid
                    ))
                    .into());
                };
                if pending.xid != header.xid {
                    return Err(ErrorKind::Protocol(format!(
                        "reply xid {} does not match request xid {}",
                        header.xid, pending.xid
                    ))
                    .into());
                }
                if header.zxid > 0 {
                    self.info.last_zxid_seen = header.zxid;
                }
                if let Some(watch) = pending.watch {
                    self.register_watch(watch, header.err);
                }
                if let Some(reply) = pending.reply {
                    let _ = reply.send(Ok(RawReply {
                        err: header.err,
                        body,
                    }));
                }
                Ok(if pending.op == OpCode::CloseSession {
                    FrameOutcome::Closed
                } else {
                    FrameOutcome::Continue
                })
            }
        }
    }

    /// Registers a watch whose request got `err`: on success, and for `exists` also on NONODE
    /// (the server leaves an exist watch on a missing node).
    fn register_watch(&mut self, watch: WatchRequest, err: ErrorCode) {
        match watch {
            WatchRequest::Oneshot {
                kind,
                server_path,
                tx,
            } => {
                let ok = err.is_ok() || (kind == OneshotKind::Exist && err == ErrorCode::NoNode);
                if ok {
                    self.watches.add_oneshot(kind, server_path, tx);
                }
            }
            WatchRequest::Persistent {
                recursive,
                server_path,
                id,
                tx,
            } => {
                if err.is_ok() {
                    self.watches.add_persistent(recursive, server_path, id, tx);
                }
            }
            WatchRequest::Remove { kind, server_path } => {
                if err.is_ok() {
                    self.watches.remove(kind, &server_path);
                }
            }
        }
    }

    /// The connection dropped: requests in flight fail with ConnectionLoss (they may or may not
    /// have been applied); unanswered auth packets wait for their replay.
    pub(crate) fn on_connection_lost(&mut self) {
        for pending in self.pending.drain(..) {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(ErrorKind::ConnectionLoss.into()));
            }
        }
        for (index, waiter) in self.auth_in_flight.drain(..) {
            if let Some(w) = waiter {
                self.auth_unsent.insert(index, w);
            }
        }
    }

    /// Tells every persistent watch of a connection state (`Disconnected`, then
    /// `SyncConnected` once reconnected), as Java's client tells every watcher.
    pub(crate) fn tell_persistent_watches(&mut self, state: KeeperState) {
        self.watches.tell_persistent(state);
    }

    /// The session is over: everything waiting gets `state`'s error and every watch its end.
    pub(crate) fn terminate(&mut self, state: SessionState) {
        let err = state.terminal_error().unwrap_or(ErrorKind::Closed.into());
        for pending in self.pending.drain(..) {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
        for (_, waiter) in self.auth_in_flight.drain(..) {
            if let Some(w) = waiter {
                let _ = w.send(Err(err.clone()));
            }
        }
        for (_, w) in self.auth_unsent.drain() {
            let _ = w.send(Err(err.clone()));
        }
        self.watches.terminate(state.keeper_state());
    }
}

/// Maps a client path to the server path under `chroot` (`/` is the chroot itself).
pub(crate) fn add_chroot(chroot: Option<&str>, client_path: &str) -> String {
    match chroot {
        None => client_path.to_owned(),
        Some(root) if client_path == "/" => root.to_owned(),
        Some(root) => format!("{root}{client_path}"),
    }
}

/// Maps a server path back under `chroot`; paths outside it are returned unchanged.
pub(crate) fn strip_chroot(chroot: Option<&str>, server_path: &str) -> String {
    let Some(root) = chroot else {
        return server_path.to_owned();
    };
    if server_path == root {
        return "/".to_owned();
    }
    match server_path.strip_prefix(root) {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => server_path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::message::Notification;
    use zk_proto::proto::{ReplyHeader, WatcherEvent};
    use zk_proto::EventType;

    fn reply(xid: i32, zxid: i64, err: ErrorCode, body: &[u8]) -> Vec<u8> {
        let mut out = ReplyHeader { xid, zxid, err }.to_jute_bytes();
        out.extend_from_slice(body);
        out
    }

    fn submit(
        s: &mut Session,
        op: OpCode,
        watch: Option<WatchRequest>,
    ) -> (Bytes, oneshot::Receiver<Result<RawReply>>) {
        let (tx, rx) = oneshot::channel();
        let frame = s.submit(Submission {
            op,
            body: Bytes::from_static(b"body"),
            watch,
            reply: Some(tx),
        });
        (frame, rx)
    }

    #[test]
    fn replies_match_requests_in_order_and_track_zxid() {
        let mut s = Session::new(10_000, false);
        let (f1, mut r1) = submit(&mut s, OpCode::GetData, None);
        let (_, mut r2) = submit(&mut s, OpCode::SetData, None);
        assert_eq!(&f1[..8], &[0, 0, 0, 1, 0, 0, 0, 4], "xid 1, opcode getData");
        s.on_frame(&reply(1, 7, ErrorCode::Ok, b"x")).unwrap();
        s.on_frame(&reply(2, 9, ErrorCode::BadVersion, b""))
            .unwrap();
        assert_eq!(
            r1.try_recv().unwrap().unwrap().body,
            Bytes::from_static(b"x")
        );
        assert_eq!(r2.try_recv().unwrap().unwrap().err, ErrorCode::BadVersion);
        assert_eq!(s.info().last_zxid_seen, 9);
        assert_eq!(s.connect_request().last_zxid_seen, 9);
    }

    #[test]
    fn out_of_order_reply_is_a_protocol_error() {
        let mut s = Session::new(10_000, false);
        let _ = submit(&mut s, OpCode::GetData, None);
        assert!(matches!(
            s.on_frame(&reply(5, 1, ErrorCode::Ok, b"")),
            Err(Error {
                kind: ErrorKind::Protocol(_),
                ..
            })
        ));
    }

    #[test]
    fn exists_watch_registers_on_nonode_but_get_data_does_not() {
        let mut s = Session::new(10_000, false);
        let (etx, mut erx) = oneshot::channel();
        let (dtx, mut drx) = oneshot::channel();
        let _ = submit(
            &mut s,
            OpCode::Exists,
            Some(WatchRequest::Oneshot {
                kind: OneshotKind::Exist,
                server_path: "/app/x".into(),
                tx: etx,
            }),
        );
        let _ = submit(
            &mut s,
            OpCode::GetData,
            Some(WatchRequest::Oneshot {
                kind: OneshotKind::Data,
                server_path: "/app/x".into(),
                tx: dtx,
            }),
        );
        s.on_frame(&reply(1, 3, ErrorCode::NoNode, b"")).unwrap();
        s.on_frame(&reply(2, 3, ErrorCode::NoNode, b"")).unwrap();
        let mut note = Vec::new();
        Notification::new(
            -1,
            WatcherEvent {
                r#type: EventType::NodeCreated,
                state: KeeperState::SyncConnected,
                path: "/app/x".into(),
            },
        )
        .write(&mut note);
        s.on_frame(&note).unwrap();
        // The registry hands out server paths; the handle strips its client's chroot.
        let event = erx.try_recv().unwrap();
        assert_eq!(
            (event.event_type, event.path.as_str()),
            (EventType::NodeCreated, "/app/x")
        );
        assert!(drx.try_recv().is_err(), "no data watch on a missing node");
    }

    #[test]
    fn connection_loss_fails_in_flight_and_requeues_auth() {
        let mut s = Session::new(10_000, false);
        let (atx, mut arx) = oneshot::channel();
        assert!(s
            .add_auth(AuthPacket::new("digest", b"u:p".to_vec()), atx, true)
            .is_some());
        let (_, mut r) = submit(&mut s, OpCode::GetData, None);
        s.on_connection_lost();
        assert_eq!(
            r.try_recv().unwrap().unwrap_err(),
            ErrorKind::ConnectionLoss
        );
        assert!(arx.try_recv().is_err(), "the auth waits for its replay");
        let frames = s.prime();
        assert_eq!(frames.len(), 1, "the auth packet is replayed first");
        assert_eq!(&frames[0][..8], &[0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 100]);
        s.on_frame(&reply(xid::AUTH, 0, ErrorCode::Ok, b""))
            .unwrap();
        assert_eq!(arx.try_recv().unwrap(), Ok(()));
    }

    #[test]
    fn auth_failure_ends_the_session() {
        let mut s = Session::new(10_000, false);
        let (atx, mut arx) = oneshot::channel();
        s.add_auth(AuthPacket::new("bogus", b"x".to_vec()), atx, true);
        assert_eq!(
            s.on_frame(&reply(xid::AUTH, 0, ErrorCode::AuthFailed, b"")),
            Err(ErrorKind::AuthFailed.into())
        );
        assert_eq!(arx.try_recv().unwrap(), Err(ErrorKind::AuthFailed.into()));
    }

    #[test]
    fn expired_handshake_and_chroot_mapping() {
        let mut s = Session::new(10_000, true);
        let refused = ConnectResponse {
            protocol_version: 0,
            time_out: 0,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        assert_eq!(
            s.on_connect_response(&refused.to_jute_bytes()),
            Err(ErrorKind::SessionExpired.into())
        );
        let ok = ConnectResponse {
            time_out: 4000,
            session_id: 77,
            read_only: Some(true),
            ..refused
        };
        assert_eq!(
            s.on_connect_response(&ok.to_jute_bytes()),
            Ok(SessionState::ConnectedReadOnly)
        );
        assert_eq!(s.connect_request().session_id, 77);
        assert_eq!(add_chroot(Some("/a"), "/"), "/a");
        assert_eq!(add_chroot(Some("/a"), "/b"), "/a/b");
        assert_eq!(strip_chroot(Some("/a"), "/a"), "/");
        assert_eq!(strip_chroot(Some("/a"), "/a/b"), "/b");
        assert_eq!(strip_chroot(Some("/a"), "/ab"), "/ab");
    }

    #[test]
    fn close_reply_ends_the_session() {
        let mut s = Session::new(10_000, false);
        let _ = submit(&mut s, OpCode::CloseSession, None);
        assert_eq!(
            s.on_frame(&reply(1, 4, ErrorCode::Ok, b"")),
            Ok(FrameOutcome::Closed)
        );
    }
}

//! The browser's writes, as a client would make them: a short session on the server's own
//! plain client port (`connect`, `auth digest user:password`, the one write, `closeSession`),
//! so each write goes through the whole pipeline (ACL checks, quotas, the transaction log,
//! the ensemble, watches) exactly like any client's, under the identity of the person who
//! asked. Only `zk-proto` is used: the frames are written here.
//!
//! The whole exchange up to the write's reply is bounded by [`WRITE_TIMEOUT`]; the
//! `closeSession` after it has [`CLOSE_TIMEOUT`] of its own (a session left behind expires
//! after [`SESSION_TIMEOUT_MS`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use zk_proto::data::Acl;
use zk_proto::frame::{ClientCodec, ServerFrame, DEFAULT_MAX_FRAME_LEN};
use zk_proto::proto::{
    AuthPacket, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, ReplyHeader,
    RequestHeader, SetDataRequest,
};
use zk_proto::{xid, CreateMode, ErrorCode, Jute, OpCode};

/// The bound on connecting, authenticating and the write's reply.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The bound on `closeSession` after the write.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The session timeout the internal session asks for.
pub const SESSION_TIMEOUT_MS: i32 = 10_000;

/// The xid of the write; `closeSession` takes the next one.
const WRITE_XID: i32 = 1;

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// setData with a version check (-1: any version, as in the API).
    SetData {
        /// The node.
        path: String,
        /// The new data.
        data: Bytes,
        /// The expected version.
        version: i32,
    },
    /// create (or createContainer).
    Create {
        /// The node (for a sequential mode, the prefix of its name).
        path: String,
        /// Its data.
        data: Bytes,
        /// Its ACL.
        acl: Vec<Acl>,
        /// Persistent, persistent sequential or container.
        mode: CreateMode,
    },
    /// delete with a version check.
    Delete {
        /// The node.
        path: String,
        /// The expected version.
        version: i32,
    },
}

impl WriteOp {
    /// `set`, `create` or `delete`, for the log and the pages.
    pub fn name(&self) -> &'static str {
        match self {
            WriteOp::SetData { .. } => "set",
            WriteOp::Create { .. } => "create",
            WriteOp::Delete { .. } => "delete",
        }
    }

    /// The path the write names.
    pub fn path(&self) -> &str {
        match self {
            WriteOp::SetData { path, .. }
            | WriteOp::Create { path, .. }
            | WriteOp::Delete { path, .. } => path,
        }
    }

    /// The expected version, when the write has one.
    pub fn version(&self) -> Option<i32> {
        match self {
            WriteOp::SetData { version, .. } | WriteOp::Delete { version, .. } => Some(*version),
            WriteOp::Create { .. } => None,
        }
    }

    /// The request frame's payload: header and body.
    fn request(&self, xid: i32) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            WriteOp::SetData {
                path,
                data,
                version,
            } => {
                RequestHeader::new(xid, OpCode::SetData).write(&mut out);
                SetDataRequest {
                    path: path.clone(),
                    data: Some(data.clone()),
                    version: *version,
                }
                .write(&mut out);
            }
            WriteOp::Create {
                path,
                data,
                acl,
                mode,
            } => {
                let op = if *mode == CreateMode::Container {
                    OpCode::CreateContainer
                } else {
                    OpCode::Create
                };
                RequestHeader::new(xid, op).write(&mut out);
                CreateRequest {
                    path: path.clone(),
                    data: Some(data.clone()),
                    acl: Some(acl.clone()),
                    flags: mode.flags(),
                }
                .write(&mut out);
            }
            WriteOp::Delete { path, version } => {
                RequestHeader::new(xid, OpCode::Delete).write(&mut out);
                DeleteRequest {
                    path: path.clone(),
                    version: *version,
                }
                .write(&mut out);
            }
        }
        out.freeze()
    }
}

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the path of the node written (for a sequential create, the name it got).
    Done {
        /// The node's path.
        path: String,
        /// The internal session.
        session: i64,
    },
    /// The server answered with an error (or refused the credentials).
    Refused(ErrorCode),
    /// No answer: the connection failed, the server closed it, or the time ran out. The
    /// write may or may not have been applied.
    Failed(String),
}

impl Outcome {
    /// The result for the log: `OK`, the error's ZooKeeper name, or `FAILED`.
    pub fn code_name(&self) -> &'static str {
        match self {
            Outcome::Done { .. } => "OK",
            Outcome::Refused(code) => code.name(),
            Outcome::Failed(_) => "FAILED",
        }
    }
}

/// Where to connect for the client port bound at `addr`: a wildcard address is reached on
/// the loopback address of its family.
pub fn dial_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Runs `op` in a new session on the client port at `addr`, authenticated as `user_password`
/// (`user:password`, the `digest` scheme).
pub async fn run(addr: SocketAddr, user_password: &str, op: &WriteOp) -> Outcome {
    run_many(addr, user_password, std::slice::from_ref(op))
        .await
        .pop()
        .expect("one outcome per op")
}

/// Runs `ops` one after the other in one new session (each bounded by [`WRITE_TIMEOUT`]);
/// one outcome per op. After a failure (no answer) the rest are not sent.
pub async fn run_many(addr: SocketAddr, user_password: &str, ops: &[WriteOp]) -> Vec<Outcome> {
    let timed_out = || {
        Outcome::Failed(format!(
            "no answer within {} s (the write may still be applied)",
            WRITE_TIMEOUT.as_secs()
        ))
    };
    let opened = tokio::time::timeout(WRITE_TIMEOUT, open(dial_addr(addr), user_password)).await;
    let (mut framed, session) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(failure)) => return ops.iter().map(|_| failure.clone()).collect(),
        Err(_) => return ops.iter().map(|_| timed_out()).collect(),
    };
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut xid = WRITE_XID;
    for op in ops {
        let written = tokio::time::timeout(WRITE_TIMEOUT, write(&mut framed, session, xid, op));
        let outcome = written.await.unwrap_or_else(|_| timed_out());
        xid += 1;
        let failed = matches!(outcome, Outcome::Failed(_));
        outcomes.push(outcome);
        if failed {
            let rest = ops.len() - outcomes.len();
            outcomes.extend((0..rest).map(|_| Outcome::Failed("not sent".to_owned())));
            return outcomes;
        }
    }
    // Politeness: a session not closed expires after its timeout anyway.
    let close = async {
        let payload = RequestHeader::new(xid, OpCode::CloseSession).to_jute_bytes();
        framed.send(Bytes::from(payload)).await.ok()?;
        reply(&mut framed, xid).await.ok()
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
    outcomes
}

type Conn = Framed<TcpStream, ClientCodec>;

/// Connects and authenticates; the connection and the session id, or the outcome every write
/// gets.
async fn open(addr: SocketAddr, user_password: &str) -> Result<(Conn, i64), Outcome> {
    let lost = |what: &str| Outcome::Failed(format!("{what} (client port {addr})"));
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| lost(&format!("cannot connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, ClientCodec::new(DEFAULT_MAX_FRAME_LEN));
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: SESSION_TIMEOUT_MS,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    };
    framed
        .send(Bytes::from(connect.to_jute_bytes()))
        .await
        .map_err(|e| lost(&format!("cannot send the handshake: {e}")))?;
    let response = match framed.next().await {
        Some(Ok(ServerFrame::ConnectResponse(payload))) => ConnectResponse::read(&mut &payload[..])
            .map_err(|e| lost(&format!("bad handshake answer: {e}")))?,
        _ => {
            return Err(lost(
                "the server closed the connection during the handshake (is it serving?)",
            ))
        }
    };
    if response.time_out <= 0 {
        return Err(lost("the server refused the session"));
    }
    let session = response.session_id;

    let mut auth = RequestHeader::new(xid::AUTH, OpCode::Auth).to_jute_bytes();
    AuthPacket::new("digest", Bytes::copy_from_slice(user_password.as_bytes())).write(&mut auth);
    framed
        .send(Bytes::from(auth))
        .await
        .map_err(|e| lost(&format!("cannot send the credentials: {e}")))?;
    let (header, _) = reply(&mut framed, xid::AUTH).await.map_err(|e| lost(&e))?;
    if !header.err.is_ok() {
        // AUTHFAILED: the server closes the connection.
        return Err(Outcome::Refused(header.err));
    }
    Ok((framed, session))
}

/// Sends `op` as `xid` and reads its answer.
async fn write(framed: &mut Conn, session: i64, xid: i32, op: &WriteOp) -> Outcome {
    let lost = |what: &str| Outcome::Failed(what.to_owned());
    if let Err(e) = framed.send(op.request(xid)).await {
        return lost(&format!("cannot send the write: {e}"));
    }
    let (header, body) = match reply(framed, xid).await {
        Ok(answer) => answer,
        Err(e) => return lost(&format!("{e}; the write may or may not be applied")),
    };
    if !header.err.is_ok() {
        return Outcome::Refused(header.err);
    }
    let path = match op {
        // CreateResponse and Create2Response (createContainer) both start with the path.
        WriteOp::Create { .. } => match String::read(&mut &body[..]) {
            Ok(path) => path,
            Err(e) => return lost(&format!("bad create answer: {e}")),
        },
        _ => op.path().to_owned(),
    };
    Outcome::Done { path, session }
}

/// The reply to `xid`: its header and the body after it. Notifications and pings are
/// skipped (the session sets no watches, so none are expected).
async fn reply(framed: &mut Conn, want: i32) -> Result<(ReplyHeader, Bytes), String> {
    loop {
        let payload = match framed.next().await {
            Some(Ok(ServerFrame::Reply(payload))) => payload,
            Some(Ok(ServerFrame::ConnectResponse(_))) => unreachable!("the handshake is done"),
            Some(Err(e)) => return Err(format!("connection error: {e}")),
            None => return Err("the server closed the connection".to_owned()),
        };
        let mut input = &payload[..];
        let header = ReplyHeader::read(&mut input).map_err(|e| format!("bad reply: {e}"))?;
        if header.xid == xid::NOTIFICATION || header.xid == xid::PING {
            continue;
        }
        if header.xid != want {
            return Err(format!(
                "a reply to xid {} where {want} was expected",
                header.xid
            ));
        }
        let body = payload.slice(payload.len() - input.len()..);
        return Ok((header, body));
    }
}

/// What a refusal means, for the result page.
pub fn explain(code: ErrorCode, op: &str) -> String {
    let text = match code {
        ErrorCode::NoNode => {
            if op == "create" {
                "NoNode: the parent node does not exist (any more)."
            } else {
                "NoNode: the node does not exist (any more)."
            }
        }
        ErrorCode::NodeExists => "NodeExists: a node with that name already exists.",
        ErrorCode::BadVersion => {
            "BadVersion: the node changed since the page showed it (its version is no longer \
             the one the form sent). Reload its page, check its data and try again."
        }
        ErrorCode::NoAuth => "NoAuth: the node's ACL does not allow this identity that write.",
        ErrorCode::NotEmpty => "NotEmpty: the node has children; delete them first.",
        ErrorCode::NoChildrenForEphemerals => {
            "NoChildrenForEphemerals: an ephemeral node cannot have children."
        }
        ErrorCode::InvalidAcl => "InvalidACL: the server refused the ACL.",
        ErrorCode::BadArguments => {
            "BadArguments: the server refused the path, name or mode (for example a reserved \
             name, or deleting a node ZooKeeper keeps)."
        }
        ErrorCode::QuotaExceeded => "QuotaExceeded: the write would exceed a hard quota.",
        ErrorCode::AuthFailed => "AuthFailed: the server refused the digest credentials.",
        ErrorCode::NotReadOnly => "NotReadOnly: this server is read-only and takes no writes.",
        ErrorCode::ThrottledOp => "ThrottledOp: the server is overloaded; try again shortly.",
        ErrorCode::SessionClosedRequireSaslAuth => {
            "SessionClosedRequireSaslAuth: this server wants SASL authentication, which the \
             browser's sessions cannot do."
        }
        ErrorCode::Unimplemented => {
            "Unimplemented: the server does not support this kind of node here."
        }
        other => return format!("The server answered {} ({}).", other.name(), other.code()),
    };
    format!("{text} (Server code {}, {}.)", code.name(), code.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::frame::ClientFrame;
    use zk_proto::frame::ServerCodec;

    #[test]
    fn wildcards_are_dialled_on_loopback() {
        assert_eq!(
            dial_addr("0.0.0.0:2181".parse().unwrap()),
            "127.0.0.1:2181".parse().unwrap()
        );
        assert_eq!(
            dial_addr("[::]:2181".parse().unwrap()),
            "[::1]:2181".parse().unwrap()
        );
        assert_eq!(
            dial_addr("10.1.2.3:2181".parse().unwrap()),
            "10.1.2.3:2181".parse().unwrap()
        );
    }

    #[test]
    fn requests_decode_as_the_server_reads_them() {
        let op = WriteOp::Create {
            path: "/a/b".into(),
            data: Bytes::from_static(b"x"),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Container,
        };
        let payload = op.request(7);
        let mut input = &payload[..];
        assert_eq!(
            RequestHeader::read(&mut input).unwrap(),
            RequestHeader::new(7, OpCode::CreateContainer)
        );
        let body = CreateRequest::read(&mut input).unwrap();
        assert_eq!(body.path, "/a/b");
        assert_eq!(body.flags, 4);
        assert!(input.is_empty());
        let set = WriteOp::SetData {
            path: "/a".into(),
            data: Bytes::new(),
            version: 3,
        };
        let payload = set.request(1);
        let mut input = &payload[..];
        assert_eq!(
            RequestHeader::read(&mut input).unwrap().r#type,
            OpCode::SetData
        );
        assert_eq!(SetDataRequest::read(&mut input).unwrap().version, 3);
    }

    /// A fake server that answers the handshake, the auth and the write with `err`.
    #[tokio::test]
    async fn a_refusal_is_reported_with_its_code() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut framed = Framed::new(stream, ServerCodec::default());
            let mut seen = Vec::new();
            while let Some(Ok(frame)) = framed.next().await {
                let answer = match frame {
                    ClientFrame::Connect(_) => ConnectResponse {
                        protocol_version: 0,
                        time_out: 10_000,
                        session_id: 0x42,
                        passwd: Bytes::from_static(&[0; 16]),
                        read_only: Some(false),
                    }
                    .to_jute_bytes(),
                    ClientFrame::Request(payload) => {
                        let mut input = &payload[..];
                        let header = RequestHeader::read(&mut input).unwrap();
                        seen.push(header.r#type);
                        let err = match header.r#type {
                            OpCode::Auth => {
                                assert_eq!(
                                    AuthPacket::read(&mut input).unwrap(),
                                    AuthPacket::new("digest", Bytes::from_static(b"al:pw"))
                                );
                                ErrorCode::Ok
                            }
                            OpCode::Delete => ErrorCode::NotEmpty,
                            _ => ErrorCode::Ok,
                        };
                        ReplyHeader::new(header.xid, 5, err).to_jute_bytes()
                    }
                    ClientFrame::FourLetterWord { .. } => unreachable!(),
                };
                framed.send(Bytes::from(answer)).await.unwrap();
            }
            seen
        });
        let op = WriteOp::Delete {
            path: "/p".into(),
            version: 0,
        };
        assert_eq!(
            run(addr, "al:pw", &op).await,
            Outcome::Refused(ErrorCode::NotEmpty)
        );
        // Dropping the connection after the close ends the fake server's loop.
        assert_eq!(
            server.await.unwrap(),
            [OpCode::Auth, OpCode::Delete, OpCode::CloseSession]
        );
        assert!(explain(ErrorCode::NotEmpty, "delete").starts_with("NotEmpty"));
    }

    #[tokio::test]
    async fn a_closed_port_fails_fast() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let op = WriteOp::Delete {
            path: "/p".into(),
            version: 0,
        };
        assert!(matches!(run(addr, "a:b", &op).await, Outcome::Failed(_)));
    }
}

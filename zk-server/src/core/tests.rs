//! The core alone: one input, then the exact list of actions it returns, read by meaning
//! (openraft's engine tests). These pin the ordering rules of the module docs: nothing of a
//! txn before its log flush, events before the write's reply, a connection's replies in
//! request order.

use super::*;
use zk_proto::message::ServerMessage;
use zk_proto::proto::{DeleteRequest, ExistsRequest, GetDataRequest};

/// An action, decoded for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    /// A txn to log: its zxid, type and session.
    Log {
        zxid: i64,
        op: OpCode,
        session: i64,
    },
    /// A ConnectResponse.
    Connected {
        conn: ConnId,
        session: i64,
    },
    /// A reply: xid, zxid, error code.
    Reply {
        conn: ConnId,
        xid: i32,
        zxid: i64,
        err: ErrorCode,
    },
    /// A watch event.
    Event {
        conn: ConnId,
        zxid: i64,
        kind: zk_proto::EventType,
        path: String,
    },
    Close {
        conn: ConnId,
    },
    /// A request sent to the leader.
    Forward {
        session: i64,
        cxid: i32,
        op: OpCode,
    },
    /// A re-attach the leader must validate.
    Revalidate {
        session: i64,
    },
    /// A snapshot to write.
    Snapshot {
        zxid: i64,
    },
}

/// Decodes the actions; connections in `connecting` get their next frame read as a
/// ConnectResponse.
pub(super) fn seen(actions: &[Action], connecting: &[ConnId]) -> Vec<Seen> {
    let mut answered = Vec::new();
    actions
        .iter()
        .map(|a| match a {
            Action::Log(e) => Seen::Log {
                zxid: e.header.zxid,
                op: e.header.r#type,
                session: e.header.client_id,
            },
            Action::Close { conn } => Seen::Close { conn: *conn },
            Action::Forward { request, .. } => Seen::Forward {
                session: request.session_id,
                cxid: request.cxid,
                op: request.r#type,
            },
            Action::Revalidate { session_id, .. } => Seen::Revalidate {
                session: *session_id,
            },
            Action::Snapshot { zxid, .. } => Seen::Snapshot { zxid: *zxid },
            Action::Send { conn, payload } => {
                let bytes = payload.to_bytes();
                if connecting.contains(conn) && !answered.contains(conn) {
                    answered.push(*conn);
                    let r = ConnectResponse::read(&mut &bytes[..]).expect("ConnectResponse");
                    return Seen::Connected {
                        conn: *conn,
                        session: r.session_id,
                    };
                }
                match ServerMessage::decode(&bytes).expect("a server frame") {
                    ServerMessage::Notification(n) => Seen::Event {
                        conn: *conn,
                        zxid: n.header.zxid,
                        kind: n.event.r#type,
                        path: n.event.path,
                    },
                    other => {
                        let h = other.header();
                        Seen::Reply {
                            conn: *conn,
                            xid: h.xid,
                            zxid: h.zxid,
                            err: h.err,
                        }
                    }
                }
            }
        })
        .collect()
}

pub(super) fn core() -> ServerCore {
    let config = CoreConfig {
        container_check_interval_ms: 1000,
        ..CoreConfig::default()
    };
    ServerCore::new(config, DataTree::new(false), 0, 1)
}

pub(super) fn connect_request(session_id: i64, passwd: Bytes) -> Vec<u8> {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 10_000,
        session_id,
        passwd,
        read_only: Some(false),
    }
    .to_jute_bytes()
}

/// Opens a session on `conn` and commits it; returns its id.
pub(super) fn open(core: &mut ServerCore, conn: ConnId) -> i64 {
    let peer = "127.0.0.1:5000".parse().unwrap();
    let actions = core.connect(
        conn,
        peer,
        &connect_request(0, Bytes::from_static(&[0; 16])),
        Vec::new(),
        0,
        0,
    );
    let [Action::Log(entry)] = &actions[..] else {
        panic!("a new session is one createSession txn: {actions:?}");
    };
    let committed = core.commit_through(entry.header.zxid, 0);
    let session = entry.header.client_id;
    assert_eq!(
        seen(&committed, &[conn]),
        [Seen::Connected { conn, session }]
    );
    session
}

pub(super) fn request(
    core: &mut ServerCore,
    conn: ConnId,
    xid: i32,
    body: RequestBody,
) -> Vec<Action> {
    core.request(
        conn,
        ClientRequest::Decoded {
            xid,
            body,
            nulls: None,
            raw: Bytes::new(),
        },
        0,
        0,
    )
}

pub(super) fn create(path: &str, mode: CreateMode) -> RequestBody {
    RequestBody::Create(zk_proto::proto::CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"d")),
        acl: Some(Acl::open_unsafe()),
        flags: mode.flags(),
    })
}

pub(super) fn get_data(path: &str, watch: bool) -> RequestBody {
    RequestBody::GetData(GetDataRequest {
        path: path.into(),
        watch,
    })
}

#[test]
fn a_new_session_is_answered_when_its_txn_is_durable() {
    let mut core = core();
    let peer = "127.0.0.1:5000".parse().unwrap();
    let actions = core.connect(
        7,
        peer,
        &connect_request(0, Bytes::from_static(&[0; 16])),
        Vec::new(),
        0,
        0,
    );
    let session = match &actions[..] {
        [Action::Log(e)] => e.header.client_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        seen(&actions, &[]),
        [Seen::Log {
            zxid: 1,
            op: OpCode::CreateSession,
            session
        }]
    );
    // Requests sent before the ConnectResponse wait for it (Java stops reading).
    assert!(request(&mut core, 7, 1, get_data("/zookeeper", false)).is_empty());
    // A flush short of the txn commits nothing.
    assert!(core.commit_through(0, 0).is_empty());
    assert_eq!(
        seen(&core.commit_through(1, 0), &[7]),
        [
            Seen::Connected { conn: 7, session },
            Seen::Reply {
                conn: 7,
                xid: 1,
                zxid: 1,
                err: ErrorCode::Ok
            },
        ]
    );
}

#[test]
fn a_read_waits_behind_its_connections_write_and_others_do_not() {
    let mut core = core();
    let s1 = open(&mut core, 1);
    open(&mut core, 2);
    assert_eq!(
        seen(
            &request(&mut core, 1, 1, create("/a", CreateMode::Persistent)),
            &[]
        ),
        [Seen::Log {
            zxid: 3,
            op: OpCode::Create,
            session: s1
        }]
    );
    // Connection 1's read is held; connection 2 reads the committed tree at once.
    assert!(request(&mut core, 1, 2, get_data("/a", false)).is_empty());
    assert_eq!(
        seen(&request(&mut core, 2, 1, get_data("/a", false)), &[]),
        [Seen::Reply {
            conn: 2,
            xid: 1,
            zxid: 2,
            err: ErrorCode::NoNode
        }]
    );
    assert_eq!(
        seen(&core.commit_through(3, 0), &[]),
        [
            Seen::Reply {
                conn: 1,
                xid: 1,
                zxid: 3,
                err: ErrorCode::Ok
            },
            Seen::Reply {
                conn: 1,
                xid: 2,
                zxid: 3,
                err: ErrorCode::Ok
            },
        ]
    );
}

#[test]
fn writes_pipeline_and_a_watch_event_comes_before_the_reply() {
    let mut core = core();
    let s1 = open(&mut core, 1);
    open(&mut core, 2);
    let watch = RequestBody::Exists(ExistsRequest {
        path: "/b".into(),
        watch: true,
    });
    assert_eq!(
        seen(&request(&mut core, 2, 1, watch), &[]),
        [Seen::Reply {
            conn: 2,
            xid: 1,
            zxid: 2,
            err: ErrorCode::NoNode
        }]
    );
    // Two writes in flight: the second is prepped against the first (outstanding changes).
    let mut actions = request(&mut core, 1, 1, create("/b", CreateMode::Persistent));
    actions.extend(request(
        &mut core,
        1,
        2,
        create("/b/c", CreateMode::Persistent),
    ));
    assert_eq!(
        seen(&actions, &[]),
        [
            Seen::Log {
                zxid: 3,
                op: OpCode::Create,
                session: s1
            },
            Seen::Log {
                zxid: 4,
                op: OpCode::Create,
                session: s1
            },
        ]
    );
    assert_eq!(
        seen(&core.commit_through(4, 0), &[]),
        [
            Seen::Event {
                conn: 2,
                zxid: 3,
                kind: zk_proto::EventType::NodeCreated,
                path: "/b".into()
            },
            Seen::Reply {
                conn: 1,
                xid: 1,
                zxid: 3,
                err: ErrorCode::Ok
            },
            Seen::Reply {
                conn: 1,
                xid: 2,
                zxid: 4,
                err: ErrorCode::Ok
            },
        ]
    );
    assert_eq!(core.last_zxid(), 4);
    assert!(core.is_idle());
}

#[test]
fn a_failed_write_takes_a_zxid_and_a_failed_multi_changes_nothing() {
    let mut core = core();
    let s1 = open(&mut core, 1);
    let delete = RequestBody::Delete(DeleteRequest {
        path: "/missing".into(),
        version: -1,
    });
    let multi = RequestBody::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(zk_proto::proto::CreateRequest {
                path: "/x".into(),
                data: None,
                acl: Some(Acl::open_unsafe()),
                flags: 0,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/missing".into(),
                version: -1,
            }),
        ],
    });
    let mut actions = request(&mut core, 1, 1, delete);
    actions.extend(request(&mut core, 1, 2, multi));
    let logged: Vec<_> = actions
        .iter()
        .map(|a| match a {
            Action::Log(e) => e.txn.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        logged[0],
        Txn::Error(ErrorTxn {
            err: ErrorCode::NoNode.code()
        })
    );
    // As Java logs it: the ops before the failure keep their txns, the failing one is an
    // ErrorTxn, and applying it rolls everything back.
    let Txn::Multi(m) = &logged[1] else {
        panic!("{:?}", logged[1]);
    };
    let types: Vec<_> = m.txns.iter().map(|t| t.r#type).collect();
    assert_eq!(types, [OpCode::Create, OpCode::Error]);
    assert_eq!(
        seen(&core.commit_through(3, 0), &[]),
        [
            Seen::Reply {
                conn: 1,
                xid: 1,
                zxid: 2,
                err: ErrorCode::NoNode
            },
            // A failed multi answers OK in the header, the codes per op.
            Seen::Reply {
                conn: 1,
                xid: 2,
                zxid: 3,
                err: ErrorCode::Ok
            },
        ]
    );
    assert!(core.tree().node("/x").is_none());
    assert_eq!(
        seen(&actions[..1], &[]),
        [Seen::Log {
            zxid: 2,
            op: OpCode::Error,
            session: s1
        }]
    );
}

#[test]
fn expiry_deletes_ephemerals_fires_only_for_readers_and_closes_when_committed() {
    let mut core = core();
    let s1 = open(&mut core, 1);
    open(&mut core, 2);
    open(&mut core, 3);
    request(&mut core, 1, 1, create("/e", CreateMode::Ephemeral));
    // A node only connection 1's session may read... it is gone with the session, and its
    // delete event reaches only a watcher allowed to read it (CVE-2024-23944).
    let secret = RequestBody::Create(zk_proto::proto::CreateRequest {
        path: "/secret".into(),
        data: None,
        acl: Some(vec![Acl::new(perms::ALL, Id::new("digest", "nobody:x"))]),
        flags: CreateMode::Ephemeral.flags(),
    });
    request(&mut core, 1, 2, secret);
    core.commit_through(5, 0);
    request(&mut core, 2, 1, get_data("/e", true));
    let exists = RequestBody::Exists(ExistsRequest {
        path: "/secret".into(),
        watch: true,
    });
    request(&mut core, 3, 1, exists);
    // Connections 2 and 3 stay alive; session 1 says nothing for longer than its timeout.
    core.sessions.touch(core.conns[&2].session_id, 30_000);
    core.sessions.touch(core.conns[&3].session_id, 30_000);
    let actions = core.tick(20_000, 0);
    assert_eq!(
        seen(&actions, &[]),
        [Seen::Log {
            zxid: 6,
            op: OpCode::CloseSession,
            session: s1
        }]
    );
    assert_eq!(
        seen(&core.commit_through(6, 0), &[]),
        [
            Seen::Event {
                conn: 2,
                zxid: 6,
                kind: zk_proto::EventType::NodeDeleted,
                path: "/e".into()
            },
            Seen::Close { conn: 1 },
        ]
    );
    assert!(core.tree().node("/e").is_none());
    assert!(core.tree().node("/secret").is_none());
}

#[test]
fn a_client_close_answers_then_closes_and_later_requests_are_dropped() {
    let mut core = core();
    let s1 = open(&mut core, 1);
    assert_eq!(
        seen(&request(&mut core, 1, 1, RequestBody::CloseSession), &[]),
        [Seen::Log {
            zxid: 2,
            op: OpCode::CloseSession,
            session: s1
        }]
    );
    // The session is closing: Java drops what else it sends.
    assert!(request(&mut core, 1, 2, get_data("/", false)).is_empty());
    assert_eq!(
        seen(&core.commit_through(2, 0), &[]),
        [
            Seen::Reply {
                conn: 1,
                xid: 1,
                zxid: 2,
                err: ErrorCode::Ok
            },
            Seen::Close { conn: 1 },
        ]
    );
}

#[test]
fn an_emptied_container_is_reaped_through_the_pipeline() {
    let mut core = core();
    open(&mut core, 1);
    let container = RequestBody::CreateContainer(zk_proto::proto::CreateRequest {
        path: "/c".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: CreateMode::Container.flags(),
    });
    request(&mut core, 1, 1, container);
    request(&mut core, 1, 2, create("/c/child", CreateMode::Persistent));
    let delete = RequestBody::Delete(DeleteRequest {
        path: "/c/child".into(),
        version: -1,
    });
    request(&mut core, 1, 3, delete);
    core.commit_through(4, 0);
    core.sessions.touch(core.conns[&1].session_id, 5_000);
    assert_eq!(
        seen(&core.tick(1_500, 0), &[]),
        [Seen::Log {
            zxid: 5,
            op: OpCode::DeleteContainer,
            session: 0
        }]
    );
    assert!(core.tree().node("/c").is_some(), "not before the commit");
    assert!(core.commit_through(5, 0).is_empty());
    assert!(core.tree().node("/c").is_none());
}

#[test]
fn re_attaching_answers_at_once_and_closes_the_old_connection() {
    let mut core = core();
    let s1 = open(&mut core, 1);
    let peer = "127.0.0.1:5001".parse().unwrap();
    let passwd = Bytes::copy_from_slice(&session_password(s1));
    let actions = core.connect(9, peer, &connect_request(s1, passwd), Vec::new(), 0, 0);
    assert_eq!(
        seen(&actions, &[9]),
        [
            Seen::Close { conn: 1 },
            Seen::Connected {
                conn: 9,
                session: s1
            }
        ]
    );
}

//! A leader's core and a learner's core wired by hand, as the ensemble runtime wires them
//! (the ZAB messages between them elided: what the leader logs commits at once): sessions
//! opened through the learner, forwarded writes answered by the learner at the commit,
//! reads held behind forwarded writes, sync, re-attach through the leader, expiry decided
//! by the leader.

use super::tests::{connect_request, create, get_data, seen, Seen};
use super::*;
use zk_proto::proto::{SetDataRequest, SyncRequest};

/// The epoch both serve in: txns are `EPOCH_ZXID + 1, + 2, ...`.
const EPOCH_ZXID: i64 = 1 << 32;

struct Pair {
    leader: ServerCore,
    learner: ServerCore,
    now_ms: u64,
}

impl Pair {
    fn new() -> Pair {
        let config = |server_id| CoreConfig {
            server_id,
            ..CoreConfig::default()
        };
        let mut leader = ServerCore::new(config(1), DataTree::new(false), 0, 1);
        leader.start_epoch(Role::Proposer, EPOCH_ZXID);
        let mut learner = ServerCore::new(config(2), DataTree::new(false), 0, 1);
        learner.start_epoch(Role::Learner, EPOCH_ZXID);
        Pair {
            leader,
            learner,
            now_ms: 0,
        }
    }

    /// Delivers what the learner sent the leader, commits what the leader logged (as a
    /// quorum would) and applies each commit on the learner. Returns what the learner's
    /// clients got, and what the leader's clients got.
    fn run(&mut self, learner_actions: Vec<Action>) -> (Vec<Action>, Vec<Action>) {
        let mut to_learner_clients = Vec::new();
        let mut to_leader_clients = Vec::new();
        let mut pending = learner_actions;
        while !pending.is_empty() {
            let mut logged = Vec::new();
            for action in std::mem::take(&mut pending) {
                match action {
                    // The leader answers a sync once the learner has every commit before it.
                    Action::Forward { request, .. } if request.r#type == OpCode::Sync => {
                        let (session, cxid) = (request.session_id, request.cxid);
                        pending.extend(self.learner.sync_done(session, cxid, 0));
                    }
                    Action::Forward { request, auth_ids } => {
                        let actions = self.leader.forwarded(&request, &auth_ids, self.now_ms, 0);
                        self.leader_actions(actions, &mut logged, &mut to_leader_clients);
                    }
                    Action::Revalidate { session_id, .. } => {
                        let valid = self.leader.session_is_valid(session_id, self.now_ms);
                        pending.extend(self.learner.revalidated(session_id, valid, 0));
                    }
                    other => to_learner_clients.push(other),
                }
            }
            self.commit(logged, &mut pending, &mut to_leader_clients);
        }
        (to_learner_clients, to_leader_clients)
    }

    fn leader_actions(
        &mut self,
        actions: Vec<Action>,
        logged: &mut Vec<std::sync::Arc<TxnEntry>>,
        to_leader_clients: &mut Vec<Action>,
    ) {
        for action in actions {
            match action {
                Action::Log(entry) => logged.push(entry),
                other => to_leader_clients.push(other),
            }
        }
    }

    fn commit(
        &mut self,
        logged: Vec<std::sync::Arc<TxnEntry>>,
        learner_out: &mut Vec<Action>,
        to_leader_clients: &mut Vec<Action>,
    ) {
        let Some(last) = logged.last().map(|e| e.header.zxid) else {
            return;
        };
        let actions = self.leader.commit_through(last, 0);
        let mut more = Vec::new();
        self.leader_actions(actions, &mut more, to_leader_clients);
        for entry in &logged {
            learner_out.extend(self.learner.apply_committed(entry, self.now_ms, 0));
        }
        self.commit(more, learner_out, to_leader_clients);
    }

    /// Opens a session through the learner on `conn`; returns its id.
    fn open(&mut self, conn: ConnId) -> i64 {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let hello = connect_request(0, Bytes::from_static(&[0; 16]));
        let actions = self
            .learner
            .connect(conn, peer, &hello, Vec::new(), self.now_ms, 0);
        let [Seen::Forward {
            session,
            cxid: 0,
            op: OpCode::CreateSession,
        }] = seen(&actions, &[])[..]
        else {
            panic!("a new session goes to the leader: {actions:?}");
        };
        let (to_clients, _) = self.run(actions);
        assert_eq!(
            seen(&to_clients, &[conn]),
            [Seen::Connected { conn, session }]
        );
        session
    }

    fn request(&mut self, conn: ConnId, xid: i32, body: RequestBody) -> Vec<Action> {
        let mut payload = RequestHeader::new(xid, body.op()).to_jute_bytes();
        body.write(&mut payload);
        self.learner
            .request(conn, decode_request(payload.into()), self.now_ms, 0)
    }
}

#[test]
fn a_session_opens_through_the_leader_and_writes_are_answered_at_their_commit() {
    let mut pair = Pair::new();
    let session = pair.open(1);
    // The leader tracks it (it owns expiry); both trees hold it.
    assert!(pair.leader.sessions.get(session).is_some());
    assert_eq!(pair.learner.tree.sessions().get(&session), Some(&10_000));
    let create = pair.request(1, 1, create("/a", CreateMode::Ephemeral));
    assert_eq!(
        seen(&create, &[]),
        [Seen::Forward {
            session,
            cxid: 1,
            op: OpCode::Create
        }]
    );
    // A read behind the pending write waits for it.
    let read = pair.request(1, 2, get_data("/a", false));
    assert!(read.is_empty(), "held: {read:?}");
    let (to_clients, to_leader_clients) = pair.run(create);
    assert!(to_leader_clients.is_empty());
    assert_eq!(
        seen(&to_clients, &[]),
        [
            Seen::Reply {
                conn: 1,
                xid: 1,
                zxid: EPOCH_ZXID + 2,
                err: ErrorCode::Ok
            },
            Seen::Reply {
                conn: 1,
                xid: 2,
                zxid: EPOCH_ZXID + 2,
                err: ErrorCode::Ok
            },
        ]
    );
    assert_eq!(pair.learner.tree.digest(), pair.leader.tree.digest());
    assert_eq!(pair.learner.tree.ephemerals_copy(session), ["/a"]);
}

#[test]
fn failed_writes_and_a_leader_watch_fire_as_on_one_server() {
    let mut pair = Pair::new();
    let session = pair.open(1);
    // A client of the leader watches /a.
    {
        let peer = "127.0.0.1:5001".parse().unwrap();
        let hello = connect_request(0, Bytes::from_static(&[0; 16]));
        let actions = pair.leader.connect(9, peer, &hello, Vec::new(), 0, 0);
        let [Action::Log(entry)] = &actions[..] else {
            panic!("{actions:?}");
        };
        let zxid = entry.header.zxid;
        let entry = entry.clone();
        pair.leader.commit_through(zxid, 0);
        pair.learner.apply_committed(&entry, 0, 0);
    }
    let watch = pair.leader.request(
        9,
        ClientRequest::Decoded {
            xid: 1,
            body: RequestBody::Exists(zk_proto::proto::ExistsRequest {
                path: "/a".into(),
                watch: true,
            }),
            nulls: None,
            raw: Bytes::new(),
        },
        0,
        0,
    );
    assert_eq!(
        seen(&watch, &[])[0],
        Seen::Reply {
            conn: 9,
            xid: 1,
            zxid: EPOCH_ZXID + 2,
            err: ErrorCode::NoNode
        }
    );
    // A setData of a missing node fails at the leader's prep: an ErrorTxn the learner's
    // client gets as its answer.
    let set = pair.request(
        1,
        1,
        RequestBody::SetData(SetDataRequest {
            path: "/a".into(),
            data: None,
            version: -1,
        }),
    );
    let (to_clients, _) = pair.run(set);
    assert_eq!(
        seen(&to_clients, &[]),
        [Seen::Reply {
            conn: 1,
            xid: 1,
            zxid: EPOCH_ZXID + 3,
            err: ErrorCode::NoNode
        }]
    );
    let create = pair.request(1, 2, create("/a", CreateMode::Persistent));
    let (to_clients, to_leader_clients) = pair.run(create);
    assert_eq!(
        seen(&to_leader_clients, &[]),
        [Seen::Event {
            conn: 9,
            zxid: EPOCH_ZXID + 4,
            kind: zk_proto::EventType::NodeCreated,
            path: "/a".into()
        }]
    );
    assert_eq!(
        seen(&to_clients, &[]),
        [Seen::Reply {
            conn: 1,
            xid: 2,
            zxid: EPOCH_ZXID + 4,
            err: ErrorCode::Ok
        }]
    );
    assert_eq!(pair.learner.tree.digest(), pair.leader.tree.digest());
    let _ = session;
}

#[test]
fn a_forwarded_write_of_an_unknown_session_is_session_expired() {
    let mut pair = Pair::new();
    let request = zk_proto::quorum::LearnerRequest {
        session_id: 0x2000_0000_0000_0001,
        cxid: 5,
        r#type: OpCode::Create,
        body: Bytes::new(),
    };
    let actions = pair.leader.forwarded(&request, &[], 0, 0);
    let [Action::Log(entry)] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(entry.header.r#type, OpCode::Error);
    assert_eq!(
        entry.txn,
        Txn::Error(ErrorTxn {
            err: ErrorCode::SessionExpired.code()
        })
    );
}

#[test]
fn sync_waits_for_earlier_writes_and_is_answered_when_the_leader_says_so() {
    let mut pair = Pair::new();
    let session = pair.open(1);
    let create = pair.request(1, 1, create("/s", CreateMode::Persistent));
    // The sync and a read after it wait behind the pending create.
    let sync = pair.request(1, 2, RequestBody::Sync(SyncRequest { path: "/s".into() }));
    assert!(sync.is_empty(), "held: {sync:?}");
    assert!(pair.request(1, 3, get_data("/s", false)).is_empty());
    // The create's commit releases the sync, which goes to the leader.
    let mut to_learner = Vec::new();
    let mut to_leader_clients = Vec::new();
    let logged: Vec<_> = create
        .into_iter()
        .map(|a| match a {
            Action::Forward { request, auth_ids } => {
                let actions = pair.leader.forwarded(&request, &auth_ids, 0, 0);
                let [Action::Log(entry)] = &actions[..] else {
                    panic!("{actions:?}");
                };
                entry.clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    pair.commit(logged, &mut to_learner, &mut to_leader_clients);
    assert_eq!(
        seen(&to_learner, &[]),
        [
            Seen::Reply {
                conn: 1,
                xid: 1,
                zxid: EPOCH_ZXID + 2,
                err: ErrorCode::Ok
            },
            Seen::Forward {
                session,
                cxid: 2,
                op: OpCode::Sync
            },
        ]
    );
    let answered = pair.learner.sync_done(session, 2, 0);
    assert_eq!(
        seen(&answered, &[]),
        [
            Seen::Reply {
                conn: 1,
                xid: 2,
                zxid: EPOCH_ZXID + 2,
                err: ErrorCode::Ok
            },
            Seen::Reply {
                conn: 1,
                xid: 3,
                zxid: EPOCH_ZXID + 2,
                err: ErrorCode::Ok
            },
        ]
    );
}

#[test]
fn a_re_attach_is_validated_by_the_leader_and_expiry_is_the_leaders() {
    let mut pair = Pair::new();
    let session = pair.open(1);
    let peer = "127.0.0.1:5002".parse().unwrap();
    let hello = connect_request(session, Bytes::copy_from_slice(&session_password(session)));
    let actions = pair.learner.connect(2, peer, &hello, Vec::new(), 0, 0);
    assert_eq!(seen(&actions, &[]), [Seen::Revalidate { session }]);
    let (to_clients, _) = pair.run(actions);
    assert_eq!(
        seen(&to_clients, &[2]),
        [
            Seen::Close { conn: 1 },
            Seen::Connected { conn: 2, session }
        ]
    );
    // The learner never expires a session; the leader does, and the learner applies it.
    pair.now_ms = 1_000_000;
    assert!(pair.learner.tick(pair.now_ms, 0).is_empty());
    let expired = pair.leader.tick(pair.now_ms, 0);
    let logged: Vec<_> = expired
        .iter()
        .filter_map(|a| match a {
            Action::Log(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].header.r#type, OpCode::CloseSession);
    let mut to_clients = Vec::new();
    let mut to_leader_clients = Vec::new();
    pair.commit(logged, &mut to_clients, &mut to_leader_clients);
    assert_eq!(seen(&to_clients, &[]), [Seen::Close { conn: 2 }]);
    assert!(pair.learner.sessions.get(session).is_none());
    // A refused re-attach closes.
    let actions = pair.learner.connect(3, peer, &hello, Vec::new(), 0, 0);
    let (to_clients, _) = pair.run(actions);
    assert_eq!(
        seen(&to_clients, &[3]),
        [
            Seen::Connected {
                conn: 3,
                session: 0
            },
            Seen::Close { conn: 3 }
        ]
    );
}

//! Prep against the txns in flight must decide exactly as prep against the committed tree
//! after each of them: random writes from three sessions, run once with a log flush after
//! every request and once with flushes at random points (many txns in flight), must log the
//! same entries (zxids, txns and the digests the records predicted) and give each connection
//! the same replies and events.

use super::tests::{core, create, get_data, open, request, seen, Seen};
use super::*;
use proptest::prelude::*;
use zk_proto::proto::{CheckVersionRequest, DeleteRequest, SetAclRequest, SetDataRequest};

const PATHS: [&str; 6] = ["/a", "/a/b", "/a/b/c", "/b", "/b/d", "/c"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize, CreateMode),
    Delete(usize, i32),
    SetData(usize, i32),
    SetAcl(usize, bool),
    Multi(Vec<(u8, usize)>),
    Read(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let path = 0..PATHS.len();
    let mode = prop_oneof![
        Just(CreateMode::Persistent),
        Just(CreateMode::Ephemeral),
        Just(CreateMode::PersistentSequential),
        Just(CreateMode::Container),
    ];
    prop_oneof![
        6 => (path.clone(), mode).prop_map(|(p, m)| Op::Create(p, m)),
        3 => (path.clone(), -1..2i32).prop_map(|(p, v)| Op::Delete(p, v)),
        3 => (path.clone(), -1..2i32).prop_map(|(p, v)| Op::SetData(p, v)),
        1 => (path.clone(), any::<bool>()).prop_map(|(p, open)| Op::SetAcl(p, open)),
        2 => proptest::collection::vec((0..4u8, path.clone()), 1..4).prop_map(Op::Multi),
        2 => path.prop_map(Op::Read),
        1 => Just(Op::Close),
    ]
}

fn body(op: &Op) -> RequestBody {
    let path = |i: &usize| PATHS[*i].to_owned();
    match op {
        Op::Create(p, mode) => create(&path(p), *mode),
        Op::Delete(p, version) => RequestBody::Delete(DeleteRequest {
            path: path(p),
            version: *version,
        }),
        Op::SetData(p, version) => RequestBody::SetData(SetDataRequest {
            path: path(p),
            data: Some(Bytes::from(format!("v{version}"))),
            version: *version,
        }),
        Op::SetAcl(p, open) => RequestBody::SetAcl(SetAclRequest {
            path: path(p),
            acl: Some(if *open {
                Acl::open_unsafe()
            } else {
                Acl::read_unsafe()
            }),
            version: -1,
        }),
        Op::Multi(ops) => RequestBody::Multi(MultiRequest {
            ops: ops
                .iter()
                .map(|(kind, p)| match kind {
                    0 => MultiOp::Create(zk_proto::proto::CreateRequest {
                        path: path(p),
                        data: None,
                        acl: Some(Acl::open_unsafe()),
                        flags: CreateMode::Persistent.flags(),
                    }),
                    1 => MultiOp::Delete(DeleteRequest {
                        path: path(p),
                        version: -1,
                    }),
                    2 => MultiOp::SetData(SetDataRequest {
                        path: path(p),
                        data: Some(Bytes::from_static(b"m")),
                        version: -1,
                    }),
                    _ => MultiOp::Check(CheckVersionRequest {
                        path: path(p),
                        version: 0,
                    }),
                })
                .collect(),
        }),
        Op::Read(p) => get_data(&path(p), false),
        Op::Close => RequestBody::CloseSession,
    }
}

/// What a run shows: every logged entry, which request each one is, and per connection the
/// replies to its writes.
#[derive(Debug, PartialEq)]
struct Run {
    logged: Vec<TxnEntry>,
    per_conn: BTreeMap<ConnId, Vec<Seen>>,
    digest: i64,
}

/// Runs `ops` (connection, xid, op, flush after it?) on three sessions; returns what it
/// showed and the requests in the order their txns were logged.
fn run(ops: &[(ConnId, i32, Op, bool)]) -> (Run, Vec<(ConnId, i32)>) {
    let mut core = core();
    let sessions: Vec<(i64, ConnId)> = (1..=3).map(|conn| (open(&mut core, conn), conn)).collect();
    let conn_of = |session: i64| {
        sessions
            .iter()
            .find(|(s, _)| *s == session)
            .map(|(_, c)| *c)
    };
    // Reads are served when their connection's writes have committed and then see whatever
    // else committed by that flush: not compared (and they set no watches).
    let reads: Vec<i32> = ops
        .iter()
        .filter(|(_, _, op, _)| matches!(op, Op::Read(_)))
        .map(|(_, xid, _, _)| *xid)
        .collect();
    let mut logged = Vec::new();
    let mut per_conn: BTreeMap<ConnId, Vec<Seen>> = BTreeMap::new();
    let mut note = |actions: Vec<Action>, logged: &mut Vec<TxnEntry>| {
        for s in seen(&actions, &[]) {
            let conn = match &s {
                Seen::Log { .. }
                | Seen::Forward { .. }
                | Seen::Revalidate { .. }
                | Seen::Snapshot { .. } => continue,
                Seen::Reply { xid, .. } if reads.contains(xid) => continue,
                Seen::Reply { conn, .. }
                | Seen::Event { conn, .. }
                | Seen::Close { conn }
                | Seen::Connected { conn, .. } => *conn,
            };
            per_conn.entry(conn).or_default().push(s);
        }
        for a in actions {
            if let Action::Log(e) = a {
                logged.push((*e).clone());
            }
        }
    };
    let flush = |core: &mut ServerCore,
                 logged: &mut Vec<TxnEntry>,
                 note: &mut dyn FnMut(Vec<Action>, &mut Vec<TxnEntry>)| {
        // A flush may release requests that log more: flush until nothing is in flight.
        while let Some(last) = logged.last().map(|e| e.header.zxid) {
            if last <= core.last_zxid {
                break;
            }
            let actions = core.commit_through(last, 0);
            note(actions, logged);
        }
    };
    for (conn, xid, op, flush_after) in ops {
        let actions = request(&mut core, *conn, *xid, body(op));
        note(actions, &mut logged);
        if *flush_after {
            flush(&mut core, &mut logged, &mut note);
        }
    }
    flush(&mut core, &mut logged, &mut note);
    let order = logged
        .iter()
        .map(|e| {
            (
                conn_of(e.header.client_id).expect("a session"),
                e.header.cxid,
            )
        })
        .collect();
    let run = Run {
        logged,
        per_conn,
        digest: core.tree.digest(),
    };
    (run, order)
}

/// `run` with each closeSession's path list sorted. Its order depends on whether the
/// session's creates were still in flight, in Java as here: prep clones the committed set (a
/// clone is sized for what it holds) and adds the in-flight creates to it, so a session whose
/// ephemerals are all in flight gets the order of a default-sized table, and one whose
/// ephemerals are committed that of a smaller one. The same paths are deleted either way.
fn normalized(mut run: Run) -> Run {
    for entry in &mut run.logged {
        if let Txn::CloseSession(Some(close)) = &mut entry.txn {
            close.paths2_delete.sort();
        }
    }
    run
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn writes_prepped_in_flight_decide_as_writes_prepped_one_by_one(
        ops in proptest::collection::vec((1..=3u64, op(), proptest::bool::weighted(0.3)), 1..40)
    ) {
        // A connection that asked to close sends nothing more (the runtime closes it).
        let mut closed = Vec::new();
        let ops: Vec<(ConnId, i32, Op, bool)> = ops
            .into_iter()
            .filter(|(c, o, _)| {
                let keep = !closed.contains(c);
                if matches!(o, Op::Close) {
                    closed.push(*c);
                }
                keep
            })
            .zip(1..)
            .map(|((c, o, f), xid)| (c, xid, o, f))
            .collect();
        let (batched, order) = run(&ops);
        // The same writes, in the order the batched run logged them, each committed before
        // the next is prepped.
        let one_by_one: Vec<_> = order
            .iter()
            .map(|(conn, xid)| {
                let (_, _, op, _) = ops.iter().find(|(_, x, _, _)| x == xid).expect("an op");
                (*conn, *xid, op.clone(), true)
            })
            .collect();
        let (reference, _) = run(&one_by_one);
        prop_assert_eq!(normalized(batched), normalized(reference));
    }
}

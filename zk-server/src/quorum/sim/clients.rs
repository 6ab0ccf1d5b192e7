//! Simulated clients and their histories, checked for linearizability per key.
//!
//! A few clients, each attached to one serving member at a time (a ZooKeeper client's
//! connection), issue one op at a time on a few keys (znodes):
//! - `write(k, v)`: a setData of `k` with a value no other write uses. Through a follower or
//!   observer it is forwarded to the leader as a REQUEST (`Learner::forward`, the leader's
//!   `Action::Request`), where the sim stands in for Java's PrepRequestProcessor and proposes
//!   the SetData txn; on the leader it is proposed directly. The client hears "ok" when its
//!   member applies (commits) the txn.
//! - `read(k)`, made linearizable by ordering it through the leader: a `check` of `k`
//!   (a multi of one version check, as a client's `multi(check(k, -1))`) is forwarded and
//!   proposed like a write, and the client reads `k` from its member's database when the
//!   member applies that txn. The txn's place in the committed order is the read's
//!   linearization point: it is committed after the read was invoked and applied before the
//!   answer, and a member's database when it applies a txn holds exactly the committed
//!   history up to it (checked by `check.rs`). A forwarded `sync` followed by a local read
//!   is cheaper, but Java answers a sync at once when the leader has nothing outstanding,
//!   without asking a quorum, so a leader that lost its quorum without noticing yet (up to
//!   `syncLimit`) serves state older than a newer leader's commits; a committed check
//!   cannot (it never commits there). The sim finds that window with [`ReadMode::Sync`]
//!   (about one seed in 5000; see `sync_reads_are_stale_on_a_leader_that_lost_its_quorum`).
//!
//! Each client sits next to one server (its home) and reaches only the members that server
//! reaches, so partitions split clients too. When its member stops serving (it crashes, its
//! leader is lost, the leader steps down) or becomes unreachable, the client's pending op is
//! indeterminate ("unknown": it may or may not have happened) and the client attaches to
//! another serving member it reaches. Ops still pending when the run ends are unknown too.
//!
//! At the end of a run each key's history goes through `linearizable::check`.
//!
//! [`ReadMode::Sync`] models reads as Java serves them after a client's `sync`: the sync is
//! forwarded to the leader (`Learner::forward`, `Leader::sync_reached`), answered by SYNC
//! after the commits the leader had outstanding then (`Action::SyncDone`), and the read is
//! served from the member's database (on the leader itself at once, as Java's leader does not
//! match its own clients' syncs with commits). It is not the default: see above.

mod history;
mod requests;

use std::sync::Arc;

use zk_proto::quorum::LearnerRequest;
use zk_proto::txn::{Txn, TxnEntry, TxnHeader};
use zk_proto::OpCode;

use requests::{request, request_txn, value_in};

use super::check::Violation;
use super::linearizable::{Call, Op, Value};
use super::net::{ConnId as LearnerId, Event, Rng};
use super::node::Role;
use super::Sim;
use crate::quorum::learner::ZabState;

/// Clients per run.
const CLIENTS: usize = 3;
/// Keys they share.
const KEYS: usize = 2;
/// Client `i` has session id `SESSION_BASE + i` (the txn headers' client id).
const SESSION_BASE: i64 = 0x5100;
/// Search steps per key before the checker gives up without a verdict.
const SEARCH_BUDGET: u64 = 5_000_000;

/// Bugs seeded on purpose, to show the checker catches them in the whole simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bug {
    /// A member answers reads from its own database at once (no check through the leader):
    /// a lagging follower serves stale values.
    LocalReads,
    /// The leader tells its own clients "ok" for a write as soon as it proposes it, before a
    /// quorum logged it.
    AckBeforeQuorum,
}

/// How a client's read is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadMode {
    /// A committed check txn (linearizable).
    Check,
    /// A forwarded `sync`, then a local read (Java's `sync` + `getData`).
    Sync,
}

fn key_path(key: usize) -> String {
    format!("/lin{key}")
}

#[derive(Debug)]
struct Client {
    session_id: i64,
    /// The member and its serving period (role id) the client is connected to.
    member: Option<(i64, u64)>,
    next_cxid: i32,
    /// The op waiting for its answer: its cxid and its index in the history.
    pending: Option<(i32, usize)>,
    /// Where the client is on the network: it reaches the members this server reaches.
    home: i64,
}

/// One op in a history.
#[derive(Debug)]
pub(super) struct Record {
    client: usize,
    key: usize,
    member: i64,
    call: Call,
    invoked_ms: u64,
    returned_ms: Option<u64>,
}

/// The clients of one run and everything they did.
#[derive(Debug)]
pub(super) struct Clients {
    rng: Rng,
    clients: Vec<Client>,
    history: Vec<Record>,
    /// Stamps every invocation and response: the checker's real-time order.
    clock: u64,
    next_value: Value,
    bug: Option<Bug>,
    pub read_mode: ReadMode,
    /// New ops start until the faults stop.
    pub issuing: bool,
    pub answered: u64,
    pub unknown: u64,
    /// Keys whose search gave up without a verdict.
    pub inconclusive: u64,
}

impl Clients {
    pub(super) fn new(seed: u64, bug: Option<Bug>) -> Clients {
        Clients {
            // Their own randomness: the rest of the run draws as it did before clients.
            rng: Rng::new(seed ^ 0x6c69_6e65_6172_697a),
            clients: (0..CLIENTS)
                .map(|i| Client {
                    session_id: SESSION_BASE + i as i64,
                    member: None,
                    next_cxid: 1,
                    pending: None,
                    home: 0,
                })
                .collect(),
            history: Vec::new(),
            clock: 0,
            next_value: 0,
            bug,
            read_mode: ReadMode::Check,
            issuing: true,
            answered: 0,
            unknown: 0,
            inconclusive: 0,
        }
    }

    /// The variables that make `replay` run these clients.
    pub(super) fn replay_env(&self) -> String {
        let mut env = String::new();
        match self.bug {
            Some(Bug::LocalReads) => env.push_str("ZK_SIM_BUG=local-reads "),
            Some(Bug::AckBeforeQuorum) => env.push_str("ZK_SIM_BUG=ack-before-quorum "),
            None => {}
        }
        if self.read_mode == ReadMode::Sync {
            env.push_str("ZK_SIM_READS=sync ");
        }
        env
    }

    pub(super) fn ops(&self) -> usize {
        self.history.len()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl Sim {
    /// The serving period (role id) of a member that serves clients now.
    fn serving_role(&self, sid: i64) -> Option<u64> {
        let node = &self.nodes[&sid];
        if !node.up || !node.synced {
            return None;
        }
        match &node.role {
            Role::Leading(l) if l.core.is_established() => Some(l.id),
            Role::Following(f) if f.core.zab_state() == ZabState::Broadcast => Some(f.id),
            _ => None,
        }
    }

    /// Schedules each client's first op.
    pub(super) fn start_clients(&mut self) {
        let sids: Vec<i64> = self.nodes.keys().copied().collect();
        let Some(c) = self.clients.as_mut() else {
            return;
        };
        for client in 0..CLIENTS {
            c.clients[client].home = c.rng.pick(&sids);
            let at = c.rng.range(1, 300);
            self.net.at(at, Event::Client { client });
        }
    }

    fn client_again(&mut self, client: usize, lo: u64, hi: u64) {
        let c = self.clients.as_mut().expect("clients");
        let gap = c.rng.range(lo, hi);
        self.net.after(gap, Event::Client { client });
    }

    /// A client's turn: (re)connect if its member stopped serving, then start its next op.
    pub(super) fn client_turn(&mut self, client: usize) -> Result<(), Violation> {
        let Some(c) = self.clients.as_ref() else {
            return Ok(());
        };
        if !c.issuing || c.clients[client].pending.is_some() {
            return Ok(());
        }
        let (attached, home) = (c.clients[client].member, c.clients[client].home);
        let reachable = |sid: i64| sid == home || !self.net.is_cut(home, sid);
        let member = match attached {
            Some((sid, role)) if self.serving_role(sid) == Some(role) && reachable(sid) => {
                (sid, role)
            }
            _ => {
                let serving: Vec<(i64, u64)> = self
                    .nodes
                    .keys()
                    .filter(|&&sid| reachable(sid))
                    .filter_map(|&sid| self.serving_role(sid).map(|role| (sid, role)))
                    .collect();
                let c = self.clients.as_mut().expect("clients");
                c.clients[client].member = None;
                if serving.is_empty() {
                    self.client_again(client, 20, 100);
                    return Ok(());
                }
                let member = c.rng.pick(&serving);
                c.clients[client].member = Some(member);
                self.trace(format!("client {client} connects to {}", member.0));
                member
            }
        };
        let now = self.net.now_ms;
        let c = self.clients.as_mut().expect("clients");
        let key = c.rng.range(0, KEYS as u64 - 1) as usize;
        let value = c.rng.chance(500).then(|| {
            c.next_value += 1;
            c.next_value
        });
        let cl = &mut c.clients[client];
        let (session_id, cxid) = (cl.session_id, cl.next_cxid);
        cl.next_cxid += 1;
        cl.pending = Some((cxid, c.history.len()));
        let invoked = c.tick();
        let op = value.map_or(Op::Read(None), Op::Write);
        c.history.push(Record {
            client,
            key,
            member: member.0,
            call: Call {
                op,
                invoked,
                returned: None,
            },
            invoked_ms: now,
            returned_ms: None,
        });
        let local_read = value.is_none() && c.bug == Some(Bug::LocalReads);
        let sync = c.read_mode == ReadMode::Sync;
        let line = c.describe(c.history.len() - 1);
        self.trace(line);
        let sid = member.0;
        if local_read {
            let read = value_in(&self.nodes[&sid].tree, key);
            self.client_answer(client, Some(read));
            return Ok(());
        }
        let request = request(session_id, cxid, key, value, sync);
        if matches!(self.nodes[&sid].role, Role::Leading(_)) {
            if request.r#type != OpCode::Sync {
                return self.leader_request(sid, None, &request);
            }
            // Java's leader does not match its own clients' syncs with commits
            // (`CommitProcessor` without `matchSyncs`): the read is served from its database.
            let read = value_in(&self.nodes[&sid].tree, key);
            self.client_answer(client, Some(read));
            return Ok(());
        }
        let Role::Following(f) = &mut self.nodes.get_mut(&sid).expect("node").role else {
            unreachable!("serving");
        };
        let actions = f.core.forward(&request, None);
        self.learner_actions(sid, actions, None)
    }

    /// A client request reaches the leader (its own client's, or forwarded by `learner`).
    pub(super) fn leader_request(
        &mut self,
        sid: i64,
        learner: Option<LearnerId>,
        request: &LearnerRequest,
    ) -> Result<(), Violation> {
        if let (OpCode::Sync, Some(learner)) = (request.r#type, learner) {
            let Role::Leading(l) = &mut self.nodes.get_mut(&sid).expect("node").role else {
                return Ok(());
            };
            let actions = l.core.sync_reached(learner);
            return self.leader_actions(sid, actions);
        }
        let Some((r#type, txn)) = request_txn(request) else {
            return Ok(());
        };
        self.propose_txn(sid, request.session_id, request.cxid, r#type, txn)?;
        let bug = self.clients.as_ref().and_then(|c| c.bug);
        if bug == Some(Bug::AckBeforeQuorum) && r#type == OpCode::SetData {
            if let Some(client) = self.waiting_client(sid, request.session_id, request.cxid) {
                self.client_answer(client, None);
            }
        }
        Ok(())
    }

    /// The client waiting on `sid` for the answer to `(session_id, cxid)`, if any.
    fn waiting_client(&self, sid: i64, session_id: i64, cxid: i32) -> Option<usize> {
        let c = self.clients.as_ref()?;
        let client = usize::try_from(session_id - SESSION_BASE).ok()?;
        let cl = c.clients.get(client)?;
        let (member, role) = cl.member?;
        let (pending, _) = cl.pending?;
        (member == sid && pending == cxid && self.serving_role(sid) == Some(role)).then_some(client)
    }

    /// A learner's forwarded sync is answered: serve the read waiting on it.
    pub(super) fn client_synced(&mut self, sid: i64, session_id: i64, cxid: i32) {
        let Some(client) = self.waiting_client(sid, session_id, cxid) else {
            return;
        };
        let c = self.clients.as_ref().expect("clients");
        let (_, index) = c.clients[client].pending.expect("pending");
        let read = value_in(&self.nodes[&sid].tree, c.history[index].key);
        self.client_answer(client, Some(read));
    }

    /// A member applied a committed txn: the client waiting for it there gets its answer.
    pub(super) fn client_applied(&mut self, sid: i64, e: &TxnEntry) {
        let Some(client) = self.waiting_client(sid, e.header.client_id, e.header.cxid) else {
            return;
        };
        let c = self.clients.as_ref().expect("clients");
        let (_, index) = c.clients[client].pending.expect("pending");
        let record = &c.history[index];
        let read = match record.call.op {
            Op::Write(_) => None,
            Op::Read(_) => Some(value_in(&self.nodes[&sid].tree, record.key)),
        };
        self.client_answer(client, read);
    }

    /// The pending op of `client` is answered (`read`: a read's value).
    fn client_answer(&mut self, client: usize, read: Option<Option<Value>>) {
        let now = self.net.now_ms;
        let c = self.clients.as_mut().expect("clients");
        let Some((_, index)) = c.clients[client].pending.take() else {
            return;
        };
        let returned = c.tick();
        let r = &mut c.history[index];
        r.call.returned = Some(returned);
        r.returned_ms = Some(now);
        if let Some(value) = read {
            r.call.op = Op::Read(Some(value));
        }
        c.answered += 1;
        let line = c.describe(index);
        self.trace(line);
        self.client_again(client, 5, 60);
    }

    /// `sid` stops serving (crash, lost leader, stepped down): its clients' pending ops are
    /// indeterminate and the clients go elsewhere.
    pub(super) fn member_stops(&mut self, sid: i64) {
        self.disconnect_clients(|_, member| member == sid);
    }

    /// The link `a`-`b` is cut: clients at home on one end lose a member on the other (their
    /// connection times out; here at once).
    pub(super) fn link_cut(&mut self, a: i64, b: i64) {
        self.disconnect_clients(|home, member| {
            (home, member) == (a, b) || (home, member) == (b, a)
        });
    }

    /// Disconnects the clients whose `(home, member)` match.
    fn disconnect_clients(&mut self, matches: impl Fn(i64, i64) -> bool) {
        let Some(c) = self.clients.as_mut() else {
            return;
        };
        let mut lost = Vec::new();
        for (i, cl) in c.clients.iter_mut().enumerate() {
            if cl.member.is_some_and(|(m, _)| matches(cl.home, m)) {
                cl.member = None;
                if cl.pending.take().is_some() {
                    c.unknown += 1;
                    lost.push(i);
                }
            }
        }
        for client in lost {
            self.trace(format!(
                "client {client} loses its member: its pending op is indeterminate"
            ));
            self.client_again(client, 1, 50);
        }
    }

    /// A txn with the next zxid at leader `sid`: proposed, then logged.
    pub(super) fn propose_txn(
        &mut self,
        sid: i64,
        client_id: i64,
        cxid: i32,
        r#type: OpCode,
        txn: Txn,
    ) -> Result<(), Violation> {
        let now = self.net.now_ms;
        let Role::Leading(l) = &mut self.nodes.get_mut(&sid).expect("node").role else {
            return Ok(());
        };
        let Some(zxid) = l.next_zxid.filter(|_| l.core.is_established()) else {
            return Ok(());
        };
        l.next_zxid = Some(zxid + 1);
        let entry = Arc::new(TxnEntry {
            header: TxnHeader {
                client_id,
                cxid,
                zxid,
                time: now as i64,
                r#type,
            },
            txn,
            digest: None,
        });
        self.check.proposed(sid, &entry)?;
        l.outstanding.insert(zxid, entry.clone());
        let actions = l.core.propose(entry.clone(), now);
        self.leader_actions(sid, actions)?;
        if matches!(&self.nodes[&sid].role, Role::Leading(_)) {
            self.log_append(sid, &entry)?;
        }
        Ok(())
    }
}

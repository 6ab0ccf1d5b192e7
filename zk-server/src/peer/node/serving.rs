//! The boundary between an ensemble member ([`super::QuorumNode`]) and the side that serves
//! clients (sessions, the request pipeline, watches).
//!
//! Ownership, in one sentence: the node owns the database (the one [`DataTree`] and the txn
//! log) whenever the member is not serving; while it serves, the tree lives on the serving side
//! and the log stays with the node.
//!
//! - **Tree.** When a role starts serving (the leader's `Established`, a learner's UPTODATE)
//!   the node moves the tree into [`Pipeline::serve`]. When the role ends, [`Pipeline::stop`]
//!   moves it back. In between, the node asks for an O(1) clone with [`Pipeline::tree`] when
//!   it needs the tree as of the commits so far (a SNAP for a learner that joins a serving
//!   leader). There is never a second copy that changes on its own.
//! - **Log.** The node appends and flushes every txn itself: the leader's proposals (which the
//!   serving side hands in with [`NodeRequest::Propose`]) and the learner's logged proposals.
//!   A txn is durable before its ACK (followers) or the leader's own ACK counts; the serving
//!   side never touches the log.
//! - **Commits.** On the leader the serving side made the proposals, so it hears only how far
//!   the quorum committed ([`Pipeline::commit_through`]); on a learner it receives each
//!   committed txn ([`Pipeline::apply`]), in zxid order.
//! - **Ordering contract.** Calls arrive in the order the node makes them. A tree handed back
//!   by [`Pipeline::tree`] or [`Pipeline::stop`] must have exactly the commits handed in
//!   before that call applied (its last processed zxid is the last of them, or the serving
//!   start's zxid if none): a serving side that applies on its own task answers those requests
//!   from that task, behind the commits.
//!
//! The serving side talks back through the [`NodeRequests`] it got in [`ServeStart`]; each
//! serving period gets a fresh channel, so a request sent after the role ended goes nowhere.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use zk_proto::data::Id;
use zk_proto::quorum::{LearnerRequest, SessionTouch};
use zk_proto::txn::TxnEntry;

use crate::quorum::leader::LearnerId;
use crate::tree::DataTree;

/// What the member is while serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingRole {
    /// The leader: assigns zxids and proposes.
    Leader,
    /// A voting follower: forwards writes to the leader.
    Follower,
    /// A non-voting observer: forwards writes to the leader.
    Observer,
}

/// What the serving side starts from.
#[derive(Debug)]
pub struct ServeStart {
    /// The role.
    pub role: ServingRole,
    /// The database; the serving side owns it until [`Pipeline::stop`].
    pub tree: DataTree,
    /// The epoch being served.
    pub epoch: i64,
    /// The leader: the `Established` zxid (`epoch << 32`); its first proposal is `zxid + 1` and
    /// zxids go up by one. A learner: the tree's last processed zxid.
    pub zxid: i64,
    /// Requests to the node (proposals, forwarded writes, ...).
    pub requests: NodeRequests,
    /// The leader's id (this member's own when it leads).
    pub leader_id: Option<i64>,
}

/// A tree the serving side hands back (see the module docs for what it must hold).
pub type TreeReply = oneshot::Receiver<DataTree>;

/// The serving side as the node drives it. The methods must not block: a serving side on a
/// task of its own queues the call and answers [`TreeReply`]s from there.
pub trait Pipeline: Send {
    /// Serving starts in `start.role` with `start.tree`.
    fn serve(&mut self, start: ServeStart);

    /// The leader: the quorum committed every proposal up to `zxid`; apply them in order
    /// (and reply to the clients that wait for them).
    fn commit_through(&mut self, zxid: i64);

    /// A learner: apply this committed txn (the next in zxid order).
    fn apply(&mut self, entry: Arc<TxnEntry>);

    /// A clone of the tree with every commit handed in so far applied.
    fn tree(&mut self) -> TreeReply;

    /// Serving ends (the role ended or the node stops): hand the tree back, with every commit
    /// handed in applied and nothing else. Proposals not committed are forgotten here; the
    /// node replays what its log holds of them (Java's `fastForwardDataBase`).
    fn stop(&mut self) -> TreeReply;

    /// The leader: a request a learner forwarded (a write, createSession, closeSession or a
    /// sync). A sync is answered with [`NodeRequest::SyncReached`] once it reaches the
    /// proposal stage.
    fn learner_request(
        &mut self,
        learner: LearnerId,
        request: LearnerRequest,
        authinfo: Option<Vec<Id>>,
    ) {
        let _ = (learner, request, authinfo);
    }

    /// The leader: sessions a learner saw activity on.
    fn touch_sessions(&mut self, touches: Vec<SessionTouch>) {
        let _ = touches;
    }

    /// The leader: check a session a client re-attaches through a learner; answer with
    /// [`NodeRequest::Revalidated`].
    fn revalidate(&mut self, learner: LearnerId, session_id: i64, timeout_ms: i32) {
        let _ = (learner, session_id, timeout_ms);
    }

    /// The leader: its learner counts, on every tick while it serves (for `mntr`).
    fn leader_counts(&mut self, counts: crate::quorum::leader::LeaderCounts) {
        let _ = counts;
    }

    /// A learner: the leader answered the oldest forwarded sync.
    fn sync_done(&mut self, session_id: i64, cxid: i32) {
        let _ = (session_id, cxid);
    }

    /// A learner: the leader's verdict on a re-attached session.
    fn revalidated(&mut self, session_id: i64, valid: bool) {
        let _ = (session_id, valid);
    }
}

/// What the serving side asks of the node.
#[derive(Debug)]
pub enum NodeRequest {
    /// The leader: log and propose this txn (its zxid is the next one, see
    /// [`ServeStart::zxid`]).
    Propose(Arc<TxnEntry>),
    /// The leader: a learner's forwarded sync reached the proposal stage.
    SyncReached(LearnerId),
    /// The leader: the answer to [`Pipeline::revalidate`].
    Revalidated {
        /// The learner that asked.
        learner: LearnerId,
        /// The session.
        session_id: i64,
        /// Whether the client may use it.
        valid: bool,
    },
    /// A learner: forward a client request to the leader.
    Forward {
        /// The request.
        request: LearnerRequest,
        /// The connection's auth ids (null for createSession).
        authinfo: Option<Vec<Id>>,
    },
    /// A learner: ask the leader about a session a client re-attaches here.
    Revalidate {
        /// The session.
        session_id: i64,
        /// Its timeout in ms.
        timeout_ms: i32,
    },
    /// A learner: a session saw activity (reported with the next PING).
    TouchSession {
        /// The session.
        session_id: i64,
        /// Its timeout in ms.
        timeout_ms: i32,
    },
    /// A learner: a session is gone.
    ForgetSession(i64),
}

/// The serving side's handle to the node for one serving period.
#[derive(Debug, Clone)]
pub struct NodeRequests(mpsc::UnboundedSender<NodeRequest>);

impl NodeRequests {
    /// A handle and the node's receiving end.
    pub(super) fn channel() -> (NodeRequests, mpsc::UnboundedReceiver<NodeRequest>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (NodeRequests(tx), rx)
    }

    /// Sends a request; `false` once the serving period is over.
    pub fn send(&self, request: NodeRequest) -> bool {
        self.0.send(request).is_ok()
    }

    /// The leader: propose `entry`.
    pub fn propose(&self, entry: Arc<TxnEntry>) -> bool {
        self.send(NodeRequest::Propose(entry))
    }
}

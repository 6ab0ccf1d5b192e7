//! The serving side of an ensemble member: the core task behind the node's
//! [`Pipeline`](crate::peer::node::serving::Pipeline).
//!
//! The same [`ServerCore`] pipeline serves clients as on a standalone server; what differs is
//! the IO around it. The node ([`crate::peer::node::QuorumNode`]) logs and replicates: the
//! leader's proposals ([`Action::Log`]) go to it, learners' forwarded requests and
//! revalidations go to it, and commits come back from it. Between serving periods (election,
//! sync) there is no core: connections are closed as Java closes them while its server is
//! not running, and four-letter words answer that the server is not serving.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};
use zk_proto::data::Id;
use zk_proto::quorum::{LearnerRequest, SessionTouch};
use zk_proto::txn::TxnEntry;

use super::{client_input, close, deliver, wall_ms, Input, Outbound, Outs, MAX_BATCH};
use crate::admin::{LeaderStats, QuorumStats, ServerMode};
use crate::core::{Action, CoreConfig, Role, ServerCore};
use crate::fourlw::AdminContext;
use crate::peer::node::serving::{
    NodeRequest, NodeRequests, Pipeline, ServeStart, ServingRole, TreeReply,
};
use crate::quorum::leader::LearnerId;
use crate::tree::DataTree;

/// What the node asks of the core task (each [`Pipeline`] call, in order).
#[derive(Debug)]
pub(super) enum NodeInput {
    Serve(Box<ServeStart>),
    CommitThrough(i64),
    Apply(Arc<TxnEntry>),
    Tree(oneshot::Sender<DataTree>),
    Stop(oneshot::Sender<DataTree>),
    LearnerRequest {
        learner: LearnerId,
        request: LearnerRequest,
        authinfo: Option<Vec<Id>>,
    },
    TouchSessions(Vec<SessionTouch>),
    Revalidate {
        learner: LearnerId,
        session_id: i64,
    },
    SyncDone {
        session_id: i64,
        cxid: i32,
    },
    Revalidated {
        session_id: i64,
        valid: bool,
    },
    LeaderCounts(crate::quorum::leader::LeaderCounts),
}

/// The [`Pipeline`] the node drives: each call becomes an input of the core task, which
/// handles them in order (a tree asked for comes back from there, behind every commit
/// handed in before).
#[derive(Debug, Clone)]
pub struct CorePipeline(mpsc::UnboundedSender<NodeInput>);

impl CorePipeline {
    pub(super) fn channel() -> (CorePipeline, mpsc::UnboundedReceiver<NodeInput>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (CorePipeline(tx), rx)
    }

    fn send(&self, input: NodeInput) {
        // Once the core task is gone the server is stopping; the node stops too.
        let _ = self.0.send(input);
    }

    fn ask(&self, input: impl FnOnce(oneshot::Sender<DataTree>) -> NodeInput) -> TreeReply {
        let (tx, rx) = oneshot::channel();
        self.send(input(tx));
        rx
    }
}

impl Pipeline for CorePipeline {
    fn serve(&mut self, start: ServeStart) {
        self.send(NodeInput::Serve(Box::new(start)));
    }

    fn commit_through(&mut self, zxid: i64) {
        self.send(NodeInput::CommitThrough(zxid));
    }

    fn apply(&mut self, entry: Arc<TxnEntry>) {
        self.send(NodeInput::Apply(entry));
    }

    fn tree(&mut self) -> TreeReply {
        self.ask(NodeInput::Tree)
    }

    fn stop(&mut self) -> TreeReply {
        self.ask(NodeInput::Stop)
    }

    fn learner_request(
        &mut self,
        learner: LearnerId,
        request: LearnerRequest,
        authinfo: Option<Vec<Id>>,
    ) {
        self.send(NodeInput::LearnerRequest {
            learner,
            request,
            authinfo,
        });
    }

    fn touch_sessions(&mut self, touches: Vec<SessionTouch>) {
        self.send(NodeInput::TouchSessions(touches));
    }

    fn revalidate(&mut self, learner: LearnerId, session_id: i64, _timeout_ms: i32) {
        self.send(NodeInput::Revalidate {
            learner,
            session_id,
        });
    }

    fn sync_done(&mut self, session_id: i64, cxid: i32) {
        self.send(NodeInput::SyncDone { session_id, cxid });
    }

    fn revalidated(&mut self, session_id: i64, valid: bool) {
        self.send(NodeInput::Revalidated { session_id, valid });
    }

    fn leader_counts(&mut self, counts: crate::quorum::leader::LeaderCounts) {
        self.send(NodeInput::LeaderCounts(counts));
    }
}

/// One serving period: the core and the node's handle.
struct Serving {
    core: ServerCore,
    requests: NodeRequests,
    /// When serving started (monotonic ms): the leader's `zk_leader_uptime`.
    since_ms: u64,
}

/// Facts about the ensemble the core task reports.
#[derive(Debug, Clone)]
pub(super) struct MemberInfo {
    /// Voting members (`zk_quorum_size`).
    pub(super) quorum_size: i64,
    /// The ensemble as configured, for the AdminServer.
    pub(super) ensemble: Option<crate::admin_http::EnsembleView>,
}

/// The core task of an ensemble member: client inputs and the node's, until every client
/// input sender is gone (the server stops).
pub(super) async fn run_member_core(
    core_config: CoreConfig,
    mut inputs: mpsc::Receiver<Input>,
    mut node: mpsc::UnboundedReceiver<NodeInput>,
    started: std::time::Instant,
    mut admin: AdminContext,
    sasl_nonce: fn() -> String,
    (info, sink): (MemberInfo, super::virtual_view::SnapshotSink),
) -> std::io::Result<()> {
    let mut outs: Outs = Outs::new();
    let now_ms = || started.elapsed().as_millis() as u64;
    let mut serving: Option<Serving> = None;
    loop {
        let mut actions = Vec::new();
        // The node's inputs first: they carry commits that clients wait for.
        tokio::select! {
            biased;
            input = node.recv() => match input {
                Some(input) => {
                    actions.extend(node_input(&mut serving, input, &mut outs, &mut admin, &core_config, now_ms(), sasl_nonce, &info));
                    while let Ok(input) = node.try_recv() {
                        actions.extend(node_input(&mut serving, input, &mut outs, &mut admin, &core_config, now_ms(), sasl_nonce, &info));
                    }
                }
                // The node stopped: nothing can be served any more.
                None => {
                    if let Some(s) = serving.take() {
                        stop_serving(s, &mut outs);
                    }
                    break;
                }
            },
            input = inputs.recv() => {
                let Some(first) = input else { break };
                let mut next = Some(first);
                let mut handled = 0;
                while let Some(input) = next.take() {
                    match &mut serving {
                        Some(s) => actions.extend(client_input(&mut s.core, input, &mut outs, &mut admin, now_ms())),
                        None => not_serving(input, &mut admin),
                    }
                    handled += 1;
                    if handled < MAX_BATCH {
                        next = inputs.try_recv().ok();
                    }
                }
            }
        }
        if let Some(s) = serving.as_mut() {
            s.core.flush_metrics();
        }
        let mut sends = route(&mut serving, actions);
        sink.take_requested(&mut sends);
        deliver(&mut outs, sends);
    }
    Ok(())
}

/// A client input while the member does not serve: Java closes connections then, and its
/// four-letter words say so.
fn not_serving(input: Input, admin: &mut AdminContext) {
    match input {
        Input::Connect { out, .. } => {
            let _ = out.send(Outbound::Close);
        }
        Input::FourLetterWord {
            word,
            stmk_mask,
            reply,
        } => {
            let _ = reply.send(crate::fourlw::answer_not_serving(admin, word, stmk_mask));
        }
        Input::Admin(call) => crate::fourlw::admin_call_not_serving(admin, call),
        // A request of a connection that was closed when serving stopped, or a tick.
        Input::Request { .. }
        | Input::Closed { .. }
        | Input::Tick { .. }
        | Input::VirtualTree(_) => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn node_input(
    serving: &mut Option<Serving>,
    input: NodeInput,
    outs: &mut Outs,
    admin: &mut AdminContext,
    core_config: &CoreConfig,
    now_ms: u64,
    sasl_nonce: fn() -> String,
    info: &MemberInfo,
) -> Vec<Action> {
    let wall = wall_ms();
    match input {
        NodeInput::Serve(start) => {
            let start = *start;
            if let Some(s) = serving.take() {
                warn!("serving started again without a stop; the old period ends");
                stop_serving(s, outs);
            }
            let role = match start.role {
                ServingRole::Leader => Role::Proposer,
                ServingRole::Follower | ServingRole::Observer => Role::Learner,
            };
            let (mode, peer_state) = match start.role {
                ServingRole::Leader => (ServerMode::Leader, "leading - broadcast"),
                ServingRole::Follower => (ServerMode::Follower, "following - broadcast"),
                ServingRole::Observer => (ServerMode::Observer, "observing - broadcast"),
            };
            admin.mode = mode;
            admin.quorum = Some(QuorumStats {
                peer_state: peer_state.to_owned(),
                quorum_size: info.quorum_size,
                // A follower may serve observers too (observerMasterPort): none here.
                synced_observers: (start.role != ServingRole::Observer).then_some(0),
                observer_master_id: None,
                leader_id: start.leader_id,
                observers: Vec::new(),
                leader: (start.role == ServingRole::Leader).then(LeaderStats::default),
            });
            let mut core = ServerCore::new(core_config.clone(), start.tree, now_ms, wall as u64);
            core.set_sasl_nonce_source(Box::new(sasl_nonce));
            core.start_epoch(role, start.zxid);
            info!(role = ?start.role, epoch = start.epoch, zxid = %format_args!("{:#x}", start.zxid), "serving clients");
            *serving = Some(Serving {
                core,
                requests: start.requests,
                since_ms: now_ms,
            });
            Vec::new()
        }
        NodeInput::Stop(reply) => {
            match serving.take() {
                Some(s) => {
                    let tree = stop_serving(s, outs);
                    let _ = reply.send(tree);
                }
                None => warn!("asked to stop serving while not serving"),
            }
            Vec::new()
        }
        input => {
            let Some(s) = serving.as_mut() else {
                warn!(?input, "a node input while not serving; ignored");
                return Vec::new();
            };
            let core = &mut s.core;
            core.set_clock(now_ms);
            match input {
                NodeInput::CommitThrough(zxid) => core.commit_through(zxid, wall),
                NodeInput::Apply(entry) => core.apply_committed(&entry, now_ms, wall),
                NodeInput::Tree(reply) => {
                    let _ = reply.send(core.snapshot_view().1);
                    Vec::new()
                }
                NodeInput::LearnerRequest {
                    learner,
                    request,
                    authinfo,
                } => {
                    if request.r#type == zk_proto::OpCode::Sync {
                        // Prep runs in order, so every earlier request of the learner has
                        // been proposed: the sync has reached the proposal stage.
                        s.requests.send(NodeRequest::SyncReached(learner));
                        Vec::new()
                    } else {
                        let ids = authinfo.unwrap_or_default();
                        core.forwarded(&request, &ids, now_ms, wall)
                    }
                }
                NodeInput::TouchSessions(touches) => {
                    let touches: Vec<(i64, i32)> = touches
                        .iter()
                        .map(|t| (t.session_id, t.timeout_ms))
                        .collect();
                    core.touch_sessions(&touches, now_ms);
                    Vec::new()
                }
                NodeInput::Revalidate {
                    learner,
                    session_id,
                } => {
                    let valid = core.session_is_valid(session_id, now_ms);
                    s.requests.send(NodeRequest::Revalidated {
                        learner,
                        session_id,
                        valid,
                    });
                    Vec::new()
                }
                NodeInput::SyncDone { session_id, cxid } => core.sync_done(session_id, cxid, wall),
                NodeInput::Revalidated { session_id, valid } => {
                    core.revalidated(session_id, valid, wall)
                }
                NodeInput::LeaderCounts(counts) => {
                    if let Some(q) = admin.quorum.as_mut() {
                        q.synced_observers = Some(counts.synced_observers);
                        let leader = q.leader.get_or_insert_with(LeaderStats::default);
                        leader.learners = counts.learners;
                        leader.synced_followers = counts.synced_followers;
                        leader.pending_syncs = counts.pending_syncs;
                        q.observers = counts.observers;
                        leader.leader_uptime_ms = now_ms.saturating_sub(s.since_ms) as i64;
                    }
                    Vec::new()
                }
                NodeInput::Serve(_) | NodeInput::Stop(_) => unreachable!("matched above"),
            }
        }
    }
}

/// Hands what the core asks of the node to it, and returns what goes to clients.
fn route(serving: &mut Option<Serving>, actions: Vec<Action>) -> Vec<Action> {
    let mut sends = Vec::with_capacity(actions.len());
    let Some(s) = serving.as_mut() else {
        return actions;
    };
    for action in actions {
        match action {
            Action::Log(entry) => {
                s.requests.propose(entry);
            }
            Action::Forward { request, auth_ids } => {
                // Java's learner sends createSession without authinfo.
                let authinfo =
                    (request.r#type != zk_proto::OpCode::CreateSession).then_some(auth_ids);
                s.requests.send(NodeRequest::Forward { request, authinfo });
            }
            Action::Revalidate {
                session_id,
                timeout_ms,
            } => {
                s.requests.send(NodeRequest::Revalidate {
                    session_id,
                    timeout_ms,
                });
            }
            other => sends.push(other),
        }
    }
    for (session_id, timeout_ms) in s.core.take_touched_sessions() {
        s.requests.send(NodeRequest::TouchSession {
            session_id,
            timeout_ms,
        });
    }
    sends
}

/// Ends a serving period: every client connection closes (the clients reconnect, to this
/// server once it serves again or to another), and the committed tree goes back to the node.
fn stop_serving(serving: Serving, outs: &mut Outs) -> DataTree {
    let conns: Vec<_> = outs.keys().copied().collect();
    for conn in conns {
        close(outs, conn);
    }
    info!("stopped serving clients");
    serving.core.into_tree()
}

//! FOLLOWING / OBSERVING: the dial to the leader and the [`Learner`] core (Java's
//! `Follower.followLeader` / `Observer.observeLeader`), as `quorum::sim`'s `roles.rs` carries
//! out the core's actions.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};
use zk_proto::quorum::PacketType;

use crate::peer::quorum_net::{self, LeaderConnectConfig, LeaderEvent, PacketSender};
use crate::quorum::election::Decision;
use crate::quorum::learner::{
    Action, Learner, LearnerConfig, LearnerRole, LocalState, EXIT_QUORUM_PACKET_ERROR,
};

use super::flush::LogFlush;
use super::serving::{NodeRequest, ServingRole};
use super::{next_request, tick_period, Node, NodeError};

/// Leader events handled before one log flush (the follower's group commit).
const EVENTS_PER_FLUSH: usize = 256;

/// The state of one `followLeader` run.
struct Following {
    core: Learner,
    role: LearnerRole,
    conn: Option<PacketSender>,
    requests: Option<mpsc::UnboundedReceiver<NodeRequest>>,
    /// The log's fsyncs, off this task.
    flush: LogFlush,
    /// Why the leader was left, once it has been.
    ended: Option<String>,
    /// When following this leader began (`follower_sync_time`, `observer_sync_time`).
    since: std::time::Instant,
}

impl Node {
    /// Follows (or observes) the decided leader until it is lost or the node stops.
    pub(super) async fn follow(
        &mut self,
        decision: Decision,
        role: LearnerRole,
    ) -> Result<(), NodeError> {
        let Some(address) = self
            .quorum
            .verifier
            .member(decision.leader)
            .and_then(|m| m.addresses.first().cloned())
        else {
            warn!(
                sid = self.my_id,
                leader = decision.leader,
                "the leader is not in the config"
            );
            return Ok(());
        };
        let q = &self.quorum;
        let connect_limit = match q.connect_to_learner_master_limit {
            0 => q.init_limit,
            limit => limit,
        };
        let config = LearnerConfig {
            server_id: self.my_id,
            role,
            config_version: q.verifier.version,
            tick_ms: u64::from(q.tick_time_ms),
            init_limit: u64::from(q.init_limit),
            sync_limit: u64::from(q.sync_limit),
            connect_limit: u64::from(connect_limit),
            observer_sync_enabled: q.sync_enabled,
        };
        let local = LocalState {
            accepted_epoch: self.db.accepted_epoch,
            current_epoch: self.db.current_epoch,
            last_logged_zxid: self.db.tree().last_processed_zxid(),
            force_snapshot_after_election: false,
        };
        let mut state = Following {
            core: Learner::new(config, local, self.now_ms()),
            role,
            conn: None,
            requests: None,
            flush: LogFlush::default(),
            ended: None,
            since: std::time::Instant::now(),
        };
        let (events_tx, mut events) = mpsc::channel(1024);
        let mut connect_cfg = LeaderConnectConfig::new(q.connect_to_leader_timeout_ms());
        connect_cfg.retry_delay_ms = self.cfg.leader_connect_delay_during_retry_ms();
        connect_cfg.extended_types = self.cfg.extended_types_enabled();
        let mut result = self
            .run_following(&mut state, &mut events, events_tx, address, connect_cfg)
            .await;
        if let Some(archiver) = self.learner_archiver() {
            archiver.deactivate();
        }
        if let Err(e) = state.flush.finish(&mut self.db).await {
            result = result.and(Err(e));
        }
        if let Some(conn) = &state.conn {
            conn.close();
        }
        if let Some(reason) = &state.ended {
            info!(sid = self.my_id, "left the leader: {reason}");
        }
        result
    }

    async fn run_following(
        &mut self,
        state: &mut Following,
        events: &mut mpsc::Receiver<LeaderEvent>,
        events_tx: mpsc::Sender<LeaderEvent>,
        address: crate::quorum::verifier::ServerAddress,
        connect_cfg: LeaderConnectConfig,
    ) -> Result<(), NodeError> {
        let connect = quorum_net::connect_to_leader(
            &address.host,
            address.quorum_port,
            &connect_cfg,
            events_tx,
        );
        tokio::pin!(connect);
        let mut connecting = true;
        let mut tick = tokio::time::interval(tick_period(self.quorum.tick_time_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while state.ended.is_none() {
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                connected = &mut connect, if connecting => {
                    connecting = false;
                    match connected {
                        Ok(c) => {
                            info!(sid = self.my_id, leader = %c.peer, "connected to the leader");
                            state.conn = Some(c.sender);
                            let actions = state.core.connected(self.now_ms());
                            self.learner_actions(state, events, actions).await?;
                        }
                        Err(e) => state.ended = Some(format!("cannot reach the leader: {e}")),
                    }
                }
                event = events.recv(), if !connecting => {
                    let Some(event) = event else {
                        state.ended = Some("the connection's reader is gone".into());
                        continue;
                    };
                    self.leader_event(state, events, event).await?;
                    // Group commit: what else already arrived, then one flush.
                    for _ in 0..EVENTS_PER_FLUSH {
                        if state.ended.is_some() {
                            break;
                        }
                        let Ok(event) = events.try_recv() else { break };
                        self.leader_event(state, events, event).await?;
                    }
                }
                request = next_request(&mut state.requests) => match request {
                    Some(request) => self.learner_request(state, events, request).await?,
                    None => state.requests = None,
                },
                _ = tick.tick() => {
                    let actions = state.core.tick(self.now_ms());
                    self.learner_actions(state, events, actions).await?;
                }
                // A proposal is durable before it is ACKed (and NEWLEADER's ACK waits for the
                // txns of the sync).
                durable = state.flush.done() => {
                    let durable = durable?;
                    self.db.flush_done(durable);
                    let actions = state.core.log_flushed(durable);
                    self.learner_actions(state, events, actions).await?;
                }
            }
            if state.ended.is_none() {
                state.flush.start_if_due(&mut self.db)?;
            }
            self.snapshot_if_due().await?;
        }
        Ok(())
    }

    async fn leader_event(
        &mut self,
        state: &mut Following,
        events: &mut mpsc::Receiver<LeaderEvent>,
        event: LeaderEvent,
    ) -> Result<(), NodeError> {
        let actions = match event {
            LeaderEvent::Packet(packet) => {
                let mode = packet.r#type;
                if matches!(
                    mode,
                    PacketType::Diff | PacketType::Trunc | PacketType::Snap
                ) {
                    info!(sid = self.my_id, zxid = %format_args!("{:#x}", packet.zxid), "sync mode {}", mode.name());
                    self.status.send_modify(|s| s.syncs.push(mode));
                }
                state.core.on_packet(packet, self.now_ms())
            }
            LeaderEvent::Snapshot(_) => {
                state.ended = Some("a snapshot body without SNAP".into());
                return Ok(());
            }
            LeaderEvent::Closed(reason) => state.core.disconnected(&reason),
        };
        self.learner_actions(state, events, actions).await
    }

    async fn learner_request(
        &mut self,
        state: &mut Following,
        events: &mut mpsc::Receiver<LeaderEvent>,
        request: NodeRequest,
    ) -> Result<(), NodeError> {
        let actions = match request {
            NodeRequest::Forward { request, authinfo } => state.core.forward(&request, authinfo),
            NodeRequest::Revalidate {
                session_id,
                timeout_ms,
            } => state.core.revalidate(session_id, timeout_ms),
            NodeRequest::TouchSession {
                session_id,
                timeout_ms,
            } => {
                state.core.touch_session(session_id, timeout_ms);
                Vec::new()
            }
            NodeRequest::ForgetSession(session_id) => {
                state.core.forget_session(session_id);
                Vec::new()
            }
            other => {
                warn!(
                    sid = self.my_id,
                    "a leader's request at a learner: {other:?}"
                );
                Vec::new()
            }
        };
        self.learner_actions(state, events, actions).await
    }

    /// Carries out the core's actions in order; each completes before the next.
    async fn learner_actions(
        &mut self,
        state: &mut Following,
        events: &mut mpsc::Receiver<LeaderEvent>,
        actions: Vec<Action>,
    ) -> Result<(), NodeError> {
        for action in actions {
            if state.ended.is_some() {
                break;
            }
            match action {
                Action::Send(packet) => {
                    if let Some(conn) = &state.conn {
                        conn.send(packet);
                    }
                }
                Action::WriteAcceptedEpoch(e) => self.db.write_epoch(true, e)?,
                Action::WriteCurrentEpoch(e) => self.db.write_epoch(false, e)?,
                Action::CreateUpdatingEpochFile => self.db.updating_epoch_marker(true)?,
                Action::DeleteUpdatingEpochFile => self.db.updating_epoch_marker(false)?,
                // A sync that did not complete left state in memory that is not on disk:
                // it is dropped before the next vote (Java's `zkDb.clear()` after a SNAP).
                Action::ReloadDatabase => {
                    if self.db.has_tree() {
                        self.db.reload()?;
                    } else {
                        warn!(sid = self.my_id, "reload asked for while serving; skipped");
                    }
                }
                Action::Truncate { zxid } => {
                    self.db.truncate(zxid).map_err(|e| NodeError::Halt {
                        exit_code: EXIT_QUORUM_PACKET_ERROR,
                        reason: format!("TRUNC to {zxid:#x} failed: {e}"),
                    })?;
                }
                Action::LoadSnapshot { zxid } => self.load_snapshot(state, events, zxid).await,
                Action::Apply(entry) => {
                    if self.db.has_tree() {
                        self.db.apply(entry);
                    } else {
                        self.db.note_committed(entry.clone());
                        self.pipeline.apply(entry);
                    }
                }
                Action::TakeSnapshot { .. } => {
                    // Snapshots are always fsynced here, so `sync` asks for nothing more.
                    if self.db.has_tree() {
                        self.db.take_snapshot()?;
                    } else {
                        warn!(
                            sid = self.my_id,
                            "snapshot asked for while serving; skipped"
                        );
                    }
                }
                Action::Log(entry) => {
                    self.metrics
                        .add(crate::metrics::Counter::LearnerProposalReceivedCount, 1);
                    self.db.append(&entry)?;
                    state.flush.appended();
                }
                Action::Commit(entry) => {
                    self.metrics
                        .add(crate::metrics::Counter::LearnerCommitReceivedCount, 1);
                    // The designated archiver archives what it sees committed (it logged it
                    // before: a PROPOSAL or INFORM is logged first).
                    if let Some(archiver) = self.learner_archiver() {
                        archiver.committed(vec![entry.clone()]);
                    }
                    if self.db.has_tree() {
                        self.db.apply(entry);
                    } else {
                        self.db.note_committed(entry.clone());
                        self.pipeline.apply(entry);
                    }
                }
                Action::SyncDone { session_id, cxid } => self.pipeline.sync_done(session_id, cxid),
                Action::Revalidated { session_id, valid } => {
                    self.pipeline.revalidated(session_id, valid)
                }
                Action::StartServing { epoch } => {
                    self.election().handle().update_election_vote(epoch);
                    let serving_role = match state.role {
                        LearnerRole::Follower => ServingRole::Follower,
                        LearnerRole::Observer => ServingRole::Observer,
                    };
                    info!(sid = self.my_id, epoch, role = ?serving_role, "synced with the leader");
                    let sync_time = match state.role {
                        LearnerRole::Follower => crate::metrics::SummaryKind::FollowerSyncTime,
                        LearnerRole::Observer => crate::metrics::SummaryKind::ObserverSyncTime,
                    };
                    self.metrics.record_since(sync_time, state.since);
                    if let Some(archiver) = self.learner_archiver() {
                        // What the sync brought is in the log; the archiver catches up from it.
                        archiver.activate(self.db.tree().last_processed_zxid());
                    }
                    state.requests = Some(self.serve(serving_role, epoch, 0));
                }
                Action::LeaderLost { reason } => state.ended = Some(reason),
                Action::Halt { exit_code, reason } => {
                    return Err(NodeError::Halt { exit_code, reason })
                }
            }
        }
        Ok(())
    }

    /// SNAP: the body is the next event on the connection.
    async fn load_snapshot(
        &mut self,
        state: &mut Following,
        events: &mut mpsc::Receiver<LeaderEvent>,
        zxid: i64,
    ) {
        let wait = Duration::from_millis(self.quorum.init_limit_ms().max(1000));
        let body = match tokio::time::timeout(wait, events.recv()).await {
            Ok(Some(LeaderEvent::Snapshot(tree))) => tree,
            Ok(Some(LeaderEvent::Closed(reason))) => {
                state.ended = Some(format!("connection lost during the SNAP body: {reason}"));
                return;
            }
            Ok(other) => {
                state.ended = Some(format!("expected the SNAP body, got {other:?}"));
                return;
            }
            Err(_) => {
                state.ended = Some("the SNAP body did not arrive in time".into());
                return;
            }
        };
        match self.db.load_snapshot(*body, zxid) {
            Ok(()) => info!(
                sid = self.my_id,
                zxid = %format_args!("{zxid:#x}"),
                nodes = self.db.tree().node_count(),
                "loaded the leader's snapshot"
            ),
            Err(e) => state.ended = Some(format!("the leader's snapshot does not load: {e}")),
        }
    }
}

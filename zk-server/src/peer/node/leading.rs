//! LEADING: the learner listener and the [`Leader`] core (Java's `Leader.lead` and its
//! `LearnerHandler`s), as `quorum::sim`'s `roles.rs` carries out the core's actions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::storage::snapshot;
use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{info, warn};
use zk_proto::quorum::{PacketType, QuorumPacket};
use zk_proto::txn::TxnEntry;

use crate::peer::quorum_net::{self, LearnerEvent, PacketSender};
use crate::quorum::leader::{self, Action, Leader, LeaderConfig, LeaderStart, LearnerId};

use super::flush::LogFlush;
use super::serving::{NodeRequest, ServingRole};
use super::{next_request, tick_period, Node, NodeError};

/// The pieces a SNAP body is queued in.
const SNAP_CHUNK_BYTES: usize = 1 << 20;

/// The state of one leadership.
struct Leading {
    core: Leader,
    learners: HashMap<LearnerId, PacketSender>,
    /// Proposals not committed yet (the committed log gets them at their commit).
    proposed: BTreeMap<i64, Arc<TxnEntry>>,
    /// What the `observers` command shows of each connection.
    stats: HashMap<LearnerId, crate::admin::LearnerInfo>,
    /// When each of them was proposed (`quorum_ack_latency`).
    proposed_at: std::collections::VecDeque<(i64, std::time::Instant)>,
    /// The serving side's requests, once established.
    requests: Option<mpsc::UnboundedReceiver<NodeRequest>>,
    /// The log's fsyncs, off this task.
    flush: LogFlush,
    /// Why the leadership ended, once it has.
    ended: Option<String>,
    /// With `backup.maxLagMs=0`: what the archive holds, which commits wait for.
    archived: Option<tokio::sync::watch::Receiver<i64>>,
}

impl Node {
    /// Leads until the core steps down or the node stops.
    pub(super) async fn lead(&mut self) -> Result<(), NodeError> {
        let me = self.quorum.me().expect("checked at start").clone();
        let address = &me.addresses[0];
        let bound = quorum_net::bind(
            &address.host,
            address.quorum_port,
            self.quorum.quorum_listen_on_all_ips,
        )
        .await;
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                // Java's Leader constructor fails the same way; the peer goes back to LOOKING.
                warn!(sid = self.my_id, error = %e, "cannot bind the quorum port");
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(
                    self.quorum.tick_time_ms,
                )))
                .await;
                return Ok(());
            }
        };
        let (events_tx, mut events) = mpsc::channel(1024);
        let listener =
            quorum_net::listen_for_learners(listener, self.cfg.max_txn_bytes(), events_tx);
        let config = LeaderConfig {
            my_id: self.my_id,
            quorum: self.quorum.verifier.clone(),
            config_bytes: Bytes::from(self.quorum.verifier.to_config_text()),
            tick_time_ms: u64::from(self.quorum.tick_time_ms),
            init_limit: u64::from(self.quorum.init_limit),
            sync_limit: u64::from(self.quorum.sync_limit),
            force_snap_sync: self.cfg.property("zookeeper.forceSnapshotSync") == Some("true"),
        };
        let start = LeaderStart {
            accepted_epoch: self.db.accepted_epoch,
            current_epoch: self.db.current_epoch,
            last_processed_zxid: self.db.tree().last_processed_zxid(),
            committed_log: self.db.committed_log(),
        };
        let (mut core, actions) = Leader::new(config, start, self.now_ms());
        core.set_disk_history(Box::new(self.db.disk_history()));
        // RPO zero: no COMMIT (and so no reply, here or on a learner) before the archive
        // holds the txn.
        let archived = self
            .leader_archiver()
            .filter(|a| a.is_synchronous())
            .map(|a| a.archived_watch());
        if let Some(rx) = &archived {
            core.gate_commits_on_archive(*rx.borrow());
        }
        let mut role = Leading {
            core,
            learners: HashMap::new(),
            proposed: BTreeMap::new(),
            proposed_at: std::collections::VecDeque::new(),
            stats: HashMap::new(),
            requests: None,
            flush: LogFlush::default(),
            ended: None,
            archived,
        };
        let mut result = self.run_leading(&mut role, &mut events, actions).await;
        if let Some(archiver) = self.leader_archiver() {
            archiver.deactivate();
        }
        if let Err(e) = role.flush.finish(&mut self.db).await {
            result = result.and(Err(e));
        }
        for sender in role.learners.values() {
            sender.close();
        }
        listener.stop().await;
        if let Some(reason) = &role.ended {
            info!(sid = self.my_id, "stopped leading: {reason}");
        }
        result
    }

    async fn run_leading(
        &mut self,
        role: &mut Leading,
        events: &mut mpsc::Receiver<(LearnerId, LearnerEvent)>,
        actions: Vec<Action>,
    ) -> Result<(), NodeError> {
        self.leader_actions(role, actions).await?;
        let mut tick = tokio::time::interval(tick_period(self.quorum.tick_time_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while role.ended.is_none() {
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                event = events.recv() => {
                    let Some((id, event)) = event else { return Ok(()) };
                    self.learner_event(role, id, event).await?;
                }
                request = next_request(&mut role.requests) => match request {
                    Some(request) => {
                        self.leader_request(role, request).await?;
                        // Group commit: take what else is queued, then one flush.
                        while let Some(Ok(request)) =
                            role.requests.as_mut().map(|rx| rx.try_recv())
                        {
                            self.leader_request(role, request).await?;
                        }
                    }
                    // The serving side dropped its handle: nothing more will be proposed.
                    None => role.requests = None,
                },
                _ = tick.tick() => {
                    let actions = role.core.on_tick(self.now_ms());
                    self.leader_actions(role, actions).await?;
                    if role.requests.is_some() {
                        let mut counts = role.core.counts();
                        counts.observers = role
                            .core
                            .synced_observers()
                            .into_iter()
                            .filter_map(|id| {
                                let sid = role.core.learner_sid(id)?;
                                let info = role.stats.get(&id)?;
                                Some(crate::admin::LearnerInfo { sid, ..info.clone() })
                            })
                            .collect();
                        self.pipeline.leader_counts(counts);
                    }
                }
                archived = archive_moved(&mut role.archived) => {
                    match archived {
                        Some(zxid) => {
                            let actions = role.core.archived(zxid, self.now_ms());
                            self.leader_actions(role, actions).await?;
                        }
                        // The archiver stopped: nothing can commit any more.
                        None => role.ended = Some("the backup archiver stopped".into()),
                    }
                }
                durable = role.flush.done() => {
                    let durable = durable?;
                    self.db.flush_done(durable);
                    let actions = role.core.log_flushed(durable, self.now_ms());
                    self.leader_actions(role, actions).await?;
                }
            }
            if role.ended.is_none() {
                role.flush.start_if_due(&mut self.db)?;
            }
            self.snapshot_if_due().await?;
        }
        Ok(())
    }

    async fn learner_event(
        &mut self,
        role: &mut Leading,
        id: LearnerId,
        event: LearnerEvent,
    ) -> Result<(), NodeError> {
        let now = self.now_ms();
        match event {
            LearnerEvent::Connected { sender, peer } => {
                let established_wall_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                role.stats.insert(
                    id,
                    crate::admin::LearnerInfo {
                        remote_socket_address: crate::admin::java_socket_addr(&peer),
                        established_wall_ms,
                        last_zxid: -1,
                        ..Default::default()
                    },
                );
                role.learners.insert(id, sender);
                role.core.learner_connected(id, now);
                Ok(())
            }
            LearnerEvent::Packet(packet) => {
                if let Some(s) = role.stats.get_mut(&id) {
                    s.packets_received += 1;
                    if packet.r#type == zk_proto::quorum::PacketType::Request {
                        s.requests += 1;
                    }
                }
                if packet.r#type == zk_proto::quorum::PacketType::Ack {
                    self.note_ack(role, id, packet.zxid);
                }
                let actions = role.core.on_packet(id, packet, now);
                self.leader_actions(role, actions).await
            }
            LearnerEvent::Closed(_) => {
                role.stats.remove(&id);
                role.learners.remove(&id);
                role.core.learner_disconnected(id);
                Ok(())
            }
        }
    }

    async fn leader_request(
        &mut self,
        role: &mut Leading,
        request: NodeRequest,
    ) -> Result<(), NodeError> {
        let now = self.now_ms();
        let actions = match request {
            NodeRequest::Propose(entry) => {
                let zxid = entry.header.zxid;
                let last = role.proposed.keys().next_back().copied();
                let expected_epoch = role.core.epoch();
                let in_order = last.is_none_or(|l| zxid > l)
                    && zxid > role.core.last_committed()
                    && zxid >> 32 == expected_epoch;
                if !in_order {
                    warn!(
                        sid = self.my_id,
                        zxid = %format_args!("{zxid:#x}"),
                        "proposal out of order or of another epoch; dropped"
                    );
                    return Ok(());
                }
                self.db.append(&entry)?;
                role.flush.appended();
                self.metrics.add(crate::metrics::Counter::ProposalCount, 1);
                role.proposed_at
                    .push_back((zxid, std::time::Instant::now()));
                role.proposed.insert(zxid, entry.clone());
                role.core.propose(entry, now)
            }
            NodeRequest::SyncReached(learner) => role.core.sync_reached(learner),
            NodeRequest::Revalidated {
                learner,
                session_id,
                valid,
            } => role.core.revalidated(learner, session_id, valid),
            other => {
                warn!(
                    sid = self.my_id,
                    "a learner's request at the leader: {other:?}"
                );
                Vec::new()
            }
        };
        self.leader_actions(role, actions).await
    }

    /// Carries out the core's actions in order.
    async fn leader_actions(
        &mut self,
        role: &mut Leading,
        actions: Vec<Action>,
    ) -> Result<(), NodeError> {
        for action in actions {
            if role.ended.is_some() {
                break;
            }
            match action {
                Action::Send(id, packet) => {
                    if packet.r#type == zk_proto::quorum::PacketType::Diff {
                        self.metrics.add(crate::metrics::Counter::DiffCount, 1);
                    }
                    if let Some(s) = role.stats.get_mut(&id) {
                        s.packets_sent += 1;
                        if packet.zxid > 0 {
                            s.last_zxid = packet.zxid;
                        }
                    }
                    if let Some(sender) = role.learners.get(&id) {
                        sender.send(packet);
                    }
                }
                Action::SendSnapshot(id, zxid) => {
                    self.metrics.add(crate::metrics::Counter::SnapCount, 1);
                    self.send_snapshot(role, id, zxid).await?
                }
                Action::SendLogTxns {
                    learner,
                    after,
                    through,
                } => self.send_log_txns(role, learner, after, through),
                Action::WriteAcceptedEpoch(e) => self.db.write_epoch(true, e)?,
                Action::WriteCurrentEpoch(e) => self.db.write_epoch(false, e)?,
                Action::Established { zxid } => {
                    let epoch = zxid >> 32;
                    self.election().handle().update_election_vote(epoch);
                    info!(sid = self.my_id, epoch, "LEADING: a quorum is synced");
                    // Everything in this leader's history is committed now.
                    if let Some(archiver) = self.leader_archiver() {
                        archiver.activate(self.db.tree().last_processed_zxid());
                    }
                    role.requests = Some(self.serve(ServingRole::Leader, epoch, zxid));
                }
                Action::Commit(zxid) => {
                    while let Some(&(proposed, at)) = role.proposed_at.front() {
                        if proposed > zxid {
                            break;
                        }
                        role.proposed_at.pop_front();
                        self.metrics
                            .record_since(crate::metrics::SummaryKind::QuorumAckLatency, at);
                    }
                    let later = role.proposed.split_off(&(zxid + 1));
                    // Gated on the archive, the archiver had these at their quorum already.
                    let hand_over = self.leader_archiver().is_some() && role.archived.is_none();
                    let mut committed = Vec::new();
                    for (_, entry) in std::mem::replace(&mut role.proposed, later) {
                        if hand_over {
                            committed.push(entry.clone());
                        }
                        self.db.note_committed(entry);
                    }
                    if let Some(archiver) = self.leader_archiver() {
                        archiver.committed(committed);
                    }
                    self.pipeline.commit_through(zxid);
                }
                Action::QuorumAcked { after, through } => {
                    if let Some(archiver) = self.leader_archiver() {
                        let entries = role
                            .proposed
                            .range(after + 1..=through)
                            .map(|(_, e)| e.clone())
                            .collect();
                        archiver.committed(entries);
                    }
                }
                Action::Request {
                    learner,
                    request,
                    authinfo,
                } => self.pipeline.learner_request(learner, request, authinfo),
                Action::TouchSessions(touches) => self.pipeline.touch_sessions(touches),
                Action::Revalidate {
                    learner,
                    session_id,
                    timeout_ms,
                } => self.pipeline.revalidate(learner, session_id, timeout_ms),
                Action::DropLearner(id, reason) => self.drop_learner(role, id, reason),
                Action::StepDown(reason) => role.ended = Some(reason),
            }
        }
        Ok(())
    }

    /// `ack_latency` of a learner's ACK of a proposal still waiting for its quorum.
    fn note_ack(&self, role: &Leading, id: LearnerId, zxid: i64) {
        let Some(sid) = role.core.learner_sid(id) else {
            return;
        };
        let proposed = &role.proposed_at;
        if let Ok(at) = proposed.binary_search_by_key(&zxid, |&(z, _)| z) {
            let ms = proposed[at].1.elapsed().as_millis() as i64;
            let key = sid.to_string();
            self.metrics
                .record_in_n(crate::metrics::SummarySet::AckLatency, &key, ms, 1);
        }
    }

    /// SNAP's body: the tree as of `zxid` in Java's format, then the signature.
    async fn send_snapshot(
        &mut self,
        role: &mut Leading,
        id: LearnerId,
        zxid: i64,
    ) -> Result<(), NodeError> {
        let tree = self.current_tree().await?;
        let Some(sender) = role.learners.get(&id) else {
            return Ok(());
        };
        if tree.last_processed_zxid() != zxid {
            // The serving side broke its contract; a wrong tree would corrupt the learner.
            warn!(
                sid = self.my_id,
                learner = id,
                tree = %format_args!("{:#x}", tree.last_processed_zxid()),
                snap = %format_args!("{zxid:#x}"),
                "the tree is not at the SNAP zxid; dropping the learner"
            );
            self.drop_learner(
                role,
                id,
                leader::DropReason::Protocol("tree not at SNAP".into()),
            );
            return Ok(());
        }
        let sender = sender.clone();
        // Serialized off the runtime's threads, straight from the tree (an O(1) copy), and
        // sent a chunk at a time while the rest is serialized. The packets after the body are
        // queued only once all of it is.
        let started = std::time::Instant::now();
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = 0;
            snapshot::snap_sync_body(&tree, SNAP_CHUNK_BYTES, &mut |chunk| {
                bytes += chunk.len();
                sender.send_raw(chunk.into());
            })
            .map(|()| bytes)
        })
        .await
        .map_err(|e| NodeError::Storage(format!("serializing a SNAP body: {e}")))?
        .map_err(|e| NodeError::Storage(format!("serializing a SNAP body: {e}")))?;
        info!(sid = self.my_id, learner = id, bytes, ms = started.elapsed().as_millis() as u64, zxid = %format_args!("{zxid:#x}"), "sent a snapshot");
        Ok(())
    }

    /// The part of a DIFF older than the committed log, read from the on-disk log.
    fn send_log_txns(&mut self, role: &mut Leading, id: LearnerId, after: i64, through: i64) {
        let Some(sender) = role.learners.get(&id) else {
            return;
        };
        match self.db.logged_txns(after, through) {
            Ok(entries) => {
                info!(
                    sid = self.my_id,
                    learner = id,
                    count = entries.len(),
                    "sending txns from the on-disk log"
                );
                let count = entries.len() as u64;
                self.status.send_modify(|s| s.txns_sent_from_disk += count);
                for entry in entries {
                    let zxid = entry.header.zxid;
                    let data = Bytes::from(entry.to_bytes());
                    sender.send(QuorumPacket::new(PacketType::Proposal, zxid, Some(data)));
                    sender.send(QuorumPacket::new(PacketType::Commit, zxid, None));
                }
            }
            Err(e) => {
                warn!(
                    sid = self.my_id,
                    learner = id,
                    "reading the log for a DIFF: {e}"
                );
                self.drop_learner(role, id, leader::DropReason::Protocol(e));
            }
        }
    }

    fn drop_learner(&self, role: &mut Leading, id: LearnerId, reason: leader::DropReason) {
        warn!(
            sid = self.my_id,
            learner = id,
            ?reason,
            "dropping a learner"
        );
        if let Some(sender) = role.learners.remove(&id) {
            sender.close();
        }
        role.core.learner_disconnected(id);
    }
}

/// The archived zxid once it moves (`None`: the archiver is gone); never resolves without a
/// gate.
async fn archive_moved(archived: &mut Option<tokio::sync::watch::Receiver<i64>>) -> Option<i64> {
    match archived {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

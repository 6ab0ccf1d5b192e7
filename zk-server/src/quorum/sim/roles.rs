//! What the runtime does with the cores' actions: the contract a real runtime follows too
//! (see the module docs of `sim`).

use std::sync::Arc;

use zk_proto::quorum::ServerState;
use zk_proto::txn::TxnEntry;

use crate::quorum::election::{self, Decision};
use crate::quorum::leader::{self, Leader, LeaderConfig, LeaderStart};
use crate::quorum::learner::{self, Learner, LearnerConfig, LearnerRole, LocalState};
use crate::quorum::verifier::QuorumMaj;
use crate::storage::log::TxnLog;

use super::check::{epoch_write, Violation};
use super::net::{ConnId, Event};
use super::node::{last_zxid, Following, Leading, Role};
use super::{Sim, INIT_LIMIT, SYNC_LIMIT, TICK_TIME_MS};

type Step = Result<(), Violation>;

impl Sim {
    pub(super) fn election_actions(&mut self, sid: i64, actions: Vec<election::Action>) -> Step {
        for action in actions {
            match action {
                election::Action::Send { to, notification } => {
                    self.net.notify(sid, to, notification)
                }
                election::Action::Broadcast { notification } => {
                    for &to in self.voters.iter().filter(|&&v| v != sid) {
                        self.net.notify(sid, to, notification.clone());
                    }
                }
                // Every election connection counts as up (see `restart`).
                election::Action::ConnectAll => {}
                election::Action::Decided(d) => self.start_role(sid, d)?,
                election::Action::NewerConfig { from, .. } => {
                    return Err(format!("server {sid}: newer config from {from}"))
                }
            }
        }
        Ok(())
    }

    fn start_role(&mut self, sid: i64, d: Decision) -> Step {
        self.next_role += 1;
        let id = self.next_role;
        let now = self.net.now_ms;
        self.trace(format!(
            "{sid} decided {:?} leader {} (round {}, epoch {}, zxid {:#x})",
            d.state, d.leader, d.election_epoch, d.peer_epoch, d.zxid
        ));
        let node = self.nodes.get_mut(&sid).expect("node");
        if d.state == ServerState::Leading {
            let cfg = LeaderConfig {
                my_id: sid,
                quorum: QuorumMaj::from_text(&self.config, false).expect("config"),
                config_bytes: self.config.clone().into(),
                tick_time_ms: TICK_TIME_MS,
                init_limit: INIT_LIMIT,
                sync_limit: SYNC_LIMIT,
                force_snap_sync: false,
            };
            let start = LeaderStart {
                accepted_epoch: node.disk.accepted_epoch,
                current_epoch: node.disk.current_epoch,
                last_processed_zxid: node.last_processed(),
                committed_log: node.committed_log(),
            };
            let (core, actions) = Leader::new(cfg, start, now);
            node.role = Role::Leading(Box::new(Leading {
                core,
                id,
                outstanding: Default::default(),
                next_zxid: None,
            }));
            self.leader_actions(sid, actions)
        } else {
            let cfg = LearnerConfig {
                server_id: sid,
                role: if node.observer {
                    LearnerRole::Observer
                } else {
                    LearnerRole::Follower
                },
                config_version: 0,
                tick_ms: TICK_TIME_MS,
                init_limit: INIT_LIMIT,
                sync_limit: SYNC_LIMIT,
                connect_limit: INIT_LIMIT,
                observer_sync_enabled: true,
            };
            let local = LocalState {
                accepted_epoch: node.disk.accepted_epoch,
                current_epoch: node.disk.current_epoch,
                last_logged_zxid: node.last_processed(),
                force_snapshot_after_election: false,
            };
            node.role = Role::Following(Box::new(Following {
                core: Learner::new(cfg, local, now),
                id,
                leader: d.leader,
                conn: None,
                next_connect_ms: now,
            }));
            self.try_connect(sid);
            Ok(())
        }
    }

    /// A learner without a connection dials its leader again (Java's `connectToLeader` retries).
    pub(super) fn try_connect(&mut self, sid: i64) {
        let now = self.net.now_ms;
        let Role::Following(f) = &mut self.nodes.get_mut(&sid).expect("node").role else {
            return;
        };
        if f.conn.is_some() || now < f.next_connect_ms {
            return;
        }
        if f.core.zab_state() != learner::ZabState::Discovery {
            return;
        }
        f.next_connect_ms = now + 200;
        let (role, leader) = (f.id, f.leader);
        let d = self.net.delay();
        self.net.after(
            d,
            Event::ConnectRequest {
                learner: sid,
                role,
                leader,
            },
        );
    }

    /// The role ends: close its connections, fast-forward the database, look for a leader.
    pub(super) fn end_role(&mut self, sid: i64, why: &str) -> Step {
        let now = self.net.now_ms;
        let node = self.nodes.get_mut(&sid).expect("node");
        match std::mem::replace(&mut node.role, Role::Looking) {
            Role::Looking => return Ok(()),
            Role::Leading(l) => {
                let conns: Vec<ConnId> = self
                    .net
                    .conns
                    .iter()
                    .filter(|(_, c)| c.leader_role == l.id)
                    .map(|(&id, _)| id)
                    .collect();
                for conn in conns {
                    self.net.close(conn, true);
                }
            }
            Role::Following(f) => {
                if let Some(conn) = f.conn {
                    self.net.close(conn, false);
                }
            }
        }
        self.trace(format!("{sid} back to election: {why}"));
        self.member_stops(sid);
        let node = self.nodes.get_mut(&sid).expect("node");
        node.fast_forward();
        let (zxid, epoch) = (node.last_processed(), node.disk.current_epoch);
        let actions = node
            .election
            .as_mut()
            .expect("up")
            .look_for_leader(now, zxid, epoch);
        self.election_actions(sid, actions)
    }

    fn write_epoch(&mut self, sid: i64, accepted: bool, epoch: i64) -> Step {
        let disk = &mut self.nodes.get_mut(&sid).expect("node").disk;
        let (old, name) = if accepted {
            (disk.accepted_epoch, "acceptedEpoch")
        } else {
            (disk.current_epoch, "currentEpoch")
        };
        if accepted {
            disk.accepted_epoch = epoch;
        } else {
            disk.current_epoch = epoch;
        }
        epoch_write(
            sid,
            name,
            old,
            epoch,
            disk.accepted_epoch,
            disk.current_epoch,
        )
    }

    pub(super) fn schedule_flush(&mut self, sid: i64) {
        let node = self.nodes.get_mut(&sid).expect("node");
        if node.disk.flushing {
            return;
        }
        node.disk.flushing = true;
        let (lo, hi) = node.disk_latency_ms;
        let incarnation = node.incarnation;
        let d = self.net.rng.range(lo, hi);
        self.net.after(d, Event::Flush { sid, incarnation });
    }

    /// Appends a txn to a node's log; zxids must increase.
    pub(super) fn log_append(&mut self, sid: i64, e: &TxnEntry) -> Step {
        self.check.known(sid, e)?;
        let log = &mut self.nodes.get_mut(&sid).expect("node").disk.log;
        let last = log.last_logged_zxid();
        if e.header.zxid <= last {
            return Err(format!(
                "server {sid} logs {:#x} after {last:#x}",
                e.header.zxid
            ));
        }
        log.append(e).expect("memory log");
        self.schedule_flush(sid);
        Ok(())
    }

    pub(super) fn leader_actions(&mut self, sid: i64, actions: Vec<leader::Action>) -> Step {
        let mut actions = actions.into_iter().peekable();
        while let Some(action) = actions.next() {
            let node = self.nodes.get_mut(&sid).expect("node");
            let Role::Leading(l) = &mut node.role else {
                return Ok(());
            };
            match action {
                leader::Action::Send(conn, packet) => {
                    let snapshot = match actions.peek() {
                        Some(leader::Action::SendSnapshot(c, zxid)) if *c == conn => {
                            let zxid = *zxid;
                            actions.next();
                            let body: Vec<Arc<TxnEntry>> = node
                                .tree
                                .iter()
                                .filter(|e| e.header.zxid <= zxid)
                                .cloned()
                                .collect();
                            Some(Arc::new(body))
                        }
                        _ => None,
                    };
                    self.net.send_to_learner(conn, packet, snapshot);
                }
                leader::Action::SendSnapshot(conn, _) => {
                    return Err(format!("leader {sid}: snapshot for {conn} without SNAP"))
                }
                leader::Action::SendLogTxns { learner, .. } => {
                    return Err(format!(
                        "leader {sid}: txn-log sync for {learner} without a disk history"
                    ))
                }
                leader::Action::WriteAcceptedEpoch(e) => self.write_epoch(sid, true, e)?,
                leader::Action::WriteCurrentEpoch(e) => self.write_epoch(sid, false, e)?,
                leader::Action::Established { zxid } => {
                    let epoch = zxid >> 32;
                    l.next_zxid = Some(zxid + 1);
                    node.synced = true;
                    node.processed_mark = zxid;
                    if let Some(e) = node.election.as_mut() {
                        e.update_election_vote(epoch);
                    }
                    self.check.established(sid, epoch, &node.tree)?;
                    let line = format!("{sid} LEADS epoch {epoch} with {} txns", node.tree.len());
                    self.trace(line);
                    self.established += 1;
                }
                leader::Action::Commit(zxid) => {
                    let Some(e) = l.outstanding.remove(&zxid) else {
                        return Err(format!("leader {sid} commits unknown {zxid:#x}"));
                    };
                    self.apply(sid, e, true)?;
                    self.commits += 1;
                }
                leader::Action::Request {
                    learner, request, ..
                } => self.leader_request(sid, Some(learner), &request)?,
                // There are no sessions in the sim.
                // The simulation runs no archive gate, so it never sees QuorumAcked.
                leader::Action::TouchSessions(_)
                | leader::Action::Revalidate { .. }
                | leader::Action::QuorumAcked { .. } => {}
                leader::Action::DropLearner(conn, reason) => {
                    self.trace(format!("{sid} drops learner conn {conn}: {reason:?}"));
                    self.net.close(conn, true);
                }
                leader::Action::StepDown(reason) => self.end_role(sid, &reason)?,
            }
        }
        Ok(())
    }

    /// A synced node applies a committed txn (`may_extend`: the leader's own commit).
    fn apply(&mut self, sid: i64, e: Arc<TxnEntry>, may_extend: bool) -> Step {
        let node = self.nodes.get_mut(&sid).expect("node");
        let prev = node.last_zxid();
        if e.header.zxid <= prev {
            return Err(format!(
                "server {sid} applies {:#x} after {prev:#x}",
                e.header.zxid
            ));
        }
        if node.synced {
            self.check.applied(sid, prev, &e, may_extend)?;
        } else {
            self.check.applied_in_sync(sid, &e)?;
        }
        node.tree.push(e.clone());
        self.client_applied(sid, &e);
        Ok(())
    }

    pub(super) fn learner_actions(
        &mut self,
        sid: i64,
        actions: Vec<learner::Action>,
        mut snapshot: Option<Arc<Vec<Arc<TxnEntry>>>>,
    ) -> Step {
        for action in actions {
            let node = self.nodes.get_mut(&sid).expect("node");
            let Role::Following(f) = &mut node.role else {
                return Ok(());
            };
            match action {
                learner::Action::Send(packet) => {
                    let Some(conn) = f.conn else {
                        return Err(format!("learner {sid} sends without a connection"));
                    };
                    self.net.send_to_leader(conn, packet);
                }
                learner::Action::WriteAcceptedEpoch(e) => self.write_epoch(sid, true, e)?,
                learner::Action::WriteCurrentEpoch(e) => self.write_epoch(sid, false, e)?,
                learner::Action::CreateUpdatingEpochFile => node.disk.updating_epoch = true,
                learner::Action::DeleteUpdatingEpochFile => node.disk.updating_epoch = false,
                learner::Action::Truncate { zxid } => {
                    // The disk must hold the state up to `zxid`: a tree loaded by an
                    // unpersisted SNAP can be ahead of it. Java then fails the truncation
                    // (no log to cut: IOException; else it would miss txns silently); the
                    // contract is to stop the server, which a supervisor restarts.
                    let reach = node
                        .disk
                        .snapshot_zxid
                        .max(node.disk.log.last_logged_zxid());
                    if zxid > 0 && reach < zxid {
                        self.trace(format!(
                            "{sid} cannot TRUNC to {zxid:#x}: its disk ends at {reach:#x}; exits"
                        ));
                        self.trunc_exits += 1;
                        self.crash(sid);
                        self.net.after(1000, Event::Restart { sid });
                        return Ok(());
                    }
                    // ZKDatabase.truncateLog: cut the log, reload from the disk.
                    node.disk.log.truncate_after(zxid).expect("memory log");
                    node.disk.snapshot.retain(|e| e.header.zxid <= zxid);
                    node.disk.snapshot_zxid = node.disk.snapshot_zxid.min(zxid);
                    node.load_from_disk();
                    self.trace(format!("{sid} TRUNC to {zxid:#x}"));
                    self.truncs += 1;
                }
                learner::Action::LoadSnapshot { zxid } => {
                    let Some(body) = snapshot.take() else {
                        return Err(format!("learner {sid}: SNAP without a snapshot"));
                    };
                    if last_zxid(&body) > zxid {
                        return Err(format!(
                            "learner {sid}: SNAP {zxid:#x} carries a tree up to {:#x}",
                            last_zxid(&body)
                        ));
                    }
                    node.tree = body.to_vec();
                    node.committed_log_floor = zxid;
                    node.processed_mark = zxid;
                    self.trace(format!("{sid} SNAP at {zxid:#x}"));
                    self.snaps += 1;
                }
                learner::Action::Apply(e) => self.apply(sid, e, false)?,
                learner::Action::TakeSnapshot { .. } => {
                    node.disk.snapshot = node.tree.clone();
                    node.disk.snapshot_zxid = node.last_processed();
                }
                learner::Action::Log(e) => self.log_append(sid, &e)?,
                learner::Action::Commit(e) => self.apply(sid, e, false)?,
                learner::Action::SyncDone { session_id, cxid } => {
                    self.client_synced(sid, session_id, cxid)
                }
                learner::Action::Revalidated { .. } => {}
                learner::Action::StartServing { epoch } => {
                    self.check.tree_is_prefix(sid, &node.tree)?;
                    node.synced = true;
                    if let Some(e) = node.election.as_mut() {
                        e.update_election_vote(epoch);
                    }
                    let line = format!("{sid} serves epoch {epoch}, {} txns", node.tree.len());
                    self.trace(line);
                }
                learner::Action::ReloadDatabase => {
                    // Nothing of this sync was logged; earlier roles flushed their log.
                    node.load_from_disk();
                    let line = format!("{sid} reloads its database: {:#x}", node.last_processed());
                    self.trace(line);
                    self.reloads += 1;
                }
                learner::Action::LeaderLost { reason } => self.end_role(sid, &reason)?,
                learner::Action::Halt { exit_code, reason } => {
                    return Err(format!("server {sid} halts ({exit_code}): {reason}"))
                }
            }
        }
        Ok(())
    }
}

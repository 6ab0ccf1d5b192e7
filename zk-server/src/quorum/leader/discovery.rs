//! Discovery and synchronization: FOLLOWERINFO/OBSERVERINFO, the epoch vote, LEADERINFO and
//! ACKEPOCH, each learner's sync plan and NEWLEADER, the NEWLEADER quorum and UPTODATE.

use super::{Action, DropReason, Leader, LearnerId, Phase, Stage};
use crate::quorum::sync::{plan_sync, SyncInput, SyncPlan};
use zk_proto::quorum::{int_data, LearnerInfoData, PacketType, QuorumPacket, ZAB_PROTOCOL_VERSION};

impl Leader {
    pub(super) fn on_info(
        &mut self,
        learner: LearnerId,
        p: &QuorumPacket,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        let observer = match p.r#type {
            PacketType::FollowerInfo => false,
            PacketType::ObserverInfo => true,
            other => {
                return Err(DropReason::Protocol(format!(
                    "first packet {} is not FOLLOWERINFO or OBSERVERINFO",
                    other.name()
                )))
            }
        };
        let (sid, version) = match &p.data {
            Some(data) => {
                let info = LearnerInfoData::parse(data)
                    .map_err(|e| DropReason::Protocol(e.to_string()))?;
                if info
                    .config_version()
                    .is_some_and(|v| v > self.cfg.quorum.version)
                {
                    return Err(DropReason::ConfigAhead);
                }
                (info.serverid(), info.protocol_version())
            }
            None => {
                let sid = self.follower_counter;
                self.follower_counter -= 1;
                (sid, 0x1)
            }
        };
        if version < ZAB_PROTOCOL_VERSION {
            return Err(DropReason::Protocol(format!(
                "protocol version {version:#x} (pre-3.4 learners are not supported)"
            )));
        }
        let l = self.learners.get_mut(&learner).expect("present");
        l.sid = sid;
        l.observer = observer;
        l.stage = Stage::AwaitEpoch;
        self.offer_epoch(sid, p.zxid >> 32, out);
        Ok(())
    }

    /// Java's `getEpochToPropose`: counts `sid`'s accepted epoch and decides the epoch once a
    /// quorum including the leader has come.
    pub(super) fn offer_epoch(&mut self, sid: i64, accepted_epoch: i64, out: &mut Vec<Action>) {
        if self.phase == Phase::Discovery {
            if accepted_epoch >= self.epoch {
                self.epoch = accepted_epoch + 1;
            }
            if self.is_voter(sid) {
                self.connecting.insert(sid);
            }
            if self.connecting.contains(&self.cfg.my_id)
                && self.cfg.quorum.is_quorum(&self.connecting)
            {
                self.accepted_epoch = self.epoch;
                self.last_proposed = self.epoch << 32;
                out.push(Action::WriteAcceptedEpoch(self.epoch));
                self.phase = Phase::EpochAcks;
                self.phase_deadline_ms = self.now_ms + self.cfg.init_limit * self.cfg.tick_time_ms;
                // The leader's own epoch ack (its summary is never more recent than itself).
                self.electing.insert(self.cfg.my_id);
                self.check_epoch_quorum(out);
            }
        }
        if self.phase == Phase::Discovery {
            return;
        }
        let waiting = self.learners_in(Stage::AwaitEpoch);
        for id in waiting {
            self.learners.get_mut(&id).expect("present").stage = Stage::AwaitAckEpoch;
            Self::send(
                out,
                id,
                PacketType::LeaderInfo,
                self.epoch << 32,
                Some(int_data(ZAB_PROTOCOL_VERSION)),
            );
        }
    }

    pub(super) fn on_ack_epoch(
        &mut self,
        learner: LearnerId,
        p: &QuorumPacket,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        if p.r#type != PacketType::AckEpoch {
            return Err(DropReason::Protocol(format!(
                "{} is not ACKEPOCH",
                p.r#type.name()
            )));
        }
        let data = p.data_bytes();
        let Some(epoch_bytes) = data.get(..4) else {
            return Err(DropReason::Protocol(format!(
                "ACKEPOCH data of {} bytes",
                data.len()
            )));
        };
        let current_epoch = i32::from_be_bytes(epoch_bytes.try_into().expect("4 bytes"));
        let l = self.learners.get_mut(&learner).expect("present");
        l.peer_last_zxid = p.zxid;
        l.stage = Stage::AwaitEpochQuorum;
        let sid = l.sid;
        if self.phase == Phase::EpochAcks {
            let (leader_epoch, leader_zxid) = self.leader_summary;
            let epoch = i64::from(current_epoch);
            if current_epoch != -1 {
                // StateSummary.isMoreRecentThan
                if epoch > leader_epoch || (epoch == leader_epoch && p.zxid > leader_zxid) {
                    return Err(DropReason::LearnerAhead);
                }
                if p.zxid != -1 && self.is_voter(sid) {
                    self.electing.insert(sid);
                }
            }
            self.check_epoch_quorum(out);
        }
        if self.phase != Phase::EpochAcks {
            self.sync_waiting(out);
        }
        Ok(())
    }

    /// Java's `waitForEpochAck` completing: the epoch becomes current and the leader acks its
    /// own NEWLEADER (`lead()`'s `waitForNewLeaderAck(self)`).
    pub(super) fn check_epoch_quorum(&mut self, out: &mut Vec<Action>) {
        if self.phase != Phase::EpochAcks
            || !self.electing.contains(&self.cfg.my_id)
            || !self.cfg.quorum.is_quorum(&self.electing)
        {
            return;
        }
        self.current_epoch = self.epoch;
        out.push(Action::WriteCurrentEpoch(self.epoch));
        self.phase = Phase::NewLeaderAcks;
        self.phase_deadline_ms = self.now_ms + self.cfg.init_limit * self.cfg.tick_time_ms;
        self.sync_waiting(out);
        self.new_leader_acks.insert(self.cfg.my_id);
        self.check_new_leader_quorum(out);
    }

    /// Runs the sync of every learner waiting for the epoch quorum, in id order.
    pub(super) fn sync_waiting(&mut self, out: &mut Vec<Action>) {
        let waiting = self.learners_in(Stage::AwaitEpochQuorum);
        for id in waiting {
            self.sync_learner(id, out);
        }
    }

    /// `syncFollower`, `startForwarding`, then NEWLEADER.
    pub(super) fn sync_learner(&mut self, id: LearnerId, out: &mut Vec<Action>) {
        let l = &self.learners[&id];
        let (peer, observer) = (l.peer_last_zxid, l.observer);
        let zxids: Vec<i64> = self.committed_log.iter().map(|(z, _)| *z).collect();
        let min_committed = zxids.first().copied().unwrap_or(self.last_processed_zxid);
        let disk = if peer < min_committed {
            self.disk.as_ref().and_then(|d| d.reach(peer))
        } else {
            None
        };
        let plan = plan_sync(&SyncInput {
            peer_last_zxid: peer,
            last_processed_zxid: self.last_processed_zxid,
            committed_log: &zxids,
            force_snap: self.cfg.force_snap_sync,
            disk,
        });
        let (after, through) = match plan {
            SyncPlan::Diff {
                diff_zxid,
                after,
                through,
            } => {
                Self::send(out, id, PacketType::Diff, diff_zxid, None);
                (after, through)
            }
            SyncPlan::Trunc { to, after, through } => {
                Self::send(out, id, PacketType::Trunc, to, None);
                (after, through)
            }
            SyncPlan::Snap { zxid } => {
                Self::send(out, id, PacketType::Snap, zxid, None);
                out.push(Action::SendSnapshot(id, zxid));
                (zxid, zxid)
            }
        };
        if through > after {
            // Java reads the disk log up to minCommittedLog, then the committed log after it.
            let mut from = after;
            if after < min_committed {
                out.push(Action::SendLogTxns {
                    learner: id,
                    after,
                    through: min_committed,
                });
                from = min_committed;
            }
            for (zxid, data) in &self.committed_log {
                if *zxid > from && *zxid <= through {
                    Self::send(out, id, PacketType::Proposal, *zxid, Some(data.clone()));
                    Self::send(out, id, PacketType::Commit, *zxid, None);
                }
            }
        }
        // startForwarding: proposals not yet committed follow (participants only).
        let synced = plan.synced_through(peer);
        if self.last_proposed > synced && !observer {
            for (zxid, p) in self.outstanding.range(synced + 1..) {
                Self::send(out, id, PacketType::Proposal, *zxid, Some(p.data.clone()));
            }
        }
        let l = self.learners.get_mut(&id).expect("present");
        l.forwarding = true;
        l.stage = Stage::AwaitNewLeaderAck;
        let newleader = QuorumPacket::new(
            PacketType::NewLeader,
            self.epoch << 32,
            Some(self.cfg.config_bytes.clone()),
        );
        out.push(Action::Send(id, newleader));
    }

    pub(super) fn on_new_leader_ack(
        &mut self,
        learner: LearnerId,
        p: &QuorumPacket,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        if p.r#type != PacketType::Ack {
            return Err(DropReason::Protocol(format!(
                "expected the NEWLEADER ACK, got {}",
                p.r#type.name()
            )));
        }
        let l = self.learners.get_mut(&learner).expect("present");
        l.stage = Stage::AwaitStartup;
        l.ack_check.started = true;
        l.tick_of_next_ack_deadline = self.tick + self.cfg.sync_limit;
        let sid = l.sid;
        // Java ignores (with an error log) an ACK of another epoch's NEWLEADER.
        if self.phase == Phase::NewLeaderAcks && p.zxid == self.epoch << 32 && self.is_voter(sid) {
            self.new_leader_acks.insert(sid);
            self.check_new_leader_quorum(out);
        }
        if self.phase == Phase::Broadcast {
            self.start_learner(learner, out);
        }
        Ok(())
    }

    /// `startZkServer`: the leader serves from `epoch << 32`.
    pub(super) fn check_new_leader_quorum(&mut self, out: &mut Vec<Action>) {
        if self.phase != Phase::NewLeaderAcks || !self.cfg.quorum.is_quorum(&self.new_leader_acks) {
            return;
        }
        let zxid = self.epoch << 32;
        self.phase = Phase::Broadcast;
        self.last_committed = zxid;
        self.last_processed_zxid = zxid;
        self.next_ping_ms = self.now_ms + (self.cfg.tick_time_ms / 2).max(1);
        out.push(Action::Established { zxid });
        let waiting = self.learners_in(Stage::AwaitStartup);
        for id in waiting {
            self.start_learner(id, out);
        }
    }

    pub(super) fn start_learner(&mut self, id: LearnerId, out: &mut Vec<Action>) {
        if let Some(l) = self
            .learners
            .get_mut(&id)
            .filter(|l| l.stage == Stage::AwaitStartup)
        {
            l.stage = Stage::Active;
            Self::send(out, id, PacketType::UpToDate, -1, None);
        }
    }
}

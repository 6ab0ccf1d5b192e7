//! Broadcast: proposals, ACK counting and commits in zxid order, PINGs and the liveness
//! checks of Java's `lead()` loop, and the learner packets of the steady state (REQUEST, PING
//! touches, REVALIDATE).

use super::{
    AckCheck, Action, DropReason, Leader, LearnerId, Outstanding, Phase, Stage, COMMIT_LOG_COUNT,
};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::Arc;
use zk_proto::quorum::{
    LearnerRequest, PacketType, PingTouches, QuorumPacket, RevalidateReply, RevalidateRequest,
};
use zk_proto::txn::TxnEntry;

impl AckCheck {
    fn update_proposal(&mut self, zxid: i64, now_ms: u64) {
        if !self.started {
            return;
        }
        if self.current.is_none() {
            self.current = Some((zxid, now_ms));
        } else {
            self.next = Some((zxid, now_ms));
        }
    }

    fn update_ack(&mut self, zxid: i64) {
        if self.current.is_some_and(|(z, _)| z == zxid) {
            self.current = self.next.take();
        } else if self.next.is_some_and(|(z, _)| z == zxid) {
            self.next = None;
        }
    }

    fn ok(&self, now_ms: u64, sync_timeout_ms: u64) -> bool {
        self.current
            .is_none_or(|(_, sent)| now_ms.saturating_sub(sent) < sync_timeout_ms)
    }
}

impl Leader {
    /// A txn the local pipeline assigned the next zxid: PROPOSAL to every follower past its
    /// sync plan (learners still syncing get it after their sync packets). Before the leader is
    /// established nothing is proposed. A zxid counter of `0xffffffff` makes the leader step
    /// down (Java's rollover guard: the next epoch starts over).
    pub fn propose(&mut self, entry: Arc<TxnEntry>, now_ms: u64) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        if self.phase != Phase::Broadcast {
            return out;
        }
        let zxid = entry.header.zxid;
        if zxid & 0xffff_ffff == 0xffff_ffff {
            self.step_down(
                "zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start".into(),
                &mut out,
            );
            return out;
        }
        let data = Bytes::from(entry.to_bytes());
        self.last_proposed = zxid;
        for (&id, l) in self.learners.iter_mut() {
            if l.forwarding && !l.observer {
                l.ack_check.update_proposal(zxid, now_ms);
                Self::send(&mut out, id, PacketType::Proposal, zxid, Some(data.clone()));
            }
        }
        self.outstanding.insert(
            zxid,
            Outstanding {
                entry,
                data,
                acks: BTreeSet::new(),
            },
        );
        out
    }

    /// The leader's own log is durable up to `zxid`: its ACK for every proposal up to there.
    pub fn log_flushed(&mut self, zxid: i64, now_ms: u64) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        if self.phase == Phase::Stopped {
            return out;
        }
        let flushed: Vec<i64> = self
            .outstanding
            .range(self.self_flushed + 1..=zxid)
            .map(|(&z, _)| z)
            .collect();
        self.self_flushed = self.self_flushed.max(zxid);
        for z in flushed {
            self.process_ack(self.cfg.my_id, z, &mut out);
        }
        out
    }

    /// A forwarded `sync` reached the leader's proposal stage (Java's `processSync`): SYNC now
    /// if nothing is outstanding, else once the last proposal commits.
    pub fn sync_reached(&mut self, learner: LearnerId) -> Vec<Action> {
        let mut out = Vec::new();
        if self.outstanding.is_empty() {
            Self::send(&mut out, learner, PacketType::Sync, 0, None);
        } else {
            self.pending_syncs
                .entry(self.last_proposed)
                .or_default()
                .push(learner);
        }
        out
    }

    /// The answer to an [`Action::Revalidate`]: REVALIDATE(-1, session, valid) to the learner.
    pub fn revalidated(&mut self, learner: LearnerId, session_id: i64, valid: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if self.learners.contains_key(&learner) {
            let data = RevalidateReply { session_id, valid }.to_bytes();
            Self::send(
                &mut out,
                learner,
                PacketType::Revalidate,
                -1,
                Some(data.into()),
            );
        }
        out
    }

    /// Java's `processAck` and `tryToCommit`: commits in zxid order once the voters that
    /// acked form a quorum. Unlike Java, a commit also retries the next proposal, so one that
    /// reached its quorum first is not left waiting for another ACK.
    pub(super) fn process_ack(&mut self, sid: i64, zxid: i64, out: &mut Vec<Action>) {
        // ACKs of NEWLEADER and UPTODATE carry `epoch << 32`.
        if zxid & 0xffff_ffff == 0 || self.last_committed >= zxid {
            return;
        }
        let voter = self.is_voter(sid);
        let Some(p) = self.outstanding.get_mut(&zxid) else {
            return;
        };
        if voter {
            p.acks.insert(sid);
        }
        self.advance_commits(out);
    }

    /// Moves the quorum watermark over the proposals, in zxid order, that a quorum acked,
    /// then commits up to it (or, with an archive gate, up to what the archive holds).
    pub(super) fn advance_commits(&mut self, out: &mut Vec<Action>) {
        let mut acked = self.quorum_acked.max(self.last_committed);
        while let Some(p) = self.outstanding.get(&(acked + 1)) {
            if !self.cfg.quorum.is_quorum(&p.acks) {
                break;
            }
            acked += 1;
        }
        self.quorum_acked = acked;
        let limit = match self.archive_gate {
            None => acked,
            Some(gate) => {
                // What the archiver is handed must be in this leader's own log too.
                let handed = acked.min(self.self_flushed);
                // What was committed before is the archiver's already (it catches up on it
                // when activated).
                let after = self.archive_handed.max(self.last_committed);
                if handed > after {
                    out.push(Action::QuorumAcked {
                        after,
                        through: handed,
                    });
                    self.archive_handed = handed;
                }
                handed.min(gate)
            }
        };
        while self.last_committed < limit {
            self.commit(self.last_committed + 1, out);
        }
    }

    fn commit(&mut self, zxid: i64, out: &mut Vec<Action>) {
        let p = self.outstanding.remove(&zxid).expect("outstanding");
        self.last_committed = zxid;
        for (&id, l) in &self.learners {
            if l.forwarding && !l.observer {
                Self::send(out, id, PacketType::Commit, zxid, None);
            }
        }
        for (&id, l) in &self.learners {
            if l.forwarding && l.observer {
                Self::send(out, id, PacketType::Inform, zxid, Some(p.data.clone()));
            }
        }
        out.push(Action::Commit(zxid));
        debug_assert_eq!(p.entry.header.zxid, zxid);
        // Java's committed log holds up to commitLogCount + 1 entries.
        if self.committed_log.len() > COMMIT_LOG_COUNT {
            self.committed_log.pop_front();
        }
        self.committed_log.push_back((zxid, p.data));
        self.last_processed_zxid = zxid;
        for learner in self.pending_syncs.remove(&zxid).unwrap_or_default() {
            if self.learners.contains_key(&learner) {
                Self::send(out, learner, PacketType::Sync, 0, None);
            }
        }
    }

    /// A packet from a learner that got UPTODATE (`LearnerHandler.run`'s loop).
    pub(super) fn on_broadcast_packet(
        &mut self,
        learner: LearnerId,
        p: QuorumPacket,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        let bad = |e: zk_proto::jute::DecodeError| DropReason::Protocol(e.to_string());
        let tick = self.tick + self.cfg.sync_limit;
        let l = self.learners.get_mut(&learner).expect("present");
        l.tick_of_next_ack_deadline = tick;
        let sid = l.sid;
        match p.r#type {
            PacketType::Ack => {
                l.ack_check.update_ack(p.zxid);
                self.process_ack(sid, p.zxid, out);
            }
            PacketType::Ping => {
                let touches = PingTouches::parse(p.data_bytes()).map_err(bad)?;
                if !touches.0.is_empty() {
                    out.push(Action::TouchSessions(touches.0));
                }
            }
            PacketType::Revalidate => {
                // Java reads a long and an int and ignores anything after them.
                let data = p.data_bytes();
                let req = RevalidateRequest::parse(data.get(..12).unwrap_or(data)).map_err(bad)?;
                out.push(Action::Revalidate {
                    learner,
                    session_id: req.session_id,
                    timeout_ms: req.timeout_ms,
                });
            }
            PacketType::Request => {
                let request = LearnerRequest::parse(p.data_bytes()).map_err(bad)?;
                out.push(Action::Request {
                    learner,
                    request,
                    authinfo: p.authinfo,
                });
            }
            // Java logs "unexpected quorum packet" and reads on.
            _ => {}
        }
        Ok(())
    }

    /// Time passes: phase deadlines, learner read timeouts, and while broadcasting a PING
    /// round every `tickTime / 2` (a tick every other round, with the synced-quorum check).
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        let waiting = match self.phase {
            Phase::Stopped => return out,
            Phase::Discovery => Some("Timeout while waiting for epoch from quorum".to_owned()),
            Phase::EpochAcks => {
                Some("Timeout while waiting for epoch to be acked by quorum".to_owned())
            }
            Phase::NewLeaderAcks => Some(format!(
                "Waiting for a quorum of followers, only synced with sids: [ {} ]",
                join(&self.new_leader_acks)
            )),
            Phase::Broadcast => None,
        };
        if let Some(reason) = waiting {
            if now_ms >= self.phase_deadline_ms {
                self.step_down(reason, &mut out);
                return out;
            }
        }
        let (init_ms, sync_ms) = (
            self.cfg.init_limit * self.cfg.tick_time_ms,
            self.cfg.sync_limit * self.cfg.tick_time_ms,
        );
        let silent: Vec<LearnerId> = self
            .learners
            .iter()
            .filter(|(_, l)| {
                let limit = if matches!(l.stage, Stage::AwaitStartup | Stage::Active) {
                    sync_ms
                } else {
                    init_ms
                };
                now_ms.saturating_sub(l.last_heard_ms) >= limit
            })
            .map(|(&id, _)| id)
            .collect();
        for id in silent {
            self.drop_learner(id, DropReason::ReadTimeout, &mut out);
        }
        while self.phase == Phase::Broadcast && now_ms >= self.next_ping_ms {
            self.next_ping_ms += (self.cfg.tick_time_ms / 2).max(1);
            self.ping_round(now_ms, &mut out);
        }
        out
    }

    fn ping_round(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        if !self.tick_skip {
            self.tick += 1;
            let mut synced: BTreeSet<i64> = self
                .learners
                .values()
                .filter(|l| self.tick <= l.tick_of_next_ack_deadline)
                .map(|l| l.sid)
                .collect();
            synced.insert(self.cfg.my_id);
            if !self.cfg.quorum.is_quorum(&synced) {
                let reason = format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    join(&synced)
                );
                self.step_down(reason, out);
                return;
            }
        }
        self.tick_skip = !self.tick_skip;
        let sync_ms = self.cfg.sync_limit * self.cfg.tick_time_ms;
        let ids: Vec<LearnerId> = self.learners.keys().copied().collect();
        for id in ids {
            let l = &self.learners[&id];
            // No PING before NEWLEADER is queued (Java: the sender thread is not running).
            if matches!(
                l.stage,
                Stage::Info | Stage::AwaitEpoch | Stage::AwaitAckEpoch | Stage::AwaitEpochQuorum
            ) {
                continue;
            }
            if l.ack_check.ok(now_ms, sync_ms) {
                Self::send(out, id, PacketType::Ping, self.last_proposed, None);
            } else {
                self.drop_learner(id, DropReason::AckTimeout, out);
            }
        }
    }

    pub(super) fn step_down(&mut self, reason: String, out: &mut Vec<Action>) {
        self.phase = Phase::Stopped;
        self.learners.clear();
        out.push(Action::StepDown(reason));
    }
}

fn join(sids: &BTreeSet<i64>) -> String {
    sids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

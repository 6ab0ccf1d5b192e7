//! The ZAB leader as a sans-IO state machine (Java 3.8's `Leader` and `LearnerHandler`,
//! QUORUM.md 5). The runtime accepts learner connections on the quorum port, names each with a
//! [`LearnerId`], decodes [`QuorumPacket`]s and feeds them in; it performs the [`Action`]s in order
//! (per learner, the packets go out in the order given).
//!
//! Phases, as Java's `lead()` walks them:
//! - discovery: learners register (FOLLOWERINFO/OBSERVERINFO); once a quorum of voters
//!   including the leader has, the new epoch is `max(accepted epochs) + 1`
//!   ([`Action::WriteAcceptedEpoch`]) and every learner gets LEADERINFO; they answer ACKEPOCH;
//!   a quorum of those (learners that already accepted the epoch, ACKEPOCH -1, do not count)
//!   makes the epoch current ([`Action::WriteCurrentEpoch`]);
//! - synchronization: per learner the [`plan_sync`] packets, then NEWLEADER with the config;
//!   a quorum of NEWLEADER ACKs (the leader's own included) starts the leader
//!   ([`Action::Established`]) and those learners get UPTODATE;
//! - broadcast: see [`Leader::propose`], [`Leader::log_flushed`] and `broadcast.rs`.
//!
//! Each wait of the first two phases lasts at most `initLimit` ticks, as in Java; the leader
//! then steps down ([`Action::StepDown`]).

mod broadcast;
mod discovery;
#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod tests;

use super::sync::DiskLogReach;
use super::verifier::QuorumMaj;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use zk_proto::quorum::{LearnerRequest, PacketType, QuorumPacket, SessionTouch};
use zk_proto::txn::TxnEntry;

/// The runtime's name for one learner connection.
pub type LearnerId = u64;

/// Java's `zookeeper.commitLogCount` default: how many committed txns the leader keeps in memory.
pub const COMMIT_LOG_COUNT: usize = 500;

/// Fixed settings of a leader.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// This server's id.
    pub my_id: i64,
    /// The committed config: voters and observers.
    pub quorum: QuorumMaj,
    /// NEWLEADER's data: the last seen config's text (Java's `getQuorumVerifierBytes`).
    pub config_bytes: Bytes,
    /// `tickTime`.
    pub tick_time_ms: u64,
    /// `initLimit` in ticks.
    pub init_limit: u64,
    /// `syncLimit` in ticks.
    pub sync_limit: u64,
    /// `zookeeper.forceSnapshotSync`.
    pub force_snap_sync: bool,
}

/// What the leader starts from (its database and epoch files).
#[derive(Debug, Clone, Default)]
pub struct LeaderStart {
    /// `acceptedEpoch`.
    pub accepted_epoch: i64,
    /// `currentEpoch`.
    pub current_epoch: i64,
    /// The last zxid applied to the tree.
    pub last_processed_zxid: i64,
    /// The newest committed txns (up to [`COMMIT_LOG_COUNT`] + 1), ascending.
    pub committed_log: Vec<Arc<TxnEntry>>,
}

/// Answers, for a learner's zxid, what the on-disk txn log holds (the runtime looks at its log
/// files; see [`DiskLogReach`] and [`super::sync::txn_log_within_limit`]). `None` turns
/// txn-log sync off.
pub trait DiskHistory: Send {
    /// The log as seen from `peer_zxid`.
    fn reach(&self, peer_zxid: i64) -> Option<DiskLogReach>;
}

/// Why a learner connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// A packet the protocol does not allow here, or data that does not decode.
    Protocol(String),
    /// The learner's config version is newer than the leader's.
    ConfigAhead,
    /// Its ACKEPOCH shows a more recent state than the leader's.
    LearnerAhead,
    /// Nothing heard for `initLimit` (before its NEWLEADER ACK) or `syncLimit` ticks.
    ReadTimeout,
    /// A proposal stayed unacknowledged for `syncLimit` ticks (Java's `SyncLimitCheck`).
    AckTimeout,
}

/// What the runtime does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write a packet to a learner.
    Send(LearnerId, QuorumPacket),
    /// Stream the snapshot that follows a SNAP packet: the tree and sessions as of `zxid`
    /// (the leader's last processed zxid), then the signature `"BenWasHere"`.
    SendSnapshot(LearnerId, i64),
    /// Send the durable txns `after < zxid <= through` of the on-disk log, each as PROPOSAL
    /// then COMMIT (the part of a DIFF older than the committed log).
    SendLogTxns {
        /// The learner.
        learner: LearnerId,
        /// Txns after this zxid ...
        after: i64,
        /// ... through this one.
        through: i64,
    },
    /// Write `acceptedEpoch` (the new epoch was decided).
    WriteAcceptedEpoch(i64),
    /// Write `currentEpoch` (a quorum acknowledged the new epoch).
    WriteCurrentEpoch(i64),
    /// A quorum is synced: start serving; the next txn is `zxid + 1`.
    Established {
        /// `newEpoch << 32`.
        zxid: i64,
    },
    /// The local pipeline commits everything up to `zxid`.
    Commit(i64),
    /// With an archive gate: the proposals after `after` through `through` have their quorum
    /// and the leader's flush (they are committed in ZAB's sense and may be archived); their
    /// COMMIT waits for [`Leader::archived`]. Each zxid is reported once.
    QuorumAcked {
        /// The last zxid reported before.
        after: i64,
        /// The last zxid reported now.
        through: i64,
    },
    /// A client request a learner forwarded (sync included; see [`Leader::sync_reached`]).
    Request {
        /// The learner it came through.
        learner: LearnerId,
        /// The request.
        request: LearnerRequest,
        /// The client connection's auth ids.
        authinfo: Option<Vec<zk_proto::data::Id>>,
    },
    /// Sessions a learner saw activity on (its PING): touch them.
    TouchSessions(Vec<SessionTouch>),
    /// Check a session a learner re-attaches and answer with [`Leader::revalidated`].
    Revalidate {
        /// The learner.
        learner: LearnerId,
        /// The session.
        session_id: i64,
        /// Its timeout in ms.
        timeout_ms: i32,
    },
    /// Close a learner connection.
    DropLearner(LearnerId, DropReason),
    /// Stop leading (close every learner connection, go back to election).
    StepDown(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for FOLLOWERINFO / OBSERVERINFO.
    Info,
    /// Registered; LEADERINFO waits for the epoch.
    AwaitEpoch,
    /// LEADERINFO sent.
    AwaitAckEpoch,
    /// ACKEPOCH received; the sync waits for a quorum of epoch acks.
    AwaitEpochQuorum,
    /// Sync and NEWLEADER sent; the next packet must be an ACK.
    AwaitNewLeaderAck,
    /// NEWLEADER acked; UPTODATE waits for the leader to start.
    AwaitStartup,
    /// UPTODATE sent.
    Active,
}

#[derive(Debug)]
struct Learner {
    sid: i64,
    observer: bool,
    stage: Stage,
    peer_last_zxid: i64,
    /// In Java's forwarding sets: gets proposals/commits (followers) or informs (observers).
    forwarding: bool,
    last_heard_ms: u64,
    tick_of_next_ack_deadline: u64,
    ack_check: AckCheck,
    /// Packets Java's handler has not read yet: it blocks in the epoch and NEWLEADER waits.
    held: VecDeque<QuorumPacket>,
}

/// Java's `SyncLimitCheck`: when the oldest unacknowledged proposal (and the next) went out.
#[derive(Debug, Default)]
struct AckCheck {
    started: bool,
    current: Option<(i64, u64)>,
    next: Option<(i64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Discovery,
    EpochAcks,
    NewLeaderAcks,
    Broadcast,
    Stopped,
}

#[derive(Debug)]
struct Outstanding {
    entry: Arc<TxnEntry>,
    data: Bytes,
    acks: BTreeSet<i64>,
}

/// The leader's learner counts, for `mntr`, and the synced observers for `observers`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderCounts {
    /// Connected learners (followers and observers).
    pub learners: i64,
    /// Followers that receive proposals.
    pub synced_followers: i64,
    /// Observers that receive INFORMs.
    pub synced_observers: i64,
    /// Forwarded syncs waiting for a commit.
    pub pending_syncs: i64,
    /// The synced observers' details (filled by the node, which sees their connections).
    pub observers: Vec<crate::admin::LearnerInfo>,
}

/// The leader.
pub struct Leader {
    cfg: LeaderConfig,
    phase: Phase,
    phase_deadline_ms: u64,
    accepted_epoch: i64,
    current_epoch: i64,
    epoch: i64,
    connecting: BTreeSet<i64>,
    electing: BTreeSet<i64>,
    new_leader_acks: BTreeSet<i64>,
    follower_counter: i64,
    learners: BTreeMap<LearnerId, Learner>,
    committed_log: VecDeque<(i64, Bytes)>,
    last_processed_zxid: i64,
    leader_summary: (i64, i64),
    outstanding: BTreeMap<i64, Outstanding>,
    last_proposed: i64,
    last_committed: i64,
    /// Proposals through here have their quorum (and the leader's own flush).
    quorum_acked: i64,
    /// With `backup.maxLagMs=0`: what the archive holds; nothing commits beyond it.
    archive_gate: Option<i64>,
    /// The last zxid reported as [`Action::QuorumAcked`].
    archive_handed: i64,
    self_flushed: i64,
    pending_syncs: BTreeMap<i64, Vec<LearnerId>>,
    tick: u64,
    tick_skip: bool,
    next_ping_ms: u64,
    disk: Option<Box<dyn DiskHistory>>,
    /// The time of the input being handled.
    now_ms: u64,
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader")
            .field("my_id", &self.cfg.my_id)
            .field("phase", &self.phase)
            .field("epoch", &self.epoch)
            .field("learners", &self.learners.len())
            .field("last_proposed", &self.last_proposed)
            .field("last_committed", &self.last_committed)
            .finish_non_exhaustive()
    }
}

impl Leader {
    /// A leader that just won the election at `now_ms`. It joins its own epoch vote at once
    /// (Java's `lead()` calling `getEpochToPropose` for itself), so a single-voter ensemble
    /// decides the epoch here.
    pub fn new(cfg: LeaderConfig, start: LeaderStart, now_ms: u64) -> (Leader, Vec<Action>) {
        let committed_log = start
            .committed_log
            .iter()
            .map(|e| (e.header.zxid, Bytes::from(e.to_bytes())))
            .collect();
        let mut leader = Leader {
            phase: Phase::Discovery,
            phase_deadline_ms: now_ms + cfg.init_limit * cfg.tick_time_ms,
            accepted_epoch: start.accepted_epoch,
            current_epoch: start.current_epoch,
            epoch: -1,
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            new_leader_acks: BTreeSet::new(),
            follower_counter: -1,
            learners: BTreeMap::new(),
            committed_log,
            last_processed_zxid: start.last_processed_zxid,
            leader_summary: (start.current_epoch, start.last_processed_zxid),
            outstanding: BTreeMap::new(),
            last_proposed: 0,
            last_committed: -1,
            quorum_acked: -1,
            archive_gate: None,
            archive_handed: -1,
            self_flushed: 0,
            pending_syncs: BTreeMap::new(),
            tick: 0,
            tick_skip: true,
            next_ping_ms: 0,
            disk: None,
            now_ms,
            cfg,
        };
        let mut out = Vec::new();
        let (my_id, accepted) = (leader.cfg.my_id, leader.accepted_epoch);
        leader.offer_epoch(my_id, accepted, &mut out);
        (leader, out)
    }

    /// Commits (COMMIT, INFORM and the local [`Action::Commit`]) wait until the backup archive
    /// holds the txn (`backup.maxLagMs=0` in an ensemble), which holds `archived_through` now:
    /// a proposal with its quorum is reported as [`Action::QuorumAcked`] for the archiver,
    /// and [`Leader::archived`] lets the commits follow the archive.
    pub fn gate_commits_on_archive(&mut self, archived_through: i64) {
        self.archive_gate = Some(archived_through);
    }

    /// The archive holds every txn through `zxid` now: commit what it releases.
    pub fn archived(&mut self, zxid: i64, now_ms: u64) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        if let Some(gate) = &mut self.archive_gate {
            *gate = (*gate).max(zxid);
            if self.phase != Phase::Stopped {
                self.advance_commits(&mut out);
            }
        }
        out
    }

    /// Lets syncs read the on-disk txn log for learners older than the committed log.
    pub fn set_disk_history(&mut self, disk: Box<dyn DiskHistory>) {
        self.disk = Some(disk);
    }

    /// The epoch being led (-1 until decided).
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Whether the leader is serving (a quorum synced) and has not stepped down.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// The last zxid proposed (PING's zxid).
    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }

    /// The last zxid committed.
    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    /// A learner connected.
    pub fn learner_connected(&mut self, learner: LearnerId, now_ms: u64) {
        self.now_ms = now_ms;
        if self.phase == Phase::Stopped {
            return;
        }
        self.learners.insert(
            learner,
            Learner {
                sid: 0,
                observer: false,
                stage: Stage::Info,
                peer_last_zxid: 0,
                forwarding: false,
                last_heard_ms: now_ms,
                tick_of_next_ack_deadline: self.tick + self.cfg.init_limit + self.cfg.sync_limit,
                ack_check: AckCheck::default(),
                held: VecDeque::new(),
            },
        );
    }

    /// A learner connection closed (nothing is sent to it any more).
    pub fn learner_disconnected(&mut self, learner: LearnerId) {
        self.learners.remove(&learner);
    }

    /// A packet from a learner.
    pub fn on_packet(
        &mut self,
        learner: LearnerId,
        packet: QuorumPacket,
        now_ms: u64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.now_ms = now_ms;
        if self.phase == Phase::Stopped {
            return out;
        }
        let Some(l) = self.learners.get_mut(&learner) else {
            return out;
        };
        l.last_heard_ms = now_ms;
        l.held.push_back(packet);
        // Handle what each learner sent, as far as its stage lets Java's handler read.
        loop {
            let ready = self.learners.iter().find(|(_, l)| {
                !l.held.is_empty()
                    && !matches!(
                        l.stage,
                        Stage::AwaitEpoch | Stage::AwaitEpochQuorum | Stage::AwaitStartup
                    )
            });
            let Some((&id, _)) = ready else {
                break;
            };
            let l = self.learners.get_mut(&id).expect("present");
            let packet = l.held.pop_front().expect("non-empty");
            let result = match l.stage {
                Stage::Info => self.on_info(id, &packet, &mut out),
                Stage::AwaitAckEpoch => self.on_ack_epoch(id, &packet, &mut out),
                Stage::AwaitNewLeaderAck => self.on_new_leader_ack(id, &packet, &mut out),
                _ => self.on_broadcast_packet(id, packet, &mut out),
            };
            if let Err(reason) = result {
                self.drop_learner(id, reason, &mut out);
            }
            if self.phase == Phase::Stopped {
                break;
            }
        }
        out
    }

    fn drop_learner(&mut self, learner: LearnerId, reason: DropReason, out: &mut Vec<Action>) {
        if self.learners.remove(&learner).is_some() {
            out.push(Action::DropLearner(learner, reason));
        }
    }

    fn is_voter(&self, sid: i64) -> bool {
        self.cfg.quorum.voting_members().any(|m| m.id == sid)
    }

    fn send(
        out: &mut Vec<Action>,
        learner: LearnerId,
        r#type: PacketType,
        zxid: i64,
        data: Option<Bytes>,
    ) {
        out.push(Action::Send(learner, QuorumPacket::new(r#type, zxid, data)));
    }

    /// The observers that receive INFORMs, by connection.
    pub fn synced_observers(&self) -> Vec<LearnerId> {
        let mut ids: Vec<LearnerId> = self
            .learners
            .iter()
            .filter(|(_, l)| l.forwarding && l.observer)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The server id a learner connection announced (`None` before its LEARNERINFO).
    pub fn learner_sid(&self, learner: LearnerId) -> Option<i64> {
        self.learners
            .get(&learner)
            .map(|l| l.sid)
            .filter(|&sid| sid != 0)
    }

    /// What `mntr` shows of the learners (Java's `getLearners`, `getForwardingFollowers`,
    /// `getObservingLearners`, `getNumPendingSyncs`).
    pub fn counts(&self) -> LeaderCounts {
        let synced = |observer: bool| {
            self.learners
                .values()
                .filter(|l| l.forwarding && l.observer == observer)
                .count() as i64
        };
        LeaderCounts {
            learners: self.learners.len() as i64,
            synced_followers: synced(false),
            synced_observers: synced(true),
            pending_syncs: self.pending_syncs.values().map(|v| v.len() as i64).sum(),
            observers: Vec::new(),
        }
    }

    /// The learners at `stage`, in id order.
    fn learners_in(&self, stage: Stage) -> Vec<LearnerId> {
        self.learners
            .iter()
            .filter(|(_, l)| l.stage == stage)
            .map(|(&id, _)| id)
            .collect()
    }
}

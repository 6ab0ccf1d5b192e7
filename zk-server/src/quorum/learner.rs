//! A follower or an observer talking to its leader (Java 3.8's `Learner`, `Follower`,
//! `Observer` and the parts of `FollowerZooKeeperServer` / `ObserverZooKeeperServer` that
//! decide what goes on the quorum socket), as one sans-IO state machine; the role is a
//! parameter.
//!
//! One [`Learner`] lives for one connection to one leader, like Java's `Follower` object for one
//! `followLeader()` run: when it returns [`Action::LeaderLost`] the runtime drops it and goes
//! back to the election. The runtime feeds it the connection events, the [`QuorumPacket`]s the
//! leader sends, how far its txn log is durable ([`Learner::log_flushed`]), ticks, and what its
//! clients need from the leader; it carries out the returned [`Action`]s in order.
//!
//! The phases (QUORUM.md 5):
//! - **discovery**: FOLLOWERINFO / OBSERVERINFO, LEADERINFO, ACKEPOCH;
//! - **synchronization**: DIFF, TRUNC or SNAP, then PROPOSAL / COMMIT (or INFORM) pairs the
//!   learner missed, NEWLEADER (ACKed once everything received so far is durable, the rule of
//!   ZOOKEEPER-4785 in 3.8.5), UPTODATE (ACKed, then serving starts); state of a newer epoch
//!   than `currentEpoch` persisted at NEWLEADER is bracketed by the `updatingEpoch` marker
//!   (Java 3.4), and a sync lost before the NEWLEADER snapshot has the database reloaded
//!   from disk (Java 3.8 for SNAP, here for TRUNC with applied txns too);
//! - **broadcast**: PROPOSAL is logged and ACKed after its flush, COMMIT applies in order,
//!   observers log and apply INFORMs; PING, SYNC and REVALIDATE are answered.
//!
//! The leader is lost when it is silent for `initLimit` ticks before NEWLEADER and `syncLimit`
//! ticks after (Java's socket read timeouts), when the connection drops, or when it sends
//! something Java would fail on.

mod broadcast;
mod syncing;

#[cfg(test)]
mod replay;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use tracing::{error, info, warn};
use zk_proto::data::Id;
use zk_proto::quorum::{
    LearnerInfo, LearnerInfoData, LearnerRequest, PacketType, QuorumPacket, RevalidateRequest,
    ZAB_PROTOCOL_VERSION,
};
use zk_proto::txn::TxnEntry;
use zk_proto::OpCode;

use syncing::SyncState;

/// Java's exit code when a COMMIT does not match the next logged proposal
/// (`ExitCode.UNMATCHED_TXN_COMMIT`).
pub const EXIT_UNMATCHED_TXN_COMMIT: i32 = 12;
/// Java's exit code for a sync packet it cannot handle or a failed TRUNC
/// (`ExitCode.QUORUM_PACKET_ERROR`).
pub const EXIT_QUORUM_PACKET_ERROR: i32 = 13;

pub use zk_proto::quorum::{epoch_of_zxid, make_zxid};

/// What the learner is to its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerRole {
    /// A voting member: logs and ACKs proposals, applies them on COMMIT.
    Follower,
    /// A non-voting member: receives committed txns only (INFORM) and ACKs none of them.
    Observer,
}

/// Settings (from zoo.cfg).
#[derive(Debug, Clone)]
pub struct LearnerConfig {
    /// This server's id (`myid`).
    pub server_id: i64,
    /// Follower or observer.
    pub role: LearnerRole,
    /// The version of the last activated config (sent in LearnerInfo).
    pub config_version: i64,
    /// tickTime in ms.
    pub tick_ms: u64,
    /// Ticks the leader may stay silent until NEWLEADER (`initLimit`).
    pub init_limit: u64,
    /// Ticks the leader may stay silent after NEWLEADER (`syncLimit`).
    pub sync_limit: u64,
    /// Ticks allowed to connect to the leader (`connectToLearnerMasterLimit`, which defaults to
    /// `initLimit`).
    pub connect_limit: u64,
    /// Observers write the txns they are informed of to their log
    /// (`zookeeper.observer.syncEnabled`, default true).
    pub observer_sync_enabled: bool,
}

/// What the learner's storage holds when it starts following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalState {
    /// The `acceptedEpoch` file.
    pub accepted_epoch: i64,
    /// The `currentEpoch` file.
    pub current_epoch: i64,
    /// The zxid of the last txn in the database (Java's `getLastLoggedZxid`: the data tree's
    /// last processed zxid after loading the snapshot and the log).
    pub last_logged_zxid: i64,
    /// A DIFF still takes a snapshot at NEWLEADER: the database was loaded from a log without
    /// a snapshot (Java's `shouldForceWriteInitialSnapshotAfterLeaderElection`, an upgrade).
    pub force_snapshot_after_election: bool,
}

/// What the runtime must do, in the order returned. Epoch writes, [`Action::Truncate`],
/// [`Action::LoadSnapshot`] and [`Action::TakeSnapshot`] complete before the next action is
/// carried out (Java does them on the thread that reads the leader's packets); [`Action::Log`]
/// only appends, and the runtime reports durability later with [`Learner::log_flushed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write a packet to the leader.
    Send(QuorumPacket),
    /// Write the `acceptedEpoch` file.
    WriteAcceptedEpoch(i64),
    /// Write the `currentEpoch` file.
    WriteCurrentEpoch(i64),
    /// Create the `updatingEpoch` marker, durably
    /// ([`crate::quorum::epoch::create_updating_epoch_file`]): what follows until
    /// [`Action::DeleteUpdatingEpochFile`] persists state of a newer epoch than `currentEpoch`
    /// (the NEWLEADER snapshot, txns logged at NEWLEADER) ahead of the [`Action::WriteCurrentEpoch`]
    /// that covers it. A start that finds the marker takes `currentEpoch` from the last zxid
    /// ([`crate::quorum::epoch::reconcile_epochs`]). Java 3.4's mechanism; 3.8 has none.
    CreateUpdatingEpochFile,
    /// Remove the `updatingEpoch` marker: `currentEpoch` is written.
    DeleteUpdatingEpochFile,
    /// TRUNC: drop the logged txns after `zxid` and reload the database from the snapshot and
    /// the log up to it (`ZKDatabase.truncateLog`); the last processed zxid becomes `zxid`. If
    /// the log cannot be cut there, stop the server as Java does (exit
    /// [`EXIT_QUORUM_PACKET_ERROR`]).
    Truncate {
        /// The last zxid kept.
        zxid: i64,
    },
    /// SNAP: the bytes right after this packet on the leader's stream are a SNAP body
    /// (`zk_proto::storage::read_snap_sync_body`): read it and replace the database with it;
    /// the last processed zxid becomes `zxid`. The `/zookeeper/config` node keeps the local
    /// config, as Java's does without reconfig. A missing signature loses the leader
    /// ([`Learner::disconnected`], which then asks for [`Action::ReloadDatabase`]).
    LoadSnapshot {
        /// The leader's last processed zxid.
        zxid: i64,
    },
    /// Apply a txn to the database without logging it (SNAP or TRUNC sync before NEWLEADER:
    /// the snapshot taken at NEWLEADER covers it).
    Apply(Arc<TxnEntry>),
    /// Write a snapshot of the database (`ZooKeeperServer.takeSnapshot`); `sync`: fsync it
    /// before going on (after a SNAP, where the log has a gap).
    TakeSnapshot {
        /// Make it durable before the next action.
        sync: bool,
    },
    /// Append a txn to the log. The shared value is the one a later [`Action::Commit`] of a
    /// follower carries.
    Log(Arc<TxnEntry>),
    /// The quorum committed this txn (logged earlier by an [`Action::Log`], or being logged
    /// by the one just before for an observer): apply it through the request pipeline, in
    /// the order given, replying to the client if it is connected here. Java applies it even
    /// before the local log is durable.
    Commit(Arc<TxnEntry>),
    /// The oldest forwarded `sync` is answered by the leader: reply to it (in order with the
    /// commits returned before).
    SyncDone {
        /// The client's session.
        session_id: i64,
        /// The request's xid.
        cxid: i32,
    },
    /// The leader's verdict on a session re-attached through this server.
    Revalidated {
        /// The session.
        session_id: i64,
        /// Whether the client may use it.
        valid: bool,
    },
    /// UPTODATE: the learner is in sync; serve clients (`zk.startServing`) and vote for this
    /// leader in the new epoch from now on (`updateElectionVote`).
    StartServing {
        /// The epoch of the leader.
        epoch: i64,
    },
    /// The database holds state its disk does not (a SNAP, or txns applied during sync, not
    /// yet covered by the NEWLEADER snapshot) and the sync will not complete: drop it and load
    /// it again from the snapshot and the log, so the next election votes with (and the next
    /// sync starts from) only what a crash would keep. Always right before
    /// [`Action::LeaderLost`]. Java 3.8: `Learner.shutdown` shuts the server down fully in
    /// `SyncMode.SNAP` (`zkDb.clear()`, ZOOKEEPER-3642) and `QuorumPeer.getLastLoggedZxid`
    /// reloads the cleared database before voting.
    ReloadDatabase,
    /// Close the connection and go back to the election.
    LeaderLost {
        /// Why, for the log.
        reason: String,
    },
    /// Java stops the whole server here (`ServiceUtils.requestSystemExit`).
    Halt {
        /// Java's exit code.
        exit_code: i32,
        /// Why, for the log.
        reason: String,
    },
}

/// Where the learner is (Java's `QuorumPeer.ZabState` while following).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZabState {
    /// Connecting, or registered and waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent, catching up until UPTODATE.
    Synchronization,
    /// Serving; proposals flow.
    Broadcast,
    /// The leader is lost; the learner ignores everything.
    Lost,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the connection.
    Connecting,
    /// LearnerInfo sent; waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent; waiting for DIFF, TRUNC or SNAP.
    AwaitingSyncMode,
    Syncing(Box<SyncState>),
    Broadcast,
    Lost,
}

/// A follower or observer connected to one leader. See the module docs.
#[derive(Debug)]
pub struct Learner {
    config: LearnerConfig,
    local: LocalState,
    phase: Phase,
    /// When the learner was created (the connect deadline counts from it).
    started_ms: u64,
    /// When the leader was last heard from.
    last_heard_ms: u64,
    /// The socket read timeout: `initLimit` ticks, `syncLimit` ticks from NEWLEADER on.
    read_timeout_ms: u64,
    /// The epoch the leader proposed (LEADERINFO); 0 before.
    new_epoch: i64,
    /// Packets that arrived while the NEWLEADER ACK waits for the log.
    deferred: VecDeque<QuorumPacket>,
    /// The config text NEWLEADER carried.
    leader_config: Option<Bytes>,
    /// Follower: logged txns not yet committed, oldest first (`pendingTxns`).
    pending_txns: VecDeque<Arc<TxnEntry>>,
    /// Follower: logged txns not yet ACKed, in log order.
    unacked: VecDeque<i64>,
    /// The zxid of the last proposal received in broadcast (`Follower.lastQueued`, warnings).
    last_queued: i64,
    /// Sessions touched since the last PING reply, with their timeouts.
    touches: BTreeMap<i64, i32>,
    /// Forwarded syncs waiting for the leader's SYNC, oldest first.
    pending_syncs: VecDeque<(i64, i32)>,
    /// Sessions whose REVALIDATE is unanswered.
    pending_revalidations: BTreeSet<i64>,
    /// The connection failed while the NEWLEADER flush was pending: why, reported after it.
    lost_during_flush: Option<String>,
}

impl Learner {
    /// A learner about to connect to the leader; `now_ms` starts the connect deadline.
    pub fn new(config: LearnerConfig, local: LocalState, now_ms: u64) -> Learner {
        let read_timeout_ms = config.tick_ms * config.init_limit;
        Learner {
            config,
            local,
            phase: Phase::Connecting,
            started_ms: now_ms,
            last_heard_ms: now_ms,
            read_timeout_ms,
            new_epoch: 0,
            deferred: VecDeque::new(),
            leader_config: None,
            pending_txns: VecDeque::new(),
            unacked: VecDeque::new(),
            last_queued: 0,
            touches: BTreeMap::new(),
            pending_syncs: VecDeque::new(),
            pending_revalidations: BTreeSet::new(),
            lost_during_flush: None,
        }
    }

    /// The phase.
    pub fn zab_state(&self) -> ZabState {
        match self.phase {
            Phase::Connecting | Phase::Discovery => ZabState::Discovery,
            Phase::AwaitingSyncMode | Phase::Syncing(_) => ZabState::Synchronization,
            Phase::Broadcast => ZabState::Broadcast,
            Phase::Lost => ZabState::Lost,
        }
    }

    /// The epoch the leader proposed, once LEADERINFO arrived.
    pub fn new_epoch(&self) -> Option<i64> {
        // Leaders propose epochs from 1 on.
        (self.new_epoch != 0).then_some(self.new_epoch)
    }

    /// The epoch files as the learner last asked to write them.
    pub fn epochs(&self) -> (i64, i64) {
        (self.local.accepted_epoch, self.local.current_epoch)
    }

    /// The config text the leader sent with NEWLEADER (Java records it as the last seen
    /// config; activating it is reconfig's business).
    pub fn leader_config(&self) -> Option<&Bytes> {
        self.leader_config.as_ref()
    }

    /// The connection to the leader is up: register (`registerWithLeader`).
    pub fn connected(&mut self, now_ms: u64) -> Vec<Action> {
        if !matches!(self.phase, Phase::Connecting) {
            return Vec::new();
        }
        self.last_heard_ms = now_ms;
        self.phase = Phase::Discovery;
        let info = LearnerInfoData::Full(LearnerInfo {
            serverid: self.config.server_id,
            protocol_version: ZAB_PROTOCOL_VERSION,
            config_version: self.config.config_version,
        });
        let r#type = match self.config.role {
            LearnerRole::Follower => PacketType::FollowerInfo,
            LearnerRole::Observer => PacketType::ObserverInfo,
        };
        let zxid = make_zxid(self.local.accepted_epoch, 0);
        vec![send(r#type, zxid, Some(Bytes::from(info.to_bytes())))]
    }

    /// The connection closed or failed. While the NEWLEADER flush is pending the leader is
    /// lost only after it (see [`Learner::log_flushed`]).
    pub fn disconnected(&mut self, reason: &str) -> Vec<Action> {
        let reason = format!("connection to the leader lost: {reason}");
        if self.waiting_for_log() {
            self.lost_during_flush.get_or_insert(reason);
            return Vec::new();
        }
        self.lose(reason)
    }

    /// Time passed: a leader silent past the read timeout (or a connection not made within
    /// `connectToLearnerMasterLimit` ticks) is lost.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Action> {
        match self.phase {
            Phase::Lost => Vec::new(),
            Phase::Connecting => {
                let limit_ms = self.config.tick_ms * self.config.connect_limit;
                if now_ms.saturating_sub(self.started_ms) >= limit_ms {
                    self.lose(format!("could not connect to the leader in {limit_ms} ms"))
                } else {
                    Vec::new()
                }
            }
            // Java's learner thread is in `syncFlush`, not reading: no read timeout.
            _ if self.waiting_for_log() => Vec::new(),
            _ => {
                let silent_ms = now_ms.saturating_sub(self.last_heard_ms);
                if silent_ms >= self.read_timeout_ms {
                    self.lose(format!("the leader was silent for {silent_ms} ms"))
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// A packet from the leader.
    pub fn on_packet(&mut self, packet: QuorumPacket, now_ms: u64) -> Vec<Action> {
        if matches!(self.phase, Phase::Lost) {
            return Vec::new();
        }
        self.last_heard_ms = now_ms;
        if self.waiting_for_log() {
            // Java reads nothing while it makes the log durable for the NEWLEADER ACK.
            self.deferred.push_back(packet);
            return Vec::new();
        }
        self.handle(packet)
    }

    /// The local log is durable up to `zxid`: a follower ACKs the proposals logged so far, in
    /// order (`SendAckRequestProcessor`), or sends the NEWLEADER ACK it was holding.
    ///
    /// If the connection failed during that NEWLEADER flush, the current epoch is still
    /// written, then the leader is lost: Java's learner is blocked in `syncFlush` and writes
    /// `currentEpoch` before its ACK write fails. Without it the txns of the new epoch made
    /// durable by the flush would sit under an older `currentEpoch`, which Java refuses to
    /// load ("The current epoch, N, is older than the last zxid").
    pub fn log_flushed(&mut self, zxid: i64) -> Vec<Action> {
        let mut out = Vec::new();
        if let Phase::Syncing(sync) = &mut self.phase {
            if sync.newleader_flush_wait.is_some_and(|wait| wait <= zxid) {
                sync.newleader_flush_wait = None;
                let acked = self.ack_newleader();
                if let Some(reason) = self.lost_during_flush.take() {
                    out.extend(acked.into_iter().filter(|a| !matches!(a, Action::Send(_))));
                    out.extend(self.lose(reason));
                    return out;
                }
                out.extend(acked);
                while !self.waiting_for_log() && !matches!(self.phase, Phase::Lost) {
                    let Some(packet) = self.deferred.pop_front() else {
                        break;
                    };
                    out.extend(self.handle(packet));
                }
            }
            return out;
        }
        if !matches!(self.phase, Phase::Broadcast) {
            return out;
        }
        while self.unacked.front().is_some_and(|&z| z <= zxid) {
            let acked = self.unacked.pop_front().expect("checked");
            out.push(send(PacketType::Ack, acked, None));
        }
        out
    }

    /// A client request for the leader (`Learner.request`): a write, createSession (with null
    /// `authinfo`), closeSession, or `sync` (answered later by [`Action::SyncDone`]). Only
    /// while serving; otherwise nothing is sent.
    pub fn forward(&mut self, request: &LearnerRequest, authinfo: Option<Vec<Id>>) -> Vec<Action> {
        if !matches!(self.phase, Phase::Broadcast) {
            warn!(
                session = request.session_id,
                "not serving; request not forwarded"
            );
            return Vec::new();
        }
        if request.r#type == OpCode::Sync {
            self.pending_syncs
                .push_back((request.session_id, request.cxid));
        }
        vec![Action::Send(QuorumPacket {
            r#type: PacketType::Request,
            zxid: -1,
            data: Some(Bytes::from(request.to_bytes())),
            authinfo,
        })]
    }

    /// A client re-attaches a session this server does not own: ask the leader
    /// (`Learner.validateSession`); answered by [`Action::Revalidated`]. Only while serving.
    pub fn revalidate(&mut self, session_id: i64, timeout_ms: i32) -> Vec<Action> {
        if !matches!(self.phase, Phase::Broadcast) {
            return Vec::new();
        }
        info!("Revalidating client: 0x{session_id:x}");
        self.pending_revalidations.insert(session_id);
        let data = RevalidateRequest {
            session_id,
            timeout_ms,
        }
        .to_bytes();
        vec![send(PacketType::Revalidate, -1, Some(Bytes::from(data)))]
    }

    /// A session saw activity here: the next PING reply reports it, so the leader extends it.
    pub fn touch_session(&mut self, session_id: i64, timeout_ms: i32) {
        self.touches.insert(session_id, timeout_ms);
    }

    /// A session is gone: stop reporting it.
    pub fn forget_session(&mut self, session_id: i64) {
        self.touches.remove(&session_id);
    }

    fn waiting_for_log(&self) -> bool {
        matches!(&self.phase, Phase::Syncing(s) if s.newleader_flush_wait.is_some())
    }

    fn lose(&mut self, reason: String) -> Vec<Action> {
        if matches!(self.phase, Phase::Lost) {
            return Vec::new();
        }
        warn!("leaving the leader: {reason}");
        let phase = std::mem::replace(&mut self.phase, Phase::Lost);
        let mut out = Vec::with_capacity(2);
        if matches!(&phase, Phase::Syncing(s) if s.database_ahead_of_disk) {
            info!("sync incomplete: the database is reloaded from disk");
            out.push(Action::ReloadDatabase);
        }
        out.push(Action::LeaderLost { reason });
        out
    }

    fn halt(&mut self, exit_code: i32, reason: String) -> Vec<Action> {
        error!("{reason}");
        self.phase = Phase::Lost;
        vec![Action::Halt { exit_code, reason }]
    }

    fn handle(&mut self, packet: QuorumPacket) -> Vec<Action> {
        match self.phase {
            Phase::Connecting => self.lose(format!(
                "{} before the connection was reported",
                packet.r#type.name()
            )),
            Phase::Discovery => self.on_leader_info(packet),
            Phase::AwaitingSyncMode => self.on_sync_mode(packet),
            Phase::Syncing(_) => self.on_sync_packet(packet),
            Phase::Broadcast => match self.config.role {
                LearnerRole::Follower => self.follower_packet(packet),
                LearnerRole::Observer => self.observer_packet(packet),
            },
            Phase::Lost => Vec::new(),
        }
    }
}

fn send(r#type: PacketType, zxid: i64, data: Option<Bytes>) -> Action {
    Action::Send(QuorumPacket::new(r#type, zxid, data))
}

//! Discovery and synchronization: `Learner.registerWithLeader` and `Learner.syncWithLeader` of
//! Java 3.8.5+ (the NEWLEADER ACK waits until the txns received so far are durable,
//! ZOOKEEPER-4785; 3.8.0 logged them asynchronously and ACKed at once, which puts the same
//! packets on the wire in the same order when the flush is quick).

use std::collections::VecDeque;
use std::sync::Arc;

use tracing::{debug, info, warn};
use zk_proto::quorum::{int_data, PacketType, QuorumPacket};
use zk_proto::txn::TxnEntry;

use super::{
    broadcast::{inform_entry, note_order},
    epoch_of_zxid, make_zxid, send, Action, Learner, LearnerRole, Phase, EXIT_QUORUM_PACKET_ERROR,
};

/// What `syncWithLeader` keeps between DIFF/SNAP/TRUNC and UPTODATE.
#[derive(Debug, Default)]
pub(super) struct SyncState {
    /// Take a snapshot at NEWLEADER (SNAP and TRUNC; DIFF only on an upgrade).
    snapshot_needed: bool,
    /// That snapshot is fsynced before going on (SNAP).
    sync_snapshot: bool,
    /// Txns are kept for the log (true for DIFF, and for everything after NEWLEADER); when
    /// false they are applied to the database at once, as the coming snapshot covers them.
    write_to_txn_log: bool,
    /// No NEWLEADER yet (Java's `isPreZAB1_0`): UPTODATE then takes the snapshot itself.
    before_newleader: bool,
    /// Txns received and not yet logged or applied (`packetsNotCommitted`).
    not_committed: VecDeque<Arc<TxnEntry>>,
    /// COMMITs received for txns kept for the log (`packetsCommitted`).
    committed: VecDeque<i64>,
    /// Follower: txns logged at NEWLEADER, ACKed after UPTODATE's ACK (`requestsToAck`).
    to_ack: Vec<i64>,
    /// The zxid NEWLEADER's ACK waits for the log to be durable up to.
    pub(super) newleader_flush_wait: Option<i64>,
    /// The last txn received (warnings only).
    last_queued: i64,
    /// The database's last processed zxid: where the sync started from (DIFF), the SNAP or
    /// TRUNC zxid, then each txn applied.
    database_zxid: i64,
    /// The database holds what the disk does not: a SNAP, or txns applied, not yet in a
    /// snapshot (Java's `SyncMode.SNAP` before NEWLEADER, widened to TRUNC and forced DIFF).
    pub(super) database_ahead_of_disk: bool,
    /// The `updatingEpoch` marker was created; removed after the `currentEpoch` write.
    updating_epoch_file: bool,
}

impl Learner {
    /// LEADERINFO: accept the new epoch and answer ACKEPOCH.
    pub(super) fn on_leader_info(&mut self, packet: QuorumPacket) -> Vec<Action> {
        if packet.r#type != PacketType::LeaderInfo {
            // A pre-3.4 leader would send NEWLEADER here (ZAB 0.9): not supported.
            return self.lose(format!("expected LEADERINFO, got {}", packet.r#type.name()));
        }
        if packet.data_bytes().len() < 4 {
            return self.lose("LEADERINFO without a protocol version".to_string());
        }
        let new_epoch = epoch_of_zxid(packet.zxid);
        let accepted = self.local.accepted_epoch;
        let mut out = Vec::new();
        let epoch_ack = if new_epoch > accepted {
            let current = self.local.current_epoch as i32;
            self.local.accepted_epoch = new_epoch;
            out.push(Action::WriteAcceptedEpoch(new_epoch));
            current
        } else if new_epoch == accepted {
            // Already acked this epoch to someone: this reply must not count as an ack again.
            -1
        } else {
            return self.lose(format!(
                "Leaders epoch, {new_epoch} is less than accepted epoch, {accepted}"
            ));
        };
        self.new_epoch = new_epoch;
        self.phase = Phase::AwaitingSyncMode;
        out.push(send(
            PacketType::AckEpoch,
            self.local.last_logged_zxid,
            Some(int_data(epoch_ack)),
        ));
        out
    }

    /// The first sync packet: DIFF, SNAP or TRUNC.
    pub(super) fn on_sync_mode(&mut self, packet: QuorumPacket) -> Vec<Action> {
        let mut sync = SyncState {
            before_newleader: true,
            database_zxid: self.local.last_logged_zxid,
            ..SyncState::default()
        };
        let mut out = Vec::new();
        match packet.r#type {
            PacketType::Diff => {
                info!("Getting a diff from the leader 0x{:x}", packet.zxid);
                sync.snapshot_needed = self.local.force_snapshot_after_election;
                sync.sync_snapshot = sync.snapshot_needed;
            }
            PacketType::Snap => {
                info!("Getting a snapshot from leader 0x{:x}", packet.zxid);
                out.push(Action::LoadSnapshot { zxid: packet.zxid });
                sync.database_zxid = packet.zxid;
                sync.database_ahead_of_disk = true;
                sync.snapshot_needed = true;
                // The log has a gap now: persist the snapshot before going on.
                sync.sync_snapshot = true;
            }
            PacketType::Trunc => {
                warn!(
                    "Truncating log to get in sync with the leader 0x{:x}",
                    packet.zxid
                );
                out.push(Action::Truncate { zxid: packet.zxid });
                sync.database_zxid = packet.zxid;
                sync.snapshot_needed = true;
            }
            other => {
                return self.halt(
                    EXIT_QUORUM_PACKET_ERROR,
                    format!("Got unexpected packet from leader: {}", other.name()),
                )
            }
        }
        sync.write_to_txn_log = !sync.snapshot_needed;
        self.phase = Phase::Syncing(Box::new(sync));
        out
    }

    /// A packet between the sync mode packet and UPTODATE.
    pub(super) fn on_sync_packet(&mut self, packet: QuorumPacket) -> Vec<Action> {
        let Phase::Syncing(sync) = &mut self.phase else {
            return Vec::new();
        };
        match packet.r#type {
            PacketType::Proposal => {
                let entry = match packet.txn_entry() {
                    Ok(entry) => entry,
                    Err(e) => return self.lose(format!("bad PROPOSAL: {e}")),
                };
                note_order(&mut sync.last_queued, entry.header.zxid);
                sync.not_committed.push_back(Arc::new(entry));
                Vec::new()
            }
            PacketType::Commit | PacketType::CommitAndActivate => {
                if sync.before_newleader && sync.not_committed.is_empty() {
                    // A COMMIT of nothing the leader sent.
                    return self.lose(format!(
                        "COMMIT 0x{:x} during sync with no proposal pending",
                        packet.zxid
                    ));
                }
                if sync.write_to_txn_log {
                    // Applied after UPTODATE, against the txns logged by then. NEWLEADER logs
                    // the proposals received so far, so none is pending here afterwards, yet
                    // the leader goes on forwarding COMMITs for them: Java 3.8 dereferences
                    // the missing proposal and leaves the leader (ZOOKEEPER-4394), so a member
                    // joining under write load had to sync again and again.
                    sync.committed.push_back(packet.zxid);
                    return Vec::new();
                }
                let first = sync
                    .not_committed
                    .front()
                    .expect("before NEWLEADER, checked above");
                if first.header.zxid != packet.zxid {
                    warn!(
                        "Committing 0x{:x}, but next proposal is 0x{:x}",
                        packet.zxid, first.header.zxid
                    );
                    return Vec::new();
                }
                let entry = sync.not_committed.pop_front().expect("checked");
                sync.applied(&entry);
                vec![Action::Apply(entry)]
            }
            PacketType::Inform | PacketType::InformAndActivate => {
                let entry = match inform_entry(&packet) {
                    Ok(entry) => entry,
                    Err(e) => return self.lose(format!("bad {}: {e}", packet.r#type.name())),
                };
                if packet.r#type == PacketType::Inform {
                    note_order(&mut sync.last_queued, entry.header.zxid);
                }
                let entry = Arc::new(entry);
                if !sync.write_to_txn_log {
                    sync.applied(&entry);
                    return vec![Action::Apply(entry)];
                }
                sync.not_committed.push_back(entry);
                sync.committed.push_back(packet.zxid);
                Vec::new()
            }
            PacketType::NewLeader => self.on_newleader(packet),
            PacketType::UpToDate => self.on_uptodate(),
            other => {
                // syncWithLeader's loop has no case for them (PING included).
                debug!("ignored during sync: {}", other.name());
                Vec::new()
            }
        }
    }

    /// NEWLEADER: snapshot if the sync mode asks for one; a follower logs what it received and
    /// ACKs once that is durable; the current epoch is written before the ACK.
    fn on_newleader(&mut self, packet: QuorumPacket) -> Vec<Action> {
        info!("Learner received NEWLEADER message");
        if packet.data_bytes().len() > 1 {
            self.leader_config = packet.data.clone();
        }
        self.read_timeout_ms = self.config.tick_ms * self.config.sync_limit;
        let role = self.config.role;
        let Phase::Syncing(sync) = &mut self.phase else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // What this step persists ahead of the currentEpoch write: the snapshot, and a
        // follower's txns received so far.
        let snapshot_zxid = if sync.snapshot_needed {
            sync.database_zxid
        } else {
            0
        };
        let logged_zxid = match role {
            LearnerRole::Follower => sync.not_committed.iter().map(|e| e.header.zxid).max(),
            LearnerRole::Observer => None,
        };
        let persisted_zxid = snapshot_zxid.max(logged_zxid.unwrap_or(0));
        out.extend(sync.mark_epoch_update(persisted_zxid, self.local.current_epoch));
        if sync.snapshot_needed {
            out.push(Action::TakeSnapshot {
                sync: sync.sync_snapshot,
            });
            sync.database_ahead_of_disk = false;
        }
        sync.write_to_txn_log = true;
        sync.before_newleader = false;
        if role == LearnerRole::Follower {
            for entry in std::mem::take(&mut sync.not_committed) {
                let zxid = entry.header.zxid;
                if zxid & 0xffff_ffff != 0 {
                    self.pending_txns.push_back(entry.clone());
                }
                sync.to_ack.push(zxid);
                out.push(Action::Log(entry));
            }
            if let Some(&last) = sync.to_ack.last() {
                sync.newleader_flush_wait = Some(last);
                return out;
            }
        }
        out.extend(self.ack_newleader());
        out
    }

    /// The current epoch, then the NEWLEADER ACK.
    pub(super) fn ack_newleader(&mut self) -> Vec<Action> {
        let mut out = self.write_current_epoch();
        out.push(send(PacketType::Ack, make_zxid(self.new_epoch, 0), None));
        out
    }

    /// `setCurrentEpoch(newEpoch)`, and the `updatingEpoch` marker goes if it was created.
    fn write_current_epoch(&mut self) -> Vec<Action> {
        self.local.current_epoch = self.new_epoch;
        info!("Set the current epoch to {}", self.new_epoch);
        let mut out = vec![Action::WriteCurrentEpoch(self.new_epoch)];
        if let Phase::Syncing(sync) = &mut self.phase {
            if std::mem::take(&mut sync.updating_epoch_file) {
                out.push(Action::DeleteUpdatingEpochFile);
            }
        }
        out
    }

    /// UPTODATE: ACK, serve, then hand what arrived after NEWLEADER to broadcast.
    fn on_uptodate(&mut self) -> Vec<Action> {
        info!("Learner received UPTODATE message");
        let mut out = Vec::new();
        if let Phase::Syncing(sync) = &mut self.phase {
            if sync.before_newleader {
                let snapshot_zxid = sync.database_zxid;
                out.extend(sync.mark_epoch_update(snapshot_zxid, self.local.current_epoch));
                out.push(Action::TakeSnapshot {
                    sync: sync.sync_snapshot,
                });
            }
        }
        // Only the pre-ZAB-1.0 path above snapshots here.
        if out.iter().any(|a| matches!(a, Action::TakeSnapshot { .. })) {
            out.extend(self.write_current_epoch());
        }
        let Phase::Syncing(sync) = std::mem::replace(&mut self.phase, Phase::Broadcast) else {
            return Vec::new();
        };
        let sync = *sync;
        let epoch = self.new_epoch;
        out.push(send(PacketType::Ack, make_zxid(epoch, 0), None));
        out.push(Action::StartServing { epoch });
        match self.config.role {
            LearnerRole::Follower => {
                for zxid in sync.to_ack {
                    out.push(send(PacketType::Ack, zxid, None));
                }
                for entry in sync.not_committed {
                    out.push(self.log_proposal(entry));
                }
                for zxid in sync.committed {
                    out.extend(self.commit(zxid));
                    if matches!(self.phase, Phase::Lost) {
                        break;
                    }
                }
            }
            LearnerRole::Observer => {
                let mut committed = sync.committed;
                for entry in sync.not_committed {
                    if committed.front() != Some(&entry.header.zxid) {
                        warn!(
                            "Committing 0x{:x}, but next proposal is 0x{:x}",
                            committed.front().copied().unwrap_or(0),
                            entry.header.zxid
                        );
                        continue;
                    }
                    committed.pop_front();
                    out.extend(self.observer_commit(entry));
                }
            }
        }
        out
    }
}

impl SyncState {
    /// A txn applied to the database only (the coming snapshot covers it).
    fn applied(&mut self, entry: &TxnEntry) {
        self.database_zxid = self.database_zxid.max(entry.header.zxid);
        self.database_ahead_of_disk = true;
    }

    /// The `updatingEpoch` marker, when the state about to be persisted (up to
    /// `persisted_zxid`) is of a newer epoch than `currentEpoch`: a crash before the
    /// `currentEpoch` write would otherwise leave a disk that cannot be started from.
    fn mark_epoch_update(&mut self, persisted_zxid: i64, current_epoch: i64) -> Option<Action> {
        if epoch_of_zxid(persisted_zxid) <= current_epoch || self.updating_epoch_file {
            return None;
        }
        self.updating_epoch_file = true;
        Some(Action::CreateUpdatingEpochFile)
    }
}

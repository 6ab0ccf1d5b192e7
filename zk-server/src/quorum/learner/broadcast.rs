//! Broadcast: `Follower.processPacket`, `Observer.processPacket` and the parts of
//! `FollowerZooKeeperServer` (`logRequest`, `commit`, `sync`) and `Learner` (`ping`,
//! `revalidate`) they use.

use std::sync::Arc;

use bytes::Bytes;
use tracing::{error, warn};
use zk_proto::quorum::{
    read_inform_and_activate, PacketType, PingTouches, QuorumPacket, RevalidateReply, SessionTouch,
};
use zk_proto::txn::TxnEntry;
use zk_proto::OpCode;

use super::{Action, Learner, EXIT_UNMATCHED_TXN_COMMIT};

impl Learner {
    /// `Follower.processPacket`.
    pub(super) fn follower_packet(&mut self, packet: QuorumPacket) -> Vec<Action> {
        match packet.r#type {
            PacketType::Ping => self.ping(packet),
            PacketType::Proposal => {
                let entry = match packet.txn_entry() {
                    Ok(entry) => entry,
                    Err(e) => return self.lose(format!("bad PROPOSAL: {e}")),
                };
                let zxid = entry.header.zxid;
                note_order(&mut self.last_queued, zxid);
                if entry.header.r#type == OpCode::Reconfig {
                    warn!("reconfig proposal 0x{zxid:x}: dynamic reconfig is not supported");
                }
                vec![self.log_proposal(Arc::new(entry))]
            }
            PacketType::Commit => self.commit(packet.zxid),
            PacketType::CommitAndActivate => {
                warn!(
                    "COMMITANDACTIVATE 0x{:x}: committed, config not activated (no reconfig)",
                    packet.zxid
                );
                self.commit(packet.zxid)
            }
            PacketType::UpToDate => {
                error!("Received an UPTODATE message after Follower started");
                Vec::new()
            }
            PacketType::Revalidate => self.on_revalidate(&packet),
            PacketType::Sync => self.on_sync(),
            other => {
                warn!("Unknown packet type: {}", other.name());
                Vec::new()
            }
        }
    }

    /// `Observer.processPacket`.
    pub(super) fn observer_packet(&mut self, packet: QuorumPacket) -> Vec<Action> {
        match packet.r#type {
            PacketType::Ping => self.ping(packet),
            PacketType::Proposal => {
                warn!("Ignoring proposal");
                Vec::new()
            }
            PacketType::Commit => {
                warn!("Ignoring commit");
                Vec::new()
            }
            PacketType::UpToDate => {
                error!("Received an UPTODATE message after Observer started");
                Vec::new()
            }
            PacketType::Revalidate => self.on_revalidate(&packet),
            PacketType::Sync => self.on_sync(),
            PacketType::Inform | PacketType::InformAndActivate => match inform_entry(&packet) {
                Ok(entry) => self.observer_commit(Arc::new(entry)),
                Err(e) => self.lose(format!("bad {}: {e}", packet.r#type.name())),
            },
            other => {
                warn!("Unknown packet type: {}", other.name());
                Vec::new()
            }
        }
    }

    /// Follower: log a proposal; its ACK follows the flush (`FollowerZooKeeperServer.logRequest`).
    pub(super) fn log_proposal(&mut self, entry: Arc<TxnEntry>) -> Action {
        let zxid = entry.header.zxid;
        if zxid & 0xffff_ffff != 0 {
            self.pending_txns.push_back(entry.clone());
        }
        self.unacked.push_back(zxid);
        Action::Log(entry)
    }

    /// Observer: log (when enabled) and apply a committed txn
    /// (`ObserverZooKeeperServer.commitRequest`).
    pub(super) fn observer_commit(&mut self, entry: Arc<TxnEntry>) -> Vec<Action> {
        let mut out = Vec::with_capacity(2);
        if self.config.observer_sync_enabled {
            out.push(Action::Log(entry.clone()));
        }
        out.push(Action::Commit(entry));
        out
    }

    /// Follower: a COMMIT must name the oldest logged, uncommitted txn
    /// (`FollowerZooKeeperServer.commit`).
    pub(super) fn commit(&mut self, zxid: i64) -> Vec<Action> {
        let Some(first) = self.pending_txns.front() else {
            warn!("Committing {zxid:x} without seeing txn");
            return Vec::new();
        };
        let first_zxid = first.header.zxid;
        if first_zxid != zxid {
            return self.halt(
                EXIT_UNMATCHED_TXN_COMMIT,
                format!("Committing zxid 0x{zxid:x} but next pending txn 0x{first_zxid:x}"),
            );
        }
        let entry = self.pending_txns.pop_front().expect("checked");
        vec![Action::Commit(entry)]
    }

    /// PING: echo it with the touch table (`Learner.ping`).
    fn ping(&mut self, packet: QuorumPacket) -> Vec<Action> {
        let touches = std::mem::take(&mut self.touches)
            .into_iter()
            .map(|(session_id, timeout_ms)| SessionTouch {
                session_id,
                timeout_ms,
            })
            .collect();
        vec![Action::Send(QuorumPacket {
            r#type: PacketType::Ping,
            zxid: packet.zxid,
            data: Some(Bytes::from(PingTouches(touches).to_bytes())),
            authinfo: packet.authinfo,
        })]
    }

    fn on_revalidate(&mut self, packet: &QuorumPacket) -> Vec<Action> {
        let reply = match RevalidateReply::parse(packet.data_bytes()) {
            Ok(reply) => reply,
            Err(e) => return self.lose(format!("bad REVALIDATE: {e}")),
        };
        if !self.pending_revalidations.remove(&reply.session_id) {
            warn!("Missing session 0x{:x} for validation", reply.session_id);
            return Vec::new();
        }
        vec![Action::Revalidated {
            session_id: reply.session_id,
            valid: reply.valid,
        }]
    }

    fn on_sync(&mut self) -> Vec<Action> {
        match self.pending_syncs.pop_front() {
            Some((session_id, cxid)) => vec![Action::SyncDone { session_id, cxid }],
            None => {
                warn!("Not expecting a sync.");
                Vec::new()
            }
        }
    }
}

/// The txn of an INFORM, or of an INFORMANDACTIVATE after its designated leader.
pub(super) fn inform_entry(packet: &QuorumPacket) -> Result<TxnEntry, zk_proto::DecodeError> {
    if packet.r#type == PacketType::InformAndActivate {
        warn!(
            "INFORMANDACTIVATE 0x{:x}: config not activated (no reconfig)",
            packet.zxid
        );
        read_inform_and_activate(packet.data_bytes()).map(|(_, entry)| entry)
    } else {
        packet.txn_entry()
    }
}

/// Warns when txns arrive out of order, as Java does (it goes on regardless).
pub(super) fn note_order(last_queued: &mut i64, zxid: i64) {
    let expected = last_queued.wrapping_add(1);
    if zxid != expected {
        warn!("Got zxid 0x{zxid:x} expected 0x{expected:x}");
    }
    *last_queued = zxid;
}

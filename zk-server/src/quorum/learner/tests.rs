//! Whole action lists, phase by phase, for a learner fed by hand.

use bytes::Bytes;
use zk_proto::data::Id;
use zk_proto::quorum::{int_data, LearnerRequest, PacketType, QuorumPacket};
use zk_proto::txn::{SetDataTxn, Txn, TxnEntry, TxnHeader};
use zk_proto::OpCode;

use super::*;

const E1: i64 = 0x1_0000_0000;
const E2: i64 = 0x2_0000_0000;

fn config(role: LearnerRole) -> LearnerConfig {
    LearnerConfig {
        server_id: 4,
        role,
        config_version: 0x1_0000_0003,
        tick_ms: 100,
        init_limit: 10,
        sync_limit: 5,
        connect_limit: 20,
        observer_sync_enabled: true,
    }
}

fn local(accepted: i64, current: i64, last_zxid: i64) -> LocalState {
    LocalState {
        accepted_epoch: accepted,
        current_epoch: current,
        last_logged_zxid: last_zxid,
        force_snapshot_after_election: false,
    }
}

fn entry(zxid: i64) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: 7,
            cxid: 1,
            zxid,
            time: 1_700_000_000_000,
            r#type: OpCode::SetData,
        },
        txn: Txn::SetData(SetDataTxn {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            version: 1,
        }),
        digest: None,
    }
}

fn txn(zxid: i64) -> Arc<TxnEntry> {
    Arc::new(entry(zxid))
}

fn packet(r#type: PacketType, zxid: i64) -> QuorumPacket {
    QuorumPacket::new(r#type, zxid, None)
}

fn proposal(zxid: i64) -> QuorumPacket {
    QuorumPacket::new(
        PacketType::Proposal,
        zxid,
        Some(Bytes::from(entry(zxid).to_bytes())),
    )
}

fn inform(zxid: i64) -> QuorumPacket {
    QuorumPacket {
        r#type: PacketType::Inform,
        ..proposal(zxid)
    }
}

fn sent(r#type: PacketType, zxid: i64) -> Action {
    Action::Send(packet(r#type, zxid))
}

fn ack(zxid: i64) -> Action {
    sent(PacketType::Ack, zxid)
}

/// A learner past discovery in epoch 2 (accepted 1, current 1, log up to 0x100000009).
fn discovered(role: LearnerRole) -> Learner {
    let mut l = Learner::new(config(role), local(1, 1, E1 + 9), 0);
    l.connected(0);
    let info = QuorumPacket::new(PacketType::LeaderInfo, E2, Some(int_data(0x10000)));
    assert_eq!(l.on_packet(info, 0).len(), 2);
    l
}

/// A follower serving in epoch 2 after an empty DIFF.
fn serving() -> Learner {
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E1 + 9), 0);
    l.on_packet(packet(PacketType::NewLeader, E2), 0);
    l.on_packet(packet(PacketType::UpToDate, -1), 0);
    assert_eq!(l.zab_state(), ZabState::Broadcast);
    l
}

#[test]
fn registration_carries_learner_info_and_the_accepted_epoch() {
    for (role, r#type) in [
        (LearnerRole::Follower, PacketType::FollowerInfo),
        (LearnerRole::Observer, PacketType::ObserverInfo),
    ] {
        let mut l = Learner::new(config(role), local(3, 2, 0x2_0000_0007), 0);
        assert_eq!(l.zab_state(), ZabState::Discovery);
        let mut info = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0];
        info.extend_from_slice(&0x1_0000_0003i64.to_be_bytes());
        assert_eq!(
            l.connected(5),
            [Action::Send(QuorumPacket::new(
                r#type,
                0x3_0000_0000,
                Some(Bytes::from(info))
            ))]
        );
        assert_eq!(l.connected(6), [], "registers once");
    }
}

#[test]
fn leader_info_newer_same_and_older_epochs() {
    let info = |epoch: i64| {
        QuorumPacket::new(
            PacketType::LeaderInfo,
            make_zxid(epoch, 0),
            Some(int_data(0x10000)),
        )
    };
    // Newer: accept it, answer with the current epoch and the last logged zxid.
    let mut l = Learner::new(config(LearnerRole::Follower), local(3, 2, 0x2_0000_0007), 0);
    l.connected(0);
    assert_eq!(
        l.on_packet(info(4), 1),
        [
            Action::WriteAcceptedEpoch(4),
            Action::Send(QuorumPacket::new(
                PacketType::AckEpoch,
                0x2_0000_0007,
                Some(int_data(2))
            )),
        ]
    );
    assert_eq!(l.zab_state(), ZabState::Synchronization);
    assert_eq!((l.new_epoch(), l.epochs()), (Some(4), (4, 2)));

    // The same: -1, nothing written.
    let mut l = Learner::new(config(LearnerRole::Follower), local(3, 2, 0x2_0000_0007), 0);
    l.connected(0);
    assert_eq!(
        l.on_packet(info(3), 1),
        [Action::Send(QuorumPacket::new(
            PacketType::AckEpoch,
            0x2_0000_0007,
            Some(int_data(-1))
        ))]
    );

    // Older: leave.
    let mut l = Learner::new(config(LearnerRole::Follower), local(3, 2, 0x2_0000_0007), 0);
    l.connected(0);
    assert_eq!(
        l.on_packet(info(2), 1),
        [Action::LeaderLost {
            reason: "Leaders epoch, 2 is less than accepted epoch, 3".into()
        }]
    );
    assert_eq!(l.zab_state(), ZabState::Lost);
    assert_eq!(l.on_packet(info(4), 2), [], "a lost learner ignores input");

    // A pre-3.4 leader (NEWLEADER first) or garbage: leave.
    let mut l = Learner::new(config(LearnerRole::Follower), local(3, 2, 0), 0);
    l.connected(0);
    assert!(matches!(
        &l.on_packet(packet(PacketType::NewLeader, E2), 1)[..],
        [Action::LeaderLost { .. }]
    ));
    let mut l = Learner::new(config(LearnerRole::Follower), local(3, 2, 0), 0);
    l.connected(0);
    assert!(matches!(
        &l.on_packet(packet(PacketType::LeaderInfo, E2), 1)[..],
        [Action::LeaderLost { .. }]
    ));
}

#[test]
fn diff_logs_at_newleader_and_acks_after_the_flush() {
    let mut l = discovered(LearnerRole::Follower);
    assert_eq!(l.on_packet(packet(PacketType::Diff, E2 + 2), 0), []);
    assert_eq!(l.on_packet(proposal(E2 + 1), 0), []);
    assert_eq!(l.on_packet(packet(PacketType::Commit, E2 + 1), 0), []);
    assert_eq!(l.on_packet(proposal(E2 + 2), 0), []);
    assert_eq!(l.on_packet(packet(PacketType::Commit, E2 + 2), 0), []);
    assert_eq!(l.on_packet(proposal(E2 + 3), 0), [], "not committed yet");
    // NEWLEADER: everything received goes to the log; the ACK waits for it. The txns are of
    // epoch 2, currentEpoch is 1 until the ACK: the updatingEpoch marker covers the gap.
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [
            Action::CreateUpdatingEpochFile,
            Action::Log(txn(E2 + 1)),
            Action::Log(txn(E2 + 2)),
            Action::Log(txn(E2 + 3))
        ]
    );
    // Packets that arrive meanwhile wait too.
    assert_eq!(l.on_packet(packet(PacketType::UpToDate, -1), 0), []);
    assert_eq!(l.log_flushed(E2 + 2), []);
    assert_eq!(
        l.log_flushed(E2 + 3),
        [
            Action::WriteCurrentEpoch(2),
            Action::DeleteUpdatingEpochFile,
            ack(E2),
            // UPTODATE, held back until now.
            ack(E2),
            Action::StartServing { epoch: 2 },
            ack(E2 + 1),
            ack(E2 + 2),
            ack(E2 + 3),
            Action::Commit(txn(E2 + 1)),
            Action::Commit(txn(E2 + 2)),
        ]
    );
    assert_eq!(l.epochs(), (2, 2));
    // The COMMIT of the proposal left open during sync arrives in broadcast.
    assert_eq!(
        l.on_packet(packet(PacketType::Commit, E2 + 3), 0),
        [Action::Commit(txn(E2 + 3))]
    );
}

/// Seen in the ensemble benchmark: a member restarted under write load left the leader again
/// and again, because the COMMIT of a proposal it had logged at NEWLEADER arrived before
/// UPTODATE (Java 3.8 fails the same way, ZOOKEEPER-4394).
#[test]
fn a_commit_between_newleader_and_uptodate_waits_for_uptodate() {
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E2 + 1), 0);
    l.on_packet(proposal(E2 + 1), 0);
    l.on_packet(packet(PacketType::Commit, E2 + 1), 0);
    l.on_packet(proposal(E2 + 2), 0);
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [
            Action::CreateUpdatingEpochFile,
            Action::Log(txn(E2 + 1)),
            Action::Log(txn(E2 + 2))
        ]
    );
    assert_eq!(
        l.log_flushed(E2 + 2),
        [
            Action::WriteCurrentEpoch(2),
            Action::DeleteUpdatingEpochFile,
            ack(E2)
        ]
    );
    assert_eq!(l.on_packet(packet(PacketType::Commit, E2 + 2), 0), []);
    assert_eq!(l.zab_state(), ZabState::Synchronization);
    assert_eq!(
        l.on_packet(packet(PacketType::UpToDate, -1), 0),
        [
            ack(E2),
            Action::StartServing { epoch: 2 },
            ack(E2 + 1),
            ack(E2 + 2),
            Action::Commit(txn(E2 + 1)),
            Action::Commit(txn(E2 + 2)),
        ]
    );
}

/// Found by the ensemble simulation (seed 131): a connection lost while the NEWLEADER flush
/// was pending left the new epoch's txns durable under the old `currentEpoch`, a state Java
/// refuses to start from. Java's learner only notices after the flush and the epoch write.
#[test]
fn connection_lost_during_the_newleader_flush_still_writes_the_current_epoch() {
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E1 + 9), 0);
    l.on_packet(proposal(E2 + 1), 0);
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [Action::CreateUpdatingEpochFile, Action::Log(txn(E2 + 1))]
    );
    assert_eq!(l.disconnected("reset"), [], "blocked in the flush");
    assert_eq!(l.tick(60_000), [], "no read timeout while flushing");
    assert_eq!(l.on_packet(packet(PacketType::UpToDate, -1), 0), []);
    assert_eq!(
        l.log_flushed(E2 + 1),
        [
            Action::WriteCurrentEpoch(2),
            Action::DeleteUpdatingEpochFile,
            Action::LeaderLost {
                reason: "connection to the leader lost: reset".into()
            }
        ]
    );
    assert_eq!(l.epochs(), (2, 2));
    assert_eq!(l.log_flushed(E2 + 1), []);
}

#[test]
fn proposals_between_newleader_and_uptodate_are_logged_after_uptodate() {
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E1 + 9), 0);
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [Action::WriteCurrentEpoch(2), ack(E2)],
        "nothing to log: the ACK goes at once"
    );
    assert_eq!(l.on_packet(proposal(E2 + 1), 0), []);
    assert_eq!(l.on_packet(packet(PacketType::Commit, E2 + 1), 0), []);
    assert_eq!(l.on_packet(proposal(E2 + 2), 0), []);
    assert_eq!(
        l.on_packet(packet(PacketType::UpToDate, -1), 0),
        [
            ack(E2),
            Action::StartServing { epoch: 2 },
            Action::Log(txn(E2 + 1)),
            Action::Log(txn(E2 + 2)),
            Action::Commit(txn(E2 + 1)),
        ]
    );
    assert_eq!(l.log_flushed(E2 + 2), [ack(E2 + 1), ack(E2 + 2)]);
}

#[test]
fn snap_applies_txns_before_newleader_and_snapshots_there() {
    let mut l = discovered(LearnerRole::Follower);
    assert_eq!(
        l.on_packet(packet(PacketType::Snap, E1 + 12), 0),
        [Action::LoadSnapshot { zxid: E1 + 12 }]
    );
    assert_eq!(l.on_packet(proposal(E1 + 13), 0), []);
    assert_eq!(
        l.on_packet(packet(PacketType::Commit, E1 + 13), 0),
        [Action::Apply(txn(E1 + 13))]
    );
    // A COMMIT that does not match the next proposal is skipped with a warning, as in Java.
    assert_eq!(l.on_packet(proposal(E1 + 14), 0), []);
    assert_eq!(l.on_packet(packet(PacketType::Commit, E1 + 15), 0), []);
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [
            Action::TakeSnapshot { sync: true },
            Action::Log(txn(E1 + 14)),
        ]
    );
    assert_eq!(
        l.log_flushed(E1 + 14),
        [Action::WriteCurrentEpoch(2), ack(E2)]
    );
}

#[test]
fn trunc_cuts_the_log_and_snapshots_at_newleader() {
    let mut l = discovered(LearnerRole::Follower);
    assert_eq!(
        l.on_packet(packet(PacketType::Trunc, E1 + 7), 0),
        [Action::Truncate { zxid: E1 + 7 }]
    );
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [
            Action::TakeSnapshot { sync: false },
            Action::WriteCurrentEpoch(2),
            ack(E2)
        ]
    );
}

/// Found by the ensemble simulation (seed 2001850): a SNAP at the new leader's 0x100000000,
/// then a crash after the NEWLEADER snapshot and before the `currentEpoch` write (the follower
/// waits for its log flush in between) left a disk Java 3.8 refuses to start from
/// ("The current epoch, 0, is older than the last zxid"). The marker brackets that window.
#[test]
fn snap_of_a_newer_epoch_brackets_the_newleader_snapshot_with_the_updating_marker() {
    let mut l = Learner::new(config(LearnerRole::Follower), local(0, 0, 0), 0);
    l.connected(0);
    let info = QuorumPacket::new(PacketType::LeaderInfo, E1, Some(int_data(0x10000)));
    assert_eq!(l.on_packet(info, 0).len(), 2);
    assert_eq!(
        l.on_packet(packet(PacketType::Snap, E1), 0),
        [Action::LoadSnapshot { zxid: E1 }]
    );
    assert_eq!(l.on_packet(proposal(E1 + 1), 0), []);
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E1), 0),
        [
            Action::CreateUpdatingEpochFile,
            Action::TakeSnapshot { sync: true },
            Action::Log(txn(E1 + 1)),
        ]
    );
    assert_eq!(l.epochs(), (1, 0));
    assert_eq!(
        l.log_flushed(E1 + 1),
        [
            Action::WriteCurrentEpoch(1),
            Action::DeleteUpdatingEpochFile,
            ack(E1)
        ]
    );
    assert_eq!(
        l.on_packet(packet(PacketType::UpToDate, -1), 0),
        [ack(E1), Action::StartServing { epoch: 1 }, ack(E1 + 1)]
    );

    // Nothing newer than currentEpoch is persisted: no marker (the captured SNAP of a fresh
    // server, zxid 0, is the same case).
    let mut l = discovered(LearnerRole::Observer);
    l.on_packet(packet(PacketType::Snap, E1 + 12), 0);
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [
            Action::TakeSnapshot { sync: true },
            Action::WriteCurrentEpoch(2),
            ack(E2)
        ]
    );

    // A pre-3.4 leader (UPTODATE without NEWLEADER) snapshots at UPTODATE: same bracket.
    let mut l = discovered(LearnerRole::Observer);
    l.on_packet(packet(PacketType::Snap, E2), 0);
    assert_eq!(
        l.on_packet(packet(PacketType::UpToDate, -1), 0),
        [
            Action::CreateUpdatingEpochFile,
            Action::TakeSnapshot { sync: true },
            Action::WriteCurrentEpoch(2),
            Action::DeleteUpdatingEpochFile,
            ack(E2),
            Action::StartServing { epoch: 2 },
        ]
    );
}

/// Found by the ensemble simulation (seed 2003685): observer 4 loaded a SNAP at 0x100000002,
/// lost its leader before NEWLEADER (no snapshot written), kept the state in memory, was
/// synced by DIFF from there and after a crash lacked 0x100000001-2 on disk. Java 3.8 shuts
/// the server down fully in `SyncMode.SNAP` and reloads from disk before voting.
#[test]
fn leader_lost_before_the_newleader_snapshot_reloads_the_database() {
    let lose_after = |role: LearnerRole, mode: PacketType, apply: bool| {
        let mut l = discovered(role);
        l.on_packet(packet(mode, E1 + 7), 0);
        if apply {
            l.on_packet(proposal(E1 + 8), 0);
            l.on_packet(packet(PacketType::Commit, E1 + 8), 0);
        }
        l.disconnected("reset")
    };
    let lost = || Action::LeaderLost {
        reason: "connection to the leader lost: reset".into(),
    };
    for role in [LearnerRole::Follower, LearnerRole::Observer] {
        assert_eq!(
            lose_after(role, PacketType::Snap, false),
            [Action::ReloadDatabase, lost()]
        );
        // TRUNC reloads from disk itself; txns applied after it are in memory only.
        assert_eq!(lose_after(role, PacketType::Trunc, false), [lost()]);
        assert_eq!(
            lose_after(role, PacketType::Trunc, true),
            [Action::ReloadDatabase, lost()]
        );
        // A DIFF keeps its txns for the log: the database is the disk's.
        assert_eq!(lose_after(role, PacketType::Diff, true), [lost()]);
    }

    // A silent leader too; after the NEWLEADER snapshot the disk has it all.
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Snap, E1 + 7), 0);
    assert_eq!(
        l.tick(1000),
        [
            Action::ReloadDatabase,
            Action::LeaderLost {
                reason: "the leader was silent for 1000 ms".into()
            }
        ]
    );
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Snap, E1 + 7), 0);
    l.on_packet(packet(PacketType::NewLeader, E2), 0);
    assert_eq!(l.disconnected("reset"), [lost()]);
}

#[test]
fn sync_mode_errors() {
    // Anything but DIFF, SNAP or TRUNC stops Java's server.
    let mut l = discovered(LearnerRole::Follower);
    assert_eq!(
        l.on_packet(packet(PacketType::Ping, E1), 0),
        [Action::Halt {
            exit_code: EXIT_QUORUM_PACKET_ERROR,
            reason: "Got unexpected packet from leader: PING".into()
        }]
    );
    // A COMMIT with no proposal, or a txn that does not decode: leave.
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E1 + 9), 0);
    assert!(matches!(
        &l.on_packet(packet(PacketType::Commit, E2 + 1), 0)[..],
        [Action::LeaderLost { .. }]
    ));
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E1 + 9), 0);
    let bad = QuorumPacket::new(
        PacketType::Proposal,
        E2 + 1,
        Some(Bytes::from_static(&[0; 7])),
    );
    assert!(matches!(
        &l.on_packet(bad, 0)[..],
        [Action::LeaderLost { .. }]
    ));
    // PINGs during sync go unanswered, as in Java's sync loop.
    let mut l = discovered(LearnerRole::Follower);
    l.on_packet(packet(PacketType::Diff, E1 + 9), 0);
    assert_eq!(l.on_packet(packet(PacketType::Ping, E1 + 9), 0), []);
}

#[test]
fn broadcast_acks_in_order_after_the_flush_and_commits_in_order() {
    let mut l = serving();
    assert_eq!(l.on_packet(proposal(E2 + 1), 0), [Action::Log(txn(E2 + 1))]);
    assert_eq!(l.on_packet(proposal(E2 + 2), 0), [Action::Log(txn(E2 + 2))]);
    assert_eq!(l.on_packet(proposal(E2 + 3), 0), [Action::Log(txn(E2 + 3))]);
    // Java applies a committed txn even before its own log is durable.
    assert_eq!(
        l.on_packet(packet(PacketType::Commit, E2 + 1), 0),
        [Action::Commit(txn(E2 + 1))]
    );
    assert_eq!(l.log_flushed(E2 + 2), [ack(E2 + 1), ack(E2 + 2)]);
    assert_eq!(l.log_flushed(E2 + 2), []);
    assert_eq!(l.log_flushed(E2 + 3), [ack(E2 + 3)]);
    assert_eq!(
        l.on_packet(packet(PacketType::Commit, E2 + 2), 0),
        [Action::Commit(txn(E2 + 2))]
    );
    // A COMMIT that skips the next pending txn stops Java's server.
    assert_eq!(
        l.on_packet(packet(PacketType::Commit, E2 + 4), 0),
        [Action::Halt {
            exit_code: EXIT_UNMATCHED_TXN_COMMIT,
            reason: "Committing zxid 0x200000004 but next pending txn 0x200000003".into()
        }]
    );
    assert_eq!(l.zab_state(), ZabState::Lost);
}

#[test]
fn commit_without_any_pending_txn_is_only_a_warning() {
    let mut l = serving();
    assert_eq!(l.on_packet(packet(PacketType::Commit, E2 + 1), 0), []);
    assert_eq!(l.zab_state(), ZabState::Broadcast);
    assert_eq!(l.on_packet(packet(PacketType::UpToDate, -1), 0), []);
    assert_eq!(
        l.on_packet(inform(E2 + 1), 0),
        [],
        "followers ignore INFORM"
    );
}

#[test]
fn ping_replies_carry_the_touches_since_the_last_one() {
    let mut l = serving();
    let ping = |data: Vec<u8>| {
        Action::Send(QuorumPacket::new(
            PacketType::Ping,
            E2 + 5,
            Some(Bytes::from(data)),
        ))
    };
    assert_eq!(
        l.on_packet(packet(PacketType::Ping, E2 + 5), 0),
        [ping(vec![])]
    );
    l.touch_session(0x22, 4000);
    l.touch_session(0x11, 10_000);
    l.touch_session(0x22, 6000);
    l.touch_session(0x33, 6000);
    l.forget_session(0x33);
    let mut table = Vec::new();
    for (session, timeout) in [(0x11i64, 10_000i32), (0x22, 6000)] {
        table.extend_from_slice(&session.to_be_bytes());
        table.extend_from_slice(&timeout.to_be_bytes());
    }
    assert_eq!(
        l.on_packet(packet(PacketType::Ping, E2 + 5), 0),
        [ping(table)]
    );
    assert_eq!(
        l.on_packet(packet(PacketType::Ping, E2 + 5), 0),
        [ping(vec![])]
    );
}

#[test]
fn forwarded_requests_syncs_and_revalidations() {
    let mut l = serving();
    let auth = Some(vec![Id {
        scheme: "ip".into(),
        id: "127.0.0.1".into(),
    }]);
    let sync = LearnerRequest {
        session_id: 0x5,
        cxid: 9,
        r#type: OpCode::Sync,
        body: Bytes::from_static(&[0, 0, 0, 1, b'/']),
    };
    assert_eq!(
        l.forward(&sync, auth.clone()),
        [Action::Send(QuorumPacket {
            r#type: PacketType::Request,
            zxid: -1,
            data: Some(Bytes::from(sync.to_bytes())),
            authinfo: auth,
        })]
    );
    assert_eq!(
        l.on_packet(packet(PacketType::Sync, 0), 0),
        [Action::SyncDone {
            session_id: 0x5,
            cxid: 9
        }]
    );
    assert_eq!(
        l.on_packet(packet(PacketType::Sync, 0), 0),
        [],
        "no sync pending"
    );

    assert_eq!(
        l.revalidate(0x0200_0085_c64c_0000, 10_000),
        [Action::Send(QuorumPacket::new(
            PacketType::Revalidate,
            -1,
            Some(Bytes::from_static(&[
                2, 0, 0, 0x85, 0xc6, 0x4c, 0, 0, 0, 0, 0x27, 0x10
            ]))
        ))]
    );
    let reply = |valid: u8| {
        QuorumPacket::new(
            PacketType::Revalidate,
            -1,
            Some(Bytes::from(vec![2, 0, 0, 0x85, 0xc6, 0x4c, 0, 0, valid])),
        )
    };
    assert_eq!(
        l.on_packet(reply(0), 0),
        [Action::Revalidated {
            session_id: 0x0200_0085_c64c_0000,
            valid: false
        }]
    );
    assert_eq!(l.on_packet(reply(1), 0), [], "not pending any more");
    let short = QuorumPacket::new(PacketType::Revalidate, -1, Some(Bytes::from_static(&[1])));
    assert!(matches!(
        &l.on_packet(short, 0)[..],
        [Action::LeaderLost { .. }]
    ));
}

#[test]
fn nothing_is_forwarded_before_serving() {
    let mut l = discovered(LearnerRole::Follower);
    let close = LearnerRequest {
        session_id: 1,
        cxid: 2,
        r#type: OpCode::CloseSession,
        body: Bytes::new(),
    };
    assert_eq!(l.forward(&close, None), []);
    assert_eq!(l.revalidate(1, 4000), []);
}

#[test]
fn observer_sync_and_informs() {
    let mut l = discovered(LearnerRole::Observer);
    l.on_packet(packet(PacketType::Diff, E2 + 2), 0);
    assert_eq!(l.on_packet(inform(E2 + 1), 0), []);
    assert_eq!(l.on_packet(proposal(E2 + 2), 0), []);
    // An observer ACKs NEWLEADER without logging anything first.
    assert_eq!(
        l.on_packet(packet(PacketType::NewLeader, E2), 0),
        [Action::WriteCurrentEpoch(2), ack(E2)]
    );
    // The proposal without a commit is skipped; the informed txn is logged and applied.
    assert_eq!(
        l.on_packet(packet(PacketType::UpToDate, -1), 0),
        [
            ack(E2),
            Action::StartServing { epoch: 2 },
            Action::Log(txn(E2 + 1)),
            Action::Commit(txn(E2 + 1)),
        ]
    );
    assert_eq!(
        l.on_packet(inform(E2 + 3), 0),
        [Action::Log(txn(E2 + 3)), Action::Commit(txn(E2 + 3))]
    );
    assert_eq!(l.log_flushed(E2 + 3), [], "observers never ACK txns");
    assert_eq!(l.on_packet(proposal(E2 + 4), 0), []);
    assert_eq!(l.on_packet(packet(PacketType::Commit, E2 + 4), 0), []);
    let mut activate = 9i64.to_be_bytes().to_vec();
    activate.extend_from_slice(&entry(E2 + 4).to_bytes());
    let activate = QuorumPacket::new(
        PacketType::InformAndActivate,
        E2 + 4,
        Some(Bytes::from(activate)),
    );
    assert_eq!(
        l.on_packet(activate, 0),
        [Action::Log(txn(E2 + 4)), Action::Commit(txn(E2 + 4))]
    );

    // Without zookeeper.observer.syncEnabled nothing is logged.
    let mut cfg = config(LearnerRole::Observer);
    cfg.observer_sync_enabled = false;
    let mut l = Learner::new(cfg, local(2, 2, E2), 0);
    l.connected(0);
    let info = QuorumPacket::new(PacketType::LeaderInfo, E2, Some(int_data(0x10000)));
    l.on_packet(info, 0);
    l.on_packet(packet(PacketType::Diff, E2), 0);
    l.on_packet(packet(PacketType::NewLeader, E2), 0);
    l.on_packet(packet(PacketType::UpToDate, -1), 0);
    assert_eq!(
        l.on_packet(inform(E2 + 1), 0),
        [Action::Commit(txn(E2 + 1))]
    );
}

#[test]
fn silent_leader_is_lost_after_init_limit_then_sync_limit_ticks() {
    // Connecting: connectToLearnerMasterLimit (20 ticks of 100 ms).
    let mut l = Learner::new(config(LearnerRole::Follower), local(1, 1, 0), 1000);
    assert_eq!(l.tick(2999), []);
    assert!(matches!(&l.tick(3000)[..], [Action::LeaderLost { .. }]));

    // Until NEWLEADER: initLimit (10 ticks); each packet restarts the clock.
    let mut l = Learner::new(config(LearnerRole::Follower), local(1, 1, 0), 0);
    l.connected(0);
    let info = QuorumPacket::new(PacketType::LeaderInfo, E2, Some(int_data(0x10000)));
    l.on_packet(info, 500);
    assert_eq!(l.tick(1499), []);
    l.on_packet(packet(PacketType::Diff, 0), 1400);
    assert_eq!(l.tick(2399), []);
    // After NEWLEADER: syncLimit (5 ticks).
    l.on_packet(packet(PacketType::NewLeader, E2), 2000);
    l.on_packet(packet(PacketType::UpToDate, -1), 2100);
    assert_eq!(l.tick(2599), []);
    assert_eq!(
        l.tick(2600),
        [Action::LeaderLost {
            reason: "the leader was silent for 500 ms".into()
        }]
    );
    assert_eq!(l.tick(9000), []);

    let mut l = serving();
    assert!(matches!(
        &l.disconnected("reset by peer")[..],
        [Action::LeaderLost { .. }]
    ));
    assert_eq!(l.disconnected("again"), []);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Whatever a leader sends, in any order, the learner does not panic, and once it has lost
    /// the leader it says nothing more.
    #[test]
    fn any_packet_sequence_is_handled(
        observer in proptest::prelude::any::<bool>(),
        start in 0u8..4,
        steps in proptest::collection::vec(
            (1i32..21, 0i64..4, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24), proptest::prelude::any::<bool>()),
            0..40,
        ),
    ) {
        let role = if observer { LearnerRole::Observer } else { LearnerRole::Follower };
        // Start fresh, in a DIFF or SNAP sync, or serving.
        let mut l = if start == 0 {
            let mut l = Learner::new(config(role), local(1, 1, E1 + 3), 0);
            l.connected(0);
            l
        } else {
            discovered(role)
        };
        let mode = if start == 2 { PacketType::Snap } else { PacketType::Diff };
        if start > 0 {
            l.on_packet(packet(mode, E1 + 9), 0);
        }
        if start == 3 {
            l.on_packet(packet(PacketType::NewLeader, E2), 0);
            l.on_packet(packet(PacketType::UpToDate, -1), 0);
            proptest::prop_assert_eq!(l.zab_state(), ZabState::Broadcast);
        }
        let mut lost = false;
        for (i, (code, counter, data, flush)) in steps.into_iter().enumerate() {
            let r#type = PacketType::from_code(code);
            let zxid = E2 + counter;
            let packet = match (r#type, data.len() % 3) {
                (PacketType::Proposal | PacketType::Inform, 0) => QuorumPacket {
                    r#type,
                    ..proposal(zxid)
                },
                (PacketType::LeaderInfo, 0) => {
                    QuorumPacket::new(r#type, E2, Some(int_data(0x10000)))
                }
                _ => QuorumPacket::new(r#type, zxid, Some(Bytes::from(data))),
            };
            let mut out = l.on_packet(packet, i as u64);
            if flush {
                out.extend(l.log_flushed(zxid));
            }
            if lost {
                proptest::prop_assert!(out.is_empty());
            }
            lost |= out
                .iter()
                .any(|a| matches!(a, Action::LeaderLost { .. } | Action::Halt { .. }));
            proptest::prop_assert_eq!(lost, l.zab_state() == ZabState::Lost);
        }
    }
}

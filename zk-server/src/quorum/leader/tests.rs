//! Whole action lists for each phase of the leader.

use super::*;
use zk_proto::quorum::{int_data, LearnerInfoData, ZAB_PROTOCOL_VERSION};
use zk_proto::quorum::{PingTouches, RevalidateRequest};
use zk_proto::txn::{Txn, TxnHeader};
use zk_proto::types::OpCode;

const E1: i64 = 1 << 32;
const CONFIG: &str = "server.1=127.0.0.1:2231:2271:participant\nserver.2=127.0.0.1:2232:2242:participant\nserver.3=127.0.0.1:2233:2243:participant\nserver.4=127.0.0.1:2234:2244:observer\nversion=0";

fn leader() -> Leader {
    let cfg = LeaderConfig {
        my_id: 3,
        quorum: QuorumMaj::from_text(CONFIG, false).unwrap(),
        config_bytes: Bytes::from_static(CONFIG.as_bytes()),
        tick_time_ms: 1000,
        init_limit: 10,
        sync_limit: 5,
        force_snap_sync: false,
    };
    let (leader, actions) = Leader::new(cfg, LeaderStart::default(), 0);
    assert_eq!(actions, vec![]);
    leader
}

fn pkt(t: PacketType, zxid: i64, data: Option<Bytes>) -> QuorumPacket {
    QuorumPacket::new(t, zxid, data)
}

fn send(id: LearnerId, t: PacketType, zxid: i64, data: Option<Bytes>) -> Action {
    Action::Send(id, pkt(t, zxid, data))
}

fn info(t: PacketType, sid: i64, accepted_epoch: i64) -> QuorumPacket {
    let data = LearnerInfoData::SidAndProtocol {
        serverid: sid,
        protocol_version: ZAB_PROTOCOL_VERSION,
    };
    pkt(t, accepted_epoch << 32, Some(data.to_bytes().into()))
}

fn leader_info(id: LearnerId, epoch: i64) -> Action {
    send(
        id,
        PacketType::LeaderInfo,
        epoch << 32,
        Some(int_data(ZAB_PROTOCOL_VERSION)),
    )
}

fn newleader(id: LearnerId) -> Action {
    send(
        id,
        PacketType::NewLeader,
        E1,
        Some(Bytes::from_static(CONFIG.as_bytes())),
    )
}

fn txn(zxid: i64) -> Arc<TxnEntry> {
    Arc::new(TxnEntry {
        header: TxnHeader {
            client_id: 5,
            cxid: 1,
            zxid,
            time: 7,
            r#type: OpCode::CloseSession,
        },
        txn: Txn::CloseSession(Default::default()),
        digest: None,
    })
}

/// Learner 1 (sid 1) and observer 4 (sid 4) through discovery and sync into broadcast.
fn established() -> Leader {
    let mut l = leader();
    l.learner_connected(1, 0);
    l.learner_connected(4, 0);
    assert_eq!(
        l.on_packet(4, info(PacketType::ObserverInfo, 4, 0), 1),
        vec![]
    );
    assert_eq!(
        l.on_packet(1, info(PacketType::FollowerInfo, 1, 0), 2),
        vec![
            Action::WriteAcceptedEpoch(1),
            leader_info(1, 1),
            leader_info(4, 1)
        ]
    );
    // The observer's epoch ack does not count for the quorum.
    assert_eq!(
        l.on_packet(4, pkt(PacketType::AckEpoch, 0, Some(int_data(0))), 3),
        vec![]
    );
    assert_eq!(
        l.on_packet(1, pkt(PacketType::AckEpoch, 0, Some(int_data(0))), 4),
        vec![
            Action::WriteCurrentEpoch(1),
            send(1, PacketType::Diff, 0, None),
            newleader(1),
            send(4, PacketType::Diff, 0, None),
            newleader(4),
        ]
    );
    assert_eq!(
        l.on_packet(1, pkt(PacketType::Ack, E1, None), 5),
        vec![
            Action::Established { zxid: E1 },
            send(1, PacketType::UpToDate, -1, None)
        ]
    );
    assert_eq!(
        l.on_packet(4, pkt(PacketType::Ack, E1, None), 6),
        vec![send(4, PacketType::UpToDate, -1, None)]
    );
    l
}

#[test]
fn discovery_and_sync_whole_lists() {
    let l = established();
    assert!(l.is_established());
    assert_eq!(l.epoch(), 1);
}

#[test]
fn broadcast_commits_in_order_with_informs_and_pending_syncs() {
    let mut l = established();
    let data = |z: i64| Some(Bytes::from(txn(z).to_bytes()));
    assert_eq!(
        l.propose(txn(E1 + 1), 10),
        vec![send(1, PacketType::Proposal, E1 + 1, data(E1 + 1))]
    );
    l.propose(txn(E1 + 2), 11);
    assert_eq!(l.sync_reached(1), vec![]);
    // Sid 1 acks 2 first: nothing commits before 1.
    assert_eq!(
        l.on_packet(1, pkt(PacketType::Ack, E1 + 2, None), 12),
        vec![]
    );
    assert_eq!(
        l.on_packet(1, pkt(PacketType::Ack, E1 + 1, None), 13),
        vec![]
    );
    // The leader's flush completes both quorums.
    assert_eq!(
        l.log_flushed(E1 + 2, 14),
        vec![
            send(1, PacketType::Commit, E1 + 1, None),
            send(4, PacketType::Inform, E1 + 1, data(E1 + 1)),
            Action::Commit(E1 + 1),
            send(1, PacketType::Commit, E1 + 2, None),
            send(4, PacketType::Inform, E1 + 2, data(E1 + 2)),
            Action::Commit(E1 + 2),
            send(1, PacketType::Sync, 0, None),
        ]
    );
    assert_eq!(l.sync_reached(1), vec![send(1, PacketType::Sync, 0, None)]);
    // A late or duplicate ACK is ignored.
    assert_eq!(
        l.on_packet(1, pkt(PacketType::Ack, E1 + 1, None), 15),
        vec![]
    );
    assert_eq!(l.last_committed(), E1 + 2);
}

#[test]
fn with_an_archive_gate_commits_follow_the_archive() {
    let mut l = established();
    l.gate_commits_on_archive(E1);
    let data = |z: i64| Some(Bytes::from(txn(z).to_bytes()));
    l.propose(txn(E1 + 1), 10);
    l.propose(txn(E1 + 2), 11);
    l.on_packet(1, pkt(PacketType::Ack, E1 + 1, None), 12);
    l.on_packet(1, pkt(PacketType::Ack, E1 + 2, None), 12);
    // Both have their quorum with the leader's flush: handed to the archiver, not committed.
    assert_eq!(
        l.log_flushed(E1 + 2, 13),
        vec![
            Action::QuorumAcked {
                after: E1,
                through: E1 + 1
            },
            Action::QuorumAcked {
                after: E1 + 1,
                through: E1 + 2
            }
        ]
    );
    assert_eq!(l.sync_reached(1), vec![], "a sync waits for the commit");
    assert_eq!(l.last_committed(), E1);
    // The archive holds the first: it commits, the second waits.
    assert_eq!(
        l.archived(E1 + 1, 14),
        vec![
            send(1, PacketType::Commit, E1 + 1, None),
            send(4, PacketType::Inform, E1 + 1, data(E1 + 1)),
            Action::Commit(E1 + 1),
        ]
    );
    // A third proposal with its quorum is handed over alone; the archive then releases both.
    l.propose(txn(E1 + 3), 15);
    l.on_packet(1, pkt(PacketType::Ack, E1 + 3, None), 16);
    assert_eq!(
        l.log_flushed(E1 + 3, 16),
        vec![Action::QuorumAcked {
            after: E1 + 2,
            through: E1 + 3
        }]
    );
    let released = l.archived(E1 + 3, 17);
    assert_eq!(
        released
            .iter()
            .filter(|a| matches!(a, Action::Commit(_)))
            .collect::<Vec<_>>(),
        [&Action::Commit(E1 + 2), &Action::Commit(E1 + 3)]
    );
    assert!(released.contains(&send(1, PacketType::Sync, 0, None)));
    assert_eq!(l.last_committed(), E1 + 3);
}

#[test]
fn a_learner_syncing_gets_the_outstanding_proposals_after_its_snapshot() {
    let mut l = established();
    l.propose(txn(E1 + 1), 10);
    l.log_flushed(E1 + 1, 10);
    l.on_packet(1, pkt(PacketType::Ack, E1 + 1, None), 11);
    l.propose(txn(E1 + 2), 12);
    let data = |z: i64| Some(Bytes::from(txn(z).to_bytes()));
    l.learner_connected(2, 13);
    assert_eq!(
        l.on_packet(2, info(PacketType::FollowerInfo, 2, 0), 13),
        vec![leader_info(2, 1)]
    );
    assert_eq!(
        l.on_packet(2, pkt(PacketType::AckEpoch, 0, Some(int_data(0))), 14),
        // Zxid 0 is older than the committed log and there is no disk history: SNAP of the
        // tree as of E1 + 1, then the outstanding E1 + 2.
        vec![
            send(2, PacketType::Snap, E1 + 1, None),
            Action::SendSnapshot(2, E1 + 1),
            send(2, PacketType::Proposal, E1 + 2, data(E1 + 2)),
            newleader(2),
        ]
    );
    // Proposed while it waits for its NEWLEADER ack: queued after NEWLEADER.
    let third = l.propose(txn(E1 + 3), 15);
    assert!(third.contains(&send(2, PacketType::Proposal, E1 + 3, data(E1 + 3))));
    assert_eq!(
        l.on_packet(2, pkt(PacketType::Ack, E1, None), 16),
        vec![send(2, PacketType::UpToDate, -1, None)]
    );
}

#[test]
fn steady_state_packets_become_actions() {
    let mut l = established();
    let touch = PingTouches(vec![SessionTouch {
        session_id: 9,
        timeout_ms: 4000,
    }]);
    assert_eq!(
        l.on_packet(
            1,
            pkt(PacketType::Ping, E1, Some(touch.to_bytes().into())),
            10
        ),
        vec![Action::TouchSessions(touch.0)]
    );
    assert_eq!(
        l.on_packet(1, pkt(PacketType::Ping, E1, Some(Bytes::new())), 11),
        vec![]
    );
    let reval = RevalidateRequest {
        session_id: 9,
        timeout_ms: 4000,
    };
    assert_eq!(
        l.on_packet(
            1,
            pkt(PacketType::Revalidate, -1, Some(reval.to_bytes().into())),
            12
        ),
        vec![Action::Revalidate {
            learner: 1,
            session_id: 9,
            timeout_ms: 4000
        }]
    );
    assert_eq!(
        l.revalidated(1, 9, false),
        vec![send(
            1,
            PacketType::Revalidate,
            -1,
            Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 9, 0]))
        )]
    );
    let req = LearnerRequest {
        session_id: 9,
        cxid: 2,
        r#type: OpCode::Sync,
        body: Bytes::from_static(&[0, 0, 0, 1, b'/']),
    };
    assert_eq!(
        l.on_packet(
            1,
            pkt(PacketType::Request, -1, Some(req.to_bytes().into())),
            13
        ),
        vec![Action::Request {
            learner: 1,
            request: req,
            authinfo: None
        }]
    );
}

#[test]
fn malformed_packets_drop_only_that_learner() {
    let mut l = established();
    assert_eq!(
        l.on_packet(
            1,
            pkt(PacketType::Ping, E1, Some(Bytes::from_static(&[1; 5]))),
            10
        ),
        vec![Action::DropLearner(
            1,
            DropReason::Protocol(
                "invalid PING touch table: 5 bytes is not a multiple of 12".into()
            )
        )]
    );
    assert!(matches!(
        l.on_packet(
            4,
            pkt(PacketType::Request, -1, Some(Bytes::from_static(&[0; 3]))),
            11
        )[..],
        [Action::DropLearner(4, DropReason::Protocol(_))]
    ));
    assert!(l.is_established());
    let mut l = leader();
    l.learner_connected(7, 0);
    assert!(matches!(
        l.on_packet(7, pkt(PacketType::Ack, 0, None), 1)[..],
        [Action::DropLearner(7, DropReason::Protocol(_))]
    ));
    // A learner with a newer current epoch than the leader's.
    l.learner_connected(1, 0);
    l.on_packet(1, info(PacketType::FollowerInfo, 1, 0), 1);
    assert_eq!(
        l.on_packet(1, pkt(PacketType::AckEpoch, E1 + 5, Some(int_data(1))), 2),
        vec![Action::DropLearner(1, DropReason::LearnerAhead)]
    );
}

#[test]
fn pings_then_step_down_when_the_quorum_goes_quiet() {
    let mut l = established();
    // The first round comes tickTime / 2 after the start; PING carries the last proposed zxid.
    assert_eq!(
        l.on_tick(505),
        vec![
            send(1, PacketType::Ping, E1, None),
            send(4, PacketType::Ping, E1, None)
        ]
    );
    // Learner 1 keeps talking, the observer does not: it is dropped after syncLimit (5 s).
    let mut dropped = Vec::new();
    for t in (1000..=5600).step_by(500) {
        l.on_packet(1, pkt(PacketType::Ping, E1, Some(Bytes::new())), t);
        dropped.extend(
            l.on_tick(t)
                .into_iter()
                .filter(|a| matches!(a, Action::DropLearner(..))),
        );
    }
    assert_eq!(
        dropped,
        vec![Action::DropLearner(4, DropReason::ReadTimeout)]
    );
    // Now sid 1 goes quiet too: after its syncLimit deadline the leader lacks a quorum.
    let mut last = Vec::new();
    for t in (6000..=12000).step_by(500) {
        last = l.on_tick(t);
        if last.iter().any(|a| matches!(a, Action::StepDown(_))) {
            break;
        }
    }
    assert!(
        matches!(last.last(), Some(Action::StepDown(r)) if r.starts_with("Not sufficient followers synced")),
        "{last:?}"
    );
    assert!(!l.is_established());
    assert_eq!(l.on_tick(20_000), vec![]);
}

#[test]
fn unacked_proposal_drops_the_follower_and_discovery_times_out() {
    let mut l = established();
    l.propose(txn(E1 + 1), 1000);
    let mut all = Vec::new();
    for t in (1000..=6600).step_by(500) {
        l.on_packet(1, pkt(PacketType::Ping, E1 + 1, Some(Bytes::new())), t);
        l.on_packet(4, pkt(PacketType::Ping, E1 + 1, Some(Bytes::new())), t);
        all.extend(l.on_tick(t));
    }
    assert!(
        all.contains(&Action::DropLearner(1, DropReason::AckTimeout)),
        "{all:?}"
    );

    let mut l = leader();
    assert_eq!(l.on_tick(9_999), vec![]);
    assert_eq!(
        l.on_tick(10_000),
        vec![Action::StepDown(
            "Timeout while waiting for epoch from quorum".into()
        )]
    );
}

//! Replays of real Java 3.8.0 syncs (QUORUM.md 5, `vectors/quorum/learner1-*`; copies in
//! `zk-server/tests/data/quorum/`). A proxy recorded both directions of sid 1's quorum
//! connection to its leader three times: a SNAP sync in epoch 1 followed by client traffic, an
//! empty DIFF in epoch 2, and a DIFF of five txns in epoch 2 after a restart.
//!
//! A follower with sid 1's stored state is fed the leader's packets, each txn it logs is
//! reported durable at once, and every packet it sends must be the bytes Java sent, in the
//! same order. What the leader cannot cause is put in from the capture: the client requests
//! and the re-validation sid 1 forwarded (their encoding and place are checked, not the client
//! side), and the one session touch behind each non-empty PING reply (Java records a touch
//! when the client talks to it, which the capture does not show). The captures have no
//! timing, so the replay sends nothing on its own (no timeouts).

use std::collections::VecDeque;

use zk_proto::quorum::{LearnerRequest, PacketType, PingTouches, QuorumPacket, RevalidateRequest};
use zk_proto::storage::read_snap_sync_body;
use zk_proto::Jute;

use super::*;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/quorum/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The packets of a recorded stream with their raw bytes; a SNAP body is skipped (and must
/// parse).
fn packets(name: &str) -> Vec<(QuorumPacket, Vec<u8>)> {
    let stream = data(name);
    let mut input = &stream[..];
    let mut out = Vec::new();
    while !input.is_empty() {
        let before = input;
        let packet = QuorumPacket::read(&mut input).unwrap();
        let raw = before[..before.len() - input.len()].to_vec();
        if packet.r#type == PacketType::Snap {
            read_snap_sync_body(&mut input).unwrap();
        }
        out.push((packet, raw));
    }
    out
}

/// A follower with sid 1's stored state.
fn follower(accepted_epoch: i64, current_epoch: i64, last_logged_zxid: i64) -> Learner {
    let local = LocalState {
        accepted_epoch,
        current_epoch,
        last_logged_zxid,
        force_snapshot_after_election: false,
    };
    let config = LearnerConfig {
        server_id: 1,
        role: LearnerRole::Follower,
        config_version: 0,
        tick_ms: 1000,
        init_limit: 10,
        sync_limit: 5,
        connect_limit: 10,
        observer_sync_enabled: true,
    };
    Learner::new(config, local, 0)
}

/// What the replay saw besides the sent packets.
#[derive(Debug, Default)]
struct Replay {
    /// Every action that is not a Send, in order.
    others: Vec<Action>,
    /// Follower packets compared.
    compared: usize,
    /// Bytes compared.
    bytes: usize,
    /// Packets sent and not compared yet.
    sent: VecDeque<QuorumPacket>,
}

/// Files the actions of one input: packets are queued for comparison, each logged txn is
/// reported durable at once.
fn take(actions: Vec<Action>, learner: &mut Learner, result: &mut Replay) {
    let mut queue: VecDeque<Action> = actions.into();
    while let Some(action) = queue.pop_front() {
        match action {
            Action::Send(p) => result.sent.push_back(p),
            Action::Log(entry) => {
                let zxid = entry.header.zxid;
                result.others.push(Action::Log(entry));
                queue.extend(learner.log_flushed(zxid));
            }
            other => result.others.push(other),
        }
    }
}

/// Runs `learner` against a recorded pair of streams: see the module docs.
fn replay(learner: &mut Learner, capture: &str) -> Replay {
    let mut from_leader: VecDeque<_> = packets(&format!("{capture}-leader-to-follower.bin"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let expected = packets(&format!("{capture}-follower-to-leader.bin"));
    let mut result = Replay::default();
    take(learner.connected(0), learner, &mut result);
    for (i, (want, raw)) in expected.iter().enumerate() {
        match want.r#type {
            PacketType::Request => {
                let request = LearnerRequest::parse(want.data_bytes()).unwrap();
                take(
                    learner.forward(&request, want.authinfo.clone()),
                    learner,
                    &mut result,
                );
            }
            PacketType::Revalidate => {
                let r = RevalidateRequest::parse(want.data_bytes()).unwrap();
                take(
                    learner.revalidate(r.session_id, r.timeout_ms),
                    learner,
                    &mut result,
                );
            }
            PacketType::Ping if result.sent.is_empty() => {
                for touch in PingTouches::parse(want.data_bytes()).unwrap().0 {
                    learner.touch_session(touch.session_id, touch.timeout_ms);
                }
            }
            _ => {}
        }
        while result.sent.is_empty() {
            let packet = from_leader
                .pop_front()
                .unwrap_or_else(|| panic!("{capture}: leader stream ended before packet {i}"));
            take(learner.on_packet(packet, 0), learner, &mut result);
        }
        let got = result.sent.pop_front().unwrap();
        assert_eq!(
            got.to_jute_bytes(),
            *raw,
            "{capture}: follower packet {i}: got {got:?}, Java sent {want:?}"
        );
        result.compared += 1;
        result.bytes += raw.len();
    }
    // The leader's last packets (pings the follower's side of the capture ends before) must
    // not make the follower say more than Java did.
    for packet in from_leader {
        take(learner.on_packet(packet, 0), learner, &mut result);
    }
    assert!(
        result.sent.is_empty(),
        "{capture}: extra packets {:?}",
        result.sent
    );
    result
}

/// Asserts that txns 1..=`count` of `epoch` were logged and committed in order, and returns
/// the other actions.
fn txns_then_the_rest(r: &Replay, epoch: i64, count: i64) -> Vec<Action> {
    let txns: Vec<i64> = (1..=count).map(|c| make_zxid(epoch, c)).collect();
    let pick = |f: fn(&Action) -> Option<&TxnEntry>| -> Vec<i64> {
        r.others
            .iter()
            .filter_map(f)
            .map(|e| e.header.zxid)
            .collect()
    };
    let logged = pick(|a| match a {
        Action::Log(e) => Some(e),
        _ => None,
    });
    let committed = pick(|a| match a {
        Action::Commit(e) => Some(e),
        _ => None,
    });
    assert_eq!((&logged, &committed), (&txns, &txns));
    r.others
        .iter()
        .filter(|a| !matches!(a, Action::Log(_) | Action::Commit(_)))
        .cloned()
        .collect()
}

#[test]
fn diff_of_five_txns_matches_java_byte_for_byte() {
    // sid 1 had accepted epoch 2 (the empty DIFF below) and logged up to 0x100000009.
    let mut learner = follower(2, 2, 0x1_0000_0009);
    let r = replay(&mut learner, "learner1-epoch2-DIFF");
    assert_eq!((r.compared, r.bytes), (77, 1564));
    // The epoch was already accepted; NEWLEADER writes the current epoch; no snapshot.
    assert_eq!(
        txns_then_the_rest(&r, 2, 5),
        [
            Action::WriteCurrentEpoch(2),
            Action::StartServing { epoch: 2 }
        ]
    );
    assert_eq!(learner.zab_state(), ZabState::Broadcast);
    assert_eq!(
        learner.leader_config().map(|c| &c[..9]),
        Some(&b"server.1="[..])
    );
}

#[test]
fn empty_diff_matches_java_byte_for_byte() {
    // Before epoch 2 sid 1 was in epoch 1 with 9 txns.
    let mut learner = follower(1, 1, 0x1_0000_0009);
    let r = replay(&mut learner, "learner1-epoch2-emptyDIFF");
    assert_eq!((r.compared, r.bytes), (39, 804));
    assert_eq!(
        txns_then_the_rest(&r, 2, 0),
        [
            Action::WriteAcceptedEpoch(2),
            Action::WriteCurrentEpoch(2),
            Action::StartServing { epoch: 2 }
        ]
    );
    assert_eq!(learner.epochs(), (2, 2));
}

#[test]
fn snap_and_client_traffic_match_java_byte_for_byte() {
    // A fresh server: no epoch files, empty log.
    let mut learner = follower(0, 0, 0);
    let r = replay(&mut learner, "learner1-epoch1-SNAP");
    assert_eq!((r.compared, r.bytes), (90, 2210));
    assert_eq!(
        txns_then_the_rest(&r, 1, 9),
        [
            Action::WriteAcceptedEpoch(1),
            Action::LoadSnapshot { zxid: 0 },
            Action::TakeSnapshot { sync: true },
            Action::WriteCurrentEpoch(1),
            Action::StartServing { epoch: 1 },
            Action::SyncDone {
                session_id: 0x0100_0085_b004_0000,
                cxid: 4
            },
            Action::Revalidated {
                session_id: 0x0200_0085_c64c_0000,
                valid: true
            },
        ]
    );
    // The sync answer comes after the commit of the txn before it (0x100000004).
    let sync_at = r
        .others
        .iter()
        .position(|a| matches!(a, Action::SyncDone { .. }))
        .unwrap();
    let last_commit = r.others[..sync_at].iter().rev().find_map(|a| match a {
        Action::Commit(e) => Some(e.header.zxid),
        _ => None,
    });
    assert_eq!(last_commit, Some(0x1_0000_0004));
}

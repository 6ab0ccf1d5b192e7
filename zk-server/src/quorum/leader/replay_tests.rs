//! Replays what a Java 3.8 follower (sid 1) sent its Java leader (sid 3) into our leader and
//! compares our packets with what the Java leader sent back (tests/data/quorum/learner1-*).
//! Compared exactly: every non-PING packet (type, zxid, data, authinfo) in order. PINGs depend
//! on timing, so only their zxids are checked (each must be one the Java leader pinged with).

use super::*;
use zk_proto::jute::Jute;
use zk_proto::quorum::{int_data, LearnerInfoData, ZAB_PROTOCOL_VERSION};
use zk_proto::types::OpCode;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/quorum/");
const LEARNER: LearnerId = 1;

/// The packets of one captured direction; the snapshot after SNAP is checked and skipped.
fn read_stream(name: &str) -> Vec<QuorumPacket> {
    let bytes = std::fs::read(format!("{DATA}{name}")).expect("capture");
    let mut input = &bytes[..];
    let mut packets = Vec::new();
    while !input.is_empty() {
        let p = QuorumPacket::read(&mut input).expect("packet");
        if p.r#type == PacketType::Snap {
            zk_proto::storage::read_snap_sync_body(&mut input).expect("snapshot body");
        }
        packets.push(p);
    }
    packets
}

fn proposals(packets: &[QuorumPacket]) -> Vec<Arc<TxnEntry>> {
    packets
        .iter()
        .filter(|p| p.r#type == PacketType::Proposal)
        .map(|p| Arc::new(p.txn_entry().expect("txn")))
        .collect()
}

/// The NEWLEADER config the Java leader sent (the same in all three captures).
fn config_text(packets: &[QuorumPacket]) -> Bytes {
    let newleader = packets.iter().find(|p| p.r#type == PacketType::NewLeader);
    newleader.and_then(|p| p.data.clone()).expect("NEWLEADER")
}

fn leader(config: Bytes, force_snap: bool, start: LeaderStart) -> (Leader, Vec<Action>) {
    let text = String::from_utf8(config.to_vec()).unwrap();
    let cfg = LeaderConfig {
        my_id: 3,
        quorum: QuorumMaj::from_text(&text, false).unwrap(),
        config_bytes: config,
        tick_time_ms: 1000,
        init_limit: 10,
        sync_limit: 5,
        force_snap_sync: force_snap,
    };
    Leader::new(cfg, start, 0)
}

/// Feeds the follower's packets in order, playing the local pipeline: a proposal the follower
/// ACKs is proposed (and flushed by the leader) first, forwarded syncs reach the proposal stage
/// at once, and re-attached sessions are valid. Returns what went to the follower.
fn replay(
    leader: &mut Leader,
    from_follower: &[QuorumPacket],
    txns: &[Arc<TxnEntry>],
    now_ms: &mut u64,
) -> (Vec<QuorumPacket>, Vec<Action>) {
    let mut sent = Vec::new();
    let mut other = Vec::new();
    let mut next_txn = txns.iter().peekable();
    leader.learner_connected(LEARNER, *now_ms);
    for p in from_follower {
        *now_ms += 40;
        let mut actions = leader.on_tick(*now_ms);
        if p.r#type == PacketType::Ack && p.zxid & 0xffff_ffff != 0 {
            while let Some(t) = next_txn.next_if(|t| t.header.zxid <= p.zxid) {
                actions.extend(leader.propose(t.clone(), *now_ms));
                actions.extend(leader.log_flushed(t.header.zxid, *now_ms));
            }
        }
        actions.extend(leader.on_packet(LEARNER, p.clone(), *now_ms));
        let mut follow_ups = Vec::new();
        for a in &actions {
            match a {
                Action::Request {
                    learner, request, ..
                } if request.r#type == OpCode::Sync => {
                    follow_ups.extend(leader.sync_reached(*learner));
                }
                Action::Revalidate {
                    learner,
                    session_id,
                    ..
                } => {
                    follow_ups.extend(leader.revalidated(*learner, *session_id, true));
                }
                _ => {}
            }
        }
        for a in actions.into_iter().chain(follow_ups) {
            match a {
                Action::Send(LEARNER, packet) => sent.push(packet),
                a => other.push(a),
            }
        }
    }
    (sent, other)
}

fn compare(ours: &[QuorumPacket], java: &[QuorumPacket]) {
    let not_ping = |p: &&QuorumPacket| p.r#type != PacketType::Ping;
    let ours_np: Vec<&QuorumPacket> = ours.iter().filter(not_ping).collect();
    let java_np: Vec<&QuorumPacket> = java.iter().filter(not_ping).collect();
    for (i, (o, j)) in ours_np.iter().zip(&java_np).enumerate() {
        assert_eq!(
            o,
            j,
            "packet {i}: ours {} vs Java {}",
            o.r#type.name(),
            j.r#type.name()
        );
    }
    assert_eq!(ours_np.len(), java_np.len(), "non-PING packet count");
    assert!(
        ours.iter().any(|p| p.r#type == PacketType::Ping),
        "the leader pinged"
    );
    pings_carry_the_last_proposal(ours);
    pings_carry_the_last_proposal(java);
}

/// A leader PING carries its last proposed zxid: the last PROPOSAL this learner got, or the
/// epoch's zxid before any.
fn pings_carry_the_last_proposal(stream: &[QuorumPacket]) {
    let mut last = None;
    for p in stream {
        match p.r#type {
            PacketType::LeaderInfo => last = Some(p.zxid),
            PacketType::Proposal => last = Some(p.zxid),
            PacketType::Ping => assert_eq!((Some(p.zxid), &p.data), (last, &None), "{p:?}"),
            _ => {}
        }
    }
}

#[test]
fn snap_sync_and_broadcast_match_java() {
    let java = read_stream("learner1-epoch1-SNAP-leader-to-follower.bin");
    let follower = read_stream("learner1-epoch1-SNAP-follower-to-leader.bin");
    let (mut leader, start) = leader(config_text(&java), true, LeaderStart::default());
    assert_eq!(start, vec![], "one voter of three: no epoch yet");
    let mut now = 0;
    let (ours, other) = replay(&mut leader, &follower, &proposals(&java), &mut now);
    compare(&ours, &java);
    assert_eq!(other[0], Action::WriteAcceptedEpoch(1));
    assert_eq!(other[1], Action::WriteCurrentEpoch(1));
    assert_eq!(other[2], Action::SendSnapshot(LEARNER, 0));
    assert!(other.contains(&Action::Established { zxid: 1 << 32 }));
    let commits: Vec<i64> = other
        .iter()
        .filter_map(|a| match a {
            Action::Commit(z) => Some(*z),
            _ => None,
        })
        .collect();
    assert_eq!(commits, (1..=9).map(|c| (1 << 32) + c).collect::<Vec<_>>());
    let requests = other
        .iter()
        .filter(|a| matches!(a, Action::Request { .. }))
        .count();
    assert_eq!(
        requests, 7,
        "createSession, create, setData, create, sync, two closeSessions"
    );
    assert!(other.iter().any(
        |a| matches!(a, Action::TouchSessions(t) if t[0].session_id == 0x0100_0085_b004_0000)
    ));
}

/// The leader of epoch 1's txns after a restart: accepted and current epoch 1, the nine txns
/// of epoch 1 in its committed log (taken from the SNAP capture's PROPOSALs).
fn restarted_leader(config: Bytes) -> (Leader, Vec<Arc<TxnEntry>>) {
    let epoch1 = proposals(&read_stream("learner1-epoch1-SNAP-leader-to-follower.bin"));
    let start = LeaderStart {
        accepted_epoch: 1,
        current_epoch: 1,
        last_processed_zxid: epoch1.last().unwrap().header.zxid,
        committed_log: epoch1.clone(),
    };
    (leader(config, false, start).0, epoch1)
}

#[test]
fn empty_diff_after_a_restart_matches_java() {
    let java = read_stream("learner1-epoch2-emptyDIFF-leader-to-follower.bin");
    let follower = read_stream("learner1-epoch2-emptyDIFF-follower-to-leader.bin");
    let (mut leader, _) = restarted_leader(config_text(&java));
    let mut now = 0;
    let (ours, other) = replay(&mut leader, &follower, &[], &mut now);
    compare(&ours, &java);
    assert_eq!(
        other[..3],
        [
            Action::WriteAcceptedEpoch(2),
            Action::WriteCurrentEpoch(2),
            Action::Established { zxid: 2 << 32 }
        ]
    );
}

#[test]
fn diff_to_a_returning_follower_matches_java() {
    let java = read_stream("learner1-epoch2-DIFF-leader-to-follower.bin");
    let follower = read_stream("learner1-epoch2-DIFF-follower-to-leader.bin");
    let (mut leader, epoch1) = restarted_leader(config_text(&java));
    // Epoch 2 is established with sid 2 while sid 1 is away; five txns commit.
    let mut now = 0;
    leader.learner_connected(2, now);
    let info = LearnerInfoData::SidAndProtocol {
        serverid: 2,
        protocol_version: ZAB_PROTOCOL_VERSION,
    };
    let epoch1_last = epoch1.last().unwrap().header.zxid;
    for p in [
        QuorumPacket::new(
            PacketType::FollowerInfo,
            1 << 32,
            Some(info.to_bytes().into()),
        ),
        QuorumPacket::new(PacketType::AckEpoch, epoch1_last, Some(int_data(1))),
        QuorumPacket::new(PacketType::Ack, 2 << 32, None),
    ] {
        leader.on_packet(2, p, now);
    }
    assert!(leader.is_established());
    for t in proposals(&java) {
        now += 10;
        leader.propose(t.clone(), now);
        leader.log_flushed(t.header.zxid, now);
        let acks = leader.on_packet(
            2,
            QuorumPacket::new(PacketType::Ack, t.header.zxid, None),
            now,
        );
        assert!(acks.contains(&Action::Commit(t.header.zxid)));
    }
    let (ours, _) = replay(&mut leader, &follower, &[], &mut now);
    compare(&ours, &java);
}

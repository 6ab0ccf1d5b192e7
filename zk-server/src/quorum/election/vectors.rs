//! The election as three real Java 3.8.0 servers ran it (QUORUM.md, `vectors/quorum/`; copies in
//! `zk-server/tests/data/quorum/`). A proxy recorded both directions of sid 3's election
//! connection to sid 1: sid 3's initial message and its first vote, and sid 1's vote for itself
//! followed by its switch to sid 3. Each core below plays one of the two servers, is fed what
//! the other one sent, and must write the very bytes the Java server wrote next.

use zk_proto::quorum::{read_election_frame, InitialMessage, Notification, ServerState};

use super::*;
use crate::config::PeerType;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/quorum/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The frame bodies of a recorded stream (after the initial message, if any).
fn frames(mut stream: &[u8], has_initial_message: bool) -> Vec<Vec<u8>> {
    if has_initial_message {
        InitialMessage::read(&mut stream).unwrap();
    }
    let mut out = Vec::new();
    while !stream.is_empty() {
        out.push(read_election_frame(&mut stream).unwrap().to_vec());
    }
    out
}

/// A core for `sid` of the captured ensemble, with the config text that server sent (the
/// test rig gave each server its own proxy ports, so the texts differ).
fn java_peer(sid: i64, sent: &[u8]) -> Election {
    let config = Notification::parse(sent).unwrap().config.unwrap();
    Election::new(
        sid,
        PeerType::Participant,
        Box::new(MajorityQuorum::new([1, 2, 3])),
        config,
        ElectionTiming::default(),
    )
}

fn broadcast_bytes(actions: &[Action]) -> Vec<Vec<u8>> {
    actions
        .iter()
        .map(|a| match a {
            Action::Broadcast { notification } => notification.to_bytes(),
            other => panic!("expected only broadcasts, got {other:?}"),
        })
        .collect()
}

#[test]
fn sid1_answers_sid3_as_java_did() {
    let from_sid3 = frames(&data("election-sid3-to-sid1-outbound.bin"), true);
    let from_sid1 = frames(&data("election-sid1-to-sid3-return.bin"), false);
    assert_eq!((from_sid3.len(), from_sid1.len()), (1, 2));

    // Sid 1 starts empty (zxid 0, epoch 0): its first vote, byte for byte.
    let mut sid1 = java_peer(1, &from_sid1[0]);
    let start = sid1.look_for_leader(0, 0, 0);
    assert_eq!(broadcast_bytes(&start), vec![from_sid1[0].clone()]);

    // Sid 3's vote arrives: sid 1 switches to 3 and says so, byte for byte.
    let vote3 = Notification::parse(&from_sid3[0]).unwrap();
    let switched = sid1.on_notification(50, 3, &vote3);
    assert_eq!(broadcast_bytes(&switched), vec![from_sid1[1].clone()]);
    // It then follows 3 after the finalize wait (the learner capture shows 1 following 3).
    assert_eq!(sid1.on_tick(249), vec![]);
    assert_eq!(
        sid1.on_tick(250),
        vec![Action::Decided(Decision {
            leader: 3,
            zxid: 0,
            election_epoch: 1,
            peer_epoch: 0,
            state: ServerState::Following,
        })]
    );
}

#[test]
fn sid3_leads_on_sid1s_votes_as_java_did() {
    let from_sid3 = frames(&data("election-sid3-to-sid1-outbound.bin"), true);
    let from_sid1 = frames(&data("election-sid1-to-sid3-return.bin"), false);

    let mut sid3 = java_peer(3, &from_sid3[0]);
    assert_eq!(
        broadcast_bytes(&sid3.look_for_leader(0, 0, 0)),
        vec![from_sid3[0].clone()]
    );
    // Sid 1's vote for itself loses to mine and needs no answer (Java sent nothing more).
    let vote1 = Notification::parse(&from_sid1[0]).unwrap();
    assert_eq!(sid3.on_notification(10, 1, &vote1), vec![]);
    // Its switch gives me {1, 3}, a quorum: I lead round 1 after 200 quiet ms.
    let switched = Notification::parse(&from_sid1[1]).unwrap();
    assert_eq!(sid3.on_notification(20, 1, &switched), vec![]);
    assert_eq!(sid3.on_tick(219), vec![]);
    assert_eq!(
        sid3.on_tick(220),
        vec![Action::Decided(Decision {
            leader: 3,
            zxid: 0,
            election_epoch: 1,
            peer_epoch: 0,
            state: ServerState::Leading,
        })]
    );
}

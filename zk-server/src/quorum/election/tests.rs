//! Whole action lists for one election core fed by hand.

use std::collections::BTreeSet;

use bytes::Bytes;
use zk_proto::quorum::{Notification, ServerState};

use super::sim::{config_text, Cluster, Net};
use super::*;
use crate::config::PeerType;

use ServerState::{Following, Leading, Looking, Observing};

fn config(voters: &[i64], observers: &[i64]) -> Bytes {
    let v: BTreeSet<i64> = voters.iter().copied().collect();
    let o: BTreeSet<i64> = observers.iter().copied().collect();
    Bytes::from(config_text(&v, &o))
}

fn core(my_id: i64, peer_type: PeerType, voters: &[i64], observers: &[i64]) -> Election {
    Election::new(
        my_id,
        peer_type,
        Box::new(MajorityQuorum::new(voters.iter().copied())),
        config(voters, observers),
        ElectionTiming::default(),
    )
}

/// A notification (leader, zxid, round, peer epoch) carrying the 3-server config.
fn note(state: ServerState, leader: i64, zxid: i64, round: i64, epoch: i64) -> Notification {
    Notification::new(state, leader, zxid, round, epoch, config(&[1, 2, 3], &[]))
}

fn bcast(leader: i64, zxid: i64, round: i64, epoch: i64) -> Action {
    Action::Broadcast {
        notification: note(Looking, leader, zxid, round, epoch),
    }
}

fn send(to: i64, n: Notification) -> Action {
    Action::Send {
        to,
        notification: n,
    }
}

fn decided(leader: i64, zxid: i64, round: i64, epoch: i64, state: ServerState) -> Action {
    Action::Decided(Decision {
        leader,
        zxid,
        election_epoch: round,
        peer_epoch: epoch,
        state,
    })
}

fn run_cluster(servers: &[(i64, bool, i64, i64, u64)]) -> Cluster {
    let net = Net {
        loss_per_mille: 0,
        dup_per_mille: 0,
        min_delay_ms: 5,
        max_delay_ms: 5,
    };
    let mut cluster = Cluster::new(servers, &BTreeSet::new(), net, 1);
    cluster.run(10_000);
    cluster
}

#[test]
fn three_looking_servers_converge_on_the_highest_zxid() {
    // Server 1 sees server 2's better zxid, switches, and decides after the finalize wait.
    let mut e = core(1, PeerType::Participant, &[1, 2, 3], &[]);
    assert_eq!(e.look_for_leader(0, 5, 0), vec![bcast(1, 5, 1, 0)]);
    assert_eq!(
        e.on_notification(10, 2, &note(Looking, 2, 9, 1, 0)),
        vec![bcast(2, 9, 1, 0)]
    );
    // My own switched vote came back: {1, 2} vote for 2, a quorum of 3.
    assert_eq!(e.next_deadline_ms(), Some(210));
    assert_eq!(e.on_tick(209), vec![]);
    assert_eq!(e.on_tick(210), vec![decided(2, 9, 1, 0, Following)]);
    assert_eq!(e.state(), Following);

    // Three cores: zxids 5, 9, 7 elect server 2.
    let c = run_cluster(&[(1, true, 5, 0, 0), (2, true, 9, 0, 0), (3, true, 7, 0, 0)]);
    let got: Vec<(i64, i64, ServerState)> = c
        .decisions
        .iter()
        .map(|(_, s, d)| (*s, d.leader, d.state))
        .collect();
    assert_eq!(got.len(), 3);
    for sid in 1..=3 {
        let state = if sid == 2 { Leading } else { Following };
        assert!(got.contains(&(sid, 2, state)), "{got:?}");
    }
}

#[test]
fn ties_are_broken_by_sid_and_epoch_beats_zxid() {
    let q = MajorityQuorum::new([1, 2, 3]);
    let p = |leader, zxid, peer_epoch| Proposal {
        leader,
        zxid,
        peer_epoch,
    };
    assert!(total_order(&q, p(3, 0, 0), p(1, 0, 0)));
    assert!(!total_order(&q, p(1, 0, 0), p(3, 0, 0)));
    assert!(!total_order(&q, p(1, 0, 0), p(1, 0, 0)));
    assert!(total_order(&q, p(1, 0x1_0000_0000, 1), p(3, 0x9, 0)));
    assert!(total_order(
        &q,
        p(1, 0x1_0000_0000, 2),
        p(3, 0x1_0000_0009, 1)
    ));

    // Equal histories: sid 3 wins, as in the Java capture.
    let c = run_cluster(&[(1, true, 0, 0, 0), (2, true, 0, 0, 0), (3, true, 0, 0, 0)]);
    assert!(
        c.decisions.iter().all(|(_, _, d)| d.leader == 3),
        "{:?}",
        c.decisions
    );
}

#[derive(Debug)]
struct NoWeightFor3;

impl ElectionQuorum for NoWeightFor3 {
    fn is_current_voter(&self, sid: i64) -> bool {
        (1..=3).contains(&sid)
    }
    fn is_voter(&self, sid: i64) -> bool {
        (1..=3).contains(&sid)
    }
    fn weight(&self, sid: i64) -> u64 {
        u64::from(sid != 3)
    }
    fn has_all_quorums(&self, acks: &BTreeSet<i64>) -> bool {
        acks.iter().filter(|s| (1..=3).contains(*s)).count() >= 2
    }
}

#[test]
fn a_zero_weight_leader_never_wins() {
    let q = NoWeightFor3;
    let p = |leader| Proposal {
        leader,
        zxid: 0,
        peer_epoch: 0,
    };
    assert!(!total_order(&q, p(3), p(1)));
    let mut e = Election::new(
        1,
        PeerType::Participant,
        Box::new(q),
        config(&[1, 2, 3], &[]),
        ElectionTiming::default(),
    );
    e.look_for_leader(0, 0, 0);
    assert_eq!(e.on_notification(1, 3, &note(Looking, 3, 0, 1, 0)), vec![]);
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn stale_rounds_and_epochs_do_not_win() {
    let mut e = core(1, PeerType::Participant, &[1, 2, 3], &[]);
    e.look_for_leader(0, 0x1_0000_0002, 1);
    // Round 3 from server 2: I join it and keep my own (better) vote.
    assert_eq!(
        e.on_notification(1, 2, &note(Looking, 2, 0x5, 3, 0)),
        vec![bcast(1, 0x1_0000_0002, 3, 1)]
    );
    assert_eq!(e.logical_clock(), 3);
    // A better vote from an old round is ignored, and its lagging sender gets my vote.
    assert_eq!(
        e.on_notification(2, 3, &note(Looking, 3, 0x2_0000_0000, 1, 2)),
        vec![send(3, note(Looking, 1, 0x1_0000_0002, 3, 1))]
    );
    assert_eq!(e.proposal().leader, 1);
    // Same round, higher zxid but a lower peer epoch: not better.
    assert_eq!(
        e.on_notification(3, 3, &note(Looking, 3, 0x9_0000, 3, 0)),
        vec![]
    );
    // A 28-byte notification takes its epoch from the zxid.
    let old = Notification::parse(&note(Looking, 3, 0x1_0000_0007, 3, 1).to_bytes()[..28]).unwrap();
    assert_eq!(old.peer_epoch, None);
    assert_eq!(
        e.on_notification(4, 3, &old),
        vec![bcast(3, 0x1_0000_0007, 3, 1)]
    );
}

#[test]
fn a_server_with_zxid_minus_one_takes_no_part() {
    let mut e = core(1, PeerType::Participant, &[1, 2, 3], &[]);
    e.look_for_leader(0, 0, 0);
    assert_eq!(e.on_notification(1, 2, &note(Looking, 2, -1, 1, 5)), vec![]);
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn a_newcomer_joins_an_established_leader() {
    let voters = [1, 2, 3, 4, 5];
    let mut e = core(5, PeerType::Participant, &voters, &[]);
    let n = |state| Notification::new(state, 1, 0x3_0000_0004, 7, 3, config(&voters, &[]));
    e.look_for_leader(0, 0x2_0000_0001, 2);
    // Followers of 1 from round 7: a quorum {2, 3, 4}, but 1 has not said it leads.
    assert_eq!(e.on_notification(1, 2, &n(Following)), vec![]);
    assert_eq!(e.on_notification(2, 3, &n(Following)), vec![]);
    assert_eq!(e.on_notification(3, 4, &n(Following)), vec![]);
    assert_eq!(e.state(), Looking);
    assert_eq!(
        e.on_notification(4, 1, &n(Leading)),
        vec![decided(1, 0x3_0000_0004, 7, 3, Following)]
    );
    assert_eq!(e.logical_clock(), 7);
    // Done: a looking peer is told whom I follow, in the leader's round; others get nothing.
    assert_eq!(
        e.on_notification(5, 2, &note(Looking, 2, 0, 8, 0)),
        vec![send(
            2,
            Notification::new(Following, 1, 0x3_0000_0004, 7, 3, config(&voters, &[]))
        )]
    );
    assert_eq!(e.on_notification(6, 2, &n(Following)), vec![]);
    // After ZAB moves to epoch 4, peers hear the new epoch.
    e.update_election_vote(4);
    assert_eq!(
        e.on_notification(7, 3, &note(Looking, 3, 0, 8, 0)),
        vec![send(
            3,
            Notification::new(Following, 1, 0x3_0000_0004, 7, 4, config(&voters, &[]))
        )]
    );
}

#[test]
fn observers_learn_the_leader_and_get_answers_without_being_counted() {
    // The observer (4) votes for nobody, adopts the voters' vote and ends OBSERVING.
    let mut o = core(4, PeerType::Observer, &[1, 2, 3], &[4]);
    let n = |state, leader, zxid| {
        Notification::new(state, leader, zxid, 1, 0, config(&[1, 2, 3], &[4]))
    };
    let min = i64::MIN;
    assert_eq!(
        o.look_for_leader(0, 0x9, 0),
        vec![Action::Broadcast {
            notification: n(Looking, min, min).tap_epoch(min)
        }]
    );
    assert_eq!(
        o.on_notification(1, 1, &n(Looking, 3, 0)),
        vec![Action::Broadcast {
            notification: n(Looking, 3, 0)
        }]
    );
    assert_eq!(o.on_notification(2, 2, &n(Looking, 3, 0)), vec![]);
    assert_eq!(o.next_deadline_ms(), Some(202));
    assert_eq!(o.on_tick(202), vec![decided(3, 0, 1, 0, Observing)]);

    // A voter answers the observer at once with its current vote and does not count it.
    let mut v = core(1, PeerType::Participant, &[1, 2, 3], &[4]);
    v.look_for_leader(0, 0x5, 0);
    let from_observer = n(Looking, min, min).tap_epoch(min);
    assert_eq!(
        v.on_notification(1, 4, &from_observer),
        vec![send(4, n(Looking, 1, 0x5).tap_epoch(0))]
    );
    assert_eq!(v.proposal().leader, 1);

    // An observer joining a running ensemble follows the FOLLOWING/LEADING answers.
    let mut o = core(4, PeerType::Observer, &[1, 2, 3], &[4]);
    o.look_for_leader(0, 0, 0);
    assert_eq!(o.on_notification(1, 2, &n(Following, 3, 0x7)), vec![]);
    assert_eq!(
        o.on_notification(2, 3, &n(Leading, 3, 0x7)),
        vec![decided(3, 0x7, 1, 0, Observing)]
    );
}

trait TapEpoch {
    fn tap_epoch(self, epoch: i64) -> Self;
}

impl TapEpoch for Notification {
    fn tap_epoch(mut self, epoch: i64) -> Self {
        self.peer_epoch = Some(epoch);
        self
    }
}

#[test]
fn the_finalize_wait_restarts_on_worse_votes_and_ends_on_better_ones() {
    let mut e = core(2, PeerType::Participant, &[1, 2, 3], &[]);
    e.look_for_leader(1000, 0x5, 0);
    assert_eq!(
        e.on_notification(1000, 1, &note(Looking, 2, 0x5, 1, 0)),
        vec![]
    );
    assert_eq!(e.next_deadline_ms(), Some(1200));
    // A worse vote is dropped and the quiet period starts over.
    assert_eq!(
        e.on_notification(1150, 1, &note(Looking, 1, 0x1, 1, 0)),
        vec![]
    );
    assert_eq!(e.on_tick(1200), vec![]);
    assert_eq!(e.on_tick(1349), vec![]);
    assert_eq!(e.on_tick(1350), vec![decided(2, 0x5, 1, 0, Leading)]);

    // A better vote during the wait reopens the round.
    let mut e = core(2, PeerType::Participant, &[1, 2, 3], &[]);
    e.look_for_leader(0, 0x5, 0);
    e.on_notification(0, 1, &note(Looking, 2, 0x5, 1, 0));
    assert_eq!(
        e.on_notification(100, 3, &note(Looking, 3, 0x6, 1, 0)),
        vec![bcast(3, 0x6, 1, 0)]
    );
    // 2 and 3 now vote 3: a new wait from t=100.
    assert_eq!(e.on_tick(299), vec![]);
    assert_eq!(e.on_tick(300), vec![decided(3, 0x6, 1, 0, Following)]);
}

#[test]
fn the_notification_timeout_doubles_up_to_the_cap() {
    let mut e = core(1, PeerType::Participant, &[1, 2, 3], &[]);
    e.look_for_leader(0, 0, 0);
    // Nobody connected: reconnect instead of resending.
    assert_eq!(e.next_deadline_ms(), Some(200));
    assert_eq!(e.on_tick(200), vec![Action::ConnectAll]);
    assert_eq!(e.next_deadline_ms(), Some(600));
    e.peer_connected(2);
    assert_eq!(e.on_tick(600), vec![bcast(1, 0, 1, 0)]);
    let mut now = 600;
    let mut waits = vec![];
    for _ in 0..10 {
        let next = e.next_deadline_ms().unwrap();
        waits.push(next - now);
        now = next;
        e.on_tick(now);
    }
    assert_eq!(
        waits,
        [800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]
    );
    // Any notification restarts the wait, with the current interval; one from an older round
    // gets my vote back.
    assert_eq!(
        e.on_notification(now + 1, 2, &note(Looking, 2, 0, 0, 0)),
        vec![send(2, note(Looking, 1, 0, 1, 0))]
    );
    assert_eq!(e.next_deadline_ms(), Some(now + 1 + 60000));
}

#[test]
fn five_servers_elect_the_best_and_a_late_sixth_joins() {
    let servers = [
        (1, true, 0x1_0000_0003, 1, 0),
        (2, true, 0x1_0000_0007, 1, 0),
        (3, true, 0x1_0000_0007, 1, 0),
        (4, true, 0x1_0000_0002, 1, 0),
        (5, true, 0x1_0000_0001, 1, 0),
    ];
    let c = run_cluster(&servers);
    assert_eq!(c.decisions.len(), 5);
    for (_, sid, d) in &c.decisions {
        assert_eq!((d.leader, d.zxid, d.election_epoch), (3, 0x1_0000_0007, 1));
        assert_eq!(d.state, if *sid == 3 { Leading } else { Following });
    }
    // A 6th voter started 5 s later learns leader 3 from the others' answers.
    let mut late = servers.to_vec();
    late.push((6, true, 0x1_0000_0009, 1, 5_000));
    let c = run_cluster(&late);
    let sixth: Vec<&Decision> = c
        .decisions
        .iter()
        .filter(|(_, s, _)| *s == 6)
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(sixth.len(), 1, "{:?}", c.decisions);
    assert_eq!((sixth[0].leader, sixth[0].state), (3, Following));
}

#[test]
fn a_newer_config_is_reported_while_looking() {
    let mut e = core(1, PeerType::Participant, &[1, 2, 3], &[]);
    e.look_for_leader(0, 0, 0);
    let text = "server.1=127.0.0.1:2231:2241:participant\nversion=100000001";
    let n = Notification::new(Looking, 2, 0, 1, 0, text);
    assert_eq!(
        e.on_notification(1, 2, &n),
        vec![
            Action::NewerConfig {
                from: 2,
                config: Bytes::from(text)
            },
            bcast(2, 0, 1, 0)
        ]
    );
}

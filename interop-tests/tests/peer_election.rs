//! Our election port (`zk_server::peer::election_net`) in an ensemble with real Java 3.8
//! servers: two Java members (sids 1 and 2) and our `ElectionService` as sid 3 (election port
//! only; nothing listens on its quorum port).
//!
//! 1. The Java pair forms a quorum and elects sid 2. Our sid 3 then looks for a leader with
//!    zxid 0 and must decide FOLLOWING sid 2, which Java's `srvr` confirms (`Mode: leader` on
//!    sid 2). This needs Java's FOLLOWING/LEADING answers to reach our core through our
//!    connect-back (Java's lower sids dial us, close, and we dial them).
//! 2. Java's leader (sid 2) is killed. Java's sid 1 and our sid 3 look for a leader; sid 1 has
//!    the higher epoch, so both vote for it, and a quorum of 3 needs both votes: Java's sid 1
//!    logs LEADING only if it took our LOOKING notifications (sent on the connection we keep,
//!    since 3 > 1), and our sid 3 must decide FOLLOWING sid 1. (Sid 1 then waits in vain for
//!    followers on its quorum port; that is not part of this test.)
//!
//! Every wait is bounded; the Java servers die with the test (Drop guards).

use std::time::Duration;

use interop_tests::JavaZkServer;
use tokio::net::TcpListener;
use zk_proto::quorum::ServerState;
use zk_server::peer::election_net::{ElectionHandle, ElectionNetConfig, ElectionService};
use zk_server::quorum::election::Decision;
use zk_server::quorum::verifier::QuorumMaj;

const WAIT: Duration = Duration::from_secs(30);

/// What Java's log says when a server wins an election.
const LEADING: &str = "LEADING - LEADER ELECTION TOOK";

/// The `server.N` lines of a member's zoo.cfg: the ensemble as Java sees it.
fn ensemble_config(member: &JavaZkServer) -> QuorumMaj {
    let cfg = std::fs::read_to_string(member.config_path()).unwrap();
    let servers: String = cfg
        .lines()
        .filter(|l| l.starts_with("server."))
        .map(|l| format!("{l}\n"))
        .collect();
    QuorumMaj::from_text(&servers, false).unwrap()
}

fn mode(member: &JavaZkServer) -> String {
    let srvr = member.four_letter_word("srvr").unwrap_or_default();
    srvr.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .unwrap_or("not serving")
        .to_owned()
}

/// Our sid 3 looks for a leader with zxid 0 and must decide to follow `leader`.
async fn follows(handle: &ElectionHandle, leader: i64) -> Decision {
    let decision = tokio::time::timeout(WAIT, handle.look_for_leader(0, 0))
        .await
        .expect("sid 3 decides")
        .expect("the service runs");
    assert_eq!(decision.leader, leader, "{decision:?}");
    assert_eq!(decision.state, ServerState::Following, "{decision:?}");
    decision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_sid_3_follows_java_leaders_and_java_counts_our_vote() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let election_port = listener.local_addr().unwrap().port();
    let quorum_port = interop_tests::free_port().unwrap();
    let server3 = format!("server.3=127.0.0.1:{quorum_port}:{election_port}");
    let mut java = tokio::task::spawn_blocking(move || {
        JavaZkServer::builder()
            .tick_time_ms(500)
            .cfg(server3)
            .start_ensemble(2)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(java.leader(), Some(2), "the Java pair elects sid 2");

    let verifier = ensemble_config(java.member(1));
    assert_eq!(verifier.members().len(), 3, "{verifier:?}");
    let service = ElectionService::spawn(ElectionNetConfig::new(3, verifier), vec![listener]);
    let handle = service.handle();
    let decision = follows(&handle, 2).await;
    assert_eq!(mode(java.member(2)), "leader");
    assert_eq!(mode(java.member(1)), "follower");
    // Java's srvr says which epoch sid 2 leads; once established, Java's leader and follower
    // answer with that epoch (`updateElectionVote`), and our decision carries it.
    let leader_zxid = java
        .member(2)
        .four_letter_word("srvr")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Zxid: 0x")
                .map(|h| i64::from_str_radix(h, 16).unwrap())
        })
        .unwrap();
    assert_eq!(
        decision.peer_epoch,
        leader_zxid >> 32,
        "{decision:?} vs leader zxid {leader_zxid:#x}"
    );

    // The leader dies. Java's sid 1 goes back to the election, and so does our sid 3 (its
    // runtime would see the leader's quorum connection drop). Sid 1's vote (epoch 1) beats ours
    // (epoch 0), and one of its two votes must be ours: Java has to take our notifications.
    let leading_before = java.member(1).log().matches(LEADING).count();
    let java = tokio::task::spawn_blocking(move || {
        java.member_mut(2).stop().unwrap_or_else(|e| panic!("{e}"));
        java
    })
    .await
    .unwrap();
    follows(&handle, 1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while java.member(1).log().matches(LEADING).count() == leading_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Java's sid 1 did not lead:\n{}",
            java.member(1).log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = handle.status().await.unwrap();
    assert_eq!(status.state, ServerState::Following, "{status:?}");
    assert!(status.connected.contains(&1), "{status:?}");
    service.stop().await;
}

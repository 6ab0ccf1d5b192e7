//! Observers of both kinds next to voters of both kinds: three voters (two zk-server, one Java
//! 3.8) and two observers (one Java, one zk-server).
//!
//! 1. the voters elect a leader among themselves; the observers report `Mode: observer`;
//! 2. a write through each observer (forwarded to the leader) is read back through every
//!    member after a `sync`;
//! 3. the leader is SIGKILLed: the two remaining voters elect a new one, both observers
//!    follow it and take writes again; the killed member restarts and catches up;
//! 4. a wiped observer resyncs from nothing (SNAP);
//! 5. afterwards every member's tree (data, Stat and ACL of every node) is the same.

use std::time::Duration;

use interop_tests::ensemble::clients::{connect_member, create_retrying};
use interop_tests::{Ensemble, MemberKind, Mode};

/// Bound on each wait (elections and JVM restarts on two busy cores).
const WAIT: Duration = Duration::from_secs(60);

const VOTERS: [usize; 3] = [0, 1, 2];
const OBSERVERS: [usize; 2] = [3, 4];

/// The leader at `admin` lists both observers (sids 4 and 5) in `observers`, each with the
/// keys of Java's `LearnerHandler.getLearnerHandlerInfo`.
fn check_observers(admin: std::net::SocketAddr) {
    let deadline = std::time::Instant::now() + WAIT;
    let listed = loop {
        let obsr = observers_command(admin);
        if obsr["synced_observers"] == 2 || std::time::Instant::now() > deadline {
            break obsr;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed["synced_observers"], 2, "{listed:#}");
    let mut sids: Vec<i64> = listed["observers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["sid"].as_i64().unwrap())
        .collect();
    sids.sort_unstable();
    assert_eq!(sids, [4, 5], "{listed:#}");
    for o in listed["observers"].as_array().unwrap() {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "remote_socket_address",
                "sid",
                "established",
                "queued_packets",
                "queued_packets_size",
                "packets_received",
                "packets_sent",
                "requests",
                "last_zxid"
            ],
            "{listed:#}"
        );
        assert!(o["remote_socket_address"]
            .as_str()
            .unwrap()
            .starts_with("/127.0.0.1:"));
        assert!(o["packets_sent"].as_i64().unwrap() > 0, "{listed:#}");
    }
}

/// `GET /commands/observers` on an AdminServer.
fn observers_command(admin: std::net::SocketAddr) -> serde_json::Value {
    let (_, body) = interop_tests::admin_http::admin_get(admin, "/commands/observers");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Every live member reads `path` with `data` after a `sync`.
async fn read_everywhere(ensemble: &Ensemble, skip: Option<usize>, path: &str, data: &[u8]) {
    for i in (0..ensemble.size()).filter(|&i| Some(i) != skip) {
        let client = connect_member(&ensemble.addr(i).to_string(), WAIT).await;
        client.sync(path).await.expect("sync");
        let (read, _) = client.get_data(path).await.expect("get_data");
        assert_eq!(&read[..], data, "{path} through member {i}");
        client.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_of_either_kind_follow_leaders_of_either_kind() {
    use MemberKind::{Java, ZkRs};
    let mut ensemble = tokio::task::block_in_place(|| {
        Ensemble::builder(&[ZkRs, ZkRs, Java, Java, ZkRs])
            .observers(&OBSERVERS)
            .jvm_flag("-Dzookeeper.forceSync=no")
            .cfg("forceSync=no")
            .admin_servers()
            .start()
    })
    .unwrap_or_else(|e| panic!("{e}"));

    // 1. A voter leads; the observers observe.
    let leader = ensemble.leader().expect("start waited for a leader");
    assert!(VOTERS.contains(&leader), "observer {leader} leads");
    for i in OBSERVERS {
        assert_eq!(ensemble.mode(i), Some(Mode::Observer), "member {i}");
    }
    for i in VOTERS.into_iter().filter(|&i| i != leader) {
        assert_eq!(ensemble.mode(i), Some(Mode::Follower), "member {i}");
    }

    // 2. Writes through each observer reach every member.
    let observers = [
        connect_member(&ensemble.addr(OBSERVERS[0]).to_string(), WAIT).await,
        connect_member(&ensemble.addr(OBSERVERS[1]).to_string(), WAIT).await,
    ];
    for (n, client) in observers.iter().enumerate() {
        let path = format!("/observed-{n}");
        create_retrying(client, &path, b"first leader", WAIT).await;
        read_everywhere(&ensemble, None, &path, b"first leader").await;
    }

    // The leader's `observers` command lists both, with Java's LearnerHandler keys (checked on
    // both leaders: one of each kind in the runs seen).
    tokio::task::block_in_place(|| check_observers(ensemble.admin_addr(leader).unwrap()));

    // 3. The leader dies: the other voters elect one, the observers follow it.
    tokio::task::block_in_place(|| ensemble.kill(leader)).expect("kill the leader");
    let new_leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        VOTERS.contains(&new_leader) && new_leader != leader,
        "new leader {new_leader} (was {leader})"
    );
    eprintln!(
        "leader {leader} ({:?}), then {new_leader} ({:?})",
        ensemble.kind(leader),
        ensemble.kind(new_leader)
    );
    for (n, client) in observers.iter().enumerate() {
        let path = format!("/observed-{n}/after-kill");
        create_retrying(client, &path, b"second leader", WAIT).await;
        read_everywhere(&ensemble, Some(leader), &path, b"second leader").await;
    }
    // The new leader's `observers` command lists both observers.
    tokio::task::block_in_place(|| check_observers(ensemble.admin_addr(new_leader).unwrap()));
    tokio::task::block_in_place(|| -> interop_tests::Result<()> {
        ensemble.restart(leader)?;
        ensemble.wait_synced(leader, WAIT)?;
        // 4. A wiped observer resyncs from nothing.
        for i in OBSERVERS {
            ensemble.wipe_and_restart(i)?;
            ensemble.wait_synced(i, WAIT)?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    for i in OBSERVERS {
        assert_eq!(
            ensemble.mode(i),
            Some(Mode::Observer),
            "member {i} after its wipe"
        );
    }

    // 5. One tree everywhere.
    let diffs = ensemble.tree_differences().await.expect("read the trees");
    assert!(diffs.is_empty(), "members differ:\n{}", diffs.join("\n"));
}

//! The online restore in a mixed ensemble (a Java 3.8 follower and two zk-server members, the
//! leader one of ours): `POST /commands/restore?zxid=` on the leader brings every member, the
//! Java one included, to the archived state by ordinary txns; a follower refuses and names the
//! leader; the state survives the leader's death and the Java member's restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use interop_tests::admin_http::admin_request;
use interop_tests::ensemble::clients::connect_member;
use interop_tests::{Ensemble, MemberKind};
use serde_json::Value;
use zk_client::{Client, CreateOptions};
use zk_server::backup::{Archive, Target};

const WAIT: Duration = Duration::from_secs(60);

/// `POST path` with an identity and no body: (status, JSON body).
fn post(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = admin_request(addr, "POST", path, &[("Authorization", "digest any:one")]);
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, json)
}

async fn data_on(ensemble: &Ensemble, member: usize, path: &str) -> Option<Vec<u8>> {
    let client = connect_member(&ensemble.addr(member).to_string(), WAIT).await;
    client.sync(path).await.ok();
    let data = client.get_data(path).await.ok().map(|(d, _)| d.to_vec());
    let _ = client.close().await;
    data
}

/// The differences between the members' trees outside `/zookeeper`, where our members list
/// the virtual `snapshots` and `backups` of a configured archive and Java does not.
async fn differences(ensemble: &Ensemble) -> Vec<String> {
    let mut found = ensemble.tree_differences().await.unwrap();
    found.retain(|d| !d.starts_with("/zookeeper"));
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_restores_every_member_durably() {
    use MemberKind::{Java, ZkRs};
    let archive_dir = tempfile::Builder::new()
        .prefix("zk-rs-restore-archive-")
        .tempdir()
        .unwrap();
    let mut ensemble = tokio::task::block_in_place(|| {
        Ensemble::builder(&[Java, ZkRs, ZkRs])
            .admin_servers()
            .cfg(format!("backup.target={}", archive_dir.path().display()))
            .cfg("admin.rateLimiterIntervalInMS=0")
            .start()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT)).unwrap();
    // Java is sid 1: with equal zxids the highest sid of a quorum leads, so one of ours does.
    let java = 0;
    assert_ne!(leader, java);
    let follower = 3 - leader; // the other zk-server member (1 or 2)

    // Writes through the Java member, which forwards them to our leader.
    let zk: Client = connect_member(&ensemble.addr(java).to_string(), WAIT).await;
    let open = CreateOptions::persistent();
    zk.create("/app", b"", &open).await.unwrap();
    zk.create("/app/k", b"v0", &open).await.unwrap();
    let mut point = 0;
    for i in 1..=5 {
        let stat = zk
            .set_data("/app/k", format!("v{i}").as_bytes(), None)
            .await
            .unwrap();
        if i == 3 {
            point = stat.mzxid;
        }
    }
    let (_, late) = zk.create("/app/late", b"", &open).await.unwrap();
    zk.create("/app/live", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();

    // The leader archives within backup.maxLagMs (1 s by default).
    let archive = Archive::new(Target::directory(archive_dir.path()).unwrap(), 0);
    let deadline = Instant::now() + WAIT;
    while archive.catalog().await.unwrap().last_log_zxid() < Some(late.czxid) {
        assert!(
            Instant::now() < deadline,
            "the archive never reached {:#x}",
            late.czxid
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let query = format!("/commands/restore?zxid={point:#x}");
    let follower_admin = ensemble.admin_addr(follower).unwrap();
    let (status, body) = tokio::task::block_in_place(|| post(follower_admin, &query));
    assert_eq!(status, 409, "{body:#}");
    assert!(
        body["error"].as_str().unwrap().contains("leader"),
        "{body:#}"
    );

    let leader_admin = ensemble.admin_addr(leader).unwrap();
    let (status, body) = tokio::task::block_in_place(|| post(leader_admin, &query));
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["data_changed"], 1, "{body:#}");
    assert_eq!(body["deleted"], 1, "/app/late: {body:#}");
    assert_eq!(body["ephemerals_kept"], 1, "/app/live: {body:#}");

    // Every member, Java's included, applied the restore's txns.
    for member in 0..3 {
        assert_eq!(
            data_on(&ensemble, member, "/app/k").await.as_deref(),
            Some(&b"v3"[..]),
            "member {member}"
        );
        assert_eq!(data_on(&ensemble, member, "/app/late").await, None);
    }
    assert_eq!(differences(&ensemble).await, Vec::<String>::new());

    // The leader dies: the restored state is the quorum's, not one server's memory.
    tokio::task::block_in_place(|| ensemble.kill(leader)).unwrap();
    let new_leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT)).unwrap();
    assert_ne!(new_leader, leader);
    assert_eq!(
        data_on(&ensemble, new_leader, "/app/k").await.as_deref(),
        Some(&b"v3"[..])
    );
    // The Java member restarts from its own log and snapshot, and rejoins.
    tokio::task::block_in_place(|| ensemble.restart(java)).unwrap();
    tokio::task::block_in_place(|| ensemble.restart(leader)).unwrap();
    for member in 0..3 {
        assert_eq!(
            data_on(&ensemble, member, "/app/k").await.as_deref(),
            Some(&b"v3"[..]),
            "member {member} after the restarts"
        );
    }
    assert_eq!(differences(&ensemble).await, Vec::<String>::new());
}

//! Archiving in a zk-rs ensemble: every member is configured with the same `backup.target`;
//! the leader archives. The leader is killed (SIGKILL) under a write load; the new leader
//! continues the archive. The archive must hold every acknowledged write, with no zxid missing
//! and none twice, and verify cleanly (digests replayed).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop_tests::{Ensemble, MemberKind};
use zk_client::{Client, CreateOptions};
use zk_server::backup::restore::{self, RestoreOptions, RestorePoint};
use zk_server::backup::{verify, Archive, Target};
use zk_server::storage::snapshot::Compression;

const WAIT: Duration = Duration::from_secs(60);

/// Acknowledged creates: path and zxid.
type Acked = Arc<Mutex<Vec<(String, i64)>>>;

/// Creates nodes one after another until `stop`; losses during the failover are retried with
/// a new name (an unacknowledged create may or may not have happened).
async fn load(
    client: Client,
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tag: &'static str,
) {
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        i += 1;
        let path = format!("/{tag}-{i}");
        match tokio::time::timeout(
            Duration::from_secs(10),
            client.create(&path, b"x", &CreateOptions::persistent()),
        )
        .await
        {
            Ok(Ok((_, stat))) => acked.lock().unwrap().push((path, stat.czxid)),
            Ok(Err(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_survives_killing_the_archiving_leader() {
    let archive_dir = tempfile::Builder::new()
        .prefix("zk-rs-ensemble-archive-")
        .tempdir()
        .unwrap();
    let mut ensemble = tokio::task::block_in_place(|| {
        Ensemble::builder(&[MemberKind::ZkRs; 3])
            .cfg(format!("backup.target={}", archive_dir.path().display()))
            .cfg("backup.maxLagMs=100")
            .cfg("snapCount=300")
            .start()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT)).unwrap();
    let acked: Acked = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loaders = Vec::new();
    for (i, tag) in ["a", "b"].into_iter().enumerate() {
        // Clients on the followers, so they ride out the leader's death.
        let member = (leader + 1 + i) % 3;
        let client = Client::builder(ensemble.addr(member).to_string())
            .session_timeout(Duration::from_secs(30))
            .connect()
            .await
            .unwrap();
        loaders.push(tokio::spawn(load(client, acked.clone(), stop.clone(), tag)));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = acked.lock().unwrap().len();
    tokio::task::block_in_place(|| ensemble.kill(leader)).unwrap();
    let new_leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT)).unwrap();
    assert_ne!(new_leader, leader);
    // Writes under the new leader.
    let deadline = Instant::now() + WAIT;
    while acked.lock().unwrap().len() < before_kill + 200 {
        assert!(Instant::now() < deadline, "no writes after the failover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for loader in loaders {
        loader.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let last = acked.iter().map(|(_, z)| *z).max().unwrap();
    let archive = Archive::new(Target::directory(archive_dir.path()).unwrap(), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let catalog = loop {
        let catalog = archive.catalog().await.unwrap();
        if catalog.last_log_zxid().is_some_and(|z| z >= last) {
            break catalog;
        }
        assert!(
            Instant::now() < deadline,
            "the archive never reached {last:#x} ({:?})",
            catalog.last_log_zxid()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(catalog.gaps().is_empty(), "gaps: {:?}", catalog.gaps());
    assert!(
        catalog.overlaps().is_empty(),
        "duplicates: {:?}",
        catalog.overlaps()
    );
    assert!(catalog.problems().is_empty(), "{:?}", catalog.problems());
    let archivers: std::collections::BTreeSet<i64> =
        catalog.segments().iter().map(|m| m.server_id).collect();
    assert!(archivers.len() >= 2, "both leaders archived: {archivers:?}");
    let report = verify::verify(&archive, &catalog, &mut |_| {}).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.txns_replayed as usize >= acked.len());
    // Every acknowledged write is in the restored tree.
    let restored = tempfile::tempdir().unwrap();
    let plan = restore::plan(&archive, &catalog, RestorePoint::Latest)
        .await
        .unwrap();
    let options = RestoreOptions {
        data_dir: restored.path().to_owned(),
        keep_sessions: false,
        force: false,
        compression: Compression::None,
    };
    restore::restore(&archive, &plan, &options, &mut |_| {})
        .await
        .unwrap();
    let snapshot = zk_server::storage::snapshot::load_newest(&restored.path().join("version-2"))
        .unwrap()
        .unwrap();
    let paths: std::collections::HashSet<String> = snapshot
        .snapshot
        .data
        .nodes
        .into_iter()
        .map(|n| n.path)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|(p, _)| !paths.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes missing: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    drop(ensemble);
}

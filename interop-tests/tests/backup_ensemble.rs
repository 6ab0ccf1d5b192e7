//! Archiving in a zk-rs ensemble: every member is configured with the same `backup.target`;
//! the leader archives. The leader is killed (SIGKILL) under a write load; the new leader
//! continues the archive. The archive must hold every acknowledged write, with no zxid missing
//! and none twice, and verify cleanly (digests replayed).
//!
//! With `backup.maxLagMs=0` the leader commits nothing before the archive holds it: every
//! member SIGKILLed under load, each acknowledged write is archived all the same. With
//! `backup.archiverId` naming an observer, it alone archives, across a leader change.

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

/// Three zk-server members archiving to a new directory with `cfg`, and a create load through
/// the members `clients` picks (given the leader's index), each with its tag.
struct Loaded {
    ensemble: Ensemble,
    archive_dir: tempfile::TempDir,
    leader: usize,
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
    loaders: Vec<tokio::task::JoinHandle<()>>,
}

impl Loaded {
    async fn start(cfg: &[&str], clients: impl Fn(usize) -> Vec<(usize, &'static str)>) -> Loaded {
        Self::start_with(3, &[], cfg, clients).await
    }

    /// [`Loaded::start`] with `size` members, those of `observers` observing.
    async fn start_with(
        size: usize,
        observers: &[usize],
        cfg: &[&str],
        clients: impl Fn(usize) -> Vec<(usize, &'static str)>,
    ) -> Loaded {
        let archive_dir = tempfile::Builder::new()
            .prefix("zk-rs-ensemble-archive-")
            .tempdir()
            .unwrap();
        let mut builder = Ensemble::builder(&vec![MemberKind::ZkRs; size])
            .observers(observers)
            .cfg(format!("backup.target={}", archive_dir.path().display()));
        for line in cfg {
            builder = builder.cfg(*line);
        }
        let ensemble =
            tokio::task::block_in_place(|| builder.start()).unwrap_or_else(|e| panic!("{e}"));
        let leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT)).unwrap();
        let acked: Acked = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut loaders = Vec::new();
        for (member, tag) in clients(leader) {
            let client = Client::builder(ensemble.addr(member).to_string())
                .session_timeout(Duration::from_secs(30))
                .connect()
                .await
                .unwrap();
            loaders.push(tokio::spawn(load(client, acked.clone(), stop.clone(), tag)));
        }
        Loaded {
            ensemble,
            archive_dir,
            leader,
            acked,
            stop,
            loaders,
        }
    }

    /// SIGKILLs the leader, waits for another, then for 200 more acknowledged writes.
    async fn kill_leader_and_go_on(&mut self) {
        let before_kill = self.acked.lock().unwrap().len();
        let leader = self.leader;
        tokio::task::block_in_place(|| self.ensemble.kill(leader)).unwrap();
        let new_leader =
            tokio::task::block_in_place(|| self.ensemble.wait_for_leader(WAIT)).unwrap();
        assert_ne!(new_leader, leader);
        let deadline = Instant::now() + WAIT;
        while self.acked.lock().unwrap().len() < before_kill + 200 {
            assert!(Instant::now() < deadline, "no writes after the failover");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the load, waits until the archive holds the last acknowledged write: the
    /// archive, its catalogue and the acknowledged creates.
    async fn stop_and_wait_archived(
        &mut self,
    ) -> (Archive, zk_server::backup::Catalog, Vec<(String, i64)>) {
        let acked = self.stop().await;
        let last = acked.iter().map(|(_, z)| *z).max().unwrap();
        let archive = Archive::new(Target::directory(self.archive_dir.path()).unwrap(), 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let catalog = archive.catalog().await.unwrap();
            if catalog.last_log_zxid().is_some_and(|z| z >= last) {
                return (archive, catalog, acked);
            }
            assert!(
                Instant::now() < deadline,
                "the archive never reached {last:#x} ({:?})",
                catalog.last_log_zxid()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the load; the acknowledged creates.
    async fn stop(&mut self) -> Vec<(String, i64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for loader in self.loaders.drain(..) {
            loader.await.unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_survives_killing_the_archiving_leader() {
    // Clients on the followers, so they ride out the leader's death.
    let mut run = Loaded::start(&["backup.maxLagMs=100", "snapCount=300"], |leader| {
        vec![((leader + 1) % 3, "a"), ((leader + 2) % 3, "b")]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run.kill_leader_and_go_on().await;
    let (archive, catalog, acked) = run.stop_and_wait_archived().await;
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
    assert_restores_every_write(&archive, &catalog, &acked).await;
}

/// Restores the archive's latest state and checks every acknowledged create is in it.
async fn assert_restores_every_write(
    archive: &Archive,
    catalog: &zk_server::backup::Catalog,
    acked: &[(String, i64)],
) {
    let restored = tempfile::tempdir().unwrap();
    let plan = restore::plan(archive, catalog, RestorePoint::Latest)
        .await
        .unwrap();
    let options = RestoreOptions {
        data_dir: restored.path().to_owned(),
        keep_sessions: false,
        force: false,
        compression: Compression::None,
    };
    restore::restore(archive, &plan, &options, &mut |_| {})
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
}

/// `backup.maxLagMs=0`: the leader commits nothing the archive does not hold, so with every
/// member SIGKILLed under load (no new leader finishes the archive), each write a client saw
/// acknowledged, through any member, is archived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_lag_zero_every_acknowledged_write_is_archived_when_all_die() {
    let mut run = Loaded::start(&["backup.maxLagMs=0"], |leader| {
        vec![(leader, "l"), ((leader + 1) % 3, "f")]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let leader = run.leader;
    tokio::task::block_in_place(|| {
        run.ensemble.kill(leader).unwrap();
        for i in (0..3).filter(|&i| i != leader) {
            run.ensemble.kill(i).unwrap();
        }
    });
    let acked = run.stop().await;
    assert!(
        acked.len() > 50,
        "only {} writes before the kill",
        acked.len()
    );
    let archive = Archive::new(Target::directory(run.archive_dir.path()).unwrap(), 0);
    let catalog = archive.catalog().await.unwrap();
    assert!(catalog.gaps().is_empty(), "gaps: {:?}", catalog.gaps());
    assert_restores_every_write(&archive, &catalog, &acked).await;
}

/// `backup.archiverId` names an observer: it archives, the leaders never do, and killing a
/// leader under load changes nothing in the archive's continuity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designated_observer_archives_across_a_leader_change() {
    // Members 0-2 vote; member 3 (sid 4) observes and archives.
    let mut run = Loaded::start_with(
        4,
        &[3],
        &["backup.archiverId=4", "backup.maxLagMs=100"],
        |leader| vec![((leader + 1) % 3, "a"), (3, "o")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run.kill_leader_and_go_on().await;
    let (archive, catalog, acked) = run.stop_and_wait_archived().await;
    assert!(catalog.gaps().is_empty(), "gaps: {:?}", catalog.gaps());
    assert!(catalog.overlaps().is_empty(), "{:?}", catalog.overlaps());
    let archivers: std::collections::BTreeSet<i64> = catalog
        .segments()
        .iter()
        .chain(catalog.snapshots())
        .map(|m| m.server_id)
        .collect();
    assert_eq!(archivers, [4].into(), "only the observer archives");
    assert_restores_every_write(&archive, &catalog, &acked).await;
}

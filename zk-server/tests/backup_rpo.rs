//! Recovery point: a zk-server archiving to a directory is killed with SIGKILL under a write
//! load. With `backup.maxLagMs=0` every acknowledged write is in the archive; with a lag
//! bound, every write acknowledged longer ago than the bound (plus a margin for a loaded
//! machine) is. The archive is restored and read back to check.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use zk_client::{Client, CreateOptions};
use zk_server::backup::restore::{self, RestoreOptions, RestorePoint};
use zk_server::backup::{Archive, Target};
use zk_server::storage::snapshot::Compression;

/// Writes acknowledged: path and when.
type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

/// Creates nodes, 16 in flight, until the connection goes.
async fn load(connect: String, acked: Acked) {
    let client = Client::builder(connect)
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .unwrap();
    let mut i = 0u64;
    loop {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            i += 1;
            let path = format!("/w{i}");
            let create = client.create(&path, b"x", &CreateOptions::persistent());
            set.spawn(async move { create.await.map(|_| (path, Instant::now())) });
        }
        while let Some(done) = set.join_next().await {
            match done.unwrap() {
                Ok(ack) => acked.lock().unwrap().push(ack),
                Err(_) => return,
            }
        }
    }
}

/// Every node of the archive's latest state, restored into `dir` and read on a server there.
async fn restored_paths(archive_dir: &Path, dir: &Path) -> std::collections::HashSet<String> {
    let archive = Archive::new(Target::directory(archive_dir).unwrap(), 0);
    let catalog = archive.catalog().await.unwrap();
    let plan = restore::plan(&archive, &catalog, RestorePoint::Latest)
        .await
        .unwrap();
    let options = RestoreOptions {
        data_dir: dir.to_owned(),
        keep_sessions: false,
        force: false,
        compression: Compression::Lz4,
    };
    restore::restore(&archive, &plan, &options, &mut |_| {})
        .await
        .unwrap();
    let version2 = dir.join("version-2");
    let snapshot = zk_server::storage::snapshot::load_newest(&version2)
        .unwrap()
        .unwrap();
    snapshot
        .snapshot
        .data
        .nodes
        .into_iter()
        .map(|n| n.path)
        .collect()
}

async fn kill_under_load(max_lag_ms: u64, load_ms: u64) -> (usize, Vec<(String, Duration)>) {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let (mut server, port) = ServerProcess::start_in(
        dir.path(),
        &format!(
            "snapCount=2000\nbackup.target={}\nbackup.maxLagMs={max_lag_ms}\n",
            archive_dir.display()
        ),
        &[],
    );
    let acked: Acked = Arc::default();
    let loader = tokio::spawn(load(format!("127.0.0.1:{port}"), acked.clone()));
    tokio::time::sleep(Duration::from_millis(load_ms)).await;
    server.kill();
    let killed = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(10), loader).await;
    let acked = acked.lock().unwrap().clone();
    let present = restored_paths(&archive_dir, &dir.path().join("restored")).await;
    let missing: Vec<(String, Duration)> = acked
        .iter()
        .filter(|(path, _)| !present.contains(path))
        .map(|(path, at)| (path.clone(), killed.duration_since(*at)))
        .collect();
    (acked.len(), missing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_lag_zero_every_acknowledged_write_is_archived() {
    let (acked, missing) = kill_under_load(0, 1500).await;
    assert!(acked > 100, "the load got {acked} writes acknowledged");
    assert!(
        missing.is_empty(),
        "{} of {acked} acknowledged writes are not in the archive, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_lag_bound_only_recent_writes_may_be_missing() {
    let max_lag = Duration::from_millis(300);
    let (acked, missing) = kill_under_load(300, 1500).await;
    assert!(acked > 100, "the load got {acked} writes acknowledged");
    // A margin for a loaded two-core machine: the timer, the upload and the kill itself.
    let bound = max_lag + Duration::from_millis(700);
    let old: Vec<_> = missing.iter().filter(|(_, age)| *age > bound).collect();
    assert!(
        old.is_empty(),
        "acknowledged writes older than {bound:?} at the kill are missing: {:?}",
        &old[..old.len().min(5)]
    );
    eprintln!(
        "maxLagMs=300: {acked} acknowledged, {} missing after SIGKILL (oldest {:?} before the kill)",
        missing.len(),
        missing.iter().map(|(_, age)| *age).max()
    );
}

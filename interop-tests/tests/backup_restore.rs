//! Point-in-time restore from zk-server's continuous archive (`backup.target`).
//!
//! A seeded workload (creates, sequentials, ephemerals, containers, TTL nodes, sets, deletes,
//! multis, failed writes, a session that closes with its ephemerals) runs against zk-server
//! archiving to a directory; at checkpoints the whole tree a client sees (data, Stat, ACL) is
//! recorded with the checkpoint's zxid and time. For each checkpoint the archive is restored by
//! zxid, and zk-server started on the result, and by time, and the Java server started on the
//! result (`--format java`): every node must read back exactly as recorded.

use std::path::Path;
use std::time::{Duration, Instant};

use interop_tests::tree_diff::{self, TreeSnapshot};
use interop_tests::{JavaZkServer, Rng, RustZkServerProcess};
use zk_client::{Client, CreateOptions, Op};
use zk_proto::CreateMode;
use zk_server::backup::restore::{self, RestoreOptions, RestorePoint};
use zk_server::backup::{Archive, Target};
use zk_server::storage::snapshot::Compression;

const OP_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CHECKPOINTS: usize = 4;
const OPS_PER_ROUND: usize = 40;

/// A recorded checkpoint: the zxid of its marker write, a time at which the state was exactly
/// that, and the tree.
struct Checkpoint {
    zxid: i64,
    time_ms: i64,
    tree: TreeSnapshot,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = zk_client::Result<T>>,
) -> zk_client::Result<T> {
    tokio::time::timeout(OP_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {OP_TIMEOUT:?}"))
}

/// The tree without `/zookeeper` (the server's own nodes).
fn user_tree(mut tree: TreeSnapshot) -> TreeSnapshot {
    tree.nodes
        .retain(|path, _| path != "/zookeeper" && !path.starts_with("/zookeeper/"));
    tree
}

async fn read_tree(connect_string: &str) -> TreeSnapshot {
    user_tree(
        tree_diff::snapshot(connect_string, READ_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("reading the tree of {connect_string}: {e}")),
    )
}

/// One seeded round of writes. `dirs` are persistent parents, `leaves` deletable nodes.
async fn round(
    c: &Client,
    other: Option<&Client>,
    rng: &mut Rng,
    dirs: &mut Vec<String>,
    leaves: &mut Vec<String>,
    n: &mut usize,
) {
    let open = CreateOptions::persistent();
    for _ in 0..OPS_PER_ROUND {
        *n += 1;
        let parent = rng.pick(dirs).clone();
        let path = format!("{}/n{n}", parent.trim_end_matches('/'));
        let data = format!("d{n}-{}", rng.below(1000));
        match rng.weighted(&[20, 8, 8, 4, 4, 4, 16, 10, 8, 6]) {
            0 => {
                timed("create", c.create(&path, data.as_bytes(), &open))
                    .await
                    .unwrap();
                if rng.chance(40) {
                    dirs.push(path.clone());
                }
                leaves.push(path);
            }
            1 => {
                let (made, _) = timed(
                    "create sequential",
                    c.create(
                        &format!("{parent}/seq-"),
                        data.as_bytes(),
                        &CreateOptions::new(CreateMode::PersistentSequential),
                    ),
                )
                .await
                .unwrap();
                leaves.push(made);
            }
            2 => {
                let mode = if rng.chance(50) {
                    CreateMode::Ephemeral
                } else {
                    CreateMode::EphemeralSequential
                };
                let owner = match other {
                    Some(o) if rng.chance(50) => o,
                    _ => c,
                };
                timed(
                    "create ephemeral",
                    owner.create(&path, data.as_bytes(), &CreateOptions::new(mode)),
                )
                .await
                .unwrap();
            }
            3 => {
                // A container with a child, so it is never empty (the reaper would delete it).
                timed(
                    "create container",
                    c.create(&path, b"", &CreateOptions::new(CreateMode::Container)),
                )
                .await
                .unwrap();
                timed(
                    "create in container",
                    c.create(&format!("{path}/kid"), data.as_bytes(), &open),
                )
                .await
                .unwrap();
            }
            4 => {
                let ttl = CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(86_400_000);
                timed("create ttl", c.create(&path, data.as_bytes(), &ttl))
                    .await
                    .unwrap();
                leaves.push(path);
            }
            5 => {
                // A failed write takes a zxid too (an error txn).
                let again = timed("create again", c.create(&parent, b"x", &open)).await;
                assert!(again.is_err() || parent == "/", "{again:?}");
            }
            6 if !leaves.is_empty() => {
                let target = rng.pick(leaves).clone();
                timed("set", c.set_data(&target, data.as_bytes(), None))
                    .await
                    .unwrap();
            }
            7 if !leaves.is_empty() => {
                let at = rng.below(leaves.len());
                let target = leaves.swap_remove(at);
                // Dirs with children fail (NOTEMPTY: an error txn); that is fine.
                let deleted = timed("delete", c.delete(&target, None)).await;
                if deleted.is_ok() {
                    dirs.retain(|d| d != &target);
                } else {
                    leaves.push(target);
                }
            }
            8 => {
                let ops = vec![
                    Op::Create {
                        path: path.clone(),
                        data: data.clone().into_bytes().into(),
                        options: open.clone(),
                    },
                    Op::SetData {
                        path: path.clone(),
                        data: b"multi".to_vec().into(),
                        version: Some(0),
                    },
                    Op::Create {
                        path: format!("{path}-2"),
                        data: Vec::new().into(),
                        options: open.clone(),
                    },
                ];
                timed("multi", c.multi(ops)).await.unwrap();
                leaves.push(path.clone());
                leaves.push(format!("{path}-2"));
            }
            _ => {
                // A multi that fails as a whole (an error txn with the sub-results).
                let ops = vec![
                    Op::Create {
                        path: path.clone(),
                        data: Vec::new().into(),
                        options: open.clone(),
                    },
                    Op::Check {
                        path: parent.clone(),
                        version: 999,
                    },
                ];
                assert!(timed("failed multi", c.multi(ops)).await.is_err());
            }
        }
    }
}

/// Waits until the archive holds `zxid`.
async fn archived_through(archive: &Archive, zxid: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let catalog = archive.catalog().await.expect("reading the archive");
        if catalog.last_log_zxid().is_some_and(|z| z >= zxid) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the archive did not reach {zxid:#x} (at {:?})",
            catalog.last_log_zxid()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn restore_into(
    archive: &Archive,
    point: RestorePoint,
    data_dir: &Path,
    keep_sessions: bool,
    compression: Compression,
    force: bool,
) {
    let catalog = archive.catalog().await.unwrap();
    let plan = restore::plan(archive, &catalog, point)
        .await
        .unwrap_or_else(|e| panic!("planning {point:?}: {e}"));
    let options = RestoreOptions {
        data_dir: data_dir.to_owned(),
        keep_sessions,
        force,
        compression,
    };
    let report = restore::restore(archive, &plan, &options, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("restoring {point:?}: {e}"));
    assert_eq!(report.digest_mismatches, 0, "{report:?}");
}

fn compare(what: &str, recorded: &TreeSnapshot, restored: &TreeSnapshot) {
    let differences = tree_diff::differences(&[
        ("recorded".into(), recorded.clone()),
        (what.into(), restored.clone()),
    ]);
    assert!(
        differences.is_empty(),
        "{what}: {} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert_eq!(recorded.nodes.len(), restored.nodes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_every_checkpoint_by_zxid_and_by_time_on_both_servers() {
    let dir = tempfile::Builder::new()
        .prefix("zk-rs-backup-")
        .tempdir()
        .unwrap();
    let archive_dir = dir.path().join("archive");
    let backup_line = format!("backup.target={}", archive_dir.display());
    let server_dir = dir.path().join("origin");
    std::fs::create_dir_all(&server_dir).unwrap();
    let server = RustZkServerProcess::start_standalone(
        &server_dir,
        &server_dir.join("data"),
        &[
            "extendedTypesEnabled=true",
            "snapCount=60",
            "admin.enableServer=false",
            &backup_line,
            "backup.maxLagMs=100",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let connect = server.connect_string();
    let c = Client::builder(&connect)
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();
    let mut other = Some(
        Client::builder(&connect)
            .session_timeout(Duration::from_secs(30))
            .connect()
            .await
            .unwrap(),
    );
    timed(
        "create /cp",
        c.create("/cp", b"", &CreateOptions::persistent()),
    )
    .await
    .unwrap();
    timed(
        "create /app",
        c.create("/app", b"", &CreateOptions::persistent()),
    )
    .await
    .unwrap();
    let mut rng = Rng(0x0005_eedb_4c0b);
    let (mut dirs, mut leaves, mut n) = (vec!["/app".to_owned()], Vec::new(), 0);
    let mut checkpoints = Vec::new();
    for i in 0..CHECKPOINTS {
        round(&c, other.as_ref(), &mut rng, &mut dirs, &mut leaves, &mut n).await;
        if i == CHECKPOINTS / 2 {
            // A session closing with its ephemerals (closeSession deletes them).
            let closing = other.take().expect("open until now");
            timed("close", closing.close()).await.unwrap();
        }
        let stat = timed(
            "checkpoint",
            c.set_data("/cp", format!("{i}").as_bytes(), None),
        )
        .await
        .unwrap();
        let time_ms = now_ms();
        let tree = read_tree(&connect).await;
        checkpoints.push(Checkpoint {
            zxid: stat.mzxid,
            time_ms,
            tree,
        });
        // The next txn's time is later than the checkpoint's.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let archive = Archive::new(Target::directory(&archive_dir).unwrap(), 0);
    archived_through(&archive, checkpoints.last().unwrap().zxid).await;

    for (i, cp) in checkpoints.iter().enumerate() {
        // By zxid, onto zk-server; sessions kept, so the ephemerals are there as recorded.
        let restored = dir.path().join(format!("zxid-{i}"));
        std::fs::create_dir_all(&restored).unwrap();
        restore_into(
            &archive,
            RestorePoint::Zxid(cp.zxid),
            &restored.join("data"),
            true,
            Compression::Lz4,
            false,
        )
        .await;
        let mut ours = RustZkServerProcess::start_standalone(
            &restored,
            &restored.join("data"),
            &["extendedTypesEnabled=true", "admin.enableServer=false"],
        )
        .unwrap_or_else(|e| panic!("zk-server on the restore to {:#x}: {e}", cp.zxid));
        compare(
            &format!("zk-server restored to zxid {:#x}", cp.zxid),
            &cp.tree,
            &read_tree(&ours.connect_string()).await,
        );
        ours.stop().unwrap();

        // By time, onto the Java server (uncompressed snapshot).
        let mut java = JavaZkServer::builder()
            .cfg("extendedTypesEnabled=true")
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        java.stop().unwrap();
        restore_into(
            &archive,
            RestorePoint::Time(cp.time_ms),
            &java.data_dir(),
            true,
            Compression::None,
            true,
        )
        .await;
        java.restart()
            .unwrap_or_else(|e| panic!("Java on the restore to time {}: {e}", cp.time_ms));
        compare(
            &format!("Java restored to time {}", cp.time_ms),
            &cp.tree,
            &read_tree(&java.connect_string()).await,
        );
    }

    // Without --keep-sessions the ephemerals are gone and everything else is as recorded.
    let last = checkpoints.last().unwrap();
    let dropped = dir.path().join("dropped");
    restore_into(
        &archive,
        RestorePoint::Latest,
        &dropped.join("data"),
        false,
        Compression::Lz4,
        false,
    )
    .await;
    let ours = RustZkServerProcess::start_standalone(
        &dropped,
        &dropped.join("data"),
        &["extendedTypesEnabled=true", "admin.enableServer=false"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tree = read_tree(&ours.connect_string()).await;
    let ephemerals = last
        .tree
        .nodes
        .values()
        .filter(|n| {
            n.stat.ephemeral_owner != 0
                && n.stat.ephemeral_owner >> 56 != -1
                && n.stat.ephemeral_owner != i64::MIN
        })
        .count();
    assert!(ephemerals > 0, "the workload left ephemerals to drop");
    assert_eq!(tree.nodes.len() + ephemerals, last.tree.nodes.len());
    assert!(tree.nodes.values().all(|n| n.stat.ephemeral_owner == 0
        || n.stat.ephemeral_owner >> 56 == -1
        || n.stat.ephemeral_owner == i64::MIN));
    drop(c);
}

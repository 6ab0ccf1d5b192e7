//! Whole members on localhost: real election and quorum ports, real data directories. Each
//! test drives its ensemble through [`MemoryPipeline`]s and compares the members' trees and
//! logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::memory::MemoryPipeline;
use super::serving::ServingRole;
use super::*;
use crate::quorum::config::ConfigTexts;
use zk_proto::quorum::PacketType;
use zk_proto::storage::TxnLogReader;

/// Bound on any one wait.
const WAIT: Duration = Duration::from_secs(20);
/// The session the test txns belong to.
const SESSION: i64 = 0x77;

/// Logs to the test output when `RUST_LOG` is set.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One member: its data directory, its serving side, its node while it runs.
struct Member {
    sid: i64,
    dir: TempDir,
    extra: String,
    pipeline: MemoryPipeline,
    node: Option<QuorumNode>,
}

/// Members 1..=n on localhost (dropping it stops them all).
struct Ensemble {
    servers: String,
    members: BTreeMap<i64, Member>,
}

impl Ensemble {
    /// `observers` are sids that join as observers; `extra` adds zoo.cfg lines per sid.
    fn new(n: i64, observers: &[i64], extra: &[(i64, &str)]) -> Ensemble {
        let mut servers = String::new();
        let mut members = BTreeMap::new();
        for sid in 1..=n {
            let kind = if observers.contains(&sid) {
                ":observer"
            } else {
                ""
            };
            servers.push_str(&format!(
                "server.{sid}=127.0.0.1:{}:{}{kind}\n",
                free_port(),
                free_port()
            ));
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("myid"), sid.to_string()).unwrap();
            let extra = extra
                .iter()
                .filter(|(s, _)| *s == sid)
                .map(|(_, line)| format!("{line}\n"))
                .collect();
            members.insert(
                sid,
                Member {
                    sid,
                    dir,
                    extra,
                    pipeline: MemoryPipeline::new(),
                    node: None,
                },
            );
        }
        Ensemble { servers, members }
    }

    fn member(&self, sid: i64) -> &Member {
        &self.members[&sid]
    }

    async fn start(&mut self, sid: i64) {
        let servers = self.servers.clone();
        let m = self.members.get_mut(&sid).unwrap();
        let zoo_cfg = format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nforceSync=no\npreAllocSize=16\n{}{servers}",
            m.dir.path().display(),
            m.extra,
        );
        let cfg = Config::parse(&zoo_cfg, "").unwrap();
        let myid = std::fs::read_to_string(m.dir.path().join("myid")).unwrap();
        let texts = ConfigTexts {
            zoo_cfg: &zoo_cfg,
            myid: Some(&myid),
            ..ConfigTexts::default()
        };
        let quorum = QuorumConfig::from_texts(&cfg, &texts).unwrap();
        // The ports were free when chosen; another test's connection may hold one for a
        // moment (they come from the ephemeral range), so a taken port is tried again.
        let mut tries = 0;
        let node = loop {
            match QuorumNode::start(cfg.clone(), quorum.clone(), Box::new(m.pipeline.clone())).await
            {
                Ok(node) => break node,
                Err(e) if e.to_string().contains("Address already in use") && tries < 30 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("server {sid} starts: {e}"),
            }
        };
        m.node = Some(node);
    }

    async fn start_all(&mut self) {
        let sids: Vec<i64> = self.members.keys().copied().collect();
        for sid in sids {
            self.start(sid).await;
        }
    }

    /// Stops a member (its data directory stays).
    async fn stop(&mut self, sid: i64) {
        let m = self.members.get_mut(&sid).unwrap();
        if let Some(node) = m.node.take() {
            node.stop()
                .await
                .unwrap_or_else(|e| panic!("server {sid} stopped with {e}"));
        }
    }

    fn running(&self) -> Vec<i64> {
        self.members
            .values()
            .filter(|m| m.node.is_some())
            .map(|m| m.sid)
            .collect()
    }

    /// Waits until every running member serves and exactly one leads; the leader.
    async fn wait_serving(&self) -> i64 {
        let sids = self.running();
        wait_for("every running member serving under one leader", || {
            let roles: Vec<_> = sids
                .iter()
                .map(|&s| (s, self.member(s).pipeline.role()))
                .collect();
            let leaders: Vec<i64> = roles
                .iter()
                .filter(|(_, r)| *r == Some(ServingRole::Leader))
                .map(|(s, _)| *s)
                .collect();
            (roles.iter().all(|(_, r)| r.is_some()) && leaders.len() == 1).then(|| leaders[0])
        })
        .await
    }

    /// The leader proposes `n` creates of `/{prefix}-{i}`; their zxids.
    fn propose(&self, leader: i64, prefix: &str, n: usize) -> Vec<i64> {
        let p = &self.member(leader).pipeline;
        (0..n)
            .map(|i| {
                p.create(
                    SESSION,
                    &format!("/{prefix}-{i}"),
                    format!("v{i}").as_bytes(),
                )
                .unwrap_or_else(|e| panic!("the leader proposes: {e}"))
            })
            .collect()
    }

    /// Waits until every running member serves a tree at `zxid`; all must have one digest.
    async fn wait_converged(&self, zxid: i64) -> i64 {
        let sids = self.running();
        let trees = wait_for("every member's tree at the last zxid", || {
            let trees: Vec<_> = sids
                .iter()
                .map(|&s| (s, self.member(s).pipeline.tree()))
                .collect();
            trees
                .iter()
                .all(|(_, t)| t.as_ref().is_some_and(|t| t.last_processed_zxid() == zxid))
                .then_some(trees)
        })
        .await;
        let digests: Vec<(i64, i64, usize)> = trees
            .iter()
            .map(|(s, t)| {
                let t = t.as_ref().unwrap();
                (*s, t.digest(), t.node_count())
            })
            .collect();
        assert!(
            digests
                .windows(2)
                .all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2),
            "trees differ: {digests:?}"
        );
        digests[0].1
    }

    fn data_dir(&self, sid: i64) -> &Path {
        self.member(sid).dir.path()
    }

    /// The zxids in a member's log files, oldest file first, read without changing them (a
    /// running member may be writing; a torn last record just ends a file).
    fn logged(&self, sid: i64) -> Vec<i64> {
        let dir = self.data_dir(sid).join("version-2");
        let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|f| {
                let path = f.ok()?.path();
                let name = path.file_name()?.to_str()?;
                let zxid = i64::from_str_radix(name.strip_prefix("log.")?, 16).ok()?;
                Some((zxid, path))
            })
            .collect();
        files.sort();
        let mut zxids = Vec::new();
        for (_, path) in files {
            let bytes = std::fs::read(&path).unwrap();
            let Ok(mut reader) = TxnLogReader::new(&bytes) else {
                continue;
            };
            while let Ok(Some(record)) = reader.next_record() {
                zxids.push(record.txn_header().unwrap().zxid);
            }
        }
        zxids
    }
}

/// Polls `check` until it gives a value.
async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    crate::storage::snapshot::list_snapshots(&dir.join("version-2"))
        .unwrap()
        .into_iter()
        .map(|(p, _, _)| p)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_commit_on_all_and_log_it() {
    logs();
    let snap_often: Vec<(i64, &str)> = (1..=3).map(|s| (s, "snapCount=20")).collect();
    let mut e = Ensemble::new(3, &[], &snap_often);
    e.start_all().await;
    let leader = e.wait_serving().await;
    let zxids = e.propose(leader, "a", 100);
    let last = *zxids.last().unwrap();
    assert_eq!(last - zxids[0], 99, "zxids go up by one");
    e.wait_converged(last).await;
    // At most one snapshot per group commit: rounds of 20 give one each.
    for round in 0..4 {
        e.commit(leader, &format!("r{round}"), 20).await;
    }
    for sid in 1..=3 {
        let logged = e.logged(sid);
        assert!(
            zxids.iter().all(|z| logged.contains(z)),
            "server {sid}'s log lacks txns: {logged:x?}"
        );
        let tree = e.member(sid).pipeline.tree().unwrap();
        assert!(tree.node("/a-99").is_some(), "server {sid}");
    }
    // snapCount=20: a snapshot after 10 to 19 txns while serving (at most one per group
    // commit, none while one is being written), besides the startup one.
    for sid in 1..=3 {
        e.stop(sid).await;
        let snaps = snapshots(e.data_dir(sid));
        assert!(snaps.len() >= 3, "server {sid}: {snaps:?}");
    }
    // Restarted from those snapshots and the logs after them, they agree again.
    e.start_all().await;
    let leader = e.wait_serving().await;
    e.wait_converged(*e.propose(leader, "b", 1).last().unwrap())
        .await;
}

impl Ensemble {
    fn status(&self, sid: i64) -> NodeStatus {
        self.member(sid).node.as_ref().unwrap().status()
    }

    /// The last sync mode a member received as a learner.
    fn last_sync(&self, sid: i64) -> Option<PacketType> {
        self.status(sid).syncs.last().copied()
    }

    fn followers(&self, leader: i64) -> Vec<i64> {
        self.running()
            .into_iter()
            .filter(|&s| s != leader)
            .collect()
    }

    /// Proposes `n` txns, waits until every running member has them; their last zxid.
    async fn commit(&self, leader: i64, prefix: &str, n: usize) -> i64 {
        let last = *self.propose(leader, prefix, n).last().unwrap();
        self.wait_converged(last).await;
        last
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_and_the_old_one_catches_up_by_diff() {
    logs();
    let mut e = Ensemble::new(3, &[], &[]);
    e.start_all().await;
    let first = e.wait_serving().await;
    let before = e.commit(first, "a", 30).await;
    e.stop(first).await;
    let second = e.wait_serving().await;
    assert_ne!(second, first);
    let epoch = e.status(second).current_epoch;
    assert!(epoch > before >> 32, "a new epoch: {epoch}");
    let after = e.commit(second, "b", 30).await;
    assert_eq!(after >> 32, epoch);
    e.start(first).await;
    assert_eq!(e.wait_serving().await, second, "the leader stays");
    assert_eq!(e.member(first).pipeline.role(), Some(ServingRole::Follower));
    assert_eq!(e.last_sync(first), Some(PacketType::Diff));
    e.wait_converged(after).await;
    let last = e.commit(second, "c", 10).await;
    e.stop(first).await;
    assert!(
        e.logged(first).contains(&last),
        "the rejoined member logs new txns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_members_sync_by_diff_or_snap() {
    logs();
    let mut e = Ensemble::new(3, &[], &[]);
    e.start_all().await;
    let leader = e.wait_serving().await;
    let f = e.followers(leader)[0];
    e.commit(leader, "a", 10).await;

    // Briefly behind: the txns it missed follow a DIFF.
    e.stop(f).await;
    e.commit(leader, "b", 20).await;
    e.start(f).await;
    e.wait_serving().await;
    assert_eq!(e.last_sync(f), Some(PacketType::Diff));
    e.wait_converged(e.commit(leader, "c", 1).await).await;

    // A wiped data directory (myid kept): SNAP, and a snapshot file at once.
    e.stop(f).await;
    std::fs::remove_dir_all(e.data_dir(f).join("version-2")).unwrap();
    e.start(f).await;
    e.wait_serving().await;
    assert_eq!(e.last_sync(f), Some(PacketType::Snap));
    let last = e.commit(leader, "d", 5).await;
    e.stop(f).await;
    assert!(
        !snapshots(e.data_dir(f)).is_empty(),
        "SNAP leaves a snapshot"
    );
    assert!(e.logged(f).contains(&last));

    // Past the committed log, with a log much larger than a third of the snapshot: SNAP.
    e.commit(leader, "e", 600).await;
    e.start(f).await;
    e.wait_serving().await;
    assert_eq!(e.last_sync(f), Some(PacketType::Snap));
    assert_eq!(e.status(leader).txns_sent_from_disk, 0);
    e.wait_converged(e.commit(leader, "f", 1).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_past_the_committed_log_gets_a_diff_from_the_disk_log() {
    logs();
    // snapshotSizeFactor=0: no size limit on reading the log for a sync.
    let unlimited: Vec<(i64, &str)> = (1..=3).map(|s| (s, "snapshotSizeFactor=0")).collect();
    let mut e = Ensemble::new(3, &[], &unlimited);
    e.start_all().await;
    let leader = e.wait_serving().await;
    let f = e.followers(leader)[0];
    e.commit(leader, "a", 10).await;
    e.stop(f).await;
    e.commit(leader, "b", 600).await;
    e.start(f).await;
    e.wait_serving().await;
    assert_eq!(e.last_sync(f), Some(PacketType::Diff));
    let from_disk = e.status(leader).txns_sent_from_disk;
    assert!(from_disk > 0, "the older part came from the disk log");
    assert!(
        from_disk < 600,
        "the newer part from the committed log: {from_disk}"
    );
    e.wait_converged(e.commit(leader, "c", 1).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_truncates_its_unacknowledged_tail() {
    logs();
    let mut e = Ensemble::new(3, &[], &[]);
    e.start_all().await;
    let old = e.wait_serving().await;
    let committed = e.commit(old, "a", 10).await;
    // No follower left to ACK: what the leader logs now is never committed.
    for f in e.followers(old) {
        e.stop(f).await;
    }
    let tail = e.propose(old, "tail", 5);
    wait_for("the tail logged", || {
        let logged = e.logged(old);
        tail.iter().all(|z| logged.contains(z)).then_some(())
    })
    .await;
    e.stop(old).await;
    for f in [1, 2, 3].into_iter().filter(|&s| s != old) {
        e.start(f).await;
    }
    let new = e.wait_serving().await;
    e.start(old).await;
    assert_eq!(e.wait_serving().await, new);
    assert_eq!(e.last_sync(old), Some(PacketType::Trunc));
    // The new epoch's txns land on a tree without the tail.
    let last = e.commit(new, "b", 5).await;
    assert!(last >> 32 > committed >> 32);
    let tree = e.member(old).pipeline.tree().unwrap();
    assert!(tree.node("/tail-0").is_none() && tree.node("/b-4").is_some());
    e.stop(old).await;
    let logged = e.logged(old);
    assert!(
        tail.iter().all(|z| !logged.contains(z)),
        "the tail is cut: {logged:x?}"
    );
    assert!(logged.contains(&committed) && logged.contains(&last));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_follows_by_inform() {
    logs();
    let mut e = Ensemble::new(4, &[4], &[]);
    e.start_all().await;
    let leader = e.wait_serving().await;
    assert_ne!(leader, 4);
    assert_eq!(e.member(4).pipeline.role(), Some(ServingRole::Observer));
    assert_eq!(e.status(4).state, ServerState::Observing);
    let applied = e.member(4).pipeline.applied();
    let last = e.commit(leader, "a", 50).await;
    assert_eq!(
        e.member(4).pipeline.applied() - applied,
        50,
        "50 INFORMs applied"
    );
    e.stop(4).await;
    assert!(
        e.logged(4).contains(&last),
        "observers log what they are informed of"
    );
}

/// A create of `/n<zxid>` under the root, as the leader would log it.
fn create_entry(zxid: i64) -> std::sync::Arc<zk_proto::txn::TxnEntry> {
    use zk_proto::txn::{CreateTxn, Txn, TxnEntry, TxnHeader};
    std::sync::Arc::new(TxnEntry {
        header: TxnHeader {
            client_id: SESSION,
            cxid: 1,
            zxid,
            time: 1_700_000_000_000 + zxid,
            r#type: zk_proto::OpCode::Create,
        },
        txn: Txn::Create(CreateTxn {
            path: format!("/n{zxid}"),
            data: Some(bytes::Bytes::from_static(b"v")),
            acl: zk_proto::data::Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version: i32::try_from(zxid).unwrap(),
        }),
        digest: None,
    })
}

/// When a role ends, the txns it logged and never saw committed are applied from memory, in
/// order, and only those; the disk holds the same, so a reopened database has the same tree.
#[test]
fn a_role_end_fast_forwards_over_what_it_logged_and_did_not_see_committed() {
    let dir = TempDir::new().unwrap();
    let cfg = Config::parse(&format!("dataDir={}\n", dir.path().display()), "").unwrap();
    let mut db = database::Database::open(&cfg).unwrap();
    for zxid in 1..=5 {
        db.append(&create_entry(zxid)).unwrap();
    }
    db.apply(create_entry(1));
    db.apply(create_entry(2));
    assert_eq!(db.tree().last_processed_zxid(), 2);
    db.fast_forward().unwrap();
    let tree = db.tree();
    assert_eq!(tree.last_processed_zxid(), 5);
    assert!((1..=5).all(|z| tree.node(&format!("/n{z}")).is_some()));
    let digest = tree.digest();
    // Nothing is applied twice: a second end of role finds nothing left.
    db.fast_forward().unwrap();
    assert_eq!(db.tree().digest(), digest);
    drop(db);
    let reopened = database::Database::open(&cfg).unwrap();
    assert_eq!(reopened.tree().last_processed_zxid(), 5);
    assert_eq!(reopened.tree().digest(), digest);
}

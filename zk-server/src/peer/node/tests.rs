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
use crate::storage::txnlog::{read_logs_after, CorruptionPolicy};

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
        let node = QuorumNode::start(cfg, quorum, Box::new(m.pipeline.clone()))
            .await
            .unwrap_or_else(|e| panic!("server {sid} starts: {e}"));
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
                p.create(SESSION, &format!("/{prefix}-{i}"), format!("v{i}").as_bytes())
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
            digests.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2),
            "trees differ: {digests:?}"
        );
        digests[0].1
    }

    fn data_dir(&self, sid: i64) -> &Path {
        self.member(sid).dir.path()
    }

    /// The zxids in a member's log files.
    fn logged(&self, sid: i64) -> Vec<i64> {
        let dir = self.data_dir(sid).join("version-2");
        read_logs_after(&dir, 0, CorruptionPolicy::Fail)
            .unwrap()
            .entries
            .iter()
            .map(|e| e.header.zxid)
            .collect()
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
    let mut e = Ensemble::new(3, &[], &[]);
    e.start_all().await;
    let leader = e.wait_serving().await;
    let zxids = e.propose(leader, "a", 100);
    let last = *zxids.last().unwrap();
    assert_eq!(last - zxids[0], 99, "zxids go up by one");
    e.wait_converged(last).await;
    for sid in 1..=3 {
        let logged = e.logged(sid);
        assert!(
            zxids.iter().all(|z| logged.contains(z)),
            "server {sid}'s log lacks txns: {logged:x?}"
        );
        let tree = e.member(sid).pipeline.tree().unwrap();
        assert!(tree.node("/a-99").is_some(), "server {sid}");
    }
}

//! Three-member ensembles under failure: Java ZooKeeper 3.8 alone (which checks the harness
//! and the checks themselves), zk-server alone, and zk-server with a Java member (Java's
//! quorum protocol on both sides). The same scenario for each:
//!
//! 1. exactly one leader after start; a write through one member is read back through each
//!    of the others after a `sync`;
//! 2. kazoo, connected with the whole connect string, keeps writing while the leader is killed
//!    with SIGKILL: a new leader is elected, writes through zk-client continue, kazoo finishes
//!    every write;
//! 3. the killed member restarts on its old data directory and catches up (same zxid as the
//!    leader), a paused member resumes and catches up too, and a wiped member resyncs from
//!    nothing; afterwards every member's tree (data, Stat, ACL of every node) is the same;
//! 4. the tree comparison is not vacuous: two reads of one member around a write differ by
//!    exactly that node.

use std::time::Duration;

use interop_tests::ensemble::clients::{connect_member, create_retrying};
use interop_tests::tree_diff::{self, TreeSnapshot};
use interop_tests::{Ensemble, MemberKind, Mode, PythonScript};
use zk_client::{Client, CreateOptions};

/// Bound on each wait (elections and JVM restarts on two busy cores).
const WAIT: Duration = Duration::from_secs(60);

/// kazoo writes `/kazoo/n<i>` for `i` in `0..count`, retrying through connection loss (a retried
/// create that had already succeeded finds the node), and prints each acknowledged write.
const KAZOO_WRITER: &str = r#"
import sys, time
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError

hosts, count = sys.argv[1], int(sys.argv[2])
retry = dict(max_tries=-1, delay=0.05, max_delay=0.5)
zk = KazooClient(hosts=hosts, timeout=20, connection_retry=retry, command_retry=retry)
zk.start(timeout=30)
zk.retry(zk.ensure_path, "/kazoo")

def write(i):
    try:
        zk.create("/kazoo/n%d" % i, b"kazoo-%d" % i)
    except NodeExistsError:
        pass

for i in range(count):
    zk.retry(write, i)
    print("WROTE %d" % i, flush=True)
    time.sleep(0.03)
print("DONE", flush=True)
zk.stop()
"#;
const KAZOO_WRITES: usize = 100;

/// `path`'s data through `client` after a `sync`.
async fn read_synced(client: &Client, path: &str) -> Vec<u8> {
    client.sync(path).await.expect("sync");
    client.get_data(path).await.expect("get_data").0.to_vec()
}

fn assert_no_differences(diffs: &[String]) {
    assert!(diffs.is_empty(), "members differ:\n{}", diffs.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_ensemble_fails_over_and_stays_consistent() {
    fails_over_and_stays_consistent(&[MemberKind::Java; 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_rs_ensemble_fails_over_and_stays_consistent() {
    fails_over_and_stays_consistent(&[MemberKind::ZkRs; 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_ensemble_fails_over_and_stays_consistent() {
    fails_over_and_stays_consistent(&[MemberKind::ZkRs, MemberKind::ZkRs, MemberKind::Java]).await;
}

async fn fails_over_and_stays_consistent(kinds: &[MemberKind]) {
    let mut ensemble = tokio::task::block_in_place(|| {
        Ensemble::builder(kinds)
            .jvm_flag("-Dzookeeper.forceSync=no")
            .cfg("forceSync=no")
            .start()
    })
    .unwrap_or_else(|e| panic!("{e}"));

    // 1. One leader, two followers; a write through one member is visible through the others.
    let leader = ensemble.leader().expect("start waited for a leader");
    let modes: Vec<Mode> = (0..3).map(|i| ensemble.mode(i).expect("serving")).collect();
    assert_eq!(
        modes.iter().filter(|m| **m == Mode::Leader).count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| **m == Mode::Follower).count(),
        2,
        "{modes:?}"
    );
    let follower = (leader + 1) % 3;
    let clients: Vec<Client> = {
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(connect_member(&ensemble.addr(i).to_string(), WAIT).await);
        }
        clients
    };
    clients[follower]
        .create("/ens", b"through a follower", &CreateOptions::persistent())
        .await
        .expect("create /ens");
    for client in &clients {
        assert_eq!(read_synced(client, "/ens").await, b"through a follower");
    }

    // 2. kazoo writes through the whole connect string while the leader is SIGKILLed.
    let kazoo = PythonScript::new("ensemble_kazoo_writer", KAZOO_WRITER).expect("kazoo");
    let mut writer = kazoo
        .spawn(&[ensemble.connect_string(), KAZOO_WRITES.to_string()])
        .expect("start kazoo");
    writer
        .wait_for_stdout("WROTE 10\n", WAIT)
        .expect("kazoo writes before the kill");
    tokio::task::block_in_place(|| ensemble.kill(leader)).expect("kill the leader");
    let new_leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(new_leader, leader, "a killed member cannot lead");
    let survivor = (0..3).find(|&i| i != leader).expect("two survive");
    create_retrying(&clients[survivor], "/ens/after-kill", b"new leader", WAIT).await;
    let kazoo_out = tokio::task::block_in_place(|| writer.wait_timeout(WAIT))
        .and_then(|out| out.expect_success())
        .unwrap_or_else(|e| panic!("kazoo writer: {e}"));
    assert!(kazoo_out.stdout.ends_with("DONE\n"), "{}", kazoo_out.stdout);

    // 3. The killed member restarts on its data and catches up; so does a paused one; a wiped
    //    one resyncs from nothing.
    tokio::task::block_in_place(|| -> interop_tests::Result<()> {
        ensemble.restart(leader)?;
        ensemble.wait_synced(leader, WAIT)?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let paused = (0..3)
        .find(|&i| i != new_leader && i != leader)
        .expect("a third member");
    ensemble.pause(paused).expect("pause");
    assert!(
        ensemble.four_letter_word(paused, "ruok").is_err(),
        "a SIGSTOPped member answers nothing"
    );
    create_retrying(&clients[new_leader], "/ens/while-paused", b"p", WAIT).await;
    ensemble.resume(paused).expect("resume");
    tokio::task::block_in_place(|| -> interop_tests::Result<()> {
        ensemble.wait_synced(paused, WAIT)?;
        ensemble.wipe_and_restart(paused)?;
        ensemble.wait_synced(paused, WAIT)?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let diffs = ensemble.tree_differences().await.expect("read the trees");
    assert_no_differences(&diffs);
    let restarted = connect_member(&ensemble.addr(leader).to_string(), WAIT).await;
    restarted.sync("/").await.expect("sync");
    let kazoo_nodes = restarted.get_children("/kazoo").await.expect("/kazoo");
    assert_eq!(
        kazoo_nodes.len(),
        KAZOO_WRITES,
        "kazoo's writes on the restarted member"
    );
    assert_eq!(read_synced(&restarted, "/ens/while-paused").await, b"p");

    // 4. The comparison sees a node that only one read has.
    let addr = ensemble.addr(new_leader).to_string();
    let before = tree_diff::snapshot(&addr, WAIT).await.expect("read before");
    clients[new_leader]
        .create("/ens/only-after", b"", &CreateOptions::persistent())
        .await
        .expect("create");
    let after = tree_diff::snapshot(&addr, WAIT).await.expect("read after");
    let named: Vec<(String, TreeSnapshot)> =
        vec![("before".into(), before), ("after".into(), after)];
    let diffs = tree_diff::differences(&named);
    assert!(
        diffs.contains(&"/ens/only-after: present on after, missing on before".to_owned()),
        "{diffs:?}"
    );
    // Creating a child also changes its parent's Stat (cversion, numChildren, pzxid).
    assert!(
        diffs
            .iter()
            .any(|d| d.starts_with("/ens: stat.numChildren")),
        "{diffs:?}"
    );
}

/// Three zk-server members with tickTime 200 (syncLimit 5: a leader silent for a second is
/// given up), and the indexes of the leader and of a follower.
fn fast_zk_rs_ensemble() -> (Ensemble, usize, usize) {
    let ensemble = tokio::task::block_in_place(|| {
        Ensemble::builder(&[MemberKind::ZkRs; 3])
            .tick_time_ms(200)
            .cfg("forceSync=no")
            .start()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let leader = ensemble.leader().expect("start waited for a leader");
    (ensemble, leader, (leader + 1) % 3)
}

/// zk-server's own ensemble beyond the shared scenario: one session's pipelined writes keep
/// their order through a follower; the leader SIGSTOPped past syncLimit is replaced and,
/// resumed, follows; all three members SIGKILLed and restarted keep every acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_rs_ensemble_keeps_fifo_order_a_paused_leader_and_a_full_restart() {
    let (mut ensemble, leader, follower) = fast_zk_rs_ensemble();
    let client = connect_member(&ensemble.addr(follower).to_string(), WAIT).await;
    client
        .create("/fifo", b"", &CreateOptions::persistent())
        .await
        .expect("create /fifo");

    // Per-session FIFO: 50 sequential creates issued without waiting, through a follower
    // (forwarded to the leader), get increasing sequence numbers in the order issued.
    let sequential = CreateOptions::new(zk_client::zk_proto::CreateMode::PersistentSequential);
    let pending: Vec<_> = (0..50)
        .map(|i| client.create("/fifo/n-", format!("{i}").as_bytes(), &sequential))
        .collect();
    let mut names = Vec::new();
    for (i, create) in pending.into_iter().enumerate() {
        let (name, _) = create.await.unwrap_or_else(|e| panic!("create {i}: {e}"));
        names.push(name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "replies in the order the creates were sent");
    for (i, name) in names.iter().enumerate() {
        let data = client.get_data(name).await.expect("get").0;
        assert_eq!(
            data,
            format!("{i}").as_bytes(),
            "{name} holds the {i}th write"
        );
    }

    // The leader hangs past syncLimit: the others elect a new one and writes go on.
    tokio::task::block_in_place(|| ensemble.pause(leader)).expect("pause the leader");
    let new_leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(WAIT))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(new_leader, leader);
    create_retrying(&client, "/during-pause", b"p", WAIT).await;
    // Resumed, the old leader finds itself deposed and follows the new one.
    tokio::task::block_in_place(|| -> interop_tests::Result<()> {
        ensemble.resume(leader)?;
        ensemble.wait_synced(leader, WAIT)?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ensemble.mode(leader).expect("serving"), Mode::Follower);
    let resumed = connect_member(&ensemble.addr(leader).to_string(), WAIT).await;
    assert_eq!(read_synced(&resumed, "/during-pause").await, b"p");
    drop(resumed);

    // Every member crashes; restarted, they elect again and every acknowledged write is there.
    create_retrying(&client, "/before-crash", b"c", WAIT).await;
    drop(client);
    tokio::task::block_in_place(|| -> interop_tests::Result<()> {
        for i in 0..3 {
            ensemble.kill(i)?;
        }
        for i in 0..3 {
            ensemble.restart(i)?;
        }
        ensemble.wait_for_leader(WAIT)?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let client = connect_member(&ensemble.connect_string(), WAIT).await;
    // A write of the new epoch, so every member's zxid can match the leader's (a new leader
    // reports its epoch's zxid before its first txn, followers their last txn, as Java's do).
    create_retrying(&client, "/after-restart", b"r", WAIT).await;
    tokio::task::block_in_place(|| -> interop_tests::Result<()> {
        let leader = ensemble.wait_for_leader(WAIT)?;
        for i in (0..3).filter(|&i| i != leader) {
            ensemble.wait_synced(i, WAIT)?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_synced(&client, "/before-crash").await, b"c");
    assert_eq!(read_synced(&client, "/during-pause").await, b"p");
    assert_eq!(
        client.get_children("/fifo").await.expect("children").len(),
        50
    );
    let diffs = ensemble.tree_differences().await.expect("read the trees");
    assert_no_differences(&diffs);
}

/// Curator's `InterProcessMutex` from two JVMs, each connected to a different zk-server
/// member (a follower and the leader): the lock's sequential ephemerals and the watch on the
/// predecessor work across members, and the holds never overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_locks_across_zk_rs_members() {
    const ROUNDS: usize = 10;
    const HOLD_MS: u64 = 40;
    let (ensemble, leader, follower) = fast_zk_rs_ensemble();
    let program = tokio::task::block_in_place(|| {
        interop_tests::JavaProgram::from_file("java/CuratorLockLoop.java")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let spawn = |member: usize| {
        program
            .spawn(&[
                ensemble.addr(member).to_string(),
                "/locks/across".into(),
                ROUNDS.to_string(),
                HOLD_MS.to_string(),
            ])
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let lockers = [spawn(follower), spawn(leader)];
    let mut holds: Vec<(u64, u64, usize)> = Vec::new();
    for (side, locker) in lockers.into_iter().enumerate() {
        let out = locker
            .finish(WAIT)
            .await
            .unwrap_or_else(|e| panic!("Curator on side {side}: {e}"))
            .stdout;
        let intervals: Vec<(u64, u64, usize)> = out
            .lines()
            .filter(|l| l.starts_with("interval "))
            .map(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .map(|x| x.parse().expect("a number"))
                    .collect();
                (f[0], f[1], side)
            })
            .collect();
        assert_eq!(intervals.len(), ROUNDS, "side {side}:\n{out}");
        holds.extend(intervals);
    }
    holds.sort();
    for pair in holds.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "overlapping holds {:?} and {:?}: {holds:?}",
            pair[0],
            pair[1]
        );
    }
    let turns = holds.windows(2).filter(|p| p[0].2 != p[1].2).count();
    assert!(turns >= 2, "the two JVMs never contended: {holds:?}");
}

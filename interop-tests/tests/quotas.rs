//! Quotas on the real Java ZooKeeper 3.8 server and on zk-server, both with
//! `enforceQuota=true` in zoo.cfg, compared as clients see them:
//!
//! 1. the real zkCli (`setquota`, `listquota`, `get -s` of the quota nodes, writes past soft and
//!    hard limits) runs the same lines on both; the transcripts must match, zxids included, and
//!    both servers log the soft limit passed;
//! 2. raw requests (`Differential`): creates, setData, deletes, multis and session closes under
//!    and above quota roots, the stats and limits nodes read back (data and Stat), a watch on a
//!    stats node (in-place updates fire nothing), QUOTAEXCEEDED and its zxid, a limits node
//!    zkCli never writes;
//! 3. both servers restart twice (the first replays the log, the second loads the snapshot
//!    written at the first, which recounts the stats) and the quota nodes are compared again;
//! 4. zkCli's `delquota` and `listquota` on both.
//!
//! zk-server runs as a process on a data directory (it must survive restarts).

use bytes::Bytes;
use interop_tests::differential::Differential;
use interop_tests::{run_zkcli, JavaZkServer, RustZkServerProcess, ZkCliStep};
use zk_proto::data::Acl;
use zk_proto::message::{MultiOp, MultiRequest, RequestBody};
use zk_proto::proto::{CreateRequest, DeleteRequest, GetDataRequest, SetDataRequest};
use zk_proto::ErrorCode;

/// The same zoo.cfg line for both servers (Java reads it as `-Dzookeeper.enforceQuota=true`).
const ENFORCE: &str = "enforceQuota=true";

const STATS_APP: &str = "/zookeeper/quota/app/zookeeper_stats";
const LIMITS_APP: &str = "/zookeeper/quota/app/zookeeper_limits";
const STATS_HARD: &str = "/zookeeper/quota/hard/zookeeper_stats";
const LIMITS_INNER: &str = "/zookeeper/quota/nest/inner/zookeeper_limits";
const STATS_INNER: &str = "/zookeeper/quota/nest/inner/zookeeper_stats";

/// zkCli, first: quotas set, soft and hard limits passed, the quota nodes read.
const SET_QUOTAS: &[&str] = &[
    "create /app a",
    "create /app/one 11",
    "create /app/one/deep 333",
    "create /other x",
    "setquota -n 4 /app",
    "listquota /app",
    "get -s /zookeeper/quota/app/zookeeper_stats",
    "get -s /zookeeper/quota/app/zookeeper_limits",
    "create /app/two 2",
    "create /app/three 3",
    "setquota -B 20 /app",
    "create /hard h",
    "setquota -N 2 /hard",
    "create /hard/a 1",
    "create /hard/b 1",
    "set /hard/a 0123456789",
    "setquota -n 2 /app/one",
    "create /nest n",
    "create /nest/inner i",
    "setquota -n 10 /nest/inner",
    "setquota -n 10 /nest",
    "listquota /app",
    "listquota /hard",
    "listquota /missing",
    "get -s /zookeeper/quota/hard/zookeeper_stats",
];

/// zkCli, last: quotas removed.
const DEL_QUOTAS: &[&str] = &[
    "delquota -B /app",
    "listquota /app",
    "create /app/big 0123456789012345678901234567890123456789",
    "delquota /hard",
    "listquota /hard",
    "create /hard/c 1",
    "delquota /missing",
    "ls -R /zookeeper/quota",
];

/// Both servers, `enforceQuota=true`; stopped on drop.
struct Servers {
    java: JavaZkServer,
    ours: RustZkServerProcess,
    _dir: tempfile::TempDir,
    /// Unix ms before either server could stamp a node.
    started_ms: i64,
}

impl Servers {
    fn start() -> Servers {
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64;
        let dir = tempfile::tempdir().expect("temp dir");
        let ours =
            RustZkServerProcess::start_standalone(dir.path(), &dir.path().join("data"), &[ENFORCE])
                .unwrap_or_else(|e| panic!("{e}"));
        let java = JavaZkServer::builder()
            .cfg(ENFORCE)
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        Servers {
            java,
            ours,
            _dir: dir,
            started_ms,
        }
    }

    fn restart(&mut self) {
        self.java.restart().unwrap_or_else(|e| panic!("{e}"));
        self.ours.restart().unwrap_or_else(|e| panic!("{e}"));
    }

    fn differential(&self) -> Differential {
        // zkCli made the quota nodes before the runner existed.
        Differential::new(self.java.addr(), self.ours.addr()).with_times_since(self.started_ms)
    }

    /// Runs `commands` through zkCli on both servers and asserts the transcripts match.
    fn zkcli(&self, commands: &[&str]) -> String {
        let java = transcript(&run_zkcli(&self.java.connect_string(), commands).expect("zkCli"));
        let ours = transcript(&run_zkcli(&self.ours.connect_string(), commands).expect("zkCli"));
        assert_eq!(
            java, ours,
            "zkCli's transcript differs (left Java, right zk-server)"
        );
        java
    }
}

/// The steps as one text; Stat times (which differ between any two runs) as `T`.
fn transcript(steps: &[ZkCliStep]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push_str(&format!("$ {}\n", step.command));
        for line in step.stdout.lines() {
            match line.split_once(" = ") {
                Some((key @ ("ctime" | "mtime"), _)) => out.push_str(&format!("{key} = T\n")),
                _ => out.push_str(&format!("{line}\n")),
            }
        }
        for line in step.stderr.lines() {
            out.push_str(&format!("stderr: {line}\n"));
        }
    }
    out
}

fn data(text: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(text.as_bytes()))
}

fn create_req(path: &str, text: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: data(text),
        acl: Some(Acl::open_unsafe()),
        flags,
    }
}

fn create(path: &str, text: &str) -> RequestBody {
    RequestBody::Create2(create_req(path, text, 0))
}

fn set_req(path: &str, text: &str, version: i32) -> SetDataRequest {
    SetDataRequest {
        path: path.into(),
        data: data(text),
        version,
    }
}

fn set(path: &str, text: &str, version: i32) -> RequestBody {
    RequestBody::SetData(set_req(path, text, version))
}

fn delete(path: &str) -> RequestBody {
    RequestBody::Delete(DeleteRequest {
        path: path.into(),
        version: -1,
    })
}

fn get(path: &str, watch: bool) -> RequestBody {
    RequestBody::GetData(GetDataRequest {
        path: path.into(),
        watch,
    })
}

/// Asserts Java answered `code` (so the scenario does what it says).
fn expect(d: &mut Differential, slot: usize, body: RequestBody, code: ErrorCode) {
    let outcome = d.step(slot, body);
    assert_eq!(outcome.java_err(), Some(code), "step {}", outcome.index);
}

/// The quota nodes of every root, read on both servers.
fn read_quota_nodes(d: &mut Differential) {
    for root in ["app", "hard", "nest/inner", "456"] {
        for node in ["zookeeper_limits", "zookeeper_stats"] {
            d.step(0, get(&format!("/zookeeper/quota/{root}/{node}"), false));
        }
    }
}

fn raw_requests(d: &mut Differential) {
    d.section("raw requests under quota roots");
    for slot in 0..3 {
        d.open_session(slot);
    }
    // Watches on the stats nodes: their in-place updates must fire nothing.
    d.step(1, get(STATS_APP, true));
    d.step(1, get(STATS_HARD, true));
    read_quota_nodes(d);
    // /app: soft count 4 (passed already), hard bytes 20, 8 bytes used.
    expect(d, 0, create("/app/four", "4444"), ErrorCode::Ok);
    expect(
        d,
        0,
        set("/app/one", "0123456789abcde", -1),
        ErrorCode::QuotaExceeded,
    );
    // The quota is checked before the version.
    expect(
        d,
        0,
        set("/app/one", "0123456789abcde", 7),
        ErrorCode::QuotaExceeded,
    );
    expect(d, 0, set("/app/one", "", -1), ErrorCode::Ok);
    expect(
        d,
        0,
        create("/app/one/big", &"b".repeat(30)),
        ErrorCode::QuotaExceeded,
    );
    expect(d, 0, create("/app/seq-", "s"), ErrorCode::Ok);
    d.step(0, RequestBody::Create(create_req("/app/seq-", "s", 2)));
    expect(d, 0, create("/other/free", &"f".repeat(100)), ErrorCode::Ok);
    expect(d, 0, delete("/app/two"), ErrorCode::Ok);
    d.step(2, RequestBody::Create(create_req("/app/eph", "eeee", 1)));
    d.step(0, get(STATS_APP, false));
    d.step(2, RequestBody::CloseSession);
    d.step(0, get(STATS_APP, false));
    // /hard: hard count 2, 2 used. A multi is checked op by op against the tree before it:
    // with one node free, two creates both pass.
    expect(d, 0, create("/hard/x", ""), ErrorCode::QuotaExceeded);
    expect(d, 0, delete("/hard/a"), ErrorCode::Ok);
    d.step(
        0,
        RequestBody::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(create_req("/hard/m1", "", 0)),
                MultiOp::Create(create_req("/hard/m2", "", 0)),
            ],
        }),
    );
    d.step(
        0,
        RequestBody::Multi(MultiRequest {
            ops: vec![
                MultiOp::SetData(set_req("/hard", "more bytes do not count", -1)),
                MultiOp::Create(create_req("/hard/m3", "", 0)),
            ],
        }),
    );
    d.step(0, get(STATS_HARD, false));
    // A client may write the stats node: later updates start from what it wrote (and a
    // snapshot load recounts it).
    expect(
        d,
        0,
        set(STATS_INNER, "count=100,bytes=100;note=1", -1),
        ErrorCode::Ok,
    );
    expect(d, 0, create("/nest/inner/x", "xx"), ErrorCode::Ok);
    // Limits Java cannot read fail the request in prep.
    d.step(0, set(LIMITS_INNER, "count=", -1));
    d.step(0, create("/nest/inner/y", "y"));
    d.step(0, set(LIMITS_INNER, "count=10,bytes=-1", -1));
    // A quota made of raw creates, then lost by deleting a limits node outside
    // /zookeeper/quota: Java cuts 16 characters off its parent, leaving "456".
    for (path, text) in [
        ("/456", ""),
        ("/zookeeper/quota/456", ""),
        ("/zookeeper/quota/456/zookeeper_limits", "count=5,bytes=-1"),
        ("/zookeeper/quota/456/zookeeper_stats", "anything"),
        ("/456/a", "1"),
        ("/zookeeperXYZ123456", ""),
        ("/zookeeperXYZ123456/zookeeper_limits", ""),
    ] {
        expect(d, 0, create(path, text), ErrorCode::Ok);
    }
    expect(
        d,
        0,
        delete("/zookeeperXYZ123456/zookeeper_limits"),
        ErrorCode::Ok,
    );
    expect(d, 0, create("/456/b", "2"), ErrorCode::Ok);
    read_quota_nodes(d);
    d.step(0, get(LIMITS_APP, false));
    d.close_all_sessions();
}

/// After a restart: the quota nodes, then a write under each root and the nodes again.
fn after_restart(d: &mut Differential, round: usize) {
    d.section(&format!("after restart {round}"));
    d.open_session(0);
    read_quota_nodes(d);
    for path in ["/app/r", "/hard/r", "/nest/inner/r", "/456/r"] {
        d.step(0, create(&format!("{path}{round}"), "r"));
    }
    read_quota_nodes(d);
    d.close_all_sessions();
}

#[test]
fn quotas_match_java() {
    let mut servers = Servers::start();
    let set = servers.zkcli(SET_QUOTAS);
    // The scenario does what it says (on Java, and so on ours).
    for expected in [
        "Output stat for /app count=3,bytes=6",
        "stderr: Quota has exceeded : /hard/b",
        "stderr: /app/one has a parent /app which has a quota",
        "stderr: /nest has a child /nest/inner which has a quota",
        "stderr: quota for /missing does not exist.",
        "Output quota for /app count=4,bytes=-1=;byteHardLimit=20;countHardLimit=-1",
    ] {
        assert!(set.contains(expected), "{expected:?} not in\n{set}");
    }

    // One runner throughout: its time window and zxid names span the restarts.
    // Passing a soft limit is only logged (a warning on both).
    let soft = "Quota exceeded: /app [current count=5, softCountLimit=4]";
    assert!(servers.java.log().contains(soft), "Java logged no {soft:?}");
    assert!(
        servers.ours.log().contains(soft),
        "zk-server logged no {soft:?}"
    );

    let mut d = servers.differential();
    raw_requests(&mut d);
    d.assert_no_differences();
    for round in 1..=2 {
        servers.restart();
        after_restart(&mut d, round);
        d.assert_no_differences();
    }

    let del = servers.zkcli(DEL_QUOTAS);
    assert!(
        del.contains("Output quota for /app count=4,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"),
        "{del}"
    );
    assert!(del.contains("stderr: Created /hard/c"), "{del}");
}

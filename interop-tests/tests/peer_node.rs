//! Our ensemble members (`zk_server::peer::node::QuorumNode`) with real Java 3.8 servers, in
//! both directions. First a Java server as a follower of ours: our `QuorumNode`s are sids 2
//! and 3 (sid 3 leads), Java is sid 1.
//!
//! 1. Our pair elects sid 3 and commits 50 txns. Java's sid 1 then starts with an empty data
//!    directory: it must elect our sid 3, get a SNAP (its log says so), load our SNAP body and
//!    serve (`srvr`: follower, our last zxid, our node count).
//! 2. 50 more txns: Java receives them as PROPOSAL/COMMIT (its zxid follows, a client reads the
//!    last node from it, and it finds no digest mismatch).
//! 3. Our sid 2 stops: a quorum is now sid 3 and Java, so the next txns commit only if Java's
//!    ACKs count.
//!
//! Then the other way round (`our_node_follows_a_java_leader`, see its docs).
//!
//! Every wait is bounded; the Java server dies with the test (Drop guard), our nodes stop on
//! drop.

use std::time::Duration;

use interop_tests::{JavaZkServer, ServerAddr};
use tempfile::TempDir;
use zk_proto::quorum::PacketType;
use zk_server::config::Config;
use zk_server::peer::node::memory::MemoryPipeline;
use zk_server::peer::node::serving::ServingRole;
use zk_server::peer::node::QuorumNode;
use zk_server::quorum::config::{ConfigTexts, QuorumConfig};

const WAIT: Duration = Duration::from_secs(30);
const TICK_TIME_MS: u32 = 500;

struct Ours {
    dir: TempDir,
    pipeline: MemoryPipeline,
    node: Option<QuorumNode>,
}

async fn start_ours(sid: u32, servers: &str) -> Ours {
    restart_ours(sid, servers, tempfile::tempdir().unwrap()).await
}

/// Starts our member `sid` on the data directory `dir`.
async fn restart_ours(sid: u32, servers: &str, dir: TempDir) -> Ours {
    let zoo_cfg = format!(
        "tickTime={TICK_TIME_MS}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nforceSync=no\n{servers}",
        dir.path().display()
    );
    let myid = sid.to_string();
    std::fs::write(dir.path().join("myid"), &myid).unwrap();
    let cfg = Config::parse(&zoo_cfg, "").unwrap();
    let texts = ConfigTexts {
        zoo_cfg: &zoo_cfg,
        myid: Some(&myid),
        ..ConfigTexts::default()
    };
    let quorum = QuorumConfig::from_texts(&cfg, &texts).unwrap();
    let pipeline = MemoryPipeline::new();
    let node = QuorumNode::start(cfg, quorum, Box::new(pipeline.clone()))
        .await
        .unwrap();
    Ours {
        dir,
        pipeline,
        node: Some(node),
    }
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A field of Java's `srvr` answer.
fn srvr(java: &JavaZkServer, field: &str) -> Option<String> {
    let reply = java.four_letter_word("srvr").ok()?;
    reply
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")).map(str::to_owned))
}

fn java_zxid(java: &JavaZkServer) -> Option<i64> {
    srvr(java, "Zxid").and_then(|z| i64::from_str_radix(z.trim_start_matches("0x"), 16).ok())
}

/// Proposes `n` creates at our leader; the last zxid, once our members applied it.
async fn commit(ours: &[&Ours], prefix: &str, n: usize) -> i64 {
    let leader = &ours[0].pipeline;
    let mut last = 0;
    for i in 0..n {
        last = leader
            .create(0x55, &format!("/{prefix}-{i}"), format!("v{i}").as_bytes())
            .unwrap();
    }
    wait_for("our members apply the txns", || {
        ours.iter()
            .all(|o| {
                o.pipeline
                    .tree()
                    .is_some_and(|t| t.last_processed_zxid() == last)
            })
            .then_some(())
    })
    .await;
    last
}

/// Our member's tree once it reaches `zxid`.
async fn tree_at(ours: &Ours, zxid: i64) -> zk_server::tree::DataTree {
    wait_for("our tree reaches Java's zxid", || {
        ours.pipeline
            .tree()
            .filter(|t| t.last_processed_zxid() == zxid)
    })
    .await
}

/// Java follows with `zxid` and our leader's node count.
async fn java_has(java: &JavaZkServer, leader: &Ours, zxid: i64) {
    wait_for("Java's zxid reaches ours", || {
        (java_zxid(java) == Some(zxid)).then_some(())
    })
    .await;
    // Java's count holds the root twice (as "" and "/"), as our `srvr` reports it too.
    let nodes = leader.pipeline.tree().unwrap().node_count() + 1;
    assert_eq!(srvr(java, "Node count"), Some(nodes.to_string()));
    assert_eq!(srvr(java, "Mode").as_deref(), Some("follower"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_server_follows_our_leader() {
    let port = || interop_tests::free_port().unwrap();
    let addrs: Vec<ServerAddr> = (1..=3)
        .map(|id| ServerAddr {
            id,
            client_port: port(),
            quorum_port: port(),
            election_port: port(),
        })
        .collect();
    let servers: String = addrs.iter().map(|a| a.server_line() + "\n").collect();
    let mut two = start_ours(2, &servers).await;
    let three = start_ours(3, &servers).await;
    wait_for("our pair serves under sid 3", || {
        (three.pipeline.role() == Some(ServingRole::Leader)
            && two.pipeline.role() == Some(ServingRole::Follower))
        .then_some(())
    })
    .await;
    let first = commit(&[&three, &two], "a", 50).await;

    let (me, peers) = (addrs[0], addrs.clone());
    let java = tokio::task::spawn_blocking(move || {
        JavaZkServer::builder()
            .tick_time_ms(TICK_TIME_MS)
            .start_member(me, &peers)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    java_has(&java, &three, first).await;
    assert!(
        java.log().contains("Getting a snapshot from leader"),
        "Java synced by SNAP:\n{}",
        java.log_tail(40)
    );

    let second = commit(&[&three, &two], "b", 50).await;
    java_has(&java, &three, second).await;
    let client = zk_client::Client::connect(&java.connect_string())
        .await
        .unwrap();
    let (data, stat) = tokio::time::timeout(WAIT, client.get_data("/b-49"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&data[..], b"v49");
    assert_eq!(stat.czxid, second);

    // Only sid 3 and Java are left: a commit needs Java's ACK.
    two.node.take().unwrap().stop().await.unwrap();
    let third = commit(&[&three], "c", 10).await;
    java_has(&java, &three, third).await;
    let log = java.log();
    assert!(
        !log.contains("Digests are not matching") && !log.contains("ERROR"),
        "Java's log has errors:\n{}",
        java.log_tail(60)
    );
}

/// The other direction: our `QuorumNode` as sid 3 follows a Java pair (Java elects sid 2).
/// It syncs from Java's leader (SNAP for an empty member after 20 txns; DIFF after a restart
/// that missed 5), then takes Java's PROPOSAL/COMMITs; once Java's follower dies, Java's leader can only commit
/// with our ACKs. Our tree must match Java's: last zxid, node count, data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_node_follows_a_java_leader() {
    let quorum_port = interop_tests::free_port().unwrap();
    let election_port = interop_tests::free_port().unwrap();
    let server3 = format!("server.3=127.0.0.1:{quorum_port}:{election_port}");
    let java = tokio::task::spawn_blocking(move || {
        JavaZkServer::builder()
            .tick_time_ms(TICK_TIME_MS)
            .cfg(server3)
            .start_ensemble(2)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(java.leader(), Some(2));
    let leader = java.member(2);
    let client = zk_client::Client::connect(&leader.connect_string())
        .await
        .unwrap();
    let persistent = zk_client::CreateOptions::persistent();
    for i in 0..20 {
        let path = format!("/j-{i}");
        client.create(&path, b"before", &persistent).await.unwrap();
    }

    let java_cfg = std::fs::read_to_string(leader.config_path()).unwrap();
    let servers: String = java_cfg
        .lines()
        .filter(|l| l.starts_with("server."))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut ours = start_ours(3, &servers).await;
    let serving = async |ours: &Ours| {
        wait_for("our sid 3 serves as a follower", || {
            (ours.pipeline.role() == Some(ServingRole::Follower)).then_some(())
        })
        .await;
        ours.node.as_ref().unwrap().status().syncs
    };
    // Java's choice for an empty member.
    assert_eq!(serving(&ours).await, [PacketType::Snap]);
    // Back after missing a few txns: Java sends them after a DIFF.
    ours.node.take().unwrap().stop().await.unwrap();
    for i in 0..5 {
        let path = format!("/missed-{i}");
        client.create(&path, b"", &persistent).await.unwrap();
    }
    ours = restart_ours(3, &servers, ours.dir).await;
    assert_eq!(serving(&ours).await, [PacketType::Diff]);

    let more = async |prefix: &str| {
        for i in 0..20 {
            let path = format!("/{prefix}-{i}");
            client.create(&path, b"after", &persistent).await.unwrap();
        }
    };
    more("k").await;
    let tree = tree_at(&ours, java_zxid(java.member(2)).unwrap()).await;
    // Java's count holds the root twice.
    let nodes = (tree.node_count() + 1).to_string();
    assert_eq!(srvr(java.member(2), "Node count"), Some(nodes));
    let node = tree.node("/k-19").expect("/k-19 reached us");
    assert_eq!(node.data.as_deref(), Some(&b"after"[..]));
    assert!(tree.node("/j-0").is_some() && tree.node("/missed-4").is_some());

    // Java's follower dies: Java's leader commits only with our ACKs.
    let java = tokio::task::spawn_blocking(move || {
        let mut java = java;
        java.member_mut(1).stop().unwrap_or_else(|e| panic!("{e}"));
        java
    })
    .await
    .unwrap();
    let written = tokio::time::timeout(WAIT, more("m")).await;
    assert!(written.is_ok(), "Java's leader commits with our ACKs");
    let tree = tree_at(&ours, java_zxid(java.member(2)).unwrap()).await;
    assert!(tree.node("/m-19").is_some());
}

//! The AdminServer's ensemble commands against Java's, in one mixed ensemble (two zk-server
//! members, one Java 3.8 member, each with its AdminServer):
//! - `voting_view` is the same JSON on every member, Java's included;
//! - `leader` names the same leader everywhere, with Java's keys;
//! - `zabstate` has Java's keys, each member's own addresses and `broadcast`;
//! - `monitor` carries `peer_state` and `quorum_size`; `/ready` is 200 on serving members;
//! - with two members killed, the last one is not serving: `/ready` 503, `stats` says so,
//!   `zabstate` falls back to Java's standalone answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use interop_tests::admin_http::admin_get as get;
use interop_tests::ensemble::clients::{connect_member, create_retrying};
use interop_tests::{Ensemble, MemberKind};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn json(addr: SocketAddr, command: &str) -> Value {
    let (status, body) = get(addr, &format!("/commands/{command}"));
    assert_eq!(status, 200, "{command} on {addr}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{command} on {addr}: {e}: {body}"))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// Polls `f` until it holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ensemble_commands_match_javas() {
    use MemberKind::{Java, ZkRs};
    let mut ensemble = Ensemble::builder(&[Java, ZkRs, ZkRs])
        .admin_servers()
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let leader = ensemble.wait_for_leader(WAIT).unwrap();
    let admin: Vec<SocketAddr> = (0..3).map(|i| ensemble.admin_addr(i).unwrap()).collect();
    // Java is sid 1: with equal zxids the highest sid of a quorum leads, so one of ours does.
    let java = 0;
    assert_ne!(leader, java);
    // Java's AdminServer starts a moment after its client port.
    eventually("Java's AdminServer", || {
        std::net::TcpStream::connect(admin[java]).is_ok()
    });

    // voting_view: the configuration, the same everywhere.
    let views: Vec<Value> = admin.iter().map(|a| json(*a, "voting_view")).collect();
    assert_eq!(views[0], views[java], "zk-server vs Java: {:#}", views[0]);
    assert_eq!(views[1], views[java]);
    assert_eq!(views[0]["current_config"].as_object().unwrap().len(), 3);

    // leader: one leader, Java's keys.
    for (i, a) in admin.iter().enumerate() {
        let l = json(*a, "leader");
        assert_eq!(
            keys(&l),
            ["is_leader", "leader_id", "leader_ip", "command", "error"],
            "{l:#}"
        );
        assert_eq!(
            l["leader_id"].as_i64(),
            Some(leader as i64 + 1),
            "member {i}: {l:#}"
        );
        assert_eq!(l["is_leader"].as_bool(), Some(i == leader), "member {i}");
        assert_eq!(l["leader_ip"], "127.0.0.1", "member {i}");
    }

    // zabstate: Java's keys, the member's own facts.
    let java_zab = json(admin[java], "zabstate");
    for (i, a) in admin.iter().enumerate() {
        let z = json(*a, "zabstate");
        assert_eq!(keys(&z), keys(&java_zab), "member {i}: {z:#}");
        assert_eq!(z["myid"].as_i64(), Some(i as i64 + 1));
        assert_eq!(z["zabstate"], "broadcast", "member {i}");
        assert_eq!(z["voting"], true);
        let peer = ensemble.peer(i);
        // Java prints its MultipleAddresses beans whole.
        for (key, port) in [
            ("quorum_address", peer.quorum_port),
            ("election_address", peer.election_port),
        ] {
            let address = format!("127.0.0.1:{port}");
            assert_eq!(
                z[key],
                serde_json::json!({
                    "empty": false,
                    "all_addresses": [address],
                    "all_reachable_addresses": [address],
                    "one": address,
                    "reachable_address": address,
                    "wildcard_addresses": [format!("0.0.0.0:{port}")],
                    "all_ports": [port],
                    "all_host_strings": ["127.0.0.1"],
                    "all_reachable_addresses_or_all": [address],
                    "reachable_or_one": address,
                }),
                "member {i} {key}"
            );
            assert_eq!(keys(&z[key]), keys(&java_zab[key]), "member {i} {key}");
        }
        assert_eq!(
            z["client_address"],
            format!("127.0.0.1:{}", peer.client_port)
        );
        assert!(z["last_zxid"].as_str().unwrap().starts_with("0x"));
    }

    // Writes through the leader: each follower's ACKs give the leader `ack_latency` by sid
    // (when the leader is ours; Java's default provider prints the same keys). As in Java,
    // an ACK counts only while its proposal waits for its quorum, so the other zk-rs
    // follower is paused: every quorum needs the Java follower's ACK.
    let other = 3 - leader;
    ensemble.pause(other).unwrap();
    let leader_addr = ensemble.addr(leader).to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = connect_member(&leader_addr, WAIT).await;
        for i in 0..10 {
            create_retrying(&client, &format!("/w{i}"), b"v", WAIT).await;
        }
        client.close().await.unwrap();
    });
    ensemble.resume(other).unwrap();
    {
        // Java's follower (sid 1) acknowledges too.
        let follower_sid = (0..3).find(|&i| i != leader).unwrap() + 1;
        eventually("ack latencies on the leader", || {
            let m = json(admin[leader], "monitor");
            m[format!("cnt_{follower_sid}_ack_latency")].as_i64() >= Some(1)
        });
        let metrics = json(admin[leader], "monitor");
        assert!(
            metrics["commit_count"].as_i64().unwrap() >= 10,
            "{metrics:#}"
        );
        assert!(metrics["cnt_quorum_ack_latency"].as_i64().unwrap() >= 10);
    }

    // observers, monitor, srvr: Java's keys; /ready on ours.
    let java_obsr = json(admin[java], "observers");
    let java_srvr = json(admin[java], "srvr");
    for i in [1, 2] {
        assert_eq!(keys(&json(admin[i], "observers")), keys(&java_obsr));
        let m = json(admin[i], "monitor");
        let state = if i == leader {
            "leading - broadcast"
        } else {
            "following - broadcast"
        };
        assert_eq!(m["peer_state"], state, "member {i}");
        assert_eq!(m["quorum_size"], 3);
        if i == leader {
            // The leader's counts reach its gauges on its next tick.
            eventually("two synced followers", || {
                json(admin[i], "monitor")["synced_followers"] == 2
            });
        }
        let srvr = json(admin[i], "srvr");
        if (i == leader) == (java == leader) {
            assert_eq!(keys(&srvr), keys(&java_srvr), "member {i}");
        }
        assert_eq!(
            srvr.get("proposal_stats").is_some(),
            i == leader,
            "member {i}"
        );
        let (status, body) = get(admin[i], "/ready");
        let role = if i == leader { "leader" } else { "follower" };
        assert_eq!(
            (status, body),
            (200, format!("ready: {role}\n")),
            "member {i}"
        );
    }

    // Two members gone: the last one cannot serve.
    let survivor = if leader == 1 { 2 } else { 1 };
    for i in (0..3).filter(|&i| i != survivor) {
        ensemble.kill(i).unwrap();
    }
    eventually("the survivor to stop serving", || {
        get(admin[survivor], "/ready").0 == 503
    });
    let stats = json(admin[survivor], "stats");
    assert_eq!(
        stats["error"],
        "This ZooKeeper instance is not currently serving requests"
    );
    let zab = json(admin[survivor], "zabstate");
    assert_eq!(
        zab,
        serde_json::json!({"voting": false, "zabstate": "", "command": "zabstate", "error": null})
    );
    // Commands that need no running server still answer.
    assert_eq!(json(admin[survivor], "gtmk")["tracemask"], 306);
    assert_eq!(json(admin[survivor], "monitor")["server_state"], "follower");
}

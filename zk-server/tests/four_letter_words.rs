//! Our four-letter-word answers against the real ones of a Java 3.8.0 server (tests/data/4lw:
//! a standalone server, tickTime 2000, `4lw.commands.whitelist=*`, one kazoo session holding 2
//! data watches). Each test builds the snapshot of that server's state at the moment of the
//! capture and expects the captured bytes exactly; the version is an input, so the tests feed
//! Java's version string where the server would feed `full_version`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use zk_proto::frame::FourLetterWord;
use zk_server::admin::{
    answer, AdminSnapshot, ConfInfo, ConnectionInfo, ConnectionRef, ExpiryBucket, HostEnv,
    Percentiles, ServerMode, Summary,
};
use zk_server::metrics::{Counter, Detail, SummaryKind};

const JAVA_VERSION: &str = "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC";
const SESSION: i64 = 0x0100_007e_3c08_000a;

fn captured(name: &str) -> String {
    let path = format!("{}/tests/data/4lw/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    String::from_utf8(std::fs::read(&path).unwrap()).unwrap()
}

fn all() -> Vec<String> {
    vec!["*".to_owned()]
}

fn text(word: FourLetterWord, snapshot: &AdminSnapshot) -> String {
    String::from_utf8(answer(word, None, &all(), snapshot).bytes).unwrap()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The captured server, as the words common to all captures see it.
fn java_server() -> AdminSnapshot {
    AdminSnapshot {
        serving: true,
        version: JAVA_VERSION.to_owned(),
        mode: ServerMode::Standalone,
        // 240 ms over 94 requests: 2.5532.
        request_latency: Summary {
            count: 94,
            total: 240,
            min: 0,
            max: 26,
        },
        packets_received: 108,
        packets_sent: 121,
        alive_connections: 2,
        outstanding_requests: 0,
        last_zxid: 0x36,
        node_count: 17,
        data_dir_size: 67_109_337,
        log_dir_size: 67_109_337,
        conf: ConfInfo {
            client_port: 2201,
            secure_client_port: -1,
            data_dir: "/var/lib/zookeeper/data/version-2".into(),
            data_log_dir: "/var/lib/zookeeper/data/version-2".into(),
            tick_time_ms: 2000,
            max_client_cnxns: 60,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            client_port_listen_backlog: -1,
            server_id: 0,
            quorum: None,
        },
        data_watches: BTreeMap::from([(
            SESSION,
            BTreeSet::from(["/pr".to_owned(), "/pr-acl".to_owned()]),
        )]),
        ..AdminSnapshot::default()
    }
}

/// The kazoo session's connection: 4 packets each way, the last a getData.
fn kazoo_connection() -> ConnectionInfo {
    let mut latency = Summary::default();
    for ms in [0, 0, 1] {
        latency.add(ms);
    }
    ConnectionInfo {
        remote: addr(58794),
        interest_ops: 1,
        queued: 0,
        packets_received: 4,
        packets_sent: 4,
        session_id: SESSION,
        last_op: "GETD".to_owned(),
        established_wall_ms: 1_795_551_050_032,
        session_timeout_ms: 10000,
        last_cxid: 3,
        last_zxid: 0x36,
        last_response_monotonic_ms: 8_414_594,
        last_latency_ms: 0,
        latency,
    }
}

/// The connection asking the word: no session, one packet (the word) received.
fn asking_connection(port: u16) -> ConnectionInfo {
    ConnectionInfo {
        remote: addr(port),
        interest_ops: 0,
        queued: 0,
        packets_received: 1,
        packets_sent: 0,
        session_id: 0,
        last_op: "NA".to_owned(),
        established_wall_ms: 1_795_551_060_000,
        session_timeout_ms: 0,
        last_cxid: -1,
        last_zxid: -1,
        last_response_monotonic_ms: 0,
        last_latency_ms: 0,
        latency: Summary::default(),
    }
}

#[test]
fn srvr() {
    assert_eq!(text(FourLetterWord::Srvr, &java_server()), captured("srvr"));
}

#[test]
fn stat() {
    let snap = AdminSnapshot {
        packets_received: 109,
        packets_sent: 122,
        connections: vec![kazoo_connection(), asking_connection(58830)],
        ..java_server()
    };
    assert_eq!(text(FourLetterWord::Stat, &snap), captured("stat"));
}

#[test]
fn cons() {
    let snap = AdminSnapshot {
        connections: vec![asking_connection(58848), kazoo_connection()],
        ..java_server()
    };
    assert_eq!(text(FourLetterWord::Cons, &snap), captured("cons"));
}

#[test]
fn conf_and_dirs() {
    assert_eq!(text(FourLetterWord::Conf, &java_server()), captured("conf"));
    assert_eq!(text(FourLetterWord::Dirs, &java_server()), captured("dirs"));
}

#[test]
fn watches() {
    let snap = java_server();
    assert_eq!(text(FourLetterWord::Wchs, &snap), captured("wchs"));
    assert_eq!(text(FourLetterWord::Wchc, &snap), captured("wchc"));
    assert_eq!(text(FourLetterWord::Wchp, &snap), captured("wchp"));
}

#[test]
fn dump() {
    // Monotonic ms = wall ms - OFFSET; buckets fall on tickTime (2000 ms) boundaries.
    const OFFSET: i64 = 1_795_542_640_000;
    let at = |wall_s: i64| (wall_s * 1000 - OFFSET) as u64;
    let t0 = 1_795_551_057; // Tue Nov 24 20:10:57 UTC 2026
    let mut session_buckets: Vec<ExpiryBucket<i64>> = (0..6)
        .map(|i| ExpiryBucket {
            expires_at_monotonic_ms: at(t0 + 2 * i),
            members: if i == 2 { vec![SESSION] } else { vec![] },
        })
        .collect();
    // Given out of order: printed by time.
    session_buckets.reverse();
    let snap = AdminSnapshot {
        now_wall_ms: 1_795_551_061_234,
        now_monotonic_ms: (1_795_551_061_234 - OFFSET) as u64,
        session_buckets,
        connection_buckets: Some(vec![
            ExpiryBucket {
                expires_at_monotonic_ms: at(t0 + 8),
                members: vec![
                    ConnectionRef {
                        remote: addr(58794),
                        session_id: SESSION,
                    },
                    ConnectionRef {
                        remote: addr(58906),
                        session_id: 0,
                    },
                ],
            },
            ExpiryBucket {
                expires_at_monotonic_ms: at(t0 + 18),
                members: vec![],
            },
        ]),
        ..java_server()
    };
    assert_eq!(text(FourLetterWord::Dump, &snap), captured("dump"));

    // With ephemerals, and without connection buckets (as Java's Netty factory).
    let snap = AdminSnapshot {
        ephemerals: BTreeMap::from([(
            SESSION,
            BTreeSet::from(["/e1".to_owned(), "/e2".to_owned()]),
        )]),
        connection_buckets: None,
        ..AdminSnapshot::default()
    };
    assert_eq!(
        text(FourLetterWord::Dump, &snap),
        "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\n\
         Sessions with Ephemerals (1):\n0x100007e3c08000a:\n\t/e1\n\t/e2\nConnections dump:\n"
    );
}

#[test]
fn small_words() {
    let snap = java_server();
    assert_eq!(text(FourLetterWord::Ruok, &snap), captured("ruok"));
    assert_eq!(text(FourLetterWord::Isro, &snap), captured("isro"));
    assert_eq!(text(FourLetterWord::Gtmk, &snap), captured("gtmk"));
    assert_eq!(text(FourLetterWord::Hash, &snap), captured("hash"));
    assert_eq!(text(FourLetterWord::Crst, &snap), captured("crst"));
    assert_eq!(text(FourLetterWord::Srst, &snap), captured("srst"));
    // stmk with the mask 0x112, then gtmk.
    let stmk = answer(FourLetterWord::Stmk, Some(0x112), &all(), &snap);
    assert_eq!(String::from_utf8(stmk.bytes).unwrap(), captured("stmk"));
    let after = AdminSnapshot {
        trace_mask: 0x112,
        ..java_server()
    };
    assert_eq!(text(FourLetterWord::Gtmk, &after), captured("gtmk-after"));
}

#[test]
fn envi() {
    let capture = captured("envi");
    let lines: Vec<&str> = capture.lines().collect();
    assert_eq!(lines[0], "Environment:");
    let java_env: Vec<(String, String)> = lines[2..]
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    // Java's values in, Java's bytes out.
    let snap = AdminSnapshot {
        env: java_env.clone(),
        ..java_server()
    };
    assert_eq!(text(FourLetterWord::Envi, &snap), capture);

    // Our host description has Java's keys in Java's order.
    let ours = HostEnv {
        host_name: "localhost".into(),
        tmp_dir: "/tmp".into(),
        os_name: HostEnv::java_os_name(std::env::consts::OS),
        os_arch: HostEnv::java_os_arch(std::env::consts::ARCH),
        os_version: "6.1".into(),
        user_name: "zk".into(),
        user_home: "/home/zk".into(),
        user_dir: "/".into(),
        memory_mb: None,
    }
    .entries();
    let keys = |env: &[(String, String)]| env.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&java_env));
    let snap = AdminSnapshot {
        env: ours,
        version: zk_server::admin::full_version("2025-01-01 00:00 UTC"),
        ..java_server()
    };
    let envi = text(FourLetterWord::Envi, &snap);
    assert!(envi.starts_with(&format!(
        "Environment:\nzookeeper.version=3.9.3-zk-rs-{}, built on 2025-01-01 00:00 UTC\nhost.name=localhost\n",
        env!("CARGO_PKG_VERSION")
    )));
    assert_eq!(envi.lines().count(), lines.len());
}

#[test]
fn mntr() {
    let capture = captured("mntr");
    let java: BTreeMap<&str, &str> = capture
        .lines()
        .map(|l| l.split_once('\t').unwrap())
        .collect();
    let int = |key: &str| -> i64 { java[format!("zk_{key}").as_str()].parse().unwrap() };

    let mut snap = AdminSnapshot {
        packets_received: 110,
        packets_sent: 123,
        ephemerals_count: 0,
        watch_count: 3,
        approximate_data_size: 184,
        global_sessions: 1,
        local_sessions: 0,
        uptime_ms: 144_752,
        open_file_descriptors: 44,
        max_file_descriptors: 20000,
        connection_drop_probability: 0.0,
        ..java_server()
    };
    snap.client_response_sizes.add(16);
    snap.client_response_sizes.add(163);
    snap.client_response_sizes.add(91);
    // Every counter and summary of the registry that Java 3.8 printed, with Java's values.
    let in_java = |key: String| java.contains_key(format!("zk_{key}").as_str());
    for c in Counter::ALL.iter().filter(|c| in_java(c.name().to_owned())) {
        snap.counters.insert(c.name().to_string(), int(c.name()));
    }
    for kind in SummaryKind::ALL
        .iter()
        .filter(|k| in_java(format!("cnt_{}", k.name())))
    {
        let name = kind.name();
        let count = int(&format!("cnt_{name}"));
        snap.summaries.insert(
            name.to_string(),
            Summary {
                count: count as u64,
                total: int(&format!("sum_{name}")),
                min: int(&format!("min_{name}")),
                max: int(&format!("max_{name}")),
            },
        );
        if kind.detail() == Detail::Advanced {
            snap.percentiles.insert(
                name.to_string(),
                Percentiles {
                    p50: int(&format!("p50_{name}")),
                    p95: int(&format!("p95_{name}")),
                    p99: int(&format!("p99_{name}")),
                    p999: int(&format!("p999_{name}")),
                },
            );
        }
    }

    let ours = text(FourLetterWord::Mntr, &snap);
    let our_keys: BTreeSet<&str> = ours
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    // Java's lines for the keys we print, in Java's order: byte for byte ours.
    let expected: String = capture
        .lines()
        .filter(|l| our_keys.contains(l.split('\t').next().unwrap()))
        .map(|l| format!("{l}\n"))
        .collect();
    let ours_in_java: String = ours
        .lines()
        .filter(|l| java.contains_key(l.split('\t').next().unwrap()))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(ours_in_java, expected);
    // Java's lines we do not print: the per-namespace summary sets only.
    let missing: Vec<&str> = capture
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .filter(|k| !our_keys.contains(k))
        .collect();
    assert!(
        missing.iter().all(|k| k.ends_with("_per_namespace")),
        "{missing:?}"
    );
    // Ours that Java 3.8 does not print: 3.9's additions only.
    let added: Vec<&str> = our_keys
        .iter()
        .copied()
        .filter(|k| !java.contains_key(k))
        .collect();
    assert!(
        added
            .iter()
            .all(|k| k.contains("restore") || k.contains("snapshot_")),
        "{added:?}"
    );
    for key in [
        "zk_version",
        "zk_server_state",
        "zk_ephemerals_count",
        "zk_num_alive_connections",
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_outstanding_requests",
        "zk_znode_count",
        "zk_watch_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
        "zk_uptime",
        "zk_global_sessions",
        "zk_avg_fsynctime",
        "zk_p99_readlatency",
    ] {
        assert!(our_keys.contains(key), "{key}");
    }

    // Counters and summaries the lists do not name follow Java's, sorted.
    snap.counters.insert("zz_extra".into(), 7);
    snap.summaries.insert("zz_time".into(), Summary::default());
    let ours = text(FourLetterWord::Mntr, &snap);
    assert!(ours
        .contains("zk_restore_rate_limited_count\t0\nzk_zz_extra\t7\nzk_avg_socket_closing_time"));
    assert!(ours.ends_with(
        "zk_sum_restore_time\t0\nzk_avg_zz_time\t0.0\nzk_min_zz_time\t0\n\
         zk_max_zz_time\t0\nzk_cnt_zz_time\t0\nzk_sum_zz_time\t0\n"
    ));
}

//! The AdminServer over real HTTP: every Java 3.9 command and alias answers JSON with the keys
//! a Java 3.8 server answered (captured in `tests/data/admin-java-3.8`), in Java's order; the
//! index; unknown commands; `snapshot` with and without the right identity, its rate limit
//! and its switch; `admin.auth.required`; `/ready`; and bad HTTP (huge, malformed, slow)
//! that leaves the AdminServer and the client port serving.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod common;

use common::http::{request, request_as, Answer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::CreateOptions;
use zk_proto::data::{Acl, Id};

type Server = common::server::HttpServer;

async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[], b"").await
}

/// The keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

fn java_body(command: &str) -> Value {
    let path = format!(
        "{}/tests/data/admin-java-3.8/{command}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The commands whose keys match Java's exactly (in order, nested objects too); the rest are
/// checked by their own tests below.
const SAME_KEYS_AS_JAVA: &[&str] = &[
    "configuration",
    "connection_stat_reset",
    "connections",
    "dirs",
    "dump",
    "get_trace_mask",
    "hash",
    "initial_configuration",
    "is_read_only",
    "last_snapshot",
    "leader",
    "observer_connection_stat_reset",
    "observers",
    "ruok",
    "server_stats",
    "stat_reset",
    "stats",
    "voting_view",
    "watch_summary",
    "watches",
    "watches_by_path",
    "zabstate",
];

/// Every key path (`a.b`, arrays' first element as `a[]`) of a JSON value, in order.
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                // Map keys that are data (session ids, paths, times) are not compared.
                let k = if k.parse::<i64>().is_ok() || k.starts_with('/') {
                    "<key>"
                } else {
                    k
                };
                let p = format!("{prefix}{k}");
                out.push(p.clone());
                key_paths(v, &format!("{p}."), out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                key_paths(first, &format!("{prefix}[]."), out);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answers_javas_keys_in_javas_order() {
    let server = Server::start("").await;
    let admin = server.admin();
    // What the Java capture had: an ephemeral, a data watch that fired, a child watch.
    let zk = server.client().await;
    zk.create("/app", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.create("/app/a", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.create("/app/eph", b"x", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, _, _w) = zk.get_data_watch("/app/a").await.unwrap();
    zk.set_data("/app/a", b"{\"k\": 1}", None).await.unwrap();

    for command in SAME_KEYS_AS_JAVA {
        let ours = get(admin, &format!("/commands/{command}")).await;
        assert_eq!(ours.status, 200, "{command}: {}", ours.text());
        assert_eq!(
            ours.header("content-type"),
            Some("application/json"),
            "{command}"
        );
        let (ours, java) = (ours.json(), java_body(command));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        key_paths(&ours, "", &mut a);
        key_paths(&java, "", &mut b);
        // Java's capture had no connection listed for `watches` with paths, nor a bucket
        // with members in every case: compare the keys both have at the top level, and all
        // of them where both lists are non-empty.
        assert_eq!(keys(&ours), keys(&java), "{command}: {ours:#}");
        if ours["connections"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            assert_eq!(a, b, "{command}: {ours:#}");
        }
        assert_eq!(ours["command"], Value::from(*command), "{command}");
    }
    // Standalone: `leader` has Java's error before `command`, `zabstate` two fields.
    let leader = get(admin, "/commands/leader").await.json();
    assert_eq!(leader["error"], "server is not initialized");
    let zab = get(admin, "/commands/zabstate").await.json();
    assert_eq!(
        (zab["voting"].clone(), zab["zabstate"].clone()),
        (Value::Bool(false), Value::from(""))
    );
    // The values are the server's own.
    let stats = get(admin, "/commands/srvr").await.json();
    assert_eq!(stats["command"], "server_stats");
    assert_eq!(stats["server_stats"]["server_state"], "standalone");
    assert!(stats["node_count"].as_u64().unwrap() >= 7, "{stats:#}");
    assert!(stats["version"]
        .as_str()
        .unwrap()
        .starts_with("3.9.3-zk-rs-"));
    let dump = get(admin, "/commands/dump").await.json();
    let sid = zk.session().session_id.to_string();
    assert_eq!(
        dump["session_id_to_ephemeral_paths"][&sid],
        serde_json::json!(["/app/eph"])
    );
    let cons = get(admin, "/commands/cons").await.json();
    assert_eq!(
        cons["connections"][0]["session_id"].as_i64(),
        Some(zk.session().session_id)
    );
    let dirs = get(admin, "/commands/dirs").await.json();
    assert!(
        dirs["logdir_size"].as_u64().unwrap() > 0,
        "the log file: {dirs:#}"
    );
    let conf = get(admin, "/commands/conf").await.json();
    assert_eq!(
        conf["client_port"].as_u64(),
        Some(u64::from(server.client_addr().port()))
    );
    let icfg = get(admin, "/commands/icfg").await.json();
    assert!(icfg["initial_configuration"]
        .as_str()
        .unwrap()
        .contains("admin.serverPort=0"));
    // Java's approximate data size of the same tree (paths and data, in bytes).
    let monitor = get(admin, "/commands/monitor").await.json();
    assert_eq!(
        monitor["approximate_data_size"],
        java_body("monitor")["approximate_data_size"]
    );
    let lsnp = get(admin, "/commands/lsnp").await.json();
    assert_ne!(
        lsnp["zxid"], "ffffffffffffffff",
        "the startup snapshot: {lsnp:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_is_mntr_in_json() {
    let server = Server::start("").await;
    let zk = server.client().await;
    for i in 0..5 {
        zk.create(&format!("/m{i}"), b"", &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let monitor = get(server.admin(), "/commands/monitor").await.json();
    let ours = keys(&monitor);
    let java = keys(&java_body("monitor"));
    // Java 3.8 prints about 500 metrics: we print them all, in Java's order, but its
    // per-namespace summary sets; and 3.9's additions.
    let missing: Vec<_> = java.iter().filter(|k| !ours.contains(k)).collect();
    assert!(
        missing.iter().all(|k| k.ends_with("_per_namespace")),
        "{missing:?}"
    );
    let mut last = 0;
    for key in &ours {
        let Some(at) = java.iter().position(|k| k == key) else {
            // 3.9's additions; per-namespace entries for this test's namespaces.
            assert!(
                key.contains("restore")
                    || key.starts_with("snapshot_")
                    || key.ends_with("_per_namespace"),
                "{key} is not Java's"
            );
            continue;
        };
        assert!(
            at >= last || key == "command" || key == "error",
            "{key} out of Java's order"
        );
        last = at;
    }
    for key in [
        "version",
        "server_state",
        "znode_count",
        "avg_latency",
        "commit_count",
        "avg_fsynctime",
        "p99_readlatency",
    ] {
        assert!(ours.iter().any(|k| k == key), "{key} missing");
    }
    assert!(monitor["znode_count"].as_u64().unwrap() >= 9, "{monitor:#}");
    assert!(monitor["avg_latency"].is_f64());
    assert_eq!(monitor["command"], "monitor");
    // The four-letter word says the same.
    let mut s = TcpStream::connect(server.client_addr()).await.unwrap();
    s.write_all(b"mntr").await.unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    assert!(
        text.contains(&format!("zk_znode_count\t{}", monitor["znode_count"])),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_index_unknown_commands_and_arguments() {
    let server = Server::start("").await;
    let admin = server.admin();
    for (alias, primary) in [
        ("conf", "configuration"),
        ("config", "configuration"),
        ("cons", "connections"),
        ("env", "environment"),
        ("envi", "environment"),
        ("gtmk", "get_trace_mask"),
        ("icfg", "initial_configuration"),
        ("isro", "is_read_only"),
        ("lsnp", "last_snapshot"),
        ("lead", "leader"),
        ("mntr", "monitor"),
        ("obsr", "observers"),
        ("srvr", "server_stats"),
        ("stat", "stats"),
        ("sysp", "system_properties"),
        ("wchc", "watches"),
        ("wchp", "watches_by_path"),
        ("wchs", "watch_summary"),
        ("crst", "connection_stat_reset"),
        ("orst", "observer_connection_stat_reset"),
        ("srst", "stat_reset"),
    ] {
        let a = get(admin, &format!("/commands/{alias}")).await;
        assert_eq!(a.status, 200, "{alias}");
        assert_eq!(a.json()["command"], primary, "{alias}");
    }
    let unknown = get(admin, "/commands/nope").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.text(), java_body_text("unknown"));

    // The index: Java's bytes, one link per primary name.
    let index = get(admin, "/commands").await;
    assert_eq!(index.status, 200);
    let expected = java_body_text_ext("index", "html");
    let ours = index.text();
    for line in expected.lines() {
        assert!(ours.contains(line), "{line} missing from {ours}");
    }
    for name in ["restore", "snapshot"] {
        assert!(
            ours.contains(&format!("<a href=\"/commands/{name}\">{name}</a>")),
            "{name} (3.9)"
        );
    }
    assert_eq!(ours.matches("<a href").count(), 28);
    assert_eq!(get(admin, "/commands/").await.text(), ours);

    // set_trace_mask: Java's errors and the new mask, read back by get_trace_mask and gtmk.
    assert_eq!(
        get(admin, "/commands/stmk").await.text(),
        java_body_text("set_trace_mask")
    );
    assert_eq!(
        get(admin, "/commands/stmk?traceMask=x").await.text(),
        java_body_text("stmk_bad")
    );
    assert_eq!(
        get(admin, "/commands/stmk?traceMask=306").await.text(),
        java_body_text("stmk_arg")
    );
    let set = get(admin, "/commands/set_trace_mask?traceMask=42")
        .await
        .json();
    assert_eq!(set["tracemask"], 42);
    assert_eq!(get(admin, "/commands/gtmk").await.json()["tracemask"], 42);
    // ruok: exactly Java's bytes.
    assert_eq!(
        get(admin, "/commands/ruok").await.text(),
        java_body_text("ruok")
    );
    // The environment and the system properties.
    let env = get(admin, "/commands/environment").await.json();
    assert!(env["zookeeper.version"]
        .as_str()
        .unwrap()
        .starts_with("3.9.3-"));
    assert_eq!(env["os.name"], "Linux");
    let sysp = get(admin, "/commands/sysp").await.json();
    assert_eq!(sysp["zookeeper.4lw.commands.whitelist"], "*");
    let names = keys(&sysp);
    let data: Vec<_> = names
        .iter()
        .filter(|k| *k != "command" && *k != "error")
        .cloned()
        .collect();
    let mut sorted = data.clone();
    sorted.sort();
    assert_eq!(data, sorted, "sorted, as Java's TreeMap");
    // Methods: TRACE is refused; POST to a GET command is not run.
    assert_eq!(
        request(admin, "TRACE", "/commands/ruok", &[], b"")
            .await
            .status,
        403
    );
    assert_eq!(
        request(admin, "POST", "/commands/ruok", &[], b"x")
            .await
            .status,
        405
    );
}

fn java_body_text(name: &str) -> String {
    java_body_text_ext(name, "json")
}

fn java_body_text_ext(name: &str, ext: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/admin-java-3.8/{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_needs_all_on_root_and_is_rate_limited() {
    let server = Server::start("admin.rateLimiterIntervalInMS=1500\n").await;
    let admin = server.admin();
    let zk = server.client().await;
    for i in 0..20 {
        zk.create(
            &format!("/s{i}"),
            format!("v{i}").as_bytes(),
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    }
    let root = Id::new("digest", zk_server::acl::digest_id("root:pw"));
    zk.set_acl("/", vec![Acl::new(zk_proto::perms::ALL, root)], None)
        .await
        .unwrap();

    let missing = get(admin, "/commands/snapshot").await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json()["error"],
        "Auth info is missing for the command"
    );
    let bad_scheme = request_as(admin, "GET", "/commands/snap", "kerberos x").await;
    assert_eq!(bad_scheme.status, 401);
    assert_eq!(bad_scheme.json()["error"], "Not authenticated");
    assert_eq!(
        bad_scheme.json()["command"],
        "snap",
        "Java reports the name as asked"
    );
    let wrong = request_as(admin, "GET", "/commands/snapshot", "digest root:nope").await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.json()["error"], "Not authorized");
    let ip = request_as(admin, "GET", "/commands/snapshot", "ip").await;
    assert_eq!(ip.status, 403, "127.0.0.1 is not in the ACL");

    let ok = request_as(admin, "GET", "/commands/snapshot", "digest root:pw").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("content-type"), Some("application/octet-stream"));
    let size: usize = ok.header("snapshot_size").unwrap().parse().unwrap();
    assert_eq!(ok.body.len(), size);
    let last_zxid = ok.header("last_zxid").unwrap();
    assert!(last_zxid.starts_with("0x"), "{last_zxid}");
    // The bytes are the snapshot file written in the data directory, which recovery reads.
    let zxid = i64::from_str_radix(&last_zxid[2..], 16).unwrap();
    let listed =
        zk_server::storage::snapshot::list_snapshots(&server.data_dir().join("version-2")).unwrap();
    let (path, _, _) = listed
        .iter()
        .find(|(_, z, _)| *z == zxid)
        .expect("the file");
    assert_eq!(std::fs::read(path).unwrap(), ok.body);

    // A second run within the interval is refused, then allowed again.
    let limited = request_as(admin, "GET", "/commands/snapshot", "digest root:pw").await;
    assert_eq!(limited.status, 429);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let headers_only = request_as(
        admin,
        "GET",
        "/commands/snapshot?streaming=false",
        "digest root:pw",
    )
    .await;
    assert_eq!(headers_only.status, 200);
    assert_eq!(headers_only.json()["command"], "snapshot");
    assert!(headers_only.header("snapshot_size").is_some());

    // restore: guarded the same way; a body that is no snapshot is Java's 500.
    assert_eq!(
        request(admin, "POST", "/commands/restore", &[], b"x")
            .await
            .status,
        401
    );
    let rest = request_as(admin, "POST", "/commands/restore", "digest root:pw").await;
    assert_eq!(rest.status, 500, "{}", rest.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_and_required_auth() {
    let server = Server::start(
        "admin.snapshot.enabled=false\nadmin.restore.enabled=false\nadmin.auth.required=true\n\
         admin.commandURL=/zk\n",
    )
    .await;
    let admin = server.admin();
    let auth = [("Authorization", "digest any:one")];
    assert_eq!(
        request(admin, "GET", "/zk/snapshot", &auth, b"")
            .await
            .status,
        503
    );
    assert_eq!(
        request(admin, "POST", "/zk/restore", &auth, b"x")
            .await
            .status,
        503
    );
    // Every command wants an identity now; with the open ACL of `/`, any will do.
    let bare = get(admin, "/zk/cons").await;
    assert_eq!(bare.status, 401);
    assert_eq!(
        request(admin, "GET", "/zk/cons", &auth, b"").await.status,
        200
    );
    assert_eq!(
        get(admin, "/commands/ruok").await.status,
        404,
        "commandURL moved"
    );
    // /ready needs no identity: probes cannot send one.
    let ready = get(admin, "/ready").await;
    assert_eq!(
        (ready.status, ready.text()),
        (200, "ready: standalone\n".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_leaves_both_ports_serving() {
    let server = Server::start("admin.idleTimeout=500\n").await;
    let admin = server.admin();
    // A slow client that never finishes its head is cut off after admin.idleTimeout.
    let mut slow = TcpStream::connect(admin).await.unwrap();
    slow.write_all(b"GET /commands/ruok HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "still open after 10 s");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // Many slow clients at once: others are still served meanwhile.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(admin).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        idle.push(s);
    }
    assert_eq!(get(admin, "/commands/ruok").await.status, 200);
    // A head larger than the limit, garbage, a bad percent-encoding, a NUL.
    let huge = "x".repeat(200_000);
    let mut s = TcpStream::connect(admin).await.unwrap();
    let _ = s
        .write_all(format!("GET /commands/ruok HTTP/1.1\r\nX-Big: {huge}\r\n\r\n").as_bytes())
        .await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await;
    let answer = String::from_utf8_lossy(&raw);
    assert!(
        raw.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let mut s = TcpStream::connect(admin).await.unwrap();
    s.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await;
    assert!(
        raw.is_empty() || raw.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    let bad_escape = get(admin, "/commands/set_trace_mask?traceMask=%zz").await;
    assert_eq!(bad_escape.status, 200);
    assert_eq!(
        bad_escape.json()["error"],
        "setTraceMask requires long traceMask argument, got %zz"
    );
    assert_eq!(
        get(admin, "/commands/%00").await.json()["error"],
        "Unknown command: \u{0}"
    );
    assert_eq!(get(admin, "/commands/../etc/passwd").await.status, 404);
    // Both ports still serve.
    assert_eq!(get(admin, "/commands/ruok").await.status, 200);
    let zk = server.client().await;
    zk.create("/still", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_and_port_taken() {
    let off = Server::start("admin.enableServer=false\n").await;
    assert!(off.running().admin_addr().is_none());
    // A port already taken: the server serves clients without its AdminServer.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // (The later zoo.cfg line wins, as in Java's Properties.)
    let server = Server::start(&format!("admin.serverPort={port}\n")).await;
    assert!(server.running().admin_addr().is_none());
    let zk = server.client().await;
    zk.create("/served", b"", &CreateOptions::persistent())
        .await
        .unwrap();
}

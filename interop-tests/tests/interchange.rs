//! Data directories move between the real Java ZooKeeper 3.8 server and ours (the zk-server
//! binary, run as a process by [`RustZkServerProcess`]).
//!
//! Every comparison walks the whole tree from `/` with zk-client (authenticated as
//! `digest alice:secret`, so digest-protected nodes can be read) and compares, for every path:
//! the data, every `Stat` field (czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
//! ephemeralOwner, dataLength, numChildren) and the ACL. Nothing is skipped: both servers run
//! standalone without reconfig, so `/zookeeper/config` is the same empty node on both.
//!
//! - `our_server_serves_the_java_fixture_like_java`: both servers start on copies of the real
//!   Java 3.8 data directory `zk-proto/tests/data/fixtures/java-3.8.0-datadir`; the walks must
//!   be equal, every node listing its children in the same order, and match rows of its
//!   MANIFEST.md. The fixture has an open session (40 s) owning
//!   two ephemerals; both servers expire it 40 s after they load it, so the walks are taken
//!   right after the starts (well within that window, asserted).
//! - `data_dirs_round_trip_between_our_server_and_java`: ours writes a varied tree
//!   (`snapshot.compression.method=none`), Java starts on those files and must serve the same
//!   tree; Java writes more, ours restarts on Java's files and must serve Java's tree.
//! - `java_tools_read_our_files`: `SnapshotFormatter` and `TxnLogToolkit -d` exit 0 on our
//!   files and list our paths.
//! - `lz4_snapshots_must_be_converted_for_java`: with our default (lz4) snapshots Java refuses
//!   the directory; after conversion to the uncompressed format it serves our tree.

use bytes::Bytes;
use interop_tests::{JavaEnv, JavaZkServer, RunningProgram, RustZkServerProcess};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zk_client::{Client, CreateOptions, Op};
use zk_proto::data::{Acl, Id, Stat};
use zk_proto::{perms, CreateMode};

/// Bound on one client operation.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one run of a Java tool.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// The digest identity every walk authenticates with (the fixture's, too).
const AUTH: &[u8] = b"alice:secret";
/// `base64(sha1("alice:secret"))`, the digest ACL id of `alice:secret`.
const ALICE: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";
/// Session timeout of the session left open when a server is stopped (Java's maximum with
/// tickTime 2000): its ephemerals must outlive the whole test.
const LONG_SESSION: Duration = Duration::from_secs(40);
/// The open session in the fixture, and its timeout.
const FIXTURE_SESSION: i64 = 0x10000816e3b0002;
const FIXTURE_SESSION_TIMEOUT: Duration = Duration::from_secs(40);

/// zoo.cfg lines both servers share in these tests.
const COMMON_CFG: &[&str] = &[
    "extendedTypesEnabled=true",
    "snapCount=10",
    "preAllocSize=16",
];

// ---------------------------------------------------------------------------------------------
// Trees

/// One node as a client sees it.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    data: Bytes,
    stat: Stat,
    acl: Vec<Acl>,
    /// The children as getChildren lists them.
    children: Vec<String>,
}

type Tree = BTreeMap<String, Node>;

async fn timed<T>(what: &str, fut: impl std::future::Future<Output = zk_client::Result<T>>) -> T {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what}: no answer within {OP_TIMEOUT:?}"),
    }
}

async fn connect(connect_string: &str, session_timeout: Duration) -> Client {
    timed(
        &format!("connecting to {connect_string}"),
        Client::builder(connect_string)
            .session_timeout(session_timeout)
            .connect_timeout(Duration::from_secs(10))
            .auth("digest", AUTH.to_vec())
            .connect(),
    )
    .await
}

async fn close(client: Client) {
    let _ = tokio::time::timeout(OP_TIMEOUT, client.close()).await;
}

/// Every node under `/` (including `/`), with data, Stat and ACL.
async fn walk(connect_string: &str) -> Tree {
    let client = connect(connect_string, Duration::from_secs(30)).await;
    let mut tree = Tree::new();
    let mut pending = vec!["/".to_owned()];
    while let Some(path) = pending.pop() {
        let (data, stat) = timed(&format!("getData {path}"), client.get_data(&path)).await;
        let (acl, _) = timed(&format!("getACL {path}"), client.get_acl(&path)).await;
        let children = timed(&format!("getChildren {path}"), client.get_children(&path)).await;
        for child in &children {
            pending.push(if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            });
        }
        tree.insert(
            path,
            Node {
                data,
                stat,
                acl,
                children,
            },
        );
    }
    close(client).await;
    tree
}

fn show_data(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) if data.len() <= 64 => format!("{text:?}"),
        _ => format!(
            "{} bytes {:02x?}...",
            data.len(),
            &data[..data.len().min(16)]
        ),
    }
}

/// Every difference between two walks, one line each, naming the node and the field.
fn tree_diff(a_name: &str, a: &Tree, b_name: &str, b: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let (x, y) = match (a.get(path), b.get(path)) {
            (Some(x), Some(y)) => (x, y),
            (Some(_), None) => {
                out.push(format!("{path}: only on {a_name}"));
                continue;
            }
            (None, _) => {
                out.push(format!("{path}: only on {b_name}"));
                continue;
            }
        };
        if x.data != y.data {
            out.push(format!(
                "{path}: data {a_name}={} {b_name}={}",
                show_data(&x.data),
                show_data(&y.data)
            ));
        }
        macro_rules! fields {
            ($($field:ident),*) => {$(
                if x.stat.$field != y.stat.$field {
                    out.push(format!(
                        "{path}: {} {a_name}={:#x} {b_name}={:#x}",
                        stringify!($field),
                        x.stat.$field,
                        y.stat.$field
                    ));
                }
            )*};
        }
        fields!(
            czxid,
            mzxid,
            pzxid,
            ctime,
            mtime,
            version,
            cversion,
            aversion,
            ephemeral_owner,
            data_length,
            num_children
        );
        if x.acl != y.acl {
            out.push(format!(
                "{path}: ACL {a_name}={:?} {b_name}={:?}",
                x.acl, y.acl
            ));
        }
    }
    out
}

/// Every node lists its children in the same order on both (Java's HashSet order). Only for
/// servers that loaded the same files: a restart may reorder them, as Java's does.
fn assert_same_child_order(a_name: &str, a: &Tree, b_name: &str, b: &Tree) {
    let diff: Vec<String> = a
        .iter()
        .filter_map(|(path, x)| {
            let y = &b.get(path)?.children;
            (x.children != *y).then(|| format!("{path}: {a_name} {:?}, {b_name} {y:?}", x.children))
        })
        .collect();
    assert!(
        diff.is_empty(),
        "children listed in another order:\n  {}",
        diff.join("\n  ")
    );
}

fn assert_same_tree(context: &str, a_name: &str, a: &Tree, b_name: &str, b: &Tree) {
    let diff = tree_diff(a_name, a, b_name, b);
    assert!(
        diff.is_empty(),
        "{context}: the trees differ in {} place(s) ({} nodes on {a_name}, {} on {b_name}):\n  {}",
        diff.len(),
        a.len(),
        b.len(),
        diff.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Files and servers

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zk-proto/tests/data/fixtures/java-3.8.0-datadir")
}

/// Copies the files of `from` into `to` (created), recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap_or_else(|e| {
                panic!(
                    "copying {} to {}: {e}",
                    entry.path().display(),
                    target.display()
                )
            });
        }
    }
}

/// Replaces `data_dir/version-2` with a copy of `from_data_dir/version-2`.
fn replace_version2(from_data_dir: &Path, data_dir: &Path) {
    let target = data_dir.join("version-2");
    if target.exists() {
        fs::remove_dir_all(&target).unwrap();
    }
    copy_dir(&from_data_dir.join("version-2"), &target);
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `prefix.<hex>[.ext]` files in `dir`, ordered by zxid.
fn data_files(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut files: Vec<(i64, PathBuf)> = file_names(dir)
        .into_iter()
        .filter_map(|name| {
            let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
            let hex = rest.split('.').next()?;
            Some((i64::from_str_radix(hex, 16).ok()?, dir.join(&name)))
        })
        .collect();
    files.sort();
    files
}

fn java_builder() -> interop_tests::JavaZkServerBuilder {
    COMMON_CFG
        .iter()
        .fold(JavaZkServer::builder(), |b, line| b.cfg(*line))
}

/// A Java server serving the files of `data_dir/version-2` (copied): it is started once on its
/// own empty directory (the harness owns that), stopped, given the files, and restarted.
fn java_on_copy_of(data_dir: &Path) -> interop_tests::Result<JavaZkServer> {
    let mut java = java_builder().start()?;
    java.stop()?;
    replace_version2(data_dir, &java.data_dir());
    java.restart()?;
    Ok(java)
}

fn start_ours(dir: &Path, extra: &[&str]) -> RustZkServerProcess {
    let mut lines: Vec<&str> = COMMON_CFG.to_vec();
    lines.extend_from_slice(extra);
    RustZkServerProcess::start_standalone(dir, &dir.join("data"), &lines)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

/// Runs a Java main class from the server classpath; returns (exit ok, stdout, stderr).
fn run_java_tool(main_class: &str, args: &[&Path]) -> (std::process::ExitStatus, String, String) {
    let env = JavaEnv::get().unwrap_or_else(|e| panic!("{e}"));
    let dir = temp_dir("zk-rs-java-tool-");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(&env.java)
        .args([
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-XX:-UsePerfData",
        ])
        .arg("-cp")
        .arg(&env.server_classpath)
        .arg(main_class)
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", env.java.display()));
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{main_class} {args:?} did not finish within {TOOL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    (status, read(&out_path), read(&err_path))
}

// ---------------------------------------------------------------------------------------------
// Writing a varied tree

fn digest_alice(perms: i32) -> Acl {
    Acl::new(perms, Id::new("digest", ALICE))
}

/// Paths [`populate`] leaves in the tree (besides sequential names), for the tool checks.
const POPULATED_PATHS: &[&str] = &[
    "/app/a/b/c",
    "/app/bin",
    "/app/empty",
    "/app/unicode-ü",
    "/secure",
    "/mine",
    "/mixed",
    "/readonly",
    "/locks",
    "/ttl",
    "/multi-made",
    "/bulk/k05",
];

/// Writes a tree with many txn kinds through `connect_string`: nested creates, binary, empty
/// and UTF-8 data, sequential nodes, digest / `auth` / mixed / read-only ACLs, setACL, a
/// container, a TTL node, setData, deletes, a failed create (error txn), a successful and a
/// failed multi, a session that closes with an ephemeral (closeSession with paths), and
/// returns a session left open (timeout [`LONG_SESSION`]) that owns an ephemeral and an
/// ephemeral-sequential node.
async fn populate(connect_string: &str) -> Client {
    let c = connect(connect_string, Duration::from_secs(30)).await;
    let open = CreateOptions::persistent();
    let create = |path: &'static str, data: &'static [u8], opts: CreateOptions| {
        let fut = c.create(path, data, &opts);
        async move { timed(&format!("create {path}"), fut).await }
    };
    create("/app", b"root", open.clone()).await;
    create("/app/a", b"a", open.clone()).await;
    create("/app/a/b", b"", open.clone()).await;
    create("/app/a/b/c", b"deep", open.clone()).await;
    let binary: Vec<u8> = (0..=255u8).collect();
    timed("create /app/bin", c.create("/app/bin", &binary, &open)).await;
    create("/app/empty", b"", open.clone()).await;
    create("/app/unicode-ü", "héllo ✓".as_bytes(), open.clone()).await;
    for data in [&b"s0"[..], b"s1", b"s2"] {
        timed(
            "create /app/seq-",
            c.create(
                "/app/seq-",
                data,
                &CreateOptions::new(CreateMode::PersistentSequential),
            ),
        )
        .await;
    }
    create(
        "/secure",
        b"top-secret",
        open.clone().with_acl(vec![digest_alice(perms::ALL)]),
    )
    .await;
    create(
        "/mine",
        b"creator",
        open.clone().with_acl(Acl::creator_all()),
    )
    .await;
    create(
        "/mixed",
        b"mixed",
        open.clone().with_acl(vec![
            digest_alice(perms::READ | perms::WRITE | perms::ADMIN),
            Acl::new(perms::READ, Id::anyone()),
        ]),
    )
    .await;
    create("/readonly", b"ro", open.clone()).await;
    timed(
        "setACL /readonly",
        c.set_acl("/readonly", Acl::read_unsafe(), Some(0)),
    )
    .await;
    create("/locks", b"", CreateOptions::new(CreateMode::Container)).await;
    timed(
        "create /locks/p-",
        c.create(
            "/locks/p-",
            b"p",
            &CreateOptions::new(CreateMode::PersistentSequential),
        ),
    )
    .await;
    create(
        "/ttl",
        b"ttl-node",
        CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(86_400_000),
    )
    .await;
    for (i, data) in [&b"a1"[..], b"a2", b"a3"].into_iter().enumerate() {
        timed("setData /app/a", c.set_data("/app/a", data, Some(i as i32))).await;
    }
    timed("setData /app", c.set_data("/app", b"root-v2", None)).await;
    create("/tmp1", b"gone", open.clone()).await;
    timed("delete /tmp1", c.delete("/tmp1", Some(0))).await;
    // A failed create still takes a zxid (an error txn).
    let failed = tokio::time::timeout(OP_TIMEOUT, c.create("/app", b"again", &open))
        .await
        .expect("create /app again: no answer");
    assert!(
        matches!(&failed, Err(e) if *e == zk_client::ErrorKind::NodeExists),
        "{failed:?}"
    );
    create("/gone", b"x", open.clone()).await;
    timed(
        "multi",
        c.multi(vec![
            Op::Create {
                path: "/multi-made".into(),
                data: b"m".to_vec().into(),
                options: open.clone(),
            },
            Op::SetData {
                path: "/app/empty".into(),
                data: Vec::new().into(),
                version: Some(0),
            },
            Op::Delete {
                path: "/gone".into(),
                version: None,
            },
            Op::Check {
                path: "/app".into(),
                version: 1,
            },
        ]),
    )
    .await;
    let failed_multi = tokio::time::timeout(
        OP_TIMEOUT,
        c.multi(vec![
            Op::Create {
                path: "/never".into(),
                data: b"n".to_vec().into(),
                options: open.clone(),
            },
            Op::Check {
                path: "/app".into(),
                version: 99,
            },
        ]),
    )
    .await
    .expect("failed multi: no answer");
    assert!(failed_multi.is_err(), "{failed_multi:?}");
    create("/bulk", b"", open.clone()).await;
    for i in 0..12 {
        let path = format!("/bulk/k{i:02}");
        timed(
            &format!("create {path}"),
            c.create(&path, format!("v{i}").as_bytes(), &open),
        )
        .await;
    }
    for i in (0..12).step_by(3) {
        let path = format!("/bulk/k{i:02}");
        timed(&format!("delete {path}"), c.delete(&path, None)).await;
    }
    for i in (1..12).step_by(3) {
        let path = format!("/bulk/k{i:02}");
        timed(&format!("setData {path}"), c.set_data(&path, b"w", None)).await;
    }
    close(c).await;

    // A session that ends with an ephemeral: closeSession deletes it.
    let short = connect(connect_string, Duration::from_secs(10)).await;
    timed(
        "create /app/eph-closed",
        short.create("/app/eph-closed", b"bye", &CreateOptions::ephemeral()),
    )
    .await;
    close(short).await;

    // A session left open, owning ephemerals.
    let live = connect(connect_string, LONG_SESSION).await;
    timed(
        "create /app/eph-live",
        live.create("/app/eph-live", b"live", &CreateOptions::ephemeral()),
    )
    .await;
    timed(
        "create /locks/lock-",
        live.create(
            "/locks/lock-",
            b"",
            &CreateOptions::new(CreateMode::EphemeralSequential),
        ),
    )
    .await;
    live
}

/// More writes, of the kinds Java makes, for the trip back to our server.
async fn java_writes_more(connect_string: &str) {
    let c = connect(connect_string, Duration::from_secs(30)).await;
    let open = CreateOptions::persistent();
    timed("create /java", c.create("/java", b"from java", &open)).await;
    timed("create /java/x", c.create("/java/x", &[0, 255, 7], &open)).await;
    timed(
        "create /java/seq-",
        c.create(
            "/java/seq-",
            b"q",
            &CreateOptions::new(CreateMode::PersistentSequential),
        ),
    )
    .await;
    timed(
        "create /java/ttl",
        c.create(
            "/java/ttl",
            b"t",
            &CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(3_600_000),
        ),
    )
    .await;
    timed(
        "create /java/box",
        c.create("/java/box", b"", &CreateOptions::new(CreateMode::Container)),
    )
    .await;
    timed(
        "create /java/box/item",
        c.create("/java/box/item", b"i", &open),
    )
    .await;
    timed("setData /app", c.set_data("/app", b"root-v3", None)).await;
    timed("delete /app/a/b/c", c.delete("/app/a/b/c", None)).await;
    timed(
        "setACL /mixed",
        c.set_acl("/mixed", vec![digest_alice(perms::ALL)], None),
    )
    .await;
    timed(
        "multi",
        c.multi(vec![
            Op::Create {
                path: "/java/m".into(),
                data: b"m".to_vec().into(),
                options: CreateOptions::persistent().with_acl(Acl::creator_all()),
            },
            Op::Delete {
                path: "/bulk/k01".into(),
                version: None,
            },
        ]),
    )
    .await;
    close(c).await;
}

// ---------------------------------------------------------------------------------------------
// Tests

/// MANIFEST.md rows of the fixture, checked one by one.
fn check_fixture_rows(who: &str, tree: &Tree) {
    let node = |path: &str| {
        tree.get(path)
            .unwrap_or_else(|| panic!("{who}: {path} is missing from the fixture tree"))
    };
    assert_eq!(tree.len(), 51, "{who}: the fixture has 51 znodes");
    let app = node("/app");
    assert_eq!(&app.data[..], b"app-root-v2", "{who}: /app data");
    let s = &app.stat;
    assert_eq!(
        (
            s.version,
            s.cversion,
            s.aversion,
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.num_children
        ),
        (2, 16, 0, 0x2, 0x66, 0x61, 10),
        "{who}: /app stat {s:?}"
    );
    let bulk = &node("/bulk").stat;
    assert_eq!(
        (bulk.cversion, bulk.pzxid, bulk.num_children),
        (51, 0x68, 29),
        "{who}: /bulk"
    );
    assert!(
        !tree.contains_key("/bulk/n01"),
        "{who}: /bulk/n01 was deleted"
    );
    let n00 = node("/bulk/n00");
    assert_eq!(
        (&n00.data[..], n00.stat.version, n00.stat.mzxid),
        (&b"final"[..], 2, 0x64),
        "{who}: /bulk/n00"
    );
    assert_eq!(node("/after-snap").stat.czxid, 0x67, "{who}: /after-snap");
    let bin: Vec<u8> = (0..=255u8).collect();
    assert_eq!(&node("/app/bin").data[..], &bin[..], "{who}: /app/bin");
    assert_eq!(
        &node("/app/unicode-ü").data[..],
        "héllo ✓".as_bytes(),
        "{who}: /app/unicode-ü"
    );
    for eph in ["/app/eph-live", "/locks/lock-0000000000"] {
        assert_eq!(
            node(eph).stat.ephemeral_owner,
            FIXTURE_SESSION,
            "{who}: {eph} belongs to the open session"
        );
    }
    let locks = &node("/locks").stat;
    assert_eq!(
        (
            locks.ephemeral_owner,
            locks.cversion,
            locks.pzxid,
            locks.num_children
        ),
        (0, 1, 0x62, 1),
        "{who}: /locks (a container shows ephemeralOwner 0)"
    );
    let ttl = &node("/ttl").stat;
    assert_eq!((ttl.ephemeral_owner, ttl.czxid), (0, 0xd), "{who}: /ttl");
    assert_eq!(
        node("/secure").acl,
        vec![digest_alice(perms::ALL)],
        "{who}: /secure ACL"
    );
    let ro = node("/readonly");
    assert_eq!(
        (ro.acl.clone(), ro.stat.aversion),
        (Acl::read_unsafe(), 1),
        "{who}: /readonly"
    );
    assert_eq!(node("/zookeeper").stat.cversion, -2, "{who}: /zookeeper");
    let root = &node("/").stat;
    assert_eq!(
        (root.cversion, root.pzxid, root.num_children),
        (8, 0x67, 8),
        "{who}: /"
    );
}

/// (a) Our server on a copy of the Java fixture serves exactly what Java serves on another copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_serves_the_java_fixture_like_java() {
    let t0 = Instant::now();
    let fixture = fixture_dir();
    let java_copy = temp_dir("zk-rs-fixture-java-");
    copy_dir(
        &fixture.join("version-2"),
        &java_copy.path().join("version-2"),
    );
    let java = java_on_copy_of(java_copy.path()).unwrap_or_else(|e| panic!("{e}"));
    let java_loaded = Instant::now();

    let ours_dir = temp_dir("zk-rs-fixture-ours-");
    copy_dir(
        &fixture.join("version-2"),
        &ours_dir.path().join("data/version-2"),
    );
    let ours = start_ours(ours_dir.path(), &[]);
    eprintln!(
        "(a) Java on the fixture after {} ms, ours after {} ms",
        java_loaded.duration_since(t0).as_millis(),
        t0.elapsed().as_millis()
    );

    let java_tree = walk(&java.connect_string()).await;
    let our_tree = walk(&ours.connect_string()).await;
    // The open session's ephemerals must still be there: both walks ran before it expired.
    assert!(
        java_loaded.elapsed() < FIXTURE_SESSION_TIMEOUT,
        "the walks took too long: the fixture session may have expired meanwhile"
    );
    check_fixture_rows("java", &java_tree);
    assert_same_tree("fixture", "java", &java_tree, "zk-rs", &our_tree);
    assert_same_child_order("java", &java_tree, "zk-rs", &our_tree);
    check_fixture_rows("zk-rs", &our_tree);
    eprintln!("(a) done in {} ms", t0.elapsed().as_millis());
}

/// (b) Ours writes, Java reads; Java writes more, ours reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dirs_round_trip_between_our_server_and_java() {
    let t0 = Instant::now();
    let dir = temp_dir("zk-rs-roundtrip-");
    let mut ours = start_ours(dir.path(), &["snapshot.compression.method=none"]);
    let live = populate(&ours.connect_string()).await;
    let our_tree = walk(&ours.connect_string()).await;
    assert!(our_tree.contains_key("/app/eph-live") && our_tree.contains_key("/ttl"));
    let status = ours.stop().unwrap_or_else(|e| panic!("{e}"));
    // The open session's client must not close it later; the server is down, so dropping it
    // sends nothing.
    drop(live);
    eprintln!(
        "(b) ours wrote {} nodes, stopped ({status:?}) after {} ms; files: {:?}",
        our_tree.len(),
        t0.elapsed().as_millis(),
        file_names(&ours.data_dir().join("version-2"))
    );

    let mut java = java_on_copy_of(ours.data_dir()).unwrap_or_else(|e| {
        panic!(
            "Java refused the data directory our server wrote ({:?}): {e}",
            file_names(&ours.data_dir().join("version-2"))
        )
    });
    let java_sees = walk(&java.connect_string()).await;
    assert_same_tree(
        "Java on our files",
        "zk-rs(before stop)",
        &our_tree,
        "java",
        &java_sees,
    );
    eprintln!(
        "(b) Java serves our tree after {} ms",
        t0.elapsed().as_millis()
    );

    java_writes_more(&java.connect_string()).await;
    let java_tree = walk(&java.connect_string()).await;
    assert!(java_tree.contains_key("/java/box/item"));
    java.stop().unwrap_or_else(|e| panic!("{e}"));
    replace_version2(&java.data_dir(), ours.data_dir());
    ours.restart().unwrap_or_else(|e| {
        panic!(
            "our server refused the data directory Java wrote ({:?}): {e}",
            file_names(&ours.data_dir().join("version-2"))
        )
    });
    let ours_sees = walk(&ours.connect_string()).await;
    assert_same_tree(
        "our server on Java's files",
        "java(before stop)",
        &java_tree,
        "zk-rs",
        &ours_sees,
    );
    eprintln!(
        "(b) done in {} ms ({} nodes ours -> Java, {} nodes Java -> ours)",
        t0.elapsed().as_millis(),
        our_tree.len(),
        java_tree.len()
    );
}

/// (c) Java's own tools read our snapshot and logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_tools_read_our_files() {
    let t0 = Instant::now();
    let dir = temp_dir("zk-rs-tools-");
    let mut ours = start_ours(dir.path(), &["snapshot.compression.method=none"]);
    let live = populate(&ours.connect_string()).await;
    let live_session = live.session().session_id;
    ours.stop().unwrap_or_else(|e| panic!("{e}"));
    drop(live);
    // Snapshots taken while clients write are fuzzy (the newest one need not hold the last
    // txns); the one written at startup holds the whole recovered tree.
    ours.restart().unwrap_or_else(|e| panic!("{e}"));
    ours.stop().unwrap_or_else(|e| panic!("{e}"));
    let v2 = ours.data_dir().join("version-2");
    let snapshots = data_files(&v2, "snapshot");
    let logs = data_files(&v2, "log");
    assert!(
        snapshots.len() >= 2 && logs.len() >= 2,
        "snapCount=10 should have rolled snapshots and logs: {:?}",
        file_names(&v2)
    );

    let (_, newest) = snapshots.last().unwrap();
    let (status, stdout, stderr) =
        run_java_tool("org.apache.zookeeper.server.SnapshotFormatter", &[newest]);
    assert!(
        status.success(),
        "SnapshotFormatter {} exited {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        newest.display()
    );
    for path in POPULATED_PATHS
        .iter()
        .copied()
        .chain(["/app/eph-live", "/locks/lock-0000000001"])
    {
        assert!(
            stdout.contains(path),
            "SnapshotFormatter {} does not list {path}:\n{stdout}",
            newest.display()
        );
    }
    // The session left open is in the snapshot with its timeout and two ephemerals.
    let session_line = format!("{live_session:#x}, 40000, 2");
    assert!(
        stdout.contains("Session Details") && stdout.contains(&session_line),
        "SnapshotFormatter {} does not list session {session_line:?}:\n{stdout}",
        newest.display()
    );

    let mut all_logs = String::new();
    for (_, log) in &logs {
        let (status, stdout, stderr) = run_java_tool(
            "org.apache.zookeeper.server.persistence.TxnLogToolkit",
            &[Path::new("-d"), log],
        );
        assert!(
            status.success() && stdout.contains("EOF reached after"),
            "TxnLogToolkit -d {} exited {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            log.display()
        );
        all_logs.push_str(&stdout);
    }
    for path in POPULATED_PATHS.iter().copied().chain([
        "/tmp1",
        "/gone",
        "/app/eph-closed",
        "/app/eph-live",
    ]) {
        assert!(
            all_logs.contains(path),
            "no TxnLogToolkit dump of {:?} mentions {path}:\n{all_logs}",
            logs
        );
    }
    eprintln!(
        "(c) SnapshotFormatter on 1 snapshot, TxnLogToolkit on {} logs: {} ms",
        logs.len(),
        t0.elapsed().as_millis()
    );
}

/// (d) With our default lz4 snapshots Java cannot use the directory; converted, it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_snapshots_must_be_converted_for_java() {
    let t0 = Instant::now();
    let dir = temp_dir("zk-rs-lz4-");
    let mut ours = start_ours(dir.path(), &[]);
    let live = populate(&ours.connect_string()).await;
    let our_tree = walk(&ours.connect_string()).await;
    ours.stop().unwrap_or_else(|e| panic!("{e}"));
    drop(live);
    let v2 = ours.data_dir().join("version-2");
    let names = file_names(&v2);
    assert!(
        names
            .iter()
            .filter(|n| n.starts_with("snapshot."))
            .all(|n| n.ends_with(".lz4")),
        "default snapshots should be lz4: {names:?}"
    );

    // Java takes snapshot.*.lz4 for a damaged uncompressed snapshot and skips it; with logs and
    // no snapshot it refuses to start.
    let mut java = java_builder().start().unwrap_or_else(|e| panic!("{e}"));
    java.stop().unwrap();
    replace_version2(ours.data_dir(), &java.data_dir());
    match java.restart() {
        Ok(()) => panic!(
            "Java started on lz4 snapshots ({names:?}); log:\n{}",
            java.log_tail(40)
        ),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("No snapshot found, but there are log entries"),
                "Java failed, but not for the expected reason: {text}"
            );
        }
    }

    let converted = convert_snapshots(ours.data_dir());
    eprintln!(
        "(d) zk-server --convert-snapshots none: {}",
        converted.trim()
    );
    let names = file_names(&v2);
    assert!(
        !names.iter().any(|n| n.ends_with(".lz4")),
        "after conversion: {names:?}"
    );
    replace_version2(ours.data_dir(), &java.data_dir());
    java.restart()
        .unwrap_or_else(|e| panic!("Java refused our converted snapshots ({names:?}): {e}"));
    let java_sees = walk(&java.connect_string()).await;
    assert_same_tree(
        "Java on our converted files",
        "zk-rs(before stop)",
        &our_tree,
        "java",
        &java_sees,
    );
    eprintln!("(d) done in {} ms", t0.elapsed().as_millis());
}

/// Converts the snapshots of `data_dir` to the uncompressed format with zk-server's converter
/// command (`zk-server --convert-snapshots none <dataDir>`); returns what it printed.
fn convert_snapshots(data_dir: &Path) -> String {
    let binary = RustZkServerProcess::binary().unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(&binary);
    command
        .args(["--convert-snapshots", "none"])
        .arg(data_dir)
        .env("NO_COLOR", "1");
    let out = RunningProgram::spawn(command, "zk-server --convert-snapshots")
        .and_then(|running| running.wait_timeout(TOOL_TIMEOUT))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        out.success(),
        "zk-server --convert-snapshots none {} failed ({}):\n{text}",
        data_dir.display(),
        out.status
    );
    text
}

/// The comparison names the node and the field that differ.
#[test]
fn tree_diff_names_node_and_field() {
    let node = Node {
        data: Bytes::from_static(b"x"),
        stat: Stat::default(),
        acl: Acl::open_unsafe(),
        children: Vec::new(),
    };
    let mut a = Tree::new();
    a.insert("/n".to_owned(), node.clone());
    a.insert("/only-a".to_owned(), node.clone());
    let mut b = Tree::new();
    let mut changed = node;
    changed.stat.pzxid = 7;
    changed.acl = Acl::read_unsafe();
    b.insert("/n".to_owned(), changed);
    assert_eq!(tree_diff("a", &a, "b", &a), Vec::<String>::new());
    let diff = tree_diff("a", &a, "b", &b);
    assert_eq!(diff.len(), 3, "{diff:?}");
    assert_eq!(diff[0], "/n: pzxid a=0x0 b=0x7");
    assert!(diff[1].starts_with("/n: ACL"), "{diff:?}");
    assert_eq!(diff[2], "/only-a: only on a");
}

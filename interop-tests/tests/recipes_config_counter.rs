//! The config and counter recipes (`zk_client::recipes::{config, counter}`) against both
//! servers, and against the real recipes they must share nodes with: Curator's `SharedCount` and
//! `DistributedAtomicLong` (`java/CuratorCounters.java`) and kazoo's `Counter`.
//!
//! Every test runs twice: in module `java_server` against the real Java server and in module
//! `zk_rs` against the zk-server binary (a process, so it can be restarted on its data
//! directory: `cargo test -p interop-tests --test recipes_config_counter zk_rs` runs only ours).
//!
//! What the config tests check is exactly what `recipes::config` promises: per node, values in
//! strictly increasing mzxid order with nothing repeated; the final value always arrives, also
//! when it was written while the watcher was cut off and the server restarted; and every value
//! arrives when the writer waits for the previous one to be seen.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use interop_tests::{
    JavaProgram, JavaZkServer, PausableProxy, PythonScript, RunningProgram, RustZkServerProcess,
};
use zk_client::recipes::config::{ConfigEvent, ConfigNode, ConfigTree, EventStream, TreeEvent};
use zk_client::recipes::counter::{
    decode_atomic_long, decode_shared_count, encode_atomic_long, encode_shared_count, CounterError,
    DistributedAtomicLong, SharedCount,
};
use zk_client::{Client, CreateOptions};

/// Limit for anything that should happen promptly (a change seen, a reconnect).
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// Limit for a driver process to finish.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

/// Session timeout of the clients: long enough to outlive a server restart.
const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Servers.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Kind {
    Java,
    ZkRs,
}

/// Either server, restartable on the same port and data directory.
enum Server {
    Java(JavaZkServer),
    ZkRs {
        server: RustZkServerProcess,
        /// Holds zoo.cfg, the data directory and the log; dropped after the server.
        _dir: tempfile::TempDir,
    },
}

impl Server {
    fn start(kind: Kind) -> Server {
        tokio::task::block_in_place(|| match kind {
            Kind::Java => Server::Java(JavaZkServer::start().unwrap_or_else(|e| panic!("{e}"))),
            Kind::ZkRs => {
                let dir = tempfile::Builder::new()
                    .prefix("zk-rs-recipes-config-")
                    .tempdir()
                    .expect("temp dir");
                let server = RustZkServerProcess::start_standalone(
                    dir.path(),
                    &dir.path().join("data"),
                    &[],
                )
                .unwrap_or_else(|e| panic!("{e}"));
                Server::ZkRs { server, _dir: dir }
            }
        })
    }

    fn connect_string(&self) -> String {
        match self {
            Server::Java(s) => s.connect_string(),
            Server::ZkRs { server, .. } => server.connect_string(),
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Java(s) => s.addr(),
            Server::ZkRs { server, .. } => server.addr(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Server::Java(_) => "java",
            Server::ZkRs { .. } => "zk-rs",
        }
    }

    /// Stops the server (Java: SIGKILL; zk-server: SIGTERM) and starts it again on the same port
    /// and data directory.
    fn restart(&mut self) {
        tokio::task::block_in_place(|| match self {
            Server::Java(s) => s.restart(),
            Server::ZkRs { server, .. } => server.restart(),
        })
        .unwrap_or_else(|e| panic!("restart: {e}"));
    }
}

/// One test per scenario and server.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod java_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Java).await;
                }
            )*
        }
        mod zk_rs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::ZkRs).await;
                }
            )*
        }
    };
}

on_both_servers! {
    config_updates_arrive_in_order_and_the_last_is_never_lost,
    config_written_during_a_server_restart_is_seen_after_reconnect,
    config_tree_follows_creates_changes_and_deletes,
    shared_count_increments_from_rust_and_curator_lose_nothing,
    atomic_long_increments_from_rust_and_curator_lose_nothing,
    counter_formats_match_curator_and_kazoo,
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

async fn connect(connect_string: &str) -> Client {
    Client::builder(connect_string)
        .session_timeout(SESSION_TIMEOUT)
        .connect()
        .await
        .expect("connect to the server")
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn next_event<Ev>(events: &mut EventStream<Ev>, what: &str) -> Ev {
    within(what, events.next())
        .await
        .unwrap_or_else(|| panic!("the event stream ended while waiting for {what}"))
}

type Utf8Node = ConfigNode<String, std::str::Utf8Error>;
type Utf8Tree = ConfigTree<String, std::str::Utf8Error>;

fn utf8(data: &[u8]) -> Result<String, std::str::Utf8Error> {
    std::str::from_utf8(data).map(str::to_owned)
}

fn number(data: &[u8]) -> Result<u32, String> {
    std::str::from_utf8(data)
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())
}

/// Retries `op` while the client is reconnecting (after a server restart).
async fn retrying<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = zk_client::Result<T>>,
{
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// The map of a tree as plain strings, for comparisons.
fn plain(tree: &Utf8Tree) -> BTreeMap<String, String> {
    tree.current()
        .iter()
        .map(|(path, v)| (path.clone(), v.value.to_string()))
        .collect()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

/// Follows a tree's events, keeping its own copy of the map built from them alone.
struct TreeFollower {
    events: EventStream<TreeEvent<String, std::str::Utf8Error>>,
    mirror: BTreeMap<String, String>,
}

impl TreeFollower {
    /// Subscribes and reads the opening snapshot.
    async fn new(tree: &Utf8Tree) -> TreeFollower {
        let mut follower = TreeFollower {
            events: tree.events(),
            mirror: BTreeMap::new(),
        };
        let first = follower.next("the snapshot").await;
        assert!(
            first.starts_with("snapshot"),
            "a snapshot first, got {first}"
        );
        follower
    }

    /// The next event, applied to the mirror and described.
    async fn next(&mut self, what: &str) -> String {
        let event = next_event(&mut self.events, what).await;
        match &event {
            TreeEvent::Snapshot(map) => {
                self.mirror = map
                    .iter()
                    .map(|(p, v)| (p.clone(), v.value.to_string()))
                    .collect();
            }
            TreeEvent::Changed { path, value } => {
                self.mirror.insert(path.clone(), value.value.to_string());
            }
            TreeEvent::Deleted { path } => {
                self.mirror.remove(path);
            }
            TreeEvent::DecodeFailed { .. } => {}
            TreeEvent::Ended(e) => panic!("the tree watch ended while waiting for {what}: {e}"),
        }
        describe_tree_event(&event)
    }

    /// Reads events until they bring the mirror to `want`; returns them described. The tree's
    /// own map must agree at that point (it is updated before events go out).
    async fn until(
        &mut self,
        tree: &Utf8Tree,
        want: &BTreeMap<String, String>,
        what: &str,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        while &self.mirror != want {
            seen.push(self.next(what).await);
        }
        assert_eq!(&plain(tree), want, "the map after {what}");
        seen
    }
}

fn describe_tree_event(event: &TreeEvent<String, std::str::Utf8Error>) -> String {
    match event {
        TreeEvent::Snapshot(map) => format!("snapshot of {}", map.len()),
        TreeEvent::Changed { path, value } => format!("changed {path}={}", value.value),
        TreeEvent::Deleted { path } => format!("deleted {path}"),
        TreeEvent::DecodeFailed { path, .. } => format!("undecodable {path}"),
        TreeEvent::Ended(e) => format!("ended {e}"),
    }
}

fn java_counters() -> JavaProgram {
    tokio::task::block_in_place(|| JavaProgram::from_file("java/CuratorCounters.java"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (without blocking the runtime) until the driver prints a line starting with `prefix`.
async fn wait_line(program: &RunningProgram, prefix: &str) -> String {
    program
        .stdout_line(&format!("{prefix:?}"), DRIVER_TIMEOUT, |l| {
            l.starts_with(prefix)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits for the driver to exit successfully and returns its stdout.
async fn finish(program: RunningProgram) -> String {
    program
        .finish(DRIVER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .stdout
}

// ---------------------------------------------------------------------------------------------
// 1. Order, and the last value.
// ---------------------------------------------------------------------------------------------

/// A writer sets 1..=300 as fast as replies come back while a `ConfigNode` on another session
/// follows: what it delivers is a strictly increasing subsequence (each value with exactly the
/// mzxid its write got), ending with 300. Then 30 more writes, each waiting until the previous
/// one was delivered: all 30 arrive, one event each.
async fn config_updates_arrive_in_order_and_the_last_is_never_lost(kind: Kind) {
    const FAST: u32 = 300;
    const LOCKSTEP: u32 = 30;
    let server = Server::start(kind);
    let writer = connect(&server.connect_string()).await;
    let reader = connect(&server.connect_string()).await;
    writer
        .create("/cfg", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    let config = ConfigNode::start(&reader, "/cfg", number).await.unwrap();
    assert_eq!(config.current().map(|v| *v.value), Some(0));
    let mut events = config.events();
    match next_event(&mut events, "the initial state").await {
        ConfigEvent::Value(v) => assert_eq!(*v.value, 0),
        other => panic!("first event should be the current value, got {other:?}"),
    }

    let started = Instant::now();
    let mut mzxid_of = BTreeMap::new();
    for i in 1..=FAST {
        let stat = writer
            .set_data("/cfg", i.to_string().as_bytes(), None)
            .await
            .unwrap();
        mzxid_of.insert(i, stat.mzxid);
    }
    let mut delivered = Vec::new();
    while delivered.last() != Some(&FAST) {
        match next_event(&mut events, &format!("value {FAST}")).await {
            ConfigEvent::Value(v) => {
                assert_eq!(
                    Some(&v.stat.mzxid),
                    mzxid_of.get(&*v.value),
                    "value {} delivered with another write's mzxid",
                    v.value
                );
                delivered.push(*v.value);
            }
            other => panic!("only values expected, got {other:?}"),
        }
    }
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "values out of order or repeated: {delivered:?}"
    );
    eprintln!(
        "{}: {} of {FAST} fast writes delivered (the rest coalesced) in {} ms",
        server.kind(),
        delivered.len(),
        started.elapsed().as_millis()
    );

    for i in FAST + 1..=FAST + LOCKSTEP {
        writer
            .set_data("/cfg", i.to_string().as_bytes(), None)
            .await
            .unwrap();
        match next_event(&mut events, &format!("value {i}")).await {
            ConfigEvent::Value(v) => assert_eq!(*v.value, i, "a waited-for write was skipped"),
            other => panic!("value {i} expected, got {other:?}"),
        }
    }
    assert!(events.try_next().is_none(), "no event beyond the writes");
    assert_eq!(config.current().map(|v| *v.value), Some(FAST + LOCKSTEP));

    // Deletion and re-creation are events too, and undecodable data is reported, not fatal.
    writer.delete("/cfg", None).await.unwrap();
    assert!(matches!(
        next_event(&mut events, "the deletion").await,
        ConfigEvent::Deleted
    ));
    assert!(config.current().is_none());
    writer
        .create("/cfg", b"not a number", &CreateOptions::persistent())
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut events, "undecodable data").await,
        ConfigEvent::DecodeFailed { .. }
    ));
    writer.set_data("/cfg", b"7", None).await.unwrap();
    match next_event(&mut events, "value 7").await {
        ConfigEvent::Value(v) => assert_eq!(*v.value, 7),
        other => panic!("value 7 expected, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Across a server restart.
// ---------------------------------------------------------------------------------------------

/// A `ConfigNode` and a `ConfigTree` watch through a proxy. The proxy is cut, changes are made,
/// the server restarts, more changes are made after it is back, and only then is the proxy
/// restored: the node's latest value and the tree's final state are delivered on the same
/// session, the node's values still in order.
async fn config_written_during_a_server_restart_is_seen_after_reconnect(kind: Kind) {
    let mut server = Server::start(kind);
    let proxy = PausableProxy::start(server.addr()).expect("proxy");
    let reader = connect(&proxy.connect_string()).await;
    let session = reader.session().session_id;
    let writer = connect(&server.connect_string()).await;
    for (path, data) in [
        ("/restart", "v0"),
        ("/restart-tree", ""),
        ("/restart-tree/a", "a0"),
        ("/restart-tree/b", "b0"),
    ] {
        writer
            .create(path, data.as_bytes(), &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let node: Utf8Node = ConfigNode::start(&reader, "/restart", utf8).await.unwrap();
    let tree: Utf8Tree = ConfigTree::start(&reader, "/restart-tree", utf8)
        .await
        .unwrap();
    let mut node_events = node.events();
    let mut follower = TreeFollower::new(&tree).await;
    assert_eq!(
        plain(&tree),
        map(&[("/restart-tree/a", "a0"), ("/restart-tree/b", "b0")])
    );

    proxy.pause();
    writer.set_data("/restart", b"v1", None).await.unwrap();
    writer
        .set_data("/restart-tree/a", b"a1", None)
        .await
        .unwrap();
    writer
        .create("/restart-tree/c", b"c0", &CreateOptions::persistent())
        .await
        .unwrap();
    server.restart();
    // A fresh writer: the old one kept reconnecting while the server was down, and Java 3.8
    // leaks a connection accepted before it runs (NIOServerCnxn.close hits a null ZKDatabase
    // and never closes the socket), so that client can wait out a whole connect timeout.
    let _ = writer.close().await;
    let writer = connect(&server.connect_string()).await;
    retrying("set after restart", || {
        writer.set_data("/restart", b"v2", None)
    })
    .await;
    retrying("delete after restart", || {
        writer.delete("/restart-tree/b", None)
    })
    .await;
    retrying("create after restart", || {
        writer.create("/restart-tree/d", b"d0", &CreateOptions::persistent())
    })
    .await;
    // Give the cut-off client time to fail a few reconnects before letting it through.
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.resume();

    let mut values = vec!["v0".to_owned()];
    while values.last().map(String::as_str) != Some("v2") {
        match next_event(&mut node_events, "v2 after the restart").await {
            ConfigEvent::Value(v) => values.push(v.value.to_string()),
            ConfigEvent::Ended(e) => panic!("the node watch ended: {e}"),
            other => panic!("only values expected, got {other:?}"),
        }
    }
    // The first event is the state at subscription (v0) again; after it, nothing repeats.
    assert_eq!(values[1], "v0");
    values.remove(0);
    assert!(
        values == ["v0", "v2"] || values == ["v0", "v1", "v2"],
        "values in order, none repeated: {values:?}"
    );
    let seen = follower
        .until(
            &tree,
            &map(&[
                ("/restart-tree/a", "a1"),
                ("/restart-tree/c", "c0"),
                ("/restart-tree/d", "d0"),
            ]),
            "the tree's state after the restart",
        )
        .await;
    // The reconnect re-read and the watch re-registered by the client both report v2; it
    // must be delivered once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late: Vec<_> = std::iter::from_fn(|| node_events.try_next()).collect();
    assert!(late.is_empty(), "delivered again: {late:?}");
    let late: Vec<_> = std::iter::from_fn(|| follower.events.try_next()).collect();
    assert!(late.is_empty(), "tree events beyond the changes: {late:?}");
    assert_eq!(
        reader.session().session_id,
        session,
        "the session survived the restart"
    );
    assert!(node.ended().is_none() && tree.ended().is_none());
    eprintln!(
        "{}: node values {values:?}; tree events {:?}",
        server.kind(),
        seen
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A subtree.
// ---------------------------------------------------------------------------------------------

/// A `ConfigTree` on a pre-populated subtree: the first read has every node (not the root);
/// then each create, change and delete, at any depth, is reflected (the test waits for each
/// before the next, so every step is an event), undecodable data is reported while the map keeps
/// the last good value, and a second tree started at the end reads the same map.
async fn config_tree_follows_creates_changes_and_deletes(kind: Kind) {
    let server = Server::start(kind);
    let writer = connect(&server.connect_string()).await;
    let reader = connect(&server.connect_string()).await;
    for (path, data) in [
        ("/tree", "root"),
        ("/tree/a", "a0"),
        ("/tree/b", "b0"),
        ("/tree/b/c", "c0"),
    ] {
        writer
            .create(path, data.as_bytes(), &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let tree: Utf8Tree = ConfigTree::start(&reader, "/tree", utf8).await.unwrap();
    let mut want = map(&[("/tree/a", "a0"), ("/tree/b", "b0"), ("/tree/b/c", "c0")]);
    assert_eq!(plain(&tree), want, "the initial read");
    let mut follower = TreeFollower::new(&tree).await;
    assert_eq!(follower.mirror, want, "the snapshot");

    let persistent = CreateOptions::persistent();
    let mut log = Vec::new();
    writer.create("/tree/d", b"d0", &persistent).await.unwrap();
    want.insert("/tree/d".into(), "d0".into());
    log.extend(follower.until(&tree, &want, "create /tree/d").await);
    writer.set_data("/tree/a", b"a1", None).await.unwrap();
    want.insert("/tree/a".into(), "a1".into());
    log.extend(follower.until(&tree, &want, "change /tree/a").await);
    writer.set_data("/tree/b/c", b"c1", None).await.unwrap();
    want.insert("/tree/b/c".into(), "c1".into());
    log.extend(follower.until(&tree, &want, "change /tree/b/c").await);
    writer.delete("/tree/b/c", None).await.unwrap();
    want.remove("/tree/b/c");
    log.extend(follower.until(&tree, &want, "delete /tree/b/c").await);
    writer.create("/tree/b/e", b"", &persistent).await.unwrap();
    writer
        .create("/tree/b/e/f", b"f0", &persistent)
        .await
        .unwrap();
    want.insert("/tree/b/e".into(), "".into());
    want.insert("/tree/b/e/f".into(), "f0".into());
    log.extend(follower.until(&tree, &want, "create /tree/b/e/f").await);
    writer.delete("/tree/d", None).await.unwrap();
    want.remove("/tree/d");
    log.extend(follower.until(&tree, &want, "delete /tree/d").await);
    assert_eq!(
        log,
        [
            "changed /tree/d=d0",
            "changed /tree/a=a1",
            "changed /tree/b/c=c1",
            "deleted /tree/b/c",
            "changed /tree/b/e=",
            "changed /tree/b/e/f=f0",
            "deleted /tree/d",
        ]
    );
    // Changes to the root are not part of the map.
    writer.set_data("/tree", b"root2", None).await.unwrap();

    writer.set_data("/tree/a", b"\xff", None).await.unwrap();
    match next_event(&mut follower.events, "undecodable /tree/a").await {
        TreeEvent::DecodeFailed { path, data, .. } => {
            assert_eq!((path.as_str(), &data[..]), ("/tree/a", &b"\xff"[..]));
        }
        other => panic!("a decode failure expected, got {other:?}"),
    }
    assert_eq!(plain(&tree), want, "the last good value stays");

    // A tree started now never saw a good value of /tree/a: it is reported, not in the map.
    let second: Utf8Tree = ConfigTree::start(&reader, "/tree", utf8).await.unwrap();
    want.remove("/tree/a");
    assert_eq!(plain(&second), want);
    let mut second_events = second.events();
    assert!(matches!(
        next_event(&mut second_events, "the snapshot").await,
        TreeEvent::Snapshot(_)
    ));
    assert!(
        matches!(
            next_event(&mut second_events, "the undecodable node").await,
            TreeEvent::DecodeFailed { ref path, .. } if path == "/tree/a"
        ),
        "a new subscriber hears of nodes that do not decode"
    );
    assert!(
        follower.events.try_next().is_none(),
        "nothing for the root's change"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrent increments with Curator.
// ---------------------------------------------------------------------------------------------

/// Rust and Curator's `SharedCount` each add 1 a hundred times to one count, both with
/// getVersionedValue/trySetCount loops, starting together: the count ends at exactly 200.
async fn shared_count_increments_from_rust_and_curator_lose_nothing(kind: Kind) {
    const EACH: i32 = 100;
    let server = Server::start(kind);
    let driver = java_counters();
    let client = connect(&server.connect_string()).await;
    let count = SharedCount::start(&client, "/counters/shared", 0)
        .await
        .unwrap();
    let java = driver
        .spawn(&[
            "shared-inc",
            &server.connect_string(),
            "/counters/shared",
            &EACH.to_string(),
            "/counters/go-shared",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&java, "ready").await;
    client
        .create("/counters/go-shared", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let started = Instant::now();
    let mut lost = 0;
    for _ in 0..EACH {
        loop {
            let seen = count.get().unwrap();
            if count.try_set(seen, seen.value + 1).await.unwrap() {
                break;
            }
            lost += 1;
        }
    }
    let rust_ms = started.elapsed().as_millis();
    let out = finish(java).await;
    let (data, stat) = client.get_data("/counters/shared").await.unwrap();
    assert_eq!(decode_shared_count(&data), Ok(2 * EACH), "increments lost");
    assert_eq!(stat.version, 2 * EACH, "one write per increment");
    within("the local count to catch up", async {
        while count.get().unwrap().value != 2 * EACH {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    eprintln!(
        "{}: Rust lost {lost} races in {rust_ms} ms; Curator: {}",
        server.kind(),
        out.trim()
    );
}

/// Rust's and Curator's `DistributedAtomicLong` each increment a missing counter a hundred
/// times, starting together (so both race to create it): it ends at exactly 200.
async fn atomic_long_increments_from_rust_and_curator_lose_nothing(kind: Kind) {
    const EACH: i64 = 100;
    let server = Server::start(kind);
    let driver = java_counters();
    let client = connect(&server.connect_string()).await;
    let counter = DistributedAtomicLong::new(&client, "/counters/long").with_max_attempts(1000);
    assert_eq!(counter.get().await.unwrap(), 0, "a missing counter reads 0");
    let java = driver
        .spawn(&[
            "atomic-inc",
            &server.connect_string(),
            "/counters/long",
            &EACH.to_string(),
            "/counters-go-long",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&java, "ready").await;
    client
        .create("/counters-go-long", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let started = Instant::now();
    let mut previous_post = i64::MIN;
    let mut lost = 0;
    for _ in 0..EACH {
        let change = counter.increment().await.unwrap();
        lost += change.attempts - 1;
        assert_eq!(change.post, change.pre + 1);
        assert!(change.post > previous_post, "values only grow");
        previous_post = change.post;
    }
    let rust_ms = started.elapsed().as_millis();
    let out = finish(java).await;
    assert_eq!(counter.get().await.unwrap(), 2 * EACH, "increments lost");
    let (data, _) = client.get_data("/counters/long").await.unwrap();
    assert_eq!(&data[..], &encode_atomic_long(2 * EACH)[..]);
    eprintln!(
        "{}: Rust lost {lost} races in {rust_ms} ms; Curator: {}",
        server.kind(),
        out.trim()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Formats.
// ---------------------------------------------------------------------------------------------

/// Values written by Rust read back right in Curator (and the shared count in kazoo's
/// `Counter(support_curator=True)`), values written by Curator read back right in Rust, and data
/// that is no counter is an error, not a number.
async fn counter_formats_match_curator_and_kazoo(kind: Kind) {
    const RUST_COUNT: i32 = -123_456_789;
    const RUST_LONG: i64 = -0x0123_4567_89ab_cdef;
    const JAVA_COUNT: i32 = 2_000_000_001;
    const JAVA_LONG: i64 = 0x7edc_ba98_7654_3210;
    let server = Server::start(kind);
    let driver = java_counters();
    let client = connect(&server.connect_string()).await;
    let cs = server.connect_string();

    let count = SharedCount::start(&client, "/fmt/shared", 5).await.unwrap();
    assert_eq!(count.get().unwrap().value, 5, "the seed");
    count.set(RUST_COUNT).await.unwrap();
    assert_eq!(
        count.get().unwrap().value,
        RUST_COUNT,
        "own writes are seen at once"
    );
    let long = DistributedAtomicLong::new(&client, "/fmt/long");
    long.force_set(RUST_LONG).await.unwrap();
    let (data, _) = client.get_data("/fmt/shared").await.unwrap();
    assert_eq!(&data[..], &encode_shared_count(RUST_COUNT)[..]);

    let out = tokio::task::block_in_place(|| {
        driver.run_timeout(&["read", &cs, "/fmt/shared", "/fmt/long"], DRIVER_TIMEOUT)
    })
    .and_then(|o| o.expect_success())
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.stdout,
        format!("shared {RUST_COUNT} version 1\nlong {RUST_LONG}\n"),
        "Curator reads what Rust wrote"
    );
    let kazoo = PythonScript::new(
        "kazoo_counter",
        "import sys\nfrom kazoo.client import KazooClient\n\
         zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=20)\n\
         print(zk.Counter(sys.argv[2], support_curator=True).value)\n\
         zk.stop()\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out =
        tokio::task::block_in_place(|| kazoo.run_timeout(&[&cs, "/fmt/shared"], DRIVER_TIMEOUT))
            .and_then(|o| o.expect_success())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.stdout.trim(),
        RUST_COUNT.to_string(),
        "kazoo reads it too"
    );

    let mut changes = count.changes();
    let out = tokio::task::block_in_place(|| {
        driver.run_timeout(
            &[
                "write",
                &cs,
                "/fmt/shared",
                &JAVA_COUNT.to_string(),
                "/fmt/long",
                &JAVA_LONG.to_string(),
            ],
            DRIVER_TIMEOUT,
        )
    })
    .and_then(|o| o.expect_success())
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout, "written\n");
    loop {
        match next_event(&mut changes, "Curator's count").await {
            ConfigEvent::Value(v) if *v.value == JAVA_COUNT => break,
            ConfigEvent::Value(v) => assert_eq!(*v.value, RUST_COUNT, "only the two values"),
            other => panic!("values expected, got {other:?}"),
        }
    }
    assert_eq!(count.get().unwrap().value, JAVA_COUNT);
    assert_eq!(long.get().await.unwrap(), JAVA_LONG);
    let (data, _) = client.get_data("/fmt/long").await.unwrap();
    assert_eq!(decode_atomic_long(&data), Ok(JAVA_LONG));

    // Not counters: errors, not numbers.
    client.set_data("/fmt/shared", b"abc", None).await.unwrap();
    assert!(matches!(
        next_event(&mut changes, "the bad count").await,
        ConfigEvent::DecodeFailed { .. }
    ));
    assert!(matches!(count.get(), Err(CounterError::Corrupt { .. })));
    assert!(matches!(
        count.add(1).await,
        Err(CounterError::Corrupt { .. })
    ));
    client.set_data("/fmt/long", b"abcd", None).await.unwrap();
    assert!(matches!(
        long.get().await,
        Err(CounterError::Corrupt { .. })
    ));
    assert!(matches!(
        long.increment().await,
        Err(CounterError::Corrupt { .. })
    ));
    // Compare-and-set on a missing counter fails (as Curator's); initialize creates it once.
    let fresh = DistributedAtomicLong::new(&client, "/fmt/fresh");
    assert!(!fresh.compare_and_set(0, 1).await.unwrap());
    assert!(fresh.initialize(10).await.unwrap());
    assert!(!fresh.initialize(11).await.unwrap());
    assert!(fresh.compare_and_set(10, 12).await.unwrap());
    assert!(!fresh.compare_and_set(10, 13).await.unwrap());
    assert_eq!(fresh.get().await.unwrap(), 12);
}

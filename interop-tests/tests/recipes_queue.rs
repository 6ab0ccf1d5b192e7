//! The queue recipe (`zk_client::recipes::queue`) against both servers, sharing queues with the
//! real recipes: Curator's `DistributedQueue`, `DistributedPriorityQueue` (with and without a
//! lock path) and `SimpleDistributedQueue` (`java/CuratorQueueDriver.java`), and kazoo's `Queue`
//! and `LockingQueue`.
//!
//! Every test runs twice: in module `zk_rs` against zk-server (in-process) and in module
//! `java_server` against the real Java server. Items are UTF-8 strings; "in order" means the
//! exact sequence a single consumer saw, "exactly once" that the items all consumers took,
//! put together, are the items put, each once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use interop_tests::{JavaProgram, PythonScript, RunningProgram, ServerUnderTest};
use zk_client::recipes::queue::{DistributedQueue, QueueError};
use zk_client::{Client, CreateOptions, ErrorKind};

/// Limit for anything that should happen promptly (a take once an item is there).
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// Limit for a driver process to finish.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a take waits before the test concludes that the queue (as far as this consumer may
/// take) is empty.
const EMPTY_WAIT: Duration = Duration::from_millis(300);

async fn connect(connect_string: &str) -> Client {
    Client::builder(connect_string)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect to the server")
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn curator_driver() -> JavaProgram {
    JavaProgram::from_file("java/CuratorQueueDriver.java").unwrap_or_else(|e| panic!("{e}"))
}

fn kazoo_driver() -> PythonScript {
    PythonScript::new("kazoo_queue.py", KAZOO_QUEUE).unwrap_or_else(|e| panic!("{e}"))
}

async fn wait_line(program: &RunningProgram, what: &str, line: &str) {
    program
        .stdout_line(what, DRIVER_TIMEOUT, |l| l == line)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits for the driver to exit successfully and returns its stdout.
async fn finish(program: RunningProgram) -> String {
    program
        .finish(DRIVER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .stdout
}

/// The items a driver printed (`item <item>` lines), in order.
fn printed_items(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("item "))
        .map(str::to_owned)
        .collect()
}

/// The items each of a driver's commands printed, in order: the lines before each
/// `end <command>`.
fn items_per_command(stdout: &str) -> Vec<Vec<String>> {
    let mut sections = vec![Vec::new()];
    for line in stdout.lines() {
        if let Some(item) = line.strip_prefix("item ") {
            sections.last_mut().unwrap().push(item.to_owned());
        } else if line.starts_with("end ") {
            sections.push(Vec::new());
        }
    }
    sections.pop();
    sections
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `prefix0`..`prefix{n-1}`.
fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn text(item: &[u8]) -> String {
    String::from_utf8(item.to_vec()).expect("UTF-8 item")
}

/// Takes until the queue stays empty for [`EMPTY_WAIT`]; the items in the order taken.
async fn drain(queue: &DistributedQueue) -> Vec<String> {
    let mut taken = Vec::new();
    while let Some(item) = queue.take_timeout(EMPTY_WAIT).await.unwrap() {
        taken.push(text(&item));
    }
    taken
}

/// Sorted children of `dir` (empty if it is gone).
async fn children(client: &Client, dir: &str) -> Vec<String> {
    match client.get_children(dir).await {
        Ok(mut children) => {
            children.sort();
            children
        }
        Err(e) if e == ErrorKind::NoNode => Vec::new(),
        Err(e) => panic!("getChildren {dir}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Curator's queues.
// ---------------------------------------------------------------------------------------------

/// Curator puts into a `DistributedQueue` (with a `putMulti` among the puts), a
/// `DistributedPriorityQueue` and a `SimpleDistributedQueue`; a Rust consumer of each takes
/// every item once, in Curator's order: FIFO, a multi's items together, lower priorities first
/// (ties FIFO).
async fn curator_produces_rust_consumes_in_order(server: &dyn ServerUnderTest) {
    let plain = numbered("c", 12);
    let mut args = vec![server.connect_string(), "put".into(), "/cq/plain".into()];
    args.extend(plain[..10].iter().cloned());
    args.push("multi:m0,m1,m2".into());
    args.extend(plain[10..].iter().cloned());
    let priorities = [
        ("p5", 5),
        ("pm3", -3),
        ("p10", 10),
        ("p0", 0),
        ("pm3b", -3),
        ("pmax", i32::MAX),
        ("pmin", i32::MIN),
        ("p5b", 5),
    ];
    args.extend(["--".into(), "put-priority".into(), "/cq/prio".into()]);
    args.extend(priorities.iter().map(|(item, p)| format!("{item}={p}")));
    args.extend(["--".into(), "put-simple".into(), "/cq/simple".into()]);
    args.extend(numbered("s", 5));
    let stdout = finish(
        curator_driver()
            .spawn(&args)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert!(stdout.ends_with("done\n"), "{stdout}");

    let client = connect(&server.connect_string()).await;
    let queue = DistributedQueue::curator(&client, "/cq/plain").unwrap();
    // 12 single puts and one putMulti node.
    assert_eq!(queue.len().await.unwrap(), 13);
    let names = children(&client, "/cq/plain").await;
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("queue-") && n.len() == 16),
        "{names:?}"
    );
    assert_eq!(text(&queue.peek().await.unwrap().unwrap()), "c0");
    let mut expected = plain[..10].to_vec();
    expected.extend(strings(&["m0", "m1", "m2"]));
    expected.extend(plain[10..].iter().cloned());
    assert_eq!(drain(&queue).await, expected);
    assert_eq!(queue.len().await.unwrap(), 0);
    assert_eq!(queue.peek().await.unwrap(), None);

    // A node that is no Curator envelope is reported with its bytes, and taken out of the way.
    client
        .create(
            "/cq/plain/queue-",
            b"not an envelope",
            &CreateOptions::persistent_sequential(),
        )
        .await
        .unwrap();
    queue.put(b"after").await.unwrap();
    assert!(matches!(
        queue.peek().await,
        Err(QueueError::Corrupt { .. })
    ));
    match queue.take().await {
        Err(QueueError::Corrupt { data, .. }) => assert_eq!(&data[..], b"not an envelope"),
        other => panic!("expected a corrupt item, got {other:?}"),
    }
    assert_eq!(drain(&queue).await, ["after"]);

    let prio = DistributedQueue::curator(&client, "/cq/prio").unwrap();
    let mut by_priority = priorities.to_vec();
    by_priority.sort_by_key(|(_, p)| *p); // stable: ties stay in put order
    let expected: Vec<String> = by_priority.iter().map(|(i, _)| i.to_string()).collect();
    assert_eq!(drain(&prio).await, expected);

    let simple = DistributedQueue::curator_simple(&client, "/cq/simple").unwrap();
    assert_eq!(drain(&simple).await, numbered("s", 5));
    assert_eq!(children(&client, "/cq/plain").await, Vec::<String>::new());
}

/// Rust puts into each Curator layout (`put_all` as a `putMulti`, priorities as
/// `DistributedPriorityQueue`'s); Curator's consumers get every item, in order.
async fn rust_produces_curator_consumes_in_order(server: &dyn ServerUnderTest) {
    let client = connect(&server.connect_string()).await;
    let plain = DistributedQueue::curator(&client, "/rq/plain").unwrap();
    for item in numbered("r", 10) {
        plain.put(item.as_bytes()).await.unwrap();
    }
    let batch = plain.put_all(&[b"m0", b"m1"]).await.unwrap();
    assert_eq!(batch.len(), 1, "one node for a Curator batch: {batch:?}");
    plain.put(b"r10").await.unwrap();

    let prio = DistributedQueue::curator(&client, "/rq/prio").unwrap();
    let priorities = [
        ("low", 50),
        ("neg", -7),
        ("zero", 0),
        ("max", i32::MAX),
        ("neg2", -7),
    ];
    for (item, p) in priorities {
        prio.put_with_priority(item.as_bytes(), p).await.unwrap();
    }
    let simple = DistributedQueue::curator_simple(&client, "/rq/simple").unwrap();
    for item in numbered("s", 4) {
        simple.put(item.as_bytes()).await.unwrap();
    }
    assert!(simple.put_with_priority(b"x", 1).await.is_err());

    let args = [
        server.connect_string(),
        "consume".into(),
        "/rq/plain".into(),
        "13".into(),
        "--".into(),
        "consume-priority".into(),
        "/rq/prio".into(),
        priorities.len().to_string(),
        "--".into(),
        "take-simple".into(),
        "/rq/simple".into(),
        "4".into(),
    ];
    let stdout = finish(
        curator_driver()
            .spawn(&args)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    let sections = items_per_command(&stdout);
    let mut expected = numbered("r", 10);
    expected.extend(strings(&["m0", "m1", "r10"]));
    assert_eq!(sections[0], expected, "{stdout}");
    assert_eq!(
        sections[1],
        strings(&["neg", "neg2", "zero", "low", "max"]),
        "{stdout}"
    );
    assert_eq!(sections[2], numbered("s", 4), "{stdout}");
    for queue in [&plain, &prio, &simple] {
        assert_eq!(queue.len().await.unwrap(), 0, "{}", queue.path());
    }
}

/// With a lock path, Curator's consumer passes over an item a Rust `take_locked` holds, and a
/// Rust take passes over an item whose lock node someone else holds. A locked item whose
/// consumer's session ends goes back to the queue (at-least-once).
async fn curator_lock_path_is_shared(server: &dyn ServerUnderTest) {
    let client = connect(&server.connect_string()).await;
    let queue = DistributedQueue::curator_locked(&client, "/lq/items", "/lq/locks").unwrap();
    for item in ["x0", "x1", "x2"] {
        queue.put(item.as_bytes()).await.unwrap();
    }
    let held = within("take_locked", queue.take_locked()).await.unwrap();
    assert_eq!(held.items(), [&b"x0"[..]]);
    let item_name = held.path().rsplit('/').next().unwrap().to_owned();
    assert_eq!(held.lock_path(), format!("/lq/locks/{item_name}"));
    assert_eq!(children(&client, "/lq/locks").await, [item_name.as_str()]);

    let args = [
        server.connect_string(),
        "consume".into(),
        "/lq/items".into(),
        "2".into(),
        "/lq/locks".into(),
    ];
    let stdout = finish(
        curator_driver()
            .spawn(&args)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(printed_items(&stdout), strings(&["x1", "x2"]), "{stdout}");
    assert_eq!(children(&client, "/lq/items").await, [item_name.as_str()]);

    // The holder's session ends without consuming: the item is taken again.
    client.close().await.unwrap();
    let second = connect(&server.connect_string()).await;
    let queue = DistributedQueue::curator_locked(&second, "/lq/items", "/lq/locks").unwrap();
    let again = within("the item back", queue.take_locked()).await.unwrap();
    assert_eq!(again.items(), [&b"x0"[..]]);
    assert_eq!(again.path(), held.path());
    drop(held);

    // A lock node of another session (Curator's consumer at work) keeps a Rust take away.
    again.release().await.unwrap();
    let other = connect(&server.connect_string()).await;
    other
        .create(
            &format!("/lq/locks/{item_name}"),
            b"",
            &CreateOptions::ephemeral(),
        )
        .await
        .unwrap();
    assert_eq!(queue.take_timeout(EMPTY_WAIT).await.unwrap(), None);
    assert_eq!(
        queue.len().await.unwrap(),
        1,
        "the locked item is still queued"
    );
    other.close().await.unwrap();
    let item = within("the released item", queue.take()).await.unwrap();
    assert_eq!(&item[..], b"x0");
    assert_eq!(queue.len().await.unwrap(), 0);
    assert_eq!(children(&second, "/lq/locks").await, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// 2. kazoo's queues.
// ---------------------------------------------------------------------------------------------

/// Commands as the Java driver's, separated by `--`: `put <path> <item>[=<priority>]...`,
/// `get <path> <count>`, `get-until <path> <stop node>` (kazoo's `Queue`), and
/// `locking <path> <signal dir>`: the LockingQueue exchange of
/// `kazoo_locking_queue_shares_locks`.
const KAZOO_QUEUE: &str = r#"
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], command_retry={"max_tries": -1, "delay": 0.01, "max_delay": 0.1})
zk.start(timeout=20)
print("ready")
deadline = time.time() + 30

def wait_for(path):
    while not zk.exists(path):
        if time.time() > deadline:
            print("timeout"); sys.exit(1)
        time.sleep(0.01)

commands, command = [], []
for arg in sys.argv[2:]:
    if arg == "--":
        commands.append(command); command = []
    else:
        command.append(arg)
commands.append(command)
for command in commands:
    name, path, rest = command[0], command[1], command[2:]
    if name == "put":
        q = zk.Queue(path)
        for item in rest:
            value, _, priority = item.partition("=")
            q.put(value.encode(), priority=int(priority) if priority else 100)
    elif name in ("get", "get-until"):
        q = zk.Queue(path)
        print("consuming")
        got = 0
        while (got < int(rest[0])) if name == "get" else not zk.exists(rest[0]):
            value = q.get()
            if value is None:
                if time.time() > deadline:
                    print("timeout"); sys.exit(1)
                time.sleep(0.005)
                continue
            print("item " + value.decode())
            got += 1
    elif name == "locking":
        signals = rest[0]
        lq = zk.LockingQueue(path)
        lq.put_all([b"k-0", b"k-1", b"k-2"])
        print("locked " + lq.get(30).decode())
        wait_for(signals + "/1")
        print("consumed %s" % lq.consume())
        print("waiting")
        print("locked " + lq.get(30).decode())
        print("consumed %s" % lq.consume())
        wait_for(signals + "/2")
        for _ in range(2):
            print("locked " + lq.get(30).decode())
            print("consumed %s" % lq.consume())
    print("end " + name)
print("done")
zk.stop()
"#;

/// kazoo's `Queue` and a Rust queue exchange items both ways, priorities included.
async fn kazoo_queue_both_ways(server: &dyn ServerUnderTest) {
    let args = [
        server.connect_string(),
        "put".into(),
        "/kq/in".into(),
        "k0".into(),
        "k1=100".into(),
        "urgent=5".into(),
        "k2".into(),
        "last=999".into(),
        "first=0".into(),
    ];
    let stdout = finish(
        kazoo_driver()
            .spawn(&args)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert!(stdout.ends_with("done\n"), "{stdout}");
    let client = connect(&server.connect_string()).await;
    let queue = DistributedQueue::kazoo(&client, "/kq/in").unwrap();
    let names = children(&client, "/kq/in").await;
    assert!(
        names.contains(&"entry-005-0000000002".to_owned()),
        "{names:?}"
    );
    assert_eq!(text(&queue.peek().await.unwrap().unwrap()), "first");
    assert_eq!(
        drain(&queue).await,
        strings(&["first", "urgent", "k0", "k1", "k2", "last"])
    );

    let out = DistributedQueue::kazoo(&client, "/kq/out").unwrap();
    out.put(b"r0").await.unwrap();
    out.put_with_priority(b"urgent", 1).await.unwrap();
    out.put(b"r1").await.unwrap();
    assert_eq!(out.put_all(&[b"r2", b"r3"]).await.unwrap().len(), 2);
    out.put_with_priority(b"last", 999).await.unwrap();
    assert!(matches!(
        out.put_with_priority(b"x", 1000).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    let args = [
        server.connect_string(),
        "get".into(),
        "/kq/out".into(),
        "6".into(),
    ];
    let stdout = finish(
        kazoo_driver()
            .spawn(&args)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(
        printed_items(&stdout),
        strings(&["urgent", "r0", "r1", "r2", "r3", "last"]),
        "{stdout}"
    );
    assert_eq!(out.len().await.unwrap(), 0);
}

/// kazoo's `LockingQueue` and Rust consumers respect each other's locks: Rust passes over the
/// entry kazoo holds, kazoo waits for the one Rust holds until Rust releases it, and kazoo
/// consumes what Rust puts, by priority.
async fn kazoo_locking_queue_shares_locks(server: &dyn ServerUnderTest) {
    let client = connect(&server.connect_string()).await;
    client.ensure_path("/lq-signals").await.unwrap();
    let args = [
        server.connect_string(),
        "locking".into(),
        "/klq".into(),
        "/lq-signals".into(),
    ];
    let kazoo = kazoo_driver()
        .spawn(&args)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&kazoo, "kazoo to lock k-0", "locked k-0").await;
    let queue = DistributedQueue::kazoo_locking(&client, "/klq").unwrap();
    let held = within("take_locked", queue.take_locked()).await.unwrap();
    assert_eq!(held.items(), [&b"k-1"[..]]);
    assert_eq!(held.path(), "/klq/entries/entry-100-0000000001");
    assert_eq!(held.lock_path(), "/klq/taken/entry-100-0000000001");
    // A plain take in a locking layout locks too, and deletes at once.
    assert_eq!(&within("take", queue.take()).await.unwrap()[..], b"k-2");
    assert_eq!(queue.take_timeout(EMPTY_WAIT).await.unwrap(), None);
    assert_eq!(queue.peek().await.unwrap(), None, "both entries are locked");
    assert_eq!(queue.len().await.unwrap(), 2);

    client
        .create("/lq-signals/1", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    wait_line(&kazoo, "kazoo to wait for k-1", "waiting").await;
    tokio::time::sleep(EMPTY_WAIT).await;
    assert!(
        !kazoo.stdout_so_far().contains("locked k-1"),
        "kazoo took an entry Rust holds:\n{}",
        kazoo.stdout_so_far()
    );
    held.release().await.unwrap();
    wait_line(&kazoo, "kazoo to take k-1", "locked k-1").await;

    queue.put(b"r-1").await.unwrap();
    queue.put_with_priority(b"r-0", 5).await.unwrap();
    client
        .create("/lq-signals/2", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let stdout = finish(kazoo).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "ready",
            "locked k-0",
            "consumed True",
            "waiting",
            "locked k-1",
            "consumed True",
            "locked r-0",
            "consumed True",
            "locked r-1",
            "consumed True",
            "end locking",
            "done"
        ],
        "{stdout}"
    );
    assert_eq!(queue.len().await.unwrap(), 0);
    assert_eq!(children(&client, "/klq/taken").await, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// 3. Several consumers on one queue.
// ---------------------------------------------------------------------------------------------

/// Who took what.
type Takes = Arc<StdMutex<BTreeMap<String, Vec<String>>>>;

/// Two Rust consumers (own clients) and a foreign one (already `consuming`) share `path`,
/// while a Rust producer puts `ITEMS` items one by one: every item is taken exactly once, and
/// every consumer took some.
async fn share_one_queue(
    server: &dyn ServerUnderTest,
    open: fn(&Client, &str) -> zk_client::Result<DistributedQueue>,
    path: &str,
    foreign: RunningProgram,
    stop: &str,
) {
    const ITEMS: usize = 60;
    wait_line(&foreign, "the foreign consumer", "consuming").await;
    let takes: Takes = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let mut consumers = Vec::new();
    for name in ["rust-a", "rust-b"] {
        let client = connect(&server.connect_string()).await;
        let queue = open(&client, path).unwrap();
        let (takes, done) = (takes.clone(), done.clone());
        consumers.push(tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let taken = queue.take_timeout(Duration::from_millis(50)).await;
                if let Some(item) = taken.unwrap() {
                    takes
                        .lock()
                        .unwrap()
                        .entry(name.into())
                        .or_default()
                        .push(text(&item));
                    // Work on it a while, so that the foreign consumer (kazoo polls) gets its
                    // share.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }
            client.close().await.unwrap();
        }));
    }
    let client = connect(&server.connect_string()).await;
    let producer = open(&client, path).unwrap();
    let items = numbered("i", ITEMS);
    for item in &items {
        producer.put(item.as_bytes()).await.unwrap();
    }
    let taken_by_all = |foreign: &RunningProgram| {
        let rust: usize = takes.lock().unwrap().values().map(Vec::len).sum();
        rust + printed_items(&foreign.stdout_so_far()).len()
    };
    within("every item taken", async {
        while taken_by_all(&foreign) < ITEMS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    done.store(true, Ordering::SeqCst);
    for consumer in consumers {
        consumer.await.expect("consumer task");
    }
    client
        .create(stop, b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let stdout = finish(foreign).await;
    let mut takes = Arc::try_unwrap(takes).unwrap().into_inner().unwrap();
    takes.insert("foreign".into(), printed_items(&stdout));
    let mut all: Vec<String> = takes.values().flatten().cloned().collect();
    all.sort();
    let mut expected = items.clone();
    expected.sort();
    assert_eq!(all, expected, "each item exactly once: {takes:?}");
    for (consumer, taken) in &takes {
        assert!(!taken.is_empty(), "{consumer} took nothing: {takes:?}");
        // Each consumer took in queue order, whoever else took in between.
        let mut sorted = taken.clone();
        sorted.sort_by_key(|i| i[1..].parse::<usize>().unwrap());
        assert_eq!(*taken, sorted, "{consumer} out of order");
    }
    let counts: Vec<(String, usize)> = takes.iter().map(|(c, t)| (c.clone(), t.len())).collect();
    eprintln!("{path}: items per consumer {counts:?}");
    assert_eq!(producer.len().await.unwrap(), 0);
}

/// Two Rust consumers and Curator's `DistributedQueue` consumer share a queue.
async fn rust_and_curator_consumers_share_a_queue(server: &dyn ServerUnderTest) {
    let args = [
        server.connect_string(),
        "consume-until".into(),
        "/shared/curator".into(),
        "/shared-stop-curator".into(),
    ];
    let curator = curator_driver()
        .spawn(&args)
        .unwrap_or_else(|e| panic!("{e}"));
    share_one_queue(
        server,
        DistributedQueue::curator,
        "/shared/curator",
        curator,
        "/shared-stop-curator",
    )
    .await;
}

/// Two Rust consumers and kazoo's `Queue` share a queue.
async fn rust_and_kazoo_consumers_share_a_queue(server: &dyn ServerUnderTest) {
    let args = [
        server.connect_string(),
        "get-until".into(),
        "/shared/kazoo".into(),
        "/shared-stop-kazoo".into(),
    ];
    let kazoo = kazoo_driver()
        .spawn(&args)
        .unwrap_or_else(|e| panic!("{e}"));
    share_one_queue(
        server,
        DistributedQueue::kazoo,
        "/shared/kazoo",
        kazoo,
        "/shared-stop-kazoo",
    )
    .await;
}

/// Three Rust consumers whose takes keep timing out after a millisecond or two (often with a
/// delete or a lock create already sent) lose nothing and take nothing twice:
///
/// - on a Curator queue of multi-item nodes, each consumer with its own client: a cancelled
///   take's items come back from the next take of the same handle;
/// - on a kazoo `LockingQueue`, all three on one client (one session): a take never counts a
///   lock node of a concurrent take as its own, and a cancelled take leaves no lock behind.
async fn cancelled_takes_lose_nothing(server: &dyn ServerUnderTest) {
    let client = connect(&server.connect_string()).await;
    let curator = DistributedQueue::curator(&client, "/cancel/curator").unwrap();
    let mut expected = Vec::new();
    for batch in 0..20 {
        let items: Vec<String> = (0..3).map(|i| format!("b{batch}-{i}")).collect();
        let refs: Vec<&[u8]> = items.iter().map(|i| i.as_bytes()).collect();
        curator.put_all(&refs).await.unwrap();
        expected.extend(items);
    }
    let mut queues = Vec::new();
    for _ in 0..3 {
        let client = connect(&server.connect_string()).await;
        queues.push(DistributedQueue::curator(&client, "/cancel/curator").unwrap());
    }
    race_cancelled_takes(queues, expected.clone(), 2000).await;
    assert_eq!(curator.len().await.unwrap(), 0);

    let locking = DistributedQueue::kazoo_locking(&client, "/cancel/kazoo").unwrap();
    let refs: Vec<&[u8]> = expected.iter().map(|i| i.as_bytes()).collect();
    assert_eq!(locking.put_all(&refs).await.unwrap().len(), expected.len());
    // A locked take needs five round trips, and a cancelled one's lock keeps the item from the
    // others until it is removed: longer timeouts, or hardly any take would finish.
    race_cancelled_takes(vec![locking.clone(); 3], expected, 6000).await;
    assert_eq!(locking.len().await.unwrap(), 0);
    within("lock nodes of cancelled takes to go", async {
        while !children(&client, "/cancel/kazoo/taken").await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Concurrent `take_locked`s on one session (a shared handle) each lock a different item,
/// and the items stay locked until consumed or released.
async fn locked_takes_on_one_session_share_nothing(server: &dyn ServerUnderTest) {
    const ITEMS: usize = 12;
    let client = connect(&server.connect_string()).await;
    let queue = DistributedQueue::kazoo_locking(&client, "/one-session").unwrap();
    let items = numbered("t", ITEMS);
    let refs: Vec<&[u8]> = items.iter().map(|i| i.as_bytes()).collect();
    queue.put_all(&refs).await.unwrap();
    let takers: Vec<_> = (0..ITEMS)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.take_locked().await.unwrap() })
        })
        .collect();
    let mut held = Vec::new();
    for taker in takers {
        held.push(within("a locked take", taker).await.unwrap());
    }
    let mut taken: Vec<String> = held.iter().map(|h| text(&h.items()[0])).collect();
    taken.sort();
    let mut expected = items.clone();
    expected.sort();
    assert_eq!(taken, expected, "each item locked by one take");
    assert_eq!(children(&client, "/one-session/taken").await.len(), ITEMS);
    assert!(queue
        .take_locked_timeout(EMPTY_WAIT)
        .await
        .unwrap()
        .is_none());
    // Give half back: they are taken again; consume the rest.
    let mut again = Vec::new();
    for (n, item) in held.into_iter().enumerate() {
        if n % 2 == 0 {
            item.release().await.unwrap();
            again.push(within("a released item", queue.take()).await.unwrap());
        } else {
            item.consume().await.unwrap();
        }
    }
    assert_eq!(again.len(), ITEMS / 2);
    assert_eq!(queue.len().await.unwrap(), 0);
    assert_eq!(
        children(&client, "/one-session/taken").await,
        Vec::<String>::new()
    );
}

/// Each queue takes with timeouts of 0.5 ms to `spread_us` more until `expected` were taken;
/// asserts each exactly once and that takes were cancelled.
async fn race_cancelled_takes(
    queues: Vec<DistributedQueue>,
    mut expected: Vec<String>,
    spread_us: u64,
) {
    let takes: Takes = Arc::default();
    let mut consumers = Vec::new();
    for (n, queue) in queues.into_iter().enumerate() {
        let takes = takes.clone();
        let total = expected.len();
        consumers.push(tokio::spawn(async move {
            let mut timeouts = 0;
            let mut attempt = 0u64;
            while takes.lock().unwrap().values().map(Vec::len).sum::<usize>() < total {
                attempt += 1;
                let timeout =
                    Duration::from_micros(500 + (attempt * 7 + n as u64 * 13) % spread_us);
                match queue.take_timeout(timeout).await {
                    Ok(Some(item)) => takes
                        .lock()
                        .unwrap()
                        .entry(format!("consumer-{n}"))
                        .or_default()
                        .push(text(&item)),
                    Ok(None) => timeouts += 1,
                    Err(e) => panic!("consumer {n}: {e}"),
                }
            }
            timeouts
        }));
    }
    let mut timeouts = 0;
    // Draining 60 items through hundreds of cancelled takes (each locked one must have its lock
    // removed before another consumer can have the item) takes seconds; on a loaded CI machine,
    // running the other queue tests and their JVMs alongside, more than EVENT_WAIT. This bounds
    // liveness only.
    for consumer in consumers {
        timeouts += tokio::time::timeout(Duration::from_secs(90), consumer)
            .await
            .expect("timed out waiting for the consumers to drain the queue")
            .expect("consumer task");
    }
    let takes = takes.lock().unwrap().clone();
    let mut all: Vec<String> = takes.values().flatten().cloned().collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected, "each item exactly once: {takes:?}");
    assert!(timeouts > 0, "no take timed out, so nothing was cancelled");
    eprintln!("cancelled takes: {timeouts}");
}

interop_tests::against_both_servers! {
    curator_produces_rust_consumes_in_order,
    rust_produces_curator_consumes_in_order,
    curator_lock_path_is_shared,
    kazoo_queue_both_ways,
    kazoo_locking_queue_shares_locks,
    rust_and_curator_consumers_share_a_queue,
    rust_and_kazoo_consumers_share_a_queue,
    cancelled_takes_lose_nothing,
    locked_takes_on_one_session_share_nothing,
}

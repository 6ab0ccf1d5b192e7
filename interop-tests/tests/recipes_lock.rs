//! The lock and leader-latch recipes (`zk_client::recipes::{lock, leader}`) against both
//! servers, and against the real recipes they must interoperate with: Curator's
//! `InterProcessMutex`, `InterProcessReadWriteLock` and `LeaderLatch`
//! (`java/CuratorLockLoop.java`, `java/CuratorRwDriver.java`, `java/CuratorLatchDriver.java`)
//! and kazoo's `Lock`.
//!
//! Every test runs twice: in module `zk_rs` against zk-server (in-process) and in module
//! `java_server` against the real Java server. Mutual exclusion is checked from outside the
//! lock (a flag in this process, or wall-clock intervals both sides print), with a sleep inside
//! each hold so an overlap would show.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use interop_tests::{JavaProgram, PausableProxy, PythonScript, RunningProgram, ServerUnderTest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_client::recipes::leader::{LatchState, LeaderLatch};
use zk_client::recipes::lock::{Mutex, ReadWriteLock};
use zk_client::{Client, CreateOptions, ErrorKind};

/// Limit for anything that should happen promptly (an acquire after a release, a leadership
/// change, a reconnect).
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// Limit for a driver process to finish.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Waits (without blocking the runtime) until a line of the driver's stdout satisfies `found`;
/// returns that line. Panics with the driver's output on timeout.
async fn wait_line(program: &RunningProgram, what: &str, found: impl Fn(&str) -> bool) -> String {
    program
        .stdout_line(what, DRIVER_TIMEOUT, found)
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

/// The timestamp after a driver line's first word (`acquired 1712345678901`).
fn stamp(line: &str) -> Option<u64> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The first word of a line (`leader 1712345678901` -> `leader`).
fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// Ends `victim`'s session on the server from a second connection: re-attach to it with its id
/// and password, then close it. The server deletes the session's ephemerals at once, and the
/// victim hears `SessionExpired` when it next reaches the server.
async fn end_session_from_elsewhere(server: &dyn ServerUnderTest, victim: &Client) {
    let info = victim.session();
    let killer = Client::builder(server.connect_string())
        .session_timeout(Duration::from_secs(10))
        .resume_session(info.session_id, info.password.clone())
        .connect()
        .await
        .expect("re-attach to the victim's session");
    killer.close().await.expect("close the victim's session");
}

/// Children of a lock or election directory (empty if it is gone: containers are reaped).
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
// 1. Rust contenders only.
// ---------------------------------------------------------------------------------------------

/// 5 clients × 50 acquisitions of one mutex: never two holders (a flag in this process, set
/// while holding), and all 250 acquisitions happen.
async fn five_rust_clients_take_turns(server: &dyn ServerUnderTest) {
    const CLIENTS: usize = 5;
    const ROUNDS: usize = 50;
    let holding = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = connect(&server.connect_string()).await;
        let mutex = Mutex::new(&client, "/locks/five").unwrap();
        let (holding, overlaps, acquisitions) =
            (holding.clone(), overlaps.clone(), acquisitions.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let guard = within("acquire", mutex.acquire()).await.unwrap();
                if holding.swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                acquisitions.fetch_add(1, Ordering::SeqCst);
                // Hold across a timer tick so another holder, if the lock let one in, shows.
                tokio::time::sleep(Duration::from_millis(1)).await;
                holding.store(false, Ordering::SeqCst);
                within("release", guard.release()).await.unwrap();
            }
            client.close().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.expect("contender task");
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two holders at once");
    assert_eq!(acquisitions.load(Ordering::SeqCst), CLIENTS * ROUNDS);
    let observer = connect(&server.connect_string()).await;
    assert_eq!(
        children(&observer, "/locks/five").await,
        Vec::<String>::new(),
        "every lock node was deleted"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Curator's InterProcessMutex.
// ---------------------------------------------------------------------------------------------

/// One holding interval, in wall-clock ms, and who held.
#[derive(Debug, Clone, Copy)]
struct Hold {
    start: u64,
    end: u64,
    rust: bool,
}

/// A Rust `Mutex` and Curator's `InterProcessMutex` loop on one path; the intervals each side
/// held the lock never overlap, and the two sides did take turns (so the check means
/// something).
async fn rust_and_curator_mutexes_exclude_each_other(server: &dyn ServerUnderTest) {
    const ROUNDS: usize = 15;
    const HOLD_MS: u64 = 30;
    let program =
        JavaProgram::from_file("java/CuratorLockLoop.java").unwrap_or_else(|e| panic!("{e}"));
    let client = connect(&server.connect_string()).await;
    let mutex = Mutex::new(&client, "/locks/shared").unwrap();
    let java = program
        .spawn(&[
            server.connect_string(),
            "/locks/shared".into(),
            ROUNDS.to_string(),
            HOLD_MS.to_string(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&java, "Curator to connect", |l| l == "ready").await;

    let mut holds = Vec::new();
    for _ in 0..ROUNDS {
        let guard = within("acquire", mutex.acquire()).await.unwrap();
        let start = unix_ms();
        tokio::time::sleep(Duration::from_millis(HOLD_MS)).await;
        holds.push(Hold {
            start,
            end: unix_ms(),
            rust: true,
        });
        within("release", guard.release()).await.unwrap();
    }
    let stdout = finish(java).await;
    for line in stdout.lines().filter(|l| first_word(l) == "interval") {
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().expect("a number"))
            .collect();
        holds.push(Hold {
            start: fields[0],
            end: fields[1],
            rust: false,
        });
    }
    assert_eq!(holds.len(), 2 * ROUNDS, "Curator's output:\n{stdout}");
    holds.sort_by_key(|h| (h.start, h.end));
    for pair in holds.windows(2) {
        assert!(
            pair[1].start >= pair[0].end,
            "overlapping holds: {:?} and {:?}\nall: {holds:#?}",
            pair[0],
            pair[1]
        );
    }
    let turns = holds.windows(2).filter(|p| p[0].rust != p[1].rust).count();
    assert!(
        turns >= 2,
        "the two sides never contended (turns: {turns}): {holds:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Curator's LeaderLatch.
// ---------------------------------------------------------------------------------------------

/// Rust and Curator latches on one path agree on one leader, and leadership passes both ways:
/// Rust leader closes -> Curator leads; Curator closes -> the next Rust participant leads.
async fn rust_and_curator_latches_agree(server: &dyn ServerUnderTest) {
    let program =
        JavaProgram::from_file("java/CuratorLatchDriver.java").unwrap_or_else(|e| panic!("{e}"));
    let c1 = connect(&server.connect_string()).await;
    let c2 = connect(&server.connect_string()).await;
    let first = LeaderLatch::start(&c1, "/election/mixed", "rust-1")
        .await
        .unwrap();
    within("rust-1 to lead", first.wait_leader()).await.unwrap();

    let curator = program
        .spawn(&[
            server.connect_string(),
            "/election/mixed".into(),
            "curator".into(),
            "/signals/curator-close".into(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&curator, "Curator's latch to start", |l| l == "started").await;
    within("Curator's node", async {
        while first.participants().await.unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let second = LeaderLatch::start(&c2, "/election/mixed", "rust-2")
        .await
        .unwrap();
    let mut second_state = second.watch();
    within(
        "rust-2 to join",
        second_state.wait_for(|s| *s == LatchState::Waiting),
    )
    .await
    .unwrap();

    let ids = |ps: Vec<zk_client::recipes::leader::Participant>| {
        ps.into_iter()
            .map(|p| (p.id, p.is_leader))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(second.participants().await.unwrap()),
        [
            ("rust-1".to_owned(), true),
            ("curator".to_owned(), false),
            ("rust-2".to_owned(), false)
        ]
    );
    assert!(first.is_leader());
    assert!(!second.is_leader());
    assert!(
        !curator
            .stdout_so_far()
            .lines()
            .any(|l| first_word(l) == "leader"),
        "Curator claims leadership while rust-1 leads:\n{}",
        curator.stdout_so_far()
    );

    // The Rust leader leaves: Curator, next in line, leads; rust-2 still waits.
    within("rust-1 to close", first.close()).await.unwrap();
    wait_line(&curator, "Curator to lead", |l| first_word(l) == "leader").await;
    assert_eq!(second.state(), LatchState::Waiting);
    assert_eq!(
        within("leader lookup", second.leader())
            .await
            .unwrap()
            .map(|p| p.id),
        Some("curator".to_owned())
    );

    // Curator leaves: rust-2 leads.
    for path in ["/signals", "/signals/curator-close"] {
        c2.create(path, b"", &CreateOptions::persistent())
            .await
            .unwrap();
    }
    within("rust-2 to lead", second.wait_leader())
        .await
        .unwrap();
    let stdout = finish(curator).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.iter().map(|l| first_word(l)).collect::<Vec<_>>(),
        ["started", "leader", "leader-id", "has-leadership", "closed"],
        "Curator's transcript:\n{stdout}"
    );
    assert_eq!(lines[2], "leader-id curator", "{stdout}");
    assert_eq!(lines[3], "has-leadership true", "{stdout}");
    assert_eq!(
        ids(second.participants().await.unwrap()),
        [("rust-2".to_owned(), true)]
    );
    second.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 4. kazoo's Lock.
// ---------------------------------------------------------------------------------------------

/// kazoo's Lock, told Curator's node pattern, waits while a Rust Mutex holds the lock, and gets
/// it only after the Rust side released.
const KAZOO_LOCK: &str = r#"
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1])
zk.start(timeout=20)
lock = zk.Lock(sys.argv[2], "kazoo", extra_lock_patterns=["-lock-"])
print("contending")
if not lock.acquire(timeout=30):
    print("timeout")
    sys.exit(1)
print("acquired %d" % int(time.time() * 1000))
lock.release()
print("released")
zk.stop()
"#;

async fn kazoo_lock_waits_for_a_rust_holder(server: &dyn ServerUnderTest) {
    let script = PythonScript::new("kazoo_lock.py", KAZOO_LOCK).unwrap_or_else(|e| panic!("{e}"));
    let client = connect(&server.connect_string()).await;
    let mutex = Mutex::new(&client, "/locks/kazoo").unwrap();
    let guard = mutex.acquire().await.unwrap();
    let kazoo = script
        .spawn(&[server.connect_string(), "/locks/kazoo".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&kazoo, "kazoo to contend", |l| l == "contending").await;
    // kazoo's node is there, behind ours.
    within("kazoo's node", async {
        while children(&client, "/locks/kazoo").await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let names = children(&client, "/locks/kazoo").await;
    assert!(
        names.iter().any(|n| n.contains("__lock__")),
        "kazoo's node: {names:?}"
    );
    // Give kazoo every chance to (wrongly) take the lock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !kazoo.stdout_so_far().contains("acquired"),
        "kazoo took the lock while Rust held it:\n{}",
        kazoo.stdout_so_far()
    );
    let released_at = unix_ms();
    guard.release().await.unwrap();
    let stdout = finish(kazoo).await;
    let acquired_at = stdout
        .lines()
        .find(|l| first_word(l) == "acquired")
        .and_then(stamp)
        .unwrap_or_else(|| panic!("kazoo never acquired:\n{stdout}"));
    assert!(
        acquired_at >= released_at,
        "kazoo acquired at {acquired_at}, before the Rust release at {released_at}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5, 6. Session expiry.
// ---------------------------------------------------------------------------------------------

/// The leader's session ends: it reports Suspended while cut off and Lost once it hears of the
/// expiry, and the other participant leads meanwhile.
async fn expired_leader_hands_over(server: &dyn ServerUnderTest) {
    let proxy = PausableProxy::start(server.addr()).unwrap();
    let doomed_client = connect(&proxy.connect_string()).await;
    let other_client = connect(&server.connect_string()).await;
    let doomed = LeaderLatch::start(&doomed_client, "/election/expiry", "doomed")
        .await
        .unwrap();
    within("doomed to lead", doomed.wait_leader())
        .await
        .unwrap();
    let other = LeaderLatch::start(&other_client, "/election/expiry", "other")
        .await
        .unwrap();
    let mut other_state = other.watch();
    within(
        "other to wait",
        other_state.wait_for(|s| *s == LatchState::Waiting),
    )
    .await
    .unwrap();
    let mut changes = doomed.changes();
    assert_eq!(changes.next().await, Some(LatchState::Leader));

    proxy.pause();
    assert_eq!(
        within("suspension", changes.next()).await,
        Some(LatchState::Suspended)
    );
    assert!(!doomed.is_leader());
    end_session_from_elsewhere(server, &doomed_client).await;
    within("other to lead", other.wait_leader()).await.unwrap();

    proxy.resume();
    assert_eq!(within("loss", changes.next()).await, Some(LatchState::Lost));
    assert_eq!(within("end of changes", changes.next()).await, None);
    assert_eq!(doomed.state(), LatchState::Lost);
    assert_eq!(
        doomed
            .wait_leader()
            .await
            .map_err(zk_client::Error::into_kind),
        Err(ErrorKind::SessionExpired)
    );
    assert!(other.is_leader());
    assert_eq!(
        other
            .participants()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        ["other"]
    );
    // Closing a lost latch is fine: its node went with the session.
    doomed.close().await.unwrap();
    other.close().await.unwrap();
}

/// A held lock reports itself lost when its session ends (and the next contender gets it),
/// or when its node is deleted by someone else.
async fn held_lock_reports_loss(server: &dyn ServerUnderTest) {
    let proxy = PausableProxy::start(server.addr()).unwrap();
    let doomed_client = connect(&proxy.connect_string()).await;
    let other_client = connect(&server.connect_string()).await;
    let guard = Mutex::new(&doomed_client, "/locks/expiry")
        .unwrap()
        .acquire()
        .await
        .unwrap();
    assert!(guard.is_held());
    let waiter = {
        let mutex = Mutex::new(&other_client, "/locks/expiry").unwrap();
        tokio::spawn(async move { mutex.acquire().await })
    };
    within("the waiter's node", async {
        while children(&other_client, "/locks/expiry").await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // Cut off, the lock still counts as held: the session may survive.
    proxy.pause();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(guard.is_held());
    assert!(!waiter.is_finished());
    end_session_from_elsewhere(server, &doomed_client).await;
    let taken_over = within("the waiter to acquire", waiter)
        .await
        .expect("waiter task")
        .expect("the waiter's acquire");
    proxy.resume();
    within("the loss to be reported", guard.lost()).await;
    assert!(!guard.is_held());
    // Releasing a lost lock is not an error: the node is gone already.
    guard.release().await.unwrap();
    assert!(taken_over.is_held());

    // Someone deletes the holder's node: that is a loss too.
    other_client.delete(taken_over.path(), None).await.unwrap();
    within("the deletion to be reported", taken_over.lost()).await;
    assert!(!taken_over.is_held());
    taken_over.release().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 7. ConnectionLoss during the protected create.
// ---------------------------------------------------------------------------------------------

/// A proxy that, once, forwards the first create2 of a protected (`/_c_`) node to the server
/// and then cuts the connection without passing the reply on: the create is applied but the
/// client only sees ConnectionLoss. Connections after that are passed through untouched.
struct CreateReplyDropper {
    addr: SocketAddr,
    dropped: Arc<AtomicBool>,
}

impl CreateReplyDropper {
    async fn start(target: SocketAddr) -> CreateReplyDropper {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(true));
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, armed.clone(), flag.clone()));
            }
        });
        CreateReplyDropper { addr, dropped }
    }
}

async fn relay(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    armed: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
) {
    const CREATE2: i32 = 15;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // Set just before the doomed create goes out: from then on nothing reaches the client, so
    // its reply cannot either.
    let mute = Arc::new(AtomicBool::new(false));
    let muted = mute.clone();
    let downstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if muted.load(Ordering::SeqCst) || to_client.write_all(&buf[..n]).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    // Client to server, frame by frame: a 4-byte length, then (after the connect request) a
    // request header: xid, type.
    let mut first_frame = true;
    loop {
        let mut len = [0u8; 4];
        if from_client.read_exact(&mut len).await.is_err() {
            break;
        }
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        if from_client.read_exact(&mut frame).await.is_err() {
            break;
        }
        let doomed = !first_frame
            && frame.len() >= 8
            && i32::from_be_bytes(frame[4..8].try_into().unwrap()) == CREATE2
            && frame.windows(4).any(|w| w == b"/_c_")
            && armed.swap(false, Ordering::SeqCst);
        first_frame = false;
        if doomed {
            mute.store(true, Ordering::SeqCst);
            dropped.store(true, Ordering::SeqCst);
        }
        if to_server.write_all(&len).await.is_err() || to_server.write_all(&frame).await.is_err() {
            break;
        }
        if doomed {
            // Let the server apply it, then cut both sides (the muted downstream half may
            // already have closed the client's side when the reply arrived).
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
    }
    downstream.abort();
}

/// The lock node's create is applied but its reply lost: the acquire finds its own node by the
/// protected prefix instead of creating a second one (which, sorting ahead of the retry, would
/// be waited behind forever).
async fn connection_loss_during_create_finds_own_node(server: &dyn ServerUnderTest) {
    let direct = connect(&server.connect_string()).await;
    // The directory exists already, so the first create is applied rather than refused.
    direct
        .create("/locks", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    direct
        .create("/locks/lossy", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let dropper = CreateReplyDropper::start(server.addr()).await;
    let client = connect(&dropper.addr.to_string()).await;
    let guard = Mutex::new(&client, "/locks/lossy")
        .unwrap()
        .acquire_timeout(EVENT_WAIT)
        .await
        .unwrap()
        .expect("the acquire found its node instead of waiting behind it");
    assert!(
        dropper.dropped.load(Ordering::SeqCst),
        "the create's reply was dropped"
    );
    let names = children(&direct, "/locks/lossy").await;
    assert_eq!(names.len(), 1, "one node, not two: {names:?}");
    assert_eq!(guard.path(), format!("/locks/lossy/{}", names[0]));
    assert!(names[0].ends_with("-lock-0000000000"), "{names:?}");
    guard.release().await.unwrap();
    assert_eq!(
        children(&direct, "/locks/lossy").await,
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Read/write lock.
// ---------------------------------------------------------------------------------------------

/// Readers share, a writer waits for them and excludes later readers (fair order), and the
/// holder of the write lock may take the read lock (downgrade). Node names are Curator's.
async fn read_write_lock_orders_readers_and_writers(server: &dyn ServerUnderTest) {
    let c1 = connect(&server.connect_string()).await;
    let c2 = connect(&server.connect_string()).await;
    let lock1 = ReadWriteLock::new(&c1, "/locks/rw").unwrap();
    let lock2 = ReadWriteLock::new(&c2, "/locks/rw").unwrap();
    let read1 = lock1.read().await.unwrap();
    let read2 = within("a second reader", lock2.read()).await.unwrap();
    assert!(read1.path().contains("-__READ__"), "{}", read1.path());

    // A writer queues behind both readers ...
    let writer = {
        let lock = lock2.clone();
        tokio::spawn(async move { lock.write().await })
    };
    within("the writer's node", async {
        while lock1.write_participant_nodes().await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // ... and a reader arriving after the writer waits too.
    assert!(lock1
        .read_timeout(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    assert!(!writer.is_finished());
    read1.release().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!writer.is_finished(), "one reader still holds");
    read2.release().await.unwrap();
    let write = within("the writer", writer).await.unwrap().unwrap();
    assert!(write.path().contains("-__WRIT__"), "{}", write.path());

    // Downgrade: the writer's own read lock goes through; others' do not, and a write guard
    // is the only pass.
    let not_a_write_lock = Mutex::new(&c1, "/locks/rw-other")
        .unwrap()
        .acquire()
        .await
        .unwrap();
    assert!(matches!(
        lock2
            .read_while_writing(&not_a_write_lock)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument(_)
    ));
    not_a_write_lock.release().await.unwrap();
    let downgraded = within("downgrade", lock2.read_while_writing(&write))
        .await
        .unwrap();
    assert!(lock1
        .read_timeout(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    write.release().await.unwrap();
    // Only the downgraded read lock is left: readers share with it.
    let read3 = within("a reader after the downgrade", lock1.read())
        .await
        .unwrap();
    assert_eq!(lock1.read_participant_nodes().await.unwrap().len(), 2);
    downgraded.release().await.unwrap();
    read3.release().await.unwrap();
}

/// Curator's `InterProcessReadWriteLock` and ours on one path: Curator's writer holds off a
/// Rust reader, a Curator reader and a Rust reader share, a Curator reader holds off a Rust
/// writer and a Rust reader holds off a Curator writer.
async fn rust_and_curator_read_write_locks_agree(server: &dyn ServerUnderTest) {
    let program =
        JavaProgram::from_file("java/CuratorRwDriver.java").unwrap_or_else(|e| panic!("{e}"));
    let client = connect(&server.connect_string()).await;
    client
        .create("/signals-rw", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let lock = ReadWriteLock::new(&client, "/locks/rw-mixed").unwrap();
    let curator = program
        .spawn(&[
            server.connect_string(),
            "/locks/rw-mixed".into(),
            "/signals-rw".into(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&curator, "Curator's write lock", |l| {
        first_word(l) == "write-held"
    })
    .await;

    // Curator writes: a Rust reader waits.
    assert!(lock
        .read_timeout(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    let reader = {
        let lock = lock.clone();
        tokio::spawn(async move { lock.read().await })
    };
    within("the Rust reader's node", async {
        while lock.read_participant_nodes().await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!reader.is_finished(), "read while Curator writes");
    client
        .create("/signals-rw/1", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let read = within("the Rust reader", reader).await.unwrap().unwrap();
    let read_at = unix_ms();
    let releasing = stamp(
        &wait_line(&curator, "Curator's write release", |l| {
            first_word(l) == "write-releasing"
        })
        .await,
    )
    .expect("a timestamp");
    assert!(
        read_at >= releasing,
        "Rust read at {read_at}, before Curator released its write lock at {releasing}"
    );

    // Readers share across implementations.
    wait_line(&curator, "Curator's read lock next to ours", |l| {
        first_word(l) == "read-held"
    })
    .await;
    assert!(read.is_held());
    // Curator reads: a Rust writer waits.
    assert!(lock
        .write_timeout(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    // A Rust reader holds: Curator's writer waits.
    client
        .create("/signals-rw/2", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    wait_line(&curator, "Curator to queue for writing", |l| {
        l == "write-waiting"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !curator.stdout_so_far().contains("write-held-again"),
        "Curator wrote while a Rust reader held the lock:\n{}",
        curator.stdout_so_far()
    );
    let released_at = unix_ms();
    read.release().await.unwrap();
    let written_at = stamp(
        &wait_line(&curator, "Curator's second write lock", |l| {
            first_word(l) == "write-held-again"
        })
        .await,
    )
    .expect("a timestamp");
    assert!(
        written_at >= released_at,
        "Curator wrote at {written_at}, before the Rust reader released at {released_at}"
    );
    let stdout = finish(curator).await;
    assert!(stdout.ends_with("done\n"), "{stdout}");
    let write = within("the Rust writer", lock.write()).await.unwrap();
    write.release().await.unwrap();
}

interop_tests::against_both_servers! {
    five_rust_clients_take_turns,
    rust_and_curator_mutexes_exclude_each_other,
    rust_and_curator_latches_agree,
    kazoo_lock_waits_for_a_rust_holder,
    expired_leader_hands_over,
    held_lock_reports_loss,
    connection_loss_during_create_finds_own_node,
    read_write_lock_orders_readers_and_writers,
    rust_and_curator_read_write_locks_agree,
}

//! The leader selector and semaphore recipes (`zk_client::recipes::{selector, semaphore}`)
//! against both servers, and against the Curator recipes they must interoperate with:
//! `LeaderSelector` (`java/CuratorSelectorDriver.java`) and `InterProcessSemaphoreV2`
//! (`java/CuratorSemaphoreDriver.java`).
//!
//! Every test runs twice: in module `zk_rs` against zk-server (in-process) and in module
//! `java_server` against the real Java server. Exclusion is checked from outside the recipes,
//! with wall-clock intervals both sides record (Rust from the start of a leadership or lease to
//! its end, Curator from inside its listener or loop), with a sleep in each hold so an overlap
//! would show.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use interop_tests::{JavaProgram, PausableProxy, RunningProgram, ServerUnderTest};
use tokio::sync::{mpsc, Notify};
use zk_client::recipes::counter::SharedCount;
use zk_client::recipes::selector::{LeaderSelector, SelectorState};
use zk_client::recipes::semaphore::Semaphore;
use zk_client::{Client, CreateOptions, ErrorKind, Op};

/// Limit for anything that should happen promptly.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// Limit for a driver process to finish.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

async fn connect(connect_string: &str) -> Client {
    connect_with_timeout(connect_string, Duration::from_secs(10)).await
}

async fn connect_with_timeout(connect_string: &str, session_timeout: Duration) -> Client {
    Client::builder(connect_string)
        .session_timeout(session_timeout)
        .connect()
        .await
        .expect("connect to the server")
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `check` every 20 ms until it holds (panics after [`EVENT_WAIT`]).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

async fn wait_line(program: &RunningProgram, what: &str, found: impl Fn(&str) -> bool) -> String {
    program
        .stdout_line(what, DRIVER_TIMEOUT, found)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn finish(program: RunningProgram) -> String {
    program
        .finish(DRIVER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .stdout
}

fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

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

/// One holding interval (a leadership or a lease), in wall-clock ms, and whose.
#[derive(Debug, Clone)]
struct Hold {
    start: u64,
    end: u64,
    who: String,
}

type Holds = Arc<StdMutex<Vec<Hold>>>;

/// Records a hold from its creation to its drop, so a leader future that is cancelled (dropped)
/// records its end too, at the moment it stopped.
struct HoldRecorder {
    start: u64,
    who: String,
    holds: Holds,
}

impl HoldRecorder {
    fn new(who: &str, holds: &Holds) -> HoldRecorder {
        HoldRecorder {
            start: unix_ms(),
            who: who.to_owned(),
            holds: holds.clone(),
        }
    }
}

impl Drop for HoldRecorder {
    fn drop(&mut self) {
        let hold = Hold {
            start: self.start,
            end: unix_ms(),
            who: self.who.clone(),
        };
        self.holds.lock().unwrap().push(hold);
    }
}

/// The `interval <start> <end>` lines of a driver's output as holds of `who`.
fn driver_holds(stdout: &str, who: &str) -> Vec<Hold> {
    stdout
        .lines()
        .filter(|l| first_word(l) == "interval")
        .map(|line| {
            let fields: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|f| f.parse().expect("a number"))
                .collect();
            Hold {
                start: fields[0],
                end: fields[1],
                who: who.to_owned(),
            }
        })
        .collect()
}

/// The most holds that were ever in progress at one instant (an end at the very millisecond
/// of a start does not overlap it).
fn max_concurrent(holds: &[Hold]) -> usize {
    holds
        .iter()
        .map(|at| {
            holds
                .iter()
                .filter(|h| h.start <= at.start && at.start < h.end)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// A protected lease node name: `_c_<36-char uuid>-lease-<10 digits>`.
fn is_lease_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("_c_") else {
        return false;
    };
    rest.len() == 36 + "-lease-".len() + 10
        && rest[36..].starts_with("-lease-")
        && rest[43..].bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// 1. LeaderSelector: Rust and Curator take turns.
// ---------------------------------------------------------------------------------------------

/// Two Rust selectors and Curator's `LeaderSelector` (all auto-requeueing) on one path: the
/// leaderships never overlap, Curator's alternate with Rust's (each requeue goes to the back of
/// the line), and both sides see every participant by id.
async fn rust_and_curator_selectors_take_turns(server: &dyn ServerUnderTest) {
    const PATH: &str = "/election/turns";
    const CURATOR_LEADERSHIPS: usize = 4;
    const HOLD_MS: u64 = 50;
    let program =
        JavaProgram::from_file("java/CuratorSelectorDriver.java").unwrap_or_else(|e| panic!("{e}"));
    let holds: Holds = Arc::default();
    let mut selectors = Vec::new();
    let mut clients = Vec::new();
    for id in ["rust-1", "rust-2"] {
        let client = connect(&server.connect_string()).await;
        let recorded = holds.clone();
        let selector = LeaderSelector::builder(&client, PATH, id)
            .unwrap()
            .auto_requeue(true)
            .start(move |leadership| {
                let hold = HoldRecorder::new(id, &recorded);
                async move {
                    let _hold = hold;
                    if leadership.is_held() {
                        tokio::time::sleep(Duration::from_millis(HOLD_MS)).await;
                    }
                }
            });
        selectors.push(selector);
        clients.push(client);
    }
    // Both Rust participants are in line before Curator joins, so every one of Curator's
    // requeues lands behind them.
    eventually("both Rust participants in line", || async {
        selectors[0].participants().await.unwrap().len() == 2
    })
    .await;

    let curator = program
        .spawn(&[
            server.connect_string(),
            PATH.into(),
            "curator".into(),
            CURATOR_LEADERSHIPS.to_string(),
            HOLD_MS.to_string(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&curator, "Curator's selector to start", |l| l == "ready").await;

    // The Rust side sees all three by id, leader first.
    let all: BTreeSet<String> = ["curator", "rust-1", "rust-2"].map(String::from).into();
    eventually("every participant listed", || async {
        let participants = selectors[1].participants().await.unwrap();
        // Only the first node listed is marked leader (none if it went before it was read).
        assert!(
            participants.iter().skip(1).all(|p| !p.is_leader),
            "{participants:?}"
        );
        participants
            .iter()
            .map(|p| p.id.clone())
            .collect::<BTreeSet<_>>()
            == all
    })
    .await;
    let leader = within("leader lookup", selectors[0].leader())
        .await
        .unwrap()
        .expect("a leader");
    assert!(all.contains(&leader.id), "{leader:?}");

    let stdout = finish(curator).await;
    for selector in selectors {
        within("a Rust selector to close", selector.close())
            .await
            .unwrap();
    }
    let mut holds = holds.lock().unwrap().clone();
    holds.extend(driver_holds(&stdout, "curator"));
    holds.sort_by_key(|h| (h.start, h.end));
    for pair in holds.windows(2) {
        assert!(
            pair[1].start >= pair[0].end,
            "two leaders at once: {:?} and {:?}\nall: {holds:#?}",
            pair[0],
            pair[1]
        );
    }
    let curator_holds = holds.iter().filter(|h| h.who == "curator").count();
    assert_eq!(
        curator_holds, CURATOR_LEADERSHIPS,
        "Curator's output:\n{stdout}"
    );
    for id in ["rust-1", "rust-2"] {
        assert!(
            holds.iter().filter(|h| h.who == id).count() >= CURATOR_LEADERSHIPS - 1,
            "{id} led too rarely: {holds:#?}"
        );
    }
    // Leadership alternates: Curator never leads twice in a row.
    for pair in holds.windows(2) {
        assert!(
            !(pair[0].who == "curator" && pair[1].who == "curator"),
            "Curator led twice in a row: {holds:#?}"
        );
    }

    // Curator saw itself as leader and the Rust participants by id.
    let lines: Vec<&str> = stdout.lines().collect();
    let leaders: Vec<&str> = lines
        .iter()
        .filter(|l| first_word(l) == "leader")
        .copied()
        .collect();
    assert_eq!(leaders, ["leader curator"; CURATOR_LEADERSHIPS], "{stdout}");
    let participants: Vec<&str> = lines
        .iter()
        .filter(|l| first_word(l) == "participants")
        .copied()
        .collect();
    assert_eq!(participants.len(), CURATOR_LEADERSHIPS, "{stdout}");
    for line in &participants {
        assert!(line.starts_with("participants curator:true"), "{stdout}");
    }
    for id in ["rust-1:false", "rust-2:false"] {
        assert!(
            participants
                .iter()
                .any(|l| l.split_whitespace().any(|p| p == id)),
            "Curator never saw {id}:\n{stdout}"
        );
    }
    let observer = connect(&server.connect_string()).await;
    assert_eq!(children(&observer, PATH).await, Vec::<String>::new());
    for client in clients {
        client.close().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A leader cut off past its session timeout.
// ---------------------------------------------------------------------------------------------

/// A Rust leader whose connection is cut (a paused proxy) stops leading at once (its future is
/// dropped: the default error policy), its session expires on the server, and Curator's
/// selector, next in line, leads only after the Rust leadership ended. Back online, the Rust
/// selector hears of the expiry and is finished.
async fn paused_leader_loses_to_curator(server: &dyn ServerUnderTest) {
    const PATH: &str = "/election/paused";
    let program =
        JavaProgram::from_file("java/CuratorSelectorDriver.java").unwrap_or_else(|e| panic!("{e}"));
    let proxy = PausableProxy::start(server.addr()).unwrap();
    // The shortest session the servers grant (2 × tickTime).
    let doomed_client = connect_with_timeout(&proxy.connect_string(), Duration::from_secs(4)).await;
    let holds: Holds = Arc::default();
    let recorded = holds.clone();
    let doomed = LeaderSelector::builder(&doomed_client, PATH, "doomed")
        .unwrap()
        .auto_requeue(true)
        .start(move |_leadership| {
            let hold = HoldRecorder::new("doomed", &recorded);
            async move {
                let _hold = hold;
                std::future::pending::<()>().await;
            }
        });
    let mut state = doomed.watch();
    within(
        "doomed to lead",
        state.wait_for(|s| *s == SelectorState::Leading),
    )
    .await
    .unwrap();
    let mut changes = doomed.changes();
    assert_eq!(changes.next().await, Some(SelectorState::Leading));

    let curator = program
        .spawn(&[
            server.connect_string(),
            PATH.into(),
            "curator".into(),
            "1".into(),
            "200".into(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_line(&curator, "Curator's selector to start", |l| l == "ready").await;
    eventually("Curator in line", || async {
        doomed.participants().await.unwrap().len() == 2
    })
    .await;
    assert_eq!(
        doomed.leader().await.unwrap().map(|p| p.id),
        Some("doomed".to_owned())
    );

    let paused_at = unix_ms();
    proxy.pause();
    assert_eq!(
        within("the leadership to end", changes.next()).await,
        Some(SelectorState::Releasing)
    );
    assert!(!doomed.has_leadership());
    eventually("the leader's future to be dropped", || async {
        !holds.lock().unwrap().is_empty()
    })
    .await;
    let rust_hold = holds.lock().unwrap()[0].clone();
    assert!(
        rust_hold.end - paused_at < 2_000,
        "the leader stopped {} ms after the cut",
        rust_hold.end - paused_at
    );

    // The session expires on the server; Curator leads (and finishes) meanwhile.
    let stdout = finish(curator).await;
    let curator_hold = driver_holds(&stdout, "curator")
        .pop()
        .unwrap_or_else(|| panic!("Curator never led:\n{stdout}"));
    assert!(
        curator_hold.start >= rust_hold.end,
        "Curator led from {}, the cut-off Rust leader until {}",
        curator_hold.start,
        rust_hold.end
    );
    eprintln!(
        "cut at {paused_at}: the Rust leader stopped after {} ms, Curator led after {} ms",
        rust_hold.end - paused_at,
        curator_hold.start - paused_at
    );
    assert!(
        stdout.contains("participants curator:true\n"),
        "the expired leader's node is gone:\n{stdout}"
    );

    proxy.resume();
    assert_eq!(
        within("loss", changes.next()).await,
        Some(SelectorState::Lost)
    );
    assert_eq!(within("end of changes", changes.next()).await, None);
    assert!(!doomed.requeue(), "a lost selector cannot queue again");
    assert_eq!(holds.lock().unwrap().len(), 1, "led once only");
    doomed.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 3. Requeue, interrupt, a deleted lock node, fencing.
// ---------------------------------------------------------------------------------------------

/// What a test leader reports.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    Started(&'static str),
    /// Told of the loss through `Leadership::lost` (not cancelled).
    Told(&'static str),
}

/// Without auto-requeue a selector leads once and waits for `requeue`; `interrupt_leadership`
/// drops the leader's future; a leader whose lock node is deleted loses leadership (dropped by
/// default, told with `cancel_on_loss(false)`); fenced writes apply only while leading.
async fn selector_requeue_interrupt_and_lost_node(server: &dyn ServerUnderTest) {
    const PATH: &str = "/election/manual";
    let c1 = connect(&server.connect_string()).await;
    let c2 = connect(&server.connect_string()).await;
    c1.create("/fenced", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let finish_a = Arc::new(Notify::new());
    let a_dropped = Arc::new(AtomicBool::new(false));
    let a_fenced = Arc::new(StdMutex::new(None));

    // A: no auto-requeue; leads until told to finish; fences a write.
    let a = {
        let (reports, finish, dropped, fenced) = (
            reports_tx.clone(),
            finish_a.clone(),
            a_dropped.clone(),
            a_fenced.clone(),
        );
        LeaderSelector::builder(&c1, PATH, "a")
            .unwrap()
            .start(move |leadership| {
                let (reports, finish, dropped, fenced) = (
                    reports.clone(),
                    finish.clone(),
                    dropped.clone(),
                    fenced.clone(),
                );
                async move {
                    struct OnDrop(Arc<AtomicBool>);
                    impl Drop for OnDrop {
                        fn drop(&mut self) {
                            self.0.store(true, Ordering::SeqCst);
                        }
                    }
                    let _on_drop = OnDrop(dropped);
                    let write = leadership
                        .fence(vec![Op::SetData {
                            path: "/fenced".into(),
                            data: leadership.node().as_bytes().to_vec().into(),
                            version: None,
                        }])
                        .await
                        .map(|_| ());
                    *fenced.lock().unwrap() = Some(write);
                    let _ = reports.send(Report::Started("a"));
                    finish.notified().await;
                }
            })
    };
    assert_eq!(
        within("a to lead", reports.recv()).await,
        Some(Report::Started("a"))
    );
    assert_eq!(a_fenced.lock().unwrap().take(), Some(Ok(())));
    let fenced = c2.get_data("/fenced").await.unwrap().0;
    assert!(
        fenced.starts_with(format!("{PATH}/_c_").as_bytes()),
        "{fenced:?}"
    );
    assert!(a.has_leadership());
    assert!(!a.requeue(), "leading already");

    // B: auto-requeue; told (not cancelled) of a lost lock; returns when told or finished.
    let b = {
        let reports = reports_tx.clone();
        LeaderSelector::builder(&c2, PATH, "b")
            .unwrap()
            .auto_requeue(true)
            .cancel_on_loss(false)
            .start(move |leadership| {
                let reports = reports.clone();
                async move {
                    let _ = reports.send(Report::Started("b"));
                    leadership.lost().await;
                    assert!(!leadership.is_held());
                    let _ = reports.send(Report::Told("b"));
                }
            })
    };
    eventually("b in line", || async {
        b.participants().await.unwrap().len() == 2
    })
    .await;
    let ids = |ps: Vec<zk_client::recipes::leader::Participant>| {
        ps.into_iter()
            .map(|p| (p.id, p.is_leader))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(b.participants().await.unwrap()),
        [("a".to_owned(), true), ("b".to_owned(), false)]
    );
    assert_eq!(b.state(), SelectorState::Queued);

    // A returns: B leads, A is out of line until requeued, then queues behind B.
    finish_a.notify_one();
    assert_eq!(
        within("b to lead", reports.recv()).await,
        Some(Report::Started("b"))
    );
    let mut a_state = a.watch();
    within(
        "a to go idle",
        a_state.wait_for(|s| *s == SelectorState::Idle),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(a.participants().await.unwrap()),
        [("b".to_owned(), true)]
    );
    assert!(a.requeue());
    assert!(!a.requeue(), "queued already");
    eventually("a in line again", || async {
        a.participants().await.unwrap().len() == 2
    })
    .await;
    assert_eq!(
        ids(a.participants().await.unwrap()),
        [("b".to_owned(), true), ("a".to_owned(), false)]
    );

    // B is interrupted: its future is dropped (never told), A leads, B requeues behind it.
    b.interrupt_leadership();
    assert_eq!(
        within("a to lead again", reports.recv()).await,
        Some(Report::Started("a"))
    );
    assert_eq!(a_fenced.lock().unwrap().take(), Some(Ok(())));
    eventually("b back in line", || async {
        b.participants().await.unwrap().len() == 2
    })
    .await;
    assert_eq!(
        ids(b.participants().await.unwrap()),
        [("a".to_owned(), true), ("b".to_owned(), false)]
    );

    // Someone deletes A's lock node: A's future is dropped (the default), B leads.
    a_dropped.store(false, Ordering::SeqCst);
    let a_node = a.leader().await.unwrap().expect("a leader").node;
    c2.delete(&a_node, None).await.unwrap();
    assert_eq!(
        within("b to lead again", reports.recv()).await,
        Some(Report::Started("b"))
    );
    // B may lead before A's selector hears that its node went (the node, not A, was the
    // lock): A's future is dropped soon after, not necessarily before.
    eventually("a's future to be dropped", || async {
        a_dropped.load(Ordering::SeqCst)
    })
    .await;
    within(
        "a to go idle again",
        a_state.wait_for(|s| *s == SelectorState::Idle),
    )
    .await
    .unwrap();

    // Someone deletes B's lock node: B is told (cancel_on_loss(false)), returns, requeues,
    // and leads again (alone in line).
    let b_node = b.leader().await.unwrap().expect("a leader").node;
    c1.delete(&b_node, None).await.unwrap();
    assert_eq!(
        within("b to be told", reports.recv()).await,
        Some(Report::Told("b"))
    );
    assert_eq!(
        within("b to lead once more", reports.recv()).await,
        Some(Report::Started("b"))
    );
    assert!(b.has_leadership());

    // Closing ends the leadership (the future is dropped, not told) and deletes the node.
    within("b to close", b.close()).await.unwrap();
    assert_eq!(children(&c1, PATH).await, Vec::<String>::new());
    within("a to close", a.close()).await.unwrap();
    assert!(reports.try_recv().is_err(), "no leader was told of a close");
}

// ---------------------------------------------------------------------------------------------
// 4. Semaphore: Rust and Curator share the leases.
// ---------------------------------------------------------------------------------------------

/// A Rust lease is held when Curator's semaphore starts: Curator's first holder lists it (by
/// its data) and the Rust side lists Curator's. Then two Rust holders and two Curator threads
/// loop on the semaphore of 2 leases: never more than 2 holders at once, and the limit is
/// reached.
async fn rust_and_curator_share_two_leases(server: &dyn ServerUnderTest) {
    const PATH: &str = "/semaphores/shared";
    const ROUNDS: usize = 6;
    const HOLD_MS: u64 = 40;
    let program = JavaProgram::from_file("java/CuratorSemaphoreDriver.java")
        .unwrap_or_else(|e| panic!("{e}"));
    let holds: Holds = Arc::default();
    let pinner = connect(&server.connect_string()).await;
    let pinned_semaphore = Semaphore::new(&pinner, PATH, 2).unwrap().with_data("rust");
    let pinned = within("the pinned lease", pinned_semaphore.acquire())
        .await
        .unwrap();
    let pinned_hold = HoldRecorder::new("rust-pinned", &holds);
    let mut holders = Vec::new();
    for who in ["rust-1", "rust-2"] {
        let client = connect(&server.connect_string()).await;
        holders.push((who, client));
    }

    let curator = program
        .spawn(&[
            server.connect_string(),
            PATH.into(),
            "2".into(),
            "2".into(),
            ROUNDS.to_string(),
            HOLD_MS.to_string(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let first_seen = wait_line(&curator, "Curator's first lease", |l| {
        first_word(l) == "seen"
    })
    .await;
    let pinned_entry = format!("{}=rust", pinned.node_name());
    assert!(
        first_seen.split_whitespace().any(|e| e == pinned_entry),
        "Curator's listing lacks the Rust lease {pinned_entry}: {first_seen}"
    );
    eventually("a Curator lease listed by Rust", || async {
        for name in pinned_semaphore.participant_nodes().await.unwrap() {
            if let Ok((data, _)) = pinner.get_data(&format!("{PATH}/leases/{name}")).await {
                if &data[..] == b"curator" {
                    return true;
                }
            }
        }
        false
    })
    .await;
    drop(pinned_hold);
    within("the pinned release", pinned.release())
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for (who, client) in holders {
        let semaphore = Semaphore::new(&client, PATH, 2).unwrap().with_data("rust");
        let holds = holds.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let lease = within("a lease", semaphore.acquire()).await.unwrap();
                let hold = HoldRecorder::new(who, &holds);
                assert_eq!(&lease.data().await.unwrap()[..], b"rust");
                assert!(is_lease_name(lease.node_name()), "{}", lease.path());
                tokio::time::sleep(Duration::from_millis(HOLD_MS)).await;
                drop(hold);
                within("a release", lease.release()).await.unwrap();
            }
            client.close().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.expect("Rust holder task");
    }
    let stdout = finish(curator).await;
    let mut holds = holds.lock().unwrap().clone();
    holds.extend(driver_holds(&stdout, "curator"));
    assert_eq!(holds.len(), 4 * ROUNDS + 1, "Curator's output:\n{stdout}");
    assert_eq!(max_concurrent(&holds), 2, "{holds:#?}");
    for line in stdout.lines().filter(|l| first_word(l) == "seen") {
        for entry in line.split_whitespace().skip(1) {
            let (name, data) = entry.split_once('=').expect("name=data");
            assert!(is_lease_name(name), "{line}");
            assert!(data == "rust" || data == "curator", "{line}");
        }
    }
    assert_eq!(
        children(&pinner, &format!("{PATH}/leases")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        children(&pinner, &format!("{PATH}/locks")).await,
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Semaphore: timeouts, several leases, drops, a shared count.
// ---------------------------------------------------------------------------------------------

/// Rust only: `acquire_many`, a timed-out acquire leaves no node, a release or a dropped lease
/// lets a waiter in, a timed-out `acquire_many` gives back what it took, and raising a shared
/// count lets a waiter in at once.
async fn semaphore_limits_timeouts_and_shared_count(server: &dyn ServerUnderTest) {
    const PATH: &str = "/semaphores/rust";
    let c1 = connect(&server.connect_string()).await;
    let c2 = connect(&server.connect_string()).await;
    let first = Semaphore::new(&c1, PATH, 2).unwrap().with_data("one");
    let second = Semaphore::new(&c2, PATH, 2).unwrap();
    assert!(matches!(
        first.acquire_many(0).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    let mut held = within("two leases", first.acquire_many(2)).await.unwrap();
    assert_eq!(held.len(), 2);
    assert!(held[0].path().starts_with(&format!("{PATH}/leases/_c_")));
    assert_eq!(&held[1].data().await.unwrap()[..], b"one");
    assert_eq!(
        first.participant_nodes().await.unwrap(),
        held.iter()
            .map(|l| l.node_name().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        children(&c1, &format!("{PATH}/locks")).await,
        Vec::<String>::new()
    );

    // Full: a timed acquire gives up and leaves nothing behind.
    assert!(second
        .acquire_timeout(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    assert_eq!(second.participant_nodes().await.unwrap().len(), 2);

    // A waiter gets the lease a release frees.
    let waiter = {
        let second = second.clone();
        tokio::spawn(async move { second.acquire().await })
    };
    eventually("the waiter's node", || async {
        first.participant_nodes().await.unwrap().len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "a third holder");
    within("a release", held.pop().unwrap().release())
        .await
        .unwrap();
    let waited = within("the waiter", waiter).await.unwrap().unwrap();

    // A dropped lease is given back in the background: another waiter gets it.
    let waiter = {
        let second = second.clone();
        tokio::spawn(async move { second.acquire().await })
    };
    eventually("the waiter's node", || async {
        first.participant_nodes().await.unwrap().len() == 3
    })
    .await;
    drop(held.pop());
    let waited_again = within("the waiter", waiter).await.unwrap().unwrap();

    // Two holders: asking for two more within a time limit takes none for good.
    waited.release().await.unwrap();
    let before = first.participant_nodes().await.unwrap();
    assert_eq!(before.len(), 1);
    assert!(first
        .acquire_many_timeout(2, Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    assert_eq!(first.participant_nodes().await.unwrap(), before);
    Semaphore::release_all(vec![waited_again]).await.unwrap();
    assert!(first.participant_nodes().await.unwrap().is_empty());

    // The maximum from a shared count: 1, then raised to 2 while someone waits.
    let count = Arc::new(SharedCount::start(&c1, "/semaphores/max", 1).await.unwrap());
    let shared_first =
        Semaphore::with_shared_count(&c1, "/semaphores/counted", count.clone()).unwrap();
    let other_count = Arc::new(SharedCount::start(&c2, "/semaphores/max", 7).await.unwrap());
    assert_eq!(
        other_count.get().unwrap().value,
        1,
        "the seed of an existing count is unused"
    );
    let shared_second =
        Semaphore::with_shared_count(&c2, "/semaphores/counted", other_count).unwrap();
    let only = within("the one lease", shared_first.acquire())
        .await
        .unwrap();
    let waiter = tokio::spawn(async move { shared_second.acquire().await });
    eventually("the waiter's node", || async {
        shared_first.participant_nodes().await.unwrap().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "two holders with one lease");
    count.set(2).await.unwrap();
    let second_lease = within("the raised count to let the waiter in", waiter)
        .await
        .unwrap()
        .unwrap();
    Semaphore::release_all(vec![only, second_lease])
        .await
        .unwrap();
    assert!(shared_first.participant_nodes().await.unwrap().is_empty());
}

interop_tests::against_both_servers! {
    rust_and_curator_selectors_take_turns,
    paused_leader_loses_to_curator,
    selector_requeue_interrupt_and_lost_node,
    rust_and_curator_share_two_leases,
    semaphore_limits_timeouts_and_shared_count,
}

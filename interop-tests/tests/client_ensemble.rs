//! zk-client failing over across a 3-member Java ZooKeeper 3.8 ensemble.
//!
//! 1. The member the client is connected to is killed: the client reports `Disconnected`, then
//!    `Connected` with the same session on another member; its ephemeral survives (seen by
//!    another client) and its data watch and persistent recursive watch fire for changes made
//!    after the failover.
//! 2. A second member is killed: the last one loses the quorum and drops its clients. The
//!    client must stay `Disconnected` (no panic, no bogus reconnect), and a request made meanwhile
//!    must fail with `ConnectionLoss` as the Java client's does (a Java client,
//!    `java/QuorumLossProbe.java`, goes through the same outage on the same member as the
//!    reference). The member is restarted well within the session timeout, so the session must
//!    come back (Java's probe must say the same); a new leader also gives every session a fresh
//!    timeout, so recovery is the only correct outcome here.
//!
//! Every wait is bounded.

use std::future::Future;
use std::time::{Duration, Instant};

use interop_tests::{JavaEnsemble, JavaProgram};
use zk_client::{Client, CreateOptions, ErrorKind, PersistentWatcher, SessionState, WatchedEvent};
use zk_proto::{AddWatchMode, EventType, KeeperState};

/// Session timeout of the client under test (the server grants 4 s ..= 40 s with tickTime 2 s).
/// Longer than the whole quorum outage below, so the session must survive it.
const SESSION_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on any single wait of the test.
const WAIT: Duration = Duration::from_secs(30);
/// How long a request made without a quorum may take to fail (Java: about one connect attempt,
/// ~1 s).
const CONNECTION_LOSS_WITHIN: Duration = Duration::from_secs(5);

async fn within<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

/// The next state change, within [`WAIT`].
async fn next_state(states: &mut zk_client::EventStream<SessionState>, what: &str) -> SessionState {
    within(what, WAIT, states.next())
        .await
        .unwrap_or_else(|| panic!("state stream ended while waiting for {what}"))
}

/// The next node event of a persistent watch after the client reconnected, checking the
/// connection markers before it: a `Disconnected`, then (maybe after more of both) the resync
/// marker.
async fn node_event_after_markers(watch: &mut PersistentWatcher, what: &str) -> WatchedEvent {
    let mut markers = Vec::new();
    loop {
        let e = within(what, WAIT, watch.next())
            .await
            .expect("persistent watch stream open");
        if e.event_type != EventType::None {
            assert_eq!(
                markers.first(),
                Some(&KeeperState::Disconnected),
                "{markers:?}"
            );
            assert_eq!(
                markers.last(),
                Some(&KeeperState::SyncConnected),
                "{markers:?}"
            );
            return e;
        }
        markers.push(e.state);
    }
}

/// The member whose `cons` lists `session_id`, polling for up to 10 s (a stopped member does not
/// answer and is skipped).
fn member_serving(ensemble: &JavaEnsemble, session_id: i64) -> Option<u32> {
    let needle = format!("sid=0x{session_id:x},");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = ensemble.members().iter().find_map(|m| {
            m.four_letter_word("cons")
                .ok()
                .filter(|cons| cons.contains(&needle))
                .and(m.myid())
        });
        if found.is_some() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connect string naming only the members `ids`.
fn connect_string(ensemble: &JavaEnsemble, ids: &[u32]) -> String {
    ids.iter()
        .map(|&id| ensemble.member(id).connect_string())
        .collect::<Vec<_>>()
        .join(",")
}

async fn checker(connect: &str) -> Client {
    within(
        "a checking client to connect",
        WAIT,
        Client::builder(connect)
            .session_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .expect("connect the checking client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_keeps_the_session_and_its_watches() {
    let started = Instant::now();
    let probe = tokio::task::spawn_blocking(|| JavaProgram::from_file("java/QuorumLossProbe.java"));
    let mut ensemble = tokio::task::spawn_blocking(|| JavaEnsemble::start(3))
        .await
        .expect("ensemble start task")
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = probe
        .await
        .expect("compile task")
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "ensemble up after {} ms, leader {:?}",
        started.elapsed().as_millis(),
        ensemble.leader()
    );
    // Problems found along the way that do not stop the scenario; asserted at the end.
    let mut problems: Vec<String> = Vec::new();

    let zk = within(
        "connect",
        WAIT,
        Client::builder(ensemble.connect_string())
            .session_timeout(SESSION_TIMEOUT)
            .connect(),
    )
    .await
    .expect("connect to the ensemble");
    let session = zk.session().session_id;
    assert_eq!(
        zk.session().negotiated_timeout_ms,
        SESSION_TIMEOUT.as_millis() as i32
    );
    let mut states = zk.state_changes();
    let persistent = CreateOptions::persistent();
    zk.create("/data", b"0", &persistent).await.unwrap();
    zk.create("/tree", b"", &persistent).await.unwrap();
    zk.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, _, data_watch) = zk.get_data_watch("/data").await.unwrap();
    let mut recursive = zk
        .add_watch("/tree", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    // --- 1. Kill the member the client is connected to. ---
    let first = tokio::task::block_in_place(|| member_serving(&ensemble, session))
        .unwrap_or_else(|| panic!("no member lists session {session:#x} in `cons`"));
    let leader = ensemble.leader();
    eprintln!(
        "client on server.{first} (leader: {leader:?}); killing it at {} ms",
        started.elapsed().as_millis()
    );
    tokio::task::block_in_place(|| ensemble.member_mut(first).stop()).expect("stop member");
    assert_eq!(
        next_state(&mut states, "Disconnected after the kill").await,
        SessionState::Disconnected
    );
    let t_lost = Instant::now();
    assert_eq!(
        next_state(&mut states, "Connected after failover").await,
        SessionState::Connected
    );
    eprintln!(
        "failover took {} ms (leader was {})",
        t_lost.elapsed().as_millis(),
        if leader == Some(first) {
            "the killed member: election"
        } else {
            "another member"
        }
    );
    assert_eq!(
        zk.session().session_id,
        session,
        "the same session after failover"
    );
    let survivors: Vec<u32> = (1..=3).filter(|&id| id != first).collect();
    let check = checker(&connect_string(&ensemble, &survivors)).await;
    let eph = within("exists /eph", WAIT, check.exists("/eph"))
        .await
        .unwrap()
        .expect("the ephemeral survives the failover");
    assert_eq!(eph.ephemeral_owner, session);
    check.set_data("/data", b"1", None).await.unwrap();
    check.create("/tree/a", b"", &persistent).await.unwrap();
    let e = within("data watch after failover", WAIT, data_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/data")
    );
    let e = node_event_after_markers(&mut recursive, "recursive watch after failover").await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/tree/a")
    );
    within("close checker", WAIT, check.close()).await.unwrap();

    // --- 2. Kill a second member: the quorum is lost. ---
    // The client stays on its member `on`; the other live member is killed, so `on` keeps
    // running without a quorum and drops its clients (at once as a follower, within a tick or
    // two as a leader).
    let on = tokio::task::block_in_place(|| member_serving(&ensemble, session))
        .unwrap_or_else(|| panic!("no member lists session {session:#x} after failover"));
    let second = *survivors
        .iter()
        .find(|&&id| id != on)
        .expect("two members left");
    let (_, _, data_watch) = zk.get_data_watch("/data").await.unwrap();
    // The Java reference client on the same member, through the same outage.
    let probe_connect = ensemble.member(on).connect_string();
    let probe_timeout = SESSION_TIMEOUT.as_millis().to_string();
    let mut probe = tokio::task::block_in_place(|| {
        let mut run = probe
            .spawn(&[probe_connect.as_str(), probe_timeout.as_str()])
            .unwrap_or_else(|e| panic!("{e}"));
        run.wait_for_stdout("connected 0x", WAIT)
            .unwrap_or_else(|e| panic!("{e}"));
        run
    });
    eprintln!(
        "client on server.{on}; killing server.{second} at {} ms (quorum lost)",
        started.elapsed().as_millis()
    );
    tokio::task::block_in_place(|| ensemble.member_mut(second).stop()).expect("stop member");
    let outage = Instant::now();
    assert_eq!(
        next_state(&mut states, "Disconnected after losing the quorum").await,
        SessionState::Disconnected
    );
    eprintln!(
        "disconnected {} ms after the quorum was lost",
        outage.elapsed().as_millis()
    );
    // A request without a quorum: Java fails it with ConnectionLoss at the next failed connect
    // attempt. Run it as a task so that the scenario goes on even if it hangs.
    let asked = Instant::now();
    let pending = tokio::spawn(zk.exists("/"));
    let mut pending = Some(pending);
    let ours = match tokio::time::timeout(CONNECTION_LOSS_WITHIN, pending.as_mut().unwrap()).await {
        Ok(result) => {
            pending = None;
            let result = result.expect("exists task");
            eprintln!(
                "zk-client: exists without quorum -> {result:?} after {} ms",
                asked.elapsed().as_millis()
            );
            (!matches!(&result, Err(e) if *e == ErrorKind::ConnectionLoss))
                .then(|| format!("returned {result:?}"))
        }
        Err(_) => Some(format!(
            "did not return within {CONNECTION_LOSS_WITHIN:?} (zk-client holds requests made \
             while Disconnected until a server is back)"
        )),
    };
    let java_outage = tokio::task::block_in_place(|| {
        probe
            .wait_for_stdout("exists during outage:", WAIT)
            .map(|()| probe.stdout_so_far())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let java_outage = java_outage
        .lines()
        .find(|l| l.starts_with("exists during outage:"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("Java probe: {java_outage}");
    assert!(
        java_outage.starts_with("exists during outage: CONNECTIONLOSS"),
        "the Java client's reference behaviour: {java_outage}"
    );
    if let Some(ours) = ours {
        problems.push(format!(
            "exists(\"/\") made while Disconnected because the quorum was lost {ours}; the Java \
             client on the same member fails it with ConnectionLoss at its next failed connect \
             attempt (probe: \"{java_outage}\")"
        ));
    }
    // Still disconnected: nothing answered as if the session were usable.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(zk.state(), SessionState::Disconnected);
    if let Some(state) = states.try_next() {
        panic!("no state change expected while the quorum is lost, got {state:?}");
    }

    // --- 3. Restart it: the quorum is back, and so is the session. ---
    eprintln!(
        "restarting server.{second} at {} ms ({} ms into the outage)",
        started.elapsed().as_millis(),
        outage.elapsed().as_millis()
    );
    tokio::task::block_in_place(|| ensemble.member_mut(second).restart())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next_state(&mut states, "Connected after the quorum is back").await,
        SessionState::Connected
    );
    let outage_ms = outage.elapsed().as_millis();
    eprintln!("reconnected after an outage of {outage_ms} ms");
    assert!(
        outage.elapsed() < SESSION_TIMEOUT,
        "the outage ({outage_ms} ms) must stay below the session timeout for a deterministic \
         outcome"
    );
    assert_eq!(
        zk.session().session_id,
        session,
        "the session survives a quorum outage shorter than its timeout"
    );
    let probe_out = tokio::task::block_in_place(|| probe.wait_timeout(WAIT))
        .and_then(|out| out.expect_success())
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("Java probe:\n{}", probe_out.stdout.trim_end());
    assert!(
        probe_out.stdout.contains("recovered same session")
            && probe_out.stdout.contains("exists after recovery: OK"),
        "the Java client recovers its session too:\n{}",
        probe_out.stdout
    );
    if let Some(task) = pending {
        let result = within("the request made during the outage", WAIT, task)
            .await
            .expect("exists task");
        eprintln!(
            "zk-client: the exists made during the outage finally returned {result:?} after {} ms",
            asked.elapsed().as_millis()
        );
    }
    let check = checker(&connect_string(&ensemble, &survivors)).await;
    let eph = within("exists /eph", WAIT, check.exists("/eph"))
        .await
        .unwrap()
        .expect("the ephemeral survives the quorum outage");
    assert_eq!(eph.ephemeral_owner, session);
    check.set_data("/data", b"2", None).await.unwrap();
    check.create("/tree/b", b"", &persistent).await.unwrap();
    let e = within("data watch after the outage", WAIT, data_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/data")
    );
    let e = node_event_after_markers(&mut recursive, "recursive watch after the outage").await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/tree/b")
    );
    assert_eq!(
        recursive.try_next(),
        None,
        "no other event reached the recursive watch"
    );
    let (data, _) = within("getData", WAIT, zk.get_data("/data")).await.unwrap();
    assert_eq!(&data[..], b"2");
    within("close", WAIT, zk.close()).await.unwrap();
    let gone = within("exists /eph after close", WAIT, check.exists("/eph"))
        .await
        .unwrap();
    assert!(gone.is_none(), "closing the session removes its ephemeral");
    within("close checker", WAIT, check.close()).await.unwrap();
    eprintln!("scenario done in {} ms", started.elapsed().as_millis());
    assert!(
        problems.is_empty(),
        "zk-client differs from the Java client:\n- {}",
        problems.join("\n- ")
    );
}

//! The session supervisor (`zk_client::Supervisor`) and what it re-establishes, against both
//! servers: a session lost to a proxy cut longer than the session timeout, and one ended from
//! elsewhere (the server answers `SessionExpired`), each followed by a new session in which the
//! group member, the persistent node and the supervised watch are back; and Curator's
//! `GroupMember` (`java/CuratorGroupMember.java`) sharing a group with ours.
//!
//! Every test runs in module `zk_rs` (zk-server in-process) and `java_server` (the real one).

use std::time::Duration;

use interop_tests::{JavaProgram, PausableProxy, ServerUnderTest};
use zk_client::recipes::group::{GroupMember, Members, PersistentNode};
use zk_client::recipes::leader::{LatchState, SupervisedLatch};
use zk_client::{
    AddWatchMode, Client, ConnectionState, CreateOptions, EventStream, EventType, Supervisor,
};

/// The session timeout the supervised clients ask for: the servers' minimum (2 ticks of 2 s).
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// Limit for anything that should happen promptly.
const EVENT_WAIT: Duration = Duration::from_secs(15);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn supervised(connect_string: &str) -> Supervisor {
    Client::builder(connect_string)
        .session_timeout(SESSION_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .supervised()
}

async fn plain(server: &dyn ServerUnderTest) -> Client {
    Client::builder(server.connect_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

/// Ends `victim`'s session on the server from a second connection (re-attached with its id
/// and password, then closed): on its next reconnect the server answers SessionExpired.
async fn end_session_from_elsewhere(server: &dyn ServerUnderTest, victim: &Client) {
    let info = victim.session();
    let killer = Client::builder(server.connect_string())
        .resume_session(info.session_id, info.password.clone())
        .connect()
        .await
        .expect("re-attach to the session");
    killer.close().await.expect("close the session");
}

/// Reads states until `wanted`; panics on anything not in `allowed` on the way.
async fn expect_state(
    states: &mut EventStream<ConnectionState>,
    wanted: ConnectionState,
    allowed: &[ConnectionState],
) {
    within(&format!("{wanted:?}"), async {
        loop {
            let state = states.next().await.expect("the state stream ended");
            if state == wanted {
                return;
            }
            assert!(
                allowed.contains(&state),
                "{state:?} while waiting for {wanted:?}"
            );
        }
    })
    .await
}

/// Waits until the membership seen by `member` is exactly `expected` (id=payload pairs).
async fn expect_members(member: &GroupMember, expected: &[(&str, &str)]) {
    let wanted: Members = expected
        .iter()
        .map(|(id, payload)| (id.to_string(), payload.as_bytes().to_vec().into()))
        .collect();
    let mut changes = member.changes();
    within(&format!("members {expected:?}"), async {
        while let Some(now) = changes.next().await {
            if *now == wanted {
                return;
            }
        }
        panic!("the membership stream ended");
    })
    .await
}

/// The session id owning an ephemeral node.
async fn owner(client: &Client, path: &str) -> Option<i64> {
    client
        .exists(path)
        .await
        .expect("exists")
        .map(|stat| stat.ephemeral_owner)
}

/// A supervised member behind a proxy: the proxy is cut past the session timeout, the
/// supervisor reports Suspended then Lost, the other member sees it leave (the server expired
/// the session) and, once the proxy forwards again, Reconnected in session 2 with the member
/// back (owned by the new session), the persistent node back, and the supervised watch
/// carrying a resync marker (a change made in between is not replayed) and then new events.
async fn a_session_lost_to_a_cut_is_replaced_and_rebuilt(server: &dyn ServerUnderTest) {
    let proxy = PausableProxy::start(server.addr()).expect("proxy");
    let observer = plain(server).await;
    observer.ensure_path("/cfg").await.expect("ensure /cfg");

    let cut_off = supervised(&proxy.connect_string());
    let mut states = cut_off.states();
    let mut sessions = cut_off.sessions();
    expect_state(&mut states, ConnectionState::Connected, &[]).await;
    let first = within("session 1", sessions.next()).await.expect("session");
    assert_eq!(first.generation, 1);
    let a = GroupMember::join(&cut_off, "/svc", "a", b"pa").expect("join a");
    let flag = PersistentNode::start(&cut_off, "/flags/a", b"up", CreateOptions::ephemeral());
    let mut watch = cut_off.add_watch("/cfg", AddWatchMode::PersistentRecursive);
    within("a joined", a.wait_joined()).await.expect("a joined");
    within("flag created", flag.wait_created())
        .await
        .expect("flag");

    let steady = supervised(&server.connect_string());
    let b = GroupMember::join(&steady, "/svc", "b", b"pb").expect("join b");
    expect_members(&b, &[("a", "pa"), ("b", "pb")]).await;
    expect_members(&a, &[("a", "pa"), ("b", "pb")]).await;
    // The watch is registered once an event arrives through it.
    observer
        .create("/cfg/before", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let event = within("event before the cut", watch.next())
        .await
        .expect("watch");
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (EventType::NodeCreated, "/cfg/before")
    );

    proxy.pause();
    expect_state(&mut states, ConnectionState::Suspended, &[]).await;
    expect_state(&mut states, ConnectionState::Lost, &[]).await;
    assert!(cut_off.current().is_none(), "no live session after Lost");
    // The server expires the old session too: a is gone for b.
    expect_members(&b, &[("b", "pb")]).await;
    observer
        .create("/cfg/missed", b"", &CreateOptions::persistent())
        .await
        .unwrap();

    proxy.resume();
    expect_state(&mut states, ConnectionState::Reconnected, &[]).await;
    let second = within("session 2", sessions.next()).await.expect("session");
    assert_eq!(second.generation, 2);
    assert_ne!(
        second.client.session().session_id,
        first.client.session().session_id
    );
    expect_members(&b, &[("a", "pa"), ("b", "pb")]).await;
    expect_members(&a, &[("a", "pa"), ("b", "pb")]).await;
    within("flag again", async {
        while owner(&observer, "/flags/a").await != Some(second.client.session().session_id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        owner(&observer, "/svc/a").await,
        Some(second.client.session().session_id)
    );

    // Events of the first session may still be queued (its Disconnected); then the marker.
    within("resync marker", async {
        loop {
            let event = watch.next().await.expect("watch ended");
            assert_ne!(
                event.path, "/cfg/missed",
                "the missed change cannot be replayed"
            );
            if event.is_resync() {
                return;
            }
            assert_eq!(event.event_type, EventType::None, "{event:?}");
        }
    })
    .await;
    observer
        .create("/cfg/after", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let event = within("event after", watch.next()).await.expect("watch");
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (EventType::NodeCreated, "/cfg/after")
    );

    // The payload follows set_payload; leaving deletes the node for good.
    a.set_payload(b"pa2");
    expect_members(&b, &[("a", "pa2"), ("b", "pb")]).await;
    a.leave().await.expect("leave");
    expect_members(&b, &[("b", "pb")]).await;
    flag.close().await.expect("close flag");
    assert_eq!(owner(&observer, "/flags/a").await, None);
    cut_off.close().await;
    assert_eq!(
        cut_off.ended().map(zk_client::Error::into_kind),
        Some(zk_client::ErrorKind::Closed)
    );
    assert!(
        within("states end", states.next()).await.is_none(),
        "the state stream ends on close"
    );
}

/// A session ended on the server from a second connection while the supervised one was cut:
/// on its reconnect the supervisor hears Expired, reports Lost at once (well within the
/// session timeout) and rebuilds in a new session. A persistent
/// node deleted by someone else is put back with its current data.
async fn an_expired_session_is_replaced_at_once(server: &dyn ServerUnderTest) {
    let observer = plain(server).await;
    let proxy = PausableProxy::start(server.addr()).expect("proxy");
    let supervisor = supervised(&proxy.connect_string());
    let mut states = supervisor.states();
    expect_state(&mut states, ConnectionState::Connected, &[]).await;
    let node = PersistentNode::start(&supervisor, "/kept/n", b"v1", CreateOptions::ephemeral());
    within("created", node.wait_created())
        .await
        .expect("created");

    // Deleted by someone else: created again.
    observer.delete("/kept/n", None).await.expect("delete");
    node.set_data(b"v2");
    within("re-created with v2", async {
        loop {
            if let Ok((data, _)) = observer.get_data("/kept/n").await {
                if &data[..] == b"v2" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // Cut the supervised connection, end its session from a direct one, then let it back:
    // the server answers its reconnect with SessionExpired.
    let victim = supervisor.current().expect("live session");
    let info = victim.session();
    let cut_at = std::time::Instant::now();
    proxy.pause();
    expect_state(&mut states, ConnectionState::Suspended, &[]).await;
    end_session_from_elsewhere(server, &victim).await;
    proxy.resume();
    expect_state(&mut states, ConnectionState::Lost, &[]).await;
    assert!(
        cut_at.elapsed() < SESSION_TIMEOUT,
        "Lost after {:?}: the expiry was not heard",
        cut_at.elapsed()
    );
    expect_state(&mut states, ConnectionState::Reconnected, &[]).await;
    let client = supervisor.client().await.expect("new session");
    assert_ne!(client.session().session_id, info.session_id);
    within("node back in the new session", async {
        while owner(&observer, "/kept/n").await != Some(client.session().session_id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(&observer.get_data("/kept/n").await.unwrap().0[..], b"v2");
}

/// Two supervised latches: the leader's session is ended from elsewhere while its connection
/// is cut; the other takes over, and the first, once through, joins again in its new session
/// behind it (Leader, Suspended, Starting, Waiting); closing the new leader hands leadership
/// back, and closing the first leaves no node.
async fn a_supervised_latch_joins_again_in_the_next_session(server: &dyn ServerUnderTest) {
    const PATH: &str = "/elections/supervised";
    let observer = plain(server).await;
    let proxy = PausableProxy::start(server.addr()).expect("proxy");
    let cut_off = supervised(&proxy.connect_string());
    let steady = supervised(&server.connect_string());
    let first = SupervisedLatch::start(&cut_off, PATH, "first").expect("first latch");
    within("first leads", first.wait_leader())
        .await
        .expect("first leads");
    let second = SupervisedLatch::start(&steady, PATH, "second").expect("second latch");
    let mut second_changes = second.changes();
    within("second waits", async {
        while second_changes.next().await != Some(LatchState::Waiting) {}
    })
    .await;
    let mut first_changes = first.changes();
    assert_eq!(first_changes.next().await, Some(LatchState::Leader));

    let victim = cut_off.current().expect("live session");
    let info = victim.session();
    proxy.pause();
    end_session_from_elsewhere(server, &victim).await;
    within("second leads", second.wait_leader())
        .await
        .expect("second leads");
    proxy.resume();
    let mut seen = Vec::new();
    within("first waits in its new session", async {
        while seen.last() != Some(&LatchState::Waiting) {
            seen.push(first_changes.next().await.expect("first's changes ended"));
        }
    })
    .await;
    assert_eq!(
        seen,
        [
            LatchState::Suspended,
            LatchState::Starting,
            LatchState::Waiting
        ]
    );
    let new_session = cut_off.client().await.expect("new session");
    assert_ne!(new_session.session().session_id, info.session_id);
    let line: Vec<(String, bool)> = first
        .participants()
        .await
        .expect("participants")
        .into_iter()
        .map(|p| (p.id, p.is_leader))
        .collect();
    assert_eq!(line, [("second".into(), true), ("first".into(), false)]);

    let mut second_after = second.changes();
    second.close().await;
    let mut last = None;
    while let Some(state) = second_after.next().await {
        last = Some(state);
    }
    assert_eq!(last, Some(LatchState::Closed));
    within("first leads again", first.wait_leader())
        .await
        .expect("first leads again");
    first.close().await;
    let left = observer.get_children(PATH).await.unwrap_or_default();
    assert!(left.is_empty(), "nodes left: {left:?}");
}

/// Curator's GroupMember and ours in one group: each sees the other's id and payload, and a
/// Curator member leaving is seen leave.
async fn rust_and_curator_members_share_a_group(server: &dyn ServerUnderTest) {
    let driver =
        JavaProgram::from_file("java/CuratorGroupMember.java").unwrap_or_else(|e| panic!("{e}"));
    let supervisor = supervised(&server.connect_string());
    let rust = GroupMember::join(&supervisor, "/group", "rust-1", b"r").expect("join");
    let java = driver
        .spawn(&[
            server.connect_string().as_str(),
            "/group",
            "java-1",
            "j",
            "/group-close",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    expect_members(&rust, &[("java-1", "j"), ("rust-1", "r")]).await;
    java.stdout_line("Curator sees both", EVENT_WAIT, |line| {
        line == "members java-1=j,rust-1=r"
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let observer = plain(server).await;
    observer
        .create("/group-close", b"", &CreateOptions::persistent())
        .await
        .expect("signal");
    java.stdout_line("Curator closed", EVENT_WAIT, |line| line == "closed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    expect_members(&rust, &[("rust-1", "r")]).await;
}

interop_tests::against_both_servers! {
    a_session_lost_to_a_cut_is_replaced_and_rebuilt,
    an_expired_session_is_replaced_at_once,
    a_supervised_latch_joins_again_in_the_next_session,
    rust_and_curator_members_share_a_group,
}

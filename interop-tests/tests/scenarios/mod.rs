//! Client scenarios run against both servers (Java's and ours): each function gets a started
//! server and checks what a ZooKeeper user would see. `client_java.rs` runs them against the
//! Java 3.8 server, `server_zk_rs.rs` against zk-server, so both must behave alike.

#![allow(dead_code)]

use std::time::Duration;

use interop_tests::ServerUnderTest;
use zk_client::{Client, CreateOptions, ErrorKind, Op, OpResult, ReadOp, ReadResult, SessionState};
use zk_proto::data::{Acl, Id};
use zk_proto::{perms, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, WatcherType};

/// Bound on waiting for any single event in these tests.
pub const EVENT_WAIT: Duration = Duration::from_secs(20);

pub async fn connect(connect_string: &str) -> Client {
    Client::builder(connect_string)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect to the server")
}

pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub async fn every_operation_and_its_errors(server: &dyn ServerUnderTest) {
    let zk = connect(&server.connect_string()).await;
    let session_id = zk.session().session_id;
    assert_eq!(
        session_id as u64 >> 56,
        1,
        "standalone sessions carry server id 1"
    );

    // Creates in every mode, with Stats as Java's create2 reports them.
    let (path, stat) = zk
        .create("/a", b"root", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(path, "/a");
    assert_eq!(
        (stat.version, stat.num_children, stat.data_length),
        (0, 0, 4)
    );
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.czxid, stat.pzxid);
    let (eph, stat) = zk
        .create("/a/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(eph, "/a/eph");
    assert_eq!(stat.ephemeral_owner, session_id);
    let (seq, _) = zk
        .create(
            "/a/seq-",
            b"s",
            &CreateOptions::new(CreateMode::PersistentSequential),
        )
        .await
        .unwrap();
    assert_eq!(
        seq, "/a/seq-0000000001",
        "suffix is the parent's child-create count"
    );
    let (eseq, _) = zk
        .create(
            "/a/eseq-",
            b"",
            &CreateOptions::new(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(eseq, "/a/eseq-0000000002");
    let (_, cstat) = zk
        .create("/box", b"c", &CreateOptions::new(CreateMode::Container))
        .await
        .unwrap();
    assert_eq!(
        cstat.ephemeral_owner, 0,
        "containers show owner 0 to clients"
    );
    let (_, tstat) = zk
        .create(
            "/ttl",
            b"t",
            &CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(3_600_000),
        )
        .await
        .unwrap();
    assert_eq!(
        tstat.ephemeral_owner, 0,
        "TTL nodes show owner 0 to clients"
    );
    let (ttl_seq, _) = zk
        .create(
            "/ttls-",
            b"",
            &CreateOptions::new(CreateMode::PersistentSequentialWithTtl).with_ttl(60_000),
        )
        .await
        .unwrap();
    assert!(ttl_seq.starts_with("/ttls-00000"), "{ttl_seq}");

    // Errors of create.
    assert_eq!(
        zk.create("/a", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NodeExists
    );
    assert_eq!(
        zk.create("/nope/x", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NoNode
    );
    assert_eq!(
        zk.create("/a/eph/kid", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NoChildrenForEphemerals
    );
    assert_eq!(
        zk.create(
            "/auth-acl",
            b"",
            &CreateOptions::persistent().with_acl(Acl::creator_all())
        )
        .await
        .unwrap_err(),
        ErrorKind::InvalidAcl,
        "auth: without any authenticated id"
    );
    assert!(
        matches!(
            zk.create(
                "/t0",
                b"",
                &CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(0)
            )
            .await
            .unwrap_err()
            .kind(),
            ErrorKind::InvalidArgument(_)
        ),
        "TTL 0 is out of range: refused before sending, as Java does"
    );
    assert!(matches!(
        zk.create("/bad//path", b"", &CreateOptions::persistent())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidPath(_)
    ));

    // Reads.
    let (data, stat) = zk.get_data("/a").await.unwrap();
    assert_eq!(&data[..], b"root");
    assert_eq!(stat.num_children, 3);
    assert_eq!(stat.cversion, 3, "three child creates");
    assert_eq!(
        zk.get_data("/missing").await.unwrap_err(),
        ErrorKind::NoNode
    );
    assert_eq!(zk.exists("/missing").await.unwrap(), None);
    assert_eq!(zk.exists("/a").await.unwrap().unwrap(), stat);
    let mut children = zk.get_children("/a").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["eph", "eseq-0000000002", "seq-0000000001"]);
    let (_, stat2) = zk.get_children_with_stat("/a").await.unwrap();
    assert_eq!(stat2, stat);
    assert_eq!(zk.get_all_children_number("/a").await.unwrap(), 3);
    let mut ephemerals = zk.get_ephemerals("/").await.unwrap();
    ephemerals.sort();
    assert_eq!(ephemerals, vec!["/a/eph", "/a/eseq-0000000002"]);
    assert_eq!(
        zk.get_ephemerals("/a/es").await.unwrap(),
        vec!["/a/eseq-0000000002"]
    );

    // setData with versions.
    let stat = zk.set_data("/a", b"v1", Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    assert_eq!(
        zk.set_data("/a", b"v2", Some(7)).await.unwrap_err(),
        ErrorKind::BadVersion
    );
    assert_eq!(
        zk.set_data("/missing", b"", None).await.unwrap_err(),
        ErrorKind::NoNode
    );
    assert_eq!(zk.set_data("/a", b"v2", None).await.unwrap().version, 2);

    // Deletes.
    assert_eq!(
        zk.delete("/a", None).await.unwrap_err(),
        ErrorKind::NotEmpty
    );
    assert_eq!(
        zk.delete(&seq, Some(5)).await.unwrap_err(),
        ErrorKind::BadVersion
    );
    zk.delete(&seq, Some(0)).await.unwrap();
    assert_eq!(zk.delete(&seq, None).await.unwrap_err(), ErrorKind::NoNode);
    let (_, stat) = zk.get_children_with_stat("/a").await.unwrap();
    assert_eq!(
        stat.cversion, 4,
        "client cversion counts creates and deletes"
    );

    // ACLs.
    let (acl, _) = zk.get_acl("/a").await.unwrap();
    assert_eq!(acl, Acl::open_unsafe());
    let read_admin = vec![Acl::new(perms::READ | perms::ADMIN, Id::anyone())];
    let stat = zk.set_acl("/a", read_admin.clone(), Some(0)).await.unwrap();
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        zk.set_acl("/a", read_admin.clone(), Some(0))
            .await
            .unwrap_err(),
        ErrorKind::BadVersion
    );
    // Without ADMIN, setACL fails on the ACL check before the version is looked at.
    let read_only = vec![Acl::new(perms::READ, Id::anyone())];
    zk.set_acl("/a", read_only.clone(), Some(1)).await.unwrap();
    assert_eq!(
        zk.set_acl("/a", read_only.clone(), Some(7))
            .await
            .unwrap_err(),
        ErrorKind::NoAuth
    );
    assert_eq!(
        zk.set_data("/a", b"x", None).await.unwrap_err(),
        ErrorKind::NoAuth
    );
    assert_eq!(
        zk.set_acl("/a", Acl::open_unsafe(), None)
            .await
            .unwrap_err(),
        ErrorKind::NoAuth
    );

    // Multi: all or nothing.
    let results = zk
        .multi(vec![
            Op::Create {
                path: "/m".into(),
                data: b"1".to_vec().into(),
                options: CreateOptions::persistent(),
            },
            Op::SetData {
                path: "/m".into(),
                data: b"2".to_vec().into(),
                version: Some(0),
            },
            Op::Check {
                path: "/m".into(),
                version: 1,
            },
            Op::Create {
                path: "/mbox".into(),
                data: vec![].into(),
                options: CreateOptions::new(CreateMode::Container),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        results[0],
        OpResult::Create {
            path: "/m".into(),
            stat: None
        }
    );
    assert!(matches!(&results[1], OpResult::SetData(s) if s.version == 1));
    assert_eq!(results[2], OpResult::Check);
    assert!(matches!(&results[3], OpResult::Create { path, stat: Some(_) } if path == "/mbox"));
    let failed = zk
        .multi(vec![
            Op::Create {
                path: "/m2".into(),
                data: vec![].into(),
                options: CreateOptions::persistent(),
            },
            Op::Delete {
                path: "/missing".into(),
                version: None,
            },
            Op::SetData {
                path: "/m".into(),
                data: vec![].into(),
                version: None,
            },
        ])
        .await
        .unwrap_err();
    assert_eq!(
        failed,
        ErrorKind::MultiFailed {
            index: 1,
            code: ErrorCode::NoNode,
            results: vec![
                ErrorCode::Ok,
                ErrorCode::NoNode,
                ErrorCode::RuntimeInconsistency
            ],
        }
    );
    assert_eq!(failed.path(), Some("/missing"), "the failing op's path");
    assert_eq!(
        zk.exists("/m2").await.unwrap(),
        None,
        "nothing of a failed multi is applied"
    );
    let reads = zk
        .multi_read(vec![
            ReadOp::GetData("/m".into()),
            ReadOp::GetChildren("/a".into()),
            ReadOp::GetData("/missing".into()),
        ])
        .await
        .unwrap();
    assert!(matches!(&reads[0], ReadResult::Data(d, s) if &d[..] == b"2" && s.version == 1));
    assert!(matches!(&reads[1], ReadResult::Children(c) if c.len() == 2));
    assert!(
        matches!(&reads[2], ReadResult::Error(e) if *e == ErrorKind::NoNode && e.path() == Some("/missing")),
        "{:?}",
        reads[2]
    );

    // sync, whoAmI, getConfig.
    zk.sync("/a").await.unwrap();
    let who = zk.who_am_i().await.unwrap();
    assert_eq!(who.len(), 1);
    assert_eq!(
        (who[0].auth_scheme.as_str(), who[0].user.as_str()),
        ("ip", "127.0.0.1")
    );
    let (config, _) = zk.get_config().await.unwrap();
    assert!(config.is_empty(), "standalone has an empty dynamic config");

    zk.close().await.unwrap();
    assert_eq!(zk.state(), SessionState::Closed);
    assert_eq!(zk.get_data("/a").await.unwrap_err(), ErrorKind::Closed);
    let other = connect(&server.connect_string()).await;
    assert_eq!(
        other.exists("/a/eph").await.unwrap(),
        None,
        "close removes ephemerals"
    );
}

pub async fn ttl_is_unimplemented_without_extended_types(server: &dyn ServerUnderTest) {
    let zk = connect(&server.connect_string()).await;
    let err = zk
        .create(
            "/t",
            b"",
            &CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(1000),
        )
        .await
        .unwrap_err();
    assert_eq!(err, ErrorKind::Unimplemented);
}

pub async fn digest_auth_and_acls(server: &dyn ServerUnderTest) {
    let alice = Client::builder(server.connect_string())
        .auth("digest", b"alice:secret".to_vec())
        .connect()
        .await
        .unwrap();
    alice
        .create(
            "/private",
            b"s",
            &CreateOptions::persistent().with_acl(Acl::creator_all()),
        )
        .await
        .unwrap();
    let (acl, _) = alice.get_acl("/private").await.unwrap();
    assert_eq!(
        acl,
        vec![Acl::new(
            perms::ALL,
            Id::new("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")
        )]
    );
    let who = alice.who_am_i().await.unwrap();
    assert!(
        who.iter()
            .any(|c| c.auth_scheme == "digest" && c.user == "alice"),
        "{who:?}"
    );

    let bob = connect(&server.connect_string()).await;
    assert_eq!(
        bob.get_data("/private").await.unwrap_err(),
        ErrorKind::NoAuth
    );
    bob.add_auth("digest", b"alice:secret".to_vec())
        .await
        .unwrap();
    assert_eq!(&bob.get_data("/private").await.unwrap().0[..], b"s");

    let mallory = Client::builder(server.connect_string())
        .connect()
        .await
        .unwrap();
    let mut states = mallory.state_changes();
    assert_eq!(
        mallory
            .add_auth("nosuchscheme", b"x".to_vec())
            .await
            .unwrap_err(),
        ErrorKind::AuthFailed
    );
    assert_eq!(
        within("AuthFailed", states.next()).await,
        Some(SessionState::AuthFailed)
    );
    assert_eq!(
        mallory.exists("/").await.unwrap_err(),
        ErrorKind::AuthFailed
    );
}

pub async fn oneshot_and_persistent_watches(server: &dyn ServerUnderTest) {
    let zk = connect(&server.connect_string()).await;
    let writer = connect(&server.connect_string()).await;
    zk.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();

    let (_, _, data_watch) = zk.get_data_watch("/w").await.unwrap();
    let (stat, exist_watch) = zk.exists_watch("/w/new").await.unwrap();
    assert!(stat.is_none());
    let (_, _, child_watch) = zk.get_children_watch("/w").await.unwrap();

    writer.set_data("/w", b"1", None).await.unwrap();
    let e = within("data watch", data_watch).await;
    assert_eq!(
        (e.event_type, e.state, e.path.as_str()),
        (EventType::NodeDataChanged, KeeperState::SyncConnected, "/w")
    );
    writer
        .create("/w/new", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = within("exist watch", exist_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/w/new")
    );
    let e = within("child watch", child_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );

    // A one-shot watch fires once: a second change reaches only a new watch.
    let (_, _, again) = zk.get_data_watch("/w/new").await.unwrap();
    writer.delete("/w/new", None).await.unwrap();
    assert_eq!(
        within("delete", again).await.event_type,
        EventType::NodeDeleted
    );

    // Persistent and recursive.
    // The server keeps one watch mode per (connection, path): a recursive watch on /w would turn
    // this connection's persistent one on /w recursive too, so the two use separate sessions.
    let other = connect(&server.connect_string()).await;
    let mut persistent = other
        .add_watch("/w", AddWatchMode::Persistent)
        .await
        .unwrap();
    let mut recursive = zk
        .add_watch("/w", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    writer
        .create("/w/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    writer
        .create("/w/p/q", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    writer.set_data("/w/p/q", b"x", None).await.unwrap();
    writer.delete("/w/p/q", None).await.unwrap();
    writer.set_data("/w", b"2", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let e = within("recursive event", recursive.next()).await.unwrap();
        seen.push((e.event_type, e.path));
    }
    assert_eq!(
        seen,
        vec![
            (EventType::NodeCreated, "/w/p".to_string()),
            (EventType::NodeCreated, "/w/p/q".to_string()),
            (EventType::NodeDataChanged, "/w/p/q".to_string()),
            (EventType::NodeDeleted, "/w/p/q".to_string()),
            (EventType::NodeDataChanged, "/w".to_string()),
        ],
        "recursive watches fire for every descendant and never for child lists"
    );
    let e = within("persistent child event", persistent.next())
        .await
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );
    let e = within("persistent data event", persistent.next())
        .await
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/w")
    );
    assert!(
        persistent.try_next().is_none(),
        "grandchildren do not reach a plain persistent watch"
    );

    // removeWatches on the server.
    zk.remove_watches("/w", WatcherType::Any).await.unwrap();
    assert_eq!(
        zk.remove_watches("/w", WatcherType::Any).await.unwrap_err(),
        ErrorKind::NoWatcher
    );
}

pub async fn chroot_applies_to_paths_events_and_multi(server: &dyn ServerUnderTest) {
    let root = connect(&server.connect_string()).await;
    root.create("/app", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let zk = connect(&format!("{}/app", server.connect_string())).await;
    assert_eq!(zk.chroot(), Some("/app"));

    let (path, _) = zk
        .create("/x", b"1", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(path, "/x");
    assert!(root.exists("/app/x").await.unwrap().is_some());
    let (seq, _) = zk
        .create(
            "/s-",
            b"",
            &CreateOptions::new(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(seq, "/s-0000000001");
    assert_eq!(zk.get_ephemerals("/").await.unwrap(), vec![seq.clone()]);
    let mut kids = zk.get_children("/").await.unwrap();
    kids.sort();
    assert_eq!(kids, vec!["s-0000000001", "x"]);

    let (_, _, watch) = zk.get_children_watch("/").await.unwrap();
    // A second session: on one connection a recursive watch would override the child watch.
    let zk2 = connect(&format!("{}/app", server.connect_string())).await;
    let mut recursive = zk2
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    root.create("/app/y", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = within("chroot child watch", watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/")
    );
    let e = within("chroot recursive", recursive.next()).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/y")
    );

    let results = zk
        .multi(vec![
            Op::Create {
                path: "/m-".into(),
                data: vec![].into(),
                options: CreateOptions::new(CreateMode::PersistentSequential),
            },
            Op::Delete {
                path: "/y".into(),
                version: None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        results[0],
        OpResult::Create {
            path: "/m-0000000003".into(),
            stat: None
        }
    );
    assert!(root.exists("/app/y").await.unwrap().is_none());
    assert_eq!(
        zk.delete("/", None).await.unwrap_err(),
        ErrorKind::BadArguments,
        "delete of / is sent as /"
    );
}

pub async fn ten_thousand_pipelined_creates_keep_order(server: &dyn ServerUnderTest) {
    let zk = connect(&server.connect_string()).await;
    zk.create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let futures: Vec<_> = (0..10_000)
        .map(|i| {
            zk.create(
                "/p/n-",
                i.to_string().into_bytes(),
                &CreateOptions::new(CreateMode::PersistentSequential),
            )
        })
        .collect();
    for (i, fut) in futures.into_iter().enumerate() {
        let (path, _) = fut.await.unwrap_or_else(|e| panic!("create {i}: {e}"));
        assert_eq!(
            path,
            format!("/p/n-{i:010}"),
            "replies come back in call order"
        );
    }
    assert_eq!(zk.get_all_children_number("/p").await.unwrap(), 10_000);
}

/// A persistent watch across a cut: the change made while the client was away is not
/// delivered (the server cannot replay it), so the stream says `Disconnected`, then carries
/// the resync marker once reconnected; later changes arrive as before.
pub async fn persistent_watch_resync_marker_after_a_cut(server: &dyn ServerUnderTest) {
    let proxy = interop_tests::PausableProxy::start(server.addr()).unwrap();
    let zk = Client::builder(proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    let other = connect(&server.connect_string()).await;
    zk.create("/m", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut watch = zk.add_watch("/m", AddWatchMode::Persistent).await.unwrap();
    let mut states = zk.state_changes();
    proxy.pause();
    assert_eq!(
        within("Disconnected", states.next()).await,
        Some(SessionState::Disconnected)
    );
    other.set_data("/m", b"missed", None).await.unwrap();
    proxy.resume();
    assert_eq!(
        within("reconnect", states.next()).await,
        Some(SessionState::Connected)
    );
    let disconnected = within("marker", watch.next()).await.unwrap();
    assert_eq!(
        (disconnected.event_type, disconnected.state),
        (EventType::None, KeeperState::Disconnected)
    );
    let resync = within("resync marker", watch.next()).await.unwrap();
    assert!(resync.is_resync(), "{resync:?}");
    assert_eq!(resync.path, "/m");
    assert_eq!(watch.try_next(), None, "the missed change is not replayed");
    // A reader resyncs by reading, and later changes arrive as before.
    assert_eq!(&zk.get_data("/m").await.unwrap().0[..], b"missed");
    other.set_data("/m", b"after", None).await.unwrap();
    let e = within("a change after the reconnect", watch.next())
        .await
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/m")
    );
}

pub async fn expiry_is_reported_once_and_ephemerals_go(server: &dyn ServerUnderTest) {
    let proxy = interop_tests::PausableProxy::start(server.addr()).unwrap();
    // The smallest timeout the server grants (2 ticks of 2 s), so the test waits little.
    let zk = Client::builder(proxy.connect_string())
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .unwrap();
    assert_eq!(zk.session().negotiated_timeout_ms, 4000);
    let mut states = zk.state_changes();
    zk.create("/gone", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, _, watch) = zk.get_data_watch("/gone").await.unwrap();
    let other = connect(&server.connect_string()).await;

    // Cut the client off until the server has expired the session (timeout plus a tick of
    // bucket rounding), then let it reconnect: the server answers "expired".
    proxy.pause();
    assert_eq!(
        within("Disconnected", states.next()).await,
        Some(SessionState::Disconnected)
    );
    within("the server to delete the ephemeral", async {
        while other.exists("/gone").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    proxy.resume();

    let mut seen = Vec::new();
    while let Some(state) = within("state change", states.next()).await {
        seen.push(state);
    }
    assert_eq!(
        seen,
        vec![SessionState::Expired],
        "expiry is reported once, and last"
    );
    let e = within("watch end", watch).await;
    assert_eq!(
        (e.event_type, e.state),
        (EventType::None, KeeperState::Expired)
    );
    assert_eq!(
        zk.get_data("/").await.unwrap_err(),
        ErrorKind::SessionExpired
    );
    assert_eq!(zk.state(), SessionState::Expired);
}

pub async fn removing_and_dropping_watches(server: &dyn ServerUnderTest) {
    let zk = connect(&server.connect_string()).await;
    zk.create("/r", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(total_watches(server), 0);

    // removeWatches: the server drops them and each local handle is told.
    let (_, _, data_watch) = zk.get_data_watch("/r").await.unwrap();
    let (_, _, child_watch) = zk.get_children_watch("/r").await.unwrap();
    assert!(total_watches(server) > 0);
    zk.remove_watches("/r", WatcherType::Data).await.unwrap();
    let e = within("data watch removal", data_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::DataWatchRemoved, "/r")
    );
    zk.remove_watches("/r", WatcherType::Children)
        .await
        .unwrap();
    let e = within("child watch removal", child_watch).await;
    assert_eq!(e.event_type, EventType::ChildWatchRemoved);
    assert_eq!(total_watches(server), 0);

    // Dropping the last persistent handle on a path removes the server-side watch.
    let persistent = zk.add_watch("/r", AddWatchMode::Persistent).await.unwrap();
    assert_eq!(total_watches(server), 1);
    drop(persistent);
    zk.sync("/").await.unwrap(); // the removal is queued before this and answered first
    assert_eq!(total_watches(server), 0);

    // removeWatches(Any) ends a persistent stream with PersistentWatchRemoved.
    let mut recursive = zk
        .add_watch("/r", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    zk.remove_watches("/r", WatcherType::Any).await.unwrap();
    let e = within("persistent removal", recursive.next())
        .await
        .unwrap();
    assert_eq!(e.event_type, EventType::PersistentWatchRemoved);
    assert_eq!(within("end of stream", recursive.next()).await, None);
}

/// `Total watches:N` from the server's `wchs` output.
pub fn total_watches(server: &dyn ServerUnderTest) -> usize {
    let out = server.four_letter_word("wchs").expect("wchs");
    out.lines()
        .find_map(|l| l.strip_prefix("Total watches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected wchs output {out:?}"))
}

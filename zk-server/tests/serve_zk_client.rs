//! Our server, started in-process on a free port, used by our client.

use std::time::Duration;

use zk_client::{Client, CreateOptions, ErrorKind, Op, OpResult};
use zk_proto::{AddWatchMode, CreateMode, EventType};
use zk_server::config::Config;
use zk_server::runtime::{self, ServerHandle};
use zk_server::storage::log::MemTxnLog;
use zk_server::tree::DataTree;

async fn start(extra: &str) -> ServerHandle {
    start_with_flags(extra, "").await
}

/// [`start`] with JVM-style flags (`-Dznode.container.checkIntervalMs=100`, say: as with
/// Java, the container sweep's interval is a system property).
async fn start_with_flags(extra: &str, flags: &str) -> ServerHandle {
    let dir = std::env::temp_dir().join(format!("zk-rs-serve-{}", std::process::id()));
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n{extra}",
        dir.display()
    );
    let cfg = Config::parse(&text, flags).unwrap();
    let tree = DataTree::new(cfg.extended_types_enabled());
    runtime::start(cfg, tree, Box::new(MemTxnLog::new()))
        .await
        .unwrap()
}

async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("timed out")
}

#[tokio::test]
async fn basic_operations_watches_and_multi() {
    let server = start("extendedTypesEnabled=true\n").await;
    let cs = server.local_addr().to_string();
    let zk = Client::connect(&cs).await.unwrap();
    let other = Client::connect(&cs).await.unwrap();
    assert_ne!(zk.session().session_id, other.session().session_id);

    let (path, stat) = zk
        .create("/a", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(
        (path.as_str(), stat.version, stat.data_length),
        ("/a", 0, 1)
    );
    let (seq, _) = zk
        .create(
            "/a/s-",
            b"",
            &CreateOptions::new(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(seq, "/a/s-0000000000");
    assert_eq!(
        zk.create("/a", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NodeExists
    );
    assert_eq!(
        zk.delete("/a", None).await.unwrap_err(),
        ErrorKind::NotEmpty
    );

    let (_, _, watch) = other.get_data_watch("/a").await.unwrap();
    zk.set_data("/a", b"y", Some(0)).await.unwrap();
    assert_eq!(within(watch).await.event_type, EventType::NodeDataChanged);

    let mut recursive = other
        .add_watch("/a", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    zk.create("/a/b", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = within(recursive.next()).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/a/b")
    );

    let results = zk
        .multi(vec![
            Op::Create {
                path: "/m".into(),
                data: vec![].into(),
                options: CreateOptions::persistent(),
            },
            Op::Check {
                path: "/m".into(),
                version: 0,
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
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(failed.kind(), ErrorKind::MultiFailed { index: 1, .. }),
        "{failed:?}"
    );
    assert_eq!(zk.exists("/m2").await.unwrap(), None);

    zk.close().await.unwrap();
    assert_eq!(
        other.exists(&seq).await.unwrap(),
        None,
        "close removes ephemerals"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn emptied_containers_and_expired_ttl_nodes_are_deleted() {
    let server = start_with_flags(
        "extendedTypesEnabled=true\n",
        "-Dznode.container.checkIntervalMs=100",
    )
    .await;
    let zk = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();

    zk.create("/box", b"", &CreateOptions::new(CreateMode::Container))
        .await
        .unwrap();
    zk.create(
        "/never-used",
        b"",
        &CreateOptions::new(CreateMode::Container),
    )
    .await
    .unwrap();
    zk.create("/box/item", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.create(
        "/ttl",
        b"",
        &CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(300),
    )
    .await
    .unwrap();
    zk.create(
        "/ttl-parent",
        b"",
        &CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(300),
    )
    .await
    .unwrap();
    zk.create("/ttl-parent/kid", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, deleted) = zk.exists_watch("/box").await.unwrap();

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        zk.exists("/box").await.unwrap().is_some(),
        "a container with a child stays"
    );
    zk.delete("/box/item", None).await.unwrap();
    let event = within(deleted).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (EventType::NodeDeleted, "/box")
    );
    within(async {
        while zk.exists("/ttl").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        zk.exists("/never-used").await.unwrap().is_some(),
        "never-used containers stay by default"
    );
    assert!(
        zk.exists("/ttl-parent").await.unwrap().is_some(),
        "a TTL node with children stays"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn create_all_and_ensure_path_make_the_missing_ancestors() {
    let server = start_with_flags("", "-Dznode.container.checkIntervalMs=100").await;
    let zk = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    zk.wait_connected().await.unwrap();
    // Persistent parents, then the node itself with its own mode.
    let (path, _) = within(zk.create_all(
        "/a/b/c/m-",
        b"v",
        &CreateOptions::ephemeral_sequential(),
        zk_client::Parents::Persistent,
    ))
    .await
    .unwrap();
    assert_eq!(path, "/a/b/c/m-0000000000");
    for ancestor in ["/a", "/a/b", "/a/b/c"] {
        let stat = zk.exists(ancestor).await.unwrap().expect(ancestor);
        assert_eq!(
            (stat.ephemeral_owner, stat.data_length),
            (0, 0),
            "{ancestor}"
        );
    }
    // Container parents: the server deletes them once emptied (a client's Stat shows a
    // container's owner as 0, as Java's does, so the sweep tells).
    within(zk.create_all(
        "/x/y/z",
        b"",
        &CreateOptions::persistent(),
        zk_client::Parents::Container,
    ))
    .await
    .unwrap();
    zk.delete("/x/y/z", None).await.unwrap();
    within(async {
        while zk.exists("/x").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        zk.exists("/a/b").await.unwrap().is_some(),
        "persistent parents stay"
    );
    within(zk.create_all(
        "/x/y",
        b"",
        &CreateOptions::persistent(),
        zk_client::Parents::Container,
    ))
    .await
    .unwrap();
    // The node itself existing is reported; ensure_path does not mind.
    assert_eq!(
        zk.create_all(
            "/x/y",
            b"",
            &CreateOptions::persistent(),
            zk_client::Parents::Container
        )
        .await
        .unwrap_err(),
        ErrorKind::NodeExists
    );
    within(zk.ensure_path("/x/y")).await.unwrap();
    within(zk.ensure_path("/p/q/r")).await.unwrap();
    assert!(zk.exists("/p/q/r").await.unwrap().is_some());
    // An existing ancestor under a parent that denies CREATE is looked up, not created again
    // (a create would be answered NoAuth, not NodeExists).
    zk.create("/locked", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.create("/locked/open", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.set_acl(
        "/locked",
        vec![zk_client::Acl::new(
            zk_client::perms::READ,
            zk_client::Id::new("world", "anyone"),
        )],
        None,
    )
    .await
    .unwrap();
    within(zk.create_all(
        "/locked/open/x/y",
        b"",
        &CreateOptions::persistent(),
        zk_client::Parents::Persistent,
    ))
    .await
    .unwrap();
    // An ephemeral cannot be a parent: the server's answer comes back.
    zk.create("/e", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(
        zk.create_all(
            "/e/f/g",
            b"",
            &CreateOptions::persistent(),
            zk_client::Parents::Persistent
        )
        .await
        .unwrap_err(),
        ErrorKind::NoChildrenForEphemerals
    );
    zk.close().await.unwrap();
    assert_eq!(zk.wait_connected().await.unwrap_err(), ErrorKind::Closed);
}

#[tokio::test]
async fn a_fenced_write_applies_only_while_the_lock_is_held() {
    use zk_client::recipes::lock::Mutex;
    let server = start("").await;
    let cs = server.local_addr().to_string();
    let holder = Client::connect(&cs).await.unwrap();
    let other = Client::connect(&cs).await.unwrap();
    other
        .create("/counter", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    let guard = within(Mutex::new(&holder, "/locks/c").unwrap().acquire())
        .await
        .unwrap();
    let set = |data: &[u8]| Op::SetData {
        path: "/counter".into(),
        data: data.to_vec().into(),
        version: None,
    };
    let results = guard.fence(vec![set(b"1")]).await.unwrap();
    assert!(matches!(results[..], [OpResult::SetData(ref stat)] if stat.version == 1));
    // Another op's failure is reported at its own index.
    let err = guard
        .fence(vec![
            set(b"2"),
            Op::Check {
                path: "/counter".into(),
                version: 7,
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MultiFailed { index: 1, .. }),
        "{err:?}"
    );
    // The lock node goes (an administrator, or the session's expiry): the write is refused.
    other.delete(guard.path(), None).await.unwrap();
    assert_eq!(
        guard.fence(vec![set(b"3")]).await.unwrap_err(),
        ErrorKind::LockLost
    );
    assert_eq!(&other.get_data("/counter").await.unwrap().0[..], b"1");
}

#[tokio::test]
async fn a_config_node_reads_its_own_writes_at_once() {
    use zk_client::recipes::config::{ConfigEvent, ConfigNode};
    let server = start("").await;
    let zk = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    let node = within(ConfigNode::start_or_create(
        &zk,
        "/cfg",
        b"1",
        |d: &[u8]| std::str::from_utf8(d).map(str::to_owned),
    ))
    .await
    .unwrap();
    let mut events = node.events();
    let first = node.current().unwrap();
    assert_eq!(&*first.value, "1");
    let stat = node.set(b"2", Some(first.stat.version)).await.unwrap();
    // No waiting for the watch: the value is there when set returns.
    let now = node.current().unwrap();
    assert_eq!((now.value.as_str(), now.stat.version), ("2", stat.version));
    // The stream has the initial value, then the write, once.
    assert!(matches!(events.try_next(), Some(ConfigEvent::Value(v)) if *v.value == "1"));
    assert!(matches!(events.try_next(), Some(ConfigEvent::Value(v)) if *v.value == "2"));
    // A compare-and-set on a stale version fails and changes nothing.
    assert_eq!(
        node.set(b"3", Some(first.stat.version)).await.unwrap_err(),
        ErrorKind::BadVersion
    );
    assert_eq!(&*node.current().unwrap().value, "2");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        events.try_next().is_none(),
        "the watch's own report of the write is not delivered twice"
    );
}

#[tokio::test]
async fn an_atomic_long_retries_lost_races_as_its_policy_says() {
    use zk_client::recipes::counter::{CounterError, DistributedAtomicLong};
    use zk_client::RetryPolicy;
    let server = start("").await;
    let zk = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    // Eight increments pipelined on one session race for the same version.
    let never = DistributedAtomicLong::new(&zk, "/n/never").with_retry(RetryPolicy::Never);
    never.initialize(0).await.unwrap();
    let results = within(futures_util::future::join_all(
        (0..8).map(|_| never.increment()),
    ))
    .await;
    let mut won = 0;
    for result in results {
        match result {
            Ok(change) => {
                assert_eq!(change.attempts, 1, "Never allows no second attempt");
                won += 1;
            }
            Err(CounterError::Contention { attempts, .. }) => assert_eq!(attempts, 1),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(never.get().await.unwrap(), won);
    // A policy that keeps trying gets every increment through.
    let patient =
        DistributedAtomicLong::new(&zk, "/n/patient").with_retry(RetryPolicy::UntilElapsed {
            max_elapsed: Duration::from_secs(10),
            sleep: Duration::from_millis(1),
        });
    let results = within(futures_util::future::join_all(
        (0..8).map(|_| patient.increment()),
    ))
    .await;
    for result in results {
        result.unwrap();
    }
    assert_eq!(patient.get().await.unwrap(), 8);
}

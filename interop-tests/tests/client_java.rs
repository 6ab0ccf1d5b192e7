//! zk-client against the real Java ZooKeeper 3.8 server: the shared scenarios (see
//! `scenarios/mod.rs`), plus what needs Java's server itself (restart with its data dir).

mod scenarios;

use std::time::Duration;

use interop_tests::{JavaZkServer, PausableProxy};
use scenarios::{connect, within};
use zk_client::{Client, CreateOptions, ErrorKind, SessionState};
use zk_proto::{AddWatchMode, EventType, KeeperState};

fn java_server(extra: &[&str]) -> JavaZkServer {
    let mut builder = JavaZkServer::builder();
    for line in extra {
        builder = builder.cfg(*line);
    }
    builder.start().unwrap_or_else(|e| panic!("{e}"))
}

/// One test per scenario, each on a fresh Java server with the given zoo.cfg lines.
macro_rules! java_scenarios {
    ($($name:ident: [$($cfg:expr),*],)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let server = java_server(&[$($cfg),*]);
            scenarios::$name(&server).await;
        }
    )*};
}

java_scenarios! {
    every_operation_and_its_errors: ["extendedTypesEnabled=true"],
    ttl_is_unimplemented_without_extended_types: [],
    digest_auth_and_acls: [],
    oneshot_and_persistent_watches: [],
    chroot_applies_to_paths_events_and_multi: [],
    ten_thousand_pipelined_creates_keep_order: [],
    expiry_is_reported_once_and_ephemerals_go: [],
    removing_and_dropping_watches: [],
    persistent_watch_resync_marker_after_a_cut: [],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_survives_a_server_restart_with_watches_and_ephemerals() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("zk_client=debug")
        .with_test_writer()
        .try_init();
    let mut server = java_server(&[]);
    // Through a proxy that refuses connections while the server restarts: Java 3.8 leaks a
    // connection accepted before it runs (NIOServerCnxn.close hits a null ZKDatabase and
    // never closes the socket), and a client caught there waits out its whole connect timeout.
    let proxy = PausableProxy::start(server.addr()).expect("proxy");
    let zk = Client::builder(proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    let session = zk.session().session_id;
    let mut states = zk.state_changes();
    zk.create("/e", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    zk.create("/d", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, data_watch) = zk.get_data_watch("/d").await.unwrap();
    let (_, created_watch) = zk.exists_watch("/later").await.unwrap();
    let mut persistent = zk.add_watch("/d", AddWatchMode::Persistent).await.unwrap();

    proxy.pause();
    let server = tokio::task::spawn_blocking(move || {
        server.restart().expect("restart the Java server");
        server
    })
    .await
    .unwrap();
    proxy.resume();
    assert_eq!(
        within("Disconnected", states.next()).await,
        Some(SessionState::Disconnected)
    );
    assert_eq!(
        within("reconnect", states.next()).await,
        Some(SessionState::Connected)
    );
    assert_eq!(
        zk.session().session_id,
        session,
        "same session after reconnect"
    );

    let writer = connect(&server.connect_string()).await;
    assert!(
        writer.exists("/e").await.unwrap().is_some(),
        "ephemeral survived the reconnect"
    );
    writer.set_data("/d", b"after", None).await.unwrap();
    writer
        .create("/later", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = within("data watch after restart", data_watch).await;
    assert_eq!(e.event_type, EventType::NodeDataChanged);
    let e = within("exist watch after restart", created_watch).await;
    assert_eq!(e.event_type, EventType::NodeCreated);
    // The persistent watch was told of the disconnect, then to resync, then of the change.
    let mut markers = Vec::new();
    let e = loop {
        let e = within("persistent watch after restart", persistent.next())
            .await
            .unwrap();
        if e.event_type != EventType::None {
            break e;
        }
        markers.push(e.state);
    };
    assert_eq!(
        markers,
        [KeeperState::Disconnected, KeeperState::SyncConnected]
    );
    assert_eq!(e.event_type, EventType::NodeDataChanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_nothing_times_out() {
    let port = interop_tests::free_port().unwrap();
    let err = Client::builder(format!("127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(800))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err, ErrorKind::Timeout);
}

//! zk-client's API for null data, rooted clients, a missing chroot, connect failures, protected
//! creates and guaranteed deletes, against zk-server started in-process on a free port.
//!
//! Connection losses come from [`Proxy`], a TCP proxy in this process that can cut every
//! connection (and refuse new ones until resumed), or let one chosen request through and cut
//! the connection before its reply: the request is applied, the client only sees
//! ConnectionLoss.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zk_client::recipes::lock;
use zk_client::{
    AddWatchMode, Client, ConnectCause, CreateOptions, ErrorKind, EventType, NodeData, Op,
    OpResult, ReadOp, ReadResult, RetryPolicy, SessionState, WatcherType,
};
use zk_server::config::Config;
use zk_server::runtime::{self, ServerHandle};
use zk_server::storage::log::MemTxnLog;
use zk_server::tree::DataTree;

/// Limit for anything that should happen promptly.
const EVENT_WAIT: Duration = Duration::from_secs(10);

async fn start() -> ServerHandle {
    let dir = std::env::temp_dir().join(format!("zk-rs-client-api-{}", std::process::id()));
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n",
        dir.display()
    );
    let cfg = Config::parse(&text, "").unwrap();
    let tree = DataTree::new(cfg.extended_types_enabled());
    runtime::start(cfg, tree, Box::new(MemTxnLog::new()))
        .await
        .unwrap()
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `check` every 20 ms until it holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn sorted_children(client: &Client, path: &str) -> Vec<String> {
    let mut children = client.get_children(path).await.unwrap();
    children.sort();
    children
}

// ---------------------------------------------------------------------------------------------
// A proxy that cuts connections.
// ---------------------------------------------------------------------------------------------

/// The request whose reply [`Proxy`] is to lose: its opcode and a byte string in its body.
#[derive(Debug, Clone)]
struct Doomed {
    opcode: i32,
    needle: Vec<u8>,
    /// Refuse connections after the cut, until [`Proxy::resume`].
    then_pause: bool,
}

#[derive(Debug)]
struct ProxyState {
    target: SocketAddr,
    paused: AtomicBool,
    doomed: Mutex<Option<Doomed>>,
    /// Set once a doomed request went through.
    dropped: AtomicBool,
    relays: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl ProxyState {
    fn cut_all(&self) {
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }
}

#[derive(Debug)]
struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ProxyState {
            target,
            paused: AtomicBool::new(false),
            doomed: Mutex::new(None),
            dropped: AtomicBool::new(false),
            relays: Mutex::new(Vec::new()),
        });
        let accepting = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accepting.paused.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let relay = tokio::spawn(relay(client, accepting.clone()));
                accepting.relays.lock().unwrap().push(relay.abort_handle());
            }
        });
        Proxy { addr, state }
    }

    fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Cuts every connection and refuses new ones until [`resume`](Self::resume).
    fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
        self.state.cut_all();
    }

    fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
    }

    /// The next request with `opcode` whose frame contains `needle` reaches the server, and its
    /// connection is cut before the reply reaches the client.
    fn lose_reply_to(&self, opcode: i32, needle: &str, then_pause: bool) {
        *self.state.doomed.lock().unwrap() = Some(Doomed {
            opcode,
            needle: needle.as_bytes().to_vec(),
            then_pause,
        });
    }

    fn dropped(&self) -> bool {
        self.state.dropped.load(Ordering::SeqCst)
    }
}

const CREATE2: i32 = 15;
const DELETE: i32 = 2;

async fn relay(client: TcpStream, state: Arc<ProxyState>) {
    let Ok(server) = TcpStream::connect(state.target).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // Set just before a doomed request goes out: from then on nothing reaches the client.
    let muted = AtomicBool::new(false);
    let downstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // Muted: swallowed, until the upstream half cuts the connection.
                Ok(_) if muted.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // Client to server frame by frame: a 4-byte length, then (after the connect request) a
    // request header: xid, type.
    let upstream = async {
        let mut first = true;
        loop {
            let mut len = [0u8; 4];
            if from_client.read_exact(&mut len).await.is_err() {
                return;
            }
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            if from_client.read_exact(&mut frame).await.is_err() {
                return;
            }
            let doomed = if first || frame.len() < 8 {
                None
            } else {
                let opcode = i32::from_be_bytes(frame[4..8].try_into().unwrap());
                let mut armed = state.doomed.lock().unwrap();
                match &*armed {
                    Some(d)
                        if d.opcode == opcode
                            && frame.windows(d.needle.len()).any(|w| w == d.needle) =>
                    {
                        armed.take()
                    }
                    _ => None,
                }
            };
            first = false;
            if doomed.is_some() {
                muted.store(true, Ordering::SeqCst);
            }
            if to_server.write_all(&len).await.is_err()
                || to_server.write_all(&frame).await.is_err()
            {
                return;
            }
            if let Some(doomed) = doomed {
                // Let the server apply it, then cut.
                tokio::time::sleep(Duration::from_millis(300)).await;
                if doomed.then_pause {
                    state.paused.store(true, Ordering::SeqCst);
                }
                state.dropped.store(true, Ordering::SeqCst);
                return;
            }
        }
    };
    tokio::select! {
        () = downstream => {}
        () = upstream => {}
    }
}

/// Waits until `client` has noticed that its connection is gone.
async fn wait_disconnected(client: &Client) {
    let mut changes = client.state_changes();
    within("the disconnect", async {
        while client.state().is_connected() {
            changes.next().await;
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 1. Null data.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn null_data_is_written_and_read_apart_from_empty_data() {
    let server = start().await;
    let zk = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    let open = CreateOptions::persistent();

    zk.create("/null", NodeData::Null, &open).await.unwrap();
    zk.create("/none", None, &open).await.unwrap();
    zk.create("/empty", b"", &open).await.unwrap();
    zk.create("/text", "text", &open).await.unwrap();
    zk.create("/vec", vec![1u8, 2], &open).await.unwrap();

    for path in ["/null", "/none"] {
        let (data, stat) = zk.get_data_nullable(path).await.unwrap();
        assert_eq!((data, stat.data_length), (None, 0), "{path}");
        // The plain read cannot tell, as before.
        assert!(zk.get_data(path).await.unwrap().0.is_empty(), "{path}");
    }
    let (empty, stat) = zk.get_data_nullable("/empty").await.unwrap();
    assert_eq!(
        (empty.as_deref(), stat.data_length),
        (Some(&b""[..]), 0),
        "empty is not null"
    );
    assert_eq!(
        zk.get_data_nullable("/text").await.unwrap().0.as_deref(),
        Some(&b"text"[..])
    );
    assert_eq!(
        zk.get_data_nullable("/vec").await.unwrap().0.as_deref(),
        Some(&[1u8, 2][..])
    );

    // setData to null and back, seen through a watch.
    let (before, _, watcher) = zk.get_data_watch_nullable("/text").await.unwrap();
    assert!(before.is_some());
    let stat = zk.set_data("/text", NodeData::Null, Some(0)).await.unwrap();
    assert_eq!((stat.version, stat.data_length), (1, 0));
    assert_eq!(
        within("the data watch", watcher).await.event_type,
        EventType::NodeDataChanged
    );
    assert_eq!(zk.get_data_nullable("/text").await.unwrap().0, None);
    zk.set_data("/text", b"", None).await.unwrap();
    assert_eq!(
        zk.get_data_nullable("/text").await.unwrap().0.as_deref(),
        Some(&b""[..])
    );
    zk.set_data("/empty", None, None).await.unwrap();
    assert_eq!(zk.get_data_nullable("/empty").await.unwrap().0, None);

    // The helpers that create take null too.
    zk.create_all(
        "/deep/er/null",
        NodeData::Null,
        &open,
        zk_client::Parents::Persistent,
    )
    .await
    .unwrap();
    assert_eq!(zk.get_data_nullable("/deep/er/null").await.unwrap().0, None);
    assert_eq!(
        zk.get_data_nullable("/deep").await.unwrap().0.as_deref(),
        Some(&b""[..]),
        "ancestors are made with empty data"
    );
    let protected = zk
        .create_protected("/deep/p-", NodeData::Null, &open)
        .await
        .unwrap();
    assert_eq!(zk.get_data_nullable(&protected).await.unwrap().0, None);

    // And a multi's creates and sets.
    zk.multi(vec![
        Op::Create {
            path: "/multi-null".into(),
            data: NodeData::Null,
            options: open.clone(),
        },
        Op::Create {
            path: "/multi-empty".into(),
            data: NodeData::from(&b""[..]),
            options: open.clone(),
        },
    ])
    .await
    .unwrap();
    let read = |path: &'static str| {
        let zk = zk.clone();
        async move { zk.get_data_nullable(path).await.unwrap().0 }
    };
    assert_eq!(read("/multi-null").await, None);
    assert_eq!(read("/multi-empty").await.as_deref(), Some(&b""[..]));
    zk.multi(vec![
        Op::SetData {
            path: "/multi-empty".into(),
            data: NodeData::Null,
            version: None,
        },
        Op::SetData {
            path: "/multi-null".into(),
            data: b"back".into(),
            version: None,
        },
    ])
    .await
    .unwrap();
    assert_eq!(read("/multi-empty").await, None);
    assert_eq!(read("/multi-null").await.as_deref(), Some(&b"back"[..]));
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Rooted clients.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rooted_client_shares_the_session_and_maps_every_path() {
    let server = start().await;
    let addr = server.local_addr().to_string();
    let root = Client::connect(&addr).await.unwrap();
    root.ensure_path("/app/tenants/a").await.unwrap();
    // The connect string's chroot and a rooted clone of it stack.
    let app = Client::connect(&format!("{addr}/app")).await.unwrap();
    let tenant = app.rooted_at("/tenants/a").unwrap();
    assert_eq!(tenant.chroot(), Some("/app/tenants/a"));
    assert_eq!(app.chroot(), Some("/app"));
    assert_eq!(tenant.session().session_id, app.session().session_id);
    assert_eq!(
        tenant.rooted_at("/").unwrap().chroot(),
        Some("/app/tenants/a")
    );
    assert!(matches!(
        tenant.rooted_at("no-slash").unwrap_err().kind(),
        ErrorKind::InvalidPath(_)
    ));
    assert_eq!(
        root.rooted_at("/x").unwrap().chroot(),
        Some("/x"),
        "a client without a chroot gets one"
    );

    // Paths going out get the prefix; created paths come back without it.
    let (path, _) = tenant
        .create("/job-", b"1", &CreateOptions::persistent_sequential())
        .await
        .unwrap();
    assert_eq!(path, "/job-0000000000");
    assert!(root
        .exists("/app/tenants/a/job-0000000000")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        &app.get_data("/tenants/a/job-0000000000").await.unwrap().0[..],
        b"1"
    );
    assert_eq!(
        tenant.get_children("/").await.unwrap(),
        vec!["job-0000000000".to_owned()]
    );
    assert!(tenant.exists("/").await.unwrap().is_some());

    // One-shot watches: each handle names the path as its own client does, also when two
    // clients of the session watch the same node.
    let (_, _, tenant_watch) = tenant.get_data_watch(&path).await.unwrap();
    let (_, _, app_watch) = app
        .get_data_watch("/tenants/a/job-0000000000")
        .await
        .unwrap();
    let (_, exists_watch) = tenant.exists_watch("/later").await.unwrap();
    let (_, _, children_watch) = tenant.get_children_watch("/").await.unwrap();
    root.set_data("/app/tenants/a/job-0000000000", b"2", None)
        .await
        .unwrap();
    let e = within("the tenant's data watch", tenant_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/job-0000000000")
    );
    let e = within("the app's data watch", app_watch).await;
    assert_eq!(e.path, "/tenants/a/job-0000000000");
    root.create("/app/tenants/a/later", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let e = within("the exist watch", exists_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/later")
    );
    let e = within("the child watch", children_watch).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/")
    );
    // (Added after the child watch fired: Java's server keeps one mode per session and path,
    // and ours does the same, so a recursive watch would replace a child watch on "/".)
    let mut recursive = tenant
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    root.create(
        "/app/tenants/a/later/kid",
        b"",
        &CreateOptions::persistent(),
    )
    .await
    .unwrap();
    root.set_data("/app/tenants/a", b"r", None).await.unwrap();
    for expected in [
        (EventType::NodeCreated, "/later/kid"),
        (EventType::NodeDataChanged, "/"),
    ] {
        let e = within("the recursive watch", recursive.next())
            .await
            .unwrap();
        assert_eq!((e.event_type, e.path.as_str()), expected);
    }

    // Persistent watches of two clients on one server path are told apart when one goes.
    let mut tenant_persistent = tenant
        .add_watch("/later", AddWatchMode::Persistent)
        .await
        .unwrap();
    let app_persistent = app
        .add_watch("/tenants/a/later", AddWatchMode::Persistent)
        .await
        .unwrap();
    drop(app_persistent);
    root.set_data("/app/tenants/a/later", b"x", None)
        .await
        .unwrap();
    let e = within("the remaining persistent watch", tenant_persistent.next())
        .await
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/later")
    );
    tenant
        .remove_watches("/later", WatcherType::Any)
        .await
        .unwrap();
    let e = within("the removal", tenant_persistent.next())
        .await
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::PersistentWatchRemoved, "/later")
    );

    // Multi and multiRead results, ephemerals.
    let results = tenant
        .multi(vec![
            Op::Create {
                path: "/m-".into(),
                data: b"m".to_vec().into(),
                options: CreateOptions::ephemeral_sequential(),
            },
            Op::SetData {
                path: "/later".into(),
                data: b"y".to_vec().into(),
                version: None,
            },
        ])
        .await
        .unwrap();
    let OpResult::Create {
        path: ephemeral, ..
    } = &results[0]
    else {
        panic!("{results:?}");
    };
    assert!(ephemeral.starts_with("/m-"), "{ephemeral}");
    let reads = tenant
        .multi_read(vec![
            ReadOp::GetData("/later".into()),
            ReadOp::GetChildren("/".into()),
        ])
        .await
        .unwrap();
    assert!(matches!(&reads[0], ReadResult::Data(d, _) if &d[..] == b"y"));
    assert!(
        matches!(&reads[1], ReadResult::Children(c) if c.len() == 3),
        "{reads:?}"
    );
    assert_eq!(
        tenant.get_ephemerals("/").await.unwrap(),
        vec![ephemeral.clone()]
    );
    assert_eq!(
        app.get_ephemerals("/").await.unwrap(),
        vec![format!("/tenants/a{ephemeral}")]
    );

    // Nested roots, and a root that does not exist.
    let nested = tenant.rooted_at("/deeper").unwrap();
    assert_eq!(nested.chroot(), Some("/app/tenants/a/deeper"));
    assert_eq!(
        nested
            .create("/x", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NoNode
    );
    assert_eq!(nested.exists("/").await.unwrap(), None);

    // The session is shared: it lives while any clone does, and closing one closes it.
    drop(app);
    assert!(tenant.get_data("/later").await.is_ok());
    nested.close().await.unwrap();
    assert_eq!(tenant.state(), SessionState::Closed);
    assert_eq!(
        tenant.get_data("/later").await.unwrap_err(),
        ErrorKind::Closed
    );
    eventually("the ephemeral to go with the session", || async {
        root.exists(&format!("/app/tenants/a{ephemeral}"))
            .await
            .unwrap()
            .is_none()
    })
    .await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. A missing chroot.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn errors_name_the_path_the_caller_gave() {
    let server = start().await;
    let root = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    let open = CreateOptions::persistent();
    root.create_all("/paths/app/a", b"", &open, zk_client::Parents::Persistent)
        .await
        .unwrap();
    // Under a chroot (here a rooted clone), the path as the caller wrote it.
    let app = root.rooted_at("/paths/app").unwrap();

    let e = app.get_data("/missing").await.unwrap_err();
    assert_eq!(e, ErrorKind::NoNode);
    assert_eq!(e.path(), Some("/missing"));
    assert_eq!(e.to_string(), "no node for /missing");
    let e = app.create("/a", b"", &open).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (&ErrorKind::NodeExists, Some("/a")));
    let e = app.set_data("/a", b"x", Some(7)).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (&ErrorKind::BadVersion, Some("/a")));
    let e = app.delete("/", None).await.unwrap_err();
    assert_eq!(e.path(), Some("/"), "{e}");
    let e = root.delete("/paths", None).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (&ErrorKind::NotEmpty, Some("/paths")));
    // Rejected before sending: the path too.
    let e = app.get_children("no-slash").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidPath(_)), "{e}");
    assert_eq!(e.path(), Some("no-slash"));

    // A multi names its failing op's path.
    let e = app
        .multi(vec![
            Op::Check {
                path: "/a".into(),
                version: 0,
            },
            Op::Delete {
                path: "/nothing/here".into(),
                version: None,
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::MultiFailed { index: 1, .. }),
        "{e}"
    );
    assert_eq!(e.path(), Some("/nothing/here"));
    // Each failed read of a multi_read names its own.
    let reads = app
        .multi_read(vec![
            ReadOp::GetData("/a".into()),
            ReadOp::GetChildren("/gone".into()),
        ])
        .await
        .unwrap();
    match &reads[1] {
        ReadResult::Error(e) => {
            assert_eq!((e.kind(), e.path()), (&ErrorKind::NoNode, Some("/gone")))
        }
        other => panic!("{other:?}"),
    }

    // Errors the connection causes name the request's path too, as Java's do.
    app.close().await.unwrap();
    let e = root.exists("/a").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (&ErrorKind::Closed, Some("/a")));
    server.shutdown().await;
}

#[tokio::test]
async fn recipes_retry_as_the_client_policy_says() {
    let server = start().await;
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::builder(proxy.connect_string())
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    assert_eq!(client.retry_policy(), RetryPolicy::UntilSessionEnds);
    let impatient = client.with_retry_policy(RetryPolicy::Never);
    assert_eq!(impatient.retry_policy(), RetryPolicy::Never);
    assert_eq!(client.retry_policy(), RetryPolicy::UntilSessionEnds);
    assert_eq!(impatient.session().session_id, client.session().session_id);
    let direct = Client::builder(server.local_addr().to_string())
        .retry_policy(RetryPolicy::curator_default())
        .connect()
        .await
        .unwrap();
    assert_eq!(direct.retry_policy(), RetryPolicy::curator_default());

    proxy.pause();
    wait_disconnected(&client).await;
    // No retries: the first connection loss ends the acquire.
    let lost = within(
        "the impatient acquire",
        lock::Mutex::new(&impatient, "/locks/r").unwrap().acquire(),
    )
    .await
    .unwrap_err();
    assert_eq!(lost, ErrorKind::ConnectionLoss);
    // The default waits the outage out.
    let patient = tokio::spawn({
        let client = client.clone();
        async move {
            let guard = lock::Mutex::new(&client, "/locks/r")?.acquire().await?;
            guard.release().await
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!patient.is_finished(), "acquired without a connection?");
    proxy.resume();
    within("the patient acquire", patient)
        .await
        .unwrap()
        .unwrap();
    // The impatient acquire left no node behind (cleanup retries whatever the policy).
    eventually("the abandoned lock node is removed", || async {
        sorted_children(&direct, "/locks/r").await.is_empty()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_chroot_is_created_only_when_asked() {
    let server = start().await;
    let addr = server.local_addr().to_string();
    let root = Client::connect(&addr).await.unwrap();

    // Without the option: connected, and every operation meets a missing node.
    let plain = Client::connect(&format!("{addr}/missing/app"))
        .await
        .unwrap();
    assert_eq!(
        plain
            .create("/x", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NoNode
    );
    assert_eq!(plain.get_data("/").await.unwrap_err(), ErrorKind::NoNode);
    assert_eq!(plain.exists("/").await.unwrap(), None);
    assert_eq!(root.exists("/missing").await.unwrap(), None, "nothing made");

    // With it: made (ancestors too), persistent, empty; then usable.
    let made = Client::builder(format!("{addr}/missing/app"))
        .create_chroot(true)
        .connect()
        .await
        .unwrap();
    for path in ["/missing", "/missing/app"] {
        let (data, stat) = root.get_data_nullable(path).await.unwrap();
        assert_eq!(
            (data.as_deref(), stat.ephemeral_owner),
            (Some(&b""[..]), 0),
            "{path}"
        );
    }
    made.create("/x", b"1", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(&root.get_data("/missing/app/x").await.unwrap().0[..], b"1");
    // The other client, connected before, sees it now too.
    assert_eq!(&plain.get_data("/x").await.unwrap().0[..], b"1");
    // An existing chroot is fine.
    Client::builder(format!("{addr}/missing/app"))
        .create_chroot(true)
        .connect()
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    // A chroot that cannot be made fails the connect with the server's answer.
    root.create("/sealed", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    root.set_acl(
        "/sealed",
        vec![zk_client::Acl::new(
            zk_client::perms::READ,
            zk_client::Id::new("world", "anyone"),
        )],
        None,
    )
    .await
    .unwrap();
    let refused = Client::builder(format!("{addr}/sealed/app"))
        .create_chroot(true)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(refused, ErrorKind::NoAuth);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Why connecting failed.
// ---------------------------------------------------------------------------------------------

/// A port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_failed_connect_names_each_host_and_its_cause() {
    let refused = dead_port();
    // Accepts and closes at once.
    let closing = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing_port = closing.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((conn, _)) = closing.accept().await {
            drop(conn);
        }
    });
    let started = std::time::Instant::now();
    let failure = Client::builder(format!(
        "127.0.0.1:{refused},zk-client-test.invalid:2181,127.0.0.1:{closing_port}"
    ))
    .connect_timeout(Duration::from_millis(1500))
    .connect()
    .await
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(failure, ErrorKind::Timeout);
    let causes: Vec<(&str, u16, &ConnectCause)> = failure
        .hosts()
        .iter()
        .map(|h| (h.host.as_str(), h.port, &h.last_cause))
        .collect();
    assert_eq!(causes.len(), 3, "{failure}");
    assert_eq!(causes[0], ("127.0.0.1", refused, &ConnectCause::Refused));
    assert!(
        matches!(
            causes[1],
            ("zk-client-test.invalid", 2181, ConnectCause::Unresolved(_))
        ),
        "{failure}"
    );
    assert_eq!(
        causes[2],
        ("127.0.0.1", closing_port, &ConnectCause::Rejected)
    );
    // Every host was tried in each round, and rounds went on until the deadline.
    let tries = failure.hosts()[0].attempts;
    assert!(tries >= 2, "{failure}");
    assert!(
        failure
            .hosts()
            .iter()
            .all(|h| h.attempts.abs_diff(tries) <= 1),
        "{failure}"
    );
    let text = failure.to_string();
    assert!(
        text.starts_with("timed out; ")
            && text.contains(&format!(
                "127.0.0.1:{refused}: connection refused ({tries} tries)"
            ))
            && text.contains("zk-client-test.invalid:2181: does not resolve"),
        "{text}"
    );
    eprintln!("{text}");
    let bad = Client::builder("host:notaport")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(bad.kind(), ErrorKind::InvalidArgument(_)) && bad.hosts().is_empty(),
        "{bad:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    // Each attempt gets the session timeout (one host), at least 500 ms: two attempts time
    // out before connect gives up during the third.
    let failure = Client::builder(format!("127.0.0.1:{silent_port}"))
        .session_timeout(Duration::from_millis(600))
        .connect_timeout(Duration::from_millis(1500))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(failure, ErrorKind::Timeout);
    assert_eq!(failure.hosts().len(), 1, "{failure}");
    assert_eq!(failure.hosts()[0].last_cause, ConnectCause::TimedOut);
    assert_eq!(failure.hosts()[0].attempts, 2, "{failure}");
    // Given up during the first attempt: that one counts, as timed out.
    let failure = Client::builder(format!("127.0.0.1:{silent_port}"))
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        (failure.hosts()[0].attempts, &failure.hosts()[0].last_cause),
        (1, &ConnectCause::TimedOut),
        "{failure}"
    );
    // A connect that succeeds after failures reports nothing.
    let server = start().await;
    let client = Client::builder(format!("127.0.0.1:{silent_port},{}", server.local_addr()))
        .session_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    client.close().await.unwrap();
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Protected creates and guaranteed deletes.
// ---------------------------------------------------------------------------------------------

/// `<dir>/_c_<uuid>-<name>`: checks the shape and returns the name after the prefix.
fn protected_suffix<'a>(path: &'a str, dir: &str) -> &'a str {
    let name = path
        .strip_prefix(dir)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{path} not under {dir}"));
    let rest = name
        .strip_prefix("_c_")
        .unwrap_or_else(|| panic!("{name} is not protected"));
    assert_eq!(rest.as_bytes()[36], b'-', "{name}");
    assert_eq!(rest[..36].split('-').count(), 5, "a UUID: {name}");
    &rest[37..]
}

#[tokio::test]
async fn a_protected_create_finds_its_node_after_a_lost_reply() {
    let server = start().await;
    let direct = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    direct.ensure_path("/jobs").await.unwrap();
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::connect(&proxy.connect_string()).await.unwrap();

    // Without a loss: the name carries the prefix, any mode works.
    let first = client
        .create_protected("/jobs/job-", b"1", &CreateOptions::persistent_sequential())
        .await
        .unwrap();
    assert_eq!(protected_suffix(&first, "/jobs"), "job-0000000000");
    let fixed = client
        .create_protected("/jobs/fixed", b"f", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(protected_suffix(&fixed, "/jobs"), "fixed");
    assert_eq!(
        direct
            .exists(&fixed)
            .await
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        client.session().session_id
    );
    // The parent must exist; a bad path is refused before sending.
    assert_eq!(
        client
            .create_protected("/nowhere/x-", b"", &CreateOptions::persistent())
            .await
            .unwrap_err(),
        ErrorKind::NoNode
    );
    assert!(matches!(
        client
            .create_protected("jobs/x", b"", &CreateOptions::persistent())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidPath(_)
    ));

    // The reply is lost: the create was applied, and the retry finds it instead of making a
    // second node.
    proxy.lose_reply_to(CREATE2, "/_c_", false);
    let lost = within(
        "the protected create",
        client.create_protected("/jobs/e-", b"e", &CreateOptions::ephemeral_sequential()),
    )
    .await
    .unwrap();
    assert!(proxy.dropped(), "the create's reply was lost");
    assert!(
        protected_suffix(&lost, "/jobs").starts_with("e-000000000"),
        "{lost}"
    );
    let children = sorted_children(&direct, "/jobs").await;
    let made: Vec<_> = children.iter().filter(|c| c.contains("-e-")).collect();
    assert_eq!(made.len(), 1, "one node, not two: {children:?}");
    assert_eq!(lost, format!("/jobs/{}", made[0]));
    assert_eq!(&direct.get_data(&lost).await.unwrap().0[..], b"e");
    assert_eq!(children.len(), 3, "{children:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_protected_create_removes_its_node_once_connected() {
    let server = start().await;
    let direct = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    direct.ensure_path("/members").await.unwrap();
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::connect(&proxy.connect_string()).await.unwrap();

    // The create is applied, the connection cut and kept down; the caller gives up.
    proxy.lose_reply_to(CREATE2, "/_c_", true);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(1500),
        client.create_protected("/members/m-", b"", &CreateOptions::persistent_sequential()),
    )
    .await;
    assert!(gave_up.is_err(), "still waiting for the connection");
    assert!(proxy.dropped());
    let orphan = sorted_children(&direct, "/members").await;
    assert_eq!(orphan.len(), 1, "the lost create was applied: {orphan:?}");
    // Once the client is back, the node it may have made is found and deleted.
    proxy.resume();
    eventually("the orphan to be deleted", || async {
        direct.get_children("/members").await.unwrap().is_empty()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_guaranteed_delete_goes_through_connection_loss() {
    let server = start().await;
    let direct = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    for name in ["a", "b", "c", "d", "e"] {
        direct
            .create_all(
                &format!("/gd/{name}"),
                b"",
                &CreateOptions::persistent(),
                zk_client::Parents::Persistent,
            )
            .await
            .unwrap();
    }
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::connect(&proxy.connect_string()).await.unwrap();

    // Sent while the server cannot be reached: retried once it can.
    proxy.pause();
    wait_disconnected(&client).await;
    let awaited = client.delete_guaranteed("/gd/a", None);
    drop(client.delete_guaranteed("/gd/b", Some(0)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(direct.exists("/gd/a").await.unwrap().is_some());
    proxy.resume();
    within("the awaited delete", awaited).await.unwrap();
    assert_eq!(direct.exists("/gd/a").await.unwrap(), None);
    eventually("the dropped delete", || async {
        direct.exists("/gd/b").await.unwrap().is_none()
    })
    .await;

    // Applied, but the reply is lost: the retry finds the node gone, which is success.
    client.wait_connected().await.unwrap();
    proxy.lose_reply_to(DELETE, "/gd/c", false);
    within("the delete", client.delete_guaranteed("/gd/c", Some(0)))
        .await
        .unwrap();
    assert!(proxy.dropped());
    assert_eq!(direct.exists("/gd/c").await.unwrap(), None);

    // Answers that are not about the connection end it at once.
    assert_eq!(
        client
            .delete_guaranteed("/gd/missing", None)
            .await
            .map_err(zk_client::Error::into_kind),
        Err(ErrorKind::NoNode)
    );
    assert_eq!(
        client
            .delete_guaranteed("/gd/d", Some(5))
            .await
            .map_err(zk_client::Error::into_kind),
        Err(ErrorKind::BadVersion)
    );
    assert_eq!(
        client
            .delete_guaranteed("/gd", None)
            .await
            .map_err(zk_client::Error::into_kind),
        Err(ErrorKind::NotEmpty)
    );
    // The end of the session ends it, leaving the node.
    proxy.pause();
    wait_disconnected(&client).await;
    let pending = client.delete_guaranteed("/gd/e", None);
    client.close().await.unwrap();
    assert_eq!(
        within("the delete", pending)
            .await
            .map_err(zk_client::Error::into_kind),
        Err(ErrorKind::Closed)
    );
    assert!(direct.exists("/gd/e").await.unwrap().is_some());
    server.shutdown().await;
}

//! zk-client's API where Java's side must agree: null node data between zk-client and Java's
//! client (`java/ClientApiDriver.java`), a chroot that does not exist (zk-client without
//! `create_chroot` must behave as Java's client), protected nodes as Curator's `ProtectedUtils`
//! reads them, protected creates and guaranteed deletes through a cut connection, and a TLS
//! connect failure's cause.
//!
//! Every test but the TLS one runs twice: in module `zk_rs` against zk-server (in-process) and
//! in module `java_server` against the real Java server.

use std::path::Path;
use std::time::Duration;

use interop_tests::{
    JavaProgram, JavaZkServer, PausableProxy, RustZkServer, ServerUnderTest, TestPki,
};
use zk_client::{Client, ConnectCause, CreateOptions, Error, ErrorKind, NodeData, Op};

const EVENT_WAIT: Duration = Duration::from_secs(10);
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

/// Runs `java/ClientApiDriver.java` with `connect_string` and `steps`; returns the outcome of
/// each step (the text after ` -> ` on its line).
async fn java_steps(connect_string: &str, steps: &[&str]) -> Vec<String> {
    let program =
        JavaProgram::from_file("java/ClientApiDriver.java").unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec![connect_string.to_owned()];
    args.extend(steps.iter().map(|s| s.to_string()));
    let out = program
        .spawn(&args)
        .unwrap_or_else(|e| panic!("{e}"))
        .finish(DRIVER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .stdout;
    let outcomes: Vec<String> = out
        .lines()
        .map(|line| {
            let (step, outcome) = line
                .split_once(" -> ")
                .unwrap_or_else(|| panic!("odd driver line {line:?}"));
            assert!(steps.contains(&step), "{line}");
            outcome.to_owned()
        })
        .collect();
    assert_eq!(outcomes.len(), steps.len(), "{out}");
    outcomes
}

/// How the driver prints data.
fn shown(data: Option<&[u8]>) -> String {
    match data {
        None => "null".to_owned(),
        Some([]) => "empty".to_owned(),
        Some(text) => format!("text:{}", String::from_utf8_lossy(text)),
    }
}

/// How the driver prints an error: Java's `KeeperException.Code` name.
fn shown_error(e: &Error) -> String {
    let code = e.code().unwrap_or_else(|| panic!("no code for {e:?}"));
    format!("error {}", format!("{code:?}").to_uppercase())
}

// ---------------------------------------------------------------------------------------------
// 1. Null data.
// ---------------------------------------------------------------------------------------------

/// Null written by one client reads as null in the other, and empty stays empty, both ways.
async fn null_data_crosses_between_the_java_and_rust_clients(server: &dyn ServerUnderTest) {
    let client = connect(&server.connect_string()).await;
    let open = CreateOptions::persistent();
    client.create("/nd", b"", &open).await.unwrap();
    client
        .create("/nd/r-null", NodeData::Null, &open)
        .await
        .unwrap();
    client.create("/nd/r-empty", b"", &open).await.unwrap();
    client.create("/nd/r-text", "t", &open).await.unwrap();
    client.create("/nd/r-set", "x", &open).await.unwrap();
    client.set_data("/nd/r-set", None, None).await.unwrap();
    // The same through a multi.
    client.create("/nd/m-set", "x", &open).await.unwrap();
    client
        .multi(vec![
            Op::Create {
                path: "/nd/m-null".into(),
                data: NodeData::Null,
                options: open.clone(),
            },
            Op::SetData {
                path: "/nd/m-set".into(),
                data: NodeData::Null,
                version: None,
            },
        ])
        .await
        .unwrap();

    let outcomes = java_steps(
        &server.connect_string(),
        &[
            "get /nd/r-null",
            "get /nd/r-empty",
            "get /nd/r-text",
            "get /nd/r-set",
            "get /nd/m-null",
            "get /nd/m-set",
            "create /nd/j-null null",
            "create /nd/j-empty empty",
            "create /nd/j-set text:x",
            "set /nd/j-set null",
        ],
    )
    .await;
    assert_eq!(
        outcomes,
        ["null", "empty", "text:t", "null", "null", "null", "ok", "ok", "ok", "ok"]
    );
    let mut ours = Vec::new();
    for path in ["/nd/j-null", "/nd/j-empty", "/nd/j-set"] {
        let (data, stat) = client.get_data_nullable(path).await.unwrap();
        assert_eq!(stat.data_length, 0, "{path}");
        ours.push(shown(data.as_deref()));
    }
    assert_eq!(ours, ["null", "empty", "null"]);
    client.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. A chroot that does not exist.
// ---------------------------------------------------------------------------------------------

/// Java's client connects under a missing chroot and each operation meets a missing node; so
/// does ours. With `create_chroot`, ours makes it (and Java's then works there too).
async fn a_missing_chroot_behaves_as_with_javas_client(server: &dyn ServerUnderTest) {
    let chrooted = format!("{}/missing/app", server.connect_string());
    let steps = ["create /x text:1", "get /", "exists /", "set / text:2"];
    let java = java_steps(&chrooted, &steps).await;
    let client = connect(&chrooted).await;
    let ours = vec![
        match client.create("/x", "1", &CreateOptions::persistent()).await {
            Ok(_) => "ok".to_owned(),
            Err(e) => shown_error(&e),
        },
        match client.get_data_nullable("/").await {
            Ok((data, _)) => shown(data.as_deref()),
            Err(e) => shown_error(&e),
        },
        match client.exists("/").await {
            Ok(stat) => if stat.is_some() { "yes" } else { "no" }.to_owned(),
            Err(e) => shown_error(&e),
        },
        match client.set_data("/", "2", None).await {
            Ok(_) => "ok".to_owned(),
            Err(e) => shown_error(&e),
        },
    ];
    assert_eq!(ours, java, "zk-client and Java's client differ");
    assert_eq!(java, ["error NONODE", "error NONODE", "no", "error NONODE"]);

    let made = Client::builder(&chrooted)
        .create_chroot(true)
        .connect()
        .await
        .unwrap();
    made.create("/x", "1", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(
        java_steps(&chrooted, &["get /", "get /x"]).await,
        ["empty", "text:1"]
    );
    let root = connect(&server.connect_string()).await;
    assert_eq!(&root.get_data("/missing/app/x").await.unwrap().0[..], b"1");
}

// ---------------------------------------------------------------------------------------------
// 3. Protected creates and guaranteed deletes.
// ---------------------------------------------------------------------------------------------

/// Curator's `ProtectedUtils` takes our protected names for its own: it finds the UUID and
/// strips the prefix back to the name asked for.
async fn curator_reads_our_protected_names(server: &dyn ServerUnderTest) {
    let client = connect(&server.connect_string()).await;
    client.ensure_path("/p").await.unwrap();
    let created = client
        .create_protected("/p/job-", b"j", &CreateOptions::persistent_sequential())
        .await
        .unwrap();
    let uuid = &created["/p/_c_".len().."/p/_c_".len() + 36];
    assert_eq!(
        java_steps(&server.connect_string(), &[&format!("protected {created}")]).await,
        [format!(
            "protected=true id={uuid} normalized=/p/job-0000000000"
        )]
    );
}

/// Through a proxy that cuts the connection: a protected create sent while the server cannot
/// be reached is made once, when it can; a guaranteed delete likewise.
async fn protected_create_and_guaranteed_delete_go_through_a_cut(server: &dyn ServerUnderTest) {
    let direct = connect(&server.connect_string()).await;
    direct.ensure_path("/cut").await.unwrap();
    direct
        .create("/cut/doomed", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let proxy = PausableProxy::start(server.addr()).unwrap();
    let client = connect(&proxy.connect_string()).await;

    proxy.pause();
    let mut changes = client.state_changes();
    within("the disconnect", async {
        while client.state().is_connected() {
            changes.next().await;
        }
    })
    .await;
    let create = tokio::spawn(client.create_protected(
        "/cut/m-",
        b"m",
        &CreateOptions::ephemeral_sequential(),
    ));
    let delete = client.delete_guaranteed("/cut/doomed", None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!create.is_finished(), "waits for the server");
    proxy.resume();
    let created = within("the protected create", create)
        .await
        .unwrap()
        .unwrap();
    within("the guaranteed delete", delete).await.unwrap();
    let mut children = direct.get_children("/cut").await.unwrap();
    children.sort();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(created, format!("/cut/{}", children[0]));
    assert!(
        children[0].starts_with("_c_") && children[0].contains("-m-000000000"),
        "{children:?}"
    );
    assert_eq!(
        direct
            .exists(&created)
            .await
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        client.session().session_id
    );
    client.close().await.unwrap();
}

macro_rules! against_both_servers {
    ($($name:ident,)*) => {
        /// Against zk-server, in-process.
        mod zk_rs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = super::RustZkServer::start(&[]).expect("start zk-server");
                    let started = std::time::Instant::now();
                    super::$name(&server).await;
                    eprintln!(
                        "{} against zk-rs: {} ms",
                        stringify!($name),
                        started.elapsed().as_millis()
                    );
                }
            )*
        }

        /// Against the real Java server.
        mod java_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = super::JavaZkServer::builder()
                        .start()
                        .unwrap_or_else(|e| panic!("{e}"));
                    let started = std::time::Instant::now();
                    super::$name(&server).await;
                    eprintln!(
                        "{} against java: {} ms",
                        stringify!($name),
                        started.elapsed().as_millis()
                    );
                }
            )*
        }
    };
}

against_both_servers! {
    null_data_crosses_between_the_java_and_rust_clients,
    a_missing_chroot_behaves_as_with_javas_client,
    curator_reads_our_protected_names,
    protected_create_and_guaranteed_delete_go_through_a_cut,
}

// ---------------------------------------------------------------------------------------------
// 4. A TLS connect failure.
// ---------------------------------------------------------------------------------------------

/// A TLS client at a plain port: the server drops the connection on the ClientHello, and the
/// failure names the TLS handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_failure_is_reported_as_such() {
    let pki = TestPki::generate(
        &Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("client-api-certs-{}", std::process::id())),
    );
    let server = RustZkServer::start(&[]).expect("start zk-server");
    let failure = Client::builder(server.connect_string())
        .tls(pki.client(Some("alice.pem")))
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(failure, ErrorKind::Timeout);
    assert_eq!(failure.hosts().len(), 1, "{failure}");
    assert!(
        matches!(failure.hosts()[0].last_cause, ConnectCause::Tls(_)),
        "{failure}"
    );
    eprintln!("{failure}");
}

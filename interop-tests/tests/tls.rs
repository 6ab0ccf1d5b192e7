//! TLS on the secure client port: our server with the stores Java reads (PEM, PKCS12 written by
//! openssl and keytool), the real clients over TLS (the Java client's Netty socket, zkCli.sh,
//! kazoo, zk-client), client certificates as `x509` ids compared with the real Java server
//! (NettyServerCnxnFactory), and garbage on the TLS port.
//!
//! Certificates are made by each run with `openssl` and `keytool` (a throwaway CA, a server
//! certificate for 127.0.0.1 and localhost, and clients alice, bob and root), never checked in.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use interop_tests::pki::{password_of, ALICE_DN, BOB_DN, PASSWORD, ROOT_DN};
use interop_tests::{
    free_port, JavaProgram, JavaZkServer, PythonScript, RustZkServer, ServerUnderTest, TestPki,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_client::{Client, CreateOptions, ErrorKind, StoreSpec, TlsOptions};
use zk_proto::data::{Acl, Id};
use zk_proto::perms;

/// The throwaway PKI of this test run (generated once per process).
fn certs() -> &'static TestPki {
    static CERTS: OnceLock<TestPki> = OnceLock::new();
    CERTS.get_or_init(|| {
        TestPki::generate(
            &Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("tls-certs-{}", std::process::id())),
        )
    })
}

/// Our server with a secure port (and its plain one) using `key_store` / `trust_store`.
fn our_server(key_store: &str, trust_store: &str, extra: &[&str]) -> RustZkServer {
    let mut cfg = certs().server_cfg(key_store, trust_store, 0);
    cfg.extend(extra.iter().map(|s| s.to_string()));
    let lines: Vec<&str> = cfg.iter().map(String::as_str).collect();
    RustZkServer::start(&lines).expect("our server starts with TLS")
}

fn secure(server: &RustZkServer) -> SocketAddr {
    server.secure_addr().expect("a secure port")
}

async fn tls_client(addr: SocketAddr, key_store: Option<&str>) -> zk_client::Result<Client> {
    Client::builder(addr.to_string())
        .tls(certs().client(key_store))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
}

/// A four-letter word over TLS (with alice's certificate): what the server wrote before
/// closing.
async fn tls_four_letter_word(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let certs = certs();
    let key = zk_tls::load_key_store(&StoreSpec::new(certs.path("alice.pem"))).unwrap();
    let mut roots = zk_tls::rustls::RootCertStore::empty();
    for c in zk_tls::load_trust_store(&StoreSpec::new(certs.path("ca.pem"))).unwrap() {
        roots.add(c).unwrap();
    }
    let config =
        zk_tls::rustls::ClientConfig::builder_with_provider(Arc::new(zk_tls::ring_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(key.chain, key.key)
            .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = zk_tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    stream.write_all(word.as_bytes()).await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn stores_written_by_openssl_and_keytool_load() {
    let certs = certs();
    for (store, chain_len) in [
        ("server.pem", 2),
        ("server.p12", 2),
        ("server-keytool.p12", 2),
        ("alice-legacy.p12", 2),
        ("alice-enc.pem", 1),
    ] {
        let spec = StoreSpec::new(certs.path(store)).password(password_of(store));
        let key = zk_tls::load_key_store(&spec).unwrap_or_else(|e| panic!("{store}: {e}"));
        assert_eq!(key.chain.len(), chain_len, "{store}");
    }
    for store in ["ca.pem", "trust.p12"] {
        let spec = StoreSpec::new(certs.path(store)).password(PASSWORD);
        assert_eq!(zk_tls::load_trust_store(&spec).unwrap().len(), 1, "{store}");
    }
    // A key store is no trust store (no trusted entry), and a wrong password is refused.
    let key_only = StoreSpec::new(certs.path("server.p12")).password(PASSWORD);
    assert!(zk_tls::load_trust_store(&key_only).is_err());
    let wrong = StoreSpec::new(certs.path("server.p12")).password("wrong");
    assert!(zk_tls::load_key_store(&wrong).is_err());
    let alice = zk_tls::load_key_store(&StoreSpec::new(certs.path("alice.p12")).password(PASSWORD))
        .unwrap();
    assert_eq!(zk_tls::subject_name(&alice.chain[0]).unwrap(), ALICE_DN);
}

const JAVA_TLS_CLIENT: &str = r#"
import java.util.concurrent.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.*;
public class TlsClient {
    public static void main(String[] a) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(a[0], 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
        });
        if (!up.await(Long.parseLong(a[1]), TimeUnit.MILLISECONDS)) {
            System.out.println("not connected");
            Runtime.getRuntime().halt(0);
        }
        String p = zk.create(a[2], "tls".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        System.out.println("created " + p + " " + new String(zk.getData(p, false, null)));
        for (ClientInfo c : zk.whoAmI()) System.out.println("whoami " + c.getAuthScheme() + " " + c.getUser());
        zk.close();
    }
}
"#;

/// The Java client's TLS flags (Netty socket) with `key_store` as its identity.
fn java_tls_flags(key_store: Option<&str>, trust_store: &str) -> Vec<String> {
    let certs = certs();
    let mut flags = vec![
        "-Dzookeeper.client.secure=true".to_owned(),
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty".to_owned(),
    ];
    // An empty password is left unset (the harness does not pass empty -D values through).
    let mut store = |which: &str, file: &str| {
        flags.push(format!(
            "-Dzookeeper.ssl.{which}.location={}",
            certs.path(file)
        ));
        if !password_of(file).is_empty() {
            flags.push(format!("-Dzookeeper.ssl.{which}.password={PASSWORD}"));
        }
    };
    store("trustStore", trust_store);
    if let Some(file) = key_store {
        store("keyStore", file);
    }
    flags
}

#[test]
fn java_client_and_zkcli_over_tls_with_pem_and_pkcs12_stores() {
    let program = JavaProgram::from_source("TlsClient", JAVA_TLS_CLIENT).unwrap();
    // PEM server stores with PKCS12 clients, then PKCS12 (keytool-written) server stores with
    // PEM clients.
    for (server_key, server_trust, client_key, client_trust, node) in [
        (
            "server.pem",
            "ca.pem",
            "alice.p12",
            "trust.p12",
            "/java-pem-server",
        ),
        (
            "server-keytool.p12",
            "trust.p12",
            "alice.pem",
            "ca.pem",
            "/java-p12-server",
        ),
    ] {
        let server = our_server(server_key, server_trust, &[]);
        let addr = secure(&server).to_string();
        let flags = java_tls_flags(Some(client_key), client_trust);
        let out = program
            .spawn_with_flags(&flags, &[addr.as_str(), "15000", node])
            .unwrap()
            .wait_timeout(Duration::from_secs(60))
            .unwrap()
            .expect_success()
            .unwrap();
        assert_eq!(
            out.stdout,
            format!("created {node} tls\nwhoami x509 {ALICE_DN}\nwhoami ip 127.0.0.1\n"),
            "{server_key}: {}",
            out.stderr
        );
        // Without a client certificate the server (ssl.clientAuth=need) refuses the handshake.
        let flags = java_tls_flags(None, client_trust);
        let out = program
            .spawn_with_flags(&flags, &[addr.as_str(), "3000", "/never"])
            .unwrap()
            .wait_timeout(Duration::from_secs(60))
            .unwrap();
        assert_eq!(out.stdout, "not connected\n", "{}", out.stderr);
    }
    // zkCli.sh: Debian's script puts only zookeeper.jar on its class path, which lacks the
    // netty codec the Netty socket needs; a later -cp in CLIENT_JVMFLAGS completes it.
    let server = our_server("server.p12", "trust.p12", &[]);
    let mut flags = vec!["-cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar".to_owned()];
    flags.extend(java_tls_flags(Some("bob.pem"), "trust.p12"));
    let out = Command::new("/usr/share/zookeeper/bin/zkCli.sh")
        .env("CLIENT_JVMFLAGS", flags.join(" "))
        .args(["-server", &secure(&server).to_string(), "whoami"])
        .output()
        .expect("zkCli.sh (Debian's zookeeper package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("x509: {BOB_DN}\nip: 127.0.0.1")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kazoo_over_tls() {
    let certs = certs();
    let server = our_server("server.pem", "trust.p12", &[]);
    let script = PythonScript::new(
        "kazoo_tls",
        r#"
import sys
from kazoo.client import KazooClient
host, ca, cert, key = sys.argv[1:5]
zk = KazooClient(hosts=host, use_ssl=True, ca=ca, certfile=cert, keyfile=key, verify_certs=True)
zk.start(timeout=15)
zk.create("/kazoo-tls", b"over tls")
print(zk.get("/kazoo-tls")[0].decode())
zk.stop()
"#,
    )
    .unwrap();
    let out = script
        .run(&[
            secure(&server).to_string(),
            certs.path("ca.pem"),
            certs.path("alice.crt"),
            certs.path("alice.key"),
        ])
        .unwrap()
        .expect_success()
        .unwrap();
    assert_eq!(out.stdout, "over tls\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_client_over_tls_with_each_store_format() {
    let server = our_server("server-keytool.p12", "ca.pem", &[]);
    let addr = secure(&server);
    for store in [
        "alice.pem",
        "alice.p12",
        "alice-legacy.p12",
        "alice-enc.pem",
    ] {
        let client = tls_client(addr, Some(store))
            .await
            .unwrap_or_else(|e| panic!("{store}: {e}"));
        let path = format!("/zk-client-{store}");
        client
            .create(&path, store.as_bytes(), &CreateOptions::persistent())
            .await
            .unwrap();
        assert_eq!(
            &client.get_data(&path).await.unwrap().0[..],
            store.as_bytes()
        );
        let ids = client.who_am_i().await.unwrap();
        assert_eq!(ids[0].auth_scheme, "x509");
        assert_eq!(ids[0].user, ALICE_DN);
        client.close().await.unwrap();
    }
    // No certificate: refused (ssl.clientAuth=need); the client keeps trying until its timeout.
    assert_eq!(
        tls_client(addr, None)
            .await
            .err()
            .map(zk_client::Error::into_kind),
        Some(ErrorKind::Timeout)
    );
    // A store that cannot be read is an error at once.
    let bad = Client::builder(addr.to_string())
        .tls(TlsOptions::new().trust_store(StoreSpec::new("/nonexistent/ca.pem")))
        .connect()
        .await;
    assert!(
        matches!(&bad, Err(e) if matches!(e.kind(), ErrorKind::Tls(_))),
        "{bad:?}"
    );
    // clientAuth=want serves clients without a certificate (ip only).
    let want = our_server("server.pem", "ca.pem", &["ssl.clientAuth=want"]);
    let anonymous = tls_client(secure(&want), None).await.unwrap();
    let ids = anonymous.who_am_i().await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].auth_scheme, "ip");
}

/// The x509 scenario, as a transcript: alice protects a node with her certificate's id, bob is
/// refused, the super user root passes, `auth` expands to the certificate's id, a bad DN is an
/// invalid ACL, `addauth x509` works only with a certificate.
async fn x509_transcript(secure: SocketAddr, plain: SocketAddr) -> Vec<String> {
    let mut log = Vec::new();
    let show = |r: zk_client::Result<String>| match r {
        Ok(s) => s,
        Err(e) => format!("error {:?}", e.code()),
    };
    let alice = tls_client(secure, Some("alice.pem")).await.unwrap();
    let bob = tls_client(secure, Some("bob.p12")).await.unwrap();
    let root = tls_client(secure, Some("root.pem")).await.unwrap();
    for (who, c) in [("alice", &alice), ("root", &root)] {
        let ids = c.who_am_i().await.unwrap();
        let ids: Vec<String> = ids
            .iter()
            .map(|i| format!("{}:{}", i.auth_scheme, i.user))
            .collect();
        log.push(format!("{who} whoami {ids:?}"));
    }
    let mine = vec![Acl::new(perms::ALL, Id::new("x509", ALICE_DN))];
    let created = alice
        .create(
            "/x509",
            b"alice's",
            &CreateOptions::persistent().with_acl(mine),
        )
        .await
        .map(|(p, _)| p);
    log.push(format!("alice create {}", show(created)));
    for (who, c) in [("alice", &alice), ("bob", &bob), ("root", &root)] {
        let got = c
            .get_data("/x509")
            .await
            .map(|(d, _)| String::from_utf8_lossy(&d).into_owned());
        log.push(format!("{who} get {}", show(got)));
        let set = c
            .set_data("/x509", who.as_bytes(), None)
            .await
            .map(|s| s.version.to_string());
        log.push(format!("{who} set {}", show(set)));
    }
    let auth = alice
        .create(
            "/auth",
            b"",
            &CreateOptions::persistent().with_acl(Acl::creator_all()),
        )
        .await
        .map(|(p, _)| p);
    log.push(format!("alice create auth {}", show(auth)));
    let acl = alice
        .get_acl("/auth")
        .await
        .map(|(acl, _)| format!("{acl:?}"));
    log.push(format!("alice getAcl {}", show(acl)));
    let bad = vec![Acl::new(perms::ALL, Id::new("x509", "alice"))];
    let bad = alice
        .create("/bad", b"", &CreateOptions::persistent().with_acl(bad))
        .await
        .map(|(p, _)| p);
    log.push(format!("alice create bad dn {}", show(bad)));
    log.push(format!(
        "alice addauth x509 {}",
        show(
            alice
                .add_auth("x509", Vec::new())
                .await
                .map(|()| "ok".into())
        )
    ));
    log.push(format!(
        "alice after addauth {}",
        show(alice.exists("/x509").await.map(|s| s.is_some().to_string()))
    ));
    let plain_client = Client::connect(&plain.to_string()).await.unwrap();
    let added = plain_client
        .add_auth("x509", Vec::new())
        .await
        .map(|()| "ok".to_owned());
    log.push(format!("plain addauth x509 {}", show(added)));
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_acls_as_on_the_java_server() {
    let certs = certs();
    let java_port = free_port().unwrap();
    let mut builder = JavaZkServer::builder();
    for line in certs.server_cfg("server.p12", "trust.p12", java_port) {
        builder = builder.cfg(line);
    }
    let java = tokio::task::spawn_blocking(move || builder.start())
        .await
        .unwrap()
        .unwrap();
    let java_secure: SocketAddr = format!("127.0.0.1:{java_port}").parse().unwrap();
    let java_log = x509_transcript(java_secure, java.addr()).await;
    let ours = our_server("server.pem", "ca.pem", &[]);
    let our_log = x509_transcript(secure(&ours), ours.addr()).await;
    assert_eq!(our_log, java_log, "ours vs Java");
    // The transcript says what it should, not just the same thing twice.
    assert!(
        our_log.contains(&"bob get error Some(NoAuth)".to_owned()),
        "{our_log:#?}"
    );
    assert!(
        our_log.contains(&"root get alice's".to_owned())
            || our_log.contains(&"root get alice".to_owned()),
        "{our_log:#?}"
    );
    assert!(
        our_log.contains(&"alice create bad dn error Some(InvalidAcl)".to_owned()),
        "{our_log:#?}"
    );
    assert!(
        our_log.contains(&"plain addauth x509 error Some(AuthFailed)".to_owned()),
        "{our_log:#?}"
    );
    // The super user's ids, in Java's set order; `super` has no provider, so no user name.
    assert_eq!(
        our_log[1],
        format!("root whoami [\"x509:{ROOT_DN}\", \"super:\", \"ip:127.0.0.1\"]")
    );
    // Four-letter words answer on the secure port, as Java's Netty factory does.
    assert_eq!(
        tls_four_letter_word(java_secure, "ruok").await.unwrap(),
        "imok"
    );
    assert_eq!(
        tls_four_letter_word(secure(&ours), "ruok").await.unwrap(),
        "imok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_tls_port_closes_that_connection_only() {
    let server = our_server("server.pem", "ca.pem", &[]);
    let addr = secure(&server);
    let client = tls_client(addr, Some("alice.pem")).await.unwrap();
    // A plain ZooKeeper connect frame, random bytes, a truncated TLS record, and a silent
    // peer's end of file: each connection is closed, nothing else is disturbed.
    let connect_frame: &[u8] = &[
        0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 117, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    for input in [
        connect_frame,
        b"\x00\xffgarbage\x13\x37 bytes",
        b"\x16\x03\x01\x40\x00\x01",
        b"",
    ] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(input).await.unwrap();
        if input.len() < 10 {
            let _ = tcp.shutdown().await;
        }
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the server closes the connection after {input:?}"
        );
        // No ZooKeeper answer: at most a TLS alert record (content type 21).
        assert!(
            answer.is_empty() || answer[0] == 21,
            "{input:?} got {answer:?}"
        );
    }
    client
        .create("/still-serving", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert!(tls_client(addr, Some("bob.pem")).await.is_ok());
    assert_eq!(tls_four_letter_word(addr, "ruok").await.unwrap(), "imok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_port_alone() {
    let certs = certs();
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "tickTime=2000\ndataDir={}\n4lw.commands.whitelist=*\n",
        dir.path().display()
    );
    for line in certs.server_cfg("server.pem", "ca.pem", 0) {
        text.push_str(&line);
        text.push('\n');
    }
    let cfg = zk_server::config::Config::parse(&text, "").unwrap();
    let tree = zk_server::tree::DataTree::new(false);
    let server = zk_server::runtime::start(
        cfg,
        tree,
        Box::new(zk_server::storage::log::MemTxnLog::new()),
    )
    .await
    .unwrap();
    let addr = server.secure_local_addr().expect("the secure port");
    assert_eq!(server.local_addr(), addr, "no plain port");
    let client = tls_client(addr, Some("alice.p12")).await.unwrap();
    client
        .create("/only-tls", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let conf = tls_four_letter_word(addr, "conf").await.unwrap();
    assert!(
        conf.starts_with(&format!(
            "clientPort=-1\nsecureClientPort={}\n",
            addr.port()
        )),
        "{conf}"
    );
    client.close().await.unwrap();
    server.shutdown().await;
    // A key store that cannot be read stops the start.
    let text = text.replace("server.pem", "missing.pem");
    let cfg = zk_server::config::Config::parse(&text, "").unwrap();
    let err = zk_server::runtime::start(
        cfg,
        zk_server::tree::DataTree::new(false),
        Box::new(zk_server::storage::log::MemTxnLog::new()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

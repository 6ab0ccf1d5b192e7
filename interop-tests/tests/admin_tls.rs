//! The AdminServer over TLS, with the client port's stores (a throwaway PKI made by openssl
//! and keytool), driven by curl:
//! - `admin.forceHttps=true`: HTTPS answers, plain HTTP does not;
//! - `admin.portUnification=true`: both on the one port;
//! - `snapshot` with `Authorization: x509` and a client certificate whose DN the ACL of `/`
//!   names, refused without a certificate or with another one.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use interop_tests::pki::ALICE_DN;
use interop_tests::TestPki;
use zk_client::{Client, CreateOptions};
use zk_proto::data::{Acl, Id};
use zk_server::config::Config;
use zk_server::server::{self, RunOptions, RunningServer};

struct Server {
    running: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stopper().stop();
        }
    }
}

async fn start(pki: &TestPki, extra: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n\
         admin.serverAddress=127.0.0.1\nadmin.serverPort=0\n\
         ssl.keyStore.location={}\nssl.trustStore.location={}\n{extra}",
        dir.path().display(),
        pki.path("server.pem"),
        pki.path("ca.pem"),
    );
    let running = server::start(Config::parse(&text, "").unwrap(), RunOptions::default())
        .await
        .expect("start");
    Server {
        running: Some(running),
        _dir: dir,
    }
}

/// curl's status code for `url` (0 when no HTTP answer came), with extra arguments.
fn curl(url: &str, args: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn pki(dir: &Path) -> TestPki {
    TestPki::generate(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_unified_and_x509_identities() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = tokio::task::block_in_place(|| pki(pki_dir.path()));
    let ca = pki.path("ca.pem");
    // PEM key stores hold the key and the chain: curl takes them as both.
    let alice = pki.path("alice.pem");
    let bob = pki.path("bob.pem");

    // forceHttps: TLS only.
    let forced = start(&pki, "admin.forceHttps=true\n").await;
    let port = forced
        .running
        .as_ref()
        .unwrap()
        .admin_addr()
        .unwrap()
        .port();
    let https = format!("https://127.0.0.1:{port}/commands/ruok");
    let plain = format!("http://127.0.0.1:{port}/commands/ruok");
    let checks = tokio::task::block_in_place(|| {
        (
            curl(&https, &["--cacert", &ca]),
            curl(&plain, &[]),
            curl(
                &https,
                &["--cacert", &ca, "--cert", &alice, "--key", &alice],
            ),
        )
    });
    assert_eq!(
        checks,
        (200, 0, 200),
        "https, plain, https with a certificate"
    );

    // portUnification: both, and the x509 identity guards `snapshot`.
    // The x509 provider makes `x509:<DN>` ACLs valid (Java registers it the same way).
    let unified = start(
        &pki,
        "admin.portUnification=true\n\
         authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n",
    )
    .await;
    let running = unified.running.as_ref().unwrap();
    let zk = Client::builder(running.local_addr().to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    zk.create("/x", b"1", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.set_acl(
        "/",
        vec![Acl::new(zk_proto::perms::ALL, Id::new("x509", ALICE_DN))],
        None,
    )
    .await
    .unwrap();
    let port = running.admin_addr().unwrap().port();
    let https = format!("https://127.0.0.1:{port}/commands");
    let plain = format!("http://127.0.0.1:{port}/commands");
    let x509 = ["-H", "Authorization: x509"];
    let checks = tokio::task::block_in_place(|| {
        let snap = format!("{https}/snapshot?streaming=false");
        (
            curl(&format!("{plain}/ruok"), &[]),
            curl(&format!("{https}/ruok"), &["--cacert", &ca]),
            // No certificate: x509 names nobody.
            curl(&snap, &[&["--cacert", ca.as_str()][..], &x509[..]].concat()),
            // Bob is not in the ACL.
            curl(
                &snap,
                &[
                    &[
                        "--cacert",
                        ca.as_str(),
                        "--cert",
                        bob.as_str(),
                        "--key",
                        bob.as_str(),
                    ][..],
                    &x509[..],
                ]
                .concat(),
            ),
            // Alice is.
            curl(
                &snap,
                &[
                    &[
                        "--cacert",
                        ca.as_str(),
                        "--cert",
                        alice.as_str(),
                        "--key",
                        alice.as_str(),
                    ][..],
                    &x509[..],
                ]
                .concat(),
            ),
        )
    });
    assert_eq!(
        checks,
        (200, 200, 401, 403, 200),
        "plain, https, none, bob, alice"
    );
}

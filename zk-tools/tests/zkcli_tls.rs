//! zkcli over TLS, end to end: the Java client's `-Dzookeeper.client.secure=true
//! -Dzookeeper.ssl.*` flags (on the command line and in `CLIENT_JVMFLAGS`, as zkCli.sh reads
//! them) against zk-server's secure port, with PEM and PKCS12 key stores from a throwaway PKI;
//! the certificate is the session's `x509` id; without one, a server that needs it refuses.

use std::process::{Command, Output};

use interop_tests::pki::{ALICE_DN, PASSWORD};
use interop_tests::{RustZkServer, TestPki};

const OURS: &str = env!("CARGO_BIN_EXE_zkcli");

fn zkcli(args: &[String], client_jvm_flags: &str) -> Output {
    Command::new(OURS)
        .args(args)
        .env("CLIENT_JVMFLAGS", client_jvm_flags)
        .output()
        .expect("run zkcli")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}stderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn zkcli_over_tls_with_pem_and_pkcs12_key_stores() {
    let pki = TestPki::generate(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("zkcli-tls-{}", std::process::id())),
    );
    let cfg = pki.server_cfg("server.pem", "ca.pem", 0);
    let lines: Vec<&str> = cfg.iter().map(String::as_str).collect();
    let server = RustZkServer::start(&lines).expect("zk-server with a secure port");
    let secure = server.secure_addr().expect("a secure port").to_string();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "-server".to_owned(),
            secure.clone(),
            "-timeout".to_owned(),
            "5000".to_owned(),
            "-Dzookeeper.client.secure=true".to_owned(),
            format!("-Dzookeeper.ssl.trustStore.location={}", pki.path("ca.pem")),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let pem_key = format!(
        "-Dzookeeper.ssl.keyStore.location={}",
        pki.path("alice.pem")
    );

    let created = zkcli(&base(&[&pem_key, "create", "/tls", "over-tls"]), "");
    assert!(created.status.success(), "{}", text(&created));
    let got = zkcli(&base(&[&pem_key, "get", "/tls"]), "");
    assert!(
        String::from_utf8_lossy(&got.stdout).contains("over-tls"),
        "{}",
        text(&got)
    );

    // PKCS12, with the key store given through CLIENT_JVMFLAGS as zkCli.sh takes it.
    let p12_flags = format!(
        "-Dzookeeper.ssl.keyStore.location={} -Dzookeeper.ssl.keyStore.password={PASSWORD}",
        pki.path("alice.p12")
    );
    let whoami = zkcli(&base(&["whoami"]), &p12_flags);
    assert!(
        whoami.status.success() && String::from_utf8_lossy(&whoami.stdout).contains(ALICE_DN),
        "the certificate's subject is the session's x509 id:\n{}",
        text(&whoami)
    );

    // ssl.clientAuth defaults to need: no certificate, no session.
    let refused = zkcli(&base(&["get", "/tls"]), "");
    // ssl.clientAuth defaults to need: no certificate, no session (zk-client retries the
    // handshake until the connect limit, as the Java client does).
    assert!(
        !refused.status.success() && !String::from_utf8_lossy(&refused.stdout).contains("over-tls"),
        "{}",
        text(&refused)
    );
}

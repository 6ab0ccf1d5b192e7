//! A throwaway PKI for TLS tests, made by `openssl` and a JDK's `keytool` in a directory of the
//! caller's: a CA, a server certificate for 127.0.0.1 and localhost, and the clients alice, bob
//! and root, as PEM key stores (PKCS#8 key and chain, as Java's PemReader reads them), PKCS12
//! (openssl 3's default and `-legacy` schemes, and keytool-written), and an encrypted PEM key.
//! Never checked in: each test run makes its own.
//!
//! ```no_run
//! let pki = interop_tests::TestPki::generate(&std::env::temp_dir().join("pki-example"));
//! let zoo_cfg_lines = pki.server_cfg("server.pem", "ca.pem", 0);
//! let client_tls = pki.client(Some("alice.pem"));
//! # let _ = (zoo_cfg_lines, client_tls);
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use zk_client::{StoreSpec, TlsOptions};

/// The subjects of the client certificates, as Java's `X500Principal.getName()` prints them.
pub const ALICE_DN: &str = "CN=alice,OU=Eng,O=Example\\, Inc.,C=US";
pub const BOB_DN: &str = "CN=bob,OU=Eng,O=Example\\, Inc.,C=US";
pub const ROOT_DN: &str = "CN=root,O=zk-rs";
pub const PASSWORD: &str = "secret";

/// The password a store is opened with: PKCS12 stores and the encrypted PEM key have one; a
/// plain PEM key store must have none (Java's PemReader then expects an encrypted key).
pub fn password_of(store: &str) -> &'static str {
    if store.ends_with(".pem") && !store.contains("-enc") {
        ""
    } else {
        PASSWORD
    }
}

/// The certificates and stores in one directory (see the module docs).
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// The path of one of the files (`ca.pem`, `server.p12`, `alice.pem`, ...).
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Makes the PKI in `dir` (emptied first). Panics when openssl or keytool fails.
    pub fn generate(dir: &Path) -> TestPki {
        let dir = dir.to_path_buf();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("certificate directory");
        let run = |program: &str, args: &[&str]| {
            let out = Command::new(program)
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| {
                    panic!("{program} (openssl and a JDK's keytool are needed): {e}")
                });
            assert!(
                out.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let pass = format!("pass:{PASSWORD}");
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=zk-rs test CA",
            ],
        );
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        for (name, subject) in [
            ("server", "/CN=localhost/O=zk-rs"),
            ("alice", "/C=US/O=Example, Inc./OU=Eng/CN=alice"),
            ("bob", "/C=US/O=Example, Inc./OU=Eng/CN=bob"),
            ("root", "/O=zk-rs/CN=root"),
        ] {
            let (key, csr, crt) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
            );
            run(
                "openssl",
                &[
                    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                    subject,
                ],
            );
            run(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &crt,
                    "-days",
                    "2",
                    "-extfile",
                    "san.ext",
                ],
            );
            // PEM key store as Java's PemReader wants it: a PKCS#8 key and the chain.
            let pk8 = format!("{name}.pk8");
            run(
                "openssl",
                &["pkcs8", "-topk8", "-nocrypt", "-in", &key, "-out", &pk8],
            );
            let pem = [&pk8, &crt, "ca.pem"]
                .iter()
                .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
                .collect::<String>();
            std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
            // PKCS12 as openssl 3 writes it: PBES2 (PBKDF2 + AES-256-CBC), SHA-256 MAC.
            run(
                "openssl",
                &[
                    "pkcs12",
                    "-export",
                    "-in",
                    &crt,
                    "-inkey",
                    &key,
                    "-certfile",
                    "ca.pem",
                    "-name",
                    name,
                    "-out",
                    &format!("{name}.p12"),
                    "-passout",
                    &pass,
                ],
            );
        }
        // The legacy PKCS12 schemes (RC2-40 certificates, 3DES key, SHA-1 MAC).
        run(
            "openssl",
            &[
                "pkcs12",
                "-export",
                "-legacy",
                "-in",
                "alice.crt",
                "-inkey",
                "alice.key",
                "-certfile",
                "ca.pem",
                "-out",
                "alice-legacy.p12",
                "-passout",
                &pass,
            ],
        );
        // An encrypted PKCS#8 key (the store password opens it, as in Java's PemReader).
        run(
            "openssl",
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "alice.key",
                "-out",
                "alice-enc.pk8",
                "-passout",
                &pass,
            ],
        );
        let enc = ["alice-enc.pk8", "alice.crt"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
            .collect::<String>();
        std::fs::write(dir.join("alice-enc.pem"), enc).unwrap();
        // Java-written stores: a trust store of the CA, and a key store re-written by keytool.
        run(
            "keytool",
            &[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                "ca.pem",
                "-keystore",
                "trust.p12",
                "-storetype",
                "PKCS12",
                "-storepass",
                PASSWORD,
            ],
        );
        run(
            "keytool",
            &[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                "server.p12",
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                PASSWORD,
                "-destkeystore",
                "server-keytool.p12",
                "-deststoretype",
                "PKCS12",
                "-deststorepass",
                PASSWORD,
            ],
        );
        TestPki { dir }
    }

    /// zoo.cfg lines for a secure port with the given server stores (`clientAuth` default:
    /// need), and the x509 super user root.
    pub fn server_cfg(&self, key_store: &str, trust_store: &str, port: u16) -> Vec<String> {
        vec![
            format!("secureClientPort={port}"),
            "secureClientPortAddress=127.0.0.1".to_owned(),
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory".to_owned(),
            format!("ssl.keyStore.location={}", self.path(key_store)),
            format!("ssl.keyStore.password={}", password_of(key_store)),
            format!("ssl.trustStore.location={}", self.path(trust_store)),
            format!("ssl.trustStore.password={}", password_of(trust_store)),
            format!("X509AuthenticationProvider.superUser={ROOT_DN}"),
        ]
    }

    /// TLS options for zk-client with `key_store` as identity (None: no certificate).
    pub fn client(&self, key_store: Option<&str>) -> TlsOptions {
        let tls = TlsOptions::new().trust_store(StoreSpec::new(self.path("ca.pem")));
        match key_store {
            Some(store) => {
                tls.key_store(StoreSpec::new(self.path(store)).password(password_of(store)))
            }
            None => tls,
        }
    }
}

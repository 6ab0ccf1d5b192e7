//! SASL DIGEST-MD5 on the client port (issue 12), our server next to the Java 3.8 server,
//! both with the same JAAS `Server` section and `authProvider.1=...SASLAuthenticationProvider`:
//! kazoo (both of its SASL paths), the Java client with a JAAS `Client` section, zk-client, and
//! raw bytes for what no client sends (garbage tokens, SASL required). Every scenario runs
//! against both servers and must come out the same.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use interop_tests::{
    JavaProgram, JavaZkServer, PausableProxy, PythonScript, RustZkServer, ServerUnderTest,
};
use zk_client::{Client, CreateOptions, SessionState};
use zk_proto::data::{Acl, Id};
use zk_proto::proto::{
    ConnectRequest, GetSaslRequest, ReplyHeader, RequestHeader, SetSaslResponse,
};
use zk_proto::sasl::{DigestInputs, Directives, DIGEST_URI, NONCE_COUNT, SERVER_NAME};
use zk_proto::{perms, ErrorCode, Jute, OpCode};

const SASL_PROVIDER: &str =
    "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

const SERVER_JAAS: &str = "/* the users of both servers */
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice=\"alicepw\"
    user_bob=\"bobpw\";
};
";

/// A directory with the server's JAAS file and one client JAAS file per login.
struct JaasFiles {
    dir: tempfile::TempDir,
}

impl JaasFiles {
    fn new() -> JaasFiles {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("server.jaas"), SERVER_JAAS).expect("write jaas");
        for (name, user, password) in [
            ("alice", "alice", "alicepw"),
            ("bob", "bob", "bobpw"),
            ("wrong", "alice", "wrong"),
        ] {
            let text = format!(
                "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"{user}\"\n  password=\"{password}\";\n}};\n"
            );
            std::fs::write(dir.path().join(format!("{name}.jaas")), text).expect("write jaas");
        }
        JaasFiles { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.jaas"))
    }

    fn flag(&self, name: &str) -> String {
        format!(
            "-Djava.security.auth.login.config={}",
            self.path(name).display()
        )
    }
}

/// Both servers with the JAAS file and the SASL provider, plus `flags` for both.
fn server_pair(jaas: &JaasFiles, flags: &[&str]) -> (JavaZkServer, RustZkServer) {
    let mut all = vec![jaas.flag("server")];
    all.extend(flags.iter().map(|f| f.to_string()));
    let ours = RustZkServer::start_with_flags(&[SASL_PROVIDER], &all.join(" "))
        .unwrap_or_else(|e| panic!("start zk-server: {e}"));
    let mut java = JavaZkServer::builder().cfg(SASL_PROVIDER);
    for flag in all {
        java = java.jvm_flag(flag);
    }
    let java = java.start().unwrap_or_else(|e| panic!("{e}"));
    (java, ours)
}

fn same_on_both(what: &str, java: &str, ours: &str) {
    assert_eq!(
        java, ours,
        "{what}: the Java server (left) and ours (right) differ"
    );
}

#[test]
fn kazoo_and_the_java_client_log_in_alike_on_both_servers() {
    let jaas = JaasFiles::new();
    let (java, ours) = server_pair(&jaas, &[]);

    let kazoo = PythonScript::from_file("python/kazoo_sasl.py").unwrap_or_else(|e| panic!("{e}"));
    let run_kazoo = |cs: String| {
        kazoo
            .run(&[cs])
            .and_then(|o| o.expect_success())
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout
    };
    let kazoo_java = run_kazoo(java.connect_string());
    let kazoo_ours = run_kazoo(ours.connect_string());
    same_on_both("kazoo", &kazoo_java, &kazoo_ours);
    assert_eq!(
        kazoo_ours,
        "legacy create ok /kz\nlegacy get ok b'secret'\nlegacy acl ok [(31, 'sasl', 'alice')]\n\
         options get ok b'secret'\noptions set ok 1\nbob get error NoAuthError\n\
         bob create under error NoAuthError\nwrong password ok refused\n\
         unknown user ok refused\n"
    );

    let program = JavaProgram::from_file("java/SaslLogin.java").unwrap_or_else(|e| panic!("{e}"));
    let run_java_client = |cs: &str, login: &str, mode: &str| {
        program
            .spawn_with_flags(&[jaas.flag(login)], &[cs, "/j", mode, "alice"])
            .and_then(|p| p.wait_timeout(Duration::from_secs(60)))
            .and_then(|o| o.expect_success())
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout
    };
    let mut outputs = Vec::new();
    for cs in [java.connect_string(), ours.connect_string()] {
        let mut out = String::new();
        for (login, mode) in [("alice", "create"), ("bob", "read"), ("wrong", "read")] {
            out += &format!("-- {login}\n{}", run_java_client(&cs, login, mode));
        }
        outputs.push(out);
    }
    same_on_both("the Java client", &outputs[0], &outputs[1]);
    assert_eq!(
        outputs[1],
        "-- alice\nevents [SyncConnected, SaslAuthenticated]\nstate CONNECTED\ncreate ok /j\n\
         getData ok secret\ngetACL ok [31,s{'sasl,'alice} ]\n\
         -- bob\nevents [SyncConnected, SaslAuthenticated]\nstate CONNECTED\n\
         getData error NOAUTH\ngetACL error NOAUTH\n\
         -- wrong\nevents [SyncConnected, AuthFailed]\nstate AUTH_FAILED\n\
         getData error AUTHFAILED\ngetACL error AUTHFAILED\n"
    );
}

/// zk-client's login against one server: what each step returned.
async fn zk_client_steps(connect_string: String) -> Vec<String> {
    let mut steps = Vec::new();
    let alice = Client::builder(&connect_string)
        .sasl_digest("alice", "alicepw")
        .connect()
        .await
        .expect("alice logs in");
    steps.push(format!("alice state {:?}", alice.state()));
    let only_alice = vec![Acl::new(perms::ALL, Id::new("sasl", "alice"))];
    let created = alice
        .create(
            "/zc",
            b"v",
            &CreateOptions::persistent().with_acl(only_alice),
        )
        .await;
    steps.push(format!("create {:?}", created.map(|(p, _)| p)));
    let acl = alice.get_acl("/zc").await.map(|(acl, _)| acl);
    steps.push(format!("getAcl {acl:?}"));
    // Java keeps a connection's ids in a hash set: their order is unspecified.
    let who = alice.who_am_i().await.map(|ids| {
        let mut ids: Vec<String> = ids
            .into_iter()
            .map(|i| format!("{}:{}", i.auth_scheme, i.user))
            .collect();
        ids.sort();
        ids
    });
    steps.push(format!("whoami {who:?}"));
    alice.close().await.expect("close");

    let bob = Client::builder(&connect_string)
        .sasl_digest("bob", "bobpw")
        .connect()
        .await
        .expect("bob logs in");
    steps.push(format!(
        "bob get {:?}",
        bob.get_data("/zc")
            .await
            .map(|(d, _)| d)
            .map_err(zk_client::Error::into_kind)
    ));
    bob.close().await.expect("close");

    let wrong = Client::builder(&connect_string)
        .sasl_digest("alice", "wrong")
        .connect()
        .await;
    steps.push(format!(
        "wrong password {:?}",
        wrong.map(|_| ()).map_err(zk_client::Error::into_kind)
    ));
    let unknown = Client::builder(&connect_string)
        .sasl_digest("mallory", "x")
        .connect()
        .await;
    steps.push(format!(
        "unknown user {:?}",
        unknown.map(|_| ()).map_err(zk_client::Error::into_kind)
    ));
    steps
}

/// After a reconnect the login is redone: the new connection reads what only alice may.
async fn relogin_after_reconnect(target: SocketAddr) -> Vec<SessionState> {
    let proxy = PausableProxy::start(target).expect("proxy");
    let alice = Client::builder(proxy.connect_string())
        .sasl_digest("alice", "alicepw")
        .session_timeout(Duration::from_secs(20))
        .connect()
        .await
        .expect("alice logs in");
    let mut changes = alice.state_changes();
    proxy.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.resume();
    let mut seen = Vec::new();
    while seen.last() != Some(&SessionState::SaslAuthenticated) {
        let state = tokio::time::timeout(Duration::from_secs(15), changes.next())
            .await
            .expect("reconnects in time")
            .expect("state stream open");
        seen.push(state);
    }
    let (data, _) = alice
        .get_data("/zc")
        .await
        .expect("alice reads after the reconnect");
    assert_eq!(&data[..], b"v");
    alice.close().await.expect("close");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_client_logs_in_alike_on_both_servers_and_again_after_a_reconnect() {
    let jaas = JaasFiles::new();
    let (java, ours) = tokio::task::block_in_place(|| server_pair(&jaas, &[]));
    let on_java = zk_client_steps(java.connect_string()).await;
    let on_ours = zk_client_steps(ours.connect_string()).await;
    assert_eq!(on_java, on_ours, "Java server (left), ours (right)");
    assert_eq!(
        on_ours,
        [
            "alice state SaslAuthenticated",
            "create Ok(\"/zc\")",
            "getAcl Ok([Acl { perms: 31, id: Id { scheme: \"sasl\", id: \"alice\" } }])",
            "whoami Ok([\"ip:127.0.0.1\", \"sasl:alice\"])",
            "bob get Err(NoAuth)",
            "wrong password Err(AuthFailed)",
            "unknown user Err(AuthFailed)",
        ]
    );
    for (kind, addr) in [("java", java.addr()), ("ours", ours.addr())] {
        let seen = relogin_after_reconnect(addr).await;
        assert_eq!(
            seen,
            [
                SessionState::Disconnected,
                SessionState::Connected,
                SessionState::SaslAuthenticated
            ],
            "{kind}"
        );
    }
}

// ----- raw bytes ----------------------------------------------------------------------------

/// A blocking connection that shows replies as bytes.
struct Raw {
    stream: TcpStream,
    next_xid: i32,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut raw = Raw {
            stream,
            next_xid: 1,
        };
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: bytes::Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        raw.write(&request.to_jute_bytes());
        raw.read().expect("a ConnectResponse");
        raw
    }

    fn write(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).expect("write");
    }

    /// The next frame, or `None` when the server closed the connection.
    fn read(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut payload = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
        self.stream.read_exact(&mut payload).ok()?;
        Some(payload)
    }

    /// Sends a request and returns the reply's header, the rest of its bytes, and whether the
    /// server closed the connection after it.
    fn call(&mut self, op: OpCode, body: &[u8]) -> (ReplyHeader, Vec<u8>, bool) {
        let xid = self.next_xid;
        self.next_xid += 1;
        let mut payload = RequestHeader::new(xid, op).to_jute_bytes();
        payload.extend_from_slice(body);
        self.write(&payload);
        let reply = self.read().expect("a reply");
        let mut input = &reply[..];
        let header = ReplyHeader::read(&mut input).expect("a reply header");
        let rest = input.to_vec();
        let closed = if header.err.is_ok() {
            false
        } else {
            self.read().is_none()
        };
        (header, rest, closed)
    }

    fn sasl(&mut self, token: &[u8]) -> (ReplyHeader, Vec<u8>, bool) {
        let body = GetSaslRequest {
            token: Some(bytes::Bytes::copy_from_slice(token)),
        }
        .to_jute_bytes();
        self.call(OpCode::Sasl, &body)
    }

    /// A full DIGEST-MD5 login as `user`.
    fn login(&mut self, user: &str, password: &str) -> ErrorCode {
        let (_, rest, _) = self.sasl(b"");
        let challenge = SetSaslResponse::from_jute_bytes(&rest)
            .expect("a SetSASLResponse")
            .token
            .expect("a challenge");
        let challenge = Directives::parse(&challenge).expect("directives");
        let nonce = challenge.get("nonce").expect("a nonce");
        let inputs = DigestInputs {
            username: user,
            realm: SERVER_NAME,
            password,
            nonce,
            cnonce: "raw",
            nonce_count: NONCE_COUNT,
            qop: "auth",
            digest_uri: DIGEST_URI,
            authzid: None,
        };
        let mut response = Directives::default();
        response
            .push_token("charset", "utf-8")
            .push_quoted("username", user)
            .push_quoted("realm", SERVER_NAME)
            .push_quoted("nonce", nonce)
            .push_token("nc", NONCE_COUNT)
            .push_quoted("cnonce", "raw")
            .push_quoted("digest-uri", DIGEST_URI)
            .push_token("response", &inputs.response(true));
        self.sasl(&response.to_bytes()).0.err
    }
}

/// What a client sees of one raw scenario, with the nonce blanked.
fn raw_scenarios(addr: SocketAddr) -> Vec<String> {
    let shown = |(h, rest, closed): (ReplyHeader, Vec<u8>, bool)| {
        let token = SetSaslResponse::from_jute_bytes(&rest)
            .map(|r| r.token.map(|t| String::from_utf8_lossy(&t).into_owned()))
            .map_err(|_| format!("{rest:02x?}"));
        let token = format!("{token:?}");
        let token = match token.find("nonce=\\\"") {
            Some(at) => format!("{}<nonce>", &token[..at]),
            None => token,
        };
        format!(
            "xid {} zxid {} {} token {token} closed {closed}",
            h.xid, h.zxid, h.err
        )
    };
    let mut out = Vec::new();
    let mut raw = Raw::connect(addr);
    out.push(format!(
        "garbage first: {}",
        shown(raw.sasl(b"\x00\xffgarbage"))
    ));
    let mut raw = Raw::connect(addr);
    out.push(format!("challenge: {}", shown(raw.sasl(b""))));
    out.push(format!(
        "garbage second: {}",
        shown(raw.sasl(b"x=\"\xff,,=\x00"))
    ));
    let mut raw = Raw::connect(addr);
    raw.sasl(b"");
    out.push(format!("oversized: {}", shown(raw.sasl(&[b'a'; 5000]))));
    let mut raw = Raw::connect(addr);
    out.push(format!("login: {}", raw.login("alice", "alicepw")));
    out.push(format!("again after login: {}", shown(raw.sasl(b""))));
    out
}

#[test]
fn garbage_tokens_and_required_sasl_answered_as_java() {
    let jaas = JaasFiles::new();
    let (java, ours) = server_pair(&jaas, &[]);
    let on_java = raw_scenarios(java.addr());
    let on_ours = raw_scenarios(ours.addr());
    assert_eq!(on_java, on_ours, "Java server (left), ours (right)");
    assert_eq!(
        on_ours[2],
        "garbage second: xid 2 zxid 0 AUTHFAILED (-115) token Ok(None) closed true"
    );
    // The servers still serve.
    let mut raw = Raw::connect(ours.addr());
    assert_eq!(raw.login("bob", "bobpw"), ErrorCode::Ok);
    drop((java, ours));

    // SASL required: other requests are refused until the login, failures say so.
    let (java, ours) = server_pair(&jaas, &["-Dzookeeper.sessionRequireClientSASLAuth=true"]);
    let required = |addr: SocketAddr| {
        let exists = zk_proto::proto::ExistsRequest {
            path: "/".into(),
            watch: false,
        }
        .to_jute_bytes();
        let mut out = Vec::new();
        let mut raw = Raw::connect(addr);
        let (h, rest, closed) = raw.call(OpCode::Exists, &exists);
        out.push(format!(
            "exists first: {} {} {rest:?} {closed}",
            h.zxid, h.err
        ));
        let mut raw = Raw::connect(addr);
        raw.sasl(b"");
        let (h, rest, closed) = raw.sasl(b"garbage");
        out.push(format!("garbage: {} {} {rest:?} {closed}", h.zxid, h.err));
        let mut raw = Raw::connect(addr);
        out.push(format!("login: {}", raw.login("alice", "alicepw")));
        let (h, _, closed) = raw.call(OpCode::Exists, &exists);
        out.push(format!("exists after: {} {closed}", h.err));
        out
    };
    let on_java = required(java.addr());
    let on_ours = required(ours.addr());
    assert_eq!(on_java, on_ours, "Java server (left), ours (right)");
    assert_eq!(
        on_ours,
        [
            "exists first: 0 SESSIONCLOSEDREQUIRESASLAUTH (-124) [] true",
            "garbage: 0 SESSIONCLOSEDREQUIRESASLAUTH (-124) [255, 255, 255, 255] true",
            "login: OK (0)",
            "exists after: OK (0) false",
        ]
    );
}

#[test]
fn a_jaas_file_that_does_not_parse_stops_startup_naming_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jaas = dir.path().join("broken.jaas");
    std::fs::write(
        &jaas,
        "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_alice=\"a\"\n  user_bob \"b\";\n};\n",
    )
    .expect("write");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write");
    let binary = interop_tests::RustZkServerProcess::binary().unwrap_or_else(|e| panic!("{e}"));
    let output = run_with_deadline(&binary, &cfg, &jaas);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:4: expected [=], found [b]", jaas.display())),
        "{stderr}"
    );
}

/// Runs the server binary, killing it if it has not exited within 20 s.
fn run_with_deadline(binary: &Path, cfg: &Path, jaas: &Path) -> std::process::Output {
    let child = std::process::Command::new(binary)
        .arg(cfg)
        .env(
            "SERVER_JVMFLAGS",
            format!("-Djava.security.auth.login.config={}", jaas.display()),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn zk-server");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(output) => output.expect("zk-server output"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg(id.to_string())
                .status();
            panic!("zk-server did not stop on a broken JAAS file");
        }
    }
}

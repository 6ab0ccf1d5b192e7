//! Abuse that once hurt zk-server while Java 3.8 shrugged it off (issue 11): a client deleting
//! any node through the container opcode, acknowledged writes too large to replay, a client
//! that never reads its replies, floods that stalled every session, and a failed snapshot
//! that left a port open with nobody serving it.
//!
//! Tests that measure the process (memory, exit status, restarts) run the zk-server binary;
//! the others run the server in-process. Every wait is bounded; every server is stopped on
//! drop, also when the test fails.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{free_port, ruok};
use zk_proto::data::{Acl, Id};
use zk_proto::message::{MultiOp, MultiRequest, Request, RequestBody};
use zk_proto::proto::{
    AuthPacket, ConnectRequest, CreateRequest, GetAllChildrenNumberRequest, GetDataRequest,
    ReplyHeader, SetDataRequest,
};
use zk_proto::{perms, ErrorCode, Jute};

const WAIT: Duration = Duration::from_secs(20);

// ----- a raw protocol connection --------------------------------------------------------------

/// A blocking connection speaking the wire protocol directly.
struct Raw {
    stream: TcpStream,
    xid: i32,
}

impl Raw {
    fn connect(port: u16, timeout_ms: i32) -> Raw {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        write_frame(&mut stream, &request.to_jute_bytes());
        read_frame(&mut stream).expect("connect response");
        Raw { stream, xid: 0 }
    }

    fn send(&mut self, body: RequestBody) {
        self.xid += 1;
        write_frame(&mut self.stream, &Request::new(self.xid, body).encode());
    }

    /// The next reply's header (notifications skipped) and body bytes.
    fn recv(&mut self) -> Option<(ReplyHeader, Vec<u8>)> {
        loop {
            let frame = read_frame(&mut self.stream)?;
            let mut input = &frame[..];
            let header = ReplyHeader::read(&mut input).expect("reply header");
            if header.xid != -1 {
                return Some((header, input.to_vec()));
            }
        }
    }

    fn call(&mut self, body: RequestBody) -> (ReplyHeader, Vec<u8>) {
        self.send(body);
        self.recv().expect("a reply")
    }
}

fn write_frame(stream: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).expect("write frame");
}

fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut payload = vec![0; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload).ok()?;
    Some(payload)
}

fn create(path: &str, data: &[u8], acl: Vec<Acl>, flags: i32) -> RequestBody {
    RequestBody::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Some(acl),
        flags,
    })
}

fn open_acl() -> Vec<Acl> {
    vec![Acl::new(perms::ALL, Id::anyone())]
}

fn exists(raw: &mut Raw, path: &str) -> bool {
    let (header, _) = raw.call(RequestBody::Exists(zk_proto::proto::ExistsRequest {
        path: path.into(),
        watch: false,
    }));
    header.err == ErrorCode::Ok
}

// ----- the server binary ----------------------------------------------------------------------

/// The zk-server binary on a data directory; killed on drop.
struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    config: PathBuf,
}

impl Server {
    /// A fresh data directory with `extra` zoo.cfg lines (and `SERVER_JVMFLAGS`).
    fn start(dir: &Path, extra: &str, jvm_flags: &str) -> Server {
        let port = free_port();
        let config = dir.join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 4lw.commands.whitelist=*\n{extra}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut server = Server {
            child: None,
            port,
            dir: dir.to_owned(),
            config,
        };
        server.spawn(jvm_flags);
        server
    }

    fn spawn(&mut self, jvm_flags: &str) {
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_zk-server"))
            .arg(&self.config)
            .env("SERVER_JVMFLAGS", jvm_flags)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start zk-server");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !ruok(self.port) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("zk-server exited ({status}) at start:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "zk-server not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.wait_exit().expect("exit after SIGTERM")
    }

    fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + WAIT;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory of the process, in bytes.
    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kb * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ----- 1. deleteContainer is not a client operation -----------------------------------------

#[test]
fn a_client_cannot_delete_through_the_container_opcode() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "", "");
    let mut raw = Raw::connect(server.port, 10_000);
    // Readable by nobody but a digest identity this client does not have.
    let locked = vec![Acl::new(perms::ALL, Id::new("digest", "bob:secret"))];
    assert_eq!(
        raw.call(create("/locked", b"", locked, 0)).0.err,
        ErrorCode::Ok
    );
    assert_eq!(
        raw.call(create("/plain", b"", open_acl(), 0)).0.err,
        ErrorCode::Ok
    );
    assert_eq!(
        raw.call(create("/box", b"", open_acl(), 4)).0.err,
        ErrorCode::Ok
    );
    for path in ["/locked", "/plain", "/box"] {
        let before = raw.call(RequestBody::Sync(zk_proto::proto::SyncRequest {
            path: "/".into(),
        }));
        let (header, _) = raw.call(RequestBody::DeleteContainer(path.into()));
        assert_eq!(header.err, ErrorCode::BadArguments, "{path}");
        // As on Java, the refused request is logged as an error txn: it takes a zxid.
        assert_eq!(header.zxid, before.0.zxid + 1, "{path}");
        assert!(exists(&mut raw, path), "{path} was deleted");
    }
}

// ----- 2. what was acknowledged can be replayed ---------------------------------------------

/// The data of every node under `parent`, read over a raw connection.
fn children_of(raw: &mut Raw, parent: &str) -> Vec<String> {
    let (header, body) = raw.call(RequestBody::GetChildren(
        zk_proto::proto::GetChildrenRequest {
            path: parent.into(),
            watch: false,
        },
    ));
    assert_eq!(header.err, ErrorCode::Ok, "getChildren {parent}");
    let mut input = &body[..];
    let mut names = zk_proto::proto::GetChildrenResponse::read(&mut input)
        .unwrap()
        .children;
    names.sort();
    names
}

#[test]
fn large_acknowledged_txns_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A common production setting: 4 MB znodes.
    let flags = "-Djute.maxbuffer=4194304";
    let mut server = Server::start(dir.path(), "", flags);
    let mut raw = Raw::connect(server.port, 30_000);
    assert_eq!(
        raw.call(create("/m", b"", open_acl(), 0)).0.err,
        ErrorCode::Ok
    );
    assert_eq!(
        raw.call(create("/e", b"", open_acl(), 0)).0.err,
        ErrorCode::Ok
    );
    // (a) one multi of 20,000 sequential creates: about 1 MB of request, more of txn.
    let ops = (0..20_000)
        .map(|_| {
            MultiOp::Create(CreateRequest {
                path: "/m/n-".into(),
                data: Some(Bytes::from_static(b"0123456789")),
                acl: Some(open_acl()),
                flags: 2,
            })
        })
        .collect();
    let (header, _) = raw.call(RequestBody::Multi(MultiRequest { ops }));
    assert_eq!(header.err, ErrorCode::Ok, "the big multi");
    // (b) a session with 40,000 ephemerals closes: a 1.1 MB closeSession txn.
    let mut owner = Raw::connect(server.port, 30_000);
    for i in 0..40_000 {
        owner.send(create(&format!("/e/ephemeral-{i:08}"), b"", open_acl(), 1));
    }
    for _ in 0..40_000 {
        assert_eq!(owner.recv().expect("create reply").0.err, ErrorCode::Ok);
    }
    let (header, _) = owner.call(RequestBody::CloseSession);
    assert_eq!(header.err, ErrorCode::Ok, "close the owner");
    // (c) a 2 MB write.
    let big = vec![b'x'; 2 << 20];
    let (header, _) = raw.call(create("/big", &big, open_acl(), 0));
    assert_eq!(header.err, ErrorCode::Ok, "the 2 MB create");
    let (header, _) = raw.call(RequestBody::SetData(SetDataRequest {
        path: "/big".into(),
        data: Some(Bytes::from(vec![b'y'; 2 << 20])),
        version: -1,
    }));
    assert_eq!(header.err, ErrorCode::Ok, "the 2 MB setData");
    let (header, _) = raw.call(create("/after", b"last", open_acl(), 0));
    assert_eq!(header.err, ErrorCode::Ok);
    drop(raw);

    assert!(
        server.terminate().success(),
        "clean stop:\n{}",
        server.log()
    );
    server.spawn(flags);
    let mut raw = Raw::connect(server.port, 30_000);
    assert_eq!(
        children_of(&mut raw, "/m").len(),
        20_000,
        "the multi's nodes"
    );
    assert_eq!(
        children_of(&mut raw, "/e"),
        Vec::<String>::new(),
        "the closed session's ephemerals"
    );
    let (header, body) = raw.call(RequestBody::GetData(GetDataRequest {
        path: "/big".into(),
        watch: false,
    }));
    assert_eq!(header.err, ErrorCode::Ok);
    let data = zk_proto::proto::GetDataResponse::read(&mut &body[..])
        .unwrap()
        .data
        .unwrap();
    assert!(
        data.len() == 2 << 20 && data.iter().all(|&b| b == b'y'),
        "the 2 MB value"
    );
    assert!(exists(&mut raw, "/after"), "the write after them all");
    // The replay's figures, for the record.
    let log = server.log();
    if let Some(line) = log
        .lines()
        .rev()
        .find(|l| l.contains("transaction logs replayed"))
    {
        println!("restart with 2 MB records: {line}");
    }
}

#[test]
fn a_txn_too_large_to_replay_is_refused_before_it_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // Frames up to 4 MB, but txns read back only up to 4 MB + 1 KB.
    let flags = "-Djute.maxbuffer=4194304 -Dzookeeper.jute.maxbuffer.extrasize=1024";
    let mut server = Server::start(dir.path(), "", flags);
    let mut raw = Raw::connect(server.port, 30_000);
    assert_eq!(
        raw.call(create("/m", b"", open_acl(), 0)).0.err,
        ErrorCode::Ok
    );
    // 70,000 sequential creates of an empty prefix: under 4 MB of request (51 bytes an op),
    // over 4 MB of txn (61 bytes an op, the sequence number added).
    let ops: Vec<MultiOp> = (0..70_000)
        .map(|_| {
            MultiOp::Create(CreateRequest {
                path: "/m/".into(),
                data: Some(Bytes::new()),
                acl: Some(open_acl()),
                flags: 2,
            })
        })
        .collect();
    let request_len = Request::new(1, RequestBody::Multi(MultiRequest { ops: ops.clone() }))
        .encode()
        .len();
    assert!(request_len < 4194304, "request of {request_len} bytes");
    let (header, _) = raw.call(RequestBody::Multi(MultiRequest { ops }));
    assert_eq!(
        header.err,
        ErrorCode::BadArguments,
        "refused, not acknowledged"
    );
    assert_eq!(children_of(&mut raw, "/m").len(), 0);
    let (header, _) = raw.call(create("/after", b"", open_acl(), 0));
    assert_eq!(header.err, ErrorCode::Ok);
    drop(raw);
    assert!(server.terminate().success());
    server.spawn(flags);
    let mut raw = Raw::connect(server.port, 30_000);
    assert!(exists(&mut raw, "/after"));
}

// ----- 3. a client that never reads ---------------------------------------------------------

#[test]
fn memory_stays_bounded_while_a_client_never_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "", "");
    let mut setup = Raw::connect(server.port, 30_000);
    let megabyte = vec![b'd'; 1_000_000];
    assert_eq!(
        setup.call(create("/one", &megabyte, open_acl(), 0)).0.err,
        ErrorCode::Ok
    );
    let baseline = server.rss_bytes();
    // Another client rewrites the node all along, so queued replies cannot all share one
    // buffer: each holds the value it read.
    let rewriter = {
        let port = server.port;
        std::thread::spawn(move || {
            let mut writer = Raw::connect(port, 30_000);
            for i in 0..300u32 {
                let mut value = vec![b'd'; 1_000_000];
                value[..4].copy_from_slice(&i.to_be_bytes());
                let (header, _) = writer.call(RequestBody::SetData(SetDataRequest {
                    path: "/one".into(),
                    data: Some(Bytes::from(value)),
                    version: -1,
                }));
                assert_eq!(header.err, ErrorCode::Ok, "the rewriter is served");
            }
        })
    };
    // 3,000 pipelined reads of the 1 MB node: 3 GB of replies if the server queued them all.
    let mut greedy = Raw::connect(server.port, 30_000);
    greedy
        .stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut sent = 0;
    let mut peak = baseline;
    let request = Request::new(
        7,
        RequestBody::GetData(GetDataRequest {
            path: "/one".into(),
            watch: false,
        }),
    )
    .encode();
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&request);
    let started = Instant::now();
    while sent < 3_000 && started.elapsed() < Duration::from_secs(30) {
        // A write that blocks means the server stopped reading: the push-back we want.
        if greedy.stream.write_all(&frame).is_err() {
            break;
        }
        sent += 1;
        if sent % 100 == 0 {
            peak = peak.max(server.rss_bytes());
        }
    }
    while !rewriter.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(server.rss_bytes());
    }
    rewriter.join().expect("the rewriter finished");
    // Another client is served all along.
    let mut other = Raw::connect(server.port, 30_000);
    assert!(exists(&mut other, "/one"));
    let grown = peak.saturating_sub(baseline);
    println!(
        "never-reading client: {sent} requests sent, server RSS {} MB at start, peak {} MB",
        baseline >> 20,
        peak >> 20
    );
    assert!(
        grown < 200 << 20,
        "server RSS grew by {} MB while a client did not read ({sent} requests sent)",
        grown >> 20
    );
    drop(greedy);
    assert!(ruok(server.port));
}

// ----- 4. floods stall nobody and expire nobody ---------------------------------------------

#[test]
fn sessions_survive_a_read_flood_and_an_auth_flood() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "", "");
    let mut setup = Raw::connect(server.port, 30_000);
    assert_eq!(
        setup.call(create("/tree", b"", open_acl(), 0)).0.err,
        ErrorCode::Ok
    );
    // 200,000 nodes, 1,000 per multi.
    for batch in 0..200 {
        let ops = (0..1000)
            .map(|i| {
                MultiOp::Create(CreateRequest {
                    path: format!("/tree/n{batch}-{i}"),
                    data: Some(Bytes::new()),
                    acl: Some(open_acl()),
                    flags: 0,
                })
            })
            .collect();
        assert_eq!(
            setup.call(RequestBody::Multi(MultiRequest { ops })).0.err,
            ErrorCode::Ok
        );
    }
    // A client with the shortest session Java grants (4 s) and an ephemeral, pinging as a
    // client does (every third of its timeout) on its own thread.
    let mut watched = Raw::connect(server.port, 4_000);
    assert_eq!(
        watched.call(create("/alive", b"", open_acl(), 1)).0.err,
        ErrorCode::Ok
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let (header, _) =
                    watched.call(RequestBody::Exists(zk_proto::proto::ExistsRequest {
                        path: "/alive".into(),
                        watch: false,
                    }));
                assert_eq!(header.err, ErrorCode::Ok, "the watched session's ephemeral");
                worst = worst.max(started.elapsed());
                std::thread::sleep(Duration::from_millis(1300));
            }
            worst
        })
    };
    // The read flood: getAllChildrenNumber of the root and of the big subtree, pipelined.
    let mut flood = Raw::connect(server.port, 30_000);
    let mut ruok_worst = Duration::ZERO;
    for round in 0..4 {
        for i in 0..60 {
            let path = if i % 2 == 0 { "/" } else { "/tree" };
            flood.send(RequestBody::GetAllChildrenNumber(
                GetAllChildrenNumberRequest { path: path.into() },
            ));
        }
        let started = Instant::now();
        assert!(ruok(server.port), "ruok during the flood (round {round})");
        ruok_worst = ruok_worst.max(started.elapsed());
        for i in 0..60 {
            let (header, body) = flood.recv().expect("flood reply");
            assert_eq!(header.err, ErrorCode::Ok);
            let total = i32::from_be_bytes(body[..4].try_into().unwrap());
            let want = if i % 2 == 0 { 200_000 + 3 } else { 200_000 };
            // "/": /tree, its children, /zookeeper, /zookeeper/quota (and /alive, /zookeeper/config when present).
            if i % 2 == 1 {
                assert_eq!(total, want, "getAllChildrenNumber(/tree)");
            } else {
                assert!(total >= want, "getAllChildrenNumber(/) = {total}");
            }
        }
    }
    // The auth flood: 20,000 digest identities on one connection.
    let mut auth = Raw::connect(server.port, 30_000);
    let started = Instant::now();
    for i in 0..20_000 {
        auth.send(RequestBody::Auth(AuthPacket {
            r#type: 0,
            scheme: "digest".into(),
            auth: Bytes::from(format!("user{i}:pw")),
        }));
    }
    for _ in 0..20_000 {
        assert_eq!(auth.recv().expect("auth reply").0.err, ErrorCode::Ok);
    }
    let auth_elapsed = started.elapsed();
    let (header, body) = auth.call(RequestBody::WhoAmI);
    assert_eq!(header.err, ErrorCode::Ok);
    let who = zk_proto::proto::WhoAmIResponse::read(&mut &body[..]).unwrap();
    assert_eq!(
        who.client_info.len(),
        20_001,
        "the ip id and every digest id, once"
    );
    // Listed in Java's set order (hash bins), each once.
    let users: std::collections::HashSet<&str> =
        who.client_info.iter().map(|i| i.user.as_str()).collect();
    assert_eq!(users.len(), 20_001);
    assert!(users.contains("user0") && users.contains("user19999"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ping_worst = pinger.join().expect("the watched session lived");
    println!(
        "flood: worst ruok {ruok_worst:?}, worst call of the 4 s session {ping_worst:?}, 20k auths in {auth_elapsed:?}"
    );
    let mut check = Raw::connect(server.port, 30_000);
    assert!(
        exists(&mut check, "/alive"),
        "the ephemeral outlived the floods"
    );
}

// ----- 8. a failed snapshot stops the server ------------------------------------------------

#[test]
fn a_failed_snapshot_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut server = Server::start(
        dir.path(),
        &format!("dataLogDir={}\nsnapCount=10\n", logs.display()),
        "",
    );
    let snap_dir = dir.path().join("data").join("version-2");
    // Let the startup snapshot finish, then make the snapshot directory unwritable in a way
    // that root cannot get around: a file where the directory was.
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("startup snapshot written") {
        assert!(
            Instant::now() < deadline,
            "no startup snapshot:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::remove_dir_all(&snap_dir).unwrap();
    std::fs::write(&snap_dir, b"not a directory").unwrap();
    let mut raw = Raw::connect(server.port, 30_000);
    for i in 0..30 {
        raw.send(create(&format!("/n{i}"), b"", open_acl(), 0));
        if raw.recv().is_none() {
            break;
        }
    }
    let status = server.wait_exit().unwrap_or_else(|| {
        panic!(
            "the server kept running after a failed snapshot:\n{}",
            server.log()
        )
    });
    assert!(!status.success(), "exit status {status}");
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "the port is closed"
    );
    assert!(
        server.log().contains("cannot write a snapshot"),
        "{}",
        server.log()
    );
}

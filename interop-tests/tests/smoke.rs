//! Smoke tests for the interop harness against the real Java ZooKeeper 3.8 server.
//!
//! These need Java, the Debian ZooKeeper/Curator packages and python3-kazoo; run `scripts/test.sh` on a fresh
//! machine. A missing piece fails the test with a message saying so (no silent skip).

use bytes::Bytes;
use interop_tests::{
    four_letter_word, four_letter_word_timeout, free_port, JavaEnsemble, JavaProgram, JavaZkServer,
    PythonScript,
};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use zk_proto::data::{Acl, Stat};
use zk_proto::message::{Reply, Request, RequestBody, ResponseBody};
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, CreateRequest, CreateResponse, GetDataRequest,
    GetDataResponse, ReplyHeader,
};
use zk_proto::{CreateMode, ErrorCode, Jute};

/// Bound on any single socket read or write in these tests.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest frame these tests accept (the server's default `jute.maxbuffer`).
const MAX_FRAME: usize = 0xfffff;

fn start_server() -> JavaZkServer {
    let started = Instant::now();
    let server = JavaZkServer::start().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "Java ZooKeeper serving on {} after {} ms",
        server.connect_string(),
        started.elapsed().as_millis()
    );
    server
}

fn connect(server: &JavaZkServer) -> TcpStream {
    let stream = TcpStream::connect_timeout(&server.addr(), IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Writes one frame: 4-byte big-endian length, then `payload`.
fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(4 + payload.len());
    (payload.len() as i32).write(&mut frame);
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

/// Reads one frame's payload.
fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    assert!(
        (0..=MAX_FRAME as i32).contains(&len),
        "frame length {len} out of range"
    );
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

/// Sends one request and decodes its reply, checking the xid and that re-encoding the decoded
/// reply gives back the server's exact bytes.
fn call(stream: &mut TcpStream, xid: i32, body: RequestBody) -> Reply {
    let op = body.op();
    write_frame(stream, &Request::new(xid, body).encode()).unwrap();
    let payload = read_frame(stream).unwrap();
    let reply = Reply::decode(op, &payload)
        .unwrap_or_else(|e| panic!("decoding the {} reply: {e}", op.name()));
    assert_eq!(reply.header.xid, xid, "{} reply xid", op.name());
    assert_eq!(reply.encode(), payload, "{} reply re-encodes", op.name());
    reply
}

/// Sends a ConnectRequest (no RequestHeader) for a new session and decodes the response.
fn handshake(stream: &mut TcpStream, timeout_ms: i32) -> ConnectResponse {
    let request = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Bytes::from_static(&[0u8; 16]),
        read_only: Some(false),
    };
    let bytes = request.to_jute_bytes();
    assert_eq!(bytes.len(), 45);
    write_frame(stream, &bytes).unwrap();

    let payload = read_frame(stream).unwrap();
    ConnectResponse::from_jute_bytes(&payload)
        .unwrap_or_else(|e| panic!("decoding the ConnectResponse: {e}"))
}

/// create `path` with `data`, OPEN_ACL_UNSAFE, persistent; returns (created path, reply zxid).
fn create(stream: &mut TcpStream, xid: i32, path: &str, data: &Bytes) -> (String, i64) {
    let reply = call(
        stream,
        xid,
        RequestBody::Create(CreateRequest {
            path: path.to_owned(),
            data: Some(data.clone()),
            acl: Some(Acl::open_unsafe()), // perms 31, world:anyone
            flags: CreateMode::Persistent.flags(),
        }),
    );
    assert_eq!(reply.header.err, ErrorCode::Ok, "create {path}");
    match reply.body {
        ResponseBody::Create(CreateResponse { path }) => (path, reply.header.zxid),
        other => panic!("create {path}: unexpected body {other:?}"),
    }
}

/// getData `path` without a watch: the reply header and, unless it is an error, data and Stat.
fn get_data(stream: &mut TcpStream, xid: i32, path: &str) -> (ReplyHeader, Option<(Bytes, Stat)>) {
    let reply = call(
        stream,
        xid,
        RequestBody::GetData(GetDataRequest {
            path: path.to_owned(),
            watch: false,
        }),
    );
    match reply.body {
        ResponseBody::GetData(GetDataResponse { data, stat }) => {
            (reply.header, Some((data.unwrap_or_default(), stat)))
        }
        ResponseBody::Empty if reply.header.err != ErrorCode::Ok => (reply.header, None),
        other => panic!("getData {path}: unexpected body {other:?}"),
    }
}

/// getData that must succeed; returns (reply zxid, data, stat).
fn get_data_ok(stream: &mut TcpStream, xid: i32, path: &str) -> (i64, Bytes, Stat) {
    match get_data(stream, xid, path) {
        (header, Some((data, stat))) => (header.zxid, data, stat),
        (header, None) => panic!("getData {path}: {}", header.err.name()),
    }
}

/// closeSession; returns the reply zxid and asserts the server then closes the socket.
fn close_session(stream: &mut TcpStream, xid: i32) -> i64 {
    let reply = call(stream, xid, RequestBody::CloseSession);
    assert_eq!(reply.header.err, ErrorCode::Ok, "closeSession");
    assert_eq!(reply.body, ResponseBody::Empty);
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Ok(_) => panic!("data after the closeSession reply"),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the server to close the socket, got {e}"),
    }
    reply.header.zxid
}

/// The handshake and a create/getData/closeSession round over a plain blocking socket, using
/// zk-proto's records: every reply must decode and re-encode to the server's exact bytes.
#[test]
fn raw_protocol_against_java_server() {
    let server = start_server();
    let mut stream = connect(&server);

    let hs = handshake(&mut stream, 10_000);
    assert_eq!(hs.protocol_version, 0);
    assert_eq!(hs.time_out, 10_000, "within 2..=20 ticks of 2000 ms");
    assert_ne!(hs.session_id, 0);
    assert_eq!(hs.passwd.len(), 16);
    assert_eq!(
        hs.read_only,
        Some(false),
        "the reply carries readOnly because we sent it"
    );

    let data = Bytes::from_static(b"hello from zk-rs");
    let (created, create_zxid) = create(&mut stream, 1, "/smoke", &data);
    assert_eq!(created, "/smoke");
    assert!(create_zxid > 0);

    let (zxid, got, stat) = get_data_ok(&mut stream, 2, "/smoke");
    assert_eq!(zxid, create_zxid, "no write since the create");
    assert_eq!(got, data);
    assert_eq!(stat.czxid, create_zxid);
    assert_eq!(stat.mzxid, stat.czxid);
    assert_eq!(stat.pzxid, stat.czxid);
    assert_eq!(stat.ctime, stat.mtime);
    assert!(stat.ctime > 0);
    assert_eq!(stat.version, 0);
    assert_eq!(stat.cversion, 0);
    assert_eq!(stat.aversion, 0);
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(stat.data_length, data.len() as i32);
    assert_eq!(stat.num_children, 0);

    let close_zxid = close_session(&mut stream, 3);
    assert!(close_zxid > create_zxid, "closeSession is a transaction");
}

/// A Java client driver compiled by the harness talks to the Java server.
#[test]
fn java_program_against_java_server() {
    let server = start_server();
    let started = Instant::now();
    let program = JavaProgram::from_file("java/HelloZk.java").unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "compiled (or cached) in {} ms",
        started.elapsed().as_millis()
    );
    let started = Instant::now();
    let out = program
        .run(&[server.connect_string().as_str(), "/from-java", "héllo"])
        .unwrap_or_else(|e| panic!("{e}"))
        .expect_success()
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("driver ran in {} ms", started.elapsed().as_millis());
    assert_eq!(
        out.stdout, "created /from-java\ndata héllo\nversion 0\n",
        "stderr:\n{}",
        out.stderr
    );
    // The node the Java client made reads back the same over the raw protocol.
    let mut stream = connect(&server);
    handshake(&mut stream, 10_000);
    let (_, data, stat) = get_data_ok(&mut stream, 1, "/from-java");
    assert_eq!(data, "héllo".as_bytes());
    assert_eq!(stat.data_length, "héllo".len() as i32);
    close_session(&mut stream, 2);
}

const KAZOO_HELLO: &str = r#"
import sys
from kazoo.client import KazooClient

zk = KazooClient(hosts=sys.argv[1], timeout=10.0)
zk.start(timeout=20)
try:
    zk.create("/from-kazoo", b"kazoo data", makepath=True)
    data, stat = zk.get("/from-kazoo")
    print("data", data.decode())
    print("version", stat.version)
    print("children", sorted(zk.get_children("/")))
finally:
    zk.stop()
    zk.close()
"#;

/// kazoo (Debian's python3-kazoo, run with /usr/bin/python3) talks to the Java server.
#[test]
fn kazoo_script_against_java_server() {
    let server = start_server();
    let started = Instant::now();
    let out = PythonScript::new("kazoo_hello.py", KAZOO_HELLO)
        .and_then(|script| script.run(&[server.connect_string()]))
        .and_then(|out| out.expect_success())
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("kazoo script ran in {} ms", started.elapsed().as_millis());
    assert_eq!(
        out.stdout, "data kazoo data\nversion 0\nchildren ['from-kazoo', 'zookeeper']\n",
        "stderr:\n{}",
        out.stderr
    );
}

/// A failing driver reports its exit and output, and a hanging one is killed at the timeout.
#[test]
fn java_program_failures_are_reported() {
    let failing = JavaProgram::from_source(
        "Fails",
        "public class Fails { public static void main(String[] a) { \
         System.out.println(\"before\"); System.exit(3); } }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = failing.run(&[] as &[&str]).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, "before\n");
    let err = out.expect_success().unwrap_err().to_string();
    assert!(err.contains("before"), "{err}");

    let hangs = JavaProgram::from_source(
        "Hangs",
        "public class Hangs { public static void main(String[] a) throws Exception { \
         System.out.println(\"sleeping\"); Thread.sleep(600000); } }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let err = hangs
        .run_timeout(&[] as &[&str], Duration::from_secs(3))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(matches!(err, interop_tests::Error::Timeout { .. }), "{err}");
}

/// Four-letter words to a port nobody listens on fail fast, and a silent peer times out.
#[test]
fn four_letter_word_errors_do_not_hang() {
    let port = free_port().unwrap();
    let started = Instant::now();
    let err = four_letter_word(("127.0.0.1", port), "ruok").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A listener that accepts (via the backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = Instant::now();
    let err = four_letter_word_timeout(addr, "ruok", Duration::from_millis(500)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let err = four_letter_word(addr, "toolong").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// The server survives a restart on the same port and data directory, keeping its data.
#[test]
fn restart_keeps_port_and_data() {
    let mut server = start_server();
    let port = server.port();
    let before = server.four_letter_word("srvr").unwrap();
    assert!(before.contains("Mode: standalone"), "{before}");
    let mut stream = connect(&server);
    handshake(&mut stream, 10_000);
    let data = Bytes::from_static(b"survives");
    let (_, create_zxid) = create(&mut stream, 1, "/durable", &data);
    server.stop().unwrap();
    assert!(four_letter_word(server.addr(), "ruok").is_err());
    let started = Instant::now();
    server.restart().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("restarted in {} ms", started.elapsed().as_millis());
    assert_eq!(server.port(), port);
    assert_eq!(server.four_letter_word("ruok").unwrap(), "imok");
    assert!(server.data_dir().join("version-2").is_dir());
    let mut stream = connect(&server);
    handshake(&mut stream, 10_000);
    let (_, got, stat) = get_data_ok(&mut stream, 1, "/durable");
    assert_eq!(got, data);
    assert_eq!(stat.czxid, create_zxid);
    close_session(&mut stream, 2);
}

/// A server that cannot start fails fast with its log in the error, not a 30 s wait.
#[test]
fn bad_config_fails_with_the_server_log() {
    let started = Instant::now();
    let err = JavaZkServer::builder()
        .cfg("tickTime=not-a-number")
        .start()
        .unwrap_err();
    assert!(
        matches!(err, interop_tests::Error::ServerStart { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("exited"), "{text}");
    assert!(
        text.contains("not-a-number"),
        "the log tail names the bad value: {text}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Three Java servers form a quorum: one leader, two followers, and a write through one member
/// is read through another.
#[test]
fn three_server_ensemble() {
    let started = Instant::now();
    let ensemble = JavaEnsemble::start(3).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "3-server ensemble serving on {} after {} ms",
        ensemble.connect_string(),
        started.elapsed().as_millis()
    );
    let modes: Vec<String> = ensemble
        .members()
        .iter()
        .map(|m| {
            let srvr = m.four_letter_word("srvr").unwrap();
            srvr.lines()
                .find_map(|l| l.strip_prefix("Mode: "))
                .unwrap_or_else(|| panic!("no Mode in {srvr}"))
                .to_owned()
        })
        .collect();
    assert_eq!(
        modes.iter().filter(|m| *m == "leader").count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| *m == "follower").count(),
        2,
        "{modes:?}"
    );
    let leader = ensemble.leader().expect("a leader");
    assert_eq!(ensemble.member(leader).myid(), Some(leader));

    let writer = ensemble.member(1);
    let reader = ensemble.member(3);
    let mut stream = connect(writer);
    handshake(&mut stream, 10_000);
    let data = Bytes::from_static(b"replicated");
    let (_, create_zxid) = create(&mut stream, 1, "/quorum", &data);
    close_session(&mut stream, 2);

    // The write is committed once acknowledged by a quorum, but member 3 may apply it a little
    // later: poll briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = connect(reader);
    handshake(&mut stream, 10_000);
    let mut xid = 1;
    loop {
        match get_data(&mut stream, xid, "/quorum") {
            (_, Some((got, stat))) => {
                assert_eq!(got, data);
                assert_eq!(stat.czxid, create_zxid);
                break;
            }
            (header, None) => {
                assert_eq!(
                    header.err,
                    ErrorCode::NoNode,
                    "only NONODE while catching up"
                );
            }
        }
        assert!(Instant::now() < deadline, "member 3 never saw /quorum");
        std::thread::sleep(Duration::from_millis(50));
        xid += 1;
    }
    close_session(&mut stream, xid + 1);
}

/// A test may restore Java's default whitelist (only `srvr`); the harness still sees the server
/// come up, and the refusal text is Java's.
#[test]
fn default_whitelist_can_be_restored() {
    let server = JavaZkServer::builder()
        .cfg("4lw.commands.whitelist=srvr")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        server.four_letter_word("ruok").unwrap(),
        "ruok is not executed because it is not in the whitelist.\n"
    );
    assert!(server
        .four_letter_word("srvr")
        .unwrap()
        .contains("Mode: standalone"));
}

//! Bad input never crashes our server, and the other clients carry on.
//!
//! Every test starts our server in-process on a free port with a healthy `zk-client` session
//! open throughout. After each abuse that session must still create and read a node without
//! ever leaving the Connected state, no panic may have happened anywhere in the server, and at
//! the end the server must still accept a new session and answer a four-letter word.
//!
//! The expected behaviour is Java 3.8.0's: PROTOCOL.md (1, 4, 5, 6, 17, 18, 20.5), the
//! client-edge vectors, and, where those are silent, the sources at `release-3.8.0-1`
//! (`NIOServerCnxn`, `NIOServerCnxnFactory`, `ZooKeeperServer.processConnectRequest` /
//! `processPacket`, `PrepRequestProcessor`, `FinalRequestProcessor`). Every wait is bounded.

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{Client, CreateOptions, Op, OpResult, SessionState};
use zk_proto::frame::FourLetterWord;
use zk_proto::txn::{ErrorTxn, Txn, TxnEntry};
use zk_proto::OpCode;
use zk_server::config::Config;
use zk_server::runtime::{self, ServerHandle};
use zk_server::storage::log::{MemTxnLog, TxnEntries};
use zk_server::tree::DataTree;

// ----- panics anywhere but in this file ---------------------------------------------------------

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// Records every panic raised outside this file (the server's tasks run on the test runtime;
/// tokio would swallow their panics).
fn install_panic_hook() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map(|l| l.file()).unwrap_or("");
            if !file.ends_with("bad_input.rs") {
                PANICS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(info.to_string());
            }
            default(info);
        }));
    });
}

fn assert_no_panics(context: &str) {
    let panics = PANICS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        panics.is_empty(),
        "panics outside the test (after {context}): {panics:#?}"
    );
}

// ----- a txn log that remembers ---------------------------------------------------------------

/// An in-memory log the test can look into while the server appends to it.
#[derive(Clone, Default)]
struct TxnLog(Arc<Mutex<MemTxnLog>>);

impl zk_server::storage::log::TxnLog for TxnLog {
    fn append(&mut self, entry: &TxnEntry) -> std::io::Result<()> {
        self.0.lock().unwrap().append(entry)
    }

    fn flush(&mut self) -> std::io::Result<i64> {
        self.0.lock().unwrap().flush()
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().roll()
    }

    fn last_logged_zxid(&self) -> i64 {
        self.0.lock().unwrap().last_logged_zxid()
    }

    fn truncate_after(&mut self, zxid: i64) -> std::io::Result<()> {
        self.0.lock().unwrap().truncate_after(zxid)
    }

    fn read_from(&self, zxid: i64) -> TxnEntries<'_> {
        let entries: Vec<_> = self.0.lock().unwrap().read_from(zxid).collect();
        Box::new(entries.into_iter())
    }
}

impl TxnLog {
    fn entries(&self) -> Vec<TxnEntry> {
        self.0.lock().unwrap().entries().to_vec()
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().entries().len()
    }
}

// ----- bounded waits ------------------------------------------------------------------------------

const WAIT: Duration = Duration::from_secs(5);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

// ----- the server and its healthy session ---------------------------------------------------------

struct Harness {
    server: ServerHandle,
    addr: SocketAddr,
    zk: Client,
    states: Mutex<zk_client::EventStream<SessionState>>,
    log: TxnLog,
    checks: AtomicU32,
}

/// Our server (tickTime 2000 unless `extra` says otherwise; `extra` lines come last and win)
/// with a healthy session that owns `/h`.
async fn start(extra: &str) -> Harness {
    install_panic_hook();
    let dir = std::env::temp_dir().join(format!("zk-rs-bad-input-{}", std::process::id()));
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n{extra}",
        dir.display()
    );
    let cfg = Config::parse(&text, "").unwrap();
    let tree = DataTree::new(cfg.extended_types_enabled());
    let log = TxnLog::default();
    let server = bounded(
        "server start",
        runtime::start(cfg, tree, Box::new(log.clone())),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let zk = bounded("healthy connect", Client::connect(&addr.to_string()))
        .await
        .unwrap();
    bounded(
        "create /h",
        zk.create("/h", b"healthy", &CreateOptions::persistent()),
    )
    .await
    .unwrap();
    let states = Mutex::new(zk.state_changes());
    Harness {
        server,
        addr,
        zk,
        states,
        log,
        checks: AtomicU32::new(0),
    }
}

impl Harness {
    /// The healthy session creates and reads a node, never left Connected, and nothing
    /// panicked.
    async fn healthy(&self, after: &str) {
        let n = self.checks.fetch_add(1, Ordering::SeqCst);
        let path = format!("/h/c{n}");
        let data = format!("after {after}");
        let (created, _) = bounded(
            &format!("healthy create after {after}"),
            self.zk
                .create(&path, data.as_bytes(), &CreateOptions::persistent()),
        )
        .await
        .unwrap_or_else(|e| panic!("healthy create after {after}: {e:?}"));
        assert_eq!(created, path);
        let (read, _) = bounded(
            &format!("healthy get after {after}"),
            self.zk.get_data(&path),
        )
        .await
        .unwrap_or_else(|e| panic!("healthy get after {after}: {e:?}"));
        assert_eq!(&read[..], data.as_bytes());
        match self.states.lock().unwrap().try_next() {
            None => {}
            other => panic!("the healthy session changed state after {after}: {other:?}"),
        }
        assert_no_panics(after);
    }

    /// The server still serves: the healthy session, a new session, a four-letter word; no
    /// top-level check was ever logged; then it shuts down in time.
    async fn finish(self) {
        self.healthy("everything").await;
        let cs = self.addr.to_string();
        let other = bounded("a new session at the end", Client::connect(&cs))
            .await
            .unwrap();
        let (data, _) = bounded("new session reads /h", other.get_data("/h"))
            .await
            .unwrap();
        assert_eq!(&data[..], b"healthy");
        bounded("new session closes", other.close()).await.unwrap();
        let srvr = four_letter(self.addr, b"srvr").await;
        assert!(
            srvr.starts_with(b"Zookeeper version: "),
            "srvr at the end: {:?}",
            String::from_utf8_lossy(&srvr)
        );
        let checks: Vec<_> = self
            .log
            .entries()
            .into_iter()
            .filter(|e| e.header.r#type == OpCode::Check)
            .collect();
        assert!(checks.is_empty(), "top-level check txns logged: {checks:?}");
        bounded("healthy close", self.zk.close()).await.unwrap();
        bounded("server shutdown", self.server.shutdown()).await;
        assert_no_panics("shutdown");
    }
}

// ----- raw bytes ----------------------------------------------------------------------------------

/// Bytes from hex digits; whitespace is ignored.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A jute string or buffer.
fn jstr(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A request frame: RequestHeader {xid, op} and `body`.
fn req(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut payload = xid.to_be_bytes().to_vec();
    payload.extend_from_slice(&op.to_be_bytes());
    payload.extend_from_slice(body);
    frame(&payload)
}

/// A ConnectRequest frame; `passwd: None` sends a null buffer (length -1).
fn connect_request(
    last_zxid: i64,
    timeout: i32,
    session: i64,
    passwd: Option<&[u8]>,
    read_only: Option<bool>,
) -> Vec<u8> {
    let mut p = 0i32.to_be_bytes().to_vec();
    p.extend_from_slice(&last_zxid.to_be_bytes());
    p.extend_from_slice(&timeout.to_be_bytes());
    p.extend_from_slice(&session.to_be_bytes());
    match passwd {
        Some(pw) => p.extend_from_slice(&jstr(pw)),
        None => p.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    if let Some(ro) = read_only {
        p.push(u8::from(ro));
    }
    frame(&p)
}

/// The refusal of an invalid session: timeOut 0, sessionId 0, 16 zero bytes, and the readOnly
/// byte only if the request had one (PROTOCOL.md 4.2, `client-edge/0010`).
fn refusal(read_only_byte: bool) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    p.extend_from_slice(&jstr(&[0; 16]));
    if read_only_byte {
        p.push(0);
    }
    frame(&p)
}

/// A reply frame: ReplyHeader {xid, zxid, err} and nothing else.
fn reply(xid: i32, zxid: i64, err: i32) -> Vec<u8> {
    let mut p = xid.to_be_bytes().to_vec();
    p.extend_from_slice(&zxid.to_be_bytes());
    p.extend_from_slice(&err.to_be_bytes());
    frame(&p)
}

/// (xid, zxid, err) of a reply payload.
fn reply_header(payload: &[u8]) -> (i32, i64, i32) {
    assert!(payload.len() >= 16, "short reply: {payload:02x?}");
    (
        i32::from_be_bytes(payload[0..4].try_into().unwrap()),
        i64::from_be_bytes(payload[4..12].try_into().unwrap()),
        i32::from_be_bytes(payload[12..16].try_into().unwrap()),
    )
}

#[derive(Debug)]
struct Accepted {
    timeout: i32,
    session: i64,
    passwd: Vec<u8>,
    read_only: Option<u8>,
}

/// A ConnectResponse payload, accepting or refusing: its shape only.
fn check_connect_response(payload: &[u8]) {
    assert!(
        payload.len() == 36 || payload.len() == 37,
        "not a ConnectResponse: {payload:02x?}"
    );
    assert_eq!(&payload[0..4], &[0, 0, 0, 0], "protocolVersion");
    assert_eq!(&payload[16..20], &[0, 0, 0, 16], "password length");
}

/// A ConnectResponse payload that accepts a session.
fn parse_accepted(payload: &[u8]) -> Accepted {
    check_connect_response(payload);
    let accepted = Accepted {
        timeout: i32::from_be_bytes(payload[4..8].try_into().unwrap()),
        session: i64::from_be_bytes(payload[8..16].try_into().unwrap()),
        passwd: payload[20..36].to_vec(),
        read_only: payload.get(36).copied(),
    };
    assert_ne!(accepted.session, 0, "session refused: {payload:02x?}");
    assert!(accepted.timeout > 0, "timeout: {payload:02x?}");
    accepted
}

/// The complete frames at the start of what a server sent, and the incomplete rest (a reset
/// may cut the last frame); `Err` if a length is out of range.
fn leading_frames(mut bytes: &[u8]) -> Result<(Vec<&[u8]>, &[u8]), String> {
    let mut frames = Vec::new();
    while bytes.len() >= 4 {
        let len = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
        if !(0..=0xfffff).contains(&len) {
            return Err(format!("frame length {len}"));
        }
        if bytes.len() < 4 + len as usize {
            break;
        }
        frames.push(&bytes[4..4 + len as usize]);
        bytes = &bytes[4 + len as usize..];
    }
    Ok((frames, bytes))
}

/// Splits what a server sent into frame payloads; `Err` if the bytes do not end on a frame
/// boundary or a length is out of range.
fn split_frames(mut bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 4 {
            return Err(format!("{} stray bytes", bytes.len()));
        }
        let len = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
        if !(0..=0xfffff).contains(&len) || bytes.len() < 4 + len as usize {
            return Err(format!("frame length {len} with {} bytes", bytes.len() - 4));
        }
        frames.push(&bytes[4..4 + len as usize]);
        bytes = &bytes[4 + len as usize..];
    }
    Ok(frames)
}

async fn dial(addr: SocketAddr) -> TcpStream {
    let s = bounded("tcp connect", TcpStream::connect(addr))
        .await
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

async fn send(s: &mut TcpStream, bytes: &[u8]) {
    bounded("write", s.write_all(bytes)).await.unwrap();
}

/// One frame's payload.
async fn read_frame(s: &mut TcpStream, what: &str) -> Vec<u8> {
    bounded(what, async {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)
            .await
            .unwrap_or_else(|e| panic!("{what}: no frame: {e}"));
        let len = i32::from_be_bytes(len);
        assert!((0..=0xfffff).contains(&len), "{what}: frame length {len}");
        let mut payload = vec![0; len as usize];
        s.read_exact(&mut payload)
            .await
            .unwrap_or_else(|e| panic!("{what}: truncated frame: {e}"));
        payload
    })
    .await
}

/// What arrived before the server closed the connection (EOF or reset), or `Err` with what
/// arrived if it was still open after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut out = Vec::new();
    let done = tokio::time::timeout(limit, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::BrokenPipe
                    ) =>
                {
                    return
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    })
    .await;
    match done {
        Ok(()) => Ok(out),
        Err(_) => Err(out),
    }
}

/// What arrived before the server closed the connection; panics if it stays open.
async fn read_until_closed(s: &mut TcpStream, what: &str) -> Vec<u8> {
    closed_within(s, WAIT).await.unwrap_or_else(|got| {
        panic!(
            "{what}: the server did not close the connection within {WAIT:?} (received {} bytes: {:02x?})",
            got.len(),
            &got[..got.len().min(64)]
        )
    })
}

async fn assert_closed_without_reply(s: &mut TcpStream, what: &str) {
    let got = read_until_closed(s, what).await;
    assert!(
        got.is_empty(),
        "{what}: expected a close without reply, got {got:02x?}"
    );
}

/// Opens a session on a raw connection (readOnly byte sent, false).
async fn handshake(addr: SocketAddr, timeout_ms: i32) -> (TcpStream, Accepted) {
    try_handshake(addr, timeout_ms)
        .await
        .expect("the server refused the connection")
}

/// Like [`handshake`], or `None` if the server closed the connection instead (maxClientCnxns).
async fn try_handshake(addr: SocketAddr, timeout_ms: i32) -> Option<(TcpStream, Accepted)> {
    let mut s = dial(addr).await;
    if s.write_all(&connect_request(
        0,
        timeout_ms,
        0,
        Some(&[0; 16]),
        Some(false),
    ))
    .await
    .is_err()
    {
        return None;
    }
    let mut len = [0u8; 4];
    match bounded("ConnectResponse", s.read_exact(&mut len)).await {
        Ok(_) => {}
        Err(_) => return None,
    }
    assert_eq!(len, [0, 0, 0, 37], "ConnectResponse length");
    let mut payload = [0u8; 37];
    bounded("ConnectResponse", s.read_exact(&mut payload))
        .await
        .unwrap();
    let accepted = parse_accepted(&payload);
    assert_eq!(accepted.read_only, Some(0));
    Some((s, accepted))
}

/// Pings on a raw session; returns the reply's zxid (the server's last zxid).
async fn ping(s: &mut TcpStream, what: &str) -> i64 {
    send(s, &req(-2, 11, &[])).await;
    let payload = read_frame(s, what).await;
    assert_eq!(payload.len(), 16, "{what}: ping reply {payload:02x?}");
    let (xid, zxid, err) = reply_header(&payload);
    assert_eq!((xid, err), (-2, 0), "{what}: ping reply {payload:02x?}");
    zxid
}

/// A four-letter word's answer (the server closes after it).
async fn four_letter(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = dial(addr).await;
    send(&mut s, bytes).await;
    read_until_closed(&mut s, &format!("{:?}", String::from_utf8_lossy(bytes))).await
}

// ----- garbage ------------------------------------------------------------------------------------

/// Java reads the first 4 bytes as a length (or a four-letter word) and the first frame as a
/// ConnectRequest: a length out of range, a frame too short for a ConnectRequest or one that
/// does not parse closes the connection without a reply (NIOServerCnxn.readLength, "Len
/// error"; processConnectRequest's EOFException).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_as_first_bytes_is_closed_without_reply() {
    let h = start("").await;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\nHost: zk\r\n\r\n".to_vec(),
            false,
        ),
        (
            "a TLS ClientHello",
            hex("16 03 01 00 a5 01 00 00 a1 03 03"),
            false,
        ),
        ("a negative length", vec![0xff; 8], false),
        ("i32::MIN as length", hex("80000000 00"), false),
        ("an empty first frame", vec![0, 0, 0, 0], false),
        ("a 5-byte first frame", frame(b"hello"), false),
        ("a ConnectRequest one byte short", frame(&[0; 27]), false),
        ("a ConnectRequest of 0x41 bytes", frame(&[0x41; 100]), false),
        ("3 bytes then EOF", vec![0, 0, 0], true),
        ("nothing then EOF", vec![], true),
    ];
    for (what, bytes, eof) in cases {
        let mut s = dial(h.addr).await;
        send(&mut s, &bytes).await;
        if eof {
            s.shutdown().await.unwrap();
        }
        assert_closed_without_reply(&mut s, what).await;
        h.healthy(what).await;
    }
    h.finish().await;
}

/// Random first bytes, each on a fresh connection that then half-closes: whatever comes back
/// is a four-letter-word answer (if the first 4 bytes happen to be one) or well-framed, and a
/// first frame is a ConnectResponse. The server closes every such connection.
#[test]
fn fuzz_garbage_as_first_bytes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(start(""));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        max_shrink_iters: 128,
        ..ProptestConfig::default()
    });
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..96),
        // A plausible length, then junk.
        (0i32..200, proptest::collection::vec(any::<u8>(), 0..96)).prop_map(|(len, rest)| {
            let mut v = len.to_be_bytes().to_vec();
            v.extend(rest);
            v
        }),
    ];
    let result = runner.run(&strategy, |bytes| {
        rt.block_on(async {
            let mut s = dial(h.addr).await;
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            let got = read_until_closed(&mut s, "garbage first bytes").await;
            let word = bytes
                .get(..4)
                .and_then(|w| FourLetterWord::from_bytes(w.try_into().unwrap()));
            if word.is_none() {
                let (frames, _) = leading_frames(&got)
                    .unwrap_or_else(|e| panic!("badly framed answer to {bytes:02x?}: {e}"));
                if let Some((first, rest)) = frames.split_first() {
                    check_connect_response(first);
                    rest.iter().for_each(|f| {
                        reply_header(f);
                    });
                }
            }
            h.healthy("garbage first bytes").await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(h.finish());
}

/// After a good handshake: frames too short for a RequestHeader close the connection without a
/// reply (Java: EOFException in processPacket); a header whose body does not parse gets
/// MARSHALLINGERROR and the connection stays; a huge length closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_handshake() {
    let h = start("").await;
    for (what, bytes) in [
        ("an empty frame", frame(&[])),
        ("a 3-byte frame", frame(&[1, 2, 3])),
        ("a 7-byte frame", frame(&[0, 0, 0, 1, 0, 0, 0])),
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\nHost: zk\r\n\r\n".to_vec(),
        ),
        ("0xff bytes", vec![0xff; 32]),
    ] {
        let (mut s, _) = handshake(h.addr, 4000).await;
        send(&mut s, &bytes).await;
        assert_closed_without_reply(&mut s, what).await;
        h.healthy(what).await;
    }

    // A getData header without a body, and one with 2 bytes of a path length.
    let (mut s, _) = handshake(h.addr, 4000).await;
    let last = ping(&mut s, "ping").await;
    send(&mut s, &req(3, 4, &[])).await;
    assert_eq!(
        frame(&read_frame(&mut s, "getData without body").await),
        reply(3, last, -5)
    );
    send(&mut s, &req(0xdeadbeef_u32 as i32, 4, &[0xff, 0xff])).await;
    assert_eq!(
        frame(&read_frame(&mut s, "getData with 2 body bytes").await),
        reply(0xdeadbeef_u32 as i32, last, -5)
    );
    assert_eq!(ping(&mut s, "still open").await, last);
    h.healthy("malformed getData").await;
    h.finish().await;
}

/// Opcodes: every one Java knows, plus anything.
const KNOWN_OPS: [i32; 33] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100, 101, 102,
    103, 104, 105, 106, 107, -10, -11, -1,
];

/// One request frame with a known or random opcode and a random or path-led body; its length
/// prefix may be off by a few bytes (a truncated frame, or the next frame's length inside it).
fn fuzz_request() -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        3 => proptest::sample::select(KNOWN_OPS.to_vec()),
        1 => any::<i32>(),
    ];
    let path = proptest::sample::select(vec![
        "",
        "/",
        "/fuzz",
        "/fuzz/a",
        "/fuzz/",
        "//",
        "fuzz",
        "/zookeeper",
        "/zookeeper/quota",
        "/fuzz\0x",
        "/\u{e9}",
        "/fuzz/s-",
    ]);
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        (path, proptest::collection::vec(any::<u8>(), 0..32)).prop_map(|(p, rest)| {
            let mut v = jstr(p.as_bytes());
            v.extend(rest);
            v
        }),
    ];
    (
        any::<i32>(),
        op,
        body,
        prop_oneof![4 => Just(0i32), 1 => -3i32..=3],
    )
        .prop_map(|(xid, op, body, adjust)| {
            let mut f = req(xid, op, &body);
            let len = (f.len() as i32 - 4 + adjust).max(0);
            f[..4].copy_from_slice(&len.to_be_bytes());
            f
        })
}

/// Random frames after a good handshake, each case on a fresh connection that then half-closes:
/// the server answers with well-formed frames only (ReplyHeader first), closes the connection,
/// and everyone else carries on.
#[test]
fn fuzz_garbage_after_handshake() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(start(""));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        max_shrink_iters: 128,
        ..ProptestConfig::default()
    });
    let strategy = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..96),
        3 => proptest::collection::vec(fuzz_request(), 1..4).prop_map(|v| v.concat()),
    ];
    let result = runner.run(&strategy, |bytes| {
        rt.block_on(async {
            let (mut s, _) = handshake(h.addr, 4000).await;
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            let got = read_until_closed(&mut s, "garbage after handshake").await;
            // A reset (the server closed with our bytes unread) may cut the last frame.
            let (frames, _) = leading_frames(&got)
                .unwrap_or_else(|e| panic!("badly framed answer to {bytes:02x?}: {e}"));
            frames.iter().for_each(|f| {
                reply_header(f);
            });
            h.healthy("garbage after handshake").await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(h.finish());
}

// ----- lengths ------------------------------------------------------------------------------------

/// jute.maxbuffer is 0xfffff: a longer or negative length closes the connection without a
/// reply, before or after the handshake (`client-edge/0017`); a frame of exactly 0xfffff bytes
/// is read and handled like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_lengths_over_the_limit_negative_and_at_the_limit() {
    let h = start("").await;
    // client-edge/0017: 0x100000 announced after a good handshake, then 16 zero bytes.
    let edge_0017 = hex("00100000 00000000 00000000 00000000 00000000");
    for (what, bytes) in [
        ("0x100000 after the handshake", edge_0017.clone()),
        ("-1 after the handshake", hex("ffffffff 00000000")),
        ("i32::MIN after the handshake", hex("80000000")),
        ("i32::MAX after the handshake", hex("7fffffff 00")),
    ] {
        let (mut s, _) = handshake(h.addr, 4000).await;
        send(&mut s, &bytes).await;
        assert_closed_without_reply(&mut s, what).await;
        h.healthy(what).await;
    }
    for (what, bytes) in [
        ("0x100000 as the first length", edge_0017),
        ("-2 as the first length", hex("fffffffe 00000000")),
    ] {
        let mut s = dial(h.addr).await;
        send(&mut s, &bytes).await;
        assert_closed_without_reply(&mut s, what).await;
        h.healthy(what).await;
    }

    // Exactly 0xfffff bytes of junk as the handshake: not a ConnectRequest Java accepts (the
    // lastZxidSeen 0x4141... is ahead of the server, the password length unreasonable).
    let mut s = dial(h.addr).await;
    send(&mut s, &frame(&vec![0x41; 0xfffff])).await;
    assert_closed_without_reply(&mut s, "0xfffff junk bytes as the handshake").await;
    h.healthy("0xfffff junk handshake").await;

    // Exactly 0xfffff bytes of junk as a request: xid 0x41414141, opcode 0x41414141 is unknown,
    // so UnimplementedRequestProcessor answers {xid, -1, UNIMPLEMENTED} and closes.
    let (mut s, _) = handshake(h.addr, 4000).await;
    send(&mut s, &frame(&vec![0x41; 0xfffff])).await;
    assert_eq!(
        read_until_closed(&mut s, "0xfffff junk bytes as a request").await,
        reply(0x41414141, -1, -6)
    );
    h.healthy("0xfffff junk request").await;

    // Exactly 0xfffff bytes of getData: a path of 0xfffff - 13 'A's and the watch byte, so NONODE;
    // then a path length beyond the frame, so MARSHALLINGERROR. The connection stays.
    let (mut s, _) = handshake(h.addr, 4000).await;
    let last = ping(&mut s, "ping").await;
    let mut body = jstr(&vec![b'A'; 0xfffff - 13]);
    body.push(0);
    let big = req(7, 4, &body);
    assert_eq!(big.len(), 4 + 0xfffff);
    send(&mut s, &big).await;
    assert_eq!(
        frame(&read_frame(&mut s, "getData of 0xfffff bytes").await),
        reply(7, last, -101)
    );
    let mut body = 0x7fff_ffff_i32.to_be_bytes().to_vec();
    body.resize(0xfffff - 8, b'A');
    send(&mut s, &req(8, 4, &body)).await;
    assert_eq!(
        frame(&read_frame(&mut s, "getData with a path beyond the frame").await),
        reply(8, last, -5)
    );
    assert_eq!(ping(&mut s, "still open after 0xfffff frames").await, last);
    h.healthy("0xfffff getData").await;
    h.finish().await;
}

// ----- truncated frames ---------------------------------------------------------------------------

/// A frame cut short by EOF: the connection closes without a reply, and a session whose
/// connection died that way lives on (Java closes the connection, not the session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_then_eof() {
    let h = start("").await;
    let connect = connect_request(0, 4000, 0, Some(&[0; 16]), Some(false));
    let mut s = dial(h.addr).await;
    send(&mut s, &connect[..20]).await;
    s.shutdown().await.unwrap();
    assert_closed_without_reply(&mut s, "a truncated ConnectRequest then EOF").await;
    h.healthy("truncated ConnectRequest").await;

    let (mut s, session) = handshake(h.addr, 10_000).await;
    send(&mut s, &hex("00000064 00000001 00000004 0000")).await;
    s.shutdown().await.unwrap();
    assert_closed_without_reply(&mut s, "a truncated request then EOF").await;
    h.healthy("truncated request").await;

    let (mut s, _) = handshake(h.addr, 4000).await;
    send(&mut s, &[0, 0]).await;
    s.shutdown().await.unwrap();
    assert_closed_without_reply(&mut s, "half a length then EOF").await;
    h.healthy("half a length").await;

    // The first session is still there: re-attach with its password.
    let mut s = dial(h.addr).await;
    send(
        &mut s,
        &connect_request(
            0,
            10_000,
            session.session,
            Some(&session.passwd),
            Some(false),
        ),
    )
    .await;
    let again = parse_accepted(&read_frame(&mut s, "re-attach").await);
    assert_eq!(
        (again.session, again.passwd),
        (session.session, session.passwd)
    );
    h.finish().await;
}

/// Connections that stop in the middle of a frame and stay silent hold nothing up: the healthy
/// session, new sessions and four-letter words all work while they wait. A silent session's
/// connection is closed when its session expires (tickTime 500, a 1000 ms session here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_then_silence_does_not_block_others() {
    let h = start("tickTime=500\nminSessionTimeout=1000\n").await;
    let mut silent = Vec::new();
    for i in 0..5 {
        let mut s = dial(h.addr).await;
        // A ConnectRequest announced at the limit, 10 bytes sent.
        send(&mut s, &hex("000fffff 00000000 00000000 0000")).await;
        silent.push(s);
        let (mut s, _) = handshake(h.addr, 10_000).await;
        send(&mut s, &req(i, 4, &jstr(b"/h"))[..9 + i as usize]).await;
        silent.push(s);
    }
    for i in 0..3 {
        h.healthy(&format!("silent connections ({i})")).await;
    }
    let other = bounded("a new session", Client::connect(&h.addr.to_string()))
        .await
        .unwrap();
    bounded("new session works", other.exists("/h"))
        .await
        .unwrap()
        .expect("/h exists");
    bounded("new session closes", other.close()).await.unwrap();
    assert!(four_letter(h.addr, b"srvr")
        .await
        .starts_with(b"Zookeeper version: "));

    // A session of 1000 ms that goes silent mid-frame: expired, and its connection closed
    // without a reply.
    let (mut s, _) = handshake(h.addr, 1000).await;
    send(&mut s, &req(1, 4, &jstr(b"/h"))[..10]).await;
    let started = Instant::now();
    let got = closed_within(&mut s, Duration::from_secs(6)).await;
    assert_eq!(
        got,
        Ok(vec![]),
        "the connection of an expired session is closed without a reply"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed before the session could expire"
    );
    drop(silent);
    h.healthy("silent connections dropped").await;
    h.finish().await;
}

// ----- opcodes ------------------------------------------------------------------------------------

/// `client-edge/0005..0008`: a readOnly=true handshake, then opcode 999: the reply is exactly
/// {xid 7, zxid -1, err -6} and the connection closes; the session itself lives on. Any opcode
/// Java's `Request.isValid` refuses gets the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_gets_unimplemented_then_close() {
    let h = start("").await;
    let mut s = dial(h.addr).await;
    send(
        &mut s,
        &hex(
            "0000002d 00000000 0000000000000000 00000fa0 0000000000000000 00000010
             00000000000000000000000000000000 01",
        ),
    )
    .await;
    let accepted = parse_accepted(&read_frame(&mut s, "readOnly=true handshake").await);
    assert_eq!((accepted.timeout, accepted.read_only), (4000, Some(0)));
    send(&mut s, &hex("0000000f 00000007 000003e7 00000003 2f7072")).await;
    assert_eq!(
        read_until_closed(&mut s, "opcode 999").await,
        hex("00000010 00000007 ffffffffffffffff fffffffa"),
        "client-edge/0008"
    );
    h.healthy("opcode 999").await;

    let mut s = dial(h.addr).await;
    send(
        &mut s,
        &connect_request(
            0,
            4000,
            accepted.session,
            Some(&accepted.passwd),
            Some(true),
        ),
    )
    .await;
    let again = parse_accepted(&read_frame(&mut s, "re-attach after opcode 999").await);
    assert_eq!(again.session, accepted.session, "the session survived");
    drop(s);

    for op in [0, -1, 10, 23, 99, 108, 0x4141_4141, i32::MIN, i32::MAX] {
        let (mut s, _) = handshake(h.addr, 4000).await;
        send(&mut s, &req(-77, op, b"junk")).await;
        assert_eq!(
            read_until_closed(&mut s, &format!("opcode {op}")).await,
            reply(-77, -1, -6),
            "opcode {op}"
        );
        h.healthy(&format!("opcode {op}")).await;
    }
    h.finish().await;
}

/// The first frame is always read as a ConnectRequest (Java's processConnectRequest): a request
/// sent before the handshake is closed without a reply when it is too short, or when its bytes
/// read as a lastZxidSeen ahead of the server; one whose bytes happen to form an acceptable
/// ConnectRequest gets a ConnectResponse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_before_handshake_is_read_as_a_connect_request() {
    let h = start("").await;
    let mut create = jstr(b"/x");
    create.extend(jstr(b"hi"));
    create.extend(1i32.to_be_bytes());
    create.extend(31i32.to_be_bytes());
    create.extend(jstr(b"world"));
    create.extend(jstr(b"anyone"));
    create.extend(0i32.to_be_bytes());
    let mut get_data = jstr(b"/h");
    get_data.push(0);
    for (what, bytes) in [
        (
            "getData before the handshake (15 bytes: EOF)",
            req(1, 4, &get_data),
        ),
        ("ping before the handshake (8 bytes: EOF)", req(-2, 11, &[])),
        ("closeSession before the handshake", req(1, -11, &[])),
        // protocolVersion 1, lastZxidSeen 0x00000001_00000002: ahead of us.
        (
            "create before the handshake (zxid ahead)",
            req(1, 1, &create),
        ),
        ("setWatches (xid -8) before the handshake", {
            let mut body = 0i64.to_be_bytes().to_vec();
            for _ in 0..3 {
                body.extend(0i32.to_be_bytes());
            }
            req(-8, 101, &body)
        }),
    ] {
        let mut s = dial(h.addr).await;
        send(&mut s, &bytes).await;
        assert_closed_without_reply(&mut s, what).await;
        h.healthy(what).await;
    }

    // A closeSession header padded with 32 zero bytes reads as protocolVersion 1, lastZxidSeen
    // 0xfffffff5_00000000 (negative: not ahead), timeOut 0 (raised to minSessionTimeout 4000),
    // sessionId 0, an empty password and readOnly=false: Java opens a session.
    let mut s = dial(h.addr).await;
    send(&mut s, &req(1, -11, &[0; 32])).await;
    let accepted = parse_accepted(&read_frame(&mut s, "padded closeSession first").await);
    assert_eq!((accepted.timeout, accepted.read_only), (4000, Some(0)));
    ping(&mut s, "the accidental session works").await;
    h.healthy("padded closeSession first").await;
    h.finish().await;
}

// ----- handshakes ---------------------------------------------------------------------------------

/// Re-attaching with a wrong password, to an unknown session, or with a password of the wrong
/// length gets the refusal (timeOut 0, sessionId 0, 16 zero bytes, the readOnly byte only if
/// sent) and a close; an old client (no readOnly byte, `client-edge/0001`) gets a 36-byte
/// payload; a client ahead of the server is closed without a reply; a second ConnectRequest
/// on an open session is a request of opcode 0 (unknown).
///
/// Java 3.8.0 would also drop the healthy session's connection on a wrong-password attempt for
/// its id (`processConnectRequest` calls `closeSession` on the factory before checking the
/// password); we leave it alone, which the healthy check asserts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_request_edge_cases() {
    let h = start("").await;
    let healthy_id = h.zk.session().session_id;
    for (what, bytes, read_only_byte) in [
        (
            "wrong password for the healthy session",
            connect_request(0, 4000, healthy_id, Some(&[0x11; 16]), Some(false)),
            true,
        ),
        (
            "wrong password, no readOnly byte",
            connect_request(0, 4000, healthy_id, Some(&[0x11; 16]), None),
            false,
        ),
        (
            "a 15-byte password",
            connect_request(0, 4000, healthy_id, Some(&[0; 15]), Some(true)),
            true,
        ),
        (
            "an unknown session",
            connect_request(0, 4000, 0x0100_0000_dead_beef, Some(&[0; 16]), Some(false)),
            true,
        ),
    ] {
        let mut s = dial(h.addr).await;
        send(&mut s, &bytes).await;
        assert_eq!(
            read_until_closed(&mut s, what).await,
            refusal(read_only_byte),
            "{what}"
        );
        h.healthy(what).await;
    }

    // client-edge/0001: an old client's 44-byte ConnectRequest (timeOut 5000, no readOnly byte).
    let mut s = dial(h.addr).await;
    send(
        &mut s,
        &hex(
            "0000002c 00000000 0000000000000000 00001388 0000000000000000 00000010
             00000000000000000000000000000000",
        ),
    )
    .await;
    let old = parse_accepted(&read_frame(&mut s, "old client").await);
    assert_eq!(
        (old.timeout, old.read_only),
        (5000, None),
        "client-edge/0002"
    );
    // Its session works (replies as usual) and closes as usual (client-edge/0003/0004).
    let last = ping(&mut s, "old client ping").await;
    send(&mut s, &req(1, -11, &[])).await;
    let closed = read_until_closed(&mut s, "old client closeSession").await;
    assert_eq!(closed, reply(1, last + 1, 0));
    h.healthy("old client").await;

    // lastZxidSeen ahead of the server: closed without a reply.
    let mut s = dial(h.addr).await;
    send(
        &mut s,
        &connect_request(i64::MAX, 4000, 0, Some(&[0; 16]), Some(false)),
    )
    .await;
    assert_closed_without_reply(&mut s, "a client ahead of the server").await;
    h.healthy("client ahead").await;

    // A ConnectRequest cut inside the password: closed without a reply.
    let mut bytes = connect_request(0, 4000, 0, Some(&[0; 16]), Some(false));
    bytes.truncate(bytes.len() - 10);
    let len = (bytes.len() - 4) as i32;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    let mut s = dial(h.addr).await;
    send(&mut s, &bytes).await;
    assert_closed_without_reply(&mut s, "a ConnectRequest cut in the password").await;
    h.healthy("cut password").await;

    // A second ConnectRequest after the handshake: xid 0 (protocolVersion), opcode 0 (top of
    // lastZxidSeen 0): unknown, so {0, -1, -6} and a close.
    let (mut s, _) = handshake(h.addr, 4000).await;
    send(
        &mut s,
        &connect_request(0, 4000, 0, Some(&[0; 16]), Some(false)),
    )
    .await;
    assert_eq!(
        read_until_closed(&mut s, "a second ConnectRequest").await,
        reply(0, -1, -6)
    );
    h.healthy("second ConnectRequest").await;
    h.finish().await;
}

/// A null password (length -1) is legal jute: Java's `readBuffer` returns null, and
/// `processConnectRequest` goes on. For a new session `createSession` replaces null by an empty
/// array and answers a normal ConnectResponse; for an existing session `checkPasswd` fails and
/// the client gets the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_request_with_a_null_password_like_java() {
    let h = start("").await;
    let mut failures = Vec::new();

    let mut s = dial(h.addr).await;
    send(&mut s, &connect_request(0, 4000, 0, None, Some(false))).await;
    let got = read_until_closed_or_first_frame(&mut s).await;
    match split_frames(&got) {
        Ok(frames) if frames.len() == 1 && frames[0].len() == 37 && frames[0][8..16] != [0; 8] => {}
        _ => failures.push(format!(
            "new session with a null password: expected a ConnectResponse opening a session \
             (41 bytes), got {got:02x?}"
        )),
    }
    h.healthy("null password, new session").await;

    let (_keep, existing) = handshake(h.addr, 4000).await;
    let mut s = dial(h.addr).await;
    send(
        &mut s,
        &connect_request(0, 4000, existing.session, None, Some(false)),
    )
    .await;
    let got = read_until_closed(&mut s, "null password, existing session").await;
    if got != refusal(true) {
        failures.push(format!(
            "existing session with a null password: expected the refusal {:02x?} then a \
             close, got {got:02x?}",
            refusal(true)
        ));
    }
    h.healthy("null password, existing session").await;
    h.finish().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The first frame if one comes, else what arrived before the close.
async fn read_until_closed_or_first_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if out.len() >= 4 {
                let len = i32::from_be_bytes(out[..4].try_into().unwrap());
                if len >= 0 && out.len() >= 4 + len as usize {
                    return;
                }
            }
        }
    })
    .await;
    out
}

// ----- malformed bodies ---------------------------------------------------------------------------

/// A known opcode whose body does not parse (here a path length of 10 with 1 byte after it).
/// Reads: FinalRequestProcessor answers MARSHALLINGERROR with the last zxid; nothing is logged.
/// Writes: PrepRequestProcessor has already taken a zxid, so an ErrorTxn(MARSHALLINGERROR) is
/// logged and the reply carries its zxid. The connection and the session stay either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_for_known_opcodes() {
    let h = start("").await;
    let bad = [0, 0, 0, 10, b'/'];
    let (mut s, accepted) = handshake(h.addr, 10_000).await;
    let mut last = ping(&mut s, "ping").await;
    let logged = h.log.len();
    let reads = [3, 4, 6, 8, 9, 12, 17, 18, 22, 101, 103, 104, 105, 106];
    for (i, op) in reads.into_iter().enumerate() {
        let xid = 100 + i as i32;
        send(&mut s, &req(xid, op, &bad)).await;
        assert_eq!(
            frame(&read_frame(&mut s, &format!("malformed read {op}")).await),
            reply(xid, last, -5),
            "malformed read opcode {op}"
        );
    }
    // getData with no body at all.
    send(&mut s, &req(99, 4, &[])).await;
    assert_eq!(
        frame(&read_frame(&mut s, "getData without a body").await),
        reply(99, last, -5)
    );
    assert_eq!(ping(&mut s, "after malformed reads").await, last);
    assert_eq!(h.log.len(), logged, "malformed reads log nothing");
    h.healthy("malformed reads").await;

    last = ping(&mut s, "ping").await;
    let writes = [1, 2, 5, 7, 14, 15, 19, 21];
    for (i, op) in writes.into_iter().enumerate() {
        let xid = 200 + i as i32;
        send(&mut s, &req(xid, op, &bad)).await;
        let payload = read_frame(&mut s, &format!("malformed write {op}")).await;
        let (rxid, zxid, err) = reply_header(&payload);
        assert_eq!(
            (payload.len(), rxid, err),
            (16, xid, -5),
            "malformed write opcode {op}"
        );
        assert_eq!(zxid, last + 1, "malformed write opcode {op} takes a zxid");
        last = zxid;
        let entry = h.log.entries().pop().unwrap();
        assert_eq!(
            (
                entry.header.zxid,
                entry.header.cxid,
                entry.header.client_id,
                entry.header.r#type,
                &entry.txn
            ),
            (
                zxid,
                xid,
                accepted.session,
                OpCode::Error,
                &Txn::Error(ErrorTxn { err: -5 })
            ),
            "malformed write opcode {op} is logged as an ErrorTxn"
        );
    }
    let before = ping(&mut s, "after malformed writes").await;
    assert!(before >= last);
    h.healthy("malformed writes").await;
    h.finish().await;
}

/// Java deserializes auth (100) and sasl (102) packets itself in `processPacket`, outside the
/// request pipeline: a body that does not parse throws an IOException there and the connection
/// closes without a reply; the auth reply echoes the request's xid (`new ReplyHeader(h.getXid(),
/// 0, ...)`), whatever it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_sasl_packets_like_java() {
    let h = start("").await;
    let mut failures = Vec::new();
    for (what, op) in [("malformed auth", 100), ("malformed sasl", 102)] {
        let (mut s, _) = handshake(h.addr, 4000).await;
        send(&mut s, &req(-4, op, &[0, 0, 0, 10, b'/'])).await;
        match closed_within(&mut s, Duration::from_secs(2)).await {
            Ok(got) if got.is_empty() => {}
            Ok(got) => failures.push(format!(
                "{what}: expected a close without reply, got {got:02x?} then a close"
            )),
            Err(got) => failures.push(format!(
                "{what}: expected a close without reply, got {got:02x?} and the connection \
                 stayed open"
            )),
        }
        h.healthy(what).await;
    }

    let (mut s, _) = handshake(h.addr, 4000).await;
    let mut auth = 0i32.to_be_bytes().to_vec();
    auth.extend(jstr(b"digest"));
    auth.extend(jstr(b"user:pw"));
    send(&mut s, &req(5, 100, &auth)).await;
    let got = frame(&read_frame(&mut s, "auth with xid 5").await);
    if got != reply(5, 0, 0) {
        failures.push(format!(
            "auth with xid 5: expected {:02x?}, got {got:02x?}",
            reply(5, 0, 0)
        ));
    }
    h.healthy("auth with xid 5").await;
    h.finish().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A reconfig (16) whose body does not parse: Java's PrepRequestProcessor deserializes it
/// *before* `pRequest2Txn` assigns a header, so no zxid is taken and nothing is logged;
/// standalone, FinalRequestProcessor then answers MARSHALLINGERROR with the unchanged last zxid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reconfig_takes_no_zxid_like_java() {
    let h = start("").await;
    let (mut s, _) = handshake(h.addr, 4000).await;
    let last = ping(&mut s, "ping").await;
    let logged = h.log.len();
    send(&mut s, &req(9, 16, &[0, 0, 0, 10, b'/'])).await;
    let got = frame(&read_frame(&mut s, "malformed reconfig").await);
    let logged_after = h.log.len();
    h.healthy("malformed reconfig").await;
    h.finish().await;
    assert_eq!(
        (got, logged_after),
        (reply(9, last, -5), logged),
        "malformed reconfig: expected {{xid 9, zxid {last:#x}, -5}} and no txn logged"
    );
}

// ----- top-level check ----------------------------------------------------------------------------

/// A check (13) outside multi crashed 3.8.0 and left an unreadable log (PROTOCOL.md 20.5): we
/// answer UNIMPLEMENTED with the last zxid, log and apply nothing, keep the connection, and
/// check inside multi still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_level_check_is_refused_and_never_logged() {
    let h = start("").await;
    let (mut s, _) = handshake(h.addr, 4000).await;
    let last = ping(&mut s, "ping").await;
    let logged = h.log.len();
    for (xid, path, version) in [
        (1, &b"/h"[..], -1i32),
        (2, &b"/h"[..], 0),
        (3, &b"/h"[..], 7),
        (4, &b"/missing"[..], 0),
    ] {
        let mut body = jstr(path);
        body.extend(version.to_be_bytes());
        send(&mut s, &req(xid, 13, &body)).await;
        assert_eq!(
            frame(&read_frame(&mut s, "top-level check").await),
            reply(xid, last, -6),
            "check {:?} version {version}",
            String::from_utf8_lossy(path)
        );
    }
    assert_eq!(ping(&mut s, "after checks").await, last, "no zxid taken");
    assert_eq!(h.log.len(), logged, "nothing logged");

    // A malformed top-level check: an error, still nothing of type check logged.
    send(&mut s, &req(5, 13, &[0, 0, 0, 10, b'/'])).await;
    let payload = read_frame(&mut s, "malformed top-level check").await;
    let (xid, _, err) = reply_header(&payload);
    assert_eq!((payload.len(), xid), (16, 5));
    assert!(err == -5 || err == -6, "err {err}");
    assert!(h
        .log
        .entries()
        .iter()
        .all(|e| e.header.r#type != OpCode::Check));
    ping(&mut s, "after the malformed check").await;
    h.healthy("top-level check").await;

    let results = bounded(
        "check inside multi",
        h.zk.multi(vec![Op::Check {
            path: "/h".into(),
            version: 0,
        }]),
    )
    .await
    .unwrap();
    assert_eq!(results, vec![OpResult::Check]);
    h.finish().await;
}

// ----- many connections, slow clients -------------------------------------------------------------

/// 200 connections opened and dropped in waves of 20 (nothing sent, half a handshake, a
/// handshake, a handshake and closeSession, a request left unread so the close is a reset, a
/// four-letter word). Afterwards 45 connections at once are still accepted (maxClientCnxns 60:
/// nothing leaked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_opening_and_closing() {
    let h = start("").await;
    let addr = h.addr;
    for wave in 0..10 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20 {
            let n = wave * 20 + i;
            tasks.spawn(async move {
                match n % 6 {
                    0 => drop(dial(addr).await),
                    1 => {
                        let mut s = dial(addr).await;
                        let connect = connect_request(0, 4000, 0, Some(&[0; 16]), Some(false));
                        send(&mut s, &connect[..23]).await;
                    }
                    2 => drop(handshake(addr, 4000).await),
                    3 => {
                        let (mut s, _) = handshake(addr, 4000).await;
                        send(&mut s, &req(1, -11, &[])).await;
                        let got = read_until_closed(&mut s, "closeSession").await;
                        assert_eq!(got.len(), 20, "closeSession reply then close");
                    }
                    4 => {
                        let (mut s, _) = handshake(addr, 4000).await;
                        send(&mut s, &req(1, 8, &[0, 0, 0, 1, b'/', 0])).await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => {
                        let got = four_letter(addr, b"srvr").await;
                        assert!(got.starts_with(b"Zookeeper version: "));
                    }
                }
            });
        }
        bounded("a wave of connections", async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        })
        .await;
        h.healthy(&format!("wave {wave}")).await;
    }
    // Give the server a moment to notice the last closes, then hold 45 sessions at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut held = Vec::new();
    for _ in 0..45 {
        held.push(tokio::spawn(try_handshake(addr, 4000)));
    }
    let mut open = Vec::new();
    for t in held {
        open.push(bounded("held handshake", t).await.unwrap());
    }
    let refused = open.iter().filter(|o| o.is_none()).count();
    assert_eq!(refused, 0, "connections refused after the churn");
    h.healthy("45 connections held").await;
    drop(open);
    h.finish().await;
}

/// A client that sends 1000 getData requests for a 32 KiB node and never reads the 32 MiB of
/// replies: the server keeps serving everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_never_reading_does_not_stall_others() {
    let h = start("").await;
    bounded(
        "create /big",
        h.zk.create("/big", &[7; 32 * 1024], &CreateOptions::persistent()),
    )
    .await
    .unwrap();
    let (mut slow, _) = handshake(h.addr, 10_000).await;
    let mut get_big = jstr(b"/big");
    get_big.push(0);
    let requests: Vec<u8> = (1..=1000).flat_map(|xid| req(xid, 4, &get_big)).collect();
    send(&mut slow, &requests).await;
    // Let the replies pile up against the unread socket.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..20 {
        h.healthy(&format!("slow client ({i})")).await;
    }
    let other = bounded("a new session", Client::connect(&h.addr.to_string()))
        .await
        .unwrap();
    bounded("new session", other.get_data("/big"))
        .await
        .unwrap();
    bounded("close", other.close()).await.unwrap();
    assert!(four_letter(h.addr, b"srvr")
        .await
        .starts_with(b"Zookeeper version: "));
    // More requests from the slow client are still accepted (its socket is read).
    send(&mut slow, &req(1001, 4, &get_big)).await;
    h.healthy("slow client sends more").await;
    drop(slow);
    h.healthy("slow client gone").await;
    h.finish().await;
}

/// Idle and stuck connections are let go as Java lets them go, so they do not pin a
/// maxClientCnxns slot (and their queued replies) forever:
/// - no session yet and nothing for `nio.sessionlessCnxnTimeout` (a zoo.cfg key becomes
///   `zookeeper.nio.sessionlessCnxnTimeout`; 1000 ms here): NIOServerCnxnFactory's expirer closes
///   the connection (within 2 intervals);
/// - a client that half-closes while it has replies it never reads: Java closes on EOF;
/// - a client that stops reading and goes silent: its session expires, and Java closes the
///   connection whatever it had queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_connections_are_released_like_java() {
    let h = start(
        "tickTime=500\nminSessionTimeout=1000\nmaxClientCnxns=3\nnio.sessionlessCnxnTimeout=1000\n",
    )
    .await;
    let mut failures = Vec::new();
    bounded(
        "create /big",
        h.zk.create("/big", &[7; 64 * 1024], &CreateOptions::persistent()),
    )
    .await
    .unwrap();
    let mut get_big = jstr(b"/big");
    get_big.push(0);
    let requests: Vec<u8> = (1..=400).flat_map(|xid| req(xid, 4, &get_big)).collect();

    // 1. Before a session: silent, and mid-frame.
    let mut idle = dial(h.addr).await;
    let mut partial = dial(h.addr).await;
    send(&mut partial, &hex("0000002d 00000000")).await;
    let (idle_closed, partial_closed) = tokio::join!(
        closed_within(&mut idle, Duration::from_secs(3)),
        closed_within(&mut partial, Duration::from_secs(3)),
    );
    for (what, closed) in [
        ("a connection that sends nothing", idle_closed),
        ("a connection silent mid-ConnectRequest", partial_closed),
    ] {
        match closed {
            Ok(got) if got.is_empty() => {}
            other => failures.push(format!(
                "{what}: expected a close without reply within 3 s (Java: 1-2 s with \
                 sessionlessCnxnTimeout=1000), got {other:02x?}"
            )),
        }
    }
    drop((idle, partial));
    h.healthy("sessionless connections").await;

    // 2. Half-closed with 26 MiB of replies unread. healthy (1) + 2 probes = maxClientCnxns.
    let (mut slow, _) = handshake_within(h.addr, 10_000, Duration::from_secs(3)).await;
    send(&mut slow, &requests).await;
    slow.shutdown().await.unwrap();
    if !slots_free(h.addr, 2, Duration::from_secs(3)).await {
        failures.push(
            "a half-closed client with unread replies still holds its maxClientCnxns slot \
             3 s after its EOF (Java closes on EOF)"
                .to_owned(),
        );
    }
    drop(slow);
    h.healthy("half-closed slow reader").await;
    assert!(
        slots_free(h.addr, 2, Duration::from_secs(3)).await,
        "slots free once the half-closed client is gone"
    );

    // 3. Stops reading and goes silent with a 1000 ms session: expired, connection closed.
    let (mut stalled, session) = handshake_within(h.addr, 1000, Duration::from_secs(3)).await;
    send(&mut stalled, &requests).await;
    if !slots_free(h.addr, 2, Duration::from_secs(5)).await {
        failures.push(
            "a client that stopped reading still holds its maxClientCnxns slot 5 s after its \
             1000 ms session expired (Java closes the connection)"
                .to_owned(),
        );
    }
    drop(stalled);
    // The session itself did expire: re-attaching is refused (retried while the server still
    // refuses the connection itself for want of a slot).
    let started = Instant::now();
    loop {
        let mut s = dial(h.addr).await;
        send(
            &mut s,
            &connect_request(0, 1000, session.session, Some(&session.passwd), Some(false)),
        )
        .await;
        let got = read_until_closed(&mut s, "re-attach the stalled session").await;
        if !got.is_empty() {
            assert_eq!(got, refusal(true), "the stalled session expired");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "no free slot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.healthy("stalled slow reader").await;
    h.finish().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A handshake, retried while the server refuses the connection (a slot still held by a
/// connection we just closed) until `deadline`.
async fn handshake_within(
    addr: SocketAddr,
    timeout_ms: i32,
    deadline: Duration,
) -> (TcpStream, Accepted) {
    let start = Instant::now();
    loop {
        if let Some(done) = try_handshake(addr, timeout_ms).await {
            return done;
        }
        assert!(
            start.elapsed() < deadline,
            "no free maxClientCnxns slot within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `n` connections can hold a session at once before `deadline` (polled).
async fn slots_free(addr: SocketAddr, n: usize, deadline: Duration) -> bool {
    let start = Instant::now();
    loop {
        let mut open = Vec::new();
        for _ in 0..n {
            open.push(try_handshake(addr, 4000).await);
        }
        if open.iter().all(Option::is_some) {
            return true;
        }
        drop(open);
        if start.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ----- four-letter words --------------------------------------------------------------------------

/// `ruok` answers `imok` and closes; `abcd` is a length over jute.maxbuffer, closed without a
/// reply; `stmk` takes an 8-byte mask and echoes it in decimal (and `gtmk` shows it), closing
/// without a reply if the mask is cut short; the telnet close bytes get nothing; a word after
/// the handshake is just a huge length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words() {
    let h = start("4lw.commands.whitelist=*\n").await;
    assert_eq!(four_letter(h.addr, b"ruok").await, b"imok");
    assert_eq!(four_letter(h.addr, b"ruokruokjunk").await, b"imok");
    assert_eq!(four_letter(h.addr, b"abcd").await, b"");
    let mut stmk = b"stmk".to_vec();
    stmk.extend(0x112i64.to_be_bytes());
    assert_eq!(four_letter(h.addr, &stmk).await, b"274");
    assert_eq!(four_letter(h.addr, b"gtmk").await, b"274");
    let mut s = dial(h.addr).await;
    send(&mut s, b"stmk\0\0\0").await;
    s.shutdown().await.unwrap();
    assert_closed_without_reply(&mut s, "stmk with 3 mask bytes").await;
    assert_eq!(four_letter(h.addr, b"gtmk").await, b"274");
    assert_eq!(four_letter(h.addr, &[0xff, 0xf4, 0xff, 0xfd]).await, b"");
    h.healthy("four-letter words").await;

    let (mut s, _) = handshake(h.addr, 4000).await;
    send(&mut s, b"ruok").await;
    assert_closed_without_reply(&mut s, "ruok after the handshake").await;
    h.healthy("ruok after the handshake").await;
    h.finish().await;
}

/// With the default whitelist (`srvr` only) a known word is answered with Java's refusal text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_outside_the_whitelist() {
    let h = start("").await;
    assert_eq!(
        four_letter(h.addr, b"ruok").await,
        b"ruok is not executed because it is not in the whitelist.\n"
    );
    let mut stmk = b"stmk".to_vec();
    stmk.extend(1i64.to_be_bytes());
    assert_eq!(
        four_letter(h.addr, &stmk).await,
        b"stmk is not executed because it is not in the whitelist.\n"
    );
    h.healthy("disabled words").await;
    h.finish().await;
}

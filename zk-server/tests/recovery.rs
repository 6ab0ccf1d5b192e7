//! Recovery of the zk-server binary on damaged data directories (STORAGE.md §3.4–3.5, §4).
//!
//! Each test starts the server on a fresh data directory, writes known data through zk-client,
//! stops the server, damages the files the way a crash (or a disk) can, restarts it and checks
//! the outcome: a refusal by exit status and message, a recovery by reading the tree back.
//! The log files are located and parsed here independently of the server's reader (16-byte
//! header, then `crc:8 len:4 txn:len 'B'` records; the txn header has the zxid at byte 12).

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, ruok};
use zk_client::{Client, CreateOptions};

/// A snapCount no test reaches: the only snapshots are the ones written at startup.
const NO_SNAPSHOTS: u64 = 1_000_000;
const TICK_MS: u64 = 2000;
const SESSION_TIMEOUT_MS: u64 = 4000;
/// Txn log header: magic, version, dbid.
const LOG_HEADER_LEN: u64 = 16;
/// `preAllocSize` in KiB: logs are 16 + 16384 bytes.
const PREALLOC_KB: u64 = 16;
/// Every wait on a client call or on the server process is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// A running server; killed (SIGKILL) on drop so a failing test leaves nothing behind.
struct ServerProcess {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// SIGKILL: the crash every test starts from.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status (bounded wait).
    fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
        wait_exit(&mut self.child).unwrap_or_else(|| {
            panic!(
                "zk-server did not exit within {WAIT:?} of SIGTERM\n{}",
                self.output()
            )
        })
    }

    /// Everything the server printed so far: its log (stdout) and stderr, ANSI colours removed.
    fn output(&self) -> String {
        read_output(&self.stdout, &self.stderr)
    }
}

fn read_output(stdout: &Path, stderr: &Path) -> String {
    let mut text = std::fs::read_to_string(stdout).unwrap_or_default();
    text.push_str(&std::fs::read_to_string(stderr).unwrap_or_default());
    strip_ansi(&text)
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wait_exit(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a server that refused to start left: its exit status, stderr and log.
struct Refusal {
    status: ExitStatus,
    stderr: String,
    output: String,
}

/// A data directory with its zoo.cfg, and the port its server listens on.
struct DataDir {
    dir: tempfile::TempDir,
    port: u16,
    config: PathBuf,
    runs: u32,
}

impl DataDir {
    fn new(snap_count: u64) -> DataDir {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "tickTime={TICK_MS}\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 snapCount={snap_count}\npreAllocSize={PREALLOC_KB}\n4lw.commands.whitelist=ruok\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        DataDir {
            dir,
            port,
            config,
            runs: 0,
        }
    }

    /// Like [`DataDir::new`], with the logs in a separate `dataLogDir` (`<dir>/txnlogs`).
    fn with_separate_log_dir(snap_count: u64) -> DataDir {
        let dd = DataDir::new(snap_count);
        let mut config = std::fs::read_to_string(&dd.config).unwrap();
        config.push_str(&format!(
            "dataLogDir={}\n",
            dd.dir.path().join("txnlogs").display()
        ));
        std::fs::write(&dd.config, config).unwrap();
        dd
    }

    /// `<dataLogDir>/version-2` of [`DataDir::with_separate_log_dir`].
    fn log_version2(&self) -> PathBuf {
        self.dir.path().join("txnlogs").join("version-2")
    }

    /// `<dataDir>/version-2`: snapshots and logs (no separate dataLogDir).
    fn version2(&self) -> PathBuf {
        self.dir.path().join("data").join("version-2")
    }

    fn spawn(&mut self, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        self.runs += 1;
        let stdout = self.dir.path().join(format!("run{}.out", self.runs));
        let stderr = self.dir.path().join(format!("run{}.err", self.runs));
        let mut command = Command::new(env!("CARGO_BIN_EXE_zk-server"));
        command
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("SERVER_JVMFLAGS")
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()));
        for (key, value) in env {
            command.env(key, value);
        }
        ServerProcess {
            child: command.spawn().expect("start zk-server"),
            stdout,
            stderr,
        }
    }

    fn start(&mut self) -> ServerProcess {
        self.start_with(&[], &[])
    }

    /// Starts the server and waits until it answers `ruok`; panics (with its output) if it
    /// exits or does not come up in time.
    fn start_with(&mut self, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut server = self.spawn(args, env);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = server.child.try_wait().expect("try_wait") {
                panic!(
                    "zk-server exited ({status}) instead of starting\n{}",
                    server.output()
                );
            }
            if ruok(self.port) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "zk-server did not come up on port {}\n{}",
                self.port,
                server.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the server expecting it to refuse to start: it must exit on its own.
    fn refuse(&mut self, args: &[&str], env: &[(&str, &str)]) -> Refusal {
        let mut server = self.spawn(args, env);
        let Some(status) = wait_exit(&mut server.child) else {
            panic!(
                "zk-server should have refused to start but was still running after {WAIT:?} \
                 (ruok answered: {})\n{}",
                ruok(self.port),
                server.output()
            );
        };
        Refusal {
            status,
            stderr: strip_ansi(&std::fs::read_to_string(&server.stderr).unwrap_or_default()),
            output: server.output(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// A single-threaded runtime: once dropped, no client task of it runs any more (no session
/// resumes behind a test's back).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on a fresh runtime that is dropped afterwards, clients and all.
fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no answer within {WAIT:?}"),
    }
}

async fn connect(port: u16) -> Client {
    bounded(
        "connect",
        Client::builder(format!("127.0.0.1:{port}"))
            .session_timeout(Duration::from_millis(SESSION_TIMEOUT_MS))
            .connect(),
    )
    .await
    .expect("connect")
}

/// A node written by a test: path, data and the zxid of its create.
#[derive(Debug, Clone)]
struct Written {
    path: String,
    data: Vec<u8>,
    zxid: i64,
}

/// Creates `/<prefix>0 .. /<prefix>{n-1}` one after the other (each acknowledged before the
/// next is sent, so the log holds them in this order).
async fn create_nodes(zk: &Client, prefix: &str, n: usize) -> Vec<Written> {
    let mut written = Vec::new();
    for i in 0..n {
        let path = format!("/{prefix}{i}");
        let data = format!("{prefix}{i}-data").into_bytes();
        let (_, stat) = bounded(
            "create",
            zk.create(&path, &data, &CreateOptions::persistent()),
        )
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
        written.push(Written {
            path,
            data,
            zxid: stat.czxid,
        });
    }
    written
}

/// Writes `n` nodes through a new client and returns them; the session is left open (its
/// runtime is dropped), so the last record in the log is the last create.
fn write_nodes(port: u16, prefix: &str, n: usize) -> Vec<Written> {
    block_on(async {
        let zk = connect(port).await;
        create_nodes(&zk, prefix, n).await
    })
}

/// The top-level nodes other than `/zookeeper`, with their data.
async fn top_level(zk: &Client) -> BTreeMap<String, Vec<u8>> {
    let mut tree = BTreeMap::new();
    for child in bounded("get_children", zk.get_children("/"))
        .await
        .expect("get_children /")
    {
        if child == "zookeeper" {
            continue;
        }
        let path = format!("/{child}");
        let (data, _) = bounded("get_data", zk.get_data(&path))
            .await
            .unwrap_or_else(|e| panic!("get_data {path}: {e}"));
        tree.insert(path, data.to_vec());
    }
    tree
}

fn expected<'a>(written: impl IntoIterator<Item = &'a Written>) -> BTreeMap<String, Vec<u8>> {
    written
        .into_iter()
        .map(|w| (w.path.clone(), w.data.clone()))
        .collect()
}

/// Reads the tree back through a new client.
fn read_tree(port: u16) -> BTreeMap<String, Vec<u8>> {
    block_on(async {
        let zk = connect(port).await;
        let tree = top_level(&zk).await;
        let _ = bounded("close", zk.close()).await;
        tree
    })
}

fn assert_tree(port: u16, want: &BTreeMap<String, Vec<u8>>, context: &str) {
    let got = read_tree(port);
    if &got != want {
        let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        panic!(
            "{context}: wrong tree after recovery\n  missing: {missing:?}\n  unexpected: \
             {extra:?}\n  got: {:?}",
            got.keys().collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// `<prefix><hex zxid>[.ext]` files in `dir` (no `.tmp` leftovers), sorted by zxid.
fn data_files(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        if name.ends_with(".tmp") {
            continue;
        }
        let hex = rest.split('.').next().unwrap();
        if let Ok(zxid) = i64::from_str_radix(hex, 16) {
            files.push((zxid, entry.path()));
        }
    }
    files.sort();
    files
}

fn logs(dir: &Path) -> Vec<(i64, PathBuf)> {
    data_files(dir, "log.")
}

fn snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    data_files(dir, "snapshot.")
}

fn newest_log(dir: &Path) -> PathBuf {
    logs(dir).pop().expect("no txn log").1
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// One record of a txn log.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Where the record (its checksum) starts.
    offset: u64,
    /// Just after its end marker.
    end: u64,
    /// Length of the txn bytes.
    txn_len: u64,
    zxid: i64,
    /// The txn type (1 create, 15 create2, -10 createSession, ...).
    kind: i32,
}

/// The complete records of a log, up to the padding (length 0) or the end of the data.
fn log_records(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"ZKLG", "{}: not a txn log", path.display());
    let be_i32 = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    let be_i64 = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
    let mut records = Vec::new();
    let mut pos = LOG_HEADER_LEN as usize;
    while pos + 12 <= bytes.len() {
        let len = be_i32(pos + 8);
        if len <= 0 {
            break;
        }
        let len = len as usize;
        let end = pos + 12 + len + 1;
        if end > bytes.len() || bytes[end - 1] != b'B' {
            break;
        }
        let txn = pos + 12;
        records.push(Record {
            offset: pos as u64,
            end: end as u64,
            txn_len: len as u64,
            zxid: be_i64(txn + 12),
            kind: be_i32(txn + 28),
        });
        pos = end;
    }
    records
}

/// The record of the txn with this zxid.
fn record_of(records: &[Record], zxid: i64) -> Record {
    *records
        .iter()
        .find(|r| r.zxid == zxid)
        .unwrap_or_else(|| panic!("no record with zxid {zxid:#x} in {records:?}"))
}

fn truncate(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
    file.sync_all().unwrap();
}

/// Rewrites `path` with `edit` applied to its bytes.
fn patch(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    edit(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// A line of the server's output at WARN level that contains every needle.
fn warning<'a>(output: &'a str, needles: &[&str]) -> Option<&'a str> {
    output
        .lines()
        .find(|line| line.contains("WARN") && needles.iter().all(|n| line.contains(n)))
}

fn assert_warning(output: &str, needles: &[&str], context: &str) {
    assert!(
        warning(output, needles).is_some(),
        "{context}: expected a warning containing {needles:?}; the server printed:\n{output}"
    );
}

/// The txn-log warnings (cuts, corruption) in the server's output.
fn log_warnings(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("txn log"))
        .collect()
}

/// The mask a snapshot byte is flipped with.
const FLIP: u8 = 0x5a;

/// Where to flip a byte of a snapshot so that its stream really changes. For the uncompressed
/// stream any byte does (the middle one is taken). An LZ4 frame has no checksum of its own, and
/// some flips leave the decompressed stream as it was (a match offset that now points at equal
/// bytes): such a file is not damaged at all, so the first byte from the middle on whose flip
/// changes (or breaks) the decompressed stream is taken.
fn damaging_flip(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    if !file_name(path).ends_with(".lz4") {
        return middle;
    }
    let decode = |bytes: &[u8]| {
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(bytes)
            .read_to_end(&mut out)
            .ok()
            .map(|_| out)
    };
    let plain = decode(&bytes).expect("the snapshot should be a readable lz4 frame");
    (middle..bytes.len())
        .chain(0..middle)
        .find(|&at| {
            let mut flipped = bytes.clone();
            flipped[at] ^= FLIP;
            decode(&flipped).as_ref() != Some(&plain)
        })
        .expect("some flip changes the snapshot")
}

fn done(name: &str, started: Instant) {
    eprintln!("{name}: {:.2?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/// Case 1: The newest log ends in the middle of its last record (the crash hit that write): the
/// record is cut off with a warning; everything before it is there, the last write is not.
#[test]
fn torn_last_record_is_cut_with_a_warning() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let written = write_nodes(dd.port, "a", 10);
    server.kill();

    let log = newest_log(&dd.version2());
    let records = log_records(&log);
    let last = *records.last().unwrap();
    assert_eq!(
        last.zxid,
        written[9].zxid,
        "the last record of {} should be the last create",
        file_name(&log)
    );
    // Cut in the middle of the txn bytes.
    truncate(&log, last.offset + 12 + last.txn_len / 2);

    let server = dd.start();
    assert_warning(
        &server.output(),
        &[&file_name(&log), &format!("offset {}", last.offset)],
        "torn tail",
    );
    assert_eq!(
        file_len(&log),
        last.offset,
        "the log should end after its last complete record"
    );
    assert_tree(dd.port, &expected(&written[..9]), "torn tail");

    // The lost zxid is used again by the next write; that must replay too.
    let again = block_on(async {
        let zk = connect(dd.port).await;
        let (_, stat) = bounded(
            "create",
            zk.create("/a9", b"again", &CreateOptions::persistent()),
        )
        .await
        .expect("create /a9 again");
        assert!(stat.czxid > written[8].zxid);
        stat.czxid
    });
    server.kill();
    let server = dd.start();
    let mut want = expected(&written[..9]);
    want.insert("/a9".into(), b"again".to_vec());
    assert_tree(
        dd.port,
        &want,
        "torn tail, then a new write and another restart",
    );
    assert!(
        log_warnings(&server.output()).is_empty(),
        "second restart after the cut should be clean (new /a9 at {again:#x}):\n{}",
        server.output()
    );
    done("torn tail", started);
}

/// Two runs (two logs: log.1 and the one opened after the startup snapshot of run 2), then the
/// newest log is cut to `cut` bytes.
fn newest_log_cut_to(cut: u64) -> (DataDir, ServerProcess, PathBuf, Vec<Written>) {
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let first = write_nodes(dd.port, "b", 5);
    server.kill();
    let server = dd.start();
    let second = write_nodes(dd.port, "c", 5);
    server.kill();

    let all_logs = logs(&dd.version2());
    assert_eq!(
        all_logs.len(),
        2,
        "two runs should give two logs: {all_logs:?}"
    );
    let log = all_logs[1].1.clone();
    let records = log_records(&log);
    assert_eq!(
        records.iter().map(|r| r.zxid).max(),
        Some(second[4].zxid),
        "the newest log should hold run 2's writes"
    );
    assert!(records.iter().all(|r| r.zxid > first[4].zxid));
    truncate(&log, cut);
    let server = dd.start();
    (dd, server, log, first)
}

/// Case 2a: The newest log is cut right after its header: it holds no txn; the older data is there.
#[test]
fn newest_log_cut_right_after_its_header() {
    let started = Instant::now();
    let (mut dd, server, log, first) = newest_log_cut_to(LOG_HEADER_LEN);
    // Nothing to cut: a header-only file ends cleanly.
    assert!(
        log_warnings(&server.output()).is_empty(),
        "{}",
        server.output()
    );
    assert_eq!(file_len(&log), LOG_HEADER_LEN);
    assert_tree(dd.port, &expected(&first), "log cut after its header");
    // The next write reopens a log of the same name (the next zxid); it must replay.
    let more = write_nodes(dd.port, "d", 3);
    server.kill();
    let _server = dd.start();
    assert_tree(
        dd.port,
        &expected(first.iter().chain(&more)),
        "header-only log, then new writes and another restart",
    );
    done("cut after header", started);
}

/// Case 2a': The newest log is cut inside its header: the file holds nothing and is removed with a
/// warning; the older data is there.
#[test]
fn newest_log_cut_inside_its_header() {
    let started = Instant::now();
    let (mut dd, server, log, first) = newest_log_cut_to(8);
    assert_warning(
        &server.output(),
        &[&file_name(&log)],
        "log cut in its header",
    );
    assert!(
        !log.exists(),
        "a log cut inside its header should be removed"
    );
    assert_tree(dd.port, &expected(&first), "log cut in its header");
    let more = write_nodes(dd.port, "d", 3);
    server.kill();
    let _server = dd.start();
    assert_tree(
        dd.port,
        &expected(first.iter().chain(&more)),
        "log cut in its header, then new writes and another restart",
    );
    done("cut inside header", started);
}

/// Case 2b: The newest log is cut in the middle of its records (5 bytes into a record, less than a
/// record header): the server starts with the records before the cut.
#[test]
fn newest_log_cut_in_its_record_region() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let written = write_nodes(dd.port, "c", 10);
    server.kill();

    let log = newest_log(&dd.version2());
    let cut_record = record_of(&log_records(&log), written[5].zxid);
    truncate(&log, cut_record.offset + 5);

    let server = dd.start();
    assert_warning(
        &server.output(),
        &[&file_name(&log), &format!("offset {}", cut_record.offset)],
        "log cut in its records",
    );
    assert_eq!(file_len(&log), cut_record.offset);
    assert_tree(dd.port, &expected(&written[..5]), "log cut in its records");
    done("cut in record region", started);
}

/// Case 3a: The last record is zeroed entirely, like the preallocated padding after it: a clean
/// end (no warning); everything before it is there.
#[test]
fn zeroed_last_record_is_a_clean_end() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let written = write_nodes(dd.port, "z", 10);
    server.kill();

    let log = newest_log(&dd.version2());
    let records = log_records(&log);
    let last = *records.last().unwrap();
    assert_eq!(last.zxid, written[9].zxid);
    let len = file_len(&log);
    assert!(
        len >= LOG_HEADER_LEN + PREALLOC_KB * 1024,
        "the log should be preallocated: {len} bytes"
    );
    let bytes = std::fs::read(&log).unwrap();
    assert!(
        bytes[last.end as usize..].iter().all(|&b| b == 0),
        "the preallocated tail should be zeros"
    );
    patch(&log, |bytes| {
        bytes[last.offset as usize..last.end as usize].fill(0);
    });

    let server = dd.start();
    assert!(
        log_warnings(&server.output()).is_empty(),
        "a zero tail is a clean end:\n{}",
        server.output()
    );
    assert_eq!(file_len(&log), len, "a clean log is not cut");
    assert_tree(dd.port, &expected(&written[..9]), "zeroed last record");
    done("zeroed last record", started);
}

/// Case 3b: A partly written last record: its checksum is there but its length field and the rest
/// are zeros (the length 0 reads as the padding). The server starts, nothing before it lost.
#[test]
fn record_with_zero_length_field_ends_the_log() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let written = write_nodes(dd.port, "z", 10);
    server.kill();

    let log = newest_log(&dd.version2());
    let last = *log_records(&log).last().unwrap();
    assert_eq!(last.zxid, written[9].zxid);
    patch(&log, |bytes| {
        let crc = last.offset as usize;
        assert!(bytes[crc..crc + 8].iter().any(|&b| b != 0));
        bytes[crc + 8..last.end as usize].fill(0);
    });

    let server = dd.start();
    let output = server.output();
    // Java takes a length of 0 for the end of the log; we may also cut the stray checksum off.
    let warnings = log_warnings(&output);
    eprintln!("zero-length record: warnings {warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|w| w.contains(&format!("offset {}", last.offset))),
        "any cut must be at the partial record ({}): {warnings:?}",
        last.offset
    );
    assert_tree(dd.port, &expected(&written[..9]), "zero-length record");
    // And it stays that way.
    server.kill();
    let server = dd.start();
    assert!(
        log_warnings(&server.output()).is_empty(),
        "{}",
        server.output()
    );
    assert_tree(
        dd.port,
        &expected(&written[..9]),
        "zero-length record, restart",
    );
    done("zero-length record", started);
}

/// Case 4: A flipped byte in the newest snapshot: the server falls back to the older snapshot and
/// replays the logs after it, with a warning naming the bad file.
#[test]
fn corrupt_newest_snapshot_falls_back_to_the_older_one() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    // Run 1: snapshot.0 at startup, its writes in log.1.
    let server = dd.start();
    let first = write_nodes(dd.port, "s", 6);
    server.kill();
    // Run 2: the startup snapshot holds run 1's writes; its own writes go to a second log.
    let server = dd.start();
    let second = write_nodes(dd.port, "t", 6);
    server.kill();

    let dir = dd.version2();
    let snaps = snapshots(&dir);
    assert_eq!(
        snaps.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![0, first[5].zxid],
        "expected the startup snapshots of both runs: {snaps:?}"
    );
    let log_starts: Vec<i64> = logs(&dir).iter().map(|l| l.0).collect();
    assert_eq!(log_starts.len(), 2, "{log_starts:?}");
    assert!(log_starts[0] <= first[0].zxid, "{log_starts:?}");
    assert!(
        log_starts[1] > first[5].zxid && log_starts[1] <= second[0].zxid,
        "{log_starts:?}"
    );

    let (old, newest) = (snaps[0].1.clone(), snaps[1].1.clone());
    let at = damaging_flip(&newest);
    patch(&newest, |bytes| bytes[at] ^= FLIP);
    eprintln!(
        "corrupt snapshot: flipped byte {at} of {} ({} bytes)",
        file_name(&newest),
        file_len(&newest)
    );

    let server = dd.start();
    let output = server.output();
    assert_warning(&output, &[&file_name(&newest)], "corrupt newest snapshot");
    assert!(
        output
            .lines()
            .any(|l| l.contains("snapshot loaded") && l.contains(&file_name(&old))),
        "the older snapshot {} should have been loaded:\n{output}",
        file_name(&old)
    );
    assert_tree(
        dd.port,
        &expected(first.iter().chain(&second)),
        "corrupt newest snapshot",
    );
    done("corrupt newest snapshot", started);
}

/// Case 5: A flipped byte in a record in the middle of the log: the server refuses to start and
/// names the file and offset; with `--truncate-corrupt-log` it cuts the log there and starts
/// with exactly the writes before the corrupt record.
#[test]
fn corrupt_record_in_the_middle_refuses_then_truncates_on_request() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let written = write_nodes(dd.port, "m", 10);
    server.kill();

    let dir = dd.version2();
    let log = newest_log(&dir);
    let records = log_records(&log);
    let bad = record_of(&records, written[4].zxid);
    assert!(
        bad.kind == 1 || bad.kind == 15,
        "{bad:?} should be a create"
    );
    assert!(
        bad.end < records.last().unwrap().offset,
        "not the last record"
    );
    patch(&log, |bytes| {
        bytes[(bad.offset + 12 + bad.txn_len / 2) as usize] ^= 0x01;
    });
    let damaged = std::fs::read(&log).unwrap();
    let snaps_before = snapshots(&dir);

    let refusal = dd.refuse(&[], &[]);
    assert!(
        !refusal.status.success(),
        "a corrupt record must stop startup ({}):\n{}",
        refusal.status,
        refusal.output
    );
    let log_path = log.display().to_string();
    let offset = format!("offset {}", bad.offset);
    assert!(
        refusal.stderr.contains(&log_path) && refusal.stderr.contains(&offset),
        "stderr should name {log_path} and {offset}:\n{}",
        refusal.stderr
    );
    eprintln!(
        "corrupt record: exit {}; stderr: {}",
        refusal.status,
        refusal.stderr.trim()
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        damaged,
        "refusing must leave the log alone"
    );
    assert_eq!(
        snapshots(&dir),
        snaps_before,
        "refusing must write no snapshot"
    );

    let server = dd.start_with(&["--truncate-corrupt-log"], &[]);
    assert_warning(
        &server.output(),
        &[&file_name(&log), &offset],
        "--truncate-corrupt-log",
    );
    assert_eq!(
        file_len(&log),
        bad.offset,
        "the log should end before the bad record"
    );
    // Exactly the writes before the corrupt record: m0..m3 present, m4..m9 absent.
    assert_tree(dd.port, &expected(&written[..4]), "--truncate-corrupt-log");
    // The cut is durable: a plain restart now starts cleanly with the same tree.
    server.kill();
    let server = dd.start();
    assert!(
        log_warnings(&server.output()).is_empty(),
        "{}",
        server.output()
    );
    assert_tree(dd.port, &expected(&written[..4]), "restart after the cut");
    done("corrupt middle record", started);
}

/// Case 6: Logs but no snapshot: refused unless `zookeeper.snapshot.trust.empty=true`, which
/// replays the logs onto an empty tree.
#[test]
fn logs_without_a_snapshot_need_trust_empty() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let written = write_nodes(dd.port, "e", 5);
    server.kill();

    let dir = dd.version2();
    let snaps = snapshots(&dir);
    assert!(!snaps.is_empty());
    for (_, snap) in &snaps {
        std::fs::remove_file(snap).unwrap();
    }

    let refusal = dd.refuse(&[], &[]);
    assert!(!refusal.status.success(), "{}", refusal.output);
    assert!(
        refusal.stderr.contains("trust.empty"),
        "the refusal should mention snapshot.trust.empty:\n{}",
        refusal.stderr
    );
    eprintln!(
        "no snapshot: exit {}; stderr: {}",
        refusal.status,
        refusal.stderr.trim()
    );
    assert!(
        snapshots(&dir).is_empty(),
        "refusing must write no snapshot"
    );

    let server = dd.start_with(
        &[],
        &[("SERVER_JVMFLAGS", "-Dzookeeper.snapshot.trust.empty=true")],
    );
    assert_tree(dd.port, &expected(&written), "trust.empty");
    // The startup snapshot makes the flag unnecessary from now on.
    server.kill();
    let _server = dd.start();
    assert_tree(dd.port, &expected(&written), "restart after trust.empty");
    done("no snapshot", started);
}

/// Case 7: SIGTERM, then restart: all data is there; an ephemeral of a session that was open at the
/// stop is there until that session expires (timers restart at load), one of a closed session
/// is gone.
#[test]
fn a_separate_data_log_dir_holds_the_logs_and_recovery_reads_them() {
    let mut dd = DataDir::with_separate_log_dir(40);
    let server = dd.start();
    let written = write_nodes(dd.port, "s", 120);
    drop(server); // SIGKILL: the logs must carry what no snapshot has
    assert!(
        !logs(&dd.log_version2()).is_empty(),
        "no log in the dataLogDir"
    );
    assert!(logs(&dd.version2()).is_empty(), "a log in the dataDir");
    assert!(
        snapshots(&dd.version2()).len() > 1,
        "snapCount 40 over 120 writes should have left snapshots in the dataDir"
    );
    assert!(snapshots(&dd.log_version2()).is_empty());
    let _server = dd.start();
    assert_tree(
        dd.port,
        &expected(&written),
        "after a restart with a dataLogDir",
    );
}

#[test]
fn clean_stop_keeps_data_and_open_sessions_until_they_expire() {
    let started = Instant::now();
    let mut dd = DataDir::new(NO_SNAPSHOTS);
    let server = dd.start();
    let rt = runtime();
    let (open, open_session, written) = rt.block_on(async {
        let open = connect(dd.port).await;
        let written = create_nodes(&open, "p", 5).await;
        bounded(
            "create",
            open.create("/eph-open", b"open", &CreateOptions::ephemeral()),
        )
        .await
        .expect("create /eph-open");
        let closed = connect(dd.port).await;
        bounded(
            "create",
            closed.create("/eph-closed", b"closed", &CreateOptions::ephemeral()),
        )
        .await
        .expect("create /eph-closed");
        bounded("close", closed.close()).await.expect("close");
        let id = open.session().session_id;
        assert_eq!(
            open.session().negotiated_timeout_ms as u64,
            SESSION_TIMEOUT_MS
        );
        (open, id, written)
    });
    // The session of `open` is still open when the server stops.
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM should stop zk-server cleanly: {status}"
    );
    drop(open);
    drop(rt);

    let server = dd.start();
    let ready = Instant::now();
    assert!(
        log_warnings(&server.output()).is_empty(),
        "a clean stop leaves clean logs:\n{}",
        server.output()
    );
    let rt = runtime();
    let gone_after = rt.block_on(async {
        let zk = connect(dd.port).await;
        let mut want = expected(&written);
        want.insert("/eph-open".into(), b"open".to_vec());
        assert_eq!(top_level(&zk).await, want, "after a clean stop");
        let stat = bounded("exists", zk.exists("/eph-open"))
            .await
            .unwrap()
            .expect("/eph-open");
        assert_eq!(stat.ephemeral_owner, open_session);

        // Still there well within the timeout (the session's timer restarts at load).
        tokio::time::sleep_until((ready + Duration::from_millis(SESSION_TIMEOUT_MS / 2)).into())
            .await;
        assert!(
            bounded("exists", zk.exists("/eph-open"))
                .await
                .unwrap()
                .is_some(),
            "/eph-open gone before half the session timeout after the restart"
        );
        // Gone within timeout + 2 ticks.
        let deadline = ready + Duration::from_millis(SESSION_TIMEOUT_MS + 2 * TICK_MS);
        loop {
            let exists = bounded("exists", zk.exists("/eph-open"))
                .await
                .unwrap()
                .is_some();
            if !exists {
                break ready.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "/eph-open still there {:?} after the restart (session timeout \
                 {SESSION_TIMEOUT_MS} ms, tick {TICK_MS} ms)",
                ready.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    eprintln!("clean stop: the open session's ephemeral went {gone_after:?} after the restart");
    drop(rt);
    assert_tree(dd.port, &expected(&written), "after the session expired");
    drop(server);
    done("clean stop", started);
}

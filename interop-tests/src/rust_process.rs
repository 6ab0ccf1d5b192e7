//! Our server, zk-server, as a child process: the real binary on a `zoo.cfg` and data directory
//! of the caller's choosing, so a test can stop it, look at or copy its files, and start it (or
//! Java) again on them.
//!
//! # Finding the binary
//!
//! `ZK_SERVER_BIN` names it explicitly. Otherwise it is `target/<profile>/zk-server` next to the
//! test executable (`current_exe()` is `target/<profile>/deps/<test>-<hash>`). `cargo test -p
//! interop-tests` does not build another package's binary, so when that file is missing, or
//! older than a source file of zk-server or zk-proto, `cargo build -p zk-server --bin zk-server`
//! runs once (same profile) before the first start.

use crate::process::{file_tail, text_tail};
use crate::{four_letter_word_timeout, free_port, Error, Result};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Default limit for zk-server to recover its data directory and answer `ruok`.
const RUST_SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a SIGTERMed server may take to exit before it is SIGKILLed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long reaping a SIGKILLed server may take.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the one-time `cargo build` of the binary may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// Fresh ports tried by [`RustZkServerProcess::start_standalone`] when one was taken.
const PORT_ATTEMPTS: usize = 3;

/// Lines of server log shown on a failed start or a panicking test.
const LOG_TAIL_LINES: usize = 80;

/// What zk-server logs once it listens (`main.rs`).
const READY_LINE: &str = "zk-server ready";

/// What zk-server logs when the client port cannot be bound.
const LISTEN_FAILURE: &str = "cannot listen on the client port";

/// The zk-server binary as a child process on a `zoo.cfg` the caller wrote (or
/// [`start_standalone`](Self::start_standalone) wrote). stdout and stderr go to `zk-server.log`
/// next to the `zoo.cfg`, appended across restarts.
///
/// Dropping it SIGKILLs the server; if the thread is panicking, the tail of its log is printed
/// first. Unlike the Java harness, the child is not tied to this process: if the test process
/// itself is SIGKILLed, the server keeps running.
///
/// ```no_run
/// use interop_tests::RustZkServerProcess;
/// let dir = tempfile::tempdir().unwrap();
/// let mut server =
///     RustZkServerProcess::start_standalone(dir.path(), &dir.path().join("data"), &[])?;
/// server.stop()?; // SIGTERM; the data directory now holds snapshots and logs
/// server.restart()?; // recovers them
/// # Ok::<(), interop_tests::Error>(())
/// ```
#[derive(Debug)]
pub struct RustZkServerProcess {
    binary: PathBuf,
    config_path: PathBuf,
    addr: SocketAddr,
    data_dir: PathBuf,
    data_log_dir: PathBuf,
    log_path: PathBuf,
    start_timeout: Duration,
    child: Option<Child>,
    /// Length of the log when the current process was spawned.
    log_offset: u64,
    /// `-D` flags for `SERVER_JVMFLAGS`.
    jvm_flags: String,
}

/// Why a start did not reach "serving".
pub(crate) enum StartFailure {
    Exited(ExitStatus),
    Timeout(Duration),
    Harness(Error),
}

impl RustZkServerProcess {
    /// The zk-server binary (see the module docs); built once per test process if missing or
    /// stale.
    pub fn binary() -> Result<PathBuf> {
        static BINARY: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
        BINARY
            .get_or_init(find_or_build_binary)
            .clone()
            .map_err(|what| Error::Failed {
                what,
                stdout: String::new(),
                stderr: String::new(),
            })
    }

    /// Starts zk-server on `config` (a `zoo.cfg`; `clientPort` must be set and not 0) and waits
    /// up to 30 s until it answers `ruok`.
    pub fn start(config: impl AsRef<Path>) -> Result<RustZkServerProcess> {
        Self::start_with_timeout(config, RUST_SERVER_START_TIMEOUT)
    }

    /// [`start`](Self::start) with another start limit (also used by
    /// [`restart`](Self::restart)).
    pub fn start_with_timeout(
        config: impl AsRef<Path>,
        start_timeout: Duration,
    ) -> Result<RustZkServerProcess> {
        let mut server = Self::prepare(config.as_ref(), start_timeout)?;
        server.spawn()?;
        match server.wait_ready(Instant::now() + start_timeout) {
            Ok(()) => Ok(server),
            Err(failure) => Err(server.start_error(failure)),
        }
    }

    /// Writes `<dir>/zoo.cfg` (tickTime 2000, `dataDir=data_dir`, a free `clientPort` on
    /// 127.0.0.1, `4lw.commands.whitelist=*`, then `extra_lines`, which win) and starts zk-server
    /// on it, retrying with a fresh port when the chosen one was taken.
    pub fn start_standalone(
        dir: &Path,
        data_dir: &Path,
        extra_lines: &[&str],
    ) -> Result<RustZkServerProcess> {
        let mut attempt = 1;
        loop {
            let port = free_port().map_err(|e| Error::io("finding a free port", e))?;
            let config = write_standalone_config(dir, data_dir, port, extra_lines)?;
            let mut server = Self::prepare(&config, RUST_SERVER_START_TIMEOUT)?;
            server.spawn()?;
            match server.wait_ready(Instant::now() + RUST_SERVER_START_TIMEOUT) {
                Ok(()) => return Ok(server),
                Err(StartFailure::Exited(_))
                    if attempt < PORT_ATTEMPTS && server.port_was_taken() =>
                {
                    server.note(&format!("port {port} was taken; retrying with another"))?;
                    attempt += 1;
                }
                Err(failure) => return Err(server.start_error(failure)),
            }
        }
    }

    pub(crate) fn prepare(config: &Path, start_timeout: Duration) -> Result<RustZkServerProcess> {
        let binary = Self::binary()?;
        let text = std::fs::read_to_string(config)
            .map_err(|e| Error::io(format!("reading {}", config.display()), e))?;
        let cfg = zk_server::config::Config::parse(&text, "").map_err(|e| Error::Failed {
            what: format!("{} is not a valid zoo.cfg: {e}", config.display()),
            stdout: String::new(),
            stderr: String::new(),
        })?;
        let port = cfg
            .client_port
            .filter(|&p| p != 0)
            .ok_or_else(|| Error::Failed {
                what: format!(
                    "{} needs a clientPort (not 0) so the harness knows where to connect",
                    config.display()
                ),
                stdout: String::new(),
                stderr: String::new(),
            })?;
        let ip = cfg
            .client_port_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let config_path = config.to_path_buf();
        let log_path = config
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("zk-server.log");
        Ok(RustZkServerProcess {
            binary,
            config_path,
            addr: SocketAddr::new(ip, port),
            data_dir: cfg.data_dir.clone(),
            data_log_dir: cfg.data_log_dir.clone(),
            log_path,
            start_timeout,
            child: None,
            log_offset: 0,
            jvm_flags: String::new(),
        })
    }

    /// Hands zk-server `-Dname=value` flags in `SERVER_JVMFLAGS`, as zkServer.sh hands them
    /// to Java (set before the first start).
    pub(crate) fn set_jvm_flags(&mut self, flags: &[String]) {
        self.jvm_flags = flags.join(" ");
    }

    /// The client address from `zoo.cfg`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for clients.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// `dataDir` (snapshots under `version-2/`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `dataLogDir` (`dataDir` unless set; transaction logs under `version-2/`).
    pub fn data_log_dir(&self) -> &Path {
        &self.data_log_dir
    }

    /// The `zoo.cfg` the server runs on.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The server's log (stdout and stderr of every start).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path, lines)
    }

    /// What the current (or last) process wrote to the log.
    pub fn log_of_this_run(&self) -> String {
        let log = std::fs::read(&self.log_path).unwrap_or_default();
        let start = usize::try_from(self.log_offset).map_or(log.len(), |o| o.min(log.len()));
        String::from_utf8_lossy(&log[start..]).into_owned()
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends a four-letter word (5 s limit).
    pub fn four_letter_word(&self, word: &str) -> std::io::Result<String> {
        crate::four_letter_word(self.addr, word)
    }

    /// Stops the server gracefully (SIGTERM), waits up to 10 s for it to exit, then SIGKILLs it.
    /// Returns its exit status (`None` if it was not running). The data directory stays.
    pub fn stop(&mut self) -> Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        if let Some(status) = try_wait(&mut child)? {
            return Ok(Some(status));
        }
        self.note("stopping (SIGTERM)")?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if sent.is_ok_and(|s| s.success()) {
            if let Some(status) = wait_until(&mut child, Instant::now() + STOP_TIMEOUT)? {
                return Ok(Some(status));
            }
            self.note("no exit within 10 s of SIGTERM; sending SIGKILL")?;
        }
        kill_and_reap(&mut child).map(Some)
    }

    /// Kills the server (SIGKILL, like a crash) and reaps it. The data directory stays.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            self.note("killing (SIGKILL)")?;
            kill_and_reap(&mut child)?;
        }
        Ok(())
    }

    /// [`stop`](Self::stop)s the server if it runs, starts it again on the same `zoo.cfg` and
    /// waits until it answers `ruok`.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        // Its ports are fixed; another socket may hold one for a moment (see
        // `JavaZkServer::restart`): wait for it rather than fail.
        let deadline = Instant::now() + self.start_timeout;
        loop {
            self.spawn()?;
            match self.wait_ready(deadline) {
                Ok(()) => return Ok(()),
                Err(StartFailure::Exited(_))
                    if self.port_was_taken()
                        && Instant::now() + Duration::from_millis(250) < deadline =>
                {
                    self.child = None;
                    self.note("a port is in use; retrying")?;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(failure) => return Err(self.start_error(failure)),
            }
        }
    }

    fn note(&self, text: &str) -> Result<()> {
        let mut log = open_log(&self.log_path)?;
        writeln!(log, "=== zk-rs harness: {text} ===")
            .map_err(|e| Error::io(format!("writing {}", self.log_path.display()), e))
    }

    pub(crate) fn spawn(&mut self) -> Result<()> {
        debug_assert!(self.child.is_none(), "spawn while running");
        self.note(&format!(
            "starting {} {} (client address {})",
            self.binary.display(),
            self.config_path.display(),
            self.addr
        ))?;
        self.log_offset = std::fs::metadata(&self.log_path).map_or(0, |m| m.len());
        let stdout = open_log(&self.log_path)?;
        let stderr = stdout
            .try_clone()
            .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))?;
        let mut command = Command::new(&self.binary);
        command
            .arg(&self.config_path)
            .env("NO_COLOR", "1")
            .env("SERVER_JVMFLAGS", &self.jvm_flags)
            .env(
                "RUST_LOG",
                std::env::var("ZK_SERVER_RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        if let Some(dir) = self
            .config_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            command.current_dir(dir);
        }
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", self.binary.display()), e))?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls until the server answers `ruok` and its log says it is ready, the process exits, or
    /// `deadline` passes.
    pub(crate) fn wait_ready(
        &mut self,
        deadline: Instant,
    ) -> std::result::Result<(), StartFailure> {
        let started = Instant::now();
        loop {
            let exited = match &mut self.child {
                Some(child) => try_wait(child).map_err(StartFailure::Harness)?,
                None => {
                    return Err(StartFailure::Harness(Error::io(
                        "waiting for zk-server",
                        std::io::Error::other("the server is not running"),
                    )))
                }
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(StartFailure::Exited(status));
            }
            // The log line proves the answer comes from this process, not another on the port.
            if self.log_of_this_run().contains(READY_LINE)
                && four_letter_word_timeout(self.addr, "ruok", Duration::from_secs(2))
                    .is_ok_and(|r| r == "imok")
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Timeout(started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the last start failed because the client port was taken.
    pub(crate) fn port_was_taken(&self) -> bool {
        self.log_of_this_run().contains(LISTEN_FAILURE)
    }

    pub(crate) fn start_error(&mut self, failure: StartFailure) -> Error {
        if let Some(mut child) = self.child.take() {
            let _ = kill_and_reap(&mut child);
        }
        let reason = match failure {
            StartFailure::Exited(status) => format!("it exited ({status})"),
            StartFailure::Timeout(after) => format!(
                "no `imok` from {} within {} ms",
                self.addr,
                after.as_millis()
            ),
            StartFailure::Harness(e) => e.to_string(),
        };
        Error::Failed {
            what: format!(
                "zk-server {} failed to start: {reason} (log: {})",
                self.config_path.display(),
                self.log_path.display()
            ),
            stdout: text_tail(&self.log_of_this_run(), LOG_TAIL_LINES),
            stderr: "(same log as above)".to_owned(),
        }
    }
}

impl Drop for RustZkServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- zk-server ({}) log tail, {} ---\n{}\n--- end of zk-server log ---",
                self.addr,
                self.log_path.display(),
                self.log_tail(LOG_TAIL_LINES)
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = kill_and_reap(&mut child);
        }
    }
}

/// Writes `<dir>/zoo.cfg` for a standalone zk-server and returns its path.
fn write_standalone_config(
    dir: &Path,
    data_dir: &Path,
    port: u16,
    extra_lines: &[&str],
) -> Result<PathBuf> {
    let mut text = String::new();
    let _ = writeln!(text, "# Generated by zk-rs interop-tests.");
    let _ = writeln!(text, "tickTime=2000");
    let _ = writeln!(text, "dataDir={}", data_dir.display());
    let _ = writeln!(text, "clientPort={port}");
    let _ = writeln!(text, "clientPortAddress=127.0.0.1");
    let _ = writeln!(text, "4lw.commands.whitelist=*");
    for line in extra_lines {
        let _ = writeln!(text, "{line}");
    }
    let path = dir.join("zoo.cfg");
    std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(path)
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))
}

fn try_wait(child: &mut Child) -> Result<Option<ExitStatus>> {
    child
        .try_wait()
        .map_err(|e| Error::io("polling zk-server", e))
}

fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    crate::process::wait_until(child, deadline)
}

fn kill_and_reap(child: &mut Child) -> Result<ExitStatus> {
    if let Some(status) = try_wait(child)? {
        return Ok(status);
    }
    let _ = child.kill();
    wait_until(child, Instant::now() + REAP_TIMEOUT)?.ok_or_else(|| Error::Timeout {
        what: format!("reaping killed zk-server {}", child.id()),
        after_ms: REAP_TIMEOUT.as_millis(),
    })
}

/// `ZK_SERVER_BIN`, or `target/<profile>/zk-server`, built if missing or stale.
fn find_or_build_binary() -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ZK_SERVER_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("ZK_SERVER_BIN={} is not a file", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .ok_or_else(|| {
            format!(
                "cannot find zk-server: the test executable {} is not in target/<profile>/deps (set ZK_SERVER_BIN)",
                exe.display()
            )
        })?;
    let binary = profile_dir.join(format!("zk-server{}", std::env::consts::EXE_SUFFIX));
    let why = match binary_mtime(&binary) {
        None => "missing",
        Some(built) if newest_source_mtime().is_some_and(|src| src > built) => {
            "older than its sources"
        }
        Some(_) => return Ok(binary),
    };
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    eprintln!(
        "interop-tests: {} is {why}; running cargo build -p zk-server --bin zk-server ({profile})",
        binary.display()
    );
    build_binary(&profile)?;
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "cargo build -p zk-server --bin zk-server succeeded but {} does not exist (a different target dir?); set ZK_SERVER_BIN",
            binary.display()
        ))
    }
}

fn binary_mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// The newest modification time of the sources the binary is built from (zk-server and
/// zk-proto), if this checkout has them.
fn newest_source_mtime() -> Option<SystemTime> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let mut newest = None;
    for krate in ["zk-server", "zk-proto"] {
        let root = workspace.join(krate);
        for path in [root.join("Cargo.toml"), root.join("src")] {
            newest_in(&path, &mut newest);
        }
    }
    newest
}

fn newest_in(path: &Path, newest: &mut Option<SystemTime>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                newest_in(&entry.path(), newest);
            }
        }
    } else if let Ok(modified) = meta.modified() {
        if newest.is_none_or(|n| modified > n) {
            *newest = Some(modified);
        }
    }
}

/// `cargo build -p zk-server --bin zk-server` for `profile`, bounded by [`BUILD_TIMEOUT`].
fn build_binary(profile: &str) -> std::result::Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."));
    let out = tempfile::tempfile().map_err(|e| format!("creating a temp file: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("temp file: {e}"))?;
    let mut command = Command::new(&cargo);
    command
        .args(["build", "-p", "zk-server", "--bin", "zk-server"])
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            out.try_clone().map_err(|e| format!("temp file: {e}"))?,
        ))
        .stderr(Stdio::from(err));
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    let status = match crate::process::wait_until(&mut child, Instant::now() + BUILD_TIMEOUT) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "cargo build -p zk-server --bin zk-server did not finish within {} s",
                BUILD_TIMEOUT.as_secs()
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    if status.success() {
        return Ok(());
    }
    let mut out = out;
    let mut text = String::new();
    use std::io::{Read as _, Seek as _};
    let _ = out.seek(std::io::SeekFrom::Start(0));
    let _ = out.read_to_string(&mut text);
    Err(format!(
        "cargo build -p zk-server --bin zk-server failed ({status}):\n{}",
        text_tail(&text, 60)
    ))
}

//! The real Java ZooKeeper server as a child process: standalone or as an ensemble.

use crate::process::{self, Watched};
use crate::program::parent_watch_dir;
use crate::{four_letter_word_timeout, Error, JavaEnv, Result};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default limit for a standalone server to answer; JVM start on two busy cores takes seconds.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Default limit for a whole ensemble to elect a leader and serve.
const ENSEMBLE_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a start with freshly chosen ports is retried when a port was taken between
/// choosing it and the JVM binding it.
const PORT_ATTEMPTS: usize = 3;

/// The server's main class: Debian's `zkServer.sh` uses it too. Without `server.N` lines it
/// runs `ZooKeeperServerMain` (standalone).
const SERVER_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// JVM flags for servers (after the cheap-start flags; caller flags come after these and win).
const SERVER_JVM_FLAGS: &[&str] = &[
    "-Xmx256m",
    "-XX:-UsePerfData",
    "-Dzookeeper.jmx.log4j.disable=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
];

/// What the log says when a port is taken.
const BIND_FAILURE: &str = "Address already in use";

/// Lines of server log shown when a test panics or a start fails.
const LOG_TAIL_LINES: usize = 80;

/// A free TCP port on 127.0.0.1, found by binding port 0. Another process may take it before it
/// is used; [`JavaZkServer`] retries with a new port when that happens.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// `n` distinct free ports (all held open until every one is chosen).
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io("finding a free port", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io("finding a free port", e))
}

/// One member of an ensemble as the `server.N` line and `clientPort` describe it; everything
/// listens on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerAddr {
    /// The server id (`myid`, the `N` of `server.N`).
    pub id: u32,
    /// Where clients connect.
    pub client_port: u16,
    /// Where followers connect to the leader.
    pub quorum_port: u16,
    /// Where leader election runs.
    pub election_port: u16,
}

impl ServerAddr {
    /// The `server.N=host:quorumPort:electionPort` line of `zoo.cfg`.
    pub fn server_line(&self) -> String {
        format!(
            "server.{}=127.0.0.1:{}:{}",
            self.id, self.quorum_port, self.election_port
        )
    }
}

/// Builds a [`JavaZkServer`] (or, with [`JavaZkServerBuilder::start_ensemble`], a
/// [`JavaEnsemble`]).
///
/// The generated `zoo.cfg` sets `tickTime` (2000), `initLimit=10`, `syncLimit=5`, `dataDir`,
/// `clientPort`, `clientPortAddress=127.0.0.1`, `admin.enableServer=false` (no Jetty on port
/// 8080) and `4lw.commands.whitelist=*`, then the lines given to [`JavaZkServerBuilder::cfg`].
/// Java's `Properties` keeps the last value of a repeated key, so a `cfg` line overrides a
/// default (for example `4lw.commands.whitelist=srvr` restores Java's default whitelist); do not
/// override `dataDir`, `clientPort` or `clientPortAddress`. Keys `QuorumPeerConfig` does not
/// know become `zookeeper.<key>` system properties in the server, so
/// How long a restart waits before trying again when a fixed port is taken.
const RESTART_RETRY: Duration = Duration::from_millis(250);

/// `extendedTypesEnabled=true` works as a `cfg` line.
#[derive(Debug, Clone)]
pub struct JavaZkServerBuilder {
    tick_time_ms: u32,
    cfg_lines: Vec<String>,
    jvm_flags: Vec<String>,
    start_timeout: Option<Duration>,
}

impl Default for JavaZkServerBuilder {
    fn default() -> Self {
        JavaZkServerBuilder {
            tick_time_ms: 2000,
            cfg_lines: Vec::new(),
            jvm_flags: Vec::new(),
            start_timeout: None,
        }
    }
}

impl JavaZkServerBuilder {
    /// Appends a `zoo.cfg` line (`key=value`), or several separated by newlines.
    pub fn cfg(mut self, line: impl Into<String>) -> Self {
        self.cfg_lines.push(line.into());
        self
    }

    /// Adds a JVM flag (`-Dzookeeper.foo=bar`, `-Xmx512m`, ...); later flags win over the
    /// harness defaults.
    pub fn jvm_flag(mut self, flag: impl Into<String>) -> Self {
        self.jvm_flags.push(flag.into());
        self
    }

    /// `tickTime` in ms (default 2000: session timeouts are then clamped to 4 s ..= 40 s).
    pub fn tick_time_ms(mut self, tick_time_ms: u32) -> Self {
        self.tick_time_ms = tick_time_ms;
        self
    }

    /// How long to wait for the server (or every ensemble member) to serve; default
    /// [`SERVER_START_TIMEOUT`] (60 s for an ensemble). Also applies to
    /// [`JavaZkServer::restart`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// Starts a standalone server on a free port and waits until it serves.
    pub fn start(self) -> Result<JavaZkServer> {
        let timeout = self.start_timeout.unwrap_or(SERVER_START_TIMEOUT);
        let mut server = JavaZkServer::prepare(&self, None, timeout)?;
        let mut attempt = 1;
        loop {
            let port = free_ports(1)?[0];
            server.member.client_port = port;
            server.write_config()?;
            server.spawn()?;
            match server.wait_ready(Instant::now() + timeout) {
                Ok(()) => return Ok(server),
                Err(StartFailure::PortInUse) if attempt < PORT_ATTEMPTS => {
                    server.note(&format!("port {port} was taken; retrying with another"))?;
                    server.kill_child()?;
                    attempt += 1;
                }
                Err(failure) => return Err(server.start_error(failure)),
            }
        }
    }

    /// Starts one Java member of an ensemble whose other members run elsewhere (zk-rs's own
    /// ensemble members, for instance): `me` is its entry, `peers` every member, `me` included.
    /// Waits until it serves, which takes a quorum of `peers`. The caller chose the ports, so a
    /// taken one is an error, not a retry.
    pub fn start_member(self, me: ServerAddr, peers: &[ServerAddr]) -> Result<JavaZkServer> {
        let timeout = self.start_timeout.unwrap_or(ENSEMBLE_START_TIMEOUT);
        let mut member = JavaZkServer::prepare(&self, Some(me.id), timeout)?;
        member.member.client_port = me.client_port;
        member.member.peers = peers.to_vec();
        member.write_config()?;
        member.spawn()?;
        match member.wait_ready(Instant::now() + timeout) {
            Ok(()) => Ok(member),
            Err(failure) => Err(member.start_error(failure)),
        }
    }

    /// Starts a `size`-member ensemble on free ports and waits until every member serves (as
    /// leader or follower).
    pub fn start_ensemble(self, size: usize) -> Result<JavaEnsemble> {
        assert!(size >= 1, "an ensemble has at least one member");
        let timeout = self.start_timeout.unwrap_or(ENSEMBLE_START_TIMEOUT);
        let mut attempt = 1;
        loop {
            let ports = free_ports(3 * size)?;
            let peers: Vec<ServerAddr> = (0..size)
                .map(|i| ServerAddr {
                    id: i as u32 + 1,
                    client_port: ports[3 * i],
                    quorum_port: ports[3 * i + 1],
                    election_port: ports[3 * i + 2],
                })
                .collect();
            let mut members = Vec::with_capacity(size);
            for peer in &peers {
                let mut member = JavaZkServer::prepare(&self, Some(peer.id), timeout)?;
                member.member.client_port = peer.client_port;
                member.member.peers = peers.clone();
                member.write_config()?;
                members.push(member);
            }
            for member in &mut members {
                member.spawn()?;
            }
            let deadline = Instant::now() + timeout;
            let mut failure = None;
            for member in &mut members {
                if let Err(f) = member.wait_ready(deadline) {
                    failure = Some((member.member.myid, f));
                    break;
                }
            }
            match failure {
                None => return Ok(JavaEnsemble { members }),
                Some((_, StartFailure::PortInUse)) if attempt < PORT_ATTEMPTS => attempt += 1,
                Some((id, f)) => {
                    let index = members
                        .iter()
                        .position(|m| m.member.myid == id)
                        .expect("the failed member is in the list");
                    let mut failed = members.swap_remove(index);
                    return Err(failed.start_error(f));
                }
            }
        }
    }
}

/// How one member's `zoo.cfg` is generated.
#[derive(Debug, Clone)]
struct MemberConfig {
    /// `Some(id)` in an ensemble (written to `dataDir/myid`); `None` standalone.
    myid: Option<u32>,
    client_port: u16,
    /// Every member of the ensemble (empty standalone).
    peers: Vec<ServerAddr>,
    tick_time_ms: u32,
    extra_lines: Vec<String>,
}

impl MemberConfig {
    fn render(&self, data_dir: &Path) -> String {
        let mut cfg = String::new();
        let _ = writeln!(cfg, "# Generated by zk-rs interop-tests.");
        let _ = writeln!(cfg, "tickTime={}", self.tick_time_ms);
        let _ = writeln!(cfg, "initLimit=10");
        let _ = writeln!(cfg, "syncLimit=5");
        let _ = writeln!(cfg, "dataDir={}", data_dir.display());
        let _ = writeln!(cfg, "clientPort={}", self.client_port);
        let _ = writeln!(cfg, "clientPortAddress=127.0.0.1");
        let _ = writeln!(cfg, "admin.enableServer=false");
        let _ = writeln!(cfg, "4lw.commands.whitelist=*");
        for peer in &self.peers {
            let _ = writeln!(cfg, "{}", peer.server_line());
        }
        if !self.extra_lines.is_empty() {
            let _ = writeln!(cfg, "# Test-specific lines (later keys win).");
            for line in &self.extra_lines {
                let _ = writeln!(cfg, "{line}");
            }
        }
        cfg
    }
}

/// Why a start did not reach "serving".
#[derive(Debug)]
pub(crate) enum StartFailure {
    /// A port was taken (the log says "Address already in use").
    PortInUse,
    /// The JVM exited.
    Exited(std::process::ExitStatus),
    /// The deadline passed.
    Timeout(Duration),
    /// The harness itself failed.
    Harness(Error),
}

/// A real Apache ZooKeeper 3.8 server (Java, `QuorumPeerMain`) running as a child process on
/// 127.0.0.1, with its own temporary directory holding `zoo.cfg`, `data/` and `server.log`
/// (stdout and stderr, appended across restarts).
///
/// Dropping it SIGKILLs the JVM; if the thread is panicking, the tail of the server log is
/// printed to stderr first so a failing test shows what the server saw. Set
/// `ZK_INTEROP_KEEP_DIRS=1` to keep the directory.
///
/// ```no_run
/// use interop_tests::{four_letter_word, JavaZkServer};
/// let server = JavaZkServer::builder().cfg("extendedTypesEnabled=true").start()?;
/// assert_eq!(four_letter_word(server.addr(), "ruok").unwrap(), "imok");
/// # Ok::<(), interop_tests::Error>(())
/// ```
#[derive(Debug)]
pub struct JavaZkServer {
    env: &'static JavaEnv,
    /// Compiled parent-watch class (see `process`).
    watch_dir: PathBuf,
    /// The temporary root; `None` only while dropping.
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    member: MemberConfig,
    jvm_flags: Vec<String>,
    start_timeout: Duration,
    child: Option<Watched>,
    /// Length of the log in bytes when the current JVM was spawned: what it wrote starts there.
    log_offset: u64,
}

impl JavaZkServer {
    /// A builder for extra `zoo.cfg` lines, JVM flags and timeouts.
    pub fn builder() -> JavaZkServerBuilder {
        JavaZkServerBuilder::default()
    }

    /// Starts a standalone server with the default configuration.
    pub fn start() -> Result<JavaZkServer> {
        JavaZkServer::builder().start()
    }

    fn prepare(
        builder: &JavaZkServerBuilder,
        myid: Option<u32>,
        start_timeout: Duration,
    ) -> Result<JavaZkServer> {
        Self::prepare_in(None, builder, myid, start_timeout)
    }

    /// A member of a [`crate::Ensemble`]: its directory (with `data/myid`) under `parent`, its
    /// client port set; the ensemble writes [`config_path`](Self::config_path) itself before
    /// [`spawn`](Self::spawn).
    pub(crate) fn ensemble_member(
        parent: &Path,
        myid: u32,
        client_port: u16,
        jvm_flags: &[String],
        start_timeout: Duration,
    ) -> Result<JavaZkServer> {
        let builder = JavaZkServerBuilder {
            jvm_flags: jvm_flags.to_vec(),
            ..JavaZkServerBuilder::default()
        };
        let mut server = Self::prepare_in(Some(parent), &builder, Some(myid), start_timeout)?;
        server.member.client_port = client_port;
        Ok(server)
    }

    fn prepare_in(
        parent: Option<&Path>,
        builder: &JavaZkServerBuilder,
        myid: Option<u32>,
        start_timeout: Duration,
    ) -> Result<JavaZkServer> {
        let env = JavaEnv::get()?;
        let watch_dir = parent_watch_dir(env)?;
        let prefix = match myid {
            Some(id) => format!("zk-rs-java-zk{id}-"),
            None => "zk-rs-java-zk-".to_owned(),
        };
        let dir = crate::temp_dir_in(parent, &prefix)?;
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
        if let Some(id) = myid {
            let path = data.join("myid");
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
        let mut jvm_flags: Vec<String> = SERVER_JVM_FLAGS.iter().map(|s| s.to_string()).collect();
        jvm_flags.extend(builder.jvm_flags.iter().cloned());
        Ok(JavaZkServer {
            env,
            watch_dir,
            dir: Some(dir),
            root,
            member: MemberConfig {
                myid,
                client_port: 0,
                peers: Vec::new(),
                tick_time_ms: builder.tick_time_ms,
                extra_lines: builder.cfg_lines.clone(),
            },
            jvm_flags,
            start_timeout,
            child: None,
            log_offset: 0,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.member.client_port
    }

    /// The client address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port()))
    }

    /// The connect string for clients, `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// The server's `dataDir` (holds `version-2/` with snapshots and txn logs, and `myid` in an
    /// ensemble).
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The generated `zoo.cfg`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("zoo.cfg")
    }

    /// The server log (JVM stdout and stderr, all starts appended).
    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::file_tail(&self.log_path(), lines)
    }

    /// `Some(id)` for an ensemble member, `None` standalone.
    pub fn myid(&self) -> Option<u32> {
        self.member.myid
    }

    /// The JVM's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Watched::id)
    }

    /// Whether the JVM is running (it may still be starting).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends a four-letter word to this server (see [`crate::four_letter_word`]).
    pub fn four_letter_word(&self, word: &str) -> std::io::Result<String> {
        crate::four_letter_word(self.addr(), word)
    }

    /// Kills the server (SIGKILL, like a crash: nothing is flushed beyond what ZooKeeper already
    /// synced) and waits for it to be gone. The directory and port are kept for
    /// [`JavaZkServer::restart`]. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.note("stopping (SIGKILL)")?;
        }
        self.kill_child()
    }

    /// Stops the server if it runs, then starts it again with the same data directory, port and
    /// configuration, and waits until it serves. Sessions survive if this happens within their
    /// timeout. Fails (without retrying another port) if the port was taken meanwhile.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        // The ports are fixed now (an ensemble's config names them). One may be held for a
        // moment by another socket (an outgoing connection's local port is drawn from the
        // same range): wait for it rather than fail.
        let deadline = Instant::now() + self.start_timeout;
        loop {
            self.spawn()?;
            match self.wait_ready(deadline) {
                Ok(()) => return Ok(()),
                Err(StartFailure::PortInUse) if Instant::now() + RESTART_RETRY < deadline => {
                    let _ = self.kill_child();
                    self.note("a port is in use; retrying")?;
                    std::thread::sleep(RESTART_RETRY);
                }
                Err(failure) => return Err(self.start_error(failure)),
            }
        }
    }

    fn write_config(&self) -> Result<()> {
        let path = self.config_path();
        std::fs::write(&path, self.member.render(&self.data_dir()))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Appends a harness line to the server log.
    fn note(&self, text: &str) -> Result<()> {
        let path = self.log_path();
        let mut log = open_log(&path)?;
        writeln!(log, "=== zk-rs harness: {text} ===")
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    pub(crate) fn spawn(&mut self) -> Result<()> {
        debug_assert!(self.child.is_none(), "spawn while running");
        self.note(&format!(
            "starting Java ZooKeeper{} on 127.0.0.1:{}",
            self.member
                .myid
                .map(|id| format!(" server.{id}"))
                .unwrap_or_default(),
            self.member.client_port
        ))?;
        let log_path = self.log_path();
        self.log_offset = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        let stdout = open_log(&log_path)?;
        let stderr = stdout
            .try_clone()
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let mut command = process::java_command(
            &self.env.java,
            &self.watch_dir,
            &self.env.server_classpath,
            &self.jvm_flags,
            SERVER_MAIN,
        );
        command.arg(self.config_path()).current_dir(&self.root);
        self.child = Some(Watched::spawn(
            command,
            stdout,
            stderr,
            "Java ZooKeeper server",
        )?);
        Ok(())
    }

    /// What the current (or last) JVM wrote to the log.
    fn log_of_this_run(&self) -> String {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        let start = usize::try_from(self.log_offset).map_or(log.len(), |o| o.min(log.len()));
        String::from_utf8_lossy(&log[start..]).into_owned()
    }

    fn kill_child(&mut self) -> Result<()> {
        match self.child.take() {
            Some(mut child) => child.kill().map(drop),
            None => Ok(()),
        }
    }

    /// Polls until the server answers `ruok` and `srvr` reports a `Mode:`, the JVM exits, or
    /// `deadline` passes.
    pub(crate) fn wait_ready(
        &mut self,
        deadline: Instant,
    ) -> std::result::Result<(), StartFailure> {
        let started = Instant::now();
        loop {
            let exited = match &mut self.child {
                Some(child) => child.try_wait().map_err(StartFailure::Harness)?,
                None => return Err(StartFailure::Harness(not_running())),
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(if self.log_of_this_run().contains(BIND_FAILURE) {
                    StartFailure::PortInUse
                } else {
                    StartFailure::Exited(status)
                });
            }
            if self.answers() {
                if self.answered_is_ours() {
                    return Ok(());
                }
                let _ = self.kill_child();
                return Err(StartFailure::PortInUse);
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Timeout(started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the server that answered on our port is our JVM and not another process that had
    /// the port first: `conf` names our data directory (or, when a test took `conf` out of the
    /// whitelist, our log shows the bind and no bind failure), and our JVM still runs.
    fn answered_is_ours(&mut self) -> bool {
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        let log = self.log_of_this_run();
        if !alive || log.contains(BIND_FAILURE) {
            return false;
        }
        match four_letter_word_timeout(self.addr(), "conf", Duration::from_secs(2)) {
            Ok(conf) if conf.contains("dataDir=") => {
                conf.contains(&format!("dataDir={}", self.data_dir().display()))
            }
            _ => log.contains(&format!("binding to port /127.0.0.1:{}", self.port())),
        }
    }

    /// Whether the server answers `ruok` (with `imok`, or the whitelist refusal when a test
    /// narrowed the whitelist) and `srvr` shows it serving.
    fn answers(&self) -> bool {
        let probe = Duration::from_secs(2);
        let ruok = match four_letter_word_timeout(self.addr(), "ruok", probe) {
            Ok(reply) => reply == "imok" || reply.contains("not in the whitelist"),
            Err(_) => false,
        };
        ruok && four_letter_word_timeout(self.addr(), "srvr", probe)
            .is_ok_and(|reply| reply.contains("Mode: "))
    }

    /// Turns a failure into an error with the log tail; kills the JVM if it still runs.
    pub(crate) fn start_error(&mut self, failure: StartFailure) -> Error {
        let _ = self.kill_child();
        let reason = match failure {
            StartFailure::PortInUse => format!(
                "port in use (client port {}{})",
                self.member.client_port,
                if self.member.peers.is_empty() {
                    String::new()
                } else {
                    " or a quorum/election port".to_owned()
                }
            ),
            StartFailure::Exited(status) => format!("the JVM exited ({status})"),
            StartFailure::Timeout(after) => format!(
                "no `ruok`/`srvr` answer showing a serving server on 127.0.0.1:{} within {} ms",
                self.member.client_port,
                after.as_millis()
            ),
            StartFailure::Harness(e) => e.to_string(),
        };
        Error::ServerStart {
            reason,
            log: self.log_path(),
            tail: self.log_tail(LOG_TAIL_LINES),
        }
    }
}

impl Drop for JavaZkServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- Java ZooKeeper{} (127.0.0.1:{}) log tail, {} ---\n{}\n--- end of server log ---",
                self.member
                    .myid
                    .map(|id| format!(" server.{id}"))
                    .unwrap_or_default(),
                self.member.client_port,
                self.log_path().display(),
                self.log_tail(LOG_TAIL_LINES)
            );
        }
        let _ = self.kill_child();
        if let Some(dir) = self.dir.take() {
            crate::finish_temp_dir(dir);
        }
    }
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))
}

fn not_running() -> Error {
    Error::io(
        "waiting for the Java server",
        std::io::Error::other("the server is not running"),
    )
}

/// A quorum of real Java ZooKeeper servers on 127.0.0.1 (`server.N` lines and `myid` per
/// member). Start one with [`JavaEnsemble::start`] or
/// [`JavaZkServerBuilder::start_ensemble`]; members are numbered from 1.
#[derive(Debug)]
pub struct JavaEnsemble {
    members: Vec<JavaZkServer>,
}

impl JavaEnsemble {
    /// Starts a `size`-member ensemble with the default configuration.
    pub fn start(size: usize) -> Result<JavaEnsemble> {
        JavaZkServer::builder().start_ensemble(size)
    }

    /// All members, in id order.
    pub fn members(&self) -> &[JavaZkServer] {
        &self.members
    }

    /// The member with `server.id`.
    ///
    /// # Panics
    /// If there is no such member.
    pub fn member(&self, id: u32) -> &JavaZkServer {
        &self.members[id as usize - 1]
    }

    /// The member with `server.id`, for [`JavaZkServer::stop`] / [`JavaZkServer::restart`].
    ///
    /// # Panics
    /// If there is no such member.
    pub fn member_mut(&mut self, id: u32) -> &mut JavaZkServer {
        &mut self.members[id as usize - 1]
    }

    /// The connect string naming every member (`127.0.0.1:p1,127.0.0.1:p2,...`).
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(JavaZkServer::connect_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The id of the member whose `srvr` says `Mode: leader`, if one does.
    pub fn leader(&self) -> Option<u32> {
        self.members.iter().find_map(|m| {
            m.four_letter_word("srvr")
                .ok()
                .filter(|s| s.contains("Mode: leader"))
                .and(m.myid())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port held by another ZooKeeper is noticed (even though that one answers `ruok`), and
    /// the same server then starts on a fresh port: the retry in `start` works.
    #[test]
    fn a_taken_port_is_detected_then_a_fresh_one_works() {
        let other = JavaZkServer::start().unwrap_or_else(|e| panic!("{e}"));
        let builder = JavaZkServerBuilder::default();
        let mut server = JavaZkServer::prepare(&builder, None, SERVER_START_TIMEOUT).unwrap();
        server.member.client_port = other.port();
        server.write_config().unwrap();
        server.spawn().unwrap();
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        match server.wait_ready(deadline) {
            Err(StartFailure::PortInUse) => {}
            other => panic!("expected PortInUse, got {other:?}\n{}", server.log()),
        }
        server.kill_child().unwrap();

        server.member.client_port = free_ports(1).unwrap()[0];
        server.write_config().unwrap();
        server.spawn().unwrap();
        if let Err(failure) = server.wait_ready(deadline) {
            panic!("{}", server.start_error(failure));
        }
        let conf = server.four_letter_word("conf").unwrap();
        assert!(
            conf.contains(&server.data_dir().display().to_string()),
            "{conf}"
        );
        // The other server was not disturbed.
        assert_eq!(other.four_letter_word("ruok").unwrap(), "imok");
    }

    #[test]
    fn config_lists_defaults_then_peers_then_test_lines() {
        let config = MemberConfig {
            myid: Some(2),
            client_port: 2181,
            peers: vec![ServerAddr {
                id: 2,
                client_port: 2181,
                quorum_port: 2888,
                election_port: 3888,
            }],
            tick_time_ms: 500,
            extra_lines: vec!["4lw.commands.whitelist=srvr".to_owned()],
        };
        let text = config.render(Path::new("/tmp/zk/data"));
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "tickTime=500",
                "initLimit=10",
                "syncLimit=5",
                "dataDir=/tmp/zk/data",
                "clientPort=2181",
                "clientPortAddress=127.0.0.1",
                "admin.enableServer=false",
                "4lw.commands.whitelist=*",
                "server.2=127.0.0.1:2888:3888",
                "4lw.commands.whitelist=srvr",
            ]
        );
    }
}

//! [`Ensemble`]: a quorum of ZooKeeper servers on 127.0.0.1, each member the real Java 3.8
//! server or zk-server (mixed ensembles allowed), with crash, pause, restart and wipe controls
//! for failover tests and benchmarks.
//!
//! Every member has its own directory under the ensemble's temporary directory: `zoo.cfg`,
//! `data/myid`, and its log (Java: `server.log`, zk-server: `zk-server.log`). All members get
//! the same `zoo.cfg` apart from `dataDir` and `clientPort`:
//!
//! ```text
//! tickTime=2000          (settable)
//! initLimit=10           (settable)
//! syncLimit=5            (settable)
//! dataDir=<member>/data
//! clientPort=<port>
//! clientPortAddress=127.0.0.1
//! admin.enableServer=false  (or, with admin_servers(): true, on 127.0.0.1:<admin port>)
//! 4lw.commands.whitelist=*
//! standaloneEnabled=false
//! server.1=127.0.0.1:<quorum>:<election>;127.0.0.1:<client>
//! ...                    (":observer" after <election> for observers)
//! peerType=observer      (only in an observer's own file)
//! <extra lines given to EnsembleBuilder::cfg; later keys win>
//! ```
//!
//! Members are addressed by index `0..size`; member `i` has `myid` `i + 1`.
//!
//! Dropping the ensemble SIGCONTs paused members and SIGKILLs every member, also when the test
//! panics; a panicking test first gets each member's log tail (and path) on stderr. Set
//! `ZK_INTEROP_KEEP_DIRS=1` to keep the directories.

pub mod clients;
mod member;
mod status;

pub use member::MemberKind;
pub use status::{Mode, ServerStatus};

use crate::rust_process::RustZkServerProcess;
use crate::server::{free_ports, ServerAddr};
use crate::tree_diff::{self, TreeSnapshot};
use crate::{four_letter_word_timeout, Error, JavaZkServer, Result};
use member::{render_config, write_file, Attempt, Member};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default limit for every member to serve and a leader to be elected (JVMs on two busy cores).
pub const ENSEMBLE_START_TIMEOUT: Duration = Duration::from_secs(90);

/// Fresh port sets tried when a port was taken between choosing it and binding it.
const PORT_ATTEMPTS: usize = 3;

/// Limit for one `srvr` probe while polling.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Settings for an [`Ensemble`]; [`start`](Self::start) launches it.
#[derive(Debug, Clone)]
pub struct EnsembleBuilder {
    kinds: Vec<MemberKind>,
    tick_time_ms: u32,
    init_limit: u32,
    sync_limit: u32,
    cfg_lines: Vec<String>,
    jvm_flags: Vec<String>,
    start_timeout: Duration,
    observers: Vec<usize>,
    admin_servers: bool,
}

impl EnsembleBuilder {
    /// An ensemble whose member `i` runs `kinds[i]`.
    pub fn new(kinds: &[MemberKind]) -> EnsembleBuilder {
        assert!(!kinds.is_empty(), "an ensemble has at least one member");
        EnsembleBuilder {
            kinds: kinds.to_vec(),
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            cfg_lines: Vec::new(),
            jvm_flags: Vec::new(),
            start_timeout: ENSEMBLE_START_TIMEOUT,
            observers: Vec::new(),
            admin_servers: false,
        }
    }

    /// Runs every member's AdminServer (HTTP) on a free port of its own on 127.0.0.1 (see
    /// [`Ensemble::admin_addr`]); without this, `admin.enableServer=false`.
    pub fn admin_servers(mut self) -> Self {
        self.admin_servers = true;
        self
    }

    /// `tickTime` in ms (default 2000).
    pub fn tick_time_ms(mut self, tick_time_ms: u32) -> Self {
        self.tick_time_ms = tick_time_ms;
        self
    }

    /// `initLimit` in ticks (default 10).
    pub fn init_limit(mut self, ticks: u32) -> Self {
        self.init_limit = ticks;
        self
    }

    /// `syncLimit` in ticks (default 5).
    pub fn sync_limit(mut self, ticks: u32) -> Self {
        self.sync_limit = ticks;
        self
    }

    /// Appends a `zoo.cfg` line for every member (later keys win, so this overrides a default;
    /// leave `dataDir`, `clientPort` and the `server.N` lines alone).
    pub fn cfg(mut self, line: impl Into<String>) -> Self {
        self.cfg_lines.push(line.into());
        self
    }

    /// Adds a `-D` flag for every member (`-Dzookeeper.forceSync=no`, ...): the JVM's for Java
    /// members, `SERVER_JVMFLAGS` for zk-server ones (read the same way).
    pub fn jvm_flag(mut self, flag: impl Into<String>) -> Self {
        self.jvm_flags.push(flag.into());
        self
    }

    /// Makes the members at these indexes observers: they follow the leader without voting
    /// (`:observer` on their server lines, `peerType=observer` in their own zoo.cfg). The
    /// voters must still be able to form a quorum on their own.
    pub fn observers(mut self, indexes: &[usize]) -> Self {
        assert!(
            indexes.iter().all(|&i| i < self.kinds.len()),
            "an observer index is out of range"
        );
        self.observers = indexes.to_vec();
        self
    }

    /// How long a start (and each [`Ensemble::restart`]) may take; default
    /// [`ENSEMBLE_START_TIMEOUT`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts every member on free ports, waits until each serves and one leads. A port taken
    /// by someone else meanwhile makes it retry with fresh ports.
    pub fn start(self) -> Result<Ensemble> {
        let mut attempt = 1;
        loop {
            match self.try_start() {
                Ok(ensemble) => return Ok(ensemble),
                Err(Attempt::PortTaken(e)) if attempt < PORT_ATTEMPTS => {
                    eprintln!("interop-tests: ensemble start attempt {attempt}: {e}; retrying");
                    attempt += 1;
                }
                Err(Attempt::PortTaken(e) | Attempt::Failed(e)) => return Err(e),
            }
        }
    }

    fn try_start(&self) -> std::result::Result<Ensemble, Attempt> {
        let size = self.kinds.len();
        let per_member = if self.admin_servers { 4 } else { 3 };
        let ports = free_ports(per_member * size).map_err(Attempt::Failed)?;
        let peers: Vec<ServerAddr> = (0..size)
            .map(|i| ServerAddr {
                id: i as u32 + 1,
                client_port: ports[per_member * i],
                quorum_port: ports[per_member * i + 1],
                election_port: ports[per_member * i + 2],
            })
            .collect();
        let admin_ports = (0..size)
            .map(|i| self.admin_servers.then(|| ports[per_member * i + 3]))
            .collect();
        let root = crate::temp_dir("zk-rs-ensemble-").map_err(Attempt::Failed)?;
        let mut ensemble = Ensemble {
            members: Vec::with_capacity(size),
            paused: vec![false; size],
            peers,
            admin_ports,
            start_timeout: self.start_timeout,
            root: Some(root),
        };
        for (i, &kind) in self.kinds.iter().enumerate() {
            let member = ensemble.prepare_member(self, i, kind)?;
            ensemble.members.push(member);
        }
        for member in &mut ensemble.members {
            member.spawn().map_err(Attempt::Failed)?;
        }
        let deadline = Instant::now() + self.start_timeout;
        for member in &mut ensemble.members {
            member.wait_ready(deadline)?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        ensemble.wait_for_leader(left).map_err(Attempt::Failed)?;
        Ok(ensemble)
    }
}

/// A running quorum of ZooKeeper servers (see the module docs); build one with
/// [`Ensemble::builder`] or [`Ensemble::start_java`].
///
/// ```no_run
/// use interop_tests::{Ensemble, MemberKind};
/// let mut ensemble = Ensemble::builder(&[MemberKind::Java; 3]).start()?;
/// let leader = ensemble.wait_for_leader(std::time::Duration::from_secs(30))?;
/// ensemble.kill(leader)?;
/// let next = ensemble.wait_for_leader(std::time::Duration::from_secs(30))?;
/// ensemble.restart(leader)?;
/// # Ok::<(), interop_tests::Error>(())
/// ```
#[derive(Debug)]
pub struct Ensemble {
    /// Declared before `root`: members (and their directories) go first on drop.
    members: Vec<Member>,
    paused: Vec<bool>,
    peers: Vec<ServerAddr>,
    /// Each member's AdminServer port, with [`EnsembleBuilder::admin_servers`].
    admin_ports: Vec<Option<u16>>,
    start_timeout: Duration,
    root: Option<tempfile::TempDir>,
}

impl Ensemble {
    /// A builder for an ensemble whose member `i` runs `kinds[i]`.
    pub fn builder(kinds: &[MemberKind]) -> EnsembleBuilder {
        EnsembleBuilder::new(kinds)
    }

    /// Starts `size` Java members with the default settings.
    pub fn start_java(size: usize) -> Result<Ensemble> {
        EnsembleBuilder::new(&vec![MemberKind::Java; size]).start()
    }

    fn prepare_member(
        &self,
        builder: &EnsembleBuilder,
        i: usize,
        kind: MemberKind,
    ) -> std::result::Result<Member, Attempt> {
        let peer = self.peers[i];
        let parent = self.root_dir();
        match kind {
            MemberKind::Java => {
                let server = JavaZkServer::ensemble_member(
                    parent,
                    peer.id,
                    peer.client_port,
                    &builder.jvm_flags,
                    builder.start_timeout,
                )
                .map_err(Attempt::Failed)?;
                write_file(
                    &server.config_path(),
                    &render_config(
                        builder,
                        &self.peers,
                        &peer,
                        &server.data_dir(),
                        self.admin_ports[i],
                    ),
                )
                .map_err(Attempt::Failed)?;
                Ok(Member::Java(server))
            }
            MemberKind::ZkRs => {
                let dir = parent.join(format!("zk-rs-zk{}", peer.id));
                let data = dir.join("data");
                std::fs::create_dir_all(&data).map_err(|e| {
                    Attempt::Failed(Error::io(format!("creating {}", data.display()), e))
                })?;
                write_file(&data.join("myid"), &format!("{}\n", peer.id))
                    .map_err(Attempt::Failed)?;
                let config = dir.join("zoo.cfg");
                write_file(
                    &config,
                    &render_config(builder, &self.peers, &peer, &data, self.admin_ports[i]),
                )
                .map_err(Attempt::Failed)?;
                let mut server = RustZkServerProcess::prepare(&config, builder.start_timeout)
                    .map_err(Attempt::Failed)?;
                server.set_jvm_flags(&builder.jvm_flags);
                Ok(Member::ZkRs(server))
            }
        }
    }

    fn root_dir(&self) -> &Path {
        self.root
            .as_ref()
            .map(tempfile::TempDir::path)
            .expect("the root lives until drop")
    }

    /// How many members there are.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// What member `i` runs.
    pub fn kind(&self, i: usize) -> MemberKind {
        match self.members[i] {
            Member::Java(_) => MemberKind::Java,
            Member::ZkRs(_) => MemberKind::ZkRs,
        }
    }

    /// Member `i`'s ports (`id` is its `myid`, `i + 1`).
    pub fn peer(&self, i: usize) -> ServerAddr {
        self.peers[i]
    }

    /// Member `i`'s AdminServer (with [`EnsembleBuilder::admin_servers`]).
    pub fn admin_addr(&self, i: usize) -> Option<SocketAddr> {
        self.admin_ports[i].map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Member `i`'s client address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.peers[i].client_port))
    }

    /// The connect string naming every member (`127.0.0.1:p1,127.0.0.1:p2,...`).
    pub fn connect_string(&self) -> String {
        (0..self.size())
            .map(|i| self.addr(i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The ensemble's directory (one subdirectory per member).
    pub fn dir(&self) -> &Path {
        self.root_dir()
    }

    /// Member `i`'s `dataDir`.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.members[i].data_dir()
    }

    /// Member `i`'s log (all its starts appended).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.members[i].log_path()
    }

    /// The last `lines` lines of member `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        crate::process::file_tail(&self.log_path(i), lines)
    }

    /// Member `i`'s process id while it runs (also while paused).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].pid()
    }

    /// Whether member `i` is paused by [`pause`](Self::pause).
    pub fn is_paused(&self, i: usize) -> bool {
        self.paused[i]
    }

    /// Sends a four-letter word to member `i` (2 s limit).
    pub fn four_letter_word(&self, i: usize, word: &str) -> std::io::Result<String> {
        four_letter_word_timeout(self.addr(i), word, PROBE_TIMEOUT)
    }

    /// Member `i`'s `srvr` mode and zxid; `None` when it does not answer or is not serving.
    pub fn status(&self, i: usize) -> Option<ServerStatus> {
        if self.paused[i] || self.pid(i).is_none() {
            return None;
        }
        self.four_letter_word(i, "srvr")
            .ok()
            .and_then(|s| ServerStatus::parse(&s))
    }

    /// Member `i`'s `srvr` mode; `None` when it does not answer or is not serving.
    pub fn mode(&self, i: usize) -> Option<Mode> {
        self.status(i).map(|s| s.mode)
    }

    /// The index of the leader, if exactly one running, unpaused member leads and every other
    /// one follows (or observes).
    pub fn leader(&self) -> Option<usize> {
        let mut leader = None;
        for i in self.live_members() {
            match self.mode(i)? {
                Mode::Leader if leader.is_none() => leader = Some(i),
                Mode::Follower | Mode::Observer => {}
                _ => return None,
            }
        }
        leader
    }

    /// Polls until [`leader`](Self::leader) finds one, then returns its index.
    pub fn wait_for_leader(&self, timeout: Duration) -> Result<usize> {
        self.poll(
            timeout,
            "exactly one leader, every other live member following",
            || self.leader(),
        )
    }

    /// Polls until member `i` follows (or observes) and its zxid equals the leader's, the
    /// state a wiped or lagging member reaches once it has synced (meaningful without writes
    /// going on).
    pub fn wait_synced(&self, i: usize, timeout: Duration) -> Result<ServerStatus> {
        self.poll(
            timeout,
            &format!("member {i} to follow with the leader's zxid"),
            || {
                let leader = self.leader()?;
                let mine = self.status(i)?;
                let theirs = self.status(leader)?;
                (matches!(mine.mode, Mode::Follower | Mode::Observer) && mine.zxid == theirs.zxid)
                    .then_some(mine)
            },
        )
    }

    fn poll<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut() -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = f() {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                let modes: Vec<String> = (0..self.size())
                    .map(|i| format!("{i}: {}", self.describe(i)))
                    .collect();
                return Err(Error::Timeout {
                    what: format!(
                        "{what} (members: {}; logs under {})",
                        modes.join(", "),
                        self.dir().display()
                    ),
                    after_ms: timeout.as_millis(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// A member's state in words, for messages.
    fn describe(&self, i: usize) -> String {
        if self.pid(i).is_none() {
            return "killed".to_owned();
        }
        if self.paused[i] {
            return "paused".to_owned();
        }
        match self.status(i) {
            Some(s) => format!("{:?} zxid 0x{:x}", s.mode, s.zxid),
            None => "not serving".to_owned(),
        }
    }

    fn live_members(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.size()).filter(|&i| !self.paused[i] && self.pid(i).is_some())
    }

    /// SIGKILLs member `i` (a crash: nothing is flushed) and reaps it; its directory stays.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        if self.paused[i] {
            self.resume(i)?;
        }
        self.members[i].kill()
    }

    /// SIGSTOPs member `i`: its sockets stay open but it answers nothing (a hung server).
    /// Returns once the kernel reports the process stopped (a signal is delivered
    /// asynchronously: until then the member may still answer).
    pub fn pause(&mut self, i: usize) -> Result<()> {
        self.signal(i, "STOP")?;
        self.paused[i] = true;
        if let Some(pid) = self.pid(i) {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !process_is_stopped(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// SIGCONTs member `i` after [`pause`](Self::pause).
    pub fn resume(&mut self, i: usize) -> Result<()> {
        self.signal(i, "CONT")?;
        self.paused[i] = false;
        Ok(())
    }

    fn signal(&self, i: usize, signal: &str) -> Result<()> {
        let pid = self.pid(i).ok_or_else(|| {
            Error::io(
                format!("sending SIG{signal} to member {i}"),
                std::io::Error::other("the member is not running"),
            )
        })?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| Error::io(format!("running kill -{signal} {pid}"), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::io(
                format!("kill -{signal} {pid}"),
                std::io::Error::other(status.to_string()),
            ))
        }
    }

    /// Kills member `i` if it runs, starts it again on the same ports and data directory, and
    /// waits until it serves (for Java: until it has joined the quorum and synced).
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i)?;
        self.members[i].restart()
    }

    /// Kills member `i`, empties its data directory except `myid` (it lost its disk), and
    /// restarts it: it must fetch everything from the leader (a SNAP sync).
    pub fn wipe_and_restart(&mut self, i: usize) -> Result<()> {
        self.kill(i)?;
        self.wipe(i)?;
        self.members[i].restart()
    }

    /// Empties stopped member `i`'s data directory except `myid`.
    fn wipe(&self, i: usize) -> Result<()> {
        let data = self.data_dir(i);
        let entries = std::fs::read_dir(&data)
            .map_err(|e| Error::io(format!("reading {}", data.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("reading {}", data.display()), e))?;
            if entry.file_name() == "myid" {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
        Ok(())
    }

    /// Reads every node (data, Stat, ACL) through a separate session on each running, unpaused
    /// member, after a `sync`, and returns the differences between members (empty when every
    /// member has the same tree). Meaningful when no writes are going on.
    pub async fn tree_differences(&self) -> Result<Vec<String>> {
        let mut snapshots: Vec<(String, TreeSnapshot)> = Vec::new();
        let live: Vec<usize> = self.live_members().collect();
        for i in live {
            let name = format!("member {i} ({})", self.kind(i).name());
            let snapshot = tree_diff::snapshot(&self.addr(i).to_string(), self.start_timeout)
                .await
                .map_err(|e| Error::io(format!("reading the tree of {name}"), e))?;
            snapshots.push((name, snapshot));
        }
        Ok(tree_diff::differences(&snapshots))
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            if self.paused[i] {
                let _ = self.resume(i);
            }
        }
        if std::thread::panicking() {
            eprintln!("--- ensemble directory: {} ---", self.root_dir().display());
            for i in 0..self.members.len() {
                eprintln!(
                    "member {i} ({}): log {}",
                    self.kind(i).name(),
                    self.log_path(i).display()
                );
            }
        }
        // Each member prints its log tail when panicking, then is SIGKILLed.
        self.members.clear();
        if let Some(root) = self.root.take() {
            crate::finish_temp_dir(root);
        }
    }
}

/// Whether every thread of the process is stopped (state `T` in `/proc/<pid>/task/*/stat`:
/// a group stop completes thread by thread). The state follows the command name, which is in
/// parentheses and may hold spaces.
fn process_is_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.flatten() {
        let stopped = std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let after = stat.rfind(')')?;
                stat[after + 1..]
                    .split_whitespace()
                    .next()
                    .map(|s| s == "T")
            })
            .unwrap_or(true); // a thread that just exited is not running either
        if !stopped {
            return false;
        }
        any = true;
    }
    any
}

//! The election port (Java's `QuorumCnxManager` plus the thread that runs
//! `FastLeaderElection`), as tokio tasks around the sans-IO [`Election`] core.
//!
//! - A listener per election address accepts connections. Each one's initial message is read
//!   within the socket timeout and judged by [`cnx::accept`]: a lower sid is closed and dialled
//!   back, a higher sid is kept, anything malformed is closed with a warning.
//! - A dial sends [`cnx::initial_message`] and keeps the socket only if [`cnx::keeps_initiated`].
//! - Each live connection runs one reader (length-prefixed frames holding notifications) and one
//!   writer fed by the peer's one-slot [`cnx::PeerOutbox`], which outlives connections.
//! - One service task owns the [`Election`] core: it feeds it notifications, connection changes
//!   and timer ticks, answers the server's commands ([`ElectionHandle`]), and carries out the
//!   core's actions. It keeps running while the server leads or follows, so LOOKING peers keep
//!   getting answers.

mod conn;
mod service;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use zk_proto::quorum::ServerState;

use super::Background;
use crate::config::PeerType;
use crate::quorum::config::QuorumConfig;
use crate::quorum::election::{
    Decision, Election, ElectionTiming, MajorityQuorum, Vote, MIN_NOTIFICATION_INTERVAL_MS,
};
use crate::quorum::verifier::{QuorumMaj, ServerAddress};

/// Java's default connect timeout of election connections (`zookeeper.cnxTimeout`).
pub const DEFAULT_CNX_TIMEOUT_MS: u64 = 5000;

/// What the election port needs to know.
#[derive(Debug, Clone)]
pub struct ElectionNetConfig {
    /// My sid (`myid`).
    pub my_id: i64,
    /// Participant or observer.
    pub peer_type: PeerType,
    /// The members: their election addresses, who votes, and the config text that travels in
    /// every notification (`QuorumVerifier.toString()`).
    pub verifier: QuorumMaj,
    /// `quorumListenOnAllIPs`: bind the election port on 0.0.0.0 instead of my address.
    pub listen_on_all_ips: bool,
    /// `multiAddress.enabled`: send protocol V2 initial messages with every address.
    pub multi_address: bool,
    /// `zookeeper.cnxTimeout`: how long a dial may take.
    pub cnx_timeout_ms: u64,
    /// How long an accepted connection may take to send its initial message. Java reads it
    /// under the election sockets' read timeout, `zookeeper.quorumCnxnTimeoutMs` or else
    /// `tickTime × syncLimit`.
    pub socket_timeout_ms: u64,
    /// The election's timers.
    pub timing: ElectionTiming,
}

impl ElectionNetConfig {
    /// Java's defaults for server `my_id` of `verifier`; the socket timeout defaults to the
    /// connect timeout (tests; [`ElectionNetConfig::from_quorum_config`] uses Java's).
    pub fn new(my_id: i64, verifier: QuorumMaj) -> Self {
        let peer_type = verifier
            .member(my_id)
            .map_or(PeerType::Participant, |m| m.peer_type);
        ElectionNetConfig {
            my_id,
            peer_type,
            verifier,
            listen_on_all_ips: false,
            multi_address: false,
            cnx_timeout_ms: DEFAULT_CNX_TIMEOUT_MS,
            socket_timeout_ms: DEFAULT_CNX_TIMEOUT_MS,
            timing: ElectionTiming::default(),
        }
    }

    /// The settings of a parsed zoo.cfg; `None` when it names no `myid`.
    pub fn from_quorum_config(q: &QuorumConfig) -> Option<Self> {
        let mut cfg = ElectionNetConfig::new(q.my_id?, q.verifier.clone());
        cfg.peer_type = q.peer_type;
        cfg.listen_on_all_ips = q.quorum_listen_on_all_ips;
        cfg.multi_address = q.multi_address_enabled;
        cfg.cnx_timeout_ms = u64::from(q.cnx_timeout_ms);
        cfg.socket_timeout_ms = q.sync_limit_ms().max(MIN_NOTIFICATION_INTERVAL_MS);
        Some(cfg)
    }

    /// Server `sid`'s election addresses as `host:port` (IPv6 hosts in brackets, as Java's
    /// `NetUtils.formatInetAddr` writes them).
    pub fn election_addresses(&self, sid: i64) -> Vec<String> {
        self.verifier
            .member(sid)
            .map(|m| m.addresses.iter().map(election_address).collect())
            .unwrap_or_default()
    }

    /// Where my listeners bind: my election addresses, or the wildcard on their ports.
    fn listen_addresses(&self) -> Vec<(String, u16)> {
        let mine = self
            .verifier
            .member(self.my_id)
            .map(|m| m.addresses.clone())
            .unwrap_or_default();
        let mut out: Vec<(String, u16)> = mine
            .iter()
            .map(|a| {
                let host = if self.listen_on_all_ips {
                    "0.0.0.0".to_owned()
                } else {
                    a.host.clone()
                };
                (host, a.election_port)
            })
            .collect();
        out.dedup();
        out
    }

    /// The election core for this config.
    fn election(&self) -> Election {
        let voters = self.verifier.voting_members().map(|m| m.id);
        Election::new(
            self.my_id,
            self.peer_type,
            Box::new(MajorityQuorum::new(voters)),
            self.verifier.to_config_text(),
            self.timing,
        )
    }
}

fn election_address(a: &ServerAddress) -> String {
    if a.host.contains(':') {
        format!("[{}]:{}", a.host, a.election_port)
    } else {
        format!("{}:{}", a.host, a.election_port)
    }
}

/// Binds my election address(es) (Java's `Listener`). Fails if I am not in the config.
pub async fn bind(cfg: &ElectionNetConfig) -> io::Result<Vec<TcpListener>> {
    let addresses = cfg.listen_addresses();
    if addresses.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("server {} has no election address", cfg.my_id),
        ));
    }
    let mut listeners = Vec::with_capacity(addresses.len());
    for (host, port) in addresses {
        listeners.push(TcpListener::bind((host.as_str(), port)).await?);
    }
    Ok(listeners)
}

/// Why [`ElectionHandle::look_for_leader`] returned without a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookError {
    /// The service stopped.
    #[error("the election service stopped")]
    Stopped,
    /// A later call replaced this one.
    #[error("a later look_for_leader call replaced this one")]
    Superseded,
    /// A peer sent a config with a higher version while I was looking: Java reconfigures and
    /// restarts the election (`processReconfig`). The round goes on in the core; the caller
    /// decides whether to wait again or to restart with the new config.
    #[error("server {from} sent a newer config")]
    NewerConfig {
        /// The sender.
        from: i64,
        /// Its config text.
        config: Bytes,
    },
}

/// A snapshot of the election's state, for the server's status and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionStatus {
    /// LOOKING until a round decides, then the decided state.
    pub state: ServerState,
    /// The last round's result (`QuorumPeer.getCurrentVote`).
    pub current_vote: Option<Vote>,
    /// The round (`logicalclock`).
    pub logical_clock: i64,
    /// Peers with a live election connection.
    pub connected: Vec<i64>,
}

/// What the server asks of the service.
#[derive(Debug)]
enum Command {
    Look {
        last_logged_zxid: i64,
        current_epoch: i64,
        reply: oneshot::Sender<Result<Decision, LookError>>,
    },
    UpdateVote(i64),
    Status(oneshot::Sender<ElectionStatus>),
}

/// The server's side of a running election service; cheap to clone.
#[derive(Debug, Clone)]
pub struct ElectionHandle {
    commands: mpsc::UnboundedSender<Command>,
    cancel: CancellationToken,
    local_addrs: Arc<[SocketAddr]>,
}

impl ElectionHandle {
    /// Starts a round (`lookForLeader`) with my database's last zxid and my current epoch,
    /// and waits for its decision. Run ZAB in the decided state, then call this again.
    pub async fn look_for_leader(
        &self,
        last_logged_zxid: i64,
        current_epoch: i64,
    ) -> Result<Decision, LookError> {
        let (reply, decided) = oneshot::channel();
        let command = Command::Look {
            last_logged_zxid,
            current_epoch,
            reply,
        };
        self.commands
            .send(command)
            .map_err(|_| LookError::Stopped)?;
        decided.await.unwrap_or(Err(LookError::Stopped))
    }

    /// `QuorumPeer.updateElectionVote`: ZAB settled `epoch`; peers that ask now hear it.
    pub fn update_election_vote(&self, epoch: i64) {
        let _ = self.commands.send(Command::UpdateVote(epoch));
    }

    /// The election's state; `None` once the service stopped.
    pub async fn status(&self) -> Option<ElectionStatus> {
        let (reply, status) = oneshot::channel();
        self.commands.send(Command::Status(reply)).ok()?;
        status.await.ok()
    }

    /// The addresses the listeners are bound to.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Stops the service: listeners and connections close, a pending look fails with
    /// [`LookError::Stopped`].
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// A running election port; dropping it shuts the service down.
#[derive(Debug)]
pub struct ElectionService {
    handle: ElectionHandle,
    task: Background,
}

impl ElectionService {
    /// Binds my election address(es) and starts serving.
    pub async fn start(cfg: ElectionNetConfig) -> io::Result<ElectionService> {
        let listeners = bind(&cfg).await?;
        Ok(ElectionService::spawn(cfg, listeners))
    }

    /// Starts serving on listeners the caller bound (tests bind port 0 first).
    pub fn spawn(cfg: ElectionNetConfig, listeners: Vec<TcpListener>) -> ElectionService {
        let cancel = CancellationToken::new();
        let local_addrs: Arc<[SocketAddr]> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let run = service::run(cfg, listeners, command_rx, cancel.clone());
        ElectionService {
            handle: ElectionHandle {
                commands,
                cancel: cancel.clone(),
                local_addrs,
            },
            task: Background::spawn(cancel, run),
        }
    }

    /// A handle for the server.
    pub fn handle(&self) -> ElectionHandle {
        self.handle.clone()
    }

    /// Shuts down and waits until every socket of the service is closed.
    pub async fn stop(self) {
        self.task.stop().await;
    }
}

//! `conf`: Java's `ZooKeeperServer.dumpConf` (and `QuorumZooKeeperServer`'s additions), with
//! the configuration it prints ([`ConfInfo`], [`QuorumConf`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::AdminSnapshot;
use crate::config::PeerType;

/// The configuration `conf` prints (Java's `ZooKeeperServer.dumpConf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfInfo {
    /// The bound client port, -1 if none.
    pub client_port: i32,
    /// The bound TLS client port, -1 if none.
    pub secure_client_port: i32,
    /// The snapshot directory, absolute, including `version-2` (as Java's `snapLog.getSnapDir()`).
    pub data_dir: PathBuf,
    /// The transaction log directory, absolute, including `version-2`.
    pub data_log_dir: PathBuf,
    /// `tickTime` in ms.
    pub tick_time_ms: i32,
    /// `maxClientCnxns` per client host.
    pub max_client_cnxns: i32,
    /// The effective minimum session timeout, ms.
    pub min_session_timeout_ms: i32,
    /// The effective maximum session timeout, ms.
    pub max_session_timeout_ms: i32,
    /// `clientPortListenBacklog`, -1 for the OS default.
    pub client_port_listen_backlog: i32,
    /// `myid`, 0 standalone.
    pub server_id: i64,
    /// What ensemble members print after those.
    pub quorum: Option<QuorumConf>,
}

impl Default for ConfInfo {
    fn default() -> Self {
        ConfInfo {
            client_port: -1,
            secure_client_port: -1,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            tick_time_ms: 3000,
            max_client_cnxns: 60,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 60000,
            client_port_listen_backlog: -1,
            server_id: 0,
            quorum: None,
        }
    }
}

/// The ensemble part of `conf` (Java's `QuorumZooKeeperServer.dumpConf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConf {
    /// `initLimit` in ticks.
    pub init_limit: i32,
    /// `syncLimit` in ticks.
    pub sync_limit: i32,
    /// `electionAlg` (3, the only one left).
    pub election_alg: i32,
    /// This server's election ports (printed joined by `|`).
    pub election_ports: Vec<u16>,
    /// This server's quorum ports (printed joined by `|`).
    pub quorum_ports: Vec<u16>,
    /// Participant (0) or observer (1).
    pub peer_type: PeerType,
    /// The membership as the dynamic config prints it (`server.1=...` lines then
    /// `version=<hex>`, no final newline), printed after a `membership: ` line. `None` for a
    /// read-only server, which prints no membership.
    pub membership: Option<String>,
}

/// `conf`: `ZooKeeperServer.dumpConf` and the quorum additions.
pub(super) fn conf(out: &mut String, s: &AdminSnapshot) {
    let c = &s.conf;
    let _ = writeln!(out, "clientPort={}", c.client_port);
    let _ = writeln!(out, "secureClientPort={}", c.secure_client_port);
    let _ = writeln!(out, "dataDir={}", c.data_dir.display());
    let _ = writeln!(out, "dataDirSize={}", s.data_dir_size);
    let _ = writeln!(out, "dataLogDir={}", c.data_log_dir.display());
    let _ = writeln!(out, "dataLogSize={}", s.log_dir_size);
    let _ = writeln!(out, "tickTime={}", c.tick_time_ms);
    let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
    let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout_ms);
    let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout_ms);
    let _ = writeln!(
        out,
        "clientPortListenBacklog={}",
        c.client_port_listen_backlog
    );
    let _ = writeln!(out, "serverId={}", c.server_id);
    if let Some(q) = &c.quorum {
        let ports = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join("|")
        };
        let _ = writeln!(out, "initLimit={}", q.init_limit);
        let _ = writeln!(out, "syncLimit={}", q.sync_limit);
        let _ = writeln!(out, "electionAlg={}", q.election_alg);
        let _ = writeln!(out, "electionPort={}", ports(&q.election_ports));
        let _ = writeln!(out, "quorumPort={}", ports(&q.quorum_ports));
        let peer_type = match q.peer_type {
            PeerType::Participant => 0,
            PeerType::Observer => 1,
        };
        let _ = writeln!(out, "peerType={peer_type}");
        if let Some(membership) = &q.membership {
            out.push_str("membership: \n");
            out.push_str(membership);
        }
    }
}

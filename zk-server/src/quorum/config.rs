//! The ensemble part of the configuration, as Java 3.8's `QuorumPeerConfig` reads and writes
//! it, so one zoo.cfg, dynamic file and data dir serve both servers.
//!
//! Two layouts hold the `server.N` lines:
//!
//! * **static** (backward compatible): in zoo.cfg itself. With `reconfigEnabled=true` on an
//!   ensemble, Java first copies zoo.cfg to `zoo.cfg.bak`; once the first leader commits the
//!   config (version = that leader's first zxid, e.g. `100000000`) every member writes
//!   `zoo.cfg.dynamic.100000000` and rewrites zoo.cfg without its server lines (and without
//!   comments, in `Properties` order), ending with `dynamicConfigFile=<canonical path>`.
//! * **dynamic**: zoo.cfg names `dynamicConfigFile`; that file holds only `server.N` lines and
//!   its name ends in the config version in hex. A `zoo.cfg.dynamic.next` beside zoo.cfg is a
//!   proposed config not yet committed.
//!
//! Parsing is over texts ([`QuorumConfig::from_texts`]); [`QuorumConfig::load`] and the
//! `write_*` functions are the thin file edges.

use super::epoch::{first_line, write_atomically};
use super::java_order::properties_order;
use super::verifier::{is_hierarchical_key, java_host_string};
pub use super::verifier::{ClientAddress, QuorumMaj, QuorumServer, ServerAddress};
use crate::config::{read_properties, Config, ConfigError, PeerType};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The file in `dataDir` holding this server's id.
pub const MYID_FILENAME: &str = "myid";
/// Suffix (after the zoo.cfg path) of a proposed, uncommitted dynamic config.
pub const NEXT_DYNAMIC_CONFIG_SUFFIX: &str = ".dynamic.next";
/// The only leader election algorithm 3.8 has (fast leader election).
pub const ELECTION_ALG: u32 = 3;
/// `zookeeper.cnxTimeout`'s default: election connect timeout.
pub const DEFAULT_CNX_TIMEOUT_MS: u32 = 5000;

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The texts of the files one configuration is read from.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigTexts<'a> {
    /// zoo.cfg.
    pub zoo_cfg: &'a str,
    /// The file `dynamicConfigFile` names (required when zoo.cfg names one).
    pub dynamic: Option<&'a str>,
    /// `<zoo.cfg>.dynamic.next`, if it exists (read only with a dynamic file, as Java).
    pub dynamic_next: Option<&'a str>,
    /// `<dataDir>/myid`, if it is a file.
    pub myid: Option<&'a str>,
}

/// The ensemble configuration of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// This server's id (`myid`); `None` when the file is missing (fine standalone).
    pub my_id: Option<i64>,
    /// The committed members and their version.
    pub verifier: QuorumMaj,
    /// A proposed config (`zoo.cfg.dynamic.next`), newer than `verifier`, not committed yet.
    pub last_seen_verifier: Option<QuorumMaj>,
    /// This server's role: from its server line (it wins over `peerType`).
    pub peer_type: PeerType,
    /// `electionAlg`: always 3.
    pub election_alg: u32,
    /// `zookeeper.cnxTimeout` (zoo.cfg `cnxTimeout`): election connect timeout.
    pub cnx_timeout_ms: u32,
    /// `quorumListenOnAllIPs`.
    pub quorum_listen_on_all_ips: bool,
    /// Whether an observer logs and snapshots (`syncEnabled`, overridden by the
    /// `zookeeper.observer.syncEnabled` property).
    pub sync_enabled: bool,
    /// `tickTime` in ms.
    pub tick_time_ms: u32,
    /// `initLimit` in ticks.
    pub init_limit: u32,
    /// `syncLimit` in ticks.
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit` in ticks (0: use `initLimit`).
    pub connect_to_learner_master_limit: u32,
    /// `standaloneEnabled`.
    pub standalone_enabled: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `zookeeper.multiAddress.enabled`: several addresses per server line.
    pub multi_address_enabled: bool,
    /// Where this server serves clients: its server line's client part, else zoo.cfg's.
    pub client_address: Option<ClientAddress>,
    /// The server lines were in zoo.cfg (no `dynamicConfigFile`).
    pub static_layout: bool,
}

/// `QuorumPeerConfig.getVersionFromFilename`: the hex after the last `.` of the name.
pub fn version_from_filename(name: &str) -> Option<i64> {
    let (_, suffix) = name.rsplit_once('.')?;
    i64::from_str_radix(suffix, 16).ok()
}

/// `<zoo.cfg>.dynamic.<hex version>`, the name Java gives a committed dynamic file.
pub fn dynamic_config_filename(config_file: &Path, version: i64) -> PathBuf {
    let mut name = config_file.as_os_str().to_owned();
    name.push(format!(".dynamic.{version:x}"));
    PathBuf::from(name)
}

/// `<zoo.cfg>.dynamic.next`.
pub fn next_dynamic_config_filename(config_file: &Path) -> PathBuf {
    let mut name = config_file.as_os_str().to_owned();
    name.push(NEXT_DYNAMIC_CONFIG_SUFFIX);
    PathBuf::from(name)
}

/// Parses a `myid` file as Java's `setupMyId`: the first line, untrimmed, as a long.
pub fn parse_myid(text: &str) -> Result<i64, ConfigError> {
    let line = first_line(text);
    line.and_then(|l| l.parse().ok()).ok_or_else(|| {
        bad(
            MYID_FILENAME,
            format!("serverid {} is not a number", line.unwrap_or("null")),
        )
    })
}

/// Java's checks on a member list (`parseDynamicConfig`).
fn check_members(qv: &QuorumMaj, standalone_enabled: bool) -> Result<(), ConfigError> {
    let voting = qv.voting_members().count();
    let observers = qv.observing_members().count();
    let message = match voting {
        0 if !standalone_enabled => {
            "standaloneEnabled = false then number of participants should be >0"
        }
        0 if observers > 0 => "Observers w/o participants is an invalid configuration",
        1 if standalone_enabled && observers > 0 => {
            "Observers w/o quorum is an invalid configuration"
        }
        _ => return Ok(()),
    };
    Err(bad("", message))
}

/// zoo.cfg's client address: `clientPort` (0 is unset, as in Java) on `clientPortAddress`
/// or all addresses.
fn static_client_address(cfg: &Config) -> Option<ClientAddress> {
    let port = cfg.client_port.filter(|&p| p != 0)?;
    let host = cfg
        .client_port_address
        .as_deref()
        .map_or_else(|| "0.0.0.0".to_owned(), java_host_string);
    Some(ClientAddress { host, port })
}

impl QuorumConfig {
    /// Reads the ensemble configuration from the file texts; `cfg` is zoo.cfg already parsed
    /// (with the `SERVER_JVMFLAGS` properties). Errors carry Java's messages.
    pub fn from_texts(cfg: &Config, texts: &ConfigTexts<'_>) -> Result<QuorumConfig, ConfigError> {
        let multi_address_enabled = cfg
            .property("zookeeper.multiAddress.enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let (mut verifier, last_seen_verifier) = match &cfg.dynamic_config_file {
            None => {
                let entries = properties_order(read_properties(texts.zoo_cfg));
                if let Some((key, _)) = entries.iter().find(|(k, _)| is_hierarchical_key(k)) {
                    return Err(bad(
                        key,
                        "hierarchical quorums (group/weight) are not supported",
                    ));
                }
                (
                    QuorumMaj::from_entries(&entries, multi_address_enabled)?,
                    None,
                )
            }
            Some(path) => {
                let name = path.to_string_lossy();
                let text = texts
                    .dynamic
                    .ok_or_else(|| bad("dynamicConfigFile", format!("Error processing {name}")))?;
                let verifier = parse_dynamic_file(&name, text, multi_address_enabled)?;
                let next = texts
                    .dynamic_next
                    .map(|t| {
                        let entries = properties_order(read_properties(t));
                        QuorumMaj::from_entries(&entries, multi_address_enabled)
                    })
                    .transpose()?;
                (verifier, next)
            }
        };
        check_members(&verifier, cfg.standalone_enabled)?;
        let my_id = texts.myid.map(parse_myid).transpose()?;

        // setupClientPort: the server line's client address wins, and must agree with zoo.cfg's.
        let static_client = static_client_address(cfg);
        let mut client_address = static_client.clone();
        if let Some(me) = my_id.and_then(|id| verifier.member_mut(id)) {
            match (&static_client, &me.client_address) {
                (Some(s), Some(line))
                    if (!s.is_any_local() && s != line)
                        || (s.is_any_local() && s.port != line.port) =>
                {
                    return Err(bad("clientPort", format!(
                        "client address for this server (id = {}) in static config file is /{}:{} is different from client address found in dynamic file: /{}:{}",
                        me.id, s.host, s.port, line.host, line.port
                    )));
                }
                (_, Some(line)) => client_address = Some(line.clone()),
                (_, None) => {
                    me.client_address = static_client.clone();
                    me.client_address_from_static = true;
                }
            }
        }
        // setupPeerType: the server list decides, whatever peerType says.
        let peer_type = match my_id.and_then(|id| verifier.member(id)) {
            Some(m) if m.peer_type == PeerType::Observer => PeerType::Observer,
            _ => PeerType::Participant,
        };
        if peer_type != cfg.peer_type {
            tracing::warn!(?peer_type, configured = ?cfg.peer_type, "peerType does not match the servers list; the servers list wins");
        }
        let cnx_timeout_ms = match cfg.property("zookeeper.cnxTimeout") {
            None => DEFAULT_CNX_TIMEOUT_MS,
            Some(v) => v
                .parse()
                .map_err(|_| bad("cnxTimeout", format!("{v:?} is not a valid number")))?,
        };
        let sync_enabled = match cfg.property("zookeeper.observer.syncEnabled") {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => cfg.sync_enabled,
        };
        let config = QuorumConfig {
            my_id,
            verifier,
            last_seen_verifier,
            peer_type,
            election_alg: ELECTION_ALG,
            cnx_timeout_ms,
            quorum_listen_on_all_ips: cfg.quorum_listen_on_all_ips,
            sync_enabled,
            tick_time_ms: cfg.tick_time_ms,
            init_limit: cfg.init_limit,
            sync_limit: cfg.sync_limit,
            connect_to_learner_master_limit: cfg.connect_to_learner_master_limit,
            standalone_enabled: cfg.standalone_enabled,
            reconfig_enabled: cfg.reconfig_enabled,
            multi_address_enabled,
            client_address,
            static_layout: cfg.dynamic_config_file.is_none(),
        };
        // checkValidity.
        if config.is_distributed() {
            if config.init_limit == 0 {
                return Err(bad("initLimit", "initLimit is not set"));
            }
            if config.sync_limit == 0 {
                return Err(bad("syncLimit", "syncLimit is not set"));
            }
            if config.my_id.is_none() {
                return Err(bad(MYID_FILENAME, "myid file is missing"));
            }
        }
        Ok(config)
    }

    /// Reads zoo.cfg at `config_file` (already parsed as `cfg`), its dynamic files and
    /// `dataDir/myid`, as Java's `QuorumPeerConfig.parse`; like Java, an ensemble in the
    /// static layout with reconfig on first gets its zoo.cfg copied to `<zoo.cfg>.bak`.
    pub fn load(config_file: &Path, cfg: &Config) -> Result<QuorumConfig, ConfigError> {
        let read = |path: &Path| {
            fs::read_to_string(path)
                .map_err(|e| bad("", format!("Error processing {}: {e}", path.display())))
        };
        let zoo_cfg = read(config_file)?;
        let dynamic = cfg.dynamic_config_file.as_deref().map(read).transpose()?;
        let next_path = next_dynamic_config_filename(config_file);
        let dynamic_next = match &dynamic {
            Some(_) if next_path.is_file() => Some(read(&next_path)?),
            _ => None,
        };
        let myid_path = cfg.data_dir.join(MYID_FILENAME);
        let myid = if myid_path.is_file() {
            Some(read(&myid_path)?)
        } else {
            None
        };
        let texts = ConfigTexts {
            zoo_cfg: &zoo_cfg,
            dynamic: dynamic.as_deref(),
            dynamic_next: dynamic_next.as_deref(),
            myid: myid.as_deref(),
        };
        let config = QuorumConfig::from_texts(cfg, &texts)?;
        if config.static_layout && config.is_distributed() && config.reconfig_enabled {
            let mut bak = config_file.as_os_str().to_owned();
            bak.push(".bak");
            write_atomically(Path::new(&bak), zoo_cfg.as_bytes())
                .map_err(|e| bad("", format!("writing {}: {e}", Path::new(&bak).display())))?;
        }
        Ok(config)
    }

    /// Whether this server runs as an ensemble member (Java's `isDistributed`, which
    /// `QuorumPeerMain` asks): with `standaloneEnabled=false` always, else with more than one
    /// participant. No servers, or one participant, run standalone.
    pub fn is_distributed(&self) -> bool {
        !self.standalone_enabled || self.verifier.voting_members().count() > 1
    }

    /// This server's own entry.
    pub fn me(&self) -> Option<&QuorumServer> {
        self.verifier.member(self.my_id?)
    }

    /// How long a follower may take to connect and sync: `initLimit × tickTime`.
    pub fn init_limit_ms(&self) -> u64 {
        u64::from(self.init_limit) * u64::from(self.tick_time_ms)
    }

    /// How far a follower may lag: `syncLimit × tickTime`.
    pub fn sync_limit_ms(&self) -> u64 {
        u64::from(self.sync_limit) * u64::from(self.tick_time_ms)
    }

    /// The timeout of connecting to the leader: `connectToLearnerMasterLimit × tickTime`
    /// when set, else [`QuorumConfig::init_limit_ms`].
    pub fn connect_to_leader_timeout_ms(&self) -> u64 {
        match self.connect_to_learner_master_limit {
            0 => self.init_limit_ms(),
            limit => u64::from(limit) * u64::from(self.tick_time_ms),
        }
    }

    /// Whether committing a new config must drop `clientPort`/`clientPortAddress` from zoo.cfg
    /// (`needEraseClientInfoFromStaticConfig`): this server's client address came from its
    /// server line.
    pub fn erase_client_port_from_static(&self) -> bool {
        self.me()
            .is_some_and(|m| m.client_address.is_some() && !m.client_address_from_static)
    }
}

/// Parses a dynamic config file named `name`: only `server.N` lines; the version comes from
/// the name (0 without one), never from the text.
pub fn parse_dynamic_file(
    name: &str,
    text: &str,
    multi_address_enabled: bool,
) -> Result<QuorumMaj, ConfigError> {
    let mut entries = read_properties(text);
    if entries.iter().any(|(k, _)| k == "version") {
        return Err(bad("version", "dynamic file shouldn't have version inside"));
    }
    if let Some(version) = version_from_filename(name) {
        entries.push(("version".to_owned(), format!("{version:x}")));
    }
    let text: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    QuorumMaj::from_text(&text, multi_address_enabled)
}

/// zoo.cfg as `QuorumPeerConfig.editStaticConfig` rewrites it when a config is committed:
/// every `key=value` in `Properties` order (comments gone) except server, group, weight,
/// `dynamicConfigFile` and `peerType` keys (and, when `erase_client_port`, every key starting
/// with `clientPort`), then `dynamicConfigFile=<dynamic_file>`.
pub fn edit_static_config(zoo_cfg: &str, dynamic_file: &str, erase_client_port: bool) -> String {
    let mut out = String::new();
    for (key, value) in properties_order(read_properties(zoo_cfg)) {
        let dropped = [
            "server.",
            "group",
            "weight",
            "dynamicConfigFile",
            "peerType",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || (erase_client_port && key.starts_with("clientPort"));
        if !dropped {
            out.push_str(&format!("{key}={value}\n"));
        }
    }
    out.push_str(&format!("dynamicConfigFile={dynamic_file}\n"));
    out
}

/// Writes `qv` to `path` as a dynamic file (atomically); `keep_version` for
/// `zoo.cfg.dynamic.next`.
pub fn write_dynamic_config(path: &Path, qv: &QuorumMaj, keep_version: bool) -> io::Result<()> {
    write_atomically(path, qv.dynamic_file_text(keep_version).as_bytes())
}

/// Commits `qv` to disk as Java's `QuorumPeer.setQuorumVerifier(qv, true)`: writes
/// `<zoo.cfg>.dynamic.<version>`, points zoo.cfg at it (rewritten, see
/// [`edit_static_config`]) and removes `<zoo.cfg>.dynamic.next` when `qv` is the newest
/// config seen. Returns the dynamic file's path.
pub fn write_committed_config(
    config_file: &Path,
    qv: &QuorumMaj,
    erase_client_port: bool,
    is_last_seen: bool,
) -> io::Result<PathBuf> {
    let dynamic = dynamic_config_filename(config_file, qv.version);
    write_dynamic_config(&dynamic, qv, false)?;
    let canonical = fs::canonicalize(&dynamic)?;
    let zoo_cfg = fs::read_to_string(config_file)?;
    let edited = edit_static_config(&zoo_cfg, &canonical.to_string_lossy(), erase_client_port);
    write_atomically(config_file, edited.as_bytes())?;
    if is_last_seen {
        match fs::remove_file(next_dynamic_config_filename(config_file)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(error = %e, "removing the next dynamic config file failed")
            }
            _ => {}
        }
    }
    Ok(dynamic)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

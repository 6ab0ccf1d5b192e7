//! `zoo.cfg`, read as Java's `QuorumPeerConfig` reads it, so one file serves both servers.
//!
//! Known keys become typed settings with Java's defaults. Like Java, every other key `k` becomes
//! the system property `zookeeper.k` (so `extendedTypesEnabled=true` or `snapCount=1000` in
//! zoo.cfg work), and `-Dname=value` flags from `SERVER_JVMFLAGS` (what `zkServer.sh` hands
//! Java) are properties too. Settings the server reads from properties have typed accessors
//! that use Java's property names and defaults.
//!
//! ```
//! use zk_server::config::Config;
//! let cfg = Config::parse("tickTime=2000\ndataDir=/var/zk\nclientPort=2181\nsnapCount=500\n", "").unwrap();
//! assert_eq!(cfg.tick_time_ms, 2000);
//! assert_eq!(cfg.min_session_timeout_ms(), 4000);
//! assert_eq!(cfg.snap_count(), 500);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Why a configuration was refused; names the key, as startup must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending key (empty for file-level problems).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The role of an ensemble member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerType {
    /// Votes and may lead.
    Participant,
    /// Follows without voting.
    Observer,
}

/// One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Host of the quorum and election ports.
    pub host: String,
    /// Port followers connect to the leader on.
    pub quorum_port: u16,
    /// Port for leader election.
    pub election_port: u16,
    /// Participant or observer.
    pub peer_type: PeerType,
    /// Client address from the dynamic form, if given.
    pub client_address: Option<(String, u16)>,
}

/// A parsed zoo.cfg plus system properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `tickTime` (ms), the unit of session and sync timeouts. Default 3000.
    pub tick_time_ms: u32,
    /// `dataDir`: snapshots (and logs unless `dataLogDir`).
    pub data_dir: PathBuf,
    /// `dataLogDir`: transaction logs; defaults to `dataDir`.
    pub data_log_dir: PathBuf,
    /// `clientPort`.
    pub client_port: Option<u16>,
    /// `clientPortAddress`; all addresses when unset.
    pub client_port_address: Option<String>,
    /// `secureClientPort`: TLS clients (port 0 picks a free one, as `clientPort=0` does here).
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`; all addresses when unset.
    pub secure_client_port_address: Option<String>,
    /// `maxClientCnxns` per client IP (0 = unlimited). Default 60.
    pub max_client_cnxns: u32,
    /// `minSessionTimeout` (ms); -1 means 2 × tickTime.
    pub min_session_timeout_ms: i32,
    /// `maxSessionTimeout` (ms); -1 means 20 × tickTime.
    pub max_session_timeout_ms: i32,
    /// `initLimit` in ticks.
    pub init_limit: u32,
    /// `syncLimit` in ticks.
    pub sync_limit: u32,
    /// `autopurge.snapRetainCount` (at least 3). Default 3.
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 disables purging.
    pub autopurge_purge_interval_hours: u32,
    /// `standaloneEnabled`. Default true.
    pub standalone_enabled: bool,
    /// `reconfigEnabled`. Default false.
    pub reconfig_enabled: bool,
    /// `localSessionsEnabled`. Default false.
    pub local_sessions_enabled: bool,
    /// `clientPortListenBacklog`; -1 for the OS default.
    pub client_port_listen_backlog: i32,
    /// `peerType` (`participant` or `observer`, any case); the server lines win over it.
    pub peer_type: PeerType,
    /// `syncEnabled`: observers log and snapshot what they receive. Default true.
    pub sync_enabled: bool,
    /// `quorumListenOnAllIPs`: bind the quorum and election ports on all addresses.
    pub quorum_listen_on_all_ips: bool,
    /// `connectToLearnerMasterLimit` in ticks; 0 means `initLimit`.
    pub connect_to_learner_master_limit: u32,
    /// `dynamicConfigFile`: the file holding the `server.N` lines (reconfig's layout).
    pub dynamic_config_file: Option<PathBuf>,
    /// `server.N` lines.
    pub servers: BTreeMap<u64, ServerSpec>,
    /// System properties: `zookeeper.<key>` for zoo.cfg keys that are not settings, and
    /// `-D` flags from `SERVER_JVMFLAGS`.
    pub properties: BTreeMap<String, String>,
    /// `metricsProvider.<name>` keys by `<name>` (`className`, `httpPort`, ...).
    pub metrics_provider: BTreeMap<String, String>,
    /// zoo.cfg keys that became properties (for a startup log line).
    pub unknown_keys: Vec<String>,
    /// The zoo.cfg text as read (the AdminServer's `initial_configuration`).
    pub text: String,
}

/// Keys Java parses and that only matter to features not built yet: accepted, not acted on.
const ACCEPTED_KEYS: &[&str] = &[
    "observerMasterPort",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "localSessionsUpgradingEnabled",
    "quorum.auth.enableSasl",
    "quorum.auth.serverRequireSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.learner.saslLoginContext",
    "quorum.auth.server.saslLoginContext",
    "quorum.auth.kerberos.servicePrincipal",
    "quorum.cnxn.threads.size",
    "jvm.pause.info-threshold.ms",
    "jvm.pause.warn-threshold.ms",
    "jvm.pause.sleep.time.ms",
    "jvm.pause.monitor",
    "metricsProvider.className",
    "multiAddress.enabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    "multiAddress.reachabilityCheckEnabled",
    "oraclePath",
    "electionAlg",
];

/// Reads Java `.properties` text: `key=value` or `key: value`, `#`/`!` comments, trailing `\`
/// continues a line. Later keys win, as in Java.
pub(crate) fn read_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let split = entry.find(['=', ':']).unwrap_or(entry.len());
        let key = entry[..split].trim().to_owned();
        let value = entry.get(split + 1..).unwrap_or("").trim().to_owned();
        if !key.is_empty() {
            out.push((key, value));
        }
    }
    out
}

/// `-Dname=value` flags of a JVM command line (`SERVER_JVMFLAGS`).
pub fn parse_jvm_flags(flags: &str) -> BTreeMap<String, String> {
    flags
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("-D"))
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.to_owned(), String::new()),
        })
        .collect()
}

fn int<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| bad(key, format!("{value:?} is not a valid number")))
}

fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, format!("{value:?} is not true or false"))),
    }
}

fn parse_server(key: &str, value: &str) -> Result<ServerSpec, ConfigError> {
    let (addr, client) = match value.split_once(';') {
        Some((a, c)) => (a, Some(c)),
        None => (value, None),
    };
    let parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 {
        return Err(bad(
            key,
            format!("{value:?}: expected host:quorumPort:electionPort"),
        ));
    }
    let peer_type = match parts.get(3).copied() {
        None | Some("participant") => PeerType::Participant,
        Some("observer") => PeerType::Observer,
        Some(other) => return Err(bad(key, format!("unknown role {other:?}"))),
    };
    let client_address = match client.map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(match c.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), int(key, port)?),
            None => ("0.0.0.0".to_owned(), int(key, c)?),
        }),
    };
    Ok(ServerSpec {
        host: parts[0].to_owned(),
        quorum_port: int(key, parts[1])?,
        election_port: int(key, parts[2])?,
        peer_type,
        client_address,
    })
}

impl Config {
    /// Parses zoo.cfg text; `jvm_flags` is the `SERVER_JVMFLAGS` value (may be empty).
    pub fn parse(text: &str, jvm_flags: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config {
            tick_time_ms: 3000,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            client_port: None,
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            max_client_cnxns: 60,
            min_session_timeout_ms: -1,
            max_session_timeout_ms: -1,
            init_limit: 0,
            sync_limit: 0,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 0,
            standalone_enabled: true,
            reconfig_enabled: false,
            local_sessions_enabled: false,
            client_port_listen_backlog: -1,
            peer_type: PeerType::Participant,
            sync_enabled: true,
            quorum_listen_on_all_ips: false,
            connect_to_learner_master_limit: 0,
            dynamic_config_file: None,
            servers: BTreeMap::new(),
            properties: parse_jvm_flags(jvm_flags),
            metrics_provider: BTreeMap::new(),
            unknown_keys: Vec::new(),
            text: text.to_owned(),
        };
        let mut data_dir = None;
        let mut data_log_dir = None;
        let entries = read_properties(text);
        let has_dynamic_file = entries.iter().any(|(k, _)| k == "dynamicConfigFile");
        for (key, value) in entries {
            let v = value.as_str();
            match key.as_str() {
                "dataDir" => data_dir = Some(PathBuf::from(v)),
                "dataLogDir" => data_log_dir = Some(PathBuf::from(v)),
                "clientPort" => cfg.client_port = Some(int(&key, v)?),
                "clientPortAddress" => cfg.client_port_address = Some(value.clone()),
                "secureClientPort" => cfg.secure_client_port = Some(int(&key, v)?),
                "secureClientPortAddress" => cfg.secure_client_port_address = Some(value.clone()),
                "tickTime" => cfg.tick_time_ms = int(&key, v)?,
                "maxClientCnxns" => cfg.max_client_cnxns = int(&key, v)?,
                "minSessionTimeout" => cfg.min_session_timeout_ms = int(&key, v)?,
                "maxSessionTimeout" => cfg.max_session_timeout_ms = int(&key, v)?,
                "initLimit" => cfg.init_limit = int(&key, v)?,
                "syncLimit" => cfg.sync_limit = int(&key, v)?,
                "autopurge.snapRetainCount" => {
                    // Java raises values below 3 to 3 with a warning.
                    cfg.autopurge_snap_retain_count = int::<u32>(&key, v)?.max(3)
                }
                "autopurge.purgeInterval" => cfg.autopurge_purge_interval_hours = int(&key, v)?,
                "standaloneEnabled" => cfg.standalone_enabled = boolean(&key, v)?,
                "reconfigEnabled" => cfg.reconfig_enabled = boolean(&key, v)?,
                "localSessionsEnabled" => cfg.local_sessions_enabled = boolean(&key, v)?,
                "clientPortListenBacklog" => cfg.client_port_listen_backlog = int(&key, v)?,
                "electionAlg" if v != "3" => {
                    return Err(bad(&key, "Invalid electionAlg value. Only 3 is supported."))
                }
                "peerType" => {
                    cfg.peer_type = match v.to_lowercase().as_str() {
                        "participant" => PeerType::Participant,
                        "observer" => PeerType::Observer,
                        _ => return Err(bad(&key, format!("Unrecognised peertype: {v}"))),
                    }
                }
                "syncEnabled" => cfg.sync_enabled = boolean(&key, v)?,
                "quorumListenOnAllIPs" => cfg.quorum_listen_on_all_ips = boolean(&key, v)?,
                "connectToLearnerMasterLimit" => {
                    cfg.connect_to_learner_master_limit = int(&key, v)?
                }
                "dynamicConfigFile" => cfg.dynamic_config_file = Some(PathBuf::from(v)),
                k if has_dynamic_file
                    && (k.starts_with("server.")
                        || k.starts_with("group")
                        || k.starts_with("weight")) =>
                {
                    return Err(bad(
                        &key,
                        format!("parameter: {key} must be in a separate dynamic config file"),
                    ))
                }
                k if k.starts_with("server.") => {
                    let id = int(&key, &k["server.".len()..])?;
                    cfg.servers.insert(id, parse_server(&key, v)?);
                }
                k if k.starts_with("group") || k.starts_with("weight") => {}
                k if k.starts_with("metricsProvider.") => {
                    let name = &k["metricsProvider.".len()..];
                    cfg.metrics_provider.insert(name.to_owned(), value.clone());
                }
                k if ACCEPTED_KEYS.contains(&k) => {}
                // The AdminServer's keys are system properties in Java too; ours reads them,
                // as it reads its own backup and snapshot keys (a Java server ignores them).
                k if k.starts_with("admin.")
                    || k.starts_with("backup.")
                    || k == "snapshot.intervalMs" =>
                {
                    cfg.properties
                        .insert(format!("zookeeper.{key}"), value.clone());
                }
                _ => {
                    cfg.properties
                        .insert(format!("zookeeper.{key}"), value.clone());
                    cfg.unknown_keys.push(key.clone());
                }
            }
        }
        if cfg.secure_client_port_address.is_some() && cfg.secure_client_port.is_none() {
            return Err(bad(
                "secureClientPortAddress",
                "secureClientPortAddress is set but secureClientPort is not set",
            ));
        }
        cfg.data_dir = data_dir.ok_or_else(|| bad("dataDir", "dataDir is not set"))?;
        cfg.data_log_dir = data_log_dir.unwrap_or_else(|| cfg.data_dir.clone());
        if cfg.tick_time_ms == 0 {
            return Err(bad("tickTime", "tickTime is not set"));
        }
        if cfg.min_session_timeout_ms() > cfg.max_session_timeout_ms() {
            return Err(bad(
                "minSessionTimeout",
                "minSessionTimeout must not be larger than maxSessionTimeout",
            ));
        }
        Ok(cfg)
    }

    /// The configuration used when no file is given: standalone on port 2181 with data in
    /// `./zk-data`, tickTime 2000 (as Debian's sample zoo.cfg).
    pub fn standalone_default() -> Config {
        Config::parse("tickTime=2000\ndataDir=zk-data\nclientPort=2181\n", "")
            .expect("the default configuration parses")
    }

    /// The smallest session timeout granted.
    pub fn min_session_timeout_ms(&self) -> i32 {
        if self.min_session_timeout_ms < 0 {
            2 * self.tick_time_ms as i32
        } else {
            self.min_session_timeout_ms
        }
    }

    /// The largest session timeout granted.
    pub fn max_session_timeout_ms(&self) -> i32 {
        if self.max_session_timeout_ms < 0 {
            20 * self.tick_time_ms as i32
        } else {
            self.max_session_timeout_ms
        }
    }

    /// `zookeeper.leaderConnectDelayDuringRetryMs`: a learner's pause between attempts to reach
    /// its leader (Java 3.8's default 100).
    pub fn leader_connect_delay_during_retry_ms(&self) -> u64 {
        self.property_parsed(
            "zookeeper.leaderConnectDelayDuringRetryMs",
            crate::peer::quorum_net::LEADER_CONNECT_RETRY_DELAY_MS,
        )
    }

    /// A system property.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    fn property_parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        self.property(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    fn property_bool(&self, name: &str, default: bool) -> bool {
        match self.property(name).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "true" || v == "yes" => true,
            Some(v) if v == "false" || v == "no" => false,
            _ => default,
        }
    }

    /// `snapshot.intervalMs` (ours): a snapshot at least this often while txns come in;
    /// default one hour, 0 turns it off (`snapCount` alone then).
    pub fn snapshot_interval_ms(&self) -> u64 {
        self.property_parsed("zookeeper.snapshot.intervalMs", 3_600_000)
    }

    /// `zookeeper.snapCount`: txns between snapshots. Default 100000.
    pub fn snap_count(&self) -> u64 {
        self.property_parsed("zookeeper.snapCount", 100_000)
    }

    /// `zookeeper.preAllocSize` in KiB. Default 65536 (64 MiB).
    pub fn pre_alloc_size_kb(&self) -> u64 {
        self.property_parsed("zookeeper.preAllocSize", 65_536)
    }

    /// `zookeeper.forceSync`: fsync before acknowledging. Default yes.
    pub fn force_sync(&self) -> bool {
        self.property_bool("zookeeper.forceSync", true)
    }

    /// `zookeeper.extendedTypesEnabled`: TTL nodes. Default false.
    pub fn extended_types_enabled(&self) -> bool {
        self.property_bool("zookeeper.extendedTypesEnabled", false)
    }

    /// `zookeeper.digest.enabled`: tree digests in logs and snapshots. Default true.
    pub fn digest_enabled(&self) -> bool {
        self.property_bool("zookeeper.digest.enabled", true)
    }

    /// `zookeeper.skipACL`: no ACL checks. Default false.
    pub fn skip_acl(&self) -> bool {
        self.property_bool("zookeeper.skipACL", false)
    }

    /// `zookeeper.enforceQuota`: refuse writes past a hard quota. True only for `true` in any
    /// case, as Java's `Boolean.parseBoolean` reads it.
    pub fn enforce_quota(&self) -> bool {
        self.property("zookeeper.enforceQuota")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `jute.maxbuffer` (a JVM flag only: a zoo.cfg key becomes `zookeeper.jute.maxbuffer`,
    /// which Java's server does not read either). Default 0xfffff.
    pub fn jute_max_buffer(&self) -> usize {
        self.property_parsed("jute.maxbuffer", 0xfffff)
    }

    /// `zookeeper.jute.maxbuffer.extrasize`: how much larger than `jute.maxbuffer` a txn may be
    /// when the log is read back (a txn carries more than its request). Java's default is
    /// `jute.maxbuffer` itself.
    pub fn jute_max_buffer_extra_size(&self) -> usize {
        // Never below the 1024 bytes that were the fixed allowance before 3.5.7.
        self.property_parsed("zookeeper.jute.maxbuffer.extrasize", self.jute_max_buffer())
            .max(1024)
    }

    /// The largest txn record the server writes and reads back: `jute.maxbuffer` plus
    /// `zookeeper.jute.maxbuffer.extrasize`, as Java's log reader allows.
    pub fn max_txn_bytes(&self) -> usize {
        self.jute_max_buffer()
            .saturating_add(self.jute_max_buffer_extra_size())
    }

    /// Our `zookeeper.outgoing.pauseReadingBytes`: while this much is queued for a connection
    /// (replies and events it has not read yet), no more requests are read from it. Default
    /// 4 MiB, and never below `jute.maxbuffer`.
    pub fn outgoing_pause_reading_bytes(&self) -> usize {
        self.property_parsed("zookeeper.outgoing.pauseReadingBytes", 4 << 20)
            .max(self.jute_max_buffer())
    }

    /// Our `zookeeper.outgoing.maxQueuedBytes`: a connection with more than this queued and
    /// unread is closed (its session lives on until it expires). Default 64 MiB.
    pub fn outgoing_max_queued_bytes(&self) -> usize {
        self.property_parsed("zookeeper.outgoing.maxQueuedBytes", 64 << 20)
            .max(self.outgoing_pause_reading_bytes())
    }

    /// Our `zookeeper.outgoing.globalPauseReadingBytes`: while this much is queued for all
    /// connections together, no connection's requests are read. Default 256 MiB.
    pub fn outgoing_global_pause_reading_bytes(&self) -> usize {
        self.property_parsed("zookeeper.outgoing.globalPauseReadingBytes", 256 << 20)
            .max(self.outgoing_max_queued_bytes())
    }

    /// `zookeeper.globalOutstandingLimit`: requests in flight before reads pause. Default 1000.
    pub fn global_outstanding_limit(&self) -> u32 {
        self.property_parsed("zookeeper.globalOutstandingLimit", 1000)
    }

    /// `zookeeper.DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub fn super_digest(&self) -> Option<&str> {
        self.property("zookeeper.DigestAuthenticationProvider.superDigest")
    }

    /// `zookeeper.snapshot.compression.method` (`""`, `gz`, `snappy`, ours: `lz4`).
    pub fn snapshot_compression(&self) -> Option<&str> {
        self.property("zookeeper.snapshot.compression.method")
    }

    /// `zookeeper.nio.sessionlessCnxnTimeout`: how long a connection may stay without a
    /// handshake. Default 10000 ms.
    pub fn sessionless_cnxn_timeout_ms(&self) -> u64 {
        self.property_parsed("zookeeper.nio.sessionlessCnxnTimeout", 10_000)
    }

    /// The key store of the secure client port: `zookeeper.ssl.keyStore.location`,
    /// `.password` (or the file named by `.passwordPath`, which wins, as in Java) and `.type`
    /// (zoo.cfg's `ssl.keyStore.location` and so on become these properties).
    pub fn ssl_key_store(&self) -> Result<Option<zk_tls::StoreSpec>, ConfigError> {
        self.ssl_store("keyStore")
    }

    /// The trust store of the secure client port (`zookeeper.ssl.trustStore.*`).
    pub fn ssl_trust_store(&self) -> Result<Option<zk_tls::StoreSpec>, ConfigError> {
        self.ssl_store("trustStore")
    }

    fn ssl_store(&self, which: &str) -> Result<Option<zk_tls::StoreSpec>, ConfigError> {
        zk_tls::StoreSpec::from_java_properties(
            |name| self.property(name).map(str::to_owned),
            which,
        )
        .map_err(|e| bad(&format!("ssl.{which}.passwordPath"), e.to_string()))
    }

    /// `zookeeper.ssl.clientAuth`: `none`, `want` or `need` (Java's default).
    pub fn ssl_client_auth(&self) -> Result<zk_tls::ClientAuth, ConfigError> {
        zk_tls::ClientAuth::from_property(self.property("zookeeper.ssl.clientAuth"))
            .map_err(|e| bad("ssl.clientAuth", e.to_string()))
    }

    /// `zookeeper.ssl.protocol` (Java's default `TLSv1.2`).
    pub fn ssl_protocol(&self) -> Option<&str> {
        self.property("zookeeper.ssl.protocol")
    }

    /// `zookeeper.ssl.enabledProtocols` (comma-separated); unset: `ssl.protocol` alone.
    pub fn ssl_enabled_protocols(&self) -> Option<&str> {
        self.property("zookeeper.ssl.enabledProtocols")
    }

    /// `zookeeper.ssl.ciphersuites` (comma-separated, Java's names); unset: Java's defaults.
    pub fn ssl_ciphersuites(&self) -> Option<&str> {
        self.property("zookeeper.ssl.ciphersuites")
    }

    /// `zookeeper.ssl.authProvider`: the scheme TLS client certificates authenticate as
    /// (default `x509`).
    pub fn ssl_auth_provider(&self) -> &str {
        self.property("zookeeper.ssl.authProvider")
            .filter(|p| !p.is_empty())
            .unwrap_or("x509")
    }

    /// Whether the `x509` auth scheme is registered: Java registers
    /// `X509AuthenticationProvider` when a secure client port is configured
    /// (`QuorumPeerConfig.configureSSLAuth`), or when a `zookeeper.authProvider.*` property
    /// names it.
    pub fn x509_auth_enabled(&self) -> bool {
        self.secure_client_port.is_some()
            || self.properties.iter().any(|(k, v)| {
                k.starts_with("zookeeper.authProvider.")
                    && v.trim() == "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
            })
    }

    /// `zookeeper.X509AuthenticationProvider.superUser`: the certificate subject (RFC 2253)
    /// that is super.
    pub fn x509_super_user(&self) -> Option<&str> {
        self.property("zookeeper.X509AuthenticationProvider.superUser")
    }

    /// `znode.container.checkIntervalMs` (a plain property, no `zookeeper.` prefix, as in Java).
    /// Default 60000.
    pub fn container_check_interval_ms(&self) -> u64 {
        self.property_parsed("znode.container.checkIntervalMs", 60_000)
    }

    /// `znode.container.maxNeverUsedIntervalMs`: 0 keeps never-used containers forever.
    pub fn container_max_never_used_interval_ms(&self) -> u64 {
        self.property_parsed("znode.container.maxNeverUsedIntervalMs", 0)
    }

    // ----- SASL and authentication providers (see `crate::sasl`) -----

    /// `java.security.auth.login.config`: the JAAS file (a leading `=`, Java's "only this
    /// file", and a `file:` prefix are dropped).
    pub fn jaas_config_file(&self) -> Option<&str> {
        let value = self.property("java.security.auth.login.config")?;
        let value = value.strip_prefix('=').unwrap_or(value);
        let value = value
            .strip_prefix("file://")
            .or_else(|| value.strip_prefix("file:"))
            .unwrap_or(value);
        (!value.is_empty()).then_some(value)
    }

    /// `zookeeper.sasl.serverconfig`: the JAAS section of the server's users. Default `Server`.
    pub fn sasl_server_section(&self) -> &str {
        self.property("zookeeper.sasl.serverconfig")
            .unwrap_or("Server")
    }

    /// `zookeeper.superUser` and every `zookeeper.superUser.*`: SASL ids that are super.
    pub fn sasl_super_users(&self) -> Vec<String> {
        const KEY: &str = "zookeeper.superUser";
        self.properties
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(KEY)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the SASL password of user `super`.
    pub fn sasl_super_password(&self) -> Option<&str> {
        self.property("zookeeper.SASLAuthenticationProvider.superPassword")
    }

    /// `zookeeper.allowSaslFailedClients`: keep a connection whose SASL exchange failed.
    pub fn allow_sasl_failed_clients(&self) -> bool {
        self.java_boolean("zookeeper.allowSaslFailedClients")
    }

    /// `zookeeper.kerberos.removeHostFromPrincipal`.
    pub fn kerberos_remove_host_from_principal(&self) -> bool {
        self.property("zookeeper.kerberos.removeHostFromPrincipal") == Some("true")
    }

    /// `zookeeper.kerberos.removeRealmFromPrincipal`.
    pub fn kerberos_remove_realm_from_principal(&self) -> bool {
        self.property("zookeeper.kerberos.removeRealmFromPrincipal") == Some("true")
    }

    /// `zookeeper.letAnySaslUserDoX`: a `sasl` ACL id that every SASL-authenticated
    /// connection matches.
    pub fn let_any_sasl_user_do_x(&self) -> Option<&str> {
        self.property("zookeeper.letAnySaslUserDoX")
    }

    /// The schemes that must authenticate a connection before its requests are served, as
    /// Java's AuthenticationHelper reads them: `["sasl"]` with
    /// `zookeeper.sessionRequireClientSASLAuth=true`, else `zookeeper.enforce.auth.schemes`
    /// (comma-separated) when `zookeeper.enforce.auth.enabled=true`; `None` when not enforced.
    pub fn enforce_auth_schemes(&self) -> Option<Vec<String>> {
        if self.java_boolean("zookeeper.sessionRequireClientSASLAuth") {
            return Some(vec!["sasl".to_owned()]);
        }
        if !self.java_boolean("zookeeper.enforce.auth.enabled") {
            return None;
        }
        Some(
            self.property("zookeeper.enforce.auth.schemes")
                .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect())
                .unwrap_or_default(),
        )
    }

    /// The schemes of the providers `zookeeper.authProvider.*` (zoo.cfg `authProvider.*`)
    /// registers, by their Java class names; a class we do not have is logged and skipped, as
    /// Java logs a class it cannot load.
    pub fn auth_provider_schemes(&self) -> Vec<String> {
        self.properties
            .iter()
            .filter(|(k, _)| k.starts_with("zookeeper.authProvider."))
            .filter_map(|(key, class)| match class.trim() {
                "org.apache.zookeeper.server.auth.SASLAuthenticationProvider" => Some("sasl".to_owned()),
                "org.apache.zookeeper.server.auth.DigestAuthenticationProvider" => Some("digest".to_owned()),
                "org.apache.zookeeper.server.auth.IPAuthenticationProvider" => Some("ip".to_owned()),
                other => {
                    tracing::warn!(key = %key, class = other, "unknown authentication provider; ignored");
                    None
                }
            })
            .collect()
    }

    /// Java's `Boolean.parseBoolean` of a property: `true` in any case, else false.
    fn java_boolean(&self, name: &str) -> bool {
        self.property(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_defaults_and_derived_values() {
        let cfg = Config::parse("dataDir=/d\n", "").unwrap();
        assert_eq!(cfg.tick_time_ms, 3000);
        assert_eq!(cfg.data_log_dir, PathBuf::from("/d"));
        assert_eq!(
            (cfg.min_session_timeout_ms(), cfg.max_session_timeout_ms()),
            (6000, 60000)
        );
        assert_eq!(cfg.max_client_cnxns, 60);
        assert!(cfg.force_sync());
        assert!(!cfg.extended_types_enabled());
        assert_eq!(cfg.jute_max_buffer(), 0xfffff);
    }

    #[test]
    fn unknown_keys_become_zookeeper_properties_and_jvm_flags_count() {
        let text = "# comment\ndataDir = /d\nextendedTypesEnabled=true\n4lw.commands.whitelist=ruok, stat\nsnapCount : 77\n";
        let cfg = Config::parse(
            text,
            "-Xmx1g -Djute.maxbuffer=4194304 -Dzookeeper.forceSync=no",
        )
        .unwrap();
        assert!(cfg.extended_types_enabled());
        assert_eq!(cfg.snap_count(), 77);
        assert_eq!(
            cfg.property("zookeeper.4lw.commands.whitelist"),
            Some("ruok, stat")
        );
        assert_eq!(cfg.jute_max_buffer(), 4_194_304);
        assert!(!cfg.force_sync());
        assert_eq!(
            cfg.unknown_keys,
            vec![
                "extendedTypesEnabled",
                "4lw.commands.whitelist",
                "snapCount"
            ]
        );
    }

    #[test]
    fn ensemble_lines() {
        let text = "dataDir=/d\nserver.1=127.0.0.1:2888:3888\nserver.2=h2:2889:3889:observer;2182\nserver.3=h3:1:2:participant;0.0.0.0:2183\n";
        let cfg = Config::parse(text, "").unwrap();
        assert_eq!(cfg.servers.len(), 3);
        assert_eq!(cfg.servers[&2].peer_type, PeerType::Observer);
        assert_eq!(
            cfg.servers[&2].client_address,
            Some(("0.0.0.0".into(), 2182))
        );
        assert_eq!(cfg.servers[&1].election_port, 3888);
    }

    #[test]
    fn quorum_keys() {
        let text = "dataDir=/d\npeerType=OBSERVER\nsyncEnabled=false\nquorumListenOnAllIPs=true\nconnectToLearnerMasterLimit=7\ndynamicConfigFile=/c/zoo.cfg.dynamic.100000000\n";
        let cfg = Config::parse(text, "").unwrap();
        assert_eq!(cfg.peer_type, PeerType::Observer);
        assert!(!cfg.sync_enabled && cfg.quorum_listen_on_all_ips);
        assert_eq!(cfg.connect_to_learner_master_limit, 7);
        assert_eq!(
            cfg.dynamic_config_file,
            Some(PathBuf::from("/c/zoo.cfg.dynamic.100000000"))
        );
        let defaults = Config::parse("dataDir=/d\n", "").unwrap();
        assert_eq!(defaults.peer_type, PeerType::Participant);
        assert!(defaults.sync_enabled && !defaults.quorum_listen_on_all_ips);
        // With a dynamic file, server lines (before or after the key) are refused, as Java.
        let err =
            Config::parse("dataDir=/d\nserver.1=h:1:2\ndynamicConfigFile=/x\n", "").unwrap_err();
        assert_eq!(err.key, "server.1");
        assert_eq!(
            err.message,
            "parameter: server.1 must be in a separate dynamic config file"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("dataDir=/d\ntickTime=abc\n", "tickTime"),
            ("tickTime=2000\n", "dataDir"),
            ("dataDir=/d\nclientPort=70000\n", "clientPort"),
            ("dataDir=/d\nreconfigEnabled=maybe\n", "reconfigEnabled"),
            ("dataDir=/d\nserver.1=host\n", "server.1"),
            ("dataDir=/d\nelectionAlg=1\n", "electionAlg"),
            (
                "dataDir=/d\nminSessionTimeout=9000\nmaxSessionTimeout=8000\n",
                "minSessionTimeout",
            ),
        ] {
            let err = Config::parse(text, "").unwrap_err();
            assert_eq!(err.key, key, "{text:?}: {err}");
        }
    }

    #[test]
    fn tls_keys_as_java_reads_them() {
        let text = "dataDir=/d\nsecureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n\
                    serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
                    ssl.keyStore.location=/k/server.p12\nssl.keyStore.password=pw\n\
                    ssl.clientAuth=want\n";
        let cfg = Config::parse(
            text,
            "-Dzookeeper.ssl.trustStore.location=/k/ca.pem -Dzookeeper.ssl.enabledProtocols=TLSv1.3",
        )
        .unwrap();
        assert_eq!(
            (cfg.client_port, cfg.secure_client_port),
            (None, Some(2281))
        );
        assert_eq!(cfg.secure_client_port_address.as_deref(), Some("127.0.0.1"));
        let key = cfg.ssl_key_store().unwrap().unwrap();
        assert_eq!(
            (key.location.to_str(), key.password.as_str()),
            (Some("/k/server.p12"), "pw")
        );
        assert_eq!(
            cfg.ssl_trust_store().unwrap().unwrap().location.to_str(),
            Some("/k/ca.pem")
        );
        assert_eq!(cfg.ssl_client_auth().unwrap(), zk_tls::ClientAuth::Want);
        assert_eq!(cfg.ssl_enabled_protocols(), Some("TLSv1.3"));
        assert!(cfg.x509_auth_enabled());
        assert!(!Config::parse("dataDir=/d\n", "")
            .unwrap()
            .x509_auth_enabled());
        let err = Config::parse("dataDir=/d\nsecureClientPortAddress=0.0.0.0\n", "").unwrap_err();
        assert_eq!(err.key, "secureClientPortAddress");
        let err = Config::parse("dataDir=/d\nssl.clientAuth=maybe\n", "")
            .unwrap()
            .ssl_client_auth()
            .unwrap_err();
        assert_eq!(err.key, "ssl.clientAuth");
    }

    #[test]
    fn debians_sample_config_parses() {
        let text = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zookeeper\nclientPort=2181\n#maxClientCnxns=60\n#autopurge.snapRetainCount=3\n";
        let cfg = Config::parse(text, "").unwrap();
        assert_eq!(
            (cfg.init_limit, cfg.sync_limit, cfg.client_port),
            (10, 5, Some(2181))
        );
        assert_eq!(Config::standalone_default().client_port, Some(2181));
    }
}

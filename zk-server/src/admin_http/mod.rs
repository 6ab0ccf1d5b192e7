//! The AdminServer: Java's HTTP admin commands (`/commands/<name>`, JSON in Jackson's layout),
//! a readiness probe (`/ready`) and the tree browser (`/browse`), on `admin.serverAddress`
//! and `admin.serverPort`.
//!
//! The HTTP side never touches the server's data: it asks the core through a [`CoreLink`],
//! and the core answers between client requests, as it does for the four-letter words. The
//! answers are formatted here, on the HTTP tasks.
//!
//! # Differences from Java
//!
//! - Without `admin.serverAddress` we listen on 127.0.0.1, not 0.0.0.0 (logged at startup):
//!   `connections`, `dump` and `watches` show session ids and paths to whoever connects.
//! - A port that cannot be bound is logged and the server serves on without the AdminServer
//!   (Java's standalone server exits; its ensemble members go on, as we do).
//! - `admin.auth.required=true` asks every command for an identity with READ on `/`.
//! - `/ready` and `/browse` are ours.
//!
//! # Layout
//!
//! - `settings`: [`AdminSettings`], the `admin.*` keys.
//! - `link`: [`CoreLink`], the questions the core answers.
//! - `listener`: the accept loop: HTTP/1.1 connections with header and idle timeouts.
//! - `routes`: the router: the command index, commands, `/ready`, the browser.
//! - `json`: Jackson's pretty layout (`"key" : value`, `[ a, b ]`).
//! - `commands`: the command table (names, aliases, which need a running server or auth) and
//!   each command's JSON.
//! - `auth`: the `Authorization` header (`digest user:password`, `ip`, `x509`) and the ACL
//!   check on `/`, with the rate limit of `snapshot` and `restore`.
//! - `browse`: the tree browser.

mod auth;
pub mod browse;
mod commands;
mod import;
mod json;
mod link;
mod listener;
mod prometheus;
mod restore;
mod routes;
mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use commands::{command_names, primary_names};
pub use json::to_java_json;
pub use link::{AdminAsk, AdminCall, AdminReply, CoreLink};
pub use prometheus::MetricsServer;
pub use settings::{AdminSettings, DEFAULT_PORT};

use crate::config::Config;
use crate::quorum::verifier::{delimited, ServerAddress};

/// What the HTTP handlers share: the link to the core and the facts that do not change while
/// the server runs.
#[derive(Debug)]
pub struct AdminState {
    /// Questions to the core.
    pub link: CoreLink,
    /// The `admin.*` settings.
    pub settings: AdminSettings,
    /// The zoo.cfg text (`initial_configuration`).
    pub initial_config: String,
    /// `dataDir/version-2`: snapshots (`dirs`, `last_snapshot`, `snapshot`).
    pub snap_dir: PathBuf,
    /// `dataLogDir/version-2`: transaction logs (`dirs`).
    pub log_dir: PathBuf,
    /// `zookeeper.DigestAuthenticationProvider.superDigest`, for `digest` identities.
    pub super_digest: Option<String>,
    /// The ensemble as configured (`voting_view`, `zabstate`, `leader`); `None` standalone.
    pub ensemble: Option<EnsembleView>,
    /// How `snapshot` compresses the file it writes (`snapshot.compression.method`).
    pub snapshot_compression: crate::storage::snapshot::Compression,
    /// What `system_properties` lists: the `zookeeper.*` properties (zoo.cfg keys and JVM
    /// flags) and the host facts Java keeps as properties, sorted.
    pub system_properties: Vec<(String, String)>,
    /// The plain client port, when there is one (the browser's writes go through it, as a
    /// client's would).
    pub client_addr: Option<SocketAddr>,
    /// The server's metrics registry (`/metrics`; the `snapshot` command's counters).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `snapshot` and `restore` runs, for their rate limit.
    pub(crate) limits: auth::RateLimits,
    /// TLS (`admin.forceHttps`, `admin.portUnification`).
    tls: Option<listener::Tls>,
    /// The backup archiver, which ships the `snapshot` command's snapshots too.
    pub archiver: Option<crate::backup::archiver::ArchiverHandle>,
}

/// What the ensemble commands print from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleView {
    /// `myid`.
    pub my_id: i64,
    /// Every member, in the configuration's order.
    pub members: Vec<MemberView>,
}

/// One configured ensemble member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Its id.
    pub id: i64,
    /// Its quorum and election addresses (several with `multiAddress.enabled`).
    pub addresses: Vec<ServerAddress>,
    /// Its client address, `host:port`, or empty when its server line has none.
    pub client_address: String,
    /// A voter (participant) rather than an observer.
    pub voting: bool,
}

impl MemberView {
    /// Each address as Java prints it, `host:port` (IPv6 in brackets), with the port `port`
    /// picks (the quorum or the election port).
    pub fn host_ports(&self, port: fn(&ServerAddress) -> u16) -> Vec<String> {
        self.addresses
            .iter()
            .map(|a| format!("{}:{}", delimited(&a.host), port(a)))
            .collect()
    }

    /// The addresses' hosts.
    pub fn hosts(&self) -> Vec<String> {
        self.addresses.iter().map(|a| a.host.clone()).collect()
    }
}

impl EnsembleView {
    /// The view of a member `my_id` of `members`.
    pub fn new(my_id: i64, members: &[crate::quorum::verifier::QuorumServer]) -> EnsembleView {
        EnsembleView {
            my_id,
            members: members
                .iter()
                .map(|m| MemberView {
                    id: m.id,
                    addresses: m.addresses.clone(),
                    client_address: m
                        .client_address
                        .as_ref()
                        .map(|c| format!("{}:{}", delimited(&c.host), c.port))
                        .unwrap_or_default(),
                    voting: m.peer_type == crate::config::PeerType::Participant,
                })
                .collect(),
        }
    }
}

impl AdminState {
    /// The state for a server configured by `cfg`, asking its core through `link`.
    pub fn new(
        cfg: &Config,
        link: CoreLink,
        ensemble: Option<EnsembleView>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> std::io::Result<AdminState> {
        let settings = AdminSettings::from_config(cfg);
        let tls = if settings.force_https || settings.port_unification {
            let client_auth = if settings.need_client_auth {
                zk_tls::ClientAuth::Need
            } else {
                zk_tls::ClientAuth::Want
            };
            Some(listener::Tls {
                port: crate::tls::SecurePort::with_client_auth(cfg, client_auth)?,
                unified: !settings.force_https,
            })
        } else {
            None
        };
        Ok(AdminState {
            tls,
            link,
            limits: auth::RateLimits::new(settings.rate_limit_interval),
            settings,
            initial_config: cfg.text.clone(),
            snap_dir: cfg.data_dir.join("version-2"),
            log_dir: cfg.data_log_dir.join("version-2"),
            super_digest: cfg.super_digest().map(str::to_owned),
            ensemble,
            // A bad method fails the start before this runs; the default is the safe reading.
            snapshot_compression: crate::storage::snapshot::Compression::from_config(
                cfg.snapshot_compression(),
            )
            .unwrap_or_default(),
            system_properties: system_properties(cfg),
            metrics,
            client_addr: None,
            archiver: None,
        })
    }
}

/// The properties `system_properties` lists, sorted by name.
fn system_properties(cfg: &Config) -> Vec<(String, String)> {
    let mut props: std::collections::BTreeMap<String, String> = cfg.properties.clone();
    let host = [
        (
            "os.name",
            crate::admin::HostEnv::java_os_name(std::env::consts::OS),
        ),
        (
            "os.arch",
            crate::admin::HostEnv::java_os_arch(std::env::consts::ARCH),
        ),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("user.name", std::env::var("USER").unwrap_or_default()),
        ("user.home", std::env::var("HOME").unwrap_or_default()),
        (
            "user.dir",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        ),
        ("file.separator", "/".to_owned()),
        ("line.separator", "\n".to_owned()),
        ("path.separator", ":".to_owned()),
    ];
    for (k, v) in host {
        props.entry(k.to_owned()).or_insert(v);
    }
    props.into_iter().collect()
}

/// A running AdminServer.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Binds `admin.serverAddress:admin.serverPort` and serves until `stop` turns true.
    /// `Ok(None)` when `admin.enableServer=false`.
    pub async fn start(
        state: AdminState,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<Option<AdminServer>> {
        let s = &state.settings;
        if !s.enabled {
            return Ok(None);
        }
        if !s.address_configured {
            tracing::info!(
                "admin.serverAddress is not set: the AdminServer listens on 127.0.0.1 only, as \
                 its commands show session ids and paths (Java listens on 0.0.0.0; set \
                 admin.serverAddress=0.0.0.0 for that)"
            );
        }
        let listener = tokio::net::TcpListener::bind((s.address.as_str(), s.port)).await?;
        let addr = listener.local_addr()?;
        let scheme = match (&state.tls, s.force_https) {
            (None, _) => "http",
            (Some(_), true) => "https",
            (Some(_), false) => "http and https",
        };
        tracing::info!(%addr, command_url = %s.command_url, scheme, "started AdminServer");
        let idle_timeout = state.settings.idle_timeout;
        let tls = state.tls.clone();
        let router = routes::router(Arc::new(state));
        let task = tokio::spawn(listener::serve(listener, router, idle_timeout, tls, stop));
        Ok(Some(AdminServer { addr, task }))
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the accept loop to end (after the stop signal).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

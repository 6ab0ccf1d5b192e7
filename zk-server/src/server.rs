//! The whole server as a library call: a configuration in, a durable server out. The binary is
//! argument parsing and logging around [`run`]; tests use [`start`] to get the bound address and
//! stop and restart a server in-process on the same data directory.
//!
//! ```no_run
//! # async fn example() -> Result<(), zk_server::server::RunError> {
//! let cfg = zk_server::config::Config::parse("dataDir=/tmp/zk\nclientPort=2181\n", "")
//!     .expect("a valid zoo.cfg");
//! zk_server::server::run(cfg, zk_server::server::RunOptions::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;

use tracing::info;

use crate::config::Config;
use crate::metrics::{Metrics, SummaryKind};
use crate::runtime::{self, ServerHandle, Stopper};
use crate::storage::recovery::{self, RecoveryError};
use crate::storage::txnlog::TxnLogWriter;

/// How [`start`] treats the data directory.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Cut the transaction log at a corrupt record instead of refusing to start
    /// (`--truncate-corrupt-log`; what follows the record is lost).
    pub truncate_corrupt_log: bool,
    /// The zoo.cfg the settings came from: with `server.N` lines it is read again, with
    /// `myid` and the dynamic file, to run as an ensemble member.
    pub config_path: Option<std::path::PathBuf>,
}

/// Why a server did not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A setting that does not work (a JAAS file that does not parse, ...).
    #[error("{0}")]
    Config(String),
    /// The data directory could not be recovered.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// The transaction log could not be opened for writing.
    #[error("cannot open the transaction log: {0}")]
    OpenLog(std::io::Error),
    /// A client port could not be bound (or its TLS stores read).
    #[error("cannot listen on the client port: {0}")]
    Listen(std::io::Error),
    /// The transaction log or a snapshot failed while serving: nothing more was acknowledged.
    #[error("stopped: the transaction log or a snapshot failed: {0}")]
    Failed(std::io::Error),
    /// The ensemble member stopped (a halt the leader asked for, a storage failure) or could
    /// not start.
    #[error("ensemble member: {0}")]
    Member(#[from] crate::peer::node::NodeError),
}

/// A server started by [`start`]: serving until stopped.
#[derive(Debug)]
pub struct RunningServer {
    handle: ServerHandle,
    /// A standalone server's startup snapshot.
    startup_snapshot: Option<std::thread::JoinHandle<()>>,
    /// An ensemble member's node: stopped with the server, and stopping it when it fails.
    node: Option<(
        tokio_util::sync::CancellationToken,
        tokio::task::JoinHandle<Result<(), crate::peer::node::NodeError>>,
    )>,
}

impl RunningServer {
    /// The address clients connect to (see [`ServerHandle::local_addr`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The secure client port's address, when one is configured.
    pub fn secure_local_addr(&self) -> Option<SocketAddr> {
        self.handle.secure_local_addr()
    }

    /// The AdminServer's address, when it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.handle.admin_addr()
    }

    /// Prometheus' `/metrics` address, when it is served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.handle.metrics_addr()
    }

    /// A handle that stops the server from elsewhere (a signal task, a test).
    pub fn stopper(&self) -> Stopper {
        self.handle.stopper()
    }

    /// Waits until the server stops, then until the startup snapshot is complete, so a clean
    /// stop never leaves it half written.
    pub async fn wait(self) -> Result<(), RunError> {
        let served = self.handle.wait().await;
        if let Some(snapshot) = self.startup_snapshot {
            let _ = tokio::task::spawn_blocking(move || snapshot.join()).await;
        }
        if let Some((stop, node)) = self.node {
            stop.cancel();
            match node.await {
                Ok(Err(e)) => return Err(RunError::Member(e)),
                Err(e) => return Err(RunError::Failed(std::io::Error::other(e))),
                Ok(Ok(())) => {}
            }
        }
        served.map_err(RunError::Failed)
    }
}

/// Checks the settings, recovers the data directory, opens the transaction log and starts
/// serving.
pub async fn start(cfg: Config, options: RunOptions) -> Result<RunningServer, RunError> {
    // A JAAS file that does not parse stops startup before anything else, naming its line.
    let sasl = crate::sasl::SaslConfig::load(&cfg).map_err(|e| RunError::Config(e.to_string()))?;
    for key in &cfg.unknown_keys {
        info!(key, property = %format_args!("zookeeper.{key}"), "zoo.cfg key is not a setting; kept as a system property");
    }
    if !cfg.servers.is_empty() {
        if let Some(path) = &options.config_path {
            let quorum = crate::quorum::config::QuorumConfig::load(path, &cfg)
                .map_err(|e| RunError::Config(e.to_string()))?;
            if quorum.is_distributed() {
                return start_member(cfg, quorum, sasl).await;
            }
        }
    }
    let metrics = Metrics::for_config(&cfg);
    let init_started = std::time::Instant::now();
    let recovered = recovery::recover(&cfg, options.truncate_corrupt_log)?;
    metrics.record_since(SummaryKind::DbInitTime, init_started);
    metrics.record(
        SummaryKind::StartupSnapLoadTime,
        recovered.snap_load_ms as i64,
    );
    metrics.record(
        SummaryKind::StartupTxnsLoadTime,
        recovered.txns_load_ms as i64,
    );
    metrics.record(
        SummaryKind::StartupTxnsLoaded,
        recovered.replayed.len() as i64,
    );
    let mut snapshots = recovered.snapshots;
    start_archiver(
        &cfg,
        &mut snapshots,
        0,
        Some(recovered.tree.last_processed_zxid()),
    )?;
    let mut log = TxnLogWriter::open(
        &cfg.data_log_dir.join("version-2"),
        cfg.pre_alloc_size_kb(),
        cfg.force_sync(),
    )
    .map_err(RunError::OpenLog)?;
    log.set_metrics(metrics.clone());
    let handle = runtime::start_with_snapshots(
        cfg,
        recovered.tree,
        Box::new(log),
        Some(snapshots),
        sasl,
        metrics,
    )
    .await
    .map_err(RunError::Listen)?;
    info!(addr = %handle.local_addr(), "zk-server ready");
    Ok(RunningServer {
        handle,
        startup_snapshot: Some(recovered.startup_snapshot),
        node: None,
    })
}

/// Starts the archiver `backup.target` asks for (none without it) and puts it in `policy`,
/// where the runtime and autopurge find it. A standalone server's archives from the start,
/// everything up to `standalone_committed` being committed; an ensemble member's (`None`)
/// waits until its member leads.
fn start_archiver(
    cfg: &Config,
    policy: &mut runtime::SnapshotPolicy,
    server_id: i64,
    standalone_committed: Option<i64>,
) -> Result<Option<crate::backup::archiver::ArchiverHandle>, RunError> {
    let Some(settings) = crate::backup::BackupSettings::from_config(cfg)
        .map_err(|e| RunError::Config(e.to_string()))?
    else {
        return Ok(None);
    };
    if settings.archiver_id.is_some() && settings.max_lag_ms == 0 {
        tracing::warn!("backup.maxLagMs=0 with backup.archiverId: commits wait only for an archiving leader; the designated member archives within 1 ms of each commit it sees");
    }
    let archiver =
        crate::backup::archiver::ArchiverHandle::start(crate::backup::archiver::ArchiverConfig {
            settings,
            server_id,
            snap_dir: policy.dir.clone(),
            log_dir: policy.log_dir.clone(),
            committed_through: standalone_committed.unwrap_or(0),
            start_active: standalone_committed.is_some(),
        })
        .map_err(|e| RunError::Config(format!("backup.target: {e}")))?;
    policy.archiver = Some(archiver.clone());
    Ok(Some(archiver))
}

/// Starts an ensemble member: the client ports and core task, then the node, which recovers
/// the data directory, elects and syncs, and has the core serve while it may.
async fn start_member(
    mut cfg: Config,
    quorum: crate::quorum::config::QuorumConfig,
    sasl: crate::sasl::SaslConfig,
) -> Result<RunningServer, RunError> {
    let me = quorum
        .me()
        .ok_or_else(|| RunError::Config("this server (myid) is not in the server list".into()))?;
    // The client port of the server line wins over clientPort, as Java's config does.
    if let Some(client) = &me.client_address {
        cfg.client_port = Some(client.port);
        cfg.client_port_address = Some(client.host.clone());
    }
    let my_id = me.id;
    let metrics = Metrics::for_config(&cfg);
    info!(
        myid = my_id,
        members = quorum.verifier.voting_members().count(),
        "starting as an ensemble member"
    );
    let mut policy = recovery::snapshot_policy(&cfg)?;
    // Every member runs an archiver; it archives while its member leads.
    let archiver = start_archiver(&cfg, &mut policy, my_id, None)?;
    // Autopurge runs when the policy says so; the runtime also finds the archiver in it.
    let purge = Some(policy);
    let my_id_byte = u8::try_from(my_id)
        .map_err(|_| RunError::Config(format!("myid {my_id} is not in 1..=255")))?;
    let quorum_size = quorum.verifier.voting_members().count() as i64;
    let (handle, pipeline) = runtime::start_member(
        cfg.clone(),
        sasl,
        purge,
        my_id_byte,
        quorum_size,
        Some(crate::admin_http::EnsembleView::new(
            my_id,
            quorum.verifier.members(),
        )),
        metrics.clone(),
    )
    .await
    .map_err(RunError::Listen)?;
    let node = crate::peer::node::QuorumNode::start_with_archiver(
        cfg,
        quorum,
        Box::new(pipeline),
        metrics,
        archiver,
    )
    .await?;
    let stop = node.stop_token();
    let stopper = handle.stopper();
    let node_task = tokio::spawn(async move {
        let ended = node.wait().await;
        if let Err(e) = &ended {
            tracing::error!(error = %e, "the ensemble member stopped");
        }
        // Without its node, the member cannot serve: the server stops.
        stopper.stop();
        ended
    });
    info!(addr = %handle.local_addr(), "zk-server ready");
    Ok(RunningServer {
        handle,
        startup_snapshot: None,
        node: Some((stop, node_task)),
    })
}

/// [`start`]s the server and serves until `shutdown` completes (then stops it cleanly) or the
/// server fails on its own.
pub async fn run(
    cfg: Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let server = start(cfg, options).await?;
    let stopper = server.stopper();
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down");
        stopper.stop();
    });
    server.wait().await
}

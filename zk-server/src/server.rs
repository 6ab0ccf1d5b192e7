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
use crate::runtime::{self, ServerHandle, Stopper};
use crate::storage::recovery::{self, RecoveryError};
use crate::storage::txnlog::TxnLogWriter;

/// How [`start`] treats the data directory.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Cut the transaction log at a corrupt record instead of refusing to start
    /// (`--truncate-corrupt-log`; what follows the record is lost).
    pub truncate_corrupt_log: bool,
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
}

/// A server started by [`start`]: serving until stopped.
#[derive(Debug)]
pub struct RunningServer {
    handle: ServerHandle,
    startup_snapshot: std::thread::JoinHandle<()>,
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

    /// A handle that stops the server from elsewhere (a signal task, a test).
    pub fn stopper(&self) -> Stopper {
        self.handle.stopper()
    }

    /// Waits until the server stops, then until the startup snapshot is complete, so a clean
    /// stop never leaves it half written.
    pub async fn wait(self) -> Result<(), RunError> {
        let served = self.handle.wait().await;
        let snapshot = self.startup_snapshot;
        let _ = tokio::task::spawn_blocking(move || snapshot.join()).await;
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
    if let Ok(myid) = std::fs::read_to_string(cfg.data_dir.join("myid")) {
        info!(
            myid = myid.trim(),
            "myid found; this server runs standalone (ensembles are not implemented yet)"
        );
    }
    let recovered = recovery::recover(&cfg, options.truncate_corrupt_log)?;
    let log = TxnLogWriter::open(
        &cfg.data_log_dir.join("version-2"),
        cfg.pre_alloc_size_kb(),
        cfg.force_sync(),
    )
    .map_err(RunError::OpenLog)?;
    let handle = runtime::start_with_snapshots(
        cfg,
        recovered.tree,
        Box::new(log),
        Some(recovered.snapshots),
        sasl,
    )
    .await
    .map_err(RunError::Listen)?;
    info!(addr = %handle.local_addr(), "zk-server ready");
    Ok(RunningServer {
        handle,
        startup_snapshot: recovered.startup_snapshot,
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

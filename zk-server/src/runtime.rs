//! The runtime: the only part of the server with sockets, tasks and clocks. One task owns the
//! [`ServerCore`] and handles everything in arrival order; each connection has a reader task
//! (frames in) and a writer task (frames out, batched); a timer ticks session expiry.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info, warn};
use zk_proto::data::Id;
use zk_proto::frame::{ClientFrame, FourLetterWord, FrameError, ServerCodec};

use crate::config::Config;
use crate::core::{Action, ClientRequest, CoreConfig, ServerCore};
use crate::outgoing::{ConnQueue, Counter, Limits, QueuedFrame};
use crate::storage::log::TxnLog;
use crate::tls::SecurePort;
use crate::tree::DataTree;
use crate::watch::ConnId;

mod member;
mod virtual_view;
pub use member::CorePipeline;

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// What connection tasks and timers tell the core task.
enum Input {
    Connect {
        conn: ConnId,
        peer: SocketAddr,
        payload: Bytes,
        /// Ids the transport authenticated (a TLS client certificate's `x509` id).
        auth_ids: Vec<Id>,
        out: mpsc::UnboundedSender<Outbound>,
        /// Fired when the core closes the connection, so a writer stuck on a client that
        /// does not read cannot keep it open.
        kill: oneshot::Sender<()>,
        /// What is queued for the writer, in bytes (bounded, see [`crate::outgoing`]).
        queue: Arc<ConnQueue>,
        /// When the frame was read (monotonic ms since the server started).
        arrived_ms: u64,
    },
    Request {
        conn: ConnId,
        /// Decoded in the connection task, so the core task only decides.
        request: ClientRequest,
        /// When the frame was read: the session counts as alive from then, however long the
        /// request then waits for the core.
        arrived_ms: u64,
    },
    Closed {
        conn: ConnId,
    },
    FourLetterWord {
        word: FourLetterWord,
        stmk_mask: Option<i64>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// A timer tick, stamped when it was due.
    Tick {
        at_ms: u64,
    },
    /// A question of the AdminServer.
    Admin(crate::admin_http::AdminCall),
    /// What `/zookeeper/snapshots` and `/zookeeper/backups` hold now.
    VirtualTree(crate::core::virtual_tree::VirtualTree),
}

/// What a connection's writer receives.
#[derive(Debug)]
enum Outbound {
    /// A frame payload; the codec adds the length prefix.
    Frame(QueuedFrame),
    /// Raw bytes (a four-letter word's answer), then the connection closes.
    RawThenClose(Bytes),
    /// Flush and close.
    Close,
}

/// A running server. Dropping the handle does not stop it; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    secure_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    shutdown: Arc<watch::Sender<bool>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Asks a running server to stop (a clonable part of [`ServerHandle`], e.g. for a signal task).
#[derive(Debug, Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Stops accepting and closes every connection; the server's `wait` then returns.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl ServerHandle {
    /// The address clients connect to: the plain client port, or the secure one when only
    /// `secureClientPort` is configured.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The secure (TLS) client port's address, when `secureClientPort` is configured.
    pub fn secure_local_addr(&self) -> Option<SocketAddr> {
        self.secure_addr
    }

    /// The AdminServer's address, when it runs (`admin.enableServer`, and its port bound).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Prometheus' `/metrics` address, when it is served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// A handle that can stop the server from elsewhere.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shutdown.clone())
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }

    /// Waits until the server stops: after [`Stopper::stop`], or on its own when the
    /// transaction log fails (the error is returned; nothing more may be acknowledged).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match self.done.take() {
            Some(done) => done.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A DIGEST-MD5 challenge nonce as Java's `DigestMD5Server` makes one: 30 random bytes in
/// base64 (40 characters).
fn sasl_nonce() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 30];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The configuration the core takes from zoo.cfg.
pub fn core_config(cfg: &Config) -> CoreConfig {
    CoreConfig {
        server_id: 1,
        tick_ms: u64::from(cfg.tick_time_ms),
        min_session_timeout_ms: cfg.min_session_timeout_ms(),
        max_session_timeout_ms: cfg.max_session_timeout_ms(),
        extended_types: cfg.extended_types_enabled(),
        super_digest: cfg.super_digest().map(str::to_owned),
        skip_acl: cfg.skip_acl(),
        enforce_quota: cfg.enforce_quota(),
        digest_enabled: cfg.digest_enabled(),
        container_check_interval_ms: cfg.container_check_interval_ms(),
        container_max_never_used_ms: cfg.container_max_never_used_interval_ms(),
        max_txn_bytes: cfg.max_txn_bytes(),
        providers: crate::acl::Providers::from_config(cfg),
        sasl: crate::sasl::SaslConfig::default(),
        metrics: crate::metrics::Metrics::for_config(cfg),
        backups_listed: cfg
            .property("zookeeper.backup.target")
            .is_some_and(|t| !t.trim().is_empty()),
    }
}

/// Binds the client port (`clientPortAddress:clientPort`; port 0 picks a free one) and the
/// secure one (`secureClientPortAddress:secureClientPort`, TLS) when configured, and starts
/// serving `tree`, logging txns to `log`. Without either port, clients get port 2181.
pub async fn start(
    cfg: Config,
    tree: DataTree,
    log: Box<dyn TxnLog>,
) -> std::io::Result<ServerHandle> {
    let sasl = crate::sasl::SaslConfig::load(&cfg)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let metrics = crate::metrics::Metrics::for_config(&cfg);
    start_with_snapshots(cfg, tree, log, None, sasl, metrics).await
}

/// Like [`start`], taking snapshots per `snapshots` (a durable server), with the SASL settings
/// already loaded (the caller checked the JAAS file before recovery).
pub async fn start_with_snapshots(
    cfg: Config,
    tree: DataTree,
    log: Box<dyn TxnLog>,
    snapshots: Option<SnapshotPolicy>,
    sasl: crate::sasl::SaslConfig,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> std::io::Result<ServerHandle> {
    let kind = Kind::Standalone {
        tree,
        log,
        snapshots,
    };
    start_kind(cfg, sasl, kind, metrics).await
}

/// Binds the client ports of an ensemble member and starts its core task, which serves
/// while the node ([`crate::peer::node::QuorumNode`], started with the returned pipeline)
/// has it serve. `purge` is autopurge's schedule over the member's data directories.
pub async fn start_member(
    cfg: Config,
    sasl: crate::sasl::SaslConfig,
    purge: Option<SnapshotPolicy>,
    my_id: u8,
    quorum_size: i64,
    ensemble: Option<crate::admin_http::EnsembleView>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> std::io::Result<(ServerHandle, CorePipeline)> {
    let (pipeline, node) = CorePipeline::channel();
    let info = member::MemberInfo {
        quorum_size,
        ensemble,
    };
    let kind = Kind::Member {
        node,
        purge,
        my_id,
        info,
    };
    let handle = start_kind(cfg, sasl, kind, metrics).await?;
    Ok((handle, pipeline))
}

/// What the core task serves from.
#[allow(clippy::large_enum_variant)] // built once per server
enum Kind {
    /// A standalone server: its tree and its own log (a quorum of one).
    Standalone {
        tree: DataTree,
        log: Box<dyn TxnLog>,
        snapshots: Option<SnapshotPolicy>,
    },
    /// An ensemble member: trees and commits come from the node.
    Member {
        node: mpsc::UnboundedReceiver<member::NodeInput>,
        purge: Option<SnapshotPolicy>,
        /// `myid`: the top byte of the session ids this member hands out.
        my_id: u8,
        info: member::MemberInfo,
    },
}

async fn start_kind(
    cfg: Config,
    sasl: crate::sasl::SaslConfig,
    kind: Kind,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> std::io::Result<ServerHandle> {
    // The TLS setup is checked before anything is bound: a bad store stops the start.
    let secure = match cfg.secure_client_port {
        Some(port) => {
            let tls = SecurePort::from_config(&cfg)?;
            let host = cfg
                .secure_client_port_address
                .as_deref()
                .unwrap_or("0.0.0.0");
            let listener = TcpListener::bind((host, port)).await?;
            info!(addr = %listener.local_addr()?, "serving TLS clients");
            Some((listener, tls))
        }
        None => None,
    };
    let plain = match (cfg.client_port, &secure) {
        (None, Some(_)) => None,
        (port, _) => {
            let host = cfg.client_port_address.as_deref().unwrap_or("0.0.0.0");
            let listener = TcpListener::bind((host, port.unwrap_or(2181))).await?;
            info!(addr = %listener.local_addr()?, "serving clients");
            Some(listener)
        }
    };
    let secure_addr = match &secure {
        Some((listener, _)) => Some(listener.local_addr()?),
        None => None,
    };
    let plain_addr = match &plain {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let addr = plain_addr.or(secure_addr).expect("one port is bound");
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_tx = Arc::new(shutdown_tx);
    let started = Instant::now();
    let mut core_cfg = core_config(&cfg);
    core_cfg.sasl = sasl;
    core_cfg.metrics = metrics.clone();
    if let Some(accounts) = &core_cfg.sasl.accounts {
        info!(users = ?accounts.users(), "SASL DIGEST-MD5 enabled on the client port");
    }
    // Bounded by globalOutstandingLimit: when the core falls behind, connection readers wait
    // and TCP pushes back on the clients (Java stops reading from connections likewise).
    let (input_tx, input_rx) = mpsc::channel(cfg.global_outstanding_limit().max(1) as usize);
    let ensemble = match &kind {
        Kind::Member { info, .. } => info.ensemble.clone(),
        Kind::Standalone { .. } => None,
    };
    let mut admin = crate::fourlw::AdminContext::new(&cfg, plain_addr.map_or(0, |a| a.port()));
    admin.conf.client_port = plain_addr.map_or(-1, |a| i32::from(a.port()));
    admin.conf.secure_client_port = secure_addr.map_or(-1, |a| i32::from(a.port()));
    admin.metrics = metrics.clone();
    let policy_archiver = |p: &Option<SnapshotPolicy>| p.as_ref().and_then(|p| p.archiver.clone());
    let archiver = match &kind {
        Kind::Standalone { snapshots, .. } => policy_archiver(snapshots),
        Kind::Member { purge, .. } => policy_archiver(purge),
    };
    admin.archiver = archiver.clone();
    let sink = virtual_view::SnapshotSink {
        dir: cfg.data_dir.join("version-2"),
        compression: crate::storage::snapshot::Compression::from_config(cfg.snapshot_compression())
            .unwrap_or_default(),
        metrics: metrics.clone(),
        archiver: archiver.clone(),
    };
    virtual_view::spawn_refresh(
        sink.dir.clone(),
        archiver.clone(),
        input_tx.clone(),
        shutdown_rx.clone(),
    );
    let (snapshots, run): (Option<SnapshotPolicy>, BoxFuture<std::io::Result<()>>) = match kind {
        Kind::Standalone {
            tree,
            log,
            snapshots,
        } => {
            let mut core = ServerCore::new(core_cfg, tree, 0, wall_ms() as u64);
            core.set_sasl_nonce_source(Box::new(sasl_nonce));
            let run = run_core(
                core,
                log,
                input_rx,
                started,
                admin,
                (snapshots.clone(), sink),
            );
            (snapshots, Box::pin(run))
        }
        Kind::Member {
            node,
            purge,
            my_id,
            info,
        } => {
            core_cfg.server_id = my_id;
            let run = member::run_member_core(
                core_cfg,
                input_rx,
                node,
                started,
                admin,
                sasl_nonce,
                (info, sink),
            );
            (purge, Box::pin(run))
        }
    };
    let core_task = {
        let stop = shutdown_tx.clone();
        tokio::spawn(async move {
            let result = run.await;
            // Whatever ended the core ends the server: a port that accepts connections
            // nobody serves would only close each one.
            let _ = stop.send(true);
            result
        })
    };
    let tick_every = Duration::from_millis(u64::from(cfg.tick_time_ms).max(2) / 2);
    let ticker = {
        let input_tx = input_tx.clone();
        let mut shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick_every);
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => break,
                    _ = interval.tick() => {
                        let at_ms = started.elapsed().as_millis() as u64;
                        if input_tx.send(Input::Tick { at_ms }).await.is_err() { break }
                    }
                }
            }
        })
    };
    if let Some(policy) = &snapshots {
        if let Some((every, retain)) = policy.purge {
            let (snap_dir, log_dir) = (policy.dir.clone(), policy.log_dir.clone());
            let archived = policy.archiver.as_ref().map(|a| a.status().clone());
            let mut shutdown = shutdown_rx.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        biased;
                        _ = shutdown.changed() => break,
                        _ = interval.tick() => {}
                    }
                    let (s, l) = (snap_dir.clone(), log_dir.clone());
                    // Nothing the archive lacks is purged (nothing at all before it was read).
                    let keep = archived.as_ref().map(|a| crate::storage::ArchivedThrough {
                        log_zxid: a.archived_zxid().unwrap_or(-1),
                        snapshot_zxid: a.archived_snapshot_zxid().unwrap_or(-1),
                    });
                    match tokio::task::spawn_blocking(move || {
                        crate::storage::purge(&s, &l, retain, keep)
                    })
                    .await
                    {
                        Ok(Ok(deleted)) if !deleted.is_empty() => {
                            info!(files = deleted.len(), "purged old snapshots and logs")
                        }
                        Ok(Err(e)) => warn!(error = %e, "purge failed"),
                        _ => {}
                    }
                }
            });
        }
    }
    let settings = ConnSettings {
        max_per_ip: cfg.max_client_cnxns,
        max_frame_len: cfg.jute_max_buffer(),
        sessionless_timeout: Duration::from_millis(cfg.sessionless_cnxn_timeout_ms()),
        started,
        limits: Limits::from_config(&cfg),
        queued_total: Arc::new(Counter::default()),
        next_conn: Arc::new(AtomicU64::new(1)),
    };
    let listeners = plain
        .map(|l| (l, None))
        .into_iter()
        .chain(secure.map(|(l, tls)| (l, Some(tls))));
    let accepts: Vec<_> = listeners
        .map(|(listener, tls)| {
            tokio::spawn(accept_loop(
                listener,
                tls,
                input_tx.clone(),
                shutdown_rx.clone(),
                settings.clone(),
            ))
        })
        .collect();
    let admin = start_admin(
        &cfg,
        &input_tx,
        &shutdown_rx,
        ensemble,
        &metrics,
        (plain_addr, archiver),
    )
    .await;
    let admin_addr = admin
        .as_ref()
        .map(crate::admin_http::AdminServer::local_addr);
    let prometheus = start_metrics(&cfg, &input_tx, &shutdown_rx, &metrics).await;
    let metrics_addr = prometheus
        .as_ref()
        .map(crate::admin_http::MetricsServer::local_addr);
    drop(input_tx);
    let done = tokio::spawn(async move {
        for accept in accepts {
            let _ = accept.await;
        }
        if let Some(admin) = admin {
            admin.wait().await;
        }
        if let Some(prometheus) = prometheus {
            prometheus.wait().await;
        }
        let _ = ticker.await;
        // The accept loop dropped its sender and every connection task ends with the core.
        core_task.await.map_err(std::io::Error::other)?
    });
    Ok(ServerHandle {
        addr,
        secure_addr,
        admin_addr,
        metrics_addr,
        shutdown: shutdown_tx,
        done: Some(done),
    })
}

/// A [`crate::admin_http::CoreLink`] whose questions are forwarded to the core's input queue
/// until the server stops.
fn core_link(
    input_tx: &mpsc::Sender<Input>,
    shutdown: &watch::Receiver<bool>,
) -> crate::admin_http::CoreLink {
    let (link, mut calls) = crate::admin_http::CoreLink::new(64);
    let input_tx = input_tx.clone();
    let mut shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let call = tokio::select! {
                call = calls.recv() => match call { Some(c) => c, None => break },
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            };
            if input_tx.send(Input::Admin(call)).await.is_err() {
                break;
            }
        }
    });
    link
}

/// Starts the AdminServer (unless `admin.enableServer=false`). A port that cannot be bound is
/// logged, and the server serves clients without it.
async fn start_admin(
    cfg: &Config,
    input_tx: &mpsc::Sender<Input>,
    shutdown: &watch::Receiver<bool>,
    ensemble: Option<crate::admin_http::EnsembleView>,
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
    (client_addr, archiver): (
        Option<SocketAddr>,
        Option<crate::backup::archiver::ArchiverHandle>,
    ),
) -> Option<crate::admin_http::AdminServer> {
    let settings = crate::admin_http::AdminSettings::from_config(cfg);
    if !settings.enabled {
        info!("admin.enableServer=false: no AdminServer");
        return None;
    }
    let link = core_link(input_tx, shutdown);
    let started = match crate::admin_http::AdminState::new(cfg, link, ensemble, metrics.clone()) {
        Ok(mut state) => {
            state.client_addr = client_addr;
            state.archiver = archiver;
            crate::admin_http::AdminServer::start(state, shutdown.clone()).await
        }
        Err(e) => Err(e),
    };
    match started {
        Ok(admin) => admin,
        Err(e) => {
            tracing::error!(
                address = %settings.address, port = settings.port, error = %e,
                "cannot start the AdminServer; serving clients without it"
            );
            None
        }
    }
}

/// Starts Prometheus' `/metrics` when `metricsProvider.className` asks for it. A port that
/// cannot be bound is logged, and the server serves clients without it.
async fn start_metrics(
    cfg: &Config,
    input_tx: &mpsc::Sender<Input>,
    shutdown: &watch::Receiver<bool>,
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
) -> Option<crate::admin_http::MetricsServer> {
    let settings = crate::metrics::PrometheusSettings::from_config(cfg)?;
    let link = core_link(input_tx, shutdown);
    match crate::admin_http::MetricsServer::start(
        &settings,
        link,
        metrics.clone(),
        shutdown.clone(),
    )
    .await
    {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::error!(
                host = %settings.host, port = settings.port, error = %e,
                "cannot serve Prometheus metrics; serving clients without them"
            );
            None
        }
    }
}

/// Inputs handled before one log sync, at most: group commit without starving the writers.
const MAX_BATCH: usize = 1024;

/// Snapshot settings of a durable server.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// `<dataDir>/version-2`.
    pub dir: std::path::PathBuf,
    /// Txns between snapshots (`snapCount`); Java randomises the point in [snapCount/2,
    /// snapCount) so ensemble members do not all snapshot at once.
    pub snap_count: u64,
    /// How snapshots are compressed.
    pub compression: crate::storage::snapshot::Compression,
    /// `<dataLogDir>/version-2`.
    pub log_dir: std::path::PathBuf,
    /// autopurge: how often, and how many snapshots to keep (`autopurge.purgeInterval` in
    /// hours, `autopurge.snapRetainCount`); `None` when purging is off (interval 0).
    pub purge: Option<(Duration, usize)>,
    /// `snapshot.intervalMs`: a snapshot at least this often while txns come in (0: only by
    /// `snapCount`).
    pub interval_ms: u64,
    /// Continuous archiving (`backup.target`), if on.
    pub archiver: Option<crate::backup::archiver::ArchiverHandle>,
}

async fn run_core(
    mut core: ServerCore,
    mut log: Box<dyn TxnLog>,
    mut inputs: mpsc::Receiver<Input>,
    started: Instant,
    mut admin: crate::fourlw::AdminContext,
    (snapshots, sink): (Option<SnapshotPolicy>, virtual_view::SnapshotSink),
) -> std::io::Result<()> {
    let mut outs: Outs = HashMap::new();
    let now_ms = || started.elapsed().as_millis() as u64;
    let mut schedule = snapshots
        .as_ref()
        .map(|p| crate::storage::schedule::SnapshotSchedule::new(p.snap_count, p.interval_ms));
    let mut snapshot_running: Option<tokio::task::JoinHandle<std::io::Result<std::path::PathBuf>>> =
        None;
    let archiver = snapshots.as_ref().and_then(|p| p.archiver.clone());
    // What was logged, for the archiver once it is durable (standalone: committed).
    let mut logged: Option<Vec<Arc<zk_proto::txn::TxnEntry>>> =
        archiver.as_ref().map(|_| Vec::new());
    // backup.maxLagMs=0: replies also wait until the archive holds their txns.
    let mut archived = archiver
        .as_ref()
        .filter(|a| a.is_synchronous())
        .map(|a| a.archived_watch());
    loop {
        let waiting_for_archive = archived.is_some() && !core.is_idle();
        let first = tokio::select! {
            biased;
            input = inputs.recv() => match input {
                Some(input) => Some(input),
                None => break,
            },
            gone = archive_moved(&mut archived), if waiting_for_archive => {
                if gone {
                    tracing::error!("the archiver stopped; replies no longer wait for the archive");
                    archived = None;
                }
                None
            }
        };
        let mut actions = Vec::new();
        let mut next = first;
        let mut handled = 0;
        while let Some(input) = next.take() {
            actions.extend(client_input(
                &mut core,
                input,
                &mut outs,
                &mut admin,
                now_ms(),
            ));
            handled += 1;
            if handled < MAX_BATCH {
                next = inputs.try_recv().ok();
            }
        }
        core.flush_metrics();
        // Nothing of this batch's txns leaves the server before they are durable: the core
        // returns their replies and events only once the log reports them flushed (group
        // commit: one flush per batch, and one more for what the commits released).
        let mut sends = Vec::with_capacity(actions.len());
        let mut appended = append_logged(&mut *log, actions, &mut sends, logged.as_mut())?;
        while !core.is_idle() {
            let durable = log.flush().inspect_err(|e| {
                tracing::error!(error = %e, "cannot sync the transaction log; stopping");
            })?;
            if let (Some(archiver), Some(logged)) = (&archiver, logged.as_mut()) {
                archiver.committed(std::mem::take(logged));
            }
            let through = match &archived {
                Some(archived) => durable.min(*archived.borrow()),
                None => durable,
            };
            // Replies released now count their wait for the fsync (and the archive).
            core.set_clock(now_ms());
            let committed = core.commit_through(through, wall_ms());
            let released = append_logged(&mut *log, committed, &mut sends, logged.as_mut())?;
            appended += released;
            if through < durable && released == 0 {
                // The rest waits for the archive (the select above wakes when it moves).
                break;
            }
        }
        if snapshot_running.as_ref().is_some_and(|h| h.is_finished()) {
            let done = snapshot_running.take().expect("checked");
            // Java exits when a snapshot cannot be written; so do we (a supervisor restarts
            // the server, which recovers from the log).
            let path = report_snapshot(done.await)?;
            if let Some(archiver) = &archiver {
                archiver.snapshot_written(path);
            }
        }
        if let (Some(policy), Some(schedule)) = (&snapshots, schedule.as_mut()) {
            schedule.logged(appended);
            if schedule.due() && snapshot_running.is_none() {
                schedule.started();
                // The next txn opens a new log file, as Java's rollLog when a snapshot starts.
                log.roll()?;
                let (zxid, tree) = core.snapshot_view();
                let policy = policy.clone();
                let metrics = core.metrics().clone();
                snapshot_running = Some(tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    let written = crate::storage::snapshot::write_timed_snapshot(
                        &policy.dir,
                        zxid,
                        &tree,
                        policy.compression,
                        &metrics,
                    );
                    info!(
                        nodes = tree.node_count(),
                        ms = started.elapsed().as_millis() as u64,
                        "snapshot serialized"
                    );
                    written
                }));
            }
        }
        sink.take_requested(&mut sends);
        deliver(&mut outs, sends);
    }
    if let Some(h) = snapshot_running.take() {
        let path = report_snapshot(h.await)?;
        if let Some(archiver) = &archiver {
            archiver.snapshot_written(path);
        }
    }
    if let Some(archiver) = &archiver {
        archiver.close(Duration::from_secs(10)).await;
    }
    debug!("core task done");
    Ok(())
}

/// Waits until the archived zxid moves; true when the archiver is gone (never with `None`,
/// which never resolves).
async fn archive_moved(archived: &mut Option<watch::Receiver<i64>>) -> bool {
    match archived {
        Some(rx) => rx.changed().await.is_err(),
        None => std::future::pending().await,
    }
}

/// What a connection task, a timer or a four-letter word asks of the core.
fn client_input(
    core: &mut ServerCore,
    input: Input,
    outs: &mut Outs,
    admin: &mut crate::fourlw::AdminContext,
    now_ms: u64,
) -> Vec<Action> {
    core.set_clock(now_ms);
    match input {
        Input::Connect {
            conn,
            peer,
            payload,
            auth_ids,
            out,
            kill,
            queue,
            arrived_ms,
        } => {
            outs.insert(conn, (out, kill, queue));
            core.connect(conn, peer, &payload, auth_ids, arrived_ms, wall_ms())
        }
        Input::Request {
            conn,
            request,
            arrived_ms,
        } => core.request(conn, request, arrived_ms, wall_ms()),
        Input::Closed { conn } => {
            core.disconnected(conn);
            outs.remove(&conn);
            Vec::new()
        }
        Input::FourLetterWord {
            word,
            stmk_mask,
            reply,
        } => {
            match crate::fourlw::answer(core, admin, word, stmk_mask, now_ms, wall_ms()) {
                crate::fourlw::Answer::Now(bytes) => {
                    let _ = reply.send(bytes);
                }
                crate::fourlw::Answer::Later(format) => {
                    tokio::task::spawn_blocking(move || {
                        let _ = reply.send(format());
                    });
                }
            }
            Vec::new()
        }
        Input::Tick { at_ms } => core.tick(at_ms, wall_ms()),
        Input::Admin(call) => crate::fourlw::admin_call(core, admin, call, now_ms, wall_ms()),
        Input::VirtualTree(tree) => {
            core.set_virtual_tree(tree);
            Vec::new()
        }
    }
}

/// Performs the sends and closes of the core's actions, in order.
fn deliver(outs: &mut Outs, sends: Vec<Action>) {
    for action in sends {
        match action {
            // Routed before delivery: to the local log, or to the node.
            Action::Log(_)
            | Action::Forward { .. }
            | Action::Revalidate { .. }
            | Action::Snapshot { .. } => {
                debug_assert!(false, "{action:?} reached delivery");
            }
            Action::Send { conn, payload } => {
                let Some((out, _, queue)) = outs.get(&conn) else {
                    continue;
                };
                let _ = out.send(Outbound::Frame(queue.frame(payload)));
                if queue.over_limit() {
                    warn!(
                        conn,
                        queued_bytes = queue.bytes(),
                        "the client does not read what is sent to it; closing the connection"
                    );
                    close(outs, conn);
                }
            }
            Action::Close { conn } => close(outs, conn),
        }
    }
}

/// Appends the txns among `actions` to the log, in order, and moves the rest to `sends`;
/// returns how many txns were appended. A failed append stops the server (Java exits), as
/// acknowledging anything more could lose it.
fn append_logged(
    log: &mut dyn TxnLog,
    actions: Vec<Action>,
    sends: &mut Vec<Action>,
    logged: Option<&mut Vec<Arc<zk_proto::txn::TxnEntry>>>,
) -> std::io::Result<u64> {
    let mut appended = 0;
    let mut logged = logged;
    for action in actions {
        match action {
            Action::Log(entry) => {
                log.append(&entry).inspect_err(|e| {
                    tracing::error!(error = %e, "cannot write the transaction log; stopping");
                })?;
                appended += 1;
                if let Some(logged) = logged.as_mut() {
                    logged.push(entry);
                }
            }
            other => sends.push(other),
        }
    }
    Ok(appended)
}

/// Each connection's writer queue, its kill switch and its byte count.
type Outs = HashMap<
    ConnId,
    (
        mpsc::UnboundedSender<Outbound>,
        oneshot::Sender<()>,
        Arc<ConnQueue>,
    ),
>;

/// Closes a connection after what is queued for it; its reader stops at once.
fn close(outs: &mut Outs, conn: ConnId) {
    if let Some((out, kill, _)) = outs.remove(&conn) {
        let _ = out.send(Outbound::Close);
        let _ = kill.send(());
    }
}

/// Logs a finished snapshot; a failed one is an error that stops the server.
fn report_snapshot(
    done: Result<std::io::Result<std::path::PathBuf>, tokio::task::JoinError>,
) -> std::io::Result<std::path::PathBuf> {
    match done {
        Ok(Ok(path)) => {
            info!(path = %path.display(), "snapshot written");
            Ok(path)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot write a snapshot; stopping (the log holds every txn)");
            Err(e)
        }
        Err(e) => {
            tracing::error!(error = %e, "the snapshot task failed; stopping");
            Err(std::io::Error::other(e))
        }
    }
}

/// What every connection task needs from the server.
#[derive(Clone)]
struct ConnSettings {
    /// `maxClientCnxns`: connections per client address (0: no limit).
    max_per_ip: u32,
    /// `jute.maxbuffer`.
    max_frame_len: usize,
    /// How long a connection may take to send its handshake.
    sessionless_timeout: Duration,
    /// The server's start: arrival times are ms since then, as the core's clock.
    started: Instant,
    /// Bounds on what is queued for clients.
    limits: Limits,
    /// Bytes queued for all connections.
    queued_total: Arc<Counter>,
    /// The next connection id (shared by the plain and the secure port).
    next_conn: Arc<AtomicU64>,
}

/// Accepts on one client port; with `tls`, each connection does its TLS handshake first.
/// Each port counts `maxClientCnxns` on its own, as each of Java's connection factories does.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<SecurePort>,
    inputs: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
    settings: ConnSettings,
) {
    let max_per_ip = settings.max_per_ip;
    let per_ip: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::default();
    loop {
        let (stream, peer) = tokio::select! {
            // Polled in this order, so a stop wins over a waiting connection (and runs repeat).
            biased;
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let ip = peer.ip();
        {
            let mut counts = per_ip.lock().expect("per-ip lock");
            let count = counts.entry(ip).or_insert(0);
            if max_per_ip > 0 && *count >= max_per_ip {
                warn!(%ip, max_per_ip, "too many connections from this address (maxClientCnxns); closing");
                continue;
            }
            *count += 1;
        }
        let conn: ConnId = settings.next_conn.fetch_add(1, Ordering::Relaxed);
        let inputs = inputs.clone();
        let per_ip = per_ip.clone();
        let shutdown = shutdown.clone();
        let settings = settings.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => {
                    let (read_half, write_half) = stream.into_split();
                    let io = (read_half, write_half, Vec::new());
                    serve_connection(conn, io, peer, inputs, shutdown, settings).await;
                }
                Some(tls) => match tls.accept(stream).await {
                    Ok((stream, auth_ids)) => {
                        let (read_half, write_half) = tokio::io::split(stream);
                        let io = (read_half, write_half, auth_ids);
                        serve_connection(conn, io, peer, inputs, shutdown, settings).await;
                    }
                    Err(e) => {
                        warn!(conn, %peer, error = %e, "TLS handshake failed; closing")
                    }
                },
            }
            let mut counts = per_ip.lock().expect("per-ip lock");
            if let Some(c) = counts.get_mut(&ip) {
                *c -= 1;
                if *c == 0 {
                    counts.remove(&ip);
                }
            }
        });
    }
}

/// Serves one connection: `io` is its read and write halves (plain TCP or TLS) and the ids
/// the transport authenticated.
async fn serve_connection<R, W>(
    conn: ConnId,
    io: (R, W, Vec<Id>),
    peer: SocketAddr,
    inputs: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
    settings: ConnSettings,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (read_half, write_half, transport_ids) = io;
    let mut transport_ids = Some(transport_ids);
    let max_frame_len = settings.max_frame_len;
    let arrived_ms = || settings.started.elapsed().as_millis() as u64;
    let queue = ConnQueue::new(settings.queued_total.clone(), settings.limits);
    let mut reader = FramedRead::new(read_half, ServerCodec::new(max_frame_len));
    let mut writer = FramedWrite::new(write_half, ServerCodec::new(max_frame_len));
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outbound>();
    let mut out_tx = Some(out_tx);
    let mut registered = false;
    let mut writer_done = false;
    let (kill_tx, mut kill_rx) = oneshot::channel::<()>();
    let mut kill_tx = Some(kill_tx);
    // Java closes a connection that has not completed its handshake in time.
    let handshake_deadline = tokio::time::sleep(settings.sessionless_timeout);
    tokio::pin!(handshake_deadline);
    // Writer: batches whatever is queued into one flush.
    let mut writer_task = tokio::spawn(async move {
        while let Some(first) = out_rx.recv().await {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Outbound::Frame(frame) => {
                        if writer.feed(frame).await.is_err() {
                            return;
                        }
                    }
                    Outbound::RawThenClose(bytes) => {
                        let _ = SinkExt::<QueuedFrame>::flush(&mut writer).await;
                        let _ = writer.get_mut().write_all(&bytes).await;
                        let _ = writer.get_mut().shutdown().await;
                        return;
                    }
                    Outbound::Close => {
                        let _ = SinkExt::<QueuedFrame>::flush(&mut writer).await;
                        let _ = writer.get_mut().shutdown().await;
                        return;
                    }
                }
                next = out_rx.try_recv().ok();
            }
            if SinkExt::<QueuedFrame>::flush(&mut writer).await.is_err() {
                return;
            }
        }
    });
    // Requests read wait here until the connection may be served; while it is paused (its
    // replies pile up) up to one frame's worth of bytes: reading on a little lets a client's
    // EOF be seen (Java closes on EOF), and beyond that TCP pushes back.
    let mut stash: VecDeque<(Bytes, u64)> = VecDeque::new();
    let mut stash_bytes = 0usize;
    loop {
        let paused = registered && !queue.may_read();
        if !paused && !stash.is_empty() {
            let mut gone = false;
            while let Some((payload, arrived_ms)) = stash.pop_front() {
                let request = Input::Request {
                    conn,
                    request: crate::core::decode_request(payload),
                    arrived_ms,
                };
                if inputs.send(request).await.is_err() {
                    gone = true;
                    break;
                }
            }
            stash_bytes = 0;
            if gone {
                break;
            }
            continue;
        }
        let may_read_more = !paused || stash_bytes < max_frame_len;
        let frame = tokio::select! {
            // A fixed order, so runs repeat. A frame that is ready is taken first, so the
            // other branches are polled only when the connection waits for data.
            biased;
            frame = reader.next(), if may_read_more => frame,
            _ = shutdown.changed() => break,
            // The core closed the connection; the writer may be stuck on a full socket.
            _ = &mut kill_rx, if registered => break,
            // The writer closed the connection (the core said so): stop reading too.
            _ = &mut writer_task => {
                writer_done = true;
                break;
            }
            () = &mut handshake_deadline, if !registered => {
                debug!(conn, %peer, "no handshake in time; closing");
                break;
            }
            // A client that does not read what it is sent is not read from either.
            () = queue.wait_until_readable(), if paused => continue,
        };
        // A client that never stops sending keeps the reader branch ready: endings are
        // checked after each frame too.
        if (registered && !matches!(kill_rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)))
            || shutdown.has_changed().unwrap_or(true)
        {
            break;
        }
        match frame {
            None => break,
            Some(Err(FrameError::LengthOutOfRange { len, max })) => {
                warn!(conn, %peer, len, max, "frame length out of range (jute.maxbuffer); closing");
                break;
            }
            Some(Err(FrameError::Io(e))) => {
                debug!(conn, %peer, error = %e, "connection read failed");
                break;
            }
            Some(Ok(ClientFrame::FourLetterWord { word, stmk_mask })) => {
                let (tx, rx) = oneshot::channel();
                if inputs
                    .send(Input::FourLetterWord {
                        word,
                        stmk_mask,
                        reply: tx,
                    })
                    .await
                    .is_ok()
                {
                    if let (Ok(answer), Some(out)) = (rx.await, out_tx.take()) {
                        let _ = out.send(Outbound::RawThenClose(Bytes::from(answer)));
                    }
                }
                break;
            }
            Some(Ok(ClientFrame::Connect(payload))) => {
                let Some(out) = out_tx.take() else { break };
                registered = true;
                let Some(kill) = kill_tx.take() else { break };
                if inputs
                    .send(Input::Connect {
                        conn,
                        peer,
                        payload,
                        auth_ids: transport_ids.take().unwrap_or_default(),
                        out,
                        kill,
                        queue: queue.clone(),
                        arrived_ms: arrived_ms(),
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Some(Ok(ClientFrame::Request(payload))) => {
                // In order, through the stash: sent on at the top of the loop unless paused.
                stash_bytes += payload.len();
                stash.push_back((payload, arrived_ms()));
            }
        }
    }
    if registered {
        // The core drops its sender for this connection, which ends the writer.
        let _ = inputs.send(Input::Closed { conn }).await;
    }
    drop(out_tx);
    if !writer_done {
        // Queued replies get a moment to go out; a client that does not read gets cut off.
        if tokio::time::timeout(Duration::from_secs(1), &mut writer_task)
            .await
            .is_err()
        {
            debug!(conn, %peer, "writer still blocked; dropping the connection");
            writer_task.abort();
        }
    }
}

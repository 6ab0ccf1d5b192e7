//! One member's database on disk and in memory (Java's `ZKDatabase` with its
//! `FileTxnSnapLog`): the tree, the txn log, snapshots, the epoch files and the committed log a
//! leader syncs learners from.
//!
//! Loading is [`recovery::recover`], the standalone server's: the newest snapshot plus the log
//! after it (a fresh snapshot of the result is written, as the standalone server does; Java
//! writes one when it starts leading or syncs).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{info, warn};
use zk_proto::txn::TxnEntry;

use crate::config::Config;
use crate::quorum::epoch::{self, ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME};
use crate::quorum::leader::{DiskHistory, COMMIT_LOG_COUNT};
use crate::quorum::sync::{txn_log_within_limit, DiskLogReach};
use crate::storage::log::TxnLog;
use crate::storage::recovery;
use crate::storage::snapshot::{self, Compression};
use crate::storage::txnlog::{self, TxnLogWriter};
use crate::tree::DataTree;

use super::NodeError;

/// Java's default `zookeeper.snapshotSizeFactor`.
const DEFAULT_SNAPSHOT_SIZE_FACTOR: f64 = 0.33;

/// The txn log, shared with the leader core's [`DiskHistory`] (which only reads it).
pub(super) type SharedLog = Arc<Mutex<TxnLogWriter>>;

fn lock(log: &SharedLog) -> MutexGuard<'_, TxnLogWriter> {
    // A panic while holding the lock leaves the writer as usable as any IO error would.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

fn fatal(what: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Storage(format!("{what}: {e}"))
}

/// The database of one member.
#[derive(Debug)]
pub(super) struct Database {
    cfg: Config,
    snap_dir: PathBuf,
    log_dir: PathBuf,
    compression: Compression,
    log: SharedLog,
    /// `None` while the serving side holds the tree (see `serving.rs`).
    tree: Option<DataTree>,
    /// What `/zookeeper/config` holds while serving ([`Database::set_config_node`]).
    config_node: Option<(String, i64)>,
    /// Java's `committedLog`: the newest applied txns, at most [`COMMIT_LOG_COUNT`] + 1.
    committed_log: VecDeque<Arc<TxnEntry>>,
    /// Txns appended to the log and not seen committed yet, oldest first: what
    /// [`Database::fast_forward`] applies when a role ends (the log holds the same txns; this
    /// saves reading them back from the files at every failover).
    logged_uncommitted: VecDeque<Arc<TxnEntry>>,
    /// `acceptedEpoch`.
    pub accepted_epoch: i64,
    /// `currentEpoch`.
    pub current_epoch: i64,
    /// When the next snapshot is due (txns logged since the last one began, the clock).
    schedule: crate::storage::schedule::SnapshotSchedule,
    /// The snapshot being written while serving, if one is.
    snapshot_running: Option<std::thread::JoinHandle<io::Result<PathBuf>>>,
    /// Where snapshot times go (`snapshottime`).
    metrics: Arc<crate::metrics::Metrics>,
    /// `backup.target`: it hears of commits while this member leads, and of every snapshot.
    pub archiver: Option<crate::backup::archiver::ArchiverHandle>,
}

impl Database {
    /// Loads the data directories of `cfg`: tree, log, committed log, epoch files.
    pub(super) fn open(cfg: &Config) -> Result<Database, NodeError> {
        let snap_dir = cfg.data_dir.join("version-2");
        let log_dir = cfg.data_log_dir.join("version-2");
        let compression = Compression::from_config(cfg.snapshot_compression())
            .map_err(|e| NodeError::Config(format!("snapshot.compression.method: {e}")))?;
        // Recovery first: it may cut a torn tail off the log, which the writer then opens on.
        let (tree, replayed) = recover_tree(cfg)?;
        let log = TxnLogWriter::open(&log_dir, cfg.pre_alloc_size_kb(), cfg.force_sync())
            .map_err(|e| fatal("opening the txn log", e))?;
        let mut db = Database {
            cfg: cfg.clone(),
            snap_dir,
            log_dir,
            compression,
            log: Arc::new(Mutex::new(log)),
            tree: Some(tree),
            config_node: None,
            committed_log: VecDeque::new(),
            logged_uncommitted: VecDeque::new(),
            accepted_epoch: 0,
            current_epoch: 0,
            schedule: crate::storage::schedule::SnapshotSchedule::new(
                cfg.snap_count(),
                cfg.snapshot_interval_ms(),
            ),
            snapshot_running: None,
            metrics: crate::metrics::Metrics::new(false),
            archiver: None,
        };
        db.fill_committed_log(replayed);
        let lpz = db.tree().last_processed_zxid();
        let epochs = epoch::load_epochs(&db.snap_dir, lpz).map_err(|e| fatal("epoch files", e))?;
        // The repairs the loader decided on (a missing file, currentEpoch.tmp, the
        // updatingEpoch marker) are written before anything else happens.
        for (name, value) in &epochs.writes {
            epoch::write_epoch_file(&db.snap_dir, name, *value)
                .map_err(|e| fatal(&format!("writing {name}"), e))?;
        }
        if epochs.delete_updating {
            epoch::delete_updating_epoch_file(&db.snap_dir)
                .map_err(|e| fatal("removing updatingEpoch", e))?;
        }
        db.accepted_epoch = epochs.accepted;
        db.current_epoch = epochs.current;
        info!(
            last_zxid = %format_args!("{lpz:#x}"),
            accepted_epoch = epochs.accepted,
            current_epoch = epochs.current,
            committed_log = db.committed_log.len(),
            "database loaded"
        );
        Ok(db)
    }

    /// Reloads the tree from the newest snapshot and the log.
    pub(super) fn reload(&mut self) -> Result<(), NodeError> {
        let (tree, replayed) = recover_tree(&self.cfg)?;
        self.tree = Some(tree);
        self.fill_committed_log(replayed);
        Ok(())
    }

    /// The committed log after a load: the txns recovery replayed after the snapshot it
    /// loaded (Java's `commitProposalPlaybackListener`).
    fn fill_committed_log(&mut self, replayed: Vec<TxnEntry>) {
        // The tree holds everything logged: nothing is left to fast-forward over.
        self.logged_uncommitted.clear();
        self.committed_log.clear();
        for entry in replayed {
            push_bounded(&mut self.committed_log, Arc::new(entry));
        }
    }

    /// The tree; the node holds it whenever this is called.
    pub(super) fn tree(&self) -> &DataTree {
        self.tree.as_ref().expect("the node holds the tree")
    }

    fn tree_mut(&mut self) -> &mut DataTree {
        self.tree.as_mut().expect("the node holds the tree")
    }

    /// The membership `/zookeeper/config` shows while serving (the config text and its
    /// version).
    pub(super) fn set_config_node(&mut self, text: String, version: i64) {
        self.config_node = Some((text, version));
    }

    /// Hands the tree to the serving side, with this member's config in `/zookeeper/config`
    /// (a SNAP brings the leader's; Java's learner puts its own back, as here).
    pub(super) fn take_tree(&mut self) -> DataTree {
        let mut tree = self.tree.take().expect("the node holds the tree");
        if let Some((text, version)) = &self.config_node {
            let wall_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            tree.init_config(text, *version, wall_ms);
        }
        tree
    }

    /// The tree comes back from the serving side.
    pub(super) fn put_tree(&mut self, tree: DataTree) {
        self.tree = Some(tree);
    }

    /// Whether the node holds the tree (it does unless serving).
    pub(super) fn has_tree(&self) -> bool {
        self.tree.is_some()
    }

    /// The committed log, oldest first.
    pub(super) fn committed_log(&self) -> Vec<Arc<TxnEntry>> {
        self.committed_log.iter().cloned().collect()
    }

    /// A txn committed while the serving side holds the tree.
    pub(super) fn note_committed(&mut self, entry: Arc<TxnEntry>) {
        self.committed(entry);
    }

    /// Applies a committed txn to the tree the node holds.
    pub(super) fn apply(&mut self, entry: Arc<TxnEntry>) {
        self.tree_mut().apply(&entry.header, &entry.txn);
        self.committed(entry);
    }

    fn committed(&mut self, entry: Arc<TxnEntry>) {
        let zxid = entry.header.zxid;
        while self
            .logged_uncommitted
            .front()
            .is_some_and(|e| e.header.zxid <= zxid)
        {
            self.logged_uncommitted.pop_front();
        }
        push_bounded(&mut self.committed_log, entry);
    }

    /// Appends a txn to the log (buffered until [`Database::flush`]).
    pub(super) fn append(&mut self, entry: &Arc<TxnEntry>) -> Result<(), NodeError> {
        self.schedule.logged(1);
        lock(&self.log)
            .append(entry)
            .map_err(|e| fatal("appending to the txn log", e))?;
        self.logged_uncommitted.push_back(entry.clone());
        Ok(())
    }

    /// Makes the log durable; the zxid it is durable up to.
    pub(super) fn flush(&mut self) -> Result<i64, NodeError> {
        TxnLog::flush(&mut *lock(&self.log)).map_err(|e| fatal("flushing the txn log", e))
    }

    /// Writes the appended txns out and takes the fsyncs that make them durable, to run off
    /// the node's task ([`super::LogFlush`]); report the zxid with [`Database::flush_done`].
    pub(super) fn begin_flush(&mut self) -> Result<txnlog::PendingSync, NodeError> {
        lock(&self.log)
            .begin_sync()
            .map_err(|e| fatal("flushing the txn log", e))
    }

    /// The txns through `zxid` are durable.
    pub(super) fn flush_done(&mut self, zxid: i64) {
        lock(&self.log).sync_done(zxid);
    }

    /// The durable txns `after < zxid <= through` (a leader's DIFF from the disk log).
    pub(super) fn logged_txns(&self, after: i64, through: i64) -> Result<Vec<TxnEntry>, String> {
        let log = lock(&self.log);
        let mut out = Vec::new();
        for entry in log.read_from(after + 1) {
            let entry = entry.map_err(|e| e.to_string())?;
            if entry.header.zxid > through {
                break;
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// Creates (`true`) or removes the `updatingEpoch` marker around the persistence of a
    /// newer epoch's state at NEWLEADER (see `quorum/epoch.rs`).
    pub(super) fn updating_epoch_marker(&mut self, present: bool) -> Result<(), NodeError> {
        let done = if present {
            epoch::create_updating_epoch_file(&self.snap_dir)
        } else {
            epoch::delete_updating_epoch_file(&self.snap_dir)
        };
        done.map_err(|e| fatal("the updatingEpoch marker", e))
    }

    /// Writes `acceptedEpoch` or `currentEpoch` atomically.
    pub(super) fn write_epoch(&mut self, accepted: bool, value: i64) -> Result<(), NodeError> {
        let name = if accepted {
            ACCEPTED_EPOCH_FILENAME
        } else {
            CURRENT_EPOCH_FILENAME
        };
        epoch::write_epoch_file(&self.snap_dir, name, value)
            .map_err(|e| fatal(&format!("writing {name}"), e))?;
        if accepted {
            self.accepted_epoch = value;
        } else {
            self.current_epoch = value;
        }
        Ok(())
    }

    /// Writes a snapshot of the tree, named by its last processed zxid (`takeSnapshot`).
    /// Records fsync and snapshot times in `metrics`.
    pub(super) fn set_metrics(&mut self, metrics: Arc<crate::metrics::Metrics>) {
        lock(&self.log).set_metrics(metrics.clone());
        self.metrics = metrics;
    }

    pub(super) fn take_snapshot(&mut self) -> Result<PathBuf, NodeError> {
        let tree = self.tree();
        let zxid = tree.last_processed_zxid();
        let path = snapshot::write_timed_snapshot(
            &self.snap_dir,
            zxid,
            tree,
            self.compression,
            &self.metrics,
        )
        .map_err(|e| fatal("writing a snapshot", e))?;
        info!(path = %path.display(), "snapshot written");
        self.snapshot_written(&path);
        Ok(path)
    }

    /// Whether `snapCount` says a snapshot is due (Java's `SyncRequestProcessor`). A failed
    /// background snapshot is an error here: Java exits when one cannot be written.
    pub(super) fn snapshot_due(&mut self) -> Result<bool, NodeError> {
        if self
            .snapshot_running
            .as_ref()
            .is_some_and(|t| t.is_finished())
        {
            let done = self.snapshot_running.take().expect("checked").join();
            match done {
                Ok(Ok(path)) => {
                    info!(path = %path.display(), "snapshot written");
                    self.snapshot_written(&path);
                }
                Ok(Err(e)) => return Err(fatal("writing a snapshot", e)),
                Err(_) => return Err(NodeError::Storage("the snapshot thread panicked".into())),
            }
        }
        if !self.schedule.due() {
            return Ok(false);
        }
        if self.snapshot_running.is_some() {
            // Java starts the count and a log file afresh all the same.
            warn!("Too busy to snap, skipping");
            self.schedule.skipped();
            lock(&self.log)
                .roll()
                .map_err(|e| fatal("rolling the txn log", e))?;
            return Ok(false);
        }
        Ok(true)
    }

    fn snapshot_written(&self, path: &Path) {
        if let Some(archiver) = &self.archiver {
            archiver.snapshot_written(path.to_owned());
        }
    }

    /// Waits for the snapshot being written, if any (a clean stop leaves it complete).
    pub(super) fn finish_snapshot(&mut self) {
        if let Some(task) = self.snapshot_running.take() {
            match task.join() {
                Ok(Ok(path)) => {
                    info!(path = %path.display(), "snapshot written");
                    self.snapshot_written(&path);
                }
                Ok(Err(e)) => warn!("the last snapshot failed: {e}"),
                Err(_) => warn!("the snapshot thread panicked"),
            }
        }
    }

    /// Starts writing a snapshot of `tree` (as of its last processed zxid) on a thread of its
    /// own; the next txn opens a new log file, as Java's `rollLog`.
    pub(super) fn snapshot_in_background(&mut self, tree: DataTree) -> Result<(), NodeError> {
        lock(&self.log)
            .roll()
            .map_err(|e| fatal("rolling the txn log", e))?;
        self.schedule.started();
        let (dir, compression) = (self.snap_dir.clone(), self.compression);
        let metrics = self.metrics.clone();
        self.snapshot_running = Some(std::thread::spawn(move || {
            let zxid = tree.last_processed_zxid();
            snapshot::write_timed_snapshot(&dir, zxid, &tree, compression, &metrics)
        }));
        Ok(())
    }

    /// SNAP: the tree becomes the leader's as of `zxid`; the committed log starts afresh.
    pub(super) fn load_snapshot(&mut self, mut tree: DataTree, zxid: i64) -> Result<(), String> {
        tree.set_last_processed_zxid(zxid);
        self.tree = Some(tree);
        self.committed_log.clear();
        self.logged_uncommitted.clear();
        // The log has a gap from here: later txns go to a file of their own.
        if let Err(e) = lock(&self.log).roll() {
            return Err(format!("rolling the txn log: {e}"));
        }
        Ok(())
    }

    /// TRUNC (`ZKDatabase.truncateLog`): drops the logged txns after `zxid` and reloads the tree
    /// from the disk. Snapshots newer than `zxid` hold txns being dropped and are removed too
    /// (Java keeps them and would reload them; ours come from recovery's startup snapshot).
    /// Fails, as Java does, when the disk does not reach `zxid` (nothing to cut back to).
    pub(super) fn truncate(&mut self, zxid: i64) -> Result<(), NodeError> {
        let snapshots =
            snapshot::list_snapshots(&self.snap_dir).map_err(|e| fatal("listing snapshots", e))?;
        let newest = snapshots.first().map_or(0, |(_, z, _)| *z);
        let reach = newest.max(lock(&self.log).last_logged_zxid());
        if zxid > 0 && reach < zxid {
            return Err(NodeError::Storage(format!(
                "cannot truncate the log to {zxid:#x}: the disk ends at {reach:#x}"
            )));
        }
        lock(&self.log)
            .truncate_after(zxid)
            .map_err(|e| fatal("truncating the txn log", e))?;
        for (path, snap_zxid, _) in snapshots {
            if snap_zxid > zxid {
                warn!(path = %path.display(), "removing a snapshot past the TRUNC point");
                std::fs::remove_file(&path).map_err(|e| fatal("removing a snapshot", e))?;
            }
        }
        self.reload()?;
        info!(zxid = %format_args!("{zxid:#x}"), "truncated and reloaded");
        Ok(())
    }

    /// A role ended: make the log durable and apply what it holds past the tree (Java's
    /// `fastForwardDataBase`), so the next election votes with every logged txn. Those are
    /// the txns this node appended and has not seen committed.
    pub(super) fn fast_forward(&mut self) -> Result<(), NodeError> {
        self.flush()?;
        let from = self.tree().last_processed_zxid();
        let entries: Vec<Arc<TxnEntry>> = std::mem::take(&mut self.logged_uncommitted)
            .into_iter()
            .filter(|e| e.header.zxid > from)
            .collect();
        if !entries.is_empty() {
            info!(
                count = entries.len(),
                from = %format_args!("{from:#x}"),
                "fast-forwarding the tree over the log"
            );
        }
        for entry in entries {
            self.apply(entry);
        }
        Ok(())
    }

    /// The disk view a leader syncs from.
    pub(super) fn disk_history(&self) -> FileDiskHistory {
        let factor = self
            .cfg
            .property("zookeeper.snapshotSizeFactor")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_SNAPSHOT_SIZE_FACTOR);
        FileDiskHistory {
            log: self.log.clone(),
            log_dir: self.log_dir.clone(),
            snap_dir: self.snap_dir.clone(),
            size_factor: factor,
        }
    }
}

/// Recovery of the data directories: the tree, and the txns replayed onto its snapshot.
fn recover_tree(cfg: &Config) -> Result<(DataTree, Vec<TxnEntry>), NodeError> {
    let recovered = recovery::recover(cfg, false).map_err(NodeError::Recovery)?;
    // The startup snapshot holds nothing new; waiting for it keeps it from racing a TRUNC
    // that removes snapshots.
    let _ = recovered.startup_snapshot.join();
    Ok((recovered.tree, recovered.replayed))
}

fn push_bounded(log: &mut VecDeque<Arc<TxnEntry>>, entry: Arc<TxnEntry>) {
    if log
        .back()
        .is_some_and(|last| last.header.zxid >= entry.header.zxid)
    {
        // Java's committed log only grows in zxid order; a replayed duplicate is skipped.
        return;
    }
    if log.len() > COMMIT_LOG_COUNT {
        log.pop_front();
    }
    log.push_back(entry);
}

/// The leader's view of its log files for learners older than the committed log (Java's
/// `getProposalsFromTxnLog` with `calculateTxnLogSizeLimit`).
#[derive(Debug)]
pub(super) struct FileDiskHistory {
    log: SharedLog,
    log_dir: PathBuf,
    snap_dir: PathBuf,
    size_factor: f64,
}

fn file_sizes(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

impl FileDiskHistory {
    fn newest_snapshot_bytes(dir: &Path) -> io::Result<u64> {
        Ok(snapshot::list_snapshots(dir)?
            .first()
            .map_or(0, |(path, _, _)| file_sizes(std::slice::from_ref(path))))
    }
}

impl DiskHistory for FileDiskHistory {
    fn reach(&self, peer_zxid: i64) -> Option<DiskLogReach> {
        if self.size_factor < 0.0 {
            return None;
        }
        let files = txnlog::logs_needed_after(&self.log_dir, peer_zxid).ok()?;
        let snapshot_bytes = Self::newest_snapshot_bytes(&self.snap_dir).ok()?;
        let within_size_limit =
            txn_log_within_limit(file_sizes(&files), snapshot_bytes, self.size_factor);
        let log = lock(&self.log);
        let mut first_zxid = None;
        let mut last_zxid = 0;
        // Only a log within the limit is read through (it is sent next anyway).
        for entry in log.read_from(peer_zxid) {
            let Ok(entry) = entry else { break };
            first_zxid.get_or_insert(entry.header.zxid);
            last_zxid = entry.header.zxid;
            if !within_size_limit {
                break;
            }
        }
        Some(DiskLogReach {
            first_zxid,
            last_zxid,
            within_size_limit,
        })
    }
}

//! The server side of continuous archiving: committed txns are shipped in segments, each
//! within `backup.maxLagMs` of its commit, and every snapshot the server writes is shipped as
//! it is written.
//!
//! The runtime hands over what it commits (after the log has made it durable) and the paths
//! of the snapshots it writes; it never waits for the archive. Whatever the archiver misses
//! (a full queue, a store that was down, a restart) it reads back from the local log files, so
//! the archive continues from its last zxid without a gap; when the local logs no longer
//! reach back that far, it ships the newest local snapshot as a new base and says so.
//! Autopurge keeps every file the archive does not hold yet ([`ArchiveStatus`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};
use zk_proto::storage::{parse_data_file_name, DataFileKind};
use zk_proto::txn::TxnEntry;

use super::archive::{Archive, SnapshotInfo};
use super::manifest::follows;
use super::settings::BackupSettings;
use super::target::Target;
use super::{now_ms, segment, BackupError};
use crate::storage::{snapshot, txnlog};

/// Txns per segment at most (a catch-up after a long outage is shipped in pieces).
const SEGMENT_MAX_TXNS: usize = 50_000;
/// Messages (snapshots, leadership) the runtime may queue.
const QUEUE_MESSAGES: usize = 1024;
/// Txns held in memory while the store fails; beyond, they are read back from the log later.
const BUFFER_MAX_TXNS: usize = 1_000_000;
/// The longest wait between attempts while the store fails.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Where the archiver reads and what it starts from.
#[derive(Debug, Clone)]
pub struct ArchiverConfig {
    /// `backup.*`.
    pub settings: BackupSettings,
    /// `myid` (0 standalone), recorded in manifests.
    pub server_id: i64,
    /// `<dataDir>/version-2`.
    pub snap_dir: PathBuf,
    /// `<dataLogDir>/version-2`.
    pub log_dir: PathBuf,
    /// Every txn up to this zxid is committed and durable in the local log at start.
    pub committed_through: i64,
    /// Archive from the start (a standalone server); an ensemble member's archiver waits for
    /// [`ArchiverHandle::activate`] (it archives only while it leads).
    pub start_active: bool,
}

/// What the archive holds, as far as this server knows; autopurge reads it.
#[derive(Debug)]
pub struct ArchiveStatus {
    archived_zxid: AtomicI64,
    archived_snapshot_zxid: AtomicI64,
    /// Archiving now (standalone, the leader, or the designated member while synced).
    active: std::sync::atomic::AtomicBool,
    /// The time (ms since the epoch, from its header) of the oldest txn handed over and not
    /// archived yet; 0 when none is waiting.
    oldest_waiting_ms: AtomicI64,
    failures: std::sync::atomic::AtomicU64,
    txns_archived: std::sync::atomic::AtomicU64,
    stored_bytes: std::sync::atomic::AtomicU64,
}

impl Default for ArchiveStatus {
    fn default() -> Self {
        ArchiveStatus {
            archived_zxid: AtomicI64::new(-1),
            archived_snapshot_zxid: AtomicI64::new(-1),
            active: std::sync::atomic::AtomicBool::new(false),
            oldest_waiting_ms: AtomicI64::new(0),
            failures: std::sync::atomic::AtomicU64::new(0),
            txns_archived: std::sync::atomic::AtomicU64::new(0),
            stored_bytes: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// What `mntr`, `monitor` and `/metrics` report of the archiver (`backup_*`), only on a
/// server with `backup.target`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupGauges {
    /// 1 while this server archives (standalone, the leader, or the designated member).
    pub active: i64,
    /// The last txn known to be archived (-1 before the archive was read).
    pub archived_zxid: i64,
    /// How long the oldest committed txn not archived yet has waited, ms (0: none waits).
    pub lag_ms: i64,
    /// Failed attempts to store or read the archive since start (each is retried).
    pub failures: i64,
    /// Txns this server archived since start.
    pub archived_txns: i64,
    /// Bytes this server stored (segments and snapshots, as stored) since start.
    pub stored_bytes: i64,
}

impl ArchiveStatus {
    /// The last txn known to be in the archive (`None` before the archive was read).
    pub fn archived_zxid(&self) -> Option<i64> {
        Some(self.archived_zxid.load(Ordering::Acquire)).filter(|z| *z >= 0)
    }

    /// The newest snapshot known to be in the archive.
    pub fn archived_snapshot_zxid(&self) -> Option<i64> {
        Some(self.archived_snapshot_zxid.load(Ordering::Acquire)).filter(|z| *z >= 0)
    }
}

enum Input {
    Snapshot(PathBuf),
    /// Archive from now on; everything up to the zxid is committed.
    Activate(i64),
    /// Ship what is buffered (it is committed), then archive nothing until activated again.
    Deactivate,
    /// Ship what is buffered, then end.
    Stop,
}

/// The runtime's side of the archiver task.
#[derive(Debug, Clone)]
pub struct ArchiverHandle {
    tx: mpsc::Sender<Input>,
    /// Committed txns handed over and not taken by the archiver yet: appending is a lock and
    /// a copy of pointers, and the archiver is woken only when this was empty (or, with
    /// `maxLagMs=0`, every time), not for every commit.
    pending: Arc<Mutex<Vec<Arc<TxnEntry>>>>,
    wake: Arc<tokio::sync::Notify>,
    /// The archive (for reading its catalogue).
    archive: Archive,
    status: Arc<ArchiveStatus>,
    /// The last archived zxid, as it moves (-1 before the archive was read).
    archived: tokio::sync::watch::Receiver<i64>,
    /// `backup.maxLagMs=0`: replies wait for the archive.
    synchronous: bool,
    /// `backup.archiverId`.
    archiver_id: Option<i64>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Snapshot(p) => write!(f, "Snapshot({})", p.display()),
            Input::Activate(z) => write!(f, "Activate({z:#x})"),
            Input::Deactivate => f.write_str("Deactivate"),
            Input::Stop => f.write_str("Stop"),
        }
    }
}

impl ArchiverHandle {
    /// Opens the target and starts the archiver task (on the current tokio runtime).
    pub fn start(cfg: ArchiverConfig) -> Result<ArchiverHandle, BackupError> {
        let target = Target::open(&cfg.settings.target, &cfg.settings.s3)?;
        let key = match &cfg.settings.key_file {
            Some(path) => Some(super::ArchiveKey::from_file(path)?),
            None => None,
        };
        info!(target = %target, max_lag_ms = cfg.settings.max_lag_ms, "archiving committed txns and snapshots");
        let (tx, rx) = mpsc::channel(QUEUE_MESSAGES);
        let pending: Arc<Mutex<Vec<Arc<TxnEntry>>>> = Arc::default();
        let wake = Arc::new(tokio::sync::Notify::new());
        let status = Arc::new(ArchiveStatus::default());
        status.active.store(cfg.start_active, Ordering::Release);
        let (archived_tx, archived) = tokio::sync::watch::channel(-1);
        let synchronous = cfg.settings.max_lag_ms == 0;
        let archiver_id = cfg.settings.archiver_id;
        let archiver = Archiver {
            archive: Archive::new(target, cfg.server_id).with_key(key),
            max_lag: Duration::from_millis(cfg.settings.max_lag_ms),
            committed: cfg.committed_through,
            active: cfg.start_active,
            cfg,
            status: status.clone(),
            archived_tx,
            pending: pending.clone(),
            wake: wake.clone(),
            archived: None,
            buffer: Vec::new(),
            oldest: None,
            retry_at: None,
            retry_wait: Duration::from_millis(500),
            snapshots: Vec::new(),
            last_txn: None,
        };
        let archive = archiver.archive.clone();
        let task = tokio::spawn(archiver.run(rx));
        Ok(ArchiverHandle {
            tx,
            pending,
            wake,
            archive,
            status,
            archived,
            synchronous,
            archiver_id,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// The archive it writes.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Whether ensemble member `my_id` archives while leading (`false`: while synced as a
    /// learner): the leader does unless `backup.archiverId` names another member.
    pub fn archives_when_leading(&self, my_id: i64) -> bool {
        self.archiver_id.is_none_or(|id| id == my_id)
    }

    /// Whether ensemble member `my_id` is the one `backup.archiverId` designates, which
    /// archives while it follows or observes.
    pub fn archives_when_learning(&self, my_id: i64) -> bool {
        self.archiver_id == Some(my_id)
    }

    /// The archiver's gauges at `now_ms` (ms since the epoch).
    pub fn gauges(&self, now_ms: i64) -> BackupGauges {
        let waiting_in_handover = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first()
            .map(|e| e.header.time);
        let buffered =
            Some(self.status.oldest_waiting_ms.load(Ordering::Acquire)).filter(|t| *t > 0);
        let active = self.status.active.load(Ordering::Acquire);
        let oldest = match (buffered, waiting_in_handover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let count = |c: &std::sync::atomic::AtomicU64| {
            i64::try_from(c.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
        };
        BackupGauges {
            active: i64::from(active),
            archived_zxid: self.status.archived_zxid.load(Ordering::Acquire),
            lag_ms: oldest.filter(|_| active).map_or(0, |t| (now_ms - t).max(0)),
            failures: count(&self.status.failures),
            archived_txns: count(&self.status.txns_archived),
            stored_bytes: count(&self.status.stored_bytes),
        }
    }

    /// Whether replies must wait until the archive holds their txns (`backup.maxLagMs=0`).
    pub fn is_synchronous(&self) -> bool {
        self.synchronous
    }

    /// The last archived zxid as it moves (-1 until the archive has been read).
    pub fn archived_watch(&self) -> tokio::sync::watch::Receiver<i64> {
        self.archived.clone()
    }

    /// Txns now committed and durable, in zxid order. Never waits: when the queue is full the
    /// archiver reads them back from the log files later.
    pub fn committed(&self, entries: Vec<Arc<TxnEntry>>) {
        if entries.is_empty() {
            return;
        }
        let was_empty = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let was_empty = pending.is_empty();
            if pending.len() + entries.len() > BUFFER_MAX_TXNS {
                // The archiver is stuck on the store; the log files hold these.
                pending.clear();
            }
            pending.extend(entries);
            was_empty
        };
        if was_empty || self.synchronous {
            self.wake.notify_one();
        }
    }

    /// This server leads now: archive, starting after what the archive holds, knowing that
    /// everything up to `committed_through` is committed and in the local log.
    pub fn activate(&self, committed_through: i64) {
        if let Err(e) = self.tx.try_send(Input::Activate(committed_through)) {
            warn!(error = %e, "the archiver's queue is full; it is not activated");
        }
    }

    /// This server no longer leads: what it buffered is shipped, then nothing more.
    pub fn deactivate(&self) {
        if let Err(e) = self.tx.try_send(Input::Deactivate) {
            warn!(error = %e, "the archiver's queue is full; it is not deactivated");
        }
    }

    /// A snapshot file the server has written (complete and durable).
    pub fn snapshot_written(&self, path: PathBuf) {
        if let Err(e) = self.tx.try_send(Input::Snapshot(path)) {
            warn!(error = %e, "the archiver's queue is full; a snapshot is not shipped");
        }
    }

    /// What the archive holds.
    pub fn status(&self) -> &Arc<ArchiveStatus> {
        &self.status
    }

    /// Ships what is buffered and stops, waiting at most `within`.
    pub async fn close(&self, within: Duration) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(task) = task else { return };
        let _ = tokio::time::timeout(within, self.tx.send(Input::Stop)).await;
        let abort = task.abort_handle();
        if tokio::time::timeout(within, task).await.is_err() {
            warn!("the archiver did not finish shipping in time; the local log still holds everything");
            abort.abort();
        }
    }
}

struct Archiver {
    archive: Archive,
    cfg: ArchiverConfig,
    max_lag: Duration,
    status: Arc<ArchiveStatus>,
    archived_tx: tokio::sync::watch::Sender<i64>,
    /// Committed txns handed over ([`ArchiverHandle::committed`]).
    pending: Arc<Mutex<Vec<Arc<TxnEntry>>>>,
    wake: Arc<tokio::sync::Notify>,
    /// Archiving (a member only while it leads).
    active: bool,
    /// The last zxid the archive holds; `None` until a base snapshot is there.
    archived: Option<i64>,
    /// Committed txns not archived yet, in zxid order (they may not follow `archived`: what
    /// is missing in between is read from the log files).
    buffer: Vec<Arc<TxnEntry>>,
    /// When the oldest buffered txn arrived.
    oldest: Option<Instant>,
    /// The last committed zxid heard of.
    committed: i64,
    /// After a failure: not before then.
    retry_at: Option<Instant>,
    retry_wait: Duration,
    /// Snapshots written and not shipped yet.
    snapshots: Vec<PathBuf>,
    /// The last committed txn's zxid and time (a snapshot at that zxid gets its time).
    last_txn: Option<(i64, i64)>,
}

impl Archiver {
    async fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        let wake = self.wake.clone();
        loop {
            let due = self.due();
            let input = tokio::select! {
                biased;
                input = rx.recv() => input,
                () = wake.notified() => {
                    // The lag clock starts at the first txn handed over; the txns stay where
                    // they are until shipped, so the runtime does not wake this task again.
                    if self.active {
                        self.oldest.get_or_insert_with(Instant::now);
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.ship().await;
                    continue;
                }
            };
            match input {
                Some(Input::Snapshot(path)) if self.active => self.snapshots.push(path),
                Some(Input::Snapshot(_)) => {}
                Some(Input::Activate(committed_through)) => {
                    info!(committed_through = %format_args!("{committed_through:#x}"), "archiving");
                    self.active = true;
                    self.status.active.store(true, Ordering::Release);
                    self.committed = self.committed.max(committed_through);
                    // Another server may have archived meanwhile: read where the archive is.
                    self.archived = None;
                }
                Some(Input::Deactivate) => {
                    if self.active {
                        self.ship().await;
                        info!("archiving stops (no longer the archiving member)");
                    }
                    self.active = false;
                    self.status.active.store(false, Ordering::Release);
                    self.archived = None;
                    self.buffer.clear();
                    self.oldest = None;
                    self.snapshots.clear();
                    self.retry_at = None;
                }
                Some(Input::Stop) | None => {
                    if self.active {
                        self.ship().await;
                    }
                    break;
                }
            }
            let full = self.buffer.len() >= SEGMENT_MAX_TXNS;
            if full && self.retry_at.is_none_or(|at| at <= Instant::now()) {
                self.ship().await;
            }
        }
        if self.active && (!self.buffer.is_empty() || self.catch_up_needed()) {
            warn!(
                "stopping with committed txns not archived; the next start ships them from the log"
            );
        }
    }

    /// When shipping is due next: now when there is a base, a snapshot or a catch-up to ship,
    /// else the oldest buffered txn's deadline; never before the retry time.
    fn due(&self) -> Option<Instant> {
        if !self.active {
            return None;
        }
        let now_due =
            self.archived.is_none() || !self.snapshots.is_empty() || self.catch_up_needed();
        let at = if now_due {
            Some(Instant::now())
        } else {
            self.oldest.map(|t| t + self.max_lag)
        };
        match (at, self.retry_at) {
            (Some(at), Some(retry)) => Some(at.max(retry)),
            (at, _) => at,
        }
    }

    /// Whether committed txns are missing from the buffer (read from the log files).
    fn catch_up_needed(&self) -> bool {
        let Some(archived) = self.archived else {
            return false;
        };
        match self.buffer.first() {
            Some(first) => !follows(archived, first.header.zxid),
            None => self.committed > archived,
        }
    }

    /// Moves the handed-over txns into the buffer (dropped while not archiving).
    fn take_pending(&mut self) {
        let entries = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if self.active {
            self.take(entries);
            self.note_waiting();
        }
    }

    /// Publishes the time of the oldest buffered txn (the lag gauge).
    fn note_waiting(&self) {
        let oldest = self.buffer.first().map_or(0, |e| e.header.time.max(1));
        self.status
            .oldest_waiting_ms
            .store(oldest, Ordering::Release);
    }

    fn take(&mut self, entries: Vec<Arc<TxnEntry>>) {
        for entry in entries {
            let zxid = entry.header.zxid;
            self.committed = self.committed.max(zxid);
            self.last_txn = Some((zxid, entry.header.time));
            let end = self.buffer.last().map(|e| e.header.zxid).or(self.archived);
            if end.is_some_and(|end| zxid <= end) {
                continue;
            }
            if self.buffer.len() >= BUFFER_MAX_TXNS {
                // The log files hold them; they are read back once the store answers again.
                self.buffer.clear();
                self.oldest = None;
                continue;
            }
            self.oldest.get_or_insert_with(Instant::now);
            self.buffer.push(entry);
        }
    }

    fn failed(&mut self, what: &str, e: &BackupError) {
        self.status.failures.fetch_add(1, Ordering::Relaxed);
        warn!(error = %e, retry_in_ms = self.retry_wait.as_millis() as u64, "archiving {what} failed");
        self.retry_at = Some(Instant::now() + self.retry_wait);
        self.retry_wait = (self.retry_wait * 2).min(RETRY_MAX);
    }

    fn succeeded(&mut self) {
        self.retry_at = None;
        self.retry_wait = Duration::from_millis(500);
    }

    /// Ships what is due; on a failure, leaves the rest for the retry.
    async fn ship(&mut self) {
        self.take_pending();
        if self.archived.is_none() {
            if let Err(e) = self.resume().await {
                return self.failed("(reading the archive)", &e);
            }
            if self.archived.is_none() {
                // No local snapshot yet (the startup snapshot is being written).
                self.retry_at = Some(Instant::now() + Duration::from_secs(1));
                return;
            }
        }
        if let Err(e) = self.ship_snapshots().await {
            return self.failed("a snapshot", &e);
        }
        if let Err(e) = self.ship_txns().await {
            return self.failed("txns", &e);
        }
        self.succeeded();
    }

    /// Reads where the archive ends; an archive without a snapshot gets the oldest local
    /// one first, so a restore has a base.
    async fn resume(&mut self) -> Result<(), BackupError> {
        let catalog = self.archive.catalog().await?;
        if let Some(z) = catalog.last_snapshot_zxid() {
            self.status
                .archived_snapshot_zxid
                .store(z, Ordering::Release);
        }
        match (catalog.last_log_zxid(), catalog.last_snapshot_zxid()) {
            (Some(log), _) => self.set_archived(log),
            (None, Some(snap)) => self.set_archived(snap),
            (None, None) => {
                if let Some(zxid) = self.ship_base(None).await? {
                    self.set_archived(zxid);
                }
            }
        }
        if let Some(archived) = self.archived {
            info!(archived_zxid = %format_args!("{archived:#x}"), "archive resumed");
        }
        Ok(())
    }

    fn set_archived(&mut self, zxid: i64) {
        self.archived = Some(zxid);
        self.status.archived_zxid.store(zxid, Ordering::Release);
        self.archived_tx.send_replace(zxid);
        let keep = self.buffer.iter().position(|e| e.header.zxid > zxid);
        self.buffer.drain(..keep.unwrap_or(self.buffer.len()));
        if self.buffer.is_empty() {
            self.oldest = None;
        }
        self.note_waiting();
    }

    /// Ships the oldest local snapshot above `above` as a base (the oldest, so the archive
    /// reaches back as far as the local files do); its zxid, or `None` if there is none.
    async fn ship_base(&mut self, above: Option<i64>) -> Result<Option<i64>, BackupError> {
        self.ship_base_as(above, false).await
    }

    /// [`Self::ship_base`]; with `rebase` the snapshot is marked as the start of a history of
    /// its own when it starts an epoch above the archive's end.
    async fn ship_base_as(
        &mut self,
        above: Option<i64>,
        rebase: bool,
    ) -> Result<Option<i64>, BackupError> {
        let oldest = snapshot::list_snapshots(&self.cfg.snap_dir)?
            .into_iter()
            .rev()
            .find(|(_, zxid, _)| above.is_none_or(|a| *zxid > a));
        let Some((path, zxid, _)) = oldest else {
            return Ok(None);
        };
        let rebase =
            rebase && zxid & 0xffff_ffff == 0 && above.is_some_and(|a| (zxid >> 32) > (a >> 32));
        self.ship_snapshot_as(path, rebase).await?;
        Ok(Some(zxid))
    }

    async fn ship_snapshots(&mut self) -> Result<(), BackupError> {
        while let Some(path) = self.snapshots.first().cloned() {
            self.ship_snapshot(path).await?;
            self.snapshots.remove(0);
        }
        Ok(())
    }

    async fn ship_snapshot(&mut self, path: PathBuf) -> Result<(), BackupError> {
        self.ship_snapshot_as(path, false).await
    }

    async fn ship_snapshot_as(&mut self, path: PathBuf, rebase: bool) -> Result<(), BackupError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(parsed) = parse_data_file_name(&name).filter(|p| p.kind == DataFileKind::Snapshot)
        else {
            return Ok(());
        };
        let zxid = parsed.zxid;
        if self
            .status
            .archived_snapshot_zxid()
            .is_some_and(|z| z >= zxid)
        {
            return Ok(());
        }
        let time_ms = match self.last_txn {
            Some((z, time)) if z == zxid => time,
            _ => modified_ms(&path),
        };
        let read = tokio::task::spawn_blocking(move || read_snapshot(&path, zxid, time_ms))
            .await
            .map_err(|e| BackupError::Io(std::io::Error::other(e)))??;
        let (stored, raw_len, mut info) = read;
        info.rebase = rebase;
        let stored_bytes = stored.len();
        if self
            .archive
            .put_snapshot(stored, raw_len, info)
            .await?
            .is_some()
        {
            self.status
                .stored_bytes
                .fetch_add(stored_bytes as u64, Ordering::Relaxed);
            info!(zxid = %format_args!("{zxid:#x}"), nodes = info.nodes, bytes = stored_bytes, "snapshot archived");
        }
        self.status
            .archived_snapshot_zxid
            .fetch_max(zxid, Ordering::AcqRel);
        Ok(())
    }

    /// Ships the buffer, after reading from the log files what it lacks.
    async fn ship_txns(&mut self) -> Result<(), BackupError> {
        while self.catch_up_needed() {
            let archived = self.archived.expect("catch-up needs a start");
            let before = self.buffer.first().map(|e| e.header.zxid);
            let until = before.map_or(self.committed, |b| b - 1).min(self.committed);
            let read = self.read_local(archived, until, before).await?;
            let shared = match read.first() {
                Some(first) => self.continues(archived, first.header.zxid).await,
                None => false,
            };
            match read.first() {
                Some(_) if shared => {
                    let refs: Vec<&TxnEntry> = read.iter().collect();
                    for chunk in refs.chunks(SEGMENT_MAX_TXNS) {
                        self.store(chunk).await?;
                    }
                }
                _ => {
                    // The local logs do not reach back to the archive's end.
                    let local = read.first().map(|e| e.header.zxid).or(before);
                    warn!(
                        archived = %format_args!("{archived:#x}"),
                        local_first = ?local.map(|z| format!("{z:#x}")),
                        "the local log does not hold the txns after the archive's end; shipping a later snapshot as a new base (the archive has a gap)"
                    );
                    match self.ship_base_as(Some(archived), true).await? {
                        Some(base) => self.set_archived(base),
                        _ => {
                            // No snapshot past the gap: archive from here on regardless.
                            let restart = local.map_or(self.committed, |z| z - 1);
                            self.set_archived(restart.max(archived));
                        }
                    }
                }
            }
        }
        if let (Some(archived), Some(first)) = (self.archived, self.buffer.first()) {
            let first = first.header.zxid;
            if !self.continues(archived, first).await {
                warn!(
                    archived = %format_args!("{archived:#x}"),
                    next = %format_args!("{first:#x}"),
                    "this server's history does not lead from the archive's end (it was restored from it, or synced past it): shipping its snapshot as a new base"
                );
                if let Some(base) = self.ship_base_as(Some(archived), true).await? {
                    self.set_archived(base);
                }
            }
        }
        while !self.buffer.is_empty() {
            let take = self.buffer.len().min(SEGMENT_MAX_TXNS);
            let chunk: Vec<Arc<TxnEntry>> = self.buffer[..take].to_vec();
            let refs: Vec<&TxnEntry> = chunk.iter().map(|e| e.as_ref()).collect();
            self.store(&refs).await?;
        }
        Ok(())
    }

    /// Whether `next` continues the archive's end `archived` in this server's history: the
    /// next txn of the same epoch, or the first of a later epoch when this server's files
    /// hold `archived` (a new leader's do; a server restored from the archive, whose zxids
    /// jump to a new epoch as well, holds none of the old history).
    async fn continues(&self, archived: i64, next: i64) -> bool {
        if !follows(archived, next) {
            return false;
        }
        if next >> 32 == archived >> 32 {
            return true;
        }
        let (snap_dir, log_dir) = (self.cfg.snap_dir.clone(), self.cfg.log_dir.clone());
        tokio::task::spawn_blocking(move || {
            let snapshot = snapshot::list_snapshots(&snap_dir)
                .unwrap_or_default()
                .iter()
                .any(|(_, zxid, _)| *zxid == archived);
            snapshot
                || txnlog::read_dir_from(&log_dir, archived, archived)
                    .next()
                    .is_some_and(|e| e.is_ok_and(|e| e.header.zxid == archived))
        })
        .await
        .unwrap_or(false)
    }

    /// Stores one segment and moves `archived` past it (or to where another archiver got).
    async fn store(&mut self, entries: &[&TxnEntry]) -> Result<(), BackupError> {
        match self.archive.put_segment(entries).await? {
            Some(manifest) => {
                self.status
                    .txns_archived
                    .fetch_add(manifest.txns, Ordering::Relaxed);
                self.status
                    .stored_bytes
                    .fetch_add(manifest.stored_bytes, Ordering::Relaxed);
                self.set_archived(manifest.last_zxid);
            }
            None => {
                let catalog = self.archive.catalog().await?;
                let theirs = catalog.last_log_zxid().unwrap_or(-1);
                info!(zxid = %format_args!("{theirs:#x}"), "another archiver stored these txns; going on after them");
                self.set_archived(theirs.max(self.archived.unwrap_or(-1)));
            }
        }
        Ok(())
    }

    /// The committed txns after `after` up to `until` from the local log files (ending before
    /// `before` when given).
    async fn read_local(
        &self,
        after: i64,
        until: i64,
        before: Option<i64>,
    ) -> Result<Vec<TxnEntry>, BackupError> {
        if until <= after {
            return Ok(Vec::new());
        }
        let dir = self.cfg.log_dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for entry in txnlog::read_dir_from(&dir, after + 1, until) {
                let entry = entry?;
                if entry.header.zxid <= after || before.is_some_and(|b| entry.header.zxid >= b) {
                    continue;
                }
                out.push(entry);
            }
            Ok::<_, std::io::Error>(out)
        })
        .await
        .map_err(|e| BackupError::Io(std::io::Error::other(e)))??;
        Ok(read)
    }
}

/// The snapshot at `path` as an LZ4 frame, its stream's length, and what its manifest says;
/// the stream is parsed whole, so a damaged file is never shipped.
fn read_snapshot(
    path: &std::path::Path,
    zxid: i64,
    time_ms: i64,
) -> Result<(Vec<u8>, usize, SnapshotInfo), BackupError> {
    let raw = snapshot::read_snapshot_stream(path)?;
    snapshot_object(raw, zxid, time_ms, &path.display().to_string())
}

/// A snapshot stream as an archive object: the LZ4 frame, the stream's length and what its
/// manifest says. The stream is parsed whole (seals checked), so a damaged one is refused.
pub fn snapshot_object(
    raw: Vec<u8>,
    zxid: i64,
    time_ms: i64,
    name: &str,
) -> Result<(Vec<u8>, usize, SnapshotInfo), BackupError> {
    let mut counter = NodeCounter(0);
    let trailer = zk_proto::storage::Snapshot::parse_from_reader(&raw[..], &mut counter)
        .map_err(|e| BackupError::corrupt(name, e.to_string()))?;
    let digest = trailer.digest.and_then(|d| d.digest_value()).unwrap_or(0);
    let info = SnapshotInfo {
        zxid,
        time_ms,
        nodes: counter.0,
        digest,
        rebase: false,
    };
    Ok((segment::compress(&raw), raw.len(), info))
}

/// Counts nodes while a snapshot is parsed.
struct NodeCounter(u64);

impl zk_proto::storage::SnapshotVisitor for NodeCounter {
    fn sessions(&mut self, _: Vec<zk_proto::storage::SessionEntry>) -> Result<(), String> {
        Ok(())
    }
    fn acl_cache(&mut self, _: Vec<zk_proto::storage::AclCacheEntry>) -> Result<(), String> {
        Ok(())
    }
    fn node(&mut self, _: String, _: zk_proto::storage::DataNode) -> Result<(), String> {
        self.0 += 1;
        Ok(())
    }
}

fn modified_ms(path: &std::path::Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(now_ms, |d| d.as_millis() as i64)
}

//! Point-in-time restore: a data directory holding exactly the committed state at a zxid or a
//! time, which zk-server and the Java server both start from.
//!
//! The newest archived snapshot at or below the target is loaded and the archived txns after
//! it are applied up to the target, inclusive, each txn's recorded tree digest checked. Then
//! the restored state is given a zxid in a new epoch, above every zxid the archive has seen:
//! clients that saw later zxids of the old history resync instead of being refused
//! (`CLIENT_ZXID_AHEAD`), and the new history can never be mistaken for the old one. Sessions
//! and their ephemerals are closed at that zxid (as if they expired) unless kept.

use std::path::{Path, PathBuf};

use zk_proto::txn::{Txn, TxnHeader};
use zk_proto::OpCode;

use super::archive::Archive;
use super::catalog::{Catalog, Plan};
use super::manifest::Manifest;
use super::{now_ms, BackupError};
use crate::quorum::epoch::{self, ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME};
use crate::storage::snapshot::{self, Compression};
use crate::tree::{DataTree, DataTreeBuilder};

/// What to restore to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePoint {
    /// The last archived txn a window reaches.
    Latest,
    /// The state right after this zxid.
    Zxid(i64),
    /// The state at this time (ms since the epoch): every txn up to the first one whose time
    /// is later (as PostgreSQL's `recovery_target_time`, inclusive).
    Time(i64),
}

impl RestorePoint {
    /// The point named by exactly one of: `latest`, a zxid (`0x…` or decimal), a time
    /// (RFC 3339, or ms since the epoch); `None` unless exactly one is given.
    pub fn parse(
        latest: bool,
        zxid: Option<&str>,
        time: Option<&str>,
    ) -> Result<Option<RestorePoint>, BackupError> {
        Ok(match (latest, zxid, time) {
            (true, None, None) => Some(RestorePoint::Latest),
            (false, Some(z), None) => Some(RestorePoint::Zxid(
                crate::backup::manifest::parse_zxid(z)
                    .ok_or_else(|| BackupError::Config(format!("zxid {z}: not a zxid")))?,
            )),
            (false, None, Some(t)) => Some(RestorePoint::Time(parse_time(t)?)),
            _ => None,
        })
    }
}

/// A time as RFC 3339 or ms since the epoch.
fn parse_time(text: &str) -> Result<i64, BackupError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            BackupError::Config(format!(
                "time {text}: {e} (RFC 3339, e.g. 2026-12-02T10:00:00Z)"
            ))
        })
}

/// A restore, decided.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The objects to read.
    pub plan: Plan,
    /// What was asked for.
    pub point: RestorePoint,
    /// The time of the txn restored to, when the archive says.
    pub time_ms: Option<i64>,
    /// The zxid the restored state gets: the start of an epoch above every archived zxid.
    pub new_zxid: i64,
}

impl RestorePlan {
    /// Txns to replay onto the snapshot.
    pub fn txns(&self) -> u64 {
        let snap = self.plan.snapshot.first_zxid;
        self.plan
            .segments
            .iter()
            .map(|m| {
                let from = m.first_zxid.max(snap + 1);
                let to = m.last_zxid.min(self.plan.zxid);
                if (m.first_zxid >> 32) == (m.last_zxid >> 32) {
                    (to - from + 1).max(0) as u64
                } else {
                    m.txns
                }
            })
            .sum()
    }

    /// Bytes to read from the store.
    pub fn stored_bytes(&self) -> u64 {
        self.plan.snapshot.stored_bytes
            + self
                .plan
                .segments
                .iter()
                .map(|m| m.stored_bytes)
                .sum::<u64>()
    }
}

/// How to write the restored data directory.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// `dataDir` (the snapshot and epoch files go to its `version-2`).
    pub data_dir: PathBuf,
    /// Keep sessions and their ephemerals (they expire unless their clients come back).
    pub keep_sessions: bool,
    /// Write into a `version-2` that holds files (removing its snapshots, logs and epochs).
    pub force: bool,
    /// LZ4 for zk-server, none for a Java server (`--format java`).
    pub compression: Compression,
}

/// What a restore did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreReport {
    /// The zxid restored to.
    pub zxid: String,
    /// Its txn's time, when known.
    pub time_ms: Option<i64>,
    /// The restored state's zxid (new epoch).
    pub new_zxid: String,
    /// Nodes in the restored tree.
    pub nodes: u64,
    /// Txns applied onto the snapshot.
    pub txns_replayed: u64,
    /// Sessions closed (0 with `--keep-sessions`).
    pub sessions_closed: u64,
    /// Ephemeral nodes deleted with them.
    pub ephemerals_deleted: u64,
    /// Txns whose recorded digest differed from the replayed tree's.
    pub digest_mismatches: u64,
    /// The snapshot written.
    pub snapshot: String,
}

/// Decides the objects and zxids of a restore to `point`.
pub async fn plan(
    archive: &Archive,
    catalog: &Catalog,
    point: RestorePoint,
) -> Result<RestorePlan, BackupError> {
    let (zxid, time_ms) = match point {
        RestorePoint::Latest => {
            let zxid = catalog.latest().ok_or_else(|| {
                BackupError::Unavailable(format!(
                    "{}: nothing restorable (no snapshot archived)",
                    archive.target()
                ))
            })?;
            (zxid, txn_time(catalog, zxid))
        }
        RestorePoint::Zxid(zxid) => (zxid, txn_time(catalog, zxid)),
        RestorePoint::Time(time) => {
            let (zxid, at) = zxid_at_time(archive, catalog, time).await?;
            (zxid, Some(at))
        }
    };
    let plan = catalog.plan(zxid)?;
    let highest = catalog
        .segments()
        .iter()
        .chain(catalog.snapshots())
        .map(|m| m.last_zxid)
        .max()
        .unwrap_or(zxid)
        .max(zxid);
    Ok(RestorePlan {
        plan,
        point,
        time_ms,
        new_zxid: ((highest >> 32) + 1) << 32,
    })
}

/// The time of the txn at `zxid`, when a segment's first or last txn is that one, or a
/// snapshot is at it.
fn txn_time(catalog: &Catalog, zxid: i64) -> Option<i64> {
    catalog
        .segments()
        .iter()
        .chain(catalog.snapshots())
        .find_map(|m: &Manifest| {
            if m.last_zxid == zxid {
                Some(m.last_time_ms)
            } else if m.first_zxid == zxid {
                Some(m.first_time_ms)
            } else {
                None
            }
        })
}

/// The zxid of the state at `time`: the txn before the first archived txn whose time is
/// later, and that txn's time. Only segments whose latest time passes `time` are read.
pub async fn zxid_at_time(
    archive: &Archive,
    catalog: &Catalog,
    time: i64,
) -> Result<(i64, i64), BackupError> {
    let mut before: Option<(i64, i64)> = None;
    for segment in catalog.segments() {
        if segment.max_time_ms <= time {
            before = Some((segment.last_zxid, segment.last_time_ms));
            continue;
        }
        for entry in archive.fetch_segment(segment).await? {
            if entry.header.time > time {
                return before.ok_or_else(|| {
                    BackupError::Unavailable(format!(
                        "{} is before the first archived txn ({})",
                        crate::backup::restore::format_time(time),
                        crate::backup::restore::format_time(entry.header.time)
                    ))
                });
            }
            before = Some((entry.header.zxid, entry.header.time));
        }
    }
    before.ok_or_else(|| BackupError::Unavailable("no txn is archived".into()))
}

/// `2026-12-02T10:11:12.345Z`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = zk_proto::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Builds the tree of `plan` and writes it into `options.data_dir`; `progress` hears of each
/// object read.
pub async fn restore(
    archive: &Archive,
    plan: &RestorePlan,
    options: &RestoreOptions,
    progress: &mut (dyn FnMut(&Manifest) + Send),
) -> Result<RestoreReport, BackupError> {
    let dir = options.data_dir.join("version-2");
    prepare_dir(&dir, options.force)?;
    let mut report = RestoreReport::default();
    let mut tree = build_tree(archive, &plan.plan, &mut report, progress).await?;
    if !options.keep_sessions {
        let sessions: Vec<i64> = tree.sessions().keys().copied().collect();
        let nodes_before = tree.node_count();
        for session in &sessions {
            let header = TxnHeader {
                client_id: *session,
                cxid: 0,
                zxid: plan.new_zxid,
                time: now_ms(),
                r#type: OpCode::CloseSession,
            };
            tree.apply(&header, &Txn::CloseSession(None));
        }
        report.sessions_closed = sessions.len() as u64;
        report.ephemerals_deleted = (nodes_before - tree.node_count()) as u64;
    }
    tree.set_last_processed_zxid(plan.new_zxid);
    let written = snapshot::write_tree_snapshot(&dir, plan.new_zxid, &tree, options.compression)?;
    let epoch = plan.new_zxid >> 32;
    epoch::write_epoch_file(&dir, ACCEPTED_EPOCH_FILENAME, epoch)?;
    epoch::write_epoch_file(&dir, CURRENT_EPOCH_FILENAME, epoch)?;
    report.zxid = format!("{:#x}", plan.plan.zxid);
    report.time_ms = plan.time_ms;
    report.new_zxid = format!("{:#x}", plan.new_zxid);
    report.nodes = tree.node_count() as u64;
    report.snapshot = written.display().to_string();
    Ok(report)
}

/// The tree exactly at `plan.zxid`: the plan's snapshot with its segments' txns applied up to
/// it, each txn's recorded digest compared (mismatches counted in `report`).
pub async fn build_tree(
    archive: &Archive,
    plan: &Plan,
    report: &mut RestoreReport,
    progress: &mut (dyn FnMut(&Manifest) + Send),
) -> Result<DataTree, BackupError> {
    let snapshot = &plan.snapshot;
    let raw = archive.fetch(snapshot).await?;
    progress(snapshot);
    let mut tree = tree_from_stream(&raw, &snapshot.object)?;
    tree.set_last_processed_zxid(snapshot.first_zxid);
    drop(raw);
    for segment in &plan.segments {
        for entry in archive.fetch_segment(segment).await? {
            let zxid = entry.header.zxid;
            if zxid <= tree.last_processed_zxid() || zxid > plan.zxid {
                continue;
            }
            tree.apply(&entry.header, &entry.txn);
            report.txns_replayed += 1;
            if entry.digest.is_some_and(|d| d.tree_digest != tree.digest()) {
                report.digest_mismatches += 1;
                tracing::warn!(zxid = %format_args!("{zxid:#x}"), "the tree's digest after this txn differs from the one recorded");
            }
        }
        progress(segment);
    }
    if tree.last_processed_zxid() != plan.zxid {
        return Err(BackupError::Unavailable(format!(
            "the archive ends at {:#x}, before {:#x}",
            tree.last_processed_zxid(),
            plan.zxid
        )));
    }
    Ok(tree)
}

/// The tree of a snapshot stream, every seal checked.
pub fn tree_from_stream(raw: &[u8], name: &str) -> Result<DataTree, BackupError> {
    let mut builder = DataTreeBuilder::new(true);
    zk_proto::storage::Snapshot::parse_from_reader(raw, &mut builder)
        .map_err(|e| BackupError::corrupt(name, e.to_string()))?;
    Ok(builder.finish())
}

/// Creates `dir`; one holding data files is refused unless `force`, which removes them.
fn prepare_dir(dir: &Path, force: bool) -> Result<(), BackupError> {
    std::fs::create_dir_all(dir)?;
    let mut present = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        present.push(entry?.path());
    }
    if present.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(BackupError::Config(format!(
            "{} is not empty ({} files); restore into an empty data directory, or pass --force to replace its contents",
            dir.display(),
            present.len()
        )));
    }
    for path in present {
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

//! Recovery of a data directory, as Java's server starts: the newest valid snapshot (a corrupt
//! one falls back to the one before), then the transaction logs after it (a torn last record is
//! cut off with a warning; a corrupt record in the middle stops startup with the file and
//! offset, unless the caller says to cut the log there), then a fresh snapshot of the result.

use tracing::{info, warn};

use crate::config::Config;
use crate::runtime::SnapshotPolicy;
use crate::storage::snapshot::{self, Compression};
use crate::storage::txnlog::{self, CorruptionPolicy};
use crate::tree::{DataTree, DataTreeBuilder};
use zk_proto::txn::TxnEntry;

/// Why a data directory could not be recovered (the message names the file or setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecoveryError(pub String);

/// The tree as the data directory holds it, and how to keep it durable from here on.
#[derive(Debug)]
pub struct Recovered {
    /// The recovered tree (last processed zxid set).
    pub tree: DataTree,
    /// The txns replayed from the log onto that snapshot, in zxid order (a quorum member's
    /// committed log starts from them, as Java's `commitProposalPlaybackListener`).
    pub replayed: Vec<TxnEntry>,
    /// The thread writing the startup snapshot; join it before exiting so it is complete.
    pub startup_snapshot: std::thread::JoinHandle<()>,
    /// Where and how often snapshots are written from here on.
    pub snapshots: SnapshotPolicy,
    /// How long loading the snapshot took, ms (`startup_snap_load_time`).
    pub snap_load_ms: u64,
    /// How long reading and replaying the logs took, ms (`startup_txns_load_time`).
    pub txns_load_ms: u64,
}

/// Where and how `cfg`'s snapshots are written, and autopurge's schedule.
pub fn snapshot_policy(cfg: &Config) -> Result<SnapshotPolicy, RecoveryError> {
    let compression = Compression::from_config(cfg.snapshot_compression())
        .map_err(|e| RecoveryError(format!("snapshot.compression.method: {e}")))?;
    let purge = (cfg.autopurge_purge_interval_hours > 0).then(|| {
        (
            std::time::Duration::from_secs(u64::from(cfg.autopurge_purge_interval_hours) * 3600),
            cfg.autopurge_snap_retain_count as usize,
        )
    });
    Ok(SnapshotPolicy {
        dir: cfg.data_dir.join("version-2"),
        snap_count: cfg.snap_count(),
        compression,
        log_dir: cfg.data_log_dir.join("version-2"),
        purge,
        interval_ms: cfg.snapshot_interval_ms(),
        archiver: None,
    })
}

/// Recovers `cfg`'s data directories (creating `version-2` in each when missing) and starts
/// writing the startup snapshot on a thread of its own. With `truncate_corrupt_log`, a corrupt
/// record in the middle of the log cuts the log there (losing what follows) instead of failing.
pub fn recover(cfg: &Config, truncate_corrupt_log: bool) -> Result<Recovered, RecoveryError> {
    let snap_dir = cfg.data_dir.join("version-2");
    let log_dir = cfg.data_log_dir.join("version-2");
    for dir in [&snap_dir, &log_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| RecoveryError(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Snapshots cut off by a crash; nothing writes one yet.
    match snapshot::remove_leftover_tmp(&snap_dir, None) {
        Ok(deleted) => {
            for path in deleted {
                info!(path = %path.display(), "removed an unfinished snapshot");
            }
        }
        Err(e) => warn!(error = %e, "cannot remove unfinished snapshots"),
    }
    let extended = cfg.extended_types_enabled();
    let snapshots = snapshot_policy(cfg)?;
    let compression = snapshots.compression;
    let load_started = std::time::Instant::now();
    let loaded = snapshot::load_newest_into(&snap_dir, || DataTreeBuilder::new(extended))
        .map_err(|e| RecoveryError(format!("reading snapshots: {e}")))?;
    let (mut tree, snap_zxid) = match loaded {
        Some((builder, _trailer, zxid, path)) => {
            let mut tree = builder.finish();
            tree.set_last_processed_zxid(zxid);
            info!(path = %path.display(), zxid = %format_args!("{:#x}", zxid), nodes = tree.node_count(), ms = load_started.elapsed().as_millis() as u64, "snapshot loaded");
            (tree, zxid)
        }
        None => {
            let logs = txnlog::logs_needed_after(&log_dir, 0)
                .map_err(|e| RecoveryError(format!("listing logs: {e}")))?;
            if !logs.is_empty() && cfg.property("zookeeper.snapshot.trust.empty") != Some("true") {
                return Err(RecoveryError(format!(
                    "{} has transaction logs but no snapshot; refusing to start (set zookeeper.snapshot.trust.empty=true to replay them onto an empty tree)",
                    log_dir.display()
                )));
            }
            (DataTree::new(extended), 0)
        }
    };
    let snap_load_ms = load_started.elapsed().as_millis() as u64;
    let policy = if truncate_corrupt_log {
        CorruptionPolicy::TruncateAtCorruption
    } else {
        CorruptionPolicy::Fail
    };
    let replay = txnlog::read_logs_after_limited(&log_dir, snap_zxid, policy, cfg.max_txn_bytes())
        .map_err(|e| RecoveryError(e.to_string()))?;
    for (file, offset) in &replay.truncated {
        warn!(file = %file.display(), offset, "transaction log truncated");
    }
    for entry in &replay.entries {
        tree.apply(&entry.header, &entry.txn);
    }
    let txns_load_ms = (load_started.elapsed().as_millis() as u64).saturating_sub(snap_load_ms);
    info!(replayed = replay.entries.len(), ms = load_started.elapsed().as_millis() as u64, last_zxid = %format_args!("{:#x}", tree.last_processed_zxid()), "transaction logs replayed");
    // Like Java, start from a fresh snapshot of what was recovered. Unlike Java, it is written
    // while the server already serves: what it holds is on disk already (the older snapshot
    // and the logs), so nothing waits for it, and the tree clone it writes costs O(1).
    let image = tree.clone();
    let startup_snapshot_dir = snap_dir.clone();
    let startup_snapshot = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        match snapshot::write_tree_snapshot(
            &startup_snapshot_dir,
            image.last_processed_zxid(),
            &image,
            compression,
        ) {
            Ok(written) => {
                info!(path = %written.display(), nodes = image.node_count(), ms = started.elapsed().as_millis() as u64, "startup snapshot written")
            }
            Err(e) => {
                warn!(error = %e, "the startup snapshot failed; the older snapshot and the logs still hold everything")
            }
        }
    });
    Ok(Recovered {
        tree,
        replayed: replay.entries,
        startup_snapshot,
        snap_load_ms,
        txns_load_ms,
        snapshots,
    })
}

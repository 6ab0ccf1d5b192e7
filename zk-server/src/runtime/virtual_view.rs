//! The runtime's side of `/zookeeper/snapshots` and `/zookeeper/backups`: writing the
//! snapshots clients ask for, and refreshing what the core shows (the data directory's
//! snapshots every few seconds, the archive's catalogue less often).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::Input;
use crate::backup::archiver::ArchiverHandle;
use crate::core::virtual_tree::{VirtualEntry, VirtualTree};
use crate::core::Action;
use crate::storage::snapshot::{self, Compression};

/// How often the data directory's snapshots are listed again.
const LOCAL_EVERY: Duration = Duration::from_secs(2);
/// How often the archive's catalogue is read again (every listing is requests to the store).
const ARCHIVE_EVERY: Duration = Duration::from_secs(10);

/// Where requested snapshots go.
#[derive(Debug, Clone)]
pub(super) struct SnapshotSink {
    /// `<dataDir>/version-2`.
    pub dir: PathBuf,
    /// `snapshot.compression.method`.
    pub compression: Compression,
    /// `snapshottime`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Ships what is written.
    pub archiver: Option<ArchiverHandle>,
}

impl SnapshotSink {
    /// Takes the [`Action::Snapshot`]s out of `actions` and writes each on a blocking thread.
    pub(super) fn take_requested(&self, actions: &mut Vec<Action>) {
        if !actions.iter().any(|a| matches!(a, Action::Snapshot { .. })) {
            return;
        }
        for action in std::mem::take(actions) {
            let Action::Snapshot { zxid, tree } = action else {
                actions.push(action);
                continue;
            };
            let sink = self.clone();
            tokio::task::spawn_blocking(move || {
                match snapshot::write_timed_snapshot(
                    &sink.dir,
                    zxid,
                    &tree.0,
                    sink.compression,
                    &sink.metrics,
                ) {
                    Ok(path) => {
                        info!(path = %path.display(), "snapshot written, as a client asked");
                        if let Some(archiver) = &sink.archiver {
                            archiver.snapshot_written(path);
                        }
                    }
                    Err(e) => warn!(error = %e, "the snapshot a client asked for failed"),
                }
            });
        }
    }
}

/// Refreshes the core's virtual folders until `shutdown`.
pub(super) fn spawn_refresh(
    dir: PathBuf,
    archiver: Option<ArchiverHandle>,
    input_tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut backups: (Vec<VirtualEntry>, Bytes) = (Vec::new(), Bytes::new());
        let mut archive_read_at: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(LOCAL_EVERY);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = tick.tick() => {}
            }
            if let Some(archiver) = &archiver {
                if archive_read_at.is_none_or(|at| at.elapsed() >= ARCHIVE_EVERY) {
                    archive_read_at = Some(tokio::time::Instant::now());
                    match archiver.archive().catalog().await {
                        Ok(catalog) => backups = describe_archive(&catalog, archiver),
                        Err(e) => {
                            warn!(error = %e, "cannot read the archive for /zookeeper/backups")
                        }
                    }
                }
            }
            let dir = dir.clone();
            let snapshots = tokio::task::spawn_blocking(move || local_snapshots(&dir))
                .await
                .unwrap_or_default();
            let view = VirtualTree {
                snapshots,
                backups: backups.0.clone(),
                backups_data: backups.1.clone(),
                listed: archiver.is_some(),
            };
            if input_tx.send(Input::VirtualTree(view)).await.is_err() {
                break;
            }
        }
    });
}

/// The snapshot files of `dir`, oldest first.
fn local_snapshots(dir: &std::path::Path) -> Vec<VirtualEntry> {
    let mut entries: Vec<VirtualEntry> = snapshot::list_snapshots(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(path, zxid, compression)| {
            let meta = std::fs::metadata(&path).ok();
            let time_ms = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            let json = serde_json::json!({
                "zxid": format!("{zxid:#x}"),
                "time": crate::backup::restore::format_time(time_ms),
                "bytes": meta.map_or(0, |m| m.len()),
                "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "compression": format!("{compression:?}").to_lowercase(),
            });
            VirtualEntry {
                zxid,
                time_ms,
                data: Bytes::from(json.to_string()),
            }
        })
        .collect();
    entries.sort_by_key(|e| e.zxid);
    entries
}

/// The archived snapshots as children, and the archive's summary as the folder's data.
fn describe_archive(
    catalog: &crate::backup::Catalog,
    archiver: &ArchiverHandle,
) -> (Vec<VirtualEntry>, Bytes) {
    let windows = catalog.windows();
    let children = catalog
        .snapshots()
        .iter()
        .map(|s| {
            let reaches = windows
                .iter()
                .find(|w| w.from_zxid <= s.first_zxid && s.first_zxid <= w.to_zxid)
                .map(|w| w.to_zxid);
            let json = serde_json::json!({
                "zxid": format!("{:#x}", s.first_zxid),
                "time": crate::backup::restore::format_time(s.first_time_ms),
                "nodes": s.nodes,
                "bytes": s.stored_bytes,
                "restorable_through": reaches.map(|z| format!("{z:#x}")),
                "encrypted": s.encryption.is_some(),
            });
            VirtualEntry {
                zxid: s.first_zxid,
                time_ms: s.created_ms,
                data: Bytes::from(json.to_string()),
            }
        })
        .collect();
    let summary = serde_json::json!({
        "target": archiver.archive().target().to_string(),
        "windows": windows.iter().map(|w| serde_json::json!({
            "from_zxid": format!("{:#x}", w.from_zxid),
            "from_time": crate::backup::restore::format_time(w.from_time_ms),
            "to_zxid": format!("{:#x}", w.to_zxid),
            "to_time": crate::backup::restore::format_time(w.to_time_ms),
        })).collect::<Vec<_>>(),
        "last_archived_zxid": catalog.last_log_zxid().map(|z| format!("{z:#x}")),
        "segments": catalog.segments().len(),
        "stored_bytes": catalog.stored_bytes(),
    });
    (children, Bytes::from(summary.to_string()))
}

//! Durable storage in Java's formats: the transaction log and snapshots, and purging old ones.

pub mod log;
pub mod recovery;
pub mod schedule;
pub mod snapshot;
pub mod txnlog;

use std::io;
use std::path::{Path, PathBuf};

/// fsyncs a directory, so the files created, renamed or removed in it stay that way.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// How far the backup archive reaches: autopurge keeps what it does not hold yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivedThrough {
    /// The last archived txn (-1: none).
    pub log_zxid: i64,
    /// The newest archived snapshot (-1: none).
    pub snapshot_zxid: i64,
}

/// What Java's PurgeTxnLog would delete: every snapshot but the `retain` newest (at least 3,
/// as Java enforces), and every log that no retained snapshot needs (a log is needed by a
/// snapshot if it holds txns after that snapshot's zxid). `snap_dir` and `log_dir` are the
/// `version-2` directories. With `archived`, snapshots newer than the newest archived one and
/// logs holding txns the archive lacks are kept as well.
pub fn purge_plan(
    snap_dir: &Path,
    log_dir: &Path,
    retain: usize,
    archived: Option<ArchivedThrough>,
) -> io::Result<Vec<PathBuf>> {
    let retain = retain.max(3);
    let snapshots = snapshot::list_snapshots(snap_dir)?; // newest first
    if snapshots.len() <= retain {
        return Ok(Vec::new());
    }
    let mut oldest_kept_zxid = snapshots[retain - 1].1;
    if let Some(a) = archived {
        oldest_kept_zxid = oldest_kept_zxid.min(a.log_zxid).min(a.snapshot_zxid);
    }
    let mut doomed: Vec<PathBuf> = snapshots[retain..]
        .iter()
        .filter(|(_, zxid, _)| *zxid < oldest_kept_zxid)
        .map(|(path, _, _)| path.clone())
        .collect();
    let needed = txnlog::logs_needed_after(log_dir, oldest_kept_zxid)?;
    for path in txnlog::logs_needed_after(log_dir, i64::MIN)? {
        if !needed.contains(&path) {
            doomed.push(path);
        }
    }
    Ok(doomed)
}

/// Deletes what [`purge_plan`] lists; returns the deleted files.
pub fn purge(
    snap_dir: &Path,
    log_dir: &Path,
    retain: usize,
    archived: Option<ArchivedThrough>,
) -> io::Result<Vec<PathBuf>> {
    let mut doomed = purge_plan(snap_dir, log_dir, retain, archived)?;
    for path in &doomed {
        std::fs::remove_file(path)?;
    }
    // Leftovers of snapshots cut off by a crash; the one being written (if any) is newer
    // than every complete snapshot.
    if let Some((_, newest, _)) = snapshot::list_snapshots(snap_dir)?.first() {
        doomed.extend(snapshot::remove_leftover_tmp(snap_dir, Some(*newest))?);
    }
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), b"x").unwrap();
    }

    #[test]
    fn leftover_snapshot_tmp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "snapshot.10.lz4",
            "snapshot.20",
            ".snapshot.5.lz4.tmp",
            ".snapshot.15.tmp",
            ".snapshot.30.lz4.tmp",
            "log.1",
        ] {
            touch(d, name);
        }
        // Autopurge keeps the one that may be being written (newer than snapshot.20).
        let deleted = purge(d, d, 3, None).unwrap();
        let mut names: Vec<String> = deleted
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".snapshot.15.tmp", ".snapshot.5.lz4.tmp"]);
        assert!(d.join(".snapshot.30.lz4.tmp").exists());
        // Startup removes them all.
        snapshot::remove_leftover_tmp(d, None).unwrap();
        assert!(!d.join(".snapshot.30.lz4.tmp").exists());
        assert!(d.join("snapshot.10.lz4").exists() && d.join("snapshot.20").exists());
    }

    #[test]
    fn keeps_the_newest_snapshots_and_the_logs_they_need() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "snapshot.0",
            "snapshot.10",
            "snapshot.20",
            "snapshot.30",
            "snapshot.40.lz4",
        ] {
            touch(d, name);
        }
        for name in ["log.1", "log.11", "log.19", "log.25", "log.35"] {
            touch(d, name);
        }
        let mut plan: Vec<String> = purge_plan(d, d, 3, None)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        plan.sort();
        // Retained: 40, 30, 20. log.19 holds txns after 20, so it stays; older ones go.
        assert_eq!(plan, vec!["log.1", "log.11", "snapshot.0", "snapshot.10"]);
        assert!(
            purge_plan(d, d, 10, None).unwrap().is_empty(),
            "nothing to purge"
        );
        // The archive holds txns through 0x12 and the snapshot at 0x10: snapshot.10 and the
        // logs from the one holding 0x11 on (log.1, which may run past 0x10) stay.
        let archived = ArchivedThrough {
            log_zxid: 0x12,
            snapshot_zxid: 0x10,
        };
        let mut held: Vec<String> = purge_plan(d, d, 3, Some(archived))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        held.sort();
        assert_eq!(held, vec!["snapshot.0"]);
        assert_eq!(
            purge(d, d, 1, None).unwrap().len(),
            4,
            "retain is at least 3"
        );
        assert!(d.join("log.19").exists() && d.join("snapshot.20").exists());
    }
}

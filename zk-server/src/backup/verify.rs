//! `zk-backup verify`: every object against its manifest (size, SHA-256, LZ4, records, zxid
//! range), the zxid continuity of the segments, and a replay: from each snapshot that starts a
//! chain, the archived txns are applied in order, each txn's recorded tree digest compared with
//! the replayed tree's, and every later snapshot reached is compared (digest and node count)
//! with the tree replayed up to it.

use std::collections::HashSet;

use super::archive::Archive;
use super::catalog::Catalog;
use super::manifest::Manifest;
use super::restore::tree_from_stream;
use super::BackupError;
use crate::tree::DataTree;

/// What verification found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Objects read and checked.
    pub objects: u64,
    /// Txns replayed.
    pub txns_replayed: u64,
    /// Snapshots compared with a replayed tree.
    pub snapshots_matched: u64,
    /// What is wrong, each naming the object.
    pub problems: Vec<String>,
    /// What is odd but harmless (objects without a manifest).
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// Whether the archive is sound.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies everything in `catalog`; `progress` hears of each object read.
pub async fn verify(
    archive: &Archive,
    catalog: &Catalog,
    progress: &mut dyn FnMut(&Manifest),
) -> VerifyReport {
    let mut report = VerifyReport::default();
    report.problems.extend(catalog.problems().iter().cloned());
    for (after, next) in catalog.gaps() {
        report.problems.push(format!(
            "gap: the states between {after:#x} and {next:#x} cannot be restored (txns are missing)"
        ));
    }
    for (a, b) in catalog.overlaps() {
        report.problems.push(format!("{b}: repeats txns of {a}"));
    }
    for orphan in catalog.orphans() {
        report.warnings.push(format!(
            "{orphan}: no manifest names it (an interrupted upload)"
        ));
    }
    let mut checked: HashSet<String> = HashSet::new();
    let snapshots = catalog.snapshots();
    let mut next_snapshot = 0;
    while next_snapshot < snapshots.len() {
        // Load the chain's base.
        let base = &snapshots[next_snapshot];
        next_snapshot += 1;
        let Some(mut tree) = load_snapshot(archive, base, &mut report, progress).await else {
            continue;
        };
        checked.insert(base.object.clone());
        tree.set_last_processed_zxid(base.first_zxid);
        for segment in catalog.continuing(base.first_zxid) {
            let entries = match archive.fetch_segment(segment).await {
                Ok(entries) => entries,
                Err(e) => {
                    report.problems.push(e.to_string());
                    break;
                }
            };
            report.objects += u64::from(checked.insert(segment.object.clone()));
            progress(segment);
            for entry in entries {
                let zxid = entry.header.zxid;
                if zxid <= tree.last_processed_zxid() {
                    continue;
                }
                tree.apply(&entry.header, &entry.txn);
                tree.set_last_processed_zxid(zxid);
                report.txns_replayed += 1;
                if let Some(d) = entry.digest {
                    if d.tree_digest != tree.digest() {
                        report.problems.push(format!(
                            "{}: the tree's digest after txn {zxid:#x} is {:#x}, the txn records {:#x}",
                            segment.object,
                            tree.digest(),
                            d.tree_digest
                        ));
                    }
                }
                // Snapshots this chain reaches are compared with the replayed tree.
                while next_snapshot < snapshots.len() && snapshots[next_snapshot].first_zxid <= zxid
                {
                    let snap = &snapshots[next_snapshot];
                    next_snapshot += 1;
                    if snap.first_zxid == zxid {
                        if let Some(loaded) =
                            load_snapshot(archive, snap, &mut report, progress).await
                        {
                            checked.insert(snap.object.clone());
                            compare(&tree, &loaded, snap, &mut report);
                        }
                    }
                }
            }
        }
    }
    // Segments no chain reaches (before the first snapshot, or after a gap without one).
    for segment in catalog.segments() {
        if checked.contains(&segment.object) {
            continue;
        }
        match archive.fetch_segment(segment).await {
            Ok(_) => report.objects += 1,
            Err(e) => report.problems.push(e.to_string()),
        }
        progress(segment);
        report.warnings.push(format!(
            "{}: no archived snapshot precedes it, so it cannot be restored",
            segment.object
        ));
    }
    report
}

/// Fetches and parses a snapshot, checking its manifest's node count and digest.
async fn load_snapshot(
    archive: &Archive,
    manifest: &Manifest,
    report: &mut VerifyReport,
    progress: &mut dyn FnMut(&Manifest),
) -> Option<DataTree> {
    let loaded = match archive.fetch(manifest).await {
        Ok(raw) => tree_from_stream(&raw, &manifest.object),
        Err(e) => Err(e),
    };
    progress(manifest);
    report.objects += 1;
    match loaded {
        Ok(tree) => {
            if manifest
                .nodes
                .is_some_and(|n| n != tree.node_count() as u64)
            {
                report.problems.push(format!(
                    "{}: {} nodes, the manifest says {:?}",
                    manifest.object,
                    tree.node_count(),
                    manifest.nodes
                ));
            }
            if manifest
                .digest
                .is_some_and(|d| d != 0 && d != tree.digest())
            {
                report.problems.push(format!(
                    "{}: tree digest {:#x}, the manifest says {:#x}",
                    manifest.object,
                    tree.digest(),
                    manifest.digest.unwrap_or(0)
                ));
            }
            Some(tree)
        }
        Err(e) => {
            report.problems.push(e.to_string());
            None
        }
    }
}

fn compare(
    replayed: &DataTree,
    snapshot: &DataTree,
    manifest: &Manifest,
    report: &mut VerifyReport,
) {
    if replayed.digest() == snapshot.digest() && replayed.node_count() == snapshot.node_count() {
        report.snapshots_matched += 1;
    } else {
        report.problems.push(format!(
            "{}: the logs replayed to {:#x} give digest {:#x} and {} nodes, the snapshot has {:#x} and {}",
            manifest.object,
            manifest.first_zxid,
            replayed.digest(),
            replayed.node_count(),
            snapshot.digest(),
            snapshot.node_count()
        ));
    }
}

/// Reads the catalogue and verifies it.
pub async fn verify_archive(
    archive: &Archive,
    progress: &mut dyn FnMut(&Manifest),
) -> Result<VerifyReport, BackupError> {
    let catalog = archive.catalog().await?;
    Ok(verify(archive, &catalog, progress).await)
}

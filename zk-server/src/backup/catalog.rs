//! What an archive holds: its segments and snapshots, how they chain, where the gaps are, the
//! restorable windows, and the objects a restore to a zxid needs.

use super::manifest::{follows, Manifest, ObjectKind};
use super::BackupError;

/// The archive's manifests, sorted, and what is wrong with its listing.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Log segments by first zxid.
    segments: Vec<Manifest>,
    /// Snapshots by zxid.
    snapshots: Vec<Manifest>,
    /// Data objects no manifest names, with their sizes.
    orphans: Vec<(String, u64)>,
    /// Manifests that could not be read.
    problems: Vec<String>,
}

/// A stretch of zxids the archive can restore to: from a snapshot through the segments that
/// continue it without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The snapshot it starts at.
    pub from_zxid: i64,
    /// That snapshot's time.
    pub from_time_ms: i64,
    /// The last txn it reaches.
    pub to_zxid: i64,
    /// That txn's time.
    pub to_time_ms: i64,
    /// It starts at a rebase snapshot: a history of its own (a restore), not the continuation
    /// of the window before it.
    pub rebase: bool,
}

/// The objects a restore reads: a snapshot, then the segments up to the target zxid.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The snapshot (the newest at or below the target that the segments continue).
    pub snapshot: Manifest,
    /// The segments, in order; the last one holds the target (it may hold later txns too).
    pub segments: Vec<Manifest>,
    /// The zxid restored to (inclusive).
    pub zxid: i64,
}

impl Catalog {
    /// Sorts `manifests`; data objects that no manifest names become orphans.
    pub fn new(
        manifests: Vec<Manifest>,
        data_objects: Vec<(String, u64)>,
        problems: Vec<String>,
    ) -> Catalog {
        let named: std::collections::HashSet<&str> =
            manifests.iter().map(|m| m.object.as_str()).collect();
        let orphans = data_objects
            .into_iter()
            .filter(|(name, _)| !named.contains(name.as_str()))
            .collect();
        let (mut segments, mut snapshots): (Vec<_>, Vec<_>) = manifests
            .into_iter()
            .partition(|m| m.kind == ObjectKind::Log);
        segments.sort_by_key(|m| (m.first_zxid, m.last_zxid));
        snapshots.sort_by_key(|m| m.first_zxid);
        Catalog {
            segments,
            snapshots,
            orphans,
            problems,
        }
    }

    /// Log segments by first zxid.
    pub fn segments(&self) -> &[Manifest] {
        &self.segments
    }

    /// Snapshots by zxid.
    pub fn snapshots(&self) -> &[Manifest] {
        &self.snapshots
    }

    /// Data objects no manifest names.
    pub fn orphans(&self) -> impl Iterator<Item = &str> {
        self.orphans.iter().map(|(name, _)| name.as_str())
    }

    /// Manifests that could not be read.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Whether nothing is archived.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.snapshots.is_empty()
    }

    /// The last archived txn's zxid.
    pub fn last_log_zxid(&self) -> Option<i64> {
        self.segments.iter().map(|m| m.last_zxid).max()
    }

    /// The newest snapshot's zxid.
    pub fn last_snapshot_zxid(&self) -> Option<i64> {
        self.snapshots.last().map(|m| m.first_zxid)
    }

    /// Bytes stored (objects with manifests, and orphans).
    pub fn stored_bytes(&self) -> u64 {
        let manifests: u64 = self
            .segments
            .iter()
            .chain(&self.snapshots)
            .map(|m| m.stored_bytes)
            .sum();
        manifests + self.orphans.iter().map(|(_, size)| size).sum::<u64>()
    }

    /// The segment that holds the txn after `zxid`: one covering `zxid + 1`, else the first
    /// one starting a later epoch right after it.
    fn next_segment(&self, zxid: i64) -> Option<usize> {
        // Segments with first <= zxid + 1, the last of them covering zxid + 1 if any does.
        let upto = self.segments.partition_point(|m| m.first_zxid <= zxid + 1);
        if let Some(i) = (0..upto).rev().find(|&i| self.segments[i].covers(zxid + 1)) {
            return Some(i);
        }
        self.segments[upto..]
            .iter()
            .position(|m| follows(zxid, m.first_zxid) && !self.rebased_epoch(zxid, m.first_zxid))
            .map(|i| i + upto)
    }

    /// Whether the epoch of `next` was started by a rebase snapshot after `zxid`: a history
    /// restored from the archive, which the txns before it do not lead to.
    fn rebased_epoch(&self, zxid: i64, next: i64) -> bool {
        let start = (next >> 32) << 32;
        self.snapshots
            .iter()
            .any(|s| s.rebase && s.first_zxid == start && start > zxid)
    }

    /// The segments continuing from `zxid` up to the first gap, and the last zxid they reach
    /// (`zxid` itself when none continues it).
    fn chain_from(&self, zxid: i64) -> (Vec<usize>, i64) {
        let mut chain = Vec::new();
        let mut end = zxid;
        while let Some(i) = self.next_segment(end) {
            chain.push(i);
            end = self.segments[i].last_zxid;
        }
        (chain, end)
    }

    /// The segments that continue from `zxid` without a gap, in order.
    pub fn continuing(&self, zxid: i64) -> Vec<&Manifest> {
        let (chain, _) = self.chain_from(zxid);
        chain.into_iter().map(|i| &self.segments[i]).collect()
    }

    /// The time of the txn at `zxid` if a segment ends there, else `fallback`.
    fn time_at(&self, zxid: i64, fallback: i64) -> i64 {
        self.segments
            .iter()
            .find(|m| m.last_zxid == zxid)
            .map_or(fallback, |m| m.last_time_ms)
    }

    /// The restorable windows, oldest first; overlapping ones are merged.
    pub fn windows(&self) -> Vec<Window> {
        let mut windows: Vec<Window> = Vec::new();
        for snapshot in &self.snapshots {
            let (_, end) = self.chain_from(snapshot.first_zxid);
            let window = Window {
                from_zxid: snapshot.first_zxid,
                from_time_ms: snapshot.first_time_ms,
                to_zxid: end,
                to_time_ms: self.time_at(end, snapshot.first_time_ms),
                rebase: snapshot.rebase,
            };
            match windows.last_mut() {
                // A snapshot right after a window's end continues it: nothing is missing.
                Some(last)
                    if window.from_zxid <= last.to_zxid
                        || follows(last.to_zxid, window.from_zxid) =>
                {
                    if window.to_zxid > last.to_zxid {
                        last.to_zxid = window.to_zxid;
                        last.to_time_ms = window.to_time_ms;
                    }
                }
                _ => windows.push(window),
            }
        }
        windows
    }

    /// The stretches no restore can reach, between windows: `(last restorable zxid, next
    /// restorable zxid)`; the states in between are lost (a missing segment, or one no
    /// snapshot precedes). A window that starts a history of its own (a rebase) leaves none.
    pub fn gaps(&self) -> Vec<(i64, i64)> {
        self.windows()
            .windows(2)
            .filter(|pair| !pair[1].rebase)
            .map(|pair| (pair[0].to_zxid, pair[1].from_zxid))
            .collect()
    }

    /// Segments that repeat txns of an earlier one: `(earlier, later)` object names.
    pub fn overlaps(&self) -> Vec<(String, String)> {
        let mut overlaps = Vec::new();
        for pair in self.segments.windows(2) {
            if pair[1].first_zxid <= pair[0].last_zxid {
                overlaps.push((pair[0].object.clone(), pair[1].object.clone()));
            }
        }
        overlaps
    }

    /// The newest zxid any window reaches.
    pub fn latest(&self) -> Option<i64> {
        self.windows().iter().map(|w| w.to_zxid).max()
    }

    /// What a restore to `zxid` reads; an error names the windows when `zxid` is outside them.
    pub fn plan(&self, zxid: i64) -> Result<Plan, BackupError> {
        for snapshot in self.snapshots.iter().rev().filter(|s| s.first_zxid <= zxid) {
            let (chain, end) = self.chain_from(snapshot.first_zxid);
            if end < zxid {
                continue;
            }
            let mut segments = Vec::new();
            if snapshot.first_zxid < zxid {
                for i in chain {
                    let m = &self.segments[i];
                    segments.push(m.clone());
                    if m.last_zxid >= zxid {
                        break;
                    }
                }
            }
            return Ok(Plan {
                snapshot: snapshot.clone(),
                segments,
                zxid,
            });
        }
        Err(BackupError::Unavailable(format!(
            "zxid {zxid:#x} is outside the restorable windows ({})",
            describe_windows(&self.windows())
        )))
    }
}

/// `0x1..0x5, 0x9..0x20`, or `none`.
pub fn describe_windows(windows: &[Window]) -> String {
    if windows.is_empty() {
        return "none: no snapshot is archived".to_owned();
    }
    windows
        .iter()
        .map(|w| format!("{:#x}..{:#x}", w.from_zxid, w.to_zxid))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::test_manifest as m;

    #[test]
    fn windows_gaps_and_plans_follow_the_chains() {
        use ObjectKind::{Log, Snapshot};
        let e2 = 2i64 << 32;
        let catalog = Catalog::new(
            vec![
                m(Snapshot, 10, 10, 1000),
                m(Log, 11, 20, 1001),
                m(Log, 21, 30, 1011),
                m(Snapshot, 25, 25, 1015),
                // a new epoch continues the chain
                m(Log, e2 + 1, e2 + 5, 2000),
                // a gap: e2+6..e2+9 missing
                m(Log, e2 + 10, e2 + 12, 3000),
                m(Snapshot, e2 + 11, e2 + 11, 3001),
                m(Log, e2 + 11, e2 + 12, 3001),
            ],
            vec![("logs/orphan".into(), 7), ("Log-b".into(), 1)],
            Vec::new(),
        );
        assert_eq!(catalog.gaps(), vec![(e2 + 5, e2 + 11)]);
        assert_eq!(catalog.overlaps().len(), 1);
        assert_eq!(catalog.orphans().collect::<Vec<_>>(), ["logs/orphan"]);
        let windows = catalog.windows();
        assert_eq!(
            windows
                .iter()
                .map(|w| (w.from_zxid, w.to_zxid))
                .collect::<Vec<_>>(),
            [(10, e2 + 5), (e2 + 11, e2 + 12)]
        );
        assert_eq!(catalog.latest(), Some(e2 + 12));
        let plan = catalog.plan(22).unwrap();
        assert_eq!(plan.snapshot.first_zxid, 10);
        assert_eq!(plan.segments.len(), 2);
        let plan = catalog.plan(27).unwrap();
        assert_eq!(plan.snapshot.first_zxid, 25, "the newest snapshot below");
        assert_eq!(
            plan.segments
                .iter()
                .map(|s| s.first_zxid)
                .collect::<Vec<_>>(),
            [21],
            "the segment holding 26 onwards, though it starts before the snapshot"
        );
        assert_eq!(catalog.plan(25).unwrap().segments.len(), 0);
        assert_eq!(
            catalog
                .plan(e2 + 3)
                .unwrap()
                .segments
                .last()
                .unwrap()
                .first_zxid,
            e2 + 1
        );
        let err = catalog.plan(e2 + 7).unwrap_err().to_string();
        assert!(
            err.contains(
                "outside the restorable windows (0xa..0x200000005, 0x20000000b..0x20000000c)"
            ),
            "{err}"
        );
        assert!(catalog.plan(9).is_err());
    }

    #[test]
    fn a_rebase_snapshot_starts_a_history_of_its_own() {
        use ObjectKind::{Log, Snapshot};
        let e2 = 2i64 << 32;
        let mut rebase = m(Snapshot, e2, e2, 3000);
        rebase.rebase = true;
        let catalog = Catalog::new(
            vec![
                m(Snapshot, 10, 10, 1000),
                m(Log, 11, 20, 1001),
                rebase,
                m(Log, e2 + 1, e2 + 5, 3001),
            ],
            Vec::new(),
            Vec::new(),
        );
        // Without the marker the new epoch's segment would continue 0x14.
        assert_eq!(
            catalog
                .windows()
                .iter()
                .map(|w| (w.from_zxid, w.to_zxid))
                .collect::<Vec<_>>(),
            [(10, 20), (e2, e2 + 5)]
        );
        assert_eq!(catalog.plan(e2 + 3).unwrap().snapshot.first_zxid, e2);
        assert!(catalog.plan(21).is_err());
        assert!(catalog.gaps().is_empty(), "a new history is not a gap");
    }
}

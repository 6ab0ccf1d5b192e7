//! `zk-backup retain`: deletes what no restore point inside the kept window needs.
//!
//! A restore to a time inside the window starts from the newest snapshot at or before that
//! time, so the window's base is the newest snapshot taken at or before its start; it, every
//! later snapshot and every segment with txns after it are kept. Keeping by count keeps the
//! newest snapshots and the segments from the oldest of them on. With both, whatever either
//! keeps is kept. The newest snapshot is always kept.

use super::archive::Archive;
use super::catalog::Catalog;
use super::manifest::Manifest;
use super::BackupError;

/// What to keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetainPolicy {
    /// Restore points this far back (ms) stay restorable.
    pub keep_window_ms: Option<i64>,
    /// This many of the newest snapshots stay, with the segments after the oldest of them.
    pub keep_count: Option<usize>,
}

/// The objects a retain deletes (manifests and their objects), oldest first.
pub fn plan(catalog: &Catalog, policy: RetainPolicy, now_ms: i64) -> Vec<Manifest> {
    let snapshots = catalog.snapshots();
    let Some(newest) = snapshots.last() else {
        return Vec::new();
    };
    // The oldest snapshot each rule keeps; everything from it on stays.
    let mut base = newest.first_zxid;
    if let Some(window) = policy.keep_window_ms {
        let start = now_ms.saturating_sub(window);
        let window_base = snapshots
            .iter()
            .rev()
            .find(|s| s.first_time_ms <= start)
            .unwrap_or(&snapshots[0]);
        base = base.min(window_base.first_zxid);
    }
    if let Some(count) = policy.keep_count {
        let count = count.max(1).min(snapshots.len());
        base = base.min(snapshots[snapshots.len() - count].first_zxid);
    }
    if policy.keep_window_ms.is_none() && policy.keep_count.is_none() {
        return Vec::new();
    }
    let mut doomed: Vec<Manifest> = snapshots
        .iter()
        .filter(|s| s.first_zxid < base)
        .cloned()
        .collect();
    doomed.extend(
        catalog
            .segments()
            .iter()
            .filter(|m| m.last_zxid <= base)
            .cloned(),
    );
    doomed.sort_by_key(|m| m.first_zxid);
    doomed
}

/// Deletes what [`plan`] lists; returns how many objects and bytes went.
pub async fn apply(archive: &Archive, doomed: &[Manifest]) -> Result<(usize, u64), BackupError> {
    let mut bytes = 0;
    for manifest in doomed {
        archive.delete(manifest).await?;
        bytes += manifest.stored_bytes;
    }
    Ok((doomed.len(), bytes))
}

/// `7d`, `12h`, `30m`, `45s` or plain seconds, as ms.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::test_manifest as m;
    use crate::backup::manifest::ObjectKind;

    fn names(doomed: &[Manifest]) -> Vec<String> {
        doomed.iter().map(|m| m.object.clone()).collect()
    }

    #[test]
    fn keeps_what_the_window_and_the_count_need() {
        use ObjectKind::{Log, Snapshot};
        // Snapshots at 10 (t=100), 20 (t=200), 30 (t=300); segments 11-15, 16-22, 23-35
        // (objects are named by hex zxid).
        let catalog = Catalog::new(
            vec![
                m(Snapshot, 10, 10, 100),
                m(Snapshot, 20, 20, 200),
                m(Snapshot, 30, 30, 300),
                m(Log, 11, 15, 101),
                m(Log, 16, 22, 150),
                m(Log, 23, 35, 250),
            ],
            Vec::new(),
            Vec::new(),
        );
        let window = |ms| RetainPolicy {
            keep_window_ms: Some(ms),
            keep_count: None,
        };
        // Now 400, window 150: points from t=250 on need snapshot 20 and the segments after it.
        assert_eq!(
            names(&plan(&catalog, window(150), 400)),
            ["Snapshot-a", "Log-b"]
        );
        // A window reaching before every snapshot keeps everything.
        assert!(plan(&catalog, window(1000), 400).is_empty());
        // A window after the newest snapshot keeps it and what follows.
        assert_eq!(
            names(&plan(&catalog, window(10), 400)),
            ["Snapshot-a", "Log-b", "Log-10", "Snapshot-14"]
        );
        let count = |n| RetainPolicy {
            keep_window_ms: None,
            keep_count: Some(n),
        };
        assert_eq!(names(&plan(&catalog, count(1), 400)).len(), 4);
        assert_eq!(
            names(&plan(&catalog, count(2), 400)),
            ["Snapshot-a", "Log-b"]
        );
        // Both: whatever either keeps.
        let both = RetainPolicy {
            keep_window_ms: Some(10),
            keep_count: Some(2),
        };
        assert_eq!(names(&plan(&catalog, both, 400)), ["Snapshot-a", "Log-b"]);
        assert!(plan(&catalog, RetainPolicy::default(), 400).is_empty());
        assert_eq!(parse_duration_ms("7d"), Some(7 * 86_400_000));
        assert_eq!(parse_duration_ms("90"), Some(90_000));
        assert_eq!(parse_duration_ms("3y"), None);
    }
}

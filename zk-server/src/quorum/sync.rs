//! How a leader brings a learner up to date: Java 3.8's `LearnerHandler.syncFollower` and
//! `queueCommittedProposals` as one pure decision (QUORUM.md 5.2).
//!
//! The leader keeps the last `commitLogCount` (500) committed txns in memory, the committed log
//! `minCommittedLog..=maxCommittedLog`. A learner reports its last zxid in ACKEPOCH; from that the
//! leader picks, in Java's order:
//!
//! 1. `forceSnapshotSync`: SNAP;
//! 2. the learner's zxid is the leader's last processed zxid: an empty DIFF;
//! 3. the learner is past `maxCommittedLog` (and its zxid is not an epoch's first, `epoch << 32`,
//!    which names no txn): TRUNC to `maxCommittedLog`;
//! 4. the learner's zxid is inside the committed log: DIFF, then the txns after it. If the leader
//!    never had that zxid (the learner logged txns of an epoch nobody committed), TRUNC to the last
//!    zxid the two share, then the txns after the learner's zxid; across an epoch boundary that
//!    TRUNC is impossible and the learner gets SNAP;
//! 5. the learner is older than the committed log: the on-disk txn log is read from its zxid when
//!    allowed (see [`DiskLogReach`]) and it reaches the committed log, giving a DIFF;
//! 6. else SNAP.
//!
//! The txns to send come back as a zxid range; the caller sends them as PROPOSAL + COMMIT pairs
//! from the disk log and the committed log.

use zk_proto::quorum::epoch_of_zxid;

/// The leader side of one sync decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInput<'a> {
    /// The learner's last logged zxid (ACKEPOCH's zxid).
    pub peer_last_zxid: i64,
    /// The zxid the leader's tree last applied (`getDataTreeLastProcessedZxid`).
    pub last_processed_zxid: i64,
    /// The zxids of the in-memory committed log, ascending (empty when it is empty).
    pub committed_log: &'a [i64],
    /// `zookeeper.forceSnapshotSync`.
    pub force_snap: bool,
    /// What the on-disk txn log holds from the learner's zxid on; `None` when txn-log sync is
    /// off (`zookeeper.snapshotSizeFactor` < 0) or not wanted.
    pub disk: Option<DiskLogReach>,
}

/// The on-disk txn log as seen from a learner's zxid (Java's `getProposalsFromTxnLog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLogReach {
    /// The zxid of the first durable txn at or after the learner's zxid, `None` if there is none.
    /// Java uses the log only when this is the learner's zxid itself.
    pub first_zxid: Option<i64>,
    /// The zxid of the last durable txn in the log.
    pub last_zxid: i64,
    /// Whether reading from the learner's zxid stays within the size limit
    /// ([`txn_log_within_limit`]).
    pub within_size_limit: bool,
}

/// Java's limit on reading the txn log for a sync (`ZKDatabase.calculateTxnLogSizeLimit` and
/// `getProposalsFromTxnLog`): the log files to read (`storage_bytes`, Java's `getStorageSize`:
/// the file holding the zxid and every later one) may total at most `snapshotSizeFactor` times the
/// newest snapshot's size. A factor below 0 disables txn-log sync; a limit of 0 (no snapshot, or
/// factor 0) means no limit. Java truncates `size * factor` to a long.
pub fn txn_log_within_limit(storage_bytes: u64, newest_snapshot_bytes: u64, factor: f64) -> bool {
    if factor < 0.0 {
        return false;
    }
    // Java (3.8) resets a factor above 1 to the default 0.33.
    let factor = if factor > 1.0 { 0.33 } else { factor };
    let limit = (newest_snapshot_bytes as f64 * factor) as u64;
    limit == 0 || storage_bytes <= limit
}

/// What the leader sends a learner before NEWLEADER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPlan {
    /// `DIFF(diff_zxid)`, then every committed txn with `after < zxid <= through` as PROPOSAL +
    /// COMMIT (none when `after == through`).
    Diff {
        /// The DIFF packet's zxid (the learner's zxid for an empty DIFF, else `maxCommittedLog`).
        diff_zxid: i64,
        /// Send txns after this zxid ...
        after: i64,
        /// ... up to and including this one.
        through: i64,
    },
    /// `TRUNC(to)`, then the committed txns with `after < zxid <= through` (none when the
    /// learner is simply ahead of the leader).
    Trunc {
        /// The zxid the learner truncates its log to.
        to: i64,
        /// Send txns after this zxid ...
        after: i64,
        /// ... up to and including this one.
        through: i64,
    },
    /// SNAP with the leader's last processed zxid, then the snapshot.
    Snap {
        /// The SNAP packet's zxid.
        zxid: i64,
    },
}

impl SyncPlan {
    /// The last zxid the learner has once the plan's packets are through: proposals after it
    /// are forwarded to the learner (the zxid Java passes to `startForwarding`).
    pub fn synced_through(&self, peer_last_zxid: i64) -> i64 {
        match *self {
            SyncPlan::Diff { after, through, .. } | SyncPlan::Trunc { after, through, .. } => {
                if through > after {
                    through
                } else {
                    // An empty DIFF leaves the learner where it was; a bare TRUNC where it is
                    // cut to.
                    match *self {
                        SyncPlan::Trunc { to, .. } => to,
                        _ => peer_last_zxid,
                    }
                }
            }
            SyncPlan::Snap { zxid } => zxid,
        }
    }
}

/// Decides how to sync a learner, exactly as Java 3.8's `syncFollower` (see the module docs).
pub fn plan_sync(input: &SyncInput<'_>) -> SyncPlan {
    let peer = input.peer_last_zxid;
    let last_processed = input.last_processed_zxid;
    let snap = SyncPlan::Snap {
        zxid: last_processed,
    };
    let peer_new_epoch_zxid = peer & 0xffff_ffff == 0;
    let (min_committed, max_committed) =
        match (input.committed_log.first(), input.committed_log.last()) {
            (Some(&min), Some(&max)) => (min, max),
            _ => (last_processed, last_processed),
        };

    if input.force_snap {
        snap
    } else if last_processed == peer {
        SyncPlan::Diff {
            diff_zxid: peer,
            after: peer,
            through: peer,
        }
    } else if peer > max_committed && !peer_new_epoch_zxid {
        SyncPlan::Trunc {
            to: max_committed,
            after: max_committed,
            through: max_committed,
        }
    } else if min_committed <= peer && peer <= max_committed {
        from_history(input.committed_log, peer, max_committed).unwrap_or(snap)
    } else if peer < min_committed {
        let Some(disk) = input.disk else {
            return snap;
        };
        // Java reads the log only if it holds the learner's zxid itself and the files are small
        // enough; then the log must reach the committed log (else there is a gap).
        if disk.first_zxid != Some(peer) || !disk.within_size_limit {
            return snap;
        }
        let reached = disk.last_zxid.min(min_committed);
        if reached < min_committed {
            return snap;
        }
        SyncPlan::Diff {
            diff_zxid: max_committed,
            after: peer,
            through: max_committed,
        }
    } else {
        snap
    }
}

/// `queueCommittedProposals` over the committed log for a learner whose zxid lies within it:
/// `None` means SNAP (a TRUNC across an epoch boundary).
fn from_history(zxids: &[i64], peer: i64, max_committed: i64) -> Option<SyncPlan> {
    let peer_new_epoch_zxid = peer & 0xffff_ffff == 0;
    let diff = SyncPlan::Diff {
        diff_zxid: max_committed,
        after: peer,
        through: max_committed,
    };
    let below = zxids.partition_point(|&z| z < peer);
    let Some(&first_not_below) = zxids.get(below) else {
        // The log ends below the learner: Java's trailing check sends an empty DIFF to a
        // new-epoch zxid and falls back to SNAP otherwise.
        return peer_new_epoch_zxid.then_some(diff);
    };
    if first_not_below == peer || peer_new_epoch_zxid {
        return Some(diff);
    }
    // The leader never had `peer`: cut the learner back to the last zxid both have.
    if epoch_of_zxid(first_not_below) != epoch_of_zxid(peer) {
        return None;
    }
    let prev = if below == 0 { -1 } else { zxids[below - 1] };
    Some(SyncPlan::Trunc {
        to: prev,
        after: peer,
        through: max_committed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const E1: i64 = 1 << 32;
    const E2: i64 = 2 << 32;

    fn input(peer: i64, last: i64, log: &[i64]) -> SyncInput<'_> {
        SyncInput {
            peer_last_zxid: peer,
            last_processed_zxid: last,
            committed_log: log,
            force_snap: false,
            disk: None,
        }
    }

    fn diff(diff_zxid: i64, after: i64, through: i64) -> SyncPlan {
        SyncPlan::Diff {
            diff_zxid,
            after,
            through,
        }
    }

    #[test]
    fn forced_snapshot_wins_even_when_in_sync() {
        let log = [E1 + 1];
        let mut i = input(E1 + 1, E1 + 1, &log);
        i.force_snap = true;
        assert_eq!(plan_sync(&i), SyncPlan::Snap { zxid: E1 + 1 });
        // The SNAP capture: both at 0 with forceSnapshotSync.
        let mut i = input(0, 0, &[]);
        i.force_snap = true;
        assert_eq!(plan_sync(&i), SyncPlan::Snap { zxid: 0 });
    }

    #[test]
    fn in_sync_learner_gets_an_empty_diff_of_its_own_zxid() {
        // The emptyDIFF capture: DIFF 0x100000009.
        let log: Vec<i64> = (1..=9).map(|c| E1 + c).collect();
        let plan = plan_sync(&input(E1 + 9, E1 + 9, &log));
        assert_eq!(plan, diff(E1 + 9, E1 + 9, E1 + 9));
        assert_eq!(plan.synced_through(E1 + 9), E1 + 9);
        assert_eq!(plan_sync(&input(0, 0, &[])), diff(0, 0, 0));
    }

    #[test]
    fn learner_ahead_of_the_committed_log_is_truncated() {
        let log = [E1 + 1, E1 + 2];
        let plan = plan_sync(&input(E1 + 5, E1 + 2, &log));
        assert_eq!(
            plan,
            SyncPlan::Trunc {
                to: E1 + 2,
                after: E1 + 2,
                through: E1 + 2
            }
        );
        assert_eq!(plan.synced_through(E1 + 5), E1 + 2);
        // Empty committed log: the last processed zxid stands in for both ends.
        assert!(matches!(
            plan_sync(&input(E1 + 5, E1 + 2, &[])),
            SyncPlan::Trunc { to, .. } if to == E1 + 2
        ));
    }

    #[test]
    fn ahead_with_a_new_epoch_zxid_is_not_truncated() {
        // A learner at E2 (synced to epoch 2, no txn yet) and a leader still at E1 + 2: no TRUNC,
        // and the zxid is past the log, so SNAP.
        let log = [E1 + 1, E1 + 2];
        assert_eq!(
            plan_sync(&input(E2, E1 + 2, &log)),
            SyncPlan::Snap { zxid: E1 + 2 }
        );
    }

    #[test]
    fn learner_inside_the_committed_log_gets_the_txns_after_it() {
        // The DIFF capture: learner at 0x100000009, log up to 0x200000005.
        let mut log: Vec<i64> = (1..=9).map(|c| E1 + c).collect();
        log.extend((1..=5).map(|c| E2 + c));
        let plan = plan_sync(&input(E1 + 9, E2 + 5, &log));
        assert_eq!(plan, diff(E2 + 5, E1 + 9, E2 + 5));
        assert_eq!(plan.synced_through(E1 + 9), E2 + 5);
        // At the first entry.
        assert_eq!(
            plan_sync(&input(E1 + 1, E2 + 5, &log)),
            diff(E2 + 5, E1 + 1, E2 + 5)
        );
    }

    #[test]
    fn new_epoch_zxid_inside_the_log_gets_a_diff() {
        // A learner synced at E2 (no txn has that zxid) while the log holds E2 + 1..: DIFF.
        let log = [E1 + 8, E1 + 9, E2 + 1, E2 + 2];
        assert_eq!(
            plan_sync(&input(E2, E2 + 2, &log)),
            diff(E2 + 2, E2, E2 + 2)
        );
    }

    #[test]
    fn unknown_zxid_in_the_same_epoch_truncates_to_the_last_common_one() {
        // The learner logged an E2 + 3 that was never committed; the leader's log goes from
        // E2 + 2 to a different E2 + 4.
        let log = [E2 + 1, E2 + 2, E2 + 4, E2 + 5];
        let plan = plan_sync(&input(E2 + 3, E2 + 5, &log));
        assert_eq!(
            plan,
            SyncPlan::Trunc {
                to: E2 + 2,
                after: E2 + 3,
                through: E2 + 5
            }
        );
        assert_eq!(plan.synced_through(E2 + 3), E2 + 5);
    }

    #[test]
    fn unknown_zxid_across_an_epoch_boundary_needs_a_snapshot() {
        // The learner (an old leader) logged E1 + 3, which nobody else had; the log goes on
        // with epoch 2. Java cannot TRUNC across epochs.
        let log = [E1 + 1, E1 + 2, E2 + 1, E2 + 2];
        assert_eq!(
            plan_sync(&input(E1 + 3, E2 + 2, &log)),
            SyncPlan::Snap { zxid: E2 + 2 }
        );
    }

    fn reach(first: Option<i64>, last: i64, ok: bool) -> Option<DiskLogReach> {
        Some(DiskLogReach {
            first_zxid: first,
            last_zxid: last,
            within_size_limit: ok,
        })
    }

    #[test]
    fn older_learner_is_synced_from_the_disk_log_when_allowed() {
        let log = [E1 + 50, E1 + 51, E1 + 52];
        let mut i = input(E1 + 10, E1 + 52, &log);
        assert_eq!(plan_sync(&i), SyncPlan::Snap { zxid: E1 + 52 }, "disk off");
        i.disk = reach(Some(E1 + 10), E1 + 52, true);
        let plan = plan_sync(&i);
        assert_eq!(plan, diff(E1 + 52, E1 + 10, E1 + 52));
        // The disk log may end exactly at the committed log's first txn.
        i.disk = reach(Some(E1 + 10), E1 + 50, true);
        assert_eq!(plan_sync(&i), plan);
    }

    #[test]
    fn disk_log_refusals_fall_back_to_snap() {
        let log = [E1 + 50, E1 + 51];
        let snap = SyncPlan::Snap { zxid: E1 + 51 };
        let mut i = input(E1 + 10, E1 + 51, &log);
        for disk in [
            reach(Some(E1 + 11), E1 + 51, true), // purged: the log starts after the learner
            reach(None, 0, true),                // nothing at or after it
            reach(Some(E1 + 10), E1 + 51, false), // too large
            reach(Some(E1 + 10), E1 + 40, true), // gap before the committed log
        ] {
            i.disk = disk;
            assert_eq!(plan_sync(&i), snap, "{disk:?}");
        }
        // A new-epoch zxid is never the first txn of the log: SNAP.
        let mut i = input(E1, E1 + 51, &log);
        i.disk = reach(Some(E1 + 1), E1 + 51, true);
        assert_eq!(plan_sync(&i), snap);
    }

    #[test]
    fn size_limit_follows_java() {
        assert!(txn_log_within_limit(100, 1000, 0.33));
        assert!(txn_log_within_limit(330, 1000, 0.33));
        assert!(!txn_log_within_limit(331, 1000, 0.33));
        assert!(
            txn_log_within_limit(1 << 40, 0, 0.33),
            "no snapshot: no limit"
        );
        assert!(
            txn_log_within_limit(1 << 40, 1000, 0.0),
            "factor 0: no limit"
        );
        assert!(!txn_log_within_limit(0, 1000, -1.0), "negative: disabled");
        assert!(
            !txn_log_within_limit(331, 1000, 5.0),
            "above 1: the default"
        );
    }
}

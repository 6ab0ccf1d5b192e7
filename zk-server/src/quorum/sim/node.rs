//! One simulated server: its disk (log, snapshot, epoch files), its in-memory database (the
//! committed sequence stands in for the data tree) and its current role.

use std::sync::Arc;

use zk_proto::txn::TxnEntry;

use crate::quorum::election::Election;
use crate::quorum::leader::{Leader, COMMIT_LOG_COUNT};
use crate::quorum::learner::Learner;
use crate::storage::log::{MemTxnLog, TxnLog};

use super::net::ConnId;

/// What survives a crash.
#[derive(Debug, Default)]
pub(super) struct Disk {
    /// Appended txns; those past the last flush are lost in a crash.
    pub log: MemTxnLog,
    /// The newest snapshot: the tree's txns ...
    pub snapshot: Vec<Arc<TxnEntry>>,
    /// ... as of this zxid (its file name: the tree's last processed zxid when taken).
    pub snapshot_zxid: i64,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    /// The `updatingEpoch` marker (created durably, so a crash keeps it).
    pub updating_epoch: bool,
    /// When the flush under way completes (the disk's latency), if one is.
    pub flushing: bool,
}

impl Disk {
    /// A crash: the unflushed tail of the log is gone.
    pub(super) fn lose_unflushed(&mut self) {
        let kept = self.log.flushed_len();
        let last = kept
            .checked_sub(1)
            .map_or(0, |i| self.log.entries()[i].header.zxid);
        self.log.truncate_after(last).expect("memory log");
        self.flushing = false;
    }

    /// Java's `loadDataBase`: the snapshot, then the log txns after it.
    pub(super) fn load_tree(&self) -> Vec<Arc<TxnEntry>> {
        let mut tree = self.snapshot.clone();
        let from = self.snapshot_zxid;
        tree.extend(
            self.log
                .entries()
                .iter()
                .filter(|e| e.header.zxid > from)
                .map(|e| Arc::new(e.clone())),
        );
        tree
    }
}

/// The zxid of a sequence's last txn (0 when empty).
pub(super) fn last_zxid(tree: &[Arc<TxnEntry>]) -> i64 {
    tree.last().map_or(0, |e| e.header.zxid)
}

/// A leader with the connections of its learners.
#[derive(Debug)]
pub(super) struct Leading {
    pub core: Leader,
    pub id: u64,
    /// Proposed txns not committed yet, by zxid (the local pipeline's queue).
    pub outstanding: std::collections::BTreeMap<i64, Arc<TxnEntry>>,
    /// The next zxid to assign, once established.
    pub next_zxid: Option<i64>,
}

/// A follower or observer.
#[derive(Debug)]
pub(super) struct Following {
    pub core: Learner,
    pub id: u64,
    pub leader: i64,
    pub conn: Option<ConnId>,
    pub next_connect_ms: u64,
}

#[derive(Debug)]
pub(super) enum Role {
    Looking,
    Leading(Box<Leading>),
    Following(Box<Following>),
}

impl Role {
    pub(super) fn id(&self) -> Option<u64> {
        match self {
            Role::Looking => None,
            Role::Leading(l) => Some(l.id),
            Role::Following(f) => Some(f.id),
        }
    }
}

#[derive(Debug)]
pub(super) struct Node {
    pub sid: i64,
    pub observer: bool,
    pub up: bool,
    /// Bumped at each crash: stale disk completions are ignored.
    pub incarnation: u64,
    pub disk: Disk,
    /// Flushes take this long (slow disks take long).
    pub disk_latency_ms: (u64, u64),
    pub election: Option<Election>,
    pub role: Role,
    /// The database: applied txns in zxid order.
    pub tree: Vec<Arc<TxnEntry>>,
    /// The committed log (Java's in-memory `committedLog`) holds only txns after this zxid:
    /// after a restart, those replayed from the log; after a SNAP, those applied since.
    pub committed_log_floor: i64,
    /// Serving: the tree holds committed txns only and must agree with the history.
    pub synced: bool,
    /// The tree's last processed zxid when set beyond its last txn: `epoch << 32` by a
    /// leader's start, a SNAP's zxid, a snapshot's name.
    pub processed_mark: i64,
}

impl Node {
    pub(super) fn new(sid: i64, observer: bool) -> Node {
        Node {
            sid,
            observer,
            up: false,
            incarnation: 0,
            disk: Disk::default(),
            disk_latency_ms: (1, 5),
            election: None,
            role: Role::Looking,
            tree: Vec::new(),
            committed_log_floor: 0,
            synced: false,
            processed_mark: 0,
        }
    }

    /// The database from the disk: the newest snapshot, then the log after it (at a start,
    /// and when a learner's sync did not complete).
    pub(super) fn load_from_disk(&mut self) {
        self.tree = self.disk.load_tree();
        self.committed_log_floor = self.disk.snapshot_zxid;
        self.processed_mark = self.disk.snapshot_zxid;
        self.synced = false;
    }

    /// `getDataTreeLastProcessedZxid`: what the node votes with and reports in sync.
    pub(super) fn last_processed(&self) -> i64 {
        self.processed_mark.max(self.last_zxid())
    }

    pub(super) fn last_zxid(&self) -> i64 {
        last_zxid(&self.tree)
    }

    /// The leader's `committedLog`: the newest applied txns above the floor.
    pub(super) fn committed_log(&self) -> Vec<Arc<TxnEntry>> {
        let above = self
            .tree
            .partition_point(|e| e.header.zxid <= self.committed_log_floor);
        let start = above.max(self.tree.len().saturating_sub(COMMIT_LOG_COUNT + 1));
        self.tree[start..].to_vec()
    }

    /// `ZooKeeperServer.shutdown(false)` when a role ends: the sync processor flushes what it
    /// holds and the tree is fast-forwarded over the log (`fastForwardDataBase`), so the
    /// next election votes with every logged txn.
    pub(super) fn fast_forward(&mut self) {
        self.disk.log.flush().expect("memory log");
        self.disk.flushing = false;
        let from = self.last_processed();
        let more: Vec<_> = self
            .disk
            .log
            .entries()
            .iter()
            .filter(|e| e.header.zxid > from)
            .map(|e| Arc::new(e.clone()))
            .collect();
        self.tree.extend(more);
        self.synced = false;
    }
}

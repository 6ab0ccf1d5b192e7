//! The transaction log as the request pipeline and ZAB see it: a [`TxnLog`] appends txns in
//! zxid order and says when they are durable. The runtime owns the log and performs the
//! appends the core asks for; the core learns "durable up to zxid" from the runtime and only
//! then lets replies and events of those txns out (a quorum of one commits on its own flush).
//!
//! [`crate::storage::txnlog::TxnLogWriter`] writes Java's files; [`MemTxnLog`] keeps the txns in
//! memory (an in-memory server, and the simulated disks of ensemble tests).

use std::io;

use zk_proto::txn::TxnEntry;

/// The txns [`TxnLog::read_from`] yields, in zxid order. Reading stops after the first error.
pub type TxnEntries<'a> = Box<dyn Iterator<Item = io::Result<TxnEntry>> + Send + 'a>;

/// An append-only log of txns in zxid order. Appends are buffered; [`TxnLog::flush`] makes them
/// durable (group commit: many appends, one flush). ZAB's sync reads the log from a zxid (a
/// DIFF) and cuts it after one (a TRUNC).
///
/// What readers see: [`TxnLog::read_from`] yields only durable txns, those up to the zxid the
/// last [`TxnLog::flush`] returned (or that [`TxnLog::truncate_after`] or opening the log left).
/// Appended but unflushed txns are invisible to it in every implementation: the file log holds
/// them in a buffer, and a leader must not send a learner what its own crash could still lose.
/// [`TxnLog::last_logged_zxid`] counts them.
pub trait TxnLog: Send {
    /// Buffers one txn. Its zxid is larger than every zxid appended before.
    fn append(&mut self, entry: &TxnEntry) -> io::Result<()>;

    /// Makes everything appended durable and returns the zxid it is durable up to (the last
    /// appended, or [`TxnLog::last_logged_zxid`] when nothing was appended). An error is fatal:
    /// the server must stop, as acknowledging anything more could lose it.
    fn flush(&mut self) -> io::Result<i64>;

    /// Makes the next append start a new segment (Java's `rollLog`, when a snapshot starts).
    fn roll(&mut self) -> io::Result<()>;

    /// The zxid of the last txn in the log, flushed or not (0 when the log is empty). For a log
    /// opened on existing files, the last one they hold (Java's `getLastLoggedZxid`).
    fn last_logged_zxid(&self) -> i64;

    /// Drops every txn with a zxid larger than `zxid`, flushed or not (a learner's TRUNC, Java's
    /// `FileTxnLog.truncate`), and makes the kept ones durable before returning. Afterwards
    /// [`TxnLog::last_logged_zxid`] is the last kept txn's zxid (0 if none is kept) and appends
    /// go on from there. A `zxid` at or past the end drops nothing.
    fn truncate_after(&mut self, zxid: i64) -> io::Result<()>;

    /// The durable txns with zxid >= `zxid`, in order (a leader's DIFF; Java's
    /// `FileTxnLog.read`). Nothing if the log ends before `zxid`. Whether the first txn is
    /// `zxid` itself (a learner's history matching the leader's) is for the caller to check.
    fn read_from(&self, zxid: i64) -> TxnEntries<'_>;
}

/// A log that keeps its txns in memory: nothing survives the process.
#[derive(Debug, Default, Clone)]
pub struct MemTxnLog {
    entries: Vec<TxnEntry>,
    /// How many of `entries` a flush has made "durable".
    flushed: usize,
}

impl MemTxnLog {
    /// An empty log.
    pub fn new() -> MemTxnLog {
        MemTxnLog::default()
    }

    /// Every txn appended, in order.
    pub fn entries(&self) -> &[TxnEntry] {
        &self.entries
    }

    /// How many txns the last flush covered.
    pub fn flushed_len(&self) -> usize {
        self.flushed
    }
}

impl TxnLog for MemTxnLog {
    fn append(&mut self, entry: &TxnEntry) -> io::Result<()> {
        debug_assert!(
            entry.header.zxid > self.last_logged_zxid(),
            "zxids increase: {:#x} after {:#x}",
            entry.header.zxid,
            self.last_logged_zxid()
        );
        self.entries.push(entry.clone());
        Ok(())
    }

    fn flush(&mut self) -> io::Result<i64> {
        self.flushed = self.entries.len();
        Ok(self.last_logged_zxid())
    }

    fn roll(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn last_logged_zxid(&self) -> i64 {
        self.entries.last().map_or(0, |e| e.header.zxid)
    }

    fn truncate_after(&mut self, zxid: i64) -> io::Result<()> {
        let kept = self.entries.partition_point(|e| e.header.zxid <= zxid);
        self.entries.truncate(kept);
        self.flushed = kept;
        Ok(())
    }

    fn read_from(&self, zxid: i64) -> TxnEntries<'_> {
        let durable = &self.entries[..self.flushed];
        let start = durable.partition_point(|e| e.header.zxid < zxid);
        Box::new(durable[start..].iter().cloned().map(Ok))
    }
}

#[cfg(test)]
mod conformance;

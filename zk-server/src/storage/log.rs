//! The transaction log as the request pipeline and ZAB see it: a [`TxnLog`] appends txns in
//! zxid order and says when they are durable. The runtime owns the log and performs the
//! appends the core asks for; the core learns "durable up to zxid" from the runtime and only
//! then lets replies and events of those txns out (a quorum of one commits on its own flush).
//!
//! [`crate::storage::txnlog::TxnLogWriter`] writes Java's files; [`MemTxnLog`] keeps the txns in
//! memory (an in-memory server, and the simulated disks of ensemble tests).

use std::io;

use zk_proto::txn::TxnEntry;

/// An append-only log of txns in zxid order. Appends are buffered; [`TxnLog::flush`] makes them
/// durable (group commit: many appends, one flush).
pub trait TxnLog: Send {
    /// Buffers one txn. Its zxid is larger than every zxid appended before.
    fn append(&mut self, entry: &TxnEntry) -> io::Result<()>;

    /// Makes everything appended durable and returns the zxid it is durable up to (the last
    /// appended, or [`TxnLog::last_logged_zxid`] when nothing was appended). An error is fatal:
    /// the server must stop, as acknowledging anything more could lose it.
    fn flush(&mut self) -> io::Result<i64>;

    /// Makes the next append start a new segment (Java's `rollLog`, when a snapshot starts).
    fn roll(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The zxid of the last txn appended (0 when the log is empty).
    fn last_logged_zxid(&self) -> i64;
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

    fn last_logged_zxid(&self) -> i64 {
        self.entries.last().map_or(0, |e| e.header.zxid)
    }
}

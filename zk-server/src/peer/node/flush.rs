//! The log's fsyncs off the node's task, one at a time (Java's SyncRequestProcessor thread):
//! while one runs, the node goes on handling ACKs, COMMITs and new proposals, and what they
//! append is synced by the next one (group commit). The cores see a txn as durable only when
//! the fsync that covers it has returned.

use tokio::task::JoinHandle;

use super::database::Database;
use super::NodeError;

/// The txn log's flush state of one role.
#[derive(Debug, Default)]
pub(super) struct LogFlush {
    /// Appended since the running (or last) fsync began.
    unflushed: bool,
    running: Option<JoinHandle<std::io::Result<i64>>>,
}

impl LogFlush {
    /// Something was appended: the next [`LogFlush::start_if_due`] syncs it.
    pub(super) fn appended(&mut self) {
        self.unflushed = true;
    }

    /// Starts an fsync of what was appended, unless one is running (its end starts the next).
    pub(super) fn start_if_due(&mut self, db: &mut Database) -> Result<(), NodeError> {
        if self.unflushed && self.running.is_none() {
            self.unflushed = false;
            let pending = db.begin_flush()?;
            self.running = Some(tokio::task::spawn_blocking(move || pending.run()));
        }
        Ok(())
    }

    /// The zxid the running fsync made durable, once it has returned (tell the database with
    /// [`Database::flush_done`]); pending while none runs.
    pub(super) async fn done(&mut self) -> Result<i64, NodeError> {
        let Some(running) = &mut self.running else {
            return std::future::pending().await;
        };
        let result = running.await;
        self.running = None;
        let zxid = match result {
            Ok(Ok(zxid)) => zxid,
            Ok(Err(e)) => return Err(NodeError::Storage(format!("syncing the txn log: {e}"))),
            Err(e) => return Err(NodeError::Storage(format!("the txn log sync failed: {e}"))),
        };
        Ok(zxid)
    }

    /// Waits for a running fsync, so a role ends with its log in a known state.
    pub(super) async fn finish(&mut self, db: &mut Database) -> Result<(), NodeError> {
        if self.running.is_some() {
            let zxid = self.done().await?;
            db.flush_done(zxid);
        }
        Ok(())
    }
}

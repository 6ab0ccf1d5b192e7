//! When the next snapshot is due, for the standalone server and ensemble members alike: after
//! a number of logged txns drawn as Java's `SyncRequestProcessor` draws it (`snapCount / 2`
//! plus a random part below that, so members do not all write one at once), or, with
//! `snapshot.intervalMs`, once that long has passed with txns logged.

use std::time::{Duration, Instant};

/// The snapshot schedule of one server.
#[derive(Debug, Clone)]
pub struct SnapshotSchedule {
    snap_count: u64,
    interval: Option<Duration>,
    /// Txns logged since the last snapshot started (or was skipped).
    logged: u64,
    /// The count that makes one due.
    due_at: u64,
    /// When the last snapshot started.
    since: Instant,
}

impl SnapshotSchedule {
    /// `snapCount` and `snapshot.intervalMs` (0: by count only).
    pub fn new(snap_count: u64, interval_ms: u64) -> SnapshotSchedule {
        SnapshotSchedule {
            snap_count,
            interval: (interval_ms > 0).then(|| Duration::from_millis(interval_ms)),
            logged: 0,
            due_at: threshold(snap_count),
            since: Instant::now(),
        }
    }

    /// `n` more txns were logged.
    pub fn logged(&mut self, n: u64) {
        self.logged += n;
    }

    /// Whether a snapshot is due.
    pub fn due(&self) -> bool {
        self.logged >= self.due_at
            || self
                .interval
                .is_some_and(|every| self.logged > 0 && self.since.elapsed() >= every)
    }

    /// A snapshot starts: the count starts afresh with a new draw, and the clock.
    pub fn started(&mut self) {
        self.logged = 0;
        self.due_at = threshold(self.snap_count);
        self.since = Instant::now();
    }

    /// One was due but could not start (another is still being written): the count starts
    /// afresh, as Java's does.
    pub fn skipped(&mut self) {
        self.logged = 0;
    }
}

/// Java's point for the next snapshot: `snapCount / 2` plus a random part below that.
fn threshold(snap_count: u64) -> u64 {
    let half = (snap_count / 2).max(1);
    let mut bytes = [0u8; 8];
    let random = getrandom::fill(&mut bytes).map_or(0, |()| u64::from_le_bytes(bytes));
    half + random % half
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_by_count_or_by_time_with_txns() {
        let mut by_count = SnapshotSchedule::new(10, 0);
        assert!((5..10).contains(&by_count.due_at));
        by_count.logged(4);
        assert!(!by_count.due());
        by_count.logged(5);
        assert!(by_count.due());
        by_count.started();
        assert!(!by_count.due());
        let mut by_time = SnapshotSchedule::new(1_000_000, 1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!by_time.due(), "nothing logged");
        by_time.logged(1);
        assert!(by_time.due());
        by_time.skipped();
        assert!(!by_time.due());
    }
}

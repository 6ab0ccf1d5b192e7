//! The ensemble's sockets: the IO edge of the sans-IO quorum cores (`crate::quorum`).
//!
//! - [`election_net`]: the election port as Java's `QuorumCnxManager` runs it (one connection
//!   per pair of servers, kept by the higher sid; a one-slot send queue per peer), driving an
//!   [`crate::quorum::election::Election`] core in one tokio task.
//! - [`quorum_net`]: the quorum port's transport: `QuorumPacket`s back to back in both
//!   directions (no length prefix), the raw SNAP body after a SNAP packet, the leader's
//!   listener handing out [`crate::quorum::leader::LearnerId`]s and the learner's dialer with
//!   Java's `connectToLeader` retries.
//!
//! Every decision stays in the cores; these modules only move bytes, keep time and log.
//! Malformed input closes the one connection it came on, with a `warn!` line.

pub mod election_net;
pub mod quorum_net;

use std::time::Duration;

/// A duration of `ms` milliseconds (the config keeps times as integers, units last).
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

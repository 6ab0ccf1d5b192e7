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
pub mod node;
pub mod quorum_net;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// A duration of `ms` milliseconds (the config keeps times as integers, units last).
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A spawned task that stops when asked or dropped, closing the sockets it owns.
#[derive(Debug)]
struct Background {
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Background {
    /// Spawns `task`, which must end soon after `cancel` fires.
    fn spawn(cancel: CancellationToken, task: impl Future<Output = ()> + Send + 'static) -> Self {
        Background {
            cancel,
            task: Some(tokio::spawn(task)),
        }
    }

    /// Asks the task to stop and waits until it has.
    async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The next connection on `listener` (with `TCP_NODELAY`, as Java sets on quorum sockets),
/// reaping finished `tasks` meanwhile; `None` once `cancel` fires. Accept errors (out of
/// descriptors and the like) are logged and retried after a pause instead of spinning.
async fn next_connection(
    listener: &TcpListener,
    cancel: &CancellationToken,
    tasks: &mut JoinSet<()>,
    port: &str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return None,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return Some((stream, peer));
            }
            Err(e) => {
                warn!(error = %e, "{port} port: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

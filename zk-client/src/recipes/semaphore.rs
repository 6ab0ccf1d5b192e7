//! A counting semaphore laid out exactly as Apache Curator's `InterProcessSemaphoreV2`, so Rust
//! and Java processes can share one pool of leases.
//!
//! Under the semaphore's path:
//!
//! - `<path>/locks`: an [`InterProcessMutex`](super::lock::Mutex) that serialises acquirers;
//! - `<path>/leases`: one protected ephemeral-sequential node `_c_<uuid>-lease-<seq>` per lease
//!   held (or being waited for), holding the data set with [`Semaphore::with_data`].
//!
//! Acquiring one lease follows Curator's algorithm: take the lock; create the lease node; list
//! `leases` with a children watch; if there are at most `max leases` nodes, the lease is held,
//! otherwise wait for the watch (or a change of the maximum) and list again; release the lock.
//! The lock makes acquirers wait in turn, so the first in line gets the next free lease, and at
//! most one lease node is ever waiting. The count, not the order of the nodes, decides.
//!
//! A lease is its node: it is given back by [`Lease::release`] (or in the background when
//! dropped) and goes with the session if that ends.
//!
//! The maximum is a number every user of the path must agree on ([`Semaphore::new`]), or a
//! [`SharedCount`] they all read ([`Semaphore::with_shared_count`], Curator's
//! `SharedCountReader` constructor): raising it lets a waiting acquirer in at once.
//!
//! # Differences from Curator
//!
//! - Lease data is empty unless set with `with_data` (Curator writes the local IP address).
//! - [`Semaphore::participant_nodes`] sorts the names in line order and returns none when the
//!   `leases` node does not exist (Curator's is in the server's order and throws NoNode).
//! - An acquire on a client whose session has ended fails with that error (Curator returns
//!   null when its framework is closed). Operations that fail with ConnectionLoss are retried
//!   once the client is connected again, for as long as the session lives.
//! - A shared count that is deleted or unreadable leaves the last maximum read in force (0 if
//!   none was ever read).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::config::ConfigEvent;
use super::counter::{FormatError, SharedCount};
use super::lock::Mutex;
use super::protected::{
    delete_guaranteed, fix_for_sorting, join, node_name, sort_by_key, validate_dir, PendingNode,
    ProtectedCreate,
};
use crate::retry::Retries;
use crate::{Client, Error, ErrorKind, EventStream, Result};

/// Curator's `InterProcessSemaphoreV2.LOCK_PARENT`.
const LOCK_PARENT: &str = "locks";
/// Curator's `InterProcessSemaphoreV2.LEASE_PARENT`.
const LEASE_PARENT: &str = "leases";
/// Curator's `InterProcessSemaphoreV2.LEASE_BASE_NAME`.
const LEASE_NAME: &str = "lease-";

/// How many times one lease is tried again after its node vanished while it waited (someone
/// deleted it). Curator's retry policy plays this part there.
const MAX_NODE_RECREATES: u32 = 3;

/// How long an acquire that timed out spends deleting its nodes before leaving that to a
/// background task.
const TIMEOUT_CLEANUP_GRACE: Duration = Duration::from_secs(1);

/// Where the maximum number of leases comes from.
#[derive(Debug, Clone)]
enum MaxLeases {
    Fixed(u32),
    Shared(Arc<SharedCount>),
}

impl MaxLeases {
    /// The maximum as last read: `fallback` when a shared count cannot be read.
    fn current(&self, fallback: usize) -> usize {
        match self {
            MaxLeases::Fixed(max) => *max as usize,
            MaxLeases::Shared(count) => count
                .get()
                .map_or(fallback, |count| count.value.max(0) as usize),
        }
    }

    /// Changes of a shared count (none for a fixed maximum).
    fn changes(&self) -> Option<EventStream<ConfigEvent<i32, FormatError>>> {
        match self {
            MaxLeases::Fixed(_) => None,
            MaxLeases::Shared(count) => Some(count.changes()),
        }
    }
}

/// Waits for the next change of a shared count; pending forever for a fixed maximum or once
/// the count's watch has ended.
async fn max_changed(changes: &mut Option<EventStream<ConfigEvent<i32, FormatError>>>) {
    if let Some(stream) = changes {
        if stream.next().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await
}

/// What one look at the lease nodes says (Curator's check in `internalAcquire1Lease`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// At most `max` lease nodes, ours among them: the lease is ours.
    Held,
    /// More nodes than leases: wait for one to go.
    Wait,
    /// Our node is not there (deleted, or the session ended).
    NodeMissing,
}

fn decide(children: &[String], ours: &str, max_leases: usize) -> Grant {
    if !children.iter().any(|child| child == ours) {
        Grant::NodeMissing
    } else if children.len() <= max_leases {
        Grant::Held
    } else {
        Grant::Wait
    }
}

/// How an attempt at one lease ended.
enum OneLease {
    Acquired(Lease),
    TimedOut,
    NodeMissing,
}

/// Curator's `InterProcessSemaphoreV2`: at most `max leases` holders at once among every
/// process using the path.
///
/// Cheap to clone; clones are the same semaphore.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use std::time::Duration;
/// use zk_client::{recipes::semaphore::Semaphore, Client};
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let semaphore = Semaphore::new(&client, "/semaphores/db-connections", 10)?;
/// let lease = semaphore.acquire().await?;
/// // ... at most 10 processes get here at a time ...
/// lease.release().await?;
///
/// if let Some(leases) = semaphore.acquire_many_timeout(3, Duration::from_secs(1)).await? {
///     Semaphore::release_all(leases).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    client: Client,
    path: String,
    leases_dir: String,
    lock: Mutex,
    max_leases: MaxLeases,
    data: Vec<u8>,
}

impl Semaphore {
    /// The semaphore at `path` allowing `max_leases` holders (every user of the path must pass
    /// the same number). Nodes are created on first acquire. Fails only for an invalid path.
    pub fn new(client: &Client, path: &str, max_leases: u32) -> Result<Semaphore> {
        Semaphore::with_max(client, path, MaxLeases::Fixed(max_leases))
    }

    /// The semaphore at `path` allowing as many holders as `count` says (Curator's constructor
    /// with a `SharedCountReader`); a new count applies at once, also to an acquire waiting now.
    pub fn with_shared_count(
        client: &Client,
        path: &str,
        count: Arc<SharedCount>,
    ) -> Result<Semaphore> {
        Semaphore::with_max(client, path, MaxLeases::Shared(count))
    }

    fn with_max(client: &Client, path: &str, max_leases: MaxLeases) -> Result<Semaphore> {
        validate_dir(path)?;
        Ok(Semaphore {
            client: client.clone(),
            path: path.to_owned(),
            leases_dir: join(path, LEASE_PARENT),
            lock: Mutex::new(client, &join(path, LOCK_PARENT))?,
            max_leases,
            data: Vec::new(),
        })
    }

    /// Data to store in this process's lease nodes (Curator's `setNodeData`; empty by default).
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Semaphore {
        self.data = data.into();
        self
    }

    /// The semaphore's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits for a lease, however long it takes (see [`acquire_many`](Self::acquire_many)).
    pub async fn acquire(&self) -> Result<Lease> {
        let mut leases = self.acquire_many(1).await?;
        Ok(leases.pop().expect("one lease"))
    }

    /// Waits for `qty` leases, taken one after another (Curator's `acquire(qty)`). Fails when
    /// the session ends or the server refuses a node (`NoAuth`, ...), giving back the leases
    /// taken so far; `InvalidArgument` for `qty` 0. A connection loss is waited out. Dropping
    /// the future gives back what it holds (in the background).
    pub async fn acquire_many(&self, qty: u32) -> Result<Vec<Lease>> {
        let leases = self.acquire_inner(qty, None).await?;
        Ok(leases.expect("without a deadline an acquire ends with the leases"))
    }

    /// Like [`acquire`](Self::acquire), giving up after `timeout`: `Ok(None)` then.
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<Lease>> {
        let leases = self.acquire_many_timeout(1, timeout).await?;
        Ok(leases.and_then(|mut leases| leases.pop()))
    }

    /// Like [`acquire_many`](Self::acquire_many), giving up after `timeout` (for all of them):
    /// `Ok(None)` then, once the leases taken so far are given back (up to a second more; if
    /// that is slow, it finishes in the background).
    pub async fn acquire_many_timeout(
        &self,
        qty: u32,
        timeout: Duration,
    ) -> Result<Option<Vec<Lease>>> {
        self.acquire_inner(qty, Some(Instant::now() + timeout))
            .await
    }

    /// Gives back every lease (Curator's `returnAll`); the first error, after trying all.
    pub async fn release_all(leases: Vec<Lease>) -> Result<()> {
        let mut result = Ok(());
        for lease in leases {
            let released = lease.release().await;
            if result.is_ok() {
                result = released;
            }
        }
        result
    }

    /// The lease nodes' names (held or being waited for, by any process) in line order
    /// (Curator's `getParticipantNodes`).
    pub async fn participant_nodes(&self) -> Result<Vec<String>> {
        let mut children = match self.client.get_children(&self.leases_dir).await {
            Ok(children) => children,
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => Vec::new(),
            Err(e) => return Err(e),
        };
        sort_by_key(&mut children, |name| fix_for_sorting(name, LEASE_NAME));
        Ok(children)
    }

    /// Curator's `acquire(qty, time, unit)`: one lease after another until `qty` are held;
    /// `None` if `deadline` passed first. Whatever was taken is given back unless all were.
    async fn acquire_inner(
        &self,
        qty: u32,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<Lease>>> {
        if qty == 0 {
            return Err(ErrorKind::InvalidArgument("qty cannot be 0".to_owned()).into());
        }
        let mut leases = Vec::with_capacity(qty as usize);
        let outcome = self.acquire_each(qty, deadline, &mut leases).await;
        match outcome {
            Ok(true) => Ok(Some(leases)),
            Ok(false) => {
                let give_back = Semaphore::release_all(leases);
                // Too slow (disconnected): the leases' drops finish it in the background.
                let _ = tokio::time::timeout(TIMEOUT_CLEANUP_GRACE, give_back).await;
                Ok(None)
            }
            Err(e) => {
                let _ = tokio::time::timeout(TIMEOUT_CLEANUP_GRACE, Semaphore::release_all(leases))
                    .await;
                Err(e)
            }
        }
    }

    /// Takes leases into `leases` until there are `qty`; false if `deadline` passed first.
    async fn acquire_each(
        &self,
        qty: u32,
        deadline: Option<Instant>,
        leases: &mut Vec<Lease>,
    ) -> Result<bool> {
        while leases.len() < qty as usize {
            let mut recreates = 0;
            loop {
                match self.acquire_one(deadline).await? {
                    OneLease::Acquired(lease) => {
                        leases.push(lease);
                        break;
                    }
                    OneLease::TimedOut => return Ok(false),
                    OneLease::NodeMissing => {
                        if let Some(e) = self.client.state().terminal_error() {
                            return Err(e);
                        }
                        if recreates == MAX_NODE_RECREATES {
                            return Err(ErrorKind::NoNode.into());
                        }
                        recreates += 1;
                    }
                }
            }
        }
        Ok(true)
    }

    /// Curator's `internalAcquire1Lease`: under the lock, make a lease node and wait until it
    /// is within the maximum.
    async fn acquire_one(&self, deadline: Option<Instant>) -> Result<OneLease> {
        if let Some(e) = self.client.state().terminal_error() {
            return Err(e);
        }
        let guard = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lock.acquire_timeout(left).await? {
                    Some(guard) => guard,
                    None => return Ok(OneLease::TimedOut),
                }
            }
            None => self.lock.acquire().await?,
        };
        let outcome = self.lease_under_lock(deadline).await;
        // Whatever happened, the next acquirer may go (Curator's `finally lock.release()`).
        let released = guard.release().await;
        let outcome = outcome?;
        released?;
        Ok(outcome)
    }

    /// The lease node's life while the lock is held: made, then waited on until it counts;
    /// removed again if the deadline passes first.
    async fn lease_under_lock(&self, deadline: Option<Instant>) -> Result<OneLease> {
        let mut pending = PendingNode::new(
            &self.client,
            ProtectedCreate::new(&self.leases_dir, LEASE_NAME),
        );
        let attempt = self.wait_within_max(&mut pending);
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, attempt).await.ok(),
            None => Some(attempt.await),
        };
        match outcome {
            Some(Ok(Some(path))) => {
                pending.keep();
                Ok(OneLease::Acquired(Lease {
                    client: self.client.clone(),
                    path,
                    create: pending.create.clone(),
                    released: false,
                }))
            }
            Some(Ok(None)) => {
                // Not among the children: nothing to delete.
                pending.keep();
                Ok(OneLease::NodeMissing)
            }
            // The pending node is removed in the background (usually the session is over).
            Some(Err(e)) => Err(e),
            None => {
                // Timed out: give the lease node back now, as Curator does; if that is slow
                // (disconnected), the drop of `pending` finishes it in the background.
                let removal = pending.create.remove(&self.client, pending.path.as_deref());
                if let Ok(Ok(())) = tokio::time::timeout(TIMEOUT_CLEANUP_GRACE, removal).await {
                    pending.keep();
                }
                Ok(OneLease::TimedOut)
            }
        }
    }

    /// Creates the lease node if needed, then lists the leases until at most the maximum are
    /// there: the node's path then, `None` if it vanished.
    async fn wait_within_max(&self, pending: &mut PendingNode) -> Result<Option<String>> {
        let client = &self.client;
        let path = match &pending.path {
            Some(path) => path.clone(),
            None => {
                let path = pending.create.create(client, &self.data).await?;
                pending.path = Some(path.clone());
                path
            }
        };
        let mut max_changes = self.max_leases.changes();
        let mut max_leases = self.max_leases.current(0);
        let mut retries = Retries::new(client);
        loop {
            let (children, _stat, watcher) = match client.get_children_watch(&self.leases_dir).await
            {
                Ok(found) => found,
                // The directory is gone, and our node with it.
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => return Ok(None),
                Err(e) => {
                    retries.pause_or_fail(e).await?;
                    continue;
                }
            };
            max_leases = self.max_leases.current(max_leases);
            match decide(&children, node_name(&path), max_leases) {
                Grant::Held => return Ok(Some(path)),
                Grant::NodeMissing => return Ok(None),
                Grant::Wait => {}
            }
            // Any change of the children (or the end of the session), or a new maximum: look
            // again.
            tokio::select! {
                _ = watcher => {}
                _ = max_changed(&mut max_changes) => {}
            }
        }
    }
}

/// A held lease: its node exists and counted within the maximum. Give it back with
/// [`release`](Self::release); dropping it gives it back in the background. It also ends with
/// the session (the node is ephemeral).
#[derive(Debug)]
pub struct Lease {
    client: Client,
    /// The lease node.
    path: String,
    create: ProtectedCreate,
    released: bool,
}

impl Lease {
    /// The lease node's path (`<semaphore path>/leases/_c_<uuid>-lease-<seq>`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The lease node's name (Curator's `Lease.getNodeName`).
    pub fn node_name(&self) -> &str {
        node_name(&self.path)
    }

    /// The lease node's data as stored now (Curator's `Lease.getData`); `NoNode` if it is gone.
    pub async fn data(&self) -> Result<Bytes> {
        Ok(self.client.get_data(&self.path).await?.0)
    }

    /// Gives the lease back: deletes the node and returns once it is gone. A connection loss is
    /// waited out; if the node or the session is gone already this succeeds. Fails only if the
    /// server refuses the delete (`NoAuth`, ...). Dropping the future finishes the release in
    /// the background.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        // If this future is dropped half-way, the node must still go.
        let mut pending = PendingNode::new(&self.client, self.create.clone());
        pending.path = Some(self.path.clone());
        let result = delete_guaranteed(&self.client, &self.path).await;
        pending.keep();
        result
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.released {
            self.create
                .remove_in_background(&self.client, Some(self.path.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_count_of_nodes_decides_not_their_order() {
        let children = names(&[
            "_c_b-lease-0000000003",
            "_c_a-lease-0000000001",
            "_c_c-lease-0000000002",
        ]);
        // Three nodes, two leases: whoever made the third waits, even if (after a deletion
        // and a recreate) its node is not the last.
        assert_eq!(decide(&children, "_c_b-lease-0000000003", 2), Grant::Wait);
        assert_eq!(decide(&children, "_c_a-lease-0000000001", 2), Grant::Wait);
        assert_eq!(decide(&children, "_c_b-lease-0000000003", 3), Grant::Held);
        assert_eq!(
            decide(&children[..2], "_c_b-lease-0000000003", 2),
            Grant::Held
        );
        assert_eq!(
            decide(&children, "_c_z-lease-0000000009", 5),
            Grant::NodeMissing
        );
        assert_eq!(decide(&[], "_c_z-lease-0000000009", 5), Grant::NodeMissing);
        // No leases at all: nobody gets one.
        assert_eq!(
            decide(&children[..1], "_c_b-lease-0000000003", 0),
            Grant::Wait
        );
    }

    #[test]
    fn nodes_live_where_curator_puts_them() {
        assert_eq!(join("/sem", LOCK_PARENT), "/sem/locks");
        assert_eq!(join("/sem", LEASE_PARENT), "/sem/leases");
        let mut children = names(&[
            "_c_b-lease-0000000010",
            "_c_lease-x-lease-0000000002",
            "_c_a-lease-0000000001",
        ]);
        sort_by_key(&mut children, |name| fix_for_sorting(name, LEASE_NAME));
        assert_eq!(
            children,
            names(&[
                "_c_a-lease-0000000001",
                "_c_lease-x-lease-0000000002",
                "_c_b-lease-0000000010"
            ])
        );
        assert_eq!(MaxLeases::Fixed(2).current(7), 2);
    }
}

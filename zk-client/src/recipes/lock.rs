//! Distributed locks laid out exactly as Apache Curator's, so Rust, Curator (Java) and kazoo
//! (Python, with `extra_lock_patterns=["-lock-"]`) processes can share one lock path.
//!
//! - [`Mutex`]: Curator's `InterProcessMutex`. Each contender creates an ephemeral-sequential
//!   node `<path>/_c_<uuid>-lock-<seq>` (protected, under container parents); the contender
//!   whose node sorts first (by the text after the last `lock-`) holds the lock; every other one
//!   watches its immediate predecessor with a getData watch and looks again when it goes.
//! - [`ReadWriteLock`]: Curator's `InterProcessReadWriteLock`. Nodes are
//!   `<path>/_c_<uuid>-__READ__<seq>` and `<path>/_c_<uuid>-__WRIT__<seq>`. A writer needs its
//!   node to be first of all; a reader needs no writer node ahead of its own (otherwise it
//!   watches the first writer), or to hold the write lock
//!   ([`ReadWriteLock::read_while_writing`], for downgrading).
//!
//! kazoo's side of that sharing is one-way, as with Curator: kazoo (told `-lock-`) waits for
//! our nodes, but its own `<hex>__lock__<seq>` nodes hold no `lock-`, so they sort after every
//! Curator-style node here and a Rust (or Curator) contender does not wait for a kazoo holder.
//!
//! A successful acquire returns a [`LockGuard`]. Release it with [`LockGuard::release`], which
//! returns once the node is gone, so the next contender can go. Dropping a guard releases in a
//! background task instead.
//!
//! # When a held lock is lost
//!
//! The lock is the node, and the node lives as long as the session: if the session expires (or
//! the client is closed), or someone deletes the node, the lock is gone and another contender may
//! already hold it. [`LockGuard::lost`] resolves then, and [`LockGuard::is_held`] turns false.
//! While the client is merely disconnected the node still stands and the lock still counts as
//! held; the client cannot know whether the session will survive until it reconnects. Code that
//! must not act on a possibly-lost lock (Curator's advice for the SUSPENDED state) should also
//! check [`Client::state`](crate::Client::state).
//!
//! # Differences from Curator
//!
//! - Not re-entrant: Curator counts re-acquisitions per thread; here each acquire is a new
//!   contender, so a task that acquires the same lock twice without releasing waits for itself.
//!   For the same reason a reader that holds the write lock says so by passing its write guard
//!   ([`ReadWriteLock::read_while_writing`]) instead of being recognised by its thread.
//! - Node data is empty unless set with `with_data` (Curator writes the local IP address by
//!   default). Nobody reads it for locking.
//! - Operations that fail with ConnectionLoss are retried once the client is connected again,
//!   for as long as the session lives (Curator retries by its retry policy, then throws).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_proto::EventType;

use super::protected::{
    delete_guaranteed, fix_for_sorting, join, node_name, sort_by_key, validate_dir, PendingNode,
    ProtectedCreate,
};
use crate::retry::Retries;
use crate::{Client, Error, ErrorKind, Op, OpResult, Result};

/// Curator's `InterProcessMutex.LOCK_NAME`.
const LOCK_NAME: &str = "lock-";
/// Curator's `InterProcessReadWriteLock.READ_LOCK_NAME`.
const READ_LOCK_NAME: &str = "__READ__";
/// Curator's `InterProcessReadWriteLock.WRITE_LOCK_NAME` (same length as the read name: Curator
/// relies on that when it sorts).
const WRITE_LOCK_NAME: &str = "__WRIT__";

/// How many times an acquire makes a new node after its node vanished while it waited (someone
/// deleted it). Curator's retry policy plays this part there.
const MAX_NODE_RECREATES: u32 = 3;

/// How long an acquire that timed out spends deleting its node before leaving that to a
/// background task.
const TIMEOUT_CLEANUP_GRACE: Duration = Duration::from_secs(1);

/// Which of Curator's lock drivers decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `InterProcessMutex`: first in line holds it.
    Exclusive,
    /// `InterProcessReadWriteLock.ReadLock`: no writer ahead.
    Read,
    /// `InterProcessReadWriteLock.WriteLock`: first in line among readers and writers.
    Write,
}

impl Kind {
    fn lock_name(self) -> &'static str {
        match self {
            Kind::Exclusive => LOCK_NAME,
            Kind::Read => READ_LOCK_NAME,
            Kind::Write => WRITE_LOCK_NAME,
        }
    }

    /// The sort key: `StandardLockInternalsDriver.fixForSorting` for the mutex; the
    /// read/write lock's `SortingLockInternalsDriver` strips after `__READ__`, then after
    /// `__WRIT__`, so readers and writers form one line.
    fn sort_key(self, name: &str) -> &str {
        match self {
            Kind::Exclusive => fix_for_sorting(name, LOCK_NAME),
            Kind::Read | Kind::Write => {
                fix_for_sorting(fix_for_sorting(name, READ_LOCK_NAME), WRITE_LOCK_NAME)
            }
        }
    }
}

/// What one look at the sorted children says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Turn {
    /// The lock is ours.
    Acquired,
    /// Wait until this child (a name in the lock directory) changes or goes.
    Watch(String),
    /// Our node is not among the children (deleted, or the session ended).
    NodeMissing,
}

/// Curator's `getsTheLock` for each kind, on children sorted by `kind.sort_key`. `holds_write`:
/// the reader holds the write lock of the same path (Curator's `isOwnedByCurrentThread`).
fn decide(kind: Kind, sorted: &[String], ours: &str, holds_write: bool) -> Turn {
    match kind {
        Kind::Exclusive | Kind::Write => match sorted.iter().position(|c| c == ours) {
            None => Turn::NodeMissing,
            Some(0) => Turn::Acquired,
            Some(index) => Turn::Watch(sorted[index - 1].clone()),
        },
        Kind::Read => {
            if holds_write {
                return Turn::Acquired;
            }
            let mut first_writer = None;
            for (index, child) in sorted.iter().enumerate() {
                if child.contains(WRITE_LOCK_NAME) {
                    first_writer.get_or_insert(index);
                } else if child.starts_with(ours) {
                    return match first_writer {
                        None => Turn::Acquired,
                        Some(writer) => Turn::Watch(sorted[writer].clone()),
                    };
                }
            }
            Turn::NodeMissing
        }
    }
}

/// The shared acquire of every lock kind: the node's path and its create once it holds the
/// lock; `None` if `timeout` passed first.
async fn acquire(
    client: &Client,
    dir: &str,
    kind: Kind,
    data: &[u8],
    holds_write: bool,
    timeout: Option<Duration>,
) -> Result<Option<(String, ProtectedCreate)>> {
    let mut pending = PendingNode::new(client, ProtectedCreate::new(dir, kind.lock_name()));
    let attempt = wait_turn(&mut pending, dir, kind, data, holds_write);
    let outcome = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, attempt).await.ok(),
        None => Some(attempt.await),
    };
    match outcome {
        Some(Ok(path)) => {
            pending.keep();
            Ok(Some((path, pending.create.clone())))
        }
        // The pending node is removed in the background (usually the session is over anyway).
        Some(Err(e)) => Err(e),
        None => {
            // Timed out: take the node out of the line now, as Curator does, so whoever is
            // behind it need not wait for a background task. If that is slow (disconnected),
            // the drop of `pending` finishes it in the background.
            let removal = pending.create.remove(client, pending.path.as_deref());
            if let Ok(Ok(())) = tokio::time::timeout(TIMEOUT_CLEANUP_GRACE, removal).await {
                pending.keep();
            }
            Ok(None)
        }
    }
}

/// Creates the node if needed and waits until it is first in line (Curator's
/// `internalLockLoop`); returns its path.
async fn wait_turn(
    pending: &mut PendingNode,
    dir: &str,
    kind: Kind,
    data: &[u8],
    holds_write: bool,
) -> Result<String> {
    let client = &pending.client;
    let mut recreates = 0;
    let mut retries = Retries::new(client);
    loop {
        let path = match &pending.path {
            Some(path) => path.clone(),
            None => {
                let path = pending.create.create(client, data).await?;
                pending.path = Some(path.clone());
                path
            }
        };
        let mut children = match client.get_children(dir).await {
            Ok(children) => children,
            Err(e) => {
                retries.pause_or_fail(e).await?;
                continue;
            }
        };
        sort_by_key(&mut children, |name| kind.sort_key(name));
        match decide(kind, &children, node_name(&path), holds_write) {
            Turn::Acquired => return Ok(path),
            Turn::NodeMissing => {
                // Curator: NoNodeException from the driver, then a retry of the whole attempt.
                if client.state().is_terminal() || recreates == MAX_NODE_RECREATES {
                    return Err(client
                        .state()
                        .terminal_error()
                        .unwrap_or(ErrorKind::NoNode.into()));
                }
                recreates += 1;
                pending.path = None;
            }
            Turn::Watch(name) => {
                // getData, not exists: a watch on a node that is already gone would linger.
                match client.get_data_watch(&join(dir, &name)).await {
                    // Any event (deleted, changed, session over) means: look again.
                    Ok((_data, _stat, watcher)) => {
                        watcher.await;
                    }
                    Err(Error {
                        kind: ErrorKind::NoNode,
                        ..
                    }) => {}
                    Err(e) => retries.pause_or_fail(e).await?,
                }
            }
        }
    }
}

/// Curator's `InterProcessMutex`: an exclusive lock on a path, shared with Curator and with
/// kazoo's `Lock(path, extra_lock_patterns=["-lock-"])`.
///
/// Cheap to clone; clones are the same lock path, and each acquire is its own contender.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use std::time::Duration;
/// use zk_client::{recipes::lock::Mutex, Client};
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let mutex = Mutex::new(&client, "/locks/billing")?;
/// let guard = mutex.acquire().await?;
/// // ... only one process in the ensemble gets here at a time ...
/// guard.release().await?;
///
/// if let Some(guard) = mutex.acquire_timeout(Duration::from_secs(1)).await? {
///     tokio::select! {
///         _ = guard.lost() => eprintln!("lock lost: stop at once"),
///         _ = tokio::time::sleep(Duration::from_secs(5)) => {}
///     }
///     guard.release().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Mutex {
    lock: LockPath,
}

impl Mutex {
    /// The lock at `path` (created, with container parents, on first acquire). Fails only for an
    /// invalid path.
    pub fn new(client: &Client, path: &str) -> Result<Mutex> {
        Ok(Mutex {
            lock: LockPath::new(client, path)?,
        })
    }

    /// Data to store in this process's lock nodes (Curator's `lockNodeBytes`; empty by default).
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Mutex {
        self.lock.data = data.into();
        self
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        &self.lock.path
    }

    /// Waits for the lock, however long it takes. Fails when the session ends (`SessionExpired`,
    /// `Closed`) or the server refuses the node (`NoAuth`, ...); a connection loss is waited out.
    /// Dropping the future gives up the place in line (the node is deleted in the background).
    pub async fn acquire(&self) -> Result<LockGuard> {
        self.lock.acquire(Kind::Exclusive, false).await
    }

    /// Like [`acquire`](Self::acquire), giving up after `timeout`: `Ok(None)` then, once the
    /// node is deleted (up to a second more; if that is slow, it finishes in the background).
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.lock
            .acquire_timeout(Kind::Exclusive, false, timeout)
            .await
    }

    /// Every contender's node path, holder first (Curator's `getParticipantNodes`).
    pub async fn participant_nodes(&self) -> Result<Vec<String>> {
        self.lock.participant_nodes(Kind::Exclusive, None).await
    }
}

/// What every lock kind shares: the client, the directory and the node data.
#[derive(Debug, Clone)]
struct LockPath {
    client: Client,
    path: String,
    data: Vec<u8>,
}

impl LockPath {
    fn new(client: &Client, path: &str) -> Result<LockPath> {
        validate_dir(path)?;
        Ok(LockPath {
            client: client.clone(),
            path: path.to_owned(),
            data: Vec::new(),
        })
    }

    async fn acquire(&self, kind: Kind, holds_write: bool) -> Result<LockGuard> {
        let acquired = acquire(
            &self.client,
            &self.path,
            kind,
            &self.data,
            holds_write,
            None,
        )
        .await?;
        let (node, create) = acquired.expect("without a timeout an acquire ends with the lock");
        Ok(LockGuard::new(self, kind, node, create))
    }

    async fn acquire_timeout(
        &self,
        kind: Kind,
        holds_write: bool,
        timeout: Duration,
    ) -> Result<Option<LockGuard>> {
        let acquired = acquire(
            &self.client,
            &self.path,
            kind,
            &self.data,
            holds_write,
            Some(timeout),
        )
        .await?;
        Ok(acquired.map(|(node, create)| LockGuard::new(self, kind, node, create)))
    }

    /// The children whose name contains `only` (or all), sorted as `kind` sorts them, as
    /// paths.
    async fn participant_nodes(&self, kind: Kind, only: Option<&str>) -> Result<Vec<String>> {
        let mut children = match self.client.get_children(&self.path).await {
            Ok(children) => children,
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => Vec::new(),
            Err(e) => return Err(e),
        };
        sort_by_key(&mut children, |name| kind.sort_key(name));
        Ok(children
            .iter()
            .filter(|name| only.is_none_or(|lock_name| name.contains(lock_name)))
            .map(|name| join(&self.path, name))
            .collect())
    }
}

/// Curator's `InterProcessReadWriteLock`: many readers or one writer, fair (in order of
/// arrival). Shares a path with Curator's read/write lock.
///
/// A reader proceeds when no writer is ahead of it in line; a writer when it is first in line.
/// The write lock can be downgraded: while holding it, take a read lock with
/// [`read_while_writing`](Self::read_while_writing), then release the write lock. Upgrading
/// (read, then write) waits forever, as in Curator.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::{recipes::lock::ReadWriteLock, Client};
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let lock = ReadWriteLock::new(&client, "/locks/catalog")?;
/// let read = lock.read().await?;
/// // ... read alongside other readers ...
/// read.release().await?;
/// let write = lock.write().await?;
/// // ... alone ...
/// let read = lock.read_while_writing(&write).await?;
/// write.release().await?; // downgraded: still reading, writers still wait
/// read.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ReadWriteLock {
    lock: LockPath,
}

impl ReadWriteLock {
    /// The lock at `path` (created, with container parents, on first acquire). Fails only for an
    /// invalid path.
    pub fn new(client: &Client, path: &str) -> Result<ReadWriteLock> {
        Ok(ReadWriteLock {
            lock: LockPath::new(client, path)?,
        })
    }

    /// Data to store in this process's lock nodes (Curator's `lockData`; empty by default).
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> ReadWriteLock {
        self.lock.data = data.into();
        self
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        &self.lock.path
    }

    /// Waits for a read lock (see [`Mutex::acquire`] for errors and cancellation).
    pub async fn read(&self) -> Result<LockGuard> {
        self.lock.acquire(Kind::Read, false).await
    }

    /// Like [`read`](Self::read), giving up after `timeout`: `Ok(None)` then.
    pub async fn read_timeout(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.lock.acquire_timeout(Kind::Read, false, timeout).await
    }

    /// A read lock for the holder of the write lock, granted at once whatever is in line: the
    /// first step of a downgrade (Curator lets the thread that owns the write lock read; here
    /// the write guard is the proof of ownership). `InvalidArgument` if `write` is not a held
    /// write lock of this path.
    pub async fn read_while_writing(&self, write: &LockGuard) -> Result<LockGuard> {
        if write.kind != Kind::Write || write.lock_path != self.lock.path || !write.is_held() {
            return Err(ErrorKind::InvalidArgument(format!(
                "{} is not a held write lock of {}",
                write.path, self.lock.path
            ))
            .into());
        }
        self.lock.acquire(Kind::Read, true).await
    }

    /// Waits for the write lock (see [`Mutex::acquire`] for errors and cancellation).
    pub async fn write(&self) -> Result<LockGuard> {
        self.lock.acquire(Kind::Write, false).await
    }

    /// Like [`write`](Self::write), giving up after `timeout`: `Ok(None)` then.
    pub async fn write_timeout(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.lock.acquire_timeout(Kind::Write, false, timeout).await
    }

    /// Read contenders' node paths in line order (Curator's read lock `getParticipantNodes`).
    pub async fn read_participant_nodes(&self) -> Result<Vec<String>> {
        self.lock
            .participant_nodes(Kind::Read, Some(READ_LOCK_NAME))
            .await
    }

    /// Write contenders' node paths in line order.
    pub async fn write_participant_nodes(&self) -> Result<Vec<String>> {
        self.lock
            .participant_nodes(Kind::Write, Some(WRITE_LOCK_NAME))
            .await
    }
}

/// A held lock: its node exists and came first. Release it with [`release`](Self::release);
/// dropping it releases in the background.
///
/// A background task watches the node (one getData watch) and the session, so
/// [`lost`](Self::lost) and [`is_held`](Self::is_held) report when the lock is gone without a
/// release: the session ended (expired, closed) or the node was deleted by someone else.
#[derive(Debug)]
pub struct LockGuard {
    client: Client,
    kind: Kind,
    /// The lock's directory.
    lock_path: String,
    /// The node.
    path: String,
    create: ProtectedCreate,
    lost: watch::Receiver<bool>,
    monitor: JoinHandle<()>,
    released: bool,
}

impl LockGuard {
    fn new(lock: &LockPath, kind: Kind, path: String, create: ProtectedCreate) -> LockGuard {
        let (lost_tx, lost) = watch::channel(false);
        let monitor = tokio::spawn(watch_for_loss(lock.client.clone(), path.clone(), lost_tx));
        LockGuard {
            client: lock.client.clone(),
            kind,
            lock_path: lock.path.clone(),
            path,
            create,
            lost,
            monitor,
            released: false,
        }
    }

    /// The lock node's path (`<lock path>/_c_<uuid>-lock-<seq>`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the lock is still held as far as this client knows: false once the session ended
    /// or the node was seen deleted. True while disconnected (see the module docs).
    pub fn is_held(&self) -> bool {
        !*self.lost.borrow() && !self.client.state().is_terminal()
    }

    /// Runs `ops` as one multi that applies only while this lock is held: it starts with a
    /// check that the lock node still exists, so a holder whose lock was lost (its session
    /// expired while it paused, say, and another process holds the lock now) cannot write.
    /// This is the fencing a lock needs for its writes to be safe, which Curator leaves to its
    /// users. Returns the results of `ops`; [`ErrorKind::LockLost`] if the lock node is gone
    /// (nothing applied); another op's failure as [`ErrorKind::MultiFailed`] indexed in `ops`.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::{recipes::lock::Mutex, Op};
    /// let guard = Mutex::new(&client, "/locks/billing")?.acquire().await?;
    /// guard
    ///     .fence(vec![Op::SetData {
    ///         path: "/billing/next-invoice".into(),
    ///         data: b"1042".into(),
    ///         version: None,
    ///     }])
    ///     .await?;
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn fence(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let mut fenced = Vec::with_capacity(ops.len() + 1);
        fenced.push(Op::Check {
            path: self.path.clone(),
            version: -1,
        });
        fenced.extend(ops);
        match self.client.multi(fenced).await {
            Ok(mut results) => {
                results.remove(0);
                Ok(results)
            }
            Err(Error {
                kind: ErrorKind::MultiFailed { index: 0, .. },
                ..
            }) => Err(ErrorKind::LockLost.into()),
            Err(Error {
                kind:
                    ErrorKind::MultiFailed {
                        index,
                        code,
                        mut results,
                    },
                ..
            }) => {
                results.remove(0);
                Err(ErrorKind::MultiFailed {
                    index: index - 1,
                    code,
                    results,
                }
                .into())
            }
            Err(e) => Err(e),
        }
    }

    /// Resolves when the lock is lost without a release: the session ended (expired, closed,
    /// auth failed) or the node was deleted by someone else. Pending forever while it is held.
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        // The sender only goes away after sending `true` or when the guard is released, which
        // takes `self`; either way there is nothing more to wait for.
        let _ = lost.wait_for(|lost| *lost).await;
    }

    /// Releases the lock: deletes the node and returns once it is gone, so the next contender
    /// can proceed. A connection loss is waited out; if the session is over the node is already
    /// gone and this succeeds. Fails only if the server refuses the delete (`NoAuth`, ...).
    /// Dropping the future finishes the release in the background.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        self.monitor.abort();
        // If this future is dropped half-way, the node must still go.
        let mut pending = PendingNode::new(&self.client, self.create.clone());
        pending.path = Some(self.path.clone());
        let result = delete_guaranteed(&self.client, &self.path).await;
        pending.keep();
        result
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            self.monitor.abort();
            self.create
                .remove_in_background(&self.client, Some(self.path.clone()));
        }
    }
}

/// The guard's monitor: sets `lost` once the node is deleted or the session ends. A data change
/// (Curator's revocation request writes `__REVOKE__`) or a removed watch only re-arms the watch.
async fn watch_for_loss(client: Client, path: String, lost: watch::Sender<bool>) {
    let mut retries = Retries::until_session_ends(&client);
    loop {
        match client.get_data_watch(&path).await {
            Ok((_data, _stat, watcher)) => {
                let event = watcher.await;
                match event.event_type {
                    EventType::NodeDeleted => break,
                    // The session ended (the event's state says how).
                    EventType::None => break,
                    _ => {}
                }
            }
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => break,
            Err(e) => {
                if retries.pause_or_fail(e).await.is_err() {
                    // The session is over, or the server refuses to show us our own node.
                    break;
                }
            }
        }
    }
    let _ = lost.send(true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::protected::sort_children;

    fn sorted(kind: Kind, list: &[&str]) -> Vec<String> {
        let mut children: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        sort_by_key(&mut children, |name| kind.sort_key(name));
        children
    }

    #[test]
    fn mutex_holder_is_first_and_waiters_watch_their_predecessor() {
        let children = sorted(
            Kind::Exclusive,
            &[
                "_c_b-lock-0000000003",
                "_c_a-lock-0000000001",
                "_c_c-lock-0000000002",
            ],
        );
        let d = |ours| decide(Kind::Exclusive, &children, ours, false);
        assert_eq!(d("_c_a-lock-0000000001"), Turn::Acquired);
        assert_eq!(
            d("_c_c-lock-0000000002"),
            Turn::Watch("_c_a-lock-0000000001".into())
        );
        assert_eq!(
            d("_c_b-lock-0000000003"),
            Turn::Watch("_c_c-lock-0000000002".into())
        );
        assert_eq!(d("_c_z-lock-0000000009"), Turn::NodeMissing);
    }

    #[test]
    fn mutex_sorts_by_sequence_even_when_a_name_holds_lock_earlier() {
        // Only the last "lock-" counts, so text before it (an id, a path piece) cannot reorder
        // the line; a foreign name without "lock-" sorts by its whole text, after digits.
        let children = sorted(
            Kind::Exclusive,
            &[
                "_c_x-lock-0000000010",
                "kazoo__lock__0000000000",
                "_c_lock-9-lock-0000000002",
            ],
        );
        assert_eq!(
            children,
            [
                "_c_lock-9-lock-0000000002",
                "_c_x-lock-0000000010",
                "kazoo__lock__0000000000"
            ]
        );
        let mut standard = children.clone();
        standard.reverse();
        sort_children(&mut standard, LOCK_NAME);
        assert_eq!(standard, children, "the same order as the shared helper");
    }

    #[test]
    fn readers_share_until_a_writer_is_ahead() {
        let children = sorted(
            Kind::Read,
            &[
                "_c_w2-__WRIT__0000000004",
                "_c_r1-__READ__0000000000",
                "_c_r2-__READ__0000000001",
                "_c_w1-__WRIT__0000000002",
                "_c_r3-__READ__0000000003",
            ],
        );
        assert_eq!(
            children,
            [
                "_c_r1-__READ__0000000000",
                "_c_r2-__READ__0000000001",
                "_c_w1-__WRIT__0000000002",
                "_c_r3-__READ__0000000003",
                "_c_w2-__WRIT__0000000004",
            ]
        );
        let read = |ours, holds_write| decide(Kind::Read, &children, ours, holds_write);
        assert_eq!(read("_c_r1-__READ__0000000000", false), Turn::Acquired);
        assert_eq!(read("_c_r2-__READ__0000000001", false), Turn::Acquired);
        // A reader behind a writer watches the first writer, not its predecessor.
        assert_eq!(
            read("_c_r3-__READ__0000000003", false),
            Turn::Watch("_c_w1-__WRIT__0000000002".into())
        );
        // Holding the write lock through the same ReadWriteLock lets the reader in.
        assert_eq!(read("_c_r3-__READ__0000000003", true), Turn::Acquired);
        assert_eq!(read("_c_r9-__READ__0000000009", false), Turn::NodeMissing);

        let write = |ours| decide(Kind::Write, &children, ours, false);
        // A writer needs to be first of all, readers included, and watches its predecessor.
        assert_eq!(
            write("_c_w1-__WRIT__0000000002"),
            Turn::Watch("_c_r2-__READ__0000000001".into())
        );
        assert_eq!(
            write("_c_w2-__WRIT__0000000004"),
            Turn::Watch("_c_r3-__READ__0000000003".into())
        );
        let alone = sorted(Kind::Write, &["_c_w1-__WRIT__0000000002"]);
        assert_eq!(
            decide(Kind::Write, &alone, "_c_w1-__WRIT__0000000002", false),
            Turn::Acquired
        );
    }
}

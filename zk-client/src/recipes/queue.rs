//! Distributed queues laid out exactly as Apache Curator's and kazoo's, so a Rust process can
//! produce into or consume from a queue that Java or Python processes use on the same path.
//!
//! One type, [`DistributedQueue`], made for one layout:
//!
//! | constructor | shares a path with | item nodes | node data |
//! | --- | --- | --- | --- |
//! | [`curator`](DistributedQueue::curator) | Curator's `DistributedQueue` and `DistributedPriorityQueue` | `<path>/queue-<seq>`; with a priority `<path>/queue-<1\|0><8 hex digits><seq>` | Curator's item envelope ([`encode_curator_items`]) |
//! | [`curator_locked`](DistributedQueue::curator_locked) | the same, built with `QueueBuilder.lockPath(lock_path)` | as above; a consumer holds `<lock_path>/<item name>` (ephemeral) while it works | as above |
//! | [`curator_simple`](DistributedQueue::curator_simple) | Curator's `SimpleDistributedQueue` | `<path>/qn-<seq>` | the bytes |
//! | [`kazoo`](DistributedQueue::kazoo) | kazoo's `Queue` | `<path>/entry-<3-digit priority>-<seq>` | the bytes |
//! | [`kazoo_locking`](DistributedQueue::kazoo_locking) | kazoo's `LockingQueue` | `<path>/entries/entry-<3-digit priority>-<seq>`; a consumer holds `<path>/taken/<item name>` (ephemeral) | the bytes |
//!
//! Item nodes are persistent-sequential; lock nodes are ephemeral and hold a random id (kazoo's
//! hold its consumer's id, Curator's an IP address: nobody reads them). Every consumer takes the
//! item whose node name sorts first (plain string order, as `Collections.sort` and Python's
//! `sorted` order them), so lower priorities come first, then older items. Children without the
//! layout's prefix are ignored (Curator logs them as foreign nodes; kazoo's `Queue` would take
//! them).
//!
//! In the Curator layout, a plain [`put`](DistributedQueue::put) names its node without a
//! priority, as Curator's `DistributedQueue` does, and such a name sorts before every
//! prioritized one: a queue that Curator consumes as a `DistributedPriorityQueue` should be fed
//! with [`put_with_priority`](DistributedQueue::put_with_priority) only, as Curator's own
//! producers are.
//!
//! # Taking an item
//!
//! [`take`](DistributedQueue::take) reads the first item, then deletes its node (with the version
//! read, as Curator does); only the consumer whose delete succeeds returns the item, so among
//! any number of consumers — Rust, Curator, kazoo — each item is taken exactly once while they
//! all keep running. A consumer that loses the race (`NoNode`, `BadVersion`) moves on to the
//! next item; when there is none it waits on a children watch.
//!
//! What a crash does is the point of choosing between the two kinds of take:
//!
//! - [`take`](DistributedQueue::take) is **at-most-once**, like Curator's `DistributedQueue`
//!   without a lock path and kazoo's `Queue`: a consumer that dies after the read and before the
//!   delete leaves the item in the queue for the others (nothing was handed out); one that dies
//!   after the delete, while it works on the item, loses it. Curator behaves the same way: its
//!   consumer reads, deletes (at the version read), and only then calls `consumeMessage`; so
//!   does kazoo's `Queue.get` (read, unversioned delete, return). The Rust take returns the item
//!   as soon as its delete succeeded. Dropping the `take` future half-way loses nothing: an item
//!   whose delete was already sent is kept in the handle and returned by its next take.
//! - [`take_locked`](DistributedQueue::take_locked) (the locking layouts) is **at-least-once**,
//!   like Curator's `lockPath` queue and kazoo's `LockingQueue`: the consumer first creates an
//!   ephemeral lock node named after the item, then reads it, and deletes the item only when told
//!   to ([`LockedItem::consume`]). If it dies first, its session ends, the lock node goes with
//!   it, and another consumer takes the item again: it may be processed twice, never lost.
//!   (Curator's lock-path consumer locks, reads, calls `consumeMessage`, then deletes the item
//!   and its lock; kazoo's `LockingQueue` locks, reads, and deletes both in one multi at
//!   `consume`, as [`LockedItem::consume`] does.) Processed twice also covers a holder whose
//!   session expires while it works (a long pause): another consumer takes the item, and the
//!   late [`LockedItem::consume`] fails.
//!   Locking consumers skip items that are locked; in a locking layout [`take`] also locks
//!   first (then deletes at once), so it never takes an item that another consumer holds.
//!
//! [`take`]: DistributedQueue::take
//!
//! A plain take of a Curator queue that a Curator consumer with a lock path also consumes would
//! ignore its locks: give both sides the same lock path ([`DistributedQueue::curator_locked`]).
//!
//! # Curator's multi-item nodes
//!
//! Curator stores every `put` in an envelope (a version, then one length-prefixed record per
//! item), and `putMulti` puts several items in one node. [`take`](DistributedQueue::take)
//! returns them one at a time: the whole node is deleted at once, the first item returned and
//! the rest kept in this handle (shared by its clones) for the next takes, just as Curator
//! hands a node's items to its consumer one after another once the node is deleted. Items kept
//! that way are lost if the handle is dropped (at-most-once, as for Curator).
//! [`LockedItem::items`] holds all of a node's items. [`put_all`](DistributedQueue::put_all)
//! writes one such node in the Curator layouts (Curator's `putMulti`), and one node per item in
//! one multi in kazoo's (`LockingQueue.put_all`).
//!
//! # Not matched
//!
//! - Curator's `ErrorMode.REQUEUE` (a failed locked item re-created at the back of the queue):
//!   [`LockedItem::release`] leaves the item where it is instead, as kazoo's `release` does.
//! - Curator's `maxItems` bound, put listeners, `DistributedDelayQueue` and `DistributedIdQueue`
//!   (other node names) are not provided.
//! - A put whose reply is lost to a connection loss fails with `ConnectionLoss`: the item may or
//!   may not be in the queue (Curator's retry loop would put it again, perhaps twice).
//! - A take whose delete reply is lost and that then finds the node gone cannot tell whether
//!   its own delete or another consumer's removed it; it counts the item as another consumer's
//!   (it is lost if it was ours), as Curator's retried delete does.
//! - An item that does not decode (not a Curator envelope) is removed and returned as
//!   [`QueueError::Corrupt`] with its bytes; Curator removes it and only logs it.
//! - Curator's lock path gives recoverability, not order: with several consumers, items are
//!   taken in order but may finish in any order, in every layout. One consumer takes in order.
//! - kazoo's `Queue.get` does not block (it returns `None`) and lists the children once for
//!   several gets, so a kazoo consumer can take an older item of a lower priority before a newer
//!   urgent one; [`take`](DistributedQueue::take) lists afresh each time.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::protected::{delete_guaranteed, join, new_protected_prefix, validate_dir};
use crate::retry::Retries;
use crate::{Client, CreateOptions, Error, ErrorKind, OneshotWatcher, Op, Parents, Result};

/// Curator's `DistributedQueue.QUEUE_ITEM_NAME`.
const CURATOR_PREFIX: &str = "queue-";
/// Curator's `SimpleDistributedQueue.PREFIX`.
const CURATOR_SIMPLE_PREFIX: &str = "qn-";
/// kazoo's `Queue.prefix` (and `LockingQueue.entry` + `-`).
const KAZOO_PREFIX: &str = "entry-";
/// kazoo's default priority.
const KAZOO_DEFAULT_PRIORITY: i32 = 100;
/// kazoo's `LockingQueue.entries` and `.lock` directories.
const KAZOO_ENTRIES: &str = "entries";
const KAZOO_TAKEN: &str = "taken";

/// Curator's `ItemSerializer.VERSION`, `ITEM_OPCODE` and `EOF_OPCODE`.
const ENVELOPE_VERSION: i32 = 0x0001_0001;
const ITEM_OPCODE: u8 = 0x01;
const EOF_OPCODE: u8 = 0x02;

/// How many times an operation re-creates the queue directories after finding them gone.
const MAX_DIR_RECREATES: u32 = 5;

/// Whose queue this is: names, data and directories follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `DistributedQueue` / `DistributedPriorityQueue`.
    Curator,
    /// `SimpleDistributedQueue`.
    CuratorSimple,
    /// `Queue` / `LockingQueue`.
    Kazoo,
}

impl Flavor {
    fn prefix(self) -> &'static str {
        match self {
            Flavor::Curator => CURATOR_PREFIX,
            Flavor::CuratorSimple => CURATOR_SIMPLE_PREFIX,
            Flavor::Kazoo => KAZOO_PREFIX,
        }
    }

    /// The name a new item node is created with (the server appends the sequence).
    fn node_prefix(self, priority: Option<i32>) -> Result<String> {
        match (self, priority) {
            (Flavor::Curator, None) => Ok(CURATOR_PREFIX.to_owned()),
            (Flavor::Curator, Some(p)) => Ok(format!("{CURATOR_PREFIX}{}", curator_priority(p))),
            (Flavor::CuratorSimple, None) => Ok(CURATOR_SIMPLE_PREFIX.to_owned()),
            (Flavor::CuratorSimple, Some(_)) => Err(ErrorKind::InvalidArgument(
                "Curator's SimpleDistributedQueue has no priorities".into(),
            )
            .into()),
            (Flavor::Kazoo, p) => {
                let p = p.unwrap_or(KAZOO_DEFAULT_PRIORITY);
                if !(0..=999).contains(&p) {
                    return Err(ErrorKind::InvalidArgument(format!(
                        "kazoo's priorities are 0 to 999, not {p}"
                    ))
                    .into());
                }
                Ok(format!("{KAZOO_PREFIX}{p:03}-"))
            }
        }
    }

    /// One node's data for `items` (one item, or a Curator `putMulti` batch).
    fn encode(self, items: &[&[u8]]) -> Vec<u8> {
        match self {
            Flavor::Curator => encode_curator_items(items),
            Flavor::CuratorSimple | Flavor::Kazoo => items.concat(),
        }
    }

    fn decode(self, data: Bytes) -> Result<Vec<Bytes>, FormatError> {
        match self {
            Flavor::Curator => decode_curator_items(&data),
            Flavor::CuratorSimple | Flavor::Kazoo => Ok(vec![data]),
        }
    }
}

/// Curator's `DistributedPriorityQueue.priorityToString`: `1` and 8 hex digits for 0 and up,
/// `0` and the 8 hex digits of the two's complement below 0, so that names sort by priority.
fn curator_priority(priority: i32) -> String {
    let sign = if priority >= 0 { '1' } else { '0' };
    format!("{sign}{:08X}", priority as u32)
}

/// Node data that is not a Curator item envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The first four bytes are not Curator's `ItemSerializer.VERSION` (`0x00010001`).
    #[error("envelope version {0:#010x}, expected 0x00010001")]
    Version(i32),
    /// A record starts with neither the item (1) nor the end (2) marker.
    #[error("record marker {0}, expected 1 (item) or 2 (end)")]
    Opcode(u8),
    /// A negative item length.
    #[error("item length {0}")]
    Length(i32),
    /// The data ends inside a record or before the end marker.
    #[error("the envelope is cut short")]
    Truncated,
}

/// Items as Curator's `ItemSerializer` stores them in one queue node: the 4-byte big-endian
/// version `0x00010001`, then per item the byte 1, its 4-byte big-endian length and its bytes,
/// then the byte 2. A `put` is an envelope of one item, a `putMulti` one of several.
///
/// ```
/// use zk_client::recipes::queue::{decode_curator_items, encode_curator_items};
/// let data = encode_curator_items(&[b"a", b"bc"]);
/// assert_eq!(data, [0, 1, 0, 1, 1, 0, 0, 0, 1, b'a', 1, 0, 0, 0, 2, b'b', b'c', 2]);
/// assert_eq!(decode_curator_items(&data).unwrap(), [&b"a"[..], b"bc"]);
/// ```
pub fn encode_curator_items(items: &[&[u8]]) -> Vec<u8> {
    let len = 5 + items.iter().map(|item| 5 + item.len()).sum::<usize>();
    let mut data = Vec::with_capacity(len);
    data.extend_from_slice(&ENVELOPE_VERSION.to_be_bytes());
    for item in items {
        data.push(ITEM_OPCODE);
        data.extend_from_slice(&(item.len() as u32).to_be_bytes());
        data.extend_from_slice(item);
    }
    data.push(EOF_OPCODE);
    data
}

/// The items of a Curator queue node (see [`encode_curator_items`]). Bytes after the end marker
/// are ignored, as Curator ignores them.
pub fn decode_curator_items(data: &[u8]) -> Result<Vec<Bytes>, FormatError> {
    fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], FormatError> {
        if data.len() < n {
            return Err(FormatError::Truncated);
        }
        let (head, rest) = data.split_at(n);
        *data = rest;
        Ok(head)
    }
    fn int(data: &mut &[u8]) -> Result<i32, FormatError> {
        let bytes = take(data, 4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
    let mut rest = data;
    let version = int(&mut rest)?;
    if version != ENVELOPE_VERSION {
        return Err(FormatError::Version(version));
    }
    let mut items = Vec::new();
    loop {
        match take(&mut rest, 1)?[0] {
            EOF_OPCODE => return Ok(items),
            ITEM_OPCODE => {
                let len = int(&mut rest)?;
                let len = usize::try_from(len).map_err(|_| FormatError::Length(len))?;
                items.push(Bytes::copy_from_slice(take(&mut rest, len)?));
            }
            other => return Err(FormatError::Opcode(other)),
        }
    }
}

/// Why taking or peeking failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// ZooKeeper said no, or the session is gone.
    #[error(transparent)]
    Zk(#[from] Error),
    /// The first item's node holds something that is not a Curator item envelope. A take
    /// removed it from the queue (only the consumer whose delete succeeded gets this error);
    /// a peek left it.
    #[error("corrupted queue item {path}: {source}")]
    Corrupt {
        /// The item's node.
        path: String,
        /// Its data.
        data: Bytes,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
}

/// A distributed queue on Curator's or kazoo's layout (see the [module docs](self)). Cheap to
/// clone; clones share the items a take kept from a multi-item node.
///
/// ```no_run
/// # async fn demo() -> Result<(), zk_client::recipes::queue::QueueError> {
/// use std::time::Duration;
/// use zk_client::{recipes::queue::DistributedQueue, Client};
/// let client = Client::connect("127.0.0.1:2181").await?;
/// // A queue that Curator's DistributedQueue also uses.
/// let jobs = DistributedQueue::curator(&client, "/queues/jobs")?;
/// jobs.put(b"resize 42").await?;
/// if let Some(job) = jobs.take_timeout(Duration::from_secs(1)).await? {
///     println!("{}", String::from_utf8_lossy(&job));
/// }
///
/// // Curator's DistributedPriorityQueue: lower priorities first.
/// let mail = DistributedQueue::curator(&client, "/queues/mail")?;
/// mail.put_with_priority(b"digest", 10).await?;
/// mail.put_with_priority(b"password reset", -1).await?;
/// let first = mail.take().await?; // "password reset", unless others were queued before
/// # let _ = first;
///
/// // kazoo's LockingQueue: an item is deleted only once it was dealt with.
/// let work = DistributedQueue::kazoo_locking(&client, "/queues/work")?;
/// let item = work.take_locked().await?;
/// println!("{} item(s)", item.items().len());
/// item.consume().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DistributedQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    path: String,
    flavor: Flavor,
    items_dir: String,
    /// Where consumers lock items, in the locking layouts.
    lock_dir: Option<String>,
    /// Whether the directories were made (Curator's `start`, kazoo's `_ensure_paths`).
    dirs_ready: AtomicBool,
    /// Items taken from ZooKeeper and not yet returned (the rest of a multi-item node, or an
    /// item whose take was cancelled after its delete was sent).
    taken: StdMutex<VecDeque<Bytes>>,
}

impl DistributedQueue {
    fn new(
        client: &Client,
        path: &str,
        flavor: Flavor,
        items_dir: String,
        lock_dir: Option<String>,
    ) -> Result<DistributedQueue> {
        validate_dir(path)?;
        validate_dir(&items_dir)?;
        if let Some(lock_dir) = &lock_dir {
            validate_dir(lock_dir)?;
        }
        Ok(DistributedQueue {
            inner: Arc::new(Inner {
                client: client.clone(),
                path: path.to_owned(),
                flavor,
                items_dir,
                lock_dir,
                dirs_ready: AtomicBool::new(false),
                taken: StdMutex::new(VecDeque::new()),
            }),
        })
    }

    /// Curator's `DistributedQueue` (and `DistributedPriorityQueue`) at `path`: the directory is
    /// created on first use as a persistent node under container parents, as Curator's `start`
    /// does. Fails only for an invalid path.
    pub fn curator(client: &Client, path: &str) -> Result<DistributedQueue> {
        Self::new(client, path, Flavor::Curator, path.to_owned(), None)
    }

    /// Curator's `DistributedQueue` built with `lockPath(lock_path)`: consumers lock an item with
    /// the ephemeral node `<lock_path>/<item name>` before reading it, so
    /// [`take_locked`](Self::take_locked) is at-least-once.
    pub fn curator_locked(
        client: &Client,
        path: &str,
        lock_path: &str,
    ) -> Result<DistributedQueue> {
        let lock_dir = Some(lock_path.to_owned());
        Self::new(client, path, Flavor::Curator, path.to_owned(), lock_dir)
    }

    /// Curator's `SimpleDistributedQueue` at `path` (raw bytes in `qn-<seq>` nodes, the directory
    /// a container). No priorities.
    pub fn curator_simple(client: &Client, path: &str) -> Result<DistributedQueue> {
        Self::new(client, path, Flavor::CuratorSimple, path.to_owned(), None)
    }

    /// kazoo's `Queue` at `path` (raw bytes in `entry-<priority>-<seq>` nodes, priorities 0 to
    /// 999, 100 by default; the directory persistent).
    pub fn kazoo(client: &Client, path: &str) -> Result<DistributedQueue> {
        Self::new(client, path, Flavor::Kazoo, path.to_owned(), None)
    }

    /// kazoo's `LockingQueue` at `path`: items in `<path>/entries`, locks in `<path>/taken`.
    pub fn kazoo_locking(client: &Client, path: &str) -> Result<DistributedQueue> {
        let items_dir = join(path, KAZOO_ENTRIES);
        let lock_dir = Some(join(path, KAZOO_TAKEN));
        Self::new(client, path, Flavor::Kazoo, items_dir, lock_dir)
    }

    /// The queue's path (as given to the constructor).
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// Puts an item at the back of the queue (kazoo: at priority 100; Curator: without a
    /// priority, see the module docs); returns its node's path. `ConnectionLoss` means the item
    /// may or may not have been queued.
    pub async fn put(&self, item: &[u8]) -> Result<String> {
        let data = self.inner.flavor.encode(&[item]);
        self.inner.put_node(None, data).await
    }

    /// Puts an item with a priority: lower numbers are taken first (Curator's
    /// `DistributedPriorityQueue.put(item, priority)`, any `i32`; kazoo's `put(value, priority)`,
    /// 0 to 999). `InvalidArgument` for a priority the layout does not have.
    pub async fn put_with_priority(&self, item: &[u8], priority: i32) -> Result<String> {
        let data = self.inner.flavor.encode(&[item]);
        self.inner.put_node(Some(priority), data).await
    }

    /// Puts several items at once, all or none: Curator's `putMulti` (one node) in the Curator
    /// layout, one node per item in one multi elsewhere (kazoo's `LockingQueue.put_all`).
    /// Returns the new nodes' paths; nothing is put for no items.
    pub async fn put_all(&self, items: &[&[u8]]) -> Result<Vec<String>> {
        self.put_all_inner(items, None).await
    }

    /// [`put_all`](Self::put_all) at one priority (see
    /// [`put_with_priority`](Self::put_with_priority)).
    pub async fn put_all_with_priority(
        &self,
        items: &[&[u8]],
        priority: i32,
    ) -> Result<Vec<String>> {
        self.put_all_inner(items, Some(priority)).await
    }

    async fn put_all_inner(&self, items: &[&[u8]], priority: Option<i32>) -> Result<Vec<String>> {
        let inner = &self.inner;
        if items.is_empty() {
            inner.flavor.node_prefix(priority)?;
            return Ok(Vec::new());
        }
        if inner.flavor == Flavor::Curator {
            let path = inner
                .put_node(priority, encode_curator_items(items))
                .await?;
            return Ok(vec![path]);
        }
        let prefix = join(&inner.items_dir, &inner.flavor.node_prefix(priority)?);
        let ops: Vec<Op> = items
            .iter()
            .map(|item| Op::Create {
                path: prefix.clone(),
                data: item.to_vec().into(),
                options: CreateOptions::persistent_sequential(),
            })
            .collect();
        inner.ensure_dirs().await?;
        let mut recreates = 0;
        loop {
            match inner.client.multi(ops.clone()).await {
                Ok(results) => {
                    return Ok(results
                        .into_iter()
                        .filter_map(|r| match r {
                            crate::OpResult::Create { path, .. } => Some(path),
                            _ => None,
                        })
                        .collect())
                }
                Err(Error {
                    kind:
                        ErrorKind::MultiFailed {
                            code: crate::ErrorCode::NoNode,
                            ..
                        },
                    ..
                }) if recreates < MAX_DIR_RECREATES => {
                    recreates += 1;
                    inner.recreate_dirs().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes the first item, waiting for one as long as it takes (at-most-once: see the module
    /// docs). Fails when the session ends; a connection loss is waited out. Dropping the future
    /// loses nothing: an item whose delete was already sent is kept for this handle's next
    /// take.
    pub async fn take(&self) -> Result<Bytes, QueueError> {
        self.inner.take().await
    }

    /// Like [`take`](Self::take), giving up after `timeout`: `Ok(None)` then. An item whose
    /// delete was under way when time ran out is returned by the next take.
    pub async fn take_timeout(&self, timeout: Duration) -> Result<Option<Bytes>, QueueError> {
        match tokio::time::timeout(timeout, self.inner.take()).await {
            Ok(taken) => taken.map(Some),
            Err(_) => Ok(self.inner.pop_taken()),
        }
    }

    /// Locks the first unlocked item and reads it, waiting for one as long as it takes; the item
    /// stays in the queue until [`LockedItem::consume`] (at-least-once: see the module docs).
    /// Only in the locking layouts ([`curator_locked`](Self::curator_locked),
    /// [`kazoo_locking`](Self::kazoo_locking)); `InvalidArgument` elsewhere.
    pub async fn take_locked(&self) -> Result<LockedItem, QueueError> {
        self.inner.take_locked().await
    }

    /// Like [`take_locked`](Self::take_locked), giving up after `timeout`: `Ok(None)` then (a
    /// lock made meanwhile is removed in the background).
    pub async fn take_locked_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<LockedItem>, QueueError> {
        tokio::time::timeout(timeout, self.inner.take_locked())
            .await
            .ok()
            .transpose()
    }

    /// The item a take would return now, without taking it (`None` if the queue is empty).
    /// Items locked by a locking consumer are passed over.
    pub async fn peek(&self) -> Result<Option<Bytes>, QueueError> {
        if let Some(item) = self.inner.taken.lock().expect("queue buffer").front() {
            return Ok(Some(item.clone()));
        }
        let (names, _watches) = self.inner.available(false).await?;
        for name in names {
            let path = join(&self.inner.items_dir, &name);
            let Some((data, _stat)) = self.inner.read(&path).await? else {
                continue;
            };
            match self.inner.flavor.decode(data.clone()) {
                Ok(items) => {
                    if let Some(first) = items.into_iter().next() {
                        return Ok(Some(first));
                    }
                }
                Err(source) => return Err(QueueError::Corrupt { path, data, source }),
            }
        }
        Ok(None)
    }

    /// How many items wait: the item nodes in ZooKeeper (locked ones included, as kazoo counts;
    /// a Curator multi-item node counts once) plus the items this handle took and has not
    /// returned yet.
    pub async fn len(&self) -> Result<usize> {
        let buffered = self.inner.taken.lock().expect("queue buffer").len();
        let children = self.inner.children(&self.inner.items_dir, false).await?.0;
        let prefix = self.inner.flavor.prefix();
        Ok(buffered + children.iter().filter(|c| c.starts_with(prefix)).count())
    }

    /// Whether [`len`](Self::len) is 0.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }
}

/// The item nodes that a consumer may take, in the order it tries them: names with the
/// layout's `prefix`, not in `locked`, in plain string order (Curator's `Collections.sort`,
/// kazoo's `sorted`).
fn candidates(mut children: Vec<String>, prefix: &str, locked: &HashSet<String>) -> Vec<String> {
    children.retain(|name| name.starts_with(prefix) && !locked.contains(name));
    children.sort_unstable();
    children
}

/// What the spawned end of a take does on the server.
#[derive(Debug)]
enum Removal {
    /// Delete the item node at the version read (no lock).
    Delete { path: String, version: i32 },
    /// Delete the item node and our lock node in one multi.
    DeleteLocked { path: String, lock: String },
}

/// A request already sent, waiting for its reply.
type Request = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// Sends `removal` now.
fn send_removal(client: &Client, removal: &Removal) -> Request {
    match removal {
        Removal::Delete { path, version } => Box::pin(client.delete(path, Some(*version))),
        Removal::DeleteLocked { path, lock } => {
            let multi = client.multi(delete_item_and_lock(path, lock));
            Box::pin(async move { multi.await.map(|_| ()) })
        }
    }
}

/// kazoo's `consume` transaction: the item, then the lock.
fn delete_item_and_lock(path: &str, lock: &str) -> Vec<Op> {
    vec![
        Op::Delete {
            path: path.to_owned(),
            version: None,
        },
        Op::Delete {
            path: lock.to_owned(),
            version: None,
        },
    ]
}

impl Inner {
    fn pop_taken(&self) -> Option<Bytes> {
        self.taken.lock().expect("queue buffer").pop_front()
    }

    /// Makes the queue's directories once (then again only after finding them gone).
    async fn ensure_dirs(&self) -> Result<()> {
        if self.dirs_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let dirs = self.lock_dir.iter().chain(std::iter::once(&self.items_dir));
        for dir in dirs {
            let (options, parents) = match self.flavor {
                Flavor::Curator => (CreateOptions::persistent(), Parents::Container),
                Flavor::CuratorSimple => (CreateOptions::container(), Parents::Container),
                Flavor::Kazoo => (CreateOptions::persistent(), Parents::Persistent),
            };
            let mut retries = Retries::new(&self.client);
            loop {
                match self.client.create_all(dir, &[], &options, parents).await {
                    Ok(_)
                    | Err(Error {
                        kind: ErrorKind::NodeExists,
                        ..
                    }) => break,
                    Err(e) => retries.pause_or_fail(e).await?,
                }
            }
        }
        self.dirs_ready.store(true, Ordering::Release);
        Ok(())
    }

    async fn recreate_dirs(&self) -> Result<()> {
        self.dirs_ready.store(false, Ordering::Release);
        self.ensure_dirs().await
    }

    async fn put_node(&self, priority: Option<i32>, data: Vec<u8>) -> Result<String> {
        let prefix = join(&self.items_dir, &self.flavor.node_prefix(priority)?);
        self.ensure_dirs().await?;
        let mut recreates = 0;
        loop {
            let create =
                self.client
                    .create(&prefix, &data, &CreateOptions::persistent_sequential());
            match create.await {
                Ok((path, _stat)) => return Ok(path),
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) if recreates < MAX_DIR_RECREATES => {
                    recreates += 1;
                    self.recreate_dirs().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A directory's children (and, if asked, a watch on them), re-making the directories when
    /// they are gone and waiting out connection losses.
    async fn children(
        &self,
        dir: &str,
        watch: bool,
    ) -> Result<(Vec<String>, Option<OneshotWatcher>)> {
        self.ensure_dirs().await?;
        let mut recreates = 0;
        let mut retries = Retries::new(&self.client);
        loop {
            let listed = if watch {
                let listed = self.client.get_children_watch(dir).await;
                listed.map(|(children, _stat, watcher)| (children, Some(watcher)))
            } else {
                self.client.get_children(dir).await.map(|c| (c, None))
            };
            match listed {
                Ok(listed) => return Ok(listed),
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) if recreates < MAX_DIR_RECREATES => {
                    recreates += 1;
                    self.recreate_dirs().await?;
                }
                Err(e) => retries.pause_or_fail(e).await?,
            }
        }
    }

    /// The items a consumer may take now, in order, and (if `watch`) watches that fire when
    /// that may change: an item added or removed, a lock released.
    async fn available(&self, watch: bool) -> Result<(Vec<String>, Vec<OneshotWatcher>)> {
        let mut watches = Vec::new();
        let (items, watcher) = self.children(&self.items_dir, watch).await?;
        watches.extend(watcher);
        let mut locked = HashSet::new();
        if let Some(lock_dir) = &self.lock_dir {
            let (locks, watcher) = self.children(lock_dir, watch).await?;
            watches.extend(watcher);
            locked.extend(locks);
        }
        Ok((candidates(items, self.flavor.prefix(), &locked), watches))
    }

    /// A node's data and Stat; `None` once it is gone.
    async fn read(&self, path: &str) -> Result<Option<(Bytes, crate::Stat)>> {
        let mut retries = Retries::new(&self.client);
        loop {
            match self.client.get_data(path).await {
                Ok(read) => return Ok(Some(read)),
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => return Ok(None),
                Err(e) => retries.pause_or_fail(e).await?,
            }
        }
    }

    async fn take(self: &Arc<Self>) -> Result<Bytes, QueueError> {
        loop {
            if let Some(item) = self.pop_taken() {
                return Ok(item);
            }
            let (names, watches) = self.available(true).await?;
            let mut removed = false;
            for name in names {
                if self.try_take(&name).await? {
                    removed = true;
                    break;
                }
            }
            if !removed {
                wait_for_change(watches).await;
            }
        }
    }

    /// Tries to take one item node: `true` if this consumer removed it (its items are in
    /// `taken` then, unless a clone's take got there first), `false` if another consumer has
    /// it.
    async fn try_take(self: &Arc<Self>, name: &str) -> Result<bool, QueueError> {
        let path = join(&self.items_dir, name);
        let (removal, data, held) = match &self.lock_dir {
            None => {
                let Some((data, stat)) = self.read(&path).await? else {
                    return Ok(false);
                };
                let removal = Removal::Delete {
                    path: path.clone(),
                    version: stat.version,
                };
                (removal, data, None)
            }
            Some(_) => {
                let Some((lock, data)) = self.lock_and_read(name).await? else {
                    return Ok(false);
                };
                let removal = Removal::DeleteLocked {
                    path: path.clone(),
                    lock: lock.path.clone(),
                };
                (removal, data, Some(lock))
            }
        };
        let decoded = self.flavor.decode(data.clone());
        let items = decoded.clone().unwrap_or_default();
        let removing = self.spawn_removal(removal, items);
        // From here the spawned task owns the lock node: it deletes it with the item.
        if let Some(mut lock) = held {
            lock.disarm();
        }
        let removed = removing
            .await
            .map_err(|_| Error::from(ErrorKind::Closed))
            .and_then(|removed| removed)?;
        match decoded {
            Err(source) if removed => Err(QueueError::Corrupt { path, data, source }),
            _ => Ok(removed),
        }
    }

    /// Sends the removal now and finishes it in a task that puts `items` into `taken` if it
    /// succeeded, so a take dropped half-way loses nothing.
    fn spawn_removal(
        self: &Arc<Self>,
        removal: Removal,
        items: Vec<Bytes>,
    ) -> JoinHandle<Result<bool>> {
        // Sent before the task starts, so it is on its way even if the task never runs.
        let first_try = send_removal(&self.client, &removal);
        let this = self.clone();
        tokio::spawn(async move {
            let removed = this.finish_removal(&removal, first_try).await?;
            if removed {
                this.taken.lock().expect("queue buffer").extend(items);
            }
            Ok(removed)
        })
    }

    /// Whether `removal` (already sent as `first_try`) removed the item for us.
    async fn finish_removal(&self, removal: &Removal, first_try: Request) -> Result<bool> {
        let mut outcome = first_try.await;
        let mut retries = Retries::new(&self.client);
        loop {
            let e = match outcome {
                Ok(()) => return Ok(true),
                Err(e) => e,
            };
            match (removal, e.kind()) {
                // Another consumer's delete came first.
                (Removal::Delete { .. }, ErrorKind::NoNode | ErrorKind::BadVersion) => {
                    return Ok(false)
                }
                // The item went without our lock (a consumer that does not lock): drop the lock.
                (
                    Removal::DeleteLocked { lock, .. },
                    ErrorKind::MultiFailed {
                        index: 0,
                        code: crate::ErrorCode::NoNode,
                        ..
                    },
                ) => {
                    delete_guaranteed(&self.client, lock).await?;
                    return Ok(false);
                }
                // Our lock is gone (deleted by someone): whoever locks next may have the item.
                (
                    Removal::DeleteLocked { .. },
                    ErrorKind::MultiFailed {
                        index: 1,
                        code: crate::ErrorCode::NoNode,
                        ..
                    },
                ) => return Ok(false),
                (_, kind) if kind.is_retryable() => {
                    retries.pause_or_fail(e.clone()).await?;
                    // Did the lost request apply? Only the item node can say.
                    let path = match removal {
                        Removal::Delete { path, .. } | Removal::DeleteLocked { path, .. } => path,
                    };
                    if self.read(path).await?.is_none() {
                        // A locked item is deleted by its lock holder, us (unless a consumer that
                        // does not lock took it). An unlocked one may have been another
                        // consumer's: counted as theirs.
                        let ours = matches!(removal, Removal::DeleteLocked { .. });
                        if !ours {
                            tracing::warn!(%path, "a queue item's delete reply was lost and the \
                                item is gone: counted as taken by another consumer");
                        }
                        return Ok(ours);
                    }
                    outcome = send_removal(&self.client, removal).await;
                }
                _ => return Err(e.clone()),
            }
        }
    }

    /// Locks the item `name` (ephemeral `<lock dir>/<name>`) and reads it: `None` if another
    /// consumer holds it or it is gone.
    async fn lock_and_read(self: &Arc<Self>, name: &str) -> Result<Option<(HeldLock, Bytes)>> {
        let lock_dir = self.lock_dir.as_deref().expect("a locking layout");
        let lock_path = join(lock_dir, name);
        // A lock node holds a fresh UUID in hex, as kazoo's holds its consumer's id (Curator's
        // holds an IP address; nobody else reads it): a node found in the way is ours only if
        // it holds this very token, that is if an earlier try of this create was applied. The
        // guard exists before the first create is sent, so a take dropped while it waits for
        // the reply still removes the node.
        let token = new_protected_prefix()[3..39].replace('-', "");
        let mut lock = HeldLock {
            client: self.client.clone(),
            path: lock_path,
            token,
            armed: true,
        };
        let mut recreates = 0;
        let mut retries = Retries::new(&self.client);
        loop {
            let create = self.client.create(
                &lock.path,
                lock.token.as_bytes(),
                &CreateOptions::ephemeral(),
            );
            match create.await {
                Ok(_) => break,
                Err(Error {
                    kind: ErrorKind::NodeExists,
                    ..
                }) => match self.read(&lock.path).await? {
                    Some((data, stat))
                        if data == lock.token.as_bytes()
                            && stat.ephemeral_owner == self.client.session().session_id =>
                    {
                        break
                    }
                    // Another consumer's: nothing of ours to remove.
                    _ => {
                        lock.disarm();
                        return Ok(None);
                    }
                },
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) if recreates < MAX_DIR_RECREATES => {
                    recreates += 1;
                    self.recreate_dirs().await?;
                }
                Err(e) => retries.pause_or_fail(e).await?,
            }
        }
        match self.read(&join(&self.items_dir, name)).await? {
            Some((data, _stat)) => Ok(Some((lock, data))),
            None => {
                // Consumed meanwhile (kazoo's `_take` does the same).
                lock.release().await?;
                Ok(None)
            }
        }
    }

    async fn take_locked(self: &Arc<Self>) -> Result<LockedItem, QueueError> {
        if self.lock_dir.is_none() {
            return Err(Error::from(ErrorKind::InvalidArgument(format!(
                "the queue at {} has no lock path: take_locked needs curator_locked or kazoo_locking",
                self.path
            )))
            .into());
        }
        loop {
            let (names, watches) = self.available(true).await?;
            for name in names {
                let Some((lock, data)) = self.lock_and_read(&name).await? else {
                    continue;
                };
                let path = join(&self.items_dir, &name);
                match self.flavor.decode(data.clone()) {
                    Ok(items) => {
                        return Ok(LockedItem {
                            client: self.client.clone(),
                            path,
                            items,
                            lock,
                        })
                    }
                    Err(_) => {
                        // A plain take removes it and fails with its bytes (if no other
                        // consumer got there first).
                        lock.release().await?;
                        self.try_take(&name).await?;
                    }
                }
            }
            wait_for_change(watches).await;
        }
    }
}

/// Waits until any of `watches` fires (an item or lock added or removed, or the session over).
async fn wait_for_change(watches: Vec<OneshotWatcher>) {
    let mut watches = watches.into_iter();
    match (watches.next(), watches.next()) {
        (Some(items), Some(locks)) => {
            tokio::select! {
                _ = items => {}
                _ = locks => {}
            }
        }
        (Some(items), None) => {
            items.await;
        }
        _ => {}
    }
}

/// A lock node of ours, or one whose create is under way. Dropped while armed (a take
/// cancelled or failed half-way), it is removed in the background if it exists and is ours.
#[derive(Debug)]
struct HeldLock {
    client: Client,
    path: String,
    /// What our lock node holds (see [`Inner::lock_and_read`]).
    token: String,
    armed: bool,
}

impl HeldLock {
    fn disarm(&mut self) {
        self.armed = false;
    }

    async fn release(mut self) -> Result<()> {
        let result = delete_own_lock(&self.client, &self.path, &self.token).await;
        self.armed = false;
        result
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (client, path, token) =
                (self.client.clone(), self.path.clone(), self.token.clone());
            runtime.spawn(async move {
                if let Err(e) = delete_own_lock(&client, &path, &token).await {
                    tracing::warn!(error = %e, %path, "could not remove a queue lock node");
                }
            });
        }
    }
}

/// Deletes the lock node at `path` if it is ours (holds `token`, in our session); a create of
/// it sent earlier on this session has been applied or refused by the time the read is
/// answered. The end of the session counts as done: the node goes with it.
async fn delete_own_lock(client: &Client, path: &str, token: &str) -> Result<()> {
    let mut retries = Retries::until_session_ends(client);
    loop {
        let outcome = match client.get_data(path).await {
            Ok((data, stat))
                if data == token.as_bytes()
                    && stat.ephemeral_owner == client.session().session_id =>
            {
                match client.delete(path, Some(stat.version)).await {
                    Ok(())
                    | Err(Error {
                        kind: ErrorKind::NoNode | ErrorKind::BadVersion,
                        ..
                    }) => return Ok(()),
                    Err(e) => e,
                }
            }
            Ok(_)
            | Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => return Ok(()),
            Err(e) => e,
        };
        match retries.pause_or_fail(outcome).await {
            Ok(()) => {}
            Err(Error {
                kind: ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::AuthFailed,
                ..
            }) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// An item locked by [`DistributedQueue::take_locked`]: still in the queue, invisible to other
/// locking consumers while this lock lives. Finish with [`consume`](Self::consume) (done with
/// it) or [`release`](Self::release) (give it back); dropping it releases it in the background,
/// and so does the end of the session.
#[derive(Debug)]
pub struct LockedItem {
    client: Client,
    path: String,
    items: Vec<Bytes>,
    lock: HeldLock,
}

impl LockedItem {
    /// The item's node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The lock node (`<lock path>/<item name>`).
    pub fn lock_path(&self) -> &str {
        &self.lock.path
    }

    /// The node's items: one, or several for a Curator `putMulti` node.
    pub fn items(&self) -> &[Bytes] {
        &self.items
    }

    /// Removes the item and the lock in one multi (kazoo's `consume`; Curator deletes the item
    /// once its consumer returns). Fails, deleting nothing, with [`ErrorKind::LockLost`] if someone
    /// deleted the lock node, and with `SessionExpired` (or `Closed`) once the session ended,
    /// which removed the lock: either way another consumer may have the item now. `NoNode` if
    /// the item was deleted by a consumer that does not lock. A connection loss is waited out.
    pub async fn consume(self) -> Result<()> {
        let ops = delete_item_and_lock(&self.path, &self.lock.path);
        // If this future is dropped, `self.lock` still goes (after the multi: one connection
        // keeps the order), so the item is consumed or given back, never stuck.
        let mut retries = Retries::new(&self.client);
        loop {
            match self.client.multi(ops.clone()).await {
                Ok(_) => break,
                Err(Error {
                    kind:
                        ErrorKind::MultiFailed {
                            index: 0,
                            code: crate::ErrorCode::NoNode,
                            ..
                        },
                    ..
                }) => {
                    self.lock.release().await?;
                    return Err(ErrorKind::NoNode.into());
                }
                Err(Error {
                    kind: ErrorKind::MultiFailed { index: 1, .. },
                    ..
                }) => {
                    let mut lock = self.lock;
                    lock.disarm();
                    return Err(ErrorKind::LockLost.into());
                }
                Err(e) if e.is_retryable() => {
                    retries.pause_or_fail(e).await?;
                    // The lost multi applied if the item is gone (only the lock holder
                    // deletes a locked item).
                    if self.client.exists(&self.path).await?.is_none() {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let mut lock = self.lock;
        lock.disarm();
        Ok(())
    }

    /// Gives the item back (deletes the lock node only), so the next locking consumer takes it
    /// (kazoo's `release`).
    pub async fn release(self) -> Result<()> {
        self.lock.release().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn curator_priorities_sort_as_numbers() {
        // DistributedPriorityQueue.priorityToString.
        assert_eq!(curator_priority(0), "100000000");
        assert_eq!(curator_priority(10), "10000000A");
        assert_eq!(curator_priority(i32::MAX), "17FFFFFFF");
        assert_eq!(curator_priority(-1), "0FFFFFFFF");
        assert_eq!(curator_priority(i32::MIN), "080000000");
        let priorities = [7, -1, 0, i32::MIN, 255, -300, i32::MAX, 1, -2];
        let mut by_name: Vec<String> = priorities
            .iter()
            .enumerate()
            .map(|(seq, p)| format!("queue-{}{seq:010}", curator_priority(*p)))
            .collect();
        by_name = candidates(by_name, CURATOR_PREFIX, &HashSet::new());
        let mut by_number = priorities.to_vec();
        by_number.sort();
        let decoded: Vec<i32> = by_name
            .iter()
            .map(|n| u32::from_str_radix(&n[7..15], 16).unwrap() as i32)
            .collect();
        assert_eq!(decoded, by_number, "{by_name:?}");
    }

    #[test]
    fn node_prefixes_follow_each_layout() {
        let p = |flavor: Flavor, priority| flavor.node_prefix(priority);
        assert_eq!(p(Flavor::Curator, None).unwrap(), "queue-");
        assert_eq!(p(Flavor::Curator, Some(-2)).unwrap(), "queue-0FFFFFFFE");
        assert_eq!(p(Flavor::CuratorSimple, None).unwrap(), "qn-");
        assert!(p(Flavor::CuratorSimple, Some(1)).is_err());
        // kazoo: '{prefix}{priority:03d}-', 100 by default, 0..=999.
        assert_eq!(p(Flavor::Kazoo, None).unwrap(), "entry-100-");
        assert_eq!(p(Flavor::Kazoo, Some(5)).unwrap(), "entry-005-");
        assert_eq!(p(Flavor::Kazoo, Some(999)).unwrap(), "entry-999-");
        assert!(p(Flavor::Kazoo, Some(1000)).is_err());
        assert!(p(Flavor::Kazoo, Some(-1)).is_err());
    }

    #[test]
    fn candidates_are_sorted_by_name_without_foreign_or_locked_nodes() {
        let children = names(&[
            "entry-100-0000000003",
            "entry-005-0000000004",
            "lock",
            "entry-100-0000000001",
            "queue-0000000000",
            "entry-100-0000000002",
        ]);
        let locked: HashSet<String> = names(&["entry-100-0000000001"]).into_iter().collect();
        assert_eq!(
            candidates(children.clone(), KAZOO_PREFIX, &locked),
            names(&[
                "entry-005-0000000004",
                "entry-100-0000000002",
                "entry-100-0000000003"
            ])
        );
        assert_eq!(
            candidates(children, CURATOR_PREFIX, &HashSet::new()),
            names(&["queue-0000000000"])
        );
        // Curator's plain and priority names share a directory and sort as strings: a plain
        // item (sequence below 8 * 10^8) comes before every prioritized one, negative or not.
        assert_eq!(
            candidates(
                names(&[
                    "queue-1000000000000000007",
                    "queue-0000000008",
                    "queue-0FFFFFFFF0000000009"
                ]),
                CURATOR_PREFIX,
                &HashSet::new()
            ),
            names(&[
                "queue-0000000008",
                "queue-0FFFFFFFF0000000009",
                "queue-1000000000000000007"
            ])
        );
    }

    #[test]
    fn curator_envelopes_round_trip() {
        let one = encode_curator_items(&[b"hello"]);
        assert_eq!(
            one,
            [0, 1, 0, 1, 1, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o', 2]
        );
        assert_eq!(decode_curator_items(&one).unwrap(), [&b"hello"[..]]);
        let batch = encode_curator_items(&[b"", b"x", &[0xff; 300]]);
        let items = decode_curator_items(&batch).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            (&items[0][..], &items[1][..], items[2].len()),
            (&b""[..], &b"x"[..], 300)
        );
        assert_eq!(
            decode_curator_items(&encode_curator_items(&[])).unwrap(),
            Vec::<Bytes>::new()
        );
        // Trailing bytes after the end marker are ignored, as Curator's DataInputStream does.
        let mut trailing = one.clone();
        trailing.push(9);
        assert_eq!(decode_curator_items(&trailing).unwrap(), [&b"hello"[..]]);
    }

    #[test]
    fn broken_envelopes_are_reported() {
        assert_eq!(
            decode_curator_items(b"hello"),
            Err(FormatError::Version(0x68656c6c))
        );
        assert_eq!(decode_curator_items(&[0, 1]), Err(FormatError::Truncated));
        assert_eq!(
            decode_curator_items(&[0, 1, 0, 1]),
            Err(FormatError::Truncated)
        );
        assert_eq!(
            decode_curator_items(&[0, 1, 0, 1, 7]),
            Err(FormatError::Opcode(7))
        );
        assert_eq!(
            decode_curator_items(&[0, 1, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 2]),
            Err(FormatError::Length(-1))
        );
        // An item longer than the data, and an item without the end marker.
        assert_eq!(
            decode_curator_items(&[0, 1, 0, 1, 1, 0, 0, 0, 9, b'a', 2]),
            Err(FormatError::Truncated)
        );
        assert_eq!(
            decode_curator_items(&[0, 1, 0, 1, 1, 0, 0, 0, 1, b'a']),
            Err(FormatError::Truncated)
        );
    }

    #[test]
    fn raw_layouts_keep_bytes_as_they_are() {
        for flavor in [Flavor::Kazoo, Flavor::CuratorSimple] {
            assert_eq!(flavor.encode(&[b"\x00\x01raw"]), b"\x00\x01raw");
            assert_eq!(
                flavor.decode(Bytes::from_static(b"\x00\x01raw")).unwrap(),
                [Bytes::from_static(b"\x00\x01raw")]
            );
        }
        assert_eq!(
            Flavor::Curator.encode(&[b"a"]),
            encode_curator_items(&[b"a"])
        );
    }
}

//! Watched configuration: one node ([`ConfigNode`]) or a whole subtree ([`ConfigTree`]), decoded
//! by a function of yours, always current, and re-read after every reconnect.
//!
//! # What is promised
//!
//! ZooKeeper notifications carry no data: a watch says "this node changed", and the new data is
//! whatever a read returns afterwards. A writer that changes a node twice before the re-read
//! lands is therefore seen once, with the second value. So both recipes promise:
//!
//! - **Order.** For each node, the values delivered have strictly increasing `mzxid` (the zxid
//!   of the write that produced them): nothing older ever follows something newer, and nothing
//!   is delivered twice. Re-reads that return what was already delivered are dropped.
//! - **Nothing lost at the end.** After the last change to a node, its final state (value or
//!   deletion) is delivered, also when the change happened while this client was disconnected:
//!   every reconnect (a [`SessionState::Connected`] from [`Client::state_changes`]) triggers a
//!   re-read of the node, or of the whole subtree. For a tree this is what catches up: servers
//!   do not replay persistent-watch events missed while disconnected. For one node the client's
//!   own re-registration of its watch (SetWatches) already reports a missed change; the re-read
//!   costs one request and does not depend on it.
//! - **Every value, when the writer waits.** A change made after the previous one was delivered
//!   is always delivered. Changes made faster than that may be coalesced: intermediate values
//!   that were overwritten before the re-read are skipped, never reordered.
//!
//! Across different nodes of a [`ConfigTree`], changes are delivered in batches (what arrived
//! together), each batch sorted by `mzxid` (nodes one multi changed, by path); two batches are
//! not merged, so a change read early may precede a change to another node with a smaller zxid
//! read later. Deletions carry no zxid and come after the changes of their batch, by path.
//!
//! The watch ends, with a final [`ConfigEvent::Ended`] / [`TreeEvent::Ended`], when the session
//! ends (expiry, close, authentication failure), or when a [`ConfigNode`]'s read fails with an
//! error no retry can fix (for example `NoAuth`); a [`ConfigTree`] skips (and logs) nodes it may
//! not read instead. Lost connections are waited out; reads are retried once the client is
//! connected again. Nothing here survives a session expiry: start a new watch on a new client.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::warn;
use zk_proto::data::Stat;
use zk_proto::{AddWatchMode, EventType};

use crate::{
    Client, CreateOptions, Error, ErrorKind, OneshotWatcher, PersistentWatcher, Result,
    SessionState,
};

/// Pause before retrying a read that failed with a retryable error while the client still says
/// it is connected (the state update may lag the failure, or the server throttles).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How often a task waiting for a reconnect looks at the client's state even when no state
/// change arrived.
const STATE_POLL: Duration = Duration::from_secs(1);

/// A decoded node value with the Stat it was read with (`stat.mzxid` orders values,
/// `stat.version` is what a conditional `set_data` needs).
#[derive(Debug)]
pub struct Versioned<T> {
    /// The decoded value, shared with every other holder of this version.
    pub value: Arc<T>,
    /// The node's Stat when the value was read.
    pub stat: Stat,
}

impl<T> Clone for Versioned<T> {
    fn clone(&self) -> Self {
        Versioned {
            value: self.value.clone(),
            stat: self.stat.clone(),
        }
    }
}

/// What a [`ConfigNode`] reports.
#[derive(Debug)]
pub enum ConfigEvent<T, E> {
    /// The node holds this value (created, or changed).
    Value(Versioned<T>),
    /// The node does not exist: it was deleted, or it was missing when the watch started.
    Deleted,
    /// The node's data did not decode; [`ConfigNode::current`] keeps the last value that did.
    DecodeFailed {
        /// What the decoder said.
        error: Arc<E>,
        /// The raw data.
        data: Bytes,
        /// The node's Stat when it was read.
        stat: Stat,
    },
    /// The watch stopped for good (the session ended, or a read failed with a non-retryable
    /// error). Always the last event.
    Ended(Error),
}

impl<T, E> Clone for ConfigEvent<T, E> {
    fn clone(&self) -> Self {
        match self {
            ConfigEvent::Value(v) => ConfigEvent::Value(v.clone()),
            ConfigEvent::Deleted => ConfigEvent::Deleted,
            ConfigEvent::DecodeFailed { error, data, stat } => ConfigEvent::DecodeFailed {
                error: error.clone(),
                data: data.clone(),
                stat: stat.clone(),
            },
            ConfigEvent::Ended(e) => ConfigEvent::Ended(e.clone()),
        }
    }
}

/// What a [`ConfigTree`] reports. Paths are full client paths (`/app/config/db/url`).
#[derive(Debug)]
pub enum TreeEvent<T, E> {
    /// Every decoded node at the moment of subscribing; the first event of each stream.
    Snapshot(Arc<BTreeMap<String, Versioned<T>>>),
    /// A node was created or changed and now holds this value.
    Changed {
        /// The node.
        path: String,
        /// Its value.
        value: Versioned<T>,
    },
    /// A node was deleted.
    Deleted {
        /// The node.
        path: String,
    },
    /// A node's data did not decode; the map keeps its last value that did, if any.
    DecodeFailed {
        /// The node.
        path: String,
        /// What the decoder said.
        error: Arc<E>,
        /// The raw data.
        data: Bytes,
        /// The node's Stat when it was read.
        stat: Stat,
    },
    /// The watch stopped for good. Always the last event.
    Ended(Error),
}

impl<T, E> Clone for TreeEvent<T, E> {
    fn clone(&self) -> Self {
        match self {
            TreeEvent::Snapshot(map) => TreeEvent::Snapshot(map.clone()),
            TreeEvent::Changed { path, value } => TreeEvent::Changed {
                path: path.clone(),
                value: value.clone(),
            },
            TreeEvent::Deleted { path } => TreeEvent::Deleted { path: path.clone() },
            TreeEvent::DecodeFailed {
                path,
                error,
                data,
                stat,
            } => TreeEvent::DecodeFailed {
                path: path.clone(),
                error: error.clone(),
                data: data.clone(),
                stat: stat.clone(),
            },
            TreeEvent::Ended(e) => TreeEvent::Ended(e.clone()),
        }
    }
}

pub use crate::EventStream;

/// Subscribers of one watch. Each gets its own unbounded queue, so a slow reader delays no one
/// and loses nothing.
struct Fanout<Ev> {
    subscribers: Vec<mpsc::UnboundedSender<Ev>>,
}

impl<Ev: Clone> Fanout<Ev> {
    fn new() -> Self {
        Fanout {
            subscribers: Vec::new(),
        }
    }

    fn send(&mut self, event: &Ev) {
        self.subscribers.retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// A new stream that first receives `initial`. The caller holds the state lock, so nothing
    /// published can fall between `initial` and the stream's first live event.
    fn subscribe(&mut self, initial: impl IntoIterator<Item = Ev>, ended: bool) -> EventStream<Ev> {
        let (tx, rx) = mpsc::unbounded_channel();
        for event in initial {
            let _ = tx.send(event);
        }
        if !ended {
            self.subscribers.push(tx);
        }
        EventStream::new(rx)
    }

    /// Drops every sender, so streams end once drained.
    fn close(&mut self) {
        self.subscribers.clear();
    }
}

type DecodeFn<T, E> = Arc<dyn Fn(&[u8]) -> std::result::Result<T, E> + Send + Sync>;

fn lock<S>(state: &Mutex<S>) -> MutexGuard<'_, S> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Aborts the background task when the handle goes away.
#[derive(Debug)]
struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// One node.
// ---------------------------------------------------------------------------------------------

/// A watched configuration node: its current decoded value is always at hand
/// ([`current`](Self::current)), and every change arrives in order on [`events`](Self::events).
/// See the [module docs](self) for exactly what is promised.
///
/// A background task keeps a one-shot data watch (an exists watch while the node is missing) and
/// re-reads the node whenever it fires and after every reconnect. Dropping the handle stops it.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::recipes::config::{ConfigEvent, ConfigNode};
/// use zk_client::Client;
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let config = ConfigNode::start_or_create(&client, "/app/limit", b"10", |data: &[u8]| {
///     std::str::from_utf8(data)
///         .map_err(|e| e.to_string())?
///         .parse::<u32>()
///         .map_err(|e| e.to_string())
/// })
/// .await?;
/// println!("limit now {:?}", config.current().map(|v| *v.value));
/// let mut events = config.events();
/// while let Some(event) = events.next().await {
///     match event {
///         ConfigEvent::Value(v) => println!("limit {} (mzxid {:#x})", v.value, v.stat.mzxid),
///         ConfigEvent::Deleted => println!("limit unset"),
///         ConfigEvent::DecodeFailed { error, .. } => eprintln!("bad limit: {error}"),
///         ConfigEvent::Ended(e) => eprintln!("watch ended: {e}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct ConfigNode<T, E> {
    client: Client,
    path: String,
    shared: Arc<Mutex<NodeState<T, E>>>,
    commands: mpsc::UnboundedSender<NodeCommand>,
    _task: TaskGuard,
}

impl<T, E> fmt::Debug for ConfigNode<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigNode")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct NodeState<T, E> {
    /// The latest read: a value, the node's absence, or data that did not decode.
    latest: ConfigEvent<T, E>,
    /// The newest value that decoded; survives a decode failure, cleared by a deletion.
    good: Option<Versioned<T>>,
    /// Why the watch stopped, once it has.
    ended: Option<Error>,
    subscribers: Fanout<ConfigEvent<T, E>>,
}

impl<T, E> NodeState<T, E> {
    fn publish(&mut self, event: ConfigEvent<T, E>) {
        match &event {
            ConfigEvent::Value(v) => self.good = Some(v.clone()),
            ConfigEvent::Deleted => self.good = None,
            ConfigEvent::DecodeFailed { .. } | ConfigEvent::Ended(_) => {}
        }
        self.subscribers.send(&event);
        self.latest = event;
    }

    fn end(&mut self, error: Error) {
        self.subscribers.send(&ConfigEvent::Ended(error.clone()));
        self.subscribers.close();
        self.ended = Some(error);
    }
}

enum NodeCommand {
    /// Re-read now; answer when the result is applied.
    Refresh(oneshot::Sender<Result<()>>),
    /// This client wrote `data`, getting `stat`: deliver it without waiting for the watch.
    Written {
        data: Bytes,
        stat: Stat,
        done: oneshot::Sender<()>,
    },
}

impl<T, E> ConfigNode<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Reads `path` (which need not exist), decodes it with `decode`, and keeps watching it.
    /// Returns once the first read is done, so [`current`](Self::current) is meaningful at once.
    /// Fails if that first read fails (for example `ConnectionLoss`: retry then).
    pub async fn start<F>(client: &Client, path: &str, decode: F) -> Result<Self>
    where
        F: Fn(&[u8]) -> std::result::Result<T, E> + Send + Sync + 'static,
    {
        Self::launch(client, path, None, Arc::new(decode)).await
    }

    /// Like [`start`](Self::start), first creating the node (persistent, open ACL, missing
    /// parents as containers as Curator's `creatingParentContainersIfNeeded` does) with `default`
    /// when it does not exist. Another client creating it first is fine: its data wins.
    pub async fn start_or_create<F>(
        client: &Client,
        path: &str,
        default: &[u8],
        decode: F,
    ) -> Result<Self>
    where
        F: Fn(&[u8]) -> std::result::Result<T, E> + Send + Sync + 'static,
    {
        Self::launch(client, path, Some(default), Arc::new(decode)).await
    }

    async fn launch(
        client: &Client,
        path: &str,
        default: Option<&[u8]>,
        decode: DecodeFn<T, E>,
    ) -> Result<Self> {
        // Subscribed before the first read, so a reconnect during it still causes a re-read.
        let states = client.state_changes();
        if let Some(default) = default {
            create_if_missing(client, path, default).await?;
        }
        let mut reader = NodeReader {
            client: client.clone(),
            path: path.to_owned(),
            tracker: NodeTracker {
                decode,
                last: LastRead::Nothing,
            },
        };
        let (first, watcher) = reader.read().await?;
        let first = first.expect("the first read always yields an event");
        let shared = Arc::new(Mutex::new(NodeState {
            good: None,
            latest: ConfigEvent::Deleted,
            ended: None,
            subscribers: Fanout::new(),
        }));
        lock(&shared).publish(first);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let task = NodeTask {
            reader,
            shared: shared.clone(),
            states,
            commands: command_rx,
        };
        let handle = tokio::spawn(task.run(watcher));
        Ok(ConfigNode {
            client: client.clone(),
            path: path.to_owned(),
            shared,
            commands,
            _task: TaskGuard(handle),
        })
    }
}

impl<T, E> ConfigNode<T, E> {
    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current value: the newest data that decoded, or `None` while the node does not exist.
    /// When the newest data did not decode, this is the value before it (see
    /// [`latest`](Self::latest)).
    pub fn current(&self) -> Option<Versioned<T>> {
        lock(&self.shared).good.clone()
    }

    /// The latest state read: [`ConfigEvent::Value`], [`ConfigEvent::Deleted`] or
    /// [`ConfigEvent::DecodeFailed`] (never `Ended`; see [`ended`](Self::ended)).
    pub fn latest(&self) -> ConfigEvent<T, E> {
        lock(&self.shared).latest.clone()
    }

    /// Why the watch stopped, once it has (the values above are then frozen).
    pub fn ended(&self) -> Option<Error> {
        lock(&self.shared).ended.clone()
    }

    /// A stream that starts with the latest state (as [`latest`](Self::latest)) and then carries
    /// every later event in order. Any number of streams may exist; each gets every event.
    pub fn events(&self) -> EventStream<ConfigEvent<T, E>> {
        let mut state = lock(&self.shared);
        let mut initial = vec![state.latest.clone()];
        if let Some(error) = &state.ended {
            initial.push(ConfigEvent::Ended(error.clone()));
        }
        let ended = state.ended.is_some();
        state.subscribers.subscribe(initial, ended)
    }

    /// Re-reads the node now and returns once the result is applied (and, if new, delivered).
    pub async fn refresh(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(NodeCommand::Refresh(tx)).is_err() {
            return Err(self.ended().unwrap_or(ErrorKind::Closed.into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(self.ended().unwrap_or(ErrorKind::Closed.into())))
    }

    /// Writes `data` (encoded by the caller) to the node, if its version is `version` (`None`:
    /// whatever it is), and returns the new Stat. Read-your-writes: [`current`](Self::current)
    /// and [`events`](Self::events) have the new value when this returns, without waiting for
    /// the watch. The node must exist (`NoNode` otherwise).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::recipes::config::ConfigNode;
    /// let limit = ConfigNode::start_or_create(&client, "/app/limit", b"10", |d: &[u8]| {
    ///     std::str::from_utf8(d).map(str::to_owned)
    /// })
    /// .await?;
    /// // Compare-and-set on the version read.
    /// let seen = limit.current().expect("a value");
    /// limit.set(b"20", Some(seen.stat.version)).await?;
    /// assert_eq!(&*limit.current().unwrap().value, "20");
    /// # Ok(()) }
    /// ```
    pub async fn set(&self, data: &[u8], version: Option<i32>) -> Result<Stat> {
        let stat = self.client.set_data(&self.path, data, version).await?;
        self.apply_write(Bytes::copy_from_slice(data), stat.clone())
            .await;
        Ok(stat)
    }

    /// Delivers what this client just wrote (`data`, and the Stat `set_data` returned) so that
    /// reads right after a write see it, as Curator's `SharedValue` updates itself after its own
    /// writes. Dropped when something newer, or the node's absence, was already read: the watch
    /// left by that read then reports the write anyway.
    pub(crate) async fn apply_write(&self, data: Bytes, stat: Stat) {
        let (done, rx) = oneshot::channel();
        if self
            .commands
            .send(NodeCommand::Written { data, stat, done })
            .is_ok()
        {
            let _ = rx.await;
        }
    }
}

/// What the node task knows it delivered last; decides which reads are news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastRead {
    Nothing,
    Missing,
    Data { mzxid: i64 },
}

/// Reads the node, leaving a watch.
struct NodeReader<T, E> {
    client: Client,
    path: String,
    tracker: NodeTracker<T, E>,
}

impl<T, E> NodeReader<T, E> {
    /// Reads the node and leaves a watch: a data watch if it exists, an exists watch if not
    /// (getData on a missing node leaves none). Returns the event to deliver, if news.
    async fn read(&mut self) -> Result<(Option<ConfigEvent<T, E>>, OneshotWatcher)> {
        loop {
            match self.client.get_data_watch(&self.path).await {
                Ok((data, stat, watcher)) => {
                    return Ok((self.tracker.on_data(data, stat), watcher))
                }
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
            match self.client.exists_watch(&self.path).await? {
                (None, watcher) => return Ok((self.tracker.on_missing(), watcher)),
                // Created between the two reads: read its data.
                (Some(_), _) => continue,
            }
        }
    }
}

/// Turns reads of one node into events, dropping those that are not news. Reads arrive in
/// session order (one task issues them one after another), so a later read never shows an
/// older state; the mzxid check drops repeats (a reconnect re-read, a spent watch).
struct NodeTracker<T, E> {
    decode: DecodeFn<T, E>,
    last: LastRead,
}

impl<T, E> NodeTracker<T, E> {
    fn on_data(&mut self, data: Bytes, stat: Stat) -> Option<ConfigEvent<T, E>> {
        if let LastRead::Data { mzxid } = self.last {
            if stat.mzxid <= mzxid {
                return None;
            }
        }
        self.last = LastRead::Data { mzxid: stat.mzxid };
        Some(match (self.decode)(&data) {
            Ok(value) => ConfigEvent::Value(Versioned {
                value: Arc::new(value),
                stat,
            }),
            Err(error) => ConfigEvent::DecodeFailed {
                error: Arc::new(error),
                data,
                stat,
            },
        })
    }

    fn on_missing(&mut self) -> Option<ConfigEvent<T, E>> {
        if self.last == LastRead::Missing {
            return None;
        }
        self.last = LastRead::Missing;
        Some(ConfigEvent::Deleted)
    }

    /// A write's result is news only after a value with a smaller mzxid. After a read that found
    /// the node missing it is dropped: whether the write came before or after that read is
    /// unknown (a missing node has no zxid), and the exists watch that read left fires for it.
    fn on_written(&mut self, data: Bytes, stat: Stat) -> Option<ConfigEvent<T, E>> {
        match self.last {
            LastRead::Data { mzxid } if stat.mzxid > mzxid => self.on_data(data, stat),
            _ => None,
        }
    }
}

struct NodeTask<T, E> {
    reader: NodeReader<T, E>,
    shared: Arc<Mutex<NodeState<T, E>>>,
    states: EventStream<SessionState>,
    commands: mpsc::UnboundedReceiver<NodeCommand>,
}

enum NodeWake {
    Watch(crate::WatchedEvent),
    State(Option<SessionState>),
    Command(Option<NodeCommand>),
}

impl<T, E> NodeTask<T, E> {
    async fn run(mut self, mut watcher: OneshotWatcher) {
        let reason = loop {
            let wake = tokio::select! {
                event = &mut watcher => NodeWake::Watch(event),
                state = self.states.next() => NodeWake::State(state),
                command = self.commands.recv() => NodeWake::Command(command),
            };
            let mut reply = None;
            match wake {
                NodeWake::Watch(event) => {
                    if event.event_type == EventType::None {
                        if let Some(e) = self.reader.client.state().terminal_error() {
                            break e;
                        }
                    }
                }
                NodeWake::State(Some(state)) if state.is_connected() => {}
                NodeWake::State(Some(state)) => match state.terminal_error() {
                    Some(e) => break e,
                    None => continue,
                },
                NodeWake::State(None) => break ended_error(&self.reader.client),
                // Every handle is gone: stop quietly.
                NodeWake::Command(None) => return,
                NodeWake::Command(Some(NodeCommand::Written { data, stat, done })) => {
                    if let Some(event) = self.reader.tracker.on_written(data, stat) {
                        lock(&self.shared).publish(event);
                    }
                    let _ = done.send(());
                    continue;
                }
                NodeWake::Command(Some(NodeCommand::Refresh(done))) => reply = Some(done),
            }
            // The watch fired (it is spent), the client reconnected, or a refresh was asked
            // for: read again, leaving a new watch.
            match self.read_until_done().await {
                Ok(new_watcher) => {
                    watcher = new_watcher;
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(e) => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(e.clone()));
                    }
                    break e;
                }
            }
        };
        lock(&self.shared).end(reason);
    }

    async fn read_until_done(&mut self) -> Result<OneshotWatcher> {
        loop {
            match self.reader.read().await {
                Ok((event, watcher)) => {
                    if let Some(event) = event {
                        lock(&self.shared).publish(event);
                    }
                    return Ok(watcher);
                }
                Err(e) if e.is_retryable() => {
                    wait_for_connection(&self.reader.client, &mut self.states).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A subtree.
// ---------------------------------------------------------------------------------------------

/// A watched configuration subtree: a map from path to decoded value for every node under a
/// root (the root itself excluded), kept current through one persistent recursive watch
/// ([`Client::add_watch`] with `PersistentRecursive`), like Curator's `CuratorCache`.
///
/// Start-up reads the whole subtree after adding the watch, so nothing changed in between is
/// missed. Each created, changed or deleted node is then re-read (the newest read per node wins
/// by `mzxid`). ZooKeeper does not replay persistent-watch events missed while disconnected, so
/// after every reconnect the whole subtree is read again and compared with the map. See the
/// [module docs](self) for the ordering promise.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::recipes::config::{ConfigTree, TreeEvent};
/// use zk_client::Client;
/// let client = Client::connect("127.0.0.1:2181").await?;
/// let tree = ConfigTree::start(&client, "/app/flags", |data: &[u8]| {
///     Ok::<bool, std::convert::Infallible>(data == b"on")
/// })
/// .await?;
/// for (path, flag) in tree.current().iter() {
///     println!("{path} = {}", flag.value);
/// }
/// let mut events = tree.events();
/// while let Some(event) = events.next().await {
///     if let TreeEvent::Changed { path, value } = event {
///         println!("{path} is now {}", value.value);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct ConfigTree<T, E> {
    root: String,
    shared: Arc<Mutex<TreeState<T, E>>>,
    commands: mpsc::UnboundedSender<oneshot::Sender<Result<()>>>,
    _task: TaskGuard,
}

impl<T, E> fmt::Debug for ConfigTree<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigTree")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// A node whose newest data did not decode.
struct Undecodable<E> {
    error: Arc<E>,
    data: Bytes,
    stat: Stat,
}

struct TreeState<T, E> {
    /// Every node's newest value that decoded. Copied on write, so readers hold a snapshot.
    entries: Arc<BTreeMap<String, Versioned<T>>>,
    /// Nodes whose newest data did not decode (told to new subscribers after the snapshot).
    undecodable: BTreeMap<String, Undecodable<E>>,
    ended: Option<Error>,
    subscribers: Fanout<TreeEvent<T, E>>,
}

impl<T, E> TreeState<T, E> {
    fn publish(&mut self, events: Vec<TreeEvent<T, E>>) {
        if events.is_empty() {
            return;
        }
        let entries = Arc::make_mut(&mut self.entries);
        for event in &events {
            match event {
                TreeEvent::Changed { path, value } => {
                    self.undecodable.remove(path);
                    entries.insert(path.clone(), value.clone());
                }
                TreeEvent::Deleted { path } => {
                    self.undecodable.remove(path);
                    entries.remove(path);
                }
                TreeEvent::DecodeFailed {
                    path,
                    error,
                    data,
                    stat,
                } => {
                    self.undecodable.insert(
                        path.clone(),
                        Undecodable {
                            error: error.clone(),
                            data: data.clone(),
                            stat: stat.clone(),
                        },
                    );
                }
                TreeEvent::Snapshot(_) | TreeEvent::Ended(_) => {}
            }
        }
        for event in &events {
            self.subscribers.send(event);
        }
    }

    fn end(&mut self, error: Error) {
        self.subscribers.send(&TreeEvent::Ended(error.clone()));
        self.subscribers.close();
        self.ended = Some(error);
    }
}

impl<T, E> ConfigTree<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Adds a persistent recursive watch on `root` (which need not exist), reads every node
    /// under it, decoding each with `decode`, and keeps the map current. Returns once the first
    /// full read is done. Fails if the watch or that read fails.
    pub async fn start<F>(client: &Client, root: &str, decode: F) -> Result<Self>
    where
        F: Fn(&[u8]) -> std::result::Result<T, E> + Send + Sync + 'static,
    {
        let states = client.state_changes();
        // The watch goes first: anything changed during the full read is then reported too.
        let watcher = client
            .add_watch(root, AddWatchMode::PersistentRecursive)
            .await?;
        let shared = Arc::new(Mutex::new(TreeState {
            entries: Arc::new(BTreeMap::new()),
            undecodable: BTreeMap::new(),
            ended: None,
            subscribers: Fanout::new(),
        }));
        let mut task = TreeTask {
            client: client.clone(),
            root: root.to_owned(),
            tracker: TreeTracker {
                decode: Arc::new(decode),
                known: HashMap::new(),
            },
            shared: shared.clone(),
            states,
            watcher,
        };
        task.resync().await?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(task.run(command_rx));
        Ok(ConfigTree {
            root: root.to_owned(),
            shared,
            commands,
            _task: TaskGuard(handle),
        })
    }
}

impl<T, E> ConfigTree<T, E> {
    /// The watched root.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Every node under the root whose data decoded, by full path (a cheap shared snapshot).
    pub fn current(&self) -> Arc<BTreeMap<String, Versioned<T>>> {
        lock(&self.shared).entries.clone()
    }

    /// One node's current value.
    pub fn get(&self, path: &str) -> Option<Versioned<T>> {
        lock(&self.shared).entries.get(path).cloned()
    }

    /// Why the watch stopped, once it has (the map is then frozen).
    pub fn ended(&self) -> Option<Error> {
        lock(&self.shared).ended.clone()
    }

    /// A stream that starts with a [`TreeEvent::Snapshot`] of the map, then a
    /// [`TreeEvent::DecodeFailed`] for each node whose newest data does not decode, then every
    /// later event in order.
    pub fn events(&self) -> EventStream<TreeEvent<T, E>> {
        let mut state = lock(&self.shared);
        let mut initial = vec![TreeEvent::Snapshot(state.entries.clone())];
        for (path, bad) in &state.undecodable {
            initial.push(TreeEvent::DecodeFailed {
                path: path.clone(),
                error: bad.error.clone(),
                data: bad.data.clone(),
                stat: bad.stat.clone(),
            });
        }
        if let Some(error) = &state.ended {
            initial.push(TreeEvent::Ended(error.clone()));
        }
        let ended = state.ended.is_some();
        state.subscribers.subscribe(initial, ended)
    }

    /// Reads the whole subtree again now and returns once the differences are applied.
    pub async fn refresh(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(tx).is_err() {
            return Err(self.ended().unwrap_or(ErrorKind::Closed.into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(self.ended().unwrap_or(ErrorKind::Closed.into())))
    }
}

struct TreeTask<T, E> {
    client: Client,
    root: String,
    tracker: TreeTracker<T, E>,
    shared: Arc<Mutex<TreeState<T, E>>>,
    states: EventStream<SessionState>,
    watcher: PersistentWatcher,
}

enum TreeWake {
    Event(Option<crate::WatchedEvent>),
    State(Option<SessionState>),
    Refresh(Option<oneshot::Sender<Result<()>>>),
}

/// What a batch of watch events asks for.
#[derive(Default)]
struct Batch {
    /// Nodes to re-read, first-seen order, no duplicates.
    paths: Vec<String>,
    /// The server removed the watch (`removeWatches`): add it again and re-read everything.
    watch_removed: bool,
    /// The session ended.
    session_end: bool,
}

impl<T, E> TreeTask<T, E> {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<oneshot::Sender<Result<()>>>) {
        let reason = loop {
            let wake = tokio::select! {
                event = self.watcher.next() => TreeWake::Event(event),
                state = self.states.next() => TreeWake::State(state),
                command = commands.recv() => TreeWake::Refresh(command),
            };
            let outcome = match wake {
                TreeWake::Event(None) => break ended_error(&self.client),
                TreeWake::Event(Some(first)) => {
                    let batch = self.drain_batch(first);
                    if batch.session_end {
                        if let Some(e) = self.client.state().terminal_error() {
                            break e;
                        }
                    }
                    let mut outcome = self.reread(&batch.paths).await;
                    if batch.watch_removed && outcome.is_ok() {
                        outcome = self.rewatch().await;
                    }
                    outcome
                }
                TreeWake::State(Some(state)) if state.is_connected() => self.resync().await,
                TreeWake::State(Some(state)) => match state.terminal_error() {
                    Some(e) => break e,
                    None => continue,
                },
                TreeWake::State(None) => break ended_error(&self.client),
                // Every handle is gone: stop quietly.
                TreeWake::Refresh(None) => return,
                TreeWake::Refresh(Some(reply)) => {
                    let resynced = self.resync().await;
                    let outcome = self.recover(resynced).await;
                    let failed = outcome.as_ref().err().cloned();
                    let _ = reply.send(outcome);
                    match failed {
                        Some(e) => break e,
                        None => continue,
                    }
                }
            };
            if let Err(e) = self.recover(outcome).await {
                break e;
            }
        };
        lock(&self.shared).end(reason);
    }

    /// `first` and every event already queued behind it.
    fn drain_batch(&mut self, first: crate::WatchedEvent) -> Batch {
        let mut batch = Batch::default();
        let mut next = Some(first);
        while let Some(event) = next {
            match event.event_type {
                EventType::NodeCreated | EventType::NodeDataChanged | EventType::NodeDeleted => {
                    batch.paths.push(event.path);
                }
                EventType::PersistentWatchRemoved => batch.watch_removed = true,
                EventType::None => batch.session_end = true,
                _ => {}
            }
            next = self.watcher.try_next();
        }
        // The root is not part of the map (its children report themselves); one read per node.
        let mut seen = HashSet::new();
        batch
            .paths
            .retain(|path| *path != self.root && seen.insert(path.clone()));
        batch
    }

    /// After a retryable failure: wait for the connection, then read everything again (the
    /// failed reads are lost, and events may have been missed meanwhile).
    async fn recover(&mut self, mut outcome: Result<()>) -> Result<()> {
        loop {
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    wait_for_connection(&self.client, &mut self.states).await?;
                    outcome = self.resync().await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn rewatch(&mut self) -> Result<()> {
        self.watcher = self
            .client
            .add_watch(&self.root, AddWatchMode::PersistentRecursive)
            .await?;
        self.resync().await
    }

    /// Re-reads `paths` (all requests pipelined) and applies what changed.
    async fn reread(&mut self, paths: &[String]) -> Result<()> {
        let reads: Vec<_> = paths.iter().map(|p| self.client.get_data(p)).collect();
        let mut found = Vec::new();
        let mut gone = Vec::new();
        for (path, read) in paths.iter().zip(reads) {
            match read.await {
                Ok((data, stat)) => found.push((path.clone(), data, stat)),
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => gone.push(path.clone()),
                Err(e) if unreadable(&e) => warn!(path = %path, error = %e, "skipping a node"),
                Err(e) => return Err(e),
            }
        }
        let events = self.tracker.apply(found, gone);
        lock(&self.shared).publish(events);
        Ok(())
    }

    /// Reads the whole subtree, one level per round trip, and applies the differences with the
    /// map: new or newer nodes are changes, known nodes no longer there are deletions.
    async fn resync(&mut self) -> Result<()> {
        let mut found = Vec::new();
        // Nodes that exist but could not be read (NoAuth): neither changed nor gone.
        let mut unread = HashSet::new();
        let mut level = vec![self.root.clone()];
        while !level.is_empty() {
            // Queue every request of the level before awaiting any (the client pipelines).
            let reads: Vec<_> = level
                .iter()
                .map(|path| {
                    let data = (path != &self.root).then(|| self.client.get_data(path));
                    (path, data, self.client.get_children(path))
                })
                .collect();
            let mut next = Vec::new();
            for (path, data, children) in reads {
                if let Some(data) = data {
                    match data.await {
                        Ok((data, stat)) => found.push((path.clone(), data, stat)),
                        Err(Error {
                            kind: ErrorKind::NoNode,
                            ..
                        }) => {}
                        Err(e) if unreadable(&e) => {
                            warn!(path = %path, error = %e, "skipping a node");
                            unread.insert(path.clone());
                        }
                        Err(e) => return Err(e),
                    }
                }
                match children.await {
                    Ok(names) => next.extend(names.iter().map(|name| child_path(path, name))),
                    Err(Error {
                        kind: ErrorKind::NoNode,
                        ..
                    }) => {}
                    Err(e) if unreadable(&e) => {
                        warn!(path = %path, error = %e, "skipping a node's children");
                    }
                    Err(e) => return Err(e),
                }
            }
            level = next;
        }
        let present: HashSet<&str> = found.iter().map(|(p, _, _)| p.as_str()).collect();
        let gone: Vec<String> = self
            .tracker
            .known
            .keys()
            .filter(|p| !present.contains(p.as_str()) && !unread.contains(p.as_str()))
            .cloned()
            .collect();
        let events = self.tracker.apply(found, gone);
        lock(&self.shared).publish(events);
        Ok(())
    }
}

/// Turns reads of a subtree into events, dropping those that are not news.
struct TreeTracker<T, E> {
    decode: DecodeFn<T, E>,
    /// The mzxid last read for every node known to exist.
    known: HashMap<String, i64>,
}

impl<T, E> TreeTracker<T, E> {
    /// Turns reads into events: each node's read is news only with a higher mzxid than the last
    /// one; changes go out sorted by mzxid then path, then deletions by path (whatever order the
    /// server listed children in).
    fn apply(
        &mut self,
        found: Vec<(String, Bytes, Stat)>,
        mut gone: Vec<String>,
    ) -> Vec<TreeEvent<T, E>> {
        let mut changes: Vec<_> = found
            .into_iter()
            .filter(|(path, _, stat)| {
                let news = self.known.get(path).is_none_or(|&m| stat.mzxid > m);
                if news {
                    self.known.insert(path.clone(), stat.mzxid);
                }
                news
            })
            .collect();
        changes.sort_by(|(a, _, x), (b, _, y)| (x.mzxid, a).cmp(&(y.mzxid, b)));
        let mut events: Vec<TreeEvent<T, E>> = changes
            .into_iter()
            .map(|(path, data, stat)| match (self.decode)(&data) {
                Ok(value) => TreeEvent::Changed {
                    path,
                    value: Versioned {
                        value: Arc::new(value),
                        stat,
                    },
                },
                Err(error) => TreeEvent::DecodeFailed {
                    path,
                    error: Arc::new(error),
                    data,
                    stat,
                },
            })
            .collect();
        gone.sort();
        for path in gone {
            if self.known.remove(&path).is_some() {
                events.push(TreeEvent::Deleted { path });
            }
        }
        events
    }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------------------------

/// Errors that concern one node of a tree (its ACL, say) rather than the session or the
/// connection: that node is skipped instead of ending the watch.
fn unreadable(e: &Error) -> bool {
    !e.is_retryable()
        && !matches!(
            e.kind(),
            ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::AuthFailed
        )
}

/// Why a watch ends when its client's state stream or watch stream closed.
fn ended_error(client: &Client) -> Error {
    client
        .state()
        .terminal_error()
        .unwrap_or(ErrorKind::Closed.into())
}

/// Waits until the client is connected again after a retryable failure; fails once the session
/// is over. Looks at the current state too, not only at the stream: the reconnect may already
/// have been reported (and consumed) before the failure surfaced.
async fn wait_for_connection(
    client: &Client,
    states: &mut EventStream<SessionState>,
) -> Result<()> {
    loop {
        let now = client.state();
        if let Some(e) = now.terminal_error() {
            return Err(e);
        }
        if now.is_connected() {
            tokio::time::sleep(RETRY_PAUSE).await;
            return Ok(());
        }
        if let Ok(None) = tokio::time::timeout(STATE_POLL, states.next()).await {
            return Err(ended_error(client));
        }
    }
}

/// Creates `path` (persistent, open ACL) holding `data`, first creating missing parents as
/// empty containers (Curator's `creatingParentContainersIfNeeded`). `NodeExists` is returned
/// as is.
pub(crate) async fn create_with_container_parents(
    client: &Client,
    path: &str,
    data: &[u8],
) -> Result<()> {
    client
        .create_all(
            path,
            data,
            &CreateOptions::persistent(),
            crate::Parents::Container,
        )
        .await
        .map(drop)
}

/// Creates `path` with `data` unless it exists; `true` if this call created it.
pub(crate) async fn create_if_missing(client: &Client, path: &str, data: &[u8]) -> Result<bool> {
    match create_with_container_parents(client, path, data).await {
        Ok(()) => Ok(true),
        Err(Error {
            kind: ErrorKind::NodeExists,
            ..
        }) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Utf8 = std::str::Utf8Error;

    fn utf8() -> DecodeFn<String, Utf8> {
        Arc::new(|d: &[u8]| std::str::from_utf8(d).map(str::to_owned))
    }

    fn stat(mzxid: i64) -> Stat {
        Stat {
            mzxid,
            ..Stat::default()
        }
    }

    fn describe(event: Option<ConfigEvent<String, Utf8>>) -> String {
        match event {
            None => "-".into(),
            Some(ConfigEvent::Value(v)) => format!("{}@{}", v.value, v.stat.mzxid),
            Some(ConfigEvent::Deleted) => "deleted".into(),
            Some(ConfigEvent::DecodeFailed { stat, .. }) => format!("bad@{}", stat.mzxid),
            Some(ConfigEvent::Ended(e)) => format!("ended {e}"),
        }
    }

    #[test]
    fn node_reads_are_news_only_when_newer() {
        let mut t = NodeTracker {
            decode: utf8(),
            last: LastRead::Nothing,
        };
        let data = |s: &'static str| Bytes::from_static(s.as_bytes());
        let got = [
            describe(t.on_missing()),
            describe(t.on_missing()),
            describe(t.on_data(data("a"), stat(5))),
            describe(t.on_data(data("a"), stat(5))),
            describe(t.on_data(data("old"), stat(4))),
            describe(t.on_data(Bytes::from_static(b"\xff"), stat(7))),
            describe(t.on_data(data("b"), stat(9))),
            describe(t.on_missing()),
            // Re-created: its mzxid is new whatever it was before the delete.
            describe(t.on_data(data("c"), stat(3))),
        ];
        assert_eq!(
            got,
            ["deleted", "-", "a@5", "-", "-", "bad@7", "b@9", "deleted", "c@3"]
        );
    }

    #[test]
    fn own_writes_only_apply_on_top_of_an_older_value() {
        let mut t = NodeTracker {
            decode: utf8(),
            last: LastRead::Data { mzxid: 10 },
        };
        let d = Bytes::from_static(b"w");
        assert_eq!(describe(t.on_written(d.clone(), stat(9))), "-");
        assert_eq!(describe(t.on_written(d.clone(), stat(11))), "w@11");
        assert_eq!(describe(t.on_written(d.clone(), stat(11))), "-");
        t.last = LastRead::Missing;
        assert_eq!(
            describe(t.on_written(d, stat(20))),
            "-",
            "after a missing read the write's position is unknown; the exists watch reports it"
        );
    }

    #[test]
    fn tree_batches_go_out_by_mzxid_then_deletions() {
        let mut t = TreeTracker {
            decode: utf8(),
            known: HashMap::new(),
        };
        let d = |s: &'static str| Bytes::from_static(s.as_bytes());
        let events = t.apply(
            vec![
                ("/r/b".into(), d("b1"), stat(8)),
                ("/r/a".into(), d("a1"), stat(6)),
            ],
            vec!["/r/never-seen".into()],
        );
        let show = |events: Vec<TreeEvent<String, Utf8>>| -> Vec<String> {
            events
                .into_iter()
                .map(|e| match e {
                    TreeEvent::Changed { path, value } => {
                        format!("{path}={}@{}", value.value, value.stat.mzxid)
                    }
                    TreeEvent::Deleted { path } => format!("{path} deleted"),
                    TreeEvent::DecodeFailed { path, .. } => format!("{path} bad"),
                    TreeEvent::Snapshot(_) | TreeEvent::Ended(_) => "other".into(),
                })
                .collect()
        };
        assert_eq!(show(events), ["/r/a=a1@6", "/r/b=b1@8"]);
        let events = t.apply(
            vec![
                ("/r/b".into(), d("stale"), stat(8)),
                ("/r/c".into(), Bytes::from_static(b"\xfe"), stat(12)),
                ("/r/a".into(), d("a2"), stat(11)),
            ],
            vec!["/r/b".into()],
        );
        assert_eq!(show(events), ["/r/a=a2@11", "/r/c bad", "/r/b deleted"]);
        assert!(t.apply(vec![], vec!["/r/b".into()]).is_empty());
    }

    #[test]
    fn child_paths() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }

    #[tokio::test]
    async fn fanout_gives_late_subscribers_the_state_then_everything_after() {
        let mut fanout: Fanout<u32> = Fanout::new();
        let mut early = fanout.subscribe([1], false);
        fanout.send(&2);
        let mut late = fanout.subscribe([2], false);
        fanout.send(&3);
        fanout.close();
        let early: Vec<u32> = std::iter::from_fn(|| early.try_next()).collect();
        assert_eq!(early, [1, 2, 3]);
        assert_eq!(late.next().await, Some(2));
        assert_eq!(late.next().await, Some(3));
        assert_eq!(late.next().await, None, "closing ends the streams");
    }
}

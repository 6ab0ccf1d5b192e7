//! Watches: the events, the handles users hold, and the registry that routes server
//! notifications to them (Java's `ZKWatchManager` rules).
//!
//! Paths in the registry, and in the events it sends, are server paths (chroot included),
//! because notifications and SetWatches use them. Each handle maps them to the paths of the
//! client that made it, since clones from [`Client::rooted_at`](crate::Client::rooted_at)
//! share the session under different chroots.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use zk_proto::proto::{SetWatches, SetWatches2};
use zk_proto::{EventType, KeeperState, WatcherType};

/// A watch firing: what happened, in which session state, to which node (relative to the
/// client's chroot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened. `EventType::None` marks a connection state (see `state`) rather than a
    /// change of the node.
    pub event_type: EventType,
    /// `SyncConnected` for node events. With `EventType::None`: `Expired`, `Closed` or
    /// `AuthFailed` when the session ended and the watch will never fire; for a persistent
    /// watch also `Disconnected` when the connection broke and `SyncConnected` once the
    /// client is connected again (see [`WatchedEvent::is_resync`]).
    pub state: KeeperState,
    /// The node, as the client names it (chroot removed).
    pub path: String,
}

impl WatchedEvent {
    /// Whether this is a persistent watch's resync marker: the client is connected again
    /// after a disconnect. The server does not replay what changed while the client was away,
    /// so a cache built from the watch's events must read the watched nodes again now
    /// ([`crate::recipes::config::ConfigTree`] does; use it when completeness matters). Java's
    /// client tells its watchers the same way (an event of type `None`, state
    /// `SyncConnected`).
    pub fn is_resync(&self) -> bool {
        self.event_type == EventType::None && self.state == KeeperState::SyncConnected
    }

    /// The event as a client under `chroot` names it (the registry sends server paths).
    fn under_chroot(mut self, chroot: Option<&str>) -> Self {
        if chroot.is_some() {
            self.path = crate::session::strip_chroot(chroot, &self.path);
        }
        self
    }
}

/// A one-shot watch left by `exists`, `get_data` or `get_children`: a future that resolves
/// once, with the event that fired it or with the end of the session. Dropping it stops
/// delivery (the server-side watch, if any, fires into nothing and is not re-registered).
///
/// It is fused: polled again after it resolved (in a `select!` loop, say) it stays pending
/// and [`OneshotWatcher::is_terminated`] says so.
#[derive(Debug)]
pub struct OneshotWatcher {
    pub(crate) rx: oneshot::Receiver<WatchedEvent>,
    pub(crate) path: String,
    pub(crate) done: bool,
    /// The chroot of the client that set the watch: stripped from the event's server path.
    pub(crate) chroot: Option<Arc<str>>,
}

impl OneshotWatcher {
    pub(crate) fn new(rx: oneshot::Receiver<WatchedEvent>, path: String) -> Self {
        OneshotWatcher {
            rx,
            path,
            done: false,
            chroot: None,
        }
    }

    /// Events will name paths relative to `chroot` (the setting client's).
    pub(crate) fn under_chroot(mut self, chroot: Option<Arc<str>>) -> Self {
        self.chroot = chroot;
        self
    }

    /// Whether it has resolved already (it never resolves again).
    pub fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Future for OneshotWatcher {
    type Output = WatchedEvent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchedEvent> {
        if self.done {
            return Poll::Pending;
        }
        let path = self.path.clone();
        let chroot = self.chroot.clone();
        let ready = Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(event) => event.under_chroot(chroot.as_deref()),
            // The sender only goes away without sending when the client task is gone.
            Err(_) => WatchedEvent {
                event_type: EventType::None,
                state: KeeperState::Closed,
                path,
            },
        });
        self.done = ready.is_ready();
        ready
    }
}

/// A persistent (optionally recursive) watch added by `add_watch`: a stream of events that lasts
/// until it is dropped or the session ends. Dropping it removes the watch from the server when no
/// other watch of this client remains on the path.
///
/// Changes made while the client was disconnected are not delivered (the server cannot replay
/// them): after a `None`/`Disconnected` event the stream carries a resync marker
/// ([`WatchedEvent::is_resync`]) once the client is connected again, and a reader that keeps
/// state from the events must read the nodes again then.
pub struct PersistentWatcher {
    pub(crate) rx: mpsc::UnboundedReceiver<WatchedEvent>,
    pub(crate) on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
    /// The chroot of the client that added the watch: stripped from events' server paths.
    pub(crate) chroot: Option<Arc<str>>,
}

impl std::fmt::Debug for PersistentWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentWatcher").finish_non_exhaustive()
    }
}

impl PersistentWatcher {
    /// The next event; `None` after the session ended (the last event then has type `None`).
    pub async fn next(&mut self) -> Option<WatchedEvent> {
        let event = self.rx.recv().await?;
        Some(event.under_chroot(self.chroot.as_deref()))
    }

    /// The next event if one is already waiting.
    pub fn try_next(&mut self) -> Option<WatchedEvent> {
        let event = self.rx.try_recv().ok()?;
        Some(event.under_chroot(self.chroot.as_deref()))
    }
}

impl futures_core::Stream for PersistentWatcher {
    type Item = WatchedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        let chroot = self.chroot.clone();
        self.rx
            .poll_recv(cx)
            .map(|event| event.map(|e| e.under_chroot(chroot.as_deref())))
    }
}

impl Drop for PersistentWatcher {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

/// The kinds of one-shot watch, as the server keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OneshotKind {
    /// Left by `getData` on an existing node.
    Data,
    /// Left by `exists` (also on a missing node).
    Exist,
    /// Left by `getChildren`.
    Child,
}

type PersistentSink = (u64, mpsc::UnboundedSender<WatchedEvent>);

/// Every watch this client holds, by server path.
#[derive(Debug, Default)]
pub(crate) struct WatchRegistry {
    data: HashMap<String, Vec<oneshot::Sender<WatchedEvent>>>,
    exist: HashMap<String, Vec<oneshot::Sender<WatchedEvent>>>,
    child: HashMap<String, Vec<oneshot::Sender<WatchedEvent>>>,
    persistent: HashMap<String, Vec<PersistentSink>>,
    recursive: HashMap<String, Vec<PersistentSink>>,
}

/// Where a SetWatches batch starts a new packet: Java cuts at 128 KiB of path bytes.
const SET_WATCHES_MAX_BYTES: usize = 128 * 1024;

/// The watch lists to re-register after a reconnect, in one or more packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetWatchesPacket {
    /// No persistent watches: opcode 101.
    V1(SetWatches),
    /// Some persistent watches: opcode 105.
    V2(SetWatches2),
}

impl WatchRegistry {
    pub(crate) fn add_oneshot(
        &mut self,
        kind: OneshotKind,
        server_path: String,
        tx: oneshot::Sender<WatchedEvent>,
    ) {
        let table = match kind {
            OneshotKind::Data => &mut self.data,
            OneshotKind::Exist => &mut self.exist,
            OneshotKind::Child => &mut self.child,
        };
        table.entry(server_path).or_default().push(tx);
    }

    pub(crate) fn add_persistent(
        &mut self,
        recursive: bool,
        server_path: String,
        id: u64,
        tx: mpsc::UnboundedSender<WatchedEvent>,
    ) {
        let table = if recursive {
            &mut self.recursive
        } else {
            &mut self.persistent
        };
        table.entry(server_path).or_default().push((id, tx));
    }

    /// Forgets persistent watch `id`; returns whether the path is now free of any live watch
    /// (so the server-side watches on it can be removed without hurting another handle).
    pub(crate) fn remove_persistent(&mut self, server_path: &str, id: u64) -> bool {
        for table in [&mut self.persistent, &mut self.recursive] {
            if let Some(list) = table.get_mut(server_path) {
                list.retain(|(i, _)| *i != id);
                if list.is_empty() {
                    table.remove(server_path);
                }
            }
        }
        self.prune();
        !self.has_any_watch(server_path)
    }

    fn has_any_watch(&self, path: &str) -> bool {
        self.data.contains_key(path)
            || self.exist.contains_key(path)
            || self.child.contains_key(path)
            || self.persistent.contains_key(path)
            || self.recursive.contains_key(path)
    }

    /// Drops handles whose receivers are gone.
    fn prune(&mut self) {
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            table.retain(|_, list| {
                list.retain(|tx| !tx.is_closed());
                !list.is_empty()
            });
        }
        for table in [&mut self.persistent, &mut self.recursive] {
            table.retain(|_, list| {
                list.retain(|(_, tx)| !tx.is_closed());
                !list.is_empty()
            });
        }
    }

    /// Routes a node event: one-shot watches fire and are removed; persistent ones on the path
    /// fire; recursive ones on the path or an ancestor fire for everything but child events.
    /// The event carries the server path; each handle maps it.
    pub(crate) fn dispatch(&mut self, event_type: EventType, server_path: &str) {
        let event = WatchedEvent {
            event_type,
            state: KeeperState::SyncConnected,
            path: server_path.to_owned(),
        };
        let mut fired = Vec::new();
        match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                fired.extend(self.data.remove(server_path).unwrap_or_default());
                fired.extend(self.exist.remove(server_path).unwrap_or_default());
            }
            EventType::NodeChildrenChanged => {
                fired.extend(self.child.remove(server_path).unwrap_or_default());
            }
            EventType::NodeDeleted => {
                fired.extend(self.data.remove(server_path).unwrap_or_default());
                fired.extend(self.exist.remove(server_path).unwrap_or_default());
                fired.extend(self.child.remove(server_path).unwrap_or_default());
            }
            _ => {}
        }
        for tx in fired {
            let _ = tx.send(event.clone());
        }
        if let Some(list) = self.persistent.get(server_path) {
            for (_, tx) in list {
                let _ = tx.send(event.clone());
            }
        }
        // Recursive watches promise no child events, even when the server sends one because
        // of another watch on the same connection.
        if event_type != EventType::NodeChildrenChanged {
            for ancestor in self_and_ancestors(server_path) {
                if let Some(list) = self.recursive.get(ancestor) {
                    for (_, tx) in list {
                        let _ = tx.send(event.clone());
                    }
                }
            }
        }
    }

    /// Removes this client's watches of `kind` on a path after the server removed them, telling
    /// each handle with a `*WatchRemoved` event as Java does.
    pub(crate) fn remove(&mut self, kind: WatcherType, server_path: &str) {
        let event = |event_type| WatchedEvent {
            event_type,
            state: KeeperState::SyncConnected,
            path: server_path.to_owned(),
        };
        let (data, child, persistent) = match kind {
            WatcherType::Data => (true, false, false),
            WatcherType::Children => (false, true, false),
            WatcherType::Persistent | WatcherType::PersistentRecursive => (false, false, true),
            _ => (true, true, true),
        };
        if data {
            for table in [&mut self.data, &mut self.exist] {
                for tx in table.remove(server_path).unwrap_or_default() {
                    let _ = tx.send(event(EventType::DataWatchRemoved));
                }
            }
        }
        if child {
            for tx in self.child.remove(server_path).unwrap_or_default() {
                let _ = tx.send(event(EventType::ChildWatchRemoved));
            }
        }
        if persistent {
            let tables = match kind {
                WatcherType::Persistent => vec![&mut self.persistent],
                WatcherType::PersistentRecursive => vec![&mut self.recursive],
                _ => vec![&mut self.persistent, &mut self.recursive],
            };
            for table in tables {
                // Dropping the sender after the event ends the stream.
                for (_, tx) in table.remove(server_path).unwrap_or_default() {
                    let _ = tx.send(event(EventType::PersistentWatchRemoved));
                }
            }
        }
    }

    /// Sends every persistent watch a connection-state event (type `None`); the watches stay.
    pub(crate) fn tell_persistent(&mut self, state: KeeperState) {
        for table in [&mut self.persistent, &mut self.recursive] {
            for (path, list) in table.iter_mut() {
                list.retain(|(_, tx)| {
                    tx.send(WatchedEvent {
                        event_type: EventType::None,
                        state,
                        path: path.clone(),
                    })
                    .is_ok()
                });
            }
        }
    }

    /// Ends every watch with a session-end event (`Expired`, `Closed`, `AuthFailed`).
    pub(crate) fn terminate(&mut self, state: KeeperState) {
        let end = |path: &str| WatchedEvent {
            event_type: EventType::None,
            state,
            path: path.to_owned(),
        };
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            for (path, list) in table.drain() {
                for tx in list {
                    let _ = tx.send(end(&path));
                }
            }
        }
        for table in [&mut self.persistent, &mut self.recursive] {
            for (path, list) in table.drain() {
                for (_, tx) in list {
                    let _ = tx.send(end(&path));
                }
            }
        }
    }

    /// The SetWatches packets that re-register every live watch, as Java batches them.
    pub(crate) fn set_watches_packets(&mut self, relative_zxid: i64) -> Vec<SetWatchesPacket> {
        self.prune();
        let lists = [
            sorted(&self.data),
            sorted(&self.exist),
            sorted(&self.child),
            sorted(&self.persistent),
            sorted(&self.recursive),
        ];
        let use_v2 = !lists[3].is_empty() || !lists[4].is_empty();
        let mut packets = Vec::new();
        let mut batch: [Vec<String>; 5] = Default::default();
        let mut batch_bytes = 0;
        for (which, list) in lists.into_iter().enumerate() {
            for path in list {
                batch_bytes += path.len();
                batch[which].push(path);
                if batch_bytes >= SET_WATCHES_MAX_BYTES {
                    packets.push(make_packet(
                        relative_zxid,
                        use_v2,
                        std::mem::take(&mut batch),
                    ));
                    batch_bytes = 0;
                }
            }
        }
        if batch.iter().any(|l| !l.is_empty()) {
            packets.push(make_packet(relative_zxid, use_v2, batch));
        }
        packets
    }

    /// Paths with any live watch (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn watched_paths(&mut self) -> std::collections::HashSet<String> {
        self.prune();
        [&self.data, &self.exist, &self.child]
            .into_iter()
            .flat_map(|t| t.keys().cloned())
            .chain(
                [&self.persistent, &self.recursive]
                    .into_iter()
                    .flat_map(|t| t.keys().cloned()),
            )
            .collect()
    }
}

fn sorted<V>(table: &HashMap<String, V>) -> Vec<String> {
    let mut paths: Vec<String> = table.keys().cloned().collect();
    paths.sort();
    paths
}

fn make_packet(relative_zxid: i64, v2: bool, lists: [Vec<String>; 5]) -> SetWatchesPacket {
    let [data, exist, child, persistent, recursive] = lists;
    if v2 {
        SetWatchesPacket::V2(SetWatches2 {
            relative_zxid,
            data_watches: data,
            exist_watches: exist,
            child_watches: child,
            persistent_watches: persistent,
            persistent_recursive_watches: recursive,
        })
    } else {
        SetWatchesPacket::V1(SetWatches {
            relative_zxid,
            data_watches: data,
            exist_watches: exist,
            child_watches: child,
        })
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = zk_proto::path::parent(current);
        Some(current)
    })
}

#[cfg(test)]
mod tests {

    #[tokio::test]
    async fn a_oneshot_watcher_polled_after_it_fired_stays_pending() {
        use std::future::Future as _;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut watcher = OneshotWatcher::new(rx, "/a".into());
        tx.send(WatchedEvent {
            event_type: EventType::NodeDeleted,
            state: KeeperState::SyncConnected,
            path: "/a".into(),
        })
        .unwrap();
        assert_eq!((&mut watcher).await.event_type, EventType::NodeDeleted);
        assert!(watcher.is_terminated());
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        for _ in 0..3 {
            assert!(std::pin::Pin::new(&mut watcher).poll(&mut cx).is_pending());
        }
    }
    use super::*;

    fn oneshot_watch(
        reg: &mut WatchRegistry,
        kind: OneshotKind,
        path: &str,
    ) -> oneshot::Receiver<WatchedEvent> {
        let (tx, rx) = oneshot::channel();
        reg.add_oneshot(kind, path.into(), tx);
        rx
    }

    #[test]
    fn oneshot_rules_follow_java() {
        let mut reg = WatchRegistry::default();
        let mut data = oneshot_watch(&mut reg, OneshotKind::Data, "/a");
        let mut exist = oneshot_watch(&mut reg, OneshotKind::Exist, "/a");
        let mut child = oneshot_watch(&mut reg, OneshotKind::Child, "/a");
        reg.dispatch(EventType::NodeDataChanged, "/a");
        assert_eq!(
            data.try_recv().unwrap().event_type,
            EventType::NodeDataChanged
        );
        assert_eq!(
            exist.try_recv().unwrap().event_type,
            EventType::NodeDataChanged
        );
        assert!(
            child.try_recv().is_err(),
            "child watch untouched by a data change"
        );
        reg.dispatch(EventType::NodeDeleted, "/a");
        assert_eq!(child.try_recv().unwrap().event_type, EventType::NodeDeleted);
        assert!(
            reg.watched_paths().is_empty(),
            "one-shot watches are gone once fired"
        );
    }

    #[test]
    fn recursive_watches_see_descendants_but_no_child_events() {
        let mut reg = WatchRegistry::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        reg.add_persistent(true, "/app".into(), 1, tx);
        let (ptx, mut prx) = mpsc::unbounded_channel();
        reg.add_persistent(false, "/app".into(), 2, ptx);
        reg.dispatch(EventType::NodeCreated, "/app/x/y");
        reg.dispatch(EventType::NodeChildrenChanged, "/app");
        reg.dispatch(EventType::NodeDataChanged, "/app");
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.under_chroot(Some("/app")))
            .map(|e| (e.event_type, e.path))
            .collect();
        assert_eq!(
            got,
            vec![
                (EventType::NodeCreated, "/x/y".into()),
                (EventType::NodeDataChanged, "/".into())
            ]
        );
        let got: Vec<_> = std::iter::from_fn(|| prx.try_recv().ok())
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            got,
            vec![EventType::NodeChildrenChanged, EventType::NodeDataChanged]
        );
        assert!(
            !reg.remove_persistent("/app", 1),
            "the plain persistent watch remains"
        );
        assert!(reg.remove_persistent("/app", 2));
    }

    #[test]
    fn set_watches_skips_dropped_handles_and_picks_the_version() {
        let mut reg = WatchRegistry::default();
        let _keep = oneshot_watch(&mut reg, OneshotKind::Data, "/d");
        drop(oneshot_watch(&mut reg, OneshotKind::Child, "/gone"));
        let _e = oneshot_watch(&mut reg, OneshotKind::Exist, "/e");
        let packets = reg.set_watches_packets(0x19);
        assert_eq!(
            packets,
            vec![SetWatchesPacket::V1(SetWatches {
                relative_zxid: 0x19,
                data_watches: vec!["/d".into()],
                exist_watches: vec!["/e".into()],
                child_watches: vec![],
            })]
        );
        let (tx, _rx) = mpsc::unbounded_channel();
        reg.add_persistent(false, "/p".into(), 9, tx);
        assert!(matches!(
            reg.set_watches_packets(1)[..],
            [SetWatchesPacket::V2(_)]
        ));
    }

    #[test]
    fn set_watches_batches_at_128k() {
        let mut reg = WatchRegistry::default();
        let mut keep = Vec::new();
        for i in 0..3000 {
            keep.push(oneshot_watch(
                &mut reg,
                OneshotKind::Data,
                &format!("/{i:0>99}"),
            ));
        }
        let packets = reg.set_watches_packets(0);
        assert_eq!(packets.len(), 3, "300,000 path bytes in 128 KiB batches");
        let total: usize = packets
            .iter()
            .map(|p| match p {
                SetWatchesPacket::V1(s) => s.data_watches.len(),
                SetWatchesPacket::V2(s) => s.data_watches.len(),
            })
            .sum();
        assert_eq!(total, 3000);
    }

    #[test]
    fn removal_tells_each_handle() {
        let mut reg = WatchRegistry::default();
        let mut data = oneshot_watch(&mut reg, OneshotKind::Data, "/r");
        let mut child = oneshot_watch(&mut reg, OneshotKind::Child, "/r");
        let (tx, mut rx) = mpsc::unbounded_channel();
        reg.add_persistent(false, "/r".into(), 1, tx);
        reg.remove(WatcherType::Data, "/r");
        assert_eq!(
            data.try_recv().unwrap().event_type,
            EventType::DataWatchRemoved
        );
        assert!(child.try_recv().is_err());
        reg.remove(WatcherType::Any, "/r");
        assert_eq!(
            child.try_recv().unwrap().event_type,
            EventType::ChildWatchRemoved
        );
        assert_eq!(
            rx.try_recv().unwrap().event_type,
            EventType::PersistentWatchRemoved
        );
        assert!(rx.try_recv().is_err(), "the stream ends");
        assert!(reg.watched_paths().is_empty());
    }

    #[test]
    fn handles_name_paths_under_their_own_chroot() {
        let mut reg = WatchRegistry::default();
        // Two clients of one session, rooted at /app and /app/t, watch the node /app/t/x.
        let (tx, rx) = oneshot::channel();
        reg.add_oneshot(OneshotKind::Data, "/app/t/x".into(), tx);
        let mut app = OneshotWatcher::new(rx, "/t/x".into()).under_chroot(Some("/app".into()));
        let (tx, rx) = oneshot::channel();
        reg.add_oneshot(OneshotKind::Data, "/app/t/x".into(), tx);
        let mut tenant = OneshotWatcher::new(rx, "/x".into()).under_chroot(Some("/app/t".into()));
        let (ptx, prx) = mpsc::unbounded_channel();
        reg.add_persistent(true, "/app/t".into(), 1, ptx);
        let mut recursive = PersistentWatcher {
            rx: prx,
            on_drop: None,
            chroot: Some("/app/t".into()),
        };
        reg.dispatch(EventType::NodeDataChanged, "/app/t/x");
        reg.dispatch(EventType::NodeDataChanged, "/app/t");
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(e) = Pin::new(&mut app).poll(&mut cx) else {
            panic!("fired")
        };
        assert_eq!(e.path, "/t/x");
        let Poll::Ready(e) = Pin::new(&mut tenant).poll(&mut cx) else {
            panic!("fired")
        };
        assert_eq!(e.path, "/x");
        let paths: Vec<_> = std::iter::from_fn(|| recursive.try_next())
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/x", "/"]);
        // Connection-state events name the watched path the same way.
        reg.tell_persistent(KeeperState::Disconnected);
        assert_eq!(recursive.try_next().unwrap().path, "/");
    }

    #[test]
    fn terminate_ends_every_watch() {
        let mut reg = WatchRegistry::default();
        let mut data = oneshot_watch(&mut reg, OneshotKind::Data, "/c/a");
        let (tx, mut rx) = mpsc::unbounded_channel();
        reg.add_persistent(true, "/c".into(), 1, tx);
        reg.terminate(KeeperState::Expired);
        let e = data.try_recv().unwrap().under_chroot(Some("/c"));
        assert_eq!(
            (e.event_type, e.state, e.path.as_str()),
            (EventType::None, KeeperState::Expired, "/a")
        );
        assert_eq!(rx.try_recv().unwrap().state, KeeperState::Expired);
        assert!(rx.try_recv().is_err());
    }
}

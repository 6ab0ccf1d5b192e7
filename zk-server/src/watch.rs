//! The server's watch tables, as Java 3.8's `DataTree` keeps them in two `WatchManager`s: one
//! for data watches (getData, exists) and one for child watches (getChildren). Pure data: the
//! caller registers watches while serving reads, feeds in the [`TreeEvent`]s that
//! [`crate::tree::DataTree::apply`] reports, and sends the notifications this returns.
//!
//! Java 3.8 behaviour reproduced on purpose (checked against a real 3.8.0 server):
//!
//! * The mode of a watch is kept per (connection, path) in each table and a later add
//!   **overwrites** it: a standard child watch on `/p` followed by a recursive `addWatch` on `/p`
//!   is recursive only, and a `getData(watch)` after a persistent `addWatch` on the same path
//!   turns the data-table entry back into a one-shot watch.
//! * A connection whose watches in a table all fired or were removed keeps an empty entry there
//!   until the connection goes, so `wchs` counts it among the "connections watching" and `wchc`
//!   lists it without paths.
//! * `checkWatches` ([`WatchManager::contains`]) answers yes when **any** connection has a watch
//!   of that table on the path (Java's `WatchManager.containsWatcher` tests the path's watcher
//!   set for presence, not for this connection). `removeWatches` is per connection.
//! * `wchs`, `wchc` and `wchp` report the data table only.
//!
//! Not done here: the CVE-2024-23944 ACL filter (3.8.4+ and the Debian 3.8.0 build). Java runs
//! it when it *delivers* an event, after the watch was matched and (if one-shot) removed, so the
//! caller drops the events returned by [`WatchManager::trigger`] whose connection lacks READ on
//! the event path's node (for `NodeDeleted`, the ACL the node had). The immediate events of
//! [`WatchManager::set_watches`] are not filtered in Java.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use zk_proto::path::parent;
use zk_proto::proto::{SetWatches2, WatcherEvent};
use zk_proto::{EventType, KeeperState, WatcherType};

use crate::tree::TreeEvent;

/// A watcher: one client connection.
pub type ConnId = u64;

/// How a watch behaves when it fires (Java's `WatcherMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// One-shot, exact path (getData, exists, getChildren, SetWatches).
    Standard,
    /// Stays, exact path (`addWatch` mode 0).
    Persistent,
    /// Stays, the path and every descendant, never `NodeChildrenChanged` (`addWatch` mode 1).
    PersistentRecursive,
}

impl WatchMode {
    fn is_persistent(self) -> bool {
        self != WatchMode::Standard
    }

    fn is_recursive(self) -> bool {
        self == WatchMode::PersistentRecursive
    }
}

/// The `wchs` numbers (Java's `WatchesSummary`), for the data table as Java reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    /// Connections with an entry in the table, including ones whose watches all fired.
    pub connections: usize,
    /// Paths with at least one watcher.
    pub paths: usize,
    /// (connection, path) pairs.
    pub total: usize,
}

/// One of the two tables (Java's `WatchManager`, with its `WatcherModeManager`).
#[derive(Debug, Clone, Default)]
struct Table {
    /// `watchTable`: path -> watchers. Never holds an empty set.
    by_path: HashMap<String, HashSet<ConnId>>,
    /// `watch2Paths`: watcher -> paths. A set may be empty, as in Java.
    by_conn: HashMap<ConnId, HashSet<String>>,
    /// Non-standard modes per (watcher, path); absent means `Standard`.
    modes: HashMap<ConnId, HashMap<String, WatchMode>>,
    /// How many entries of `modes` are recursive (Java's `recursiveQty`).
    recursive: usize,
}

impl Table {
    fn mode(&self, conn: ConnId, path: &str) -> WatchMode {
        self.modes
            .get(&conn)
            .and_then(|m| m.get(path))
            .copied()
            .unwrap_or(WatchMode::Standard)
    }

    /// `WatcherModeManager.setWatcherMode`: standard removes the entry.
    fn set_mode(&mut self, conn: ConnId, path: &str, mode: WatchMode) {
        if mode == WatchMode::Standard {
            self.remove_mode(conn, path);
            return;
        }
        let old = self
            .modes
            .entry(conn)
            .or_default()
            .insert(path.to_owned(), mode)
            .unwrap_or(WatchMode::Standard);
        self.adjust_recursive(old, mode);
    }

    fn remove_mode(&mut self, conn: ConnId, path: &str) {
        let Some(modes) = self.modes.get_mut(&conn) else {
            return;
        };
        let old = modes.remove(path).unwrap_or(WatchMode::Standard);
        if modes.is_empty() {
            self.modes.remove(&conn);
        }
        self.adjust_recursive(old, WatchMode::Standard);
    }

    fn adjust_recursive(&mut self, old: WatchMode, new: WatchMode) {
        match (old.is_recursive(), new.is_recursive()) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
    }

    /// `WatchManager.addWatch(path, watcher, mode)`: adds and overwrites the mode.
    fn add(&mut self, path: &str, conn: ConnId, mode: WatchMode) {
        self.by_path
            .entry(path.to_owned())
            .or_default()
            .insert(conn);
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_owned());
        self.set_mode(conn, path, mode);
    }

    /// `WatchManager.removeWatcher(watcher)`: the connection closed.
    fn remove_conn(&mut self, conn: ConnId) {
        let Some(paths) = self.by_conn.remove(&conn) else {
            return;
        };
        for path in paths {
            if let Some(set) = self.by_path.get_mut(&path) {
                set.remove(&conn);
                if set.is_empty() {
                    self.by_path.remove(&path);
                }
            }
            self.remove_mode(conn, &path);
        }
    }

    /// `WatchManager.removeWatcher(path, watcher)`: any mode; the (maybe empty) entry of the
    /// connection stays.
    fn remove(&mut self, path: &str, conn: ConnId) -> bool {
        if !self
            .by_conn
            .get_mut(&conn)
            .is_some_and(|paths| paths.remove(path))
        {
            return false;
        }
        let Some(set) = self.by_path.get_mut(path) else {
            return false;
        };
        if !set.remove(&conn) {
            return false;
        }
        if set.is_empty() {
            self.by_path.remove(path);
        }
        self.remove_mode(conn, path);
        true
    }

    /// `WatchManager.containsWatcher(path, watcher)` of 3.8: true when the path has any watcher
    /// at all (whoever it is), or when this watcher's mode on the path is recursive.
    fn contains(&self, path: &str, conn: ConnId) -> bool {
        !path.is_empty()
            && (self.by_path.contains_key(path) || self.mode(conn, path).is_recursive())
    }

    /// `WatchManager.triggerWatch(path, type)`: the watchers that match, every one of them
    /// (suppression is the caller's). One-shot watches that match are removed.
    fn trigger(&mut self, path: &str, event_type: EventType) -> BTreeSet<ConnId> {
        let mut fired = BTreeSet::new();
        if path.is_empty() {
            return fired;
        }
        // Without recursive watches in this table, ancestors cannot match: Java walks the path
        // only (`PathParentIterator.forPathOnly`).
        let walk_ancestors = self.recursive > 0;
        let mut local = Some(path);
        let mut at_parent = false;
        while let Some(local_path) = local {
            if let Some(set) = self.by_path.get_mut(local_path) {
                let mut one_shot = Vec::new();
                for &conn in set.iter() {
                    let mode = self
                        .modes
                        .get(&conn)
                        .and_then(|m| m.get(local_path))
                        .copied()
                        .unwrap_or(WatchMode::Standard);
                    if mode.is_recursive() {
                        if event_type != EventType::NodeChildrenChanged {
                            fired.insert(conn);
                        }
                    } else if !at_parent {
                        fired.insert(conn);
                        if !mode.is_persistent() {
                            one_shot.push(conn);
                        }
                    }
                }
                for conn in one_shot {
                    set.remove(&conn);
                    if let Some(paths) = self.by_conn.get_mut(&conn) {
                        paths.remove(local_path);
                    }
                }
                if set.is_empty() {
                    self.by_path.remove(local_path);
                }
            }
            if !walk_ancestors {
                break;
            }
            local = parent(local_path);
            at_parent = true;
        }
        fired
    }

    /// `WatchManager.size()`: the sum of the path sets.
    fn size(&self) -> usize {
        self.by_path.values().map(HashSet::len).sum()
    }

    /// `WatchManager.getWatchesSummary()`.
    fn summary(&self) -> WatchSummary {
        WatchSummary {
            connections: self.by_conn.len(),
            paths: self.by_path.len(),
            total: self.by_conn.values().map(HashSet::len).sum(),
        }
    }

    fn by_connection(&self) -> BTreeMap<ConnId, BTreeSet<String>> {
        self.by_conn
            .iter()
            .map(|(&conn, paths)| (conn, paths.iter().cloned().collect()))
            .collect()
    }

    fn by_path(&self) -> BTreeMap<String, BTreeSet<ConnId>> {
        self.by_path
            .iter()
            .map(|(path, conns)| (path.clone(), conns.iter().copied().collect()))
            .collect()
    }

    fn watch_mode(&self, conn: ConnId, path: &str) -> Option<WatchMode> {
        self.by_path
            .get(path)
            .is_some_and(|set| set.contains(&conn))
            .then(|| self.mode(conn, path))
    }
}

/// A notification as the server sends it.
fn event(event_type: EventType, path: &str) -> WatcherEvent {
    WatcherEvent {
        r#type: event_type,
        state: KeeperState::SyncConnected,
        path: path.to_owned(),
    }
}

/// Every watch of every connection: Java's `DataTree.dataWatches` and `childWatches`.
#[derive(Debug, Clone, Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    /// No watches.
    pub fn new() -> Self {
        Self::default()
    }

    /// A one-shot data watch (getData or exists with `watch`; exists registers it also for a
    /// missing node). Overwrites a persistent mode this connection had on the path in the data
    /// table.
    pub fn add_data_watch(&mut self, path: &str, conn: ConnId) {
        self.data.add(path, conn, WatchMode::Standard);
    }

    /// A one-shot child watch (getChildren / getChildren2 with `watch`). Overwrites a persistent
    /// mode this connection had on the path in the child table.
    pub fn add_child_watch(&mut self, path: &str, conn: ConnId) {
        self.child.add(path, conn, WatchMode::Standard);
    }

    /// `addWatch` (opcode 106): a persistent or persistent-recursive watch, put in both tables
    /// (Java's `DataTree.addWatch`). The node need not exist.
    pub fn add_persistent_watch(&mut self, path: &str, conn: ConnId, recursive: bool) {
        let mode = if recursive {
            WatchMode::PersistentRecursive
        } else {
            WatchMode::Persistent
        };
        self.data.add(path, conn, mode);
        self.child.add(path, conn, mode);
    }

    /// Fires the watches one [`TreeEvent`] matches, as Java's `DataTree` calls `triggerWatch`:
    /// `NodeCreated` and `NodeDataChanged` on the data table, `NodeChildrenChanged` on the child
    /// table, `NodeDeleted` on the data table and then on the child table without the
    /// connections the data table already notified. One event per connection, sorted by
    /// connection. Feed the events of a txn in their order.
    pub fn trigger(&mut self, tree_event: &TreeEvent) -> Vec<(ConnId, WatcherEvent)> {
        let path = tree_event.path.as_str();
        let event_type = tree_event.event_type;
        let conns = match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.trigger(path, event_type)
            }
            EventType::NodeChildrenChanged => self.child.trigger(path, event_type),
            EventType::NodeDeleted => {
                let mut conns = self.data.trigger(path, event_type);
                // The child table still removes one-shot watches of suppressed connections.
                conns.extend(self.child.trigger(path, event_type));
                conns
            }
            _ => BTreeSet::new(),
        };
        conns
            .into_iter()
            .map(|conn| (conn, event(event_type, path)))
            .collect()
    }

    /// SetWatches (101) / SetWatches2 (105) after a reconnect (Java's `DataTree.setWatches`).
    /// `lookup(path)` gives `(mzxid, pzxid)` of an existing node. Returns the events to send now,
    /// in Java's order (data list, exist list, child list, each in request order); a path that
    /// gets an event now is not registered. For SetWatches (101) pass empty persistent lists.
    ///
    /// * data: missing -> `NodeDeleted`; `mzxid > relative_zxid` -> `NodeDataChanged`; else a
    ///   data watch.
    /// * exist: exists -> `NodeCreated`; else a data watch.
    /// * child: missing -> `NodeDeleted`; `pzxid > relative_zxid` -> `NodeChildrenChanged`; else
    ///   a child watch.
    /// * persistent, then persistent recursive: registered in both tables, no event.
    pub fn set_watches(
        &mut self,
        conn: ConnId,
        request: &SetWatches2,
        lookup: impl Fn(&str) -> Option<(i64, i64)>,
    ) -> Vec<WatcherEvent> {
        let relative_zxid = request.relative_zxid;
        let mut events = Vec::new();
        for path in &request.data_watches {
            match lookup(path) {
                None => events.push(event(EventType::NodeDeleted, path)),
                Some((mzxid, _)) if mzxid > relative_zxid => {
                    events.push(event(EventType::NodeDataChanged, path))
                }
                Some(_) => self.add_data_watch(path, conn),
            }
        }
        for path in &request.exist_watches {
            match lookup(path) {
                Some(_) => events.push(event(EventType::NodeCreated, path)),
                None => self.add_data_watch(path, conn),
            }
        }
        for path in &request.child_watches {
            match lookup(path) {
                None => events.push(event(EventType::NodeDeleted, path)),
                Some((_, pzxid)) if pzxid > relative_zxid => {
                    events.push(event(EventType::NodeChildrenChanged, path))
                }
                Some(_) => self.add_child_watch(path, conn),
            }
        }
        // Java adds these to the child table first, then the data table; the order is not
        // observable.
        for path in &request.persistent_watches {
            self.add_persistent_watch(path, conn, false);
        }
        for path in &request.persistent_recursive_watches {
            self.add_persistent_watch(path, conn, true);
        }
        events
    }

    /// checkWatches (17), as Java 3.8's `DataTree.containsWatcher`: `Children` asks the child
    /// table, `Data` the data table, `Any` either. Beware the 3.8 quirk: a table answers yes
    /// when *any* connection watches the path there (or this one has a recursive watch on it).
    /// 3.8 has no `Persistent` (4) / `PersistentRecursive` (5) types: its `WatcherType.fromInt`
    /// throws and the server replies MARSHALLINGERROR (-5, checked on 3.8.0); this returns false
    /// for them and for unknown values, so the caller must reject them first.
    pub fn contains(&self, conn: ConnId, path: &str, kind: WatcherType) -> bool {
        match kind {
            WatcherType::Children => self.child.contains(path, conn),
            WatcherType::Data => self.data.contains(path, conn),
            WatcherType::Any => self.child.contains(path, conn) || self.data.contains(path, conn),
            _ => false,
        }
    }

    /// removeWatches (18), as Java 3.8's `DataTree.removeWatch`: removes this connection's watch
    /// on the path from the child table (`Children`), the data table (`Data`) or both (`Any`),
    /// whatever its mode; a persistent watch loses only the table named. True when anything
    /// was removed (else the reply is NOWATCHER). Types 4, 5 and unknown ones: false, see
    /// [`WatchManager::contains`].
    pub fn remove(&mut self, conn: ConnId, path: &str, kind: WatcherType) -> bool {
        match kind {
            WatcherType::Children => self.child.remove(path, conn),
            WatcherType::Data => self.data.remove(path, conn),
            WatcherType::Any => {
                let child = self.child.remove(path, conn);
                let data = self.data.remove(path, conn);
                child || data
            }
            _ => false,
        }
    }

    /// Drops every watch of a closed connection (Java's `DataTree.removeCnxn`).
    pub fn remove_connection(&mut self, conn: ConnId) {
        self.data.remove_conn(conn);
        self.child.remove_conn(conn);
    }

    /// `wchs`: `"{connections} connections watching {paths} paths\nTotal watches:{total}\n"`.
    /// Java reports the data table only (`DataTree.getWatchesSummary`).
    pub fn summary(&self) -> WatchSummary {
        self.data.summary()
    }

    /// `wchc`: connection -> paths, data table only. Connections whose watches all fired are
    /// listed with no paths, as Java does.
    pub fn by_connection(&self) -> BTreeMap<ConnId, BTreeSet<String>> {
        self.data.by_connection()
    }

    /// `wchp`: path -> connections, data table only.
    pub fn by_path(&self) -> BTreeMap<String, BTreeSet<ConnId>> {
        self.data.by_path()
    }

    /// The watches set on exactly `path`: (connection, table, mode), sorted. Recursive
    /// watches on ancestors, which also fire for `path`, are listed at their own paths.
    pub fn watchers_of(&self, path: &str) -> Vec<(ConnId, WatcherType, WatchMode)> {
        let mut out = Vec::new();
        for (table, kind) in [
            (&self.data, WatcherType::Data),
            (&self.child, WatcherType::Children),
        ] {
            if let Some(conns) = table.by_path.get(path) {
                out.extend(conns.iter().map(|&c| (c, kind, table.mode(c, path))));
            }
        }
        out.sort_by_key(|&(c, kind, _)| (c, kind.code()));
        out
    }

    /// mntr `zk_watch_count` (Java's `DataTree.getWatchCount`): watches in both tables, so a
    /// persistent watch counts twice.
    pub fn watch_count(&self) -> usize {
        self.data.size() + self.child.size()
    }

    /// The mode of this connection's watch on `path` in the data table, if it has one.
    pub fn data_watch_mode(&self, conn: ConnId, path: &str) -> Option<WatchMode> {
        self.data.watch_mode(conn, path)
    }

    /// The mode of this connection's watch on `path` in the child table, if it has one.
    pub fn child_watch_mode(&self, conn: ConnId, path: &str) -> Option<WatchMode> {
        self.child.watch_mode(conn, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: ConnId = 1;
    const B: ConnId = 2;

    fn tev(event_type: EventType, path: &str) -> TreeEvent {
        TreeEvent {
            event_type,
            path: path.to_owned(),
        }
    }

    fn fire(wm: &mut WatchManager, event_type: EventType, path: &str) -> Vec<(ConnId, EventType)> {
        wm.trigger(&tev(event_type, path))
            .into_iter()
            .map(|(conn, e)| {
                assert_eq!(e.state, KeeperState::SyncConnected);
                assert_eq!(e.path, path);
                assert_eq!(e.r#type, event_type);
                (conn, e.r#type)
            })
            .collect()
    }

    /// The events `DataTree::apply` reports for a create, delete or setData of `path`.
    fn create(wm: &mut WatchManager, path: &str) -> Vec<(ConnId, WatcherEvent)> {
        let parent = parent(path).unwrap();
        let mut out = wm.trigger(&tev(EventType::NodeCreated, path));
        out.extend(wm.trigger(&tev(EventType::NodeChildrenChanged, parent)));
        out
    }

    fn delete(wm: &mut WatchManager, path: &str) -> Vec<(ConnId, WatcherEvent)> {
        let parent = parent(path).unwrap();
        let mut out = wm.trigger(&tev(EventType::NodeDeleted, path));
        out.extend(wm.trigger(&tev(EventType::NodeChildrenChanged, parent)));
        out
    }

    fn set_data(wm: &mut WatchManager, path: &str) -> Vec<(ConnId, WatcherEvent)> {
        wm.trigger(&tev(EventType::NodeDataChanged, path))
    }

    fn pairs(events: Vec<(ConnId, WatcherEvent)>) -> Vec<(ConnId, EventType, String)> {
        events
            .into_iter()
            .map(|(c, e)| (c, e.r#type, e.path))
            .collect()
    }

    fn p(conn: ConnId, t: EventType, path: &str) -> (ConnId, EventType, String) {
        (conn, t, path.to_owned())
    }

    #[test]
    fn standard_data_watch_fires_once() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/a", A);
        wm.add_data_watch("/a", A); // the same watch twice is one watch
        assert_eq!(
            fire(&mut wm, EventType::NodeDataChanged, "/a"),
            vec![(A, EventType::NodeDataChanged)]
        );
        assert!(fire(&mut wm, EventType::NodeDataChanged, "/a").is_empty());
        assert_eq!(wm.data_watch_mode(A, "/a"), None);
    }

    #[test]
    fn tables_are_separate() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/a", A);
        wm.add_child_watch("/a", B);
        // NodeChildrenChanged goes to child watches only, data events to data watches only.
        assert_eq!(
            fire(&mut wm, EventType::NodeChildrenChanged, "/a"),
            vec![(B, EventType::NodeChildrenChanged)]
        );
        wm.add_child_watch("/a", B);
        assert_eq!(
            fire(&mut wm, EventType::NodeDataChanged, "/a"),
            vec![(A, EventType::NodeDataChanged)]
        );
        assert_eq!(wm.child_watch_mode(B, "/a"), Some(WatchMode::Standard));
        wm.add_data_watch("/a", A);
        assert_eq!(
            fire(&mut wm, EventType::NodeCreated, "/a"),
            vec![(A, EventType::NodeCreated)]
        );
        assert_eq!(wm.child_watch_mode(B, "/a"), Some(WatchMode::Standard));
    }

    #[test]
    fn exists_watch_on_missing_node_fires_node_created() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/new", A); // exists("/new", watch) on a missing node
        wm.add_child_watch("/", B);
        assert_eq!(
            pairs(create(&mut wm, "/new")),
            vec![
                p(A, EventType::NodeCreated, "/new"),
                p(B, EventType::NodeChildrenChanged, "/"),
            ]
        );
    }

    #[test]
    fn one_event_per_connection_on_delete() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/a/b", A);
        wm.add_child_watch("/a/b", A);
        wm.add_child_watch("/a/b", B);
        wm.add_child_watch("/a", B);
        assert_eq!(
            pairs(delete(&mut wm, "/a/b")),
            vec![
                p(A, EventType::NodeDeleted, "/a/b"),
                p(B, EventType::NodeDeleted, "/a/b"),
                p(B, EventType::NodeChildrenChanged, "/a"),
            ]
        );
        // The suppressed child watch of A was consumed too.
        assert_eq!(wm.child_watch_mode(A, "/a/b"), None);
        assert_eq!(wm.watch_count(), 0);
    }

    #[test]
    fn persistent_watch_stays_and_matches_exact_path_only() {
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/a", A, false);
        assert_eq!(wm.data_watch_mode(A, "/a"), Some(WatchMode::Persistent));
        assert_eq!(wm.child_watch_mode(A, "/a"), Some(WatchMode::Persistent));
        assert_eq!(wm.watch_count(), 2);
        for _ in 0..2 {
            assert_eq!(
                pairs(set_data(&mut wm, "/a")),
                vec![p(A, EventType::NodeDataChanged, "/a")]
            );
        }
        // /a/b's data: not /a's business. Its creation is a child change of /a.
        assert!(set_data(&mut wm, "/a/b").is_empty());
        assert_eq!(
            pairs(create(&mut wm, "/a/b")),
            vec![p(A, EventType::NodeChildrenChanged, "/a")]
        );
        assert_eq!(
            pairs(delete(&mut wm, "/a/b")),
            vec![p(A, EventType::NodeChildrenChanged, "/a")]
        );
        assert_eq!(
            pairs(create(&mut wm, "/a")),
            vec![p(A, EventType::NodeCreated, "/a")]
        );
        // Deleted: one event although both tables match.
        assert_eq!(
            pairs(delete(&mut wm, "/a")),
            vec![p(A, EventType::NodeDeleted, "/a")]
        );
        assert_eq!(wm.data_watch_mode(A, "/a"), Some(WatchMode::Persistent));
        assert_eq!(wm.child_watch_mode(A, "/a"), Some(WatchMode::Persistent));
    }

    #[test]
    fn recursive_watch_matches_descendants_never_children_changed() {
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/r", A, true);
        assert_eq!(
            pairs(create(&mut wm, "/r/x")),
            vec![p(A, EventType::NodeCreated, "/r/x")]
        );
        assert_eq!(
            pairs(create(&mut wm, "/r/x/y")),
            vec![p(A, EventType::NodeCreated, "/r/x/y")]
        );
        assert_eq!(
            pairs(set_data(&mut wm, "/r/x/y")),
            vec![p(A, EventType::NodeDataChanged, "/r/x/y")]
        );
        assert_eq!(
            pairs(delete(&mut wm, "/r/x/y")),
            vec![p(A, EventType::NodeDeleted, "/r/x/y")]
        );
        assert_eq!(
            pairs(set_data(&mut wm, "/r")),
            vec![p(A, EventType::NodeDataChanged, "/r")]
        );
        assert!(fire(&mut wm, EventType::NodeChildrenChanged, "/r").is_empty());
        assert!(fire(&mut wm, EventType::NodeChildrenChanged, "/r/x").is_empty());
        // Not a prefix match: /rx is not under /r.
        assert!(set_data(&mut wm, "/rx").is_empty());
        assert!(pairs(create(&mut wm, "/other")).is_empty());
        assert_eq!(wm.watch_count(), 2);
    }

    #[test]
    fn recursive_on_root_sees_everything() {
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/", A, true);
        assert_eq!(
            pairs(create(&mut wm, "/a")),
            vec![p(A, EventType::NodeCreated, "/a")]
        );
        assert_eq!(
            pairs(set_data(&mut wm, "/")),
            vec![p(A, EventType::NodeDataChanged, "/")]
        );
    }

    #[test]
    fn standard_watch_on_ancestor_does_not_fire_with_recursive_present() {
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/z", B, true); // forces the ancestor walk
        wm.add_data_watch("/a", A);
        assert!(set_data(&mut wm, "/a/b").is_empty());
        assert_eq!(wm.data_watch_mode(A, "/a"), Some(WatchMode::Standard));
    }

    #[test]
    fn recursive_and_standard_on_same_connection_give_one_event() {
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/a", A, true);
        wm.add_data_watch("/a/b", A);
        assert_eq!(
            pairs(set_data(&mut wm, "/a/b")),
            vec![p(A, EventType::NodeDataChanged, "/a/b")]
        );
        // The one-shot watch was consumed.
        assert_eq!(wm.data_watch_mode(A, "/a/b"), None);
    }

    #[test]
    fn mode_overwrite_standard_child_then_recursive() {
        // Observed on 3.8.0: getChildren(watch) then addWatch(recursive) on /p; creating /p/c
        // gives NodeCreated /p/c only, no NodeChildrenChanged /p.
        let mut wm = WatchManager::new();
        wm.add_child_watch("/p", A);
        wm.add_persistent_watch("/p", A, true);
        assert_eq!(
            wm.child_watch_mode(A, "/p"),
            Some(WatchMode::PersistentRecursive)
        );
        assert_eq!(
            pairs(create(&mut wm, "/p/c")),
            vec![p(A, EventType::NodeCreated, "/p/c")]
        );
    }

    #[test]
    fn mode_overwrite_persistent_then_get_data_downgrades() {
        // Observed on 3.8.0: addWatch(/q, persistent) then getData(/q, watch): the first setData
        // is delivered, the second is not.
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/q", A, false);
        wm.add_data_watch("/q", A);
        assert_eq!(wm.data_watch_mode(A, "/q"), Some(WatchMode::Standard));
        assert_eq!(set_data(&mut wm, "/q").len(), 1);
        assert!(set_data(&mut wm, "/q").is_empty());
        // The child table keeps the persistent watch.
        assert_eq!(wm.child_watch_mode(A, "/q"), Some(WatchMode::Persistent));
        assert_eq!(
            pairs(create(&mut wm, "/q/c")),
            vec![p(A, EventType::NodeChildrenChanged, "/q")]
        );
        // Recursive -> standard also drops the recursive count (no ancestor walk left).
        wm.add_persistent_watch("/r", A, true);
        assert_eq!(wm.data.recursive, 1);
        wm.add_data_watch("/r", A);
        assert_eq!(wm.data.recursive, 0);
        assert_eq!(wm.child.recursive, 1);
    }

    #[test]
    fn per_connection_independent() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/a", A);
        wm.add_persistent_watch("/a", B, false);
        assert_eq!(
            fire(&mut wm, EventType::NodeDataChanged, "/a"),
            vec![
                (A, EventType::NodeDataChanged),
                (B, EventType::NodeDataChanged)
            ]
        );
        assert_eq!(
            fire(&mut wm, EventType::NodeDataChanged, "/a"),
            vec![(B, EventType::NodeDataChanged)]
        );
    }

    fn lookup(path: &str) -> Option<(i64, i64)> {
        // (mzxid, pzxid)
        match path {
            "/old" => Some((5, 5)),
            "/new-data" => Some((20, 5)),
            "/new-kids" => Some((5, 20)),
            _ => None,
        }
    }

    fn strings(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn set_watches_immediate_events_and_registration() {
        let mut wm = WatchManager::new();
        let request = SetWatches2 {
            relative_zxid: 10,
            data_watches: strings(&["/old", "/gone", "/new-data", "/new-kids"]),
            exist_watches: strings(&["/old", "/missing"]),
            child_watches: strings(&["/old", "/gone", "/new-data", "/new-kids"]),
            persistent_watches: strings(&["/gone"]),
            persistent_recursive_watches: strings(&["/missing2"]),
        };
        let events = wm.set_watches(A, &request, lookup);
        let got: Vec<(EventType, &str)> = events
            .iter()
            .map(|e| {
                assert_eq!(e.state, KeeperState::SyncConnected);
                (e.r#type, e.path.as_str())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (EventType::NodeDeleted, "/gone"),
                (EventType::NodeDataChanged, "/new-data"),
                (EventType::NodeCreated, "/old"),
                (EventType::NodeDeleted, "/gone"),
                (EventType::NodeChildrenChanged, "/new-kids"),
            ]
        );
        // Registered: data /old, /new-kids, /missing (exist), /gone (persistent), /missing2.
        let data: Vec<_> = wm.by_connection()[&A].iter().cloned().collect();
        assert_eq!(
            data,
            strings(&["/gone", "/missing", "/missing2", "/new-kids", "/old"])
        );
        assert_eq!(wm.data_watch_mode(A, "/old"), Some(WatchMode::Standard));
        assert_eq!(wm.data_watch_mode(A, "/new-data"), None);
        assert_eq!(wm.child_watch_mode(A, "/old"), Some(WatchMode::Standard));
        assert_eq!(
            wm.child_watch_mode(A, "/new-data"),
            Some(WatchMode::Standard)
        );
        assert_eq!(wm.child_watch_mode(A, "/new-kids"), None);
        assert_eq!(wm.data_watch_mode(A, "/gone"), Some(WatchMode::Persistent));
        assert_eq!(wm.child_watch_mode(A, "/gone"), Some(WatchMode::Persistent));
        assert_eq!(
            wm.child_watch_mode(A, "/missing2"),
            Some(WatchMode::PersistentRecursive)
        );
        // Registered watches work.
        assert_eq!(
            pairs(create(&mut wm, "/missing")),
            vec![p(A, EventType::NodeCreated, "/missing")]
        );
    }

    #[test]
    fn set_watches_equal_zxid_registers_and_lists_are_in_order() {
        let mut wm = WatchManager::new();
        let request = SetWatches2 {
            relative_zxid: 20,
            data_watches: strings(&["/new-data"]),
            child_watches: strings(&["/new-kids"]),
            ..SetWatches2::default()
        };
        assert!(wm.set_watches(A, &request, lookup).is_empty());
        assert_eq!(
            wm.data_watch_mode(A, "/new-data"),
            Some(WatchMode::Standard)
        );
        assert_eq!(
            wm.child_watch_mode(A, "/new-kids"),
            Some(WatchMode::Standard)
        );
        // Duplicates each give an event, as Java iterates the list.
        let request = SetWatches2 {
            relative_zxid: 0,
            data_watches: strings(&["/old", "/old"]),
            ..SetWatches2::default()
        };
        assert_eq!(wm.set_watches(B, &request, lookup).len(), 2);
    }

    #[test]
    fn contains_per_watcher_type() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/d", A);
        wm.add_child_watch("/c", A);
        assert!(wm.contains(A, "/d", WatcherType::Data));
        assert!(!wm.contains(A, "/d", WatcherType::Children));
        assert!(wm.contains(A, "/d", WatcherType::Any));
        assert!(wm.contains(A, "/c", WatcherType::Children));
        assert!(!wm.contains(A, "/c", WatcherType::Data));
        assert!(wm.contains(A, "/c", WatcherType::Any));
        assert!(!wm.contains(A, "/x", WatcherType::Any));
        assert!(!wm.contains(A, "", WatcherType::Any));
        // 3.8 has no types 4/5 (the server answers MARSHALLINGERROR).
        assert!(!wm.contains(A, "/d", WatcherType::Persistent));
        assert!(!wm.contains(A, "/d", WatcherType::PersistentRecursive));
        assert!(!wm.contains(A, "/d", WatcherType::Unknown(9)));
        // A recursive watch is found on its own path, not below it.
        wm.add_persistent_watch("/r", A, true);
        assert!(wm.contains(A, "/r", WatcherType::Children));
        assert!(!wm.contains(A, "/r/x", WatcherType::Data));
        // checkWatches removes nothing.
        assert_eq!(wm.watch_count(), 4);
    }

    #[test]
    fn contains_quirk_any_connection_on_the_path_counts() {
        // Observed on 3.8.0: A getData(/x, watch); B's checkWatches(/x, Data) answers 0 and
        // (Any) 0, (Children) NOWATCHER; B's removeWatches(/x, Data) answers NOWATCHER.
        let mut wm = WatchManager::new();
        wm.add_data_watch("/x", A);
        assert!(wm.contains(B, "/x", WatcherType::Data));
        assert!(wm.contains(B, "/x", WatcherType::Any));
        assert!(!wm.contains(B, "/x", WatcherType::Children));
        assert!(!wm.remove(B, "/x", WatcherType::Data));
        assert!(wm.contains(A, "/x", WatcherType::Data));
    }

    #[test]
    fn remove_per_watcher_type() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/a", A);
        wm.add_child_watch("/a", A);
        assert!(!wm.remove(A, "/a", WatcherType::Persistent));
        assert!(wm.remove(A, "/a", WatcherType::Data));
        assert!(!wm.remove(A, "/a", WatcherType::Data));
        assert!(wm.contains(A, "/a", WatcherType::Children));
        assert!(wm.remove(A, "/a", WatcherType::Any));
        assert!(!wm.remove(A, "/a", WatcherType::Any));
        assert!(!wm.remove(A, "/a", WatcherType::Children));
        assert_eq!(wm.watch_count(), 0);
        assert!(pairs(create(&mut wm, "/a")).is_empty());
    }

    #[test]
    fn remove_persistent_watch_table_by_table() {
        // Observed on 3.8.0: addWatch(/r, persistent), removeWatches(/r, Data) -> 0; then setData
        // /r gives nothing and creating /r/c gives NodeChildrenChanged /r; checkWatches Data ->
        // NOWATCHER, Children -> 0.
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/r", A, false);
        assert!(wm.remove(A, "/r", WatcherType::Data));
        assert!(set_data(&mut wm, "/r").is_empty());
        assert_eq!(
            pairs(create(&mut wm, "/r/c")),
            vec![p(A, EventType::NodeChildrenChanged, "/r")]
        );
        assert!(!wm.contains(A, "/r", WatcherType::Data));
        assert!(wm.contains(A, "/r", WatcherType::Children));
        // Any removes the rest, recursive ones too (and their ancestor walk).
        assert!(wm.remove(A, "/r", WatcherType::Any));
        wm.add_persistent_watch("/s", A, true);
        assert!(wm.remove(A, "/s", WatcherType::Any));
        assert_eq!((wm.data.recursive, wm.child.recursive), (0, 0));
        assert!(pairs(create(&mut wm, "/s/x")).is_empty());
        assert_eq!(wm.watch_count(), 0);
    }

    #[test]
    fn remove_connection_drops_everything() {
        let mut wm = WatchManager::new();
        wm.add_data_watch("/a", A);
        wm.add_child_watch("/a", A);
        wm.add_persistent_watch("/r", A, true);
        wm.add_data_watch("/a", B);
        wm.remove_connection(A);
        assert_eq!((wm.data.recursive, wm.child.recursive), (0, 0));
        assert!(wm.data.modes.is_empty() && wm.child.modes.is_empty());
        assert_eq!(
            pairs(delete(&mut wm, "/a")),
            vec![p(B, EventType::NodeDeleted, "/a")]
        );
        assert!(pairs(create(&mut wm, "/r/x")).is_empty());
        // B's watch fired; B keeps an empty entry until it goes.
        assert_eq!(wm.by_connection(), BTreeMap::from([(B, BTreeSet::new())]));
        wm.remove_connection(A); // again: nothing
        wm.remove_connection(99);
        wm.remove_connection(B);
        assert_eq!(wm.summary(), WatchSummary::default());
        assert!(wm.child.by_conn.is_empty() && wm.child.by_path.is_empty());
    }

    #[test]
    fn reports_match_captured_wchs_wchc_wchp() {
        // vectors/4lw: one session with data watches on /pr and /pr-acl.
        // wchs: "1 connections watching 2 paths\nTotal watches:2\n"
        let mut wm = WatchManager::new();
        wm.add_data_watch("/pr", A);
        wm.add_data_watch("/pr-acl", A);
        assert_eq!(
            wm.summary(),
            WatchSummary {
                connections: 1,
                paths: 2,
                total: 2
            }
        );
        let by_conn = wm.by_connection();
        assert_eq!(by_conn.len(), 1);
        assert_eq!(
            by_conn[&A].iter().cloned().collect::<Vec<_>>(),
            strings(&["/pr", "/pr-acl"])
        );
        let by_path = wm.by_path();
        assert_eq!(
            by_path.keys().cloned().collect::<Vec<_>>(),
            strings(&["/pr", "/pr-acl"])
        );
        assert!(by_path.values().all(|c| c.iter().eq([A].iter())));
        // Child watches are not in the reports (observed on 3.8.0), persistent ones via their
        // data-table half.
        wm.add_child_watch("/c", B);
        assert_eq!(wm.summary().connections, 1);
        wm.add_persistent_watch("/pr", B, false);
        assert_eq!(
            wm.summary(),
            WatchSummary {
                connections: 2,
                paths: 2,
                total: 3
            }
        );
        assert_eq!(wm.by_path()["/pr"], BTreeSet::from([A, B]));
        assert_eq!(wm.watch_count(), 5);
    }

    #[test]
    fn reports_keep_connections_whose_watches_are_gone() {
        // Observed on 3.8.0: D's only data watch fired, E's only one was removed:
        // "2 connections watching 0 paths\nTotal watches:0\n", wchc lists both with no paths.
        let mut wm = WatchManager::new();
        wm.add_data_watch("/y", A);
        wm.add_data_watch("/y2", B);
        assert_eq!(set_data(&mut wm, "/y").len(), 1);
        assert!(wm.remove(B, "/y2", WatcherType::Data));
        assert_eq!(
            wm.summary(),
            WatchSummary {
                connections: 2,
                paths: 0,
                total: 0
            }
        );
        assert_eq!(
            wm.by_connection(),
            BTreeMap::from([(A, BTreeSet::new()), (B, BTreeSet::new())])
        );
        assert!(wm.by_path().is_empty());
        wm.remove_connection(A);
        assert_eq!(wm.summary().connections, 1);
    }

    #[test]
    fn other_event_types_fire_nothing() {
        let mut wm = WatchManager::new();
        wm.add_persistent_watch("/", A, true);
        wm.add_data_watch("/a", A);
        assert!(fire(&mut wm, EventType::None, "/a").is_empty());
        assert!(fire(&mut wm, EventType::DataWatchRemoved, "/a").is_empty());
        assert!(fire(&mut wm, EventType::NodeDataChanged, "").is_empty());
        assert_eq!(wm.data_watch_mode(A, "/a"), Some(WatchMode::Standard));
    }

    /// Both indexes of a table describe the same pairs; modes only for present pairs.
    fn check_table(t: &Table) {
        for (path, conns) in &t.by_path {
            assert!(!conns.is_empty(), "empty watcher set kept for {path}");
            for conn in conns {
                assert!(t.by_conn.get(conn).is_some_and(|p| p.contains(path)));
            }
        }
        for (conn, paths) in &t.by_conn {
            for path in paths {
                assert!(t.by_path.get(path).is_some_and(|c| c.contains(conn)));
            }
        }
        let mut recursive = 0;
        for (conn, modes) in &t.modes {
            assert!(!modes.is_empty());
            for (path, mode) in modes {
                assert_ne!(*mode, WatchMode::Standard);
                assert!(t.by_path.get(path).is_some_and(|c| c.contains(conn)));
                recursive += usize::from(mode.is_recursive());
            }
        }
        assert_eq!(recursive, t.recursive);
        assert_eq!(t.summary().total, t.size());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Data(usize, ConnId),
        Child(usize, ConnId),
        Persistent(usize, ConnId, bool),
        Trigger(usize, u8),
        Remove(usize, ConnId, u8),
        Contains(usize, ConnId, u8),
        Close(ConnId),
        SetWatches(ConnId, i64, Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>),
    }

    const PATHS: &[&str] = &["/", "/a", "/a/b", "/a/b/c", "/b", "/ab", "/a/c", ""];

    fn op() -> impl Strategy<Value = Op> {
        let path = 0..PATHS.len();
        let conn = 1..4u64;
        let paths = proptest::collection::vec(0..PATHS.len(), 0..3);
        prop_oneof![
            (path.clone(), conn.clone()).prop_map(|(p, c)| Op::Data(p, c)),
            (path.clone(), conn.clone()).prop_map(|(p, c)| Op::Child(p, c)),
            (path.clone(), conn.clone(), any::<bool>())
                .prop_map(|(p, c, r)| Op::Persistent(p, c, r)),
            (path.clone(), 0..6u8).prop_map(|(p, t)| Op::Trigger(p, t)),
            (path.clone(), conn.clone(), 0..6u8).prop_map(|(p, c, t)| Op::Remove(p, c, t)),
            (path, conn.clone(), 0..6u8).prop_map(|(p, c, t)| Op::Contains(p, c, t)),
            conn.clone().prop_map(Op::Close),
            (
                conn,
                0..30i64,
                paths.clone(),
                paths.clone(),
                paths.clone(),
                paths
            )
                .prop_map(|(c, z, d, e, ch, pe)| Op::SetWatches(c, z, d, e, ch, pe)),
        ]
    }

    fn event_type(t: u8) -> EventType {
        match t {
            0 => EventType::NodeCreated,
            1 => EventType::NodeDeleted,
            2 => EventType::NodeDataChanged,
            3 => EventType::NodeChildrenChanged,
            4 => EventType::None,
            _ => EventType::Unknown(42),
        }
    }

    fn watcher_type(t: u8) -> WatcherType {
        match t {
            0 => WatcherType::Children,
            1 => WatcherType::Data,
            2 => WatcherType::Any,
            3 => WatcherType::Persistent,
            4 => WatcherType::PersistentRecursive,
            _ => WatcherType::Unknown(0),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn indexes_stay_consistent(ops in proptest::collection::vec(op(), 0..60)) {
            let mut wm = WatchManager::new();
            let names = |v: &[usize]| v.iter().map(|&i| PATHS[i].to_owned()).collect::<Vec<_>>();
            for op in ops {
                match op {
                    Op::Data(p, c) => wm.add_data_watch(PATHS[p], c),
                    Op::Child(p, c) => wm.add_child_watch(PATHS[p], c),
                    Op::Persistent(p, c, r) => wm.add_persistent_watch(PATHS[p], c, r),
                    Op::Trigger(p, t) => {
                        let events = wm.trigger(&tev(event_type(t), PATHS[p]));
                        let conns: Vec<ConnId> = events.iter().map(|(c, _)| *c).collect();
                        let unique: BTreeSet<ConnId> = conns.iter().copied().collect();
                        prop_assert!(conns.iter().copied().eq(unique.iter().copied()));
                    }
                    Op::Remove(p, c, t) => {
                        let had = wm.data_watch_mode(c, PATHS[p]).is_some()
                            || wm.child_watch_mode(c, PATHS[p]).is_some();
                        let kind = watcher_type(t);
                        let removed = wm.remove(c, PATHS[p], kind);
                        if matches!(kind, WatcherType::Any) {
                            prop_assert_eq!(had, removed);
                        }
                        if removed && !matches!(kind, WatcherType::Children) {
                            prop_assert_eq!(wm.data_watch_mode(c, PATHS[p]), None);
                        }
                    }
                    Op::Contains(p, c, t) => {
                        let kind = watcher_type(t);
                        let mine = match kind {
                            WatcherType::Data => wm.data_watch_mode(c, PATHS[p]).is_some(),
                            WatcherType::Children => wm.child_watch_mode(c, PATHS[p]).is_some(),
                            WatcherType::Any => wm.data_watch_mode(c, PATHS[p]).is_some()
                                || wm.child_watch_mode(c, PATHS[p]).is_some(),
                            _ => false,
                        };
                        // Having one implies contains (which may also say yes for others').
                        if mine && !PATHS[p].is_empty() {
                            prop_assert!(wm.contains(c, PATHS[p], kind));
                        }
                    }
                    Op::Close(c) => {
                        wm.remove_connection(c);
                        prop_assert!(!wm.by_connection().contains_key(&c));
                        prop_assert!(!wm.child.by_conn.contains_key(&c));
                    }
                    Op::SetWatches(c, z, d, e, ch, pe) => {
                        let request = SetWatches2 {
                            relative_zxid: z,
                            data_watches: names(&d),
                            exist_watches: names(&e),
                            child_watches: names(&ch),
                            persistent_watches: names(&pe),
                            persistent_recursive_watches: names(&d),
                        };
                        let lookup = |path: &str| {
                            (path.len() % 3 != 0).then_some((path.len() as i64 * 3, path.len() as i64 * 4))
                        };
                        let events = wm.set_watches(c, &request, lookup);
                        prop_assert!(events.len() <= d.len() + e.len() + ch.len());
                    }
                }
                check_table(&wm.data);
                check_table(&wm.child);
            }
        }
    }
}

//! The DataTree: every znode, the session table, the ephemeral/container/TTL indexes, the
//! reference-counted ACL cache and the tree digest. [`DataTree::apply`] applies one committed
//! transaction exactly as Java's `DataTree.processTxn` does and reports what changed; it is pure
//! (no IO, no clock), so replaying a log into it is deterministic.
//!
//! The nodes form a real tree: each [`Node`] holds its children in a persistent (structure-
//! sharing) map that lists them in the order Java's `HashSet` would ([`java_order`]), and every
//! index beside it is a persistent collection too, so cloning a [`DataTree`] costs O(1). A
//! snapshot is such a clone serialized on another thread while the original keeps applying
//! txns, and a multi is checked against a scratch clone. A write to a shared tree copies only
//! the nodes on the path to the change. A path is resolved one component at a time; keeping no
//! full-path map saves a copy of every path.

mod quota;

use imbl::{HashMap, HashSet, OrdMap};

pub mod java_order;

use java_order::JavaHashMap;

use std::sync::Arc;

use bytes::Bytes;
use zk_proto::data::{Acl, Stat, StatPersisted};
use zk_proto::path::parent;
use zk_proto::storage::{
    node_digest, AclCacheEntry, DataNode as PersistedNode, DataNodeRef, SessionEntry, SnapshotData,
    SnapshotNode, SnapshotVisitor,
};
use zk_proto::txn::{SubTxn, Txn, TxnHeader};
use zk_proto::{ErrorCode, EventType, OpCode};

/// `ephemeralOwner` of container nodes.
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// The top byte of a TTL node's `ephemeralOwner`.
const TTL_MARKER: u64 = 0xFF00_0000_0000_0000;
/// The low 40 bits of a TTL node's `ephemeralOwner` hold the TTL in ms.
pub const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;
/// The ACL reference Java reserves for `OPEN_ACL_UNSAFE` without a cache entry.
pub const OPEN_ACL_REF: i64 = -1;

/// What kind of node an `ephemeralOwner` value marks (Java's `EphemeralType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// A persistent node (owner 0).
    Persistent,
    /// An ephemeral node of this session.
    Ephemeral(i64),
    /// A container node.
    Container,
    /// A TTL node with this TTL in ms.
    Ttl(i64),
}

impl OwnerKind {
    /// Classifies a stored owner. TTL markers count only with extended types enabled, as in Java.
    pub fn of(owner: i64, extended_types: bool) -> OwnerKind {
        if owner == 0 {
            OwnerKind::Persistent
        } else if owner == CONTAINER_OWNER {
            OwnerKind::Container
        } else if extended_types && (owner as u64) & 0xFF00_0000_0000_0000 == TTL_MARKER {
            OwnerKind::Ttl(owner & MAX_TTL_MS)
        } else {
            OwnerKind::Ephemeral(owner)
        }
    }

    /// The owner value stored for a TTL node.
    pub fn ttl_owner(ttl_ms: i64) -> i64 {
        (TTL_MARKER | (ttl_ms as u64 & MAX_TTL_MS as u64)) as i64
    }
}

/// One znode, with its subtree.
#[derive(Clone, PartialEq, Eq)]
pub struct Node {
    /// The data; `None` is Java's null (stored as length -1).
    pub data: Option<Bytes>,
    /// Reference into the ACL cache.
    pub acl_ref: i64,
    /// Metadata as stored.
    pub stat: StatPersisted,
    /// The children by name, in Java's order (see [`java_order`]).
    children: JavaHashMap<Arc<Node>>,
    /// How many nodes the subtree below holds (this node not counted), kept as children come
    /// and go, so getAllChildrenNumber is O(1) for any path.
    descendants: usize,
}

impl Node {
    fn new(data: Option<Bytes>, acl_ref: i64, stat: StatPersisted) -> Node {
        Node {
            data,
            acl_ref,
            stat,
            children: JavaHashMap::new(),
            descendants: 0,
        }
    }

    /// The child names, in the order Java 3.8 lists them (getChildren, snapshots).
    pub fn children(&self) -> impl Iterator<Item = &str> + '_ {
        self.children.keys()
    }

    /// How many children the node has.
    pub fn child_count(&self) -> usize {
        self.children.len()
    }

    /// The child called `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.get(name).map(|c| &**c)
    }

    /// How many nodes the subtree below this node holds (this node not counted).
    pub fn descendant_count(&self) -> usize {
        self.descendants
    }

    /// Attaches `child` as `name`; the subtree count grows by the child's subtree.
    fn attach(&mut self, name: String, child: Node) {
        self.descendants += 1 + child.descendants;
        self.children.insert(name, Arc::new(child));
    }

    fn persisted(&self) -> DataNodeRef<'_> {
        DataNodeRef {
            data: self.data.as_deref(),
            acl: self.acl_ref,
            stat: &self.stat,
        }
    }
}

/// Drops a subtree without recursion: a chain of nodes as deep as paths allow (hundreds of
/// thousands of levels) would otherwise overflow the stack. Children still shared with a clone
/// only lose a reference.
impl Drop for Node {
    fn drop(&mut self) {
        if self.children.is_empty() {
            return;
        }
        // Iterative, so a deep tree cannot overflow the stack; only what this drop frees is
        // visited (children another version of the tree shares are just released).
        let mut pending: Vec<Arc<Node>> = std::mem::take(&mut self.children)
            .into_unshared_values()
            .collect();
        while let Some(child) = pending.pop() {
            if let Ok(mut node) = Arc::try_unwrap(child) {
                pending.extend(std::mem::take(&mut node.children).into_unshared_values());
            }
        }
    }
}

/// The node without its subtree (a subtree can be huge).
impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("data", &self.data)
            .field("acl_ref", &self.acl_ref)
            .field("stat", &self.stat)
            .field("children", &self.children.len())
            .finish()
    }
}

/// The names along a path: none for the root (`/`, or `""` as Java's node map also has it).
/// Only a path written exactly as a node's is resolved (no trailing or doubled `/`), as Java's
/// node map is keyed by the exact string: `/a/` is not `/a`.
fn components(path: &str) -> Option<std::iter::Skip<std::str::Split<'_, char>>> {
    if path.is_empty() || path == "/" {
        return Some("".split('/').skip(1));
    }
    let canonical = path.starts_with('/') && !path.ends_with('/') && !path.contains("//");
    canonical.then(|| path.split('/').skip(1))
}

/// A watch event a change fires: `NodeDeleted` goes to data and child watches of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEvent {
    /// What happened.
    pub event_type: EventType,
    /// To which node.
    pub path: String,
}

/// What applying one transaction did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyResult {
    /// The txn's zxid.
    pub zxid: i64,
    /// `Ok`, or the error the txn carries or met (for example NodeExists when a fuzzy snapshot
    /// already holds a create being replayed).
    pub err: ErrorCode,
    /// The path a create made or the path changed.
    pub path: Option<String>,
    /// The Stat of a created or changed node, as clients see it.
    pub stat: Option<Stat>,
    /// Events to fire, in order.
    pub events: Vec<TreeEvent>,
    /// Per sub-txn results of a multi.
    pub multi: Vec<ApplyResult>,
    /// For each event, the ACL of its node as this txn saw it (the deleted node's for
    /// NodeDeleted, the parent's for NodeChildrenChanged): an event is delivered only to
    /// watchers who could read that node then.
    pub event_acls: Vec<Vec<Acl>>,
}

impl ApplyResult {
    fn event(&mut self, event_type: EventType, path: String, acl: Vec<Acl>) {
        self.events.push(TreeEvent { event_type, path });
        self.event_acls.push(acl);
    }
}

/// Reference-counted ACL lists (Java's `ReferenceCountedACLCache`).
#[derive(Debug, Clone, Default)]
struct AclCache {
    by_ref: OrdMap<i64, (Vec<Acl>, u64)>,
    by_list: HashMap<Vec<Acl>, i64>,
    last_ref: i64,
}

impl AclCache {
    fn add_usage(&mut self, acl: &[Acl]) -> i64 {
        if let Some(&r) = self.by_list.get(acl) {
            if let Some(entry) = self.by_ref.get_mut(&r) {
                entry.1 += 1;
            }
            return r;
        }
        self.last_ref += 1;
        let r = self.last_ref;
        self.by_list.insert(acl.to_vec(), r);
        self.by_ref.insert(r, (acl.to_vec(), 1));
        r
    }

    fn remove_usage(&mut self, r: i64) {
        if r == OPEN_ACL_REF {
            return;
        }
        if let Some(entry) = self.by_ref.get_mut(&r) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                let (list, _) = self.by_ref.remove(&r).expect("present");
                self.by_list.remove(&list);
            }
        }
    }

    /// Drops entries no node uses, as Java's `purgeUnused` does after a load.
    fn purge_unused(&mut self) {
        let unused: Vec<i64> = self
            .by_ref
            .iter()
            .filter(|(_, (_, count))| *count == 0)
            .map(|(r, _)| *r)
            .collect();
        for r in unused {
            let (list, _) = self.by_ref.remove(&r).expect("present");
            self.by_list.remove(&list);
        }
    }

    fn get(&self, r: i64) -> Vec<Acl> {
        if r == OPEN_ACL_REF {
            return Acl::open_unsafe();
        }
        self.by_ref
            .get(&r)
            .map(|(list, _)| list.clone())
            .unwrap_or_default()
    }
}

/// The whole tree and the state replicated with it.
#[derive(Debug, Clone)]
pub struct DataTree {
    root: Arc<Node>,
    node_count: usize,
    acls: AclCache,
    /// Open sessions and their timeouts (ms), as createSession/closeSession leave them.
    sessions: OrdMap<i64, i32>,
    /// Each session's ephemeral paths, in the order of Java's `new HashSet<String>()`
    /// (DataTree.ephemerals): closing a session deletes them in (a copy of) that order.
    ephemerals: HashMap<i64, JavaHashMap<()>>,
    containers: HashSet<String>,
    ttls: HashSet<String>,
    digest: i64,
    /// Bytes of paths and data over all nodes (Java's `approximateDataSize`).
    data_size: i64,
    last_processed_zxid: i64,
    extended_types: bool,
    /// The quota roots (`/zookeeper/quota/.../zookeeper_limits` nodes).
    quotas: quota::QuotaRoots,
}

/// The nodes every tree has.
const ZOOKEEPER: &str = "/zookeeper";
const QUOTA: &str = "/zookeeper/quota";
const CONFIG: &str = "/zookeeper/config";

impl DataTree {
    /// An empty tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config` (ACL
    /// read-only for anyone, aversion -1), as a new Java server has.
    pub fn new(extended_types: bool) -> Self {
        let empty = |acl_ref| Node::new(Some(Bytes::new()), acl_ref, StatPersisted::default());
        let mut tree = DataTree::empty(empty(OPEN_ACL_REF), extended_types);
        tree.digest = DataTree::node_digest("/", &tree.root);
        tree.data_size = node_size("/", &tree.root);
        tree.insert(ZOOKEEPER, empty(OPEN_ACL_REF));
        tree.insert(QUOTA, empty(OPEN_ACL_REF));
        let config_acl = tree.acls.add_usage(&Acl::read_unsafe());
        let mut config = empty(config_acl);
        config.stat.aversion = -1;
        tree.insert(CONFIG, config);
        tree
    }

    /// A tree of just `root`, no sessions, no ACLs.
    fn empty(root: Node, extended_types: bool) -> Self {
        DataTree {
            root: Arc::new(root),
            node_count: 1,
            acls: AclCache::default(),
            sessions: OrdMap::new(),
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            digest: 0,
            data_size: 0,
            last_processed_zxid: 0,
            extended_types,
            quotas: quota::QuotaRoots::default(),
        }
    }

    /// Builds a tree from a snapshot's sessions, ACL cache and nodes (in file order, parents
    /// first). Fails if a node's parent is missing, as Java does.
    pub fn from_snapshot(data: &SnapshotData, extended_types: bool) -> Result<Self, String> {
        let mut builder = DataTreeBuilder::new(extended_types);
        builder.sessions(data.sessions.clone())?;
        builder.acl_cache(data.acl_cache.clone())?;
        for SnapshotNode { path, node } in &data.nodes {
            builder.node(path.clone(), node.clone())?;
        }
        Ok(builder.finish())
    }

    /// The sessions, ACL cache and nodes, parents before children, for a snapshot.
    pub fn to_snapshot(&self) -> SnapshotData {
        let mut nodes = Vec::with_capacity(self.node_count);
        self.for_each_snapshot_node(|path, node| {
            nodes.push(SnapshotNode {
                path: path.to_owned(),
                node: PersistedNode {
                    data: node.data.map(Bytes::copy_from_slice),
                    acl: node.acl,
                    stat: node.stat.clone(),
                },
            });
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        SnapshotData {
            sessions: self.snapshot_sessions(),
            acl_cache: self.snapshot_acl_cache(),
            nodes,
        }
    }

    /// The session section of a snapshot.
    pub fn snapshot_sessions(&self) -> Vec<SessionEntry> {
        self.sessions
            .iter()
            .map(|(&id, &timeout)| SessionEntry { id, timeout })
            .collect()
    }

    /// The ACL cache section of a snapshot.
    pub fn snapshot_acl_cache(&self) -> Vec<AclCacheEntry> {
        self.acls
            .by_ref
            .iter()
            .map(|(&id, (acls, _))| AclCacheEntry {
                id,
                acls: acls.clone(),
            })
            .collect()
    }

    /// Visits every node as a snapshot stores it, parents before children (depth first, children
    /// in Java's order, as `DataTree.serializeNode` writes them), the root as `""` like Java;
    /// stops at the first error `f` returns. Streaming keeps a snapshot of a large tree from
    /// holding a second copy of it in memory.
    pub fn for_each_snapshot_node<E>(
        &self,
        mut f: impl FnMut(&str, DataNodeRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        f("", self.root.persisted())?;
        let mut path = String::new();
        // Per level: the children still to visit and the length of their parent's path.
        let mut stack = vec![(self.root.children.iter(), 0)];
        while let Some((children, parent_len)) = stack.last_mut() {
            let parent_len = *parent_len;
            let Some((name, child)) = children.next() else {
                stack.pop();
                continue;
            };
            path.truncate(parent_len);
            path.push('/');
            path.push_str(name);
            f(&path, child.persisted())?;
            if !child.children.is_empty() {
                stack.push((child.children.iter(), path.len()));
            }
        }
        Ok(())
    }

    /// The node at `path`. As in Java's node map, `""` is also the root.
    pub fn node(&self, path: &str) -> Option<&Node> {
        let mut node = &*self.root;
        for name in components(path)? {
            node = node.children.get(name)?;
        }
        Some(node)
    }

    /// The node at `path` for a change: every node on the way that is shared with a clone is
    /// copied first (cheap: a node's children map is shared, not copied). When the change
    /// grows the subtree below `path` by `delta` nodes, every ancestor on the way counts them
    /// (the node at `path` counts them as it changes its children); the caller knows the path
    /// exists.
    fn node_mut_resized(&mut self, path: &str, delta: isize) -> Option<&mut Node> {
        let mut node = Arc::make_mut(&mut self.root);
        for name in components(path)? {
            node.descendants = node.descendants.wrapping_add_signed(delta);
            node = Arc::make_mut(node.children.get_mut(name)?);
        }
        Some(node)
    }

    /// Number of nodes, the root and `/zookeeper` nodes included.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The ACL list of a node's reference.
    pub fn acl(&self, node: &Node) -> Vec<Acl> {
        self.acls.get(node.acl_ref)
    }

    /// The Stat clients see for a node.
    pub fn client_stat(&self, node: &Node) -> Stat {
        let s = &node.stat;
        let num_children = node.children.len() as i32;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: match OwnerKind::of(s.ephemeral_owner, self.extended_types) {
                OwnerKind::Ephemeral(id) => id,
                _ => 0,
            },
            data_length: node.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// Open sessions and their timeouts.
    pub fn sessions(&self) -> &OrdMap<i64, i32> {
        &self.sessions
    }

    /// A session's ephemeral nodes, in the order of the session's set in Java's DataTree.
    pub fn ephemerals(&self, session: i64) -> impl Iterator<Item = &str> {
        self.ephemerals
            .get(&session)
            .into_iter()
            .flat_map(|set| set.keys())
    }

    /// A session's ephemeral nodes in the order Java's `DataTree.getEphemerals` lists them: a
    /// `HashSet.clone()` of the session's set, which re-adds the paths in iteration order to a
    /// table sized for them afresh (smaller than the original after deletes, larger just below
    /// a resize), so its order can differ from [`ephemerals`](Self::ephemerals). Closing a
    /// session deletes in this order, and getEphemerals answers in it.
    pub fn ephemerals_copy(&self, session: i64) -> Vec<String> {
        self.ephemerals_copy_set(session)
            .keys()
            .map(str::to_owned)
            .collect()
    }

    /// The set behind [`Self::ephemerals_copy`] (Java's `new HashSet<>(set)`), for callers
    /// that go on adding and removing paths as Java does with its copy.
    pub fn ephemerals_copy_set(&self, session: i64) -> JavaHashMap<()> {
        let Some(set) = self.ephemerals.get(&session) else {
            return JavaHashMap::new();
        };
        // HashMap.putMapEntries into an empty map: tableSizeFor((int) (size / 0.75f + 1)).
        let capacity = (set.len() as f32 / 0.75f32 + 1.0f32) as usize;
        let mut copy = JavaHashMap::with_initial_capacity(capacity);
        for path in set.keys() {
            copy.insert(path.to_owned(), ());
        }
        copy
    }

    /// Container nodes.
    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    /// TTL nodes.
    pub fn ttl_nodes(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// Puts an ensemble's membership into `/zookeeper/config` as Java's
    /// `ZKDatabase.initConfigInZKDatabase` does: the config text, version -1, the config's
    /// version as mzxid, this server's clock as mtime (outside the digest, like every node
    /// under `/zookeeper/`).
    pub fn init_config(&mut self, text: &str, config_version: i64, wall_ms: i64) {
        let data = Bytes::copy_from_slice(text.as_bytes());
        let old_len = self
            .node(CONFIG)
            .and_then(|n| n.data.as_ref())
            .map_or(0, |d| d.len());
        let new_len = data.len();
        self.update(CONFIG, |n| {
            n.data = Some(data);
            n.stat.version = -1;
            n.stat.mzxid = config_version;
            n.stat.mtime = wall_ms;
        });
        self.quota_data_changed(CONFIG, old_len, new_len);
    }

    /// Whether TTL nodes (and so TTL ephemeralOwner markers) are enabled.
    pub fn extended_types(&self) -> bool {
        self.extended_types
    }

    /// The tree digest (sum of node digests), as Java's digest version 2 computes it.
    pub fn digest(&self) -> i64 {
        self.digest
    }

    /// Bytes of paths and data over all nodes (`zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> i64 {
        self.data_size
    }

    /// The zxid of the last applied txn.
    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid
    }

    /// Sets the last processed zxid (after a snapshot load: the zxid in its file name).
    pub fn set_last_processed_zxid(&mut self, zxid: i64) {
        self.last_processed_zxid = zxid;
    }

    fn node_digest(path: &str, node: &Node) -> i64 {
        node_digest(path, node.data.as_deref(), &node.stat)
    }

    /// Adds `node` at `path` under its existing parent.
    fn insert(&mut self, path: &str, node: Node) {
        let parent_path = parent(path).expect("not the root");
        let name = zk_proto::path::basename(path).to_owned();
        self.digest = self.digest.wrapping_add(Self::node_digest(path, &node));
        self.data_size += node_size(path, &node);
        self.node_count += 1;
        self.node_mut_resized(parent_path, 1 + node.descendants as isize)
            .expect("caller checked the parent exists")
            .attach(name, node);
    }

    /// Changes a node, keeping the digest right.
    fn update<T>(&mut self, path: &str, change: impl FnOnce(&mut Node) -> T) -> T {
        self.update_resized(path, 0, change)
    }

    /// [`Self::update`] of a node whose subtree `change` grows by `delta` nodes.
    fn update_resized<T>(
        &mut self,
        path: &str,
        delta: isize,
        change: impl FnOnce(&mut Node) -> T,
    ) -> T {
        let node = self
            .node_mut_resized(path, delta)
            .expect("caller checked the node exists");
        let before = node_digest(path, node.data.as_deref(), &node.stat);
        let size_before = node_size(path, node);
        let out = change(node);
        let after = node_digest(path, node.data.as_deref(), &node.stat);
        let size_after = node_size(path, node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        self.data_size += size_after - size_before;
        out
    }

    /// Takes a removed subtree out of the counts and indexes. Java deletes only leaves, but a
    /// log replayed over a fuzzy snapshot from elsewhere could delete a node that still has
    /// children here; they go with it.
    fn forget_subtree(&mut self, path: &str, node: &Node) {
        let mut pending = vec![(path.to_owned(), node)];
        while let Some((path, node)) = pending.pop() {
            self.node_count -= 1;
            self.digest = self.digest.wrapping_sub(Self::node_digest(&path, node));
            self.data_size -= node_size(&path, node);
            self.acls.remove_usage(node.acl_ref);
            self.unindex_owner(&path, node.stat.ephemeral_owner);
            for (name, child) in node.children.iter() {
                pending.push((child_path(&path, name), child));
            }
        }
    }

    fn index_owner(&mut self, path: &str, owner: i64) {
        match OwnerKind::of(owner, self.extended_types) {
            OwnerKind::Persistent => {}
            OwnerKind::Container => {
                self.containers.insert(path.to_owned());
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(path.to_owned());
            }
            OwnerKind::Ephemeral(session) => {
                self.ephemerals
                    .entry(session)
                    .or_insert_with(|| JavaHashMap::with_initial_capacity(16))
                    .insert(path.to_owned(), ());
            }
        }
    }

    fn unindex_owner(&mut self, path: &str, owner: i64) {
        match OwnerKind::of(owner, self.extended_types) {
            OwnerKind::Persistent => {}
            OwnerKind::Container => {
                self.containers.remove(path);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            OwnerKind::Ephemeral(session) => {
                // Java keeps the emptied set (and its capacity) until the session closes.
                if let Some(set) = self.ephemerals.get_mut(&session) {
                    set.remove(path);
                }
            }
        }
    }

    /// Applies one committed transaction.
    pub fn apply(&mut self, header: &TxnHeader, txn: &Txn) -> ApplyResult {
        let result = self.apply_one(header, txn);
        if header.zxid > self.last_processed_zxid {
            self.last_processed_zxid = header.zxid;
        }
        result
    }

    fn apply_one(&mut self, header: &TxnHeader, txn: &Txn) -> ApplyResult {
        let mut result = ApplyResult {
            zxid: header.zxid,
            ..ApplyResult::default()
        };
        let outcome = match txn {
            Txn::CreateSession(t) => {
                self.sessions.insert(header.client_id, t.time_out);
                Ok(())
            }
            Txn::CloseSession(t) => {
                // Java's killSession: the session's set leaves the index; the txn's list is
                // deleted in its order, then whatever else the set held, in the set's order.
                let set = self
                    .ephemerals
                    .remove(&header.client_id)
                    .unwrap_or_default();
                let mut paths: Vec<String> = match t {
                    Some(t) => t.paths2_delete.clone(),
                    None => Vec::new(),
                };
                let listed: std::collections::HashSet<&str> =
                    paths.iter().map(String::as_str).collect();
                let extra: Vec<String> = set
                    .keys()
                    .filter(|p| !listed.contains(p))
                    .map(str::to_owned)
                    .collect();
                if t.is_some() && !extra.is_empty() {
                    tracing::warn!(session = %format_args!("{:#x}", header.client_id), zxid = %format_args!("{:#x}", header.zxid), "ephemerals not in the closeSession txn; deleting them too");
                }
                paths.extend(extra);
                self.sessions.remove(&header.client_id);
                for path in paths {
                    // Java ignores paths already gone.
                    let _ = self.delete_node(&path, header.zxid, &mut result);
                }
                Ok(())
            }
            Txn::Create(_) | Txn::CreateV0(_) | Txn::CreateContainer(_) | Txn::CreateTtl(_) => {
                let c = CreateParts::of(header.client_id, txn).expect("a create txn");
                self.create_node(&c, header, &mut result)
            }
            Txn::Delete(t) => {
                result.path = Some(t.path.clone());
                self.delete_node(&t.path, header.zxid, &mut result)
            }
            Txn::SetData(t) => {
                result.path = Some(t.path.clone());
                self.set_data(&t.path, t.data.clone(), t.version, header, &mut result)
            }
            Txn::SetAcl(t) => {
                result.path = Some(t.path.clone());
                self.set_acl(&t.path, &t.acl, t.version, &mut result)
            }
            Txn::Error(t) => Err(t.code()),
            Txn::CheckVersion(t) => {
                result.path = Some(t.path.clone());
                Ok(())
            }
            Txn::Multi(multi) => {
                self.apply_multi(header, &multi.txns, &mut result);
                return result;
            }
        };
        if let Err(code) = outcome {
            result.err = code;
        }
        result
    }

    /// A multi: if any sub-txn is an error, nothing is applied and every sub-result is an error
    /// (OK before the failing one, RUNTIMEINCONSISTENCY after it), as Java's processTxn does.
    fn apply_multi(&mut self, header: &TxnHeader, txns: &[SubTxn], result: &mut ApplyResult) {
        let failed = txns.iter().any(|t| t.r#type == OpCode::Error);
        let mut after_failure = false;
        for sub in txns {
            let sub_header = TxnHeader {
                r#type: sub.r#type,
                ..header.clone()
            };
            let decoded = sub.decode();
            let mut sub_result = match decoded {
                Ok(Txn::Error(e)) => {
                    after_failure = true;
                    ApplyResult {
                        zxid: header.zxid,
                        err: e.code(),
                        ..ApplyResult::default()
                    }
                }
                Ok(_) if failed => ApplyResult {
                    zxid: header.zxid,
                    err: if after_failure {
                        ErrorCode::RuntimeInconsistency
                    } else {
                        ErrorCode::Ok
                    },
                    ..ApplyResult::default()
                },
                Ok(txn) => self.apply_one(&sub_header, &txn),
                Err(_) => ApplyResult {
                    zxid: header.zxid,
                    err: ErrorCode::MarshallingError,
                    ..ApplyResult::default()
                },
            };
            if !sub_result.err.is_ok() && result.err.is_ok() {
                result.err = sub_result.err;
            }
            // Moved, not copied: a multi's reply reads only the code, path and Stat of each
            // sub-result.
            result.events.append(&mut sub_result.events);
            result.event_acls.append(&mut sub_result.event_acls);
            result.multi.push(sub_result);
        }
    }

    fn create_node(
        &mut self,
        create: &CreateParts<'_>,
        header: &TxnHeader,
        result: &mut ApplyResult,
    ) -> Result<(), ErrorCode> {
        let CreateParts {
            path,
            data,
            acl,
            owner,
            parent_c_version,
        } = *create;
        let data = data.clone();
        result.path = Some(path.to_owned());
        // Prep never logs such a path; a log that holds one must not corrupt the tree.
        if components(path).is_none() {
            return Err(ErrorCode::NoNode);
        }
        let parent_path = parent(path).ok_or(ErrorCode::NoNode)?.to_owned();
        let name = zk_proto::path::basename(path).to_owned();
        let parent_node = self.node(&parent_path).ok_or(ErrorCode::NoNode)?;
        if parent_node.children.contains_key(&name) {
            return Err(ErrorCode::NodeExists);
        }
        let zxid = header.zxid;
        let acl_ref = self.acls.add_usage(acl);
        let data_len = data.as_ref().map_or(0, |d| d.len());
        let node = Node::new(data, acl_ref, created_stat(header, owner));
        self.index_owner(path, owner);
        result.stat = Some(self.client_stat(&node));
        self.digest = self.digest.wrapping_add(Self::node_digest(path, &node));
        self.data_size += node_size(path, &node);
        self.node_count += 1;
        let parent_acl_ref = self.update_resized(&parent_path, 1, |p| {
            p.attach(name, node);
            parent_after_create(&mut p.stat, parent_c_version, zxid);
            p.acl_ref
        });
        self.quota_created(path, data_len);
        let parent_acl = self.acls.get(parent_acl_ref);
        result.event(EventType::NodeCreated, path.to_owned(), acl.to_vec());
        result.event(EventType::NodeChildrenChanged, parent_path, parent_acl);
        Ok(())
    }

    fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        result: &mut ApplyResult,
    ) -> Result<(), ErrorCode> {
        let parent_path = parent(path).ok_or(ErrorCode::NoNode)?.to_owned();
        let doomed = self.node(path).ok_or(ErrorCode::NoNode)?;
        let node_acl = self.acl(doomed);
        let data_len = doomed.data.as_ref().map_or(0, |d| d.len());
        let removed = 1 + doomed.descendants as isize;
        let name = zk_proto::path::basename(path);
        let (node, parent_acl_ref) = self.update_resized(&parent_path, -removed, |p| {
            parent_after_delete(&mut p.stat, zxid);
            let node = p.children.remove(name).expect("present");
            p.descendants -= removed as usize;
            (node, p.acl_ref)
        });
        self.forget_subtree(path, &node);
        self.quota_deleted(path, data_len);
        let parent_acl = self.acls.get(parent_acl_ref);
        result.event(EventType::NodeDeleted, path.to_owned(), node_acl);
        result.event(EventType::NodeChildrenChanged, parent_path, parent_acl);
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<Bytes>,
        version: i32,
        header: &TxnHeader,
        result: &mut ApplyResult,
    ) -> Result<(), ErrorCode> {
        let Some(old) = self.node(path) else {
            return Err(ErrorCode::NoNode);
        };
        let old_len = old.data.as_ref().map_or(0, |d| d.len());
        let new_len = data.as_ref().map_or(0, |d| d.len());
        self.update(path, |n| {
            n.data = data;
            after_set_data(&mut n.stat, header, version);
        });
        let node = self.node(path).expect("just changed");
        result.stat = Some(self.client_stat(node));
        let acl = self.acl(node);
        self.quota_data_changed(path, old_len, new_len);
        result.event(EventType::NodeDataChanged, path.to_owned(), acl);
        Ok(())
    }

    fn set_acl(
        &mut self,
        path: &str,
        acl: &[Acl],
        version: i32,
        result: &mut ApplyResult,
    ) -> Result<(), ErrorCode> {
        let old_ref = self.node(path).ok_or(ErrorCode::NoNode)?.acl_ref;
        self.acls.remove_usage(old_ref);
        let new_ref = self.acls.add_usage(acl);
        self.update(path, |n| {
            n.acl_ref = new_ref;
            n.stat.aversion = version;
        });
        result.stat = Some(self.client_stat(self.node(path).expect("just changed")));
        Ok(())
    }
}

/// What a create txn (any of its four kinds) creates. Applying a txn and prep's view of the
/// txns in flight (`core/outstanding.rs`) both read creates through this, and change Stats
/// through [`created_stat`], [`parent_after_create`], [`parent_after_delete`] and
/// [`after_set_data`], so the two cannot disagree.
#[derive(Debug, Clone, Copy)]
pub struct CreateParts<'a> {
    /// The new node's path.
    pub path: &'a str,
    /// Its data.
    pub data: &'a Option<Bytes>,
    /// Its ACL.
    pub acl: &'a [Acl],
    /// Its ephemeralOwner: a session, a container or TTL marker, or 0.
    pub owner: i64,
    /// The parent's cversion after the create; -1 (an old-format create): one more.
    pub parent_c_version: i32,
}

impl<'a> CreateParts<'a> {
    /// The parts of a create txn of session `client_id`; `None` for other txns.
    pub fn of(client_id: i64, txn: &'a Txn) -> Option<CreateParts<'a>> {
        let (path, data, acl, owner, parent_c_version) = match txn {
            Txn::Create(t) => (
                &t.path,
                &t.data,
                &t.acl,
                if t.ephemeral { client_id } else { 0 },
                t.parent_c_version,
            ),
            Txn::CreateV0(t) => (
                &t.path,
                &t.data,
                &t.acl,
                if t.ephemeral { client_id } else { 0 },
                -1,
            ),
            Txn::CreateContainer(t) => (
                &t.path,
                &t.data,
                &t.acl,
                CONTAINER_OWNER,
                t.parent_c_version,
            ),
            Txn::CreateTtl(t) => (
                &t.path,
                &t.data,
                &t.acl,
                OwnerKind::ttl_owner(t.ttl),
                t.parent_c_version,
            ),
            _ => return None,
        };
        Some(CreateParts {
            path,
            data,
            acl,
            owner,
            parent_c_version,
        })
    }
}

/// The Stat of a node created by the txn of `header`.
pub fn created_stat(header: &TxnHeader, owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: header.zxid,
        mzxid: header.zxid,
        ctime: header.time,
        mtime: header.time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid: header.zxid,
    }
}

/// A parent's Stat after a child is created at `zxid` (`parent_c_version` -1: one more).
/// Replaying a create twice must not move the parent back.
pub fn parent_after_create(stat: &mut StatPersisted, parent_c_version: i32, zxid: i64) {
    let parent_c_version = if parent_c_version == -1 {
        stat.cversion + 1
    } else {
        parent_c_version
    };
    if parent_c_version > stat.cversion {
        stat.cversion = parent_c_version;
        stat.pzxid = zxid;
    }
}

/// A parent's Stat after a child is deleted at `zxid`.
pub fn parent_after_delete(stat: &mut StatPersisted, zxid: i64) {
    stat.pzxid = zxid;
}

/// A node's Stat after a setData txn of `header` (the txn carries the new version).
pub fn after_set_data(stat: &mut StatPersisted, header: &TxnHeader, version: i32) {
    stat.mtime = header.time;
    stat.mzxid = header.zxid;
    stat.version = version;
}

/// Builds a [`DataTree`] from a snapshot stream as it is parsed ([`SnapshotVisitor`]), without
/// a parsed copy of the whole file in memory.
///
/// Java writes nodes depth first, parents before children, so the nodes whose subtrees are
/// still being read form a stack (the root at the bottom): a node collects its children while
/// it sits on the stack and is attached to its parent, the entry below it, once the stream
/// leaves its subtree. Nodes in any other parents-first order still load, more slowly: a node
/// whose parent is no longer on the stack is attached by looking the parent up from the root.
///
/// ```
/// use zk_proto::storage::{Snapshot, ZxidDigest};
/// use zk_server::tree::{DataTree, DataTreeBuilder};
///
/// let tree = DataTree::new(false);
/// let file = Snapshot::new(tree.to_snapshot(), ZxidDigest::new(0, tree.digest())).to_bytes();
/// let mut builder = DataTreeBuilder::new(false);
/// Snapshot::parse_from_reader(&file[..], &mut builder).unwrap();
/// let loaded = builder.finish();
/// assert_eq!(loaded.digest(), tree.digest());
/// assert!(loaded.node("/zookeeper/config").is_some());
/// ```
#[derive(Debug)]
pub struct DataTreeBuilder {
    /// Everything but the nodes themselves (sessions, ACLs, indexes, count, digest), filled as
    /// the stream arrives; its root is a placeholder until [`DataTreeBuilder::finish`].
    tree: DataTree,
    open: Vec<(String, Node)>,
}

impl DataTreeBuilder {
    /// An empty builder.
    pub fn new(extended_types: bool) -> Self {
        let root = Node::new(None, OPEN_ACL_REF, StatPersisted::default());
        let mut tree = DataTree::empty(root, extended_types);
        tree.node_count = 0;
        DataTreeBuilder {
            tree,
            open: Vec::new(),
        }
    }

    /// Pops the top of the stack and attaches it to its parent.
    fn close_top(&mut self) -> Result<(), String> {
        let (mut path, node) = self.open.pop().expect("non-empty");
        let parent_len = parent(&path).expect("only the root has no parent").len();
        let cut = path.rfind('/').expect("absolute") + 1;
        let orphan = |path: &str| format!("snapshot node {path} comes before its parent");
        let below_is_parent = match self.open.last() {
            Some((below, _)) => below.as_str() == &path[..parent_len],
            None => return Err(orphan(&path)),
        };
        if below_is_parent {
            // The path's own allocation becomes the child's name.
            path.drain(..cut);
            if path.capacity() > 2 * path.len() + 16 {
                path.shrink_to_fit();
            }
            let parent_node = &mut self.open.last_mut().expect("checked").1;
            parent_node.attach(path, node);
            return Ok(());
        }
        // Out of depth-first order: find the parent under the root; every node on the way
        // gains the subtree (a failed search fails the whole load).
        let added = 1 + node.descendants;
        let mut found = &mut self.open[0].1;
        for part in components(&path[..parent_len]).into_iter().flatten() {
            found.descendants += added;
            match found.children.get_mut(part) {
                Some(child) => found = Arc::make_mut(child),
                None => return Err(orphan(&path)),
            }
        }
        found.attach(path[cut..].to_owned(), node);
        Ok(())
    }

    /// Whether `path` names a node already read (on the stack or attached below the root).
    fn exists(&self, path: &str) -> bool {
        if self.open.iter().any(|(p, _)| p == path) {
            return true;
        }
        let Some((_, root)) = self.open.first() else {
            return false;
        };
        let mut node = root;
        let Some(parts) = components(path) else {
            return false;
        };
        for part in parts {
            match node.children.get(part) {
                Some(child) => node = child,
                None => return false,
            }
        }
        true
    }

    /// The tree. ACL cache entries no node uses are dropped, as Java's purgeUnused does after a
    /// load.
    pub fn finish(mut self) -> DataTree {
        while self.open.len() > 1 {
            self.close_top()
                .expect("every node's parent was checked on arrival");
        }
        let mut tree = self.tree;
        if let Some((_, root)) = self.open.pop() {
            tree.root = Arc::new(root);
        }
        tree.acls.purge_unused();
        tree.node_count = tree.node_count.max(1);
        tree.setup_quota();
        tree
    }
}

impl SnapshotVisitor for DataTreeBuilder {
    fn sessions(&mut self, sessions: Vec<SessionEntry>) -> Result<(), String> {
        self.tree.sessions = sessions.iter().map(|s| (s.id, s.timeout)).collect();
        Ok(())
    }

    fn acl_cache(&mut self, entries: Vec<AclCacheEntry>) -> Result<(), String> {
        let acls = &mut self.tree.acls;
        for entry in entries {
            acls.last_ref = acls.last_ref.max(entry.id);
            acls.by_list.insert(entry.acls.clone(), entry.id);
            acls.by_ref.insert(entry.id, (entry.acls, 0));
        }
        Ok(())
    }

    fn node(&mut self, path: String, stored: PersistedNode) -> Result<(), String> {
        // Java writes the root as "".
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        if path == "/" {
            if !self.open.is_empty() {
                return Err("the root appears twice, or not first".into());
            }
        } else {
            let parent_path = parent(&path).ok_or_else(|| format!("bad path {path:?}"))?;
            while self.open.len() > 1 && self.open.last().is_some_and(|(p, _)| p != parent_path) {
                self.close_top()?;
            }
            let on_top = self.open.last().is_some_and(|(p, _)| p == parent_path);
            if !on_top && !self.exists(parent_path) {
                return Err(format!("snapshot node {path} comes before its parent"));
            }
        }
        let tree = &mut self.tree;
        if let Some(entry) = tree.acls.by_ref.get_mut(&stored.acl) {
            entry.1 += 1;
        }
        tree.index_owner(&path, stored.stat.ephemeral_owner);
        let node = Node::new(stored.data, stored.acl, stored.stat);
        tree.digest = tree
            .digest
            .wrapping_add(DataTree::node_digest(&path, &node));
        tree.data_size += node_size(&path, &node);
        tree.node_count += 1;
        self.open.push((path, node));
        Ok(())
    }
}

/// What a node adds to `approximate_data_size`: its path and its data, in bytes.
fn node_size(path: &str, node: &Node) -> i64 {
    (path.len() + node.data.as_ref().map_or(0, |d| d.len())) as i64
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::txn::{CreateTxn, DeleteTxn, SetDataTxn};

    fn header(zxid: i64, op: OpCode) -> TxnHeader {
        TxnHeader {
            client_id: 0x42,
            cxid: 1,
            zxid,
            time: 1000 + zxid,
            r#type: op,
        }
    }

    fn create(path: &str, ephemeral: bool, parent_c_version: i32) -> Txn {
        Txn::Create(CreateTxn {
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: Acl::open_unsafe(),
            ephemeral,
            parent_c_version,
        })
    }

    #[test]
    fn stats_follow_java() {
        let mut tree = DataTree::new(false);
        let r = tree.apply(&header(1, OpCode::Create), &create("/a", false, 1));
        assert_eq!(r.err, ErrorCode::Ok);
        assert_eq!(r.events.len(), 2);
        tree.apply(&header(2, OpCode::Create), &create("/a/x", true, 1));
        tree.apply(&header(3, OpCode::Create), &create("/a/y", false, 2));
        tree.apply(
            &header(4, OpCode::Delete),
            &Txn::Delete(DeleteTxn {
                path: "/a/y".into(),
            }),
        );
        let a = tree.node("/a").unwrap();
        let stat = tree.client_stat(a);
        assert_eq!(
            (stat.cversion, stat.num_children, stat.pzxid),
            (3, 1, 4),
            "2 creates + 1 delete"
        );
        let x = tree.client_stat(tree.node("/a/x").unwrap());
        assert_eq!(x.ephemeral_owner, 0x42);
        assert_eq!(
            tree.ephemerals(0x42).map(str::to_owned).collect::<Vec<_>>(),
            vec!["/a/x"]
        );
        let r = tree.apply(
            &header(5, OpCode::SetData),
            &Txn::SetData(SetDataTxn {
                path: "/a".into(),
                data: None,
                version: 1,
            }),
        );
        assert_eq!(r.stat.unwrap().data_length, 0);
        assert_eq!(
            tree.apply(&header(6, OpCode::Create), &create("/a", false, 2))
                .err,
            ErrorCode::NodeExists
        );
        assert_eq!(tree.last_processed_zxid(), 6);
    }

    #[test]
    fn replaying_a_create_does_not_move_the_parent_back() {
        let mut tree = DataTree::new(false);
        tree.apply(&header(1, OpCode::Create), &create("/p", false, 1));
        tree.apply(&header(2, OpCode::Create), &create("/p/a", false, 1));
        tree.apply(&header(3, OpCode::Create), &create("/p/b", false, 2));
        tree.apply(
            &header(4, OpCode::Delete),
            &Txn::Delete(DeleteTxn {
                path: "/p/a".into(),
            }),
        );
        let before = tree.node("/p").unwrap().stat.clone();
        tree.apply(&header(2, OpCode::Create), &create("/p/a", false, 1));
        assert_eq!(tree.node("/p").unwrap().stat.cversion, before.cversion);
        assert_eq!(tree.node("/p").unwrap().stat.pzxid, before.pzxid);
    }

    #[test]
    fn digest_is_incremental_and_snapshot_round_trips() {
        let mut tree = DataTree::new(false);
        tree.apply(&header(1, OpCode::Create), &create("/a", false, 1));
        tree.apply(&header(2, OpCode::Create), &create("/a/b", false, 1));
        let snapshot = tree.to_snapshot();
        assert_eq!(snapshot.tree_digest(), tree.digest());
        let loaded = DataTree::from_snapshot(&snapshot, false).unwrap();
        assert_eq!(loaded.digest(), tree.digest());
        assert_eq!(loaded.to_snapshot(), snapshot);
        assert_eq!(loaded.node("/a").unwrap().children.len(), 1);
    }

    /// Every node reachable from the root, with its path.
    fn walk(tree: &DataTree) -> Vec<String> {
        let mut out = Vec::new();
        tree.for_each_snapshot_node(|path, _| {
            out.push(path.to_owned());
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    proptest::proptest! {
        /// Whatever txns arrive (paths of any shape included), applying them never panics and
        /// the counts, digest and owner indexes stay those of the nodes actually in the tree;
        /// a clone taken midway is unaffected by what follows.
        #[test]
        fn random_txns_keep_the_tree_consistent(
            ops in proptest::collection::vec((0u8..4, 0usize..12, 0i64..3), 1..120)
        ) {
            const PATHS: [&str; 12] = [
                "/a", "/a/b", "/a/b/c", "/b", "/b/x", "/a/", "//a", "/a//b", "", "/", "/c", "/c/d",
            ];
            let mut tree = DataTree::new(false);
            let mut image = None;
            for (i, (kind, path, session)) in ops.iter().enumerate() {
                let zxid = i as i64 + 1;
                let path = PATHS[*path].to_owned();
                let (op, txn) = match kind {
                    0 => (OpCode::Create, create(&path, *session > 0, -1)),
                    1 => (OpCode::Delete, Txn::Delete(DeleteTxn { path })),
                    2 => (
                        OpCode::SetData,
                        Txn::SetData(SetDataTxn { path, data: None, version: 1 }),
                    ),
                    _ => (OpCode::CloseSession, Txn::CloseSession(None)),
                };
                let mut h = header(zxid, op);
                h.client_id = *session;
                tree.apply(&h, &txn);
                if i == ops.len() / 2 {
                    image = Some((tree.clone(), tree.to_snapshot()));
                }
            }
            let paths = walk(&tree);
            proptest::prop_assert_eq!(paths.len(), tree.node_count());
            // The data size is that of the nodes there (the root's path counted as "/").
            let size: i64 = paths
                .iter()
                .map(|p| {
                    let p = if p.is_empty() { "/" } else { p.as_str() };
                    node_size(p, tree.node(p).unwrap())
                })
                .sum();
            proptest::prop_assert_eq!(size, tree.approximate_data_size());
            // Every node's subtree count is the number of walked paths below it, also in a
            // tree loaded from a snapshot of it.
            let rebuilt = DataTree::from_snapshot(&tree.to_snapshot(), false).unwrap();
            proptest::prop_assert_eq!(rebuilt.approximate_data_size(), size);
            for path in &paths {
                let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
                let below = paths.iter().filter(|p| p.starts_with(&prefix) && *p != path).count();
                let node = tree.node(path).unwrap();
                proptest::prop_assert_eq!(node.descendant_count(), below, "{}", path);
                proptest::prop_assert_eq!(
                    rebuilt.node(path).unwrap().descendant_count(), below, "loaded {}", path
                );
            }
            proptest::prop_assert_eq!(tree.to_snapshot().tree_digest(), tree.digest());
            for session in 0..3 {
                for path in tree.ephemerals(session) {
                    let node = tree.node(path);
                    proptest::prop_assert!(node.is_some(), "indexed ephemeral {} is gone", path);
                    proptest::prop_assert_eq!(node.unwrap().stat.ephemeral_owner, session);
                }
            }
            let indexed: usize = (0..3).map(|s| tree.ephemerals(s).count()).sum();
            let owned = paths
                .iter()
                .filter(|p| tree.node(p).is_some_and(|n| n.stat.ephemeral_owner != 0))
                .count();
            proptest::prop_assert_eq!(indexed, owned);
            if let Some((clone, snapshot)) = image {
                proptest::prop_assert_eq!(clone.to_snapshot(), snapshot);
            }
        }
    }

    #[test]
    fn a_deep_tree_is_copied_and_dropped_without_recursion() {
        // Each level would be a nested drop if dropping recursed: deep enough to overflow a
        // test thread's stack that way.
        const DEPTH: usize = 6_000;
        // Built from a snapshot stream: creating it txn by txn costs O(depth^2) lookups.
        let mut builder = DataTreeBuilder::new(false);
        let mut path = String::new();
        let stored = |path: &str| {
            let mut node = DataTree::new(false).to_snapshot().nodes[0].node.clone();
            node.stat.czxid = path.len() as i64;
            node
        };
        builder.node(String::new(), stored("")).unwrap();
        for _ in 0..DEPTH {
            path.push_str("/d");
            builder.node(path.clone(), stored(&path)).unwrap();
        }
        let mut tree = builder.finish();
        assert_eq!(tree.node_count(), DEPTH + 1);
        let image = tree.clone();
        // A write at the bottom copies the whole path while the image shares it.
        let r = tree.apply(
            &header(1, OpCode::SetData),
            &Txn::SetData(SetDataTxn {
                path: path.clone(),
                data: None,
                version: 1,
            }),
        );
        assert_eq!(r.err, ErrorCode::Ok);
        drop(image);
        assert_eq!(walk(&tree).len(), tree.node_count());
        drop(tree);
    }

    #[test]
    fn only_exact_paths_resolve() {
        let mut tree = DataTree::new(false);
        tree.apply(&header(1, OpCode::Create), &create("/a", false, 1));
        tree.apply(&header(2, OpCode::Create), &create("/a/b", false, 1));
        assert!(tree.node("/").is_some() && tree.node("").is_some());
        assert!(tree.node("/a/b").is_some());
        for odd in ["/a/", "//a", "/a//b", "a", "/a/b/", "a/b"] {
            assert!(tree.node(odd).is_none(), "{odd}");
        }
        let r = tree.apply(
            &header(3, OpCode::Delete),
            &Txn::Delete(DeleteTxn {
                path: "/a/b/".into(),
            }),
        );
        assert_eq!(r.err, ErrorCode::NoNode);
        assert_eq!(tree.node_count(), 6);
    }

    #[test]
    fn the_builder_takes_nodes_in_any_parents_first_order() {
        let mut tree = DataTree::new(false);
        let paths = ["/a", "/a/b", "/a/b/c", "/a/d", "/e", "/e/f", "/a/b/g"];
        for (i, path) in paths.iter().enumerate() {
            let zxid = i as i64 + 1;
            tree.apply(&header(zxid, OpCode::Create), &create(path, false, -1));
        }
        let dfs = tree.to_snapshot();
        // Breadth first: every parent comes before its children, but subtrees interleave.
        let mut bfs = dfs.clone();
        bfs.nodes
            .sort_by_key(|n| (n.path.matches('/').count(), n.path.clone()));
        for data in [&dfs, &bfs] {
            let loaded = DataTree::from_snapshot(data, false).unwrap();
            assert_eq!(loaded.to_snapshot(), dfs);
            assert_eq!(loaded.digest(), tree.digest());
            // The subtree counts too: the out-of-order attachments count up every ancestor.
            for (path, below) in [("/", 10), ("/a", 4), ("/a/b", 2), ("/e", 1), ("/a/d", 0)] {
                let node = loaded.node(path).unwrap();
                assert_eq!(node.descendant_count(), below, "{path}");
                assert_eq!(tree.node(path).unwrap().descendant_count(), below, "{path}");
            }
        }
        let mut orphan = dfs.clone();
        let b = orphan.nodes.iter().position(|n| n.path == "/a/b").unwrap();
        let c = orphan.nodes.remove(b + 1);
        orphan.nodes.insert(b, c);
        let err = DataTree::from_snapshot(&orphan, false).unwrap_err();
        assert!(err.contains("/a/b/c comes before its parent"), "{err}");
    }

    #[test]
    fn a_clone_is_a_frozen_image_while_the_original_moves_on() {
        let mut tree = DataTree::new(false);
        for i in 0..200 {
            tree.apply(
                &header(i + 1, OpCode::Create),
                &create(&format!("/n{i}"), i % 2 == 0, -1),
            );
        }
        let image = tree.clone();
        let before = tree.to_snapshot();
        let digest_before = tree.digest();
        // Change, add and remove nodes (and a session's ephemerals) in the original.
        tree.apply(
            &header(300, OpCode::SetData),
            &Txn::SetData(SetDataTxn {
                path: "/n1".into(),
                data: Some(Bytes::from_static(b"new")),
                version: 1,
            }),
        );
        tree.apply(
            &header(301, OpCode::Create),
            &create("/n1/child", false, -1),
        );
        tree.apply(&header(302, OpCode::CloseSession), &Txn::CloseSession(None));
        assert_ne!(tree.digest(), digest_before);
        assert_eq!(image.to_snapshot(), before);
        assert_eq!(image.digest(), digest_before);
        assert_eq!(image.to_snapshot().tree_digest(), digest_before);
        assert_eq!(image.ephemerals(0x42).count(), 100);
        assert_eq!(tree.ephemerals(0x42).count(), 0);
    }

    #[test]
    fn owner_kinds() {
        assert_eq!(OwnerKind::of(0, true), OwnerKind::Persistent);
        assert_eq!(OwnerKind::of(i64::MIN, false), OwnerKind::Container);
        let ttl = OwnerKind::ttl_owner(86_400_000);
        assert_eq!(ttl as u64, 0xff00_0000_0526_5c00);
        assert_eq!(OwnerKind::of(ttl, true), OwnerKind::Ttl(86_400_000));
        assert_eq!(
            OwnerKind::of(ttl, false),
            OwnerKind::Ephemeral(ttl),
            "TTL needs extended types"
        );
    }
}

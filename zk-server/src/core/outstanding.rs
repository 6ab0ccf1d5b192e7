//! Java's `outstandingChanges`: the nodes that txns proposed and not yet committed change, as
//! prep must see them, with the tree digest after each proposed txn.
//!
//! Prep validates a write against the committed tree plus these records; the committed tree
//! itself changes only when a txn commits, in place. A record holds a node's head (data, ACL,
//! Stat, child count), never its children, so proposing costs a few small records per txn
//! whatever the size of the tree or of a parent's child list (a speculative copy of the tree
//! copied every parent it touched). The Stat rules are the tree's own
//! ([`crate::tree::CreateParts`] and friends), and the commit checks that the digest a record
//! predicted is the one the tree reached.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::tree::{
    after_set_data, created_stat, parent_after_create, parent_after_delete, CreateParts, Node,
};
use zk_proto::data::StatPersisted;
use zk_proto::path::parent;
use zk_proto::storage::node_digest;

use super::*;

/// A node as a txn in flight left it.
#[derive(Debug, Clone)]
pub(super) struct NodeHead {
    pub(super) data: Option<Bytes>,
    pub(super) acl: Vec<Acl>,
    pub(super) stat: StatPersisted,
    pub(super) child_count: usize,
}

/// A node as prep sees it: committed, or changed by a txn in flight.
#[derive(Debug, Clone, Copy)]
pub(super) enum NodeRef<'a> {
    Tree(&'a Node),
    Pending(&'a NodeHead),
}

impl NodeRef<'_> {
    pub(super) fn stat(&self) -> &StatPersisted {
        match self {
            NodeRef::Tree(n) => &n.stat,
            NodeRef::Pending(h) => &h.stat,
        }
    }

    pub(super) fn child_count(&self) -> usize {
        match self {
            NodeRef::Tree(n) => n.child_count(),
            NodeRef::Pending(h) => h.child_count,
        }
    }

    pub(super) fn data(&self) -> Option<&Bytes> {
        match self {
            NodeRef::Tree(n) => n.data.as_ref(),
            NodeRef::Pending(h) => h.data.as_ref(),
        }
    }

    fn head(&self, tree: &DataTree) -> NodeHead {
        match self {
            NodeRef::Tree(n) => NodeHead {
                data: n.data.clone(),
                acl: tree.acl(n),
                stat: n.stat.clone(),
                child_count: n.child_count(),
            },
            NodeRef::Pending(h) => (*h).clone(),
        }
    }
}

/// The latest state of a path changed by a txn in flight (`None`: deleted).
#[derive(Debug, Clone)]
struct Record {
    zxid: i64,
    head: Option<NodeHead>,
}

/// The changes of the txns in flight, in the order proposed.
#[derive(Debug, Clone, Default)]
pub(super) struct Outstanding {
    records: HashMap<Arc<str>, Record>,
    /// (zxid, path) of every change, oldest first: a record goes when its zxid commits,
    /// unless a later txn changed the path again.
    order: VecDeque<(i64, Arc<str>)>,
    /// Ephemeral nodes created (`Some(owner)`) or deleted (`None`), oldest first, for the
    /// ephemerals a closeSession must delete.
    ephemeral_changes: VecDeque<(i64, String, Option<i64>)>,
    /// The tree digest after the last txn proposed, while any is in flight.
    digest: Option<i64>,
}

impl Outstanding {
    /// The node at `path` (`""` is the root) as of every txn proposed.
    pub(super) fn node<'a>(&'a self, tree: &'a DataTree, path: &str) -> Option<NodeRef<'a>> {
        match self.records.get(canonical(path)) {
            Some(record) => record.head.as_ref().map(NodeRef::Pending),
            None => tree.node(path).map(NodeRef::Tree),
        }
    }

    /// Every path a txn in flight changed (created, changed or deleted).
    pub(super) fn changed_paths(&self) -> impl Iterator<Item = &str> {
        self.records.keys().map(|p| &**p)
    }

    /// A node's ACL as of every txn proposed.
    pub(super) fn acl(tree: &DataTree, node: NodeRef<'_>) -> Vec<Acl> {
        match node {
            NodeRef::Tree(n) => tree.acl(n),
            NodeRef::Pending(h) => h.acl.clone(),
        }
    }

    /// The tree digest after every txn proposed.
    pub(super) fn digest(&self, tree: &DataTree) -> i64 {
        self.digest.unwrap_or_else(|| tree.digest())
    }

    /// A session's ephemeral paths as of every txn proposed, in the order of Java's copy of
    /// the committed set with the changes in flight added and removed in turn (the set
    /// `PrepRequestProcessor` builds for closeSession).
    pub(super) fn ephemerals(&self, tree: &DataTree, session: i64) -> Vec<String> {
        if self.ephemeral_changes.is_empty() {
            return tree.ephemerals_copy(session);
        }
        let mut set = tree.ephemerals_copy_set(session);
        for (_, path, owner) in &self.ephemeral_changes {
            match owner {
                Some(owner) if *owner == session => {
                    set.insert(path.clone(), ());
                }
                Some(_) => {}
                None => {
                    set.remove(path);
                }
            }
        }
        set.keys().map(str::to_owned).collect()
    }

    /// Records what the txn of `header` changes, as applying it to the tree would.
    pub(super) fn propose(&mut self, tree: &DataTree, header: &TxnHeader, txn: &Txn) {
        if self.digest.is_none() {
            self.digest = Some(tree.digest());
        }
        match txn {
            Txn::Multi(multi) => {
                // A multi with a failed op applies nothing.
                if multi.txns.iter().any(|t| t.r#type == OpCode::Error) {
                    return;
                }
                for sub in &multi.txns {
                    if let Ok(sub_txn) = sub.decode() {
                        let sub_header = TxnHeader {
                            r#type: sub.r#type,
                            ..header.clone()
                        };
                        self.propose_one(tree, &sub_header, &sub_txn);
                    }
                }
            }
            txn => self.propose_one(tree, header, txn),
        }
    }

    fn propose_one(&mut self, tree: &DataTree, header: &TxnHeader, txn: &Txn) {
        let zxid = header.zxid;
        if let Some(create) = CreateParts::of(header.client_id, txn) {
            let Some(parent_path) = parent(create.path) else {
                return;
            };
            let (Some(parent_node), None) =
                (self.node(tree, parent_path), self.node(tree, create.path))
            else {
                return;
            };
            let mut parent_head = parent_node.head(tree);
            parent_head.child_count += 1;
            parent_after_create(&mut parent_head.stat, create.parent_c_version, zxid);
            self.change(tree, zxid, parent_path, Some(parent_head));
            let head = NodeHead {
                data: create.data.clone(),
                acl: create.acl.to_vec(),
                stat: created_stat(header, create.owner),
                child_count: 0,
            };
            self.change(tree, zxid, create.path, Some(head));
            if let OwnerKind::Ephemeral(owner) = OwnerKind::of(create.owner, tree.extended_types())
            {
                let path = create.path.to_owned();
                self.ephemeral_changes.push_back((zxid, path, Some(owner)));
            }
            return;
        }
        match txn {
            Txn::Delete(t) => self.delete(tree, zxid, &t.path),
            Txn::SetData(t) => {
                if let Some(node) = self.node(tree, &t.path) {
                    let mut head = node.head(tree);
                    head.data = t.data.clone();
                    after_set_data(&mut head.stat, header, t.version);
                    self.change(tree, zxid, &t.path, Some(head));
                }
            }
            Txn::SetAcl(t) => {
                if let Some(node) = self.node(tree, &t.path) {
                    let mut head = node.head(tree);
                    head.acl = t.acl.clone();
                    head.stat.aversion = t.version;
                    self.change(tree, zxid, &t.path, Some(head));
                }
            }
            Txn::CloseSession(t) => {
                // The tree deletes the listed paths, then whatever else the session owns.
                let owned = self.ephemerals(tree, header.client_id);
                let mut paths: Vec<String> = t
                    .as_ref()
                    .map_or_else(Vec::new, |t| t.paths2_delete.clone());
                let listed: std::collections::HashSet<String> = paths.iter().cloned().collect();
                paths.extend(owned.into_iter().filter(|p| !listed.contains(p)));
                for path in paths {
                    self.delete(tree, zxid, &path);
                }
            }
            _ => {}
        }
    }

    fn delete(&mut self, tree: &DataTree, zxid: i64, path: &str) {
        let Some(parent_path) = parent(path) else {
            return;
        };
        let (Some(parent_node), Some(node)) = (self.node(tree, parent_path), self.node(tree, path))
        else {
            return;
        };
        let ephemeral = matches!(
            OwnerKind::of(node.stat().ephemeral_owner, tree.extended_types()),
            OwnerKind::Ephemeral(_)
        );
        let mut parent_head = parent_node.head(tree);
        parent_head.child_count -= 1;
        parent_after_delete(&mut parent_head.stat, zxid);
        self.change(tree, zxid, parent_path, Some(parent_head));
        self.change(tree, zxid, path, None);
        // Only an ephemeral's delete can change a session's set of ephemerals.
        if ephemeral {
            self.ephemeral_changes
                .push_back((zxid, path.to_owned(), None));
        }
    }

    /// Sets the state of `path` after the txn `zxid`, keeping the digest.
    fn change(&mut self, tree: &DataTree, zxid: i64, path: &str, head: Option<NodeHead>) {
        let digest_of = |node: Option<NodeRef<'_>>| {
            node.map_or(0, |n| node_digest(path, n.data().map(|d| &d[..]), n.stat()))
        };
        let before = digest_of(self.node(tree, path));
        let after = digest_of(head.as_ref().map(NodeRef::Pending));
        let digest = self.digest.as_mut().expect("set by propose");
        *digest = digest.wrapping_sub(before).wrapping_add(after);
        let path: Arc<str> = canonical(path).into();
        self.records.insert(path.clone(), Record { zxid, head });
        self.order.push_back((zxid, path));
    }

    /// The txns up to `zxid` are in the tree now: their records go (unless a later txn
    /// changed the same path).
    pub(super) fn committed(&mut self, zxid: i64) {
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            let (z, path) = self.order.pop_front().expect("checked");
            if self.records.get(&path).is_some_and(|r| r.zxid == z) {
                self.records.remove(&path);
            }
        }
        while self
            .ephemeral_changes
            .front()
            .is_some_and(|(z, _, _)| *z <= zxid)
        {
            self.ephemeral_changes.pop_front();
        }
    }

    /// Nothing is in flight any more: the digest is the tree's again.
    pub(super) fn clear_digest(&mut self) {
        debug_assert!(self.records.is_empty() && self.ephemeral_changes.is_empty());
        self.digest = None;
    }
}

/// The root is `"/"` to [`parent`] and `""` to prep: one key for both.
fn canonical(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

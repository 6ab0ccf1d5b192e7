//! The online restore: the tree brought to a restored image by ordinary txns that the pipeline
//! proposes, logs, replicates and applies like any client's writes.
//!
//! Java 3.9's `restore` command swaps the in-memory database of one server: nothing is logged,
//! the other members never hear of it and a restart undoes it. Here the difference between
//! the tree (as of every txn in flight) and the image becomes multi txns of deletes, creates
//! and setData, and setACL txns, all proposed in one step of the core, so no client write falls
//! between them. Being plain txns they survive restarts, reach Java members too, are archived
//! like any other and fire the watches a client expects; zxids and versions move forward, so
//! a client's conditional write prepared before the restore fails instead of landing on
//! rewound versions. One multi holds the whole change unless it would exceed a log record
//! (`jute.maxbuffer`); larger changes are cut into several consecutive multis, each atomic.
//!
//! What is restored: every node outside `/zookeeper` that is not an ephemeral in the image
//! (the sessions of the image are gone), with its data, ACL and kind (persistent, container,
//! TTL). The live sessions' ephemerals stay where their parent stays. Stats are not rewound:
//! a restored node gets the zxids and versions of the txn that created or changed it.

use std::collections::HashSet;

use zk_proto::path::parent;
use zk_proto::proto::{
    CreateRequest, CreateTtlRequest, DeleteRequest, SetAclRequest, SetDataRequest,
};

use super::*;
use crate::tree::Node;

/// What an online restore proposed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OnlineRestore {
    /// The first txn's zxid (0 when nothing differed).
    pub first_zxid: i64,
    /// The last txn's zxid: the restore is complete once it commits (0 when nothing differed).
    pub last_zxid: i64,
    /// Txns proposed (multis, then setACLs).
    pub txns: usize,
    /// Nodes deleted (live sessions' ephemerals among them when their parent went).
    pub deleted: usize,
    /// Nodes created.
    pub created: usize,
    /// Nodes whose data was set.
    pub data_changed: usize,
    /// Nodes whose ACL was set.
    pub acl_changed: usize,
    /// Live sessions' ephemerals left in place.
    pub ephemerals_kept: usize,
    /// The trees were compared on the core's thread (writes arrived after the comparison
    /// made off it), which serves nothing meanwhile.
    pub compared_in_core: bool,
}

/// The changes that turn the committed tree at `zxid` into an image, worked out off the core
/// ([`compare_committed`]).
#[derive(Debug)]
pub struct Compared {
    zxid: i64,
    changes: Changes,
    /// When writes came after `zxid`: compare again in the core (else refuse, so the caller
    /// may compare again off it).
    or_in_core: bool,
}

/// Compares the committed `tree` at `zxid` (a copy the core handed out) with `image`, on the
/// caller's thread: [`ServerCore::restore_online`] then only preps and proposes, unless
/// something was proposed since `zxid`.
/// `or_in_core`: when something was proposed since `zxid`, compare again on the core's
/// thread rather than refuse with [`RestoreRefused::Stale`].
pub fn compare_committed(
    zxid: i64,
    tree: &DataTree,
    image: &DataTree,
    or_in_core: bool,
) -> Compared {
    Compared {
        zxid,
        changes: changes_between(tree, &Outstanding::default(), tree.extended_types(), image),
        or_in_core,
    }
}

/// Why an online restore was not proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreRefused {
    /// A learner: txns are proposed by the leader.
    NotLeader,
    /// A txn of the change was refused by prep (for example a TTL node while extended types
    /// are off): the path and code. Nothing was proposed.
    Refused(String, ErrorCode),
    /// Writes came after the comparison made off the core at this zxid; nothing was proposed.
    Stale(i64),
}

impl std::fmt::Display for RestoreRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreRefused::NotLeader => f.write_str(
                "this server is not the leader; send the restore to the leader's AdminServer (see the leader command)",
            ),
            RestoreRefused::Stale(zxid) => write!(
                f,
                "writes came after the comparison at {zxid:#x}; nothing was restored"
            ),
            RestoreRefused::Refused(path, code) => write!(
                f,
                "the change to {path} was refused ({code}); nothing was restored"
            ),
        }
    }
}

/// The ops that turn the tree into the image, in an order prep accepts.
#[derive(Debug, Default)]
struct Changes {
    /// Deletes, children before parents, then creates, parents before children, then setData.
    ops: Vec<MultiOp>,
    /// setACLs (not allowed in a multi).
    acls: Vec<SetAclRequest>,
    summary: OnlineRestore,
}

/// Whether `path` is managed by the server (`/zookeeper` and below) or is the root.
pub(super) fn is_system(path: &str) -> bool {
    path == "/" || path.is_empty() || path == "/zookeeper" || path.starts_with("/zookeeper/")
}

impl ServerCore {
    /// Proposes the txns that make the tree equal `image` (see the module docs); returns what
    /// they do and the actions to run. The restore is complete when `last_zxid` commits.
    /// `compared`, when given, is the comparison [`compare_committed`] made off the core
    /// against the committed tree at a zxid: used if nothing was proposed since, else the
    /// comparison is made again here.
    pub fn restore_online(
        &mut self,
        image: &DataTree,
        compared: Option<Compared>,
        wall_ms: i64,
    ) -> Result<(OnlineRestore, Vec<Action>), RestoreRefused> {
        if self.role != Role::Proposer {
            return Err(RestoreRefused::NotLeader);
        }
        let changes = match compared {
            Some(c) if c.zxid == self.last_proposed_zxid && c.zxid == self.last_zxid => c.changes,
            Some(c) if !c.or_in_core => return Err(RestoreRefused::Stale(c.zxid)),
            _ => {
                let mut changes = changes_between(
                    &self.tree,
                    &self.outstanding,
                    self.config.extended_types,
                    image,
                );
                changes.summary.compared_in_core = true;
                changes
            }
        };
        let txns = self.prep_changes(&changes, wall_ms)?;
        let mut summary = changes.summary;
        let mut out = Vec::new();
        for (op, txn) in txns {
            let header = self.next_header(0, 0, op, wall_ms);
            if summary.first_zxid == 0 {
                summary.first_zxid = header.zxid;
            }
            summary.last_zxid = header.zxid;
            summary.txns += 1;
            self.propose(header, txn, &mut out, Completion::Nothing);
        }
        info!(
            txns = summary.txns,
            deleted = summary.deleted,
            created = summary.created,
            data_changed = summary.data_changed,
            acl_changed = summary.acl_changed,
            last_zxid = %format_args!("{:#x}", summary.last_zxid),
            "online restore proposed"
        );
        Ok((summary, out))
    }

    /// Preps every txn of `changes` against the txns in flight and each other, before any is
    /// proposed: a refusal leaves the tree untouched. The ops fill multis up to the log
    /// record limit (a sub-txn's bytes do not depend on the zxid of its multi).
    fn prep_changes(
        &self,
        changes: &Changes,
        wall_ms: i64,
    ) -> Result<Vec<(OpCode, Txn)>, RestoreRefused> {
        let system = Conn::system();
        let prep = Prep {
            tree: &self.tree,
            outstanding: &self.outstanding,
            config: &self.config,
            nulls: Nulls::NONE,
        };
        let mut scratch = self.outstanding.clone();
        let mut zxid = self.last_proposed_zxid + 1;
        let budget = self.config.max_txn_bytes.saturating_sub(TXN_RECORD_EXTRA);
        let mut txns = Vec::new();
        let mut subs: Vec<SubTxn> = Vec::new();
        // A multi txn: the count of its sub-txns, then each one's type, length and bytes.
        let mut size = 4;
        for op in &changes.ops {
            let sub = prep
                .sub_op(&system, op, 0, zxid, &mut scratch)
                .map_err(|code| RestoreRefused::Refused(op.path().to_owned(), code))?;
            let sub_size = 8 + sub.data.len();
            if 4 + sub_size > budget {
                return Err(RestoreRefused::Refused(
                    op.path().to_owned(),
                    ErrorCode::BadArguments,
                ));
            }
            if size + sub_size > budget {
                txns.push((
                    OpCode::Multi,
                    Txn::Multi(MultiTxn {
                        txns: std::mem::take(&mut subs),
                    }),
                ));
                zxid += 1;
                size = 4;
            }
            size += sub_size;
            subs.push(sub);
        }
        if !subs.is_empty() {
            txns.push((OpCode::Multi, Txn::Multi(MultiTxn { txns: subs })));
            zxid += 1;
        }
        for request in &changes.acls {
            let view = Prep {
                outstanding: &scratch,
                ..prep
            };
            let txn = view
                .prep(&system, &RequestBody::SetAcl(request.clone()))
                .map_err(|code| RestoreRefused::Refused(request.path.clone(), code))?;
            scratch.propose(&self.tree, &header_for(zxid, OpCode::SetAcl, wall_ms), &txn);
            zxid += 1;
            txns.push((OpCode::SetAcl, txn));
        }
        debug_assert!(txns.iter().all(|(_, txn)| record_len(txn) <= budget));
        Ok(txns)
    }
}

/// The difference between `tree` (with the txns in flight `outstanding` records) and `image`.
fn changes_between(
    tree: &DataTree,
    outstanding: &Outstanding,
    extended: bool,
    image: &DataTree,
) -> Changes {
    let view = |path: &str| outstanding.node(tree, path);
    let wanted = |path: &str| -> Option<&Node> {
        image.node(path).filter(|n| {
            !matches!(
                OwnerKind::of(n.stat.ephemeral_owner, true),
                OwnerKind::Ephemeral(_)
            )
        })
    };
    // The current paths, parents before children: the committed tree in its own order,
    // then the nodes created by txns in flight, shallow first.
    let mut current: Vec<String> = Vec::with_capacity(tree.node_count());
    let _ = tree.for_each_snapshot_node(|path, _| {
        if !is_system(path) && view(path).is_some() {
            current.push(path.to_owned());
        }
        Ok::<(), ()>(())
    });
    let mut pending: Vec<&str> = outstanding
        .changed_paths()
        .filter(|p| !is_system(p) && tree.node(p).is_none() && view(p).is_some())
        .collect();
    pending.sort_by_key(|p| (p.matches('/').count(), *p));
    current.extend(pending.into_iter().map(str::to_owned));

    let mut changes = Changes::default();
    let mut doomed: HashSet<&str> = HashSet::new();
    for path in &current {
        let node = view(path).expect("listed as present");
        let kind = OwnerKind::of(node.stat().ephemeral_owner, extended);
        let parent_doomed = parent(path).is_some_and(|p| doomed.contains(p));
        let keep = !parent_doomed
            && match (kind, wanted(path)) {
                // A live session's ephemeral stays unless the image has a node there.
                (OwnerKind::Ephemeral(_), want) => want.is_none(),
                (_, Some(want)) => OwnerKind::of(want.stat.ephemeral_owner, true) == kind,
                (_, None) => false,
            };
        if !keep {
            doomed.insert(path);
            continue;
        }
        let Some(want) = wanted(path) else {
            changes.summary.ephemerals_kept += 1;
            continue;
        };
        if node.data() != want.data.as_ref() {
            changes.summary.data_changed += 1;
            changes.ops.push(MultiOp::SetData(SetDataRequest {
                path: path.clone(),
                data: want.data.clone(),
                version: -1,
            }));
        }
        let want_acl = image.acl(want);
        if Outstanding::acl(tree, node) != want_acl {
            changes.summary.acl_changed += 1;
            changes.acls.push(SetAclRequest {
                path: path.clone(),
                acl: Some(want_acl),
                version: -1,
            });
        }
    }
    // Deletes first (children before parents), creates next, the setData ops last.
    let sets = std::mem::take(&mut changes.ops);
    for path in current.iter().rev().filter(|p| doomed.contains(p.as_str())) {
        changes.summary.deleted += 1;
        changes.ops.push(MultiOp::Delete(DeleteRequest {
            path: path.clone(),
            version: -1,
        }));
    }
    let _ = image.for_each_snapshot_node(|path, _| {
        if is_system(path) {
            return Ok::<(), ()>(());
        }
        let Some(want) = wanted(path) else {
            return Ok(());
        };
        if view(path).is_some() && !doomed.contains(path) {
            return Ok(());
        }
        changes.summary.created += 1;
        changes.ops.push(create_op(path, want, image.acl(want)));
        Ok(())
    });
    changes.ops.extend(sets);
    changes
}

fn header_for(zxid: i64, op: OpCode, wall_ms: i64) -> TxnHeader {
    TxnHeader {
        client_id: 0,
        cxid: 0,
        zxid,
        time: wall_ms,
        r#type: op,
    }
}

/// The create of an image node, with its kind (its name already carries any sequence number).
fn create_op(path: &str, node: &Node, acl: Vec<Acl>) -> MultiOp {
    let base = CreateRequest {
        path: path.to_owned(),
        data: node.data.clone(),
        acl: Some(acl),
        flags: CreateMode::Persistent.flags(),
    };
    match OwnerKind::of(node.stat.ephemeral_owner, true) {
        OwnerKind::Container => MultiOp::CreateContainer(CreateRequest {
            flags: CreateMode::Container.flags(),
            ..base
        }),
        OwnerKind::Ttl(ttl) => MultiOp::CreateTtl(CreateTtlRequest {
            path: base.path,
            data: base.data,
            acl: base.acl,
            flags: CreateMode::PersistentWithTtl.flags(),
            ttl,
        }),
        _ => MultiOp::Create(base),
    }
}

fn record_len(txn: &Txn) -> usize {
    let mut buf = Vec::new();
    txn.write(&mut buf);
    buf.len()
}

//! `/zookeeper/snapshots` and `/zookeeper/backups`: read-only nodes that are not in the
//! DataTree. Their children are named by zxid (16 hex digits) and hold a small JSON
//! description: the snapshots in this server's data directory, and the archived snapshots a
//! restore can start from. The runtime refreshes them ([`ServerCore::set_virtual_tree`]).
//!
//! Reads answer as for ordinary nodes (Stat zxids 0, times from the files, ACL world:anyone
//! READ). `/zookeeper` lists them only when backups are configured, so a server without
//! backups lists exactly what Java lists. Creating `/zookeeper/snapshots/now` (ALL on `/`
//! needed) takes a snapshot and answers its name; creating either folder is NODEEXISTS, and
//! other writes get what Java answers for a node that is not there.

use bytes::Bytes;
use zk_proto::data::{Acl, Stat};

use super::*;

/// The snapshots folder.
pub const SNAPSHOTS: &str = "/zookeeper/snapshots";
/// The backups folder.
pub const BACKUPS: &str = "/zookeeper/backups";
/// Creating this takes a snapshot.
pub const SNAPSHOT_NOW: &str = "/zookeeper/snapshots/now";

/// One child of a virtual folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualEntry {
    /// The zxid, the child's name.
    pub zxid: i64,
    /// When it was written, ms since the epoch (ctime and mtime).
    pub time_ms: i64,
    /// JSON.
    pub data: Bytes,
}

/// What the virtual folders hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualTree {
    /// Local snapshots, by zxid.
    pub snapshots: Vec<VirtualEntry>,
    /// Archived snapshots (restore bases), by zxid.
    pub backups: Vec<VirtualEntry>,
    /// `/zookeeper/backups`' own data: a JSON summary of the archive.
    pub backups_data: Bytes,
    /// Backups are configured: `/zookeeper` lists both folders.
    pub listed: bool,
}

/// A virtual node as a read sees it.
pub(super) struct VirtualNode {
    pub data: Bytes,
    pub stat: Stat,
    pub children: Vec<String>,
}

/// Whether `path` is one of the folders or inside them.
pub(super) fn is_virtual(path: &str) -> bool {
    [SNAPSHOTS, BACKUPS].iter().any(|dir| {
        path == *dir
            || path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The ACL of every virtual node.
pub(super) fn virtual_acl() -> Vec<Acl> {
    vec![Acl::new(perms::READ, zk_proto::data::Id::anyone())]
}

fn stat(time_ms: i64, data_len: usize, children: usize) -> Stat {
    Stat {
        ctime: time_ms,
        mtime: time_ms,
        data_length: data_len as i32,
        num_children: children as i32,
        ..Stat::default()
    }
}

impl VirtualTree {
    /// The node at `path`, if there is one.
    pub(super) fn node(&self, path: &str) -> Option<VirtualNode> {
        let (dir, entries, dir_data) = if path.starts_with(SNAPSHOTS) {
            (SNAPSHOTS, &self.snapshots, Bytes::new())
        } else {
            (BACKUPS, &self.backups, self.backups_data.clone())
        };
        if path == dir {
            let children: Vec<String> =
                entries.iter().map(|e| format!("{:016x}", e.zxid)).collect();
            return Some(VirtualNode {
                stat: stat(0, dir_data.len(), children.len()),
                data: dir_data,
                children,
            });
        }
        let name = path.strip_prefix(dir)?.strip_prefix('/')?;
        let entry = entries
            .iter()
            .find(|e| format!("{:016x}", e.zxid) == name)?;
        Some(VirtualNode {
            stat: stat(entry.time_ms, entry.data.len(), 0),
            data: entry.data.clone(),
            children: Vec::new(),
        })
    }
}

/// The error a write gets at `path` when it touches a virtual folder itself (creating one
/// that exists); other writes there find no node in the tree, as in Java.
pub(super) fn write_error(body: &RequestBody) -> Option<ErrorCode> {
    let path = match body {
        RequestBody::Create(r) | RequestBody::Create2(r) | RequestBody::CreateContainer(r) => {
            &r.path
        }
        RequestBody::CreateTtl(r) => &r.path,
        _ => return None,
    };
    (path == SNAPSHOTS || path == BACKUPS).then_some(ErrorCode::NodeExists)
}

/// Whether `body` is the create that takes a snapshot.
pub(super) fn is_snapshot_now(body: &RequestBody) -> bool {
    matches!(body, RequestBody::Create(r) | RequestBody::Create2(r) if r.path == SNAPSHOT_NOW)
}

impl ServerCore {
    /// Replaces what the virtual folders hold.
    pub fn set_virtual_tree(&mut self, tree: VirtualTree) {
        self.virtual_tree = tree;
    }

    /// `create /zookeeper/snapshots/now`: with ALL on `/`, a snapshot of the tree as of now is
    /// asked of the runtime ([`Action::Snapshot`]) and the answer is its name.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn snapshot_now(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        body: RequestBody,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let last = self.last_zxid;
        let root_acl = self
            .tree
            .node("/")
            .map(|n| self.tree.acl(n))
            .unwrap_or_default();
        // Every permission, one at a time: an ACL check of ALL at once passes with any one
        // of them (Java's `(perms & ALL) != 0`, the flaw behind CVE-2025-58457).
        let all = [
            perms::READ,
            perms::WRITE,
            perms::CREATE,
            perms::DELETE,
            perms::ADMIN,
        ];
        if let Some(code) = all
            .iter()
            .find_map(|&perm| self.check_acl(c, &root_acl, perm).err())
        {
            self.reply(out, conn, xid, last, code, None);
            return;
        }
        let path = format!("{SNAPSHOTS}/{last:016x}");
        let time_ms = wall_ms;
        let data = Bytes::from(format!(
            "{{\"zxid\":\"{last:#x}\",\"nodes\":{},\"state\":\"writing\"}}",
            self.tree.node_count()
        ));
        if !self.virtual_tree.snapshots.iter().any(|e| e.zxid == last) {
            self.virtual_tree.snapshots.push(VirtualEntry {
                zxid: last,
                time_ms,
                data: data.clone(),
            });
            self.virtual_tree.snapshots.sort_by_key(|e| e.zxid);
        }
        out.push(Action::Snapshot {
            zxid: last,
            tree: TreeImage(self.tree.clone()),
        });
        let response = match body {
            RequestBody::Create2(_) => ResponseBody::Create2(zk_proto::proto::Create2Response {
                path,
                stat: stat(time_ms, data.len(), 0),
            }),
            _ => ResponseBody::Create(zk_proto::proto::CreateResponse { path }),
        };
        self.reply(out, conn, xid, last, ErrorCode::Ok, Some(response));
    }

    /// A read of a virtual node, answered as for a tree node.
    pub(super) fn virtual_read(
        &mut self,
        conn: ConnId,
        body: &RequestBody,
    ) -> Option<Result<Option<ResponseBody>, ErrorCode>> {
        let path = match body {
            RequestBody::Exists(r) => &r.path,
            RequestBody::GetData(r) => &r.path,
            RequestBody::GetChildren(r) => &r.path,
            RequestBody::GetChildren2(r) => &r.path,
            RequestBody::GetAcl(r) => &r.path,
            _ => return None,
        };
        if !is_virtual(path) {
            return None;
        }
        let Some(node) = self.virtual_tree.node(path) else {
            return Some(Err(ErrorCode::NoNode));
        };
        let answer = match body {
            RequestBody::Exists(r) => {
                if r.watch {
                    self.watches.add_data_watch(&r.path, conn);
                }
                ResponseBody::Exists(zk_proto::proto::ExistsResponse { stat: node.stat })
            }
            RequestBody::GetData(r) => {
                if r.watch {
                    self.watches.add_data_watch(&r.path, conn);
                }
                ResponseBody::GetData(GetDataResponse {
                    data: Some(node.data),
                    stat: node.stat,
                })
            }
            RequestBody::GetChildren(r) => {
                if r.watch {
                    self.watches.add_child_watch(&r.path, conn);
                }
                ResponseBody::GetChildren(GetChildrenResponse {
                    children: node.children,
                })
            }
            RequestBody::GetChildren2(r) => {
                if r.watch {
                    self.watches.add_child_watch(&r.path, conn);
                }
                ResponseBody::GetChildren2(GetChildren2Response {
                    children: node.children,
                    stat: node.stat,
                })
            }
            _ => ResponseBody::GetAcl(GetAclResponse {
                acl: virtual_acl(),
                stat: node.stat,
            }),
        };
        Some(Ok(Some(answer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_children_resolve() {
        let tree = VirtualTree {
            snapshots: vec![VirtualEntry {
                zxid: 0x1f,
                time_ms: 5,
                data: Bytes::from_static(b"{}"),
            }],
            backups: Vec::new(),
            backups_data: Bytes::from_static(b"{\"a\":1}"),
            listed: true,
        };
        assert!(is_virtual("/zookeeper/snapshots") && is_virtual("/zookeeper/backups/x"));
        assert!(!is_virtual("/zookeeper/snapshotsX") && !is_virtual("/zookeeper"));
        let dir = tree.node(SNAPSHOTS).unwrap();
        assert_eq!(dir.children, ["000000000000001f"]);
        assert_eq!(dir.stat.num_children, 1);
        let child = tree.node("/zookeeper/snapshots/000000000000001f").unwrap();
        assert_eq!((child.stat.ctime, child.stat.data_length), (5, 2));
        assert!(tree.node("/zookeeper/snapshots/0000000000000020").is_none());
        assert_eq!(tree.node(BACKUPS).unwrap().data, &b"{\"a\":1}"[..]);
    }
}

//! `zk-backup export`: a subtree as it was at a restore point, as JSON: every node's path,
//! data (base64; absent for Java's null), ACL and Stat, parents before children. The file
//! is what an import into a live server reads (`zk-backup import`, the AdminServer's
//! `/backup/import`).

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::BackupError;
use crate::tree::{DataTree, OwnerKind};

/// The `format` of an export file.
pub const FORMAT: &str = "zk-rs-export/1";

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedNode {
    /// Its path.
    pub path: String,
    /// Its data in base64; `None` for null.
    pub data: Option<String>,
    /// Its ACL as `perms`, `scheme`, `id`.
    pub acl: Vec<(i32, String, String)>,
    /// `persistent`, `ephemeral`, `container` or `ttl` (clients see 0 as the ephemeral owner
    /// of containers and TTL nodes, so the kind is kept here).
    pub kind: String,
    /// A TTL node's TTL, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
    /// Its Stat as clients see it.
    pub stat: ExportedStat,
}

/// A Stat, field by field.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedStat {
    pub czxid: String,
    pub mzxid: String,
    pub pzxid: String,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: String,
    pub num_children: i32,
}

/// The export file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    /// [`FORMAT`].
    pub format: String,
    /// The zxid of the state exported.
    pub zxid: String,
    /// The subtree's root.
    pub root: String,
    /// Its nodes, parents first, children in name order.
    pub nodes: Vec<ExportedNode>,
}

/// The subtree of `tree` at `root`.
pub fn export(tree: &DataTree, root: &str) -> Result<Export, BackupError> {
    if tree.node(root).is_none() {
        return Err(BackupError::Unavailable(format!(
            "{root} does not exist at {:#x}",
            tree.last_processed_zxid()
        )));
    }
    let mut nodes = Vec::new();
    let mut queue = std::collections::VecDeque::from([root.to_owned()]);
    while let Some(path) = queue.pop_front() {
        let node = tree.node(&path).expect("listed by its parent");
        let stat = tree.client_stat(node);
        let mut children: Vec<&str> = node.children().collect();
        children.sort_unstable();
        for child in children {
            queue.push_back(if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            });
        }
        let (kind, ttl_ms) = match OwnerKind::of(node.stat.ephemeral_owner, true) {
            OwnerKind::Persistent => ("persistent", None),
            OwnerKind::Ephemeral(_) => ("ephemeral", None),
            OwnerKind::Container => ("container", None),
            OwnerKind::Ttl(ttl) => ("ttl", Some(ttl)),
        };
        nodes.push(ExportedNode {
            kind: kind.to_owned(),
            ttl_ms,
            data: node
                .data
                .as_ref()
                .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
            acl: tree
                .acl(node)
                .into_iter()
                .map(|a| (a.perms, a.id.scheme, a.id.id))
                .collect(),
            stat: ExportedStat {
                czxid: format!("{:#x}", stat.czxid),
                mzxid: format!("{:#x}", stat.mzxid),
                pzxid: format!("{:#x}", stat.pzxid),
                ctime: stat.ctime,
                mtime: stat.mtime,
                version: stat.version,
                cversion: stat.cversion,
                aversion: stat.aversion,
                ephemeral_owner: format!("{:#x}", stat.ephemeral_owner),
                num_children: stat.num_children,
            },
            path,
        });
    }
    Ok(Export {
        format: FORMAT.to_owned(),
        zxid: format!("{:#x}", tree.last_processed_zxid()),
        root: root.to_owned(),
        nodes,
    })
}

//! Reading a server's whole tree through a client session, and comparing several such reads:
//! [`Ensemble::tree_differences`](crate::Ensemble::tree_differences) uses it to check that
//! every member holds the same data.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::time::Duration;
use zk_client::Client;
use zk_proto::data::{Acl, Stat};

/// Stat fields that are each member's own and not replicated, left out of the comparison: a
/// member writes the configuration node with its own wall clock when it loads its
/// configuration (Java's `ZKDatabase.initConfigInZKDatabase`), so its mtime differs between
/// members of a Java ensemble.
pub const LOCAL_STAT_FIELDS: &[(&str, &str)] = &[("/zookeeper/config", "mtime")];

/// How many nodes are read with requests in flight at once.
const BATCH: usize = 256;

/// One node as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// `getData`'s bytes (empty for null).
    pub data: Bytes,
    /// `getData`'s Stat.
    pub stat: Stat,
    /// `getACL`'s list.
    pub acl: Vec<Acl>,
}

/// Every node of a tree, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSnapshot {
    /// Path to node.
    pub nodes: BTreeMap<String, NodeState>,
}

/// Connects one session to `connect_string` (normally a single server), `sync`s `/` so the
/// server has applied everything its leader committed before, and reads every node
/// breadth-first (data, Stat, ACL and children, with up to [`BATCH`] nodes' requests in flight).
/// Nodes deleted during the walk are skipped.
pub async fn snapshot(connect_string: &str, timeout: Duration) -> io::Result<TreeSnapshot> {
    let within = |what: &'static str| {
        move |_| io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
    };
    let client = tokio::time::timeout(
        timeout,
        Client::builder(connect_string)
            .session_timeout(Duration::from_secs(30))
            .connect(),
    )
    .await
    .map_err(within("connecting"))?
    .map_err(other)?;
    let result = tokio::time::timeout(timeout, walk(&client))
        .await
        .map_err(within("reading the tree"))?;
    let _ = client.close().await;
    result
}

async fn walk(client: &Client) -> io::Result<TreeSnapshot> {
    client.sync("/").await.map_err(other)?;
    let mut tree = TreeSnapshot::default();
    let mut pending = vec!["/".to_owned()];
    while !pending.is_empty() {
        let batch: Vec<String> = pending.drain(..pending.len().min(BATCH)).collect();
        let requests: Vec<_> = batch
            .iter()
            .map(|path| {
                (
                    client.get_data(path),
                    client.get_acl(path),
                    client.get_children(path),
                )
            })
            .collect();
        for (path, (data, acl, children)) in batch.into_iter().zip(requests) {
            let (data, stat) = match data.await {
                Ok(found) => found,
                Err(e) if e == zk_client::ErrorKind::NoNode => continue,
                Err(e) => return Err(other(e)),
            };
            let (acl, children) = match (acl.await, children.await) {
                (Ok((acl, _)), Ok(children)) => (acl, children),
                (Err(e), _) | (_, Err(e)) if e == zk_client::ErrorKind::NoNode => continue,
                (Err(e), _) | (_, Err(e)) => return Err(other(e)),
            };
            for child in children {
                pending.push(if path == "/" {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                });
            }
            tree.nodes.insert(path, NodeState { data, stat, acl });
        }
    }
    Ok(tree)
}

fn other(e: zk_client::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// The differences between named snapshots: every node missing from some of them, and every
/// data, Stat field (except [`LOCAL_STAT_FIELDS`]) or ACL that is not the same everywhere, one
/// line each, in path order. Empty when all snapshots are equal (or there are fewer than two).
pub fn differences(snapshots: &[(String, TreeSnapshot)]) -> Vec<String> {
    let mut out = Vec::new();
    if snapshots.len() < 2 {
        return out;
    }
    let paths: BTreeSet<&String> = snapshots.iter().flat_map(|(_, t)| t.nodes.keys()).collect();
    for path in paths {
        let present: Vec<(&str, &NodeState)> = snapshots
            .iter()
            .filter_map(|(name, t)| t.nodes.get(path).map(|n| (name.as_str(), n)))
            .collect();
        if present.len() < snapshots.len() {
            let names = |has: bool| {
                snapshots
                    .iter()
                    .filter(|(_, t)| t.nodes.contains_key(path) == has)
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(format!(
                "{path}: present on {}, missing on {}",
                names(true),
                names(false)
            ));
        }
        let (first_name, first) = present[0];
        for &(name, node) in &present[1..] {
            if node.data != first.data {
                out.push(format!(
                    "{path}: data {} on {first_name}, {} on {name}",
                    show_data(&first.data),
                    show_data(&node.data)
                ));
            }
            for (field, a, b) in stat_fields(&first.stat, &node.stat) {
                if a != b && !LOCAL_STAT_FIELDS.contains(&(path.as_str(), field)) {
                    out.push(format!(
                        "{path}: stat.{field} {a} on {first_name}, {b} on {name}"
                    ));
                }
            }
            if node.acl != first.acl {
                out.push(format!(
                    "{path}: acl {:?} on {first_name}, {:?} on {name}",
                    first.acl, node.acl
                ));
            }
        }
    }
    out
}

fn stat_fields(a: &Stat, b: &Stat) -> [(&'static str, i64, i64); 11] {
    [
        ("czxid", a.czxid, b.czxid),
        ("mzxid", a.mzxid, b.mzxid),
        ("ctime", a.ctime, b.ctime),
        ("mtime", a.mtime, b.mtime),
        ("version", a.version.into(), b.version.into()),
        ("cversion", a.cversion.into(), b.cversion.into()),
        ("aversion", a.aversion.into(), b.aversion.into()),
        ("ephemeralOwner", a.ephemeral_owner, b.ephemeral_owner),
        ("dataLength", a.data_length.into(), b.data_length.into()),
        ("numChildren", a.num_children.into(), b.num_children.into()),
        ("pzxid", a.pzxid, b.pzxid),
    ]
}

/// Data for a message: its length and up to 32 bytes, lossily as text.
fn show_data(data: &[u8]) -> String {
    let shown = &data[..data.len().min(32)];
    format!(
        "{:?}{} ({} bytes)",
        String::from_utf8_lossy(shown),
        if data.len() > shown.len() { "..." } else { "" },
        data.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::data::Id;

    fn node(data: &str, version: i32) -> NodeState {
        NodeState {
            data: Bytes::copy_from_slice(data.as_bytes()),
            stat: Stat {
                version,
                data_length: data.len() as i32,
                ..Stat::default()
            },
            acl: vec![Acl {
                perms: 31,
                id: Id {
                    scheme: "world".to_owned(),
                    id: "anyone".to_owned(),
                },
            }],
        }
    }

    fn tree(nodes: &[(&str, NodeState)]) -> TreeSnapshot {
        TreeSnapshot {
            nodes: nodes
                .iter()
                .map(|(p, n)| (p.to_string(), n.clone()))
                .collect(),
        }
    }

    #[test]
    fn equal_trees_have_no_differences() {
        let t = tree(&[("/", node("", 0)), ("/a", node("x", 1))]);
        let named = vec![("one".to_owned(), t.clone()), ("two".to_owned(), t)];
        assert_eq!(differences(&named), Vec::<String>::new());
    }

    #[test]
    fn missing_nodes_data_stat_and_acl_are_reported() {
        let a = tree(&[
            ("/", node("", 0)),
            ("/a", node("x", 1)),
            ("/b", node("y", 0)),
        ]);
        let mut other_acl = node("y", 0);
        other_acl.acl[0].perms = 1;
        let b = tree(&[("/", node("", 0)), ("/a", node("xz", 2)), ("/b", other_acl)]);
        let c = tree(&[("/", node("", 0)), ("/b", node("y", 0))]);
        let named = vec![
            ("one".to_owned(), a),
            ("two".to_owned(), b),
            ("three".to_owned(), c),
        ];
        let diffs = differences(&named);
        assert_eq!(
            diffs,
            [
                "/a: present on one, two, missing on three",
                "/a: data \"x\" (1 bytes) on one, \"xz\" (2 bytes) on two",
                "/a: stat.version 1 on one, 2 on two",
                "/a: stat.dataLength 1 on one, 2 on two",
                "/b: acl [Acl { perms: 31, id: Id { scheme: \"world\", id: \"anyone\" } }] on one, \
                 [Acl { perms: 1, id: Id { scheme: \"world\", id: \"anyone\" } }] on two",
            ]
        );
    }
}

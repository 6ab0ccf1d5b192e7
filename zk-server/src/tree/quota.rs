//! Quotas as Java 3.8's DataTree keeps them. A quota on `/app` is a pair of nodes,
//! `/zookeeper/quota/app/zookeeper_limits` (written by clients) and `.../zookeeper_stats` (kept
//! by the server). Creating a limits node makes `/app` a quota root; creating a stats node
//! counts the subtree into it. Every later create, delete and setData under a root changes the
//! nearest root's stats node data in place: no txn, no watch event, its Stat (version, mzxid)
//! unchanged. Loading a snapshot recounts every root whose limits node is a leaf.
//!
//! With `zookeeper.enforceQuota`, prep refuses a create or setData that would pass a hard limit
//! ([`DataTree::check_quota`]) and logs soft limits passed (without one, nothing is checked or
//! logged, as in 3.8). Java logs through a rate limiter that folds repeats of one message within
//! 100 ms; this logs each.
//!
//! Where Java throws out of its apply path (bad stats text, a limits node right under
//! `/zookeeper/quota`, a quota-root path shorter than `/zookeeper/quota` when deleting a limits
//! node), and so stops its server, this logs an error and leaves the stats alone.

use bytes::Bytes;
use imbl::OrdSet;
use tracing::{error, warn};
use zk_proto::quota::{
    limit_path, stat_path, StatsTrack, LIMIT_NODE, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, STAT_NODE,
};
use zk_proto::ErrorCode;

use super::{child_path, DataTree, Node};

/// The quota roots (Java's `PathTrie` of the DataTree). Java matches paths by their non-blank
/// components (`/a/ /b` is `/a/b`), so roots are kept in that form. A persistent set: cloning a
/// [`DataTree`] stays O(1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaRoots {
    roots: OrdSet<String>,
}

/// The components Java's `PathTrie.split` keeps: those with something other than spaces and
/// control characters (what `String.trim` would strip).
fn trie_components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| c.chars().any(|ch| ch > ' '))
}

impl QuotaRoots {
    fn key(path: &str) -> Option<String> {
        let mut key = String::new();
        for component in trie_components(path) {
            key.push('/');
            key.push_str(component);
        }
        (!key.is_empty()).then_some(key)
    }

    /// Makes `path` a quota root (`PathTrie.addPath`). A path without components cannot be
    /// one (Java throws for `""` and marks a trie root nothing ever matches for `/`).
    pub fn add(&mut self, path: &str) {
        match Self::key(path) {
            Some(key) => {
                self.roots.insert(key);
            }
            None => error!(path, "cannot make this path a quota root"),
        }
    }

    /// `path` is no quota root any more (`PathTrie.deletePath`).
    pub fn remove(&mut self, path: &str) {
        if let Some(key) = Self::key(path) {
            self.roots.remove(&key);
        }
    }

    /// The deepest root that is `path` or above it (`getMaxPrefixWithQuota`).
    pub fn max_prefix(&self, path: &str) -> Option<String> {
        if self.roots.is_empty() {
            return None;
        }
        let mut prefix = String::new();
        let mut deepest = None;
        for component in trie_components(path) {
            prefix.push('/');
            prefix.push_str(component);
            if self.roots.contains(&prefix) {
                deepest = Some(prefix.clone());
            }
        }
        deepest
    }
}

/// The parent and the name of a node path.
fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(slash) => (&path[..slash], &path[slash + 1..]),
        None => ("", path),
    }
}

/// `s.substring(from)` in Java's UTF-16 units; `None` where Java would throw.
fn java_substring_from(s: &str, from: usize) -> Option<&str> {
    let mut units = 0;
    for (at, c) in s.char_indices() {
        if units == from {
            return Some(&s[at..]);
        }
        units += c.len_utf16();
    }
    (units == from).then_some("")
}

/// The number of nodes in a subtree (its root included) and the sum of their data lengths.
fn subtree_usage(root: &Node) -> (i64, i64) {
    let (mut count, mut bytes) = (0i64, 0i64);
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
        count += 1;
        bytes += node.data.as_ref().map_or(0, |d| d.len() as i64);
        pending.extend(node.children().filter_map(|name| node.child(name)));
    }
    (count, bytes)
}

/// Why a write would pass a limit: Java's log text, and whether the limit is hard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExcess {
    /// `Quota exceeded: /app [current count=4, softCountLimit=3]`.
    pub message: String,
    /// A hard limit: the write is refused.
    pub hard: bool,
}

/// `ZooKeeperServer.checkQuota` once both nodes are read: the count limit first, then the
/// bytes limit; a hard limit set (> -1) replaces the soft one. Returns the limits passed, up to
/// the first hard one.
pub fn quota_excesses(
    root: &str,
    limits: &StatsTrack,
    stats: &StatsTrack,
    bytes_diff: i64,
    count_diff: i64,
) -> Vec<QuotaExcess> {
    let checks = [
        (
            "count",
            "Count",
            count_diff,
            stats.count(),
            limits.count(),
            limits.count_hard_limit(),
        ),
        (
            "bytes",
            "Byte",
            bytes_diff,
            stats.bytes(),
            limits.bytes(),
            limits.byte_hard_limit(),
        ),
    ];
    let mut out = Vec::new();
    for (used, limit_name, diff, current, soft, hard) in checks {
        if diff == 0 || (soft <= -1 && hard <= -1) {
            continue;
        }
        let new = current.wrapping_add(diff);
        let is_hard = hard > -1;
        let limit = if is_hard { hard } else { soft };
        if new > limit {
            let kind = if is_hard { "hard" } else { "soft" };
            out.push(QuotaExcess {
                message: format!(
                    "Quota exceeded: {root} [current {used}={new}, {kind}{limit_name}Limit={limit}]"
                ),
                hard: is_hard,
            });
            if is_hard {
                break;
            }
        }
    }
    out
}

impl DataTree {
    /// After a create (the tail of Java's `createNode`): a limits node makes a root, a stats
    /// node gets its subtree counted, and the nearest root above `path` counts the node.
    pub(super) fn quota_created(&mut self, path: &str, data_len: usize) {
        let (parent, name) = split_path(path);
        if let Some(real) = parent.strip_prefix(QUOTA_ZOOKEEPER) {
            if name == LIMIT_NODE {
                self.quotas.add(real);
            }
            if name == STAT_NODE {
                self.recount_quota(real);
            }
        }
        self.charge_quota(path, data_len as i64, 1);
    }

    /// After a delete: a limits node's root goes, and the nearest root above `path` stops
    /// counting the node (`data_len` is the data it had).
    pub(super) fn quota_deleted(&mut self, path: &str, data_len: usize) {
        let (parent, name) = split_path(path);
        // Java tests "/zookeeper" but cuts "/zookeeper/quota" off.
        if parent.starts_with(PROC_ZOOKEEPER) && name == LIMIT_NODE {
            match java_substring_from(parent, QUOTA_ZOOKEEPER.len()) {
                Some(real) if !real.is_empty() => self.quotas.remove(real),
                _ => error!(path, "deleted a quota limits node that names no quota root"),
            }
        }
        self.charge_quota(path, -(data_len as i64), -1);
    }

    /// After a setData that changed the data length from `old_len` to `new_len`.
    pub(super) fn quota_data_changed(&mut self, path: &str, old_len: usize, new_len: usize) {
        self.charge_quota(path, new_len as i64 - old_len as i64, 0);
    }

    /// Java's `updateQuotaStat`: adds to the stats of the root `path` is under, in place.
    fn charge_quota(&mut self, path: &str, bytes_diff: i64, count_diff: i64) {
        let Some(root) = self.quotas.max_prefix(path) else {
            return;
        };
        let stats_path = stat_path(&root);
        let Some(node) = self.node(&stats_path) else {
            error!("Missing node for stat {stats_path}");
            return;
        };
        let mut stats = match StatsTrack::parse(node.data.as_deref()) {
            Ok(stats) => stats,
            Err(e) => {
                error!(path = %stats_path, error = %e, "quota stats not updated");
                return;
            }
        };
        stats.set_count(stats.count().wrapping_add(count_diff));
        stats.set_bytes(stats.bytes().wrapping_add(bytes_diff));
        self.write_quota_stats(&stats_path, &stats);
    }

    /// Java's `updateQuotaForPath`: counts the subtree at `real_path` (none: 0 and 0) into its
    /// stats node, keeping only `count` and `bytes`.
    fn recount_quota(&mut self, real_path: &str) {
        let (count, bytes) = self.node(real_path).map_or((0, 0), subtree_usage);
        let stats_path = stat_path(real_path);
        if self.node(&stats_path).is_none() {
            warn!("Missing quota stat node {stats_path}");
            return;
        }
        let mut stats = StatsTrack::new();
        stats.set_bytes(bytes);
        stats.set_count(count);
        self.write_quota_stats(&stats_path, &stats);
    }

    /// Replaces a stats node's data and nothing else (the digest leaves `/zookeeper/` out).
    fn write_quota_stats(&mut self, stats_path: &str, stats: &StatsTrack) {
        let data = Bytes::from(stats.to_string());
        self.update(stats_path, |node| node.data = Some(data));
    }

    /// Java's `setupQuota` after a snapshot load: every leaf limits node under
    /// `/zookeeper/quota` makes its root again, and the root's subtree is counted afresh.
    pub(super) fn setup_quota(&mut self) {
        let Some(quota) = self.node(QUOTA_ZOOKEEPER) else {
            return;
        };
        let suffix = format!("/{LIMIT_NODE}");
        let mut leaves = Vec::new();
        let mut pending = vec![(QUOTA_ZOOKEEPER.to_owned(), quota)];
        while let Some((path, node)) = pending.pop() {
            if node.child_count() == 0 {
                if path.ends_with(&suffix) {
                    leaves.push(path);
                }
                continue;
            }
            for name in node.children() {
                if let Some(child) = node.child(name) {
                    pending.push((child_path(&path, name), child));
                }
            }
        }
        for path in leaves {
            let end = path.find(&suffix).expect("ends with it");
            let real = &path[QUOTA_ZOOKEEPER.len()..end];
            if real.is_empty() {
                // Java fails the whole load here.
                error!(
                    path,
                    "a quota limits node right under /zookeeper/quota; ignored"
                );
                continue;
            }
            let real = real.to_owned();
            self.recount_quota(&real);
            self.quotas.add(&real);
        }
    }

    /// `ZooKeeperServer.checkQuota` for a create (`count_diff` 1) or setData (0) at `path`
    /// adding `bytes_diff` bytes, against this (committed) tree: soft limits passed are
    /// logged, a hard one refuses the write with QUOTAEXCEEDED. Unreadable quota text fails
    /// the request with MARSHALLINGERROR, as Java's prep does on any unexpected exception.
    pub fn check_quota(
        &self,
        path: &str,
        bytes_diff: i64,
        count_diff: i64,
    ) -> Result<(), ErrorCode> {
        let Some(root) = self.quotas.max_prefix(path) else {
            return Ok(());
        };
        let read = |node_path: &str, what: &str| -> Result<Option<StatsTrack>, ErrorCode> {
            let Some(node) = self.node(node_path) else {
                error!("Missing {what} {node_path}");
                return Ok(None);
            };
            StatsTrack::parse(node.data.as_deref())
                .map(Some)
                .map_err(|e| {
                    error!(path = node_path, error = %e, "cannot read a quota node");
                    ErrorCode::MarshallingError
                })
        };
        let Some(limits) = read(&limit_path(&root), "limit node for quota")? else {
            return Ok(());
        };
        let counts = count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
        let bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
        if !counts && !bytes {
            return Ok(());
        }
        let Some(stats) = read(&stat_path(&root), "node for stat")? else {
            return Ok(());
        };
        for excess in quota_excesses(&root, &limits, &stats, bytes_diff, count_diff) {
            warn!("{}", excess.message);
            if excess.hard {
                return Err(ErrorCode::QuotaExceeded);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::data::Acl;
    use zk_proto::storage::SnapshotData;
    use zk_proto::txn::{CreateTxn, DeleteTxn, SetDataTxn, Txn, TxnHeader};
    use zk_proto::OpCode;

    /// A tree and the next zxid, driven by txns as the log would.
    struct Log {
        tree: DataTree,
        zxid: i64,
    }

    impl Log {
        fn new() -> Log {
            Log {
                tree: DataTree::new(false),
                zxid: 0,
            }
        }

        fn apply(&mut self, op: OpCode, txn: Txn) -> ErrorCode {
            self.zxid += 1;
            let header = TxnHeader {
                client_id: 7,
                cxid: 0,
                zxid: self.zxid,
                time: 0,
                r#type: op,
            };
            self.tree.apply(&header, &txn).err
        }

        fn create(&mut self, path: &str, data: &str) {
            let txn = Txn::Create(CreateTxn {
                path: path.into(),
                data: Some(Bytes::copy_from_slice(data.as_bytes())),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            assert_eq!(self.apply(OpCode::Create, txn), ErrorCode::Ok, "{path}");
        }

        fn set(&mut self, path: &str, data: &str) {
            let txn = Txn::SetData(SetDataTxn {
                path: path.into(),
                data: Some(Bytes::copy_from_slice(data.as_bytes())),
                version: 1,
            });
            assert_eq!(self.apply(OpCode::SetData, txn), ErrorCode::Ok, "{path}");
        }

        fn delete(&mut self, path: &str) {
            let txn = Txn::Delete(DeleteTxn { path: path.into() });
            assert_eq!(self.apply(OpCode::Delete, txn), ErrorCode::Ok, "{path}");
        }

        /// What zkCli's `setquota` creates for a quota on `/a/...`-style `path`.
        fn set_quota(&mut self, path: &str, limits: &str) {
            let mut quota = QUOTA_ZOOKEEPER.to_owned();
            for part in path.split('/').skip(1) {
                quota = format!("{quota}/{part}");
                if self.tree.node(&quota).is_none() {
                    self.create(&quota, "");
                }
            }
            self.create(&limit_path(path), limits);
            self.create(&stat_path(path), "count=0,bytes=0");
        }

        fn text(&self, path: &str) -> String {
            let node = self.tree.node(path).expect(path);
            String::from_utf8_lossy(node.data.as_deref().unwrap_or_default()).into_owned()
        }

        fn stats(&self, root: &str) -> String {
            self.text(&stat_path(root))
        }
    }

    fn reload(tree: &DataTree) -> DataTree {
        let snapshot: SnapshotData = tree.to_snapshot();
        DataTree::from_snapshot(&snapshot, false).unwrap()
    }

    #[test]
    fn roots_match_by_java_components() {
        let mut roots = QuotaRoots::default();
        assert_eq!(roots.max_prefix("/a"), None);
        roots.add("/a");
        roots.add("/a/b/c");
        roots.add("/x/ /y");
        assert_eq!(roots.max_prefix("/a").as_deref(), Some("/a"));
        assert_eq!(roots.max_prefix("/a/b").as_deref(), Some("/a"));
        assert_eq!(roots.max_prefix("/a/b/c/d").as_deref(), Some("/a/b/c"));
        assert_eq!(roots.max_prefix("/ab"), None);
        assert_eq!(roots.max_prefix("/"), None);
        // Blank components do not count, on either side.
        assert_eq!(roots.max_prefix("/x/y/z").as_deref(), Some("/x/y"));
        assert_eq!(roots.max_prefix("/a/  /b/c").as_deref(), Some("/a/b/c"));
        roots.remove("/a/b/c");
        assert_eq!(roots.max_prefix("/a/b/c/d").as_deref(), Some("/a"));
        roots.remove("/nothing");
        roots.add("/");
        roots.add("");
        assert_eq!(roots.max_prefix("/q"), None);
    }

    #[test]
    fn excesses_follow_check_quota() {
        let limits = StatsTrack::parse(Some(b"count=3,bytes=10=;countHardLimit=-1")).unwrap();
        let stats = StatsTrack::parse(Some(b"count=3,bytes=9")).unwrap();
        let soft = quota_excesses("/a", &limits, &stats, 2, 1);
        assert_eq!(
            soft.iter()
                .map(|e| (e.message.as_str(), e.hard))
                .collect::<Vec<_>>(),
            [
                (
                    "Quota exceeded: /a [current count=4, softCountLimit=3]",
                    false
                ),
                (
                    "Quota exceeded: /a [current bytes=11, softByteLimit=10]",
                    false
                ),
            ]
        );
        // A zero diff checks nothing; at the limit is not past it.
        assert!(quota_excesses("/a", &limits, &stats, 0, 0).is_empty());
        assert!(quota_excesses("/a", &limits, &stats, 1, 0).is_empty());
        // A hard count limit replaces the soft one and stops before the bytes.
        let hard = StatsTrack::parse(Some(b"count=1,bytes=0=;countHardLimit=3")).unwrap();
        let out = quota_excesses("/a", &hard, &stats, 5, 1);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].message,
            "Quota exceeded: /a [current count=4, hardCountLimit=3]"
        );
        assert!(out[0].hard);
        let bytes_only = StatsTrack::parse(Some(b"count=-1,bytes=-1=;byteHardLimit=9")).unwrap();
        let out = quota_excesses("/a", &bytes_only, &stats, 1, 1);
        assert_eq!(
            out[0].message,
            "Quota exceeded: /a [current bytes=10, hardByteLimit=9]"
        );
    }

    #[test]
    fn stats_follow_creates_deletes_and_set_data_in_place() {
        let mut log = Log::new();
        log.create("/a", "x");
        log.create("/a/b", "yy");
        log.create("/ab", "not under /a");
        log.set_quota("/a", "count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
        // The stats node is counted when it is created, whatever data it came with.
        assert_eq!(log.stats("/a"), "count=2,bytes=3");
        let stats_path = stat_path("/a");
        let stat_before = log.tree.node(&stats_path).unwrap().stat.clone();
        log.create("/a/b/c", "zzz");
        log.set("/a/b", "");
        log.create("/ab/d", "elsewhere");
        assert_eq!(log.stats("/a"), "count=3,bytes=4");
        log.delete("/a/b/c");
        assert_eq!(log.stats("/a"), "count=2,bytes=1");
        // In place: no version or zxid change, and the digest leaves /zookeeper/ out.
        let node = log.tree.node(&stats_path).unwrap();
        assert_eq!(node.stat, stat_before);
        assert_eq!(log.tree.to_snapshot().tree_digest(), log.tree.digest());
        // Once the limits node is gone, nothing is counted any more.
        log.delete(&limit_path("/a"));
        log.create("/a/e", "eeee");
        assert_eq!(log.stats("/a"), "count=2,bytes=1");
    }

    #[test]
    fn nested_roots_charge_the_deepest_and_extra_keys_survive_updates() {
        let mut log = Log::new();
        log.create("/a", "");
        log.create("/a/b", "12");
        log.set_quota("/a", "count=10,bytes=-1");
        log.set_quota("/a/b", "count=10,bytes=-1");
        // /a was counted before /a/b's quota nodes existed under /zookeeper: they are not
        // under /a, so /a counts 2 nodes.
        assert_eq!(log.stats("/a"), "count=2,bytes=2");
        assert_eq!(log.stats("/a/b"), "count=1,bytes=2");
        log.create("/a/b/c", "3");
        log.create("/a/d", "4");
        assert_eq!(log.stats("/a/b"), "count=2,bytes=3");
        assert_eq!(log.stats("/a"), "count=3,bytes=3");
        // A client may write the stats node; updates start from what it wrote.
        log.set(&stat_path("/a"), "count=100,bytes=0;note=1");
        log.create("/a/f", "");
        assert_eq!(log.stats("/a"), "count=101,bytes=0=;note=1");
    }

    #[test]
    fn a_snapshot_load_recounts_leaf_limits_nodes() {
        let mut log = Log::new();
        log.create("/a", "abc");
        log.create("/q", "");
        log.set_quota("/a", "count=5,bytes=-1");
        log.set_quota("/q", "count=5,bytes=-1");
        // /q's limits node gets a child: it is no leaf, so a load ignores it.
        log.create(&format!("{}/x", limit_path("/q")), "");
        log.set(&stat_path("/a"), "count=100,bytes=100;note=1");
        log.set(&stat_path("/q"), "count=7,bytes=7");
        let mut loaded = Log {
            tree: reload(&log.tree),
            zxid: log.zxid,
        };
        assert_eq!(loaded.stats("/a"), "count=1,bytes=3");
        assert_eq!(loaded.stats("/q"), "count=7,bytes=7");
        loaded.create("/a/b", "1");
        loaded.create("/q/b", "1");
        assert_eq!(loaded.stats("/a"), "count=2,bytes=4");
        assert_eq!(loaded.stats("/q"), "count=7,bytes=7");
        // Live, /q still counts.
        log.create("/q/b", "1");
        assert_eq!(log.stats("/q"), "count=8,bytes=8");
    }

    #[test]
    fn check_quota_reads_the_limits_as_java_does() {
        let mut log = Log::new();
        log.create("/a", "12345");
        log.set_quota("/a", "count=1,bytes=-1=;byteHardLimit=8;countHardLimit=2");
        let tree = &log.tree;
        assert_eq!(tree.check_quota("/a/b", 3, 1), Ok(()));
        assert_eq!(
            tree.check_quota("/a/b", 4, 1),
            Err(ErrorCode::QuotaExceeded)
        );
        assert_eq!(tree.check_quota("/a", 4, 0), Err(ErrorCode::QuotaExceeded));
        assert_eq!(tree.check_quota("/b", 100, 1), Ok(()));
        log.create("/a/b", "");
        assert_eq!(
            log.tree.check_quota("/a/c", 0, 1),
            Err(ErrorCode::QuotaExceeded)
        );
        // Deleting never checks; a shrinking setData passes.
        assert_eq!(log.tree.check_quota("/a", -5, 0), Ok(()));
        // Unreadable limits fail the request; unreadable stats only when they are needed.
        log.set(&limit_path("/a"), "count=");
        assert_eq!(
            log.tree.check_quota("/a/c", 0, 1),
            Err(ErrorCode::MarshallingError)
        );
        log.set(&limit_path("/a"), "count=-1,bytes=-1=;byteHardLimit=8");
        log.set(&stat_path("/a"), "bad");
        assert_eq!(log.tree.check_quota("/a/c", 0, 1), Ok(()));
        assert_eq!(
            log.tree.check_quota("/a/c", 1, 1),
            Err(ErrorCode::MarshallingError)
        );
        // Without a stats node (or limits node) there is nothing to check.
        log.delete(&stat_path("/a"));
        assert_eq!(log.tree.check_quota("/a/c", 100, 1), Ok(()));
    }

    #[test]
    fn what_stops_java_leaves_the_tree_consistent_here() {
        let mut log = Log::new();
        // A limits node right under /zookeeper/quota (Java throws adding "" to its trie), a
        // stats node there (counts the whole tree, as Java does).
        log.create(&limit_path(""), "count=1,bytes=1");
        log.create(&stat_path(""), "");
        let count = log.tree.node_count();
        assert_eq!(log.stats(""), format!("count={count},bytes=15"));
        // Stats text Java cannot parse: the update is skipped.
        log.create("/a", "");
        log.set_quota("/a", "count=1,bytes=1");
        log.set(&stat_path("/a"), "garbage");
        log.create("/a/b", "x");
        assert_eq!(log.stats("/a"), "garbage");
        // Limits nodes outside /zookeeper/quota: /zookeeperfoo is shorter than the prefix
        // Java cuts off (it throws); deleting /zookeeperXYZ123456/zookeeper_limits ends the
        // quota on /456 (Java cuts 16 characters: "456" is left, a trie path like "/456").
        log.create("/zookeeperfoo", "");
        log.create("/zookeeperfoo/zookeeper_limits", "");
        log.delete("/zookeeperfoo/zookeeper_limits");
        log.create("/456", "");
        log.set_quota("/456", "count=1,bytes=1");
        log.create("/zookeeperXYZ123456", "");
        log.create("/zookeeperXYZ123456/zookeeper_limits", "");
        log.delete("/zookeeperXYZ123456/zookeeper_limits");
        log.create("/456/x", "");
        assert_eq!(log.stats("/456"), "count=1,bytes=0");
        let loaded = reload(&log.tree);
        assert_eq!(loaded.node_count(), log.tree.node_count());
    }

    #[test]
    fn java_substring_counts_utf16_units() {
        assert_eq!(java_substring_from("/zookeeper/quota/a", 16), Some("/a"));
        assert_eq!(java_substring_from("/zookeeper/quota", 16), Some(""));
        assert_eq!(java_substring_from("/zookeeperfoo", 16), None);
        assert_eq!(java_substring_from("a\u{1f600}b", 3), Some("b"));
        assert_eq!(java_substring_from("a\u{1f600}b", 2), None);
    }
}

//! Quota nodes as ZooKeeper 3.8 lays them out: the quota of `/app` lives in
//! `/zookeeper/quota/app/zookeeper_limits` and its usage in `/zookeeper/quota/app/zookeeper_stats`,
//! both as the text of Java's `StatsTrack` (`count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1`).
//! The server keeps the stats node up to date; clients (`zkCli`'s `setquota`) write the limits.
//!
//! ```
//! use zk_proto::quota::{limit_path, StatsTrack};
//! assert_eq!(limit_path("/app"), "/zookeeper/quota/app/zookeeper_limits");
//! let mut limits = StatsTrack::parse(Some(b"count=3,bytes=-1")).unwrap();
//! limits.set_count_hard_limit(10);
//! assert_eq!(limits.to_string(), "count=3,bytes=-1=;countHardLimit=10");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::DecodeError;

/// The node under which ZooKeeper keeps its own nodes.
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
/// The root of the quota nodes (Java's `Quotas.quotaZookeeper`).
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
/// The name of the node holding a subtree's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The name of the node holding a subtree's usage.
pub const STAT_NODE: &str = "zookeeper_stats";

/// `/zookeeper/quota` + `path` (Java's `Quotas.quotaPath`; no separator is added).
pub fn quota_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}")
}

/// The limits node of the quota on `path`.
pub fn limit_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{LIMIT_NODE}")
}

/// The stats node of the quota on `path`.
pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{STAT_NODE}")
}

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD_LIMIT: &str = "countHardLimit";
const BYTE_HARD_LIMIT: &str = "byteHardLimit";

/// Java's `StatsTrack`: named numbers, written `count=C,bytes=B` and, when there are other
/// keys, `=` and `;key=value` for each in Java string order (the form 3.4 parsers still read).
/// A key that is absent reads as -1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// No values (every getter answers -1).
    pub fn new() -> Self {
        StatsTrack::default()
    }

    /// Reads node data as Java's `new StatsTrack(byte[])` does: pairs `key=value` separated by
    /// runs of `,` or `;`; a value after a doubled `=` (`count==5`) is -1; later keys win.
    /// Fails where Java throws: null data, a pair without a value (`count=`, `count`, or a
    /// leading separator), a value that is not a decimal `long` (only ASCII digits are taken,
    /// where Java's `Long.parseLong` also takes other Unicode digits).
    pub fn parse(data: Option<&[u8]>) -> Result<Self, DecodeError> {
        let what = "quota stats";
        let data = data.ok_or_else(|| DecodeError::invalid(what, "null data"))?;
        let text = String::from_utf8_lossy(data);
        let mut stats = StatsTrack::new();
        if text.is_empty() {
            return Ok(stats);
        }
        for pair in java_split(&text, |c| c == ',' || c == ';', true) {
            let kv = java_split(pair, |c| c == '=', false);
            let (Some(key), Some(value)) = (kv.first(), kv.get(1)) else {
                return Err(DecodeError::invalid(what, format!("no value in {pair:?}")));
            };
            let value = if value.is_empty() {
                -1
            } else {
                value
                    .parse()
                    .map_err(|_| DecodeError::invalid(what, format!("{value:?} is not a long")))?
            };
            stats.values.insert((*key).to_owned(), value);
        }
        Ok(stats)
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    fn set(&mut self, key: &str, value: i64) {
        self.values.insert(key.to_owned(), value);
    }

    /// `count`: nodes (in a stats node) or the soft node limit (in a limits node).
    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }

    /// Sets `count`.
    pub fn set_count(&mut self, count: i64) {
        self.set(COUNT, count);
    }

    /// `bytes`: data bytes, or the soft byte limit.
    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }

    /// Sets `bytes`.
    pub fn set_bytes(&mut self, bytes: i64) {
        self.set(BYTES, bytes);
    }

    /// `countHardLimit`: the node limit enforced with `zookeeper.enforceQuota`.
    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD_LIMIT)
    }

    /// Sets `countHardLimit`.
    pub fn set_count_hard_limit(&mut self, count: i64) {
        self.set(COUNT_HARD_LIMIT, count);
    }

    /// `byteHardLimit`: the byte limit enforced with `zookeeper.enforceQuota`.
    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTE_HARD_LIMIT)
    }

    /// Sets `byteHardLimit`.
    pub fn set_byte_hard_limit(&mut self, bytes: i64) {
        self.set(BYTE_HARD_LIMIT, bytes);
    }
}

/// Java's `StatsTrack.toString`, the bytes a quota node holds.
impl fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COUNT}={},{BYTES}={}", self.count(), self.bytes())?;
        let mut others: Vec<(&String, &i64)> = self
            .values
            .iter()
            .filter(|(k, _)| *k != COUNT && *k != BYTES)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        // Java sorts the keys as strings: by UTF-16 units.
        others.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
        f.write_str("=")?;
        for (key, value) in others {
            write!(f, ";{key}={value}")?;
        }
        Ok(())
    }
}

/// Java's `String.split(regex)` for a one-character class (`merge_runs`: the class with `+`):
/// no match gives the input itself; trailing empty parts are dropped.
fn java_split(text: &str, is_separator: impl Fn(char) -> bool, merge_runs: bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut matched = false;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if !is_separator(c) {
            continue;
        }
        matched = true;
        parts.push(&text[start..at]);
        let mut end = at + c.len_utf8();
        if merge_runs {
            while let Some(&(next, d)) = chars.peek().filter(|&&(_, d)| is_separator(d)) {
                end = next + d.len_utf8();
                chars.next();
            }
        }
        start = end;
    }
    if !matched {
        return vec![text];
    }
    parts.push(&text[start..]);
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StatsTrack, DecodeError> {
        StatsTrack::parse(Some(text.as_bytes()))
    }

    #[test]
    fn the_texts_java_writes() {
        // What zkCli's setquota -n 3 writes: every key set, the soft count given.
        let mut limits = StatsTrack::new();
        limits.set_count(3);
        limits.set_bytes(-1);
        limits.set_count_hard_limit(-1);
        limits.set_byte_hard_limit(-1);
        assert_eq!(
            limits.to_string(),
            "count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        assert_eq!(parse(&limits.to_string()).unwrap(), limits);
        let mut stats = StatsTrack::new();
        stats.set_count(2);
        stats.set_bytes(3);
        assert_eq!(stats.to_string(), "count=2,bytes=3");
        assert_eq!(StatsTrack::new().to_string(), "count=-1,bytes=-1");
    }

    #[test]
    fn parses_like_java() {
        let s = parse("count=4,bytes=5=;countHardLimit=10;byteHardLimit=7").unwrap();
        assert_eq!(
            (
                s.count(),
                s.bytes(),
                s.count_hard_limit(),
                s.byte_hard_limit()
            ),
            (4, 5, 10, 7)
        );
        // Runs of separators are one; an empty text has nothing; absent keys are -1.
        let s = parse("count=1,;,bytes=+2").unwrap();
        assert_eq!((s.count(), s.bytes(), s.count_hard_limit()), (1, 2, -1));
        assert_eq!(parse("").unwrap(), StatsTrack::new());
        assert_eq!(parse(",;").unwrap(), StatsTrack::new());
        // A doubled '=' leaves an empty value: -1. Later keys win. Unknown keys are kept, in
        // Java's order.
        let s = parse("count==5,count=7,zeta=1,Alpha=2").unwrap();
        assert_eq!(s.count(), 7);
        assert_eq!(s.to_string(), "count=7,bytes=-1=;Alpha=2;zeta=1");
        assert_eq!(parse("count==5").unwrap().count(), -1);
        assert_eq!(parse("=5").unwrap().to_string(), "count=-1,bytes=-1=;=5");
        // UTF-16 order puts a surrogate pair before U+FFFD (UTF-8 order would not).
        let s = parse("count=1;b\u{e9}=1;b\u{1f600}=2;b\u{fffd}=3").unwrap();
        assert_eq!(
            s.to_string(),
            "count=1,bytes=-1=;b\u{e9}=1;b\u{1f600}=2;b\u{fffd}=3"
        );
    }

    #[test]
    fn fails_where_java_throws() {
        // " count=1 ": the value "1 " is no long (nothing is trimmed).
        for bad in [
            "count=",
            "count",
            ",count=1",
            "=",
            "count=x",
            "count=1.5",
            "a=b=c",
            " count=1 ",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(StatsTrack::parse(None).is_err());
        assert!(parse("count=99999999999999999999").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(quota_path("/a/b"), "/zookeeper/quota/a/b");
        assert_eq!(stat_path("/a"), "/zookeeper/quota/a/zookeeper_stats");
        assert_eq!(limit_path("/a"), "/zookeeper/quota/a/zookeeper_limits");
    }

    #[test]
    fn java_split_rules() {
        let comma = |c| c == ',';
        assert_eq!(java_split("a,b", comma, false), ["a", "b"]);
        assert_eq!(java_split("a,,b,,", comma, false), ["a", "", "b"]);
        assert_eq!(java_split("a,,b,,", comma, true), ["a", "b"]);
        assert_eq!(java_split(",a", comma, true), ["", "a"]);
        assert_eq!(java_split("", comma, true), [""]);
        assert!(java_split(",,", comma, false).is_empty());
    }
}

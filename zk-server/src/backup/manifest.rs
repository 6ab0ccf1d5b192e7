//! The archive's layout: object names, and the manifest written beside each object.
//!
//! ```text
//! logs/<first zxid>-<last zxid>.log.lz4   committed txns, a Java txn log file, LZ4 frame
//! logs/<first zxid>.json                  its manifest (the commit point)
//! snapshots/<zxid>.snap.lz4               a snapshot stream, LZ4 frame (zk-server's .lz4 file)
//! snapshots/<zxid>.json                   its manifest
//! ```
//!
//! zxids in names are 16 hex digits, so names sort as zxids do. An object counts only once its
//! manifest exists: the manifest is written after the object, and with create-if-absent, so of
//! two archivers starting a segment at the same zxid (an old leader that has not noticed it
//! lost, and the new one) only one wins and the other re-reads the catalogue.

use serde::{Deserialize, Serialize};

/// The `format` of every manifest this version writes.
pub const FORMAT: &str = "zk-rs-backup/1";

/// The folder of log segments.
pub const LOGS: &str = "logs";
/// The folder of snapshots.
pub const SNAPSHOTS: &str = "snapshots";

/// What an archived object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// Committed txns in zxid order: a Java txn log file (header and records, no padding).
    Log,
    /// A snapshot stream as Java writes it, of the tree exactly at its zxid.
    Snapshot,
}

/// How an object's bytes are encrypted (absent: they are not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// The AEAD cipher.
    pub cipher: String,
    /// Which key: the first 16 hex digits of the key's SHA-256.
    pub key_id: String,
}

/// What is known of one archived object, written as JSON beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Log segment or snapshot.
    pub kind: ObjectKind,
    /// The data object's name, relative to the target.
    pub object: String,
    /// The first txn's zxid (a snapshot: its zxid).
    #[serde(with = "zxid_hex")]
    pub first_zxid: i64,
    /// The last txn's zxid (a snapshot: its zxid).
    #[serde(with = "zxid_hex")]
    pub last_zxid: i64,
    /// Txns in a segment (0 for a snapshot).
    pub txns: u64,
    /// The first txn's time, ms since the epoch (a snapshot: the time of the txn at its zxid
    /// when known, else when it was written).
    pub first_time_ms: i64,
    /// The last txn's time.
    pub last_time_ms: i64,
    /// The latest txn time in the segment (txn times come from leaders' clocks and may step
    /// back); finding a time's zxid reads only segments that reach past it.
    pub max_time_ms: i64,
    /// Nodes in a snapshot's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    /// A snapshot's tree digest (Java's, as in its digest section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<i64>,
    /// A snapshot that starts a history of its own (a server restored from an archive): no
    /// chain of segments continues into its epoch from before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebase: bool,
    /// Bytes before compression and encryption.
    pub raw_bytes: u64,
    /// Bytes of the stored object.
    pub stored_bytes: u64,
    /// SHA-256 of the stored object, hex.
    pub sha256: String,
    /// `lz4` (an LZ4 frame).
    pub compression: String,
    /// Present when the object is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The `myid` of the server that archived it (0 standalone).
    pub server_id: i64,
    /// When it was archived, ms since the epoch.
    pub created_ms: i64,
}

impl Manifest {
    /// The manifest's own name.
    pub fn name(&self) -> String {
        manifest_name(self.kind, self.first_zxid)
    }

    /// Whether `zxid` is inside this object's range.
    pub fn covers(&self, zxid: i64) -> bool {
        self.first_zxid <= zxid && zxid <= self.last_zxid
    }
}

/// The name of the manifest of a segment starting at `first_zxid`, or of a snapshot.
pub fn manifest_name(kind: ObjectKind, first_zxid: i64) -> String {
    match kind {
        ObjectKind::Log => format!("{LOGS}/{first_zxid:016x}.json"),
        ObjectKind::Snapshot => format!("{SNAPSHOTS}/{first_zxid:016x}.json"),
    }
}

/// The data object's name for a segment.
pub fn segment_name(first_zxid: i64, last_zxid: i64) -> String {
    format!("{LOGS}/{first_zxid:016x}-{last_zxid:016x}.log.lz4")
}

/// The data object's name for a snapshot.
pub fn snapshot_name(zxid: i64) -> String {
    format!("{SNAPSHOTS}/{zxid:016x}.snap.lz4")
}

/// Whether `next` can come right after `prev` in a committed history: the next counter in the
/// same epoch, or the first txn (counter 1) of a later epoch (a new leader's, or a restore's).
pub fn follows(prev: i64, next: i64) -> bool {
    next == prev + 1 || ((next >> 32) > (prev >> 32) && next & 0xffff_ffff == 1)
}

/// zxids as `"0x..."` strings: readable, and exact in JavaScript too.
pub(crate) mod zxid_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(zxid: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{zxid:#x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_zxid(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("bad zxid {text:?}")))
    }
}

/// Parses a zxid written as `0x...` hex or as a decimal number.
pub fn parse_zxid(text: &str) -> Option<i64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|z| z as i64),
        None => text.parse().ok(),
    }
}

/// A manifest for tests of the catalogue and retention: `object` is `<kind>-<first>`, the
/// times run from `time` by one ms per txn.
#[cfg(test)]
pub(crate) fn test_manifest(kind: ObjectKind, first: i64, last: i64, time: i64) -> Manifest {
    Manifest {
        format: FORMAT.into(),
        kind,
        object: format!("{kind:?}-{first:x}"),
        first_zxid: first,
        last_zxid: last,
        txns: (last - first + 1) as u64,
        first_time_ms: time,
        last_time_ms: time + (last - first),
        max_time_ms: time + (last - first),
        nodes: None,
        digest: None,
        rebase: false,
        raw_bytes: 1,
        stored_bytes: 10,
        sha256: String::new(),
        compression: "lz4".into(),
        encryption: None,
        server_id: 0,
        created_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_zxids_and_follow_rules_allow_only_a_new_epoch_jump() {
        assert!(segment_name(0x9, 0x10) < segment_name(0x10, 0x11));
        assert_eq!(
            manifest_name(ObjectKind::Log, 0x1_0000_0001),
            "logs/0000000100000001.json"
        );
        assert!(follows(0x1_0000_0005, 0x1_0000_0006));
        assert!(follows(0x1_0000_0005, 0x3_0000_0001));
        assert!(!follows(0x1_0000_0005, 0x1_0000_0007), "a gap");
        assert!(
            !follows(0x1_0000_0005, 0x2_0000_0002),
            "the new epoch's first txn is missing"
        );
        assert!(!follows(0x1_0000_0005, 0x1_0000_0005));
        assert_eq!(parse_zxid("0x1f"), Some(31));
        assert_eq!(parse_zxid("31"), Some(31));
        assert_eq!(parse_zxid("zz"), None);
    }
}

//! Writing archive objects and reading them back checked.

use futures_util::{StreamExt, TryStreamExt};
use zk_proto::txn::TxnEntry;

use super::catalog::Catalog;
use super::crypt::{ArchiveKey, CIPHER};
use super::manifest::{self, Encryption, Manifest, ObjectKind, FORMAT};
use super::segment::{self, SegmentSummary};
use super::target::Target;
use super::{now_ms, BackupError};

/// Manifests read at once when building the catalogue.
const MANIFEST_READS_IN_FLIGHT: usize = 32;

/// What is known of a snapshot being archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its zxid (the tree holds exactly the txns up to it).
    pub zxid: i64,
    /// The time of the txn at that zxid, or when it was taken.
    pub time_ms: i64,
    /// Nodes in the tree.
    pub nodes: u64,
    /// The tree digest.
    pub digest: i64,
    /// It starts a history of its own ([`Manifest::rebase`]).
    pub rebase: bool,
}

/// An archive at a [`Target`], written by one server (`server_id`) or read by the tool.
#[derive(Debug, Clone)]
pub struct Archive {
    target: Target,
    server_id: i64,
    /// Encrypts what is written, decrypts what is read.
    key: Option<ArchiveKey>,
}

impl Archive {
    /// The archive at `target`; objects written are marked with `server_id`.
    pub fn new(target: Target, server_id: i64) -> Archive {
        Archive {
            target,
            server_id,
            key: None,
        }
    }

    /// Objects written from now on are encrypted with `key`, and encrypted ones read with it.
    pub fn with_key(mut self, key: Option<ArchiveKey>) -> Archive {
        self.key = key;
        self
    }

    /// Encrypts `stored` (an LZ4 frame) for the object `name` when there is a key.
    fn seal(&self, name: &str, stored: Vec<u8>) -> Vec<u8> {
        match &self.key {
            Some(key) => key.seal(name, &stored),
            None => stored,
        }
    }

    /// Where it is.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Stores committed txns (zxid order, following each other) as one segment. `Ok(None)`: a
    /// segment starting at the same zxid is archived already (by another archiver).
    pub async fn put_segment(
        &self,
        entries: &[&TxnEntry],
    ) -> Result<Option<Manifest>, BackupError> {
        let (raw, summary) = segment::encode_log(entries.iter().copied());
        let Some(summary) = summary else {
            return Err(BackupError::Config("an empty segment".into()));
        };
        let name = manifest::segment_name(summary.first_zxid, summary.last_zxid);
        let stored = self.seal(&name, segment::compress(&raw));
        let manifest = self.manifest(ObjectKind::Log, summary, raw.len(), &stored, None, None);
        self.store(manifest, stored).await
    }

    /// Stores a snapshot given as an LZ4 frame of its stream (zk-server's `.lz4` file) whose
    /// stream is `raw_bytes` long. `Ok(None)`: it is archived already.
    pub async fn put_snapshot(
        &self,
        stored: Vec<u8>,
        raw_bytes: usize,
        info: SnapshotInfo,
    ) -> Result<Option<Manifest>, BackupError> {
        let summary = SegmentSummary {
            first_zxid: info.zxid,
            last_zxid: info.zxid,
            txns: 0,
            first_time_ms: info.time_ms,
            last_time_ms: info.time_ms,
            max_time_ms: info.time_ms,
        };
        let stored = self.seal(&manifest::snapshot_name(info.zxid), stored);
        let mut manifest = self.manifest(
            ObjectKind::Snapshot,
            summary,
            raw_bytes,
            &stored,
            Some(info.nodes),
            Some(info.digest),
        );
        manifest.rebase = info.rebase;
        self.store(manifest, stored).await
    }

    fn manifest(
        &self,
        kind: ObjectKind,
        s: SegmentSummary,
        raw_bytes: usize,
        stored: &[u8],
        nodes: Option<u64>,
        digest: Option<i64>,
    ) -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            kind,
            object: match kind {
                ObjectKind::Log => manifest::segment_name(s.first_zxid, s.last_zxid),
                ObjectKind::Snapshot => manifest::snapshot_name(s.first_zxid),
            },
            first_zxid: s.first_zxid,
            last_zxid: s.last_zxid,
            txns: s.txns,
            first_time_ms: s.first_time_ms,
            last_time_ms: s.last_time_ms,
            max_time_ms: s.max_time_ms,
            nodes,
            digest,
            rebase: false,
            raw_bytes: raw_bytes as u64,
            stored_bytes: stored.len() as u64,
            sha256: segment::sha256_hex(stored),
            compression: "lz4".to_owned(),
            encryption: self.key.as_ref().map(|k| Encryption {
                cipher: CIPHER.to_owned(),
                key_id: k.id().to_owned(),
            }),
            server_id: self.server_id,
            created_ms: now_ms(),
        }
    }

    /// The object first, then its manifest (create-if-absent: the commit point).
    async fn store(
        &self,
        manifest: Manifest,
        stored: Vec<u8>,
    ) -> Result<Option<Manifest>, BackupError> {
        let name = manifest.name();
        self.target.put(&manifest.object, stored).await?;
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        if self.target.put_new(&name, json).await? {
            Ok(Some(manifest))
        } else {
            Ok(None)
        }
    }

    /// Every manifest in the archive, sorted; manifests that cannot be read, and data objects
    /// no manifest names, are listed as problems.
    pub async fn catalog(&self) -> Result<Catalog, BackupError> {
        let mut manifests = Vec::new();
        let mut problems = Vec::new();
        let mut data_objects = Vec::new();
        for dir in [manifest::LOGS, manifest::SNAPSHOTS] {
            let listed = self.target.list(dir).await?;
            let (json, data): (Vec<_>, Vec<_>) = listed
                .into_iter()
                .partition(|(name, _)| name.ends_with(".json"));
            data_objects.extend(data);
            let read: Vec<(String, Result<Manifest, String>)> = futures_util::stream::iter(json)
                .map(|(name, _)| async move {
                    let parsed = match self.target.get(&name).await {
                        Ok(bytes) => serde_json::from_slice::<Manifest>(&bytes)
                            .map_err(|e| format!("unreadable manifest: {e}")),
                        Err(e) => Err(e.to_string()),
                    };
                    (name, parsed)
                })
                .buffered(MANIFEST_READS_IN_FLIGHT)
                .collect()
                .await;
            for (name, parsed) in read {
                match parsed {
                    Ok(m) if m.name() == name => manifests.push(m),
                    Ok(m) => problems.push(format!(
                        "{name}: the manifest describes {} (expected at {})",
                        m.object,
                        m.name()
                    )),
                    Err(e) => problems.push(format!("{name}: {e}")),
                }
            }
        }
        Ok(Catalog::new(manifests, data_objects, problems))
    }

    /// The raw bytes of `manifest`'s object: its SHA-256 and size checked, decompressed.
    pub async fn fetch(&self, manifest: &Manifest) -> Result<Vec<u8>, BackupError> {
        let name = &manifest.object;
        let stored = self.target.get(name).await?;
        if stored.len() as u64 != manifest.stored_bytes {
            return Err(BackupError::corrupt(
                name,
                format!(
                    "{} bytes, the manifest says {}",
                    stored.len(),
                    manifest.stored_bytes
                ),
            ));
        }
        let sha = segment::sha256_hex(&stored);
        if sha != manifest.sha256 {
            return Err(BackupError::corrupt(
                name,
                format!("SHA-256 {sha}, the manifest says {}", manifest.sha256),
            ));
        }
        let frame = match (&manifest.encryption, &self.key) {
            (None, _) => stored.to_vec(),
            (Some(e), _) if e.cipher != CIPHER => {
                return Err(BackupError::Unavailable(format!(
                    "{name} is encrypted with {}, which this build does not know",
                    e.cipher
                )))
            }
            (Some(e), None) => {
                return Err(BackupError::Unavailable(format!(
                    "{name} is encrypted (key id {}); give the key (zk-backup --key-file, backup.encryption.keyFile)",
                    e.key_id
                )))
            }
            (Some(e), Some(key)) if e.key_id != key.id() => {
                return Err(BackupError::Unavailable(format!(
                    "{name} is encrypted with key id {}, but the key given has id {}: the wrong key",
                    e.key_id,
                    key.id()
                )))
            }
            (Some(_), Some(key)) => key
                .open(name, &stored)
                .map_err(|e| BackupError::corrupt(name, e))?,
        };
        let raw = segment::decompress(&frame).map_err(|e| BackupError::corrupt(name, e))?;
        if raw.len() as u64 != manifest.raw_bytes {
            return Err(BackupError::corrupt(
                name,
                format!(
                    "{} bytes unpacked, the manifest says {}",
                    raw.len(),
                    manifest.raw_bytes
                ),
            ));
        }
        Ok(raw)
    }

    /// The txns of a segment, checked against its manifest (first, last, count).
    pub async fn fetch_segment(&self, manifest: &Manifest) -> Result<Vec<TxnEntry>, BackupError> {
        let raw = self.fetch(manifest).await?;
        let name = &manifest.object;
        let entries = segment::decode_log(&raw).map_err(|e| BackupError::corrupt(name, e))?;
        let (first, last) = match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => (f.header.zxid, l.header.zxid),
            _ => return Err(BackupError::corrupt(name, "no txns")),
        };
        if (first, last, entries.len() as u64)
            != (manifest.first_zxid, manifest.last_zxid, manifest.txns)
        {
            return Err(BackupError::corrupt(
                name,
                format!(
                    "holds {} txns {first:#x}..{last:#x}, the manifest says {} txns {:#x}..{:#x}",
                    entries.len(),
                    manifest.txns,
                    manifest.first_zxid,
                    manifest.last_zxid
                ),
            ));
        }
        Ok(entries)
    }

    /// Deletes an object and its manifest (the manifest first, so nothing points at a missing
    /// object).
    pub async fn delete(&self, manifest: &Manifest) -> Result<(), BackupError> {
        self.target.delete(&manifest.name()).await?;
        self.target.delete(&manifest.object).await
    }

    /// Deletes objects no manifest names (left by an archiver that stopped between the two
    /// writes).
    pub async fn delete_orphans(&self, catalog: &Catalog) -> Result<usize, BackupError> {
        let names: Vec<String> = catalog.orphans().map(str::to_owned).collect();
        futures_util::stream::iter(names.iter())
            .map(|name| self.target.delete(name))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(names.len())
    }
}

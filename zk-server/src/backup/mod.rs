//! Backups: continuous archiving of committed txns and snapshots to a directory or S3, and
//! point-in-time restore from the archive (`zk-backup`).
//!
//! - [`target`]: where the archive lives (`object_store`: a directory or an S3 bucket).
//! - [`manifest`]: the layout, object names and the manifest beside each object.
//! - [`segment`]: the bytes: Java txn log files and snapshot streams in LZ4 frames, SHA-256.
//! - [`crypt`]: optional client-side encryption of the objects.
//! - [`archive`]: writing objects and reading them back checked; the catalogue.
//! - [`catalog`]: what the archive holds: chains of segments, gaps, restorable windows, plans.
//! - [`archiver`]: the server side, shipping committed txns and new snapshots.
//! - [`restore`]: a data directory at a zxid or a time, for zk-server and the Java server.
//! - [`verify`]: checksums, continuity, seals and digests by replay.
//! - [`retain`]: deleting what no restore point in a kept window needs.
//! - [`export`]: a subtree at a restore point, as JSON.

pub mod archive;
pub mod archiver;
pub mod catalog;
pub mod crypt;
pub mod export;
pub mod manifest;
pub mod restore;
pub mod retain;
pub mod segment;
pub mod settings;
pub mod target;
pub mod verify;

pub use archive::Archive;
pub use catalog::Catalog;
pub use crypt::ArchiveKey;
pub use manifest::Manifest;
pub use settings::BackupSettings;
pub use target::{S3Settings, Target};

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A bad setting or argument.
    #[error("{0}")]
    Config(String),
    /// The store refused or failed (the object's name says which).
    #[error("{name}: {source}")]
    Store {
        /// The object (or folder).
        name: String,
        /// What the store said.
        source: object_store::Error,
    },
    /// An archived object is damaged or inconsistent with its manifest.
    #[error("{name}: {detail}")]
    Corrupt {
        /// The object.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The archive cannot give what was asked (a point outside the restorable window, ...).
    #[error("{0}")]
    Unavailable(String),
    /// Local files.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl BackupError {
    pub(crate) fn store(name: &str, source: object_store::Error) -> BackupError {
        BackupError::Store {
            name: name.to_owned(),
            source,
        }
    }

    pub(crate) fn corrupt(name: &str, detail: impl Into<String>) -> BackupError {
        BackupError::Corrupt {
            name: name.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

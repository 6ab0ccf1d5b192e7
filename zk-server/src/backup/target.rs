//! Where an archive lives: a directory or an S3 bucket, both behind `object_store`, so the
//! archiver, the catalogue and the restore are written once.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::BackupError;

/// How to reach an S3-compatible store (`backup.s3.*`); credentials come from the standard
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `backup.s3.endpoint`: for stores other than AWS (MinIO, Ceph RGW, ...).
    pub endpoint: Option<String>,
    /// `backup.s3.region` (else `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// `backup.s3.pathStyle`: `http://host/bucket/key` instead of `http://bucket.host/key`.
    pub path_style: bool,
}

/// An archive location: a store and the prefix every object name is under.
#[derive(Clone)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// As the operator wrote it, for messages.
    display: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("target", &self.display)
            .finish()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Target {
    /// Opens `spec`: `s3://bucket[/prefix]`, `file:///dir`, or a directory path (created if
    /// missing).
    pub fn open(spec: &str, s3: &S3Settings) -> Result<Target, BackupError> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(BackupError::Config(format!("{spec}: no bucket name")));
            }
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_virtual_hosted_style_request(!s3.path_style);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            let region = s3
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .unwrap_or_else(|| "us-east-1".to_owned());
            let store = builder
                .with_region(region)
                .build()
                .map_err(|e| BackupError::Config(format!("{spec}: {e}")))?;
            return Ok(Target {
                store: Arc::new(store),
                prefix: ObjectPath::from(prefix.trim_matches('/')),
                display: spec.to_owned(),
            });
        }
        let dir = spec.strip_prefix("file://").unwrap_or(spec);
        Self::directory(std::path::Path::new(dir))
    }

    /// A directory target.
    pub fn directory(dir: &std::path::Path) -> Result<Target, BackupError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::Config(format!("cannot create {}: {e}", dir.display())))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| BackupError::Config(format!("{}: {e}", dir.display())))?;
        Ok(Target {
            store: Arc::new(store),
            prefix: ObjectPath::default(),
            display: dir.display().to_string(),
        })
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.prefix.as_ref().is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Stores `bytes` as `name`, replacing what is there.
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        self.store
            .put(&self.key(name), PutPayload::from(bytes))
            .await
            .map_err(|e| BackupError::store(name, e))?;
        Ok(())
    }

    /// Stores `bytes` as `name` unless an object of that name exists: `Ok(false)` then. A store
    /// without conditional writes is asked whether the name exists first (a race between two
    /// writers is then possible; their objects hold the same committed txns).
    pub async fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<bool, BackupError> {
        let key = self.key(name);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(bytes);
        match self.store.put_opts(&key, payload.clone(), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented | object_store::Error::NotSupported { .. }) => {
                match self.store.head(&key).await {
                    Ok(_) => Ok(false),
                    Err(object_store::Error::NotFound { .. }) => {
                        self.store
                            .put(&key, payload)
                            .await
                            .map_err(|e| BackupError::store(name, e))?;
                        Ok(true)
                    }
                    Err(e) => Err(BackupError::store(name, e)),
                }
            }
            Err(e) => Err(BackupError::store(name, e)),
        }
    }

    /// The whole object `name`.
    pub async fn get(&self, name: &str) -> Result<Bytes, BackupError> {
        let got = self
            .store
            .get(&self.key(name))
            .await
            .map_err(|e| BackupError::store(name, e))?;
        got.bytes().await.map_err(|e| BackupError::store(name, e))
    }

    /// The objects under `dir/` as `(name relative to the target, size)`, sorted by name.
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, u64)>, BackupError> {
        let prefix = self.key(dir);
        let strip = if self.prefix.as_ref().is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut listing = self.store.list(Some(&prefix));
        let mut out = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| BackupError::store(dir, e))?;
            let full = meta.location.to_string();
            let name = full.strip_prefix(&strip).unwrap_or(&full).to_owned();
            out.push((name, meta.size));
        }
        out.sort();
        Ok(out)
    }

    /// Deletes `name` (nothing if it is gone already).
    pub async fn delete(&self, name: &str) -> Result<(), BackupError> {
        match self.store.delete(&self.key(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BackupError::store(name, e)),
        }
    }
}

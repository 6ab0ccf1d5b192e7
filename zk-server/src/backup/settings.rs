//! The `backup.*` keys of zoo.cfg (kept as `zookeeper.backup.*` properties, as Java keeps keys
//! it does not know, so the same file still starts a Java server).

use crate::config::Config;

use super::target::S3Settings;
use super::BackupError;

/// Default `backup.maxLagMs`: how long a committed txn may wait before it is in the archive.
pub const DEFAULT_MAX_LAG_MS: u64 = 1000;

/// Continuous archiving, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// `backup.target`: a directory, `file:///dir` or `s3://bucket/prefix`.
    pub target: String,
    /// `backup.s3.endpoint`, `backup.s3.region`, `backup.s3.pathStyle`.
    pub s3: S3Settings,
    /// `backup.maxLagMs`.
    pub max_lag_ms: u64,
    /// `backup.encryption.keyFile`: objects are encrypted with the key it holds.
    pub key_file: Option<std::path::PathBuf>,
    /// `backup.archiverId`: in an ensemble, the member (an observer, typically) that archives
    /// while it is synced, instead of the leader; `None`: the leader archives.
    pub archiver_id: Option<i64>,
}

impl BackupSettings {
    /// The settings of `cfg`; `Ok(None)` when `backup.target` is not set (archiving is off).
    pub fn from_config(cfg: &Config) -> Result<Option<BackupSettings>, BackupError> {
        let Some(target) = cfg.property("zookeeper.backup.target").map(str::trim) else {
            return Ok(None);
        };
        if target.is_empty() {
            return Ok(None);
        }
        let max_lag_ms = match cfg.property("zookeeper.backup.maxLagMs") {
            None => DEFAULT_MAX_LAG_MS,
            Some(v) => v.trim().parse().map_err(|_| {
                BackupError::Config(format!("backup.maxLagMs: {v:?} is not a number of ms"))
            })?,
        };
        let s3 = S3Settings {
            endpoint: cfg
                .property("zookeeper.backup.s3.endpoint")
                .map(str::to_owned),
            region: cfg
                .property("zookeeper.backup.s3.region")
                .map(str::to_owned),
            path_style: cfg
                .property("zookeeper.backup.s3.pathStyle")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        };
        let archiver_id = match cfg.property("zookeeper.backup.archiverId") {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| {
                BackupError::Config(format!("backup.archiverId: {v:?} is not a server id"))
            })?),
        };
        Ok(Some(BackupSettings {
            archiver_id,
            target: target.to_owned(),
            s3,
            max_lag_ms,
            key_file: cfg
                .property("zookeeper.backup.encryption.keyFile")
                .map(|p| std::path::PathBuf::from(p.trim())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_zoo_cfg_and_not_reported_unknown() {
        let cfg = Config::parse(
            "tickTime=2000\ndataDir=/d\nbackup.target=s3://b/p\nbackup.maxLagMs=250\nbackup.s3.endpoint=http://127.0.0.1:9000\nbackup.s3.pathStyle=true\nbackup.encryption.keyFile=/k\nbackup.archiverId=4\n",
            "",
        )
        .unwrap();
        assert!(cfg.unknown_keys.is_empty(), "{:?}", cfg.unknown_keys);
        let s = BackupSettings::from_config(&cfg).unwrap().unwrap();
        assert_eq!(s.target, "s3://b/p");
        assert_eq!(s.max_lag_ms, 250);
        assert_eq!(s.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s.s3.path_style);
        assert_eq!(s.key_file.as_deref(), Some(std::path::Path::new("/k")));
        assert_eq!(s.archiver_id, Some(4));
        let off = Config::parse("tickTime=2000\ndataDir=/d\n", "").unwrap();
        assert_eq!(BackupSettings::from_config(&off).unwrap(), None);
        let bad = Config::parse(
            "tickTime=2000\ndataDir=/d\nbackup.target=/x\nbackup.maxLagMs=soon\n",
            "",
        )
        .unwrap();
        assert!(BackupSettings::from_config(&bad).is_err());
    }
}

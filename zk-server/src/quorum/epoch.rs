//! The `acceptedEpoch` and `currentEpoch` files of a quorum peer, as Java's `QuorumPeer`
//! reads and writes them (`readLongFromFile`, `writeLongToFile`, `loadDataBase`).
//!
//! Each holds one decimal long, no newline, in the snapshot directory (`dataDir/version-2`).
//! Writes go through `<name>.tmp`, fsynced and renamed over the file
//! (`AtomicFileOutputStream`), so a crash leaves the old value or the new one.
//!
//! The empty `updatingEpoch` file marks a learner persisting a new epoch's state at NEWLEADER
//! (its snapshot, the txns it logs) before `currentEpoch` says that epoch: a crash in between
//! leaves a last zxid newer than `currentEpoch`, and the marker lets the next start repair
//! `currentEpoch` from that zxid. This is Java 3.4's mechanism (ZOOKEEPER-1653, 3.4.10 to
//! 3.4.14, same file name); Java 3.5 to 3.9 do not have it (ZOOKEEPER-2354 proposed it again,
//! unmerged) and refuse to start there until an operator repairs the files. Java 3.8 ignores
//! the file, so a data directory moves between the two either way.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use tracing::info;

/// The file of the newest epoch this peer accepted from a leader (LEADERINFO).
pub const ACCEPTED_EPOCH_FILENAME: &str = "acceptedEpoch";
/// The file of the epoch this peer fully joined (NEWLEADER).
pub const CURRENT_EPOCH_FILENAME: &str = "currentEpoch";
/// Suffix of the file an atomic write goes through (`AtomicFileOutputStream.TMP_EXTENSION`).
pub const TMP_EXTENSION: &str = ".tmp";
/// The marker of a `currentEpoch` update under way (Java 3.4's `UPDATING_EPOCH_FILENAME`).
pub const UPDATING_EPOCH_FILENAME: &str = "updatingEpoch";

/// An epoch file's text: `Long.toString(epoch)`.
pub fn format_epoch(epoch: i64) -> String {
    epoch.to_string()
}

/// Parses an epoch file as Java does: its first line (`\n`, `\r` or `\r\n` ends it) must be a
/// long, nothing trimmed. The error is Java's `Found <line> in <file>` (`null` for an empty
/// file).
pub fn parse_epoch(text: &str, file: &Path) -> Result<i64, String> {
    let line = first_line(text);
    // Rust's integer parsing is `Long.parseLong`'s for ASCII: optional sign, digits, in range.
    line.and_then(|l| l.parse().ok())
        .ok_or_else(|| format!("Found {} in {}", line.unwrap_or("null"), file.display()))
}

/// `BufferedReader.readLine()` of the whole text: `None` when there is no line at all.
pub(crate) fn first_line(text: &str) -> Option<&str> {
    if text.is_empty() {
        return None;
    }
    Some(text.split(['\n', '\r']).next().unwrap_or(""))
}

/// Writes `bytes` to `path` as Java's `AtomicFileWritingIdiom`: into `<path>.tmp`, flushed
/// and fsynced, then renamed over `path`; the temporary file is removed when writing fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(TMP_EXTENSION);
    let tmp = PathBuf::from(tmp_name);
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path)
}

/// Reads the epoch file `name` in `snap_dir`; `Ok(None)` when it does not exist.
pub fn read_epoch_file(snap_dir: &Path, name: &str) -> io::Result<Option<i64>> {
    let path = snap_dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => parse_epoch(&String::from_utf8_lossy(&bytes), &path)
            .map(Some)
            .map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `epoch` to the file `name` in `snap_dir`, atomically.
pub fn write_epoch_file(snap_dir: &Path, name: &str, epoch: i64) -> io::Result<()> {
    write_atomically(&snap_dir.join(name), format_epoch(epoch).as_bytes())
}

/// Creates the `updatingEpoch` marker in `snap_dir`, durably (the directory is fsynced): it
/// must be on disk before the state it covers.
pub fn create_updating_epoch_file(snap_dir: &Path) -> io::Result<()> {
    fs::File::create(snap_dir.join(UPDATING_EPOCH_FILENAME))?.sync_all()?;
    fs::File::open(snap_dir)?.sync_all()
}

/// Removes the `updatingEpoch` marker from `snap_dir`, if there. Not fsynced: a marker that
/// survives a crash is removed by the next start.
pub fn delete_updating_epoch_file(snap_dir: &Path) -> io::Result<()> {
    match fs::remove_file(snap_dir.join(UPDATING_EPOCH_FILENAME)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The epoch files found in the snapshot directory at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EpochFiles {
    /// `acceptedEpoch`, if present.
    pub accepted: Option<i64>,
    /// `currentEpoch`, if present.
    pub current: Option<i64>,
    /// `currentEpoch.tmp`, if present: a write of `currentEpoch` cut short by a crash.
    pub current_tmp: Option<i64>,
    /// The `updatingEpoch` marker exists: a crash came between persisting a new epoch's state
    /// and writing `currentEpoch`.
    pub updating: bool,
}

/// The epochs a peer starts with, and the files to (re)write first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epochs {
    /// The accepted epoch.
    pub accepted: i64,
    /// The current epoch.
    pub current: i64,
    /// `(file name, epoch)` to write before going on, in this order.
    pub writes: Vec<(&'static str, i64)>,
    /// Remove the `updatingEpoch` marker after the writes (whether or not it was needed).
    pub delete_updating: bool,
}

/// Java's `QuorumPeer.loadDataBase` decision. A missing file takes the epoch of the last
/// processed zxid (the upgrade path) and is written; a `currentEpoch` older than that epoch is
/// repaired from `currentEpoch.tmp` (3.8), else from that epoch if the `updatingEpoch` marker
/// is there (3.4), else refused; an accepted epoch below the current one is refused. Errors
/// carry Java's messages.
pub fn reconcile_epochs(files: EpochFiles, last_processed_zxid: i64) -> Result<Epochs, String> {
    let epoch_of_zxid = last_processed_zxid >> 32;
    let mut writes = Vec::new();
    let mut current = match files.current {
        Some(e) => e,
        None => {
            writes.push((CURRENT_EPOCH_FILENAME, epoch_of_zxid));
            epoch_of_zxid
        }
    };
    if epoch_of_zxid > current {
        match files.current_tmp {
            Some(tmp) => {
                writes.push((CURRENT_EPOCH_FILENAME, tmp));
                current = tmp;
            }
            None if files.updating => {
                info!(
                    "{UPDATING_EPOCH_FILENAME} found. The server was terminated after taking a \
                     snapshot but before updating current epoch. Setting current epoch to \
                     {epoch_of_zxid}."
                );
                writes.push((CURRENT_EPOCH_FILENAME, epoch_of_zxid));
                current = epoch_of_zxid;
            }
            None => {
                return Err(format!(
                    "The current epoch, {}, is older than the last zxid, {}",
                    zxid_to_string(current),
                    last_processed_zxid
                ))
            }
        }
    }
    let accepted = match files.accepted {
        Some(e) => e,
        None => {
            writes.push((ACCEPTED_EPOCH_FILENAME, epoch_of_zxid));
            epoch_of_zxid
        }
    };
    if accepted < current {
        return Err(format!(
            "The accepted epoch, {} is less than the current epoch, {}",
            zxid_to_string(accepted),
            zxid_to_string(current)
        ));
    }
    Ok(Epochs {
        accepted,
        current,
        writes,
        delete_updating: files.updating,
    })
}

/// Java's `ZxidUtils.zxidToString`: the value in hex, no prefix.
fn zxid_to_string(zxid: i64) -> String {
    format!("{zxid:x}")
}

/// Reads the epoch files of `snap_dir`, reconciles them with the last processed zxid and
/// writes what [`reconcile_epochs`] asks for.
pub fn load_epochs(snap_dir: &Path, last_processed_zxid: i64) -> io::Result<Epochs> {
    let tmp_name = format!("{CURRENT_EPOCH_FILENAME}{TMP_EXTENSION}");
    let files = EpochFiles {
        accepted: read_epoch_file(snap_dir, ACCEPTED_EPOCH_FILENAME)?,
        current: read_epoch_file(snap_dir, CURRENT_EPOCH_FILENAME)?,
        // Only consulted to repair a stale currentEpoch; unreadable counts as absent.
        current_tmp: read_epoch_file(snap_dir, &tmp_name).unwrap_or(None),
        updating: snap_dir.join(UPDATING_EPOCH_FILENAME).exists(),
    };
    let epochs = reconcile_epochs(files, last_processed_zxid)
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))?;
    for &(name, epoch) in &epochs.writes {
        write_epoch_file(snap_dir, name, epoch)?;
    }
    if epochs.delete_updating {
        delete_updating_epoch_file(snap_dir)?;
    }
    Ok(epochs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAVA_FILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/quorum-config");

    #[test]
    fn java_written_files_parse_and_format_back() {
        for name in [ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME] {
            let bytes = fs::read(Path::new(JAVA_FILES).join(name)).unwrap();
            let epoch = read_epoch_file(Path::new(JAVA_FILES), name)
                .unwrap()
                .unwrap();
            assert_eq!(epoch, 1);
            assert_eq!(format_epoch(epoch).as_bytes(), bytes.as_slice());
        }
    }

    #[test]
    fn parse_follows_long_parse_long_of_the_first_line() {
        let f = Path::new("/s/currentEpoch");
        assert_eq!(parse_epoch("2", f), Ok(2));
        assert_eq!(parse_epoch("+7\r\nx", f), Ok(7));
        assert_eq!(parse_epoch("-1", f), Ok(-1));
        assert_eq!(
            parse_epoch("", f),
            Err("Found null in /s/currentEpoch".into())
        );
        assert_eq!(
            parse_epoch(" 2", f),
            Err("Found  2 in /s/currentEpoch".into())
        );
        assert_eq!(
            parse_epoch("2 \n", f),
            Err("Found 2  in /s/currentEpoch".into())
        );
        assert!(parse_epoch("9223372036854775808", f).is_err());
        assert!(parse_epoch("0x1", f).is_err());
    }

    #[test]
    fn writes_are_atomic_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch_file(dir.path(), CURRENT_EPOCH_FILENAME, 12).unwrap();
        write_epoch_file(dir.path(), CURRENT_EPOCH_FILENAME, 13).unwrap();
        assert_eq!(fs::read(dir.path().join("currentEpoch")).unwrap(), b"13");
        assert!(!dir.path().join("currentEpoch.tmp").exists());
        assert_eq!(
            read_epoch_file(dir.path(), ACCEPTED_EPOCH_FILENAME).unwrap(),
            None
        );
        // A directory in the way of the temporary file: the write fails, nothing is renamed.
        fs::create_dir(dir.path().join("acceptedEpoch.tmp")).unwrap();
        assert!(write_epoch_file(dir.path(), ACCEPTED_EPOCH_FILENAME, 1).is_err());
        assert!(!dir.path().join("acceptedEpoch").exists());
    }

    #[test]
    fn missing_files_take_the_epoch_of_the_last_zxid() {
        let e = reconcile_epochs(EpochFiles::default(), 0x3_0000_0005).unwrap();
        assert_eq!((e.accepted, e.current), (3, 3));
        assert_eq!(
            e.writes,
            [(CURRENT_EPOCH_FILENAME, 3), (ACCEPTED_EPOCH_FILENAME, 3)]
        );
        let present = EpochFiles {
            accepted: Some(4),
            current: Some(3),
            ..EpochFiles::default()
        };
        let e = reconcile_epochs(present, 0x3_0000_0005).unwrap();
        assert_eq!((e.accepted, e.current, e.writes.len()), (4, 3, 0));
    }

    #[test]
    fn stale_current_epoch_is_repaired_from_tmp_or_refused() {
        let mut files = EpochFiles {
            accepted: Some(5),
            current: Some(4),
            current_tmp: Some(5),
            updating: false,
        };
        let e = reconcile_epochs(files, 0x5_0000_0001).unwrap();
        assert_eq!(e.current, 5);
        assert_eq!(e.writes, [(CURRENT_EPOCH_FILENAME, 5)]);
        files.current_tmp = None;
        assert_eq!(
            reconcile_epochs(files, 0x5_0000_0001).unwrap_err(),
            "The current epoch, 4, is older than the last zxid, 21474836481"
        );
        let behind = EpochFiles {
            accepted: Some(1),
            current: Some(2),
            ..EpochFiles::default()
        };
        assert_eq!(
            reconcile_epochs(behind, 0).unwrap_err(),
            "The accepted epoch, 1 is less than the current epoch, 2"
        );
    }

    /// A crash between the NEWLEADER snapshot of epoch 1 (after a SNAP at 0x100000000) and
    /// the `currentEpoch` write (found by the ensemble simulation, seed 2001850).
    #[test]
    fn updating_marker_repairs_current_epoch_from_the_last_zxid() {
        let mut files = EpochFiles {
            accepted: Some(1),
            current: Some(0),
            current_tmp: None,
            updating: true,
        };
        let e = reconcile_epochs(files, 0x1_0000_0000).unwrap();
        assert_eq!((e.accepted, e.current), (1, 1));
        assert_eq!(e.writes, [(CURRENT_EPOCH_FILENAME, 1)]);
        assert!(e.delete_updating);
        // currentEpoch.tmp (a write cut short) is Java 3.8's repair and comes first.
        files.current_tmp = Some(1);
        files.accepted = Some(2);
        let e = reconcile_epochs(files, 0x1_0000_0000).unwrap();
        assert_eq!(
            (e.current, &e.writes[..]),
            (1, &[(CURRENT_EPOCH_FILENAME, 1)][..])
        );
        // A stale marker changes nothing but goes.
        files.current_tmp = None;
        files.current = Some(1);
        let e = reconcile_epochs(files, 0x1_0000_0003).unwrap();
        assert_eq!((e.current, e.writes.len(), e.delete_updating), (1, 0, true));
        // Without the marker it is Java 3.8's refusal.
        files.current = Some(0);
        files.updating = false;
        assert!(reconcile_epochs(files, 0x1_0000_0000).is_err());
    }

    #[test]
    fn load_uses_and_removes_the_updating_marker() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch_file(dir.path(), ACCEPTED_EPOCH_FILENAME, 3).unwrap();
        write_epoch_file(dir.path(), CURRENT_EPOCH_FILENAME, 2).unwrap();
        let refused = load_epochs(dir.path(), 0x3_0000_0000).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        create_updating_epoch_file(dir.path()).unwrap();
        assert_eq!(
            fs::read(dir.path().join(UPDATING_EPOCH_FILENAME)).unwrap(),
            b""
        );
        let e = load_epochs(dir.path(), 0x3_0000_0000).unwrap();
        assert_eq!((e.accepted, e.current), (3, 3));
        assert_eq!(fs::read(dir.path().join("currentEpoch")).unwrap(), b"3");
        assert!(!dir.path().join(UPDATING_EPOCH_FILENAME).exists());
        delete_updating_epoch_file(dir.path()).unwrap();
    }

    #[test]
    fn load_writes_the_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_epochs(dir.path(), 0x2_0000_0009).unwrap();
        assert_eq!((e.accepted, e.current), (2, 2));
        assert_eq!(fs::read(dir.path().join("acceptedEpoch")).unwrap(), b"2");
        assert_eq!(fs::read(dir.path().join("currentEpoch")).unwrap(), b"2");
        let again = load_epochs(dir.path(), 0x2_0000_0009).unwrap();
        assert!(again.writes.is_empty());
    }
}

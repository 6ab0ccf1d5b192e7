//! Transaction log files in Java's format (STORAGE.md §3): `<dataLogDir>/version-2/log.<hex
//! zxid>`, written as Java's `FileTxnLog` writes them and read back for recovery as Java's
//! `FileTxnIterator` reads them, with stricter checks on what a crash can leave behind.
//!
//! Writing: [`TxnLogWriter`] buffers records exactly as Java's `BufferedOutputStream` (8 KiB)
//! does, preallocates with Java's `FilePadding` rule, and makes everything durable on
//! [`TxnLogWriter::sync`] (group commit). Because preallocation looks at the file position the
//! OS has seen, emulating the buffer makes our files byte-identical to Java's, padding included.
//!
//! Recovery: [`read_logs_after`] selects the logs as `FileTxnLog.getLogFiles` does and replays
//! the records after a snapshot's zxid. A torn last record (a crash mid-write) is cut off; a bad
//! checksum, an undecodable record, a torn record in an older file or a zxid gap/repeat is
//! corruption.
//!
//! What ZAB's sync needs on top (reading from a zxid, cutting after one, the last logged zxid)
//! lives in `txnlog/history.rs` ([`TxnLogWriter::truncate_after`], [`TxnLogWriter::read_from`]).

mod history;

pub use history::{read_dir_from, TxnLogIterator};

use super::sync_dir;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};
use zk_proto::storage::{
    log_file_name, padded_log_size, parse_data_file_name, DataFileKind, FileHeader, LogEnd,
    LogError, TxnLogReader, DEFAULT_MAX_TXN_LEN, FILE_HEADER_LEN, RECORD_END_MARKER,
};
use zk_proto::txn::TxnEntry;
use zk_proto::Jute;

/// The buffer size of Java's `BufferedOutputStream`, which `FileTxnLog` writes through.
const JAVA_BUFFER_SIZE: usize = 8192;

/// A file written through a buffer that flushes exactly when Java's `BufferedOutputStream`
/// would. `position` is what Java's `FileChannel.position()` reports: the bytes handed to the OS.
#[derive(Debug)]
struct JavaBufferedFile {
    file: File,
    buf: Vec<u8>,
    position: u64,
}

impl JavaBufferedFile {
    fn new(file: File) -> Self {
        JavaBufferedFile {
            file,
            buf: Vec::with_capacity(JAVA_BUFFER_SIZE),
            position: 0,
        }
    }

    /// `BufferedOutputStream.flushBuffer`.
    fn flush_buffer(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.position += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// `BufferedOutputStream.write(int)`.
    fn write_byte(&mut self, byte: u8) -> io::Result<()> {
        if self.buf.len() >= JAVA_BUFFER_SIZE {
            self.flush_buffer()?;
        }
        self.buf.push(byte);
        Ok(())
    }

    /// `BufferedOutputStream.write(byte[], int, int)`.
    fn write_array(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() >= JAVA_BUFFER_SIZE {
            self.flush_buffer()?;
            self.file.write_all(bytes)?;
            self.position += bytes.len() as u64;
            return Ok(());
        }
        if bytes.len() > JAVA_BUFFER_SIZE - self.buf.len() {
            self.flush_buffer()?;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Grows the file to `new_size` by writing one zero byte at `new_size - 1` (sparse), without
    /// moving the write position, as `FilePadding.padFile`'s positional write.
    fn extend_to(&mut self, new_size: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(new_size - 1))?;
        self.file.write_all(&[0])?;
        self.file.seek(SeekFrom::Start(self.position))?;
        Ok(())
    }
}

/// The fsyncs of one [`TxnLogWriter::begin_sync`]: the files (duplicated descriptors) and
/// directory it has to make durable, and the last zxid that then is.
#[derive(Debug)]
pub struct PendingSync {
    files: Vec<File>,
    dir: Option<PathBuf>,
    zxid: i64,
    /// Where the fsync time goes (`fsynctime`).
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl PendingSync {
    /// Syncs the data of every file, then the directory if a log was created; the zxid durable
    /// from now on. Blocks: run it where blocking is allowed.
    pub fn run(self) -> io::Result<i64> {
        for file in &self.files {
            let started = std::time::Instant::now();
            file.sync_data()?;
            if let Some(m) = &self.metrics {
                m.record_since(crate::metrics::SummaryKind::FsyncTime, started);
            }
        }
        if let Some(dir) = &self.dir {
            sync_dir(dir)?;
        }
        Ok(self.zxid)
    }
}

/// The log file being appended to.
#[derive(Debug)]
struct CurrentLog {
    path: PathBuf,
    out: JavaBufferedFile,
    /// `FilePadding.currentSize`: the preallocated size.
    padded_size: u64,
}

/// Appends txns to `log.<zxid>` files as Java's `FileTxnLog` does (see the module docs).
#[derive(Debug)]
pub struct TxnLogWriter {
    dir: PathBuf,
    prealloc_bytes: u64,
    force_sync: bool,
    current: Option<CurrentLog>,
    /// Rolled files whose data has been written but not yet synced (Java's `streamsToFlush`
    /// minus the current stream): the next [`TxnLogWriter::sync`] syncs and closes them.
    rolled: Vec<File>,
    /// A log file was created since the last sync: the directory entry must be made durable.
    dir_dirty: bool,
    last_zxid_seen: i64,
    /// The zxid the last [`TxnLogWriter::sync`] made durable: what readers may see.
    flushed_zxid: i64,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl TxnLogWriter {
    /// `dir` is `<dataLogDir>/version-2` (created if missing). `pre_alloc_kb` is
    /// `zookeeper.preAllocSize` in KiB (Java's default 65536; 0 disables preallocation);
    /// `force_sync` is `forceSync` (`sync` calls fdatasync only when it is set).
    ///
    /// The logs already in `dir` are kept (the first append starts a new file, as in Java) and
    /// taken as durable: the last logged zxid is that of their last complete record (Java's
    /// `getLastLoggedZxid`), so open after recovery has cut any torn tail. An unreadable newest
    /// log is an error.
    pub fn open(dir: &Path, pre_alloc_kb: u64, force_sync: bool) -> io::Result<TxnLogWriter> {
        fs::create_dir_all(dir)?;
        let last_logged = history::last_logged_zxid_in(dir)?;
        Ok(TxnLogWriter {
            dir: dir.to_path_buf(),
            prealloc_bytes: pre_alloc_kb.saturating_mul(1024),
            force_sync,
            current: None,
            rolled: Vec::new(),
            dir_dirty: false,
            last_zxid_seen: last_logged,
            flushed_zxid: last_logged,
            metrics: None,
        })
    }

    /// Records each fsync's time in `metrics` (`fsynctime`).
    pub fn set_metrics(&mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) {
        self.metrics = Some(metrics);
    }

    /// The directory of the log files (`<dataLogDir>/version-2`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Buffers one record. The first append after [`Self::open`] or [`Self::roll`] creates
    /// `log.<hex zxid of this entry>` (truncating a file of that name, as Java does) with the
    /// `ZKLG` header (dbid 0) and preallocates per Java's `FilePadding` rule. The record bytes are
    /// exactly [`zk_proto::storage::write_log_record`]'s. After an error the file's state is
    /// unknown: stop using the writer (Java's server exits).
    pub fn append(&mut self, entry: &TxnEntry) -> io::Result<()> {
        let zxid = entry.header.zxid;
        if zxid <= self.last_zxid_seen {
            warn!(
                "Current zxid {zxid:#x} is <= {:#x} for {:?}",
                self.last_zxid_seen, entry.header.r#type
            );
        } else {
            self.last_zxid_seen = zxid;
        }
        let txn_bytes = entry.to_bytes();
        let len = i32::try_from(txn_bytes.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "txn larger than 2 GiB"))?;
        if self.current.is_none() {
            self.current = Some(self.create_log(zxid)?);
        }
        let prealloc = self.prealloc_bytes;
        let current = self.current.as_mut().expect("just created");
        let new_size = padded_log_size(current.out.position, current.padded_size, prealloc);
        if new_size != current.padded_size {
            current.out.extend_to(new_size)?;
            current.padded_size = new_size;
        }
        // oa.writeLong(crc), then Util.writeTxnBytes: writeBuffer (writeInt len, write bytes)
        // and writeByte('B'), each a separate call into the buffered stream.
        let out = &mut current.out;
        out.write_array(&zk_proto::storage::adler32(&txn_bytes).to_be_bytes())?;
        out.write_array(&len.to_be_bytes())?;
        out.write_array(&txn_bytes)?;
        out.write_byte(RECORD_END_MARKER)?;
        Ok(())
    }

    fn create_log(&mut self, zxid: i64) -> io::Result<CurrentLog> {
        let path = self.dir.join(log_file_name(zxid));
        info!("Creating new log file: {}", path.display());
        let file = File::create(&path)?;
        self.dir_dirty = true;
        let mut out = JavaBufferedFile::new(file);
        out.write_array(&FileHeader::txn_log(0).to_jute_bytes())?;
        // "Make sure that the magic number is written before padding."
        out.flush_buffer()?;
        let padded_size = out.position;
        Ok(CurrentLog {
            path,
            out,
            padded_size,
        })
    }

    /// Writes the buffered records and, with `force_sync`, syncs the data (fdatasync) of the
    /// current file and of any file rolled since the last sync, so everything appended is
    /// durable. Group commit: callers append many records, then sync once.
    pub fn sync(&mut self) -> io::Result<()> {
        let pending = self.begin_sync()?;
        let zxid = pending.run()?;
        self.sync_done(zxid);
        Ok(())
    }

    /// The first half of [`Self::sync`]: writes the buffered records to the files and takes
    /// what must be synced, so the fsyncs can run on another thread while appends go on (as
    /// Java's SyncRequestProcessor thread syncs while the leader keeps proposing). Report the
    /// outcome of [`PendingSync::run`] with [`Self::sync_done`]; until then readers do not see
    /// these records.
    pub fn begin_sync(&mut self) -> io::Result<PendingSync> {
        if let Some(current) = &mut self.current {
            current.out.flush_buffer()?;
        }
        let mut files = Vec::new();
        let mut dir = None;
        if self.force_sync {
            files.append(&mut self.rolled);
            if let Some(current) = &self.current {
                files.push(current.out.file.try_clone()?);
            }
            if self.dir_dirty {
                dir = Some(self.dir.clone());
            }
        }
        self.rolled.clear();
        self.dir_dirty = false;
        Ok(PendingSync {
            files,
            dir,
            zxid: self.last_zxid_seen,
            metrics: self.metrics.clone(),
        })
    }

    /// Records that a [`PendingSync`] made its txns durable: readers may now see them.
    pub fn sync_done(&mut self, zxid: i64) {
        self.flushed_zxid = self.flushed_zxid.max(zxid);
    }

    /// Makes the next append start a new file, as Java's `rollLog` (called when a snapshot
    /// starts). The buffered records are written out now and synced by the next
    /// [`Self::sync`].
    pub fn roll(&mut self) -> io::Result<()> {
        if let Some(mut current) = self.current.take() {
            current.out.flush_buffer()?;
            self.rolled.push(current.out.file);
        }
        Ok(())
    }

    /// The file the next append goes to, unless a new one is due.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Bytes of header and records in the current file, buffered ones included (the file
    /// itself is larger: preallocated).
    pub fn current_log_len(&self) -> Option<u64> {
        self.current
            .as_ref()
            .map(|c| c.out.position + c.out.buf.len() as u64)
    }
}

impl Drop for TxnLogWriter {
    /// Hands the buffered records to the OS (without syncing), as Java's `close`.
    fn drop(&mut self) {
        if let Some(current) = &mut self.current {
            if let Err(error) = current.out.flush_buffer() {
                warn!("writing {} on close: {error}", current.path.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------------------------

/// What [`read_logs_after`] does when it finds corruption (a torn tail of the last log is not
/// corruption: it is always cut off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptionPolicy {
    /// Refuse: return [`LogRecoveryError::Corrupt`] and change nothing.
    Fail,
    /// Cut the corrupt file at the corruption, delete every later log, and replay what came
    /// before.
    TruncateAtCorruption,
}

/// The result of [`read_logs_after`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogReplay {
    /// The txns with zxid greater than the snapshot's, in log order.
    pub entries: Vec<TxnEntry>,
    /// Files that were cut, with their new length; a length of 0 means the file was deleted.
    pub truncated: Vec<(PathBuf, u64)>,
    /// The zxid of the last entry in `entries`.
    pub last_zxid: Option<i64>,
}

/// Why the logs cannot be replayed: the server must not start.
#[derive(thiserror::Error, Debug)]
pub enum LogRecoveryError {
    /// Reading, cutting or deleting a log file failed.
    #[error("txn log I/O error: {0}")]
    Io(#[from] io::Error),
    /// A log is damaged where a crash cannot explain it (or a log is missing: a zxid gap).
    #[error("txn log {} is corrupt at offset {offset}: {detail}", file.display())]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Where the damage starts: the record that is bad, or the end of the last good one.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
}

/// The `log.<hex>` files in `dir` (no suffix), sorted by start zxid; none if `dir` is missing.
fn list_logs(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(parsed) = parse_data_file_name(name) else {
            continue;
        };
        if parsed.kind != DataFileKind::TxnLog || parsed.suffix.is_some() {
            continue;
        }
        if entry.file_type()?.is_dir() {
            continue;
        }
        logs.push((parsed.zxid, entry.path()));
    }
    logs.sort();
    Ok(logs)
}

/// The index of the first log needed to recover from a snapshot at `zxid`, as Java's
/// `FileTxnLog.getLogFiles`: the last log starting at or before `zxid` (or, if none does, the
/// first log starting at or after 0), and all later ones.
fn first_needed(logs: &[(i64, PathBuf)], zxid: i64) -> usize {
    let mut log_zxid = 0;
    for (start, _) in logs {
        if *start > zxid {
            break;
        }
        log_zxid = log_zxid.max(*start);
    }
    logs.iter()
        .position(|(start, _)| *start >= log_zxid)
        .unwrap_or(logs.len())
}

/// Log files needed to recover from a snapshot at `zxid`, oldest first (the others may be
/// purged): the log that covers `zxid` and every later one, as Java's `getLogFiles`.
pub fn logs_needed_after(dir: &Path, zxid: i64) -> io::Result<Vec<PathBuf>> {
    let logs = list_logs(dir)?;
    let first = first_needed(&logs, zxid);
    Ok(logs.into_iter().skip(first).map(|(_, path)| path).collect())
}

/// How reading one file ended.
enum FileEnd {
    /// End of file, or a zero-filled preallocated tail.
    Clean,
    /// The last write was cut short: the file should end at `cut`.
    Torn { cut: u64, detail: String },
    /// Damage a crash does not explain.
    Corrupt { offset: u64, detail: String },
}

/// Whether `next` may follow `prev`: the next counter of the same epoch, or any zxid of a later
/// epoch (a new leader starts its epoch's counter afresh).
fn follows(prev: i64, next: i64) -> bool {
    prev.checked_add(1) == Some(next) || (next >> 32) > (prev >> 32)
}

/// Reads the records of one log file, replaying those after `snapshot_zxid` into `entries`.
/// `prev` is the zxid of the last replayed entry, carried across files. With
/// `first_must_follow`, the first replayed txn must directly follow `snapshot_zxid` (recovery:
/// the snapshot and the log must meet); a reader for a sync checks that itself.
fn scan_file(
    bytes: &[u8],
    snapshot_zxid: i64,
    first_must_follow: bool,
    max_txn_len: usize,
    prev: &mut Option<i64>,
    entries: &mut Vec<TxnEntry>,
) -> FileEnd {
    let mut reader = match TxnLogReader::new(bytes) {
        Ok(reader) => reader.with_max_txn_len(max_txn_len),
        Err(LogError::TruncatedHeader { len }) => {
            return FileEnd::Torn {
                cut: 0,
                detail: format!("the file header is cut short ({len} bytes)"),
            }
        }
        Err(error) => {
            return FileEnd::Corrupt {
                offset: 0,
                detail: error.to_string(),
            }
        }
    };
    loop {
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(error) => {
                let offset = match error {
                    LogError::ChecksumMismatch { offset, .. }
                    | LogError::BadLength { offset, .. } => offset,
                    LogError::TruncatedHeader { .. } | LogError::BadMagic { .. } => 0,
                };
                return FileEnd::Corrupt {
                    offset: offset as u64,
                    detail: error.to_string(),
                };
            }
        };
        let offset = record.offset as u64;
        // Txns the snapshot already holds are skipped on their header alone.
        if prev.is_none() && record.txn_header().is_ok_and(|h| h.zxid <= snapshot_zxid) {
            continue;
        }
        let entry = match record.entry() {
            Ok(entry) => entry,
            Err(error) => {
                return FileEnd::Corrupt {
                    offset,
                    detail: format!("undecodable txn: {error}"),
                }
            }
        };
        let zxid = entry.header.zxid;
        match *prev {
            // Before the snapshot (a fuzzy snapshot may also overlap the log): skipped.
            None if zxid <= snapshot_zxid => continue,
            // Nothing to check the first txn against without a snapshot.
            None if snapshot_zxid < 0 || !first_must_follow => {}
            None if !follows(snapshot_zxid, zxid) => {
                return FileEnd::Corrupt {
                    offset,
                    detail: format!(
                        "the first txn after snapshot zxid {snapshot_zxid:#x} has zxid {zxid:#x}: \
                         txns are missing"
                    ),
                }
            }
            Some(last) if !follows(last, zxid) => {
                return FileEnd::Corrupt {
                    offset,
                    detail: format!(
                        "txn zxid {zxid:#x} follows {last:#x}: zxids must increase without gaps"
                    ),
                }
            }
            _ => {}
        }
        *prev = Some(zxid);
        entries.push(entry);
    }
    match reader.end().expect("the reader ended without an error") {
        LogEnd::EndOfFile { .. } => FileEnd::Clean,
        LogEnd::ZeroPadding { last_good_end } => {
            if bytes[last_good_end..].iter().all(|&b| b == 0) {
                FileEnd::Clean
            } else {
                FileEnd::Torn {
                    cut: last_good_end as u64,
                    detail: "a partly written record (length 0, other bytes not zero)".into(),
                }
            }
        }
        LogEnd::TornRecord {
            last_good_end,
            present,
        } => FileEnd::Torn {
            cut: last_good_end as u64,
            detail: format!("the file ends {present} bytes into a record"),
        },
        LogEnd::MissingEndMarker {
            last_good_end,
            found,
        } => FileEnd::Torn {
            cut: last_good_end as u64,
            detail: format!("a record ends with {found:#04x} instead of 0x42 (partial write)"),
        },
    }
}

/// Cuts `path` to `len` bytes and syncs it; a file left with at most its header is deleted
/// instead (it holds no txns, and Java cannot read a header-less file). Returns the length
/// reported in [`LogReplay::truncated`] (0 for a deleted file).
fn cut_file(path: &Path, len: u64) -> io::Result<u64> {
    if len <= FILE_HEADER_LEN as u64 {
        fs::remove_file(path)?;
        return Ok(0);
    }
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()?;
    Ok(len)
}

/// Replays the txn logs in `dir` (`<dataLogDir>/version-2`) after a snapshot at
/// `snapshot_zxid` (see the module docs and STORAGE.md §3.5): the logs are chosen as Java's
/// `getLogFiles` chooses them and the records with zxid > `snapshot_zxid` are returned in order.
///
/// * A torn record, a missing end marker or a partly written record in the padding at the end
///   of the **last** log is cut off with a warning (reported in [`LogReplay::truncated`]); the
///   writer starts a new file anyway.
/// * A zero-filled preallocated tail is a clean end.
/// * A checksum mismatch, an unreasonable length, an undecodable record, a bad header, a torn
///   record in a log that is not the last, or replayed zxids that repeat, go back, or skip
///   within an epoch (including a gap right after the snapshot) are
///   [`LogRecoveryError::Corrupt`] unless `policy` is
///   [`CorruptionPolicy::TruncateAtCorruption`]: then the file is cut at the corruption, every
///   later log is deleted, and the txns before it are returned.
pub fn read_logs_after(
    dir: &Path,
    snapshot_zxid: i64,
    policy: CorruptionPolicy,
) -> Result<LogReplay, LogRecoveryError> {
    read_logs_after_limited(dir, snapshot_zxid, policy, DEFAULT_MAX_TXN_LEN)
}

/// [`read_logs_after`] with the largest record length to accept (`jute.maxbuffer` plus
/// `zookeeper.jute.maxbuffer.extrasize`, [`crate::config::Config::max_txn_bytes`]): the
/// server's own writes never exceed it, so it can always read back what it acknowledged.
pub fn read_logs_after_limited(
    dir: &Path,
    snapshot_zxid: i64,
    policy: CorruptionPolicy,
    max_txn_len: usize,
) -> Result<LogReplay, LogRecoveryError> {
    let logs = list_logs(dir)?;
    let first = first_needed(&logs, snapshot_zxid);
    let selected = &logs[first..];
    let mut replay = LogReplay::default();
    let mut prev = None;
    let mut bytes = Vec::new();
    for (index, (_, path)) in selected.iter().enumerate() {
        let is_last = index + 1 == selected.len();
        read_whole_file(path, &mut bytes)?;
        let (offset, detail) = match scan_file(
            &bytes,
            snapshot_zxid,
            true,
            max_txn_len,
            &mut prev,
            &mut replay.entries,
        ) {
            FileEnd::Clean => continue,
            FileEnd::Torn { cut, detail } if is_last => {
                warn!(
                    "txn log {}: {detail}; cutting it at offset {cut}, after its last complete txn",
                    path.display()
                );
                let len = cut_file(path, cut).map_err(|e| with_path(e, path))?;
                replay.truncated.push((path.clone(), len));
                if len == 0 {
                    sync_dir(dir)?;
                }
                continue;
            }
            FileEnd::Torn { cut, detail } => (
                cut,
                format!("{detail}, but later logs exist (a torn write may only end the last log)"),
            ),
            FileEnd::Corrupt { offset, detail } => (offset, detail),
        };
        match policy {
            CorruptionPolicy::Fail => {
                return Err(LogRecoveryError::Corrupt {
                    file: path.clone(),
                    offset,
                    detail,
                })
            }
            CorruptionPolicy::TruncateAtCorruption => {
                warn!(
                    "txn log {} is corrupt at offset {offset}: {detail}; cutting it there and \
                     deleting every later log",
                    path.display()
                );
                let len = cut_file(path, offset).map_err(|e| with_path(e, path))?;
                replay.truncated.push((path.clone(), len));
                for (_, later) in &selected[index + 1..] {
                    warn!("deleting txn log {}", later.display());
                    fs::remove_file(later).map_err(|e| with_path(e, later))?;
                    replay.truncated.push((later.clone(), 0));
                }
                sync_dir(dir)?;
                break;
            }
        }
    }
    replay.last_zxid = replay.entries.last().map(|e| e.header.zxid);
    Ok(replay)
}

/// Replaces `bytes` with the contents of `path`. One buffer serves every file: a log is mostly
/// its zero-filled preallocation, and faulting in fresh memory for each would cost more than
/// reading it.
fn read_whole_file(path: &Path, bytes: &mut Vec<u8>) -> io::Result<()> {
    bytes.clear();
    fs::File::open(path)
        .and_then(|mut file| {
            bytes.reserve(file.metadata()?.len() as usize);
            std::io::Read::read_to_end(&mut file, bytes)
        })
        .map(drop)
        .map_err(|e| with_path(e, path))
}

fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use zk_proto::data::{Acl, Id};
    use zk_proto::storage::{scan_txn_log, write_log_record};
    use zk_proto::txn::{
        CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, SetDataTxn, Txn, TxnDigest,
        TxnHeader,
    };
    use zk_proto::OpCode;

    fn open_acl() -> Vec<Acl> {
        vec![Acl {
            perms: 31,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }]
    }

    fn header(zxid: i64, r#type: OpCode) -> TxnHeader {
        TxnHeader {
            client_id: 0x1000_0834_8fc0_0000,
            cxid: (zxid & 0xffff) as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
            r#type,
        }
    }

    pub(super) fn create(zxid: i64) -> TxnEntry {
        TxnEntry {
            header: header(zxid, OpCode::Create),
            txn: Txn::Create(CreateTxn {
                path: format!("/node{zxid:x}"),
                data: Some(Bytes::from(vec![b'd'; 20])),
                acl: open_acl(),
                ephemeral: false,
                parent_c_version: (zxid & 0xffff) as i32,
            }),
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: zxid.wrapping_mul(0x9e37_79b9),
            }),
        }
    }

    pub(super) fn creates(zxids: std::ops::RangeInclusive<i64>) -> Vec<TxnEntry> {
        zxids.map(create).collect()
    }

    pub(super) fn write_all(w: &mut TxnLogWriter, entries: &[TxnEntry]) {
        for e in entries {
            w.append(e).unwrap();
        }
        w.sync().unwrap();
    }

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../zk-proto/tests/data/fixtures/java-3.8.0-datadir/version-2")
    }

    /// Offsets of the records of a log file: (start, end).
    pub(super) fn record_spans(path: &Path) -> Vec<(usize, usize)> {
        let bytes = fs::read(path).unwrap();
        let scan = scan_txn_log(&bytes).unwrap();
        scan.records.iter().map(|r| (r.offset, r.end())).collect()
    }

    fn decode_log(path: &Path) -> Vec<TxnEntry> {
        let bytes = fs::read(path).unwrap();
        let scan = scan_txn_log(&bytes).unwrap();
        assert!(scan.end.is_clean(), "{}: {:?}", path.display(), scan.end);
        scan.records.iter().map(|r| r.entry().unwrap()).collect()
    }

    pub(super) fn zxids(entries: &[TxnEntry]) -> Vec<i64> {
        entries.iter().map(|e| e.header.zxid).collect()
    }

    #[test]
    fn writes_and_reads_back_across_a_roll() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("version-2");
        let all = creates(1..=9);
        let mut w = TxnLogWriter::open(&dir, 16, true).unwrap();
        assert_eq!(w.current_file(), None);
        write_all(&mut w, &all[..5]);
        assert_eq!(w.current_file(), Some(dir.join("log.1").as_path()));
        w.roll().unwrap();
        assert_eq!(w.current_file(), None);
        write_all(&mut w, &all[5..]);
        assert_eq!(w.current_file(), Some(dir.join("log.6").as_path()));
        let len6 = w.current_log_len().unwrap();
        drop(w);

        for name in ["log.1", "log.6"] {
            assert_eq!(fs::metadata(dir.join(name)).unwrap().len(), 16400, "{name}");
        }
        let spans = record_spans(&dir.join("log.6"));
        assert_eq!(spans.last().unwrap().1 as u64, len6);
        assert_eq!(decode_log(&dir.join("log.1")), all[..5]);
        assert_eq!(decode_log(&dir.join("log.6")), all[5..]);

        let replay = read_logs_after(&dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all);
        assert_eq!(replay.last_zxid, Some(9));
        assert!(replay.truncated.is_empty());

        let replay = read_logs_after(&dir, 3, CorruptionPolicy::Fail).unwrap();
        assert_eq!(zxids(&replay.entries), (4..=9).collect::<Vec<_>>());
        let replay = read_logs_after(&dir, 9, CorruptionPolicy::Fail).unwrap();
        assert!(replay.entries.is_empty());
        assert_eq!(replay.last_zxid, None);

        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            names(logs_needed_after(&dir, 0).unwrap()),
            ["log.1", "log.6"]
        );
        assert_eq!(
            names(logs_needed_after(&dir, 5).unwrap()),
            ["log.1", "log.6"]
        );
        assert_eq!(names(logs_needed_after(&dir, 6).unwrap()), ["log.6"]);
        assert_eq!(names(logs_needed_after(&dir, 100).unwrap()), ["log.6"]);
        // Nothing there yet: no logs, no error.
        let empty = tmp.path().join("missing");
        assert!(logs_needed_after(&empty, 0).unwrap().is_empty());
        assert_eq!(
            read_logs_after(&empty, 0, CorruptionPolicy::Fail).unwrap(),
            LogReplay::default()
        );
    }

    #[test]
    fn record_bytes_are_write_log_record() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 0, false).unwrap();
        let entries = creates(0x2_0000_0001..=0x2_0000_0003);
        write_all(&mut w, &entries);
        drop(w);
        // preAllocSize 0: no padding at all.
        let file = fs::read(tmp.path().join("log.200000001")).unwrap();
        let mut expected = FileHeader::txn_log(0).to_jute_bytes();
        for e in &entries {
            write_log_record(&mut expected, &e.to_bytes());
        }
        assert_eq!(file, expected);
    }

    /// Rewrites every fixture log (Java 3.8.0, preAllocSize=16) from its decoded records, one
    /// sync per txn as the standalone server committed them, and compares whole files.
    #[test]
    fn rewriting_the_java_fixture_logs_gives_identical_files() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 16, false).unwrap();
        let logs = list_logs(&fixture_dir()).unwrap();
        assert_eq!(logs.len(), 7);
        for (_, path) in &logs {
            w.roll().unwrap();
            for e in decode_log(path) {
                w.append(&e).unwrap();
                w.sync().unwrap();
            }
        }
        drop(w);
        for (_, path) in &logs {
            let name = path.file_name().unwrap();
            let ours = fs::read(tmp.path().join(name)).unwrap();
            let java = fs::read(path).unwrap();
            assert_eq!(ours.len(), 16400, "{name:?}");
            assert!(ours == java, "{name:?} differs from Java's");
        }
    }

    #[test]
    fn preallocation_of_4k_matches_java() {
        let vector = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../zk-proto/tests/data/storage/log.5-prealloc4k");
        let entries = decode_log(&vector);
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 4, false).unwrap();
        for e in &entries {
            w.append(e).unwrap();
            w.sync().unwrap();
        }
        drop(w);
        let ours = fs::read(tmp.path().join("log.5")).unwrap();
        assert_eq!(ours.len(), 8208);
        assert!(ours == fs::read(&vector).unwrap());

        // Batched (one sync for all) grows the same way: 16 + 4096, then the margin again.
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 4, false).unwrap();
        write_all(&mut w, &creates(1..=2));
        assert_eq!(fs::metadata(tmp.path().join("log.1")).unwrap().len(), 8208);
        // One record: 16 + 4096.
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 4, false).unwrap();
        write_all(&mut w, &creates(1..=1));
        assert_eq!(fs::metadata(tmp.path().join("log.1")).unwrap().len(), 4112);
    }

    #[test]
    fn large_batches_flush_like_java_and_keep_growing() {
        // Records of ~160 bytes, 200 of them: well past 8 KiB of buffer and several growths.
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 4, true).unwrap();
        let entries = creates(1..=200);
        for chunk in entries.chunks(37) {
            write_all(&mut w, chunk);
        }
        let end = w.current_log_len().unwrap();
        drop(w);
        let path = tmp.path().join("log.1");
        let size = fs::metadata(&path).unwrap().len();
        assert!(
            size > end && size - end < 2 * 4096,
            "size {size}, records end at {end}"
        );
        assert_eq!((size - 16) % 4096, 0);
        let replay = read_logs_after(tmp.path(), 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, entries);
    }

    #[test]
    fn reads_the_java_fixture() {
        let tmp = tempfile::tempdir().unwrap();
        for (_, path) in list_logs(&fixture_dir()).unwrap() {
            fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
        }
        let all = read_logs_after(tmp.path(), 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(all.entries.len(), 107);
        assert_eq!(zxids(&all.entries), (1..=107).collect::<Vec<_>>());
        assert!(all.truncated.is_empty());
        // snapshot.63: log.56 and log.65 are read, replay starts at 0x64.
        let names: Vec<_> = logs_needed_after(tmp.path(), 0x63)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["log.56", "log.65"]);
        let after = read_logs_after(tmp.path(), 0x63, CorruptionPolicy::Fail).unwrap();
        assert_eq!(zxids(&after.entries), (0x64..=0x6b).collect::<Vec<_>>());
        assert_eq!(after.last_zxid, Some(0x6b));
        // Every fixture snapshot.
        for snap in [0, 0x11, 0x20, 0x32, 0x46, 0x54] {
            let r = read_logs_after(tmp.path(), snap, CorruptionPolicy::Fail).unwrap();
            assert_eq!(zxids(&r.entries), (snap + 1..=0x6b).collect::<Vec<_>>());
        }
    }

    /// Writes 1..=5 to log.1 and 6..=9 to log.6.
    pub(super) fn two_logs(dir: &Path) -> Vec<TxnEntry> {
        let all = creates(1..=9);
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        write_all(&mut w, &all[..5]);
        w.roll().unwrap();
        write_all(&mut w, &all[5..]);
        all
    }

    #[test]
    fn torn_tail_of_the_last_log_is_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir);
        let log6 = dir.join("log.6");
        let spans = record_spans(&log6);
        // Crash in the middle of the last record (9): the file ends there.
        let (start, end) = spans[3];
        let file = OpenOptions::new().write(true).open(&log6).unwrap();
        file.set_len(((start + end) / 2) as u64).unwrap();
        drop(file);

        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all[..8]);
        assert_eq!(replay.last_zxid, Some(8));
        assert_eq!(replay.truncated, vec![(log6.clone(), start as u64)]);
        assert_eq!(fs::metadata(&log6).unwrap().len(), start as u64);
        // Idempotent: now a clean end of file.
        let again = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(again.entries, all[..8]);
        assert!(again.truncated.is_empty());

        // The server goes on with a new file; everything reads back.
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        let next = creates(9..=10);
        write_all(&mut w, &next);
        drop(w);
        assert!(dir.join("log.9").exists());
        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(zxids(&replay.entries), (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn partial_write_into_the_padding_is_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir);
        let log6 = dir.join("log.6");
        let (start, end) = *record_spans(&log6).last().unwrap();
        let mut bytes = fs::read(&log6).unwrap();

        // The end marker never made it: Java's "Last transaction was partial".
        bytes[end - 1] = 0;
        fs::write(&log6, &bytes).unwrap();
        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all[..8]);
        assert_eq!(replay.truncated, vec![(log6.clone(), start as u64)]);

        // Only the checksum of a record reached the disk (its length reads 0).
        let mut bytes = fs::read(dir.join("log.1")).unwrap();
        bytes.resize(16400, 0);
        let (s5, _) = *record_spans(&dir.join("log.1")).last().unwrap();
        fs::remove_file(&log6).unwrap();
        bytes[s5 + 8..s5 + 12].copy_from_slice(&[0; 4]);
        fs::write(dir.join("log.1"), &bytes).unwrap();
        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all[..4]);
        assert_eq!(replay.truncated, vec![(dir.join("log.1"), s5 as u64)]);
    }

    #[test]
    fn zero_padded_tail_is_clean() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir);
        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all);
        assert!(replay.truncated.is_empty());
        for name in ["log.1", "log.6"] {
            assert_eq!(fs::metadata(dir.join(name)).unwrap().len(), 16400);
        }
    }

    #[test]
    fn header_only_or_cut_header_last_log() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir);
        // A crash right after creating log.a: a few bytes of the header.
        fs::write(
            dir.join("log.a"),
            &FileHeader::txn_log(0).to_jute_bytes()[..5],
        )
        .unwrap();
        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all);
        assert_eq!(replay.truncated, vec![(dir.join("log.a"), 0)]);
        assert!(!dir.join("log.a").exists());
        // A header and padding only: clean.
        let mut header_only = FileHeader::txn_log(0).to_jute_bytes();
        header_only.resize(4112, 0);
        fs::write(dir.join("log.a"), &header_only).unwrap();
        let replay = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(replay.entries, all);
        assert!(replay.truncated.is_empty());
    }

    #[test]
    fn flipped_byte_is_corrupt_or_truncated() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir);
        let log1 = dir.join("log.1");
        let (start, end) = record_spans(&log1)[2]; // zxid 3
        let mut bytes = fs::read(&log1).unwrap();
        bytes[(start + end) / 2] ^= 0x01;
        fs::write(&log1, &bytes).unwrap();

        let error = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap_err();
        match &error {
            LogRecoveryError::Corrupt {
                file,
                offset,
                detail,
            } => {
                assert_eq!(file, &log1);
                assert_eq!(*offset, start as u64);
                assert!(detail.contains("CRC"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains("log.1"), "{error}");
        // Nothing was changed.
        assert_eq!(fs::read(&log1).unwrap(), bytes);
        assert!(dir.join("log.6").exists());
        // A snapshot at 5 still reads log.1 (Java's rule: the log covering the snapshot), one
        // at 6 does not.
        assert!(read_logs_after(dir, 5, CorruptionPolicy::Fail).is_err());
        let r = read_logs_after(dir, 6, CorruptionPolicy::Fail).unwrap();
        assert_eq!(r.entries, all[6..]);

        let replay = read_logs_after(dir, 0, CorruptionPolicy::TruncateAtCorruption).unwrap();
        assert_eq!(replay.entries, all[..2]);
        assert_eq!(replay.last_zxid, Some(2));
        assert_eq!(
            replay.truncated,
            vec![(log1.clone(), start as u64), (dir.join("log.6"), 0)]
        );
        assert_eq!(fs::metadata(&log1).unwrap().len(), start as u64);
        assert!(!dir.join("log.6").exists());
        let again = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(again.entries, all[..2]);
    }

    #[test]
    fn torn_record_in_an_older_log_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir);
        let log1 = dir.join("log.1");
        let (start, end) = record_spans(&log1)[4];
        let file = OpenOptions::new().write(true).open(&log1).unwrap();
        file.set_len((end - 3) as u64).unwrap();
        drop(file);
        match read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap_err() {
            LogRecoveryError::Corrupt { file, offset, .. } => {
                assert_eq!(file, log1);
                assert_eq!(offset, start as u64);
            }
            other => panic!("{other:?}"),
        }
        let replay = read_logs_after(dir, 0, CorruptionPolicy::TruncateAtCorruption).unwrap();
        assert_eq!(replay.entries, all[..4]);
        assert_eq!(
            replay.truncated,
            vec![(log1, start as u64), (dir.join("log.6"), 0)]
        );
    }

    #[test]
    fn undecodable_record_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        write_all(&mut w, &creates(1..=2));
        drop(w);
        // A record with a good checksum but a txn type Java cannot read (top-level check).
        let log1 = dir.join("log.1");
        let (_, end) = *record_spans(&log1).last().unwrap();
        let mut bad = Vec::new();
        let mut txn = Vec::new();
        header(3, OpCode::Check).write(&mut txn);
        txn.extend_from_slice(&[0, 0, 0, 1, b'/', 0, 0, 0, 0]);
        write_log_record(&mut bad, &txn);
        let mut bytes = fs::read(&log1).unwrap();
        bytes[end..end + bad.len()].copy_from_slice(&bad);
        fs::write(&log1, &bytes).unwrap();
        match read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap_err() {
            LogRecoveryError::Corrupt {
                file,
                offset,
                detail,
            } => {
                assert_eq!(file, log1);
                assert_eq!(offset, end as u64);
                assert!(detail.contains("undecodable"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zxid_gaps_and_repeats() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        write_all(&mut w, &creates(1..=3));
        w.roll().unwrap();
        write_all(&mut w, &creates(5..=6)); // 4 is missing
        drop(w);
        match read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap_err() {
            LogRecoveryError::Corrupt { file, offset, .. } => {
                assert_eq!(file, dir.join("log.5"));
                assert_eq!(offset, 16);
            }
            other => panic!("{other:?}"),
        }
        // A snapshot at 3 whose next txn (4) is lost is a gap too.
        assert!(read_logs_after(dir, 3, CorruptionPolicy::Fail).is_err());
        // A snapshot at 4 is fine.
        let r = read_logs_after(dir, 4, CorruptionPolicy::Fail).unwrap();
        assert_eq!(zxids(&r.entries), [5, 6]);
        // Truncating at the gap drops log.5 (header only) entirely.
        let r = read_logs_after(dir, 0, CorruptionPolicy::TruncateAtCorruption).unwrap();
        assert_eq!(zxids(&r.entries), [1, 2, 3]);
        assert_eq!(r.truncated, vec![(dir.join("log.5"), 0)]);

        // A repeat across files: log.3 holding 3..=4 after log.1 holding 1..=3.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        write_all(&mut w, &creates(1..=3));
        w.roll().unwrap();
        write_all(&mut w, &creates(3..=4));
        drop(w);
        match read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap_err() {
            LogRecoveryError::Corrupt { file, .. } => assert_eq!(file, dir.join("log.3")),
            other => panic!("{other:?}"),
        }
        // The overlap of a fuzzy snapshot at 3 is skipped.
        let r = read_logs_after(dir, 3, CorruptionPolicy::Fail).unwrap();
        assert_eq!(zxids(&r.entries), [4]);

        // A new epoch restarts the counter: not a gap.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        write_all(&mut w, &creates(0x1_0000_0001..=0x1_0000_0003));
        w.roll().unwrap();
        write_all(&mut w, &creates(0x3_0000_0001..=0x3_0000_0002));
        drop(w);
        let r = read_logs_after(dir, 0x1_0000_0000, CorruptionPolicy::Fail).unwrap();
        assert_eq!(r.entries.len(), 5);
        let r = read_logs_after(dir, 0x1_0000_0003, CorruptionPolicy::Fail).unwrap();
        assert_eq!(r.entries.len(), 2);
    }

    #[test]
    fn ignores_other_files_and_sorts_by_zxid() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = TxnLogWriter::open(dir, 1, false).unwrap();
        for z in 1..=0x12 {
            if z == 0x10 || z == 2 {
                w.roll().unwrap();
            }
            write_all(&mut w, &[create(z)]);
        }
        drop(w);
        fs::write(dir.join("log.5.tmp"), b"junk").unwrap();
        fs::write(dir.join("snapshot.3"), b"junk").unwrap();
        fs::write(dir.join("logfile"), b"junk").unwrap();
        let names: Vec<_> = logs_needed_after(dir, 0)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        // "log.10" sorts after "log.2" by zxid, not by name.
        assert_eq!(names, ["log.1", "log.2", "log.10"]);
        let r = read_logs_after(dir, 0, CorruptionPolicy::Fail).unwrap();
        assert_eq!(zxids(&r.entries), (1..=0x12).collect::<Vec<_>>());
    }

    #[test]
    fn sync_with_and_without_force_sync() {
        for force in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            let mut w = TxnLogWriter::open(&tmp.path().join("a/version-2"), 64, force).unwrap();
            w.sync().unwrap(); // nothing yet
            w.append(&create(1)).unwrap();
            // Buffered: not in the file yet (only the header was written at creation).
            let path = tmp.path().join("a/version-2/log.1");
            let end = w.current_log_len().unwrap();
            assert!(scan_txn_log(&fs::read(&path).unwrap())
                .unwrap()
                .records
                .is_empty());
            w.sync().unwrap();
            assert_eq!(
                record_spans(&path).last().unwrap().1 as u64,
                end,
                "synced records are in the file"
            );
            w.append(&create(2)).unwrap();
            w.roll().unwrap(); // written out, synced by the next sync
            assert_eq!(record_spans(&path).len(), 2);
            w.append(&create(3)).unwrap();
            w.sync().unwrap();
            assert_eq!(fs::metadata(&path).unwrap().len(), 16 + 64 * 1024);
            let r = read_logs_after(&tmp.path().join("a/version-2"), 0, CorruptionPolicy::Fail)
                .unwrap();
            assert_eq!(zxids(&r.entries), [1, 2, 3]);
        }
    }

    #[test]
    fn a_sync_split_in_two_shows_only_what_it_covered() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("version-2");
        let mut w = TxnLogWriter::open(&dir, 64, true).unwrap();
        for e in creates(1..=2) {
            w.append(&e).unwrap();
        }
        let zxids_readable = |w: &TxnLogWriter| -> Vec<i64> {
            w.read_from(1).map(|e| e.unwrap().header.zxid).collect()
        };
        let pending = w.begin_sync().unwrap();
        // Appends go on while the fsync runs elsewhere; neither is visible until reported.
        w.append(&create(3)).unwrap();
        assert!(zxids_readable(&w).is_empty());
        let durable = std::thread::spawn(move || pending.run())
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(
            durable, 2,
            "the sync covers what was appended before it began"
        );
        w.sync_done(durable);
        assert_eq!(zxids_readable(&w), [1, 2]);
        // A rolled file is synced by the next one.
        w.roll().unwrap();
        w.append(&create(4)).unwrap();
        let pending = w.begin_sync().unwrap();
        w.sync_done(pending.run().unwrap());
        assert_eq!(zxids_readable(&w), [1, 2, 3, 4]);
        // An older report never moves the durable zxid back.
        w.sync_done(1);
        assert_eq!(zxids_readable(&w), [1, 2, 3, 4]);
    }

    fn some_txns() -> Vec<TxnEntry> {
        let session = 0x1000_0834_8fc0_0000;
        let mut e = vec![
            TxnEntry {
                header: header(1, OpCode::CreateSession),
                txn: Txn::CreateSession(CreateSessionTxn { time_out: 30000 }),
                digest: Some(TxnDigest {
                    version: 2,
                    tree_digest: 0x51c6_d660,
                }),
            },
            create(2),
            TxnEntry {
                header: header(3, OpCode::SetData),
                txn: Txn::SetData(SetDataTxn {
                    path: "/node2".into(),
                    data: Some(Bytes::from_static(b"hello")),
                    version: 1,
                }),
                digest: None,
            },
            TxnEntry {
                header: header(4, OpCode::Delete),
                txn: Txn::Delete(DeleteTxn {
                    path: "/node2".into(),
                }),
                digest: None,
            },
            TxnEntry {
                header: header(5, OpCode::CloseSession),
                txn: Txn::CloseSession(Some(CloseSessionTxn {
                    paths2_delete: vec![],
                })),
                digest: None,
            },
        ];
        for t in &mut e {
            t.header.client_id = session;
        }
        e
    }

    /// Runs Java 3.8's `TxnLogToolkit -d` on one log file and returns what it printed; panics
    /// if it cannot run or fails.
    pub(super) fn java_txn_log_dump(log: &Path) -> String {
        let jars = [
            "/usr/share/java/zookeeper.jar",
            "/usr/share/java/zookeeper-jute.jar",
            "/usr/share/java/slf4j-api.jar",
            "/usr/share/java/slf4j-simple.jar",
        ];
        for jar in jars {
            assert!(
                Path::new(jar).exists(),
                "{jar} is missing: install Java and ZooKeeper 3.8 (scripts/test.sh does) to run \
                 this interop test"
            );
        }
        let output = std::process::Command::new("java")
            .arg("-cp")
            .arg(jars.join(":"))
            .arg("org.apache.zookeeper.server.persistence.TxnLogToolkit")
            .arg("-d")
            .arg(log)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `java` ({e}): install a JRE (scripts/test.sh does) to run this \
                     interop test"
                )
            });
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "TxnLogToolkit failed on {}: {}\n{stdout}\n{stderr}",
            log.display(),
            output.status
        );
        stdout
    }

    /// Java's own `TxnLogToolkit` must read what we write.
    #[test]
    fn java_txn_log_toolkit_reads_our_log() {
        let tmp = tempfile::tempdir().unwrap();
        let txns = some_txns();
        let mut w = TxnLogWriter::open(tmp.path(), 16, true).unwrap();
        write_all(&mut w, &txns[..3]);
        write_all(&mut w, &txns[3..]);
        drop(w);
        let stdout = java_txn_log_dump(&tmp.path().join("log.1"));
        assert!(
            stdout.contains("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"),
            "{stdout}"
        );
        for (zxid, what) in [
            (1, "createSession 30000"),
            (
                2,
                "create /node2,dddddddddddddddddddd,[31,s{'world,'anyone}",
            ),
            (3, "setData /node2,hello,1"),
            (4, "delete '/node2"),
            (5, "closeSession v{}"),
        ] {
            let line = stdout
                .lines()
                .find(|l| l.contains(&format!(" zxid {zxid:#x} ")))
                .unwrap_or_else(|| panic!("no txn {zxid:#x} in:\n{stdout}"));
            assert!(line.contains("session 0x100008348fc00000 "), "{line}");
            assert!(line.contains(what), "{line} lacks {what}\n{stdout}");
        }
        assert!(stdout.contains("EOF reached after 5 txns."), "{stdout}");
    }
}

//! Reading and cutting the logged history, for ZAB's sync: the txns from a zxid on across the
//! log files (a leader's DIFF, Java's `FileTxnLog.read`), cutting every txn after a zxid (a
//! learner's TRUNC, Java's `FileTxnLog.truncate`) and the last logged zxid of existing files
//! (Java's `getLastLoggedZxid`). Records are read with the recovery code's parser and checks.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};
use zk_proto::storage::{LogError, TxnLogReader};
use zk_proto::txn::TxnEntry;

use super::{
    cut_file, first_needed, list_logs, read_whole_file, scan_file, sync_dir, with_path, FileEnd,
    TxnLogWriter,
};
use crate::storage::log::{TxnEntries, TxnLog};

/// The largest record length the writer reads back: any it could write. Its files come from
/// this server, whose `jute.maxbuffer` may exceed the default limit, and recovery has already
/// judged them with the configured limit.
const READ_BACK_MAX_TXN_LEN: usize = i32::MAX as usize;

/// Walks the complete records of one log file by their headers until `stop_at` says so.
/// Returns the offset reading stopped at (the record `stop_at` picked, or the end of the last
/// good record) and the zxid of the last record walked past. A torn tail ends the walk; a file
/// too short for its header holds nothing; damage is an error.
fn walk_records(
    bytes: &[u8],
    mut stop_at: impl FnMut(i64) -> bool,
) -> Result<(usize, Option<i64>), String> {
    let mut reader = match TxnLogReader::new(bytes) {
        Ok(reader) => reader.with_max_txn_len(READ_BACK_MAX_TXN_LEN),
        Err(LogError::TruncatedHeader { .. }) => return Ok((0, None)),
        Err(error) => return Err(error.to_string()),
    };
    let mut last = None;
    while let Some(record) = reader.next_record().map_err(|e| e.to_string())? {
        let zxid = record
            .txn_header()
            .map_err(|e| format!("undecodable txn header at offset {}: {e}", record.offset))?
            .zxid;
        if stop_at(zxid) {
            return Ok((record.offset, last));
        }
        last = Some(zxid);
    }
    Ok((reader.position(), last))
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("txn log {} is corrupt: {detail}", path.display()),
    )
}

/// The zxid of the last complete record in the logs of `dir`, 0 if they hold none: the newest
/// log with a record decides (a crash can leave the newest one with only its header).
pub(super) fn last_logged_zxid_in(dir: &Path) -> io::Result<i64> {
    let mut bytes = Vec::new();
    for (_, path) in list_logs(dir)?.iter().rev() {
        read_whole_file(path, &mut bytes)?;
        let (_, last) = walk_records(&bytes, |_| false).map_err(|detail| corrupt(path, detail))?;
        if let Some(zxid) = last {
            return Ok(zxid);
        }
    }
    Ok(0)
}

impl TxnLogWriter {
    /// Drops every txn with a zxid larger than `zxid`, as Java's `FileTxnLog.truncate`: the file
    /// holding the last kept txn is cut right after it (its preallocated tail too; a file left
    /// with no txn is deleted) and every later file is deleted. The cut file and the directory
    /// are synced whatever `forceSync` says. The next append starts a new file, as after Java's
    /// reopen. Unlike Java, a `zxid` before every txn drops them all (Java keeps the first
    /// record) and a directory without logs is not an error.
    pub fn truncate_after(&mut self, zxid: i64) -> io::Result<()> {
        // Everything buffered goes to the files first, so the files are the whole log.
        self.sync()?;
        self.current = None;
        let logs = list_logs(&self.dir)?;
        let first = first_needed(&logs, zxid);
        let mut bytes = Vec::new();
        if let Some((_, path)) = logs.get(first) {
            read_whole_file(path, &mut bytes)?;
            let (cut, _) =
                walk_records(&bytes, |z| z > zxid).map_err(|detail| corrupt(path, detail))?;
            info!("Truncating txn log {} after zxid {zxid:#x}", path.display());
            cut_file(path, cut as u64).map_err(|e| with_path(e, path))?;
        }
        for (_, later) in logs.iter().skip(first + 1) {
            warn!("deleting txn log {} (truncated)", later.display());
            std::fs::remove_file(later).map_err(|e| with_path(e, later))?;
        }
        sync_dir(&self.dir)?;
        let last = last_logged_zxid_in(&self.dir)?;
        self.last_zxid_seen = last;
        self.flushed_zxid = last;
        Ok(())
    }

    /// The durable txns with zxid >= `zxid`, read from the files in order (see
    /// [`TxnLog::read_from`]). The iterator owns what it needs, so a leader can send a DIFF
    /// from another thread while the log goes on; it must not outlive a
    /// [`Self::truncate_after`].
    pub fn read_from(&self, zxid: i64) -> TxnLogIterator {
        read_dir_from(&self.dir, zxid, self.flushed_zxid)
    }
}

/// The txns with zxid >= `zxid` in the log files of `dir`, up to `until` (a zxid known to be
/// durable there), read as [`TxnLogWriter::read_from`] reads them; the archiver's catch-up
/// reads the files of a log another task writes.
pub fn read_dir_from(dir: &Path, zxid: i64, until: i64) -> TxnLogIterator {
    let files = if zxid > until || until == 0 {
        VecDeque::new()
    } else {
        match list_logs(dir) {
            Ok(logs) => {
                let first = first_needed(&logs, zxid);
                logs.into_iter().skip(first).map(|(_, path)| path).collect()
            }
            Err(error) => return TxnLogIterator::failed(error),
        }
    };
    TxnLogIterator {
        done: files.is_empty(),
        files,
        from: zxid,
        until,
        prev: None,
        pending: VecDeque::new(),
        error: None,
    }
}

/// The txns of a [`TxnLogWriter`] from a zxid up to the durable end, read one file at a time
/// with recovery's checks (zxids increase without gaps within an epoch). A damaged record
/// before the durable end is an error, after which the iterator ends.
#[derive(Debug)]
pub struct TxnLogIterator {
    /// Files still to read, oldest first.
    files: VecDeque<PathBuf>,
    from: i64,
    /// The durable end: nothing after it is yielded (a live file may hold more, even a record
    /// only partly written out of the writer's buffer).
    until: i64,
    prev: Option<i64>,
    pending: VecDeque<TxnEntry>,
    error: Option<io::Error>,
    done: bool,
}

impl TxnLogIterator {
    fn failed(error: io::Error) -> TxnLogIterator {
        TxnLogIterator {
            files: VecDeque::new(),
            from: 0,
            until: 0,
            prev: None,
            pending: VecDeque::new(),
            error: Some(error),
            done: true,
        }
    }

    /// Reads the next file into `pending` (or `error`); marks the end once `until` is reached.
    fn read_next_file(&mut self, path: &Path) {
        let mut bytes = Vec::new();
        if let Err(error) = read_whole_file(path, &mut bytes) {
            self.error = Some(error);
            return;
        }
        let mut entries = Vec::new();
        let end = scan_file(
            &bytes,
            self.from.saturating_sub(1),
            false,
            READ_BACK_MAX_TXN_LEN,
            &mut self.prev,
            &mut entries,
        );
        let reached = self.prev.is_some_and(|zxid| zxid >= self.until);
        entries.retain(|e| e.header.zxid <= self.until);
        self.pending.extend(entries);
        if reached {
            self.done = true;
            return;
        }
        let is_last = self.files.is_empty();
        self.error = match end {
            FileEnd::Clean => None,
            // A torn tail past the durable end can only end the last file (a crash, cut by
            // recovery; or a record the writer has partly written out).
            FileEnd::Torn { .. } if is_last => None,
            FileEnd::Torn { cut, detail } => Some(corrupt(
                path,
                format_args!("{detail} at offset {cut}, but later logs exist"),
            )),
            FileEnd::Corrupt { offset, detail } => {
                Some(corrupt(path, format_args!("{detail} at offset {offset}")))
            }
        };
        if self.error.is_none() && is_last {
            self.error = Some(corrupt(
                path,
                format_args!(
                    "the logs end at zxid {:#x}, before the durable end {:#x}",
                    self.prev.unwrap_or(0),
                    self.until
                ),
            ));
        }
    }
}

impl Iterator for TxnLogIterator {
    type Item = io::Result<TxnEntry>;

    fn next(&mut self) -> Option<io::Result<TxnEntry>> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Some(Ok(entry));
            }
            if let Some(error) = self.error.take() {
                self.done = true;
                self.files.clear();
                return Some(Err(error));
            }
            if self.done {
                return None;
            }
            match self.files.pop_front() {
                Some(path) => self.read_next_file(&path),
                None => self.done = true,
            }
        }
    }
}

impl TxnLog for TxnLogWriter {
    fn append(&mut self, entry: &TxnEntry) -> io::Result<()> {
        TxnLogWriter::append(self, entry)
    }
    fn flush(&mut self) -> io::Result<i64> {
        TxnLogWriter::sync(self)?;
        Ok(self.flushed_zxid)
    }
    fn roll(&mut self) -> io::Result<()> {
        TxnLogWriter::roll(self)
    }
    fn last_logged_zxid(&self) -> i64 {
        self.last_zxid_seen
    }
    fn truncate_after(&mut self, zxid: i64) -> io::Result<()> {
        TxnLogWriter::truncate_after(self, zxid)
    }
    fn read_from(&self, zxid: i64) -> TxnEntries<'_> {
        Box::new(TxnLogWriter::read_from(self, zxid))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::tests::{
        create, creates, java_txn_log_dump, record_spans, two_logs, write_all, zxids,
    };
    use super::*;

    fn read_all(w: &TxnLogWriter, zxid: i64) -> Vec<io::Result<TxnEntry>> {
        w.read_from(zxid).collect()
    }

    /// Java's `TxnLogToolkit` reads a log cut by `truncate_after` (no padding left, the record
    /// after the cut gone) and the file written after it.
    #[test]
    fn java_reads_truncated_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let all = two_logs(dir); // log.1: 1..=5, log.6: 6..=9, 16 KiB preallocated
        let mut w = TxnLogWriter::open(dir, 16, true).unwrap();
        assert_eq!(w.last_zxid_seen, 9);
        w.truncate_after(7).unwrap();
        let log6 = dir.join("log.6");
        let spans = record_spans(&log6);
        assert_eq!(spans.len(), 2);
        assert_eq!(fs::metadata(&log6).unwrap().len(), spans[1].1 as u64);
        assert_eq!(fs::metadata(dir.join("log.1")).unwrap().len(), 16400);
        write_all(&mut w, &creates(8..=10));
        assert!(dir.join("log.8").exists());
        let replay = super::super::read_logs_after(dir, 0, super::super::CorruptionPolicy::Fail);
        assert_eq!(
            zxids(&replay.unwrap().entries),
            (1..=10).collect::<Vec<_>>()
        );

        for (name, txns) in [("log.1", 1..=5), ("log.6", 6..=7), ("log.8", 8..=10)] {
            let dump = java_txn_log_dump(&dir.join(name));
            let count = txns.clone().count();
            assert!(
                dump.contains(&format!("EOF reached after {count} txns.")),
                "{name}:\n{dump}"
            );
            for zxid in txns {
                assert!(
                    dump.contains(&format!(" zxid {zxid:#x} ")),
                    "{name}:\n{dump}"
                );
            }
        }
        // The cut txn 8 of log.6 is gone; log.8's txn 8 is the new one.
        assert!(!java_txn_log_dump(&log6).contains(" zxid 0x8 "));
        assert_eq!(w.read_from(8).next().unwrap().unwrap(), create(8));
        assert_eq!(w.read_from(0).count(), all.len() + 1);
    }

    #[test]
    fn damage_before_the_durable_end_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        two_logs(dir);
        let log1 = dir.join("log.1");
        let (start, end) = record_spans(&log1)[2]; // zxid 3
        let mut bytes = fs::read(&log1).unwrap();
        bytes[(start + end) / 2] ^= 0x01;
        fs::write(&log1, &bytes).unwrap();

        let w = TxnLogWriter::open(dir, 16, false).unwrap();
        assert_eq!(w.last_zxid_seen, 9, "the newest log decides");
        let read = read_all(&w, 1);
        assert_eq!(read.len(), 3, "two txns, one error, then nothing");
        assert_eq!(read[1].as_ref().unwrap().header.zxid, 2);
        let error = read[2].as_ref().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("log.1"), "{error}");
        // From 6 on only log.6 is read.
        assert_eq!(read_all(&w, 6).len(), 4);
        assert!(read_all(&w, 6).iter().all(Result::is_ok));

        // Cutting before the damage needs no reading past it; cutting after it refuses and
        // changes nothing.
        let mut w = TxnLogWriter::open(dir, 16, false).unwrap();
        let error = w.truncate_after(4).unwrap_err();
        assert!(error.to_string().contains("CRC"), "{error}");
        assert!(dir.join("log.6").exists());
        assert_eq!(fs::read(&log1).unwrap(), bytes);
    }

    #[test]
    fn open_finds_the_last_logged_zxid() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert_eq!(
            TxnLogWriter::open(dir, 16, false).unwrap().last_zxid_seen,
            0
        );
        two_logs(dir);
        // A crash right after creating log.a left its header and padding only.
        let mut header_only =
            zk_proto::Jute::to_jute_bytes(&zk_proto::storage::FileHeader::txn_log(0));
        header_only.resize(4112, 0);
        fs::write(dir.join("log.a"), &header_only).unwrap();
        let w = TxnLogWriter::open(dir, 16, false).unwrap();
        assert_eq!(w.last_zxid_seen, 9);
        assert_eq!(
            zxids(&w.read_from(8).map(Result::unwrap).collect::<Vec<_>>()),
            [8, 9]
        );
        // A newest log that is not a log stops the open.
        fs::write(dir.join("log.b"), b"not a txn log, but long enough").unwrap();
        let error = TxnLogWriter::open(dir, 16, false).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    /// A server with a large `jute.maxbuffer` writes records past the default limit: its
    /// writer reads them back, reopened too.
    #[test]
    fn records_past_the_default_limit_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let mut big = create(2);
        if let zk_proto::txn::Txn::Create(t) = &mut big.txn {
            let len = zk_proto::storage::DEFAULT_MAX_TXN_LEN + 1000;
            t.data = Some(bytes::Bytes::from(vec![b'x'; len]));
        }
        let entries = [create(1), big, create(3)];
        let mut w = TxnLogWriter::open(tmp.path(), 16, false).unwrap();
        write_all(&mut w, &entries);
        drop(w);
        let mut w = TxnLogWriter::open(tmp.path(), 16, false).unwrap();
        assert_eq!(w.last_zxid_seen, 3);
        let read: Vec<_> = w.read_from(1).map(Result::unwrap).collect();
        assert_eq!(read, entries);
        w.truncate_after(2).unwrap();
        assert_eq!(
            w.read_from(2).map(Result::unwrap).collect::<Vec<_>>(),
            entries[1..2]
        );
    }

    /// A leader sends a DIFF from another thread while the log goes on: the iterator yields
    /// what was durable when it was made, even with later records half out of the buffer.
    #[test]
    fn the_owned_iterator_ignores_later_appends() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(tmp.path(), 4, true).unwrap();
        write_all(&mut w, &creates(1..=5));
        let diff = w.read_from(3);
        for entry in creates(6..=120) {
            w.append(&entry).unwrap(); // past the 8 KiB buffer: some reach the file
        }
        let sent = std::thread::spawn(move || diff.map(Result::unwrap).collect::<Vec<_>>())
            .join()
            .unwrap();
        assert_eq!(zxids(&sent), [3, 4, 5]);
        w.sync().unwrap();
        assert_eq!(w.read_from(3).count(), 118);
    }
}

//! Byte layouts of ZooKeeper's data directory: txn logs, snapshots and their file names, as Java
//! 3.8 writes and reads them (STORAGE.md).
//!
//! Everything here works on byte slices; opening, reading, preallocating and fsyncing files is
//! the server's job. Compressed snapshot containers (gzip, snappy, lz4) are only recognised, not
//! decompressed: hand the decompressed stream to [`Snapshot::parse`].
//!
//! - [`FileHeader`], [`log_file_name`], [`snapshot_file_name`], [`parse_data_file_name`];
//! - txn logs: [`TxnLogReader`] yields [`LogRecord`]s and reports how the log ended
//!   ([`LogEnd`]) or why reading must stop ([`LogError`]); [`write_log_record`] writes one;
//! - snapshots: [`Snapshot`] (parse and write, seals included), [`SnapshotWriter`] to stream one
//!   out node by node, [`is_valid_snapshot`] for Java's cheap validity check;
//! - the SNAP sync body sent on the quorum port: [`read_snap_sync_body`],
//!   [`write_snap_sync_body`];
//! - the tree digest: [`node_digest`], [`SnapshotData::tree_digest`].

use crate::data::{Acl, StatPersisted};
use crate::jute::{jute_record, DecodeError, Jute};
use crate::txn::TxnEntry;
use bytes::{BufMut, Bytes};
use simd_adler32::Adler32;

/// Magic of a snapshot file: `ZKSN`.
pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
/// Magic of a txn-log file: `ZKLG`.
pub const TXNLOG_MAGIC: i32 = 0x5A4B_4C47;
/// The file format version, also the `version-2` directory name.
pub const FORMAT_VERSION: i32 = 2;
/// The subdirectory of `dataDir` / `dataLogDir` that holds the files.
pub const VERSION_DIR: &str = "version-2";
/// Length of a [`FileHeader`].
pub const FILE_HEADER_LEN: usize = 16;
/// The byte that ends every txn-log record (`'B'`).
pub const RECORD_END_MARKER: u8 = 0x42;
/// Bytes a txn-log record adds around its txn bytes: checksum (8), length (4), end marker (1).
pub const RECORD_OVERHEAD: usize = 13;
/// Java's default bound on a record's length: `jute.maxbuffer` (0xfffff) plus
/// `zookeeper.jute.maxbuffer.extrasize`, which defaults to `jute.maxbuffer` (since 3.5.7).
/// Longer lengths are "unreasonable" and stop the read.
pub const DEFAULT_MAX_TXN_LEN: usize = 2 * 0xfffff;
/// The signature that ends a SNAP sync body on the quorum port.
pub const SNAP_SYNC_SIGNATURE: &str = "BenWasHere";
/// The current tree digest algorithm version.
pub const DIGEST_VERSION: i32 = 2;

jute_record! {
    /// The 16 bytes that start every snapshot and txn log.
    pub struct FileHeader {
        /// [`SNAP_MAGIC`] or [`TXNLOG_MAGIC`].
        pub magic: i32,
        /// [`FORMAT_VERSION`].
        pub version: i32,
        /// Database id: -1 in snapshots, 0 in the logs Java writes.
        pub dbid: i64,
    }
}

impl FileHeader {
    /// The header Java writes on snapshots: `ZKSN`, version 2, dbid -1.
    pub fn snapshot() -> Self {
        FileHeader {
            magic: SNAP_MAGIC,
            version: FORMAT_VERSION,
            dbid: -1,
        }
    }

    /// A txn-log header with the given dbid (Java servers use 0).
    pub fn txn_log(dbid: i64) -> Self {
        FileHeader {
            magic: TXNLOG_MAGIC,
            version: FORMAT_VERSION,
            dbid,
        }
    }
}

/// Adler-32 as Java's `java.util.zip.Adler32` computes it, widened to the long Java stores.
pub fn adler32(bytes: &[u8]) -> i64 {
    let mut adler = Adler32::new();
    adler.write(bytes);
    i64::from(adler.finish())
}

// ---------------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------------

/// Which kind of data file a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFileKind {
    /// `log.<hex zxid>`.
    TxnLog,
    /// `snapshot.<hex zxid>[.ext]`.
    Snapshot,
}

/// A parsed data-file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileName {
    /// Log or snapshot.
    pub kind: DataFileKind,
    /// The zxid in the name: the first txn of a log, the last processed zxid of a snapshot.
    pub zxid: i64,
    /// What follows the zxid after a dot (`gz`, `snappy`, `tmp`, ...), if anything.
    pub suffix: Option<String>,
}

/// `log.<zxid in lowercase hex>`, as Java's `Util.makeLogName`.
///
/// ```
/// assert_eq!(zk_proto::storage::log_file_name(0x2_0000_0001), "log.200000001");
/// ```
pub fn log_file_name(zxid: i64) -> String {
    format!("log.{zxid:x}")
}

/// `snapshot.<zxid in lowercase hex>` plus the container's extension, as Java's
/// `Util.makeSnapshotName`.
///
/// ```
/// use zk_proto::storage::{snapshot_file_name, SnapshotContainer};
/// assert_eq!(snapshot_file_name(0x63, SnapshotContainer::Checked), "snapshot.63");
/// assert_eq!(snapshot_file_name(7, SnapshotContainer::Gzip), "snapshot.7.gz");
/// ```
pub fn snapshot_file_name(zxid: i64, container: SnapshotContainer) -> String {
    format!("snapshot.{zxid:x}{}", container.extension())
}

/// Parses `log.<hex>` and `snapshot.<hex>[.suffix]` as Java's `Util.getZxidFromName` does: the
/// name is split on dots, the first part names the kind and the second is a hex long (an
/// optional sign, upper or lower case). `None` for other names, and for a zxid of -1, which Java
/// uses to mean "not a data file".
pub fn parse_data_file_name(name: &str) -> Option<DataFileName> {
    let mut parts = name.splitn(3, '.');
    let kind = match parts.next()? {
        "log" => DataFileKind::TxnLog,
        "snapshot" => DataFileKind::Snapshot,
        _ => return None,
    };
    let zxid = parse_java_hex_long(parts.next()?)?;
    if zxid == -1 {
        return None;
    }
    // Java's split drops trailing empty parts, so "log.1." is "log.1".
    let suffix = parts
        .next()
        .map(|s| s.trim_end_matches('.'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Some(DataFileName { kind, zxid, suffix })
}

/// `Long.parseLong(text, 16)`.
fn parse_java_hex_long(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, 16).ok()?;
    if negative {
        if magnitude > 1 << 63 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// How a snapshot file's bytes are packed around the serialized stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotContainer {
    /// The raw stream, no extension (Java's default, "checked").
    Checked,
    /// gzip, extension `.gz`.
    Gzip,
    /// The snappy-java stream format, extension `.snappy`.
    Snappy,
    /// An LZ4 frame, extension `.lz4`: our own extension. Java reads such a file as a checked
    /// stream, finds it invalid and skips it.
    Lz4,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const SNAPPY_JAVA_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

impl SnapshotContainer {
    /// The file-name extension, with its dot (empty for [`SnapshotContainer::Checked`]).
    pub const fn extension(self) -> &'static str {
        match self {
            SnapshotContainer::Checked => "",
            SnapshotContainer::Gzip => ".gz",
            SnapshotContainer::Snappy => ".snappy",
            SnapshotContainer::Lz4 => ".lz4",
        }
    }

    /// The container a reader must use for a file name, as Java's `SnapStream.getStreamMode`:
    /// the last dot-separated part, compared without case; anything unknown is checked.
    pub fn from_file_name(name: &str) -> Self {
        match name.rsplit_once('.') {
            Some((_, ext)) if ext.eq_ignore_ascii_case("gz") => SnapshotContainer::Gzip,
            Some((_, ext)) if ext.eq_ignore_ascii_case("snappy") => SnapshotContainer::Snappy,
            Some((_, ext)) if ext.eq_ignore_ascii_case("lz4") => SnapshotContainer::Lz4,
            _ => SnapshotContainer::Checked,
        }
    }

    /// The container whose magic `bytes` start with, if any (checked streams start with
    /// `ZKSN`).
    pub fn from_magic(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&GZIP_MAGIC) {
            Some(SnapshotContainer::Gzip)
        } else if bytes.starts_with(&SNAPPY_JAVA_MAGIC) {
            Some(SnapshotContainer::Snappy)
        } else if bytes.starts_with(&LZ4_FRAME_MAGIC) {
            Some(SnapshotContainer::Lz4)
        } else if bytes.starts_with(&SNAP_MAGIC.to_be_bytes()) {
            Some(SnapshotContainer::Checked)
        } else {
            None
        }
    }
}

/// Java's quick validity test for a checked snapshot, from its length and last 5 bytes: at
/// least 10 bytes, ending with `00 00 00 01 2f` (the int 1 and `/` closing the last seal).
pub fn checked_snapshot_tail_is_valid(file_len: u64, last_five: &[u8]) -> bool {
    file_len >= 10 && last_five == [0, 0, 0, 1, b'/']
}

/// Java's `SnapStream.isValidSnapshot` on a whole file: the name must parse as a snapshot name,
/// then by container (from the name): a checked file passes
/// [`checked_snapshot_tail_is_valid`], gzip and snappy files must start with their magic (and
/// lz4 files, our extension, with the LZ4 frame magic).
pub fn is_valid_snapshot(name: &str, file: &[u8]) -> bool {
    match parse_data_file_name(name) {
        Some(DataFileName {
            kind: DataFileKind::Snapshot,
            ..
        }) => {}
        _ => return false,
    }
    match SnapshotContainer::from_file_name(name) {
        SnapshotContainer::Checked => {
            checked_snapshot_tail_is_valid(file.len() as u64, &file[file.len().saturating_sub(5)..])
        }
        SnapshotContainer::Gzip => file.starts_with(&GZIP_MAGIC),
        SnapshotContainer::Snappy => file.starts_with(&SNAPPY_JAVA_MAGIC),
        SnapshotContainer::Lz4 => file.starts_with(&LZ4_FRAME_MAGIC),
    }
}

// ---------------------------------------------------------------------------------------------
// Txn logs
// ---------------------------------------------------------------------------------------------

/// One record of a txn log, checksum verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// Byte offset of the record (its checksum) in the file.
    pub offset: usize,
    /// The stored Adler-32 of the txn bytes.
    pub checksum: i64,
    /// The txn bytes: decode them with [`LogRecord::entry`].
    pub txn_bytes: &'a [u8],
}

impl LogRecord<'_> {
    /// Byte offset just after the record's end marker.
    pub fn end(&self) -> usize {
        self.offset + RECORD_OVERHEAD + self.txn_bytes.len()
    }

    /// The decoded txn bytes.
    pub fn entry(&self) -> Result<TxnEntry, DecodeError> {
        TxnEntry::decode(self.txn_bytes)
    }

    /// Only the txn header at the front of the txn bytes: enough to skip a txn by zxid
    /// without decoding its body.
    pub fn txn_header(&self) -> Result<crate::txn::TxnHeader, DecodeError> {
        crate::txn::TxnHeader::read(&mut &self.txn_bytes[..])
    }
}

/// How a txn log ended. In every case `last_good_end` is the offset just after the last good
/// record (or after the header), where the next record would start. Java treats each of these
/// as the end of the file and goes on with the next log; a recovering server may cut the file
/// at `last_good_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    /// The data ends exactly after a record: a file that was truncated there, or never padded.
    EndOfFile {
        /// The end of the last good record.
        last_good_end: usize,
    },
    /// A record length of 0: the zero-filled preallocated area. This is how Java's logs
    /// normally end.
    ZeroPadding {
        /// The end of the last good record.
        last_good_end: usize,
    },
    /// The file ends inside a record: its write was cut short.
    TornRecord {
        /// The end of the last good record.
        last_good_end: usize,
        /// How many bytes of the torn record are present.
        present: usize,
    },
    /// A complete record whose end byte is not 0x42: Java logs "Last transaction was partial".
    MissingEndMarker {
        /// The end of the last good record.
        last_good_end: usize,
        /// The byte found where 0x42 belongs.
        found: u8,
    },
}

impl LogEnd {
    /// The offset just after the last good record.
    pub fn last_good_end(&self) -> usize {
        match *self {
            LogEnd::EndOfFile { last_good_end }
            | LogEnd::ZeroPadding { last_good_end }
            | LogEnd::TornRecord { last_good_end, .. }
            | LogEnd::MissingEndMarker { last_good_end, .. } => last_good_end,
        }
    }

    /// Whether the log ended as a healthy log does (end of file or padding), as opposed to an
    /// interrupted write.
    pub fn is_clean(&self) -> bool {
        matches!(self, LogEnd::EndOfFile { .. } | LogEnd::ZeroPadding { .. })
    }
}

/// Why a txn log cannot be read on: Java aborts loading on each of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The file is shorter than its 16-byte header.
    #[error("txn log header is truncated: {len} bytes")]
    TruncatedHeader {
        /// The file length.
        len: usize,
    },
    /// The header's magic is not `ZKLG`.
    #[error("txn log has invalid magic number {magic:#x}")]
    BadMagic {
        /// The magic found.
        magic: i32,
    },
    /// A record length that is negative or beyond the limit ("Unreasonable length").
    #[error("unreasonable txn length {len} at offset {offset}")]
    BadLength {
        /// Offset of the record.
        offset: usize,
        /// The length found.
        len: i32,
    },
    /// The stored checksum does not match the txn bytes ("CRC check failed").
    #[error("CRC check failed for the record at offset {offset}: stored {stored:#x}, computed {computed:#x}")]
    ChecksumMismatch {
        /// Offset of the record.
        offset: usize,
        /// The stored checksum.
        stored: i64,
        /// The Adler-32 of the txn bytes.
        computed: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Reading,
    Ended(LogEnd),
    Failed,
}

/// Reads the records of one txn-log file held in memory, as Java's `FileTxnIterator` does.
///
/// Iterating yields each record (checksum verified) until the log ends; then [`Self::end`] tells
/// how. A [`LogError`] stops the iteration.
///
/// ```
/// use zk_proto::storage::{write_log_record, FileHeader, LogEnd, TxnLogReader};
/// use zk_proto::Jute;
/// let mut file = FileHeader::txn_log(0).to_jute_bytes();
/// write_log_record(&mut file, b"txn bytes");
/// file.resize(64, 0); // preallocated padding
/// let mut reader = TxnLogReader::new(&file).unwrap();
/// let record = reader.next().unwrap().unwrap();
/// assert_eq!(record.txn_bytes, b"txn bytes");
/// assert!(reader.next().is_none());
/// assert_eq!(reader.end(), Some(LogEnd::ZeroPadding { last_good_end: 38 }));
/// ```
#[derive(Debug, Clone)]
pub struct TxnLogReader<'a> {
    file: &'a [u8],
    header: FileHeader,
    pos: usize,
    max_txn_len: usize,
    state: ReaderState,
}

impl<'a> TxnLogReader<'a> {
    /// Reads the header of `file`; the magic must be `ZKLG` (the version is not checked, as in
    /// Java).
    pub fn new(file: &'a [u8]) -> Result<Self, LogError> {
        let mut input = file;
        let header = FileHeader::read(&mut input)
            .map_err(|_| LogError::TruncatedHeader { len: file.len() })?;
        if header.magic != TXNLOG_MAGIC {
            return Err(LogError::BadMagic {
                magic: header.magic,
            });
        }
        Ok(TxnLogReader {
            file,
            header,
            pos: FILE_HEADER_LEN,
            max_txn_len: DEFAULT_MAX_TXN_LEN,
            state: ReaderState::Reading,
        })
    }

    /// Changes the largest accepted txn length (default [`DEFAULT_MAX_TXN_LEN`]; Java's is
    /// `jute.maxbuffer + jute.maxbuffer.extrasize`).
    pub fn with_max_txn_len(mut self, max_txn_len: usize) -> Self {
        self.max_txn_len = max_txn_len;
        self
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The offset where the next record would start (the end of the last good one).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How the log ended, once reading has stopped without an error.
    pub fn end(&self) -> Option<LogEnd> {
        match self.state {
            ReaderState::Ended(end) => Some(end),
            _ => None,
        }
    }

    /// The next record, `Ok(None)` once the log has ended (see [`Self::end`]), or the error that
    /// stops reading. After an error, every call returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<LogRecord<'a>>, LogError> {
        if self.state != ReaderState::Reading {
            return Ok(None);
        }
        match self.read_one() {
            Ok(Ok(record)) => {
                self.pos = record.end();
                Ok(Some(record))
            }
            Ok(Err(end)) => {
                self.state = ReaderState::Ended(end);
                Ok(None)
            }
            Err(error) => {
                self.state = ReaderState::Failed;
                Err(error)
            }
        }
    }

    fn read_one(&self) -> Result<Result<LogRecord<'a>, LogEnd>, LogError> {
        let offset = self.pos;
        let rest = &self.file[offset..];
        let last_good_end = offset;
        if rest.is_empty() {
            return Ok(Err(LogEnd::EndOfFile { last_good_end }));
        }
        if rest.len() < 12 {
            return Ok(Err(LogEnd::TornRecord {
                last_good_end,
                present: rest.len(),
            }));
        }
        let checksum = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        if len == 0 {
            return Ok(Err(LogEnd::ZeroPadding { last_good_end }));
        }
        let txn_len = match usize::try_from(len) {
            Ok(n) if n <= self.max_txn_len => n,
            _ => return Err(LogError::BadLength { offset, len }),
        };
        if rest.len() < RECORD_OVERHEAD + txn_len {
            return Ok(Err(LogEnd::TornRecord {
                last_good_end,
                present: rest.len(),
            }));
        }
        let txn_bytes = &rest[12..12 + txn_len];
        let marker = rest[12 + txn_len];
        if marker != RECORD_END_MARKER {
            return Ok(Err(LogEnd::MissingEndMarker {
                last_good_end,
                found: marker,
            }));
        }
        let computed = adler32(txn_bytes);
        if computed != checksum {
            return Err(LogError::ChecksumMismatch {
                offset,
                stored: checksum,
                computed,
            });
        }
        Ok(Ok(LogRecord {
            offset,
            checksum,
            txn_bytes,
        }))
    }
}

impl<'a> Iterator for TxnLogReader<'a> {
    type Item = Result<LogRecord<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A whole txn log read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogScan<'a> {
    /// The file header.
    pub header: FileHeader,
    /// Every good record, in file order.
    pub records: Vec<LogRecord<'a>>,
    /// How the log ended.
    pub end: LogEnd,
}

/// Reads every record of a txn log, or the error that stops reading.
pub fn scan_txn_log(file: &[u8]) -> Result<TxnLogScan<'_>, LogError> {
    let mut reader = TxnLogReader::new(file)?;
    let mut records = Vec::new();
    while let Some(record) = reader.next_record()? {
        records.push(record);
    }
    let end = reader
        .end()
        .expect("the reader stops only at an end or an error");
    Ok(TxnLogScan {
        header: reader.header,
        records,
        end,
    })
}

/// Appends one txn-log record exactly as Java writes it: the Adler-32 of `txn_bytes` as a long,
/// their length, the bytes, and the end marker 0x42.
///
/// # Panics
/// If `txn_bytes` is longer than `i32::MAX`.
pub fn write_log_record<B: BufMut>(out: &mut B, txn_bytes: &[u8]) {
    let len = i32::try_from(txn_bytes.len()).expect("txn bytes are at most i32::MAX long");
    out.put_i64(adler32(txn_bytes));
    out.put_i32(len);
    out.put_slice(txn_bytes);
    out.put_u8(RECORD_END_MARKER);
}

/// The size a log file grows to before an append at `position`, as Java's
/// `FilePadding.calculateFileSizeWithPadding`: when the position comes within 4096 bytes of the
/// current size, the file grows by `prealloc_bytes` (or, past the end, to `position +
/// prealloc_bytes` rounded down to a multiple of it). Returns `current_size` when no growth is
/// due or `prealloc_bytes` is 0.
pub fn padded_log_size(position: u64, current_size: u64, prealloc_bytes: u64) -> u64 {
    if prealloc_bytes == 0 || position + 4096 < current_size {
        return current_size;
    }
    if position > current_size {
        let size = position + prealloc_bytes;
        size - size % prealloc_bytes
    } else {
        current_size + prealloc_bytes
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

jute_record! {
    /// A session in a snapshot: id and timeout.
    pub struct SessionEntry {
        /// The session id.
        pub id: i64,
        /// Its timeout in ms.
        pub timeout: i32,
    }
}

jute_record! {
    /// An entry of the snapshot's ACL cache: the id nodes refer to, and the ACL list.
    pub struct AclCacheEntry {
        /// The reference stored in nodes (1, 2, ...; -1 is reserved for open ACLs).
        pub id: i64,
        /// The ACL list.
        pub acls: Vec<Acl>,
    }
}

jute_record! {
    /// `DataNode` as snapshots store it (the children are not stored).
    pub struct DataNode {
        /// The node data (null allowed).
        pub data: Option<Bytes>,
        /// Reference into the ACL cache; -1 for `OPEN_ACL_UNSAFE` without an entry.
        pub acl: i64,
        /// The persisted stat.
        pub stat: StatPersisted,
    }
}

/// A node as a snapshot stores it, borrowed: [`SnapshotWriter::node_ref`] writes it without
/// copying the data into a [`DataNode`] first.
#[derive(Debug, Clone, Copy)]
pub struct DataNodeRef<'a> {
    /// The node data (null allowed).
    pub data: Option<&'a [u8]>,
    /// Reference into the ACL cache.
    pub acl: i64,
    /// The persisted stat.
    pub stat: &'a StatPersisted,
}

impl<'a> From<&'a DataNode> for DataNodeRef<'a> {
    fn from(node: &'a DataNode) -> Self {
        DataNodeRef {
            data: node.data.as_deref(),
            acl: node.acl,
            stat: &node.stat,
        }
    }
}

/// A node and its path, in snapshot order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotNode {
    /// The full path; the root is `""`.
    pub path: String,
    /// The node.
    pub node: DataNode,
}

/// The part of a snapshot shared with the SNAP sync body: sessions, ACL cache and the nodes in
/// file order (pre-order, root first as `""`), ended by the path `"/"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotData {
    /// The open sessions (Java writes them in hash-map order).
    pub sessions: Vec<SessionEntry>,
    /// The ACL cache (in hash-map order).
    pub acl_cache: Vec<AclCacheEntry>,
    /// The nodes in file order. No node may have the path `"/"`, which ends the list.
    pub nodes: Vec<SnapshotNode>,
}

/// The path that ends the node list (and follows every seal).
const END_OF_NODES: &str = "/";

impl Jute for SnapshotData {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.sessions.write(out);
        self.acl_cache.write(out);
        for node in &self.nodes {
            node.path.write(out);
            node.node.write(out);
        }
        END_OF_NODES.to_owned().write(out);
    }

    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let sessions = Vec::<SessionEntry>::read(input)?;
        let acl_cache = Vec::<AclCacheEntry>::read(input)?;
        let mut nodes = Vec::new();
        loop {
            let path = String::read(input)?;
            if path == END_OF_NODES {
                break;
            }
            let node = DataNode::read(input)?;
            nodes.push(SnapshotNode { path, node });
        }
        Ok(SnapshotData {
            sessions,
            acl_cache,
            nodes,
        })
    }
}

impl SnapshotData {
    /// The tree digest of these nodes (STORAGE.md 2.5): the wrapping sum of [`node_digest`].
    /// For a fuzzy snapshot it may differ from the digest stored in the file.
    pub fn tree_digest(&self) -> i64 {
        self.nodes.iter().fold(0i64, |sum, n| {
            sum.wrapping_add(node_digest(&n.path, n.node.data.as_deref(), &n.node.stat))
        })
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for SnapshotNode {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        let mut path = String::arb(u)?;
        if path == END_OF_NODES {
            path.push('x');
        }
        Ok(SnapshotNode {
            path,
            node: crate::jute::Arb::arb(u)?,
        })
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for SnapshotData {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::jute::Arb;
        Ok(SnapshotData {
            sessions: Arb::arb(u)?,
            acl_cache: Arb::arb(u)?,
            nodes: Arb::arb(u)?,
        })
    }
}

#[cfg(test)]
mod snapshot_data_jute_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(SnapshotData);
}

/// The digest value of a snapshot's digest section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestValue {
    /// A long (digest version 2 and later).
    Long(i64),
    /// Hex text (digest versions below 2).
    Hex(String),
}

/// The digest section of a snapshot (`ZxidDigest`): the tree digest after `zxid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZxidDigest {
    /// The last zxid the tree had applied when the section was written (0 when none).
    pub zxid: i64,
    /// The digest algorithm version.
    pub digest_version: i32,
    /// The digest: [`DigestValue::Hex`] when `digest_version < 2`, else a long.
    pub digest: DigestValue,
}

impl ZxidDigest {
    /// A version-2 digest section.
    pub fn new(zxid: i64, digest: i64) -> Self {
        ZxidDigest {
            zxid,
            digest_version: DIGEST_VERSION,
            digest: DigestValue::Long(digest),
        }
    }

    /// The digest as a number (hex text parsed as Java's `Long.parseLong(_, 16)`).
    pub fn digest_value(&self) -> Option<i64> {
        match &self.digest {
            DigestValue::Long(v) => Some(*v),
            DigestValue::Hex(text) => parse_java_hex_long(text),
        }
    }
}

impl Jute for ZxidDigest {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.zxid.write(out);
        self.digest_version.write(out);
        match &self.digest {
            DigestValue::Long(v) => v.write(out),
            DigestValue::Hex(text) => text.write(out),
        }
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let zxid = i64::read(input)?;
        let digest_version = i32::read(input)?;
        let digest = if digest_version < 2 {
            DigestValue::Hex(String::read(input)?)
        } else {
            DigestValue::Long(i64::read(input)?)
        };
        Ok(ZxidDigest {
            zxid,
            digest_version,
            digest,
        })
    }
}

/// A whole snapshot stream (uncompressed), as `FileSnap.serialize` writes it.
///
/// Parsing verifies every seal; writing computes them, so parse then write gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The header (`ZKSN`, version 2, dbid -1 from Java).
    pub header: FileHeader,
    /// Sessions, ACL cache and nodes.
    pub data: SnapshotData,
    /// The digest section (3.6+ with digests enabled), sealed by a second seal.
    pub digest: Option<ZxidDigest>,
    /// The 3.9 trailer: the last processed zxid, sealed by a third seal. Java writes it only
    /// after a digest section.
    pub last_processed_zxid: Option<i64>,
}

/// Receives a snapshot's sections from [`Snapshot::parse_into`], in file order. An `Err`
/// stops the parse with [`SnapshotError::Rejected`].
///
/// ```
/// use zk_proto::storage::{
///     AclCacheEntry, DataNode, SessionEntry, Snapshot, SnapshotData, SnapshotNode,
///     SnapshotVisitor, ZxidDigest,
/// };
///
/// /// Counts nodes and their data without keeping them.
/// #[derive(Default)]
/// struct Sizes { nodes: usize, data_bytes: usize }
///
/// impl SnapshotVisitor for Sizes {
///     fn sessions(&mut self, _: Vec<SessionEntry>) -> Result<(), String> { Ok(()) }
///     fn acl_cache(&mut self, _: Vec<AclCacheEntry>) -> Result<(), String> { Ok(()) }
///     fn node(&mut self, _path: String, node: DataNode) -> Result<(), String> {
///         self.nodes += 1;
///         self.data_bytes += node.data.map_or(0, |d| d.len());
///         Ok(())
///     }
/// }
///
/// let root = SnapshotNode { path: String::new(), node: DataNode::default() };
/// let data = SnapshotData { sessions: vec![], acl_cache: vec![], nodes: vec![root] };
/// let file = Snapshot::new(data, ZxidDigest::new(0, 0)).to_bytes();
/// let mut sizes = Sizes::default();
/// // Any `Read` works: a file, or a decompressor around one.
/// Snapshot::parse_from_reader(&file[..], &mut sizes).unwrap();
/// assert_eq!(sizes.nodes, 1);
/// ```
pub trait SnapshotVisitor {
    /// The session section.
    fn sessions(&mut self, sessions: Vec<SessionEntry>) -> Result<(), String>;
    /// The ACL cache section.
    fn acl_cache(&mut self, entries: Vec<AclCacheEntry>) -> Result<(), String>;
    /// One node (the root's path is `""` in Java's files).
    fn node(&mut self, path: String, node: DataNode) -> Result<(), String>;
}

/// Collects everything, as [`Snapshot::parse`] does.
impl SnapshotVisitor for SnapshotData {
    fn sessions(&mut self, sessions: Vec<SessionEntry>) -> Result<(), String> {
        self.sessions = sessions;
        Ok(())
    }
    fn acl_cache(&mut self, entries: Vec<AclCacheEntry>) -> Result<(), String> {
        self.acl_cache = entries;
        Ok(())
    }
    fn node(&mut self, path: String, node: DataNode) -> Result<(), String> {
        self.nodes.push(SnapshotNode { path, node });
        Ok(())
    }
}

/// The parts of a snapshot stream around the tree, from [`Snapshot::parse_into`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTrailer {
    /// The file header.
    pub header: FileHeader,
    /// The digest section, if present.
    pub digest: Option<ZxidDigest>,
    /// The 3.9 trailer, if present.
    pub last_processed_zxid: Option<i64>,
}

/// Why a snapshot stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The header's magic is not `ZKSN`.
    #[error("snapshot has mismatching magic {magic:#x}")]
    BadMagic {
        /// The magic found.
        magic: i32,
    },
    /// A part of the stream does not decode (truncation included).
    #[error("snapshot does not decode at offset {offset}: {error}")]
    Decode {
        /// Offset of the part that failed.
        offset: usize,
        /// What went wrong.
        error: DecodeError,
    },
    /// A seal does not match the Adler-32 of the bytes before it ("CRC corruption").
    #[error("CRC corruption in snapshot: seal {seal} at offset {offset} stores {stored:#x}, computed {computed:#x}")]
    SealMismatch {
        /// Which seal: 1 after the nodes, 2 after the digest, 3 after the 3.9 trailer.
        seal: u8,
        /// Offset of the seal.
        offset: usize,
        /// The stored value.
        stored: i64,
        /// The computed value.
        computed: i64,
    },
    /// A seal is not followed by the path `"/"`.
    #[error("snapshot seal at offset {offset} is not followed by \"/\"")]
    BadSealMarker {
        /// Offset of the seal.
        offset: usize,
    },
    /// The source failed (for a compressed file: the container is damaged).
    #[error("snapshot cannot be read at offset {offset}: {message}")]
    Read {
        /// Stream offset where reading failed.
        offset: usize,
        /// The IO error.
        message: String,
    },
    /// The [`SnapshotVisitor`] refused what it was given (a node before its parent, say).
    #[error("snapshot content rejected at offset {offset}: {reason}")]
    Rejected {
        /// Offset of the part that was refused.
        offset: usize,
        /// The visitor's reason.
        reason: String,
    },
    /// Bytes follow the last section.
    #[error("{count} unexpected bytes after the snapshot at offset {offset}")]
    TrailingBytes {
        /// Where they start.
        offset: usize,
        /// How many.
        count: usize,
    },
}

/// Bytes pulled from the source per read when the buffer runs dry: the first read is small
/// (a small stream costs little), later ones double up to the largest.
const SNAPSHOT_FIRST_READ: usize = 4 * 1024;
const SNAPSHOT_READ_CHUNK: usize = 256 * 1024;

/// Running state for reading a snapshot stream: a window of buffered bytes, the offset and the
/// checksum of the bytes consumed. Only the window is in memory, never the whole stream.
struct SealedInput<R> {
    source: R,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// Stream offset of `buf[start]`.
    offset: usize,
    eof: bool,
    adler: Adler32,
}

impl<R: std::io::Read> SealedInput<R> {
    fn new(source: R) -> Self {
        SealedInput {
            source,
            buf: Vec::new(),
            start: 0,
            offset: 0,
            eof: false,
            adler: Adler32::new(),
        }
    }

    fn offset(&self) -> usize {
        self.offset
    }

    /// Buffers at least `needed` more unconsumed bytes, or all that is left.
    fn fill(&mut self, needed: usize) -> Result<(), SnapshotError> {
        self.buf.drain(..self.start);
        self.start = 0;
        // A decoder may not know how much more it needs: at least one byte.
        let needed = needed.max(1);
        let mut added = 0;
        while added < needed && !self.eof {
            // Grow a chunk at a time: `needed` may come from a length field that is garbage.
            let old = self.buf.len();
            let chunk = self
                .buf
                .capacity()
                .clamp(SNAPSHOT_FIRST_READ, SNAPSHOT_READ_CHUNK);
            self.buf.resize(old + chunk, 0);
            let n = match self.source.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.eof = true;
                    0
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(SnapshotError::Read {
                        offset: self.offset + old,
                        message: e.to_string(),
                    });
                }
            };
            self.buf.truncate(old + n);
            added += n;
        }
        Ok(())
    }

    fn read<T: Jute>(&mut self) -> Result<T, SnapshotError> {
        loop {
            let mut rest = &self.buf[self.start..];
            let available = rest.len();
            match T::read(&mut rest) {
                Ok(value) => {
                    let used = available - rest.len();
                    self.adler.write(&self.buf[self.start..self.start + used]);
                    self.start += used;
                    self.offset += used;
                    return Ok(value);
                }
                Err(DecodeError::Incomplete { needed }) if !self.eof => self.fill(needed)?,
                Err(e) => {
                    return Err(SnapshotError::Decode {
                        offset: self.offset,
                        error: e.complete_input("snapshot"),
                    })
                }
            }
        }
    }

    /// Sessions, ACL cache and nodes up to the end marker, each handed to `visitor` (the part
    /// a snapshot file and a SNAP body share).
    fn visit_tree(&mut self, visitor: &mut dyn SnapshotVisitor) -> Result<(), SnapshotError> {
        let rejected = |offset, reason| SnapshotError::Rejected { offset, reason };
        let offset = self.offset();
        let sessions: Vec<SessionEntry> = self.read()?;
        visitor
            .sessions(sessions)
            .map_err(|r| rejected(offset, r))?;
        let offset = self.offset();
        let acl_cache: Vec<AclCacheEntry> = self.read()?;
        visitor
            .acl_cache(acl_cache)
            .map_err(|r| rejected(offset, r))?;
        loop {
            let offset = self.offset();
            let path: String = self.read()?;
            if path == END_OF_NODES {
                return Ok(());
            }
            let node: DataNode = self.read()?;
            visitor.node(path, node).map_err(|r| rejected(offset, r))?;
        }
    }

    /// The bytes read from the source but not consumed.
    fn unconsumed(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }

    /// How many bytes are left in the stream (reading it to the end).
    fn remaining(&mut self) -> Result<usize, SnapshotError> {
        while !self.eof {
            self.fill(SNAPSHOT_READ_CHUNK)?;
        }
        Ok(self.buf.len() - self.start)
    }

    fn check_seal(&mut self, seal: u8) -> Result<(), SnapshotError> {
        let offset = self.offset();
        let computed = i64::from(self.adler.finish());
        let stored: i64 = self.read()?;
        let marker: String = self.read()?;
        if marker != END_OF_NODES {
            return Err(SnapshotError::BadSealMarker { offset });
        }
        if stored != computed {
            return Err(SnapshotError::SealMismatch {
                seal,
                offset,
                stored,
                computed,
            });
        }
        Ok(())
    }
}

impl Snapshot {
    /// A snapshot with Java's header, a version-2 digest section and no 3.9 trailer.
    pub fn new(data: SnapshotData, digest: ZxidDigest) -> Self {
        Snapshot {
            header: FileHeader::snapshot(),
            data,
            digest: Some(digest),
            last_processed_zxid: None,
        }
    }

    /// Parses an uncompressed snapshot stream and verifies its seals. After seal 1, a digest
    /// section is read if bytes remain, and after seal 2 a 3.9 trailer if bytes remain; anything
    /// after that is an error.
    pub fn parse(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let mut data = SnapshotData {
            sessions: Vec::new(),
            acl_cache: Vec::new(),
            nodes: Vec::new(),
        };
        let trailer = Snapshot::parse_into(bytes, &mut data)?;
        Ok(Snapshot {
            header: trailer.header,
            data,
            digest: trailer.digest,
            last_processed_zxid: trailer.last_processed_zxid,
        })
    }

    /// Like [`Snapshot::parse`], handing the sessions, the ACL cache and each node to `visitor`
    /// as they are read instead of collecting them, so a large snapshot can be loaded straight
    /// into another structure. The seals are checked as in `parse`: when this fails, the
    /// visitor has seen part of a bad stream and what it built must be thrown away.
    pub fn parse_into(
        bytes: &[u8],
        visitor: &mut dyn SnapshotVisitor,
    ) -> Result<SnapshotTrailer, SnapshotError> {
        Snapshot::parse_from_reader(bytes, visitor)
    }

    /// [`Snapshot::parse_into`] reading the uncompressed stream from `source` (a file, a
    /// decompressor) a window at a time, so a large snapshot is never in memory as a whole.
    /// A read error is [`SnapshotError::Read`].
    pub fn parse_from_reader(
        source: impl std::io::Read,
        visitor: &mut dyn SnapshotVisitor,
    ) -> Result<SnapshotTrailer, SnapshotError> {
        let mut input = SealedInput::new(source);
        let header: FileHeader = input.read()?;
        if header.magic != SNAP_MAGIC {
            return Err(SnapshotError::BadMagic {
                magic: header.magic,
            });
        }
        input.visit_tree(visitor)?;
        input.check_seal(1)?;
        let mut digest = None;
        let mut last_processed_zxid = None;
        if input.remaining()? > 0 {
            digest = Some(input.read::<ZxidDigest>()?);
            input.check_seal(2)?;
            if input.remaining()? > 0 {
                last_processed_zxid = Some(input.read::<i64>()?);
                input.check_seal(3)?;
            }
        }
        let count = input.remaining()?;
        if count > 0 {
            return Err(SnapshotError::TrailingBytes {
                offset: input.offset(),
                count,
            });
        }
        Ok(SnapshotTrailer {
            header,
            digest,
            last_processed_zxid,
        })
    }

    /// Appends the snapshot stream, seals computed.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut writer = SnapshotWriter::new();
        writer.header(out, &self.header);
        writer.sessions(out, &self.data.sessions);
        writer.acl_cache(out, &self.data.acl_cache);
        for node in &self.data.nodes {
            writer.node(out, &node.path, &node.node);
        }
        writer.end_of_nodes(out);
        writer.seal(out);
        if let Some(digest) = &self.digest {
            writer.digest(out, digest);
            writer.seal(out);
        }
        if let Some(zxid) = self.last_processed_zxid {
            writer.last_processed_zxid(out, zxid);
            writer.seal(out);
        }
    }

    /// The snapshot stream as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for Snapshot {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::jute::Arb;
        let digest = if u.arbitrary()? {
            let zxid = u.arbitrary()?;
            let digest_version: i32 = u.arbitrary()?;
            let digest = if digest_version < 2 {
                DigestValue::Hex(String::arb(u)?)
            } else {
                DigestValue::Long(u.arbitrary()?)
            };
            Some(ZxidDigest {
                zxid,
                digest_version,
                digest,
            })
        } else {
            None
        };
        let last_processed_zxid = if digest.is_some() { Arb::arb(u)? } else { None };
        Ok(Snapshot {
            header: FileHeader {
                magic: SNAP_MAGIC,
                ..FileHeader::arb(u)?
            },
            data: SnapshotData::arb(u)?,
            digest,
            last_processed_zxid,
        })
    }
}

/// Writes a snapshot stream piece by piece, keeping the running Adler-32 the seals need, so a
/// large tree can be streamed to a file: each call appends to `out`, which the caller may flush
/// and clear between calls.
///
/// The order Java uses: [`header`](Self::header), [`sessions`](Self::sessions),
/// [`acl_cache`](Self::acl_cache), [`node`](Self::node) for each node in pre-order (root as
/// `""`), [`end_of_nodes`](Self::end_of_nodes), [`seal`](Self::seal), then optionally
/// [`digest`](Self::digest) + seal, and (3.9) [`last_processed_zxid`](Self::last_processed_zxid)
/// + seal.
#[derive(Clone, Default)]
pub struct SnapshotWriter {
    adler: Adler32,
    written: u64,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("adler", &self.adler.clone().finish())
            .field("written", &self.written)
            .finish()
    }
}

impl SnapshotWriter {
    /// A writer at the start of a stream.
    pub fn new() -> Self {
        SnapshotWriter::default()
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    fn put(&mut self, out: &mut Vec<u8>, value: &impl Jute) {
        let start = out.len();
        value.write(out);
        self.adler.write(&out[start..]);
        self.written += (out.len() - start) as u64;
    }

    /// The file header.
    pub fn header(&mut self, out: &mut Vec<u8>, header: &FileHeader) {
        self.put(out, header);
    }

    /// The session count and sessions.
    pub fn sessions(&mut self, out: &mut Vec<u8>, sessions: &[SessionEntry]) {
        self.put(out, &(sessions.len() as i32));
        for session in sessions {
            self.put(out, session);
        }
    }

    /// The ACL cache.
    pub fn acl_cache(&mut self, out: &mut Vec<u8>, entries: &[AclCacheEntry]) {
        self.put(out, &(entries.len() as i32));
        for entry in entries {
            self.put(out, entry);
        }
    }

    /// One node (the root's path is `""`; the path `"/"` would end the list).
    pub fn node(&mut self, out: &mut Vec<u8>, path: &str, node: &DataNode) {
        self.node_ref(out, path, DataNodeRef::from(node));
    }

    /// One node, borrowed: the same bytes as [`SnapshotWriter::node`].
    pub fn node_ref(&mut self, out: &mut Vec<u8>, path: &str, node: DataNodeRef<'_>) {
        let start = out.len();
        crate::jute::write_str(out, path);
        crate::jute::write_buffer(out, node.data);
        node.acl.write(out);
        node.stat.write(out);
        self.adler.write(&out[start..]);
        self.written += (out.len() - start) as u64;
    }

    /// The `"/"` that ends the node list.
    pub fn end_of_nodes(&mut self, out: &mut Vec<u8>) {
        self.put(out, &END_OF_NODES.to_owned());
    }

    /// A seal: the Adler-32 of everything written so far, as a long, then `"/"`.
    pub fn seal(&mut self, out: &mut Vec<u8>) {
        let checksum = i64::from(self.adler.finish());
        self.put(out, &checksum);
        self.put(out, &END_OF_NODES.to_owned());
    }

    /// The digest section.
    pub fn digest(&mut self, out: &mut Vec<u8>, digest: &ZxidDigest) {
        self.put(out, digest);
    }

    /// The 3.9 trailer's zxid.
    pub fn last_processed_zxid(&mut self, out: &mut Vec<u8>, zxid: i64) {
        self.put(out, &zxid);
    }
}

/// Reads the body that follows a SNAP packet on the quorum port (STORAGE.md 2.7): sessions, ACL
/// cache and nodes as in a snapshot, but without header, seals or digest, then the signature
/// `"BenWasHere"`. On a stream, [`DecodeError::Incomplete`] means "wait for more bytes"; a wrong
/// signature is invalid (Java: "Missing signature").
pub fn read_snap_sync_body(input: &mut &[u8]) -> Result<SnapshotData, DecodeError> {
    let data = SnapshotData::read(input)?;
    let signature = String::read(input)?;
    if signature != SNAP_SYNC_SIGNATURE {
        return Err(DecodeError::invalid(
            "SNAP sync body",
            format!("missing signature, got {signature:?}"),
        ));
    }
    Ok(data)
}

/// [`read_snap_sync_body`] as the bytes arrive: each part goes to `visitor` once read (a
/// learner builds its tree while the leader is still sending), and what was read past the
/// signature (the packets after the body) is returned.
///
/// ```
/// use zk_proto::storage::{parse_snap_sync_body_from_reader, write_snap_sync_body, SnapshotData};
/// let body = SnapshotData::default();
/// let mut bytes = Vec::new();
/// write_snap_sync_body(&body, &mut bytes);
/// bytes.extend_from_slice(b"next packet");
/// let mut parsed = SnapshotData::default();
/// let after = parse_snap_sync_body_from_reader(&bytes[..], &mut parsed).unwrap();
/// assert_eq!((parsed, &after[..]), (body, &b"next packet"[..]));
/// ```
pub fn parse_snap_sync_body_from_reader(
    source: impl std::io::Read,
    visitor: &mut dyn SnapshotVisitor,
) -> Result<Vec<u8>, SnapshotError> {
    let mut input = SealedInput::new(source);
    input.visit_tree(visitor)?;
    let offset = input.offset();
    let signature: String = input.read()?;
    if signature != SNAP_SYNC_SIGNATURE {
        return Err(SnapshotError::Rejected {
            offset,
            reason: format!("missing signature, got {signature:?}"),
        });
    }
    Ok(input.unconsumed())
}

/// Appends the SNAP sync body: the data, then `"BenWasHere"`.
pub fn write_snap_sync_body<B: BufMut>(data: &SnapshotData, out: &mut B) {
    data.write(out);
    SNAP_SYNC_SIGNATURE.to_owned().write(out);
}

/// The digest of one node (STORAGE.md 2.5, Java's `DigestCalculator`): 0 under `/zookeeper/`,
/// else the CRC-32 of the path (`""` for the root, given as `""` or `"/"`), the data, and the
/// stat's fields in the order czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
/// ephemeralOwner.
pub fn node_digest(path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> i64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut stat_bytes = Vec::with_capacity(60);
    stat_bytes.put_i64(stat.czxid);
    stat_bytes.put_i64(stat.mzxid);
    stat_bytes.put_i64(stat.pzxid);
    stat_bytes.put_i64(stat.ctime);
    stat_bytes.put_i64(stat.mtime);
    stat_bytes.put_i32(stat.version);
    stat_bytes.put_i32(stat.cversion);
    stat_bytes.put_i32(stat.aversion);
    stat_bytes.put_i64(stat.ephemeral_owner);
    let mut crc = crc32fast::Hasher::new();
    crc.update(path.as_bytes());
    if let Some(data) = data {
        crc.update(data);
    }
    crc.update(&stat_bytes);
    i64::from(crc.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::Arb;

    proptest::proptest! {
        #[test]
        fn node_ref_writes_the_jute_records(seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 64..512)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            let Ok(node) = DataNode::arb(&mut u) else { return Ok(()) };
            let path = String::arb(&mut u).unwrap_or_default();
            // The path and the node as their own jute records encode them.
            let mut expected = Vec::new();
            path.write(&mut expected);
            node.write(&mut expected);
            let mut written = Vec::new();
            let mut writer = SnapshotWriter::new();
            writer.node_ref(&mut written, &path, DataNodeRef::from(&node));
            proptest::prop_assert_eq!(&written, &expected);
            proptest::prop_assert_eq!(writer.bytes_written(), expected.len() as u64);
        }
    }

    #[test]
    fn file_names_round_trip_like_java() {
        assert_eq!(log_file_name(1), "log.1");
        assert_eq!(log_file_name(0x13), "log.13");
        let parsed = parse_data_file_name("snapshot.7.snappy").unwrap();
        assert_eq!(parsed.kind, DataFileKind::Snapshot);
        assert_eq!(parsed.zxid, 7);
        assert_eq!(parsed.suffix.as_deref(), Some("snappy"));
        assert_eq!(
            parse_data_file_name("log.200000001"),
            Some(DataFileName {
                kind: DataFileKind::TxnLog,
                zxid: 0x2_0000_0001,
                suffix: None
            })
        );
        assert_eq!(parse_data_file_name("log.1.").unwrap().suffix, None);
        assert_eq!(parse_data_file_name("log.ABC").unwrap().zxid, 0xabc);
        for bad in [
            "log",
            "log.",
            "log.xyz",
            "logs.1",
            "snapshot.-1",
            "acceptedEpoch",
            "log.8000000000000000",
        ] {
            assert_eq!(parse_data_file_name(bad), None, "{bad}");
        }
        assert_eq!(parse_data_file_name("log.-2").unwrap().zxid, -2);
        assert_eq!(parse_java_hex_long("-8000000000000000"), Some(i64::MIN));
    }

    #[test]
    fn containers_by_name_and_magic() {
        assert_eq!(
            SnapshotContainer::from_file_name("snapshot.7.GZ"),
            SnapshotContainer::Gzip
        );
        assert_eq!(
            SnapshotContainer::from_file_name("snapshot.7"),
            SnapshotContainer::Checked
        );
        assert_eq!(
            SnapshotContainer::from_file_name("snapshot.7.snappy"),
            SnapshotContainer::Snappy
        );
        assert_eq!(
            SnapshotContainer::from_file_name("snapshot.7.lz4"),
            SnapshotContainer::Lz4
        );
        assert_eq!(
            SnapshotContainer::from_magic(b"ZKSN\0\0"),
            Some(SnapshotContainer::Checked)
        );
        assert_eq!(SnapshotContainer::from_magic(b"junk"), None);
    }

    #[test]
    fn padding_matches_java() {
        // A new log: header written, size 16, preAllocSize 16 KiB.
        assert_eq!(padded_log_size(16, 16, 16384), 16400);
        assert_eq!(padded_log_size(2000, 16400, 16384), 16400);
        // preAllocSize 4 KiB grows twice (log.5-prealloc4k is 8208 bytes).
        assert_eq!(padded_log_size(16, 16, 4096), 4112);
        assert_eq!(padded_log_size(100, 4112, 4096), 8208);
        assert_eq!(padded_log_size(10_000, 8208, 4096), 12288);
        assert_eq!(padded_log_size(10, 16, 0), 16);
    }

    #[test]
    fn log_reader_classifies_endings() {
        let mut file = FileHeader::txn_log(0).to_jute_bytes();
        write_log_record(&mut file, b"abc");
        let good_end = file.len();
        assert_eq!(good_end, 16 + 13 + 3);

        let scan = scan_txn_log(&file).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert_eq!(
            scan.end,
            LogEnd::EndOfFile {
                last_good_end: good_end
            }
        );

        let mut padded = file.clone();
        padded.extend_from_slice(&[0; 12]);
        assert_eq!(
            scan_txn_log(&padded).unwrap().end,
            LogEnd::ZeroPadding {
                last_good_end: good_end
            }
        );

        let mut short = file.clone();
        short.extend_from_slice(&[0; 11]);
        assert_eq!(
            scan_txn_log(&short).unwrap().end,
            LogEnd::TornRecord {
                last_good_end: good_end,
                present: 11
            }
        );

        let mut torn = file.clone();
        write_log_record(&mut torn, b"defgh");
        torn.truncate(torn.len() - 2);
        assert_eq!(
            scan_txn_log(&torn).unwrap().end,
            LogEnd::TornRecord {
                last_good_end: good_end,
                present: 16
            }
        );

        let mut partial = file.clone();
        write_log_record(&mut partial, b"defgh");
        *partial.last_mut().unwrap() = 0;
        assert_eq!(
            scan_txn_log(&partial).unwrap().end,
            LogEnd::MissingEndMarker {
                last_good_end: good_end,
                found: 0
            }
        );

        let mut corrupt = file.clone();
        corrupt[16 + 12] ^= 1;
        assert!(matches!(
            scan_txn_log(&corrupt),
            Err(LogError::ChecksumMismatch { offset: 16, .. })
        ));

        let mut negative = file.clone();
        negative.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            scan_txn_log(&negative),
            Err(LogError::BadLength { len: -1, .. })
        ));

        assert_eq!(
            TxnLogReader::new(&file[..10]).unwrap_err(),
            LogError::TruncatedHeader { len: 10 }
        );
        let snap_header = FileHeader::snapshot().to_jute_bytes();
        assert!(matches!(
            TxnLogReader::new(&snap_header),
            Err(LogError::BadMagic { .. })
        ));
    }

    #[test]
    fn empty_snapshot_matches_the_annotated_bytes() {
        // The header, sessions and ACL cache of snapshot.0 (STORAGE.md 2.2).
        let snapshot = Snapshot::new(SnapshotData::default(), ZxidDigest::new(0, 0));
        let bytes = snapshot.to_bytes();
        assert_eq!(
            &bytes[..16],
            b"ZKSN\0\0\0\x02\xff\xff\xff\xff\xff\xff\xff\xff"
        );
        assert!(is_valid_snapshot("snapshot.0", &bytes));
        assert!(!is_valid_snapshot("snapshot.0", &bytes[..bytes.len() - 1]));
        assert!(!is_valid_snapshot("snap.0", &bytes));
        assert_eq!(Snapshot::parse(&bytes).unwrap(), snapshot);
    }

    #[test]
    fn hex_digest_sections_are_kept() {
        let snapshot = Snapshot {
            digest: Some(ZxidDigest {
                zxid: 5,
                digest_version: 1,
                digest: DigestValue::Hex("1f".into()),
            }),
            ..Snapshot::new(SnapshotData::default(), ZxidDigest::new(0, 0))
        };
        let parsed = Snapshot::parse(&snapshot.to_bytes()).unwrap();
        assert_eq!(parsed.digest.as_ref().unwrap().digest_value(), Some(0x1f));
        assert_eq!(parsed, snapshot);
    }

    #[test]
    fn snap_sync_body_needs_the_signature() {
        let data = SnapshotData {
            sessions: vec![SessionEntry { id: 1, timeout: 2 }],
            ..SnapshotData::default()
        };
        let mut body = Vec::new();
        write_snap_sync_body(&data, &mut body);
        let mut input = &body[..];
        assert_eq!(read_snap_sync_body(&mut input).unwrap(), data);
        assert!(input.is_empty());
        let mut short = &body[..body.len() - 1];
        assert!(matches!(
            read_snap_sync_body(&mut short),
            Err(DecodeError::Incomplete { .. })
        ));
        let mut wrong = body.clone();
        *wrong.last_mut().unwrap() = b'X';
        assert!(matches!(
            read_snap_sync_body(&mut &wrong[..]),
            Err(DecodeError::Invalid { .. })
        ));
        // The same from a reader: a short body is a decode error, a wrong signature rejected.
        let mut sink = SnapshotData::default();
        assert!(matches!(
            parse_snap_sync_body_from_reader(&body[..body.len() - 1], &mut sink),
            Err(SnapshotError::Decode { .. })
        ));
        assert!(matches!(
            parse_snap_sync_body_from_reader(&wrong[..], &mut SnapshotData::default()),
            Err(SnapshotError::Rejected { .. })
        ));
    }

    #[test]
    fn node_digest_skips_zookeeper_children_and_aliases_the_root() {
        let stat = StatPersisted::default();
        assert_eq!(node_digest("/zookeeper/quota", None, &stat), 0);
        assert_ne!(node_digest("/zookeeper", None, &stat), 0);
        assert_eq!(node_digest("/", None, &stat), node_digest("", None, &stat));
        assert_eq!(
            node_digest("", None, &stat),
            i64::from(crc32fast::hash(&[0; 60]))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn snapshots_round_trip(seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..768)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let Ok(snapshot) = Snapshot::arb(&mut u) {
                let bytes = snapshot.to_bytes();
                proptest::prop_assert_eq!(Snapshot::parse(&bytes), Ok(snapshot));
            }
        }

        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = Snapshot::parse(&bytes);
            let _ = read_snap_sync_body(&mut &bytes[..]);
            if let Ok(reader) = TxnLogReader::new(&bytes) {
                for record in reader.flatten() {
                    let _ = record.entry();
                }
            }
        }
    }
}

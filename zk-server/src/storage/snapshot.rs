//! Snapshot files in `<dataDir>/version-2`: writing, finding the newest good one, and converting
//! between containers (STORAGE.md 2).
//!
//! The serialized stream is Java's (`zk_proto::storage::Snapshot`); around it a file is one of
//! Java's containers (the raw "checked" stream, gzip, the snappy-java stream format) or our own
//! LZ4 frame (`.lz4`). Every checksum (seal) covers the *uncompressed* stream, as in Java, and
//! the reader picks the decompressor from the file-name suffix, so a directory may mix formats.
//!
//! Java 3.8 reads our uncompressed, gzip and snappy files. It does not know `.lz4`: it takes such
//! a file for a checked stream, finds it invalid and skips it, so before handing a data directory
//! back to a Java server, run [`convert_dir`] with [`Compression::None`] (or gz/snappy).
//!
//! Writes are atomic: the stream goes to a hidden temporary file in the same directory
//! (`.snapshot.<hex>[.ext].tmp`, a name that neither Java nor we take for a snapshot), which is
//! fsynced, renamed into place, and the directory fsynced.

use super::sync_dir;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use zk_proto::storage::{
    checked_snapshot_tail_is_valid, parse_data_file_name, snapshot_file_name, AclCacheEntry,
    DataFileKind, DataNodeRef, FileHeader, SessionEntry, Snapshot, SnapshotContainer, SnapshotData,
    SnapshotTrailer, SnapshotVisitor, SnapshotWriter, ZxidDigest,
};

use crate::tree::DataTree;

/// What a snapshot file holds, in the order it is written: a parsed file's [`SnapshotData`], or
/// a live [`DataTree`] (a clone taken between txns), streamed without an intermediate copy.
pub trait SnapshotSource {
    /// The session section.
    fn sessions(&self) -> Vec<SessionEntry>;
    /// The ACL cache section.
    fn acl_cache(&self) -> Vec<AclCacheEntry>;
    /// Calls `f` with every node, parents before children, the root as `""`.
    fn for_each_node(
        &self,
        f: &mut dyn FnMut(&str, DataNodeRef<'_>) -> io::Result<()>,
    ) -> io::Result<()>;
}

impl SnapshotSource for SnapshotData {
    fn sessions(&self) -> Vec<SessionEntry> {
        self.sessions.clone()
    }
    fn acl_cache(&self) -> Vec<AclCacheEntry> {
        self.acl_cache.clone()
    }
    fn for_each_node(
        &self,
        f: &mut dyn FnMut(&str, DataNodeRef<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.nodes
            .iter()
            .try_for_each(|n| f(&n.path, DataNodeRef::from(&n.node)))
    }
}

impl SnapshotSource for DataTree {
    fn sessions(&self) -> Vec<SessionEntry> {
        self.snapshot_sessions()
    }
    fn acl_cache(&self) -> Vec<AclCacheEntry> {
        self.snapshot_acl_cache()
    }
    fn for_each_node(
        &self,
        f: &mut dyn FnMut(&str, DataNodeRef<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.for_each_snapshot_node(f)
    }
}

/// How many valid snapshots [`load_newest`] tries, newest first, as Java's `FileSnap`.
pub const MAX_SNAPSHOTS_TRIED: usize = 100;

/// Uncompressed block size of the snappy-java stream format (`SnappyOutputStream`'s default).
const SNAPPY_JAVA_BLOCK_SIZE: usize = 32 * 1024;
/// `82 'S' 'N' 'A' 'P' 'P' 'Y' 00`, then the version and the minimum compatible version.
const SNAPPY_JAVA_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const SNAPPY_JAVA_VERSION: i32 = 1;
/// Bytes of serialized stream gathered before they go to the (compressing) file writer.
const WRITE_CHUNK: usize = 64 * 1024;

/// How snapshot files are written (`zookeeper.snapshot.compression.method`). The default is
/// [`Compression::Lz4`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Java's default "checked" stream: no compression, no extension.
    None,
    /// An LZ4 frame, `.lz4`: our extension and our default. Java cannot read it.
    #[default]
    Lz4,
    /// gzip, `.gz` (Java's `gz`).
    Gzip,
    /// The snappy-java stream format, `.snappy` (Java's `snappy`).
    Snappy,
}

impl Compression {
    /// Parses `zookeeper.snapshot.compression.method`. Unset or empty means our default,
    /// [`Compression::Lz4`] (Java's default is the uncompressed stream; LZ4 is several times
    /// smaller and costs little CPU). `none` or `checked` select the uncompressed stream Java
    /// writes by default; `lz4`, `gz` and `snappy` the others. Case and surrounding blanks are
    /// ignored. Unlike Java, which silently falls back to "checked", an unknown value is an
    /// error.
    pub fn from_config(value: Option<&str>) -> Result<Compression, String> {
        let text = value.unwrap_or("").trim();
        match text.to_ascii_lowercase().as_str() {
            "" | "lz4" => Ok(Compression::Lz4),
            "none" | "checked" => Ok(Compression::None),
            "gz" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            _ => Err(format!(
                "unknown snapshot compression method {text:?} (expected none, lz4, gz or snappy)"
            )),
        }
    }

    /// The container as zk-proto names it.
    pub fn container(self) -> SnapshotContainer {
        match self {
            Compression::None => SnapshotContainer::Checked,
            Compression::Lz4 => SnapshotContainer::Lz4,
            Compression::Gzip => SnapshotContainer::Gzip,
            Compression::Snappy => SnapshotContainer::Snappy,
        }
    }

    /// The compression of a container.
    pub fn from_container(container: SnapshotContainer) -> Compression {
        match container {
            SnapshotContainer::Checked => Compression::None,
            SnapshotContainer::Lz4 => Compression::Lz4,
            SnapshotContainer::Gzip => Compression::Gzip,
            SnapshotContainer::Snappy => Compression::Snappy,
        }
    }

    /// The file-name extension with its dot (empty for [`Compression::None`]).
    pub fn extension(self) -> &'static str {
        self.container().extension()
    }
}

/// A snapshot read from disk.
#[derive(Debug, Clone)]
pub struct LoadedSnapshot {
    /// The zxid in the file name: Java's `lastProcessedZxid` after the load (it may be lower
    /// than the digest section's zxid, in a fuzzy snapshot).
    pub zxid: i64,
    /// The parsed stream, seals verified.
    pub snapshot: Snapshot,
    /// The file it came from.
    pub path: PathBuf,
}

/// Writes `snapshot.<hex zxid>[.ext]` in `dir` (`<dataDir>/version-2`, created if missing): the
/// stream Java writes (header `ZKSN` v2 dbid -1, sessions, ACL cache and nodes, seal, then the
/// digest section and its seal when `digest` is given), compressed per `compression`. The bytes
/// go to a temporary file in `dir` that is fsynced and renamed into place, then `dir` is fsynced.
/// Returns the final path.
pub fn write_snapshot(
    dir: &Path,
    zxid: i64,
    data: &dyn SnapshotSource,
    digest: Option<ZxidDigest>,
    compression: Compression,
) -> io::Result<PathBuf> {
    write_stream(
        dir,
        zxid,
        &FileHeader::snapshot(),
        data,
        digest.as_ref(),
        None,
        compression,
    )
}

/// The body a leader sends after SNAP (Java's `serializeSnapshot` then `"BenWasHere"`): the
/// sessions, the ACL cache and the nodes written straight from `data`, without a parsed copy
/// of the tree in between, handed to `emit` in pieces of about `chunk_bytes` so they can be
/// sent while the rest is still being written.
pub fn snap_sync_body(
    data: &dyn SnapshotSource,
    chunk_bytes: usize,
    emit: &mut dyn FnMut(Vec<u8>),
) -> io::Result<()> {
    use zk_proto::Jute;
    let mut writer = SnapshotWriter::new();
    let mut out = Vec::with_capacity(chunk_bytes + 4096);
    writer.sessions(&mut out, &data.sessions());
    writer.acl_cache(&mut out, &data.acl_cache());
    data.for_each_node(&mut |path, node| {
        writer.node_ref(&mut out, path, node);
        if out.len() >= chunk_bytes {
            emit(std::mem::replace(
                &mut out,
                Vec::with_capacity(chunk_bytes + 4096),
            ));
        }
        Ok(())
    })?;
    writer.end_of_nodes(&mut out);
    zk_proto::storage::SNAP_SYNC_SIGNATURE
        .to_owned()
        .write(&mut out);
    emit(out);
    Ok(())
}

/// [`write_snapshot`] of a tree taken at `zxid`, with the version-2 digest section of the
/// tree's digest.
pub fn write_tree_snapshot(
    dir: &Path,
    zxid: i64,
    tree: &DataTree,
    compression: Compression,
) -> io::Result<PathBuf> {
    let digest = ZxidDigest::new(zxid, tree.digest());
    write_snapshot(dir, zxid, tree, Some(digest), compression)
}

/// [`write_tree_snapshot`], its time recorded in `metrics` (`snapshottime`, as Java's
/// `takeSnapshot`): the periodic snapshots, a member's, and the `snapshot` command's.
pub fn write_timed_snapshot(
    dir: &Path,
    zxid: i64,
    tree: &DataTree,
    compression: Compression,
    metrics: &crate::metrics::Metrics,
) -> io::Result<PathBuf> {
    let started = std::time::Instant::now();
    let written = write_tree_snapshot(dir, zxid, tree, compression);
    metrics.record_since(crate::metrics::SummaryKind::SnapshotTime, started);
    written
}

/// All snapshot files in `dir` as `(path, zxid, compression)`, newest (highest name zxid) first.
/// Ties (the same zxid in several containers) are ordered by file name. Names that are not
/// `snapshot.<hex>[...]`, and `*.tmp` leftovers, are left out; an unknown suffix counts as the
/// uncompressed stream, as Java reads it. A missing `dir` has no snapshots.
pub fn list_snapshots(dir: &Path) -> io::Result<Vec<(PathBuf, i64, Compression)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(parsed) = parse_data_file_name(&name) else {
            continue;
        };
        if parsed.kind != DataFileKind::Snapshot || name.ends_with(".tmp") {
            continue;
        }
        if !entry.file_type()?.is_file() && !entry.path().is_file() {
            continue;
        }
        let compression = Compression::from_container(SnapshotContainer::from_file_name(&name));
        found.push((name, parsed.zxid, compression));
    }
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(found
        .into_iter()
        .map(|(name, zxid, compression)| (dir.join(name), zxid, compression))
        .collect())
}

/// Deletes the temporary files of snapshots that were being written when the server died
/// (`.snapshot.<zxid>[.ext].tmp`): tens of MB each, which a crash loop would pile up. With
/// `below_zxid`, only those of a lower zxid go (a snapshot being written now is always newer
/// than the newest complete one); without, all (at startup, before any snapshot is written).
/// Returns the deleted files.
pub fn remove_leftover_tmp(dir: &Path, below_zxid: Option<i64>) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut deleted = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
            continue;
        };
        let Some(parsed) = parse_data_file_name(inner) else {
            continue;
        };
        if parsed.kind != DataFileKind::Snapshot || below_zxid.is_some_and(|z| parsed.zxid >= z) {
            continue;
        }
        fs::remove_file(entry.path())?;
        deleted.push(entry.path());
    }
    Ok(deleted)
}

/// Java's `findNValidSnapshots` plus `deserialize`: the snapshot files, newest first, are
/// checked with Java's quick validity test (uncompressed: at least 10 bytes ending with
/// `00 00 00 01 2f`; compressed: the container's magic), then read with every seal verified.
/// The first that reads wins. A file that fails (invalid, bad seal, truncated, undecodable) is
/// skipped with a warning naming it and the reason, and the next older one is tried, up to
/// [`MAX_SNAPSHOTS_TRIED`] valid ones.
///
/// `Ok(None)` when there is no snapshot, which (as in Java) includes a directory whose snapshot
/// files all fail the quick validity test. When some pass it but none reads, this is an error
/// ("not able to find a valid snapshot"), as in Java: the server must not start empty then.
pub fn load_newest(dir: &Path) -> io::Result<Option<LoadedSnapshot>> {
    let empty = || SnapshotData {
        sessions: Vec::new(),
        acl_cache: Vec::new(),
        nodes: Vec::new(),
    };
    Ok(
        load_newest_into(dir, empty)?.map(|(data, trailer, zxid, path)| LoadedSnapshot {
            zxid,
            snapshot: Snapshot {
                header: trailer.header,
                data,
                digest: trailer.digest,
                last_processed_zxid: trailer.last_processed_zxid,
            },
            path,
        }),
    )
}

/// [`load_newest`], streaming each candidate into a visitor from `fresh` (a new one per file
/// tried, so a bad file's partial content is dropped). Returns the visitor that saw a whole
/// valid file, with the file's trailer, name zxid and path.
pub fn load_newest_into<V: SnapshotVisitor>(
    dir: &Path,
    mut fresh: impl FnMut() -> V,
) -> io::Result<Option<(V, SnapshotTrailer, i64, PathBuf)>> {
    let mut tried = 0usize;
    let mut failures = Vec::new();
    for (path, zxid, compression) in list_snapshots(dir)? {
        if tried == MAX_SNAPSHOTS_TRIED {
            break;
        }
        let result = match open_valid(&path, compression) {
            Ok(Some(file)) => {
                tried += 1;
                stream_reader(file, compression).and_then(|reader| {
                    let mut visitor = fresh();
                    Snapshot::parse_from_reader(reader, &mut visitor)
                        .map(|trailer| (visitor, trailer))
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                })
            }
            Ok(None) => {
                tracing::warn!(
                    file = %path.display(),
                    "skipping snapshot: not a valid {} file (truncated or incomplete)",
                    describe(compression)
                );
                continue;
            }
            Err(e) => Err(e),
        };
        match result {
            Ok((visitor, trailer)) => return Ok(Some((visitor, trailer, zxid, path))),
            Err(e) => {
                tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "skipping snapshot that cannot be read, trying an older one"
                );
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    if failures.is_empty() {
        Ok(None)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not able to find a valid snapshot in {} ({})",
                dir.display(),
                failures.join("; ")
            ),
        ))
    }
}

/// The uncompressed stream of the snapshot file at `path` (its container told by its name),
/// after Java's quick validity test; the seals are for the parser to check.
pub fn read_snapshot_stream(path: &Path) -> io::Result<Vec<u8>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let compression = Compression::from_container(SnapshotContainer::from_file_name(&name));
    let file = open_valid(path, compression)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a valid {}", path.display(), describe(compression)),
        )
    })?;
    read_stream(file, compression)
}

/// The uncompressed stream of a whole snapshot file held in memory (the `snapshot` command's
/// download), its container told by its first bytes.
pub fn stream_of_bytes(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let compression = SnapshotContainer::from_magic(&bytes[..bytes.len().min(8)])
        .map_or(Compression::None, Compression::from_container);
    let mut out = Vec::new();
    match compression {
        Compression::None => out.extend_from_slice(bytes),
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(bytes).read_to_end(&mut out)?;
        }
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
        }
        Compression::Snappy => read_snappy_java(bytes, &mut out)?,
    }
    Ok(out)
}

/// Rewrites every snapshot in `dir` that is not already in `to` (for example with
/// [`Compression::None`] before moving back to a Java server). Each file is read with its seals
/// verified and written again with the same contents (header, digest section and any 3.9
/// trailer included) and the same zxid; the old file is removed only once the new one is
/// durable. A file that cannot be read is left alone, with a warning. Returns how many files
/// were converted.
pub fn convert_dir(dir: &Path, to: Compression) -> io::Result<usize> {
    let mut converted = 0;
    for (path, zxid, compression) in list_snapshots(dir)? {
        if compression == to {
            continue;
        }
        let snapshot = match open_valid(&path, compression).and_then(|file| {
            let file = file.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "fails the validity test")
            })?;
            let bytes = read_stream(file, compression)?;
            Snapshot::parse(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        }) {
            Ok(snapshot) => snapshot,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "not converting unreadable snapshot");
                continue;
            }
        };
        let new_path = write_stream(
            dir,
            zxid,
            &snapshot.header,
            &snapshot.data,
            snapshot.digest.as_ref(),
            snapshot.last_processed_zxid,
            to,
        )?;
        if new_path != path {
            fs::remove_file(&path)?;
            sync_dir(dir)?;
        }
        tracing::info!(from = %path.display(), to = %new_path.display(), "converted snapshot");
        converted += 1;
    }
    Ok(converted)
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// The snapshot files being written in this process: two writers of one zxid (a periodic
/// snapshot and the `snapshot` command of an idle server) would share a temporary file, so the
/// second waits for the first, then writes the same bytes again.
static WRITING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
static WRITTEN: std::sync::Condvar = std::sync::Condvar::new();

/// Holds `path` in [`WRITING`] until dropped.
struct WritingGuard(PathBuf);

impl WritingGuard {
    fn acquire(path: PathBuf) -> WritingGuard {
        let mut writing = WRITING.lock().unwrap_or_else(|p| p.into_inner());
        while writing.contains(&path) {
            writing = WRITTEN.wait(writing).unwrap_or_else(|p| p.into_inner());
        }
        writing.push(path.clone());
        WritingGuard(path)
    }
}

impl Drop for WritingGuard {
    fn drop(&mut self) {
        let mut writing = WRITING.lock().unwrap_or_else(|p| p.into_inner());
        writing.retain(|p| *p != self.0);
        WRITTEN.notify_all();
    }
}

fn write_stream(
    dir: &Path,
    zxid: i64,
    header: &FileHeader,
    data: &dyn SnapshotSource,
    digest: Option<&ZxidDigest>,
    last_processed_zxid: Option<i64>,
    compression: Compression,
) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let name = snapshot_file_name(zxid, compression.container());
    let final_path = dir.join(&name);
    let tmp_path = dir.join(format!(".{name}.tmp"));
    let _writing = WritingGuard::acquire(tmp_path.clone());
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp_path)?;
        let mut sink = Sink::new(file, compression)?;
        let mut writer = SnapshotWriter::new();
        let mut buf = Vec::with_capacity(WRITE_CHUNK + 4096);
        writer.header(&mut buf, header);
        writer.sessions(&mut buf, &data.sessions());
        writer.acl_cache(&mut buf, &data.acl_cache());
        data.for_each_node(&mut |path, node| {
            writer.node_ref(&mut buf, path, node);
            if buf.len() >= WRITE_CHUNK {
                sink.write_all(&buf)?;
                buf.clear();
            }
            Ok(())
        })?;
        writer.end_of_nodes(&mut buf);
        writer.seal(&mut buf);
        if let Some(digest) = digest {
            writer.digest(&mut buf, digest);
            writer.seal(&mut buf);
            if let Some(zxid) = last_processed_zxid {
                writer.last_processed_zxid(&mut buf, zxid);
                writer.seal(&mut buf);
            }
        }
        sink.write_all(&buf)?;
        let file = sink.finish()?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp_path, &final_path)?;
        sync_dir(dir)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    Ok(final_path)
}

/// The file writer for one container.
enum Sink {
    Plain(BufWriter<File>),
    Lz4(Box<lz4_flex::frame::FrameEncoder<BufWriter<File>>>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Snappy(Box<SnappyJavaWriter<BufWriter<File>>>),
}

impl Sink {
    fn new(file: File, compression: Compression) -> io::Result<Sink> {
        let out = BufWriter::with_capacity(128 * 1024, file);
        Ok(match compression {
            Compression::None => Sink::Plain(out),
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max256KB);
                Sink::Lz4(Box::new(lz4_flex::frame::FrameEncoder::with_frame_info(
                    info, out,
                )))
            }
            // Java's GZIPOutputStream uses the default deflate level (6), as flate2's default.
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            Compression::Snappy => Sink::Snappy(Box::new(SnappyJavaWriter::new(out)?)),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Lz4(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
            Sink::Snappy(w) => w.write_all(bytes),
        }
    }

    /// Ends the container and flushes everything to the file.
    fn finish(self) -> io::Result<File> {
        let out = match self {
            Sink::Plain(w) => w,
            Sink::Lz4(w) => w.finish()?,
            Sink::Gzip(w) => w.finish()?,
            Sink::Snappy(w) => w.finish()?,
        };
        out.into_inner().map_err(|e| e.into_error())
    }
}

/// The snappy-java stream format (`org.xerial.snappy.SnappyOutputStream`), which Java's
/// `SnapStream` uses for `.snappy` snapshots: the 8-byte magic, the ints 1 (version) and 1
/// (minimum compatible version), then for each block of up to 32 KiB of input a big-endian int
/// with the compressed length followed by a raw snappy block. It is not the snappy "framing
/// format" (no CRCs, no chunk types).
struct SnappyJavaWriter<W: Write> {
    out: W,
    pending: Vec<u8>,
    compressed: Vec<u8>,
    encoder: snap::raw::Encoder,
}

impl<W: Write> SnappyJavaWriter<W> {
    /// Starts the stream: the header goes out at once, as Java writes it even with no data.
    fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&SNAPPY_JAVA_MAGIC)?;
        out.write_all(&SNAPPY_JAVA_VERSION.to_be_bytes())?;
        out.write_all(&SNAPPY_JAVA_VERSION.to_be_bytes())?;
        Ok(SnappyJavaWriter {
            out,
            pending: Vec::with_capacity(SNAPPY_JAVA_BLOCK_SIZE),
            compressed: vec![0; snap::raw::max_compress_len(SNAPPY_JAVA_BLOCK_SIZE)],
            encoder: snap::raw::Encoder::new(),
        })
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let take = (SNAPPY_JAVA_BLOCK_SIZE - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == SNAPPY_JAVA_BLOCK_SIZE {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let len = self
            .encoder
            .compress(&self.pending, &mut self.compressed)
            .map_err(io::Error::other)?;
        self.out.write_all(&(len as i32).to_be_bytes())?;
        self.out.write_all(&self.compressed[..len])?;
        self.pending.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.flush_block()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

fn describe(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "uncompressed snapshot",
        Compression::Lz4 => "lz4 snapshot",
        Compression::Gzip => "gzip snapshot",
        Compression::Snappy => "snappy snapshot",
    }
}

/// Opens a snapshot file and applies Java's quick validity test (`SnapStream.isValidSnapshot`).
/// `Ok(None)` if it fails; otherwise the file, positioned at its start.
fn open_valid(path: &Path, compression: Compression) -> io::Result<Option<File>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let valid = match compression {
        Compression::None => {
            if len < 10 {
                false
            } else {
                let mut tail = [0u8; 5];
                file.seek(SeekFrom::End(-5))?;
                file.read_exact(&mut tail)?;
                checked_snapshot_tail_is_valid(len, &tail)
            }
        }
        _ => {
            let mut head = [0u8; 8];
            let mut got = 0;
            while got < head.len() {
                match file.read(&mut head[got..])? {
                    0 => break,
                    n => got += n,
                }
            }
            SnapshotContainer::from_magic(&head[..got]) == Some(compression.container())
        }
    };
    if !valid {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(Some(file))
}

/// A reader of the uncompressed stream of a snapshot file, for parsing a window at a time.
fn stream_reader(file: File, compression: Compression) -> io::Result<Box<dyn Read>> {
    let reader = BufReader::with_capacity(128 * 1024, file);
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(reader)),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Snappy => {
            let mut out = Vec::new();
            read_snappy_java(reader, &mut out)?;
            Box::new(io::Cursor::new(out))
        }
    })
}

/// The uncompressed stream of a snapshot file, whole (for converting; loads stream it).
fn read_stream(file: File, compression: Compression) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream_reader(file, compression)?.read_to_end(&mut out)?;
    Ok(out)
}

/// Reads the snappy-java stream format as `SnappyInputStream` does: the header, then blocks of
/// `int compressedLen` + raw snappy data until EOF; a further header between blocks (streams
/// written one after the other) is accepted.
fn read_snappy_java(mut input: impl Read, out: &mut Vec<u8>) -> io::Result<()> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut header = [0u8; 16];
    input.read_exact(&mut header)?;
    check_snappy_java_header(&header).map_err(invalid)?;
    let magic_head = i32::from_be_bytes(SNAPPY_JAVA_MAGIC[..4].try_into().expect("4 bytes"));
    let mut decoder = snap::raw::Decoder::new();
    let mut compressed = Vec::new();
    loop {
        let mut len_bytes = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match input.read(&mut len_bytes[got..])? {
                0 if got == 0 => return Ok(()),
                0 => return Err(invalid("snappy stream truncated in a block length".into())),
                n => got += n,
            }
        }
        let len = i32::from_be_bytes(len_bytes);
        if len == magic_head {
            header[..4].copy_from_slice(&len_bytes);
            input.read_exact(&mut header[4..])?;
            check_snappy_java_header(&header).map_err(invalid)?;
            continue;
        }
        if len < 0 {
            return Err(invalid(format!("snappy block with length {len}")));
        }
        compressed.resize(len as usize, 0);
        input.read_exact(&mut compressed).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                invalid("snappy stream truncated in a block".into())
            } else {
                e
            }
        })?;
        let start = out.len();
        let block_len = snap::raw::decompress_len(&compressed)
            .map_err(|e| invalid(format!("bad snappy block: {e}")))?;
        out.resize(start + block_len, 0);
        decoder
            .decompress(&compressed, &mut out[start..])
            .map_err(|e| invalid(format!("bad snappy block: {e}")))?;
    }
}

fn check_snappy_java_header(header: &[u8; 16]) -> Result<(), String> {
    if header[..8] != SNAPPY_JAVA_MAGIC {
        return Err("not a snappy-java stream (bad magic)".into());
    }
    let compatible = i32::from_be_bytes(header[12..16].try_into().expect("4 bytes"));
    if compatible > SNAPPY_JAVA_VERSION {
        return Err(format!(
            "snappy-java stream needs reader version {compatible}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use zk_proto::data::Acl;
    use zk_proto::storage::is_valid_snapshot;
    use zk_proto::txn::{CreateTxn, Txn, TxnHeader};
    use zk_proto::OpCode;

    use crate::tree::DataTree;

    const ALL: [Compression; 4] = [
        Compression::None,
        Compression::Lz4,
        Compression::Gzip,
        Compression::Snappy,
    ];

    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../zk-proto/tests/data")
    }

    fn fixture_snapshot(name: &str) -> Snapshot {
        let path = data_dir()
            .join("fixtures/java-3.8.0-datadir/version-2")
            .join(name);
        Snapshot::parse(&fs::read(&path).unwrap()).unwrap()
    }

    fn create(tree: &mut DataTree, zxid: i64, path: &str, data: &[u8]) {
        let header = TxnHeader {
            client_id: 0,
            cxid: 1,
            zxid,
            time: 1_700_000_000_000 + zxid,
            r#type: OpCode::Create,
        };
        let txn = Txn::Create(CreateTxn {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version: -1,
        });
        let result = tree.apply(&header, &txn);
        assert_eq!(result.err, zk_proto::ErrorCode::Ok, "create {path}");
    }

    #[test]
    fn a_snap_body_written_from_the_tree_is_the_parsed_copy_written() {
        let tree = fixture_tree();
        let mut expected = Vec::new();
        zk_proto::storage::write_snap_sync_body(&tree.to_snapshot(), &mut expected);
        for chunk_bytes in [1 << 20, 100] {
            let mut chunks = Vec::new();
            snap_sync_body(&tree, chunk_bytes, &mut |chunk| chunks.push(chunk)).unwrap();
            assert!(
                chunks.len() > usize::from(chunk_bytes == 100),
                "{}",
                chunks.len()
            );
            assert_eq!(chunks.concat(), expected, "in chunks of {chunk_bytes}");
        }
        let body = expected;
        let parsed = zk_proto::storage::read_snap_sync_body(&mut &body[..]).unwrap();
        assert_eq!(parsed, tree.to_snapshot());
    }

    /// The fixture's newest snapshot (Java's tree: TTL, container, ephemerals, ACLs, null data,
    /// unicode) plus a few creates of ours.
    fn fixture_tree() -> DataTree {
        let snapshot = fixture_snapshot("snapshot.63");
        let mut tree = DataTree::from_snapshot(&snapshot.data, true).unwrap();
        tree.set_last_processed_zxid(0x63);
        create(&mut tree, 0x100, "/snaptest", b"parent");
        create(&mut tree, 0x101, "/snaptest/child", b"child data");
        create(&mut tree, 0x102, "/snaptest/child/grandchild", b"");
        tree
    }

    fn digest_of(tree: &DataTree) -> ZxidDigest {
        ZxidDigest::new(tree.last_processed_zxid(), tree.digest())
    }

    /// A deterministic 100-byte value, somewhat like real configuration data.
    fn value(i: u64) -> Vec<u8> {
        let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 32;
        let mut text = format!(
            "{{\"host\":\"10.{}.{}.{}\",\"port\":{},\"id\":\"{:016x}\",\"w\":{}}}",
            (x >> 8) & 0xff,
            (x >> 16) & 0xff,
            (x >> 24) & 0xff,
            2000 + (x % 1000),
            x,
            i % 7
        )
        .into_bytes();
        text.resize(100, b' ');
        text
    }

    fn synthetic_tree(nodes: u64) -> DataTree {
        let mut tree = DataTree::new(false);
        create(&mut tree, 1, "/synthetic", b"");
        for i in 0..nodes {
            create(
                &mut tree,
                2 + i as i64,
                &format!("/synthetic/member-{i:06}"),
                &value(i),
            );
        }
        tree
    }

    fn file_name(path: &Path) -> String {
        path.file_name().unwrap().to_str().unwrap().to_owned()
    }

    /// Runs `f` with a tracing subscriber that records the output; returns both.
    fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buffer = Shared(Arc::new(Mutex::new(Vec::new())));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let result = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        (result, text)
    }

    #[test]
    fn compression_setting() {
        assert_eq!(Compression::from_config(None), Ok(Compression::Lz4));
        assert_eq!(Compression::from_config(Some("")), Ok(Compression::Lz4));
        assert_eq!(
            Compression::from_config(Some("none")),
            Ok(Compression::None)
        );
        assert_eq!(
            Compression::from_config(Some("CHECKED")),
            Ok(Compression::None)
        );
        assert_eq!(Compression::from_config(Some("lz4")), Ok(Compression::Lz4));
        assert_eq!(
            Compression::from_config(Some(" gz ")),
            Ok(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_config(Some("snappy")),
            Ok(Compression::Snappy)
        );
        assert!(Compression::from_config(Some("zstd")).is_err());
        assert_eq!(Compression::default(), Compression::Lz4);
        for c in ALL {
            assert_eq!(Compression::from_container(c.container()), c);
        }
        assert_eq!(Compression::Gzip.extension(), ".gz");
    }

    #[test]
    fn round_trip_through_every_compression() {
        let tree = fixture_tree();
        let data = tree.to_snapshot();
        let digest = digest_of(&tree);
        let zxid = tree.last_processed_zxid();
        assert_eq!(zxid, 0x102);
        for compression in ALL {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("version-2");
            let path =
                write_snapshot(&dir, zxid, &data, Some(digest.clone()), compression).unwrap();
            assert_eq!(
                file_name(&path),
                format!("snapshot.102{}", compression.extension())
            );
            let bytes = fs::read(&path).unwrap();
            assert!(
                is_valid_snapshot(&file_name(&path), &bytes),
                "{compression:?}"
            );
            assert_eq!(
                SnapshotContainer::from_magic(&bytes),
                Some(compression.container())
            );
            // Only the final file is left.
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

            let loaded = load_newest(&dir).unwrap().unwrap();
            assert_eq!(loaded.zxid, zxid);
            assert_eq!(loaded.path, path);
            assert_eq!(loaded.snapshot.header, FileHeader::snapshot());
            assert_eq!(loaded.snapshot.data, data, "{compression:?}");
            assert_eq!(loaded.snapshot.digest.as_ref(), Some(&digest));
            assert_eq!(loaded.snapshot.last_processed_zxid, None);
            let reloaded = DataTree::from_snapshot(&loaded.snapshot.data, true).unwrap();
            assert_eq!(reloaded.digest(), tree.digest());
            assert_eq!(reloaded.node_count(), tree.node_count());

            if compression == Compression::None {
                let expected = Snapshot::new(data.clone(), digest.clone()).to_bytes();
                assert_eq!(bytes, expected, "the uncompressed file is Java's stream");
            }
        }
    }

    #[test]
    fn big_streams_span_many_blocks() {
        // More than one snappy block (32 KiB), one lz4 block (256 KiB) and one write chunk.
        let tree = synthetic_tree(5000);
        let data = tree.to_snapshot();
        let expected = Snapshot::new(data.clone(), digest_of(&tree)).to_bytes();
        assert!(expected.len() > 4 * 256 * 1024 / 2, "{}", expected.len());
        for compression in ALL {
            let tmp = tempfile::tempdir().unwrap();
            let path =
                write_snapshot(tmp.path(), 7, &data, Some(digest_of(&tree)), compression).unwrap();
            let file = File::open(&path).unwrap();
            assert_eq!(read_stream(file, compression).unwrap(), expected);
        }
    }

    #[test]
    fn snappy_java_stream_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = synthetic_tree(1000);
        let path = write_snapshot(
            tmp.path(),
            1,
            &tree.to_snapshot(),
            Some(digest_of(&tree)),
            Compression::Snappy,
        )
        .unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], &SNAPPY_JAVA_MAGIC);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Walk the blocks: every one but the last holds exactly 32 KiB.
        let mut at = 16;
        let mut sizes = Vec::new();
        while at < bytes.len() {
            let len = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let block = &bytes[at + 4..at + 4 + len];
            sizes.push(snap::raw::decompress_len(block).unwrap());
            at += 4 + len;
        }
        assert_eq!(at, bytes.len());
        assert!(sizes.len() > 2);
        assert!(sizes[..sizes.len() - 1]
            .iter()
            .all(|&s| s == SNAPPY_JAVA_BLOCK_SIZE));
        assert!(*sizes.last().unwrap() <= SNAPPY_JAVA_BLOCK_SIZE);

        // Two streams back to back (a second header between blocks) read as one.
        let mut doubled = Vec::new();
        let half = b"hello snappy-java ".repeat(100);
        for _ in 0..2 {
            let mut w = SnappyJavaWriter::new(Vec::new()).unwrap();
            w.write_all(&half).unwrap();
            doubled.extend(w.finish().unwrap());
        }
        let mut out = Vec::new();
        read_snappy_java(&doubled[..], &mut out).unwrap();
        assert_eq!(out, half.repeat(2));
        // An empty stream is the header alone.
        let empty = SnappyJavaWriter::new(Vec::new()).unwrap().finish().unwrap();
        assert_eq!(empty.len(), 16);
        // Truncated in a block: an error, not a short read.
        let mut out = Vec::new();
        assert!(read_snappy_java(&bytes[..bytes.len() - 3], &mut out).is_err());
    }

    #[test]
    fn reads_javas_compressed_samples() {
        let mut loaded = Vec::new();
        for name in ["snapshot.7.gz", "snapshot.7.snappy"] {
            let tmp = tempfile::tempdir().unwrap();
            fs::copy(data_dir().join("storage").join(name), tmp.path().join(name)).unwrap();
            let snapshot = load_newest(tmp.path()).unwrap().unwrap();
            assert_eq!(snapshot.zxid, 7, "{name}");
            assert_eq!(file_name(&snapshot.path), name);
            let data = &snapshot.snapshot.data;
            assert!(data.nodes.iter().any(|n| n.path == "/c3"), "{name}");
            // The digest section matches the tree (the sample is not fuzzy).
            let digest = snapshot.snapshot.digest.clone().unwrap();
            assert_eq!(digest.digest_value(), Some(data.tree_digest()), "{name}");
            DataTree::from_snapshot(data, false).unwrap();
            loaded.push(snapshot);
        }
        // The two samples come from two runs of the same script (there is no plain
        // snapshot.7): the same paths, data and ACLs, only times and sessions differ.
        let shape = |s: &LoadedSnapshot| -> Vec<(String, Option<Bytes>, i64)> {
            let data = &s.snapshot.data;
            data.nodes
                .iter()
                .map(|n| (n.path.clone(), n.node.data.clone(), n.node.acl))
                .collect()
        };
        assert_eq!(shape(&loaded[0]), shape(&loaded[1]));
        assert_eq!(
            loaded[0].snapshot.data.acl_cache,
            loaded[1].snapshot.data.acl_cache
        );
        // Re-encoded by us, each reads back to the same content.
        for sample in &loaded {
            let tmp = tempfile::tempdir().unwrap();
            let s = &sample.snapshot;
            for compression in ALL {
                write_snapshot(tmp.path(), 7, &s.data, s.digest.clone(), compression).unwrap();
            }
            let listed = list_snapshots(tmp.path()).unwrap();
            assert_eq!(listed.len(), 4);
            for (path, zxid, compression) in listed {
                assert_eq!(zxid, 7);
                let file = open_valid(&path, compression).unwrap().unwrap();
                let bytes = read_stream(file, compression).unwrap();
                assert_eq!(&Snapshot::parse(&bytes).unwrap(), s);
                if compression == Compression::None {
                    assert_eq!(bytes, s.to_bytes());
                }
            }
        }
    }

    #[test]
    fn writers_of_one_zxid_take_turns() {
        // A periodic snapshot and the `snapshot` command of an idle server write the same
        // file: each must complete, and the file must be whole.
        let dir = tempfile::tempdir().unwrap();
        let mut tree = DataTree::new(false);
        for i in 0..2000 {
            create(&mut tree, i + 1, &format!("/n{i}"), &[b'x'; 100]);
        }
        let tree = Arc::new(tree);
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (dir, tree) = (dir.path().to_owned(), tree.clone());
                std::thread::spawn(move || write_tree_snapshot(&dir, 2000, &tree, Compression::Lz4))
            })
            .collect();
        for w in writers {
            w.join().unwrap().expect("every writer completes");
        }
        let loaded = load_newest(dir.path()).unwrap().expect("a snapshot");
        let reloaded = DataTree::from_snapshot(&loaded.snapshot.data, false).unwrap();
        assert_eq!(reloaded.node_count(), tree.node_count());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn corrupt_newest_falls_back_to_older_with_a_warning() {
        let tree = fixture_tree();
        let data = tree.to_snapshot();
        for compression in [Compression::None, Compression::Lz4] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            write_snapshot(dir, 5, &data, Some(digest_of(&tree)), compression).unwrap();
            let newest =
                write_snapshot(dir, 9, &data, Some(digest_of(&tree)), compression).unwrap();
            // Flip one byte of node data in the middle: the stream still decodes (uncompressed)
            // or the frame breaks (lz4), either way the file is rejected.
            let mut bytes = fs::read(&newest).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            fs::write(&newest, &bytes).unwrap();

            let (loaded, logs) = capture_logs(|| load_newest(dir).unwrap().unwrap());
            assert_eq!(loaded.zxid, 5, "{compression:?}");
            assert_eq!(loaded.snapshot.data, data);
            assert!(logs.contains("WARN"), "{logs}");
            assert!(logs.contains(&file_name(&newest)), "{logs}");
            if compression == Compression::None {
                assert!(logs.contains("CRC corruption"), "{logs}");
            }
        }
    }

    #[test]
    fn truncated_newest_falls_back_to_older() {
        let tree = fixture_tree();
        let data = tree.to_snapshot();
        for compression in ALL {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            write_snapshot(dir, 5, &data, Some(digest_of(&tree)), compression).unwrap();
            let newest =
                write_snapshot(dir, 9, &data, Some(digest_of(&tree)), compression).unwrap();
            let bytes = fs::read(&newest).unwrap();
            fs::write(&newest, &bytes[..bytes.len() * 2 / 3]).unwrap();
            let (loaded, logs) = capture_logs(|| load_newest(dir).unwrap().unwrap());
            assert_eq!(loaded.zxid, 5, "{compression:?}");
            assert_eq!(loaded.snapshot.data, data);
            assert!(logs.contains("WARN"), "{logs}");
            assert!(logs.contains(&file_name(&newest)), "{logs}");
        }
    }

    #[test]
    fn other_files_and_leftovers_are_ignored() {
        let tree = fixture_tree();
        let data = tree.to_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let real =
            write_snapshot(dir, 0x20, &data, Some(digest_of(&tree)), Compression::None).unwrap();
        let good = fs::read(&real).unwrap();
        // Newer-looking files that must not count: complete streams in temp names, a log,
        // names that do not parse, a directory.
        fs::write(dir.join("snapshot.ff.tmp"), &good).unwrap();
        fs::write(dir.join(".snapshot.fe.tmp"), &good).unwrap();
        fs::write(dir.join(".snapshot.fd.lz4.tmp"), b"partial").unwrap();
        fs::write(dir.join("log.100"), b"ZKLG").unwrap();
        fs::write(dir.join("snapshot.zz"), &good).unwrap();
        fs::write(dir.join("README"), b"hello").unwrap();
        fs::write(dir.join("acceptedEpoch"), b"1").unwrap();
        fs::create_dir(dir.join("snapshot.200")).unwrap();

        let listed = list_snapshots(dir).unwrap();
        assert_eq!(listed, vec![(real.clone(), 0x20, Compression::None)]);
        let (loaded, logs) = capture_logs(|| load_newest(dir).unwrap().unwrap());
        assert_eq!(loaded.path, real);
        assert!(!logs.contains("WARN"), "{logs}");
    }

    #[test]
    fn no_snapshot_and_nothing_usable() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(load_newest(tmp.path()).unwrap().is_none());
        assert!(load_newest(&tmp.path().join("missing")).unwrap().is_none());
        assert!(list_snapshots(&tmp.path().join("missing"))
            .unwrap()
            .is_empty());

        // Only a file that fails the quick validity test: as Java, no snapshot (with a warning).
        fs::write(tmp.path().join("snapshot.3"), b"ZKSN garbage").unwrap();
        let (result, logs) = capture_logs(|| load_newest(tmp.path()).unwrap());
        assert!(result.is_none());
        assert!(logs.contains("snapshot.3"), "{logs}");

        // A file that passes it but does not read: an error, never an empty start.
        let tree = fixture_tree();
        let path = write_snapshot(
            tmp.path(),
            4,
            &tree.to_snapshot(),
            Some(digest_of(&tree)),
            Compression::None,
        )
        .unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[100] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = load_newest(tmp.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("snapshot.4"), "{err}");
    }

    #[test]
    fn convert_dir_round_trip() {
        let tree = fixture_tree();
        let data = tree.to_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_snapshot(dir, 0x10, &data, Some(digest_of(&tree)), Compression::Lz4).unwrap();
        write_snapshot(dir, 0x20, &data, None, Compression::Lz4).unwrap();
        // A Java 3.9 file with the trailer keeps it.
        let mut java39 = Snapshot::new(data.clone(), digest_of(&tree));
        java39.last_processed_zxid = Some(0x30);
        fs::write(dir.join("snapshot.30"), java39.to_bytes()).unwrap();
        let read_all = |dir: &Path| -> Vec<(i64, Snapshot)> {
            list_snapshots(dir)
                .unwrap()
                .into_iter()
                .map(|(path, zxid, c)| {
                    let file = open_valid(&path, c).unwrap().unwrap();
                    (
                        zxid,
                        Snapshot::parse(&read_stream(file, c).unwrap()).unwrap(),
                    )
                })
                .collect()
        };
        let before = read_all(dir);
        assert_eq!(before.len(), 3);

        assert_eq!(convert_dir(dir, Compression::None).unwrap(), 2);
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["snapshot.10", "snapshot.20", "snapshot.30"]);
        assert_eq!(read_all(dir), before);
        for name in &names {
            assert!(is_valid_snapshot(name, &fs::read(dir.join(name)).unwrap()));
        }
        assert_eq!(convert_dir(dir, Compression::None).unwrap(), 0);

        assert_eq!(convert_dir(dir, Compression::Lz4).unwrap(), 3);
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["snapshot.10.lz4", "snapshot.20.lz4", "snapshot.30.lz4"]
        );
        assert_eq!(read_all(dir), before);
        let loaded = load_newest(dir).unwrap().unwrap();
        assert_eq!(loaded.zxid, 0x30);
        assert_eq!(loaded.snapshot, java39);
    }

    fn sizes_of(label: &str, snapshot: &Snapshot) -> Vec<(Compression, u64)> {
        let tmp = tempfile::tempdir().unwrap();
        let sizes: Vec<(Compression, u64)> = ALL
            .iter()
            .map(|&c| {
                let path =
                    write_snapshot(tmp.path(), 1, &snapshot.data, snapshot.digest.clone(), c)
                        .unwrap();
                (c, fs::metadata(path).unwrap().len())
            })
            .collect();
        let none = sizes[0].1 as f64;
        let line: Vec<String> = sizes
            .iter()
            .map(|(c, n)| format!("{c:?} {n} B ({:.1}%)", *n as f64 * 100.0 / none))
            .collect();
        println!("snapshot sizes, {label}: {}", line.join(", "));
        sizes
    }

    #[test]
    fn size_comparison() {
        let size = |sizes: &[(Compression, u64)], c| sizes.iter().find(|s| s.0 == c).unwrap().1;
        // The fixture's biggest snapshot.
        let fixture = fixture_snapshot("snapshot.46");
        let sizes = sizes_of("Java fixture snapshot.46 (60 nodes)", &fixture);
        assert_eq!(size(&sizes, Compression::None), 5781);
        assert!(size(&sizes, Compression::Lz4) < size(&sizes, Compression::None));
        // 20,000 nodes with 100-byte values.
        let tree = synthetic_tree(20_000);
        let snapshot = Snapshot::new(tree.to_snapshot(), digest_of(&tree));
        let sizes = sizes_of("synthetic 20,000 nodes x 100-byte values", &snapshot);
        assert!(size(&sizes, Compression::Lz4) < size(&sizes, Compression::None));
    }

    /// Java's own `SnapshotFormatter` reads what we write: uncompressed (what a Java server reads
    /// by default), and gz / snappy.
    #[test]
    fn java_reads_our_snapshots() {
        let jars = [
            "/usr/share/java/zookeeper.jar",
            "/usr/share/java/zookeeper-jute.jar",
            "/usr/share/java/slf4j-api.jar",
            "/usr/share/java/slf4j-simple.jar",
            "/usr/share/java/snappy-java.jar",
        ];
        for jar in jars {
            assert!(
                Path::new(jar).exists(),
                "{jar} is missing: run scripts/test.sh, which installs Java and ZooKeeper"
            );
        }
        let mut tree = fixture_tree();
        // Enough data for several snappy blocks.
        for i in 0..1500 {
            create(
                &mut tree,
                0x200 + i,
                &format!("/snaptest/bulk-{i:04}"),
                &value(i as u64),
            );
        }
        let data = tree.to_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        for compression in [Compression::None, Compression::Gzip, Compression::Snappy] {
            let path = write_snapshot(
                tmp.path(),
                tree.last_processed_zxid(),
                &data,
                Some(digest_of(&tree)),
                compression,
            )
            .unwrap();
            let output = std::process::Command::new("java")
                .arg("-cp")
                .arg(jars.join(":"))
                .arg("org.apache.zookeeper.server.SnapshotFormatter")
                .arg(&path)
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run java ({e}): run scripts/test.sh, which installs it")
                });
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{compression:?}: SnapshotFormatter failed: {}\n{stdout}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                stdout.contains(&format!("ZNode Details (count={})", data.nodes.len() + 1)),
                "{compression:?}: {}",
                &stdout[..stdout.len().min(300)]
            );
            for path in [
                "/snaptest/child/grandchild",
                "/snaptest/bulk-1499",
                "/app/config",
                "/bulk/n00",
                "/zookeeper/quota",
            ] {
                assert!(
                    stdout.lines().any(|l| l == path),
                    "{compression:?}: {path} not listed"
                );
            }
            assert!(
                stdout.contains(&format!("Last zxid: 0x{:x}", tree.last_processed_zxid())),
                "{compression:?}"
            );
        }
    }
}

//! The SNAP body read as it arrives: the socket's bytes go in chunks to a blocking thread that
//! parses them straight into a [`DataTree`] (one pass, no copy of the body or of a parsed
//! list of nodes), so receiving, parsing and building the tree overlap with the leader's
//! writing. The body has no length prefix: the parser finds its end, and what was read past
//! it (the packets that follow, NEWLEADER first) goes back to the packet reader.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use zk_proto::storage::parse_snap_sync_body_from_reader;

use crate::tree::{DataTree, DataTreeBuilder};

use super::codec::PacketReader;

/// Bytes asked of the socket per read.
const CHUNK_BYTES: usize = 256 * 1024;

/// Chunks read ahead of the parser.
const CHUNKS_AHEAD: usize = 16;

/// The blocking side's view of the chunks: a `Read`.
struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                // The stream ended (or failed: the reason is the async side's to report).
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A slot in the parser's queue; `None` once the parser is gone (or if there is no queue).
async fn reserve(tx: Option<mpsc::Sender<Bytes>>) -> Option<mpsc::OwnedPermit<Bytes>> {
    tx?.reserve_owned().await.ok()
}

type Parsed = (Result<(DataTree, Vec<u8>), String>, ChunkReader);

impl PacketReader {
    /// Reads the SNAP body that follows a SNAP packet into a tree (`extended_types` as
    /// `zookeeper.extendedTypesEnabled`). Errors are the reason to close the connection.
    pub(super) async fn snap_tree<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        extended_types: bool,
    ) -> Result<DataTree, String> {
        let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_AHEAD);
        let reader = ChunkReader {
            chunks: rx,
            current: self.take_buffered(),
        };
        let mut parse = tokio::task::spawn_blocking(move || -> Parsed {
            let mut reader = reader;
            let mut builder = DataTreeBuilder::new(extended_types);
            let result = parse_snap_sync_body_from_reader(&mut reader, &mut builder)
                .map(|after| (builder.finish(), after))
                .map_err(|e| format!("bad SNAP body: {e}"));
            (result, reader)
        });
        let mut tx = Some(tx);
        let mut read_ahead: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        let mut stream_error = None;
        let (result, mut reader) = loop {
            tokio::select! {
                biased;
                parsed = &mut parse => break parsed.map_err(|e| format!("the SNAP parser failed: {e}"))?,
                permit = reserve(tx.clone()), if read_ahead.is_some() && tx.is_some() => {
                    if let Some(permit) = permit {
                        permit.send(read_ahead.take().expect("checked"));
                    }
                    // Else the parser is done: its result is next.
                }
                read = async {
                    buf.reserve(CHUNK_BYTES);
                    stream.read_buf(&mut buf).await
                }, if read_ahead.is_none() && tx.is_some() => match read {
                    Ok(0) => tx = None,
                    Ok(_) => read_ahead = Some(buf.split().freeze()),
                    Err(e) => {
                        stream_error = Some(e.to_string());
                        tx = None;
                    }
                },
            }
        };
        let (tree, after) = match (result, stream_error) {
            (Ok(done), _) => done,
            (Err(_), Some(io_error)) => return Err(io_error),
            (Err(e), None) if tx.is_none() => return Err(format!("{e} (the stream ended)")),
            (Err(e), None) => return Err(e),
        };
        // In stream order: what the parser had buffered, its unread chunk, the chunks queued
        // for it, and the one read ahead.
        let mut rest = BytesMut::from(&after[..]);
        rest.extend_from_slice(&reader.current);
        while let Ok(chunk) = reader.chunks.try_recv() {
            rest.extend_from_slice(&chunk);
        }
        if let Some(chunk) = read_ahead {
            rest.extend_from_slice(&chunk);
        }
        self.put_back(rest);
        Ok(tree)
    }
}

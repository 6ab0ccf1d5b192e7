//! Reading the quorum port's stream: `QuorumPacket` records back to back (no length prefix,
//! as Java's `BinaryInputArchive` reads them), and after a SNAP packet the SNAP body.

use bytes::{Buf, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use zk_proto::jute::Jute;
use zk_proto::quorum::QuorumPacket;
use zk_proto::storage::{read_snap_sync_body, SnapshotData};
use zk_proto::DecodeError;

/// Bytes of a packet other than its data: type, zxid, the data length, and authinfo. Java
/// bounds each authinfo string like a buffer but not their number; real authinfo is a few
/// ids, so a record this much longer than its data is refused.
const MAX_PACKET_OVERHEAD: usize = 64 * 1024;

/// How long the stream may pause before a SNAP body that may be complete is parsed again
/// (see [`PacketReader::snap_body`]).
const SNAP_STALL: Duration = Duration::from_millis(20);

/// A buffered reader of one quorum connection.
#[derive(Debug)]
pub(super) struct PacketReader {
    buf: BytesMut,
    /// The largest data buffer accepted (`jute.maxbuffer` + `zookeeper.jute.maxbuffer.extrasize`).
    max_data_len: usize,
}

impl PacketReader {
    pub(super) fn new(max_data_len: usize) -> Self {
        PacketReader {
            buf: BytesMut::with_capacity(8 * 1024),
            max_data_len,
        }
    }

    /// The next packet; `Ok(None)` when the stream ends cleanly between packets. Errors are
    /// the reason to close the connection.
    pub(super) async fn next_packet<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<Option<QuorumPacket>, String> {
        loop {
            if let Some((packet, consumed)) = try_packet(&self.buf, self.max_data_len)? {
                self.buf.advance(consumed);
                return Ok(Some(packet));
            }
            match stream.read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => {
                    return Err(format!(
                        "end of stream inside a packet ({} bytes)",
                        self.buf.len()
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// The SNAP body that follows a SNAP packet (sessions, ACL cache, nodes, then
    /// `"BenWasHere"`). It has no length prefix and can be large, so parsing from the start
    /// on every read would be quadratic: it is retried only when the buffer has doubled, or
    /// when it holds at least what the last attempt asked for and the stream pauses (the
    /// leader then waits for our ACK, so a complete body always ends with a pause or EOF).
    pub(super) async fn snap_body<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<SnapshotData, String> {
        let mut last_try = 0usize;
        let mut min_len = 0usize;
        let mut paused = true;
        loop {
            let worth_trying = self.buf.len() >= min_len;
            if worth_trying && (paused || self.buf.len() >= 2 * last_try) {
                let mut rest = &self.buf[..];
                match read_snap_sync_body(&mut rest) {
                    Ok(data) => {
                        let consumed = self.buf.len() - rest.len();
                        self.buf.advance(consumed);
                        return Ok(data);
                    }
                    Err(DecodeError::Incomplete { needed }) => {
                        last_try = self.buf.len();
                        min_len = last_try + needed;
                    }
                    Err(e) => return Err(format!("bad SNAP body: {e}")),
                }
            }
            paused = false;
            let read = if self.buf.len() >= min_len {
                match tokio::time::timeout(SNAP_STALL, stream.read_buf(&mut self.buf)).await {
                    Ok(read) => read,
                    Err(_) => {
                        paused = true;
                        continue;
                    }
                }
            } else {
                stream.read_buf(&mut self.buf).await
            };
            match read {
                Ok(0) if self.buf.len() >= min_len && last_try < self.buf.len() => paused = true,
                Ok(0) => {
                    return Err(format!(
                        "end of stream inside the SNAP body ({} bytes)",
                        self.buf.len()
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// A whole packet at the front of `buf` and its length, `None` if more bytes are needed, or
/// why the stream is unusable.
fn try_packet(buf: &[u8], max_data_len: usize) -> Result<Option<(QuorumPacket, usize)>, String> {
    if let Some(len) = buf.get(12..16) {
        let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
        // BinaryInputArchive.readBuffer: -1 is null; else 0..=maxbuffer+extrasize.
        if len < -1 || usize::try_from(len).is_ok_and(|n| n > max_data_len) {
            return Err(format!("unreasonable packet data length {len}"));
        }
    }
    let mut rest = buf;
    match QuorumPacket::read(&mut rest) {
        Ok(packet) => Ok(Some((packet, buf.len() - rest.len()))),
        Err(DecodeError::Incomplete { .. }) if buf.len() <= max_data_len + MAX_PACKET_OVERHEAD => {
            Ok(None)
        }
        Err(DecodeError::Incomplete { .. }) => Err(format!(
            "a packet longer than {} bytes",
            max_data_len + MAX_PACKET_OVERHEAD
        )),
        Err(e) => Err(format!("bad packet: {e}")),
    }
}

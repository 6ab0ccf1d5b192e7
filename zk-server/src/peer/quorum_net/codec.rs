//! Reading the quorum port's stream: `QuorumPacket` records back to back (no length prefix,
//! as Java's `BinaryInputArchive` reads them); after a SNAP packet the SNAP body (read by
//! `snap_stream.rs`).

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use zk_proto::jute::Jute;
use zk_proto::quorum::QuorumPacket;
use zk_proto::DecodeError;

/// Bytes of a packet other than its data: type, zxid, the data length, and authinfo. Java
/// bounds each authinfo string like a buffer but not their number; real authinfo is a few
/// ids, so a record this much longer than its data is refused.
const MAX_PACKET_OVERHEAD: usize = 64 * 1024;

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

    /// The bytes read but not yet parsed (see `snap_stream.rs`).
    pub(super) fn take_buffered(&mut self) -> Bytes {
        self.buf.split().freeze()
    }

    /// Puts bytes read past a SNAP body back in front of the stream.
    pub(super) fn put_back(&mut self, bytes: BytesMut) {
        debug_assert!(
            self.buf.is_empty(),
            "nothing is read while the body is parsed"
        );
        self.buf = bytes;
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

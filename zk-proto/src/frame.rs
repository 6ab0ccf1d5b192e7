//! Framing: every message is a 4-byte big-endian length and that many payload bytes.
//!
//! Two tokio-util codecs, one per side of a client connection:
//!
//! - [`ServerCodec`] reads what a client sends. The first 4 bytes of a connection may be a
//!   four-letter word (`ruok`, `srvr`, ...) instead of a length; the first frame is the handshake
//!   (a `ConnectRequest` with no `RequestHeader`); every later frame is a request.
//! - [`ClientCodec`] reads what a server sends: first the `ConnectResponse`, then replies and
//!   notifications.
//!
//! Both refuse a length below 0 or above the configured maximum (Java's `jute.maxbuffer`,
//! default [`DEFAULT_MAX_FRAME_LEN`]); the caller closes the connection on that error. Payloads
//! are handed out as [`Bytes`] without their length prefix; [`crate::message`] decodes them.
//!
//! ```
//! use bytes::BytesMut;
//! use tokio_util::codec::Decoder;
//! use zk_proto::frame::{ClientFrame, FourLetterWord, ServerCodec};
//!
//! let mut codec = ServerCodec::default();
//! let mut input = BytesMut::from(&b"ruok"[..]);
//! assert_eq!(
//!     codec.decode(&mut input).unwrap(),
//!     Some(ClientFrame::FourLetterWord { word: FourLetterWord::Ruok, stmk_mask: None })
//! );
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Java's default `jute.maxbuffer`: 0xfffff bytes.
pub const DEFAULT_MAX_FRAME_LEN: usize = 0xfffff;

/// Why a stream of frames cannot go on. The connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame longer than allowed (Java logs "Len error" and closes).
    #[error("frame length {len} is out of range (maximum {max})")]
    LengthOutOfRange {
        /// The announced length.
        len: i64,
        /// The configured maximum.
        max: usize,
    },
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The four-letter words a ZooKeeper server recognises in the first 4 bytes of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// Configuration.
    Conf,
    /// Connections.
    Cons,
    /// Reset connection statistics.
    Crst,
    /// Data directory sizes.
    Dirs,
    /// Sessions and ephemerals.
    Dump,
    /// Environment.
    Envi,
    /// Get the trace mask.
    Gtmk,
    /// Liveness: answers `imok`.
    Ruok,
    /// Set the trace mask (followed by an 8-byte mask).
    Stmk,
    /// Reset server statistics.
    Srst,
    /// Server summary.
    Srvr,
    /// Server summary with connections.
    Stat,
    /// Watches by session.
    Wchc,
    /// Watches by path.
    Wchp,
    /// Watch summary.
    Wchs,
    /// Monitoring key/value lines.
    Mntr,
    /// Read-only or read-write.
    Isro,
    /// Digest history.
    Hash,
    /// The telnet "interrupt process" bytes `ff f4 ff fd`, recognised like a command.
    TelnetClose,
}

impl FourLetterWord {
    /// Every word.
    pub const ALL: [FourLetterWord; 19] = [
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Ruok,
        FourLetterWord::Stmk,
        FourLetterWord::Srst,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Hash,
        FourLetterWord::TelnetClose,
    ];

    /// The 4 bytes that select this word.
    pub const fn bytes(self) -> &'static [u8; 4] {
        match self {
            FourLetterWord::Conf => b"conf",
            FourLetterWord::Cons => b"cons",
            FourLetterWord::Crst => b"crst",
            FourLetterWord::Dirs => b"dirs",
            FourLetterWord::Dump => b"dump",
            FourLetterWord::Envi => b"envi",
            FourLetterWord::Gtmk => b"gtmk",
            FourLetterWord::Ruok => b"ruok",
            FourLetterWord::Stmk => b"stmk",
            FourLetterWord::Srst => b"srst",
            FourLetterWord::Srvr => b"srvr",
            FourLetterWord::Stat => b"stat",
            FourLetterWord::Wchc => b"wchc",
            FourLetterWord::Wchp => b"wchp",
            FourLetterWord::Wchs => b"wchs",
            FourLetterWord::Mntr => b"mntr",
            FourLetterWord::Isro => b"isro",
            FourLetterWord::Hash => b"hash",
            FourLetterWord::TelnetClose => &[0xff, 0xf4, 0xff, 0xfd],
        }
    }

    /// The word for 4 bytes, if they are one.
    pub fn from_bytes(bytes: [u8; 4]) -> Option<Self> {
        Self::ALL.into_iter().find(|w| *w.bytes() == bytes)
    }

    /// The word as text, as used in `4lw.commands.whitelist` (`"telnetclose"` for the telnet
    /// bytes, which are not ASCII).
    pub fn as_str(self) -> &'static str {
        std::str::from_utf8(self.bytes()).unwrap_or("telnetclose")
    }
}

/// A unit read by the server from a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// The connection opened with a four-letter word; nothing else is read from it.
    FourLetterWord {
        /// Which word.
        word: FourLetterWord,
        /// The trace mask that follows `stmk`.
        stmk_mask: Option<i64>,
    },
    /// The first frame: a `ConnectRequest` payload.
    Connect(Bytes),
    /// A later frame: `RequestHeader` and request body.
    Request(Bytes),
}

/// A unit read by a client from a server connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// The first frame: a `ConnectResponse` payload.
    ConnectResponse(Bytes),
    /// A later frame: `ReplyHeader` and body (a reply, ping reply or notification).
    Reply(Bytes),
}

/// Takes one length-prefixed payload from `src` if it is all there.
fn take_frame(src: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
    if len < 0 || len as usize > max {
        return Err(FrameError::LengthOutOfRange {
            len: i64::from(len),
            max,
        });
    }
    let len = len as usize;
    if src.len() < 4 + len {
        // Reserve what the frame needs (bounded by `max`) so the next reads fill it.
        src.reserve(4 + len - src.len());
        return Ok(None);
    }
    src.advance(4);
    Ok(Some(src.split_to(len).freeze()))
}

/// Appends `payload` to `dst` with its length prefix.
fn put_frame(payload: &[u8], dst: &mut BytesMut) {
    let len = i32::try_from(payload.len()).expect("frames are smaller than 2 GiB");
    dst.reserve(4 + payload.len());
    dst.put_i32(len);
    dst.put_slice(payload);
}

/// Appends one frame to `dst` whose payload `write` produces, patching in the length afterwards
/// so the payload is written only once.
///
/// ```
/// use bytes::BytesMut;
/// use zk_proto::{frame::write_frame, Jute};
/// let mut out = BytesMut::new();
/// write_frame(&mut out, |buf| { 7i32.write(buf); 11i32.write(buf) });
/// assert_eq!(&out[..], &[0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 11]);
/// ```
pub fn write_frame(dst: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let start = dst.len();
    dst.put_i32(0);
    write(dst);
    let len = i32::try_from(dst.len() - start - 4).expect("frames are smaller than 2 GiB");
    dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerStage {
    /// Nothing read yet: the first 4 bytes may be a four-letter word.
    Start,
    /// `stmk` was read; its 8-byte mask follows.
    StmkMask,
    /// A length was read that was not a word: the handshake frame.
    Handshake,
    /// The session is set up: requests.
    Requests,
    /// A four-letter word was answered; the rest of the input is ignored.
    Done,
}

/// Decodes what a client sends to a server; encodes payloads with their length prefix.
#[derive(Debug, Clone)]
pub struct ServerCodec {
    max_frame_len: usize,
    stage: ServerStage,
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl ServerCodec {
    /// A codec refusing frames longer than `max_frame_len` (Java's `jute.maxbuffer`).
    pub fn new(max_frame_len: usize) -> Self {
        ServerCodec {
            max_frame_len,
            stage: ServerStage::Start,
        }
    }

    /// Whether the handshake frame has been read.
    pub fn handshake_done(&self) -> bool {
        self.stage == ServerStage::Requests
    }
}

impl Decoder for ServerCodec {
    type Item = ClientFrame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ClientFrame>, FrameError> {
        loop {
            match self.stage {
                ServerStage::Start => {
                    if src.len() < 4 {
                        return Ok(None);
                    }
                    let first = [src[0], src[1], src[2], src[3]];
                    match FourLetterWord::from_bytes(first) {
                        Some(FourLetterWord::Stmk) => {
                            src.advance(4);
                            self.stage = ServerStage::StmkMask;
                        }
                        Some(word) => {
                            src.advance(4);
                            self.stage = ServerStage::Done;
                            return Ok(Some(ClientFrame::FourLetterWord {
                                word,
                                stmk_mask: None,
                            }));
                        }
                        None => self.stage = ServerStage::Handshake,
                    }
                }
                ServerStage::StmkMask => {
                    if src.len() < 8 {
                        return Ok(None);
                    }
                    let mask = src.get_i64();
                    self.stage = ServerStage::Done;
                    return Ok(Some(ClientFrame::FourLetterWord {
                        word: FourLetterWord::Stmk,
                        stmk_mask: Some(mask),
                    }));
                }
                ServerStage::Handshake => {
                    let Some(payload) = take_frame(src, self.max_frame_len)? else {
                        return Ok(None);
                    };
                    self.stage = ServerStage::Requests;
                    return Ok(Some(ClientFrame::Connect(payload)));
                }
                ServerStage::Requests => {
                    return Ok(take_frame(src, self.max_frame_len)?.map(ClientFrame::Request));
                }
                ServerStage::Done => {
                    src.clear();
                    return Ok(None);
                }
            }
        }
    }
}

impl Encoder<Bytes> for ServerCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        put_frame(&payload, dst);
        Ok(())
    }
}

/// Decodes what a server sends to a client; encodes payloads with their length prefix.
#[derive(Debug, Clone)]
pub struct ClientCodec {
    max_frame_len: usize,
    connected: bool,
}

impl Default for ClientCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl ClientCodec {
    /// A codec refusing frames longer than `max_frame_len` (the client's `jute.maxbuffer`).
    pub fn new(max_frame_len: usize) -> Self {
        ClientCodec {
            max_frame_len,
            connected: false,
        }
    }
}

impl Decoder for ClientCodec {
    type Item = ServerFrame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ServerFrame>, FrameError> {
        let Some(payload) = take_frame(src, self.max_frame_len)? else {
            return Ok(None);
        };
        if self.connected {
            Ok(Some(ServerFrame::Reply(payload)))
        } else {
            self.connected = true;
            Ok(Some(ServerFrame::ConnectResponse(payload)))
        }
    }
}

impl Encoder<Bytes> for ClientCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        put_frame(&payload, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn handshake_then_requests() {
        let mut codec = ServerCodec::default();
        let mut src = BytesMut::new();
        src.extend_from_slice(&frame(b"connect"));
        src.extend_from_slice(&frame(b"req1"));
        src.extend_from_slice(&frame(b"re")[..5]);
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(ClientFrame::Connect(Bytes::from_static(b"connect")))
        );
        assert!(codec.handshake_done());
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(ClientFrame::Request(Bytes::from_static(b"req1")))
        );
        assert_eq!(codec.decode(&mut src).unwrap(), None, "partial frame waits");
        src.extend_from_slice(b"e");
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(ClientFrame::Request(Bytes::from_static(b"re")))
        );
    }

    #[test]
    fn four_letter_words_only_at_the_start() {
        for word in FourLetterWord::ALL {
            let mut codec = ServerCodec::default();
            let mut src = BytesMut::from(&word.bytes()[..]);
            src.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42, 9, 9]);
            let expected_mask = (word == FourLetterWord::Stmk).then_some(42);
            assert_eq!(
                codec.decode(&mut src).unwrap(),
                Some(ClientFrame::FourLetterWord {
                    word,
                    stmk_mask: expected_mask
                })
            );
            assert_eq!(codec.decode(&mut src).unwrap(), None);
        }
        // After the handshake, "ruok" is just a (too long) length.
        let mut codec = ServerCodec::default();
        let mut src = BytesMut::from(&frame(b"hello")[..]);
        codec.decode(&mut src).unwrap();
        src.extend_from_slice(b"ruok");
        assert!(matches!(
            codec.decode(&mut src),
            Err(FrameError::LengthOutOfRange {
                len: 0x72756f6b,
                ..
            })
        ));
    }

    #[test]
    fn unknown_word_is_a_length() {
        // "abcd" = 1633837924 > jute.maxbuffer: Java closes the connection without a reply.
        let mut codec = ServerCodec::default();
        let mut src = BytesMut::from(&b"abcd"[..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(FrameError::LengthOutOfRange {
                len: 1633837924,
                ..
            })
        ));
    }

    #[test]
    fn length_limits() {
        let mut codec = ServerCodec::new(16);
        let mut src = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(codec.decode(&mut src).is_err(), "negative length");
        let mut codec = ServerCodec::new(16);
        let mut src = BytesMut::from(&frame(&[7; 16])[..]);
        assert!(
            codec.decode(&mut src).unwrap().is_some(),
            "exactly the maximum is allowed"
        );
        let mut codec = ClientCodec::new(16);
        let mut src = BytesMut::from(&frame(&[7; 17])[..]);
        assert!(codec.decode(&mut src).is_err());
    }

    #[test]
    fn client_codec_stages_and_encoding() {
        let mut codec = ClientCodec::default();
        let mut src = BytesMut::from(&frame(b"resp")[..]);
        src.extend_from_slice(&frame(b"reply"));
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(ServerFrame::ConnectResponse(Bytes::from_static(b"resp")))
        );
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(ServerFrame::Reply(Bytes::from_static(b"reply")))
        );
        let mut out = BytesMut::new();
        codec.encode(Bytes::from_static(b"xy"), &mut out).unwrap();
        assert_eq!(&out[..], &frame(b"xy")[..]);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut server = ServerCodec::new(1024);
            let mut client = ClientCodec::new(1024);
            let mut a = BytesMut::new();
            let mut b = BytesMut::new();
            for chunk in chunks {
                a.extend_from_slice(&chunk);
                b.extend_from_slice(&chunk);
                while let Ok(Some(_)) = server.decode(&mut a) {}
                while let Ok(Some(_)) = client.decode(&mut b) {}
            }
        }

        #[test]
        fn frames_split_anywhere_decode_the_same(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), split in 0usize..200) {
            let mut wire = Vec::new();
            for p in &payloads {
                wire.extend_from_slice(&frame(p));
            }
            let split = split.min(wire.len());
            let mut codec = ClientCodec::default();
            let mut src = BytesMut::from(&wire[..split]);
            let mut got = Vec::new();
            while let Some(f) = codec.decode(&mut src).unwrap() { got.push(f); }
            src.extend_from_slice(&wire[split..]);
            while let Some(f) = codec.decode(&mut src).unwrap() { got.push(f); }
            let bodies: Vec<Vec<u8>> = got.into_iter().map(|f| match f {
                ServerFrame::ConnectResponse(b) | ServerFrame::Reply(b) => b.to_vec(),
            }).collect();
            prop_assert_eq!(bodies, payloads);
        }
    }
}

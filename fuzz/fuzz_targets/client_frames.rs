//! What a server reads from a client connection.
//!
//! The input is the raw byte stream a client sends. It goes through `frame::ServerCodec` (the
//! tokio-util decoder the server uses) and every frame is decoded as the server would:
//! the handshake with `proto::ConnectRequest`, every later frame with `message::Request`.
//!
//! Properties checked (beyond "no panic"):
//! - framing: feeding the stream one byte at a time gives the same frames and the same error
//!   as feeding it whole; a four-letter word is the only frame of its connection; re-framing the
//!   frames reproduces a prefix of the input byte for byte;
//! - decoding: a complete payload never decodes as `Incomplete`; whatever decodes re-encodes to
//!   bytes that decode (strictly, with nothing left over) to the same value; `decode_exact`,
//!   `decode` and header-then-`RequestBody::decode` agree.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::frame::{ClientFrame, ServerCodec};
use zk_proto::message::{Request, RequestBody};
use zk_proto::proto::{ConnectRequest, RequestHeader};
use zk_proto::{DecodeError, Jute};

/// The frames of `data` and whether decoding stopped with an error. `chunk` is how many bytes
/// are handed to the codec at a time (0: all at once).
fn frames(data: &[u8], chunk: usize) -> (Vec<ClientFrame>, bool) {
    let mut codec = ServerCodec::default();
    let mut src = BytesMut::new();
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = if chunk == 0 {
        vec![data]
    } else {
        data.chunks(chunk).collect()
    };
    for piece in chunks {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fn assert_complete_input_error(error: &DecodeError, what: &str) {
    assert!(
        matches!(error, DecodeError::Invalid { .. }),
        "{what}: a complete payload must fail as Invalid, got {error:?}"
    );
}

fn check_connect(payload: &[u8]) {
    let mut input = payload;
    match ConnectRequest::read(&mut input) {
        Ok(connect) => {
            let bytes = connect.to_jute_bytes();
            let again = ConnectRequest::from_jute_bytes(&bytes)
                .expect("a re-encoded ConnectRequest must decode");
            assert_eq!(again, connect, "ConnectRequest re-encode changed the value");
            // Without leftovers the strict decoder must agree.
            if input.is_empty() {
                assert_eq!(ConnectRequest::from_jute_bytes(payload), Ok(connect));
            }
        }
        Err(_) => assert!(ConnectRequest::from_jute_bytes(payload).is_err()),
    }
}

fn check_request(payload: &[u8]) {
    match Request::decode(payload) {
        Ok(request) => {
            assert_eq!(
                request.header.r#type,
                request.body.op(),
                "decoding must give a body matching the header opcode"
            );
            let encoded = request.encode();
            assert_eq!(
                Request::decode_exact(&encoded),
                Ok(request.clone()),
                "re-encoded request does not decode to the same value"
            );
            if let Ok(exact) = Request::decode_exact(payload) {
                assert_eq!(exact, request, "decode and decode_exact disagree");
            }
            // The server's path: header first (to answer with its xid), then the body.
            let mut input = payload;
            let header = RequestHeader::read(&mut input).expect("header decoded once already");
            assert_eq!(header, request.header);
            assert_eq!(
                RequestBody::decode(header.r#type, input),
                Ok(request.body),
                "RequestBody::decode disagrees with Request::decode"
            );
        }
        Err(error) => {
            assert_complete_input_error(&error, "Request::decode");
            assert!(Request::decode_exact(payload).is_err());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (whole, whole_failed) = frames(data, 0);
    let (bytewise, bytewise_failed) = frames(data, 1);
    assert_eq!(whole, bytewise, "frames depend on how the stream is split");
    assert_eq!(whole_failed, bytewise_failed, "errors depend on how the stream is split");

    // Stage order, and re-framing gives back the input's bytes.
    let mut encoder = ServerCodec::default();
    let mut reframed = BytesMut::new();
    for (i, frame) in whole.iter().enumerate() {
        match frame {
            ClientFrame::FourLetterWord { word, stmk_mask } => {
                assert_eq!(i, 0, "a four-letter word only starts a connection");
                assert_eq!(whole.len(), 1, "nothing is read after a four-letter word");
                reframed.extend_from_slice(word.bytes());
                if let Some(mask) = stmk_mask {
                    reframed.extend_from_slice(&mask.to_be_bytes());
                }
            }
            ClientFrame::Connect(payload) => {
                assert_eq!(i, 0, "the handshake is the first frame");
                encoder
                    .encode(payload.clone(), &mut reframed)
                    .expect("encoding into memory cannot fail");
                check_connect(payload);
            }
            ClientFrame::Request(payload) => {
                assert!(i > 0, "a request frame before the handshake");
                encoder
                    .encode(Bytes::clone(payload), &mut reframed)
                    .expect("encoding into memory cannot fail");
                check_request(payload);
            }
        }
    }
    assert!(
        data.starts_with(&reframed),
        "re-framed frames are not a prefix of the input"
    );
});

//! What a client reads from a server connection.
//!
//! Input: one selector byte, then the raw byte stream a server sends. The stream goes through
//! `frame::ClientCodec`; the first frame is decoded as `proto::ConnectResponse`, every later one
//! with `message::ServerMessage::decode`, and each reply body with
//! `message::ResponseBody::decode(op, ErrorCode::Ok, body)` (and `Reply::decode(op, ..)`).
//!
//! The selector picks `op`: the byte is matched against the low byte of each opcode in
//! `OpCode::ALL` (so `0x04` is getData, `0xf5` closeSession, `0xff` error); a byte matching none
//! gives `OpCode::Unknown` of that (signed) value, so the unknown-opcode path is covered too.
//!
//! Properties checked (beyond "no panic"): byte-at-a-time framing equals whole-buffer framing;
//! re-framing reproduces a prefix of the input; complete payloads never fail as `Incomplete`;
//! every decoded value re-encodes to bytes that decode to the same value; an error reply header
//! gives an empty body whatever follows.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::frame::{ClientCodec, ServerFrame};
use zk_proto::message::{Reply, ResponseBody, ServerMessage};
use zk_proto::proto::ConnectResponse;
use zk_proto::{DecodeError, ErrorCode, Jute, OpCode};

fn pick_op(selector: u8) -> OpCode {
    OpCode::ALL
        .iter()
        .copied()
        .find(|op| op.code() as u8 == selector)
        .unwrap_or(OpCode::Unknown(i32::from(selector as i8)))
}

fn frames(data: &[u8], chunk: usize) -> (Vec<ServerFrame>, bool) {
    let mut codec = ClientCodec::default();
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

fn check_connect_response(payload: &[u8]) {
    let mut input = payload;
    match ConnectResponse::read(&mut input) {
        Ok(response) => {
            let bytes = response.to_jute_bytes();
            let again = ConnectResponse::from_jute_bytes(&bytes)
                .expect("a re-encoded ConnectResponse must decode");
            assert_eq!(again, response, "ConnectResponse re-encode changed the value");
            if input.is_empty() {
                assert_eq!(ConnectResponse::from_jute_bytes(payload), Ok(response));
            }
        }
        Err(_) => assert!(ConnectResponse::from_jute_bytes(payload).is_err()),
    }
}

fn check_body(op: OpCode, body: &[u8]) {
    match ResponseBody::decode(op, ErrorCode::Ok, body) {
        Ok(decoded) => {
            let mut encoded = Vec::new();
            decoded.write(&mut encoded);
            assert_eq!(
                ResponseBody::decode(op, ErrorCode::Ok, &encoded),
                Ok(decoded),
                "re-encoded {} response body does not decode to the same value",
                op.name()
            );
        }
        Err(error) => assert_complete_input_error(&error, "ResponseBody::decode"),
    }
    // A client never reads the body of an error reply.
    assert_eq!(
        ResponseBody::decode(op, ErrorCode::NoNode, body),
        Ok(ResponseBody::Empty)
    );
}

fn check_reply(op: OpCode, payload: &[u8]) {
    let message = match ServerMessage::decode(payload) {
        Ok(message) => message,
        Err(error) => {
            assert_complete_input_error(&error, "ServerMessage::decode");
            return;
        }
    };
    assert_eq!(
        ServerMessage::decode(&message.encode()),
        Ok(message.clone()),
        "re-encoded server message does not decode to the same value"
    );
    let ServerMessage::Reply { header, body } = &message else {
        return;
    };
    check_body(op, body);
    // Reply::decode is header + ResponseBody::decode with the header's err.
    let reply = Reply::decode(op, payload);
    match ResponseBody::decode(op, header.err, body) {
        Ok(decoded) => {
            let reply = reply.expect("Reply::decode disagrees with its parts");
            assert_eq!(reply.header, *header);
            assert_eq!(reply.body, decoded);
            assert_eq!(
                Reply::decode(op, &reply.encode()),
                Ok(reply),
                "re-encoded reply does not decode to the same value"
            );
        }
        Err(error) => assert_eq!(reply, Err(error)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let op = pick_op(selector);

    let (whole, whole_failed) = frames(stream, 0);
    let (bytewise, bytewise_failed) = frames(stream, 1);
    assert_eq!(whole, bytewise, "frames depend on how the stream is split");
    assert_eq!(whole_failed, bytewise_failed, "errors depend on how the stream is split");

    let mut encoder = ClientCodec::default();
    let mut reframed = BytesMut::new();
    for (i, frame) in whole.iter().enumerate() {
        match frame {
            ServerFrame::ConnectResponse(payload) => {
                assert_eq!(i, 0, "the handshake reply is the first frame");
                check_connect_response(payload);
                encoder.encode(payload.clone(), &mut reframed).unwrap();
            }
            ServerFrame::Reply(payload) => {
                assert!(i > 0, "a reply before the handshake reply");
                check_reply(op, payload);
                encoder.encode(payload.clone(), &mut reframed).unwrap();
            }
        }
    }
    assert!(
        stream.starts_with(&reframed),
        "re-framed frames are not a prefix of the input"
    );
});
